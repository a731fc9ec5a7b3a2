/*
 * Test helper: see report_build.h.
 */
#include "report_build.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

cbor_item_t *tb_uint(uint64_t v)
{
    /* Shortest encoding, as the protocol asks. */
    if (v <= UINT8_MAX)
        return cbor_build_uint8((uint8_t)v);
    if (v <= UINT16_MAX)
        return cbor_build_uint16((uint16_t)v);
    if (v <= UINT32_MAX)
        return cbor_build_uint32((uint32_t)v);
    return cbor_build_uint64(v);
}

cbor_item_t *tb_text(const char *s)
{
    return cbor_build_string(s);
}

cbor_item_t *tb_addr(const char *text)
{
    uint8_t b[16];
    if (inet_pton(AF_INET, text, b) == 1)
        return cbor_build_bytestring(b, 4);
    if (inet_pton(AF_INET6, text, b) == 1)
        return cbor_build_bytestring(b, 16);
    abort();
}

cbor_item_t *tb_uints(size_t n, ...)
{
    va_list ap;
    cbor_item_t *a = cbor_new_definite_array(n);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        cbor_array_push(a, cbor_move(tb_uint(va_arg(ap, uint64_t))));
    va_end(ap);
    return a;
}

cbor_item_t *tb_flow(unsigned proto, unsigned flags, unsigned local, unsigned lport,
                     const char *remote, unsigned rport, uint64_t pkts_out, uint64_t pkts_in,
                     uint64_t bytes_out, uint64_t bytes_in, unsigned first, unsigned last,
                     long tcp_flags)
{
    cbor_item_t *a = cbor_new_definite_array(tcp_flags >= 0 ? 13 : 12);
    cbor_array_push(a, cbor_move(tb_uint(proto)));
    cbor_array_push(a, cbor_move(tb_uint(flags)));
    cbor_array_push(a, cbor_move(tb_uint(local)));
    cbor_array_push(a, cbor_move(tb_uint(lport)));
    cbor_array_push(a, cbor_move(tb_addr(remote)));
    cbor_array_push(a, cbor_move(tb_uint(rport)));
    cbor_array_push(a, cbor_move(tb_uint(pkts_out)));
    cbor_array_push(a, cbor_move(tb_uint(pkts_in)));
    cbor_array_push(a, cbor_move(tb_uint(bytes_out)));
    cbor_array_push(a, cbor_move(tb_uint(bytes_in)));
    cbor_array_push(a, cbor_move(tb_uint(first)));
    cbor_array_push(a, cbor_move(tb_uint(last)));
    if (tcp_flags >= 0)
        cbor_array_push(a, cbor_move(tb_uint((uint64_t)tcp_flags)));
    return a;
}

void tb_add_pair(tb_report_t *r, cbor_item_t *key, cbor_item_t *value)
{
    if (r->n == TB_MAX_PAIRS)
        abort();
    r->key[r->n] = key;
    r->val[r->n] = value;
    r->n++;
}

void tb_del(tb_report_t *r, uint64_t key)
{
    for (size_t i = 0; i < r->n; i++) {
        if (cbor_isa_uint(r->key[i]) && cbor_get_int(r->key[i]) == key) {
            cbor_decref(&r->key[i]);
            cbor_decref(&r->val[i]);
            memmove(&r->key[i], &r->key[i + 1], (r->n - i - 1) * sizeof r->key[0]);
            memmove(&r->val[i], &r->val[i + 1], (r->n - i - 1) * sizeof r->val[0]);
            r->n--;
            i--;
        }
    }
    if (key == 16)
        r->with_flows = 0;
}

void tb_set(tb_report_t *r, uint64_t key, cbor_item_t *value)
{
    if (key == 16)
        r->with_flows = 0; /* the caller's item replaces the built flows array */
    for (size_t i = 0; i < r->n; i++) {
        if (cbor_isa_uint(r->key[i]) && cbor_get_int(r->key[i]) == key) {
            cbor_decref(&r->val[i]);
            r->val[i] = value;
            return;
        }
    }
    tb_add_pair(r, tb_uint(key), value);
}

void tb_add_flow(tb_report_t *r, cbor_item_t *flow)
{
    if (r->n_flows == TB_MAX_FLOWS)
        abort();
    r->flows[r->n_flows++] = flow;
}

void tb_init(tb_report_t *r, const char *device, uint64_t seq)
{
    memset(r, 0, sizeof *r);
    tb_set(r, 0, tb_uints(2, (uint64_t)1, (uint64_t)0));
    tb_set(r, 1, tb_text(device));
    tb_set(r, 2, tb_text("1.2.3"));
    tb_set(r, 3, tb_uint(0xb007));
    tb_set(r, 4, tb_uint(seq));
    tb_set(r, 5, tb_uint(1700000000000ull));
    tb_set(r, 6, tb_uint(1700000060000ull));
    cbor_item_t *local = cbor_new_definite_array(2);
    cbor_array_push(local, cbor_move(tb_addr("10.0.0.2")));
    cbor_array_push(local, cbor_move(tb_addr("2001:db8::2")));
    tb_set(r, 18, local);
    r->with_flows = 1;
}

void tb_free(tb_report_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        cbor_decref(&r->key[i]);
        cbor_decref(&r->val[i]);
    }
    for (size_t i = 0; i < r->n_flows; i++)
        cbor_decref(&r->flows[i]);
    memset(r, 0, sizeof *r);
}

uint8_t *tb_encode(tb_report_t *r, size_t *len)
{
    int flows = r->with_flows || r->n_flows > 0;
    cbor_item_t *map = cbor_new_definite_map(r->n + (size_t)flows);
    for (size_t i = 0; i < r->n; i++)
        cbor_map_add(map, (struct cbor_pair){.key = r->key[i], .value = r->val[i]});
    if (flows) {
        cbor_item_t *arr = cbor_new_definite_array(r->n_flows);
        for (size_t i = 0; i < r->n_flows; i++)
            cbor_array_push(arr, r->flows[i]);
        cbor_map_add(map,
                     (struct cbor_pair){.key = cbor_move(tb_uint(16)), .value = cbor_move(arr)});
    }
    /* The map and array now hold references too; drop ours. */
    tb_free(r);
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = cbor_serialize_alloc(map, &buf, &cap);
    cbor_decref(&map);
    return buf;
}

void tb_tmpdir(char *out)
{
    snprintf(out, 64, "/tmp/ward-test-XXXXXX");
    if (mkdtemp(out) == NULL)
        abort();
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tb_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
