/*
 * groupcheck: the per-report driver of group rules and baselines. See groupcheck.h.
 */
#include "groupcheck.h"
#include "fnv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "baseline.h"
#include "clock.h"
#include "log.h"
#include "rules.h"

typedef struct dev {
    struct dev *next;
    ward_rules_device_t *rules;
    char id[WARD_DEVICE_ID_MAX + 1];
} dev_t_;

struct ward_groupcheck {
    ward_store_t *st;
    ward_registry_t *reg;
    ward_groupcheck_notify_fn notify;
    void *notify_ctx;
    dev_t_ **buckets;
    size_t n_buckets, n_devs;
    ward_groupcheck_stats_t stats;
    sqlite3_stmt *restore_stmt; /* prepared once: run for every device first seen */
    int64_t last_ms;            /* the latest report's time, for ward_groupcheck_flush */
};

static uint64_t hash(const char *s)
{
    return ward_fnv1a_str(WARD_FNV_SEED, s);
}

ward_groupcheck_t *ward_groupcheck_new(ward_store_t *st, ward_groupcheck_notify_fn notify,
                                       void *ctx, char *err, size_t errlen)
{
    ward_groupcheck_t *gc = calloc(1, sizeof *gc);
    if (gc == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    gc->st = st;
    gc->notify = notify;
    gc->notify_ctx = ctx;
    gc->n_buckets = 1024;
    gc->buckets = calloc(gc->n_buckets, sizeof *gc->buckets);
    if (gc->buckets == NULL) {
        snprintf(err, errlen, "out of memory");
        free(gc);
        return NULL;
    }
    if ((gc->reg = ward_registry_open(st, err, errlen)) == NULL) {
        ward_groupcheck_free(gc);
        return NULL;
    }
    return gc;
}

void ward_groupcheck_free(ward_groupcheck_t *gc)
{
    if (gc == NULL)
        return;
    for (size_t i = 0; i < gc->n_buckets; i++) {
        for (dev_t_ *d = gc->buckets[i], *next; d != NULL; d = next) {
            next = d->next;
            ward_rules_device_free(d->rules);
            free(d);
        }
    }
    free(gc->buckets);
    sqlite3_finalize(gc->restore_stmt);
    ward_registry_free(gc->reg);
    free(gc);
}

ward_registry_t *ward_groupcheck_registry(ward_groupcheck_t *gc)
{
    return gc->reg;
}

int ward_groupcheck_refresh(ward_groupcheck_t *gc)
{
    return ward_registry_refresh(gc->reg) < 0 ? -1 : 0;
}

void ward_groupcheck_stats(const ward_groupcheck_t *gc, ward_groupcheck_stats_t *out)
{
    *out = gc->stats;
}

static void grow(ward_groupcheck_t *gc)
{
    size_t nb = gc->n_buckets * 2;
    dev_t_ **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < gc->n_buckets; i++) {
        for (dev_t_ *d = gc->buckets[i], *next; d != NULL; d = next) {
            next = d->next;
            size_t k = hash(d->id) & (nb - 1);
            d->next = b[k];
            b[k] = d;
        }
    }
    free(gc->buckets);
    gc->buckets = b;
    gc->n_buckets = nb;
}

/* ---- Events to alerts ---------------------------------------------------------------------- */

typedef struct emit_ctx {
    ward_groupcheck_t *gc;
} emit_ctx_t;

static void fill(ward_alert_t *a, const char *device, const ward_event_t *ev)
{
    memset(a, 0, sizeof *a);
    snprintf(a->type, sizeof a->type, "%s", ev->type);
    snprintf(a->severity, sizeof a->severity, "%s", ev->severity);
    snprintf(a->device, sizeof a->device, "%s", device);
    snprintf(a->title, sizeof a->title, "%s", ev->title);
    snprintf(a->fold_key, sizeof a->fold_key, "%s", ev->fold_key);
    a->first_seen_ms = a->last_seen_ms = ev->t_ms;
    a->count = 1;
    snprintf(a->state, sizeof a->state, "active");
}

static int on_event(void *ctx, const char *device, const ward_event_t *ev)
{
    ward_groupcheck_t *gc = ((emit_ctx_t *)ctx)->gc;
    ward_alert_t old;
    int found = ward_store_alert_find(gc->st, device, ev->type, ev->fold_key, &old);
    if (found < 0)
        return -1;
    int rc = 0;
    if (ev->action == WARD_EVENT_RAISE) {
        if (found == 0) {
            ward_alert_t a;
            fill(&a, device, ev);
            a.evidence = json_incref(ev->evidence);
            rc = ward_store_alert_insert(gc->st, &a);
            if (rc == 0) {
                gc->stats.raised++;
                WARD_INFO("device %s: alert %lld %s (%s)", device, (long long)a.id, a.type,
                          a.fold_key);
                if (gc->notify)
                    rc = gc->notify(gc->notify_ctx, &a, true);
            }
            ward_alert_clear(&a);
            return rc;
        }
        bool reopen = strcmp(old.state, "active") != 0;
        old.count++;
        if (ev->t_ms > old.last_seen_ms)
            old.last_seen_ms = ev->t_ms;
        snprintf(old.state, sizeof old.state, "active");
        snprintf(old.severity, sizeof old.severity, "%s", ev->severity);
        json_decref(old.evidence);
        old.evidence = json_incref(ev->evidence);
        rc = ward_store_alert_update(gc->st, &old);
        if (rc == 0 && reopen) {
            gc->stats.raised++;
            WARD_INFO("device %s: alert %lld %s (%s) reopened", device, (long long)old.id, old.type,
                      old.fold_key);
            if (gc->notify)
                rc = gc->notify(gc->notify_ctx, &old, false);
        } else if (rc == 0) {
            gc->stats.folded++;
        }
        ward_alert_clear(&old);
        return rc;
    }
    if (found == 0)
        return 0;
    if (strcmp(old.state, "active") != 0) {
        ward_alert_clear(&old);
        return 0;
    }
    /* Resolve / invalidate: keep the last violation as evidence, add what happened. */
    char t[WARD_TIME_STRLEN];
    json_object_update(old.evidence, ev->evidence);
    json_object_set_new(old.evidence,
                        ev->action == WARD_EVENT_RESOLVE ? "cleared_at" : "invalidated_at",
                        json_string(ward_time_iso(ev->t_ms, t, sizeof t)));
    if (ev->action == WARD_EVENT_RESOLVE)
        snprintf(old.state, sizeof old.state, "resolved");
    rc = ward_store_alert_update(gc->st, &old);
    if (rc == 0 && ev->action == WARD_EVENT_RESOLVE) {
        gc->stats.resolved++;
        WARD_INFO("device %s: alert %lld %s (%s) resolved", device, (long long)old.id, old.type,
                  old.fold_key);
        if (gc->notify)
            rc = gc->notify(gc->notify_ctx, &old, false);
    } else if (rc == 0) {
        gc->stats.invalidated++;
    }
    ward_alert_clear(&old);
    return rc;
}

/* ---- Devices ------------------------------------------------------------------------------- */

static void make_ctx(ward_groupcheck_t *gc, const ward_group_t *g, emit_ctx_t *ec,
                     ward_rules_ctx_t *cx)
{
    ec->gc = gc;
    cx->group = g->name;
    cx->rules = g->rules;
    cx->baseline = g->baseline;
    cx->emit = on_event;
    cx->emit_ctx = ec;
}

/* After a restart: rule alerts still active are alarms in progress. */
static void restore(ward_groupcheck_t *gc, dev_t_ *d, const ward_rules_ctx_t *cx)
{
    sqlite3 *db = ward_store_sqlite(gc->st);
    sqlite3_stmt *s = gc->restore_stmt;
    if (s == NULL && sqlite3_prepare_v3(db,
                                        "SELECT fold_key FROM alerts WHERE device = ?1"
                                        " AND state = 'active' AND type LIKE 'rule.%'",
                                        -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return;
    }
    gc->restore_stmt = s;
    sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *k = sqlite3_column_text(s, 0);
        if (k != NULL)
            ward_rules_restore_alarm(d->rules, cx, (const char *)k);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static dev_t_ *device(ward_groupcheck_t *gc, const char *id, const ward_rules_ctx_t *cx)
{
    size_t k = hash(id) & (gc->n_buckets - 1);
    for (dev_t_ *d = gc->buckets[k]; d != NULL; d = d->next)
        if (strcmp(d->id, id) == 0)
            return d;
    dev_t_ *d = calloc(1, sizeof *d);
    if (d == NULL || (d->rules = ward_rules_device_new(id)) == NULL) {
        free(d);
        return NULL;
    }
    snprintf(d->id, sizeof d->id, "%s", id);
    d->next = gc->buckets[k];
    gc->buckets[k] = d;
    if (++gc->n_devs > gc->n_buckets)
        grow(gc);
    restore(gc, d, cx);
    return d;
}

int ward_groupcheck_report(ward_groupcheck_t *gc, const ward_wire_report_t *r,
                           const ward_flow_t *flows, int64_t now_ms)
{
    const ward_group_t *g = ward_registry_group(gc->reg, r->device_id);
    emit_ctx_t ec;
    ward_rules_ctx_t cx;
    make_ctx(gc, g, &ec, &cx);
    dev_t_ *d = device(gc, r->device_id, &cx);
    if (d == NULL)
        return -1;
    if (now_ms > gc->last_ms)
        gc->last_ms = now_ms;
    return ward_rules_report(d->rules, &cx, r, flows, now_ms);
}

int ward_groupcheck_flush(ward_groupcheck_t *gc)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ward_registry_count(gc->reg); i++)
        rc = ward_registry_save_learned(gc->reg, ward_registry_at(gc->reg, i), gc->last_ms);
    return rc;
}

int ward_groupcheck_tick(ward_groupcheck_t *gc, int64_t now_ms)
{
    ward_registry_refresh(gc->reg);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < gc->n_buckets; i++) {
        for (dev_t_ *d = gc->buckets[i]; rc == 0 && d != NULL; d = d->next) {
            const ward_group_t *g = ward_registry_group(gc->reg, d->id);
            emit_ctx_t ec;
            ward_rules_ctx_t cx;
            make_ctx(gc, g, &ec, &cx);
            rc = ward_rules_tick(d->rules, &cx, now_ms);
            if (rc == 0)
                rc = ward_registry_save_learned(gc->reg, g, now_ms);
        }
    }
    return rc;
}
