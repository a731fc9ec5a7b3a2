/*
 * rules: parsing, validation and evaluation of group rules. See rules.h and docs/rules.md.
 *
 * Validation reports the first problem as "<json path>: <reason>" so that wardctl can print
 * "FILE: rules[3].max: must be >= min". Everything a document says is checked here, nothing is
 * assumed later: evaluation trusts a parsed ruleset completely.
 *
 * Windows: each device keeps a short history of its datapoints (per-report metrics, message
 * deltas and, when a rule needs distinct counts over a window, hashes of its connections and
 * remotes), no older than the longest window of its group's rules.
 */
#include "rules.h"
#include "fnv.h"
#include "grow.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"
#include "clock.h"
#include "intel/indicator.h"

/* Most datapoints kept per device for windows (older ones are dropped first). */
#define HISTORY_MAX 2048

static const char *const kind_names[WARD_RULE_KIND_COUNT_] = {
    [WARD_RULE_ACTIVE_CONNECTIONS] = "rule.active_connections",
    [WARD_RULE_OUTBOUND_IP] = "rule.outbound_ip_not_allowed",
    [WARD_RULE_INBOUND_IP] = "rule.inbound_ip_not_allowed",
    [WARD_RULE_C2D_MESSAGES] = "rule.c2d_messages",
    [WARD_RULE_D2C_MESSAGES] = "rule.d2c_messages",
    [WARD_RULE_LISTENING_PORT] = "rule.listening_port_not_allowed",
    [WARD_RULE_REMOTE_PORT] = "rule.remote_port_not_allowed",
    [WARD_RULE_PROTOCOL] = "rule.protocol_not_allowed",
    [WARD_RULE_BYTES_IN] = "rule.bytes_in",
    [WARD_RULE_BYTES_OUT] = "rule.bytes_out",
    [WARD_RULE_PACKETS_IN] = "rule.packets_in",
    [WARD_RULE_PACKETS_OUT] = "rule.packets_out",
    [WARD_RULE_DISTINCT_REMOTES] = "rule.distinct_remotes",
};

static const char *const kind_titles[WARD_RULE_KIND_COUNT_] = {
    [WARD_RULE_ACTIVE_CONNECTIONS] = "Number of active connections is not in the allowed range",
    [WARD_RULE_OUTBOUND_IP] = "Outbound connection to an IP that isn't allowed",
    [WARD_RULE_INBOUND_IP] = "Inbound connection from an IP that isn't allowed",
    [WARD_RULE_C2D_MESSAGES] = "Number of cloud to device messages is not in the allowed range",
    [WARD_RULE_D2C_MESSAGES] = "Number of device to cloud messages is not in the allowed range",
    [WARD_RULE_LISTENING_PORT] = "Listening on a port that isn't allowed",
    [WARD_RULE_REMOTE_PORT] = "Connection to a remote port that isn't allowed",
    [WARD_RULE_PROTOCOL] = "Traffic with a protocol that isn't allowed",
    [WARD_RULE_BYTES_IN] = "Bytes received are not in the allowed range",
    [WARD_RULE_BYTES_OUT] = "Bytes sent are not in the allowed range",
    [WARD_RULE_PACKETS_IN] = "Packets received are not in the allowed range",
    [WARD_RULE_PACKETS_OUT] = "Packets sent are not in the allowed range",
    [WARD_RULE_DISTINCT_REMOTES] =
        "Number of distinct remote addresses is not in the allowed range",
};

static const char *const op_names[] = {
    [WARD_OP_RANGE] = "range",
    [WARD_OP_LT] = "lt",
    [WARD_OP_LE] = "le",
    [WARD_OP_GT] = "gt",
    [WARD_OP_GE] = "ge",
    [WARD_OP_IN_CIDR_SET] = "in-cidr-set",
    [WARD_OP_NOT_IN_CIDR_SET] = "not-in-cidr-set",
    [WARD_OP_IN_PORT_SET] = "in-port-set",
    [WARD_OP_NOT_IN_PORT_SET] = "not-in-port-set",
    [WARD_OP_IN_SET] = "in-set",
    [WARD_OP_NOT_IN_SET] = "not-in-set",
};

static const char *const metric_names[WARD_METRIC_COUNT_] = {
    [WARD_METRIC_ACTIVE_CONNECTIONS] = "active_connections",
    [WARD_METRIC_DISTINCT_REMOTES] = "distinct_remotes",
    [WARD_METRIC_BYTES_IN] = "bytes_in",
    [WARD_METRIC_BYTES_OUT] = "bytes_out",
    [WARD_METRIC_PACKETS_IN] = "packets_in",
    [WARD_METRIC_PACKETS_OUT] = "packets_out",
};

const char *ward_rule_kind_name(ward_rule_kind_t k)
{
    return (unsigned)k < WARD_RULE_KIND_COUNT_ ? kind_names[k] : "rule.unknown";
}

bool ward_rule_kind_parse(const char *name, ward_rule_kind_t *out)
{
    for (int k = 0; k < WARD_RULE_KIND_COUNT_; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (ward_rule_kind_t)k;
            return true;
        }
    }
    return false;
}

const char *ward_rule_op_name(ward_rule_op_t op)
{
    return (unsigned)op < sizeof op_names / sizeof op_names[0] ? op_names[op] : "?";
}

const char *ward_metric_name(ward_metric_t m)
{
    return (unsigned)m < WARD_METRIC_COUNT_ ? metric_names[m] : "?";
}

typedef enum shape { SHAPE_RANGE, SHAPE_CIDR, SHAPE_PORT, SHAPE_PROTO } shape_t;

static shape_t kind_shape(ward_rule_kind_t k)
{
    switch (k) {
    case WARD_RULE_OUTBOUND_IP:
    case WARD_RULE_INBOUND_IP:
        return SHAPE_CIDR;
    case WARD_RULE_LISTENING_PORT:
    case WARD_RULE_REMOTE_PORT:
        return SHAPE_PORT;
    case WARD_RULE_PROTOCOL:
        return SHAPE_PROTO;
    default:
        return SHAPE_RANGE;
    }
}

/* ---- CIDRs ---------------------------------------------------------------------------------- */

bool ward_rule_cidr_parse(const char *s, ward_rule_cidr_t *out)
{
    ward_ip_t ip;
    uint8_t prefix;
    bool v4;
    if (!ward_ip_parse_cidr(s, &ip, &prefix, &v4))
        return false;
    memcpy(out->b, ip.b, 16);
    out->prefix = prefix;
    return true;
}

void ward_rule_cidr_format(const ward_rule_cidr_t *c, char *buf, size_t len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    ward_ip_t ip;
    memcpy(ip.b, c->b, 16);
    bool v4 = c->prefix >= 96 && memcmp(c->b, mapped, 12) == 0;
    char tmp[64];
    ward_ip_format_cidr(&ip, c->prefix, v4, tmp, sizeof tmp);
    /* Always show the prefix, also /32 and /128: a set of CIDRs reads better uniform. */
    if (strchr(tmp, '/') == NULL)
        snprintf(buf, len, "%s/%u", tmp, v4 ? c->prefix - 96u : c->prefix);
    else
        snprintf(buf, len, "%s", tmp);
}

bool ward_rule_cidr_contains(const ward_rule_cidr_t *c, const ward_addr_t *a)
{
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->b, a->b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->b[full] & mask) == (a->b[full] & mask);
}

static bool in_cidrs(const ward_rule_t *r, const ward_addr_t *a)
{
    for (size_t i = 0; i < r->n_cidrs; i++)
        if (ward_rule_cidr_contains(&r->cidrs[i], a))
            return true;
    return false;
}

static bool in_ports(const ward_rule_t *r, unsigned port)
{
    for (size_t i = 0; i < r->n_ports; i++)
        if (port >= r->ports[i].lo && port <= r->ports[i].hi)
            return true;
    return false;
}

/* ---- Parsing -------------------------------------------------------------------------------- */

static atomic_uint_fast64_t ruleset_gen;

typedef struct perr {
    char *buf;
    size_t len;
    size_t idx;
} perr_t;

/* "rules[3].max: must be >= min" (key may be NULL for the rule itself). Returns -1. */
static int fail(perr_t *e, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(perr_t *e, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (key != NULL)
        snprintf(e->buf, e->len, "rules[%zu].%s: %s", e->idx, key, msg);
    else
        snprintf(e->buf, e->len, "rules[%zu]: %s", e->idx, msg);
    return -1;
}

static bool id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > WARD_RULE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* An integer in [lo, hi]. */
static int get_int(perr_t *e, const json_t *v, const char *key, int64_t lo, int64_t hi,
                   int64_t *out)
{
    if (!json_is_integer(v))
        return fail(e, key, "must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(e, key, "must be between %" PRId64 " and %" PRId64 ", got %lld", lo, hi,
                    (long long)x);
    *out = x;
    return 0;
}

static bool key_allowed(const char *key, const char *const *keys)
{
    for (size_t i = 0; keys[i] != NULL; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

static int parse_port_value(perr_t *e, const json_t *v, size_t i, ward_rule_ports_t *out)
{
    char key[32];
    snprintf(key, sizeof key, "values[%zu]", i);
    if (json_is_integer(v)) {
        json_int_t p = json_integer_value(v);
        if (p < 0 || p > 65535)
            return fail(e, key, "a port is 0..65535, got %lld", (long long)p);
        out->lo = out->hi = (uint16_t)p;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long lo = strtol(s, &end, 10);
        if (end != s && *end == '\0' && errno == 0 && s[0] >= '0' && s[0] <= '9' && lo <= 65535) {
            out->lo = out->hi = (uint16_t)lo;
            return 0;
        }
        if (end != s && *end == '-' && errno == 0) {
            const char *s2 = end + 1;
            long hi = strtol(s2, &end, 10);
            if (end != s2 && *end == '\0' && errno == 0 && lo >= 0 && hi <= 65535 && lo <= hi &&
                s[0] >= '0' && s[0] <= '9' && s2[0] >= '0' && s2[0] <= '9') {
                out->lo = (uint16_t)lo;
                out->hi = (uint16_t)hi;
                return 0;
            }
        }
        return fail(e, key,
                    "\"%s\" is not a port or a port range \"LO-HI\" (0 <= LO <= HI <= 65535)", s);
    }
    return fail(e, key, "must be a port number or a \"LO-HI\" range");
}

static bool proto_by_name(const char *s, int *out)
{
    static const struct {
        const char *name;
        int num;
    } names[] = {{"icmp", 1}, {"tcp", 6}, {"udp", 17},    {"gre", 47},
                 {"esp", 50}, {"ah", 51}, {"icmpv6", 58}, {"sctp", 132}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].num;
            return true;
        }
    }
    return false;
}

static int parse_set(perr_t *e, const json_t *values, ward_rule_t *r, shape_t shape)
{
    if (!json_is_array(values))
        return fail(e, "values", "must be an array");
    size_t n = json_array_size(values);
    if (n > WARD_RULE_SET_MAX)
        return fail(e, "values", "at most %d entries, got %zu", WARD_RULE_SET_MAX, n);
    if (shape == SHAPE_CIDR && n > 0 && (r->cidrs = calloc(n, sizeof *r->cidrs)) == NULL)
        return fail(e, "values", "out of memory");
    if (shape == SHAPE_PORT && n > 0 && (r->ports = calloc(n, sizeof *r->ports)) == NULL)
        return fail(e, "values", "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(values, i);
        char key[32];
        snprintf(key, sizeof key, "values[%zu]", i);
        if (shape == SHAPE_CIDR) {
            if (!json_is_string(v) || !ward_rule_cidr_parse(json_string_value(v), &r->cidrs[i]))
                return fail(e, key, "%s%s%s is not an IPv4 or IPv6 address or CIDR",
                            json_is_string(v) ? "\"" : "",
                            json_is_string(v) ? json_string_value(v) : "the value",
                            json_is_string(v) ? "\"" : "");
            r->n_cidrs++;
        } else if (shape == SHAPE_PORT) {
            if (parse_port_value(e, v, i, &r->ports[i]) != 0)
                return -1;
            r->n_ports++;
        } else {
            int p = -1;
            if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 255)
                p = (int)json_integer_value(v);
            else if (json_is_string(v) && !proto_by_name(json_string_value(v), &p))
                p = -1;
            if (p < 0)
                return fail(e, key,
                            "a protocol is 0..255 or one of icmp, tcp, udp, gre, esp, ah, icmpv6, "
                            "sctp");
            r->protos[p] = true;
        }
    }
    return 0;
}

static int parse_rule(perr_t *e, const json_t *o, ward_rule_t *r)
{
    static const char *const common[] = {"type",        "id",          "enabled",     "severity",
                                         "alarm_after", "clear_after", "description", NULL};
    static const char *const range_keys[] = {"min", "max", "operator", "value", "window_s", NULL};
    static const char *const set_keys[] = {"operator", "values", NULL};
    static const char *const port_keys[] = {"operator", "values", "direction", NULL};
    if (!json_is_object(o))
        return fail(e, NULL, "must be an object");
    const json_t *type = json_object_get(o, "type");
    if (type == NULL)
        return fail(e, "type", "missing (one of rule.active_connections, rule.bytes_out, ...)");
    if (!json_is_string(type) || !ward_rule_kind_parse(json_string_value(type), &r->kind))
        return fail(e, "type", "unknown rule type %s%s%s (see docs/rules.md)",
                    json_is_string(type) ? "\"" : "",
                    json_is_string(type) ? json_string_value(type) : "(not a string)",
                    json_is_string(type) ? "\"" : "");
    shape_t shape = kind_shape(r->kind);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool ok = key_allowed(key, common) ||
                  (shape == SHAPE_RANGE && key_allowed(key, range_keys)) ||
                  ((shape == SHAPE_CIDR || shape == SHAPE_PROTO) && key_allowed(key, set_keys)) ||
                  (shape == SHAPE_PORT && r->kind == WARD_RULE_REMOTE_PORT &&
                   key_allowed(key, port_keys)) ||
                  (shape == SHAPE_PORT && key_allowed(key, set_keys));
        if (!ok)
            return fail(e, key, "unknown key for %s", kind_names[r->kind]);
    }
    v = json_object_get(o, "id");
    if (v != NULL && (!json_is_string(v) || !id_valid(json_string_value(v))))
        return fail(e, "id", "must be 1..%d of [A-Za-z0-9._-]", WARD_RULE_ID_MAX);
    snprintf(r->id, sizeof r->id, "%s", v ? json_string_value(v) : kind_names[r->kind]);
    r->enabled = true;
    if ((v = json_object_get(o, "enabled")) != NULL) {
        if (!json_is_boolean(v))
            return fail(e, "enabled", "must be true or false");
        r->enabled = json_is_true(v);
    }
    snprintf(r->severity, sizeof r->severity, "medium");
    if ((v = json_object_get(o, "severity")) != NULL) {
        const char *s = json_string_value(v);
        if (s == NULL || (strcmp(s, "low") != 0 && strcmp(s, "medium") != 0 &&
                          strcmp(s, "high") != 0 && strcmp(s, "critical") != 0))
            return fail(e, "severity", "must be one of low, medium, high, critical");
        snprintf(r->severity, sizeof r->severity, "%s", s);
    }
    if ((v = json_object_get(o, "description")) != NULL && !json_is_string(v))
        return fail(e, "description", "must be a string");
    int64_t x = 1;
    if ((v = json_object_get(o, "alarm_after")) != NULL &&
        get_int(e, v, "alarm_after", WARD_RULE_HYST_MIN, WARD_RULE_HYST_MAX, &x) != 0)
        return -1;
    r->alarm_after = (int)x;
    x = 1;
    if ((v = json_object_get(o, "clear_after")) != NULL &&
        get_int(e, v, "clear_after", WARD_RULE_HYST_MIN, WARD_RULE_HYST_MAX, &x) != 0)
        return -1;
    r->clear_after = (int)x;

    const json_t *opv = json_object_get(o, "operator");
    const char *op = NULL;
    if (opv != NULL && (op = json_string_value(opv)) == NULL)
        return fail(e, "operator", "must be a string");

    if (shape == SHAPE_RANGE) {
        const json_t *min = json_object_get(o, "min"), *max = json_object_get(o, "max");
        const json_t *value = json_object_get(o, "value");
        r->lo = 0;
        r->hi = INT64_MAX;
        if ((v = json_object_get(o, "window_s")) != NULL) {
            if (get_int(e, v, "window_s", 0, WARD_RULE_WINDOW_MAX, &x) != 0)
                return -1;
            r->window_s = (uint32_t)x;
        }
        if (op != NULL) {
            if (min != NULL || max != NULL)
                return fail(e, min ? "min" : "max",
                            "give either \"operator\" and \"value\", or \"min\" and/or \"max\"");
            if (strcmp(op, "lt") == 0)
                r->op = WARD_OP_LT;
            else if (strcmp(op, "le") == 0)
                r->op = WARD_OP_LE;
            else if (strcmp(op, "gt") == 0)
                r->op = WARD_OP_GT;
            else if (strcmp(op, "ge") == 0)
                r->op = WARD_OP_GE;
            else
                return fail(e, "operator", "must be one of lt, le, gt, ge for %s, got \"%s\"",
                            kind_names[r->kind], op);
            if (value == NULL)
                return fail(e, "value", "missing (operator %s needs a value)", op);
            if (get_int(e, value, "value", 0, WARD_RULE_VALUE_MAX, &x) != 0)
                return -1;
            if (r->op == WARD_OP_LT && x == 0)
                return fail(e, "value", "lt 0 can never hold (counts are never negative)");
            if (r->op == WARD_OP_LT)
                r->hi = x - 1;
            else if (r->op == WARD_OP_LE)
                r->hi = x;
            else if (r->op == WARD_OP_GT)
                r->lo = x + 1;
            else
                r->lo = x;
        } else {
            r->op = WARD_OP_RANGE;
            if (value != NULL)
                return fail(e, "value", "needs an \"operator\" (lt, le, gt or ge)");
            if (min == NULL && max == NULL)
                return fail(e, NULL,
                            "%s needs \"min\" and/or \"max\", or \"operator\" and \"value\"",
                            kind_names[r->kind]);
            if (min != NULL && get_int(e, min, "min", 0, WARD_RULE_VALUE_MAX, &r->lo) != 0)
                return -1;
            if (max != NULL && get_int(e, max, "max", 0, WARD_RULE_VALUE_MAX, &r->hi) != 0)
                return -1;
            if (r->hi < r->lo)
                return fail(e, "max", "must be >= min");
        }
        return 0;
    }

    /* Sets. */
    if (op == NULL)
        return fail(e, "operator", "missing (%s)",
                    shape == SHAPE_CIDR   ? "in-cidr-set or not-in-cidr-set"
                    : shape == SHAPE_PORT ? "in-port-set or not-in-port-set"
                                          : "in-set or not-in-set");
    const char *yes = shape == SHAPE_CIDR   ? "in-cidr-set"
                      : shape == SHAPE_PORT ? "in-port-set"
                                            : "in-set";
    const char *no = shape == SHAPE_CIDR   ? "not-in-cidr-set"
                     : shape == SHAPE_PORT ? "not-in-port-set"
                                           : "not-in-set";
    if (strcmp(op, yes) == 0)
        r->op = shape == SHAPE_CIDR   ? WARD_OP_IN_CIDR_SET
                : shape == SHAPE_PORT ? WARD_OP_IN_PORT_SET
                                      : WARD_OP_IN_SET;
    else if (strcmp(op, no) == 0)
        r->op = shape == SHAPE_CIDR   ? WARD_OP_NOT_IN_CIDR_SET
                : shape == SHAPE_PORT ? WARD_OP_NOT_IN_PORT_SET
                                      : WARD_OP_NOT_IN_SET;
    else
        return fail(e, "operator", "must be %s or %s for %s, got \"%s\"", yes, no,
                    kind_names[r->kind], op);
    const json_t *values = json_object_get(o, "values");
    if (values == NULL)
        return fail(e, "values", "missing (the set for %s)", op);
    if (parse_set(e, values, r, shape) != 0)
        return -1;
    r->direction = WARD_DIR_OUTBOUND;
    if ((v = json_object_get(o, "direction")) != NULL) {
        const char *d = json_string_value(v);
        if (d != NULL && strcmp(d, "outbound") == 0)
            r->direction = WARD_DIR_OUTBOUND;
        else if (d != NULL && strcmp(d, "inbound") == 0)
            r->direction = WARD_DIR_INBOUND;
        else if (d != NULL && strcmp(d, "any") == 0)
            r->direction = WARD_DIR_UNKNOWN;
        else
            return fail(e, "direction", "must be outbound, inbound or any");
    }
    return 0;
}

static void rule_clear(ward_rule_t *r)
{
    free(r->cidrs);
    free(r->ports);
    json_decref(r->json);
}

void ward_ruleset_free(ward_ruleset_t *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_clear(&rs->rules[i]);
    free(rs->rules);
    free(rs);
}

ward_ruleset_t *ward_ruleset_empty(void)
{
    ward_ruleset_t *rs = calloc(1, sizeof *rs);
    if (rs != NULL) {
        rs->invalidate_after = WARD_RULE_INVALIDATE_DEFAULT;
        rs->gen = atomic_fetch_add(&ruleset_gen, 1) + 1;
    }
    return rs;
}

ward_ruleset_t *ward_ruleset_parse(const json_t *rules, const json_t *invalidate_after, char *err,
                                   size_t errlen)
{
    ward_ruleset_t *rs = ward_ruleset_empty();
    if (rs == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (invalidate_after != NULL) {
        if (!json_is_integer(invalidate_after) || json_integer_value(invalidate_after) < 1 ||
            json_integer_value(invalidate_after) > WARD_RULE_INVALIDATE_MAX) {
            snprintf(err, errlen, "invalidate_after: must be an integer between 1 and %d",
                     WARD_RULE_INVALIDATE_MAX);
            ward_ruleset_free(rs);
            return NULL;
        }
        rs->invalidate_after = (uint32_t)json_integer_value(invalidate_after);
    }
    if (rules == NULL)
        return rs;
    if (!json_is_array(rules)) {
        snprintf(err, errlen, "rules: must be an array");
        ward_ruleset_free(rs);
        return NULL;
    }
    size_t n = json_array_size(rules);
    if (n > 1024) {
        snprintf(err, errlen, "rules: at most 1024 rules, got %zu", n);
        ward_ruleset_free(rs);
        return NULL;
    }
    rs->rules = n ? calloc(n, sizeof *rs->rules) : NULL;
    if (n && rs->rules == NULL) {
        snprintf(err, errlen, "out of memory");
        ward_ruleset_free(rs);
        return NULL;
    }
    perr_t e = {err, errlen, 0};
    for (size_t i = 0; i < n; i++) {
        e.idx = i;
        ward_rule_t *r = &rs->rules[i];
        rs->n = i + 1;
        if (parse_rule(&e, json_array_get(rules, i), r) != 0) {
            ward_ruleset_free(rs);
            return NULL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(rs->rules[j].id, r->id) == 0) {
                fail(&e, "id",
                     "duplicate rule id \"%s\" (rules[%zu] has it; give each rule of the same "
                     "type its own \"id\")",
                     r->id, j);
                ward_ruleset_free(rs);
                return NULL;
            }
        }
        r->json = json_deep_copy(json_array_get(rules, i));
        if (r->json == NULL) {
            snprintf(err, errlen, "out of memory");
            ward_ruleset_free(rs);
            return NULL;
        }
        json_object_set_new(r->json, "id", json_string(r->id));
        if (r->window_s > rs->max_window_s)
            rs->max_window_s = r->window_s;
        if (r->kind == WARD_RULE_ACTIVE_CONNECTIONS || r->kind == WARD_RULE_DISTINCT_REMOTES) {
            rs->distinct = true;
            if (r->window_s > 0)
                rs->distinct_windowed = true;
        }
    }
    return rs;
}

/* ---- Samples -------------------------------------------------------------------------------- */

static uint64_t conn_hash(const ward_flow_t *f)
{
    uint64_t h = ward_fnv1a(WARD_FNV_SEED, &f->proto, 1);
    h = ward_fnv1a(h, &f->local_port, 2);
    h = ward_fnv1a(h, f->remote_addr.b, 16);
    return ward_fnv1a(h, &f->remote_port_raw, 2);
}

static uint64_t remote_hash(const ward_flow_t *f)
{
    return ward_fnv1a(WARD_FNV_SEED, f->remote_addr.b, 16);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort h[0..n) and return how many distinct values it holds. */
static size_t distinct(uint64_t *h, size_t n)
{
    if (n == 0)
        return 0;
    if (n <= 32) { /* a report's worth: insertion sort, no calls */
        for (size_t i = 1; i < n; i++) {
            uint64_t v = h[i];
            size_t j = i;
            for (; j > 0 && h[j - 1] > v; j--)
                h[j] = h[j - 1];
            h[j] = v;
        }
    } else {
        qsort(h, n, sizeof *h, cmp_u64);
    }
    size_t d = 1;
    for (size_t i = 1; i < n; i++)
        if (h[i] != h[i - 1])
            h[d++] = h[i];
    return d;
}

/* Distinct hashes of the sample's flows (conn or remote): malloc'd, count in *n. */
static uint64_t *sample_hashes(const ward_sample_t *s, bool conn, size_t *n)
{
    *n = 0;
    if (s->n_flows == 0)
        return NULL;
    uint64_t *h = malloc(s->n_flows * sizeof *h);
    if (h == NULL)
        return NULL;
    for (size_t i = 0; i < s->n_flows; i++)
        h[i] = conn ? conn_hash(&s->flows[i]) : remote_hash(&s->flows[i]);
    *n = distinct(h, s->n_flows);
    return h;
}

/* The four sum metrics of a sample, in one pass, into sums[] (the distinct ones untouched). */
static void sample_sums(const ward_sample_t *s, uint64_t sums[WARD_METRIC_COUNT_])
{
    for (size_t i = 0; i < s->n_flows; i++) {
        const ward_flow_t *f = &s->flows[i];
        sums[WARD_METRIC_BYTES_IN] += f->bytes_in;
        sums[WARD_METRIC_BYTES_OUT] += f->bytes_out;
        sums[WARD_METRIC_PACKETS_IN] += f->packets_in;
        sums[WARD_METRIC_PACKETS_OUT] += f->packets_out;
    }
}

uint64_t ward_sample_metric(const ward_sample_t *s, ward_metric_t m)
{
    size_t n;
    uint64_t *h;
    switch (m) {
    case WARD_METRIC_ACTIVE_CONNECTIONS:
    case WARD_METRIC_DISTINCT_REMOTES:
        h = sample_hashes(s, m == WARD_METRIC_ACTIVE_CONNECTIONS, &n);
        free(h);
        return n;
    default:
        break;
    }
    uint64_t sums[WARD_METRIC_COUNT_] = {0};
    sample_sums(s, sums);
    return sums[m];
}

static void sample_reset(ward_sample_t *s)
{
    if (!s->borrowed) {
        free(s->flows);
        free(s->listening);
    }
    memset(s, 0, sizeof *s);
}

/* A report in one part whose flows the caller built (process.c) is evaluated where it lies: the
 * sample borrows its flows and listening sockets until finish, which runs before
 * ward_rules_report returns. No copy, no allocation. */
static void sample_borrow(ward_sample_t *s, const ward_wire_report_t *r, const ward_flow_t *flows)
{
    s->borrowed = true;
    s->flows = (ward_flow_t *)(uintptr_t)flows;
    s->n_flows = s->cap_flows = r->n_flows;
    s->listening = r->listening;
    s->n_listening = s->cap_listening = r->n_listening;
}

static void sample_counters(ward_sample_t *s, const ward_wire_report_t *r)
{
    /* Key 19 states everything that listens (even nothing); a report without it says nothing
     * about listening sockets: no datapoint for the listening rule. */
    if (r->has_listening)
        s->has_listening = true;
    for (size_t i = 0; i < r->n_counters; i++) {
        if (r->counters[i].key == WARD_CTR_MSGS_SENT) {
            s->msgs_sent = r->counters[i].value;
            s->has_counters = true;
        } else if (r->counters[i].key == WARD_CTR_MSGS_RECEIVED) {
            s->msgs_received = r->counters[i].value;
            s->has_counters = true;
        }
    }
    if (r->has_interval)
        s->interval_s = r->interval;
    s->parts++;
}

static int sample_add(ward_sample_t *s, const char *device, const ward_wire_report_t *r,
                      const ward_flow_t *flows, int64_t now_ms)
{
    if (s->parts == 0 && r->part_count <= 1 && flows != NULL) {
        sample_borrow(s, r, flows);
        sample_counters(s, r);
        return 0;
    }
    if (s->n_flows + r->n_flows > s->cap_flows) {
        size_t cap = s->n_flows + r->n_flows + 16;
        ward_flow_t *n = realloc(s->flows, cap * sizeof *n);
        if (n == NULL)
            return -1;
        s->flows = n;
        s->cap_flows = cap;
    }
    if (s->n_listening + r->n_listening > s->cap_listening) {
        size_t cap = s->n_listening + r->n_listening + 8;
        ward_wire_listen_t *n = realloc(s->listening, cap * sizeof *n);
        if (n == NULL)
            return -1;
        s->listening = n;
        s->cap_listening = cap;
    }
    if (flows != NULL) { /* already built by the caller (process.c's decoder thread) */
        if (r->n_flows > 0)
            memcpy(&s->flows[s->n_flows], flows, r->n_flows * sizeof *flows);
        s->n_flows += r->n_flows;
    } else {
        /* Absolute times as process.c computes them (flow.h). */
        int64_t base = ward_flow_time_base(r, now_ms);
        for (size_t i = 0; i < r->n_flows; i++)
            ward_flow_from_wire(&s->flows[s->n_flows++], r, i, device, base);
    }
    for (size_t i = 0; i < r->n_listening; i++)
        s->listening[s->n_listening++] = r->listening[i];
    sample_counters(s, r);
    return 0;
}

/* ---- Device state ------------------------------------------------------------------------- */

typedef enum alarm { A_OK, A_IN_ALARM, A_CLEARED, A_INVALIDATED } alarm_t;

static const char *const alarm_names[] = {"ok", "in_alarm", "cleared", "invalidated"};

typedef struct rule_state {
    char id[WARD_RULE_ID_MAX + 1];
    ward_rule_kind_t kind;
    char severity[16];
    int bad, good;
    alarm_t alarm;
} rule_state_t;

typedef struct hist {
    int64_t t_ms;
    uint64_t metric[WARD_METRIC_COUNT_];
    bool has_msgs;
    uint64_t c2d, d2c;
    uint64_t *conn, *remote; /* distinct hashes, when a windowed distinct rule needs them */
    size_t n_conn, n_remote;
} hist_t;

struct ward_rules_device {
    char device[WARD_DEVICE_ID_MAX + 1];
    ward_sample_t cur; /* the report being gathered (cur.parts > 0) */
    int64_t cur_first_ms;

    uint64_t bound_gen; /* the ruleset the states below belong to */
    bool bound;
    rule_state_t *st;
    size_t n_st;

    hist_t *hist; /* oldest first */
    size_t n_hist, cap_hist;

    bool have_ctr;
    uint32_t ctr_boot;
    uint64_t ctr_sent, ctr_received;

    int64_t last_ms, prev_ms;
    uint32_t interval_s;
};

ward_rules_device_t *ward_rules_device_new(const char *device)
{
    ward_rules_device_t *d = calloc(1, sizeof *d);
    if (d != NULL)
        snprintf(d->device, sizeof d->device, "%s", device);
    return d;
}

static void hist_clear(hist_t *h)
{
    free(h->conn);
    free(h->remote);
}

void ward_rules_device_free(ward_rules_device_t *d)
{
    if (d == NULL)
        return;
    sample_reset(&d->cur);
    for (size_t i = 0; i < d->n_hist; i++)
        hist_clear(&d->hist[i]);
    free(d->hist);
    free(d->st);
    free(d);
}

int64_t ward_rules_last_report(const ward_rules_device_t *d)
{
    return d->last_ms;
}

const char *ward_rules_state(const ward_rules_device_t *d, const char *rule_id)
{
    for (size_t i = 0; i < d->n_st; i++)
        if (strcmp(d->st[i].id, rule_id) == 0)
            return alarm_names[d->st[i].alarm];
    return "ok";
}

static int emit(const ward_rules_ctx_t *cx, const ward_rules_device_t *d, ward_event_action_t act,
                const rule_state_t *st, json_t *evidence, int64_t t_ms)
{
    ward_event_t ev = {
        act, kind_names[st->kind], st->id, st->severity, kind_titles[st->kind], evidence, t_ms};
    int rc = cx->emit ? cx->emit(cx->emit_ctx, d->device, &ev) : 0;
    json_decref(evidence);
    return rc;
}

static json_t *base_evidence(const ward_rules_ctx_t *cx, const ward_rule_t *r, const char *alarm)
{
    json_t *ev = json_object();
    json_object_set_new(ev, "group", json_string(cx->group ? cx->group : "default"));
    json_object_set_new(ev, "rule_id", json_string(r->id));
    json_object_set(ev, "rule", r->json);
    json_object_set_new(ev, "alarm", json_string(alarm));
    return ev;
}

/* Bind the device's rule states to ruleset rs, carrying alarm states over by rule id. Alarms of
 * rules that are gone or disabled are resolved. */
static int bind(ward_rules_device_t *d, const ward_rules_ctx_t *cx, int64_t now_ms)
{
    const ward_ruleset_t *rs = cx->rules;
    rule_state_t *st = rs->n ? calloc(rs->n, sizeof *st) : NULL;
    if (rs->n && st == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < rs->n; i++) {
        const ward_rule_t *r = &rs->rules[i];
        snprintf(st[i].id, sizeof st[i].id, "%s", r->id);
        st[i].kind = r->kind;
        snprintf(st[i].severity, sizeof st[i].severity, "%s", r->severity);
        for (size_t j = 0; j < d->n_st; j++) {
            if (strcmp(d->st[j].id, r->id) == 0 && d->st[j].kind == r->kind && r->enabled) {
                st[i].alarm = d->st[j].alarm;
                st[i].bad = d->st[j].bad;
                st[i].good = d->st[j].good;
                d->st[j].kind = WARD_RULE_KIND_COUNT_; /* taken */
            }
        }
    }
    for (size_t j = 0; rc == 0 && j < d->n_st; j++) {
        rule_state_t *o = &d->st[j];
        if (o->kind == WARD_RULE_KIND_COUNT_ ||
            (o->alarm != A_IN_ALARM && o->alarm != A_INVALIDATED))
            continue;
        json_t *ev = json_object();
        json_object_set_new(ev, "alarm", json_string("cleared"));
        json_object_set_new(ev, "cleared_because",
                            json_string("the rule was removed, disabled, or the device changed "
                                        "group"));
        rc = emit(cx, d, WARD_EVENT_RESOLVE, o, ev, now_ms);
    }
    free(d->st);
    d->st = st;
    d->n_st = rs->n;
    d->bound = true;
    return rc;
}

static int ensure_bound(ward_rules_device_t *d, const ward_rules_ctx_t *cx, int64_t now_ms);

void ward_rules_restore_alarm(ward_rules_device_t *d, const ward_rules_ctx_t *cx,
                              const char *rule_id)
{
    if (ensure_bound(d, cx, 0) != 0)
        return;
    for (size_t i = 0; i < d->n_st; i++)
        if (strcmp(d->st[i].id, rule_id) == 0)
            d->st[i].alarm = A_IN_ALARM;
}

/* ---- Evaluation ----------------------------------------------------------------------------- */

static ward_metric_t range_metric(ward_rule_kind_t k)
{
    switch (k) {
    case WARD_RULE_ACTIVE_CONNECTIONS:
        return WARD_METRIC_ACTIVE_CONNECTIONS;
    case WARD_RULE_DISTINCT_REMOTES:
        return WARD_METRIC_DISTINCT_REMOTES;
    case WARD_RULE_BYTES_IN:
        return WARD_METRIC_BYTES_IN;
    case WARD_RULE_BYTES_OUT:
        return WARD_METRIC_BYTES_OUT;
    case WARD_RULE_PACKETS_IN:
        return WARD_METRIC_PACKETS_IN;
    default:
        return WARD_METRIC_PACKETS_OUT;
    }
}

/* Value of a range rule over its window ending with the newest history entry. *has = false when
 * no datapoint in the window has data for it (messages without counters). */
static uint64_t window_value(const ward_rules_device_t *d, const ward_rule_t *r, bool *has)
{
    const hist_t *last = &d->hist[d->n_hist - 1];
    int64_t from = r->window_s ? last->t_ms - (int64_t)r->window_s * 1000 : last->t_ms;
    bool msgs = r->kind == WARD_RULE_C2D_MESSAGES || r->kind == WARD_RULE_D2C_MESSAGES;
    bool dist = r->kind == WARD_RULE_ACTIVE_CONNECTIONS || r->kind == WARD_RULE_DISTINCT_REMOTES;
    *has = !msgs || last->has_msgs;
    if (msgs && !last->has_msgs)
        return 0; /* no datapoint in this report */
    if (r->window_s == 0 || d->n_hist == 1) {
        if (msgs)
            return r->kind == WARD_RULE_C2D_MESSAGES ? last->c2d : last->d2c;
        return last->metric[range_metric(r->kind)];
    }
    if (dist) {
        bool conn = r->kind == WARD_RULE_ACTIVE_CONNECTIONS;
        size_t total = 0;
        for (size_t i = 0; i < d->n_hist; i++)
            if (d->hist[i].t_ms > from || &d->hist[i] == last)
                total += conn ? d->hist[i].n_conn : d->hist[i].n_remote;
        uint64_t *all = total ? malloc(total * sizeof *all) : NULL;
        if (all == NULL) /* nothing seen, or no memory: fall back on the newest report */
            return last->metric[range_metric(r->kind)];
        size_t k = 0;
        for (size_t i = 0; i < d->n_hist; i++) {
            const hist_t *h = &d->hist[i];
            if (h->t_ms <= from && h != last)
                continue;
            memcpy(all + k, conn ? h->conn : h->remote,
                   (conn ? h->n_conn : h->n_remote) * sizeof *all);
            k += conn ? h->n_conn : h->n_remote;
        }
        uint64_t v = distinct(all, k);
        free(all);
        return v;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < d->n_hist; i++) {
        const hist_t *h = &d->hist[i];
        if (h->t_ms <= from && h != last)
            continue;
        if (msgs)
            v += !h->has_msgs ? 0 : r->kind == WARD_RULE_C2D_MESSAGES ? h->c2d : h->d2c;
        else
            v += h->metric[range_metric(r->kind)];
    }
    return v;
}

static json_t *listen_json(const ward_wire_listen_t *l)
{
    char pb[8], ab[WARD_ADDR_STRLEN];
    ward_addr_format(&l->addr, ab, sizeof ab);
    return json_pack("{s:s,s:s,s:i}", "protocol", ward_wire_proto_name(l->proto, pb, sizeof pb),
                     "local_addr", ab, "port", (int)l->port);
}

/* Does a flow violate a set rule? */
static bool flow_violates(const ward_rule_t *r, const ward_flow_t *f)
{
    switch (r->kind) {
    case WARD_RULE_OUTBOUND_IP:
    case WARD_RULE_INBOUND_IP: {
        unsigned dir = r->kind == WARD_RULE_OUTBOUND_IP ? WARD_DIR_OUTBOUND : WARD_DIR_INBOUND;
        if (f->initiator != dir)
            return false;
        bool in = in_cidrs(r, &f->remote_addr);
        return r->op == WARD_OP_IN_CIDR_SET ? !in : in;
    }
    case WARD_RULE_REMOTE_PORT: {
        if (ward_wire_proto_is_icmp(f->proto) || (f->proto != 6 && f->proto != 17))
            return false;
        if (r->direction != WARD_DIR_UNKNOWN && f->initiator != r->direction)
            return false;
        bool in = in_ports(r, f->remote_port_raw);
        return r->op == WARD_OP_IN_PORT_SET ? !in : in;
    }
    case WARD_RULE_PROTOCOL: {
        bool in = r->protos[f->proto];
        return r->op == WARD_OP_IN_SET ? !in : in;
    }
    default:
        return false;
    }
}

/* Evaluate rule r on the newest datapoint. Returns 1 violated, 0 fine, -1 no data; *evidence gets
 * the evidence of a violation (new reference). */
static int evaluate(const ward_rules_device_t *d, const ward_rules_ctx_t *cx, const ward_rule_t *r,
                    const ward_sample_t *s, json_t **evidence)
{
    *evidence = NULL;
    shape_t shape = kind_shape(r->kind);
    if (shape == SHAPE_RANGE) {
        bool has;
        uint64_t v = window_value(d, r, &has);
        if (!has)
            return -1;
        bool bad = (int64_t)v < r->lo || (r->hi != INT64_MAX && v > (uint64_t)r->hi);
        if (!bad)
            return 0;
        json_t *ev = base_evidence(cx, r, "in_alarm");
        json_object_set_new(ev, "observed", json_integer((json_int_t)v));
        json_t *allowed = json_object();
        json_object_set_new(allowed, "min", json_integer(r->lo));
        json_object_set_new(allowed, "max", r->hi == INT64_MAX ? json_null() : json_integer(r->hi));
        json_object_set_new(ev, "allowed", allowed);
        json_object_set_new(ev, "window_s", json_integer(r->window_s));
        *evidence = ev;
        return 1;
    }
    if (r->kind == WARD_RULE_LISTENING_PORT) {
        if (!s->has_listening)
            return -1;
        json_t *offending = json_array();
        for (size_t i = 0; i < s->n_listening; i++) {
            bool in = in_ports(r, s->listening[i].port);
            if (r->op == WARD_OP_IN_PORT_SET ? !in : in)
                json_array_append_new(offending, listen_json(&s->listening[i]));
        }
        if (json_array_size(offending) == 0) {
            json_decref(offending);
            return 0;
        }
        json_t *ev = base_evidence(cx, r, "in_alarm");
        json_object_set_new(ev, "observed", json_integer((json_int_t)json_array_size(offending)));
        json_object_set_new(ev, "listening", offending);
        *evidence = ev;
        return 1;
    }
    json_t *flows = NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->n_flows; i++) {
        if (!flow_violates(r, &s->flows[i]))
            continue;
        if (n++ < WARD_RULE_EVIDENCE_FLOWS) {
            if (flows == NULL)
                flows = json_array();
            json_t *fo = json_object();
            ward_flow_json_fields(&s->flows[i], fo, "direction");
            json_array_append_new(flows, fo);
        }
    }
    if (n == 0)
        return 0;
    json_t *ev = base_evidence(cx, r, "in_alarm");
    json_object_set_new(ev, "observed", json_integer((json_int_t)n));
    json_object_set_new(ev, "flows", flows);
    *evidence = ev;
    return 1;
}

static int push_history(ward_rules_device_t *d, const ward_rules_ctx_t *cx, const ward_sample_t *s)
{
    /* Drop what no window reaches any more (the newest entry is always kept). */
    int64_t keep_from = s->t_ms - (int64_t)cx->rules->max_window_s * 1000;
    size_t drop = 0;
    while (drop < d->n_hist && (d->hist[drop].t_ms <= keep_from || d->n_hist - drop >= HISTORY_MAX))
        hist_clear(&d->hist[drop++]);
    if (drop > 0) {
        memmove(d->hist, d->hist + drop, (d->n_hist - drop) * sizeof *d->hist);
        d->n_hist -= drop;
    }
    if (!WARD_GROW(d->hist, d->n_hist, d->cap_hist, 8))
        return -1;
    hist_t *h = &d->hist[d->n_hist];
    memset(h, 0, sizeof *h);
    h->t_ms = s->t_ms;
    sample_sums(s, h->metric);
    /* The distinct connections and remotes, hashed and sorted once, only for a ruleset with a
     * rule on them: their counts are two of the metrics, and the hashes themselves are kept when
     * a windowed rule needs them. (After a ruleset that had none, older datapoints count 0 in
     * such a rule's window until they age out of it.) */
    if (cx->rules->distinct) {
        h->conn = sample_hashes(s, true, &h->n_conn);
        h->remote = sample_hashes(s, false, &h->n_remote);
        h->metric[WARD_METRIC_ACTIVE_CONNECTIONS] = h->n_conn;
        h->metric[WARD_METRIC_DISTINCT_REMOTES] = h->n_remote;
        if (!cx->rules->distinct_windowed) {
            free(h->conn);
            free(h->remote);
            h->conn = h->remote = NULL;
            h->n_conn = h->n_remote = 0;
        }
    }
    /* Counters are totals since boot: the datapoint is the difference to the previous report of
     * the same boot. After a reboot it is the total (counted from the boot); with no earlier
     * report known (first report seen, not the first of its boot) there is no datapoint yet. */
    if (s->has_counters) {
        bool same_boot = d->have_ctr && d->ctr_boot == s->boot_id;
        if (same_boot && s->msgs_sent >= d->ctr_sent && s->msgs_received >= d->ctr_received) {
            h->d2c = s->msgs_sent - d->ctr_sent;
            h->c2d = s->msgs_received - d->ctr_received;
            h->has_msgs = true;
        } else if ((d->have_ctr && !same_boot) || s->seq == 0 || same_boot) {
            /* a reboot, the first report of a boot, or counters that went back (a reset) */
            h->d2c = s->msgs_sent;
            h->c2d = s->msgs_received;
            h->has_msgs = true;
        }
        d->have_ctr = true;
        d->ctr_boot = s->boot_id;
        d->ctr_sent = s->msgs_sent;
        d->ctr_received = s->msgs_received;
    }
    d->n_hist++;
    return 0;
}

/* Evaluate the gathered sample d->cur and reset it. */
static int finish(ward_rules_device_t *d, const ward_rules_ctx_t *cx)
{
    ward_sample_t *s = &d->cur;
    int rc = push_history(d, cx, s);
    for (size_t i = 0; rc == 0 && i < cx->rules->n; i++) {
        const ward_rule_t *r = &cx->rules->rules[i];
        rule_state_t *st = &d->st[i];
        if (!r->enabled)
            continue;
        json_t *ev = NULL;
        int v = evaluate(d, cx, r, s, &ev);
        if (v < 0)
            continue;
        if (v == 1) {
            st->good = 0;
            st->bad++;
            if (st->alarm == A_IN_ALARM || st->bad >= r->alarm_after) {
                st->alarm = A_IN_ALARM;
                json_object_set_new(ev, "datapoints", json_integer(st->bad));
                json_object_set_new(ev, "boot_id", json_integer(s->boot_id));
                json_object_set_new(ev, "seq", json_integer((json_int_t)s->seq));
                rc = emit(cx, d, WARD_EVENT_RAISE, st, ev, s->t_ms);
            } else {
                json_decref(ev);
            }
        } else {
            st->bad = 0;
            if (st->alarm == A_IN_ALARM || st->alarm == A_INVALIDATED) {
                if (++st->good >= r->clear_after) {
                    st->alarm = A_CLEARED;
                    st->good = 0;
                    json_t *e = json_object();
                    json_object_set_new(e, "alarm", json_string("cleared"));
                    json_object_set_new(e, "clear_datapoints", json_integer(r->clear_after));
                    rc = emit(cx, d, WARD_EVENT_RESOLVE, st, e, s->t_ms);
                }
            }
        }
    }
    if (rc == 0 && cx->baseline != NULL)
        rc = ward_baseline_sample(cx->baseline, cx->group, d->device, s, cx->emit, cx->emit_ctx);
    if (d->last_ms > 0 && s->t_ms > d->last_ms)
        d->prev_ms = d->last_ms;
    if (s->t_ms > d->last_ms)
        d->last_ms = s->t_ms;
    if (s->interval_s > 0)
        d->interval_s = s->interval_s;
    sample_reset(s);
    return rc;
}

static int ensure_bound(ward_rules_device_t *d, const ward_rules_ctx_t *cx, int64_t now_ms)
{
    /* By generation, not by address: a reloaded ruleset may reuse a freed one's address. */
    uint64_t gen = cx->rules->gen;
    if (d->bound && d->bound_gen == gen)
        return 0;
    d->bound_gen = gen;
    return bind(d, cx, now_ms);
}

int ward_rules_report(ward_rules_device_t *d, const ward_rules_ctx_t *cx,
                      const ward_wire_report_t *r, const ward_flow_t *flows, int64_t now_ms)
{
    int rc = ensure_bound(d, cx, now_ms);
    if (rc != 0)
        return rc;
    if (d->cur.parts > 0 && (d->cur.boot_id != r->boot_id || d->cur.seq != r->seq)) {
        if ((rc = finish(d, cx)) != 0)
            return rc;
    }
    if (d->cur.parts == 0) {
        d->cur.boot_id = r->boot_id;
        d->cur.seq = r->seq;
        d->cur.part_count = r->part_count ? r->part_count : 1;
        d->cur.t_ms = now_ms;
        d->cur_first_ms = now_ms;
    }
    if (sample_add(&d->cur, d->device, r, flows, now_ms) != 0) {
        sample_reset(&d->cur);
        return -1;
    }
    if (now_ms > d->cur.t_ms)
        d->cur.t_ms = now_ms;
    if (d->cur.parts >= d->cur.part_count)
        return finish(d, cx);
    return 0;
}

int ward_rules_tick(ward_rules_device_t *d, const ward_rules_ctx_t *cx, int64_t now_ms)
{
    int rc = ensure_bound(d, cx, now_ms);
    if (rc != 0)
        return rc;
    int64_t interval_ms = (int64_t)(d->interval_s ? d->interval_s
                                    : d->prev_ms > 0 && d->last_ms > d->prev_ms
                                        ? (uint32_t)((d->last_ms - d->prev_ms + 999) / 1000)
                                        : WARD_RULE_INTERVAL_DEFAULT) *
                          1000;
    if (d->cur.parts > 0 && now_ms - d->cur_first_ms > interval_ms) {
        if ((rc = finish(d, cx)) != 0)
            return rc;
    }
    if (d->last_ms == 0 ||
        now_ms - d->last_ms <= (int64_t)cx->rules->invalidate_after * interval_ms)
        return 0;
    for (size_t i = 0; rc == 0 && i < d->n_st; i++) {
        rule_state_t *st = &d->st[i];
        if (st->alarm != A_IN_ALARM)
            continue;
        st->alarm = A_INVALIDATED;
        st->bad = st->good = 0;
        char t[WARD_TIME_STRLEN];
        json_t *e = json_object();
        json_object_set_new(e, "alarm", json_string("invalidated"));
        json_object_set_new(e, "invalidated_because",
                            json_pack("{s:s,s:i,s:i}", "last_report",
                                      ward_time_iso(d->last_ms, t, sizeof t), "silent_intervals",
                                      (int)cx->rules->invalidate_after, "interval_s",
                                      (int)(interval_ms / 1000)));
        rc = emit(cx, d, WARD_EVENT_INVALIDATE, st, e, now_ms);
    }
    return rc;
}
