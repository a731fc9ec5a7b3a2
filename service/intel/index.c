/*
 * The match index (index.h): what it owns, who touches it, and how a lookup runs.
 *
 * Owns: every array below, allocated by ward_intel_index_build and never written after it returns.
 * Threads: the builder thread, then readers only (lookups write nothing, so any number of threads
 * may share one index). Lifetime across reloads is the live holder's business (live.c).
 *
 * Layout. The indicators are split four ways, because each kind is best served by a different
 * structure and because real feeds are mostly single addresses:
 *
 *  1. IPv4 exact addresses (/32): bucketed by their top 16 bits. v4top[h].x..v4top[h+1].x is the
 *     run of bucket h in v4xkey (the low 16 bits, sorted) and v4xref (what is on the address):
 *     6 bytes per address.
 *  2. IPv4 ranges (/0 to /31): "leaf pushed" into disjoint intervals. The ranges cut the 32-bit
 *     space into intervals on which the longest matching range does not change; v4b holds the
 *     start of each interval and the range that covers it (or none), sorted, and v4top[h].r is the
 *     first interval starting in /16 h. A lookup is a predecessor search among the few starts of
 *     one /16. At most 2 intervals per range.
 *  3. IPv6 exact addresses (/128): a hash-sorted table. Entries sorted by a seeded 64-bit hash;
 *     v6xdir indexes them by the hash's top bits, each entry keeps 32 other hash bits as a
 *     fingerprint and the indicator reference. The address itself is read from the indicator array
 *     only when a fingerprint matches (a hit, or one in 2^32 misses), so an entry is 8 bytes.
 *  4. IPv6 ranges (/0 to /127): intervals as in 2, with 128-bit starts, located through a
 *     directory on the top 16 bits and a binary search.
 *
 * Prefilters, because nearly every lookup is a miss: v4top[h].any has one bit per /22 of the /16,
 * set when the /22 holds an exact address or meets a range, so most IPv4 misses end after reading
 * one 16-byte directory entry (the directory is 1 MiB, and stays in cache). v6any is a bitmap over
 * the top 13 to 24 bits of IPv6 addresses (about 16 bits per IPv6 indicator, at most 2 MiB) with
 * the same meaning, so traffic to IPv6 space with no indicator anywhere near ends there too.
 *
 * A "ref" is what sits on one distinct prefix: an indicator id, or (top bit set) a group of ids
 * when several indicators share the prefix, in gids[goff[g]..goff[g+1]), ordered by confidence
 * (highest first) then id. Each distinct range also keeps its parent: the next shorter range that
 * covers it. The longest match of an address is its exact entry if any, else the range found in 2
 * or 4; every match is that, then the parent chain of the range.
 *
 * Building is sorting: a counting sort by confidence, stable radix sorts of the exact addresses
 * (by address for IPv4, by hash for IPv6), a qsort of the ranges, and one sweep over the sorted
 * ranges with a stack of open ones that emits the intervals and the parents. O(n log n) at worst,
 * well under a second for a million indicators; the build never touches the live index.
 *
 * Sizes for the bench's data (1M indicators, 90% addresses): about 9 bytes per IPv4 indicator and
 * 17 per IPv6 one, the indicator array not counted. docs/intel-index.md has measured figures.
 */
#include "index.h"
#include "../grow.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GRP 0x80000000u    /* ref flag: a group of ids, not one id */
#define V4_BUCKETS 65536u  /* IPv4 directory: top 16 bits */
#define V6R_BUCKETS 65536u /* IPv6 range directory: top 16 bits */
#define LINEAR_MAX 32u     /* up to this many keys a branch-free count beats a binary search */

typedef struct v4top {
    uint64_t any; /* bit s: /22 slot s of this /16 holds an exact address or meets a range */
    uint32_t x;   /* first exact address of this /16 in v4xkey/v4xref */
    uint32_t r;   /* first interval starting in this /16, in v4b */
} v4top_t;

typedef struct v4b {
    uint32_t key; /* interval start */
    uint32_t val; /* range index in rng, or WARD_INTEL_NONE */
} v4b_t;

typedef struct v6x {
    uint32_t fp; /* low 32 bits of the hash */
    uint32_t ref;
} v6x_t;

typedef struct rng {
    uint32_t parent; /* range index of the next shorter covering range, or WARD_INTEL_NONE */
    uint32_t ref;
} rng_t;

struct ward_intel_index {
    const ward_indicator_t *ind;
    size_t n;
    int64_t min_expires; /* earliest expiry in the index; INT64_MAX when none expires */

    v4top_t *v4top; /* V4_BUCKETS + 1 */
    uint16_t *v4xkey;
    uint32_t *v4xref;
    v4b_t *v4b;

    uint64_t seed;
    unsigned v6xshift; /* bucket = hash >> v6xshift */
    uint32_t *v6xdir;  /* (1 << (64 - v6xshift)) + 1 */
    v6x_t *v6x;

    uint64_t *v6any;     /* bit p: the IPv6 addresses whose top v6anybits bits are p may match */
    unsigned v6anyshift; /* 64 - v6anybits */
    uint32_t *v6rdir;    /* V6R_BUCKETS + 1 */
    uint64_t *v6bhi;
    uint64_t *v6blo;
    uint32_t *v6bval;

    rng_t *rng;
    uint32_t *goff;
    uint32_t *gids;

    void (*release)(void *);
    void *release_arg;
    ward_intel_index_stats_t stats;
};

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 */

typedef struct u128 {
    uint64_t hi, lo;
} u128_t;

static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#elif !defined(__BYTE_ORDER__)
    v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
#endif
    return v;
}

static inline bool is_v4_space(uint64_t hi, uint64_t lo)
{
    return hi == 0 && (lo >> 32) == 0xffffu;
}

static inline bool u128_lt(u128_t a, u128_t b)
{
    return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

static inline bool u128_eq(u128_t a, u128_t b)
{
    return a.hi == b.hi && a.lo == b.lo;
}

static inline u128_t u128_inc(u128_t a)
{
    a.lo++;
    if (a.lo == 0)
        a.hi++;
    return a;
}

/* Host-bit mask of a prefix of len bits within a width-bit space (width 32 or 128). */
static u128_t host_mask(unsigned len, unsigned width)
{
    u128_t m = {0, 0};
    unsigned host = width - len;
    if (host >= 128) {
        m.hi = m.lo = UINT64_MAX;
    } else if (host >= 64) {
        m.lo = UINT64_MAX;
        m.hi = host == 64 ? 0 : (UINT64_MAX >> (128 - host));
    } else if (host > 0) {
        m.lo = UINT64_MAX >> (64 - host);
    }
    return m;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

static inline uint64_t hash128(uint64_t hi, uint64_t lo, uint64_t seed)
{
    return mix64(mix64(hi ^ seed) ^ lo);
}

static inline bool is_expired(const ward_indicator_t *in, int64_t now)
{
    return in->expires != 0 && in->expires <= now;
}

/* The best live indicator of a ref, or WARD_INTEL_NONE when all have expired. */
static inline uint32_t ref_best(const ward_intel_index_t *idx, uint32_t ref, int64_t now)
{
    bool check = now >= idx->min_expires;
    if (!(ref & GRP))
        return (check && is_expired(&idx->ind[ref], now)) ? WARD_INTEL_NONE : ref;
    uint32_t g = ref & ~GRP;
    for (uint32_t i = idx->goff[g]; i < idx->goff[g + 1]; i++) {
        uint32_t id = idx->gids[i];
        if (!check || !is_expired(&idx->ind[id], now))
            return id;
    }
    return WARD_INTEL_NONE;
}

/* Appends the live ids of a ref to out (up to max), returns how many are live. */
static size_t ref_all(const ward_intel_index_t *idx, uint32_t ref, int64_t now, uint32_t *out,
                      size_t have, size_t max)
{
    bool check = now >= idx->min_expires;
    uint32_t one = ref, *list = &one;
    uint32_t cnt = 1;
    if (ref & GRP) {
        uint32_t g = ref & ~GRP;
        list = &idx->gids[idx->goff[g]];
        cnt = idx->goff[g + 1] - idx->goff[g];
    }
    size_t live = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        if (check && is_expired(&idx->ind[list[i]], now))
            continue;
        if (have + live < max)
            out[have + live] = list[i];
        live++;
    }
    return live;
}

/* ---------------------------------------------------------------------------------------------
 * Lookup
 */

/* Position of key among a[lo..hi) (sorted), or UINT32_MAX. Buckets are short (a /16's share of
 * the addresses), so after narrowing a long one the last step counts the smaller keys without
 * branches, which the compiler vectorises and the branch predictor cannot get wrong. */
static inline uint32_t find_u16(const uint16_t *a, uint32_t lo, uint32_t hi, uint16_t key)
{
    uint32_t end = hi;
    while (hi - lo > LINEAR_MAX) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t cnt = 0;
    for (uint32_t j = lo; j < hi; j++)
        cnt += a[j] < key;
    lo += cnt;
    return (lo < end && a[lo] == key) ? lo : UINT32_MAX;
}

/* False when nothing can match k: its /22 holds no exact address and meets no range. Most misses
 * end here, having read one directory entry. */
static inline bool v4_maybe(const ward_intel_index_t *idx, uint32_t k)
{
    return (idx->v4top[k >> 16].any >> ((k >> 10) & 63)) & 1;
}

/* The IPv4 exact entry's ref for k, or WARD_INTEL_NONE. */
static inline uint32_t v4_exact(const ward_intel_index_t *idx, uint32_t k)
{
    const v4top_t *t = &idx->v4top[k >> 16];
    if (t[0].x == t[1].x)
        return WARD_INTEL_NONE;
    uint32_t j = find_u16(idx->v4xkey, t[0].x, t[1].x, (uint16_t)k);
    return j == UINT32_MAX ? WARD_INTEL_NONE : idx->v4xref[j];
}

/* The longest IPv4 range covering k (range index), or WARD_INTEL_NONE. */
static inline uint32_t v4_range(const ward_intel_index_t *idx, uint32_t k)
{
    const v4top_t *t = &idx->v4top[k >> 16];
    const v4b_t *b = idx->v4b;
    uint32_t lo = t[0].r, hi = t[1].r;
    /* Upper bound of k among the starts in this /16; the interval before it holds k. The one
     * before the /16's first start (or start 0, which always exists) is at most k. */
    while (hi - lo > LINEAR_MAX) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b[mid].key <= k)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t cnt = 0;
    for (uint32_t j = lo; j < hi; j++)
        cnt += b[j].key <= k;
    return b[lo + cnt - 1].val;
}

/* False when no IPv6 indicator is anywhere near (hi, lo): the prefilter for IPv6 misses. */
static inline bool v6_maybe(const ward_intel_index_t *idx, uint64_t hi)
{
    uint64_t p = hi >> idx->v6anyshift;
    return (idx->v6any[p >> 6] >> (p & 63)) & 1;
}

static inline uint32_t v6_exact(const ward_intel_index_t *idx, uint64_t hi, uint64_t lo,
                                const ward_ip_t *addr)
{
    uint64_t h = hash128(hi, lo, idx->seed);
    uint64_t bkt = h >> idx->v6xshift;
    uint32_t fp = (uint32_t)h;
    for (uint32_t j = idx->v6xdir[bkt]; j < idx->v6xdir[bkt + 1]; j++) {
        if (idx->v6x[j].fp != fp)
            continue;
        uint32_t ref = idx->v6x[j].ref;
        uint32_t id = (ref & GRP) ? idx->gids[idx->goff[ref & ~GRP]] : ref;
        if (memcmp(idx->ind[id].addr.b, addr->b, 16) == 0)
            return ref;
    }
    return WARD_INTEL_NONE;
}

static inline uint32_t v6_range(const ward_intel_index_t *idx, uint64_t ahi, uint64_t alo)
{
    const uint32_t *d = &idx->v6rdir[ahi >> 48];
    const uint64_t *bh = idx->v6bhi, *bl = idx->v6blo;
    uint32_t lo = d[0], hi = d[1];
    while (hi - lo > LINEAR_MAX) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (bh[mid] < ahi || (bh[mid] == ahi && bl[mid] <= alo))
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t cnt = 0;
    for (uint32_t j = lo; j < hi; j++)
        cnt += bh[j] < ahi || (bh[j] == ahi && bl[j] <= alo);
    return idx->v6bval[lo + cnt - 1];
}

uint32_t ward_intel_index_lookup(const ward_intel_index_t *idx, const ward_ip_t *addr, int64_t now)
{
    if (idx == NULL || addr == NULL)
        return WARD_INTEL_NONE;
    uint64_t hi = load_be64(addr->b), lo = load_be64(addr->b + 8);
    bool v4 = is_v4_space(hi, lo);
    if (v4 ? !v4_maybe(idx, (uint32_t)lo) : !v6_maybe(idx, hi))
        return WARD_INTEL_NONE;
    uint32_t ref = v4 ? v4_exact(idx, (uint32_t)lo) : v6_exact(idx, hi, lo, addr);
    if (ref != WARD_INTEL_NONE) {
        uint32_t id = ref_best(idx, ref, now);
        if (id != WARD_INTEL_NONE)
            return id;
    }
    uint32_t r = v4 ? v4_range(idx, (uint32_t)lo) : v6_range(idx, hi, lo);
    for (; r != WARD_INTEL_NONE; r = idx->rng[r].parent) {
        uint32_t id = ref_best(idx, idx->rng[r].ref, now);
        if (id != WARD_INTEL_NONE)
            return id;
    }
    return WARD_INTEL_NONE;
}

/* Prefetches what the lookup of addr will read first: its directory entry or prefilter word. */
static inline void prefetch_first(const ward_intel_index_t *idx, const ward_ip_t *addr)
{
    uint64_t hi = load_be64(addr->b), lo = load_be64(addr->b + 8);
    if (is_v4_space(hi, lo)) {
        __builtin_prefetch(&idx->v4top[(uint32_t)lo >> 16]);
    } else {
        uint64_t p = hi >> idx->v6anyshift;
        __builtin_prefetch(&idx->v6any[p >> 6]);
    }
}

/* Prefetches the second level for addr, when its prefilter lets it through. */
static inline void prefetch_second(const ward_intel_index_t *idx, const ward_ip_t *addr)
{
    uint64_t hi = load_be64(addr->b), lo = load_be64(addr->b + 8);
    if (is_v4_space(hi, lo)) {
        uint32_t k = (uint32_t)lo;
        if (!v4_maybe(idx, k))
            return;
        const v4top_t *t = &idx->v4top[k >> 16];
        __builtin_prefetch(&idx->v4xkey[t->x]);
        __builtin_prefetch(&idx->v4b[t->r]);
    } else {
        if (!v6_maybe(idx, hi))
            return;
        uint64_t h = hash128(hi, lo, idx->seed);
        __builtin_prefetch(&idx->v6xdir[h >> idx->v6xshift]);
        __builtin_prefetch(&idx->v6rdir[hi >> 48]);
    }
}

void ward_intel_index_lookup_many(const ward_intel_index_t *idx, const ward_ip_t *addrs, size_t n,
                                  int64_t now, uint32_t *ids)
{
    /* A software pipeline: first-level data for lookup i + 2D, second-level for i + D, lookup i. */
    enum { D = 8 };
    if (idx == NULL || addrs == NULL || ids == NULL) {
        for (size_t i = 0; ids != NULL && i < n; i++)
            ids[i] = WARD_INTEL_NONE;
        return;
    }
    for (size_t i = 0; i < n && i < 2 * D; i++)
        prefetch_first(idx, &addrs[i]);
    for (size_t i = 0; i < n && i < D; i++)
        prefetch_second(idx, &addrs[i]);
    for (size_t i = 0; i < n; i++) {
        if (i + 2 * D < n)
            prefetch_first(idx, &addrs[i + 2 * D]);
        if (i + D < n)
            prefetch_second(idx, &addrs[i + D]);
        ids[i] = ward_intel_index_lookup(idx, &addrs[i], now);
    }
}

size_t ward_intel_index_lookup_all(const ward_intel_index_t *idx, const ward_ip_t *addr,
                                   int64_t now, uint32_t *ids, size_t max)
{
    if (idx == NULL || addr == NULL)
        return 0;
    if (ids == NULL)
        max = 0;
    uint64_t hi = load_be64(addr->b), lo = load_be64(addr->b + 8);
    uint32_t ref, r;
    if (is_v4_space(hi, lo)) {
        if (!v4_maybe(idx, (uint32_t)lo))
            return 0;
        ref = v4_exact(idx, (uint32_t)lo);
        r = v4_range(idx, (uint32_t)lo);
    } else {
        if (!v6_maybe(idx, hi))
            return 0;
        ref = v6_exact(idx, hi, lo, addr);
        r = v6_range(idx, hi, lo);
    }
    size_t cnt = 0;
    if (ref != WARD_INTEL_NONE)
        cnt += ref_all(idx, ref, now, ids, cnt, max);
    for (; r != WARD_INTEL_NONE; r = idx->rng[r].parent)
        cnt += ref_all(idx, idx->rng[r].ref, now, ids, cnt, max);
    return cnt;
}

/* ---------------------------------------------------------------------------------------------
 * Build
 */

typedef struct vec32 {
    uint32_t *v;
    size_t n, cap;
} vec32_t;

static bool vec32_push(vec32_t *a, uint32_t x)
{
    if (!WARD_GROW(a->v, a->n, a->cap, 64))
        return false;
    a->v[a->n++] = x;
    return true;
}

typedef struct builder {
    ward_intel_index_t *idx;
    vec32_t goff, gids;
    size_t bytes;
} builder_t;

static void *xalloc(builder_t *bl, size_t count, size_t size)
{
    if (count == 0)
        count = 1;
    void *p = calloc(count, size);
    if (p != NULL)
        bl->bytes += count * size;
    return p;
}

/* The ref for the ids list[0..cnt) (already in confidence, id order). */
static bool make_ref(builder_t *bl, const uint32_t *list, size_t cnt, uint32_t *ref)
{
    if (cnt == 1) {
        *ref = list[0];
        return true;
    }
    if (bl->goff.n == 0 && !vec32_push(&bl->goff, 0))
        return false;
    uint32_t g = (uint32_t)(bl->goff.n - 1);
    for (size_t i = 0; i < cnt; i++)
        if (!vec32_push(&bl->gids, list[i]))
            return false;
    if (!vec32_push(&bl->goff, (uint32_t)bl->gids.n))
        return false;
    *ref = GRP | g;
    return true;
}

/* Stable LSD radix sort of a[0..n) by the 16-bit digits of the key that start at the given bit
 * offsets; key(i) is a[i] for u64 arrays. tmp holds n elements. */
static bool radix_u64(uint64_t *a, uint64_t *tmp, size_t n, const unsigned *shifts, unsigned passes)
{
    static const size_t R = 65536;
    size_t *cnt = malloc(R * sizeof *cnt);
    if (cnt == NULL)
        return false;
    for (unsigned p = 0; p < passes; p++) {
        unsigned s = shifts[p];
        memset(cnt, 0, R * sizeof *cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(a[i] >> s) & 0xffff]++;
        size_t sum = 0;
        for (size_t d = 0; d < R; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[(a[i] >> s) & 0xffff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
    free(cnt);
    return true;
}

typedef struct v6item {
    uint64_t h;
    uint32_t id;
    uint32_t pad;
} v6item_t;

static bool radix_v6(v6item_t *a, size_t n)
{
    static const size_t R = 65536;
    v6item_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    size_t *cnt = malloc(R * sizeof *cnt);
    if (tmp == NULL || cnt == NULL) {
        free(tmp);
        free(cnt);
        return false;
    }
    for (unsigned s = 0; s < 64; s += 16) {
        memset(cnt, 0, R * sizeof *cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(a[i].h >> s) & 0xffff]++;
        size_t sum = 0;
        for (size_t d = 0; d < R; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[(a[i].h >> s) & 0xffff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
    free(tmp);
    free(cnt);
    return true;
}

typedef struct ritem {
    u128_t start; /* in the family's space: IPv4 as (0, 32-bit address) */
    uint32_t id;
    uint8_t len; /* in the family's space: IPv4 0..31, IPv6 0..127 */
    uint8_t conf;
} ritem_t;

static int ritem_cmp(const void *pa, const void *pb)
{
    const ritem_t *a = pa, *b = pb;
    if (!u128_eq(a->start, b->start))
        return u128_lt(a->start, b->start) ? -1 : 1;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    if (a->conf != b->conf)
        return a->conf > b->conf ? -1 : 1;
    return a->id < b->id ? -1 : (a->id > b->id);
}

/* Interval starts being built by the sweep. */
typedef struct bnds {
    u128_t *key;
    uint32_t *val;
    size_t n;
} bnds_t;

static void bnd_emit(bnds_t *b, u128_t key, uint32_t val)
{
    if (b->n > 0 && u128_eq(b->key[b->n - 1], key)) {
        b->val[b->n - 1] = val;
        if (b->n > 1 && b->val[b->n - 2] == val)
            b->n--;
    } else if (b->n == 0 || b->val[b->n - 1] != val) {
        b->key[b->n] = key;
        b->val[b->n] = val;
        b->n++;
    }
}

/*
 * Leaf-pushes the sorted range items it[0..n) of one family (width 32 or 128) into interval
 * starts, creating one rng entry per distinct prefix (from *nrng on) with its parent.
 */
static bool sweep_ranges(builder_t *bl, const ritem_t *it, size_t n, unsigned width, bnds_t *out,
                         uint32_t *nrng)
{
    ward_intel_index_t *idx = bl->idx;
    bool ok = false;
    struct open {
        u128_t end;
        uint32_t r;
    } *stack = malloc(130 * sizeof *stack);
    uint32_t *list = malloc((n ? n : 1) * sizeof *list);
    out->key = malloc((2 * n + 1) * sizeof *out->key);
    out->val = malloc((2 * n + 1) * sizeof *out->val);
    out->n = 0;
    if (stack == NULL || list == NULL || out->key == NULL || out->val == NULL)
        goto done;
    u128_t spacemax = host_mask(0, width);
    unsigned sp = 0;
    bnd_emit(out, (u128_t){0, 0}, WARD_INTEL_NONE);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && u128_eq(it[j].start, it[i].start) && it[j].len == it[i].len) {
            list[j - i] = it[j].id;
            j++;
        }
        uint32_t r = (*nrng)++;
        if (!make_ref(bl, list, j - i, &idx->rng[r].ref))
            goto done;
        u128_t s = it[i].start;
        u128_t m = host_mask(it[i].len, width);
        u128_t e = {s.hi | m.hi, s.lo | m.lo};
        while (sp > 0 && u128_lt(stack[sp - 1].end, s)) {
            u128_t after = u128_inc(stack[sp - 1].end);
            sp--;
            bnd_emit(out, after, sp ? stack[sp - 1].r : WARD_INTEL_NONE);
        }
        /* Prefixes nest or are disjoint, and the outer one sorts first: what is still open
         * covers this one. At most width + 1 prefixes can nest. */
        idx->rng[r].parent = sp ? stack[sp - 1].r : WARD_INTEL_NONE;
        stack[sp].end = e;
        stack[sp].r = r;
        sp++;
        bnd_emit(out, s, r);
        i = j;
    }
    while (sp > 0) {
        u128_t end = stack[sp - 1].end;
        sp--;
        if (!u128_eq(end, spacemax))
            bnd_emit(out, u128_inc(end), sp ? stack[sp - 1].r : WARD_INTEL_NONE);
    }
    ok = true;
done:
    free(stack);
    free(list);
    return ok;
}

static bool build_v4_exact(builder_t *bl, uint64_t *items, size_t n)
{
    ward_intel_index_t *idx = bl->idx;
    uint64_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    uint32_t *list = malloc((n ? n : 1) * sizeof *list);
    bool ok = false;
    /* items are key << 32 | id in confidence order; a stable sort on the key keeps that order
     * among the indicators of one address. */
    static const unsigned shifts[] = {32, 48};
    if (tmp == NULL || list == NULL || !radix_u64(items, tmp, n, shifts, 2))
        goto done;
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || (items[i] >> 32) != (items[i - 1] >> 32))
            distinct++;
    idx->v4xkey = xalloc(bl, distinct + 8, sizeof *idx->v4xkey);
    idx->v4xref = xalloc(bl, distinct, sizeof *idx->v4xref);
    if (idx->v4xkey == NULL || idx->v4xref == NULL)
        goto done;
    size_t d = 0;
    uint32_t h = 0;
    for (size_t i = 0; i < n;) {
        uint32_t key = (uint32_t)(items[i] >> 32);
        size_t j = i;
        while (j < n && (uint32_t)(items[j] >> 32) == key) {
            list[j - i] = (uint32_t)items[j];
            j++;
        }
        while (h <= (key >> 16))
            idx->v4top[h++].x = (uint32_t)d;
        idx->v4top[key >> 16].any |= (uint64_t)1 << ((key >> 10) & 63);
        idx->v4xkey[d] = (uint16_t)key;
        if (!make_ref(bl, list, j - i, &idx->v4xref[d]))
            goto done;
        d++;
        i = j;
    }
    while (h <= V4_BUCKETS)
        idx->v4top[h++].x = (uint32_t)d;
    idx->stats.v4_exact = distinct;
    ok = true;
done:
    free(tmp);
    free(list);
    return ok;
}

static bool build_v6_exact(builder_t *bl, v6item_t *items, size_t n)
{
    ward_intel_index_t *idx = bl->idx;
    const ward_indicator_t *ind = idx->ind;
    uint32_t *list = malloc((n ? n : 1) * sizeof *list);
    bool ok = false;
    if (list == NULL || !radix_v6(items, n))
        goto done;
    /* Equal addresses have equal hashes, so they are neighbours now. Different addresses with
     * one hash (about never with 64 bits) are put in address order inside their run, stably. */
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && items[j].h == items[i].h)
            j++;
        for (size_t a = i + 1; a < j; a++) {
            v6item_t x = items[a];
            size_t b = a;
            while (b > i && memcmp(ind[items[b - 1].id].addr.b, ind[x.id].addr.b, 16) > 0) {
                items[b] = items[b - 1];
                b--;
            }
            items[b] = x;
        }
        i = j;
    }
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || memcmp(ind[items[i].id].addr.b, ind[items[i - 1].id].addr.b, 16) != 0)
            distinct++;
    unsigned bits = 1;
    while (bits < 40 && ((size_t)1 << bits) < distinct / 2)
        bits++;
    idx->v6xshift = 64 - bits;
    size_t nb = (size_t)1 << bits;
    idx->v6xdir = xalloc(bl, nb + 1, sizeof *idx->v6xdir);
    idx->v6x = xalloc(bl, distinct, sizeof *idx->v6x);
    if (idx->v6xdir == NULL || idx->v6x == NULL)
        goto done;
    size_t d = 0, b = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && memcmp(ind[items[j].id].addr.b, ind[items[i].id].addr.b, 16) == 0) {
            list[j - i] = items[j].id;
            j++;
        }
        uint64_t bkt = items[i].h >> idx->v6xshift;
        while (b <= bkt)
            idx->v6xdir[b++] = (uint32_t)d;
        uint64_t p = load_be64(ind[items[i].id].addr.b) >> idx->v6anyshift;
        idx->v6any[p >> 6] |= (uint64_t)1 << (p & 63);
        idx->v6x[d].fp = (uint32_t)items[i].h;
        if (!make_ref(bl, list, j - i, &idx->v6x[d].ref))
            goto done;
        d++;
        i = j;
    }
    while (b <= nb)
        idx->v6xdir[b++] = (uint32_t)d;
    idx->stats.v6_exact = distinct;
    ok = true;
done:
    free(list);
    return ok;
}

static bool build_v4_ranges(builder_t *bl, ritem_t *it, size_t n, uint32_t *nrng)
{
    ward_intel_index_t *idx = bl->idx;
    bnds_t b = {0};
    bool ok = false;
    qsort(it, n, sizeof *it, ritem_cmp);
    uint32_t first = *nrng;
    if (!sweep_ranges(bl, it, n, 32, &b, nrng))
        goto done;
    idx->stats.v4_ranges = *nrng - first;
    idx->v4b = xalloc(bl, b.n, sizeof *idx->v4b);
    if (idx->v4b == NULL)
        goto done;
    uint32_t h = 0;
    for (size_t i = 0; i < b.n; i++) {
        uint32_t key = (uint32_t)b.key[i].lo;
        idx->v4b[i].key = key;
        idx->v4b[i].val = b.val[i];
        while (h <= (key >> 16))
            idx->v4top[h++].r = (uint32_t)i;
    }
    while (h <= V4_BUCKETS)
        idx->v4top[h++].r = (uint32_t)b.n;
    /* Mark the /22 slots each covered interval meets. */
    for (size_t i = 0; i < b.n; i++) {
        if (b.val[i] == WARD_INTEL_NONE)
            continue;
        uint32_t first = (uint32_t)b.key[i].lo >> 10;
        uint32_t last = (i + 1 < b.n ? (uint32_t)b.key[i + 1].lo - 1 : UINT32_MAX) >> 10;
        for (uint32_t sl = first;; sl++) {
            if ((sl & 63) == 0 && last - sl >= 63) { /* a whole /16 at once */
                idx->v4top[sl >> 6].any = UINT64_MAX;
                sl += 63;
            } else {
                idx->v4top[sl >> 6].any |= (uint64_t)1 << (sl & 63);
            }
            if (sl >= last)
                break;
        }
    }
    ok = true;
done:
    free(b.key);
    free(b.val);
    return ok;
}

static bool build_v6_ranges(builder_t *bl, ritem_t *it, size_t n, uint32_t *nrng)
{
    ward_intel_index_t *idx = bl->idx;
    bnds_t b = {0};
    bool ok = false;
    qsort(it, n, sizeof *it, ritem_cmp);
    uint32_t first = *nrng;
    if (!sweep_ranges(bl, it, n, 128, &b, nrng))
        goto done;
    idx->stats.v6_ranges = *nrng - first;
    idx->v6bhi = xalloc(bl, b.n, sizeof *idx->v6bhi);
    idx->v6blo = xalloc(bl, b.n, sizeof *idx->v6blo);
    idx->v6bval = xalloc(bl, b.n, sizeof *idx->v6bval);
    idx->v6rdir = xalloc(bl, V6R_BUCKETS + 1, sizeof *idx->v6rdir);
    if (idx->v6bhi == NULL || idx->v6blo == NULL || idx->v6bval == NULL || idx->v6rdir == NULL)
        goto done;
    uint32_t h = 0;
    for (size_t i = 0; i < b.n; i++) {
        idx->v6bhi[i] = b.key[i].hi;
        idx->v6blo[i] = b.key[i].lo;
        idx->v6bval[i] = b.val[i];
        while (h <= (b.key[i].hi >> 48))
            idx->v6rdir[h++] = (uint32_t)i;
    }
    while (h <= V6R_BUCKETS)
        idx->v6rdir[h++] = (uint32_t)b.n;
    /* Mark the prefilter positions each covered interval meets (intervals are disjoint, so this
     * is bounded by the size of the bitmap plus the number of intervals). */
    for (size_t i = 0; i < b.n; i++) {
        if (b.val[i] == WARD_INTEL_NONE)
            continue;
        uint64_t first = b.key[i].hi >> idx->v6anyshift, last;
        if (i + 1 < b.n) {
            u128_t e = b.key[i + 1];
            /* the interval ends just before the next start */
            e.hi -= e.lo == 0;
            last = e.hi >> idx->v6anyshift;
        } else {
            last = UINT64_MAX >> idx->v6anyshift;
        }
        for (uint64_t p = first; p <= last; p++)
            idx->v6any[p >> 6] |= (uint64_t)1 << (p & 63);
    }
    ok = true;
done:
    free(b.key);
    free(b.val);
    return ok;
}

static uint64_t make_seed(const void *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return mix64((uint64_t)(uintptr_t)p ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec);
}

ward_intel_index_t *ward_intel_index_build(const ward_indicator_t *ind, size_t n, int64_t now)
{
    if (n > WARD_INTEL_INDEX_MAX || (ind == NULL && n > 0))
        return NULL;
    ward_intel_index_t *idx = calloc(1, sizeof *idx);
    if (idx == NULL)
        return NULL;
    builder_t bl = {.idx = idx, .bytes = sizeof *idx};
    idx->ind = ind;
    idx->n = n;
    idx->min_expires = INT64_MAX;
    idx->seed = make_seed(idx);

    uint32_t *order = NULL;
    uint64_t *v4x = NULL;
    v6item_t *v6x = NULL;
    ritem_t *r4 = NULL, *r6 = NULL;
    size_t n4x = 0, n6x = 0, n4r = 0, n6r = 0;
    bool ok = false;

    /* Confidence order (highest first, then id): every later sort is stable or breaks ties the
     * same way, so the indicators on one prefix come out in this order. */
    order = malloc((n ? n : 1) * sizeof *order);
    size_t cnt[257] = {0};
    if (order == NULL)
        goto done;
    for (size_t i = 0; i < n; i++)
        cnt[255 - ind[i].confidence + 1]++;
    for (int c = 1; c <= 256; c++)
        cnt[c] += cnt[c - 1];
    for (size_t i = 0; i < n; i++)
        order[cnt[255 - ind[i].confidence]++] = (uint32_t)i;

    for (size_t i = 0; i < n; i++) {
        const ward_indicator_t *in = &ind[i];
        if (in->prefix > 128) {
            idx->stats.invalid++;
            continue;
        }
        if (is_expired(in, now)) {
            idx->stats.expired++;
            continue;
        }
        uint64_t hi = load_be64(in->addr.b), lo = load_be64(in->addr.b + 8);
        if (in->prefix == 128) {
            if (is_v4_space(hi, lo))
                n4x++;
            else
                n6x++;
        } else if (in->prefix >= 96 && is_v4_space(hi, lo)) {
            n4r++;
        } else {
            n6r++;
        }
        if (in->expires != 0 && in->expires < idx->min_expires)
            idx->min_expires = in->expires;
    }
    idx->stats.indicators = n4x + n6x + n4r + n6r;

    v4x = malloc((n4x ? n4x : 1) * sizeof *v4x);
    v6x = malloc((n6x ? n6x : 1) * sizeof *v6x);
    r4 = malloc((n4r ? n4r : 1) * sizeof *r4);
    r6 = malloc((n6r ? n6r : 1) * sizeof *r6);
    idx->v4top = xalloc(&bl, V4_BUCKETS + 1, sizeof *idx->v4top);
    idx->rng = xalloc(&bl, n4r + n6r, sizeof *idx->rng);
    if (v4x == NULL || v6x == NULL || r4 == NULL || r6 == NULL || idx->v4top == NULL ||
        idx->rng == NULL)
        goto done;

    size_t a4x = 0, a6x = 0, a4r = 0, a6r = 0;
    for (size_t o = 0; o < n; o++) {
        uint32_t i = order[o];
        const ward_indicator_t *in = &ind[i];
        if (in->prefix > 128 || is_expired(in, now))
            continue;
        uint64_t hi = load_be64(in->addr.b), lo = load_be64(in->addr.b + 8);
        bool v4 = in->prefix >= 96 && is_v4_space(hi, lo);
        if (in->prefix == 128 && v4) {
            v4x[a4x++] = ((uint64_t)(uint32_t)lo << 32) | i;
        } else if (in->prefix == 128) {
            v6x[a6x].h = hash128(hi, lo, idx->seed);
            v6x[a6x].id = i;
            v6x[a6x].pad = 0;
            a6x++;
        } else if (v4) {
            u128_t m = host_mask(in->prefix - 96u, 32);
            r4[a4r] = (ritem_t){
                {0, (uint32_t)lo & ~m.lo}, i, (uint8_t)(in->prefix - 96u), in->confidence};
            a4r++;
        } else {
            u128_t m = host_mask(in->prefix, 128);
            r6[a6r] = (ritem_t){{hi & ~m.hi, lo & ~m.lo}, i, in->prefix, in->confidence};
            a6r++;
        }
    }

    /* The IPv6 prefilter: one bit per 2^(128 - bits) addresses, about 16 bits per IPv6
     * indicator, at least 1 KiB and at most 2 MiB (24 bits). */
    unsigned anybits = 13;
    while (anybits < 24 && ((size_t)1 << anybits) < (n6x + n6r) * 16)
        anybits++;
    idx->v6anyshift = 64 - anybits;
    idx->v6any = xalloc(&bl, ((size_t)1 << anybits) / 64, sizeof *idx->v6any);
    if (idx->v6any == NULL)
        goto done;

    uint32_t nrng = 0;
    if (!build_v4_exact(&bl, v4x, n4x) || !build_v6_exact(&bl, v6x, n6x) ||
        !build_v4_ranges(&bl, r4, n4r, &nrng) || !build_v6_ranges(&bl, r6, n6r, &nrng))
        goto done;

    if (bl.goff.n == 0 && !vec32_push(&bl.goff, 0))
        goto done;
    /* Trim the group arrays to size (a failed shrink keeps the bigger block, which is fine). */
    idx->goff = bl.goff.v;
    idx->gids = bl.gids.v;
    if (bl.gids.n > 0 && bl.gids.n < bl.gids.cap) {
        uint32_t *v = realloc(bl.gids.v, bl.gids.n * sizeof *v);
        if (v != NULL) {
            idx->gids = v;
            bl.gids.cap = bl.gids.n;
        }
    }
    bl.bytes += bl.goff.cap * sizeof(uint32_t) + bl.gids.cap * sizeof(uint32_t);
    bl.goff.v = bl.gids.v = NULL;
    idx->stats.bytes = bl.bytes;
    ok = true;
done:
    free(order);
    free(v4x);
    free(v6x);
    free(r4);
    free(r6);
    free(bl.goff.v);
    free(bl.gids.v);
    if (!ok) {
        ward_intel_index_free(idx);
        return NULL;
    }
    return idx;
}

void ward_intel_index_set_release(ward_intel_index_t *idx, void (*release)(void *), void *arg)
{
    if (idx == NULL)
        return;
    idx->release = release;
    idx->release_arg = arg;
}

void ward_intel_index_free(ward_intel_index_t *idx)
{
    if (idx == NULL)
        return;
    void (*release)(void *) = idx->release;
    void *arg = idx->release_arg;
    free(idx->v4top);
    free(idx->v4xkey);
    free(idx->v4xref);
    free(idx->v4b);
    free(idx->v6xdir);
    free(idx->v6x);
    free(idx->v6any);
    free(idx->v6rdir);
    free(idx->v6bhi);
    free(idx->v6blo);
    free(idx->v6bval);
    free(idx->rng);
    free(idx->goff);
    free(idx->gids);
    free(idx);
    if (release != NULL)
        release(arg);
}

size_t ward_intel_index_memory_bytes(const ward_intel_index_t *idx)
{
    return idx ? idx->stats.bytes : 0;
}

int64_t ward_intel_index_next_expiry(const ward_intel_index_t *idx)
{
    return (idx == NULL || idx->min_expires == INT64_MAX) ? 0 : idx->min_expires;
}

const ward_indicator_t *ward_intel_index_indicators(const ward_intel_index_t *idx)
{
    return idx ? idx->ind : NULL;
}

void ward_intel_index_stats(const ward_intel_index_t *idx, ward_intel_index_stats_t *out)
{
    if (out == NULL)
        return;
    if (idx == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = idx->stats;
}
