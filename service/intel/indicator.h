/*
 * The threat-intelligence indicator model shared by the feed loaders (feeds.c), the match index
 * (index.c) and the alerting code. An indicator is one IP address or CIDR range (IPv4 or IPv6)
 * with the metadata a feed gave it.
 *
 * Addresses are always held as 16 bytes: IPv4 as the IPv4-mapped IPv6 address ::ffff:a.b.c.d with
 * the prefix length + 96, so that one index answers both families and IPv4-mapped IPv6 addresses
 * match IPv4 indicators with no special case.
 */
#ifndef WARD_INTEL_INDICATOR_H
#define WARD_INTEL_INDICATOR_H

#include <stdbool.h>
#include <stdint.h>

/** An address in the form every intel module uses (IPv4 mapped into ::ffff:0:0/96). */
typedef struct ward_ip {
    uint8_t b[16];
} ward_ip_t;

typedef struct ward_indicator {
    ward_ip_t addr;        /**< network address (host bits zero) */
    int64_t first_seen;    /**< Unix seconds, 0 = unknown */
    int64_t expires;       /**< Unix seconds, 0 = never */
    uint32_t source;       /**< index into the feed-set's source table (file path or URL) */
    uint32_t category;     /**< index into the feed-set's string table (e.g. "botnet_cc"), 0 = none */
    uint32_t ref;          /**< index into the string table: the feed's own id (SBL id, STIX id), 0 = none */
    uint8_t prefix;        /**< 0..128, in the mapped space (IPv4 /24 is 120) */
    bool is_v4;            /**< written as IPv4 in the feed (for display) */
    uint8_t confidence;    /**< 0..100; feeds without one get their loader's default */
    /* Fields ordered largest first: 48 bytes, no padding holes. */
} ward_indicator_t;

/** Parse "a.b.c.d", "a.b.c.d/n", IPv6, "IPv6/n" (surrounding spaces not allowed).
 *  Host bits set below the prefix are cleared. Returns false on anything else. */
bool ward_ip_parse_cidr(const char *s, ward_ip_t *addr, uint8_t *prefix, bool *is_v4);

/** Format addr/prefix as the feed would write it: IPv4 dotted (no "/32"), IPv6 compressed
 *  (no "/128"). buf must hold at least 50 bytes. */
void ward_ip_format_cidr(const ward_ip_t *addr, uint8_t prefix, bool is_v4, char *buf, unsigned len);

#endif
