/*
 * Device traffic for the benchmarks (bench_traffic.c): packets through the real agent core, so that
 * the reports a benchmark encodes with ward_agent_poll() are what a device would send; the
 * report stream, feed and group that bench-ingest and bench-process share; and their small
 * helpers (clock, temp folder removal).
 */
#ifndef WARD_BENCH_TRAFFIC_H
#define WARD_BENCH_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ward/agent.h"

/* One report part as the agent core handed it to its transport (topic: set by the caller). */
typedef struct bench_blob {
    char topic[64];
    uint8_t *data;
    uint32_t len;
} bench_blob_t;

/* Where bench_capture_publish puts the parts: out[0..cap), n used; parts arriving while keep is
 * false are dropped (an agent replaying minutes whose reports are not wanted). */
typedef struct bench_capture {
    bench_blob_t *out;
    size_t n, cap;
    bool keep;
} bench_capture_t;

/* A ward_transport_t publish function (ctx: a bench_capture_t): copies each part (malloc'd). */
int32_t bench_capture_publish(void *ctx, const uint8_t *buf, size_t len, int priority);

/* splitmix64: the next pseudo-random number of the sequence whose state is *s. */
uint64_t bench_rng_next(uint64_t *s);

/*
 * A minute (starting at t_ms) of device dev's traffic, k its index: the MQTT/TLS link, DNS, NTP,
 * then n_other more connections (TCP or UDP, each from its own local port) to the device's four
 * servers, three in 198.18.0.0/15 and one in 2001:db8:c1ea::/48. A report of that minute holds
 * n_other + 3 flows or so.
 */
void bench_minute(ward_agent_t *a, unsigned dev, unsigned k, unsigned n_other, uint64_t t_ms);

/*
 * Start agent a as benchmark device dev at t0_ms: its id "dev-%06u" is written to id (which must
 * outlive the agent), boot id 0x5eed0000 + dev, a 60 s interval, a clock counting from boot, its
 * reports to tr.
 */
void bench_agent_start(ward_agent_t *a, unsigned dev, char id[32], const ward_transport_t *tr,
                       uint64_t t0_ms);

/*
 * Report k (0-based) of device dev as ward_agent_poll() encodes it: agent a is started afresh (same
 * boot id) and runs minutes 0..k with n_other connections each (bench_minute), so the result is
 * what the device would have sent then (sequence number k), without keeping 100,000 agents in
 * memory. Its parts are appended to cap (tr: a transport over cap), topics set.
 */
void bench_encode_report(ward_agent_t *a, unsigned dev, unsigned k, unsigned n_other,
                         bench_capture_t *cap, const ward_transport_t *tr);

/*
 * The benchmarks' intel feed: n random indicators in 11.0.0.0/8, one in ten a /24 (no flow of
 * bench_minute goes there: every lookup walks the index and misses, the common case), one per
 * line to f. False on a write error.
 */
bool bench_write_feed(FILE *f, unsigned n);

/* The "default" group's rules for the benchmarks (every device is in it): the traffic of
 * bench_minute is allowed, so every report is evaluated and none raises an alert. */
#define BENCH_DEFAULT_GROUP                                                                        \
    "{\"group\": \"default\", \"rules\": [\n"                                                      \
    " {\"type\": \"rule.outbound_ip_not_allowed\", \"operator\": \"in-cidr-set\",\n"               \
    "  \"values\": [\"10.0.0.0/8\", \"192.0.2.0/24\", \"198.18.0.0/15\", "                         \
    "\"2001:db8:c1ea::/48\"]},\n"                                                                  \
    " {\"type\": \"rule.remote_port_not_allowed\", \"operator\": \"in-port-set\",\n"               \
    "  \"values\": [53, 80, 123, 443, 5683, 8883]},\n"                                             \
    " {\"type\": \"rule.bytes_out\", \"max\": 100000000}]}\n"

/*
 * The benchmarks' report stream (bench-ingest, bench-process): n report parts of about 20 flows
 * (17 connections besides the MQTT link, DNS and NTP), from `devices` devices, round after round:
 * round k holds each device's report k (bench_encode_report with agent a). cap->out is allocated
 * for them (the caller frees each data and out). False when out of memory.
 */
bool bench_stream(ward_agent_t *a, size_t n, unsigned devices, bench_capture_t *cap);

/* CLOCK_MONOTONIC in seconds. */
double bench_now_s(void);

/* Remove dir and everything below it (errors ignored). */
void bench_rmtree(const char *dir);

#endif
