/*
 * wire_ref: the report decoder as it was before service/wire.c read CBOR itself (libcbor's tree
 * loader), kept as the reference of the differential tests. Test-only.
 */
#ifndef WARD_TEST_WIRE_REF_H
#define WARD_TEST_WIRE_REF_H

#include "wire.h"

/* Exactly what ward_wire_decode returned before: same status, reason and report. */
ward_status_t wire_ref_decode(const uint8_t *buf, size_t len, ward_wire_report_t *out, char *reason,
                              size_t reason_len);

/*
 * Decode buf with ward_wire_decode and with wire_ref_decode: true when both give the same status,
 * the same reason text and (on WARD_OK) the same report, field by field. Otherwise false, and diff
 * (if not NULL) says how they differ.
 */
bool wire_ref_same(const uint8_t *buf, size_t len, char *diff, size_t diff_len);

#endif
