/*
 * device_alerts through the synchronous processor with a real SQLite file: detections (report key
 * 24) become agent.deny_list_hit alerts folded per (device, remote address, rule); a config_status
 * (key 25) becomes device.config_rejected; devices.config_rev follows report key 10 from the
 * newest report; a priority report (key 11) arriving ahead of an older regular one is neither a
 * replay nor a datapoint; a database from before devices.config_rev gets the column.
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

#include "clock.h"
#include "device_alerts.h"
#include "log.h"
#include "process.h"
#include "proc_fixture.h"
#include "report_build.h"

#define PERIOD_START 1700000000000 /* tb_init's period_start */

/* Handle r of dev-1 in its own transaction, received at 1700000065000. */
static int handle(fixture_t *fx, tb_report_t *r)
{
    return proc_send(fx, r, "dev-1", 1700000065000);
}

/* [kind, direction, proto, remote, rport, lport, rule, action, count, time] */
static cbor_item_t *detection(unsigned dir, unsigned proto, const char *remote, unsigned rport,
                              unsigned lport, unsigned rule, unsigned action, unsigned count,
                              unsigned t)
{
    cbor_item_t *a = cbor_new_definite_array(10);
    assert_true(cbor_array_push(a, cbor_move(tb_uint(WARD_DK_DENY_LIST))));
    assert_true(cbor_array_push(a, cbor_move(tb_uint(dir))));
    assert_true(cbor_array_push(a, cbor_move(tb_uint(proto))));
    assert_true(cbor_array_push(a, cbor_move(tb_addr(remote))));
    assert_true(cbor_array_push(a, cbor_move(tb_uint(rport))));
    assert_true(cbor_array_push(a, cbor_move(tb_uint(lport))));
    assert_true(cbor_array_push(a, cbor_move(tb_uint(rule))));
    assert_true(cbor_array_push(a, cbor_move(tb_uint(action))));
    assert_true(cbor_array_push(a, cbor_move(tb_uint(count))));
    assert_true(cbor_array_push(a, cbor_move(tb_uint(t))));
    return a;
}

/* A priority report: header, config_rev, key 11 true, the detections, no flows. */
static void priority_report(tb_report_t *r, uint64_t seq, uint64_t rev, cbor_item_t *det)
{
    tb_init(r, "dev-1", seq);
    tb_del(r, WARD_RK_FLOWS);
    tb_del(r, WARD_RK_LOCAL_ADDRS);
    tb_set(r, WARD_RK_CONFIG_REV, tb_uint(rev));
    tb_set(r, WARD_RK_PRIORITY, cbor_build_bool(true));
    cbor_item_t *list = cbor_new_definite_array(1);
    assert_true(cbor_array_push(list, cbor_move(det)));
    tb_set(r, WARD_RK_DETECTIONS, list);
}

/* Alerts of a type, as JSON (new reference). */
static json_t *alerts_of(fixture_t *fx, const char *type)
{
    json_t *all = ward_store_alerts_json(fx->store, "dev-1", 0);
    json_t *out = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(all, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "type")), type) == 0)
            json_array_append(out, a);
    }
    json_decref(all);
    return out;
}

static json_int_t config_rev(fixture_t *fx)
{
    json_t *d = ward_store_devices_json(fx->store, "dev-1");
    assert_int_equal(json_array_size(d), 1);
    json_int_t v = json_integer_value(json_object_get(json_array_get(d, 0), "config_rev"));
    json_decref(d);
    return v;
}

static void deny_hits(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    char t[WARD_TIME_STRLEN];

    /* seq 0: a regular report of config revision 7. */
    tb_init(&r, "dev-1", 0);
    tb_set(&r, WARD_RK_CONFIG_REV, tb_uint(7));
    assert_int_equal(handle(fx, &r), 0);
    assert_int_equal(config_rev(fx), 7);

    /* seq 2, priority, sent ahead of the regular seq 1: outbound TCP to 203.0.113.9:443 hit
     * rule 0 (drop), 3 packets, first 2 s into the period. */
    priority_report(&r, 2, 7, detection(1, 6, "203.0.113.9", 443, 50000, 0, 1, 3, 2));
    assert_int_equal(handle(fx, &r), 0);
    json_t *hits = alerts_of(fx, WARD_ALERT_DENY_HIT);
    assert_int_equal(json_array_size(hits), 1);
    json_t *a = json_array_get(hits, 0);
    assert_string_equal(json_string_value(json_object_get(a, "severity")), "high");
    assert_string_equal(json_string_value(json_object_get(a, "title")),
                        "Device blocked or flagged traffic on its deny-list");
    json_t *ev = json_object_get(a, "evidence");
    assert_string_equal(json_string_value(json_object_get(ev, "direction")), "outbound");
    assert_string_equal(json_string_value(json_object_get(ev, "protocol")), "tcp");
    assert_string_equal(json_string_value(json_object_get(ev, "remote_addr")), "203.0.113.9");
    assert_int_equal(json_integer_value(json_object_get(ev, "remote_port")), 443);
    assert_int_equal(json_integer_value(json_object_get(ev, "local_port")), 50000);
    assert_int_equal(json_integer_value(json_object_get(ev, "rule")), 0);
    assert_string_equal(json_string_value(json_object_get(ev, "action")), "drop");
    assert_int_equal(json_integer_value(json_object_get(ev, "count")), 3);
    assert_string_equal(json_string_value(json_object_get(ev, "time")),
                        ward_time_iso(PERIOD_START + 2000, t, sizeof t));
    assert_int_equal(json_integer_value(json_object_get(ev, "config_rev")), 7);
    assert_true(json_is_true(json_object_get(ev, "priority")));
    json_decref(hits);

    /* The regular seq 1 arrives after it: not a replay (the priority report does not move the
     * seq the detectors track). */
    tb_init(&r, "dev-1", 1);
    tb_set(&r, WARD_RK_CONFIG_REV, tb_uint(7));
    assert_int_equal(handle(fx, &r), 0);
    json_t *replays = alerts_of(fx, "device.replay");
    assert_int_equal(json_array_size(replays), 0);
    json_decref(replays);

    /* seq 3: the same pair again (folded), and the same address on rule 1, inbound UDP (new). */
    tb_init(&r, "dev-1", 3);
    tb_set(&r, WARD_RK_CONFIG_REV, tb_uint(7));
    cbor_item_t *list = cbor_new_definite_array(2);
    assert_true(cbor_array_push(list, cbor_move(detection(1, 6, "203.0.113.9", 443, 50001, 0, 1,
                                                          1, 10))));
    assert_true(cbor_array_push(list, cbor_move(detection(2, 17, "203.0.113.9", 53, 5353, 1, 0,
                                                          4, 11))));
    tb_set(&r, WARD_RK_DETECTIONS, list);
    assert_int_equal(handle(fx, &r), 0);
    hits = alerts_of(fx, WARD_ALERT_DENY_HIT);
    assert_int_equal(json_array_size(hits), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(hits, 0), "count")), 2);
    ev = json_object_get(json_array_get(hits, 1), "evidence");
    assert_int_equal(json_integer_value(json_object_get(ev, "rule")), 1);
    assert_string_equal(json_string_value(json_object_get(ev, "action")), "alert");
    assert_string_equal(json_string_value(json_object_get(ev, "direction")), "inbound");
    assert_string_equal(json_string_value(json_object_get(ev, "protocol")), "udp");
    json_decref(hits);

    /* An IPv6 ICMPv6 hit: type/code from the remote_port position. */
    priority_report(&r, 4, 7, detection(1, 58, "2001:db8:bad::1", 128 * 256, 0, 2, 0, 1, 0));
    assert_int_equal(handle(fx, &r), 0);
    hits = alerts_of(fx, WARD_ALERT_DENY_HIT);
    assert_int_equal(json_array_size(hits), 3);
    ev = json_object_get(json_array_get(hits, 2), "evidence");
    assert_string_equal(json_string_value(json_object_get(ev, "remote_addr")), "2001:db8:bad::1");
    assert_int_equal(json_integer_value(json_object_get(ev, "icmp_type")), 128);
    json_decref(hits);
    assert_int_equal(config_rev(fx), 7);
}

static void config_rejected(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;

    tb_init(&r, "dev-1", 0);
    tb_set(&r, WARD_RK_CONFIG_REV, tb_uint(5));
    assert_int_equal(handle(fx, &r), 0);
    /* Revision 6 rejected (interval out of range); 5 stays in force. */
    tb_init(&r, "dev-1", 1);
    tb_set(&r, WARD_RK_CONFIG_REV, tb_uint(5));
    cbor_item_t *cs = cbor_new_definite_array(3);
    assert_true(cbor_array_push(cs, cbor_move(tb_uint(6))));
    assert_true(cbor_array_push(cs, cbor_move(tb_uint(WARD_E_RANGE))));
    assert_true(cbor_array_push(cs, cbor_move(tb_text("interval"))));
    tb_set(&r, WARD_RK_CONFIG_STATUS, cs);
    assert_int_equal(handle(fx, &r), 0);
    json_t *rej = alerts_of(fx, WARD_ALERT_CONFIG_REJECTED);
    assert_int_equal(json_array_size(rej), 1);
    json_t *a = json_array_get(rej, 0);
    assert_string_equal(json_string_value(json_object_get(a, "severity")), "medium");
    json_t *ev = json_object_get(a, "evidence");
    assert_int_equal(json_integer_value(json_object_get(ev, "revision")), 6);
    assert_string_equal(json_string_value(json_object_get(ev, "status")), "out_of_range");
    assert_int_equal(json_integer_value(json_object_get(ev, "status_code")), WARD_E_RANGE);
    assert_string_equal(json_string_value(json_object_get(ev, "reason")), "interval");
    assert_int_equal(json_integer_value(json_object_get(ev, "config_rev")), 5);
    json_decref(rej);
    assert_int_equal(config_rev(fx), 5);
    /* A report without key 10: built-in config, revision 0. */
    tb_init(&r, "dev-1", 2);
    assert_int_equal(handle(fx, &r), 0);
    assert_int_equal(config_rev(fx), 0);
}

/* A database created before devices.config_rev: the writer adds it, readers see 0. */
static void old_database(void **state)
{
    (void)state;
    char dir[64], db[128], err[256];
    sqlite3 *h;
    tb_tmpdir(dir);
    snprintf(db, sizeof db, "%s/old.db", dir);
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h,
                     "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                     "INSERT INTO meta VALUES('schema_version', '1');"
                     "CREATE TABLE devices(id TEXT PRIMARY KEY, first_seen INTEGER NOT NULL,"
                     " last_seen INTEGER NOT NULL, agent_version TEXT NOT NULL,"
                     " boot_id INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
                     " reports INTEGER NOT NULL DEFAULT 0, flows INTEGER NOT NULL DEFAULT 0);"
                     "INSERT INTO devices VALUES('old-1', 1, 2, '1.0.0', 7, 3, 4, 5);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    /* Reader first: the column is missing, config_rev reads 0. */
    ward_store_t *st = ward_store_open(db, true, err, sizeof err);
    assert_non_null(st);
    json_t *d = ward_store_devices_json(st, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 0), "config_rev")), 0);
    json_decref(d);
    ward_store_close(st);
    /* Writer: adds it; the row keeps its data. */
    st = ward_store_open(db, false, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(ward_store_begin(st), 0);
    assert_int_equal(ward_store_device_config_rev(st, "old-1", 7, 3, 12), 0);
    assert_int_equal(ward_store_commit(st), 0);
    d = ward_store_devices_json(st, NULL);
    json_t *row = json_array_get(d, 0);
    assert_int_equal(json_integer_value(json_object_get(row, "config_rev")), 12);
    assert_int_equal(json_integer_value(json_object_get(row, "reports")), 4);
    json_decref(d);
    ward_store_close(st);
    tb_rmtree(dir);
}

int main(void)
{
    ward_log_init("test", WARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(deny_hits, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(config_rejected, proc_setup, proc_teardown),
        cmocka_unit_test(old_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
