/*
 * store: the SQLite database (WAL mode): devices, report parts seen, flows, alerts.
 *
 * Writer: one connection opened read-write, owned by the worker thread; it batches work in
 * explicit transactions (ward_store_begin / ward_store_commit). Readers (wardctl) open their own
 * read-only connection and never create a database.
 *
 * Schema (version 2; times are ms since the Unix epoch, UTC):
 *   meta(key PK, value)                       schema_version = 2
 *   devices(id PK, first_seen, last_seen, agent_version, boot_id, last_seq, reports, flows,
 *           config_rev)
 *       first/last_seen: service receive time; reports: report parts accepted; flows: flows in
 *       them; config_rev: the agent config revision in force (report key 10; 0 = built-in), from
 *       the newest report (added by ALTER TABLE to databases created before it)
 *   report_parts(id PK, device, boot_id, seq, part, received, digest, time_base, payload)
 *       UNIQUE(device, boot_id, seq, part)
 *       one row per part processed, in the order stored: the duplicate filter (survives
 *       restarts; digest is a 64-bit FNV-1a of the payload, for replay detection: 0 in a row
 *       that has its payload, whose digest ward_store_part_digest computes when asked) and the
 *       flow history: payload is the part's CBOR as received, time_base the absolute time of
 *       its period_start, from which its flows' times are computed (flow.h). One row per report
 *       instead of one per flow is what lets one writer keep up with a fleet
 *       (docs/performance.md).
 *   flows(...)  schema 1 only: one row per flow, kept and still read in a migrated database;
 *       its report_parts rows have no payload. Nothing writes it any more.
 *   flow_overflow(id PK, device, boot_id, seq, protocol, direction, flows, packets, bytes,
 *                 first_seen, last_seen)
 *       one row per overflow summary entry per report part (traffic the agent's flow table had
 *       no room for); direction 'inbound'|'outbound'|'unknown'; first/last_seen = the period
 *   alerts(id PK, type, severity, device, title, fold_key, first_seen, last_seen, count, state,
 *          evidence JSON text) UNIQUE(device, type, fold_key)
 *
 * Threads: a ward_store_t is used by one thread at a time.
 */
#ifndef WARD_STORE_H
#define WARD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alerts.h"
#include "flow.h"

typedef struct ward_store ward_store_t;

/** What one accepted report part tells about its device. */
typedef struct ward_store_device {
    const char *id;
    const char *agent_version;
    uint32_t boot_id;
    uint64_t seq;
    int64_t seen_ms;  /**< receive time */
    uint64_t n_flows; /**< flows stored from this part */
} ward_store_device_t;

/**
 * Open the database. Writer (readonly false): creates the file and schema if needed, WAL mode.
 * Reader (readonly true): the file must exist and be a ward database. NULL + err on failure.
 */
ward_store_t *ward_store_open(const char *path, bool readonly, char *err, size_t err_len);
void ward_store_close(ward_store_t *st);

/** Transactions. 0 ok, -1 error (logged). */
int ward_store_begin(ward_store_t *st);
int ward_store_commit(ward_store_t *st);
void ward_store_rollback(ward_store_t *st);

/** One report part as received. */
typedef struct ward_store_part {
    const char *device;
    uint32_t boot_id;
    uint64_t seq;
    uint32_t part;
    uint64_t digest; /**< 64-bit FNV-1a of the payload; may be 0 when payload is given */
    int64_t received_ms;
    int64_t time_base_ms;   /**< absolute time of the report's period_start (ward_flow_time_base) */
    const uint8_t *payload; /**< the report's CBOR, kept as the flow history (may be NULL) */
    size_t len;
} ward_store_part_t;

/** Record a report part and keep its bytes. 1 = new, 0 = already processed (a duplicate: nothing
 *  written), -1 = error. */
int ward_store_part_seen(ward_store_t *st, const ward_store_part_t *p);

/** Create or update the device with one more accepted part. 0 ok, -1 error. */
int ward_store_device_upsert(ward_store_t *st, const ward_store_device_t *d);

/** The config revision in force (report key 10) from report (boot_id, seq) of an upserted device:
 *  written only when that report is the device's newest. 0 ok, -1 error. */
int ward_store_device_config_rev(ward_store_t *st, const char *device, uint32_t boot_id,
                                 uint64_t seq, uint64_t config_rev);

struct ward_wire_overflow;
/** Store one overflow summary entry of report (boot_id, seq) for the period [first_ms, last_ms].
 *  0 ok, -1 error. */
int ward_store_overflow_insert(ward_store_t *st, const char *device, uint32_t boot_id, uint64_t seq,
                               const struct ward_wire_overflow *o, int64_t first_ms,
                               int64_t last_ms);

/** Alert by key: 1 found (into *out, evidence owned by caller), 0 none, -1 error. */
int ward_store_alert_find(ward_store_t *st, const char *device, const char *type,
                          const char *fold_key, ward_alert_t *out);
/** Insert a new alert; sets a->id. 0 ok, -1 error. */
int ward_store_alert_insert(ward_store_t *st, ward_alert_t *a);
/** Update count, times, state, evidence of alert a->id. 0 ok, -1 error. */
int ward_store_alert_update(ward_store_t *st, const ward_alert_t *a);

/* ---- Reading (wardctl). device NULL = all devices; limit 0 = no limit. NULL on error. ---- */

/** [{"id","first_seen","last_seen","agent_version","boot_id","last_seq","reports","flows",
 *     "config_rev"}] */
json_t *ward_store_devices_json(ward_store_t *st, const char *device);
/** [ward_flow_json(...)], oldest first. */
json_t *ward_store_flows_json(ward_store_t *st, const char *device, long limit);
/**
 * [{"device","overflow":true,"protocol","direction","flows","packets","bytes","packets_in",
 *   "packets_out","bytes_in","bytes_out","first_seen","last_seen"}], oldest first: the overflow
 * summaries of the reports (first/last_seen = the report's period). packets/bytes also appear
 * under the flows' names for the entry's direction (0 for the other one; both 0 for an unknown
 * direction). An empty array for a database older than the table.
 */
json_t *ward_store_overflow_json(ward_store_t *st, const char *device, long limit);
/** [ward_alert_json(...)], by id. */
json_t *ward_store_alerts_json(ward_store_t *st, const char *device, long limit);

/* ---- For modules that own their own tables (hygiene: recommendations) ---- */

/** The digest of a processed part (computed from its stored payload when it has one): 1 found
 *  (*digest set), 0 none, -1 error. */
int ward_store_part_digest(ward_store_t *st, const char *device, uint32_t boot_id, uint64_t seq,
                           uint32_t part, uint64_t *digest);

/** The connection's SQLite handle (same thread rule as the store). */
struct sqlite3 *ward_store_sqlite(ward_store_t *st);

/** True when the database of db has a table of that name (false on any error). */
bool ward_store_table_exists(struct sqlite3 *db, const char *table);

/** True for a connection opened read-only. */
bool ward_store_readonly(const ward_store_t *st);

/** The last SQLite error message of this connection. */
const char *ward_store_errmsg(ward_store_t *st);

/**
 * How many transactions of this connection have been rolled back so far (explicitly or by
 * SQLite after an error). Modules that keep an in-memory copy of rows they wrote (hygiene) drop
 * it when this changes: the rows of a rolled-back transaction are gone.
 */
uint64_t ward_store_rollbacks(const ward_store_t *st);

#endif
