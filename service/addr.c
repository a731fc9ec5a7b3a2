/*
 * addr: conversions between wire bytes, text and ward_addr_t. See addr.h.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool ward_addr_from_bytes(ward_addr_t *out, const uint8_t *bytes, size_t len)
{
    memset(out, 0, sizeof *out);
    if (len == 4) {
        out->family = 4;
        memcpy(out->b, mapped_prefix, sizeof mapped_prefix);
        memcpy(out->b + 12, bytes, 4);
        return true;
    }
    if (len == 16) {
        out->family = 6;
        memcpy(out->b, bytes, 16);
        return true;
    }
    return false;
}

bool ward_addr_is_v4_mapped(const ward_addr_t *a)
{
    return memcmp(a->b, mapped_prefix, sizeof mapped_prefix) == 0;
}

bool ward_addr_parse(const char *s, ward_addr_t *out)
{
    uint8_t buf[16];
    if (inet_pton(AF_INET, s, buf) == 1)
        return ward_addr_from_bytes(out, buf, 4);
    if (inet_pton(AF_INET6, s, buf) == 1)
        return ward_addr_from_bytes(out, buf, 16);
    return false;
}

void ward_addr_format(const ward_addr_t *a, char *buf, size_t len)
{
    const char *r;
    if (a->family == 4)
        r = inet_ntop(AF_INET, a->b + 12, buf, (socklen_t)len);
    else
        r = inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
    if (r == NULL && len > 0)
        snprintf(buf, len, "?");
}
