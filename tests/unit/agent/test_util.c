/* Test helpers: see test_util.h. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

const uint8_t TU_DEV4[4] = {192, 168, 1, 10};
const uint8_t TU_DEV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};

void tu_remote4(uint8_t out[4], unsigned n)
{
    out[0] = 203;
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(113 + (n >> 8));
    out[3] = (uint8_t)n;
}

void tu_remote6(uint8_t out[16], unsigned n)
{
    static const uint8_t base[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0xff};
    memcpy(out, base, 16);
    out[13] = (uint8_t)(n >> 16);
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

size_t tu_ipv4(uint8_t *out, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
               size_t optlen, uint16_t frag, const uint8_t *l4, size_t l4len)
{
    size_t hl = 20 + optlen;
    memset(out, 0, hl);
    out[0] = (uint8_t)(0x40 | (hl / 4));
    put16(out + 2, (unsigned)(hl + l4len));
    put16(out + 4, 0x1234);
    put16(out + 6, frag);
    out[8] = 64;
    out[9] = proto;
    memcpy(out + 12, src, 4);
    memcpy(out + 16, dst, 4);
    for (size_t i = 0; i < optlen; i++)
        out[20 + i] = 1; /* NOP options */
    if (l4len)
        memcpy(out + hl, l4, l4len);
    return hl + l4len;
}

size_t tu_ipv6(uint8_t *out, const uint8_t src[16], const uint8_t dst[16], uint8_t nh,
               const uint8_t *ext, size_t extlen, const uint8_t *l4, size_t l4len)
{
    memset(out, 0, 40);
    out[0] = 0x60;
    put16(out + 4, (unsigned)(extlen + l4len));
    out[6] = nh;
    out[7] = 64;
    memcpy(out + 8, src, 16);
    memcpy(out + 24, dst, 16);
    if (extlen)
        memcpy(out + 40, ext, extlen);
    if (l4len)
        memcpy(out + 40 + extlen, l4, l4len);
    return 40 + extlen + l4len;
}

size_t tu_tcp(uint8_t *out, uint16_t sport, uint16_t dport, uint8_t flags, size_t payload)
{
    memset(out, 0, 20 + payload);
    put16(out, sport);
    put16(out + 2, dport);
    out[12] = 5 << 4;
    out[13] = flags;
    put16(out + 14, 65535);
    return 20 + payload;
}

size_t tu_udp(uint8_t *out, uint16_t sport, uint16_t dport, size_t payload)
{
    memset(out, 0, 8 + payload);
    put16(out, sport);
    put16(out + 2, dport);
    put16(out + 4, (unsigned)(8 + payload));
    return 8 + payload;
}

size_t tu_icmp(uint8_t *out, uint8_t type, uint8_t code, size_t payload)
{
    memset(out, 0, 8 + payload);
    out[0] = type;
    out[1] = code;
    return 8 + payload;
}

size_t tu_v4_tcp(uint8_t *out, const uint8_t src[4], const uint8_t dst[4], uint16_t sport,
                 uint16_t dport, uint8_t flags, size_t payload)
{
    uint8_t l4[2048];
    size_t n = tu_tcp(l4, sport, dport, flags, payload);
    return tu_ipv4(out, src, dst, WARD_IPPROTO_TCP, 0, 0x4000, l4, n);
}

size_t tu_v4_udp(uint8_t *out, const uint8_t src[4], const uint8_t dst[4], uint16_t sport,
                 uint16_t dport, size_t payload)
{
    uint8_t l4[2048];
    size_t n = tu_udp(l4, sport, dport, payload);
    return tu_ipv4(out, src, dst, WARD_IPPROTO_UDP, 0, 0, l4, n);
}

size_t tu_v6_tcp(uint8_t *out, const uint8_t src[16], const uint8_t dst[16], uint16_t sport,
                 uint16_t dport, uint8_t flags, size_t payload)
{
    uint8_t l4[2048];
    size_t n = tu_tcp(l4, sport, dport, flags, payload);
    return tu_ipv6(out, src, dst, WARD_IPPROTO_TCP, NULL, 0, l4, n);
}

size_t tu_v6_udp(uint8_t *out, const uint8_t src[16], const uint8_t dst[16], uint16_t sport,
                 uint16_t dport, size_t payload)
{
    uint8_t l4[2048];
    size_t n = tu_udp(l4, sport, dport, payload);
    return tu_ipv6(out, src, dst, WARD_IPPROTO_UDP, NULL, 0, l4, n);
}

/* ---- Transport ---- */

static int32_t tu_publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    tu_transport_t *tt = ctx;
    (void)priority;
    tt->calls++;
    if (tt->accept == 0)
        return tt->refuse_ret;
    if (tt->accept > 0)
        tt->accept--;
    assert_true(tt->nparts < TU_MAX_PARTS);
    tt->parts[tt->nparts] = malloc(len);
    assert_non_null(tt->parts[tt->nparts]);
    memcpy(tt->parts[tt->nparts], buf, len);
    tt->lens[tt->nparts] = len;
    tt->nparts++;
    return (int32_t)len;
}

void tu_transport_init(tu_transport_t *tt)
{
    memset(tt, 0, sizeof *tt);
    tt->t.publish = tu_publish;
    tt->t.ctx = tt;
    tt->accept = -1;
}

void tu_transport_free(tu_transport_t *tt)
{
    for (size_t i = 0; i < tt->nparts; i++)
        free(tt->parts[i]);
    tt->nparts = 0;
}

void tu_agent_init(ward_agent_t *a, tu_transport_t *tt, uint64_t now_ms)
{
    ward_agent_config_t cfg;
    ward_agent_config_init(&cfg);
    cfg.device_id = "dev-1";
    cfg.boot_id = 7;
    cfg.transport = &tt->t;
    assert_int_equal(ward_agent_init(a, &cfg, now_ms), WARD_OK);
}

/* ---- Reports ---- */

/* Every head in buf uses the shortest argument, lengths are definite, and exactly one item
 * fills the buffer. Iterative: a count of items still to read. */
static void check_shortest(const uint8_t *b, size_t len)
{
    size_t pos = 0;
    uint64_t pending = 1;
    while (pending > 0) {
        assert_true(pos < len);
        unsigned major = b[pos] >> 5, ai = b[pos] & 31;
        pos++;
        uint64_t v = ai;
        if (ai >= 24) {
            assert_true(ai <= 27);
            size_t n = (size_t)1 << (ai - 24);
            assert_true(len - pos >= n);
            v = 0;
            for (size_t i = 0; i < n; i++)
                v = (v << 8) | b[pos + i];
            pos += n;
            uint64_t min = ai == 24 ? 24 : ai == 25 ? 0x100 : ai == 26 ? 0x10000 : 0x100000000ull;
            assert_true(v >= min);
        }
        pending--;
        if (major == 2 || major == 3) {
            assert_true(len - pos >= v);
            pos += (size_t)v;
        } else if (major == 4) {
            pending += v;
        } else if (major == 5) {
            pending += 2 * v;
        } else {
            assert_true(major == 0 || major == 1 || (major == 7 && (ai == 20 || ai == 21)));
        }
    }
    assert_int_equal(pos, len);
}

static uint64_t get_uint(cbor_item_t *it)
{
    assert_true(cbor_isa_uint(it));
    return cbor_get_int(it);
}

static tu_report_t report;
int tu_flows_required = 1;

static int get_bool(cbor_item_t *it)
{
    assert_true(cbor_isa_float_ctrl(it) && cbor_is_bool(it));
    return cbor_get_bool(it) ? 1 : 0;
}

static void get_tstr(cbor_item_t *it, char *dst, size_t cap)
{
    assert_true(cbor_isa_string(it) && cbor_string_is_definite(it));
    size_t n = cbor_string_length(it);
    assert_true(n < cap);
    memcpy(dst, cbor_string_handle(it), n);
    dst[n] = 0;
}

static size_t get_bstr(cbor_item_t *it, uint8_t *dst, size_t cap)
{
    assert_true(cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it));
    size_t n = cbor_bytestring_length(it);
    assert_true(n <= cap);
    memcpy(dst, cbor_bytestring_handle(it), n);
    return n;
}

/* Keys 10, 11, 19, 20, 22, 24, 25. Returns 0 for a key it does not know. */
static int decode_more(tu_report_t *r, uint64_t k, cbor_item_t *v)
{
    switch (k) {
    case WARD_RK_CONFIG_REV:
        r->has_config_rev = 1;
        r->config_rev = get_uint(v);
        assert_true(r->config_rev > 0); /* absent = 0: never written as 0 */
        break;
    case WARD_RK_PRIORITY:
        r->priority = get_bool(v);
        assert_true(r->priority); /* only written in priority reports */
        break;
    case WARD_RK_LISTENING:
        assert_true(cbor_isa_array(v));
        r->has_listening = 1;
        r->nlisten = cbor_array_size(v);
        assert_true(r->nlisten <= 64);
        for (size_t j = 0; j < r->nlisten; j++) {
            cbor_item_t *l = cbor_array_handle(v)[j];
            assert_true(cbor_isa_array(l));
            assert_int_equal(cbor_array_size(l), 3);
            r->listen[j].proto = get_uint(cbor_array_handle(l)[WARD_LP_PROTO]);
            assert_true(r->listen[j].proto == 6 || r->listen[j].proto == 17);
            r->listen[j].alen = get_bstr(cbor_array_handle(l)[WARD_LP_LOCAL_ADDR],
                                         r->listen[j].addr, 16);
            assert_true(r->listen[j].alen == 4 || r->listen[j].alen == 16);
            r->listen[j].port = get_uint(cbor_array_handle(l)[WARD_LP_PORT]);
            assert_true(r->listen[j].port <= 65535);
        }
        break;
    case WARD_RK_SYSINFO: {
        assert_true(cbor_isa_map(v));
        r->has_sysinfo = 1;
        struct cbor_pair *sp = cbor_map_handle(v);
        for (size_t j = 0; j < cbor_map_size(v); j++) {
            uint64_t sk = get_uint(sp[j].key);
            assert_true(sk <= WARD_SK_FLOW_CAPACITY);
            assert_false(r->si_seen & (1ull << sk));
            r->si_seen |= 1ull << sk;
            if (sk <= WARD_SK_IP_STACK) {
                get_tstr(sp[j].value, r->si_str[sk], sizeof r->si_str[sk]);
                assert_true(strlen(r->si_str[sk]) > 0);
            } else if (sk == WARD_SK_TLS) {
                r->si_tls = get_bool(sp[j].value);
            } else if (sk == WARD_SK_TIME_SYNCED) {
                r->si_synced = get_bool(sp[j].value);
            } else {
                r->si_capacity = get_uint(sp[j].value);
            }
        }
        assert_true(r->si_seen & (1ull << WARD_SK_FLOW_CAPACITY));
        break;
    }
    case WARD_RK_METRICS: {
        assert_true(cbor_isa_map(v));
        r->has_metrics = 1;
        r->nmetrics = cbor_map_size(v);
        assert_true(r->nmetrics > 0 && r->nmetrics <= 64);
        struct cbor_pair *mp = cbor_map_handle(v);
        for (size_t j = 0; j < r->nmetrics; j++) {
            get_tstr(mp[j].key, r->metrics[j].name, sizeof r->metrics[j].name);
            size_t n = strlen(r->metrics[j].name);
            assert_true(n >= 1 && n <= WARD_METRIC_NAME_MAX);
            cbor_item_t *mv = mp[j].value;
            if (cbor_isa_uint(mv)) {
                uint64_t u = cbor_get_int(mv);
                assert_true(u <= (uint64_t)INT64_MAX);
                r->metrics[j].value = (int64_t)u;
            } else {
                assert_true(cbor_isa_negint(mv));
                uint64_t u = cbor_get_int(mv); /* value is -1 - u */
                assert_true(u <= (uint64_t)INT64_MAX);
                r->metrics[j].value = -1 - (int64_t)u;
            }
        }
        break;
    }
    case WARD_RK_DETECTIONS:
        assert_true(cbor_isa_array(v));
        r->has_detections = 1;
        r->ndetect = cbor_array_size(v);
        assert_true(r->ndetect > 0 && r->ndetect <= 32);
        for (size_t j = 0; j < r->ndetect; j++) {
            cbor_item_t *d = cbor_array_handle(v)[j];
            assert_true(cbor_isa_array(d));
            assert_int_equal(cbor_array_size(d), 10);
            for (size_t p = 0; p < 10; p++) {
                cbor_item_t *e = cbor_array_handle(d)[p];
                if (p == WARD_DP_REMOTE_ADDR) {
                    r->detect[j].alen = get_bstr(e, r->detect[j].remote, 16);
                    assert_true(r->detect[j].alen == 4 || r->detect[j].alen == 16);
                } else {
                    r->detect[j].v[p] = get_uint(e);
                }
            }
            assert_int_equal(r->detect[j].v[WARD_DP_KIND], WARD_DK_DENY_LIST);
            assert_true(r->detect[j].v[WARD_DP_COUNT] > 0);
            assert_true(r->detect[j].v[WARD_DP_ACTION] <= WARD_DENY_DROP);
        }
        break;
    case WARD_RK_CONFIG_STATUS:
        assert_true(cbor_isa_array(v));
        assert_int_equal(cbor_array_size(v), 3);
        r->has_config_status = 1;
        r->cs_rev = get_uint(cbor_array_handle(v)[0]);
        r->cs_status = get_uint(cbor_array_handle(v)[1]);
        assert_true(r->cs_status != WARD_OK);
        get_tstr(cbor_array_handle(v)[2], r->cs_reason, sizeof r->cs_reason);
        break;
    default:
        return 0;
    }
    return 1;
}

const tu_report_t *tu_decode(const uint8_t *buf, size_t len)
{
    struct cbor_load_result res;
    tu_report_t *r = &report;

    check_shortest(buf, len);
    memset(r, 0, sizeof *r);
    cbor_item_t *root = cbor_load(buf, len, &res);
    assert_non_null(root);
    assert_int_equal(res.error.code, CBOR_ERR_NONE);
    assert_int_equal(res.read, len);
    assert_true(cbor_isa_map(root));
    r->nkeys = cbor_map_size(root);
    struct cbor_pair *pairs = cbor_map_handle(root);
    uint64_t seen = 0;
    for (size_t i = 0; i < r->nkeys; i++) {
        uint64_t k = get_uint(pairs[i].key);
        cbor_item_t *v = pairs[i].value;
        assert_true(k < 64);
        assert_false(seen & (1ull << k)); /* no key twice */
        seen |= 1ull << k;
        switch (k) {
        case WARD_RK_VERSION:
            assert_true(cbor_isa_array(v));
            assert_int_equal(cbor_array_size(v), 2);
            r->version[0] = get_uint(cbor_array_handle(v)[0]);
            r->version[1] = get_uint(cbor_array_handle(v)[1]);
            break;
        case WARD_RK_DEVICE_ID:
        case WARD_RK_AGENT_VERSION: {
            assert_true(cbor_isa_string(v) && cbor_string_is_definite(v));
            size_t n = cbor_string_length(v);
            char *dst = k == WARD_RK_DEVICE_ID ? r->device_id : r->agent_version;
            size_t cap = k == WARD_RK_DEVICE_ID ? sizeof r->device_id : sizeof r->agent_version;
            assert_true(n < cap);
            memcpy(dst, cbor_string_handle(v), n);
            dst[n] = 0;
            break;
        }
        case WARD_RK_BOOT_ID: r->boot_id = get_uint(v); break;
        case WARD_RK_SEQ: r->seq = get_uint(v); break;
        case WARD_RK_PERIOD_START: r->start = get_uint(v); break;
        case WARD_RK_PERIOD_END: r->end = get_uint(v); break;
        case WARD_RK_TIME_BASE: r->time_base = get_uint(v); break;
        case WARD_RK_INTERVAL: r->interval = get_uint(v); break;
        case WARD_RK_PART:
            assert_true(cbor_isa_array(v));
            assert_int_equal(cbor_array_size(v), 2);
            r->part_i = get_uint(cbor_array_handle(v)[0]);
            r->part_n = get_uint(cbor_array_handle(v)[1]);
            r->has_part = 1;
            break;
        case WARD_RK_LOCAL_ADDRS:
            assert_true(cbor_isa_array(v));
            r->nlocal = cbor_array_size(v);
            assert_true(r->nlocal <= 16);
            for (size_t j = 0; j < r->nlocal; j++) {
                cbor_item_t *a = cbor_array_handle(v)[j];
                assert_true(cbor_isa_bytestring(a));
                r->local_len[j] = cbor_bytestring_length(a);
                assert_true(r->local_len[j] == 4 || r->local_len[j] == 16);
                memcpy(r->local[j], cbor_bytestring_handle(a), r->local_len[j]);
            }
            break;
        case WARD_RK_FLOWS:
            assert_true(cbor_isa_array(v));
            r->has_flows = 1;
            r->nflows = cbor_array_size(v);
            assert_true(r->nflows <= TU_MAX_FLOWS);
            for (size_t j = 0; j < r->nflows; j++) {
                cbor_item_t *f = cbor_array_handle(v)[j];
                tu_flow_t *tf = &r->flows[j];
                assert_true(cbor_isa_array(f));
                tf->n = cbor_array_size(f);
                assert_true(tf->n == WARD_FP_TCP_FLAGS || tf->n == WARD_FP_COUNT_);
                for (size_t p = 0; p < tf->n; p++) {
                    cbor_item_t *e = cbor_array_handle(f)[p];
                    if (p == WARD_FP_REMOTE_ADDR) {
                        assert_true(cbor_isa_bytestring(e));
                        tf->alen = cbor_bytestring_length(e);
                        assert_true(tf->alen == 4 || tf->alen == 16);
                        memcpy(tf->remote, cbor_bytestring_handle(e), tf->alen);
                    } else {
                        tf->v[p] = get_uint(e);
                    }
                }
                /* TCP flows carry flags; the others do not. */
                assert_int_equal(tf->n == WARD_FP_COUNT_, tf->v[WARD_FP_PROTO] == WARD_IPPROTO_TCP);
                /* Flows refer to a local address of the family of their remote one. */
                assert_true(tf->v[WARD_FP_LOCAL_ADDR] < r->nlocal);
                assert_true(tf->v[WARD_FP_PACKETS_OUT] + tf->v[WARD_FP_PACKETS_IN] > 0);
                assert_true(tf->v[WARD_FP_FIRST] <= tf->v[WARD_FP_LAST]);
            }
            break;
        case WARD_RK_OVERFLOW:
            assert_true(cbor_isa_array(v));
            r->novf = cbor_array_size(v);
            assert_true(r->novf > 0 && r->novf <= 64);
            for (size_t j = 0; j < r->novf; j++) {
                cbor_item_t *o = cbor_array_handle(v)[j];
                assert_true(cbor_isa_array(o));
                assert_int_equal(cbor_array_size(o), 5);
                for (size_t p = 0; p < 5; p++)
                    r->ovf[j][p] = get_uint(cbor_array_handle(o)[p]);
                assert_true(r->ovf[j][WARD_OP_PACKETS] > 0);
            }
            break;
        case WARD_RK_COUNTERS:
        case WARD_RK_MALFORMED: {
            assert_true(cbor_isa_map(v));
            struct cbor_pair *cp = cbor_map_handle(v);
            for (size_t j = 0; j < cbor_map_size(v); j++) {
                uint64_t ck = get_uint(cp[j].key);
                uint64_t cv = get_uint(cp[j].value);
                assert_true(cv > 0); /* only non-zero ones are written */
                if (k == WARD_RK_COUNTERS) {
                    assert_true(ck < WARD_CTR_COUNT_);
                    r->counters[ck] = cv;
                } else {
                    assert_true(ck < WARD_MF_COUNT_);
                    r->malformed[ck] = cv;
                }
            }
            if (k == WARD_RK_COUNTERS)
                r->has_counters = 1;
            else
                r->has_malformed = 1;
            break;
        }
        default:
            if (!decode_more(r, k, v))
                fail_msg("unexpected report key %llu", (unsigned long long)k);
        }
    }
    /* Required keys. */
    uint64_t required = (1ull << WARD_RK_VERSION) | (1ull << WARD_RK_DEVICE_ID) |
                        (1ull << WARD_RK_AGENT_VERSION) | (1ull << WARD_RK_BOOT_ID) |
                        (1ull << WARD_RK_SEQ) | (1ull << WARD_RK_PERIOD_START) |
                        (1ull << WARD_RK_PERIOD_END) |
                        (tu_flows_required && !r->priority ? (1ull << WARD_RK_FLOWS) : 0);
    assert_int_equal(seen & required, required);
    assert_true(r->start <= r->end);
    if (r->has_part)
        assert_true(r->part_i < r->part_n);
    for (size_t j = 0; j < r->nflows; j++) {
        const tu_flow_t *tf = &r->flows[j];
        assert_int_equal(r->local_len[tf->v[WARD_FP_LOCAL_ADDR]], tf->alen);
        assert_true(tf->v[WARD_FP_LAST] * 1000 <= r->end - r->start + 999);
    }
    cbor_decref(&root);
    return r;
}

void tu_totals(const tu_transport_t *tt, size_t from_part, tu_totals_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = from_part; i < tt->nparts; i++) {
        const tu_report_t *r = tu_decode(tt->parts[i], tt->lens[i]);
        for (size_t j = 0; j < r->nflows; j++) {
            const tu_flow_t *f = &r->flows[j];
            out->flow_pkts += f->v[WARD_FP_PACKETS_OUT] + f->v[WARD_FP_PACKETS_IN];
            out->flow_bytes += f->v[WARD_FP_BYTES_OUT] + f->v[WARD_FP_BYTES_IN];
            out->flows++;
        }
        for (size_t j = 0; j < r->novf; j++) {
            out->ovf_pkts += r->ovf[j][WARD_OP_PACKETS];
            out->ovf_bytes += r->ovf[j][WARD_OP_BYTES];
            out->ovf_flows += r->ovf[j][WARD_OP_FLOWS];
        }
    }
}
