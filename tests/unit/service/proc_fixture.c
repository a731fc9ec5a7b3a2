/* See proc_fixture.h. */
#include "proc_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

int proc_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    char err[256];
    if (fx == NULL)
        return -1;
    tb_tmpdir(fx->dir);
    snprintf(fx->db, sizeof fx->db, "%s/ward.db", fx->dir);
    fx->store = ward_store_open(fx->db, false, err, sizeof err);
    fx->proc = fx->store ? ward_processor_new(fx->store, NULL, NULL) : NULL;
    fx->seq = 1;
    *state = fx;
    return fx->proc ? 0 : -1;
}

int proc_teardown(void **state)
{
    fixture_t *fx = *state;
    ward_processor_free(fx->proc);
    ward_store_close(fx->store);
    tb_rmtree(fx->dir);
    free(fx);
    return 0;
}

void proc_report(fixture_t *fx, tb_report_t *r, const char *dev)
{
    tb_init(r, dev, fx->seq++);
    tb_set(r, 9, tb_uint(60));
}

int proc_send(fixture_t *fx, tb_report_t *r, const char *dev, int64_t now)
{
    char topic[128];
    size_t len;
    snprintf(topic, sizeof topic, "ward/v1/%s/report", dev);
    uint8_t *buf = tb_encode(r, &len);
    assert_int_equal(ward_processor_begin(fx->proc), 0);
    int rc = ward_processor_handle(fx->proc, topic, buf, len, now);
    assert_int_equal(ward_processor_end(fx->proc), 0);
    free(buf);
    return rc;
}
