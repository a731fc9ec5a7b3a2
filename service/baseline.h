/*
 * baseline: learned behaviour of a security group (opt-in with "learn" in the group document).
 *
 * During the learning window (window_s from when the document was applied) every report of every
 * device of the group adds to what is normal: the remote networks it talks to, outbound and
 * inbound separately (addresses widened to /ipv4_prefix and /ipv6_prefix), the remote ports of its
 * outbound TCP/UDP flows, the protocols, and per report the lowest and highest value of each metric
 * (connections, distinct remotes, bytes and packets each way). After the window, a report that
 * leaves that raises:
 *   baseline.new_destination  a network, port or protocol not seen while learning
 *                             (fold key "out:198.51.100.0/24", "in:...", "port:tcp/8080",
 *                             "protocol:gre")
 *   baseline.out_of_range     a metric outside [lo - margin, hi + margin], margin = margin_pct
 *                             of the learned value (fold key: the metric's name)
 * These alerts are folded while the deviation repeats and are never resolved automatically.
 *
 * freeze turns what was learned into explicit rules (rules.h JSON) with ids "learned.<kind>".
 *
 * Threads: owned by the worker (through the registry's group); wardctl uses its own copy.
 */
#ifndef WARD_BASELINE_H
#define WARD_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rules.h"

#define WARD_BASELINE_WINDOW_MIN 60
#define WARD_BASELINE_WINDOW_MAX (90 * 86400)
/** Most networks learned per direction (past it, new ones are not learned). */
#define WARD_BASELINE_NETS_MAX 4096

typedef struct ward_baseline_spec {
    uint32_t window_s;
    uint8_t ipv4_prefix; /**< 8..32, default 24 */
    uint8_t ipv6_prefix; /**< 16..128, default 48 */
    uint32_t margin_pct; /**< 0..1000, default 50 */
} ward_baseline_spec_t;

typedef struct ward_baseline ward_baseline_t;

/** Validate a "learn" object. 0 ok; -1 with err "learn.window_s: ..." */
int ward_baseline_spec_parse(const json_t *learn, ward_baseline_spec_t *out, char *err,
                             size_t errlen);

/** A baseline learning from started_ms. NULL when out of memory. */
ward_baseline_t *ward_baseline_new(const ward_baseline_spec_t *spec, int64_t started_ms);
void ward_baseline_free(ward_baseline_t *bl);

/** Restore what was learned from ward_baseline_learned_json output. 0 ok, -1 malformed. */
int ward_baseline_load(ward_baseline_t *bl, const json_t *learned);

/** True while now_ms is inside the learning window. */
bool ward_baseline_learning(const ward_baseline_t *bl, int64_t now_ms);

/**
 * Feed one complete sample: while learning, learn from it (returns 0); afterwards, emit
 * baseline.* deviations through fn (returns 0 or what fn returned).
 */
int ward_baseline_sample(ward_baseline_t *bl, const char *group, const char *device,
                         const ward_sample_t *s, ward_event_fn fn, void *ctx);

/** True when learning changed something since the last call (then cleared). */
bool ward_baseline_take_dirty(ward_baseline_t *bl);

/**
 * What was learned: {"window_s", "started", "until", "learning", "samples", "outbound_networks",
 * "inbound_networks", "remote_ports": ["tcp/443", ...], "protocols": ["tcp", ...],
 * "ranges": {"bytes_out": {"min", "max"}, ...}}. now_ms decides "learning". New reference.
 */
json_t *ward_baseline_learned_json(const ward_baseline_t *bl, int64_t now_ms);

/** What was learned as explicit rules (a JSON array of rule objects). New reference. */
json_t *ward_baseline_freeze(const ward_baseline_t *bl);

#endif
