/*
 * cbor_read: the check (ward__cbor_check) and the readers wire.c walks reports with, on hand-made
 * bytes: heads of every size up to 64-bit arguments, truncation inside a head, indefinite arrays,
 * maps and strings, breaks in the wrong place, nesting limits, skipping nested unknown items, and
 * the rules kept from libcbor (refused initial bytes, chunk types, UTF-8), each with the byte it
 * reports. Then the same cases through ward_wire_decode, in a report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cbor_read.h"
#include "report_build.h"
#include "wire.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

/* Check a copy of exactly len bytes (so that ASan sees any read past the end). */
static ward_cbor_fault_t check_n(const uint8_t *b, size_t len, unsigned depth, size_t *at)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len > 0)
        memcpy(p, b, len);
    size_t where = (size_t)-1;
    ward_cbor_fault_t f = ward__cbor_check(p, len, depth, &where);
    free(p);
    if (at != NULL)
        *at = where;
    return f;
}

static void want_check(const uint8_t *b, size_t len, ward_cbor_fault_t want, size_t want_at)
{
    size_t at;
    ward_cbor_fault_t f = check_n(b, len, 16, &at);
    if (f != want || (want != WARD_CBOR_TRUNCATED && at != want_at))
        fail_msg("fault %d at %zu (want %d at %zu)", f, at, want, want_at);
}

/* ---- Heads ----------------------------------------------------------------------------------- */

static void heads(void **state)
{
    (void)state;
    static const struct {
        uint8_t b[9];
        size_t len;
        uint8_t major;
        bool indef;
        uint64_t arg;
    } ok[] = {
        {{0x00}, 1, WARD_CBOR_UINT, false, 0},
        {{0x17}, 1, WARD_CBOR_UINT, false, 23},
        {{0x18, 0x18}, 2, WARD_CBOR_UINT, false, 24},
        {{0x19, 0x01, 0x00}, 3, WARD_CBOR_UINT, false, 256},
        {{0x1a, 0x00, 0x01, 0x00, 0x00}, 5, WARD_CBOR_UINT, false, 65536},
        {{0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
         9,
         WARD_CBOR_UINT,
         false,
         UINT64_MAX},
        {{0x1b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05}, 9, WARD_CBOR_UINT, false, 5},
        {{0x3b, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
         9,
         WARD_CBOR_NEGINT,
         false,
         (uint64_t)1 << 63},
        {{0x5b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00},
         9,
         WARD_CBOR_BYTES,
         false,
         (uint64_t)1 << 32},
        {{0x5f}, 1, WARD_CBOR_BYTES, true, 0},
        {{0x7f}, 1, WARD_CBOR_TEXT, true, 0},
        {{0x9f}, 1, WARD_CBOR_ARRAY, true, 0},
        {{0xbf}, 1, WARD_CBOR_MAP, true, 0},
        {{0xdb, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08},
         9,
         WARD_CBOR_TAG,
         false,
         0x0102030405060708ull},
        {{0xf5}, 1, WARD_CBOR_SIMPLE, false, WARD_CBOR_TRUE},
        {{0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, 9, WARD_CBOR_SIMPLE, false, 0x3ff0000000000000ull},
        {{0xff}, 1, WARD_CBOR_SIMPLE, true, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ward_cbor_reader_t r;
        ward_cbor_head_t h = {0};
        ward__cbor_reader_init(&r, ok[i].b, ok[i].len);
        assert_true(ward__cbor_head(&r, &h));
        assert_int_equal(h.major, ok[i].major);
        assert_int_equal(h.indef, ok[i].indef);
        assert_true(h.arg == ok[i].arg);
        assert_int_equal(r.pos, ok[i].len);
        /* Every shorter input ends inside the head. */
        for (size_t n = 0; n < ok[i].len; n++) {
            ward__cbor_reader_init(&r, ok[i].b, n);
            assert_false(ward__cbor_head(&r, &h));
        }
    }
    /* Reserved additional information, and indefinite integers and tags. */
    static const uint8_t bad[] = {0x1c, 0x1d, 0x1e, 0x1f, 0x3f, 0x5c, 0x7d, 0x9e, 0xbc, 0xdf, 0xfe};
    for (size_t i = 0; i < sizeof bad; i++) {
        ward_cbor_reader_t r;
        ward_cbor_head_t h = {0};
        uint8_t b[9] = {bad[i]};
        ward__cbor_reader_init(&r, b, sizeof b);
        assert_false(ward__cbor_head(&r, &h));
    }
}

/* ---- The check ------------------------------------------------------------------------------- */

static void check_accepts(void **state)
{
    (void)state;
    /* Definite and indefinite containers and strings, nested; floats, simple values, tags. */
    want_check(B(0x00), WARD_CBOR_OK, 1);
    want_check(B(0x83, 0x01, 0x9f, 0x02, 0x03, 0xff, 0xa1, 0x61, 'k', 0x80), WARD_CBOR_OK, 10);
    want_check(B(0xbf, 0x01, 0x5f, 0x41, 0xaa, 0x40, 0xff, 0x7f, 0xff, 0xbf, 0xff, 0xff),
               WARD_CBOR_OK, 12);
    want_check(B(0x84, 0xf4, 0xf6, 0xf7, 0xf9, 0x3c, 0x00), WARD_CBOR_OK, 7);
    want_check(B(0xc1, 0x1a, 0x65, 0x00, 0x00, 0x00), WARD_CBOR_OK, 6);
    want_check(B(0xd8, 0x06, 0x00), WARD_CBOR_OK, 3); /* tag 6 written after 0xd8 */
    want_check(B(0xd5, 0x40), WARD_CBOR_OK, 2);       /* tag 21 in the initial byte */
    /* UTF-8 of 1 to 4 bytes, chunked on code point boundaries. */
    want_check(
        B(0x7f, 0x62, 0xc3, 0xa9, 0x63, 0xe2, 0x82, 0xac, 0x64, 0xf0, 0x9f, 0x98, 0x80, 0xff),
        WARD_CBOR_OK, 14);
    /* Control characters are UTF-8: the check lets them through (wire.c refuses them). */
    want_check(B(0x62, 0x01, 0x7f), WARD_CBOR_OK, 3);
    /* 16 nested arrays, and an empty one inside them, which does not count. */
    uint8_t deep[18];
    memset(deep, 0x81, 16);
    deep[16] = 0x80;
    want_check(deep, 17, WARD_CBOR_OK, 17);
    deep[16] = 0x81;
    deep[17] = 0x00;
    want_check(deep, 18, WARD_CBOR_TOO_DEEP, 16);
    /* Indefinite strings and tags count as nesting too. */
    memset(deep, 0xc1, 16);
    deep[16] = 0x5f;
    deep[17] = 0xff;
    want_check(deep, 18, WARD_CBOR_TOO_DEEP, 16);
}

static void check_truncated(void **state)
{
    (void)state;
    /* Every proper prefix of an item with every kind of head, inside heads too. */
    static const uint8_t item[] = {
        0xbf, 0x01, 0x1b, 0,    0,    0,    0,    0,    0,    0,    1,    0x02, 0x9f, 0x19, 0x01,
        0x00, 0x5f, 0x42, 1,    2,    0xff, 0xff, 0x03, 0x7a, 0,    0,    0,    2,    'h',  'i',
        0x04, 0xd9, 0x01, 0x00, 0xfa, 0,    0,    0,    0,    0x05, 0xa1, 0x00, 0x38, 0x63, 0xff};
    want_check(item, sizeof item, WARD_CBOR_OK, sizeof item);
    for (size_t n = 0; n < sizeof item; n++) {
        /* Cut after 0xa1, the map declares more entries than bytes are left: truncated too. */
        ward_cbor_fault_t f = check_n(item, n, 16, NULL);
        if (f != WARD_CBOR_TRUNCATED && !(f == WARD_CBOR_TOO_LONG && n == sizeof item - 4))
            fail_msg("prefix of %zu bytes: fault %d", n, f);
    }
    /* Strings and containers declaring 64-bit sizes. */
    want_check(B(0x5b, 0, 0, 0, 1, 0, 0, 0, 0, 'x'), WARD_CBOR_TRUNCATED, 0);
    want_check(B(0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'x'), WARD_CBOR_TRUNCATED,
               0);
    want_check(B(0x81, 0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), WARD_CBOR_TOO_LONG,
               1);
    /* A map of 2^63 pairs: 2^64 entries, which must not wrap to 0. */
    want_check(B(0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0), WARD_CBOR_TOO_LONG, 0);
    /* Entries are compared with the bytes left from the container's own head on. */
    want_check(B(0x84, 0x00, 0x00, 0x00), WARD_CBOR_TRUNCATED, 0);
    want_check(B(0x85, 0x00, 0x00, 0x00), WARD_CBOR_TOO_LONG, 0);
    want_check(B(0xa2, 0x00, 0x00, 0x00), WARD_CBOR_TRUNCATED, 0);
    want_check(B(0xa3, 0x00, 0x00, 0x00), WARD_CBOR_TOO_LONG, 0);
    want_check(B(0x9f, 0x00), WARD_CBOR_TRUNCATED, 0); /* no break */
}

static void check_breaks(void **state)
{
    (void)state;
    want_check(B(0xff), WARD_CBOR_STRAY_BREAK, 0);
    want_check(B(0x82, 0x01, 0xff), WARD_CBOR_STRAY_BREAK, 2); /* in a definite array */
    want_check(B(0xa1, 0x01, 0xff), WARD_CBOR_STRAY_BREAK, 2); /* as a map value */
    want_check(B(0x9f, 0xc1, 0xff), WARD_CBOR_STRAY_BREAK, 2); /* as a tag's item */
    want_check(B(0x9f, 0xff, 0xff), WARD_CBOR_TRAILING, 2);    /* after the item */
    want_check(B(0x9f, 0x81, 0xff, 0xff), WARD_CBOR_STRAY_BREAK, 2);
    /* An indefinite map may not end after a key: found at the end of the break. */
    want_check(B(0xbf, 0x01, 0xff), WARD_CBOR_INVALID, 3);
    want_check(B(0xbf, 0x01, 0x02, 0x03, 0xff), WARD_CBOR_INVALID, 5);
    want_check(B(0xbf, 0x01, 0x02, 0xff), WARD_CBOR_OK, 4);
}

static void check_refused_bytes(void **state)
{
    (void)state;
    /* libcbor 0.8's refusals, kept: reserved information, tags 6..20 in the initial byte, simple
     * values other than false/true/null/undefined, the one-byte simple form. */
    static const uint8_t refused[] = {0x1c, 0x3e, 0x5d, 0x7c, 0x9e, 0xbd, 0xc6, 0xcf,
                                      0xd4, 0xdc, 0xdf, 0xe0, 0xf3, 0xf8, 0xfc, 0xfe};
    for (size_t i = 0; i < sizeof refused; i++) {
        uint8_t b[] = {0x82, 0x00, refused[i], 0x00, 0x00};
        size_t at;
        assert_int_equal(check_n(b, sizeof b, 16, &at), WARD_CBOR_RESERVED);
        assert_int_equal(at, 2);
        /* Refused even with nothing after it (no "truncated" instead). */
        assert_int_equal(check_n(b, 3, 16, &at), WARD_CBOR_RESERVED);
    }
    /* A refused byte after an invalid item wins: every fault but INVALID comes first. */
    want_check(B(0x82, 0x61, 0xff, 0xf8), WARD_CBOR_RESERVED, 3);
    want_check(B(0x82, 0x61, 0xff, 0x00, 0x00), WARD_CBOR_TRAILING, 4);
    want_check(B(0x82, 0x61, 0xff), WARD_CBOR_TRUNCATED, 0);
}

static void check_chunks_and_text(void **state)
{
    (void)state;
    /* A chunk of an indefinite string must be a definite string of the same type. */
    want_check(B(0x5f, 0x61, 'a', 0xff), WARD_CBOR_INVALID, 3);
    want_check(B(0x7f, 0x41, 'a', 0xff), WARD_CBOR_INVALID, 3);
    want_check(B(0x5f, 0x01, 0xff), WARD_CBOR_INVALID, 2);
    want_check(B(0x5f, 0x5f, 0xff, 0xff), WARD_CBOR_INVALID, 3);       /* nested: at its end */
    want_check(B(0x5f, 0x81, 0x41, 0x00, 0xff), WARD_CBOR_INVALID, 4); /* array: at its end */
    want_check(B(0x5f, 0x80, 0xff), WARD_CBOR_INVALID, 2);             /* empty array */
    want_check(B(0x5f, 0xc1, 0x41, 0x00, 0xff), WARD_CBOR_INVALID, 4); /* a tagged chunk */
    want_check(B(0x82, 0x5f, 0xff, 0x7f, 0xff), WARD_CBOR_OK, 5);      /* no chunks */
    /* Text must be UTF-8, each chunk on its own; the first invalid item is named. */
    want_check(B(0x62, 0xc3, 0x28), WARD_CBOR_INVALID, 3);             /* bad continuation */
    want_check(B(0x62, 0xc0, 0x80), WARD_CBOR_INVALID, 3);             /* overlong */
    want_check(B(0x63, 0xe0, 0x80, 0x80), WARD_CBOR_INVALID, 4);       /* overlong */
    want_check(B(0x63, 0xed, 0xa0, 0x80), WARD_CBOR_INVALID, 4);       /* surrogate */
    want_check(B(0x64, 0xf4, 0x90, 0x80, 0x80), WARD_CBOR_INVALID, 5); /* past U+10FFFF */
    want_check(B(0x64, 0xf0, 0x80, 0x80, 0x80), WARD_CBOR_INVALID, 5); /* overlong */
    want_check(B(0x64, 0xf4, 0x8f, 0xbf, 0xbf), WARD_CBOR_OK, 5);      /* U+10FFFF */
    want_check(B(0x61, 0xff), WARD_CBOR_INVALID, 2);
    want_check(B(0x7f, 0x61, 0xc3, 0x61, 0xa9, 0xff), WARD_CBOR_INVALID, 3); /* split */
    want_check(B(0x82, 0x61, 0x80, 0x61, 0xff), WARD_CBOR_INVALID, 3);
    /* Byte strings are not text. */
    want_check(B(0x42, 0xc3, 0x28), WARD_CBOR_OK, 3);
}

/* ---- Readers --------------------------------------------------------------------------------- */

static void strings(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t n;
    ward_cbor_reader_t r;
    ward_cbor_head_t h = {0};

    ward__cbor_reader_init(&r, B(0x44, 1, 2, 3, 4, 0x00));
    assert_true(ward__cbor_head(&r, &h));
    assert_int_equal(ward__cbor_string(&r, &h, out, 4, &n), 1);
    assert_int_equal(n, 4);
    assert_memory_equal(out, ((const uint8_t[]){1, 2, 3, 4}), 4);
    assert_int_equal(r.pos, 5);

    /* Chunks are joined; an indefinite string with no chunk is empty. */
    ward__cbor_reader_init(&r, B(0x7f, 0x62, 'a', 'b', 0x60, 0x61, 'c', 0xff, 0x7f, 0xff));
    assert_true(ward__cbor_head(&r, &h));
    assert_int_equal(ward__cbor_string(&r, &h, out, sizeof out, &n), 1);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(r.pos, 8);
    assert_true(ward__cbor_head(&r, &h));
    assert_int_equal(ward__cbor_string(&r, &h, out, sizeof out, &n), 1);
    assert_int_equal(n, 0);

    /* Longer than the room given: 0, whether one chunk or the sum of several is. */
    ward__cbor_reader_init(&r, B(0x43, 1, 2, 3));
    assert_true(ward__cbor_head(&r, &h));
    assert_int_equal(ward__cbor_string(&r, &h, out, 2, &n), 0);
    ward__cbor_reader_init(&r, B(0x5f, 0x42, 1, 2, 0x42, 3, 4, 0xff));
    assert_true(ward__cbor_head(&r, &h));
    assert_int_equal(ward__cbor_string(&r, &h, out, 3, &n), 0);

    /* Not well-formed: a chunk of the other type, a truncated string, no break. */
    ward__cbor_reader_init(&r, B(0x5f, 0x61, 'a', 0xff));
    assert_true(ward__cbor_head(&r, &h));
    assert_int_equal(ward__cbor_string(&r, &h, out, sizeof out, &n), -1);
    ward__cbor_reader_init(&r, B(0x45, 1, 2));
    assert_true(ward__cbor_head(&r, &h));
    assert_int_equal(ward__cbor_string(&r, &h, out, sizeof out, &n), -1);
    ward__cbor_reader_init(&r, B(0x5f, 0x41, 1));
    assert_true(ward__cbor_head(&r, &h));
    assert_int_equal(ward__cbor_string(&r, &h, out, sizeof out, &n), -1);
}

static void skip_and_count(void **state)
{
    (void)state;
    /* One item of everything, nested, then a marker (0x17) that must be next. */
    static const uint8_t item[] = {
        0xbf, /* {_ */
        0x61, 'a',  0x9f, 0xc1, 0xfb, 0,    0, 0, 0, 0,    0,    0,    0,
        0xf6, 0xff, /* "a": [_ 1(0.0), null] */
        0x3b, 0,    0,    0,    0,    0,    0, 0, 0, 0x5f, 0x41, 0x00, 0xff, /* -1: (_ h'00') */
        0xa1, 0x80, 0xa0,                   /* {[]: {}}: {} ... as key, then value: */
        0xd8, 0x20, 0x7f, 0x61, 'x',  0xff, /* 32("x") */
        0xf9, 0x7c, 0x00, 0xf7,             /* float16 inf: undefined */
        0xff, 0x17};
    ward_cbor_reader_t r;
    ward__cbor_reader_init(&r, item, sizeof item);
    want_check(item, sizeof item - 1, WARD_CBOR_OK, sizeof item - 1);
    assert_true(ward__cbor_skip(&r));
    assert_int_equal(r.pos, sizeof item - 1);
    assert_true(ward__cbor_skip(&r)); /* the marker */
    assert_int_equal(r.pos, sizeof item);
    assert_false(ward__cbor_skip(&r)); /* nothing left */

    /* Counting the map's items leaves the reader after its head. */
    ward_cbor_head_t h = {0};
    size_t items;
    ward__cbor_reader_init(&r, item, sizeof item);
    assert_true(ward__cbor_head(&r, &h));
    assert_true(ward__cbor_count(&r, &items));
    assert_int_equal(items, 8);
    assert_int_equal(r.pos, 1);

    /* A break is not an item; a break where an item belongs, or none, fails. */
    ward__cbor_reader_init(&r, B(0xff));
    assert_false(ward__cbor_skip(&r));
    ward__cbor_reader_init(&r, B(0x82, 0x00, 0xff));
    assert_false(ward__cbor_skip(&r));
    ward__cbor_reader_init(&r, B(0x9f, 0x00, 0x00));
    assert_false(ward__cbor_skip(&r));
    ward__cbor_reader_init(&r, B(0x9f, 0x00, 0x00));
    assert_true(ward__cbor_head(&r, &h));
    assert_false(ward__cbor_count(&r, &items));
    /* Counts and lengths larger than the input fail without looping. */
    ward__cbor_reader_init(&r, B(0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00));
    assert_false(ward__cbor_skip(&r));
    ward__cbor_reader_init(&r, B(0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00));
    assert_false(ward__cbor_skip(&r));
    ward__cbor_reader_init(&r, B(0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00));
    assert_false(ward__cbor_skip(&r));
    /* Deeper than WARD_CBOR_DEPTH_LIMIT: refused, no recursion. */
    uint8_t deep[WARD_CBOR_DEPTH_LIMIT + 2];
    memset(deep, 0x81, sizeof deep);
    deep[sizeof deep - 1] = 0x00;
    ward__cbor_reader_init(&r, deep, sizeof deep);
    assert_false(ward__cbor_skip(&r));
    ward__cbor_reader_init(&r, deep + 1, sizeof deep - 1);
    assert_true(ward__cbor_skip(&r));
}

/* ---- Through ward_wire_decode ---------------------------------------------------------------- */

static char reason[256];

/* A report (tb_init, no flows) with the extra pairs `pairs` (n bytes) added at the end. */
static ward_status_t decode_with(const uint8_t *pairs, size_t n, size_t n_pairs,
                                 ward_wire_report_t *out)
{
    tb_report_t r;
    size_t len;
    tb_init(&r, "dev-1", 1);
    tb_del(&r, 16);
    uint8_t *base = tb_encode(&r, &len);
    assert_true(base[0] >= 0xa0 && base[0] + n_pairs < 0xb8);
    uint8_t *buf = malloc(len + n);
    memcpy(buf, base, len);
    buf[0] = (uint8_t)(buf[0] + n_pairs);
    memcpy(buf + len, pairs, n);
    ward_status_t st = ward_wire_decode(buf, len + n, out, reason, sizeof reason);
    free(base);
    free(buf);
    return st;
}

static void expect_with(const uint8_t *pairs, size_t n, ward_status_t want, const char *in_reason)
{
    ward_wire_report_t out;
    ward_status_t st = decode_with(pairs, n, 1, &out);
    if (st != want || strstr(reason, in_reason) == NULL)
        fail_msg("status %d (want %d), reason \"%s\" (want it to contain \"%s\")", st, want, reason,
                 in_reason);
    ward_wire_report_free(&out);
}

static void report_indefinite(void **state)
{
    (void)state;
    ward_wire_report_t out;
    /* 16: [_ [_ 6, 1, 0, 443, (_ h'c000', h'0201'), 80, 1, 1, 60, 60, 0, 0, 0x12, "future"]],
     * the address chunked, one position past those known. */
    static const uint8_t flows[] = {0x10, 0x9f, 0x9f, 0x06, 0x01, 0x00, 0x19, 0x01, 0xbb, 0x5f,
                                    0x42, 0xc0, 0x00, 0x42, 0x02, 0x01, 0xff, 0x18, 0x50, 0x01,
                                    0x01, 0x18, 0x3c, 0x18, 0x3c, 0x00, 0x00, 0x12, 0x66, 'f',
                                    'u',  't',  'u',  'r',  'e',  0xff, 0xff};
    assert_int_equal(decode_with(flows, sizeof flows, 1, &out), WARD_OK);
    assert_int_equal(out.n_flows, 1);
    assert_int_equal(out.flows[0].proto, 6);
    assert_int_equal(out.flows[0].local_port, 443);
    assert_int_equal(out.flows[0].remote_addr.family, 4);
    assert_memory_equal(out.flows[0].remote_addr.b + 12, ((const uint8_t[]){192, 0, 2, 1}), 4);
    assert_int_equal(out.flows[0].remote_port, 80);
    assert_true(out.flows[0].has_tcp_flags);
    assert_int_equal(out.flows[0].tcp_flags, 0x12);
    ward_wire_report_free(&out);

    /* Indefinite maps: sysinfo with a chunked text, counters; an empty indefinite array. */
    static const uint8_t maps[] = {0x14, 0xbf, 0x00, 0x7f, 0x63, 'R',  'T',  'O',  0x61,
                                   'S',  0xff, 0x04, 0xf5, 0xff, 0x15, 0xbf, 0x00, 0x05,
                                   0x18, 0x2a, 0x01, 0xff, 0x11, 0x9f, 0xff};
    assert_int_equal(decode_with(maps, sizeof maps, 3, &out), WARD_OK);
    assert_true(out.sysinfo.present);
    assert_string_equal(out.sysinfo.os, "RTOS");
    assert_true(out.sysinfo.has_tls && out.sysinfo.tls);
    assert_int_equal(out.n_counters, 2);
    assert_int_equal(out.counters[1].key, 42);
    assert_int_equal(out.n_overflow, 0);
    assert_null(out.overflow);
    ward_wire_report_free(&out);

    /* An indefinite flow that is too short is counted before any position is read. */
    expect_with(B(0x10, 0x81, 0x9f, 0x40, 0x01, 0x02, 0x03, 0x04, 0xff), WARD_E_MALFORMED,
                "key 16 (flows) item 0: array of 5 positions, at least 12 required");
}

static void report_skips_unknown(void **state)
{
    (void)state;
    ward_wire_report_t out;
    /* 99: {_ 1(2.5): [_ null, undefined, (_ "a"), {0: h''}], -1: 32("x")}, then key 9 known:
     * whatever an unknown key holds is skipped whole, and reading goes on after it. */
    static const uint8_t pairs[] = {0x18, 0x63, 0xbf, 0xc1, 0xf9, 0x41, 0x00, 0x9f, 0xf6,
                                    0xf7, 0x7f, 0x61, 'a',  0xff, 0xa1, 0x00, 0x40, 0xff,
                                    0x20, 0xd8, 0x20, 0x61, 'x',  0xff, 0x09, 0x18, 0x3c};
    assert_int_equal(decode_with(pairs, sizeof pairs, 2, &out), WARD_OK);
    assert_true(out.has_interval);
    assert_int_equal(out.interval, 60);
    ward_wire_report_free(&out);
    /* A text key and an array key are skipped too. */
    assert_int_equal(decode_with(B(0x61, 'k', 0x01, 0x82, 0x00, 0x00, 0x02, 0x09, 0x0a), 3, &out),
                     WARD_OK);
    assert_int_equal(out.interval, 10);
    ward_wire_report_free(&out);
}

static void report_64bit(void **state)
{
    (void)state;
    ward_wire_report_t out;
    /* 10: config_rev as an 8-byte uint, INT64_MAX, then 2^63 (out of range). */
    assert_int_equal(
        decode_with(B(0x0a, 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 1, &out),
        WARD_OK);
    assert_true(out.has_config_rev);
    assert_true(out.config_rev == INT64_MAX);
    ward_wire_report_free(&out);
    expect_with(B(0x0a, 0x1b, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00), WARD_E_RANGE,
                "key 10 (config_rev): 9223372036854775808 out of range");
    /* Longer encodings than needed are accepted (the protocol asks for the shortest). */
    assert_int_equal(decode_with(B(0x09, 0x1b, 0, 0, 0, 0, 0, 0, 0, 0x3c), 1, &out), WARD_OK);
    assert_int_equal(out.interval, 60);
    ward_wire_report_free(&out);
    /* A metric at both ends of int64, and one past. */
    assert_int_equal(
        decode_with(B(0x16, 0xa2, 0x61, 'a', 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                      0x61, 'b', 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
                    1, &out),
        WARD_OK);
    assert_int_equal(out.n_metrics, 2);
    assert_true(out.metrics[0].value == INT64_MIN);
    assert_true(out.metrics[1].value == INT64_MAX);
    ward_wire_report_free(&out);
    expect_with(B(0x16, 0xa1, 0x61, 'a', 0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0), WARD_E_RANGE,
                "key 22 (metrics) entry 0: integer outside int64");
}

static void report_structure_faults(void **state)
{
    (void)state;
    /* Truncated inside the head of a known key's value. */
    ward_wire_report_t out;
    assert_int_equal(decode_with(B(0x09, 0x1b, 0x00, 0x00), 1, &out), WARD_E_INCOMPLETE);
    assert_string_equal(reason, "truncated: the input ends inside an item");
    /* A break inside a definite array, and one closing an indefinite map after a key. */
    expect_with(B(0x07, 0x82, 0x00, 0xff), WARD_E_MALFORMED,
                "(a break outside an indefinite item)");
    expect_with(B(0x14, 0xbf, 0x00, 0xff), WARD_E_MALFORMED, "not well-formed CBOR at byte");
    /* Structure is judged before values: a value out of range before invalid UTF-8 under an
     * unknown key is not what is reported. */
    assert_int_equal(decode_with(B(0x09, 0x00, 0x18, 0x63, 0x61, 0xff), 2, &out), WARD_E_MALFORMED);
    assert_non_null(strstr(reason, "not well-formed CBOR at byte"));
    /* A refused initial byte under an unknown key. */
    expect_with(B(0x18, 0x63, 0xc6, 0x00), WARD_E_MALFORMED, "not well-formed CBOR at byte");
    /* A known key twice, the second time indefinite. */
    expect_with(B(0x00, 0x9f, 0x01, 0x00, 0xff), WARD_E_MALFORMED, "key 0 (version) appears twice");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heads),
        cmocka_unit_test(check_accepts),
        cmocka_unit_test(check_truncated),
        cmocka_unit_test(check_breaks),
        cmocka_unit_test(check_refused_bytes),
        cmocka_unit_test(check_chunks_and_text),
        cmocka_unit_test(strings),
        cmocka_unit_test(skip_and_count),
        cmocka_unit_test(report_indefinite),
        cmocka_unit_test(report_skips_unknown),
        cmocka_unit_test(report_64bit),
        cmocka_unit_test(report_structure_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
