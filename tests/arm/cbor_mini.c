/* The libcbor stand-in for the Cortex-M test images: see include/cbor.h. */
#include "cbor.h"

#include <stdlib.h>
#include <string.h>

struct cbor_item_t {
    cbor_type type;
    uint64_t value;           /* uint, negint argument, tag number, simple value / float bits */
    size_t len;               /* bytes of a string, items of an array, pairs of a map */
    unsigned char *bytes;     /* strings */
    cbor_item_t **items;      /* array; a tag's item in items[0] */
    struct cbor_pair *pairs;  /* map */
};

enum { MAX_DEPTH = 64 };

struct reader {
    const unsigned char *p;
    size_t len, pos;
    cbor_error_code err;
};

static void item_free(cbor_item_t *it)
{
    size_t i;
    if (it == NULL) {
        return;
    }
    if (it->items != NULL) {
        for (i = 0; i < (it->type == CBOR_TYPE_TAG ? 1 : it->len); i++) {
            item_free(it->items[i]);
        }
    }
    if (it->pairs != NULL) {
        for (i = 0; i < it->len; i++) {
            item_free(it->pairs[i].key);
            item_free(it->pairs[i].value);
        }
    }
    free(it->bytes);
    free(it->items);
    free(it->pairs);
    free(it);
}

static int fail(struct reader *r, cbor_error_code code)
{
    if (r->err == CBOR_ERR_NONE) {
        r->err = code;
    }
    return 0;
}

/* A head: major type and argument. */
static int read_head(struct reader *r, unsigned *major, unsigned *ai, uint64_t *arg)
{
    size_t n, i;
    if (r->pos >= r->len) {
        return fail(r, CBOR_ERR_NOTENOUGHDATA);
    }
    *major = r->p[r->pos] >> 5;
    *ai = r->p[r->pos] & 31u;
    r->pos++;
    if (*ai < 24) {
        *arg = *ai;
        return 1;
    }
    if (*ai > 27) {
        return fail(r, CBOR_ERR_MALFORMATED); /* 28-30 reserved, 31 indefinite: not supported */
    }
    n = (size_t)1 << (*ai - 24);
    if (r->len - r->pos < n) {
        return fail(r, CBOR_ERR_NOTENOUGHDATA);
    }
    *arg = 0;
    for (i = 0; i < n; i++) {
        *arg = (*arg << 8) | r->p[r->pos + i];
    }
    r->pos += n;
    return 1;
}

static cbor_item_t *read_item(struct reader *r, int depth)
{
    unsigned major, ai;
    uint64_t arg, i;
    cbor_item_t *it;

    if (depth > MAX_DEPTH) {
        fail(r, CBOR_ERR_SYNTAXERROR);
        return NULL;
    }
    if (!read_head(r, &major, &ai, &arg)) {
        return NULL;
    }
    it = calloc(1, sizeof *it);
    if (it == NULL) {
        fail(r, CBOR_ERR_MEMERROR);
        return NULL;
    }
    it->type = (cbor_type)major;
    it->value = arg;
    switch (major) {
    case 0:
    case 1:
    case 7:
        break;
    case 2:
    case 3:
        if (arg > r->len - r->pos) {
            fail(r, CBOR_ERR_NOTENOUGHDATA);
            break;
        }
        it->len = (size_t)arg;
        it->bytes = malloc(it->len + 1);
        if (it->bytes == NULL) {
            fail(r, CBOR_ERR_MEMERROR);
            break;
        }
        memcpy(it->bytes, r->p + r->pos, it->len);
        it->bytes[it->len] = 0;
        r->pos += it->len;
        break;
    case 4:
        /* Every item takes at least one byte: a count past the input is truncated input. */
        if (arg > r->len - r->pos) {
            fail(r, CBOR_ERR_NOTENOUGHDATA);
            break;
        }
        it->items = calloc((size_t)arg + 1, sizeof *it->items);
        if (it->items == NULL) {
            fail(r, CBOR_ERR_MEMERROR);
            break;
        }
        for (i = 0; i < arg && r->err == CBOR_ERR_NONE; i++) {
            it->items[i] = read_item(r, depth + 1);
            it->len = (size_t)i + 1;
        }
        break;
    case 5:
        if (arg > (r->len - r->pos) / 2) {
            fail(r, CBOR_ERR_NOTENOUGHDATA);
            break;
        }
        it->pairs = calloc((size_t)arg + 1, sizeof *it->pairs);
        if (it->pairs == NULL) {
            fail(r, CBOR_ERR_MEMERROR);
            break;
        }
        for (i = 0; i < arg && r->err == CBOR_ERR_NONE; i++) {
            it->len = (size_t)i + 1;
            it->pairs[i].key = read_item(r, depth + 1);
            if (r->err == CBOR_ERR_NONE) {
                it->pairs[i].value = read_item(r, depth + 1);
            }
        }
        break;
    default: /* 6: tag */
        it->items = calloc(1, sizeof *it->items);
        if (it->items == NULL) {
            fail(r, CBOR_ERR_MEMERROR);
            break;
        }
        it->items[0] = read_item(r, depth + 1);
        break;
    }
    if (r->err != CBOR_ERR_NONE) {
        item_free(it);
        return NULL;
    }
    return it;
}

cbor_item_t *cbor_load(cbor_data source, size_t source_size, struct cbor_load_result *result)
{
    struct reader r = {source, source_size, 0, CBOR_ERR_NONE};
    cbor_item_t *it = NULL;
    if (source_size == 0) {
        r.err = CBOR_ERR_NODATA;
    } else {
        it = read_item(&r, 0);
    }
    result->error.code = r.err;
    result->error.position = r.pos;
    result->read = r.err == CBOR_ERR_NONE ? r.pos : 0;
    return it;
}

void cbor_decref(cbor_item_t **item)
{
    item_free(*item);
    *item = NULL;
}

cbor_type cbor_typeof(const cbor_item_t *item) { return item->type; }
bool cbor_isa_uint(const cbor_item_t *item) { return item->type == CBOR_TYPE_UINT; }
bool cbor_isa_negint(const cbor_item_t *item) { return item->type == CBOR_TYPE_NEGINT; }
bool cbor_isa_bytestring(const cbor_item_t *item) { return item->type == CBOR_TYPE_BYTESTRING; }
bool cbor_isa_string(const cbor_item_t *item) { return item->type == CBOR_TYPE_STRING; }
bool cbor_isa_array(const cbor_item_t *item) { return item->type == CBOR_TYPE_ARRAY; }
bool cbor_isa_map(const cbor_item_t *item) { return item->type == CBOR_TYPE_MAP; }
bool cbor_isa_tag(const cbor_item_t *item) { return item->type == CBOR_TYPE_TAG; }
bool cbor_isa_float_ctrl(const cbor_item_t *item) { return item->type == CBOR_TYPE_FLOAT_CTRL; }
bool cbor_is_int(const cbor_item_t *item) { return cbor_isa_uint(item) || cbor_isa_negint(item); }

bool cbor_is_bool(const cbor_item_t *item)
{
    return cbor_isa_float_ctrl(item) && (item->value == 20 || item->value == 21);
}

bool cbor_is_null(const cbor_item_t *item)
{
    return cbor_isa_float_ctrl(item) && item->value == 22;
}

uint64_t cbor_get_int(const cbor_item_t *item) { return item->value; }
uint64_t cbor_get_uint64(const cbor_item_t *item) { return item->value; }
bool cbor_get_bool(const cbor_item_t *item) { return item->value == 21; }
uint8_t cbor_ctrl_value(const cbor_item_t *item) { return (uint8_t)item->value; }

size_t cbor_bytestring_length(const cbor_item_t *item) { return item->len; }
cbor_mutable_data cbor_bytestring_handle(const cbor_item_t *item) { return item->bytes; }
bool cbor_bytestring_is_definite(const cbor_item_t *item) { (void)item; return true; }
size_t cbor_string_length(const cbor_item_t *item) { return item->len; }
cbor_mutable_data cbor_string_handle(const cbor_item_t *item) { return item->bytes; }
bool cbor_string_is_definite(const cbor_item_t *item) { (void)item; return true; }

size_t cbor_array_size(const cbor_item_t *item) { return item->len; }
cbor_item_t **cbor_array_handle(const cbor_item_t *item) { return item->items; }
bool cbor_array_is_definite(const cbor_item_t *item) { (void)item; return true; }

cbor_item_t *cbor_array_get(const cbor_item_t *item, size_t index)
{
    return index < item->len ? item->items[index] : NULL;
}

size_t cbor_map_size(const cbor_item_t *item) { return item->len; }
struct cbor_pair *cbor_map_handle(const cbor_item_t *item) { return item->pairs; }
bool cbor_map_is_definite(const cbor_item_t *item) { (void)item; return true; }

uint64_t cbor_tag_value(const cbor_item_t *item) { return item->value; }
cbor_item_t *cbor_tag_item(const cbor_item_t *item) { return item->items[0]; }
