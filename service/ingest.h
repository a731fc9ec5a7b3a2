/*
 * ingest: the MQTT client. Subscribes to ward/v1/+/report at QoS 1 with a persistent session
 * (clean_session = false, a fixed client id), so the broker keeps reports that arrive while wardd
 * is down and delivers them when it comes back.
 *
 * Threads: libmosquitto's network thread (mosquitto_loop_start) runs every callback. on_message
 * copies topic and payload, runs the configured prepare hook on the copy (pure work, no I/O), and
 * queues it (waiting if the queue is full, never dropping). Start and stop are called from the
 * main thread.
 */
#ifndef WARD_INGEST_H
#define WARD_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#define WARD_INGEST_TOPIC WARD_TOPIC_PREFIX "+/" WARD_TOPIC_REPORT

typedef struct ward_ingest ward_ingest_t;

typedef struct ward_ingest_config {
    const char *host;
    int port;
    const char *client_id; /**< fixed across restarts: it names the persistent session */
    int keepalive_s;
    int ready_timeout_ms; /**< how long ward_ingest_start waits for CONNACK + SUBACK */
    const char *cafile;   /**< non-NULL: TLS, trusting the CAs in this file */
    const char *certfile; /**< TLS client certificate (with keyfile), or NULL */
    const char *keyfile;
    const char *username; /**< MQTT user name, or NULL */
    const char *password; /**< MQTT password (with username), or NULL */
    /** Optional: called on the MQTT thread for each message before it is queued (wardd:
     *  ward_processor_prepare_on_thread, the decoding and intel lookups). NULL: queued as is. */
    void (*prepare)(void *ctx, ward_msg_t *m);
    void *prepare_ctx;
} ward_ingest_config_t;

typedef struct ward_ingest_stats {
    uint64_t messages;    /**< messages received from the broker */
    uint64_t lost;        /**< messages that could not be queued (out of memory, shutdown) */
    uint64_t connects;    /**< successful (re)connections */
    uint64_t disconnects; /**< unexpected disconnections */
} ward_ingest_stats_t;

/** Create the client; q is borrowed and must outlive it. NULL + err on failure. */
ward_ingest_t *ward_ingest_new(const ward_ingest_config_t *cfg, ward_queue_t *q, char *err,
                               size_t err_len);

/** Connect, start the network thread, subscribe and wait for the SUBACK. 0 ok, -1 + err. */
int ward_ingest_start(ward_ingest_t *in, char *err, size_t err_len);

/** Disconnect and stop the network thread: no callback runs after this returns. */
void ward_ingest_stop(ward_ingest_t *in);

void ward_ingest_free(ward_ingest_t *in);

void ward_ingest_stats(ward_ingest_t *in, ward_ingest_stats_t *out);

#endif
