/*
 * config_msg: see config_msg.h. The CBOR is written and read by hand: the message is small and
 * fixed in shape, and a hand reader bounded like the agent's keeps both sides' answers the same.
 */
#include "config_msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MT_UINT 0u
#define MT_NINT 1u
#define MT_BSTR 2u
#define MT_TSTR 3u
#define MT_ARRAY 4u
#define MT_MAP 5u
#define MT_TAG 6u

static const char *const key_names[WARD_CK_DENY + 1] = {"version", "revision", "interval",
                                                        "collectors", "deny"};

static const char *const collector_names[] = {"flows", "listening", "sysinfo", "counters",
                                              "metrics"};
#define N_COLLECTORS (sizeof collector_names / sizeof collector_names[0])

static ward_status_t fail(ward_status_t st, char *reason, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static ward_status_t fail(ward_status_t st, char *reason, size_t len, const char *fmt, ...)
{
    if (reason != NULL && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, len, fmt, ap);
        va_end(ap);
    }
    return st;
}

void ward_config_msg_init(ward_config_msg_t *m, uint64_t rev)
{
    memset(m, 0, sizeof *m);
    m->major = WARD_PROTO_MAJOR;
    m->minor = WARD_PROTO_MINOR;
    m->revision = rev;
}

const char *ward_config_msg_collector_name(uint32_t bit)
{
    for (size_t i = 0; i < N_COLLECTORS; i++)
        if (bit == 1u << i)
            return collector_names[i];
    return NULL;
}

const char *ward_config_msg_action_name(unsigned action)
{
    return action == WARD_DENY_ALERT ? "alert" : action == WARD_DENY_DROP ? "drop" : NULL;
}

/* True when a bit below the prefix... that is, past it (a host bit) is set. */
static bool host_bits_set(const ward_config_deny_t *d)
{
    unsigned bits = d->family == 4 ? 32u : 128u;
    for (unsigned i = d->prefix; i < bits; i++)
        if (d->addr[i >> 3] & (0x80u >> (i & 7u)))
            return true;
    return false;
}

static void cidr_text(const ward_config_deny_t *d, char *buf, size_t len)
{
    ward_addr_t a;
    char t[WARD_ADDR_STRLEN];
    ward_addr_from_bytes(&a, d->addr, d->family == 4 ? 4 : 16);
    ward_addr_format(&a, t, sizeof t);
    snprintf(buf, len, "%s/%u", t, (unsigned)d->prefix);
}

static ward_status_t check_deny(const ward_config_deny_t *d, size_t i, char *reason, size_t len)
{
    if (d->family != 4 && d->family != 6)
        return fail(WARD_E_RANGE, reason, len, "deny[%zu]: address family %u is not 4 or 6", i,
                    (unsigned)d->family);
    unsigned bits = d->family == 4 ? 32u : 128u;
    if (d->prefix > bits)
        return fail(WARD_E_RANGE, reason, len,
                    "deny[%zu]: prefix /%u is longer than an IPv%u address (/%u)", i,
                    (unsigned)d->prefix, (unsigned)d->family, bits);
    if (ward_config_msg_action_name(d->action) == NULL)
        return fail(WARD_E_RANGE, reason, len, "deny[%zu]: action %u is not 0 (alert) or 1 (drop)",
                    i, (unsigned)d->action);
    if (d->action == WARD_DENY_DROP && d->prefix == 0)
        return fail(WARD_E_RANGE, reason, len,
                    "deny[%zu]: action drop with prefix /0 would drop all IPv%u traffic, the "
                    "service's included; the agent refuses it",
                    i, (unsigned)d->family);
    return WARD_OK;
}

ward_status_t ward_config_msg_validate(const ward_config_msg_t *m, char *reason, size_t len)
{
    if (m->revision == 0)
        return fail(WARD_E_RANGE, reason, len, "revision: must be greater than 0");
    if (m->has_interval && (m->interval < WARD_CONFIG_MSG_INTERVAL_MIN ||
                            m->interval > WARD_CONFIG_MSG_INTERVAL_MAX))
        return fail(WARD_E_RANGE, reason, len, "interval: %lu s is outside %d..%d",
                    (unsigned long)m->interval, WARD_CONFIG_MSG_INTERVAL_MIN,
                    WARD_CONFIG_MSG_INTERVAL_MAX);
    if (m->has_collectors && (m->collectors & ~(uint32_t)WARD_COL_ALL_) != 0)
        return fail(WARD_E_RANGE, reason, len, "collectors: unknown bits 0x%lx",
                    (unsigned long)(m->collectors & ~(uint32_t)WARD_COL_ALL_));
    if (m->n_deny > WARD_CONFIG_MSG_DENY_MAX)
        return fail(WARD_E_FULL, reason, len,
                    "deny: %zu entries, the agent holds at most %d", m->n_deny,
                    WARD_CONFIG_MSG_DENY_MAX);
    for (size_t i = 0; i < m->n_deny; i++) {
        ward_status_t st = check_deny(&m->deny[i], i, reason, len);
        if (st != WARD_OK)
            return st;
    }
    return WARD_OK;
}

/* ---- Encoding ---------------------------------------------------------------------------- */

typedef struct wr {
    uint8_t *b;
    size_t cap, pos;
    bool full;
} wr_t;

static void put(wr_t *w, const void *p, size_t n)
{
    if (w->full || n > w->cap - w->pos) {
        w->full = true;
        return;
    }
    memcpy(w->b + w->pos, p, n);
    w->pos += n;
}

static void put_head(wr_t *w, unsigned major, uint64_t v)
{
    uint8_t h[9];
    size_t n;
    uint8_t mt = (uint8_t)(major << 5);
    if (v < 24) {
        h[0] = (uint8_t)(mt | v);
        n = 1;
    } else if (v <= 0xff) {
        h[0] = mt | 24u;
        h[1] = (uint8_t)v;
        n = 2;
    } else if (v <= 0xffff) {
        h[0] = mt | 25u;
        h[1] = (uint8_t)(v >> 8);
        h[2] = (uint8_t)v;
        n = 3;
    } else if (v <= 0xffffffffu) {
        h[0] = mt | 26u;
        for (int i = 0; i < 4; i++)
            h[1 + i] = (uint8_t)(v >> (24 - 8 * i));
        n = 5;
    } else {
        h[0] = mt | 27u;
        for (int i = 0; i < 8; i++)
            h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
        n = 9;
    }
    put(w, h, n);
}

ward_status_t ward_config_msg_encode(const ward_config_msg_t *m, uint8_t *buf, size_t cap,
                                     size_t *len, char *reason, size_t reason_len)
{
    ward_status_t st = ward_config_msg_validate(m, reason, reason_len);
    if (st != WARD_OK)
        return st;
    wr_t w = {buf, cap, 0, false};
    put_head(&w, MT_MAP, 2u + m->has_interval + m->has_collectors + m->has_deny);
    put_head(&w, MT_UINT, WARD_CK_VERSION);
    put_head(&w, MT_ARRAY, 2);
    put_head(&w, MT_UINT, WARD_PROTO_MAJOR);
    put_head(&w, MT_UINT, WARD_PROTO_MINOR);
    put_head(&w, MT_UINT, WARD_CK_REVISION);
    put_head(&w, MT_UINT, m->revision);
    if (m->has_interval) {
        put_head(&w, MT_UINT, WARD_CK_INTERVAL);
        put_head(&w, MT_UINT, m->interval);
    }
    if (m->has_collectors) {
        put_head(&w, MT_UINT, WARD_CK_COLLECTORS);
        put_head(&w, MT_UINT, m->collectors);
    }
    if (m->has_deny) {
        put_head(&w, MT_UINT, WARD_CK_DENY);
        put_head(&w, MT_ARRAY, m->n_deny);
        for (size_t i = 0; i < m->n_deny; i++) {
            const ward_config_deny_t *d = &m->deny[i];
            size_t alen = d->family == 4 ? 4 : 16;
            put_head(&w, MT_ARRAY, 3);
            put_head(&w, MT_BSTR, alen);
            put(&w, d->addr, alen);
            put_head(&w, MT_UINT, d->prefix);
            put_head(&w, MT_UINT, d->action);
        }
    }
    if (w.full)
        return fail(WARD_E_BUFFER, reason, reason_len, "the message needs more than %zu bytes",
                    cap);
    *len = w.pos;
    return WARD_OK;
}

/* ---- Decoding ---------------------------------------------------------------------------- */

typedef struct rd {
    const uint8_t *b;
    size_t len, pos;
    char *reason;
    size_t reason_len;
    int key; /* the key being read, -1 for the map itself */
} rd_t;

/* "key 2 (interval)" or "map". */
static const char *where(const rd_t *r, char *buf, size_t len)
{
    if (r->key < 0)
        snprintf(buf, len, "map");
    else if (r->key <= WARD_CK_DENY)
        snprintf(buf, len, "key %d (%s)", r->key, key_names[r->key]);
    else
        snprintf(buf, len, "key %d", r->key);
    return buf;
}

static ward_status_t rfail(rd_t *r, ward_status_t st, const char *what)
{
    char w[32];
    return fail(st, r->reason, r->reason_len, "%s: %s (at byte %zu)", where(r, w, sizeof w), what,
                r->pos);
}

/* One head; a bstr/tstr payload must be there too (left unread at r->pos). */
static ward_status_t head(rd_t *r, unsigned *major, uint64_t *v)
{
    if (r->pos >= r->len)
        return rfail(r, WARD_E_INCOMPLETE, "the message ends inside an item");
    uint8_t ib = r->b[r->pos];
    unsigned ai = ib & 0x1fu;
    *major = ib >> 5;
    if (ai == 31u)
        return rfail(r, WARD_E_UNSUPPORTED, "indefinite length");
    if (ai > 27u)
        return rfail(r, WARD_E_MALFORMED, "reserved additional information");
    size_t n = ai < 24u ? 0 : (size_t)1 << (ai - 24u);
    if (n > r->len - r->pos - 1)
        return rfail(r, WARD_E_INCOMPLETE, "the message ends inside an item");
    uint64_t x = ai < 24u ? ai : 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | r->b[r->pos + 1 + i];
    r->pos += 1 + n;
    *v = x;
    if ((*major == MT_BSTR || *major == MT_TSTR) && x > r->len - r->pos)
        return rfail(r, WARD_E_INCOMPLETE, "the message ends inside a string");
    return WARD_OK;
}

static const char *const major_names[8] = {"uint", "negative int", "byte string", "text string",
                                           "array", "map", "tag", "simple/float"};

static ward_status_t expect(rd_t *r, unsigned want, uint64_t *v)
{
    unsigned major = 0;
    ward_status_t st = head(r, &major, v);
    if (st == WARD_OK && major != want) {
        char what[64];
        snprintf(what, sizeof what, "expected %s, got %s", major_names[want], major_names[major]);
        return rfail(r, WARD_E_MALFORMED, what);
    }
    return st;
}

/* Skip n items at nesting level depth (1 = the values of the top-level map). No recursion. */
static ward_status_t skip(rd_t *r, uint64_t n, unsigned depth)
{
    uint64_t left[WARD_CONFIG_MSG_DEPTH_MAX + 1];
    unsigned top = 1;
    left[0] = n;
    while (top > 0) {
        if (left[top - 1] == 0) {
            top--;
            continue;
        }
        left[top - 1]--;
        unsigned major = 0;
        uint64_t v = 0;
        ward_status_t st = head(r, &major, &v);
        if (st != WARD_OK)
            return st;
        if (major == MT_BSTR || major == MT_TSTR) {
            r->pos += (size_t)v;
        } else if (major == MT_ARRAY || major == MT_MAP) {
            uint64_t items = major == MT_MAP ? v * 2u : v;
            if (v > r->len - r->pos || items > r->len - r->pos)
                return rfail(r, WARD_E_INCOMPLETE, "a container longer than the message");
            if (depth + top > WARD_CONFIG_MSG_DEPTH_MAX)
                return rfail(r, WARD_E_UNSUPPORTED, "nested too deep");
            left[top++] = items;
        } else if (major == MT_TAG) {
            left[top - 1]++; /* its content follows, at the same level */
        }
    }
    return WARD_OK;
}

static ward_status_t uint_in(rd_t *r, uint64_t lo, uint64_t hi, uint64_t *v, const char *what)
{
    ward_status_t st = expect(r, MT_UINT, v);
    if (st == WARD_OK && (*v < lo || *v > hi)) {
        char m[96];
        snprintf(m, sizeof m, "%s %llu is outside %llu..%llu", what, (unsigned long long)*v,
                 (unsigned long long)lo, (unsigned long long)hi);
        return rfail(r, WARD_E_RANGE, m);
    }
    return st;
}

static ward_status_t read_version(rd_t *r, ward_config_msg_t *m)
{
    uint64_t n = 0;
    ward_status_t st = expect(r, MT_ARRAY, &n);
    if (st == WARD_OK && n < 2)
        return rfail(r, WARD_E_MALFORMED, "expected [major, minor]");
    if (st == WARD_OK)
        st = expect(r, MT_UINT, &m->major);
    if (st == WARD_OK)
        st = expect(r, MT_UINT, &m->minor);
    if (st == WARD_OK)
        st = skip(r, n - 2, 2);
    if (st == WARD_OK && m->major != WARD_PROTO_MAJOR) {
        char what[64];
        snprintf(what, sizeof what, "major version %llu is not %d",
                 (unsigned long long)m->major, WARD_PROTO_MAJOR);
        return rfail(r, WARD_E_UNSUPPORTED, what);
    }
    return st;
}

static ward_status_t read_deny(rd_t *r, ward_config_msg_t *m)
{
    uint64_t n = 0;
    ward_status_t st = expect(r, MT_ARRAY, &n);
    if (st == WARD_OK && n > WARD_CONFIG_MSG_DENY_MAX) {
        char what[64];
        snprintf(what, sizeof what, "%llu entries, the agent holds at most %d",
                 (unsigned long long)n, WARD_CONFIG_MSG_DENY_MAX);
        return rfail(r, WARD_E_FULL, what);
    }
    for (uint64_t i = 0; st == WARD_OK && i < n; i++) {
        ward_config_deny_t *d = &m->deny[i];
        uint64_t k = 0, alen = 0, prefix = 0, action = 0;
        memset(d, 0, sizeof *d);
        st = expect(r, MT_ARRAY, &k);
        if (st == WARD_OK && k < 3)
            return rfail(r, WARD_E_MALFORMED, "an entry is [addr, prefix, action]");
        if (st == WARD_OK)
            st = expect(r, MT_BSTR, &alen);
        if (st == WARD_OK && alen != 4 && alen != 16)
            return rfail(r, WARD_E_RANGE, "an address is 4 or 16 bytes");
        if (st == WARD_OK) {
            memcpy(d->addr, r->b + r->pos, (size_t)alen);
            r->pos += (size_t)alen;
            d->family = alen == 4 ? 4 : 6;
            st = uint_in(r, 0, alen * 8, &prefix, "prefix");
        }
        if (st == WARD_OK)
            st = uint_in(r, WARD_DENY_ALERT, WARD_DENY_DROP, &action, "action");
        if (st == WARD_OK && prefix == 0 && action == WARD_DENY_DROP)
            return rfail(r, WARD_E_RANGE, "action drop with prefix 0 would cut the device off");
        if (st == WARD_OK)
            st = skip(r, k - 3, 3);
        d->prefix = (uint8_t)prefix;
        d->action = (uint8_t)action;
    }
    if (st == WARD_OK)
        m->n_deny = (size_t)n;
    return st;
}

ward_status_t ward_config_msg_decode(const uint8_t *buf, size_t len, ward_config_msg_t *m,
                                     char *reason, size_t reason_len)
{
    rd_t r = {buf, len, 0, reason, reason_len, -1};
    uint64_t n = 0;
    unsigned seen = 0;
    ward_config_msg_init(m, 0);
    m->major = m->minor = 0;
    if (buf == NULL)
        r.len = 0;
    ward_status_t st = expect(&r, MT_MAP, &n);
    if (st == WARD_OK && n > (r.len - r.pos) / 2)
        st = rfail(&r, WARD_E_INCOMPLETE, "more entries than the message has bytes");
    for (uint64_t i = 0; st == WARD_OK && i < n; i++) {
        uint64_t key = 0, v = 0;
        r.key = -1;
        st = expect(&r, MT_UINT, &key);
        if (st != WARD_OK)
            break;
        r.key = key > 1000 ? 1000 : (int)key;
        if (key <= WARD_CK_DENY) {
            if (seen & (1u << key)) {
                st = rfail(&r, WARD_E_MALFORMED, "appears twice");
                break;
            }
            seen |= 1u << key;
        }
        switch (key) {
        case WARD_CK_VERSION:
            st = read_version(&r, m);
            break;
        case WARD_CK_REVISION:
            st = uint_in(&r, 1, UINT64_MAX, &m->revision, "revision");
            break;
        case WARD_CK_INTERVAL:
            st = uint_in(&r, WARD_CONFIG_MSG_INTERVAL_MIN, WARD_CONFIG_MSG_INTERVAL_MAX, &v,
                         "interval");
            m->interval = (uint32_t)v;
            m->has_interval = true;
            break;
        case WARD_CK_COLLECTORS:
            st = expect(&r, MT_UINT, &v);
            m->collectors = (uint32_t)(v & WARD_COL_ALL_); /* later bits: ignored, as the agent */
            m->has_collectors = true;
            break;
        case WARD_CK_DENY:
            st = read_deny(&r, m);
            m->has_deny = true;
            break;
        default:
            st = skip(&r, 1, 1); /* a key of a later minor version */
            break;
        }
    }
    r.key = -1;
    if (st == WARD_OK && r.pos != r.len)
        st = rfail(&r, WARD_E_MALFORMED, "bytes after the map");
    else if (st == WARD_OK && !(seen & (1u << WARD_CK_VERSION)))
        st = fail(WARD_E_MALFORMED, reason, reason_len, "key 0 (version): missing");
    else if (st == WARD_OK && !(seen & (1u << WARD_CK_REVISION)))
        st = fail(WARD_E_MALFORMED, reason, reason_len, "key 1 (revision): missing");
    if (st != WARD_OK) {
        uint64_t rev = m->revision;
        ward_config_msg_init(m, rev); /* no half-read fields; keep the revision for reports */
    }
    return st;
}

/* ---- JSON and text ----------------------------------------------------------------------- */

json_t *ward_config_msg_json(const ward_config_msg_t *m)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "version",
                        json_pack("[I,I]", (json_int_t)m->major, (json_int_t)m->minor));
    json_object_set_new(o, "revision", json_integer((json_int_t)m->revision));
    if (m->has_interval)
        json_object_set_new(o, "interval", json_integer(m->interval));
    if (m->has_collectors) {
        json_t *a = json_array();
        for (size_t i = 0; i < N_COLLECTORS; i++)
            if (m->collectors & (1u << i))
                json_array_append_new(a, json_string(collector_names[i]));
        json_object_set_new(o, "collectors", a);
    }
    if (m->has_deny) {
        json_t *a = json_array();
        for (size_t i = 0; i < m->n_deny; i++) {
            char c[WARD_ADDR_STRLEN + 8];
            const char *act = ward_config_msg_action_name(m->deny[i].action);
            cidr_text(&m->deny[i], c, sizeof c);
            json_array_append_new(a, json_pack("{s:s,s:s}", "cidr", c, "action",
                                               act ? act : "?"));
        }
        json_object_set_new(o, "deny", a);
    }
    return o;
}

ward_status_t ward_config_msg_parse_deny(const char *s, ward_config_deny_t *d, char *reason,
                                         size_t reason_len)
{
    char buf[WARD_ADDR_STRLEN + 16];
    size_t n = strlen(s);
    memset(d, 0, sizeof *d);
    d->action = WARD_DENY_ALERT;
    if (n >= sizeof buf)
        return fail(WARD_E_RANGE, reason, reason_len, "--deny \"%.60s...\": too long", s);
    memcpy(buf, s, n + 1);
    /* The action is a suffix: an IPv6 address is full of colons, but never ends in a word. */
    char *colon = strrchr(buf, ':');
    if (colon != NULL && strcmp(colon, ":alert") == 0) {
        *colon = '\0';
    } else if (colon != NULL && strcmp(colon, ":drop") == 0) {
        *colon = '\0';
        d->action = WARD_DENY_DROP;
    } else if (colon != NULL && strchr(colon, '.') == NULL && strchr(colon, '/') == NULL &&
               strlen(colon + 1) > 4) {
        return fail(WARD_E_RANGE, reason, reason_len,
                    "--deny %s: action \"%s\" is not alert or drop", s, colon + 1);
    }
    unsigned long prefix = 0;
    bool has_prefix = false;
    char *slash = strchr(buf, '/');
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        errno = 0;
        prefix = strtoul(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno != 0 || prefix > 255)
            return fail(WARD_E_RANGE, reason, reason_len, "--deny %s: prefix \"%s\" is not a number",
                        s, slash + 1);
        has_prefix = true;
    }
    ward_addr_t a;
    if (!ward_addr_parse(buf, &a))
        return fail(WARD_E_RANGE, reason, reason_len,
                    "--deny %s: \"%s\" is not an IPv4 or IPv6 address", s, buf);
    d->family = a.family == 4 ? 4 : 6;
    unsigned bits = d->family == 4 ? 32u : 128u;
    if (d->family == 4)
        memcpy(d->addr, a.b + 12, 4);
    else
        memcpy(d->addr, a.b, 16);
    if (has_prefix && prefix > bits)
        return fail(WARD_E_RANGE, reason, reason_len,
                    "--deny %s: prefix /%lu is longer than an IPv%u address (/%u)", s, prefix,
                    (unsigned)d->family, bits);
    d->prefix = (uint8_t)(has_prefix ? prefix : bits);
    if (host_bits_set(d)) {
        ward_config_deny_t net = *d;
        char c[WARD_ADDR_STRLEN + 8];
        for (unsigned i = net.prefix; i < bits; i++)
            net.addr[i >> 3] = (uint8_t)(net.addr[i >> 3] & ~(0x80u >> (i & 7u)));
        cidr_text(&net, c, sizeof c);
        return fail(WARD_E_RANGE, reason, reason_len,
                    "--deny %s: host bits are set past the prefix (the network is %s)", s, c);
    }
    return check_deny(d, 0, reason, reason_len) == WARD_OK
               ? WARD_OK
               : fail(WARD_E_RANGE, reason, reason_len,
                      "--deny %s: drop with prefix /0 would drop all IPv%u traffic, the service's "
                      "included; the agent refuses it",
                      s, (unsigned)d->family);
}

ward_status_t ward_config_msg_parse_collectors(const char *s, uint32_t *bits, char *reason,
                                               size_t reason_len)
{
    *bits = 0;
    if (strcmp(s, "none") == 0)
        return WARD_OK;
    const char *p = s;
    for (;;) {
        size_t n = strcspn(p, ",");
        size_t i = 0;
        for (; i < N_COLLECTORS; i++)
            if (strlen(collector_names[i]) == n && strncmp(p, collector_names[i], n) == 0)
                break;
        if (i == N_COLLECTORS)
            return fail(WARD_E_RANGE, reason, reason_len,
                        "--collectors: \"%.*s\" is not one of flows, listening, sysinfo, "
                        "counters, metrics (or none)",
                        (int)(n > 32 ? 32 : n), p);
        *bits |= 1u << i;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return WARD_OK;
}
