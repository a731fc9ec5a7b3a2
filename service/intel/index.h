/*
 * The threat-intelligence match index: an immutable structure built once from an array of
 * indicators, then shared read-only by any number of threads (see live.h for how a new index
 * replaces the live one without stopping readers).
 *
 * What it answers, for one address:
 *  - the longest match: the indicator on the most specific prefix that covers the address
 *    (ward_intel_index_lookup); when several indicators sit on that prefix (several feeds list the
 *    same address or range) the one with the highest confidence wins, ties to the lowest id;
 *  - every match: all indicators on all prefixes that cover the address, most specific prefix first
 *    (ward_intel_index_lookup_all), the evidence for an alert.
 *
 * Families. Addresses are 16 bytes (indicator.h). An address inside ::ffff:0:0/96 is an IPv4
 * address and is matched only against IPv4 indicators (prefix >= 96 inside ::ffff:0:0/96, which is
 * what an IPv4 feed entry becomes, and also what an IPv6 entry such as ::ffff:10.0.0.0/104 means).
 * Every other address is matched only against the other indicators. So the IPv4 default route is
 * 0.0.0.0/0 (mapped prefix 96), and an IPv6 range that happens to contain ::ffff:0:0/96 (::/0,
 * ::/8 in a bogon list) never matches IPv4 traffic.
 *
 * Ids. The index refers to indicators by their position in the array given to the build (a 32-bit
 * id). It does not copy the array: the caller keeps it alive and unchanged for as long as the
 * index exists, or hands it over with ward_intel_index_set_release() so that it is released with
 * the index (that is how the live holder frees a feed set only after the last reader left it).
 *
 * Expiry. An indicator with expires != 0 and expires <= now is dropped at build time (now given to
 * the build) and ignored at lookup time (now given to the lookup), so an index never reports an
 * indicator that has expired since it was built. While now is before the earliest expiry in the
 * index (ward_intel_index_next_expiry) the check costs one comparison per lookup.
 *
 * Threads: build and free run on one thread; lookups are read-only and may run on any number of
 * threads at once, with no locks and no allocation.
 */
#ifndef WARD_INTEL_INDEX_H
#define WARD_INTEL_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "indicator.h"

/** The id lookups return when nothing matches. */
#define WARD_INTEL_NONE UINT32_MAX

/** The most indicators one index accepts (ids are 31 bits inside the index). */
#define WARD_INTEL_INDEX_MAX ((size_t)0x7fffffff)

typedef struct ward_intel_index ward_intel_index_t;

/** Counts of what a build kept and dropped (ward_intel_index_stats). */
typedef struct ward_intel_index_stats {
    size_t indicators; /**< indicators in the index (after dropping expired and invalid ones) */
    size_t expired;    /**< dropped at build: expired at the build's now */
    size_t invalid;    /**< dropped at build: prefix > 128 */
    size_t v4_exact;   /**< distinct IPv4 /32 addresses */
    size_t v4_ranges;  /**< distinct IPv4 ranges (/0 to /31) */
    size_t v6_exact;   /**< distinct IPv6 /128 addresses */
    size_t v6_ranges;  /**< distinct IPv6 ranges (/0 to /127) */
    size_t bytes;      /**< heap bytes held by the index (the indicator array not included) */
} ward_intel_index_stats_t;

/**
 * Builds an index over ind[0..n-1]. Host bits below a prefix are ignored (treated as zero).
 * Indicators with a prefix above 128, and those expired at now, are left out (counted in the
 * stats). ind may be NULL when n is 0. The array is borrowed, not copied (see the top of this
 * file).
 *
 * Returns the index, or NULL when memory runs out or n exceeds WARD_INTEL_INDEX_MAX.
 */
ward_intel_index_t *ward_intel_index_build(const ward_indicator_t *ind, size_t n, int64_t now);

/**
 * Makes the index call release(arg) when it is freed, after which it no longer uses the indicator
 * array. Typical use: release frees the feed set that owns the array. Replaces any earlier setting.
 */
void ward_intel_index_set_release(ward_intel_index_t *idx, void (*release)(void *), void *arg);

/** Frees the index (NULL is fine), then calls its release function if one was set. */
void ward_intel_index_free(ward_intel_index_t *idx);

/**
 * The longest match for addr at time now: the id of the chosen indicator (see the top of this
 * file), or WARD_INTEL_NONE. The hot path: no allocation, no locks, no writes.
 */
uint32_t ward_intel_index_lookup(const ward_intel_index_t *idx, const ward_ip_t *addr, int64_t now);

/**
 * The longest match for each of addrs[0..n) into ids[0..n): the same answers as n calls of
 * ward_intel_index_lookup, faster, because the memory each lookup needs is prefetched a few
 * lookups ahead instead of waited for one lookup at a time. For batches of flows (a report).
 */
void ward_intel_index_lookup_many(const ward_intel_index_t *idx, const ward_ip_t *addrs, size_t n,
                                  int64_t now, uint32_t *ids);

/**
 * Every indicator that matches addr at time now: most specific prefix first; on one prefix by
 * confidence (highest first), then id. Writes at most max ids to ids (which may be NULL when max is
 * 0) and returns how many match, which may be more than max (call again with a bigger buffer).
 */
size_t ward_intel_index_lookup_all(const ward_intel_index_t *idx, const ward_ip_t *addr,
                                   int64_t now, uint32_t *ids, size_t max);

/** Heap bytes held by the index, not counting the indicator array. */
size_t ward_intel_index_memory_bytes(const ward_intel_index_t *idx);

/** The earliest expiry (Unix seconds) among the indicators in the index; 0 when none expires.
 *  A holder that wants expired indicators gone from memory rebuilds after this time. */
int64_t ward_intel_index_next_expiry(const ward_intel_index_t *idx);

/** The array the index was built over (ids are positions in it); NULL for an empty build. */
const ward_indicator_t *ward_intel_index_indicators(const ward_intel_index_t *idx);

/** What the build kept and dropped, and the memory it holds. */
void ward_intel_index_stats(const ward_intel_index_t *idx, ward_intel_index_stats_t *out);

#endif /* WARD_INTEL_INDEX_H */
