/*
 * ward's lwIP glue (see ward_lwip.h). Owns the table of attached netifs, written only by
 * attach/detach (tcpip thread) and read by the wrappers to find their ward_lwip_t.
 * The hot path per packet: one table lookup (WARD_LWIP_MAX_NETIFS entries), the Ethernet header
 * check, the agent's hook; a copy only when the headers are split across pbufs.
 */
#include "ward_lwip.h"

#include <string.h>

#include "lwip/init.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcpip.h"
#include "lwip/udp.h"

#define ETHTYPE_IPV4 0x0800u
#define ETHTYPE_IPV6 0x86DDu
#define ETHTYPE_VLAN 0x8100u

static ward_lwip_t *g_attached[WARD_LWIP_MAX_NETIFS];

static ward_lwip_t *find(const struct netif *netif)
{
    size_t i;

    for (i = 0; i < WARD_LWIP_MAX_NETIFS; i++) {
        if (g_attached[i] != NULL && g_attached[i]->netif == netif) {
            return g_attached[i];
        }
    }
    return NULL;
}

/* Bytes of the IP packet at ip: its own length when the buffer is longer (Ethernet pads short
 * frames to 60 bytes), else what there is (the core knows a cut packet from its header). */
static size_t ip_length(const uint8_t *ip, size_t avail)
{
    size_t len = avail;

    if ((ip[0] >> 4) == 4 && avail >= 20) {
        len = ((size_t)ip[2] << 8) | ip[3];
    } else if ((ip[0] >> 4) == 6 && avail >= 40 && (ip[4] | ip[5]) != 0) {
        len = 40u + (((size_t)ip[4] << 8) | ip[5]);
    }
    return len >= 20 && len < avail ? len : avail;
}

/*
 * Run the hook on the packet in p. At link level, skip the Ethernet header (and one 802.1Q tag);
 * anything not IPv4/IPv6 passes. Returns non-zero when the packet must be dropped.
 */
static int hook(ward_lwip_t *w, int dir, struct pbuf *p)
{
    uint8_t copy[WARD_LWIP_COPY_MAX];
    const uint8_t *b = p->payload;
    size_t avail = p->len;
    size_t off = 0;

    if (avail < p->tot_len && avail < sizeof copy) {
        /* Headers split across pbufs: gather the first bytes. */
        avail = pbuf_copy_partial(p, copy,
                                  (u16_t)(p->tot_len < sizeof copy ? p->tot_len : sizeof copy), 0);
        b = copy;
    }
    if (w->ethernet) {
        unsigned type;
        off = ETH_PAD_SIZE + 14u;
        if (avail < off) {
            return 0; /* not even an Ethernet header: the stack drops it, nothing to count */
        }
        type = ((unsigned)b[off - 2] << 8) | b[off - 1];
        if (type == ETHTYPE_VLAN && avail >= off + 4) {
            type = ((unsigned)b[off + 2] << 8) | b[off + 3];
            off += 4;
        }
        if (type != ETHTYPE_IPV4 && type != ETHTYPE_IPV6) {
            return 0; /* ARP and others are not IP flows */
        }
    }
    if (avail <= off) {
        return 0;
    }
    avail = ip_length(b + off, avail - off) + off;
    return ward_agent_on_packet(w->agent, dir, b + off, avail - off, w->now_ms()) == WARD_DROP;
}

static err_t wrap_input(struct pbuf *p, struct netif *inp)
{
    ward_lwip_t *w = find(inp);

    if (w == NULL) {
        pbuf_free(p); /* detached meanwhile and no function to pass to: drop */
        return ERR_OK;
    }
    if (hook(w, WARD_DIR_INBOUND, p)) {
        w->dropped_in++;
        pbuf_free(p); /* an input function owns the pbuf: ERR_OK means "taken care of" */
        return ERR_OK;
    }
    return w->input(p, inp);
}

static err_t wrap_linkoutput(struct netif *netif, struct pbuf *p)
{
    ward_lwip_t *w = find(netif);

    if (w == NULL) {
        return ERR_IF;
    }
    if (hook(w, WARD_DIR_OUTBOUND, p)) {
        w->dropped_out++;
        return ERR_OK; /* output functions do not own p: just do not send it */
    }
    return w->linkoutput(netif, p);
}

#if LWIP_IPV4
static err_t wrap_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *ipaddr)
{
    ward_lwip_t *w = find(netif);

    if (w == NULL) {
        return ERR_IF;
    }
    if (hook(w, WARD_DIR_OUTBOUND, p)) {
        w->dropped_out++;
        return ERR_OK;
    }
    return w->output(netif, p, ipaddr);
}
#endif

#if LWIP_IPV6
static err_t wrap_output_ip6(struct netif *netif, struct pbuf *p, const ip6_addr_t *ipaddr)
{
    ward_lwip_t *w = find(netif);

    if (w == NULL) {
        return ERR_IF;
    }
    if (hook(w, WARD_DIR_OUTBOUND, p)) {
        w->dropped_out++;
        return ERR_OK;
    }
    return w->output_ip6(netif, p, ipaddr);
}
#endif

err_t ward_lwip_attach(ward_lwip_t *w, struct netif *netif, ward_agent_t *agent,
                       uint64_t (*now_ms)(void))
{
    size_t i;

    if (w == NULL || netif == NULL || agent == NULL || now_ms == NULL || netif->input == NULL ||
        find(netif) != NULL) {
        return ERR_ARG;
    }
    for (i = 0; i < WARD_LWIP_MAX_NETIFS && g_attached[i] != NULL; i++) {
    }
    if (i == WARD_LWIP_MAX_NETIFS) {
        return ERR_MEM;
    }
    memset(w, 0, sizeof *w);
    w->agent = agent;
    w->netif = netif;
    w->now_ms = now_ms;
    w->ethernet = (netif->flags & (NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET)) != 0;
    w->input = netif->input;
    w->linkoutput = netif->linkoutput;
    w->output = netif->output;
#if LWIP_IPV6
    w->output_ip6 = netif->output_ip6;
#endif
    if (w->ethernet && w->linkoutput == NULL) {
        return ERR_ARG;
    }
    g_attached[i] = w; /* before the pointers change: a wrapper must always find its state */
    netif->input = wrap_input;
    if (w->ethernet) {
        /* etharp_output/ethip6_output end in linkoutput: hooking there sees each frame once. */
        netif->linkoutput = wrap_linkoutput;
    } else {
#if LWIP_IPV4
        if (w->output != NULL) {
            netif->output = wrap_output;
        }
#endif
#if LWIP_IPV6
        if (w->output_ip6 != NULL) {
            netif->output_ip6 = wrap_output_ip6;
        }
#endif
    }
    return ERR_OK;
}

void ward_lwip_detach(ward_lwip_t *w)
{
    size_t i;

    if (w == NULL || w->netif == NULL || find(w->netif) != w) {
        return;
    }
    w->netif->input = w->input;
    w->netif->linkoutput = w->linkoutput;
    w->netif->output = w->output;
#if LWIP_IPV6
    w->netif->output_ip6 = w->output_ip6;
#endif
    for (i = 0; i < WARD_LWIP_MAX_NETIFS; i++) {
        if (g_attached[i] == w) {
            g_attached[i] = NULL;
        }
    }
    w->netif = NULL;
}

/* One PCB's local endpoint as a ward_listen_t. */
static void to_listen(ward_listen_t *l, uint8_t proto, const ip_addr_t *a, u16_t port)
{
    memset(l, 0, sizeof *l);
    l->proto = proto;
    l->port = port;
    l->family = IP_IS_V4(a) ? 4 : 6; /* IPADDR_TYPE_ANY (dual stack) counts as "::" */
#if LWIP_IPV4
    if (IP_IS_V4(a)) {
        memcpy(l->addr, &ip_2_ip4(a)->addr, 4);
        return;
    }
#endif
#if LWIP_IPV6
    if (IP_IS_V6_VAL(*a)) {
        memcpy(l->addr, ip_2_ip6(a)->addr, 16);
    }
#endif
}

size_t ward_lwip_listening(void *ctx, ward_listen_t *out, size_t max)
{
    const ward_lwip_t *w = ctx;
    struct tcp_pcb_listen *t;
    struct udp_pcb *u;
    size_t n = 0;
    int lock = w != NULL && w->lock_core;

    (void)lock;
#if !NO_SYS && LWIP_TCPIP_CORE_LOCKING
    if (lock) {
        LOCK_TCPIP_CORE();
    }
#endif
    for (t = tcp_listen_pcbs.listen_pcbs; t != NULL && n < max; t = t->next) {
        to_listen(&out[n++], WARD_IPPROTO_TCP, &t->local_ip, t->local_port);
    }
    for (u = udp_pcbs; u != NULL && n < max; u = u->next) {
        if (u->local_port != 0 && !(u->flags & UDP_FLAGS_CONNECTED)) {
            to_listen(&out[n++], WARD_IPPROTO_UDP, &u->local_ip, u->local_port);
        }
    }
#if !NO_SYS && LWIP_TCPIP_CORE_LOCKING
    if (lock) {
        UNLOCK_TCPIP_CORE();
    }
#endif
    return n;
}

void ward_lwip_sysinfo(ward_sysinfo_t *info)
{
    memset(info, 0, sizeof *info);
    info->ip_stack = "lwIP " LWIP_VERSION_STRING;
}
