/*
 * process: the whole report pipeline, synchronously, with a real store and the intel engine —
 * accept, reject (topic, payload, id mismatch), duplicates, flow times, intel matches inbound and
 * outbound (IPv4, IPv6, mapped), alert folding (evidence: the first flow, the latest under
 * last_flow), the contact history and the JSON-lines sink; and the worker thread fed through the
 * queue, drained on close.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "process.h"
#include "report_build.h"

typedef struct fixture {
    char dir[64];
    char db[128];
    char jsonl[128];
    char feed[128];
    ward_store_t *store;
    ward_intel_t *intel;
    ward_retro_t *retro;
    ward_alert_sink_t *sink;
    ward_processor_t *proc;
} fixture_t;

static int setup(void **state)
{
    static const char list[] = "203.0.113.0/24\n2001:db8:bad::/48\n198.51.100.66\n";
    fixture_t *fx = calloc(1, sizeof *fx);
    char err[256];
    tb_tmpdir(fx->dir);
    snprintf(fx->db, sizeof fx->db, "%s/ward.db", fx->dir);
    snprintf(fx->jsonl, sizeof fx->jsonl, "%s/alerts.jsonl", fx->dir);
    snprintf(fx->feed, sizeof fx->feed, "%s/bad.txt", fx->dir);
    FILE *f = fopen(fx->feed, "w");
    fputs(list, f);
    fclose(f);
    fx->store = ward_store_open(fx->db, false, err, sizeof err);
    ward_intel_source_cfg_t src = {WARD_INTEL_SRC_PATH, fx->feed, WARD_FEED_AUTO, 0};
    ward_intel_config_t cfg = {.sources = &src, .n_sources = 1, .quiet = true};
    fx->intel = ward_intel_open(&cfg, err, sizeof err);
    fx->retro = fx->store ? ward_retro_new(fx->store, 7, err, sizeof err) : NULL;
    fx->sink = ward_alert_sink_open(fx->jsonl, err, sizeof err);
    fx->proc = ward_processor_new(fx->store, fx->intel, fx->sink);
    if (fx->proc != NULL)
        ward_processor_set_retro(fx->proc, fx->retro);
    ward_intel_reader_register(); /* the synchronous tests look up on this thread */
    *state = fx;
    return fx->store && fx->intel && fx->retro && fx->sink && fx->proc ? 0 : -1;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    ward_intel_reader_unregister();
    ward_processor_free(fx->proc);
    ward_alert_sink_close(fx->sink);
    ward_retro_free(fx->retro);
    ward_store_close(fx->store);
    ward_intel_close(fx->intel);
    tb_rmtree(fx->dir);
    free(fx);
    return 0;
}

static int handle(fixture_t *fx, const char *topic, tb_report_t *r)
{
    size_t len;
    uint8_t *buf = tb_encode(r, &len);
    int rc = ward_processor_handle(fx->proc, topic, buf, len, 1700000065000);
    free(buf);
    return rc;
}

static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void pipeline(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    ward_process_stats_t s;

    assert_int_equal(ward_processor_begin(fx->proc), 0);
    /* Report 0: one outbound flow to a listed /24, one inbound from a listed IPv6 /48, one clean
     * flow, one ICMP to a listed host sent IPv4-mapped. */
    tb_init(&r, "dev-1", 0);
    tb_add_flow(&r, tb_flow(6, 1, 0, 40000, "203.0.113.7", 443, 10, 8, 1200, 900, 1, 5, 0x1202));
    tb_add_flow(&r, tb_flow(6, 2, 1, 22, "2001:db8:bad::9", 51000, 4, 6, 400, 600, 2, 3, 0x0202));
    tb_add_flow(&r, tb_flow(17, 1, 0, 5353, "192.0.2.53", 53, 1, 1, 80, 120, 0, 0, -1));
    tb_add_flow(&r, tb_flow(1, 1, 0, 0, "::ffff:198.51.100.66", 8 * 256, 2, 2, 168, 168, 0, 1, -1));
    assert_int_equal(handle(fx, "ward/v1/dev-1/report", &r), 0);
    /* The same part again, byte for byte: a duplicate (an MQTT redelivery), ignored. A repeat
     * with other content would be a replay (device.replay, tests/unit/behavior). */
    tb_init(&r, "dev-1", 0);
    tb_add_flow(&r, tb_flow(6, 1, 0, 40000, "203.0.113.7", 443, 10, 8, 1200, 900, 1, 5, 0x1202));
    tb_add_flow(&r, tb_flow(6, 2, 1, 22, "2001:db8:bad::9", 51000, 4, 6, 400, 600, 2, 3, 0x0202));
    tb_add_flow(&r, tb_flow(17, 1, 0, 5353, "192.0.2.53", 53, 1, 1, 80, 120, 0, 0, -1));
    tb_add_flow(&r, tb_flow(1, 1, 0, 0, "::ffff:198.51.100.66", 8 * 256, 2, 2, 168, 168, 0, 1, -1));
    assert_int_equal(handle(fx, "ward/v1/dev-1/report", &r), 1);
    /* Report 1 repeats the /24 (another address, later): folded, no new JSON line. */
    tb_init(&r, "dev-1", 1);
    tb_add_flow(&r, tb_flow(6, 1, 0, 40001, "203.0.113.99", 443, 1, 1, 60, 60, 6, 8, 0x02));
    assert_int_equal(handle(fx, "ward/v1/dev-1/report", &r), 0);
    /* Rejected: payload id differs from the topic's, a bad topic, bad bytes. */
    tb_init(&r, "dev-1", 2);
    assert_int_equal(handle(fx, "ward/v1/dev-2/report", &r), 1);
    tb_init(&r, "dev-1", 2);
    assert_int_equal(handle(fx, "ward/v1/dev 1/report", &r), 1);
    assert_int_equal(ward_processor_handle(fx->proc, "ward/v1/dev-1/report",
                                           (const uint8_t *)"\xa1\x01", 2, 1700000065000),
                     1);
    /* No alert lines before the commit. */
    assert_int_equal(count_lines(fx->jsonl), 0);
    assert_int_equal(ward_processor_end(fx->proc), 0);

    ward_processor_stats(fx->proc, &s);
    assert_int_equal(s.received, 6);
    assert_int_equal(s.accepted, 2);
    assert_int_equal(s.rejected, 3);
    assert_int_equal(s.duplicates, 1);
    assert_int_equal(s.flows, 5);
    assert_int_equal(s.intel_matches, 4);
    assert_int_equal(s.alerts_new, 3);
    assert_int_equal(s.alerts_folded, 1);
    assert_int_equal(count_lines(fx->jsonl), 3);

    json_t *devs = ward_store_devices_json(fx->store, NULL);
    assert_int_equal(json_array_size(devs), 1);
    json_t *d = json_array_get(devs, 0);
    assert_int_equal(json_integer_value(json_object_get(d, "reports")), 2);
    assert_int_equal(json_integer_value(json_object_get(d, "flows")), 5);
    assert_int_equal(json_integer_value(json_object_get(d, "last_seq")), 1);
    /* Device times are the service's receive time. */
    assert_string_equal(json_string_value(json_object_get(d, "last_seen")), "2023-11-14T22:14:25Z");
    json_decref(devs);

    json_t *flows = ward_store_flows_json(fx->store, "dev-1", 0);
    assert_int_equal(json_array_size(flows), 5);
    json_t *f0 = NULL;
    for (size_t i = 0; i < json_array_size(flows); i++) {
        json_t *f = json_array_get(flows, i);
        if (json_integer_value(json_object_get(f, "local_port")) == 40000)
            f0 = f;
    }
    assert_non_null(f0);
    /* Absolute times: period start 1700000000000 + offsets 1 s and 5 s. */
    assert_string_equal(json_string_value(json_object_get(f0, "first_seen")),
                        "2023-11-14T22:13:21Z");
    assert_string_equal(json_string_value(json_object_get(f0, "last_seen")),
                        "2023-11-14T22:13:25Z");
    json_decref(flows);

    json_t *alerts = ward_store_alerts_json(fx->store, NULL, 0);
    assert_int_equal(json_array_size(alerts), 3);
    json_t *a0 = json_array_get(alerts, 0), *a1 = json_array_get(alerts, 1),
           *a2 = json_array_get(alerts, 2);
    assert_int_equal(json_integer_value(json_object_get(a0, "count")), 2);
    json_t *ev = json_object_get(a0, "evidence");
    /* Folded: the evidence stays the first flow's, the repeat is the last flow. */
    assert_string_equal(json_string_value(json_object_get(ev, "remote_addr")), "203.0.113.7");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "last_flow"), "remote_addr")),
        "203.0.113.99");
    assert_null(json_object_get(json_object_get(ev, "last_flow"), "indicator"));
    assert_string_equal(json_string_value(json_object_get(ev, "direction")), "outbound");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "indicator"), "value")),
        "203.0.113.0/24");
    ev = json_object_get(a1, "evidence");
    assert_string_equal(json_string_value(json_object_get(ev, "direction")), "inbound");
    assert_string_equal(json_string_value(json_object_get(ev, "local_addr")), "2001:db8::2");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "indicator"), "value")),
        "2001:db8:bad::/48");
    ev = json_object_get(a2, "evidence");
    assert_string_equal(json_string_value(json_object_get(ev, "protocol")), "icmp");
    assert_int_equal(json_integer_value(json_object_get(ev, "icmp_type")), 8);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "indicator"), "source")), fx->feed);
    json_decref(alerts);

    /* Every flow is in the contact history: one row per (device, remote, port, proto, dir). */
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(ward_store_sqlite(fx->store),
                                        "SELECT count(*) FROM contacts", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 5);
    sqlite3_finalize(q);
}

static void boot_time_base(void **state)
{
    fixture_t *fx = *state;
    tb_report_t r;
    /* A device without a synced clock: period in ms since boot; the period's end is taken as the
     * receive time (1700000065000), so an offset of 10 s into a 60 s period is 50 s before it. */
    assert_int_equal(ward_processor_begin(fx->proc), 0);
    tb_init(&r, "dev-3", 0);
    tb_set(&r, 8, tb_uint(1));
    tb_set(&r, 5, tb_uint(5000));
    tb_set(&r, 6, tb_uint(65000));
    tb_add_flow(&r, tb_flow(17, 1, 0, 1000, "192.0.2.1", 53, 1, 1, 60, 60, 10, 10, -1));
    assert_int_equal(handle(fx, "ward/v1/dev-3/report", &r), 0);
    assert_int_equal(ward_processor_end(fx->proc), 0);
    json_t *flows = ward_store_flows_json(fx->store, "dev-3", 0);
    json_t *f = json_array_get(flows, 0);
    assert_string_equal(json_string_value(json_object_get(f, "first_seen")),
                        "2023-11-14T22:13:35Z");
    json_decref(flows);
}

/* What an MQTT thread queues: 50 reports with an intel match, one bad payload, one bad topic;
 * each prepared on this thread first when prepare is set (as wardd's ingest does). */
typedef struct producer {
    ward_queue_t *q;
    ward_processor_t *prepare;
} producer_t;

static void *produce(void *arg)
{
    producer_t *pr = arg;
    for (int i = 0; i < 50; i++) {
        tb_report_t r;
        size_t len;
        tb_init(&r, "dev-9", (uint64_t)i);
        tb_add_flow(&r, tb_flow(6, 1, 0, 1000, "203.0.113.1", 80, 1, 1, 60, 60, 0, 0, 2));
        uint8_t *buf = tb_encode(&r, &len);
        ward_msg_t *m[3] = {ward_msg_new("ward/v1/dev-9/report", buf, len, 1700000065000), NULL,
                            NULL};
        free(buf);
        if (i == 10) /* rejected when prepared, counted by the worker */
            m[1] = ward_msg_new("ward/v1/dev-9/report", "\xff", 1, 0);
        if (i == 20)
            m[1] = ward_msg_new("not/a/ward/topic", "\xa0", 1, 0);
        for (int k = 0; k < 3 && m[k] != NULL; k++) {
            if (pr->prepare != NULL)
                ward_processor_prepare_on_thread(pr->prepare, m[k]);
            if (!ward_queue_push(pr->q, m[k]))
                return (void *)1; /* cmocka's asserts are for the test's own thread */
        }
    }
    return NULL;
}

static void drains(fixture_t *fx, bool worker_alone)
{
    ward_queue_t *q = ward_queue_new(4, 1000);
    if (worker_alone)
        assert_int_equal(ward_processor_start_worker(fx->proc, q), 0);
    else
        assert_int_equal(ward_processor_start(fx->proc, q), 0);
    /* More messages than the queue holds: pushes wait for room, nothing is dropped. The producer
     * is a thread of its own that ends before the queue is closed (its intel reader registration
     * ends with it). */
    producer_t pr = {q, worker_alone ? fx->proc : NULL};
    pthread_t t;
    void *failed = NULL;
    assert_int_equal(pthread_create(&t, NULL, produce, &pr), 0);
    assert_int_equal(pthread_join(t, &failed), 0);
    assert_null(failed);
    ward_queue_close(q);
    ward_processor_join(fx->proc);
    assert_false(ward_processor_running(fx->proc));
    ward_process_stats_t s;
    ward_processor_stats(fx->proc, &s);
    assert_int_equal(s.received, 52);
    assert_int_equal(s.rejected, 2);
    assert_int_equal(s.accepted, 50);
    assert_int_equal(s.alerts_new, 1);
    assert_int_equal(s.alerts_folded, 49);
    json_t *alerts = ward_store_alerts_json(fx->store, "dev-9", 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(alerts, 0), "count")), 50);
    json_decref(alerts);
    ward_queue_free(q);
}

/* The decoder and worker threads. */
static void worker_drains(void **state)
{
    drains(*state, false);
}

/* The worker alone, messages prepared by the thread that queues them (wardd). */
static void worker_alone_drains(void **state)
{
    drains(*state, true);
}

int main(void)
{
    ward_log_init("test", WARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(boot_time_base, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_alone_drains, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
