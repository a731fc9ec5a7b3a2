/*
 * feed: the addresses of a threat feed, as far as wardsim needs them — a list to pick the intel
 * scenario's remotes from, and a membership test so that no other random remote (a spoofed flood
 * source, a sweep target, a scanner) lands on the feed by chance and raises an alert that the
 * scenario did not inject. Lenient on purpose: the first field of a line that parses as an
 * address or CIDR counts; wardd's own loaders are the strict ones.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

bool sim_addr_parse(const char *s, sim_addr_t *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, s, out->b) == 1) {
        out->fam = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, out->b) == 1) {
        out->fam = 6;
        return true;
    }
    return false;
}

void sim_addr_format(const sim_addr_t *a, char *buf, size_t len)
{
    if (inet_ntop(a->fam == 4 ? AF_INET : AF_INET6, a->b, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
}

bool sim_addr_equal(const sim_addr_t *a, const sim_addr_t *b)
{
    return a->fam == b->fam && memcmp(a->b, b->b, a->fam == 4 ? 4 : 16) == 0;
}

static uint32_t v4_u32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* "a.b.c.d", "a.b.c.d/n", "x::y/n" -> cidr. */
static bool parse_cidr(char *tok, sim_cidr_t *c)
{
    char *slash = strchr(tok, '/');
    long plen = -1;
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        errno = 0;
        plen = strtol(slash + 1, &end, 10);
        if (errno != 0 || end == slash + 1 || *end != '\0')
            return false;
    }
    if (!sim_addr_parse(tok, &c->a))
        return false;
    long max = c->a.fam == 4 ? 32 : 128;
    if (plen < 0)
        plen = max;
    if (plen > max)
        return false;
    c->plen = (uint8_t)plen;
    /* Clear host bits so that picking an address inside starts from the network. */
    for (int i = 0; i < (c->a.fam == 4 ? 4 : 16); i++) {
        int keep = (int)plen - i * 8;
        if (keep <= 0)
            c->a.b[i] = 0;
        else if (keep < 8)
            c->a.b[i] &= (uint8_t)(0xff << (8 - keep));
    }
    return true;
}

static int cmp_range(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int load_file(sim_feed_t *f, const char *path, char *err, size_t errlen);

int sim_feed_load(sim_feed_t *f, const char *path, char *err, size_t errlen)
{
    struct stat stbuf;
    if (stat(path, &stbuf) == 0 && S_ISDIR(stbuf.st_mode)) {
        /* A folder: every regular file in it, like wardd's --intel. */
        DIR *dir = opendir(path);
        if (dir == NULL) {
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
            return -1;
        }
        struct dirent *de;
        int rc = 0;
        while (rc == 0 && (de = readdir(dir)) != NULL) {
            char p[4096];
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            if (stat(p, &stbuf) == 0 && S_ISREG(stbuf.st_mode))
                rc = load_file(f, p, err, errlen);
        }
        closedir(dir);
        return rc;
    }
    return load_file(f, path, err, errlen);
}

static int load_file(sim_feed_t *f, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    while (fgets(line, sizeof line, fp) != NULL) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == ';' || *p == '\0' || *p == '\n')
            continue;
        char *save = NULL;
        for (char *tok = strtok_r(p, " \t\r\n,;|\"'[]=", &save); tok != NULL;
             tok = strtok_r(NULL, " \t\r\n,;|\"'[]=", &save)) {
            sim_cidr_t c;
            if (!parse_cidr(tok, &c))
                continue;
            if (f->n == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 64;
                sim_cidr_t *v = realloc(f->v, cap * sizeof *v);
                if (v == NULL) {
                    fclose(fp);
                    snprintf(err, errlen, "out of memory reading %s", path);
                    return -1;
                }
                f->v = v;
                f->cap = cap;
            }
            f->v[f->n++] = c;
            break;
        }
    }
    fclose(fp);
    /* IPv4 ranges, merged, for a binary-search membership test. */
    size_t n4 = 0;
    for (size_t i = 0; i < f->n; i++)
        n4 += f->v[i].a.fam == 4;
    free(f->r4);
    f->r4 = n4 ? calloc(n4, sizeof *f->r4) : NULL;
    f->n4 = 0;
    if (n4 > 0 && f->r4 == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (f->v[i].a.fam != 4)
            continue;
        uint32_t lo = v4_u32(f->v[i].a.b);
        uint32_t span = f->v[i].plen == 0 ? 0xffffffffu : (1u << (32 - f->v[i].plen)) - 1u;
        if (f->v[i].plen == 32)
            span = 0;
        f->r4[f->n4][0] = lo;
        f->r4[f->n4][1] = lo + span;
        f->n4++;
    }
    qsort(f->r4, f->n4, sizeof *f->r4, cmp_range);
    size_t w = 0;
    for (size_t i = 0; i < f->n4; i++) {
        if (w > 0 && f->r4[i][0] <= f->r4[w - 1][1] + 1ull) {
            if (f->r4[i][1] > f->r4[w - 1][1])
                f->r4[w - 1][1] = f->r4[i][1];
        } else {
            f->r4[w][0] = f->r4[i][0];
            f->r4[w][1] = f->r4[i][1];
            w++;
        }
    }
    f->n4 = w;
    return 0;
}

bool sim_feed_contains(const sim_feed_t *f, const sim_addr_t *a)
{
    if (f == NULL)
        return false;
    if (a->fam == 4) {
        uint32_t x = v4_u32(a->b);
        size_t lo = 0, hi = f->n4;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (x < f->r4[mid][0])
                hi = mid;
            else if (x > f->r4[mid][1])
                lo = mid + 1;
            else
                return true;
        }
        return false;
    }
    for (size_t i = 0; i < f->n; i++) {
        const sim_cidr_t *c = &f->v[i];
        if (c->a.fam != 6)
            continue;
        int bits = c->plen, k = 0;
        for (; bits >= 8; bits -= 8, k++)
            if (a->b[k] != c->a.b[k])
                break;
        if (bits >= 8)
            continue;
        if (bits == 0 || ((a->b[k] ^ c->a.b[k]) & (uint8_t)(0xff << (8 - bits))) == 0)
            return true;
    }
    return false;
}

void sim_feed_free(sim_feed_t *f)
{
    free(f->v);
    free(f->r4);
    memset(f, 0, sizeof *f);
}
