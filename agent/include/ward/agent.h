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

#include "ward/port.h"
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

/* ---- Collectors, config and detection (port contract: ward/port.h) ------------------------- */

/**
 * Register the port's listening-socket source (ward/port.h, ward_listening_fn), called at report
 * time on the report side while the listening collector is enabled. fn NULL: none (key 19 absent).
 * @return WARD_OK, or WARD_E_ARG (NULL or uninitialised agent).
 */
ward_status_t ward_agent_set_listening(ward_agent_t *agent, ward_listening_fn fn, void *ctx);

/**
 * Set the system information (ward/port.h, ward_sysinfo_t): call at start and whenever a value
 * changes. Strings are copied (cut to WARD_SYSINFO_STR_MAX bytes at a UTF-8 character boundary).
 * The sysinfo map (report key 20) is sent in the first report, in the next report after a call
 * that changed a value, and every WARD_SYSINFO_PERIOD_S seconds.
 * @return WARD_OK, or WARD_E_ARG (NULL or uninitialised agent, NULL info).
 */
ward_status_t ward_agent_set_sysinfo(ward_agent_t *agent, const ward_sysinfo_t *info);

/**
 * Apply a config message: the payload received on ward/v1/<device-id>/config (docs/protocol.md,
 * section 5). All of it or none: the message is decoded and checked in full into a staging copy,
 * then swapped in under the critical section. A field left out takes its built-in value (the
 * interval given to ward_agent_init(), every collector on, no deny-list), so a config message is
 * the whole desired state. When the interval changes, the next report is due at most one new
 * interval after the last one (at once if that time has passed).
 * A rejected message leaves the config in force unchanged; the next report carries
 * config_status [revision (0 when unreadable), status, reason] (key 25).
 * @return WARD_OK (applied; its revision is echoed in report key 10),
 *         WARD_E_ARG (NULL or uninitialised agent, NULL cbor with len > 0; nothing reported),
 *         WARD_E_INCOMPLETE (the message ends inside an item),
 *         WARD_E_MALFORMED (not well-formed CBOR, bytes after the map, wrong type, duplicate or
 *                           missing required key),
 *         WARD_E_UNSUPPORTED (indefinite length, nesting deeper than WARD_CONFIG_DEPTH_MAX, or a
 *                             protocol major version other than WARD_PROTO_MAJOR),
 *         WARD_E_RANGE (a value outside its range: revision 0, interval not 10..86400, deny address
 *                       not 4 or 16 bytes, prefix too long, unknown action, drop with prefix 0),
 *         WARD_E_FULL (more than WARD_MAX_DENY deny-list entries).
 */
ward_status_t ward_agent_apply_config(ward_agent_t *agent, const uint8_t *cbor, size_t len,
                                     uint64_t now_ms);

/**
 * Set a named custom metric (report key 22, a gauge: each report carries the last value set).
 * Call from the report side's thread. At most WARD_MAX_METRICS names.
 * @param name 1..WARD_METRIC_NAME_MAX characters of [A-Za-z0-9._:-]; copied.
 * @return WARD_OK, WARD_E_ARG (NULL or uninitialised agent, invalid name),
 *         WARD_E_FULL (WARD_MAX_METRICS other names already set).
 */
ward_status_t ward_agent_metric_set(ward_agent_t *agent, const char *name, int64_t value);

/**
 * Whether an on-device detection waits for its priority report. A port that polls on a timer
 * need not ask; one that polls seldom, or replays a capture faster than real time, calls
 * ward_agent_poll() as soon as this says 1, so the report goes out "at once" in the agent's time.
 * May be called from any thread (one byte read under the critical section).
 * @return 1 when a priority report is pending, 0 otherwise (also for NULL).
 */
int ward_agent_priority_pending(const ward_agent_t *agent);

#endif /* WARD_AGENT_H */
