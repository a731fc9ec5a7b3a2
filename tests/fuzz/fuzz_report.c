/*
 * Fuzz target: a report as it arrives from the broker — decode and validate it (wire.c), and render
 * it as JSON with its unknown keys (wardctl decode). Any input must be refused or rendered without
 * a crash, a leak or unbounded work.
 */
#include <stdint.h>
#include <stdlib.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char reason[256];
    ward_wire_report_t r;
    if (ward_wire_decode(data, size, &r, reason, sizeof reason) == WARD_OK) {
        /* What the worker does with an accepted report: resolve every flow's local address. */
        for (size_t i = 0; i < r.n_flows; i++)
            if (r.flows[i].local_index >= r.n_local_addrs)
                abort();
        ward_wire_report_free(&r);
    }
    json_t *j = NULL;
    if (ward_wire_decode_json(data, size, &j, reason, sizeof reason) == WARD_OK) {
        char *text = json_dumps(j, JSON_COMPACT);
        if (text == NULL)
            abort(); /* every string in the rendering must be valid UTF-8 */
        free(text);
        json_decref(j);
    }
    return 0;
}
