/*
 * retro: contact history and retro-hunt. See retro.h.
 *
 * Owns: the contacts table and its prepared statements (worker only), the queue of added sets
 * (its own mutex: the reloading thread pushes, the worker pops), the hunt in progress (worker).
 * Invariant: a hunt's cursor only advances when the slice that read those rows committed
 * (ward_retro_rollback puts it back), so a store error never skips contacts.
 *
 * Between ward_retro_begin and ward_retro_flush (the worker's report batches) notes are gathered
 * in memory, one entry per distinct contact with its earliest first and latest last time, and
 * written by the flush, one upsert each, just before the batch commits: a device that talks to
 * one server from many ports, or reports twice in a batch, costs one write. The rows written are
 * the ones the notes would have written one by one.
 *
 * A note, and then the flush, skip a contact already written recently: a bounded cache (CACHE_SETS
 * x CACHE_WAYS, set-associative, the way with the oldest last_seen evicted) keeps, per contact
 * (known by a keyed 64-bit hash of device, address, port, protocol and direction), the first and
 * last minute last written. A contact is written again only when its last_seen moves into a later
 * minute or its first_seen into an earlier one, so contacts.first_seen/last_seen are exact to
 * the minute (what retro-hunt needs: days). The cache only ever understates the row (the upsert
 * keeps min/max), so it stays right while transactions commit; any rollback
 * (ward_store_rollbacks) empties it, and an entry older than the last prune's cut-off counts as
 * absent (its row may be gone). Notes outside a batch are written at once, without the cache.
 */
#include "retro.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "clock.h"
#include "log.h"
#include "siphash.h"
#include "wire.h"

/* Matches kept in the evidence per alert (retro and live alike). */
#define MATCH_MAX 8

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS contacts("
    " device TEXT NOT NULL,"
    " remote_addr BLOB NOT NULL,"
    " remote_port INTEGER NOT NULL,"
    " protocol INTEGER NOT NULL,"
    " direction INTEGER NOT NULL,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " PRIMARY KEY(device, remote_addr, remote_port, protocol, direction));"
    "CREATE INDEX IF NOT EXISTS contacts_last_seen ON contacts(last_seen);";

enum { S_UPSERT, S_SCAN, S_PRUNE, S_COUNT_ };

static const char *const stmt_sql[S_COUNT_] = {
    [S_UPSERT] = "INSERT INTO contacts(device, remote_addr, remote_port, protocol, direction,"
                 " first_seen, last_seen) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                 " ON CONFLICT(device, remote_addr, remote_port, protocol, direction) DO UPDATE"
                 " SET first_seen = min(first_seen, excluded.first_seen),"
                 " last_seen = max(last_seen, excluded.last_seen)",
    /* Parenthesised: clang's -Wstring-concatenation otherwise takes the concatenation of a
     * short array's elements for a missing comma. */
    [S_SCAN] = ("SELECT rowid, device, remote_addr, remote_port, protocol, direction, first_seen,"
                " last_seen FROM contacts WHERE rowid > ?1 AND last_seen >= ?2"
                " ORDER BY rowid LIMIT ?3"),
    [S_PRUNE] = ("DELETE FROM contacts WHERE rowid IN (SELECT rowid FROM contacts"
                 " WHERE last_seen < ?1 LIMIT ?2)"),
};

typedef struct job {
    ward_intel_added_t *added;
    struct job *next;
} job_t;

/* A contact gathered in the current batch (ward_retro_begin .. ward_retro_flush). */
typedef struct pending {
    ward_flow_t f; /* device, remote_addr, remote_port_raw, proto, initiator, first/last seen */
    uint64_t hash;
} pending_t;

/* A contact as last written by a flush: the row holds at least [first_min, last_min] (minutes
 * since the epoch). hash 0 = empty. The contact is known by its keyed hash alone (siphash.h): 16
 * bytes an entry, a set of 4 in one cache line; a chance collision (about 2^-62 per lookup) would
 * only skip one rewrite of a row to the minute, and a peer cannot aim one without the key. */
typedef struct cached {
    uint64_t hash;
    int32_t first_min, last_min;
} cached_t;

#define CACHE_WAYS 4
#define CACHE_SETS (1u << 16) /* 262,144 contacts, 4 MB */
#define MINUTE_MS 60000

struct ward_retro {
    ward_store_t *store;
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT_];
    int64_t history_ms;

    pthread_mutex_t mu; /* guards the queue and `queued` */
    job_t *head, *tail;
    atomic_bool queued;

    job_t *cur;              /* the hunt in progress (worker) */
    int64_t cursor, cursor0; /* last rowid done; its value before this slice */
    int64_t next_prune_ms;   /* monotonic */
    bool prune_more;         /* the last prune hit its batch limit */
    ward_retro_stats_t st;

    bool batching;   /* between ward_retro_begin and ward_retro_flush */
    pending_t *pend; /* the batch's contacts, in the order first noted */
    size_t n_pend, cap_pend;
    uint32_t *slots; /* open addressing over pend: index + 1, 0 = empty */
    size_t n_slots;  /* a power of two, at least twice cap_pend */

    cached_t *cache;         /* CACHE_SETS * CACHE_WAYS, allocated by the first flush */
    ward_siphash_key_t key;  /* of the contact hashes, random per run */
    uint64_t rollbacks;      /* ward_store_rollbacks when the cache was last valid */
    int64_t prune_cutoff_ms; /* rows last seen before this may have been pruned */
};

static int db_error(ward_retro_t *r, const char *what)
{
    WARD_ERROR("database: %s: %s", what, sqlite3_errmsg(r->db));
    return -1;
}

ward_retro_t *ward_retro_new(ward_store_t *store, unsigned history_days, char *err, size_t err_len)
{
    ward_retro_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (!ward_siphash_random_key(&r->key)) {
        snprintf(err, err_len, "contact history: cannot read random bytes for its hash key");
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->store = store;
    r->db = ward_store_sqlite(store);
    r->history_ms = (int64_t)history_days * 86400 * 1000;
    char *msg = NULL;
    int rc = sqlite3_exec(r->db, schema_sql, NULL, NULL, &msg);
    for (int i = 0; rc == SQLITE_OK && i < S_COUNT_; i++)
        rc = sqlite3_prepare_v3(r->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &r->stmt[i],
                                NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "contact history: %s", msg ? msg : sqlite3_errmsg(r->db));
        sqlite3_free(msg);
        ward_retro_free(r);
        return NULL;
    }
    return r;
}

void ward_retro_free(ward_retro_t *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < S_COUNT_; i++)
        sqlite3_finalize(r->stmt[i]);
    while (r->head != NULL) {
        job_t *j = r->head;
        r->head = j->next;
        ward_intel_added_free(j->added);
        free(j);
    }
    if (r->cur != NULL) {
        ward_intel_added_free(r->cur->added);
        free(r->cur);
    }
    pthread_mutex_destroy(&r->mu);
    free(r->pend);
    free(r->slots);
    free(r->cache);
    free(r);
}

void ward_retro_submit(void *retro, ward_intel_added_t *added)
{
    ward_retro_t *r = retro;
    job_t *j = calloc(1, sizeof *j);
    if (j == NULL) {
        WARD_ERROR("retro-hunt: out of memory: %zu new indicators not hunted", added->count);
        ward_intel_added_free(added);
        return;
    }
    j->added = added;
    pthread_mutex_lock(&r->mu);
    if (r->tail != NULL)
        r->tail->next = j;
    else
        r->head = j;
    r->tail = j;
    atomic_store(&r->queued, true);
    pthread_mutex_unlock(&r->mu);
}

/* Upsert one contact now. */
static int write_contact(ward_retro_t *r, const ward_flow_t *f)
{
    sqlite3_stmt *s = r->stmt[S_UPSERT];
    sqlite3_bind_text(s, 1, f->device, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, f->remote_addr.b, sizeof f->remote_addr.b, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, f->remote_port_raw);
    sqlite3_bind_int(s, 4, f->proto);
    sqlite3_bind_int(s, 5, f->initiator);
    sqlite3_bind_int64(s, 6, f->first_seen_ms);
    sqlite3_bind_int64(s, 7, f->last_seen_ms);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE)
        return db_error(r, "record contact");
    r->st.contacts_written++;
    return 0;
}

static bool same_contact(const ward_flow_t *a, const ward_flow_t *b)
{
    return a->remote_port_raw == b->remote_port_raw && a->proto == b->proto &&
           a->initiator == b->initiator &&
           memcmp(a->remote_addr.b, b->remote_addr.b, sizeof a->remote_addr.b) == 0 &&
           strcmp(a->device, b->device) == 0;
}

uint64_t ward_retro_contact_hash(const ward_retro_t *r, const ward_flow_t *f)
{
    return ward_retro_contact_hash_n(r, f, strnlen(f->device, WARD_DEVICE_ID_MAX));
}

uint64_t ward_retro_contact_hash_n(const ward_retro_t *r, const ward_flow_t *f, size_t n)
{
    uint8_t k[WARD_DEVICE_ID_MAX + 1 + 16 + 4];
    if (n > WARD_DEVICE_ID_MAX)
        n = WARD_DEVICE_ID_MAX;
    memcpy(k, f->device, n + 1); /* with its terminator: the fields after it cannot shift */
    memcpy(k + n + 1, f->remote_addr.b, 16);
    k[n + 17] = (uint8_t)(f->remote_port_raw >> 8);
    k[n + 18] = (uint8_t)f->remote_port_raw;
    k[n + 19] = f->proto;
    k[n + 20] = f->initiator;
    uint64_t x = ward_siphash(&r->key, k, n + 21);
    return x ? x : 1; /* never 0: 0 marks an empty cache way */
}

/* Room for one more pending contact; rebuilds the slots when they grow. 0 ok, -1 no memory. */
static int pend_reserve(ward_retro_t *r)
{
    if (r->n_pend < r->cap_pend)
        return 0;
    size_t cap = r->cap_pend ? r->cap_pend * 2 : 1024;
    pending_t *p = realloc(r->pend, cap * sizeof *p);
    if (p == NULL)
        return -1;
    r->pend = p;
    uint32_t *slots = calloc(cap * 2, sizeof *slots);
    if (slots == NULL)
        return -1;
    free(r->slots);
    r->slots = slots;
    r->n_slots = cap * 2;
    r->cap_pend = cap;
    for (size_t i = 0; i < r->n_pend; i++) {
        size_t k = (size_t)r->pend[i].hash & (r->n_slots - 1);
        while (r->slots[k] != 0)
            k = (k + 1) & (r->n_slots - 1);
        r->slots[k] = (uint32_t)(i + 1);
    }
    return 0;
}

/* The cache as of the last commit: emptied when a transaction was rolled back since (rows it
 * recorded may be gone with it); allocated on first use (NULL if out of memory: no cache). */
static void cache_sync(ward_retro_t *r)
{
    uint64_t rollbacks = ward_store_rollbacks(r->store);
    if (r->cache == NULL) {
        r->cache = calloc((size_t)CACHE_SETS * CACHE_WAYS, sizeof *r->cache);
        r->rollbacks = rollbacks;
    } else if (rollbacks != r->rollbacks) {
        memset(r->cache, 0, (size_t)CACHE_SETS * CACHE_WAYS * sizeof *r->cache);
        r->rollbacks = rollbacks;
    }
}

void ward_retro_begin(ward_retro_t *r)
{
    if (r->n_pend > 0)
        memset(r->slots, 0, r->n_slots * sizeof *r->slots);
    r->n_pend = 0;
    r->batching = true;
    cache_sync(r);
}

static int32_t minute_of(int64_t ms)
{
    int64_t m = ms >= 0 ? ms / MINUTE_MS : -1;
    return m > INT32_MAX ? INT32_MAX : (int32_t)m;
}

/* The cache entry of the contact with this hash, or NULL. */
static cached_t *cache_find(ward_retro_t *r, uint64_t hash)
{
    cached_t *set = &r->cache[(size_t)(hash & (CACHE_SETS - 1)) * CACHE_WAYS];
    for (int w = 0; w < CACHE_WAYS; w++)
        if (set[w].hash == hash)
            return &set[w];
    return NULL;
}

/* Record that p was written (c: its entry, or NULL to take an empty or the stalest way). */
static void cache_put(ward_retro_t *r, const pending_t *p, cached_t *c)
{
    int32_t first = minute_of(p->f.first_seen_ms), last = minute_of(p->f.last_seen_ms);
    if (c != NULL) {
        if (first < c->first_min)
            c->first_min = first;
        if (last > c->last_min)
            c->last_min = last;
        return;
    }
    cached_t *set = &r->cache[(size_t)(p->hash & (CACHE_SETS - 1)) * CACHE_WAYS];
    c = &set[0];
    for (int w = 0; w < CACHE_WAYS && c->hash != 0; w++)
        if (set[w].hash == 0 || set[w].last_min < c->last_min)
            c = &set[w];
    c->hash = p->hash;
    c->first_min = first;
    c->last_min = last;
}

/* True when the contact's row already holds p's span to the minute. An entry whose last minute
 * is not wholly after the last prune's cut-off counts as absent (its row may be gone). */
static bool cache_covers(const ward_retro_t *r, const cached_t *c, const ward_flow_t *f)
{
    return c != NULL && (int64_t)c->last_min > r->prune_cutoff_ms / MINUTE_MS &&
           minute_of(f->last_seen_ms) <= c->last_min && minute_of(f->first_seen_ms) >= c->first_min;
}

int ward_retro_flush(ward_retro_t *r)
{
    int rc = 0;
    cache_sync(r);
    for (size_t i = 0; rc == 0 && i < r->n_pend; i++) {
        const pending_t *p = &r->pend[i];
        cached_t *c = r->cache != NULL ? cache_find(r, p->hash) : NULL;
        if (cache_covers(r, c, &p->f)) {
            r->st.contacts_cached++;
            continue;
        }
        rc = write_contact(r, &p->f);
        if (rc == 0 && r->cache != NULL)
            cache_put(r, p, c);
    }
    ward_retro_begin(r); /* empty again */
    r->batching = false;
    return rc;
}

void ward_retro_prefetch(const ward_retro_t *r, const uint64_t *hashes, size_t n)
{
    for (size_t i = 0; r->cache != NULL && i < n; i++)
        __builtin_prefetch(&r->cache[(size_t)(hashes[i] & (CACHE_SETS - 1)) * CACHE_WAYS]);
}

int ward_retro_note(ward_retro_t *r, const ward_flow_t *f)
{
    return ward_retro_note_hashed(r, f, r->batching ? ward_retro_contact_hash(r, f) : 0);
}

int ward_retro_note_hashed(ward_retro_t *r, const ward_flow_t *f, uint64_t h)
{
    if (!r->batching)
        return write_contact(r, f);
    if (r->cache != NULL) {
        /* Most notes repeat a contact whose row already holds their minute: nothing to gather. */
        if (cache_covers(r, cache_find(r, h), f)) {
            r->st.contacts_cached++;
            return 0;
        }
    }
    if (pend_reserve(r) != 0) {
        WARD_ERROR("contact history: out of memory");
        return -1;
    }
    size_t k = (size_t)h & (r->n_slots - 1);
    for (; r->slots[k] != 0; k = (k + 1) & (r->n_slots - 1)) {
        pending_t *p = &r->pend[r->slots[k] - 1];
        if (p->hash == h && same_contact(&p->f, f)) {
            if (f->first_seen_ms < p->f.first_seen_ms)
                p->f.first_seen_ms = f->first_seen_ms;
            if (f->last_seen_ms > p->f.last_seen_ms)
                p->f.last_seen_ms = f->last_seen_ms;
            return 0;
        }
    }
    pending_t *p = &r->pend[r->n_pend];
    p->f = *f;
    p->hash = h;
    r->slots[k] = (uint32_t)(++r->n_pend);
    return 0;
}

bool ward_retro_due(ward_retro_t *r, int64_t mono_ms)
{
    return r->cur != NULL || atomic_load(&r->queued) || mono_ms >= r->next_prune_ms ||
           r->prune_more;
}

static int prune(ward_retro_t *r, int64_t now_ms)
{
    sqlite3_stmt *s = r->stmt[S_PRUNE];
    sqlite3_bind_int64(s, 1, now_ms - r->history_ms);
    sqlite3_bind_int(s, 2, WARD_RETRO_PRUNE_BATCH);
    if (now_ms - r->history_ms > r->prune_cutoff_ms)
        r->prune_cutoff_ms = now_ms - r->history_ms;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_error(r, "prune contacts");
    int n = sqlite3_changes(r->db);
    r->prune_more = n == WARD_RETRO_PRUNE_BATCH;
    r->st.pruned += (uint64_t)n;
    return 0;
}

/* The alert for one contact that matched m[0..n) (total matched). */
static void contact_alert(ward_alert_t *a, const ward_flow_t *c, const ward_intel_match_t *m,
                          size_t n, size_t total)
{
    char pb[8], ra[WARD_ADDR_STRLEN], t1[WARD_TIME_STRLEN], t2[WARD_TIME_STRLEN];
    ward_alert_intel_begin(a, c->device, &m[0], c->first_seen_ms, c->last_seen_ms);
    json_t *o = a->evidence;
    ward_addr_format(&c->remote_addr, ra, sizeof ra);
    json_object_set_new(o, "protocol", json_string(ward_wire_proto_name(c->proto, pb, sizeof pb)));
    json_object_set_new(o, "remote_addr", json_string(ra));
    json_object_set_new(o, "remote_port", json_integer(ward_flow_remote_port(c)));
    if (ward_wire_proto_is_icmp(c->proto)) {
        json_object_set_new(o, "icmp_type", json_integer(c->remote_port_raw >> 8));
        json_object_set_new(o, "icmp_code", json_integer(c->remote_port_raw & 0xff));
    }
    json_object_set_new(o, "direction", json_string(ward_wire_direction_name(c->initiator)));
    json_object_set_new(o, "first_seen",
                        json_string(ward_time_iso(c->first_seen_ms, t1, sizeof t1)));
    json_object_set_new(o, "last_seen", json_string(ward_time_iso(c->last_seen_ms, t2, sizeof t2)));
    json_object_set_new(o, "retrospective", json_true());
    ward_alert_intel_finish(a, m, n, total);
}

/* Raise (or fold) the retrospective alert, unless a live one exists. */
static int raise(ward_retro_t *r, const ward_flow_t *c, const ward_intel_match_t *m, size_t n,
                 size_t total, ward_retro_emit_fn emit, void *ctx)
{
    ward_alert_t a, old;
    contact_alert(&a, c, m, n, total);
    int found = ward_store_alert_find(r->store, a.device, a.type, a.fold_key, &old);
    int rc = found < 0 ? -1 : 0;
    if (found == 1) {
        bool live = !json_is_true(json_object_get(old.evidence, "retrospective"));
        ward_alert_clear(&old);
        if (live) {
            ward_alert_clear(&a);
            return 0;
        }
    }
    if (rc == 0) {
        rc = emit(ctx, &a);
        if (rc == 0)
            r->st.alerts++;
    }
    ward_alert_clear(&a);
    return rc;
}

int ward_retro_step(ward_retro_t *r, int64_t now_ms, int64_t mono_ms, size_t budget,
                    ward_retro_emit_fn emit, void *ctx)
{
    if (mono_ms >= r->next_prune_ms || r->prune_more) {
        r->next_prune_ms = mono_ms + WARD_RETRO_PRUNE_MS;
        if (prune(r, now_ms) != 0)
            return -1;
    }
    if (r->cur == NULL && atomic_load(&r->queued)) {
        pthread_mutex_lock(&r->mu);
        r->cur = r->head;
        r->head = r->cur->next;
        if (r->head == NULL) {
            r->tail = NULL;
            atomic_store(&r->queued, false);
        }
        pthread_mutex_unlock(&r->mu);
        r->cursor = 0;
        WARD_INFO(
            "retro-hunt: matching %zu new indicators against the contacts of the last %" PRId64
            " days",
            r->cur->added->count, r->history_ms / 86400000);
    }
    r->cursor0 = r->cursor;
    if (r->cur == NULL)
        return 0;
    sqlite3_stmt *s = r->stmt[S_SCAN];
    sqlite3_bind_int64(s, 1, r->cursor);
    sqlite3_bind_int64(s, 2, now_ms - r->history_ms);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)budget);
    size_t rows = 0;
    int rc = 0, st;
    ward_intel_match_t m[MATCH_MAX];
    while (rc == 0 && (st = sqlite3_step(s)) == SQLITE_ROW) {
        rows++;
        r->cursor = sqlite3_column_int64(s, 0);
        ward_flow_t c;
        memset(&c, 0, sizeof c);
        const unsigned char *dev = sqlite3_column_text(s, 1);
        const void *blob = sqlite3_column_blob(s, 2);
        if (dev == NULL || blob == NULL || sqlite3_column_bytes(s, 2) != 16)
            continue;
        snprintf(c.device, sizeof c.device, "%s", (const char *)dev);
        ward_addr_from_bytes(&c.remote_addr, blob, 16);
        if (ward_addr_is_v4_mapped(&c.remote_addr))
            c.remote_addr.family = 4;
        c.remote_port_raw = (uint16_t)sqlite3_column_int(s, 3);
        c.proto = (uint8_t)sqlite3_column_int(s, 4);
        c.initiator = (uint8_t)sqlite3_column_int(s, 5);
        c.first_seen_ms = sqlite3_column_int64(s, 6);
        c.last_seen_ms = sqlite3_column_int64(s, 7);
        r->st.scanned++;
        size_t total =
            ward_intel_added_match(r->cur->added, &c.remote_addr, now_ms / 1000, m, MATCH_MAX);
        if (total == 0)
            continue;
        r->st.matched++;
        rc = raise(r, &c, m, total < MATCH_MAX ? total : MATCH_MAX, total, emit, ctx);
    }
    if (rc == 0 && st != SQLITE_DONE && st != SQLITE_ROW)
        rc = db_error(r, "scan contacts");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != 0)
        return -1;
    /* Done once a slice finds nothing more: the slice that raised the last alerts has then
     * committed, so a rollback never loses a finished hunt's last alerts. */
    if (rows == 0) {
        WARD_INFO("retro-hunt: done: %zu new indicators, %" PRIu64 " contacts matched so far",
                  r->cur->added->count, r->st.matched);
        r->st.hunts++;
        r->st.indicators += r->cur->added->count;
        ward_intel_added_free(r->cur->added);
        free(r->cur);
        r->cur = NULL;
    }
    return 0;
}

void ward_retro_rollback(ward_retro_t *r)
{
    r->cursor = r->cursor0;
}

void ward_retro_stats(ward_retro_t *r, ward_retro_stats_t *out)
{
    *out = r->st;
}
