/*
 * On-device detection: the deny-list check of the packet hook, and the detection table.
 *
 * The check runs in the hook, inside the critical section (the config swap writes the list there
 * too), and only while the list is not empty; it costs one compare per rule of the packet's family
 * for the whole bytes of the prefix and one masked byte. The first matching rule wins.
 *
 * A hit is recorded in agent->detect, one entry per (rule, remote address): repeats add to its
 * count. The first hit of a pair in a report period sets agent->prio, which makes the next
 * ward_agent_poll() send a priority report at once; repeats wait for the next report. An entry
 * stays for the rest of the period once reported ("sent"), so that repeats do not cause one
 * priority report each; a hit that finds no free entry may take a sent entry with nothing left to
 * report, else it is counted in WARD_CTR_DETECTIONS_LOST (the packet is still counted in its flow,
 * and still dropped when the rule says so).
 *
 * Threads: ward__deny_check() in the hook; ward__detect_settle() and ward__detect_period_end() on
 * the report side; all three inside the critical section only.
 */
#include <string.h>

#include "agent_internal.h"

static int rule_match(const ward__deny_t *d, const uint8_t *addr)
{
    unsigned full = (unsigned)d->prefix >> 3;
    unsigned rest = d->prefix & 7u;
    unsigned i;
    int m = 1;

    for (i = 0; m && i < full; i++) {
        m = addr[i] == d->addr[i];
    }
    if (m && rest != 0) {
        m = (addr[full] & (uint8_t)(0xff00u >> rest)) == d->addr[full];
    }
    return m;
}

static void record(ward_agent_t *a, const ward__pkt_t *pk, int dir, const uint8_t *remote,
                   unsigned rule, uint32_t now_s)
{
    size_t alen = pk->family == 6u ? 16u : 4u;
    ward__detect_t *e = NULL;
    ward__detect_t *spare = NULL;
    ward__detect_t *d;
    unsigned i;

    for (i = 0; e == NULL && i < WARD_MAX_DETECTIONS; i++) {
        d = &a->detect[i];
        if (d->family == 0) {
            if (spare == NULL) {
                spare = d;
            }
        } else if (d->family == pk->family && d->rule == rule &&
                   memcmp(d->remote, remote, alen) == 0) {
            e = d;
        } else if (spare == NULL && d->count == 0 && d->sent) {
            spare = d; /* reported already, nothing new: may make room */
        }
    }
    if (e == NULL && spare != NULL) {
        e = spare;
        memset(e, 0, sizeof *e);
        memcpy(e->remote, remote, alen);
        e->family = pk->family;
        e->rule = (uint8_t)rule;
    }
    if (e == NULL) {
        a->counters[WARD_CTR_DETECTIONS_LOST]++;
    } else {
        if (e->count == 0) {
            /* The first packet since the pair was last reported describes the detection. */
            e->time_s = now_s;
            e->dir = (uint8_t)dir;
            e->proto = pk->proto;
            e->action = a->deny[rule].action;
            if (pk->proto == WARD_IPPROTO_ICMP || pk->proto == WARD_IPPROTO_ICMPV6) {
                e->local_port = 0;
                e->remote_port = pk->dport;
            } else {
                e->local_port = dir == WARD_DIR_OUTBOUND ? pk->sport : pk->dport;
                e->remote_port = dir == WARD_DIR_OUTBOUND ? pk->dport : pk->sport;
            }
            if (!e->sent) {
                a->prio = 1;
            }
        }
        e->count = ward__sat_add32(e->count, 1);
    }
}

ward_status_t ward__deny_check(ward_agent_t *agent, const ward__pkt_t *pk, int dir,
                               uint32_t now_s)
{
    const uint8_t *remote = dir == WARD_DIR_OUTBOUND ? pk->dst : pk->src;
    ward_status_t st = WARD_OK;
    unsigned i;

    for (i = 0; i < agent->deny_count; i++) {
        if (agent->deny[i].family == pk->family && rule_match(&agent->deny[i], remote)) {
            record(agent, pk, dir, remote, i, now_s);
            if (agent->deny[i].action == WARD_DENY_DROP) {
                st = WARD_DROP;
            }
            break;
        }
    }
    return st;
}

void ward__detect_settle(ward_agent_t *agent, unsigned rule, const uint8_t *remote, size_t alen,
                         uint64_t count)
{
    ward__detect_t *d;
    unsigned i;

    for (i = 0; i < WARD_MAX_DETECTIONS; i++) {
        d = &agent->detect[i];
        if (d->family != 0 && d->rule == rule && (d->family == 6u ? 16u : 4u) == alen &&
            memcmp(d->remote, remote, alen) == 0) {
            d->count = count >= d->count ? 0u : d->count - (uint32_t)count;
            d->sent = 1;
            break;
        }
    }
}

void ward__detect_period_end(ward_agent_t *agent)
{
    unsigned i;

    for (i = 0; i < WARD_MAX_DETECTIONS; i++) {
        if (agent->detect[i].count == 0) {
            memset(&agent->detect[i], 0, sizeof agent->detect[i]);
        } else {
            agent->detect[i].sent = 0;
        }
    }
}
