/*
 * Test helper: build ward v1 reports with libcbor, key by key, so that a test can add, replace or
 * remove any key, or put any item anywhere, and get the exact bytes wardd would receive.
 * Independent of the agent's encoder on purpose.
 */
#ifndef WARD_TEST_REPORT_BUILD_H
#define WARD_TEST_REPORT_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#define TB_MAX_PAIRS 48
#define TB_MAX_FLOWS 64

typedef struct tb_report {
    cbor_item_t *key[TB_MAX_PAIRS];
    cbor_item_t *val[TB_MAX_PAIRS];
    size_t n;
    cbor_item_t *flows[TB_MAX_FLOWS];
    size_t n_flows;
    int with_flows; /* write key 16 even when there are no flows */
} tb_report_t;

/* All required keys (version [1,0], device, agent "1.2.3", boot 0xb007, seq, period
 * 1700000000000 .. +60000 ms), local_addrs [10.0.0.2, 2001:db8::2], and an empty flows array. */
void tb_init(tb_report_t *r, const char *device, uint64_t seq);

/* Replace key (or add it). Takes ownership of value. */
void tb_set(tb_report_t *r, uint64_t key, cbor_item_t *value);
/* Add a pair with any key item, even a duplicate. Takes ownership of both. */
void tb_add_pair(tb_report_t *r, cbor_item_t *key, cbor_item_t *value);
void tb_del(tb_report_t *r, uint64_t key);
/* Append a flow item to key 16. Takes ownership. */
void tb_add_flow(tb_report_t *r, cbor_item_t *flow);

/* Encode and free everything in r. Returns malloc'd bytes (free()). */
uint8_t *tb_encode(tb_report_t *r, size_t *len);
/* Free without encoding. */
void tb_free(tb_report_t *r);

/* Items. */
cbor_item_t *tb_uint(uint64_t v);
cbor_item_t *tb_text(const char *s);
cbor_item_t *tb_addr(const char *text); /* bstr of 4 or 16 bytes */
cbor_item_t *tb_uints(size_t n, ...);   /* array of n uints (pass uint64_t values) */
/* A flow with all 12 required positions (and tcp_flags when tcp_flags >= 0). */
cbor_item_t *tb_flow(unsigned proto, unsigned flags, unsigned local, unsigned lport,
                     const char *remote, unsigned rport, uint64_t pkts_out, uint64_t pkts_in,
                     uint64_t bytes_out, uint64_t bytes_in, unsigned first, unsigned last,
                     long tcp_flags);

/* A fresh temporary folder (out: 64 bytes), and its removal with everything in it. */
void tb_tmpdir(char *out);
void tb_rmtree(const char *dir);

#endif
