/*
 * Growable arrays: the one place that doubles an array's capacity. Every module of the service
 * keeps its lists as (pointer, count, capacity) and calls WARD_GROW before appending.
 */
#ifndef WARD_GROW_H
#define WARD_GROW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* See WARD_GROW. arrp points at the array's pointer (of any element type). */
static inline bool ward__grow(void *arrp, size_t n, size_t *cap, size_t size, size_t initial)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : initial;
    if (nc < *cap || nc > SIZE_MAX / size)
        return false;
    void *old, *p;
    memcpy(&old, arrp, sizeof old);
    p = realloc(old, nc * size);
    if (p == NULL)
        return false;
    memcpy(arrp, &p, sizeof p);
    *cap = nc;
    return true;
}

/**
 * Make room for one more element in arr (n elements, cap allocated, cap a size_t lvalue):
 * when full, the capacity doubles (from `initial`). True when there is room; false when out of
 * memory, with the array, n and cap unchanged.
 */
#define WARD_GROW(arr, n, cap, initial) ward__grow(&(arr), (n), &(cap), sizeof *(arr), (initial))

#endif
