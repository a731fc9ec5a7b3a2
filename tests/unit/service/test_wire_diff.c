/*
 * wire_diff: ward_wire_decode against the decoder it replaced (wire_ref.c, libcbor's tree), on
 * many inputs: both must give the same status, the same reason text and the same report.
 *
 *   test_service_wire_diff [--long] [file or folder ...]
 *
 * The inputs:
 *  - every file named (the fuzz corpus, tests/fuzz/corpus/report, in the CTest test), and reports
 *    built with report_build.c that use every key of the protocol;
 *  - each of those mutated: every prefix, every byte replaced by each of a set of values that
 *    start interesting items (and by its neighbours), every byte deleted, a few bytes inserted
 *    at every position;
 *  - every 1- and 2-byte sequence as the value of a key (an unknown one, and with --long each
 *    known key too), at the end of the report map and at its start; with --long also every
 *    3-byte sequence as the value of an unknown key.
 * Prints the number of inputs compared and every difference (at most 20); fails on any.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report_build.h"
#include "wire_ref.h"

static unsigned long g_compared, g_differ;

static void compare(const uint8_t *buf, size_t len, const char *what)
{
    char diff[768];
    /* An exact-size copy, so that ASan sees any read past the end. */
    uint8_t *p = malloc(len ? len : 1);
    if (p == NULL)
        abort();
    if (len > 0)
        memcpy(p, buf, len);
    g_compared++;
    if (!wire_ref_same(p, len, diff, sizeof diff)) {
        if (++g_differ <= 20) {
            printf("DIFFERENT: %s (%zu bytes:", what, len);
            for (size_t i = 0; i < len && i < 48; i++)
                printf(" %02x", buf[i]);
            printf("%s): %s\n", len > 48 ? " ..." : "", diff);
        }
    }
    free(p);
}

/* The input and its mutations. */
static void mutate(const uint8_t *buf, size_t len, const char *name)
{
    static const uint8_t vals[] = {0x00, 0x01, 0x17, 0x18, 0x19, 0x1b, 0x1c, 0x1f, 0x20, 0x38,
                                   0x3b, 0x40, 0x44, 0x50, 0x5b, 0x5f, 0x60, 0x61, 0x7b, 0x7f,
                                   0x80, 0x81, 0x8c, 0x98, 0x9b, 0x9f, 0xa0, 0xa1, 0xbb, 0xbf,
                                   0xc0, 0xc6, 0xd5, 0xd8, 0xdb, 0xe0, 0xf4, 0xf5, 0xf6, 0xf7,
                                   0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xff, 0xc3, 0xed, 0xf0};
    uint8_t *m = malloc(len + 2);
    if (m == NULL)
        abort();
    compare(buf, len, name);
    for (size_t n = 0; n < len; n++)
        compare(buf, n, name);
    for (size_t i = 0; i < len; i++) {
        memcpy(m, buf, len);
        for (size_t v = 0; v < sizeof vals; v++) {
            m[i] = vals[v];
            compare(m, len, name);
        }
        m[i] = (uint8_t)(buf[i] + 1);
        compare(m, len, name);
        m[i] = (uint8_t)(buf[i] - 1);
        compare(m, len, name);
        /* deleted */
        memcpy(m, buf, i);
        memcpy(m + i, buf + i + 1, len - i - 1);
        compare(m, len - 1, name);
        /* inserted */
        static const uint8_t ins[] = {0x00, 0x80, 0xa0, 0x9f, 0xbf, 0xff, 0x5f, 0x7f, 0xc1};
        for (size_t v = 0; v < sizeof ins; v++) {
            memcpy(m, buf, i);
            m[i] = ins[v];
            memcpy(m + i + 1, buf + i, len - i);
            compare(m, len + 1, name);
        }
    }
    free(m);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = malloc(WARD_WIRE_REPORT_MAX + 2);
    *len = buf ? fread(buf, 1, WARD_WIRE_REPORT_MAX + 2, f) : 0;
    fclose(f);
    return buf;
}

static int files(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "wire_diff: no such file or folder: %s\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        size_t len;
        uint8_t *buf = read_file(path, &len);
        if (buf == NULL)
            return 1;
        if (len <= 4096)
            mutate(buf, len, path);
        else
            compare(buf, len, path);
        free(buf);
        return 0;
    }
    DIR *d = opendir(path);
    if (d == NULL)
        return 1;
    int failed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        failed |= files(p);
    }
    closedir(d);
    return failed;
}

/* ---- Reports built key by key ---------------------------------------------------------------- */

static cbor_item_t *map_of(size_t n, const uint64_t *keys, cbor_item_t **vals)
{
    cbor_item_t *m = cbor_new_definite_map(n);
    for (size_t i = 0; i < n; i++)
        cbor_map_add(m, (struct cbor_pair){cbor_move(tb_uint(keys[i])), cbor_move(vals[i])});
    return m;
}

static cbor_item_t *array_of(size_t n, cbor_item_t **items)
{
    cbor_item_t *a = cbor_new_definite_array(n);
    for (size_t i = 0; i < n; i++)
        cbor_array_push(a, cbor_move(items[i]));
    return a;
}

/* Every key of the protocol, every section with two entries. */
static void full_report(tb_report_t *r)
{
    tb_init(r, "sensor-01", 42);
    tb_set(r, 7, tb_uints(2, (uint64_t)0, (uint64_t)2));
    tb_set(r, 8, tb_uint(1));
    tb_set(r, 9, tb_uint(60));
    tb_set(r, 10, tb_uint(7));
    tb_set(r, 11, cbor_build_bool(true));
    tb_add_flow(r, tb_flow(6, 1, 0, 40000, "203.0.113.7", 443, 10, 8, 1200, 900, 0, 5, 0x1202));
    tb_add_flow(r, tb_flow(17, 2, 1, 5353, "2001:db8::1", 5353, 1, 0, 100, 0, 60, 60, -1));
    tb_set(r, 17,
           array_of(2, (cbor_item_t *[]){tb_uints(5, (uint64_t)6, (uint64_t)1, (uint64_t)3,
                                                  (uint64_t)4, (uint64_t)500),
                                         tb_uints(5, (uint64_t)17, (uint64_t)2, (uint64_t)1,
                                                  (uint64_t)1, (uint64_t)70000)}));
    tb_set(r, 19,
           array_of(
               2, (cbor_item_t *[]){
                      array_of(3, (cbor_item_t *[]){tb_uint(6), tb_addr("0.0.0.0"), tb_uint(23)}),
                      array_of(3, (cbor_item_t *[]){tb_uint(17), tb_addr("::"), tb_uint(5683)})}));
    tb_set(r, 20,
           map_of(8, (const uint64_t[]){0, 1, 2, 3, 4, 5, 6, 99},
                  (cbor_item_t *[]){tb_text("FreeRTOS 11"), tb_text("fw 2.1"), tb_text("STM32"),
                                    tb_text("lwIP 2.2"), cbor_build_bool(true),
                                    cbor_build_bool(false), tb_uint(64), tb_text("later")}));
    tb_set(r, 21, map_of(2, (const uint64_t[]){0, 42}, (cbor_item_t *[]){tb_uint(12), tb_uint(1)}));
    cbor_item_t *met = cbor_new_definite_map(2);
    cbor_map_add(met,
                 (struct cbor_pair){cbor_move(tb_text("temp")), cbor_move(cbor_build_negint8(4))});
    cbor_map_add(met, (struct cbor_pair){cbor_move(tb_text("rssi")), cbor_move(tb_uint(70))});
    tb_set(r, 22, met);
    tb_set(r, 23, map_of(2, (const uint64_t[]){1, 5}, (cbor_item_t *[]){tb_uint(3), tb_uint(9)}));
    tb_set(
        r, 24,
        array_of(1, (cbor_item_t *[]){array_of(
                        10, (cbor_item_t *[]){tb_uint(1), tb_uint(1), tb_uint(6),
                                              tb_addr("198.51.100.9"), tb_uint(22), tb_uint(0),
                                              tb_uint(3), tb_uint(1), tb_uint(4), tb_uint(30)})}));
    tb_set(r, 25, array_of(3, (cbor_item_t *[]){tb_uint(7), tb_uint(0), tb_text("ok")}));
    tb_set(r, 99, tb_text("future key"));
}

static void built(void)
{
    tb_report_t r;
    size_t len;
    uint8_t *buf;

    full_report(&r);
    buf = tb_encode(&r, &len);
    mutate(buf, len, "full report");
    free(buf);

    tb_init(&r, "dev-1", 7);
    tb_del(&r, 16);
    tb_del(&r, 18);
    buf = tb_encode(&r, &len);
    mutate(buf, len, "minimal report");
    free(buf);

    /* Large numbers where the protocol allows them, and just past its limits. */
    tb_init(&r, "dev-1", INT64_MAX);
    tb_set(&r, 3, tb_uint(UINT32_MAX));
    tb_set(&r, 5, tb_uint((uint64_t)1 << 53));
    tb_set(&r, 6, tb_uint((uint64_t)1 << 53));
    tb_add_flow(&r, tb_flow(255, UINT32_MAX, 1, 65535, "192.0.2.1", 65535, INT64_MAX, INT64_MAX,
                            INT64_MAX, INT64_MAX, 0, 0, 0xffff));
    buf = tb_encode(&r, &len);
    mutate(buf, len, "large numbers");
    free(buf);

    tb_init(&r, "dev-1", (uint64_t)INT64_MAX + 1);
    tb_set(&r, 6, tb_uint(((uint64_t)1 << 53) + 1));
    buf = tb_encode(&r, &len);
    mutate(buf, len, "numbers past the limits");
    free(buf);
}

/* ---- Every short sequence as the value of a key ---------------------------------------------- */

typedef struct ctx {
    uint8_t *head; /* the report without the key: map head, pairs */
    size_t head_len;
    uint8_t key[4];
    size_t key_len;
} ctx_t;

/* A report with key (0xff: unknown key 99) removed, re-encoded so that one pair can be added. */
static void ctx_init(ctx_t *c, int key)
{
    tb_report_t r;
    size_t len;
    tb_init(&r, "dev-1", 1);
    if (key != 16)
        tb_add_flow(&r, tb_flow(6, 1, 0, 1, "192.0.2.1", 2, 1, 1, 1, 1, 0, 0, -1));
    if (key >= 0)
        tb_del(&r, (uint64_t)key);
    c->head = tb_encode(&r, &len);
    /* The map has fewer than 23 pairs: its head is one byte, 0xa0 + pairs. */
    if (len == 0 || c->head[0] < 0xa0 || c->head[0] >= 0xb7)
        abort();
    c->head[0]++;
    c->head_len = len;
    if (key < 0) {
        c->key[0] = 0x18;
        c->key[1] = 99;
        c->key_len = 2;
    } else {
        c->key[0] = (uint8_t)key; /* keys below 24 */
        c->key_len = 1;
    }
}

static void ctx_try(const ctx_t *c, const uint8_t *v, size_t n, const char *what)
{
    uint8_t buf[1024];
    size_t len = c->head_len + c->key_len + n;
    /* At the end of the map. */
    memcpy(buf, c->head, c->head_len);
    memcpy(buf + c->head_len, c->key, c->key_len);
    memcpy(buf + c->head_len + c->key_len, v, n);
    compare(buf, len, what);
    /* At its start: the rest of the report follows the value. */
    buf[0] = c->head[0];
    memcpy(buf + 1, c->key, c->key_len);
    memcpy(buf + 1 + c->key_len, v, n);
    memcpy(buf + 1 + c->key_len + n, c->head + 1, c->head_len - 1);
    compare(buf, len, what);
}

static void sequences(bool full)
{
    static const int keys[] = {-1, 0, 1, 2, 3, 7, 8, 9, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        ctx_t c;
        char what[64];
        ctx_init(&c, keys[k]);
        snprintf(what, sizeof what, "key %d: value of 1 or 2 bytes", keys[k]);
        for (unsigned a = 0; a < 256; a++) {
            uint8_t v[3] = {(uint8_t)a};
            ctx_try(&c, v, 1, what);
            if (keys[k] != -1 && !full)
                continue;
            for (unsigned b = 0; b < 256; b++) {
                v[1] = (uint8_t)b;
                ctx_try(&c, v, 2, what);
                if (keys[k] != -1 || !full)
                    continue;
                for (unsigned d = 0; d < 256; d++) {
                    v[2] = (uint8_t)d;
                    ctx_try(&c, v, 3, "key 99: value of 3 bytes");
                }
            }
        }
        free(c.head);
    }
    /* Whole inputs of 1 and 2 bytes, and with --long of 3. */
    for (unsigned a = 0; a < 256; a++) {
        uint8_t v[3] = {(uint8_t)a};
        compare(v, 1, "1 byte");
        for (unsigned b = 0; b < 256; b++) {
            v[1] = (uint8_t)b;
            compare(v, 2, "2 bytes");
            for (unsigned d = 0; full && d < 256; d++) {
                v[2] = (uint8_t)d;
                compare(v, 3, "3 bytes");
            }
        }
    }
}

int main(int argc, char **argv)
{
    bool full = false;
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--long") == 0)
            full = true;
        else
            failed |= files(argv[i]);
    }
    built();
    sequences(full);
    printf("wire_diff: %lu inputs compared, %lu differ\n", g_compared, g_differ);
    return failed || g_differ > 0 || g_compared == 0;
}
