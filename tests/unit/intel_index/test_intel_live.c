/*
 * The live holder (service/intel/live.c): one thread publishes a new index in a loop while two
 * threads look up continuously. Every answer a reader gets inside one read-side section must be
 * exactly what one published version says, versions seen by a reader never go backwards, and an
 * old version's indicator array (poisoned, then freed, when its index is freed) is never read
 * after the grace period (AddressSanitizer builds turn that into a crash).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "live.h"

#define VERSIONS 300u /* indexes published by the test */
#define K 40u         /* indicators per version */
#define PROBES 24u    /* addresses each reader checks per read-side section */

static atomic_bool stop;
static atomic_ulong released_count;

/* Version v (1-based): 10.0.0.0/8 (id 0), 10.<v%200>.0.0/16 (id 1), then exacts
 * 10.<v%200>.1.<j> for j < v % 32 (ids 2..), padded with 192.0.2.<j> /32 entries up to K;
 * every indicator's source is v. */
static ward_indicator_t *make_version(uint32_t v)
{
    ward_indicator_t *a = calloc(K, sizeof *a);
    if (a == NULL)
        return NULL;
    char s[32];
    uint32_t k = 0, o = v % 200, nx = v % 32;
    a[k++] = ind("10.0.0.0", 8, 50, 0);
    snprintf(s, sizeof s, "10.%u.0.0", o);
    a[k++] = ind(s, 16, 50, 0);
    for (uint32_t j = 0; j < nx; j++) {
        snprintf(s, sizeof s, "10.%u.1.%u", o, j);
        a[k++] = ind(s, 32, 50, 0);
    }
    for (uint32_t j = 0; k < K; j++) {
        snprintf(s, sizeof s, "192.0.2.%u", j);
        a[k++] = ind(s, 32, 50, 0);
    }
    for (k = 0; k < K; k++)
        a[k].source = v;
    return a;
}

/* What version v answers for 10.<o>.1.<j>, and how many indicators match it. */
static uint32_t expect(uint32_t v, uint32_t o, uint32_t j, size_t *nall)
{
    if (o != v % 200) {
        *nall = 1;
        return 0;
    }
    if (j < v % 32) {
        *nall = 3;
        return 2 + j;
    }
    *nall = 2;
    return 1;
}

static void release_version(void *arg)
{
    ward_indicator_t *a = arg;
    /* Poison first: a reader that still used this array would see a version number no
     * publish ever had, even in a build without AddressSanitizer. */
    for (uint32_t k = 0; k < K; k++)
        a[k].source = UINT32_MAX;
    free(a);
    atomic_fetch_add(&released_count, 1);
}

typedef struct reader {
    ward_intel_live_t *live;
    unsigned seed;
    unsigned long sections, checks, failures, backwards;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    ward_intel_live_reader_register();
    uint32_t last = 0, x = r->seed;
    while (!atomic_load(&stop)) {
        ward_intel_live_read_lock();
        const ward_intel_index_t *idx = ward_intel_live_get(r->live);
        if (idx != NULL) {
            const ward_indicator_t *a = ward_intel_index_indicators(idx);
            uint32_t v = a[0].source;
            if (v == 0 || v > VERSIONS)
                r->failures++;
            if (v < last)
                r->backwards++;
            last = v;
            for (uint32_t p = 0; p < PROBES; p++) {
                x = x * 1103515245u + 12345u;
                /* Half the probes on this version's /16, half anywhere in 10/8. */
                uint32_t o = (p % 2) ? v % 200 : (x >> 8) % 200, j = (x >> 16) % 40;
                char s[32];
                snprintf(s, sizeof s, "10.%u.1.%u", o, j);
                ward_ip_t addr = ip(s);
                size_t nall;
                uint32_t want = expect(v, o, j, &nall);
                uint32_t got = ward_intel_index_lookup(idx, &addr, 0);
                uint32_t ids[8];
                size_t n = ward_intel_index_lookup_all(idx, &addr, 0, ids, 8);
                if (got != want || n != nall || a[got].source != v)
                    r->failures++;
                r->checks++;
            }
        }
        ward_intel_live_read_unlock();
        r->sections++;
    }
    ward_intel_live_reader_unregister();
    return NULL;
}

static void test_publish_while_reading(void **state)
{
    (void)state;
    ward_intel_live_t *live = ward_intel_live_create();
    assert_non_null(live);
    atomic_store(&stop, false);
    atomic_store(&released_count, 0);

    reader_t rd[2] = {{.live = live, .seed = 1}, {.live = live, .seed = 2}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);

    for (uint32_t v = 1; v <= VERSIONS; v++) {
        ward_indicator_t *a = make_version(v);
        assert_non_null(a);
        ward_intel_index_t *idx = ward_intel_index_build(a, K, 0);
        assert_non_null(idx);
        ward_intel_index_set_release(idx, release_version, a);
        assert_int_equal(ward_intel_live_publish(live, idx), v);
        /* Every index before this one has been freed by now. */
        assert_int_equal(atomic_load(&released_count), v - 1);
        /* Let the readers look at each version now and then. */
        if (v % 16 == 0) {
            unsigned long seen = rd[0].sections + rd[1].sections;
            for (int spin = 0; spin < 100000 && rd[0].sections + rd[1].sections == seen; spin++)
                sched_yield();
        }
    }
    /* A one-off match through the convenience call, from this (registered) thread. */
    ward_intel_live_reader_register();
    ward_indicator_t got;
    ward_ip_t a = ip("10.99.99.99");
    assert_true(ward_intel_live_match(live, &a, 0, &got));
    assert_int_equal(got.source, VERSIONS);
    a = ip("11.0.0.0");
    assert_false(ward_intel_live_match(live, &a, 0, &got));
    ward_intel_live_reader_unregister();

    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    /* Emptying the holder frees the last index. */
    ward_intel_live_publish(live, NULL);
    assert_int_equal(atomic_load(&released_count), VERSIONS);
    ward_intel_live_destroy(live);

    for (int i = 0; i < 2; i++) {
        print_message("reader %d: %lu sections, %lu checks, %lu failures\n", i, rd[i].sections,
                      rd[i].checks, rd[i].failures);
        assert_true(rd[i].checks > 0);
        assert_int_equal(rd[i].failures, 0);
        assert_int_equal(rd[i].backwards, 0);
    }
}

static void test_empty_holder(void **state)
{
    (void)state;
    ward_intel_live_t *live = ward_intel_live_create();
    ward_intel_live_reader_register();
    ward_ip_t a = ip("1.2.3.4");
    assert_false(ward_intel_live_match(live, &a, 0, NULL));
    ward_intel_live_read_lock();
    assert_null(ward_intel_live_get(live));
    ward_intel_live_read_unlock();
    ward_intel_live_reader_unregister();
    ward_intel_live_destroy(live);
    ward_intel_live_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_holder),
        cmocka_unit_test(test_publish_while_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
