/*
 * intel: wardd's threat-intelligence engine — the feeds it was told to use, the live match index
 * built from them, and the background work that keeps that index current.
 *
 * It glues the building blocks of service/intel/ together: the feed loaders (feeds.h, every
 * format, detected from the content), the immutable index (index.h) and the RCU holder that
 * publishes a new index with one pointer swap (live.h). docs/feeds.md is the operator's view.
 *
 * Sources. A source is a file or folder (--intel), a URL (--intel-url, polled with libcurl, using
 * ETag / If-Modified-Since), or a TAXII 2.1 collection's objects endpoint (--taxii, polled with
 * added_after paging; indicators are kept per STIX id: a newer version replaces the older one, a
 * revoked one or one whose valid_until has passed is removed). Every reload loads every source
 * into a new feed set (files and folders from disk, URLs from their last body, TAXII collections
 * from their id map), deduplicates it, builds a new index beside the live one and publishes it.
 * Lookups never wait for any of that and never see a half-built index.
 *
 * Threads:
 *  - ward_intel_open (the caller's thread) loads everything once and publishes the first index.
 *  - ward_intel_start starts up to two background threads: the watcher (inotify on the files'
 *    folders and on the folders; reloads 200 ms after the last change, so an editor's
 *    write-rename-delete sequence is one reload) and the poller (URLs and TAXII collections, each
 *    on its own interval). Both reload through one mutex that only they (and ward_intel_reload)
 *    take; readers never touch it.
 *  - Readers (the ingest worker, wardctl) call ward_intel_reader_register once per thread, then
 *    ward_intel_match as often as they like: a lookup is an RCU read-side section (no lock, no
 *    allocation, no wait), and the match is copied out so nothing points into the index after it.
 *  - When a reload adds indicators (keys (address, prefix, source) not in the previous set), the
 *    engine hands the added ones, with a small index of their own, to the on_added callback (the
 *    retro-hunt, retro.h) on the reloading thread; the callback owns them from then on.
 *
 * Errors: feeds are untrusted input. A bad record is reported as "file:line: reason" (through
 * on_error, or logged as a warning) and skipped. At open, a file or folder that cannot be read is
 * an error (a typo on the command line should stop wardd); later it only empties that source,
 * with a warning. A URL or TAXII collection that cannot be fetched keeps its last content.
 */
#ifndef WARD_INTEL_H
#define WARD_INTEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "feeds.h"
#include "index.h"

typedef struct ward_intel ward_intel_t;

/** Lengths of the text fields of a match (including the NUL). Longer strings are truncated. */
#define WARD_INTEL_VALUE_LEN 50
#define WARD_INTEL_SOURCE_LEN 512
#define WARD_INTEL_TEXT_LEN 128

/** Default poll interval of URLs and TAXII collections, seconds. */
#define WARD_INTEL_POLL_DEFAULT_S 3600
/** The most a URL body or a TAXII page may hold; a larger answer is refused. */
#define WARD_INTEL_HTTP_MAX_BYTES (256u << 20)
/** The most pages one TAXII poll follows (more/next). */
#define WARD_INTEL_TAXII_MAX_PAGES 10000

/** One indicator that matched, copied out of the index (valid after the lookup returned). */
typedef struct ward_intel_match {
    char value[WARD_INTEL_VALUE_LEN];     /**< "203.0.113.0/24", "198.51.100.7", "2001:db8::/32" */
    char source[WARD_INTEL_SOURCE_LEN];   /**< file path or URL */
    char category[WARD_INTEL_TEXT_LEN];   /**< "" when the feed gives none */
    char ref[WARD_INTEL_TEXT_LEN];        /**< the feed's own id (SBL id, STIX id), "" when none */
    int64_t first_seen;                   /**< Unix seconds, 0 = unknown */
    int64_t expires;                      /**< Unix seconds, 0 = never */
    uint8_t prefix;                       /**< in the mapped space (IPv4 /24 is 120) */
    uint8_t confidence;                   /**< 0..100 */
} ward_intel_match_t;

typedef enum ward_intel_source_kind {
    WARD_INTEL_SRC_PATH = 0, /**< a file or a folder */
    WARD_INTEL_SRC_URL = 1,  /**< http(s) URL of a feed in any format */
    WARD_INTEL_SRC_TAXII = 2 /**< a TAXII 2.1 collection's objects endpoint */
} ward_intel_source_kind_t;

typedef struct ward_intel_source_cfg {
    ward_intel_source_kind_t kind;
    const char *location;      /**< path or URL (copied) */
    ward_feed_format_t format; /**< WARD_FEED_AUTO to detect (TAXII: always STIX) */
    unsigned interval_s;       /**< URL/TAXII poll interval; 0 = WARD_INTEL_POLL_DEFAULT_S */
} ward_intel_source_cfg_t;

/** Indicators a reload added, with their own small index (retro-hunt input). */
typedef struct ward_intel_added {
    ward_feedset_t strings;   /**< holds the strings; its items are unused */
    ward_indicator_t *items;  /**< the added indicators (string indexes into `strings`) */
    size_t count;
    ward_intel_index_t *index; /**< over items[0..count) */
    uint64_t generation;       /**< the publish that added them */
} ward_intel_added_t;

typedef void (*ward_intel_added_fn)(void *ctx, ward_intel_added_t *added);

typedef struct ward_intel_config {
    const ward_intel_source_cfg_t *sources;
    size_t n_sources;
    ward_intel_added_fn on_added; /**< NULL: added indicators are not reported */
    void *added_ctx;
    ward_feed_error_fn on_error; /**< NULL: bad records are logged as warnings */
    void *error_ctx;
    bool quiet; /**< no per-feed summary lines (wardctl) */
} ward_intel_config_t;

/**
 * Load every source once and publish the first index. NULL with the reason in err when a file or
 * folder cannot be read, on out of memory, or on a bad configuration. URLs are fetched once here
 * too; one that fails is logged and retried by the poller. Logs one summary line per source:
 * "intel: feed PATH: format F, N loaded, S skipped, B bad".
 */
ward_intel_t *ward_intel_open(const ward_intel_config_t *cfg, char *err, size_t err_len);

/** Start the watcher (when there are files or folders) and the poller (URLs, TAXII). 0 ok. */
int ward_intel_start(ward_intel_t *in, char *err, size_t err_len);

/** Stop the threads, free everything. No reader may use the engine any more. NULL is fine. */
void ward_intel_close(ward_intel_t *in);

/** Reload every source now and publish (what the watcher does). 0 ok, -1 out of memory. */
int ward_intel_reload(ward_intel_t *in, const char *why);

/** Poll every URL and TAXII source now, whatever their interval, then publish if any changed. */
int ward_intel_poll_now(ward_intel_t *in);

/** Indicators in the live index. Any thread. */
size_t ward_intel_size(const ward_intel_t *in);

/** Publishes so far (1 after open). Any thread. */
uint64_t ward_intel_generation(const ward_intel_t *in);

/** Make the calling thread a reader (once, before its first match) / stop being one. */
void ward_intel_reader_register(void);
void ward_intel_reader_unregister(void);

/**
 * Every indicator covering addr at now (Unix seconds), most specific first; on one prefix the
 * highest confidence first. Copies at most max into out and returns how many match (may be more
 * than max; 0 = none). Registered readers only. Never blocks.
 */
size_t ward_intel_match(const ward_intel_t *in, const ward_addr_t *addr, int64_t now,
                        ward_intel_match_t *out, size_t max);

/** The same over an added set (retro-hunt): its own index, no RCU. */
size_t ward_intel_added_match(const ward_intel_added_t *a, const ward_addr_t *addr, int64_t now,
                              ward_intel_match_t *out, size_t max);

void ward_intel_added_free(ward_intel_added_t *a);

/**
 * The alert fold key of an indicator: "<value> <source>", or "<value> #<16 hex digits>" (FNV-1a
 * of the source) when that would not fit in len. One alert per (device, indicator): the same
 * address listed by two feeds is two indicators.
 */
void ward_intel_fold_key(const ward_intel_match_t *m, char *buf, size_t len);

#endif
