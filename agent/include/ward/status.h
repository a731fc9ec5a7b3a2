/*
 * ward_status_t: the one status enum of the agent core (and of the service's shared helpers).
 * Codes are append-only forever: a value, once released, never changes meaning.
 */
#ifndef WARD_STATUS_H
#define WARD_STATUS_H

typedef enum ward_status {
    WARD_OK = 0,             /**< success */
    WARD_E_ARG = 1,          /**< an argument is invalid (NULL, out of range) */
    WARD_E_BUFFER = 2,       /**< the output buffer is too small for even the smallest result */
    WARD_E_INCOMPLETE = 3,   /**< the input ends before its encoding says it should */
    WARD_E_MALFORMED = 4,    /**< the input is not well formed */
    WARD_E_UNSUPPORTED = 5,  /**< well formed, but a version or feature this build does not know */
    WARD_E_AGAIN = 6,        /**< not now: the transport asked to try later */
    WARD_E_TRANSPORT = 7,    /**< the transport failed */
    WARD_E_FULL = 8,         /**< a fixed-size table is full */
    WARD_NOTHING = 9,        /**< nothing to do (no report due) */
    WARD_DROP = 10,          /**< the packet matched a drop rule; the port should drop it */
    WARD_E_RANGE = 11,       /**< a value is outside its documented range */
    WARD_E_NOMEM = 12,       /**< out of memory (service side only; the agent core never allocates) */
    WARD_E_IO = 13           /**< a file or socket operation failed (service side only) */
} ward_status_t;

/** A short, constant, English description of a status ("ok", "buffer too small", ...). */
const char *ward_status_str(ward_status_t status);

#endif /* WARD_STATUS_H */
