/*
 * intel: IP list parsing and the longest-prefix index. See intel.h.
 *
 * The index is a sorted array of (prefix length descending, network, load order) and the list of
 * prefix lengths present. A lookup masks the address to each present length, longest first, and
 * binary-searches for it: O(P log N) with P <= 129 lengths, no allocation, no locks. Strings (the
 * values as written and the sources) live in one arena owned by the index.
 */
#include "intel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct entry {
    uint8_t net[16];
    uint8_t prefix;  /* 0..128 in the mapped space */
    uint32_t value;  /* offset of the text in the arena */
    uint32_t source; /* offset of the source in the arena */
    uint32_t order;  /* load order, for a stable sort */
} entry_t;

struct ward_intel_builder {
    entry_t *e;
    size_t n, cap;
    char *arena;
    size_t arena_len, arena_cap;
    ward_intel_error_fn on_error;
    void *ctx;
};

struct ward_intel {
    entry_t *e;
    size_t n;
    char *arena;
    uint8_t lens[129]; /* prefix lengths present, longest first */
    size_t start[129]; /* lens[i]'s entries are e[start[i] .. start[i + 1]) */
    size_t n_lens;
};

/* Longest token accepted: a full IPv6 address with an embedded IPv4 and a prefix is 49 chars. */
#define TOKEN_MAX 64

static void log_error(void *ctx, const char *source, unsigned long line, const char *reason)
{
    (void)ctx;
    WARD_WARN("%s:%lu: %s", source, line, reason);
}

ward_intel_builder_t *ward_intel_builder_new(ward_intel_error_fn on_error, void *ctx)
{
    ward_intel_builder_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->on_error = on_error ? on_error : log_error;
    b->ctx = ctx;
    return b;
}

void ward_intel_builder_free(ward_intel_builder_t *b)
{
    if (b == NULL)
        return;
    free(b->e);
    free(b->arena);
    free(b);
}

/* Copy n bytes plus a NUL into the arena; returns the offset, or UINT32_MAX on failure. */
static uint32_t arena_add(ward_intel_builder_t *b, const char *s, size_t n)
{
    if (b->arena_len + n + 1 > UINT32_MAX)
        return UINT32_MAX;
    if (b->arena_len + n + 1 > b->arena_cap) {
        size_t cap = b->arena_cap ? b->arena_cap * 2 : 4096;
        while (cap < b->arena_len + n + 1)
            cap *= 2;
        char *a = realloc(b->arena, cap);
        if (a == NULL)
            return UINT32_MAX;
        b->arena = a;
        b->arena_cap = cap;
    }
    uint32_t off = (uint32_t)b->arena_len;
    memcpy(b->arena + off, s, n);
    b->arena[off + n] = '\0';
    b->arena_len += n + 1;
    return off;
}

static void mask(uint8_t *net, unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
        if (bits >= 8)
            continue;
        net[i] &= (uint8_t)(0xff00u >> bits);
    }
}

/* Parse "addr" or "addr/len" (NUL-terminated, no spaces). On failure *reason says why. */
static bool parse_token(const char *tok, uint8_t net[16], uint8_t *prefix, const char **reason)
{
    char addr[TOKEN_MAX + 1];
    const char *slash = strchr(tok, '/');
    size_t alen = slash ? (size_t)(slash - tok) : strlen(tok);
    if (alen == 0 || alen > TOKEN_MAX) {
        *reason = "not an IPv4 or IPv6 address";
        return false;
    }
    memcpy(addr, tok, alen);
    addr[alen] = '\0';
    ward_addr_t a;
    if (!ward_addr_parse(addr, &a)) {
        *reason = "not an IPv4 or IPv6 address";
        return false;
    }
    unsigned max = a.family == 4 ? 32 : 128;
    unsigned long len = max;
    if (slash != NULL) {
        const char *p = slash + 1;
        char *end;
        if (*p < '0' || *p > '9' || strlen(p) > 3) {
            *reason =
                a.family == 4 ? "prefix length must be 0..32" : "prefix length must be 0..128";
            return false;
        }
        errno = 0;
        len = strtoul(p, &end, 10);
        if (errno != 0 || *end != '\0' || len > max) {
            *reason =
                a.family == 4 ? "prefix length must be 0..32" : "prefix length must be 0..128";
            return false;
        }
    }
    memcpy(net, a.b, 16);
    *prefix = (uint8_t)(a.family == 4 ? len + 96 : len);
    mask(net, *prefix);
    return true;
}

static int add_entry(ward_intel_builder_t *b, const uint8_t net[16], uint8_t prefix,
                     const char *value, size_t vlen, uint32_t source)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        entry_t *e = realloc(b->e, cap * sizeof *e);
        if (e == NULL)
            return -1;
        b->e = e;
        b->cap = cap;
    }
    uint32_t v = arena_add(b, value, vlen);
    if (v == UINT32_MAX || b->n >= UINT32_MAX)
        return -1;
    entry_t *e = &b->e[b->n];
    memcpy(e->net, net, 16);
    e->prefix = prefix;
    e->value = v;
    e->source = source;
    e->order = (uint32_t)b->n;
    b->n++;
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

long ward_intel_builder_add_buffer(ward_intel_builder_t *b, const char *source, const char *data,
                                   size_t len, size_t *bad)
{
    size_t nbad = 0;
    long added = 0;
    uint32_t src = arena_add(b, source, strlen(source));
    if (src == UINT32_MAX)
        return -1;
    size_t pos = 0;
    unsigned long line = 0;
    /* A UTF-8 byte order mark before the first line is not part of it. */
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len) {
        line++;
        const char *start = data + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - start) : len - pos;
        pos += llen + (nl ? 1 : 0);

        /* The content is what comes before '#', without surrounding white space. */
        const char *hash = memchr(start, '#', llen);
        size_t clen = hash ? (size_t)(hash - start) : llen;
        while (clen > 0 && is_space(start[clen - 1]))
            clen--;
        size_t skip = 0;
        while (skip < clen && is_space(start[skip]))
            skip++;
        const char *tok = start + skip;
        size_t tlen = clen - skip;
        if (tlen == 0)
            continue;

        const char *reason = NULL;
        char buf[TOKEN_MAX + 8];
        uint8_t net[16], prefix;
        if (memchr(tok, '\0', tlen) != NULL)
            reason = "contains a NUL byte";
        else if (tlen >= sizeof buf)
            reason = "not an IPv4 or IPv6 address";
        for (size_t i = 0; reason == NULL && i < tlen; i++)
            if (is_space(tok[i]))
                reason = "more than one value on the line";
        if (reason == NULL) {
            memcpy(buf, tok, tlen);
            buf[tlen] = '\0';
            if (parse_token(buf, net, &prefix, &reason)) {
                if (add_entry(b, net, prefix, tok, tlen, src) != 0)
                    return -1;
                added++;
                continue;
            }
        }
        nbad++;
        b->on_error(b->ctx, source, line, reason);
    }
    if (bad != NULL)
        *bad = nbad;
    return added;
}

long ward_intel_builder_add_file(ward_intel_builder_t *b, const char *path, size_t *bad, char *err,
                                 size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_len, "cannot read intel file %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *n = realloc(buf, cap);
            if (n == NULL) {
                free(buf);
                fclose(f);
                snprintf(err, err_len, "cannot read intel file %s: out of memory", path);
                return -1;
            }
            buf = n;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        if (got == 0)
            break;
        len += got;
    }
    bool failed = ferror(f) != 0;
    int saved = errno;
    fclose(f);
    if (failed) {
        free(buf);
        snprintf(err, err_len, "cannot read intel file %s: %s", path, strerror(saved));
        return -1;
    }
    long r = ward_intel_builder_add_buffer(b, path, buf, len, bad);
    free(buf);
    if (r < 0)
        snprintf(err, err_len, "cannot load intel file %s: out of memory", path);
    return r;
}

static int cmp_entry(const void *pa, const void *pb)
{
    const entry_t *a = pa, *b = pb;
    if (a->prefix != b->prefix)
        return a->prefix > b->prefix ? -1 : 1;
    int c = memcmp(a->net, b->net, 16);
    if (c != 0)
        return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

ward_intel_t *ward_intel_build(ward_intel_builder_t *b)
{
    if (b == NULL)
        return NULL;
    ward_intel_t *idx = calloc(1, sizeof *idx);
    if (idx == NULL) {
        ward_intel_builder_free(b);
        return NULL;
    }
    if (b->n > 1)
        qsort(b->e, b->n, sizeof *b->e, cmp_entry);
    /* The same network listed twice by one source is one indicator: keep the first. */
    size_t out = 0;
    for (size_t i = 0; i < b->n; i++) {
        bool dup = false;
        for (size_t j = out; j > 0; j--) {
            const entry_t *p = &b->e[j - 1];
            if (p->prefix != b->e[i].prefix || memcmp(p->net, b->e[i].net, 16) != 0)
                break;
            if (p->source == b->e[i].source ||
                strcmp(b->arena + p->source, b->arena + b->e[i].source) == 0) {
                dup = true;
                break;
            }
        }
        if (!dup)
            b->e[out++] = b->e[i];
    }
    idx->e = b->e;
    idx->n = out;
    idx->arena = b->arena;
    for (size_t i = 0; i < out; i++)
        if (idx->n_lens == 0 || idx->lens[idx->n_lens - 1] != idx->e[i].prefix) {
            idx->start[idx->n_lens] = i;
            idx->lens[idx->n_lens++] = idx->e[i].prefix;
        }
    free(b);
    return idx;
}

size_t ward_intel_size(const ward_intel_t *idx)
{
    return idx ? idx->n : 0;
}

size_t ward_intel_lookup(const ward_intel_t *idx, const ward_addr_t *addr, ward_intel_match_t *out,
                         size_t max)
{
    size_t found = 0;
    if (idx == NULL || idx->n == 0)
        return 0;
    for (size_t l = 0; l < idx->n_lens && found < max; l++) {
        uint8_t prefix = idx->lens[l];
        size_t lo = idx->start[l], hi = l + 1 < idx->n_lens ? idx->start[l + 1] : idx->n;
        uint8_t key[16];
        memcpy(key, addr->b, 16);
        mask(key, prefix);
        size_t a = lo, b = hi;
        while (a < b) { /* first entry with net >= key */
            size_t m = a + (b - a) / 2;
            if (memcmp(idx->e[m].net, key, 16) < 0)
                a = m + 1;
            else
                b = m;
        }
        for (size_t i = a; i < hi && found < max && memcmp(idx->e[i].net, key, 16) == 0; i++) {
            out[found].value = idx->arena + idx->e[i].value;
            out[found].source = idx->arena + idx->e[i].source;
            out[found].prefix = prefix;
            found++;
        }
    }
    return found;
}

void ward_intel_free(ward_intel_t *idx)
{
    if (idx == NULL)
        return;
    free(idx->e);
    free(idx->arena);
    free(idx);
}
