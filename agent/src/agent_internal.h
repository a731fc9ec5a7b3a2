/*
 * Internal interfaces between the agent core's files (packet parser, flow table, report writer).
 * Not installed, not part of the API; the unit tests include it to test the parts one by one.
 */
#ifndef WARD_AGENT_INTERNAL_H
#define WARD_AGENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ward/agent.h"

/* ward_agent_t.magic once ward_agent_init() succeeded. */
#define WARD__AGENT_MAGIC 0x77617264u /* "ward" */

/* TCP flag bits (byte 13 of the TCP header). */
#define WARD__TCP_FIN 0x01u
#define WARD__TCP_SYN 0x02u
#define WARD__TCP_RST 0x04u
#define WARD__TCP_ACK 0x10u

/* One IP packet as the parser sees it. Pointers point into the caller's packet. */
typedef struct ward__pkt {
    const uint8_t *src;    /* source address, 4 or 16 bytes */
    const uint8_t *dst;    /* destination address */
    uint32_t ip_len;       /* IP length (header included) as the header says: the bytes counted */
    uint16_t sport;        /* TCP/UDP source port; 0 for other protocols */
    uint16_t dport;        /* TCP/UDP destination port; ICMP/ICMPv6: type * 256 + code */
    uint8_t proto;         /* transport protocol (after IPv6 extension headers) */
    uint8_t family;        /* 4 or 6 */
    uint8_t tcp_flags;     /* TCP only */
    uint8_t later_fragment;/* non-zero: a fragment other than the first; no transport header */
} ward__pkt_t;

/*
 * Parse an IP packet of len captured bytes. Returns WARD_OK with *pk filled, or WARD_E_MALFORMED
 * with *reason set to an enum ward_malformed. Reads nothing outside packet[0, len).
 */
ward_status_t ward__packet_parse(const uint8_t *packet, size_t len, ward__pkt_t *pk, int *reason);

/* Account one parsed packet: a flow, or the overflow summary. Call inside the critical section. */
void ward__flow_account(ward_agent_t *agent, const ward__pkt_t *pk, int dir, uint32_t now_s);

/* Hash index bucket holding flow idx, or WARD__FLOW_BUCKETS when not found (internal error). */
uint32_t ward__flow_bucket_of(const ward_agent_t *agent, uint32_t idx);

/* Remove flow idx from the table (moves the last flow into its place). Inside the critical
 * section; report side only. */
void ward__flow_remove(ward_agent_t *agent, uint32_t idx);

/* The overflow summary entry of (proto, dir), or NULL. */
ward__overflow_t *ward__overflow_find(ward_agent_t *agent, uint8_t proto, uint8_t dir);

/* ms / 1000 for any 64-bit ms, with 32-bit divisions only (no libgcc call on Cortex-M). */
uint64_t ward__div1000(uint64_t ms);

/* Seconds since init for now_ms (0 if the clock is behind the init time). */
uint32_t ward__agent_seconds(const ward_agent_t *agent, uint64_t now_ms);

/* Build and send a report now (ward_agent_poll/flush). priority: a priority report (header and
 * detections only, key 11 true) instead of a regular one. */
ward_status_t ward__report_send(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap,
                                int priority);

/* Deny-list check of one parsed packet (detect.c). Inside the critical section, only while
 * deny_count > 0. Records a detection on a hit; returns WARD_DROP when the rule says drop. */
ward_status_t ward__deny_check(ward_agent_t *agent, const ward__pkt_t *pk, int dir, uint32_t now_s);

/* A report part carrying count packets of detection (rule, remote) was accepted. Critical
 * section; report side. */
void ward__detect_settle(ward_agent_t *agent, unsigned rule, const uint8_t *remote, size_t alen,
                         uint64_t count);

/* A complete regular report was accepted: free detections with nothing left to report. Critical
 * section; report side. */
void ward__detect_period_end(ward_agent_t *agent);

/* Decode and check a config message into *c (fields left out take their built-in values).
 * *reason: a constant string saying why it was rejected. Reads only buf[0, len). */
ward_status_t ward__config_decode(const ward_agent_t *agent, const uint8_t *buf, size_t len,
                                  ward__config_t *c, const char **reason);

/* Saturating 32-bit add: counters stop at UINT32_MAX rather than wrap to small numbers. */
static inline uint32_t ward__sat_add32(uint32_t a, uint32_t b)
{
    uint32_t s = a + b;
    return s < a ? UINT32_MAX : s;
}

#endif /* WARD_AGENT_INTERNAL_H */
