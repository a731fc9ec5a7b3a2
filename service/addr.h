/*
 * addr: one IP address type for every service module. IPv4 is held IPv4-mapped (::ffff:a.b.c.d)
 * so that one comparison, one index and one prefix length space serve both families; `family`
 * keeps how the address was written (4 or 6) for display, so a device that sent the 16-byte
 * ::ffff:a.b.c.d is shown exactly as it sent it while still matching IPv4 indicators.
 *
 * Threads: values only; no state.
 */
#ifndef WARD_ADDR_H
#define WARD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest text form (INET6_ADDRSTRLEN) plus NUL. */
#define WARD_ADDR_STRLEN 48

typedef struct ward_addr {
    uint8_t family; /**< 4 or 6: how the address was written or sent */
    uint8_t b[16];  /**< network byte order; IPv4 as ::ffff:a.b.c.d */
} ward_addr_t;

/** From 4 (IPv4) or 16 (IPv6) network-order bytes. False for any other length. */
bool ward_addr_from_bytes(ward_addr_t *out, const uint8_t *bytes, size_t len);

/** True when the 16 bytes are in ::ffff:0:0/96 (IPv4 or IPv4-mapped IPv6). */
bool ward_addr_is_v4_mapped(const ward_addr_t *a);

/** Parse dotted IPv4 or IPv6 text (no prefix, no spaces). */
bool ward_addr_parse(const char *s, ward_addr_t *out);

/** Text form: dotted IPv4 for family 4, RFC 5952 IPv6 for family 6. buf >= WARD_ADDR_STRLEN. */
void ward_addr_format(const ward_addr_t *a, char *buf, size_t len);

#endif
