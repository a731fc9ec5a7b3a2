/*
 * traffic: what the simulated devices send and receive, as IP packets fed to their agent cores.
 *
 * Every packet is scheduled as an event (sim_ev_t) in one time-ordered heap, built when it is due
 * (IPv4 or IPv6 header, then the TCP, UDP, ICMP or ICMPv6 header; the IP length says how big the
 * packet is and the payload is left out, as a capture with a snap length would) and handed to
 * ward_agent_on_packet() with the device's clock. Time order across the heap keeps every device's
 * clock monotonic.
 *
 * Benign profiles (simulated seconds; every period jittered per device):
 *   all      boot: IPv6 router solicitation/advertisement, DNS lookups of the broker (A, and AAAA
 *            on dual-stack devices), an NTP exchange, MQTT over TLS to the broker (TCP handshake,
 *            TLS handshake with a certificate chain, CONNECT/CONNACK); then telemetry publishes
 *            with PUBACKs, PINGREQ when idle, commands from the cloud now and then, the agent's own
 *            reports on the same link, DNS every ~5 min, NTP every ~17 min, IPv6 neighbour
 *            discovery every few minutes.
 *   camera   cloud recording: a steady HTTPS upload at 256..768 kbit/s with +-25% variation per
 *            minute; listens on 80 (web UI), 554 (RTSP), some on 23 (telnet); a phone on the LAN
 *            opens the web UI now and then (a handful of parallel connections).
 *   sensor   publishes every 20..40 s; uploads a log batch (20..200 kB over HTTPS) every
 *            15..30 min; listens on 80 (setup page) and UDP 5683 (CoAP).
 *   gateway  publishes every 5..15 s; 3..8 LAN sensors keep MQTT connections to its port 1883
 *            and publish every ~30 s; mDNS announcements and queries; listens on 22, 80, 1883
 *            and UDP 5353.
 *
 * Scenarios (what a compromised device sees; each one starts after a warm-up):
 *   port_scan     nmap-like: SYN probes to 300..1000 ports at 20..100/s, RST|ACK from closed
 *                 ports, SYN-ACK (then RST from the scanner) from open ones; then 20..50 UDP
 *                 probes at ~2/s answered by ICMP/ICMPv6 port unreachable.
 *   host_sweep    Mirai-like: SYNs to random hosts on 23 (90%) and 2323 at 20..80/s for
 *                 2..5 min; ~8% answer RST, ~2% SYN-ACK and get a telnet login attempt.
 *   syn_flood     hping3-like: 300..2000 SYNs/s for 30..90 s to a listening port, from spoofed
 *                 random sources (half the cases) or one source; an RTOS stack with a small
 *                 backlog answers only a few SYN-ACKs.
 *   icmp_flood    1000..4000 echo requests/s for 20..60 s from one source, each answered.
 *   brute_force   30..120 telnet/SSH/HTTP login attempts from one remote, one connection each,
 *                 1..4 s long, 1..5 s apart.
 *   exfiltration  an upload to a new remote at 8..16 times the device's usual rate (at least
 *                 3 MB/min) for 3..10 min.
 *   intel         a beacon to an address of the intel feed every 30..120 s (TCP 443/8080/4444 or
 *                 DNS), until the end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

const char *const sim_scenario_name[SC_COUNT] = {
    "port_scan", "host_sweep", "syn_flood", "icmp_flood", "brute_force", "exfiltration", "intel",
};
const char *const sim_scenario_alert[SC_COUNT] = {
    "behavior.port_scan",   "behavior.host_sweep",   "behavior.syn_flood", "behavior.icmp_flood",
    "behavior.brute_force", "behavior.exfiltration", "intel.",
};
const char *const sim_profile_name[PR_COUNT] = {"camera", "sensor", "gateway"};

#define MSS 1448u
#define TLS_OVERHEAD 29u
#define US 1000000ull

#define F_FIN 0x01u
#define F_SYN 0x02u
#define F_RST 0x04u
#define F_PSH 0x08u
#define F_ACK 0x10u

/* ---- random ---- */

uint64_t sim_rand(sim_rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint32_t sim_range(sim_rng_t *r, uint32_t lo, uint32_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (uint32_t)(sim_rand(r) % ((uint64_t)hi - lo + 1u));
}

double sim_unit(sim_rng_t *r)
{
    return (double)(sim_rand(r) >> 11) * (1.0 / 9007199254740992.0);
}

static sim_addr_t v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    sim_addr_t x;
    memset(&x, 0, sizeof x);
    x.fam = 4;
    x.b[0] = a;
    x.b[1] = b;
    x.b[2] = c;
    x.b[3] = d;
    return x;
}

static sim_addr_t v6(const char *s)
{
    sim_addr_t x;
    sim_addr_parse(s, &x);
    return x;
}

sim_addr_t sim_random_remote(sim_t *s, sim_rng_t *r, int fam)
{
    sim_addr_t a;
    for (int tries = 0;; tries++) {
        if (fam == 6) {
            a = v6("2001:db8:a77a::");
            uint64_t x = sim_rand(r);
            for (int i = 6; i < 16; i++)
                a.b[i] = (uint8_t)(x >> ((i % 8) * 8));
            a.b[6] = 0;
        } else {
            uint32_t x = (uint32_t)sim_rand(r);
            a = v4((uint8_t)(x >> 24), (uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x);
            uint8_t o = a.b[0];
            /* Public unicast only, and none of the ranges the simulation itself uses. */
            if (o == 0 || o == 10 || o == 127 || o >= 224 || (o == 169 && a.b[1] == 254) ||
                (o == 172 && (a.b[1] & 0xf0) == 16) || (o == 192 && a.b[1] == 168) ||
                (o == 100 && (a.b[1] & 0xc0) == 64) || (o == 192 && a.b[1] == 0 && a.b[2] == 2))
                continue;
        }
        if (tries > 1000 || !sim_feed_contains(s->feed, &a))
            return a;
    }
}

/* ---- the scheduler ---- */

static void heap_push(sim_t *s, const sim_ev_t *e)
{
    if (s->heap_n == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 4096;
        sim_ev_t *h = realloc(s->heap, cap * sizeof *h);
        if (h == NULL) {
            fprintf(stderr, "wardsim: out of memory (event heap of %zu)\n", cap);
            exit(3);
        }
        s->heap = h;
        s->heap_cap = cap;
    }
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (s->heap[p].due_us <= e->due_us)
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = *e;
}

static void heap_pop(sim_t *s)
{
    sim_ev_t last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s->heap[c + 1].due_us < s->heap[c].due_us)
            c++;
        if (last.due_us <= s->heap[c].due_us)
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0)
        s->heap[i] = last;
}

/* A flow as seen from the device: everything a packet of it needs but the direction. */
typedef struct fl {
    sim_t *s;
    sim_device_t *d;
    int lsel;
    sim_addr_t r;
    uint8_t proto;
    uint16_t lport, rport;
    int init; /* WARD_DIR_* of the initiator's packets */
} fl_t;

static int rev(int dir)
{
    return dir == WARD_DIR_OUTBOUND ? WARD_DIR_INBOUND : WARD_DIR_OUTBOUND;
}

static unsigned l3len(const fl_t *f)
{
    return f->lsel == LS_V4 || f->lsel == LS_M4 ? 20u : 40u;
}

static unsigned l4len(uint8_t proto)
{
    return proto == WARD_IPPROTO_TCP ? 20u : 8u;
}

/* Schedule count packets (spacing_us apart) of f in direction dir carrying payload bytes. */
static void pk(const fl_t *f, uint64_t t, int dir, uint8_t tcpf, uint32_t payload, uint32_t count,
               uint32_t spacing_us, uint8_t flags)
{
    if (count == 0)
        return;
    sim_ev_t e;
    memset(&e, 0, sizeof e);
    uint32_t len = l3len(f) + l4len(f->proto) + payload;
    e.due_us = t;
    e.dev = (uint32_t)f->d->idx;
    e.spacing_us = spacing_us;
    e.count = count;
    e.lport = f->lport;
    e.rport = f->rport;
    e.ip_len = (uint16_t)(len > 65535u ? 65535u : len);
    e.dir = (uint8_t)dir;
    e.proto = f->proto;
    e.lsel = (uint8_t)f->lsel;
    e.tcpf = tcpf;
    e.flags = flags;
    memcpy(e.remote, f->r.b, 16);
    heap_push(f->s, &e);
}

static uint16_t eph(sim_device_t *d)
{
    uint16_t p = d->eph;
    d->eph = (uint16_t)(d->eph >= 65000 ? 49152 : d->eph + 1);
    return p;
}

static fl_t flow(sim_t *s, sim_device_t *d, int lsel, const sim_addr_t *r, uint8_t proto,
                 uint16_t lport, uint16_t rport, int init)
{
    fl_t f = {s, d, lsel, *r, proto, lport, rport, init};
    return f;
}

/* TCP handshake starting at t; returns when it is done. */
static uint64_t tcp_open(const fl_t *f, uint64_t t, uint32_t rtt_us)
{
    pk(f, t, f->init, F_SYN, 0, 1, 0, 0);
    pk(f, t + rtt_us / 2, rev(f->init), F_SYN | F_ACK, 0, 1, 0, 0);
    pk(f, t + rtt_us, f->init, F_ACK, 0, 1, 0, 0);
    return t + rtt_us;
}

/* bytes of data in direction dir spread over over_us, with the other side's ACKs. */
static void tcp_send(const fl_t *f, uint64_t t, int dir, uint64_t bytes, uint32_t over_us)
{
    if (bytes == 0)
        return;
    uint64_t n = (bytes + MSS - 1) / MSS;
    uint32_t full = (uint32_t)(bytes / MSS), rem = (uint32_t)(bytes % MSS);
    uint32_t sp = (uint32_t)(over_us / n);
    pk(f, t, dir, F_ACK | F_PSH, MSS, full, sp, 0);
    if (rem > 0)
        pk(f, t + (uint64_t)sp * full, dir, F_ACK | F_PSH, rem, 1, 0, 0);
    pk(f, t + sp / 2 + 500, rev(dir), F_ACK, 0, (uint32_t)((n + 1) / 2), sp * 2, 0);
}

/* Orderly close, first FIN from dir. */
static void tcp_close(const fl_t *f, uint64_t t, int dir, uint32_t rtt_us)
{
    pk(f, t, dir, F_FIN | F_ACK, 0, 1, 0, 0);
    pk(f, t + rtt_us / 2, rev(dir), F_FIN | F_ACK, 0, 1, 0, 0);
    pk(f, t + rtt_us, dir, F_ACK, 0, 1, 0, 0);
}

/* One TLS session's handshake on an open connection (device is the client). */
static uint64_t tls_handshake(const fl_t *f, uint64_t t, uint32_t rtt_us)
{
    int out = WARD_DIR_OUTBOUND, in = WARD_DIR_INBOUND;
    pk(f, t, out, F_ACK | F_PSH, 517, 1, 0, 0);       /* ClientHello */
    tcp_send(f, t + rtt_us / 2, in, 3900, 2000);      /* ServerHello, certificates */
    pk(f, t + rtt_us, out, F_ACK | F_PSH, 126, 1, 0, 0); /* key exchange, Finished */
    pk(f, t + rtt_us + rtt_us / 2, in, F_ACK | F_PSH, 51, 1, 0, 0);
    return t + 2 * rtt_us;
}

/* A UDP request/response. */
static void udp_xchg(const fl_t *f, uint64_t t, uint32_t req, uint32_t resp, uint32_t rtt_us)
{
    pk(f, t, f->init, 0, req, 1, 0, 0);
    if (resp > 0)
        pk(f, t + rtt_us, rev(f->init), 0, resp, 1, 0, 0);
}

static uint64_t at(uint32_t sec, sim_rng_t *r)
{
    return (uint64_t)sec * US + sim_range(r, 0, 900000);
}

/* ---- building and feeding packets ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void local_addr(const sim_device_t *d, int lsel, uint8_t out[16])
{
    static const uint8_t m4[4] = {224, 0, 0, 251};
    static const uint8_t m6[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    memset(out, 0, 16);
    switch (lsel) {
    case LS_V4: memcpy(out, d->v4.b, 4); break;
    case LS_G6: memcpy(out, d->g6.b, 16); break;
    case LS_LL6: memcpy(out, d->ll6.b, 16); break;
    case LS_M4: memcpy(out, m4, 4); break;
    default: memcpy(out, m6, 16); break;
    }
}

static void emit(sim_t *s, const sim_ev_t *e)
{
    sim_device_t *d = &s->devs[e->dev];
    uint8_t pkt[80], loc[16], rem[16];
    memset(pkt, 0, sizeof pkt);
    local_addr(d, e->lsel, loc);
    bool is4 = e->lsel == LS_V4 || e->lsel == LS_M4;
    if (e->flags & EVF_RANDSRC) {
        sim_addr_t a = sim_random_remote(s, &s->rng, is4 ? 4 : 6);
        memcpy(rem, a.b, 16);
    } else {
        memcpy(rem, e->remote, 16);
    }
    uint16_t rport = e->rport;
    if (e->flags & EVF_RANDSPORT)
        rport = (uint16_t)sim_range(&s->rng, 1024, 65535);
    bool out = e->dir == WARD_DIR_OUTBOUND;
    const uint8_t *src = out ? loc : rem, *dst = out ? rem : loc;
    size_t h;
    if (is4) {
        pkt[0] = 0x45;
        put16(pkt + 2, e->ip_len);
        put16(pkt + 4, (uint16_t)sim_rand(&d->rng));
        pkt[6] = 0x40;
        pkt[8] = 64;
        pkt[9] = e->proto;
        memcpy(pkt + 12, src, 4);
        memcpy(pkt + 16, dst, 4);
        uint32_t sum = 0;
        for (int i = 0; i < 20; i += 2)
            sum += (uint32_t)pkt[i] << 8 | pkt[i + 1];
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        put16(pkt + 10, (uint16_t)~sum);
        h = 20;
    } else {
        pkt[0] = 0x60;
        put16(pkt + 4, (uint16_t)(e->ip_len - 40));
        pkt[6] = e->proto;
        pkt[7] = e->proto == WARD_IPPROTO_ICMPV6 ? 255 : 64;
        memcpy(pkt + 8, src, 16);
        memcpy(pkt + 24, dst, 16);
        h = 40;
    }
    uint8_t *l4 = pkt + h;
    uint16_t sport = out ? e->lport : rport, dport = out ? rport : e->lport;
    switch (e->proto) {
    case WARD_IPPROTO_TCP: {
        uint32_t seq = (uint32_t)sim_rand(&d->rng);
        put16(l4, sport);
        put16(l4 + 2, dport);
        memcpy(l4 + 4, &seq, 4);
        l4[12] = 0x50;
        l4[13] = e->tcpf;
        put16(l4 + 14, 0xffff);
        h += 20;
        break;
    }
    case WARD_IPPROTO_UDP:
        put16(l4, sport);
        put16(l4 + 2, dport);
        put16(l4 + 4, (uint16_t)(e->ip_len - h));
        h += 8;
        break;
    default: /* ICMP, ICMPv6: type, code, checksum, identifier, sequence */
        l4[0] = (uint8_t)(rport >> 8);
        l4[1] = (uint8_t)rport;
        put16(l4 + 4, e->lport);
        h += 8;
        break;
    }
    uint64_t now_ms = d->clock0_ms + e->due_us / 1000u;
    ward_status_t st = ward_agent_on_packet(&s->agents[e->dev], e->dir, pkt, h, now_ms);
    s->packets++;
    if (st != WARD_OK) {
        if (s->packet_errors++ == 0)
            fprintf(stderr, "wardsim: %s: the agent refused a packet: %s\n", d->id,
                    ward_status_str(st));
    }
}

void sim_run_until(sim_t *s, uint64_t end_us)
{
    while (s->heap_n > 0 && s->heap[0].due_us < end_us) {
        sim_ev_t e = s->heap[0];
        heap_pop(s);
        emit(s, &e);
        if (e.count > 1) {
            e.count--;
            e.due_us += e.spacing_us;
            heap_push(s, &e);
        }
    }
}

size_t sim_listening(void *ctx, ward_listen_t *out, size_t max)
{
    const sim_device_t *d = ctx;
    size_t n = 0;
    for (int fam = 4; fam <= 6; fam += 2) {
        if (fam == 6 && !d->v6)
            break;
        for (unsigned i = 0; i < d->n_ltcp && n < max; i++, n++) {
            memset(&out[n], 0, sizeof out[n]);
            out[n].proto = WARD_IPPROTO_TCP;
            out[n].family = (uint8_t)fam;
            out[n].port = d->ltcp[i];
        }
        for (unsigned i = 0; i < d->n_ludp && n < max; i++, n++) {
            memset(&out[n], 0, sizeof out[n]);
            out[n].proto = WARD_IPPROTO_UDP;
            out[n].family = (uint8_t)fam;
            out[n].port = d->ludp[i];
        }
    }
    return n;
}

static bool listens(const sim_device_t *d, uint8_t proto, uint16_t port)
{
    const uint16_t *v = proto == WARD_IPPROTO_TCP ? d->ltcp : d->ludp;
    unsigned n = proto == WARD_IPPROTO_TCP ? d->n_ltcp : d->n_ludp;
    for (unsigned i = 0; i < n; i++)
        if (v[i] == port)
            return true;
    return false;
}

/* ---- devices ---- */

void sim_device_setup(sim_t *s, sim_device_t *d, int idx, int group, int profile, uint64_t seed)
{
    (void)s;
    static const char *const prefix[PR_COUNT] = {"cam", "sensor", "gw"};
    char buf[64];
    memset(d, 0, sizeof *d);
    d->idx = idx;
    d->group = group;
    d->profile = profile;
    d->scen = SC_NONE;
    /* Each device its own stream: two mixing rounds of (seed, index), so that streams of
     * neighbouring devices are not the same sequence shifted by a few steps. */
    sim_rng_t mix = {seed ^ ((uint64_t)idx << 32) ^ 0x243f6a8885a308d3ull};
    d->rng.s = sim_rand(&mix);
    d->rng.s ^= sim_rand(&mix) << 17;
    snprintf(d->id, sizeof d->id, "%s-%04d", prefix[profile], idx + 1);
    snprintf(d->topic, sizeof d->topic, "ward/v1/%s/report", d->id);
    uint8_t hi = (uint8_t)(idx / 200), lo = (uint8_t)(20 + idx % 200);
    d->v4 = v4(10, 20, hi, lo);
    d->router4 = v4(10, 20, hi, 1);
    d->lan_base = v4(10, 20, hi, 0);
    d->v6 = profile == PR_GATEWAY || sim_range(&d->rng, 0, 1) == 0;
    snprintf(buf, sizeof buf, "2001:db8:20:%x::%x", hi, lo);
    d->g6 = v6(buf);
    snprintf(buf, sizeof buf, "2001:db8:20:%x::1", hi);
    d->router6 = v6(buf);
    snprintf(buf, sizeof buf, "fe80::%x", 0x100 + idx);
    d->ll6 = v6(buf);
    d->clock0_ms = (uint64_t)sim_range(&d->rng, 5, 60) * 1000u;
    d->boot_s = sim_range(&d->rng, 1, 30);
    d->eph = (uint16_t)sim_range(&d->rng, 49152, 60000);

    switch (profile) {
    case PR_CAMERA:
        d->ltcp[d->n_ltcp++] = 80;
        d->ltcp[d->n_ltcp++] = 554;
        if (sim_range(&d->rng, 0, 1))
            d->ltcp[d->n_ltcp++] = 23;
        d->service_port = listens(d, WARD_IPPROTO_TCP, 23) ? 23 : 80;
        d->pub_period = 60;
        d->stream_bps = sim_range(&d->rng, 256, 768) * 1000u;
        d->vbr = 1.0;
        break;
    case PR_SENSOR:
        d->ltcp[d->n_ltcp++] = 80;
        d->ludp[d->n_ludp++] = 5683;
        d->service_port = 80;
        d->pub_period = sim_range(&d->rng, 20, 40);
        break;
    default:
        d->ltcp[d->n_ltcp++] = 22;
        d->ltcp[d->n_ltcp++] = 80;
        d->ltcp[d->n_ltcp++] = 1883;
        d->ludp[d->n_ludp++] = 5353;
        d->service_port = 22;
        d->pub_period = sim_range(&d->rng, 5, 15);
        d->n_lan = (uint8_t)sim_range(&d->rng, 3, 8);
        break;
    }
}

static const sim_addr_t *broker(const sim_device_t *d, int *lsel)
{
    static sim_addr_t b4, b6;
    if (b4.fam == 0) {
        b4 = v4(192, 0, 2, 10);
        b6 = v6("2001:db8:c1ea::10");
    }
    *lsel = d->v6 ? LS_G6 : LS_V4;
    return d->v6 ? &b6 : &b4;
}

static void dns(sim_t *s, sim_device_t *d, uint32_t t)
{
    fl_t f = flow(s, d, LS_V4, &d->router4, WARD_IPPROTO_UDP, eph(d), 53, WARD_DIR_OUTBOUND);
    udp_xchg(&f, at(t, &d->rng), sim_range(&d->rng, 34, 48), sim_range(&d->rng, 80, 160), 2000);
    if (d->v6) {
        fl_t g = flow(s, d, LS_G6, &d->router6, WARD_IPPROTO_UDP, eph(d), 53, WARD_DIR_OUTBOUND);
        udp_xchg(&g, at(t, &d->rng), sim_range(&d->rng, 34, 48), sim_range(&d->rng, 90, 180),
                 2000);
    }
}

static void ntp(sim_t *s, sim_device_t *d, uint32_t t)
{
    sim_addr_t srv = d->v6 ? v6("2001:db8:c1ea::123") : v4(192, 0, 2, 123);
    fl_t f = flow(s, d, d->v6 ? LS_G6 : LS_V4, &srv, WARD_IPPROTO_UDP, eph(d), 123,
                  WARD_DIR_OUTBOUND);
    udp_xchg(&f, at(t, &d->rng), 48, 48, 30000);
}

static fl_t mqtt_flow(sim_t *s, sim_device_t *d)
{
    int lsel;
    const sim_addr_t *b = broker(d, &lsel);
    return flow(s, d, lsel, b, WARD_IPPROTO_TCP, d->mqtt_lport, 8883, WARD_DIR_OUTBOUND);
}

/* An MQTT message of app bytes out over TLS, with its PUBACK. */
static void mqtt_publish(sim_t *s, sim_device_t *d, uint64_t t, uint32_t app)
{
    fl_t f = mqtt_flow(s, d);
    uint32_t rec = app + TLS_OVERHEAD;
    if (rec <= MSS)
        pk(&f, t, WARD_DIR_OUTBOUND, F_ACK | F_PSH, rec, 1, 0, 0);
    else
        tcp_send(&f, t, WARD_DIR_OUTBOUND, rec, 20000);
    pk(&f, t + 30000, WARD_DIR_INBOUND, F_ACK | F_PSH, 4 + TLS_OVERHEAD, 1, 0, 0);
}

static void boot(sim_t *s, sim_device_t *d, uint32_t t)
{
    uint64_t t0 = (uint64_t)t * US;
    if (d->v6) {
        sim_addr_t rs = v6("ff02::2"), r = v6("fe80::1");
        fl_t f = flow(s, d, LS_LL6, &rs, WARD_IPPROTO_ICMPV6, 0, 133 << 8, WARD_DIR_OUTBOUND);
        pk(&f, t0, WARD_DIR_OUTBOUND, 0, 8, 1, 0, 0);
        fl_t g = flow(s, d, LS_M6, &r, WARD_IPPROTO_ICMPV6, 0, 134 << 8, WARD_DIR_INBOUND);
        pk(&g, t0 + 5000, WARD_DIR_INBOUND, 0, 56, 1, 0, 0);
    }
    dns(s, d, t);
    ntp(s, d, t);
    d->mqtt_lport = eph(d);
    fl_t f = mqtt_flow(s, d);
    uint64_t u = tcp_open(&f, t0 + 200000, 40000);
    u = tls_handshake(&f, u, 40000);
    pk(&f, u, WARD_DIR_OUTBOUND, F_ACK | F_PSH, 90 + TLS_OVERHEAD, 1, 0, 0); /* CONNECT */
    pk(&f, u + 20000, WARD_DIR_INBOUND, F_ACK | F_PSH, 4 + TLS_OVERHEAD, 1, 0, 0);
    ward_agent_note(&s->agents[d->idx], WARD_CTR_CONNECT_ATTEMPTS, 1);
    d->last_mqtt = t;
    d->next_pub = t + 1 + sim_range(&d->rng, 0, d->pub_period);
    d->next_dns = t + sim_range(&d->rng, 280, 320);
    d->next_ntp = t + sim_range(&d->rng, 1000, 1050);
    d->next_c2d = t + sim_range(&d->rng, 300, 1800);
    d->next_nd = t + sim_range(&d->rng, 120, 300);
    d->next_ra = t + sim_range(&d->rng, 200, 600);
    d->next_upload = t + sim_range(&d->rng, 300, 1800);
    d->next_mdns = t + sim_range(&d->rng, 5, 120);
    d->next_lan = t + sim_range(&d->rng, 5, 30);
    d->next_admin = t + sim_range(&d->rng, 600, 3600);
    d->next_vbr = t + 60;
    if (d->profile == PR_CAMERA) {
        sim_addr_t up = d->v6 ? v6("2001:db8:c1ea::30") : v4(192, 0, 2, 30);
        d->stream_lport = eph(d);
        fl_t c = flow(s, d, d->v6 ? LS_G6 : LS_V4, &up, WARD_IPPROTO_TCP, d->stream_lport, 443,
                      WARD_DIR_OUTBOUND);
        tls_handshake(&c, tcp_open(&c, t0 + 400000, 40000), 40000);
    }
    if (d->profile == PR_GATEWAY) {
        for (unsigned k = 0; k < d->n_lan; k++) {
            sim_addr_t c = d->lan_base;
            c.b[3] = (uint8_t)(100 + k);
            fl_t g = flow(s, d, LS_V4, &c, WARD_IPPROTO_TCP, 1883,
                          (uint16_t)sim_range(&d->rng, 49152, 65000), WARD_DIR_INBOUND);
            uint64_t u2 = tcp_open(&g, t0 + 500000 + k * 10000u, 2000);
            pk(&g, u2, WARD_DIR_INBOUND, F_ACK | F_PSH, 40, 1, 0, 0);
            pk(&g, u2 + 1000, WARD_DIR_OUTBOUND, F_ACK | F_PSH, 4, 1, 0, 0);
        }
    }
}

static void benign_second(sim_t *s, sim_device_t *d, uint32_t t)
{
    ward_agent_t *ag = &s->agents[d->idx];
    uint64_t t0 = (uint64_t)t * US;
    if (t == d->boot_s) {
        boot(s, d, t);
        return;
    }
    if (t < d->boot_s)
        return;
    fl_t m = mqtt_flow(s, d);
    if (t >= d->next_pub) {
        uint32_t app = d->profile == PR_GATEWAY ? sim_range(&d->rng, 400, 2000)
                       : d->profile == PR_CAMERA ? sim_range(&d->rng, 200, 400)
                                                 : sim_range(&d->rng, 60, 220);
        mqtt_publish(s, d, at(t, &d->rng), app);
        ward_agent_note(ag, WARD_CTR_MSGS_SENT, 1);
        d->last_mqtt = t;
        d->next_pub = t + d->pub_period + sim_range(&d->rng, 0, 2) - 1;
    }
    if (d->report_bytes > 0) {
        /* The agent's own report parts travel on the device's MQTT link too. */
        mqtt_publish(s, d, t0 + 950000, d->report_bytes + 40);
        d->report_bytes = 0;
        d->last_mqtt = t;
    }
    if (t >= d->next_c2d) {
        uint64_t u = at(t, &d->rng);
        pk(&m, u, WARD_DIR_INBOUND, F_ACK | F_PSH, sim_range(&d->rng, 100, 400) + TLS_OVERHEAD, 1,
           0, 0);
        pk(&m, u + 40000, WARD_DIR_OUTBOUND, F_ACK, 0, 1, 0, 0);
        mqtt_publish(s, d, u + 200000, sim_range(&d->rng, 40, 120));
        ward_agent_note(ag, WARD_CTR_MSGS_RECEIVED, 1);
        ward_agent_note(ag, WARD_CTR_MSGS_SENT, 1);
        d->next_c2d = t + sim_range(&d->rng, 300, 1800);
        d->last_mqtt = t;
    }
    if (t - d->last_mqtt >= 60) {
        pk(&m, t0 + 100000, WARD_DIR_OUTBOUND, F_ACK | F_PSH, 2 + TLS_OVERHEAD, 1, 0, 0);
        pk(&m, t0 + 140000, WARD_DIR_INBOUND, F_ACK | F_PSH, 2 + TLS_OVERHEAD, 1, 0, 0);
        d->last_mqtt = t;
    }
    if (t >= d->next_dns) {
        dns(s, d, t);
        d->next_dns = t + sim_range(&d->rng, 280, 320);
    }
    if (t >= d->next_ntp) {
        ntp(s, d, t);
        d->next_ntp = t + sim_range(&d->rng, 1000, 1050);
    }
    if (d->v6 && t >= d->next_nd) {
        sim_addr_t r = v6("fe80::1");
        fl_t ns = flow(s, d, LS_LL6, &r, WARD_IPPROTO_ICMPV6, 0, 135 << 8, WARD_DIR_OUTBOUND);
        pk(&ns, at(t, &d->rng), WARD_DIR_OUTBOUND, 0, 24, 1, 0, 0);
        fl_t na = flow(s, d, LS_LL6, &r, WARD_IPPROTO_ICMPV6, 0, 136 << 8, WARD_DIR_INBOUND);
        pk(&na, at(t, &d->rng) + 1000, WARD_DIR_INBOUND, 0, 24, 1, 0, 0);
        d->next_nd = t + sim_range(&d->rng, 120, 300);
    }
    if (d->v6 && t >= d->next_ra) {
        sim_addr_t r = v6("fe80::1");
        fl_t ra = flow(s, d, LS_M6, &r, WARD_IPPROTO_ICMPV6, 0, 134 << 8, WARD_DIR_INBOUND);
        pk(&ra, at(t, &d->rng), WARD_DIR_INBOUND, 0, 56, 1, 0, 0);
        d->next_ra = t + sim_range(&d->rng, 200, 600);
    }

    switch (d->profile) {
    case PR_CAMERA: {
        if (t >= d->next_vbr) {
            d->vbr = 0.75 + 0.5 * sim_unit(&d->rng);
            d->next_vbr = t + 60;
        }
        sim_addr_t up = d->v6 ? v6("2001:db8:c1ea::30") : v4(192, 0, 2, 30);
        fl_t c = flow(s, d, d->v6 ? LS_G6 : LS_V4, &up, WARD_IPPROTO_TCP, d->stream_lport, 443,
                      WARD_DIR_OUTBOUND);
        tcp_send(&c, t0 + 1000, WARD_DIR_OUTBOUND, (uint64_t)(d->stream_bps / 8 * d->vbr), 990000);
        if (t >= d->next_admin) {
            /* Someone opens the camera's web UI from a phone: a browser's few parallel
             * connections, each a page or an image. */
            sim_addr_t phone = d->lan_base;
            phone.b[3] = 9;
            unsigned n = sim_range(&d->rng, 3, 8);
            for (unsigned k = 0; k < n; k++) {
                fl_t w = flow(s, d, LS_V4, &phone, WARD_IPPROTO_TCP, 80,
                              (uint16_t)sim_range(&d->rng, 49152, 65000), WARD_DIR_INBOUND);
                uint64_t u = tcp_open(&w, at(t, &d->rng), 3000);
                pk(&w, u, WARD_DIR_INBOUND, F_ACK | F_PSH, sim_range(&d->rng, 300, 600), 1, 0, 0);
                tcp_send(&w, u + 5000, WARD_DIR_OUTBOUND, sim_range(&d->rng, 1000, 40000),
                         200000);
                tcp_close(&w, u + sim_range(&d->rng, 1, 15) * US, WARD_DIR_INBOUND, 3000);
            }
            d->next_admin = t + sim_range(&d->rng, 1800, 7200);
        }
        break;
    }
    case PR_SENSOR:
        if (t >= d->next_upload) {
            sim_addr_t srv = d->v6 ? v6("2001:db8:c1ea::20") : v4(192, 0, 2, 20);
            fl_t u = flow(s, d, d->v6 ? LS_G6 : LS_V4, &srv, WARD_IPPROTO_TCP, eph(d), 443,
                          WARD_DIR_OUTBOUND);
            uint64_t x = tls_handshake(&u, tcp_open(&u, at(t, &d->rng), 40000), 40000);
            uint32_t secs = sim_range(&d->rng, 1, 3);
            tcp_send(&u, x, WARD_DIR_OUTBOUND, sim_range(&d->rng, 20000, 200000),
                     secs * 900000u);
            pk(&u, x + secs * US, WARD_DIR_INBOUND, F_ACK | F_PSH, 300, 1, 0, 0);
            tcp_close(&u, x + secs * US + 50000, WARD_DIR_OUTBOUND, 40000);
            d->next_upload = t + sim_range(&d->rng, 900, 1800);
        }
        break;
    default:
        if (t >= d->next_lan) {
            /* The LAN sensors publish to the gateway's broker; it acknowledges. */
            for (unsigned k = 0; k < d->n_lan; k++) {
                sim_addr_t c = d->lan_base;
                c.b[3] = (uint8_t)(100 + k);
                fl_t g = flow(s, d, LS_V4, &c, WARD_IPPROTO_TCP, 1883, (uint16_t)(50000 + k),
                              WARD_DIR_INBOUND);
                uint64_t u = at(t, &d->rng);
                pk(&g, u, WARD_DIR_INBOUND, F_ACK | F_PSH, sim_range(&d->rng, 40, 200), 1, 0, 0);
                pk(&g, u + 1000, WARD_DIR_OUTBOUND, F_ACK | F_PSH, 4, 1, 0, 0);
            }
            d->next_lan = t + sim_range(&d->rng, 25, 35);
        }
        if (t >= d->next_mdns) {
            sim_addr_t m4 = v4(224, 0, 0, 251);
            fl_t a = flow(s, d, LS_V4, &m4, WARD_IPPROTO_UDP, 5353, 5353, WARD_DIR_OUTBOUND);
            pk(&a, at(t, &d->rng), WARD_DIR_OUTBOUND, 0, sim_range(&d->rng, 100, 300), 1, 0, 0);
            unsigned hosts = sim_range(&d->rng, 1, 4);
            for (unsigned k = 0; k < hosts; k++) {
                sim_addr_t h = d->lan_base;
                h.b[3] = (uint8_t)(50 + k);
                fl_t q = flow(s, d, LS_M4, &h, WARD_IPPROTO_UDP, 5353, 5353, WARD_DIR_INBOUND);
                pk(&q, at(t, &d->rng), WARD_DIR_INBOUND, 0, sim_range(&d->rng, 40, 200), 1, 0,
                   0);
            }
            d->next_mdns = t + sim_range(&d->rng, 60, 180);
        }
        break;
    }
}

/* ---- scenarios ---- */

static const uint16_t top_ports[] = {
    80,   23,   443,  21,   22,   25,   3389, 110,  445,  139,  143,  53,   135,  3306, 8080,
    1723, 111,  995,  993,  5900, 1025, 587,  8888, 199,  1720, 465,  548,  113,  81,   6001,
    10000, 514, 5060, 179,  1026, 2000, 8443, 8000, 32768, 554, 26,   1433, 49152, 2001, 515,
    8008, 49154, 1027, 5666, 646, 5000, 5631, 631,  49153, 8081, 2049, 88,  79,   5800, 106,
    2121, 1110, 49155, 6000, 513, 990,  5357, 427,  49156, 543, 544,  5101, 144,  7,    389,
};
static const uint16_t top_udp[] = {
    53,  67,  123, 135, 137, 138, 161, 445, 631, 1434, 1900, 4500, 49152, 500, 520,
    514, 162, 69,  5353, 111, 1701, 998, 996, 997, 999, 3283, 1812, 1813, 2048, 5060,
    5683, 47808, 20031, 17185, 1026, 9200, 626, 1030, 177, 1027, 49154, 32768, 623, 2222, 6481,
};

bool sim_scenario_plan(sim_t *s, sim_device_t *d, int scen)
{
    sim_rng_t *r = &d->rng;
    uint32_t len = 60, warm;
    d->scen = scen;
    int fam = d->v6 && sim_range(r, 0, 9) < 3 ? 6 : 4;
    d->s_remote = sim_random_remote(s, r, fam);
    switch (scen) {
    case SC_PORT_SCAN:
        d->s_total = sim_range(r, 300, 1000);
        d->s_rate = sim_range(r, 20, 100);
        d->s_udp_total = sim_range(r, 20, 50);
        d->s_sport = (uint16_t)sim_range(r, 33000, 65000);
        len = d->s_total / d->s_rate + d->s_udp_total / 2 + 2;
        break;
    case SC_HOST_SWEEP:
        d->s_remote = sim_random_remote(s, r, 4);
        d->s_rate = sim_range(r, 20, 80);
        len = sim_range(r, 120, 300);
        break;
    case SC_SYN_FLOOD:
        d->s_rate = sim_range(r, 300, 2000);
        d->s_spoof = sim_range(r, 0, 1) == 1;
        d->s_port = d->service_port;
        len = sim_range(r, 30, 90);
        break;
    case SC_ICMP_FLOOD:
        d->s_rate = sim_range(r, 1000, 4000);
        len = sim_range(r, 20, 60);
        break;
    case SC_BRUTE_FORCE:
        d->s_total = sim_range(r, 30, 120);
        d->s_port = d->service_port;
        len = d->s_total * 3 + 5;
        break;
    case SC_EXFILTRATION: {
        uint64_t usual = d->profile == PR_CAMERA ? d->stream_bps / 8u : 2000u;
        uint64_t bps = usual * sim_range(r, 8, 16);
        if (bps < 3000000u / 60u)
            bps = 3000000u / 60u * sim_range(r, 10, 20) / 10u;
        d->s_bytes = bps;
        d->s_remote = sim_random_remote(s, r, d->v6 ? fam : 4);
        d->s_port = 443;
        len = sim_range(r, 180, 600);
        break;
    }
    case SC_INTEL: {
        if (s->feed == NULL || s->feed->n == 0)
            return false;
        const sim_cidr_t *c = NULL;
        for (int tries = 0; tries < 64; tries++) {
            const sim_cidr_t *x = &s->feed->v[sim_range(r, 0, (uint32_t)s->feed->n - 1)];
            if (x->a.fam == 4 || d->v6) {
                c = x;
                break;
            }
        }
        if (c == NULL)
            return false;
        d->s_remote = c->a;
        int bits = (c->a.fam == 4 ? 32 : 128) - c->plen;
        /* An address inside the range: random host bits (not the network address). */
        for (int i = (c->a.fam == 4 ? 3 : 15); bits > 0; i--, bits -= 8) {
            uint8_t m = bits >= 8 ? 0xff : (uint8_t)((1u << bits) - 1u);
            d->s_remote.b[i] |= (uint8_t)(sim_rand(r) & m);
        }
        if (c->plen < (c->a.fam == 4 ? 31 : 127) && (d->s_remote.b[c->a.fam == 4 ? 3 : 15] == 0))
            d->s_remote.b[c->a.fam == 4 ? 3 : 15] = 7;
        static const uint16_t ports[] = {443, 8080, 4444, 53};
        d->s_port = ports[sim_range(r, 0, 3)];
        d->s_rate = sim_range(r, 30, 120); /* beacon period */
        len = 0;
        break;
    }
    default:
        return false;
    }
    /* Warm-up: every device has settled, and exfiltration has a history to stand out from. */
    warm = s->duration_s / 4;
    if (warm < 2 * s->interval_s)
        warm = 2 * s->interval_s;
    if (scen == SC_EXFILTRATION && warm < 12 * s->interval_s)
        warm = 12 * s->interval_s;
    uint32_t tail = 2 * s->interval_s;
    if (scen == SC_INTEL)
        len = 3 * s->interval_s;
    if (warm + len + tail > s->duration_s)
        return false;
    d->s_start = sim_range(r, warm, s->duration_s - len - tail);
    d->s_end = scen == SC_INTEL ? s->duration_s : d->s_start + len;
    d->s_next = d->s_start;
    return true;
}

static void scan_second(sim_t *s, sim_device_t *d, uint32_t t)
{
    int lsel = d->s_remote.fam == 6 ? LS_G6 : LS_V4;
    uint64_t t0 = (uint64_t)t * US;
    if (d->s_done < d->s_total) {
        uint32_t n = d->s_rate;
        if (n > d->s_total - d->s_done)
            n = d->s_total - d->s_done;
        for (uint32_t k = 0; k < n; k++, d->s_done++) {
            uint16_t port;
            if (d->s_done < sizeof top_ports / sizeof top_ports[0])
                port = top_ports[d->s_done];
            else
                port = (uint16_t)(1000 + (d->s_done * 7919u) % 9000u);
            fl_t f = flow(s, d, lsel, &d->s_remote, WARD_IPPROTO_TCP, port, d->s_sport,
                          WARD_DIR_INBOUND);
            uint64_t u = t0 + (uint64_t)k * (US / n);
            pk(&f, u, WARD_DIR_INBOUND, F_SYN, 4, 1, 0, 0); /* nmap's SYN carries an MSS option */
            if (listens(d, WARD_IPPROTO_TCP, port)) {
                pk(&f, u + 20000, WARD_DIR_OUTBOUND, F_SYN | F_ACK, 4, 1, 0, 0);
                pk(&f, u + 40000, WARD_DIR_INBOUND, F_RST, 0, 1, 0, 0);
            } else {
                pk(&f, u + 20000, WARD_DIR_OUTBOUND, F_RST | F_ACK, 0, 1, 0, 0);
            }
        }
        return;
    }
    /* UDP probes, about two a second, answered by port unreachable from closed ports. */
    for (int k = 0; k < 2 && d->s_udp_done < d->s_udp_total; k++, d->s_udp_done++) {
        uint16_t port = d->s_udp_done < sizeof top_udp / sizeof top_udp[0]
                            ? top_udp[d->s_udp_done]
                            : (uint16_t)(20000 + d->s_udp_done);
        uint16_t sport = (uint16_t)(d->s_sport + 1);
        fl_t f = flow(s, d, lsel, &d->s_remote, WARD_IPPROTO_UDP, port, sport, WARD_DIR_INBOUND);
        uint64_t u = t0 + (uint64_t)k * 500000u;
        pk(&f, u, WARD_DIR_INBOUND, 0, sim_range(&d->rng, 0, 40), 1, 0, 0);
        if (!listens(d, WARD_IPPROTO_UDP, port)) {
            bool is6 = d->s_remote.fam == 6;
            fl_t ic = flow(s, d, lsel, &d->s_remote, is6 ? WARD_IPPROTO_ICMPV6 : WARD_IPPROTO_ICMP,
                           0, is6 ? (1 << 8 | 4) : (3 << 8 | 3), WARD_DIR_OUTBOUND);
            /* The error quotes the probe's IP and UDP headers. */
            pk(&ic, u + 10000, WARD_DIR_OUTBOUND, 0, is6 ? 48 : 28, 1, 0, 0);
        }
    }
}

static void scenario_second(sim_t *s, sim_device_t *d, uint32_t t)
{
    uint64_t t0 = (uint64_t)t * US;
    sim_rng_t *r = &d->rng;
    char ra[64];
    if (t < d->s_start || t >= d->s_end)
        return;
    if (!d->started) {
        d->started = true;
        sim_addr_format(&d->s_remote, ra, sizeof ra);
        switch (d->scen) {
        case SC_PORT_SCAN:
            snprintf(d->s_fact, sizeof d->s_fact, "%s scans %u TCP + %u UDP ports", ra,
                     d->s_total, d->s_udp_total);
            break;
        case SC_HOST_SWEEP:
            snprintf(d->s_fact, sizeof d->s_fact, "sweeps ~%u hosts/s on 23/2323 for %us",
                     d->s_rate, d->s_end - d->s_start);
            break;
        case SC_SYN_FLOOD:
            snprintf(d->s_fact, sizeof d->s_fact, "%u SYN/s to port %u from %s for %us",
                     d->s_rate, d->s_port, d->s_spoof ? "spoofed sources" : ra,
                     d->s_end - d->s_start);
            break;
        case SC_ICMP_FLOOD:
            snprintf(d->s_fact, sizeof d->s_fact, "%u echo requests/s from %s for %us", d->s_rate,
                     ra, d->s_end - d->s_start);
            break;
        case SC_BRUTE_FORCE:
            snprintf(d->s_fact, sizeof d->s_fact, "%u logins from %s to port %u", d->s_total, ra,
                     d->s_port);
            break;
        case SC_EXFILTRATION:
            snprintf(d->s_fact, sizeof d->s_fact, "uploads %.1f MB/min to %s:%u for %us",
                     (double)d->s_bytes * 60 / 1e6, ra, d->s_port, d->s_end - d->s_start);
            break;
        default:
            snprintf(d->s_fact, sizeof d->s_fact, "beacons to %s:%u every %us", ra, d->s_port,
                     d->s_rate);
            break;
        }
    }
    int lsel = d->s_remote.fam == 6 ? LS_G6 : LS_V4;
    bool is6 = d->s_remote.fam == 6;
    switch (d->scen) {
    case SC_PORT_SCAN:
        scan_second(s, d, t);
        break;
    case SC_HOST_SWEEP:
        for (uint32_t k = 0; k < d->s_rate; k++) {
            sim_addr_t dst = sim_random_remote(s, &s->rng, 4);
            uint16_t port = sim_range(r, 0, 9) == 0 ? 2323 : 23;
            fl_t f = flow(s, d, LS_V4, &dst, WARD_IPPROTO_TCP, (uint16_t)sim_range(r, 1024, 65535),
                          port, WARD_DIR_OUTBOUND);
            uint64_t u = t0 + (uint64_t)k * (US / d->s_rate);
            pk(&f, u, WARD_DIR_OUTBOUND, F_SYN, 0, 1, 0, 0);
            uint32_t fate = sim_range(r, 0, 99);
            if (fate < 8) {
                pk(&f, u + 80000, WARD_DIR_INBOUND, F_RST | F_ACK, 0, 1, 0, 0);
            } else if (fate < 10) {
                pk(&f, u + 80000, WARD_DIR_INBOUND, F_SYN | F_ACK, 4, 1, 0, 0);
                pk(&f, u + 80100, WARD_DIR_OUTBOUND, F_ACK, 0, 1, 0, 0);
                pk(&f, u + 200000, WARD_DIR_INBOUND, F_ACK | F_PSH, sim_range(r, 12, 40), 1, 0,
                   0);
                pk(&f, u + 300000, WARD_DIR_OUTBOUND, F_ACK | F_PSH, sim_range(r, 5, 12), 2,
                   300000, 0);
                pk(&f, u + 1200000, WARD_DIR_OUTBOUND, F_RST | F_ACK, 0, 1, 0, 0);
            }
        }
        break;
    case SC_SYN_FLOOD: {
        fl_t f = flow(s, d, lsel, &d->s_remote, WARD_IPPROTO_TCP, d->s_port, 0, WARD_DIR_INBOUND);
        pk(&f, t0, WARD_DIR_INBOUND, F_SYN, 0, d->s_rate, (uint32_t)(US / d->s_rate),
           (uint8_t)((d->s_spoof ? EVF_RANDSRC : 0) | EVF_RANDSPORT));
        /* The stack's small backlog: a few SYN-ACKs, retransmitted, every few seconds. */
        if ((t - d->s_start) % 3 == 0) {
            for (int k = 0; k < 8; k++) {
                fl_t g = f;
                if (d->s_spoof)
                    g.r = sim_random_remote(s, &s->rng, d->s_remote.fam);
                g.rport = (uint16_t)sim_range(r, 1024, 65535);
                pk(&g, t0 + 1000u + (uint64_t)k * 1000u, WARD_DIR_OUTBOUND, F_SYN | F_ACK, 4, 1,
                   0, 0);
            }
        }
        break;
    }
    case SC_ICMP_FLOOD: {
        uint16_t id = (uint16_t)(d->s_remote.b[3] * 256 + 1);
        fl_t q = flow(s, d, lsel, &d->s_remote, is6 ? WARD_IPPROTO_ICMPV6 : WARD_IPPROTO_ICMP, id,
                      is6 ? 128 << 8 : 8 << 8, WARD_DIR_INBOUND);
        fl_t a = flow(s, d, lsel, &d->s_remote, q.proto, id, is6 ? 129 << 8 : 0, WARD_DIR_INBOUND);
        uint32_t sp = (uint32_t)(US / d->s_rate);
        pk(&q, t0, WARD_DIR_INBOUND, 0, 56, d->s_rate, sp, 0);
        pk(&a, t0 + 200, WARD_DIR_OUTBOUND, 0, 56, d->s_rate, sp, 0);
        break;
    }
    case SC_BRUTE_FORCE:
        if (t >= d->s_next && d->s_done < d->s_total) {
            fl_t f = flow(s, d, lsel, &d->s_remote, WARD_IPPROTO_TCP, d->s_port,
                          (uint16_t)sim_range(r, 32768, 60999), WARD_DIR_INBOUND);
            uint64_t u = tcp_open(&f, at(t, r), 60000);
            uint32_t dur = sim_range(r, 1, 4);
            int out = WARD_DIR_OUTBOUND, in = WARD_DIR_INBOUND;
            if (d->s_port == 22) {
                pk(&f, u, out, F_ACK | F_PSH, 21, 1, 0, 0);    /* version */
                pk(&f, u + 60000, in, F_ACK | F_PSH, 21, 1, 0, 0);
                pk(&f, u + 120000, in, F_ACK | F_PSH, 1400, 1, 0, 0); /* kex */
                pk(&f, u + 150000, out, F_ACK | F_PSH, 1100, 1, 0, 0);
                pk(&f, u + 400000, in, F_ACK | F_PSH, 100, 3, 300000, 0); /* password tries */
                pk(&f, u + 450000, out, F_ACK | F_PSH, 52, 3, 300000, 0);
            } else if (d->s_port == 23) {
                pk(&f, u, out, F_ACK | F_PSH, 30, 1, 0, 0); /* banner, login: */
                pk(&f, u + 300000, in, F_ACK | F_PSH, 8, 1, 0, 0);
                pk(&f, u + 320000, out, F_ACK | F_PSH, 10, 1, 0, 0); /* Password: */
                pk(&f, u + 600000, in, F_ACK | F_PSH, 10, 1, 0, 0);
                pk(&f, u + 900000, out, F_ACK | F_PSH, 20, 1, 0, 0); /* Login incorrect */
            } else {
                pk(&f, u, in, F_ACK | F_PSH, sim_range(r, 250, 400), 1, 0, 0); /* Basic auth */
                pk(&f, u + 30000, out, F_ACK | F_PSH, sim_range(r, 200, 500), 1, 0, 0); /* 401 */
            }
            tcp_close(&f, u + dur * US, in, 60000);
            d->s_done++;
            d->s_next = t + sim_range(r, 1, 5);
        }
        break;
    case SC_EXFILTRATION: {
        fl_t f = flow(s, d, lsel, &d->s_remote, WARD_IPPROTO_TCP, d->s_sport, d->s_port,
                      WARD_DIR_OUTBOUND);
        if (t == d->s_start) {
            d->s_sport = eph(d);
            f.lport = d->s_sport;
            tls_handshake(&f, tcp_open(&f, t0, 80000), 80000);
            break;
        }
        tcp_send(&f, t0 + 1000, WARD_DIR_OUTBOUND, d->s_bytes, 990000);
        if (t + 1 == d->s_end)
            tcp_close(&f, t0 + 995000, WARD_DIR_OUTBOUND, 80000);
        break;
    }
    case SC_INTEL:
        if (t >= d->s_next) {
            if (d->s_port == 53) {
                fl_t f = flow(s, d, lsel, &d->s_remote, WARD_IPPROTO_UDP, eph(d), 53,
                              WARD_DIR_OUTBOUND);
                udp_xchg(&f, at(t, r), sim_range(r, 40, 120), sim_range(r, 80, 300), 50000);
            } else {
                fl_t f = flow(s, d, lsel, &d->s_remote, WARD_IPPROTO_TCP, eph(d), d->s_port,
                              WARD_DIR_OUTBOUND);
                uint64_t u = tcp_open(&f, at(t, r), 90000);
                pk(&f, u, WARD_DIR_OUTBOUND, F_ACK | F_PSH, sim_range(r, 150, 400), 1, 0, 0);
                pk(&f, u + 90000, WARD_DIR_INBOUND, F_ACK | F_PSH, sim_range(r, 60, 300), 1, 0,
                   0);
                tcp_close(&f, u + 200000, WARD_DIR_OUTBOUND, 90000);
            }
            d->s_next = t + d->s_rate;
        }
        break;
    default:
        break;
    }
}

void sim_device_second(sim_t *s, sim_device_t *d, uint32_t t)
{
    benign_second(s, d, t);
    if (d->scen != SC_NONE)
        scenario_second(s, d, t);
}
