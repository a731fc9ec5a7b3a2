/*
 * Config messages from the service (docs/protocol.md, section 5): a bounded CBOR decoder, and the
 * atomic apply.
 *
 * The decoder reads untrusted bytes. It has no recursion and no heap: nested items of unknown keys
 * are skipped with a fixed stack of item counts, WARD_CONFIG_DEPTH_MAX deep. Every head is read by
 * ward__cbor_read_head(), which checks its bytes against the end; every length is checked against
 * the bytes left before it is used (an array of n items needs at least n bytes, so a huge n is
 * "incomplete" at once, not a long loop). Indefinite lengths are refused (WARD_E_UNSUPPORTED);
 * the service never writes them. Integers may use any encoding length (RFC 8949 decoders accept
 * non-shortest heads).
 *
 * A rejection's reason is the name of the field that failed ("version", "revision", "interval",
 * "collectors", "deny", or "map" for the message itself and keys of later versions); the status
 * says how it failed. Names rather than sentences keep the decoder small: they are flash.
 *
 * Apply: the message is decoded whole into a staging ward__config_t on the stack; only when all of
 * it is valid is it copied into the agent, under the critical section (the hook reads the
 * collectors and the deny-list there), so the hook sees the old config or the new one, never a
 * mix. Threads: report side only (the copy itself is the only shared write).
 */
#include <string.h>

#include "agent_internal.h"
#include "ward_cbor.h"

typedef struct rd {
    const uint8_t *b;
    size_t len;
    size_t pos;
    const char *field; /* the field being read: the reason reported when it is rejected */
} rd_t;


/* One head; a bstr/tstr payload must be there too (it is left unread at r->pos). */
static ward_status_t head(rd_t *r, unsigned *major, uint64_t *v)
{
    ward_status_t st = WARD_OK;
    unsigned ai;

    if (r->pos >= r->len) {
        st = WARD_E_INCOMPLETE;
    } else {
        ai = r->b[r->pos] & 0x1fu;
        if (ai == 31u) {
            st = WARD_E_UNSUPPORTED;
        } else if (ai > 27u) {
            st = WARD_E_MALFORMED;
        } else if (ward__cbor_read_head(r->b, r->len, &r->pos, major, v) != 0) {
            st = WARD_E_INCOMPLETE;
        } else if ((*major == WARD__CBOR_BSTR || *major == WARD__CBOR_TSTR) &&
                   *v > r->len - r->pos) {
            st = WARD_E_INCOMPLETE;
        }
    }
    return st;
}

/* A head of the given major type. */
static ward_status_t expect(rd_t *r, unsigned want, uint64_t *v)
{
    unsigned major = 0;
    ward_status_t st = head(r, &major, v);

    if (st == WARD_OK && major != want) {
        st = WARD_E_MALFORMED;
    }
    return st;
}

/*
 * Skip n items at nesting level depth (1 = the values of the top-level map), whatever they are.
 * left[] holds the items still to skip at each level entered; no recursion.
 */
static ward_status_t skip(rd_t *r, uint64_t n, unsigned depth)
{
    uint64_t left[WARD_CONFIG_DEPTH_MAX + 1];
    unsigned top = 1;
    unsigned major = 0;
    uint64_t v = 0;
    ward_status_t st = WARD_OK;

    left[0] = n;
    while (st == WARD_OK && top > 0) {
        if (left[top - 1u] == 0) {
            top--;
            continue;
        }
        left[top - 1u]--;
        st = head(r, &major, &v);
        if (st != WARD_OK) {
            break;
        }
        if (major == WARD__CBOR_BSTR || major == WARD__CBOR_TSTR) {
            r->pos += (size_t)v; /* head() checked it is there */
        } else if (major == WARD__CBOR_ARRAY || major == 5u /* map */) {
            if (v > r->len - r->pos || (major == 5u && v > (r->len - r->pos) / 2u)) {
                st = WARD_E_INCOMPLETE;
            } else if (depth + top > WARD_CONFIG_DEPTH_MAX) {
                st = WARD_E_UNSUPPORTED;
            } else {
                left[top++] = major == 5u ? v * 2u : v;
            }
        } else if (major == 6u) {
            left[top - 1u]++; /* a tag: its content follows, at the same level */
        }
        /* Integers and simple values: the head was all of it. */
    }
    return st;
}

/* An unsigned integer in [lo, hi]; *v is set once it is known to be an unsigned integer. */
static ward_status_t uint_in(rd_t *r, uint64_t lo, uint64_t hi, uint64_t *v)
{
    uint64_t u = 0;
    ward_status_t st = expect(r, WARD__CBOR_UINT, &u);

    if (st == WARD_OK) {
        *v = u;
        if (u < lo || u > hi) {
            st = WARD_E_RANGE;
        }
    }
    return st;
}

/* Key 0: [major, minor, ...]. */
static ward_status_t read_version(rd_t *r)
{
    uint64_t n = 0;
    uint64_t major = 0;
    uint64_t minor = 0;
    ward_status_t st = expect(r, WARD__CBOR_ARRAY, &n);

    if (st == WARD_OK && n < 2u) {
        st = WARD_E_MALFORMED;
    }
    if (st == WARD_OK) {
        st = expect(r, WARD__CBOR_UINT, &major);
    }
    if (st == WARD_OK) {
        st = expect(r, WARD__CBOR_UINT, &minor);
    }
    if (st == WARD_OK) {
        st = skip(r, n - 2u, 2);
    }
    if (st == WARD_OK && major != WARD_PROTO_MAJOR) {
        st = WARD_E_UNSUPPORTED;
    }
    return st;
}

/* One deny-list entry: [addr bstr (4|16), prefix uint, action uint, ...]. */
static ward_status_t read_deny(rd_t *r, ward__deny_t *d)
{
    uint64_t n = 0;
    uint64_t alen = 0;
    uint64_t prefix = 0;
    uint64_t action = 0;
    unsigned i;
    ward_status_t st = expect(r, WARD__CBOR_ARRAY, &n);

    memset(d, 0, sizeof *d);
    if (st == WARD_OK && n < 3u) {
        st = WARD_E_MALFORMED;
    }
    if (st == WARD_OK) {
        st = expect(r, WARD__CBOR_BSTR, &alen);
    }
    if (st == WARD_OK && alen != 4u && alen != 16u) {
        st = WARD_E_RANGE;
    }
    if (st == WARD_OK) {
        memcpy(d->addr, r->b + r->pos, (size_t)alen);
        r->pos += (size_t)alen;
        d->family = alen == 4u ? 4u : 6u;
        st = uint_in(r, 0, alen * 8u, &prefix);
    }
    if (st == WARD_OK) {
        st = uint_in(r, WARD_DENY_ALERT, WARD_DENY_DROP, &action);
    }
    if (st == WARD_OK && prefix == 0 && action == WARD_DENY_DROP) {
        /* It would drop all traffic of a family, the config channel's included. */
        st = WARD_E_RANGE;
    }
    if (st == WARD_OK) {
        st = skip(r, n - 3u, 3);
    }
    if (st == WARD_OK) {
        d->prefix = (uint8_t)prefix;
        d->action = (uint8_t)action;
        /* Clear the host bits: the hook then compares whole bytes and one masked byte. */
        for (i = (unsigned)prefix; i < 128u; i++) {
            d->addr[i >> 3] = (uint8_t)(d->addr[i >> 3] & ~(0x80u >> (i & 7u)));
        }
    }
    return st;
}

static ward_status_t read_deny_list(rd_t *r, ward__config_t *c)
{
    uint64_t n = 0;
    uint64_t i;
    ward_status_t st = expect(r, WARD__CBOR_ARRAY, &n);

    if (st == WARD_OK && n > WARD_MAX_DENY) {
        st = WARD_E_FULL;
    }
    for (i = 0; st == WARD_OK && i < n; i++) {
        st = read_deny(r, &c->deny[i]);
    }
    if (st == WARD_OK) {
        c->deny_count = (uint8_t)n;
    }
    return st;
}

static const char *const field_names[WARD_CK_DENY + 1] = {"version", "revision", "interval",
                                                          "collectors", "deny"};

ward_status_t ward__config_decode(const ward_agent_t *agent, const uint8_t *buf, size_t len,
                                  ward__config_t *c, const char **reason)
{
    rd_t r;
    uint64_t n = 0;
    uint64_t i;
    uint64_t key = 0;
    uint64_t v = 0;
    unsigned seen = 0;
    ward_status_t st;

    r.b = buf;
    r.len = len;
    r.pos = 0;
    r.field = "map";
    memset(c, 0, sizeof *c);
    c->interval_s = agent->base_interval_s;
    c->collectors = WARD_COL_ALL_;

    st = expect(&r, 5u /* map */, &n);
    if (st == WARD_OK && n > (len - r.pos) / 2u) {
        st = WARD_E_INCOMPLETE;
    }
    for (i = 0; st == WARD_OK && i < n; i++) {
        r.field = "map";
        st = expect(&r, WARD__CBOR_UINT, &key);
        if (st == WARD_OK && key <= WARD_CK_DENY) {
            r.field = field_names[key];
            if (seen & (1u << key)) {
                st = WARD_E_MALFORMED; /* twice */
            }
            seen |= 1u << key;
        }
        if (st != WARD_OK) {
            break;
        }
        switch (key) {
        case WARD_CK_VERSION:
            st = read_version(&r);
            break;
        case WARD_CK_REVISION:
            st = uint_in(&r, 1, UINT64_MAX, &c->revision);
            break;
        case WARD_CK_INTERVAL:
            st = uint_in(&r, 10, 86400, &v);
            c->interval_s = (uint32_t)v;
            break;
        case WARD_CK_COLLECTORS:
            /* Bits of collectors this agent does not have (later minor versions) are ignored. */
            st = expect(&r, WARD__CBOR_UINT, &v);
            c->collectors = (uint8_t)(v & WARD_COL_ALL_);
            break;
        case WARD_CK_DENY:
            st = read_deny_list(&r, c);
            break;
        default:
            st = skip(&r, 1, 1); /* a key of a later minor version */
            break;
        }
    }
    if (st == WARD_OK && r.pos != len) {
        r.field = "map"; /* bytes after it */
        st = WARD_E_MALFORMED;
    } else if (st == WARD_OK && (seen & (1u << WARD_CK_VERSION)) == 0) {
        r.field = field_names[WARD_CK_VERSION]; /* missing */
        st = WARD_E_MALFORMED;
    } else if (st == WARD_OK && (seen & (1u << WARD_CK_REVISION)) == 0) {
        r.field = field_names[WARD_CK_REVISION];
        st = WARD_E_MALFORMED;
    }
    *reason = r.field;
    return st;
}

ward_status_t ward_agent_apply_config(ward_agent_t *agent, const uint8_t *cbor, size_t len,
                                      uint64_t now_ms)
{
    ward__config_t c;
    const char *reason = "";
    ward_status_t st;
    uint64_t due;
    WARD_DECL_CRITICAL();

    if (agent == NULL || agent->magic != WARD__AGENT_MAGIC || (cbor == NULL && len > 0)) {
        st = WARD_E_ARG;
    } else {
        st = ward__config_decode(agent, cbor, len, &c, &reason);
        if (st == WARD_OK) {
            WARD_ENTER_CRITICAL();
            agent->collectors = c.collectors;
            agent->deny_count = c.deny_count;
            memcpy(agent->deny, c.deny, sizeof agent->deny);
            WARD_EXIT_CRITICAL();
            agent->config_rev = c.revision;
            agent->cs_pending = 0;
            if (c.interval_s != agent->interval_s) {
                agent->interval_s = c.interval_s;
                due = agent->period_start_ms + (uint64_t)c.interval_s * 1000u;
                agent->next_due_ms = due > now_ms ? due : now_ms;
            }
        } else {
            agent->cs_pending = 1;
            agent->cs_status = (uint8_t)st;
            agent->cs_rev = c.revision; /* 0 when it was not reached */
            agent->cs_reason = reason;
            WARD_ENTER_CRITICAL();
            agent->counters[WARD_CTR_CONFIGS_REJECTED]++;
            WARD_EXIT_CRITICAL();
        }
    }
    return st;
}
