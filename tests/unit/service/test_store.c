/*
 * store: a round trip through a real SQLite file in a fresh temporary folder — schema, duplicate
 * filter, device upsert, flows (ICMP split), read-only reopen, and the errors wardctl relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "report_build.h"
#include "store.h"

/* A report part of device dev (boot 0xb007 unless changed) with the given flows, as received. */
static uint8_t *part_bytes(const char *dev, uint64_t seq, cbor_item_t **flows, size_t n,
                           size_t *len)
{
    tb_report_t r;
    tb_init(&r, dev, seq);
    for (size_t i = 0; i < n; i++)
        tb_add_flow(&r, flows[i]);
    return tb_encode(&r, len);
}

static int part_seen(ward_store_t *st, const char *dev, uint32_t boot, uint64_t seq, uint32_t part,
                     int64_t received, const uint8_t *payload, size_t len)
{
    ward_store_part_t p = {dev, boot, seq, part, 1, received, 1700000000000, payload, len};
    return ward_store_part_seen(st, &p);
}

static void round_trip(void **state)
{
    (void)state;
    char dir[64], path[128], err[256];
    tb_tmpdir(dir);
    snprintf(path, sizeof path, "%s/ward.db", dir);

    ward_store_t *st = ward_store_open(path, false, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(ward_store_begin(st), 0);
    /* Flows are kept as the parts' payloads: dev-1 TCP with flags, then ICMP (type 8 code 3,
     * inbound) a second later; dev-2 UDP over IPv6 two seconds later. */
    size_t l1, l2;
    cbor_item_t *fl1[] = {
        tb_flow(6, WARD_DIR_OUTBOUND, 0, 40000, "203.0.113.7", 443, 3, 2, 300, 200, 0, 5, 0x1202),
        tb_flow(1, WARD_DIR_INBOUND, 0, 0, "192.0.2.1", 8 * 256 + 3, 3, 2, 300, 200, 1, 5, -1)};
    cbor_item_t *fl2[] = {tb_flow(17, WARD_DIR_OUTBOUND, 1, 5353, "::ffff:198.51.100.1", 53, 3, 2,
                                  300, 200, 2, 5, -1)};
    uint8_t *p1 = part_bytes("dev-1", 0, fl1, 2, &l1), *p2 = part_bytes("dev-2", 0, fl2, 1, &l2);
    assert_int_equal(part_seen(st, "dev-1", 7, 0, 0, 1700000060000, p1, l1), 1);
    assert_int_equal(part_seen(st, "dev-1", 7, 0, 0, 1700000061000, p2, l2), 0);  /* dup */
    assert_int_equal(part_seen(st, "dev-1", 7, 0, 1, 1700000061000, NULL, 0), 1); /* part */
    assert_int_equal(part_seen(st, "dev-1", 8, 0, 0, 1700000061000, NULL, 0), 1); /* boot */
    assert_int_equal(part_seen(st, "dev-2", 7, 0, 0, 1700000061000, p2, l2), 1);  /* dev */
    free(p1);
    free(p2);
    ward_store_device_t d = {"dev-1", "1.0.0", 7, 5, 1700000060000, 2};
    assert_int_equal(ward_store_device_upsert(st, &d), 0);
    d.agent_version = "1.0.1";
    d.seq = 4; /* late: last_seq stays 5 in the same boot */
    d.seen_ms = 1700000120000;
    d.n_flows = 0;
    assert_int_equal(ward_store_device_upsert(st, &d), 0);
    ward_store_device_t d2 = {"dev-2", "2.0.0", 9, 3, 1700000070000, 1};
    assert_int_equal(ward_store_device_upsert(st, &d2), 0);
    d2.boot_id = 10; /* reboot: seq starts again */
    d2.seq = 0;
    assert_int_equal(ward_store_device_upsert(st, &d2), 0);
    assert_int_equal(ward_store_commit(st), 0);
    ward_store_close(st);

    /* The duplicate filter survives a restart. */
    st = ward_store_open(path, false, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(ward_store_begin(st), 0);
    assert_int_equal(part_seen(st, "dev-1", 7, 0, 0, 1700000062000, NULL, 0), 0);
    assert_int_equal(ward_store_commit(st), 0);
    ward_store_close(st);

    st = ward_store_open(path, true, err, sizeof err);
    assert_non_null(st);
    json_t *devs = ward_store_devices_json(st, NULL);
    assert_int_equal(json_array_size(devs), 2);
    json_t *d1 = json_array_get(devs, 0);
    assert_string_equal(json_string_value(json_object_get(d1, "id")), "dev-1");
    assert_string_equal(json_string_value(json_object_get(d1, "first_seen")),
                        "2023-11-14T22:14:20Z");
    assert_string_equal(json_string_value(json_object_get(d1, "last_seen")),
                        "2023-11-14T22:15:20Z");
    assert_string_equal(json_string_value(json_object_get(d1, "agent_version")), "1.0.1");
    assert_int_equal(json_integer_value(json_object_get(d1, "boot_id")), 7);
    assert_int_equal(json_integer_value(json_object_get(d1, "last_seq")), 5);
    assert_int_equal(json_integer_value(json_object_get(d1, "reports")), 2);
    assert_int_equal(json_integer_value(json_object_get(d1, "flows")), 2);
    json_t *dj2 = json_array_get(devs, 1);
    assert_int_equal(json_integer_value(json_object_get(dj2, "boot_id")), 10);
    assert_int_equal(json_integer_value(json_object_get(dj2, "last_seq")), 0);
    json_decref(devs);

    devs = ward_store_devices_json(st, "dev-2");
    assert_int_equal(json_array_size(devs), 1);
    json_decref(devs);
    devs = ward_store_devices_json(st, "nobody");
    assert_int_equal(json_array_size(devs), 0);
    json_decref(devs);

    json_t *flows = ward_store_flows_json(st, NULL, 0);
    assert_int_equal(json_array_size(flows), 3);
    json_t *j1 = json_array_get(flows, 0), *j2 = json_array_get(flows, 1),
           *j3 = json_array_get(flows, 2);
    assert_string_equal(json_string_value(json_object_get(j1, "device")), "dev-1");
    assert_string_equal(json_string_value(json_object_get(j1, "protocol")), "tcp");
    assert_string_equal(json_string_value(json_object_get(j1, "local_addr")), "10.0.0.2");
    assert_int_equal(json_integer_value(json_object_get(j1, "local_port")), 40000);
    assert_string_equal(json_string_value(json_object_get(j1, "remote_addr")), "203.0.113.7");
    assert_int_equal(json_integer_value(json_object_get(j1, "remote_port")), 443);
    assert_string_equal(json_string_value(json_object_get(j1, "initiator")), "outbound");
    assert_int_equal(json_integer_value(json_object_get(j1, "packets_in")), 2);
    assert_int_equal(json_integer_value(json_object_get(j1, "packets_out")), 3);
    assert_int_equal(json_integer_value(json_object_get(j1, "bytes_in")), 200);
    assert_int_equal(json_integer_value(json_object_get(j1, "bytes_out")), 300);
    assert_string_equal(json_string_value(json_object_get(j1, "first_seen")),
                        "2023-11-14T22:13:20Z");
    assert_string_equal(json_string_value(json_object_get(j1, "last_seen")),
                        "2023-11-14T22:13:25Z");
    assert_int_equal(json_integer_value(json_object_get(j1, "tcp_flags_out")), 0x02);
    assert_int_equal(json_integer_value(json_object_get(j1, "tcp_flags_in")), 0x12);
    assert_null(json_object_get(j1, "icmp_type"));
    assert_string_equal(json_string_value(json_object_get(j2, "protocol")), "icmp");
    assert_int_equal(json_integer_value(json_object_get(j2, "remote_port")), 0);
    assert_int_equal(json_integer_value(json_object_get(j2, "icmp_type")), 8);
    assert_int_equal(json_integer_value(json_object_get(j2, "icmp_code")), 3);
    assert_string_equal(json_string_value(json_object_get(j2, "initiator")), "inbound");
    assert_null(json_object_get(j2, "tcp_flags_out"));
    assert_string_equal(json_string_value(json_object_get(j3, "local_addr")), "2001:db8::2");
    assert_string_equal(json_string_value(json_object_get(j3, "remote_addr")),
                        "::ffff:198.51.100.1");
    json_decref(flows);
    flows = ward_store_flows_json(st, "dev-1", 1);
    assert_int_equal(json_array_size(flows), 1);
    json_decref(flows);
    ward_store_close(st);
    tb_rmtree(dir);
}

static void reader_errors(void **state)
{
    (void)state;
    char dir[64], path[128], err[256];
    struct stat sb;
    tb_tmpdir(dir);

    /* A reader never creates a database. */
    snprintf(path, sizeof path, "%s/missing.db", dir);
    assert_null(ward_store_open(path, true, err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
    assert_int_not_equal(stat(path, &sb), 0);

    /* Not a ward database: an empty file, and a folder. */
    snprintf(path, sizeof path, "%s/empty.db", dir);
    fclose(fopen(path, "w"));
    assert_null(ward_store_open(path, true, err, sizeof err));
    assert_non_null(strstr(err, "not a ward database"));
    assert_null(ward_store_open(dir, true, err, sizeof err));

    /* A writer creates it (WAL mode). */
    snprintf(path, sizeof path, "%s/new.db", dir);
    ward_store_t *st = ward_store_open(path, false, err, sizeof err);
    assert_non_null(st);
    ward_store_close(st);
    st = ward_store_open(path, true, err, sizeof err);
    assert_non_null(st);
    json_t *a = ward_store_alerts_json(st, NULL, 0);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
    ward_store_close(st);
    tb_rmtree(dir);
}

/*
 * A schema 1 database (one row per flow in table flows, report_parts without payloads) is
 * migrated when wardd opens it: the duplicate filter keeps its parts, the old flows are still
 * read, merged by time with the flows of new parts.
 */
static void migrate_schema_1(void **state)
{
    (void)state;
    char dir[64], path[128], err[256];
    tb_tmpdir(dir);
    snprintf(path, sizeof path, "%s/v1.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES('schema_version', '1');"
            "CREATE TABLE report_parts(device TEXT NOT NULL, boot_id INTEGER NOT NULL,"
            " seq INTEGER NOT NULL, part INTEGER NOT NULL, received INTEGER NOT NULL,"
            " digest INTEGER NOT NULL, PRIMARY KEY(device, boot_id, seq, part)) WITHOUT ROWID;"
            "INSERT INTO report_parts VALUES('dev-1', 7, 0, 0, 1700000060000, 1);"
            "CREATE TABLE flows(id INTEGER PRIMARY KEY, device TEXT NOT NULL,"
            " boot_id INTEGER NOT NULL, seq INTEGER NOT NULL, protocol INTEGER NOT NULL,"
            " local_addr TEXT NOT NULL, local_port INTEGER NOT NULL, remote_addr TEXT NOT NULL,"
            " remote_port INTEGER NOT NULL, icmp_type INTEGER, icmp_code INTEGER,"
            " initiator TEXT NOT NULL, packets_in INTEGER NOT NULL, packets_out INTEGER NOT NULL,"
            " bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL,"
            " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, tcp_flags INTEGER);"
            "CREATE INDEX flows_device_time ON flows(device, first_seen);"
            "INSERT INTO flows VALUES(1, 'dev-1', 7, 0, 1, '10.0.0.2', 0, '192.0.2.9', 0, 8, 0,"
            " 'inbound', 1, 0, 84, 0, 1700000001000, 1700000001000, NULL);"
            "INSERT INTO flows VALUES(2, 'dev-1', 7, 0, 6, '10.0.0.2', 40000, '203.0.113.9', 22,"
            " NULL, NULL, 'outbound', 2, 3, 200, 300, 1700000009000, 1700000010000, 4626);",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    ward_store_t *st = ward_store_open(path, false, err, sizeof err);
    assert_non_null(st);
    size_t len;
    cbor_item_t *fl[] = {
        tb_flow(17, WARD_DIR_OUTBOUND, 0, 5353, "198.51.100.1", 53, 1, 1, 60, 90, 5, 6, -1)};
    uint8_t *p = part_bytes("dev-1", 1, fl, 1, &len);
    assert_int_equal(ward_store_begin(st), 0);
    assert_int_equal(part_seen(st, "dev-1", 7, 0, 0, 1700000070000, p, len), 0); /* kept */
    assert_int_equal(part_seen(st, "dev-1", 7, 1, 0, 1700000070000, p, len), 1);
    assert_int_equal(ward_store_commit(st), 0);
    free(p);
    ward_store_close(st);

    st = ward_store_open(path, true, err, sizeof err);
    assert_non_null(st);
    json_t *flows = ward_store_flows_json(st, "dev-1", 0);
    assert_int_equal(json_array_size(flows), 3);
    const char *want[][2] = {
        {"icmp", "192.0.2.9"}, {"udp", "198.51.100.1"}, {"tcp", "203.0.113.9"}};
    for (size_t i = 0; i < 3; i++) {
        json_t *f = json_array_get(flows, i);
        assert_string_equal(json_string_value(json_object_get(f, "protocol")), want[i][0]);
        assert_string_equal(json_string_value(json_object_get(f, "remote_addr")), want[i][1]);
    }
    assert_int_equal(json_integer_value(json_object_get(json_array_get(flows, 0), "icmp_type")), 8);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(flows, 2), "tcp_flags_in")),
                     0x12);
    json_decref(flows);
    flows = ward_store_flows_json(st, "dev-1", 2); /* the limit counts both kinds */
    assert_int_equal(json_array_size(flows), 2);
    json_decref(flows);
    flows = ward_store_flows_json(st, "dev-1", 1); /* cut back while reading: still the oldest */
    assert_int_equal(json_array_size(flows), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(flows, 0), "protocol")),
                        "icmp");
    json_decref(flows);
    ward_store_close(st);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "2");
    sqlite3_finalize(q);
    sqlite3_close(db);
    tb_rmtree(dir);
}

/* The devices rows are written at commit from the writer's copy: a rolled-back transaction
 * leaves no trace in it, and the copy follows changes made before a restart. */
static void device_rows_rollback(void **state)
{
    (void)state;
    char dir[64], path[128], err[256];
    tb_tmpdir(dir);
    snprintf(path, sizeof path, "%s/ward.db", dir);
    ward_store_t *st = ward_store_open(path, false, err, sizeof err);
    assert_non_null(st);
    ward_store_device_t d = {"dev-1", "1.0.0", 7, 5, 1700000060000, 3};
    assert_int_equal(ward_store_begin(st), 0);
    assert_int_equal(ward_store_device_upsert(st, &d), 0);
    assert_int_equal(ward_store_device_config_rev(st, "dev-1", 7, 5, 4), 0);
    assert_int_equal(ward_store_commit(st), 0);
    assert_int_equal(ward_store_begin(st), 0);
    d.seq = 6;
    d.agent_version = "9.9.9";
    assert_int_equal(ward_store_device_upsert(st, &d), 0);
    assert_int_equal(ward_store_device_config_rev(st, "dev-1", 7, 6, 8), 0);
    ward_store_rollback(st);
    assert_int_equal(ward_store_begin(st), 0);
    d.seq = 2; /* older than 5: last_seq stays 5, and its config_rev is not the newest */
    d.agent_version = "1.0.1";
    assert_int_equal(ward_store_device_upsert(st, &d), 0);
    assert_int_equal(ward_store_device_config_rev(st, "dev-1", 7, 2, 9), 0);
    assert_int_equal(ward_store_commit(st), 0);
    ward_store_close(st);

    st = ward_store_open(path, false, err, sizeof err); /* a restart: the copy is read back */
    assert_non_null(st);
    assert_int_equal(ward_store_begin(st), 0);
    d.seq = 5;
    assert_int_equal(ward_store_device_upsert(st, &d), 0);
    assert_int_equal(ward_store_commit(st), 0);
    json_t *devs = ward_store_devices_json(st, NULL);
    json_t *row = json_array_get(devs, 0);
    assert_int_equal(json_integer_value(json_object_get(row, "reports")), 3);
    assert_int_equal(json_integer_value(json_object_get(row, "flows")), 9);
    assert_int_equal(json_integer_value(json_object_get(row, "last_seq")), 5);
    assert_int_equal(json_integer_value(json_object_get(row, "config_rev")), 4);
    assert_string_equal(json_string_value(json_object_get(row, "agent_version")), "1.0.1");
    assert_string_equal(json_string_value(json_object_get(row, "first_seen")),
                        "2023-11-14T22:14:20Z");
    json_decref(devs);
    ward_store_close(st);
    tb_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(reader_errors),
        cmocka_unit_test(migrate_schema_1),
        cmocka_unit_test(device_rows_rollback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
