/*
 * queue: the bounded hand-off from the MQTT network thread to the worker.
 *
 * The producer (libmosquitto's on_message) copies topic and payload into one allocation and pushes
 * it. The queue is bounded in messages and in payload bytes (a message larger than the byte budget
 * still goes in when the queue is empty). When the queue is full the push waits for room instead
 * of dropping: a QoS 1 message the broker has handed over must never be lost silently; each wait
 * is counted (back-pressure reaches the broker, which holds further messages). The consumer (the
 * worker) pops in batches.
 *
 * Threads: one or more producers, one consumer; a mutex and two condition variables inside.
 * Invariant: after ward_queue_close, pushes fail and the consumer drains what is left, then gets 0.
 */
#ifndef WARD_QUEUE_H
#define WARD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ward_msg {
    char *topic;      /**< NUL-terminated, inside the same allocation */
    uint8_t *payload; /**< len bytes, inside the same allocation */
    size_t len;
    int64_t received_ms;
    void *prep;                /**< what a stage attached to it (process.c), or NULL */
    void (*prep_free)(void *); /**< frees prep (by ward_msg_free) */
} ward_msg_t;

typedef struct ward_queue ward_queue_t;

typedef struct ward_queue_stats {
    uint64_t pushed;
    uint64_t full_waits; /**< pushes that had to wait for room */
    size_t depth;        /**< messages waiting now */
    size_t bytes;        /**< payload bytes waiting now */
    size_t depth_max;
} ward_queue_stats_t;

/** One allocation holding the message, its topic and its payload. NULL on out of memory. */
ward_msg_t *ward_msg_new(const char *topic, const void *payload, size_t len, int64_t received_ms);
void ward_msg_free(ward_msg_t *m);

/** A queue of at most capacity messages holding at most max_bytes of payload (0: no byte limit). */
ward_queue_t *ward_queue_new(size_t capacity, size_t max_bytes);
void ward_queue_free(ward_queue_t *q); /* frees messages still queued */

/** Push, waiting while full. Takes ownership of m on success; false when the queue is closed. */
bool ward_queue_push(ward_queue_t *q, ward_msg_t *m);

/**
 * Pop up to max messages, waiting up to timeout_ms for the first. Returns the number popped; 0 on
 * timeout or when closed and empty (*closed tells which, if not NULL).
 */
size_t ward_queue_pop(ward_queue_t *q, ward_msg_t **out, size_t max, int timeout_ms, bool *closed);

/**
 * Like ward_queue_pop, but once the first message is there, wait up to linger_ms more for at
 * least min of them (fewer if the queue closes or the linger ends). A consumer much faster than
 * its producer then wakes once per batch instead of once per message: pushes wake it only when
 * the queue turns non-empty or reaches min.
 */
size_t ward_queue_pop_batch(ward_queue_t *q, ward_msg_t **out, size_t max, size_t min,
                            int linger_ms, int timeout_ms, bool *closed);

/** Refuse further pushes and wake everyone. */
void ward_queue_close(ward_queue_t *q);

void ward_queue_stats(ward_queue_t *q, ward_queue_stats_t *out);

#endif
