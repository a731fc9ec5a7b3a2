/*
 * behavior: the detectors of behavior.h, their config table and per-device state.
 *
 * Per-device state lives in a chained hash table keyed by device id. Each detector keeps a few
 * bounded arrays of window entries (a remote and the ports it touched, a remote port and the
 * hosts contacted, a local port and its half-open SYNs, ...). An entry's window starts with the
 * first report that creates it; once window_s has passed since then the entry starts over. When
 * an entry crosses its threshold the alert is raised and the entry starts over, so a scan that
 * goes on raises again after another threshold's worth and is folded into the same alert
 * (count grows). Entries past their window are pruned on every report of the device, and each
 * array has a fixed maximum (the oldest entry is dropped to make room), so memory per device is
 * bounded whatever the device reports.
 *
 * Every count from a report is untrusted: additions saturate, sets are capped.
 */
#include "behavior.h"
#include "fnv.h"
#include "grow.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "store.h"

/* Bounds of per-device state. */
#define SCAN_ENTRIES_MAX 256  /* remotes tracked for port scans */
#define BRUTE_ENTRIES_MAX 256 /* (remote, local port) pairs tracked for brute force */
#define SWEEP_ENTRIES_MAX 64  /* remote ports tracked for host sweeps */
#define FLOOD_ENTRIES_MAX 64  /* local ports tracked for SYN floods */
#define REMOTES_MAX 64        /* distinct remotes remembered per flood entry (evidence) */
#define SAMPLE_MAX 20         /* ports / hosts listed in evidence */
#define SET_HARD_MAX 65536    /* largest set, whatever the threshold */
#define SET_MIN_MAX 1024      /* sets hold at least this many (evidence beyond the threshold) */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* ---- Config ------------------------------------------------------------------------------- */

void ward_behavior_config_defaults(ward_behavior_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->port_scan.enabled = true;
    c->port_scan.min_ports = 20;
    c->port_scan.window_s = 300;
    c->host_sweep.enabled = true;
    c->host_sweep.min_hosts = 20;
    c->host_sweep.window_s = 300;
    c->syn_flood.enabled = true;
    c->syn_flood.min_syns = 200;
    c->syn_flood.window_s = 60;
    c->icmp_flood.enabled = true;
    c->icmp_flood.min_packets = 600;
    c->icmp_flood.window_s = 60;
    c->brute_force.enabled = true;
    c->brute_force.min_connections = 20;
    c->brute_force.max_duration_s = 10;
    c->brute_force.window_s = 300;
    c->exfiltration.enabled = true;
    c->exfiltration.k_sigma = 4.0;
    c->exfiltration.min_bytes = 1048576;
    c->exfiltration.min_history = 10;
    c->exfiltration.alpha = 0.1;
    c->silent.enabled = true;
    c->silent.missed_intervals = 3;
    c->silent.default_interval_s = 60;
    c->replay.enabled = true;
}

typedef enum { K_BOOL, K_U32, K_U64, K_DBL } kind_t;

typedef struct param {
    const char *det, *key;
    kind_t kind;
    size_t off;
    double min, max;
} param_t;

#define P(det, key, kind, min, max)                                                                \
    {                                                                                              \
#det, #key, kind, offsetof(ward_behavior_config_t, det.key), min, max                      \
    }

/* The one table that drives parsing, validation, the JSON form and docs/alerts.md. */
static const param_t params[] = {
    P(port_scan, enabled, K_BOOL, 0, 1),
    P(port_scan, min_ports, K_U32, 2, 65535),
    P(port_scan, window_s, K_U32, 1, 86400),
    P(host_sweep, enabled, K_BOOL, 0, 1),
    P(host_sweep, min_hosts, K_U32, 2, 65535),
    P(host_sweep, window_s, K_U32, 1, 86400),
    P(syn_flood, enabled, K_BOOL, 0, 1),
    P(syn_flood, min_syns, K_U32, 2, 100000000),
    P(syn_flood, window_s, K_U32, 1, 86400),
    P(icmp_flood, enabled, K_BOOL, 0, 1),
    P(icmp_flood, min_packets, K_U32, 2, 100000000),
    P(icmp_flood, window_s, K_U32, 1, 86400),
    P(brute_force, enabled, K_BOOL, 0, 1),
    P(brute_force, min_connections, K_U32, 2, 1000000),
    P(brute_force, max_duration_s, K_U32, 0, 3600),
    P(brute_force, window_s, K_U32, 1, 86400),
    P(exfiltration, enabled, K_BOOL, 0, 1),
    P(exfiltration, k_sigma, K_DBL, 0.5, 100),
    P(exfiltration, min_bytes, K_U64, 1, 9007199254740992.0),
    P(exfiltration, min_history, K_U32, 1, 100000),
    P(exfiltration, alpha, K_DBL, 0.001, 1),
    P(silent, enabled, K_BOOL, 0, 1),
    P(silent, missed_intervals, K_U32, 1, 1000),
    P(silent, default_interval_s, K_U32, 1, 86400),
    P(replay, enabled, K_BOOL, 0, 1),
};
#define N_PARAMS (sizeof params / sizeof params[0])

static const char *const detectors[] = {"port_scan",   "host_sweep",   "syn_flood", "icmp_flood",
                                        "brute_force", "exfiltration", "silent",    "replay"};
#define N_DETECTORS (sizeof detectors / sizeof detectors[0])

static const param_t *find_param(const char *det, const char *key)
{
    for (size_t i = 0; i < N_PARAMS; i++)
        if (strcmp(params[i].det, det) == 0 && strcmp(params[i].key, key) == 0)
            return &params[i];
    return NULL;
}

static void fmt_num(double v, char *buf, size_t len)
{
    if (v == floor(v) && fabs(v) < 1e16)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%g", v);
}

static ward_status_t set_param(const param_t *p, const json_t *v, ward_behavior_config_t *c,
                               char *err, size_t errlen)
{
    char *field = (char *)c + p->off;
    char lo[32], hi[32];
    fmt_num(p->min, lo, sizeof lo);
    fmt_num(p->max, hi, sizeof hi);
    if (p->kind == K_BOOL) {
        if (!json_is_boolean(v)) {
            snprintf(err, errlen, "detectors.%s.%s: must be true or false", p->det, p->key);
            return WARD_E_MALFORMED;
        }
        *(bool *)field = json_is_true(v);
        return WARD_OK;
    }
    if (p->kind == K_DBL) {
        if (!json_is_number(v)) {
            snprintf(err, errlen, "detectors.%s.%s: must be a number %s..%s", p->det, p->key, lo,
                     hi);
            return WARD_E_MALFORMED;
        }
        double d = json_number_value(v);
        if (!(d >= p->min && d <= p->max)) {
            snprintf(err, errlen, "detectors.%s.%s: must be %s..%s", p->det, p->key, lo, hi);
            return WARD_E_RANGE;
        }
        *(double *)field = d;
        return WARD_OK;
    }
    if (!json_is_integer(v)) {
        snprintf(err, errlen, "detectors.%s.%s: must be an integer %s..%s", p->det, p->key, lo, hi);
        return WARD_E_MALFORMED;
    }
    json_int_t i = json_integer_value(v);
    if ((double)i < p->min || (double)i > p->max) {
        snprintf(err, errlen, "detectors.%s.%s: must be %s..%s", p->det, p->key, lo, hi);
        return WARD_E_RANGE;
    }
    if (p->kind == K_U32)
        *(uint32_t *)field = (uint32_t)i;
    else
        *(uint64_t *)field = (uint64_t)i;
    return WARD_OK;
}

static ward_status_t parse_detector(const char *det, const json_t *v, ward_behavior_config_t *c,
                                    char *err, size_t errlen)
{
    if (json_is_boolean(v))
        return set_param(find_param(det, "enabled"), v, c, err, errlen);
    if (!json_is_object(v)) {
        snprintf(err, errlen, "detectors.%s: must be an object of thresholds or a bool", det);
        return WARD_E_MALFORMED;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        const param_t *p = find_param(det, key);
        if (p == NULL) {
            char known[256];
            size_t n = 0;
            known[0] = '\0';
            for (size_t i = 0; i < N_PARAMS && n < sizeof known; i++)
                if (strcmp(params[i].det, det) == 0)
                    n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "",
                                          params[i].key);
            snprintf(err, errlen, "detectors.%s: unknown key \"%.64s\" (known: %s)", det, key,
                     known);
            return WARD_E_MALFORMED;
        }
        ward_status_t st = set_param(p, val, c, err, errlen);
        if (st != WARD_OK)
            return st;
    }
    return WARD_OK;
}

ward_status_t ward_behavior_config_parse(const json_t *detectors_obj, ward_behavior_config_t *out,
                                         char *err, size_t errlen)
{
    ward_behavior_config_t c;
    ward_behavior_config_defaults(&c);
    ward_behavior_config_defaults(out);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    char dummy[8];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (detectors_obj == NULL || json_is_null(detectors_obj))
        return WARD_OK;
    if (!json_is_object(detectors_obj)) {
        snprintf(err, errlen, "detectors: must be an object");
        return WARD_E_MALFORMED;
    }
    const char *name;
    json_t *val;
    json_object_foreach((json_t *)detectors_obj, name, val)
    {
        size_t d = 0;
        while (d < N_DETECTORS && strcmp(detectors[d], name) != 0)
            d++;
        if (d == N_DETECTORS) {
            snprintf(err, errlen,
                     "detectors.%.64s: unknown detector (known: port_scan, host_sweep, syn_flood, "
                     "icmp_flood, brute_force, exfiltration, silent, replay)",
                     name);
            return WARD_E_MALFORMED;
        }
        ward_status_t st = parse_detector(detectors[d], val, &c, err, errlen);
        if (st != WARD_OK)
            return st;
    }
    *out = c;
    return WARD_OK;
}

static json_t *param_json(const param_t *p, const ward_behavior_config_t *c)
{
    const char *field = (const char *)c + p->off;
    switch (p->kind) {
    case K_BOOL:
        return json_boolean(*(const bool *)field);
    case K_U32:
        return json_integer(*(const uint32_t *)field);
    case K_U64:
        return json_integer((json_int_t) * (const uint64_t *)field);
    default:
        return json_real(*(const double *)field);
    }
}

json_t *ward_behavior_config_json(const ward_behavior_config_t *c)
{
    json_t *o = json_object();
    for (size_t d = 0; o != NULL && d < N_DETECTORS; d++) {
        json_t *det = json_object();
        for (size_t i = 0; i < N_PARAMS; i++)
            if (strcmp(params[i].det, detectors[d]) == 0)
                json_object_set_new(det, params[i].key, param_json(&params[i], c));
        json_object_set_new(o, detectors[d], det);
    }
    return o;
}

/* The thresholds of one detector (without "enabled"), for evidence. */
static json_t *detector_params(const char *det, const ward_behavior_config_t *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < N_PARAMS; i++)
        if (strcmp(params[i].det, det) == 0 && params[i].kind != K_BOOL)
            json_object_set_new(o, params[i].key, param_json(&params[i], c));
    return o;
}

/* ---- Small bounded sets ------------------------------------------------------------------- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/*
 * Insert *x into a sorted array of distinct elements (*v, *n, *cap) unless it holds limit elements
 * (or SET_HARD_MAX). 1 added, 0 present, full or out of memory. The sets of the detectors below
 * (ports, addresses) are this one function with their own element type and order.
 */
static int sset_add(void **v, size_t *n, size_t *cap, size_t size, const void *x,
                    int (*cmp)(const void *, const void *), size_t limit)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp((const char *)*v + mid * size, x);
        if (c == 0)
            return 0;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (*n >= limit || *n >= SET_HARD_MAX)
        return 0;
    if (!ward__grow(v, *n, cap, size, 8)) /* WARD_GROW's doubling, for any element size */
        return 0;
    char *base = *v;
    memmove(base + (lo + 1) * size, base + lo * size, (*n - lo) * size);
    memcpy(base + lo * size, x, size);
    (*n)++;
    return 1;
}

typedef struct u32set {
    uint32_t *v;
    size_t n, cap;
} u32set_t;

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int u32set_add(u32set_t *s, uint32_t x, size_t limit)
{
    void *v = s->v;
    int r = sset_add(&v, &s->n, &s->cap, sizeof x, &x, u32_cmp, limit);
    s->v = v;
    return r;
}

typedef struct addrset {
    ward_addr_t *v;
    size_t n, cap;
} addrset_t;

static int addr_cmp(const ward_addr_t *a, const ward_addr_t *b)
{
    return memcmp(a->b, b->b, sizeof a->b);
}

static int addr_cmp_v(const void *a, const void *b)
{
    return addr_cmp(a, b);
}

static int addrset_add(addrset_t *s, const ward_addr_t *x, size_t limit)
{
    void *v = s->v;
    int r = sset_add(&v, &s->n, &s->cap, sizeof *x, x, addr_cmp_v, limit);
    s->v = v;
    return r;
}

/* ---- Per-device state --------------------------------------------------------------------- */

typedef struct scan_ent {
    ward_addr_t remote;
    int64_t start_ms, last_ms;
    u32set_t ports;    /* proto << 16 | local port */
    uint64_t unreach;  /* outbound ICMP/ICMPv6 port-unreachable packets to the remote */
    uint64_t overflow; /* untracked inbound flows attributed to this remote */
    uint64_t half_open, rst_answered, udp_probes, reports;
    uint64_t alerted; /* score when last alerted in this window (0 = not yet) */
} scan_ent_t;

typedef struct sweep_ent {
    uint8_t proto;
    uint16_t port; /* remote port, or the ICMP type * 256 + code for echo sweeps */
    int64_t start_ms, last_ms;
    addrset_t hosts;
    uint64_t overflow, reports;
    uint64_t alerted; /* score when last alerted in this window (0 = not yet) */
} sweep_ent_t;

typedef struct flood_ent {
    uint16_t port; /* local port */
    int64_t start_ms, last_ms;
    uint64_t syns, overflow;
    addrset_t remotes; /* up to REMOTES_MAX */
    bool more_remotes;
} flood_ent_t;

typedef struct brute_ent {
    ward_addr_t remote;
    uint16_t port;
    int64_t start_ms, last_ms;
    uint64_t connections;
    u32set_t src_ports;
} brute_ent_t;

typedef struct dev {
    struct dev *next;
    char id[WARD_DEVICE_ID_MAX + 1];

    /* replay and silence */
    bool seen;
    uint32_t boot;
    uint64_t seq;
    int64_t last_ms;
    uint32_t interval_s;
    bool silent_alerted;
    char silent_key[WARD_TIME_STRLEN];

    scan_ent_t *scan;
    size_t n_scan, cap_scan;
    sweep_ent_t *sweep;
    size_t n_sweep, cap_sweep;
    flood_ent_t *flood;
    size_t n_flood, cap_flood;
    brute_ent_t *brute;
    size_t n_brute, cap_brute;

    /* ICMP flood: one window per device */
    int64_t icmp_start_ms, icmp_last_ms;
    uint64_t icmp_packets, icmp_overflow;
    addrset_t icmp_remotes;
    bool icmp_more_remotes;

    /* exfiltration: EWMA of bytes out per second, and the report being assembled from parts */
    uint64_t ex_n;
    double ex_mean, ex_var;
    bool ex_pending;
    uint32_t ex_boot;
    uint64_t ex_seq, ex_bytes, ex_period_ms, ex_flows;
    uint32_t ex_parts, ex_count;
    ward_addr_t ex_top_remote;
    uint64_t ex_top_bytes;
} bdev_t;

struct ward_behavior {
    ward_store_t *store;
    ward_behavior_emit_fn emit;
    void *ctx;
    bdev_t **buckets;
    size_t n_buckets, n_devs;
};

static uint64_t hash_id(const char *s)
{
    return ward_fnv1a_str(WARD_FNV_SEED, s);
}

ward_behavior_t *ward_behavior_new(struct ward_store *store, ward_behavior_emit_fn emit, void *ctx)
{
    ward_behavior_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->n_buckets = 1024;
    b->buckets = calloc(b->n_buckets, sizeof *b->buckets);
    if (b->buckets == NULL) {
        free(b);
        return NULL;
    }
    b->store = store;
    b->emit = emit;
    b->ctx = ctx;
    return b;
}

static void scan_free(scan_ent_t *e)
{
    free(e->ports.v);
}
static void sweep_free(sweep_ent_t *e)
{
    free(e->hosts.v);
}
static void flood_free(flood_ent_t *e)
{
    free(e->remotes.v);
}
static void brute_free(brute_ent_t *e)
{
    free(e->src_ports.v);
}

static void dev_free(bdev_t *d)
{
    for (size_t i = 0; i < d->n_scan; i++)
        scan_free(&d->scan[i]);
    for (size_t i = 0; i < d->n_sweep; i++)
        sweep_free(&d->sweep[i]);
    for (size_t i = 0; i < d->n_flood; i++)
        flood_free(&d->flood[i]);
    for (size_t i = 0; i < d->n_brute; i++)
        brute_free(&d->brute[i]);
    free(d->scan);
    free(d->sweep);
    free(d->flood);
    free(d->brute);
    free(d->icmp_remotes.v);
    free(d);
}

void ward_behavior_free(ward_behavior_t *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n_buckets; i++) {
        bdev_t *d = b->buckets[i];
        while (d != NULL) {
            bdev_t *next = d->next;
            dev_free(d);
            d = next;
        }
    }
    free(b->buckets);
    free(b);
}

size_t ward_behavior_devices(const ward_behavior_t *b)
{
    return b->n_devs;
}

static void grow_table(ward_behavior_t *b)
{
    size_t nb = b->n_buckets * 2;
    bdev_t **n = calloc(nb, sizeof *n);
    if (n == NULL)
        return; /* keep the longer chains */
    for (size_t i = 0; i < b->n_buckets; i++) {
        bdev_t *d = b->buckets[i];
        while (d != NULL) {
            bdev_t *next = d->next;
            size_t h = (size_t)(hash_id(d->id) % nb);
            d->next = n[h];
            n[h] = d;
            d = next;
        }
    }
    free(b->buckets);
    b->buckets = n;
    b->n_buckets = nb;
}

static bdev_t *dev_get(ward_behavior_t *b, const char *id)
{
    size_t h = (size_t)(hash_id(id) % b->n_buckets);
    for (bdev_t *d = b->buckets[h]; d != NULL; d = d->next)
        if (strcmp(d->id, id) == 0)
            return d;
    bdev_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    snprintf(d->id, sizeof d->id, "%s", id);
    d->next = b->buckets[h];
    b->buckets[h] = d;
    if (++b->n_devs > b->n_buckets * 2)
        grow_table(b);
    return d;
}

/*
 * Find or add an entry in a bounded array of window entries. Expired entries are reset in place;
 * when the array is full the entry seen least recently is dropped.
 */
#define ENTRY_GET(arr, n, cap, max, match, free_fn, now, win_ms, out)                              \
    do {                                                                                           \
        (out) = NULL;                                                                              \
        for (size_t i_ = 0; i_ < (n); i_++) {                                                      \
            if (match(&(arr)[i_])) {                                                               \
                (out) = &(arr)[i_];                                                                \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
        if ((out) != NULL && (now) - (out)->start_ms > (win_ms)) {                                 \
            free_fn(out);                                                                          \
            memset((out), 0, sizeof *(out));                                                       \
            (out)->start_ms = (now);                                                               \
        } else if ((out) == NULL) {                                                                \
            if ((n) == (cap) && (cap) < (max)) {                                                   \
                size_t nc_ = (cap) ? (cap)*2 : 4;                                                  \
                if (nc_ > (max))                                                                   \
                    nc_ = (max);                                                                   \
                void *na_ = realloc((arr), nc_ * sizeof *(arr));                                   \
                if (na_ != NULL) {                                                                 \
                    (arr) = na_;                                                                   \
                    (cap) = nc_;                                                                   \
                }                                                                                  \
            }                                                                                      \
            if ((n) < (cap) || (n) == (max)) {                                                     \
                size_t at_ = (n);                                                                  \
                if ((n) == (max)) {                                                                \
                    at_ = 0;                                                                       \
                    for (size_t i_ = 1; i_ < (n); i_++)                                            \
                        if ((arr)[i_].last_ms < (arr)[at_].last_ms)                                \
                            at_ = i_;                                                              \
                    free_fn(&(arr)[at_]);                                                          \
                } else {                                                                           \
                    (n)++;                                                                         \
                }                                                                                  \
                (out) = &(arr)[at_];                                                               \
                memset((out), 0, sizeof *(out));                                                   \
                (out)->start_ms = (now);                                                           \
            }                                                                                      \
        }                                                                                          \
        if ((out) != NULL)                                                                         \
            (out)->last_ms = (now);                                                                \
    } while (0)

/* Drop entries whose window has passed (swap with the last). */
#define ENTRY_PRUNE(arr, n, free_fn, now, win_ms)                                                  \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (n);) {                                                           \
            if ((now) - (arr)[i_].start_ms > (win_ms)) {                                           \
                free_fn(&(arr)[i_]);                                                               \
                (arr)[i_] = (arr)[(n)-1];                                                          \
                (n)--;                                                                             \
            } else {                                                                               \
                i_++;                                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* ---- Alerts ------------------------------------------------------------------------------- */

static void alert_init(ward_alert_t *a, const char *type, const char *severity, const char *device,
                       const char *fold_key, int64_t first_ms, int64_t last_ms)
{
    memset(a, 0, sizeof *a);
    snprintf(a->type, sizeof a->type, "%s", type);
    snprintf(a->severity, sizeof a->severity, "%s", severity);
    snprintf(a->device, sizeof a->device, "%s", device);
    snprintf(a->fold_key, sizeof a->fold_key, "%s", fold_key);
    a->first_seen_ms = first_ms;
    a->last_seen_ms = last_ms;
    a->count = 1;
    snprintf(a->state, sizeof a->state, "active");
    a->evidence = json_object();
}

static json_t *evidence_base(const char *det, const ward_behavior_config_t *c, const char *remote,
                             int64_t window_s)
{
    json_t *e = json_object();
    json_object_set_new(e, "detector", json_string(det));
    if (remote != NULL)
        json_object_set_new(e, "remote_addr", json_string(remote));
    if (window_s > 0)
        json_object_set_new(e, "window_s", json_integer(window_s));
    json_object_set_new(e, "parameters", detector_params(det, c));
    return e;
}

static int emit(ward_behavior_t *b, ward_alert_t *a)
{
    int rc = b->emit ? b->emit(b->ctx, a) : 0;
    ward_alert_clear(a);
    return rc;
}

static const char *proto_name(unsigned proto, char *buf, size_t len)
{
    return ward_wire_proto_name(proto, buf, len);
}

static json_t *addr_sample(const addrset_t *s, size_t max)
{
    json_t *a = json_array();
    char t[WARD_ADDR_STRLEN];
    for (size_t i = 0; i < s->n && i < max; i++) {
        ward_addr_format(&s->v[i], t, sizeof t);
        json_array_append_new(a, json_string(t));
    }
    return a;
}

/* ---- Flow classification ------------------------------------------------------------------ */

static bool is_icmp(uint8_t proto)
{
    return proto == WARD_IPPROTO_ICMP || proto == WARD_IPPROTO_ICMPV6;
}

static bool is_port_unreachable(const ward_wire_flow_t *f)
{
    return (f->proto == WARD_IPPROTO_ICMP && f->remote_port == 0x0303) ||
           (f->proto == WARD_IPPROTO_ICMPV6 && f->remote_port == 0x0104);
}

static bool is_echo_request(const ward_wire_flow_t *f)
{
    return (f->proto == WARD_IPPROTO_ICMP && f->remote_port == 0x0800) ||
           (f->proto == WARD_IPPROTO_ICMPV6 && f->remote_port == 0x8000);
}

static unsigned flags_in(const ward_wire_flow_t *f)
{
    return f->has_tcp_flags ? (f->tcp_flags >> 8) & 0xffu : 0;
}

static unsigned flags_out(const ward_wire_flow_t *f)
{
    return f->has_tcp_flags ? f->tcp_flags & 0xffu : 0;
}

/* An inbound TCP/UDP flow: opened by the remote. A TCP flow whose start the agent missed counts
 * when the remote's SYN without ACK shows it asked to open it. */
static bool is_inbound(const ward_wire_flow_t *f)
{
    if (f->proto != WARD_IPPROTO_TCP && f->proto != WARD_IPPROTO_UDP)
        return false;
    if (f->initiator == WARD_DIR_INBOUND)
        return true;
    return f->initiator == WARD_DIR_UNKNOWN && f->proto == WARD_IPPROTO_TCP &&
           (flags_in(f) & TCP_SYN) && !(flags_in(f) & TCP_ACK);
}

/* An inbound TCP flow whose handshake never completed: SYN from the remote, no ACK. */
static bool is_half_open(const ward_wire_flow_t *f)
{
    return f->proto == WARD_IPPROTO_TCP && f->has_tcp_flags && f->initiator != WARD_DIR_OUTBOUND &&
           (flags_in(f) & TCP_SYN) && !(flags_in(f) & TCP_ACK);
}

/* ---- Port scan ---------------------------------------------------------------------------- */

#define SCAN_MATCH(e) (addr_cmp(&(e)->remote, remote) == 0)

static scan_ent_t *scan_get(bdev_t *d, const ward_addr_t *remote, int64_t now, int64_t win_ms)
{
    scan_ent_t *e;
    ENTRY_GET(d->scan, d->n_scan, d->cap_scan, SCAN_ENTRIES_MAX, SCAN_MATCH, scan_free, now, win_ms,
              e);
    if (e != NULL)
        e->remote = *remote;
    return e;
}

static uint64_t scan_score(const scan_ent_t *e)
{
    uint64_t p = e->ports.n > e->unreach ? e->ports.n : e->unreach;
    return sat_add(p, e->overflow);
}

static int scan_alert(ward_behavior_t *b, bdev_t *d, scan_ent_t *e, const ward_behavior_config_t *c,
                      int64_t now)
{
    char ra[WARD_ADDR_STRLEN], title[160], pn[8];
    bool known = e->remote.family != 0;
    if (known)
        ward_addr_format(&e->remote, ra, sizeof ra);
    else
        snprintf(ra, sizeof ra, "*");
    ward_alert_t a;
    alert_init(&a, WARD_ALERT_PORT_SCAN, "medium", d->id, ra, e->start_ms, now);
    snprintf(title, sizeof title, known ? "Port scan from %s" : "Port scan (source untracked: %s)",
             known ? ra : "flow table full");
    snprintf(a.title, sizeof a.title, "%s", title);
    json_decref(a.evidence);
    a.evidence = evidence_base("port_scan", c, known ? ra : NULL, c->port_scan.window_s);
    json_t *obs = json_object();
    json_object_set_new(obs, "ports", json_integer((json_int_t)scan_score(e)));
    json_object_set_new(obs, "distinct_ports_tracked", json_integer((json_int_t)e->ports.n));
    json_object_set_new(obs, "half_open_probes", json_integer((json_int_t)e->half_open));
    json_object_set_new(obs, "rst_answers", json_integer((json_int_t)e->rst_answered));
    json_object_set_new(obs, "udp_probes", json_integer((json_int_t)e->udp_probes));
    json_object_set_new(obs, "icmp_port_unreachable", json_integer((json_int_t)e->unreach));
    json_object_set_new(obs, "overflow_flows", json_integer((json_int_t)e->overflow));
    json_object_set_new(obs, "reports", json_integer((json_int_t)e->reports));
    json_object_set_new(obs, "elapsed_s", json_integer((now - e->start_ms) / 1000));
    json_t *sample = json_array();
    for (size_t i = 0; i < e->ports.n && i < SAMPLE_MAX; i++) {
        char s[24];
        snprintf(s, sizeof s, "%s/%u", proto_name(e->ports.v[i] >> 16, pn, sizeof pn),
                 (unsigned)(e->ports.v[i] & 0xffff));
        json_array_append_new(sample, json_string(s));
    }
    json_object_set_new(obs, "ports_sample", sample);
    json_object_set_new(a.evidence, "observed", obs);
    return emit(b, &a);
}

static int detect_port_scan(ward_behavior_t *b, bdev_t *d, const ward_wire_report_t *r,
                            const ward_behavior_config_t *c, int64_t now)
{
    int64_t win = (int64_t)c->port_scan.window_s * 1000;
    ENTRY_PRUNE(d->scan, d->n_scan, scan_free, now, win);
    /* The probes of this report (inbound SYNs left half-open, inbound UDP left unanswered) and
     * the local service (protocol, port) most of them reached (majority vote, checked below):
     * see the overflow attribution. */
    uint32_t svc_cand = 0;
    size_t svc_votes = 0, n_in = 0;
    for (size_t i = 0; i < r->n_flows; i++) {
        const ward_wire_flow_t *f = &r->flows[i];
        if (is_inbound(f) && f->local_port != 0) {
            uint32_t svc = (uint32_t)f->proto << 16 | f->local_port;
            if (is_half_open(f) || (f->proto == WARD_IPPROTO_UDP && f->packets_out == 0)) {
                n_in++;
                if (svc_votes == 0) {
                    svc_cand = svc;
                    svc_votes = 1;
                } else {
                    svc_votes = svc == svc_cand ? svc_votes + 1 : svc_votes - 1;
                }
            }
            scan_ent_t *e = scan_get(d, &f->remote_addr, now, win);
            if (e == NULL)
                continue;
            u32set_add(&e->ports, (uint32_t)f->proto << 16 | f->local_port,
                       c->port_scan.min_ports > SET_MIN_MAX ? c->port_scan.min_ports : SET_MIN_MAX);
            if (is_half_open(f)) {
                e->half_open++;
                if (flags_out(f) & TCP_RST)
                    e->rst_answered++;
            }
            if (f->proto == WARD_IPPROTO_UDP)
                e->udp_probes++;
        } else if (is_port_unreachable(f)) {
            scan_ent_t *e = scan_get(d, &f->remote_addr, now, win);
            if (e != NULL)
                e->unreach = sat_add(e->unreach, f->packets_out);
        }
    }
    /* Probes that show a scan: at least 2 of them, and no service took 90% of them (that is a
     * flood, or a busy service, on that one port). */
    size_t svc_flows = 0;
    for (size_t i = 0; n_in > 0 && i < r->n_flows; i++) {
        const ward_wire_flow_t *f = &r->flows[i];
        if (is_inbound(f) && f->local_port != 0 &&
            (is_half_open(f) || (f->proto == WARD_IPPROTO_UDP && f->packets_out == 0)) &&
            ((uint32_t)f->proto << 16 | f->local_port) == svc_cand)
            svc_flows++;
    }
    bool probes_scan = n_in >= 2 && svc_flows * 10 < n_in * 9;
    /* Count each entry's report once; the busiest remote of this report (at least 2 ports)
     * takes the untracked inbound TCP/UDP flows of the overflow summary. */
    scan_ent_t *top = NULL;
    for (size_t i = 0; i < d->n_scan; i++) {
        scan_ent_t *e = &d->scan[i];
        if (e->last_ms != now)
            continue;
        e->reports++;
        if (e->remote.family != 0 && (top == NULL || scan_score(e) > scan_score(top)))
            top = e;
    }
    uint64_t ovf = 0;
    for (size_t i = 0; i < r->n_overflow; i++) {
        const ward_wire_overflow_t *o = &r->overflow[i];
        if (o->direction == WARD_DIR_INBOUND &&
            (o->proto == WARD_IPPROTO_TCP || o->proto == WARD_IPPROTO_UDP))
            ovf = sat_add(ovf, o->flows);
    }
    if (ovf > 0 && (top == NULL || scan_score(top) < 2)) {
        /* No remote of this report qualifies: the scanner of the window, if there is one (a scan
         * that filled the table in an earlier report goes on untracked in this one), rather than
         * a second alert for an unnamed source. */
        for (size_t i = 0; i < d->n_scan; i++) {
            scan_ent_t *e = &d->scan[i];
            if (e->remote.family != 0 && scan_score(e) >= 2 &&
                (top == NULL || scan_score(e) > scan_score(top)))
                top = e;
        }
    }
    if (ovf > 0) {
        if (top != NULL && scan_score(top) >= 2) {
            top->overflow = sat_add(top->overflow, ovf);
        } else if (probes_scan) {
            /* No tracked remote to name: the untracked flows alone, under remote "*", but only
             * when the tracked probes of the same report show a scan's pattern (several local
             * services). The overflow summary has no ports: untracked flows beside probes of one
             * service (a SYN flood from spoofed sources), or beside no probes at all (a busy
             * device), are not evidence of a scan. */
            ward_addr_t none;
            memset(&none, 0, sizeof none);
            scan_ent_t *e = scan_get(d, &none, now, win);
            if (e != NULL) {
                e->reports++;
                e->overflow = sat_add(e->overflow, ovf);
            }
        }
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < d->n_scan; i++) {
        scan_ent_t *e = &d->scan[i];
        /* Once per window and remote, then again (folded) each time it grows. */
        uint64_t score = scan_score(e);
        if (score >= c->port_scan.min_ports && score > e->alerted) {
            rc = scan_alert(b, d, e, c, now);
            e->alerted = score;
        }
    }
    return rc;
}

/* ---- Host sweep --------------------------------------------------------------------------- */

static int detect_host_sweep(ward_behavior_t *b, bdev_t *d, const ward_wire_report_t *r,
                             const ward_behavior_config_t *c, int64_t now)
{
    int64_t win = (int64_t)c->host_sweep.window_s * 1000;
    ENTRY_PRUNE(d->sweep, d->n_sweep, sweep_free, now, win);
    /* An index, not a pointer: ENTRY_GET may move d->sweep. */
    size_t top = SIZE_MAX;
    for (size_t i = 0; i < r->n_flows; i++) {
        const ward_wire_flow_t *f = &r->flows[i];
        if (f->initiator != WARD_DIR_OUTBOUND)
            continue;
        bool ported =
            (f->proto == WARD_IPPROTO_TCP || f->proto == WARD_IPPROTO_UDP) && f->remote_port != 0;
        if (!ported && !is_echo_request(f))
            continue;
        uint8_t proto = f->proto;
        uint16_t port = f->remote_port;
#define SWEEP_MATCH(e) ((e)->proto == proto && (e)->port == port)
        sweep_ent_t *e;
        ENTRY_GET(d->sweep, d->n_sweep, d->cap_sweep, SWEEP_ENTRIES_MAX, SWEEP_MATCH, sweep_free,
                  now, win, e);
#undef SWEEP_MATCH
        if (e == NULL)
            continue;
        e->proto = proto;
        e->port = port;
        addrset_add(&e->hosts, &f->remote_addr,
                    c->host_sweep.min_hosts > SET_MIN_MAX ? c->host_sweep.min_hosts : SET_MIN_MAX);
        if (top == SIZE_MAX || e->hosts.n > d->sweep[top].hosts.n)
            top = (size_t)(e - d->sweep);
    }
    for (size_t i = 0; i < d->n_sweep; i++)
        if (d->sweep[i].last_ms == now)
            d->sweep[i].reports++;
    uint64_t ovf = 0;
    for (size_t i = 0; i < r->n_overflow; i++)
        if (r->overflow[i].direction == WARD_DIR_OUTBOUND)
            ovf = sat_add(ovf, r->overflow[i].flows);
    if (ovf > 0 && top != SIZE_MAX && d->sweep[top].hosts.n >= 2)
        d->sweep[top].overflow = sat_add(d->sweep[top].overflow, ovf);

    int rc = 0;
    for (size_t i = 0; rc == 0 && i < d->n_sweep; i++) {
        sweep_ent_t *e = &d->sweep[i];
        uint64_t score = sat_add(e->hosts.n, e->overflow);
        if (score < c->host_sweep.min_hosts || score <= e->alerted)
            continue;
        char key[32], pn[8], title[160];
        bool echo = is_icmp(e->proto);
        if (echo)
            snprintf(key, sizeof key, "%s/echo", proto_name(e->proto, pn, sizeof pn));
        else
            snprintf(key, sizeof key, "%s/%u", proto_name(e->proto, pn, sizeof pn), e->port);
        ward_alert_t a;
        alert_init(&a, WARD_ALERT_HOST_SWEEP, "high", d->id, key, e->start_ms, now);
        if (echo)
            snprintf(title, sizeof title, "Device pings many hosts (%s sweep)", key);
        else
            snprintf(title, sizeof title, "Device contacts many hosts on %s (worm-like sweep)",
                     key);
        snprintf(a.title, sizeof a.title, "%s", title);
        json_decref(a.evidence);
        a.evidence = evidence_base("host_sweep", c, NULL, c->host_sweep.window_s);
        json_object_set_new(a.evidence, "protocol",
                            json_string(proto_name(e->proto, pn, sizeof pn)));
        if (!echo)
            json_object_set_new(a.evidence, "remote_port", json_integer(e->port));
        json_t *obs = json_object();
        json_object_set_new(obs, "hosts", json_integer((json_int_t)score));
        json_object_set_new(obs, "distinct_hosts_tracked", json_integer((json_int_t)e->hosts.n));
        json_object_set_new(obs, "overflow_flows", json_integer((json_int_t)e->overflow));
        json_object_set_new(obs, "reports", json_integer((json_int_t)e->reports));
        json_object_set_new(obs, "hosts_sample", addr_sample(&e->hosts, SAMPLE_MAX));
        json_object_set_new(a.evidence, "observed", obs);
        rc = emit(b, &a);
        e->alerted = score;
    }
    return rc;
}

/* ---- SYN flood ---------------------------------------------------------------------------- */

static int detect_syn_flood(ward_behavior_t *b, bdev_t *d, const ward_wire_report_t *r,
                            const ward_behavior_config_t *c, int64_t now)
{
    int64_t win = (int64_t)c->syn_flood.window_s * 1000;
    ENTRY_PRUNE(d->flood, d->n_flood, flood_free, now, win);
    /* In this report: the local port with the most half-open SYN packets, and how many flows
     * carried them (one flow per port is a scan's pattern; many is a flood's). */
    size_t top = SIZE_MAX; /* an index, not a pointer: ENTRY_GET may move d->flood */
    uint64_t top_syns = 0, top_flows = 0;
    for (size_t i = 0; i < r->n_flows; i++) {
        const ward_wire_flow_t *f = &r->flows[i];
        if (!is_half_open(f) || f->packets_in == 0)
            continue;
        uint16_t port = f->local_port;
#define FLOOD_MATCH(e) ((e)->port == port)
        flood_ent_t *e;
        ENTRY_GET(d->flood, d->n_flood, d->cap_flood, FLOOD_ENTRIES_MAX, FLOOD_MATCH, flood_free,
                  now, win, e);
#undef FLOOD_MATCH
        if (e == NULL)
            continue;
        e->port = port;
        e->syns = sat_add(e->syns, f->packets_in);
        if (addrset_add(&e->remotes, &f->remote_addr, REMOTES_MAX) == 0 &&
            e->remotes.n >= REMOTES_MAX)
            e->more_remotes = true;
        size_t ei = (size_t)(e - d->flood);
        if (top == ei) {
            top_syns = sat_add(top_syns, f->packets_in);
            top_flows++;
        } else if (top == SIZE_MAX || f->packets_in > top_syns) {
            top = ei;
            top_syns = f->packets_in;
            top_flows = 1;
        }
    }
    uint64_t ovf = 0;
    for (size_t i = 0; i < r->n_overflow; i++)
        if (r->overflow[i].direction == WARD_DIR_INBOUND &&
            r->overflow[i].proto == WARD_IPPROTO_TCP)
            ovf = sat_add(ovf, r->overflow[i].packets);
    if (ovf > 0 && top != SIZE_MAX && (top_flows >= 2 || top_syns >= 3))
        d->flood[top].overflow = sat_add(d->flood[top].overflow, ovf);

    int rc = 0;
    for (size_t i = 0; rc == 0 && i < d->n_flood; i++) {
        flood_ent_t *e = &d->flood[i];
        uint64_t score = sat_add(e->syns, e->overflow);
        if (score < c->syn_flood.min_syns)
            continue;
        char key[16], title[160], ra[WARD_ADDR_STRLEN];
        snprintf(key, sizeof key, "tcp/%u", e->port);
        bool one = e->remotes.n == 1 && !e->more_remotes;
        if (one)
            ward_addr_format(&e->remotes.v[0], ra, sizeof ra);
        ward_alert_t a;
        alert_init(&a, WARD_ALERT_SYN_FLOOD, "high", d->id, key, e->start_ms, now);
        if (one)
            snprintf(title, sizeof title, "SYN flood on %s from %s", key, ra);
        else
            snprintf(title, sizeof title, "SYN flood on %s from %s%zu remotes", key,
                     e->more_remotes ? "more than " : "", e->remotes.n);
        snprintf(a.title, sizeof a.title, "%s", title);
        json_decref(a.evidence);
        a.evidence = evidence_base("syn_flood", c, one ? ra : NULL, c->syn_flood.window_s);
        json_object_set_new(a.evidence, "local_port", json_integer(e->port));
        json_t *obs = json_object();
        json_object_set_new(obs, "syns", json_integer((json_int_t)score));
        json_object_set_new(obs, "syns_tracked", json_integer((json_int_t)e->syns));
        json_object_set_new(obs, "overflow_packets", json_integer((json_int_t)e->overflow));
        json_object_set_new(obs, "remotes", json_integer((json_int_t)e->remotes.n));
        json_object_set_new(obs, "remotes_more", json_boolean(e->more_remotes));
        json_object_set_new(obs, "remotes_sample", addr_sample(&e->remotes, SAMPLE_MAX));
        json_object_set_new(a.evidence, "observed", obs);
        rc = emit(b, &a);
        uint16_t port = e->port;
        flood_free(e);
        memset(e, 0, sizeof *e);
        e->port = port;
        e->start_ms = e->last_ms = now;
    }
    return rc;
}

/* ---- ICMP flood --------------------------------------------------------------------------- */

static int detect_icmp_flood(ward_behavior_t *b, bdev_t *d, const ward_wire_report_t *r,
                             const ward_behavior_config_t *c, int64_t now)
{
    int64_t win = (int64_t)c->icmp_flood.window_s * 1000;
    uint64_t pk = 0, ovf = 0;
    for (size_t i = 0; i < r->n_flows; i++)
        if (is_echo_request(&r->flows[i]) && r->flows[i].initiator != WARD_DIR_OUTBOUND &&
            r->flows[i].packets_in > 0)
            pk = sat_add(pk, r->flows[i].packets_in);
    for (size_t i = 0; i < r->n_overflow; i++)
        if (r->overflow[i].direction == WARD_DIR_INBOUND && is_icmp(r->overflow[i].proto))
            ovf = sat_add(ovf, r->overflow[i].packets);
    if (pk == 0 && ovf == 0)
        return 0;
    if (d->icmp_start_ms == 0 || now - d->icmp_start_ms > win) {
        d->icmp_start_ms = now;
        d->icmp_packets = d->icmp_overflow = 0;
        d->icmp_remotes.n = 0;
        d->icmp_more_remotes = false;
    }
    d->icmp_last_ms = now;
    d->icmp_packets = sat_add(d->icmp_packets, pk);
    d->icmp_overflow = sat_add(d->icmp_overflow, ovf);
    for (size_t i = 0; i < r->n_flows; i++)
        if (is_echo_request(&r->flows[i]) && r->flows[i].initiator != WARD_DIR_OUTBOUND &&
            r->flows[i].packets_in > 0 &&
            addrset_add(&d->icmp_remotes, &r->flows[i].remote_addr, REMOTES_MAX) == 0 &&
            d->icmp_remotes.n >= REMOTES_MAX)
            d->icmp_more_remotes = true;
    uint64_t score = sat_add(d->icmp_packets, d->icmp_overflow);
    if (score < c->icmp_flood.min_packets)
        return 0;
    char title[160], ra[WARD_ADDR_STRLEN];
    bool one = d->icmp_remotes.n == 1 && !d->icmp_more_remotes;
    if (one)
        ward_addr_format(&d->icmp_remotes.v[0], ra, sizeof ra);
    ward_alert_t a;
    alert_init(&a, WARD_ALERT_ICMP_FLOOD, "medium", d->id, one ? ra : "*", d->icmp_start_ms, now);
    if (one)
        snprintf(title, sizeof title, "ICMP echo flood from %s", ra);
    else
        snprintf(title, sizeof title, "ICMP echo flood from %s%zu remotes",
                 d->icmp_more_remotes ? "more than " : "", d->icmp_remotes.n);
    snprintf(a.title, sizeof a.title, "%s", title);
    json_decref(a.evidence);
    a.evidence = evidence_base("icmp_flood", c, one ? ra : NULL, c->icmp_flood.window_s);
    json_t *obs = json_object();
    double secs = (double)(now - d->icmp_start_ms) / 1000.0;
    uint64_t period = r->period_end > r->period_start ? r->period_end - r->period_start : 0;
    if (secs < (double)period / 1000.0)
        secs = (double)period / 1000.0;
    json_object_set_new(obs, "echo_requests", json_integer((json_int_t)score));
    json_object_set_new(obs, "echo_requests_tracked", json_integer((json_int_t)d->icmp_packets));
    json_object_set_new(obs, "overflow_packets", json_integer((json_int_t)d->icmp_overflow));
    json_object_set_new(obs, "rate_per_s",
                        json_real(secs > 0 ? (double)score / secs : (double)score));
    json_object_set_new(obs, "remotes", json_integer((json_int_t)d->icmp_remotes.n));
    json_object_set_new(obs, "remotes_more", json_boolean(d->icmp_more_remotes));
    json_object_set_new(obs, "remotes_sample", addr_sample(&d->icmp_remotes, SAMPLE_MAX));
    json_object_set_new(a.evidence, "observed", obs);
    d->icmp_start_ms = 0;
    return emit(b, &a);
}

/* ---- Brute force -------------------------------------------------------------------------- */

/* A short inbound connection: completed (ACK from the remote) or, without TCP flags, at least a
 * handshake's worth of packets, lasting at most max_duration_s, and new in this report. */
static bool is_short_connection(const ward_wire_flow_t *f, uint32_t max_s)
{
    if (f->proto != WARD_IPPROTO_TCP || f->initiator != WARD_DIR_INBOUND || f->continued ||
        f->local_port == 0)
        return false;
    if (f->last - f->first > max_s)
        return false;
    if (f->has_tcp_flags)
        return (flags_in(f) & TCP_ACK) && (flags_in(f) & TCP_SYN);
    return f->packets_in >= 3;
}

static int detect_brute_force(ward_behavior_t *b, bdev_t *d, const ward_wire_report_t *r,
                              const ward_behavior_config_t *c, int64_t now)
{
    int64_t win = (int64_t)c->brute_force.window_s * 1000;
    ENTRY_PRUNE(d->brute, d->n_brute, brute_free, now, win);
    for (size_t i = 0; i < r->n_flows; i++) {
        const ward_wire_flow_t *f = &r->flows[i];
        if (!is_short_connection(f, c->brute_force.max_duration_s))
            continue;
        const ward_addr_t *remote = &f->remote_addr;
        uint16_t port = f->local_port;
#define BRUTE_MATCH(e) (addr_cmp(&(e)->remote, remote) == 0 && (e)->port == port)
        brute_ent_t *e;
        ENTRY_GET(d->brute, d->n_brute, d->cap_brute, BRUTE_ENTRIES_MAX, BRUTE_MATCH, brute_free,
                  now, win, e);
#undef BRUTE_MATCH
        if (e == NULL)
            continue;
        e->remote = *remote;
        e->port = port;
        e->connections++;
        u32set_add(&e->src_ports, f->remote_port, SAMPLE_MAX);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < d->n_brute; i++) {
        brute_ent_t *e = &d->brute[i];
        if (e->connections < c->brute_force.min_connections)
            continue;
        char ra[WARD_ADDR_STRLEN], key[WARD_ADDR_STRLEN + 16], title[160];
        ward_addr_format(&e->remote, ra, sizeof ra);
        snprintf(key, sizeof key, "%s tcp/%u", ra, e->port);
        ward_alert_t a;
        alert_init(&a, WARD_ALERT_BRUTE_FORCE, "high", d->id, key, e->start_ms, now);
        snprintf(title, sizeof title, "Brute force on tcp/%u from %s", e->port, ra);
        snprintf(a.title, sizeof a.title, "%s", title);
        json_decref(a.evidence);
        a.evidence = evidence_base("brute_force", c, ra, c->brute_force.window_s);
        json_object_set_new(a.evidence, "local_port", json_integer(e->port));
        json_object_set_new(a.evidence, "protocol", json_string("tcp"));
        json_t *obs = json_object();
        json_object_set_new(obs, "connections", json_integer((json_int_t)e->connections));
        json_object_set_new(obs, "elapsed_s", json_integer((now - e->start_ms) / 1000));
        json_t *sp = json_array();
        for (size_t k = 0; k < e->src_ports.n; k++)
            json_array_append_new(sp, json_integer(e->src_ports.v[k]));
        json_object_set_new(obs, "remote_ports_sample", sp);
        json_object_set_new(a.evidence, "observed", obs);
        rc = emit(b, &a);
        ward_addr_t keep = e->remote;
        uint16_t port = e->port;
        brute_free(e);
        memset(e, 0, sizeof *e);
        e->remote = keep;
        e->port = port;
        e->start_ms = e->last_ms = now;
    }
    return rc;
}

/* ---- Exfiltration ------------------------------------------------------------------------- */

static int exfil_finish(ward_behavior_t *b, bdev_t *d, const ward_behavior_config_t *c, int64_t now)
{
    d->ex_pending = false;
    double secs = (double)(d->ex_period_ms < 1000 ? 1000 : d->ex_period_ms) / 1000.0;
    double rate = (double)d->ex_bytes / secs;
    double sigma = sqrt(d->ex_var > 0 ? d->ex_var : 0);
    double limit = d->ex_mean + c->exfiltration.k_sigma * sigma;
    if (d->ex_n >= c->exfiltration.min_history && d->ex_bytes >= c->exfiltration.min_bytes &&
        rate > limit) {
        /* An anomalous report does not teach the baseline: a long exfiltration keeps alerting
         * (folded) instead of becoming normal. */
        char title[160], ra[WARD_ADDR_STRLEN];
        ward_alert_t a;
        alert_init(&a, WARD_ALERT_EXFILTRATION, "high", d->id, "bytes_out", now, now);
        snprintf(title, sizeof title, "Device sent %.1fx its usual volume",
                 d->ex_mean > 0 ? rate / d->ex_mean : rate);
        snprintf(a.title, sizeof a.title, "%s", title);
        json_decref(a.evidence);
        bool top = d->ex_top_bytes > 0;
        if (top)
            ward_addr_format(&d->ex_top_remote, ra, sizeof ra);
        a.evidence = evidence_base("exfiltration", c, top ? ra : NULL, 0);
        json_t *obs = json_object();
        json_object_set_new(obs, "bytes_out", json_integer((json_int_t)d->ex_bytes));
        json_object_set_new(obs, "period_s", json_real(secs));
        json_object_set_new(obs, "bytes_out_per_s", json_real(rate));
        json_object_set_new(obs, "mean_per_s", json_real(d->ex_mean));
        json_object_set_new(obs, "sigma_per_s", json_real(sigma));
        json_object_set_new(obs, "limit_per_s", json_real(limit));
        json_object_set_new(obs, "history_reports", json_integer((json_int_t)d->ex_n));
        if (top)
            json_object_set_new(obs, "top_remote_bytes_out",
                                json_integer((json_int_t)d->ex_top_bytes));
        json_object_set_new(a.evidence, "observed", obs);
        return emit(b, &a);
    }
    if (d->ex_n == 0) {
        d->ex_mean = rate;
        d->ex_var = 0;
    } else {
        double alpha = c->exfiltration.alpha;
        double diff = rate - d->ex_mean;
        double incr = alpha * diff;
        d->ex_mean += incr;
        d->ex_var = (1 - alpha) * (d->ex_var + diff * incr);
    }
    d->ex_n++;
    return 0;
}

/* ICMP/ICMPv6 that the device sends as an answer: echo replies and error messages. An ICMP flood
 * makes the device answer every echo request, which is not data it chose to send; counting the
 * answers as bytes out made every ICMP flood an "exfiltration" too. Untracked ICMP (overflow) is
 * left out for the same reason. Echo requests the device sends (ICMP tunnels) still count. */
static bool is_icmp_answer(const ward_wire_flow_t *f)
{
    unsigned type = f->remote_port >> 8;
    if (f->proto == WARD_IPPROTO_ICMP)
        return type == 0 || type == 3 || type == 11 || type == 12 || type == 14;
    if (f->proto == WARD_IPPROTO_ICMPV6)
        return (type >= 1 && type <= 4) || type == 129;
    return false;
}

static int detect_exfiltration(ward_behavior_t *b, bdev_t *d, const ward_wire_report_t *r,
                               const ward_behavior_config_t *c, int64_t now)
{
    /* A report split into parts is judged once, when its last part arrives; a report whose
     * parts never all arrive is not judged (and does not teach the baseline). */
    if (!d->ex_pending || d->ex_boot != r->boot_id || d->ex_seq != r->seq) {
        d->ex_pending = true;
        d->ex_boot = r->boot_id;
        d->ex_seq = r->seq;
        d->ex_bytes = d->ex_flows = 0;
        d->ex_parts = 0;
        d->ex_count = r->part_count;
        d->ex_top_bytes = 0;
        d->ex_period_ms = r->period_end > r->period_start ? r->period_end - r->period_start : 0;
    }
    for (size_t i = 0; i < r->n_flows; i++) {
        if (is_icmp_answer(&r->flows[i]))
            continue;
        d->ex_bytes = sat_add(d->ex_bytes, r->flows[i].bytes_out);
        if (r->flows[i].bytes_out > d->ex_top_bytes) {
            d->ex_top_bytes = r->flows[i].bytes_out;
            d->ex_top_remote = r->flows[i].remote_addr;
        }
    }
    for (size_t i = 0; i < r->n_overflow; i++)
        if (r->overflow[i].direction == WARD_DIR_OUTBOUND && !is_icmp(r->overflow[i].proto))
            d->ex_bytes = sat_add(d->ex_bytes, r->overflow[i].bytes);
    d->ex_parts++;
    if (d->ex_parts < d->ex_count)
        return 0;
    return exfil_finish(b, d, c, now);
}

/* ---- Replay and silence ------------------------------------------------------------------- */

static int replay_alert(ward_behavior_t *b, bdev_t *d, const ward_wire_report_t *r,
                        const ward_behavior_config_t *c, const char *kind, json_t *obs, int64_t now)
{
    char title[160];
    ward_alert_t a;
    alert_init(&a, WARD_ALERT_REPLAY, "high", d->id, kind, now, now);
    if (strcmp(kind, "seq_backwards") == 0)
        snprintf(title, sizeof title, "Report sequence went backwards (boot %08" PRIx32 ")",
                 r->boot_id);
    else
        snprintf(title, sizeof title, "Report part repeated with different content");
    snprintf(a.title, sizeof a.title, "%s", title);
    json_decref(a.evidence);
    a.evidence = evidence_base("replay", c, NULL, 0);
    json_object_set_new(a.evidence, "kind", json_string(kind));
    json_object_set_new(obs, "boot_id", json_integer(r->boot_id));
    json_object_set_new(obs, "seq", json_integer((json_int_t)r->seq));
    json_object_set_new(obs, "part", json_integer(r->part_index));
    json_object_set_new(a.evidence, "observed", obs);
    return emit(b, &a);
}

int ward_behavior_duplicate(ward_behavior_t *b, const ward_wire_report_t *r,
                            const ward_behavior_config_t *cfg, uint64_t digest,
                            uint64_t stored_digest, int64_t received_ms)
{
    ward_behavior_config_t defaults;
    if (cfg == NULL) {
        ward_behavior_config_defaults(&defaults);
        cfg = &defaults;
    }
    if (!cfg->replay.enabled || digest == stored_digest)
        return 0;
    bdev_t *d = dev_get(b, r->device_id);
    if (d == NULL)
        return 0;
    char h1[24], h2[24];
    snprintf(h1, sizeof h1, "%016" PRIx64, stored_digest);
    snprintf(h2, sizeof h2, "%016" PRIx64, digest);
    json_t *obs = json_pack("{s:s,s:s}", "stored_digest", h1, "digest", h2);
    WARD_WARN("device %s: boot %08" PRIx32 " seq %" PRIu64 " part %" PRIu32
              " repeated with different content (replay?)",
              r->device_id, r->boot_id, r->seq, r->part_index);
    return replay_alert(b, d, r, cfg, "content_differs", obs, received_ms);
}

static int silent_resolve(ward_behavior_t *b, bdev_t *d, int64_t now)
{
    d->silent_alerted = false;
    if (b->store == NULL)
        return 0;
    ward_alert_t a;
    int found = ward_store_alert_find(b->store, d->id, WARD_ALERT_SILENT, d->silent_key, &a);
    if (found <= 0)
        return found;
    int rc = 0;
    if (strcmp(a.state, "active") == 0) {
        char t[WARD_TIME_STRLEN];
        snprintf(a.state, sizeof a.state, "resolved");
        json_object_set_new(a.evidence, "resumed_at", json_string(ward_time_iso(now, t, sizeof t)));
        rc = ward_store_alert_update(b->store, &a);
    }
    ward_alert_clear(&a);
    return rc;
}

int ward_behavior_report(ward_behavior_t *b, const ward_wire_report_t *r,
                         const ward_behavior_config_t *cfg, int64_t received_ms)
{
    ward_behavior_config_t defaults;
    if (cfg == NULL) {
        ward_behavior_config_defaults(&defaults);
        cfg = &defaults;
    }
    bdev_t *d = dev_get(b, r->device_id);
    if (d == NULL)
        return 0; /* out of memory: detection skipped, the report is still stored */
    int64_t now = received_ms;
    int rc = 0;

    if (d->silent_alerted)
        rc = silent_resolve(b, d, now);
    if (rc == 0 && cfg->replay.enabled && d->seen && d->boot == r->boot_id && r->seq < d->seq) {
        json_t *obs = json_pack("{s:I}", "last_seq", (json_int_t)d->seq);
        WARD_WARN("device %s: report seq %" PRIu64 " after %" PRIu64 " in boot %08" PRIx32
                  " (replay?)",
                  r->device_id, r->seq, d->seq, r->boot_id);
        rc = replay_alert(b, d, r, cfg, "seq_backwards", obs, now);
    }
    if (!d->seen || d->boot != r->boot_id || r->seq > d->seq) {
        d->boot = r->boot_id;
        d->seq = r->seq;
    }
    d->seen = true;
    if (now > d->last_ms)
        d->last_ms = now;
    if (r->has_interval && r->interval > 0)
        d->interval_s = r->interval;

    if (rc == 0 && cfg->port_scan.enabled)
        rc = detect_port_scan(b, d, r, cfg, now);
    if (rc == 0 && cfg->host_sweep.enabled)
        rc = detect_host_sweep(b, d, r, cfg, now);
    if (rc == 0 && cfg->syn_flood.enabled)
        rc = detect_syn_flood(b, d, r, cfg, now);
    if (rc == 0 && cfg->icmp_flood.enabled)
        rc = detect_icmp_flood(b, d, r, cfg, now);
    if (rc == 0 && cfg->brute_force.enabled)
        rc = detect_brute_force(b, d, r, cfg, now);
    if (rc == 0 && cfg->exfiltration.enabled)
        rc = detect_exfiltration(b, d, r, cfg, now);
    return rc;
}

int ward_behavior_tick(ward_behavior_t *b, int64_t now_ms, ward_behavior_config_of_fn cfg_of,
                       void *cfg_ctx)
{
    ward_behavior_config_t defaults;
    ward_behavior_config_defaults(&defaults);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->n_buckets; i++) {
        for (bdev_t *d = b->buckets[i]; rc == 0 && d != NULL; d = d->next) {
            if (!d->seen || d->silent_alerted)
                continue;
            const ward_behavior_config_t *c = cfg_of ? cfg_of(cfg_ctx, d->id) : NULL;
            if (c == NULL)
                c = &defaults;
            if (!c->silent.enabled)
                continue;
            int64_t interval = d->interval_s ? d->interval_s : c->silent.default_interval_s;
            int64_t limit = interval * 1000 * (int64_t)c->silent.missed_intervals;
            if (now_ms - d->last_ms <= limit)
                continue;
            char last[WARD_TIME_STRLEN], title[160];
            ward_time_iso(d->last_ms, last, sizeof last);
            snprintf(d->silent_key, sizeof d->silent_key, "%s", last);
            ward_alert_t a;
            alert_init(&a, WARD_ALERT_SILENT, "medium", d->id, d->silent_key, d->last_ms + limit,
                       now_ms);
            snprintf(title, sizeof title, "Device silent since %s", last);
            snprintf(a.title, sizeof a.title, "%s", title);
            json_decref(a.evidence);
            a.evidence = evidence_base("silent", c, NULL, 0);
            json_t *obs = json_object();
            json_object_set_new(obs, "last_report", json_string(last));
            json_object_set_new(obs, "interval_s", json_integer(interval));
            json_object_set_new(obs, "interval_from_device", json_boolean(d->interval_s != 0));
            json_object_set_new(obs, "silent_s", json_integer((now_ms - d->last_ms) / 1000));
            json_object_set_new(a.evidence, "observed", obs);
            d->silent_alerted = true;
            WARD_INFO("device %s: silent since %s (interval %" PRId64 " s)", d->id, last, interval);
            rc = emit(b, &a);
        }
    }
    return rc;
}
