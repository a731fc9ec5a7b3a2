/*
 * baseline: learning what a group's traffic looks like, and alerting on what leaves it. See
 * baseline.h. Networks are kept in plain arrays (a group talks to few networks; a linear scan per
 * flow is cheap next to the database write of the same flow); ports are bitmaps.
 */
#include "baseline.h"
#include "grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define TYPE_NEW_DEST "baseline.new_destination"
#define TYPE_RANGE "baseline.out_of_range"

typedef struct nets {
    ward_rule_cidr_t *v;
    size_t n, cap;
} nets_t;

typedef struct range {
    bool have;
    uint64_t lo, hi;
} range_t;

struct ward_baseline {
    ward_baseline_spec_t spec;
    int64_t started_ms;
    nets_t out, in;
    uint8_t ports[2][8192]; /* [0] tcp, [1] udp: one bit per remote port of outbound flows */
    bool protos[256];
    range_t range[WARD_METRIC_COUNT_];
    uint64_t samples;
    bool dirty;
};

static int spec_fail(char *err, size_t errlen, const char *key, const char *msg)
{
    snprintf(err, errlen, "learn%s%s: %s", key ? "." : "", key ? key : "", msg);
    return -1;
}

static int spec_int(const json_t *learn, const char *key, long lo, long hi, long dflt, long *out,
                    char *err, size_t errlen)
{
    const json_t *v = json_object_get(learn, key);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "must be an integer between %ld and %ld", lo, hi);
        return spec_fail(err, errlen, key, msg);
    }
    *out = (long)json_integer_value(v);
    return 0;
}

int ward_baseline_spec_parse(const json_t *learn, ward_baseline_spec_t *out, char *err,
                             size_t errlen)
{
    static const char *const keys[] = {"window_s", "ipv4_prefix", "ipv6_prefix", "margin_pct",
                                       NULL};
    if (!json_is_object(learn))
        return spec_fail(err, errlen, NULL, "must be an object like {\"window_s\": 86400}");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)learn, key, v)
    {
        bool ok = false;
        for (size_t i = 0; keys[i] != NULL; i++)
            ok = ok || strcmp(key, keys[i]) == 0;
        if (!ok)
            return spec_fail(err, errlen, key, "unknown key");
    }
    if (json_object_get(learn, "window_s") == NULL)
        return spec_fail(err, errlen, "window_s", "missing (the learning window, in seconds)");
    long w, p4, p6, m;
    if (spec_int(learn, "window_s", WARD_BASELINE_WINDOW_MIN, WARD_BASELINE_WINDOW_MAX, 0, &w, err,
                 errlen) != 0 ||
        spec_int(learn, "ipv4_prefix", 8, 32, 24, &p4, err, errlen) != 0 ||
        spec_int(learn, "ipv6_prefix", 16, 128, 48, &p6, err, errlen) != 0 ||
        spec_int(learn, "margin_pct", 0, 1000, 50, &m, err, errlen) != 0)
        return -1;
    out->window_s = (uint32_t)w;
    out->ipv4_prefix = (uint8_t)p4;
    out->ipv6_prefix = (uint8_t)p6;
    out->margin_pct = (uint32_t)m;
    return 0;
}

ward_baseline_t *ward_baseline_new(const ward_baseline_spec_t *spec, int64_t started_ms)
{
    ward_baseline_t *bl = calloc(1, sizeof *bl);
    if (bl == NULL)
        return NULL;
    bl->spec = *spec;
    bl->started_ms = started_ms;
    return bl;
}

void ward_baseline_free(ward_baseline_t *bl)
{
    if (bl == NULL)
        return;
    free(bl->out.v);
    free(bl->in.v);
    free(bl);
}

bool ward_baseline_learning(const ward_baseline_t *bl, int64_t now_ms)
{
    return now_ms < bl->started_ms + (int64_t)bl->spec.window_s * 1000;
}

bool ward_baseline_take_dirty(ward_baseline_t *bl)
{
    bool d = bl->dirty;
    bl->dirty = false;
    return d;
}

/* The address widened to the learning prefix of its family. */
static ward_rule_cidr_t widen(const ward_baseline_t *bl, const ward_addr_t *a)
{
    ward_rule_cidr_t c;
    memcpy(c.b, a->b, 16);
    c.prefix =
        ward_addr_is_v4_mapped(a) ? (uint8_t)(96 + bl->spec.ipv4_prefix) : bl->spec.ipv6_prefix;
    unsigned full = c.prefix / 8, rest = c.prefix % 8;
    if (full < 16) {
        if (rest)
            c.b[full] &= (uint8_t)(0xff << (8 - rest));
        for (unsigned i = full + (rest ? 1 : 0); i < 16; i++)
            c.b[i] = 0;
    }
    return c;
}

static bool nets_has(const nets_t *n, const ward_addr_t *a)
{
    for (size_t i = 0; i < n->n; i++)
        if (ward_rule_cidr_contains(&n->v[i], a))
            return true;
    return false;
}

static bool nets_add(nets_t *n, const ward_rule_cidr_t *c)
{
    for (size_t i = 0; i < n->n; i++)
        if (n->v[i].prefix == c->prefix && memcmp(n->v[i].b, c->b, 16) == 0)
            return false;
    if (n->n >= WARD_BASELINE_NETS_MAX)
        return false;
    if (!WARD_GROW(n->v, n->n, n->cap, 16))
        return false;
    n->v[n->n++] = *c;
    return true;
}

static int port_slot(unsigned proto)
{
    return proto == 6 ? 0 : proto == 17 ? 1 : -1;
}

static bool port_has(const ward_baseline_t *bl, int slot, unsigned port)
{
    return (bl->ports[slot][port >> 3] >> (port & 7)) & 1;
}

static void learn(ward_baseline_t *bl, const ward_sample_t *s)
{
    for (size_t i = 0; i < s->n_flows; i++) {
        const ward_flow_t *f = &s->flows[i];
        ward_rule_cidr_t c = widen(bl, &f->remote_addr);
        if (f->initiator == WARD_DIR_OUTBOUND && nets_add(&bl->out, &c))
            bl->dirty = true;
        if (f->initiator == WARD_DIR_INBOUND && nets_add(&bl->in, &c))
            bl->dirty = true;
        int slot = port_slot(f->proto);
        if (slot >= 0 && f->initiator == WARD_DIR_OUTBOUND &&
            !port_has(bl, slot, f->remote_port_raw)) {
            bl->ports[slot][f->remote_port_raw >> 3] |= (uint8_t)(1u << (f->remote_port_raw & 7));
            bl->dirty = true;
        }
        if (!bl->protos[f->proto]) {
            bl->protos[f->proto] = true;
            bl->dirty = true;
        }
    }
    for (int m = 0; m < WARD_METRIC_COUNT_; m++) {
        uint64_t v = ward_sample_metric(s, (ward_metric_t)m);
        range_t *r = &bl->range[m];
        if (!r->have || v < r->lo || v > r->hi) {
            if (!r->have || v < r->lo)
                r->lo = v;
            if (!r->have || v > r->hi)
                r->hi = v;
            r->have = true;
            bl->dirty = true;
        }
    }
    bl->samples++;
    bl->dirty = true;
}

static uint64_t allowed_lo(const ward_baseline_t *bl, const range_t *r)
{
    return bl->spec.margin_pct >= 100 ? 0 : r->lo - r->lo * bl->spec.margin_pct / 100;
}

static uint64_t allowed_hi(const ward_baseline_t *bl, const range_t *r)
{
    return r->hi + r->hi * bl->spec.margin_pct / 100;
}

static json_t *learned_times(const ward_baseline_t *bl)
{
    char a[WARD_TIME_STRLEN], b[WARD_TIME_STRLEN];
    return json_pack(
        "{s:s,s:s}", "started", ward_time_iso(bl->started_ms, a, sizeof a), "until",
        ward_time_iso(bl->started_ms + (int64_t)bl->spec.window_s * 1000, b, sizeof b));
}

static int emit_dest(ward_baseline_t *bl, const char *group, const char *device,
                     const ward_sample_t *s, const ward_flow_t *f, const char *what,
                     const char *key, const char *value, json_t *seen, ward_event_fn fn, void *ctx)
{
    if (json_object_get(seen, key) != NULL)
        return 0; /* once per report and key */
    json_object_set_new(seen, key, json_true());
    json_t *ev = json_object();
    json_object_set_new(ev, "group", json_string(group ? group : "default"));
    json_object_set_new(ev, "what", json_string(what));
    json_object_set_new(ev, "value", json_string(value));
    json_t *fo = json_object();
    ward_flow_json_fields(f, fo, "direction");
    json_object_set_new(ev, "flow", fo);
    json_object_set_new(ev, "learned", learned_times(bl));
    ward_event_t e = {WARD_EVENT_RAISE,
                      TYPE_NEW_DEST,
                      key,
                      "medium",
                      "Traffic to a destination not seen while the group was learning",
                      ev,
                      s->t_ms};
    int rc = fn ? fn(ctx, device, &e) : 0;
    json_decref(ev);
    return rc;
}

static int check(ward_baseline_t *bl, const char *group, const char *device, const ward_sample_t *s,
                 ward_event_fn fn, void *ctx)
{
    json_t *seen = json_object();
    int rc = 0;
    char key[96], val[80], pb[8];
    for (size_t i = 0; rc == 0 && i < s->n_flows; i++) {
        const ward_flow_t *f = &s->flows[i];
        const nets_t *n = f->initiator == WARD_DIR_OUTBOUND  ? &bl->out
                          : f->initiator == WARD_DIR_INBOUND ? &bl->in
                                                             : NULL;
        if (n != NULL && !nets_has(n, &f->remote_addr)) {
            ward_rule_cidr_t c = widen(bl, &f->remote_addr);
            ward_rule_cidr_format(&c, val, sizeof val);
            snprintf(key, sizeof key, "%s:%s", n == &bl->out ? "out" : "in", val);
            rc = emit_dest(bl, group, device, s, f, "network", key, val, seen, fn, ctx);
        }
        int slot = port_slot(f->proto);
        if (rc == 0 && slot >= 0 && f->initiator == WARD_DIR_OUTBOUND &&
            !port_has(bl, slot, f->remote_port_raw)) {
            snprintf(val, sizeof val, "%s/%u", slot == 0 ? "tcp" : "udp", f->remote_port_raw);
            snprintf(key, sizeof key, "port:%s", val);
            rc = emit_dest(bl, group, device, s, f, "port", key, val, seen, fn, ctx);
        }
        if (rc == 0 && !bl->protos[f->proto]) {
            snprintf(val, sizeof val, "%s", ward_wire_proto_name(f->proto, pb, sizeof pb));
            snprintf(key, sizeof key, "protocol:%s", val);
            rc = emit_dest(bl, group, device, s, f, "protocol", key, val, seen, fn, ctx);
        }
    }
    json_decref(seen);
    for (int m = 0; rc == 0 && m < WARD_METRIC_COUNT_; m++) {
        const range_t *r = &bl->range[m];
        if (!r->have)
            continue;
        uint64_t v = ward_sample_metric(s, (ward_metric_t)m), lo = allowed_lo(bl, r),
                 hi = allowed_hi(bl, r);
        if (v >= lo && v <= hi)
            continue;
        json_t *ev = json_object();
        json_object_set_new(ev, "group", json_string(group ? group : "default"));
        json_object_set_new(ev, "metric", json_string(ward_metric_name((ward_metric_t)m)));
        json_object_set_new(ev, "observed", json_integer((json_int_t)v));
        json_object_set_new(
            ev, "learned_range",
            json_pack("{s:I,s:I}", "min", (json_int_t)r->lo, "max", (json_int_t)r->hi));
        json_object_set_new(ev, "allowed",
                            json_pack("{s:I,s:I}", "min", (json_int_t)lo, "max", (json_int_t)hi));
        json_object_set_new(ev, "margin_pct", json_integer(bl->spec.margin_pct));
        json_object_set_new(ev, "learned", learned_times(bl));
        ward_event_t e = {WARD_EVENT_RAISE,
                          TYPE_RANGE,
                          ward_metric_name((ward_metric_t)m),
                          "low",
                          "Traffic outside the range the group learned",
                          ev,
                          s->t_ms};
        rc = fn ? fn(ctx, device, &e) : 0;
        json_decref(ev);
    }
    return rc;
}

int ward_baseline_sample(ward_baseline_t *bl, const char *group, const char *device,
                         const ward_sample_t *s, ward_event_fn fn, void *ctx)
{
    if (s->t_ms < bl->started_ms)
        return 0;
    if (ward_baseline_learning(bl, s->t_ms)) {
        learn(bl, s);
        return 0;
    }
    return check(bl, group, device, s, fn, ctx);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static json_t *nets_json(const nets_t *n)
{
    json_t *a = json_array();
    char buf[80];
    for (size_t i = 0; i < n->n; i++) {
        ward_rule_cidr_format(&n->v[i], buf, sizeof buf);
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

static json_t *ports_json(const ward_baseline_t *bl, bool with_proto)
{
    json_t *a = json_array();
    char buf[16];
    for (int slot = 0; slot < 2; slot++) {
        for (unsigned p = 0; p < 65536; p++) {
            if (!port_has(bl, slot, p))
                continue;
            if (with_proto) {
                snprintf(buf, sizeof buf, "%s/%u", slot == 0 ? "tcp" : "udp", p);
                json_array_append_new(a, json_string(buf));
            } else if (slot == 0 || !port_has(bl, 0, p)) {
                json_array_append_new(a, json_integer(p));
            }
        }
    }
    return a;
}

static json_t *protos_json(const ward_baseline_t *bl)
{
    json_t *a = json_array();
    char buf[8];
    for (unsigned p = 0; p < 256; p++) {
        if (!bl->protos[p])
            continue;
        const char *name = ward_wire_proto_name(p, buf, sizeof buf);
        if (p == 1 || p == 6 || p == 17 || p == 58)
            json_array_append_new(a, json_string(name));
        else
            json_array_append_new(a, json_integer(p));
    }
    return a;
}

json_t *ward_baseline_learned_json(const ward_baseline_t *bl, int64_t now_ms)
{
    json_t *o = json_object();
    char a[WARD_TIME_STRLEN], b[WARD_TIME_STRLEN];
    json_object_set_new(o, "window_s", json_integer(bl->spec.window_s));
    json_object_set_new(o, "started", json_string(ward_time_iso(bl->started_ms, a, sizeof a)));
    json_object_set_new(o, "until",
                        json_string(ward_time_iso(
                            bl->started_ms + (int64_t)bl->spec.window_s * 1000, b, sizeof b)));
    json_object_set_new(o, "learning", json_boolean(ward_baseline_learning(bl, now_ms)));
    json_object_set_new(o, "samples", json_integer((json_int_t)bl->samples));
    json_object_set_new(o, "outbound_networks", nets_json(&bl->out));
    json_object_set_new(o, "inbound_networks", nets_json(&bl->in));
    json_object_set_new(o, "remote_ports", ports_json(bl, true));
    json_object_set_new(o, "protocols", protos_json(bl));
    json_t *ranges = json_object();
    for (int m = 0; m < WARD_METRIC_COUNT_; m++) {
        if (!bl->range[m].have)
            continue;
        json_object_set_new(ranges, ward_metric_name((ward_metric_t)m),
                            json_pack("{s:I,s:I}", "min", (json_int_t)bl->range[m].lo, "max",
                                      (json_int_t)bl->range[m].hi));
    }
    json_object_set_new(o, "ranges", ranges);
    return o;
}

static int load_nets(nets_t *n, const json_t *a)
{
    size_t i;
    const json_t *v;
    if (a == NULL)
        return 0;
    if (!json_is_array(a))
        return -1;
    json_array_foreach(a, i, v)
    {
        ward_rule_cidr_t c;
        if (!json_is_string(v) || !ward_rule_cidr_parse(json_string_value(v), &c))
            return -1;
        nets_add(n, &c);
    }
    return 0;
}

int ward_baseline_load(ward_baseline_t *bl, const json_t *j)
{
    if (!json_is_object(j))
        return -1;
    if (load_nets(&bl->out, json_object_get(j, "outbound_networks")) != 0 ||
        load_nets(&bl->in, json_object_get(j, "inbound_networks")) != 0)
        return -1;
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(j, "remote_ports"), i, v)
    {
        const char *s = json_string_value(v);
        unsigned port;
        char proto[4];
        if (s == NULL || sscanf(s, "%3[a-z]/%u", proto, &port) != 2 || port > 65535)
            return -1;
        int slot = strcmp(proto, "tcp") == 0 ? 0 : strcmp(proto, "udp") == 0 ? 1 : -1;
        if (slot < 0)
            return -1;
        bl->ports[slot][port >> 3] |= (uint8_t)(1u << (port & 7));
    }
    json_array_foreach(json_object_get(j, "protocols"), i, v)
    {
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 255) {
            bl->protos[json_integer_value(v)] = true;
            continue;
        }
        const char *s = json_string_value(v);
        int p = s == NULL                  ? -1
                : strcmp(s, "icmp") == 0   ? 1
                : strcmp(s, "tcp") == 0    ? 6
                : strcmp(s, "udp") == 0    ? 17
                : strcmp(s, "icmpv6") == 0 ? 58
                                           : -1;
        if (p < 0)
            return -1;
        bl->protos[p] = true;
    }
    const json_t *ranges = json_object_get(j, "ranges");
    for (int m = 0; m < WARD_METRIC_COUNT_; m++) {
        const json_t *r = json_object_get(ranges, ward_metric_name((ward_metric_t)m));
        if (r == NULL)
            continue;
        const json_t *lo = json_object_get(r, "min"), *hi = json_object_get(r, "max");
        if (!json_is_integer(lo) || !json_is_integer(hi) || json_integer_value(lo) < 0 ||
            json_integer_value(hi) < json_integer_value(lo))
            return -1;
        bl->range[m].have = true;
        bl->range[m].lo = (uint64_t)json_integer_value(lo);
        bl->range[m].hi = (uint64_t)json_integer_value(hi);
    }
    const json_t *n = json_object_get(j, "samples");
    if (json_is_integer(n) && json_integer_value(n) >= 0)
        bl->samples = (uint64_t)json_integer_value(n);
    return 0;
}

json_t *ward_baseline_freeze(const ward_baseline_t *bl)
{
    json_t *rules = json_array();
    json_array_append_new(rules,
                          json_pack("{s:s,s:s,s:s,s:o}", "type", "rule.outbound_ip_not_allowed",
                                    "id", "learned.outbound_ip", "operator", "in-cidr-set",
                                    "values", nets_json(&bl->out)));
    json_array_append_new(rules,
                          json_pack("{s:s,s:s,s:s,s:o}", "type", "rule.inbound_ip_not_allowed",
                                    "id", "learned.inbound_ip", "operator", "in-cidr-set", "values",
                                    nets_json(&bl->in)));
    json_array_append_new(rules,
                          json_pack("{s:s,s:s,s:s,s:s,s:o}", "type", "rule.remote_port_not_allowed",
                                    "id", "learned.remote_port", "operator", "in-port-set",
                                    "direction", "outbound", "values", ports_json(bl, false)));
    json_array_append_new(rules, json_pack("{s:s,s:s,s:s,s:o}", "type", "rule.protocol_not_allowed",
                                           "id", "learned.protocol", "operator", "in-set", "values",
                                           protos_json(bl)));
    for (int m = 0; m < WARD_METRIC_COUNT_; m++) {
        const range_t *r = &bl->range[m];
        if (!r->have)
            continue;
        char type[64], id[64];
        snprintf(type, sizeof type, "rule.%s", ward_metric_name((ward_metric_t)m));
        snprintf(id, sizeof id, "learned.%s", ward_metric_name((ward_metric_t)m));
        json_array_append_new(rules, json_pack("{s:s,s:s,s:I,s:I}", "type", type, "id", id, "min",
                                               (json_int_t)allowed_lo(bl, r), "max",
                                               (json_int_t)allowed_hi(bl, r)));
    }
    return rules;
}
