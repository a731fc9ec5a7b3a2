/*
 * The agent's public entry points: configuration, the packet hook, counters, and the report
 * schedule (the report itself is written by report.c).
 *
 * Threads: ward_agent_on_packet() may run in an interrupt or another thread; it parses outside
 * any lock, then holds WARD_ENTER_CRITICAL() only while it updates one flow (or the summary) and
 * the counters. Every other function runs in one thread, the report side.
 */
#include <string.h>

#include "agent_internal.h"

/* Application counters ward_agent_note() may add to; the others belong to the agent. */
#define WARD__APP_COUNTERS (WARD_CTR_PARSE_ERRORS + 1)

static int device_id_valid(const char *id)
{
    size_t n = 0;
    int ok = id != NULL;
    char c;

    while (ok && id[n] != '\0') {
        c = id[n];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
        n++;
        if (n > WARD_DEVICE_ID_MAX) {
            ok = 0;
        }
    }
    return ok && n > 0;
}

void ward_agent_config_init(ward_agent_config_t *cfg)
{
    if (cfg != NULL) {
        memset(cfg, 0, sizeof *cfg);
        cfg->report_interval_s = WARD_REPORT_INTERVAL_S;
        cfg->time_base = WARD_TIME_UNIX;
    }
}

ward_status_t ward_agent_init(ward_agent_t *agent, const ward_agent_config_t *cfg, uint64_t now_ms)
{
    ward_status_t st;

    if (agent == NULL || cfg == NULL) {
        st = WARD_E_ARG;
    } else if (!device_id_valid(cfg->device_id)) {
        st = WARD_E_ARG;
    } else if (cfg->transport == NULL || cfg->transport->publish == NULL) {
        st = WARD_E_ARG;
    } else if (cfg->report_interval_s == 0 || cfg->report_interval_s > 86400u) {
        st = WARD_E_ARG;
    } else if (cfg->time_base != WARD_TIME_UNIX && cfg->time_base != WARD_TIME_BOOT) {
        st = WARD_E_ARG;
    } else {
        memset(agent, 0, sizeof *agent);
        memcpy(agent->device_id, cfg->device_id, strlen(cfg->device_id));
        agent->boot_id = cfg->boot_id;
        agent->interval_s = cfg->report_interval_s;
        agent->time_base = (uint8_t)cfg->time_base;
        agent->transport = cfg->transport;
        /* A per-boot seed: crafted traffic cannot aim at the same buckets on every device. */
        agent->hash_seed = cfg->boot_id * 0x9e3779b1u + 0x7f4a7c15u;
        agent->base_ms = now_ms;
        agent->period_start_ms = now_ms;
        agent->next_due_ms = now_ms + (uint64_t)agent->interval_s * 1000u;
        /* The summary's two catch-all entries (see flow.c, overflow_add). */
        agent->overflow[WARD_OVERFLOW_SLOTS - 2u].proto = 255u;
        agent->overflow[WARD_OVERFLOW_SLOTS - 2u].dir = WARD_DIR_OUTBOUND;
        agent->overflow[WARD_OVERFLOW_SLOTS - 1u].proto = 255u;
        agent->overflow[WARD_OVERFLOW_SLOTS - 1u].dir = WARD_DIR_INBOUND;
        agent->magic = WARD__AGENT_MAGIC;
        st = WARD_OK;
    }
    return st;
}

uint32_t ward__agent_seconds(const ward_agent_t *agent, uint64_t now_ms)
{
    uint64_t d = now_ms > agent->base_ms ? now_ms - agent->base_ms : 0u;
    uint32_t s;

    /* A 32-bit division where it suffices (the first 49 days): one instruction on Cortex-M4,
     * where a 64-bit one is a library call. */
    if (d <= 0xffffffffu) {
        s = (uint32_t)d / 1000u;
    } else {
        s = (uint32_t)(d / 1000u);
    }
    return s;
}

ward_status_t ward_agent_on_packet(ward_agent_t *agent, int dir, const uint8_t *packet, size_t len,
                                   uint64_t now_ms)
{
    ward_status_t st;
    ward__pkt_t pk;
    int reason = 0;
    uint32_t now_s;
    WARD_DECL_CRITICAL();

    if (agent == NULL || packet == NULL || agent->magic != WARD__AGENT_MAGIC) {
        st = WARD_E_ARG;
    } else if (dir != WARD_DIR_OUTBOUND && dir != WARD_DIR_INBOUND) {
        st = WARD_E_ARG;
    } else {
        st = ward__packet_parse(packet, len, &pk, &reason);
        now_s = ward__agent_seconds(agent, now_ms);
        WARD_ENTER_CRITICAL();
        agent->counters[WARD_CTR_PACKETS]++;
        if (st == WARD_OK) {
            ward__flow_account(agent, &pk, dir, now_s);
        } else {
            agent->counters[WARD_CTR_PACKETS_MALFORMED]++;
            agent->malformed[reason] = ward__sat_add32(agent->malformed[reason], 1);
        }
        WARD_EXIT_CRITICAL();
    }
    return st;
}

ward_status_t ward_agent_note(ward_agent_t *agent, int counter, uint32_t n)
{
    ward_status_t st;
    WARD_DECL_CRITICAL();

    if (agent == NULL || agent->magic != WARD__AGENT_MAGIC) {
        st = WARD_E_ARG;
    } else if (counter < 0 || counter >= WARD__APP_COUNTERS) {
        st = WARD_E_ARG;
    } else {
        WARD_ENTER_CRITICAL();
        agent->counters[counter] += n;
        WARD_EXIT_CRITICAL();
        st = WARD_OK;
    }
    return st;
}

static ward_status_t report_now(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap)
{
    ward_status_t st = ward__report_send(agent, now_ms, buf, cap);
    uint64_t wait_s = agent->interval_s;

    if (st != WARD_OK && wait_s > WARD_REPORT_RETRY_S) {
        wait_s = WARD_REPORT_RETRY_S;
    }
    agent->next_due_ms = now_ms + wait_s * 1000u;
    return st;
}

ward_status_t ward_agent_poll(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap)
{
    ward_status_t st;

    if (agent == NULL || buf == NULL || agent->magic != WARD__AGENT_MAGIC) {
        st = WARD_E_ARG;
    } else if (cap < WARD_REPORT_MIN_BUFFER) {
        st = WARD_E_BUFFER;
    } else if (now_ms < agent->next_due_ms) {
        st = WARD_NOTHING;
    } else {
        st = report_now(agent, now_ms, buf, cap);
    }
    return st;
}

ward_status_t ward_agent_flush(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap)
{
    ward_status_t st;

    if (agent == NULL || buf == NULL || agent->magic != WARD__AGENT_MAGIC) {
        st = WARD_E_ARG;
    } else if (cap < WARD_REPORT_MIN_BUFFER) {
        st = WARD_E_BUFFER;
    } else {
        st = report_now(agent, now_ms, buf, cap);
    }
    return st;
}
