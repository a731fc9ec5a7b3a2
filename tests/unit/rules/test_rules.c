/*
 * rules + baseline: parsing and validation of group documents (every rule kind, precise errors),
 * evaluation with a fake clock (ranges, windows, hysteresis alarm/clear, invalidation, CIDR
 * allow/deny for IPv4 and IPv6, port and protocol sets, message counter deltas per boot,
 * multi-part reports), learned baselines (learning, deviations, freeze).
 *
 * Reports are ward_wire_report_t values filled in here (what wire.c would have decoded).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "baseline.h"
#include "log.h"
#include "registry.h"
#include "rules.h"

#define T0 1700000000000LL
#define MIN_MS 60000LL

/* ---- Reports ------------------------------------------------------------------------------- */

typedef struct rep {
    ward_wire_report_t r;
    ward_wire_flow_t flows[16];
    ward_addr_t locals[1];
    ward_wire_listen_t listen[4];
    ward_wire_kv_t ctr[2];
} rep_t;

static void rep_init(rep_t *x, uint32_t boot, uint64_t seq)
{
    memset(x, 0, sizeof *x);
    snprintf(x->r.device_id, sizeof x->r.device_id, "dev1");
    x->r.boot_id = boot;
    x->r.seq = seq;
    x->r.period_start = (uint64_t)T0;
    x->r.period_end = (uint64_t)T0 + 60000;
    x->r.part_index = 0;
    x->r.part_count = 1;
    x->r.time_base = WARD_TIME_UNIX;
    x->r.has_interval = true;
    x->r.interval = 60;
    ward_addr_parse("10.0.0.2", &x->locals[0]);
    x->r.local_addrs = x->locals;
    x->r.n_local_addrs = 1;
    x->r.flows = x->flows;
    x->r.listening = x->listen;
    x->r.counters = x->ctr;
}

static void add_flow(rep_t *x, unsigned proto, unsigned dir, const char *remote, unsigned rport,
                     uint64_t bytes_out, uint64_t bytes_in)
{
    ward_wire_flow_t *f = &x->flows[x->r.n_flows++];
    memset(f, 0, sizeof *f);
    f->proto = (uint8_t)proto;
    f->initiator = (uint8_t)dir;
    f->local_port = dir == WARD_DIR_INBOUND ? 443 : (uint16_t)(40000 + x->r.n_flows);
    assert_true(ward_addr_parse(remote, &f->remote_addr));
    f->remote_port = (uint16_t)rport;
    f->bytes_out = bytes_out;
    f->bytes_in = bytes_in;
    f->packets_out = bytes_out ? bytes_out / 100 + 1 : 0;
    f->packets_in = bytes_in ? bytes_in / 100 + 1 : 0;
}

static void add_listen(rep_t *x, unsigned proto, unsigned port)
{
    ward_wire_listen_t *l = &x->listen[x->r.n_listening++];
    memset(l, 0, sizeof *l);
    l->proto = (uint8_t)proto;
    ward_addr_parse("0.0.0.0", &l->addr);
    l->port = (uint16_t)port;
    x->r.has_listening = true;
}

static void set_counters(rep_t *x, uint64_t sent, uint64_t received)
{
    x->ctr[0] = (ward_wire_kv_t){WARD_CTR_MSGS_SENT, sent};
    x->ctr[1] = (ward_wire_kv_t){WARD_CTR_MSGS_RECEIVED, received};
    x->r.n_counters = 2;
}

/* ---- Events ------------------------------------------------------------------------------- */

typedef struct ev {
    ward_event_action_t action;
    char type[64], key[128];
    json_t *evidence;
} ev_t;

typedef struct rec {
    ev_t ev[64];
    size_t n;
} rec_t;

static int record(void *ctx, const char *device, const ward_event_t *e)
{
    rec_t *r = ctx;
    assert_string_equal(device, "dev1");
    assert_true(r->n < 64);
    ev_t *v = &r->ev[r->n++];
    v->action = e->action;
    snprintf(v->type, sizeof v->type, "%s", e->type);
    snprintf(v->key, sizeof v->key, "%s", e->fold_key);
    v->evidence = json_deep_copy(e->evidence);
    return 0;
}

static void rec_clear(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->ev[i].evidence);
    r->n = 0;
}

typedef struct bench {
    ward_ruleset_t *rs;
    ward_baseline_t *bl;
    ward_rules_device_t *d;
    ward_rules_ctx_t cx;
    rec_t rec;
    json_t *last; /* evidence of the last expect1 */
} bench_t;

static void bench_init(bench_t *b, const char *rules_json)
{
    memset(b, 0, sizeof *b);
    char err[256] = "";
    json_error_t je;
    json_t *rules = json_loads(rules_json, 0, &je);
    assert_non_null(rules);
    b->rs = ward_ruleset_parse(rules, NULL, err, sizeof err);
    if (b->rs == NULL)
        fail_msg("parse: %s", err);
    json_decref(rules);
    b->d = ward_rules_device_new("dev1");
    b->cx.group = "cams";
    b->cx.rules = b->rs;
    b->cx.emit = record;
    b->cx.emit_ctx = &b->rec;
}

static void bench_free(bench_t *b)
{
    rec_clear(&b->rec);
    json_decref(b->last);
    ward_rules_device_free(b->d);
    ward_ruleset_free(b->rs);
    ward_baseline_free(b->bl);
}

static void feed(bench_t *b, rep_t *x, int64_t t)
{
    assert_int_equal(ward_rules_report(b->d, &b->cx, &x->r, NULL, t), 0);
}

/* Expect exactly one event (then clear). */
static json_t *expect1(bench_t *b, ward_event_action_t action, const char *type, const char *key)
{
    if (b->rec.n != 1)
        fail_msg("expected 1 event (%s %s), got %zu", type, key, b->rec.n);
    assert_int_equal(b->rec.ev[0].action, action);
    assert_string_equal(b->rec.ev[0].type, type);
    assert_string_equal(b->rec.ev[0].key, key);
    json_decref(b->last);
    b->last = json_incref(b->rec.ev[0].evidence);
    rec_clear(&b->rec);
    return b->last;
}

static void expect0(bench_t *b)
{
    if (b->rec.n != 0)
        fail_msg("expected no event, got %zu (first: %s %s action %d)", b->rec.n, b->rec.ev[0].type,
                 b->rec.ev[0].key, b->rec.ev[0].action);
}

static json_int_t ev_int(json_t *ev, const char *key)
{
    json_t *v = json_object_get(ev, key);
    assert_non_null(v);
    return json_integer_value(v);
}

/* ---- Parsing ------------------------------------------------------------------------------- */

static void parse_every_kind(void **state)
{
    (void)state;
    static const char doc[] =
        "[{\"type\":\"rule.active_connections\",\"min\":1,\"max\":20,\"window_s\":300},"
        " {\"type\":\"rule.outbound_ip_not_allowed\",\"operator\":\"in-cidr-set\","
        "  \"values\":[\"10.0.0.0/8\",\"2001:db8::/32\",\"192.0.2.1\"]},"
        " {\"type\":\"rule.inbound_ip_not_allowed\",\"operator\":\"not-in-cidr-set\","
        "  \"values\":[\"203.0.113.0/24\"],\"severity\":\"high\"},"
        " {\"type\":\"rule.c2d_messages\",\"max\":100,\"window_s\":600},"
        " {\"type\":\"rule.d2c_messages\",\"operator\":\"le\",\"value\":50},"
        " {\"type\":\"rule.listening_port_not_allowed\",\"operator\":\"in-port-set\","
        "  \"values\":[443,\"8000-8080\"]},"
        " {\"type\":\"rule.remote_port_not_allowed\",\"operator\":\"in-port-set\","
        "  \"values\":[443,8883],\"direction\":\"any\"},"
        " {\"type\":\"rule.protocol_not_allowed\",\"operator\":\"in-set\",\"values\":[\"tcp\",17]},"
        " {\"type\":\"rule.bytes_in\",\"operator\":\"lt\",\"value\":1000},"
        " {\"type\":\"rule.bytes_out\",\"min\":0,\"max\":1000000,\"window_s\":300,"
        "  \"alarm_after\":2,\"clear_after\":3},"
        " {\"type\":\"rule.packets_in\",\"operator\":\"gt\",\"value\":0},"
        " {\"type\":\"rule.packets_out\",\"operator\":\"ge\",\"value\":1,\"enabled\":false},"
        " {\"type\":\"rule.distinct_remotes\",\"max\":5,\"window_s\":3600}]";
    char err[256] = "";
    json_t *j = json_loads(doc, 0, NULL);
    assert_non_null(j);
    ward_ruleset_t *rs = ward_ruleset_parse(j, NULL, err, sizeof err);
    if (rs == NULL)
        fail_msg("%s", err);
    assert_int_equal(rs->n, 13);
    assert_int_equal(rs->rules[0].kind, WARD_RULE_ACTIVE_CONNECTIONS);
    assert_int_equal(rs->rules[0].lo, 1);
    assert_int_equal(rs->rules[0].hi, 20);
    assert_int_equal(rs->rules[1].n_cidrs, 3);
    assert_int_equal(rs->rules[1].cidrs[0].prefix, 104); /* /8 in the mapped space */
    assert_string_equal(rs->rules[2].severity, "high");
    assert_string_equal(rs->rules[3].severity, "medium");
    assert_int_equal(rs->rules[4].hi, 50);
    assert_int_equal(rs->rules[5].ports[1].lo, 8000);
    assert_int_equal(rs->rules[5].ports[1].hi, 8080);
    assert_int_equal(rs->rules[6].direction, WARD_DIR_UNKNOWN);
    assert_true(rs->rules[7].protos[6] && rs->rules[7].protos[17] && !rs->rules[7].protos[1]);
    assert_int_equal(rs->rules[8].hi, 999);
    assert_int_equal(rs->rules[9].alarm_after, 2);
    assert_int_equal(rs->rules[9].clear_after, 3);
    assert_int_equal(rs->rules[10].lo, 1);
    assert_false(rs->rules[11].enabled);
    assert_int_equal(rs->max_window_s, 3600);
    assert_string_equal(rs->rules[9].id, "rule.bytes_out");
    assert_int_equal(rs->invalidate_after, WARD_RULE_INVALIDATE_DEFAULT);
    ward_ruleset_free(rs);
    json_decref(j);
}

static void parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *rules, *err;
    } cases[] = {
        {"[{\"type\":\"rule.bytes_out\",\"min\":10,\"max\":5}]", "rules[0].max: must be >= min"},
        {"[{\"type\":\"rule.bytes_out\",\"max\":5},{\"type\":\"rule.bytes_out\",\"max\":6}]",
         "rules[1].id: duplicate rule id \"rule.bytes_out\" (rules[0] has it; give each rule of "
         "the same type its own \"id\")"},
        {"[{\"type\":\"rule.bytes_sideways\",\"max\":5}]",
         "rules[0].type: unknown rule type \"rule.bytes_sideways\" (see docs/rules.md)"},
        {"[{\"max\":5}]", "rules[0].type: missing (one of rule.active_connections, "
                          "rule.bytes_out, ...)"},
        {"[{\"type\":\"rule.bytes_out\",\"max\":5,\"alarm_after\":11}]",
         "rules[0].alarm_after: must be between 1 and 10, got 11"},
        {"[{\"type\":\"rule.bytes_out\",\"max\":5,\"clear_after\":0}]",
         "rules[0].clear_after: must be between 1 and 10, got 0"},
        {"[{\"type\":\"rule.bytes_out\",\"maxx\":5}]",
         "rules[0].maxx: unknown key for rule.bytes_out"},
        {"[{\"type\":\"rule.bytes_out\"}]",
         "rules[0]: rule.bytes_out needs \"min\" and/or \"max\", or \"operator\" and \"value\""},
        {"[{\"type\":\"rule.bytes_out\",\"max\":1.5}]", "rules[0].max: must be an integer"},
        {"[{\"type\":\"rule.bytes_out\",\"operator\":\"lt\",\"value\":0}]",
         "rules[0].value: lt 0 can never hold (counts are never negative)"},
        {"[{\"type\":\"rule.bytes_out\",\"operator\":\"in-cidr-set\",\"value\":3}]",
         "rules[0].operator: must be one of lt, le, gt, ge for rule.bytes_out, got "
         "\"in-cidr-set\""},
        {"[{\"type\":\"rule.outbound_ip_not_allowed\",\"operator\":\"in-cidr-set\","
         "\"values\":[\"10.0.0.0/33\"]}]",
         "rules[0].values[0]: \"10.0.0.0/33\" is not an IPv4 or IPv6 address or CIDR"},
        {"[{\"type\":\"rule.outbound_ip_not_allowed\",\"operator\":\"in-port-set\","
         "\"values\":[]}]",
         "rules[0].operator: must be in-cidr-set or not-in-cidr-set for "
         "rule.outbound_ip_not_allowed, got \"in-port-set\""},
        {"[{\"type\":\"rule.remote_port_not_allowed\",\"operator\":\"in-port-set\","
         "\"values\":[\"90-80\"]}]",
         "rules[0].values[0]: \"90-80\" is not a port or a port range \"LO-HI\" (0 <= LO <= HI <= "
         "65535)"},
        {"[{\"type\":\"rule.listening_port_not_allowed\",\"operator\":\"in-port-set\","
         "\"values\":[70000]}]",
         "rules[0].values[0]: a port is 0..65535, got 70000"},
        {"[{\"type\":\"rule.protocol_not_allowed\",\"operator\":\"in-set\",\"values\":[\"tpc\"]}]",
         "rules[0].values[0]: a protocol is 0..255 or one of icmp, tcp, udp, gre, esp, ah, "
         "icmpv6, sctp"},
        {"[{\"type\":\"rule.protocol_not_allowed\",\"values\":[\"tcp\"]}]",
         "rules[0].operator: missing (in-set or not-in-set)"},
        {"[{\"type\":\"rule.bytes_out\",\"max\":5,\"window_s\":604801}]",
         "rules[0].window_s: must be between 0 and 604800, got 604801"},
        {"[{\"type\":\"rule.bytes_out\",\"max\":5,\"severity\":\"urgent\"}]",
         "rules[0].severity: must be one of low, medium, high, critical"},
        {"[{\"type\":\"rule.listening_port_not_allowed\",\"operator\":\"in-port-set\","
         "\"values\":[80],\"direction\":\"outbound\"}]",
         "rules[0].direction: unknown key for rule.listening_port_not_allowed"},
        {"{\"type\":\"rule.bytes_out\"}", "rules: must be an array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        json_t *j = json_loads(cases[i].rules, 0, NULL);
        assert_non_null(j);
        ward_ruleset_t *rs = ward_ruleset_parse(j, NULL, err, sizeof err);
        if (rs != NULL)
            fail_msg("case %zu accepted: %s", i, cases[i].rules);
        if (strcmp(err, cases[i].err) != 0)
            fail_msg("case %zu: expected\n  %s\ngot\n  %s", i, cases[i].err, err);
        json_decref(j);
    }
}

static void group_document_errors(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *err;
    } cases[] = {
        {"{\"rules\":[]}", "group: missing (the group's name)"},
        {"{\"group\":\"a b\"}", "group: must be 1..64 of [A-Za-z0-9._-]"},
        {"{\"group\":\"x\",\"rule\":[]}",
         "rule: unknown key (known: group, description, rules, detectors, learn, "
         "invalidate_after)"},
        {"{\"group\":\"x\",\"invalidate_after\":0}",
         "invalidate_after: must be an integer between 1 and 1000"},
        {"{\"group\":\"x\",\"learn\":{}}", "learn.window_s: missing (the learning window, in "
                                           "seconds)"},
        {"{\"group\":\"x\",\"learn\":{\"window_s\":10}}",
         "learn.window_s: must be an integer between 60 and 7776000"},
        {"{\"group\":\"x\",\"learn\":{\"window_s\":600,\"ipv4_prefix\":33}}",
         "learn.ipv4_prefix: must be an integer between 8 and 32"},
        {"{\"group\":\"x\",\"detectors\":[]}", "detectors: must be an object"},
        {"[]", "the document must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        json_t *j = json_loads(cases[i].doc, 0, NULL);
        assert_non_null(j);
        assert_int_equal(ward_group_validate(j, err, sizeof err), -1);
        if (strcmp(err, cases[i].err) != 0)
            fail_msg("case %zu: expected\n  %s\ngot\n  %s", i, cases[i].err, err);
        json_decref(j);
    }
    /* A detectors problem is reported by the behaviour module, under "detectors.". */
    char err[512] = "";
    json_t *j = json_loads("{\"group\":\"x\",\"detectors\":{\"no_such_detector\":true}}", 0, NULL);
    assert_int_equal(ward_group_validate(j, err, sizeof err), -1);
    assert_true(strncmp(err, "detectors.no_such_detector", 26) == 0);
    json_decref(j);
}

/* ---- Evaluation ---------------------------------------------------------------------------- */

static void range_hysteresis(void **state)
{
    (void)state;
    bench_t b;
    bench_init(&b, "[{\"type\":\"rule.bytes_out\",\"id\":\"up\",\"max\":1000,\"alarm_after\":2,"
                   "\"clear_after\":3,\"severity\":\"high\"}]");
    rep_t x;
    int64_t t = T0;
    uint64_t seq = 0;
    /* 1000 is inside (inclusive): nothing. */
    rep_init(&x, 1, seq++);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 1000, 10);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    /* First violation: not yet (alarm_after 2). */
    rep_init(&x, 1, seq++);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 1001, 10);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    assert_string_equal(ward_rules_state(b.d, "up"), "ok");
    /* Second consecutive: alarm. */
    rep_init(&x, 1, seq++);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 5000, 10);
    feed(&b, &x, t += MIN_MS);
    json_t *ev = expect1(&b, WARD_EVENT_RAISE, "rule.bytes_out", "up");
    assert_int_equal(ev_int(ev, "observed"), 5000);
    assert_int_equal(ev_int(json_object_get(ev, "allowed"), "max"), 1000);
    assert_int_equal(ev_int(ev, "datapoints"), 2);
    assert_string_equal(json_string_value(json_object_get(ev, "group")), "cams");
    assert_string_equal(json_string_value(json_object_get(ev, "alarm")), "in_alarm");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "rule"), "id")),
                        "up");
    assert_string_equal(ward_rules_state(b.d, "up"), "in_alarm");
    /* Still violating: raised again (folded into the open alert). */
    rep_init(&x, 1, seq++);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 5000, 10);
    feed(&b, &x, t += MIN_MS);
    expect1(&b, WARD_EVENT_RAISE, "rule.bytes_out", "up");
    /* Two clean, one violating, then three clean: cleared only after the third clean in a row. */
    for (int i = 0; i < 2; i++) {
        rep_init(&x, 1, seq++);
        feed(&b, &x, t += MIN_MS);
        expect0(&b);
    }
    rep_init(&x, 1, seq++);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 2000, 10);
    feed(&b, &x, t += MIN_MS);
    expect1(&b, WARD_EVENT_RAISE, "rule.bytes_out", "up");
    for (int i = 0; i < 2; i++) {
        rep_init(&x, 1, seq++);
        feed(&b, &x, t += MIN_MS);
        expect0(&b);
    }
    rep_init(&x, 1, seq++);
    feed(&b, &x, t += MIN_MS);
    expect1(&b, WARD_EVENT_RESOLVE, "rule.bytes_out", "up");
    assert_string_equal(ward_rules_state(b.d, "up"), "cleared");
    bench_free(&b);
}

static void range_window_and_min(void **state)
{
    (void)state;
    bench_t b;
    /* At most 1000 bytes out per 5 minutes; at least 1 packet in per report. */
    bench_init(&b, "[{\"type\":\"rule.bytes_out\",\"max\":1000,\"window_s\":300},"
                   "{\"type\":\"rule.packets_in\",\"operator\":\"ge\",\"value\":1}]");
    rep_t x;
    int64_t t = T0;
    for (uint64_t seq = 0; seq < 2; seq++) {
        rep_init(&x, 1, seq);
        add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 400, 100);
        feed(&b, &x, t += MIN_MS);
        expect0(&b); /* 400, 800 */
    }
    rep_init(&x, 1, 2);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 400, 100);
    feed(&b, &x, t += MIN_MS);
    json_t *ev = expect1(&b, WARD_EVENT_RAISE, "rule.bytes_out", "rule.bytes_out");
    assert_int_equal(ev_int(ev, "observed"), 1200);
    assert_int_equal(ev_int(ev, "window_s"), 300);
    /* Six minutes later the first three have left the window: 400 alone. */
    rep_init(&x, 1, 3);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 400, 100);
    feed(&b, &x, t += 6 * MIN_MS);
    expect1(&b, WARD_EVENT_RESOLVE, "rule.bytes_out", "rule.bytes_out");
    /* Nothing received: below the packets_in minimum. */
    rep_init(&x, 1, 4);
    feed(&b, &x, t += MIN_MS);
    ev = expect1(&b, WARD_EVENT_RAISE, "rule.packets_in", "rule.packets_in");
    assert_int_equal(ev_int(ev, "observed"), 0);
    assert_int_equal(ev_int(json_object_get(ev, "allowed"), "min"), 1);
    bench_free(&b);
}

static void invalidation(void **state)
{
    (void)state;
    bench_t b;
    bench_init(&b, "[{\"type\":\"rule.active_connections\",\"max\":1}]");
    rep_t x;
    int64_t t = T0;
    rep_init(&x, 1, 0);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 10, 10);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.2", 443, 10, 10);
    feed(&b, &x, t);
    json_t *ev =
        expect1(&b, WARD_EVENT_RAISE, "rule.active_connections", "rule.active_connections");
    assert_int_equal(ev_int(ev, "observed"), 2);
    /* Interval 60 s, invalidate_after 3: silent for 180 s is still fine, 181 s is not. */
    assert_int_equal(ward_rules_tick(b.d, &b.cx, t + 180000), 0);
    expect0(&b);
    assert_int_equal(ward_rules_tick(b.d, &b.cx, t + 181000), 0);
    ev = expect1(&b, WARD_EVENT_INVALIDATE, "rule.active_connections", "rule.active_connections");
    assert_string_equal(json_string_value(json_object_get(ev, "alarm")), "invalidated");
    assert_string_equal(ward_rules_state(b.d, "rule.active_connections"), "invalidated");
    /* Only once. */
    assert_int_equal(ward_rules_tick(b.d, &b.cx, t + 600000), 0);
    expect0(&b);
    /* Back with clean data: cleared (the alert is resolved). */
    rep_init(&x, 1, 1);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 10, 10);
    feed(&b, &x, t + 700000);
    expect1(&b, WARD_EVENT_RESOLVE, "rule.active_connections", "rule.active_connections");
    bench_free(&b);
}

static void cidr_allow_deny(void **state)
{
    (void)state;
    bench_t b;
    bench_init(&b, "[{\"type\":\"rule.outbound_ip_not_allowed\",\"id\":\"out\","
                   "\"operator\":\"in-cidr-set\",\"values\":[\"10.0.0.0/8\",\"2001:db8::/32\"]},"
                   "{\"type\":\"rule.inbound_ip_not_allowed\",\"id\":\"in\","
                   "\"operator\":\"not-in-cidr-set\","
                   "\"values\":[\"203.0.113.0/24\",\"2001:db8:bad::/48\"]}]");
    rep_t x;
    int64_t t = T0;
    /* Allowed: both families inside the allow-list, inbound outside the deny-list; an inbound
     * flow from outside the outbound allow-list is not the outbound rule's business. */
    rep_init(&x, 1, 0);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "10.1.2.3", 443, 10, 10);
    add_flow(&x, 17, WARD_DIR_OUTBOUND, "2001:db8:1::1", 53, 10, 10);
    add_flow(&x, 6, WARD_DIR_INBOUND, "198.51.100.1", 51000, 10, 10);
    add_flow(&x, 6, WARD_DIR_INBOUND, "2001:db8:bae::1", 51000, 10, 10);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    /* Outbound IPv4 outside: alarm with the flow as evidence. */
    rep_init(&x, 1, 1);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "10.1.2.3", 443, 10, 10);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "8.8.8.8", 853, 10, 10);
    feed(&b, &x, t += MIN_MS);
    json_t *ev = expect1(&b, WARD_EVENT_RAISE, "rule.outbound_ip_not_allowed", "out");
    assert_int_equal(ev_int(ev, "observed"), 1);
    json_t *f = json_array_get(json_object_get(ev, "flows"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "remote_addr")), "8.8.8.8");
    assert_int_equal(ev_int(f, "remote_port"), 853);
    assert_string_equal(json_string_value(json_object_get(f, "direction")), "outbound");
    /* Outbound IPv6 outside (2001:dbf:: is not in 2001:db8::/32), still in alarm. */
    rep_init(&x, 1, 2);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "2001:dbf::1", 443, 10, 10);
    feed(&b, &x, t += MIN_MS);
    ev = expect1(&b, WARD_EVENT_RAISE, "rule.outbound_ip_not_allowed", "out");
    f = json_array_get(json_object_get(ev, "flows"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "remote_addr")), "2001:dbf::1");
    /* Inbound from the IPv6 deny-list: the inbound rule fires; outbound is clean -> cleared. */
    rep_init(&x, 1, 3);
    add_flow(&x, 6, WARD_DIR_INBOUND, "2001:db8:bad:1::9", 51000, 10, 10);
    feed(&b, &x, t += MIN_MS);
    assert_int_equal(b.rec.n, 2);
    assert_int_equal(b.rec.ev[0].action, WARD_EVENT_RESOLVE);
    assert_string_equal(b.rec.ev[0].key, "out");
    assert_int_equal(b.rec.ev[1].action, WARD_EVENT_RAISE);
    assert_string_equal(b.rec.ev[1].key, "in");
    rec_clear(&b.rec);
    /* Inbound from the IPv4 deny-list, via an IPv4-mapped IPv6 address. */
    rep_init(&x, 1, 4);
    add_flow(&x, 6, WARD_DIR_INBOUND, "::ffff:203.0.113.77", 51000, 10, 10);
    feed(&b, &x, t += MIN_MS);
    expect1(&b, WARD_EVENT_RAISE, "rule.inbound_ip_not_allowed", "in");
    bench_free(&b);
}

static void port_and_protocol_sets(void **state)
{
    (void)state;
    bench_t b;
    bench_init(&b, "[{\"type\":\"rule.remote_port_not_allowed\",\"operator\":\"in-port-set\","
                   "\"values\":[443,\"8000-8080\"]},"
                   "{\"type\":\"rule.listening_port_not_allowed\",\"operator\":\"not-in-port-set\","
                   "\"values\":[23,\"2323\"]},"
                   "{\"type\":\"rule.protocol_not_allowed\",\"operator\":\"in-set\","
                   "\"values\":[\"tcp\",\"udp\"]}]");
    rep_t x;
    int64_t t = T0;
    rep_init(&x, 1, 0);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 10, 10);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 8080, 10, 10);
    add_flow(&x, 6, WARD_DIR_INBOUND, "192.0.2.9", 55555, 10, 10); /* inbound: its port is theirs */
    add_listen(&x, 6, 443);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    rep_init(&x, 1, 1);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 8081, 10, 10);
    feed(&b, &x, t += MIN_MS);
    json_t *ev = expect1(&b, WARD_EVENT_RAISE, "rule.remote_port_not_allowed",
                         "rule.remote_port_not_allowed");
    assert_int_equal(ev_int(json_array_get(json_object_get(ev, "flows"), 0), "remote_port"), 8081);
    rep_init(&x, 1, 2);
    add_listen(&x, 6, 23);
    add_listen(&x, 6, 80);
    feed(&b, &x, t += MIN_MS);
    assert_int_equal(b.rec.n, 2); /* remote port cleared, telnet listening */
    assert_int_equal(b.rec.ev[0].action, WARD_EVENT_RESOLVE);
    assert_string_equal(b.rec.ev[1].type, "rule.listening_port_not_allowed");
    json_t *l = json_array_get(json_object_get(b.rec.ev[1].evidence, "listening"), 0);
    assert_int_equal(ev_int(l, "port"), 23);
    assert_string_equal(json_string_value(json_object_get(l, "protocol")), "tcp");
    assert_int_equal(json_array_size(json_object_get(b.rec.ev[1].evidence, "listening")), 1);
    rec_clear(&b.rec);
    rep_init(&x, 1, 3);
    x.r.has_listening = true; /* key 19 present and empty: nothing listens */
    add_flow(&x, 1, WARD_DIR_OUTBOUND, "192.0.2.1", 8 * 256, 84, 84); /* ICMP echo */
    feed(&b, &x, t += MIN_MS);
    assert_int_equal(b.rec.n, 2); /* listening cleared (nothing listens now), ICMP not allowed */
    assert_int_equal(b.rec.ev[0].action, WARD_EVENT_RESOLVE);
    assert_string_equal(b.rec.ev[1].type, "rule.protocol_not_allowed");
    json_t *f = json_array_get(json_object_get(b.rec.ev[1].evidence, "flows"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "protocol")), "icmp");
    rec_clear(&b.rec);
    bench_free(&b);
}

static void message_counters(void **state)
{
    (void)state;
    bench_t b;
    bench_init(&b, "[{\"type\":\"rule.c2d_messages\",\"max\":5},"
                   "{\"type\":\"rule.d2c_messages\",\"min\":1,\"max\":100}]");
    rep_t x;
    int64_t t = T0;
    /* First report of a boot: totals are the deltas. */
    rep_init(&x, 7, 0);
    set_counters(&x, 10, 5);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    /* +7 received: too many cloud-to-device messages. */
    rep_init(&x, 7, 1);
    set_counters(&x, 20, 12);
    feed(&b, &x, t += MIN_MS);
    json_t *ev = expect1(&b, WARD_EVENT_RAISE, "rule.c2d_messages", "rule.c2d_messages");
    assert_int_equal(ev_int(ev, "observed"), 7);
    /* A report without counters is no datapoint: nothing changes. */
    rep_init(&x, 7, 2);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    /* Reboot: counting starts from the new boot's totals: 3 received, 0 sent (below min 1). */
    rep_init(&x, 8, 0);
    set_counters(&x, 0, 3);
    feed(&b, &x, t += MIN_MS);
    assert_int_equal(b.rec.n, 2);
    assert_int_equal(b.rec.ev[0].action, WARD_EVENT_RESOLVE);
    assert_string_equal(b.rec.ev[0].type, "rule.c2d_messages");
    assert_int_equal(b.rec.ev[1].action, WARD_EVENT_RAISE);
    assert_string_equal(b.rec.ev[1].type, "rule.d2c_messages");
    assert_int_equal(ev_int(b.rec.ev[1].evidence, "observed"), 0);
    rec_clear(&b.rec);
    bench_free(&b);

    /* First report seen mid-boot (after a service restart): no datapoint yet. */
    bench_init(&b, "[{\"type\":\"rule.c2d_messages\",\"max\":5}]");
    rep_init(&x, 9, 40);
    set_counters(&x, 1000, 1000);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    rep_init(&x, 9, 41);
    set_counters(&x, 1001, 1004);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    bench_free(&b);
}

static void distinct_remotes_and_parts(void **state)
{
    (void)state;
    bench_t b;
    bench_init(&b, "[{\"type\":\"rule.distinct_remotes\",\"max\":3,\"window_s\":600}]");
    rep_t x;
    int64_t t = T0;
    rep_init(&x, 1, 0);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 10, 10);
    add_flow(&x, 17, WARD_DIR_OUTBOUND, "192.0.2.1", 53, 10, 10);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.2", 443, 10, 10);
    feed(&b, &x, t += MIN_MS);
    expect0(&b); /* 2 */
    rep_init(&x, 1, 1);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.2", 443, 10, 10);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "2001:db8::3", 443, 10, 10);
    feed(&b, &x, t += MIN_MS);
    expect0(&b); /* 3 over the window */
    /* A report in two parts: evaluated once, when the second part arrives. */
    rep_init(&x, 1, 2);
    x.r.part_count = 2;
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.4", 443, 10, 10);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    rep_init(&x, 1, 2);
    x.r.part_index = 1;
    x.r.part_count = 2;
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.5", 443, 10, 10);
    feed(&b, &x, t + 1000);
    json_t *ev = expect1(&b, WARD_EVENT_RAISE, "rule.distinct_remotes", "rule.distinct_remotes");
    assert_int_equal(ev_int(ev, "observed"), 5);
    /* An incomplete report is evaluated when the next one starts. */
    rep_init(&x, 1, 3);
    x.r.part_count = 2;
    feed(&b, &x, t += 20 * MIN_MS);
    expect0(&b);
    rep_init(&x, 1, 4);
    feed(&b, &x, t += MIN_MS);
    expect1(&b, WARD_EVENT_RESOLVE, "rule.distinct_remotes", "rule.distinct_remotes");
    bench_free(&b);
}

static void ruleset_change_rebinds(void **state)
{
    (void)state;
    bench_t b;
    bench_init(&b, "[{\"type\":\"rule.bytes_out\",\"id\":\"a\",\"max\":10},"
                   "{\"type\":\"rule.bytes_in\",\"id\":\"b\",\"max\":10}]");
    rep_t x;
    rep_init(&x, 1, 0);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "192.0.2.1", 443, 100, 100);
    feed(&b, &x, T0);
    assert_int_equal(b.rec.n, 2);
    rec_clear(&b.rec);
    /* New rules: "a" stays (still in alarm), "b" is gone (its alarm is resolved). */
    char err[256];
    json_t *j = json_loads("[{\"type\":\"rule.bytes_out\",\"id\":\"a\",\"max\":10}]", 0, NULL);
    ward_ruleset_t *rs2 = ward_ruleset_parse(j, NULL, err, sizeof err);
    json_decref(j);
    b.cx.rules = rs2;
    rep_init(&x, 1, 1);
    feed(&b, &x, T0 + MIN_MS);
    assert_int_equal(b.rec.n, 2);
    assert_int_equal(b.rec.ev[0].action, WARD_EVENT_RESOLVE);
    assert_string_equal(b.rec.ev[0].key, "b");
    assert_int_equal(b.rec.ev[1].action, WARD_EVENT_RESOLVE); /* "a" clean now */
    assert_string_equal(b.rec.ev[1].key, "a");
    ward_ruleset_free(b.rs);
    b.rs = rs2;
    bench_free(&b);
}

/* ---- Baseline ------------------------------------------------------------------------------ */

static void baseline_learn_alert_freeze(void **state)
{
    (void)state;
    bench_t b;
    bench_init(&b, "[]");
    char err[256];
    json_t *learn = json_loads("{\"window_s\":3600,\"margin_pct\":50}", 0, NULL);
    ward_baseline_spec_t spec;
    assert_int_equal(ward_baseline_spec_parse(learn, &spec, err, sizeof err), 0);
    json_decref(learn);
    assert_int_equal(spec.ipv4_prefix, 24);
    assert_int_equal(spec.ipv6_prefix, 48);
    b.bl = ward_baseline_new(&spec, T0);
    b.cx.baseline = b.bl;
    rep_t x;
    int64_t t = T0;
    /* Learning for an hour: one cloud endpoint per family, bytes out 1000..2000. */
    for (uint64_t seq = 0; seq < 10; seq++) {
        rep_init(&x, 1, seq);
        add_flow(&x, 6, WARD_DIR_OUTBOUND, seq % 2 ? "198.51.100.10" : "198.51.100.20", 8883,
                 1000 + 100 * (seq % 11), 500);
        add_flow(&x, 17, WARD_DIR_OUTBOUND, "2001:db8:aa:1::53", 53, 100, 100);
        feed(&b, &x, t += 5 * MIN_MS);
        expect0(&b);
        assert_true(ward_baseline_learning(b.bl, t));
    }
    assert_true(ward_baseline_take_dirty(b.bl));
    json_t *l = ward_baseline_learned_json(b.bl, t);
    assert_true(json_is_true(json_object_get(l, "learning")));
    assert_int_equal(ev_int(l, "samples"), 10);
    json_t *nets = json_object_get(l, "outbound_networks");
    assert_int_equal(json_array_size(nets), 2);
    assert_string_equal(json_string_value(json_array_get(nets, 0)), "198.51.100.0/24");
    assert_string_equal(json_string_value(json_array_get(nets, 1)), "2001:db8:aa::/48");
    assert_string_equal(json_string_value(json_array_get(json_object_get(l, "remote_ports"), 0)),
                        "tcp/8883");
    json_t *bo = json_object_get(json_object_get(l, "ranges"), "bytes_out");
    assert_int_equal(ev_int(bo, "min"), 1100);
    assert_int_equal(ev_int(bo, "max"), 2000);

    /* After the window: the same traffic is quiet; another /24 and another port are new. */
    t = T0 + 3600 * 1000 + MIN_MS;
    rep_init(&x, 1, 20);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "198.51.100.99", 8883, 1500, 500);
    add_flow(&x, 17, WARD_DIR_OUTBOUND, "2001:db8:aa:2::53", 53, 100, 100);
    feed(&b, &x, t);
    expect0(&b);
    rep_init(&x, 1, 21);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "198.51.101.7", 8883, 1500, 500);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "198.51.100.10", 23, 50, 50);
    feed(&b, &x, t += MIN_MS);
    assert_int_equal(b.rec.n, 2);
    assert_string_equal(b.rec.ev[0].type, "baseline.new_destination");
    assert_string_equal(b.rec.ev[0].key, "out:198.51.101.0/24");
    assert_string_equal(json_string_value(json_object_get(b.rec.ev[0].evidence, "what")),
                        "network");
    assert_string_equal(b.rec.ev[1].key, "port:tcp/23");
    rec_clear(&b.rec);
    /* Bytes out 3001 > 2000 + 50%: out of range. 3000 is the edge and is fine. */
    rep_init(&x, 1, 22);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "198.51.100.10", 8883, 3000, 500);
    feed(&b, &x, t += MIN_MS);
    expect0(&b);
    rep_init(&x, 1, 23);
    add_flow(&x, 6, WARD_DIR_OUTBOUND, "198.51.100.10", 8883, 3001, 500);
    feed(&b, &x, t += MIN_MS);
    json_t *ev = expect1(&b, WARD_EVENT_RAISE, "baseline.out_of_range", "bytes_out");
    assert_int_equal(ev_int(ev, "observed"), 3001);
    assert_int_equal(ev_int(json_object_get(ev, "allowed"), "max"), 3000);

    /* Freeze: explicit rules that parse, and that hold what was learned. */
    json_t *rules = ward_baseline_freeze(b.bl);
    ward_ruleset_t *rs = ward_ruleset_parse(rules, NULL, err, sizeof err);
    if (rs == NULL)
        fail_msg("frozen rules do not parse: %s", err);
    assert_string_equal(rs->rules[0].id, "learned.outbound_ip");
    assert_int_equal(rs->rules[0].n_cidrs, 2);
    bool found = false;
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->rules[i].kind == WARD_RULE_BYTES_OUT) {
            assert_int_equal(rs->rules[i].lo, 550);
            assert_int_equal(rs->rules[i].hi, 3000);
            found = true;
        }
    }
    assert_true(found);
    /* Load what was learned into a fresh baseline: same JSON. */
    ward_baseline_t *bl2 = ward_baseline_new(&spec, T0);
    assert_int_equal(ward_baseline_load(bl2, l), 0);
    json_t *l2 = ward_baseline_learned_json(bl2, t - 3600 * 1000);
    assert_true(json_equal(json_object_get(l, "outbound_networks"),
                           json_object_get(l2, "outbound_networks")));
    assert_true(json_equal(json_object_get(l, "ranges"), json_object_get(l2, "ranges")));
    assert_true(
        json_equal(json_object_get(l, "remote_ports"), json_object_get(l2, "remote_ports")));
    json_decref(l2);
    ward_baseline_free(bl2);
    ward_ruleset_free(rs);
    json_decref(rules);
    json_decref(l);
    bench_free(&b);
}

int main(void)
{
    ward_log_init("test_rules", WARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_every_kind),       cmocka_unit_test(parse_errors),
        cmocka_unit_test(group_document_errors),  cmocka_unit_test(range_hysteresis),
        cmocka_unit_test(range_window_and_min),   cmocka_unit_test(invalidation),
        cmocka_unit_test(cidr_allow_deny),        cmocka_unit_test(port_and_protocol_sets),
        cmocka_unit_test(message_counters),       cmocka_unit_test(distinct_remotes_and_parts),
        cmocka_unit_test(ruleset_change_rebinds), cmocka_unit_test(baseline_learn_alert_freeze),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
