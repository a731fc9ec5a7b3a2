/*
 * hygiene: every recommendation opened by a report that shows its condition and resolved by one
 * that shows it gone (or, for conditions seen in traffic, after the quiet period), through the
 * synchronous processor with a real SQLite file; the list read back through a read-only
 * connection, as wardctl does. Also the version comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hygiene.h"
#include "log.h"
#include "process.h"
#include "proc_fixture.h"

#define T0 1700000060000LL
#define HOUR 3600000LL

/* The recommendation (device, type, key) as wardctl sees it (read-only connection); NULL if
 * none. Caller decrefs. */
static json_t *rec(fixture_t *fx, const char *dev, const char *type, const char *key)
{
    char err[256];
    ward_store_t *ro = ward_store_open(fx->db, true, err, sizeof err);
    assert_non_null(ro);
    json_t *all = ward_hygiene_list_json(ro, dev), *found = NULL, *r;
    size_t i;
    assert_non_null(all);
    json_array_foreach(all, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "type")), type) == 0 &&
            strcmp(json_string_value(json_object_get(r, "key")), key) == 0)
            found = json_incref(r);
    }
    json_decref(all);
    ward_store_close(ro);
    return found;
}

static const char *state_of(fixture_t *fx, const char *dev, const char *type, const char *key)
{
    static char buf[16];
    json_t *r = rec(fx, dev, type, key);
    if (r == NULL)
        return "none";
    snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(r, "state")));
    json_decref(r);
    return buf;
}

static cbor_item_t *listening(size_t n, const unsigned *proto, const char *const *addr,
                              const unsigned *port)
{
    cbor_item_t *a = cbor_new_definite_array(n);
    for (size_t i = 0; i < n; i++) {
        cbor_item_t *l = cbor_new_definite_array(3);
        cbor_array_push(l, cbor_move(tb_uint(proto[i])));
        cbor_array_push(l, cbor_move(tb_addr(addr[i])));
        cbor_array_push(l, cbor_move(tb_uint(port[i])));
        cbor_array_push(a, cbor_move(l));
    }
    return a;
}

/* sysinfo map: pass key/value pairs, values already built. */
static cbor_item_t *sysinfo(size_t n, ...)
{
    cbor_item_t *m = cbor_new_definite_map(n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        unsigned k = va_arg(ap, unsigned);
        cbor_item_t *v = va_arg(ap, cbor_item_t *);
        cbor_map_add(m, (struct cbor_pair){.key = cbor_move(tb_uint(k)), .value = cbor_move(v)});
    }
    va_end(ap);
    return m;
}

static void test_insecure_service(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    static const unsigned pr[] = {6, 6, 17, 6};
    static const char *const ad[] = {"0.0.0.0", "10.0.0.2", "0.0.0.0", "127.0.0.1"};
    static const unsigned po[] = {23, 443, 161, 21};
    proc_report(fx, &r, "cam-1");
    tb_set(&r, 19, listening(4, pr, ad, po));
    assert_int_equal(proc_send(fx, &r, "cam-1", T0), 0);
    assert_string_equal(state_of(fx, "cam-1", WARD_REC_INSECURE_SERVICE, "tcp/23"), "open");
    assert_string_equal(state_of(fx, "cam-1", WARD_REC_INSECURE_SERVICE, "udp/161"), "open");
    /* FTP bound to loopback only is not reachable: no recommendation */
    assert_string_equal(state_of(fx, "cam-1", WARD_REC_INSECURE_SERVICE, "tcp/21"), "none");
    json_t *t = rec(fx, "cam-1", WARD_REC_INSECURE_SERVICE, "tcp/23");
    assert_string_equal(json_string_value(json_object_get(t, "severity")), "high");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(t, "evidence"), "port")),
                     23);
    assert_non_null(json_string_value(json_object_get(t, "remediation")));
    json_decref(t);
    /* a report without key 19 says nothing about listening sockets: unchanged */
    proc_report(fx, &r, "cam-1");
    proc_send(fx, &r, "cam-1", T0 + 60000);
    assert_string_equal(state_of(fx, "cam-1", WARD_REC_INSECURE_SERVICE, "tcp/23"), "open");
    /* telnet gone, SNMP still there */
    proc_report(fx, &r, "cam-1");
    tb_set(&r, 19, listening(2, pr + 1, ad + 1, po + 1));
    proc_send(fx, &r, "cam-1", T0 + 120000);
    assert_string_equal(state_of(fx, "cam-1", WARD_REC_INSECURE_SERVICE, "tcp/23"), "resolved");
    assert_string_equal(state_of(fx, "cam-1", WARD_REC_INSECURE_SERVICE, "udp/161"), "open");
    t = rec(fx, "cam-1", WARD_REC_INSECURE_SERVICE, "tcp/23");
    assert_non_null(json_object_get(t, "resolved_at"));
    json_decref(t);
    /* and back: reopened */
    proc_report(fx, &r, "cam-1");
    tb_set(&r, 19, listening(1, pr, ad, po));
    proc_send(fx, &r, "cam-1", T0 + 180000);
    assert_string_equal(state_of(fx, "cam-1", WARD_REC_INSECURE_SERVICE, "tcp/23"), "open");
}

static void test_open_ports(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    unsigned pr[9], po[9];
    const char *ad[9];
    for (int i = 0; i < 9; i++) {
        pr[i] = 6;
        po[i] = 8000 + i;
        ad[i] = "0.0.0.0";
    }
    proc_report(fx, &r, "gw-1");
    tb_set(&r, 19, listening(8, pr, ad, po)); /* 8: at the limit */
    proc_send(fx, &r, "gw-1", T0);
    assert_string_equal(state_of(fx, "gw-1", WARD_REC_OPEN_PORTS, ""), "none");
    proc_report(fx, &r, "gw-1");
    tb_set(&r, 19, listening(9, pr, ad, po));
    proc_send(fx, &r, "gw-1", T0 + 60000);
    assert_string_equal(state_of(fx, "gw-1", WARD_REC_OPEN_PORTS, ""), "open");
    proc_report(fx, &r, "gw-1");
    tb_set(&r, 19, listening(3, pr, ad, po));
    proc_send(fx, &r, "gw-1", T0 + 120000);
    assert_string_equal(state_of(fx, "gw-1", WARD_REC_OPEN_PORTS, ""), "resolved");
}

static void test_plaintext_transport(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "plug-1");
    tb_set(&r, 20, sysinfo(1, 4u, cbor_build_bool(false)));
    tb_add_flow(&r, tb_flow(6, 1, 0, 40000, "198.18.0.10", 1883, 10, 10, 900, 700, 0, 59, -1));
    proc_send(fx, &r, "plug-1", T0);
    assert_string_equal(state_of(fx, "plug-1", WARD_REC_PLAINTEXT, "report_transport"), "open");
    assert_string_equal(state_of(fx, "plug-1", WARD_REC_PLAINTEXT, "tcp/1883"), "open");
    /* TLS on; no plaintext connection for a minute: the flow one stays open (quiet period) */
    proc_report(fx, &r, "plug-1");
    tb_set(&r, 20, sysinfo(1, 4u, cbor_build_bool(true)));
    tb_add_flow(&r, tb_flow(6, 1, 0, 40001, "198.18.0.10", 8883, 10, 10, 900, 700, 0, 59, -1));
    proc_send(fx, &r, "plug-1", T0 + 60000);
    assert_string_equal(state_of(fx, "plug-1", WARD_REC_PLAINTEXT, "report_transport"), "resolved");
    assert_string_equal(state_of(fx, "plug-1", WARD_REC_PLAINTEXT, "tcp/1883"), "open");
    proc_report(fx, &r, "plug-1");
    proc_send(fx, &r, "plug-1", T0 + HOUR + 1000);
    assert_string_equal(state_of(fx, "plug-1", WARD_REC_PLAINTEXT, "tcp/1883"), "resolved");
}

static void test_outdated(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "old-1"); /* agent 1.2.3 */
    tb_set(&r, 20, sysinfo(1, 1u, tb_text("fw-1.9.0")));
    proc_send(fx, &r, "old-1", T0);
    assert_string_equal(state_of(fx, "old-1", WARD_REC_OUTDATED_AGENT, ""), "none");
    proc_report(fx, &r, "new-1");
    tb_set(&r, 2, tb_text("1.10.0"));
    tb_set(&r, 20, sysinfo(1, 1u, tb_text("2.0.1")));
    proc_send(fx, &r, "new-1", T0 + 1000);
    proc_report(fx, &r, "old-1");
    proc_send(fx, &r, "old-1", T0 + 60000);
    assert_string_equal(state_of(fx, "old-1", WARD_REC_OUTDATED_AGENT, ""), "open");
    /* "fw-1.9.0" has no leading number: not comparable, no recommendation */
    assert_string_equal(state_of(fx, "old-1", WARD_REC_OUTDATED_FIRMWARE, ""), "none");
    proc_report(fx, &r, "old-1");
    tb_set(&r, 20, sysinfo(1, 1u, tb_text("1.9.0")));
    proc_send(fx, &r, "old-1", T0 + 120000);
    assert_string_equal(state_of(fx, "old-1", WARD_REC_OUTDATED_FIRMWARE, ""), "open");
    json_t *t = rec(fx, "old-1", WARD_REC_OUTDATED_FIRMWARE, "");
    json_t *ev = json_object_get(t, "evidence");
    assert_string_equal(json_string_value(json_object_get(ev, "newest_in_group")), "2.0.1");
    assert_string_equal(json_string_value(json_object_get(ev, "group")), "default");
    json_decref(t);
    /* upgrade both */
    proc_report(fx, &r, "old-1");
    tb_set(&r, 2, tb_text("1.10.0"));
    tb_set(&r, 20, sysinfo(1, 1u, tb_text("2.0.1")));
    proc_send(fx, &r, "old-1", T0 + 180000);
    assert_string_equal(state_of(fx, "old-1", WARD_REC_OUTDATED_AGENT, ""), "resolved");
    assert_string_equal(state_of(fx, "old-1", WARD_REC_OUTDATED_FIRMWARE, ""), "resolved");
    /* the newest itself never is outdated */
    assert_string_equal(state_of(fx, "new-1", WARD_REC_OUTDATED_AGENT, ""), "none");
}

static void test_time_not_synced(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "clk-1");
    tb_set(&r, 8, tb_uint(1)); /* times since boot */
    tb_set(&r, 5, tb_uint(5000));
    tb_set(&r, 6, tb_uint(65000));
    proc_send(fx, &r, "clk-1", T0);
    assert_string_equal(state_of(fx, "clk-1", WARD_REC_TIME_NOT_SYNCED, ""), "open");
    proc_report(fx, &r, "clk-1");
    tb_set(&r, 20, sysinfo(1, 5u, cbor_build_bool(true)));
    proc_send(fx, &r, "clk-1", T0 + 60000);
    assert_string_equal(state_of(fx, "clk-1", WARD_REC_TIME_NOT_SYNCED, ""), "resolved");
    proc_report(fx, &r, "clk-1");
    tb_set(&r, 20, sysinfo(1, 5u, cbor_build_bool(false)));
    proc_send(fx, &r, "clk-1", T0 + 120000);
    assert_string_equal(state_of(fx, "clk-1", WARD_REC_TIME_NOT_SYNCED, ""), "open");
}

/* A report handled in a transaction that is rolled back leaves no trace, in the database or in
 * what hygiene remembers of it. */
static void test_rollback(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    char topic[] = "ward/v1/rb-1/report";
    size_t len;
    proc_report(fx, &r, "rb-1");
    tb_set(&r, 8, tb_uint(1)); /* times since boot: time_not_synced opens */
    proc_send(fx, &r, "rb-1", T0);
    json_t *before = rec(fx, "rb-1", WARD_REC_TIME_NOT_SYNCED, "");
    assert_non_null(before);

    /* Resolved and a too-short interval opened, then rolled back. */
    proc_report(fx, &r, "rb-1");
    tb_set(&r, 20, sysinfo(1, 5u, cbor_build_bool(true)));
    tb_set(&r, 9, tb_uint(5));
    uint8_t *buf = tb_encode(&r, &len);
    assert_int_equal(ward_processor_begin(fx->proc), 0);
    assert_true(ward_processor_handle(fx->proc, topic, buf, len, T0 + 60000) >= 0);
    ward_store_rollback(fx->store);
    free(buf);
    assert_string_equal(state_of(fx, "rb-1", WARD_REC_TIME_NOT_SYNCED, ""), "open");
    assert_string_equal(state_of(fx, "rb-1", WARD_REC_REPORT_INTERVAL, "too_short"), "none");

    /* Still unsynced, too short this time for real: open since T0, and the interval opens. */
    proc_report(fx, &r, "rb-1");
    tb_set(&r, 8, tb_uint(1));
    tb_set(&r, 9, tb_uint(5));
    proc_send(fx, &r, "rb-1", T0 + 120000);
    json_t *after = rec(fx, "rb-1", WARD_REC_TIME_NOT_SYNCED, "");
    assert_non_null(after);
    assert_string_equal(json_string_value(json_object_get(after, "state")), "open");
    assert_string_equal(json_string_value(json_object_get(after, "first_seen")),
                        json_string_value(json_object_get(before, "first_seen")));
    assert_string_equal(state_of(fx, "rb-1", WARD_REC_REPORT_INTERVAL, "too_short"), "open");
    json_decref(before);
    json_decref(after);
}

static void test_flow_table_overflow(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "hub-1");
    tb_set(&r, 20, sysinfo(1, 6u, tb_uint(64)));
    cbor_item_t *ov = cbor_new_definite_array(1);
    cbor_array_push(ov, cbor_move(tb_uints(5, (uint64_t)17, (uint64_t)1, (uint64_t)100,
                                           (uint64_t)300, (uint64_t)20000)));
    tb_set(&r, 17, ov);
    proc_send(fx, &r, "hub-1", T0);
    json_t *t = rec(fx, "hub-1", WARD_REC_FLOW_OVERFLOW, "");
    assert_non_null(t);
    json_t *ev = json_object_get(t, "evidence");
    assert_int_equal(json_integer_value(json_object_get(ev, "untracked_flows")), 100);
    assert_int_equal(json_integer_value(json_object_get(ev, "flow_capacity")), 64);
    assert_int_equal(json_integer_value(json_object_get(ev, "suggested_capacity")), 256);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "open");
    json_decref(t);
    /* no overflow, same capacity: still open (quiet period) */
    proc_report(fx, &r, "hub-1");
    proc_send(fx, &r, "hub-1", T0 + 60000);
    assert_string_equal(state_of(fx, "hub-1", WARD_REC_FLOW_OVERFLOW, ""), "open");
    /* a bigger table: resolved at once */
    proc_report(fx, &r, "hub-1");
    tb_set(&r, 20, sysinfo(1, 6u, tb_uint(256)));
    proc_send(fx, &r, "hub-1", T0 + 120000);
    assert_string_equal(state_of(fx, "hub-1", WARD_REC_FLOW_OVERFLOW, ""), "resolved");
}

static void test_report_interval(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "chatty-1");
    tb_set(&r, 9, tb_uint(10));
    proc_send(fx, &r, "chatty-1", T0);
    assert_string_equal(state_of(fx, "chatty-1", WARD_REC_REPORT_INTERVAL, "too_short"), "open");
    proc_report(fx, &r, "chatty-1"); /* 60 s */
    proc_send(fx, &r, "chatty-1", T0 + 10000);
    assert_string_equal(state_of(fx, "chatty-1", WARD_REC_REPORT_INTERVAL, "too_short"),
                        "resolved");
    proc_report(fx, &r, "chatty-1");
    tb_set(&r, 9, tb_uint(3600));
    proc_send(fx, &r, "chatty-1", T0 + 70000);
    assert_string_equal(state_of(fx, "chatty-1", WARD_REC_REPORT_INTERVAL, "too_long"), "open");
}

static void test_shared_identity(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    /* two devices with the same id, boots 0xa and 0xb, alternating */
    static const uint64_t boots[] = {0xa, 0xb, 0xa, 0xb};
    for (int i = 0; i < 4; i++) {
        tb_init(&r, "clone-1", (uint64_t)(1 + i / 2));
        tb_set(&r, 3, tb_uint(boots[i]));
        proc_send(fx, &r, "clone-1", T0 + i * 30000);
        if (i == 2)
            assert_string_equal(state_of(fx, "clone-1", WARD_REC_SHARED_IDENTITY, ""), "none");
    }
    assert_string_equal(state_of(fx, "clone-1", WARD_REC_SHARED_IDENTITY, ""), "open");
    json_t *t = rec(fx, "clone-1", WARD_REC_SHARED_IDENTITY, "");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "evidence"), "kind")),
                        "boot_interleave");
    json_decref(t);
    /* one device alone for more than the quiet period: resolved */
    tb_init(&r, "clone-1", 3);
    tb_set(&r, 3, tb_uint(0xb));
    proc_send(fx, &r, "clone-1", T0 + HOUR + 200000);
    assert_string_equal(state_of(fx, "clone-1", WARD_REC_SHARED_IDENTITY, ""), "resolved");
    /* an ordinary reboot is not shared identity */
    tb_init(&r, "solo-1", 50);
    proc_send(fx, &r, "solo-1", T0);
    tb_init(&r, "solo-1", 1);
    tb_set(&r, 3, tb_uint(0xc0ffee));
    proc_send(fx, &r, "solo-1", T0 + 60000);
    tb_init(&r, "solo-1", 2);
    tb_set(&r, 3, tb_uint(0xc0ffee));
    proc_send(fx, &r, "solo-1", T0 + 120000);
    assert_string_equal(state_of(fx, "solo-1", WARD_REC_SHARED_IDENTITY, ""), "none");
}

static void test_version_cmp(void **state)
{
    (void)state;
    bool ok;
    assert_true(ward_hygiene_version_cmp("1.2.10", "1.2.9", &ok) > 0 && ok);
    assert_true(ward_hygiene_version_cmp("v2.0", "2.0.0", &ok) == 0 && ok);
    assert_true(ward_hygiene_version_cmp("1.2.3-rc1", "1.2.3", &ok) < 0 && ok);
    assert_true(ward_hygiene_version_cmp("1.2", "1.2.1", &ok) < 0 && ok);
    assert_int_equal(ward_hygiene_version_cmp("abc", "1.0", &ok), 0);
    assert_false(ok);
    assert_true(ward_hygiene_version_cmp("99999999999999999999999.1", "1", &ok) > 0 && ok);
}

int main(void)
{
    ward_log_init("test_hygiene", WARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insecure_service, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_open_ports, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_plaintext_transport, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_outdated, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_time_not_synced, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_rollback, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_flow_table_overflow, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_report_interval, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_shared_identity, proc_setup, proc_teardown),
        cmocka_unit_test(test_version_cmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
