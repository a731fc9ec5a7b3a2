/*
 * Listening sockets from Linux's /proc/net/{tcp,tcp6,udp,udp6}.
 *
 * These files are text the kernel writes, but ward-agent treats them as untrusted input all the
 * same (another kernel version, a container runtime's fake /proc, a truncated read): the parser is
 * a bounded state machine over caller-given chunks, never reads past what it was given, never
 * allocates, and counts every line it cannot understand instead of guessing.
 *
 * What counts as listening:
 *  - TCP: state 0A (TCP_LISTEN);
 *  - UDP: a socket bound to a local port with no remote peer (remote address all zero, remote
 *    port 0): it receives from anyone. A connect()ed UDP socket is a client, not a service.
 *
 * Address format: the kernel prints each 32-bit word of the address with %08X as the machine holds
 * it in memory (so on a little-endian host 127.0.0.1 reads "0100007F"); ports are %04X of the port
 * number. The word order is a parameter so that captures from another host can be parsed (tests).
 */
#ifndef WARD_POSIX_PROCNET_H
#define WARD_POSIX_PROCNET_H

#include <stddef.h>
#include <stdint.h>

/** Longest line the parser accepts; longer lines are counted as malformed and skipped. */
#define WARD_PROCNET_LINE_MAX 512

/** How the kernel wrote each 32-bit address word. */
enum ward_procnet_order {
    WARD_PROCNET_HOST_ORDER = 0,    /**< this machine's byte order (reading the live /proc) */
    WARD_PROCNET_LITTLE_ENDIAN = 1, /**< written by a little-endian kernel (x86, most ARM) */
    WARD_PROCNET_BIG_ENDIAN = 2     /**< written by a big-endian kernel */
};

/** One listening socket. */
typedef struct ward_posix_listen {
    uint8_t proto;    /**< 6 TCP or 17 UDP */
    uint8_t family;   /**< 4 or 6 */
    uint16_t port;    /**< host byte order, never 0 */
    uint8_t addr[16]; /**< network byte order; IPv4 in the first 4 bytes; all zero = any */
} ward_posix_listen_t;

/** The parser's state: fill with ward_posix_procnet_begin(). Fields are read-only for callers. */
typedef struct ward_posix_procnet {
    /* The result, shared across files: begin() once, then next_file() per file. */
    ward_posix_listen_t *out;
    size_t cap;
    size_t n;                /**< entries in out (distinct (proto, address, port)) */
    unsigned long lines;     /**< lines seen, header lines included */
    unsigned long malformed; /**< lines that are neither a header nor a well-formed entry */
    unsigned long full;      /**< listening sockets left out because out was full */

    /* The current file. */
    uint8_t proto;
    uint8_t family;
    uint8_t order;
    size_t len;   /* bytes in line */
    int overlong; /* the current line passed WARD_PROCNET_LINE_MAX: skip to its end */
    char line[WARD_PROCNET_LINE_MAX];
} ward_posix_procnet_t;

/** Start a result into out (cap entries). */
void ward_posix_procnet_begin(ward_posix_procnet_t *p, ward_posix_listen_t *out, size_t cap);

/**
 * Start one file's text.
 * @param proto  6 (a tcp file) or 17 (a udp file)
 * @param family 4 (tcp, udp) or 6 (tcp6, udp6)
 * @param order  enum ward_procnet_order
 * @return 0, or -1 when proto, family or order is not one of those (nothing changes)
 */
int ward_posix_procnet_next_file(ward_posix_procnet_t *p, int proto, int family, int order);

/** Feed the next len bytes of the file (any chunking; NUL bytes make a line malformed). */
void ward_posix_procnet_feed(ward_posix_procnet_t *p, const char *buf, size_t len);

/** End of the file: parse a last line that has no newline. */
void ward_posix_procnet_end_file(ward_posix_procnet_t *p);

/**
 * Parse one line (without its newline).
 * @return 1 a listening socket (in *out), 0 a well-formed entry that is not listening, 2 the
 *         header line, -1 malformed
 */
int ward_posix_procnet_line(const char *line, size_t len, int proto, int family, int order,
                            ward_posix_listen_t *out);

/**
 * Read the live /proc/net/{tcp,tcp6,udp,udp6} (a missing file, such as tcp6 without IPv6, is
 * skipped) under root (normally "/proc/net"; a test may give a folder of sample files).
 * @return the number of listening sockets in out (at most cap), or -1 when no file could be read
 */
int ward_posix_procnet_read(const char *root, int order, ward_posix_procnet_t *p,
                            ward_posix_listen_t *out, size_t cap);

#endif /* WARD_POSIX_PROCNET_H */
