/*
 * Compile-time configuration of the agent core. Every knob is an #ifndef default with its range;
 * an integrator overrides any of them in its own "ward_config.h" (found on the include path),
 * included here unless WARD_NO_CUSTOM_CONFIG is defined. Inconsistent values fail at compile time.
 */
#ifndef WARD_CONFIG_DEFAULTS_H
#define WARD_CONFIG_DEFAULTS_H

#ifndef WARD_NO_CUSTOM_CONFIG
#if defined(__has_include)
#if __has_include("ward_config.h")
#include "ward_config.h"
#endif
#endif
#endif

/** Flow table capacity, both address families together. Range 4..65535. */
#ifndef WARD_MAX_FLOWS
#define WARD_MAX_FLOWS 64
#endif

/** Distinct local (device) addresses tracked: the device's own unicast addresses plus the
 *  multicast and broadcast destinations it receives (224.0.0.251, ff02::1, ...). Range 1..16. */
#ifndef WARD_MAX_LOCAL_ADDRS
#define WARD_MAX_LOCAL_ADDRS 8
#endif

/** Default report interval in seconds. Range 10..86400. Flow times are kept to the second up to
 *  65535 s into a period; a longer period (interval, or a transport outage) saturates them
 *  (ward__flow_t in agent_types.h). */
#ifndef WARD_REPORT_INTERVAL_S
#define WARD_REPORT_INTERVAL_S 60
#endif

/** Smallest report buffer ward_agent_poll() accepts: the largest fixed part of a report (64-char
 *  device id, 64-bit counters, every local address) plus one IPv6 flow. */
#ifndef WARD_REPORT_MIN_BUFFER
#define WARD_REPORT_MIN_BUFFER (400 + 17 * WARD_MAX_LOCAL_ADDRS + 4 * WARD_SYSINFO_STR_MAX)
#endif

/** A report buffer size that fits a typical report in one part. */
#ifndef WARD_REPORT_BUFFER_SIZE
#define WARD_REPORT_BUFFER_SIZE 2048
#endif

/**
 * Buckets probed at most per flow-table lookup. The hash index has at least twice as many buckets
 * as WARD_MAX_FLOWS, so a lookup almost always ends after one or two; the bound keeps the packet
 * hook's worst case fixed even under crafted collisions (a flow that finds no bucket within the
 * bound goes to the overflow summary, counted, like a flow that finds the table full).
 * Range 1..64.
 */
#ifndef WARD_FLOW_PROBE_MAX
#define WARD_FLOW_PROBE_MAX 16
#endif

/**
 * IPv6 extension headers walked at most before the transport header. A longer chain is counted
 * as malformed (WARD_MF_EXT_CHAIN); real traffic has at most two or three. Range 1..32.
 */
#ifndef WARD_IPV6_EXT_MAX
#define WARD_IPV6_EXT_MAX 8
#endif

/**
 * Entries of the overflow summary, each one (protocol, direction). Two of them are reserved for
 * protocol 255, which also collects any protocol that finds the summary itself full, so that no
 * packet is ever uncounted. Range 4..255.
 */
#ifndef WARD_OVERFLOW_SLOTS
#define WARD_OVERFLOW_SLOTS 16
#endif

/**
 * Bits of the filter that tells a new untracked flow from another packet of one already counted
 * in the overflow summary this period (WARD_OP_FLOWS). More bits undercount less when many flows
 * overflow. A power of two, 8..65536; costs WARD_OVERFLOW_FILTER_BITS / 8 bytes.
 */
#ifndef WARD_OVERFLOW_FILTER_BITS
#define WARD_OVERFLOW_FILTER_BITS 256
#endif

/**
 * Seconds to wait before trying again after a report the transport did not take (or that did not
 * fit the buffer); the data stays and the retry covers the longer period. Range 1..86400.
 */
#ifndef WARD_REPORT_RETRY_S
#define WARD_REPORT_RETRY_S 10
#endif

/**
 * Listening sockets taken from the port's ward_listening_fn per report (ward/port.h); more are
 * left out. Costs 20 bytes each in ward_agent_t. Range 1..255.
 */
#ifndef WARD_MAX_LISTEN
#define WARD_MAX_LISTEN 16
#endif

/** Bytes kept of each system-information string (ward_sysinfo_t). Range 8..64. */
#ifndef WARD_SYSINFO_STR_MAX
#define WARD_SYSINFO_STR_MAX 32
#endif

/** Seconds between two reports of the system information when it did not change (it is also sent
 *  on boot and on change). Range 60..604800; default 6 hours. */
#ifndef WARD_SYSINFO_PERIOD_S
#define WARD_SYSINFO_PERIOD_S 21600
#endif

/** Named custom metrics (ward_agent_metric_set()). Costs 48 bytes each. Range 0..64. */
#ifndef WARD_MAX_METRICS
#define WARD_MAX_METRICS 8
#endif

/** Deny-list entries a config may carry (CIDRs, IPv4 and IPv6). The packet hook compares the
 *  remote address of every packet with each entry while the list is not empty. Range 0..32. */
#ifndef WARD_MAX_DENY
#define WARD_MAX_DENY 8
#endif

/** Distinct (rule, remote address) detections held until reported; repeats add to a count. A hit
 *  that finds the table full is counted in WARD_CTR_DETECTIONS_LOST. Range 1..32. */
#ifndef WARD_MAX_DETECTIONS
#define WARD_MAX_DETECTIONS 4
#endif

/** Nesting depth the config decoder accepts (the config itself needs 3: map, deny list, entry;
 *  the rest is room for keys of later minor versions). Deeper is rejected. Range 3..16. */
#ifndef WARD_CONFIG_DEPTH_MAX
#define WARD_CONFIG_DEPTH_MAX 4
#endif

/**
 * Critical section around the short stretches of code where the packet hook and the other agent
 * functions touch shared state (a flow entry, a counter). The packet hook may run in an interrupt
 * or another thread than ward_agent_poll(); the port makes these two regions exclusive:
 *  - bare metal / RTOS with the hook in an interrupt: mask interrupts (e.g. save PRIMASK and
 *    disable, restore on exit; WARD_DECL_CRITICAL() declares the saved state);
 *  - RTOS or POSIX with the hook in another thread: a mutex or the RTOS critical section.
 * Every section is short and bounded (one flow update, or one entry copied for a report); none
 * nests or calls out. The default does nothing: correct when the hook and poll run in one thread.
 * WARD_DECL_CRITICAL() is placed where a declaration may go, before the first
 * WARD_ENTER_CRITICAL() of a function.
 */
#ifndef WARD_DECL_CRITICAL
#define WARD_DECL_CRITICAL() do { } while (0)
#endif
#ifndef WARD_ENTER_CRITICAL
#define WARD_ENTER_CRITICAL() do { } while (0)
#endif
#ifndef WARD_EXIT_CRITICAL
#define WARD_EXIT_CRITICAL() do { } while (0)
#endif

#if WARD_MAX_FLOWS < 4 || WARD_MAX_FLOWS > 65535
#error "WARD_MAX_FLOWS must be 4..65535"
#endif
#if WARD_MAX_LOCAL_ADDRS < 1 || WARD_MAX_LOCAL_ADDRS > 16
#error "WARD_MAX_LOCAL_ADDRS must be 1..16"
#endif
#if WARD_REPORT_INTERVAL_S < 10 || WARD_REPORT_INTERVAL_S > 86400
#error "WARD_REPORT_INTERVAL_S must be 10..86400"
#endif
#if WARD_REPORT_BUFFER_SIZE < WARD_REPORT_MIN_BUFFER
#error "WARD_REPORT_BUFFER_SIZE must be at least WARD_REPORT_MIN_BUFFER"
#endif

#if WARD_FLOW_PROBE_MAX < 1 || WARD_FLOW_PROBE_MAX > 64
#error "WARD_FLOW_PROBE_MAX must be 1..64"
#endif
#if WARD_IPV6_EXT_MAX < 1 || WARD_IPV6_EXT_MAX > 32
#error "WARD_IPV6_EXT_MAX must be 1..32"
#endif
#if WARD_OVERFLOW_SLOTS < 4 || WARD_OVERFLOW_SLOTS > 255
#error "WARD_OVERFLOW_SLOTS must be 4..255"
#endif
#if WARD_OVERFLOW_FILTER_BITS < 8 || WARD_OVERFLOW_FILTER_BITS > 65536 || \
    (WARD_OVERFLOW_FILTER_BITS & (WARD_OVERFLOW_FILTER_BITS - 1)) != 0
#error "WARD_OVERFLOW_FILTER_BITS must be a power of two, 8..65536"
#endif
/* Every report part repeats the local address table (flows refer to it by index): a part with a
 * short device id, the full table of IPv6 addresses and the largest single item (the system
 * information map) must fit in the smallest buffer. (The true worst case, with a 64-character id,
 * 64-bit counters, a config revision and a rejected-config status, is about
 * 330 + 17 * WARD_MAX_LOCAL_ADDRS + 4 * WARD_SYSINFO_STR_MAX bytes; test_collectors checks it:
 * poll() returns WARD_E_BUFFER, keeping the data, when a buffer cannot hold the fixed part of a
 * report.) */
#if WARD_REPORT_MIN_BUFFER < 180 + 17 * WARD_MAX_LOCAL_ADDRS + 4 * WARD_SYSINFO_STR_MAX
#error "WARD_REPORT_MIN_BUFFER is too small for WARD_MAX_LOCAL_ADDRS (see the comment above)"
#endif
#if WARD_REPORT_RETRY_S < 1 || WARD_REPORT_RETRY_S > 86400
#error "WARD_REPORT_RETRY_S must be 1..86400"
#endif
#if WARD_MAX_LISTEN < 1 || WARD_MAX_LISTEN > 255
#error "WARD_MAX_LISTEN must be 1..255"
#endif
#if WARD_SYSINFO_STR_MAX < 8 || WARD_SYSINFO_STR_MAX > 64
#error "WARD_SYSINFO_STR_MAX must be 8..64"
#endif
#if WARD_SYSINFO_PERIOD_S < 60 || WARD_SYSINFO_PERIOD_S > 604800
#error "WARD_SYSINFO_PERIOD_S must be 60..604800"
#endif
#if WARD_MAX_METRICS < 0 || WARD_MAX_METRICS > 64
#error "WARD_MAX_METRICS must be 0..64"
#endif
#if WARD_MAX_DENY < 0 || WARD_MAX_DENY > 32
#error "WARD_MAX_DENY must be 0..32"
#endif
#if WARD_MAX_DETECTIONS < 1 || WARD_MAX_DETECTIONS > 32
#error "WARD_MAX_DETECTIONS must be 1..32"
#endif
#if WARD_CONFIG_DEPTH_MAX < 3 || WARD_CONFIG_DEPTH_MAX > 16
#error "WARD_CONFIG_DEPTH_MAX must be 3..16"
#endif

#endif /* WARD_CONFIG_DEFAULTS_H */
