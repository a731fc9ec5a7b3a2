/*
 * Compile-time configuration of the agent core. Every knob is an #ifndef default with its range;
 * an integrator overrides any of them in its own "ward_config.h" (found on the include path),
 * included here unless WARD_NO_CUSTOM_CONFIG is defined. Inconsistent values fail at compile time.
 */
#ifndef WARD_CONFIG_DEFAULTS_H
#define WARD_CONFIG_DEFAULTS_H

#ifndef WARD_NO_CUSTOM_CONFIG
#if defined(__has_include)
#if __has_include("ward_config.h")
#include "ward_config.h"
#endif
#endif
#endif

/** Flow table capacity, both address families together. Range 4..65535. */
#ifndef WARD_MAX_FLOWS
#define WARD_MAX_FLOWS 64
#endif

/** Distinct local (device) addresses tracked. Range 1..16. */
#ifndef WARD_MAX_LOCAL_ADDRS
#define WARD_MAX_LOCAL_ADDRS 4
#endif

/** Default report interval in seconds. Range 10..86400. */
#ifndef WARD_REPORT_INTERVAL_S
#define WARD_REPORT_INTERVAL_S 60
#endif

/** Smallest report buffer ward_agent_poll() accepts: one header plus one IPv6 flow. */
#ifndef WARD_REPORT_MIN_BUFFER
#define WARD_REPORT_MIN_BUFFER 256
#endif

/** A report buffer size that fits a typical report in one part. */
#ifndef WARD_REPORT_BUFFER_SIZE
#define WARD_REPORT_BUFFER_SIZE 2048
#endif

#if WARD_MAX_FLOWS < 4 || WARD_MAX_FLOWS > 65535
#error "WARD_MAX_FLOWS must be 4..65535"
#endif
#if WARD_MAX_LOCAL_ADDRS < 1 || WARD_MAX_LOCAL_ADDRS > 16
#error "WARD_MAX_LOCAL_ADDRS must be 1..16"
#endif
#if WARD_REPORT_INTERVAL_S < 10 || WARD_REPORT_INTERVAL_S > 86400
#error "WARD_REPORT_INTERVAL_S must be 10..86400"
#endif
#if WARD_REPORT_BUFFER_SIZE < WARD_REPORT_MIN_BUFFER
#error "WARD_REPORT_BUFFER_SIZE must be at least WARD_REPORT_MIN_BUFFER"
#endif

#endif /* WARD_CONFIG_DEFAULTS_H */
