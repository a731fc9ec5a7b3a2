/*
 * bench_feeds: how fast the feed loader reads a large plain IP/CIDR list, and how much memory an
 * indicator costs once loaded.
 *
 * Builds a list of N lines in memory (default 1,000,000: a mix of IPv4 addresses, IPv4 CIDRs,
 * IPv6 addresses and prefixes, some comments), writes it to a temporary file, then loads the file
 * R times (default 5) into fresh feed sets and reports the best run, file reading included.
 * bytes_per_indicator is the feed set's heap after ward_feeds_shrink() divided by its indicators.
 *
 *   build/bin/bench_feeds [lines] [runs]
 *   -> feeds load_lines_per_s=<x> bytes_per_indicator=<y>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "feeds.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long parse_arg(const char *s, unsigned long dflt)
{
    if (s == NULL)
        return dflt;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    return (*end == '\0' && v > 0) ? v : dflt;
}

int main(int argc, char **argv)
{
    unsigned long lines = parse_arg(argc > 1 ? argv[1] : NULL, 1000000);
    unsigned long runs = parse_arg(argc > 2 ? argv[2] : NULL, 5);

    size_t cap = lines * 48 + 64, len = 0;
    char *text = malloc(cap);
    if (text == NULL)
        return 1;
    uint32_t x = 2463534242u;
    len += (size_t)snprintf(text + len, cap - len, "# bench list\n");
    for (unsigned long i = 0; i < lines; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        int w;
        switch (i % 10) {
        case 0:
            w = snprintf(text + len, cap - len, "%u.%u.%u.0/24\n", 1 + (x >> 24) % 223,
                         (x >> 16) & 255, (x >> 8) & 255);
            break;
        case 1:
            w = snprintf(text + len, cap - len, "2001:db8:%x:%x::/64\n", (x >> 16) & 0xffff,
                         x & 0xffff);
            break;
        case 2:
            w = snprintf(text + len, cap - len, "2001:db8::%x:%x\n", (x >> 16) & 0xffff,
                         x & 0xffff);
            break;
        case 3:
            w = snprintf(text + len, cap - len, "%u.%u.%u.%u # seen scanning\n",
                         1 + (x >> 24) % 223, (x >> 16) & 255, (x >> 8) & 255, x & 255);
            break;
        default:
            w = snprintf(text + len, cap - len, "%u.%u.%u.%u\n", 1 + (x >> 24) % 223,
                         (x >> 16) & 255, (x >> 8) & 255, x & 255);
            break;
        }
        len += (size_t)w;
    }

    char path[] = "/tmp/ward-bench-feeds-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
        perror("bench_feeds: temp file");
        return 1;
    }
    close(fd);
    free(text);

    double best = 1e30;
    double bytes_per = 0;
    for (unsigned long r = 0; r < runs; r++) {
        ward_feedset_t fs;
        if (ward_feeds_init(&fs) != WARD_OK)
            return 1;
        ward_feed_stats_t st;
        ward_feed_opts_t o = {.format = WARD_FEED_AUTO};
        double t0 = now_s();
        ward_status_t rc = ward_feeds_load_file(&fs, path, &o, &st);
        double dt = now_s() - t0;
        if (rc != WARD_OK || st.loaded != lines || st.bad != 0) {
            fprintf(stderr, "bench_feeds: load failed (rc %d, loaded %llu, bad %llu)\n", rc,
                    (unsigned long long)st.loaded, (unsigned long long)st.bad);
            unlink(path);
            return 1;
        }
        if (dt < best)
            best = dt;
        ward_feeds_shrink(&fs);
        bytes_per = (double)ward_feeds_memory(&fs) / (double)fs.count;
        ward_feeds_free(&fs);
    }
    unlink(path);
    printf("feeds load_lines_per_s=%.0f bytes_per_indicator=%.1f\n", (double)lines / best,
           bytes_per);
    fprintf(stderr, "bench_feeds: %lu lines, %.1f MB, best of %lu runs %.1f ms\n", lines,
            (double)len / 1e6, runs, best * 1e3);
    return 0;
}
