/*
 * Minimal CBOR writer and head reader (see ward_cbor.h). Owns no state; used by the report side only.
 */
#include "ward_cbor.h"

#include <string.h>

void ward__cbor_init(ward__cbor_t *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
}

size_t ward__cbor_head_size(uint64_t v)
{
    size_t n;
    if (v < 24u) {
        n = 1;
    } else if (v <= 0xffu) {
        n = 2;
    } else if (v <= 0xffffu) {
        n = 3;
    } else if (v <= 0xffffffffu) {
        n = 5;
    } else {
        n = 9;
    }
    return n;
}

size_t ward__cbor_put_head(uint8_t *out, unsigned major, uint64_t v)
{
    size_t n = ward__cbor_head_size(v);
    uint8_t mt = (uint8_t)(major << 5);
    size_t i;

    if (n == 1) {
        out[0] = (uint8_t)(mt | (uint8_t)v);
    } else {
        /* Additional info 24..27 says 1, 2, 4 or 8 argument bytes follow, big-endian. */
        static const uint8_t ai[10] = {0, 0, 24, 25, 0, 26, 0, 0, 0, 27};
        out[0] = (uint8_t)(mt | ai[n]);
        for (i = 1; i < n; i++) {
            out[i] = (uint8_t)(v >> (8u * (n - 1u - i)));
        }
    }
    return n;
}

void ward__cbor_raw(ward__cbor_t *w, const uint8_t *p, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        /* len may already exceed cap after an overflow; the test above never subtracts then. */
        w->overflow = 1;
    } else if (w->buf != NULL && n > 0) {
        memcpy(w->buf + w->len, p, n);
    }
    w->len += n;
}

void ward__cbor_head(ward__cbor_t *w, unsigned major, uint64_t v)
{
    uint8_t tmp[9];
    size_t n = ward__cbor_put_head(tmp, major, v);
    ward__cbor_raw(w, tmp, n);
}

void ward__cbor_uint(ward__cbor_t *w, uint64_t v)
{
    ward__cbor_head(w, WARD__CBOR_UINT, v);
}

void ward__cbor_array(ward__cbor_t *w, uint64_t n)
{
    ward__cbor_head(w, WARD__CBOR_ARRAY, n);
}

void ward__cbor_map(ward__cbor_t *w, uint64_t n)
{
    ward__cbor_head(w, WARD__CBOR_MAP, n);
}

void ward__cbor_bstr(ward__cbor_t *w, const uint8_t *p, size_t n)
{
    ward__cbor_head(w, WARD__CBOR_BSTR, n);
    ward__cbor_raw(w, p, n);
}

void ward__cbor_tstr(ward__cbor_t *w, const char *s, size_t n)
{
    ward__cbor_head(w, WARD__CBOR_TSTR, n);
    ward__cbor_raw(w, (const uint8_t *)s, n);
}

int ward__cbor_read_head(const uint8_t *buf, size_t len, size_t *pos, unsigned *major,
                         uint64_t *val)
{
    int rc = 0;
    size_t p = *pos;
    unsigned ai;
    size_t n = 0;
    uint64_t v = 0;
    size_t i;

    if (p >= len) {
        rc = -1;
    } else {
        *major = (unsigned)(buf[p] >> 5);
        ai = buf[p] & 0x1fu;
        p++;
        if (ai < 24u) {
            v = ai;
        } else if (ai <= 27u) {
            n = (size_t)1 << (ai - 24u);
            if (len - p < n) {
                rc = -1;
            } else {
                for (i = 0; i < n; i++) {
                    v = (v << 8) | buf[p + i];
                }
                p += n;
            }
        } else {
            rc = -1; /* reserved, or indefinite length: never written by the agent */
        }
    }
    if (rc == 0) {
        *val = v;
        *pos = p;
    }
    return rc;
}
