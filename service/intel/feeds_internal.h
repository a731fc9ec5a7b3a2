/*
 * feeds_internal: what the feed loader files (feeds.c, feeds_text.c, feeds_csv.c, feeds_json.c,
 * feeds_stix.c, ip.c) share and nobody else sees. Not installed, not included outside
 * service/intel/feeds*.c and ip.c.
 *
 * Invariants of a load context: `fs`, `st`, `name` are set; every record is either added
 * (ward__feed_add), skipped (ward__feed_skip) or reported bad (ward__feed_bad), exactly once.
 * Parsers work on (pointer, length) slices of the caller's buffer and never write to it.
 */
#ifndef WARD_INTEL_FEEDS_INTERNAL_H
#define WARD_INTEL_FEEDS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "feeds.h"
#include "indicator.h"

/** Longest address text accepted: a full IPv6 with embedded IPv4 (45) plus "/128". */
#define WARD__IP_TEXT_MAX 49

/** Confidence of records whose feed gives none (opts->default_confidence overrides). */
#define WARD__DEFAULT_CONFIDENCE 75
/** Spamhaus DROP is curated "do not route or peer" space: highest confidence. */
#define WARD__DROP_CONFIDENCE 100

bool ward__ip_parse_cidr_n(const char *s, size_t n, ward_ip_t *addr, uint8_t *prefix, bool *is_v4);
bool ward__ip_is_mapped(const ward_ip_t *a);
/* s[0..n) as a decimal number (digits only, n may be 0); false on any other character. */
bool ward__digits(const char *s, size_t n, unsigned *out);

/** A (pointer, length) slice of the input. */
typedef struct ward__str {
    const char *p;
    size_t n;
} ward__str_t;

typedef struct ward__feed_ctx {
    ward_feedset_t *fs;
    ward_feed_stats_t *st;
    const char *name;      /**< the source, as reported in errors */
    const char *name_hint; /**< file name for detection / default category, may be NULL */
    uint32_t source;       /**< interned source */
    uint32_t category;     /**< default category from opts (0 = none given) */
    uint8_t confidence;    /**< opts->default_confidence, 0 = the format's default */
    int64_t now;
    uint32_t max_reports;
    uint64_t reported;
    bool oom; /**< out of memory: stop, return WARD_E_NOMEM */
    ward_feed_error_fn on_error;
    void *error_ctx;
} ward__feed_ctx_t;

/** Count a bad record and report it (up to max_reports). line 0 = no line number. */
void ward__feed_bad(ward__feed_ctx_t *c, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Report a failure of the whole load (not counted as a bad record). */
void ward__feed_fail(ward__feed_ctx_t *c, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Count a well-formed record that is not loaded. */
void ward__feed_skip(ward__feed_ctx_t *c, bool unsupported, bool revoked);
/** Add an indicator (source filled in here). Returns false when out of memory (c->oom set). */
bool ward__feed_add(ward__feed_ctx_t *c, ward_indicator_t *ind);
/** Intern a slice; on failure sets c->oom (or reports nothing for NUL bytes) and returns 0. */
uint32_t ward__feed_intern(ward__feed_ctx_t *c, const char *s, size_t n);
/** The default confidence for this load, given the format's own default. */
uint8_t ward__feed_confidence(const ward__feed_ctx_t *c, uint8_t format_default);
/** The category to use when a record has none: opts, else `fallback` (interned). */
uint32_t ward__feed_default_category(ward__feed_ctx_t *c, const char *fallback);
/** The file name without folders and extension ("firehol_level1" for a/b/firehol_level1.netset). */
ward__str_t ward__feed_basename(const char *path);

/** Line iterator over a buffer: CRLF and a missing last newline tolerated. */
typedef struct ward__lines {
    const char *p, *end;
    uint64_t lineno;
} ward__lines_t;
void ward__lines_init(ward__lines_t *it, const char *data, size_t len);
bool ward__lines_next(ward__lines_t *it, ward__str_t *line);

ward__str_t ward__trim(ward__str_t s);
bool ward__str_eq(ward__str_t s, const char *lit);
bool ward__str_ieq(ward__str_t s, const char *lit);
/** Cut s at the first of `chars` (the rest is dropped). */
ward__str_t ward__cut_at(ward__str_t s, const char *chars);
/** Unsigned decimal, all of s, at most max. */
bool ward__parse_u64(ward__str_t s, uint64_t max, uint64_t *out);
/** A time: Unix seconds ("1617875568"), a date ("2021-04-08", midnight UTC), or
 *  "YYYY-MM-DD[T ]hh:mm:ss[.frac][Z|+hh:mm|-hh:mm| UTC]". */
bool ward__parse_time(ward__str_t s, int64_t *out);
/** A confidence or score "0".."100" (decimals allowed, rounded). */
bool ward__parse_confidence(ward__str_t s, uint8_t *out);

/** CSV: split one record (no line breaks inside) into fields, quotes stripped, "" kept as is.
 *  Returns the number of fields (at most max; more are counted but not stored) or -1 on a quote
 *  error. */
int ward__csv_split(ward__str_t rec, ward__str_t *fields, int max);
/** CSV record iterator: like lines, but a quoted field may span lines (up to 64 KiB). */
bool ward__csv_next(ward__lines_t *it, ward__str_t *rec, uint64_t *first_line);
/** Intern a CSV field, turning "" into ". */
uint32_t ward__feed_intern_csv(ward__feed_ctx_t *c, ward__str_t field);

/* The loaders, one per format (feeds_text.c, feeds_csv.c, feeds_json.c, feeds_stix.c). */
ward_status_t ward__load_plain(ward__feed_ctx_t *c, const char *data, size_t len,
                               ward_feed_format_t fmt);
ward_status_t ward__load_zeek(ward__feed_ctx_t *c, const char *data, size_t len);
ward_status_t ward__load_iprep_categories(ward__feed_ctx_t *c, const char *data, size_t len);
ward_status_t ward__load_iprep(ward__feed_ctx_t *c, const char *data, size_t len);
ward_status_t ward__load_feodo(ward__feed_ctx_t *c, const char *data, size_t len);
ward_status_t ward__load_misp_csv(ward__feed_ctx_t *c, const char *data, size_t len);
ward_status_t ward__load_drop_json(ward__feed_ctx_t *c, const char *data, size_t len);
/** The feed's bytes as JSON (MISP, STIX); NULL when they are not JSON, counted bad and reported
 *  as a failure of the whole load with the parser's line and reason. */
json_t *ward__feed_json(ward__feed_ctx_t *c, const char *data, size_t len);
ward_status_t ward__load_misp_json(ward__feed_ctx_t *c, const char *data, size_t len);
ward_status_t ward__load_stix(ward__feed_ctx_t *c, const char *data, size_t len);

/** STIX pattern scanner (feeds_stix.c): the addresses of a pattern that is only
 *  ipv4-addr:value / ipv6-addr:value compared with =, ISSUBSET or IN, OR-joined.
 *  Returns WARD_OK with *n addresses, WARD_E_UNSUPPORTED for any other pattern,
 *  WARD_E_MALFORMED (with *why) for a supported pattern with a bad address or syntax,
 *  WARD_E_FULL when more than max addresses. */
typedef struct ward__stix_addr {
    ward_ip_t addr;
    uint8_t prefix;
    bool is_v4;
} ward__stix_addr_t;
ward_status_t ward__stix_pattern(const char *p, size_t n, ward__stix_addr_t *out, size_t max,
                                 size_t *count, const char **why);

#endif
