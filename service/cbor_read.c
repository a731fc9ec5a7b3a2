/*
 * cbor_read: see cbor_read.h.
 *
 * ward__cbor_check() accepts exactly what wire.c accepted when it scanned with libcbor 0.8's
 * streaming decoder and then built a tree with cbor_load, and reports the same fault at the same
 * byte. Those rules, some stricter than RFC 8949's well-formedness:
 *  - Refused initial bytes (libcbor: "reserved" or "unassigned"): additional information 28..30 in
 *    every major type, 31 with an integer or a tag; tags 6..20 written in the initial byte
 *    (0xc6..0xd4; the same numbers after 0xd8 are accepted); simple values 0..19 (0xe0..0xf3) and
 *    the one-byte simple value form (0xf8). Floats of 2, 4 and 8 bytes, false, true, null and
 *    undefined are accepted.
 *  - Nesting: a container (array, map, tag, indefinite string) that is not an empty definite one
 *    may not open while depth_max are open.
 *  - A definite array or map may not declare more entries than bytes are left from its head on (a
 *    map's pairs count twice): the input is then truncated, found without walking the entries.
 *  - Exactly one item: a break outside an indefinite item, or bytes after the item, are refused.
 *  - From the tree builder, only after all of the above held for the whole input: a chunk of an
 *    indefinite string must be a definite string of the same major type; an indefinite map must
 *    end after a value, not a key; every text string (a chunk on its own) must be UTF-8 (no
 *    overlong forms, surrogates or code points past U+10FFFF). The builder found these when the
 *    offending item was complete: "at" is the byte after it (after the break, for a map).
 */
#include "cbor_read.h"

#include <string.h>

#define INDEF UINT64_MAX /* ward__cbor_skip: entries left in a container that ends at a break */

/* Initial bytes libcbor 0.8's streaming decoder refuses (see above). */
static bool initial_ok(uint8_t ib)
{
    unsigned major = ib >> 5, info = ib & 31;
    if (info >= 28 && info <= 30)
        return false;
    switch (major) {
    case WARD_CBOR_UINT:
    case WARD_CBOR_NEGINT:
        return info != 31;
    case WARD_CBOR_TAG:
        return info != 31 && (info < 6 || info > 20);
    case WARD_CBOR_SIMPLE:
        return info >= 20 && info != 24;
    default:
        return true;
    }
}

bool ward__utf8_next(const uint8_t *s, size_t n, size_t *i, uint32_t *cp)
{
    uint8_t b = s[*i];
    if (b < 0x80) {
        *cp = b;
        (*i)++;
        return true;
    }
    size_t need;
    uint32_t c;
    if (b >= 0xc2 && b <= 0xdf) {
        need = 1;
        c = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
        need = 2;
        c = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        c = b & 0x07;
    } else {
        return false;
    }
    if (n - *i - 1 < need)
        return false;
    for (size_t k = 1; k <= need; k++) {
        if ((s[*i + k] & 0xc0) != 0x80)
            return false;
        c = (c << 6) | (s[*i + k] & 0x3f);
    }
    if ((need == 2 && c < 0x800) || (need == 3 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return false;
    *i += need + 1;
    *cp = c;
    return true;
}

/* Well-formed UTF-8 (ward__utf8_next). */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) { /* ASCII, the common case, without a call */
            i++;
            continue;
        }
        if (!ward__utf8_next(s, n, &i, &cp))
            return false;
    }
    return true;
}

/* A container ward__cbor_check() has open. */
typedef struct open_item {
    uint64_t left; /* definite: entries not started yet (a map's pairs twice, a tag's item once) */
    uint8_t major;
    bool indef;
    bool odd; /* indefinite map: an odd number of entries so far (a key without its value) */
} open_item_t;

ward_cbor_fault_t ward__cbor_check(const uint8_t *buf, size_t len, unsigned depth_max, size_t *at)
{
    open_item_t st[WARD_CBOR_DEPTH_LIMIT];
    unsigned depth = 0;
    size_t pos = 0, invalid_at = 0;
    bool invalid = false;
    if (depth_max > WARD_CBOR_DEPTH_LIMIT)
        depth_max = WARD_CBOR_DEPTH_LIMIT;
    do {
        /* The bulk of a report: integers in a definite array or map that they do not end. They
         * need no more than this; anything else takes the general path below. */
        if (depth > 0 && !st[depth - 1].indef) {
            open_item_t *p = &st[depth - 1];
            while (p->left > 1 && pos < len && buf[pos] < 0x40 && (buf[pos] & 31) < 28) {
                unsigned info = buf[pos] & 31;
                size_t n = info < 24 ? 0 : (size_t)1 << (info - 24);
                if (len - pos - 1 < n)
                    break; /* truncated: the general path says so */
                pos += 1 + n;
                p->left--;
            }
        }
        if (pos >= len) {
            *at = pos;
            return WARD_CBOR_TRUNCATED;
        }
        size_t start = pos, avail = len - pos;
        uint8_t ib = buf[pos++];
        unsigned major = ib >> 5, info = ib & 31;
        /* Integers, strings, arrays and maps are refused only for info 28..31: the common case
         * needs no more than that test. */
        if ((info >= 28 || major >= WARD_CBOR_TAG) && !initial_ok(ib)) {
            *at = start;
            return WARD_CBOR_RESERVED;
        }
        uint64_t arg = info;
        if (info >= 24 && info <= 27) {
            size_t n = (size_t)1 << (info - 24);
            if (len - pos < n) {
                *at = start;
                return WARD_CBOR_TRUNCATED;
            }
            /* Only lengths and entry counts matter here, not values. */
            if (major >= WARD_CBOR_BYTES && major <= WARD_CBOR_MAP)
                arg = ward__cbor_be(buf + pos, n);
            pos += n;
        }
        bool indef = info == 31;
        bool chunk = false; /* a definite string: the one item an indefinite string may hold */

        if (major == WARD_CBOR_SIMPLE && indef) { /* a break */
            if (depth == 0 || !st[depth - 1].indef) {
                *at = start;
                return WARD_CBOR_STRAY_BREAK;
            }
            depth--;
            if (st[depth].major == WARD_CBOR_MAP && st[depth].odd && !invalid) {
                invalid = true;
                invalid_at = pos;
            }
            major = st[depth].major; /* that indefinite item is complete */
        } else {
            /* A new item: its container counts it. */
            if (depth > 0) {
                open_item_t *p = &st[depth - 1];
                if (!p->indef)
                    p->left--;
                else if (p->major == WARD_CBOR_MAP)
                    p->odd = !p->odd;
            }
            uint64_t entries = 0;
            bool container = indef;
            switch (major) {
            case WARD_CBOR_BYTES:
            case WARD_CBOR_TEXT:
                if (indef)
                    break;
                if (arg > len - pos) {
                    *at = start;
                    return WARD_CBOR_TRUNCATED;
                }
                if (major == WARD_CBOR_TEXT && !invalid && !utf8_ok(buf + pos, (size_t)arg)) {
                    invalid = true;
                    invalid_at = pos + (size_t)arg;
                }
                pos += (size_t)arg;
                chunk = true;
                break;
            case WARD_CBOR_ARRAY:
                container = true;
                entries = arg;
                break;
            case WARD_CBOR_MAP:
                container = true;
                entries = arg > avail / 2 ? (uint64_t)avail + 1 : arg * 2;
                break;
            case WARD_CBOR_TAG:
                container = true;
                entries = 1;
                break;
            default:
                break;
            }
            if (container && (indef || entries > 0)) {
                if (depth >= depth_max) {
                    *at = start;
                    return WARD_CBOR_TOO_DEEP;
                }
                if (!indef && entries > avail) {
                    *at = start;
                    return WARD_CBOR_TOO_LONG;
                }
                st[depth].left = indef ? 0 : entries;
                st[depth].major = (uint8_t)major;
                st[depth].indef = indef;
                st[depth].odd = false;
                depth++;
                continue;
            }
        }

        /* An item is complete (major, chunk): check where it stands, and close every definite
         * container it completes in turn. */
        while (depth > 0) {
            open_item_t *p = &st[depth - 1];
            if ((p->major == WARD_CBOR_BYTES || p->major == WARD_CBOR_TEXT) &&
                (!chunk || major != p->major) && !invalid) {
                invalid = true;
                invalid_at = pos;
            }
            if (p->indef || p->left > 0)
                break;
            depth--;
            major = p->major;
            chunk = false;
        }
    } while (depth > 0);

    if (pos != len) {
        *at = pos;
        return WARD_CBOR_TRAILING;
    }
    if (invalid) {
        *at = invalid_at;
        return WARD_CBOR_INVALID;
    }
    *at = pos;
    return WARD_CBOR_OK;
}

/* Append a definite string's len bytes to out. */
static int take(ward_cbor_reader_t *r, uint64_t len, uint8_t *out, size_t cap, size_t *n)
{
    if (len > r->len - r->pos)
        return -1;
    if (len > cap - *n)
        return 0;
    if (len > 0)
        memcpy(out + *n, r->buf + r->pos, (size_t)len);
    *n += (size_t)len;
    r->pos += (size_t)len;
    return 1;
}

int ward__cbor_string(ward_cbor_reader_t *r, const ward_cbor_head_t *h, uint8_t *out, size_t cap,
                      size_t *n)
{
    *n = 0;
    if (h->major != WARD_CBOR_BYTES && h->major != WARD_CBOR_TEXT)
        return -1;
    if (!h->indef)
        return take(r, h->arg, out, cap, n);
    while (!ward__cbor_break(r)) {
        ward_cbor_head_t c;
        if (!ward__cbor_head(r, &c) || c.major != h->major || c.indef)
            return -1;
        int st = take(r, c.arg, out, cap, n);
        if (st != 1)
            return st;
    }
    return 1;
}

bool ward__cbor_skip(ward_cbor_reader_t *r)
{
    /* Entries left in each open container (INDEF: up to its break); level 0 is the item itself. */
    uint64_t left[WARD_CBOR_DEPTH_LIMIT + 1];
    unsigned depth = 0;
    left[0] = 1;
    for (;;) {
        ward_cbor_head_t h;
        if (!ward__cbor_head(r, &h))
            return false;
        if (h.major == WARD_CBOR_SIMPLE && h.indef) {
            if (left[depth] != INDEF)
                return false; /* a break where an item belongs */
            left[depth] = 0;
        } else {
            if (left[depth] != INDEF)
                left[depth]--;
            uint64_t n = 0, rest = r->len - r->pos;
            switch (h.major) {
            case WARD_CBOR_BYTES:
            case WARD_CBOR_TEXT:
                if (h.indef) {
                    n = INDEF;
                } else {
                    if (h.arg > rest)
                        return false;
                    r->pos += (size_t)h.arg;
                }
                break;
            case WARD_CBOR_ARRAY:
            case WARD_CBOR_MAP:
                if (h.indef) {
                    n = INDEF;
                    break;
                }
                if (h.arg > rest) /* each entry takes a byte at least */
                    return false;
                n = h.major == WARD_CBOR_MAP ? h.arg * 2 : h.arg;
                break;
            case WARD_CBOR_TAG:
                n = 1;
                break;
            default: /* integers, simple values and floats: the head is the item */
                break;
            }
            if (n > 0) {
                if (depth == WARD_CBOR_DEPTH_LIMIT)
                    return false;
                left[++depth] = n;
            }
        }
        while (left[depth] == 0) {
            if (depth == 0)
                return true;
            depth--;
        }
    }
}

bool ward__cbor_count(const ward_cbor_reader_t *r, size_t *items)
{
    ward_cbor_reader_t c = *r;
    size_t n = 0;
    while (!ward__cbor_break(&c)) {
        if (!ward__cbor_skip(&c))
            return false;
        n++;
    }
    *items = n;
    return true;
}
