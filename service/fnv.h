/*
 * FNV-1a, 64-bit: the one unkeyed hash of the service, for hash tables keyed by device id and
 * for values that are stored (report part digests, alert fold keys), so it must never change.
 * Where a peer could aim collisions at something that decides what is written, use siphash.h.
 */
#ifndef WARD_FNV_H
#define WARD_FNV_H

#include <stddef.h>
#include <stdint.h>

#define WARD_FNV_SEED 0xcbf29ce484222325ull

/** n bytes at p, continuing from h (WARD_FNV_SEED to start). */
static inline uint64_t ward_fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/** The bytes of string s (not its terminator), continuing from h. */
static inline uint64_t ward_fnv1a_str(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif
