/*
 * The flow table, the local address table and the overflow summary.
 *
 * Flows live densely in agent->flows[0, flow_count): the report side walks them in order, and a
 * removal moves the last flow into the hole. A separate hash index (agent->buckets, at least twice
 * as many buckets as flows, linear probing, at most WARD_FLOW_PROBE_MAX buckets per lookup) maps a
 * key to its flow. Removal shifts later buckets back (no tombstones), so every flow stays within
 * WARD_FLOW_PROBE_MAX buckets of its home and a lookup may stop at the first empty bucket.
 *
 * Key: (proto, local address, local port, remote address, remote port), normalised by the
 * direction the caller gives, so that both directions of a conversation are one flow. The local
 * address is interned in a table of WARD_MAX_LOCAL_ADDRS and the flow stores its index. ICMP and
 * ICMPv6 flows use local port 0 and remote port type * 256 + code, so an echo request and its reply
 * are two flows (one each way); that keeps the key free of ICMP-specific rules.
 *
 * Invariant: every packet the hook accepts is counted exactly once, in one flow or in one overflow
 * entry. Threads: ward__flow_account() runs in the packet hook; ward__flow_remove() on the report
 * side; both only inside WARD_ENTER_CRITICAL(). The hook only ever appends flows; only the report
 * side removes or moves them.
 */
#include <string.h>

#include "agent_internal.h"

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* host order is fine: the value only feeds the hash */
    return v;
}

/* Address equality for 4 or 16 bytes: word compares the compiler inlines, where memcmp would be a
 * library call on the hot path. */
static int addr_eq(const uint8_t *a, const uint8_t *b, size_t alen)
{
    uint32_t d = rd32(a) ^ rd32(b);
    if (alen == 16u) {
        d |= (rd32(a + 4) ^ rd32(b + 4)) | (rd32(a + 8) ^ rd32(b + 8)) |
             (rd32(a + 12) ^ rd32(b + 12));
    }
    return d == 0;
}

/* murmur3's finaliser: cheap, and every input bit reaches every output bit. */
static uint32_t mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static uint32_t flow_hash(uint32_t seed, uint8_t proto, unsigned lidx, uint16_t lport,
                          uint16_t rport, const uint8_t *remote, size_t alen)
{
    uint32_t h = seed ^ ((uint32_t)proto << 24) ^ ((uint32_t)lidx << 16);
    h = mix32(h ^ (((uint32_t)lport << 16) | rport));
    h = mix32(h ^ rd32(remote));
    if (alen == 16u) {
        h = mix32(h ^ rd32(remote + 4));
        h = mix32(h ^ rd32(remote + 8));
        h = mix32(h ^ rd32(remote + 12));
    }
    return h;
}

static size_t family_len(uint8_t family)
{
    return family == 6u ? 16u : 4u;
}

static uint32_t flow_hash_of(const ward_agent_t *a, const ward__flow_t *f)
{
    unsigned lidx = f->meta & WARD__FM_LOCAL_MASK;
    return flow_hash(a->hash_seed, f->proto, lidx, f->local_port, f->remote_port, f->remote,
                     family_len(a->local_family[lidx]));
}

/* Local address slot of (family, addr), or -1. */
static int local_find(ward_agent_t *a, uint8_t family, const uint8_t *addr)
{
    size_t alen = family_len(family);
    unsigned i = a->local_hint;
    unsigned n;
    int found = -1;

    if (i < a->local_count && a->local_family[i] == family &&
        addr_eq(a->local_addr[i], addr, alen)) {
        found = (int)i;
    }
    for (n = 0; found < 0 && n < a->local_count; n++) {
        if (a->local_family[n] == family && addr_eq(a->local_addr[n], addr, alen)) {
            found = (int)n;
            a->local_hint = (uint8_t)n;
        }
    }
    return found;
}

/* A slot for a new local address (a new one, or one no flow uses any more), or -1. */
static int local_pick(const ward_agent_t *a)
{
    int slot = -1;
    unsigned n;

    if (a->local_count < WARD_MAX_LOCAL_ADDRS) {
        slot = a->local_count;
    }
    for (n = 0; slot < 0 && n < a->local_count; n++) {
        if (a->local_refs[n] == 0) {
            slot = (int)n;
        }
    }
    return slot;
}

ward__overflow_t *ward__overflow_find(ward_agent_t *agent, uint8_t proto, uint8_t dir)
{
    ward__overflow_t *o = NULL;
    unsigned i;

    for (i = 0; o == NULL && i < WARD_OVERFLOW_SLOTS; i++) {
        if (agent->overflow[i].proto == proto && agent->overflow[i].dir == dir) {
            o = &agent->overflow[i];
        }
    }
    return o;
}

static int overflow_is_free(const ward__overflow_t *o)
{
    return o->flows == 0 && o->packets == 0 && o->bytes == 0;
}

/*
 * Count a packet no flow holds. new_flow: the packet may start a new untracked flow; a filter
 * indexed by the flow's hash tells whether it was already counted this period (a collision makes
 * the flow count a lower bound, never a double count).
 */
static void overflow_add(ward_agent_t *a, uint8_t proto, int dir, uint32_t ip_len, int new_flow,
                         uint32_t hash)
{
    ward__overflow_t *o = ward__overflow_find(a, proto, (uint8_t)dir);
    unsigned i;
    uint32_t bit;

    /* The last two slots are (255, outbound) and (255, inbound) for ever (set at init), so the
     * search for a free slot stops before them and a full summary still counts everything. */
    for (i = 0; o == NULL && i < WARD_OVERFLOW_SLOTS - 2u; i++) {
        if (overflow_is_free(&a->overflow[i])) {
            o = &a->overflow[i];
            o->proto = proto;
            o->dir = (uint8_t)dir;
        }
    }
    if (o == NULL) {
        o = ward__overflow_find(a, 255u, (uint8_t)dir);
    }
    o->packets = ward__sat_add32(o->packets, 1);
    o->bytes = ward__sat_add32(o->bytes, ip_len);
    if (new_flow) {
        bit = (hash >> 7) & (WARD_OVERFLOW_FILTER_BITS - 1u); /* not the bits that chose the bucket */
        if ((a->overflow_seen[bit >> 3] & (1u << (bit & 7u))) == 0) {
            a->overflow_seen[bit >> 3] = (uint8_t)(a->overflow_seen[bit >> 3] | (1u << (bit & 7u)));
            o->flows = ward__sat_add32(o->flows, 1);
            a->counters[WARD_CTR_FLOWS_DROPPED]++;
        }
    }
}

static void flow_update(ward__flow_t *f, const ward__pkt_t *pk, int dir, uint32_t t)
{
    unsigned init;
    uint16_t t16 = (uint16_t)t;

    if (f->pkts_out == 0 && f->pkts_in == 0) {
        f->first_t = t16; /* first packet since the flow was last reported */
        f->last_t = t16;
    } else if (t16 > f->last_t) {
        f->last_t = t16; /* the hook's clock may step back a little between threads */
    }
    if (dir == WARD_DIR_OUTBOUND) {
        f->pkts_out = ward__sat_add32(f->pkts_out, 1);
        f->bytes_out = ward__sat_add32(f->bytes_out, pk->ip_len);
        f->tcp_out |= pk->tcp_flags;
    } else {
        f->pkts_in = ward__sat_add32(f->pkts_in, 1);
        f->bytes_in = ward__sat_add32(f->bytes_in, pk->ip_len);
        f->tcp_in |= pk->tcp_flags;
    }
    /* A TCP flow first seen mid-way learns its initiator from a later SYN (e.g. a reconnect
     * with the same ports). */
    init = (f->meta & WARD__FM_INIT_MASK) >> WARD__FM_INIT_SHIFT;
    if (f->proto == WARD_IPPROTO_TCP && init == WARD_DIR_UNKNOWN &&
        (pk->tcp_flags & (WARD__TCP_SYN | WARD__TCP_ACK)) == WARD__TCP_SYN) {
        f->meta = (uint8_t)(f->meta | ((unsigned)dir << WARD__FM_INIT_SHIFT));
    }
}

/* Time of now_s for flow idx: seconds after the time base that flow counts from (agent_types.h),
 * saturating at WARD__FLOW_T_SAT; 0 when the clock is behind the base. */
static uint32_t flow_time(const ward_agent_t *a, uint32_t idx, uint32_t now_s)
{
    uint32_t t0 = idx < a->flow_rebased ? a->flow_t0_next_s : a->flow_t0_s;
    uint32_t t = now_s > t0 ? now_s - t0 : 0u;
    return t < WARD__FLOW_T_SAT ? t : WARD__FLOW_T_SAT;
}

/* Initiator of a new flow from its first packet. */
static unsigned first_initiator(const ward__pkt_t *pk, int dir)
{
    unsigned init = (unsigned)dir;
    unsigned syn_ack;

    if (pk->proto == WARD_IPPROTO_TCP) {
        syn_ack = pk->tcp_flags & (WARD__TCP_SYN | WARD__TCP_ACK);
        if (syn_ack == WARD__TCP_SYN) {
            init = (unsigned)dir;
        } else if (syn_ack == (WARD__TCP_SYN | WARD__TCP_ACK)) {
            /* The answer to a SYN: the other side opened. */
            init = dir == WARD_DIR_OUTBOUND ? WARD_DIR_INBOUND : WARD_DIR_OUTBOUND;
        } else {
            init = WARD_DIR_UNKNOWN; /* seen mid-way: who opened it is not known */
        }
    }
    return init;
}

void ward__flow_account(ward_agent_t *agent, const ward__pkt_t *pk, int dir, uint32_t now_s)
{
    const uint8_t *local = dir == WARD_DIR_OUTBOUND ? pk->src : pk->dst;
    const uint8_t *remote = dir == WARD_DIR_OUTBOUND ? pk->dst : pk->src;
    uint16_t lport;
    uint16_t rport;
    size_t alen = family_len(pk->family);
    const uint32_t mask = WARD__FLOW_BUCKETS - 1u;
    int lidx;
    int slot = -1; /* local slot for a new flow */
    uint32_t h;
    uint32_t b;
    uint32_t free_b = WARD__FLOW_BUCKETS;
    unsigned probe;
    ward__flow_t *f = NULL;
    ward__flow_ref_t ref;
    uint32_t idx = 0;

    if (pk->proto == WARD_IPPROTO_ICMP || pk->proto == WARD_IPPROTO_ICMPV6) {
        lport = 0;
        rport = pk->dport;
    } else {
        lport = dir == WARD_DIR_OUTBOUND ? pk->sport : pk->dport;
        rport = dir == WARD_DIR_OUTBOUND ? pk->dport : pk->sport;
    }

    if (pk->later_fragment) {
        /* No ports to key it by: the summary, protocol 0, never a new flow. */
        overflow_add(agent, 0, dir, pk->ip_len, 0, 0);
        return;
    }

    lidx = local_find(agent, pk->family, local);
    if (lidx < 0) {
        /* An unknown local address: the flow is new. Pick the slot, but keep the address out of
         * the table until the flow is sure to be inserted. */
        slot = local_pick(agent);
        lidx = slot;
    }
    if (lidx < 0) {
        /* No local index to key the filter by: hash the local address in instead. */
        h = flow_hash(agent->hash_seed, pk->proto, 0xffu, lport, rport, remote, alen) ^
            flow_hash(agent->hash_seed, 0, 0, 0, 0, local, alen);
        overflow_add(agent, pk->proto, dir, pk->ip_len, 1, h);
        return;
    }

    h = flow_hash(agent->hash_seed, pk->proto, (unsigned)lidx, lport, rport, remote, alen);
    b = h & mask;
    for (probe = 0; probe < WARD_FLOW_PROBE_MAX; probe++) {
        ref = agent->buckets[b];
        if (ref == 0) {
            free_b = b;
            break;
        }
        idx = ref - 1u;
        f = &agent->flows[idx];
        if (slot < 0 && f->proto == pk->proto && f->local_port == lport &&
            f->remote_port == rport && (f->meta & WARD__FM_LOCAL_MASK) == (unsigned)lidx &&
            addr_eq(f->remote, remote, alen)) {
            break;
        }
        f = NULL;
        b = (b + 1u) & mask;
    }

    if (f == NULL) {
        if (free_b == WARD__FLOW_BUCKETS || agent->flow_count >= WARD_MAX_FLOWS) {
            overflow_add(agent, pk->proto, dir, pk->ip_len, 1, h);
            return;
        }
        if (slot >= 0) {
            memset(agent->local_addr[slot], 0, sizeof agent->local_addr[slot]);
            memcpy(agent->local_addr[slot], local, alen);
            agent->local_family[slot] = pk->family;
            agent->local_hint = (uint8_t)slot;
            if ((unsigned)slot == agent->local_count) {
                agent->local_count++;
            }
        }
        agent->local_refs[lidx]++;
        idx = agent->flow_count;
        f = &agent->flows[idx];
        memset(f, 0, sizeof *f);
        memcpy(f->remote, remote, alen);
        f->proto = pk->proto;
        f->local_port = lport;
        f->remote_port = rport;
        f->meta = (uint8_t)((unsigned)lidx | (first_initiator(pk, dir) << WARD__FM_INIT_SHIFT));
        agent->flow_count++;
        agent->buckets[free_b] = (ward__flow_ref_t)agent->flow_count;
    }
    flow_update(f, pk, dir, flow_time(agent, idx, now_s));
}

uint32_t ward__flow_bucket_of(const ward_agent_t *agent, uint32_t idx)
{
    const uint32_t mask = WARD__FLOW_BUCKETS - 1u;
    uint32_t b = flow_hash_of(agent, &agent->flows[idx]) & mask;
    uint32_t found = WARD__FLOW_BUCKETS;
    unsigned probe;

    for (probe = 0; found == WARD__FLOW_BUCKETS && probe < WARD_FLOW_PROBE_MAX; probe++) {
        if (agent->buckets[b] == (ward__flow_ref_t)(idx + 1u)) {
            found = b;
        }
        b = (b + 1u) & mask;
    }
    return found;
}

void ward__flow_remove(ward_agent_t *agent, uint32_t idx)
{
    const uint32_t mask = WARD__FLOW_BUCKETS - 1u;
    uint32_t hole = ward__flow_bucket_of(agent, idx);
    uint32_t j;
    uint32_t home;
    uint32_t last = agent->flow_count - 1u;
    unsigned lidx = agent->flows[idx].meta & WARD__FM_LOCAL_MASK;

    if (hole != WARD__FLOW_BUCKETS) {
        /* Backward-shift deletion: pull back every later bucket of the run whose home does not
         * lie cyclically in (hole, j]; entries only move closer to home, so the probe bound
         * still holds for all of them. */
        agent->buckets[hole] = 0;
        j = (hole + 1u) & mask;
        while (agent->buckets[j] != 0) {
            home = flow_hash_of(agent, &agent->flows[agent->buckets[j] - 1u]) & mask;
            if (((j - home) & mask) >= ((j - hole) & mask)) {
                agent->buckets[hole] = agent->buckets[j];
                agent->buckets[j] = 0;
                hole = j;
            }
            j = (j + 1u) & mask;
        }
    }
    if (agent->local_refs[lidx] > 0) {
        agent->local_refs[lidx]--;
    }
    if (idx != last) {
        j = ward__flow_bucket_of(agent, last);
        agent->flows[idx] = agent->flows[last];
        if (j != WARD__FLOW_BUCKETS) {
            agent->buckets[j] = (ward__flow_ref_t)(idx + 1u);
        }
    }
    agent->flow_count = last;
}
