/*
 * intel: the threat-intelligence engine. See intel.h for the model.
 *
 * Owns: the sources (configuration, and for URLs and TAXII collections their last content), the
 * live holder, the feed set behind the live index (`cur`), and the two background threads.
 *
 * Locks: `mu` guards what a reload reads and writes (the sources' bodies and dirty flags, `cur`);
 * only reloads (watcher, poller, ward_intel_reload) take it. The poller's per-source fetch state
 * (validators, TAXII id map, next poll time) is the poller's alone (and the opener's before the
 * threads start). Readers take no lock: ward_intel_match is an RCU read-side section.
 *
 * Strings of a match: the index knows indicators by position in an array and has no string
 * table, so each published feed set is registered in `gens` (a few slots, lock-free) under its
 * array's address; a reader finds its index's feed set there. A slot is cleared only by the
 * index's release function, which runs after the grace period, so a reader that holds an index
 * always finds its feed set.
 */
#include "intel.h"
#include "fnv.h"
#include "grow.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "intel_fetch.h"
#include "intel_watch.h"
#include "live.h"
#include "log.h"

#define WATCH_DEBOUNCE_MS 200
#define GEN_SLOTS 4
/* Matches copied per lookup without allocating (the worker asks for fewer). */
#define STACK_IDS 64

typedef struct src {
    ward_intel_source_kind_t kind;
    char *loc;
    ward_feed_format_t format;
    unsigned interval_s;
    char hint[128]; /* URL: the last path segment, for format detection */
    /* Under mu: the content a reload loads (URL body or TAXII bundle), and whether it changed
     * since the last reload (its bad records are reported again only then). */
    char *body;
    size_t body_len;
    bool dirty;
    /* The poller's. */
    ward_fetch_t fetch;
    ward_taxii_t taxii;
    int64_t next_poll_ms;
} src_t;

typedef struct gen {
    const ward_indicator_t *items;
    ward_feedset_t *fs;
    struct ward_intel *in;
    int slot;
} gen_t;

struct ward_intel {
    src_t *src;
    size_t n;
    ward_intel_live_t *live;
    pthread_mutex_t mu;
    ward_feedset_t *cur;
    _Atomic(gen_t *) gens[GEN_SLOTS];
    ward_intel_added_fn on_added;
    void *added_ctx;
    ward_feed_error_fn on_error;
    void *error_ctx;
    bool quiet;
    _Atomic size_t size;
    _Atomic uint64_t generation;

    ward_watch_t *watch;
    pthread_t poller;
    bool poller_started;
    pthread_mutex_t pmu; /* the poller's sleep */
    pthread_cond_t pcond;
    atomic_bool stop;
};

/* ---- strings of the live feed sets ----------------------------------------------------------- */

static void release_gen(void *arg)
{
    gen_t *g = arg;
    atomic_store_explicit(&g->in->gens[g->slot], NULL, memory_order_release);
    ward_feeds_free(g->fs);
    free(g->fs);
    free(g);
}

static const ward_feedset_t *find_fs(const ward_intel_t *in, const ward_indicator_t *items)
{
    for (int k = 0; k < GEN_SLOTS; k++) {
        gen_t *g = atomic_load_explicit(&((ward_intel_t *)in)->gens[k], memory_order_acquire);
        if (g != NULL && g->items == items)
            return g->fs;
    }
    return NULL;
}

static void fill(ward_intel_match_t *m, const ward_indicator_t *ind, const ward_feedset_t *fs)
{
    ward_ip_format_cidr(&ind->addr, ind->prefix, ind->is_v4, m->value, sizeof m->value);
    snprintf(m->source, sizeof m->source, "%s", fs ? ward_feeds_str(fs, ind->source) : "");
    snprintf(m->category, sizeof m->category, "%s", fs ? ward_feeds_str(fs, ind->category) : "");
    snprintf(m->ref, sizeof m->ref, "%s", fs ? ward_feeds_str(fs, ind->ref) : "");
    m->first_seen = ind->first_seen;
    m->expires = ind->expires;
    m->prefix = ind->prefix;
    m->confidence = ind->confidence;
}

/* lookup_all on idx, matches copied with the strings of fs. */
static size_t match_index(const ward_intel_index_t *idx, const ward_feedset_t *fs,
                          const ward_addr_t *addr, int64_t now, ward_intel_match_t *out, size_t max)
{
    ward_ip_t ip;
    memcpy(ip.b, addr->b, sizeof ip.b);
    if (idx == NULL || ward_intel_index_lookup(idx, &ip, now) == WARD_INTEL_NONE)
        return 0;
    uint32_t stack_ids[STACK_IDS], *ids = stack_ids;
    if (max > STACK_IDS && (ids = malloc(max * sizeof *ids)) == NULL) {
        ids = stack_ids;
        max = STACK_IDS;
    }
    size_t total = ward_intel_index_lookup_all(idx, &ip, now, ids, max);
    const ward_indicator_t *items = ward_intel_index_indicators(idx);
    for (size_t k = 0; k < total && k < max; k++)
        fill(&out[k], &items[ids[k]], fs);
    if (ids != stack_ids)
        free(ids);
    return total;
}

size_t ward_intel_match(const ward_intel_t *in, const ward_addr_t *addr, int64_t now,
                        ward_intel_match_t *out, size_t max)
{
    ward_intel_live_read_lock();
    const ward_intel_index_t *idx = ward_intel_live_get(in->live);
    size_t n = 0;
    if (idx != NULL)
        n = match_index(idx, find_fs(in, ward_intel_index_indicators(idx)), addr, now, out, max);
    ward_intel_live_read_unlock();
    return n;
}

size_t ward_intel_added_match(const ward_intel_added_t *a, const ward_addr_t *addr, int64_t now,
                              ward_intel_match_t *out, size_t max)
{
    return match_index(a->index, &a->strings, addr, now, out, max);
}

void ward_intel_added_free(ward_intel_added_t *a)
{
    if (a == NULL)
        return;
    ward_intel_index_free(a->index);
    free(a->items);
    ward_feeds_free(&a->strings);
    free(a);
}

void ward_intel_reader_register(void)
{
    ward_intel_live_reader_register();
}

void ward_intel_reader_unregister(void)
{
    ward_intel_live_reader_unregister();
}

size_t ward_intel_size(const ward_intel_t *in)
{
    return in ? atomic_load(&in->size) : 0;
}

uint64_t ward_intel_generation(const ward_intel_t *in)
{
    return in ? atomic_load(&in->generation) : 0;
}

void ward_intel_fold_key(const ward_intel_match_t *m, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s %s", m->value, m->source);
    if (n >= 0 && (size_t)n < len)
        return;
    snprintf(buf, len, "%s #%016" PRIx64, m->value, ward_fnv1a_str(WARD_FNV_SEED, m->source));
}

/* ---- reload ---------------------------------------------------------------------------------- */

static int cmp_addr_prefix(const ward_indicator_t *a, const ward_indicator_t *b)
{
    int c = memcmp(a->addr.b, b->addr.b, sizeof a->addr.b);
    if (c != 0)
        return c;
    return (a->prefix > b->prefix) - (a->prefix < b->prefix);
}

static bool copy_added(ward_intel_added_t *a, const ward_indicator_t *ind,
                       const ward_feedset_t *from, size_t *cap)
{
    if (!WARD_GROW(a->items, a->count, *cap, 64))
        return false;
    ward_indicator_t c = *ind;
    const char *s;
    s = ward_feeds_str(from, ind->source);
    c.source = ward_feeds_intern(&a->strings, s, strlen(s));
    s = ward_feeds_str(from, ind->category);
    c.category = ward_feeds_intern(&a->strings, s, strlen(s));
    s = ward_feeds_str(from, ind->ref);
    c.ref = ward_feeds_intern(&a->strings, s, strlen(s));
    if (c.source == UINT32_MAX || c.category == UINT32_MAX || c.ref == UINT32_MAX)
        return false;
    a->items[a->count++] = c;
    return true;
}

/*
 * The indicators of nw whose (address, prefix, source) is not in old. Both are deduplicated,
 * so sorted by (address, prefix, then source index): one merge pass, comparing source names
 * within a group of equal (address, prefix). NULL when nothing was added or out of memory.
 */
static ward_intel_added_t *diff(const ward_feedset_t *old, const ward_feedset_t *nw, int64_t now)
{
    ward_intel_added_t *a = calloc(1, sizeof *a);
    if (a == NULL || ward_feeds_init(&a->strings) != WARD_OK) {
        free(a);
        return NULL;
    }
    size_t cap = 0, i = 0;
    bool ok = true;
    for (size_t j = 0; ok && j < nw->count; j++) {
        const ward_indicator_t *x = &nw->items[j];
        while (i < old->count && cmp_addr_prefix(&old->items[i], x) < 0)
            i++;
        bool found = false;
        const char *xs = ward_feeds_str(nw, x->source);
        for (size_t k = i; !found && k < old->count && cmp_addr_prefix(&old->items[k], x) == 0; k++)
            found = strcmp(ward_feeds_str(old, old->items[k].source), xs) == 0;
        if (!found)
            ok = copy_added(a, x, nw, &cap);
    }
    if (ok && a->count > 0)
        a->index = ward_intel_index_build(a->items, a->count, now);
    if (!ok || a->count == 0 || a->index == NULL) {
        if (!ok || (a->count > 0 && a->index == NULL))
            WARD_ERROR("intel: out of memory: the indicators this reload added are not "
                       "matched against the contact history");
        ward_intel_added_free(a);
        return NULL;
    }
    return a;
}

typedef struct err_ctx {
    ward_intel_t *in;
    bool report;
} err_ctx_t;

static void on_feed_error(void *ctx, const ward_feed_error_t *e)
{
    err_ctx_t *c = ctx;
    if (!c->report)
        return;
    if (c->in->on_error != NULL)
        c->in->on_error(c->in->error_ctx, e);
    else
        WARD_WARN("%s", e->message);
}

/* Load one source into fs. initial: a file that cannot be read is an error. */
static int load_source(ward_intel_t *in, src_t *s, ward_feedset_t *fs, bool initial,
                       ward_feed_stats_t *st, char *err, size_t err_len)
{
    err_ctx_t ec = {in, s->kind == WARD_INTEL_SRC_PATH || s->dirty || initial};
    ward_feed_opts_t o = {.format = s->format, .on_error = on_feed_error, .error_ctx = &ec};
    ward_status_t rc = WARD_OK;
    memset(st, 0, sizeof *st);
    if (s->kind == WARD_INTEL_SRC_PATH) {
        rc = ward_feeds_load_path(fs, s->loc, &o, st);
        if (rc == WARD_E_IO && initial) {
            snprintf(err, err_len, "cannot read intel feed %s", s->loc);
            return -1;
        }
        if (rc == WARD_E_IO)
            WARD_WARN("intel: %s cannot be read: its indicators are left out until it can", s->loc);
    } else if (s->body != NULL) {
        o.source = s->loc;
        if (s->kind == WARD_INTEL_SRC_TAXII)
            o.format = WARD_FEED_STIX;
        rc = ward_feeds_load_buffer(fs, s->body, s->body_len, s->hint[0] ? s->hint : NULL, &o, st);
    }
    s->dirty = false;
    if (rc == WARD_E_NOMEM) {
        snprintf(err, err_len, "out of memory loading %s", s->loc);
        return -1;
    }
    return 0;
}

static void log_summary(const src_t *s, const ward_feed_stats_t *st)
{
    char what[64];
    if (s->kind == WARD_INTEL_SRC_PATH && st->format == WARD_FEED_AUTO)
        snprintf(what, sizeof what, "folder of %" PRIu64 " files", st->files);
    else if (s->kind != WARD_INTEL_SRC_PATH && s->body == NULL)
        snprintf(what, sizeof what, "not fetched yet");
    else
        snprintf(what, sizeof what, "format %s", ward_feed_format_name(st->format));
    WARD_INFO("intel: feed %s: %s, %" PRIu64 " loaded, %" PRIu64 " skipped, %" PRIu64 " bad",
              s->loc, what, st->loaded, st->skipped, st->bad);
}

/* Load every source, build, publish. Caller holds mu (or is the opener). 0 ok, -1 failed (the
 * live index is unchanged). */
static int reload_locked(ward_intel_t *in, const char *why, bool initial, char *err, size_t err_len)
{
    int64_t t0 = ward_mono_ms();
    int64_t now = ward_now_ms() / 1000;
    ward_feedset_t *fs = calloc(1, sizeof *fs);
    if (fs == NULL || ward_feeds_init(fs) != WARD_OK) {
        free(fs);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    uint64_t bad = 0;
    for (size_t i = 0; i < in->n; i++) {
        ward_feed_stats_t st;
        if (load_source(in, &in->src[i], fs, initial, &st, err, err_len) != 0) {
            ward_feeds_free(fs);
            free(fs);
            return -1;
        }
        bad += st.bad;
        if (initial && !in->quiet)
            log_summary(&in->src[i], &st);
    }
    int64_t t1 = ward_mono_ms();
    ward_feeds_dedup(fs);
    ward_intel_added_t *added =
        in->cur != NULL && in->on_added != NULL ? diff(in->cur, fs, now) : NULL;
    gen_t *g = calloc(1, sizeof *g);
    ward_intel_index_t *idx = g ? ward_intel_index_build(fs->items, fs->count, now) : NULL;
    int slot = -1;
    for (int k = 0; k < GEN_SLOTS && slot < 0; k++)
        if (atomic_load(&in->gens[k]) == NULL)
            slot = k;
    if (idx == NULL || slot < 0) {
        snprintf(err, err_len, "out of memory building the intel index");
        ward_intel_index_free(idx);
        ward_intel_added_free(added);
        ward_feeds_free(fs);
        free(fs);
        free(g);
        return -1;
    }
    *g = (gen_t){fs->items, fs, in, slot};
    atomic_store_explicit(&in->gens[slot], g, memory_order_release);
    ward_intel_index_set_release(idx, release_gen, g);
    ward_intel_index_stats_t ist;
    ward_intel_index_stats(idx, &ist);
    int64_t t2 = ward_mono_ms();
    uint64_t gen = ward_intel_live_publish(in->live, idx);
    int64_t t3 = ward_mono_ms();
    in->cur = fs;
    atomic_store(&in->size, ist.indicators);
    atomic_store(&in->generation, gen);
    size_t n_added = added ? added->count : 0;
    if (!in->quiet || !initial)
        WARD_INFO("intel: %s: %zu indicators from %zu feeds (%zu new, %" PRIu64
                  " bad records), index %zu KiB; load %" PRId64 " ms, build %" PRId64
                  " ms, publish %" PRId64 " ms",
                  why, ist.indicators, in->n, n_added, bad, ist.bytes >> 10, t1 - t0, t2 - t1,
                  t3 - t2);
    if (added != NULL) {
        added->generation = gen;
        in->on_added(in->added_ctx, added);
    }
    return 0;
}

int ward_intel_reload(ward_intel_t *in, const char *why)
{
    char err[256];
    pthread_mutex_lock(&in->mu);
    int rc = reload_locked(in, why, false, err, sizeof err);
    pthread_mutex_unlock(&in->mu);
    if (rc != 0)
        WARD_ERROR("intel: reload (%s) failed, the previous indicators stay live: %s", why, err);
    return rc;
}

/* ---- polling --------------------------------------------------------------------------------- */

/* Fetch one URL or TAXII source; on new content swap it in under mu. True when it changed. */
static bool poll_source(ward_intel_t *in, src_t *s)
{
    char err[512];
    char *body = NULL;
    size_t len = 0;
    int rc;
    s->next_poll_ms = ward_mono_ms() + (int64_t)s->interval_s * 1000;
    if (s->kind == WARD_INTEL_SRC_URL) {
        rc = ward_fetch_url(&s->fetch, s->loc, &body, &len, err, sizeof err);
    } else {
        uint64_t before = s->taxii.upserts + s->taxii.removals;
        rc = ward_taxii_poll(&s->taxii, s->loc, ward_now_ms() / 1000, err, sizeof err);
        if (rc < 0)
            WARD_WARN("intel: TAXII %s: %s", s->loc, err);
        /* Pages applied before a failure count: the map is current as far as it got. */
        rc = s->taxii.upserts + s->taxii.removals != before || s->body == NULL;
        if (rc > 0 && (body = ward_taxii_bundle(&s->taxii, &len)) == NULL) {
            WARD_ERROR("intel: TAXII %s: out of memory", s->loc);
            rc = 0;
        }
    }
    if (rc < 0)
        WARD_WARN("intel: %s: %s (its last content stays)", s->loc, err);
    if (rc <= 0)
        return false;
    pthread_mutex_lock(&in->mu);
    free(s->body);
    s->body = body;
    s->body_len = len;
    s->dirty = true;
    pthread_mutex_unlock(&in->mu);
    return true;
}

static void poll_due(ward_intel_t *in, bool all)
{
    char why[600] = "";
    for (size_t i = 0; i < in->n && !atomic_load(&in->stop); i++) {
        src_t *s = &in->src[i];
        if (s->kind == WARD_INTEL_SRC_PATH || (!all && ward_mono_ms() < s->next_poll_ms))
            continue;
        if (poll_source(in, s) && why[0] == '\0')
            snprintf(why, sizeof why, "%s updated", s->loc);
    }
    if (why[0] != '\0' && !atomic_load(&in->stop))
        ward_intel_reload(in, why);
}

int ward_intel_poll_now(ward_intel_t *in)
{
    poll_due(in, true);
    return 0;
}

static void *poller(void *arg)
{
    ward_intel_t *in = arg;
    pthread_mutex_lock(&in->pmu);
    while (!atomic_load(&in->stop)) {
        int64_t next = INT64_MAX;
        for (size_t i = 0; i < in->n; i++)
            if (in->src[i].kind != WARD_INTEL_SRC_PATH && in->src[i].next_poll_ms < next)
                next = in->src[i].next_poll_ms;
        int64_t now = ward_mono_ms();
        if (next > now) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait = next - now;
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&in->pcond, &in->pmu, &ts);
            continue;
        }
        pthread_mutex_unlock(&in->pmu);
        poll_due(in, false);
        pthread_mutex_lock(&in->pmu);
    }
    pthread_mutex_unlock(&in->pmu);
    return NULL;
}

static void on_watch(void *ctx, const char *why)
{
    ward_intel_reload(ctx, why);
}

/* ---- life cycle ------------------------------------------------------------------------------ */

static void url_hint(src_t *s)
{
    const char *p = s->loc;
    const char *q = strpbrk(p, "?#");
    size_t n = q ? (size_t)(q - p) : strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && p[b - 1] != '/')
        b--;
    if (n - b > 0 && n - b < sizeof s->hint)
        snprintf(s->hint, sizeof s->hint, "%.*s", (int)(n - b), p + b);
}

ward_intel_t *ward_intel_open(const ward_intel_config_t *cfg, char *err, size_t err_len)
{
    ward_intel_t *in = calloc(1, sizeof *in);
    if (in == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&in->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&in->pcond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&in->pmu, NULL);
    in->on_added = cfg->on_added;
    in->added_ctx = cfg->added_ctx;
    in->on_error = cfg->on_error;
    in->error_ctx = cfg->error_ctx;
    in->quiet = cfg->quiet;
    in->live = ward_intel_live_create();
    in->src = calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof *in->src);
    if (in->live == NULL || in->src == NULL) {
        snprintf(err, err_len, "out of memory");
        ward_intel_close(in);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const ward_intel_source_cfg_t *c = &cfg->sources[i];
        src_t *s = &in->src[in->n++];
        s->kind = c->kind;
        s->format = c->format;
        s->interval_s = c->interval_s ? c->interval_s : WARD_INTEL_POLL_DEFAULT_S;
        s->loc = strdup(c->location);
        s->fetch.cancel = &in->stop;
        ward_taxii_init(&s->taxii);
        s->taxii.cancel = &in->stop;
        if (s->loc == NULL || s->taxii.objects == NULL) {
            snprintf(err, err_len, "out of memory");
            ward_intel_close(in);
            return NULL;
        }
        if (s->kind != WARD_INTEL_SRC_PATH)
            url_hint(s);
    }
    /* URLs and collections are fetched once before the first build, so that wardd starts with
     * them when they are reachable. */
    for (size_t i = 0; i < in->n; i++)
        if (in->src[i].kind != WARD_INTEL_SRC_PATH)
            poll_source(in, &in->src[i]);
    if (reload_locked(in, "loaded", true, err, err_len) != 0) {
        ward_intel_close(in);
        return NULL;
    }
    return in;
}

int ward_intel_start(ward_intel_t *in, char *err, size_t err_len)
{
    const char **paths = calloc(in->n ? in->n : 1, sizeof *paths);
    size_t np = 0;
    bool polled = false;
    if (paths == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < in->n; i++) {
        if (in->src[i].kind == WARD_INTEL_SRC_PATH)
            paths[np++] = in->src[i].loc;
        else
            polled = true;
    }
    if (np > 0)
        in->watch = ward_watch_start(paths, np, WATCH_DEBOUNCE_MS, on_watch, in, err, err_len);
    free(paths);
    if (np > 0 && in->watch == NULL)
        return -1;
    if (polled) {
        if (pthread_create(&in->poller, NULL, poller, in) != 0) {
            snprintf(err, err_len, "cannot start the intel poller thread");
            return -1;
        }
        in->poller_started = true;
    }
    return 0;
}

void ward_intel_close(ward_intel_t *in)
{
    if (in == NULL)
        return;
    ward_watch_stop(in->watch);
    if (in->poller_started) {
        pthread_mutex_lock(&in->pmu);
        atomic_store(&in->stop, true);
        pthread_cond_signal(&in->pcond);
        pthread_mutex_unlock(&in->pmu);
        pthread_join(in->poller, NULL);
    }
    /* Frees the live index, whose release frees `cur`. */
    ward_intel_live_destroy(in->live);
    for (size_t i = 0; i < in->n; i++) {
        free(in->src[i].loc);
        free(in->src[i].body);
        ward_taxii_free(&in->src[i].taxii);
    }
    free(in->src);
    pthread_cond_destroy(&in->pcond);
    pthread_mutex_destroy(&in->pmu);
    pthread_mutex_destroy(&in->mu);
    free(in);
}
