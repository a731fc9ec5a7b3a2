/*
 * device_alerts: see device_alerts.h. Only builds alerts; folding and storage are alerts.c's.
 */
#include "device_alerts.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "config_msg.h"

const char *ward_device_status_name(uint64_t status)
{
    static const char *const names[] = {
        [WARD_OK] = "ok",
        [WARD_E_ARG] = "argument",
        [WARD_E_BUFFER] = "buffer",
        [WARD_E_INCOMPLETE] = "incomplete",
        [WARD_E_MALFORMED] = "malformed",
        [WARD_E_UNSUPPORTED] = "unsupported",
        [WARD_E_AGAIN] = "again",
        [WARD_E_TRANSPORT] = "transport",
        [WARD_E_FULL] = "full",
        [WARD_NOTHING] = "nothing",
        [WARD_DROP] = "drop",
        [WARD_E_RANGE] = "out_of_range",
        [WARD_E_NOMEM] = "out_of_memory",
        [WARD_E_IO] = "io",
    };
    return status < sizeof names / sizeof names[0] ? names[status] : "unknown";
}

static void alert_begin(ward_alert_t *a, const char *type, const char *severity,
                        const char *device, const char *title, int64_t t_ms)
{
    memset(a, 0, sizeof *a);
    snprintf(a->type, sizeof a->type, "%s", type);
    snprintf(a->severity, sizeof a->severity, "%s", severity);
    snprintf(a->device, sizeof a->device, "%s", device);
    snprintf(a->title, sizeof a->title, "%s", title);
    a->first_seen_ms = a->last_seen_ms = t_ms;
    a->count = 1;
    snprintf(a->state, sizeof a->state, "active");
    a->evidence = json_object();
}

static int deny_hit(const ward_wire_report_t *r, const ward_wire_detection_t *d, int64_t base_ms,
                    ward_behavior_emit_fn emit, void *ctx)
{
    char ra[WARD_ADDR_STRLEN], pn[8], t[WARD_TIME_STRLEN];
    int64_t when = base_ms + (int64_t)d->time * 1000;
    ward_alert_t a;
    ward_addr_format(&d->remote_addr, ra, sizeof ra);
    alert_begin(&a, WARD_ALERT_DENY_HIT, "high", r->device_id,
                "Device blocked or flagged traffic on its deny-list", when);
    snprintf(a.fold_key, sizeof a.fold_key, "%s#%" PRIu64, ra, d->rule);
    json_t *ev = a.evidence;
    const char *action = ward_config_msg_action_name((unsigned)(d->action > 255 ? 255 : d->action));
    json_object_set_new(ev, "direction", json_string(ward_wire_direction_name(d->direction)));
    json_object_set_new(ev, "protocol", json_string(ward_wire_proto_name(d->proto, pn, sizeof pn)));
    json_object_set_new(ev, "remote_addr", json_string(ra));
    if (ward_wire_proto_is_icmp(d->proto)) {
        json_object_set_new(ev, "remote_port", json_integer(0));
        json_object_set_new(ev, "icmp_type", json_integer(d->remote_port >> 8));
        json_object_set_new(ev, "icmp_code", json_integer(d->remote_port & 0xff));
    } else {
        json_object_set_new(ev, "remote_port", json_integer(d->remote_port));
    }
    json_object_set_new(ev, "local_port", json_integer(d->local_port));
    json_object_set_new(ev, "rule", json_integer((json_int_t)d->rule));
    json_object_set_new(ev, "action", action ? json_string(action)
                                             : json_integer((json_int_t)d->action));
    json_object_set_new(ev, "count", json_integer((json_int_t)d->count));
    json_object_set_new(ev, "time", json_string(ward_time_iso(when, t, sizeof t)));
    json_object_set_new(ev, "config_rev", json_integer((json_int_t)r->config_rev));
    json_object_set_new(ev, "boot_id", json_integer(r->boot_id));
    json_object_set_new(ev, "seq", json_integer((json_int_t)r->seq));
    json_object_set_new(ev, "priority", json_boolean(r->priority));
    int rc = emit(ctx, &a);
    ward_alert_clear(&a);
    return rc;
}

static int config_rejected(const ward_wire_report_t *r, int64_t received_ms,
                           ward_behavior_emit_fn emit, void *ctx)
{
    ward_alert_t a;
    alert_begin(&a, WARD_ALERT_CONFIG_REJECTED, "medium", r->device_id,
                "Device rejected the config pushed to it", received_ms);
    snprintf(a.fold_key, sizeof a.fold_key, "%" PRIu64, r->config_status_rev);
    json_t *ev = a.evidence;
    json_object_set_new(ev, "revision", json_integer((json_int_t)r->config_status_rev));
    json_object_set_new(ev, "status", json_string(ward_device_status_name(r->config_status_code)));
    json_object_set_new(ev, "status_code", json_integer((json_int_t)r->config_status_code));
    json_object_set_new(ev, "reason", json_string(r->config_status_reason));
    json_object_set_new(ev, "config_rev", json_integer((json_int_t)r->config_rev));
    json_object_set_new(ev, "boot_id", json_integer(r->boot_id));
    json_object_set_new(ev, "seq", json_integer((json_int_t)r->seq));
    int rc = emit(ctx, &a);
    ward_alert_clear(&a);
    return rc;
}

int ward_device_alerts_report(const ward_wire_report_t *r, int64_t base_ms, int64_t received_ms,
                              ward_behavior_emit_fn emit, void *ctx)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->n_detections; i++)
        if (r->detections[i].kind == WARD_DK_DENY_LIST)
            rc = deny_hit(r, &r->detections[i], base_ms, emit, ctx);
    if (rc == 0 && r->has_config_status)
        rc = config_rejected(r, received_ms, emit, ctx);
    return rc;
}
