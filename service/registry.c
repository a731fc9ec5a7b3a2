/*
 * registry: groups and device assignments in SQLite, and their in-memory copy for the worker.
 * See registry.h.
 *
 * The worker's copy is rebuilt as a whole when groups_rev changes: groups are few and small, and
 * a device map of 100k entries loads in milliseconds. A reload that fails keeps the old copy.
 */
#include "registry.h"
#include "grow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "baseline.h"
#include "behavior.h"
#include "clock.h"
#include "log.h"
#include "rules.h"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS groups("
    " name TEXT PRIMARY KEY,"
    " spec TEXT NOT NULL,"
    " applied INTEGER NOT NULL,"
    " learn_started INTEGER,"
    " learned TEXT);"
    "CREATE TABLE IF NOT EXISTS device_groups("
    " device TEXT PRIMARY KEY,"
    " grp TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('groups_rev', '0');";

typedef struct devmap {
    char device[WARD_DEVICE_ID_MAX + 1];
    size_t group;
} devmap_t;

struct ward_registry {
    ward_store_t *st;
    int64_t rev;
    ward_group_t *groups; /* by name; "default" always present */
    size_t n;
    devmap_t *devs; /* by device id */
    size_t n_devs;
    sqlite3_stmt *rev_stmt; /* groups_rev, prepared once: read on every report */
};

bool ward_group_name_valid(const char *name)
{
    return name != NULL && ward_wire_device_id_valid(name, strlen(name));
}

int ward_registry_schema(ward_store_t *st)
{
    char *msg = NULL;
    if (sqlite3_exec(ward_store_sqlite(st), schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        WARD_ERROR("database: create group tables: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static bool tables_exist(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    bool ok = false;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                           " AND name IN ('groups', 'device_groups')",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        ok = sqlite3_column_int(s, 0) == 2;
    sqlite3_finalize(s);
    return ok;
}

/* For readers: make sure the tables are there (a database wardd has not opened since groups
 * existed has none). */
static int ensure_tables(ward_store_t *st)
{
    if (tables_exist(ward_store_sqlite(st)))
        return 0;
    return ward_registry_schema(st);
}

static int64_t read_rev(ward_registry_t *reg)
{
    sqlite3_stmt *s = reg->rev_stmt;
    int64_t rev = -1;
    if (s == NULL && sqlite3_prepare_v3(ward_store_sqlite(reg->st),
                                        "SELECT value FROM meta WHERE key = 'groups_rev'", -1,
                                        SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return -1;
    }
    reg->rev_stmt = s;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rev = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        rev = 0;
    sqlite3_reset(s);
    return rev;
}

static void group_clear(ward_group_t *g)
{
    json_decref(g->spec);
    ward_ruleset_free(g->rules);
    free((void *)g->behavior);
    ward_baseline_free(g->baseline);
    memset(g, 0, sizeof *g);
}

int ward_group_validate(const json_t *doc, char *err, size_t errlen)
{
    static const char *const keys[] = {"group", "description",      "rules", "detectors",
                                       "learn", "invalidate_after", NULL};
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "the document must be a JSON object");
        return -1;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    {
        bool ok = false;
        for (size_t i = 0; keys[i] != NULL; i++)
            ok = ok || strcmp(key, keys[i]) == 0;
        if (!ok) {
            snprintf(err, errlen,
                     "%s: unknown key (known: group, description, rules, detectors, learn, "
                     "invalidate_after)",
                     key);
            return -1;
        }
    }
    const json_t *name = json_object_get(doc, "group");
    if (name == NULL) {
        snprintf(err, errlen, "group: missing (the group's name)");
        return -1;
    }
    if (!ward_group_name_valid(json_string_value(name))) {
        snprintf(err, errlen, "group: must be 1..%d of [A-Za-z0-9._-]", WARD_GROUP_NAME_MAX);
        return -1;
    }
    if ((v = json_object_get(doc, "description")) != NULL && !json_is_string(v)) {
        snprintf(err, errlen, "description: must be a string");
        return -1;
    }
    ward_ruleset_t *rs = ward_ruleset_parse(json_object_get(doc, "rules"),
                                            json_object_get(doc, "invalidate_after"), err, errlen);
    if (rs == NULL)
        return -1;
    ward_ruleset_free(rs);
    ward_behavior_config_t bc;
    const json_t *det = json_object_get(doc, "detectors");
    if (det != NULL && !json_is_object(det)) {
        snprintf(err, errlen, "detectors: must be an object");
        return -1;
    }
    if (ward_behavior_config_parse(det, &bc, err, errlen) != WARD_OK)
        return -1;
    const json_t *learn = json_object_get(doc, "learn");
    ward_baseline_spec_t bs;
    if (learn != NULL && ward_baseline_spec_parse(learn, &bs, err, errlen) != 0)
        return -1;
    return 0;
}

/* Build a group from a stored row. The spec was validated when applied; a row that no longer
 * parses (edited by hand, or written by a newer ward) is loaded without rules and logged. */
static int group_load(ward_group_t *g, const char *name, const char *spec_text, int64_t applied,
                      bool has_learn_started, int64_t learn_started, const char *learned_text)
{
    char err[256];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->applied_ms = applied;
    g->spec = spec_text ? json_loads(spec_text, 0, NULL) : NULL;
    ward_behavior_config_t *bc = malloc(sizeof *bc);
    if (bc == NULL)
        return -1;
    ward_behavior_config_defaults(bc);
    g->behavior = bc;
    if (g->spec == NULL) {
        g->spec = json_pack("{s:s}", "group", name);
        g->rules = ward_ruleset_empty();
        return g->rules && g->spec ? 0 : -1;
    }
    if (ward_group_validate(g->spec, err, sizeof err) != 0) {
        WARD_ERROR("group %s: stored rules are invalid, group loaded without rules: %s", name, err);
        g->rules = ward_ruleset_empty();
        return g->rules ? 0 : -1;
    }
    g->rules = ward_ruleset_parse(json_object_get(g->spec, "rules"),
                                  json_object_get(g->spec, "invalidate_after"), err, sizeof err);
    if (g->rules == NULL)
        return -1;
    ward_behavior_config_parse(json_object_get(g->spec, "detectors"), bc, err, sizeof err);
    const json_t *learn = json_object_get(g->spec, "learn");
    ward_baseline_spec_t bs;
    if (learn != NULL && ward_baseline_spec_parse(learn, &bs, err, sizeof err) == 0) {
        g->baseline = ward_baseline_new(&bs, has_learn_started ? learn_started : applied);
        if (g->baseline == NULL)
            return -1;
        json_t *l = learned_text ? json_loads(learned_text, 0, NULL) : NULL;
        if (l != NULL && ward_baseline_load(g->baseline, l) != 0)
            WARD_WARN("group %s: stored baseline is malformed; learning what is left of it", name);
        json_decref(l);
    }
    return 0;
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const ward_group_t *)a)->name, ((const ward_group_t *)b)->name);
}

static int cmp_dev(const void *a, const void *b)
{
    return strcmp(((const devmap_t *)a)->device, ((const devmap_t *)b)->device);
}

static const char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : NULL;
}

/* Load everything into fresh arrays; swap them in on success. */
static int load(ward_registry_t *reg, int64_t rev)
{
    sqlite3 *db = ward_store_sqlite(reg->st);
    sqlite3_stmt *s = NULL;
    ward_group_t *groups = NULL;
    devmap_t *devs = NULL;
    size_t n = 0, cap = 0, nd = 0, capd = 0;
    bool have_default = false;
    int rc = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT name, spec, applied, learn_started, learned FROM groups"
                           " ORDER BY name",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = col(s, 0);
        if (name == NULL || !ward_group_name_valid(name))
            continue;
        if (!WARD_GROW(groups, n, cap, 8))
            goto out;
        if (group_load(&groups[n], name, col(s, 1), sqlite3_column_int64(s, 2),
                       sqlite3_column_type(s, 3) != SQLITE_NULL, sqlite3_column_int64(s, 3),
                       col(s, 4)) != 0) {
            group_clear(&groups[n]);
            goto out;
        }
        have_default = have_default || strcmp(name, WARD_GROUP_DEFAULT) == 0;
        n++;
    }
    if (step != SQLITE_DONE)
        goto out;
    sqlite3_finalize(s);
    s = NULL;
    if (!have_default) {
        if (!WARD_GROW(groups, n, cap, 1))
            goto out;
        if (group_load(&groups[n], WARD_GROUP_DEFAULT, NULL, 0, false, 0, NULL) != 0) {
            group_clear(&groups[n]);
            goto out;
        }
        n++;
        qsort(groups, n, sizeof *groups, cmp_group);
    }
    if (sqlite3_prepare_v2(db, "SELECT device, grp FROM device_groups ORDER BY device", -1, &s,
                           NULL) != SQLITE_OK)
        goto out;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *dev = col(s, 0), *grp = col(s, 1);
        if (dev == NULL || grp == NULL || strlen(dev) > WARD_DEVICE_ID_MAX)
            continue;
        ward_group_t key;
        snprintf(key.name, sizeof key.name, "%s", grp);
        /* bsearch's array must not be NULL, even when empty. */
        ward_group_t *g = n ? bsearch(&key, groups, n, sizeof *groups, cmp_group) : NULL;
        if (g == NULL)
            continue; /* a group that no longer exists: the device is in default */
        if (!WARD_GROW(devs, nd, capd, 64))
            goto out;
        snprintf(devs[nd].device, sizeof devs[nd].device, "%s", dev);
        devs[nd].group = (size_t)(g - groups);
        nd++;
    }
    if (step != SQLITE_DONE)
        goto out;
    /* SQLite's ORDER BY uses the same byte order as strcmp (BINARY collation). */
    for (size_t i = 0; i < reg->n; i++)
        group_clear(&reg->groups[i]);
    free(reg->groups);
    free(reg->devs);
    reg->groups = groups;
    reg->n = n;
    reg->devs = devs;
    reg->n_devs = nd;
    reg->rev = rev;
    groups = NULL;
    devs = NULL;
    n = 0;
    rc = 0;
out:
    if (rc != 0)
        WARD_ERROR("database: load groups: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    for (size_t i = 0; i < n; i++)
        group_clear(&groups[i]);
    free(groups);
    free(devs);
    return rc;
}

ward_registry_t *ward_registry_open(ward_store_t *st, char *err, size_t errlen)
{
    ward_registry_t *reg = calloc(1, sizeof *reg);
    if (reg == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    reg->st = st;
    if (ensure_tables(st) != 0) {
        snprintf(err, errlen, "cannot create the group tables: %s", ward_store_errmsg(st));
        free(reg);
        return NULL;
    }
    int64_t rev = read_rev(reg);
    if (rev < 0 || load(reg, rev) != 0) {
        snprintf(err, errlen, "cannot load groups: %s", ward_store_errmsg(st));
        ward_registry_free(reg);
        return NULL;
    }
    return reg;
}

void ward_registry_free(ward_registry_t *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->n; i++)
        group_clear(&reg->groups[i]);
    free(reg->groups);
    free(reg->devs);
    sqlite3_finalize(reg->rev_stmt);
    free(reg);
}

int ward_registry_refresh(ward_registry_t *reg)
{
    int64_t rev = read_rev(reg);
    if (rev < 0)
        return -1;
    if (rev == reg->rev)
        return 0;
    if (load(reg, rev) != 0)
        return -1;
    WARD_INFO("groups: reloaded (revision %lld, %zu groups, %zu devices assigned)", (long long)rev,
              reg->n, reg->n_devs);
    return 1;
}

int64_t ward_registry_rev(const ward_registry_t *reg)
{
    return reg->rev;
}

const ward_group_t *ward_registry_find(ward_registry_t *reg, const char *name)
{
    ward_group_t key;
    if (strlen(name) >= sizeof key.name)
        return NULL;
    snprintf(key.name, sizeof key.name, "%s", name);
    if (reg->n == 0)
        return NULL;
    return bsearch(&key, reg->groups, reg->n, sizeof *reg->groups, cmp_group);
}

const ward_group_t *ward_registry_group(ward_registry_t *reg, const char *device)
{
    devmap_t key;
    if (reg->n_devs > 0 && strlen(device) < sizeof key.device) {
        snprintf(key.device, sizeof key.device, "%s", device);
        const devmap_t *d = bsearch(&key, reg->devs, reg->n_devs, sizeof *reg->devs, cmp_dev);
        if (d != NULL)
            return &reg->groups[d->group];
    }
    return ward_registry_find(reg, WARD_GROUP_DEFAULT);
}

const char *ward_registry_group_of(ward_registry_t *reg, const char *device)
{
    return ward_registry_group(reg, device)->name;
}

size_t ward_registry_count(const ward_registry_t *reg)
{
    return reg->n;
}

const ward_group_t *ward_registry_at(const ward_registry_t *reg, size_t i)
{
    return i < reg->n ? &reg->groups[i] : NULL;
}

int ward_registry_save_learned(ward_registry_t *reg, const ward_group_t *g, int64_t now_ms)
{
    if (g->baseline == NULL || !ward_baseline_take_dirty(g->baseline))
        return 0;
    sqlite3 *db = ward_store_sqlite(reg->st);
    json_t *l = ward_baseline_learned_json(g->baseline, now_ms);
    char *text = l ? json_dumps(l, JSON_COMPACT) : NULL;
    json_decref(l);
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (text != NULL && sqlite3_prepare_v2(db, "UPDATE groups SET learned = ?1 WHERE name = ?2", -1,
                                           &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, g->name, -1, SQLITE_STATIC);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    }
    if (rc != 0)
        WARD_ERROR("database: save the baseline of group %s: %s", g->name, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    free(text);
    return rc;
}

/* ---- Changes ------------------------------------------------------------------------------- */

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int db_fail(sqlite3 *db, char *err, size_t errlen)
{
    snprintf(err, errlen, "database: %s", sqlite3_errmsg(db));
    exec(db, "ROLLBACK");
    return -2;
}

static int bump_rev(sqlite3 *db)
{
    return exec(db, "INSERT INTO meta(key, value) VALUES('groups_rev', '1')"
                    " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1");
}

/* Old spec text, learn_started and learned of a group: 1 found, 0 none, -1 error. */
static int old_group(sqlite3 *db, const char *name, json_t **spec, int64_t *started, bool *has_st,
                     char **learned)
{
    sqlite3_stmt *s = NULL;
    *spec = NULL;
    *learned = NULL;
    *has_st = false;
    if (sqlite3_prepare_v2(db, "SELECT spec, learn_started, learned FROM groups WHERE name = ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        const char *t = col(s, 0);
        *spec = t ? json_loads(t, 0, NULL) : NULL;
        *has_st = sqlite3_column_type(s, 1) != SQLITE_NULL;
        *started = sqlite3_column_int64(s, 1);
        t = col(s, 2);
        *learned = t ? strdup(t) : NULL;
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_finalize(s);
    return found;
}

static int store_group(sqlite3 *db, const json_t *doc, int64_t now_ms, bool keep_learned, char *err,
                       size_t errlen)
{
    const char *name = json_string_value(json_object_get(doc, "group"));
    json_t *old_spec;
    int64_t started = 0;
    bool has_started;
    char *learned;
    if (exec(db, "BEGIN IMMEDIATE") != 0)
        return db_fail(db, err, errlen);
    if (old_group(db, name, &old_spec, &started, &has_started, &learned) < 0)
        return db_fail(db, err, errlen);
    const json_t *learn = json_object_get(doc, "learn");
    /* Learning goes on (same window, same start, what was learned so far) when the learn object
     * did not change; any other change of it starts learning afresh. */
    bool same = learn != NULL && old_spec != NULL && has_started &&
                json_equal(json_object_get(old_spec, "learn"), (json_t *)learn);
    json_decref(old_spec);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    sqlite3_stmt *s = NULL;
    int rc = -2;
    if (text != NULL &&
        sqlite3_prepare_v2(db,
                           "INSERT INTO groups(name, spec, applied, learn_started, learned)"
                           " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO UPDATE SET"
                           " spec = excluded.spec, applied = excluded.applied,"
                           " learn_started = excluded.learn_started, learned = excluded.learned",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, text, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, now_ms);
        if (learn == NULL)
            sqlite3_bind_null(s, 4);
        else
            sqlite3_bind_int64(s, 4, same ? started : now_ms);
        if (learn != NULL && (same || keep_learned) && learned != NULL)
            sqlite3_bind_text(s, 5, learned, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(s, 5);
        if (sqlite3_step(s) == SQLITE_DONE && bump_rev(db) == 0 && exec(db, "COMMIT") == 0)
            rc = 0;
    }
    sqlite3_finalize(s);
    free(text);
    free(learned);
    if (rc != 0)
        return db_fail(db, err, errlen);
    return 0;
}

int ward_registry_apply(ward_store_t *st, const json_t *doc, int64_t now_ms, char *err,
                        size_t errlen)
{
    if (ward_group_validate(doc, err, errlen) != 0)
        return -1;
    if (ensure_tables(st) != 0) {
        snprintf(err, errlen, "database: %s", ward_store_errmsg(st));
        return -2;
    }
    return store_group(ward_store_sqlite(st), doc, now_ms, false, err, errlen);
}

static int group_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *s = NULL;
    int found = -1;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM groups WHERE name = ?1", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(s);
        found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(s);
    return found;
}

int ward_registry_set_group(ward_store_t *st, const char *device, const char *group, char *err,
                            size_t errlen)
{
    if (!ward_wire_device_id_valid(device, strlen(device))) {
        snprintf(err, errlen, "\"%s\" is not a device id (1..64 of [A-Za-z0-9._-])", device);
        return -1;
    }
    if (!ward_group_name_valid(group)) {
        snprintf(err, errlen, "\"%s\" is not a group name (1..64 of [A-Za-z0-9._-])", group);
        return -1;
    }
    if (ensure_tables(st) != 0) {
        snprintf(err, errlen, "database: %s", ward_store_errmsg(st));
        return -2;
    }
    sqlite3 *db = ward_store_sqlite(st);
    if (exec(db, "BEGIN IMMEDIATE") != 0)
        return db_fail(db, err, errlen);
    bool is_default = strcmp(group, WARD_GROUP_DEFAULT) == 0;
    int ex = is_default ? 1 : group_exists(db, group);
    if (ex < 0)
        return db_fail(db, err, errlen);
    if (ex == 0) {
        exec(db, "ROLLBACK");
        snprintf(err, errlen, "no group \"%s\" (apply one first: wardctl group apply FILE)", group);
        return -1;
    }
    sqlite3_stmt *s = NULL;
    const char *sql = is_default ? "DELETE FROM device_groups WHERE device = ?1"
                                 : "INSERT INTO device_groups(device, grp) VALUES(?1, ?2)"
                                   " ON CONFLICT(device) DO UPDATE SET grp = excluded.grp";
    int rc = -2;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, device, -1, SQLITE_TRANSIENT);
        if (!is_default)
            sqlite3_bind_text(s, 2, group, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) == SQLITE_DONE && bump_rev(db) == 0 && exec(db, "COMMIT") == 0)
            rc = 0;
    }
    sqlite3_finalize(s);
    if (rc != 0)
        return db_fail(db, err, errlen);
    return 0;
}

/* ---- Reading ------------------------------------------------------------------------------- */

/* Devices of a group: assigned ones, and for "default" every known device not assigned. */
static json_t *group_devices(sqlite3 *db, const char *group)
{
    json_t *a = json_array();
    sqlite3_stmt *s = NULL;
    const char *sql =
        strcmp(group, WARD_GROUP_DEFAULT) == 0 && ward_store_table_exists(db, "devices")
            ? "SELECT id FROM devices WHERE id NOT IN (SELECT device FROM device_groups"
              " WHERE grp IN (SELECT name FROM groups WHERE name <> 'default'))"
              " UNION SELECT device FROM device_groups WHERE grp = ?1 ORDER BY 1"
            : "SELECT device FROM device_groups WHERE grp = ?1 ORDER BY device";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        json_decref(a);
        return NULL;
    }
    sqlite3_bind_text(s, 1, group, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(s) == SQLITE_ROW)
        json_array_append_new(a, json_string(col(s, 0)));
    sqlite3_finalize(s);
    return a;
}

static const char *learning_state(const json_t *spec, bool has_started, int64_t started,
                                  int64_t now_ms)
{
    const json_t *learn = json_object_get(spec, "learn");
    if (learn == NULL || !has_started)
        return "off";
    int64_t w = json_integer_value(json_object_get(learn, "window_s"));
    return now_ms < started + w * 1000 ? "learning" : "learned";
}

static json_t *group_row_json(sqlite3 *db, sqlite3_stmt *s, bool full)
{
    const char *name = col(s, 0);
    json_t *spec = col(s, 1) ? json_loads(col(s, 1), 0, NULL) : NULL;
    if (spec == NULL)
        spec = json_pack("{s:s}", "group", name);
    char t[WARD_TIME_STRLEN];
    json_t *o = json_object();
    json_object_set_new(o, "group", json_string(name));
    json_t *rules = json_object_get(spec, "rules");
    size_t enabled = 0, i;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        if (!json_is_false(json_object_get(r, "enabled")))
            enabled++;
    }
    json_object_set_new(o, "rules", json_integer((json_int_t)json_array_size(rules)));
    json_object_set_new(o, "enabled_rules", json_integer((json_int_t)enabled));
    json_t *devs = group_devices(db, name);
    json_object_set_new(o, "devices", json_integer((json_int_t)json_array_size(devs)));
    bool has_started = sqlite3_column_type(s, 3) != SQLITE_NULL;
    json_object_set_new(
        o, "learning",
        json_string(learning_state(spec, has_started, sqlite3_column_int64(s, 3), ward_now_ms())));
    json_object_set_new(o, "applied",
                        sqlite3_column_type(s, 2) == SQLITE_NULL
                            ? json_null()
                            : json_string(ward_time_iso(sqlite3_column_int64(s, 2), t, sizeof t)));
    if (full) {
        json_object_set_new(o, "device_ids", devs);
        json_object_set_new(o, "spec", spec);
    } else {
        json_decref(devs);
        json_decref(spec);
    }
    return o;
}

static const char group_sql[] =
    "SELECT name, spec, applied, learn_started FROM groups WHERE ?1 IS NULL OR name = ?1"
    " UNION ALL SELECT 'default', NULL, NULL, NULL"
    " WHERE (?1 IS NULL OR ?1 = 'default') AND NOT EXISTS"
    " (SELECT 1 FROM groups WHERE name = 'default') ORDER BY 1";

json_t *ward_registry_list_json(ward_store_t *st)
{
    if (ensure_tables(st) != 0)
        return NULL;
    sqlite3 *db = ward_store_sqlite(st);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, group_sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_null(s, 1);
    json_t *a = json_array();
    while (sqlite3_step(s) == SQLITE_ROW)
        json_array_append_new(a, group_row_json(db, s, false));
    sqlite3_finalize(s);
    return a;
}

json_t *ward_registry_show_json(ward_store_t *st, const char *group)
{
    if (ensure_tables(st) != 0)
        return NULL;
    sqlite3 *db = ward_store_sqlite(st);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, group_sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(s, 1, group, -1, SQLITE_TRANSIENT);
    json_t *o = NULL;
    if (sqlite3_step(s) == SQLITE_ROW)
        o = group_row_json(db, s, true);
    sqlite3_finalize(s);
    return o;
}

/* A group's baseline as stored. NULL with err when there is none. */
static ward_baseline_t *stored_baseline(ward_store_t *st, const char *group, json_t **spec_out,
                                        char *err, size_t errlen)
{
    *spec_out = NULL;
    if (ensure_tables(st) != 0) {
        snprintf(err, errlen, "database: %s", ward_store_errmsg(st));
        return NULL;
    }
    sqlite3 *db = ward_store_sqlite(st);
    json_t *spec;
    int64_t started = 0;
    bool has_started;
    char *learned;
    int f = old_group(db, group, &spec, &started, &has_started, &learned);
    if (f <= 0) {
        snprintf(err, errlen, f < 0 ? "database: %s" : "no group \"%s\"",
                 f < 0 ? sqlite3_errmsg(db) : group);
        return NULL;
    }
    ward_baseline_spec_t bs;
    const json_t *learn = json_object_get(spec, "learn");
    ward_baseline_t *bl = NULL;
    if (learn == NULL || !has_started || ward_baseline_spec_parse(learn, &bs, err, errlen) != 0) {
        snprintf(err, errlen,
                 "group \"%s\" does not learn (add \"learn\": {\"window_s\": ...} to its "
                 "document)",
                 group);
    } else if ((bl = ward_baseline_new(&bs, started)) != NULL) {
        json_t *l = learned ? json_loads(learned, 0, NULL) : NULL;
        if (l != NULL)
            ward_baseline_load(bl, l);
        json_decref(l);
    }
    free(learned);
    if (bl == NULL)
        json_decref(spec);
    else
        *spec_out = spec;
    return bl;
}

json_t *ward_registry_learned_json(ward_store_t *st, const char *group, int64_t now_ms, char *err,
                                   size_t errlen)
{
    json_t *spec;
    ward_baseline_t *bl = stored_baseline(st, group, &spec, err, errlen);
    if (bl == NULL)
        return NULL;
    json_t *o = ward_baseline_learned_json(bl, now_ms);
    json_t *out = json_pack("{s:s,s:o}", "group", group, "learned", o);
    ward_baseline_free(bl);
    json_decref(spec);
    return out;
}

int ward_registry_freeze(ward_store_t *st, const char *group, int64_t now_ms, json_t **doc_out,
                         char *err, size_t errlen)
{
    json_t *spec;
    if (doc_out != NULL)
        *doc_out = NULL;
    ward_baseline_t *bl = stored_baseline(st, group, &spec, err, errlen);
    if (bl == NULL)
        return -1;
    json_t *frozen = ward_baseline_freeze(bl);
    ward_baseline_free(bl);
    json_t *doc = json_deep_copy(spec);
    json_decref(spec);
    json_object_del(doc, "learn");
    json_t *rules = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "rules"), i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        if (id == NULL || strncmp(id, "learned.", 8) != 0)
            json_array_append(rules, r);
    }
    json_array_extend(rules, frozen);
    json_decref(frozen);
    json_object_set_new(doc, "rules", rules);
    int rc = ward_registry_apply(st, doc, now_ms, err, errlen);
    if (rc == 0 && doc_out != NULL)
        *doc_out = doc;
    else
        json_decref(doc);
    return rc;
}
