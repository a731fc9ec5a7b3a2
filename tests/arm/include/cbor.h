/*
 * A minimal stand-in for libcbor (https://github.com/PJK/libcbor) on bare-metal Arm, where the
 * library is not installed: cbor_load() and the accessors the agent tests' report decoder uses
 * (tests/unit/agent/test_util.c), with libcbor 0.8's names, types and meanings, so that helper
 * builds unchanged for QEMU and every agent test file can run there (docs/agent-size.md).
 *
 * An independent decoder written from RFC 8949, not from the agent's encoder. It decodes one
 * well-formed item of definite length: integers, byte and text strings, arrays, maps, tags and
 * simple values/floats (kept raw). Indefinite lengths are rejected as CBOR_ERR_MALFORMATED (the
 * agent never writes them; the host run, with the real libcbor, accepts them). Test code only:
 * it allocates with malloc() and nests by recursion, to a depth of 64.
 */
#ifndef WARD_ARM_CBOR_H
#define WARD_ARM_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef const unsigned char *cbor_data;
typedef unsigned char *cbor_mutable_data;

typedef enum {
    CBOR_TYPE_UINT,
    CBOR_TYPE_NEGINT,
    CBOR_TYPE_BYTESTRING,
    CBOR_TYPE_STRING,
    CBOR_TYPE_ARRAY,
    CBOR_TYPE_MAP,
    CBOR_TYPE_TAG,
    CBOR_TYPE_FLOAT_CTRL
} cbor_type;

typedef enum {
    CBOR_ERR_NONE,
    CBOR_ERR_NOTENOUGHDATA,
    CBOR_ERR_NODATA,
    CBOR_ERR_MALFORMATED,
    CBOR_ERR_MEMERROR,
    CBOR_ERR_SYNTAXERROR
} cbor_error_code;

typedef struct cbor_item_t cbor_item_t;

struct cbor_pair {
    cbor_item_t *key, *value;
};

struct cbor_error {
    size_t position;
    cbor_error_code code;
};

struct cbor_load_result {
    struct cbor_error error;
    size_t read;
};

cbor_item_t *cbor_load(cbor_data source, size_t source_size, struct cbor_load_result *result);
void cbor_decref(cbor_item_t **item);

cbor_type cbor_typeof(const cbor_item_t *item);
bool cbor_isa_uint(const cbor_item_t *item);
bool cbor_isa_negint(const cbor_item_t *item);
bool cbor_isa_bytestring(const cbor_item_t *item);
bool cbor_isa_string(const cbor_item_t *item);
bool cbor_isa_array(const cbor_item_t *item);
bool cbor_isa_map(const cbor_item_t *item);
bool cbor_isa_tag(const cbor_item_t *item);
bool cbor_isa_float_ctrl(const cbor_item_t *item);
bool cbor_is_int(const cbor_item_t *item);
bool cbor_is_bool(const cbor_item_t *item);
bool cbor_is_null(const cbor_item_t *item);

/* Integers: the value of a uint, or the raw argument n of a negint (which means -1 - n). */
uint64_t cbor_get_int(const cbor_item_t *item);
uint64_t cbor_get_uint64(const cbor_item_t *item);
bool cbor_get_bool(const cbor_item_t *item);
uint8_t cbor_ctrl_value(const cbor_item_t *item);

size_t cbor_bytestring_length(const cbor_item_t *item);
cbor_mutable_data cbor_bytestring_handle(const cbor_item_t *item);
bool cbor_bytestring_is_definite(const cbor_item_t *item);
size_t cbor_string_length(const cbor_item_t *item);
cbor_mutable_data cbor_string_handle(const cbor_item_t *item);
bool cbor_string_is_definite(const cbor_item_t *item);

size_t cbor_array_size(const cbor_item_t *item);
cbor_item_t **cbor_array_handle(const cbor_item_t *item);
cbor_item_t *cbor_array_get(const cbor_item_t *item, size_t index); /* no reference taken here */
bool cbor_array_is_definite(const cbor_item_t *item);
size_t cbor_map_size(const cbor_item_t *item);
struct cbor_pair *cbor_map_handle(const cbor_item_t *item);
bool cbor_map_is_definite(const cbor_item_t *item);

uint64_t cbor_tag_value(const cbor_item_t *item);
cbor_item_t *cbor_tag_item(const cbor_item_t *item); /* no reference taken here */

#endif /* WARD_ARM_CBOR_H */
