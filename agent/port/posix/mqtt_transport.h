/*
 * The MQTT transport of ward-agent: ward_transport_t over libmosquitto.
 *
 * Reports go to ward/v1/<device-id>/report at QoS 1, not retained; the client id is the device id;
 * the last will is a retained "offline" on ward/v1/<device-id>/status, and every (re)connection
 * publishes a retained "online" there. Lost connections are retried with exponential backoff.
 *
 * Config: every (re)connection subscribes to ward/v1/<device-id>/config at QoS 1 (the session is
 * clean, so a subscription does not survive a reconnection). A config message is the whole desired
 * state (docs/protocol.md, section 5), so one mailbox holding the latest message is enough: a
 * message that arrives before the main thread took the previous one replaces it.
 *
 * Threads: libmosquitto's network thread (mosquitto_loop_start) runs the callbacks; everything
 * else, including the publish function the agent core calls, runs in the caller's thread. The
 * shared state (connected, pending acknowledgements, errors) is under one mutex.
 */
#ifndef WARD_POSIX_MQTT_TRANSPORT_H
#define WARD_POSIX_MQTT_TRANSPORT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ward_posix_mqtt ward_posix_mqtt_t;

typedef struct ward_posix_mqtt_config {
    const char *device_id; /**< validated by the caller */
    const char *host;
    int port;
    const char *cafile;   /**< NULL: plain TCP */
    const char *certfile; /**< client certificate (with keyfile), or NULL */
    const char *keyfile;
} ward_posix_mqtt_config_t;

/**
 * Create the client and start connecting in the background.
 * @return the client, or NULL with a one-line reason in err
 */
ward_posix_mqtt_t *ward_posix_mqtt_start(const ward_posix_mqtt_config_t *cfg, char *err,
                                         size_t errlen);

/**
 * Wait until the broker accepted the connection.
 * @param timeout_ms how long to wait; negative: forever
 * @param stop       when not NULL, checked every 100 ms: non-zero ends the wait (a signal)
 * @return 0 when connected, -1 with a one-line reason in err (refused, unreachable, timeout),
 *         -2 when *stop became non-zero
 */
int ward_posix_mqtt_wait_connected(ward_posix_mqtt_t *m, int timeout_ms,
                                   const volatile sig_atomic_t *stop, char *err, size_t errlen);

/** The ward_transport_t publish function; ctx is the ward_posix_mqtt_t. */
int32_t ward_posix_mqtt_publish(void *ctx, const uint8_t *buf, size_t len, int priority);

/** Longest config message kept; a longer one is dropped with a message (a valid one is far
 * smaller: WARD_MAX_DENY entries of about 25 bytes). */
#define WARD_POSIX_CONFIG_MAX 4096

/**
 * Take the latest config message received, if any (main thread).
 * @param buf at least WARD_POSIX_CONFIG_MAX bytes
 * @return its length (0 is an empty message: a retained config was cleared), or -1 when none
 *         arrived since the last call
 */
long ward_posix_mqtt_take_config(ward_posix_mqtt_t *m, uint8_t *buf, size_t cap);

/**
 * Wait until the config subscription of the current connection is settled: the broker
 * acknowledged it and has sent the retained config, if there is one (it answers a second, empty
 * subscription made right after, and Mosquitto sends a subscription's retained messages before
 * it handles the next SUBSCRIBE).
 * @return 0 when settled, -1 on timeout
 */
int ward_posix_mqtt_wait_config_settled(ward_posix_mqtt_t *m, int timeout_ms);

/** Non-zero while connected to the broker. */
int ward_posix_mqtt_connected(ward_posix_mqtt_t *m);

/**
 * Wait until the broker acknowledged every message published so far (QoS 1 PUBACK).
 * @param timeout_ms how long to wait; negative: forever
 * @return 0 when nothing is pending, -1 on timeout
 */
int ward_posix_mqtt_wait_acked(ward_posix_mqtt_t *m, int timeout_ms);

/** Report parts accepted by ward_posix_mqtt_publish() so far. */
unsigned long ward_posix_mqtt_reports(ward_posix_mqtt_t *m);

/**
 * Say goodbye and free the client: when connected, publish a retained "offline" status, wait up
 * to timeout_ms for it (and anything still pending) to be acknowledged, then disconnect.
 */
void ward_posix_mqtt_stop(ward_posix_mqtt_t *m, int timeout_ms);

#endif /* WARD_POSIX_MQTT_TRANSPORT_H */
