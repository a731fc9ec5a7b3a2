/*
 * Device traffic for the benchmarks (bench_traffic.c): packets through the real agent core, so that
 * the reports a benchmark encodes with ward_agent_poll() are what a device would send.
 */
#ifndef WARD_BENCH_TRAFFIC_H
#define WARD_BENCH_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
