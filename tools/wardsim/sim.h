/*
 * wardsim internals shared by its files: the simulated fleet (devices, each with a real agent
 * core), the packet scheduler, and the scenarios.
 *
 *   wardsim.c   options, MQTT connections, the time loop, scoring against wardd's alerts
 *   traffic.c   packets (IPv4/IPv6, TCP/UDP/ICMP/ICMPv6) built and fed to the agent cores, the
 *               benign device profiles (camera, sensor, gateway) and the attack scenarios
 *   feed.c      addresses read from a threat feed (the intel scenario picks from them; every other
 *               random remote avoids them)
 *
 * Threads: one thread runs every agent core (packet hook and poll alike, so the core's critical
 * section stays empty); libmosquitto's threads only touch the connection counters (atomics).
 */
#ifndef WARDSIM_SIM_H
#define WARDSIM_SIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ward/agent.h"

/* ---- random numbers (splitmix64: small, seedable, good enough for traffic) ---- */

typedef struct sim_rng {
    uint64_t s;
} sim_rng_t;

uint64_t sim_rand(sim_rng_t *r);
/** Uniform in [lo, hi] (inclusive). */
uint32_t sim_range(sim_rng_t *r, uint32_t lo, uint32_t hi);
/** Uniform in [0, 1). */
double sim_unit(sim_rng_t *r);

/* ---- addresses and feeds ---- */

typedef struct sim_addr {
    uint8_t fam; /* 4 or 6 */
    uint8_t b[16];
} sim_addr_t;

bool sim_addr_parse(const char *s, sim_addr_t *out);
void sim_addr_format(const sim_addr_t *a, char *buf, size_t len);
bool sim_addr_equal(const sim_addr_t *a, const sim_addr_t *b);

typedef struct sim_cidr {
    sim_addr_t a;
    uint8_t plen;
} sim_cidr_t;

typedef struct sim_feed {
    sim_cidr_t *v; /* as listed */
    size_t n, cap;
    uint32_t (*r4)[2]; /* IPv4 ranges [lo, hi], sorted and merged: membership by binary search */
    size_t n4;
} sim_feed_t;

/** Read every IP or CIDR of a feed file (plain lists, DROP, netset, CSV, Zeek: the first field of
 *  a line that parses as one). 0 ok, -1 with the reason in err. */
int sim_feed_load(sim_feed_t *f, const char *path, char *err, size_t errlen);
bool sim_feed_contains(const sim_feed_t *f, const sim_addr_t *a);
void sim_feed_free(sim_feed_t *f);

/* ---- scenarios ---- */

enum sim_scenario {
    SC_NONE = -1,
    SC_PORT_SCAN = 0,
    SC_HOST_SWEEP,
    SC_SYN_FLOOD,
    SC_ICMP_FLOOD,
    SC_BRUTE_FORCE,
    SC_EXFILTRATION,
    SC_INTEL,
    SC_COUNT
};

extern const char *const sim_scenario_name[SC_COUNT];
/** The alert type that detects each scenario (intel: any type starting "intel."). */
extern const char *const sim_scenario_alert[SC_COUNT];

enum sim_profile { PR_CAMERA = 0, PR_SENSOR, PR_GATEWAY, PR_COUNT };
extern const char *const sim_profile_name[PR_COUNT];

/* ---- the fleet ---- */

#define SIM_MAX_LISTEN 6
#define SIM_MAX_LAN_CLIENTS 8

typedef struct sim_device {
    char id[32];
    char topic[96];
    int idx, group, profile, conn;
    bool v6;
    sim_addr_t v4, g6, ll6, router4, router6, lan_base;
    sim_rng_t rng;
    ward_transport_t transport;
    uint64_t clock0_ms; /* the device's clock (ms since boot) at simulated time 0 */
    uint32_t boot_s;

    /* benign behaviour (simulated seconds) */
    uint16_t eph;       /* next ephemeral port */
    uint16_t mqtt_lport, stream_lport;
    uint32_t pub_period, next_pub, last_mqtt, next_dns, next_ntp, next_c2d, next_upload;
    uint32_t next_nd, next_ra, next_mdns, next_lan, next_admin, next_vbr;
    uint32_t stream_bps;    /* camera: upload bit rate, steady part */
    double vbr;             /* camera: this minute's factor */
    uint32_t report_bytes;  /* the agent's own report bytes, sent next second on the MQTT link */
    uint8_t n_lan;          /* gateway: LAN clients connected to its MQTT port */
    uint16_t ltcp[SIM_MAX_LISTEN], ludp[SIM_MAX_LISTEN];
    uint8_t n_ltcp, n_ludp;
    uint16_t service_port; /* the port an attacker goes for (brute force, SYN flood) */

    /* the injected scenario */
    int scen;
    bool started;
    uint32_t s_start, s_end, s_next;
    uint32_t s_rate, s_total, s_done, s_udp_total, s_udp_done;
    uint16_t s_port, s_sport;
    bool s_spoof;
    sim_addr_t s_remote;
    uint64_t s_bytes; /* exfiltration: bytes per second */
    char s_fact[192];  /* one line saying what was done */

    uint64_t parts; /* report parts handed to MQTT */
} sim_device_t;

/** One scheduled packet (or a train of `count` packets `spacing_us` apart). */
typedef struct sim_ev {
    uint64_t due_us;
    uint32_t dev;
    uint32_t spacing_us;
    uint32_t count;
    uint16_t lport, rport; /* ICMP: rport = type << 8 | code */
    uint16_t ip_len;
    uint8_t dir, proto, lsel, tcpf, flags;
    uint8_t remote[16];
} sim_ev_t;

#define EVF_RANDSRC 0x01u   /* a random remote per packet (spoofed flood) */
#define EVF_RANDSPORT 0x02u /* a random remote port per packet */

/* Local address selectors of an event. */
enum { LS_V4 = 0, LS_G6, LS_LL6, LS_M4, LS_M6 };

typedef struct sim {
    sim_device_t *devs;
    ward_agent_t *agents; /* calloc'd array, one per device: the core itself never allocates */
    size_t n;
    sim_ev_t *heap;
    size_t heap_n, heap_cap;
    sim_rng_t rng; /* spoofed sources, sweep targets */
    const sim_feed_t *feed;
    uint32_t interval_s;
    uint32_t duration_s;
    uint64_t packets;
    uint64_t packet_errors;
    bool verbose;
} sim_t;

/** Fill device i (addresses, profile, listening ports, benign schedule). */
void sim_device_setup(sim_t *s, sim_device_t *d, int idx, int group, int profile, uint64_t seed);
/** Plan the scenario of device d (times, remote, rates). false: it does not fit the duration. */
bool sim_scenario_plan(sim_t *s, sim_device_t *d, int scen);
/** Schedule what device d does during simulated second t (benign traffic and its scenario). */
void sim_device_second(sim_t *s, sim_device_t *d, uint32_t t);
/** Feed every scheduled packet due before end_us to the agent cores, in time order. */
void sim_run_until(sim_t *s, uint64_t end_us);
/** The listening-socket source given to the agent core (ctx: the device). */
size_t sim_listening(void *ctx, ward_listen_t *out, size_t max);
/** A random public IPv4 (or IPv6 from 2001:db8:a77a::/48) address that is not on the feed. */
sim_addr_t sim_random_remote(sim_t *s, sim_rng_t *r, int fam);

#endif
