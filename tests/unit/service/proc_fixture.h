/*
 * The fixture of the tests that feed reports to a processor (behaviour, hygiene, overflow,
 * on-device alerts): a processor (no intel) on a real SQLite file in
 * a fresh temporary folder, fed CBOR reports built with report_build.h, each handled in its own
 * transaction at a receive time the test chooses.
 */
#ifndef WARD_TEST_PROC_FIXTURE_H
#define WARD_TEST_PROC_FIXTURE_H

#include <stdint.h>

#include "process.h"
#include "report_build.h"

typedef struct fixture {
    char dir[64];
    char db[128];
    ward_store_t *store;
    ward_processor_t *proc;
    uint64_t seq;
} fixture_t;

/* cmocka setup and teardown. */
int proc_setup(void **state);
int proc_teardown(void **state);

/* Start a report of dev with the next sequence number (interval 60 s). */
void proc_report(fixture_t *fx, tb_report_t *r, const char *dev);

/* Encode r, handle it in its own transaction at receive time now; the processor's result. */
int proc_send(fixture_t *fx, tb_report_t *r, const char *dev, int64_t now);

#endif
