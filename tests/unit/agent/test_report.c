/*
 * Reports: the map of proto.h decoded back with libcbor, heartbeats, flow positions and deltas,
 * wire size per flow, splitting into parts, a transport that refuses (0 or negative) and later
 * accepts, seq, the poll schedule, eviction of idle flows, and the sum invariant under random
 * traffic and random transport behaviour.
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000000ull /* init time, ms (a Unix time) */

static ward_agent_t agent;
static tu_transport_t tt;
static uint8_t buf[65536];

static int setup(void **state)
{
    (void)state;
    tu_transport_init(&tt);
    tu_agent_init(&agent, &tt, T0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_transport_free(&tt);
    return 0;
}

static ward_status_t feed(int dir, const uint8_t *p, size_t n, uint64_t now)
{
    return ward_agent_on_packet(&agent, dir, p, n, now);
}

/* One outbound TCP connection to remote n: SYN, SYN-ACK, then `data` segments each way. */
static uint64_t tcp_conn4(unsigned n, uint16_t lport, unsigned data, uint64_t now)
{
    uint8_t p[2048], r[4];
    uint64_t bytes = 0;
    tu_remote4(r, n);
    size_t k = tu_v4_tcp(p, TU_DEV4, r, lport, 443, TU_TCP_SYN, 0);
    feed(WARD_DIR_OUTBOUND, p, k, now);
    bytes += k;
    k = tu_v4_tcp(p, r, TU_DEV4, 443, lport, TU_TCP_SYN | TU_TCP_ACK, 0);
    feed(WARD_DIR_INBOUND, p, k, now);
    bytes += k;
    for (unsigned i = 0; i < data; i++) {
        k = tu_v4_tcp(p, TU_DEV4, r, lport, 443, TU_TCP_ACK | TU_TCP_PSH, 200);
        feed(WARD_DIR_OUTBOUND, p, k, now + 1000);
        bytes += k;
        k = tu_v4_tcp(p, r, TU_DEV4, 443, lport, TU_TCP_ACK, 100);
        feed(WARD_DIR_INBOUND, p, k, now + 2000);
        bytes += k;
    }
    return bytes;
}

static uint64_t tcp_conn6(unsigned n, uint16_t lport, unsigned data, uint64_t now)
{
    uint8_t p[2048], r[16];
    uint64_t bytes = 0;
    tu_remote6(r, n);
    size_t k = tu_v6_tcp(p, TU_DEV6, r, lport, 8883, TU_TCP_SYN, 0);
    feed(WARD_DIR_OUTBOUND, p, k, now);
    bytes += k;
    k = tu_v6_tcp(p, r, TU_DEV6, 8883, lport, TU_TCP_SYN | TU_TCP_ACK, 0);
    feed(WARD_DIR_INBOUND, p, k, now);
    bytes += k;
    for (unsigned i = 0; i < data; i++) {
        k = tu_v6_tcp(p, TU_DEV6, r, lport, 8883, TU_TCP_ACK | TU_TCP_PSH, 200);
        feed(WARD_DIR_OUTBOUND, p, k, now + 1000);
        bytes += k;
        k = tu_v6_tcp(p, r, TU_DEV6, 8883, lport, TU_TCP_ACK, 100);
        feed(WARD_DIR_INBOUND, p, k, now + 2000);
        bytes += k;
    }
    return bytes;
}

static const tu_report_t *last_part(void)
{
    assert_true(tt.nparts > 0);
    return tu_decode(tt.parts[tt.nparts - 1], tt.lens[tt.nparts - 1]);
}

static void test_heartbeat(void **state)
{
    (void)state;
    assert_int_equal(ward_agent_flush(&agent, T0 + 5000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    assert_int_equal(tt.nparts, 1);
    const tu_report_t *r = last_part();
    assert_int_equal(r->version[0], WARD_PROTO_MAJOR);
    assert_int_equal(r->version[1], WARD_PROTO_MINOR);
    assert_string_equal(r->device_id, "dev-1");
    assert_string_equal(r->agent_version, WARD_AGENT_VERSION);
    assert_int_equal(r->boot_id, 7);
    assert_int_equal(r->seq, 0);
    assert_true(r->start == T0);
    assert_true(r->end == T0 + 5000);
    assert_true(r->has_part);
    assert_int_equal(r->part_i, 0);
    assert_int_equal(r->part_n, 1);
    assert_int_equal(r->time_base, WARD_TIME_UNIX);
    assert_int_equal(r->interval, WARD_REPORT_INTERVAL_S);
    assert_int_equal(r->nflows, 0);
    assert_int_equal(r->nlocal, 0);
    assert_int_equal(r->novf, 0);
    assert_true(r->has_counters);
    assert_false(r->has_malformed);
    printf("empty report (heartbeat): %zu bytes\n", tt.lens[0]);

    /* The next one starts where this one ended. */
    assert_int_equal(ward_agent_flush(&agent, T0 + 65000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    r = last_part();
    assert_int_equal(r->seq, 1);
    assert_true(r->start == T0 + 5000);
    assert_true(r->end == T0 + 65000);
}

static const tu_flow_t *find_flow(const tu_report_t *r, uint8_t proto, uint16_t lport,
                                  uint16_t rport)
{
    for (size_t i = 0; i < r->nflows; i++) {
        const tu_flow_t *f = &r->flows[i];
        if (f->v[WARD_FP_PROTO] == proto && f->v[WARD_FP_LOCAL_PORT] == lport &&
            f->v[WARD_FP_REMOTE_PORT] == rport)
            return f;
    }
    return NULL;
}

static void test_flows_roundtrip(void **state)
{
    (void)state;
    uint8_t p[256], l4[64], r4[4], r6[16];
    uint64_t b4 = tcp_conn4(1, 40000, 3, T0 + 2000);
    tu_remote6(r6, 2);
    size_t n = tu_v6_udp(p, r6, TU_DEV6, 123, 123, 48);
    feed(WARD_DIR_INBOUND, p, n, T0 + 7000);
    tu_remote4(r4, 3);
    size_t m = tu_icmp(l4, 8, 0, 56);
    size_t ni = tu_ipv4(p, TU_DEV4, r4, WARD_IPPROTO_ICMP, 0, 0, l4, m);
    feed(WARD_DIR_OUTBOUND, p, ni, T0 + 9500);

    assert_int_equal(ward_agent_flush(&agent, T0 + 30000, buf, sizeof buf), WARD_OK);
    const tu_report_t *r = last_part();
    assert_int_equal(r->nflows, 3);
    assert_int_equal(r->nlocal, 2);
    assert_memory_equal(r->local[0], TU_DEV4, 4);
    assert_int_equal(r->local_len[0], 4);
    assert_memory_equal(r->local[1], TU_DEV6, 16);
    assert_int_equal(r->local_len[1], 16);

    const tu_flow_t *f = find_flow(r, WARD_IPPROTO_TCP, 40000, 443);
    assert_non_null(f);
    assert_int_equal(f->n, WARD_FP_COUNT_);
    assert_int_equal(f->v[WARD_FP_FLAGS], WARD_DIR_OUTBOUND);
    assert_int_equal(f->v[WARD_FP_LOCAL_ADDR], 0);
    tu_remote4(r4, 1);
    assert_int_equal(f->alen, 4);
    assert_memory_equal(f->remote, r4, 4);
    assert_int_equal(f->v[WARD_FP_PACKETS_OUT], 4);
    assert_int_equal(f->v[WARD_FP_PACKETS_IN], 4);
    assert_int_equal(f->v[WARD_FP_BYTES_OUT] + f->v[WARD_FP_BYTES_IN], b4);
    assert_int_equal(f->v[WARD_FP_FIRST], 2);
    assert_int_equal(f->v[WARD_FP_LAST], 4);
    unsigned out = TU_TCP_SYN | TU_TCP_ACK | TU_TCP_PSH, in = TU_TCP_SYN | TU_TCP_ACK;
    assert_int_equal(f->v[WARD_FP_TCP_FLAGS], out | (in << 8));

    f = find_flow(r, WARD_IPPROTO_UDP, 123, 123);
    assert_non_null(f);
    assert_int_equal(f->n, WARD_FP_TCP_FLAGS); /* no TCP flags position */
    assert_int_equal(f->v[WARD_FP_FLAGS], WARD_DIR_INBOUND);
    assert_int_equal(f->v[WARD_FP_LOCAL_ADDR], 1);
    assert_int_equal(f->alen, 16);
    assert_memory_equal(f->remote, r6, 16);
    assert_int_equal(f->v[WARD_FP_PACKETS_IN], 1);
    assert_int_equal(f->v[WARD_FP_BYTES_IN], n);
    assert_int_equal(f->v[WARD_FP_FIRST], 7);

    f = find_flow(r, WARD_IPPROTO_ICMP, 0, 0x0800);
    assert_non_null(f);
    assert_int_equal(f->v[WARD_FP_PACKETS_OUT], 1);
    assert_int_equal(f->v[WARD_FP_BYTES_OUT], ni);
    assert_int_equal(f->v[WARD_FP_FIRST], 9);
    assert_int_equal(f->v[WARD_FP_LAST], 9);
    assert_int_equal(r->counters[WARD_CTR_PACKETS], 10);
}

/* Bytes one flow adds to a report: the report with it minus the report without. */
static size_t flow_wire_size(int v6)
{
    size_t empty, full;
    assert_int_equal(ward_agent_flush(&agent, T0 + 1000, buf, sizeof buf), WARD_OK);
    /* A typical MQTT-over-TLS session in a 60 s period: ephemeral port, 20 segments each way. */
    if (v6)
        tcp_conn6(1, 49731, 20, T0 + 2000);
    else
        tcp_conn4(1, 49731, 20, T0 + 2000);
    /* A second flow fills the local address table as the first one does, so that the difference
     * is one flow and nothing else. */
    if (v6)
        tcp_conn6(2, 49732, 20, T0 + 2000);
    else
        tcp_conn4(2, 49732, 20, T0 + 2000);
    assert_int_equal(ward_agent_flush(&agent, T0 + 61000, buf, sizeof buf), WARD_OK);
    empty = tt.lens[tt.nparts - 1];
    tu_transport_free(&tt);
    /* Same again with one more flow (the second report's header has the same sizes). */
    setup(NULL);
    assert_int_equal(ward_agent_flush(&agent, T0 + 1000, buf, sizeof buf), WARD_OK);
    for (unsigned i = 1; i <= 3; i++) {
        if (v6)
            tcp_conn6(i, (uint16_t)(49730 + i), 20, T0 + 2000);
        else
            tcp_conn4(i, (uint16_t)(49730 + i), 20, T0 + 2000);
    }
    assert_int_equal(ward_agent_flush(&agent, T0 + 61000, buf, sizeof buf), WARD_OK);
    full = tt.lens[tt.nparts - 1];
    return full - empty;
}

static void test_wire_size(void **state)
{
    (void)state;
    size_t s4 = flow_wire_size(0);
    tu_transport_free(&tt);
    setup(NULL);
    size_t s6 = flow_wire_size(1);
    printf("wire bytes per flow: IPv4 TCP %zu, IPv6 TCP %zu\n", s4, s6);
    assert_true(s4 <= 36);
    assert_true(s6 <= 56);
}

static void test_deltas_and_continued(void **state)
{
    (void)state;
    tcp_conn4(1, 40000, 2, T0 + 1000);
    tcp_conn4(2, 40001, 1, T0 + 1000);
    assert_int_equal(ward_agent_flush(&agent, T0 + 60000, buf, sizeof buf), WARD_OK);
    const tu_report_t *r = last_part();
    assert_int_equal(r->nflows, 2);
    assert_int_equal(find_flow(r, 6, 40000, 443)->v[WARD_FP_FLAGS], WARD_DIR_OUTBOUND);

    /* Only flow 1 talks in the next period: only it is reported, with only the new packets. */
    uint8_t p[512], rr[4];
    tu_remote4(rr, 1);
    size_t n = tu_v4_tcp(p, TU_DEV4, rr, 40000, 443, TU_TCP_ACK, 10);
    feed(WARD_DIR_OUTBOUND, p, n, T0 + 70000);
    feed(WARD_DIR_OUTBOUND, p, n, T0 + 75000);
    assert_int_equal(ward_agent_flush(&agent, T0 + 120000, buf, sizeof buf), WARD_OK);
    r = last_part();
    assert_true(r->start == T0 + 60000);
    assert_int_equal(r->nflows, 1);
    const tu_flow_t *f = find_flow(r, 6, 40000, 443);
    assert_non_null(f);
    assert_int_equal(f->v[WARD_FP_FLAGS], WARD_DIR_OUTBOUND | WARD_FF_CONTINUED);
    assert_int_equal(f->v[WARD_FP_PACKETS_OUT], 2);
    assert_int_equal(f->v[WARD_FP_PACKETS_IN], 0);
    assert_int_equal(f->v[WARD_FP_BYTES_OUT], 2 * n);
    assert_int_equal(f->v[WARD_FP_FIRST], 10);
    assert_int_equal(f->v[WARD_FP_LAST], 15);
    assert_int_equal(f->v[WARD_FP_TCP_FLAGS], TU_TCP_ACK); /* flags of this period only */
    /* Flow 2 was idle for the whole reported period: evicted. Flow 1 stays. */
    assert_int_equal(agent.flow_count, 1);

    /* An idle period with no flows at all: flow 1 goes too, and the report is a heartbeat. */
    assert_int_equal(ward_agent_flush(&agent, T0 + 180000, buf, sizeof buf), WARD_OK);
    assert_int_equal(last_part()->nflows, 0);
    assert_int_equal(agent.flow_count, 0);
    /* Its local address stays listed (no flow uses it; the slot may be reused). */
    assert_int_equal(last_part()->nlocal, 1);
}

/* Key of a decoded flow, with its local address resolved, as text. */
static void flow_key(const tu_report_t *r, const tu_flow_t *f, char *out, size_t cap)
{
    size_t li = (size_t)f->v[WARD_FP_LOCAL_ADDR];
    int k = snprintf(out, cap, "%u/%u/%u/", (unsigned)f->v[WARD_FP_PROTO],
                     (unsigned)f->v[WARD_FP_LOCAL_PORT], (unsigned)f->v[WARD_FP_REMOTE_PORT]);
    for (size_t i = 0; i < r->local_len[li] && k < (int)cap - 3; i++)
        k += snprintf(out + k, cap - (size_t)k, "%02x", r->local[li][i]);
    out[k++] = '/';
    for (size_t i = 0; i < f->alen && k < (int)cap - 3; i++)
        k += snprintf(out + k, cap - (size_t)k, "%02x", f->remote[i]);
    out[k] = 0;
}

#define MAXK 512
typedef struct keyset {
    size_t n;
    char key[MAXK][96];
    uint64_t pkts[MAXK];
} keyset_t;

static void keyset_add(keyset_t *ks, const char *key, uint64_t pkts)
{
    for (size_t i = 0; i < ks->n; i++) {
        if (strcmp(ks->key[i], key) == 0) {
            ks->pkts[i] += pkts;
            return;
        }
    }
    assert_true(ks->n < MAXK);
    snprintf(ks->key[ks->n], sizeof ks->key[0], "%s", key);
    ks->pkts[ks->n++] = pkts;
}

static keyset_t ks;

/* Adds every flow of parts [from, nparts) to ks; asserts no key twice within one report. */
static void collect(size_t from, int unique)
{
    keyset_t seen;
    seen.n = 0;
    for (size_t i = from; i < tt.nparts; i++) {
        const tu_report_t *r = tu_decode(tt.parts[i], tt.lens[i]);
        for (size_t j = 0; j < r->nflows; j++) {
            char key[96];
            flow_key(r, &r->flows[j], key, sizeof key);
            uint64_t pk = r->flows[j].v[WARD_FP_PACKETS_OUT] + r->flows[j].v[WARD_FP_PACKETS_IN];
            if (unique) {
                for (size_t s = 0; s < seen.n; s++)
                    assert_string_not_equal(seen.key[s], key);
                keyset_add(&seen, key, pk);
            }
            keyset_add(&ks, key, pk);
        }
    }
}

static void test_split(void **state)
{
    (void)state;
    uint8_t p[2048];
    for (unsigned i = 0; i < WARD_MAX_FLOWS; i++) {
        if (i % 2)
            tcp_conn6(i, (uint16_t)(40000 + i), i % 5, T0 + 1000);
        else
            tcp_conn4(i, (uint16_t)(40000 + i), i % 5, T0 + 1000);
    }
    /* Something in the overflow summary and a malformed packet: part 0 only. */
    size_t n = tu_v4_udp(p, TU_DEV4, TU_DEV4, 1, 2, 0);
    feed(WARD_DIR_OUTBOUND, p, n, T0 + 2000);
    feed(WARD_DIR_OUTBOUND, p, 5, T0 + 2000);
    uint32_t tracked = agent.flow_count; /* all of them, unless the probe bound is tiny */

    assert_int_equal(ward_agent_flush(&agent, T0 + 60000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    size_t parts = tt.nparts;
    assert_true(parts > 1);
    printf("%d flows in %zu parts of at most %d bytes\n", WARD_MAX_FLOWS, parts,
           WARD_REPORT_MIN_BUFFER);
    ks.n = 0;
    collect(0, 1);
    assert_int_equal(ks.n, tracked); /* every flow, exactly once */
    for (size_t i = 0; i < parts; i++) {
        assert_true(tt.lens[i] <= WARD_REPORT_MIN_BUFFER);
        const tu_report_t *r = tu_decode(tt.parts[i], tt.lens[i]);
        assert_int_equal(r->part_i, i);
        assert_int_equal(r->part_n, parts);
        assert_int_equal(r->seq, 0);
        assert_true(r->start == T0);
        assert_true(r->end == T0 + 60000);
        assert_int_equal(r->nlocal, 2);
        assert_int_equal(r->novf > 0, i == 0);
        assert_int_equal(r->has_malformed, i == 0);
        assert_int_equal(r->has_counters, i == 0);
        if (i == 0)
            assert_int_equal(r->counters[WARD_CTR_REPORTS_SPLIT], 1);
    }
    /* Everything was settled: the next report is empty, and a single part. */
    assert_int_equal(ward_agent_flush(&agent, T0 + 61000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    assert_int_equal(tt.nparts, parts + 1);
    const tu_report_t *r = last_part();
    assert_int_equal(r->nflows, 0);
    assert_int_equal(r->novf, 0);
    assert_false(r->has_malformed);
    assert_int_equal(r->part_n, 1);
    assert_int_equal(r->seq, 1);
}

static void test_transport_later(void **state)
{
    (void)state;
    tcp_conn4(1, 40000, 2, T0 + 1000);
    tt.accept = 0; /* "try later" */
    assert_int_equal(ward_agent_flush(&agent, T0 + 60000, buf, sizeof buf), WARD_E_AGAIN);
    assert_int_equal(tt.calls, 1);
    assert_int_equal(tt.nparts, 0);
    tcp_conn4(1, 40000, 1, T0 + 90000); /* same flow, more packets */
    tcp_conn4(2, 40001, 1, T0 + 95000);
    tt.accept = -1;
    assert_int_equal(ward_agent_flush(&agent, T0 + 120000, buf, sizeof buf), WARD_OK);
    const tu_report_t *r = last_part();
    assert_int_equal(r->seq, 0);            /* the refused attempt was never seen */
    assert_true(r->start == T0);           /* the longer period */
    assert_true(r->end == T0 + 120000);
    const tu_flow_t *f = find_flow(r, 6, 40000, 443);
    assert_non_null(f);
    assert_int_equal(f->v[WARD_FP_PACKETS_OUT], 3 + 2); /* nothing lost */
    assert_int_equal(f->v[WARD_FP_FIRST], 1);
    assert_int_equal(f->v[WARD_FP_LAST], 92);
    assert_non_null(find_flow(r, 6, 40001, 443));
}

static void test_partial_accept(void **state)
{
    (void)state;
    uint64_t sent = 0;
    for (unsigned i = 0; i < 40; i++)
        tcp_conn4(i, (uint16_t)(40000 + i), 1, T0 + 1000);
    sent = agent.counters[WARD_CTR_PACKETS];
    tt.accept = 1; /* part 0 only */
    assert_int_equal(ward_agent_flush(&agent, T0 + 60000, buf, WARD_REPORT_MIN_BUFFER),
                     WARD_E_AGAIN);
    assert_int_equal(tt.nparts, 1);
    assert_int_equal(tu_decode(tt.parts[0], tt.lens[0])->seq, 0);
    tt.accept = -1;
    assert_int_equal(ward_agent_flush(&agent, T0 + 70000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    const tu_report_t *r = tu_decode(tt.parts[1], tt.lens[1]);
    assert_int_equal(r->seq, 1);    /* seq 0 was seen (its part 0): a new one */
    assert_true(r->start == T0);    /* oldest unreported data */
    ks.n = 0;
    collect(0, 0);
    assert_int_equal(ks.n, 40); /* every flow once across both reports: counts add up */
    uint64_t total = 0;
    for (size_t i = 0; i < ks.n; i++) {
        assert_int_equal(ks.pkts[i], 4);
        total += ks.pkts[i];
    }
    assert_int_equal(total, sent);
}

static void test_transport_failure(void **state)
{
    (void)state;
    tcp_conn4(1, 40000, 1, T0 + 1000);
    tt.accept = 0;
    tt.refuse_ret = -5;
    assert_int_equal(ward_agent_flush(&agent, T0 + 60000, buf, sizeof buf), WARD_E_AGAIN);
    tt.accept = -1;
    assert_int_equal(ward_agent_flush(&agent, T0 + 70000, buf, sizeof buf), WARD_OK);
    const tu_report_t *r = last_part();
    assert_int_equal(r->counters[WARD_CTR_PUBLISH_FAILED], 1);
    assert_int_equal(r->nflows, 1);
}

static void test_poll_schedule(void **state)
{
    (void)state;
    uint64_t iv = WARD_REPORT_INTERVAL_S * 1000ull;
    assert_int_equal(ward_agent_poll(&agent, T0 + 1000, buf, sizeof buf), WARD_NOTHING);
    assert_int_equal(ward_agent_poll(&agent, T0 + iv - 1, buf, sizeof buf), WARD_NOTHING);
    assert_int_equal(ward_agent_poll(&agent, T0 + iv, buf, sizeof buf), WARD_OK);
    assert_int_equal(tt.nparts, 1);
    assert_int_equal(ward_agent_poll(&agent, T0 + iv + 1000, buf, sizeof buf), WARD_NOTHING);
    /* Refused: retried after WARD_REPORT_RETRY_S, not at every poll. */
    tt.accept = 0;
    assert_int_equal(ward_agent_poll(&agent, T0 + 2 * iv, buf, sizeof buf), WARD_E_AGAIN);
    size_t calls = tt.calls;
    assert_int_equal(
        ward_agent_poll(&agent, T0 + 2 * iv + WARD_REPORT_RETRY_S * 1000 - 1, buf, sizeof buf),
        WARD_NOTHING);
    assert_int_equal(tt.calls, calls);
    tt.accept = -1;
    assert_int_equal(
        ward_agent_poll(&agent, T0 + 2 * iv + WARD_REPORT_RETRY_S * 1000, buf, sizeof buf),
        WARD_OK);
    const tu_report_t *r = last_part();
    assert_int_equal(r->seq, 1);
    assert_true(r->start == T0 + iv);
}

static void test_args(void **state)
{
    (void)state;
    assert_int_equal(ward_agent_poll(&agent, T0, buf, WARD_REPORT_MIN_BUFFER - 1), WARD_E_BUFFER);
    assert_int_equal(ward_agent_flush(&agent, T0, buf, WARD_REPORT_MIN_BUFFER - 1),
                     WARD_E_BUFFER);
    assert_int_equal(ward_agent_poll(NULL, T0, buf, sizeof buf), WARD_E_ARG);
    assert_int_equal(ward_agent_poll(&agent, T0, NULL, sizeof buf), WARD_E_ARG);
    assert_int_equal(ward_agent_flush(NULL, T0, buf, sizeof buf), WARD_E_ARG);
    assert_int_equal(ward_agent_note(NULL, WARD_CTR_MSGS_SENT, 1), WARD_E_ARG);
    assert_int_equal(ward_agent_note(&agent, WARD_CTR_PACKETS, 1), WARD_E_ARG);
    assert_int_equal(ward_agent_note(&agent, -1, 1), WARD_E_ARG);

    ward_agent_t a;
    ward_agent_config_t cfg;
    ward_agent_config_init(&cfg);
    cfg.transport = &tt.t;
    assert_int_equal(ward_agent_init(&a, &cfg, 0), WARD_E_ARG); /* no device id */
    cfg.device_id = "";
    assert_int_equal(ward_agent_init(&a, &cfg, 0), WARD_E_ARG);
    cfg.device_id = "bad id";
    assert_int_equal(ward_agent_init(&a, &cfg, 0), WARD_E_ARG);
    cfg.device_id = "a234567890123456789012345678901234567890123456789012345678901234";
    assert_int_equal(ward_agent_init(&a, &cfg, 0), WARD_OK); /* 64 characters */
    cfg.device_id = "a2345678901234567890123456789012345678901234567890123456789012345";
    assert_int_equal(ward_agent_init(&a, &cfg, 0), WARD_E_ARG); /* 65 */
    cfg.device_id = "Sensor_0042.eu-1";
    assert_int_equal(ward_agent_init(&a, &cfg, 0), WARD_OK);
    cfg.report_interval_s = 0;
    assert_int_equal(ward_agent_init(&a, &cfg, 0), WARD_E_ARG);
    cfg.report_interval_s = 60;
    cfg.time_base = 2;
    assert_int_equal(ward_agent_init(&a, &cfg, 0), WARD_E_ARG);
    cfg.time_base = WARD_TIME_BOOT;
    cfg.transport = NULL;
    assert_int_equal(ward_agent_init(&a, &cfg, 0), WARD_E_ARG);
    assert_int_equal(ward_agent_init(NULL, &cfg, 0), WARD_E_ARG);
    assert_int_equal(ward_agent_init(&a, NULL, 0), WARD_E_ARG);
}

static void test_note_and_time_base(void **state)
{
    (void)state;
    ward_agent_config_t cfg;
    ward_agent_config_init(&cfg);
    cfg.device_id = "dev-2";
    cfg.time_base = WARD_TIME_BOOT;
    cfg.report_interval_s = 30;
    cfg.transport = &tt.t;
    assert_int_equal(ward_agent_init(&agent, &cfg, 5000), WARD_OK);
    assert_int_equal(ward_agent_note(&agent, WARD_CTR_MSGS_SENT, 3), WARD_OK);
    assert_int_equal(ward_agent_note(&agent, WARD_CTR_AUTH_FAILURES, 1), WARD_OK);
    assert_int_equal(ward_agent_flush(&agent, 9000, buf, sizeof buf), WARD_OK);
    const tu_report_t *r = last_part();
    assert_int_equal(r->time_base, WARD_TIME_BOOT);
    assert_int_equal(r->interval, 30);
    assert_int_equal(r->counters[WARD_CTR_MSGS_SENT], 3);
    assert_int_equal(r->counters[WARD_CTR_AUTH_FAILURES], 1);
    assert_int_equal(r->counters[WARD_CTR_MSGS_RECEIVED], 0);
}

static void test_overflow_reported(void **state)
{
    (void)state;
    uint8_t p[2048], r4[4];
    for (unsigned i = 0; agent.flow_count < WARD_MAX_FLOWS; i++)
        tcp_conn4(i, (uint16_t)(30000 + i), 0, T0 + 1000);
    /* A small probe bound may have sent some to the summary already: start it afresh. */
    assert_int_equal(ward_agent_flush(&agent, T0 + 1500, buf, sizeof buf), WARD_OK);
    uint64_t dropped = agent.counters[WARD_CTR_FLOWS_DROPPED];
    for (unsigned i = 0; i < WARD_MAX_FLOWS; i++) {
        const ward__flow_t *f = &agent.flows[i];
        size_t n = tu_v4_tcp(p, TU_DEV4, f->remote, f->local_port, f->remote_port, TU_TCP_ACK, 0);
        feed(WARD_DIR_OUTBOUND, p, n, T0 + 1800);
    }
    for (unsigned i = 0; i < 5; i++) {
        tu_remote4(r4, 500 + i);
        size_t n = tu_v4_udp(p, r4, TU_DEV4, 53, 9999, 30);
        feed(WARD_DIR_INBOUND, p, n, T0 + 2000);
        feed(WARD_DIR_INBOUND, p, n, T0 + 2000);
    }
    assert_int_equal(ward_agent_flush(&agent, T0 + 60000, buf, sizeof buf), WARD_OK);
    const tu_report_t *r = last_part();
    assert_int_equal(r->nflows, WARD_MAX_FLOWS);
    assert_int_equal(r->novf, 1);
    assert_int_equal(r->ovf[0][WARD_OP_PROTO], WARD_IPPROTO_UDP);
    assert_int_equal(r->ovf[0][WARD_OP_DIRECTION], WARD_DIR_INBOUND);
    assert_int_equal(r->ovf[0][WARD_OP_PACKETS], 10);
    assert_int_equal(r->ovf[0][WARD_OP_BYTES], 10 * 58);
    assert_true(r->ovf[0][WARD_OP_FLOWS] >= (WARD_OVERFLOW_FILTER_BITS >= 256 ? 4u : 1u) &&
                r->ovf[0][WARD_OP_FLOWS] <= 5);
    assert_int_equal(r->counters[WARD_CTR_FLOWS_DROPPED], dropped + r->ovf[0][WARD_OP_FLOWS]);
    /* Settled and emptied; all flows were active, so none evicted, and the table stays full. */
    assert_int_equal(agent.flow_count, WARD_MAX_FLOWS);
    assert_int_equal(ward_agent_flush(&agent, T0 + 120000, buf, sizeof buf), WARD_OK);
    r = last_part();
    assert_int_equal(r->novf, 0);
    assert_int_equal(r->nflows, 0);
    /* Idle for a whole period now: evicted, and a new flow gets a slot again. */
    assert_int_equal(agent.flow_count, 0);
    tu_remote4(r4, 500);
    size_t n = tu_v4_udp(p, r4, TU_DEV4, 53, 9999, 30);
    feed(WARD_DIR_INBOUND, p, n, T0 + 130000);
    assert_int_equal(agent.flow_count, 1);
}

static void test_split_items(void **state)
{
    (void)state;
    uint8_t p[2048], r4[4], l4[8] = {0};
    for (unsigned i = 0; agent.flow_count < WARD_MAX_FLOWS; i++)
        tcp_conn6(i, (uint16_t)(30000 + i), 1, T0 + 1000);
    /* Fill every overflow entry (both directions, many protocols) with large counts, and every
     * malformed reason: more than one small part holds besides the header. */
    uint64_t ovf_pkts = 0, ovf_bytes = 0;
    tu_remote4(r4, 77);
    for (unsigned proto = 140; proto < 140 + WARD_OVERFLOW_SLOTS; proto++) {
        for (int dir = WARD_DIR_OUTBOUND; dir <= WARD_DIR_INBOUND; dir++) {
            size_t n = tu_ipv4(p, dir == WARD_DIR_OUTBOUND ? TU_DEV4 : r4,
                               dir == WARD_DIR_OUTBOUND ? r4 : TU_DEV4, (uint8_t)proto, 0, 0, l4,
                               sizeof l4);
            p[2] = 0xff; /* IP length 65535 with 28 bytes captured: big byte counts */
            p[3] = 0xff;
            for (unsigned k = 0; k < 300; k++) {
                assert_int_equal(feed(dir, p, n, T0 + 2000), WARD_OK);
                ovf_pkts++;
                ovf_bytes += 65535;
            }
        }
    }
    size_t n = tu_v4_tcp(p, TU_DEV4, r4, 1, 2, 0, 0);
    uint8_t q[64];
    memcpy(q, p, n);
    feed(WARD_DIR_INBOUND, q, 10, T0); /* truncated */
    q[0] = 0x30;
    feed(WARD_DIR_INBOUND, q, n, T0); /* bad version */
    q[0] = 0x44;
    feed(WARD_DIR_INBOUND, q, n, T0); /* bad IHL */
    memcpy(q, p, n);
    q[32] = 0x30;
    feed(WARD_DIR_INBOUND, q, n, T0); /* TCP data offset 3 */

    assert_int_equal(ward_agent_flush(&agent, T0 + 60000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    tu_totals_t t;
    tu_totals(&tt, 0, &t);
    assert_int_equal(t.ovf_pkts, ovf_pkts);
    assert_int_equal(t.ovf_bytes, ovf_bytes);
    size_t entries = 0, with_ovf = 0;
    uint64_t bad = 0;
    for (size_t i = 0; i < tt.nparts; i++) {
        const tu_report_t *r = tu_decode(tt.parts[i], tt.lens[i]);
        assert_true(tt.lens[i] <= WARD_REPORT_MIN_BUFFER);
        assert_int_equal(r->part_n, tt.nparts);
        entries += r->novf;
        with_ovf += r->novf > 0;
        for (unsigned k = 0; k < WARD_MF_COUNT_; k++)
            bad += r->malformed[k];
    }
    assert_int_equal(entries, WARD_OVERFLOW_SLOTS); /* every entry once, over several parts */
    if (WARD_OVERFLOW_SLOTS * 20 > WARD_REPORT_MIN_BUFFER)
        assert_true(with_ovf > 1); /* they cannot all fit in one part */
    assert_int_equal(bad, 4);
    printf("%u overflow entries and %d flows in %zu parts\n", WARD_OVERFLOW_SLOTS, WARD_MAX_FLOWS,
           tt.nparts);
    /* All settled. */
    assert_int_equal(ward_agent_flush(&agent, T0 + 61000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    const tu_report_t *r = last_part();
    assert_int_equal(r->novf, 0);
    assert_false(r->has_malformed);
}

/* Small xorshift generator: the test is reproducible. */
static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void test_invariant_random(void **state)
{
    (void)state;
    uint64_t acc_pkts = 0, acc_bytes = 0, bad = 0, reported_bad = 0;
    uint64_t now = T0;
    size_t settled_from = 0;
    uint8_t p[256], l4[64], a4[4], a6[16], loc4[4], loc6[16];
    for (unsigned round = 0; round < 60; round++) {
        unsigned npk = rnd() % 400;
        for (unsigned i = 0; i < npk; i++) {
            now += rnd() % 300;
            unsigned kind = rnd() % 10;
            int dir = (rnd() & 1) ? WARD_DIR_OUTBOUND : WARD_DIR_INBOUND;
            unsigned rem = rnd() % 150; /* more remotes than flow slots */
            uint16_t sp = (uint16_t)(1000 + rnd() % 4), dp = (uint16_t)(80 + rnd() % 3);
            memcpy(loc4, TU_DEV4, 4);
            loc4[3] = (uint8_t)(10 + rnd() % 6); /* more local addresses than slots */
            memcpy(loc6, TU_DEV6, 16);
            tu_remote4(a4, rem);
            tu_remote6(a6, rem);
            size_t n, m;
            int six = kind >= 5;
            switch (kind % 5) {
            case 0: m = tu_tcp(l4, sp, dp, (uint8_t)(rnd() & 0x3f), rnd() % 20); break;
            case 1: m = tu_udp(l4, sp, dp, rnd() % 20); break;
            case 2: m = tu_icmp(l4, (uint8_t)(rnd() % 3), 0, 8); break;
            default: m = 8; memset(l4, 0, 8); break;
            }
            uint8_t proto = kind % 5 == 0 ? 6 : kind % 5 == 1 ? 17
                          : kind % 5 == 2 ? (six ? 58 : 1) : (uint8_t)(rnd() % 3 ? 47 : 132);
            const uint8_t *s4 = dir == WARD_DIR_OUTBOUND ? loc4 : a4;
            const uint8_t *d4 = dir == WARD_DIR_OUTBOUND ? a4 : loc4;
            const uint8_t *s6 = dir == WARD_DIR_OUTBOUND ? loc6 : a6;
            const uint8_t *d6 = dir == WARD_DIR_OUTBOUND ? a6 : loc6;
            if (six)
                n = tu_ipv6(p, s6, d6, proto, NULL, 0, l4, m);
            else
                n = tu_ipv4(p, s4, d4, proto, 0, (uint16_t)(rnd() % 8 == 0 ? 0x2000 | 7 : 0), l4,
                            m);
            size_t cut = rnd() % 6 == 0 ? rnd() % (n + 1) : n; /* some truncated */
            ward__pkt_t pk;
            int reason;
            ward_status_t want = ward__packet_parse(p, cut, &pk, &reason);
            ward_status_t st = feed(dir, p, cut, now);
            assert_int_equal(st, want);
            if (st == WARD_OK) {
                acc_pkts++;
                acc_bytes += pk.ip_len;
            } else {
                bad++;
            }
        }
        /* The transport: accepts, refuses, or accepts some parts. */
        unsigned mode = rnd() % 4;
        tt.accept = mode == 0 ? 0 : mode == 1 ? (int)(rnd() % 3) : -1;
        tt.refuse_ret = (rnd() & 1) ? 0 : -1;
        size_t cap = WARD_REPORT_MIN_BUFFER + rnd() % 1800;
        now += 1000;
        ward_status_t st = ward_agent_flush(&agent, now, buf, cap);
        assert_true(st == WARD_OK || st == WARD_E_AGAIN);
        for (size_t i = settled_from; i < tt.nparts; i++) {
            const tu_report_t *r = tu_decode(tt.parts[i], tt.lens[i]);
            for (unsigned k = 0; k < WARD_MF_COUNT_; k++)
                reported_bad += r->malformed[k];
        }
        settled_from = tt.nparts;
    }
    tt.accept = -1;
    assert_int_equal(ward_agent_flush(&agent, now + 1000, buf, WARD_REPORT_MIN_BUFFER + 44), WARD_OK);
    for (size_t i = settled_from; i < tt.nparts; i++) {
        const tu_report_t *r = tu_decode(tt.parts[i], tt.lens[i]);
        for (unsigned k = 0; k < WARD_MF_COUNT_; k++)
            reported_bad += r->malformed[k];
    }
    tu_totals_t t;
    tu_totals(&tt, 0, &t);
    printf("random: %llu packets accepted (%llu in flows, %llu in the summary), %llu malformed, "
           "%zu parts\n",
           (unsigned long long)acc_pkts, (unsigned long long)t.flow_pkts,
           (unsigned long long)t.ovf_pkts, (unsigned long long)bad, tt.nparts);
    assert_int_equal(t.flow_pkts + t.ovf_pkts, acc_pkts);
    assert_int_equal(t.flow_bytes + t.ovf_bytes, acc_bytes);
    assert_int_equal(reported_bad, bad);
    assert_true(t.ovf_pkts > 0);

    /* seq: equal within a report's parts, increasing across reports. */
    uint64_t prev_seq = 0;
    int first = 1;
    for (size_t i = 0; i < tt.nparts; i++) {
        const tu_report_t *r = tu_decode(tt.parts[i], tt.lens[i]);
        if (r->part_i == 0) {
            if (!first)
                assert_true(r->seq > prev_seq);
            first = 0;
        } else {
            assert_int_equal(r->seq, prev_seq);
        }
        prev_seq = r->seq;
    }
}

/* ward__div1000: 64-bit ms to s with 32-bit divisions only (no libgcc routine on Cortex-M). */
/* A transport that, once armed, counts one packet (flow of remote 1, port 40001) inside publish(),
 * as a hook in an interrupt would while a report is being sent, then hands the part on to tt. */
static int hook_armed;
static uint64_t hook_now;

static int32_t publish_with_hook(void *ctx, const uint8_t *b, size_t len, int priority)
{
    uint8_t p[128], r[4];
    (void)ctx;
    if (hook_armed) {
        hook_armed = 0;
        tu_remote4(r, 1);
        size_t k = tu_v4_tcp(p, r, TU_DEV4, 443, 40001, TU_TCP_ACK, 10);
        assert_int_equal(feed(WARD_DIR_INBOUND, p, k, hook_now), WARD_OK);
    }
    return tt.t.publish(tt.t.ctx, b, len, priority);
}

static const tu_flow_t *flow_by_port(const tu_report_t *r, uint64_t lport)
{
    for (size_t i = 0; i < r->nflows; i++)
        if (r->flows[i].v[WARD_FP_LOCAL_PORT] == lport)
            return &r->flows[i];
    fail();
    return NULL;
}

/* Flow times are 16-bit seconds from the period start (agent_types.h): a period longer than
 * 65535 s saturates them (first: at most 65535, a lower bound; last: the period end, an upper
 * bound), and the table is rebased to each new period, also for packets counted while the report
 * was being sent. */
static void test_flow_times_long_period(void **state)
{
    (void)state;
    uint8_t p[128], r[4];
    const uint64_t S = 1000; /* ms per s */
    ward_transport_t hooked = {publish_with_hook, NULL};

    tu_remote4(r, 1);
    size_t k = tu_v4_tcp(p, TU_DEV4, r, 40001, 443, TU_TCP_ACK, 10);
    feed(WARD_DIR_OUTBOUND, p, k, T0 + 10 * S);
    feed(WARD_DIR_OUTBOUND, p, k, T0 + 70000 * S); /* last: past 65535 s, saturates */
    tu_remote4(r, 2);
    k = tu_v4_tcp(p, TU_DEV4, r, 40002, 443, TU_TCP_ACK, 10);
    feed(WARD_DIR_OUTBOUND, p, k, T0 + 70000 * S); /* first and last saturate */
    k = tu_v4_tcp(p, TU_DEV4, r, 40003, 443, TU_TCP_ACK, 10);
    feed(WARD_DIR_OUTBOUND, p, k, T0 + 65534 * S); /* just below: exact */

    /* 80000 s without a report (a long transport outage), then one packet counted during the
     * report, after its flow was encoded. */
    agent.transport = &hooked;
    hook_armed = 1;
    hook_now = T0 + 80000 * S + 500;
    assert_int_equal(ward_agent_flush(&agent, T0 + 80000 * S, buf, sizeof buf), WARD_OK);
    const tu_report_t *rep = last_part();
    assert_int_equal((rep->end - rep->start) / S, 80000);
    const tu_flow_t *f = flow_by_port(rep, 40001);
    assert_int_equal(f->v[WARD_FP_PACKETS_OUT], 2);
    assert_int_equal(f->v[WARD_FP_FIRST], 10);
    assert_int_equal(f->v[WARD_FP_LAST], 80000); /* saturated: the period end */
    f = flow_by_port(rep, 40002);
    assert_int_equal(f->v[WARD_FP_FIRST], 65535); /* saturated: a lower bound */
    assert_int_equal(f->v[WARD_FP_LAST], 80000);
    f = flow_by_port(rep, 40003);
    assert_int_equal(f->v[WARD_FP_FIRST], 65534);
    assert_int_equal(f->v[WARD_FP_LAST], 65534);
    assert_int_equal(agent.flow_t0_s, 80000);
    assert_int_equal(agent.flow_rebased, 0);

    /* The next period: times from its start again; the packet counted during the report lies
     * at its start. */
    tu_remote4(r, 2);
    k = tu_v4_tcp(p, TU_DEV4, r, 40002, 443, TU_TCP_ACK, 10);
    feed(WARD_DIR_OUTBOUND, p, k, T0 + 80050 * S);
    feed(WARD_DIR_OUTBOUND, p, k, T0 + 80070 * S);
    assert_int_equal(ward_agent_flush(&agent, T0 + 80100 * S, buf, sizeof buf), WARD_OK);
    rep = last_part();
    assert_int_equal(rep->start, T0 + 80000 * S);
    f = flow_by_port(rep, 40001);
    assert_int_equal(f->v[WARD_FP_PACKETS_IN], 1);
    assert_int_equal(f->v[WARD_FP_PACKETS_OUT], 0);
    assert_int_equal(f->v[WARD_FP_FIRST], 0);
    assert_int_equal(f->v[WARD_FP_LAST], 0);
    f = flow_by_port(rep, 40002);
    assert_int_equal(f->v[WARD_FP_FIRST], 50);
    assert_int_equal(f->v[WARD_FP_LAST], 70);
}

static void test_div1000(void **state)
{
    (void)state;
    static const uint64_t edge[] = {0, 1, 999, 1000, 1001, 7999, 8000, 0xffffffffull,
                                    0x100000000ull, 0x1000000000000ull, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        assert_true(ward__div1000(edge[i]) == edge[i] / 1000u);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v = x >> (i % 64);
        assert_true(ward__div1000(v) == v / 1000u);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flows_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wire_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deltas_and_continued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_accept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_schedule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_note_and_time_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invariant_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flow_times_long_period, setup, teardown),
        cmocka_unit_test(test_div1000),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
