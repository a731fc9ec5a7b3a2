/*
 * The firmware image `make size` measures (scripts/size, docs/agent-size.md).
 *
 * It uses the agent the way real glue does: one static ward_agent_t, one report buffer of
 * WARD_REPORT_BUFFER_SIZE bytes, and a call to every public function, so that --gc-sections keeps
 * exactly the code a device that uses the whole API carries. Inputs come from volatile objects so
 * the compiler cannot fold any call away.
 *
 * Built twice: as ward-size (the agent) and, with WARD_SIZE_BASELINE, as ward-size-baseline: the
 * same startup, the same report buffer and loop, no agent. flash and ram are the differences
 * between the two images, so they include the libc routines the core pulls in (memcpy, ...) and
 * the few bytes of call sequences below, and exclude the report buffer (the application's,
 * reported separately by scripts/size).
 */
#include <stddef.h>
#include <stdint.h>

#include "ward/ward_config_defaults.h"

#ifndef WARD_SIZE_BASELINE
#include "ward/agent.h"
#endif

/* Stand-ins for a clock and a received packet that the compiler cannot see through. */
static volatile uint32_t ward_size_clock;
static volatile uint8_t ward_size_rx[64];
static volatile uintptr_t ward_size_sink;

/* The application's report buffer: in both images, so it is not counted as the agent's RAM. */
static uint8_t report_buf[WARD_REPORT_BUFFER_SIZE];

#ifndef WARD_SIZE_BASELINE
static ward_agent_t agent;

static int32_t size_publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    (void)ctx;
    ward_size_sink = (uintptr_t)buf[0] + (uintptr_t)priority;
    return (int32_t)len;
}

static const ward_transport_t size_transport = {size_publish, NULL};

/* System information as a port sets it at start. */
static const ward_sysinfo_t size_sysinfo = {"FreeRTOS 10.5.1", "1.0.0", "mps2-an386", "lwIP 2.1.3",
                                            1, 1};

/* The port's listening-socket source: one entry the compiler cannot predict. */
static size_t size_listening(void *ctx, ward_listen_t *out, size_t max)
{
    (void)ctx;
    out[0].proto = (uint8_t)ward_size_rx[5];
    out[0].family = 4u;
    out[0].port = (uint16_t)ward_size_rx[6];
    return max > 0u ? 1u : 0u;
}
#endif

int main(void)
{
#ifndef WARD_SIZE_BASELINE
    ward_agent_config_t cfg;
    ward_agent_config_init(&cfg);
    cfg.device_id = "size-0001";
    cfg.boot_id = ward_size_clock;
    cfg.transport = &size_transport;
    ward_size_sink = (uintptr_t)ward_status_str(ward_agent_init(&agent, &cfg, ward_size_clock));
    ward_size_sink = ward_agent_set_listening(&agent, size_listening, NULL);
#endif
    for (;;) {
        uint8_t pkt[sizeof ward_size_rx];
        size_t i;
        for (i = 0; i < sizeof pkt; i++) {
            pkt[i] = ward_size_rx[i];
        }
#ifndef WARD_SIZE_BASELINE
        ward_size_sink = ward_agent_on_packet(&agent, (int)(pkt[0] & 3u), pkt, sizeof pkt,
                                              ward_size_clock);
        ward_size_sink = ward_agent_note(&agent, WARD_CTR_MSGS_SENT, pkt[4]);
        if (pkt[2] == 0x01u) {
            /* A config message as the transport would hand it over: the received bytes. */
            ward_size_sink = ward_agent_apply_config(&agent, pkt + 8, pkt[3] & 0x3fu,
                                                     ward_size_clock);
        }
        if (pkt[2] == 0x02u) {
            ward_size_sink = ward_agent_set_sysinfo(&agent, &size_sysinfo);
        }
        if (pkt[2] == 0x03u) {
            pkt[sizeof pkt - 1u] = 0;
            ward_size_sink = ward_agent_metric_set(&agent, (const char *)&pkt[40],
                                                   (int64_t)ward_size_clock - pkt[7]);
        }
        if (ward_agent_priority_pending(&agent) != 0 || pkt[4] == 0x04u) {
            ward_size_sink = ward_agent_poll(&agent, ward_size_clock, report_buf,
                                             sizeof report_buf);
        }
        if (pkt[1] == 0xffu) {
            ward_size_sink = ward_agent_flush(&agent, ward_size_clock, report_buf,
                                              sizeof report_buf);
        }
#else
        ward_size_sink = (uintptr_t)pkt[0] + report_buf[pkt[1]] + ward_size_clock;
        report_buf[pkt[2]] = pkt[3];
#endif
    }
}
