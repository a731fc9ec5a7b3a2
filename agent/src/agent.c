/*
 * The agent's public entry points: configuration, the packet hook, counters, and the report
 * schedule (the report itself is written by report.c).
 *
 * Threads: ward_agent_on_packet() may run in an interrupt or another thread; it parses outside
 * any lock, then holds WARD_ENTER_CRITICAL() only while it checks the deny-list (when not empty)
 * and updates one flow (or the summary) and the counters. Every other function runs in one
 * thread, the report side (docs/agent.md, "Threading model").
 */
#include <string.h>

#include "agent_internal.h"

/* Application counters ward_agent_note() may add to; the others belong to the agent. */
#define WARD__APP_COUNTERS (WARD_CTR_PARSE_ERRORS + 1)

/* Length of name when it is 1..max characters of [A-Za-z0-9._-] (and ':' when colon), else 0. */
static size_t name_len(const char *name, size_t max, int colon)
{
    size_t n = 0;
    int ok = name != NULL;
    char c;

    while (ok && name[n] != '\0') {
        c = name[n];
        ok = n < max && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                         (colon && c == ':'));
        n++;
    }
    return ok ? n : 0u;
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
    size_t id_len = 0;

    if (agent == NULL || cfg == NULL) {
        st = WARD_E_ARG;
    } else if ((id_len = name_len(cfg->device_id, WARD_DEVICE_ID_MAX, 0)) == 0) {
        st = WARD_E_ARG;
    } else if (cfg->transport == NULL || cfg->transport->publish == NULL) {
        st = WARD_E_ARG;
    } else if (cfg->report_interval_s == 0 || cfg->report_interval_s > 86400u) {
        st = WARD_E_ARG;
    } else if (cfg->time_base != WARD_TIME_UNIX && cfg->time_base != WARD_TIME_BOOT) {
        st = WARD_E_ARG;
    } else {
        memset(agent, 0, sizeof *agent);
        memcpy(agent->device_id, cfg->device_id, id_len);
        agent->boot_id = cfg->boot_id;
        agent->interval_s = cfg->report_interval_s;
        agent->base_interval_s = cfg->report_interval_s;
        agent->collectors = WARD_COL_ALL_;
        agent->si_due = 1; /* system information goes in the first report */
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

uint64_t ward__div1000(uint64_t ms)
{
    /* floor(ms / 1000) = floor(floor(ms / 8) / 125), by 16-bit digits so that every division is
     * a 32-bit one (the remainder stays below 125, so a digit with it fits 23 bits): Cortex-M
     * divides 32-bit numbers in hardware but calls a 700-byte libgcc routine for 64-bit ones. */
    uint64_t x = ms >> 3;
    uint32_t d[4];
    uint32_t q[4];
    uint32_t rem = 0;
    uint32_t cur;
    unsigned i;

    d[0] = (uint32_t)(x >> 48);
    d[1] = (uint32_t)(x >> 32) & 0xffffu;
    d[2] = (uint32_t)x >> 16;
    d[3] = (uint32_t)x & 0xffffu;
    for (i = 0; i < 4u; i++) {
        cur = (rem << 16) | d[i];
        q[i] = cur / 125u;
        rem = cur % 125u;
    }
    return ((uint64_t)((q[0] << 16) | q[1]) << 32) | ((q[2] << 16) | q[3]);
}

uint32_t ward__agent_seconds(const ward_agent_t *agent, uint64_t now_ms)
{
    uint64_t d = now_ms > agent->base_ms ? now_ms - agent->base_ms : 0u;
    uint32_t s;

    /* A 32-bit division where it suffices (the first 49 days): one instruction on Cortex-M4. */
    if (d <= 0xffffffffu) {
        s = (uint32_t)d / 1000u;
    } else {
        s = (uint32_t)ward__div1000(d);
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
            /* A denied packet is still counted in its flow: the flow shows what the device saw
             * (and tried to send), the detection says what was done about it. */
            if (agent->deny_count != 0) {
                st = ward__deny_check(agent, &pk, dir, now_s);
            }
            if (agent->collectors & WARD_COL_FLOWS) {
                ward__flow_account(agent, &pk, dir, now_s);
            }
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
    ward_status_t st = ward__report_send(agent, now_ms, buf, cap, 0);
    uint64_t wait_s = agent->interval_s;

    if (st != WARD_OK && wait_s > WARD_REPORT_RETRY_S) {
        wait_s = WARD_REPORT_RETRY_S;
    }
    agent->next_due_ms = now_ms + wait_s * 1000u;
    return st;
}

/* A priority report when a new detection waits for one (and no refused one waits to retry). */
static ward_status_t priority_now(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap)
{
    ward_status_t st = WARD_NOTHING;
    uint8_t prio;
    WARD_DECL_CRITICAL();

    WARD_ENTER_CRITICAL();
    prio = agent->prio;
    WARD_EXIT_CRITICAL();
    if (prio && now_ms >= agent->prio_next_ms) {
        st = ward__report_send(agent, now_ms, buf, cap, 1);
        if (st != WARD_OK) {
            agent->prio_next_ms = now_ms + (uint64_t)WARD_REPORT_RETRY_S * 1000u;
        }
    }
    return st;
}

int ward_agent_priority_pending(const ward_agent_t *agent)
{
    uint8_t prio = 0;
    WARD_DECL_CRITICAL();

    if (agent != NULL && agent->magic == WARD__AGENT_MAGIC) {
        WARD_ENTER_CRITICAL();
        prio = agent->prio;
        WARD_EXIT_CRITICAL();
    }
    return prio != 0;
}

/* The arguments of poll() and flush(). */
static ward_status_t report_args(const ward_agent_t *agent, const uint8_t *buf, size_t cap)
{
    ward_status_t st = WARD_OK;

    if (agent == NULL || buf == NULL || agent->magic != WARD__AGENT_MAGIC) {
        st = WARD_E_ARG;
    } else if (cap < WARD_REPORT_MIN_BUFFER) {
        st = WARD_E_BUFFER;
    }
    return st;
}

ward_status_t ward_agent_poll(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap)
{
    ward_status_t st = report_args(agent, buf, cap);

    if (st == WARD_OK) {
        st = priority_now(agent, now_ms, buf, cap);
        if (now_ms >= agent->next_due_ms && st != WARD_E_AGAIN) {
            st = report_now(agent, now_ms, buf, cap);
        }
    }
    return st;
}

ward_status_t ward_agent_flush(ward_agent_t *agent, uint64_t now_ms, uint8_t *buf, size_t cap)
{
    ward_status_t st = report_args(agent, buf, cap);

    if (st == WARD_OK) {
        st = report_now(agent, now_ms, buf, cap);
    }
    return st;
}

ward_status_t ward_agent_set_listening(ward_agent_t *agent, ward_listening_fn fn, void *ctx)
{
    ward_status_t st = WARD_E_ARG;

    if (agent != NULL && agent->magic == WARD__AGENT_MAGIC) {
        agent->listen_fn = fn;
        agent->listen_ctx = ctx;
        st = WARD_OK;
    }
    return st;
}

/* Copy s into a sysinfo slot, cut at a UTF-8 character boundary; returns whether it changed. */
static int si_copy(ward_agent_t *agent, unsigned k, const char *s)
{
    size_t n = 0;
    int changed;

    if (s != NULL) {
        while (n < WARD_SYSINFO_STR_MAX && s[n] != '\0') {
            n++;
        }
        if (n == WARD_SYSINFO_STR_MAX && s[n] != '\0') {
            /* Cut: do not end inside a multi-byte character (continuation bytes are 10xxxxxx). */
            while (n > 0 && ((uint8_t)s[n] & 0xc0u) == 0x80u) {
                n--;
            }
        }
    }
    changed = n != agent->si_len[k] || (n > 0 && memcmp(agent->si_str[k], s, n) != 0);
    if (n > 0) {
        memcpy(agent->si_str[k], s, n);
    }
    agent->si_len[k] = (uint8_t)n;
    return changed;
}

ward_status_t ward_agent_set_sysinfo(ward_agent_t *agent, const ward_sysinfo_t *info)
{
    ward_status_t st = WARD_E_ARG;
    unsigned flags;
    int changed;

    if (agent != NULL && agent->magic == WARD__AGENT_MAGIC && info != NULL) {
        flags = WARD__SI_SET | (info->tls ? WARD__SI_TLS : 0u) |
                (info->time_synced ? WARD__SI_SYNCED : 0u);
        changed = flags != agent->si_flags;
        changed |= si_copy(agent, WARD_SK_OS, info->os);
        changed |= si_copy(agent, WARD_SK_FIRMWARE, info->firmware);
        changed |= si_copy(agent, WARD_SK_HARDWARE, info->hardware);
        changed |= si_copy(agent, WARD_SK_IP_STACK, info->ip_stack);
        agent->si_flags = (uint8_t)flags;
        if (changed) {
            agent->si_due = 1;
        }
        st = WARD_OK;
    }
    return st;
}

ward_status_t ward_agent_metric_set(ward_agent_t *agent, const char *name, int64_t value)
{
    ward_status_t st;
    size_t len = 0;
#if WARD_MAX_METRICS > 0
    ward__metric_t *m = NULL;
    ward__metric_t *free_m = NULL;
    unsigned i;
#endif

    if (agent == NULL || agent->magic != WARD__AGENT_MAGIC) {
        st = WARD_E_ARG;
    } else if ((len = name_len(name, WARD_METRIC_NAME_MAX, 1)) == 0) {
        st = WARD_E_ARG;
    } else {
        st = WARD_E_FULL;
#if WARD_MAX_METRICS > 0
        for (i = 0; m == NULL && i < WARD_MAX_METRICS; i++) {
            if (agent->metrics[i].len == 0) {
                if (free_m == NULL) {
                    free_m = &agent->metrics[i];
                }
            } else if (agent->metrics[i].len == len &&
                       memcmp(agent->metrics[i].name, name, len) == 0) {
                m = &agent->metrics[i];
            }
        }
        if (m == NULL && free_m != NULL) {
            m = free_m;
            memcpy(m->name, name, len);
            m->len = (uint8_t)len;
        }
        if (m != NULL) {
            m->value = value;
            st = WARD_OK;
        }
#endif
    }
    return st;
}
