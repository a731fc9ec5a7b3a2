/*
 * flow: see flow.h.
 */
#include "flow.h"

#include "clock.h"
#include "wire.h"

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
