/*
 * Test of ward's lwIP glue with real lwIP stacks (Debian's liblwip, lwIP 2.1.3).
 *
 * Two processes, each with its own lwIP stack (lwIP keeps its state in globals, so two stacks need
 * two processes), joined back to back by a socketpair (SOCK_SEQPACKET: one message per frame):
 *  - the device, this process: netif "A" (10.0.0.1/24, fd00::1) with the ward glue attached;
 *  - the peer, a child process: netif "B" (10.0.0.2/24, fd00::2) running a TCP and UDP echo
 *    service on port 7 (lwIP answers pings itself), and a TCP client to the device's port 23.
 * Single-threaded lwIP on both sides (lwip_init() and the raw API, no tcpip thread); the clock is
 * real (lwIP's timers run on it).
 *
 * The device opens a TCP connection to B:7 and echoes 1000 bytes, sends UDP datagrams over IPv4
 * and IPv6, pings over IPv4 and IPv6; the peer connects to the device's telnet port. Every frame
 * that crosses the link is counted by the test's own link layer, below the glue (what lwIP really
 * sent and received: ARP, neighbour discovery and MLD included). Then the agent's report is
 * decoded with libcbor and its flows must equal those link counts exactly (packets and IP bytes
 * each way, per 5-tuple), the scenario's flows must have the expected packet counts, initiators
 * and TCP flags, and the listening sockets must come from lwIP's PCB lists.
 *
 * Run twice: with Ethernet netifs (glue on input + linkoutput) and with IP netifs (glue on
 * input + output + output_ip6). The Ethernet run ends with a deny-list drop: a config with
 * 10.0.0.2/32 action drop, then pings that the glue must drop before they reach the link.
 *
 * Exit status 0 when every check passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cbor.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/inet_chksum.h"
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/icmp.h"
#include "lwip/prot/icmp6.h"
#include "lwip/raw.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ethernet.h"

#include "ward_lwip.h"

#define FRAME_MAX 1600
#define MAX_FLOWS 64
#define SCENARIO_TIMEOUT_MS 20000
#define ECHO_PORT 7
#define TELNET_PORT 23
#define SNMP_PORT 161
#define TCP_BYTES 1000
#define UDP4_COUNT 5
#define UDP4_LEN 100
#define UDP6_COUNT 3
#define UDP6_LEN 50
#define PING4_COUNT 3
#define PING6_COUNT 2
#define PING_LEN 32
#define DENIED_PINGS 2
#define PEER_HELLO "hello-ward" /* what the peer sends to the device's port 23 */

static int g_failed;
static int g_passed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            g_passed++;                                                                            \
        } else {                                                                                   \
            g_failed++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- flows counted at the link -------------------------------------------------------------- */

/* One flow as the report keys it (docs/protocol.md 3.2), with its totals. */
typedef struct flow {
    uint8_t proto;
    uint8_t family;
    uint16_t lport;
    uint16_t rport; /* ICMP: type * 256 + code */
    uint8_t remote[16];
    uint64_t pkts_out, pkts_in, bytes_out, bytes_in;
    int initiator; /* from the report (link counts: -1) */
    unsigned tcp_flags;
} flow_t;

typedef struct flows {
    flow_t f[MAX_FLOWS];
    size_t n;
    int overflow; /* more flows than MAX_FLOWS */
} flows_t;

static flow_t *flow_get(flows_t *fs, uint8_t proto, uint8_t family, const uint8_t *remote,
                        uint16_t lport, uint16_t rport)
{
    size_t alen = family == 4 ? 4 : 16;
    size_t i;

    for (i = 0; i < fs->n; i++) {
        flow_t *f = &fs->f[i];
        if (f->proto == proto && f->family == family && f->lport == lport && f->rport == rport &&
            memcmp(f->remote, remote, alen) == 0) {
            return f;
        }
    }
    if (fs->n == MAX_FLOWS) {
        fs->overflow = 1;
        return NULL;
    }
    memset(&fs->f[fs->n], 0, sizeof fs->f[0]);
    fs->f[fs->n].proto = proto;
    fs->f[fs->n].family = family;
    fs->f[fs->n].lport = lport;
    fs->f[fs->n].rport = rport;
    fs->f[fs->n].initiator = -1;
    memcpy(fs->f[fs->n].remote, remote, alen);
    return &fs->f[fs->n++];
}

/*
 * Count one frame (Ethernet, or a bare IP packet) the device sent (out) or received. An
 * independent parser from the agent's: IPv4, or IPv6 with hop-by-hop options (MLD uses them).
 */
static void count_frame(flows_t *fs, int ethernet, const uint8_t *b, size_t len, int out)
{
    uint8_t remote[16] = {0};
    const uint8_t *ip = b;
    const uint8_t *l4;
    size_t iplen;
    size_t l4len;
    uint8_t proto;
    uint8_t family;
    uint16_t sport = 0;
    uint16_t dport = 0;
    flow_t *f;

    if (ethernet) {
        unsigned type;
        if (len < 14) {
            return;
        }
        type = ((unsigned)b[12] << 8) | b[13];
        if (type != 0x0800 && type != 0x86DD) {
            return; /* ARP */
        }
        ip = b + 14;
        len -= 14;
    }
    if (len >= 20 && ip[0] >> 4 == 4) {
        family = 4;
        iplen = ((size_t)ip[2] << 8) | ip[3];
        proto = ip[9];
        memcpy(remote, out ? ip + 16 : ip + 12, 4);
        l4 = ip + (ip[0] & 15) * 4;
    } else if (len >= 40 && ip[0] >> 4 == 6) {
        family = 6;
        iplen = 40 + (((size_t)ip[4] << 8) | ip[5]);
        proto = ip[6];
        memcpy(remote, out ? ip + 24 : ip + 8, 16);
        l4 = ip + 40;
        if (proto == 0) { /* hop-by-hop options */
            proto = l4[0];
            l4 += (l4[1] + 1) * 8;
        }
    } else {
        CHECK(0, "link: a frame that is not IPv4/IPv6 (%zu bytes)", len);
        return;
    }
    CHECK(iplen <= len, "link: IP length %zu within the frame (%zu)", iplen, len);
    l4len = iplen - (size_t)(l4 - ip);
    if ((proto == 6 || proto == 17) && l4len >= 4) {
        sport = (uint16_t)((l4[0] << 8) | l4[1]);
        dport = (uint16_t)((l4[2] << 8) | l4[3]);
    } else if ((proto == 1 || proto == 58) && l4len >= 2) {
        sport = 0;
        dport = (uint16_t)((l4[0] << 8) | l4[1]); /* type * 256 + code, as the remote "port" */
    }
    if (proto == 1 || proto == 58) {
        f = flow_get(fs, proto, family, remote, 0, dport);
    } else {
        f = flow_get(fs, proto, family, remote, out ? sport : dport, out ? dport : sport);
    }
    if (f == NULL) {
        return;
    }
    if (out) {
        f->pkts_out++;
        f->bytes_out += iplen;
    } else {
        f->pkts_in++;
        f->bytes_in += iplen;
    }
}

/* ---- the link: a socketpair, one message per frame --------------------------------------------
 */

typedef struct side {
    int fd;
    int ethernet;
    struct netif netif;
    flows_t *count; /* the device's link counts; NULL on the peer */
    uint8_t mac[6];
} side_t;

static side_t g_side;

static err_t link_send(struct netif *netif, struct pbuf *p)
{
    uint8_t buf[FRAME_MAX];
    u16_t n;
    (void)netif;

    if (p->tot_len > sizeof buf) {
        return ERR_BUF;
    }
    n = pbuf_copy_partial(p, buf, p->tot_len, 0);
    if (g_side.count != NULL) {
        count_frame(g_side.count, g_side.ethernet, buf, n, 1);
    }
    if (send(g_side.fd, buf, n, 0) != (ssize_t)n) {
        return ERR_IF;
    }
    return ERR_OK;
}

static err_t link_output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *a)
{
    (void)a;
    return link_send(netif, p);
}

static err_t link_output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *a)
{
    (void)a;
    return link_send(netif, p);
}

/* Deliver every frame waiting on the link to the netif's input (the glue's wrapper on A).
 * Returns -1 when the other side closed the link. */
static int link_poll(int timeout_ms)
{
    struct pollfd pfd = {.fd = g_side.fd, .events = POLLIN, .revents = 0};
    uint8_t buf[FRAME_MAX];

    if (poll(&pfd, 1, timeout_ms) <= 0) {
        return 0;
    }
    for (;;) {
        struct pbuf *p;
        ssize_t n = recv(g_side.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            return -1;
        }
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        if (g_side.count != NULL) {
            count_frame(g_side.count, g_side.ethernet, buf, (size_t)n, 0);
        }
        /* PBUF_RAM, not PBUF_POOL: Debian's liblwip 2.1.3+dfsg1-2 sizes its pool buffers for
         * 590 bytes (memp.c) but fills them up to its larger PBUF_POOL_BUFSIZE (pbuf.c): a
         * PBUF_POOL pbuf over 590 bytes overflows the heap (valgrind shows it). */
        p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
        if (p == NULL) {
            continue;
        }
        pbuf_take(p, buf, (u16_t)n);
        if (g_side.netif.input(p, &g_side.netif) != ERR_OK) {
            pbuf_free(p);
        }
    }
}

static err_t side_netif_init(struct netif *n)
{
    n->name[0] = 'w';
    n->name[1] = g_side.count != NULL ? 'a' : 'b';
    n->mtu = 1500;
    if (g_side.ethernet) {
        n->hwaddr_len = 6;
        memcpy(n->hwaddr, g_side.mac, 6);
        n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
                   NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
        n->output = etharp_output;
        n->output_ip6 = ethip6_output;
        n->linkoutput = link_send;
    } else {
        n->flags = 0; /* point to point: no ARP, no neighbour discovery */
        n->output = link_output4;
        n->output_ip6 = link_output6;
    }
    return ERR_OK;
}

/* Start lwIP with one netif: 10.0.0.<host>/24 and fd00::<host>. */
static void side_start(int fd, int ethernet, int host, flows_t *count)
{
    ip4_addr_t ip, mask, gw;
    memset(&g_side, 0, sizeof g_side);
    g_side.fd = fd;
    g_side.ethernet = ethernet;
    g_side.count = count;
    memcpy(g_side.mac, "\x02\x00\x00\x00\x00", 5);
    g_side.mac[5] = (uint8_t)host;
    lwip_init();
    IP4_ADDR(&ip, 10, 0, 0, host);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 0, 0, 0, 0);
    netif_add(&g_side.netif, &ip, &mask, &gw, NULL, side_netif_init,
              ethernet ? ethernet_input : ip_input);
    netif_set_default(&g_side.netif);
}

/* Give the netif its IPv6 address and bring it up: from here on it sends (an MLD report as soon
 * as the address joins its solicited-node group, router solicitations). */
static void side_up(int host)
{
    ip6_addr_t ip6;
    s8_t idx;
    char a6[32];

    snprintf(a6, sizeof a6, "fd00::%d", host);
    ip6addr_aton(a6, &ip6);
    netif_add_ip6_address(&g_side.netif, &ip6, &idx);
    /* A fixed test address: skip duplicate address detection (it would only delay the test). */
    netif_ip6_addr_set_state(&g_side.netif, idx, IP6_ADDR_PREFERRED);
    netif_set_link_up(&g_side.netif);
    netif_set_up(&g_side.netif);
}

/* ---- the peer (child process) ---------------------------------------------------------------- */

static err_t peer_echo_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct pbuf *q;
    (void)arg;
    (void)err;

    if (p == NULL) {
        tcp_close(pcb);
        return ERR_OK;
    }
    for (q = p; q != NULL; q = q->next) {
        tcp_write(pcb, q->payload, q->len, TCP_WRITE_FLAG_COPY);
    }
    tcp_recved(pcb, p->tot_len);
    tcp_output(pcb);
    pbuf_free(p);
    return ERR_OK;
}

static err_t peer_echo_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || pcb == NULL) {
        return ERR_VAL;
    }
    tcp_recv(pcb, peer_echo_recv);
    return ERR_OK;
}

static void peer_udp_echo(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                          u16_t port)
{
    (void)arg;
    udp_sendto(pcb, p, addr, port);
    pbuf_free(p);
}

static err_t peer_client_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)arg;
    (void)err;
    if (p == NULL) {
        tcp_close(pcb); /* the device closed first */
        return ERR_OK;
    }
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t peer_client_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK) {
        return err;
    }
    tcp_recv(pcb, peer_client_recv);
    tcp_write(pcb, PEER_HELLO, sizeof PEER_HELLO - 1, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    return ERR_OK;
}

static void peer_main(int fd, int ethernet)
{
    struct tcp_pcb *l;
    struct udp_pcb *u;
    struct tcp_pcb *c = NULL;
    uint64_t deadline = now_ms() + SCENARIO_TIMEOUT_MS + 5000;
    ip_addr_t device;

    side_start(fd, ethernet, 2, NULL);
    side_up(2);
    l = tcp_new_ip_type(IPADDR_TYPE_ANY);
    tcp_bind(l, IP_ANY_TYPE, ECHO_PORT);
    l = tcp_listen(l);
    tcp_accept(l, peer_echo_accept);
    u = udp_new_ip_type(IPADDR_TYPE_ANY);
    udp_bind(u, IP_ANY_TYPE, ECHO_PORT);
    udp_recv(u, peer_udp_echo, NULL);
    IP_ADDR4(&device, 10, 0, 0, 1);

    while (now_ms() < deadline) {
        if (link_poll(5) < 0) {
            break; /* the device is done */
        }
        sys_check_timeouts();
        /* Connect to the device's telnet port once the device is up (it listens before it sends
         * its first frame). */
        if (c == NULL && now_ms() + SCENARIO_TIMEOUT_MS + 4000 < deadline) {
            c = tcp_new();
            tcp_connect(c, &device, TELNET_PORT, peer_client_connected);
        }
    }
    _exit(0);
}

/* ---- the device (this process) --------------------------------------------------------------- */

typedef struct device {
    struct tcp_pcb *client;
    int connected;
    size_t echoed;
    int tcp_done;
    int udp_replies4;
    int udp_replies6;
    int ping_replies4;
    int ping_replies6;
    int telnet_bytes;
    int telnet_closed;
} device_t;

static device_t g_dev;

static err_t dev_client_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)arg;
    (void)err;
    if (p == NULL) {
        return ERR_OK;
    }
    g_dev.echoed += p->tot_len;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    if (g_dev.echoed >= TCP_BYTES && !g_dev.tcp_done) {
        g_dev.tcp_done = 1;
        tcp_close(pcb);
    }
    return ERR_OK;
}

static err_t dev_client_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    static uint8_t data[TCP_BYTES];
    (void)arg;
    if (err != ERR_OK) {
        return err;
    }
    g_dev.connected = 1;
    memset(data, 'w', sizeof data);
    tcp_write(pcb, data, 600, TCP_WRITE_FLAG_COPY);
    tcp_write(pcb, data + 600, TCP_BYTES - 600, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    return ERR_OK;
}

static err_t dev_telnet_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)arg;
    (void)err;
    if (p == NULL) {
        return ERR_OK;
    }
    g_dev.telnet_bytes += p->tot_len;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    if (g_dev.telnet_bytes >= (int)sizeof PEER_HELLO - 1 && !g_dev.telnet_closed) {
        g_dev.telnet_closed = 1;
        tcp_close(pcb);
    }
    return ERR_OK;
}

static err_t dev_telnet_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || pcb == NULL) {
        return ERR_VAL;
    }
    tcp_recv(pcb, dev_telnet_recv);
    return ERR_OK;
}

static void dev_udp_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                         u16_t port)
{
    (void)arg;
    (void)pcb;
    (void)port;
    if (IP_IS_V6(addr)) {
        g_dev.udp_replies6++;
    } else {
        g_dev.udp_replies4++;
    }
    pbuf_free(p);
}

static u8_t dev_ping_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
    uint8_t type;
    (void)arg;
    (void)pcb;

    if (IP_IS_V6(addr)) {
        /* Raw PCBs get the packet with its IP header (40 bytes here: no extension headers) */
        if (pbuf_copy_partial(p, &type, 1, 40) == 1 && type == ICMP6_TYPE_EREP) {
            g_dev.ping_replies6++;
        }
    } else if (pbuf_copy_partial(p, &type, 1, (u16_t)((((uint8_t *)p->payload)[0] & 15) * 4)) ==
                   1 &&
               type == ICMP_ER) {
        g_dev.ping_replies4++;
    }
    return 0; /* not eaten: lwIP goes on (and ignores an echo reply) */
}

/* Send an echo request of PING_LEN bytes of data. */
static void dev_ping(struct raw_pcb *pcb, const ip_addr_t *to, int v6, u16_t seq)
{
    struct pbuf *p = pbuf_alloc(PBUF_IP, 8 + PING_LEN, PBUF_RAM);
    uint8_t *b = p->payload;

    memset(b, 0, 8 + PING_LEN);
    b[0] = v6 ? ICMP6_TYPE_EREQ : ICMP_ECHO;
    b[4] = 0x77; /* identifier */
    b[7] = (uint8_t)seq;
    memset(b + 8, 'p', PING_LEN);
    if (!v6) {
        u16_t c = inet_chksum(b, 8 + PING_LEN);
        memcpy(b + 2, &c, 2);
    } /* ICMPv6: the raw PCB computes the checksum (chksum_reqd) */
    raw_sendto(pcb, p, to);
    pbuf_free(p);
}

/* ---- reports ----------------------------------------------------------------------------------
 */

#define MAX_PARTS 64

typedef struct capture {
    uint8_t *part[MAX_PARTS];
    size_t len[MAX_PARTS];
    size_t n;
} capture_t;

static int32_t capture_publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    capture_t *c = ctx;
    (void)priority;

    if (c->n == MAX_PARTS) {
        return 0;
    }
    c->part[c->n] = malloc(len);
    if (c->part[c->n] == NULL) {
        return 0;
    }
    memcpy(c->part[c->n], buf, len);
    c->len[c->n++] = len;
    return (int32_t)len;
}

static cbor_item_t *map_get(cbor_item_t *map, uint64_t key)
{
    struct cbor_pair *pairs = cbor_map_handle(map);
    size_t i;

    for (i = 0; i < cbor_map_size(map); i++) {
        if (cbor_isa_uint(pairs[i].key) && cbor_get_int(pairs[i].key) == key) {
            return pairs[i].value;
        }
    }
    return NULL;
}

static uint64_t uint_at(cbor_item_t *arr, size_t i)
{
    cbor_item_t *it = cbor_array_size(arr) > i ? cbor_array_handle(arr)[i] : NULL;
    return it != NULL && cbor_isa_uint(it) ? cbor_get_int(it) : 0;
}

typedef struct report_view {
    flows_t flows;
    uint8_t listen[16][19]; /* proto, family, port hi, port lo, addr[16]... (proto, len, port) */
    size_t nlisten;
    char ip_stack[64];
    int detections_drop; /* detections with action drop */
    uint64_t config_rev;
} report_view_t;

/* Decode every part and sum its flows (by 5-tuple); keep the last listening list and sysinfo. */
static void read_reports(const capture_t *c, report_view_t *v)
{
    size_t i;

    memset(v, 0, sizeof *v);
    for (i = 0; i < c->n; i++) {
        struct cbor_load_result res;
        cbor_item_t *root = cbor_load(c->part[i], c->len[i], &res);
        cbor_item_t *addrs;
        cbor_item_t *flows;
        cbor_item_t *it;
        size_t k;

        CHECK(root != NULL && cbor_isa_map(root), "report part %zu decodes as a CBOR map", i);
        if (root == NULL || !cbor_isa_map(root)) {
            continue;
        }
        addrs = map_get(root, WARD_RK_LOCAL_ADDRS);
        flows = map_get(root, WARD_RK_FLOWS);
        for (k = 0; flows != NULL && k < cbor_array_size(flows); k++) {
            cbor_item_t *f = cbor_array_handle(flows)[k];
            cbor_item_t *ra = cbor_array_handle(f)[WARD_FP_REMOTE_ADDR];
            size_t alen = cbor_bytestring_length(ra);
            uint8_t remote[16] = {0};
            flow_t *e;
            uint64_t li = uint_at(f, WARD_FP_LOCAL_ADDR);

            CHECK(addrs != NULL && li < cbor_array_size(addrs), "flow's local address index");
            if (addrs != NULL && li < cbor_array_size(addrs)) {
                cbor_item_t *la = cbor_array_handle(addrs)[li];
                const uint8_t *lb = cbor_bytestring_handle(la);
                size_t llen = cbor_bytestring_length(la);
                /* The device's addresses; "::" (MLD before an address is valid); or, for
                 * inbound multicast (the peer's MLD and neighbour solicitations), the group. */
                CHECK((llen == 4 && memcmp(lb, "\x0a\x00\x00\x01", 4) == 0) ||
                          (llen == 16 && (lb[0] == 0xff || (lb[0] == 0xfd && lb[15] == 1) ||
                                          memcmp(lb, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0)),
                      "flow's local address is the device's");
            }
            memcpy(remote, cbor_bytestring_handle(ra), alen <= 16 ? alen : 16);
            e = flow_get(&v->flows, (uint8_t)uint_at(f, WARD_FP_PROTO), alen == 4 ? 4 : 6, remote,
                         (uint16_t)uint_at(f, WARD_FP_LOCAL_PORT),
                         (uint16_t)uint_at(f, WARD_FP_REMOTE_PORT));
            if (e == NULL) {
                continue;
            }
            e->pkts_out += uint_at(f, WARD_FP_PACKETS_OUT);
            e->pkts_in += uint_at(f, WARD_FP_PACKETS_IN);
            e->bytes_out += uint_at(f, WARD_FP_BYTES_OUT);
            e->bytes_in += uint_at(f, WARD_FP_BYTES_IN);
            if (e->initiator <= 0) {
                e->initiator = (int)(uint_at(f, WARD_FP_FLAGS) & 3);
            }
            e->tcp_flags |= (unsigned)uint_at(f, WARD_FP_TCP_FLAGS);
        }
        it = map_get(root, WARD_RK_OVERFLOW);
        CHECK(it == NULL || cbor_array_size(it) == 0, "no overflow (the table is large enough)");
        it = map_get(root, WARD_RK_LISTENING);
        if (it != NULL) {
            v->nlisten = 0;
            for (k = 0; k < cbor_array_size(it) && v->nlisten < 16; k++) {
                cbor_item_t *l = cbor_array_handle(it)[k];
                cbor_item_t *la = cbor_array_handle(l)[1];
                size_t alen = cbor_bytestring_length(la);
                uint8_t *e = v->listen[v->nlisten++];
                e[0] = (uint8_t)uint_at(l, 0);
                e[1] = (uint8_t)alen;
                e[2] = (uint8_t)(uint_at(l, 2) >> 8);
                e[3] = (uint8_t)uint_at(l, 2);
                memcpy(e + 4, cbor_bytestring_handle(la), alen <= 15 ? alen : 15);
            }
        }
        it = map_get(root, WARD_RK_SYSINFO);
        if (it != NULL && (it = map_get(it, WARD_SK_IP_STACK)) != NULL && cbor_isa_string(it)) {
            size_t n = cbor_string_length(it);
            n = n < sizeof v->ip_stack - 1 ? n : sizeof v->ip_stack - 1;
            memcpy(v->ip_stack, cbor_string_handle(it), n);
            v->ip_stack[n] = '\0';
        }
        it = map_get(root, WARD_RK_DETECTIONS);
        for (k = 0; it != NULL && k < cbor_array_size(it); k++) {
            cbor_item_t *d = cbor_array_handle(it)[k];
            if (uint_at(d, WARD_DP_ACTION) == 1) {
                v->detections_drop++;
            }
        }
        it = map_get(root, WARD_RK_CONFIG_REV);
        if (it != NULL && cbor_isa_uint(it)) {
            v->config_rev = cbor_get_int(it);
        }
        cbor_decref(&root);
    }
}

static int has_listen(const report_view_t *v, uint8_t proto, size_t alen, uint16_t port)
{
    static const uint8_t zero[16];
    size_t i;

    for (i = 0; i < v->nlisten; i++) {
        const uint8_t *e = v->listen[i];
        if (e[0] == proto && e[1] == alen && ((e[2] << 8) | e[3]) == port &&
            memcmp(e + 4, zero, alen < 15 ? alen : 15) == 0) {
            return 1;
        }
    }
    return 0;
}

static void print_flow(const char *what, const flow_t *f)
{
    char a[INET6_ADDRSTRLEN];

    inet_ntop(f->family == 4 ? AF_INET : AF_INET6, f->remote, a, sizeof a);
    fprintf(stderr, "    %s proto %u lport %u remote %s:%u out %llu/%llu in %llu/%llu init %d\n",
            what, f->proto, f->lport, a, f->rport, (unsigned long long)f->pkts_out,
            (unsigned long long)f->bytes_out, (unsigned long long)f->pkts_in,
            (unsigned long long)f->bytes_in, f->initiator);
}

static const flow_t *find_flow(const flows_t *fs, uint8_t proto, const char *remote, uint16_t lport,
                               uint16_t rport)
{
    uint8_t a[16] = {0};
    int family = strchr(remote, ':') != NULL ? 6 : 4;
    size_t i;

    inet_pton(family == 4 ? AF_INET : AF_INET6, remote, a);
    for (i = 0; i < fs->n; i++) {
        const flow_t *f = &fs->f[i];
        if (f->proto == proto && f->family == family &&
            memcmp(f->remote, a, family == 4 ? 4 : 16) == 0 && f->rport == rport &&
            (lport == 0xffff || f->lport == lport)) {
            return f;
        }
    }
    return NULL;
}

/* ---- one run ----------------------------------------------------------------------------------
 */

static ward_agent_t g_agent;
static uint8_t g_report[4096];

/* Run lwIP until done() or the time is up. */
static int run_until(int (*done)(void), uint64_t ms, capture_t *cap)
{
    uint64_t end = now_ms() + ms;

    (void)cap;
    while (now_ms() < end) {
        link_poll(2);
        sys_check_timeouts();
        ward_agent_poll(&g_agent, now_ms(), g_report, sizeof g_report);
        if (done != NULL && done()) {
            return 1;
        }
    }
    return 0;
}

static int tcp_echo_done(void)
{
    return g_dev.tcp_done;
}
static int udp_done(void)
{
    return g_dev.udp_replies4 == UDP4_COUNT && g_dev.udp_replies6 == UDP6_COUNT;
}
static int telnet_done(void)
{
    return g_dev.telnet_closed;
}

/* Config CBOR: {0: [1, 0], 1: 7, 4: [[h'0a000002', 32, 1]]} (deny 10.0.0.2/32, drop) */
static const uint8_t DENY_CONFIG[] = {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x07, 0x04, 0x81,
                                      0x83, 0x44, 0x0a, 0x00, 0x00, 0x02, 0x18, 0x20, 0x01};

static void run(int ethernet)
{
    static flows_t link;
    static capture_t cap;
    static report_view_t v;
    static ward_lwip_t glue;
    const char *mode = ethernet ? "ethernet" : "ip";
    ward_transport_t transport = {capture_publish, &cap};
    ward_agent_config_t cfg;
    ward_sysinfo_t si;
    struct tcp_pcb *telnet;
    struct udp_pcb *u4;
    struct udp_pcb *u6;
    struct udp_pcb *snmp;
    struct raw_pcb *ping4;
    struct raw_pcb *ping6;
    ip_addr_t peer4;
    ip_addr_t peer6;
    int sv[2];
    pid_t child;
    int status;
    size_t i;
    int k;
    uint32_t drops_before;

    memset(&link, 0, sizeof link);
    memset(&cap, 0, sizeof cap);
    memset(&g_dev, 0, sizeof g_dev);
    printf("== %s netifs\n", mode);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) {
        CHECK(0, "socketpair: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    child = fork();
    if (child == 0) {
        close(sv[0]);
        peer_main(sv[1], ethernet);
    }
    close(sv[1]);

    /* The device: lwIP, then the agent, then the glue on its netif. */
    side_start(sv[0], ethernet, 1, &link);
    ward_agent_config_init(&cfg);
    cfg.device_id = "lwip-device";
    cfg.boot_id = 42;
    cfg.time_base = WARD_TIME_BOOT;
    cfg.transport = &transport;
    CHECK(ward_agent_init(&g_agent, &cfg, now_ms()) == WARD_OK, "agent init");
    CHECK(ward_lwip_attach(&glue, &g_side.netif, &g_agent, now_ms) == ERR_OK, "glue attach");
    CHECK(ward_lwip_attach(&glue, &g_side.netif, &g_agent, now_ms) == ERR_ARG,
          "glue attach twice refused");
    side_up(1); /* after the glue: the netif's first packets must pass the hook too */
    CHECK(ward_agent_set_listening(&g_agent, ward_lwip_listening, &glue) == WARD_OK,
          "listening source");
    ward_lwip_sysinfo(&si);
    si.os = "test";
    CHECK(ward_agent_set_sysinfo(&g_agent, &si) == WARD_OK, "sysinfo");

    /* Services of the device: telnet (TCP 23, IPv4) and SNMP (UDP 161, both families). */
    telnet = tcp_new();
    tcp_bind(telnet, IP4_ADDR_ANY, TELNET_PORT);
    telnet = tcp_listen(telnet);
    tcp_accept(telnet, dev_telnet_accept);
    snmp = udp_new_ip_type(IPADDR_TYPE_ANY);
    udp_bind(snmp, IP_ANY_TYPE, SNMP_PORT);

    IP_ADDR4(&peer4, 10, 0, 0, 2);
    ipaddr_aton("fd00::2", &peer6);

    /* 1. TCP: connect to the peer's echo service, send 1000 bytes, read them back, close. */
    g_dev.client = tcp_new();
    tcp_recv(g_dev.client, dev_client_recv);
    tcp_connect(g_dev.client, &peer4, ECHO_PORT, dev_client_connected);
    CHECK(run_until(tcp_echo_done, SCENARIO_TIMEOUT_MS, &cap), "%s: TCP echo of %d bytes", mode,
          TCP_BYTES);

    /* 2. UDP over IPv4 and IPv6, echoed. */
    u4 = udp_new();
    udp_recv(u4, dev_udp_recv, NULL);
    udp_bind(u4, IP4_ADDR_ANY, 0);
    u6 = udp_new_ip_type(IPADDR_TYPE_V6);
    udp_recv(u6, dev_udp_recv, NULL);
    udp_bind(u6, IP6_ADDR_ANY, 0);
    for (k = 0; k < UDP4_COUNT; k++) {
        struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, UDP4_LEN, PBUF_RAM);
        memset(p->payload, 'u', UDP4_LEN);
        udp_sendto(u4, p, &peer4, ECHO_PORT);
        pbuf_free(p);
    }
    for (k = 0; k < UDP6_COUNT; k++) {
        struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, UDP6_LEN, PBUF_RAM);
        memset(p->payload, 'v', UDP6_LEN);
        udp_sendto(u6, p, &peer6, ECHO_PORT);
        pbuf_free(p);
    }
    CHECK(run_until(udp_done, SCENARIO_TIMEOUT_MS, &cap), "%s: UDP echoes (%d/%d v4, %d/%d v6)",
          mode, g_dev.udp_replies4, UDP4_COUNT, g_dev.udp_replies6, UDP6_COUNT);

    /* 3. Pings, one at a time. */
    ping4 = raw_new(IP_PROTO_ICMP);
    raw_recv(ping4, dev_ping_recv, NULL);
    raw_bind(ping4, IP4_ADDR_ANY);
    ping6 = raw_new_ip_type(IPADDR_TYPE_V6, IP6_NEXTH_ICMP6);
    ping6->chksum_reqd = 1;
    ping6->chksum_offset = 2;
    raw_recv(ping6, dev_ping_recv, NULL);
    raw_bind(ping6, IP6_ADDR_ANY);
    for (k = 0; k < PING4_COUNT; k++) {
        int want = k + 1;
        dev_ping(ping4, &peer4, 0, (u16_t)k);
        run_until(NULL, 0, &cap);
        for (i = 0; i < 2000 && g_dev.ping_replies4 < want; i++) {
            run_until(NULL, 2, &cap);
        }
    }
    for (k = 0; k < PING6_COUNT; k++) {
        int want = k + 1;
        dev_ping(ping6, &peer6, 1, (u16_t)k);
        for (i = 0; i < 2000 && g_dev.ping_replies6 < want; i++) {
            run_until(NULL, 2, &cap);
        }
    }
    CHECK(g_dev.ping_replies4 == PING4_COUNT && g_dev.ping_replies6 == PING6_COUNT,
          "%s: ping replies %d/%d v4, %d/%d v6", mode, g_dev.ping_replies4, PING4_COUNT,
          g_dev.ping_replies6, PING6_COUNT);

    /* 4. The peer's connection to telnet, then let the TCP closes finish. */
    CHECK(run_until(telnet_done, SCENARIO_TIMEOUT_MS, &cap), "%s: inbound telnet connection", mode);
    run_until(NULL, 300, &cap);

    /* 5. Ethernet run: a deny-list drop for the peer, then two pings the glue must drop. */
    drops_before = glue.dropped_out;
    if (ethernet) {
        ward_status_t st =
            ward_agent_apply_config(&g_agent, DENY_CONFIG, sizeof DENY_CONFIG, now_ms());
        CHECK(st == WARD_OK, "deny config applied: %s", ward_status_str(st));
        for (k = 0; k < DENIED_PINGS; k++) {
            dev_ping(ping4, &peer4, 0, (u16_t)(100 + k));
        }
        run_until(NULL, 300, &cap);
        CHECK(glue.dropped_out - drops_before == DENIED_PINGS,
              "the glue dropped the %d pings to the denied peer (dropped %u)", DENIED_PINGS,
              (unsigned)(glue.dropped_out - drops_before));
        CHECK(g_dev.ping_replies4 == PING4_COUNT, "no reply to a dropped ping");
    }

    /* The report: everything so far, decoded and compared with the link's counts. */
    CHECK(ward_agent_flush(&g_agent, now_ms(), g_report, sizeof g_report) == WARD_OK, "flush");
    ward_lwip_detach(&glue);
    close(sv[0]); /* the peer sees the link close and exits */
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "peer exited 0");
    netif_remove(&g_side.netif);

    if (getenv("WARD_TEST_DUMP") != NULL) {
        for (i = 0; i < cap.n; i++) {
            char path[256];
            FILE *fp;
            snprintf(path, sizeof path, "%s/%s-%zu.cbor", getenv("WARD_TEST_DUMP"), mode, i);
            fp = fopen(path, "wb");
            if (fp != NULL) {
                fwrite(cap.part[i], 1, cap.len[i], fp);
                fclose(fp);
            }
        }
    }
    read_reports(&cap, &v);
    CHECK(!link.overflow && !v.flows.overflow, "flow lists large enough");
    /* The dropped pings: in the report (the hook saw them), not on the link. */
    if (ethernet) {
        flow_t *f = (flow_t *)find_flow(&link, 1, "10.0.0.2", 0, ICMP_ECHO * 256);
        if (f != NULL) {
            f->pkts_out += DENIED_PINGS;
            f->bytes_out += DENIED_PINGS * (20 + 8 + PING_LEN);
        }
        CHECK(v.detections_drop >= 1, "a deny-list detection with action drop was reported");
        CHECK(v.config_rev == 7, "config revision 7 echoed (got %llu)",
              (unsigned long long)v.config_rev);
    }
    /* Exact: every flow on the link is in the report with the same counts, and nothing else. */
    CHECK(link.n == v.flows.n, "%s: %zu flows on the link, %zu in the report", mode, link.n,
          v.flows.n);
    for (i = 0; i < link.n; i++) {
        const flow_t *l = &link.f[i];
        char rs[INET6_ADDRSTRLEN];
        const flow_t *r;
        inet_ntop(l->family == 4 ? AF_INET : AF_INET6, l->remote, rs, sizeof rs);
        r = find_flow(&v.flows, l->proto, rs, l->lport, l->rport);
        CHECK(r != NULL && r->pkts_out == l->pkts_out && r->pkts_in == l->pkts_in &&
                  r->bytes_out == l->bytes_out && r->bytes_in == l->bytes_in,
              "%s: flow proto %u %s:%u lport %u: report equals link", mode, l->proto, rs, l->rport,
              l->lport);
        if (r == NULL || r->pkts_out != l->pkts_out || r->pkts_in != l->pkts_in) {
            print_flow("link  ", l);
            if (r != NULL) {
                print_flow("report", r);
            }
        }
    }

    /* The scenario, flow by flow, in absolute numbers. */
    {
        const flow_t *f = find_flow(&v.flows, 6, "10.0.0.2", 0xffff, ECHO_PORT);
        CHECK(f != NULL && f->initiator == WARD_DIR_OUTBOUND, "%s: TCP to :7 opened by the device",
              mode);
        CHECK(f != NULL && (f->tcp_flags & 0x1b) == 0x1b && ((f->tcp_flags >> 8) & 0x13) == 0x13,
              "%s: TCP flags out SYN ACK PSH FIN, in SYN ACK FIN (got %#x)", mode,
              f != NULL ? f->tcp_flags : 0);
        CHECK(f != NULL && f->bytes_out >= TCP_BYTES + 4 * 40 && f->bytes_in >= TCP_BYTES + 3 * 40,
              "%s: TCP bytes carry the 1000 echoed bytes", mode);

        f = find_flow(&v.flows, 6, "10.0.0.2", TELNET_PORT, 0xffff);
        (void)f;
        for (i = 0, f = NULL; i < v.flows.n; i++) {
            if (v.flows.f[i].proto == 6 && v.flows.f[i].lport == TELNET_PORT) {
                f = &v.flows.f[i];
            }
        }
        CHECK(f != NULL && f->initiator == WARD_DIR_INBOUND && f->pkts_in >= 3 &&
                  f->bytes_in >= 3 * 40 + sizeof PEER_HELLO - 1,
              "%s: telnet flow opened by the peer (inbound)", mode);

        f = find_flow(&v.flows, 17, "10.0.0.2", 0xffff, ECHO_PORT);
        CHECK(f != NULL && f->initiator == WARD_DIR_OUTBOUND && f->pkts_out == UDP4_COUNT &&
                  f->pkts_in == UDP4_COUNT && f->bytes_out == UDP4_COUNT * (20 + 8 + UDP4_LEN) &&
                  f->bytes_in == UDP4_COUNT * (20 + 8 + UDP4_LEN),
              "%s: UDP/IPv4 echo: %d datagrams each way", mode, UDP4_COUNT);
        f = find_flow(&v.flows, 17, "fd00::2", 0xffff, ECHO_PORT);
        CHECK(f != NULL && f->initiator == WARD_DIR_OUTBOUND && f->pkts_out == UDP6_COUNT &&
                  f->pkts_in == UDP6_COUNT && f->bytes_out == UDP6_COUNT * (40 + 8 + UDP6_LEN),
              "%s: UDP/IPv6 echo: %d datagrams each way", mode, UDP6_COUNT);

        f = find_flow(&v.flows, 1, "10.0.0.2", 0, ICMP_ECHO * 256);
        CHECK(f != NULL && f->pkts_out == PING4_COUNT + (ethernet ? DENIED_PINGS : 0) &&
                  f->pkts_in == 0 && f->initiator == WARD_DIR_OUTBOUND,
              "%s: ICMP echo requests out", mode);
        f = find_flow(&v.flows, 1, "10.0.0.2", 0, ICMP_ER * 256);
        CHECK(f != NULL && f->pkts_in == PING4_COUNT && f->pkts_out == 0,
              "%s: ICMP echo replies in", mode);
        f = find_flow(&v.flows, 58, "fd00::2", 0, ICMP6_TYPE_EREQ * 256);
        CHECK(f != NULL && f->pkts_out == PING6_COUNT &&
                  f->bytes_out == PING6_COUNT * (40 + 8 + PING_LEN),
              "%s: ICMPv6 echo requests out", mode);
        f = find_flow(&v.flows, 58, "fd00::2", 0, ICMP6_TYPE_EREP * 256);
        CHECK(f != NULL && f->pkts_in == PING6_COUNT, "%s: ICMPv6 echo replies in", mode);
    }

    /* Listening sockets, from lwIP's PCB lists: telnet (IPv4 any) and SNMP (dual stack: "::"). */
    CHECK(has_listen(&v, 6, 4, TELNET_PORT), "%s: TCP 0.0.0.0:23 listening", mode);
    CHECK(has_listen(&v, 17, 16, SNMP_PORT), "%s: UDP [::]:161 listening", mode);
    CHECK(!has_listen(&v, 6, 4, ECHO_PORT) && !has_listen(&v, 6, 16, ECHO_PORT),
          "%s: the peer's services are not the device's", mode);
    CHECK(strcmp(v.ip_stack, "lwIP " LWIP_VERSION_STRING) == 0, "%s: sysinfo ip_stack '%s'", mode,
          v.ip_stack);
    printf("%s: %zu flows on the link and in the report, %zu report parts, %zu listening\n", mode,
           link.n, cap.n, v.nlisten);
    for (i = 0; i < cap.n; i++) {
        free(cap.part[i]);
    }
    tcp_close(telnet);
    udp_remove(snmp);
    udp_remove(u4);
    udp_remove(u6);
    raw_remove(ping4);
    raw_remove(ping6);
}

/* Each run in a process of its own: lwIP's state is global and lwip_init() is once per process. */
static int run_in_child(int ethernet)
{
    pid_t pid;
    int status;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        run(ethernet);
        printf("%s: %d passed, %d failed\n", ethernet ? "ethernet" : "ip", g_passed, g_failed);
        fflush(NULL);
        _exit(g_failed == 0 ? 0 : 1);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        return 1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(void)
{
    int failed = 0;

    signal(SIGPIPE, SIG_IGN);
    failed += run_in_child(1);
    failed += run_in_child(0);
    printf("agent-lwip: %s\n", failed == 0 ? "all checks passed" : "FAILED");
    return failed == 0 ? 0 : 1;
}
