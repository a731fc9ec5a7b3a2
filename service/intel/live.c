/*
 * The live index holder (live.h has the model). Owns: the published index pointer and the
 * publishers' mutex. Threads: any registered reader (read side), any one publisher at a time.
 * Invariant: live->cur is NULL or a complete, immutable index; an index unpublished by an exchange
 * is freed only after a grace period.
 *
 * liburcu is used through its ordinary (non-_LGPL_SOURCE) API, so read_lock/unlock are calls into
 * the library rather than inlined; at two calls per batch of lookups that costs nothing visible.
 */
#include "live.h"

#include <pthread.h>
#include <stdlib.h>

#include <urcu/urcu-memb.h>

struct ward_intel_live {
    ward_intel_index_t *cur; /* RCU-protected: read with rcu_dereference, replaced by exchange */
    pthread_mutex_t pub;     /* serialises publishers; readers never touch it */
    uint64_t generation;     /* written under pub */
};

ward_intel_live_t *ward_intel_live_create(void)
{
    ward_intel_live_t *live = calloc(1, sizeof *live);
    if (live == NULL)
        return NULL;
    if (pthread_mutex_init(&live->pub, NULL) != 0) {
        free(live);
        return NULL;
    }
    return live;
}

void ward_intel_live_destroy(ward_intel_live_t *live)
{
    if (live == NULL)
        return;
    /* No reader may remain (documented), but a reader that just left may still be in a
     * section that started before: wait for it before freeing. */
    ward_intel_index_t *old = rcu_xchg_pointer(&live->cur, NULL);
    urcu_memb_synchronize_rcu();
    ward_intel_index_free(old);
    pthread_mutex_destroy(&live->pub);
    free(live);
}

void ward_intel_live_reader_register(void)
{
    urcu_memb_register_thread();
}

void ward_intel_live_reader_unregister(void)
{
    urcu_memb_unregister_thread();
}

void ward_intel_live_read_lock(void)
{
    urcu_memb_read_lock();
}

void ward_intel_live_read_unlock(void)
{
    urcu_memb_read_unlock();
}

const ward_intel_index_t *ward_intel_live_get(const ward_intel_live_t *live)
{
    return rcu_dereference(live->cur);
}

uint64_t ward_intel_live_publish(ward_intel_live_t *live, ward_intel_index_t *idx)
{
    pthread_mutex_lock(&live->pub);
    /* The exchange is a full barrier: every write of the build is visible to a reader that
     * sees the new pointer. */
    ward_intel_index_t *old = rcu_xchg_pointer(&live->cur, idx);
    uint64_t gen = ++live->generation;
    /* Readers that got old may still use it; the grace period ends when all of them have left
     * their read-side sections. New readers already see idx. */
    urcu_memb_synchronize_rcu();
    pthread_mutex_unlock(&live->pub);
    ward_intel_index_free(old);
    return gen;
}

bool ward_intel_live_match(const ward_intel_live_t *live, const ward_ip_t *addr, int64_t now,
                           ward_indicator_t *out)
{
    bool found = false;
    urcu_memb_read_lock();
    const ward_intel_index_t *idx = rcu_dereference(live->cur);
    uint32_t id = ward_intel_index_lookup(idx, addr, now);
    if (id != WARD_INTEL_NONE) {
        if (out != NULL)
            *out = ward_intel_index_indicators(idx)[id];
        found = true;
    }
    urcu_memb_read_unlock();
    return found;
}
