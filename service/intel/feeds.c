/*
 * feeds: the feed set (indicator array + interned strings), reading files and folders, format
 * detection, error reporting, and the helpers every format loader shares. The loaders themselves
 * live in feeds_text.c, feeds_csv.c, feeds_json.c and feeds_stix.c.
 *
 * Threads: a feed set is owned by one thread at a time; nothing here is global.
 *
 * Invariants:
 * - String 0 is "" and always exists after ward_feeds_init; an index stored in an indicator is
 *   always < nstr. Strings are interned: one index per distinct string, whatever loaded it.
 * - A file is read whole with read(2) into one buffer, then parsed in place; no allocation per
 *   line (the array grows geometrically, strings are interned once per distinct value).
 * - Untrusted bytes never reach the error callback raw: reasons are truncated and control
 *   characters replaced, so a hostile feed cannot forge log lines or terminal escapes.
 */
#include "feeds_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Feed set and strings */

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static bool hash_grow(ward_feedset_t *fs)
{
    uint32_t ncap = fs->hash_cap ? fs->hash_cap * 2 : 64;
    if (ncap < fs->hash_cap)
        return false;
    uint32_t *nh = calloc(ncap, sizeof *nh);
    if (nh == NULL)
        return false;
    for (uint32_t i = 1; i < fs->nstr; i++) {
        const char *s = fs->pool + fs->str_off[i];
        uint32_t h = hash_bytes(s, strlen(s)) & (ncap - 1);
        while (nh[h] != 0)
            h = (h + 1) & (ncap - 1);
        nh[h] = i + 1;
    }
    free(fs->hash);
    fs->hash = nh;
    fs->hash_cap = ncap;
    return true;
}

uint32_t ward_feeds_intern(ward_feedset_t *fs, const char *s, size_t len)
{
    if (fs == NULL || (s == NULL && len > 0))
        return UINT32_MAX;
    if (len == 0)
        return 0;
    if (memchr(s, '\0', len) != NULL)
        return UINT32_MAX;
    if ((uint64_t)fs->nstr * 2 + 2 > fs->hash_cap && !hash_grow(fs))
        return UINT32_MAX;
    uint32_t h = hash_bytes(s, len) & (fs->hash_cap - 1);
    while (fs->hash[h] != 0) {
        uint32_t idx = fs->hash[h] - 1;
        const char *t = fs->pool + fs->str_off[idx];
        if (strncmp(t, s, len) == 0 && t[len] == '\0')
            return idx;
        h = (h + 1) & (fs->hash_cap - 1);
    }
    if (fs->nstr >= UINT32_MAX - 2 || fs->pool_len + len + 1 > UINT32_MAX)
        return UINT32_MAX;
    if (fs->nstr == fs->str_cap) {
        uint32_t ncap = fs->str_cap ? fs->str_cap * 2 : 64;
        uint32_t *n = realloc(fs->str_off, (size_t)ncap * sizeof *n);
        if (n == NULL)
            return UINT32_MAX;
        fs->str_off = n;
        fs->str_cap = ncap;
    }
    if (fs->pool_len + len + 1 > fs->pool_cap) {
        size_t ncap = fs->pool_cap ? fs->pool_cap * 2 : 4096;
        while (ncap < fs->pool_len + len + 1)
            ncap *= 2;
        char *n = realloc(fs->pool, ncap);
        if (n == NULL)
            return UINT32_MAX;
        fs->pool = n;
        fs->pool_cap = ncap;
    }
    memcpy(fs->pool + fs->pool_len, s, len);
    fs->pool[fs->pool_len + len] = '\0';
    uint32_t idx = fs->nstr++;
    fs->str_off[idx] = (uint32_t)fs->pool_len;
    fs->pool_len += len + 1;
    fs->hash[h] = idx + 1;
    return idx;
}

ward_status_t ward_feeds_init(ward_feedset_t *fs)
{
    if (fs == NULL)
        return WARD_E_ARG;
    memset(fs, 0, sizeof *fs);
    fs->pool = malloc(4096);
    fs->str_off = malloc(64 * sizeof *fs->str_off);
    if (fs->pool == NULL || fs->str_off == NULL || !hash_grow(fs)) {
        ward_feeds_free(fs);
        return WARD_E_NOMEM;
    }
    fs->pool_cap = 4096;
    fs->str_cap = 64;
    fs->pool[0] = '\0';
    fs->pool_len = 1;
    fs->str_off[0] = 0;
    fs->nstr = 1;
    return WARD_OK;
}

void ward_feeds_free(ward_feedset_t *fs)
{
    if (fs == NULL)
        return;
    free(fs->items);
    free(fs->pool);
    free(fs->str_off);
    free(fs->hash);
    memset(fs, 0, sizeof *fs);
}

const char *ward_feeds_str(const ward_feedset_t *fs, uint32_t idx)
{
    if (fs == NULL || fs->pool == NULL || idx >= fs->nstr)
        return "";
    return fs->pool + fs->str_off[idx];
}

size_t ward_feeds_memory(const ward_feedset_t *fs)
{
    if (fs == NULL)
        return 0;
    return fs->cap * sizeof *fs->items + fs->pool_cap + (size_t)fs->str_cap * sizeof *fs->str_off +
           (size_t)fs->hash_cap * sizeof *fs->hash;
}

void ward_feeds_shrink(ward_feedset_t *fs)
{
    if (fs == NULL || fs->cap == fs->count)
        return;
    if (fs->count == 0) {
        free(fs->items);
        fs->items = NULL;
        fs->cap = 0;
        return;
    }
    ward_indicator_t *n = realloc(fs->items, fs->count * sizeof *n);
    if (n != NULL) {
        fs->items = n;
        fs->cap = fs->count;
    }
}

size_t ward_feeds_remove_expired(ward_feedset_t *fs, int64_t now)
{
    if (fs == NULL)
        return 0;
    size_t w = 0;
    for (size_t r = 0; r < fs->count; r++) {
        const ward_indicator_t *it = &fs->items[r];
        if (it->expires != 0 && it->expires <= now)
            continue;
        if (w != r)
            fs->items[w] = *it;
        w++;
    }
    size_t removed = fs->count - w;
    fs->count = w;
    return removed;
}

static int cmp_indicator(const void *a, const void *b)
{
    const ward_indicator_t *x = a, *y = b;
    int c = memcmp(x->addr.b, y->addr.b, sizeof x->addr.b);
    if (c != 0)
        return c;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    if (x->source != y->source)
        return x->source < y->source ? -1 : 1;
    return 0;
}

size_t ward_feeds_dedup(ward_feedset_t *fs)
{
    if (fs == NULL || fs->count == 0)
        return 0;
    qsort(fs->items, fs->count, sizeof *fs->items, cmp_indicator);
    size_t w = 0;
    for (size_t r = 1; r < fs->count; r++) {
        ward_indicator_t *keep = &fs->items[w];
        const ward_indicator_t *it = &fs->items[r];
        if (cmp_indicator(keep, it) != 0) {
            fs->items[++w] = *it;
            continue;
        }
        if (it->confidence > keep->confidence)
            keep->confidence = it->confidence;
        if (it->first_seen != 0 && (keep->first_seen == 0 || it->first_seen < keep->first_seen))
            keep->first_seen = it->first_seen;
        if (keep->expires != 0 && (it->expires == 0 || it->expires > keep->expires))
            keep->expires = it->expires;
        if (keep->category == 0)
            keep->category = it->category;
        if (keep->ref == 0)
            keep->ref = it->ref;
        keep->is_v4 = keep->is_v4 || it->is_v4;
    }
    size_t folded = fs->count - (w + 1);
    fs->count = w + 1;
    ward_feeds_shrink(fs);
    return folded;
}

/* ------------------------------------------------------------------------------------------ */
/* Load context: adding, counting, reporting */

static void sanitize(char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f)
            *s = '?';
    }
}

static void report(ward__feed_ctx_t *c, uint64_t line, const char *fmt, va_list ap)
{
    if (c->on_error == NULL)
        return;
    char reason[256], msg[768];
    vsnprintf(reason, sizeof reason, fmt, ap);
    sanitize(reason);
    if (line > 0)
        snprintf(msg, sizeof msg, "%s:%llu: %s", c->name, (unsigned long long)line, reason);
    else
        snprintf(msg, sizeof msg, "%s: %s", c->name, reason);
    ward_feed_error_t e = {.source = c->name, .line = line, .reason = reason, .message = msg};
    c->on_error(c->error_ctx, &e);
}

void ward__feed_bad(ward__feed_ctx_t *c, uint64_t line, const char *fmt, ...)
{
    c->st->bad++;
    if (c->reported++ >= c->max_reports)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(c, line, fmt, ap);
    va_end(ap);
}

void ward__feed_fail(ward__feed_ctx_t *c, uint64_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, line, fmt, ap);
    va_end(ap);
}

static void feed_note(ward__feed_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, 0, fmt, ap);
    va_end(ap);
}

void ward__feed_skip(ward__feed_ctx_t *c, bool unsupported, bool revoked)
{
    c->st->skipped++;
    if (unsupported)
        c->st->unsupported++;
    if (revoked)
        c->st->revoked++;
}

bool ward__feed_add(ward__feed_ctx_t *c, ward_indicator_t *ind)
{
    ward_feedset_t *fs = c->fs;
    if (fs->count == fs->cap) {
        size_t ncap = fs->cap ? fs->cap + fs->cap / 2 + 1024 : 1024;
        if (ncap > SIZE_MAX / sizeof *fs->items) {
            c->oom = true;
            return false;
        }
        ward_indicator_t *n = realloc(fs->items, ncap * sizeof *n);
        if (n == NULL) {
            c->oom = true;
            return false;
        }
        fs->items = n;
        fs->cap = ncap;
    }
    ind->source = c->source;
    if (ind->confidence > 100)
        ind->confidence = 100;
    fs->items[fs->count++] = *ind;
    c->st->loaded++;
    if (ind->expires != 0 && ind->expires <= c->now)
        c->st->expired++;
    return true;
}

uint32_t ward__feed_intern(ward__feed_ctx_t *c, const char *s, size_t n)
{
    uint32_t idx = ward_feeds_intern(c->fs, s, n);
    if (idx == UINT32_MAX) {
        if (memchr(s, '\0', n) == NULL)
            c->oom = true;
        return 0;
    }
    return idx;
}

uint8_t ward__feed_confidence(const ward__feed_ctx_t *c, uint8_t format_default)
{
    return c->confidence ? c->confidence : format_default;
}

uint32_t ward__feed_default_category(ward__feed_ctx_t *c, const char *fallback)
{
    if (c->category != 0 || fallback == NULL)
        return c->category;
    return ward__feed_intern(c, fallback, strlen(fallback));
}

ward__str_t ward__feed_basename(const char *path)
{
    ward__str_t r = {"", 0};
    if (path == NULL)
        return r;
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    const char *dot = strrchr(b, '.');
    r.p = b;
    r.n = (dot != NULL && dot != b) ? (size_t)(dot - b) : strlen(b);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Text helpers */

void ward__lines_init(ward__lines_t *it, const char *data, size_t len)
{
    it->p = data;
    it->end = data + len;
    it->lineno = 0;
    /* A UTF-8 byte order mark is not part of the first line. */
    if (len >= 3 && (uint8_t)data[0] == 0xef && (uint8_t)data[1] == 0xbb &&
        (uint8_t)data[2] == 0xbf)
        it->p += 3;
}

bool ward__lines_next(ward__lines_t *it, ward__str_t *line)
{
    if (it->p >= it->end)
        return false;
    const char *s = it->p;
    const char *nl = memchr(s, '\n', (size_t)(it->end - s));
    const char *e = nl ? nl : it->end;
    it->p = nl ? nl + 1 : it->end;
    if (e > s && e[-1] == '\r')
        e--;
    line->p = s;
    line->n = (size_t)(e - s);
    it->lineno++;
    return true;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

ward__str_t ward__trim(ward__str_t s)
{
    while (s.n > 0 && is_space(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_space(s.p[s.n - 1]))
        s.n--;
    return s;
}

bool ward__str_eq(ward__str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

bool ward__str_ieq(ward__str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

ward__str_t ward__cut_at(ward__str_t s, const char *chars)
{
    for (size_t i = 0; i < s.n; i++) {
        if (strchr(chars, s.p[i]) != NULL && s.p[i] != '\0') {
            s.n = i;
            break;
        }
    }
    return s;
}

bool ward__parse_u64(ward__str_t s, uint64_t max, uint64_t *out)
{
    if (s.n == 0 || s.n > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

bool ward__parse_time(ward__str_t s, int64_t *out)
{
    s = ward__trim(s);
    uint64_t unix_s;
    unsigned y, mo, d, h = 0, mi = 0, sec = 0;
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (s.n == 8 && ward__digits(s.p, 4, &y) && ward__digits(s.p + 4, 2, &mo) &&
        ward__digits(s.p + 6, 2, &d)) {
        /* YYYYMMDD (MISP's CSV date); no feed has Unix times from 1970-1973. */
        if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
            return false;
        *out = days_from_civil(y, mo, d) * 86400;
        return true;
    }
    if (s.n > 0 && s.n <= 12 && ward__parse_u64(s, UINT64_MAX, &unix_s)) {
        *out = (int64_t)unix_s;
        return true;
    }
    if (s.n < 10 || !ward__digits(s.p, 4, &y) || s.p[4] != '-' || !ward__digits(s.p + 5, 2, &mo) ||
        s.p[7] != '-' || !ward__digits(s.p + 8, 2, &d))
        return false;
    if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return false;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    size_t i = 10;
    int64_t offset = 0;
    if (i < s.n) {
        if ((s.p[i] != 'T' && s.p[i] != ' ') || s.n < i + 9 || !ward__digits(s.p + i + 1, 2, &h) ||
            s.p[i + 3] != ':' || !ward__digits(s.p + i + 4, 2, &mi) || s.p[i + 6] != ':' ||
            !ward__digits(s.p + i + 7, 2, &sec))
            return false;
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        if (sec == 60)
            sec = 59; /* a leap second: close enough, and never a day too far */
        i += 9;
        if (i < s.n && s.p[i] == '.') {
            i++;
            size_t start = i;
            while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9')
                i++;
            if (i == start)
                return false;
        }
        ward__str_t zone = {s.p + i, s.n - i};
        zone = ward__trim(zone);
        if (zone.n == 0 || ward__str_eq(zone, "Z") || ward__str_eq(zone, "UTC") ||
            ward__str_eq(zone, "GMT")) {
            offset = 0;
        } else if (zone.n == 6 && (zone.p[0] == '+' || zone.p[0] == '-') && zone.p[3] == ':') {
            unsigned zh, zm;
            if (!ward__digits(zone.p + 1, 2, &zh) || !ward__digits(zone.p + 4, 2, &zm) || zh > 23 ||
                zm > 59)
                return false;
            offset = (int64_t)(zh * 3600 + zm * 60);
            if (zone.p[0] == '-')
                offset = -offset;
        } else {
            return false;
        }
    }
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    return true;
}

bool ward__parse_confidence(ward__str_t s, uint8_t *out)
{
    s = ward__trim(s);
    const char *dot = memchr(s.p, '.', s.n);
    ward__str_t whole_s = {s.p, dot ? (size_t)(dot - s.p) : s.n};
    uint64_t whole, frac = 0;
    if (!ward__parse_u64(whole_s, 100, &whole))
        return false;
    if (dot != NULL) {
        ward__str_t frac_s = {dot + 1, s.n - whole_s.n - 1};
        if (frac_s.n == 0 || frac_s.n > 6 || !ward__parse_u64(frac_s, UINT64_MAX, &frac))
            return false;
        if (whole == 100 && frac != 0)
            return false;
        if (frac_s.p[0] >= '5')
            whole++;
    }
    *out = (uint8_t)whole;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* CSV */

int ward__csv_split(ward__str_t rec, ward__str_t *fields, int max)
{
    int nf = 0;
    size_t i = 0;
    for (;;) {
        while (i < rec.n && (rec.p[i] == ' ' || rec.p[i] == '\t'))
            i++;
        ward__str_t f;
        if (i < rec.n && rec.p[i] == '"') {
            size_t start = ++i;
            for (;;) {
                if (i >= rec.n)
                    return -1;
                if (rec.p[i] == '"') {
                    if (i + 1 < rec.n && rec.p[i + 1] == '"') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i++;
            }
            f.p = rec.p + start;
            f.n = i - start;
            i++;
            while (i < rec.n && (rec.p[i] == ' ' || rec.p[i] == '\t'))
                i++;
            if (i < rec.n && rec.p[i] != ',')
                return -1;
        } else {
            size_t start = i;
            while (i < rec.n && rec.p[i] != ',')
                i++;
            f.p = rec.p + start;
            f.n = i - start;
            f = ward__trim(f);
            if (memchr(f.p, '"', f.n) != NULL)
                return -1;
        }
        if (nf < max)
            fields[nf] = f;
        if (nf < INT32_MAX)
            nf++;
        if (i >= rec.n)
            break;
        i++; /* the comma */
    }
    return nf;
}

#define CSV_RECORD_MAX 65536

bool ward__csv_next(ward__lines_t *it, ward__str_t *rec, uint64_t *first_line)
{
    if (it->p >= it->end)
        return false;
    const char *s = it->p;
    size_t avail = (size_t)(it->end - s);
    const char *q = memchr(s, '"', avail);
    const char *nl = memchr(s, '\n', avail);
    if (q == NULL || (nl != NULL && q > nl)) {
        /* No quote on this line: the common case. */
        bool ok = ward__lines_next(it, rec);
        *first_line = it->lineno;
        return ok;
    }
    /* Find the newline that ends the record outside quotes, within CSV_RECORD_MAX. */
    bool in_quote = false;
    size_t limit = avail < CSV_RECORD_MAX ? avail : CSV_RECORD_MAX;
    uint64_t lines = 0;
    size_t i;
    for (i = 0; i < limit; i++) {
        char ch = s[i];
        if (ch == '"')
            in_quote = !in_quote;
        else if (ch == '\n') {
            if (!in_quote)
                break;
            lines++;
        }
    }
    if (in_quote || (i == limit && limit < avail)) {
        /* Unterminated quote: the record is just this line (it will be reported bad). */
        bool ok = ward__lines_next(it, rec);
        *first_line = it->lineno;
        return ok;
    }
    *first_line = it->lineno + 1;
    const char *e = s + i;
    it->p = i < avail ? e + 1 : it->end;
    it->lineno += lines + 1;
    if (e > s && e[-1] == '\r')
        e--;
    rec->p = s;
    rec->n = (size_t)(e - s);
    return true;
}

uint32_t ward__feed_intern_csv(ward__feed_ctx_t *c, ward__str_t f)
{
    if (memchr(f.p, '"', f.n) == NULL)
        return ward__feed_intern(c, f.p, f.n);
    char tmp[1024] = {0};
    size_t w = 0;
    for (size_t i = 0; i < f.n && w < sizeof tmp; i++) {
        tmp[w++] = f.p[i];
        if (f.p[i] == '"' && i + 1 < f.n && f.p[i + 1] == '"')
            i++;
    }
    return ward__feed_intern(c, tmp, w);
}

/* ------------------------------------------------------------------------------------------ */
/* Detection */

static const char *format_names[WARD_FEED_FORMAT_COUNT] = {
    [WARD_FEED_AUTO] = "auto",           [WARD_FEED_PLAIN] = "plain",
    [WARD_FEED_DROP] = "drop",           [WARD_FEED_DROP_JSON] = "drop-json",
    [WARD_FEED_NETSET] = "netset",       [WARD_FEED_FEODO_CSV] = "feodo-csv",
    [WARD_FEED_ZEEK] = "zeek",           [WARD_FEED_IPREP_CATEGORIES] = "iprep-categories",
    [WARD_FEED_IPREP] = "iprep",         [WARD_FEED_MISP_CSV] = "misp-csv",
    [WARD_FEED_MISP_JSON] = "misp-json", [WARD_FEED_STIX] = "stix",
};

const char *ward_feed_format_name(ward_feed_format_t format)
{
    if ((unsigned)format >= WARD_FEED_FORMAT_COUNT)
        return "unknown";
    return format_names[format];
}

ward_status_t ward_feed_format_parse(const char *name, ward_feed_format_t *out)
{
    if (name == NULL || out == NULL)
        return WARD_E_ARG;
    for (unsigned i = 0; i < WARD_FEED_FORMAT_COUNT; i++) {
        if (strcmp(name, format_names[i]) == 0) {
            *out = (ward_feed_format_t)i;
            return WARD_OK;
        }
    }
    return WARD_E_ARG;
}

static bool contains_ci(ward__str_t s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.n; i++) {
        if (strncasecmp(s.p + i, needle, n) == 0)
            return true;
    }
    return false;
}

static bool contains(ward__str_t s, const char *needle)
{
    return memmem(s.p, s.n, needle, strlen(needle)) != NULL;
}

/* `"key" : "value"` somewhere in s (whitespace allowed around the colon). */
static bool has_json_pair(ward__str_t s, const char *key, const char *value)
{
    size_t kn = strlen(key), vn = strlen(value);
    const char *p = s.p, *end = s.p + s.n;
    while (p < end) {
        const char *k = memmem(p, (size_t)(end - p), key, kn);
        if (k == NULL)
            return false;
        const char *q = k + kn;
        while (q < end && is_space(*q))
            q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && is_space(*q))
                q++;
            if ((size_t)(end - q) >= vn && memcmp(q, value, vn) == 0)
                return true;
        }
        p = k + 1;
    }
    return false;
}

static bool is_ip_field(ward__str_t f)
{
    ward_ip_t a;
    uint8_t pfx;
    bool v4;
    return ward__ip_parse_cidr_n(f.p, f.n, &a, &pfx, &v4);
}

static bool is_number(ward__str_t f)
{
    uint64_t v;
    return ward__parse_u64(f, UINT64_MAX, &v);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

#define DETECT_WINDOW 65536

ward_feed_format_t ward_feed_detect(const void *data, size_t len, const char *name_hint)
{
    if (data == NULL)
        return WARD_FEED_PLAIN;
    size_t wlen = len < DETECT_WINDOW ? len : DETECT_WINDOW;
    ward__lines_t it;
    ward__lines_init(&it, data, wlen);
    ward__str_t all = {it.p, (size_t)(it.end - it.p)};
    ward__str_t head = ward__trim(all);

    if (head.n > 0 && (head.p[0] == '{' || head.p[0] == '[')) {
        ward__str_t first = ward__cut_at(head, "\n");
        if (head.p[0] == '{' && contains(first, "\"cidr\"") &&
            (contains(first, "\"sblid\"") || contains(first, "\"rir\"")))
            return WARD_FEED_DROP_JSON;
        if (has_json_pair(head, "\"type\"", "\"bundle\"") || contains(head, "\"spec_version\""))
            return WARD_FEED_STIX;
        return WARD_FEED_MISP_JSON;
    }

    bool netset = false, drop = false;
    ward__str_t line;
    int data_lines = 0;
    while (ward__lines_next(&it, &line) && data_lines < 1) {
        ward__str_t t = ward__trim(line);
        if (t.n == 0)
            continue;
        if (t.n >= 7 && memcmp(t.p, "#fields", 7) == 0)
            return WARD_FEED_ZEEK;
        if (t.p[0] == '#' || t.p[0] == ';') {
            if (contains(t, "dst_ip") && contains(t, "first_seen"))
                return WARD_FEED_FEODO_CSV;
            if (contains_ci(t, "firehol"))
                netset = true;
            /* Spamhaus writes its header with ';'; FireHOL's mention "spamhaus_drop" in '#'. */
            if (t.p[0] == ';' && contains_ci(t, "spamhaus"))
                drop = true;
            continue;
        }
        data_lines++;
        ward__str_t f[8];
        int nf = ward__csv_split(t, f, 8);
        if (nf >= 2) {
            bool has_type = false, has_value = false;
            for (int i = 0; i < nf && i < 8; i++) {
                if (ward__str_eq(f[i], "dst_ip"))
                    return WARD_FEED_FEODO_CSV;
                has_type |= ward__str_ieq(f[i], "type");
                has_value |= ward__str_ieq(f[i], "value");
            }
            if (has_type && has_value)
                return WARD_FEED_MISP_CSV;
            if (nf >= 6) {
                /* A header-less MISP CSV line is the 'type','value' pair somewhere: we only
                 * recognise a Feodo row: date, ip, port, ... */
                int64_t t0;
                if (ward__parse_time(f[0], &t0) && is_ip_field(f[1]))
                    return WARD_FEED_FEODO_CSV;
            }
        }
        if (nf >= 3 && is_ip_field(f[0]) && is_number(f[1]) && is_number(f[2]))
            return WARD_FEED_IPREP;
        if (nf >= 3 && is_number(f[0]) && f[1].n > 0 && !is_number(f[1]) && !is_ip_field(f[0]))
            return WARD_FEED_IPREP_CATEGORIES;
        const char *semi = memchr(t.p, ';', t.n);
        if (semi != NULL) {
            ward__str_t after = {semi + 1, (size_t)(t.p + t.n - semi - 1)};
            after = ward__trim(after);
            if (after.n >= 3 && memcmp(after.p, "SBL", 3) == 0)
                return WARD_FEED_DROP;
        }
    }
    if (drop)
        return WARD_FEED_DROP;
    if (netset ||
        (name_hint != NULL && (ends_with(name_hint, ".netset") || ends_with(name_hint, ".ipset"))))
        return WARD_FEED_NETSET;
    return WARD_FEED_PLAIN;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading */

static ward_status_t load_mem(ward_feedset_t *fs, const char *data, size_t len, const char *name,
                              const char *name_hint, const ward_feed_opts_t *opts,
                              ward_feed_stats_t *st)
{
    ward__feed_ctx_t c = {
        .fs = fs,
        .st = st,
        .name = name,
        .name_hint = name_hint,
        .confidence = opts->default_confidence > 100 ? 100 : opts->default_confidence,
        .now = opts->now ? opts->now : (int64_t)time(NULL),
        .max_reports = opts->max_reports ? opts->max_reports : 100,
        .on_error = opts->on_error,
        .error_ctx = opts->error_ctx,
    };
    st->files++;
    st->bytes += len;
    c.source = ward__feed_intern(&c, name, strlen(name));
    if (opts->category != NULL)
        c.category = ward__feed_intern(&c, opts->category, strlen(opts->category));
    if (c.oom) {
        ward__feed_fail(&c, 0, "out of memory");
        return WARD_E_NOMEM;
    }
    ward_feed_format_t fmt = opts->format;
    if ((unsigned)fmt >= WARD_FEED_FORMAT_COUNT) {
        ward__feed_fail(&c, 0, "unknown feed format %d", (int)fmt);
        return WARD_E_ARG;
    }
    if (fmt == WARD_FEED_AUTO)
        fmt = ward_feed_detect(data, len, name_hint);
    st->format = fmt;

    ward_status_t rc;
    switch (fmt) {
    case WARD_FEED_ZEEK:
        rc = ward__load_zeek(&c, data, len);
        break;
    case WARD_FEED_IPREP_CATEGORIES:
        rc = ward__load_iprep_categories(&c, data, len);
        break;
    case WARD_FEED_IPREP:
        rc = ward__load_iprep(&c, data, len);
        break;
    case WARD_FEED_FEODO_CSV:
        rc = ward__load_feodo(&c, data, len);
        break;
    case WARD_FEED_MISP_CSV:
        rc = ward__load_misp_csv(&c, data, len);
        break;
    case WARD_FEED_DROP_JSON:
        rc = ward__load_drop_json(&c, data, len);
        break;
    case WARD_FEED_MISP_JSON:
        rc = ward__load_misp_json(&c, data, len);
        break;
    case WARD_FEED_STIX:
        rc = ward__load_stix(&c, data, len);
        break;
    default:
        rc = ward__load_plain(&c, data, len, fmt);
        break;
    }
    if (c.oom) {
        ward__feed_fail(&c, 0, "out of memory after %llu indicators",
                        (unsigned long long)st->loaded);
        return WARD_E_NOMEM;
    }
    if (c.reported > c.max_reports)
        feed_note(&c, "%llu more bad records not reported",
                  (unsigned long long)(c.reported - c.max_reports));
    return rc;
}

static void stats_add(ward_feed_stats_t *sum, const ward_feed_stats_t *one)
{
    sum->files += one->files;
    sum->bytes += one->bytes;
    sum->loaded += one->loaded;
    sum->skipped += one->skipped;
    sum->unsupported += one->unsupported;
    sum->revoked += one->revoked;
    sum->bad += one->bad;
    sum->expired += one->expired;
    sum->categories += one->categories;
}

static void fail_path(const ward_feed_opts_t *opts, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_path(const ward_feed_opts_t *opts, const char *path, const char *fmt, ...)
{
    ward__feed_ctx_t c = {.name = path, .on_error = opts->on_error, .error_ctx = opts->error_ctx};
    va_list ap;
    va_start(ap, fmt);
    report(&c, 0, fmt, ap);
    va_end(ap);
}

static const ward_feed_opts_t zero_opts;

ward_status_t ward_feeds_load_buffer(ward_feedset_t *fs, const void *data, size_t len,
                                     const char *name_hint, const ward_feed_opts_t *opts,
                                     ward_feed_stats_t *stats)
{
    ward_feed_stats_t st = {0};
    if (opts == NULL)
        opts = &zero_opts;
    if (stats != NULL)
        *stats = st;
    if (fs == NULL || fs->pool == NULL || (data == NULL && len > 0))
        return WARD_E_ARG;
    const char *name = opts->source ? opts->source : (name_hint ? name_hint : "-");
    ward_status_t rc = load_mem(fs, data ? data : "", len, name, name_hint, opts, &st);
    if (stats != NULL)
        *stats = st;
    return rc;
}

ward_status_t ward_feeds_load_file(ward_feedset_t *fs, const char *path,
                                   const ward_feed_opts_t *opts, ward_feed_stats_t *stats)
{
    ward_feed_stats_t st = {0};
    if (opts == NULL)
        opts = &zero_opts;
    if (stats != NULL)
        *stats = st;
    if (fs == NULL || fs->pool == NULL || path == NULL)
        return WARD_E_ARG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail_path(opts, path, "cannot open: %s", strerror(errno));
        return WARD_E_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fail_path(opts, path, "not a regular file");
        close(fd);
        return WARD_E_IO;
    }
    /* One buffer, sized from fstat; the loop also copes with a file that grows meanwhile.
     * read(2) rather than mmap: a feed rewritten under us must not SIGBUS the service. */
    size_t cap = (size_t)sb.st_size + 1, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        fail_path(opts, path, "out of memory reading %zu bytes", cap);
        close(fd);
        return WARD_E_NOMEM;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap * 2;
            char *n = realloc(buf, ncap);
            if (n == NULL) {
                free(buf);
                close(fd);
                fail_path(opts, path, "out of memory reading %zu bytes", ncap);
                return WARD_E_NOMEM;
            }
            buf = n;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            fail_path(opts, path, "read error: %s", strerror(errno));
            free(buf);
            close(fd);
            return WARD_E_IO;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    const char *name = opts->source ? opts->source : path;
    ward_status_t rc = load_mem(fs, buf, len, name, path, opts, &st);
    free(buf);
    if (stats != NULL)
        *stats = st;
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ward_status_t ward_feeds_load_dir(ward_feedset_t *fs, const char *path,
                                  const ward_feed_opts_t *opts, ward_feed_stats_t *stats)
{
    ward_feed_stats_t sum = {0};
    if (opts == NULL)
        opts = &zero_opts;
    if (stats != NULL)
        *stats = sum;
    if (fs == NULL || fs->pool == NULL || path == NULL)
        return WARD_E_ARG;
    DIR *d = opendir(path);
    if (d == NULL) {
        fail_path(opts, path, "cannot open folder: %s", strerror(errno));
        return WARD_E_IO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    ward_status_t rc = WARD_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (e->d_name[0] == '.' || nl == 0 || e->d_name[nl - 1] == '~')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (nn == NULL) {
                rc = WARD_E_NOMEM;
                break;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = strdup(e->d_name);
        if (names[n] == NULL) {
            rc = WARD_E_NOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc != WARD_OK) {
        fail_path(opts, path, "out of memory listing the folder");
    } else {
        qsort(names, n, sizeof *names, cmp_names);
        size_t plen = strlen(path);
        while (plen > 1 && path[plen - 1] == '/')
            plen--;
        for (size_t i = 0; i < n; i++) {
            char full[4096];
            int w = snprintf(full, sizeof full, "%.*s/%s", (int)plen, path, names[i]);
            if (w < 0 || (size_t)w >= sizeof full) {
                fail_path(opts, path, "file name too long: %.64s", names[i]);
                continue;
            }
            struct stat sb;
            if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode))
                continue;
            ward_feed_opts_t one = *opts;
            one.source = NULL;
            ward_feed_stats_t st;
            ward_status_t r = ward_feeds_load_file(fs, full, &one, &st);
            stats_add(&sum, &st);
            if (r != WARD_OK && rc == WARD_OK)
                rc = r;
            if (r == WARD_E_NOMEM)
                break;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    sum.format = WARD_FEED_AUTO;
    if (stats != NULL)
        *stats = sum;
    return rc;
}

ward_status_t ward_feeds_load_path(ward_feedset_t *fs, const char *path,
                                   const ward_feed_opts_t *opts, ward_feed_stats_t *stats)
{
    struct stat sb;
    if (path != NULL && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ward_feeds_load_dir(fs, path, opts, stats);
    return ward_feeds_load_file(fs, path, opts, stats);
}
