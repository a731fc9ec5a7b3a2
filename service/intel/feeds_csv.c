/*
 * feeds_csv: the CSV feed formats: abuse.ch Feodo Tracker and MISP CSV exports.
 *
 * Columns are found by name from the header (Feodo's header may be a '#' comment, as abuse.ch
 * writes it, or a plain first row); Feodo without a header uses abuse.ch's documented order.
 * Quoted fields (RFC 4180, "" for a quote) may span lines up to 64 KiB (MISP comments do).
 *
 * Invariants: no allocation per record; every record after the header is loaded, skipped or
 * reported bad, with the line number the record starts on.
 */
#include "feeds_internal.h"

#include <string.h>

#define CSV_MAX_FIELDS 64

static int find_col(const ward__str_t *f, int nf, const char *name)
{
    for (int i = 0; i < nf && i < CSV_MAX_FIELDS; i++) {
        if (ward__str_ieq(ward__trim(f[i]), name))
            return i;
    }
    return -1;
}

static ward__str_t field(const ward__str_t *f, int nf, int col)
{
    ward__str_t none = {"", 0};
    if (col < 0 || col >= nf || col >= CSV_MAX_FIELDS)
        return none;
    return ward__trim(f[col]);
}

static int clip(size_t n, size_t max)
{
    return (int)(n < max ? n : max);
}

/* ------------------------------------------------------------------------------------------ */
/* abuse.ch Feodo Tracker */

enum { F_FIRST_SEEN, F_IP, F_MALWARE, F_NCOLS };

static bool feodo_header(ward__str_t rec, int col[F_NCOLS])
{
    ward__str_t f[CSV_MAX_FIELDS];
    int nf = ward__csv_split(rec, f, CSV_MAX_FIELDS);
    int ip = find_col(f, nf, "dst_ip");
    if (ip < 0)
        return false;
    col[F_IP] = ip;
    col[F_FIRST_SEEN] = find_col(f, nf, "first_seen_utc");
    if (col[F_FIRST_SEEN] < 0)
        col[F_FIRST_SEEN] = find_col(f, nf, "first_seen");
    col[F_MALWARE] = find_col(f, nf, "malware");
    return true;
}

ward_status_t ward__load_feodo(ward__feed_ctx_t *c, const char *data, size_t len)
{
    /* abuse.ch's order: first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware */
    int col[F_NCOLS] = {0, 1, 5};
    uint8_t conf = ward__feed_confidence(c, WARD__DEFAULT_CONFIDENCE);
    uint32_t default_cat = ward__feed_default_category(c, "botnet_cc");
    uint32_t last_cat = 0;
    ward__str_t last_cat_s = {"", 0};

    ward__lines_t it;
    ward__lines_init(&it, data, len);
    ward__str_t rec;
    uint64_t line;
    ward__str_t f[CSV_MAX_FIELDS];
    while (ward__csv_next(&it, &rec, &line)) {
        ward__str_t t = ward__trim(rec);
        if (t.n == 0)
            continue;
        if (t.p[0] == '#') {
            while (t.n > 0 && t.p[0] == '#') {
                t.p++;
                t.n--;
            }
            if (memmem(t.p, t.n, "dst_ip", 6) != NULL)
                feodo_header(ward__trim(t), col);
            continue;
        }
        if (memmem(t.p, t.n, "dst_ip", 6) != NULL && feodo_header(t, col))
            continue;
        int nf = ward__csv_split(t, f, CSV_MAX_FIELDS);
        if (nf < 0) {
            ward__feed_bad(c, line, "bad CSV quoting");
            continue;
        }
        if (col[F_IP] >= nf) {
            ward__feed_bad(c, line, "%d fields, no dst_ip column", nf);
            continue;
        }
        ward_indicator_t ind = {0};
        ward__str_t ip = field(f, nf, col[F_IP]);
        if (!ward__ip_parse_cidr_n(ip.p, ip.n, &ind.addr, &ind.prefix, &ind.is_v4)) {
            ward__feed_bad(c, line, "dst_ip is not an IP address: '%.*s'", clip(ip.n, 60), ip.p);
            continue;
        }
        ward__str_t fs = field(f, nf, col[F_FIRST_SEEN]);
        if (fs.n > 0 && !ward__parse_time(fs, &ind.first_seen)) {
            ward__feed_bad(c, line, "first_seen is not a date: '%.*s'", clip(fs.n, 40), fs.p);
            continue;
        }
        ward__str_t mal = field(f, nf, col[F_MALWARE]);
        if (mal.n == 0) {
            ind.category = default_cat;
        } else if (mal.n == last_cat_s.n && memcmp(mal.p, last_cat_s.p, mal.n) == 0) {
            ind.category = last_cat;
        } else {
            ind.category = ward__feed_intern_csv(c, mal);
            last_cat = ind.category;
            last_cat_s = mal;
        }
        ind.confidence = conf;
        if (!ward__feed_add(c, &ind))
            return WARD_E_NOMEM;
    }
    return WARD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* MISP CSV export */

enum { M_TYPE, M_VALUE, M_CATEGORY, M_DATE, M_TO_IDS, M_EVENT, M_NCOLS };

static bool misp_false(ward__str_t v)
{
    return ward__str_eq(v, "0") || ward__str_ieq(v, "false");
}

ward_status_t ward__load_misp_csv(ward__feed_ctx_t *c, const char *data, size_t len)
{
    int col[M_NCOLS] = {-1, -1, -1, -1, -1, -1};
    bool have_header = false;
    uint8_t conf = ward__feed_confidence(c, WARD__DEFAULT_CONFIDENCE);

    ward__lines_t it;
    ward__lines_init(&it, data, len);
    ward__str_t rec;
    uint64_t line;
    ward__str_t f[CSV_MAX_FIELDS];
    while (ward__csv_next(&it, &rec, &line)) {
        ward__str_t t = ward__trim(rec);
        if (t.n == 0 || t.p[0] == '#')
            continue;
        int nf = ward__csv_split(t, f, CSV_MAX_FIELDS);
        if (nf < 0) {
            ward__feed_bad(c, line, "bad CSV quoting");
            continue;
        }
        if (!have_header) {
            col[M_TYPE] = find_col(f, nf, "type");
            col[M_VALUE] = find_col(f, nf, "value");
            col[M_CATEGORY] = find_col(f, nf, "category");
            col[M_DATE] = find_col(f, nf, "date");
            if (col[M_DATE] < 0)
                col[M_DATE] = find_col(f, nf, "timestamp");
            col[M_TO_IDS] = find_col(f, nf, "to_ids");
            col[M_EVENT] = find_col(f, nf, "event_id");
            if (col[M_TYPE] < 0 || col[M_VALUE] < 0) {
                ward__feed_fail(c, line, "MISP CSV header lacks 'type' or 'value' columns");
                c->st->bad++;
                return WARD_E_MALFORMED;
            }
            have_header = true;
            continue;
        }
        if (col[M_TYPE] >= nf || col[M_VALUE] >= nf) {
            ward__feed_bad(c, line, "%d fields, fewer than the header's", nf);
            continue;
        }
        ward__str_t type = field(f, nf, col[M_TYPE]);
        bool with_port = ward__str_eq(type, "ip-src|port") || ward__str_eq(type, "ip-dst|port");
        if (!with_port && !ward__str_eq(type, "ip-src") && !ward__str_eq(type, "ip-dst")) {
            ward__feed_skip(c, true, false);
            continue;
        }
        if (col[M_TO_IDS] >= 0 && misp_false(field(f, nf, col[M_TO_IDS]))) {
            ward__feed_skip(c, false, true);
            continue;
        }
        ward__str_t v = field(f, nf, col[M_VALUE]);
        if (with_port) {
            const char *bar = memchr(v.p, '|', v.n);
            if (bar == NULL) {
                ward__feed_bad(c, line, "%.*s value without '|port'", clip(type.n, 20), type.p);
                continue;
            }
            v.n = (size_t)(bar - v.p);
        }
        ward_indicator_t ind = {0};
        if (!ward__ip_parse_cidr_n(v.p, v.n, &ind.addr, &ind.prefix, &ind.is_v4)) {
            ward__feed_bad(c, line, "value is not an IP address or CIDR: '%.*s'", clip(v.n, 60),
                           v.p);
            continue;
        }
        ward__str_t date = field(f, nf, col[M_DATE]);
        if (date.n > 0 && !ward__parse_time(date, &ind.first_seen)) {
            ward__feed_bad(c, line, "date is not a date: '%.*s'", clip(date.n, 40), date.p);
            continue;
        }
        ward__str_t cat = field(f, nf, col[M_CATEGORY]);
        ind.category = cat.n ? ward__feed_intern_csv(c, cat) : c->category;
        ward__str_t ev = field(f, nf, col[M_EVENT]);
        ind.ref = ev.n ? ward__feed_intern_csv(c, ev) : 0;
        ind.confidence = conf;
        if (!ward__feed_add(c, &ind))
            return WARD_E_NOMEM;
    }
    if (!have_header && len > 0) {
        ward__feed_fail(c, 0, "no MISP CSV header");
        c->st->bad++;
        return WARD_E_MALFORMED;
    }
    return WARD_OK;
}
