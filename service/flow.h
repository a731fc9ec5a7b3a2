/*
 * flow: one flow of one report as the service keeps it: local address resolved, times absolute
 * (ms since the epoch, service clock for devices whose clock is not synced), and its JSON form
 * (wardctl flows --json, alert evidence).
 *
 * ICMP and ICMPv6: the wire puts type * 256 + code in the remote port position. The service keeps
 * that raw value in remote_port_raw but stores and shows remote_port = 0 with icmp_type and
 * icmp_code beside it, so that a query on a port (remote_port = 2048?) never matches an ICMP
 * type by accident.
 *
 * Threads: values only.
 */
#ifndef WARD_FLOW_H
#define WARD_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "addr.h"
#include "ward/proto.h"

typedef struct ward_flow {
    char device[WARD_DEVICE_ID_MAX + 1];
    uint8_t proto;
    uint8_t initiator; /**< enum ward_direction */
    ward_addr_t local_addr, remote_addr;
    uint16_t local_port;
    uint16_t remote_port_raw; /**< as on the wire (ICMP: type * 256 + code) */
    uint64_t packets_in, packets_out, bytes_in, bytes_out;
    int64_t first_seen_ms, last_seen_ms;
    bool has_tcp_flags;
    uint16_t tcp_flags; /**< out in bits 0-7, in in bits 8-15 */
} ward_flow_t;

struct ward_wire_report;

/**
 * The absolute time (ms since the epoch) of a decoded report's period_start: a synced device's
 * clock is trusted; for one counting from boot, the end of its period is taken to be the moment
 * the service received the report (received_ms).
 */
int64_t ward_flow_time_base(const struct ward_wire_report *r, int64_t received_ms);

/** Flow i of decoded report r of device, with times from base_ms (ward_flow_time_base). */
void ward_flow_from_wire(ward_flow_t *f, const struct ward_wire_report *r, size_t i,
                         const char *device, int64_t base_ms);
/** The same for a device id whose length n is known (a report's flows share it). */
void ward_flow_from_wire_n(ward_flow_t *f, const struct ward_wire_report *r, size_t i,
                           const char *device, size_t n, int64_t base_ms);

/** remote_port as stored and shown: 0 for ICMP/ICMPv6, else the port. */
uint16_t ward_flow_remote_port(const ward_flow_t *f);

/**
 * Add the flow's fields to obj: protocol, local_addr, local_port, remote_addr, remote_port,
 * [icmp_type, icmp_code], the initiator under dir_key ("initiator" for flows, "direction" in alert
 * evidence), packets_in/out, bytes_in/out, first_seen, last_seen, [tcp_flags_out, tcp_flags_in].
 */
void ward_flow_json_fields(const ward_flow_t *f, json_t *obj, const char *dir_key);

/** {"device": ..., fields above with "initiator"}: the wardctl flows --json element. */
json_t *ward_flow_json(const ward_flow_t *f);

#endif
