/*
 * config_msg: the config message of docs/protocol.md section 5 — encoding (exact bytes, checked
 * against a hand-written CBOR), decoding (round trip, unknown keys and collector bits, minor
 * versions, every rejection with the agent's status), validation, and the parsers of wardctl's
 * --deny and --collectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config_msg.h"

static ward_status_t dec(const uint8_t *b, size_t n, ward_config_msg_t *m)
{
    char reason[256] = "";
    ward_status_t st = ward_config_msg_decode(b, n, m, reason, sizeof reason);
    if (st != WARD_OK)
        assert_true(reason[0] != '\0');
    return st;
}

static void encode_exact(void **state)
{
    (void)state;
    ward_config_msg_t m;
    uint8_t buf[WARD_CONFIG_MSG_MAX];
    size_t len = 0;
    char reason[256];
    ward_config_msg_init(&m, 3);
    m.has_interval = true;
    m.interval = 30;
    m.has_deny = true;
    m.n_deny = 1;
    assert_int_equal(ward_config_msg_parse_deny("203.0.113.0/24", &m.deny[0], reason,
                                                sizeof reason),
                     WARD_OK);
    assert_int_equal(ward_config_msg_encode(&m, buf, sizeof buf, &len, reason, sizeof reason),
                     WARD_OK);
    /* {0: [1, 0], 1: 3, 2: 30, 4: [[h'cb007100', 24, 0]]} */
    static const uint8_t want[] = {0xa4, 0x00, 0x82, 0x01, 0x00, 0x01, 0x03, 0x02, 0x18, 0x1e,
                                   0x04, 0x81, 0x83, 0x44, 203,  0,    113,  0,    0x18, 0x18,
                                   0x00};
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    /* Too small a buffer: WARD_E_BUFFER, not a partial message. */
    assert_int_equal(ward_config_msg_encode(&m, buf, 10, &len, reason, sizeof reason),
                     WARD_E_BUFFER);
}

static void round_trip(void **state)
{
    (void)state;
    ward_config_msg_t m, out;
    uint8_t buf[WARD_CONFIG_MSG_MAX];
    size_t len = 0;
    char reason[256];
    static const char *const deny[] = {"203.0.113.0/24:drop", "2001:db8::/32", "198.51.100.7",
                                       "2001:db8:bad::1:alert", "0.0.0.0/0:alert", "::/0"};
    ward_config_msg_init(&m, 1700000000);
    m.has_interval = m.has_collectors = m.has_deny = true;
    m.interval = 86400;
    assert_int_equal(ward_config_msg_parse_collectors("flows,counters,metrics", &m.collectors,
                                                      reason, sizeof reason),
                     WARD_OK);
    assert_int_equal(m.collectors, WARD_COL_FLOWS | WARD_COL_COUNTERS | WARD_COL_METRICS);
    for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++)
        assert_int_equal(ward_config_msg_parse_deny(deny[i], &m.deny[m.n_deny++], reason,
                                                    sizeof reason),
                         WARD_OK);
    assert_int_equal(ward_config_msg_encode(&m, buf, sizeof buf, &len, reason, sizeof reason),
                     WARD_OK);
    assert_int_equal(dec(buf, len, &out), WARD_OK);
    assert_int_equal(out.revision, 1700000000);
    assert_int_equal(out.interval, 86400);
    assert_int_equal(out.collectors, m.collectors);
    assert_int_equal(out.n_deny, 6);
    assert_int_equal(out.deny[0].family, 4);
    assert_int_equal(out.deny[0].prefix, 24);
    assert_int_equal(out.deny[0].action, WARD_DENY_DROP);
    assert_int_equal(out.deny[1].family, 6);
    assert_int_equal(out.deny[1].prefix, 32);
    assert_int_equal(out.deny[2].prefix, 32); /* no prefix: one address */
    assert_int_equal(out.deny[3].prefix, 128);
    assert_int_equal(out.deny[3].action, WARD_DENY_ALERT);

    json_t *j = ward_config_msg_json(&out);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(
        s, "{\"version\":[1,0],\"revision\":1700000000,\"interval\":86400,"
           "\"collectors\":[\"flows\",\"counters\",\"metrics\"],\"deny\":["
           "{\"cidr\":\"203.0.113.0/24\",\"action\":\"drop\"},"
           "{\"cidr\":\"2001:db8::/32\",\"action\":\"alert\"},"
           "{\"cidr\":\"198.51.100.7/32\",\"action\":\"alert\"},"
           "{\"cidr\":\"2001:db8:bad::1/128\",\"action\":\"alert\"},"
           "{\"cidr\":\"0.0.0.0/0\",\"action\":\"alert\"},{\"cidr\":\"::/0\",\"action\":\"alert\"}]}");
    free(s);
    json_decref(j);

    /* Only the required keys: nothing optional is present. */
    ward_config_msg_init(&m, 5);
    assert_int_equal(ward_config_msg_encode(&m, buf, sizeof buf, &len, reason, sizeof reason),
                     WARD_OK);
    assert_int_equal(dec(buf, len, &out), WARD_OK);
    assert_false(out.has_interval || out.has_collectors || out.has_deny);
}

static void decode_compat(void **state)
{
    (void)state;
    ward_config_msg_t m;
    /* Minor version 7 with a third position, an unknown key 9 holding a nested map, unknown
     * collector bits (ignored), a deny entry with a fourth position, a non-shortest revision. */
    static const uint8_t later[] = {0xa5, 0x00, 0x83, 0x01, 0x07, 0x00, 0x01, 0x19, 0x00, 0x09,
                                    0x09, 0xa1, 0x01, 0x81, 0x41, 0x00, 0x03, 0x18, 0xff, 0x04,
                                    0x81, 0x84, 0x44, 10,   0,    0,    0,    0x08, 0x01, 0xf6};
    assert_int_equal(dec(later, sizeof later, &m), WARD_OK);
    assert_int_equal(m.minor, 7);
    assert_int_equal(m.revision, 9);
    assert_int_equal(m.collectors, WARD_COL_ALL_);
    assert_int_equal(m.n_deny, 1);
    assert_int_equal(m.deny[0].prefix, 8);
    assert_int_equal(m.deny[0].action, WARD_DENY_DROP);
}

static void decode_rejects(void **state)
{
    (void)state;
    ward_config_msg_t m;
    static const struct {
        const char *what;
        uint8_t b[24];
        size_t n;
        ward_status_t st;
    } cases[] = {
        {"empty", {0}, 0, WARD_E_INCOMPLETE},
        {"truncated", {0xa2, 0x00, 0x82, 0x01}, 4, WARD_E_INCOMPLETE},
        {"not a map", {0x82, 0x01, 0x00}, 3, WARD_E_MALFORMED},
        {"revision missing", {0xa1, 0x00, 0x82, 0x01, 0x00}, 5, WARD_E_MALFORMED},
        {"version missing", {0xa1, 0x01, 0x01}, 3, WARD_E_MALFORMED},
        {"trailing byte", {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x00}, 8, WARD_E_MALFORMED},
        {"duplicate key", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02}, 9,
         WARD_E_MALFORMED},
        {"revision text", {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x61, 0x31}, 8, WARD_E_MALFORMED},
        {"major 2", {0xa2, 0x00, 0x82, 0x02, 0x00, 0x01, 0x01}, 7, WARD_E_UNSUPPORTED},
        {"indefinite", {0xbf, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0xff}, 8, WARD_E_UNSUPPORTED},
        {"too deep", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x09, 0x81, 0x81, 0x81, 0x81, 0x00},
         13, WARD_E_UNSUPPORTED},
        {"revision 0", {0xa2, 0x00, 0x82, 0x01, 0x00, 0x01, 0x00}, 7, WARD_E_RANGE},
        {"interval 9", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x02, 0x09}, 9, WARD_E_RANGE},
        {"address 3 bytes",
         {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x04, 0x81, 0x83, 0x43, 1, 2, 3, 0x08, 0x00},
         16, WARD_E_RANGE},
        {"prefix 33",
         {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x04, 0x81, 0x83, 0x44, 1, 2, 3, 4, 0x18, 33,
          0x00},
         18, WARD_E_RANGE},
        {"action 2",
         {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x04, 0x81, 0x83, 0x44, 1, 2, 3, 4, 0x08, 0x02},
         17, WARD_E_RANGE},
        {"drop /0",
         {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x04, 0x81, 0x83, 0x44, 0, 0, 0, 0, 0x00, 0x01},
         17, WARD_E_RANGE},
        {"9 entries", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x04, 0x89}, 9, WARD_E_FULL},
        {"huge array", {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x09, 0x9b, 0xff, 0xff, 0xff,
                        0xff, 0xff, 0xff, 0xff, 0xff},
         17, WARD_E_INCOMPLETE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ward_status_t st = dec(cases[i].b, cases[i].n, &m);
        if (st != cases[i].st)
            fail_msg("%s: status %d, want %d", cases[i].what, (int)st, (int)cases[i].st);
    }
    /* The reason names the key. */
    char reason[256];
    static const uint8_t iv[] = {0xa3, 0x00, 0x82, 0x01, 0x00, 0x01, 0x01, 0x02, 0x09};
    assert_int_equal(ward_config_msg_decode(iv, sizeof iv, &m, reason, sizeof reason),
                     WARD_E_RANGE);
    assert_non_null(strstr(reason, "key 2 (interval)"));
    assert_non_null(strstr(reason, "10..86400"));
}

static void validate_and_parse(void **state)
{
    (void)state;
    ward_config_msg_t m;
    ward_config_deny_t d;
    uint32_t bits;
    char reason[256];
    uint8_t buf[WARD_CONFIG_MSG_MAX];
    size_t len;

    ward_config_msg_init(&m, 0);
    assert_int_equal(ward_config_msg_validate(&m, reason, sizeof reason), WARD_E_RANGE);
    assert_int_equal(ward_config_msg_encode(&m, buf, sizeof buf, &len, reason, sizeof reason),
                     WARD_E_RANGE);
    ward_config_msg_init(&m, 1);
    m.has_interval = true;
    m.interval = 86401;
    assert_int_equal(ward_config_msg_validate(&m, reason, sizeof reason), WARD_E_RANGE);
    m.interval = 10;
    assert_int_equal(ward_config_msg_validate(&m, reason, sizeof reason), WARD_OK);
    m.has_collectors = true;
    m.collectors = 0x20;
    assert_int_equal(ward_config_msg_validate(&m, reason, sizeof reason), WARD_E_RANGE);
    m.collectors = 0;
    m.n_deny = WARD_CONFIG_MSG_DENY_MAX + 1;
    assert_int_equal(ward_config_msg_validate(&m, reason, sizeof reason), WARD_E_FULL);

    static const char *const bad[] = {"0.0.0.0/0:drop", "::/0:drop", "10.0.0.0/33",
                                      "2001:db8::/129", "10.1.2.3/8", "10.0.0.0/8:block",
                                      "10.0.0.0/x",     "example.com", "10.0.0.0/",
                                      "",               "1.2.3.4/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ward_config_msg_parse_deny(bad[i], &d, reason, sizeof reason) == WARD_OK)
            fail_msg("--deny %s accepted", bad[i]);
    assert_int_equal(ward_config_msg_parse_deny("10.1.2.3/8", &d, reason, sizeof reason),
                     WARD_E_RANGE);
    assert_non_null(strstr(reason, "10.0.0.0/8"));
    assert_int_equal(ward_config_msg_parse_deny("0.0.0.0/1:drop", &d, reason, sizeof reason),
                     WARD_OK);

    assert_int_equal(ward_config_msg_parse_collectors("none", &bits, reason, sizeof reason),
                     WARD_OK);
    assert_int_equal(bits, 0);
    assert_int_equal(ward_config_msg_parse_collectors("flows,listening,sysinfo,counters,metrics",
                                                      &bits, reason, sizeof reason),
                     WARD_OK);
    assert_int_equal(bits, WARD_COL_ALL_);
    assert_int_not_equal(ward_config_msg_parse_collectors("flows,", &bits, reason, sizeof reason),
                         WARD_OK);
    assert_int_not_equal(ward_config_msg_parse_collectors("flow", &bits, reason, sizeof reason),
                         WARD_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_exact),   cmocka_unit_test(round_trip),
        cmocka_unit_test(decode_compat),  cmocka_unit_test(decode_rejects),
        cmocka_unit_test(validate_and_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
