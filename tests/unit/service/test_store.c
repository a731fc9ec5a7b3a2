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

#include "report_build.h"
#include "store.h"

static ward_flow_t flow(const char *dev, unsigned proto, const char *local, unsigned lport,
                        const char *remote, unsigned rport)
{
    ward_flow_t f;
    memset(&f, 0, sizeof f);
    snprintf(f.device, sizeof f.device, "%s", dev);
    f.proto = (uint8_t)proto;
    f.initiator = WARD_DIR_OUTBOUND;
    assert_true(ward_addr_parse(local, &f.local_addr));
    assert_true(ward_addr_parse(remote, &f.remote_addr));
    f.local_port = (uint16_t)lport;
    f.remote_port_raw = (uint16_t)rport;
    f.packets_out = 3;
    f.packets_in = 2;
    f.bytes_out = 300;
    f.bytes_in = 200;
    f.first_seen_ms = 1700000000000;
    f.last_seen_ms = 1700000005000;
    return f;
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
    assert_int_equal(ward_store_part_seen(st, "dev-1", 7, 0, 0, 1, 1700000060000), 1);
    assert_int_equal(ward_store_part_seen(st, "dev-1", 7, 0, 0, 1, 1700000061000), 0); /* dup */
    assert_int_equal(ward_store_part_seen(st, "dev-1", 7, 0, 1, 1, 1700000061000), 1); /* part */
    assert_int_equal(ward_store_part_seen(st, "dev-1", 8, 0, 0, 1, 1700000061000), 1); /* boot */
    assert_int_equal(ward_store_part_seen(st, "dev-2", 7, 0, 0, 1, 1700000061000), 1); /* dev */

    ward_flow_t f1 = flow("dev-1", 6, "10.0.0.2", 40000, "203.0.113.7", 443);
    f1.has_tcp_flags = true;
    f1.tcp_flags = 0x1202;
    ward_flow_t f2 = flow("dev-1", 1, "10.0.0.2", 0, "192.0.2.1", 8 * 256 + 3);
    f2.initiator = WARD_DIR_INBOUND;
    f2.first_seen_ms += 1000;
    ward_flow_t f3 = flow("dev-2", 17, "2001:db8::2", 5353, "::ffff:198.51.100.1", 53);
    f3.first_seen_ms += 2000;
    assert_int_equal(ward_store_flow_insert(st, &f1, 7, 0), 0);
    assert_int_equal(ward_store_flow_insert(st, &f2, 7, 0), 0);
    assert_int_equal(ward_store_flow_insert(st, &f3, 7, 0), 0);
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
    assert_int_equal(ward_store_part_seen(st, "dev-1", 7, 0, 0, 1, 1700000062000), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(reader_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
