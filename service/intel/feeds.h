/*
 * feeds: loads threat-intelligence feeds (files, folders, memory buffers) into a feed set, an
 * array of ward_indicator_t plus the interned strings they point at. The match index
 * (index.c) is built from a feed set; docs/feeds.md describes every format.
 *
 * Formats: plain IP/CIDR lists, Spamhaus DROP/EDROP (text and JSON lines), FireHOL netsets,
 * abuse.ch Feodo Tracker CSV, Zeek intel, Suricata iprep (categories and reputation files),
 * MISP CSV and JSON exports, STIX 2.1 bundles. The format is detected from the content unless the
 * caller names it.
 *
 * Threads: a feed set belongs to one thread at a time; there is no global state, so different
 * threads may load different feed sets at once.
 *
 * Errors: feeds are untrusted input. A bad line is counted, reported once through the caller's
 * callback as "file:line: reason", and skipped; the rest of the feed loads. Only failures that
 * stop the whole load (cannot read the file, out of memory, JSON that does not parse) make a load
 * function return something other than WARD_OK, and those are reported through the callback too.
 */
#ifndef WARD_INTEL_FEEDS_H
#define WARD_INTEL_FEEDS_H

#include <stddef.h>
#include <stdint.h>

#include "indicator.h"
#include "ward/status.h"

/** Feed formats. WARD_FEED_AUTO detects the format from the content (see ward_feed_detect). */
typedef enum ward_feed_format {
    WARD_FEED_AUTO = 0,
    WARD_FEED_PLAIN = 1,            /**< one IP or CIDR a line, '#'/';' comments */
    WARD_FEED_DROP = 2,             /**< Spamhaus DROP/EDROP: "1.10.16.0/20 ; SBL256894" */
    WARD_FEED_DROP_JSON = 3,        /**< Spamhaus JSON lines: {"cidr":..,"sblid":..} */
    WARD_FEED_NETSET = 4,           /**< FireHOL .netset/.ipset: plain list, name in the header */
    WARD_FEED_FEODO_CSV = 5,        /**< abuse.ch Feodo Tracker CSV */
    WARD_FEED_ZEEK = 6,             /**< Zeek intel framework file (#fields header) */
    WARD_FEED_IPREP_CATEGORIES = 7, /**< Suricata iprep categories: id,shortname,description */
    WARD_FEED_IPREP = 8,            /**< Suricata iprep reputation: ip,category,score */
    WARD_FEED_MISP_CSV = 9,         /**< MISP CSV export (type and value columns) */
    WARD_FEED_MISP_JSON = 10,       /**< MISP JSON events */
    WARD_FEED_STIX = 11,            /**< STIX 2.1 bundle (or TAXII 2.1 envelope) */
    WARD_FEED_FORMAT_COUNT
} ward_feed_format_t;

/** Statistics of one load (a folder's load sums its files). */
typedef struct ward_feed_stats {
    ward_feed_format_t format; /**< the format used (detected or given); AUTO for a folder */
    uint64_t files;            /**< files read (1 for a file or buffer) */
    uint64_t bytes;            /**< bytes read */
    uint64_t loaded;           /**< indicators added to the feed set */
    uint64_t skipped;          /**< well-formed records not loaded (the next three and others) */
    uint64_t unsupported; /**< of skipped: indicator types or patterns ward does not match on */
    uint64_t revoked;     /**< of skipped: revoked, deleted or not meant for detection */
    uint64_t bad;         /**< malformed records, each reported through the callback */
    uint64_t expired;     /**< of loaded: already expired at load time (kept, expiry set) */
    uint64_t categories;  /**< iprep categories defined (categories files only) */
} ward_feed_stats_t;

/** What the error callback receives. `message` is "file:line: reason" (or "file: reason" when
 *  there is no line, e.g. for JSON); the other fields are its parts. Valid during the call only. */
typedef struct ward_feed_error {
    const char *source;
    uint64_t line; /**< 1-based, 0 = not line-oriented */
    const char *reason;
    const char *message;
} ward_feed_error_t;

typedef void (*ward_feed_error_fn)(void *ctx, const ward_feed_error_t *err);

/** Options of one load. All-zero is valid: detect the format, source = the path, report nothing. */
typedef struct ward_feed_opts {
    ward_feed_format_t format;   /**< WARD_FEED_AUTO to detect */
    const char *source;          /**< source name to record; default the path (buffers: "-") */
    const char *category;        /**< category for records whose feed gives none (NULL: the
                                      format's own, e.g. "spamhaus_drop", or the file name) */
    uint8_t default_confidence;  /**< 1..100 for records without one; 0 = the format's default */
    int64_t now;                 /**< Unix seconds for the expiry statistics; 0 = time(NULL) */
    ward_feed_error_fn on_error; /**< NULL: errors are only counted */
    void *error_ctx;
    uint32_t max_reports; /**< bad records reported per load; 0 = 100. Later ones are
                               counted, then summarised in one last report. */
} ward_feed_opts_t;

/**
 * A feed set. Read-only outside feeds*.c: `items[0..count)` are the indicators, in load order
 * until ward_feeds_dedup() sorts them. Strings are read with ward_feeds_str().
 */
typedef struct ward_feedset {
    ward_indicator_t *items;
    size_t count;
    size_t cap;
    /* Interned strings: one pool of NUL-terminated strings, an offset per index, a hash. */
    char *pool;
    size_t pool_len, pool_cap;
    uint32_t *str_off;
    uint32_t nstr, str_cap;
    uint32_t *hash; /**< open addressing: string index + 1, 0 = free */
    uint32_t hash_cap;
    /* Suricata iprep category names by id (string index, 0 = unknown), from categories files. */
    uint32_t iprep_cat[256];
} ward_feedset_t;

/** Initialise an empty feed set (string 0 = ""). Returns WARD_E_NOMEM when out of memory. */
ward_status_t ward_feeds_init(ward_feedset_t *fs);

/** Free everything the feed set holds; it may be initialised again. */
void ward_feeds_free(ward_feedset_t *fs);

/** Load one file. Reads it whole with read(2) and parses it in place.
 *  Returns WARD_OK (even when some records were bad), WARD_E_ARG, WARD_E_IO (cannot read
 *  the file), WARD_E_MALFORMED (a JSON feed that does not parse), WARD_E_NOMEM (out of memory).
 *  `stats` (may be NULL) receives this load's statistics. */
ward_status_t ward_feeds_load_file(ward_feedset_t *fs, const char *path,
                                   const ward_feed_opts_t *opts, ward_feed_stats_t *stats);

/** Load every regular file in a folder (not recursive, dotfiles and names ending in '~' skipped)
 *  in name order; each file's source is its path and its format is detected unless opts give one.
 *  A file that fails is reported and the others still load; the first failure is returned. */
ward_status_t ward_feeds_load_dir(ward_feedset_t *fs, const char *path,
                                  const ward_feed_opts_t *opts, ward_feed_stats_t *stats);

/** ward_feeds_load_file or ward_feeds_load_dir, whichever `path` is. */
ward_status_t ward_feeds_load_path(ward_feedset_t *fs, const char *path,
                                   const ward_feed_opts_t *opts, ward_feed_stats_t *stats);

/** Load from memory (a downloaded URL, a fuzz input). `data` need not be terminated and is not
 *  modified. `opts->source` names it (the URL); `name_hint` (may be NULL) is a file name used for
 *  detection and default categories (e.g. "firehol_level1.netset"). */
ward_status_t ward_feeds_load_buffer(ward_feedset_t *fs, const void *data, size_t len,
                                     const char *name_hint, const ward_feed_opts_t *opts,
                                     ward_feed_stats_t *stats);

/** Detect a buffer's format from its content (and, for netsets, the name hint, may be NULL).
 *  Never returns WARD_FEED_AUTO: plain is the fallback. */
ward_feed_format_t ward_feed_detect(const void *data, size_t len, const char *name_hint);

/** "plain", "drop", "drop-json", "netset", "feodo-csv", "zeek", "iprep-categories", "iprep",
 *  "misp-csv", "misp-json", "stix", or "auto". */
const char *ward_feed_format_name(ward_feed_format_t format);

/** The inverse of ward_feed_format_name. Returns WARD_E_ARG for an unknown name. */
ward_status_t ward_feed_format_parse(const char *name, ward_feed_format_t *out);

/** The string at index `idx` ("" for 0 or an index out of range). */
const char *ward_feeds_str(const ward_feedset_t *fs, uint32_t idx);

/** Intern a string (len bytes, need not be terminated; NUL bytes inside are rejected).
 *  Returns its index (0 for ""), or UINT32_MAX when out of memory or on a NUL byte. */
uint32_t ward_feeds_intern(ward_feedset_t *fs, const char *s, size_t len);

/** Remove indicators with 0 < expires <= now, keeping the order. Returns how many went. */
size_t ward_feeds_remove_expired(ward_feedset_t *fs, int64_t now);

/** Sort by (address, prefix, source) and fold duplicates of one address/prefix/source into one:
 *  highest confidence, earliest known first_seen, latest expiry (never wins), first non-empty
 *  category and ref, is_v4 if any said so. Frees spare capacity. Returns how many were folded. */
size_t ward_feeds_dedup(ward_feedset_t *fs);

/** Release spare array capacity (after the last load). */
void ward_feeds_shrink(ward_feedset_t *fs);

/** Bytes of heap the feed set holds (array capacity, strings, hash). */
size_t ward_feeds_memory(const ward_feedset_t *fs);

#endif
