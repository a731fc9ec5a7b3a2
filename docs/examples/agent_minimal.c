/*
 * The smallest complete integration of the ward agent core (docs/agent.md, "Integrating the
 * agent"). A stand-in "IP stack" hands four packets to the hook; the application loop polls; the
 * transport, which a real port implements with its MQTT client, only counts what it is given.
 * Built and run by `make test` (CTest: docs-agent-example); docs/agent.md shows this file as is.
 */
#include <stdio.h>
#include <string.h>

#include "ward/agent.h"

/* 1. Memory: the agent and the report buffer, both static; nothing is allocated. */
static ward_agent_t agent;
static uint8_t report_buf[WARD_REPORT_BUFFER_SIZE];

/* 2. The transport: publish one report part on ward/v1/<device-id>/report at QoS 1 and return
 *    len; return 0 when not connected (the core keeps the data and reports it later). */
static unsigned parts_sent;

static int32_t publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    (void)ctx;
    (void)buf;
    (void)priority;
    parts_sent++; /* a real port: mqtt_publish(topic, buf, len, QOS1); copy buf if it queues */
    return (int32_t)len;
}

static const ward_transport_t transport = {publish, NULL};

/* The port's clock: milliseconds, Unix time here (time_base WARD_TIME_UNIX). */
static uint64_t clock_ms = 1700000000000ull;

/* A minimal IPv4 UDP packet from src to dst (what the IP stack would pass to the hook). */
static size_t udp4(uint8_t *p, const uint8_t src[4], const uint8_t dst[4], uint16_t sport,
                   uint16_t dport, size_t payload)
{
    size_t len = 20u + 8u + payload;
    memset(p, 0, len);
    p[0] = 0x45;                /* IPv4, 20-byte header */
    p[2] = (uint8_t)(len >> 8); /* total length */
    p[3] = (uint8_t)len;
    p[8] = 64; /* TTL */
    p[9] = WARD_IPPROTO_UDP;
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
    p[20] = (uint8_t)(sport >> 8);
    p[21] = (uint8_t)sport;
    p[22] = (uint8_t)(dport >> 8);
    p[23] = (uint8_t)dport;
    p[25] = (uint8_t)(8u + payload); /* UDP length */
    return len;
}

int main(void)
{
    static const uint8_t me[4] = {10, 0, 0, 2}, ntp[4] = {192, 0, 2, 123};
    uint8_t pkt[128];
    size_t len;
    ward_agent_config_t cfg;
    ward_status_t st;
    int i;

    /* 3. Configure and start, once, before the IP stack passes packets. */
    ward_agent_config_init(&cfg);
    cfg.device_id = "sensor-0042";
    cfg.boot_id = 0x5eed1234u; /* random per boot: a hardware RNG in a real device */
    cfg.report_interval_s = 60;
    cfg.transport = &transport;
    st = ward_agent_init(&agent, &cfg, clock_ms);
    if (st != WARD_OK) {
        fprintf(stderr, "ward_agent_init: %s\n", ward_status_str(st));
        return 1;
    }

    /* 4. The hook, from the IP stack's output and input paths, for every IP packet. */
    for (i = 0; i < 2; i++) {
        len = udp4(pkt, me, ntp, 123, 123, 48);
        (void)ward_agent_on_packet(&agent, WARD_DIR_OUTBOUND, pkt, len, clock_ms);
        len = udp4(pkt, ntp, me, 123, 123, 48);
        (void)ward_agent_on_packet(&agent, WARD_DIR_INBOUND, pkt, len, clock_ms + 20);
        clock_ms += 30000;
    }

    /* 5. Application counters, from the report side's thread. */
    (void)ward_agent_note(&agent, WARD_CTR_MSGS_SENT, 1);

    /* 6. The application loop: poll every second or so; a report goes out when one is due. */
    for (i = 0; i < 120; i++) {
        clock_ms += 1000;
        st = ward_agent_poll(&agent, clock_ms, report_buf, sizeof report_buf);
        if (st != WARD_OK && st != WARD_NOTHING && st != WARD_E_AGAIN) {
            fprintf(stderr, "ward_agent_poll: %s\n", ward_status_str(st));
            return 1;
        }
    }

    /* 7. On shutdown (or at the end of a capture): send what is left now. */
    st = ward_agent_flush(&agent, clock_ms, report_buf, sizeof report_buf);
    printf("agent_minimal: %u report parts sent, last flush: %s\n", parts_sent,
           ward_status_str(st));
    return st == WARD_OK && parts_sent >= 3 ? 0 : 1;
}
