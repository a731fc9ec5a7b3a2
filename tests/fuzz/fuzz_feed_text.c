/*
 * Fuzz target: the text feed loaders (plain, DROP, netset, Feodo CSV, Zeek, iprep, MISP CSV).
 * The whole input goes through format detection (the path a feed file takes); the input minus its
 * first byte also goes through the loader that byte selects, so every text loader sees every
 * input shape. The loaded set is then deduplicated, expired and formatted.
 */
#include <stddef.h>
#include <stdint.h>

#include "feeds.h"

static const ward_feed_format_t text_formats[] = {
    WARD_FEED_PLAIN,     WARD_FEED_DROP,  WARD_FEED_NETSET,           WARD_FEED_FEODO_CSV,
    WARD_FEED_ZEEK,      WARD_FEED_IPREP, WARD_FEED_IPREP_CATEGORIES, WARD_FEED_MISP_CSV,
    WARD_FEED_DROP_JSON,
};

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
    ward_feed_opts_t o = {.now = 1700000000, .on_error = sink, .max_reports = 5};
    ward_feed_stats_t st;
    ward_feeds_load_buffer(&fs, data, size, "fuzz.netset", &o, &st);
    if (size > 0) {
        o.format = text_formats[data[0] % (sizeof text_formats / sizeof text_formats[0])];
        ward_feeds_load_buffer(&fs, data + 1, size - 1, NULL, &o, &st);
    }
    char buf[64];
    for (size_t i = 0; i < fs.count; i++) {
        ward_ip_format_cidr(&fs.items[i].addr, fs.items[i].prefix, fs.items[i].is_v4, buf,
                            sizeof buf);
        (void)ward_feeds_str(&fs, fs.items[i].category);
    }
    ward_feeds_dedup(&fs);
    ward_feeds_remove_expired(&fs, 1700000000);
    ward_feeds_free(&fs);
    return 0;
}
