/*
 * alerts: the intel alert's shape (indicator metadata, every match), folding of repeats by (device,
 * type, indicator = value and source) in a real store — the evidence keeps the first flow and the
 * latest repeat goes under last_flow — and the JSON-lines sink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts.h"
#include "report_build.h"
#include "store.h"

static ward_flow_t flow(const char *dev, const char *remote, int64_t first_ms)
{
    ward_flow_t f;
    memset(&f, 0, sizeof f);
    snprintf(f.device, sizeof f.device, "%s", dev);
    f.proto = 6;
    f.initiator = WARD_DIR_INBOUND;
    assert_true(ward_addr_parse("10.0.0.2", &f.local_addr));
    assert_true(ward_addr_parse(remote, &f.remote_addr));
    f.local_port = 22;
    f.remote_port_raw = 51000;
    f.packets_in = 5;
    f.first_seen_ms = first_ms;
    f.last_seen_ms = first_ms + 2000;
    return f;
}

static ward_intel_match_t mk(const char *value, const char *source, uint8_t prefix)
{
    ward_intel_match_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.value, sizeof m.value, "%s", value);
    snprintf(m.source, sizeof m.source, "%s", source);
    m.prefix = prefix;
    m.confidence = 75;
    return m;
}

static void intel_alert_shape(void **state)
{
    (void)state;
    ward_flow_t f = flow("dev-1", "203.0.113.7", 1700000000000);
    ward_intel_match_t m[2] = {mk("203.0.113.7", "feeds/c2.json", 128),
                               mk("203.0.113.0/24", "feeds/bad.txt", 120)};
    snprintf(m[0].category, sizeof m[0].category, "botnet_cc");
    snprintf(m[0].ref, sizeof m[0].ref, "indicator--a1");
    m[0].confidence = 90;
    m[0].first_seen = 1600000000;
    m[0].expires = 1800000000;
    ward_alert_t a;
    ward_alert_intel(&a, &f, m, 2, 3);
    assert_string_equal(a.fold_key, "203.0.113.7 feeds/c2.json");
    a.id = 12;
    json_t *j = ward_alert_json(&a);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 12);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "intel.malicious_ip");
    assert_string_equal(json_string_value(json_object_get(j, "severity")), "high");
    assert_string_equal(json_string_value(json_object_get(j, "device")), "dev-1");
    assert_string_equal(json_string_value(json_object_get(j, "title")),
                        "Communication with a known malicious IP");
    assert_string_equal(json_string_value(json_object_get(j, "first_seen")),
                        "2023-11-14T22:13:20Z");
    assert_string_equal(json_string_value(json_object_get(j, "last_seen")), "2023-11-14T22:13:22Z");
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "active");
    json_t *ev = json_object_get(j, "evidence");
    assert_string_equal(json_string_value(json_object_get(ev, "remote_addr")), "203.0.113.7");
    assert_int_equal(json_integer_value(json_object_get(ev, "remote_port")), 51000);
    assert_string_equal(json_string_value(json_object_get(ev, "local_addr")), "10.0.0.2");
    assert_int_equal(json_integer_value(json_object_get(ev, "local_port")), 22);
    assert_string_equal(json_string_value(json_object_get(ev, "protocol")), "tcp");
    assert_string_equal(json_string_value(json_object_get(ev, "direction")), "inbound");
    assert_int_equal(json_integer_value(json_object_get(ev, "packets_in")), 5);
    json_t *ind = json_object_get(ev, "indicator");
    assert_string_equal(json_string_value(json_object_get(ind, "value")), "203.0.113.7");
    assert_string_equal(json_string_value(json_object_get(ind, "source")), "feeds/c2.json");
    assert_string_equal(json_string_value(json_object_get(ind, "category")), "botnet_cc");
    assert_int_equal(json_integer_value(json_object_get(ind, "confidence")), 90);
    assert_string_equal(json_string_value(json_object_get(ind, "first_seen")),
                        "2020-09-13T12:26:40Z");
    assert_string_equal(json_string_value(json_object_get(ind, "expires")),
                        "2027-01-15T08:00:00Z");
    assert_string_equal(json_string_value(json_object_get(ind, "ref")), "indicator--a1");
    json_t *all = json_object_get(ev, "matches");
    assert_int_equal(json_array_size(all), 2);
    ind = json_array_get(all, 1);
    assert_string_equal(json_string_value(json_object_get(ind, "value")), "203.0.113.0/24");
    assert_true(json_is_null(json_object_get(ind, "first_seen")));
    assert_true(json_is_null(json_object_get(ind, "expires")));
    assert_string_equal(json_string_value(json_object_get(ind, "category")), "");
    assert_int_equal(json_integer_value(json_object_get(ev, "matches_total")), 3);
    assert_null(json_object_get(ev, "retrospective"));
    json_decref(j);
    ward_alert_clear(&a);
}

static void fold_key(void **state)
{
    (void)state;
    char key[256], big[WARD_INTEL_SOURCE_LEN];
    ward_intel_match_t m = mk("198.51.100.0/24", "https://feeds.example/a.txt", 120);
    ward_intel_fold_key(&m, key, sizeof key);
    assert_string_equal(key, "198.51.100.0/24 https://feeds.example/a.txt");
    /* A source too long for the key: value and a hash of the source, stable, distinct. */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(m.source, sizeof m.source, "%s", big);
    ward_intel_fold_key(&m, key, sizeof key);
    assert_int_equal(strlen(key), strlen("198.51.100.0/24 #") + 16);
    assert_memory_equal(key, "198.51.100.0/24 #", 17);
    char key2[256];
    m.source[300] = 'y';
    ward_intel_fold_key(&m, key2, sizeof key2);
    assert_string_not_equal(key, key2);
}

static void folding(void **state)
{
    (void)state;
    char dir[64], path[128], err[256];
    tb_tmpdir(dir);
    snprintf(path, sizeof path, "%s/ward.db", dir);
    ward_store_t *st = ward_store_open(path, false, err, sizeof err);
    assert_non_null(st);
    ward_intel_match_t net = mk("203.0.113.0/24", "a.txt", 120);
    ward_intel_match_t host = mk("198.51.100.1", "a.txt", 128);
    ward_intel_match_t net_b = mk("203.0.113.0/24", "b.txt", 120);
    ward_alert_t a;
    bool is_new;

    assert_int_equal(ward_store_begin(st), 0);
    /* First match: a new alert. */
    ward_flow_t f = flow("dev-1", "203.0.113.7", 1700000000000);
    ward_alert_intel(&a, &f, &net, 1, 1);
    assert_int_equal(ward_alerts_raise(st, &a, &is_new), 0);
    assert_true(is_new);
    int64_t id = a.id;
    assert_true(id > 0);
    ward_alert_clear(&a);
    /* Another address in the same indicator, later: folded. */
    f = flow("dev-1", "203.0.113.9", 1700000100000);
    f.remote_port_raw = 4444;
    ward_alert_intel(&a, &f, &net, 1, 1);
    assert_int_equal(ward_alerts_raise(st, &a, &is_new), 0);
    assert_false(is_new);
    assert_int_equal(a.id, id);
    assert_int_equal(a.count, 2);
    ward_alert_clear(&a);
    /* An earlier one (late report): folded, first_seen moves back, last_seen stays. */
    f = flow("dev-1", "203.0.113.7", 1699999990000);
    ward_alert_intel(&a, &f, &net, 1, 1);
    assert_int_equal(ward_alerts_raise(st, &a, &is_new), 0);
    assert_false(is_new);
    assert_int_equal(a.count, 3);
    ward_alert_clear(&a);
    /* Another indicator, and another device: new alerts. */
    f = flow("dev-1", "198.51.100.1", 1700000000000);
    ward_alert_intel(&a, &f, &host, 1, 1);
    assert_int_equal(ward_alerts_raise(st, &a, &is_new), 0);
    assert_true(is_new);
    ward_alert_clear(&a);
    f = flow("dev-2", "203.0.113.7", 1700000000000);
    ward_alert_intel(&a, &f, &net, 1, 1);
    assert_int_equal(ward_alerts_raise(st, &a, &is_new), 0);
    assert_true(is_new);
    ward_alert_clear(&a);
    /* The same range from another feed is another indicator: another alert. */
    f = flow("dev-2", "203.0.113.7", 1700000000000);
    ward_alert_intel(&a, &f, &net_b, 1, 1);
    assert_int_equal(ward_alerts_raise(st, &a, &is_new), 0);
    assert_true(is_new);
    ward_alert_clear(&a);
    assert_int_equal(ward_store_commit(st), 0);

    json_t *all = ward_store_alerts_json(st, NULL, 0);
    assert_int_equal(json_array_size(all), 4);
    json_t *first = json_array_get(all, 0);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(first, "count")), 3);
    assert_string_equal(json_string_value(json_object_get(first, "first_seen")),
                        "2023-11-14T22:13:10Z");
    assert_string_equal(json_string_value(json_object_get(first, "last_seen")),
                        "2023-11-14T22:15:02Z");
    json_t *ev = json_object_get(first, "evidence");
    /* The evidence is the flow that raised the alert; the latest repeat is last_flow (the late
     * report of an earlier flow did not replace it). */
    assert_string_equal(json_string_value(json_object_get(ev, "remote_addr")), "203.0.113.7");
    assert_string_equal(json_string_value(json_object_get(ev, "first_seen")),
                        "2023-11-14T22:13:20Z");
    json_t *last = json_object_get(ev, "last_flow");
    assert_string_equal(json_string_value(json_object_get(last, "remote_addr")), "203.0.113.9");
    assert_int_equal(json_integer_value(json_object_get(last, "remote_port")), 4444);
    assert_string_equal(json_string_value(json_object_get(last, "last_seen")),
                        "2023-11-14T22:15:02Z");
    assert_null(json_object_get(last, "indicator"));
    assert_null(json_object_get(last, "matches"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "indicator"), "value")),
        "203.0.113.0/24");
    json_decref(all);
    all = ward_store_alerts_json(st, "dev-2", 0);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    ward_store_close(st);
    tb_rmtree(dir);
}

static void jsonl_sink(void **state)
{
    (void)state;
    char dir[64], path[128], err[256];
    tb_tmpdir(dir);
    snprintf(path, sizeof path, "%s/alerts.jsonl", dir);
    ward_alert_sink_t *s = ward_alert_sink_open(path, err, sizeof err);
    assert_non_null(s);
    ward_intel_match_t m = mk("203.0.113.0/24", "a.txt", 120);
    for (int i = 0; i < 2; i++) {
        ward_flow_t f = flow(i ? "dev-2" : "dev-1", "203.0.113.7", 1700000000000);
        ward_alert_t a;
        ward_alert_intel(&a, &f, &m, 1, 1);
        a.id = i + 1;
        assert_int_equal(ward_alert_sink_write(s, &a), 0);
        ward_alert_clear(&a);
        /* Flushed per line: readable before the sink is closed. */
        FILE *in = fopen(path, "r");
        char line[4096];
        int lines = 0;
        while (fgets(line, sizeof line, in) != NULL) {
            json_error_t je;
            json_t *j = json_loads(line, 0, &je);
            assert_non_null(j);
            assert_int_equal(json_integer_value(json_object_get(j, "id")), lines + 1);
            json_decref(j);
            lines++;
        }
        fclose(in);
        assert_int_equal(lines, i + 1);
    }
    ward_alert_sink_close(s);
    snprintf(path, sizeof path, "%s/no/such/dir/alerts.jsonl", dir);
    assert_null(ward_alert_sink_open(path, err, sizeof err));
    assert_non_null(strstr(err, "cannot open alerts file"));
    tb_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(intel_alert_shape),
        cmocka_unit_test(fold_key),
        cmocka_unit_test(folding),
        cmocka_unit_test(jsonl_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
