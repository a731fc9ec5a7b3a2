/*
 * intel: the engine wardd uses (intel.c) — a folder of feeds in several formats loaded and matched
 * with their metadata, most specific first; bad lines reported as file:line: reason; an unreadable
 * feed at open; reloads that publish a new index and report exactly the added indicators (the
 * retro-hunt's input); the inotify watcher picking up an append, an editor's rename-over and a
 * new file in a watched folder; and the TAXII id map (upsert, older version, revoke, expiry).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "intel.h"
#include "intel_fetch.h"
#include "log.h"
#include "report_build.h"

typedef struct errors {
    char text[16][256];
    size_t n;
} errors_t;

static void on_error(void *ctx, const ward_feed_error_t *e)
{
    errors_t *er = ctx;
    if (er->n < 16)
        snprintf(er->text[er->n++], sizeof er->text[0], "%s", e->message);
}

typedef struct added_log {
    ward_intel_added_t *last;
    size_t calls;
} added_log_t;

static void on_added(void *ctx, ward_intel_added_t *a)
{
    added_log_t *l = ctx;
    ward_intel_added_free(l->last);
    l->last = a;
    l->calls++;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static size_t match(ward_intel_t *in, const char *addr, ward_intel_match_t *m, size_t max)
{
    ward_addr_t a;
    assert_true(ward_addr_parse(addr, &a));
    return ward_intel_match(in, &a, (int64_t)time(NULL), m, max);
}

static const char plain[] = "# plain list\n"
                            "198.51.100.7\n"
                            "203.0.113.0/24   # scanners\n"
                            "not-an-address\n"
                            "2001:db8:dead::/48\n";
static const char drop[] = "; Spamhaus DROP List 2024/06/05\n"
                           "203.0.113.0/24 ; SBL000001\n"
                           "192.0.2.0/24 ; SBL000002\n";
static const char zeek[] = "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\t"
                           "meta.confidence\n"
                           "198.51.100.7\tIntel::ADDR\tzeek-src\tBotnet C2\thttps://x.example/1\t90\n"
                           "2001:db8:bad::5\tIntel::ADDR\tzeek-src\tResolver\t-\t60\n";
static const char stix[] =
    "{\"type\": \"bundle\", \"id\": \"bundle--1\", \"objects\": [\n"
    " {\"type\": \"indicator\", \"spec_version\": \"2.1\", \"id\": \"indicator--aaaa\",\n"
    "  \"created\": \"2024-01-01T00:00:00Z\", \"modified\": \"2024-01-01T00:00:00Z\",\n"
    "  \"pattern\": \"[ipv4-addr:value = '203.0.113.66']\", \"pattern_type\": \"stix\",\n"
    "  \"valid_from\": \"2024-01-01T00:00:00Z\", \"valid_until\": \"2099-01-01T00:00:00Z\",\n"
    "  \"indicator_types\": [\"malicious-activity\"], \"confidence\": 85}]}\n";

static ward_intel_t *open_dir(const char *dir, errors_t *er, added_log_t *al)
{
    char err[256];
    ward_intel_source_cfg_t src = {WARD_INTEL_SRC_PATH, dir, WARD_FEED_AUTO, 0};
    ward_intel_config_t cfg = {.sources = &src,
                               .n_sources = 1,
                               .on_error = er ? on_error : NULL,
                               .error_ctx = er,
                               .on_added = al ? on_added : NULL,
                               .added_ctx = al,
                               .quiet = true};
    ward_intel_t *in = ward_intel_open(&cfg, err, sizeof err);
    assert_non_null(in);
    return in;
}

static void folder_of_formats(void **state)
{
    (void)state;
    char dir[64], src[128];
    tb_tmpdir(dir);
    write_file(dir, "a-plain.txt", plain);
    write_file(dir, "b-drop.txt", drop);
    write_file(dir, "c-intel.dat", zeek);
    write_file(dir, "d-bundle.json", stix);
    write_file(dir, ".hidden", "192.0.2.250\n");
    errors_t er = {0};
    ward_intel_t *in = open_dir(dir, &er, NULL);
    /* 3 + 2 + 2 + 1 indicators; the bad plain line reported with its file and line. */
    assert_int_equal(ward_intel_size(in), 8);
    assert_int_equal(ward_intel_generation(in), 1);
    assert_int_equal(er.n, 1);
    snprintf(src, sizeof src, "%s/a-plain.txt:4: ", dir);
    assert_memory_equal(er.text[0], src, strlen(src));

    ward_intel_match_t m[8];
    /* The STIX host inside the /24 listed by two feeds: host first, then the two ranges. */
    assert_int_equal(match(in, "203.0.113.66", m, 8), 3);
    assert_string_equal(m[0].value, "203.0.113.66");
    snprintf(src, sizeof src, "%s/d-bundle.json", dir);
    assert_string_equal(m[0].source, src);
    assert_string_equal(m[0].category, "malicious-activity");
    assert_string_equal(m[0].ref, "indicator--aaaa");
    assert_int_equal(m[0].confidence, 85);
    assert_int_equal(m[0].first_seen, 1704067200);
    assert_int_equal(m[0].expires, 4070908800);
    assert_string_equal(m[1].value, "203.0.113.0/24");
    assert_string_equal(m[2].value, "203.0.113.0/24");
    /* On one prefix the higher confidence first: DROP (100) before the plain list (75). */
    assert_string_equal(m[1].ref, "SBL000001");
    assert_int_equal(m[1].confidence, 100);
    assert_string_equal(m[1].category, "spamhaus_drop");
    assert_int_equal(m[2].confidence, 75);
    /* Fewer slots than matches: the count is still the total. */
    assert_int_equal(match(in, "203.0.113.66", m, 1), 3);
    assert_string_equal(m[0].value, "203.0.113.66");

    /* One address from two feeds: both, Zeek (90) first. */
    assert_int_equal(match(in, "198.51.100.7", m, 8), 2);
    assert_string_equal(m[0].category, "Botnet C2");
    assert_string_equal(m[0].ref, "https://x.example/1");
    assert_int_equal(m[0].confidence, 90);
    /* IPv6 exact and range; IPv4-mapped IPv6 matches IPv4 indicators. */
    assert_int_equal(match(in, "2001:db8:bad::5", m, 8), 1);
    assert_int_equal(match(in, "2001:db8:dead:1::1", m, 8), 1);
    assert_string_equal(m[0].value, "2001:db8:dead::/48");
    assert_int_equal(match(in, "::ffff:192.0.2.9", m, 8), 1);
    assert_string_equal(m[0].value, "192.0.2.0/24");
    /* Misses; dotfiles are not loaded. */
    assert_int_equal(match(in, "192.0.2.250", m, 8), 1); /* only the DROP /24 */
    assert_int_equal(match(in, "10.1.2.3", m, 8), 0);
    assert_int_equal(match(in, "2001:db8::1", m, 8), 0);
    ward_intel_close(in);
    tb_rmtree(dir);
}

static void unreadable_at_open(void **state)
{
    (void)state;
    char err[256];
    ward_intel_source_cfg_t src = {WARD_INTEL_SRC_PATH, "/nonexistent/ward/feed.txt",
                                   WARD_FEED_AUTO, 0};
    ward_intel_config_t cfg = {.sources = &src, .n_sources = 1, .quiet = true};
    assert_null(ward_intel_open(&cfg, err, sizeof err));
    assert_string_equal(err, "cannot read intel feed /nonexistent/ward/feed.txt");
    /* A forced format applies: this plain text read as a Zeek file has no #fields. */
    char dir[64], path[128];
    tb_tmpdir(dir);
    write_file(dir, "list.txt", "192.0.2.1\n");
    snprintf(path, sizeof path, "%s/list.txt", dir);
    src = (ward_intel_source_cfg_t){WARD_INTEL_SRC_PATH, path, WARD_FEED_PLAIN, 0};
    ward_intel_t *in = ward_intel_open(&cfg, err, sizeof err);
    assert_non_null(in);
    assert_int_equal(ward_intel_size(in), 1);
    ward_intel_close(in);
    tb_rmtree(dir);
}

static void reload_reports_added(void **state)
{
    (void)state;
    char dir[64], src[128];
    tb_tmpdir(dir);
    write_file(dir, "a.txt", "198.51.100.7\n203.0.113.0/24\n");
    added_log_t al = {0};
    ward_intel_t *in = open_dir(dir, NULL, &al);
    assert_int_equal(al.calls, 0); /* the first load adds nothing to hunt */
    /* Edit: one kept, one removed, one new address, and a known range from a new feed. */
    write_file(dir, "a.txt", "198.51.100.7\n192.0.2.77\n");
    write_file(dir, "b.txt", "203.0.113.0/24\n198.51.100.7\n");
    assert_int_equal(ward_intel_reload(in, "test"), 0);
    assert_int_equal(ward_intel_generation(in), 2);
    assert_int_equal(ward_intel_size(in), 4);
    assert_int_equal(al.calls, 1);
    assert_non_null(al.last);
    /* Added: 192.0.2.77 (a.txt), 203.0.113.0/24 and 198.51.100.7 from b.txt (a new source). */
    assert_int_equal(al.last->count, 3);
    assert_int_equal(al.last->generation, 2);
    ward_intel_match_t m[4];
    ward_addr_t a;
    int64_t now = (int64_t)time(NULL);
    assert_true(ward_addr_parse("192.0.2.77", &a));
    assert_int_equal(ward_intel_added_match(al.last, &a, now, m, 4), 1);
    snprintf(src, sizeof src, "%s/a.txt", dir);
    assert_string_equal(m[0].source, src);
    assert_true(ward_addr_parse("198.51.100.7", &a));
    assert_int_equal(ward_intel_added_match(al.last, &a, now, m, 4), 1);
    snprintf(src, sizeof src, "%s/b.txt", dir);
    assert_string_equal(m[0].source, src);
    assert_true(ward_addr_parse("203.0.113.5", &a));
    assert_int_equal(ward_intel_added_match(al.last, &a, now, m, 4), 1);
    /* The live index follows: the removed a.txt /24 is gone, b.txt's is there. */
    assert_int_equal(match(in, "203.0.113.5", m, 4), 1);
    assert_string_equal(m[0].source, src);
    assert_int_equal(match(in, "198.51.100.7", m, 4), 2);
    /* A reload that adds nothing reports nothing. */
    assert_int_equal(ward_intel_reload(in, "test"), 0);
    assert_int_equal(al.calls, 1);
    /* A feed that disappears after open only empties itself. */
    snprintf(src, sizeof src, "%s/a.txt", dir);
    unlink(src);
    assert_int_equal(ward_intel_reload(in, "test"), 0);
    assert_int_equal(ward_intel_size(in), 2);
    ward_intel_added_free(al.last);
    ward_intel_close(in);
    tb_rmtree(dir);
}

/* Wait up to 10 s for the engine to publish generation > gen. */
static bool wait_generation(ward_intel_t *in, uint64_t gen)
{
    for (int i = 0; i < 1000; i++) {
        if (ward_intel_generation(in) > gen)
            return true;
        usleep(10000);
    }
    return false;
}

static void watcher(void **state)
{
    (void)state;
    char dir[64], sub[128], file[160], tmp[160], err[256];
    tb_tmpdir(dir);
    snprintf(sub, sizeof sub, "%s/folder", dir);
    snprintf(file, sizeof file, "%s/single.txt", dir);
    snprintf(tmp, sizeof tmp, "%s/.single.txt.swp", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_file(dir, "single.txt", "198.51.100.1\n");
    write_file(sub, "one.txt", "198.51.100.2\n");
    write_file(dir, "unwatched.txt", "198.51.100.3\n");
    ward_intel_source_cfg_t src[2] = {{WARD_INTEL_SRC_PATH, file, WARD_FEED_AUTO, 0},
                                      {WARD_INTEL_SRC_PATH, sub, WARD_FEED_AUTO, 0}};
    ward_intel_config_t cfg = {.sources = src, .n_sources = 2, .quiet = true};
    ward_intel_t *in = ward_intel_open(&cfg, err, sizeof err);
    assert_non_null(in);
    assert_int_equal(ward_intel_start(in, err, sizeof err), 0);
    ward_intel_match_t m[2];
    assert_int_equal(ward_intel_size(in), 2);

    /* Append to the watched file. */
    uint64_t gen = ward_intel_generation(in);
    FILE *f = fopen(file, "a");
    fputs("198.51.100.11\n", f);
    fclose(f);
    assert_true(wait_generation(in, gen));
    assert_int_equal(match(in, "198.51.100.11", m, 2), 1);

    /* An editor's save: write a temporary file, rename it over the original. */
    gen = ward_intel_generation(in);
    write_file(dir, ".single.txt.swp", "198.51.100.12\n");
    assert_int_equal(rename(tmp, file), 0);
    assert_true(wait_generation(in, gen));
    assert_int_equal(match(in, "198.51.100.12", m, 2), 1);
    assert_int_equal(match(in, "198.51.100.11", m, 2), 0);

    /* A new file in the watched folder. */
    gen = ward_intel_generation(in);
    write_file(sub, "two.txt", "198.51.100.21\n");
    assert_true(wait_generation(in, gen));
    assert_int_equal(match(in, "198.51.100.21", m, 2), 1);
    assert_int_equal(ward_intel_size(in), 3);

    /* Another file of the file's folder is not a feed: no reload. */
    gen = ward_intel_generation(in);
    write_file(dir, "unwatched.txt", "198.51.100.4\n");
    usleep(600000);
    assert_int_equal(ward_intel_generation(in), gen);
    ward_intel_close(in);
    tb_rmtree(dir);
}

static void taxii_map(void **state)
{
    (void)state;
    ward_taxii_t t;
    char err[256], next[64];
    bool more;
    int64_t now = 1800000000; /* 2027-01-15 */
    ward_taxii_init(&t);
    const char *p1 =
        "{\"more\": true, \"next\": \"2\", \"objects\": ["
        "{\"type\": \"indicator\", \"id\": \"indicator--1\", \"modified\": \"2024-01-01T00:00:00Z\","
        " \"pattern\": \"[ipv4-addr:value = '192.0.2.1']\", \"pattern_type\": \"stix\","
        " \"valid_from\": \"2024-01-01T00:00:00Z\"},"
        "{\"type\": \"indicator\", \"id\": \"indicator--2\", \"modified\": \"2024-01-01T00:00:00Z\","
        " \"pattern\": \"[ipv4-addr:value = '192.0.2.2']\", \"pattern_type\": \"stix\","
        " \"valid_from\": \"2024-01-01T00:00:00Z\"},"
        "{\"type\": \"malware\", \"id\": \"malware--1\"}]}";
    assert_int_equal(ward_taxii_apply(&t, p1, strlen(p1), now, &more, next, sizeof next, err,
                                      sizeof err),
                     1);
    assert_true(more);
    assert_string_equal(next, "2");
    assert_int_equal(json_object_size(t.objects), 2);
    /* An older version is ignored; a newer one replaces; revoked and expired ones go. */
    const char *p2 =
        "{\"objects\": ["
        "{\"type\": \"indicator\", \"id\": \"indicator--1\", \"modified\": \"2023-01-01T00:00:00Z\","
        " \"pattern\": \"[ipv4-addr:value = '192.0.2.99']\"},"
        "{\"type\": \"indicator\", \"id\": \"indicator--2\", \"modified\": \"2024-02-01T00:00:00Z\","
        " \"revoked\": true},"
        "{\"type\": \"indicator\", \"id\": \"indicator--3\", \"modified\": \"2024-02-01T00:00:00Z\","
        " \"pattern\": \"[ipv4-addr:value = '192.0.2.3']\", \"valid_until\": \"2025-01-01T00:00:00Z\"}"
        "]}";
    assert_int_equal(ward_taxii_apply(&t, p2, strlen(p2), now, &more, next, sizeof next, err,
                                      sizeof err),
                     1);
    assert_false(more);
    assert_string_equal(next, "");
    assert_int_equal(json_object_size(t.objects), 1);
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_object_get(t.objects, "indicator--1"), "pattern")),
                           "192.0.2.1'"));
    /* The bundle loads as STIX. */
    size_t len;
    char *b = ward_taxii_bundle(&t, &len);
    assert_non_null(b);
    ward_feedset_t fs;
    ward_feeds_init(&fs);
    ward_feed_opts_t o = {.format = WARD_FEED_AUTO};
    ward_feed_stats_t st;
    assert_int_equal(ward_feeds_load_buffer(&fs, b, len, NULL, &o, &st), WARD_OK);
    assert_int_equal(st.format, WARD_FEED_STIX);
    assert_int_equal(fs.count, 1);
    ward_feeds_free(&fs);
    free(b);
    /* Not an envelope. */
    assert_int_equal(ward_taxii_apply(&t, "[1]", 3, now, NULL, NULL, 0, err, sizeof err), -1);
    assert_int_equal(ward_taxii_apply(&t, "{\"objects\": 5}", 14, now, NULL, NULL, 0, err,
                                      sizeof err),
                     -1);
    ward_taxii_free(&t);
}

int main(void)
{
    ward_log_init("test", WARD_LOG_ERROR);
    ward_intel_reader_register();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(folder_of_formats),   cmocka_unit_test(unreadable_at_open),
        cmocka_unit_test(reload_reports_added), cmocka_unit_test(watcher),
        cmocka_unit_test(taxii_map),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ward_intel_reader_unregister();
    return rc;
}
