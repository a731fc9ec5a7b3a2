/*
 * wire_ref: ward_wire_decode as it was before service/wire.c read CBOR itself: libcbor's streaming
 * scan, cbor_load's item tree, and the validation walk over that tree, copied unchanged (only the
 * JSON rendering is left out, and the entry point is renamed). Test-only: the differential test
 * (wire_diff.c) and fuzz target (tests/fuzz/fuzz_report_diff.c) check that the decoder in
 * service/wire.c accepts and refuses exactly what this one did, with the same status, reason and
 * decoded report.
 */
#include "wire_ref.h"

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
} dctx_t;

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

/* ---- Step 1: scan -------------------------------------------------------------------------- */

typedef struct scan {
    size_t rem[WARD_WIRE_DEPTH_MAX]; /* entries left in each open definite container */
    bool indef[WARD_WIRE_DEPTH_MAX];
    int depth;
    bool done; /* the top-level item is complete */
    enum { SCAN_OK, SCAN_DEEP, SCAN_SIZE, SCAN_EXTRA } error;
    size_t avail; /* bytes left from the start of the current item */
} scan_t;

static void scan_complete(scan_t *s)
{
    while (s->depth > 0 && !s->indef[s->depth - 1] && s->rem[s->depth - 1] == 0)
        s->depth--;
    if (s->depth == 0)
        s->done = true;
}

static void scan_item(scan_t *s, bool container, bool indef, uint64_t entries)
{
    if (s->error)
        return;
    if (s->done) { /* a second top-level item */
        s->error = SCAN_EXTRA;
        return;
    }
    if (s->depth > 0 && !s->indef[s->depth - 1])
        s->rem[s->depth - 1]--;
    if (container && (indef || entries > 0)) {
        if (s->depth >= WARD_WIRE_DEPTH_MAX) {
            s->error = SCAN_DEEP;
            return;
        }
        if (!indef && entries > s->avail) {
            s->error = SCAN_SIZE;
            return;
        }
        s->indef[s->depth] = indef;
        s->rem[s->depth] = indef ? 0 : (size_t)entries;
        s->depth++;
        return;
    }
    scan_complete(s);
}

static void sc_leaf(void *ctx)
{
    scan_item(ctx, false, false, 0);
}
static void sc_u8(void *ctx, uint8_t v)
{
    (void)v;
    sc_leaf(ctx);
}
static void sc_u16(void *ctx, uint16_t v)
{
    (void)v;
    sc_leaf(ctx);
}
static void sc_u32(void *ctx, uint32_t v)
{
    (void)v;
    sc_leaf(ctx);
}
static void sc_u64(void *ctx, uint64_t v)
{
    (void)v;
    sc_leaf(ctx);
}
static void sc_str(void *ctx, cbor_data d, size_t n)
{
    (void)d;
    (void)n;
    sc_leaf(ctx);
}
static void sc_float(void *ctx, float v)
{
    (void)v;
    sc_leaf(ctx);
}
static void sc_double(void *ctx, double v)
{
    (void)v;
    sc_leaf(ctx);
}
static void sc_bool(void *ctx, bool v)
{
    (void)v;
    sc_leaf(ctx);
}
static void sc_indef(void *ctx)
{
    scan_item(ctx, true, true, 0);
}
static void sc_array(void *ctx, size_t n)
{
    scan_item(ctx, true, false, n);
}
static void sc_map(void *ctx, size_t n)
{
    scan_t *s = ctx;
    /* A map of n pairs holds 2n items; compare without overflowing. */
    scan_item(s, true, false, n > s->avail / 2 ? (uint64_t)s->avail + 1 : (uint64_t)n * 2);
}
static void sc_tag(void *ctx, uint64_t tag)
{
    (void)tag;
    scan_item(ctx, true, false, 1);
}
static void sc_break(void *ctx)
{
    scan_t *s = ctx;
    if (s->error)
        return;
    if (s->depth == 0 || !s->indef[s->depth - 1]) {
        s->error = SCAN_EXTRA;
        return;
    }
    s->depth--;
    scan_complete(s);
}

static const struct cbor_callbacks scan_callbacks = {
    .uint8 = sc_u8,
    .uint16 = sc_u16,
    .uint32 = sc_u32,
    .uint64 = sc_u64,
    .negint8 = sc_u8,
    .negint16 = sc_u16,
    .negint32 = sc_u32,
    .negint64 = sc_u64,
    .byte_string_start = sc_indef,
    .byte_string = sc_str,
    .string = sc_str,
    .string_start = sc_indef,
    .indef_array_start = sc_indef,
    .array_start = sc_array,
    .indef_map_start = sc_indef,
    .map_start = sc_map,
    .tag = sc_tag,
    .float2 = sc_float,
    .float4 = sc_float,
    .float8 = sc_double,
    .undefined = sc_leaf,
    .null = sc_leaf,
    .boolean = sc_bool,
    .indef_break = sc_break,
};

static bool scan(dctx_t *c, const uint8_t *buf, size_t len)
{
    scan_t s;
    memset(&s, 0, sizeof s);
    size_t pos = 0;
    if (len == 0)
        return fail(c, WARD_E_INCOMPLETE, "empty report");
    if (len > WARD_WIRE_REPORT_MAX)
        return fail(c, WARD_E_MALFORMED, "report of %zu bytes is larger than %u", len,
                    WARD_WIRE_REPORT_MAX);
    while (!s.done) {
        if (pos >= len)
            return fail(c, WARD_E_INCOMPLETE, "truncated: the input ends inside an item");
        s.avail = len - pos;
        struct cbor_decoder_result r =
            cbor_stream_decode(buf + pos, len - pos, &scan_callbacks, &s);
        if (r.status == CBOR_DECODER_NEDATA)
            return fail(c, WARD_E_INCOMPLETE, "truncated: the input ends inside an item");
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
            return fail(c, WARD_E_MALFORMED, "not well-formed CBOR at byte %zu", pos);
        if (s.error == SCAN_DEEP)
            return fail(c, WARD_E_MALFORMED, "CBOR at byte %zu nests deeper than %d", pos,
                        WARD_WIRE_DEPTH_MAX);
        if (s.error == SCAN_SIZE) /* each entry takes a byte at least: the input is too short */
            return fail(c, WARD_E_INCOMPLETE,
                        "truncated: the container at byte %zu declares more "
                        "entries than there are bytes left",
                        pos);
        if (s.error == SCAN_EXTRA)
            return fail(c, WARD_E_MALFORMED,
                        "not well-formed CBOR at byte %zu (a break outside "
                        "an indefinite item)",
                        pos);
        pos += r.read;
    }
    if (pos != len)
        return fail(c, WARD_E_MALFORMED, "%zu trailing bytes after the report", len - pos);
    return true;
}

/* ---- Step 3: typed accessors --------------------------------------------------------------- */

static bool get_uint(dctx_t *c, const cbor_item_t *it, uint64_t max, uint64_t *out, where_t w)
{
    char wb[128];
    if (!cbor_isa_uint(it))
        return fail(c, WARD_E_MALFORMED, "%s: expected uint", where_str(w, wb, sizeof wb));
    uint64_t v = cbor_get_int(it);
    if (v > max)
        return fail(c, WARD_E_RANGE, "%s: %" PRIu64 " out of range (max %" PRIu64 ")",
                    where_str(w, wb, sizeof wb), v, max);
    *out = v;
    return true;
}

static bool get_int(dctx_t *c, const cbor_item_t *it, int64_t *out, where_t w)
{
    char wb[128];
    if (cbor_isa_uint(it) || cbor_isa_negint(it)) {
        uint64_t v = cbor_get_int(it);
        if (v <= INT64_MAX) {
            *out = cbor_isa_uint(it) ? (int64_t)v : -1 - (int64_t)v;
            return true;
        }
        return fail(c, WARD_E_RANGE, "%s: integer outside int64", where_str(w, wb, sizeof wb));
    }
    return fail(c, WARD_E_MALFORMED, "%s: expected int", where_str(w, wb, sizeof wb));
}

/* libcbor's cbor_is_bool asserts on floats: check the width first. */
static bool is_bool(const cbor_item_t *it)
{
    return cbor_isa_float_ctrl(it) && cbor_float_ctrl_is_ctrl(it) && cbor_is_bool(it);
}

static bool get_bool(dctx_t *c, const cbor_item_t *it, bool *out, where_t w)
{
    char wb[128];
    if (!is_bool(it))
        return fail(c, WARD_E_MALFORMED, "%s: expected bool", where_str(w, wb, sizeof wb));
    *out = cbor_get_bool(it);
    return true;
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

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF), and no control characters: text from a
 * device ends up in terminals and JSON. */
static bool text_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            if (b < 0x20 || b == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if ((b & 0xe0) == 0xc0) {
            need = 1;
            cp = b & 0x1f;
        } else if ((b & 0xf0) == 0xe0) {
            need = 2;
            cp = b & 0x0f;
        } else if ((b & 0xf8) == 0xf0) {
            need = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
            return false;
        i += need + 1;
    }
    return true;
}

/* A tstr of min..max bytes into out (max + 1 bytes), NUL-terminated. */
static bool get_text(dctx_t *c, const cbor_item_t *it, size_t min, size_t max, char *out, where_t w)
{
    char wb[128];
    size_t n;
    if (!cbor_isa_string(it))
        return fail(c, WARD_E_MALFORMED, "%s: expected tstr", where_str(w, wb, sizeof wb));
    if (!copy_string_bytes(it, true, (uint8_t *)out, max, &n) || n < min)
        return fail(c, WARD_E_RANGE, "%s: text length outside %zu..%zu",
                    where_str(w, wb, sizeof wb), min, max);
    out[n] = '\0';
    if (!text_ok((const uint8_t *)out, n))
        return fail(c, WARD_E_MALFORMED, "%s: not UTF-8 text, or has control characters",
                    where_str(w, wb, sizeof wb));
    return true;
}

static bool get_addr(dctx_t *c, const cbor_item_t *it, ward_addr_t *out, where_t w)
{
    char wb[128];
    uint8_t b[16];
    size_t n;
    if (!cbor_isa_bytestring(it))
        return fail(c, WARD_E_MALFORMED, "%s: expected bstr", where_str(w, wb, sizeof wb));
    if (!copy_string_bytes(it, false, b, sizeof b, &n) || !ward_addr_from_bytes(out, b, n))
        return fail(c, WARD_E_RANGE, "%s: an address is 4 or 16 bytes",
                    where_str(w, wb, sizeof wb));
    return true;
}

/* An array of at least min positions: its handle in *a (NULL when empty) and size in *n. */
static bool get_array(dctx_t *c, const cbor_item_t *it, size_t min, cbor_item_t ***a, size_t *n,
                      where_t w)
{
    char wb[128];
    if (!cbor_isa_array(it))
        return fail(c, WARD_E_MALFORMED, "%s: expected array", where_str(w, wb, sizeof wb));
    *n = cbor_array_size(it);
    if (*n < min)
        return fail(c, WARD_E_MALFORMED, "%s: array of %zu positions, at least %zu required",
                    where_str(w, wb, sizeof wb), *n, min);
    *a = cbor_array_handle(it);
    return true;
}

/* A map: its pairs in *m (NULL when empty) and their number in *n. */
static bool get_map(dctx_t *c, const cbor_item_t *it, struct cbor_pair **m, size_t *n, where_t w)
{
    char wb[128];
    if (!cbor_isa_map(it))
        return fail(c, WARD_E_MALFORMED, "%s: expected map", where_str(w, wb, sizeof wb));
    *n = cbor_map_size(it);
    *m = cbor_map_handle(it);
    return true;
}

/* ---- Step 3: structures -------------------------------------------------------------------- */

static bool dec_flow(dctx_t *c, const cbor_item_t *it, long i, ward_wire_flow_t *f)
{
    size_t n;
    cbor_item_t **a;
    if (!get_array(c, it, WARD_FP_TCP_FLAGS, &a, &n, at_pos(WARD_RK_FLOWS, i, -1, NULL)))
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
    for (int p = 0; p < WARD_FP_COUNT_ && (size_t)p < n; p++) {
        where_t w = at_pos(WARD_RK_FLOWS, i, p, flow_pos_names[p]);
        if (p == WARD_FP_REMOTE_ADDR) {
            if (!get_addr(c, a[p], &f->remote_addr, w))
                return false;
        } else if (!get_uint(c, a[p], max[p], &v[p], w)) {
            return false;
        }
    }
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
    f->has_tcp_flags = n > WARD_FP_TCP_FLAGS;
    f->tcp_flags = (uint16_t)v[WARD_FP_TCP_FLAGS];
    if (f->first > f->last)
        return fail(c, WARD_E_RANGE,
                    "key 16 (flows) item %ld: first (%" PRIu32 " s) is after last (%" PRIu32 " s)",
                    i, f->first, f->last);
    return true;
}

static bool dec_overflow(dctx_t *c, const cbor_item_t *it, long i, ward_wire_overflow_t *o)
{
    static const char *const names[] = {"protocol", "direction", "flows", "packets", "bytes"};
    static const uint64_t max[] = {255, 255, INT64_MAX, INT64_MAX, INT64_MAX};
    uint64_t v[5];
    size_t n;
    cbor_item_t **a;
    if (!get_array(c, it, 5, &a, &n, at_pos(WARD_RK_OVERFLOW, i, -1, NULL)))
        return false;
    for (int p = 0; p < 5; p++)
        if (!get_uint(c, a[p], max[p], &v[p], at_pos(WARD_RK_OVERFLOW, i, p, names[p])))
            return false;
    o->proto = (uint8_t)v[0];
    o->direction = (uint8_t)v[1];
    o->flows = v[2];
    o->packets = v[3];
    o->bytes = v[4];
    return true;
}

static bool dec_listen(dctx_t *c, const cbor_item_t *it, long i, ward_wire_listen_t *l)
{
    uint64_t proto, port;
    size_t n;
    cbor_item_t **a;
    if (!get_array(c, it, 3, &a, &n, at_pos(WARD_RK_LISTENING, i, -1, NULL)) ||
        !get_uint(c, a[WARD_LP_PROTO], 255, &proto, at_pos(WARD_RK_LISTENING, i, 0, "protocol")) ||
        !get_addr(c, a[WARD_LP_LOCAL_ADDR], &l->addr,
                  at_pos(WARD_RK_LISTENING, i, 1, "local_addr")) ||
        !get_uint(c, a[WARD_LP_PORT], 65535, &port, at_pos(WARD_RK_LISTENING, i, 2, "port")))
        return false;
    l->proto = (uint8_t)proto;
    l->port = (uint16_t)port;
    return true;
}

static bool dec_detection(dctx_t *c, const cbor_item_t *it, long i, ward_wire_detection_t *d)
{
    static const char *const names[] = {"kind",        "direction",  "protocol", "remote_addr",
                                        "remote_port", "local_port", "rule",     "action",
                                        "count",       "time"};
    static const uint64_t max[] = {UINT32_MAX, 255,       255,       0,         65535,
                                   65535,      INT64_MAX, INT64_MAX, INT64_MAX, UINT32_MAX};
    uint64_t v[10] = {0};
    size_t n;
    cbor_item_t **a;
    if (!get_array(c, it, 10, &a, &n, at_pos(WARD_RK_DETECTIONS, i, -1, NULL)))
        return false;
    for (int p = 0; p < 10; p++) {
        where_t w = at_pos(WARD_RK_DETECTIONS, i, p, names[p]);
        if (p == WARD_DP_REMOTE_ADDR ? !get_addr(c, a[p], &d->remote_addr, w)
                                     : !get_uint(c, a[p], max[p], &v[p], w))
            return false;
    }
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

static bool dec_sysinfo(dctx_t *c, const cbor_item_t *it, ward_wire_sysinfo_t *s)
{
    static const char *const names[] = {"os",  "firmware",    "hardware",     "ip_stack",
                                        "tls", "time_synced", "flow_capacity"};
    size_t n;
    struct cbor_pair *m;
    if (!get_map(c, it, &m, &n, at_key(WARD_RK_SYSINFO)))
        return false;
    s->present = true;
    unsigned seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cbor_isa_uint(m[i].key) || cbor_get_int(m[i].key) > WARD_SK_FLOW_CAPACITY)
            continue; /* unknown key: ignored */
        unsigned k = (unsigned)cbor_get_int(m[i].key);
        where_t w = at_pos(WARD_RK_SYSINFO, -1, k, names[k]);
        if (seen & (1u << k))
            return fail(c, WARD_E_MALFORMED, "key 20 (sysinfo): key %u (%s) appears twice", k,
                        names[k]);
        seen |= 1u << k;
        bool ok = true;
        switch (k) {
        case WARD_SK_OS:
            ok = s->has_os = get_text(c, m[i].value, 0, WARD_WIRE_TEXT_MAX, s->os, w);
            break;
        case WARD_SK_FIRMWARE:
            ok = s->has_firmware = get_text(c, m[i].value, 0, WARD_WIRE_TEXT_MAX, s->firmware, w);
            break;
        case WARD_SK_HARDWARE:
            ok = s->has_hardware = get_text(c, m[i].value, 0, WARD_WIRE_TEXT_MAX, s->hardware, w);
            break;
        case WARD_SK_IP_STACK:
            ok = s->has_ip_stack = get_text(c, m[i].value, 0, WARD_WIRE_TEXT_MAX, s->ip_stack, w);
            break;
        case WARD_SK_TLS:
            ok = s->has_tls = get_bool(c, m[i].value, &s->tls, w);
            break;
        case WARD_SK_TIME_SYNCED:
            ok = s->has_time_synced = get_bool(c, m[i].value, &s->time_synced, w);
            break;
        default:
            ok = s->has_flow_capacity = get_uint(c, m[i].value, INT64_MAX, &s->flow_capacity, w);
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* A map uint -> uint (counters, malformed); unknown keys are kept (a later minor may add some). */
static bool dec_kv_map(dctx_t *c, const cbor_item_t *it, int key, ward_wire_kv_t **out,
                       size_t *nout)
{
    size_t n;
    struct cbor_pair *m;
    if (!get_map(c, it, &m, &n, at_key(key)))
        return false;
    if (n == 0)
        return true;
    *out = calloc(n, sizeof **out);
    if (*out == NULL)
        return fail(c, WARD_E_BUFFER, "out of memory");
    for (size_t i = 0; i < n; i++) {
        where_t w = at_pos(key, -1, (long)i, NULL);
        if (!get_uint(c, m[i].key, INT64_MAX, &(*out)[i].key, w) ||
            !get_uint(c, m[i].value, INT64_MAX, &(*out)[i].value, w))
            return false;
        for (size_t j = 0; j < i; j++)
            if ((*out)[j].key == (*out)[i].key)
                return fail(c, WARD_E_MALFORMED, "key %d (%s): key %" PRIu64 " appears twice", key,
                            key_names[key], (*out)[i].key);
        *nout = i + 1;
    }
    return true;
}

static bool dec_metrics(dctx_t *c, const cbor_item_t *it, ward_wire_report_t *r)
{
    size_t n;
    struct cbor_pair *m;
    if (!get_map(c, it, &m, &n, at_key(WARD_RK_METRICS)))
        return false;
    if (n == 0)
        return true;
    r->metrics = calloc(n, sizeof *r->metrics);
    if (r->metrics == NULL)
        return fail(c, WARD_E_BUFFER, "out of memory");
    for (size_t i = 0; i < n; i++) {
        where_t w = at_pos(WARD_RK_METRICS, -1, (long)i, NULL);
        if (!get_text(c, m[i].key, 1, WARD_WIRE_METRIC_NAME_MAX, r->metrics[i].name, w) ||
            !get_int(c, m[i].value, &r->metrics[i].value, w))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->metrics[j].name, r->metrics[i].name) == 0)
                return fail(c, WARD_E_MALFORMED, "key 22 (metrics): \"%s\" appears twice",
                            r->metrics[i].name);
        r->n_metrics = i + 1;
    }
    return true;
}

/* Decode an array key whose items are structures: allocate and fill *out with *n items. */
#define DEC_LIST(c, it, key, type, out, nout, fn)                                                  \
    do {                                                                                           \
        size_t n_;                                                                                 \
        cbor_item_t **a_;                                                                          \
        if (!get_array((c), (it), 0, &a_, &n_, at_key(key)))                                       \
            return false;                                                                          \
        if (n_ == 0)                                                                               \
            break;                                                                                 \
        (out) = calloc(n_, sizeof(type));                                                          \
        if ((out) == NULL)                                                                         \
            return fail((c), WARD_E_BUFFER, "out of memory");                                      \
        for (size_t i_ = 0; i_ < n_; i_++) {                                                       \
            if (!fn((c), a_[i_], (long)i_, &(out)[i_]))                                            \
                return false;                                                                      \
            (nout) = i_ + 1;                                                                       \
        }                                                                                          \
    } while (0)

static bool dec_local_addr(dctx_t *c, const cbor_item_t *it, long i, ward_addr_t *a)
{
    return get_addr(c, it, a, at_pos(WARD_RK_LOCAL_ADDRS, i, -1, NULL));
}

static bool dec_key(dctx_t *c, unsigned key, const cbor_item_t *v, ward_wire_report_t *r)
{
    uint64_t u;
    size_t n;
    cbor_item_t **a;
    where_t w = at_key((int)key);
    switch (key) {
    case WARD_RK_VERSION:
        if (!get_array(c, v, 2, &a, &n, w) ||
            !get_uint(c, a[0], UINT32_MAX, &r->major, at_pos(0, -1, 0, "major")) ||
            !get_uint(c, a[1], UINT32_MAX, &r->minor, at_pos(0, -1, 1, "minor")))
            return false;
        if (r->major != WARD_PROTO_MAJOR)
            return fail(c, WARD_E_UNSUPPORTED,
                        "key 0 (version): major version %" PRIu64
                        " is not supported (this service reads %d)",
                        r->major, WARD_PROTO_MAJOR);
        return true;
    case WARD_RK_DEVICE_ID:
        if (!get_text(c, v, 1, WARD_DEVICE_ID_MAX, r->device_id, w))
            return false;
        if (!ward_wire_device_id_valid(r->device_id, strlen(r->device_id)))
            return fail(c, WARD_E_RANGE,
                        "key 1 (device_id): \"%s\" has characters outside "
                        "[A-Za-z0-9._-]",
                        r->device_id);
        return true;
    case WARD_RK_AGENT_VERSION:
        return get_text(c, v, 1, WARD_WIRE_TEXT_MAX, r->agent_version, w);
    case WARD_RK_BOOT_ID:
        if (!get_uint(c, v, UINT32_MAX, &u, w))
            return false;
        r->boot_id = (uint32_t)u;
        return true;
    case WARD_RK_SEQ:
        return get_uint(c, v, INT64_MAX, &r->seq, w);
    case WARD_RK_PERIOD_START:
        return get_uint(c, v, WARD_WIRE_TIME_MAX, &r->period_start, w);
    case WARD_RK_PERIOD_END:
        return get_uint(c, v, WARD_WIRE_TIME_MAX, &r->period_end, w);
    case WARD_RK_PART: {
        uint64_t idx, cnt;
        if (!get_array(c, v, 2, &a, &n, w) ||
            !get_uint(c, a[0], UINT32_MAX, &idx, at_pos(7, -1, 0, "index")) ||
            !get_uint(c, a[1], UINT32_MAX, &cnt, at_pos(7, -1, 1, "count")))
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
        if (!get_uint(c, v, UINT64_MAX, &u, w))
            return false;
        if (u > WARD_TIME_BOOT)
            return fail(c, WARD_E_UNSUPPORTED, "key 8 (time_base): unknown time base %" PRIu64, u);
        r->time_base = (uint8_t)u;
        return true;
    case WARD_RK_INTERVAL:
        if (!get_uint(c, v, UINT64_MAX, &u, w))
            return false;
        /* The documented range is 10..86400 s; shorter intervals are accepted too, because test
         * and demo agents report every few seconds and the value is informational. */
        if (u < 1 || u > 86400)
            return fail(c, WARD_E_RANGE, "key 9 (interval): %" PRIu64 " s outside 1..86400", u);
        r->interval = (uint32_t)u;
        r->has_interval = true;
        return true;
    case WARD_RK_CONFIG_REV:
        return (r->has_config_rev = get_uint(c, v, INT64_MAX, &r->config_rev, w));
    case WARD_RK_PRIORITY:
        return (r->has_priority = get_bool(c, v, &r->priority, w));
    case WARD_RK_FLOWS:
        DEC_LIST(c, v, WARD_RK_FLOWS, ward_wire_flow_t, r->flows, r->n_flows, dec_flow);
        return true;
    case WARD_RK_OVERFLOW:
        DEC_LIST(c, v, WARD_RK_OVERFLOW, ward_wire_overflow_t, r->overflow, r->n_overflow,
                 dec_overflow);
        return true;
    case WARD_RK_LOCAL_ADDRS:
        DEC_LIST(c, v, WARD_RK_LOCAL_ADDRS, ward_addr_t, r->local_addrs, r->n_local_addrs,
                 dec_local_addr);
        return true;
    case WARD_RK_LISTENING:
        r->has_listening = true;
        DEC_LIST(c, v, WARD_RK_LISTENING, ward_wire_listen_t, r->listening, r->n_listening,
                 dec_listen);
        return true;
    case WARD_RK_SYSINFO:
        return dec_sysinfo(c, v, &r->sysinfo);
    case WARD_RK_COUNTERS:
        return dec_kv_map(c, v, WARD_RK_COUNTERS, &r->counters, &r->n_counters);
    case WARD_RK_METRICS:
        return dec_metrics(c, v, r);
    case WARD_RK_MALFORMED:
        return dec_kv_map(c, v, WARD_RK_MALFORMED, &r->malformed, &r->n_malformed);
    case WARD_RK_DETECTIONS:
        DEC_LIST(c, v, WARD_RK_DETECTIONS, ward_wire_detection_t, r->detections, r->n_detections,
                 dec_detection);
        return true;
    case WARD_RK_CONFIG_STATUS:
        if (!get_array(c, v, 3, &a, &n, w) ||
            !get_uint(c, a[0], INT64_MAX, &r->config_status_rev, at_pos(25, -1, 0, "revision")) ||
            !get_uint(c, a[1], INT64_MAX, &r->config_status_code, at_pos(25, -1, 1, "status")) ||
            !get_text(c, a[2], 0, WARD_WIRE_TEXT_MAX, r->config_status_reason,
                      at_pos(25, -1, 2, "reason")))
            return false;
        r->has_config_status = true;
        return true;
    default:
        return true; /* reserved or unknown: ignored (proto.h compatibility rules) */
    }
}

static bool validate(dctx_t *c, const cbor_item_t *root, ward_wire_report_t *r)
{
    static const unsigned required[] = {WARD_RK_VERSION,   WARD_RK_DEVICE_ID, WARD_RK_AGENT_VERSION,
                                        WARD_RK_BOOT_ID,   WARD_RK_SEQ,       WARD_RK_PERIOD_START,
                                        WARD_RK_PERIOD_END};
    if (!cbor_isa_map(root))
        return fail(c, WARD_E_MALFORMED, "a report is a CBOR map");
    size_t n = cbor_map_size(root);
    struct cbor_pair *m = cbor_map_handle(root);
    uint32_t seen = 0;
    r->part_count = 1;
    for (size_t i = 0; i < n; i++) {
        if (!cbor_isa_uint(m[i].key) || cbor_get_int(m[i].key) > KEY_LAST)
            continue;
        unsigned k = (unsigned)cbor_get_int(m[i].key);
        if (key_names[k] == NULL)
            continue; /* reserved (12..15) */
        if (seen & (1u << k))
            return fail(c, WARD_E_MALFORMED, "key %u (%s) appears twice", k, key_names[k]);
        seen |= 1u << k;
        if (!dec_key(c, k, m[i].value, r))
            return false;
    }
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

ward_status_t wire_ref_decode(const uint8_t *buf, size_t len, ward_wire_report_t *out, char *reason,
                              size_t reason_len)
{
    dctx_t c = {WARD_OK, reason, reason_len};
    memset(out, 0, sizeof *out);
    if (reason != NULL && reason_len > 0)
        reason[0] = '\0';
    if (buf == NULL && len > 0) {
        fail(&c, WARD_E_ARG, "no input");
        return c.st;
    }
    if (!scan(&c, buf, len))
        return c.st;
    struct cbor_load_result res;
    cbor_item_t *root = cbor_load(buf, len, &res);
    if (root == NULL) {
        if (res.error.code == CBOR_ERR_NOTENOUGHDATA)
            fail(&c, WARD_E_INCOMPLETE, "truncated: the input ends inside an item");
        else if (res.error.code == CBOR_ERR_MEMERROR)
            fail(&c, WARD_E_BUFFER, "out of memory");
        else
            fail(&c, WARD_E_MALFORMED, "not well-formed CBOR at byte %zu", res.error.position);
        return c.st;
    }
    if (!validate(&c, root, out)) {
        if (c.st == WARD_OK) /* every refusal names its reason; this is a safety net */
            fail(&c, WARD_E_MALFORMED, "invalid report");
        ward_wire_report_free(out);
        cbor_decref(&root);
        return c.st;
    }
    cbor_decref(&root);
    return WARD_OK;
}

/* ---- Differential check -------------------------------------------------------------------- */

static bool same_array(const void *a, const void *b, size_t n, size_t size)
{
    if ((a == NULL) != (b == NULL))
        return false;
    return n == 0 || memcmp(a, b, n * size) == 0;
}

/* Every field of two decoded reports, arrays by content (both were zeroed before filling, and
 * their arrays calloc'd, so padding compares equal too). */
static bool same_report(const ward_wire_report_t *a, const ward_wire_report_t *b, const char **what)
{
    ward_wire_report_t x = *a, y = *b;
    x.local_addrs = y.local_addrs = NULL;
    x.flows = y.flows = NULL;
    x.overflow = y.overflow = NULL;
    x.listening = y.listening = NULL;
    x.detections = y.detections = NULL;
    x.counters = y.counters = NULL;
    x.metrics = y.metrics = NULL;
    x.malformed = y.malformed = NULL;
    x.in_arena = y.in_arena = false; /* where the arrays live */
    *what = "scalar fields";
    if (memcmp(&x, &y, sizeof x) != 0)
        return false;
#define SAME(field, n)                                                                             \
    do {                                                                                           \
        *what = #field;                                                                            \
        if (!same_array(a->field, b->field, a->n, sizeof *a->field))                               \
            return false;                                                                          \
    } while (0)
    SAME(local_addrs, n_local_addrs);
    SAME(flows, n_flows);
    SAME(overflow, n_overflow);
    SAME(listening, n_listening);
    SAME(detections, n_detections);
    SAME(counters, n_counters);
    SAME(metrics, n_metrics);
    SAME(malformed, n_malformed);
#undef SAME
    return true;
}

bool wire_ref_same(const uint8_t *buf, size_t len, char *diff, size_t diff_len)
{
    char ra[256], rb[256];
    ward_wire_report_t a, b;
    ward_status_t sa = ward_wire_decode(buf, len, &a, ra, sizeof ra);
    ward_status_t sb = wire_ref_decode(buf, len, &b, rb, sizeof rb);
    const char *what = NULL;
    bool same = sa == sb && strcmp(ra, rb) == 0 && same_report(&a, &b, &what);
    if (!same && diff != NULL && diff_len > 0)
        snprintf(diff, diff_len, "wire: %d \"%s\"; reference: %d \"%s\"%s%s", sa, ra, sb, rb,
                 what ? "; differs in " : "", what ? what : "");
    /* The same decoder into an arena (process.c's way): small, so that arrays land both in it
     * and in spilled blocks. */
    if (same) {
        _Alignas(16) uint8_t space[512];
        char rc[256];
        ward_arena_t ar;
        ward_wire_report_t c;
        ward_arena_init(&ar, space, sizeof space);
        ward_status_t sc = ward_wire_decode_in(buf, len, &c, rc, sizeof rc, &ar);
        same = sc == sb && strcmp(rc, rb) == 0 && same_report(&c, &b, &what);
        if (!same && diff != NULL && diff_len > 0)
            snprintf(diff, diff_len, "wire in an arena: %d \"%s\"; reference: %d \"%s\"%s%s", sc,
                     rc, sb, rb, what ? "; differs in " : "", what ? what : "");
        ward_wire_report_free(&c);
        ward_arena_release(&ar);
    }
    ward_wire_report_free(&a);
    ward_wire_report_free(&b);
    return same;
}
