/*
 * ward's lwIP port: glue that puts the ward agent's packet hook into an lwIP netif, and the
 * listening-socket and sysinfo sources of ward/port.h for lwIP. Written against lwIP 2.1.
 *
 * How it hooks in: ward_lwip_attach() replaces the netif's function pointers with wrappers that
 * call ward_agent_on_packet() and then the original function.
 *  - Ethernet netifs (NETIF_FLAG_ETHARP or NETIF_FLAG_ETHERNET): netif->input (every received
 *    frame, before ethernet_input/tcpip_input) and netif->linkoutput (every frame the stack sends:
 *    after ARP/ND resolution, so packets waiting for an address are seen when they really leave).
 *    Frames that are not IPv4/IPv6 (ARP) pass untouched.
 *  - IP netifs (PPP, SLIP, tunnels): netif->input, netif->output (IPv4) and netif->output_ip6.
 * Direction is the path: input is WARD_DIR_INBOUND, output WARD_DIR_OUTBOUND.
 *
 * Dropping: when the hook returns WARD_DROP (a deny-list rule with action drop), the glue drops
 * the packet: on input it frees the pbuf and returns ERR_OK (the stack never sees it); on output
 * it does not send it and returns ERR_OK, as a firewall would (the sender is not told, and TCP
 * simply retransmits until it gives up). Drops are counted in ward_lwip_t.
 *
 * Not seen: packets the stack sends to its own addresses (LWIP_NETIF_LOOPBACK hands them back to
 * ip_input without calling the netif's output), which never leave the device.
 *
 * Threads: the input wrapper runs wherever the driver calls netif->input (often a driver thread or
 * an interrupt, even with tcpip_input), the output wrappers in the tcpip thread (or the NO_SYS main
 * loop). When these differ from each other or from the thread calling ward_agent_poll(), define
 * the agent's critical section in ward_config.h (docs/agent.md, "Threading model").
 * Attach and detach from the tcpip thread (or with LOCK_TCPIP_CORE() held), before the netif is
 * up or with its driver quiet.
 *
 * Usage (see docs/ports.md):
 *
 *     static ward_lwip_t glue;
 *     netif_add(&netif, ..., ethernetif_init, tcpip_input);
 *     ward_lwip_attach(&glue, &netif, &agent, now_ms);
 *     ward_agent_set_listening(&agent, ward_lwip_listening, &glue);
 *     ward_lwip_sysinfo(&si);  si.firmware = ...;  ward_agent_set_sysinfo(&agent, &si);
 */
#ifndef WARD_LWIP_H
#define WARD_LWIP_H

#include <stddef.h>
#include <stdint.h>

#include "lwip/netif.h"
#include "ward/agent.h"

/** Netifs that can be attached at once (one ward_lwip_t each). */
#ifndef WARD_LWIP_MAX_NETIFS
#define WARD_LWIP_MAX_NETIFS 4
#endif

/** Bytes copied to a stack buffer when a packet's headers are split across pbufs (rare: lwIP
 * keeps headers in the first pbuf). Enough for Ethernet + VLAN + IPv6 + a few extension headers +
 * TCP with options; a longer header chain is reported by the core as truncated. */
#ifndef WARD_LWIP_COPY_MAX
#define WARD_LWIP_COPY_MAX 192
#endif

/** The glue's state for one netif: allocate it (static), ward_lwip_attach() fills it. */
typedef struct ward_lwip {
    ward_agent_t *agent;
    struct netif *netif;
    uint64_t (*now_ms)(void); /**< the agent's clock (same time base as ward_agent_init()) */
    int ethernet;             /**< hooked at link level (input/linkoutput), else IP level */
    int lock_core;            /**< ward_lwip_listening() takes LOCK_TCPIP_CORE() (NO_SYS=0) */
    netif_input_fn input;     /**< the netif's own functions, called after the hook */
    netif_output_fn output;
#if LWIP_IPV6
    netif_output_ip6_fn output_ip6;
#endif
    netif_linkoutput_fn linkoutput;
    uint32_t dropped_in;  /**< packets dropped on input by a deny-list rule */
    uint32_t dropped_out; /**< packets not sent by a deny-list rule */
} ward_lwip_t;

/**
 * Wrap netif's input and output functions so that every IP packet passes the agent's hook.
 * Call after netif_add() (which sets them) and after ward_agent_init().
 * @param now_ms the agent's clock; called in the hook's thread
 * @return ERR_OK, ERR_ARG (NULL argument, netif already attached), ERR_MEM (more than
 *         WARD_LWIP_MAX_NETIFS attached)
 */
err_t ward_lwip_attach(ward_lwip_t *w, struct netif *netif, ward_agent_t *agent,
                       uint64_t (*now_ms)(void));

/** Put the netif's own functions back. */
void ward_lwip_detach(ward_lwip_t *w);

/**
 * ward_listening_fn (ward/port.h) for lwIP: TCP PCBs in LISTEN (tcp_listen_pcbs) and UDP PCBs
 * bound to a port and not connected (udp_pcbs). A PCB bound to IPADDR_TYPE_ANY (both families) is
 * reported once, as "::" (as Linux lists a dual-stack socket once, in tcp6/udp6).
 * ctx: a ward_lwip_t (or NULL); when its lock_core is set the lists are walked under
 * LOCK_TCPIP_CORE(), else the caller must be in the tcpip thread (or NO_SYS).
 */
size_t ward_lwip_listening(void *ctx, ward_listen_t *out, size_t max);

/** Fill info with what lwIP knows: ip_stack "lwIP <version>"; the rest zero / NULL. */
void ward_lwip_sysinfo(ward_sysinfo_t *info);

#endif /* WARD_LWIP_H */
