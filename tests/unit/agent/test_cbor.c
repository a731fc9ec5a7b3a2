/* The agent's CBOR writer and head reader: shortest heads, measure mode, overflow, round trip. */
#include "test_util.h"

#include <string.h>

#include "ward_cbor.h"

static void test_head_sizes(void **state)
{
    (void)state;
    static const struct {
        uint64_t v;
        size_t n;
        uint8_t first;
    } cases[] = {
        {0, 1, 0x00},           {23, 1, 0x17},          {24, 2, 0x18},
        {255, 2, 0x18},         {256, 3, 0x19},         {65535, 3, 0x19},
        {65536, 5, 0x1a},       {0xffffffffu, 5, 0x1a}, {0x100000000ull, 9, 0x1b},
        {UINT64_MAX, 9, 0x1b},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[9];
        assert_int_equal(ward__cbor_head_size(cases[i].v), cases[i].n);
        assert_int_equal(ward__cbor_put_head(out, 0, cases[i].v), cases[i].n);
        assert_int_equal(out[0], cases[i].first);
        size_t pos = 0;
        unsigned major = 9;
        uint64_t back = 0;
        assert_int_equal(ward__cbor_read_head(out, cases[i].n, &pos, &major, &back), 0);
        assert_int_equal(pos, cases[i].n);
        assert_int_equal(major, 0);
        assert_true(back == cases[i].v);
        /* One byte short: the reader refuses. */
        pos = 0;
        if (cases[i].n > 1)
            assert_int_equal(ward__cbor_read_head(out, cases[i].n - 1, &pos, &major, &back), -1);
    }
}

static void test_writer(void **state)
{
    (void)state;
    uint8_t buf[64];
    ward__cbor_t w;
    static const uint8_t addr[4] = {1, 2, 3, 4};
    ward__cbor_init(&w, buf, sizeof buf);
    ward__cbor_map(&w, 1);
    ward__cbor_uint(&w, 16);
    ward__cbor_array(&w, 2);
    ward__cbor_bstr(&w, addr, 4);
    ward__cbor_tstr(&w, "ab", 2);
    static const uint8_t want[] = {0xa1, 0x10, 0x82, 0x44, 1, 2, 3, 4, 0x62, 'a', 'b'};
    assert_int_equal(w.overflow, 0);
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);

    /* Measure mode counts the same bytes and writes nothing. */
    ward__cbor_t m;
    ward__cbor_init(&m, NULL, 1000);
    ward__cbor_map(&m, 1);
    ward__cbor_uint(&m, 16);
    ward__cbor_array(&m, 2);
    ward__cbor_bstr(&m, addr, 4);
    ward__cbor_tstr(&m, "ab", 2);
    assert_int_equal(m.len, sizeof want);
    assert_int_equal(m.overflow, 0);
}

static void test_overflow(void **state)
{
    (void)state;
    uint8_t buf[8];
    memset(buf, 0xee, sizeof buf);
    ward__cbor_t w;
    ward__cbor_init(&w, buf, 4);
    ward__cbor_uint(&w, 1000); /* 3 bytes */
    assert_int_equal(w.overflow, 0);
    ward__cbor_uint(&w, 1000); /* does not fit */
    assert_int_equal(w.overflow, 1);
    ward__cbor_uint(&w, 1); /* nothing more is written once over */
    assert_int_equal(buf[3], 0xee);
    assert_int_equal(buf[4], 0xee);
    assert_true(w.len > w.cap);
}

static void test_reader_rejects(void **state)
{
    (void)state;
    static const uint8_t indef[] = {0x9f};
    static const uint8_t reserved[] = {0x1c};
    size_t pos = 0;
    unsigned major;
    uint64_t v;
    assert_int_equal(ward__cbor_read_head(indef, 1, &pos, &major, &v), -1);
    assert_int_equal(ward__cbor_read_head(reserved, 1, &pos, &major, &v), -1);
    assert_int_equal(ward__cbor_read_head(reserved, 0, &pos, &major, &v), -1);
    assert_int_equal(pos, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_sizes),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_reader_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
