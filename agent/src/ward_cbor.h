/*
 * A minimal CBOR (RFC 8949) writer and head reader for the agent's reports (internal).
 *
 * The writer encodes straight into the caller's buffer with the shortest head for every integer
 * and length. With a NULL buffer it only measures: it counts the bytes it would write and still
 * reports, through `overflow`, whether they would have fitted in `cap`, so one function can plan a
 * report and write it. After an overflow nothing more is written (the bytes already written stay);
 * the caller rolls back by restoring `len` and clearing `overflow`.
 *
 * The reader decodes one head (major type and argument) of definite-length items only; the agent
 * reads back the reports it wrote, so it needs nothing more.
 */
#ifndef WARD_WARD_CBOR_H
#define WARD_WARD_CBOR_H

#include <stddef.h>
#include <stdint.h>

#define WARD__CBOR_UINT 0u
#define WARD__CBOR_BSTR 2u
#define WARD__CBOR_TSTR 3u
#define WARD__CBOR_ARRAY 4u
#define WARD__CBOR_MAP 5u
#define WARD__CBOR_SIMPLE 7u

typedef struct ward__cbor {
    uint8_t *buf; /* NULL: measure only */
    size_t cap;   /* bytes available at buf (the limit also applies when measuring) */
    size_t len;   /* bytes written, or that would have been */
    int overflow; /* non-zero once a write did not fit in cap */
} ward__cbor_t;

void ward__cbor_init(ward__cbor_t *w, uint8_t *buf, size_t cap);
/* Size of a head with argument v (1, 2, 3, 5 or 9). */
size_t ward__cbor_head_size(uint64_t v);
void ward__cbor_head(ward__cbor_t *w, unsigned major, uint64_t v);
void ward__cbor_uint(ward__cbor_t *w, uint64_t v);
void ward__cbor_array(ward__cbor_t *w, uint64_t n);
void ward__cbor_map(ward__cbor_t *w, uint64_t n);
void ward__cbor_bstr(ward__cbor_t *w, const uint8_t *p, size_t n);
void ward__cbor_tstr(ward__cbor_t *w, const char *s, size_t n);
/* Raw bytes (reserving room for a head patched in later). */
void ward__cbor_raw(ward__cbor_t *w, const uint8_t *p, size_t n);
/* Encode a head into out (at least 9 bytes); returns its size. */
size_t ward__cbor_put_head(uint8_t *out, unsigned major, uint64_t v);

/*
 * Read one head at buf[*pos], advancing *pos past it. For a bstr/tstr the payload follows at
 * *pos and is not skipped. Returns 0, or -1 when the head is truncated, indefinite or reserved.
 */
int ward__cbor_read_head(const uint8_t *buf, size_t len, size_t *pos, unsigned *major,
                         uint64_t *val);

#endif /* WARD_WARD_CBOR_H */
