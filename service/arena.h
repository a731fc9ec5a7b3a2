/*
 * arena: a bump allocator over a buffer the caller provides, for the many small arrays of one
 * decoded report (wire.c) and what the pipeline derives from it (process.c): they are allocated
 * on one thread and freed together on another, so one block instead of a dozen malloc/free pairs
 * across threads. When the buffer is used up, further allocations get blocks of their own
 * (malloc), freed by ward_arena_release.
 *
 * Threads: an arena is used by one thread at a time.
 */
#ifndef WARD_ARENA_H
#define WARD_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct ward_arena {
    uint8_t *base;
    size_t used, cap;
    void *spill; /* blocks malloc'd when base was full: a list through their first word */
} ward_arena_t;

/** An arena over base[0..cap) (may be NULL/0: every allocation spills). */
void ward_arena_init(ward_arena_t *a, void *base, size_t cap);
/** count * size bytes aligned for any type (may be 0), or NULL when out of memory (or on
 *  overflow); ward_arena_calloc zeroes them. */
void *ward_arena_alloc(ward_arena_t *a, size_t count, size_t size);
void *ward_arena_calloc(ward_arena_t *a, size_t count, size_t size);
/** Free the spilled blocks (not base); the arena is empty again. */
void ward_arena_release(ward_arena_t *a);

#endif
