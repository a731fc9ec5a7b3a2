/*
 * bench-wire: the service's report decoder (ward_wire_decode, service/wire.c), measured.
 *
 * Prints one line (and nothing else on stdout):
 *
 *   wire ns_per_report=<x> flows_per_report=<n> bytes_per_report=<b> reports=<r>
 *
 * Details go to stderr. The reports are encoded by the real agent core (bench_traffic.c, the same
 * traffic as bench-ingest): WIRE_DEVICES devices, each one minute of traffic with 17 connections
 * besides the MQTT link, DNS and NTP, about 20 flows and 700 bytes per report. Each report is
 * checked to decode first. The timed loop decodes every report and frees it
 * (ward_wire_report_free), as the worker does, WIRE_PASSES times over; ns: clock_gettime
 * (CLOCK_MONOTONIC) around the loop, best of WIRE_RUNS runs after a warm-up pass, so a busy
 * machine disturbs the figure less.
 *
 * Bounded: a few seconds; never a test. Usage: bench-wire [passes]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_traffic.h"
#include "ward/agent.h"
#include "wire.h"

#define WIRE_DEVICES 64u
#define WIRE_PASSES 500u
#define WIRE_RUNS 5

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One pass over every report; the flows decoded, so that the compiler keeps the work. */
static size_t decode_all(const bench_capture_t *c)
{
    size_t flows = 0;
    for (size_t i = 0; i < c->n; i++) {
        ward_wire_report_t r;
        if (ward_wire_decode(c->out[i].data, c->out[i].len, &r, NULL, 0) == WARD_OK) {
            flows += r.n_flows;
            ward_wire_report_free(&r);
        }
    }
    return flows;
}

int main(int argc, char **argv)
{
    unsigned long passes = WIRE_PASSES;
    if (argc > 1) {
        char *end;
        passes = strtoul(argv[1], &end, 10);
        if (*end != '\0' || passes == 0 || passes > 1000000) {
            fprintf(stderr, "usage: bench-wire [passes (1..1000000, default %u)]\n", WIRE_PASSES);
            return 2;
        }
    }

    static bench_blob_t parts[WIRE_DEVICES * 4];
    bench_capture_t cap = {parts, 0, sizeof parts / sizeof parts[0], true};
    static ward_agent_t agent;
    ward_transport_t tr = {bench_capture_publish, &cap};
    for (unsigned dev = 0; dev < WIRE_DEVICES; dev++) {
        char id[32];
        uint8_t buf[WARD_REPORT_BUFFER_SIZE];
        bench_agent_start(&agent, dev, id, &tr, 10000);
        bench_minute(&agent, dev, 0, 17, 10000);
        ward_agent_poll(&agent, 70000, buf, sizeof buf);
    }

    size_t bytes = 0, flows = 0;
    for (size_t i = 0; i < cap.n; i++) {
        char reason[256];
        ward_wire_report_t r;
        ward_status_t st =
            ward_wire_decode(cap.out[i].data, cap.out[i].len, &r, reason, sizeof reason);
        if (st != WARD_OK) {
            fprintf(stderr, "bench-wire: report %zu does not decode: %s\n", i, reason);
            return 1;
        }
        bytes += cap.out[i].len;
        flows += r.n_flows;
        ward_wire_report_free(&r);
    }
    if (cap.n == 0) {
        fprintf(stderr, "bench-wire: the agent sent no report\n");
        return 1;
    }

    decode_all(&cap); /* warm-up */
    double best = 0;
    size_t sink = 0;
    for (int run = 0; run < WIRE_RUNS; run++) {
        double t0 = now_ns();
        for (unsigned long p = 0; p < passes; p++)
            sink += decode_all(&cap);
        double ns = (now_ns() - t0) / ((double)passes * (double)cap.n);
        fprintf(stderr, "bench-wire: run %d: %.0f ns per report\n", run + 1, ns);
        if (run == 0 || ns < best)
            best = ns;
    }
    if (sink != flows * passes * WIRE_RUNS) {
        fprintf(stderr, "bench-wire: decoded %zu flows, expected %zu\n", sink,
                flows * passes * WIRE_RUNS);
        return 1;
    }
    fprintf(stderr,
            "bench-wire: %zu reports (%zu devices, one part each or more), %lu passes, best of %d "
            "runs\n",
            cap.n, (size_t)WIRE_DEVICES, passes, WIRE_RUNS);
    printf("wire ns_per_report=%.0f flows_per_report=%.1f bytes_per_report=%.0f reports=%zu\n",
           best, (double)flows / (double)cap.n, (double)bytes / (double)cap.n, cap.n);
    for (size_t i = 0; i < cap.n; i++)
        free(cap.out[i].data);
    return 0;
}
