/*
 * Helpers for the agent core's unit tests: packet builders, a transport that records what it is
 * given (and can refuse), and a report decoder built on libcbor that checks the report's shape
 * against proto.h as it goes.
 */
#ifndef WARD_TEST_UTIL_H
#define WARD_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent_internal.h"

/* ---- Packets ---- */

#define TU_TCP_FIN 0x01
#define TU_TCP_SYN 0x02
#define TU_TCP_RST 0x04
#define TU_TCP_PSH 0x08
#define TU_TCP_ACK 0x10

/* IPv4 header with optlen bytes of options (multiple of 4), then l4 (l4len bytes).
 * frag: the flags/fragment-offset field (host order). Returns the packet length. */
size_t tu_ipv4(uint8_t *out, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
               size_t optlen, uint16_t frag, const uint8_t *l4, size_t l4len);
/* IPv6 header, then ext (extlen bytes, already chained; nh is the first next-header), then l4. */
size_t tu_ipv6(uint8_t *out, const uint8_t src[16], const uint8_t dst[16], uint8_t nh,
               const uint8_t *ext, size_t extlen, const uint8_t *l4, size_t l4len);
/* Transport headers (with payload bytes of zero after them). */
size_t tu_tcp(uint8_t *out, uint16_t sport, uint16_t dport, uint8_t flags, size_t payload);
size_t tu_udp(uint8_t *out, uint16_t sport, uint16_t dport, size_t payload);
size_t tu_icmp(uint8_t *out, uint8_t type, uint8_t code, size_t payload);

/* One-call builders for the common cases. */
size_t tu_v4_tcp(uint8_t *out, const uint8_t src[4], const uint8_t dst[4], uint16_t sport,
                 uint16_t dport, uint8_t flags, size_t payload);
size_t tu_v4_udp(uint8_t *out, const uint8_t src[4], const uint8_t dst[4], uint16_t sport,
                 uint16_t dport, size_t payload);
size_t tu_v6_tcp(uint8_t *out, const uint8_t src[16], const uint8_t dst[16], uint16_t sport,
                 uint16_t dport, uint8_t flags, size_t payload);
size_t tu_v6_udp(uint8_t *out, const uint8_t src[16], const uint8_t dst[16], uint16_t sport,
                 uint16_t dport, size_t payload);

extern const uint8_t TU_DEV4[4];   /* 192.168.1.10 */
extern const uint8_t TU_DEV6[16];  /* 2001:db8::10 */
/* Remote addresses, numbered: 203.0.113.x / 2001:db8:ff::x (x = n & 0xff, upper bytes n >> 8). */
void tu_remote4(uint8_t out[4], unsigned n);
void tu_remote6(uint8_t out[16], unsigned n);

/* ---- Transport ---- */

#define TU_MAX_PARTS 4096

typedef struct tu_transport {
    ward_transport_t t;
    int accept;         /* number of parts to accept before refusing; -1 = all */
    int32_t refuse_ret; /* what to return when refusing: 0 or negative */
    size_t calls;       /* publish() calls */
    size_t nparts;      /* accepted parts recorded */
    uint8_t *parts[TU_MAX_PARTS];
    size_t lens[TU_MAX_PARTS];
} tu_transport_t;

void tu_transport_init(tu_transport_t *tt);
void tu_transport_free(tu_transport_t *tt);

/* An agent with device id "dev-1", boot id 7, interval 60 s, at now_ms, on transport tt. */
void tu_agent_init(ward_agent_t *a, tu_transport_t *tt, uint64_t now_ms);

/* ---- Reports ---- */

typedef struct tu_flow {
    size_t n;             /* positions present */
    uint64_t v[WARD_FP_COUNT_];
    uint8_t remote[16];
    size_t alen;
} tu_flow_t;

#define TU_MAX_FLOWS 8192

typedef struct tu_report {
    size_t nkeys;
    uint64_t version[2];
    char device_id[80];
    char agent_version[32];
    uint64_t boot_id, seq, start, end, part_i, part_n, time_base, interval;
    int has_part;
    size_t nlocal;
    uint8_t local[16][16];
    size_t local_len[16];
    int has_flows;
    size_t nflows;
    tu_flow_t flows[TU_MAX_FLOWS];
    size_t novf;
    uint64_t ovf[64][5];
    int has_counters;
    uint64_t counters[32];
    int has_malformed;
    uint64_t malformed[16];
    /* Collectors, config, detection (keys 10, 11, 19, 20, 22, 24, 25). */
    int has_config_rev;
    uint64_t config_rev;
    int priority;
    int has_listening;
    size_t nlisten;
    struct {
        uint64_t proto, port;
        uint8_t addr[16];
        size_t alen;
    } listen[64];
    int has_sysinfo;
    uint64_t si_seen; /* bit per sysinfo key present */
    char si_str[4][80];
    int si_tls, si_synced;
    uint64_t si_capacity;
    int has_metrics;
    size_t nmetrics;
    struct {
        char name[40];
        int64_t value;
    } metrics[64];
    int has_detections;
    size_t ndetect;
    struct {
        uint64_t v[10];
        uint8_t remote[16];
        size_t alen;
    } detect[32];
    int has_config_status;
    uint64_t cs_rev, cs_status;
    char cs_reason[80];
} tu_report_t;

/* Whether tu_decode() requires key 16 (flows) in a regular report (default 1; tests that turn
 * the flows collector off clear it). Priority reports (key 11) never need it. */
extern int tu_flows_required;

/* Decode one report part, asserting (cmocka) that its shape follows proto.h and that integers
 * use the shortest encoding. The result is static: valid until the next call. */
const tu_report_t *tu_decode(const uint8_t *buf, size_t len);

/* Totals over every accepted part so far: flows and overflow. */
typedef struct tu_totals {
    uint64_t flow_pkts, flow_bytes, ovf_pkts, ovf_bytes, ovf_flows, flows;
} tu_totals_t;
void tu_totals(const tu_transport_t *tt, size_t from_part, tu_totals_t *out);

#endif /* WARD_TEST_UTIL_H */
