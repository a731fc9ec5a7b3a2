/*
 * On-device detection: deny-list hits (IPv4 and IPv6 CIDRs, alert and drop), the detection table
 * (repeats counted, not duplicated; full table counted), priority reports (sent at the next poll,
 * without waiting for the interval; retried when refused), and "nothing lost" across a transport
 * that is down and comes back.
 */
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "ward_cbor.h"

#define T0 1700000000000ull

static ward_agent_t agent;
static tu_transport_t tt;
static uint8_t buf[8192];

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

/* Deny-list: rule 0 203.0.113.0/24 alert, rule 1 2001:db8:ff::/48 drop, rule 2 198.51.100.7/32
 * drop, rule 3 10.0.0.0/9 alert (a prefix that is not a whole number of bytes). */
static void apply_deny(void)
{
    static const uint8_t msg[] = {
        0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x03, 0x04, 0x84,
        0x83, 0x44, 203, 0, 113, 0, 0x18, 0x18, 0x00,
        0x83, 0x50, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x30, 0x01,
        0x83, 0x44, 198, 51, 100, 7, 0x18, 0x20, 0x01,
        0x83, 0x44, 10, 0, 0, 0, 0x09, 0x00,
    };
    assert_int_equal(ward_agent_apply_config(&agent, msg, sizeof msg, T0), WARD_OK);
    assert_int_equal(agent.deny_count, 4);
}

static ward_status_t udp4(int dir, const uint8_t remote[4], uint16_t lport, uint16_t rport,
                          uint64_t now)
{
    uint8_t p[128];
    size_t k = dir == WARD_DIR_OUTBOUND ? tu_v4_udp(p, TU_DEV4, remote, lport, rport, 10)
                                        : tu_v4_udp(p, remote, TU_DEV4, rport, lport, 10);
    return ward_agent_on_packet(&agent, dir, p, k, now);
}

static const tu_report_t *last(void)
{
    return tu_decode(tt.parts[tt.nparts - 1], tt.lens[tt.nparts - 1]);
}

static void test_match_alert_drop(void **state)
{
    (void)state;
    uint8_t p[128];
    apply_deny();
    static const uint8_t in24[4] = {203, 0, 113, 99}, out24[4] = {203, 0, 114, 1};
    static const uint8_t host[4] = {198, 51, 100, 7}, host_next[4] = {198, 51, 100, 8};
    static const uint8_t in9[4] = {10, 127, 1, 1}, out9[4] = {10, 128, 0, 0};

    assert_int_equal(udp4(WARD_DIR_OUTBOUND, in24, 5000, 53, T0 + 1000), WARD_OK);   /* alert */
    assert_int_equal(udp4(WARD_DIR_OUTBOUND, out24, 5000, 53, T0 + 1000), WARD_OK);  /* no */
    assert_int_equal(udp4(WARD_DIR_INBOUND, host, 1883, 40000, T0 + 1000), WARD_DROP);
    assert_int_equal(udp4(WARD_DIR_INBOUND, host_next, 1883, 40000, T0 + 1000), WARD_OK);
    assert_int_equal(udp4(WARD_DIR_OUTBOUND, in9, 1, 2, T0 + 1000), WARD_OK);
    assert_int_equal(udp4(WARD_DIR_OUTBOUND, out9, 1, 2, T0 + 1000), WARD_OK);
    /* The remote address is what is matched: the device's own address never is. */
    size_t k = tu_v4_udp(p, in24, TU_DEV4, 53, 5000, 10);
    assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, p, k, T0 + 1000), WARD_OK);
    /* IPv6, TCP, drop. */
    uint8_t r6[16];
    tu_remote6(r6, 5); /* 2001:db8:ff::5 */
    k = tu_v6_tcp(p, TU_DEV6, r6, 40000, 443, TU_TCP_SYN, 0);
    assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, p, k, T0 + 1000), WARD_DROP);
    r6[5] = 0xfe; /* 2001:db8:fe::5: outside /48 */
    k = tu_v6_tcp(p, TU_DEV6, r6, 40000, 443, TU_TCP_SYN, 0);
    assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, p, k, T0 + 1000), WARD_OK);

    /* A priority report at the next poll, long before the interval. */
    assert_int_equal(ward_agent_poll(&agent, T0 + 1500, buf, sizeof buf), WARD_OK);
    assert_int_equal(tt.nparts, 1);
    const tu_report_t *r = last();
    assert_true(r->priority);
    assert_int_equal(r->config_rev, 3);
    assert_false(r->has_flows); /* header and detections only */
    assert_int_equal(r->ndetect, 4);
    /* In the order of the table: first hit first. */
    assert_int_equal(r->detect[0].v[WARD_DP_RULE], 0);
    assert_int_equal(r->detect[0].v[WARD_DP_DIRECTION], WARD_DIR_OUTBOUND);
    assert_int_equal(r->detect[0].v[WARD_DP_PROTO], WARD_IPPROTO_UDP);
    assert_memory_equal(r->detect[0].remote, in24, 4);
    assert_int_equal(r->detect[0].alen, 4);
    assert_int_equal(r->detect[0].v[WARD_DP_REMOTE_PORT], 53);
    assert_int_equal(r->detect[0].v[WARD_DP_LOCAL_PORT], 5000);
    assert_int_equal(r->detect[0].v[WARD_DP_ACTION], WARD_DENY_ALERT);
    assert_int_equal(r->detect[0].v[WARD_DP_COUNT], 1);
    assert_int_equal(r->detect[0].v[WARD_DP_TIME], 1);
    assert_int_equal(r->detect[1].v[WARD_DP_RULE], 2);
    assert_int_equal(r->detect[1].v[WARD_DP_DIRECTION], WARD_DIR_INBOUND);
    assert_int_equal(r->detect[1].v[WARD_DP_LOCAL_PORT], 1883);
    assert_int_equal(r->detect[1].v[WARD_DP_REMOTE_PORT], 40000);
    assert_int_equal(r->detect[1].v[WARD_DP_ACTION], WARD_DENY_DROP);
    assert_int_equal(r->detect[2].v[WARD_DP_RULE], 3);
    assert_int_equal(r->detect[3].v[WARD_DP_RULE], 1);
    assert_int_equal(r->detect[3].alen, 16);
    assert_int_equal(r->detect[3].v[WARD_DP_PROTO], WARD_IPPROTO_TCP);
    assert_int_equal(tt.calls, 1);

    /* Nothing new: no more priority reports. */
    assert_int_equal(ward_agent_poll(&agent, T0 + 2500, buf, sizeof buf), WARD_NOTHING);

    /* Denied packets are still counted in their flows (the flow shows what was seen). */
    assert_int_equal(ward_agent_flush(&agent, T0 + 3000, buf, sizeof buf), WARD_OK);
    r = last();
    assert_false(r->priority);
    assert_false(r->has_detections); /* all reported already */
    assert_int_equal(r->nflows, 9);
}

static void test_repeats_counted(void **state)
{
    (void)state;
    apply_deny();
    static const uint8_t a[4] = {203, 0, 113, 1}, b[4] = {203, 0, 113, 2};
    for (int i = 0; i < 10; i++)
        assert_int_equal(udp4(WARD_DIR_INBOUND, a, 23, (uint16_t)(40000 + i), T0 + 1000), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 1100, buf, sizeof buf), WARD_OK);
    const tu_report_t *r = last();
    assert_int_equal(r->ndetect, 1);
    assert_int_equal(r->detect[0].v[WARD_DP_COUNT], 10);
    assert_int_equal(r->detect[0].v[WARD_DP_REMOTE_PORT], 40000); /* the first packet's */

    /* Repeats after the priority report: no second priority report; counted in the next
     * regular one. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(udp4(WARD_DIR_INBOUND, a, 23, 41000, T0 + 2000), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 2100, buf, sizeof buf), WARD_NOTHING);
    /* A new remote: a new priority report, with only what is new. */
    assert_int_equal(udp4(WARD_DIR_INBOUND, b, 23, 41000, T0 + 3000), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 3100, buf, sizeof buf), WARD_OK);
    r = last();
    assert_true(r->priority);
    assert_int_equal(r->ndetect, 2);
    uint64_t sum = r->detect[0].v[WARD_DP_COUNT] + r->detect[1].v[WARD_DP_COUNT];
    assert_int_equal(sum, 6);
    /* The regular report at the interval. */
    assert_int_equal(ward_agent_poll(&agent, T0 + 60000, buf, sizeof buf), WARD_OK);
    assert_false(last()->priority);
    assert_false(last()->has_detections);

    /* A new period: the same pair is news again. */
    assert_int_equal(udp4(WARD_DIR_INBOUND, a, 23, 41000, T0 + 61000), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 61100, buf, sizeof buf), WARD_OK);
    assert_true(last()->priority);
}

static void test_table_full(void **state)
{
    (void)state;
    apply_deny();
    uint8_t a[4] = {203, 0, 113, 0};
    for (int i = 0; i < WARD_MAX_DETECTIONS + 3; i++) {
        a[3] = (uint8_t)(i + 1);
        /* Dropped or not, the packet's fate does not depend on the table. */
        assert_int_equal(udp4(WARD_DIR_INBOUND, a, 23, 1, T0 + 1000), WARD_OK);
    }
    assert_int_equal(agent.counters[WARD_CTR_DETECTIONS_LOST], 3);
    assert_int_equal(ward_agent_poll(&agent, T0 + 1100, buf, sizeof buf), WARD_OK);
    assert_int_equal(last()->ndetect, WARD_MAX_DETECTIONS);
    /* Reported entries with nothing new make room for new pairs in the same period. */
    a[3] = 200;
    assert_int_equal(udp4(WARD_DIR_INBOUND, a, 23, 1, T0 + 2000), WARD_OK);
    assert_int_equal(agent.counters[WARD_CTR_DETECTIONS_LOST], 3);
    assert_int_equal(ward_agent_poll(&agent, T0 + 2100, buf, sizeof buf), WARD_OK);
    assert_int_equal(last()->ndetect, 1);
    assert_memory_equal(last()->detect[0].remote, a, 4);
}

static void test_priority_refused_then_sent(void **state)
{
    (void)state;
    apply_deny();
    static const uint8_t a[4] = {203, 0, 113, 1};
    assert_int_equal(udp4(WARD_DIR_OUTBOUND, a, 5000, 53, T0 + 1000), WARD_OK);
    tt.accept = 0;
    assert_int_equal(ward_agent_poll(&agent, T0 + 1100, buf, sizeof buf), WARD_E_AGAIN);
    /* Retried after WARD_REPORT_RETRY_S, not at every poll. */
    size_t calls = tt.calls;
    assert_int_equal(ward_agent_poll(&agent, T0 + 1200, buf, sizeof buf), WARD_NOTHING);
    assert_int_equal(tt.calls, calls);
    tt.accept = -1;
    assert_int_equal(ward_agent_poll(&agent, T0 + 1100 + WARD_REPORT_RETRY_S * 1000, buf,
                                     sizeof buf),
                     WARD_OK);
    assert_true(last()->priority);
    assert_int_equal(last()->detect[0].v[WARD_DP_COUNT], 1);
    assert_int_equal(tt.nparts, 1);
}

static void test_no_list_no_cost(void **state)
{
    (void)state;
    static const uint8_t a[4] = {203, 0, 113, 1};
    /* No config: nothing matches, nothing recorded. */
    assert_int_equal(udp4(WARD_DIR_OUTBOUND, a, 5000, 53, T0 + 1000), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 1100, buf, sizeof buf), WARD_NOTHING);
    /* A config without the list removes it. */
    apply_deny();
    static const uint8_t none[] = {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x04};
    assert_int_equal(ward_agent_apply_config(&agent, none, sizeof none, T0 + 2000), WARD_OK);
    assert_int_equal(agent.deny_count, 0);
    assert_int_equal(udp4(WARD_DIR_OUTBOUND, a, 5000, 53, T0 + 3000), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 3100, buf, sizeof buf), WARD_NOTHING);
}

/* The transport is down for several intervals, with denied and other traffic; when it comes
 * back, the sums over all accepted reports equal what was fed: nothing lost, nothing twice. */
static void test_transport_down_then_up(void **state)
{
    (void)state;
    apply_deny();
    uint8_t r4[4];
    uint64_t fed_pkts = 0, fed_denied = 0;
    tt.accept = 0;
    uint64_t now = T0;
    for (int round = 0; round < 6; round++) {
        for (unsigned i = 0; i < 30; i++) {
            tu_remote4(r4, i + (unsigned)round * 7); /* 203.0.113.x: all denied (alert) */
            if (i % 3 == 0)
                r4[0] = 192; /* not denied */
            else
                fed_denied++;
            now += 100;
            assert_int_equal(udp4(WARD_DIR_OUTBOUND, r4, 5000, 53, now), WARD_OK);
            fed_pkts++;
        }
        now += 30000;
        ward_status_t st = ward_agent_poll(&agent, now, buf, WARD_REPORT_MIN_BUFFER);
        assert_true(st == WARD_E_AGAIN || st == WARD_NOTHING);
    }
    assert_int_equal(tt.nparts, 0);
    tt.accept = -1;
    for (int i = 0; i < 4; i++) {
        now += 61000;
        (void)ward_agent_poll(&agent, now, buf, WARD_REPORT_MIN_BUFFER);
    }
    assert_int_equal(ward_agent_flush(&agent, now + 1000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    tu_totals_t tot;
    tu_totals(&tt, 0, &tot);
    assert_int_equal(tot.flow_pkts + tot.ovf_pkts, fed_pkts);
    uint64_t det = 0, lost = 0;
    int prio = 0;
    for (size_t i = 0; i < tt.nparts; i++) {
        const tu_report_t *r = tu_decode(tt.parts[i], tt.lens[i]);
        prio += r->priority;
        for (size_t j = 0; j < r->ndetect; j++)
            det += r->detect[j].v[WARD_DP_COUNT];
        if (r->has_counters)
            lost = r->counters[WARD_CTR_DETECTIONS_LOST];
    }
    assert_int_equal(det + lost, fed_denied);
    assert_true(prio >= 1);
    printf("down then up: %zu parts, %d priority; %llu packets, %llu denied (%llu recorded)\n",
           tt.nparts, prio, (unsigned long long)fed_pkts, (unsigned long long)fed_denied,
           (unsigned long long)det);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_match_alert_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeats_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority_refused_then_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_list_no_cost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_down_then_up, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
