/*
 * Unit test of the /proc/net parser (procnet.c), driven by data: every folder under
 * tests/cases/procnet/ holds sample files (tcp, tcp6, udp, udp6; any may be missing) and an
 * `expected` file:
 *
 *     order little|big          how the kernel that wrote the files held address words
 *     listen PROTO ADDR PORT    one listening socket (PROTO tcp or udp), any order
 *     malformed N               lines counted as malformed
 *     lines N                   lines seen in all files
 *
 * Each case is parsed three ways that must agree: ward_posix_procnet_read() on the folder (the
 * code ward-agent runs on the live /proc), and feeding each file in 1-byte and in 7-byte chunks
 * (a line cut anywhere must not change the result). Then a few properties of single lines.
 *
 * Usage: test-procnet CASES_DIR     exit 0 when every check passed
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procnet.h"

#define MAX_LISTEN 64
#define MAX_LINE 256

static int g_failed;
static int g_passed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            g_passed++;                                                                            \
        } else {                                                                                   \
            g_failed++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* "tcp 127.0.0.1 8080" */
static void format_entry(const ward_posix_listen_t *e, char *out, size_t cap)
{
    char a[INET6_ADDRSTRLEN];

    inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->addr, a, sizeof a);
    snprintf(out, cap, "%s %s %u", e->proto == 6 ? "tcp" : "udp", a, (unsigned)e->port);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

typedef struct expect {
    int order;
    char listen[MAX_LISTEN][MAX_LINE];
    size_t nlisten;
    long malformed;
    long lines;
} expect_t;

static int read_expected(const char *dir, expect_t *x)
{
    char path[2048];
    char line[MAX_LINE];
    FILE *f;

    memset(x, 0, sizeof *x);
    x->malformed = -1;
    x->lines = -1;
    snprintf(path, sizeof path, "%s/expected", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        if (strcmp(line, "order little") == 0) {
            x->order = WARD_PROCNET_LITTLE_ENDIAN;
        } else if (strcmp(line, "order big") == 0) {
            x->order = WARD_PROCNET_BIG_ENDIAN;
        } else if (strncmp(line, "listen ", 7) == 0 && x->nlisten < MAX_LISTEN) {
            snprintf(x->listen[x->nlisten++], MAX_LINE, "%s", line + 7);
        } else if (strncmp(line, "malformed ", 10) == 0) {
            x->malformed = strtol(line + 10, NULL, 10);
        } else if (strncmp(line, "lines ", 6) == 0) {
            x->lines = strtol(line + 6, NULL, 10);
        } else {
            fprintf(stderr, "%s: cannot read line '%s'\n", path, line);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return x->order != 0 && x->malformed >= 0 && x->lines >= 0 ? 0 : -1;
}

/* The result as sorted text lines, to compare with the expectation. */
static size_t result_lines(const ward_posix_procnet_t *p, char out[][MAX_LINE])
{
    size_t k;

    for (k = 0; k < p->n; k++) {
        format_entry(&p->out[k], out[k], MAX_LINE);
    }
    qsort(out, p->n, MAX_LINE, cmp_str);
    return p->n;
}

static void compare(const char *name, const char *how, const ward_posix_procnet_t *p, expect_t *x)
{
    static char got[MAX_LISTEN][MAX_LINE];
    size_t n = result_lines(p, got);
    size_t k;
    int same = n == x->nlisten;

    qsort(x->listen, x->nlisten, MAX_LINE, cmp_str);
    for (k = 0; same && k < n; k++) {
        same = strcmp(got[k], x->listen[k]) == 0;
    }
    CHECK(same, "%s (%s): listening sockets differ", name, how);
    if (!same) {
        for (k = 0; k < x->nlisten; k++) {
            fprintf(stderr, "    expected %s\n", x->listen[k]);
        }
        for (k = 0; k < n; k++) {
            fprintf(stderr, "    found    %s\n", got[k]);
        }
    }
    CHECK((long)p->malformed == x->malformed, "%s (%s): malformed %lu, expected %ld", name, how,
          p->malformed, x->malformed);
    CHECK((long)p->lines == x->lines, "%s (%s): lines %lu, expected %ld", name, how, p->lines,
          x->lines);
    CHECK(p->full == 0, "%s (%s): result full", name, how);
}

/* Feed every file of the case in chunks of `chunk` bytes. */
static void parse_chunked(const char *dir, int order, size_t chunk, ward_posix_procnet_t *p,
                          ward_posix_listen_t *out)
{
    static const struct {
        const char *name;
        int proto;
        int family;
    } files[] = {{"tcp", 6, 4}, {"tcp6", 6, 6}, {"udp", 17, 4}, {"udp6", 17, 6}};
    size_t f;

    ward_posix_procnet_begin(p, out, MAX_LISTEN);
    for (f = 0; f < 4; f++) {
        char path[2048];
        char buf[64];
        size_t got;
        FILE *fp;

        snprintf(path, sizeof path, "%s/%s", dir, files[f].name);
        fp = fopen(path, "rb");
        if (fp == NULL) {
            continue;
        }
        ward_posix_procnet_next_file(p, files[f].proto, files[f].family, order);
        while ((got = fread(buf, 1, chunk, fp)) > 0) {
            ward_posix_procnet_feed(p, buf, got);
        }
        ward_posix_procnet_end_file(p);
        fclose(fp);
    }
}

static int run_case(const char *dir, const char *name)
{
    static expect_t x;
    ward_posix_listen_t out[MAX_LISTEN];
    ward_posix_procnet_t p;
    int rc;

    if (read_expected(dir, &x) != 0) {
        CHECK(0, "%s: no readable expected file", name);
        return -1;
    }
    rc = ward_posix_procnet_read(dir, x.order, &p, out, MAX_LISTEN);
    CHECK(rc == (int)x.nlisten, "%s: read returned %d, expected %zu", name, rc, x.nlisten);
    compare(name, "whole files", &p, &x);
    parse_chunked(dir, x.order, 1, &p, out);
    compare(name, "1-byte chunks", &p, &x);
    parse_chunked(dir, x.order, 7, &p, out);
    compare(name, "7-byte chunks", &p, &x);
    printf("case %s: %zu listening, %lu malformed of %lu lines\n", name, x.nlisten, x.malformed,
           x.lines);
    return 0;
}

static void test_lines(void)
{
    ward_posix_listen_t e;
    ward_posix_listen_t out[2];
    ward_posix_procnet_t p;
    const char *udp_any = "   1: 00000000:0035 00000000:0000 07 0";
    char buf[WARD_PROCNET_LINE_MAX + 2];

    /* Bad arguments are refused, not guessed. */
    CHECK(ward_posix_procnet_line(udp_any, strlen(udp_any), 1, 4, 0, &e) == -1, "proto 1");
    CHECK(ward_posix_procnet_line(udp_any, strlen(udp_any), 17, 5, 0, &e) == -1, "family 5");
    CHECK(ward_posix_procnet_line(NULL, 0, 17, 4, 0, &e) == -1, "NULL line");
    CHECK(ward_posix_procnet_next_file(&p, 17, 4, 3) == -1, "order 3");
    /* UDP: bound, no remote = listening; the same line read as TCP (state 07 CLOSE) is not. */
    CHECK(ward_posix_procnet_line(udp_any, strlen(udp_any), 17, 4, 1, &e) == 1 && e.port == 53,
          "udp any:53 listening");
    CHECK(ward_posix_procnet_line(udp_any, strlen(udp_any), 6, 4, 1, &e) == 0,
          "tcp state 07 not listening");
    /* The length given is the line: a line cut before its state is malformed. */
    CHECK(ward_posix_procnet_line(udp_any, 33, 17, 4, 1, &e) == -1, "cut line malformed");
    CHECK(ward_posix_procnet_line("  ", 2, 6, 4, 1, &e) == 0, "blank line");
    /* A full result counts what it could not keep. */
    ward_posix_procnet_begin(&p, out, 1);
    ward_posix_procnet_next_file(&p, 17, 4, WARD_PROCNET_LITTLE_ENDIAN);
    ward_posix_procnet_feed(&p, "1: 00000000:0035 00000000:0000 07 \n", 35);
    ward_posix_procnet_feed(&p, "2: 00000000:0036 00000000:0000 07 \n", 35);
    ward_posix_procnet_end_file(&p);
    CHECK(p.n == 1 && p.full == 1, "full result: n %zu full %lu", p.n, p.full);
    /* A line of exactly the maximum length is read; one byte more is malformed. */
    memset(buf, ' ', sizeof buf);
    memcpy(buf, udp_any, strlen(udp_any));
    ward_posix_procnet_begin(&p, out, 2);
    ward_posix_procnet_next_file(&p, 17, 4, WARD_PROCNET_LITTLE_ENDIAN);
    buf[WARD_PROCNET_LINE_MAX] = '\n';
    ward_posix_procnet_feed(&p, buf, WARD_PROCNET_LINE_MAX + 1);
    CHECK(p.n == 1 && p.malformed == 0, "line of the maximum length read");
    buf[WARD_PROCNET_LINE_MAX] = ' ';
    buf[WARD_PROCNET_LINE_MAX + 1] = '\n';
    ward_posix_procnet_feed(&p, buf, WARD_PROCNET_LINE_MAX + 2);
    CHECK(p.malformed == 1, "line one byte too long is malformed");
}

int main(int argc, char **argv)
{
    DIR *d;
    struct dirent *de;
    int cases = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: test-procnet CASES_DIR\n");
        return 2;
    }
    test_lines();
    d = opendir(argv[1]);
    if (d == NULL) {
        fprintf(stderr, "test-procnet: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        char dir[1024];
        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(dir, sizeof dir, "%s/%s", argv[1], de->d_name);
        run_case(dir, de->d_name);
        cases++;
    }
    closedir(d);
    CHECK(cases >= 4, "found %d cases", cases);
    printf("test-procnet: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
