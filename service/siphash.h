/*
 * siphash: SipHash-2-4 (Aumasson and Bernstein, 2012), a keyed 64-bit hash. Used where a hash
 * decides whether something is written (retro.c's contact cache), so that a device's peers cannot
 * choose addresses and ports that collide with another contact: without the key, which wardd
 * draws at random at start, collisions cannot be aimed.
 *
 * Threads: pure functions.
 */
#ifndef WARD_SIPHASH_H
#define WARD_SIPHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ward_siphash_key {
    uint64_t k0, k1;
} ward_siphash_key_t;

uint64_t ward_siphash(const ward_siphash_key_t *key, const void *data, size_t len);

/** A key from the system's random source (getrandom); false if it could not be read. */
bool ward_siphash_random_key(ward_siphash_key_t *key);

#endif
