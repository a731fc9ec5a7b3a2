/*
 * flow: see flow.h.
 */
#include "flow.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "wire.h"

int64_t ward_flow_time_base(const ward_wire_report_t *r, int64_t received_ms)
{
    return r->time_base == WARD_TIME_UNIX
               ? (int64_t)r->period_start
               : received_ms - (int64_t)(r->period_end - r->period_start);
}

void ward_flow_from_wire(ward_flow_t *f, const ward_wire_report_t *r, size_t i, const char *device,
                         int64_t base_ms)
{
    ward_flow_from_wire_n(f, r, i, device, strnlen(device, sizeof f->device - 1), base_ms);
}

void ward_flow_from_wire_n(ward_flow_t *f, const ward_wire_report_t *r, size_t i,
                           const char *device, size_t n, int64_t base_ms)
{
    const ward_wire_flow_t *w = &r->flows[i];
    if (n > sizeof f->device - 1)
        n = sizeof f->device - 1;
    memcpy(f->device, device, n);
    f->device[n] = '\0';
    f->proto = w->proto;
    f->initiator = w->initiator;
    if (w->local_index < r->n_local_addrs) /* checked by the decoder; never trusted blindly */
        f->local_addr = r->local_addrs[w->local_index];
    else
        memset(&f->local_addr, 0, sizeof f->local_addr);
    f->local_port = w->local_port;
    f->remote_addr = w->remote_addr;
    f->remote_port_raw = w->remote_port;
    f->packets_in = w->packets_in;
    f->packets_out = w->packets_out;
    f->bytes_in = w->bytes_in;
    f->bytes_out = w->bytes_out;
    f->first_seen_ms = base_ms + (int64_t)w->first * 1000;
    f->last_seen_ms = base_ms + (int64_t)w->last * 1000;
    f->has_tcp_flags = w->has_tcp_flags;
    f->tcp_flags = w->tcp_flags;
}

uint16_t ward_flow_remote_port(const ward_flow_t *f)
{
    return ward_wire_proto_is_icmp(f->proto) ? 0 : f->remote_port_raw;
}

void ward_flow_json_fields(const ward_flow_t *f, json_t *o, const char *dir_key)
{
    char pb[8], la[WARD_ADDR_STRLEN], ra[WARD_ADDR_STRLEN], t1[WARD_TIME_STRLEN],
        t2[WARD_TIME_STRLEN];
    ward_addr_format(&f->local_addr, la, sizeof la);
    ward_addr_format(&f->remote_addr, ra, sizeof ra);
    json_object_set_new(o, "protocol", json_string(ward_wire_proto_name(f->proto, pb, sizeof pb)));
    json_object_set_new(o, "local_addr", json_string(la));
    json_object_set_new(o, "local_port", json_integer(f->local_port));
    json_object_set_new(o, "remote_addr", json_string(ra));
    json_object_set_new(o, "remote_port", json_integer(ward_flow_remote_port(f)));
    if (ward_wire_proto_is_icmp(f->proto)) {
        json_object_set_new(o, "icmp_type", json_integer(f->remote_port_raw >> 8));
        json_object_set_new(o, "icmp_code", json_integer(f->remote_port_raw & 0xff));
    }
    json_object_set_new(o, dir_key, json_string(ward_wire_direction_name(f->initiator)));
    json_object_set_new(o, "packets_in", json_integer((json_int_t)f->packets_in));
    json_object_set_new(o, "packets_out", json_integer((json_int_t)f->packets_out));
    json_object_set_new(o, "bytes_in", json_integer((json_int_t)f->bytes_in));
    json_object_set_new(o, "bytes_out", json_integer((json_int_t)f->bytes_out));
    json_object_set_new(o, "first_seen",
                        json_string(ward_time_iso(f->first_seen_ms, t1, sizeof t1)));
    json_object_set_new(o, "last_seen", json_string(ward_time_iso(f->last_seen_ms, t2, sizeof t2)));
    if (f->has_tcp_flags) {
        json_object_set_new(o, "tcp_flags_out", json_integer(f->tcp_flags & 0xff));
        json_object_set_new(o, "tcp_flags_in", json_integer(f->tcp_flags >> 8));
    }
}

json_t *ward_flow_json(const ward_flow_t *f)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "device", json_string(f->device));
    ward_flow_json_fields(f, o, "initiator");
    return o;
}
