/*
 * hygiene: security recommendations derived from what devices report, with a lifecycle. A
 * recommendation is identified by (device, type, key); it is opened when its condition is seen,
 * stays open (last_seen and evidence follow the latest report that shows it) and is resolved when
 * the condition clears. If the condition comes back it is opened again (first_seen restarts).
 *
 * Types (docs/hygiene.md has meaning, evidence and remediation):
 *   hygiene.insecure_service     an insecure service listens (telnet 23/2323, FTP 21, TFTP 69,
 *                                HTTP 80, MQTT 1883, SNMP 161, CoAP 5683, UPnP 1900); key
 *                                "tcp/23"... Resolved when a report's listening list lacks it.
 *   hygiene.open_ports           more than max_listening_ports listening ports
 *   hygiene.plaintext_transport  sysinfo tls false (key "report_transport"), or the device opens
 *                                plain MQTT (tcp/1883) or HTTP (tcp/80) connections (key
 *                                "tcp/1883", "tcp/80")
 *   hygiene.outdated_agent       agent version older than the newest seen in the device's group
 *   hygiene.outdated_firmware    firmware older than the newest seen in the device's group
 *   hygiene.time_not_synced      the device clock is not synced (sysinfo, else time base)
 *   hygiene.flow_table_overflow  the report has an overflow summary; suggests a capacity
 *   hygiene.report_interval      interval below min_interval_s ("too_short") or above
 *                                max_interval_s ("too_long")
 *   hygiene.shared_identity      one identity reporting from two places: boot ids or sequence
 *                                streams interleaving within shared_identity_window_s
 * Conditions seen only in traffic (plaintext connections, overflow, shared identity) are resolved
 * once resolve_after_s has passed without them; the others as soon as a report shows them gone.
 * Listening sockets and sysinfo are optional in reports: when a report does not carry them,
 * recommendations that depend on them are left as they are.
 *
 * Storage: tables recommendations and hygiene_devices (group, versions, flow capacity per
 * device), created by ward_hygiene_new in the store's database.
 *
 * Threads: a ward_hygiene_t is used by the thread that owns the store's write connection. The
 * reader (ward_hygiene_list_json) uses any read-only connection.
 */
#ifndef WARD_HYGIENE_H
#define WARD_HYGIENE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "wire.h"

#define WARD_REC_INSECURE_SERVICE "hygiene.insecure_service"
#define WARD_REC_OPEN_PORTS "hygiene.open_ports"
#define WARD_REC_PLAINTEXT "hygiene.plaintext_transport"
#define WARD_REC_OUTDATED_AGENT "hygiene.outdated_agent"
#define WARD_REC_OUTDATED_FIRMWARE "hygiene.outdated_firmware"
#define WARD_REC_TIME_NOT_SYNCED "hygiene.time_not_synced"
#define WARD_REC_FLOW_OVERFLOW "hygiene.flow_table_overflow"
#define WARD_REC_REPORT_INTERVAL "hygiene.report_interval"
#define WARD_REC_SHARED_IDENTITY "hygiene.shared_identity"

/** Thresholds (defaults in brackets). */
typedef struct ward_hygiene_config {
    uint32_t max_listening_ports;      /**< [8] more than this opens hygiene.open_ports */
    uint32_t min_interval_s;           /**< [30] shorter wastes messages and storage */
    uint32_t max_interval_s;           /**< [900] longer delays detection (silence = 3x) */
    uint32_t resolve_after_s;          /**< [3600] traffic conditions: quiet time to resolve */
    uint32_t shared_identity_window_s; /**< [600] interleaving within this counts */
    uint32_t shared_identity_events;   /**< [2] interleavings within the window to open */
} ward_hygiene_config_t;

void ward_hygiene_config_defaults(ward_hygiene_config_t *c);

struct ward_store;
typedef struct ward_hygiene ward_hygiene_t;

/**
 * Create the tables if needed (in the store's database, writer connection) and load the newest
 * versions per group. cfg NULL = defaults. NULL with err on failure.
 */
ward_hygiene_t *ward_hygiene_new(struct ward_store *store, const ward_hygiene_config_t *cfg,
                                 char *err, size_t errlen);
void ward_hygiene_free(ward_hygiene_t *h);

/**
 * Evaluate one accepted report part of r->device_id in security group group (NULL = "default")
 * at received_ms: open, refresh and resolve its recommendations. Runs inside the caller's
 * transaction. 0 ok, -1 database error (logged).
 */
int ward_hygiene_report(ward_hygiene_t *h, const ward_wire_report_t *r, const char *group,
                        int64_t received_ms);

/** Recommendations opened and resolved by this instance so far (for stats and tests). */
void ward_hygiene_counts(const ward_hygiene_t *h, uint64_t *opened, uint64_t *resolved);

/**
 * Compare two version strings ("1.2.10" > "1.2.9", "v2.0" = "2.0", "1.2.3-rc1" < "1.2.3").
 * Returns <0, 0, >0, or 0 when either has no number to compare (*comparable false).
 */
int ward_hygiene_version_cmp(const char *a, const char *b, bool *comparable);

/**
 * Recommendations as a JSON array, newest activity last, from any connection (an empty array
 * when the database has no recommendations table yet). device NULL = all. Each element:
 *   {"id", "type", "severity", "device", "key", "title", "description", "remediation",
 *    "evidence": {...}, "state": "open"|"resolved", "first_seen", "last_seen",
 *    "resolved_at" (resolved only)}   times ISO-8601 UTC
 * NULL on a database error.
 */
json_t *ward_hygiene_list_json(struct ward_store *store, const char *device);

#endif
