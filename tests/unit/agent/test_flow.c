/*
 * The flow table through the packet hook: keys and direction, initiators, counters each way,
 * ICMP keys, both families, the overflow summary when the table (or the local address table) is
 * full, fragments, malformed counting, and the hash index staying consistent through removals.
 */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

static ward_agent_t agent;
static tu_transport_t tt;

static int setup(void **state)
{
    (void)state;
    tu_transport_init(&tt);
    tu_agent_init(&agent, &tt, 1000000);
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

static unsigned init_of(const ward__flow_t *f)
{
    return (f->meta & WARD__FM_INIT_MASK) >> WARD__FM_INIT_SHIFT;
}

/* Every flow is reachable through the hash index, and the index holds nothing else. */
static void check_index(const ward_agent_t *a)
{
    uint32_t used = 0;
    for (uint32_t b = 0; b < WARD__FLOW_BUCKETS; b++)
        used += a->buckets[b] != 0;
    assert_int_equal(used, a->flow_count);
    for (uint32_t i = 0; i < a->flow_count; i++)
        assert_int_not_equal(ward__flow_bucket_of(a, i), WARD__FLOW_BUCKETS);
    uint32_t refs[WARD_MAX_LOCAL_ADDRS] = {0};
    for (uint32_t i = 0; i < a->flow_count; i++)
        refs[a->flows[i].meta & WARD__FM_LOCAL_MASK]++;
    for (unsigned i = 0; i < WARD_MAX_LOCAL_ADDRS; i++)
        assert_int_equal(refs[i], a->local_refs[i]);
}

static void test_sizes(void **state)
{
    (void)state;
    printf("sizeof(ward__flow_t) = %zu, sizeof(ward_agent_t) = %zu (WARD_MAX_FLOWS %d, "
           "%u buckets of %zu bytes)\n",
           sizeof(ward__flow_t), sizeof(ward_agent_t), WARD_MAX_FLOWS, WARD__FLOW_BUCKETS,
           sizeof(ward__flow_ref_t));
    assert_true(sizeof(ward__flow_t) <= 48);
}

static void test_args(void **state)
{
    (void)state;
    uint8_t p[64];
    size_t n = tu_v4_tcp(p, TU_DEV4, TU_DEV4, 1, 2, 0, 0);
    assert_int_equal(ward_agent_on_packet(NULL, WARD_DIR_OUTBOUND, p, n, 0), WARD_E_ARG);
    assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, NULL, n, 0), WARD_E_ARG);
    assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_UNKNOWN, p, n, 0), WARD_E_ARG);
    assert_int_equal(ward_agent_on_packet(&agent, 3, p, n, 0), WARD_E_ARG);
    assert_int_equal(agent.counters[WARD_CTR_PACKETS], 0);
    ward_agent_t blank;
    memset(&blank, 0, sizeof blank);
    assert_int_equal(ward_agent_on_packet(&blank, WARD_DIR_OUTBOUND, p, n, 0), WARD_E_ARG);
}

static void test_tcp_outbound_connection(void **state)
{
    (void)state;
    uint8_t p[2048], r[4];
    tu_remote4(r, 1);
    size_t n1 = tu_v4_tcp(p, TU_DEV4, r, 40000, 443, TU_TCP_SYN, 0);
    assert_int_equal(feed(WARD_DIR_OUTBOUND, p, n1, 1000000), WARD_OK);
    size_t n2 = tu_v4_tcp(p, r, TU_DEV4, 443, 40000, TU_TCP_SYN | TU_TCP_ACK, 0);
    assert_int_equal(feed(WARD_DIR_INBOUND, p, n2, 1000500), WARD_OK);
    size_t n3 = tu_v4_tcp(p, TU_DEV4, r, 40000, 443, TU_TCP_ACK | TU_TCP_PSH, 100);
    assert_int_equal(feed(WARD_DIR_OUTBOUND, p, n3, 1003000), WARD_OK);

    assert_int_equal(agent.flow_count, 1);
    const ward__flow_t *f = &agent.flows[0];
    assert_int_equal(f->proto, WARD_IPPROTO_TCP);
    assert_int_equal(f->local_port, 40000);
    assert_int_equal(f->remote_port, 443);
    assert_memory_equal(f->remote, r, 4);
    assert_int_equal(init_of(f), WARD_DIR_OUTBOUND);
    assert_int_equal(f->pkts_out, 2);
    assert_int_equal(f->pkts_in, 1);
    assert_int_equal(f->bytes_out, n1 + n3);
    assert_int_equal(f->bytes_in, n2);
    assert_int_equal(f->tcp_out, TU_TCP_SYN | TU_TCP_ACK | TU_TCP_PSH);
    assert_int_equal(f->tcp_in, TU_TCP_SYN | TU_TCP_ACK);
    assert_int_equal(f->first_t, 0);
    assert_int_equal(f->last_t, 3);
    assert_int_equal(agent.local_count, 1);
    assert_memory_equal(agent.local_addr[0], TU_DEV4, 4);
    assert_int_equal(agent.counters[WARD_CTR_PACKETS], 3);
}

static void test_initiators(void **state)
{
    (void)state;
    uint8_t p[2048], r[4];
    /* Inbound SYN: the remote opened (a service on the device). */
    tu_remote4(r, 2);
    size_t n = tu_v4_tcp(p, r, TU_DEV4, 51000, 22, TU_TCP_SYN, 0);
    feed(WARD_DIR_INBOUND, p, n, 1000000);
    /* First seen: our SYN-ACK. The remote opened. */
    tu_remote4(r, 3);
    n = tu_v4_tcp(p, TU_DEV4, r, 80, 52000, TU_TCP_SYN | TU_TCP_ACK, 0);
    feed(WARD_DIR_OUTBOUND, p, n, 1000000);
    /* Mid-way (ACK only): unknown, until a SYN is seen. */
    tu_remote4(r, 4);
    n = tu_v4_tcp(p, r, TU_DEV4, 443, 41000, TU_TCP_ACK, 10);
    feed(WARD_DIR_INBOUND, p, n, 1000000);
    /* UDP: the direction of the first packet. */
    tu_remote4(r, 5);
    n = tu_v4_udp(p, r, TU_DEV4, 5000, 6000, 10);
    feed(WARD_DIR_INBOUND, p, n, 1000000);
    n = tu_v4_udp(p, TU_DEV4, r, 6000, 5000, 10);
    feed(WARD_DIR_OUTBOUND, p, n, 1000000);

    assert_int_equal(agent.flow_count, 4);
    assert_int_equal(init_of(&agent.flows[0]), WARD_DIR_INBOUND);
    assert_int_equal(agent.flows[0].local_port, 22);
    assert_int_equal(init_of(&agent.flows[1]), WARD_DIR_INBOUND);
    assert_int_equal(init_of(&agent.flows[2]), WARD_DIR_UNKNOWN);
    assert_int_equal(init_of(&agent.flows[3]), WARD_DIR_INBOUND);
    assert_int_equal(agent.flows[3].pkts_in, 1);
    assert_int_equal(agent.flows[3].pkts_out, 1);

    tu_remote4(r, 4);
    n = tu_v4_tcp(p, TU_DEV4, r, 41000, 443, TU_TCP_SYN, 0);
    feed(WARD_DIR_OUTBOUND, p, n, 1000000);
    assert_int_equal(init_of(&agent.flows[2]), WARD_DIR_OUTBOUND);
    check_index(&agent);
}

static void test_icmp_keys(void **state)
{
    (void)state;
    uint8_t p[2048], l4[64], r[4], r6[16];
    tu_remote4(r, 9);
    size_t m = tu_icmp(l4, 8, 0, 56);
    size_t n = tu_ipv4(p, TU_DEV4, r, WARD_IPPROTO_ICMP, 0, 0, l4, m);
    feed(WARD_DIR_OUTBOUND, p, n, 1000000);
    feed(WARD_DIR_OUTBOUND, p, n, 1000000);
    m = tu_icmp(l4, 0, 0, 56);
    n = tu_ipv4(p, r, TU_DEV4, WARD_IPPROTO_ICMP, 0, 0, l4, m);
    feed(WARD_DIR_INBOUND, p, n, 1000000);
    /* Echo request and echo reply are two flows, local port 0, remote port type * 256 + code. */
    assert_int_equal(agent.flow_count, 2);
    assert_int_equal(agent.flows[0].local_port, 0);
    assert_int_equal(agent.flows[0].remote_port, 0x0800);
    assert_int_equal(agent.flows[0].pkts_out, 2);
    assert_int_equal(agent.flows[1].remote_port, 0x0000);
    assert_int_equal(agent.flows[1].pkts_in, 1);
    assert_int_equal(init_of(&agent.flows[1]), WARD_DIR_INBOUND);

    tu_remote6(r6, 9);
    m = tu_icmp(l4, 135, 0, 24); /* neighbour solicitation */
    n = tu_ipv6(p, r6, TU_DEV6, WARD_IPPROTO_ICMPV6, NULL, 0, l4, m);
    feed(WARD_DIR_INBOUND, p, n, 1000000);
    assert_int_equal(agent.flow_count, 3);
    assert_int_equal(agent.flows[2].proto, WARD_IPPROTO_ICMPV6);
    assert_int_equal(agent.flows[2].remote_port, 135 * 256);
}

static void test_families(void **state)
{
    (void)state;
    uint8_t p[2048], r4[4], r6[16];
    tu_remote4(r4, 1);
    tu_remote6(r6, 1);
    size_t n = tu_v4_udp(p, TU_DEV4, r4, 1000, 2000, 0);
    feed(WARD_DIR_OUTBOUND, p, n, 1000000);
    n = tu_v6_udp(p, TU_DEV6, r6, 1000, 2000, 0);
    feed(WARD_DIR_OUTBOUND, p, n, 1000000);
    /* An IPv4-mapped remote in an IPv6 packet is an IPv6 flow, not the IPv4 one. */
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    memcpy(mapped + 12, r4, 4);
    n = tu_v6_udp(p, TU_DEV6, mapped, 1000, 2000, 0);
    feed(WARD_DIR_OUTBOUND, p, n, 1000000);
    assert_int_equal(agent.flow_count, 3);
    assert_int_equal(agent.local_count, 2);
    assert_int_equal(agent.local_family[0], 4);
    assert_int_equal(agent.local_family[1], 6);
    assert_int_equal(agent.flows[2].meta & WARD__FM_LOCAL_MASK, 1);
    assert_memory_equal(agent.flows[2].remote, mapped, 16);
    check_index(&agent);
}

static void test_malformed_counted(void **state)
{
    (void)state;
    uint8_t p[2048];
    size_t n = tu_v4_tcp(p, TU_DEV4, TU_DEV4, 1, 2, 0, 0);
    assert_int_equal(feed(WARD_DIR_INBOUND, p, 10, 1000000), WARD_E_MALFORMED);
    p[0] = 0x75;
    assert_int_equal(feed(WARD_DIR_INBOUND, p, n, 1000000), WARD_E_MALFORMED);
    assert_int_equal(feed(WARD_DIR_INBOUND, p, 0, 1000000), WARD_E_MALFORMED);
    assert_int_equal(agent.malformed[WARD_MF_TRUNCATED], 2);
    assert_int_equal(agent.malformed[WARD_MF_BAD_VERSION], 1);
    assert_int_equal(agent.counters[WARD_CTR_PACKETS], 3);
    assert_int_equal(agent.counters[WARD_CTR_PACKETS_MALFORMED], 3);
    assert_int_equal(agent.flow_count, 0);
}

static void test_fragments_to_summary(void **state)
{
    (void)state;
    uint8_t p[2048], l4[64], r[4];
    tu_remote4(r, 1);
    size_t m = tu_udp(l4, 5000, 6000, 40);
    size_t n1 = tu_ipv4(p, r, TU_DEV4, WARD_IPPROTO_UDP, 0, 0x2000, l4, m);
    assert_int_equal(feed(WARD_DIR_INBOUND, p, n1, 1000000), WARD_OK);
    size_t n2 = tu_ipv4(p, r, TU_DEV4, WARD_IPPROTO_UDP, 0, 6, l4, 20);
    assert_int_equal(feed(WARD_DIR_INBOUND, p, n2, 1000000), WARD_OK);
    assert_int_equal(agent.flow_count, 1);
    assert_int_equal(agent.flows[0].pkts_in, 1);
    const ward__overflow_t *o = ward__overflow_find(&agent, 0, WARD_DIR_INBOUND);
    assert_non_null(o);
    assert_int_equal(o->packets, 1);
    assert_int_equal(o->bytes, n2);
    assert_int_equal(o->flows, 0); /* fragments are not new flows */
    assert_int_equal(agent.counters[WARD_CTR_FLOWS_DROPPED], 0);
}

/* Fill the table with outbound TCP flows to new remotes (a small probe bound may send some of
 * them to the summary before the table is full); counts what was accepted. */
static void fill_table(uint64_t *pkts, uint64_t *bytes)
{
    uint8_t p[2048], r[4];
    for (unsigned i = 0; agent.flow_count < WARD_MAX_FLOWS && i < 100u * WARD_MAX_FLOWS; i++) {
        tu_remote4(r, i);
        size_t n = tu_v4_tcp(p, TU_DEV4, r, (uint16_t)(30000 + i), 443, TU_TCP_SYN, 0);
        assert_int_equal(feed(WARD_DIR_OUTBOUND, p, n, 1000000), WARD_OK);
        (*pkts)++;
        *bytes += n;
    }
    assert_int_equal(agent.flow_count, WARD_MAX_FLOWS);
}

static void test_full_table(void **state)
{
    (void)state;
    uint8_t p[2048], r[4];
    uint64_t pkts = 0, bytes = 0;
    fill_table(&pkts, &bytes);
    check_index(&agent);
    const ward__overflow_t *o = ward__overflow_find(&agent, WARD_IPPROTO_UDP, WARD_DIR_INBOUND);
    assert_null(o);

    /* New flows: each counted once as a flow, every packet counted. */
    uint64_t ovf_pkts = 0;
    for (unsigned k = 0; k < 3; k++) {
        for (unsigned i = 0; i < 10; i++) {
            tu_remote4(r, 100000 + i);
            size_t n = tu_v4_udp(p, r, TU_DEV4, 53, (uint16_t)(20000 + i), 20);
            assert_int_equal(feed(WARD_DIR_INBOUND, p, n, 1000000), WARD_OK);
            pkts++;
            bytes += n;
            ovf_pkts++;
        }
    }
    assert_int_equal(agent.flow_count, WARD_MAX_FLOWS);
    o = ward__overflow_find(&agent, WARD_IPPROTO_UDP, WARD_DIR_INBOUND);
    assert_non_null(o);
    assert_int_equal(o->packets, ovf_pkts);
    /* A filter collision only undercounts; with the default filter, by little. */
    assert_true(o->flows >= (WARD_OVERFLOW_FILTER_BITS >= 256 ? 8u : 1u) && o->flows <= 10);
    uint64_t tcp_new = 0;
    const ward__overflow_t *ot = ward__overflow_find(&agent, WARD_IPPROTO_TCP, WARD_DIR_OUTBOUND);
    if (ot != NULL)
        tcp_new = ot->flows;
    assert_int_equal(agent.counters[WARD_CTR_FLOWS_DROPPED], o->flows + tcp_new);

    /* Existing flows keep counting. */
    ward__flow_t *f = &agent.flows[5];
    size_t n = tu_v4_tcp(p, f->remote, TU_DEV4, f->remote_port, f->local_port, TU_TCP_ACK, 100);
    assert_int_equal(feed(WARD_DIR_INBOUND, p, n, 1002000), WARD_OK);
    pkts++;
    bytes += n;
    assert_int_equal(f->pkts_in, 1);
    assert_int_equal(f->bytes_in, n);
    assert_int_equal(f->last_t, 2);

    /* Sum invariant over the live state: flows + summary == everything accepted. */
    uint64_t sp = 0, sb = 0;
    for (uint32_t i = 0; i < agent.flow_count; i++) {
        sp += agent.flows[i].pkts_out + agent.flows[i].pkts_in;
        sb += agent.flows[i].bytes_out + agent.flows[i].bytes_in;
    }
    for (unsigned i = 0; i < WARD_OVERFLOW_SLOTS; i++) {
        sp += agent.overflow[i].packets;
        sb += agent.overflow[i].bytes;
    }
    assert_int_equal(sp, pkts);
    assert_int_equal(sb, bytes);
}

static void test_summary_full(void **state)
{
    (void)state;
    uint8_t p[2048], r[4];
    uint64_t pkts = 0, bytes = 0;
    fill_table(&pkts, &bytes);
    uint64_t before = 0;
    for (unsigned i = 0; i < WARD_OVERFLOW_SLOTS; i++)
        before += agent.overflow[i].packets;
    /* Overflow with more protocols than the summary has entries. */
    uint8_t l4[8] = {0};
    tu_remote4(r, 7);
    pkts = 0;
    for (unsigned proto = 100; proto < 100 + 2 * WARD_OVERFLOW_SLOTS; proto++) {
        size_t n = tu_ipv4(p, TU_DEV4, r, (uint8_t)proto, 0, 0, l4, sizeof l4);
        assert_int_equal(feed(WARD_DIR_OUTBOUND, p, n, 1000000), WARD_OK);
        pkts++;
    }
    uint64_t sum = 0;
    for (unsigned i = 0; i < WARD_OVERFLOW_SLOTS; i++)
        sum += agent.overflow[i].packets;
    assert_int_equal(sum - before, pkts); /* every packet counted somewhere */
    const ward__overflow_t *o = ward__overflow_find(&agent, 255, WARD_DIR_OUTBOUND);
    assert_non_null(o);
    assert_true(o->packets >= WARD_OVERFLOW_SLOTS + 2);
}

static void test_local_table_full(void **state)
{
    (void)state;
    uint8_t p[2048], r[4], local[4] = {10, 0, 0, 1};
    tu_remote4(r, 1);
    for (unsigned i = 0; i < WARD_MAX_LOCAL_ADDRS + 2; i++) {
        local[3] = (uint8_t)(1 + i);
        size_t n = tu_v4_udp(p, local, r, 1000, 2000, 0);
        assert_int_equal(feed(WARD_DIR_OUTBOUND, p, n, 1000000), WARD_OK);
    }
    assert_int_equal(agent.local_count, WARD_MAX_LOCAL_ADDRS);
    assert_int_equal(agent.flow_count, WARD_MAX_LOCAL_ADDRS);
    const ward__overflow_t *o = ward__overflow_find(&agent, WARD_IPPROTO_UDP, WARD_DIR_OUTBOUND);
    assert_non_null(o);
    assert_int_equal(o->packets, 2);
    assert_int_equal(o->flows, 2);
    check_index(&agent);
}

static void test_remove_keeps_index(void **state)
{
    (void)state;
    uint8_t p[2048];
    uint64_t pkts = 0, bytes = 0;
    fill_table(&pkts, &bytes);
    /* Remove a third of the flows, in an order that exercises moves and back-shifts. */
    for (unsigned k = 0; k < WARD_MAX_FLOWS / 3; k++) {
        ward__flow_remove(&agent, (k * 7) % agent.flow_count);
        check_index(&agent);
    }
    /* Each remaining flow is still found: one more packet stays in its own entry. */
    uint32_t before = agent.flow_count;
    for (uint32_t i = 0; i < before; i++) {
        ward__flow_t *f = &agent.flows[i];
        size_t n = tu_v4_tcp(p, TU_DEV4, f->remote, f->local_port, f->remote_port, TU_TCP_ACK, 0);
        feed(WARD_DIR_OUTBOUND, p, n, 1000000);
    }
    assert_int_equal(agent.flow_count, before);
    for (uint32_t i = 0; i < before; i++)
        assert_int_equal(agent.flows[i].pkts_out, 2);
    /* And the freed room takes new flows again. */
    fill_table(&pkts, &bytes);
    check_index(&agent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_outbound_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initiators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_icmp_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_families, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragments_to_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_table_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_keeps_index, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
