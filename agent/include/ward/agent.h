/*
 * The ward agent core: public API.
 *
 * The caller owns all memory: one ward_agent_t (its size fixed at compile time by
 * ward_config_defaults.h) and the report buffer passed to ward_agent_poll(). The core never
 * allocates, never calls the OS, and never blocks.
 *
 * Typical glue (see docs/agent.md):
 *
 *     static ward_agent_t agent;
 *     static uint8_t report_buf[WARD_REPORT_BUFFER_SIZE];
 *     ward_agent_config_t cfg;
 *     ward_agent_config_init(&cfg);
 *     cfg.device_id = "sensor-0042";
 *     cfg.boot_id = random32();
 *     cfg.transport = &my_transport;
 *     ward_agent_init(&agent, &cfg, now_ms());
 *     // in the IP stack's input and output paths, for every IP packet:
 *     ward_agent_on_packet(&agent, WARD_DIR_INBOUND, ip_bytes, ip_len, now_ms());
 *     // in the application loop, every second or so:
 *     ward_agent_poll(&agent, now_ms(), report_buf, sizeof report_buf);
 *
 * Threading: see docs/agent.md. ward_agent_on_packet() may run in another thread or an interrupt
 * than the other functions; all other functions must be called from one thread.
 */
#ifndef WARD_AGENT_H
#define WARD_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "ward/proto.h"
#include "ward/status.h"
#include "ward/transport.h"
#include "ward/ward_config_defaults.h"
#include "ward/agent_types.h" /* defines ward_agent_t (opaque: use only the functions below) */

/** Agent version, reported in WARD_RK_AGENT_VERSION. */
#define WARD_AGENT_VERSION "0.1.0"

/** Settings given to ward_agent_init(). Fill with ward_agent_config_init() first. */
typedef struct ward_agent_config {
    const char *device_id;              /**< 1..64 of [A-Za-z0-9._-]; copied */
    uint32_t boot_id;                   /**< random per boot */
    uint32_t report_interval_s;         /**< default WARD_REPORT_INTERVAL_S */
    int time_base;                      /**< enum ward_time_base of the now_ms values given */
    const ward_transport_t *transport;  /**< where report parts go; must outlive the agent */
} ward_agent_config_t;

/** Fill cfg with defaults (no device id, no transport). */
void ward_agent_config_init(ward_agent_config_t *cfg);

/**
 * Initialise the agent.
 * @return WARD_OK, or WARD_E_ARG (NULL pointer, invalid device id, no transport, interval 0).
 */
ward_status_t ward_agent_init(ward_agent_t *agent, const ward_agent_config_t *cfg, uint64_t now_ms);

/**
 * The packet hook: account one IP packet (IPv4 or IPv6, starting at the IP header).
 * @param dir    WARD_DIR_OUTBOUND for packets the device sends, WARD_DIR_INBOUND for received.
 * @param packet the IP packet; only read, never kept.
 * @param len    bytes available at packet (may be less than the IP length: a capture snap length).
 * @return WARD_OK (counted in a flow or the overflow summary), WARD_E_MALFORMED (counted by
 *         reason), WARD_E_ARG (NULL agent or packet, bad dir), WARD_DROP (counted; a deny-list
 *         rule says the port should drop this packet).
 */
ward_status_t ward_agent_on_packet(ward_agent_t *agent, int dir, const uint8_t *packet, size_t len,
                                   uint64_t now_ms);

/**
 * Send a report when one is due (report interval elapsed, or a priority detection pending).
 * Encodes into buf and hands each part to the transport; a report larger than cap is split into
 * numbered parts. Data the transport did not accept stays and is reported next time.
 * @return WARD_OK (report sent), WARD_NOTHING (none due), WARD_E_AGAIN (transport said later;
 *         nothing lost), WARD_E_BUFFER (cap below WARD_REPORT_MIN_BUFFER), WARD_E_ARG.
 */
ward_status_t ward_agent_poll(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap);

/** Like ward_agent_poll() but sends a report now, due or not (shutdown, end of a capture). */
ward_status_t ward_agent_flush(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap);

/**
 * Add n to an application counter (reported in WARD_RK_COUNTERS as a total since boot).
 * Call from the report side's thread, like ward_agent_poll().
 * @param counter WARD_CTR_MSGS_SENT, WARD_CTR_MSGS_RECEIVED, WARD_CTR_CONNECT_ATTEMPTS,
 *                WARD_CTR_AUTH_FAILURES or WARD_CTR_PARSE_ERRORS; the other counters belong to
 *                the agent.
 * @return WARD_OK, or WARD_E_ARG (NULL or uninitialised agent, counter not an application one).
 */
ward_status_t ward_agent_note(ward_agent_t *agent, int counter, uint32_t n);

#endif /* WARD_AGENT_H */
