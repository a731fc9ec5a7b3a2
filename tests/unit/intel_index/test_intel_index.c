/*
 * The match index (service/intel/index.c): longest match and every match for IPv4, IPv6 and
 * IPv4-mapped addresses, nested prefixes, the edges of both spaces, duplicates from several feeds,
 * expiry, an empty index, and a seeded cross-check against a brute-force matcher.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "common.h"

#define N_(a) (sizeof(a) / sizeof((a)[0]))

static uint32_t look(const ward_intel_index_t *idx, const char *a, int64_t now)
{
    ward_ip_t x = ip(a);
    return ward_intel_index_lookup(idx, &x, now);
}

/* lookup_all(a) must be exactly want[0..n). */
static void expect_all(const ward_intel_index_t *idx, const char *a, int64_t now,
                       const uint32_t *want, size_t n)
{
    ward_ip_t x = ip(a);
    uint32_t got[64];
    size_t c = ward_intel_index_lookup_all(idx, &x, now, got, N_(got));
    if (c != n)
        print_error("lookup_all(%s): %zu matches, want %zu\n", a, c, n);
    assert_int_equal(c, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
}

static void test_empty(void **state)
{
    (void)state;
    ward_intel_index_t *idx = ward_intel_index_build(NULL, 0, 0);
    assert_non_null(idx);
    assert_int_equal(look(idx, "1.2.3.4", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "0.0.0.0", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "2001:db8::1", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "::", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0), WARD_INTEL_NONE);
    expect_all(idx, "1.2.3.4", 0, NULL, 0);
    assert_true(ward_intel_index_memory_bytes(idx) > 0);
    assert_int_equal(ward_intel_index_next_expiry(idx), 0);
    ward_intel_index_free(idx);

    /* Everything expired or invalid is empty too. */
    ward_indicator_t v[2] = {ind("1.2.3.4", 32, 50, 10), ind("10.0.0.0", 8, 50, 0)};
    v[1].prefix = 129;
    idx = ward_intel_index_build(v, 2, 10);
    assert_non_null(idx);
    ward_intel_index_stats_t st;
    ward_intel_index_stats(idx, &st);
    assert_int_equal(st.indicators, 0);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.invalid, 1);
    assert_int_equal(look(idx, "1.2.3.4", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "10.0.0.0", 0), WARD_INTEL_NONE);
    ward_intel_index_free(idx);

    ward_intel_index_free(NULL);
    assert_int_equal(ward_intel_index_lookup(NULL, NULL, 0), WARD_INTEL_NONE);
}

static void test_v4_nested(void **state)
{
    (void)state;
    ward_indicator_t v[] = {
        ind("10.0.0.0", 8, 50, 0),     /* 0 */
        ind("10.1.0.0", 16, 50, 0),    /* 1 */
        ind("10.1.2.0", 24, 50, 0),    /* 2 */
        ind("10.1.2.3", 32, 50, 0),    /* 3 */
        ind("10.1.2.4", 31, 50, 0),    /* 4 */
        ind("10.1.2.128", 25, 50, 0),  /* 5 */
        ind("192.168.1.1", 32, 50, 0), /* 6: an exact with no range around it */
    };
    ward_intel_index_t *idx = ward_intel_index_build(v, N_(v), 0);
    assert_non_null(idx);
    assert_int_equal(look(idx, "10.1.2.3", 0), 3);
    assert_int_equal(look(idx, "10.1.2.4", 0), 4);
    assert_int_equal(look(idx, "10.1.2.5", 0), 4);
    assert_int_equal(look(idx, "10.1.2.6", 0), 2);
    assert_int_equal(look(idx, "10.1.2.2", 0), 2);
    assert_int_equal(look(idx, "10.1.2.0", 0), 2);
    assert_int_equal(look(idx, "10.1.2.127", 0), 2);
    assert_int_equal(look(idx, "10.1.2.128", 0), 5);
    assert_int_equal(look(idx, "10.1.2.255", 0), 5);
    assert_int_equal(look(idx, "10.1.3.0", 0), 1);
    assert_int_equal(look(idx, "10.1.1.255", 0), 1);
    assert_int_equal(look(idx, "10.1.255.255", 0), 1);
    assert_int_equal(look(idx, "10.2.0.0", 0), 0);
    assert_int_equal(look(idx, "10.0.0.0", 0), 0);
    assert_int_equal(look(idx, "10.255.255.255", 0), 0);
    assert_int_equal(look(idx, "11.0.0.0", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "9.255.255.255", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "192.168.1.1", 0), 6);
    assert_int_equal(look(idx, "192.168.1.2", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "192.168.1.0", 0), WARD_INTEL_NONE);
    expect_all(idx, "10.1.2.3", 0, (const uint32_t[]){3, 2, 1, 0}, 4);
    expect_all(idx, "10.1.2.5", 0, (const uint32_t[]){4, 2, 1, 0}, 4);
    expect_all(idx, "10.1.2.200", 0, (const uint32_t[]){5, 2, 1, 0}, 4);
    expect_all(idx, "10.9.9.9", 0, (const uint32_t[]){0}, 1);
    expect_all(idx, "192.168.1.1", 0, (const uint32_t[]){6}, 1);
    expect_all(idx, "8.8.8.8", 0, NULL, 0);
    /* An IPv4 indicator never matches an IPv6 address with the same low bits. */
    assert_int_equal(look(idx, "::10.1.2.3", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "64:ff9b::10.1.2.3", 0), WARD_INTEL_NONE);
    ward_intel_index_free(idx);
}

static void test_v4_edges(void **state)
{
    (void)state;
    ward_indicator_t v[] = {
        ind("0.0.0.0", 0, 10, 0),          /* 0: the IPv4 default */
        ind("255.255.255.255", 32, 50, 0), /* 1 */
        ind("0.0.0.0", 32, 50, 0),         /* 2 */
        ind("255.255.255.254", 31, 50, 0), /* 3 */
        ind("0.0.0.0", 31, 50, 0),         /* 4 */
        ind("128.0.0.0", 1, 50, 0),        /* 5 */
        ind("::", 0, 50, 0),               /* 6: the IPv6 default: not for IPv4 */
    };
    ward_intel_index_t *idx = ward_intel_index_build(v, N_(v), 0);
    assert_non_null(idx);
    assert_int_equal(look(idx, "255.255.255.255", 0), 1);
    assert_int_equal(look(idx, "255.255.255.254", 0), 3);
    assert_int_equal(look(idx, "255.255.255.253", 0), 5);
    assert_int_equal(look(idx, "128.0.0.0", 0), 5);
    assert_int_equal(look(idx, "127.255.255.255", 0), 0);
    assert_int_equal(look(idx, "0.0.0.0", 0), 2);
    assert_int_equal(look(idx, "0.0.0.1", 0), 4);
    assert_int_equal(look(idx, "0.0.0.2", 0), 0);
    assert_int_equal(look(idx, "1.2.3.4", 0), 0);
    /* IPv4-mapped IPv6 written as IPv6 is IPv4. */
    assert_int_equal(look(idx, "::ffff:255.255.255.255", 0), 1);
    assert_int_equal(look(idx, "::ffff:0:0", 0), 2);
    assert_int_equal(look(idx, "::ffff:1.2.3.4", 0), 0);
    /* Everything else is IPv6, next to the mapped block on both sides. */
    assert_int_equal(look(idx, "::fffe:ffff:ffff", 0), 6);
    assert_int_equal(look(idx, "::1:0:0:0", 0), 6);
    assert_int_equal(look(idx, "::", 0), 6);
    assert_int_equal(look(idx, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0), 6);
    expect_all(idx, "255.255.255.255", 0, (const uint32_t[]){1, 3, 5, 0}, 4);
    expect_all(idx, "0.0.0.0", 0, (const uint32_t[]){2, 4, 0}, 3);
    expect_all(idx, "2001:db8::1", 0, (const uint32_t[]){6}, 1);
    ward_intel_index_free(idx);
}

static void test_v6(void **state)
{
    (void)state;
    ward_indicator_t v[] = {
        ind("2001:db8::", 32, 50, 0),       /* 0 */
        ind("2001:db8:1::", 48, 50, 0),     /* 1 */
        ind("2001:db8:1:2::", 64, 50, 0),   /* 2 */
        ind("2001:db8:1:2::1", 128, 50, 0), /* 3 */
        ind("2001:db8:1:2::", 127, 50, 0),  /* 4 */
        ind("::1", 128, 50, 0),             /* 5 */
        ind("::", 8, 50, 0),                /* 6: IPv6 only, though it contains the mapped block */
        ind("::ffff:10.0.0.0", 104, 50, 0), /* 7: IPv4 10.0.0.0/8 written as IPv6 */
        ind("2001:db8:1:2:8000::", 65, 50, 0),                      /* 8 */
        ind("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128, 50, 0), /* 9 */
        ind("2001:db8:1:2:0:0:ffff:0", 112, 50, 0),                 /* 10 */
    };
    ward_intel_index_t *idx = ward_intel_index_build(v, N_(v), 0);
    assert_non_null(idx);
    assert_int_equal(look(idx, "2001:db8:1:2::1", 0), 3);
    assert_int_equal(look(idx, "2001:db8:1:2::", 0), 4);
    assert_int_equal(look(idx, "2001:db8:1:2::2", 0), 2);
    assert_int_equal(look(idx, "2001:db8:1:2:7fff:ffff:ffff:ffff", 0), 2);
    assert_int_equal(look(idx, "2001:db8:1:2:8000::", 0), 8);
    assert_int_equal(look(idx, "2001:db8:1:2:ffff:ffff:ffff:ffff", 0), 8);
    assert_int_equal(look(idx, "2001:db8:1:2::ffff:1234", 0), 10);
    assert_int_equal(look(idx, "2001:db8:1:3::", 0), 1);
    assert_int_equal(look(idx, "2001:db8:2::", 0), 0);
    assert_int_equal(look(idx, "2001:db9::", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "::1", 0), 5);
    assert_int_equal(look(idx, "::2", 0), 6);
    assert_int_equal(look(idx, "ff::", 0), 6);
    assert_int_equal(look(idx, "100::", 0), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0), 9);
    assert_int_equal(look(idx, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 0), WARD_INTEL_NONE);
    /* Mapped: only the IPv4 indicator, never ::/8. */
    assert_int_equal(look(idx, "10.9.8.7", 0), 7);
    assert_int_equal(look(idx, "::ffff:10.9.8.7", 0), 7);
    assert_int_equal(look(idx, "11.0.0.0", 0), WARD_INTEL_NONE);
    expect_all(idx, "2001:db8:1:2::1", 0, (const uint32_t[]){3, 4, 2, 1, 0}, 5);
    expect_all(idx, "2001:db8:1:2:8000::1", 0, (const uint32_t[]){8, 2, 1, 0}, 4);
    expect_all(idx, "::1", 0, (const uint32_t[]){5, 6}, 2);
    ward_intel_index_free(idx);
}

static void test_duplicates(void **state)
{
    (void)state;
    ward_indicator_t v[] = {
        ind("10.0.0.0", 8, 50, 0),          /* 0 */
        ind("10.0.0.0", 8, 90, 0),          /* 1 */
        ind("10.0.0.0", 8, 90, 0),          /* 2 */
        ind("10.0.0.1", 32, 10, 0),         /* 3 */
        ind("10.0.0.1", 32, 20, 0),         /* 4 */
        ind("2001:db8::1", 128, 30, 0),     /* 5 */
        ind("2001:db8::", 48, 30, 0),       /* 6 */
        ind("2001:db8::1", 128, 70, 0),     /* 7 */
        ind("2001:db8::", 48, 30, 0),       /* 8 */
        ind("::ffff:10.0.0.1", 128, 20, 0), /* 9: same address, written as IPv6 */
    };
    for (size_t i = 0; i < N_(v); i++)
        v[i].source = (uint32_t)i;
    ward_intel_index_t *idx = ward_intel_index_build(v, N_(v), 0);
    assert_non_null(idx);
    assert_int_equal(look(idx, "10.0.0.1", 0), 4);
    assert_int_equal(look(idx, "10.0.0.2", 0), 1);
    assert_int_equal(look(idx, "2001:db8::1", 0), 7);
    assert_int_equal(look(idx, "2001:db8::2", 0), 6);
    expect_all(idx, "10.0.0.1", 0, (const uint32_t[]){4, 9, 3, 1, 2, 0}, 6);
    expect_all(idx, "10.0.0.2", 0, (const uint32_t[]){1, 2, 0}, 3);
    expect_all(idx, "2001:db8::1", 0, (const uint32_t[]){7, 5, 6, 8}, 4);
    /* A short buffer: the count of all, the first ones written. */
    ward_ip_t a = ip("10.0.0.1");
    uint32_t got[2] = {0, 0};
    assert_int_equal(ward_intel_index_lookup_all(idx, &a, 0, got, 2), 6);
    assert_int_equal(got[0], 4);
    assert_int_equal(got[1], 9);
    assert_int_equal(ward_intel_index_lookup_all(idx, &a, 0, NULL, 0), 6);
    ward_intel_index_stats_t st;
    ward_intel_index_stats(idx, &st);
    assert_int_equal(st.indicators, N_(v));
    assert_int_equal(st.v4_exact, 1);
    assert_int_equal(st.v4_ranges, 1);
    assert_int_equal(st.v6_exact, 1);
    assert_int_equal(st.v6_ranges, 1);
    ward_intel_index_free(idx);
}

static void test_expiry(void **state)
{
    (void)state;
    ward_indicator_t v[] = {
        ind("10.0.0.0", 8, 99, 500),       /* 0: expired at build */
        ind("10.0.0.0", 16, 50, 2000),     /* 1 */
        ind("10.0.0.0", 8, 50, 0),         /* 2 */
        ind("10.0.0.1", 32, 60, 1500),     /* 3 */
        ind("10.0.0.1", 32, 40, 0),        /* 4 */
        ind("2001:db8::1", 128, 50, 1200), /* 5 */
        ind("2001:db8::", 32, 50, 1100),   /* 6 */
    };
    ward_intel_index_t *idx = ward_intel_index_build(v, N_(v), 1000);
    assert_non_null(idx);
    ward_intel_index_stats_t st;
    ward_intel_index_stats(idx, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(ward_intel_index_next_expiry(idx), 1100);
    assert_int_equal(look(idx, "10.0.0.1", 1000), 3);
    assert_int_equal(look(idx, "10.0.0.1", 1499), 3);
    assert_int_equal(look(idx, "10.0.0.1", 1500), 4);
    assert_int_equal(look(idx, "10.0.0.2", 1999), 1);
    assert_int_equal(look(idx, "10.0.0.2", 2000), 2);
    assert_int_equal(look(idx, "10.1.0.0", 0), 2);
    expect_all(idx, "10.0.0.1", 1000, (const uint32_t[]){3, 4, 1, 2}, 4);
    expect_all(idx, "10.0.0.1", 2500, (const uint32_t[]){4, 2}, 2);
    assert_int_equal(look(idx, "2001:db8::1", 1000), 5);
    assert_int_equal(look(idx, "2001:db8::1", 1100), 5);
    assert_int_equal(look(idx, "2001:db8::1", 1200), WARD_INTEL_NONE);
    assert_int_equal(look(idx, "2001:db8::2", 1099), 6);
    assert_int_equal(look(idx, "2001:db8::2", 1100), WARD_INTEL_NONE);
    ward_intel_index_free(idx);
}

static void test_host_bits(void **state)
{
    (void)state;
    ward_indicator_t v[] = {
        ind("10.1.2.3", 8, 50, 0),        /* host bits set: means 10.0.0.0/8 */
        ind("2001:db8::ffff", 32, 50, 0), /* means 2001:db8::/32 */
    };
    ward_intel_index_t *idx = ward_intel_index_build(v, N_(v), 0);
    assert_int_equal(look(idx, "10.200.0.1", 0), 0);
    assert_int_equal(look(idx, "10.0.0.0", 0), 0);
    assert_int_equal(look(idx, "2001:db8:ffff::", 0), 1);
    ward_intel_index_free(idx);
}

static int released;
static void on_release(void *arg)
{
    released += *(int *)arg;
}

static void test_release(void **state)
{
    (void)state;
    ward_indicator_t v[] = {ind("10.0.0.0", 8, 50, 0)};
    int one = 1;
    ward_intel_index_t *idx = ward_intel_index_build(v, 1, 0);
    ward_intel_index_set_release(idx, on_release, &one);
    assert_ptr_equal(ward_intel_index_indicators(idx), v);
    released = 0;
    ward_intel_index_free(idx);
    assert_int_equal(released, 1);
}

/* xorshift64*: the cross-check is reproducible from its seed. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* base with the bits from position `from` on (0 = first bit) replaced by random ones. */
static ward_ip_t perturb(const ward_ip_t *base, unsigned from)
{
    ward_ip_t a = *base;
    for (unsigned bit = from; bit < 128; bit++) {
        unsigned byte = bit / 8, sh = 7 - bit % 8;
        a.b[byte] = (uint8_t)((a.b[byte] & ~(1u << sh)) | ((rnd() & 1) << sh));
    }
    return a;
}

static ward_ip_t random_base(void)
{
    ward_ip_t a;
    memset(&a, 0, sizeof a);
    switch (rnd() % 5) {
    case 0: /* IPv4 */
    case 1:
        a.b[10] = a.b[11] = 0xff;
        for (int i = 12; i < 16; i++)
            a.b[i] = (uint8_t)rnd();
        break;
    case 2: /* near ::, so that short IPv6 prefixes contain the mapped block */
        a.b[15] = (uint8_t)rnd();
        break;
    default:
        for (int i = 0; i < 16; i++)
            a.b[i] = (uint8_t)rnd();
        break;
    }
    return a;
}

static unsigned long cc_lookups, cc_hits, cc_multi;

static void crosscheck_round(size_t n, size_t lookups)
{
    ward_indicator_t *v = calloc(n ? n : 1, sizeof *v);
    uint32_t *want = calloc(n + 1, sizeof *want), *got = calloc(n + 1, sizeof *got);
    assert_non_null(v);
    ward_ip_t bases[16];
    unsigned nbases = 1 + (unsigned)(rnd() % 16);
    for (unsigned b = 0; b < nbases; b++)
        bases[b] = random_base();
    for (size_t i = 0; i < n; i++) {
        const ward_ip_t *base = &bases[rnd() % nbases];
        bool v4 = bf_v4_space(base);
        unsigned len;
        unsigned r = (unsigned)(rnd() % 10);
        if (v4)
            len = 96 + (r < 4 ? 32 : (unsigned)(rnd() % 33));
        else
            len = r < 4 ? 128 : (unsigned)(rnd() % 129);
        /* Vary the bits from a little above the prefix end, so that prefixes nest and overlap. */
        unsigned from = len > 12 ? len - (unsigned)(rnd() % 12) : 0;
        if (v4 && from < 96)
            from = 96;
        v[i].addr = perturb(base, from);
        if (rnd() % 3 != 0) { /* usually clear host bits, as a loader would */
            ward_ip_t z = v[i].addr;
            for (unsigned bit = len; bit < 128; bit++)
                z.b[bit / 8] &= (uint8_t) ~(1u << (7 - bit % 8));
            v[i].addr = z;
        }
        v[i].prefix = (uint8_t)len;
        if (rnd() % 50 == 0)
            v[i].prefix = (uint8_t)(129 + rnd() % 10);
        v[i].confidence = (uint8_t)(rnd() % 4 * 30);
        v[i].expires = rnd() % 4 == 0 ? (int64_t)(100 + rnd() % 200) : 0;
        if (i > 0 && rnd() % 10 == 0) { /* the same prefix from another feed */
            ward_indicator_t d = v[rnd() % i];
            d.confidence = (uint8_t)(rnd() % 4 * 30);
            d.expires = rnd() % 2 ? 0 : (int64_t)(100 + rnd() % 200);
            v[i] = d;
        }
    }
    static const int64_t build_now[] = {0, 150};
    int64_t bnow = build_now[rnd() % 2];
    ward_intel_index_t *idx = ward_intel_index_build(v, n, bnow);
    assert_non_null(idx);
    ward_ip_t *qs = calloc(lookups, sizeof *qs);
    uint32_t *many = calloc(lookups, sizeof *many);
    assert_non_null(qs);
    assert_non_null(many);
    for (size_t q = 0; q < lookups; q++) {
        ward_ip_t a;
        unsigned r = (unsigned)(rnd() % 10);
        if (r == 0) {
            a = random_base();
        } else {
            const ward_ip_t *base = &bases[rnd() % nbases];
            unsigned from = (unsigned)(rnd() % 129);
            if (bf_v4_space(base) && from < 96 && r < 8)
                from = 96 + (unsigned)(rnd() % 33);
            a = perturb(base, from);
        }
        qs[q] = a;
        static const int64_t look_now[] = {0, 150, 250, 1000};
        int64_t now = look_now[rnd() % 4];
        if (now < bnow)
            now = bnow; /* what expired at build is gone for good */
        /* Expired at build is left out: the brute force sees the same set. */
        size_t nw = bf_all(v, n, &a, now, want);
        uint32_t one = ward_intel_index_lookup(idx, &a, now);
        size_t ng = ward_intel_index_lookup_all(idx, &a, now, got, n + 1);
        if (ng != nw || one != (nw ? want[0] : WARD_INTEL_NONE)) {
            char s[64];
            inet_ntop(AF_INET6, a.b, s, sizeof s);
            print_error("n=%zu addr=%s now=%lld: got %zu matches (longest %u), want %zu (%u)\n", n,
                        s, (long long)now, ng, one, nw, nw ? want[0] : WARD_INTEL_NONE);
        }
        assert_int_equal(ng, nw);
        assert_int_equal(one, nw ? want[0] : WARD_INTEL_NONE);
        cc_lookups++;
        cc_hits += nw > 0;
        cc_multi += nw > 1;
        for (size_t i = 0; i < nw; i++)
            assert_int_equal(got[i], want[i]);
    }
    /* The batch call answers exactly what the single one does. */
    ward_intel_index_lookup_many(idx, qs, lookups, 250, many);
    for (size_t q = 0; q < lookups; q++)
        assert_int_equal(many[q], ward_intel_index_lookup(idx, &qs[q], 250));
    free(qs);
    free(many);
    ward_intel_index_free(idx);
    free(v);
    free(want);
    free(got);
}

static void test_random_crosscheck(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 5, 20, 100, 500, 2000, 5000};
    rng_state = 0x9e3779b97f4a7c15ULL;
    for (unsigned round = 0; round < 90; round++) {
        size_t n = sizes[round % N_(sizes)];
        crosscheck_round(n, n >= 2000 ? 1500 : 3000);
    }
    /* The data must exercise both answers and nesting, or the check proves little. */
    print_message("cross-check: %lu lookups, %lu hits, %lu with several matches\n", cc_lookups,
                  cc_hits, cc_multi);
    assert_true(cc_hits > cc_lookups / 10 && cc_hits < cc_lookups * 9 / 10);
    assert_true(cc_multi > cc_lookups / 20);
}

/* Many prefixes in one /16 and one IPv6 /16: the directory's binary-search paths. */
static void test_dense_bucket(void **state)
{
    (void)state;
    rng_state = 12345;
    size_t n = 6000, k = 0;
    ward_indicator_t *v = calloc(n, sizeof *v);
    uint32_t *want = calloc(n + 1, sizeof *want), *got = calloc(n + 1, sizeof *got);
    ward_ip_t b4 = ip("172.16.0.0"), b6 = ip("2001:db8::");
    for (; k < n; k++) {
        bool v4 = k % 2 == 0;
        v[k].addr = perturb(v4 ? &b4 : &b6, 16 + (v4 ? 96 : 0));
        unsigned r = (unsigned)(rnd() % 3);
        v[k].prefix = (uint8_t)(v4 ? (r == 0 ? 128 : 96 + 16 + rnd() % 17)
                                   : (r == 0 ? 128 : 16 + rnd() % 113));
        v[k].confidence = 50;
    }
    ward_intel_index_t *idx = ward_intel_index_build(v, n, 0);
    for (unsigned q = 0; q < 20000; q++) {
        ward_ip_t a = perturb(q % 2 ? &b4 : &b6, q % 2 ? 112 : 16);
        if (rnd() % 2) /* exactly on an indicator's address */
            a = v[rnd() % n].addr;
        size_t nw = bf_all(v, n, &a, 0, want);
        assert_int_equal(ward_intel_index_lookup(idx, &a, 0), nw ? want[0] : WARD_INTEL_NONE);
        assert_int_equal(ward_intel_index_lookup_all(idx, &a, 0, got, n + 1), nw);
        for (size_t i = 0; i < nw; i++)
            assert_int_equal(got[i], want[i]);
    }
    ward_intel_index_free(idx);
    free(v);
    free(want);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_v4_nested),
        cmocka_unit_test(test_v4_edges),
        cmocka_unit_test(test_v6),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_host_bits),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_random_crosscheck),
        cmocka_unit_test(test_dense_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
