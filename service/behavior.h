/*
 * behavior: built-in behaviour detectors that look at what each report says a device did and
 * raise alerts for scans, floods, brute force, exfiltration, silence and replay.
 *
 * Detectors (alert types; docs/alerts.md has triggers, evidence and remediation):
 *   behavior.port_scan     one remote touches >= min_ports distinct local ports within window_s
 *                          (TCP connects, SYN-only probes answered by RST, UDP probes, and
 *                          outbound ICMP/ICMPv6 port-unreachable replies to that remote)
 *   behavior.host_sweep    the device contacts >= min_hosts distinct remotes on one remote port
 *                          (or with ICMP echo) within window_s
 *   behavior.syn_flood     >= min_syns inbound SYNs that never completed, to one local port,
 *                          within window_s, from one remote or many
 *   behavior.icmp_flood    >= min_packets inbound ICMP/ICMPv6 echo requests within window_s
 *   behavior.brute_force   >= min_connections short (<= max_duration_s) inbound TCP connections
 *                          from one remote to one local port within window_s
 *   behavior.exfiltration  bytes out per second above mean + k_sigma * sigma of the device's own
 *                          history (EWMA), above min_bytes, after min_history reports
 *   device.silent          no report for missed_intervals report intervals (periodic tick)
 *   device.replay          a sequence number going backwards within one boot, or a report part
 *                          (boot_id, seq, part) repeated with a different payload digest
 *
 * Overflow summary: flows a device could not track are counted by protocol and direction only, so
 * they cannot name a remote or a port. They still count: inbound TCP/UDP untracked flows are added
 * to the port count of the remote that touched the most ports in the same report (or raise a
 * port scan with remote "*" when no tracked flow names one), outbound untracked flows to the
 * busiest host-sweep port, inbound untracked TCP packets to a SYN flood pattern, inbound untracked
 * ICMP packets to the ICMP flood count, and untracked outbound bytes to the exfiltration volume.
 *
 * State: small per-device state (recent remotes and ports per window, EWMA, last boot/seq, last
 * report time) in memory, owned by the thread that owns the processor. It is lost on restart:
 * exfiltration then needs min_history reports again, and device.silent knows a device again once
 * it has reported after the restart.
 *
 * Windows are measured on the service's receive clock (the received_ms/now_ms passed in), so a
 * device clock cannot stretch or shrink them; a scan spread over several reports received within
 * window_s is seen as one.
 *
 * Threads: a ward_behavior_t is used by one thread (the processor's worker). The config
 * functions are pure and may run anywhere (wardctl validates group files with them).
 */
#ifndef WARD_BEHAVIOR_H
#define WARD_BEHAVIOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alerts.h"
#include "ward/status.h"
#include "wire.h"

#define WARD_ALERT_PORT_SCAN "behavior.port_scan"
#define WARD_ALERT_HOST_SWEEP "behavior.host_sweep"
#define WARD_ALERT_SYN_FLOOD "behavior.syn_flood"
#define WARD_ALERT_ICMP_FLOOD "behavior.icmp_flood"
#define WARD_ALERT_BRUTE_FORCE "behavior.brute_force"
#define WARD_ALERT_EXFILTRATION "behavior.exfiltration"
#define WARD_ALERT_SILENT "device.silent"
#define WARD_ALERT_REPLAY "device.replay"

/** How often the worker runs ward_behavior_tick (device.silent), in ms. */
#define WARD_BEHAVIOR_TICK_MS 5000

/**
 * Every detector threshold, per security group. Defaults (ward_behavior_config_defaults) are in
 * brackets; ranges are what ward_behavior_config_parse accepts. All windows are in seconds.
 */
typedef struct ward_behavior_config {
    struct {
        bool enabled;       /**< [true] */
        uint32_t min_ports; /**< [20] distinct local ports from one remote, 2..65535 */
        uint32_t window_s;  /**< [300] 1..86400 */
    } port_scan;
    struct {
        bool enabled;       /**< [true] */
        uint32_t min_hosts; /**< [20] distinct remotes on one remote port, 2..1000000 */
        uint32_t window_s;  /**< [300] 1..86400 */
    } host_sweep;
    struct {
        bool enabled;      /**< [true] */
        uint32_t min_syns; /**< [200] uncompleted inbound SYNs to one local port, 2..100000000 */
        uint32_t window_s; /**< [60] 1..86400 */
    } syn_flood;
    struct {
        bool enabled;         /**< [true] */
        uint32_t min_packets; /**< [600] inbound echo requests, 2..100000000 */
        uint32_t window_s;    /**< [60] 1..86400 */
    } icmp_flood;
    struct {
        bool enabled;             /**< [true] */
        uint32_t min_connections; /**< [20] short connections remote -> one port, 2..1000000 */
        uint32_t max_duration_s;  /**< [10] a connection this long or shorter is short, 0..3600 */
        uint32_t window_s;        /**< [300] 1..86400 */
    } brute_force;
    struct {
        bool enabled;         /**< [true] */
        double k_sigma;       /**< [4.0] 0.5..100 */
        uint64_t min_bytes;   /**< [1048576] bytes out in the report, floor, 1..2^53 */
        uint32_t min_history; /**< [10] reports before it can fire, 1..100000 */
        double alpha;         /**< [0.1] EWMA weight of a new report, 0.001..1 */
    } exfiltration;
    struct {
        bool enabled;                /**< [true] */
        uint32_t missed_intervals;   /**< [3] report intervals without a report, 1..1000 */
        uint32_t default_interval_s; /**< [60] when the device never said its interval, 1..86400 */
    } silent;
    struct {
        bool enabled; /**< [true] */
    } replay;
} ward_behavior_config_t;

/** Fill *c with the documented defaults (every detector enabled). */
void ward_behavior_config_defaults(ward_behavior_config_t *c);

/**
 * Parse a group file's "detectors" object into *out, starting from the defaults: every key is
 * optional; a detector may be given as an object of thresholds (with an optional "enabled"
 * bool) or as a bare bool (enabled or not). Unknown detectors or keys, wrong types and values
 * outside their range are refused with a precise message in err, e.g.
 *   "detectors.port_scan.min_ports: must be 2..65535"
 *   "detectors.port_scan: unknown key \"min_port\""
 *   "detectors.scan: unknown detector (known: port_scan, host_sweep, ...)"
 * detectors may be NULL (all defaults). Detector names are the alert types without their prefix
 * (port_scan, host_sweep, syn_flood, icmp_flood, brute_force, exfiltration, silent, replay).
 * Returns WARD_OK, WARD_E_MALFORMED (wrong type, unknown key) or WARD_E_RANGE; on error *out
 * holds the defaults.
 */
ward_status_t ward_behavior_config_parse(const json_t *detectors, ward_behavior_config_t *out,
                                         char *err, size_t errlen);

/** The config as a "detectors" JSON object (every detector, every key). New reference. */
json_t *ward_behavior_config_json(const ward_behavior_config_t *c);

/* ---- Detection (the processor's worker) ---- */

/**
 * Where detectors send alerts: the processor stores (folds) the alert, counts it and queues it
 * for the sink. The callee does not keep a; the caller clears it. 0 ok, -1 store error.
 */
typedef int (*ward_behavior_emit_fn)(void *ctx, ward_alert_t *a);

typedef struct ward_behavior ward_behavior_t;

struct ward_store;

/**
 * New detector state. emit is called with ctx for every alert. store (borrowed, may be NULL) is
 * the processor's write connection, used to resolve a device.silent alert when the device
 * reports again. NULL on allocation failure.
 */
ward_behavior_t *ward_behavior_new(struct ward_store *store, ward_behavior_emit_fn emit, void *ctx);
void ward_behavior_free(ward_behavior_t *b);

/**
 * Run the detectors on one accepted (new, not duplicate) report part of r->device_id received at
 * received_ms, with the device's group config cfg (NULL = defaults). Checks replay first
 * (sequence going backwards). 0 ok, -1 when emit failed (store error).
 */
int ward_behavior_report(ward_behavior_t *b, const ward_wire_report_t *r,
                         const ward_behavior_config_t *cfg, int64_t received_ms);

/**
 * A report part whose (boot_id, seq, part) was already processed: raise device.replay when
 * digest differs from stored_digest (same part, different content). 0 ok, -1 emit failed.
 */
int ward_behavior_duplicate(ward_behavior_t *b, const ward_wire_report_t *r,
                            const ward_behavior_config_t *cfg, uint64_t digest,
                            uint64_t stored_digest, int64_t received_ms);

/**
 * Periodic check (device.silent), run every WARD_BEHAVIOR_TICK_MS by the worker inside a
 * transaction. cfg_of returns the config of a device's group (NULL or returning NULL = defaults).
 * A silent alert is resolved when the device reports again. 0 ok, -1 emit failed.
 */
typedef const ward_behavior_config_t *(*ward_behavior_config_of_fn)(void *ctx, const char *device);
int ward_behavior_tick(ward_behavior_t *b, int64_t now_ms, ward_behavior_config_of_fn cfg_of,
                       void *cfg_ctx);

/** Devices with state held in memory (tests, metrics). */
size_t ward_behavior_devices(const ward_behavior_t *b);

#endif
