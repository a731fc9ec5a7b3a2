/*
 * Device traffic for the benchmarks (bench_traffic.c): packets through the real agent core, so that
 * the reports a benchmark encodes with ward_agent_poll() are what a device would send.
 */
#ifndef WARD_BENCH_TRAFFIC_H
#define WARD_BENCH_TRAFFIC_H

#include <stdint.h>

#include "ward/agent.h"

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
