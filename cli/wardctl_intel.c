/*
 * wardctl intel check: which indicators of these feeds match this address? The feeds are loaded
 * by the intel engine wardd uses (intel.h: the same loaders, format detection, deduplication and
 * index), so the answer is the one wardd would give for a flow to that address right now.
 *
 * Bad feed records are printed on stderr as "file:line: reason" and skipped. Single-threaded.
 */
#include "wardctl_intel.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "intel.h"
#include "log.h"

#define EXIT_MATCH 0
#define EXIT_NO_MATCH 1
#define EXIT_ERROR 2
#define MAX_FEEDS 256

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wardctl intel check ADDRESS [--feed PATH]... [--format NAME] [--json]\n"
            "\n"
            "Loads the feeds (files or folders, any format wardd reads, detected from the\n"
            "content) and prints every indicator that matches ADDRESS (IPv4 or IPv6), most\n"
            "specific first: value, source, category, confidence, first seen, expiry, ref.\n"
            "\n"
            "  --feed PATH     a feed file or folder (repeatable, at least one)\n"
            "  --format NAME   format of the --feed options after it (default auto)\n"
            "  --json          {\"address\": ..., \"matches\": [...]} instead of a table\n"
            "\n"
            "Exit status: 0 something matched, 1 nothing matched, 2 error.\n");
}

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "wardctl: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return EXIT_ERROR;
}

static void print_error(void *ctx, const ward_feed_error_t *e)
{
    (void)ctx;
    fprintf(stderr, "%s\n", e->message);
}

static const char *when(int64_t s, char *buf, size_t len)
{
    return s == 0 ? "-" : ward_time_iso(s * 1000, buf, len);
}

static json_t *match_json(const ward_intel_match_t *m)
{
    char t[WARD_TIME_STRLEN];
    return json_pack("{s:s,s:s,s:s,s:i,s:o,s:o,s:s}", "value", m->value, "source", m->source,
                     "category", m->category, "confidence", (int)m->confidence, "first_seen",
                     m->first_seen ? json_string(ward_time_iso(m->first_seen * 1000, t, sizeof t))
                                   : json_null(),
                     "expires",
                     m->expires ? json_string(ward_time_iso(m->expires * 1000, t, sizeof t))
                                : json_null(),
                     "ref", m->ref);
}

static void print_table(const char *address, const ward_intel_match_t *m, size_t n)
{
    static const char *const head[] = {"VALUE",      "SOURCE",  "CATEGORY", "CONFIDENCE",
                                       "FIRST SEEN", "EXPIRES", "REF"};
    enum { NCOL = 7 };
    size_t w[NCOL];
    char conf[8], t1[WARD_TIME_STRLEN], t2[WARD_TIME_STRLEN];
    for (int c = 0; c < NCOL; c++)
        w[c] = strlen(head[c]);
    for (size_t i = 0; i < n; i++) {
        snprintf(conf, sizeof conf, "%u", m[i].confidence);
        const char *cell[NCOL] = {m[i].value, m[i].source, m[i].category[0] ? m[i].category : "-",
                                  conf, when(m[i].first_seen, t1, sizeof t1),
                                  when(m[i].expires, t2, sizeof t2), m[i].ref[0] ? m[i].ref : "-"};
        for (int c = 0; c < NCOL; c++)
            if (strlen(cell[c]) > w[c])
                w[c] = strlen(cell[c]);
    }
    printf("%s: %zu matching indicator%s\n", address, n, n == 1 ? "" : "s");
    for (int c = 0; c < NCOL; c++)
        printf("%-*s%s", c + 1 < NCOL ? (int)w[c] : 0, head[c], c + 1 < NCOL ? "  " : "\n");
    for (size_t i = 0; i < n; i++) {
        snprintf(conf, sizeof conf, "%u", m[i].confidence);
        const char *cell[NCOL] = {m[i].value, m[i].source, m[i].category[0] ? m[i].category : "-",
                                  conf, when(m[i].first_seen, t1, sizeof t1),
                                  when(m[i].expires, t2, sizeof t2), m[i].ref[0] ? m[i].ref : "-"};
        for (int c = 0; c < NCOL; c++)
            printf("%-*s%s", c + 1 < NCOL ? (int)w[c] : 0, cell[c], c + 1 < NCOL ? "  " : "\n");
    }
}

static int check(const char *address, const ward_intel_source_cfg_t *feeds, size_t n_feeds,
                 bool json)
{
    ward_addr_t addr;
    if (!ward_addr_parse(address, &addr))
        return fail("\"%s\" is not an IPv4 or IPv6 address", address);
    char err[512];
    ward_intel_config_t cfg = {.sources = feeds, .n_sources = n_feeds, .on_error = print_error,
                               .quiet = true};
    ward_intel_t *in = ward_intel_open(&cfg, err, sizeof err);
    if (in == NULL)
        return fail("%s", err);
    ward_intel_reader_register();
    int64_t now = ward_now_ms() / 1000;
    ward_intel_match_t one;
    size_t total = ward_intel_match(in, &addr, now, &one, 1);
    ward_intel_match_t *m = total ? calloc(total, sizeof *m) : NULL;
    if (total > 0 && m == NULL) {
        ward_intel_reader_unregister();
        ward_intel_close(in);
        return fail("%s", "out of memory");
    }
    if (total > 0)
        total = ward_intel_match(in, &addr, now, m, total);
    ward_intel_reader_unregister();
    ward_intel_close(in);

    int rc = total > 0 ? EXIT_MATCH : EXIT_NO_MATCH;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < total; i++)
            json_array_append_new(arr, match_json(&m[i]));
        json_t *o = json_pack("{s:s,s:o}", "address", address, "matches", arr);
        if (o == NULL || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
            rc = EXIT_ERROR;
        printf("\n");
        json_decref(o);
    } else if (total == 0) {
        printf("%s: no matching indicator\n", address);
    } else {
        print_table(address, m, total);
    }
    free(m);
    if (fflush(stdout) != 0 || ferror(stdout))
        rc = fail("%s", "cannot write the output");
    return rc;
}

int wardctl_intel(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"feed", required_argument, NULL, 'f'}, {"format", required_argument, NULL, 'F'},
        {"json", no_argument, NULL, 'j'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static ward_intel_source_cfg_t feeds[MAX_FEEDS];
    size_t n_feeds = 0;
    ward_feed_format_t format = WARD_FEED_AUTO;
    bool json = false;
    int c;
    ward_log_init("wardctl", WARD_LOG_WARN);
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (n_feeds == MAX_FEEDS)
                return fail("at most %s --feed options", "256");
            feeds[n_feeds++] = (ward_intel_source_cfg_t){WARD_INTEL_SRC_PATH, optarg, format, 0};
            break;
        case 'F':
            if (ward_feed_format_parse(optarg, &format) != WARD_OK)
                return fail("unknown --format \"%s\" (see wardctl intel --help)", optarg);
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return fail("unknown option or missing value: %s (see wardctl intel --help)",
                        argv[optind - 1]);
        }
    }
    if (optind >= argc || strcmp(argv[optind], "check") != 0)
        return fail("%s", "usage: wardctl intel check ADDRESS [--feed PATH]... [--json]");
    if (argc - optind != 2)
        return fail("%s", "intel check wants exactly one ADDRESS (see wardctl intel --help)");
    if (n_feeds == 0)
        return fail("%s", "intel check needs at least one --feed PATH");
    return check(argv[optind + 1], feeds, n_feeds, json);
}
