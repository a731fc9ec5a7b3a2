/*
 * Reports for the independent decoder (ward-test: host-only: writes files). Run as
 * `test_agent_pyreport <dir>` by tests/unit/agent/check_reports_cbor2.py (CTest
 * agent_report_cbor2), which decodes every part with python3-cbor2 and compares it, field by field,
 * with what this side says it encoded.
 *
 * Two reports are written, one part per file (<dir>/part-<n>.cbor): a regular report with every
 * key the agent writes (IPv4 and IPv6 flows, TCP flags, overflow, malformed, listening sockets,
 * system information, counters, metrics incl. negative ones, detections, config revision and a
 * rejected config's status), split into parts by a small buffer; and a priority report. For each
 * part, <dir>/part-<n>.json holds the report as this side decoded it with libcbor (tu_decode(),
 * which also checks it against proto.h and the inputs below are checked against it here).
 */
#include <stdio.h>
#include <string.h>

#include "test_util.h"

#define T0 1795000000000ull

static const char *out_dir = ".";
static ward_agent_t agent;
static tu_transport_t tt;
static uint8_t buf[4096];

static size_t listening(void *ctx, ward_listen_t *out, size_t max)
{
    (void)ctx;
    static const ward_listen_t l[3] = {
        {WARD_IPPROTO_TCP, 4, 23, {0}},
        {WARD_IPPROTO_UDP, 6, 5683, {0}},
        {WARD_IPPROTO_TCP, 4, 8080, {192, 168, 1, 10}},
    };
    size_t n = max < 3 ? max : 3;
    memcpy(out, l, n * sizeof *out);
    return n;
}

static void hex(FILE *f, const uint8_t *p, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
    fputc('"', f);
}

static void write_part(size_t idx, const uint8_t *b, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/part-%zu.cbor", out_dir, idx);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);

    const tu_report_t *r = tu_decode(b, len);
    snprintf(path, sizeof path, "%s/part-%zu.json", out_dir, idx);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"nkeys\": %zu, \"version\": [%llu, %llu], \"device_id\": \"%s\", "
               "\"agent_version\": \"%s\", \"boot_id\": %llu, \"seq\": %llu, \"start\": %llu, "
               "\"end\": %llu, \"part\": [%llu, %llu], \"time_base\": %llu, \"interval\": %llu,\n",
            r->nkeys, (unsigned long long)r->version[0], (unsigned long long)r->version[1],
            r->device_id, r->agent_version, (unsigned long long)r->boot_id,
            (unsigned long long)r->seq, (unsigned long long)r->start, (unsigned long long)r->end,
            (unsigned long long)r->part_i, (unsigned long long)r->part_n,
            (unsigned long long)r->time_base, (unsigned long long)r->interval);
    if (r->has_config_rev)
        fprintf(f, " \"config_rev\": %llu,\n", (unsigned long long)r->config_rev);
    if (r->priority)
        fprintf(f, " \"priority\": true,\n");
    if (r->nlocal || !r->priority) {
        fprintf(f, " \"local_addrs\": [");
        for (size_t i = 0; i < r->nlocal; i++) {
            fprintf(f, i ? ", " : "");
            hex(f, r->local[i], r->local_len[i]);
        }
        fprintf(f, "],\n");
    }
    if (r->has_flows) {
        fprintf(f, " \"flows\": [");
        for (size_t i = 0; i < r->nflows; i++) {
            const tu_flow_t *fl = &r->flows[i];
            fprintf(f, "%s[", i ? ",\n   " : "");
            for (size_t p = 0; p < fl->n; p++) {
                fprintf(f, p ? ", " : "");
                if (p == WARD_FP_REMOTE_ADDR)
                    hex(f, fl->remote, fl->alen);
                else
                    fprintf(f, "%llu", (unsigned long long)fl->v[p]);
            }
            fprintf(f, "]");
        }
        fprintf(f, "],\n");
    }
    if (r->novf) {
        fprintf(f, " \"overflow\": [");
        for (size_t i = 0; i < r->novf; i++)
            fprintf(f, "%s[%llu, %llu, %llu, %llu, %llu]", i ? ", " : "",
                    (unsigned long long)r->ovf[i][0], (unsigned long long)r->ovf[i][1],
                    (unsigned long long)r->ovf[i][2], (unsigned long long)r->ovf[i][3],
                    (unsigned long long)r->ovf[i][4]);
        fprintf(f, "],\n");
    }
    if (r->has_counters || r->has_malformed) {
        for (int which = 0; which < 2; which++) {
            const uint64_t *v = which ? r->malformed : r->counters;
            size_t n = which ? WARD_MF_COUNT_ : WARD_CTR_COUNT_;
            if (!(which ? r->has_malformed : r->has_counters))
                continue;
            fprintf(f, " \"%s\": {", which ? "malformed" : "counters");
            int first = 1;
            for (size_t i = 0; i < n; i++) {
                if (v[i] != 0) {
                    fprintf(f, "%s\"%zu\": %llu", first ? "" : ", ", i, (unsigned long long)v[i]);
                    first = 0;
                }
            }
            fprintf(f, "},\n");
        }
    }
    if (r->has_listening) {
        fprintf(f, " \"listening\": [");
        for (size_t i = 0; i < r->nlisten; i++) {
            fprintf(f, "%s[%llu, ", i ? ", " : "", (unsigned long long)r->listen[i].proto);
            hex(f, r->listen[i].addr, r->listen[i].alen);
            fprintf(f, ", %llu]", (unsigned long long)r->listen[i].port);
        }
        fprintf(f, "],\n");
    }
    if (r->has_sysinfo) {
        fprintf(f, " \"sysinfo\": {");
        int first = 1;
        for (int k = 0; k <= WARD_SK_FLOW_CAPACITY; k++) {
            if (!(r->si_seen & (1ull << k)))
                continue;
            fprintf(f, "%s\"%d\": ", first ? "" : ", ", k);
            first = 0;
            if (k <= WARD_SK_IP_STACK)
                fprintf(f, "\"%s\"", r->si_str[k]);
            else if (k == WARD_SK_TLS)
                fprintf(f, "%s", r->si_tls ? "true" : "false");
            else if (k == WARD_SK_TIME_SYNCED)
                fprintf(f, "%s", r->si_synced ? "true" : "false");
            else
                fprintf(f, "%llu", (unsigned long long)r->si_capacity);
        }
        fprintf(f, "},\n");
    }
    if (r->has_metrics) {
        fprintf(f, " \"metrics\": [");
        for (size_t i = 0; i < r->nmetrics; i++)
            fprintf(f, "%s[\"%s\", %lld]", i ? ", " : "", r->metrics[i].name,
                    (long long)r->metrics[i].value);
        fprintf(f, "],\n");
    }
    if (r->has_detections) {
        fprintf(f, " \"detections\": [");
        for (size_t i = 0; i < r->ndetect; i++) {
            fprintf(f, "%s[", i ? ", " : "");
            for (size_t p = 0; p < 10; p++) {
                fprintf(f, p ? ", " : "");
                if (p == WARD_DP_REMOTE_ADDR)
                    hex(f, r->detect[i].remote, r->detect[i].alen);
                else
                    fprintf(f, "%llu", (unsigned long long)r->detect[i].v[p]);
            }
            fprintf(f, "]");
        }
        fprintf(f, "],\n");
    }
    if (r->has_config_status)
        fprintf(f, " \"config_status\": [%llu, %llu, \"%s\"],\n", (unsigned long long)r->cs_rev,
                (unsigned long long)r->cs_status, r->cs_reason);
    fprintf(f, " \"len\": %zu}\n", len);
    fclose(f);
}

static ward_status_t feed(int dir, const uint8_t *p, size_t n, uint64_t now)
{
    return ward_agent_on_packet(&agent, dir, p, n, now);
}

static void test_write_reports(void **state)
{
    (void)state;
    uint8_t p[256], r4[4], r6[16];
    size_t k;
    tu_transport_init(&tt);
    tu_agent_init(&agent, &tt, T0);

    static const uint8_t cfg[] = {
        0xa4, 0x00, 0x82, 0x01, 0x00, 0x01, 0x19, 0x01, 0x2c, 0x02, 0x18, 0x78, 0x04, 0x82,
        0x83, 0x44, 198, 51, 100, 0, 0x18, 0x18, 0x00,
        0x83, 0x50, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x30, 0x01,
    };
    assert_int_equal(ward_agent_apply_config(&agent, cfg, sizeof cfg, T0), WARD_OK);
    static const uint8_t bad[] = {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x19, 0x01, 0x2d, 0x00};
    assert_int_equal(ward_agent_apply_config(&agent, bad, sizeof bad, T0), WARD_E_MALFORMED);
    ward_sysinfo_t si = {"FreeRTOS 10.5.1", "fw-2.0.1", "stm32h7-nucleo", "lwIP 2.1.3", 1, 0};
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si), WARD_OK);
    assert_int_equal(ward_agent_set_listening(&agent, listening, NULL), WARD_OK);
    assert_int_equal(ward_agent_metric_set(&agent, "heap_free", 48123), WARD_OK);
    assert_int_equal(ward_agent_metric_set(&agent, "temp_c", -12), WARD_OK);
    assert_int_equal(ward_agent_metric_set(&agent, "uptime_s", 4294967296ll), WARD_OK);
    assert_int_equal(ward_agent_note(&agent, WARD_CTR_MSGS_SENT, 17), WARD_OK);

    /* Flows: more than the table holds, IPv4 and IPv6, TCP handshakes and UDP. */
    for (unsigned i = 0; i < WARD_MAX_FLOWS + 6; i++) {
        tu_remote4(r4, i);
        k = tu_v4_tcp(p, TU_DEV4, r4, (uint16_t)(49152 + i), 8883, TU_TCP_SYN, 0);
        assert_int_equal(feed(WARD_DIR_OUTBOUND, p, k, T0 + 1000 + i), WARD_OK);
        k = tu_v4_tcp(p, r4, TU_DEV4, 8883, (uint16_t)(49152 + i), TU_TCP_SYN | TU_TCP_ACK, 0);
        assert_int_equal(feed(WARD_DIR_INBOUND, p, k, T0 + 1500 + i), WARD_OK);
        if (i % 8 == 0) {
            tu_remote6(r6, i);
            r6[5] = 0xfe; /* 2001:db8:fe::/48: not on the deny-list */
            k = tu_v6_udp(p, TU_DEV6, r6, 40000, 53, 30 + i);
            assert_int_equal(feed(WARD_DIR_OUTBOUND, p, k, T0 + 2000), WARD_OK);
        }
    }
    p[0] = 0x75; /* version 7: malformed */
    assert_int_equal(feed(WARD_DIR_INBOUND, p, 40, T0 + 2500), WARD_E_MALFORMED);
    /* Deny-list: 198.51.100.9 (alert), 2001:db8:ff::1 (drop). */
    static const uint8_t bad4[4] = {198, 51, 100, 9};
    k = tu_v4_udp(p, bad4, TU_DEV4, 123, 123, 48);
    assert_int_equal(feed(WARD_DIR_INBOUND, p, k, T0 + 3000), WARD_OK);
    assert_int_equal(feed(WARD_DIR_INBOUND, p, k, T0 + 3100), WARD_OK);
    tu_remote6(r6, 1);
    k = tu_v6_tcp(p, TU_DEV6, r6, 50000, 22, TU_TCP_SYN, 0);
    assert_int_equal(feed(WARD_DIR_OUTBOUND, p, k, T0 + 3200), WARD_DROP);

    /* The priority report first (poll), then a regular one split by a small buffer (flush). */
    assert_int_equal(ward_agent_poll(&agent, T0 + 4000, buf, sizeof buf), WARD_OK);
    assert_int_equal(tt.nparts, 1);
    assert_true(tu_decode(tt.parts[0], tt.lens[0])->priority);
    tu_remote6(r6, 2);
    k = tu_v6_tcp(p, TU_DEV6, r6, 50001, 22, TU_TCP_SYN, 0);
    assert_int_equal(feed(WARD_DIR_OUTBOUND, p, k, T0 + 4500), WARD_DROP); /* regular report */
    assert_int_equal(ward_agent_flush(&agent, T0 + 60000, buf, 900), WARD_OK);
    assert_true(tt.nparts > 2);
    for (size_t i = 0; i < tt.nparts; i++)
        write_part(i, tt.parts[i], tt.lens[i]);
    printf("pyreport: %zu parts written to %s\n", tt.nparts, out_dir);
    tu_transport_free(&tt);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        out_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
