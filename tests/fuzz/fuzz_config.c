/*
 * Fuzz target for the agent core's config decoder (ward_agent_apply_config(), agent/src/config.c):
 * the input is one config message, as received on ward/v1/<id>/config. The agent starts from a
 * known good config; after the call, either the message was applied and the config in force is
 * within every documented range, or it was rejected with one of the documented statuses and the
 * config in force is byte for byte the old one. Then packets go through the hook (the deny-list
 * check) and a report is written and read back (key 10, config_status, detections), so what a
 * config can set is exercised as well as how it is parsed. Aborts on any broken invariant.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "ward_cbor.h"

static int32_t take(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    (void)ctx;
    (void)priority;
    size_t pos = 0;
    unsigned major = 0;
    uint64_t n = 0;
    /* The report is the agent's own output: a map at least. */
    if (ward__cbor_read_head(buf, len, &pos, &major, &n) != 0 || major != WARD__CBOR_MAP)
        abort();
    return (int32_t)len;
}

static const ward_transport_t transport = {take, NULL};

/* A known good config: revision 3, interval 30 s, 203.0.113.0/24 alert. */
static const uint8_t good[] = {0xa4, 0x00, 0x82, 0x01, 0x00, 0x01, 0x03, 0x02, 0x18, 0x1e,
                               0x04, 0x81, 0x83, 0x44, 203, 0, 113, 0, 0x18, 0x18, 0x00};

static void check_in_force(const ward_agent_t *a)
{
    if (a->interval_s < 10 || a->interval_s > 86400)
        abort();
    if ((a->collectors & ~WARD_COL_ALL_) != 0 || a->deny_count > WARD_MAX_DENY)
        abort();
    for (unsigned i = 0; i < a->deny_count; i++) {
        const ward__deny_t *d = &a->deny[i];
        if ((d->family != 4 && d->family != 6) || d->prefix > (d->family == 4 ? 32 : 128) ||
            d->action > WARD_DENY_DROP || (d->prefix == 0 && d->action == WARD_DENY_DROP))
            abort();
        for (unsigned b = d->prefix; b < 128; b++)
            if (d->addr[b >> 3] & (0x80u >> (b & 7u)))
                abort(); /* host bits must be clear */
    }
}

/* The action of the first rule covering addr (the hook's rule), independently of detect.c. */
static int expected_action(const ward_agent_t *a, unsigned family, const uint8_t *addr)
{
    for (unsigned i = 0; i < a->deny_count; i++) {
        const ward__deny_t *d = &a->deny[i];
        unsigned b;
        if (d->family != family)
            continue;
        for (b = 0; b < d->prefix; b++)
            if (((addr[b >> 3] ^ d->addr[b >> 3]) & (0x80u >> (b & 7u))) != 0)
                break;
        if (b == d->prefix)
            return d->action;
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ward_agent_t agent;
    static ward_agent_t before;
    static uint8_t buf[4096];
    ward_agent_config_t cfg;
    uint8_t pkt[64];

    ward_agent_config_init(&cfg);
    cfg.device_id = "fuzz-config";
    cfg.transport = &transport;
    if (ward_agent_init(&agent, &cfg, 1000) != WARD_OK ||
        ward_agent_apply_config(&agent, good, sizeof good, 1000) != WARD_OK)
        abort();
    memcpy(&before, &agent, sizeof agent);

    ward_status_t st = ward_agent_apply_config(&agent, data, size, 2000);
    if (st == WARD_OK) {
        check_in_force(&agent);
        if (agent.config_rev == 0 || agent.cs_pending)
            abort();
    } else {
        if (st != WARD_E_INCOMPLETE && st != WARD_E_MALFORMED && st != WARD_E_UNSUPPORTED &&
            st != WARD_E_RANGE && st != WARD_E_FULL)
            abort();
        if (!agent.cs_pending || agent.cs_status != st || agent.cs_reason == NULL ||
            agent.cs_reason[0] == '\0')
            abort();
        /* The old config, untouched. */
        if (agent.config_rev != before.config_rev || agent.interval_s != before.interval_s ||
            agent.collectors != before.collectors || agent.deny_count != before.deny_count ||
            memcmp(agent.deny, before.deny, sizeof agent.deny) != 0 ||
            agent.next_due_ms != before.next_due_ms)
            abort();
    }

    /* Traffic to and from each deny-list entry's own address, then reports. */
    for (unsigned i = 0; i < agent.deny_count; i++) {
        const ward__deny_t *d = &agent.deny[i];
        memset(pkt, 0, sizeof pkt);
        if (d->family == 4) {
            pkt[0] = 0x45;
            pkt[3] = 28;
            pkt[9] = WARD_IPPROTO_UDP;
            memcpy(pkt + 12, d->addr, 4);
            pkt[16] = 192, pkt[17] = 168, pkt[18] = 1, pkt[19] = 10;
            pkt[21] = 53, pkt[23] = 99, pkt[25] = 8;
        } else {
            pkt[0] = 0x60;
            pkt[5] = 8;
            pkt[6] = WARD_IPPROTO_UDP;
            memcpy(pkt + 8, d->addr, 16);
            pkt[24] = 0xfe, pkt[25] = 0x80, pkt[39] = 1;
            pkt[41] = 53, pkt[43] = 99, pkt[45] = 8;
        }
        int want = expected_action(&agent, d->family, d->addr);
        st = ward_agent_on_packet(&agent, WARD_DIR_INBOUND, pkt, sizeof pkt, 3000);
        if (want < 0 || st != (want == WARD_DENY_DROP ? WARD_DROP : WARD_OK))
            abort(); /* the first rule that covers the address decides */
    }
    (void)ward_agent_poll(&agent, 3500, buf, sizeof buf);
    if (ward_agent_flush(&agent, 4000, buf, sizeof buf) != WARD_OK)
        abort();
    return 0;
}
