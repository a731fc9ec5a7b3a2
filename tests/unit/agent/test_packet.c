/*
 * The packet parser: every protocol it keys, every malformed reason, IPv4 options and fragments,
 * the IPv6 extension chain, snap-length captures. Each malformed packet is also fed, truncated at
 * every length, to check that no prefix is read past its end (ASan builds catch any overread:
 * the bytes are copied to an exact-size heap block).
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t R4[4] = {203, 0, 113, 5};
static const uint8_t R6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};

/* Parse from an exact-size copy, kept until the next call (pk points into it). Returns the
 * status; *reason set when malformed. */
static ward_status_t parse(const uint8_t *p, size_t len, ward__pkt_t *pk, int *reason)
{
    static uint8_t *copy;
    free(copy);
    copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, p, len);
    *reason = -1;
    return ward__packet_parse(copy, len, pk, reason);
}

static int malformed_reason(const uint8_t *p, size_t len)
{
    ward__pkt_t pk;
    int reason;
    assert_int_equal(parse(p, len, &pk, &reason), WARD_E_MALFORMED);
    assert_true(reason >= 0 && reason < WARD_MF_COUNT_);
    return reason;
}

/* Every prefix of a packet parses to OK or a malformed reason, and never reads past it. */
static void all_prefixes(const uint8_t *p, size_t len)
{
    for (size_t n = 0; n <= len; n++) {
        ward__pkt_t pk;
        int reason;
        ward_status_t st = parse(p, n, &pk, &reason);
        assert_true(st == WARD_OK || (st == WARD_E_MALFORMED && reason >= 0 &&
                                      reason < WARD_MF_COUNT_));
    }
}

static void test_v4_tcp(void **state)
{
    (void)state;
    uint8_t p[2048];
    size_t n = tu_v4_tcp(p, TU_DEV4, R4, 40000, 443, TU_TCP_SYN, 12);
    ward__pkt_t pk;
    int reason;
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.family, 4);
    assert_int_equal(pk.proto, WARD_IPPROTO_TCP);
    assert_int_equal(pk.sport, 40000);
    assert_int_equal(pk.dport, 443);
    assert_int_equal(pk.tcp_flags, TU_TCP_SYN);
    assert_int_equal(pk.ip_len, 52);
    assert_memory_equal(pk.src, TU_DEV4, 4);
    assert_memory_equal(pk.dst, R4, 4);
    assert_int_equal(pk.later_fragment, 0);
    all_prefixes(p, n);
}

static void test_v4_udp_icmp_other(void **state)
{
    (void)state;
    uint8_t p[2048], l4[64];
    ward__pkt_t pk;
    int reason;
    size_t n = tu_v4_udp(p, R4, TU_DEV4, 53, 5353, 10);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.proto, WARD_IPPROTO_UDP);
    assert_int_equal(pk.sport, 53);
    assert_int_equal(pk.dport, 5353);
    assert_int_equal(pk.tcp_flags, 0);

    size_t m = tu_icmp(l4, 8, 0, 16);
    n = tu_ipv4(p, TU_DEV4, R4, WARD_IPPROTO_ICMP, 0, 0, l4, m);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.proto, WARD_IPPROTO_ICMP);
    assert_int_equal(pk.sport, 0);
    assert_int_equal(pk.dport, 8 * 256 + 0);
    m = tu_icmp(l4, 3, 3, 28);
    n = tu_ipv4(p, TU_DEV4, R4, WARD_IPPROTO_ICMP, 0, 0, l4, m);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.dport, 3 * 256 + 3);

    /* GRE (47): keyed by number, ports 0, nothing read past the IP header. */
    memset(l4, 0xab, 8);
    n = tu_ipv4(p, TU_DEV4, R4, 47, 0, 0, l4, 8);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.proto, 47);
    assert_int_equal(pk.sport, 0);
    assert_int_equal(pk.dport, 0);
    assert_int_equal(parse(p, 20, &pk, &reason), WARD_OK); /* header only captured */
    assert_int_equal(pk.ip_len, 28);
}

static void test_v4_options(void **state)
{
    (void)state;
    uint8_t p[2048], l4[64];
    ward__pkt_t pk;
    int reason;
    size_t m = tu_tcp(l4, 1234, 80, TU_TCP_ACK, 0);
    size_t n = tu_ipv4(p, TU_DEV4, R4, WARD_IPPROTO_TCP, 12, 0, l4, m);
    assert_int_equal(p[0], 0x48);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.sport, 1234);
    assert_int_equal(pk.dport, 80);
    assert_int_equal(pk.tcp_flags, TU_TCP_ACK);
    /* Options cut by the capture: truncated, not a bad header. */
    assert_int_equal(malformed_reason(p, 24), WARD_MF_TRUNCATED);
    all_prefixes(p, n);
}

static void test_v4_malformed(void **state)
{
    (void)state;
    uint8_t p[2048], l4[64];
    size_t m = tu_tcp(l4, 1, 2, 0, 0);
    size_t n = tu_ipv4(p, TU_DEV4, R4, WARD_IPPROTO_TCP, 0, 0, l4, m);

    assert_int_equal(malformed_reason(p, 0), WARD_MF_TRUNCATED);
    assert_int_equal(malformed_reason(p, 19), WARD_MF_TRUNCATED);

    uint8_t q[128];
    memcpy(q, p, n);
    q[0] = 0x44; /* IHL 4: below 20 bytes */
    assert_int_equal(malformed_reason(q, n), WARD_MF_BAD_IHL);
    memcpy(q, p, n);
    q[0] = 0x4f; /* 60-byte header in a 40-byte packet */
    assert_int_equal(malformed_reason(q, n), WARD_MF_BAD_IHL);
    memcpy(q, p, n);
    q[0] = 0x55; /* version 5 */
    assert_int_equal(malformed_reason(q, n), WARD_MF_BAD_VERSION);
    q[0] = 0x00;
    assert_int_equal(malformed_reason(q, 1), WARD_MF_BAD_VERSION);

    /* Total length too short for a TCP header: the header cannot exist. */
    memcpy(q, p, n);
    q[2] = 0;
    q[3] = 30;
    assert_int_equal(malformed_reason(q, n), WARD_MF_BAD_L4);
    /* TCP data offset below 5. */
    memcpy(q, p, n);
    q[20 + 12] = 4 << 4;
    assert_int_equal(malformed_reason(q, n), WARD_MF_BAD_L4);
    /* Data offset past the IP length. */
    q[20 + 12] = 15 << 4;
    assert_int_equal(malformed_reason(q, n), WARD_MF_BAD_L4);
    /* Capture stops inside the TCP header, before the flags. */
    assert_int_equal(malformed_reason(p, 20 + 10), WARD_MF_TRUNCATED);
    /* ... but ports and flags are all the parser needs. */
    ward__pkt_t pk;
    int reason;
    assert_int_equal(parse(p, 20 + 14, &pk, &reason), WARD_OK);
    assert_int_equal(pk.ip_len, 40);
}

static void test_v4_snaplen_and_padding(void **state)
{
    (void)state;
    uint8_t p[2048];
    ward__pkt_t pk;
    int reason;
    size_t n = tu_v4_tcp(p, TU_DEV4, R4, 40000, 443, TU_TCP_ACK, 1460);
    assert_int_equal(n, 1500);
    /* Captured 54 bytes of a 1500-byte packet: bytes count the IP length. */
    assert_int_equal(parse(p, 54, &pk, &reason), WARD_OK);
    assert_int_equal(pk.ip_len, 1500);
    assert_int_equal(pk.dport, 443);
    /* A 40-byte packet in a 60-byte buffer (Ethernet padding): the IP length wins. */
    n = tu_v4_tcp(p, TU_DEV4, R4, 40000, 443, TU_TCP_ACK, 0);
    memset(p + n, 0xff, 20);
    assert_int_equal(parse(p, 60, &pk, &reason), WARD_OK);
    assert_int_equal(pk.ip_len, 40);
}

static void test_v4_fragments(void **state)
{
    (void)state;
    uint8_t p[2048], l4[64];
    ward__pkt_t pk;
    int reason;
    size_t m = tu_udp(l4, 5000, 6000, 32);
    /* First fragment (MF set, offset 0): ports are read. */
    size_t n = tu_ipv4(p, TU_DEV4, R4, WARD_IPPROTO_UDP, 0, 0x2000, l4, m);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.later_fragment, 0);
    assert_int_equal(pk.sport, 5000);
    /* Later fragment: payload bytes that look like ports are never read as ports. */
    n = tu_ipv4(p, TU_DEV4, R4, WARD_IPPROTO_UDP, 0, 0x2000 | 3, l4, m);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.later_fragment, 1);
    assert_int_equal(pk.sport, 0);
    assert_int_equal(pk.dport, 0);
    assert_int_equal(pk.ip_len, n);
    /* The last fragment (MF clear, offset != 0), even with a payload too short for a header. */
    n = tu_ipv4(p, TU_DEV4, R4, WARD_IPPROTO_TCP, 0, 185, l4, 3);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.later_fragment, 1);
    assert_int_equal(pk.sport, 0);
}

static void test_v6_basic(void **state)
{
    (void)state;
    uint8_t p[256], l4[64];
    ward__pkt_t pk;
    int reason;
    size_t n = tu_v6_tcp(p, TU_DEV6, R6, 50000, 8883, TU_TCP_SYN | TU_TCP_ACK, 0);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.family, 6);
    assert_int_equal(pk.proto, WARD_IPPROTO_TCP);
    assert_int_equal(pk.sport, 50000);
    assert_int_equal(pk.dport, 8883);
    assert_int_equal(pk.tcp_flags, TU_TCP_SYN | TU_TCP_ACK);
    assert_int_equal(pk.ip_len, 60);
    assert_memory_equal(pk.src, TU_DEV6, 16);
    assert_memory_equal(pk.dst, R6, 16);
    all_prefixes(p, n);

    n = tu_v6_udp(p, R6, TU_DEV6, 123, 123, 48);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.proto, WARD_IPPROTO_UDP);
    assert_int_equal(pk.sport, 123);

    size_t m = tu_icmp(l4, 128, 0, 8);
    n = tu_ipv6(p, TU_DEV6, R6, WARD_IPPROTO_ICMPV6, NULL, 0, l4, m);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.proto, WARD_IPPROTO_ICMPV6);
    assert_int_equal(pk.dport, 128 * 256);

    /* IPv4-mapped addresses in an IPv6 packet: still IPv6. */
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9};
    n = tu_v6_udp(p, TU_DEV6, mapped, 1000, 2000, 0);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.family, 6);
    assert_memory_equal(pk.dst, mapped, 16);

    assert_int_equal(malformed_reason(p, 39), WARD_MF_TRUNCATED);
    /* Payload length 0 (a jumbogram, or a lie): the UDP header lies outside the packet. */
    uint8_t q[256];
    memcpy(q, p, n);
    q[4] = q[5] = 0;
    assert_int_equal(malformed_reason(q, n), WARD_MF_BAD_L4);
}

/* Extension header of type-specific size; returns bytes written. */
static size_t ext(uint8_t *out, uint8_t nh, uint8_t type, size_t len)
{
    memset(out, 0, len);
    out[0] = nh;
    if (type == 51)
        out[1] = (uint8_t)(len / 4 - 2);
    else if (type != 44)
        out[1] = (uint8_t)(len / 8 - 1);
    if (type == 0 || type == 60) {
        out[2] = 1; /* PadN over the rest */
        out[3] = (uint8_t)(len - 4);
    }
    return len;
}

static void test_v6_ext_chain(void **state)
{
    (void)state;
    uint8_t p[512], l4[64], e[256];
    ward__pkt_t pk;
    int reason;
    size_t m = tu_udp(l4, 4444, 5555, 4);
    /* HBH -> dest opts -> routing -> fragment (offset 0) -> AH -> UDP. */
    size_t el = 0;
    el += ext(e + el, 60, 0, 8);
    el += ext(e + el, 43, 60, 16);
    el += ext(e + el, 44, 43, 24);
    el += ext(e + el, 51, 44, 8);
    el += ext(e + el, 17, 51, 24);
    size_t n = tu_ipv6(p, TU_DEV6, R6, 0, e, el, l4, m);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.proto, WARD_IPPROTO_UDP);
    assert_int_equal(pk.sport, 4444);
    assert_int_equal(pk.dport, 5555);
    assert_int_equal(pk.later_fragment, 0);
    assert_int_equal(pk.ip_len, n);
    all_prefixes(p, n);
    /* Cut by the capture inside the chain: truncated. */
    assert_int_equal(malformed_reason(p, 40 + 8 + 1), WARD_MF_TRUNCATED);

    /* Hop-by-hop anywhere but first. */
    el = 0;
    el += ext(e + el, 0, 60, 8);
    el += ext(e + el, 17, 0, 8);
    n = tu_ipv6(p, TU_DEV6, R6, 60, e, el, l4, m);
    assert_int_equal(malformed_reason(p, n), WARD_MF_EXT_CHAIN);

    /* WARD_IPV6_EXT_MAX destination-options headers pass; one more is too many (a chain that
     * "loops" by repeating a header costs the same bound). */
    el = 0;
    for (int i = 0; i < WARD_IPV6_EXT_MAX; i++)
        el += ext(e + el, i == WARD_IPV6_EXT_MAX - 1 ? 17 : 60, 60, 8);
    n = tu_ipv6(p, TU_DEV6, R6, 60, e, el, l4, m);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.sport, 4444);
    el = 0;
    for (int i = 0; i < WARD_IPV6_EXT_MAX + 1; i++)
        el += ext(e + el, i == WARD_IPV6_EXT_MAX ? 17 : 60, 60, 8);
    n = tu_ipv6(p, TU_DEV6, R6, 60, e, el, l4, m);
    assert_int_equal(malformed_reason(p, n), WARD_MF_EXT_CHAIN);
    /* A chain whose last header says "destination options" again, and the packet ends. */
    el = 0;
    for (int i = 0; i < 3; i++)
        el += ext(e + el, 60, 60, 8);
    n = tu_ipv6(p, TU_DEV6, R6, 60, e, el, NULL, 0);
    assert_int_equal(malformed_reason(p, n), WARD_MF_EXT_CHAIN);

    /* A header whose length runs past the payload. */
    el = ext(e, 17, 60, 8);
    e[1] = 200;
    n = tu_ipv6(p, TU_DEV6, R6, 60, e, el, l4, m);
    assert_int_equal(malformed_reason(p, n), WARD_MF_EXT_CHAIN);
    all_prefixes(p, n);
}

static void test_v6_fragments_and_others(void **state)
{
    (void)state;
    uint8_t p[512], l4[64], e[64];
    ward__pkt_t pk;
    int reason;
    size_t m = tu_udp(l4, 4444, 5555, 4);
    /* Later fragment (offset 8 * 8): never read as ports. */
    size_t el = ext(e, 17, 44, 8);
    e[2] = 0;
    e[3] = (uint8_t)(8 << 3);
    size_t n = tu_ipv6(p, TU_DEV6, R6, 44, e, el, l4, m);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.later_fragment, 1);
    assert_int_equal(pk.sport, 0);
    assert_int_equal(pk.dport, 0);
    /* First fragment (offset 0, M set): ports read. */
    p[40 + 3] = 1;
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.later_fragment, 0);
    assert_int_equal(pk.sport, 4444);

    /* ESP ends the chain: protocol 50, no ports. No-next-header (59) likewise. */
    memset(l4, 0x77, 16);
    n = tu_ipv6(p, TU_DEV6, R6, 50, NULL, 0, l4, 16);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.proto, 50);
    assert_int_equal(pk.sport, 0);
    n = tu_ipv6(p, TU_DEV6, R6, 59, NULL, 0, NULL, 0);
    assert_int_equal(parse(p, n, &pk, &reason), WARD_OK);
    assert_int_equal(pk.proto, 59);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4_tcp),
        cmocka_unit_test(test_v4_udp_icmp_other),
        cmocka_unit_test(test_v4_options),
        cmocka_unit_test(test_v4_malformed),
        cmocka_unit_test(test_v4_snaplen_and_padding),
        cmocka_unit_test(test_v4_fragments),
        cmocka_unit_test(test_v6_basic),
        cmocka_unit_test(test_v6_ext_chain),
        cmocka_unit_test(test_v6_fragments_and_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
