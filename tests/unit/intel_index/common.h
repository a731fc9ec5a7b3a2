/* Helpers shared by the match-index tests: indicators from text, and a brute-force matcher. */
#ifndef WARD_TEST_INTEL_INDEX_COMMON_H
#define WARD_TEST_INTEL_INDEX_COMMON_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"

/* An address from text: IPv4 becomes ::ffff:a.b.c.d. Aborts on bad text (a test bug). */
static inline ward_ip_t ip(const char *s)
{
    ward_ip_t a;
    memset(&a, 0, sizeof a);
    struct in_addr v4;
    if (inet_pton(AF_INET, s, &v4) == 1) {
        a.b[10] = a.b[11] = 0xff;
        memcpy(&a.b[12], &v4, 4);
    } else if (inet_pton(AF_INET6, s, a.b) != 1) {
        abort();
    }
    return a;
}

/* An indicator "addr/len" as a feed writes it (IPv4 length 0..32, IPv6 0..128). */
static inline ward_indicator_t ind(const char *s, unsigned len, uint8_t conf, int64_t expires)
{
    ward_indicator_t i;
    memset(&i, 0, sizeof i);
    i.addr = ip(s);
    i.is_v4 = strchr(s, ':') == NULL;
    i.prefix = (uint8_t)(i.is_v4 ? len + 96 : len);
    i.confidence = conf;
    i.expires = expires;
    return i;
}

static inline bool bf_v4_space(const ward_ip_t *a)
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->b, pfx, 12) == 0;
}

static inline bool bf_covers(const ward_ip_t *net, unsigned len, const ward_ip_t *a)
{
    for (unsigned bit = 0; bit < len; bit++) {
        unsigned byte = bit / 8, sh = 7 - bit % 8;
        if (((net->b[byte] >> sh) & 1) != ((a->b[byte] >> sh) & 1))
            return false;
    }
    return true;
}

/* Does indicator i match address a at time now, by the rules in index.h? */
static inline bool bf_matches(const ward_indicator_t *i, const ward_ip_t *a, int64_t now)
{
    if (i->prefix > 128 || (i->expires != 0 && i->expires <= now))
        return false;
    bool ind_v4 = i->prefix >= 96 && bf_v4_space(&i->addr);
    if (ind_v4 != bf_v4_space(a))
        return false;
    return bf_covers(&i->addr, i->prefix, a);
}

/* Orders matches: longer prefix first, then confidence (highest first), then id. */
static inline bool bf_before(const ward_indicator_t *v, uint32_t x, uint32_t y)
{
    if (v[x].prefix != v[y].prefix)
        return v[x].prefix > v[y].prefix;
    if (v[x].confidence != v[y].confidence)
        return v[x].confidence > v[y].confidence;
    return x < y;
}

/* Every match of a, in the index's order, into out (room for n); returns the count. */
static inline size_t bf_all(const ward_indicator_t *v, size_t n, const ward_ip_t *a, int64_t now,
                            uint32_t *out)
{
    size_t c = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!bf_matches(&v[i], a, now))
            continue;
        size_t k = c++;
        while (k > 0 && bf_before(v, i, out[k - 1])) {
            out[k] = out[k - 1];
            k--;
        }
        out[k] = i;
    }
    return c;
}

#endif
