/*
 * lwip-device: a device whose whole IP stack is lwIP, watched by the ward agent through the lwIP
 * port (agent/port/lwip), for the end-to-end test (tests/e2e) and for trying the port by hand.
 *
 * The link is a Linux interface driven through a raw AF_PACKET socket (promiscuous, own MAC
 * address): every Ethernet frame on the interface goes to lwIP and every frame lwIP sends goes out
 * on it. Give the interface no kernel IP configuration (no addresses, IPv6 disabled, ARP off), so
 * that only lwIP answers. Received frames are copied into PBUF_RAM pbufs, never PBUF_POOL:
 * Debian's liblwip 2.1.3+dfsg1-2 sizes its pool buffers for 590 bytes but fills them up to its
 * larger PBUF_POOL_BUFSIZE, so a PBUF_POOL pbuf over 590 bytes overflows the heap (the reason its
 * tapif driver is not used either).
 *
 * Services, on lwIP's raw API: TCP 22 and 80 (a one-line banner, closed when the client closes
 * or after 5 s), UDP 161 (echo), and lwIP's own ICMP/ICMPv6 echo. The ward glue is attached to
 * the netif before it comes up; listening sockets come from lwIP's PCB lists.
 *
 * Threads: lwIP (Debian's NO_SYS=0 build, used single-threaded: lwip_init() and
 * sys_check_timeouts(), no tcpip thread), the packet hook and ward_agent_poll() all run in the
 * main thread; reports leave through ward-agent's libmosquitto transport (mqtt_transport.c), whose
 * network thread uses the host's own sockets (the broker is on the host side, e.g. 127.0.0.1).
 * SIGTERM/SIGINT: flush the last report, wait for the broker's acknowledgement, exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ethernet.h"

#include "mqtt_transport.h"
#include "ward_lwip.h"

#define FRAME_MAX 1600    /* MTU 1500 + Ethernet header + a VLAN tag, rounded up */
#define POLL_EVERY_MS 250 /* ward_agent_poll() period */
#define RX_BATCH 256      /* frames taken per wakeup before lwIP's timers run again */
#define CONNECT_TIMEOUT_MS 15000
#define STOP_TIMEOUT_MS 5000 /* SIGTERM: the last report must be acknowledged within this */
#define BANNER "ward-e2e lwip-device\r\n"

static const uint16_t tcp_ports[] = {22, 80};
#define UDP_ECHO_PORT 161

static volatile sig_atomic_t g_stop;
static ward_agent_t g_agent;
static ward_lwip_t g_glue;
static struct netif g_netif;
static uint8_t g_report[16384];
static uint8_t g_config[WARD_POSIX_CONFIG_MAX];
static int g_fd = -1; /* the AF_PACKET socket */
static uint8_t g_mac[6];

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* The agent's clock: Unix time (WARD_TIME_UNIX). lwIP has its own (sys_now, monotonic). */
static uint64_t realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "lwip-device: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

/* ---- the link: an AF_PACKET socket ----------------------------------------------------------- */

/* netif->linkoutput (behind the glue's wrapper): one frame out on the interface. */
static err_t link_output(struct netif *netif, struct pbuf *p)
{
    uint8_t buf[FRAME_MAX];
    u16_t n;
    (void)netif;

    if (p->tot_len > sizeof buf) {
        return ERR_BUF;
    }
    n = pbuf_copy_partial(p, buf, p->tot_len, 0);
    /* A full socket buffer under a flood: the frame is lost, as on a busy wire. */
    return send(g_fd, buf, n, MSG_DONTWAIT) == (ssize_t)n ? ERR_OK : ERR_IF;
}

/* One's complement sum of len bytes, added to sum (the Internet checksum, RFC 1071). */
static uint32_t csum_add(uint32_t sum, const uint8_t *b, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)(b[i] << 8 | b[i + 1]);
    }
    if (len & 1) {
        sum += (uint32_t)b[len - 1] << 8;
    }
    return sum;
}

/*
 * Fill in the TCP/UDP checksum of a frame the kernel marked TP_STATUS_CSUMNOTREADY. A frame from
 * another namespace over a veth keeps the sender's checksum offload (CHECKSUM_PARTIAL): its
 * checksum field holds only the pseudo-header sum, and lwIP, which checks every checksum, would
 * drop it. A NIC on a wire never delivers such a frame; this driver does the sender's NIC's job.
 */
static void fix_checksum(uint8_t *f, size_t n)
{
    uint8_t *ip = f + 14;
    uint8_t *l4;
    size_t l4len;
    uint32_t sum;
    unsigned type = (unsigned)(f[12] << 8 | f[13]);
    uint8_t proto;
    size_t off;

    if (type == 0x0800 && n >= 34 && (ip[0] >> 4) == 4) {
        size_t ihl = (size_t)(ip[0] & 15) * 4;
        size_t tot = (size_t)(ip[2] << 8 | ip[3]);
        if (ihl < 20 || tot < ihl || 14 + tot > n) {
            return;
        }
        proto = ip[9];
        l4 = ip + ihl;
        l4len = tot - ihl;
        sum = csum_add(0, ip + 12, 8);
    } else if (type == 0x86DD && n >= 54 && (ip[0] >> 4) == 6) {
        l4len = (size_t)(ip[4] << 8 | ip[5]);
        if (54 + l4len > n) {
            return;
        }
        proto = ip[6]; /* the common case: no extension headers */
        l4 = ip + 40;
        sum = csum_add(0, ip + 8, 32);
    } else {
        return;
    }
    off = proto == 6 ? 16 : proto == 17 ? 6 : 0;
    if (off == 0 || l4len < off + 2) {
        return;
    }
    sum += proto + (uint32_t)l4len;
    l4[off] = 0;
    l4[off + 1] = 0;
    sum = csum_add(sum, l4, l4len);
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = ~sum & 0xffff;
    if (sum == 0 && proto == 17) {
        sum = 0xffff;
    }
    l4[off] = (uint8_t)(sum >> 8);
    l4[off + 1] = (uint8_t)sum;
}

/* Take up to RX_BATCH waiting frames and hand each to lwIP (through the glue's input hook). */
static void link_input(void)
{
    uint8_t buf[FRAME_MAX];
    union {
        struct cmsghdr h;
        uint8_t b[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    } ctl;
    struct sockaddr_ll from;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg;
    struct cmsghdr *c;
    ssize_t n;
    struct pbuf *p;
    int i;

    for (i = 0; i < RX_BATCH; i++) {
        memset(&msg, 0, sizeof msg);
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.b;
        msg.msg_controllen = sizeof ctl.b;
        n = recvmsg(g_fd, &msg, MSG_DONTWAIT);
        if (n < 0) {
            return; /* EAGAIN: drained (other errors: retried at the next wakeup) */
        }
        if (n < 14 || from.sll_pkttype == PACKET_OUTGOING) {
            continue; /* our own frames, seen again when PACKET_IGNORE_OUTGOING is missing */
        }
        for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            struct tpacket_auxdata aux;
            if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
                memcpy(&aux, CMSG_DATA(c), sizeof aux);
                if (aux.tp_status & TP_STATUS_CSUMNOTREADY) {
                    fix_checksum(buf, (size_t)n);
                }
            }
        }
        p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM); /* never PBUF_POOL: see the top */
        if (p == NULL) {
            continue;
        }
        pbuf_take(p, buf, (u16_t)n);
        if (g_netif.input(p, &g_netif) != ERR_OK) {
            pbuf_free(p);
        }
    }
}

static int link_open(const char *iface)
{
    struct sockaddr_ll sll;
    struct packet_mreq mr;
    int one = 1;
    int rcvbuf = 4 << 20;
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

    if (fd < 0) {
        die("AF_PACKET socket: %s (needs CAP_NET_RAW)", strerror(errno));
    }
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)if_nametoindex(iface);
    if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
        die("cannot bind to interface '%s'", iface);
    }
    /* Promiscuous: lwIP's MAC address is its own, not the interface's. */
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = sll.sll_ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
        die("promiscuous mode on '%s' refused", iface);
    }
    (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) != 0) {
        die("PACKET_AUXDATA: %s", strerror(errno));
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    return fd;
}

static err_t netif_init_cb(struct netif *n)
{
    n->name[0] = 'l';
    n->name[1] = 'd';
    n->mtu = 1500;
    n->hwaddr_len = 6;
    memcpy(n->hwaddr, g_mac, 6);
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP |
               NETIF_FLAG_MLD6;
    n->output = etharp_output;
    n->output_ip6 = ethip6_output;
    n->linkoutput = link_output;
    return ERR_OK;
}

/* ---- services (raw API) ---------------------------------------------------------------------- */

static err_t svc_close(struct tcp_pcb *pcb)
{
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
    if (tcp_close(pcb) != ERR_OK) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    return ERR_OK;
}

/* Read and discard what the client sends; close when it closes. */
static err_t svc_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)arg;
    (void)err;
    if (p == NULL) {
        return svc_close(pcb);
    }
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

/* Called every 5 s (10 coarse ticks) of a connection: a silent client is closed. */
static err_t svc_poll(void *arg, struct tcp_pcb *pcb)
{
    (void)arg;
    return svc_close(pcb);
}

static err_t svc_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || pcb == NULL) {
        return ERR_VAL;
    }
    tcp_recv(pcb, svc_recv);
    tcp_poll(pcb, svc_poll, 10);
    if (tcp_write(pcb, BANNER, sizeof BANNER - 1, TCP_WRITE_FLAG_COPY) != ERR_OK) {
        return svc_close(pcb);
    }
    tcp_output(pcb);
    return ERR_OK;
}

static void udp_echo(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                     u16_t port)
{
    (void)arg;
    udp_sendto(pcb, p, addr, port);
    pbuf_free(p);
}

static void services_start(void)
{
    struct udp_pcb *u = udp_new_ip_type(IPADDR_TYPE_ANY);
    size_t i;

    for (i = 0; i < sizeof tcp_ports / sizeof tcp_ports[0]; i++) {
        struct tcp_pcb *l = tcp_new_ip_type(IPADDR_TYPE_ANY);
        if (l == NULL || tcp_bind(l, IP_ANY_TYPE, tcp_ports[i]) != ERR_OK ||
            (l = tcp_listen(l)) == NULL) {
            die("cannot listen on tcp/%s", "22/80");
        }
        tcp_accept(l, svc_accept);
    }
    if (u == NULL || udp_bind(u, IP_ANY_TYPE, UDP_ECHO_PORT) != ERR_OK) {
        die("cannot bind udp/%s", "161");
    }
    udp_recv(u, udp_echo, NULL);
}

/* ---- main ------------------------------------------------------------------------------------ */

typedef struct opts {
    const char *id, *iface, *ip4, *ip6, *gw;
    char host[256];
    int port;
    unsigned interval_s;
} opts_t;

static void usage(void)
{
    fprintf(stderr, "usage: lwip-device --device-id ID --broker HOST:PORT --iface IFACE\n"
                    "                   --ip4 ADDR/LEN [--ip6 ADDR/LEN] [--gw ADDR] "
                    "[--interval SECONDS]\n");
    exit(2);
}

static void parse(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {
        {"device-id", required_argument, NULL, 'd'}, {"broker", required_argument, NULL, 'b'},
        {"iface", required_argument, NULL, 'i'},     {"ip4", required_argument, NULL, '4'},
        {"ip6", required_argument, NULL, '6'},       {"gw", required_argument, NULL, 'g'},
        {"interval", required_argument, NULL, 'I'},  {NULL, 0, NULL, 0}};
    const char *colon;
    char *end;
    long v;
    int c;

    memset(o, 0, sizeof *o);
    o->interval_s = WARD_REPORT_INTERVAL_S;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->id = optarg;
            break;
        case 'i':
            o->iface = optarg;
            break;
        case '4':
            o->ip4 = optarg;
            break;
        case '6':
            o->ip6 = optarg;
            break;
        case 'g':
            o->gw = optarg;
            break;
        case 'b':
            colon = strrchr(optarg, ':');
            if (colon == NULL || (size_t)(colon - optarg) >= sizeof o->host) {
                die("bad --broker '%s': HOST:PORT", optarg);
            }
            memcpy(o->host, optarg, (size_t)(colon - optarg));
            v = strtol(colon + 1, &end, 10);
            if (*end != '\0' || v < 1 || v > 65535) {
                die("bad --broker '%s': HOST:PORT", optarg);
            }
            o->port = (int)v;
            break;
        case 'I':
            v = strtol(optarg, &end, 10);
            if (*end != '\0' || v < 10 || v > 86400) {
                die("bad --interval '%s': seconds, 10-86400", optarg);
            }
            o->interval_s = (unsigned)v;
            break;
        default:
            usage();
        }
    }
    if (o->id == NULL || o->iface == NULL || o->ip4 == NULL || o->port == 0 || optind != argc) {
        usage();
    }
}

/* "ADDR/LEN" -> the address text in buf and the prefix length. */
static int split_prefix(const char *s, char *buf, size_t cap, int max_len)
{
    const char *slash = strchr(s, '/');
    char *end;
    long len;

    if (slash == NULL || (size_t)(slash - s) >= cap) {
        die("bad address '%s': ADDR/LEN", s);
    }
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    len = strtol(slash + 1, &end, 10);
    if (*end != '\0' || len < 1 || len > max_len) {
        die("bad prefix length in '%s'", s);
    }
    return (int)len;
}

/* lwIP with its addresses, the glue attached before the netif comes up (its first packets too). */
static void stack_start(const opts_t *o)
{
    char a[64];
    ip4_addr_t ip, mask, gw;
    int len = split_prefix(o->ip4, a, sizeof a, 32);

    if (!ip4addr_aton(a, &ip) || (o->gw != NULL && !ip4addr_aton(o->gw, &gw))) {
        die("bad IPv4 address in '%s'", o->ip4);
    }
    if (o->gw == NULL) {
        ip4_addr_set_zero(&gw);
    }
    ip4_addr_set_u32(&mask, lwip_htonl(0xffffffffu << (32 - len)));
    /* A locally administered MAC address derived from the IPv4 address: stable across runs. */
    memcpy(g_mac, "\x02\x77\x64", 3);
    memcpy(g_mac + 3, (const uint8_t *)&ip + 1, 3);
    lwip_init();
    netif_add(&g_netif, &ip, &mask, &gw, NULL, netif_init_cb, ethernet_input);
    netif_set_default(&g_netif);
    if (ward_lwip_attach(&g_glue, &g_netif, &g_agent, realtime_ms) != ERR_OK) {
        die("cannot attach the ward glue%s", "");
    }
    g_netif.rs_count = 0; /* static addresses: no router solicitations */
    if (o->ip6 != NULL) {
        ip6_addr_t ip6;
        s8_t idx = -1;
        /* lwIP 2.1 treats a static address's /64 as on-link; the length is checked only. */
        (void)split_prefix(o->ip6, a, sizeof a, 128);
        if (!ip6addr_aton(a, &ip6) || netif_add_ip6_address(&g_netif, &ip6, &idx) != ERR_OK) {
            die("bad IPv6 address in '%s'", o->ip6);
        }
        netif_ip6_addr_set_state(&g_netif, idx, IP6_ADDR_PREFERRED); /* no DAD: fixed address */
    }
    netif_set_link_up(&g_netif);
    netif_set_up(&g_netif);
    ward_agent_set_listening(&g_agent, ward_lwip_listening, &g_glue);
}

int main(int argc, char **argv)
{
    ward_posix_mqtt_config_t mc;
    ward_agent_config_t cfg;
    ward_transport_t transport;
    ward_sysinfo_t si;
    ward_posix_mqtt_t *mqtt;
    struct sigaction sa;
    sigset_t block, old;
    struct pollfd pfd;
    uint64_t next_poll, deadline;
    char err[512];
    opts_t o;
    long n;
    int rc = 0;

    parse(argc, argv, &o);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    g_fd = link_open(o.iface);

    /* libmosquitto's thread inherits the signal mask: the signals stay with the main thread. */
    memset(&mc, 0, sizeof mc);
    mc.device_id = o.id;
    mc.host = o.host;
    mc.port = o.port;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    mqtt = ward_posix_mqtt_start(&mc, err, sizeof err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (mqtt == NULL ||
        ward_posix_mqtt_wait_connected(mqtt, CONNECT_TIMEOUT_MS, &g_stop, err, sizeof err) != 0) {
        die("%s", mqtt == NULL ? err : "cannot connect to the broker");
    }

    ward_agent_config_init(&cfg);
    cfg.device_id = o.id;
    cfg.boot_id = (uint32_t)realtime_ms() ^ ((uint32_t)getpid() << 16);
    cfg.report_interval_s = o.interval_s;
    cfg.time_base = WARD_TIME_UNIX;
    transport.publish = ward_posix_mqtt_publish;
    transport.ctx = mqtt;
    cfg.transport = &transport;
    if (ward_agent_init(&g_agent, &cfg, realtime_ms()) != WARD_OK) {
        die("invalid --device-id '%s'", o.id);
    }
    stack_start(&o);
    services_start();
    ward_lwip_sysinfo(&si);
    si.os = "Linux (lwip-device)";
    si.firmware = "lwip-device " WARD_AGENT_VERSION;
    ward_agent_set_sysinfo(&g_agent, &si);
    printf("lwip-device %s: lwIP on %s, %s%s%s, reporting to %s:%d\n", o.id, o.iface, o.ip4,
           o.ip6 != NULL ? " " : "", o.ip6 != NULL ? o.ip6 : "", o.host, o.port);
    fflush(stdout);

    pfd.fd = g_fd;
    pfd.events = POLLIN;
    next_poll = realtime_ms();
    while (!g_stop) {
        uint32_t sleep_ms = sys_timeouts_sleeptime();
        if (sleep_ms > 50) {
            sleep_ms = 50;
        }
        if (poll(&pfd, 1, (int)sleep_ms) > 0) {
            link_input();
        }
        sys_check_timeouts();
        if (realtime_ms() >= next_poll) {
            next_poll = realtime_ms() + POLL_EVERY_MS;
            n = ward_posix_mqtt_take_config(mqtt, g_config, sizeof g_config);
            if (n > 0) {
                ward_agent_apply_config(&g_agent, g_config, (size_t)n, realtime_ms());
            }
            ward_agent_poll(&g_agent, realtime_ms(), g_report, sizeof g_report);
        }
    }

    /* The last report: retried while the broker is away (libmosquitto reconnects meanwhile). */
    deadline = realtime_ms() + STOP_TIMEOUT_MS;
    while (ward_agent_flush(&g_agent, realtime_ms(), g_report, sizeof g_report) != WARD_OK) {
        if (realtime_ms() >= deadline) {
            fprintf(stderr, "lwip-device: cannot send the last report\n");
            rc = 1;
            break;
        }
        ward_posix_mqtt_wait_connected(mqtt, 200, NULL, err, sizeof err);
    }
    if (ward_posix_mqtt_wait_acked(mqtt, STOP_TIMEOUT_MS) != 0) {
        fprintf(stderr, "lwip-device: the broker did not acknowledge the last report\n");
        rc = 1;
    }
    printf("lwip-device %s: %lu report part(s) sent, %u/%u deny-list drops in/out\n", o.id,
           ward_posix_mqtt_reports(mqtt), (unsigned)g_glue.dropped_in,
           (unsigned)g_glue.dropped_out);
    ward_posix_mqtt_stop(mqtt, 2000);
    close(g_fd);
    return rc;
}
