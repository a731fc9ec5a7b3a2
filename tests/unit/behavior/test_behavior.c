/*
 * behavior: every detector through the real pipeline — CBOR reports built with libcbor
 * (report_build.c), handed to the synchronous processor with a real SQLite file in a fresh
 * temporary folder, alerts read back from the store. Times are a fake receive clock passed to
 * ward_processor_handle / ward_processor_tick.
 *
 * Each detector has a report pattern that trips it (nmap -sS, -sT, -sU, IPv6, host sweep, floods,
 * brute force, exfiltration after a history, silence, replay) and one just inside its limits or
 * benign (periodic MQTT to one broker, NTP, DNS) that must raise nothing. The config parser is
 * tested for defaults, overrides and its precise error messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "behavior.h"
#include "log.h"
#include "process.h"
#include "proc_fixture.h"

#define T0 1700000060000LL /* receive time of the first report */
#define SYN 0x02
#define RST 0x04
#define ACK 0x10
#define FIN 0x01
/* tcp_flags: out in bits 0-7, in in bits 8-15 */
#define FL(out, in) ((long)((out) | ((in) << 8)))
#define IN 2  /* flow flags: initiator inbound */
#define OUT 1 /* initiator outbound */

static json_t *alerts(fixture_t *fx, const char *type)
{
    json_t *all = ward_store_alerts_json(fx->store, NULL, 0), *out = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(all, i, a)
    {
        if (type == NULL || strcmp(json_string_value(json_object_get(a, "type")), type) == 0)
            json_array_append(out, a);
    }
    json_decref(all);
    return out;
}

static size_t n_alerts(fixture_t *fx, const char *type)
{
    json_t *a = alerts(fx, type);
    size_t n = json_array_size(a);
    json_decref(a);
    return n;
}

static json_int_t ev_int(json_t *alert, const char *obj, const char *key)
{
    json_t *ev = json_object_get(alert, "evidence");
    if (obj != NULL)
        ev = json_object_get(ev, obj);
    return json_integer_value(json_object_get(ev, key));
}

static const char *ev_str(json_t *alert, const char *key)
{
    return json_string_value(json_object_get(json_object_get(alert, "evidence"), key));
}

/* Benign background of a device: MQTT to one broker, NTP, DNS. */
static void add_benign(tb_report_t *r)
{
    tb_add_flow(r, tb_flow(6, OUT, 0, 40000, "198.18.0.10", 8883, 12, 10, 2400, 1800, 0, 59,
                           FL(SYN | ACK | 0x08, SYN | ACK | 0x08)));
    tb_add_flow(r, tb_flow(17, OUT, 0, 123, "198.18.0.20", 123, 1, 1, 76, 76, 3, 3, -1));
    tb_add_flow(r, tb_flow(17, OUT, 0, 5353, "198.18.0.53", 53, 2, 2, 140, 300, 1, 1, -1));
}

/* ---- port scan ---------------------------------------------------------------------------- */

/* nmap -sS: SYN in, RST/ACK out (closed ports), no ACK from the scanner; 100 ports over two
 * reports 60 s apart (one scan spread across reports). */
static void test_port_scan_syn(void **state)
{
    fixture_t *fx = *state;
    int64_t now = T0;
    for (int rep = 0; rep < 2; rep++) {
        tb_report_t r;
        proc_report(fx, &r, "cam-1");
        for (int i = 0; i < 50; i++)
            tb_add_flow(&r, tb_flow(6, IN, 0, 1 + rep * 50 + i, "192.0.2.66", 61000, 1, 1, 40, 44,
                                    2, 2, FL(RST | ACK, SYN)));
        assert_int_equal(proc_send(fx, &r, "cam-1", now), 0);
        now += 60000;
    }
    json_t *a = alerts(fx, WARD_ALERT_PORT_SCAN);
    assert_int_equal(json_array_size(a), 1);
    json_t *al = json_array_get(a, 0);
    assert_string_equal(json_string_value(json_object_get(al, "device")), "cam-1");
    assert_string_equal(ev_str(al, "remote_addr"), "192.0.2.66");
    assert_string_equal(ev_str(al, "detector"), "port_scan");
    assert_int_equal(ev_int(al, "parameters", "min_ports"), 20);
    assert_int_equal(ev_int(al, "parameters", "window_s"), 300);
    assert_int_equal(ev_int(al, "observed", "rst_answers"), 100);
    assert_int_equal(ev_int(al, "observed", "half_open_probes"), 100);
    assert_int_equal(
        json_array_size(json_object_get(
            json_object_get(json_object_get(al, "evidence"), "observed"), "ports_sample")) > 0,
        1);
    /* raised by the first report, folded (with the grown evidence) by the second */
    assert_int_equal(json_integer_value(json_object_get(al, "count")), 2);
    assert_int_equal(ev_int(al, "observed", "ports"), 100);
    assert_string_equal(json_string_value(json_object_get(al, "severity")), "medium");
    json_decref(a);
}

/* nmap -sT: full connect then RST from the scanner. */
static void test_port_scan_connect(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "cam-2");
    for (int i = 0; i < 25; i++)
        tb_add_flow(&r, tb_flow(6, IN, 0, 1000 + i, "192.0.2.67", 50000 + i, 1, 3, 44, 120, 1, 1,
                                FL(SYN | ACK, SYN | ACK | RST)));
    assert_int_equal(proc_send(fx, &r, "cam-2", T0), 0);
    json_t *a = alerts(fx, WARD_ALERT_PORT_SCAN);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(ev_str(json_array_get(a, 0), "remote_addr"), "192.0.2.67");
    json_decref(a);
}

/* nmap -sU: UDP probes in, ICMP port unreachable out; here only 10 UDP flows are tracked, the
 * unreachable replies (40) show the rest. */
static void test_port_scan_udp(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "cam-3");
    for (int i = 0; i < 10; i++)
        tb_add_flow(&r, tb_flow(17, IN, 0, 2000 + i, "192.0.2.68", 40000, 0, 1, 0, 28, 1, 1, -1));
    tb_add_flow(&r, tb_flow(1, OUT, 0, 0, "192.0.2.68", 0x0303, 40, 0, 2240, 0, 1, 5, -1));
    assert_int_equal(proc_send(fx, &r, "cam-3", T0), 0);
    json_t *a = alerts(fx, WARD_ALERT_PORT_SCAN);
    assert_int_equal(json_array_size(a), 1);
    assert_int_equal(ev_int(json_array_get(a, 0), "observed", "icmp_port_unreachable"), 40);
    json_decref(a);
}

/* Over IPv6: SYN probes, and UDP answered by ICMPv6 type 1 code 4. */
static void test_port_scan_ipv6(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "cam-4");
    for (int i = 0; i < 15; i++)
        tb_add_flow(&r, tb_flow(6, IN, 1, 100 + i, "2001:db8:66::9", 60000, 1, 1, 60, 64, 1, 1,
                                FL(RST | ACK, SYN)));
    for (int i = 0; i < 5; i++)
        tb_add_flow(&r,
                    tb_flow(17, IN, 1, 500 + i, "2001:db8:66::9", 60001, 0, 1, 0, 48, 1, 1, -1));
    tb_add_flow(&r, tb_flow(58, OUT, 1, 0, "2001:db8:66::9", 0x0104, 5, 0, 400, 0, 1, 1, -1));
    assert_int_equal(proc_send(fx, &r, "cam-4", T0), 0);
    json_t *a = alerts(fx, WARD_ALERT_PORT_SCAN);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(ev_str(json_array_get(a, 0), "remote_addr"), "2001:db8:66::9");
    json_decref(a);
}

/* 19 ports (one below min_ports) raise nothing; the 20th port in a later report does; after the
 * window the count starts over. */
static void test_port_scan_limits(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "cam-5");
    for (int i = 0; i < 19; i++)
        tb_add_flow(&r, tb_flow(6, IN, 0, 100 + i, "192.0.2.70", 61000, 1, 1, 40, 44, 1, 1,
                                FL(RST | ACK, SYN)));
    proc_send(fx, &r, "cam-5", T0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_PORT_SCAN), 0);
    /* the 20th, after the 300 s window: starts over, still nothing */
    proc_report(fx, &r, "cam-5");
    tb_add_flow(
        &r, tb_flow(6, IN, 0, 200, "192.0.2.70", 61000, 1, 1, 40, 44, 1, 1, FL(RST | ACK, SYN)));
    proc_send(fx, &r, "cam-5", T0 + 301000);
    assert_int_equal(n_alerts(fx, WARD_ALERT_PORT_SCAN), 0);
    /* 19 more within the new window: 20 */
    proc_report(fx, &r, "cam-5");
    for (int i = 0; i < 19; i++)
        tb_add_flow(&r, tb_flow(6, IN, 0, 300 + i, "192.0.2.70", 61000, 1, 1, 40, 44, 1, 1,
                                FL(RST | ACK, SYN)));
    proc_send(fx, &r, "cam-5", T0 + 361000);
    assert_int_equal(n_alerts(fx, WARD_ALERT_PORT_SCAN), 1);
}

/* A scan that overflowed the device's flow table: 5 tracked ports from the scanner and 500
 * untracked inbound TCP flows in the overflow summary. */
static void test_port_scan_overflow(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "cam-6");
    for (int i = 0; i < 5; i++)
        tb_add_flow(&r, tb_flow(6, IN, 0, 10 + i, "192.0.2.71", 61000, 1, 1, 40, 44, 1, 1,
                                FL(RST | ACK, SYN)));
    /* overflow: [[tcp, inbound, 500 flows, 500 packets, 22000 bytes]] */
    cbor_item_t *ov = cbor_new_definite_array(1);
    cbor_array_push(ov, cbor_move(tb_uints(5, (uint64_t)6, (uint64_t)2, (uint64_t)500,
                                           (uint64_t)500, (uint64_t)22000)));
    tb_set(&r, 17, ov);
    proc_send(fx, &r, "cam-6", T0);
    json_t *a = alerts(fx, WARD_ALERT_PORT_SCAN);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(ev_str(json_array_get(a, 0), "remote_addr"), "192.0.2.71");
    assert_int_equal(ev_int(json_array_get(a, 0), "observed", "overflow_flows"), 500);
    json_decref(a);
}

/* hping3 -S --faster at one port (seen in tests/e2e): the table fills with 64 flows from one
 * source to port 80 (each its own source port), and 256 more untracked inbound TCP flows go to
 * the overflow summary. That is a SYN flood, not also a port scan. */
static void test_flood_overflow_is_not_a_scan(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "cam-7");
    for (int i = 0; i < 64; i++)
        tb_add_flow(&r, tb_flow(6, IN, 0, 80, "192.0.2.66", 2000 + i, 1, 1, 44, 40, 1, 1,
                                FL(RST | ACK, SYN)));
    cbor_item_t *ov = cbor_new_definite_array(1);
    cbor_array_push(ov, cbor_move(tb_uints(5, (uint64_t)6, (uint64_t)2, (uint64_t)256,
                                           (uint64_t)9872, (uint64_t)394880)));
    tb_set(&r, 17, ov);
    proc_send(fx, &r, "cam-7", T0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_PORT_SCAN), 0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_SYN_FLOOD), 1);

    /* The same from spoofed sources, while the device's CoAP service gets its usual requests
     * (tools/wardsim's sensor): 58 of 61 tracked inbound flows go to port 80. */
    char ip[32];
    proc_report(fx, &r, "sensor-7");
    add_benign(&r);
    for (int i = 0; i < 58; i++) {
        snprintf(ip, sizeof ip, "203.0.%d.%d", 100 + i / 200, 1 + i % 200);
        tb_add_flow(&r, tb_flow(6, IN, 0, 80, ip, 20000 + i, 1, 1, 44, 40, 1, 1,
                                FL(SYN | ACK, SYN)));
    }
    for (int i = 0; i < 3; i++)
        tb_add_flow(&r, tb_flow(17, IN, 0, 5683, "198.18.0.30", 40000 + i, 1, 1, 60, 60, 1, 1, -1));
    ov = cbor_new_definite_array(1);
    cbor_array_push(ov, cbor_move(tb_uints(5, (uint64_t)6, (uint64_t)2, (uint64_t)900,
                                           (uint64_t)900, (uint64_t)39600)));
    tb_set(&r, 17, ov);
    proc_send(fx, &r, "sensor-7", T0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_PORT_SCAN), 0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_SYN_FLOOD), 2);

    /* The next report of that flood: the table is still full of the last report's flows, so no
     * flood flow is tracked at all; only answered CoAP requests and the overflow. No scan. */
    proc_report(fx, &r, "sensor-7");
    add_benign(&r);
    for (int i = 0; i < 3; i++)
        tb_add_flow(&r, tb_flow(17, IN, 0, 5683, "198.18.0.30", 40010 + i, 1, 1, 60, 60, 1, 1, -1));
    tb_add_flow(&r, tb_flow(6, IN, 0, 22, "198.18.0.31", 50000, 12, 14, 900, 1400, 2, 9,
                            FL(SYN | ACK, SYN | ACK)));
    ov = cbor_new_definite_array(1);
    cbor_array_push(ov, cbor_move(tb_uints(5, (uint64_t)6, (uint64_t)2, (uint64_t)1500,
                                           (uint64_t)1500, (uint64_t)66000)));
    tb_set(&r, 17, ov);
    proc_send(fx, &r, "sensor-7", T0 + 30000);
    assert_int_equal(n_alerts(fx, WARD_ALERT_PORT_SCAN), 0);
}

/* ---- host sweep --------------------------------------------------------------------------- */

static void test_host_sweep(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "dvr-1");
    char ip[32];
    for (int i = 0; i < 30; i++) {
        snprintf(ip, sizeof ip, "100.64.%d.%d", i / 200, 1 + i % 200);
        tb_add_flow(&r, tb_flow(6, OUT, 0, 40000 + i, ip, 23, 2, 0, 120, 0, 1, 3, FL(SYN, 0)));
    }
    proc_send(fx, &r, "dvr-1", T0);
    json_t *a = alerts(fx, WARD_ALERT_HOST_SWEEP);
    assert_int_equal(json_array_size(a), 1);
    json_t *al = json_array_get(a, 0);
    assert_int_equal(ev_int(al, NULL, "remote_port"), 23);
    assert_true(ev_int(al, "observed", "hosts") >= 20);
    assert_string_equal(json_string_value(json_object_get(al, "severity")), "high");
    json_decref(a);
    /* 19 hosts on 2323: just inside */
    proc_report(fx, &r, "dvr-2");
    for (int i = 0; i < 19; i++) {
        snprintf(ip, sizeof ip, "100.65.0.%d", 1 + i);
        tb_add_flow(&r, tb_flow(6, OUT, 0, 41000 + i, ip, 2323, 2, 0, 120, 0, 1, 3, FL(SYN, 0)));
    }
    proc_send(fx, &r, "dvr-2", T0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_HOST_SWEEP), 1);
}

/* ---- floods ------------------------------------------------------------------------------- */

static void test_syn_flood(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    char ip[32];
    proc_report(fx, &r, "plc-1");
    /* 40 spoofed sources x 6 SYNs each to port 502: 240 >= 200 */
    for (int i = 0; i < 40; i++) {
        snprintf(ip, sizeof ip, "203.0.113.%d", 1 + i);
        tb_add_flow(&r,
                    tb_flow(6, IN, 0, 502, ip, 1024 + i, 6, 6, 264, 240, 0, 9, FL(SYN | ACK, SYN)));
    }
    proc_send(fx, &r, "plc-1", T0);
    json_t *a = alerts(fx, WARD_ALERT_SYN_FLOOD);
    assert_int_equal(json_array_size(a), 1);
    json_t *al = json_array_get(a, 0);
    assert_int_equal(ev_int(al, NULL, "local_port"), 502);
    assert_int_equal(ev_int(al, "observed", "syns"), 240);
    assert_int_equal(ev_int(al, "observed", "remotes"), 40);
    json_decref(a);
    /* one remote, 199 SYNs: inside */
    proc_report(fx, &r, "plc-2");
    tb_add_flow(&r, tb_flow(6, IN, 0, 80, "203.0.113.200", 3333, 199, 199, 8000, 8000, 0, 50,
                            FL(SYN | ACK, SYN)));
    proc_send(fx, &r, "plc-2", T0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_SYN_FLOOD), 1);
    /* completed connections do not count */
    proc_report(fx, &r, "plc-3");
    tb_add_flow(&r, tb_flow(6, IN, 0, 80, "203.0.113.201", 3334, 500, 500, 8000, 8000, 0, 50,
                            FL(SYN | ACK, SYN | ACK)));
    proc_send(fx, &r, "plc-3", T0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_SYN_FLOOD), 1);
}

static void test_icmp_flood(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "gw-1");
    /* ordinary ping: 60 echo requests a minute */
    tb_add_flow(&r, tb_flow(1, IN, 0, 0, "192.0.2.90", 0x0800, 0, 60, 0, 5040, 0, 59, -1));
    tb_add_flow(&r, tb_flow(1, OUT, 0, 0, "192.0.2.90", 0x0000, 60, 0, 5040, 0, 0, 59, -1));
    proc_send(fx, &r, "gw-1", T0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_ICMP_FLOOD), 0);
    /* ICMPv6 echo flood: 5000 in a minute */
    proc_report(fx, &r, "gw-1");
    tb_add_flow(&r, tb_flow(58, IN, 1, 0, "2001:db8:77::1", 0x8000, 0, 5000, 0, 520000, 0, 59, -1));
    proc_send(fx, &r, "gw-1", T0 + 120000);
    json_t *a = alerts(fx, WARD_ALERT_ICMP_FLOOD);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(ev_str(json_array_get(a, 0), "remote_addr"), "2001:db8:77::1");
    assert_int_equal(ev_int(json_array_get(a, 0), "observed", "echo_requests"), 5000);
    json_decref(a);
}

/* ---- brute force -------------------------------------------------------------------------- */

static void test_brute_force(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    /* 12 short SSH connections per report from one remote, two reports: 24 >= 20 */
    for (int rep = 0; rep < 2; rep++) {
        proc_report(fx, &r, "nvr-1");
        for (int i = 0; i < 12; i++)
            tb_add_flow(&r,
                        tb_flow(6, IN, 0, 22, "198.51.100.23", 40000 + rep * 100 + i, 12, 14, 2400,
                                2600, 1 + i * 4, 3 + i * 4, FL(SYN | ACK | FIN, SYN | ACK | FIN)));
        proc_send(fx, &r, "nvr-1", T0 + rep * 60000);
    }
    json_t *a = alerts(fx, WARD_ALERT_BRUTE_FORCE);
    assert_int_equal(json_array_size(a), 1);
    json_t *al = json_array_get(a, 0);
    assert_string_equal(ev_str(al, "remote_addr"), "198.51.100.23");
    assert_int_equal(ev_int(al, NULL, "local_port"), 22);
    assert_int_equal(ev_int(al, "observed", "connections"), 24);
    assert_int_equal(n_alerts(fx, WARD_ALERT_PORT_SCAN), 0);
    json_decref(a);
    /* long sessions (60 s each) are not brute force */
    proc_report(fx, &r, "nvr-2");
    for (int i = 0; i < 30; i++)
        tb_add_flow(&r, tb_flow(6, IN, 0, 22, "198.51.100.24", 41000 + i, 12, 14, 2400, 2600, 0, 59,
                                FL(SYN | ACK, SYN | ACK)));
    proc_send(fx, &r, "nvr-2", T0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_BRUTE_FORCE), 1);
}

/* ---- exfiltration ------------------------------------------------------------------------- */

static void test_exfiltration(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    int64_t now = T0;
    /* 12 reports of ~10-12 kB out a minute: the device's history */
    for (int i = 0; i < 12; i++) {
        proc_report(fx, &r, "meter-1");
        tb_add_flow(&r, tb_flow(6, OUT, 0, 40000, "198.18.0.10", 8883, 20, 18, 10000 + i * 200,
                                3000, 0, 59, FL(ACK, ACK)));
        proc_send(fx, &r, "meter-1", now);
        now += 60000;
    }
    assert_int_equal(n_alerts(fx, WARD_ALERT_EXFILTRATION), 0);
    /* 2 MB to a new host */
    proc_report(fx, &r, "meter-1");
    tb_add_flow(&r, tb_flow(6, OUT, 0, 40000, "198.18.0.10", 8883, 20, 18, 11000, 3000, 0, 59,
                            FL(ACK, ACK)));
    tb_add_flow(&r, tb_flow(6, OUT, 0, 40001, "192.0.2.200", 443, 1500, 700, 2000000, 40000, 0, 59,
                            FL(SYN | ACK, SYN | ACK)));
    proc_send(fx, &r, "meter-1", now);
    json_t *a = alerts(fx, WARD_ALERT_EXFILTRATION);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(ev_str(json_array_get(a, 0), "remote_addr"), "192.0.2.200");
    assert_int_equal(ev_int(json_array_get(a, 0), "observed", "bytes_out"), 2011000);
    json_decref(a);
}

/* An ICMP flood after a quiet history: the device answers every echo request (type 0 replies,
 * 5 MB out). That is an icmp_flood, not an exfiltration (found by tools/wardsim). */
static void test_exfiltration_not_echo_replies(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    int64_t now = T0;
    for (int i = 0; i < 12; i++) {
        proc_report(fx, &r, "meter-2");
        tb_add_flow(&r, tb_flow(6, OUT, 0, 40000, "198.18.0.10", 8883, 20, 18, 2600, 3000, 0, 59,
                                FL(ACK, ACK)));
        proc_send(fx, &r, "meter-2", now);
        now += 60000;
    }
    proc_report(fx, &r, "meter-2");
    tb_add_flow(&r, tb_flow(6, OUT, 0, 40000, "198.18.0.10", 8883, 20, 18, 2600, 3000, 0, 59,
                            FL(ACK, ACK)));
    /* inbound echo requests (type 8) and the device's replies (type 0) */
    tb_add_flow(&r, tb_flow(1, IN, 0, 0, "192.0.2.66", 8 << 8, 0, 60000, 0, 5040000, 0, 59, -1));
    tb_add_flow(&r, tb_flow(1, OUT, 0, 0, "192.0.2.66", 0, 60000, 0, 5040000, 0, 0, 59, -1));
    proc_send(fx, &r, "meter-2", now);
    assert_int_equal(n_alerts(fx, WARD_ALERT_EXFILTRATION), 0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_ICMP_FLOOD), 1);
}

/* A scan that fills the table goes on in the next report only as untracked flows: still the
 * named scanner's scan, not a second one from an unnamed source. */
static void test_port_scan_continues_untracked(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "cam-8");
    for (int i = 0; i < 60; i++)
        tb_add_flow(&r, tb_flow(6, IN, 0, 1 + i, "192.0.2.72", 61000, 1, 1, 40, 44, 1, 1,
                                FL(RST | ACK, SYN)));
    proc_send(fx, &r, "cam-8", T0);
    proc_report(fx, &r, "cam-8");
    add_benign(&r);
    cbor_item_t *ov = cbor_new_definite_array(1);
    cbor_array_push(ov, cbor_move(tb_uints(5, (uint64_t)6, (uint64_t)2, (uint64_t)900,
                                           (uint64_t)900, (uint64_t)39600)));
    tb_set(&r, 17, ov);
    proc_send(fx, &r, "cam-8", T0 + 60000);
    json_t *a = alerts(fx, WARD_ALERT_PORT_SCAN);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(ev_str(json_array_get(a, 0), "remote_addr"), "192.0.2.72");
    assert_int_equal(ev_int(json_array_get(a, 0), "observed", "overflow_flows"), 900);
    json_decref(a);
}

/* Sweeps on many ports in one report: the detector's table grows (and moves) while the report is
 * read (a use-after-free that ASan found with tools/wardsim). */
static void test_host_sweep_many_ports(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    char ip[32];
    proc_report(fx, &r, "dvr-3");
    const int ports[] = {23, 2323, 22, 80, 8080, 7547, 5555, 37215};
    for (int p = 0; p < 8; p++)
        for (int i = 0; i < (p < 2 ? 22 : 3); i++) { /* 62 flows: the builder holds 64 */
            snprintf(ip, sizeof ip, "100.66.%d.%d", p, 1 + i);
            tb_add_flow(&r, tb_flow(6, OUT, 0, 40000 + p * 100 + i, ip, ports[p], 2, 0, 120, 0, 1,
                                    3, FL(SYN, 0)));
        }
    proc_send(fx, &r, "dvr-3", T0);
    assert_int_equal(n_alerts(fx, WARD_ALERT_HOST_SWEEP), 2);
}

/* Before min_history nothing fires, even for a big report; a big report under the absolute
 * floor never fires. */
static void test_exfiltration_limits(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    int64_t now = T0;
    for (int i = 0; i < 5; i++) {
        proc_report(fx, &r, "meter-2");
        tb_add_flow(&r, tb_flow(6, OUT, 0, 40000, "198.18.0.10", 8883, 20, 18, 1000, 3000, 0, 59,
                                FL(ACK, ACK)));
        proc_send(fx, &r, "meter-2", now);
        now += 60000;
    }
    proc_report(fx, &r, "meter-2");
    tb_add_flow(&r, tb_flow(6, OUT, 0, 40000, "198.18.0.10", 8883, 20, 18, 5000000, 3000, 0, 59,
                            FL(ACK, ACK)));
    proc_send(fx, &r, "meter-2", now);
    assert_int_equal(n_alerts(fx, WARD_ALERT_EXFILTRATION), 0);
    for (int i = 0; i < 12; i++) {
        now += 60000;
        proc_report(fx, &r, "meter-3");
        tb_add_flow(&r, tb_flow(6, OUT, 0, 40000, "198.18.0.10", 8883, 20, 18, 1000, 3000, 0, 59,
                                FL(ACK, ACK)));
        proc_send(fx, &r, "meter-3", now);
    }
    /* 100x the usual, but 100 kB < the 1 MiB floor */
    proc_report(fx, &r, "meter-3");
    tb_add_flow(&r, tb_flow(6, OUT, 0, 40000, "198.18.0.10", 8883, 20, 18, 100000, 3000, 0, 59,
                            FL(ACK, ACK)));
    proc_send(fx, &r, "meter-3", now + 60000);
    assert_int_equal(n_alerts(fx, WARD_ALERT_EXFILTRATION), 0);
}

/* ---- silence ------------------------------------------------------------------------------ */

static void test_silent(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    proc_report(fx, &r, "sensor-1"); /* interval 60 s */
    proc_send(fx, &r, "sensor-1", T0);
    ward_processor_begin(fx->proc);
    assert_int_equal(ward_processor_tick(fx->proc, T0 + 180000), 0); /* exactly 3 intervals */
    ward_processor_end(fx->proc);
    assert_int_equal(n_alerts(fx, WARD_ALERT_SILENT), 0);
    ward_processor_begin(fx->proc);
    assert_int_equal(ward_processor_tick(fx->proc, T0 + 181000), 0);
    assert_int_equal(ward_processor_tick(fx->proc, T0 + 200000), 0); /* raised once */
    ward_processor_end(fx->proc);
    json_t *a = alerts(fx, WARD_ALERT_SILENT);
    assert_int_equal(json_array_size(a), 1);
    json_t *al = json_array_get(a, 0);
    assert_string_equal(json_string_value(json_object_get(al, "state")), "active");
    assert_int_equal(json_integer_value(json_object_get(al, "count")), 1);
    assert_int_equal(ev_int(al, "observed", "interval_s"), 60);
    json_decref(a);
    /* it reports again: resolved */
    proc_report(fx, &r, "sensor-1");
    proc_send(fx, &r, "sensor-1", T0 + 240000);
    a = alerts(fx, WARD_ALERT_SILENT);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "state")),
                        "resolved");
    json_decref(a);
}

/* ---- replay ------------------------------------------------------------------------------- */

static void test_replay_seq_backwards(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    fx->seq = 10;
    proc_report(fx, &r, "lock-1");
    proc_send(fx, &r, "lock-1", T0);
    proc_report(fx, &r, "lock-1"); /* 11 */
    proc_send(fx, &r, "lock-1", T0 + 60000);
    assert_int_equal(n_alerts(fx, WARD_ALERT_REPLAY), 0);
    fx->seq = 5; /* same boot, seq 5 never seen: backwards */
    proc_report(fx, &r, "lock-1");
    proc_send(fx, &r, "lock-1", T0 + 120000);
    json_t *a = alerts(fx, WARD_ALERT_REPLAY);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(ev_str(json_array_get(a, 0), "kind"), "seq_backwards");
    assert_int_equal(ev_int(json_array_get(a, 0), "observed", "last_seq"), 11);
    json_decref(a);
    /* a new boot may start again at 1 */
    fx->seq = 1;
    proc_report(fx, &r, "lock-1");
    tb_set(&r, 3, tb_uint(0xbeef));
    proc_send(fx, &r, "lock-1", T0 + 180000);
    assert_int_equal(n_alerts(fx, WARD_ALERT_REPLAY), 1);
}

static void test_replay_same_part_different_content(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    fx->seq = 7;
    proc_report(fx, &r, "lock-2");
    proc_send(fx, &r, "lock-2", T0);
    /* exact redelivery (QoS 1): a duplicate, no alert */
    fx->seq = 7;
    proc_report(fx, &r, "lock-2");
    assert_int_equal(proc_send(fx, &r, "lock-2", T0 + 1000), 1);
    assert_int_equal(n_alerts(fx, WARD_ALERT_REPLAY), 0);
    /* same (boot, seq, part), other content */
    fx->seq = 7;
    proc_report(fx, &r, "lock-2");
    tb_add_flow(&r, tb_flow(6, OUT, 0, 40000, "192.0.2.5", 443, 1, 1, 60, 60, 0, 0, -1));
    assert_int_equal(proc_send(fx, &r, "lock-2", T0 + 2000), 1);
    json_t *a = alerts(fx, WARD_ALERT_REPLAY);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(ev_str(json_array_get(a, 0), "kind"), "content_differs");
    json_decref(a);
}

/* ---- benign ------------------------------------------------------------------------------- */

static void test_benign_raises_nothing(void **state)
{
    fixture_t *fx = *state;
    int64_t now = T0;
    for (int i = 0; i < 30; i++) {
        tb_report_t r;
        proc_report(fx, &r, "thermo-1");
        add_benign(&r);
        proc_send(fx, &r, "thermo-1", now);
        now += 60000;
        ward_processor_begin(fx->proc);
        ward_processor_tick(fx->proc, now - 1000);
        ward_processor_end(fx->proc);
    }
    assert_int_equal(n_alerts(fx, NULL), 0);
}

/* ---- detector switches via config --------------------------------------------------------- */

static void test_config_parse(void **state)
{
    (void)state;
    ward_behavior_config_t c;
    char err[256];
    ward_behavior_config_defaults(&c);
    assert_true(c.port_scan.enabled);
    assert_int_equal(c.port_scan.min_ports, 20);
    assert_int_equal(c.silent.missed_intervals, 3);

    json_t *j = json_loads("{\"port_scan\": {\"min_ports\": 50, \"window_s\": 600},"
                           " \"icmp_flood\": false, \"exfiltration\": {\"k_sigma\": 3.5}}",
                           0, NULL);
    assert_int_equal(ward_behavior_config_parse(j, &c, err, sizeof err), WARD_OK);
    assert_int_equal(c.port_scan.min_ports, 50);
    assert_int_equal(c.port_scan.window_s, 600);
    assert_false(c.icmp_flood.enabled);
    assert_true(c.syn_flood.enabled);
    assert_true(c.exfiltration.k_sigma > 3.49 && c.exfiltration.k_sigma < 3.51);
    json_decref(j);

    struct {
        const char *doc, *msg;
        ward_status_t st;
    } bad[] = {
        {"{\"port_scan\": {\"min_ports\": 1}}", "detectors.port_scan.min_ports: must be 2..65535",
         WARD_E_RANGE},
        {"{\"port_scan\": {\"min_ports\": \"x\"}}",
         "detectors.port_scan.min_ports: must be an integer 2..65535", WARD_E_MALFORMED},
        {"{\"port_scan\": {\"min_port\": 5}}",
         "detectors.port_scan: unknown key \"min_port\" (known: enabled, min_ports, window_s)",
         WARD_E_MALFORMED},
        {"{\"scan\": {}}",
         "detectors.scan: unknown detector (known: port_scan, host_sweep, syn_flood, icmp_flood, "
         "brute_force, exfiltration, silent, replay)",
         WARD_E_MALFORMED},
        {"{\"silent\": {\"enabled\": 1}}", "detectors.silent.enabled: must be true or false",
         WARD_E_MALFORMED},
        {"{\"exfiltration\": {\"alpha\": 0}}", "detectors.exfiltration.alpha: must be 0.001..1",
         WARD_E_RANGE},
        {"[1]", "detectors: must be an object", WARD_E_MALFORMED},
        {"{\"brute_force\": 3}", "detectors.brute_force: must be an object of thresholds or a bool",
         WARD_E_MALFORMED},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = json_loads(bad[i].doc, JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        assert_int_equal(ward_behavior_config_parse(j, &c, err, sizeof err), bad[i].st);
        assert_string_equal(err, bad[i].msg);
        assert_int_equal(c.port_scan.min_ports, 20); /* defaults on error */
        json_decref(j);
    }
    assert_int_equal(ward_behavior_config_parse(NULL, &c, err, sizeof err), WARD_OK);
    json_t *back = ward_behavior_config_json(&c);
    ward_behavior_config_t c2;
    assert_int_equal(ward_behavior_config_parse(back, &c2, err, sizeof err), WARD_OK);
    assert_memory_equal(&c, &c2, sizeof c);
    json_decref(back);
}

int main(void)
{
    ward_log_init("test_behavior", WARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_port_scan_syn, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_port_scan_connect, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_port_scan_udp, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_port_scan_ipv6, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_port_scan_limits, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_port_scan_overflow, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_flood_overflow_is_not_a_scan, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_exfiltration_not_echo_replies, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_port_scan_continues_untracked, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_host_sweep_many_ports, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_host_sweep, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_syn_flood, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_icmp_flood, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_brute_force, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_exfiltration, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_exfiltration_limits, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_silent, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_replay_seq_backwards, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_replay_same_part_different_content, proc_setup, proc_teardown),
        cmocka_unit_test_setup_teardown(test_benign_raises_nothing, proc_setup, proc_teardown),
        cmocka_unit_test(test_config_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
