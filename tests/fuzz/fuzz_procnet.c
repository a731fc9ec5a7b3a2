/*
 * Fuzz target for ward-agent's /proc/net parser (agent/port/posix/procnet.c). The first input byte
 * chooses the file kind (tcp, tcp6, udp, udp6), the byte order and a chunk size; the rest is the
 * file's text, fed in chunks of that size, so that lines cut at every position are exercised.
 * Asserts the parser's promises: the result never passes its capacity, every entry is TCP or UDP
 * of the file's family with a non-zero port, no entry is listed twice, counts add up, and feeding
 * the same text whole gives the same result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procnet.h"

#define CAP 16

static void parse(const uint8_t *data, size_t size, int proto, int family, int order, size_t chunk,
                  ward_posix_procnet_t *p, ward_posix_listen_t *out)
{
    size_t i;

    ward_posix_procnet_begin(p, out, CAP);
    if (ward_posix_procnet_next_file(p, proto, family, order) != 0) {
        abort();
    }
    for (i = 0; i < size; i += chunk) {
        size_t n = size - i < chunk ? size - i : chunk;
        ward_posix_procnet_feed(p, (const char *)data + i, n);
    }
    ward_posix_procnet_end_file(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ward_posix_listen_t a[CAP];
    static ward_posix_listen_t b[CAP];
    ward_posix_procnet_t pa;
    ward_posix_procnet_t pb;
    int proto;
    int family;
    int order;
    size_t chunk;
    size_t i;
    size_t j;

    if (size < 1) {
        return 0;
    }
    proto = data[0] & 1 ? 17 : 6;
    family = data[0] & 2 ? 6 : 4;
    order = (data[0] >> 2) % 3;
    chunk = (size_t)(data[0] >> 4) + 1;
    data++;
    size--;

    parse(data, size, proto, family, order, chunk, &pa, a);
    parse(data, size, proto, family, order, size + 1, &pb, b);
    if (pa.n > CAP || pa.malformed > pa.lines) {
        abort();
    }
    for (i = 0; i < pa.n; i++) {
        if (a[i].proto != proto || a[i].family != family || a[i].port == 0) {
            abort();
        }
        if (family == 4 && memcmp(a[i].addr + 4, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) != 0) {
            abort();
        }
        for (j = 0; j < i; j++) {
            if (a[j].port == a[i].port && memcmp(a[j].addr, a[i].addr, 16) == 0) {
                abort();
            }
        }
    }
    /* Chunking must not matter. */
    if (pa.n != pb.n || pa.lines != pb.lines || pa.malformed != pb.malformed ||
        pa.full != pb.full || memcmp(a, b, pa.n * sizeof a[0]) != 0) {
        abort();
    }
    return 0;
}
