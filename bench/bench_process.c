/*
 * bench-process: wardd's report pipeline (service/process.c) without MQTT and without threads,
 * so that its cost per report can be measured, and profiled, apart from the broker's.
 *
 *   build/bin/bench-process [--reports N]
 *
 * The same set-up as bench-ingest's wardd phase: a store in a temp dir, the contact history, an
 * intel index of 100,000 indicators, the "default" group with rules; the same stream: N reports
 * (default 20,000) of about 20 flows from 1000 devices, encoded by the real agent core. Then,
 * on this one thread, what wardd's two pipeline threads do:
 *  - prepare (the decoder thread): every message copied as the MQTT thread queues it
 *    (ward_msg_new) and prepared (ward_processor_prepare_msg);
 *  - apply (the worker): every message handled in transactions of WARD_PROCESS_BATCH
 *    (ward_processor_begin, _handle_msg, _end) and freed.
 * Prints one line on stdout:
 *
 *   process reports=<n> prepare_us=<x> apply_us=<y> total_us=<x+y>
 *
 * (microseconds per report, wall clock of each phase; the stream is processed RUNS times, each in
 * a fresh store, and the best run is printed). Details go to stderr. Bounded: well under a
 * minute. Never a test: it asserts nothing about time.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "bench_traffic.h"
#include "clock.h"
#include "intel.h"
#include "log.h"
#include "process.h"
#include "queue.h"
#include "registry.h"
#include "retro.h"
#include "store.h"
#include "ward/agent.h"

#define STREAM_DEVICES 1000u
#define FEED_SIZE 100000u
#define RUNS 5

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench-process: %s%s%s\n", what, detail[0] ? ": " : "", detail);
    exit(1);
}

typedef struct result {
    double prepare_s, apply_s;
    unsigned long accepted;
} result_t;

/* One run over the stream in a fresh store under dir/runK. */
static result_t run(const char *dir, int k, const char *feed, const bench_blob_t *blobs, size_t n)
{
    char db[512], err[512];
    snprintf(db, sizeof db, "%s/run%d.db", dir, k);
    ward_store_t *store = ward_store_open(db, false, err, sizeof err);
    if (store == NULL)
        die("store", err);
    json_error_t je;
    json_t *group = json_loads(BENCH_DEFAULT_GROUP, 0, &je);
    if (group == NULL || ward_registry_apply(store, group, ward_now_ms(), err, sizeof err) != 0)
        die("group", group ? err : je.text);
    json_decref(group);
    ward_retro_t *retro = ward_retro_new(store, WARD_RETRO_DAYS_DEFAULT, err, sizeof err);
    if (retro == NULL)
        die("contact history", err);
    ward_intel_source_cfg_t src = {WARD_INTEL_SRC_PATH, feed, WARD_FEED_AUTO, 0};
    ward_intel_config_t icfg = {&src, 1, ward_retro_submit, retro, NULL, NULL, true};
    ward_intel_t *intel = ward_intel_open(&icfg, err, sizeof err);
    if (intel == NULL)
        die("intel", err);
    ward_processor_t *proc = ward_processor_new(store, intel, NULL);
    if (proc == NULL)
        die("processor", "");
    ward_processor_set_retro(proc, retro);
    ward_msg_t **msgs = calloc(n, sizeof *msgs);
    if (msgs == NULL)
        die("out of memory", "");

    result_t res = {0, 0, 0};
    double t0 = bench_now_s();
    for (size_t i = 0; i < n; i++) {
        msgs[i] = ward_msg_new(blobs[i].topic, blobs[i].data, blobs[i].len, ward_now_ms());
        if (msgs[i] == NULL)
            die("out of memory", "");
        ward_processor_prepare_msg(proc, msgs[i]);
    }
    double t1 = bench_now_s();
    for (size_t i = 0; i < n; i += WARD_PROCESS_BATCH) {
        size_t end = i + WARD_PROCESS_BATCH < n ? i + WARD_PROCESS_BATCH : n;
        if (ward_processor_begin(proc) != 0)
            die("begin", "");
        for (size_t j = i; j < end; j++)
            if (ward_processor_handle_msg(proc, msgs[j]) < 0)
                die("a report failed in the store", "");
        if (ward_processor_end(proc) != 0)
            die("commit", "");
        for (size_t j = i; j < end; j++)
            ward_msg_free(msgs[j]);
    }
    double t2 = bench_now_s();
    res.prepare_s = t1 - t0;
    res.apply_s = t2 - t1;
    ward_process_stats_t st;
    ward_processor_stats(proc, &st);
    res.accepted = (unsigned long)st.accepted;
    fprintf(stderr,
            "bench-process: run %d: %lu accepted, %lu rejected, %lu duplicates, %lu alerts; "
            "prepare %.3fs, apply %.3fs\n",
            k, (unsigned long)st.accepted, (unsigned long)st.rejected, (unsigned long)st.duplicates,
            (unsigned long)st.alerts_new, res.prepare_s, res.apply_s);
    ward_retro_stats_t rs;
    ward_retro_stats(retro, &rs);
    fprintf(stderr, "bench-process: run %d: contacts: %lu rows written, %lu notes cached\n", k,
            (unsigned long)rs.contacts_written, (unsigned long)rs.contacts_cached);
    free(msgs);
    ward_processor_free(proc);
    ward_intel_close(intel);
    ward_retro_free(retro);
    ward_store_close(store);
    return res;
}

int main(int argc, char **argv)
{
    long n_reports = 20000;
    static const struct option lo[] = {{"reports", required_argument, NULL, 'r'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'r') {
            char *end;
            errno = 0;
            n_reports = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || n_reports < 1 || n_reports > 200000)
                die("--reports wants 1..200000", "");
        } else {
            fprintf(stderr, "usage: bench-process [--reports N]\n(see the comment at the top of "
                            "bench/bench_process.c)\n");
            return c == 'h' ? 0 : 2;
        }
    }
    ward_log_init("bench-process", WARD_LOG_WARN);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* as wardd (service/main.c) */
    ward_intel_reader_register();

    char dir[256];
    snprintf(dir, sizeof dir, "%s/bench-process-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", strerror(errno));
    char feed[512];
    snprintf(feed, sizeof feed, "%s/feed.txt", dir);
    FILE *f = fopen(feed, "w");
    if (f == NULL || !bench_write_feed(f, FEED_SIZE) || fclose(f) != 0)
        die("cannot write the feed", feed);

    ward_agent_t *agent = calloc(1, sizeof *agent);
    bench_capture_t cap;
    if (agent == NULL || !bench_stream(agent, (size_t)n_reports, STREAM_DEVICES, &cap))
        die("out of memory", "");
    size_t n = cap.n;
    fprintf(stderr, "bench-process: %zu report parts from %u devices in %s\n", n, STREAM_DEVICES,
            dir);

    result_t best = {0, 0, 0};
    for (int k = 0; k < RUNS; k++) {
        result_t r = run(dir, k, feed, cap.out, n);
        if (r.accepted != n)
            die("not every report was accepted", "");
        if (k == 0 || r.prepare_s + r.apply_s < best.prepare_s + best.apply_s)
            best = r;
    }
    printf("process reports=%zu prepare_us=%.1f apply_us=%.1f total_us=%.1f\n", n,
           best.prepare_s * 1e6 / (double)n, best.apply_s * 1e6 / (double)n,
           (best.prepare_s + best.apply_s) * 1e6 / (double)n);

    for (size_t i = 0; i < n; i++)
        free(cap.out[i].data);
    free(cap.out);
    free(agent);
    ward_intel_reader_unregister();
    bench_rmtree(dir);
    return 0;
}
