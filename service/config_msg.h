/*
 * config_msg: the config message the service publishes, retained, on ward/v1/<id>/config
 * (docs/protocol.md section 5; keys in agent/include/ward/proto.h, enum ward_config_key):
 * validation, CBOR encoding, decoding of untrusted bytes, JSON rendering, and the parsers of the
 * operator's text (a deny entry "CIDR[:alert|drop]", a collector list "flows,listening").
 *
 * The rules are the agent's (agent/src/config.c), so that what wardctl accepts the agent applies,
 * and what the decoder refuses the agent would refuse with the same status:
 *  - revision > 0; interval 10..86400 s; collectors: bits of enum ward_collector (unknown bits are
 *    refused when encoding, ignored when decoding, as a later minor version may add some);
 *  - a deny entry is [addr bstr (4|16), prefix 0..32|0..128, action 0 alert | 1 drop], and drop
 *    with prefix 0 is refused (it would cut the device off from the service);
 *  - at most WARD_CONFIG_MSG_DENY_MAX entries (the agent's WARD_MAX_DENY default).
 * Statuses as in the protocol: WARD_E_INCOMPLETE, WARD_E_MALFORMED, WARD_E_UNSUPPORTED,
 * WARD_E_RANGE, WARD_E_FULL; WARD_E_BUFFER when the encoder's buffer is too small.
 *
 * The decoder has no recursion and allocates nothing: it reads every head against the end of the
 * buffer and skips the values of unknown keys with a fixed stack WARD_CONFIG_MSG_DEPTH_MAX deep.
 *
 * Threads: pure functions.
 */
#ifndef WARD_CONFIG_MSG_H
#define WARD_CONFIG_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "addr.h"
#include "ward/proto.h"
#include "ward/status.h"

/** Most deny-list entries (the agent's WARD_MAX_DENY default). */
#define WARD_CONFIG_MSG_DENY_MAX 8
/** Deepest nesting the decoder accepts (the agent's WARD_CONFIG_DEPTH_MAX default). */
#define WARD_CONFIG_MSG_DEPTH_MAX 4
/** Interval bounds, s. */
#define WARD_CONFIG_MSG_INTERVAL_MIN 10
#define WARD_CONFIG_MSG_INTERVAL_MAX 86400
/** Largest encoded message: header, interval, collectors and 8 IPv6 entries fit in 256 bytes. */
#define WARD_CONFIG_MSG_MAX 512

typedef struct ward_config_deny {
    uint8_t family; /**< 4 (4-byte address on the wire) or 6 (16 bytes) */
    uint8_t addr[16];
    uint8_t prefix; /**< in the address's own length: 0..32 or 0..128 */
    uint8_t action; /**< enum ward_deny_action */
} ward_config_deny_t;

typedef struct ward_config_msg {
    uint64_t major, minor; /**< encode writes WARD_PROTO_MAJOR/MINOR whatever these hold */
    uint64_t revision;
    bool has_interval, has_collectors, has_deny;
    uint32_t interval;
    uint32_t collectors; /**< enum ward_collector bits */
    size_t n_deny;
    ward_config_deny_t deny[WARD_CONFIG_MSG_DENY_MAX];
} ward_config_msg_t;

/** An empty message (no optional field) with revision rev. */
void ward_config_msg_init(ward_config_msg_t *m, uint64_t rev);

/** Check m against the rules above. WARD_OK, or the status and a reason naming the field. */
ward_status_t ward_config_msg_validate(const ward_config_msg_t *m, char *reason, size_t reason_len);

/**
 * Validate, then encode m as CBOR (shortest heads, definite lengths, keys in order) into
 * buf[0..cap); *len gets its size. WARD_E_BUFFER when cap is too small.
 */
ward_status_t ward_config_msg_encode(const ward_config_msg_t *m, uint8_t *buf, size_t cap,
                                     size_t *len, char *reason, size_t reason_len);

/**
 * Decode and validate an untrusted config message. WARD_OK with *m filled, or the status the
 * agent would reject it with and a reason ("key 2 (interval): 5 is outside 10..86400").
 * An empty buffer is WARD_E_INCOMPLETE (an empty retained message is no config at all).
 */
ward_status_t ward_config_msg_decode(const uint8_t *buf, size_t len, ward_config_msg_t *m,
                                     char *reason, size_t reason_len);

/**
 * JSON: {"version":[1,0],"revision":N,"interval":S?,"collectors":["flows",...]?,
 *        "deny":[{"cidr":"203.0.113.0/24","action":"alert"},...]?}; absent fields are left out
 * (the device then uses its built-in value). New reference, NULL when out of memory.
 */
json_t *ward_config_msg_json(const ward_config_msg_t *m);

/** Parse "CIDR[:alert|drop]" (no prefix = one address; default action alert). */
ward_status_t ward_config_msg_parse_deny(const char *s, ward_config_deny_t *d, char *reason,
                                         size_t reason_len);

/** Parse a comma-separated list of flows, listening, sysinfo, counters, metrics (or "none"). */
ward_status_t ward_config_msg_parse_collectors(const char *s, uint32_t *bits, char *reason,
                                               size_t reason_len);

/** "flows", "listening", "sysinfo", "counters", "metrics" for one bit; NULL for others. */
const char *ward_config_msg_collector_name(uint32_t bit);

/** "alert", "drop", or NULL. */
const char *ward_config_msg_action_name(unsigned action);

#endif
