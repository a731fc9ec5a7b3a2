/*
 * queue: batches popped with ward_queue_pop_batch (what arrived, at most max; lingering for min
 * ends with fewer when nothing more comes or the queue closes), order kept, and a producer
 * thread that waits for room while the consumer lingers.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "queue.h"

static ward_msg_t *msg(int i)
{
    char p[16];
    int n = snprintf(p, sizeof p, "%d", i);
    return ward_msg_new("t", p, (size_t)n, i);
}

static void batches(void **state)
{
    (void)state;
    ward_queue_t *q = ward_queue_new(16, 0);
    ward_msg_t *out[8];
    bool closed = true;
    /* Empty: the timeout ends the wait with nothing. */
    assert_int_equal(ward_queue_pop_batch(q, out, 8, 4, 5, 5, &closed), 0);
    assert_false(closed);
    /* Fewer than min: the linger ends with what is there. */
    assert_true(ward_queue_push(q, msg(0)));
    assert_true(ward_queue_push(q, msg(1)));
    assert_int_equal(ward_queue_pop_batch(q, out, 8, 4, 5, 1000, &closed), 2);
    assert_int_equal(out[0]->received_ms, 0);
    assert_int_equal(out[1]->received_ms, 1);
    ward_msg_free(out[0]);
    ward_msg_free(out[1]);
    /* More than max: max of them, in order, the rest stays. */
    for (int i = 2; i < 12; i++)
        assert_true(ward_queue_push(q, msg(i)));
    assert_int_equal(ward_queue_pop_batch(q, out, 8, 4, 5, 1000, &closed), 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(out[i]->received_ms, i + 2);
        ward_msg_free(out[i]);
    }
    /* Closed while lingering: what is left, and closed once drained. */
    ward_queue_close(q);
    assert_int_equal(ward_queue_pop_batch(q, out, 8, 4, 1000, 1000, &closed), 2);
    assert_true(closed);
    ward_msg_free(out[0]);
    ward_msg_free(out[1]);
    assert_int_equal(ward_queue_pop_batch(q, out, 8, 4, 5, 5, &closed), 0);
    assert_true(closed);
    ward_queue_free(q);
}

static void *produce(void *arg)
{
    ward_queue_t *q = arg;
    for (int i = 0; i < 1000; i++)
        if (!ward_queue_push(q, msg(i)))
            return (void *)1;
    ward_queue_close(q);
    return NULL;
}

/* A queue smaller than the batch the consumer lingers for: the producer waits for room, the
 * consumer's linger ends, nothing is lost or reordered. */
static void small_queue(void **state)
{
    (void)state;
    ward_queue_t *q = ward_queue_new(3, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, produce, q), 0);
    ward_msg_t *out[64];
    int next = 0;
    bool closed = false;
    while (!closed) {
        size_t n = ward_queue_pop_batch(q, out, 64, 32, 2, 1000, &closed);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(out[i]->received_ms, next++);
            ward_msg_free(out[i]);
        }
    }
    void *rc;
    pthread_join(t, &rc);
    assert_null(rc);
    assert_int_equal(next, 1000);
    ward_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches),
        cmocka_unit_test(small_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
