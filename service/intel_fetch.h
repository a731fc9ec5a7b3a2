/*
 * intel_fetch: getting feeds over HTTP(S) for the intel engine (intel.c): a conditional GET of a
 * feed URL (ETag / If-Modified-Since, so an unchanged feed costs one 304), and a TAXII 2.1
 * collection client that keeps the collection's indicators by STIX id.
 *
 * Everything a server sends is untrusted: bodies are limited to WARD_INTEL_HTTP_MAX_BYTES,
 * header values are length-checked and kept only when they are printable, redirects stay on
 * http/https (at most 5), and every transfer has a connect and a total timeout.
 *
 * TAXII 2.1 (OASIS TAXII 2.1, section 5.4 "Get Objects"): GET the objects endpoint with
 * "Accept: application/taxii+json;version=2.1" and, after the first complete poll,
 * added_after=<the last X-TAXII-Date-Added-Last seen>; while the envelope says "more": true,
 * follow with next=<its "next">. Objects of type "indicator" are upserted by id (a version whose
 * "modified" is older than the one held is ignored); "revoked": true or a "valid_until" in the
 * past removes the id. Other object types are ignored.
 *
 * Threads: one fetcher or TAXII state belongs to one thread at a time (the intel poller).
 */
#ifndef WARD_INTEL_FETCH_H
#define WARD_INTEL_FETCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/** State of one polled URL: the validators of its last 200 answer. */
typedef struct ward_fetch {
    char etag[256];
    char last_modified[64];
    const atomic_bool *cancel; /**< when not NULL and set, a transfer in progress is aborted */
} ward_fetch_t;

/** Process-wide libcurl setup; call once before threads start. 0 ok. */
int ward_fetch_global_init(void);
void ward_fetch_global_cleanup(void);

/**
 * GET url, conditional on f's validators. Returns 1 with a new body in *body (malloc'ed,
 * NUL-terminated, *len bytes before the NUL; the caller frees it), 0 when the server said 304
 * (unchanged), -1 on failure (reason in err; f unchanged).
 */
int ward_fetch_url(ward_fetch_t *f, const char *url, char **body, size_t *len, char *err,
                   size_t err_len);

/** A TAXII 2.1 collection's indicators, by STIX id. */
typedef struct ward_taxii {
    json_t *objects;       /**< STIX id -> indicator object */
    char added_after[64];  /**< "" before the first complete poll */
    uint64_t pages;        /**< pages read so far (all polls) */
    uint64_t upserts, removals;
    const atomic_bool *cancel; /**< as in ward_fetch_t */
} ward_taxii_t;

void ward_taxii_init(ward_taxii_t *t);
void ward_taxii_free(ward_taxii_t *t);

/**
 * Poll the collection at url (its objects endpoint) from t->added_after on, following every
 * page. Returns 1 when the id map changed, 0 when not, -1 on failure (reason in err; pages read
 * before the failure are kept, added_after is not advanced). now: Unix seconds (valid_until).
 */
int ward_taxii_poll(ward_taxii_t *t, const char *url, int64_t now, char *err, size_t err_len);

/**
 * Apply one envelope (or bundle) body: upsert and remove by id. Returns 1 when the map changed,
 * 0 when not, -1 when the body is not a JSON object with an "objects" array (reason in err).
 * *more and *next (when not NULL) receive the envelope's paging fields (next: "" when absent).
 */
int ward_taxii_apply(ward_taxii_t *t, const char *body, size_t len, int64_t now, bool *more,
                     char *next, size_t next_len, char *err, size_t err_len);

/** The held indicators as one STIX bundle (malloc'ed JSON text, *len its length); NULL on OOM. */
char *ward_taxii_bundle(const ward_taxii_t *t, size_t *len);

#endif
