/*
 * The live match index: the one index that lookups use now, replaced whole on every feed reload.
 *
 * Model (userspace RCU, liburcu's "memb" flavour):
 *  - Readers (ingest workers, the API) register once per thread (ward_intel_live_reader_register),
 *    then bracket each batch of lookups with ward_intel_live_read_lock/unlock and fetch the index
 *    with ward_intel_live_get inside the bracket. Readers never wait, never take a lock and never
 *    write shared memory: a read-side section is a thread-local counter update and a fence.
 *  - The index a reader got stays valid, with its indicator array, until its read_unlock. Ids and
 *    indicator pointers must not be kept past it (copy what an alert needs, or use
 *    ward_intel_live_match, which copies the indicator out).
 *  - A publisher builds the next index beside the live one (ward_intel_index_build, any thread,
 *    no lock held), then calls ward_intel_live_publish: one atomic pointer exchange makes it live
 *    for every lookup that starts after it, then the publisher waits for a grace period (every
 *    read-side section that might still see the old index has ended) and frees the old index,
 *    which calls the old index's release function (ward_intel_index_set_release) so the feed set
 *    that owned the old indicator array goes with it. Lookups never see a half-built index,
 *    because an index is complete and immutable before its pointer is published.
 *  - Publishers are serialised by a mutex that readers never touch; a read-side section must not
 *    call ward_intel_live_publish or ward_intel_live_destroy (that would wait for itself).
 *  - Memory: two indexes exist between the exchange and the end of the grace period.
 */
#ifndef WARD_INTEL_LIVE_H
#define WARD_INTEL_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "index.h"

typedef struct ward_intel_live ward_intel_live_t;

/** A holder with no index (lookups find nothing until the first publish); NULL when out of memory.
 */
ward_intel_live_t *ward_intel_live_create(void);

/** Frees the holder and its index. No reader may use it any more, and no publish may be running. */
void ward_intel_live_destroy(ward_intel_live_t *live);

/** Makes the calling thread a reader; call once before its first read_lock. */
void ward_intel_live_reader_register(void);

/** Ends the calling thread's reader role; call before the thread exits, outside a read section. */
void ward_intel_live_reader_unregister(void);

/** Opens a read-side section (may nest). Never blocks. */
void ward_intel_live_read_lock(void);

/** Closes the read-side section opened by the matching read_lock. */
void ward_intel_live_read_unlock(void);

/** The live index (NULL before the first publish). Call only inside a read-side section; the
 *  pointer, and the indicator array behind it, are valid until the section ends. */
const ward_intel_index_t *ward_intel_live_get(const ward_intel_live_t *live);

/**
 * Makes idx (complete, built by the caller; NULL to empty the holder) the live index, waits until
 * no reader can still see the previous one, then frees it. Returns the number of indexes published
 * so far, this one included (the generation of idx).
 */
uint64_t ward_intel_live_publish(ward_intel_live_t *live, ward_intel_index_t *idx);

/**
 * Convenience for one-off lookups by a registered reader: read_lock, longest match, copy of the
 * matching indicator into *out, read_unlock. Returns false when nothing matches.
 */
bool ward_intel_live_match(const ward_intel_live_t *live, const ward_ip_t *addr, int64_t now,
                           ward_indicator_t *out);

#endif /* WARD_INTEL_LIVE_H */
