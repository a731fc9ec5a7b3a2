/*
 * feeds_json: JSON feeds other than STIX (feeds_stix.c): Spamhaus DROP as JSON lines, and MISP
 * JSON events ({"Event":..}, {"response":[{"Event":..}]}, or an array of events).
 *
 * Parsing is jansson's (bounded nesting depth, rejects NUL in strings); this file only walks the
 * resulting tree, iteratively, with every lookup type-checked. Per-attribute problems are
 * reported as "file: Event <uuid> Attribute[i]: reason" (JSON has no useful line number there).
 *
 * Invariants: one pass; an attribute is loaded, skipped or reported bad exactly once.
 */
#include "feeds_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *jstr(json_t *obj, const char *key, size_t *n)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return NULL;
    *n = json_string_length(v);
    return json_string_value(v);
}

/* ------------------------------------------------------------------------------------------ */
/* Spamhaus DROP JSON lines */

ward_status_t ward__load_drop_json(ward__feed_ctx_t *c, const char *data, size_t len)
{
    uint8_t conf = ward__feed_confidence(c, WARD__DROP_CONFIDENCE);
    uint32_t cat = ward__feed_default_category(c, "spamhaus_drop");
    ward__lines_t it;
    ward__lines_init(&it, data, len);
    ward__str_t line;
    while (ward__lines_next(&it, &line) && !c->oom) {
        ward__str_t t = ward__trim(line);
        if (t.n == 0 || t.p[0] == '#' || t.p[0] == ';')
            continue;
        json_error_t err;
        json_t *o = json_loadb(t.p, t.n, 0, &err);
        if (!json_is_object(o)) {
            ward__feed_bad(c, it.lineno, "not a JSON object%s%s", o ? "" : ": ", o ? "" : err.text);
            json_decref(o);
            continue;
        }
        size_t n = 0;
        const char *type = jstr(o, "type", &n);
        if (type != NULL && strcmp(type, "metadata") == 0) {
            json_decref(o);
            continue;
        }
        const char *cidr = jstr(o, "cidr", &n);
        ward_indicator_t ind = {0};
        if (cidr == NULL || !ward__ip_parse_cidr_n(cidr, n, &ind.addr, &ind.prefix, &ind.is_v4)) {
            ward__feed_bad(c, it.lineno, "no valid \"cidr\"");
            json_decref(o);
            continue;
        }
        const char *sbl = jstr(o, "sblid", &n);
        ind.ref = sbl != NULL && n <= 64 ? ward__feed_intern(c, sbl, n) : 0;
        ind.category = cat;
        ind.confidence = conf;
        json_decref(o);
        if (!ward__feed_add(c, &ind))
            return WARD_E_NOMEM;
    }
    return c->oom ? WARD_E_NOMEM : WARD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* MISP JSON */

typedef struct misp_event {
    char where[80]; /* "Event <uuid>" for error reports */
    uint32_t ref;   /* the event's uuid (or id), interned */
    int64_t date;   /* the event's date, the fallback first_seen */
} misp_event_t;

static bool json_falsy(json_t *v)
{
    if (json_is_false(v))
        return true;
    if (json_is_integer(v))
        return json_integer_value(v) == 0;
    if (json_is_string(v))
        return strcmp(json_string_value(v), "0") == 0 ||
               strcasecmp(json_string_value(v), "false") == 0;
    return false;
}

static bool json_time(json_t *v, int64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_string(v))
        return ward__parse_time((ward__str_t){json_string_value(v), json_string_length(v)}, out);
    return false;
}

static void misp_attribute(ward__feed_ctx_t *c, const misp_event_t *ev, json_t *a, const char *list,
                           size_t idx)
{
    if (!json_is_object(a)) {
        ward__feed_bad(c, 0, "%s %s[%zu]: not an object", ev->where, list, idx);
        return;
    }
    size_t tn = 0, vn = 0;
    const char *type = jstr(a, "type", &tn);
    const char *value = jstr(a, "value", &vn);
    if (type == NULL || value == NULL) {
        ward__feed_bad(c, 0, "%s %s[%zu]: no \"type\" or \"value\"", ev->where, list, idx);
        return;
    }
    bool with_port = strcmp(type, "ip-src|port") == 0 || strcmp(type, "ip-dst|port") == 0;
    if (!with_port && strcmp(type, "ip-src") != 0 && strcmp(type, "ip-dst") != 0) {
        ward__feed_skip(c, true, false);
        return;
    }
    if (json_is_true(json_object_get(a, "deleted")) || json_falsy(json_object_get(a, "to_ids"))) {
        ward__feed_skip(c, false, true);
        return;
    }
    if (with_port) {
        const char *bar = memchr(value, '|', vn);
        if (bar == NULL) {
            ward__feed_bad(c, 0, "%s %s[%zu]: %s value without '|port'", ev->where, list, idx,
                           type);
            return;
        }
        vn = (size_t)(bar - value);
    }
    ward_indicator_t ind = {0};
    if (!ward__ip_parse_cidr_n(value, vn, &ind.addr, &ind.prefix, &ind.is_v4)) {
        ward__feed_bad(c, 0, "%s %s[%zu]: not an IP address or CIDR: '%.*s'", ev->where, list, idx,
                       (int)(vn < 60 ? vn : 60), value);
        return;
    }
    ind.first_seen = ev->date;
    json_t *fs = json_object_get(a, "first_seen");
    json_t *ts = json_object_get(a, "timestamp");
    if (fs != NULL && !json_is_null(fs)) {
        if (!json_time(fs, &ind.first_seen)) {
            ward__feed_bad(c, 0, "%s %s[%zu]: first_seen is not a time", ev->where, list, idx);
            return;
        }
    } else if (ts != NULL && !json_time(ts, &ind.first_seen)) {
        ward__feed_bad(c, 0, "%s %s[%zu]: timestamp is not a time", ev->where, list, idx);
        return;
    }
    size_t cn = 0;
    const char *cat = jstr(a, "category", &cn);
    ind.category = cat && cn > 0 && cn <= 128 ? ward__feed_intern(c, cat, cn) : c->category;
    ind.ref = ev->ref;
    ind.confidence = ward__feed_confidence(c, WARD__DEFAULT_CONFIDENCE);
    ward__feed_add(c, &ind);
}

static void misp_attributes(ward__feed_ctx_t *c, const misp_event_t *ev, json_t *list,
                            const char *name)
{
    if (list == NULL)
        return;
    if (!json_is_array(list)) {
        ward__feed_bad(c, 0, "%s: \"%s\" is not an array", ev->where, name);
        return;
    }
    for (size_t i = 0; i < json_array_size(list) && !c->oom; i++)
        misp_attribute(c, ev, json_array_get(list, i), name, i);
}

static void misp_event(ward__feed_ctx_t *c, json_t *e, size_t idx)
{
    misp_event_t ev = {.ref = 0};
    size_t n = 0;
    const char *uuid = jstr(e, "uuid", &n);
    if (uuid == NULL)
        uuid = jstr(e, "id", &n);
    if (uuid != NULL && n > 0 && n <= 64) {
        snprintf(ev.where, sizeof ev.where, "Event %.*s", (int)n, uuid);
        ev.ref = ward__feed_intern(c, uuid, n);
    } else {
        snprintf(ev.where, sizeof ev.where, "Event #%zu", idx);
    }
    json_t *date = json_object_get(e, "date");
    if (date != NULL && !json_time(date, &ev.date))
        ev.date = 0;
    misp_attributes(c, &ev, json_object_get(e, "Attribute"), "Attribute");
    json_t *objs = json_object_get(e, "Object");
    if (objs == NULL)
        return;
    if (!json_is_array(objs)) {
        ward__feed_bad(c, 0, "%s: \"Object\" is not an array", ev.where);
        return;
    }
    for (size_t i = 0; i < json_array_size(objs) && !c->oom; i++) {
        json_t *o = json_array_get(objs, i);
        char name[40];
        snprintf(name, sizeof name, "Object[%zu].Attribute", i);
        if (json_is_object(o))
            misp_attributes(c, &ev, json_object_get(o, "Attribute"), name);
        else
            ward__feed_bad(c, 0, "%s: Object[%zu] is not an object", ev.where, i);
    }
}

/* One element of a list of events: {"Event": {...}} or the event itself. */
static void misp_event_wrapper(ward__feed_ctx_t *c, json_t *w, size_t idx)
{
    json_t *e = json_is_object(w) ? json_object_get(w, "Event") : NULL;
    if (json_is_object(e))
        misp_event(c, e, idx);
    else if (json_is_object(w) && (json_object_get(w, "Attribute") || json_object_get(w, "Object")))
        misp_event(c, w, idx);
    else
        ward__feed_bad(c, 0, "element %zu is not a MISP event", idx);
}

json_t *ward__feed_json(ward__feed_ctx_t *c, const char *data, size_t len)
{
    json_error_t err;
    json_t *root = json_loadb(data, len, 0, &err);
    if (root == NULL) {
        c->st->bad++;
        ward__feed_fail(c, (uint64_t)(err.line > 0 ? err.line : 0), "JSON: %s", err.text);
    }
    return root;
}

ward_status_t ward__load_misp_json(ward__feed_ctx_t *c, const char *data, size_t len)
{
    json_t *root = ward__feed_json(c, data, len);
    if (root == NULL)
        return WARD_E_MALFORMED;
    ward_status_t rc = WARD_OK;
    json_t *list = NULL;
    if (json_is_array(root))
        list = root;
    else if (json_is_object(root) && json_is_array(json_object_get(root, "response")))
        list = json_object_get(root, "response");
    if (list != NULL) {
        for (size_t i = 0; i < json_array_size(list) && !c->oom; i++)
            misp_event_wrapper(c, json_array_get(list, i), i);
    } else if (json_is_object(root) && json_is_object(json_object_get(root, "response"))) {
        /* restSearch on attributes: {"response": {"Attribute": [...]}} */
        misp_event_wrapper(c, json_object_get(root, "response"), 0);
    } else if (json_is_object(root) && (json_is_object(json_object_get(root, "Event")) ||
                                        json_object_get(root, "Attribute") != NULL)) {
        misp_event_wrapper(c, root, 0);
    } else {
        c->st->bad++;
        ward__feed_fail(c, 0, "not a MISP export: no \"Event\", \"response\" or event array");
        rc = WARD_E_MALFORMED;
    }
    json_decref(root);
    return c->oom ? WARD_E_NOMEM : rc;
}
