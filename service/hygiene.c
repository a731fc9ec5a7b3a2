/*
 * hygiene: see hygiene.h. Every check runs on each accepted report part and ends in one of three
 * calls: rec_open (insert, refresh or reopen one recommendation), rec_resolve (close it now) or
 * rec_resolve_stale (close it if nothing refreshed it for resolve_after_s). The newest agent and
 * firmware versions per group are kept in memory (loaded from hygiene_devices at start, raised as
 * reports arrive), and so is the little state the shared-identity check needs per device.
 *
 * Each device's recommendation rows and hygiene_devices row are mirrored in memory too, loaded
 * from the database on the device's first report (per lifetime, or after a rollback): a check
 * whose condition is absent costs no query, and a row is written only when it changes (opened,
 * reopened, new title, a later last_seen, resolved; new evidence alone only once the report's
 * minute is later than the row's last_seen, as some evidence changes with every report). Nothing
 * else writes these tables, so the mirror stays exact as long as every transaction commits; a
 * rollback (ward_store_rollbacks) invalidates all mirrors at once by bumping a generation number.
 * All statements are prepared once, for the life of the instance.
 */
#include "hygiene.h"
#include "fnv.h"
#include "grow.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "clock.h"
#include "log.h"
#include "store.h"

#define GROUP_MAX 64
#define VERSION_MAX (WARD_WIRE_TEXT_MAX + 1)

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS recommendations("
    " id INTEGER PRIMARY KEY,"
    " type TEXT NOT NULL,"
    " severity TEXT NOT NULL,"
    " device TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " title TEXT NOT NULL,"
    " description TEXT NOT NULL,"
    " remediation TEXT NOT NULL,"
    " evidence TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " resolved_at INTEGER,"
    " UNIQUE(device, type, key));"
    "CREATE INDEX IF NOT EXISTS recommendations_device ON recommendations(device, state);"
    "CREATE TABLE IF NOT EXISTS hygiene_devices("
    " device TEXT PRIMARY KEY,"
    " grp TEXT NOT NULL,"
    " agent_version TEXT NOT NULL,"
    " firmware TEXT,"
    " flow_capacity INTEGER,"
    " updated INTEGER NOT NULL);";

void ward_hygiene_config_defaults(ward_hygiene_config_t *c)
{
    c->max_listening_ports = 8;
    c->min_interval_s = 30;
    c->max_interval_s = 900;
    c->resolve_after_s = 3600;
    c->shared_identity_window_s = 600;
    c->shared_identity_events = 2;
}

/* ---- Versions ----------------------------------------------------------------------------- */

int ward_hygiene_version_cmp(const char *a, const char *b, bool *comparable)
{
    /* Numeric core: digits separated by dots, after an optional leading "v"; what follows a '-'
     * right after the core is a pre-release and sorts before the release. */
    const char *p[2] = {a, b};
    uint64_t num[2][8];
    size_t n[2] = {0, 0};
    bool pre[2] = {false, false};
    for (int k = 0; k < 2; k++) {
        const char *s = p[k];
        while (*s == ' ')
            s++;
        if (*s == 'v' || *s == 'V')
            s++;
        while (isdigit((unsigned char)*s) && n[k] < 8) {
            uint64_t v = 0;
            while (isdigit((unsigned char)*s)) {
                if (v < UINT64_MAX / 16)
                    v = v * 10 + (uint64_t)(*s - '0');
                s++;
            }
            num[k][n[k]++] = v;
            if (*s != '.' || !isdigit((unsigned char)s[1]))
                break;
            s++;
        }
        pre[k] = *s == '-' || *s == '~';
    }
    if (n[0] == 0 || n[1] == 0) {
        if (comparable)
            *comparable = false;
        return 0;
    }
    if (comparable)
        *comparable = true;
    size_t m = n[0] > n[1] ? n[0] : n[1];
    for (size_t i = 0; i < m; i++) {
        uint64_t x = i < n[0] ? num[0][i] : 0, y = i < n[1] ? num[1][i] : 0;
        if (x != y)
            return x < y ? -1 : 1;
    }
    if (pre[0] != pre[1])
        return pre[0] ? -1 : 1;
    return 0;
}

typedef struct group_newest {
    char group[GROUP_MAX + 1];
    char agent[VERSION_MAX], firmware[VERSION_MAX];
} group_newest_t;

/* The in-memory mirror of one recommendation row of a device. */
typedef struct rec_row {
    int64_t id;
    int64_t last_seen; /* as in the row: rewritten at most once a minute while open */
    int64_t seen;      /* the latest report that showed the condition (stale checks) */
    uint64_t content;  /* hash of severity, title, description, remediation, evidence */
    uint64_t text;     /* hash of severity, title, description, remediation */
    bool open;
    char type[40], key[40];
} rec_row_t;

/* Per-device state: the shared-identity check's, and the mirror of the device's rows (valid when
 * gen equals the instance's gen). */
typedef struct ident {
    struct ident *next;
    char id[WARD_DEVICE_ID_MAX + 1];
    uint32_t boot, prev_boot;
    bool has_prev;
    uint64_t seq;
    int64_t last_ms, prev_last_ms;
    int64_t event_start_ms;
    uint32_t events;
    char kind[32];

    uint64_t gen;      /* mirror valid when == ward_hygiene.gen */
    bool has_row;      /* hygiene_devices has a row for the device */
    uint64_t row_hash; /* hash of its group, agent version, firmware and capacity */
    int64_t row_cap;   /* its flow_capacity, -1 = NULL */
    char *row_fw;      /* its firmware, NULL = none */
    rec_row_t *recs;   /* its recommendation rows, any state */
    size_t n_recs, cap_recs;
} ident_t;

#define IDENT_BUCKETS 65536

enum { Q_REC_LOAD, Q_REC_UPSERT, Q_REC_SEEN, Q_REC_RESOLVE, Q_DEV_LOAD, Q_DEV_UPSERT, Q_COUNT_ };

static const char *const q_sql[Q_COUNT_] = {
    [Q_REC_LOAD] = "SELECT id, type, key, state, last_seen, severity, title, description,"
                   " remediation, evidence FROM recommendations WHERE device = ?1",
    /* Insert or refresh (device, type, key); an open row keeps first_seen, a resolved one
     * reopens. */
    [Q_REC_UPSERT] =
        "INSERT INTO recommendations(type, severity, device, key, title, description,"
        " remediation, evidence, state, first_seen, last_seen)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', ?9, ?9)"
        " ON CONFLICT(device, type, key) DO UPDATE SET"
        "  severity = excluded.severity, title = excluded.title,"
        "  description = excluded.description, remediation = excluded.remediation,"
        "  evidence = excluded.evidence,"
        "  first_seen = CASE WHEN state = 'open' THEN first_seen ELSE excluded.first_seen END,"
        "  last_seen = max(last_seen, excluded.last_seen),"
        "  state = 'open', resolved_at = NULL"
        " RETURNING id, last_seen",
    [Q_REC_SEEN] = "UPDATE recommendations SET last_seen = max(last_seen, ?2) WHERE id = ?1",
    [Q_REC_RESOLVE] = "UPDATE recommendations SET state = 'resolved', resolved_at = ?2,"
                      " last_seen = max(last_seen, ?2) WHERE id = ?1",
    [Q_DEV_LOAD] = "SELECT grp, agent_version, firmware, flow_capacity FROM hygiene_devices"
                   " WHERE device = ?1",
    [Q_DEV_UPSERT] = "INSERT OR REPLACE INTO hygiene_devices(device, grp, agent_version,"
                     " firmware, flow_capacity, updated) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
};

struct ward_hygiene {
    ward_store_t *store;
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT_];
    ward_hygiene_config_t cfg;
    group_newest_t *groups;
    size_t n_groups, cap_groups;
    ident_t *buckets[IDENT_BUCKETS];
    ident_t *cur;       /* the device of the report being evaluated */
    uint64_t gen;       /* mirrors of an older generation are reloaded */
    uint64_t rollbacks; /* ward_store_rollbacks when last looked */
    uint64_t opened, resolved;
};

/* FNV-1a over a string and its terminator, continuing from x. */
static uint64_t hash_str(uint64_t x, const char *s)
{
    if (s == NULL)
        s = "";
    return ward_fnv1a(x, s, strlen(s) + 1);
}

#define HASH_SEED WARD_FNV_SEED

static int db_error(ward_hygiene_t *h, const char *what)
{
    WARD_ERROR("database: %s: %s", what, sqlite3_errmsg(h->db));
    return -1;
}

static group_newest_t *group_get(ward_hygiene_t *h, const char *group)
{
    for (size_t i = 0; i < h->n_groups; i++)
        if (strcmp(h->groups[i].group, group) == 0)
            return &h->groups[i];
    if (!WARD_GROW(h->groups, h->n_groups, h->cap_groups, 8))
        return NULL;
    group_newest_t *g = &h->groups[h->n_groups++];
    memset(g, 0, sizeof *g);
    snprintf(g->group, sizeof g->group, "%s", group);
    return g;
}

static void raise_newest(char *newest, const char *v)
{
    bool ok = false;
    if (v == NULL || v[0] == '\0')
        return;
    /* Only versions with a number to compare take part. */
    ward_hygiene_version_cmp(v, v, &ok);
    if (!ok)
        return;
    int c = ward_hygiene_version_cmp(v, newest, &ok);
    if (newest[0] == '\0' || (ok && c > 0))
        snprintf(newest, VERSION_MAX, "%s", v);
}

ward_hygiene_t *ward_hygiene_new(ward_store_t *store, const ward_hygiene_config_t *cfg, char *err,
                                 size_t errlen)
{
    ward_hygiene_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->store = store;
    h->db = ward_store_sqlite(store);
    if (cfg != NULL)
        h->cfg = *cfg;
    else
        ward_hygiene_config_defaults(&h->cfg);
    char *msg = NULL;
    if (sqlite3_exec(h->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "recommendations schema: %s", msg ? msg : "error");
        sqlite3_free(msg);
        free(h);
        return NULL;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(h->db, "SELECT grp, agent_version, firmware FROM hygiene_devices", -1,
                           &s, NULL) == SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW) {
            group_newest_t *g = group_get(h, (const char *)sqlite3_column_text(s, 0));
            if (g == NULL)
                break;
            raise_newest(g->agent, (const char *)sqlite3_column_text(s, 1));
            raise_newest(g->firmware, (const char *)sqlite3_column_text(s, 2));
        }
    }
    sqlite3_finalize(s);
    for (int i = 0; i < Q_COUNT_; i++) {
        if (sqlite3_prepare_v3(h->db, q_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &h->q[i], NULL) !=
            SQLITE_OK) {
            snprintf(err, errlen, "recommendations: %s", sqlite3_errmsg(h->db));
            ward_hygiene_free(h);
            return NULL;
        }
    }
    h->gen = 1;
    h->rollbacks = ward_store_rollbacks(store);
    return h;
}

static void mirror_clear(ident_t *d)
{
    free(d->row_fw);
    free(d->recs);
    d->row_fw = NULL;
    d->recs = NULL;
    d->n_recs = d->cap_recs = 0;
    d->has_row = false;
    d->gen = 0;
}

void ward_hygiene_free(ward_hygiene_t *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < IDENT_BUCKETS; i++) {
        ident_t *d = h->buckets[i];
        while (d != NULL) {
            ident_t *n = d->next;
            mirror_clear(d);
            free(d);
            d = n;
        }
    }
    for (int i = 0; i < Q_COUNT_; i++)
        sqlite3_finalize(h->q[i]);
    free(h->groups);
    free(h);
}

void ward_hygiene_counts(const ward_hygiene_t *h, uint64_t *opened, uint64_t *resolved)
{
    *opened = h->opened;
    *resolved = h->resolved;
}

/* ---- Recommendation rows ------------------------------------------------------------------ */

/* severity, description and remediation are string constants (rec_text_of remembers their hash
 * by address); the title is formatted per report. */
typedef struct rec {
    const char *type, *severity, *key;
    char title[160];
    const char *description, *remediation;
    json_t *evidence; /* borrowed */
} rec_t;

/* Step a prepared statement to its end and reset it: 0 done, -1 error (logged). */
static int q_run(ward_hygiene_t *h, int q, const char *what)
{
    sqlite3_stmt *s = h->q[q];
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : db_error(h, what);
}

/* The part of rec_text that does not depend on the title. */
static uint64_t rec_text_fixed(const char *severity, const char *description,
                               const char *remediation)
{
    return hash_str(hash_str(hash_str(HASH_SEED, severity), description), remediation);
}

static uint64_t rec_text(const char *severity, const char *title, const char *description,
                         const char *remediation)
{
    return hash_str(rec_text_fixed(severity, description, remediation), title);
}

/*
 * rec_text for the checks, whose severity, description and remediation are string constants:
 * the hash of those three is remembered by their addresses (a constant's text never changes), so
 * a report hashes only the short title. Same value as rec_text.
 */
static uint64_t rec_text_of(const char *severity, const char *title, const char *description,
                            const char *remediation)
{
    static _Thread_local struct {
        const char *sev, *desc, *rem;
        uint64_t x;
    } memo[64];
    uintptr_t k = ((uintptr_t)description ^ (uintptr_t)remediation >> 4 ^ (uintptr_t)severity >> 8);
    size_t i = (size_t)(k >> 3) % 64;
    if (memo[i].sev != severity || memo[i].desc != description || memo[i].rem != remediation) {
        memo[i].x = rec_text_fixed(severity, description, remediation);
        memo[i].sev = severity;
        memo[i].desc = description;
        memo[i].rem = remediation;
    }
    return hash_str(memo[i].x, title);
}

#define MINUTE_MS 60000

static rec_row_t *rec_find(ident_t *d, const char *type, const char *key)
{
    for (size_t i = 0; i < d->n_recs; i++)
        if (strcmp(d->recs[i].type, type) == 0 && strcmp(d->recs[i].key, key) == 0)
            return &d->recs[i];
    return NULL;
}

static rec_row_t *rec_add(ident_t *d, const char *type, const char *key)
{
    if (!WARD_GROW(d->recs, d->n_recs, d->cap_recs, 4))
        return NULL;
    rec_row_t *row = &d->recs[d->n_recs++];
    memset(row, 0, sizeof *row);
    snprintf(row->type, sizeof row->type, "%s", type);
    snprintf(row->key, sizeof row->key, "%s", key);
    return row;
}

static const char *col(sqlite3_stmt *s, int c)
{
    const unsigned char *t = sqlite3_column_text(s, c);
    return t ? (const char *)t : "";
}

/* Load the device's rows into its mirror unless it is current. */
static int mirror_load(ward_hygiene_t *h, ident_t *d)
{
    if (d->gen == h->gen)
        return 0;
    mirror_clear(d);
    sqlite3_stmt *s = h->q[Q_DEV_LOAD];
    sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        d->has_row = true;
        d->row_cap = sqlite3_column_type(s, 3) != SQLITE_NULL ? sqlite3_column_int64(s, 3) : -1;
        const char *fw = col(s, 2);
        uint64_t x = hash_str(hash_str(hash_str(HASH_SEED, col(s, 0)), col(s, 1)), fw);
        d->row_hash = x ^ (uint64_t)d->row_cap;
        if (fw[0] != '\0' && (d->row_fw = strdup(fw)) == NULL)
            rc = SQLITE_NOMEM;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        mirror_clear(d);
        return db_error(h, "read device versions");
    }
    s = h->q[Q_REC_LOAD];
    sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        rec_row_t *row = rec_add(d, col(s, 1), col(s, 2));
        if (row == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
        row->id = sqlite3_column_int64(s, 0);
        row->open = strcmp(col(s, 3), "open") == 0;
        row->last_seen = row->seen = sqlite3_column_int64(s, 4);
        row->text = rec_text(col(s, 5), col(s, 6), col(s, 7), col(s, 8));
        row->content = hash_str(row->text, col(s, 9));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE) {
        mirror_clear(d);
        return db_error(h, "find recommendations");
    }
    d->gen = h->gen;
    return 0;
}

/*
 * True when row is open with this text and already holds the current minute: nothing to write,
 * only the time is noted. Same text means only the evidence (some, like plaintext transport's
 * flow counts, change with every report) and last_seen can move: they are rewritten once the
 * report's minute is later than the row's last_seen, not for every report.
 */
static bool row_current(rec_row_t *row, uint64_t text, int64_t now)
{
    if (row == NULL || !row->open || row->text != text)
        return false;
    if (now > row->seen)
        row->seen = now;
    return now / MINUTE_MS <= row->last_seen / MINUTE_MS;
}

/* row_current for (type, key) of the current device, before r's evidence is built: a check
 * whose row is current need not build it. */
static bool rec_current(ward_hygiene_t *h, const rec_t *r, int64_t now)
{
    return row_current(rec_find(h->cur, r->type, r->key),
                       rec_text_of(r->severity, r->title, r->description, r->remediation), now);
}

/* Open or refresh (device, type, key) of the current device: insert or reopen it, or update what
 * changed (the upsert keeps an open row's first_seen and restarts a resolved one's). */
static int rec_open(ward_hygiene_t *h, const char *device, const rec_t *r, int64_t now)
{
    ident_t *d = h->cur;
    uint64_t text = rec_text_of(r->severity, r->title, r->description, r->remediation);
    rec_row_t *row = rec_find(d, r->type, r->key);
    bool was_open = row != NULL && row->open;
    if (row_current(row, text, now))
        return 0;
    char *ev = json_dumps(r->evidence, JSON_COMPACT | JSON_SORT_KEYS);
    if (ev == NULL)
        return -1;
    uint64_t content = hash_str(text, ev);
    if (was_open && row->content == content) {
        free(ev);
        sqlite3_stmt *s = h->q[Q_REC_SEEN];
        sqlite3_bind_int64(s, 1, row->id);
        sqlite3_bind_int64(s, 2, now);
        if (q_run(h, Q_REC_SEEN, "open recommendation") != 0)
            return -1;
        row->last_seen = now;
        return 0;
    }
    if (row == NULL && (row = rec_add(d, r->type, r->key)) == NULL) {
        free(ev);
        return -1;
    }
    sqlite3_stmt *s = h->q[Q_REC_UPSERT];
    sqlite3_bind_text(s, 1, r->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, r->title, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, r->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, r->remediation, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, ev, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, now);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        row->id = sqlite3_column_int64(s, 0);
        row->last_seen = row->seen = sqlite3_column_int64(s, 1);
        row->open = true;
        row->content = content;
        row->text = text;
        rc = sqlite3_step(s);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    free(ev);
    if (rc != SQLITE_DONE) {
        /* The mirror may now be wrong about this row: reload the device next time. */
        d->gen = 0;
        return db_error(h, "open recommendation");
    }
    if (!was_open) {
        h->opened++;
        WARD_INFO("device %s: recommendation %s%s%s opened: %s", device, r->type,
                  r->key[0] ? " " : "", r->key, r->title);
    }
    return 0;
}

/* Resolve open rows of (device, type) of the current device: key NULL = every key except those
 * in keep[0..n_keep); stale_ms > 0 = only rows not refreshed since now - stale_ms. */
static int rec_resolve_where(ward_hygiene_t *h, const char *device, const char *type,
                             const char *key, const char *const *keep, size_t n_keep, int64_t now,
                             int64_t stale_ms)
{
    ident_t *d = h->cur;
    int64_t before = stale_ms > 0 ? now - stale_ms : INT64_MAX;
    for (size_t i = 0; i < d->n_recs; i++) {
        rec_row_t *row = &d->recs[i];
        if (!row->open || row->seen > before || strcmp(row->type, type) != 0 ||
            (key != NULL && strcmp(row->key, key) != 0))
            continue;
        bool kept = false;
        for (size_t k = 0; k < n_keep && !kept; k++)
            kept = strcmp(keep[k], row->key) == 0;
        if (kept)
            continue;
        WARD_INFO("device %s: recommendation %s%s%s resolved", device, type, row->key[0] ? " " : "",
                  row->key);
        sqlite3_stmt *s = h->q[Q_REC_RESOLVE];
        sqlite3_bind_int64(s, 1, row->id);
        sqlite3_bind_int64(s, 2, now);
        if (q_run(h, Q_REC_RESOLVE, "resolve recommendation") != 0)
            return -1;
        row->open = false;
        if (now > row->last_seen)
            row->last_seen = row->seen = now;
        h->resolved++;
    }
    return 0;
}

static int rec_resolve(ward_hygiene_t *h, const char *device, const char *type, const char *key,
                       int64_t now)
{
    return rec_resolve_where(h, device, type, key, NULL, 0, now, 0);
}

static int rec_resolve_stale(ward_hygiene_t *h, const char *device, const char *type,
                             const char *key, int64_t now)
{
    int64_t hold = (int64_t)h->cfg.resolve_after_s * 1000;
    return rec_resolve_where(h, device, type, key, NULL, 0, now, hold > 0 ? hold : 1);
}

/* ---- Checks ------------------------------------------------------------------------------- */

typedef struct insecure {
    uint8_t proto;
    uint16_t port;
    const char *name, *severity, *remediation;
} insecure_t;

static const insecure_t insecure[] = {
    {WARD_IPPROTO_TCP, 23, "telnet", "high",
     "Disable the telnet server in the firmware build; use SSH with keys, or no remote shell."},
    {WARD_IPPROTO_TCP, 2323, "telnet (alternate port)", "high",
     "Disable the telnet server in the firmware build; use SSH with keys, or no remote shell."},
    {WARD_IPPROTO_TCP, 21, "FTP", "high",
     "Disable the FTP server; deliver files over HTTPS or signed OTA updates."},
    {WARD_IPPROTO_UDP, 69, "TFTP", "high",
     "Disable the TFTP server; TFTP has no authentication. Use signed OTA updates over TLS."},
    {WARD_IPPROTO_TCP, 80, "plain HTTP", "medium",
     "Serve the web interface over HTTPS only (redirect or close port 80), or disable it."},
    {WARD_IPPROTO_TCP, 1883, "plain MQTT", "medium",
     "Listen for MQTT over TLS (8883) with client authentication, or not at all."},
    {WARD_IPPROTO_UDP, 161, "SNMP", "medium",
     "Disable SNMP, or use SNMPv3 with authPriv; never v1/v2c community strings."},
    {WARD_IPPROTO_UDP, 5683, "CoAP (no DTLS)", "medium",
     "Use CoAP over DTLS (5684) with authentication, or disable the CoAP server."},
    {WARD_IPPROTO_UDP, 1900, "UPnP/SSDP", "medium",
     "Disable UPnP/SSDP; it is used for discovery by attackers and for reflection attacks."},
};
#define N_INSECURE (sizeof insecure / sizeof insecure[0])

/* A socket bound only to loopback is not reachable from the network. */
static bool is_loopback(const ward_addr_t *a)
{
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (ward_addr_is_v4_mapped(a))
        return a->b[12] == 127;
    return memcmp(a->b, v6lo, 16) == 0;
}

static int check_listening(ward_hygiene_t *h, const ward_wire_report_t *r, int64_t now)
{
    if (!r->has_listening)
        return 0;
    const char *keep[N_INSECURE] = {0};
    size_t n_keep = 0;
    char keys[N_INSECURE][16];
    uint32_t ports[256];
    size_t n_ports = 0, total = 0;
    int rc = 0;
    for (size_t i = 0; i < r->n_listening; i++) {
        const ward_wire_listen_t *l = &r->listening[i];
        if (is_loopback(&l->addr))
            continue;
        uint32_t k = (uint32_t)l->proto << 16 | l->port;
        bool dup = false;
        for (size_t j = 0; j < n_ports && !dup; j++)
            dup = ports[j] == k;
        if (dup)
            continue;
        if (n_ports < 256)
            ports[n_ports++] = k;
        total++;
        for (size_t j = 0; rc == 0 && j < N_INSECURE && n_keep < N_INSECURE; j++) {
            const insecure_t *s = &insecure[j];
            if (s->proto != l->proto || s->port != l->port)
                continue;
            char pb[8];
            const char *pn = ward_wire_proto_name(s->proto, pb, sizeof pb);
            snprintf(keys[n_keep], sizeof keys[n_keep], "%s/%u", pn, s->port);
            rec_t rec = {
                WARD_REC_INSECURE_SERVICE, s->severity, keys[n_keep], "", NULL, NULL, NULL};
            snprintf(rec.title, sizeof rec.title, "Insecure service listening: %s (%s)", s->name,
                     keys[n_keep]);
            rec.description = "The device accepts connections for a service that sends "
                              "credentials and data in clear text or has no authentication; "
                              "anyone who can reach it can sniff or log in (Mirai-style worms "
                              "scan for exactly these).";
            rec.remediation = s->remediation;
            char a[WARD_ADDR_STRLEN];
            ward_addr_format(&l->addr, a, sizeof a);
            rec.evidence = json_pack("{s:s,s:i,s:s,s:s}", "protocol", pn, "port", s->port,
                                     "service", s->name, "local_addr", a);
            rc = rec_open(h, r->device_id, &rec, now);
            json_decref(rec.evidence);
            keep[n_keep] = keys[n_keep];
            n_keep++;
        }
    }
    if (rc == 0)
        rc = rec_resolve_where(h, r->device_id, WARD_REC_INSECURE_SERVICE, NULL, keep, n_keep, now,
                               0);
    if (rc != 0)
        return rc;
    if (total > h->cfg.max_listening_ports) {
        rec_t rec = {WARD_REC_OPEN_PORTS, "medium", "", "", NULL, NULL, NULL};
        snprintf(rec.title, sizeof rec.title, "%zu listening ports (more than %" PRIu32 ")", total,
                 h->cfg.max_listening_ports);
        rec.description = "Every listening port is attack surface; a constrained device rarely "
                          "needs more than a few.";
        rec.remediation = "Disable the services the product does not need, bind debug and "
                          "management services to loopback, and build them out of release "
                          "firmware.";
        json_t *list = json_array();
        for (size_t i = 0; i < n_ports; i++) {
            char s[24], pn[8];
            snprintf(s, sizeof s, "%s/%u", ward_wire_proto_name(ports[i] >> 16, pn, sizeof pn),
                     (unsigned)(ports[i] & 0xffff));
            json_array_append_new(list, json_string(s));
        }
        rec.evidence =
            json_pack("{s:I,s:i,s:o}", "listening_ports", (json_int_t)total, "max_listening_ports",
                      (int)h->cfg.max_listening_ports, "ports", list);
        rc = rec_open(h, r->device_id, &rec, now);
        json_decref(rec.evidence);
        return rc;
    }
    return rec_resolve(h, r->device_id, WARD_REC_OPEN_PORTS, "", now);
}

static int check_plaintext(ward_hygiene_t *h, const ward_wire_report_t *r, int64_t now)
{
    int rc = 0;
    const char *dev = r->device_id;
    if (r->sysinfo.present && r->sysinfo.has_tls) {
        if (!r->sysinfo.tls) {
            rec_t rec = {WARD_REC_PLAINTEXT, "high", "report_transport", "", NULL, NULL, NULL};
            snprintf(rec.title, sizeof rec.title, "Reports travel without TLS");
            rec.description = "The agent publishes its reports over MQTT without TLS: anyone on "
                              "the path can read them, and forge or suppress them.";
            rec.remediation = "Configure the agent's transport for MQTT over TLS (port 8883) "
                              "with a per-device client certificate.";
            if (!rec_current(h, &rec, now)) {
                rec.evidence = json_pack("{s:b}", "tls", 0);
                rc = rec_open(h, dev, &rec, now);
                json_decref(rec.evidence);
            }
        } else {
            rc = rec_resolve(h, dev, WARD_REC_PLAINTEXT, "report_transport", now);
        }
    }
    static const struct {
        uint16_t port;
        const char *key, *name, *remediation;
    } plain[] = {
        {1883, "tcp/1883", "MQTT",
         "Use MQTT over TLS (8883) with server verification and client authentication."},
        {80, "tcp/80", "HTTP", "Use HTTPS with server certificate verification."},
    };
    for (size_t k = 0; rc == 0 && k < sizeof plain / sizeof plain[0]; k++) {
        uint64_t bytes = 0, flows = 0;
        for (size_t i = 0; i < r->n_flows; i++) {
            const ward_wire_flow_t *f = &r->flows[i];
            if (f->proto != WARD_IPPROTO_TCP || f->initiator != WARD_DIR_OUTBOUND ||
                f->remote_port != plain[k].port)
                continue;
            flows++;
            bytes += f->bytes_out < UINT32_MAX ? f->bytes_out : UINT32_MAX;
        }
        if (flows == 0) {
            rc = rec_resolve_stale(h, dev, WARD_REC_PLAINTEXT, plain[k].key, now);
            continue;
        }
        rec_t rec = {WARD_REC_PLAINTEXT, "medium", plain[k].key, "", NULL, NULL, NULL};
        snprintf(rec.title, sizeof rec.title, "Plaintext %s connections (%s)", plain[k].name,
                 plain[k].key);
        rec.description = "The device opens connections to remote services without TLS: data "
                          "and credentials can be read and altered on the path.";
        rec.remediation = plain[k].remediation;
        if (rec_current(h, &rec, now))
            continue;
        json_t *remotes = json_array();
        for (size_t i = 0; i < r->n_flows; i++) {
            const ward_wire_flow_t *f = &r->flows[i];
            if (f->proto != WARD_IPPROTO_TCP || f->initiator != WARD_DIR_OUTBOUND ||
                f->remote_port != plain[k].port)
                continue;
            char a[WARD_ADDR_STRLEN];
            ward_addr_format(&f->remote_addr, a, sizeof a);
            bool dup = false;
            for (size_t j = 0; j < json_array_size(remotes) && !dup; j++)
                dup = strcmp(json_string_value(json_array_get(remotes, j)), a) == 0;
            if (!dup && json_array_size(remotes) < 10)
                json_array_append_new(remotes, json_string(a));
        }
        rec.evidence = json_pack("{s:s,s:i,s:I,s:I,s:o}", "protocol", "tcp", "remote_port",
                                 plain[k].port, "flows", (json_int_t)flows, "bytes_out",
                                 (json_int_t)bytes, "remotes", remotes);
        rc = rec_open(h, dev, &rec, now);
        json_decref(rec.evidence);
    }
    return rc;
}

/* Record group, versions and capacity; returns the stored firmware and capacity (when the report
 * lacks sysinfo) through fw/cap. The row is written only when one of them changed, so its
 * `updated` is the time of the last change. */
static int update_device(ward_hygiene_t *h, const ward_wire_report_t *r, const char *group,
                         int64_t now, char *fw, size_t fwlen, int64_t *cap, int64_t *old_cap)
{
    ident_t *d = h->cur;
    *old_cap = d->has_row ? d->row_cap : -1;
    snprintf(fw, fwlen, "%s", d->row_fw ? d->row_fw : "");
    const ward_wire_sysinfo_t *si = &r->sysinfo;
    if (si->present && si->has_firmware)
        snprintf(fw, fwlen, "%s", si->firmware);
    *cap = *old_cap;
    if (si->present && si->has_flow_capacity && si->flow_capacity <= INT64_MAX)
        *cap = (int64_t)si->flow_capacity;
    uint64_t x = hash_str(hash_str(hash_str(HASH_SEED, group), r->agent_version), fw);
    x ^= (uint64_t)*cap;
    if (d->has_row && x == d->row_hash)
        return 0;
    sqlite3_stmt *s = h->q[Q_DEV_UPSERT];
    sqlite3_bind_text(s, 1, r->device_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, group, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, r->agent_version, -1, SQLITE_STATIC);
    if (fw[0] != '\0')
        sqlite3_bind_text(s, 4, fw, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 4);
    if (*cap >= 0)
        sqlite3_bind_int64(s, 5, *cap);
    else
        sqlite3_bind_null(s, 5);
    sqlite3_bind_int64(s, 6, now);
    if (q_run(h, Q_DEV_UPSERT, "store device versions") != 0)
        return -1;
    char *copy = NULL;
    if (fw[0] != '\0' && (copy = strdup(fw)) == NULL) {
        d->gen = 0; /* reload the row next time */
        return 0;
    }
    free(d->row_fw);
    d->row_fw = copy;
    d->row_cap = *cap;
    d->row_hash = x;
    d->has_row = true;
    return 0;
}

static int check_version(ward_hygiene_t *h, const char *dev, const char *group, const char *type,
                         const char *what, const char *mine, char *newest, int64_t now)
{
    if (mine == NULL || mine[0] == '\0')
        return 0;
    raise_newest(newest, mine);
    bool ok = false;
    int c = ward_hygiene_version_cmp(mine, newest, &ok);
    if (!ok || c >= 0)
        return rec_resolve(h, dev, type, "", now);
    rec_t rec = {type, "low", "", "", NULL, NULL, NULL};
    snprintf(rec.title, sizeof rec.title, "Outdated %s %s (group %s runs %s)", what, mine, group,
             newest);
    bool agent = strcmp(type, WARD_REC_OUTDATED_AGENT) == 0;
    rec.description = agent ? "The ward agent on this device is older than the newest agent "
                              "seen in its security group: it may miss fixes and detections."
                            : "The firmware on this device is older than the newest firmware "
                              "seen in its security group: it may lack security fixes.";
    rec.remediation = agent ? "Update the device firmware to one that embeds the newest ward "
                              "agent of the group."
                            : "Roll out the group's newest firmware to this device (signed OTA "
                              "update).";
    rec.evidence =
        json_pack("{s:s,s:s,s:s}", "version", mine, "newest_in_group", newest, "group", group);
    int rc = rec_open(h, dev, &rec, now);
    json_decref(rec.evidence);
    return rc;
}

static int check_time(ward_hygiene_t *h, const ward_wire_report_t *r, int64_t now)
{
    bool unsynced;
    const char *source;
    if (r->sysinfo.present && r->sysinfo.has_time_synced) {
        unsynced = !r->sysinfo.time_synced;
        source = "sysinfo";
    } else {
        unsynced = r->time_base == WARD_TIME_BOOT;
        source = "time_base";
    }
    if (!unsynced)
        return rec_resolve(h, r->device_id, WARD_REC_TIME_NOT_SYNCED, "", now);
    rec_t rec = {
        WARD_REC_TIME_NOT_SYNCED, "low", "", "Device clock not synchronised", NULL, NULL, NULL};
    rec.description = "The device's clock is not synchronised: certificate validity cannot be "
                      "checked (TLS accepts expired or not-yet-valid certificates or fails), and "
                      "its logs and reports carry no absolute time.";
    rec.remediation = "Enable SNTP (e.g. lwIP SNTP, Zephyr SNTP) against a trusted server and "
                      "report time_synced once it has synchronised.";
    if (rec_current(h, &rec, now))
        return 0;
    rec.evidence = json_pack("{s:s,s:s}", "source", source, "time_base",
                             r->time_base == WARD_TIME_BOOT ? "boot" : "unix");
    int rc = rec_open(h, r->device_id, &rec, now);
    json_decref(rec.evidence);
    return rc;
}

static uint64_t next_pow2(uint64_t v)
{
    uint64_t p = 1;
    while (p <= v && p < ((uint64_t)1 << 62))
        p <<= 1;
    return p;
}

static int check_overflow(ward_hygiene_t *h, const ward_wire_report_t *r, int64_t cap,
                          int64_t old_cap, int64_t now)
{
    uint64_t flows = 0, packets = 0, bytes = 0;
    for (size_t i = 0; i < r->n_overflow; i++) {
        flows += r->overflow[i].flows < UINT32_MAX ? r->overflow[i].flows : UINT32_MAX;
        packets += r->overflow[i].packets < UINT32_MAX ? r->overflow[i].packets : UINT32_MAX;
        bytes += r->overflow[i].bytes < UINT32_MAX ? r->overflow[i].bytes : UINT32_MAX;
    }
    if (flows == 0 && packets == 0) {
        /* A larger table resolves it at once; otherwise after a quiet period. */
        if (old_cap >= 0 && cap > old_cap)
            return rec_resolve(h, r->device_id, WARD_REC_FLOW_OVERFLOW, "", now);
        return rec_resolve_stale(h, r->device_id, WARD_REC_FLOW_OVERFLOW, "", now);
    }
    rec_t rec = {WARD_REC_FLOW_OVERFLOW, "medium", "", "", NULL, NULL, NULL};
    json_t *ev =
        json_pack("{s:I,s:I,s:I}", "untracked_flows", (json_int_t)flows, "untracked_packets",
                  (json_int_t)packets, "untracked_bytes", (json_int_t)bytes);
    if (cap >= 0) {
        uint64_t suggested = next_pow2((uint64_t)cap + flows);
        json_object_set_new(ev, "flow_capacity", json_integer(cap));
        json_object_set_new(ev, "suggested_capacity", json_integer((json_int_t)suggested));
        snprintf(rec.title, sizeof rec.title,
                 "Flow table too small: %" PRIu64 " flows untracked (capacity %" PRId64
                 ", suggest %" PRIu64 ")",
                 flows, cap, suggested);
    } else {
        snprintf(rec.title, sizeof rec.title, "Flow table too small: %" PRIu64 " flows untracked",
                 flows);
    }
    rec.description = "The agent's flow table was full: new flows were only counted in the "
                      "overflow summary, without their addresses and ports, so intel matching "
                      "and rules could not see them.";
    rec.remediation = "Raise WARD_MAX_FLOWS in the agent's ward_config.h to the suggested "
                      "capacity (or shorten the report interval so the table drains more often).";
    rec.evidence = ev;
    int rc = rec_open(h, r->device_id, &rec, now);
    json_decref(ev);
    return rc;
}

static int check_interval(ward_hygiene_t *h, const ward_wire_report_t *r, int64_t now)
{
    if (!r->has_interval)
        return 0;
    const char *dev = r->device_id;
    bool too_short = r->interval < h->cfg.min_interval_s;
    bool too_long = r->interval > h->cfg.max_interval_s;
    int rc = 0;
    if (!too_short)
        rc = rec_resolve(h, dev, WARD_REC_REPORT_INTERVAL, "too_short", now);
    if (rc == 0 && !too_long)
        rc = rec_resolve(h, dev, WARD_REC_REPORT_INTERVAL, "too_long", now);
    if (rc != 0 || (!too_short && !too_long))
        return rc;
    rec_t rec = {WARD_REC_REPORT_INTERVAL,
                 "low",
                 too_short ? "too_short" : "too_long",
                 "",
                 NULL,
                 NULL,
                 NULL};
    snprintf(rec.title, sizeof rec.title,
             "Report interval %" PRIu32 " s is too %s (%s %" PRIu32 " s)", r->interval,
             too_short ? "short" : "long", too_short ? "minimum" : "maximum",
             too_short ? h->cfg.min_interval_s : h->cfg.max_interval_s);
    rec.description = too_short ? "Reports this frequent cost the device energy and airtime and "
                                  "the fleet's broker and database capacity, for no detection "
                                  "gain: the agent aggregates flows anyway."
                                : "Reports this rare delay every detection (scans, floods, "
                                  "intel matches) and make a silent device noticed only after "
                                  "several intervals.";
    rec.remediation = "Set the report interval in the device config (wardd pushes it on "
                      "ward/v1/<id>/config) within the recommended bounds.";
    rec.evidence =
        json_pack("{s:i,s:i,s:i}", "interval_s", (int)r->interval, "min_interval_s",
                  (int)h->cfg.min_interval_s, "max_interval_s", (int)h->cfg.max_interval_s);
    rc = rec_open(h, dev, &rec, now);
    json_decref(rec.evidence);
    return rc;
}

static ident_t *ident_get(ward_hygiene_t *h, const char *id)
{
    size_t b = (size_t)(ward_fnv1a_str(WARD_FNV_SEED, id) % IDENT_BUCKETS);
    for (ident_t *d = h->buckets[b]; d != NULL; d = d->next)
        if (strcmp(d->id, id) == 0)
            return d;
    ident_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    snprintf(d->id, sizeof d->id, "%s", id);
    d->next = h->buckets[b];
    h->buckets[b] = d;
    return d;
}

static int check_identity(ward_hygiene_t *h, const ward_wire_report_t *r, int64_t now)
{
    ident_t *d = h->cur;
    int64_t win = (int64_t)h->cfg.shared_identity_window_s * 1000;
    const char *event = NULL;
    if (d->last_ms == 0) {
        d->boot = r->boot_id;
        d->seq = r->seq;
    } else if (r->boot_id == d->boot) {
        if (r->seq < d->seq)
            event = "seq_interleave";
        else
            d->seq = r->seq;
    } else if (d->has_prev && r->boot_id == d->prev_boot && now - d->prev_last_ms <= win) {
        /* Back to the boot before the latest: two devices are alternating. */
        event = "boot_interleave";
        uint32_t b = d->boot;
        int64_t t = d->last_ms;
        d->boot = d->prev_boot;
        d->seq = r->seq;
        d->prev_boot = b;
        d->prev_last_ms = t;
    } else {
        d->prev_boot = d->boot;
        d->prev_last_ms = d->last_ms;
        d->has_prev = true;
        d->boot = r->boot_id;
        d->seq = r->seq;
    }
    d->last_ms = now;
    if (event == NULL)
        return rec_resolve_stale(h, r->device_id, WARD_REC_SHARED_IDENTITY, "", now);
    if (d->events == 0 || now - d->event_start_ms > win) {
        d->events = 0;
        d->event_start_ms = now;
    }
    d->events++;
    snprintf(d->kind, sizeof d->kind, "%s", event);
    if (d->events < h->cfg.shared_identity_events)
        return 0;
    rec_t rec = {WARD_REC_SHARED_IDENTITY, "high", "", "", NULL, NULL, NULL};
    snprintf(rec.title, sizeof rec.title, "Device identity %s used from two places at once",
             r->device_id);
    rec.description = "Reports under this device id come from two sources at the same time "
                      "(boot ids or sequence numbers interleave): the identity (client id, "
                      "certificate or credentials) is shared by cloned devices, or was stolen.";
    rec.remediation = "Give every device its own identity and certificate at provisioning; "
                      "revoke the shared credential and re-provision the devices that use it.";
    rec.evidence =
        json_pack("{s:s,s:I,s:I,s:I,s:I,s:i}", "kind", event, "boot_id", (json_int_t)r->boot_id,
                  "other_boot_id",
                  (json_int_t)(strcmp(event, "boot_interleave") == 0 ? d->prev_boot : r->boot_id),
                  "seq", (json_int_t)r->seq, "events", (json_int_t)d->events, "window_s",
                  (int)h->cfg.shared_identity_window_s);
    int rc = rec_open(h, r->device_id, &rec, now);
    json_decref(rec.evidence);
    return rc;
}

int ward_hygiene_report(ward_hygiene_t *h, const ward_wire_report_t *r, const char *group,
                        int64_t received_ms)
{
    if (group == NULL || group[0] == '\0')
        group = "default";
    int64_t now = received_ms;
    char fw[VERSION_MAX];
    int64_t cap = -1, old_cap = -1;
    uint64_t rollbacks = ward_store_rollbacks(h->store);
    if (rollbacks != h->rollbacks) {
        h->rollbacks = rollbacks;
        h->gen++; /* rows written by a rolled-back transaction are gone: reload every mirror */
    }
    if ((h->cur = ident_get(h, r->device_id)) == NULL)
        return -1;
    if (mirror_load(h, h->cur) != 0)
        return -1;
    int rc = check_identity(h, r, now);
    /* Parts after the first repeat what the first said about the device: judge the first. */
    if (rc == 0 && r->part_index > 0)
        return check_listening(h, r, now);
    if (rc == 0)
        rc = update_device(h, r, group, now, fw, sizeof fw, &cap, &old_cap);
    if (rc == 0)
        rc = check_listening(h, r, now);
    if (rc == 0)
        rc = check_plaintext(h, r, now);
    group_newest_t *g = rc == 0 ? group_get(h, group) : NULL;
    if (g != NULL) {
        rc = check_version(h, r->device_id, group, WARD_REC_OUTDATED_AGENT, "agent",
                           r->agent_version, g->agent, now);
        if (rc == 0)
            rc = check_version(h, r->device_id, group, WARD_REC_OUTDATED_FIRMWARE, "firmware", fw,
                               g->firmware, now);
    }
    if (rc == 0)
        rc = check_time(h, r, now);
    if (rc == 0)
        rc = check_overflow(h, r, cap, old_cap, now);
    if (rc == 0)
        rc = check_interval(h, r, now);
    return rc;
}

/* ---- Reading ------------------------------------------------------------------------------ */

json_t *ward_hygiene_list_json(ward_store_t *store, const char *device)
{
    sqlite3 *db = ward_store_sqlite(store);
    sqlite3_stmt *s = NULL;
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, type, severity, device, key, title, description,"
                                " remediation, evidence, state, first_seen, last_seen, resolved_at"
                                " FROM recommendations WHERE (?1 IS NULL OR device = ?1)"
                                " ORDER BY id",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        /* A database written before recommendations existed: nothing to list. */
        bool missing = strstr(sqlite3_errmsg(db), "no such table") != NULL;
        if (!missing)
            WARD_ERROR("database: list recommendations: %s", sqlite3_errmsg(db));
        sqlite3_finalize(s);
        if (missing)
            return arr;
        json_decref(arr);
        return NULL;
    }
    if (device != NULL)
        sqlite3_bind_text(s, 1, device, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char t[WARD_TIME_STRLEN];
        json_t *o = json_object();
        static const char *const text_cols[] = {NULL,  "type",  "severity",    "device",
                                                "key", "title", "description", "remediation"};
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(s, 0)));
        for (int c = 1; c <= 7; c++) {
            const unsigned char *v = sqlite3_column_text(s, c);
            json_object_set_new(o, text_cols[c], json_string(v ? (const char *)v : ""));
        }
        const char *ev = (const char *)sqlite3_column_text(s, 8);
        json_t *evj = ev ? json_loads(ev, 0, NULL) : NULL;
        json_object_set_new(o, "evidence", evj ? evj : json_object());
        const unsigned char *st = sqlite3_column_text(s, 9);
        json_object_set_new(o, "state", json_string(st ? (const char *)st : ""));
        json_object_set_new(o, "first_seen",
                            json_string(ward_time_iso(sqlite3_column_int64(s, 10), t, sizeof t)));
        json_object_set_new(o, "last_seen",
                            json_string(ward_time_iso(sqlite3_column_int64(s, 11), t, sizeof t)));
        if (sqlite3_column_type(s, 12) != SQLITE_NULL)
            json_object_set_new(
                o, "resolved_at",
                json_string(ward_time_iso(sqlite3_column_int64(s, 12), t, sizeof t)));
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        WARD_ERROR("database: list recommendations: %s", sqlite3_errmsg(db));
        json_decref(arr);
        return NULL;
    }
    return arr;
}
