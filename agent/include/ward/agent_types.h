/*
 * ward_agent_t: the agent's whole state, in one struct the caller allocates (usually static).
 *
 * The struct is visible only so that its size is known at compile time; every field is private to
 * agent/src/ and may change in any release. Use the functions of ward/agent.h.
 *
 * Sizes (x86-64 and Cortex-M4, default configuration; the unit test test_sizes prints them):
 *  - one flow entry (ward__flow_t) is 48 bytes for IPv4 and IPv6 alike, plus one hash bucket
 *    index (1 byte while WARD_MAX_FLOWS < 255, else 2) for each of 2+ buckets per flow;
 *  - ward_agent_t with WARD_MAX_FLOWS 64: 3800 bytes on Cortex-M4, 3808 on x86-64.
 */
#ifndef WARD_AGENT_TYPES_H
#define WARD_AGENT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "ward/proto.h"
#include "ward/status.h"
#include "ward/transport.h"
#include "ward/ward_config_defaults.h"

/* Hash index buckets: the power of two at least twice WARD_MAX_FLOWS, so that the index is at most
 * half full and a lookup rarely probes past its first bucket. */
#if WARD_MAX_FLOWS <= 4
#define WARD__FLOW_BUCKETS 8u
#elif WARD_MAX_FLOWS <= 8
#define WARD__FLOW_BUCKETS 16u
#elif WARD_MAX_FLOWS <= 16
#define WARD__FLOW_BUCKETS 32u
#elif WARD_MAX_FLOWS <= 32
#define WARD__FLOW_BUCKETS 64u
#elif WARD_MAX_FLOWS <= 64
#define WARD__FLOW_BUCKETS 128u
#elif WARD_MAX_FLOWS <= 128
#define WARD__FLOW_BUCKETS 256u
#elif WARD_MAX_FLOWS <= 256
#define WARD__FLOW_BUCKETS 512u
#elif WARD_MAX_FLOWS <= 512
#define WARD__FLOW_BUCKETS 1024u
#elif WARD_MAX_FLOWS <= 1024
#define WARD__FLOW_BUCKETS 2048u
#elif WARD_MAX_FLOWS <= 2048
#define WARD__FLOW_BUCKETS 4096u
#elif WARD_MAX_FLOWS <= 4096
#define WARD__FLOW_BUCKETS 8192u
#elif WARD_MAX_FLOWS <= 8192
#define WARD__FLOW_BUCKETS 16384u
#elif WARD_MAX_FLOWS <= 16384
#define WARD__FLOW_BUCKETS 32768u
#elif WARD_MAX_FLOWS <= 32768
#define WARD__FLOW_BUCKETS 65536u
#else
#define WARD__FLOW_BUCKETS 131072u
#endif

/* A bucket holds a flow's index + 1 (0 = empty): one byte while that fits. */
#if WARD_MAX_FLOWS < 255
typedef uint8_t ward__flow_ref_t;
#else
typedef uint16_t ward__flow_ref_t;
#endif

/* Bits of ward__flow_t.meta. The address family is not stored: it is the family of the flow's
 * local address (both addresses of a packet have one family). */
#define WARD__FM_LOCAL_MASK 0x0fu  /* index into the local address table */
#define WARD__FM_INIT_SHIFT 4u     /* enum ward_direction of the initiator, 2 bits */
#define WARD__FM_INIT_MASK 0x30u
#define WARD__FM_CONTINUED 0x40u   /* reported (and accepted) at least once */
#define WARD__FM_ACTIVE 0x80u      /* accepted in a report since the last complete report */

/**
 * One flow (private). 48 bytes for either family, with no padding: an IPv4 remote address uses the
 * first 4 bytes of `remote` (the rest zero), and times are whole seconds since ward_agent_init().
 * The counters are deltas since the flow was last reported and accepted.
 */
typedef struct ward__flow {
    uint8_t remote[16];   /* remote address, network byte order */
    uint32_t pkts_out;    /* counters saturate at UINT32_MAX rather than wrap */
    uint32_t pkts_in;
    uint32_t bytes_out;   /* IP bytes, headers included (the IP length, not the captured one) */
    uint32_t bytes_in;
    uint32_t first_s;     /* first packet since last reported; valid while packets > 0 */
    uint32_t last_s;      /* last packet */
    uint16_t local_port;  /* host byte order; ICMP: 0 */
    uint16_t remote_port; /* host byte order; ICMP: type * 256 + code */
    uint8_t proto;        /* IP protocol number */
    uint8_t meta;         /* WARD__FM_* bits */
    uint8_t tcp_out;      /* TCP flags OR-ed, device -> remote */
    uint8_t tcp_in;       /* TCP flags OR-ed, remote -> device */
} ward__flow_t;

/** One entry of the overflow summary (private); all counts zero = free. */
typedef struct ward__overflow {
    uint8_t proto;
    uint8_t dir;
    uint32_t flows;
    uint32_t packets;
    uint32_t bytes;
} ward__overflow_t;

/**
 * The agent (private fields: use the functions of ward/agent.h). Allocate one per device, usually
 * static; ward_agent_init() fills it. Shared between the packet hook and the report side under
 * WARD_ENTER_CRITICAL(): flows, buckets, flow_count, local_*, overflow*, malformed, counters.
 * Owned by the report side alone: the rest.
 */
typedef struct ward_agent {
    uint32_t magic;                           /* WARD__AGENT_MAGIC once initialised */
    char device_id[WARD_DEVICE_ID_MAX + 1];
    uint32_t boot_id;
    uint32_t interval_s;
    uint8_t time_base;
    const ward_transport_t *transport;
    uint32_t hash_seed;                       /* from boot_id: collisions differ per boot */

    uint64_t base_ms;                         /* now_ms at init: flow times count from here */
    uint64_t period_start_ms;                 /* start of the oldest unreported data */
    uint64_t next_due_ms;                     /* when ward_agent_poll() reports next */
    uint32_t seq;                             /* seq of the next report */

    uint32_t flow_count;                      /* flows[0 .. flow_count) are in use */
    ward__flow_t flows[WARD_MAX_FLOWS];
    ward__flow_ref_t buckets[WARD__FLOW_BUCKETS];

    uint8_t local_addr[WARD_MAX_LOCAL_ADDRS][16];
    uint16_t local_refs[WARD_MAX_LOCAL_ADDRS]; /* flows using each address; 0 = reusable */
    uint8_t local_family[WARD_MAX_LOCAL_ADDRS]; /* 4 or 6 */
    uint8_t local_count;                        /* slots [0, local_count) hold an address */
    uint8_t local_hint;                         /* last slot matched: checked first */

    ward__overflow_t overflow[WARD_OVERFLOW_SLOTS];
    uint8_t overflow_seen[WARD_OVERFLOW_FILTER_BITS / 8];

    uint32_t malformed[WARD_MF_COUNT_];       /* per reason, since last reported */
    uint64_t counters[WARD_CTR_COUNT_];       /* totals since boot */
} ward_agent_t;

/* ---- Functions added since agent.h was written ----------------------------------------------
 * Declared here because every user of ward/agent.h includes this header; they belong beside the
 * others in ward/agent.h and move there with the next edit of that file. */


#endif /* WARD_AGENT_TYPES_H */
