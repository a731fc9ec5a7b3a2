/*
 * groupcheck: runs a device's group rules and learned baseline on every report, and turns their
 * events into alerts in the store (raise/fold, reopen, resolve, mark invalidated).
 *
 * Alert lifecycle for rules (type = the rule's type, fold key = the rule's id):
 *   alarm            a new alert (state "active"), or the resolved one reopened (state back to
 *                    "active", count + 1); written to the sink
 *   still in alarm   folded: count + 1, last_seen, evidence = the latest violation
 *   cleared          state "resolved", evidence gains "alarm": "cleared"; written to the sink
 *   invalidated      state stays "active" (nothing showed the problem went away); evidence gains
 *                    "alarm": "invalidated" and why; not written to the sink
 * Baseline alerts (baseline.*) are raised and folded, never resolved automatically.
 *
 * It owns the registry (groups, device -> group), reloaded when wardctl changed it, and the
 * per-device rule states (a hash map by device id). After a restart, rule alarms whose alerts are
 * still active are restored as in_alarm, so a clean report can still resolve them.
 *
 * Threads: owned by the worker that owns the store's write connection.
 */
#ifndef WARD_GROUPCHECK_H
#define WARD_GROUPCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "alerts.h"
#include "registry.h"
#include "store.h"
#include "wire.h"

typedef struct ward_groupcheck ward_groupcheck_t;

/**
 * Called for every alert that is new, reopened or resolved (for the sink), after it was stored;
 * is_new is true for a new alert. 0 ok, -1 error.
 */
typedef int (*ward_groupcheck_notify_fn)(void *ctx, const ward_alert_t *a, bool is_new);

/** st is borrowed (a writer connection). NULL + err on failure. */
ward_groupcheck_t *ward_groupcheck_new(ward_store_t *st, ward_groupcheck_notify_fn notify,
                                       void *ctx, char *err, size_t errlen);
void ward_groupcheck_free(ward_groupcheck_t *gc);

/** The registry (groups of devices; reloaded by ward_groupcheck_refresh / _tick). */
ward_registry_t *ward_groupcheck_registry(ward_groupcheck_t *gc);

/** Reload the registry if wardctl changed it: at the start of each transaction (the processor),
 *  so a change applies from the next transaction on. 0 ok (or unchanged), -1 error (old copy
 *  kept). */
int ward_groupcheck_refresh(ward_groupcheck_t *gc);

/**
 * One accepted report part of r->device_id received at now_ms: evaluate its group's rules and
 * baseline (flows: as ward_rules_report). Runs inside the caller's transaction. 0 ok, -1 store
 * error or out of memory.
 */
int ward_groupcheck_report(ward_groupcheck_t *gc, const ward_wire_report_t *r,
                           const ward_flow_t *flows, int64_t now_ms);

/** Before the transaction commits: write the baselines that learned something in it (once per
 *  group and transaction, not per report). 0 ok, -1 store error. */
int ward_groupcheck_flush(ward_groupcheck_t *gc);

/** Periodic (every few seconds, inside a transaction): overdue parts, invalidation. 0 / -1. */
int ward_groupcheck_tick(ward_groupcheck_t *gc, int64_t now_ms);

typedef struct ward_groupcheck_stats {
    uint64_t raised, folded, resolved, invalidated;
} ward_groupcheck_stats_t;

void ward_groupcheck_stats(const ward_groupcheck_t *gc, ward_groupcheck_stats_t *out);

#endif
