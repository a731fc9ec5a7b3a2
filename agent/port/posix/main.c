/*
 * ward-agent: the POSIX/Linux host program around the agent core. It feeds the core the IP packets
 * of a live interface (libpcap) or of a pcap/pcapng capture, tells it which way each packet went,
 * and publishes its reports over MQTT (mqtt_transport.c).
 *
 * Threads: this file runs in the main thread only. The core is called from here alone (packet hook
 * and poll in the same thread), so it needs no critical section. libmosquitto runs its own network
 * thread, which never touches the core.
 *
 * Clock: in pcap mode the capture's timestamps are the clock, so a capture replays as fast as it
 * can be read and reports still fall due per --interval of capture time; in live mode the clock is
 * CLOCK_REALTIME. Both are Unix milliseconds (WARD_TIME_UNIX).
 *
 * Collectors (ward/port.h): listening sockets are pulled by the core at report time from
 * /proc/net/{tcp,tcp6,udp,udp6} in live mode (procnet.c) plus any --listen; in pcap mode there are
 * no live sockets (the capture may come from another machine), so only --listen counts. System
 * information comes from uname(2), --firmware and --hardware, whether --cafile is given, and the
 * kernel's clock state (adjtimex(2), STA_UNSYNC), re-checked every SYSINFO_CHECK_MS.
 * Config messages from ward/v1/<id>/config arrive in the MQTT thread, wait in a one-message
 * mailbox (mqtt_transport.c), and are applied here, before the next packet or poll.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "linklayer.h"
#include "mqtt_transport.h"
#include "procnet.h"
#include "ward/agent.h"

#define MAX_DEVICE_ADDRS 16
#define POLL_PERIOD_MS 250 /* how often the core is polled (live time or capture time) */
#define DEFAULT_CONNECT_TIMEOUT_S 5
#define ACK_TIMEOUT_MS 30000 /* how long to wait for the broker to acknowledge the last reports */
#define STOP_FLUSH_TIMEOUT_MS 3000 /* after SIGINT/SIGTERM: how long the last report may wait */
#define LIVE_SNAPLEN 512           /* headers only: the core reads lengths from the IP header */
#define REPORT_BUFFER_SIZE 16384   /* larger than the core's default: fewer parts on a host */
#define MAX_DECLARED_LISTEN WARD_MAX_LISTEN /* --listen entries */
#define PROCNET_MAX 256                     /* listening sockets read from /proc/net per report */
#define SYSINFO_CHECK_MS 10000 /* how often the clock's sync state is looked at again */
#define CONFIG_SETTLE_MS 2000  /* pcap: how long to wait for a retained config at start */

enum { EXIT_USAGE = 2 };

typedef struct device_addr {
    int version; /* 4 or 6 */
    uint8_t a[16];
} device_addr_t;

typedef struct options {
    const char *device_id;
    const char *broker;
    char host[256];
    int port;
    const char *iface;
    const char *pcap_file;
    device_addr_t addrs[MAX_DEVICE_ADDRS];
    int naddrs;
    unsigned interval_s;
    int once;
    int connect_timeout_s;
    const char *cafile;
    const char *certfile;
    const char *keyfile;
    const char *firmware;
    const char *hardware;
    ward_listen_t listen[MAX_DECLARED_LISTEN]; /* --listen */
    int nlisten;
} options_t;

typedef struct stats {
    unsigned long frames;
    unsigned long outbound;
    unsigned long inbound;
    unsigned long ignored;   /* IP packets neither from nor to the device */
    unsigned long not_ip;    /* frames without an IPv4/IPv6 packet (ARP, ...) */
    unsigned long truncated; /* frames cut inside the link-layer header or before the addresses */
    unsigned long malformed; /* IP packets the core could not parse (it counts them by reason) */
    unsigned long deny_hits; /* packets a deny-list drop rule matched (seen, not dropped: below) */
} stats_t;

typedef struct run {
    const options_t *opt;
    ward_posix_mqtt_t *mqtt;
    ward_transport_t transport;
    int started;     /* ward_agent_init() done */
    int dlt;         /* link type of the capture */
    int by_pkttype;  /* live: direction from the kernel's packet type (SLL/SLL2) */
    uint64_t now_ms; /* the clock, never going back */
    uint64_t last_poll_ms;
    int reported;          /* a report was published (for --once in live mode) */
    int failed;            /* the core returned an unexpected status */
    unsigned long reports; /* report parts published, counted at the end */
    stats_t st;
    struct utsname uts; /* for sysinfo: kept, the core copies the strings it is given */
    char os[sizeof((struct utsname *)0)->sysname + sizeof((struct utsname *)0)->release];
    int time_synced;           /* last value given to the core */
    uint64_t sysinfo_check_ms; /* realtime of the last clock check */
} run_t;

static ward_agent_t g_agent;
static uint8_t g_report[REPORT_BUFFER_SIZE];
static uint8_t g_config[WARD_POSIX_CONFIG_MAX];
static ward_posix_listen_t g_procnet[PROCNET_MAX];
static volatile sig_atomic_t g_stop;

/* ---- messages ------------------------------------------------------------------------------ */

static void die_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("ward-agent: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    exit(EXIT_USAGE);
}

static void errmsg(const char *fmt, ...)
{
    va_list ap;

    fputs("ward-agent: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(void)
{
    printf(
        "usage: ward-agent --device-id ID --broker HOST:PORT\n"
        "         (--iface IFACE | --pcap FILE --device-addr ADDR [--device-addr ADDR]...)\n"
        "         [--interval SECONDS] [--once] [--connect-timeout SECONDS]\n"
        "         [--cafile FILE [--cert FILE --key FILE]]\n"
        "         [--listen PROTO:[ADDR:]PORT]... [--firmware VERSION] [--hardware MODEL]\n"
        "\n"
        "Watches one device's network traffic with the ward agent core and publishes its reports\n"
        "to ward/v1/<ID>/report (MQTT, QoS 1).\n"
        "\n"
        "  --device-id ID        device id: 1-64 of A-Z a-z 0-9 . _ - (also the MQTT client id)\n"
        "  --broker HOST:PORT    MQTT broker ([ADDR]:PORT for an IPv6 address)\n"
        "  --iface IFACE         capture live on IFACE (needs CAP_NET_RAW); the kernel says which\n"
        "                        packets the host sent; runs until SIGINT/SIGTERM\n"
        "  --pcap FILE           replay a pcap or pcapng capture as fast as possible, its\n"
        "                        timestamps being the clock, then exit\n"
        "  --device-addr ADDR    an IPv4 or IPv6 address of the device (repeat for each): packets\n"
        "                        from it are outbound, to it inbound, others ignored. Needed with\n"
        "                        --pcap; with --iface used only when the link type has no packet\n"
        "                        direction (added to the interface's own addresses)\n"
        "  --interval SECONDS    report interval, 10-86400 (default %d)\n"
        "  --once                pcap: wait until the broker acknowledged every report, then exit\n"
        "                        (pcap mode always does); live: exit after the first report\n"
        "  --connect-timeout S   give up when the broker does not accept us within S seconds at\n"
        "                        start (default %d; 0 = keep trying)\n"
        "  --cafile FILE         use TLS, trusting the CAs in FILE\n"
        "  --cert FILE --key FILE  TLS client certificate and key\n"
        "  --listen PROTO:[ADDR:]PORT  declare a listening socket (PROTO tcp or udp; ADDR an IPv4\n"
        "                        address or [IPv6], default 0.0.0.0); repeatable, at most %d.\n"
        "                        Live mode also reads /proc/net; pcap mode has only these\n"
        "  --firmware VERSION    firmware version to report (sysinfo)\n"
        "  --hardware MODEL      hardware model to report (sysinfo)\n"
        "  --help                this text\n"
        "\n"
        "Exit status: 0 done, 1 runtime error, 2 usage error.\n",
        WARD_REPORT_INTERVAL_S, DEFAULT_CONNECT_TIMEOUT_S, MAX_DECLARED_LISTEN);
}

/* ---- argument parsing ---------------------------------------------------------------------- */

static int valid_device_id(const char *id)
{
    size_t n = strlen(id);
    size_t i;

    if (n < 1 || n > WARD_DEVICE_ID_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

/* A decimal integer in [min, max] (min >= 0), the whole string; -1 when not. */
static long parse_long(const char *s, long min, long max)
{
    char *end;
    long v;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    return v;
}

/* "host:port" or "[v6addr]:port" */
static int parse_broker(options_t *o)
{
    const char *s = o->broker;
    const char *colon;
    size_t hostlen;
    long port;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            return -1;
        }
        hostlen = (size_t)(close - s - 1);
        s += 1;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || strchr(s, ':') != colon) {
            return -1;
        }
        hostlen = (size_t)(colon - s);
    }
    if (hostlen == 0 || hostlen >= sizeof o->host) {
        return -1;
    }
    port = parse_long(colon + 1, 1, 65535);
    if (port < 1) {
        return -1;
    }
    memcpy(o->host, s, hostlen);
    o->host[hostlen] = '\0';
    o->port = (int)port;
    return 0;
}

static int add_addr(options_t *o, int version, const void *bytes)
{
    device_addr_t *d;
    int i;

    for (i = 0; i < o->naddrs; i++) {
        if (o->addrs[i].version == version &&
            memcmp(o->addrs[i].a, bytes, version == 4 ? 4 : 16) == 0) {
            return 0; /* already there */
        }
    }
    if (o->naddrs >= MAX_DEVICE_ADDRS) {
        return -1;
    }
    d = &o->addrs[o->naddrs++];
    memset(d, 0, sizeof *d);
    d->version = version;
    memcpy(d->a, bytes, version == 4 ? 4 : 16);
    return 0;
}

/* "tcp:80", "udp:127.0.0.1:53", "tcp:[::1]:8080" into a listening socket; -1 when malformed. */
static int parse_listen(const char *s, ward_listen_t *l)
{
    char addr[INET6_ADDRSTRLEN + 2];
    const char *rest;
    const char *colon;
    long port;
    size_t n;

    memset(l, 0, sizeof *l);
    l->family = 4;
    if (strncmp(s, "tcp:", 4) == 0) {
        l->proto = WARD_IPPROTO_TCP;
    } else if (strncmp(s, "udp:", 4) == 0) {
        l->proto = WARD_IPPROTO_UDP;
    } else {
        return -1;
    }
    rest = s + 4;
    colon = strrchr(rest, ':');
    if (colon != NULL) {
        n = (size_t)(colon - rest);
        if (n >= sizeof addr) {
            return -1;
        }
        if (n >= 2 && rest[0] == '[' && rest[n - 1] == ']') {
            memcpy(addr, rest + 1, n - 2);
            addr[n - 2] = '\0';
            if (inet_pton(AF_INET6, addr, l->addr) != 1) {
                return -1;
            }
            l->family = 6;
        } else {
            memcpy(addr, rest, n);
            addr[n] = '\0';
            if (inet_pton(AF_INET, addr, l->addr) != 1) {
                return -1;
            }
        }
        rest = colon + 1;
    }
    port = parse_long(rest, 1, 65535);
    if (port < 1) {
        return -1;
    }
    l->port = (uint16_t)port;
    return 0;
}

static void parse_args(int argc, char **argv, options_t *o)
{
    enum {
        OPT_DEVICE_ADDR = 256,
        OPT_CONNECT_TIMEOUT,
        OPT_CAFILE,
        OPT_CERT,
        OPT_KEY,
        OPT_LISTEN,
        OPT_FIRMWARE,
        OPT_HARDWARE
    };
    static const struct option longopts[] = {
        {"device-id", required_argument, NULL, 'd'},
        {"broker", required_argument, NULL, 'b'},
        {"iface", required_argument, NULL, 'i'},
        {"pcap", required_argument, NULL, 'r'},
        {"device-addr", required_argument, NULL, OPT_DEVICE_ADDR},
        {"interval", required_argument, NULL, 'I'},
        {"once", no_argument, NULL, '1'},
        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
        {"cafile", required_argument, NULL, OPT_CAFILE},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"firmware", required_argument, NULL, OPT_FIRMWARE},
        {"hardware", required_argument, NULL, OPT_HARDWARE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    long v;

    memset(o, 0, sizeof *o);
    o->interval_s = WARD_REPORT_INTERVAL_S;
    o->connect_timeout_s = DEFAULT_CONNECT_TIMEOUT_S;
    opterr = 0; /* our own one-line messages */
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->device_id = optarg;
            break;
        case 'b':
            o->broker = optarg;
            break;
        case 'i':
            o->iface = optarg;
            break;
        case 'r':
            o->pcap_file = optarg;
            break;
        case OPT_DEVICE_ADDR: {
            struct in_addr a4;
            struct in6_addr a6;
            int r;
            if (inet_pton(AF_INET, optarg, &a4) == 1) {
                r = add_addr(o, 4, &a4);
            } else if (inet_pton(AF_INET6, optarg, &a6) == 1) {
                r = add_addr(o, 6, &a6);
            } else {
                die_usage("bad --device-addr '%s': not an IPv4 or IPv6 address", optarg);
                return;
            }
            if (r != 0) {
                die_usage("too many --device-addr (at most %d)", MAX_DEVICE_ADDRS);
            }
            break;
        }
        case 'I':
            v = parse_long(optarg, 10, 86400);
            if (v < 10) {
                die_usage("bad --interval '%s': seconds, 10-86400", optarg);
            }
            o->interval_s = (unsigned)v;
            break;
        case '1':
            o->once = 1;
            break;
        case OPT_CONNECT_TIMEOUT:
            v = parse_long(optarg, 0, 3600);
            if (v < 0) {
                die_usage("bad --connect-timeout '%s': seconds, 0-3600", optarg);
            }
            o->connect_timeout_s = (int)v;
            break;
        case OPT_CAFILE:
            o->cafile = optarg;
            break;
        case OPT_CERT:
            o->certfile = optarg;
            break;
        case OPT_KEY:
            o->keyfile = optarg;
            break;
        case OPT_LISTEN:
            if (o->nlisten >= MAX_DECLARED_LISTEN) {
                die_usage("too many --listen (at most %d)", MAX_DECLARED_LISTEN);
            }
            if (parse_listen(optarg, &o->listen[o->nlisten]) != 0) {
                die_usage("bad --listen '%s': expected tcp|udp:[ADDR:]PORT, e.g. tcp:80, "
                          "udp:127.0.0.1:53, tcp:[::]:443",
                          optarg);
            }
            o->nlisten++;
            break;
        case OPT_FIRMWARE:
            o->firmware = optarg;
            break;
        case OPT_HARDWARE:
            o->hardware = optarg;
            break;
        case 'h':
            usage();
            exit(0);
        case ':':
            die_usage("option %s needs a value", argv[optind - 1]);
            break;
        default:
            die_usage("unknown option '%s'", argv[optind - 1]);
            break;
        }
    }
    if (optind < argc) {
        die_usage("unexpected argument '%s'", argv[optind]);
    }
    if (o->device_id == NULL) {
        die_usage("--device-id is required");
    }
    if (!valid_device_id(o->device_id)) {
        die_usage("bad --device-id '%s': 1-%d characters of A-Z a-z 0-9 . _ -", o->device_id,
                  WARD_DEVICE_ID_MAX);
    }
    if (o->broker == NULL) {
        die_usage("--broker HOST:PORT is required");
    }
    if (parse_broker(o) != 0) {
        die_usage("bad --broker '%s': expected HOST:PORT or [IPV6]:PORT, port 1-65535", o->broker);
    }
    if ((o->iface == NULL) == (o->pcap_file == NULL)) {
        die_usage("give exactly one of --iface IFACE and --pcap FILE");
    }
    if (o->pcap_file != NULL && o->naddrs == 0) {
        die_usage("--pcap needs at least one --device-addr");
    }
    if ((o->certfile == NULL) != (o->keyfile == NULL)) {
        die_usage("--cert and --key go together");
    }
    if (o->certfile != NULL && o->cafile == NULL) {
        die_usage("--cert/--key need --cafile");
    }
}

/* ---- the core ------------------------------------------------------------------------------ */

static uint64_t realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t random32(void)
{
    uint32_t v;

    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        v = (uint32_t)realtime_ms() ^ ((uint32_t)getpid() << 16);
    }
    return v;
}

/* ---- collectors (ward/port.h) --------------------------------------------------------------- */

static int is_loopback(const ward_listen_t *l)
{
    static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    return l->family == 4 ? l->addr[0] == 127 : memcmp(l->addr, v6_loop, 16) == 0;
}

static int has_listen(const ward_listen_t *out, size_t n, const ward_listen_t *l)
{
    size_t k;

    for (k = 0; k < n; k++) {
        if (out[k].proto == l->proto && out[k].family == l->family && out[k].port == l->port &&
            memcmp(out[k].addr, l->addr, 16) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * ward_listening_fn: called by the core on this (the main) thread when it writes a report. The
 * core keeps at most max (WARD_MAX_LISTEN) sockets, so the order says what matters most when a
 * host has more: --listen first, then sockets reachable from outside, loopback-only ones last.
 */
static size_t listening_fn(void *ctx, ward_listen_t *out, size_t max)
{
    const run_t *r = ctx;
    ward_posix_procnet_t pn;
    size_t n = 0;
    int pass;
    int k;
    int got;

    for (k = 0; k < r->opt->nlisten && n < max; k++) {
        if (!has_listen(out, n, &r->opt->listen[k])) {
            out[n++] = r->opt->listen[k];
        }
    }
    if (r->opt->iface == NULL) {
        return n; /* pcap: the capture is not this host's, nor are its sockets */
    }
    got =
        ward_posix_procnet_read("/proc/net", WARD_PROCNET_HOST_ORDER, &pn, g_procnet, PROCNET_MAX);
    for (pass = 0; pass < 2; pass++) {
        for (k = 0; k < got && n < max; k++) {
            ward_listen_t l;
            memset(&l, 0, sizeof l);
            l.proto = g_procnet[k].proto;
            l.family = g_procnet[k].family;
            l.port = g_procnet[k].port;
            memcpy(l.addr, g_procnet[k].addr, sizeof l.addr);
            if (is_loopback(&l) == pass && !has_listen(out, n, &l)) {
                out[n++] = l;
            }
        }
    }
    return n;
}

/* The kernel's view of its clock: synced unless STA_UNSYNC (set until NTP/PTP disciplines it). */
static int clock_synced(void)
{
    struct timex tx;
    int state;

    memset(&tx, 0, sizeof tx); /* modes 0: read only, no privilege needed */
    state = adjtimex(&tx);
    return state >= 0 && state != TIME_ERROR && !(tx.status & STA_UNSYNC);
}

static void push_sysinfo(run_t *r)
{
    ward_sysinfo_t si;
    ward_status_t st;

    memset(&si, 0, sizeof si);
    si.os = r->os;
    si.ip_stack = r->os; /* the Linux kernel's stack: "Linux <release>" */
    si.firmware = r->opt->firmware;
    si.hardware = r->opt->hardware;
    si.tls = r->opt->cafile != NULL;
    si.time_synced = r->time_synced;
    st = ward_agent_set_sysinfo(&g_agent, &si);
    if (st != WARD_OK) {
        errmsg("agent sysinfo: %s", ward_status_str(st));
    }
}

/* Look at the clock again every SYSINFO_CHECK_MS; the core reports a change in its next report. */
static void check_sysinfo(run_t *r)
{
    uint64_t now = realtime_ms();
    int synced;

    if (now - r->sysinfo_check_ms < SYSINFO_CHECK_MS) {
        return;
    }
    r->sysinfo_check_ms = now;
    synced = clock_synced();
    if (synced != r->time_synced) {
        r->time_synced = synced;
        push_sysinfo(r);
    }
}

/* Apply the config message waiting in the transport's mailbox, if any. */
static void take_config(run_t *r)
{
    ward_status_t st;
    long n;

    if (r->mqtt == NULL || !r->started) {
        return;
    }
    n = ward_posix_mqtt_take_config(r->mqtt, g_config, sizeof g_config);
    if (n < 0) {
        return;
    }
    if (n == 0) {
        /* An empty retained message clears the broker's copy; the service sends a new config
         * when it wants another one. Keep the one in force. */
        printf("ward-agent: %s: config cleared on the broker; keeping the one in force\n",
               r->opt->device_id);
        return;
    }
    st = ward_agent_apply_config(&g_agent, g_config, (size_t)n, r->now_ms);
    if (st == WARD_OK) {
        printf("ward-agent: %s: config applied (%ld bytes)\n", r->opt->device_id, n);
    } else {
        /* The core reports the rejection (config_status) in its next report. */
        errmsg("config rejected: %s; keeping the one in force", ward_status_str(st));
    }
}

static int start_agent(run_t *r, uint64_t now_ms)
{
    ward_agent_config_t cfg;
    ward_status_t st;

    ward_agent_config_init(&cfg);
    cfg.device_id = r->opt->device_id;
    cfg.boot_id = random32();
    cfg.report_interval_s = r->opt->interval_s;
    cfg.time_base = WARD_TIME_UNIX;
    cfg.transport = &r->transport;
    st = ward_agent_init(&g_agent, &cfg, now_ms);
    if (st != WARD_OK) {
        errmsg("cannot start the agent core: %s", ward_status_str(st));
        return -1;
    }
    r->started = 1;
    r->now_ms = now_ms;
    r->last_poll_ms = now_ms;

    st = ward_agent_set_listening(&g_agent, listening_fn, r);
    if (st != WARD_OK) {
        errmsg("agent listening sockets: %s", ward_status_str(st));
        return -1;
    }
    if (uname(&r->uts) == 0) {
        snprintf(r->os, sizeof r->os, "%s %s", r->uts.sysname, r->uts.release);
    }
    r->time_synced = clock_synced();
    r->sysinfo_check_ms = realtime_ms();
    push_sysinfo(r);
    take_config(r); /* a retained config that arrived before the first packet */
    return 0;
}

/* Advance the clock (never backwards: capture timestamps may jitter) and poll when due. */
static void tick(run_t *r, uint64_t now_ms)
{
    ward_status_t st;

    if (now_ms > r->now_ms) {
        r->now_ms = now_ms;
    }
    take_config(r);
    /* A pending detection is reported at once, in capture time too: a replay is faster than the
     * poll period, and the capture could end first. */
    if (r->now_ms - r->last_poll_ms < POLL_PERIOD_MS && !ward_agent_priority_pending(&g_agent)) {
        return;
    }
    check_sysinfo(r);
    r->last_poll_ms = r->now_ms;
    st = ward_agent_poll(&g_agent, r->now_ms, g_report, sizeof g_report);
    if (st == WARD_OK) {
        r->reported = 1;
    } else if (st != WARD_NOTHING && st != WARD_E_AGAIN && !r->failed) {
        /* Nothing is lost (the core keeps its data), but say it once. */
        errmsg("agent poll: %s", ward_status_str(st));
        r->failed = 1;
    }
}

/*
 * Send the last report. When the broker is away, wait for the reconnection (libmosquitto retries
 * in the background) and try again: the data stays in the core meanwhile.
 */
static int flush_agent(run_t *r, int timeout_ms)
{
    uint64_t deadline = realtime_ms() + (uint64_t)timeout_ms;
    ward_status_t st;

    for (;;) {
        st = ward_agent_flush(&g_agent, r->now_ms, g_report, sizeof g_report);
        if (st == WARD_OK) {
            r->reported = 1;
            return 0;
        }
        if (st != WARD_E_AGAIN) {
            errmsg("cannot send the last report: %s", ward_status_str(st));
            return -1;
        }
        if (realtime_ms() >= deadline) {
            errmsg("cannot send the last report: not connected to the broker");
            return -1;
        }
        {
            char err[256];
            uint64_t left = deadline - realtime_ms();
            if (ward_posix_mqtt_wait_connected(r->mqtt, left > 1000 ? 1000 : (int)left, NULL, err,
                                               sizeof err) != 0) {
                /* A refusing broker answers at once: do not spin while it keeps refusing. */
                struct timespec nap = {0, 200 * 1000000L};
                nanosleep(&nap, NULL);
            }
        }
    }
}

/* ---- packets ------------------------------------------------------------------------------- */

static int is_device_addr(const options_t *o, int version, const uint8_t *a)
{
    int i;

    for (i = 0; i < o->naddrs; i++) {
        if (o->addrs[i].version == version &&
            memcmp(o->addrs[i].a, a, version == 4 ? 4 : 16) == 0) {
            return 1;
        }
    }
    return 0;
}

static void feed_frame(run_t *r, const uint8_t *frame, size_t caplen)
{
    ward_posix_l3_t l3;
    ward_status_t st;
    int dir;

    r->st.frames++;
    switch (ward_posix_l2_decode(r->dlt, frame, caplen, &l3)) {
    case WARD_L2_IP:
        break;
    case WARD_L2_TRUNCATED:
        r->st.truncated++;
        return;
    default:
        r->st.not_ip++;
        return;
    }

    if (r->by_pkttype) {
        switch (l3.pkttype) {
        case WARD_PKT_OUTGOING:
            dir = WARD_DIR_OUTBOUND;
            break;
        case WARD_PKT_HOST:
        case WARD_PKT_BROADCAST:
        case WARD_PKT_MULTICAST:
            dir = WARD_DIR_INBOUND;
            break;
        default: /* another host's traffic, seen only in promiscuous mode */
            r->st.ignored++;
            return;
        }
    } else {
        uint8_t src[16];
        uint8_t dst[16];
        int v = ward_posix_ip_addrs(&l3, src, dst);
        if (v == 0) {
            /* Too short to hold addresses (or not IPv4/IPv6): whose it is cannot be known. */
            r->st.truncated++;
            return;
        }
        if (is_device_addr(r->opt, v, src)) {
            dir = WARD_DIR_OUTBOUND;
        } else if (is_device_addr(r->opt, v, dst)) {
            dir = WARD_DIR_INBOUND;
        } else {
            r->st.ignored++;
            return;
        }
    }

    if (dir == WARD_DIR_OUTBOUND) {
        r->st.outbound++;
    } else {
        r->st.inbound++;
    }
    st = ward_agent_on_packet(&g_agent, dir, l3.ip, l3.len, r->now_ms);
    if (st == WARD_DROP) {
        /*
         * A deny-list rule says "drop". ward-agent cannot: AF_PACKET capture (live) is passive,
         * the kernel has delivered or sent the packet already when we see a copy of it, and a
         * capture file is history. The core has counted the packet and reports the detection at
         * once (priority report); enforcing the drop needs a port in the packet path (lwIP:
         * agent/port/lwip; on Linux that would be netfilter/nftables or an XDP/tc program, not
         * something ward-agent does). See docs/ports.md.
         */
        r->st.deny_hits++;
    } else if (st == WARD_E_MALFORMED) {
        r->st.malformed++;
    } else if (st != WARD_OK && !r->failed) {
        errmsg("agent packet hook: %s", ward_status_str(st));
        r->failed = 1;
    }
}

static uint64_t ts_ms(const struct timeval *tv)
{
    if (tv->tv_sec < 0) {
        return 0;
    }
    return (uint64_t)tv->tv_sec * 1000u + (uint64_t)tv->tv_usec / 1000u;
}

/* ---- MQTT ---------------------------------------------------------------------------------- */

static int connect_broker(run_t *r)
{
    ward_posix_mqtt_config_t mc;
    sigset_t block;
    sigset_t old;
    char err[512];
    int rc;
    int timeout_ms = r->opt->connect_timeout_s > 0 ? r->opt->connect_timeout_s * 1000 : -1;

    memset(&mc, 0, sizeof mc);
    mc.device_id = r->opt->device_id;
    mc.host = r->opt->host;
    mc.port = r->opt->port;
    mc.cafile = r->opt->cafile;
    mc.certfile = r->opt->certfile;
    mc.keyfile = r->opt->keyfile;
    /* libmosquitto's network thread inherits the signal mask: keep SIGINT/SIGTERM for the main
     * thread, whose poll() they should interrupt. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    r->mqtt = ward_posix_mqtt_start(&mc, err, sizeof err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r->mqtt == NULL) {
        errmsg("%s", err);
        return -1;
    }
    r->transport.publish = ward_posix_mqtt_publish;
    r->transport.ctx = r->mqtt;
    rc = ward_posix_mqtt_wait_connected(r->mqtt, timeout_ms, &g_stop, err, sizeof err);
    if (rc != 0) {
        if (rc == -1) {
            errmsg("%s", err);
        }
        ward_posix_mqtt_stop(r->mqtt, 0);
        r->mqtt = NULL;
        return -1;
    }
    return 0;
}

/* Flush the last report, wait for the broker's acknowledgements, say goodbye. */
static int finish(run_t *r, int flush)
{
    int rc = 0;
    int ack_ms;

    if (flush && flush_agent(r, g_stop ? STOP_FLUSH_TIMEOUT_MS : ACK_TIMEOUT_MS) != 0) {
        rc = -1;
    }
    ack_ms = g_stop ? STOP_FLUSH_TIMEOUT_MS : ACK_TIMEOUT_MS;
    if (ward_posix_mqtt_wait_acked(r->mqtt, ack_ms) != 0) {
        errmsg("the broker did not acknowledge every report within %d s", ack_ms / 1000);
        rc = -1;
    }
    r->reports = ward_posix_mqtt_reports(r->mqtt);
    ward_posix_mqtt_stop(r->mqtt, 2000);
    r->mqtt = NULL;
    return rc;
}

/* ---- pcap mode ----------------------------------------------------------------------------- */

static int run_pcap(run_t *r)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    FILE *fp;
    pcap_t *p;
    int rc = 1;
    int status;

    /* Open the file ourselves: libpcap's messages do not always name it. */
    fp = fopen(r->opt->pcap_file, "rb");
    if (fp == NULL) {
        errmsg("cannot read capture %s: %s", r->opt->pcap_file, strerror(errno));
        return 1;
    }
    errbuf[0] = '\0';
    p = pcap_fopen_offline(fp, errbuf); /* pcap or pcapng; closes fp with the handle */
    if (p == NULL) {
        errmsg("cannot read capture %s: %s", r->opt->pcap_file, errbuf);
        fclose(fp);
        return 1;
    }
    r->dlt = pcap_datalink(p);
    if (!ward_posix_dlt_supported(r->dlt)) {
        const char *name = pcap_datalink_val_to_name(r->dlt);
        errmsg("%s: link type %d (%s) is not supported", r->opt->pcap_file, r->dlt,
               name ? name : "unknown");
        pcap_close(p);
        return 1;
    }
    if (connect_broker(r) != 0) {
        pcap_close(p);
        return 1;
    }
    /* A replay takes milliseconds: let a retained config (a deny-list, say) arrive first, so that
     * it applies to the whole capture, as it would to a device that has been running. */
    if (ward_posix_mqtt_wait_config_settled(r->mqtt, CONFIG_SETTLE_MS) != 0) {
        errmsg("no answer to the config subscription within %d ms; replaying without",
               CONFIG_SETTLE_MS);
    }

    while (!g_stop && (rc = pcap_next_ex(p, &hdr, &data)) == 1) {
        uint64_t t = ts_ms(&hdr->ts);
        if (!r->started && start_agent(r, t) != 0) {
            break;
        }
        tick(r, t); /* first: a report due before this packet must not include it */
        feed_frame(r, data, hdr->caplen);
    }
    if (!g_stop && rc == PCAP_ERROR) {
        /* A capture cut short (truncated file): report what was read, then fail. */
        errmsg("%s: %s", r->opt->pcap_file, pcap_geterr(p));
        r->failed = 1;
    }
    pcap_close(p);

    if (!r->started && start_agent(r, realtime_ms()) != 0) {
        ward_posix_mqtt_stop(r->mqtt, 0);
        return 1;
    }
    status = finish(r, 1) == 0 && !r->failed ? 0 : 1;
    printf("ward-agent: %s: %lu frames: %lu outbound, %lu inbound, %lu not the device's, "
           "%lu not IP, %lu truncated, %lu malformed, %lu deny-list drop hits (not dropped); "
           "%lu report parts published\n",
           r->opt->device_id, r->st.frames, r->st.outbound, r->st.inbound, r->st.ignored,
           r->st.not_ip, r->st.truncated, r->st.malformed, r->st.deny_hits, r->reports);
    return status;
}

/* ---- live mode ----------------------------------------------------------------------------- */

static void live_handler(u_char *user, const struct pcap_pkthdr *hdr, const u_char *data)
{
    run_t *r = (run_t *)(void *)user;
    uint64_t now = realtime_ms();

    if (now > r->now_ms) {
        r->now_ms = now;
    }
    feed_frame(r, data, hdr->caplen);
}

/* Add the interface's own addresses to the device addresses (direction fallback). */
static int add_iface_addrs(options_t *o, const char *iface)
{
    struct ifaddrs *ifa;
    struct ifaddrs *i;

    if (getifaddrs(&ifa) != 0) {
        return -1;
    }
    for (i = ifa; i != NULL; i = i->ifa_next) {
        if (i->ifa_addr == NULL || strcmp(i->ifa_name, iface) != 0) {
            continue;
        }
        if (i->ifa_addr->sa_family == AF_INET) {
            add_addr(o, 4, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            add_addr(o, 6, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr);
        }
    }
    freeifaddrs(ifa);
    return 0;
}

static pcap_t *open_live(run_t *r, options_t *o)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p;
    int rc;

    errbuf[0] = '\0';
    p = pcap_create(o->iface, errbuf);
    if (p == NULL) {
        errmsg("cannot capture on %s: %s", o->iface, errbuf);
        return NULL;
    }
    pcap_set_snaplen(p, LIVE_SNAPLEN);
    pcap_set_promisc(p, 0);
    pcap_set_immediate_mode(p, 1);
    pcap_set_timeout(p, POLL_PERIOD_MS);
    rc = pcap_activate(p);
    if (rc < 0) {
        const char *why = pcap_geterr(p);
        if (rc == PCAP_ERROR_PERM_DENIED) {
            errmsg("cannot capture on %s: permission denied (needs root or CAP_NET_RAW)", o->iface);
        } else {
            errmsg("cannot capture on %s: %s", o->iface,
                   why != NULL && why[0] != '\0' ? why : pcap_statustostr(rc));
        }
        pcap_close(p);
        return NULL;
    }

    /*
     * Direction. The Linux cooked link types carry the kernel's packet type for every frame:
     * PACKET_OUTGOING for what this host sent, PACKET_HOST/BROADCAST/MULTICAST for what it
     * received. That is exact whatever the addresses (several per interface, privacy addresses
     * coming and going, DHCP changes), so it is the first choice: SLL2, then SLL. Where the
     * interface offers neither (not Linux), fall back to the interface's own addresses from
     * getifaddrs() at start, plus any --device-addr. pcap_setdirection() was not chosen: it
     * would take two capture handles (in and out) and their interleaving is not ordered.
     */
    if (pcap_datalink(p) == DLT_LINUX_SLL2 || pcap_datalink(p) == DLT_LINUX_SLL ||
        pcap_set_datalink(p, DLT_LINUX_SLL2) == 0 || pcap_set_datalink(p, DLT_LINUX_SLL) == 0) {
        r->by_pkttype = 1;
    } else {
        add_iface_addrs(o, o->iface);
        if (o->naddrs == 0) {
            errmsg("cannot tell the direction of packets on %s: its link type has no packet "
                   "direction and it has no addresses; give --device-addr",
                   o->iface);
            pcap_close(p);
            return NULL;
        }
    }
    r->dlt = pcap_datalink(p);
    if (!ward_posix_dlt_supported(r->dlt)) {
        const char *name = pcap_datalink_val_to_name(r->dlt);
        errmsg("%s: link type %d (%s) is not supported", o->iface, r->dlt, name ? name : "unknown");
        pcap_close(p);
        return NULL;
    }
    if (pcap_setnonblock(p, 1, errbuf) != 0) {
        errmsg("cannot capture on %s: %s", o->iface, errbuf);
        pcap_close(p);
        return NULL;
    }
    return p;
}

static int run_live(run_t *r, options_t *o)
{
    pcap_t *p;
    int fd;
    int status = 0;

    p = open_live(r, o);
    if (p == NULL) {
        return 1;
    }
    fd = pcap_get_selectable_fd(p);
    if (connect_broker(r) != 0) {
        pcap_close(p);
        return 1;
    }
    if (start_agent(r, realtime_ms()) != 0) {
        ward_posix_mqtt_stop(r->mqtt, 0);
        pcap_close(p);
        return 1;
    }
    while (!g_stop && !(o->once && r->reported)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        int n = fd >= 0 ? poll(&pfd, 1, POLL_PERIOD_MS) : 0;
        if (fd < 0) {
            /* No selectable descriptor: non-blocking reads with a short nap. */
            struct timespec nap = {0, 10 * 1000000L};
            nanosleep(&nap, NULL);
        }
        if (n < 0 && errno != EINTR) {
            errmsg("poll: %s", strerror(errno));
            status = 1;
            break;
        }
        if (pcap_dispatch(p, -1, live_handler, (u_char *)(void *)r) == PCAP_ERROR) {
            errmsg("capture on %s failed: %s", o->iface, pcap_geterr(p));
            status = 1;
            break;
        }
        tick(r, realtime_ms());
    }
    /* Whatever the kernel captured before the signal belongs in the last report: drain it. */
    if (status == 0) {
        pcap_dispatch(p, -1, live_handler, (u_char *)(void *)r);
    }
    pcap_close(p);
    tick(r, realtime_ms());
    /* --once that got its report has nothing left to flush; a stop or an error does. */
    if (finish(r, !(o->once && r->reported)) != 0) {
        status = 1;
    }
    return status;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void on_signal(int sig)
{
    g_stop = sig;
}

int main(int argc, char **argv)
{
    static options_t opt;
    struct sigaction sa;
    run_t r;
    int status;

    parse_args(argc, argv, &opt);
    setvbuf(stdout, NULL, _IOLBF, 0);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&r, 0, sizeof r);
    r.opt = &opt;
    if (opt.iface != NULL) {
        /* Live capture runs until a signal: that is its normal end, exit status 0. */
        return run_live(&r, &opt);
    }
    status = run_pcap(&r);
    if (g_stop) {
        /* A replay cut short by SIGINT/SIGTERM (what was read is flushed): die of the signal,
         * so that a calling shell knows it was interrupted, not done. */
        fflush(NULL);
        signal((int)g_stop, SIG_DFL);
        raise((int)g_stop);
    }
    return status;
}
