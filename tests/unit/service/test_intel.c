/*
 * intel: list parsing (comments, blank lines, IPv4/IPv6, CIDR, bad lines with their numbers) and
 * the index (longest match first, IPv4-mapped IPv6, several sources, files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "intel.h"

typedef struct errors {
    char text[16][160];
    size_t n;
} errors_t;

static void on_error(void *ctx, const char *source, unsigned long line, const char *reason)
{
    errors_t *e = ctx;
    if (e->n < 16)
        snprintf(e->text[e->n++], sizeof e->text[0], "%s:%lu: %s", source, line, reason);
}

static ward_intel_t *build(const char *list, errors_t *e, long *added)
{
    ward_intel_builder_t *b = ward_intel_builder_new(on_error, e);
    size_t bad = 0;
    long n = ward_intel_builder_add_buffer(b, "feeds/test.txt", list, strlen(list), &bad);
    if (added)
        *added = n;
    assert_int_equal(bad, e->n);
    return ward_intel_build(b);
}

static size_t look(const ward_intel_t *idx, const char *addr, ward_intel_match_t *m, size_t max)
{
    ward_addr_t a;
    assert_true(ward_addr_parse(addr, &a));
    return ward_intel_lookup(idx, &a, m, max);
}

static void parse_lines(void **state)
{
    (void)state;
    errors_t e = {0};
    long added;
    const char *list = "\xef\xbb\xbf# a feed\n"     /* 1: BOM + comment */
                       "\n"                         /* 2 */
                       "203.0.113.7\n"              /* 3 */
                       "  198.51.100.0/24  \r\n"    /* 4: spaces, CRLF */
                       "2001:db8::/32 # trailing\n" /* 5 */
                       "\t\n"                       /* 6 */
                       "not-an-ip\n"                /* 7: bad */
                       "10.0.0.0/33\n"              /* 8: bad */
                       "2001:db8::/129\n"           /* 9: bad */
                       "10.0.0.1 10.0.0.2\n"        /* 10: bad */
                       "10.0.0.0/\n"                /* 11: bad */
                       "10.0.0.0/+8\n"              /* 12: bad */
                       "1.2.3.4/08x\n"              /* 13: bad */
                       "::ffff:192.0.2.0/120\n"     /* 14 */
                       "fe80::1";                   /* 15: no final newline */
    ward_intel_t *idx = build(list, &e, &added);
    assert_int_equal(added, 5);
    assert_int_equal(ward_intel_size(idx), 5);
    assert_int_equal(e.n, 7);
    assert_string_equal(e.text[0], "feeds/test.txt:7: not an IPv4 or IPv6 address");
    assert_string_equal(e.text[1], "feeds/test.txt:8: prefix length must be 0..32");
    assert_string_equal(e.text[2], "feeds/test.txt:9: prefix length must be 0..128");
    assert_string_equal(e.text[3], "feeds/test.txt:10: more than one value on the line");
    assert_non_null(strstr(e.text[4], "test.txt:11: prefix length"));
    assert_non_null(strstr(e.text[5], "test.txt:12: prefix length"));
    assert_non_null(strstr(e.text[6], "test.txt:13: prefix length"));

    ward_intel_match_t m[4];
    assert_int_equal(look(idx, "203.0.113.7", m, 4), 1);
    assert_string_equal(m[0].value, "203.0.113.7");
    assert_string_equal(m[0].source, "feeds/test.txt");
    assert_int_equal(look(idx, "203.0.113.8", m, 4), 0);
    assert_int_equal(look(idx, "198.51.100.200", m, 4), 1);
    assert_string_equal(m[0].value, "198.51.100.0/24"); /* as written, without the spaces */
    assert_int_equal(look(idx, "2001:db8:1::5", m, 4), 1);
    assert_string_equal(m[0].value, "2001:db8::/32");
    assert_int_equal(look(idx, "2001:db9::5", m, 4), 0);
    assert_int_equal(look(idx, "fe80::1", m, 4), 1);
    /* An entry written IPv4-mapped matches the plain IPv4 address. */
    assert_int_equal(look(idx, "192.0.2.9", m, 4), 1);
    assert_string_equal(m[0].value, "::ffff:192.0.2.0/120");
    ward_intel_free(idx);
}

static void longest_match(void **state)
{
    (void)state;
    errors_t e = {0};
    ward_intel_t *idx = build("10.0.0.0/8\n10.1.2.3\n10.1.0.0/16\n0.0.0.0/0\n"
                              "2001:db8::/32\n2001:db8:1::/48\n",
                              &e, NULL);
    ward_intel_match_t m[8];
    assert_int_equal(look(idx, "10.1.2.3", m, 8), 4);
    assert_string_equal(m[0].value, "10.1.2.3");
    assert_string_equal(m[1].value, "10.1.0.0/16");
    assert_string_equal(m[2].value, "10.0.0.0/8");
    assert_string_equal(m[3].value, "0.0.0.0/0");
    assert_int_equal(m[0].prefix, 128);
    assert_int_equal(m[1].prefix, 96 + 16);
    assert_int_equal(look(idx, "10.1.2.3", m, 1), 1); /* max respected, longest kept */
    assert_string_equal(m[0].value, "10.1.2.3");
    assert_int_equal(look(idx, "10.200.0.1", m, 8), 2);
    assert_string_equal(m[0].value, "10.0.0.0/8");
    assert_int_equal(look(idx, "8.8.8.8", m, 8), 1);
    assert_string_equal(m[0].value, "0.0.0.0/0");
    /* IPv4's 0.0.0.0/0 does not cover IPv6. */
    assert_int_equal(look(idx, "2001:db8:1::1", m, 8), 2);
    assert_string_equal(m[0].value, "2001:db8:1::/48");
    assert_int_equal(look(idx, "2001:db8:2::1", m, 8), 1);
    assert_int_equal(look(idx, "2001:db9::1", m, 8), 0);
    ward_intel_free(idx);
}

static void mapped_addresses(void **state)
{
    (void)state;
    errors_t e = {0};
    ward_intel_t *idx = build("203.0.113.0/24\n", &e, NULL);
    ward_intel_match_t m[2];
    /* The 16-byte IPv4-mapped form, as a device on a dual-stack socket may send it. */
    assert_int_equal(look(idx, "::ffff:203.0.113.9", m, 2), 1);
    assert_string_equal(m[0].value, "203.0.113.0/24");
    uint8_t raw[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 1};
    ward_addr_t a;
    assert_true(ward_addr_from_bytes(&a, raw, 16));
    assert_int_equal(a.family, 6);
    assert_true(ward_addr_is_v4_mapped(&a));
    assert_int_equal(ward_intel_lookup(idx, &a, m, 2), 1);
    /* Other IPv6 forms of the same 32 bits are not IPv4. */
    assert_int_equal(look(idx, "::203.0.113.9", m, 2), 0);
    assert_int_equal(look(idx, "64:ff9b::203.0.113.9", m, 2), 0);
    ward_intel_free(idx);
}

static void host_bits_and_duplicates(void **state)
{
    (void)state;
    errors_t e = {0};
    ward_intel_builder_t *b = ward_intel_builder_new(on_error, &e);
    const char *a = "192.0.2.77/24\n192.0.2.0/24\n198.51.100.1\n";
    const char *c = "198.51.100.1\n";
    assert_int_equal(ward_intel_builder_add_buffer(b, "a.txt", a, strlen(a), NULL), 3);
    assert_int_equal(ward_intel_builder_add_buffer(b, "c.txt", c, strlen(c), NULL), 1);
    ward_intel_t *idx = ward_intel_build(b);
    /* Host bits are cleared; the same network twice in one source is one indicator (the first). */
    assert_int_equal(ward_intel_size(idx), 3);
    ward_intel_match_t m[4];
    assert_int_equal(look(idx, "192.0.2.1", m, 4), 1);
    assert_string_equal(m[0].value, "192.0.2.77/24");
    /* The same address in two sources: both, in load order. */
    assert_int_equal(look(idx, "198.51.100.1", m, 4), 2);
    assert_string_equal(m[0].source, "a.txt");
    assert_string_equal(m[1].source, "c.txt");
    ward_intel_free(idx);
}

static void files_and_empty(void **state)
{
    (void)state;
    char dir[] = "/tmp/ward-intel-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/list.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# x\n203.0.113.0/24\nbogus\n", f);
    fclose(f);

    errors_t e = {0};
    ward_intel_builder_t *b = ward_intel_builder_new(on_error, &e);
    char err[256];
    size_t bad = 0;
    assert_int_equal(ward_intel_builder_add_file(b, path, &bad, err, sizeof err), 1);
    assert_int_equal(bad, 1);
    char want[160];
    snprintf(want, sizeof want, "%s:3: not an IPv4 or IPv6 address", path);
    assert_string_equal(e.text[0], want);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.txt", dir);
    assert_int_equal(ward_intel_builder_add_file(b, missing, &bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "none.txt"));
    ward_intel_t *idx = ward_intel_build(b);
    ward_intel_match_t m[1];
    assert_int_equal(look(idx, "203.0.113.200", m, 1), 1);
    assert_string_equal(m[0].source, path);
    ward_intel_free(idx);
    unlink(path);
    rmdir(dir);

    /* No lists, an empty list, and a NULL index match nothing. */
    idx = ward_intel_build(ward_intel_builder_new(on_error, &e));
    assert_int_equal(ward_intel_size(idx), 0);
    assert_int_equal(look(idx, "1.2.3.4", m, 1), 0);
    ward_intel_free(idx);
    assert_int_equal(look(NULL, "1.2.3.4", m, 1), 0);

    /* NUL bytes inside a line are a bad line, not a truncated one. */
    e.n = 0;
    b = ward_intel_builder_new(on_error, &e);
    const char nul[] = "1.2.3.4\n5.6.7.8\0junk\n9.9.9.9\n";
    assert_int_equal(ward_intel_builder_add_buffer(b, "nul", nul, sizeof nul - 1, &bad), 2);
    assert_int_equal(bad, 1);
    assert_string_equal(e.text[0], "nul:2: contains a NUL byte");
    ward_intel_free(ward_intel_build(b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_lines),      cmocka_unit_test(longest_match),
        cmocka_unit_test(mapped_addresses), cmocka_unit_test(host_bits_and_duplicates),
        cmocka_unit_test(files_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
