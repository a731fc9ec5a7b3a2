/*
 * clock: wall-clock time in ms and its one text form (ISO-8601 UTC, second precision,
 * "2024-05-01T12:00:00Z"), used by the store, the alert sink and wardctl alike.
 *
 * Threads: any; no state.
 */
#ifndef WARD_CLOCK_H
#define WARD_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/** Text form needs this many bytes, NUL included. */
#define WARD_TIME_STRLEN 32

/** Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t ward_now_ms(void);

/** Milliseconds on a clock that never jumps (CLOCK_MONOTONIC), for intervals. */
int64_t ward_mono_ms(void);

/** Format ms since the epoch as "YYYY-MM-DDTHH:MM:SSZ" (UTC; sub-second part dropped). */
const char *ward_time_iso(int64_t ms, char *buf, size_t len);

#endif
