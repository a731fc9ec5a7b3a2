/*
 * cbor_read: reading CBOR (RFC 8949) in place, for the report decoder (wire.c). No allocation, no
 * recursion, and no read outside the input.
 *
 * Two parts:
 *  - ward__cbor_check() walks a whole input once and says whether it is exactly one well-formed
 *    item no deeper than the caller's limit, and if not, what is wrong and at which byte. It is
 *    the one judge of untrusted structure, and it judges exactly as the decoder before it did
 *    (libcbor 0.8's streaming decoder and tree builder behind wire.c's size checks), quirks
 *    included, so that no report is accepted or refused differently (cbor_read.c lists the rules).
 *  - a cursor (ward_cbor_reader_t) and readers for one item at a time: a head (major type,
 *    argument, indefinite flag), a string's bytes (definite, or every chunk of an indefinite one),
 *    skipping a whole item, counting the entries of an indefinite container. They check every bound
 *    and return false on anything unexpected, but they are meant for input that ward__cbor_check()
 *    accepted, where they never fail.
 *
 * Threads: pure functions; a reader belongs to its caller.
 */
#ifndef WARD_CBOR_READ_H
#define WARD_CBOR_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Deepest nesting that ward__cbor_check() (its depth_max at most) and ward__cbor_skip() handle. */
#define WARD_CBOR_DEPTH_LIMIT 32

/** Major types (the top 3 bits of an initial byte). */
enum ward_cbor_major {
    WARD_CBOR_UINT = 0,
    WARD_CBOR_NEGINT = 1, /**< the value is -1 - argument */
    WARD_CBOR_BYTES = 2,
    WARD_CBOR_TEXT = 3,
    WARD_CBOR_ARRAY = 4,
    WARD_CBOR_MAP = 5,
    WARD_CBOR_TAG = 6,
    WARD_CBOR_SIMPLE = 7 /**< false, true, null, undefined, floats, and the break */
};

/** Additional information values of WARD_CBOR_SIMPLE heads. */
#define WARD_CBOR_FALSE 20
#define WARD_CBOR_TRUE 21

/** The head of an item: its initial byte and the argument after it. */
typedef struct ward_cbor_head {
    uint8_t major; /**< enum ward_cbor_major */
    uint8_t info;  /**< additional information: the initial byte's low 5 bits */
    bool indef;    /**< info 31: indefinite length; for WARD_CBOR_SIMPLE, a break */
    uint64_t arg;  /**< value, length, entry count, tag number or float bits; 0 when indef */
} ward_cbor_head_t;

/** A cursor: the next item starts at buf[pos]. */
typedef struct ward_cbor_reader {
    const uint8_t *buf;
    size_t len, pos;
} ward_cbor_reader_t;

/** What ward__cbor_check() found; "at" is the byte offset it reports with each. */
typedef enum ward_cbor_fault {
    WARD_CBOR_OK = 0,
    WARD_CBOR_TRUNCATED,   /**< the input ends inside the item */
    WARD_CBOR_RESERVED,    /**< at: an initial byte that is refused (reserved or unassigned) */
    WARD_CBOR_TOO_DEEP,    /**< at: a container that would nest deeper than depth_max */
    WARD_CBOR_TOO_LONG,    /**< at: a definite container declaring more entries than bytes left */
    WARD_CBOR_STRAY_BREAK, /**< at: a break outside an indefinite-length item */
    WARD_CBOR_TRAILING,    /**< at: the first byte after the item */
    WARD_CBOR_INVALID      /**< at: the end of an item of the wrong kind where it stands: a chunk
                                of an indefinite string that is not a definite string of the same
                                type, an indefinite map ending after a key, a text string that is
                                not UTF-8 */
} ward_cbor_fault_t;

/**
 * Check that buf holds exactly one well-formed item, with at most depth_max (up to
 * WARD_CBOR_DEPTH_LIMIT) containers open at once (arrays, maps, tags and indefinite strings, empty
 * definite containers not counted). Returns the first fault in byte order, every fault but
 * WARD_CBOR_INVALID taking precedence over a WARD_CBOR_INVALID anywhere, with its offset in *at.
 */
ward_cbor_fault_t ward__cbor_check(const uint8_t *buf, size_t len, unsigned depth_max, size_t *at);

/** The big-endian number in the n (1, 2, 4 or 8) bytes at p: a head's argument. */
static inline uint64_t ward__cbor_be(const uint8_t *p, size_t n)
{
    switch (n) {
    case 1:
        return p[0];
    case 2:
        return (uint64_t)p[0] << 8 | p[1];
    case 4:
        return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
    default:
        return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
               (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
               (uint64_t)p[6] << 8 | p[7];
    }
}

static inline void ward__cbor_reader_init(ward_cbor_reader_t *r, const uint8_t *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
}

/**
 * Read the next head (for a string, not its bytes). False at the input's end, for a truncated
 * argument and for additional information 28..30 (and 31 with an integer or tag), the reader then
 * left anywhere.
 */
static inline bool ward__cbor_head(ward_cbor_reader_t *r, ward_cbor_head_t *h)
{
    if (r->pos >= r->len)
        return false;
    uint8_t ib = r->buf[r->pos++];
    h->major = (uint8_t)(ib >> 5);
    h->info = (uint8_t)(ib & 31);
    h->indef = false;
    h->arg = h->info;
    if (h->info < 24)
        return true;
    if (h->info == 31) {
        h->indef = true;
        h->arg = 0;
        return h->major != WARD_CBOR_UINT && h->major != WARD_CBOR_NEGINT &&
               h->major != WARD_CBOR_TAG;
    }
    if (h->info > 27)
        return false;
    size_t n = (size_t)1 << (h->info - 24);
    if (r->len - r->pos < n)
        return false;
    h->arg = ward__cbor_be(r->buf + r->pos, n);
    r->pos += n;
    return true;
}

/** True, and the break read, when the next byte is a break (0xff). */
static inline bool ward__cbor_break(ward_cbor_reader_t *r)
{
    if (r->pos < r->len && r->buf[r->pos] == 0xff) {
        r->pos++;
        return true;
    }
    return false;
}

/**
 * After the head h of a byte or text string: copy its bytes (every chunk's, up to the break, for an
 * indefinite one) to out, *n of them. Returns 1 when they fit in cap bytes, 0 when the string is
 * longer (the reader then left inside it), -1 when it is not well-formed.
 */
int ward__cbor_string(ward_cbor_reader_t *r, const ward_cbor_head_t *h, uint8_t *out, size_t cap,
                      size_t *n);

/** Skip the next item whole, whatever it is (nested up to WARD_CBOR_DEPTH_LIMIT). */
bool ward__cbor_skip(ward_cbor_reader_t *r);

/**
 * After the head of an indefinite array or map: the number of items up to its break (a map's keys
 * and values both count) in *items. The reader does not move.
 */
bool ward__cbor_count(const ward_cbor_reader_t *r, size_t *items);

/**
 * The code point that starts at s[*i] (n bytes in all) as strict UTF-8: no overlong form, no
 * surrogate, nothing past U+10FFFF, no cut sequence. Advances *i past it. False when invalid.
 */
bool ward__utf8_next(const uint8_t *s, size_t n, size_t *i, uint32_t *cp);

#endif
