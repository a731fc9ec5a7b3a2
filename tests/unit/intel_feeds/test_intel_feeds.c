/*
 * Unit tests of the feed loaders: ip.c (address parsing and formatting), format detection, every
 * format against its sample in tests/cases/feeds/<format>/ (counts, specific indicators with their
 * metadata, bad lines with their line numbers), folders, buffers, dedup, expiry, the STIX pattern
 * scanner, and the error reporting contract.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "feeds.h"
#include "feeds_internal.h"

#define CASES WARD_FEEDS_CASES
#define NOW 1717600000 /* 2024-06-05: after every sample's dates */

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

typedef struct errors {
    int n;
    uint64_t line[64];
    char reason[64][256];
    char message[64][512];
} errors_t;

static void on_error(void *ctx, const ward_feed_error_t *e)
{
    errors_t *er = ctx;
    if (er->n < 64) {
        er->line[er->n] = e->line;
        snprintf(er->reason[er->n], sizeof er->reason[0], "%s", e->reason);
        snprintf(er->message[er->n], sizeof er->message[0], "%s", e->message);
    }
    er->n++;
}

static ward_feed_opts_t opts_with(errors_t *er)
{
    memset(er, 0, sizeof *er);
    ward_feed_opts_t o = {.now = NOW, .on_error = on_error, .error_ctx = er};
    return o;
}

static ward_status_t load_case(ward_feedset_t *fs, const char *rel, ward_feed_stats_t *st,
                               errors_t *er)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", CASES, rel);
    ward_feed_opts_t o = opts_with(er);
    return ward_feeds_load_file(fs, path, &o, st);
}

/* The indicator whose formatted CIDR is `cidr` (first one), or NULL. */
static const ward_indicator_t *find(const ward_feedset_t *fs, const char *cidr)
{
    for (size_t i = 0; i < fs->count; i++) {
        char buf[64];
        ward_ip_format_cidr(&fs->items[i].addr, fs->items[i].prefix, fs->items[i].is_v4, buf,
                            sizeof buf);
        if (strcmp(buf, cidr) == 0)
            return &fs->items[i];
    }
    return NULL;
}

static void assert_ind(const ward_feedset_t *fs, const char *cidr, const char *category,
                       const char *ref, unsigned confidence, int64_t first_seen, int64_t expires)
{
    const ward_indicator_t *it = find(fs, cidr);
    if (it == NULL)
        fail_msg("indicator %s not loaded", cidr);
    assert_string_equal(ward_feeds_str(fs, it->category), category);
    assert_string_equal(ward_feeds_str(fs, it->ref), ref);
    assert_int_equal(it->confidence, confidence);
    assert_int_equal(it->first_seen, first_seen);
    assert_int_equal(it->expires, expires);
    assert_true(strstr(ward_feeds_str(fs, it->source), "cases/feeds/") != NULL ||
                strcmp(ward_feeds_str(fs, it->source), "-") == 0);
}

static void assert_bad_lines(const errors_t *er, const uint64_t *lines, int n)
{
    assert_int_equal(er->n, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(er->line[i], lines[i]);
}

static int setup(void **state)
{
    ward_feedset_t *fs = malloc(sizeof *fs);
    if (fs == NULL || ward_feeds_init(fs) != WARD_OK)
        return -1;
    *state = fs;
    return 0;
}

static int teardown(void **state)
{
    ward_feeds_free(*state);
    free(*state);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* ip.c */

static void test_ip_parse_valid(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        unsigned prefix;
        bool v4;
    } ok[] = {
        {"192.0.2.1", "192.0.2.1", 128, true},
        {"0.0.0.0/0", "0.0.0.0/0", 96, true},
        {"255.255.255.255/32", "255.255.255.255", 128, true},
        {"192.0.2.77/24", "192.0.2.0/24", 120, true},
        {"198.51.100.255/25", "198.51.100.128/25", 121, true},
        {"2001:db8::1", "2001:db8::1", 128, false},
        {"2001:DB8:0:0::/32", "2001:db8::/32", 32, false},
        {"2001:db8::ff/120", "2001:db8::/120", 120, false},
        {"::/0", "::/0", 0, false},
        {"::ffff:203.0.113.9", "203.0.113.9", 128, true},
        {"::ffff:203.0.113.0/120", "203.0.113.0/24", 120, true},
        {"::ffff:cb00:7109", "203.0.113.9", 128, true},
        {"::ffff:0:0/95", "::fffe:0:0/95", 95, false},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ward_ip_t a;
        uint8_t p;
        bool v4;
        if (!ward_ip_parse_cidr(ok[i].in, &a, &p, &v4))
            fail_msg("rejected %s", ok[i].in);
        assert_int_equal(p, ok[i].prefix);
        assert_int_equal(v4, ok[i].v4);
        char buf[64];
        ward_ip_format_cidr(&a, p, v4, buf, sizeof buf);
        assert_string_equal(buf, ok[i].out);
    }
}

static void test_ip_parse_invalid(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "1",
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.1",
        "1.2.3.999",
        "01.2.3.4",
        "1.2.3.04",
        "1.2.3.4/",
        "1.2.3.4/33",
        "1.2.3.4/024",
        "1.2.3.4/-1",
        " 1.2.3.4",
        "1.2.3.4 ",
        "x1.2.3.4",
        "1.2.3.4x",
        "1..3.4",
        "1.2.3.4/3x",
        "1.2.3.4//8",
        "2001:db8::/129",
        "2001:db8::g",
        "fe80::1%eth0",
        "2001:db8:::1",
        ":::",
        "1.2.3.4:80",
        "1234.1.1.1",
        "-1.2.3.4",
        "+1.2.3.4",
        "0x1.2.3.4",
        "2001:db8::1/",
        "::ffff:1.2.3.256",
        "1111:2222:3333:4444:5555:6666:7777:8888:9999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ward_ip_t a;
        uint8_t p;
        bool v4;
        if (ward_ip_parse_cidr(bad[i], &a, &p, &v4))
            fail_msg("accepted '%s'", bad[i]);
    }
    ward_ip_t a;
    uint8_t p;
    bool v4;
    assert_false(ward_ip_parse_cidr(NULL, &a, &p, &v4));
    char big[200];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(ward_ip_parse_cidr(big, &a, &p, &v4));
}

static void test_ip_format_small_buffer(void **state)
{
    (void)state;
    ward_ip_t a;
    uint8_t p;
    bool v4;
    assert_true(ward_ip_parse_cidr("2001:db8:1234:5678:9abc:def0:1234:5678", &a, &p, &v4));
    char buf[8];
    ward_ip_format_cidr(&a, p, v4, buf, sizeof buf);
    assert_int_equal(strlen(buf), 7);
}

/* ------------------------------------------------------------------------------------------ */
/* Detection */

static ward_feed_format_t detect_file(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", CASES, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return ward_feed_detect(buf, n, path);
}

static void test_detect(void **state)
{
    (void)state;
    assert_int_equal(detect_file("plain/blocklist.txt"), WARD_FEED_PLAIN);
    assert_int_equal(detect_file("drop/drop.txt"), WARD_FEED_DROP);
    assert_int_equal(detect_file("drop_json/drop_v4.json"), WARD_FEED_DROP_JSON);
    assert_int_equal(detect_file("netset/firehol_level1.netset"), WARD_FEED_NETSET);
    assert_int_equal(detect_file("netset/dshield_7d.netset"), WARD_FEED_NETSET);
    assert_int_equal(detect_file("feodo/ipblocklist.csv"), WARD_FEED_FEODO_CSV);
    assert_int_equal(detect_file("feodo/unquoted.csv"), WARD_FEED_FEODO_CSV);
    assert_int_equal(detect_file("zeek/intel.dat"), WARD_FEED_ZEEK);
    assert_int_equal(detect_file("iprep/categories.txt"), WARD_FEED_IPREP_CATEGORIES);
    assert_int_equal(detect_file("iprep/reputation.list"), WARD_FEED_IPREP);
    assert_int_equal(detect_file("misp_csv/export.csv"), WARD_FEED_MISP_CSV);
    assert_int_equal(detect_file("misp_json/event.json"), WARD_FEED_MISP_JSON);
    assert_int_equal(detect_file("misp_json/response.json"), WARD_FEED_MISP_JSON);
    assert_int_equal(detect_file("stix/bundle.json"), WARD_FEED_STIX);

    assert_int_equal(ward_feed_detect("", 0, NULL), WARD_FEED_PLAIN);
    const char *bom_stix = "\xef\xbb\xbf[{\"spec_version\":\"2.1\"}]";
    assert_int_equal(ward_feed_detect(bom_stix, strlen(bom_stix), NULL), WARD_FEED_STIX);
    const char *drop_no_header = "192.0.2.0/24 ; SBL1\n";
    assert_int_equal(ward_feed_detect(drop_no_header, strlen(drop_no_header), NULL),
                     WARD_FEED_DROP);
    const char *feodo_row = "\"2021-01-17 07:44:46\",\"192.0.2.1\",\"1\",\"online\",\"x\",\"y\"\n";
    assert_int_equal(ward_feed_detect(feodo_row, strlen(feodo_row), NULL), WARD_FEED_FEODO_CSV);
}

static void test_format_names(void **state)
{
    (void)state;
    for (int f = 0; f < WARD_FEED_FORMAT_COUNT; f++) {
        ward_feed_format_t back;
        assert_int_equal(ward_feed_format_parse(ward_feed_format_name(f), &back), WARD_OK);
        assert_int_equal(back, f);
    }
    ward_feed_format_t x;
    assert_int_equal(ward_feed_format_parse("nope", &x), WARD_E_ARG);
    assert_string_equal(ward_feed_format_name((ward_feed_format_t)99), "unknown");
}

/* ------------------------------------------------------------------------------------------ */
/* Formats */

static void test_plain(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "plain/blocklist.txt", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_PLAIN);
    assert_int_equal(st.loaded, 8);
    assert_int_equal(st.bad, 4);
    assert_int_equal(st.skipped, 0);
    assert_int_equal(fs->count, 8);
    static const uint64_t bad[] = {9, 10, 13, 14};
    assert_bad_lines(&er, bad, 4);
    assert_non_null(strstr(er.message[0], "plain/blocklist.txt:9: "));
    assert_non_null(strstr(er.reason[0], "'192.0.2.300'"));
    assert_non_null(strstr(er.reason[3], "unexpected text"));

    assert_ind(fs, "192.0.2.1", "", "", 75, 0, 0);
    assert_ind(fs, "198.51.100.0/24", "", "", 75, 0, 0);
    assert_ind(fs, "203.0.113.7", "", "", 75, 0, 0);
    assert_ind(fs, "2001:db8::1", "", "", 75, 0, 0);
    assert_ind(fs, "2001:db8:1::/48", "", "", 75, 0, 0);
    assert_ind(fs, "192.0.2.128/25", "", "", 75, 0, 0);
    assert_ind(fs, "192.0.2.0/24", "", "", 75, 0, 0);
    const ward_indicator_t *m = find(fs, "203.0.113.9");
    assert_non_null(m);
    assert_true(m->is_v4);
    assert_int_equal(m->prefix, 128);
    assert_false(find(fs, "2001:db8::1")->is_v4);
}

static void test_plain_options(void **state)
{
    ward_feedset_t *fs = *state;
    const char *data = "192.0.2.1\n198.51.100.0/24\n";
    ward_feed_opts_t o = {.source = "https://feeds.example.net/list.txt",
                          .category = "scanner",
                          .default_confidence = 33};
    ward_feed_stats_t st;
    assert_int_equal(ward_feeds_load_buffer(fs, data, strlen(data), NULL, &o, &st), WARD_OK);
    assert_int_equal(st.loaded, 2);
    const ward_indicator_t *it = find(fs, "198.51.100.0/24");
    assert_non_null(it);
    assert_string_equal(ward_feeds_str(fs, it->source), "https://feeds.example.net/list.txt");
    assert_string_equal(ward_feeds_str(fs, it->category), "scanner");
    assert_int_equal(it->confidence, 33);
}

static void test_drop(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "drop/drop.txt", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_DROP);
    assert_int_equal(st.loaded, 4);
    assert_int_equal(st.bad, 1);
    static const uint64_t bad[] = {8};
    assert_bad_lines(&er, bad, 1);
    assert_ind(fs, "192.0.2.0/24", "spamhaus_drop", "SBL256894", 100, 0, 0);
    assert_ind(fs, "198.51.100.0/22", "spamhaus_drop", "SBL635111", 100, 0, 0);
    assert_ind(fs, "203.0.113.0/25", "spamhaus_drop", "SBL555555", 100, 0, 0);
    assert_ind(fs, "2001:db8:ff00::/40", "spamhaus_drop", "SBL600001", 100, 0, 0);
}

static void test_drop_json(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "drop_json/drop_v4.json", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_DROP_JSON);
    assert_int_equal(st.loaded, 3);
    assert_int_equal(st.bad, 1);
    static const uint64_t bad[] = {4};
    assert_bad_lines(&er, bad, 1);
    assert_ind(fs, "192.0.2.0/24", "spamhaus_drop", "SBL256894", 100, 0, 0);
    assert_ind(fs, "2001:db8:100::/40", "spamhaus_drop", "SBL600001", 100, 0, 0);
}

static void test_netset(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "netset/firehol_level1.netset", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_NETSET);
    assert_int_equal(st.loaded, 4);
    assert_int_equal(st.bad, 0);
    assert_int_equal(er.n, 0);
    assert_ind(fs, "192.0.2.0/24", "firehol_level1", "", 75, 0, 0);
    assert_ind(fs, "203.0.113.64/26", "firehol_level1", "", 75, 0, 0);

    assert_int_equal(load_case(fs, "netset/dshield_7d.netset", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_NETSET);
    assert_int_equal(st.loaded, 2);
    assert_ind(fs, "203.0.113.0/24", "dshield_7d", "", 75, 0, 0);
}

static void test_feodo(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "feodo/ipblocklist.csv", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_FEODO_CSV);
    assert_int_equal(st.loaded, 4);
    assert_int_equal(st.bad, 2);
    static const uint64_t bad[] = {13, 14};
    assert_bad_lines(&er, bad, 2);
    assert_non_null(strstr(er.reason[0], "dst_ip"));
    assert_non_null(strstr(er.reason[1], "first_seen"));
    assert_ind(fs, "192.0.2.32", "Dridex", "", 75, 1610869486, 0);
    assert_ind(fs, "198.51.100.23", "QakBot", "", 75, 1646305513, 0);
    assert_ind(fs, "2001:db8::dead", "Heodo", "", 75, 1704164645, 0);

    assert_int_equal(load_case(fs, "feodo/unquoted.csv", &st, &er), WARD_OK);
    assert_int_equal(st.loaded, 2);
    assert_int_equal(st.bad, 0);
    assert_ind(fs, "192.0.2.44", "Dridex", "", 75, 1610869486, 0);
}

static void test_zeek(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "zeek/intel.dat", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_ZEEK);
    assert_int_equal(st.loaded, 4);
    assert_int_equal(st.skipped, 1);
    assert_int_equal(st.unsupported, 1);
    assert_int_equal(st.bad, 2);
    static const uint64_t bad[] = {6, 7};
    assert_bad_lines(&er, bad, 2);
    assert_ind(fs, "192.0.2.10", "Botnet C2", "https://intel.example.net/ioc/1", 90, 0, 0);
    assert_ind(fs, "198.51.100.0/24", "example-intel", "example-intel", 75, 0, 0);
    assert_ind(fs, "2001:db8::bad", "Scanner", "example-intel", 50, 0, 0);
    assert_ind(fs, "203.0.113.20", "", "", 75, 0, 0);
}

static void test_iprep_without_categories(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "iprep/reputation.list", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_IPREP);
    assert_int_equal(st.loaded, 4);
    assert_int_equal(st.bad, 2);
    static const uint64_t bad[] = {5, 6};
    assert_bad_lines(&er, bad, 2);
    assert_ind(fs, "192.0.2.1", "1", "", 100, 0, 0);
    assert_ind(fs, "198.51.100.0/24", "3", "", 50, 0, 0);
}

static void test_iprep_with_categories(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "iprep/categories.txt", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_IPREP_CATEGORIES);
    assert_int_equal(st.categories, 3);
    assert_int_equal(st.loaded, 0);
    assert_int_equal(load_case(fs, "iprep/reputation.list", &st, &er), WARD_OK);
    assert_int_equal(st.loaded, 4);
    assert_ind(fs, "192.0.2.1", "BadHosts", "", 100, 0, 0);
    assert_ind(fs, "198.51.100.0/24", "Scanners", "", 50, 0, 0);
    assert_ind(fs, "2001:db8::/32", "BadHosts", "", 8, 0, 0);
    assert_ind(fs, "203.0.113.5", "9", "", 79, 0, 0);
}

static void test_misp_csv(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "misp_csv/export.csv", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_MISP_CSV);
    assert_int_equal(st.loaded, 3);
    assert_int_equal(st.skipped, 2);
    assert_int_equal(st.unsupported, 1);
    assert_int_equal(st.revoked, 1);
    assert_int_equal(st.bad, 2);
    static const uint64_t bad[] = {8, 9};
    assert_bad_lines(&er, bad, 2);
    assert_ind(fs, "192.0.2.66", "Network activity", "1201", 75, 1617875568, 0);
    assert_ind(fs, "198.51.100.77", "Network activity", "1201", 75, 1617875568, 0);
    assert_ind(fs, "2001:db8::c2", "Network activity", "1202", 75, 1617840000, 0);
    assert_null(find(fs, "203.0.113.1"));
}

static void test_misp_json(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "misp_json/event.json", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_MISP_JSON);
    assert_int_equal(st.loaded, 4);
    assert_int_equal(st.skipped, 3);
    assert_int_equal(st.unsupported, 2);
    assert_int_equal(st.revoked, 1);
    assert_int_equal(st.bad, 1);
    assert_int_equal(er.n, 1);
    assert_int_equal(er.line[0], 0);
    assert_non_null(strstr(
        er.message[0], "event.json: Event 5f9b6c2e-0000-4a1e-9b7e-1c2d3e4f0001 Attribute[4]: "));
    const char *ev = "5f9b6c2e-0000-4a1e-9b7e-1c2d3e4f0001";
    assert_ind(fs, "192.0.2.200", "Network activity", ev, 75, 1617875568, 0);
    assert_ind(fs, "198.51.100.10", "Network activity", ev, 75, 1617875600, 0);
    assert_ind(fs, "2001:db8:c2::/64", "Network activity", ev, 75, 1617235200, 0);
    assert_ind(fs, "203.0.113.40", "Network activity", ev, 75, 1617875700, 0);

    assert_int_equal(load_case(fs, "misp_json/response.json", &st, &er), WARD_OK);
    assert_int_equal(st.loaded, 2);
    assert_int_equal(st.bad, 0);
    assert_ind(fs, "198.51.100.99", "Network activity", "5f9b6c2e-0000-4a1e-9b7e-1c2d3e4f0007", 75,
               1641081600, 0);
    assert_ind(fs, "2001:db8::8", "Network activity", "5f9b6c2e-0000-4a1e-9b7e-1c2d3e4f0008", 75,
               1641168000, 0);
}

static void test_misp_json_bare_array(void **state)
{
    ward_feedset_t *fs = *state;
    const char *data = "[{\"Event\":{\"uuid\":\"u1\",\"Attribute\":[{\"type\":\"ip-dst\","
                       "\"value\":\"192.0.2.5\"}]}},{\"uuid\":\"u2\",\"Attribute\":[{\"type\":"
                       "\"ip-src\",\"value\":\"192.0.2.6\"}]}, 5]";
    ward_feed_stats_t st;
    errors_t er;
    ward_feed_opts_t o = opts_with(&er);
    assert_int_equal(ward_feeds_load_buffer(fs, data, strlen(data), NULL, &o, &st), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_MISP_JSON);
    assert_int_equal(st.loaded, 2);
    assert_int_equal(st.bad, 1);
    assert_ind(fs, "192.0.2.6", "", "u2", 75, 0, 0);
}

static void test_stix(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    assert_int_equal(load_case(fs, "stix/bundle.json", &st, &er), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_STIX);
    assert_int_equal(st.loaded, 6);
    assert_int_equal(st.skipped, 5);
    assert_int_equal(st.revoked, 1);
    assert_int_equal(st.unsupported, 4);
    assert_int_equal(st.bad, 1);
    assert_int_equal(st.expired, 2);
    assert_int_equal(er.n, 1);
    assert_non_null(strstr(er.message[0], "indicator--a1a1a1a1-0000-4000-8000-000000000008"));
    assert_non_null(strstr(er.reason[0], "bad IPv4 address"));
    assert_ind(fs, "192.0.2.99", "malicious-activity",
               "indicator--a1a1a1a1-0000-4000-8000-000000000001", 85, 1709287200, 0);
    assert_ind(fs, "198.51.100.0/24", "botnet", "indicator--a1a1a1a1-0000-4000-8000-000000000002",
               75, 1577836800, 1609459200);
    assert_ind(fs, "2001:db8:abcd::/48", "botnet",
               "indicator--a1a1a1a1-0000-4000-8000-000000000002", 75, 1577836800, 1609459200);
    assert_ind(fs, "203.0.113.10", "anomalous-activity",
               "indicator--a1a1a1a1-0000-4000-8000-000000000003", 40, 1709337600, 0);
    assert_non_null(find(fs, "203.0.113.11"));
    assert_non_null(find(fs, "203.0.113.12"));
    assert_null(find(fs, "192.0.2.150"));

    assert_int_equal(ward_feeds_remove_expired(fs, NOW), 2);
    assert_int_equal(fs->count, 4);
    assert_null(find(fs, "198.51.100.0/24"));
}

static void test_stix_patterns(void **state)
{
    (void)state;
    static const struct {
        const char *p;
        ward_status_t rc;
        size_t n;
    } cases[] = {
        {"[ipv4-addr:value = '192.0.2.1']", WARD_OK, 1},
        {"[ipv4-addr:value='192.0.2.1']", WARD_OK, 1},
        {"  [ ipv6-addr:value ISSUBSET '2001:db8::/32' ]  ", WARD_OK, 1},
        {"[ipv4-addr:value = '192.0.2.1' OR ipv4-addr:value = '192.0.2.2'] OR "
         "[ipv6-addr:value = '2001:db8::1']",
         WARD_OK, 3},
        {"(([ipv4-addr:value = '192.0.2.1']) OR ([ipv4-addr:value = '192.0.2.2']))", WARD_OK, 2},
        {"[(ipv4-addr:value = '192.0.2.1' OR ipv4-addr:value = '192.0.2.3')]", WARD_OK, 2},
        {"[ipv4-addr:value IN ('192.0.2.1','192.0.2.2', '192.0.2.0/24')]", WARD_OK, 3},
        {"[ipv4-addr:value = '192.0.2.1' AND ipv4-addr:value = '192.0.2.2']", WARD_E_UNSUPPORTED,
         0},
        {"[ipv4-addr:value = '192.0.2.1'] AND [ipv4-addr:value = '192.0.2.2']", WARD_E_UNSUPPORTED,
         0},
        {"[ipv4-addr:value = '192.0.2.1'] WITHIN 300 SECONDS", WARD_E_UNSUPPORTED, 0},
        {"[ipv4-addr:value != '192.0.2.1']", WARD_E_UNSUPPORTED, 0},
        {"[ipv4-addr:value NOT = '192.0.2.1']", WARD_E_UNSUPPORTED, 0},
        {"[ipv4-addr:value MATCHES '^192']", WARD_E_UNSUPPORTED, 0},
        {"[network-traffic:dst_ref.value = '192.0.2.1']", WARD_E_UNSUPPORTED, 0},
        {"[file:hashes.'SHA-256' = 'aa']", WARD_E_UNSUPPORTED, 0},
        {"[ipv4-addr:value = b'AAA=']", WARD_E_UNSUPPORTED, 0},
        {"[ipv4-addr:value = '192.0.2.1' AND domain-name:value = 'bad']", WARD_E_UNSUPPORTED, 0},
        {"[ipv4-addr:value = '192.0.2.999' AND domain-name:value = 'x']", WARD_E_UNSUPPORTED, 0},
        {"[ipv4-addr:value = '192.0.2.999']", WARD_E_MALFORMED, 0},
        {"[ipv4-addr:value = '2001:db8::1']", WARD_E_MALFORMED, 0},
        {"[ipv6-addr:value = '192.0.2.1']", WARD_E_MALFORMED, 0},
        {"[ipv4-addr:value = '192.0.2.1\\'']", WARD_E_MALFORMED, 0},
        {"[ipv4-addr:value = '192.0.2.1", WARD_E_MALFORMED, 0},
        {"[ipv4-addr:value = '192.0.2.1'", WARD_E_MALFORMED, 0},
        {"[ipv4-addr:value = '192.0.2.1'] OR", WARD_E_MALFORMED, 0},
        {"([ipv4-addr:value = '192.0.2.1']", WARD_E_MALFORMED, 0},
        {"[ipv4-addr:value = '192.0.2.1'])", WARD_E_MALFORMED, 0},
        {"", WARD_E_MALFORMED, 0},
        {"[", WARD_E_MALFORMED, 0},
        {"]", WARD_E_UNSUPPORTED, 0},
        {"[[ipv4-addr:value = '192.0.2.1']]", WARD_E_UNSUPPORTED, 0},
        {"[ipv4-addr:value = '192.0.2.1' or ipv4-addr:value = '192.0.2.2']", WARD_E_UNSUPPORTED, 0},
    };
    ward__stix_addr_t out[8];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = 99;
        const char *why = NULL;
        ward_status_t rc = ward__stix_pattern(cases[i].p, strlen(cases[i].p), out, 8, &n, &why);
        if (rc != cases[i].rc)
            fail_msg("pattern %s: got %d, want %d", cases[i].p, rc, cases[i].rc);
        if (rc == WARD_OK)
            assert_int_equal(n, cases[i].n);
        if (rc == WARD_E_MALFORMED)
            assert_non_null(why);
    }
    /* Deep nesting is bounded, not recursed. */
    char deep[4096];
    size_t k = 0;
    for (int i = 0; i < 1000; i++)
        deep[k++] = '(';
    deep[k] = '\0';
    size_t n;
    const char *why;
    assert_int_equal(ward__stix_pattern(deep, k, out, 8, &n, &why), WARD_E_UNSUPPORTED);
    /* More addresses than the output holds. */
    const char *many = "[ipv4-addr:value IN ('192.0.2.1','192.0.2.2','192.0.2.3')]";
    assert_int_equal(ward__stix_pattern(many, strlen(many), out, 2, &n, &why), WARD_E_FULL);
}

static void test_stix_single_and_envelope(void **state)
{
    ward_feedset_t *fs = *state;
    const char *env =
        "{\"more\":false,\"objects\":[{\"type\":\"indicator\",\"spec_version\":\"2.1\","
        "\"id\":\"indicator--x\",\"pattern\":\"[ipv4-addr:value = '192.0.2.9']\","
        "\"pattern_type\":\"stix\",\"valid_from\":\"2024-01-01T00:00:00Z\","
        "\"valid_until\":\"2099-01-01T00:00:00.5Z\"}]}";
    ward_feed_stats_t st;
    errors_t er;
    ward_feed_opts_t o = opts_with(&er);
    assert_int_equal(ward_feeds_load_buffer(fs, env, strlen(env), NULL, &o, &st), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_STIX);
    assert_int_equal(st.loaded, 1);
    assert_int_equal(st.expired, 0);
    assert_ind(fs, "192.0.2.9", "", "indicator--x", 75, 1704067200, 4070908800);

    const char *broken = "{\"type\":\"bundle\",\"objects\":[";
    assert_int_equal(ward_feeds_load_buffer(fs, broken, strlen(broken), NULL, &o, &st),
                     WARD_E_MALFORMED);
    assert_int_equal(st.bad, 1);
    assert_int_equal(er.n, 1);
    assert_non_null(strstr(er.message[0], "-:1: JSON: "));
}

/* ------------------------------------------------------------------------------------------ */
/* Folders, buffers, reporting, dedup */

static void test_folder(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_stats_t st;
    errors_t er;
    ward_feed_opts_t o = opts_with(&er);
    /* categories.txt sorts before reputation.list, so names resolve. */
    assert_int_equal(ward_feeds_load_path(fs, CASES "/iprep", &o, &st), WARD_OK);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.categories, 3);
    assert_int_equal(st.loaded, 4);
    assert_int_equal(st.bad, 2);
    assert_ind(fs, "198.51.100.0/24", "Scanners", "", 50, 0, 0);
    assert_string_equal(ward_feeds_str(fs, find(fs, "192.0.2.1")->source),
                        CASES "/iprep/reputation.list");

    ward_feedset_t all;
    assert_int_equal(ward_feeds_init(&all), WARD_OK);
    o = opts_with(&er);
    o.max_reports = 1000;
    assert_int_equal(ward_feeds_load_dir(&all, CASES "/feodo", &o, &st), WARD_OK);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.loaded, 6);
    ward_feeds_free(&all);

    assert_int_equal(ward_feeds_load_dir(fs, CASES "/no-such-folder", &o, &st), WARD_E_IO);
    assert_int_equal(ward_feeds_load_file(fs, CASES "/no-such-file", &o, &st), WARD_E_IO);
    assert_non_null(strstr(er.message[er.n - 1], "no-such-file: cannot open"));
}

static void test_report_cap_and_sanitise(void **state)
{
    ward_feedset_t *fs = *state;
    char data[512];
    size_t len = 0;
    for (int i = 0; i < 10; i++)
        len += (size_t)snprintf(data + len, sizeof data - len, "bad\x1b[31mline\n");
    ward_feed_stats_t st;
    errors_t er;
    ward_feed_opts_t o = opts_with(&er);
    o.max_reports = 3;
    o.source = "mem";
    assert_int_equal(ward_feeds_load_buffer(fs, data, strlen(data), NULL, &o, &st), WARD_OK);
    assert_int_equal(st.bad, 10);
    assert_int_equal(er.n, 4);
    assert_int_equal(er.line[2], 3);
    assert_null(strchr(er.message[0], '\x1b'));
    assert_string_equal(er.message[3], "mem: 7 more bad records not reported");
}

static void test_hostile_buffers(void **state)
{
    ward_feedset_t *fs = *state;
    static const char *inputs[] = {
        "\0\0\0",
        "#fields\t",
        "#fields\tindicator\tindicator_type\n\t\n",
        "\"",
        "a,\"b\nc",
        "1,2,3",
        "{\"cidr\":\"x\",\"sblid\":\"",
        "[",
        "{}",
        "[{}]",
        "{\"type\":\"bundle\",\"objects\":{}}",
        "#separator \\x00\n",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        for (int f = 0; f < WARD_FEED_FORMAT_COUNT; f++) {
            ward_feed_opts_t o = {.format = (ward_feed_format_t)f};
            ward_feed_stats_t st;
            size_t len = i == 0 ? 3 : strlen(inputs[i]);
            ward_status_t rc = ward_feeds_load_buffer(fs, inputs[i], len, NULL, &o, &st);
            assert_true(rc == WARD_OK || rc == WARD_E_MALFORMED);
        }
    }
    ward_feed_opts_t o = {.format = (ward_feed_format_t)77};
    assert_int_equal(ward_feeds_load_buffer(fs, "x", 1, NULL, &o, NULL), WARD_E_ARG);
    assert_int_equal(ward_feeds_load_buffer(NULL, "x", 1, NULL, NULL, NULL), WARD_E_ARG);
}

static void test_dedup(void **state)
{
    ward_feedset_t *fs = *state;
    ward_feed_opts_t o = {.source = "a", .now = NOW};
    const char *one = "192.0.2.1\n192.0.2.1/32\n198.51.100.0/24\n";
    assert_int_equal(ward_feeds_load_buffer(fs, one, strlen(one), NULL, &o, NULL), WARD_OK);
    o.source = "b";
    assert_int_equal(ward_feeds_load_buffer(fs, one, strlen(one), NULL, &o, NULL), WARD_OK);
    assert_int_equal(fs->count, 6);
    /* Merge metadata: make the two "a" copies of 192.0.2.1 differ. */
    fs->items[0].confidence = 10;
    fs->items[0].first_seen = 500;
    fs->items[0].expires = 1000;
    fs->items[0].ref = ward_feeds_intern(fs, "R", 1);
    fs->items[1].confidence = 90;
    fs->items[1].first_seen = 300;
    fs->items[1].expires = 2000;
    fs->items[1].category = ward_feeds_intern(fs, "C", 1);
    assert_int_equal(ward_feeds_dedup(fs), 2);
    assert_int_equal(fs->count, 4);
    assert_int_equal(fs->cap, 4);
    const ward_indicator_t *m = &fs->items[0];
    assert_string_equal(ward_feeds_str(fs, m->source), "a");
    assert_int_equal(m->confidence, 90);
    assert_int_equal(m->first_seen, 300);
    assert_int_equal(m->expires, 2000);
    assert_string_equal(ward_feeds_str(fs, m->ref), "R");
    assert_string_equal(ward_feeds_str(fs, m->category), "C");
    assert_string_equal(ward_feeds_str(fs, fs->items[1].source), "b");
    for (size_t i = 1; i < fs->count; i++)
        assert_true(memcmp(&fs->items[i - 1].addr, &fs->items[i].addr, 16) <= 0);
}

static void test_intern(void **state)
{
    ward_feedset_t *fs = *state;
    assert_int_equal(ward_feeds_intern(fs, "", 0), 0);
    assert_string_equal(ward_feeds_str(fs, 0), "");
    uint32_t a = ward_feeds_intern(fs, "alpha", 5);
    assert_int_equal(ward_feeds_intern(fs, "alphabet", 5), a);
    assert_int_equal(ward_feeds_intern(fs, "a\0b", 3), UINT32_MAX);
    char name[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(name, sizeof name, "s%d", i);
        assert_true(ward_feeds_intern(fs, name, (size_t)n) != UINT32_MAX);
    }
    assert_int_equal(ward_feeds_intern(fs, "alpha", 5), a);
    assert_string_equal(ward_feeds_str(fs, ward_feeds_intern(fs, "s4321", 5)), "s4321");
    assert_string_equal(ward_feeds_str(fs, 4000000000u), "");
}

static void test_times(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t t;
    } ok[] = {
        {"1617875568", 1617875568},
        {"2021-04-08", 1617840000},
        {"20210408", 1617840000},
        {"2021-01-17 07:44:46", 1610869486},
        {"2021-01-17T07:44:46Z", 1610869486},
        {"2021-01-17T07:44:46.123456Z", 1610869486},
        {"2021-01-17T09:44:46+02:00", 1610869486},
        {"2021-01-17 07:44:46 UTC", 1610869486},
        {"2024-02-29", 1709164800},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t t;
        if (!ward__parse_time((ward__str_t){ok[i].s, strlen(ok[i].s)}, &t))
            fail_msg("rejected %s", ok[i].s);
        assert_int_equal(t, ok[i].t);
    }
    static const char *bad[] = {"",
                                "yesterday",
                                "2021-13-01",
                                "2021-02-30",
                                "2023-02-29",
                                "2021-01-17T25:00:00Z",
                                "2021-01-17T07:44:46X",
                                "2021-1-17",
                                "20211301",
                                "2021-01-17T07:44"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t;
        if (ward__parse_time((ward__str_t){bad[i], strlen(bad[i])}, &t))
            fail_msg("accepted %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_parse_valid),
        cmocka_unit_test(test_ip_parse_invalid),
        cmocka_unit_test(test_ip_format_small_buffer),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_stix_patterns),
        cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_netset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feodo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zeek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iprep_without_categories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iprep_with_categories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misp_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misp_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misp_json_bare_array, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stix_single_and_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_cap_and_sanitise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intern, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
