/*
 * Fuzz target for the service's config message decoder (service/config_msg.c), which reads the
 * untrusted retained message of ward/v1/<id>/config for `wardctl config show`. The input is one
 * config message. Invariants (abort on any broken one): a rejection is one of the documented
 * statuses with a reason; an accepted message passes validation, renders as JSON, re-encodes,
 * and decodes again to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_msg.h"

static int same(const ward_config_msg_t *a, const ward_config_msg_t *b)
{
    if (a->revision != b->revision || a->has_interval != b->has_interval ||
        a->has_collectors != b->has_collectors || a->has_deny != b->has_deny ||
        a->n_deny != b->n_deny)
        return 0;
    if (a->has_interval && a->interval != b->interval)
        return 0;
    if (a->has_collectors && a->collectors != b->collectors)
        return 0;
    for (size_t i = 0; i < a->n_deny; i++) {
        const ward_config_deny_t *x = &a->deny[i], *y = &b->deny[i];
        if (x->family != y->family || x->prefix != y->prefix || x->action != y->action ||
            memcmp(x->addr, y->addr, x->family == 4 ? 4 : 16) != 0)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ward_config_msg_t m, again;
    char reason[256] = "";
    ward_status_t st = ward_config_msg_decode(data, size, &m, reason, sizeof reason);
    if (st != WARD_OK) {
        if ((st != WARD_E_INCOMPLETE && st != WARD_E_MALFORMED && st != WARD_E_UNSUPPORTED &&
             st != WARD_E_RANGE && st != WARD_E_FULL) ||
            reason[0] == '\0')
            abort();
        return 0;
    }
    if (ward_config_msg_validate(&m, reason, sizeof reason) != WARD_OK)
        abort();
    json_t *j = ward_config_msg_json(&m);
    if (j == NULL)
        abort();
    json_decref(j);
    /* Host bits are kept as sent (the agent clears them): the round trip keeps them too. */
    uint8_t buf[WARD_CONFIG_MSG_MAX];
    size_t len = 0;
    if (ward_config_msg_encode(&m, buf, sizeof buf, &len, reason, sizeof reason) != WARD_OK)
        abort();
    if (ward_config_msg_decode(buf, len, &again, reason, sizeof reason) != WARD_OK ||
        !same(&m, &again))
        abort();
    return 0;
}
