/*
 * bench-intel: ward's match index (service/intel/index.c) beside DPDK's rte_lpm and rte_lpm6, on
 * the same prefixes and the same lookup streams, plus the cost of publishing a reload through the
 * live holder (live.c) while a reader keeps looking up. Prints figures; asserts nothing.
 *
 *   build/bin/bench-intel [--n N] [--lookups L] [--seed S] [--lpm6-mb MB] [--dpdk-budget-s S]
 *                         [--family ipv4|ipv6|both] [--no-dpdk]
 *
 * Defaults: N = 1,000,000 per family, L = 10,000,000 lookups per figure, rte_lpm6 gets 2048 MiB
 * of tbl8 groups, rte_lpm gets 25 s to insert. About a minute and 2.5 GB at the defaults.
 *
 * Data (seeded, so every run and both implementations see the same):
 *  - IPv4: N distinct prefixes, 90% single addresses spread over the whole space, 10% CIDRs from
 *    /8 to /31 with few short ones and many long ones (v4_len_permille: together they cover a few
 *    per cent of the space, like a large blocklist, so that random traffic mostly misses).
 *  - IPv6: N distinct prefixes inside 16384 random /32 "allocations" of 2000::/3, 90% /128
 *    addresses and 10% ranges from /32 to /64.
 *  - Lookup streams per hit rate (0.1% and 10%): a hit is a random address inside a random
 *    indicator's prefix; a miss is a random address that matches nothing (IPv4: anywhere; IPv6:
 *    half anywhere in 2000::/3, half inside an allocation). Both implementations run the same
 *    stream, one lookup per call; the batch calls (ward_intel_index_lookup_many, rte_lpm's
 *    lookup_bulk) are printed as extra fields. Their answers are compared (mismatches=, expected
 *    0: the next hop DPDK stores is the indicator id ward returns).
 *
 * How much DPDK gets: rte_lpm's add is quadratic on this data (each add scans the rules of its
 * depth for a duplicate, and each new tbl8 group is found by scanning the groups from the first;
 * 900k /32s need about 900k groups), so it inserts prefixes in order until --dpdk-budget-s is
 * spent. rte_lpm6 needs up to 13 tbl8 groups (1 KiB each) per /128 that shares nothing with other
 * prefixes, so it inserts until its --lpm6-mb of groups is full. When DPDK holds fewer than N,
 * the comparison lines run both on the first prefixes= that DPDK holds (dpdk_full=no,
 * dpdk_limit=time|memory), and further lines (dpdk=not_run) give ward alone on all N.
 *
 * Memory: ward_bytes_per_indicator is the index alone (ward_intel_index_memory_bytes / N);
 * ward_bytes_with_indicators adds the ward_indicator_t array the ids point into
 * (sizeof on the first line), which DPDK has no equivalent of. dpdk_bytes_per_indicator is what the
 * table took from DPDK's heap (for rte_lpm, only the tbl8 groups its prefixes need), divided by its
 * prefixes.
 *
 * The reload lines: a reader thread looks up continuously (one read-side section per lookup) and
 * records its slowest single lookup, first for half a second of quiet, then while the main thread
 * builds a second N-indicator index and publishes it (exchange + grace period + free of the old
 * one). On a shared machine the worst case of both is a scheduler preemption; compare the two.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_malloc.h>

#include "index.h"
#include "live.h"

/* ------------------------------------------------------------------------------------------ */

static uint64_t rng_s;
static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void ip_v4(ward_ip_t *a, uint32_t v)
{
    memset(a, 0, sizeof *a);
    a->b[10] = a->b[11] = 0xff;
    put_be32(&a->b[12], v);
}

/* Clears the bits of a from position len (0-based, of 128) on. */
static void mask_from(ward_ip_t *a, unsigned len)
{
    for (unsigned bit = len; bit < 128; bit++)
        a->b[bit / 8] &= (uint8_t) ~(1u << (7 - bit % 8));
}

/* Sets the bits of a from position len on to random values. */
static void randomize_from(ward_ip_t *a, unsigned len)
{
    for (unsigned bit = len; bit < 128; bit++) {
        unsigned byte = bit / 8, sh = 7 - bit % 8;
        a->b[byte] = (uint8_t)((a->b[byte] & ~(1u << sh)) | ((rnd() & 1) << sh));
    }
}

/* A set of (address, prefix) for de-duplication: open addressing on a hash of the 17 bytes. */
typedef struct pset {
    uint32_t *slot; /* index + 1, 0 = empty */
    size_t mask;
    const ward_indicator_t *v;
} pset_t;

static uint64_t phash(const ward_indicator_t *i)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int k = 0; k < 16; k++)
        h = (h ^ i->addr.b[k]) * 0x100000001b3ULL;
    h = (h ^ i->prefix) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

/* Inserts v[id]; false when an equal prefix is there already. */
static bool pset_add(pset_t *s, uint32_t id)
{
    const ward_indicator_t *x = &s->v[id];
    for (size_t p = phash(x) & s->mask;; p = (p + 1) & s->mask) {
        uint32_t o = s->slot[p];
        if (o == 0) {
            s->slot[p] = id + 1;
            return true;
        }
        const ward_indicator_t *y = &s->v[o - 1];
        if (y->prefix == x->prefix && memcmp(y->addr.b, x->addr.b, 16) == 0)
            return false;
    }
}

/* IPv4 range lengths /8../31, in per-mille of the ranges (the rest of 1000 goes to /24). */
static const unsigned v4_len_permille[32] = {
    [8] = 0,  [9] = 0,   [10] = 0,  [11] = 0,   [12] = 0,   [13] = 1,   [14] = 1,   [15] = 1,
    [16] = 2, [17] = 2,  [18] = 4,  [19] = 8,   [20] = 15,  [21] = 20,  [22] = 40,  [23] = 50,
    [24] = 0, [25] = 60, [26] = 80, [27] = 100, [28] = 100, [29] = 100, [30] = 100, [31] = 98,
};

static unsigned pick_v4_len(void)
{
    /* A handful of very short ranges at all, then the table. */
    uint64_t r = rnd() % 100000;
    if (r < 2)
        return 8 + (unsigned)(rnd() % 5); /* /8../12: about 2 per 100k ranges */
    unsigned p = (unsigned)(rnd() % 1000), acc = 0;
    for (unsigned l = 13; l <= 31; l++) {
        acc += v4_len_permille[l];
        if (p < acc)
            return l;
    }
    return 24;
}

#define V6_ALLOCS 16384u

static ward_ip_t v6_alloc[V6_ALLOCS];

static void make_v6_allocs(void)
{
    for (unsigned i = 0; i < V6_ALLOCS; i++) {
        memset(&v6_alloc[i], 0, sizeof v6_alloc[i]);
        uint32_t top = 0x20000000u | (uint32_t)(rnd() & 0x1fffffffu); /* 2000::/3 */
        put_be32(v6_alloc[i].b, top);
    }
}

static ward_indicator_t *gen_prefixes(bool v6, size_t n)
{
    ward_indicator_t *v = calloc(n, sizeof *v);
    pset_t s = {0};
    size_t cap = 1;
    while (cap < n * 2)
        cap <<= 1;
    s.slot = calloc(cap, sizeof *s.slot);
    s.mask = cap - 1;
    s.v = v;
    if (v == NULL || s.slot == NULL) {
        fprintf(stderr, "bench-intel: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n;) {
        ward_indicator_t *x = &v[i];
        memset(x, 0, sizeof *x);
        x->confidence = 50;
        bool exact = rnd() % 10 != 0;
        if (!v6) {
            unsigned len = exact ? 32 : pick_v4_len();
            ip_v4(&x->addr, (uint32_t)rnd());
            x->prefix = (uint8_t)(96 + len);
            x->is_v4 = true;
        } else {
            unsigned len = exact ? 128 : 32 + (unsigned)(rnd() % 33);
            x->addr = v6_alloc[rnd() % V6_ALLOCS];
            randomize_from(&x->addr, 32);
            x->prefix = (uint8_t)len;
        }
        mask_from(&x->addr, x->prefix);
        if (pset_add(&s, (uint32_t)i))
            i++;
    }
    free(s.slot);
    return v;
}

/* A lookup stream: n addresses, hits with probability hit_rate. */
static ward_ip_t *gen_stream(const ward_indicator_t *v, size_t nv, bool v6, size_t n,
                             double hit_rate, const ward_intel_index_t *idx)
{
    ward_ip_t *s = malloc(n * sizeof *s);
    if (s == NULL) {
        fprintf(stderr, "bench-intel: out of memory\n");
        exit(1);
    }
    uint64_t thr = (uint64_t)(hit_rate * 1e9);
    for (size_t i = 0; i < n; i++) {
        if (rnd() % 1000000000u < thr) {
            const ward_indicator_t *x = &v[rnd() % nv];
            s[i] = x->addr;
            randomize_from(&s[i], x->prefix);
            continue;
        }
        do {
            if (!v6) {
                ip_v4(&s[i], (uint32_t)rnd());
            } else if (rnd() % 2) {
                memset(&s[i], 0, sizeof s[i]);
                put_be32(s[i].b, 0x20000000u | (uint32_t)(rnd() & 0x1fffffffu));
                randomize_from(&s[i], 32);
            } else {
                s[i] = v6_alloc[rnd() % V6_ALLOCS];
                randomize_from(&s[i], 32);
            }
        } while (ward_intel_index_lookup(idx, &s[i], 0) != WARD_INTEL_NONE);
    }
    return s;
}

/* ------------------------------------------------------------------------------------------ */

static size_t opt_n = 1000000, opt_lookups = 10000000, opt_lpm6_mb = 2048;
static double opt_budget_s = 25;
static const char *opt_family = "both";
static uint64_t opt_seed = 42;
static bool opt_dpdk = true;
static const double hit_rates[2] = {0.001, 0.10};
#define STREAM 2000000u /* addresses per stream; repeated until opt_lookups */

static volatile uint64_t sink; /* results land here so no loop is optimised away */

static double ward_rate(const ward_intel_index_t *idx, const ward_ip_t *s, size_t ns)
{
    uint64_t acc = 0;
    size_t done = 0;
    double t0 = now_s();
    while (done < opt_lookups) {
        for (size_t i = 0; i < ns; i++)
            acc += ward_intel_index_lookup(idx, &s[i], 0);
        done += ns;
    }
    double t = now_s() - t0;
    sink += acc;
    return (double)done / t;
}

static double ward_many_rate(const ward_intel_index_t *idx, const ward_ip_t *s, size_t ns)
{
    uint32_t ids[64];
    uint64_t acc = 0;
    size_t done = 0;
    double t0 = now_s();
    while (done < opt_lookups) {
        for (size_t i = 0; i + 64 <= ns; i += 64) {
            ward_intel_index_lookup_many(idx, &s[i], 64, 0, ids);
            acc += ids[0] + ids[63];
        }
        done += ns / 64 * 64;
    }
    double t = now_s() - t0;
    sink += acc;
    return (double)done / t;
}

static double dpdk4_rate(const struct rte_lpm *lpm, const uint32_t *s, size_t ns)
{
    uint64_t acc = 0;
    size_t done = 0;
    double t0 = now_s();
    while (done < opt_lookups) {
        for (size_t i = 0; i < ns; i++) {
            uint32_t nh;
            acc += rte_lpm_lookup(lpm, s[i], &nh) == 0 ? nh : WARD_INTEL_NONE;
        }
        done += ns;
    }
    double t = now_s() - t0;
    sink += acc;
    return (double)done / t;
}

static double dpdk4_bulk_rate(const struct rte_lpm *lpm, const uint32_t *s, size_t ns)
{
    uint32_t hops[64];
    uint64_t acc = 0;
    size_t done = 0;
    double t0 = now_s();
    while (done < opt_lookups) {
        for (size_t i = 0; i + 64 <= ns; i += 64) {
            rte_lpm_lookup_bulk(lpm, &s[i], hops, 64);
            acc += hops[0];
        }
        done += ns / 64 * 64;
    }
    double t = now_s() - t0;
    sink += acc;
    return (double)done / t;
}

static double dpdk6_rate(const struct rte_lpm6 *lpm, const ward_ip_t *s, size_t ns)
{
    uint64_t acc = 0;
    size_t done = 0;
    double t0 = now_s();
    while (done < opt_lookups) {
        for (size_t i = 0; i < ns; i++) {
            uint32_t nh;
            acc += rte_lpm6_lookup(lpm, s[i].b, &nh) == 0 ? nh : WARD_INTEL_NONE;
        }
        done += ns;
    }
    double t = now_s() - t0;
    sink += acc;
    return (double)done / t;
}

static size_t dpdk_heap_used(void)
{
    struct rte_malloc_socket_stats st;
    size_t used = 0;
    for (int sock = 0; sock < RTE_MAX_NUMA_NODES; sock++)
        if (rte_malloc_get_socket_stats(sock, &st) == 0)
            used += st.heap_allocsz_bytes;
    return used;
}

/* ------------------------------------------------------------------------------------------ */
/* Reload under load */

typedef struct reader {
    ward_intel_live_t *live;
    const ward_ip_t *s;
    size_t ns;
    atomic_bool stop;
    atomic_int phase; /* 0 quiet, 1 reload; the reader keeps one maximum per phase */
    double worst[2];
    uint64_t count[2];
    uint64_t over10us[2];
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    ward_intel_live_reader_register();
    uint64_t acc = 0;
    size_t i = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        int ph = atomic_load_explicit(&r->phase, memory_order_relaxed);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        ward_intel_live_read_lock();
        acc += ward_intel_index_lookup(ward_intel_live_get(r->live), &r->s[i], 0);
        ward_intel_live_read_unlock();
        clock_gettime(CLOCK_MONOTONIC, &b);
        double us = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
        if (us > r->worst[ph])
            r->worst[ph] = us;
        r->over10us[ph] += us > 10.0;
        r->count[ph]++;
        if (++i == r->ns)
            i = 0;
    }
    ward_intel_live_reader_unregister();
    return (void *)(uintptr_t)(acc & 1);
}

static void reload(const char *family, const ward_indicator_t *v, size_t n, const ward_ip_t *s,
                   size_t ns)
{
    ward_intel_live_t *live = ward_intel_live_create();
    ward_intel_live_publish(live, ward_intel_index_build(v, n, 0));
    reader_t r = {.live = live, .s = s, .ns = ns};
    atomic_init(&r.stop, false);
    atomic_init(&r.phase, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, reader_main, &r) != 0) {
        fprintf(stderr, "bench-intel: no reader thread\n");
        ward_intel_live_destroy(live);
        return;
    }
    struct timespec quiet = {0, 500 * 1000 * 1000};
    nanosleep(&quiet, NULL);
    atomic_store(&r.phase, 1);
    double t0 = now_s();
    ward_intel_index_t *next = ward_intel_index_build(v, n, 0);
    double t1 = now_s();
    ward_intel_live_publish(live, next);
    double t2 = now_s();
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    printf("intel reload family=%s indicators=%zu build_s=%.3f publish_s=%.6f reload_s=%.3f "
           "worst_lookup_us=%.1f lookups_during=%" PRIu64 " over_10us_during=%" PRIu64
           " worst_lookup_us_quiet=%.1f lookups_quiet=%" PRIu64 " over_10us_quiet=%" PRIu64 "\n",
           family, n, t1 - t0, t2 - t1, t2 - t0, r.worst[1], r.count[1], r.over10us[1], r.worst[0],
           r.count[0], r.over10us[0]);
    fflush(stdout);
    ward_intel_live_destroy(live);
}

/* ------------------------------------------------------------------------------------------ */

static void print_line(const char *fam, double hr, size_t n, double wr, double dr, double wbytes,
                       double wbuild, double dbuild, double dbytes, size_t mism, const char *extra)
{
    printf("intel %s ward_lookups_per_s=%.0f dpdk_lookups_per_s=%.0f ward_bytes_per_indicator=%.2f "
           "ward_build_s=%.3f dpdk_build_s=%.3f hit_rate=%g prefixes=%zu "
           "ward_bytes_with_indicators=%.2f dpdk_bytes_per_indicator=%.2f mismatches=%zu%s\n",
           fam, wr, dr, wbytes, wbuild, dbuild, hr, n, wbytes + (double)sizeof(ward_indicator_t),
           dbytes, mism, extra);
    fflush(stdout);
}

static size_t count_mismatch(const ward_intel_index_t *idx, const ward_ip_t *s, size_t ns,
                             const struct rte_lpm *l4, const struct rte_lpm6 *l6)
{
    size_t bad = 0;
    for (size_t i = 0; i < ns; i++) {
        uint32_t w = ward_intel_index_lookup(idx, &s[i], 0), nh = 0, d;
        if (l4)
            d = rte_lpm_lookup(l4, get_be32(&s[i].b[12]), &nh) == 0 ? nh : WARD_INTEL_NONE;
        else
            d = rte_lpm6_lookup(l6, s[i].b, &nh) == 0 ? nh : WARD_INTEL_NONE;
        bad += w != d;
    }
    return bad;
}

/* rte_lpm tbl8 groups the first m IPv4 prefixes need: one per /24 holding a /25../32. */
static size_t v4_groups(const ward_indicator_t *v, size_t m)
{
    uint8_t *seen = calloc((size_t)1 << 24, 1);
    size_t groups = 0;
    if (seen == NULL)
        exit(1);
    for (size_t i = 0; i < m; i++) {
        if (v[i].prefix <= 96 + 24)
            continue;
        uint32_t s24 = get_be32(&v[i].addr.b[12]) >> 8;
        if (!seen[s24]++)
            groups++;
    }
    free(seen);
    return groups;
}

typedef struct dpdk_tables {
    struct rte_lpm *l4;
    struct rte_lpm6 *l6;
    size_t m; /* prefixes it took: all, or fewer when out of memory or time */
    double build_s;
    double bytes;    /* per prefix it took */
    const char *why; /* why fewer: "memory" or "time" */
} dpdk_tables_t;

/*
 * Builds the DPDK table on v[0..n), in order, until it is full (rte_lpm6: --lpm6-mb of tbl8
 * groups) or the time budget is spent. rte_lpm's add is quadratic on this data: each add scans
 * the rules of its depth for a duplicate, and each new tbl8 group is found by a linear scan of
 * the groups from the first, so 900k /32 addresses would take hours; it gets --dpdk-budget-s.
 */
static dpdk_tables_t dpdk_build(bool v6, const ward_indicator_t *v, size_t n)
{
    dpdk_tables_t t = {0};
    size_t before = dpdk_heap_used(), unused = 0;
    double t0 = now_s();
    if (!v6) {
        size_t groups = v4_groups(v, n);
        struct rte_lpm_config cfg = {
            .max_rules = (uint32_t)n,
            .number_tbl8s = (uint32_t)(groups + 256),
            .flags = 0,
        };
        t.l4 = rte_lpm_create("ward_bench_v4", SOCKET_ID_ANY, &cfg);
        if (t.l4 == NULL) {
            fprintf(stderr, "bench-intel: rte_lpm_create: %s\n", rte_strerror(rte_errno));
            exit(1);
        }
        unused = cfg.number_tbl8s;
    } else {
        struct rte_lpm6_config cfg = {
            .max_rules = (uint32_t)n,
            .number_tbl8s = (uint32_t)(opt_lpm6_mb * 1024 * 1024 / (256 * 4 + 8)),
            .flags = 0,
        };
        t.l6 = rte_lpm6_create("ward_bench_v6", SOCKET_ID_ANY, &cfg);
        if (t.l6 == NULL) {
            fprintf(stderr, "bench-intel: rte_lpm6_create: %s\n", rte_strerror(rte_errno));
            exit(1);
        }
    }
    for (t.m = 0; t.m < n; t.m++) {
        int rc;
        if (!v6)
            rc = rte_lpm_add(t.l4, get_be32(&v[t.m].addr.b[12]), (uint8_t)(v[t.m].prefix - 96),
                             (uint32_t)t.m);
        else
            rc = rte_lpm6_add(t.l6, v[t.m].addr.b, v[t.m].prefix, (uint32_t)t.m);
        if (rc == -ENOSPC) {
            t.why = "memory";
            break;
        }
        if (rc != 0) {
            fprintf(stderr, "bench-intel: rte_lpm%s_add #%zu: %d\n", v6 ? "6" : "", t.m, rc);
            exit(1);
        }
        if ((t.m & 255) == 255 && now_s() - t0 > opt_budget_s) {
            t.m++;
            t.why = "time";
            break;
        }
    }
    t.build_s = now_s() - t0;
    size_t used = dpdk_heap_used() - before;
    if (!v6) /* count only the tbl8 groups the prefixes it took need */
        used -= (unused - v4_groups(v, t.m)) * 256 * 4;
    t.bytes = (double)used / (double)(t.m ? t.m : 1);
    return t;
}

static void bench_family(bool v6)
{
    const char *fam = v6 ? "ipv6" : "ipv4";
    size_t n = opt_n;
    if (v6)
        make_v6_allocs();
    ward_indicator_t *v = gen_prefixes(v6, n);
    double t0 = now_s();
    ward_intel_index_t *full = ward_intel_index_build(v, n, 0);
    double wbuild_full = now_s() - t0;
    if (full == NULL) {
        fprintf(stderr, "bench-intel: ward build failed\n");
        exit(1);
    }

    dpdk_tables_t d = {.m = n};
    if (opt_dpdk)
        d = dpdk_build(v6, v, n);
    size_t m = d.m;
    t0 = now_s();
    ward_intel_index_t *idx = m == n ? full : ward_intel_index_build(v, m, 0);
    double wbuild = m == n ? wbuild_full : now_s() - t0;
    double wbytes = (double)ward_intel_index_memory_bytes(idx) / (double)m;

    for (int h = 0; h < 2; h++) {
        /* One stream for both, drawn from the prefixes both hold. */
        ward_ip_t *s = gen_stream(v, m, v6, STREAM, hit_rates[h], idx);
        double wr = ward_rate(idx, s, STREAM), dr = 0;
        size_t mism = 0;
        char extra[200];
        snprintf(extra, sizeof extra, " ward_batch_lookups_per_s=%.0f",
                 ward_many_rate(idx, s, STREAM));
        if (d.l4) {
            uint32_t *s4 = malloc(STREAM * sizeof *s4);
            if (s4 == NULL)
                exit(1);
            for (size_t i = 0; i < STREAM; i++)
                s4[i] = get_be32(&s[i].b[12]);
            dr = dpdk4_rate(d.l4, s4, STREAM);
            size_t len = strlen(extra);
            snprintf(extra + len, sizeof extra - len, " dpdk_bulk_lookups_per_s=%.0f",
                     dpdk4_bulk_rate(d.l4, s4, STREAM));
            free(s4);
            mism = count_mismatch(idx, s, STREAM, d.l4, NULL);
        } else if (d.l6) {
            dr = dpdk6_rate(d.l6, s, STREAM);
            mism = count_mismatch(idx, s, STREAM, NULL, d.l6);
        }
        if (m < n) {
            size_t len = strlen(extra);
            snprintf(extra + len, sizeof extra - len, " dpdk_full=no dpdk_limit=%s", d.why);
        }
        print_line(fam, hit_rates[h], m, wr, dr, wbytes, wbuild, d.build_s, d.bytes, mism, extra);
        free(s);
    }
    if (d.l4)
        rte_lpm_free(d.l4);
    if (d.l6)
        rte_lpm6_free(d.l6);
    if (idx != full)
        ward_intel_index_free(idx);

    /* ward alone on the full set when DPDK could not take it; the reload uses the 10% stream. */
    ward_ip_t *s1 = NULL;
    double fbytes = (double)ward_intel_index_memory_bytes(full) / (double)n;
    for (int h = 0; h < 2; h++) {
        if (m == n && h == 0)
            continue;
        ward_ip_t *s = gen_stream(v, n, v6, STREAM, hit_rates[h], full);
        if (m < n)
            print_line(fam, hit_rates[h], n, ward_rate(full, s, STREAM), 0, fbytes, wbuild_full, 0,
                       0, 0, " dpdk=not_run");
        if (h == 1)
            s1 = s;
        else
            free(s);
    }
    reload(fam, v, n, s1, STREAM);
    free(s1);
    ward_intel_index_free(full);
    free(v);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            opt_n = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--lookups") == 0 && i + 1 < argc)
            opt_lookups = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            opt_seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--lpm6-mb") == 0 && i + 1 < argc)
            opt_lpm6_mb = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dpdk-budget-s") == 0 && i + 1 < argc)
            opt_budget_s = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--family") == 0 && i + 1 < argc)
            opt_family = argv[++i];
        else if (strcmp(argv[i], "--no-dpdk") == 0)
            opt_dpdk = false;
        else {
            fprintf(stderr,
                    "usage: %s [--n N] [--lookups L] [--seed S] [--lpm6-mb MB] "
                    "[--dpdk-budget-s S] [--family ipv4|ipv6|both] [--no-dpdk]\n",
                    argv[0]);
            return 2;
        }
    }
    if (opt_n < 10 || opt_n > 16000000) {
        fprintf(stderr, "bench-intel: --n must be 10..16000000 (rte_lpm next hops are 24 bits)\n");
        return 2;
    }

    if (opt_dpdk) {
        /* Enough DPDK heap for rte_lpm (64 MiB + 1 KiB per tbl8 group, about one per IPv4
         * address) or rte_lpm6 (--lpm6-mb); they are never alive together. Pages are touched
         * only as used. */
        char mem[32];
        size_t need = opt_n / 1000 + 512;
        if (need < opt_lpm6_mb + 512)
            need = opt_lpm6_mb + 512;
        snprintf(mem, sizeof mem, "%zu", need);
        char *eal[] = {argv[0],       "--no-huge",      "--no-pci",           "-l", "0", "-m", mem,
                       "--no-shconf", "--no-telemetry", "--log-level=*:error"};
        int en = (int)(sizeof eal / sizeof eal[0]);
        if (rte_eal_init(en, eal) < 0) {
            fprintf(stderr, "bench-intel: rte_eal_init failed (%s); run with --no-dpdk\n",
                    rte_strerror(rte_errno));
            return 1;
        }
        /* EAL pinned this thread to CPU 0 (-l 0); the reload reader must be free to run
         * beside the builder, as in wardd, so undo that. */
        cpu_set_t all;
        CPU_ZERO(&all);
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        for (long c = 0; c < ncpu && c < CPU_SETSIZE; c++)
            CPU_SET((int)c, &all);
        pthread_setaffinity_np(pthread_self(), sizeof all, &all);
    }

    printf("# bench-intel n=%zu lookups=%zu seed=%" PRIu64 " sizeof(ward_indicator_t)=%zu\n", opt_n,
           opt_lookups, opt_seed, sizeof(ward_indicator_t));
    fflush(stdout);
    rng_s = opt_seed;
    if (strcmp(opt_family, "ipv6") != 0)
        bench_family(false);
    rng_s = opt_seed + 1;
    if (strcmp(opt_family, "ipv4") != 0)
        bench_family(true);
    if (opt_dpdk)
        rte_eal_cleanup();
    return 0;
}
