/*
 * rules: the custom alert rules of a security group (docs/rules.md), their validation, and their
 * evaluation with alarm states.
 *
 * Model. A group document's "rules" array parses into a ward_ruleset_t, immutable once parsed.
 * Each device has a ward_rules_device_t that the worker owns: its report history (for windows), its
 * message counters (to turn totals since boot into deltas per boot), and per rule an alarm state:
 *
 *   ok ──(alarm_after consecutive violating datapoints)──> in_alarm  : alert raised (or reopened)
 *   in_alarm ──(violating datapoint)──> in_alarm                     : alert folded (count + 1)
 *   in_alarm ──(clear_after consecutive clean datapoints)──> cleared : alert resolved
 *   in_alarm ──(device silent for invalidate_after intervals)──> invalidated : alert stays active,
 *        its evidence says "alarm": "invalidated"; evaluation starts afresh on the next report
 *
 * A datapoint is one report (all its parts: parts of one report are gathered and evaluated once,
 * when the last part arrives or when the next report starts). A rule with no data in a report
 * (c2d/d2c without counters) has no datapoint there: its counts neither advance nor reset.
 *
 * Evaluation does not touch the store: it calls an emit function with events (raise, resolve,
 * invalidate) that the caller turns into alerts (groupcheck.c). Learned baselines (baseline.h)
 * are fed from the same datapoints.
 *
 * Threads: a ruleset is immutable and may be shared; a device state is used by one thread.
 */
#ifndef WARD_RULES_H
#define WARD_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "addr.h"
#include "flow.h"
#include "wire.h"

/** Hysteresis bounds (consecutive datapoints to alarm and to clear). */
#define WARD_RULE_HYST_MIN 1
#define WARD_RULE_HYST_MAX 10
/** Longest window a range rule may have (7 days). */
#define WARD_RULE_WINDOW_MAX 604800
/** Largest number a rule accepts (2^53: exact in JSON doubles everywhere). */
#define WARD_RULE_VALUE_MAX ((int64_t)1 << 53)
/** Most entries in a CIDR, port or protocol set. */
#define WARD_RULE_SET_MAX 4096
/** Rule ids: 1..64 of [A-Za-z0-9._-]. */
#define WARD_RULE_ID_MAX 64
/** Most flows quoted in the evidence of one alarm. */
#define WARD_RULE_EVIDENCE_FLOWS 10
/** invalidate_after: report intervals of silence that invalidate an alarm (default, bounds). */
#define WARD_RULE_INVALIDATE_DEFAULT 3
#define WARD_RULE_INVALIDATE_MAX 1000
/** Report interval assumed for a device that never said its interval (s). */
#define WARD_RULE_INTERVAL_DEFAULT 60

typedef enum ward_rule_kind {
    WARD_RULE_ACTIVE_CONNECTIONS,
    WARD_RULE_OUTBOUND_IP,
    WARD_RULE_INBOUND_IP,
    WARD_RULE_C2D_MESSAGES,
    WARD_RULE_D2C_MESSAGES,
    WARD_RULE_LISTENING_PORT,
    WARD_RULE_REMOTE_PORT,
    WARD_RULE_PROTOCOL,
    WARD_RULE_BYTES_IN,
    WARD_RULE_BYTES_OUT,
    WARD_RULE_PACKETS_IN,
    WARD_RULE_PACKETS_OUT,
    WARD_RULE_DISTINCT_REMOTES,
    WARD_RULE_KIND_COUNT_
} ward_rule_kind_t;

typedef enum ward_rule_op {
    WARD_OP_RANGE, /**< min and/or max (inclusive) */
    WARD_OP_LT,
    WARD_OP_LE,
    WARD_OP_GT,
    WARD_OP_GE,
    WARD_OP_IN_CIDR_SET,
    WARD_OP_NOT_IN_CIDR_SET,
    WARD_OP_IN_PORT_SET,
    WARD_OP_NOT_IN_PORT_SET,
    WARD_OP_IN_SET,
    WARD_OP_NOT_IN_SET
} ward_rule_op_t;

typedef struct ward_rule_cidr {
    uint8_t b[16];  /**< IPv4 mapped into ::ffff:0:0/96 */
    uint8_t prefix; /**< in the mapped space (IPv4 /24 is 120) */
} ward_rule_cidr_t;

typedef struct ward_rule_ports {
    uint16_t lo, hi;
} ward_rule_ports_t;

typedef struct ward_rule {
    char id[WARD_RULE_ID_MAX + 1]; /**< unique in the group; default: the type */
    ward_rule_kind_t kind;
    bool enabled;
    char severity[16];
    int alarm_after, clear_after;
    ward_rule_op_t op;
    int64_t lo, hi;    /**< allowed range (range kinds), inclusive; hi = INT64_MAX when open */
    uint32_t window_s; /**< 0: the report alone */
    ward_rule_cidr_t *cidrs;
    size_t n_cidrs;
    ward_rule_ports_t *ports;
    size_t n_ports;
    bool protos[256];  /**< the protocol set */
    uint8_t direction; /**< remote_port: WARD_DIR_OUTBOUND, _INBOUND or _UNKNOWN (= both) */
    json_t *json;      /**< the rule as written, with "id" filled in (evidence, freeze) */
} ward_rule_t;

typedef struct ward_ruleset {
    ward_rule_t *rules;
    size_t n;
    uint32_t invalidate_after; /**< report intervals of silence that invalidate an alarm */
    uint32_t max_window_s;     /**< the longest window of any rule */
    bool distinct;             /**< a rule counts distinct connections or remotes */
    bool distinct_windowed;    /**< ... over a window (each datapoint keeps its hashes) */
    uint64_t gen;              /**< unique per parsed ruleset (device states rebind on change) */
} ward_ruleset_t;

/** "rule.bytes_out" ... */
const char *ward_rule_kind_name(ward_rule_kind_t k);
/** True and *out for a known type name. */
bool ward_rule_kind_parse(const char *name, ward_rule_kind_t *out);
/** Operator name ("lt", "in-cidr-set", ...; "range" for min/max). */
const char *ward_rule_op_name(ward_rule_op_t op);

/**
 * Parse and validate a group document's "rules" (may be NULL: no rules) and "invalidate_after"
 * (may be NULL: default). NULL with the first problem in err, as "rules[3].max: must be >= min".
 */
ward_ruleset_t *ward_ruleset_parse(const json_t *rules, const json_t *invalidate_after, char *err,
                                   size_t errlen);
/** An empty ruleset (the implicit default group). */
ward_ruleset_t *ward_ruleset_empty(void);
void ward_ruleset_free(ward_ruleset_t *rs);

/** True when the address is inside the CIDR. */
bool ward_rule_cidr_contains(const ward_rule_cidr_t *c, const ward_addr_t *a);
/** Parse "a.b.c.d[/n]" or "v6[/n]" (host bits are cleared). */
bool ward_rule_cidr_parse(const char *s, ward_rule_cidr_t *out);
/** Text form ("10.0.0.0/8", "2001:db8::/32"). buf >= 64 bytes. */
void ward_rule_cidr_format(const ward_rule_cidr_t *c, char *buf, size_t len);

/* ---- Evaluation --------------------------------------------------------------------------- */

/** One datapoint: everything one report (all its parts) said, as the rules see it. */
typedef struct ward_sample {
    int64_t t_ms; /**< when it was received (service clock) */
    uint32_t boot_id;
    uint64_t seq;
    uint32_t parts, part_count;
    ward_flow_t *flows;
    size_t n_flows, cap_flows;
    ward_wire_listen_t *listening;
    size_t n_listening, cap_listening;
    bool borrowed; /**< flows and listening are the caller's (a one-part report), not owned */
    bool has_listening;
    bool has_counters;
    uint64_t msgs_sent, msgs_received; /**< totals since boot (report key 21) */
    uint32_t interval_s;               /**< 0 when the report did not say */
} ward_sample_t;

/** Per-report metrics of a sample (also what baselines learn). */
typedef enum ward_metric {
    WARD_METRIC_ACTIVE_CONNECTIONS,
    WARD_METRIC_DISTINCT_REMOTES,
    WARD_METRIC_BYTES_IN,
    WARD_METRIC_BYTES_OUT,
    WARD_METRIC_PACKETS_IN,
    WARD_METRIC_PACKETS_OUT,
    WARD_METRIC_COUNT_
} ward_metric_t;

const char *ward_metric_name(ward_metric_t m);
/** The metric's value for the sample alone. */
uint64_t ward_sample_metric(const ward_sample_t *s, ward_metric_t m);

typedef enum ward_event_action {
    WARD_EVENT_RAISE,     /**< alarm (new or reopened) or still in alarm: raise/fold */
    WARD_EVENT_RESOLVE,   /**< alarm cleared (or its rule went away): resolve */
    WARD_EVENT_INVALIDATE /**< device silent while in alarm: mark the alert's evidence */
} ward_event_action_t;

typedef struct ward_event {
    ward_event_action_t action;
    const char *type;     /**< alert type: "rule.bytes_out", "baseline.new_destination", ... */
    const char *fold_key; /**< with device and type, the alert's identity (rule id, ...) */
    const char *severity;
    const char *title;
    json_t *evidence; /**< borrowed for the call */
    int64_t t_ms;
} ward_event_t;

/** Receives events; a non-zero return stops evaluation and is returned (store error). */
typedef int (*ward_event_fn)(void *ctx, const char *device, const ward_event_t *ev);

typedef struct ward_rules_device ward_rules_device_t;
struct ward_baseline;

/** Create a device's rule state (device id copied). NULL when out of memory. */
ward_rules_device_t *ward_rules_device_new(const char *device);
void ward_rules_device_free(ward_rules_device_t *d);

/** The evaluation context: the device's group now. */
typedef struct ward_rules_ctx {
    const char *group;
    const ward_ruleset_t *rules;    /**< never NULL */
    struct ward_baseline *baseline; /**< may be NULL */
    ward_event_fn emit;
    void *emit_ctx;
} ward_rules_ctx_t;

/**
 * Feed one decoded report part received at now_ms. Parts of one report are gathered; the sample is
 * evaluated when its last part arrives (or when a part of another report arrives first).
 * flows: r's flows as the service keeps them (ward_flow_from_wire, r->n_flows of them), when the
 * caller has them already; NULL to have them built here. 0 ok, -1 out of memory, or what emit
 * returned.
 */
int ward_rules_report(ward_rules_device_t *d, const ward_rules_ctx_t *cx,
                      const ward_wire_report_t *r, const ward_flow_t *flows, int64_t now_ms);

/**
 * Housekeeping at now_ms: evaluate a report whose missing parts are overdue (a report interval),
 * and invalidate alarms of a device silent for invalidate_after intervals. 0 ok or emit's return.
 */
int ward_rules_tick(ward_rules_device_t *d, const ward_rules_ctx_t *cx, int64_t now_ms);

/** Alarm state of one rule for a device: "ok", "in_alarm", "cleared", "invalidated". */
const char *ward_rules_state(const ward_rules_device_t *d, const char *rule_id);

/** Mark a rule as in alarm without an event (restoring state after a restart). */
void ward_rules_restore_alarm(ward_rules_device_t *d, const ward_rules_ctx_t *cx,
                              const char *rule_id);

/** When the device last reported (ms), 0 never. */
int64_t ward_rules_last_report(const ward_rules_device_t *d);

#endif
