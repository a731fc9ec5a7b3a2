/*
 * The threading model (docs/agent.md, "Threading model"), tested with two threads and, in its own
 * CTest test, under ThreadSanitizer. ward-test: host-only (pthreads).
 *
 * The critical section is a pthread mutex (threads/ward_config.h, found first on the include path
 * of this test's own build of the core). A hook thread feeds a fixed, deterministic mix of packets
 * (IPv4 and IPv6, TCP, UDP, ICMP, fragments, malformed ones, far more flows than the table holds,
 * some matching the deny-list), counting what the hook accepted. Meanwhile the main thread (the
 * report side) polls, flushes into a transport that decodes every part and sums its flows and
 * overflow summary, sometimes refuses parts (data kept), applies configs that change the deny-list
 * and the interval, and sets metrics. At the end the sums over every accepted part equal what the
 * hook accepted: packets and bytes, nothing lost and nothing twice, with the tables swapped,
 * evicted and split under the hook's feet.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"

#define T0 1700000000000ull
#define PACKETS 200000u
#define KINDS 509u /* distinct packets in the mix (a prime: the mix does not line up with flows) */

pthread_mutex_t ward_test_lock = PTHREAD_MUTEX_INITIALIZER;

static ward_agent_t agent;
static uint8_t pkts[KINDS][160];
static size_t lens[KINDS];
static uint8_t dirs[KINDS];

/* What the hook accepted (hook thread writes; read after join). */
static uint64_t hook_pkts, hook_bytes, hook_drops, hook_malformed;
static atomic_int hook_done;
static atomic_uint_fast64_t hook_clock;

/* What the transport saw (report side). */
static uint64_t rep_pkts, rep_bytes, rep_parts, rep_refused, rep_priority, rep_detect;

static uint32_t ip_len_of(const uint8_t *p)
{
    return (p[0] >> 4) == 4 ? ((uint32_t)p[2] << 8 | p[3]) : 40u + ((uint32_t)p[4] << 8 | p[5]);
}

static void build_mix(void)
{
    uint8_t l4[64], r4[4], r6[16];
    for (unsigned i = 0; i < KINDS; i++) {
        unsigned remote = i % 97; /* 97 remotes x protocols: more flows than WARD_MAX_FLOWS */
        uint8_t *p = pkts[i];
        dirs[i] = (i & 1) ? WARD_DIR_OUTBOUND : WARD_DIR_INBOUND;
        tu_remote4(r4, remote);
        tu_remote6(r6, remote);
        const uint8_t *s4 = dirs[i] == WARD_DIR_OUTBOUND ? TU_DEV4 : r4;
        const uint8_t *d4 = dirs[i] == WARD_DIR_OUTBOUND ? r4 : TU_DEV4;
        const uint8_t *s6 = dirs[i] == WARD_DIR_OUTBOUND ? TU_DEV6 : r6;
        const uint8_t *d6 = dirs[i] == WARD_DIR_OUTBOUND ? r6 : TU_DEV6;
        switch (i % 7) {
        case 0:
        case 1:
            lens[i] = tu_v4_tcp(p, s4, d4, 40000, 8883, TU_TCP_ACK, i % 50);
            break;
        case 2:
            lens[i] = tu_v6_tcp(p, s6, d6, 40000, 443, TU_TCP_ACK | TU_TCP_PSH, i % 30);
            break;
        case 3:
            lens[i] = tu_v4_udp(p, s4, d4, 5353, 53, i % 40);
            break;
        case 4:
            lens[i] = tu_v6_udp(p, s6, d6, 5683, 5683, 12);
            break;
        case 5: {
            size_t k = tu_icmp(l4, 8, 0, 16);
            lens[i] = tu_ipv4(p, s4, d4, WARD_IPPROTO_ICMP, 0, (i & 2) ? 0x0010 : 0, l4, k);
            break; /* every other one a later fragment: the overflow summary's protocol 0 */
        }
        default:
            lens[i] = tu_v4_udp(p, s4, d4, 1, 2, 4);
            if (i % 3 == 0)
                p[0] = 0x35; /* IHL 5, version 3: malformed, counted by reason only */
            break;
        }
    }
}

static void *hook_thread(void *arg)
{
    (void)arg;
    for (unsigned n = 0; n < PACKETS; n++) {
        unsigned i = (n * 31u) % KINDS;
        uint64_t now = T0 + n / 20u; /* 20 packets per ms: the run spans 10 s of agent time */
        atomic_store(&hook_clock, now);
        ward_status_t st = ward_agent_on_packet(&agent, dirs[i], pkts[i], lens[i], now);
        if (st == WARD_OK || st == WARD_DROP) {
            hook_pkts++;
            hook_bytes += ip_len_of(pkts[i]);
            hook_drops += st == WARD_DROP;
        } else {
            hook_malformed++;
        }
    }
    atomic_store(&hook_done, 1);
    return NULL;
}

static int32_t sum_publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    (void)ctx;
    /* Refuse one part in eleven: the core keeps that data for the next report. */
    if (++rep_parts % 11 == 0) {
        rep_refused++;
        return 0;
    }
    const tu_report_t *r = tu_decode(buf, len);
    assert_int_equal(r->priority, priority != 0);
    rep_priority += r->priority;
    for (size_t j = 0; j < r->nflows; j++) {
        const tu_flow_t *f = &r->flows[j];
        rep_pkts += f->v[WARD_FP_PACKETS_OUT] + f->v[WARD_FP_PACKETS_IN];
        rep_bytes += f->v[WARD_FP_BYTES_OUT] + f->v[WARD_FP_BYTES_IN];
    }
    for (size_t j = 0; j < r->novf; j++) {
        rep_pkts += r->ovf[j][WARD_OP_PACKETS];
        rep_bytes += r->ovf[j][WARD_OP_BYTES];
    }
    for (size_t j = 0; j < r->ndetect; j++)
        rep_detect += r->detect[j].v[WARD_DP_COUNT];
    return (int32_t)len;
}

/* Config revision rev: a deny-list (203.0.113.0/26 drop, 2001:db8:ff::/120 alert) on odd
 * revisions, none on even ones; the interval alternates between 10 and 20 s. */
static void apply_rev(uint64_t rev, uint64_t now)
{
    static const uint8_t with[] = {
        0xa4, 0x00, 0x82, 0x01, 0x00, 0x01, 0x00 /* patched */, 0x02, 0x0a, 0x04, 0x82,
        0x83, 0x44, 203, 0, 113, 0, 0x18, 0x1a, 0x01,
        0x83, 0x50, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x78, 0x00,
    };
    static const uint8_t without[] = {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x00, 0x02, 0x14};
    uint8_t msg[sizeof with];
    size_t n = (rev & 1) ? sizeof with : sizeof without;
    memcpy(msg, (rev & 1) ? with : without, n);
    msg[6] = (uint8_t)(1 + rev % 23); /* revision 1..23: an inline uint */
    assert_int_equal(ward_agent_apply_config(&agent, msg, n, now), WARD_OK);
}

static void test_two_threads(void **state)
{
    (void)state;
    static uint8_t buf[WARD_REPORT_BUFFER_SIZE];
    static const ward_transport_t t = {sum_publish, NULL};
    ward_agent_config_t cfg;
    pthread_t th;

    build_mix();
    ward_agent_config_init(&cfg);
    cfg.device_id = "threads-1";
    cfg.boot_id = 42;
    cfg.transport = &t;
    assert_int_equal(ward_agent_init(&agent, &cfg, T0), WARD_OK);
    assert_int_equal(pthread_create(&th, NULL, hook_thread, NULL), 0);

    unsigned loops = 0;
    uint64_t rev = 1;
    while (!atomic_load(&hook_done)) {
        uint64_t now = atomic_load(&hook_clock);
        /* Small buffers now and then: reports split while the hook adds flows. */
        size_t cap = loops % 5 == 0 ? WARD_REPORT_MIN_BUFFER : sizeof buf;
        if (loops % 3 == 0)
            (void)ward_agent_flush(&agent, now, buf, cap);
        else
            (void)ward_agent_poll(&agent, now, buf, cap);
        if (loops % 17 == 0)
            apply_rev(rev++, now);
        if (loops % 7 == 0)
            assert_int_equal(ward_agent_metric_set(&agent, "loops", loops), WARD_OK);
        assert_int_equal(ward_agent_note(&agent, WARD_CTR_MSGS_SENT, 1), WARD_OK);
        loops++;
    }
    assert_int_equal(pthread_join(th, NULL), 0);

    /* Drain: flush until a report goes through whole (the transport refuses 1 part in 11). */
    uint64_t now = T0 + 3600000;
    ward_status_t st = WARD_E_AGAIN;
    for (int i = 0; i < 100 && st != WARD_OK; i++)
        st = ward_agent_flush(&agent, now + (uint64_t)i * 1000, buf, sizeof buf);
    assert_int_equal(st, WARD_OK);
    /* Once more: a second complete report proves nothing was left behind. */
    uint64_t before = rep_pkts;
    for (int i = 0; i < 100; i++) {
        st = ward_agent_flush(&agent, now + 200000 + (uint64_t)i * 1000, buf, sizeof buf);
        if (st == WARD_OK)
            break;
    }
    assert_int_equal(st, WARD_OK);
    assert_int_equal(rep_pkts, before);

    printf("threads: %u report loops, %llu parts (%llu refused, %llu priority); hook: %llu packets"
           " (%llu dropped by the deny-list), %llu malformed; reported %llu packets, %llu bytes;"
           " %llu detections counted\n",
           loops, (unsigned long long)rep_parts, (unsigned long long)rep_refused,
           (unsigned long long)rep_priority, (unsigned long long)hook_pkts,
           (unsigned long long)hook_drops, (unsigned long long)hook_malformed,
           (unsigned long long)rep_pkts, (unsigned long long)rep_bytes,
           (unsigned long long)rep_detect);
    assert_true(hook_malformed > 0);
    assert_int_equal(rep_pkts, hook_pkts);
    assert_int_equal(rep_bytes, hook_bytes);
    assert_int_equal(agent.counters[WARD_CTR_PACKETS], PACKETS);
    assert_int_equal(agent.counters[WARD_CTR_PACKETS_MALFORMED], hook_malformed);
    assert_true(agent.counters[WARD_CTR_FLOWS_DROPPED] > 0); /* the overflow summary was used */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
