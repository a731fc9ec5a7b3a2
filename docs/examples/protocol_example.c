/*
 * Produces the worked example of docs/protocol.md section 7: the real agent core accounts a TCP
 * connection over IPv4 and a UDP exchange over IPv6, then writes its report. Prints the report as
 * hex (32 bytes a line). tests/integration/test_docs.py checks that the hex in the document is
 * exactly what this program prints, and that `wardctl decode` prints the JSON shown there.
 */
#include <stdio.h>
#include <string.h>

#include "ward/agent.h"

static unsigned char g_report[4096];
static size_t g_len;

static int32_t capture(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    (void)ctx;
    (void)priority;
    if (len > sizeof g_report)
        return -1;
    memcpy(g_report, buf, len);
    g_len = len;
    return (int32_t)len;
}

/* IPv4 TCP segment with no payload; checksums are zero (the agent does not verify them). */
static size_t tcp4(uint8_t *p, const uint8_t src[4], const uint8_t dst[4], uint16_t sport,
                   uint16_t dport, uint8_t flags)
{
    memset(p, 0, 40);
    p[0] = 0x45;
    p[3] = 40;
    p[8] = 64;
    p[9] = WARD_IPPROTO_TCP;
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
    p[20] = (uint8_t)(sport >> 8);
    p[21] = (uint8_t)sport;
    p[22] = (uint8_t)(dport >> 8);
    p[23] = (uint8_t)dport;
    p[32] = 0x50;
    p[33] = flags;
    return 40;
}

/* IPv6 UDP datagram with 12 bytes of payload. */
static size_t udp6(uint8_t *p, const uint8_t src[16], const uint8_t dst[16], uint16_t sport,
                   uint16_t dport)
{
    memset(p, 0, 60);
    p[0] = 0x60;
    p[5] = 20;
    p[6] = WARD_IPPROTO_UDP;
    p[7] = 64;
    memcpy(p + 8, src, 16);
    memcpy(p + 24, dst, 16);
    p[40] = (uint8_t)(sport >> 8);
    p[41] = (uint8_t)sport;
    p[42] = (uint8_t)(dport >> 8);
    p[43] = (uint8_t)dport;
    p[45] = 20;
    return 60;
}

int main(void)
{
    static ward_agent_t agent;
    static uint8_t buf[WARD_REPORT_BUFFER_SIZE];
    const ward_transport_t transport = {capture, NULL};
    const uint8_t dev4[4] = {192, 0, 2, 10}, srv4[4] = {198, 51, 100, 7};
    const uint8_t dev6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x10};
    const uint8_t dns6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, [14] = 0x00, [15] = 0x53};
    const uint64_t t0 = 1795000000000ull; /* 2026-11-18T10:13:20Z */
    uint8_t pkt[64];
    ward_agent_config_t cfg;

    ward_agent_config_init(&cfg);
    cfg.device_id = "sensor-0042";
    cfg.boot_id = 0x1234abcdu;
    cfg.transport = &transport;
    if (ward_agent_init(&agent, &cfg, t0) != WARD_OK)
        return 1;

    /* The device opens a TCP connection to 198.51.100.7:8883 (MQTT over TLS). */
    ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, pkt, tcp4(pkt, dev4, srv4, 49152, 8883, 0x02),
                         t0 + 1000);
    ward_agent_on_packet(&agent, WARD_DIR_INBOUND, pkt, tcp4(pkt, srv4, dev4, 8883, 49152, 0x12),
                         t0 + 1020);
    ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, pkt, tcp4(pkt, dev4, srv4, 49152, 8883, 0x10),
                         t0 + 1021);
    /* A DNS query over IPv6 and its answer. */
    ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, pkt, udp6(pkt, dev6, dns6, 40000, 53),
                         t0 + 3000);
    ward_agent_on_packet(&agent, WARD_DIR_INBOUND, pkt, udp6(pkt, dns6, dev6, 53, 40000),
                         t0 + 3005);

    if (ward_agent_flush(&agent, t0 + 60000, buf, sizeof buf) != WARD_OK || g_len == 0)
        return 1;
    for (size_t i = 0; i < g_len; i++)
        printf("%02x%s", g_report[i], (i % 32 == 31 || i + 1 == g_len) ? "\n" : "");
    return 0;
}
