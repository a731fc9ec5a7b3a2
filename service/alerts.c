/*
 * alerts: see alerts.h. Folding asks the store for the alert with the same key and either updates
 * it or inserts a new one, inside the worker's open transaction, so a batch is all-or-nothing.
 */
#include "alerts.h"

#include "device_alerts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "store.h"

void ward_alert_intel_begin(ward_alert_t *a, const char *device, const ward_intel_match_t *m,
                            int64_t first_seen_ms, int64_t last_seen_ms)
{
    memset(a, 0, sizeof *a);
    snprintf(a->type, sizeof a->type, "%s", WARD_ALERT_INTEL_IP);
    snprintf(a->severity, sizeof a->severity, "high");
    snprintf(a->device, sizeof a->device, "%s", device);
    snprintf(a->title, sizeof a->title, "Communication with a known malicious IP");
    ward_intel_fold_key(m, a->fold_key, sizeof a->fold_key);
    a->first_seen_ms = first_seen_ms;
    a->last_seen_ms = last_seen_ms;
    a->count = 1;
    snprintf(a->state, sizeof a->state, "active");
    a->evidence = json_object();
}

/* Unix seconds as ISO-8601, 0 as null. */
static json_t *time_or_null(int64_t s)
{
    char t[WARD_TIME_STRLEN];
    return s == 0 ? json_null() : json_string(ward_time_iso(s * 1000, t, sizeof t));
}

static json_t *indicator_json(const ward_intel_match_t *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "value", json_string(m->value));
    json_object_set_new(o, "source", json_string(m->source));
    json_object_set_new(o, "category", json_string(m->category));
    json_object_set_new(o, "confidence", json_integer(m->confidence));
    json_object_set_new(o, "first_seen", time_or_null(m->first_seen));
    json_object_set_new(o, "expires", time_or_null(m->expires));
    json_object_set_new(o, "ref", json_string(m->ref));
    return o;
}

void ward_alert_intel_finish(ward_alert_t *a, const ward_intel_match_t *m, size_t n,
                             size_t total)
{
    json_object_set_new(a->evidence, "indicator", indicator_json(&m[0]));
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(all, indicator_json(&m[i]));
    json_object_set_new(a->evidence, "matches", all);
    if (total > n)
        json_object_set_new(a->evidence, "matches_total", json_integer((json_int_t)total));
}

void ward_alert_intel(ward_alert_t *a, const ward_flow_t *f, const ward_intel_match_t *m,
                      size_t n, size_t total)
{
    ward_alert_intel_begin(a, f->device, m, f->first_seen_ms, f->last_seen_ms);
    ward_flow_json_fields(f, a->evidence, "direction");
    ward_alert_intel_finish(a, m, n, total);
}

/*
 * intel.malicious_ip repeat: the evidence stays the one of the flow that raised the alert, and the
 * repeat's flow (without the indicator, which is the same) becomes "last_flow" when it is the
 * latest seen. Takes over old's evidence.
 */
static void fold_intel_evidence(ward_alert_t *a, ward_alert_t *old)
{
    json_t *ev = old->evidence;
    old->evidence = NULL;
    if (a->last_seen_ms >= old->last_seen_ms) {
        json_t *last = json_deep_copy(a->evidence);
        static const char *const drop[] = {"indicator", "matches", "matches_total", "last_flow",
                                           "retrospective"};
        for (size_t i = 0; last != NULL && i < sizeof drop / sizeof drop[0]; i++)
            json_object_del(last, drop[i]);
        json_object_set_new(ev, "last_flow", last);
    }
    json_decref(a->evidence);
    a->evidence = ev;
}

/*
 * A repeat that keeps the evidence of the first occurrence (what raised the alert: for a deny-list
 * hit, the packet that first matched, usually the device's own first packet to the address) and
 * records the repeat's evidence under `key` when it is the latest seen. Takes over old's evidence.
 */
static void fold_first_evidence(ward_alert_t *a, ward_alert_t *old, const char *key)
{
    json_t *ev = old->evidence;
    old->evidence = NULL;
    if (a->last_seen_ms >= old->last_seen_ms) {
        json_t *last = json_deep_copy(a->evidence);
        json_object_del(last, key);
        json_object_set_new(ev, key, last);
    }
    json_decref(a->evidence);
    a->evidence = ev;
}

void ward_alert_clear(ward_alert_t *a)
{
    json_decref(a->evidence);
    a->evidence = NULL;
}

json_t *ward_alert_json(const ward_alert_t *a)
{
    char t1[WARD_TIME_STRLEN], t2[WARD_TIME_STRLEN];
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "id", json_integer(a->id));
    json_object_set_new(o, "type", json_string(a->type));
    json_object_set_new(o, "severity", json_string(a->severity));
    json_object_set_new(o, "device", json_string(a->device));
    json_object_set_new(o, "title", json_string(a->title));
    json_object_set_new(o, "first_seen",
                        json_string(ward_time_iso(a->first_seen_ms, t1, sizeof t1)));
    json_object_set_new(o, "last_seen", json_string(ward_time_iso(a->last_seen_ms, t2, sizeof t2)));
    json_object_set_new(o, "count", json_integer(a->count));
    json_object_set_new(o, "state", json_string(a->state));
    json_object_set(o, "evidence", a->evidence ? a->evidence : json_object());
    return o;
}

int ward_alerts_raise(struct ward_store *st, ward_alert_t *a, bool *is_new)
{
    ward_alert_t old;
    int found = ward_store_alert_find(st, a->device, a->type, a->fold_key, &old);
    if (found < 0)
        return -1;
    if (found == 0) {
        *is_new = true;
        return ward_store_alert_insert(st, a);
    }
    *is_new = false;
    if (strcmp(a->type, WARD_ALERT_INTEL_IP) == 0 && old.evidence != NULL)
        fold_intel_evidence(a, &old);
    else if (strcmp(a->type, WARD_ALERT_DENY_HIT) == 0 && old.evidence != NULL)
        fold_first_evidence(a, &old, "last_detection");
    a->id = old.id;
    a->count += old.count;
    if (old.first_seen_ms < a->first_seen_ms)
        a->first_seen_ms = old.first_seen_ms;
    if (old.last_seen_ms > a->last_seen_ms)
        a->last_seen_ms = old.last_seen_ms;
    snprintf(a->state, sizeof a->state, "%s", old.state);
    ward_alert_clear(&old);
    return ward_store_alert_update(st, a);
}

struct ward_alert_sink {
    FILE *f;
    char *path;
    bool failing; /* the last write failed: log again only once it recovers and fails anew */
};

ward_alert_sink_t *ward_alert_sink_open(const char *path, char *err, size_t err_len)
{
    ward_alert_sink_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->f = fopen(path, "a");
    s->path = strdup(path);
    if (s->f == NULL || s->path == NULL) {
        snprintf(err, err_len, "cannot open alerts file %s: %s", path, strerror(errno));
        ward_alert_sink_close(s);
        return NULL;
    }
    return s;
}

int ward_alert_sink_write(ward_alert_sink_t *s, const ward_alert_t *a)
{
    json_t *o = ward_alert_json(a);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    int rc = -1;
    if (line != NULL && fprintf(s->f, "%s\n", line) >= 0 && fflush(s->f) == 0)
        rc = 0;
    if (rc != 0 && !s->failing)
        WARD_ERROR("alerts file %s: write failed: %s (alert %lld of device %s)", s->path,
                   strerror(errno), (long long)a->id, a->device);
    s->failing = rc != 0;
    free(line);
    return rc;
}

void ward_alert_sink_close(ward_alert_sink_t *s)
{
    if (s == NULL)
        return;
    if (s->f != NULL)
        fclose(s->f);
    free(s->path);
    free(s);
}
