/*
 * Collectors: listening sockets (key 19, from the port's callback), system information (key 20:
 * on boot, on change, every WARD_SYSINFO_PERIOD_S), counters (key 21, including reports split and
 * flows dropped), custom metrics (key 22); each encoded and decoded back; and reports that split
 * into parts with all of them.
 */
#include <stdio.h>
#include <string.h>

#include "test_util.h"

#define T0 1700000000000ull

static ward_agent_t agent;
static tu_transport_t tt;
static uint8_t buf[16384];

static ward_listen_t port_list[64];
static size_t port_n;
static int port_calls;

static size_t listening(void *ctx, ward_listen_t *out, size_t max)
{
    assert_ptr_equal(ctx, &port_n);
    assert_int_equal(max, WARD_MAX_LISTEN);
    port_calls++;
    size_t n = port_n < max ? port_n : max;
    memcpy(out, port_list, n * sizeof *out);
    return port_n; /* may exceed max: the core takes max */
}

static int setup(void **state)
{
    (void)state;
    tu_transport_init(&tt);
    tu_agent_init(&agent, &tt, T0);
    port_n = 0;
    port_calls = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_transport_free(&tt);
    return 0;
}

static const tu_report_t *flush_at(uint64_t now, size_t cap)
{
    assert_int_equal(ward_agent_flush(&agent, now, buf, cap), WARD_OK);
    return tu_decode(tt.parts[tt.nparts - 1], tt.lens[tt.nparts - 1]);
}

static void test_listening(void **state)
{
    (void)state;
    /* No source registered: no key. */
    const tu_report_t *r = flush_at(T0 + 1000, sizeof buf);
    assert_false(r->has_listening);

    assert_int_equal(ward_agent_set_listening(&agent, listening, &port_n), WARD_OK);
    /* Registered, nothing listens: an empty list (news too). */
    r = flush_at(T0 + 2000, sizeof buf);
    assert_true(r->has_listening);
    assert_int_equal(r->nlisten, 0);
    assert_int_equal(port_calls, 1);

    memset(port_list, 0, sizeof port_list);
    port_list[0] = (ward_listen_t){WARD_IPPROTO_TCP, 4, 23, {0}};
    port_list[1] = (ward_listen_t){WARD_IPPROTO_UDP, 6, 5683, {0}};
    port_list[2] = (ward_listen_t){WARD_IPPROTO_TCP, 4, 80, {192, 168, 1, 10}};
    port_list[3] = (ward_listen_t){WARD_IPPROTO_ICMP, 4, 1, {0}}; /* invalid: skipped */
    port_list[4] = (ward_listen_t){WARD_IPPROTO_TCP, 6, 443,
                                   {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}};
    port_n = 5;
    r = flush_at(T0 + 3000, sizeof buf);
    assert_int_equal(r->nlisten, 4);
    assert_int_equal(r->listen[0].proto, 6);
    assert_int_equal(r->listen[0].port, 23);
    assert_int_equal(r->listen[0].alen, 4);
    assert_memory_equal(r->listen[0].addr, "\0\0\0\0", 4);
    assert_int_equal(r->listen[1].proto, 17);
    assert_int_equal(r->listen[1].port, 5683);
    assert_int_equal(r->listen[1].alen, 16);
    assert_int_equal(r->listen[2].port, 80);
    assert_memory_equal(r->listen[2].addr, port_list[2].addr, 4);
    assert_int_equal(r->listen[3].port, 443);
    assert_memory_equal(r->listen[3].addr, port_list[4].addr, 16);

    /* More than WARD_MAX_LISTEN: the first WARD_MAX_LISTEN, no overrun. */
    for (size_t i = 0; i < 64; i++)
        port_list[i] = (ward_listen_t){WARD_IPPROTO_TCP, 4, (uint16_t)(1000 + i), {0}};
    port_n = 64;
    r = flush_at(T0 + 4000, sizeof buf);
    assert_int_equal(r->nlisten, WARD_MAX_LISTEN);
    assert_int_equal(r->listen[WARD_MAX_LISTEN - 1].port, 1000 + WARD_MAX_LISTEN - 1);

    /* Unregistered again: no key, no call. */
    assert_int_equal(ward_agent_set_listening(&agent, NULL, NULL), WARD_OK);
    int calls = port_calls;
    r = flush_at(T0 + 5000, sizeof buf);
    assert_false(r->has_listening);
    assert_int_equal(port_calls, calls);
    assert_int_equal(ward_agent_set_listening(NULL, listening, NULL), WARD_E_ARG);
}

static void test_sysinfo_boot_change_period(void **state)
{
    (void)state;
    ward_sysinfo_t si = {"FreeRTOS 10.5.1", "fw-1.2.3", "nrf52840-dk", "lwIP 2.1.3", 1, 0};
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si), WARD_OK);

    /* Boot: in the first report. */
    const tu_report_t *r = flush_at(T0 + 1000, sizeof buf);
    assert_true(r->has_sysinfo);
    assert_string_equal(r->si_str[WARD_SK_OS], "FreeRTOS 10.5.1");
    assert_string_equal(r->si_str[WARD_SK_FIRMWARE], "fw-1.2.3");
    assert_string_equal(r->si_str[WARD_SK_HARDWARE], "nrf52840-dk");
    assert_string_equal(r->si_str[WARD_SK_IP_STACK], "lwIP 2.1.3");
    assert_int_equal(r->si_tls, 1);
    assert_int_equal(r->si_synced, 0);
    assert_int_equal(r->si_capacity, WARD_MAX_FLOWS);
    assert_int_equal(r->si_seen, 0x7f);

    /* Not again while nothing changes... */
    r = flush_at(T0 + 2000, sizeof buf);
    assert_false(r->has_sysinfo);
    /* ...including when the same values are set again. */
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si), WARD_OK);
    r = flush_at(T0 + 3000, sizeof buf);
    assert_false(r->has_sysinfo);

    /* On change (the clock got synced). */
    si.time_synced = 1;
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si), WARD_OK);
    r = flush_at(T0 + 4000, sizeof buf);
    assert_true(r->has_sysinfo);
    assert_int_equal(r->si_synced, 1);
    si.firmware = "fw-1.2.4";
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si), WARD_OK);
    r = flush_at(T0 + 5000, sizeof buf);
    assert_string_equal(r->si_str[WARD_SK_FIRMWARE], "fw-1.2.4");

    /* Period: WARD_SYSINFO_PERIOD_S after it was last sent. */
    uint64_t last = T0 + 5000;
    r = flush_at(last + (uint64_t)WARD_SYSINFO_PERIOD_S * 1000 - 1, sizeof buf);
    assert_false(r->has_sysinfo);
    r = flush_at(last + (uint64_t)WARD_SYSINFO_PERIOD_S * 1000, sizeof buf);
    assert_true(r->has_sysinfo);

    /* A refused report does not count as sent. */
    si.hardware = "rev-b";
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si), WARD_OK);
    tt.accept = 0;
    assert_int_equal(ward_agent_flush(&agent, last + 30000000, buf, sizeof buf), WARD_E_AGAIN);
    tt.accept = -1;
    r = flush_at(last + 30010000, sizeof buf);
    assert_true(r->has_sysinfo);
    assert_string_equal(r->si_str[WARD_SK_HARDWARE], "rev-b");

    /* Unknown strings are left out; long ones cut at a character boundary. */
    char longs[100];
    memset(longs, 'a', sizeof longs);
    longs[99] = 0;
    memcpy(longs + WARD_SYSINFO_STR_MAX - 1, "\xc3\xa9", 2); /* an 'e' acute across the cut */
    ward_sysinfo_t si2 = {NULL, "", longs, "x", 0, 0};
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si2), WARD_OK);
    r = flush_at(last + 30020000, sizeof buf);
    assert_int_equal(r->si_seen, (1u << WARD_SK_HARDWARE) | (1u << WARD_SK_IP_STACK) |
                                     (1u << WARD_SK_TLS) | (1u << WARD_SK_TIME_SYNCED) |
                                     (1u << WARD_SK_FLOW_CAPACITY));
    assert_int_equal(strlen(r->si_str[WARD_SK_HARDWARE]), WARD_SYSINFO_STR_MAX - 1);

    assert_int_equal(ward_agent_set_sysinfo(&agent, NULL), WARD_E_ARG);
}

static void test_sysinfo_without_port(void **state)
{
    (void)state;
    /* A port that never sets it still gets the capacity, on boot. */
    const tu_report_t *r = flush_at(T0 + 1000, sizeof buf);
    assert_true(r->has_sysinfo);
    assert_int_equal(r->si_seen, 1u << WARD_SK_FLOW_CAPACITY);
    assert_int_equal(r->si_capacity, WARD_MAX_FLOWS);
}

static void test_metrics(void **state)
{
    (void)state;
    const tu_report_t *r = flush_at(T0 + 1000, sizeof buf);
    assert_false(r->has_metrics);

    assert_int_equal(ward_agent_metric_set(&agent, "heap_free", 12345), WARD_OK);
    assert_int_equal(ward_agent_metric_set(&agent, "temp.c", -40), WARD_OK);
    assert_int_equal(ward_agent_metric_set(&agent, "min", INT64_MIN), WARD_OK);
    assert_int_equal(ward_agent_metric_set(&agent, "max", INT64_MAX), WARD_OK);
    assert_int_equal(ward_agent_metric_set(&agent, "heap_free", 999), WARD_OK); /* update */
    r = flush_at(T0 + 2000, sizeof buf);
    assert_int_equal(r->nmetrics, 4);
    assert_string_equal(r->metrics[0].name, "heap_free");
    assert_true(r->metrics[0].value == 999);
    assert_string_equal(r->metrics[1].name, "temp.c");
    assert_true(r->metrics[1].value == -40);
    assert_true(r->metrics[2].value == INT64_MIN);
    assert_true(r->metrics[3].value == INT64_MAX);
    /* A gauge: in every report. */
    r = flush_at(T0 + 3000, sizeof buf);
    assert_int_equal(r->nmetrics, 4);

    /* Names: 1..32 of [A-Za-z0-9._:-]. */
    char name[40];
    memset(name, 'n', sizeof name);
    name[WARD_METRIC_NAME_MAX] = 0;
    assert_int_equal(ward_agent_metric_set(&agent, name, 1), WARD_OK);
    name[WARD_METRIC_NAME_MAX] = 'n';
    name[WARD_METRIC_NAME_MAX + 1] = 0;
    assert_int_equal(ward_agent_metric_set(&agent, name, 1), WARD_E_ARG);
    assert_int_equal(ward_agent_metric_set(&agent, "", 1), WARD_E_ARG);
    assert_int_equal(ward_agent_metric_set(&agent, "a b", 1), WARD_E_ARG);
    assert_int_equal(ward_agent_metric_set(&agent, "\xc3\xa9", 1), WARD_E_ARG);
    assert_int_equal(ward_agent_metric_set(&agent, NULL, 1), WARD_E_ARG);
    assert_int_equal(ward_agent_metric_set(NULL, "x", 1), WARD_E_ARG);

    /* Full table. */
    for (int i = 5; i < WARD_MAX_METRICS; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "m%d", i);
        assert_int_equal(ward_agent_metric_set(&agent, nm, i), WARD_OK);
    }
    assert_int_equal(ward_agent_metric_set(&agent, "one_more", 1), WARD_E_FULL);
    assert_int_equal(ward_agent_metric_set(&agent, "min", 0), WARD_OK); /* existing: fine */
    r = flush_at(T0 + 4000, sizeof buf);
    assert_int_equal(r->nmetrics, WARD_MAX_METRICS);
}

static void test_counters(void **state)
{
    (void)state;
    uint8_t p[128], r4[4];
    /* Fill the table past capacity: flows dropped; a small buffer: reports split. */
    for (unsigned i = 0; i < WARD_MAX_FLOWS + 5; i++) {
        tu_remote4(r4, i);
        size_t k = tu_v4_udp(p, TU_DEV4, r4, 5000, 53, 10);
        assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, p, k, T0 + 10), WARD_OK);
    }
    assert_int_equal(ward_agent_note(&agent, WARD_CTR_AUTH_FAILURES, 3), WARD_OK);
    assert_int_equal(ward_agent_flush(&agent, T0 + 1000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    assert_true(tt.nparts > 1);
    const tu_report_t *r = tu_decode(tt.parts[0], tt.lens[0]);
    assert_true(r->has_counters);
    assert_int_equal(r->counters[WARD_CTR_FLOWS_DROPPED], 5);
    assert_int_equal(r->counters[WARD_CTR_REPORTS_SPLIT], 1);
    assert_int_equal(r->counters[WARD_CTR_PACKETS], WARD_MAX_FLOWS + 5);
    assert_int_equal(r->counters[WARD_CTR_AUTH_FAILURES], 3);
    /* Part 0 only. */
    assert_false(tu_decode(tt.parts[1], tt.lens[1])->has_counters);
}

/* Everything at once, in a small buffer: every part decodes, each item is in exactly one part. */
static void test_parts_with_everything(void **state)
{
    (void)state;
    uint8_t p[128], r4[4];
    ward_sysinfo_t si = {"Zephyr 3.6.0 with a rather long name", "firmware-2024.11.28-rc1",
                         "custom-board-rev-c-with-long-name", "Zephyr net stack 3.6", 1, 1};
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si), WARD_OK);
    for (size_t i = 0; i < WARD_MAX_LISTEN; i++)
        port_list[i] = (ward_listen_t){WARD_IPPROTO_TCP, 6, (uint16_t)(2000 + i), {0}};
    port_n = WARD_MAX_LISTEN;
    assert_int_equal(ward_agent_set_listening(&agent, listening, &port_n), WARD_OK);
    for (int i = 0; i < WARD_MAX_METRICS; i++) {
        char nm[40];
        snprintf(nm, sizeof nm, "metric_with_a_long_name_%08d", i);
        assert_int_equal(ward_agent_metric_set(&agent, nm, -1000000000000 - i), WARD_OK);
    }
    for (unsigned i = 0; i < 40; i++) {
        tu_remote4(r4, i);
        size_t k = tu_v4_udp(p, TU_DEV4, r4, 5000, 53, 10);
        assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, p, k, T0 + 10), WARD_OK);
    }
    assert_int_equal(ward_agent_flush(&agent, T0 + 1000, buf, WARD_REPORT_MIN_BUFFER), WARD_OK);
    size_t parts = tt.nparts, nl = 0, nm = 0, nf = 0, ns = 0;
    assert_true(parts > 2);
    for (size_t i = 0; i < parts; i++) {
        assert_true(tt.lens[i] <= WARD_REPORT_MIN_BUFFER);
        const tu_report_t *r = tu_decode(tt.parts[i], tt.lens[i]);
        assert_int_equal(r->part_i, i);
        assert_int_equal(r->part_n, parts);
        assert_int_equal(r->seq, 0);
        if (i == 0)
            assert_true(r->has_listening); /* the key is in part 0 even when items spill */
        nl += r->nlisten;
        nm += r->nmetrics;
        nf += r->nflows;
        ns += (size_t)r->has_sysinfo;
        if (r->has_sysinfo)
            assert_string_equal(r->si_str[WARD_SK_OS], "Zephyr 3.6.0 with a rather long ");
    }
    assert_int_equal(nl, WARD_MAX_LISTEN);
    assert_int_equal(nm, WARD_MAX_METRICS);
    assert_int_equal(nf, 40);
    assert_int_equal(ns, 1);
    printf("a report with every collector: %zu parts of at most %d bytes\n", parts,
           WARD_REPORT_MIN_BUFFER);
}

/* WARD_REPORT_MIN_BUFFER holds the worst fixed part of a report plus its largest single item. */
static void test_min_buffer_worst_case(void **state)
{
    (void)state;
    ward_agent_config_t cfg;
    char id[WARD_DEVICE_ID_MAX + 1];
    uint8_t p[256], r6[16], l6[16];
    memset(id, 'd', WARD_DEVICE_ID_MAX);
    id[WARD_DEVICE_ID_MAX] = 0;
    ward_agent_config_init(&cfg);
    cfg.device_id = id;
    cfg.boot_id = 0xffffffffu;
    cfg.transport = &tt.t;
    cfg.report_interval_s = 86400;
    assert_int_equal(ward_agent_init(&agent, &cfg, 0xffffffffffff0000ull), WARD_OK);
    agent.seq = 0xfffffff0u;
    for (int i = 0; i < WARD_CTR_COUNT_; i++)
        agent.counters[i] = UINT64_MAX - 1;
    /* A rejected config after an applied one with the largest revision. */
    static const uint8_t good[] = {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x1b, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t badm[] = {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x1b, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xfe, 0x02, 0x01};
    assert_int_equal(ward_agent_apply_config(&agent, good, sizeof good, 0), WARD_OK);
    assert_int_not_equal(ward_agent_apply_config(&agent, badm, sizeof badm, 0), WARD_OK);
    char s[WARD_SYSINFO_STR_MAX + 1];
    memset(s, 'x', WARD_SYSINFO_STR_MAX);
    s[WARD_SYSINFO_STR_MAX] = 0;
    ward_sysinfo_t si = {s, s, s, s, 1, 1};
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si), WARD_OK);
    /* Every local address slot an IPv6 one. */
    for (unsigned i = 0; i < WARD_MAX_LOCAL_ADDRS; i++) {
        memcpy(l6, TU_DEV6, 16);
        l6[14] = (uint8_t)i;
        tu_remote6(r6, i);
        size_t k = tu_v6_tcp(p, l6, r6, 60000, 60000, TU_TCP_SYN, 0);
        assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, p, k,
                                              0xffffffffffff0000ull + 1000),
                         WARD_OK);
    }
    assert_int_equal(ward_agent_flush(&agent, 0xffffffffffff0000ull + 2000, buf,
                                      WARD_REPORT_MIN_BUFFER),
                     WARD_OK);
    size_t biggest = 0;
    for (size_t i = 0; i < tt.nparts; i++) {
        const tu_report_t *r = tu_decode(tt.parts[i], tt.lens[i]);
        assert_int_equal(r->part_n, tt.nparts);
        biggest = tt.lens[i] > biggest ? tt.lens[i] : biggest;
    }
    printf("worst case: %zu parts, largest %zu of %d bytes\n", tt.nparts, biggest,
           WARD_REPORT_MIN_BUFFER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_listening, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_boot_change_period, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sysinfo_without_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parts_with_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_buffer_worst_case, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
