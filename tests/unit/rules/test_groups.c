/*
 * registry + groupcheck through the processor, on a real SQLite file: apply (valid, refused with
 * nothing stored), set-group, list/show, a rule alarm raised and resolved through
 * ward_processor_handle, a group change taking effect on the next report, alarm state restored
 * after a restart, a baseline learned, persisted across a restart, and frozen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "process.h"
#include "registry.h"
#include "report_build.h"

#define T0 1700000000000LL

typedef struct fx {
    char dir[64], db[128];
    ward_store_t *st;
    ward_processor_t *p;
} fx_t;

static void open_all(fx_t *f)
{
    char err[256];
    f->st = ward_store_open(f->db, false, err, sizeof err);
    assert_non_null(f->st);
    f->p = ward_processor_new(f->st, NULL, NULL);
    assert_non_null(f->p);
}

static void close_all(fx_t *f)
{
    ward_processor_free(f->p);
    ward_store_close(f->st);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    tb_tmpdir(f->dir);
    snprintf(f->db, sizeof f->db, "%s/ward.db", f->dir);
    open_all(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    close_all(f);
    tb_rmtree(f->dir);
    free(f);
    return 0;
}

static void apply(fx_t *f, const char *doc, int want)
{
    char err[256] = "";
    json_t *j = json_loads(doc, 0, NULL);
    assert_non_null(j);
    int rc = ward_registry_apply(f->st, j, T0, err, sizeof err);
    if (rc != want)
        fail_msg("apply: rc %d, want %d: %s", rc, want, err);
    json_decref(j);
}

/* One report from device with one outbound TCP flow to remote, bytes_out bytes. */
static void send(fx_t *f, const char *device, uint64_t seq, const char *remote, uint64_t bytes_out,
                 int64_t t)
{
    tb_report_t r;
    char topic[128];
    tb_init(&r, device, seq);
    tb_add_flow(&r, tb_flow(6, 1, 0, 40000, remote, 443, 2, 2, bytes_out, 100, 1, 2, -1));
    size_t len;
    uint8_t *buf = tb_encode(&r, &len);
    snprintf(topic, sizeof topic, "ward/v1/%s/report", device);
    assert_int_equal(ward_processor_begin(f->p), 0);
    assert_int_equal(ward_processor_handle(f->p, topic, buf, len, t), 0);
    assert_int_equal(ward_processor_end(f->p), 0);
    free(buf);
}

/* "state:count" of the device's alert of type, or "none". */
static const char *alert_state(fx_t *f, const char *device, const char *type, char *buf, size_t len)
{
    json_t *a = ward_store_alerts_json(f->st, device, 0);
    snprintf(buf, len, "none");
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        if (strcmp(json_string_value(json_object_get(x, "type")), type) == 0)
            snprintf(buf, len, "%s:%lld", json_string_value(json_object_get(x, "state")),
                     (long long)json_integer_value(json_object_get(x, "count")));
    }
    json_decref(a);
    return buf;
}

static const char cams[] =
    "{\"group\":\"cams\",\"rules\":[{\"type\":\"rule.outbound_ip_not_allowed\","
    "\"operator\":\"in-cidr-set\",\"values\":[\"10.0.0.0/8\"]}]}";

static void apply_and_assign(void **state)
{
    fx_t *f = *state;
    char err[256];
    apply(f, cams, 0);
    /* Refused: nothing of it stored (cams keeps its rule, no group "bad"). */
    apply(f, "{\"group\":\"bad\",\"rules\":[{\"type\":\"rule.bytes_out\",\"min\":9,\"max\":1}]}",
          -1);
    json_t *l = ward_registry_list_json(f->st);
    assert_int_equal(json_array_size(l), 2); /* cams, default */
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "group")), "cams");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "rules")), 1);
    json_decref(l);
    assert_null(ward_registry_show_json(f->st, "bad"));
    assert_int_equal(ward_registry_set_group(f->st, "cam-1", "cams", err, sizeof err), 0);
    assert_int_equal(ward_registry_set_group(f->st, "cam-1", "nope", err, sizeof err), -1);
    assert_string_equal(err, "no group \"nope\" (apply one first: wardctl group apply FILE)");
    json_t *s = ward_registry_show_json(f->st, "cams");
    assert_string_equal(json_string_value(json_array_get(json_object_get(s, "device_ids"), 0)),
                        "cam-1");
    json_decref(s);
    char e2[256];
    ward_registry_t *reg = ward_registry_open(f->st, e2, sizeof e2);
    assert_non_null(reg);
    assert_string_equal(ward_registry_group_of(reg, "cam-1"), "cams");
    assert_string_equal(ward_registry_group_of(reg, "cam-2"), "default");
    assert_non_null(ward_registry_group(reg, "cam-2")->behavior);
    ward_registry_free(reg);
}

static void pipeline_alarm_group_change_restart(void **state)
{
    fx_t *f = *state;
    char err[256], b[64];
    apply(f, cams, 0);
    assert_int_equal(ward_registry_set_group(f->st, "cam-1", "cams", err, sizeof err), 0);
    int64_t t = T0;
    send(f, "cam-1", 0, "10.1.1.1", 100, t += 60000);
    assert_string_equal(alert_state(f, "cam-1", "rule.outbound_ip_not_allowed", b, sizeof b),
                        "none");
    send(f, "cam-1", 1, "198.51.100.7", 100, t += 60000);
    assert_string_equal(alert_state(f, "cam-1", "rule.outbound_ip_not_allowed", b, sizeof b),
                        "active:1");
    /* cam-2 in default: nothing; moved into cams: the next report alarms. */
    send(f, "cam-2", 0, "198.51.100.7", 100, t += 60000);
    assert_string_equal(alert_state(f, "cam-2", "rule.outbound_ip_not_allowed", b, sizeof b),
                        "none");
    assert_int_equal(ward_registry_set_group(f->st, "cam-2", "cams", err, sizeof err), 0);
    send(f, "cam-2", 1, "198.51.100.7", 100, t += 60000);
    assert_string_equal(alert_state(f, "cam-2", "rule.outbound_ip_not_allowed", b, sizeof b),
                        "active:1");
    /* Restart: cam-1's alarm is restored, so one clean report resolves it. */
    close_all(f);
    open_all(f);
    send(f, "cam-1", 2, "10.1.1.1", 100, t += 60000);
    assert_string_equal(alert_state(f, "cam-1", "rule.outbound_ip_not_allowed", b, sizeof b),
                        "resolved:1");
    /* Alarm again: reopened. */
    send(f, "cam-1", 3, "198.51.100.8", 100, t += 60000);
    assert_string_equal(alert_state(f, "cam-1", "rule.outbound_ip_not_allowed", b, sizeof b),
                        "active:2");
    /* Back to default: the rule is gone for it, its alarm cleared. */
    assert_int_equal(ward_registry_set_group(f->st, "cam-1", "default", err, sizeof err), 0);
    send(f, "cam-1", 4, "198.51.100.8", 100, t += 60000);
    assert_string_equal(alert_state(f, "cam-1", "rule.outbound_ip_not_allowed", b, sizeof b),
                        "resolved:2");
}

static void baseline_persist_and_freeze(void **state)
{
    fx_t *f = *state;
    char err[256], b[64];
    /* Learning starts at T0 (the apply time passed above) for an hour. */
    apply(f, "{\"group\":\"door\",\"learn\":{\"window_s\":3600}}", 0);
    assert_int_equal(ward_registry_set_group(f->st, "d1", "door", err, sizeof err), 0);
    int64_t t = T0;
    send(f, "d1", 0, "198.51.100.7", 1000, t += 60000);
    send(f, "d1", 1, "198.51.100.9", 2000, t += 60000);
    /* Restart in the middle of learning: what was learned is kept. */
    close_all(f);
    open_all(f);
    send(f, "d1", 2, "198.51.100.10", 1500, t += 60000);
    json_t *l = ward_registry_learned_json(f->st, "door", t, err, sizeof err);
    assert_non_null(l);
    json_t *learned = json_object_get(l, "learned");
    assert_int_equal(json_integer_value(json_object_get(learned, "samples")), 3);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(learned, "outbound_networks"), 0)),
        "198.51.100.0/24");
    json_decref(l);
    /* After the window: a new network alerts; the learned one does not. */
    t = T0 + 3600 * 1000 + 60000;
    send(f, "d1", 3, "198.51.100.11", 1500, t += 60000);
    assert_string_equal(alert_state(f, "d1", "baseline.new_destination", b, sizeof b), "none");
    send(f, "d1", 4, "203.0.113.5", 1500, t += 60000);
    assert_string_equal(alert_state(f, "d1", "baseline.new_destination", b, sizeof b), "active:1");
    /* Freeze: learn is gone, learned.* rules are there and valid. */
    json_t *doc = NULL;
    assert_int_equal(ward_registry_freeze(f->st, "door", t, &doc, err, sizeof err), 0);
    assert_null(json_object_get(doc, "learn"));
    json_t *r0 = json_array_get(json_object_get(doc, "rules"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "id")), "learned.outbound_ip");
    json_decref(doc);
    assert_int_equal(ward_registry_learned_json(f->st, "door", t, err, sizeof err) == NULL, 1);
    /* The frozen rule now fires as a rule. */
    send(f, "d1", 5, "192.0.2.99", 1500, t += 60000);
    assert_string_equal(alert_state(f, "d1", "rule.outbound_ip_not_allowed", b, sizeof b),
                        "active:1");
}

int main(void)
{
    ward_log_init("test_groups", WARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(apply_and_assign, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_alarm_group_change_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(baseline_persist_and_freeze, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
