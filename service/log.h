/*
 * log: the service's one way to say something to the operator. Lines go to stderr as
 * "<prog>: <level>: <message>", one write each, so lines from different threads never interleave.
 *
 * Threads: any. The program name and the minimum level are set once at start-up, before threads
 * start, and only read afterwards.
 *
 * House rule: an error about untrusted input is logged once, where it is found, with the device id
 * and the reason; callers further up only count it.
 */
#ifndef WARD_LOG_H
#define WARD_LOG_H

typedef enum ward_log_level {
    WARD_LOG_DEBUG = 0,
    WARD_LOG_INFO = 1,
    WARD_LOG_WARN = 2,
    WARD_LOG_ERROR = 3
} ward_log_level_t;

/** Set the prefix (e.g. "wardd") and the lowest level written. Call before starting threads. */
void ward_log_init(const char *prog, ward_log_level_t min_level);

/** Write one line (no trailing newline needed) if level >= the minimum level. */
void ward_log(ward_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define WARD_DEBUG(...) ward_log(WARD_LOG_DEBUG, __VA_ARGS__)
#define WARD_INFO(...) ward_log(WARD_LOG_INFO, __VA_ARGS__)
#define WARD_WARN(...) ward_log(WARD_LOG_WARN, __VA_ARGS__)
#define WARD_ERROR(...) ward_log(WARD_LOG_ERROR, __VA_ARGS__)

#endif
