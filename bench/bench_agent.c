/*
 * bench-agent: the agent core's packet hook and report size, measured (issue 3, item 9).
 *
 * Prints two lines (and nothing else on stdout):
 *
 *   agent ns_per_packet=<x> instructions_per_packet=<y> ns_per_packet_established=<z>
 *         instructions_per_packet_established=<w> runs=<r> packets_per_run=<n>
 *   agent wire_bytes_per_flow ipv4=<x> ipv6=<y> empty_report=<bytes>
 *
 * (the first is one line). Details, and how each figure was obtained, go to stderr.
 *
 * The traffic ("mix"): prebuilt IP packets, so no generation cost is timed. 40 established flows
 * (70% IPv4 / 30% IPv6; TCP, UDP and ICMP) carry about 95% of the packets, picked with a Zipf
 * distribution (weight 1/rank), TCP flows with data and ACKs both ways. The other ~5% belong to
 * new flows (a pool of 4096 distinct ones: TCP handshakes, UDP question/answer, pings; 70/30
 * IPv4/IPv6; some inbound), each seen as its first two or three packets. The flow table
 * (WARD_MAX_FLOWS, 64 by default) holds the 40 established flows; new flows fill what is left
 * and the rest go to the overflow summary, as on a real device. Time is virtual: a report falls
 * due every 2^17 packets (60 s of capture time, about 2200 packets/s), and ward_agent_poll() is
 * called every 1024 packets with a transport that accepts every part, so idle new flows are
 * evicted after each report and the table churns. The timed loop includes those polls and the
 * reports they send (amortised, they are a tiny part).
 *
 * "established" is the same with the new flows left out: every packet updates a flow already in
 * the table (the target: at most 50 ns per packet).
 *
 * ns: clock_gettime(CLOCK_MONOTONIC) around WARD_BENCH_PACKETS packets (16 Mi), best of
 * WARD_BENCH_RUNS runs (5), after one warm-up pass. A shared machine makes these noisy: the best
 * run is the least disturbed one.
 * instructions: the bench runs itself under `valgrind --tool=callgrind --collect-atstart=no
 * --toggle-collect=bench_loop` on 1 Mi packets of each mix and divides the Ir total (everything
 * bench_loop executes: the hook, the loop around it, the polls) by the packet count. With
 * --no-callgrind, or without valgrind, the instruction figures print as "n/a".
 *
 * wire bytes per flow: reports of N = 48 and of N = 16 typical flows are encoded (one part each,
 * into a large buffer); (size(48) - size(16)) / 32 is what one more flow costs, without the fixed
 * parts of a report. A typical flow: established TCP opened by the device (SYN seen), ephemeral
 * local port 40000+, remote port 443, 150 packets each way, ~45 KB out and ~22 KB in, first and
 * last packet within the 60 s period. empty_report is the heartbeat of an agent that saw nothing
 * (a 9-character device id).
 *
 * Bounded: about 15 s on an idle 2-core machine, of which callgrind is most; never a test.
 * Usage: bench-agent [--no-callgrind]
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ward/agent.h"

#define WARD_BENCH_PACKETS (16u << 20)
#define WARD_BENCH_RUNS 5
#define CALLGRIND_PACKETS (1u << 20)

#define SEQ_LEN (1u << 20)        /* packets in one pass of a mix (indices into the pool) */
#define ESTABLISHED 40u           /* established flows */
#define NEW_POOL 4096u            /* distinct new flows */
#define NEW_SHARE_PER_MILLE 50u   /* share of packets on new flows */
#define REPORT_SHIFT 17u          /* a report is due every 2^17 packets ... */
#define REPORT_INTERVAL_MS 60000u /* ... of 60 s virtual time */
#define POLL_MASK 1023u           /* poll every 1024 packets */
#define T0_MS 1700000000000ull
#define VARIANTS 4u /* prebuilt packets per established flow */

enum mix { MIX_FULL = 0, MIX_ESTABLISHED = 1 };

typedef struct pkt {
    const uint8_t *data;
    uint32_t len;
    int dir;
} pkt_t;

typedef struct bench {
    pkt_t *pool;
    uint32_t npool;
    uint32_t cap_pool;
    uint32_t *seq[2];
    ward_agent_t agent;
    uint8_t report_buf[WARD_REPORT_BUFFER_SIZE];
    uint64_t virt_packets; /* packets fed so far: the virtual clock */
    uint64_t report_bytes;
    uint32_t report_parts;
} bench_t;

static const uint8_t DEV4[4] = {10, 0, 0, 10};
static const uint8_t DEV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};

/* ---- random numbers (xorshift64*: deterministic, so every run feeds the same packets) -------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static uint32_t rnd_below(uint32_t n)
{
    return (uint32_t)(((uint64_t)rnd() * n) >> 32);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "bench-agent: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- packet building ------------------------------------------------------------------------ */

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

typedef struct endpoint_pair {
    int family; /* 4 or 6 */
    uint8_t remote[16];
    uint8_t proto;
    uint16_t lport, rport; /* TCP/UDP ports; ICMP: unused */
} flow_key_t;

/*
 * One IP packet of flow k in direction dir with l4 payload bytes; tcp_flags for TCP, icmp_type
 * for ICMP/ICMPv6. Returns its index in the pool.
 */
static uint32_t add_packet(bench_t *b, const flow_key_t *k, int dir, uint8_t tcp_flags,
                           uint8_t icmp_type, unsigned payload)
{
    unsigned l4hdr = k->proto == WARD_IPPROTO_TCP ? 20u : 8u;
    unsigned iphdr = k->family == 4 ? 20u : 40u;
    unsigned len = iphdr + l4hdr + payload;
    uint8_t *p = xcalloc(1, len);
    uint8_t *l4 = p + iphdr;
    const uint8_t *local = k->family == 4 ? DEV4 : DEV6;
    size_t alen = k->family == 4 ? 4u : 16u;
    int out = dir == WARD_DIR_OUTBOUND;
    uint8_t proto = k->proto;

    if (k->family == 4) {
        p[0] = 0x45;
        put16(p + 2, len);
        put16(p + 4, rnd() & 0xffffu);
        p[6] = 0x40; /* DF */
        p[8] = 64;
        p[9] = proto;
        memcpy(p + 12, out ? local : k->remote, alen);
        memcpy(p + 16, out ? k->remote : local, alen);
    } else {
        p[0] = 0x60;
        put16(p + 4, len - 40u);
        p[6] = proto;
        p[7] = 64;
        memcpy(p + 8, out ? local : k->remote, alen);
        memcpy(p + 24, out ? k->remote : local, alen);
    }
    if (proto == WARD_IPPROTO_TCP) {
        put16(l4, out ? k->lport : k->rport);
        put16(l4 + 2, out ? k->rport : k->lport);
        l4[12] = 5u << 4;
        l4[13] = tcp_flags;
        put16(l4 + 14, 65535);
    } else if (proto == WARD_IPPROTO_UDP) {
        put16(l4, out ? k->lport : k->rport);
        put16(l4 + 2, out ? k->rport : k->lport);
        put16(l4 + 4, 8u + payload);
    } else {
        l4[0] = icmp_type;
        put16(l4 + 4, 0x77);
    }
    if (b->npool == b->cap_pool) {
        b->cap_pool = b->cap_pool ? b->cap_pool * 2u : 1024u;
        b->pool = realloc(b->pool, b->cap_pool * sizeof *b->pool);
        if (b->pool == NULL) {
            fprintf(stderr, "bench-agent: out of memory\n");
            exit(1);
        }
    }
    b->pool[b->npool].data = p;
    b->pool[b->npool].len = len;
    b->pool[b->npool].dir = dir;
    return b->npool++;
}

static void random_key(flow_key_t *k, uint32_t id, int family, uint8_t proto)
{
    memset(k, 0, sizeof *k);
    k->family = family;
    k->proto = proto;
    if (family == 4) {
        k->remote[0] = 198;
        k->remote[1] = (uint8_t)(18u + (id >> 16));
        k->remote[2] = (uint8_t)(id >> 8);
        k->remote[3] = (uint8_t)id;
    } else {
        static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0x00};
        memcpy(k->remote, pfx, sizeof pfx);
        k->remote[12] = (uint8_t)(id >> 24);
        k->remote[13] = (uint8_t)(id >> 16);
        k->remote[14] = (uint8_t)(id >> 8);
        k->remote[15] = (uint8_t)id;
    }
    k->lport = (uint16_t)(40000u + id % 20000u);
    k->rport = proto == WARD_IPPROTO_UDP ? 53u : proto == WARD_IPPROTO_TCP ? 443u : 0u;
}

/* The established flows: VARIANTS prebuilt packets each, and a Zipf CDF over them. */
static void build_established(bench_t *b, uint32_t first[ESTABLISHED], uint32_t cdf[ESTABLISHED])
{
    double w[ESTABLISHED];
    double sum = 0;
    double acc = 0;
    uint32_t i;
    flow_key_t k;
    uint32_t r;
    uint8_t proto;

    for (i = 0; i < ESTABLISHED; i++) {
        int family = rnd_below(100) < 70 ? 4 : 6;
        r = rnd_below(100);
        proto = r < 70 ? WARD_IPPROTO_TCP : r < 92 ? WARD_IPPROTO_UDP : WARD_IPPROTO_ICMP;
        if (proto == WARD_IPPROTO_ICMP && family == 6) {
            proto = WARD_IPPROTO_ICMPV6;
        }
        random_key(&k, 0x10000u + i, family, proto);
        if (proto == WARD_IPPROTO_UDP) {
            k.rport = (uint16_t)(i % 2 ? 5683 : 123);
        } else if (proto == WARD_IPPROTO_TCP) {
            k.rport = (uint16_t)(i % 3 ? 8883 : 443);
        }
        if (proto == WARD_IPPROTO_TCP) {
            first[i] = add_packet(b, &k, WARD_DIR_OUTBOUND, 0x18, 0, 200u + rnd_below(1200));
            (void)add_packet(b, &k, WARD_DIR_INBOUND, 0x10, 0, 0);
            (void)add_packet(b, &k, WARD_DIR_INBOUND, 0x18, 0, 100u + rnd_below(1300));
            (void)add_packet(b, &k, WARD_DIR_OUTBOUND, 0x10, 0, 0);
        } else if (proto == WARD_IPPROTO_UDP) {
            first[i] = add_packet(b, &k, WARD_DIR_OUTBOUND, 0, 0, 40u + rnd_below(200));
            (void)add_packet(b, &k, WARD_DIR_INBOUND, 0, 0, 40u + rnd_below(400));
            (void)add_packet(b, &k, WARD_DIR_OUTBOUND, 0, 0, 40u + rnd_below(200));
            (void)add_packet(b, &k, WARD_DIR_INBOUND, 0, 0, 40u + rnd_below(400));
        } else {
            /* One echo flow each way would be two agent flows: keep it one (requests out). */
            uint8_t t = proto == WARD_IPPROTO_ICMP ? 8 : 128;
            first[i] = add_packet(b, &k, WARD_DIR_OUTBOUND, 0, t, 56);
            (void)add_packet(b, &k, WARD_DIR_OUTBOUND, 0, t, 56);
            (void)add_packet(b, &k, WARD_DIR_OUTBOUND, 0, t, 56);
            (void)add_packet(b, &k, WARD_DIR_OUTBOUND, 0, t, 56);
        }
        w[i] = 1.0 / (double)(i + 1u);
        sum += w[i];
    }
    for (i = 0; i < ESTABLISHED; i++) {
        acc += w[i] / sum;
        cdf[i] = acc >= 1.0 ? UINT32_MAX : (uint32_t)(acc * 4294967295.0);
    }
    cdf[ESTABLISHED - 1u] = UINT32_MAX;
}

/* New flows: their first packets, consecutive in the pool; returns how many (2 or 3). */
static uint32_t build_new(bench_t *b, uint32_t id, uint32_t *first)
{
    flow_key_t k;
    int family = rnd_below(100) < 70 ? 4 : 6;
    uint32_t r = rnd_below(100);
    int in = rnd_below(100) < 20; /* inbound-initiated: a peer or a scanner */
    int d1 = in ? WARD_DIR_INBOUND : WARD_DIR_OUTBOUND;
    int d2 = in ? WARD_DIR_OUTBOUND : WARD_DIR_INBOUND;
    uint32_t n;

    if (r < 60) {
        random_key(&k, id, family, WARD_IPPROTO_TCP);
        *first = add_packet(b, &k, d1, 0x02, 0, 0);
        (void)add_packet(b, &k, d2, 0x12, 0, 0);
        (void)add_packet(b, &k, d1, 0x10, 0, 0);
        n = 3;
    } else if (r < 90) {
        random_key(&k, id, family, WARD_IPPROTO_UDP);
        *first = add_packet(b, &k, d1, 0, 0, 32);
        (void)add_packet(b, &k, d2, 0, 0, 96);
        n = 2;
    } else {
        random_key(&k, id, family, family == 4 ? WARD_IPPROTO_ICMP : WARD_IPPROTO_ICMPV6);
        *first = add_packet(b, &k, d1, 0, family == 4 ? 8 : 128, 56);
        (void)add_packet(b, &k, d2, 0, family == 4 ? 0 : 129, 56);
        n = 2;
    }
    return n;
}

static void build_sequences(bench_t *b)
{
    uint32_t est_first[ESTABLISHED], cdf[ESTABLISHED];
    uint32_t *new_first = xcalloc(NEW_POOL, sizeof *new_first);
    uint32_t *new_n = xcalloc(NEW_POOL, sizeof *new_n);
    uint32_t i, j, m, f, u, next_new = 0;

    build_established(b, est_first, cdf);
    for (i = 0; i < NEW_POOL; i++) {
        new_n[i] = build_new(b, i, &new_first[i]);
    }
    for (m = 0; m < 2; m++) {
        uint32_t *s = xcalloc(SEQ_LEN, sizeof *s);
        for (i = 0; i < SEQ_LEN;) {
            if (m == MIX_FULL && rnd_below(1000) < NEW_SHARE_PER_MILLE * 4u / 10u) {
                /* Each new flow brings 2.6 packets on average: 5% of packets in all. */
                f = next_new++ % NEW_POOL;
                for (j = 0; j < new_n[f] && i < SEQ_LEN; j++) {
                    s[i++] = new_first[f] + j;
                }
            } else {
                u = rnd();
                for (f = 0; f + 1u < ESTABLISHED && u > cdf[f]; f++) {
                }
                s[i++] = est_first[f] + rnd_below(VARIANTS);
            }
        }
        b->seq[m] = s;
    }
    free(new_first);
    free(new_n);
}

/* ---- the agent around it -------------------------------------------------------------------- */

static int32_t accept_all(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    bench_t *b = ctx;
    (void)buf;
    (void)priority;
    b->report_bytes += len;
    b->report_parts++;
    return (int32_t)len;
}

static ward_transport_t g_transport;

static void agent_start(bench_t *b, ward_agent_t *agent, uint64_t now_ms)
{
    ward_agent_config_t cfg;
    ward_agent_config_init(&cfg);
    cfg.device_id = "bench-dev";
    cfg.boot_id = 0x1234567u;
    cfg.report_interval_s = REPORT_INTERVAL_MS / 1000u;
    g_transport.publish = accept_all;
    g_transport.ctx = b;
    cfg.transport = &g_transport;
    if (ward_agent_init(agent, &cfg, now_ms) != WARD_OK) {
        fprintf(stderr, "bench-agent: ward_agent_init failed\n");
        exit(1);
    }
}

/* The measured loop: n packets of sequence s through the hook, polls every 1024. Not inlined:
 * callgrind counts exactly this function (--toggle-collect=bench_loop). */
__attribute__((noinline)) void bench_loop(bench_t *b, const uint32_t *s, uint64_t n);

__attribute__((noinline)) void bench_loop(bench_t *b, const uint32_t *s, uint64_t n)
{
    const pkt_t *pool = b->pool;
    ward_agent_t *agent = &b->agent;
    uint64_t v = b->virt_packets;
    uint64_t now;
    uint64_t i;
    const pkt_t *p;

    for (i = 0; i < n; i++, v++) {
        p = &pool[s[v & (SEQ_LEN - 1u)]];
        now = T0_MS + ((v * REPORT_INTERVAL_MS) >> REPORT_SHIFT);
        (void)ward_agent_on_packet(agent, p->dir, p->data, p->len, now);
        if ((v & POLL_MASK) == POLL_MASK) {
            (void)ward_agent_poll(agent, now, b->report_buf, sizeof b->report_buf);
        }
    }
    b->virt_packets = v;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Best ns per packet of WARD_BENCH_RUNS runs of mix m (a fresh agent, one warm-up pass). */
static double time_mix(bench_t *b, int m)
{
    double best = 0;
    double t;
    int r;

    b->virt_packets = 0;
    agent_start(b, &b->agent, T0_MS);
    bench_loop(b, b->seq[m], SEQ_LEN);
    for (r = 0; r < WARD_BENCH_RUNS; r++) {
        t = now_ns();
        bench_loop(b, b->seq[m], WARD_BENCH_PACKETS);
        t = (now_ns() - t) / (double)WARD_BENCH_PACKETS;
        fprintf(stderr, "  %s run %d: %.2f ns/packet\n", m == MIX_FULL ? "mix" : "established",
                r + 1, t);
        if (r == 0 || t < best) {
            best = t;
        }
    }
    return best;
}

/* ---- callgrind ------------------------------------------------------------------------------ */

/* Child mode: run n packets of mix m once (under callgrind). */
static int count_mode(bench_t *b, int m, uint64_t n)
{
    b->virt_packets = 0;
    agent_start(b, &b->agent, T0_MS);
    bench_loop(b, b->seq[m], n);
    return 0;
}

/* Instructions per packet of mix m, or a negative value when callgrind could not tell. */
static double callgrind_mix(int m)
{
    char self[4096], outfile[64], arg_out[128], arg_mix[16], arg_n[32], line[512];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    double ir = -1;
    pid_t pid;
    int status = 0;
    FILE *f;
    int fd;

    if (sl <= 0) {
        return -1;
    }
    self[sl] = '\0';
    snprintf(outfile, sizeof outfile, "/tmp/bench-agent-cg.XXXXXX");
    fd = mkstemp(outfile);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    snprintf(arg_out, sizeof arg_out, "--callgrind-out-file=%s", outfile);
    snprintf(arg_mix, sizeof arg_mix, "%d", m);
    snprintf(arg_n, sizeof arg_n, "%u", CALLGRIND_PACKETS);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execlp("valgrind", "valgrind", "--tool=callgrind", arg_out, "--collect-atstart=no",
               "--toggle-collect=bench_loop", self, "--count", arg_mix, arg_n, (char *)NULL);
        _exit(127);
    }
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0 && (f = fopen(outfile, "r")) != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "totals:", 7) == 0 || strncmp(line, "summary:", 8) == 0) {
                ir = strtod(strchr(line, ':') + 1, NULL) / (double)CALLGRIND_PACKETS;
            }
        }
        fclose(f);
    }
    unlink(outfile);
    return ir;
}

/* ---- wire bytes per flow -------------------------------------------------------------------- */

typedef struct capture {
    size_t bytes;
    unsigned parts;
} capture_t;

static int32_t capture_publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    capture_t *c = ctx;
    (void)buf;
    (void)priority;
    c->bytes += len;
    c->parts++;
    return (int32_t)len;
}

/* Size of the report of an agent that saw n typical TCP flows of one family in one period. */
static size_t report_size(int family, unsigned n, unsigned *parts)
{
    static ward_agent_t agent;
    static uint8_t buf[1u << 16];
    static bench_t scratch;
    capture_t c = {0, 0};
    ward_transport_t t = {capture_publish, &c};
    ward_agent_config_t cfg;
    flow_key_t k;
    uint32_t idx[4];
    unsigned i, j;
    uint64_t tms;

    ward_agent_config_init(&cfg);
    cfg.device_id = "bench-dev";
    cfg.boot_id = 0x1234567u;
    cfg.transport = &t;
    if (ward_agent_init(&agent, &cfg, T0_MS) != WARD_OK) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        random_key(&k, 0x20000u + i, family, WARD_IPPROTO_TCP);
        k.rport = 443;
        scratch.npool = 0;
        idx[0] = add_packet(&scratch, &k, WARD_DIR_OUTBOUND, 0x02, 0, 0);    /* SYN */
        idx[1] = add_packet(&scratch, &k, WARD_DIR_INBOUND, 0x12, 0, 0);     /* SYN-ACK */
        idx[2] = add_packet(&scratch, &k, WARD_DIR_OUTBOUND, 0x18, 0, 260u); /* data out */
        idx[3] = add_packet(&scratch, &k, WARD_DIR_INBOUND, 0x18, 0, 100u);  /* data in */
        /* 150 packets each way between 3..20 s and 40..58 s into the period. */
        for (j = 0; j < 150u; j++) {
            tms =
                T0_MS + 1000u * (3u + i % 18u) + (uint64_t)j * (37000u + 1000u * (i % 18u)) / 150u;
            const pkt_t *o = &scratch.pool[j == 0 ? idx[0] : idx[2]];
            const pkt_t *in = &scratch.pool[j == 0 ? idx[1] : idx[3]];
            (void)ward_agent_on_packet(&agent, o->dir, o->data, o->len, tms);
            (void)ward_agent_on_packet(&agent, in->dir, in->data, in->len, tms + 20u);
        }
        for (j = 0; j < scratch.npool; j++) {
            free((void *)scratch.pool[j].data);
        }
    }
    if (ward_agent_flush(&agent, T0_MS + REPORT_INTERVAL_MS, buf, sizeof buf) != WARD_OK) {
        return 0;
    }
    *parts = c.parts;
    return c.bytes;
}

static void wire_bytes(void)
{
    unsigned p1 = 0, p2 = 0, p3 = 0, p4 = 0, p0 = 0;
    size_t empty = report_size(4, 0, &p0);
    size_t a4 = report_size(4, 16, &p1), b4 = report_size(4, 48, &p2);
    size_t a6 = report_size(6, 16, &p3), b6 = report_size(6, 48, &p4);

    fprintf(stderr,
            "wire: empty %zu B; IPv4 16 flows %zu B, 48 flows %zu B; IPv6 16 flows %zu B, 48 flows "
            "%zu B (parts %u %u %u %u %u)\n",
            empty, a4, b4, a6, b6, p0, p1, p2, p3, p4);
    if (p1 != 1 || p2 != 1 || p3 != 1 || p4 != 1 || empty == 0) {
        fprintf(stderr, "bench-agent: a sizing report was split or failed: figures invalid\n");
    }
    printf("agent wire_bytes_per_flow ipv4=%.1f ipv6=%.1f empty_report=%zu\n",
           (double)(b4 - a4) / 32.0, (double)(b6 - a6) / 32.0, empty);
}

/* ---- main ----------------------------------------------------------------------------------- */

static void print_ir(const char *name, double v)
{
    if (v < 0) {
        printf(" %s=n/a", name);
    } else {
        printf(" %s=%.1f", name, v);
    }
}

int main(int argc, char **argv)
{
    static bench_t b;
    int use_callgrind = 1;
    double ns_mix, ns_est, ir_mix = -1, ir_est = -1;
    char *end;

    build_sequences(&b);
    if (argc == 4 && strcmp(argv[1], "--count") == 0) {
        long m = strtol(argv[2], &end, 10);
        unsigned long long n = strtoull(argv[3], NULL, 10);
        if (*end != '\0' || (m != MIX_FULL && m != MIX_ESTABLISHED) || n == 0) {
            return 2;
        }
        return count_mode(&b, (int)m, n);
    }
    if (argc == 2 && strcmp(argv[1], "--no-callgrind") == 0) {
        use_callgrind = 0;
    } else if (argc != 1) {
        fprintf(stderr, "usage: bench-agent [--no-callgrind]\n");
        return 2;
    }
    alarm(120); /* a hard bound, whatever the machine does */

    fprintf(stderr,
            "bench-agent: WARD_MAX_FLOWS=%d, pool of %u prebuilt packets, %u established "
            "flows, %u new flows, sizeof(ward_agent_t)=%zu\n",
            WARD_MAX_FLOWS, b.npool, ESTABLISHED, NEW_POOL, sizeof(ward_agent_t));
    ns_mix = time_mix(&b, MIX_FULL);
    fprintf(stderr, "  mix: %u report parts sent, %llu bytes\n", b.report_parts,
            (unsigned long long)b.report_bytes);
    ns_est = time_mix(&b, MIX_ESTABLISHED);
    if (use_callgrind) {
        ir_mix = callgrind_mix(MIX_FULL);
        ir_est = callgrind_mix(MIX_ESTABLISHED);
        if (ir_mix < 0 || ir_est < 0) {
            fprintf(stderr, "bench-agent: callgrind failed or is missing (valgrind): n/a\n");
        }
    }
    printf("agent ns_per_packet=%.1f", ns_mix);
    print_ir("instructions_per_packet", ir_mix);
    printf(" ns_per_packet_established=%.1f", ns_est);
    print_ir("instructions_per_packet_established", ir_est);
    printf(" runs=%d packets_per_run=%u\n", WARD_BENCH_RUNS, WARD_BENCH_PACKETS);
    fflush(stdout);
    wire_bytes();
    return 0;
}
