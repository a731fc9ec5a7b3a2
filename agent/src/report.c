/*
 * The report writer: encodes the report map of proto.h into the caller's buffer, splits it into
 * numbered parts when it does not fit, hands each part to the transport, and settles what a part
 * carried once the transport has accepted it.
 *
 * Shape of a part (every part is a complete report map):
 *   0 version, 1 device id, 2 agent version, 3 boot id, 4 seq, 5 period start, 6 period end,
 *   7 part [i, n] (always written, also [0, 1]), 8 time base, 9 interval,
 *   10 config revision (when a config was applied), 11 priority (priority reports only),
 *   25 config status (part 0, after a config message was rejected, until reported),
 *   18 local addresses (flows collector; the whole table, in every part: flows refer to it),
 *   21 counters (counters collector; part 0 only; non-zero totals, absent = 0),
 *   then the items, packed in this order into as many parts as they need: 24 detections (entries
 *   with packets), 20 system information (one item: the whole map; on boot, change, period),
 *   19 listening sockets (the port's snapshot), 22 metrics, 17 overflow (non-empty entries),
 *   23 malformed (non-zero reasons), 16 flows (with packets since last reported). A key appears in
 *   a part only when it carries some items, except key 16 (flows collector on: always, an empty
 *   array in a heartbeat) and key 19 (listening collector on: always in part 0, so an empty array
 *   says "nothing listens").
 * A priority report (an on-device detection, sent at once) has the header, 10, 11 and 24 only; it
 * does not end the period of the flows, which the next regular report covers.
 *
 * Concurrency. The hook keeps counting while a report is written, so every value is read once,
 * under the critical section, and written at once; nothing is measured twice and trusted to be the
 * same. Each item array is written with room for its head reserved, then the head is patched in
 * once the items that fit are known (and the gap closed). Counters are deltas: when the transport
 * accepts a part, the values *in that part* are subtracted from the live ones (read back from the
 * buffer, which is the only record of them: the agent keeps no second copy of its table). Packets
 * that arrived meanwhile stay for the next report.
 * Splitting: a measuring pass fixes the part count n; the writing pass packs greedily again with
 * the values of the moment. Values only grow, so a part may take fewer items than planned; items
 * left over after part n stay for the next report (never dropped), and a part with nothing left to
 * carry is still sent (a heartbeat) because n was announced.
 *
 * Threads: report side only.
 */
#include <string.h>

#include "agent_internal.h"
#include "ward_cbor.h"

/* Room reserved for an item array's head while items are packed: a count up to 65535. */
#define HEAD_RESERVE 3u
/* Room kept free while overflow and malformed items are packed: the flows key and its head. */
#define FLOWS_KEY_ROOM (1u + HEAD_RESERVE)
/* Part count used when measuring: the largest, so a measured header is never smaller. */
#define PARTS_MAX 0xffffu

/* pack(): items written straight after the key, no array or map head (one item at most). */
#define HEADLESS 0xffu

/* The kinds of items, in packing order. */
enum item_kind {
    ITEM_DETECT = 0,
    ITEM_SYSINFO = 1,
    ITEM_LISTEN = 2,
    ITEM_METRIC = 3,
    ITEM_OVERFLOW = 4,
    ITEM_MALFORMED = 5,
    ITEM_FLOW = 6,
    ITEM_KINDS_ = 7
};

/* Per kind: report key, major type of its container (or HEADLESS). */
static const uint8_t item_key[ITEM_KINDS_] = {WARD_RK_DETECTIONS, WARD_RK_SYSINFO,
                                              WARD_RK_LISTENING,  WARD_RK_METRICS,
                                              WARD_RK_OVERFLOW,   WARD_RK_MALFORMED,
                                              WARD_RK_FLOWS};
static const uint8_t item_major[ITEM_KINDS_] = {WARD__CBOR_ARRAY, HEADLESS,         WARD__CBOR_ARRAY,
                                                WARD__CBOR_MAP,   WARD__CBOR_ARRAY, WARD__CBOR_MAP,
                                                WARD__CBOR_ARRAY};

typedef struct report_ctx {
    uint64_t start_ms;
    uint64_t end_ms;
    uint32_t seq;
    uint32_t end[ITEM_KINDS_]; /* items [0, end) of each kind are this report's */
    uint8_t priority;          /* a priority report */
    uint8_t collectors;        /* in force for this report */
    uint8_t cs;                /* carries the config status (part 0) */
} report_ctx_t;

typedef struct part {
    uint32_t index;
    uint32_t total;
    uint32_t start[ITEM_KINDS_]; /* first item of each kind this part may carry */
    uint32_t stop[ITEM_KINDS_];  /* first item it did not reach */
    size_t off[ITEM_KINDS_];     /* offset of the first item written */
    uint32_t n[ITEM_KINDS_];     /* items written */
} part_t;

static void cbor_bool(ward__cbor_t *w, int v)
{
    ward__cbor_head(w, WARD__CBOR_SIMPLE, v ? 21u : 20u);
}

/* strlen() of the few strings a report carries (device id, version, a reject reason: short). A
 * loop of a few bytes of code where newlib-nano's word-at-a-time strlen costs 220 bytes of flash. */
static size_t str_len(const char *s)
{
    size_t n = 0;

    while (s[n] != '\0') {
        n++;
    }
    return n;
}

/* A text string item of a NUL-terminated string. */
static void cbor_str(ward__cbor_t *w, const char *s)
{
    ward__cbor_tstr(w, s, str_len(s));
}

/* A map pair key -> unsigned value: the most common shape of a report, one call site each. */
static void kv(ward__cbor_t *w, uint64_t key, uint64_t v)
{
    ward__cbor_uint(w, key);
    ward__cbor_uint(w, v);
}

/* n unsigned values in a row. */
static void uints(ward__cbor_t *w, const uint64_t *v, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        ward__cbor_uint(w, v[i]);
    }
}

static uint64_t offset_s(const ward_agent_t *a, uint32_t s, const report_ctx_t *rc)
{
    uint64_t t = a->base_ms + (uint64_t)s * 1000u;
    uint64_t off = t > rc->start_ms ? ward__div1000(t - rc->start_ms) : 0u;
    uint64_t span = ward__div1000(rc->end_ms - rc->start_ms);
    return off < span ? off : span;
}

static void encode_flow(const ward_agent_t *a, ward__cbor_t *w, const ward__flow_t *f,
                        const report_ctx_t *rc)
{
    unsigned lidx = f->meta & WARD__FM_LOCAL_MASK;
    size_t alen = a->local_family[lidx] == 6u ? 16u : 4u;
    unsigned n = f->proto == WARD_IPPROTO_TCP ? WARD_FP_COUNT_ : WARD_FP_TCP_FLAGS;
    unsigned flags = (f->meta & WARD__FM_INIT_MASK) >> WARD__FM_INIT_SHIFT;
    uint64_t v[WARD_FP_COUNT_];

    if (f->meta & WARD__FM_CONTINUED) {
        flags |= WARD_FF_CONTINUED;
    }
    v[WARD_FP_PROTO] = f->proto;
    v[WARD_FP_FLAGS] = flags;
    v[WARD_FP_LOCAL_ADDR] = lidx;
    v[WARD_FP_LOCAL_PORT] = f->local_port;
    v[WARD_FP_REMOTE_PORT] = f->remote_port;
    v[WARD_FP_PACKETS_OUT] = f->pkts_out;
    v[WARD_FP_PACKETS_IN] = f->pkts_in;
    v[WARD_FP_BYTES_OUT] = f->bytes_out;
    v[WARD_FP_BYTES_IN] = f->bytes_in;
    /* Flow times count from flow_t0_s (no rebase runs while a report is written: this side does
     * it, after one). A saturated last is only known to be late in the period: its end. */
    v[WARD_FP_FIRST] = offset_s(a, a->flow_t0_s + f->first_t, rc);
    v[WARD_FP_LAST] = offset_s(a, f->last_t == WARD__FLOW_T_SAT ? UINT32_MAX
                                                                : a->flow_t0_s + f->last_t, rc);
    v[WARD_FP_TCP_FLAGS] = (uint64_t)f->tcp_out | ((uint64_t)f->tcp_in << 8);
    ward__cbor_array(w, n);
    uints(w, v, WARD_FP_REMOTE_ADDR);
    ward__cbor_bstr(w, f->remote, alen);
    uints(w, v + WARD_FP_REMOTE_PORT, n - WARD_FP_REMOTE_PORT);
}

/* Detection idx, read once under the critical section; 0 when it has nothing to report. */
static int encode_detect(ward_agent_t *a, ward__cbor_t *w, const report_ctx_t *rc, uint32_t idx)
{
    ward__detect_t d;
    WARD_DECL_CRITICAL();

    WARD_ENTER_CRITICAL();
    d = a->detect[idx];
    WARD_EXIT_CRITICAL();
    if (d.count != 0) {
        uint64_t v[10] = {WARD_DK_DENY_LIST, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        v[WARD_DP_DIRECTION] = d.dir;
        v[WARD_DP_PROTO] = d.proto;
        v[WARD_DP_REMOTE_PORT] = d.remote_port;
        v[WARD_DP_LOCAL_PORT] = d.local_port;
        v[WARD_DP_RULE] = d.rule;
        v[WARD_DP_ACTION] = d.action;
        v[WARD_DP_COUNT] = d.count;
        v[WARD_DP_TIME] = offset_s(a, d.time_s, rc);
        ward__cbor_array(w, 10);
        uints(w, v, WARD_DP_REMOTE_ADDR);
        ward__cbor_bstr(w, d.remote, d.family == 6u ? 16u : 4u);
        uints(w, v + WARD_DP_REMOTE_PORT, 10u - WARD_DP_REMOTE_PORT);
    }
    return d.count != 0;
}

/* Key 20's map (report side data only). */
static void encode_sysinfo(const ward_agent_t *a, ward__cbor_t *w)
{
    unsigned n = 1;
    unsigned k;
    int set = (a->si_flags & WARD__SI_SET) != 0;

    for (k = 0; k < WARD__SI_STRINGS; k++) {
        n += a->si_len[k] != 0;
    }
    ward__cbor_map(w, set ? n + 2u : n);
    for (k = 0; k < WARD__SI_STRINGS; k++) {
        if (a->si_len[k] != 0) {
            ward__cbor_uint(w, k);
            ward__cbor_tstr(w, a->si_str[k], a->si_len[k]);
        }
    }
    if (set) {
        ward__cbor_uint(w, WARD_SK_TLS);
        cbor_bool(w, a->si_flags & WARD__SI_TLS);
        ward__cbor_uint(w, WARD_SK_TIME_SYNCED);
        cbor_bool(w, a->si_flags & WARD__SI_SYNCED);
    }
    ward__cbor_uint(w, WARD_SK_FLOW_CAPACITY);
    ward__cbor_uint(w, WARD_MAX_FLOWS);
}

/* Listening socket idx of the snapshot; 0 (not written) when the port gave an invalid entry. */
static int encode_listen(const ward_agent_t *a, ward__cbor_t *w, uint32_t idx)
{
    const ward_listen_t *l = &a->listen[idx];
    int ok = (l->proto == WARD_IPPROTO_TCP || l->proto == WARD_IPPROTO_UDP) &&
             (l->family == 4u || l->family == 6u);

    if (ok) {
        ward__cbor_array(w, 3);
        ward__cbor_uint(w, l->proto);
        ward__cbor_bstr(w, l->addr, l->family == 6u ? 16u : 4u);
        ward__cbor_uint(w, l->port);
    }
    return ok;
}

/* Metric idx as a map pair name -> int; 0 for a free slot. */
static int encode_metric(const ward_agent_t *a, ward__cbor_t *w, uint32_t idx)
{
#if WARD_MAX_METRICS > 0
    const ward__metric_t *m = &a->metrics[idx];

    if (m->len != 0) {
        ward__cbor_tstr(w, m->name, m->len);
        if (m->value >= 0) {
            ward__cbor_uint(w, (uint64_t)m->value);
        } else {
            ward__cbor_head(w, 1u, (uint64_t)(-1 - m->value)); /* negative: -1 - n */
        }
    }
    return m->len != 0;
#else
    (void)a;
    (void)w;
    (void)idx;
    return 0;
#endif
}

/*
 * Item idx of a kind, read once under the critical section. Returns 0 when it has nothing to
 * report (nothing written), else writes it and returns 1.
 */
static int encode_item(ward_agent_t *a, ward__cbor_t *w, const report_ctx_t *rc, int kind,
                       uint32_t idx)
{
    ward__flow_t f;
    ward__overflow_t o;
    uint32_t mf;
    int has;
    WARD_DECL_CRITICAL();

    if (kind == ITEM_DETECT) {
        has = encode_detect(a, w, rc, idx);
    } else if (kind == ITEM_SYSINFO) {
        encode_sysinfo(a, w);
        has = 1;
    } else if (kind == ITEM_LISTEN) {
        has = encode_listen(a, w, idx);
    } else if (kind == ITEM_METRIC) {
        has = encode_metric(a, w, idx);
    } else if (kind == ITEM_FLOW) {
        WARD_ENTER_CRITICAL();
        f = a->flows[idx];
        WARD_EXIT_CRITICAL();
        has = f.pkts_out != 0 || f.pkts_in != 0;
        if (has) {
            encode_flow(a, w, &f, rc);
        }
    } else if (kind == ITEM_OVERFLOW) {
        WARD_ENTER_CRITICAL();
        o = a->overflow[idx];
        WARD_EXIT_CRITICAL();
        has = o.flows != 0 || o.packets != 0 || o.bytes != 0;
        if (has) {
            ward__cbor_array(w, 5);
            kv(w, o.proto, o.dir);
            kv(w, o.flows, o.packets);
            ward__cbor_uint(w, o.bytes);
        }
    } else {
        WARD_ENTER_CRITICAL();
        mf = a->malformed[idx];
        WARD_EXIT_CRITICAL();
        has = mf != 0;
        if (has) {
            kv(w, idx, mf); /* a map pair: reason -> packets */
        }
    }
    return has;
}

/*
 * Pack items of one kind from p->start[kind] under `key`, as many as fit in w->cap - room.
 * Without any item the key is left out, unless `always`. Returns WARD_E_BUFFER only when an
 * `always` key and its empty array do not fit.
 */
static ward_status_t pack(ward_agent_t *a, ward__cbor_t *w, const report_ctx_t *rc, part_t *p,
                          int kind, unsigned key, unsigned major, size_t room, int always,
                          unsigned *keys)
{
    static const uint8_t reserve[HEAD_RESERVE] = {0, 0, 0};
    size_t rsv = major == HEADLESS ? 0u : HEAD_RESERVE;
    ward_status_t st = WARD_OK;
    size_t cap = w->cap;
    size_t key_at = w->len;
    size_t arr_at;
    size_t save;
    size_t h;
    uint32_t j = p->start[kind];

    p->n[kind] = 0;
    w->cap = cap > room ? cap - room : 0u;
    ward__cbor_uint(w, key);
    arr_at = w->len;
    ward__cbor_raw(w, reserve, rsv);
    while (!w->overflow && j < rc->end[kind]) {
        save = w->len;
        if (encode_item(a, w, rc, kind, j)) {
            if (w->overflow) {
                w->len = save; /* does not fit: the item goes to the next part */
                break;
            }
            p->n[kind]++;
        }
        j++;
    }
    w->overflow = 0;
    w->cap = cap;
    p->stop[kind] = j;

    if (p->n[kind] == 0 && !always) {
        w->len = key_at;
    } else if (arr_at + rsv > w->cap) {
        st = WARD_E_BUFFER;
    } else {
        /* The head is known now: write it and close the gap left by the reservation. */
        h = rsv == 0 ? 0u : ward__cbor_head_size(p->n[kind]);
        if (w->buf != NULL && rsv != 0) {
            /* Moves the items back by rsv - h bytes (the destination comes first, so a forward
             * copy is safe): a byte loop, where memmove() would cost 250 bytes of flash. */
            for (save = arr_at + rsv; save < w->len; save++) {
                w->buf[save - (rsv - h)] = w->buf[save];
            }
            (void)ward__cbor_put_head(w->buf + arr_at, major, p->n[kind]);
        }
        w->len -= rsv - h;
        p->off[kind] = arr_at + h;
        (*keys)++;
    }
    return st;
}

/* Key 18: the whole local address table. */
static void encode_local(ward_agent_t *a, ward__cbor_t *w)
{
    uint8_t addr[16];
    uint8_t family;
    unsigned n;
    unsigned i;
    WARD_DECL_CRITICAL();

    WARD_ENTER_CRITICAL();
    n = a->local_count;
    WARD_EXIT_CRITICAL();
    ward__cbor_uint(w, WARD_RK_LOCAL_ADDRS);
    ward__cbor_array(w, n);
    for (i = 0; i < n; i++) {
        WARD_ENTER_CRITICAL();
        memcpy(addr, a->local_addr[i], sizeof addr);
        family = a->local_family[i];
        WARD_EXIT_CRITICAL();
        ward__cbor_bstr(w, addr, family == 6u ? 16u : 4u);
    }
}

/* Key 21: non-zero totals. They only grow meanwhile, so the first n non-zero ones exist. */
static void encode_counters(ward_agent_t *a, ward__cbor_t *w)
{
    uint64_t v;
    uint32_t n = 0;
    uint32_t done = 0;
    unsigned i;
    WARD_DECL_CRITICAL();

    WARD_ENTER_CRITICAL();
    for (i = 0; i < WARD_CTR_COUNT_; i++) {
        n += (uint32_t)(a->counters[i] != 0);
    }
    WARD_EXIT_CRITICAL();
    ward__cbor_uint(w, WARD_RK_COUNTERS);
    ward__cbor_map(w, n);
    for (i = 0; i < WARD_CTR_COUNT_ && done < n; i++) {
        WARD_ENTER_CRITICAL();
        v = a->counters[i];
        WARD_EXIT_CRITICAL();
        if (v != 0) {
            ward__cbor_uint(w, i);
            ward__cbor_uint(w, v);
            done++;
        }
    }
}

/*
 * Write part p->index (or measure it, when w has no buffer): the header, then as many items from
 * p->start as fit. Returns WARD_E_BUFFER when not even the part's header fits.
 */
static ward_status_t encode_part(ward_agent_t *a, ward__cbor_t *w, const report_ctx_t *rc,
                                 part_t *p)
{
    const char *version = WARD_AGENT_VERSION;
    ward_status_t st = WARD_OK;
    unsigned keys = 10; /* 0-9 */
    int flows_on = (rc->collectors & WARD_COL_FLOWS) != 0;
    int k;

    for (k = 0; k < ITEM_KINDS_; k++) {
        p->n[k] = 0;
        p->off[k] = 0;
        p->stop[k] = p->start[k];
    }
    ward__cbor_map(w, 0); /* patched below: fewer than 24 keys, so one byte */
    ward__cbor_uint(w, WARD_RK_VERSION);
    ward__cbor_array(w, 2);
    ward__cbor_uint(w, WARD_PROTO_MAJOR);
    ward__cbor_uint(w, WARD_PROTO_MINOR);
    ward__cbor_uint(w, WARD_RK_DEVICE_ID);
    cbor_str(w, a->device_id);
    ward__cbor_uint(w, WARD_RK_AGENT_VERSION);
    cbor_str(w, version);
    kv(w, WARD_RK_BOOT_ID, a->boot_id);
    kv(w, WARD_RK_SEQ, rc->seq);
    kv(w, WARD_RK_PERIOD_START, rc->start_ms);
    kv(w, WARD_RK_PERIOD_END, rc->end_ms);
    ward__cbor_uint(w, WARD_RK_PART);
    ward__cbor_array(w, 2);
    ward__cbor_uint(w, p->index);
    ward__cbor_uint(w, p->total);
    kv(w, WARD_RK_TIME_BASE, a->time_base);
    kv(w, WARD_RK_INTERVAL, a->interval_s);
    if (a->config_rev != 0) {
        kv(w, WARD_RK_CONFIG_REV, a->config_rev);
        keys++;
    }
    if (rc->priority) {
        ward__cbor_uint(w, WARD_RK_PRIORITY);
        cbor_bool(w, 1);
        keys++;
    }
    if (p->index == 0 && rc->cs) {
        ward__cbor_uint(w, WARD_RK_CONFIG_STATUS);
        ward__cbor_array(w, 3);
        kv(w, a->cs_rev, a->cs_status); /* [revision, status, ...] */
        cbor_str(w, a->cs_reason);
        keys++;
    }
    if (flows_on && !rc->priority) {
        encode_local(a, w);
        keys++;
    }
    if (p->index == 0 && (rc->collectors & WARD_COL_COUNTERS) && !rc->priority) {
        encode_counters(a, w);
        keys++;
    }

    if (w->overflow || w->len + FLOWS_KEY_ROOM > w->cap) {
        st = WARD_E_BUFFER;
    } else {
        for (k = 0; k < ITEM_KINDS_; k++) {
            /* Flows last, with the rest of the part; the others leave room for its key. Key 19
             * is always in part 0 when the collector is on: an empty list is news too. */
            st = pack(a, w, rc, p, k, item_key[k], item_major[k],
                      k == ITEM_FLOW ? 0u : FLOWS_KEY_ROOM,
                      k == ITEM_FLOW ? flows_on && !rc->priority
                                     : k == ITEM_LISTEN && p->index == 0 &&
                                           (rc->collectors & WARD_COL_LISTENING) &&
                                           a->listen_fn != NULL && !rc->priority,
                      &keys);
            if (st != WARD_OK) {
                break;
            }
        }
        if (w->buf != NULL) {
            (void)ward__cbor_put_head(w->buf, WARD__CBOR_MAP, keys);
        }
    }
    return st;
}

/* Whether part p reached the end of every kind of item. */
static int part_done(const report_ctx_t *rc, const part_t *p)
{
    int done = 1;
    int k;

    for (k = 0; k < ITEM_KINDS_; k++) {
        done &= p->stop[k] >= rc->end[k];
    }
    return done;
}

static int get_uint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
    unsigned major = 0;
    int rc = ward__cbor_read_head(buf, len, pos, &major, v);
    return rc == 0 && major == WARD__CBOR_UINT ? 0 : -1;
}

static uint32_t sub32(uint32_t have, uint64_t sent)
{
    return sent >= have ? 0u : have - (uint32_t)sent;
}

/*
 * One item array of a part at buf[*pos] (written by this side; checked anyway): nmin..nmax
 * positions, unsigned integers except position bpos, a bstr of at most 16 bytes (*remote, *alen).
 * v[] gets the integers (zero past the array's end). Returns 0, or -1 when it does not parse.
 */
static int read_item(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v, unsigned nmin,
                     unsigned nmax, unsigned bpos, const uint8_t **remote, uint64_t *alen)
{
    unsigned major = 0;
    uint64_t n = 0;
    unsigned i;
    int bad;

    memset(v, 0, nmax * sizeof *v);
    bad = ward__cbor_read_head(buf, len, pos, &major, &n) != 0 || major != WARD__CBOR_ARRAY ||
          n < nmin || n > nmax;
    for (i = 0; i < n && !bad; i++) {
        if (i == bpos) {
            bad = ward__cbor_read_head(buf, len, pos, &major, alen) != 0 ||
                  major != WARD__CBOR_BSTR || *alen > 16u || len - *pos < *alen;
            if (!bad) {
                *remote = buf + *pos;
                *pos += (size_t)*alen;
            }
        } else {
            bad = get_uint(buf, len, pos, &v[i]);
        }
    }
    return bad;
}

/* The transport accepted part p: take what it carried off the live deltas. */
static void settle_part(ward_agent_t *a, const uint8_t *buf, size_t len, const part_t *p,
                        const report_ctx_t *rc)
{
    size_t pos;
    uint64_t v[WARD_FP_COUNT_];
    uint64_t alen = 0;
    const uint8_t *remote = NULL;
    uint32_t j = p->start[ITEM_FLOW];
    uint32_t k;
    int bad = 0;
    int match;
    ward__flow_t *f;
    ward__overflow_t *o;
    WARD_DECL_CRITICAL();

    if (p->n[ITEM_SYSINFO] != 0) {
        a->si_due = 0;
        a->si_next_ms = rc->end_ms + (uint64_t)WARD_SYSINFO_PERIOD_S * 1000u;
    }
    if (p->index == 0 && rc->cs) {
        a->cs_pending = 0; /* said once; apply_config() runs in this thread, not meanwhile */
    }

    pos = p->off[ITEM_DETECT];
    for (k = 0; k < p->n[ITEM_DETECT] && !bad; k++) {
        bad = read_item(buf, len, &pos, v, 10, 10, WARD_DP_REMOTE_ADDR, &remote, &alen);
        if (!bad) {
            WARD_ENTER_CRITICAL();
            ward__detect_settle(a, (unsigned)v[WARD_DP_RULE], remote, (size_t)alen,
                                v[WARD_DP_COUNT]);
            WARD_EXIT_CRITICAL();
        }
    }

    pos = p->off[ITEM_FLOW];
    for (k = 0; k < p->n[ITEM_FLOW] && !bad; k++) {
        bad = read_item(buf, len, &pos, v, WARD_FP_TCP_FLAGS, WARD_FP_COUNT_, WARD_FP_REMOTE_ADDR,
                        &remote, &alen);
        /* The part's flows are a subsequence of flows[start, stop), in order: find the next one
         * with this key (keys never change, and only this side moves flows; the compare is in the
         * critical section anyway because the hook may write the same meta byte). */
        while (!bad && j < p->stop[ITEM_FLOW]) {
            f = &a->flows[j];
            WARD_ENTER_CRITICAL();
            match = f->proto == v[WARD_FP_PROTO] &&
                    (f->meta & WARD__FM_LOCAL_MASK) == v[WARD_FP_LOCAL_ADDR] &&
                    f->local_port == v[WARD_FP_LOCAL_PORT] &&
                    f->remote_port == v[WARD_FP_REMOTE_PORT] &&
                    memcmp(f->remote, remote, (size_t)alen) == 0;
            if (match) {
                f->pkts_out = sub32(f->pkts_out, v[WARD_FP_PACKETS_OUT]);
                f->pkts_in = sub32(f->pkts_in, v[WARD_FP_PACKETS_IN]);
                f->bytes_out = sub32(f->bytes_out, v[WARD_FP_BYTES_OUT]);
                f->bytes_in = sub32(f->bytes_in, v[WARD_FP_BYTES_IN]);
                f->meta = (uint8_t)(f->meta | WARD__FM_CONTINUED | WARD__FM_ACTIVE);
                if (f->pkts_out == 0 && f->pkts_in == 0) {
                    /* Nothing arrived while the part was out: flags start afresh. Otherwise
                     * they stay (a superset next time; never a flag lost). */
                    f->tcp_out = 0;
                    f->tcp_in = 0;
                }
            }
            WARD_EXIT_CRITICAL();
            j++;
            if (match) {
                break;
            }
        }
    }

    pos = p->off[ITEM_OVERFLOW];
    for (k = 0; k < p->n[ITEM_OVERFLOW] && !bad; k++) {
        bad = read_item(buf, len, &pos, v, 5, 5, 5, &remote, &alen);
        if (!bad) {
            WARD_ENTER_CRITICAL();
            o = ward__overflow_find(a, (uint8_t)v[WARD_OP_PROTO], (uint8_t)v[WARD_OP_DIRECTION]);
            if (o != NULL) {
                o->flows = sub32(o->flows, v[WARD_OP_FLOWS]);
                o->packets = sub32(o->packets, v[WARD_OP_PACKETS]);
                o->bytes = sub32(o->bytes, v[WARD_OP_BYTES]);
            }
            WARD_EXIT_CRITICAL();
        }
    }
    if (p->index == 0 && !rc->priority) {
        /* A new period: an untracked flow seen again counts as a flow of this period too. */
        WARD_ENTER_CRITICAL();
        memset(a->overflow_seen, 0, sizeof a->overflow_seen);
        WARD_EXIT_CRITICAL();
    }

    pos = p->off[ITEM_MALFORMED];
    for (k = 0; k < p->n[ITEM_MALFORMED] && !bad; k++) {
        bad = get_uint(buf, len, &pos, &v[0]) || get_uint(buf, len, &pos, &v[1]) ||
              v[0] >= WARD_MF_COUNT_;
        if (!bad) {
            WARD_ENTER_CRITICAL();
            a->malformed[v[0]] = sub32(a->malformed[v[0]], v[1]);
            WARD_EXIT_CRITICAL();
        }
    }
}

/* Time t of a flow, rebased to a time base delta seconds later (0 when it lies before it). */
static uint16_t rebase_t(uint16_t t, uint32_t delta)
{
    return (uint16_t)(t > delta ? t - delta : 0u);
}

/*
 * After a complete report: flows idle for the whole period go, to make room, and the others are
 * rebased to the new period start t0 (seconds since init), one flow per critical section: the
 * hook times flows [0, flow_rebased) from the new base and the rest from the old one, so each flow
 * has one base at any moment. A saturated last becomes the flow's first: such a flow's packets
 * came in while the report was written, after 18 hours of period, and no earlier time is known.
 */
static void evict_idle(ward_agent_t *a, uint32_t t0)
{
    uint32_t j = 0;
    uint32_t delta = t0 - a->flow_t0_s; /* report side alone writes flow_t0_s */
    int more = 1;
    ward__flow_t *f;
    WARD_DECL_CRITICAL();

    WARD_ENTER_CRITICAL();
    a->flow_t0_next_s = t0;
    a->flow_rebased = 0;
    WARD_EXIT_CRITICAL();
    while (more) {
        WARD_ENTER_CRITICAL();
        if (j >= a->flow_count) {
            a->flow_t0_s = t0;
            a->flow_rebased = 0;
            more = 0;
        } else {
            f = &a->flows[j];
            if (f->pkts_out == 0 && f->pkts_in == 0 && (f->meta & WARD__FM_ACTIVE) == 0) {
                ward__flow_remove(a, j); /* the last flow moved to j: look at j again */
            } else {
                f->meta = (uint8_t)(f->meta & ~WARD__FM_ACTIVE);
                f->first_t = rebase_t(f->first_t, delta);
                f->last_t = f->last_t == WARD__FLOW_T_SAT ? f->first_t
                                                          : rebase_t(f->last_t, delta);
                j++;
                a->flow_rebased = j;
            }
        }
        WARD_EXIT_CRITICAL();
    }
}

ward_status_t ward__report_send(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap,
                                int priority)
{
    ward_status_t st = WARD_OK;
    const ward_transport_t *t = agent->transport;
    report_ctx_t rc;
    part_t p;
    ward__cbor_t w;
    uint32_t total = 0;
    uint32_t accepted = 0;
    uint32_t i;
    size_t nl = 0;
    int k;
    int progress;
    int done = 0;
    uint8_t prio;
    int32_t r;
    WARD_DECL_CRITICAL();

    memset(&rc, 0, sizeof rc);
    rc.start_ms = agent->period_start_ms;
    rc.end_ms = now_ms > rc.start_ms ? now_ms : rc.start_ms;
    rc.seq = agent->seq;
    rc.priority = (uint8_t)(priority != 0);
    rc.collectors = agent->collectors; /* written by apply_config(), in this thread */
    rc.cs = agent->cs_pending;
    rc.end[ITEM_DETECT] = WARD_MAX_DETECTIONS;
    if (!priority) {
        if ((rc.collectors & WARD_COL_SYSINFO) &&
            (agent->si_due || now_ms >= agent->si_next_ms)) {
            rc.end[ITEM_SYSINFO] = 1;
        }
        if ((rc.collectors & WARD_COL_LISTENING) && agent->listen_fn != NULL) {
            /* A snapshot for this report: the parts are planned and written from it. */
            nl = agent->listen_fn(agent->listen_ctx, agent->listen, WARD_MAX_LISTEN);
            rc.end[ITEM_LISTEN] = (uint32_t)(nl < WARD_MAX_LISTEN ? nl : WARD_MAX_LISTEN);
        }
        if (rc.collectors & WARD_COL_METRICS) {
            rc.end[ITEM_METRIC] = WARD_MAX_METRICS;
        }
        if (rc.collectors & WARD_COL_FLOWS) {
            rc.end[ITEM_OVERFLOW] = WARD_OVERFLOW_SLOTS;
            rc.end[ITEM_MALFORMED] = WARD_MF_COUNT_;
            WARD_ENTER_CRITICAL();
            rc.end[ITEM_FLOW] = agent->flow_count;
            WARD_EXIT_CRITICAL();
        }
    }
    /* The detections this report carries need no priority report any more; one that arrives
     * from now on sets the flag again. Put back below if the report is not sent. */
    WARD_ENTER_CRITICAL();
    prio = agent->prio;
    agent->prio = 0;
    WARD_EXIT_CRITICAL();

    /* Plan: how many parts. Measured with the largest part numbers, so no real header is larger. */
    memset(&p, 0, sizeof p);
    while (st == WARD_OK && !done) {
        ward__cbor_init(&w, NULL, cap);
        p.index = total;
        p.total = PARTS_MAX;
        st = encode_part(agent, &w, &rc, &p);
        progress = 0;
        for (k = 0; k < ITEM_KINDS_; k++) {
            progress |= p.n[k] != 0;
            p.start[k] = p.stop[k];
        }
        done = part_done(&rc, &p);
        total++;
        if (st == WARD_OK && !done && (total >= PARTS_MAX || (!progress && total > 1))) {
            st = WARD_E_BUFFER; /* one item alone does not fit beside the header */
        }
    }

    if (st == WARD_OK && total > 1) {
        WARD_ENTER_CRITICAL();
        agent->counters[WARD_CTR_REPORTS_SPLIT]++;
        WARD_EXIT_CRITICAL();
    }
    memset(&p, 0, sizeof p);
    done = 0;
    for (i = 0; st == WARD_OK && i < total; i++) {
        ward__cbor_init(&w, buf, cap);
        p.index = i;
        p.total = total;
        st = encode_part(agent, &w, &rc, &p);
        if (st == WARD_OK) {
            r = t->publish(t->ctx, buf, w.len, priority);
            if (r > 0 && (size_t)r == w.len) {
                settle_part(agent, buf, w.len, &p, &rc);
                accepted++;
                done = part_done(&rc, &p);
                for (k = 0; k < ITEM_KINDS_; k++) {
                    p.start[k] = p.stop[k];
                }
            } else {
                if (r < 0) {
                    WARD_ENTER_CRITICAL();
                    agent->counters[WARD_CTR_PUBLISH_FAILED]++;
                    WARD_EXIT_CRITICAL();
                }
                st = WARD_E_AGAIN; /* anything but "all of it" means "not taken" */
            }
        }
    }

    if (accepted > 0) {
        agent->seq++; /* the service saw this seq: the next report needs a new one */
    }
    if (st != WARD_OK || !done) {
        WARD_ENTER_CRITICAL();
        agent->prio = (uint8_t)(agent->prio | prio);
        WARD_EXIT_CRITICAL();
    } else if (!priority) {
        agent->period_start_ms = rc.end_ms;
        evict_idle(agent, ward__agent_seconds(agent, rc.end_ms));
        WARD_ENTER_CRITICAL();
        ward__detect_period_end(agent);
        WARD_EXIT_CRITICAL();
    }
    return st;
}
