/*
 * Fuzz target: an intel IP list from any bytes — parse it (intel.c), build the index, and look up
 * a few addresses, some derived from the input so that matches happen.
 */
#include <stdint.h>
#include <string.h>

#include "intel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(void *ctx, const char *source, unsigned long line, const char *reason)
{
    (void)ctx;
    (void)source;
    (void)line;
    (void)reason;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ward_intel_builder_t *b = ward_intel_builder_new(ignore, NULL);
    if (b == NULL)
        return 0;
    size_t bad = 0;
    long n = ward_intel_builder_add_buffer(b, "fuzz", (const char *)data, size, &bad);
    ward_intel_t *idx = ward_intel_build(b);
    if (idx == NULL)
        return 0;
    if (n >= 0 && ward_intel_size(idx) > (size_t)n)
        __builtin_trap();
    ward_intel_match_t m[8];
    ward_addr_t a;
    uint8_t bytes[16] = {0};
    memcpy(bytes, data, size < 16 ? size : 16);
    ward_addr_from_bytes(&a, bytes, 16);
    ward_intel_lookup(idx, &a, m, 8);
    ward_addr_from_bytes(&a, bytes, 4);
    ward_intel_lookup(idx, &a, m, 8);
    static const char *const probes[] = {"0.0.0.0", "10.1.2.3",    "255.255.255.255",
                                         "::",      "2001:db8::1", "::ffff:203.0.113.7"};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        if (ward_addr_parse(probes[i], &a)) {
            size_t k = ward_intel_lookup(idx, &a, m, 8);
            for (size_t j = 1; j < k; j++)
                if (m[j].prefix > m[j - 1].prefix)
                    __builtin_trap(); /* longest first */
        }
    }
    ward_intel_free(idx);
    return 0;
}
