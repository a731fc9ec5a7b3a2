/*
 * process: what happens to each report — decode, validate, drop duplicates, update the device,
 * store the flows, match every flow's remote address against the intel index, raise (fold) alerts,
 * append new alerts to the JSON-lines sink.
 *
 * A processor owns the store's write connection for its lifetime, and the sink. It runs on
 * threads of its own fed by a queue, or synchronously (tests, tools) through
 * ward_processor_begin / _handle / _end.
 *
 * Threads: a decoder and a worker (ward_processor_start), or the worker alone with the messages
 * prepared by the thread that queues them (ward_processor_start_worker: wardd, whose MQTT thread
 * prepares). Preparing needs no database and no shared state: topic and CBOR decoded and
 * validated, flows built, contact keys, every flow's remote address looked up in the intel index.
 * The decoder passes the messages on, in order, to the worker through a second bounded queue
 * (WARD_PROCESS_READY messages, WARD_PROCESS_READY_BYTES of payload). The worker, the one
 * database writer, does the rest: duplicate filter and storage, alerts, contacts, rules,
 * detectors, hygiene. The order of the MQTT stream is kept.
 *
 * Batching: the worker pops up to WARD_PROCESS_BATCH messages at a time (waiting at most
 * WARD_PROCESS_WAIT_MS for the first) and handles them in transactions that are committed after
 * WARD_PROCESS_WAIT_MS at most, and before the next pop: what was received is written within about
 * that time, and an idle service holds no transaction open. Under a backlog a transaction holds up
 * to WARD_PROCESS_BATCH reports: the index pages they touch are written to the WAL once per
 * transaction instead of once per few reports.
 * New alerts are written to the sink after their transaction commits.
 *
 * Threads: the processor is used by one thread (the worker); counters are read by others with
 * ward_processor_stats (relaxed atomics).
 */
#ifndef WARD_PROCESS_H
#define WARD_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerts.h"
#include "intel.h"
#include "queue.h"
#include "retro.h"
#include "store.h"

#define WARD_PROCESS_BATCH 4096
#define WARD_PROCESS_READY 4096
/* ... and at most this many payload bytes (a decoded report takes a few times its payload). */
#define WARD_PROCESS_READY_BYTES (16u << 20)
/* Once a message is there, each thread waits up to WARD_PROCESS_LINGER_MS for a batch of this
 * many (ward_queue_pop_batch): one wake-up per batch instead of one per message, and fewer, larger
 * transactions; a report waits at most that much longer. */
#define WARD_DECODE_LINGER_MIN 64
#define WARD_PROCESS_LINGER_MIN 256
#define WARD_PROCESS_LINGER_MS 5
#define WARD_PROCESS_WAIT_MS 100

typedef struct ward_processor ward_processor_t;

typedef struct ward_process_stats {
    uint64_t received;      /**< messages handled */
    uint64_t accepted;      /**< report parts stored */
    uint64_t rejected;      /**< invalid (topic, CBOR, schema, id mismatch) */
    uint64_t duplicates;    /**< parts already processed */
    uint64_t flows;         /**< flows stored */
    uint64_t intel_matches; /**< flows whose remote address matched an indicator */
    uint64_t alerts_new;
    uint64_t alerts_folded;
    uint64_t store_errors; /**< batches lost to a database error */
} ward_process_stats_t;

/** store and intel (may be NULL) are borrowed; sink may be NULL. */
ward_processor_t *ward_processor_new(ward_store_t *store, const ward_intel_t *intel,
                                     ward_alert_sink_t *sink);
void ward_processor_free(ward_processor_t *p);

/** Synchronous use: begin a transaction, handle messages, commit (and flush alerts). */
int ward_processor_begin(ward_processor_t *p);
/** Handle one message. 0 = accepted, 1 = rejected or duplicate (counted, logged), -1 = store error.
 */
int ward_processor_handle(ward_processor_t *p, const char *topic, const uint8_t *payload,
                          size_t len, int64_t received_ms);
int ward_processor_end(ward_processor_t *p);

/** The decoder thread's half of handling m (no database): attaches what it found to m
 *  (ward_msg_free frees it, before ward_processor_free). Intel lookups need a registered reader
 *  thread. */
void ward_processor_prepare_msg(ward_processor_t *p, ward_msg_t *m);
/** The worker's half: handle m, prepared or not, in the open transaction; as _handle. */
int ward_processor_handle_msg(ward_processor_t *p, ward_msg_t *m);
/**
 * Periodic checks (device.silent) at wall-clock now_ms, inside a transaction opened with
 * ward_processor_begin. The worker runs them every WARD_BEHAVIOR_TICK_MS by itself.
 * 0 ok, -1 store error.
 */
int ward_processor_tick(ward_processor_t *p, int64_t now_ms);

/** Keep the contact history and run retro-hunts (retro.h) in the worker. Before start. */
void ward_processor_set_retro(ward_processor_t *p, ward_retro_t *retro);

/** Start the decoder and worker threads, which pop q until it is closed and drained. */
int ward_processor_start(ward_processor_t *p, ward_queue_t *q);
/**
 * Start the worker thread alone, popping q until it is closed and drained: the messages in q are
 * prepared by the thread that queues them (ward_processor_prepare_on_thread, the ingest's prepare
 * hook in wardd), which saves a thread and a queue between the MQTT thread and the worker. A
 * message queued unprepared is prepared by the worker.
 */
int ward_processor_start_worker(ward_processor_t *p, ward_queue_t *q);
/**
 * ward_processor_prepare_msg for any thread (ctx: the processor): the calling thread is made an
 * intel reader on its first call, and stops being one when it exits (a thread-specific key).
 * Matches ward_ingest_config_t.prepare.
 */
void ward_processor_prepare_on_thread(void *ctx, ward_msg_t *m);
/** Wait for both threads to finish (after ward_queue_close(q)). */
void ward_processor_join(ward_processor_t *p);
/** True while the worker runs (false once it exited, e.g. on a fatal store error). */
bool ward_processor_running(ward_processor_t *p);

void ward_processor_stats(ward_processor_t *p, ward_process_stats_t *out);

#endif
