/*
 * Fuzz target: a report decoded by ward_wire_decode and by the decoder it replaced (libcbor's tree,
 * tests/unit/service/wire_ref.c) must give the same status, reason text and decoded report. Any
 * difference aborts, with both results on stderr. Replays the report corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "wire_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char diff[768];
    if (!wire_ref_same(data, size, diff, sizeof diff)) {
        fprintf(stderr, "fuzz-report-diff: %s\n", diff);
        abort();
    }
    return 0;
}
