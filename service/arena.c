/* See arena.h. */
#include "arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN alignof(max_align_t)

void ward_arena_init(ward_arena_t *a, void *base, size_t cap)
{
    a->base = base;
    a->used = 0;
    a->cap = base != NULL ? cap : 0;
    a->spill = NULL;
}

void *ward_arena_alloc(ward_arena_t *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    size_t n = count * size;
    uintptr_t at = ((uintptr_t)a->base + a->used + (ALIGN - 1)) & ~(uintptr_t)(ALIGN - 1);
    size_t off = a->base != NULL ? (size_t)(at - (uintptr_t)a->base) : a->cap;
    if (a->base != NULL && off <= a->cap && n <= a->cap - off) {
        a->used = off + n;
        return a->base + off;
    }
    /* A block of its own: a header word (the list) padded to ALIGN, then the bytes. */
    if (n > SIZE_MAX - ALIGN)
        return NULL;
    uint8_t *b = malloc(ALIGN + n);
    if (b == NULL)
        return NULL;
    memcpy(b, &a->spill, sizeof a->spill);
    a->spill = b;
    return b + ALIGN;
}

void *ward_arena_calloc(ward_arena_t *a, size_t count, size_t size)
{
    void *p = ward_arena_alloc(a, count, size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

void ward_arena_release(ward_arena_t *a)
{
    while (a->spill != NULL) {
        void *next;
        memcpy(&next, a->spill, sizeof next);
        free(a->spill);
        a->spill = next;
    }
    a->used = 0;
}
