/*
 * ingest: libmosquitto glue. See ingest.h.
 *
 * Readiness: ward_ingest_start returns once the broker acknowledged the subscription (on_subscribe)
 * or failed the connection (on_connect with an error), signalled through a mutex and condition
 * variable. After a reconnection (the network thread reconnects by itself) the subscription is
 * sent again; with a persistent session the broker already has it, and re-subscribing is harmless.
 */
#include "ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "clock.h"
#include "log.h"
#include "ward/proto.h"
#include "wire.h"

enum state { ST_CONNECTING, ST_READY, ST_FAILED };

struct ward_ingest {
    struct mosquitto *mosq;
    ward_queue_t *queue;
    ward_ingest_config_t cfg;
    char *host, *client_id;
    bool loop_started;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum state state;
    char failure[128];

    _Atomic uint64_t messages, lost, connects, disconnects;
    atomic_bool stopping;
};

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    ward_ingest_t *in = obj;
    if (rc != 0) {
        pthread_mutex_lock(&in->mu);
        if (in->state == ST_CONNECTING) {
            in->state = ST_FAILED;
            snprintf(in->failure, sizeof in->failure, "broker refused the connection: %s",
                     mosquitto_connack_string(rc));
            pthread_cond_broadcast(&in->cv);
        }
        pthread_mutex_unlock(&in->mu);
        WARD_ERROR("broker refused the connection: %s", mosquitto_connack_string(rc));
        return;
    }
    in->connects++;
    int src = mosquitto_subscribe(mosq, NULL, WARD_INGEST_TOPIC, 1);
    if (src != MOSQ_ERR_SUCCESS)
        WARD_ERROR("subscribe to %s failed: %s", WARD_INGEST_TOPIC, mosquitto_strerror(src));
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
                         const int *granted_qos)
{
    (void)mosq;
    (void)mid;
    ward_ingest_t *in = obj;
    bool ok = qos_count >= 1 && granted_qos[0] <= 2;
    pthread_mutex_lock(&in->mu);
    if (in->state == ST_CONNECTING) {
        in->state = ok ? ST_READY : ST_FAILED;
        if (!ok)
            snprintf(in->failure, sizeof in->failure, "broker refused the subscription to %s",
                     WARD_INGEST_TOPIC);
        pthread_cond_broadcast(&in->cv);
    }
    pthread_mutex_unlock(&in->mu);
    if (ok && granted_qos[0] < 1)
        WARD_WARN("broker granted QoS %d for %s: reports may be lost", granted_qos[0],
                  WARD_INGEST_TOPIC);
    if (!ok)
        WARD_ERROR("broker refused the subscription to %s", WARD_INGEST_TOPIC);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    ward_ingest_t *in = obj;
    if (rc != 0 && !in->stopping) {
        in->disconnects++;
        WARD_WARN("lost the broker connection (%s); reconnecting", mosquitto_strerror(rc));
    }
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    (void)mosq;
    ward_ingest_t *in = obj;
    in->messages++;
    /* A payload past the report size limit is rejected by the worker anyway: copying one byte
     * more than the limit is enough for it to say so, whatever the broker let through. */
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    if (len > WARD_WIRE_REPORT_MAX)
        len = WARD_WIRE_REPORT_MAX + 1;
    ward_msg_t *m = ward_msg_new(msg->topic, msg->payload, len, ward_now_ms());
    if (m == NULL) {
        in->lost++;
        WARD_ERROR("out of memory: a message of %d bytes on %s was lost", msg->payloadlen,
                   msg->topic);
        return;
    }
    if (in->cfg.prepare != NULL)
        in->cfg.prepare(in->cfg.prepare_ctx, m);
    if (!ward_queue_push(in->queue, m)) {
        in->lost++;
        WARD_ERROR("a message on %s arrived during shutdown and was lost", msg->topic);
        ward_msg_free(m);
    }
}

ward_ingest_t *ward_ingest_new(const ward_ingest_config_t *cfg, ward_queue_t *q, char *err,
                               size_t err_len)
{
    ward_ingest_t *in = calloc(1, sizeof *in);
    if (in == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    in->cfg = *cfg;
    in->queue = q;
    in->host = strdup(cfg->host);
    in->client_id = strdup(cfg->client_id);
    pthread_mutex_init(&in->mu, NULL);
    pthread_cond_init(&in->cv, NULL);
    mosquitto_lib_init();
    if (in->host != NULL && in->client_id != NULL)
        in->mosq = mosquitto_new(in->client_id, false, in);
    if (in->mosq == NULL) {
        snprintf(err, err_len, "cannot create the MQTT client: %s",
                 in->host && in->client_id ? strerror(errno) : "out of memory");
        ward_ingest_free(in);
        return NULL;
    }
    mosquitto_int_option(in->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    int trc = MOSQ_ERR_SUCCESS;
    if (cfg->cafile != NULL)
        trc = mosquitto_tls_set(in->mosq, cfg->cafile, NULL, cfg->certfile, cfg->keyfile, NULL);
    if (trc == MOSQ_ERR_SUCCESS && cfg->username != NULL)
        trc = mosquitto_username_pw_set(in->mosq, cfg->username, cfg->password);
    if (trc != MOSQ_ERR_SUCCESS) {
        snprintf(err, err_len, "cannot set up TLS or credentials: %s", mosquitto_strerror(trc));
        ward_ingest_free(in);
        return NULL;
    }
    mosquitto_reconnect_delay_set(in->mosq, 1, 30, true);
    mosquitto_connect_callback_set(in->mosq, on_connect);
    mosquitto_subscribe_callback_set(in->mosq, on_subscribe);
    mosquitto_disconnect_callback_set(in->mosq, on_disconnect);
    mosquitto_message_callback_set(in->mosq, on_message);
    return in;
}

int ward_ingest_start(ward_ingest_t *in, char *err, size_t err_len)
{
    int keepalive = in->cfg.keepalive_s > 0 ? in->cfg.keepalive_s : 30;
    int rc = mosquitto_connect(in->mosq, in->host, in->cfg.port, keepalive);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, err_len, "cannot connect to the broker at %s:%d: %s", in->host, in->cfg.port,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        return -1;
    }
    rc = mosquitto_loop_start(in->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, err_len, "cannot start the MQTT thread: %s", mosquitto_strerror(rc));
        return -1;
    }
    in->loop_started = true;

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    int wait_ms = in->cfg.ready_timeout_ms > 0 ? in->cfg.ready_timeout_ms : 10000;
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&in->mu);
    while (in->state == ST_CONNECTING)
        if (pthread_cond_timedwait(&in->cv, &in->mu, &deadline) == ETIMEDOUT)
            break;
    enum state st = in->state;
    if (st == ST_CONNECTING)
        snprintf(err, err_len,
                 "no subscription acknowledgement from the broker at %s:%d within %d ms", in->host,
                 in->cfg.port, wait_ms);
    else if (st == ST_FAILED)
        snprintf(err, err_len, "%s", in->failure);
    pthread_mutex_unlock(&in->mu);
    return st == ST_READY ? 0 : -1;
}

void ward_ingest_stop(ward_ingest_t *in)
{
    if (in == NULL || in->mosq == NULL)
        return;
    in->stopping = true;
    mosquitto_disconnect(in->mosq);
    if (in->loop_started) {
        /* force = false: the thread ends once the disconnect went out (or the link is down). */
        mosquitto_loop_stop(in->mosq, false);
        in->loop_started = false;
    }
}

void ward_ingest_free(ward_ingest_t *in)
{
    if (in == NULL)
        return;
    if (in->loop_started) {
        mosquitto_disconnect(in->mosq);
        mosquitto_loop_stop(in->mosq, true);
    }
    if (in->mosq != NULL)
        mosquitto_destroy(in->mosq);
    mosquitto_lib_cleanup();
    pthread_mutex_destroy(&in->mu);
    pthread_cond_destroy(&in->cv);
    free(in->host);
    free(in->client_id);
    free(in);
}

void ward_ingest_stats(ward_ingest_t *in, ward_ingest_stats_t *out)
{
    out->messages = in->messages;
    out->lost = in->lost;
    out->connects = in->connects;
    out->disconnects = in->disconnects;
}
