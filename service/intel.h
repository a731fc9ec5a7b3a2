/*
 * intel: threat-intelligence IP lists and the index that matches addresses against them.
 *
 * A list is plain text: one IPv4 or IPv6 address or CIDR per line; '#' starts a comment (whole
 * line or after the address); blank lines are skipped. A bad line is reported as
 * "<source>:<line>: <reason>" and skipped; it never fails the load. Each entry keeps its text as
 * written ("203.0.113.0/24", the indicator's value) and its source (the file path).
 *
 * Shape: a builder collects entries from any number of files or buffers; ward_intel_build turns it
 * into an immutable index that any number of threads may look up concurrently without locks.
 * Reloading means building a new index beside the live one and swapping a pointer (the later RCU
 * index replaces this one behind the same three calls: build, lookup, free).
 *
 * Addresses are compared in the IPv4-mapped space (addr.h): an IPv4 entry a.b.c.d/n covers
 * ::ffff:a.b.c.d/(96+n), so an IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 entries and
 * an entry written as ::ffff:a.b.c.d matches the IPv4 address.
 *
 * Threads: a builder belongs to one thread; an index is read-only after build.
 */
#ifndef WARD_INTEL_H
#define WARD_INTEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

typedef struct ward_intel_builder ward_intel_builder_t;
typedef struct ward_intel ward_intel_t;

/** Called once per bad line; reason is a short English phrase. */
typedef void (*ward_intel_error_fn)(void *ctx, const char *source, unsigned long line,
                                    const char *reason);

/** One match: pointers into the index, valid while the index lives. */
typedef struct ward_intel_match {
    const char *value;  /**< the entry as written in its list */
    const char *source; /**< the list's source (file path) */
    uint8_t prefix;     /**< prefix length in the mapped space (IPv4 /24 is 120) */
} ward_intel_match_t;

/** New builder. on_error NULL: bad lines are logged as warnings "<source>:<line>: <reason>". */
ward_intel_builder_t *ward_intel_builder_new(ward_intel_error_fn on_error, void *ctx);

/**
 * Parse a list held in memory (any bytes: NULs, no final newline, CRLF are all fine). Returns the
 * number of entries added; *bad (if not NULL) gets the number of bad lines. -1 on out of memory.
 */
long ward_intel_builder_add_buffer(ward_intel_builder_t *b, const char *source, const char *data,
                                   size_t len, size_t *bad);

/** Read and parse a file; source is its path. -1 if it cannot be read (reason in err). */
long ward_intel_builder_add_file(ward_intel_builder_t *b, const char *path, size_t *bad, char *err,
                                 size_t err_len);

/** Build the immutable index and free the builder (also on failure: NULL = out of memory). */
ward_intel_t *ward_intel_build(ward_intel_builder_t *b);

/** Free a builder that was not built. */
void ward_intel_builder_free(ward_intel_builder_t *b);

/** Number of entries in the index. */
size_t ward_intel_size(const ward_intel_t *idx);

/**
 * Entries covering addr, longest prefix first (and, for one prefix, in load order); at most max
 * are written to out. Returns the number written; 0 = no match. idx may be NULL (no lists).
 */
size_t ward_intel_lookup(const ward_intel_t *idx, const ward_addr_t *addr, ward_intel_match_t *out,
                         size_t max);

void ward_intel_free(ward_intel_t *idx);

#endif
