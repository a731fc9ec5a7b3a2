/*
 * feeds_text: the line-oriented feed formats that need no CSV quoting: plain IP/CIDR lists,
 * Spamhaus DROP/EDROP, FireHOL netsets, Zeek intel files, Suricata iprep categories and
 * reputation files.
 *
 * Invariants: one pass over the buffer, no allocation per line (strings are interned, and most
 * lines intern nothing); every non-blank, non-comment line is loaded, skipped or reported bad.
 * The plain-list loop is the hot path of the whole loader: keep it free of calls that allocate.
 */
#include "feeds_internal.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Plain lists, DROP, netsets */

static bool is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.';
}

/* FireHOL netsets open with "#\n# <list name>\n#\n...": the first non-empty comment of the
 * header, when it is one word, names the list. */
static ward__str_t netset_name(const char *data, size_t len)
{
    ward__lines_t it;
    ward__lines_init(&it, data, len);
    ward__str_t line, none = {"", 0};
    while (ward__lines_next(&it, &line)) {
        ward__str_t t = ward__trim(line);
        if (t.n == 0)
            continue;
        if (t.p[0] != '#')
            return none;
        while (t.n > 0 && t.p[0] == '#') {
            t.p++;
            t.n--;
        }
        t = ward__trim(t);
        if (t.n == 0)
            continue;
        for (size_t i = 0; i < t.n; i++) {
            if (!is_name_char(t.p[i]))
                return none;
        }
        return t.n <= 128 ? t : none;
    }
    return none;
}

ward_status_t ward__load_plain(ward__feed_ctx_t *c, const char *data, size_t len,
                               ward_feed_format_t fmt)
{
    bool drop = fmt == WARD_FEED_DROP;
    ward_indicator_t ind = {0};
    ind.confidence =
        ward__feed_confidence(c, drop ? WARD__DROP_CONFIDENCE : WARD__DEFAULT_CONFIDENCE);
    if (drop) {
        ind.category = ward__feed_default_category(c, "spamhaus_drop");
    } else if (fmt == WARD_FEED_NETSET && c->category == 0) {
        ward__str_t name = netset_name(data, len);
        if (name.n == 0)
            name = ward__feed_basename(c->name_hint ? c->name_hint : c->name);
        ind.category = ward__feed_intern(c, name.p, name.n);
    } else {
        ind.category = c->category;
    }

    ward__lines_t it;
    ward__lines_init(&it, data, len);
    ward__str_t line;
    while (ward__lines_next(&it, &line)) {
        /* Split at the first comment character: '#' anywhere, ';' too (DROP's "; SBL" part). */
        size_t cut = line.n;
        for (size_t i = 0; i < line.n; i++) {
            if (line.p[i] == '#' || line.p[i] == ';') {
                cut = i;
                break;
            }
        }
        ward__str_t t = {line.p, cut};
        t = ward__trim(t);
        if (t.n == 0)
            continue;
        size_t tok = 0;
        while (tok < t.n && t.p[tok] != ' ' && t.p[tok] != '\t')
            tok++;
        if (tok != t.n) {
            size_t rest = t.n - tok - 1;
            ward__feed_bad(c, it.lineno, "unexpected text after the address: '%.*s'",
                           (int)(rest < 40 ? rest : 40), t.p + tok + 1);
            continue;
        }
        if (!ward__ip_parse_cidr_n(t.p, t.n, &ind.addr, &ind.prefix, &ind.is_v4)) {
            ward__feed_bad(c, it.lineno, "not an IP address or CIDR: '%.*s'",
                           (int)(t.n < 60 ? t.n : 60), t.p);
            continue;
        }
        ind.ref = 0;
        if (drop && cut < line.n && line.p[cut] == ';') {
            ward__str_t ref = {line.p + cut + 1, line.n - cut - 1};
            ref = ward__trim(ward__cut_at(ref, "#;"));
            if (ref.n > 0 && ref.n <= 64)
                ind.ref = ward__feed_intern(c, ref.p, ref.n);
        }
        if (!ward__feed_add(c, &ind))
            return WARD_E_NOMEM;
    }
    return WARD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Zeek intel */

enum { Z_INDICATOR, Z_TYPE, Z_SOURCE, Z_DESC, Z_URL, Z_CONFIDENCE, Z_NCOLS };

#define ZEEK_MAX_FIELDS 64

static bool zeek_empty(ward__str_t f)
{
    return f.n == 0 || ward__str_eq(f, "-") || ward__str_eq(f, "(empty)");
}

/* "#separator \x09": the separator as one escaped byte. */
static bool zeek_separator(ward__str_t rest, char *sep)
{
    rest = ward__trim(rest);
    if (rest.n == 4 && rest.p[0] == '\\' && rest.p[1] == 'x') {
        unsigned v = 0;
        for (int i = 2; i < 4; i++) {
            char ch = rest.p[i];
            unsigned d = (ch >= '0' && ch <= '9')   ? (unsigned)(ch - '0')
                         : (ch >= 'a' && ch <= 'f') ? (unsigned)(ch - 'a' + 10)
                         : (ch >= 'A' && ch <= 'F') ? (unsigned)(ch - 'A' + 10)
                                                    : 16u;
            if (d > 15)
                return false;
            v = v * 16 + d;
        }
        if (v == 0 || v == '\n' || v == '\r')
            return false;
        *sep = (char)v;
        return true;
    }
    if (rest.n == 1) {
        *sep = rest.p[0];
        return true;
    }
    return false;
}

static int split_sep(ward__str_t line, char sep, ward__str_t *f, int max)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= line.n; i++) {
        if (i == line.n || line.p[i] == sep) {
            if (n < max) {
                f[n].p = line.p + start;
                f[n].n = i - start;
            }
            n++;
            start = i + 1;
        }
    }
    return n;
}

ward_status_t ward__load_zeek(ward__feed_ctx_t *c, const char *data, size_t len)
{
    int col[Z_NCOLS];
    for (int i = 0; i < Z_NCOLS; i++)
        col[i] = -1;
    bool have_fields = false;
    char sep = '\t';
    uint8_t conf_default = ward__feed_confidence(c, WARD__DEFAULT_CONFIDENCE);

    ward__lines_t it;
    ward__lines_init(&it, data, len);
    ward__str_t line;
    ward__str_t f[ZEEK_MAX_FIELDS];
    while (ward__lines_next(&it, &line)) {
        if (line.n == 0 || ward__trim(line).n == 0)
            continue;
        if (line.p[0] == '#') {
            if (line.n >= 10 && memcmp(line.p, "#separator", 10) == 0) {
                ward__str_t rest = {line.p + 10, line.n - 10};
                if (!zeek_separator(rest, &sep))
                    ward__feed_bad(c, it.lineno, "bad #separator");
                continue;
            }
            if (line.n >= 7 && memcmp(line.p, "#fields", 7) == 0) {
                ward__str_t rest = {line.p + 7, line.n - 7};
                if (rest.n > 0 && rest.p[0] == sep) {
                    rest.p++;
                    rest.n--;
                }
                int nf = split_sep(rest, sep, f, ZEEK_MAX_FIELDS);
                for (int i = 0; i < Z_NCOLS; i++)
                    col[i] = -1;
                for (int i = 0; i < nf && i < ZEEK_MAX_FIELDS; i++) {
                    ward__str_t name = ward__trim(f[i]);
                    if (ward__str_eq(name, "indicator"))
                        col[Z_INDICATOR] = i;
                    else if (ward__str_eq(name, "indicator_type"))
                        col[Z_TYPE] = i;
                    else if (ward__str_eq(name, "meta.source"))
                        col[Z_SOURCE] = i;
                    else if (ward__str_eq(name, "meta.desc"))
                        col[Z_DESC] = i;
                    else if (ward__str_eq(name, "meta.url"))
                        col[Z_URL] = i;
                    else if (ward__str_eq(name, "meta.confidence") ||
                             (ward__str_eq(name, "meta.cif_confidence") && col[Z_CONFIDENCE] < 0))
                        col[Z_CONFIDENCE] = i;
                }
                have_fields = col[Z_INDICATOR] >= 0 && col[Z_TYPE] >= 0;
                if (!have_fields)
                    ward__feed_bad(c, it.lineno, "#fields lacks 'indicator' or 'indicator_type'");
            }
            continue;
        }
        if (!have_fields) {
            ward__feed_bad(c, it.lineno, "data before a usable #fields header");
            continue;
        }
        int nf = split_sep(line, sep, f, ZEEK_MAX_FIELDS);
        ward__str_t v[Z_NCOLS];
        bool missing = false;
        for (int i = 0; i < Z_NCOLS; i++) {
            v[i].p = "";
            v[i].n = 0;
            if (col[i] < 0)
                continue;
            if (col[i] >= nf) {
                missing = true;
                break;
            }
            v[i] = zeek_empty(f[col[i]]) ? (ward__str_t){"", 0} : f[col[i]];
        }
        if (missing) {
            ward__feed_bad(c, it.lineno, "%d fields, the #fields header names more", nf);
            continue;
        }
        ward__str_t type = v[Z_TYPE];
        if (!ward__str_eq(type, "Intel::ADDR") && !ward__str_eq(type, "Intel::SUBNET")) {
            if (type.n > 7 && memcmp(type.p, "Intel::", 7) == 0)
                ward__feed_skip(c, true, false);
            else
                ward__feed_bad(c, it.lineno, "unknown indicator_type '%.*s'",
                               (int)(type.n < 40 ? type.n : 40), type.p);
            continue;
        }
        ward_indicator_t ind = {0};
        ward__str_t ip = v[Z_INDICATOR];
        if (!ward__ip_parse_cidr_n(ip.p, ip.n, &ind.addr, &ind.prefix, &ind.is_v4)) {
            ward__feed_bad(c, it.lineno, "not an IP address or CIDR: '%.*s'",
                           (int)(ip.n < 60 ? ip.n : 60), ip.p);
            continue;
        }
        ind.confidence = conf_default;
        if (v[Z_CONFIDENCE].n > 0 && !ward__parse_confidence(v[Z_CONFIDENCE], &ind.confidence)) {
            ward__feed_bad(c, it.lineno, "confidence is not 0..100: '%.*s'",
                           (int)(v[Z_CONFIDENCE].n < 20 ? v[Z_CONFIDENCE].n : 20),
                           v[Z_CONFIDENCE].p);
            continue;
        }
        /* What the indicator is: meta.desc, else the intel source's name. Where to read more:
         * meta.url, else the source's name. */
        ward__str_t cat = v[Z_DESC].n ? v[Z_DESC] : v[Z_SOURCE];
        ward__str_t ref = v[Z_URL].n ? v[Z_URL] : v[Z_SOURCE];
        ind.category = cat.n ? ward__feed_intern(c, cat.p, cat.n) : c->category;
        ind.ref = ref.n ? ward__feed_intern(c, ref.p, ref.n) : 0;
        if (!ward__feed_add(c, &ind))
            return WARD_E_NOMEM;
    }
    return WARD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Suricata iprep */

static bool iprep_line(ward__lines_t *it, ward__str_t *f, int *nf)
{
    ward__str_t line;
    while (ward__lines_next(it, &line)) {
        ward__str_t t = ward__trim(line);
        if (t.n == 0 || t.p[0] == '#')
            continue;
        /* Fields are split at the first two commas; the third (a description) may hold more. */
        int n = 0;
        size_t start = 0;
        for (size_t i = 0; i <= t.n && n < 3; i++) {
            if (i == t.n || (t.p[i] == ',' && n < 2)) {
                f[n].p = t.p + start;
                f[n].n = i - start;
                f[n] = ward__trim(f[n]);
                n++;
                start = i + 1;
            }
        }
        *nf = n;
        return true;
    }
    return false;
}

ward_status_t ward__load_iprep_categories(ward__feed_ctx_t *c, const char *data, size_t len)
{
    ward__lines_t it;
    ward__lines_init(&it, data, len);
    ward__str_t f[3];
    int nf;
    while (iprep_line(&it, f, &nf)) {
        uint64_t id;
        if (nf < 2 || !ward__parse_u64(f[0], 255, &id) || f[1].n == 0 || f[1].n > 64) {
            ward__feed_bad(c, it.lineno, "expected 'id,shortname,description' with id 0..255");
            continue;
        }
        for (size_t i = 0; i < f[1].n; i++) {
            if (!is_name_char(f[1].p[i])) {
                ward__feed_bad(c, it.lineno, "category name '%.*s' has a bad character",
                               (int)f[1].n, f[1].p);
                goto next;
            }
        }
        c->fs->iprep_cat[id] = ward__feed_intern(c, f[1].p, f[1].n);
        c->st->categories++;
    next:;
    }
    return c->oom ? WARD_E_NOMEM : WARD_OK;
}

ward_status_t ward__load_iprep(ward__feed_ctx_t *c, const char *data, size_t len)
{
    ward__lines_t it;
    ward__lines_init(&it, data, len);
    ward__str_t f[3];
    int nf;
    uint32_t numbered[256] = {0}; /* "17" as a category when no categories file named 17 */
    while (iprep_line(&it, f, &nf)) {
        ward_indicator_t ind = {0};
        uint64_t cat, score;
        if (nf != 3) {
            ward__feed_bad(c, it.lineno, "expected 'ip,category,score'");
            continue;
        }
        if (!ward__ip_parse_cidr_n(f[0].p, f[0].n, &ind.addr, &ind.prefix, &ind.is_v4)) {
            ward__feed_bad(c, it.lineno, "not an IP address or CIDR: '%.*s'",
                           (int)(f[0].n < 60 ? f[0].n : 60), f[0].p);
            continue;
        }
        if (!ward__parse_u64(f[1], 255, &cat)) {
            ward__feed_bad(c, it.lineno, "category is not a number 0..255");
            continue;
        }
        if (!ward__parse_u64(f[2], 127, &score)) {
            ward__feed_bad(c, it.lineno, "score is not a number 0..127");
            continue;
        }
        ind.confidence = (uint8_t)((score * 100 + 63) / 127);
        ind.category = c->fs->iprep_cat[cat];
        if (ind.category == 0) {
            if (numbered[cat] == 0) {
                char num[4];
                int w = snprintf(num, sizeof num, "%u", (unsigned)cat);
                numbered[cat] = ward__feed_intern(c, num, (size_t)w);
            }
            ind.category = numbered[cat];
        }
        if (!ward__feed_add(c, &ind))
            return WARD_E_NOMEM;
    }
    return WARD_OK;
}
