/*
 * process: the report pipeline and the worker thread. See process.h.
 *
 * Counting: each batch counts into a local tally that is added to the shared counters only when
 * its transaction commits. If a batch fails in the database it is rolled back and its messages are
 * retried one transaction each, so one bad write loses at most its own report part, and counters
 * never count work that was rolled back.
 */
#include "process.h"
#include "fnv.h"
#include "grow.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "behavior.h"
#include "clock.h"
#include "device_alerts.h"
#include "groupcheck.h"
#include "hygiene.h"
#include "log.h"
#include "wire.h"

/* The most intel matches kept per flow (evidence "matches"): the most specific names the alert. */
#define MATCH_MAX 8

#define PREP_POOL_MAX 1024

typedef struct prep_pool {
    pthread_mutex_t mu;
    void *head; /* free blocks, a list through their first word */
    size_t n;
} prep_pool_t;

typedef struct tally {
    uint64_t received, accepted, rejected, duplicates, flows, intel_matches, alerts_new,
        alerts_folded;
} tally_t;

struct ward_processor {
    ward_store_t *store;
    const ward_intel_t *intel;
    ward_retro_t *retro; /* contact history and retro-hunt (retro.h), may be NULL */
    ward_alert_sink_t *sink;
    ward_behavior_t *behavior; /* detectors' per-device state (behavior.h) */
    ward_hygiene_t *hygiene;   /* recommendations (hygiene.h) */
    ward_groupcheck_t *groups; /* security groups, their rules and baselines (groupcheck.h) */
    int64_t next_tick_ms;      /* monotonic time of the next ward_processor_tick (worker) */

    tally_t batch;         /* this transaction's counts */
    ward_alert_t *pending; /* new alerts of this transaction, for the sink after commit */
    size_t n_pending, cap_pending;

    pthread_t thread, decoder;
    bool started, has_decoder;
    bool own_ready; /* ready is a queue of the processor's own (with the decoder thread) */
    atomic_bool running;
    ward_queue_t *queue;                        /* from the MQTT thread: raw messages (decoder) */
    ward_queue_t *ready;                        /* decoder -> worker: the same messages, prepared */
    ward_msg_t *batch_msgs[WARD_PROCESS_BATCH]; /* the worker's batch */
    prep_pool_t pool;                           /* blocks of prepared messages, for reuse */

    _Atomic uint64_t received, accepted, rejected, duplicates, flows, intel_matches, alerts_new,
        alerts_folded, store_errors;
};

static int keep_pending(ward_processor_t *p, const ward_alert_t *a);
static void pool_drain(prep_pool_t *pl);

/* The behaviour detectors' way to raise an alert (behavior.h, ward_behavior_emit_fn): fold it
 * into the store, count it, queue a new one for the sink. */
static int emit_alert(void *ctx, ward_alert_t *a)
{
    ward_processor_t *p = ctx;
    bool is_new = false;
    int rc = ward_alerts_raise(p->store, a, &is_new);
    if (rc == 0 && is_new) {
        WARD_INFO("device %s: alert %" PRId64 " %s: %s", a->device, a->id, a->type, a->title);
        p->batch.alerts_new++;
        rc = keep_pending(p, a);
    } else if (rc == 0) {
        p->batch.alerts_folded++;
    }
    return rc;
}

/* A group rule or baseline alert was stored new, reopened or resolved (groupcheck.h): count it
 * and queue it for the sink. */
static int on_group_alert(void *ctx, const ward_alert_t *a, bool is_new)
{
    ward_processor_t *p = ctx;
    if (is_new)
        p->batch.alerts_new++;
    return keep_pending(p, a);
}

/* The detector thresholds and the security group of a device, from the registry as last loaded
 * (ward_processor_begin reloads it when wardctl changed it, at the start of each transaction). */
static const ward_behavior_config_t *device_behavior(ward_processor_t *p, const char *device)
{
    return ward_registry_group(ward_groupcheck_registry(p->groups), device)->behavior;
}

static const ward_behavior_config_t *behavior_of(void *ctx, const char *device)
{
    return device_behavior(ctx, device);
}

static const char *device_group(ward_processor_t *p, const char *device)
{
    return ward_registry_group_of(ward_groupcheck_registry(p->groups), device);
}

ward_processor_t *ward_processor_new(ward_store_t *store, const ward_intel_t *intel,
                                     ward_alert_sink_t *sink)
{
    ward_processor_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->store = store;
    pthread_mutex_init(&p->pool.mu, NULL);
    p->intel = intel;
    p->sink = sink;
    char err[256];
    if ((p->groups = ward_groupcheck_new(store, on_group_alert, p, err, sizeof err)) == NULL) {
        WARD_ERROR("groups: %s", err);
        free(p);
        return NULL;
    }
    p->behavior = ward_behavior_new(store, emit_alert, p);
    p->hygiene = ward_hygiene_new(store, NULL, err, sizeof err);
    if (p->behavior == NULL || p->hygiene == NULL) {
        if (p->hygiene == NULL)
            WARD_ERROR("%s", p->behavior ? err : "out of memory");
        ward_processor_free(p);
        return NULL;
    }
    return p;
}

static void drop_pending(ward_processor_t *p)
{
    for (size_t i = 0; i < p->n_pending; i++)
        ward_alert_clear(&p->pending[i]);
    p->n_pending = 0;
}

void ward_processor_free(ward_processor_t *p)
{
    if (p == NULL)
        return;
    drop_pending(p);
    free(p->pending);
    if (p->own_ready)
        ward_queue_free(p->ready);
    ward_behavior_free(p->behavior);
    ward_hygiene_free(p->hygiene);
    ward_groupcheck_free(p->groups);
    pool_drain(&p->pool);
    pthread_mutex_destroy(&p->pool.mu);
    free(p);
}

/* A topic from the broker is untrusted text: log at most 80 bytes, printable ASCII only. */
static const char *safe_text(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < len && i < 80; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[i] = '\0';
    return buf;
}

static int keep_pending(ward_processor_t *p, const ward_alert_t *a)
{
    if (!WARD_GROW(p->pending, p->n_pending, p->cap_pending, 16))
        return -1;
    p->pending[p->n_pending] = *a;
    json_incref(a->evidence);
    p->n_pending++;
    return 0;
}

/* ---- Preparing: the part of handling a message that needs no database ------------------ */

/* A flow's intel matches, found when the message was prepared. */
typedef struct flow_match {
    size_t flow;  /* index in the report's flows */
    size_t total; /* how many indicators matched (m holds the first MATCH_MAX) */
    ward_intel_match_t m[MATCH_MAX];
} flow_match_t;

typedef enum { PREP_OK, PREP_BAD_TOPIC, PREP_BAD_REPORT, PREP_ID_MISMATCH } prep_outcome_t;

/*
 * A message decoded, validated and matched against the intel index: pure work, done by the
 * decoder thread (or inline by ward_processor_handle) so that the worker, the one database
 * writer, spends its time on what needs the database and the per-device state.
 */
typedef struct prepared {
    prep_outcome_t outcome;
    char id[WARD_DEVICE_ID_MAX + 1]; /* from the topic (PREP_BAD_TOPIC: empty) */
    char reason[256];                /* PREP_BAD_REPORT: why; PREP_ID_MISMATCH: the payload's id */
    ward_wire_report_t r;            /* PREP_OK only */
    int64_t base;                    /* absolute time of the period start (flow.h) */
    ward_flow_t *flows;              /* r's flows as the service keeps them, r.n_flows of them */
    uint64_t *contacts;    /* their contact keys (retro.h), NULL without a contact history */
    flow_match_t *matches; /* flows with at least one match, in flow order */
    size_t n_matches, cap_matches;
    uint64_t intel_gen; /* the index generation the lookups started from */
    ward_arena_t arena; /* r's arrays, flows and contacts: in the bytes after this struct */
    prep_pool_t *pool;  /* where the block goes back to */
} prepared_t;

/* A block: the struct, then its arena. A report of about 20 flows in 700 bytes takes about
 * 5.5 KB decoded (its arrays, flows and contacts); a larger one spills (arena.h). */
#define PREP_BLOCK 8192
#define PREP_HEAD ((sizeof(prepared_t) + 63) & ~(size_t)63)

/* Blocks come from the thread that prepares and go back from the worker: glibc's malloc is slow
 * at that (a block this size is not in its per-thread caches, and the free takes the other
 * thread's arena lock), so freed blocks are kept here for the next messages, up to
 * PREP_POOL_MAX. */
static void *pool_get(prep_pool_t *pl)
{
    pthread_mutex_lock(&pl->mu);
    void *b = pl->head;
    if (b != NULL) {
        memcpy(&pl->head, b, sizeof pl->head);
        pl->n--;
    }
    pthread_mutex_unlock(&pl->mu);
    return b != NULL ? b : malloc(PREP_BLOCK);
}

static void pool_put(prep_pool_t *pl, void *b)
{
    pthread_mutex_lock(&pl->mu);
    if (pl->n < PREP_POOL_MAX) {
        memcpy(b, &pl->head, sizeof pl->head);
        pl->head = b;
        pl->n++;
        b = NULL;
    }
    pthread_mutex_unlock(&pl->mu);
    free(b);
}

static void pool_drain(prep_pool_t *pl)
{
    while (pl->head != NULL) {
        void *b = pl->head;
        memcpy(&pl->head, b, sizeof pl->head);
        free(b);
    }
    pl->n = 0;
}

static void prepared_free(void *arg)
{
    prepared_t *pp = arg;
    if (pp == NULL)
        return;
    if (pp->outcome == PREP_OK)
        ward_wire_report_free(&pp->r);
    free(pp->matches);
    ward_arena_release(&pp->arena);
    pool_put(pp->pool, pp);
}

/*
 * Look every flow's remote address up in the intel index (a registered reader thread, intel.h),
 * replacing the matches found before. The index generation is read first: a reload published
 * after the lookups began makes the worker look again (apply). 0 ok, -1 out of memory.
 */
static int match_flows(const ward_intel_t *intel, prepared_t *pp)
{
    pp->n_matches = 0;
    if (intel == NULL)
        return 0;
    pp->intel_gen = ward_intel_generation(intel);
    int64_t now_s = ward_now_ms() / 1000;
    for (size_t i = 0; i < pp->r.n_flows; i++) {
        flow_match_t fm;
        fm.total = ward_intel_match(intel, &pp->r.flows[i].remote_addr, now_s, fm.m, MATCH_MAX);
        if (fm.total == 0)
            continue;
        if (!WARD_GROW(pp->matches, pp->n_matches, pp->cap_matches, 4))
            return -1;
        fm.flow = i;
        pp->matches[pp->n_matches++] = fm;
    }
    return 0;
}

/* NULL only when out of memory. Intel lookups need a registered reader thread (intel.h). */
static prepared_t *prepare(ward_processor_t *p, const char *topic, const uint8_t *payload,
                           size_t len, int64_t received_ms)
{
    const ward_intel_t *intel = p->intel;
    /* One block: the struct, then its arena (not zeroed: the arena zeroes what it hands out). */
    prepared_t *pp = pool_get(&p->pool);
    if (pp == NULL)
        return NULL;
    memset(pp, 0, sizeof *pp);
    pp->pool = &p->pool;
    ward_arena_init(&pp->arena, (uint8_t *)pp + PREP_HEAD, PREP_BLOCK - PREP_HEAD);
    if (!ward_wire_topic_device(topic, pp->id)) {
        pp->outcome = PREP_BAD_TOPIC;
        return pp;
    }
    if (ward_wire_decode_in(payload, len, &pp->r, pp->reason, sizeof pp->reason, &pp->arena) !=
        WARD_OK) {
        pp->outcome = PREP_BAD_REPORT;
        return pp;
    }
    if (strcmp(pp->r.device_id, pp->id) != 0) {
        snprintf(pp->reason, sizeof pp->reason, "%s", pp->r.device_id);
        ward_wire_report_free(&pp->r);
        pp->outcome = PREP_ID_MISMATCH;
        return pp;
    }
    pp->outcome = PREP_OK;
    pp->base = ward_flow_time_base(&pp->r, received_ms);
    size_t nf = pp->r.n_flows;
    /* Not zeroed: every flow and key is written below. */
    if (nf > 0 && ((pp->flows = ward_arena_alloc(&pp->arena, nf, sizeof *pp->flows)) == NULL ||
                   (p->retro != NULL && (pp->contacts = ward_arena_alloc(
                                             &pp->arena, nf, sizeof *pp->contacts)) == NULL))) {
        prepared_free(pp);
        return NULL;
    }
    size_t idlen = strlen(pp->id);
    for (size_t i = 0; i < nf; i++) {
        ward_flow_from_wire_n(&pp->flows[i], &pp->r, i, pp->id, idlen, pp->base);
        if (pp->contacts != NULL)
            pp->contacts[i] = ward_retro_contact_hash_n(p->retro, &pp->flows[i], idlen);
    }
    if (match_flows(intel, pp) != 0) {
        prepared_free(pp);
        return NULL;
    }
    return pp;
}

/* ---- Applying: the database and the per-device state (the worker) ----------------------- */

static int check_flow(ward_processor_t *p, const ward_flow_t *f, uint64_t contact,
                      const flow_match_t *fm)
{
    if (p->retro != NULL && ward_retro_note_hashed(p->retro, f, contact) != 0)
        return -1;
    if (fm == NULL)
        return 0;
    const ward_intel_match_t *m = fm->m;
    p->batch.intel_matches++;
    ward_alert_t a;
    bool is_new = false;
    ward_alert_intel(&a, f, m, fm->total < MATCH_MAX ? fm->total : MATCH_MAX, fm->total);
    int rc = ward_alerts_raise(p->store, &a, &is_new);
    if (rc == 0 && is_new) {
        char ra[WARD_ADDR_STRLEN];
        ward_addr_format(&f->remote_addr, ra, sizeof ra);
        WARD_INFO("device %s: alert %" PRId64 " %s: %s matches %s (%s)", f->device, a.id, a.type,
                  ra, m[0].value, m[0].source);
        p->batch.alerts_new++;
        rc = keep_pending(p, &a);
    } else if (rc == 0) {
        p->batch.alerts_folded++;
    }
    ward_alert_clear(&a);
    return rc;
}

static int apply(ward_processor_t *p, prepared_t *pp, const char *topic, const uint8_t *payload,
                 size_t len, int64_t received_ms)
{
    char tb[96];
    const char *id = pp->id;
    p->batch.received++;
    switch (pp->outcome) {
    case PREP_BAD_TOPIC:
        WARD_WARN("message on topic \"%s\" rejected: not ward/v1/<device-id>/report with a valid "
                  "device id",
                  safe_text(topic, tb, sizeof tb));
        p->batch.rejected++;
        return 1;
    case PREP_BAD_REPORT:
        WARD_WARN("device %s: report rejected: %s", id, pp->reason);
        p->batch.rejected++;
        return 1;
    case PREP_ID_MISMATCH:
        WARD_WARN("device %s: report rejected: payload device id \"%s\" differs from the topic's",
                  id, pp->reason);
        p->batch.rejected++;
        return 1;
    case PREP_OK:
        break;
    }
    const ward_wire_report_t *rp = &pp->r;
    /* Indicators published since the decoder looked the flows up: look again, so that no report
     * falls between the new index and the retro-hunt of the contact history. */
    if (p->intel != NULL && ward_intel_generation(p->intel) != pp->intel_gen &&
        match_flows(p->intel, pp) != 0)
        return -1;
    if (p->retro != NULL && pp->contacts != NULL)
        ward_retro_prefetch(p->retro, pp->contacts, rp->n_flows);
    /* Absolute times (flow.h): the device's clock when synced, else the receive time. */
    int64_t base = pp->base;
    /* Stored with its payload, the part's digest is computed only if it comes again (store.h). */
    ward_store_part_t part = {id,   rp->boot_id, rp->seq, rp->part_index, 0, received_ms,
                              base, payload,     len};
    int rc = ward_store_part_seen(p->store, &part);
    if (rc <= 0) {
        if (rc == 0) {
            WARD_DEBUG("device %s: duplicate of boot %" PRIu32 " seq %" PRIu64 " part %" PRIu32
                       " ignored",
                       id, rp->boot_id, rp->seq, rp->part_index);
            p->batch.duplicates++;
            /* Same part again: a redelivery when the content is the same, else a replay. */
            uint64_t stored = 0;
            rc =
                ward_store_part_digest(p->store, id, rp->boot_id, rp->seq, rp->part_index, &stored);
            if (rc == 1)
                rc = ward_behavior_duplicate(p->behavior, rp, device_behavior(p, id),
                                             ward_fnv1a(WARD_FNV_SEED, payload, len), stored,
                                             received_ms);
            rc = rc < 0 ? -1 : 0;
        }
        return rc == 0 ? 1 : -1;
    }
    rc = 0; /* a new part (1 above): from here rc is the result of its writes */

    /* The flows are stored with the part (its payload); each is noted and its matches raised. */
    size_t k = 0;
    for (size_t i = 0; rc >= 0 && i < rp->n_flows; i++) {
        const flow_match_t *fm = NULL;
        if (k < pp->n_matches && pp->matches[k].flow == i)
            fm = &pp->matches[k++];
        rc = check_flow(p, &pp->flows[i], pp->contacts ? pp->contacts[i] : 0, fm);
    }
    /* The overflow summary: traffic the agent counted without a flow entry (table full). Kept
     * beside the flows so that flows + overflow add up to what the device's hook saw. */
    int64_t period_ms = (int64_t)(rp->period_end - rp->period_start);
    for (size_t i = 0; rc == 0 && i < rp->n_overflow; i++)
        rc = ward_store_overflow_insert(p->store, id, rp->boot_id, rp->seq, &rp->overflow[i], base,
                                        base + period_ms);
    if (rc == 0) {
        ward_store_device_t d = {id,      rp->agent_version, rp->boot_id,
                                 rp->seq, received_ms,       rp->n_flows};
        rc = ward_store_device_upsert(p->store, &d);
    }
    if (rc == 0 && rp->part_index == 0) /* key 10 is in every part: the first one says it */
        rc = ward_store_device_config_rev(p->store, id, rp->boot_id, rp->seq,
                                          rp->has_config_rev ? rp->config_rev : 0);
    /* On-device detections (key 24) and a rejected config (key 25): alerts of their own. */
    if (rc == 0)
        rc = ward_device_alerts_report(rp, base, received_ms, emit_alert, p);
    /* A priority report (key 11) is the header and key 24 only, sent at once, possibly ahead of
     * queued regular reports with lower seqs: it is not a datapoint (rules windows, baselines,
     * device.silent, seq order) and says nothing about hygiene. The next regular report carries
     * the period's flows. */
    if (rc == 0 && !(rp->has_priority && rp->priority))
        rc = ward_groupcheck_report(p->groups, rp, pp->flows, received_ms);
    if (rc == 0 && !(rp->has_priority && rp->priority))
        rc = ward_behavior_report(p->behavior, rp, device_behavior(p, id), received_ms);
    if (rc == 0 && !(rp->has_priority && rp->priority))
        rc = ward_hygiene_report(p->hygiene, rp, device_group(p, id), received_ms);
    if (rc == 0) {
        p->batch.accepted++;
        p->batch.flows += rp->n_flows;
    }
    return rc;
}

int ward_processor_handle(ward_processor_t *p, const char *topic, const uint8_t *payload,
                          size_t len, int64_t received_ms)
{
    prepared_t *pp = prepare(p, topic, payload, len, received_ms);
    if (pp == NULL) {
        p->batch.received++;
        WARD_ERROR("out of memory: a report on %s was lost", topic);
        return -1;
    }
    int rc = apply(p, pp, topic, payload, len, received_ms);
    prepared_free(pp);
    return rc;
}

void ward_processor_prepare_msg(ward_processor_t *p, ward_msg_t *m)
{
    if (m->prep != NULL && m->prep_free != NULL)
        m->prep_free(m->prep);
    m->prep = prepare(p, m->topic, m->payload, m->len, m->received_ms);
    m->prep_free = prepared_free;
}

int ward_processor_handle_msg(ward_processor_t *p, ward_msg_t *m)
{
    return m->prep != NULL ? apply(p, m->prep, m->topic, m->payload, m->len, m->received_ms)
                           : ward_processor_handle(p, m->topic, m->payload, m->len, m->received_ms);
}

int ward_processor_begin(ward_processor_t *p)
{
    memset(&p->batch, 0, sizeof p->batch);
    drop_pending(p);
    if (p->retro != NULL)
        ward_retro_begin(p->retro); /* contacts gathered per batch, written by _end */
    if (ward_store_begin(p->store) != 0)
        return -1;
    /* Group changes made by wardctl apply from the next transaction (within 100 ms). On error
     * the old copy stays in force (logged). */
    ward_groupcheck_refresh(p->groups);
    return 0;
}

int ward_processor_end(ward_processor_t *p)
{
    if ((p->retro != NULL && ward_retro_flush(p->retro) != 0) ||
        ward_groupcheck_flush(p->groups) != 0 || ward_store_commit(p->store) != 0) {
        drop_pending(p);
        return -1;
    }
    const tally_t *t = &p->batch;
    p->received += t->received;
    p->accepted += t->accepted;
    p->rejected += t->rejected;
    p->duplicates += t->duplicates;
    p->flows += t->flows;
    p->intel_matches += t->intel_matches;
    p->alerts_new += t->alerts_new;
    p->alerts_folded += t->alerts_folded;
    memset(&p->batch, 0, sizeof p->batch);
    for (size_t i = 0; p->sink != NULL && i < p->n_pending; i++)
        ward_alert_sink_write(p->sink, &p->pending[i]);
    drop_pending(p);
    return 0;
}

int ward_processor_tick(ward_processor_t *p, int64_t now_ms)
{
    int rc = ward_groupcheck_tick(p->groups, now_ms);
    return rc == 0 ? ward_behavior_tick(p->behavior, now_ms, behavior_of, p) : rc;
}

/* Every WARD_BEHAVIOR_TICK_MS: the periodic checks (device.silent) in their own transaction. */
static void maybe_tick(ward_processor_t *p)
{
    int64_t mono = ward_mono_ms();
    if (mono < p->next_tick_ms)
        return;
    p->next_tick_ms = mono + WARD_BEHAVIOR_TICK_MS;
    if (ward_processor_begin(p) != 0)
        return;
    if (ward_processor_tick(p, ward_now_ms()) != 0 || ward_processor_end(p) != 0) {
        ward_store_rollback(p->store);
        drop_pending(p);
        p->store_errors++;
    }
}

/*
 * Handle msgs[0..*n) in one transaction. With refill, once those are handled it goes on with
 * what arrives next (popped into msgs[*n..cap), *n grows) while the transaction is younger than
 * WARD_PROCESS_WAIT_MS and messages keep coming: under a steady stream a transaction holds about
 * that much time's reports (up to cap), so the index pages they touch are written to the WAL
 * once per transaction rather than once per small batch; when the stream pauses for
 * WARD_PROCESS_LINGER_MS it commits at once. Returns how many messages it consumed. On a database
 * error the transaction is rolled back and those messages are retried one transaction each.
 */
static size_t run_batch(ward_processor_t *p, ward_msg_t **msgs, size_t *n, size_t cap, bool refill)
{
    int64_t start = ward_mono_ms();
    size_t done = 0;
    bool ok = ward_processor_begin(p) == 0;
    while (ok) {
        if (done == *n) {
            if (!refill || *n == cap || ward_mono_ms() - start >= WARD_PROCESS_WAIT_MS)
                break;
            size_t more = ward_queue_pop_batch(p->ready, msgs + *n, cap - *n, 1, 0,
                                               WARD_PROCESS_LINGER_MS, NULL);
            if (more == 0)
                break;
            *n += more;
        }
        ok = ward_processor_handle_msg(p, msgs[done]) >= 0;
        done++;
        if (ward_mono_ms() - start >= WARD_PROCESS_WAIT_MS)
            break;
    }
    if (done == 0)
        done = 1; /* begin failed: count the first message as handled (lost) below */
    if (ok && ward_processor_end(p) == 0)
        return done;
    ward_store_rollback(p->store);
    if (done == 1) {
        char id[WARD_DEVICE_ID_MAX + 1] = "?";
        ward_wire_topic_device(msgs[0]->topic, id);
        WARD_ERROR("device %s: report part lost: database error", id);
        p->store_errors++;
        return 1;
    }
    WARD_WARN("database error in a batch of %zu reports; retrying them one by one", done);
    for (size_t i = 0; i < done; i++) {
        size_t one = 1;
        run_batch(p, &msgs[i], &one, 1, false);
    }
    return done;
}

/* A slice of the retro-hunt (and the contact history's pruning) in its own transaction. */
static void maybe_retro(ward_processor_t *p)
{
    int64_t mono = ward_mono_ms();
    if (p->retro == NULL || !ward_retro_due(p->retro, mono) || ward_processor_begin(p) != 0)
        return;
    if (ward_retro_step(p->retro, ward_now_ms(), mono, WARD_RETRO_SLICE, emit_alert, p) != 0 ||
        ward_processor_end(p) != 0) {
        ward_store_rollback(p->store);
        ward_retro_rollback(p->retro);
        drop_pending(p);
        p->store_errors++;
    }
}

void ward_processor_set_retro(ward_processor_t *p, ward_retro_t *retro)
{
    p->retro = retro;
}

static void *worker(void *arg)
{
    ward_processor_t *p = arg;
    ward_msg_t **batch = p->batch_msgs;
    pthread_setname_np(pthread_self(), "ward-worker");
    ward_intel_reader_register(); /* retro-hunt and unprepared messages look indicators up */
    for (;;) {
        bool closed = false;
        size_t n =
            ward_queue_pop_batch(p->ready, batch, WARD_PROCESS_BATCH, WARD_PROCESS_LINGER_MIN,
                                 WARD_PROCESS_LINGER_MS, WARD_PROCESS_WAIT_MS, &closed);
        if (n > 0) {
            for (size_t i = 0; i < n;) {
                size_t len = n - i; /* run_batch may pop more behind them */
                size_t done = run_batch(p, batch + i, &len, WARD_PROCESS_BATCH - i, true);
                n = i + len;
                i += done;
            }
            for (size_t i = 0; i < n; i++)
                ward_msg_free(batch[i]);
        } else if (closed) {
            break;
        }
        maybe_tick(p);
        maybe_retro(p);
    }
    ward_intel_reader_unregister();
    /* The decoder (or the MQTT thread, without one) never waits on a worker that is gone. */
    ward_queue_close(p->ready);
    p->running = false;
    return NULL;
}

/* The decoder: prepares each message (decode, validate, intel lookups) and passes it on, in
 * order, to the worker; closes the worker's queue once its own is closed and drained. A message
 * it could not prepare (out of memory) goes on as it is: the worker prepares it itself. */
static void *decoder(void *arg)
{
    ward_processor_t *p = arg;
    ward_msg_t *batch[256];
    pthread_setname_np(pthread_self(), "ward-decoder");
    ward_intel_reader_register();
    for (;;) {
        bool closed = false;
        size_t n = ward_queue_pop_batch(p->queue, batch, sizeof batch / sizeof batch[0],
                                        WARD_DECODE_LINGER_MIN, WARD_PROCESS_LINGER_MS,
                                        WARD_PROCESS_WAIT_MS, &closed);
        for (size_t i = 0; i < n; i++) {
            ward_msg_t *m = batch[i];
            ward_processor_prepare_msg(p, m);
            if (!ward_queue_push(p->ready, m)) { /* cannot happen: only this thread closes it */
                WARD_ERROR("a report on %s was lost at shutdown", m->topic);
                ward_msg_free(m);
            }
        }
        if (n == 0 && closed)
            break;
    }
    ward_intel_reader_unregister();
    ward_queue_close(p->ready);
    return NULL;
}

/* The intel reader registration of a thread that prepares messages without being one of ours
 * (libmosquitto's network thread): made on its first message, undone when it exits. */
static pthread_key_t reader_key;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;

static void reader_exit(void *arg)
{
    (void)arg;
    ward_intel_reader_unregister();
}

static void reader_key_make(void)
{
    if (pthread_key_create(&reader_key, reader_exit) != 0)
        WARD_ERROR("cannot create a thread key: reports will be prepared by the worker");
}

void ward_processor_prepare_on_thread(void *ctx, ward_msg_t *m)
{
    static _Thread_local bool registered;
    ward_processor_t *p = ctx;
    if (!registered) {
        pthread_once(&reader_once, reader_key_make);
        if (pthread_setspecific(reader_key, p) != 0)
            return; /* unprepared: the worker prepares it */
        ward_intel_reader_register();
        registered = true;
    }
    ward_processor_prepare_msg(p, m);
}

static int start(ward_processor_t *p, ward_queue_t *q, bool decoder_thread)
{
    p->queue = q;
    if (!decoder_thread)
        p->ready = q; /* the worker pops q itself */
    else if ((p->ready = ward_queue_new(WARD_PROCESS_READY, WARD_PROCESS_READY_BYTES)) == NULL)
        return -1;
    p->own_ready = decoder_thread;
    p->running = true;
    /* The first periodic check one period after start: devices known only from before a restart
     * are not tracked, and a just-started service has nothing to check. */
    p->next_tick_ms = ward_mono_ms() + WARD_BEHAVIOR_TICK_MS;
    if (pthread_create(&p->thread, NULL, worker, p) != 0) {
        p->running = false;
        if (p->own_ready)
            ward_queue_free(p->ready);
        p->ready = NULL;
        return -1;
    }
    if (decoder_thread && pthread_create(&p->decoder, NULL, decoder, p) != 0) {
        ward_queue_close(p->ready);
        pthread_join(p->thread, NULL);
        ward_queue_free(p->ready);
        p->ready = NULL;
        return -1;
    }
    p->has_decoder = decoder_thread;
    p->started = true;
    return 0;
}

int ward_processor_start(ward_processor_t *p, ward_queue_t *q)
{
    return start(p, q, true);
}

int ward_processor_start_worker(ward_processor_t *p, ward_queue_t *q)
{
    return start(p, q, false);
}

void ward_processor_join(ward_processor_t *p)
{
    if (p->started) {
        if (p->has_decoder)
            pthread_join(p->decoder, NULL);
        pthread_join(p->thread, NULL);
    }
    p->started = false;
}

bool ward_processor_running(ward_processor_t *p)
{
    return p->running;
}

void ward_processor_stats(ward_processor_t *p, ward_process_stats_t *out)
{
    out->received = p->received;
    out->accepted = p->accepted;
    out->rejected = p->rejected;
    out->duplicates = p->duplicates;
    out->flows = p->flows;
    out->intel_matches = p->intel_matches;
    out->alerts_new = p->alerts_new;
    out->alerts_folded = p->alerts_folded;
    out->store_errors = p->store_errors;
}
