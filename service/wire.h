/*
 * wire: decode and validate one CBOR report (ward wire protocol v1, agent/include/ward/proto.h and
 * docs/protocol.md) into a plain C struct, and render any report as JSON with named fields.
 *
 * Everything here treats its input as hostile: well-formedness, nesting depth and container sizes
 * are checked before any value is read, every known key's type and range is checked, and the
 * first problem is returned as a status and a one-line reason naming the key ("key 4 (seq):
 * expected uint"). Nothing is logged here: the caller knows the device and logs once.
 *
 * Compatibility (proto.h): unknown map keys are ignored, array positions past those known are
 * ignored, any minor version of major 1 is accepted, a duplicated known key is rejected.
 *
 * Threads: pure functions; a decoded report is owned by whoever decoded it.
 */
#ifndef WARD_WIRE_H
#define WARD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "addr.h"
#include "arena.h"
#include "ward/proto.h"
#include "ward/status.h"

/** Largest report accepted, in bytes (an MQTT payload can be far larger; a report never is). */
#define WARD_WIRE_REPORT_MAX (1u << 20)
/** Deepest CBOR nesting accepted (a v1 report needs 3). */
#define WARD_WIRE_DEPTH_MAX 16
/** Longest text field (agent version, sysinfo strings, config_status reason), in bytes. */
#define WARD_WIRE_TEXT_MAX 128
/** Longest custom metric name (proto: 1..32 characters). */
#define WARD_WIRE_METRIC_NAME_MAX 32
/** Largest time (ms) and time offset (s) accepted, so absolute times never overflow int64. */
#define WARD_WIRE_TIME_MAX ((uint64_t)1 << 53)
#define WARD_WIRE_OFFSET_MAX ((uint64_t)1 << 32)

typedef struct ward_wire_flow {
    uint8_t proto;
    uint8_t initiator;    /**< enum ward_direction; an unknown value reads as WARD_DIR_UNKNOWN */
    bool continued;       /**< WARD_FF_CONTINUED */
    uint32_t local_index; /**< index into local_addrs (checked) */
    uint16_t local_port;
    ward_addr_t remote_addr;
    uint16_t remote_port; /**< as sent: ICMP/ICMPv6 carry type * 256 + code here */
    uint64_t packets_out, packets_in, bytes_out, bytes_in;
    uint32_t first, last; /**< s from period_start; first <= last */
    bool has_tcp_flags;
    uint16_t tcp_flags; /**< out in bits 0-7, in in bits 8-15 */
} ward_wire_flow_t;

typedef struct ward_wire_overflow {
    uint8_t proto;
    uint8_t direction;
    uint64_t flows, packets, bytes;
} ward_wire_overflow_t;

typedef struct ward_wire_listen {
    uint8_t proto;
    ward_addr_t addr;
    uint16_t port;
} ward_wire_listen_t;

typedef struct ward_wire_detection {
    uint32_t kind;
    uint8_t direction;
    uint8_t proto;
    ward_addr_t remote_addr;
    uint16_t remote_port, local_port;
    uint64_t rule, action, count, time;
} ward_wire_detection_t;

/** One entry of the uint -> uint maps (counters, malformed). */
typedef struct ward_wire_kv {
    uint64_t key, value;
} ward_wire_kv_t;

typedef struct ward_wire_metric {
    char name[WARD_WIRE_METRIC_NAME_MAX + 1];
    int64_t value;
} ward_wire_metric_t;

typedef struct ward_wire_sysinfo {
    bool present;
    char os[WARD_WIRE_TEXT_MAX + 1], firmware[WARD_WIRE_TEXT_MAX + 1];
    char hardware[WARD_WIRE_TEXT_MAX + 1], ip_stack[WARD_WIRE_TEXT_MAX + 1];
    bool has_os, has_firmware, has_hardware, has_ip_stack;
    bool has_tls, tls, has_time_synced, time_synced, has_flow_capacity;
    uint64_t flow_capacity;
} ward_wire_sysinfo_t;

typedef struct ward_wire_report {
    uint64_t major, minor;
    char device_id[WARD_DEVICE_ID_MAX + 1];
    char agent_version[WARD_WIRE_TEXT_MAX + 1];
    uint32_t boot_id;
    uint64_t seq;
    uint64_t period_start, period_end; /**< ms in time_base */
    uint32_t part_index, part_count;   /**< [0, 1] when absent */
    uint8_t time_base;                 /**< enum ward_time_base */
    bool has_interval, has_config_rev, has_priority;
    bool has_listening; /**< key 19 present (even empty): the listening sockets are known */
    uint32_t interval;
    uint64_t config_rev;
    bool priority;

    size_t n_local_addrs, n_flows, n_overflow, n_listening, n_detections;
    size_t n_counters, n_metrics, n_malformed;
    ward_addr_t *local_addrs;
    ward_wire_flow_t *flows;
    ward_wire_overflow_t *overflow;
    ward_wire_listen_t *listening;
    ward_wire_detection_t *detections;
    ward_wire_kv_t *counters;
    ward_wire_metric_t *metrics;
    ward_wire_kv_t *malformed;
    ward_wire_sysinfo_t sysinfo;

    bool has_config_status;
    uint64_t config_status_rev, config_status_code;
    char config_status_reason[WARD_WIRE_TEXT_MAX + 1];
    bool in_arena; /**< the arrays belong to an arena (ward_wire_decode_in) */
} ward_wire_report_t;

/** True for 1..WARD_DEVICE_ID_MAX characters of [A-Za-z0-9._-] (len bytes, no NUL needed). */
bool ward_wire_device_id_valid(const char *id, size_t len);

/**
 * Extract and check the device id of a report topic "ward/v1/<id>/report" into id (size
 * WARD_DEVICE_ID_MAX + 1). False when the topic has another shape or the id is invalid.
 */
bool ward_wire_topic_device(const char *topic, char *id);

/**
 * Decode and validate one report. On WARD_OK, *out holds it (free with ward_wire_report_free).
 * Otherwise *out is empty and reason (if not NULL) says why:
 *  WARD_E_INCOMPLETE  the bytes end inside an item (truncated)
 *  WARD_E_MALFORMED   not well-formed CBOR, trailing bytes, too deep, too large, wrong types,
 *                     missing required keys, duplicated keys
 *  WARD_E_UNSUPPORTED protocol major version other than 1, unknown time base
 *  WARD_E_RANGE       a value outside its documented range (ports, ids, part index, ...)
 */
ward_status_t ward_wire_decode(const uint8_t *buf, size_t len, ward_wire_report_t *out,
                               char *reason, size_t reason_len);

/** As ward_wire_decode, with every array of out allocated in arena (NULL: malloc): freeing the
 *  arena frees them (ward_wire_report_free then only empties the struct). */
ward_status_t ward_wire_decode_in(const uint8_t *buf, size_t len, ward_wire_report_t *out,
                                  char *reason, size_t reason_len, ward_arena_t *arena);

/** Free what ward_wire_decode allocated; the struct is left empty. Safe on an empty struct. */
void ward_wire_report_free(ward_wire_report_t *r);

/**
 * Render a decoded report as a JSON object with named fields (the names of docs/protocol.md).
 * Flows show local_addr resolved from the address table, initiator as "inbound"/"outbound"/
 * "unknown", protocol by name, and for ICMP/ICMPv6 icmp_type/icmp_code with remote_port 0
 * (the same convention as the store). Returns a new reference, NULL on allocation failure.
 */
json_t *ward_wire_report_json(const ward_wire_report_t *r);

/**
 * Decode, validate and render in one go (wardctl decode, the fuzz target): like
 * ward_wire_report_json, plus any map keys this version does not know, under "unknown" by key.
 */
ward_status_t ward_wire_decode_json(const uint8_t *buf, size_t len, json_t **out, char *reason,
                                    size_t reason_len);

/** Protocol name: "tcp", "udp", "icmp", "icmpv6", else the number as text. buf >= 4 bytes. */
const char *ward_wire_proto_name(unsigned proto, char *buf, size_t len);

/** "outbound", "inbound" or "unknown". */
const char *ward_wire_direction_name(unsigned dir);

/** True for ICMP and ICMPv6, whose remote_port position carries type * 256 + code. */
bool ward_wire_proto_is_icmp(unsigned proto);

#endif
