/*
 * wire: decoding and validation of hand-built reports (valid, wrong types, missing keys, bad device
 * ids, truncation, unknown keys and positions, limits) and their JSON rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report_build.h"
#include "wire.h"

static char reason[256];

/* Encode r and decode it; the report is returned in *out (free it) when the status is WARD_OK. */
static ward_status_t decode(tb_report_t *r, ward_wire_report_t *out)
{
    size_t len;
    uint8_t *buf = tb_encode(r, &len);
    ward_status_t st = ward_wire_decode(buf, len, out, reason, sizeof reason);
    free(buf);
    return st;
}

static void expect_fail(tb_report_t *r, ward_status_t want, const char *in_reason)
{
    ward_wire_report_t out;
    ward_status_t st = decode(r, &out);
    if (st != want || strstr(reason, in_reason) == NULL)
        fail_msg("status %d (want %d), reason \"%s\" (want it to contain \"%s\")", st, want, reason,
                 in_reason);
    assert_null(out.flows);
}

static void valid_minimal(void **state)
{
    (void)state;
    tb_report_t r;
    ward_wire_report_t out;
    tb_init(&r, "dev-1", 7);
    tb_del(&r, 16);
    tb_del(&r, 18);
    assert_int_equal(decode(&r, &out), WARD_OK);
    assert_string_equal(out.device_id, "dev-1");
    assert_string_equal(out.agent_version, "1.2.3");
    assert_int_equal(out.major, 1);
    assert_int_equal(out.minor, 0);
    assert_int_equal(out.boot_id, 0xb007);
    assert_int_equal(out.seq, 7);
    assert_int_equal(out.period_start, 1700000000000ull);
    assert_int_equal(out.period_end, 1700000060000ull);
    assert_int_equal(out.part_index, 0); /* absent part = [0, 1] */
    assert_int_equal(out.part_count, 1);
    assert_int_equal(out.time_base, WARD_TIME_UNIX);
    assert_int_equal(out.n_flows, 0);
    assert_false(out.has_interval);
    ward_wire_report_free(&out);
}

static void valid_flows(void **state)
{
    (void)state;
    tb_report_t r;
    ward_wire_report_t out;
    tb_init(&r, "sensor_01.a", 1);
    tb_set(&r, 7, tb_uints(2, (uint64_t)1, (uint64_t)3));
    tb_set(&r, 8, tb_uint(1));
    tb_set(&r, 9, tb_uint(60));
    tb_add_flow(&r, tb_flow(6, 1, 0, 40000, "203.0.113.7", 443, 10, 8, 1200, 900, 0, 5, 0x1202));
    tb_add_flow(&r, tb_flow(1, 2 | 4, 0, 0, "192.0.2.1", 8 * 256 + 0, 1, 1, 84, 84, 2, 2, -1));
    tb_add_flow(&r, tb_flow(17, 0, 1, 5353, "2001:db8::1", 5353, 1, 0, 100, 0, 60, 60, -1));
    assert_int_equal(decode(&r, &out), WARD_OK);
    assert_int_equal(out.part_index, 1);
    assert_int_equal(out.part_count, 3);
    assert_int_equal(out.time_base, WARD_TIME_BOOT);
    assert_true(out.has_interval);
    assert_int_equal(out.interval, 60);
    assert_int_equal(out.n_local_addrs, 2);
    assert_int_equal(out.n_flows, 3);

    const ward_wire_flow_t *f = &out.flows[0];
    assert_int_equal(f->proto, 6);
    assert_int_equal(f->initiator, WARD_DIR_OUTBOUND);
    assert_false(f->continued);
    assert_int_equal(f->local_port, 40000);
    assert_int_equal(f->remote_addr.family, 4);
    assert_int_equal(f->remote_port, 443);
    assert_int_equal(f->packets_out, 10);
    assert_int_equal(f->packets_in, 8);
    assert_int_equal(f->bytes_out, 1200);
    assert_int_equal(f->bytes_in, 900);
    assert_int_equal(f->last, 5);
    assert_true(f->has_tcp_flags);
    assert_int_equal(f->tcp_flags, 0x1202);

    f = &out.flows[1];
    assert_int_equal(f->initiator, WARD_DIR_INBOUND);
    assert_true(f->continued);
    assert_false(f->has_tcp_flags);
    assert_int_equal(f->remote_port, 2048);

    f = &out.flows[2];
    assert_int_equal(f->local_index, 1);
    assert_int_equal(f->remote_addr.family, 6);
    assert_int_equal(f->initiator, WARD_DIR_UNKNOWN);

    /* JSON: named fields, protocol names, local address resolved, ICMP type/code split out. */
    json_t *j = ward_wire_report_json(&out);
    json_t *flows = json_object_get(j, "flows");
    assert_int_equal(json_array_size(flows), 3);
    json_t *f0 = json_array_get(flows, 0), *f1 = json_array_get(flows, 1),
           *f2 = json_array_get(flows, 2);
    assert_string_equal(json_string_value(json_object_get(f0, "protocol")), "tcp");
    assert_string_equal(json_string_value(json_object_get(f0, "initiator")), "outbound");
    assert_string_equal(json_string_value(json_object_get(f0, "local_addr")), "10.0.0.2");
    assert_string_equal(json_string_value(json_object_get(f0, "remote_addr")), "203.0.113.7");
    assert_int_equal(json_integer_value(json_object_get(f0, "tcp_flags_out")), 0x02);
    assert_int_equal(json_integer_value(json_object_get(f0, "tcp_flags_in")), 0x12);
    assert_string_equal(json_string_value(json_object_get(f1, "protocol")), "icmp");
    assert_int_equal(json_integer_value(json_object_get(f1, "remote_port")), 0);
    assert_int_equal(json_integer_value(json_object_get(f1, "icmp_type")), 8);
    assert_int_equal(json_integer_value(json_object_get(f1, "icmp_code")), 0);
    assert_string_equal(json_string_value(json_object_get(f1, "initiator")), "inbound");
    assert_string_equal(json_string_value(json_object_get(f2, "local_addr")), "2001:db8::2");
    assert_string_equal(json_string_value(json_object_get(f2, "initiator")), "unknown");
    assert_string_equal(json_string_value(json_object_get(j, "time_base")), "boot");
    json_t *ver = json_object_get(j, "version");
    assert_int_equal(json_integer_value(json_array_get(ver, 0)), 1);
    json_decref(j);
    ward_wire_report_free(&out);
}

static void valid_other_sections(void **state)
{
    (void)state;
    tb_report_t r;
    tb_init(&r, "dev-1", 1);
    cbor_item_t *ovf = cbor_new_definite_array(1);
    cbor_array_push(ovf, cbor_move(tb_uints(5, (uint64_t)17, (uint64_t)2, (uint64_t)3, (uint64_t)4,
                                            (uint64_t)500)));
    tb_set(&r, 17, ovf);
    cbor_item_t *lis = cbor_new_definite_array(1);
    cbor_item_t *l = cbor_new_definite_array(3);
    cbor_array_push(l, cbor_move(tb_uint(6)));
    cbor_array_push(l, cbor_move(tb_addr("0.0.0.0")));
    cbor_array_push(l, cbor_move(tb_uint(23)));
    cbor_array_push(lis, cbor_move(l));
    tb_set(&r, 19, lis);
    cbor_item_t *si = cbor_new_definite_map(3);
    cbor_map_add(si, (struct cbor_pair){cbor_move(tb_uint(0)), cbor_move(tb_text("FreeRTOS 11"))});
    cbor_map_add(si, (struct cbor_pair){cbor_move(tb_uint(4)), cbor_move(cbor_build_bool(true))});
    cbor_map_add(si, (struct cbor_pair){cbor_move(tb_uint(99)), cbor_move(tb_text("future"))});
    tb_set(&r, 20, si);
    cbor_item_t *ctr = cbor_new_definite_map(2);
    cbor_map_add(ctr, (struct cbor_pair){cbor_move(tb_uint(0)), cbor_move(tb_uint(12))});
    cbor_map_add(ctr, (struct cbor_pair){cbor_move(tb_uint(42)), cbor_move(tb_uint(1))});
    tb_set(&r, 21, ctr);
    cbor_item_t *met = cbor_new_definite_map(1);
    cbor_map_add(met,
                 (struct cbor_pair){cbor_move(tb_text("temp")), cbor_move(cbor_build_negint8(4))});
    tb_set(&r, 22, met);
    size_t len;
    uint8_t *buf = tb_encode(&r, &len);
    json_t *j = NULL;
    assert_int_equal(ward_wire_decode_json(buf, len, &j, reason, sizeof reason), WARD_OK);
    free(buf);
    json_t *o = json_array_get(json_object_get(j, "overflow"), 0);
    assert_string_equal(json_string_value(json_object_get(o, "protocol")), "udp");
    assert_string_equal(json_string_value(json_object_get(o, "direction")), "inbound");
    assert_int_equal(json_integer_value(json_object_get(o, "bytes")), 500);
    json_t *li = json_array_get(json_object_get(j, "listening"), 0);
    assert_int_equal(json_integer_value(json_object_get(li, "port")), 23);
    json_t *s = json_object_get(j, "sysinfo");
    assert_string_equal(json_string_value(json_object_get(s, "os")), "FreeRTOS 11");
    assert_true(json_is_true(json_object_get(s, "tls")));
    json_t *c = json_object_get(j, "counters");
    assert_int_equal(json_integer_value(json_object_get(c, "msgs_sent")), 12);
    assert_int_equal(json_integer_value(json_object_get(c, "42")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "metrics"), "temp")),
                     -5);
    json_decref(j);
}

static void wrong_types(void **state)
{
    (void)state;
    tb_report_t r;

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 1, tb_uint(5));
    expect_fail(&r, WARD_E_MALFORMED, "key 1 (device_id): expected tstr");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 4, tb_text("1"));
    expect_fail(&r, WARD_E_MALFORMED, "key 4 (seq): expected uint");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 0, tb_uint(1));
    expect_fail(&r, WARD_E_MALFORMED, "key 0 (version): expected array");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 16, tb_uint(0));
    expect_fail(&r, WARD_E_MALFORMED, "key 16 (flows): expected array");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 11, tb_uint(1));
    expect_fail(&r, WARD_E_MALFORMED, "key 11 (priority): expected bool");

    /* A float where a bool belongs (libcbor asserts if asked whether a float is a bool). */
    tb_init(&r, "dev-1", 1);
    tb_set(&r, 11, cbor_build_float8(1.0));
    expect_fail(&r, WARD_E_MALFORMED, "key 11 (priority): expected bool");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 3, cbor_build_negint8(0));
    expect_fail(&r, WARD_E_MALFORMED, "key 3 (boot_id): expected uint");

    /* A flow position of the wrong type names the flow and the position. */
    tb_init(&r, "dev-1", 1);
    cbor_item_t *f = tb_flow(6, 1, 0, 1, "192.0.2.1", 2, 1, 1, 1, 1, 0, 0, -1);
    cbor_decref(&cbor_array_handle(f)[3]);
    cbor_array_handle(f)[3] = tb_text("80");
    tb_add_flow(&r, tb_flow(6, 1, 0, 1, "192.0.2.1", 2, 1, 1, 1, 1, 0, 0, -1));
    tb_add_flow(&r, f);
    expect_fail(&r, WARD_E_MALFORMED,
                "key 16 (flows) item 1 position 3 (local_port): expected uint");

    /* A flow that is not an array, or too short. */
    tb_init(&r, "dev-1", 1);
    tb_add_flow(&r, tb_uint(3));
    expect_fail(&r, WARD_E_MALFORMED, "key 16 (flows) item 0: expected array");
    tb_init(&r, "dev-1", 1);
    tb_add_flow(&r, tb_uints(3, (uint64_t)6, (uint64_t)1, (uint64_t)0));
    expect_fail(&r, WARD_E_MALFORMED, "at least 12 required");

    /* Remote address of 5 bytes. */
    tb_init(&r, "dev-1", 1);
    f = tb_flow(6, 1, 0, 1, "192.0.2.1", 2, 1, 1, 1, 1, 0, 0, -1);
    cbor_decref(&cbor_array_handle(f)[4]);
    cbor_array_handle(f)[4] = cbor_build_bytestring((const unsigned char *)"abcde", 5);
    tb_add_flow(&r, f);
    expect_fail(&r, WARD_E_RANGE, "4 or 16 bytes");

    /* A report that is not a map. */
    uint8_t arr[] = {0x80};
    ward_wire_report_t out;
    assert_int_equal(ward_wire_decode(arr, sizeof arr, &out, reason, sizeof reason),
                     WARD_E_MALFORMED);
    assert_non_null(strstr(reason, "map"));
}

static void missing_required(void **state)
{
    (void)state;
    static const unsigned required[] = {0, 1, 2, 3, 4, 5, 6};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        tb_report_t r;
        char want[64];
        tb_init(&r, "dev-1", 1);
        tb_del(&r, required[i]);
        snprintf(want, sizeof want, "required key %u", required[i]);
        expect_fail(&r, WARD_E_MALFORMED, want);
    }
}

static void bad_device_ids(void **state)
{
    (void)state;
    const char *bad[] = {
        "",    "dev 1", "dev/1",
        "dév", "a+b",   "0123456789012345678901234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tb_report_t r;
        ward_wire_report_t out;
        tb_init(&r, "x", 1);
        tb_set(&r, 1, tb_text(bad[i]));
        assert_int_not_equal(decode(&r, &out), WARD_OK);
        assert_non_null(strstr(reason, "key 1 (device_id)"));
    }
    assert_true(ward_wire_device_id_valid("A-z_0.9", 7));
    char id64[65];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    assert_true(ward_wire_device_id_valid(id64, 64));
    assert_false(ward_wire_device_id_valid(id64, 65));

    char id[WARD_DEVICE_ID_MAX + 1];
    assert_true(ward_wire_topic_device("ward/v1/dev-1/report", id));
    assert_string_equal(id, "dev-1");
    assert_false(ward_wire_topic_device("ward/v1//report", id));
    assert_false(ward_wire_topic_device("ward/v1/a/b/report", id));
    assert_false(ward_wire_topic_device("ward/v2/dev-1/report", id));
    assert_false(ward_wire_topic_device("ward/v1/dev-1/status", id));
    assert_false(ward_wire_topic_device("ward/v1/dev 1/report", id));
    assert_false(ward_wire_topic_device("ward/v1/report", id));
}

static void truncated(void **state)
{
    (void)state;
    tb_report_t r;
    tb_init(&r, "dev-1", 1);
    tb_add_flow(&r, tb_flow(6, 1, 0, 40000, "2001:db8::7", 443, 10, 8, 1200, 900, 0, 5, 3));
    size_t len;
    uint8_t *buf = tb_encode(&r, &len);
    /* Every proper prefix (each in an exact-size copy, so ASan catches over-reads). */
    for (size_t n = 0; n < len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, buf, n);
        ward_wire_report_t out;
        ward_status_t st = ward_wire_decode(p, n, &out, reason, sizeof reason);
        if (st != WARD_E_INCOMPLETE)
            fail_msg("prefix of %zu/%zu bytes: status %d (%s)", n, len, st, reason);
        free(p);
    }
    /* Trailing bytes after the report are refused too. */
    uint8_t *p = malloc(len + 1);
    memcpy(p, buf, len);
    p[len] = 0x00;
    ward_wire_report_t out;
    assert_int_equal(ward_wire_decode(p, len + 1, &out, reason, sizeof reason), WARD_E_MALFORMED);
    assert_non_null(strstr(reason, "trailing"));
    free(p);
    free(buf);
}

static void unknown_keys_and_positions(void **state)
{
    (void)state;
    tb_report_t r;
    ward_wire_report_t out;
    tb_init(&r, "dev-1", 1);
    tb_set(&r, 0, tb_uints(3, (uint64_t)1, (uint64_t)9, (uint64_t)77)); /* minor 9, extra pos */
    tb_set(&r, 7, tb_uints(3, (uint64_t)0, (uint64_t)1, (uint64_t)5));
    tb_set(&r, 12, tb_text("reserved key"));
    tb_set(&r, 99, tb_uints(2, (uint64_t)1, (uint64_t)2));
    tb_add_pair(&r, tb_text("x"), cbor_build_bool(false));
    tb_add_pair(&r, cbor_build_negint8(3), tb_uint(1));
    cbor_item_t *f = cbor_new_definite_array(15);
    cbor_item_t *base = tb_flow(6, 1, 0, 1, "192.0.2.1", 2, 1, 1, 1, 1, 0, 0, 0x10);
    for (size_t i = 0; i < 13; i++)
        cbor_array_push(f, cbor_array_handle(base)[i]);
    cbor_decref(&base);
    cbor_array_push(f, cbor_move(tb_uint(123)));
    cbor_array_push(f, cbor_move(tb_text("future position")));
    tb_add_flow(&r, f);
    size_t len;
    uint8_t *buf = tb_encode(&r, &len);
    assert_int_equal(ward_wire_decode(buf, len, &out, reason, sizeof reason), WARD_OK);
    assert_int_equal(out.minor, 9);
    assert_int_equal(out.n_flows, 1);
    assert_int_equal(out.flows[0].tcp_flags, 0x10);
    ward_wire_report_free(&out);

    json_t *j = NULL;
    assert_int_equal(ward_wire_decode_json(buf, len, &j, reason, sizeof reason), WARD_OK);
    json_t *unk = json_object_get(j, "unknown");
    assert_non_null(unk);
    assert_string_equal(json_string_value(json_object_get(unk, "12")), "reserved key");
    assert_int_equal(json_array_size(json_object_get(unk, "99")), 2);
    assert_true(json_is_false(json_object_get(unk, "x")));
    assert_int_equal(json_integer_value(json_object_get(unk, "-4")), 1);
    json_decref(j);
    free(buf);
}

static void versions_and_ranges(void **state)
{
    (void)state;
    tb_report_t r;

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 0, tb_uints(2, (uint64_t)2, (uint64_t)0));
    expect_fail(&r, WARD_E_UNSUPPORTED, "major version 2");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 8, tb_uint(2));
    expect_fail(&r, WARD_E_UNSUPPORTED, "time base");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 7, tb_uints(2, (uint64_t)3, (uint64_t)3));
    expect_fail(&r, WARD_E_RANGE, "key 7 (part)");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 7, tb_uints(2, (uint64_t)0, (uint64_t)0));
    expect_fail(&r, WARD_E_RANGE, "key 7 (part)");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 6, tb_uint(1600000000000ull));
    expect_fail(&r, WARD_E_RANGE, "before period_start");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 3, tb_uint(0x100000000ull));
    expect_fail(&r, WARD_E_RANGE, "key 3 (boot_id)");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 9, tb_uint(0));
    expect_fail(&r, WARD_E_RANGE, "key 9 (interval)");

    tb_init(&r, "dev-1", 1);
    tb_add_flow(&r, tb_flow(6, 1, 2, 1, "192.0.2.1", 2, 1, 1, 1, 1, 0, 0, -1));
    expect_fail(&r, WARD_E_RANGE, "local_addr index 2");

    tb_init(&r, "dev-1", 1);
    tb_add_flow(&r, tb_flow(6, 1, 0, 1, "192.0.2.1", 70000, 1, 1, 1, 1, 0, 0, -1));
    expect_fail(&r, WARD_E_RANGE, "position 5 (remote_port): 70000 out of range");

    tb_init(&r, "dev-1", 1);
    tb_add_flow(&r, tb_flow(256, 1, 0, 1, "192.0.2.1", 1, 1, 1, 1, 1, 0, 0, -1));
    expect_fail(&r, WARD_E_RANGE, "position 0 (protocol)");

    tb_init(&r, "dev-1", 1);
    tb_add_flow(&r, tb_flow(6, 1, 0, 1, "192.0.2.1", 1, 1, 1, 1, 1, 9, 3, -1));
    expect_fail(&r, WARD_E_RANGE, "first (9 s) is after last (3 s)");

    tb_init(&r, "dev-1", 1); /* the period is 60 s long */
    tb_add_flow(&r, tb_flow(6, 1, 0, 1, "192.0.2.1", 1, 1, 1, 1, 1, 0, 3600, -1));
    expect_fail(&r, WARD_E_RANGE, "past the period's end");

    tb_init(&r, "dev-1", 1);
    tb_set(&r, 2, tb_text("1.0\x1b[31m"));
    expect_fail(&r, WARD_E_MALFORMED, "control characters");

    /* A known key twice is ambiguous: refused. */
    tb_init(&r, "dev-1", 1);
    tb_add_pair(&r, tb_uint(4), tb_uint(2));
    expect_fail(&r, WARD_E_MALFORMED, "key 4 (seq) appears twice");
}

static void hostile_structure(void **state)
{
    (void)state;
    ward_wire_report_t out;
    /* A map declaring 2^32 pairs in 9 bytes: refused without allocating. */
    uint8_t huge_map[] = {0xba, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00};
    assert_int_not_equal(ward_wire_decode(huge_map, sizeof huge_map, &out, reason, sizeof reason),
                         WARD_OK);
    /* An array declaring 2^63 entries. */
    uint8_t huge_arr[] = {0xa1, 0x18, 0x63, 0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_not_equal(ward_wire_decode(huge_arr, sizeof huge_arr, &out, reason, sizeof reason),
                         WARD_OK);
    /* A byte string declaring more bytes than there are. */
    uint8_t long_bstr[] = {0xa1, 0x01, 0x5a, 0x7f, 0xff, 0xff, 0xff, 0x00};
    assert_int_equal(ward_wire_decode(long_bstr, sizeof long_bstr, &out, reason, sizeof reason),
                     WARD_E_INCOMPLETE);
    /* 10 000 nested arrays under an unknown key: refused by depth, no recursion. */
    size_t n = 10000;
    uint8_t *deep = malloc(n + 3);
    deep[0] = 0xa1;
    deep[1] = 0x18;
    deep[2] = 0x63;
    memset(deep + 3, 0x81, n - 1);
    deep[n + 2] = 0x80;
    assert_int_equal(ward_wire_decode(deep, n + 3, &out, reason, sizeof reason), WARD_E_MALFORMED);
    assert_non_null(strstr(reason, "deeper"));
    free(deep);
    /* A stray break, and reserved additional-information values. */
    uint8_t brk[] = {0xff};
    assert_int_not_equal(ward_wire_decode(brk, 1, &out, reason, sizeof reason), WARD_OK);
    uint8_t reserved[] = {0x1c};
    assert_int_not_equal(ward_wire_decode(reserved, 1, &out, reason, sizeof reason), WARD_OK);
    /* Empty input and oversized input. */
    assert_int_equal(ward_wire_decode((const uint8_t *)"", 0, &out, reason, sizeof reason),
                     WARD_E_INCOMPLETE);
    uint8_t *big = calloc(1, WARD_WIRE_REPORT_MAX + 1);
    assert_int_equal(ward_wire_decode(big, WARD_WIRE_REPORT_MAX + 1, &out, reason, sizeof reason),
                     WARD_E_MALFORMED);
    free(big);
}

static void indefinite_lengths(void **state)
{
    (void)state;
    /* {_ 0: [_ 1, 0], 1: (_ "dev", "-1"), 2: "1", 3: 0, 4: 0, 5: 0, 6: 0, 18: [_ h'0a000002'],
     *  16: [_ ] } : indefinite containers and a chunked string are valid CBOR, and accepted. */
    uint8_t b[] = {0xbf, 0x00, 0x9f, 0x01, 0x00, 0xff, 0x01, 0x7f, 0x63, 'd',  'e',  'v',  0x62,
                   '-',  '1',  0xff, 0x02, 0x61, '1',  0x03, 0x00, 0x04, 0x00, 0x05, 0x00, 0x06,
                   0x00, 0x12, 0x9f, 0x44, 0x0a, 0x00, 0x00, 0x02, 0xff, 0x10, 0x9f, 0xff, 0xff};
    ward_wire_report_t out;
    assert_int_equal(ward_wire_decode(b, sizeof b, &out, reason, sizeof reason), WARD_OK);
    assert_string_equal(out.device_id, "dev-1");
    assert_int_equal(out.n_local_addrs, 1);
    ward_wire_report_free(&out);
}

static void names(void **state)
{
    (void)state;
    char buf[8];
    assert_string_equal(ward_wire_proto_name(6, buf, sizeof buf), "tcp");
    assert_string_equal(ward_wire_proto_name(17, buf, sizeof buf), "udp");
    assert_string_equal(ward_wire_proto_name(1, buf, sizeof buf), "icmp");
    assert_string_equal(ward_wire_proto_name(58, buf, sizeof buf), "icmpv6");
    assert_string_equal(ward_wire_proto_name(132, buf, sizeof buf), "132");
    assert_string_equal(ward_wire_direction_name(3), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_minimal),
        cmocka_unit_test(valid_flows),
        cmocka_unit_test(valid_other_sections),
        cmocka_unit_test(wrong_types),
        cmocka_unit_test(missing_required),
        cmocka_unit_test(bad_device_ids),
        cmocka_unit_test(truncated),
        cmocka_unit_test(unknown_keys_and_positions),
        cmocka_unit_test(versions_and_ranges),
        cmocka_unit_test(hostile_structure),
        cmocka_unit_test(indefinite_lengths),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
