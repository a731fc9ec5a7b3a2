/*
 * retro: the contact history and the retro-hunt. When a feed reload adds indicators, the devices'
 * past contacts are matched against just those, and an intel.malicious_ip alert marked
 * "retrospective": true is raised for each (device, indicator) contacted before wardd knew it.
 *
 * History: one row per (device, remote address, remote port, protocol, direction) in the table
 * `contacts` of the wardd database (this module owns it), with the first and last time it was
 * seen; each flow upserts its row, unless the row already holds that minute (the flush's cache,
 * see ward_retro_flush): first_seen and last_seen are exact to the minute. Rows whose last contact
 * is older than the history length
 * (--history-days, default 7) are pruned every WARD_RETRO_PRUNE_MS, a bounded number at a time.
 *
 *   contacts(device TEXT, remote_addr BLOB(16, IPv4 mapped), remote_port INTEGER (ICMP: type*256
 *            + code), protocol INTEGER, direction INTEGER (ward_direction), first_seen INTEGER,
 *            last_seen INTEGER (ms since the epoch), PRIMARY KEY(device, remote_addr,
 *            remote_port, protocol, direction)), index on last_seen
 *
 * Hunt: added sets (intel.h, ward_intel_added_t) are queued by the reloading thread
 * (ward_retro_submit) and worked off by the worker in slices of at most `budget` contacts
 * (ward_retro_step, in rowid order), between its report batches: ingest never waits for a hunt,
 * and a hunt never holds a transaction open for long. Each contact's remote address is looked up
 * in the added set's own small index. An alert is raised through the caller's emit function
 * (which folds it like any alert: several contacts of one device with one indicator make one
 * alert, count = contacts), except when that (device, indicator) already has a live alert (the
 * worker matched it as it happened, in the moments between the publish and the hunt).
 *
 * Threads: ward_retro_submit from any thread (its own lock); everything else on the thread that
 * owns the store's write connection (the worker), inside its transaction.
 */
#ifndef WARD_RETRO_H
#define WARD_RETRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerts.h"
#include "flow.h"
#include "intel.h"
#include "store.h"

#define WARD_RETRO_DAYS_DEFAULT 7
#define WARD_RETRO_DAYS_MAX 3650
/** Contacts matched per slice (one worker transaction). */
#define WARD_RETRO_SLICE 5000
#define WARD_RETRO_PRUNE_MS (10 * 60 * 1000)
/** Rows deleted per prune statement (repeated next slice while there are more). */
#define WARD_RETRO_PRUNE_BATCH 10000

typedef struct ward_retro ward_retro_t;

/** Store a new alert (fold it, count it, queue it for the sink). 0 ok, -1 store error. */
typedef int (*ward_retro_emit_fn)(void *ctx, ward_alert_t *a);

typedef struct ward_retro_stats {
    uint64_t hunts;            /**< added sets hunted to the end */
    uint64_t indicators;       /**< indicators in them */
    uint64_t scanned;          /**< contacts looked at */
    uint64_t matched;          /**< contacts that matched */
    uint64_t alerts;           /**< alerts raised or folded by hunts */
    uint64_t pruned;           /**< contacts pruned */
    uint64_t contacts_cached;  /**< notes not written: the row already holds their minute */
    uint64_t contacts_written; /**< contact rows inserted or updated */
} ward_retro_stats_t;

/** Create the table if needed and prepare statements on the store's write connection. */
ward_retro_t *ward_retro_new(ward_store_t *store, unsigned history_days, char *err, size_t err_len);
void ward_retro_free(ward_retro_t *r);

/** Queue an added set (takes ownership). Any thread; matches ward_intel_added_fn. */
void ward_retro_submit(void *retro, ward_intel_added_t *added);

/**
 * Record one flow's contact (worker, inside its transaction). Written at once, or between
 * ward_retro_begin and ward_retro_flush gathered in memory and written by the flush. 0 ok, -1
 * store error.
 */
int ward_retro_note(ward_retro_t *r, const ward_flow_t *f);
/** The key of f's contact (its keyed hash): pure, any thread once r exists. */
uint64_t ward_retro_contact_hash(const ward_retro_t *r, const ward_flow_t *f);
/** The same, for a flow whose device id has length n (strlen(f->device), known to the caller). */
uint64_t ward_retro_contact_hash_n(const ward_retro_t *r, const ward_flow_t *f, size_t n);
/** Start loading the cache lines the notes of these contacts will look at (a hint, no effect
 *  otherwise): issued early, their misses overlap other work. */
void ward_retro_prefetch(const ward_retro_t *r, const uint64_t *hashes, size_t n);
/** ward_retro_note with the hash already computed (ward_retro_contact_hash). */
int ward_retro_note_hashed(ward_retro_t *r, const ward_flow_t *f, uint64_t hash);

/**
 * Start gathering notes for a batch (worker, when it opens the batch's transaction): one write
 * per distinct contact at ward_retro_flush. Drops what a batch that was not flushed (rolled back)
 * had gathered.
 */
void ward_retro_begin(ward_retro_t *r);

/**
 * Write the gathered contacts, one upsert each, and stop gathering (worker, before it commits the
 * batch). A contact whose row already holds its first and last minute (as last written by a
 * flush since the last rollback) is not written again: contacts.first_seen and last_seen are
 * exact to the minute. 0 ok, -1 store error (the caller rolls the transaction back).
 */
int ward_retro_flush(ward_retro_t *r);

/** True when a hunt is queued or running, or a prune is due at mono_ms. */
bool ward_retro_due(ward_retro_t *r, int64_t mono_ms);

/**
 * One slice of work inside the caller's transaction: a due prune, then up to budget contacts of
 * the current hunt. now_ms: wall clock (history cut-off, expiry). 0 ok, -1 store error (the
 * slice is retried after the caller's rollback).
 */
int ward_retro_step(ward_retro_t *r, int64_t now_ms, int64_t mono_ms, size_t budget,
                    ward_retro_emit_fn emit, void *ctx);

/** Undo the in-memory progress of the last step after the caller rolled it back. */
void ward_retro_rollback(ward_retro_t *r);

void ward_retro_stats(ward_retro_t *r, ward_retro_stats_t *out);

#endif
