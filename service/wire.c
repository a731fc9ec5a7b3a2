/*
 * wire: CBOR report decoding, validation and JSON rendering. See wire.h for the contract.
 *
 * Decoding has two steps over the bytes in place, so that hostile bytes never reach an allocation
 * or a recursion whose size they choose, and nothing is allocated per item:
 *  1. check (cbor_read.c): every item once, checking that the input is exactly one well-formed
 *     item, no deeper than WARD_WIRE_DEPTH_MAX, and that no container declares more entries than
 *     there are bytes left (each entry takes at least one). Every structural fault anywhere is
 *     found here, before any value is judged, so the reason never depends on where a walk stopped.
 *  2. validate: a cursor walks the checked bytes key by key into ward_wire_report_t, in the order
 *     the keys come, skipping unknown keys and array positions whole; only the report's arrays
 *     are allocated (one per section). Cross-field checks (required keys, local address indexes,
 *     period and part ranges) come last, because a CBOR map has no order.
 * Before, step 2 was libcbor's cbor_load (a malloc per item) and a walk of its tree;
 * the check accepts and refuses exactly what that did, with the same reasons
 * (tests/unit/service/wire_ref.c keeps it for the differential test). The JSON of wardctl decode
 * still renders unknown keys from libcbor's tree, off the hot path.
 */
#include "wire.h"

#include "cbor_read.h"

#include <cbor.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Errors -------------------------------------------------------------------------------- */

typedef struct dctx {
    ward_status_t st;
    char *reason;
    size_t reason_len;
    ward_cbor_reader_t rd; /* the report's bytes, read front to back */
    ward_arena_t *arena;   /* where the arrays go; NULL: calloc */
} dctx_t;

static void *dec_calloc(dctx_t *c, size_t n, size_t size)
{
    return c->arena != NULL ? ward_arena_calloc(c->arena, n, size) : calloc(n, size);
}

/* Where a value sits, for the reason text: "key 16 (flows) item 2 position 5 (remote_port)". */
typedef struct where {
    int key;
    long item; /* -1: not in an array */
    long pos;  /* -1: none; array position or map key inside a known structure */
    const char *name;
} where_t;

static const char *const key_names[] = {
    [WARD_RK_VERSION] = "version",
    [WARD_RK_DEVICE_ID] = "device_id",
    [WARD_RK_AGENT_VERSION] = "agent_version",
    [WARD_RK_BOOT_ID] = "boot_id",
    [WARD_RK_SEQ] = "seq",
    [WARD_RK_PERIOD_START] = "period_start",
    [WARD_RK_PERIOD_END] = "period_end",
    [WARD_RK_PART] = "part",
    [WARD_RK_TIME_BASE] = "time_base",
    [WARD_RK_INTERVAL] = "interval",
    [WARD_RK_CONFIG_REV] = "config_rev",
    [WARD_RK_PRIORITY] = "priority",
    [WARD_RK_FLOWS] = "flows",
    [WARD_RK_OVERFLOW] = "overflow",
    [WARD_RK_LOCAL_ADDRS] = "local_addrs",
    [WARD_RK_LISTENING] = "listening",
    [WARD_RK_SYSINFO] = "sysinfo",
    [WARD_RK_COUNTERS] = "counters",
    [WARD_RK_METRICS] = "metrics",
    [WARD_RK_MALFORMED] = "malformed",
    [WARD_RK_DETECTIONS] = "detections",
    [WARD_RK_CONFIG_STATUS] = "config_status",
};
#define KEY_LAST WARD_RK_CONFIG_STATUS

static const char *const counter_names[] = {
    [WARD_CTR_MSGS_SENT] = "msgs_sent",
    [WARD_CTR_MSGS_RECEIVED] = "msgs_received",
    [WARD_CTR_CONNECT_ATTEMPTS] = "connect_attempts",
    [WARD_CTR_AUTH_FAILURES] = "auth_failures",
    [WARD_CTR_PARSE_ERRORS] = "parse_errors",
    [WARD_CTR_REPORTS_SPLIT] = "reports_split",
    [WARD_CTR_FLOWS_DROPPED] = "flows_dropped",
    [WARD_CTR_PACKETS] = "packets",
    [WARD_CTR_PACKETS_MALFORMED] = "packets_malformed",
    [WARD_CTR_PUBLISH_FAILED] = "publish_failed",
    [WARD_CTR_DETECTIONS_LOST] = "detections_lost",
    [WARD_CTR_CONFIGS_REJECTED] = "configs_rejected",
};

static const char *const malformed_names[WARD_MF_COUNT_] = {"truncated",  "bad_version", "bad_ihl",
                                                            "bad_length", "ext_chain",   "bad_l4"};

static const char *const flow_pos_names[WARD_FP_COUNT_] = {
    "protocol",    "flags",       "local_addr", "local_port", "remote_addr",
    "remote_port", "packets_out", "packets_in", "bytes_out",  "bytes_in",
    "first",       "last",        "tcp_flags"};

static bool fail(dctx_t *c, ward_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(dctx_t *c, ward_status_t st, const char *fmt, ...)
{
    if (c->st != WARD_OK)
        return false;
    c->st = st;
    if (c->reason != NULL && c->reason_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->reason, c->reason_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

static const char *where_str(where_t w, char *buf, size_t len)
{
    const char *kn = (w.key >= 0 && w.key <= KEY_LAST && key_names[w.key]) ? key_names[w.key] : "?";
    int n = snprintf(buf, len, "key %d (%s)", w.key, kn);
    size_t off = n > 0 && (size_t)n < len ? (size_t)n : len - 1;
    if (w.item >= 0) {
        n = snprintf(buf + off, len - off, " item %ld", w.item);
        off = n > 0 && (size_t)n < len - off ? off + (size_t)n : len - 1;
    }
    if (w.pos >= 0 && w.name != NULL)
        snprintf(buf + off, len - off, " position %ld (%s)", w.pos, w.name);
    else if (w.pos >= 0)
        snprintf(buf + off, len - off, " entry %ld", w.pos);
    return buf;
}

static where_t at_key(int key)
{
    where_t w = {key, -1, -1, NULL};
    return w;
}

static where_t at_pos(int key, long item, long pos, const char *name)
{
    where_t w = {key, item, pos, name};
    return w;
}

/* ---- Step 1: check ------------------------------------------------------------------------- */

static bool scan(dctx_t *c, const uint8_t *buf, size_t len)
{
    size_t at;
    if (len == 0)
        return fail(c, WARD_E_INCOMPLETE, "empty report");
    if (len > WARD_WIRE_REPORT_MAX)
        return fail(c, WARD_E_MALFORMED, "report of %zu bytes is larger than %u", len,
                    WARD_WIRE_REPORT_MAX);
    switch (ward__cbor_check(buf, len, WARD_WIRE_DEPTH_MAX, &at)) {
    case WARD_CBOR_OK:
        return true;
    case WARD_CBOR_TRUNCATED:
        return fail(c, WARD_E_INCOMPLETE, "truncated: the input ends inside an item");
    case WARD_CBOR_TOO_DEEP:
        return fail(c, WARD_E_MALFORMED, "CBOR at byte %zu nests deeper than %d", at,
                    WARD_WIRE_DEPTH_MAX);
    case WARD_CBOR_TOO_LONG: /* each entry takes a byte at least: the input is too short */
        return fail(c, WARD_E_INCOMPLETE,
                    "truncated: the container at byte %zu declares more "
                    "entries than there are bytes left",
                    at);
    case WARD_CBOR_STRAY_BREAK:
        return fail(c, WARD_E_MALFORMED,
                    "not well-formed CBOR at byte %zu (a break outside "
                    "an indefinite item)",
                    at);
    case WARD_CBOR_TRAILING:
        return fail(c, WARD_E_MALFORMED, "%zu trailing bytes after the report", len - at);
    case WARD_CBOR_RESERVED:
    case WARD_CBOR_INVALID:
    default:
        return fail(c, WARD_E_MALFORMED, "not well-formed CBOR at byte %zu", at);
    }
}

/* ---- Step 2: reading values ---------------------------------------------------------------- */

/* The reader refused bytes the check accepted: cannot happen, but every refusal names a reason. */
static bool broken(dctx_t *c)
{
    return fail(c, WARD_E_MALFORMED, "not well-formed CBOR at byte %zu", c->rd.pos);
}

static inline __attribute__((always_inline)) bool next_head(dctx_t *c, ward_cbor_head_t *h)
{
    if (ward__cbor_head(&c->rd, h))
        return true;
    broken(c);
    return false;
}

static inline bool skip(dctx_t *c)
{
    if (ward__cbor_skip(&c->rd))
        return true;
    broken(c);
    return false;
}

static bool get_uint_head(dctx_t *c, uint64_t max, uint64_t *out, where_t w);

/* Most values of a report are small integers, whole in their initial byte. */
static inline bool get_uint(dctx_t *c, uint64_t max, uint64_t *out, where_t w)
{
    ward_cbor_reader_t *rd = &c->rd;
    if (rd->pos < rd->len && rd->buf[rd->pos] < 24 && rd->buf[rd->pos] <= max) {
        *out = rd->buf[rd->pos++];
        return true;
    }
    return get_uint_head(c, max, out, w);
}

static bool get_uint_head(dctx_t *c, uint64_t max, uint64_t *out, where_t w)
{
    char wb[128];
    ward_cbor_head_t h;
    if (!next_head(c, &h))
        return false;
    if (h.major != WARD_CBOR_UINT)
        return fail(c, WARD_E_MALFORMED, "%s: expected uint", where_str(w, wb, sizeof wb));
    if (h.arg > max)
        return fail(c, WARD_E_RANGE, "%s: %" PRIu64 " out of range (max %" PRIu64 ")",
                    where_str(w, wb, sizeof wb), h.arg, max);
    *out = h.arg;
    return true;
}

static bool get_int(dctx_t *c, int64_t *out, where_t w)
{
    char wb[128];
    ward_cbor_head_t h;
    if (!next_head(c, &h))
        return false;
    if (h.major == WARD_CBOR_UINT || h.major == WARD_CBOR_NEGINT) {
        if (h.arg <= INT64_MAX) {
            *out = h.major == WARD_CBOR_UINT ? (int64_t)h.arg : -1 - (int64_t)h.arg;
            return true;
        }
        return fail(c, WARD_E_RANGE, "%s: integer outside int64", where_str(w, wb, sizeof wb));
    }
    return fail(c, WARD_E_MALFORMED, "%s: expected int", where_str(w, wb, sizeof wb));
}

static bool get_bool(dctx_t *c, bool *out, where_t w)
{
    char wb[128];
    ward_cbor_head_t h;
    if (!next_head(c, &h))
        return false;
    if (h.major != WARD_CBOR_SIMPLE || (h.info != WARD_CBOR_FALSE && h.info != WARD_CBOR_TRUE))
        return fail(c, WARD_E_MALFORMED, "%s: expected bool", where_str(w, wb, sizeof wb));
    *out = h.info == WARD_CBOR_TRUE;
    return true;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF), and no control characters: text from a
 * device ends up in terminals and JSON. */
static bool text_ok(const uint8_t *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        if (s[i] >= 0x20 && s[i] < 0x7f) { /* printable ASCII, the common case, without a call */
            i++;
            continue;
        }
        if (!ward__utf8_next(s, n, &i, &cp) || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
            return false;
    }
    return true;
}

/* A tstr of min..max bytes into out (max + 1 bytes), NUL-terminated. */
static bool get_text(dctx_t *c, size_t min, size_t max, char *out, where_t w)
{
    char wb[128];
    ward_cbor_head_t h;
    size_t n;
    if (!next_head(c, &h))
        return false;
    if (h.major != WARD_CBOR_TEXT)
        return fail(c, WARD_E_MALFORMED, "%s: expected tstr", where_str(w, wb, sizeof wb));
    int st = ward__cbor_string(&c->rd, &h, (uint8_t *)out, max, &n);
    if (st < 0)
        return broken(c);
    if (st == 0 || n < min)
        return fail(c, WARD_E_RANGE, "%s: text length outside %zu..%zu",
                    where_str(w, wb, sizeof wb), min, max);
    out[n] = '\0';
    if (!text_ok((const uint8_t *)out, n))
        return fail(c, WARD_E_MALFORMED, "%s: not UTF-8 text, or has control characters",
                    where_str(w, wb, sizeof wb));
    return true;
}

static bool get_addr(dctx_t *c, ward_addr_t *out, where_t w)
{
    char wb[128];
    ward_cbor_head_t h;
    uint8_t b[16];
    size_t n;
    if (!next_head(c, &h))
        return false;
    if (h.major != WARD_CBOR_BYTES)
        return fail(c, WARD_E_MALFORMED, "%s: expected bstr", where_str(w, wb, sizeof wb));
    int st = ward__cbor_string(&c->rd, &h, b, sizeof b, &n);
    if (st < 0)
        return broken(c);
    if (st == 0 || !ward_addr_from_bytes(out, b, n))
        return fail(c, WARD_E_RANGE, "%s: an address is 4 or 16 bytes",
                    where_str(w, wb, sizeof wb));
    return true;
}

/* An array or map being read: its size, counted ahead for an indefinite one, so that size checks
 * and allocations come first, as for a definite one. */
typedef struct seq {
    size_t n;   /* positions of an array, pairs of a map */
    bool indef; /* ends at a break, read by seq_end() */
} seq_t;

static bool seq_size(dctx_t *c, const ward_cbor_head_t *h, seq_t *s)
{
    s->indef = h->indef;
    if (!h->indef) {
        s->n = (size_t)h->arg; /* the check bounded it by the input's size */
        return true;
    }
    size_t items;
    if (!ward__cbor_count(&c->rd, &items)) {
        broken(c);
        return false;
    }
    s->n = h->major == WARD_CBOR_MAP ? items / 2 : items;
    return true;
}

/* The end of an array or map: skip its last `left` items (positions this version does not
 * know), then its break if it has one. */
static bool seq_end(dctx_t *c, const seq_t *s, size_t left)
{
    for (size_t i = 0; i < left; i++)
        if (!skip(c))
            return false;
    return !s->indef || ward__cbor_break(&c->rd) || broken(c);
}

/* An array of at least min positions: its size in *s. */
static bool get_array(dctx_t *c, size_t min, seq_t *s, where_t w)
{
    char wb[128];
    ward_cbor_head_t h;
    if (!next_head(c, &h))
        return false;
    if (h.major != WARD_CBOR_ARRAY)
        return fail(c, WARD_E_MALFORMED, "%s: expected array", where_str(w, wb, sizeof wb));
    if (!seq_size(c, &h, s))
        return false;
    if (s->n < min)
        return fail(c, WARD_E_MALFORMED, "%s: array of %zu positions, at least %zu required",
                    where_str(w, wb, sizeof wb), s->n, min);
    return true;
}

/* A map: its number of pairs in *s. */
static bool get_map(dctx_t *c, seq_t *s, where_t w)
{
    char wb[128];
    ward_cbor_head_t h;
    if (!next_head(c, &h))
        return false;
    if (h.major != WARD_CBOR_MAP)
        return fail(c, WARD_E_MALFORMED, "%s: expected map", where_str(w, wb, sizeof wb));
    return seq_size(c, &h, s);
}

/* A map key: 1 and the key in *k for a uint up to max (its value is next); 0 for any other key,
 * skipped with its value; -1 when the reader failed. */
static int map_key(dctx_t *c, uint64_t max, uint64_t *k)
{
    size_t at = c->rd.pos;
    ward_cbor_head_t h;
    if (!next_head(c, &h))
        return -1;
    if (h.major == WARD_CBOR_UINT && h.arg <= max) {
        *k = h.arg;
        return 1;
    }
    if (h.major != WARD_CBOR_UINT) {
        c->rd.pos = at;
        if (!skip(c))
            return -1;
    }
    return skip(c) ? 0 : -1;
}

/* ---- Step 2: structures -------------------------------------------------------------------- */

static bool dec_flow(dctx_t *c, long i, ward_wire_flow_t *f)
{
    seq_t s;
    if (!get_array(c, WARD_FP_TCP_FLAGS, &s, at_pos(WARD_RK_FLOWS, i, -1, NULL)))
        return false;
    uint64_t v[WARD_FP_COUNT_] = {0};
    static const uint64_t max[WARD_FP_COUNT_] = {[WARD_FP_PROTO] = 255,
                                                 [WARD_FP_FLAGS] = UINT32_MAX,
                                                 [WARD_FP_LOCAL_ADDR] = UINT32_MAX,
                                                 [WARD_FP_LOCAL_PORT] = 65535,
                                                 [WARD_FP_REMOTE_PORT] = 65535,
                                                 [WARD_FP_PACKETS_OUT] = INT64_MAX,
                                                 [WARD_FP_PACKETS_IN] = INT64_MAX,
                                                 [WARD_FP_BYTES_OUT] = INT64_MAX,
                                                 [WARD_FP_BYTES_IN] = INT64_MAX,
                                                 [WARD_FP_FIRST] = UINT32_MAX,
                                                 [WARD_FP_LAST] = UINT32_MAX,
                                                 [WARD_FP_TCP_FLAGS] = 0xffff};
    size_t p;
    for (p = 0; p < WARD_FP_COUNT_ && p < s.n; p++) {
        where_t w = at_pos(WARD_RK_FLOWS, i, (long)p, flow_pos_names[p]);
        if (p == WARD_FP_REMOTE_ADDR) {
            if (!get_addr(c, &f->remote_addr, w))
                return false;
        } else if (!get_uint(c, max[p], &v[p], w)) {
            return false;
        }
    }
    if (!seq_end(c, &s, s.n - p))
        return false;
    f->proto = (uint8_t)v[WARD_FP_PROTO];
    unsigned init = (unsigned)(v[WARD_FP_FLAGS] & WARD_FF_INITIATOR_MASK);
    /* Value 3 is not defined in v1; a later minor version may define it: read as unknown. */
    f->initiator = init <= WARD_DIR_INBOUND ? (uint8_t)init : WARD_DIR_UNKNOWN;
    f->continued = (v[WARD_FP_FLAGS] & WARD_FF_CONTINUED) != 0;
    f->local_index = (uint32_t)v[WARD_FP_LOCAL_ADDR];
    f->local_port = (uint16_t)v[WARD_FP_LOCAL_PORT];
    f->remote_port = (uint16_t)v[WARD_FP_REMOTE_PORT];
    f->packets_out = v[WARD_FP_PACKETS_OUT];
    f->packets_in = v[WARD_FP_PACKETS_IN];
    f->bytes_out = v[WARD_FP_BYTES_OUT];
    f->bytes_in = v[WARD_FP_BYTES_IN];
    f->first = (uint32_t)v[WARD_FP_FIRST];
    f->last = (uint32_t)v[WARD_FP_LAST];
    f->has_tcp_flags = s.n > WARD_FP_TCP_FLAGS;
    f->tcp_flags = (uint16_t)v[WARD_FP_TCP_FLAGS];
    if (f->first > f->last)
        return fail(c, WARD_E_RANGE,
                    "key 16 (flows) item %ld: first (%" PRIu32 " s) is after last (%" PRIu32 " s)",
                    i, f->first, f->last);
    return true;
}

static bool dec_overflow(dctx_t *c, long i, ward_wire_overflow_t *o)
{
    static const char *const names[] = {"protocol", "direction", "flows", "packets", "bytes"};
    static const uint64_t max[] = {255, 255, INT64_MAX, INT64_MAX, INT64_MAX};
    uint64_t v[5];
    seq_t s;
    if (!get_array(c, 5, &s, at_pos(WARD_RK_OVERFLOW, i, -1, NULL)))
        return false;
    for (int p = 0; p < 5; p++)
        if (!get_uint(c, max[p], &v[p], at_pos(WARD_RK_OVERFLOW, i, p, names[p])))
            return false;
    if (!seq_end(c, &s, s.n - 5))
        return false;
    o->proto = (uint8_t)v[0];
    o->direction = (uint8_t)v[1];
    o->flows = v[2];
    o->packets = v[3];
    o->bytes = v[4];
    return true;
}

static bool dec_listen(dctx_t *c, long i, ward_wire_listen_t *l)
{
    uint64_t proto, port;
    seq_t s;
    if (!get_array(c, 3, &s, at_pos(WARD_RK_LISTENING, i, -1, NULL)) ||
        !get_uint(c, 255, &proto, at_pos(WARD_RK_LISTENING, i, 0, "protocol")) ||
        !get_addr(c, &l->addr, at_pos(WARD_RK_LISTENING, i, 1, "local_addr")) ||
        !get_uint(c, 65535, &port, at_pos(WARD_RK_LISTENING, i, 2, "port")) ||
        !seq_end(c, &s, s.n - 3))
        return false;
    l->proto = (uint8_t)proto;
    l->port = (uint16_t)port;
    return true;
}

static bool dec_detection(dctx_t *c, long i, ward_wire_detection_t *d)
{
    static const char *const names[] = {"kind",        "direction",  "protocol", "remote_addr",
                                        "remote_port", "local_port", "rule",     "action",
                                        "count",       "time"};
    static const uint64_t max[] = {UINT32_MAX, 255,       255,       0,         65535,
                                   65535,      INT64_MAX, INT64_MAX, INT64_MAX, UINT32_MAX};
    uint64_t v[10] = {0};
    seq_t s;
    if (!get_array(c, 10, &s, at_pos(WARD_RK_DETECTIONS, i, -1, NULL)))
        return false;
    for (int p = 0; p < 10; p++) {
        where_t w = at_pos(WARD_RK_DETECTIONS, i, p, names[p]);
        if (p == WARD_DP_REMOTE_ADDR ? !get_addr(c, &d->remote_addr, w)
                                     : !get_uint(c, max[p], &v[p], w))
            return false;
    }
    if (!seq_end(c, &s, s.n - 10))
        return false;
    d->kind = (uint32_t)v[WARD_DP_KIND];
    d->direction = (uint8_t)v[WARD_DP_DIRECTION];
    d->proto = (uint8_t)v[WARD_DP_PROTO];
    d->remote_port = (uint16_t)v[WARD_DP_REMOTE_PORT];
    d->local_port = (uint16_t)v[WARD_DP_LOCAL_PORT];
    d->rule = v[WARD_DP_RULE];
    d->action = v[WARD_DP_ACTION];
    d->count = v[WARD_DP_COUNT];
    d->time = v[WARD_DP_TIME];
    return true;
}

static bool dec_sysinfo(dctx_t *c, ward_wire_sysinfo_t *s)
{
    static const char *const names[] = {"os",  "firmware",    "hardware",     "ip_stack",
                                        "tls", "time_synced", "flow_capacity"};
    seq_t m;
    if (!get_map(c, &m, at_key(WARD_RK_SYSINFO)))
        return false;
    s->present = true;
    unsigned seen = 0;
    for (size_t i = 0; i < m.n; i++) {
        uint64_t key;
        int known = map_key(c, WARD_SK_FLOW_CAPACITY, &key);
        if (known < 0)
            return false;
        if (known == 0)
            continue; /* unknown key: ignored */
        unsigned k = (unsigned)key;
        where_t w = at_pos(WARD_RK_SYSINFO, -1, k, names[k]);
        if (seen & (1u << k))
            return fail(c, WARD_E_MALFORMED, "key 20 (sysinfo): key %u (%s) appears twice", k,
                        names[k]);
        seen |= 1u << k;
        bool ok = true;
        switch (k) {
        case WARD_SK_OS:
            ok = s->has_os = get_text(c, 0, WARD_WIRE_TEXT_MAX, s->os, w);
            break;
        case WARD_SK_FIRMWARE:
            ok = s->has_firmware = get_text(c, 0, WARD_WIRE_TEXT_MAX, s->firmware, w);
            break;
        case WARD_SK_HARDWARE:
            ok = s->has_hardware = get_text(c, 0, WARD_WIRE_TEXT_MAX, s->hardware, w);
            break;
        case WARD_SK_IP_STACK:
            ok = s->has_ip_stack = get_text(c, 0, WARD_WIRE_TEXT_MAX, s->ip_stack, w);
            break;
        case WARD_SK_TLS:
            ok = s->has_tls = get_bool(c, &s->tls, w);
            break;
        case WARD_SK_TIME_SYNCED:
            ok = s->has_time_synced = get_bool(c, &s->time_synced, w);
            break;
        default:
            ok = s->has_flow_capacity = get_uint(c, INT64_MAX, &s->flow_capacity, w);
            break;
        }
        if (!ok)
            return false;
    }
    return seq_end(c, &m, 0);
}

/* A map uint -> uint (counters, malformed); unknown keys are kept (a later minor may add some). */
static bool dec_kv_map(dctx_t *c, int key, ward_wire_kv_t **out, size_t *nout)
{
    seq_t m;
    if (!get_map(c, &m, at_key(key)))
        return false;
    if (m.n == 0)
        return seq_end(c, &m, 0);
    *out = dec_calloc(c, m.n, sizeof **out);
    if (*out == NULL)
        return fail(c, WARD_E_BUFFER, "out of memory");
    for (size_t i = 0; i < m.n; i++) {
        where_t w = at_pos(key, -1, (long)i, NULL);
        if (!get_uint(c, INT64_MAX, &(*out)[i].key, w) ||
            !get_uint(c, INT64_MAX, &(*out)[i].value, w))
            return false;
        for (size_t j = 0; j < i; j++)
            if ((*out)[j].key == (*out)[i].key)
                return fail(c, WARD_E_MALFORMED, "key %d (%s): key %" PRIu64 " appears twice", key,
                            key_names[key], (*out)[i].key);
        *nout = i + 1;
    }
    return seq_end(c, &m, 0);
}

static bool dec_metrics(dctx_t *c, ward_wire_report_t *r)
{
    seq_t m;
    if (!get_map(c, &m, at_key(WARD_RK_METRICS)))
        return false;
    if (m.n == 0)
        return seq_end(c, &m, 0);
    r->metrics = dec_calloc(c, m.n, sizeof *r->metrics);
    if (r->metrics == NULL)
        return fail(c, WARD_E_BUFFER, "out of memory");
    for (size_t i = 0; i < m.n; i++) {
        where_t w = at_pos(WARD_RK_METRICS, -1, (long)i, NULL);
        if (!get_text(c, 1, WARD_WIRE_METRIC_NAME_MAX, r->metrics[i].name, w) ||
            !get_int(c, &r->metrics[i].value, w))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->metrics[j].name, r->metrics[i].name) == 0)
                return fail(c, WARD_E_MALFORMED, "key 22 (metrics): \"%s\" appears twice",
                            r->metrics[i].name);
        r->n_metrics = i + 1;
    }
    return seq_end(c, &m, 0);
}

/* Decode an array key whose items are structures: allocate and fill *out with *n items. */
#define DEC_LIST(c, key, type, out, nout, fn)                                                      \
    do {                                                                                           \
        seq_t s_;                                                                                  \
        if (!get_array((c), 0, &s_, at_key(key)))                                                  \
            return false;                                                                          \
        if (s_.n > 0) {                                                                            \
            (out) = dec_calloc((c), s_.n, sizeof(type));                                           \
            if ((out) == NULL)                                                                     \
                return fail((c), WARD_E_BUFFER, "out of memory");                                  \
        }                                                                                          \
        for (size_t i_ = 0; i_ < s_.n; i_++) {                                                     \
            if (!fn((c), (long)i_, &(out)[i_]))                                                    \
                return false;                                                                      \
            (nout) = i_ + 1;                                                                       \
        }                                                                                          \
        if (!seq_end((c), &s_, 0))                                                                 \
            return false;                                                                          \
    } while (0)

static bool dec_local_addr(dctx_t *c, long i, ward_addr_t *a)
{
    return get_addr(c, a, at_pos(WARD_RK_LOCAL_ADDRS, i, -1, NULL));
}

static bool dec_key(dctx_t *c, unsigned key, ward_wire_report_t *r)
{
    uint64_t u;
    seq_t s;
    where_t w = at_key((int)key);
    switch (key) {
    case WARD_RK_VERSION:
        if (!get_array(c, 2, &s, w) ||
            !get_uint(c, UINT32_MAX, &r->major, at_pos(0, -1, 0, "major")) ||
            !get_uint(c, UINT32_MAX, &r->minor, at_pos(0, -1, 1, "minor")) ||
            !seq_end(c, &s, s.n - 2))
            return false;
        if (r->major != WARD_PROTO_MAJOR)
            return fail(c, WARD_E_UNSUPPORTED,
                        "key 0 (version): major version %" PRIu64
                        " is not supported (this service reads %d)",
                        r->major, WARD_PROTO_MAJOR);
        return true;
    case WARD_RK_DEVICE_ID:
        if (!get_text(c, 1, WARD_DEVICE_ID_MAX, r->device_id, w))
            return false;
        if (!ward_wire_device_id_valid(r->device_id, strlen(r->device_id)))
            return fail(c, WARD_E_RANGE,
                        "key 1 (device_id): \"%s\" has characters outside "
                        "[A-Za-z0-9._-]",
                        r->device_id);
        return true;
    case WARD_RK_AGENT_VERSION:
        return get_text(c, 1, WARD_WIRE_TEXT_MAX, r->agent_version, w);
    case WARD_RK_BOOT_ID:
        if (!get_uint(c, UINT32_MAX, &u, w))
            return false;
        r->boot_id = (uint32_t)u;
        return true;
    case WARD_RK_SEQ:
        return get_uint(c, INT64_MAX, &r->seq, w);
    case WARD_RK_PERIOD_START:
        return get_uint(c, WARD_WIRE_TIME_MAX, &r->period_start, w);
    case WARD_RK_PERIOD_END:
        return get_uint(c, WARD_WIRE_TIME_MAX, &r->period_end, w);
    case WARD_RK_PART: {
        uint64_t idx, cnt;
        if (!get_array(c, 2, &s, w) || !get_uint(c, UINT32_MAX, &idx, at_pos(7, -1, 0, "index")) ||
            !get_uint(c, UINT32_MAX, &cnt, at_pos(7, -1, 1, "count")) || !seq_end(c, &s, s.n - 2))
            return false;
        if (cnt == 0 || idx >= cnt)
            return fail(c, WARD_E_RANGE,
                        "key 7 (part): index %" PRIu64 " of count %" PRIu64
                        " (need index < count, count >= 1)",
                        idx, cnt);
        r->part_index = (uint32_t)idx;
        r->part_count = (uint32_t)cnt;
        return true;
    }
    case WARD_RK_TIME_BASE:
        if (!get_uint(c, UINT64_MAX, &u, w))
            return false;
        if (u > WARD_TIME_BOOT)
            return fail(c, WARD_E_UNSUPPORTED, "key 8 (time_base): unknown time base %" PRIu64, u);
        r->time_base = (uint8_t)u;
        return true;
    case WARD_RK_INTERVAL:
        if (!get_uint(c, UINT64_MAX, &u, w))
            return false;
        /* The documented range is 10..86400 s; shorter intervals are accepted too, because test
         * and demo agents report every few seconds and the value is informational. */
        if (u < 1 || u > 86400)
            return fail(c, WARD_E_RANGE, "key 9 (interval): %" PRIu64 " s outside 1..86400", u);
        r->interval = (uint32_t)u;
        r->has_interval = true;
        return true;
    case WARD_RK_CONFIG_REV:
        return (r->has_config_rev = get_uint(c, INT64_MAX, &r->config_rev, w));
    case WARD_RK_PRIORITY:
        return (r->has_priority = get_bool(c, &r->priority, w));
    case WARD_RK_FLOWS:
        DEC_LIST(c, WARD_RK_FLOWS, ward_wire_flow_t, r->flows, r->n_flows, dec_flow);
        return true;
    case WARD_RK_OVERFLOW:
        DEC_LIST(c, WARD_RK_OVERFLOW, ward_wire_overflow_t, r->overflow, r->n_overflow,
                 dec_overflow);
        return true;
    case WARD_RK_LOCAL_ADDRS:
        DEC_LIST(c, WARD_RK_LOCAL_ADDRS, ward_addr_t, r->local_addrs, r->n_local_addrs,
                 dec_local_addr);
        return true;
    case WARD_RK_LISTENING:
        r->has_listening = true;
        DEC_LIST(c, WARD_RK_LISTENING, ward_wire_listen_t, r->listening, r->n_listening,
                 dec_listen);
        return true;
    case WARD_RK_SYSINFO:
        return dec_sysinfo(c, &r->sysinfo);
    case WARD_RK_COUNTERS:
        return dec_kv_map(c, WARD_RK_COUNTERS, &r->counters, &r->n_counters);
    case WARD_RK_METRICS:
        return dec_metrics(c, r);
    case WARD_RK_MALFORMED:
        return dec_kv_map(c, WARD_RK_MALFORMED, &r->malformed, &r->n_malformed);
    case WARD_RK_DETECTIONS:
        DEC_LIST(c, WARD_RK_DETECTIONS, ward_wire_detection_t, r->detections, r->n_detections,
                 dec_detection);
        return true;
    case WARD_RK_CONFIG_STATUS:
        if (!get_array(c, 3, &s, w) ||
            !get_uint(c, INT64_MAX, &r->config_status_rev, at_pos(25, -1, 0, "revision")) ||
            !get_uint(c, INT64_MAX, &r->config_status_code, at_pos(25, -1, 1, "status")) ||
            !get_text(c, 0, WARD_WIRE_TEXT_MAX, r->config_status_reason,
                      at_pos(25, -1, 2, "reason")) ||
            !seq_end(c, &s, s.n - 3))
            return false;
        r->has_config_status = true;
        return true;
    default:
        return skip(c); /* reserved or unknown: ignored (proto.h compatibility rules) */
    }
}

static bool validate(dctx_t *c, ward_wire_report_t *r)
{
    static const unsigned required[] = {WARD_RK_VERSION,   WARD_RK_DEVICE_ID, WARD_RK_AGENT_VERSION,
                                        WARD_RK_BOOT_ID,   WARD_RK_SEQ,       WARD_RK_PERIOD_START,
                                        WARD_RK_PERIOD_END};
    ward_cbor_head_t h;
    seq_t m;
    if (!next_head(c, &h))
        return false;
    if (h.major != WARD_CBOR_MAP)
        return fail(c, WARD_E_MALFORMED, "a report is a CBOR map");
    if (!seq_size(c, &h, &m))
        return false;
    uint32_t seen = 0;
    r->part_count = 1;
    for (size_t i = 0; i < m.n; i++) {
        uint64_t key;
        int known = map_key(c, KEY_LAST, &key);
        if (known < 0)
            return false;
        if (known == 0)
            continue;
        unsigned k = (unsigned)key;
        if (key_names[k] == NULL) { /* reserved (12..15) */
            if (!skip(c))
                return false;
            continue;
        }
        if (seen & (1u << k))
            return fail(c, WARD_E_MALFORMED, "key %u (%s) appears twice", k, key_names[k]);
        seen |= 1u << k;
        if (!dec_key(c, k, r))
            return false;
    }
    if (!seq_end(c, &m, 0))
        return false;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!(seen & (1u << required[i])))
            return fail(c, WARD_E_MALFORMED, "required key %u (%s) is missing", required[i],
                        key_names[required[i]]);
    if (r->period_end < r->period_start)
        return fail(c, WARD_E_RANGE,
                    "key 6 (period_end): %" PRIu64 " is before period_start %" PRIu64,
                    r->period_end, r->period_start);
    /* Offsets past the period's end (with 2 s of rounding slack) cannot come from a real agent. */
    uint64_t span_s = (r->period_end - r->period_start + 999) / 1000 + 2;
    for (size_t i = 0; i < r->n_flows; i++) {
        if (r->flows[i].local_index >= r->n_local_addrs)
            return fail(c, WARD_E_RANGE,
                        "key 16 (flows) item %zu: local_addr index %" PRIu32
                        " but key 18 (local_addrs) has %zu addresses",
                        i, r->flows[i].local_index, r->n_local_addrs);
        if (r->flows[i].last > span_s)
            return fail(c, WARD_E_RANGE,
                        "key 16 (flows) item %zu: last (%" PRIu32
                        " s) is past the period's end (%" PRIu64 " ms long)",
                        i, r->flows[i].last, r->period_end - r->period_start);
    }
    return true;
}

/* ---- Public API ---------------------------------------------------------------------------- */

bool ward_wire_device_id_valid(const char *id, size_t len)
{
    if (id == NULL || len == 0 || len > WARD_DEVICE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = id[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

bool ward_wire_topic_device(const char *topic, char *id)
{
    static const char prefix[] = WARD_TOPIC_PREFIX;
    static const char suffix[] = "/" WARD_TOPIC_REPORT;
    size_t plen = sizeof prefix - 1, slen = sizeof suffix - 1;
    size_t len = strlen(topic);
    if (len <= plen + slen || strncmp(topic, prefix, plen) != 0 ||
        strcmp(topic + len - slen, suffix) != 0)
        return false;
    size_t idlen = len - plen - slen;
    if (!ward_wire_device_id_valid(topic + plen, idlen))
        return false;
    memcpy(id, topic + plen, idlen);
    id[idlen] = '\0';
    return true;
}

ward_status_t ward_wire_decode(const uint8_t *buf, size_t len, ward_wire_report_t *out,
                               char *reason, size_t reason_len)
{
    return ward_wire_decode_in(buf, len, out, reason, reason_len, NULL);
}

ward_status_t ward_wire_decode_in(const uint8_t *buf, size_t len, ward_wire_report_t *out,
                                  char *reason, size_t reason_len, ward_arena_t *arena)
{
    dctx_t c = {WARD_OK, reason, reason_len, {buf, len, 0}, arena};
    memset(out, 0, sizeof *out);
    out->in_arena = arena != NULL;
    if (reason != NULL && reason_len > 0)
        reason[0] = '\0';
    if (buf == NULL && len > 0) {
        fail(&c, WARD_E_ARG, "no input");
        return c.st;
    }
    if (!scan(&c, buf, len))
        return c.st;
    if (!validate(&c, out)) {
        if (c.st == WARD_OK) /* every refusal names its reason; this is a safety net */
            fail(&c, WARD_E_MALFORMED, "invalid report");
        ward_wire_report_free(out);
        return c.st;
    }
    return WARD_OK;
}

void ward_wire_report_free(ward_wire_report_t *r)
{
    if (r == NULL)
        return;
    if (r->in_arena) { /* the arena's owner frees them */
        memset(r, 0, sizeof *r);
        return;
    }
    free(r->local_addrs);
    free(r->flows);
    free(r->overflow);
    free(r->listening);
    free(r->detections);
    free(r->counters);
    free(r->metrics);
    free(r->malformed);
    memset(r, 0, sizeof *r);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

bool ward_wire_proto_is_icmp(unsigned proto)
{
    return proto == WARD_IPPROTO_ICMP || proto == WARD_IPPROTO_ICMPV6;
}

const char *ward_wire_proto_name(unsigned proto, char *buf, size_t len)
{
    switch (proto) {
    case WARD_IPPROTO_TCP:
        return "tcp";
    case WARD_IPPROTO_UDP:
        return "udp";
    case WARD_IPPROTO_ICMP:
        return "icmp";
    case WARD_IPPROTO_ICMPV6:
        return "icmpv6";
    default:
        snprintf(buf, len, "%u", proto);
        return buf;
    }
}

const char *ward_wire_direction_name(unsigned dir)
{
    switch (dir) {
    case WARD_DIR_OUTBOUND:
        return "outbound";
    case WARD_DIR_INBOUND:
        return "inbound";
    default:
        return "unknown";
    }
}

static json_t *jaddr(const ward_addr_t *a)
{
    char buf[WARD_ADDR_STRLEN];
    ward_addr_format(a, buf, sizeof buf);
    return json_string(buf);
}

static json_t *jproto(unsigned proto)
{
    char buf[8];
    return json_string(ward_wire_proto_name(proto, buf, sizeof buf));
}

/* json_integer for every value the decoder let through (all are <= INT64_MAX). */
static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *flow_json(const ward_wire_report_t *r, const ward_wire_flow_t *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "protocol", jproto(f->proto));
    json_object_set_new(o, "initiator", json_string(ward_wire_direction_name(f->initiator)));
    json_object_set_new(o, "continued", json_boolean(f->continued));
    if (f->local_index < r->n_local_addrs)
        json_object_set_new(o, "local_addr", jaddr(&r->local_addrs[f->local_index]));
    json_object_set_new(o, "local_port", jint(f->local_port));
    json_object_set_new(o, "remote_addr", jaddr(&f->remote_addr));
    if (ward_wire_proto_is_icmp(f->proto)) {
        json_object_set_new(o, "remote_port", jint(0));
        json_object_set_new(o, "icmp_type", jint(f->remote_port >> 8));
        json_object_set_new(o, "icmp_code", jint(f->remote_port & 0xff));
    } else {
        json_object_set_new(o, "remote_port", jint(f->remote_port));
    }
    json_object_set_new(o, "packets_out", jint(f->packets_out));
    json_object_set_new(o, "packets_in", jint(f->packets_in));
    json_object_set_new(o, "bytes_out", jint(f->bytes_out));
    json_object_set_new(o, "bytes_in", jint(f->bytes_in));
    json_object_set_new(o, "first_offset_s", jint(f->first));
    json_object_set_new(o, "last_offset_s", jint(f->last));
    if (f->has_tcp_flags) {
        json_object_set_new(o, "tcp_flags_out", jint(f->tcp_flags & 0xff));
        json_object_set_new(o, "tcp_flags_in", jint(f->tcp_flags >> 8));
    }
    return o;
}

static json_t *kv_json(const ward_wire_kv_t *kv, size_t n, const char *const *names, size_t n_names)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        char key[24];
        const char *name = kv[i].key < n_names ? names[kv[i].key] : NULL;
        if (name == NULL) {
            snprintf(key, sizeof key, "%" PRIu64, kv[i].key);
            name = key;
        }
        json_object_set_new(o, name, jint(kv[i].value));
    }
    return o;
}

json_t *ward_wire_report_json(const ward_wire_report_t *r)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "version",
                        json_pack("[II]", (json_int_t)r->major, (json_int_t)r->minor));
    json_object_set_new(o, "device_id", json_string(r->device_id));
    json_object_set_new(o, "agent_version", json_string(r->agent_version));
    json_object_set_new(o, "boot_id", jint(r->boot_id));
    json_object_set_new(o, "seq", jint(r->seq));
    json_object_set_new(o, "period_start", jint(r->period_start));
    json_object_set_new(o, "period_end", jint(r->period_end));
    json_object_set_new(o, "part",
                        json_pack("[II]", (json_int_t)r->part_index, (json_int_t)r->part_count));
    json_object_set_new(o, "time_base",
                        json_string(r->time_base == WARD_TIME_BOOT ? "boot" : "unix"));
    if (r->has_interval)
        json_object_set_new(o, "interval", jint(r->interval));
    if (r->has_config_rev)
        json_object_set_new(o, "config_rev", jint(r->config_rev));
    if (r->has_priority)
        json_object_set_new(o, "priority", json_boolean(r->priority));

    json_t *a = json_array();
    for (size_t i = 0; i < r->n_local_addrs; i++)
        json_array_append_new(a, jaddr(&r->local_addrs[i]));
    json_object_set_new(o, "local_addrs", a);

    a = json_array();
    for (size_t i = 0; i < r->n_flows; i++)
        json_array_append_new(a, flow_json(r, &r->flows[i]));
    json_object_set_new(o, "flows", a);

    if (r->n_overflow > 0) {
        a = json_array();
        for (size_t i = 0; i < r->n_overflow; i++) {
            const ward_wire_overflow_t *v = &r->overflow[i];
            json_array_append_new(
                a, json_pack("{s:o,s:s,s:I,s:I,s:I}", "protocol", jproto(v->proto), "direction",
                             ward_wire_direction_name(v->direction), "flows", (json_int_t)v->flows,
                             "packets", (json_int_t)v->packets, "bytes", (json_int_t)v->bytes));
        }
        json_object_set_new(o, "overflow", a);
    }
    if (r->n_listening > 0) {
        a = json_array();
        for (size_t i = 0; i < r->n_listening; i++) {
            const ward_wire_listen_t *l = &r->listening[i];
            json_array_append_new(a, json_pack("{s:o,s:o,s:I}", "protocol", jproto(l->proto),
                                               "local_addr", jaddr(&l->addr), "port",
                                               (json_int_t)l->port));
        }
        json_object_set_new(o, "listening", a);
    }
    if (r->sysinfo.present) {
        const ward_wire_sysinfo_t *s = &r->sysinfo;
        json_t *so = json_object();
        if (s->has_os)
            json_object_set_new(so, "os", json_string(s->os));
        if (s->has_firmware)
            json_object_set_new(so, "firmware", json_string(s->firmware));
        if (s->has_hardware)
            json_object_set_new(so, "hardware", json_string(s->hardware));
        if (s->has_ip_stack)
            json_object_set_new(so, "ip_stack", json_string(s->ip_stack));
        if (s->has_tls)
            json_object_set_new(so, "tls", json_boolean(s->tls));
        if (s->has_time_synced)
            json_object_set_new(so, "time_synced", json_boolean(s->time_synced));
        if (s->has_flow_capacity)
            json_object_set_new(so, "flow_capacity", jint(s->flow_capacity));
        json_object_set_new(o, "sysinfo", so);
    }
    if (r->n_counters > 0)
        json_object_set_new(o, "counters",
                            kv_json(r->counters, r->n_counters, counter_names,
                                    sizeof counter_names / sizeof counter_names[0]));
    if (r->n_metrics > 0) {
        json_t *mo = json_object();
        for (size_t i = 0; i < r->n_metrics; i++)
            json_object_set_new(mo, r->metrics[i].name, json_integer(r->metrics[i].value));
        json_object_set_new(o, "metrics", mo);
    }
    if (r->n_malformed > 0)
        json_object_set_new(o, "malformed",
                            kv_json(r->malformed, r->n_malformed, malformed_names, WARD_MF_COUNT_));
    if (r->n_detections > 0) {
        a = json_array();
        for (size_t i = 0; i < r->n_detections; i++) {
            const ward_wire_detection_t *d = &r->detections[i];
            json_t *dj = json_object();
            json_object_set_new(dj, "kind",
                                d->kind == WARD_DK_DENY_LIST ? json_string("deny_list")
                                                             : jint(d->kind));
            json_object_set_new(dj, "direction",
                                json_string(ward_wire_direction_name(d->direction)));
            json_object_set_new(dj, "protocol", jproto(d->proto));
            json_object_set_new(dj, "remote_addr", jaddr(&d->remote_addr));
            json_object_set_new(dj, "remote_port", jint(d->remote_port));
            json_object_set_new(dj, "local_port", jint(d->local_port));
            json_object_set_new(dj, "rule", jint(d->rule));
            json_object_set_new(dj, "action",
                                d->action == WARD_DENY_ALERT  ? json_string("alert")
                                : d->action == WARD_DENY_DROP ? json_string("drop")
                                                              : jint(d->action));
            json_object_set_new(dj, "count", jint(d->count));
            json_object_set_new(dj, "time_offset_s", jint(d->time));
            json_array_append_new(a, dj);
        }
        json_object_set_new(o, "detections", a);
    }
    if (r->has_config_status)
        json_object_set_new(o, "config_status",
                            json_pack("{s:I,s:I,s:s}", "revision", (json_int_t)r->config_status_rev,
                                      "status", (json_int_t)r->config_status_code, "reason",
                                      r->config_status_reason));
    return o;
}

/* libcbor's cbor_is_bool asserts on floats: check the width first. */
static bool is_bool(const cbor_item_t *it)
{
    return cbor_isa_float_ctrl(it) && cbor_float_ctrl_is_ctrl(it) && cbor_is_bool(it);
}

/* Copy a definite or indefinite string's bytes into buf (cap bytes); false when longer. */
static bool copy_string_bytes(const cbor_item_t *it, bool text, uint8_t *buf, size_t cap,
                              size_t *len)
{
    *len = 0;
    bool definite = text ? cbor_string_is_definite(it) : cbor_bytestring_is_definite(it);
    if (definite) {
        size_t n = text ? cbor_string_length(it) : cbor_bytestring_length(it);
        if (n > cap)
            return false;
        if (n > 0)
            memcpy(buf, text ? cbor_string_handle(it) : cbor_bytestring_handle(it), n);
        *len = n;
        return true;
    }
    size_t chunks = text ? cbor_string_chunk_count(it) : cbor_bytestring_chunk_count(it);
    cbor_item_t **h = text ? cbor_string_chunks_handle(it) : cbor_bytestring_chunks_handle(it);
    for (size_t i = 0; i < chunks; i++) {
        size_t n = text ? cbor_string_length(h[i]) : cbor_bytestring_length(h[i]);
        if (n > cap - *len)
            return false;
        if (n > 0)
            memcpy(buf + *len, text ? cbor_string_handle(h[i]) : cbor_bytestring_handle(h[i]), n);
        *len += n;
    }
    return true;
}

/* Any CBOR item as JSON, for keys this version does not know. Depth is bounded by the check. */
static json_t *generic_json(const cbor_item_t *it)
{
    char buf[32];
    switch (cbor_typeof(it)) {
    case CBOR_TYPE_UINT: {
        uint64_t v = cbor_get_int(it);
        if (v <= INT64_MAX)
            return json_integer((json_int_t)v);
        snprintf(buf, sizeof buf, "%" PRIu64, v);
        return json_string(buf);
    }
    case CBOR_TYPE_NEGINT: {
        uint64_t v = cbor_get_int(it);
        if (v <= INT64_MAX)
            return json_integer(-1 - (json_int_t)v);
        if (v == UINT64_MAX)
            return json_string("-18446744073709551616");
        snprintf(buf, sizeof buf, "-%" PRIu64, v + 1);
        return json_string(buf);
    }
    case CBOR_TYPE_BYTESTRING:
    case CBOR_TYPE_STRING: {
        bool text = cbor_typeof(it) == CBOR_TYPE_STRING;
        size_t total = 0;
        if (text ? cbor_string_is_definite(it) : cbor_bytestring_is_definite(it)) {
            total = text ? cbor_string_length(it) : cbor_bytestring_length(it);
        } else {
            size_t chunks = text ? cbor_string_chunk_count(it) : cbor_bytestring_chunk_count(it);
            cbor_item_t **h =
                text ? cbor_string_chunks_handle(it) : cbor_bytestring_chunks_handle(it);
            for (size_t i = 0; i < chunks; i++)
                total += text ? cbor_string_length(h[i]) : cbor_bytestring_length(h[i]);
        }
        uint8_t *b = malloc(total + 1);
        char *hex = NULL;
        json_t *j = NULL;
        size_t n;
        if (b == NULL || !copy_string_bytes(it, text, b, total, &n))
            goto out;
        if (text && text_ok(b, n)) {
            j = json_stringn((const char *)b, n);
            goto out;
        }
        /* Bytes (or text that is not clean UTF-8) as CBOR diagnostic notation: h'00ff'. */
        hex = malloc(n * 2 + 3);
        if (hex == NULL)
            goto out;
        hex[0] = 'h';
        hex[1] = '\'';
        for (size_t i = 0; i < n; i++) {
            static const char digits[] = "0123456789abcdef";
            hex[2 + 2 * i] = digits[b[i] >> 4];
            hex[3 + 2 * i] = digits[b[i] & 15];
        }
        hex[2 + 2 * n] = '\'';
        j = json_stringn(hex, 3 + 2 * n);
    out:
        free(b);
        free(hex);
        return j;
    }
    case CBOR_TYPE_ARRAY: {
        json_t *a = json_array();
        size_t n = cbor_array_size(it);
        cbor_item_t **h = cbor_array_handle(it);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, generic_json(h[i]));
        return a;
    }
    case CBOR_TYPE_MAP: {
        json_t *o = json_object();
        size_t n = cbor_map_size(it);
        struct cbor_pair *m = cbor_map_handle(it);
        for (size_t i = 0; i < n; i++) {
            json_t *k = generic_json(m[i].key);
            const char *ks = json_is_string(k) ? json_string_value(k) : NULL;
            char kb[32];
            if (ks == NULL) {
                if (json_is_integer(k))
                    snprintf(kb, sizeof kb, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
                else
                    snprintf(kb, sizeof kb, "key%zu", i);
                ks = kb;
            }
            json_object_set_new(o, ks, generic_json(m[i].value));
            json_decref(k);
        }
        return o;
    }
    case CBOR_TYPE_TAG: {
        json_t *o = json_object();
        json_object_set_new(o, "tag", json_integer((json_int_t)(cbor_tag_value(it) & INT64_MAX)));
        cbor_item_t *inner = cbor_tag_item(it); /* a new reference */
        json_object_set_new(o, "value", generic_json(inner));
        cbor_decref(&inner);
        return o;
    }
    case CBOR_TYPE_FLOAT_CTRL:
        if (is_bool(it))
            return json_boolean(cbor_get_bool(it));
        if (cbor_float_ctrl_is_ctrl(it))
            return json_null();                     /* null, undefined, other simple values */
        return json_real(cbor_float_get_float(it)); /* NULL for NaN/inf: the key is dropped */
    }
    return NULL;
}

ward_status_t ward_wire_decode_json(const uint8_t *buf, size_t len, json_t **out, char *reason,
                                    size_t reason_len)
{
    ward_wire_report_t r;
    *out = NULL;
    ward_status_t st = ward_wire_decode(buf, len, &r, reason, reason_len);
    if (st != WARD_OK)
        return st;
    /* The keys this version does not know are rendered from libcbor's tree (wardctl decode, off
     * the hot path). The check accepted the bytes already: the load fails only without memory. */
    struct cbor_load_result res;
    cbor_item_t *root = cbor_load(buf, len, &res);
    if (root == NULL) {
        ward_wire_report_free(&r);
        if (res.error.code == CBOR_ERR_MEMERROR) {
            st = WARD_E_BUFFER;
            if (reason != NULL && reason_len > 0)
                snprintf(reason, reason_len, "out of memory");
        } else {
            st = WARD_E_MALFORMED;
            if (reason != NULL && reason_len > 0)
                snprintf(reason, reason_len, "not well-formed CBOR at byte %zu",
                         res.error.position);
        }
        return st;
    }
    json_t *o = ward_wire_report_json(&r);
    json_t *unknown = json_object();
    size_t n = cbor_map_size(root);
    struct cbor_pair *m = cbor_map_handle(root);
    for (size_t i = 0; i < n; i++) {
        bool known = cbor_isa_uint(m[i].key) && cbor_get_int(m[i].key) <= KEY_LAST &&
                     key_names[cbor_get_int(m[i].key)] != NULL;
        if (known)
            continue;
        char kb[32];
        json_t *k = generic_json(m[i].key);
        if (json_is_string(k))
            snprintf(kb, sizeof kb, "%s", json_string_value(k));
        else if (json_is_integer(k))
            snprintf(kb, sizeof kb, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
        else
            snprintf(kb, sizeof kb, "key%zu", i);
        json_decref(k);
        json_object_set_new(unknown, kb, generic_json(m[i].value));
    }
    if (json_object_size(unknown) > 0)
        json_object_set_new(o, "unknown", unknown);
    else
        json_decref(unknown);
    cbor_decref(&root);
    ward_wire_report_free(&r);
    if (o == NULL) {
        if (reason != NULL && reason_len > 0)
            snprintf(reason, reason_len, "out of memory");
        return WARD_E_BUFFER;
    }
    *out = o;
    return WARD_OK;
}
