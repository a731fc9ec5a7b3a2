/*
 * Config messages (docs/protocol.md section 5, ward_agent_apply_config()): applied whole, every
 * invalid field rejected with the old config kept and the reason reported once, the revision
 * echoed, the interval and the collectors honoured.
 */
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "ward_cbor.h"

#define T0 1700000000000ull

static ward_agent_t agent;
static tu_transport_t tt;
static uint8_t buf[8192];

static int setup(void **state)
{
    (void)state;
    tu_transport_init(&tt);
    tu_agent_init(&agent, &tt, T0);
    tu_flows_required = 1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_transport_free(&tt);
    tu_flows_required = 1;
    return 0;
}

/* A config message: version [1, 0], revision, then optional fields (interval 0 = absent,
 * collectors < 0 = absent, ndeny < 0 = absent). */
typedef struct deny_in {
    uint8_t addr[16];
    size_t alen;
    uint64_t prefix;
    uint64_t action;
} deny_in_t;

static size_t make_config(uint8_t *out, size_t cap, uint64_t rev, uint64_t interval,
                          int collectors, const deny_in_t *deny, int ndeny)
{
    ward__cbor_t w;
    ward__cbor_init(&w, out, cap);
    ward__cbor_map(&w, 2u + (interval != 0) + (collectors >= 0) + (ndeny >= 0));
    ward__cbor_uint(&w, WARD_CK_VERSION);
    ward__cbor_array(&w, 2);
    ward__cbor_uint(&w, 1);
    ward__cbor_uint(&w, 0);
    ward__cbor_uint(&w, WARD_CK_REVISION);
    ward__cbor_uint(&w, rev);
    if (interval != 0) {
        ward__cbor_uint(&w, WARD_CK_INTERVAL);
        ward__cbor_uint(&w, interval);
    }
    if (collectors >= 0) {
        ward__cbor_uint(&w, WARD_CK_COLLECTORS);
        ward__cbor_uint(&w, (uint64_t)collectors);
    }
    if (ndeny >= 0) {
        ward__cbor_uint(&w, WARD_CK_DENY);
        ward__cbor_array(&w, (uint64_t)ndeny);
        for (int i = 0; i < ndeny; i++) {
            ward__cbor_array(&w, 3);
            ward__cbor_bstr(&w, deny[i].addr, deny[i].alen);
            ward__cbor_uint(&w, deny[i].prefix);
            ward__cbor_uint(&w, deny[i].action);
        }
    }
    assert_false(w.overflow);
    return w.len;
}

static const tu_report_t *flush_at(uint64_t now)
{
    assert_int_equal(ward_agent_flush(&agent, now, buf, sizeof buf), WARD_OK);
    return tu_decode(tt.parts[tt.nparts - 1], tt.lens[tt.nparts - 1]);
}

/* The "good" config the rejection tests start from: revision 5, interval 30 s, one rule. */
static void apply_good(void)
{
    uint8_t msg[256];
    deny_in_t d = {{203, 0, 113, 0}, 4, 24, WARD_DENY_ALERT};
    size_t n = make_config(msg, sizeof msg, 5, 30, WARD_COL_ALL_, &d, 1);
    assert_int_equal(ward_agent_apply_config(&agent, msg, n, T0), WARD_OK);
}

static void test_apply_and_echo(void **state)
{
    (void)state;
    /* Before any config: no revision (absent = 0), the built-in interval. */
    const tu_report_t *r = flush_at(T0 + 1000);
    assert_false(r->has_config_rev);
    assert_false(r->has_config_status);
    assert_int_equal(r->interval, WARD_REPORT_INTERVAL_S);

    apply_good();
    assert_int_equal(agent.deny_count, 1);
    r = flush_at(T0 + 2000);
    assert_true(r->has_config_rev);
    assert_int_equal(r->config_rev, 5);
    assert_int_equal(r->interval, 30);
    assert_false(r->has_config_status);
    /* Echoed in every report, not only the first. */
    r = flush_at(T0 + 3000);
    assert_int_equal(r->config_rev, 5);

    /* The same message again (a retained message after a reconnect): still fine. */
    apply_good();
    r = flush_at(T0 + 4000);
    assert_int_equal(r->config_rev, 5);

    /* Fields left out take their built-in values: a config is the whole desired state. */
    uint8_t msg[64];
    size_t n = make_config(msg, sizeof msg, 6, 0, -1, NULL, -1);
    assert_int_equal(ward_agent_apply_config(&agent, msg, n, T0 + 5000), WARD_OK);
    assert_int_equal(agent.deny_count, 0);
    assert_int_equal(agent.collectors, WARD_COL_ALL_);
    r = flush_at(T0 + 6000);
    assert_int_equal(r->config_rev, 6);
    assert_int_equal(r->interval, WARD_REPORT_INTERVAL_S);
}

static void test_interval_honoured(void **state)
{
    (void)state;
    uint8_t msg[64];
    /* Shorter: due one new interval after the period start (T0). */
    size_t n = make_config(msg, sizeof msg, 2, 20, -1, NULL, -1);
    assert_int_equal(ward_agent_apply_config(&agent, msg, n, T0 + 5000), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 19999, buf, sizeof buf), WARD_NOTHING);
    assert_int_equal(ward_agent_poll(&agent, T0 + 20000, buf, sizeof buf), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 39999, buf, sizeof buf), WARD_NOTHING);
    assert_int_equal(ward_agent_poll(&agent, T0 + 40000, buf, sizeof buf), WARD_OK);
    assert_int_equal(tu_decode(tt.parts[1], tt.lens[1])->interval, 20);

    /* Longer: due one new interval after the last report (T0 + 40 s), then every 600 s. */
    n = make_config(msg, sizeof msg, 3, 600, -1, NULL, -1);
    assert_int_equal(ward_agent_apply_config(&agent, msg, n, T0 + 45000), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 59999, buf, sizeof buf), WARD_NOTHING);
    assert_int_equal(ward_agent_poll(&agent, T0 + 640000, buf, sizeof buf), WARD_OK);
    assert_int_equal(ward_agent_poll(&agent, T0 + 1239999, buf, sizeof buf), WARD_NOTHING);
    assert_int_equal(ward_agent_poll(&agent, T0 + 1240000, buf, sizeof buf), WARD_OK);
    assert_int_equal(tu_decode(tt.parts[tt.nparts - 1], tt.lens[tt.nparts - 1])->interval, 600);
}

typedef struct bad_case {
    const char *name;
    uint8_t b[64];
    size_t n;
    ward_status_t st;
    uint64_t rev; /* revision reported in config_status */
} bad_case_t;

/* Hand-written CBOR, byte by byte: a0+n map, 80+n array, 40+n bstr, 60+n tstr. Version [1,0] is
 * 00 82 01 00; revision 9 is 01 09. */
static const bad_case_t bad[] = {
    {"not a map", {0x82, 0x01, 0x00}, 3, WARD_E_MALFORMED, 0},
    {"empty input", {0}, 0, WARD_E_INCOMPLETE, 0},
    {"missing version", {0xa1, 0x01, 0x09}, 3, WARD_E_MALFORMED, 9},
    {"missing revision", {0xa1, 0x00, 0x82, 0x01, 0x00}, 5, WARD_E_MALFORMED, 0},
    {"major 2", {0xa2, 0x01, 0x09, 0x00, 0x82, 0x02, 0x00}, 7, WARD_E_UNSUPPORTED, 9},
    {"version short", {0xa2, 0x01, 0x09, 0x00, 0x81, 0x01}, 6, WARD_E_MALFORMED, 9},
    {"version not array", {0xa2, 0x01, 0x09, 0x00, 0x01}, 5, WARD_E_MALFORMED, 9},
    {"revision 0", {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x00}, 7, WARD_E_RANGE, 0},
    {"revision tstr", {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x61, 0x39}, 8, WARD_E_MALFORMED, 0},
    {"interval 9", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x02, 0x09}, 9, WARD_E_RANGE, 9},
    {"interval 86401",
     {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x02, 0x1a, 0x00, 0x01, 0x51, 0x81},
     13, WARD_E_RANGE, 9},
    {"interval negative", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x02, 0x38, 0x1d}, 10,
     WARD_E_MALFORMED, 9},
    {"collectors bstr", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x03, 0x41, 0x1f}, 10,
     WARD_E_MALFORMED, 9},
    {"deny not array", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0xa0}, 9,
     WARD_E_MALFORMED, 9},
    {"deny too many", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0x89}, 9, WARD_E_FULL, 9},
    {"deny entry short", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0x81, 0x82, 0x44, 10,
                          0, 0, 0, 0x08}, 16, WARD_E_MALFORMED, 9},
    {"deny addr 5 bytes", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0x81, 0x83, 0x45, 10,
                           0, 0, 0, 0, 0x08, 0x00}, 18, WARD_E_RANGE, 9},
    {"deny addr tstr", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0x81, 0x83, 0x64, 10, 0,
                        0, 0, 0x08, 0x00}, 17, WARD_E_MALFORMED, 9},
    {"deny prefix 33", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0x81, 0x83, 0x44, 10, 0,
                        0, 0, 0x18, 0x21, 0x00}, 18, WARD_E_RANGE, 9},
    {"deny v6 prefix 129", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0x81, 0x83, 0x50,
                            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x18,
                            0x81, 0x00}, 30, WARD_E_RANGE, 9},
    {"deny action 2", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0x81, 0x83, 0x44, 10, 0,
                       0, 0, 0x08, 0x02}, 17, WARD_E_RANGE, 9},
    {"deny drop /0", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0x81, 0x83, 0x44, 0, 0, 0,
                      0, 0x00, 0x01}, 17, WARD_E_RANGE, 9},
    {"duplicate key", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x01, 0x09}, 9,
     WARD_E_MALFORMED, 9},
    {"key tstr", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x61, 0x78, 0x01}, 10,
     WARD_E_MALFORMED, 9},
    {"bytes after the map", {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x00}, 8,
     WARD_E_MALFORMED, 9},
    {"indefinite map", {0xbf, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0xff}, 8, WARD_E_UNSUPPORTED, 0},
    {"indefinite deny", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x04, 0x9f, 0xff}, 10,
     WARD_E_UNSUPPORTED, 9},
    {"reserved head", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x02, 0x1c}, 9,
     WARD_E_MALFORMED, 9},
    {"unknown key nested too deep", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x18, 0x63, 0x81,
                                     0x81, 0x81, 0x81, 0x00}, 14, WARD_E_UNSUPPORTED, 9},
    {"unknown key truncated", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x18, 0x63, 0x5a, 0xff,
                               0xff, 0xff, 0xff}, 14, WARD_E_INCOMPLETE, 9},
    {"huge array count", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x09, 0x18, 0x63, 0x9b, 0xff, 0xff,
                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 18, WARD_E_INCOMPLETE, 9},
};

static void test_reject_each(void **state)
{
    (void)state;
    apply_good();
    (void)flush_at(T0 + 1000);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const bad_case_t *c = &bad[i];
        ward_status_t st = ward_agent_apply_config(&agent, c->n ? c->b : NULL, c->n, T0 + 2000);
        if (st != c->st)
            fail_msg("%s: status %d, expected %d", c->name, (int)st, (int)c->st);
        /* The old config stays, whole. */
        assert_int_equal(agent.config_rev, 5);
        assert_int_equal(agent.interval_s, 30);
        assert_int_equal(agent.deny_count, 1);
        assert_int_equal(agent.deny[0].prefix, 24);
        assert_int_equal(agent.collectors, WARD_COL_ALL_);
        /* The next report says so, once. */
        const tu_report_t *r = flush_at(T0 + 3000 + i * 10);
        assert_int_equal(r->config_rev, 5);
        if (!r->has_config_status)
            fail_msg("%s: no config_status", c->name);
        if (r->cs_rev != c->rev || r->cs_status != (uint64_t)c->st)
            fail_msg("%s: config_status [%llu, %llu]", c->name, (unsigned long long)r->cs_rev,
                     (unsigned long long)r->cs_status);
        assert_true(strlen(r->cs_reason) > 0);
        r = flush_at(T0 + 3005 + i * 10);
        assert_false(r->has_config_status);
    }
    assert_int_equal(agent.counters[WARD_CTR_CONFIGS_REJECTED], sizeof bad / sizeof bad[0]);
}

static void test_truncated_and_extended(void **state)
{
    (void)state;
    uint8_t msg[512];
    deny_in_t d[2] = {{{203, 0, 113, 0}, 4, 24, WARD_DENY_ALERT},
                      {{0x20, 0x01, 0x0d, 0xb8, 0xff}, 16, 40, WARD_DENY_DROP}};
    size_t n = make_config(msg, sizeof msg, 11, 120, WARD_COL_FLOWS, d, 2);
    /* Every strict prefix is incomplete, and changes nothing. */
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(ward_agent_apply_config(&agent, msg, k, T0), WARD_E_INCOMPLETE);
        assert_int_equal(agent.config_rev, 0);
    }
    assert_int_equal(ward_agent_apply_config(&agent, msg, n, T0), WARD_OK);
    assert_int_equal(agent.deny_count, 2);
    assert_int_equal(agent.deny[1].family, 6);
    assert_int_equal(agent.deny[1].action, WARD_DENY_DROP);
    assert_int_equal(agent.collectors, WARD_COL_FLOWS);

    /* A later minor version: unknown keys (nested within the depth bound), unknown collector
     * bits, extra positions in the version and a deny entry, host bits set, non-shortest
     * integers. All accepted; host bits cleared. */
    static const uint8_t later[] = {
        0xa5,                                     /* map of 5 */
        0x00, 0x83, 0x01, 0x07, 0x63, 'x', 'y', 'z', /* version [1, 7, "xyz"] */
        0x01, 0x19, 0x00, 0x0c,                   /* revision 12, in 2 bytes */
        0x03, 0x18, 0xff,                         /* collectors 255 */
        0x18, 0x40, 0x82, 0xa1, 0x01, 0x82, 0x01, 0xf5, 0xc1, 0x00, /* key 64: [{1: [1, true]}, 1(0)] */
        0x04, 0x81, 0x84, 0x44, 198, 51, 100, 77, 0x18, 0x18, 0x00, 0xf6, /* [[198.51.100.77/24, alert, null]] */
    };
    assert_int_equal(ward_agent_apply_config(&agent, later, sizeof later, T0), WARD_OK);
    assert_int_equal(agent.config_rev, 12);
    assert_int_equal(agent.collectors, WARD_COL_ALL_);
    assert_int_equal(agent.deny_count, 1);
    assert_int_equal(agent.deny[0].addr[3], 0);
    assert_int_equal(agent.interval_s, WARD_REPORT_INTERVAL_S);

    /* Arguments. */
    assert_int_equal(ward_agent_apply_config(NULL, msg, n, T0), WARD_E_ARG);
    assert_int_equal(ward_agent_apply_config(&agent, NULL, 3, T0), WARD_E_ARG);
    assert_int_equal(agent.cs_pending, 0); /* argument errors are not reported */
}

static void test_collectors_off(void **state)
{
    (void)state;
    uint8_t msg[64], p[128], r4[4];
    ward_sysinfo_t si = {"os", "fw", "hw", "ip", 1, 1};
    assert_int_equal(ward_agent_set_sysinfo(&agent, &si), WARD_OK);
    assert_int_equal(ward_agent_metric_set(&agent, "m", 1), WARD_OK);
    tu_remote4(r4, 1);

    /* Everything off: the report is a bare heartbeat, with the header only. */
    size_t n = make_config(msg, sizeof msg, 3, 0, 0, NULL, -1);
    assert_int_equal(ward_agent_apply_config(&agent, msg, n, T0), WARD_OK);
    size_t k = tu_v4_udp(p, TU_DEV4, r4, 5000, 53, 10);
    assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, p, k, T0 + 10), WARD_OK);
    tu_flows_required = 0;
    const tu_report_t *r = flush_at(T0 + 1000);
    assert_false(r->has_flows);
    assert_int_equal(r->nlocal, 0);
    assert_false(r->has_counters);
    assert_false(r->has_sysinfo);
    assert_false(r->has_metrics);
    assert_false(r->has_listening);
    assert_false(r->has_malformed);
    assert_int_equal(r->novf, 0);
    assert_int_equal(r->nkeys, 11); /* 0-9 and the revision */
    /* The hook did not track it, but still counted the packet. */
    assert_int_equal(agent.flow_count, 0);
    assert_int_equal(agent.counters[WARD_CTR_PACKETS], 1);

    /* Back on: each key returns (sysinfo too, as it was not sent while off). */
    n = make_config(msg, sizeof msg, 4, 0, WARD_COL_ALL_, NULL, -1);
    assert_int_equal(ward_agent_apply_config(&agent, msg, n, T0 + 2000), WARD_OK);
    assert_int_equal(ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, p, k, T0 + 2010), WARD_OK);
    tu_flows_required = 1;
    r = flush_at(T0 + 3000);
    assert_int_equal(r->nflows, 1);
    assert_true(r->has_counters);
    assert_true(r->has_sysinfo);
    assert_true(r->has_metrics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_and_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interval_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_extended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collectors_off, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
