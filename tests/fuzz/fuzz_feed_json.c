/*
 * Fuzz target: the JSON feed loaders (STIX 2.1 bundles with their pattern scanner, MISP JSON
 * events, Spamhaus DROP JSON lines) and, directly, the STIX pattern scanner on the raw input.
 */
#include <stddef.h>
#include <stdint.h>

#include "feeds.h"
#include "feeds_internal.h"

static void sink(void *ctx, const ward_feed_error_t *e)
{
    (void)ctx;
    (void)e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ward_feedset_t fs;
    if (ward_feeds_init(&fs) != WARD_OK)
        return 0;
    static const ward_feed_format_t formats[] = {WARD_FEED_AUTO, WARD_FEED_STIX,
                                                 WARD_FEED_MISP_JSON, WARD_FEED_DROP_JSON};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        ward_feed_opts_t o = {.format = formats[f], .now = 1700000000, .on_error = sink};
        ward_feeds_load_buffer(&fs, data, size, NULL, &o, NULL);
    }
    ward__stix_addr_t out[16];
    size_t n;
    const char *why;
    ward__stix_pattern((const char *)data, size, out, 16, &n, &why);
    ward_feeds_dedup(&fs);
    ward_feeds_free(&fs);
    return 0;
}
