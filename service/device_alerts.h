/*
 * device_alerts: alerts the device itself raises, read from a report.
 *
 *   agent.deny_list_hit     (high)   a detection (report key 24): traffic matched the deny-list the
 *                                    service pushed (docs/config.md); folded per (device, remote
 *                                    address, rule index)
 *   device.config_rejected  (medium) config_status (report key 25): the device refused a config
 *                                    message and kept the one in force; folded per revision
 *
 * Evidence shapes are in docs/alerts.md. Threads: called by the worker that owns the store.
 */
#ifndef WARD_DEVICE_ALERTS_H
#define WARD_DEVICE_ALERTS_H

#include <stdint.h>

#include "alerts.h"
#include "behavior.h"
#include "wire.h"

#define WARD_ALERT_DENY_HIT "agent.deny_list_hit"
#define WARD_ALERT_CONFIG_REJECTED "device.config_rejected"

/**
 * Raise one alert per detection of r and one for its config_status, through emit (which stores
 * and counts them). base_ms: the absolute time of r's period_start (detection times are offsets
 * from it); received_ms: when the service received r. 0 ok, else emit's error.
 */
int ward_device_alerts_report(const ward_wire_report_t *r, int64_t base_ms, int64_t received_ms,
                              ward_behavior_emit_fn emit, void *ctx);

/** "incomplete", "malformed", "unsupported", "full", "out_of_range", ... for a ward_status_t. */
const char *ward_device_status_name(uint64_t status);

#endif
