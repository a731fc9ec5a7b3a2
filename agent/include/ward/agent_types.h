/*
 * ward_agent_t: the agent's whole state, in one struct the caller allocates (usually static).
 *
 * The struct is visible only so that its size is known at compile time; every field is private to
 * agent/src/ and may change in any release. Use the functions of ward/agent.h.
 *
 * Sizes (x86-64 and Cortex-M4, default configuration; the unit test test_sizes prints them):
 *  - one flow entry (ward__flow_t) is 44 bytes for IPv4 and IPv6 alike, plus its share of the
 *    hash index: 2 buckets per flow when WARD_MAX_FLOWS is a power of two (more otherwise, up to
 *    4), of 1 byte while WARD_MAX_FLOWS < 255, else 2. So 46 bytes per flow at 64 flows and 48 at
 *    256 or 1024 (Cortex-M4 and x86-64 alike);
 *  - ward_agent_t with WARD_MAX_FLOWS 64: 4840 bytes on Cortex-M4, 4864 on x86-64, of which
 *    about 1.9 KB are fixed (config and deny-list, detections, metrics, system information,
 *    listening-socket snapshot, overflow summary, local addresses, counters).
 */
#ifndef WARD_AGENT_TYPES_H
#define WARD_AGENT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "ward/port.h"
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

/* A flow time that reached its largest value (WARD__FLOW_T_SAT seconds, 18.2 hours, after the
 * table's time base): see ward__flow_t. */
#define WARD__FLOW_T_SAT 0xffffu

/**
 * One flow (private). 44 bytes for either family, with no padding: an IPv4 remote address uses the
 * first 4 bytes of `remote` (the rest zero). The counters are deltas since the flow was last
 * reported and accepted.
 *
 * Times are 16-bit whole seconds after the table's time base (ward_agent_t.flow_t0_s: the start of
 * the period being accumulated, in seconds since ward_agent_init()), which moves to the new period
 * start after each complete report (the few flows with packets left are rebased then). They
 * saturate at WARD__FLOW_T_SAT: a period longer than 65535 s (a report interval above 18.2 hours,
 * or a long transport outage) reports `first` as at most 65535 s (a lower bound) and a saturated
 * `last` as the period end (an upper bound), so first <= last <= period end still holds. Periods
 * up to 65535 s lose nothing.
 */
typedef struct ward__flow {
    uint8_t remote[16];   /* remote address, network byte order */
    uint32_t pkts_out;    /* counters saturate at UINT32_MAX rather than wrap */
    uint32_t pkts_in;
    uint32_t bytes_out;   /* IP bytes, headers included (the IP length, not the captured one) */
    uint32_t bytes_in;
    uint16_t first_t;     /* first packet since last reported (s after flow_t0_s, saturating);
                             valid while packets > 0 */
    uint16_t last_t;      /* last packet (likewise) */
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

/** One deny-list entry (private): a CIDR with its host bits cleared. 19 bytes. */
typedef struct ward__deny {
    uint8_t addr[16]; /* network byte order, bits past prefix zero; IPv4 in the first 4 bytes */
    uint8_t prefix;   /* 0..32 (IPv4) or 0..128 (IPv6) */
    uint8_t family;   /* 4 or 6 */
    uint8_t action;   /* enum ward_deny_action */
} ward__deny_t;

/** The part of the config the service sets (private); validated whole before it is swapped in. */
typedef struct ward__config {
    uint64_t revision;  /* 0 = built-in */
    uint32_t interval_s;
    uint8_t collectors; /* enum ward_collector bits */
    uint8_t deny_count;
    ward__deny_t deny[WARD_MAX_DENY > 0 ? WARD_MAX_DENY : 1];
} ward__config_t;

/** One on-device detection (private): a (rule, remote address) pair and its packets. */
typedef struct ward__detect {
    uint8_t remote[16];   /* network byte order */
    uint32_t count;       /* packets since last reported (and accepted) */
    uint32_t time_s;      /* first of those packets, seconds since init */
    uint16_t remote_port; /* of the first packet; ICMP: type * 256 + code */
    uint16_t local_port;
    uint8_t rule;         /* index in the deny-list in force */
    uint8_t dir;          /* enum ward_direction of the first packet */
    uint8_t proto;
    uint8_t family;       /* 4 or 6; 0 = free slot */
    uint8_t action;       /* enum ward_deny_action */
    uint8_t sent;         /* reported at least once this period (no new priority report) */
} ward__detect_t;

/** One named custom metric (private); len 0 = free. */
typedef struct ward__metric {
    int64_t value;
    char name[WARD_METRIC_NAME_MAX]; /* not NUL-terminated */
    uint8_t len;
} ward__metric_t;

/** Indexes of the sysinfo strings (private): keys WARD_SK_OS .. WARD_SK_IP_STACK. */
#define WARD__SI_STRINGS 4u
#define WARD__SI_TLS 0x01u    /* bits of ward_agent_t.si_flags */
#define WARD__SI_SYNCED 0x02u
#define WARD__SI_SET 0x04u    /* ward_agent_set_sysinfo() was called */

/**
 * The agent (private fields: use the functions of ward/agent.h). Allocate one per device, usually
 * static; ward_agent_init() fills it. Shared between the packet hook and the report side under
 * WARD_ENTER_CRITICAL(): flows, buckets, flow_count, flow_t0_s, flow_t0_next_s, flow_rebased,
 * local_*, overflow*, malformed, counters, collectors, deny_count, deny, detect, prio. Owned by the
 * report side alone: the rest
 * (docs/agent.md, "Threading model").
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


    uint8_t local_addr[WARD_MAX_LOCAL_ADDRS][16];
    uint16_t local_refs[WARD_MAX_LOCAL_ADDRS]; /* flows using each address; 0 = reusable */
    uint8_t local_family[WARD_MAX_LOCAL_ADDRS]; /* 4 or 6 */
    uint8_t local_count;                        /* slots [0, local_count) hold an address */
    uint8_t local_hint;                         /* last slot matched: checked first */

    ward__overflow_t overflow[WARD_OVERFLOW_SLOTS];
    uint8_t overflow_seen[WARD_OVERFLOW_FILTER_BITS / 8];

    uint32_t malformed[WARD_MF_COUNT_];       /* per reason, since last reported */
    uint64_t counters[WARD_CTR_COUNT_];       /* totals since boot */

    /* Config in force. collectors, deny_count and deny are read by the hook (critical section);
     * config_rev and base_interval_s by the report side only. */
    uint64_t config_rev;
    uint32_t base_interval_s;                 /* interval given to init: a config's default */
    uint8_t collectors;
    uint8_t deny_count;
    ward__deny_t deny[WARD_MAX_DENY > 0 ? WARD_MAX_DENY : 1];

    /* Last config message rejected, until a report carrying it is accepted (report side). */
    uint8_t cs_pending;
    uint8_t cs_status;                        /* ward_status_t */
    uint64_t cs_rev;
    const char *cs_reason;                    /* a constant string */

    /* Detections (hook and report side, critical section); prio: a new one wants a priority
     * report. prio_next_ms: report side, retry time of a refused priority report. */
    ward__detect_t detect[WARD_MAX_DETECTIONS];
    uint8_t prio;
    uint64_t prio_next_ms;

    /* Collectors (report side). */
    ward_listening_fn listen_fn;
    void *listen_ctx;
    ward_listen_t listen[WARD_MAX_LISTEN];    /* snapshot taken for the report being written */
    uint8_t listen_count;
    uint8_t si_flags;                         /* WARD__SI_* */
    uint8_t si_due;                           /* send at the next report (boot, change) */
    uint8_t si_len[WARD__SI_STRINGS];
    char si_str[WARD__SI_STRINGS][WARD_SYSINFO_STR_MAX];
    uint64_t si_next_ms;                      /* periodic resend */
#if WARD_MAX_METRICS > 0
    ward__metric_t metrics[WARD_MAX_METRICS];
#endif

    /* The flow table last: the fields above keep small offsets (short load instructions on
     * Cortex-M) whatever WARD_MAX_FLOWS is. Flow times count from flow_t0_s; while the report side
     * rebases the table to a new time base (report.c, evict_idle), flows [0, flow_rebased) count
     * from flow_t0_next_s already (flow_rebased is 0 otherwise). */
    uint32_t flow_t0_s;                       /* seconds since init */
    uint32_t flow_t0_next_s;
    uint32_t flow_rebased;
    uint32_t flow_count;                      /* flows[0 .. flow_count) are in use */
    ward__flow_t flows[WARD_MAX_FLOWS];
    ward__flow_ref_t buckets[WARD__FLOW_BUCKETS];
} ward_agent_t;

/* ---- Functions added since agent.h was written ----------------------------------------------
 * Declared here because every user of ward/agent.h includes this header; they belong beside the
 * others in ward/agent.h and move there with the next edit of that file. */


#endif /* WARD_AGENT_TYPES_H */
