/*
 * Device traffic for the benchmarks, fed through the real agent core's packet hook, so that the
 * reports they encode are what a device would send (bench_ingest.c, bench_wire.c).
 */
#include "bench_traffic.h"

#include <ftw.h>
#include <time.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t bench_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* One packet (headers only; the IP length says the size) through the agent's hook. */
static void packet(ward_agent_t *a, int dir, bool v6, const uint8_t *local, const uint8_t *remote,
                   uint8_t proto, unsigned lport, unsigned rport, unsigned payload, uint8_t tcpf,
                   uint64_t now_ms)
{
    uint8_t p[80];
    memset(p, 0, sizeof p);
    bool out = dir == WARD_DIR_OUTBOUND;
    size_t h = v6 ? 40 : 20, l4 = proto == WARD_IPPROTO_TCP ? 20 : 8;
    unsigned len = (unsigned)(h + l4) + payload;
    if (v6) {
        p[0] = 0x60;
        put16(p + 4, len - 40);
        p[6] = proto;
        p[7] = 64;
        memcpy(p + 8, out ? local : remote, 16);
        memcpy(p + 24, out ? remote : local, 16);
    } else {
        p[0] = 0x45;
        put16(p + 2, len);
        p[8] = 64;
        p[9] = proto;
        memcpy(p + 12, out ? local : remote, 4);
        memcpy(p + 16, out ? remote : local, 4);
    }
    put16(p + h, out ? lport : rport);
    put16(p + h + 2, out ? rport : lport);
    if (proto == WARD_IPPROTO_TCP) {
        p[h + 12] = 0x50;
        p[h + 13] = tcpf;
    } else {
        put16(p + h + 4, (unsigned)l4 + payload);
    }
    ward_agent_on_packet(a, dir, p, h + l4, now_ms);
}

/* A minute of a device's traffic (bench_traffic.h). */
void bench_minute(ward_agent_t *a, unsigned dev, unsigned k, unsigned n_other, uint64_t t_ms)
{
    uint8_t l4[16] = {10, (uint8_t)(20 + dev / 65536), (uint8_t)(dev / 256), (uint8_t)dev};
    uint8_t l6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x20};
    l6[12] = (uint8_t)(dev >> 24);
    l6[13] = (uint8_t)(dev >> 16);
    l6[14] = (uint8_t)(dev >> 8);
    l6[15] = (uint8_t)dev;
    uint8_t broker[16] = {192, 0, 2, 10}, dns[16] = {10, l4[1], l4[2], 1},
            ntp[16] = {192, 0, 2, 123};
    uint64_t s = (uint64_t)dev << 20 | k;
    int o = WARD_DIR_OUTBOUND, in = WARD_DIR_INBOUND;
    const uint8_t F_ACK = 0x10, F_PSH = 0x08, F_SYN = 0x02, F_FIN = 0x01;
    for (int i = 0; i < 2; i++) {
        packet(a, o, false, l4, broker, WARD_IPPROTO_TCP, 50000 + dev % 1000, 8883, 180,
               F_ACK | F_PSH, t_ms + 1000u * (unsigned)i);
        packet(a, in, false, l4, broker, WARD_IPPROTO_TCP, 50000 + dev % 1000, 8883, 33,
               F_ACK | F_PSH, t_ms + 1000u * (unsigned)i + 30);
    }
    unsigned eph = 40000 + (unsigned)(bench_rng_next(&s) % 20000);
    packet(a, o, false, l4, dns, WARD_IPPROTO_UDP, eph, 53, 40, 0, t_ms + 2000);
    packet(a, in, false, l4, dns, WARD_IPPROTO_UDP, eph, 53, 120, 0, t_ms + 2002);
    packet(a, o, false, l4, ntp, WARD_IPPROTO_UDP, eph + 1, 123, 48, 0, t_ms + 3000);
    packet(a, in, false, l4, ntp, WARD_IPPROTO_UDP, eph + 1, 123, 48, 0, t_ms + 3030);
    for (unsigned f = 0; f < n_other; f++) {
        uint64_t x = bench_rng_next(&s);
        /* A device talks to the same few servers over and over (new connections, new local
         * ports): four per device, one of them over IPv6. */
        unsigned srv = (unsigned)(x & 3);
        bool v6 = srv == 0;
        uint8_t r[16] = {198, (uint8_t)(18 + (dev & 1)), (uint8_t)(dev >> 1),
                         (uint8_t)(16 * srv + 1)};
        if (v6) {
            static const uint8_t r6[16] = {0x20, 0x01, 0x0d, 0xb8, 0xc1, 0xea};
            memcpy(r, r6, 16);
            r[13] = (uint8_t)(dev >> 8);
            r[14] = (uint8_t)dev;
            r[15] = 1;
        }
        uint8_t proto = (x >> 32) % 3 == 0 ? WARD_IPPROTO_UDP : WARD_IPPROTO_TCP;
        unsigned rport = proto == WARD_IPPROTO_UDP ? 5683 : ((x >> 40) & 1 ? 443 : 80);
        unsigned lport = 49152 + (unsigned)((x >> 44) % 16000);
        uint64_t t = t_ms + 4000 + f * 2000u;
        const uint8_t *l = v6 ? l6 : l4;
        if (proto == WARD_IPPROTO_TCP) {
            packet(a, o, v6, l, r, proto, lport, rport, 0, F_SYN, t);
            packet(a, in, v6, l, r, proto, lport, rport, 0, F_SYN | F_ACK, t + 20);
            packet(a, o, v6, l, r, proto, lport, rport, 300, F_ACK | F_PSH, t + 40);
            packet(a, in, v6, l, r, proto, lport, rport, 1200, F_ACK | F_PSH, t + 80);
            packet(a, o, v6, l, r, proto, lport, rport, 0, F_FIN | F_ACK, t + 100);
            packet(a, in, v6, l, r, proto, lport, rport, 0, F_FIN | F_ACK, t + 120);
        } else {
            packet(a, o, v6, l, r, proto, lport, rport, 60, 0, t);
            packet(a, in, v6, l, r, proto, lport, rport, 90, 0, t + 40);
        }
    }
}

void bench_agent_start(ward_agent_t *a, unsigned dev, char id[32], const ward_transport_t *tr,
                       uint64_t t0_ms)
{
    snprintf(id, 32, "dev-%06u", dev);
    ward_agent_config_t cfg;
    ward_agent_config_init(&cfg);
    cfg.device_id = id;
    cfg.boot_id = 0x5eed0000u + dev;
    cfg.report_interval_s = 60;
    cfg.time_base = WARD_TIME_BOOT;
    cfg.transport = tr;
    ward_agent_init(a, &cfg, t0_ms);
}

int32_t bench_capture_publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    (void)priority;
    bench_capture_t *c = ctx;
    if (!c->keep)
        return (int32_t)len;
    if (c->n == c->cap)
        return 0;
    bench_blob_t *b = &c->out[c->n];
    b->data = malloc(len);
    if (b->data == NULL)
        return 0;
    memcpy(b->data, buf, len);
    b->len = (uint32_t)len;
    c->n++;
    return (int32_t)len;
}

void bench_encode_report(ward_agent_t *a, unsigned dev, unsigned k, unsigned n_other,
                         bench_capture_t *cap, const ward_transport_t *tr)
{
    char id[32];
    uint8_t buf[WARD_REPORT_BUFFER_SIZE];
    uint64_t t0 = 10000;
    bench_agent_start(a, dev, id, tr, t0);
    for (unsigned j = 0; j <= k; j++) {
        cap->keep = j == k;
        size_t before = cap->n;
        bench_minute(a, dev, j, n_other, t0 + (uint64_t)j * 60000u);
        ward_agent_poll(a, t0 + (uint64_t)(j + 1) * 60000u, buf, sizeof buf);
        for (size_t i = before; i < cap->n; i++)
            snprintf(cap->out[i].topic, sizeof cap->out[i].topic, "ward/v1/%s/report", id);
    }
}

bool bench_write_feed(FILE *f, unsigned n)
{
    uint64_t seed = 42;
    for (unsigned i = 0; i < n; i++) {
        uint64_t x = bench_rng_next(&seed);
        int w = i % 10 == 0
                    ? fprintf(f, "11.%u.%u.0/24\n", (unsigned)(x & 255), (unsigned)((x >> 8) & 255))
                    : fprintf(f, "11.%u.%u.%u\n", (unsigned)(x & 255), (unsigned)((x >> 8) & 255),
                              (unsigned)((x >> 16) & 255));
        if (w < 0)
            return false;
    }
    return true;
}

bool bench_stream(ward_agent_t *a, size_t n, unsigned devices, bench_capture_t *cap)
{
    cap->out = calloc(n + 64, sizeof *cap->out);
    cap->n = 0;
    cap->cap = n + 64;
    cap->keep = false;
    if (cap->out == NULL)
        return false;
    ward_transport_t tr = {bench_capture_publish, cap};
    size_t rounds = (n + devices - 1) / devices;
    /* Device d's report k is encoded by replaying minutes 0..k: rounds is small (20). */
    for (size_t k = 0; k < rounds && cap->n < n; k++)
        for (unsigned d = 0; d < devices && cap->n < n; d++)
            bench_encode_report(a, d, (unsigned)k, 17, cap, &tr);
    return true;
}

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void bench_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
