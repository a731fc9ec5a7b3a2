/*
 * store: SQLite schema, the writer's prepared statements, and the read queries of wardctl.
 * See store.h for the schema and the threading rule (one connection, one thread at a time).
 *
 * The writer keeps its statements prepared for the life of the connection; every write runs in
 * the transaction the worker opened, so a batch of reports costs one fsync (WAL,
 * synchronous=NORMAL).
 */
#include "store.h"
#include "fnv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "clock.h"
#include "grow.h"
#include "log.h"
#include "wire.h"

#define SCHEMA_VERSION "2"

enum stmt_id {
    S_PART,
    S_DEV_LOAD,
    S_DEV_WRITE,
    S_ALERT_FIND,
    S_ALERT_INSERT,
    S_ALERT_UPDATE,
    S_OVERFLOW,
    S_COUNT_
};

static const char *const stmt_sql[S_COUNT_] = {
    [S_PART] = "INSERT OR IGNORE INTO report_parts(device, boot_id, seq, part, received, digest,"
               " time_base, payload) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    /* The devices rows are kept in memory by the writer (dev_get) and written at commit. */
    [S_DEV_LOAD] = "SELECT first_seen, last_seen, agent_version, boot_id, last_seq, reports, flows,"
                   " config_rev FROM devices WHERE id = ?1",
    [S_DEV_WRITE] =
        "INSERT INTO devices(id, first_seen, last_seen, agent_version, boot_id, last_seq, reports,"
        " flows, config_rev) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
        "ON CONFLICT(id) DO UPDATE SET first_seen = excluded.first_seen,"
        " last_seen = excluded.last_seen, agent_version = excluded.agent_version,"
        " boot_id = excluded.boot_id, last_seq = excluded.last_seq, reports = excluded.reports,"
        " flows = excluded.flows, config_rev = excluded.config_rev",
    [S_ALERT_FIND] = "SELECT id, type, severity, device, title, fold_key, first_seen, last_seen,"
                     " count, state, evidence FROM alerts"
                     " WHERE device = ?1 AND type = ?2 AND fold_key = ?3",
    [S_ALERT_INSERT] = "INSERT INTO alerts(type, severity, device, title, fold_key, first_seen,"
                       " last_seen, count, state, evidence)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_ALERT_UPDATE] = "UPDATE alerts SET first_seen = ?2, last_seen = ?3, count = ?4, state = ?5,"
                       " evidence = ?6 WHERE id = ?1",
    [S_OVERFLOW] = "INSERT INTO flow_overflow(device, boot_id, seq, protocol, direction, flows,"
                   " packets, bytes, first_seen, last_seen)"
                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
};

/* One row per report part processed, in the order they were stored: the duplicate filter
 * (report_parts_key) and the flow history (payload; time_base is the absolute time in ms of the
 * report's period_start). Parts stored by schema 1 have neither: their flows are in table flows. */
#define REPORT_PARTS_SQL                                                                           \
    "CREATE TABLE IF NOT EXISTS report_parts("                                                     \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " device TEXT NOT NULL,"                                                                       \
    " boot_id INTEGER NOT NULL,"                                                                   \
    " seq INTEGER NOT NULL,"                                                                       \
    " part INTEGER NOT NULL,"                                                                      \
    " received INTEGER NOT NULL,"                                                                  \
    " digest INTEGER NOT NULL,"                                                                    \
    " time_base INTEGER,"                                                                          \
    " payload BLOB);"                                                                              \
    "CREATE UNIQUE INDEX IF NOT EXISTS report_parts_key"                                           \
    " ON report_parts(device, boot_id, seq, part);"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS devices("
    " id TEXT PRIMARY KEY,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " agent_version TEXT NOT NULL,"
    " boot_id INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL,"
    " reports INTEGER NOT NULL DEFAULT 0,"
    " flows INTEGER NOT NULL DEFAULT 0);"
    /* Schema 2: each part keeps the report as received; the flow history is read back from it
     * (ward_store_flows_json). A schema 1 database is migrated (migrate_v1) before this runs. */
    REPORT_PARTS_SQL
    /* The overflow summary of each report (docs/protocol.md 3.3): traffic the agent's flow table
     * had no room for. first/last_seen are the report's period. Added to schema 1 without a
     * version bump: CREATE IF NOT EXISTS adds it to older databases, and readers treat a
     * database without it as having no overflow. */
    "CREATE TABLE IF NOT EXISTS flow_overflow("
    " id INTEGER PRIMARY KEY,"
    " device TEXT NOT NULL,"
    " boot_id INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " protocol INTEGER NOT NULL,"
    " direction TEXT NOT NULL,"
    " flows INTEGER NOT NULL,"
    " packets INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS flow_overflow_device_time ON flow_overflow(device, first_seen);"
    "CREATE TABLE IF NOT EXISTS alerts("
    " id INTEGER PRIMARY KEY,"
    " type TEXT NOT NULL,"
    " severity TEXT NOT NULL,"
    " device TEXT NOT NULL,"
    " title TEXT NOT NULL,"
    " fold_key TEXT NOT NULL,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'active',"
    " evidence TEXT NOT NULL,"
    " UNIQUE(device, type, fold_key));"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '" SCHEMA_VERSION "');";

/*
 * The writer's settings (docs/performance.md):
 * - WAL with synchronous=NORMAL: a commit is one append to the WAL, without fsync; the WAL is
 *   synced at each checkpoint. The database is always consistent; on power loss (not on a crash
 *   of wardd) the transactions committed since the last checkpoint can be lost.
 * - checkpoints on a thread of their own (ckpt_run, its own connection), PASSIVE, once the WAL
 *   holds CKPT_PAGES pages (16 MB): the worker only appends to the WAL, and a page written by many
 *   batches in between is copied back once. A passive checkpoint cannot restart a WAL that the
 *   writer keeps appending to, so past CKPT_FORCE_PAGES (40 MB) the writer checkpoints itself, as
 *   SQLite's own autocheckpoint would: by then the thread has copied most of it, the writer
 *   copies the rest, and its next transaction starts the WAL over. journal_size_limit then cuts
 *   the file back.
 * - cache_size 64 MiB: the flow and contact indexes stay in memory instead of being re-read
 *   from the file by every batch.
 */
static const char writer_pragmas[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                     " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;"
                                     " PRAGMA journal_size_limit=67108864;";

#define CKPT_PAGES 4000
#define CKPT_FORCE_PAGES 10000

/*
 * The writer's copy of a devices row. A report updates it in memory; the rows changed in a
 * transaction (the dirty list) are written once each by ward_store_commit, instead of one upsert
 * per report. Only the writer writes devices, so the copy stays exact while transactions commit;
 * a rollback (ward_store_rollbacks changes) makes every copy stale: reloaded on next use.
 */
typedef struct dev_row {
    struct dev_row *next, *next_dirty;
    uint64_t gen; /* valid when == the store's rollbacks */
    bool exists, dirty;
    char id[WARD_DEVICE_ID_MAX + 1];
    char agent_version[WARD_WIRE_TEXT_MAX + 1];
    uint32_t boot;
    uint64_t last_seq, reports, flows, config_rev;
    int64_t first_seen, last_seen;
} dev_row_t;

#define DEV_BUCKETS 65536

struct ward_store {
    sqlite3 *db;
    bool readonly;
    sqlite3_stmt *stmt[S_COUNT_];
    uint64_t rollbacks; /* transactions rolled back (ward_store_rollbacks) */
    dev_row_t **devs;   /* writer: DEV_BUCKETS chains */
    dev_row_t *dirty;   /* writer: rows changed in this transaction */

    /* The checkpointer (writer only): ckpt_db is used by its thread only; the flags by both. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_started, ckpt_wanted, ckpt_stop;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
};

/* The writer's WAL hook, after each commit: ask for a checkpoint when the WAL is long enough. */
static int on_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
    ward_store_t *st = arg;
    if (pages >= CKPT_FORCE_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= CKPT_PAGES) {
        pthread_mutex_lock(&st->ckpt_mu);
        st->ckpt_wanted = true;
        pthread_cond_signal(&st->ckpt_cv);
        pthread_mutex_unlock(&st->ckpt_mu);
    }
    return SQLITE_OK;
}

static void *ckpt_run(void *arg)
{
    ward_store_t *st = arg;
    pthread_mutex_lock(&st->ckpt_mu);
    for (;;) {
        while (!st->ckpt_wanted && !st->ckpt_stop)
            pthread_cond_wait(&st->ckpt_cv, &st->ckpt_mu);
        if (st->ckpt_stop)
            break;
        st->ckpt_wanted = false;
        pthread_mutex_unlock(&st->ckpt_mu);
        /* Busy (a checkpoint of the writer's own is running) or blocked by a reader: the next
         * commit asks again. */
        sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&st->ckpt_mu);
    }
    pthread_mutex_unlock(&st->ckpt_mu);
    return NULL;
}

/* Start the checkpointer of a writer; without it (no thread, no second connection) SQLite's own
 * autocheckpoint is left in place. */
static void ckpt_start(ward_store_t *st, const char *path)
{
    /* A first read puts the new connection's pager in WAL mode: until then a checkpoint through
     * it does nothing. */
    if (sqlite3_open_v2(path, &st->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(st->ckpt_db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
            SQLITE_OK) {
        sqlite3_close(st->ckpt_db);
        st->ckpt_db = NULL;
        return;
    }
    pthread_mutex_init(&st->ckpt_mu, NULL);
    pthread_cond_init(&st->ckpt_cv, NULL);
    if (pthread_create(&st->ckpt_thread, NULL, ckpt_run, st) != 0) {
        pthread_mutex_destroy(&st->ckpt_mu);
        pthread_cond_destroy(&st->ckpt_cv);
        sqlite3_close(st->ckpt_db);
        st->ckpt_db = NULL;
        return;
    }
    st->ckpt_started = true;
    sqlite3_wal_hook(st->db, on_wal, st); /* replaces the autocheckpoint */
}

static void ckpt_stop(ward_store_t *st)
{
    if (!st->ckpt_started)
        return;
    sqlite3_wal_hook(st->db, NULL, NULL);
    pthread_mutex_lock(&st->ckpt_mu);
    st->ckpt_stop = true;
    pthread_cond_signal(&st->ckpt_cv);
    pthread_mutex_unlock(&st->ckpt_mu);
    pthread_join(st->ckpt_thread, NULL);
    pthread_mutex_destroy(&st->ckpt_mu);
    pthread_cond_destroy(&st->ckpt_cv);
    /* First: the writer's close is then the last one, and it checkpoints. */
    sqlite3_close(st->ckpt_db);
    st->ckpt_db = NULL;
    st->ckpt_started = false;
}

/* SQLite's rollback hook: counts every rollback, ours and the automatic ones after an error. */
static void on_rollback(void *arg)
{
    ward_store_t *st = arg;
    st->rollbacks++;
    st->dirty = NULL; /* every copy is stale now (dev_row_t.gen) */
}

uint64_t ward_store_rollbacks(const ward_store_t *st)
{
    return st->rollbacks;
}

const char *ward_store_errmsg(ward_store_t *st)
{
    return sqlite3_errmsg(st->db);
}

static int db_error(ward_store_t *st, const char *what)
{
    WARD_ERROR("database: %s: %s", what, sqlite3_errmsg(st->db));
    return -1;
}

/* True when table has a column of that name (false on any error). */
static bool has_column(sqlite3 *db, const char *table, const char *column)
{
    sqlite3_stmt *s = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &s,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, column, -1, SQLITE_STATIC);
        found = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return found;
}

bool ward_store_table_exists(sqlite3 *db, const char *table)
{
    sqlite3_stmt *s = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
        found = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return found;
}

/*
 * Schema 1 kept one row per flow in table flows and report_parts without the reports' bytes. Its
 * parts move to the schema 2 table (the duplicate filter goes on working); their flows stay in
 * table flows, which readers go on reading, and which nothing writes any more. One transaction:
 * an interrupted migration leaves schema 1 as it was.
 */
static int migrate_v1(sqlite3 *db, char **msg)
{
    if (!ward_store_table_exists(db, "report_parts") || has_column(db, "report_parts", "payload"))
        return SQLITE_OK;
    WARD_INFO("database: moving to schema 2 (report parts keep their bytes; the flows already "
              "stored stay in table flows)");
    int rc = sqlite3_exec(db,
                          "BEGIN IMMEDIATE;"
                          "ALTER TABLE report_parts RENAME TO report_parts_v1;" REPORT_PARTS_SQL
                          "INSERT INTO report_parts(device, boot_id, seq, part, received, digest)"
                          " SELECT device, boot_id, seq, part, received, digest"
                          " FROM report_parts_v1 ORDER BY received;"
                          "DROP TABLE report_parts_v1;"
                          "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
                          "COMMIT;",
                          NULL, NULL, msg);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

ward_store_t *ward_store_open(const char *path, bool readonly, char *err, size_t err_len)
{
    ward_store_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    st->readonly = readonly;
    if (readonly) {
        struct stat sb;
        if (stat(path, &sb) != 0) {
            snprintf(err, err_len, "database %s: %s", path, strerror(errno));
            free(st);
            return NULL;
        }
        if (!S_ISREG(sb.st_mode)) {
            snprintf(err, err_len, "database %s: not a regular file", path);
            free(st);
            return NULL;
        }
    }
    /* A reader opens read-write without CREATE when it can (a WAL database needs its -shm file),
     * read-only otherwise; neither ever creates a database. */
    int rc;
    if (readonly) {
        rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_close(st->db);
            st->db = NULL;
            rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READONLY, NULL);
        }
    } else {
        /* NOMUTEX: a ward_store_t is used by one thread at a time (store.h), so SQLite's
         * per-connection mutex is pure overhead on the write path. */
        rc = sqlite3_open_v2(
            path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "database %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        ward_store_close(st);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_rollback_hook(st->db, on_rollback, st);
    char *msg = NULL;
    if (!readonly) {
        rc = sqlite3_exec(st->db, writer_pragmas, NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = migrate_v1(st->db, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg);
        /* devices.config_rev (the agent config revision in force, report key 10) came after
         * schema 1 was released: added to older databases in place. */
        if (rc == SQLITE_OK && !has_column(st->db, "devices", "config_rev"))
            rc = sqlite3_exec(
                st->db, "ALTER TABLE devices ADD COLUMN config_rev INTEGER NOT NULL DEFAULT 0",
                NULL, NULL, &msg);
        for (int i = 0; rc == SQLITE_OK && i < S_COUNT_; i++)
            rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[i], NULL);
    } else {
        sqlite3_stmt *s = NULL;
        rc = sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                                &s, NULL);
        if (rc == SQLITE_OK && sqlite3_step(s) != SQLITE_ROW)
            rc = SQLITE_NOTFOUND;
        sqlite3_finalize(s);
        if (rc != SQLITE_OK) {
            snprintf(err, err_len, "database %s: not a ward database (%s)", path,
                     rc == SQLITE_NOTFOUND ? "no schema version" : sqlite3_errmsg(st->db));
            ward_store_close(st);
            return NULL;
        }
    }
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "database %s: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        ward_store_close(st);
        return NULL;
    }
    if (!readonly && (st->devs = calloc(DEV_BUCKETS, sizeof *st->devs)) == NULL) {
        snprintf(err, err_len, "out of memory");
        ward_store_close(st);
        return NULL;
    }
    if (!readonly)
        ckpt_start(st, path);
    return st;
}

void ward_store_close(ward_store_t *st)
{
    if (st == NULL)
        return;
    ckpt_stop(st);
    for (int i = 0; i < S_COUNT_; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    for (size_t i = 0; st->devs != NULL && i < DEV_BUCKETS; i++) {
        for (dev_row_t *d = st->devs[i], *next; d != NULL; d = next) {
            next = d->next;
            free(d);
        }
    }
    free(st->devs);
    free(st);
}

int ward_store_begin(ward_store_t *st)
{
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(st, "begin");
    return 0;
}

static int dev_flush(ward_store_t *st);

int ward_store_commit(ward_store_t *st)
{
    if (dev_flush(st) != 0) {
        ward_store_rollback(st);
        return -1;
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(st, "commit");
        ward_store_rollback(st);
        return -1;
    }
    return 0;
}

void ward_store_rollback(ward_store_t *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Run a prepared write statement to completion and reset it. */
static int run(ward_store_t *st, enum stmt_id id, const char *what)
{
    int rc = sqlite3_step(st->stmt[id]);
    sqlite3_reset(st->stmt[id]);
    sqlite3_clear_bindings(st->stmt[id]);
    if (rc != SQLITE_DONE)
        return db_error(st, what);
    return 0;
}

int ward_store_part_seen(ward_store_t *st, const ward_store_part_t *p)
{
    sqlite3_stmt *s = st->stmt[S_PART];
    sqlite3_bind_text(s, 1, p->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, p->boot_id);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)p->seq);
    sqlite3_bind_int64(s, 4, p->part);
    sqlite3_bind_int64(s, 5, p->received_ms);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)p->digest); /* stored as its two's-complement bits */
    sqlite3_bind_int64(s, 7, p->time_base_ms);
    if (p->payload != NULL)
        sqlite3_bind_blob(s, 8, p->payload, (int)p->len, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 8);
    if (run(st, S_PART, "record report part") != 0)
        return -1;
    return sqlite3_changes(st->db) > 0 ? 1 : 0;
}

static void col_text(sqlite3_stmt *s, int col, char *buf, size_t len)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(buf, len, "%s", t ? (const char *)t : "");
}

static uint32_t dev_hash(const char *id)
{
    return (uint32_t)(ward_fnv1a_str(WARD_FNV_SEED, id) % DEV_BUCKETS);
}

/* The writer's copy of device id's row (exists false when the table has none). NULL on error. */
static dev_row_t *dev_get(ward_store_t *st, const char *id)
{
    dev_row_t **head = &st->devs[dev_hash(id)], *d = *head;
    while (d != NULL && strcmp(d->id, id) != 0)
        d = d->next;
    if (d != NULL && d->gen == st->rollbacks)
        return d;
    if (d == NULL) {
        if ((d = calloc(1, sizeof *d)) == NULL) {
            WARD_ERROR("database: out of memory");
            return NULL;
        }
        snprintf(d->id, sizeof d->id, "%s", id);
        d->next = *head;
        *head = d;
    }
    sqlite3_stmt *s = st->stmt[S_DEV_LOAD];
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    d->exists = rc == SQLITE_ROW;
    d->dirty = false;
    if (d->exists) {
        d->first_seen = sqlite3_column_int64(s, 0);
        d->last_seen = sqlite3_column_int64(s, 1);
        col_text(s, 2, d->agent_version, sizeof d->agent_version);
        d->boot = (uint32_t)sqlite3_column_int64(s, 3);
        d->last_seq = (uint64_t)sqlite3_column_int64(s, 4);
        d->reports = (uint64_t)sqlite3_column_int64(s, 5);
        d->flows = (uint64_t)sqlite3_column_int64(s, 6);
        d->config_rev = (uint64_t)sqlite3_column_int64(s, 7);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_error(st, "read device");
        return NULL;
    }
    d->gen = st->rollbacks;
    return d;
}

static void dev_touch(ward_store_t *st, dev_row_t *d)
{
    if (!d->dirty) {
        d->dirty = true;
        d->next_dirty = st->dirty;
        st->dirty = d;
    }
}

/* Write the rows changed in this transaction. */
static int dev_flush(ward_store_t *st)
{
    sqlite3_stmt *s = st->stmt[S_DEV_WRITE];
    while (st->dirty != NULL) {
        dev_row_t *d = st->dirty;
        sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, d->first_seen);
        sqlite3_bind_int64(s, 3, d->last_seen);
        sqlite3_bind_text(s, 4, d->agent_version, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, d->boot);
        sqlite3_bind_int64(s, 6, (sqlite3_int64)d->last_seq);
        sqlite3_bind_int64(s, 7, (sqlite3_int64)d->reports);
        sqlite3_bind_int64(s, 8, (sqlite3_int64)d->flows);
        sqlite3_bind_int64(s, 9, (sqlite3_int64)d->config_rev);
        if (run(st, S_DEV_WRITE, "update device") != 0)
            return -1;
        st->dirty = d->next_dirty;
        d->dirty = false;
        d->exists = true;
    }
    return 0;
}

int ward_store_device_upsert(ward_store_t *st, const ward_store_device_t *u)
{
    dev_row_t *d = dev_get(st, u->id);
    if (d == NULL)
        return -1;
    if (!d->exists && !d->dirty) {
        d->first_seen = d->last_seen = u->seen_ms;
        d->boot = u->boot_id;
        d->last_seq = u->seq;
        d->reports = d->flows = d->config_rev = 0;
    } else {
        if (u->seen_ms > d->last_seen)
            d->last_seen = u->seen_ms;
        /* The highest seq of the current boot; a new boot starts over. */
        d->last_seq = d->boot == u->boot_id && d->last_seq > u->seq ? d->last_seq : u->seq;
        d->boot = u->boot_id;
    }
    snprintf(d->agent_version, sizeof d->agent_version, "%s", u->agent_version);
    d->reports++;
    d->flows += u->n_flows;
    dev_touch(st, d);
    return 0;
}

int ward_store_device_config_rev(ward_store_t *st, const char *device, uint32_t boot_id,
                                 uint64_t seq, uint64_t config_rev)
{
    dev_row_t *d = dev_get(st, device);
    if (d == NULL)
        return -1;
    /* Only from the newest report of the device's current boot (priority reports may arrive
     * ahead of older regular ones). */
    if ((d->exists || d->dirty) && d->boot == boot_id && d->last_seq == seq &&
        d->config_rev != config_rev) {
        d->config_rev = config_rev;
        dev_touch(st, d);
    }
    return 0;
}

int ward_store_overflow_insert(ward_store_t *st, const char *device, uint32_t boot_id, uint64_t seq,
                               const struct ward_wire_overflow *o, int64_t first_ms,
                               int64_t last_ms)
{
    sqlite3_stmt *s = st->stmt[S_OVERFLOW];
    sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, boot_id);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)seq);
    sqlite3_bind_int(s, 4, o->proto);
    sqlite3_bind_text(s, 5, ward_wire_direction_name(o->direction), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)o->flows);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)o->packets);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)o->bytes);
    sqlite3_bind_int64(s, 9, first_ms);
    sqlite3_bind_int64(s, 10, last_ms);
    return run(st, S_OVERFLOW, "store overflow summary");
}

/* Columns: id, type, severity, device, title, fold_key, first_seen, last_seen, count, state,
 * evidence. */
static void alert_from_row(sqlite3_stmt *s, ward_alert_t *a)
{
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(s, 0);
    col_text(s, 1, a->type, sizeof a->type);
    col_text(s, 2, a->severity, sizeof a->severity);
    col_text(s, 3, a->device, sizeof a->device);
    col_text(s, 4, a->title, sizeof a->title);
    col_text(s, 5, a->fold_key, sizeof a->fold_key);
    a->first_seen_ms = sqlite3_column_int64(s, 6);
    a->last_seen_ms = sqlite3_column_int64(s, 7);
    a->count = sqlite3_column_int64(s, 8);
    col_text(s, 9, a->state, sizeof a->state);
    const char *ev = (const char *)sqlite3_column_text(s, 10);
    a->evidence = ev ? json_loads(ev, 0, NULL) : NULL;
    if (a->evidence == NULL)
        a->evidence = json_object();
}

int ward_store_alert_find(ward_store_t *st, const char *device, const char *type,
                          const char *fold_key, ward_alert_t *out)
{
    sqlite3_stmt *s = st->stmt[S_ALERT_FIND];
    sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, fold_key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int found = 0;
    if (rc == SQLITE_ROW) {
        alert_from_row(s, out);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = db_error(st, "find alert");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return found;
}

static char *evidence_text(const ward_alert_t *a)
{
    return json_dumps(a->evidence ? a->evidence : json_object(), JSON_COMPACT);
}

int ward_store_alert_insert(ward_store_t *st, ward_alert_t *a)
{
    char *ev = evidence_text(a);
    if (ev == NULL)
        return -1;
    sqlite3_stmt *s = st->stmt[S_ALERT_INSERT];
    sqlite3_bind_text(s, 1, a->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->device, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->title, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, a->fold_key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, a->first_seen_ms);
    sqlite3_bind_int64(s, 7, a->last_seen_ms);
    sqlite3_bind_int64(s, 8, a->count);
    sqlite3_bind_text(s, 9, a->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, ev, -1, SQLITE_STATIC);
    int rc = run(st, S_ALERT_INSERT, "insert alert");
    free(ev);
    if (rc == 0)
        a->id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int ward_store_alert_update(ward_store_t *st, const ward_alert_t *a)
{
    char *ev = evidence_text(a);
    if (ev == NULL)
        return -1;
    sqlite3_stmt *s = st->stmt[S_ALERT_UPDATE];
    sqlite3_bind_int64(s, 1, a->id);
    sqlite3_bind_int64(s, 2, a->first_seen_ms);
    sqlite3_bind_int64(s, 3, a->last_seen_ms);
    sqlite3_bind_int64(s, 4, a->count);
    sqlite3_bind_text(s, 5, a->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, ev, -1, SQLITE_STATIC);
    int rc = run(st, S_ALERT_UPDATE, "update alert");
    free(ev);
    return rc;
}

int ward_store_part_digest(ward_store_t *st, const char *device, uint32_t boot_id, uint64_t seq,
                           uint32_t part, uint64_t *digest)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(
            st->db,
            "SELECT digest, payload FROM report_parts WHERE device = ?1 AND boot_id = ?2"
            " AND seq = ?3 AND part = ?4",
            -1, &s, NULL) != SQLITE_OK)
        return db_error(st, "find report part");
    sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, boot_id);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)seq);
    sqlite3_bind_int64(s, 4, part);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW) {
        /* A part stored with its payload: the digest of what is stored (the column may be 0). */
        const void *b = sqlite3_column_blob(s, 1);
        int n = sqlite3_column_bytes(s, 1);
        *digest = b != NULL ? ward_fnv1a(WARD_FNV_SEED, b, (size_t)n)
                            : (uint64_t)sqlite3_column_int64(s, 0);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = db_error(st, "find report part");
    }
    sqlite3_finalize(s);
    return found;
}

struct sqlite3 *ward_store_sqlite(ward_store_t *st)
{
    return st->db;
}

bool ward_store_readonly(const ward_store_t *st)
{
    return st->readonly;
}

/* ---- Reading ------------------------------------------------------------------------------- */

/* Prepare a read query with an optional device filter (?1) and limit (?2, -1 = none). */
static sqlite3_stmt *query(ward_store_t *st, const char *sql, const char *device, long limit)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        db_error(st, "query");
        return NULL;
    }
    if (device != NULL)
        sqlite3_bind_text(s, 1, device, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 1);
    sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
    return s;
}

static json_t *finish(ward_store_t *st, sqlite3_stmt *s, json_t *arr, int rc)
{
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        db_error(st, "query");
        json_decref(arr);
        return NULL;
    }
    return arr;
}

json_t *ward_store_devices_json(ward_store_t *st, const char *device)
{
    /* A database older than devices.config_rev reads as config_rev 0. */
    sqlite3_stmt *s = query(st,
                            has_column(st->db, "devices", "config_rev")
                                ? "SELECT id, first_seen, last_seen, agent_version, boot_id,"
                                  " last_seq, reports, flows, config_rev FROM devices"
                                  " WHERE ?1 IS NULL OR id = ?1 ORDER BY id LIMIT ?2"
                                : "SELECT id, first_seen, last_seen, agent_version, boot_id,"
                                  " last_seq, reports, flows, 0 FROM devices"
                                  " WHERE ?1 IS NULL OR id = ?1 ORDER BY id LIMIT ?2",
                            device, 0);
    if (s == NULL)
        return NULL;
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char t1[WARD_TIME_STRLEN], t2[WARD_TIME_STRLEN];
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string((const char *)sqlite3_column_text(s, 0)));
        json_object_set_new(o, "first_seen",
                            json_string(ward_time_iso(sqlite3_column_int64(s, 1), t1, sizeof t1)));
        json_object_set_new(o, "last_seen",
                            json_string(ward_time_iso(sqlite3_column_int64(s, 2), t2, sizeof t2)));
        json_object_set_new(o, "agent_version",
                            json_string((const char *)sqlite3_column_text(s, 3)));
        json_object_set_new(o, "boot_id", json_integer(sqlite3_column_int64(s, 4)));
        json_object_set_new(o, "last_seq", json_integer(sqlite3_column_int64(s, 5)));
        json_object_set_new(o, "reports", json_integer(sqlite3_column_int64(s, 6)));
        json_object_set_new(o, "flows", json_integer(sqlite3_column_int64(s, 7)));
        json_object_set_new(o, "config_rev", json_integer(sqlite3_column_int64(s, 8)));
        json_array_append_new(arr, o);
    }
    return finish(st, s, arr, rc);
}

/* The flows read back for wardctl, in the order they were stored (ord), then sorted by time. */
typedef struct flow_row {
    ward_flow_t f;
    size_t ord;
} flow_row_t;

typedef struct flow_rows {
    flow_row_t *v;
    size_t n, cap;
    size_t limit;    /* 0 = all */
    size_t next_ord; /* rows read so far */
} flow_rows_t;

static int by_time(const void *a, const void *b)
{
    const flow_row_t *x = a, *y = b;
    if (x->f.first_seen_ms != y->f.first_seen_ms)
        return x->f.first_seen_ms < y->f.first_seen_ms ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Room for one more row. With a limit, only the limit oldest are kept: whenever twice as many
 * have been read, they are sorted and cut back, so memory stays bounded on a large history. */
static flow_row_t *flow_rows_add(flow_rows_t *rows)
{
    if (rows->limit > 0 && rows->n >= 2 * rows->limit) {
        qsort(rows->v, rows->n, sizeof rows->v[0], by_time);
        rows->n = rows->limit;
    }
    if (!WARD_GROW(rows->v, rows->n, rows->cap, 256))
        return NULL;
    flow_row_t *r = &rows->v[rows->n++];
    r->ord = rows->next_ord++;
    return r;
}

/* Schema 1's flows table, in a migrated database: one row per flow. */
static int flows_v1(ward_store_t *st, const char *device, flow_rows_t *rows)
{
    if (!ward_store_table_exists(st->db, "flows"))
        return 0;
    sqlite3_stmt *s = query(st,
                            "SELECT device, protocol, local_addr, local_port, remote_addr,"
                            " remote_port, icmp_type, icmp_code, initiator, packets_in,"
                            " packets_out, bytes_in, bytes_out, first_seen, last_seen, tcp_flags"
                            " FROM flows WHERE ?1 IS NULL OR device = ?1 ORDER BY id LIMIT ?2",
                            device, 0);
    if (s == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        flow_row_t *row = flow_rows_add(rows);
        if (row == NULL)
            break;
        ward_flow_t *f = &row->f;
        memset(f, 0, sizeof *f);
        col_text(s, 0, f->device, sizeof f->device);
        f->proto = (uint8_t)sqlite3_column_int(s, 1);
        const char *la = (const char *)sqlite3_column_text(s, 2);
        const char *ra = (const char *)sqlite3_column_text(s, 4);
        if (la == NULL || !ward_addr_parse(la, &f->local_addr))
            memset(&f->local_addr, 0, sizeof f->local_addr);
        if (ra == NULL || !ward_addr_parse(ra, &f->remote_addr))
            memset(&f->remote_addr, 0, sizeof f->remote_addr);
        f->local_port = (uint16_t)sqlite3_column_int(s, 3);
        if (ward_wire_proto_is_icmp(f->proto))
            f->remote_port_raw = (uint16_t)((sqlite3_column_int(s, 6) & 0xff) << 8 |
                                            (sqlite3_column_int(s, 7) & 0xff));
        else
            f->remote_port_raw = (uint16_t)sqlite3_column_int(s, 5);
        const char *init = (const char *)sqlite3_column_text(s, 8);
        f->initiator = init && strcmp(init, "outbound") == 0  ? WARD_DIR_OUTBOUND
                       : init && strcmp(init, "inbound") == 0 ? WARD_DIR_INBOUND
                                                              : WARD_DIR_UNKNOWN;
        f->packets_in = (uint64_t)sqlite3_column_int64(s, 9);
        f->packets_out = (uint64_t)sqlite3_column_int64(s, 10);
        f->bytes_in = (uint64_t)sqlite3_column_int64(s, 11);
        f->bytes_out = (uint64_t)sqlite3_column_int64(s, 12);
        f->first_seen_ms = sqlite3_column_int64(s, 13);
        f->last_seen_ms = sqlite3_column_int64(s, 14);
        f->has_tcp_flags = sqlite3_column_type(s, 15) != SQLITE_NULL;
        f->tcp_flags = (uint16_t)sqlite3_column_int(s, 15);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        if (rc != SQLITE_ROW)
            db_error(st, "query");
        return -1;
    }
    return 0;
}

/* The flows of the parts' payloads, decoded again as wardd decoded them when it stored them. A
 * payload that no longer decodes (it did when stored) is skipped with a warning. */
static int flows_v2(ward_store_t *st, const char *device, flow_rows_t *rows)
{
    if (!has_column(st->db, "report_parts", "payload"))
        return 0; /* a schema 1 database that wardd has not opened since: all in table flows */
    sqlite3_stmt *s = query(st,
                            "SELECT device, time_base, payload FROM report_parts"
                            " WHERE (?1 IS NULL OR device = ?1) AND payload IS NOT NULL"
                            " ORDER BY id LIMIT ?2",
                            device, 0);
    if (s == NULL)
        return -1;
    int rc;
    bool ok = true;
    while (ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        char dev[WARD_DEVICE_ID_MAX + 1], reason[256];
        col_text(s, 0, dev, sizeof dev);
        ward_wire_report_t r;
        const uint8_t *b = sqlite3_column_blob(s, 2);
        size_t len = (size_t)sqlite3_column_bytes(s, 2);
        if (ward_wire_decode(b, len, &r, reason, sizeof reason) != WARD_OK) {
            WARD_WARN("database: a stored report of device %s does not decode: %s", dev, reason);
            continue;
        }
        int64_t base = sqlite3_column_int64(s, 1);
        for (size_t i = 0; ok && i < r.n_flows; i++) {
            flow_row_t *row = flow_rows_add(rows);
            if (row != NULL)
                ward_flow_from_wire(&row->f, &r, i, dev, base);
            ok = row != NULL;
        }
        ward_wire_report_free(&r);
    }
    sqlite3_finalize(s);
    if (!ok)
        return -1;
    if (rc != SQLITE_DONE)
        return db_error(st, "query");
    return 0;
}

json_t *ward_store_flows_json(ward_store_t *st, const char *device, long limit)
{
    flow_rows_t rows = {NULL, 0, 0, limit > 0 ? (size_t)limit : 0, 0};
    if (flows_v1(st, device, &rows) != 0 || flows_v2(st, device, &rows) != 0) {
        free(rows.v);
        return NULL;
    }
    if (rows.n > 1)
        qsort(rows.v, rows.n, sizeof rows.v[0], by_time);
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < rows.n && (limit <= 0 || i < (size_t)limit); i++)
        json_array_append_new(arr, ward_flow_json(&rows.v[i].f));
    free(rows.v);
    return arr;
}

json_t *ward_store_overflow_json(ward_store_t *st, const char *device, long limit)
{
    /* A database written before the table existed has no overflow: an empty array, no error. */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                           " AND name = 'flow_overflow'",
                           -1, &s, NULL) != SQLITE_OK) {
        db_error(st, "query");
        return NULL;
    }
    int rc = sqlite3_step(s);
    bool exists = rc == SQLITE_ROW && sqlite3_column_int(s, 0) > 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) {
        db_error(st, "query");
        return NULL;
    }
    if (!exists)
        return json_array();
    s = query(st,
              "SELECT device, protocol, direction, flows, packets, bytes, first_seen, last_seen"
              " FROM flow_overflow WHERE ?1 IS NULL OR device = ?1"
              " ORDER BY first_seen, id LIMIT ?2",
              device, limit);
    if (s == NULL)
        return NULL;
    json_t *arr = json_array();
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char pb[8], t1[WARD_TIME_STRLEN], t2[WARD_TIME_STRLEN];
        const char *dir = (const char *)sqlite3_column_text(s, 2);
        json_int_t packets = (json_int_t)sqlite3_column_int64(s, 4);
        json_int_t bytes = (json_int_t)sqlite3_column_int64(s, 5);
        json_t *o = json_object();
        json_object_set_new(o, "device", json_string((const char *)sqlite3_column_text(s, 0)));
        json_object_set_new(o, "overflow", json_true());
        json_object_set_new(
            o, "protocol",
            json_string(ward_wire_proto_name((unsigned)sqlite3_column_int(s, 1), pb, sizeof pb)));
        json_object_set_new(o, "direction", json_string(dir ? dir : "unknown"));
        json_object_set_new(o, "flows", json_integer((json_int_t)sqlite3_column_int64(s, 3)));
        json_object_set_new(o, "packets", json_integer(packets));
        json_object_set_new(o, "bytes", json_integer(bytes));
        /* The same counters under the flows' names, so that summing packets_in/out and
         * bytes_in/out over every row of `wardctl flows` covers all the traffic. */
        bool in = dir != NULL && strcmp(dir, "inbound") == 0;
        bool out = dir != NULL && strcmp(dir, "outbound") == 0;
        json_object_set_new(o, "packets_in", json_integer(in ? packets : 0));
        json_object_set_new(o, "packets_out", json_integer(out ? packets : 0));
        json_object_set_new(o, "bytes_in", json_integer(in ? bytes : 0));
        json_object_set_new(o, "bytes_out", json_integer(out ? bytes : 0));
        json_object_set_new(o, "first_seen",
                            json_string(ward_time_iso(sqlite3_column_int64(s, 6), t1, sizeof t1)));
        json_object_set_new(o, "last_seen",
                            json_string(ward_time_iso(sqlite3_column_int64(s, 7), t2, sizeof t2)));
        json_array_append_new(arr, o);
    }
    return finish(st, s, arr, rc);
}

json_t *ward_store_alerts_json(ward_store_t *st, const char *device, long limit)
{
    sqlite3_stmt *s = query(st,
                            "SELECT id, type, severity, device, title, fold_key, first_seen,"
                            " last_seen, count, state, evidence FROM alerts"
                            " WHERE ?1 IS NULL OR device = ?1 ORDER BY id LIMIT ?2",
                            device, limit);
    if (s == NULL)
        return NULL;
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ward_alert_t a;
        alert_from_row(s, &a);
        json_array_append_new(arr, ward_alert_json(&a));
        ward_alert_clear(&a);
    }
    return finish(st, s, arr, rc);
}
