/*
 * alerts: the alert model, its JSON form, folding of repeats, and the JSON-lines sink.
 *
 * An alert is identified by (device, type, fold key); for intel.malicious_ip the fold key is the
 * indicator (ward_intel_fold_key: its value and source). A repeat of an existing alert is folded
 * into it: count grows by the repeat's count, first_seen/last_seen widen, the evidence becomes the
 * latest — except for intel.malicious_ip, whose evidence stays that of the flow that raised the
 * alert (the same in the store and in the sink line) and gets the latest repeat's flow under
 * "last_flow". Only a new alert goes to the JSON-lines sink (one line, flushed); folds only
 * update the store.
 *
 * JSON shape (wardctl alerts --json and each sink line):
 *   {"id", "type", "severity", "device", "title", "first_seen", "last_seen", "count", "state",
 *    "evidence": {...}}   times ISO-8601 UTC
 * intel.malicious_ip evidence: the flow (remote_addr, remote_port, local_addr, local_port,
 * protocol, direction, packets_in/out, bytes_in/out, first_seen, last_seen, icmp_type/icmp_code for
 * ICMP); "indicator": {"value", "source", "category", "confidence", "first_seen", "expires",
 * "ref"} (the most specific match; times ISO-8601 or null); "matches": [indicator, ...] (every
 * matching indicator, most specific first, at most 8) and "matches_total" when more matched;
 * "last_flow" (after a fold); "retrospective": true for a retro-hunt alert (retro.h), whose
 * evidence is a contact (no local address, port or counters).
 *
 * Threads: alerts are raised by the worker that owns the store's write connection; the sink is
 * written only by that worker.
 */
#ifndef WARD_ALERTS_H
#define WARD_ALERTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "flow.h"
#include "intel.h"

#define WARD_ALERT_INTEL_IP "intel.malicious_ip"

typedef struct ward_alert {
    int64_t id; /**< store row id; 0 before it is stored */
    char type[64];
    char severity[16]; /**< "low", "medium", "high", "critical" */
    char device[WARD_DEVICE_ID_MAX + 1];
    char title[160];
    char fold_key[256]; /**< with device and type, identifies the alert */
    int64_t first_seen_ms, last_seen_ms;
    int64_t count;
    char state[16];   /**< "active" (later: "resolved", "dismissed") */
    json_t *evidence; /**< owned reference (an object) */
} ward_alert_t;

struct ward_store;

/**
 * Fill a for a flow whose remote address matched m[0..n) (most specific first; total = how many
 * matched, may exceed n). The evidence holds a new reference.
 */
void ward_alert_intel(ward_alert_t *a, const ward_flow_t *f, const ward_intel_match_t *m,
                      size_t n, size_t total);

/** The parts of ward_alert_intel for other evidence (retro.c): begin sets the alert's fields and
 *  an empty evidence object; finish adds "indicator", "matches" (and "matches_total"). */
void ward_alert_intel_begin(ward_alert_t *a, const char *device, const ward_intel_match_t *m,
                            int64_t first_seen_ms, int64_t last_seen_ms);
void ward_alert_intel_finish(ward_alert_t *a, const ward_intel_match_t *m, size_t n,
                             size_t total);

/** Release what the alert owns (the evidence). */
void ward_alert_clear(ward_alert_t *a);

/** The alert as JSON (shape above). New reference. */
json_t *ward_alert_json(const ward_alert_t *a);

/**
 * Store a, folding it into the existing alert with the same (device, type, fold key) if there is
 * one. On return a holds the stored alert (id, count, times, evidence) and *is_new says whether it
 * was created. Must run inside the caller's store transaction. 0 ok, -1 store error (logged).
 */
int ward_alerts_raise(struct ward_store *st, ward_alert_t *a, bool *is_new);

/* ---- JSON-lines sink ---- */

typedef struct ward_alert_sink ward_alert_sink_t;

/** Open (append, create) path; NULL with the reason in err on failure. */
ward_alert_sink_t *ward_alert_sink_open(const char *path, char *err, size_t err_len);

/** Append the alert as one JSON line and flush. 0 ok, -1 write error (logged once per failure). */
int ward_alert_sink_write(ward_alert_sink_t *s, const ward_alert_t *a);

void ward_alert_sink_close(ward_alert_sink_t *s);

#endif
