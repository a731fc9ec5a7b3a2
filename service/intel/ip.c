/*
 * ip: text <-> ward_ip_t for the intel modules (see indicator.h for the model).
 *
 * Owns: the one strict parser of feed addresses ("a.b.c.d", "a.b.c.d/n", IPv6, "IPv6/n") and its
 * formatter. Threads: any (no state).
 *
 * Invariants:
 * - IPv4 is parsed here, by hand, and strictly: exactly four decimal octets 0..255 without leading
 *   zeros (so "010" can never be read as octal by anybody), nothing before or after, prefix 0..32
 *   without leading zeros. Results are IPv4-mapped (::ffff:a.b.c.d) with prefix + 96.
 * - IPv6 goes through inet_pton() after a length and character check, so zone ids ("%eth0"),
 *   spaces and overlong input never reach it. An IPv6 address inside ::ffff:0:0/96 with a prefix
 *   of 96 or more is an IPv4 indicator written the IPv6 way: is_v4 is set.
 * - Host bits below the prefix are always cleared.
 */
#include "feeds_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parse a decimal number of at most max_digits digits, no leading zero (except "0" itself). */
bool ward__digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* 1..max_digits decimal digits without a leading zero (an octet, a prefix length). */
static bool parse_dec(const char *s, size_t n, unsigned max_digits, unsigned *out)
{
    if (n == 0 || n > max_digits || (n > 1 && s[0] == '0'))
        return false;
    return ward__digits(s, n, out);
}

static bool parse_v4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        unsigned v;
        if (!parse_dec(s + start, i - start, 3, &v) || v > 255)
            return false;
        out[octet] = (uint8_t)v;
        if (octet < 3) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
    }
    return i == n;
}

static void clear_host_bits(ward_ip_t *a, unsigned prefix)
{
    for (unsigned byte = 0; byte < 16; byte++) {
        unsigned first_bit = byte * 8;
        if (first_bit >= prefix)
            a->b[byte] = 0;
        else if (first_bit + 8 > prefix)
            a->b[byte] &= (uint8_t)(0xffu << (8 - (prefix - first_bit)));
    }
}

bool ward__ip_is_mapped(const ward_ip_t *a)
{
    return memcmp(a->b, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0;
}

bool ward__ip_parse_cidr_n(const char *s, size_t n, ward_ip_t *addr, uint8_t *prefix, bool *is_v4)
{
    if (s == NULL || n == 0 || n > WARD__IP_TEXT_MAX)
        return false;
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    bool has_colon = memchr(s, ':', alen) != NULL;
    unsigned max_prefix = has_colon ? 128 : 32;
    unsigned plen = max_prefix;
    if (slash != NULL && !parse_dec(slash + 1, n - alen - 1, 3, &plen))
        return false;
    if (plen > max_prefix)
        return false;

    ward_ip_t a;
    bool v4;
    if (!has_colon) {
        memcpy(a.b, v4_mapped_prefix, sizeof v4_mapped_prefix);
        if (!parse_v4(s, alen, a.b + 12))
            return false;
        plen += 96;
        v4 = true;
    } else {
        /* inet_pton needs a terminated string and must see only address characters. */
        char tmp[WARD__IP_TEXT_MAX + 1];
        if (alen < 2 || alen > 45)
            return false;
        for (size_t i = 0; i < alen; i++) {
            char ch = s[i];
            bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                      (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.';
            if (!ok)
                return false;
        }
        memcpy(tmp, s, alen);
        tmp[alen] = '\0';
        if (inet_pton(AF_INET6, tmp, a.b) != 1)
            return false;
        v4 = plen >= 96 && ward__ip_is_mapped(&a);
    }
    clear_host_bits(&a, plen);
    *addr = a;
    *prefix = (uint8_t)plen;
    *is_v4 = v4;
    return true;
}

bool ward_ip_parse_cidr(const char *s, ward_ip_t *addr, uint8_t *prefix, bool *is_v4)
{
    if (s == NULL || addr == NULL || prefix == NULL || is_v4 == NULL)
        return false;
    return ward__ip_parse_cidr_n(s, strnlen(s, WARD__IP_TEXT_MAX + 1), addr, prefix, is_v4);
}

void ward_ip_format_cidr(const ward_ip_t *addr, uint8_t prefix, bool is_v4, char *buf, unsigned len)
{
    if (buf == NULL || len == 0)
        return;
    buf[0] = '\0';
    if (addr == NULL)
        return;
    if (prefix > 128)
        prefix = 128;
    if (is_v4 && prefix >= 96 && ward__ip_is_mapped(addr)) {
        const uint8_t *b = addr->b + 12;
        if (prefix == 128)
            snprintf(buf, len, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
        else
            snprintf(buf, len, "%u.%u.%u.%u/%u", b[0], b[1], b[2], b[3], prefix - 96u);
        return;
    }
    char tmp[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, addr->b, tmp, sizeof tmp) == NULL)
        return;
    if (prefix == 128)
        snprintf(buf, len, "%s", tmp);
    else
        snprintf(buf, len, "%s/%u", tmp, (unsigned)prefix);
}
