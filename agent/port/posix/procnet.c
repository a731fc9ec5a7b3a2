/*
 * Listening sockets from /proc/net (see procnet.h). Owns nothing but the caller's parser state;
 * used by ward-agent's main thread only. Every read is bounded by the length the caller gave.
 */
#include "procnet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TCP_LISTEN_STATE 0x0A
#define READ_CHUNK 4096

/* ---- one line ------------------------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Exactly n hex digits at s[*i], into *v (n <= 8). */
static int hex_fixed(const char *s, size_t len, size_t *i, size_t n, uint32_t *v)
{
    size_t k;

    if (len - *i < n) {
        return -1;
    }
    *v = 0;
    for (k = 0; k < n; k++) {
        int d = hexval(s[*i + k]);
        if (d < 0) {
            return -1;
        }
        *v = (*v << 4) | (uint32_t)d;
    }
    *i += n;
    return 0;
}

static void skip_spaces(const char *s, size_t len, size_t *i)
{
    while (*i < len && (s[*i] == ' ' || s[*i] == '\t')) {
        (*i)++;
    }
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;

    memcpy(&b, &one, 1);
    return b == 1;
}

/* "ADDR:PORT": ADDR is 1 (IPv4) or 4 (IPv6) words of 8 hex digits, each the value of a 32-bit word
 * as the kernel held it; a little-endian kernel holds network byte order reversed in each word. */
static int endpoint(const char *s, size_t len, size_t *i, int family, int little, uint8_t addr[16],
                    uint16_t *port)
{
    size_t words = family == 4 ? 1 : 4;
    size_t w;
    uint32_t v;

    memset(addr, 0, 16);
    for (w = 0; w < words; w++) {
        if (hex_fixed(s, len, i, 8, &v) != 0) {
            return -1;
        }
        if (little) {
            addr[w * 4 + 0] = (uint8_t)v;
            addr[w * 4 + 1] = (uint8_t)(v >> 8);
            addr[w * 4 + 2] = (uint8_t)(v >> 16);
            addr[w * 4 + 3] = (uint8_t)(v >> 24);
        } else {
            addr[w * 4 + 0] = (uint8_t)(v >> 24);
            addr[w * 4 + 1] = (uint8_t)(v >> 16);
            addr[w * 4 + 2] = (uint8_t)(v >> 8);
            addr[w * 4 + 3] = (uint8_t)v;
        }
    }
    if (*i >= len || s[*i] != ':') {
        return -1;
    }
    (*i)++;
    if (hex_fixed(s, len, i, 4, &v) != 0) {
        return -1;
    }
    *port = (uint16_t)v;
    return 0;
}

static int all_zero(const uint8_t *a, size_t n)
{
    size_t k;

    for (k = 0; k < n; k++) {
        if (a[k] != 0) {
            return 0;
        }
    }
    return 1;
}

int ward_posix_procnet_line(const char *s, size_t len, int proto, int family, int order,
                            ward_posix_listen_t *out)
{
    uint8_t local[16];
    uint8_t remote[16];
    uint16_t lport;
    uint16_t rport;
    uint32_t state;
    size_t i = 0;
    size_t digits = 0;
    int little;

    if (s == NULL || out == NULL || (proto != 6 && proto != 17) || (family != 4 && family != 6)) {
        return -1;
    }
    little = order == WARD_PROCNET_LITTLE_ENDIAN ||
             (order == WARD_PROCNET_HOST_ORDER && host_is_little_endian());
    skip_spaces(s, len, &i);
    if (i == len) {
        return 0; /* blank */
    }
    /* The header: "  sl  local_address rem_address   st ..." */
    if (len - i >= 3 && s[i] == 's' && s[i + 1] == 'l' && (s[i + 2] == ' ' || s[i + 2] == '\t')) {
        return 2;
    }
    /* "sl:" a decimal slot number and a colon */
    while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 10) {
        i++;
        digits++;
    }
    if (digits == 0 || i >= len || s[i] != ':') {
        return -1;
    }
    i++;
    skip_spaces(s, len, &i);
    if (endpoint(s, len, &i, family, little, local, &lport) != 0 || i >= len || s[i] != ' ') {
        return -1;
    }
    skip_spaces(s, len, &i);
    if (endpoint(s, len, &i, family, little, remote, &rport) != 0 || i >= len || s[i] != ' ') {
        return -1;
    }
    skip_spaces(s, len, &i);
    if (hex_fixed(s, len, &i, 2, &state) != 0 || (i < len && s[i] != ' ' && s[i] != '\t')) {
        return -1;
    }
    /* The rest (queues, timers, uid, inode, ...) is not needed, and not checked. */
    if (lport == 0) {
        return 0; /* not bound to a port: nothing can reach it */
    }
    if (proto == 6 ? state != TCP_LISTEN_STATE
                   : !(rport == 0 && all_zero(remote, family == 4 ? 4 : 16))) {
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->proto = (uint8_t)proto;
    out->family = (uint8_t)family;
    out->port = lport;
    memcpy(out->addr, local, family == 4 ? 4 : 16);
    return 1;
}

/* ---- files --------------------------------------------------------------------------------- */

void ward_posix_procnet_begin(ward_posix_procnet_t *p, ward_posix_listen_t *out, size_t cap)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->cap = out != NULL ? cap : 0;
    p->proto = 6;
    p->family = 4;
}

int ward_posix_procnet_next_file(ward_posix_procnet_t *p, int proto, int family, int order)
{
    if ((proto != 6 && proto != 17) || (family != 4 && family != 6) || order < 0 ||
        order > WARD_PROCNET_BIG_ENDIAN) {
        return -1;
    }
    p->proto = (uint8_t)proto;
    p->family = (uint8_t)family;
    p->order = (uint8_t)order;
    p->len = 0;
    p->overlong = 0;
    return 0;
}

static void add_entry(ward_posix_procnet_t *p, const ward_posix_listen_t *e)
{
    size_t k;

    /* The same (protocol, address, port) can be listed several times (SO_REUSEPORT). */
    for (k = 0; k < p->n; k++) {
        const ward_posix_listen_t *o = &p->out[k];
        if (o->proto == e->proto && o->family == e->family && o->port == e->port &&
            memcmp(o->addr, e->addr, sizeof o->addr) == 0) {
            return;
        }
    }
    if (p->n >= p->cap) {
        p->full++;
        return;
    }
    p->out[p->n++] = *e;
}

static void finish_line(ward_posix_procnet_t *p)
{
    ward_posix_listen_t e;
    int r;

    if (p->overlong) {
        p->lines++;
        p->malformed++;
    } else if (p->len > 0) {
        p->lines++;
        /* A NUL byte inside a line is not something the kernel writes. */
        r = memchr(p->line, '\0', p->len) != NULL
                ? -1
                : ward_posix_procnet_line(p->line, p->len, p->proto, p->family, p->order, &e);
        if (r < 0) {
            p->malformed++;
        } else if (r == 1) {
            add_entry(p, &e);
        }
    }
    p->len = 0;
    p->overlong = 0;
}

void ward_posix_procnet_feed(ward_posix_procnet_t *p, const char *buf, size_t len)
{
    size_t i = 0;

    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl != NULL ? (size_t)(nl - (buf + i)) : len - i;

        if (!p->overlong) {
            if (n > sizeof p->line - p->len) {
                p->overlong = 1;
            } else {
                memcpy(p->line + p->len, buf + i, n);
                p->len += n;
            }
        }
        i += n;
        if (nl != NULL) {
            finish_line(p);
            i++;
        }
    }
}

void ward_posix_procnet_end_file(ward_posix_procnet_t *p)
{
    finish_line(p);
}

int ward_posix_procnet_read(const char *root, int order, ward_posix_procnet_t *p,
                            ward_posix_listen_t *out, size_t cap)
{
    static const struct {
        const char *name;
        int proto;
        int family;
    } files[] = {{"tcp", 6, 4}, {"tcp6", 6, 6}, {"udp", 17, 4}, {"udp6", 17, 6}};
    char path[4096];
    char buf[READ_CHUNK];
    size_t f;
    int opened = 0;

    ward_posix_procnet_begin(p, out, cap);
    for (f = 0; f < sizeof files / sizeof files[0]; f++) {
        ssize_t got;
        int fd;
        int n = snprintf(path, sizeof path, "%s/%s", root, files[f].name);

        if (n < 0 || (size_t)n >= sizeof path) {
            return -1;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue; /* tcp6/udp6 are absent when the kernel has no IPv6 */
        }
        opened++;
        ward_posix_procnet_next_file(p, files[f].proto, files[f].family, order);
        for (;;) {
            got = read(fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR) {
                continue;
            }
            if (got <= 0) {
                break; /* a read error ends the file: what was read so far stands */
            }
            ward_posix_procnet_feed(p, buf, (size_t)got);
        }
        ward_posix_procnet_end_file(p);
        close(fd);
    }
    return opened > 0 ? (int)p->n : -1;
}
