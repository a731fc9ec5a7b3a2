/*
 * queue: a ring buffer of message pointers under one mutex. See queue.h.
 */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ward_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    ward_msg_t **ring;
    size_t cap, head, count;
    size_t bytes, max_bytes;
    bool closed;
    size_t wake_at; /* a consumer lingers for this many (ward_queue_pop_batch); 0 = none */
    ward_queue_stats_t stats;
};

ward_msg_t *ward_msg_new(const char *topic, const void *payload, size_t len, int64_t received_ms)
{
    size_t tlen = strlen(topic);
    if (len > SIZE_MAX - sizeof(ward_msg_t) - tlen - 1)
        return NULL;
    ward_msg_t *m = malloc(sizeof *m + tlen + 1 + len);
    if (m == NULL)
        return NULL;
    m->topic = (char *)(m + 1);
    memcpy(m->topic, topic, tlen + 1);
    m->payload = (uint8_t *)m->topic + tlen + 1;
    if (len > 0)
        memcpy(m->payload, payload, len);
    m->len = len;
    m->received_ms = received_ms;
    m->prep = NULL;
    m->prep_free = NULL;
    return m;
}

void ward_msg_free(ward_msg_t *m)
{
    if (m != NULL && m->prep != NULL && m->prep_free != NULL)
        m->prep_free(m->prep);
    free(m);
}

ward_queue_t *ward_queue_new(size_t capacity, size_t max_bytes)
{
    ward_queue_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->ring = calloc(capacity ? capacity : 1, sizeof *q->ring);
    if (q->ring == NULL) {
        free(q);
        return NULL;
    }
    q->cap = capacity ? capacity : 1;
    q->max_bytes = max_bytes;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_cond_init(&q->not_full, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

void ward_queue_free(ward_queue_t *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->count; i++)
        ward_msg_free(q->ring[(q->head + i) % q->cap]);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->ring);
    free(q);
}

static bool full(const ward_queue_t *q, size_t len)
{
    if (q->count == q->cap)
        return true;
    return q->max_bytes > 0 && q->count > 0 &&
           len > q->max_bytes - (q->bytes < q->max_bytes ? q->bytes : q->max_bytes);
}

bool ward_queue_push(ward_queue_t *q, ward_msg_t *m)
{
    pthread_mutex_lock(&q->mu);
    if (full(q, m->len) && !q->closed)
        q->stats.full_waits++;
    while (full(q, m->len) && !q->closed)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return false;
    }
    q->ring[(q->head + q->count) % q->cap] = m;
    q->count++;
    q->bytes += m->len;
    q->stats.pushed++;
    if (q->count > q->stats.depth_max)
        q->stats.depth_max = q->count;
    /* A lingering consumer (there is one consumer, and it lingers only once a message is there)
     * waits for wake_at messages: waking it for each one would cost a futex call and a context
     * switch per message. */
    if (q->wake_at == 0 || q->count >= q->wake_at)
        pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return true;
}

static void deadline_in(struct timespec *d, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, d);
    d->tv_sec += ms / 1000;
    d->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (d->tv_nsec >= 1000000000L) {
        d->tv_sec++;
        d->tv_nsec -= 1000000000L;
    }
}

size_t ward_queue_pop_batch(ward_queue_t *q, ward_msg_t **out, size_t max, size_t min,
                            int linger_ms, int timeout_ms, bool *closed)
{
    struct timespec deadline;
    deadline_in(&deadline, timeout_ms);
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed) {
        if (pthread_cond_timedwait(&q->not_empty, &q->mu, &deadline) == ETIMEDOUT)
            break;
    }
    if (min > 1 && linger_ms > 0 && q->count > 0 && q->count < min && !q->closed) {
        deadline_in(&deadline, linger_ms);
        q->wake_at = min;
        while (q->count < min && !q->closed) {
            if (pthread_cond_timedwait(&q->not_empty, &q->mu, &deadline) == ETIMEDOUT)
                break;
        }
        q->wake_at = 0;
    }
    size_t n = 0;
    while (n < max && q->count > 0) {
        out[n] = q->ring[q->head];
        q->bytes -= out[n]->len;
        n++;
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    if (closed != NULL)
        *closed = q->closed && q->count == 0;
    if (n > 0)
        pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t ward_queue_pop(ward_queue_t *q, ward_msg_t **out, size_t max, int timeout_ms, bool *closed)
{
    return ward_queue_pop_batch(q, out, max, 1, 0, timeout_ms, closed);
}

void ward_queue_close(ward_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

void ward_queue_stats(ward_queue_t *q, ward_queue_stats_t *out)
{
    pthread_mutex_lock(&q->mu);
    *out = q->stats;
    out->depth = q->count;
    out->bytes = q->bytes;
    pthread_mutex_unlock(&q->mu);
}
