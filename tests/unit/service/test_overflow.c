/*
 * The overflow summary (report key 17) through the pipeline into the store and back out as
 * wardctl reads it: one row per entry with the report's period as first/last seen, the counters
 * under the flows' names for its direction, several parts and reports kept apart, a device filter,
 * and a database older than the table read as having no overflow. Also: a report part without
 * flows (overflow only, or a bare heartbeat) is accepted and counted like any other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "process.h"
#include "proc_fixture.h"
#include "report_build.h"

/* Handle r of device in its own transaction, received at 1700000065000. */
static int handle(fixture_t *fx, const char *device, tb_report_t *r)
{
    return proc_send(fx, r, device, 1700000065000);
}

/* Key 17 with n entries of (proto, direction, flows, packets, bytes). */
static cbor_item_t *overflow(size_t n, const uint64_t (*e)[5])
{
    cbor_item_t *a = cbor_new_definite_array(n);
    for (size_t i = 0; i < n; i++)
        assert_true(cbor_array_push(
            a, cbor_move(tb_uints(5, e[i][0], e[i][1], e[i][2], e[i][3], e[i][4]))));
    return a;
}

static json_t *read_overflow(fixture_t *fx, const char *device)
{
    char err[256];
    ward_store_t *ro = ward_store_open(fx->db, true, err, sizeof err);
    assert_non_null(ro);
    json_t *rows = ward_store_overflow_json(ro, device, 0);
    assert_non_null(rows);
    ward_store_close(ro);
    return rows;
}

static void expect_row(json_t *o, const char *device, const char *proto, const char *dir,
                       json_int_t flows, json_int_t packets, json_int_t bytes)
{
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "device")), device);
    assert_true(json_is_true(json_object_get(o, "overflow")));
    assert_string_equal(json_string_value(json_object_get(o, "protocol")), proto);
    assert_string_equal(json_string_value(json_object_get(o, "direction")), dir);
    assert_int_equal(json_integer_value(json_object_get(o, "flows")), flows);
    assert_int_equal(json_integer_value(json_object_get(o, "packets")), packets);
    assert_int_equal(json_integer_value(json_object_get(o, "bytes")), bytes);
    bool in = strcmp(dir, "inbound") == 0, out = strcmp(dir, "outbound") == 0;
    assert_int_equal(json_integer_value(json_object_get(o, "packets_in")), in ? packets : 0);
    assert_int_equal(json_integer_value(json_object_get(o, "packets_out")), out ? packets : 0);
    assert_int_equal(json_integer_value(json_object_get(o, "bytes_in")), in ? bytes : 0);
    assert_int_equal(json_integer_value(json_object_get(o, "bytes_out")), out ? bytes : 0);
}

static void stored_and_read(void **state)
{
    fixture_t *fx = *state;
    static const uint64_t e1[3][5] = {
        {6, 1, 12, 40, 2400}, /* TCP outbound */
        {17, 2, 3, 5, 700},   /* UDP inbound */
        {0, 2, 0, 2, 2960},   /* fragments of unknown flows */
    };
    static const uint64_t e2[1][5] = {{58, 1, 1, 1, 104}};
    tb_report_t r;

    /* Report 0 (period 1700000000000 .. +60 s, synced clock): three entries and a flow. */
    tb_init(&r, "dev-o", 0);
    tb_set(&r, WARD_RK_OVERFLOW, overflow(3, e1));
    tb_add_flow(&r, tb_flow(6, 1, 0, 40000, "192.0.2.1", 443, 3, 2, 300, 200, 1, 5, 0x1212));
    assert_int_equal(handle(fx, "dev-o", &r), 0);
    /* Report 1, part 1 of 2, one minute later: one ICMPv6 entry. */
    tb_init(&r, "dev-o", 1);
    tb_set(&r, WARD_RK_PERIOD_START, tb_uint(1700000060000));
    tb_set(&r, WARD_RK_PERIOD_END, tb_uint(1700000120000));
    tb_set(&r, WARD_RK_PART, tb_uints(2, (uint64_t)1, (uint64_t)2));
    tb_set(&r, WARD_RK_OVERFLOW, overflow(1, e2));
    assert_int_equal(handle(fx, "dev-o", &r), 0);
    /* Another device's report, and one without overflow. */
    tb_init(&r, "dev-p", 0);
    tb_set(&r, WARD_RK_OVERFLOW, overflow(1, e2));
    assert_int_equal(handle(fx, "dev-p", &r), 0);
    tb_init(&r, "dev-o", 2);
    assert_int_equal(handle(fx, "dev-o", &r), 0);
    /* A duplicate of report 0 adds nothing. */
    tb_init(&r, "dev-o", 0);
    tb_set(&r, WARD_RK_OVERFLOW, overflow(3, e1));
    tb_add_flow(&r, tb_flow(6, 1, 0, 40000, "192.0.2.1", 443, 3, 2, 300, 200, 1, 5, 0x1212));
    assert_int_equal(handle(fx, "dev-o", &r), 1);

    json_t *rows = read_overflow(fx, "dev-o");
    assert_int_equal(json_array_size(rows), 4);
    expect_row(json_array_get(rows, 0), "dev-o", "tcp", "outbound", 12, 40, 2400);
    expect_row(json_array_get(rows, 1), "dev-o", "udp", "inbound", 3, 5, 700);
    expect_row(json_array_get(rows, 2), "dev-o", "0", "inbound", 0, 2, 2960);
    expect_row(json_array_get(rows, 3), "dev-o", "icmpv6", "outbound", 1, 1, 104);
    for (size_t i = 0; i < 3; i++) {
        json_t *o = json_array_get(rows, i);
        assert_string_equal(json_string_value(json_object_get(o, "first_seen")),
                            "2023-11-14T22:13:20Z");
        assert_string_equal(json_string_value(json_object_get(o, "last_seen")),
                            "2023-11-14T22:14:20Z");
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 3), "first_seen")),
                        "2023-11-14T22:14:20Z");
    json_decref(rows);

    /* Reports without flows (only overflow, or nothing: a heartbeat) count as reports too. */
    json_t *devs = ward_store_devices_json(fx->store, "dev-o");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(devs, 0), "reports")), 3);
    json_decref(devs);

    rows = read_overflow(fx, NULL);
    assert_int_equal(json_array_size(rows), 5);
    json_decref(rows);
    rows = read_overflow(fx, "dev-p");
    assert_int_equal(json_array_size(rows), 1);
    expect_row(json_array_get(rows, 0), "dev-p", "icmpv6", "outbound", 1, 1, 104);
    json_decref(rows);
}

/* A device counting from boot: the period ends when the service received the report. */
static void boot_time_base(void **state)
{
    fixture_t *fx = *state;
    static const uint64_t e[1][5] = {{17, 1, 2, 2, 120}};
    tb_report_t r;
    tb_init(&r, "dev-b", 0);
    tb_set(&r, WARD_RK_TIME_BASE, tb_uint(WARD_TIME_BOOT));
    tb_set(&r, WARD_RK_PERIOD_START, tb_uint(5000));
    tb_set(&r, WARD_RK_PERIOD_END, tb_uint(35000));
    tb_set(&r, WARD_RK_OVERFLOW, overflow(1, e));
    assert_int_equal(handle(fx, "dev-b", &r), 0);
    json_t *rows = read_overflow(fx, "dev-b");
    assert_int_equal(json_array_size(rows), 1);
    json_t *o = json_array_get(rows, 0);
    expect_row(o, "dev-b", "udp", "outbound", 2, 2, 120);
    /* received 1700000065000 - 30 s .. 1700000065000 */
    assert_string_equal(json_string_value(json_object_get(o, "first_seen")),
                        "2023-11-14T22:13:55Z");
    assert_string_equal(json_string_value(json_object_get(o, "last_seen")), "2023-11-14T22:14:25Z");
    json_decref(rows);
}

/* A database written before flow_overflow existed: readers see no overflow, not an error. */
static void older_database(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE flow_overflow", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    json_t *rows = read_overflow(fx, NULL);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
}

int main(void)
{
    ward_log_init("test", getenv("WARD_TEST_LOG") ? WARD_LOG_DEBUG : WARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stored_and_read, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(boot_time_base, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(older_database, proc_setup, proc_teardown),
    };
    return cmocka_run_group_tests_name("service_overflow", tests, NULL, NULL);
}
