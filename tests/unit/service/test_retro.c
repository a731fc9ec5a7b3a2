/*
 * retro: the contact history and the retro-hunt in a real SQLite file — contacts folded per
 * (device, remote, port, protocol, direction) with first/last seen widened; a reload that adds
 * indicators queues a hunt that matches past contacts against just the added ones, in slices,
 * raising retrospective alerts (one per device and indicator, count = contacts) and none where a
 * live alert already exists; a rolled-back slice is redone; old contacts are pruned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "clock.h"
#include "log.h"
#include "process.h"
#include "report_build.h"
#include "retro.h"

typedef struct fx {
    char dir[64], db[128], feed[128];
    ward_store_t *store;
    ward_retro_t *retro;
    ward_intel_t *intel;
    size_t emitted, emitted_new;
    ward_alert_t last; /* the last alert emitted */
} fx_t;

static int emit(void *ctx, ward_alert_t *a)
{
    fx_t *fx = ctx;
    bool is_new;
    if (ward_alerts_raise(fx->store, a, &is_new) != 0)
        return -1;
    fx->emitted++;
    fx->emitted_new += is_new;
    ward_alert_clear(&fx->last);
    fx->last = *a;
    json_incref(a->evidence);
    return 0;
}

static void write_feed(fx_t *fx, const char *text)
{
    FILE *f = fopen(fx->feed, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    char err[256];
    tb_tmpdir(fx->dir);
    snprintf(fx->db, sizeof fx->db, "%s/ward.db", fx->dir);
    snprintf(fx->feed, sizeof fx->feed, "%s/feed.txt", fx->dir);
    write_feed(fx, "192.0.2.1\n");
    fx->store = ward_store_open(fx->db, false, err, sizeof err);
    assert_non_null(fx->store);
    fx->retro = ward_retro_new(fx->store, 7, err, sizeof err);
    assert_non_null(fx->retro);
    ward_intel_source_cfg_t src = {WARD_INTEL_SRC_PATH, fx->feed, WARD_FEED_AUTO, 0};
    ward_intel_config_t cfg = {.sources = &src,
                               .n_sources = 1,
                               .on_added = ward_retro_submit,
                               .added_ctx = fx->retro,
                               .quiet = true};
    fx->intel = ward_intel_open(&cfg, err, sizeof err);
    assert_non_null(fx->intel);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    ward_alert_clear(&fx->last);
    ward_intel_close(fx->intel);
    ward_retro_free(fx->retro);
    ward_store_close(fx->store);
    tb_rmtree(fx->dir);
    free(fx);
    return 0;
}

static ward_flow_t flow(const char *dev, const char *remote, unsigned rport, int64_t first_ms,
                        int64_t last_ms)
{
    ward_flow_t f;
    memset(&f, 0, sizeof f);
    snprintf(f.device, sizeof f.device, "%s", dev);
    f.proto = 6;
    f.initiator = WARD_DIR_OUTBOUND;
    assert_true(ward_addr_parse("10.0.0.2", &f.local_addr));
    assert_true(ward_addr_parse(remote, &f.remote_addr));
    f.local_port = 40000;
    f.remote_port_raw = (uint16_t)rport;
    f.first_seen_ms = first_ms;
    f.last_seen_ms = last_ms;
    return f;
}

static int64_t count(fx_t *fx, const char *sql)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(ward_store_sqlite(fx->store), sql, -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* Run slices until the hunt is over; returns the number of slices. */
static int hunt(fx_t *fx, size_t budget)
{
    int slices = 0;
    int64_t mono = ward_mono_ms();
    while (ward_retro_due(fx->retro, mono)) {
        assert_int_equal(ward_store_begin(fx->store), 0);
        assert_int_equal(ward_retro_step(fx->retro, ward_now_ms(), mono, budget, emit, fx), 0);
        assert_int_equal(ward_store_commit(fx->store), 0);
        slices++;
        assert_true(slices < 1000);
    }
    return slices;
}

static void contacts_fold(void **state)
{
    fx_t *fx = *state;
    int64_t now = ward_now_ms();
    assert_int_equal(ward_store_begin(fx->store), 0);
    ward_flow_t f = flow("dev-1", "198.51.100.7", 443, now - 60000, now - 50000);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    f = flow("dev-1", "198.51.100.7", 443, now - 120000, now - 110000); /* a late report */
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    f = flow("dev-1", "198.51.100.7", 443, now - 10000, now - 5000);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    f = flow("dev-1", "198.51.100.7", 8443, now - 10000, now - 5000); /* another port */
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    f = flow("dev-1", "198.51.100.7", 443, now - 10000, now - 5000);
    f.initiator = WARD_DIR_INBOUND; /* another direction */
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    assert_int_equal(ward_store_commit(fx->store), 0);
    assert_int_equal(count(fx, "SELECT count(*) FROM contacts"), 3);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT first_seen = %lld AND last_seen = %lld FROM contacts WHERE remote_port = 443"
             " AND direction = %d",
             (long long)(now - 120000), (long long)(now - 5000), WARD_DIR_OUTBOUND);
    assert_int_equal(count(fx, sql), 1);
}

/* A batch (ward_retro_begin .. ward_retro_flush) writes the rows the notes would have written
 * one by one; a batch that is not flushed (rolled back) leaves nothing behind. */
static void contacts_fold_batched(void **state)
{
    fx_t *fx = *state;
    int64_t now = ward_now_ms();
    assert_int_equal(ward_store_begin(fx->store), 0);
    ward_retro_begin(fx->retro);
    ward_flow_t f = flow("dev-9", "198.51.100.99", 53, now - 1000, now - 900);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0); /* a batch that is rolled back */
    ward_store_rollback(fx->store);

    assert_int_equal(ward_store_begin(fx->store), 0);
    ward_retro_begin(fx->retro);
    for (int i = 0; i < 3000; i++) { /* more than the first table holds: it grows */
        char ip[32];
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 250, i % 250);
        f = flow("dev-2", ip, 80, now - 1000, now - 500);
        assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    }
    f = flow("dev-1", "198.51.100.7", 443, now - 60000, now - 50000);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    f = flow("dev-1", "198.51.100.7", 443, now - 120000, now - 110000);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    f = flow("dev-1", "198.51.100.7", 443, now - 10000, now - 5000);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    f = flow("dev-1", "198.51.100.7", 8443, now - 10000, now - 5000);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    f = flow("dev-1", "198.51.100.7", 443, now - 10000, now - 5000);
    f.initiator = WARD_DIR_INBOUND;
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    assert_int_equal(count(fx, "SELECT count(*) FROM contacts"), 0); /* not yet written */
    assert_int_equal(ward_retro_flush(fx->retro), 0);
    assert_int_equal(ward_store_commit(fx->store), 0);
    assert_int_equal(count(fx, "SELECT count(*) FROM contacts WHERE device = 'dev-1'"), 3);
    assert_int_equal(count(fx, "SELECT count(*) FROM contacts WHERE device = 'dev-2'"), 3000);
    assert_int_equal(count(fx, "SELECT count(*) FROM contacts WHERE device = 'dev-9'"), 0);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT first_seen = %lld AND last_seen = %lld FROM contacts WHERE remote_port = 443"
             " AND direction = %d",
             (long long)(now - 120000), (long long)(now - 5000), WARD_DIR_OUTBOUND);
    assert_int_equal(count(fx, sql), 1);

    /* After the flush, notes are written at once again. */
    assert_int_equal(ward_store_begin(fx->store), 0);
    f = flow("dev-3", "198.51.100.8", 443, now - 1000, now - 500);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    assert_int_equal(ward_store_commit(fx->store), 0);
    assert_int_equal(count(fx, "SELECT count(*) FROM contacts WHERE device = 'dev-3'"), 1);
}

/* One batch: begin, note f, flush, commit. */
static void batch_note(fx_t *fx, const ward_flow_t *f)
{
    assert_int_equal(ward_store_begin(fx->store), 0);
    ward_retro_begin(fx->retro);
    assert_int_equal(ward_retro_note(fx->retro, f), 0);
    assert_int_equal(ward_retro_flush(fx->retro), 0);
    assert_int_equal(ward_store_commit(fx->store), 0);
}

static int64_t last_seen_of(fx_t *fx, unsigned port)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT last_seen FROM contacts WHERE remote_port = %u", port);
    return count(fx, sql);
}

/* A flushed contact is rewritten only when its last_seen moves into a later minute (or its
 * first_seen into an earlier one); a rollback empties the cache, so a contact whose write was
 * rolled back is written by the next batch. */
static void contacts_cached_per_minute(void **state)
{
    fx_t *fx = *state;
    int64_t m = (ward_now_ms() / 60000 - 10) * 60000; /* the start of a past minute */
    ward_flow_t f = flow("dev-1", "198.51.100.7", 443, m + 1000, m + 2000);
    batch_note(fx, &f);
    assert_int_equal(last_seen_of(fx, 443), m + 2000);
    f = flow("dev-1", "198.51.100.7", 443, m + 3000, m + 59000); /* same minute: not written */
    batch_note(fx, &f);
    assert_int_equal(last_seen_of(fx, 443), m + 2000);
    ward_retro_stats_t st;
    ward_retro_stats(fx->retro, &st);
    assert_int_equal(st.contacts_cached, 1);
    f = flow("dev-1", "198.51.100.7", 443, m + 3000, m + 61000); /* a later minute */
    batch_note(fx, &f);
    assert_int_equal(last_seen_of(fx, 443), m + 61000);
    f = flow("dev-1", "198.51.100.7", 443, m - 1000, m + 61000); /* an earlier first minute */
    batch_note(fx, &f);
    assert_int_equal(count(fx, "SELECT first_seen FROM contacts WHERE remote_port = 443"),
                     m - 1000);

    /* Written, then rolled back: the next batch writes it again. */
    f = flow("dev-1", "198.51.100.7", 8443, m + 1000, m + 2000);
    assert_int_equal(ward_store_begin(fx->store), 0);
    ward_retro_begin(fx->retro);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    assert_int_equal(ward_retro_flush(fx->retro), 0);
    ward_store_rollback(fx->store);
    assert_int_equal(count(fx, "SELECT count(*) FROM contacts WHERE remote_port = 8443"), 0);
    batch_note(fx, &f);
    assert_int_equal(count(fx, "SELECT count(*) FROM contacts WHERE remote_port = 8443"), 1);
}

static void hunt_new_indicators(void **state)
{
    fx_t *fx = *state;
    int64_t now = ward_now_ms();
    /* Past contacts: dev-1 twice with 198.51.100.7 (two ports), dev-2 once; dev-3 with the /24
     * but it already has a live alert for it; a clean one; ICMP to 203.0.113.9. */
    assert_int_equal(ward_store_begin(fx->store), 0);
    const struct {
        const char *dev, *remote;
        unsigned port;
        uint8_t proto;
    } past[] = {{"dev-1", "198.51.100.7", 443, 6},   {"dev-1", "198.51.100.7", 8443, 6},
                {"dev-2", "198.51.100.9", 53, 17},   {"dev-3", "198.51.100.20", 80, 6},
                {"dev-1", "192.0.2.200", 80, 6},     {"dev-2", "203.0.113.9", 8 * 256, 1},
                {"dev-4", "2001:db8:bad::1", 53, 17}};
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        ward_flow_t f = flow(past[i].dev, past[i].remote, past[i].port, now - 3600000 - (int64_t)i,
                             now - 1800000 + (int64_t)i);
        f.proto = past[i].proto;
        assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    }
    assert_int_equal(ward_store_commit(fx->store), 0);

    /* dev-3 has a live alert for the range from this feed (raised between publish and hunt). */
    ward_intel_match_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.value, sizeof m.value, "198.51.100.0/24");
    snprintf(m.source, sizeof m.source, "%s", fx->feed);
    ward_flow_t live = flow("dev-3", "198.51.100.20", 80, now, now);
    ward_alert_t a;
    bool is_new;
    ward_alert_intel(&a, &live, &m, 1, 1);
    assert_int_equal(ward_store_begin(fx->store), 0);
    assert_int_equal(ward_alerts_raise(fx->store, &a, &is_new), 0);
    assert_int_equal(ward_store_commit(fx->store), 0);
    ward_alert_clear(&a);

    /* The feed gains a /24, a host and an ICMP target (192.0.2.1 was there before). */
    write_feed(fx, "192.0.2.1\n198.51.100.0/24\n203.0.113.9\n2001:db8:bad::/48\n");
    assert_int_equal(ward_intel_reload(fx->intel, "test"), 0);
    assert_true(ward_retro_due(fx->retro, ward_mono_ms()));
    /* Slices of 2 contacts: 7 contacts take 4 slices plus the one that ends the hunt. */
    assert_int_equal(hunt(fx, 2), 5);
    ward_retro_stats_t st;
    ward_retro_stats(fx->retro, &st);
    assert_int_equal(st.hunts, 1);
    assert_int_equal(st.indicators, 3);
    assert_int_equal(st.scanned, 7);
    assert_int_equal(st.matched, 6);
    /* dev-1 (2 contacts -> 1 alert), dev-2 (2 alerts), dev-4; dev-3 skipped. */
    assert_int_equal(fx->emitted, 5);
    assert_int_equal(fx->emitted_new, 4);

    json_t *all = ward_store_alerts_json(fx->store, NULL, 0);
    assert_int_equal(json_array_size(all), 5);
    size_t retro = 0;
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *al = json_array_get(all, i);
        json_t *ev = json_object_get(al, "evidence");
        const char *dev = json_string_value(json_object_get(al, "device"));
        if (strcmp(dev, "dev-3") == 0) {
            assert_null(json_object_get(ev, "retrospective"));
            assert_int_equal(json_integer_value(json_object_get(al, "count")), 1);
            continue;
        }
        retro++;
        assert_true(json_is_true(json_object_get(ev, "retrospective")));
        assert_null(json_object_get(ev, "local_addr"));
        assert_string_equal(json_string_value(json_object_get(al, "type")), "intel.malicious_ip");
        if (strcmp(dev, "dev-1") == 0) {
            assert_int_equal(json_integer_value(json_object_get(al, "count")), 2);
            assert_string_equal(json_string_value(json_object_get(ev, "remote_addr")),
                                "198.51.100.7");
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(ev, "indicator"), "value")),
                "198.51.100.0/24");
            assert_non_null(json_object_get(ev, "last_flow"));
            /* The alert spans both contacts: first of the first, last of the second. */
            char t1[WARD_TIME_STRLEN], t2[WARD_TIME_STRLEN];
            assert_string_equal(json_string_value(json_object_get(al, "first_seen")),
                                ward_time_iso(now - 3600000, t1, sizeof t1));
            assert_string_equal(json_string_value(json_object_get(al, "last_seen")),
                                ward_time_iso(now - 1800000 + 1, t2, sizeof t2));
        }
        if (strcmp(json_string_value(json_object_get(ev, "protocol")), "icmp") == 0) {
            assert_int_equal(json_integer_value(json_object_get(ev, "icmp_type")), 8);
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(ev, "indicator"), "value")),
                "203.0.113.9");
        }
        if (strcmp(dev, "dev-4") == 0)
            assert_string_equal(json_string_value(json_object_get(ev, "direction")), "outbound");
    }
    assert_int_equal(retro, 4);
    json_decref(all);

    /* Nothing new: a reload without additions queues no hunt. */
    assert_int_equal(ward_intel_reload(fx->intel, "test"), 0);
    assert_int_equal(hunt(fx, 100), 0);
}

static void rollback_redoes_slice(void **state)
{
    fx_t *fx = *state;
    int64_t now = ward_now_ms();
    assert_int_equal(ward_store_begin(fx->store), 0);
    ward_flow_t f = flow("dev-1", "198.51.100.7", 443, now - 1000, now);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    assert_int_equal(ward_store_commit(fx->store), 0);
    write_feed(fx, "192.0.2.1\n198.51.100.7\n");
    assert_int_equal(ward_intel_reload(fx->intel, "test"), 0);
    /* A slice whose transaction is rolled back: its alert is gone, and it is done again. */
    assert_int_equal(ward_store_begin(fx->store), 0);
    assert_int_equal(ward_retro_step(fx->retro, ward_now_ms(), ward_mono_ms(), 10, emit, fx), 0);
    ward_store_rollback(fx->store);
    ward_retro_rollback(fx->retro);
    assert_int_equal(count(fx, "SELECT count(*) FROM alerts"), 0);
    hunt(fx, 10);
    assert_int_equal(count(fx, "SELECT count(*) FROM alerts"), 1);
}

/*
 * A report the decoder prepared (intel lookups done) before a reload published a new indicator,
 * and handled by the worker after it: the worker looks it up again, so the report raises its live
 * alert and does not fall between the new index and the retro-hunt of the contact history.
 */
static void reload_between_prepare_and_apply(void **state)
{
    fx_t *fx = *state;
    ward_processor_t *p = ward_processor_new(fx->store, fx->intel, NULL);
    assert_non_null(p);
    ward_processor_set_retro(p, fx->retro);
    ward_intel_reader_register();
    tb_report_t r;
    size_t len;
    tb_init(&r, "dev-7", 1);
    tb_add_flow(
        &r, tb_flow(6, WARD_DIR_OUTBOUND, 0, 40000, "198.51.100.7", 443, 2, 2, 100, 100, 0, 1, -1));
    uint8_t *buf = tb_encode(&r, &len);
    ward_msg_t *m = ward_msg_new("ward/v1/dev-7/report", buf, len, ward_now_ms());
    free(buf);
    ward_processor_prepare_msg(p, m); /* 198.51.100.7 is on no feed yet */
    write_feed(fx, "192.0.2.1\n198.51.100.7\n");
    assert_int_equal(ward_intel_reload(fx->intel, "test"), 0);
    assert_int_equal(ward_processor_begin(p), 0);
    assert_int_equal(ward_processor_handle_msg(p, m), 0);
    assert_int_equal(ward_processor_end(p), 0);
    assert_int_equal(
        count(fx,
              "SELECT count(*) FROM alerts WHERE device = 'dev-7' AND type = 'intel.malicious_ip'"
              " AND evidence NOT LIKE '%retrospective%'"),
        1);
    ward_msg_free(m);
    ward_intel_reader_unregister();
    ward_processor_free(p);
}

static void prune_old_contacts(void **state)
{
    fx_t *fx = *state;
    int64_t now = ward_now_ms(), day = 86400000;
    assert_int_equal(ward_store_begin(fx->store), 0);
    ward_flow_t f = flow("dev-1", "198.51.100.7", 443, now - 9 * day, now - 8 * day);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    f = flow("dev-1", "198.51.100.8", 443, now - 9 * day, now - 6 * day);
    assert_int_equal(ward_retro_note(fx->retro, &f), 0);
    assert_int_equal(ward_store_commit(fx->store), 0);
    /* The first step prunes what is older than 7 days; the newer contact is hunted. */
    write_feed(fx, "192.0.2.1\n198.51.100.0/24\n");
    assert_int_equal(ward_intel_reload(fx->intel, "test"), 0);
    hunt(fx, 100);
    ward_retro_stats_t st;
    ward_retro_stats(fx->retro, &st);
    assert_int_equal(st.pruned, 1);
    assert_int_equal(st.matched, 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM contacts"), 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM alerts"), 1);
}

int main(void)
{
    ward_log_init("test", WARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(contacts_fold, setup, teardown),
        cmocka_unit_test_setup_teardown(contacts_fold_batched, setup, teardown),
        cmocka_unit_test_setup_teardown(contacts_cached_per_minute, setup, teardown),
        cmocka_unit_test_setup_teardown(hunt_new_indicators, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_redoes_slice, setup, teardown),
        cmocka_unit_test_setup_teardown(prune_old_contacts, setup, teardown),
        cmocka_unit_test_setup_teardown(reload_between_prepare_and_apply, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
