/*
 * The port contract: what a port (the thin glue between the agent core and one IP stack / OS)
 * supplies to the core, and in which thread. Companion of ward/transport.h (how reports leave).
 *
 * A port provides:
 *  1. A clock: every core function takes now_ms (milliseconds; Unix time when the device clock is
 *     synced, else time since boot, as said by ward_agent_config_t.time_base). It must not go
 *     backwards by more than a few ms between the hook's thread and the report side's.
 *  2. The packet hook: ward_agent_on_packet() for every IP packet in and out (ward/agent.h). When it
 *     returns WARD_DROP the port drops the packet if it can (lwIP: return "eaten" from the input
 *     hook / free the pbuf; Linux capture: it cannot, the packet is only reported).
 *  3. A critical section, when the hook runs in another thread or an interrupt than the rest:
 *     WARD_DECL_CRITICAL / WARD_ENTER_CRITICAL / WARD_EXIT_CRITICAL, defined in the integrator's
 *     ward_config.h (see ward/ward_config_defaults.h and docs/agent.md, "Threading model").
 *  4. Listening sockets: a ward_listening_fn the core calls on the report side, at report time
 *     (pull), registered with ward_agent_set_listening(). Pull fits both ports ward ships: lwIP
 *     walks its PCB lists (tcp_listen_pcbs, udp_pcbs) under LOCK_TCPIP_CORE() or from the tcpip
 *     thread; POSIX reads /proc/net/{tcp,tcp6,udp,udp6}. Neither needs to track changes, and the
 *     core needs no copy between reports beyond the snapshot it takes while it writes one.
 *  5. System information: pushed with ward_agent_set_sysinfo() at start and again whenever it
 *     changes (e.g. the clock got synced, TLS came up); the core copies the strings, notices the
 *     change and reports the new values in its next report.
 *  6. Config: the payload received on ward/v1/<device-id>/config, passed to
 *     ward_agent_apply_config() (ward/agent.h) on the report side.
 *  7. Custom metrics: the application sets them with ward_agent_metric_set() (ward/agent.h).
 *
 * Every function of this contract, and every callback, runs on the report side (the thread that
 * calls ward_agent_poll()), except ward_agent_on_packet().
 */
#ifndef WARD_PORT_H
#define WARD_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "ward/ward_config_defaults.h"

/** One listening socket (report key 19, docs/protocol.md section 3.4). */
typedef struct ward_listen {
    uint8_t proto;    /**< WARD_IPPROTO_TCP or WARD_IPPROTO_UDP */
    uint8_t family;   /**< 4 or 6 */
    uint16_t port;    /**< local port, host byte order */
    uint8_t addr[16]; /**< local address, network byte order: the first 4 bytes for IPv4 (the rest
                           zero); all zero = any address (0.0.0.0 / ::) */
} ward_listen_t;

/**
 * Listening-socket source, called by the core on the report side each time it writes a report
 * with the listening collector enabled (at most once per report, never from the packet hook).
 * Fill out[0 .. max) and return the number of entries filled (a value above max is taken as max).
 * max is WARD_MAX_LISTEN. Entries the core finds invalid (proto not TCP/UDP, family not 4/6) are
 * skipped. Must not block for long and must not call back into the agent.
 *
 * Example (lwIP, called from the tcpip thread or with LOCK_TCPIP_CORE() held):
 *
 *     static size_t lwip_listening(void *ctx, ward_listen_t *out, size_t max)
 *     {
 *         size_t n = 0;
 *         struct tcp_pcb_listen *l;
 *         for (l = tcp_listen_pcbs.listen_pcbs; l != NULL && n < max; l = l->next) {
 *             ... out[n].proto = WARD_IPPROTO_TCP; out[n].port = l->local_port; ... n++;
 *         }
 *         return n;
 *     }
 */
typedef size_t (*ward_listening_fn)(void *ctx, ward_listen_t *out, size_t max);

/**
 * System information (report key 20, docs/protocol.md section 3.5), given to
 * ward_agent_set_sysinfo(). Strings are UTF-8, copied by the core into fixed buffers of
 * WARD_SYSINFO_STR_MAX bytes (a longer string is cut at a character boundary); NULL or "" = not
 * known (the key is left out). The agent version and the flow capacity are added by the core.
 */
typedef struct ward_sysinfo {
    const char *os;       /**< OS or RTOS name and version, e.g. "FreeRTOS 10.5.1", "Linux 6.1.0" */
    const char *firmware; /**< firmware (application image) version */
    const char *hardware; /**< hardware model / board */
    const char *ip_stack; /**< IP stack name and version, e.g. "lwIP 2.1.3" */
    int tls;              /**< non-zero: reports travel over TLS */
    int time_synced;      /**< non-zero: the device clock is synced (NTP, GNSS, ...) */
} ward_sysinfo_t;

#endif /* WARD_PORT_H */
