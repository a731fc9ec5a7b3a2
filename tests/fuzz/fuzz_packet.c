/*
 * Fuzz target for the agent core's packet hook and report writer. The input is one packet. It is
 * fed to the hook outbound and inbound, whole and as shorter prefixes; then variants with one byte
 * changed (addresses, ports, lengths, flags...) fill the flow table past its capacity so that the
 * overflow summary and the local address table are exercised too. A report is then refused by the
 * transport once (data kept) and written again into a small buffer (so it splits) for a transport
 * that accepts. Asserts the invariant: every packet the hook accepted is in the report's flows or
 * overflow summary, packets and bytes alike.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "ward_cbor.h"

typedef struct sums {
    uint64_t pkts;
    uint64_t bytes;
} sums_t;

/* Sums packets and bytes over a report part's flows (key 16) and overflow (key 17). The part was
 * written by the agent; a shape error here is a bug, so it aborts. */
static void sum_part(const uint8_t *b, size_t len, sums_t *s)
{
    size_t pos = 0;
    unsigned major;
    uint64_t n, key, items, fields, v, i, j, k;
    if (ward__cbor_read_head(b, len, &pos, &major, &n) != 0 || major != WARD__CBOR_MAP)
        abort();
    for (i = 0; i < n; i++) {
        if (ward__cbor_read_head(b, len, &pos, &major, &key) != 0 || major != WARD__CBOR_UINT)
            abort();
        if (key == WARD_RK_FLOWS || key == WARD_RK_OVERFLOW) {
            if (ward__cbor_read_head(b, len, &pos, &major, &items) != 0 || major != WARD__CBOR_ARRAY)
                abort();
            for (j = 0; j < items; j++) {
                if (ward__cbor_read_head(b, len, &pos, &major, &fields) != 0)
                    abort();
                for (k = 0; k < fields; k++) {
                    if (ward__cbor_read_head(b, len, &pos, &major, &v) != 0)
                        abort();
                    if (major == WARD__CBOR_BSTR) {
                        pos += (size_t)v;
                        continue;
                    }
                    if (key == WARD_RK_FLOWS &&
                        (k == WARD_FP_PACKETS_OUT || k == WARD_FP_PACKETS_IN))
                        s->pkts += v;
                    if (key == WARD_RK_FLOWS && (k == WARD_FP_BYTES_OUT || k == WARD_FP_BYTES_IN))
                        s->bytes += v;
                    if (key == WARD_RK_OVERFLOW && k == WARD_OP_PACKETS)
                        s->pkts += v;
                    if (key == WARD_RK_OVERFLOW && k == WARD_OP_BYTES)
                        s->bytes += v;
                }
            }
        } else {
            /* Skip one value of any shape, iteratively. */
            uint64_t pending = 1;
            while (pending > 0) {
                if (ward__cbor_read_head(b, len, &pos, &major, &v) != 0)
                    abort();
                pending--;
                if (major == WARD__CBOR_BSTR || major == WARD__CBOR_TSTR)
                    pos += (size_t)v;
                else if (major == WARD__CBOR_ARRAY)
                    pending += v;
                else if (major == WARD__CBOR_MAP)
                    pending += 2 * v;
            }
        }
    }
    if (pos != len)
        abort();
}

static sums_t got;
static int refuse;

static int32_t publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    (void)ctx;
    (void)priority;
    if (refuse)
        return 0;
    sum_part(buf, len, &got);
    return (int32_t)len;
}

static void feed(ward_agent_t *agent, int dir, const uint8_t *p, size_t len, uint64_t now,
                 sums_t *want)
{
    ward__pkt_t pk;
    int reason;
    if (ward_agent_on_packet(agent, dir, p, len, now) == WARD_OK) {
        if (ward__packet_parse(p, len, &pk, &reason) != WARD_OK)
            abort();
        want->pkts++;
        want->bytes += pk.ip_len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ward_agent_t agent;
    static uint8_t buf[WARD_REPORT_MIN_BUFFER];
    static const ward_transport_t transport = {publish, NULL};
    ward_agent_config_t cfg;
    sums_t want = {0, 0};
    uint8_t *copy;
    size_t cut;
    unsigned k;
    int dir;

    ward_agent_config_init(&cfg);
    cfg.device_id = "fuzz";
    cfg.transport = &transport;
    if (ward_agent_init(&agent, &cfg, 1000) != WARD_OK)
        abort();
    memset(&got, 0, sizeof got);

    for (dir = WARD_DIR_OUTBOUND; dir <= WARD_DIR_INBOUND; dir++) {
        for (cut = size;; cut = cut / 2) {
            feed(&agent, dir, data, cut, 2000 + cut, &want);
            if (cut == 0)
                break;
        }
    }
    /* Variants, in an exact-size copy so that ASan sees any read past the end. */
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    for (k = 0; size > 0 && k < WARD_MAX_FLOWS + 24u; k++) {
        memcpy(copy, data, size);
        copy[(k * 7u) % size] ^= (uint8_t)(k + 1u);
        feed(&agent, (k & 1u) ? WARD_DIR_INBOUND : WARD_DIR_OUTBOUND, copy, size, 5000 + k * 100u,
             &want);
    }
    free(copy);

    refuse = 1;
    if (ward_agent_flush(&agent, 60000, buf, sizeof buf) != WARD_E_AGAIN)
        abort();
    refuse = 0;
    if (ward_agent_flush(&agent, 90000, buf, sizeof buf) != WARD_OK)
        abort();
    if (got.pkts != want.pkts || got.bytes != want.bytes)
        abort();
    return 0;
}
