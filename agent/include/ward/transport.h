/*
 * The transport contract: how the agent core hands a finished report part to the port, which
 * publishes it (MQTT on ward/v1/<device-id>/report at QoS 1 in every port ward ships).
 */
#ifndef WARD_TRANSPORT_H
#define WARD_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ward_transport {
    /**
     * Publish one encoded report part. Never blocks.
     * @param ctx      the transport's own context (ward_transport_t.ctx)
     * @param buf      the CBOR bytes; valid only during the call (copy them to keep them)
     * @param len      number of bytes in buf
     * @param priority non-zero for a priority report (on-device detection): send before others
     * @return len when the part was accepted (the transport now owns its delivery),
     *         0 to mean "try later" (not connected, queue full): the core keeps the data and
     *         reports it, aggregated further, next time,
     *         a negative value when the transport failed (treated like 0 by the core, and counted).
     */
    int32_t (*publish)(void *ctx, const uint8_t *buf, size_t len, int priority);
    void *ctx;
} ward_transport_t;

#endif /* WARD_TRANSPORT_H */
