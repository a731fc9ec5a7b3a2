/*
 * ward-agent's MQTT transport (see mqtt_transport.h). Owns the libmosquitto client and the state
 * its callbacks share with the main thread: connection state, the number of QoS 1 messages not yet
 * acknowledged, and the last error. Invariant: `pending` counts messages handed to libmosquitto
 * (which keeps QoS 1 messages queued across reconnections) whose PUBACK has not arrived.
 */
#include "mqtt_transport.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "ward/proto.h"

#define KEEPALIVE_S 30
#define RECONNECT_MIN_S 1
#define RECONNECT_MAX_S 30
#define TOPIC_MAX (sizeof WARD_TOPIC_PREFIX + WARD_DEVICE_ID_MAX + 16)

struct ward_posix_mqtt {
    struct mosquitto *mosq;
    char report_topic[TOPIC_MAX];
    char status_topic[TOPIC_MAX];
    char config_topic[TOPIC_MAX];
    char settle_topic[TOPIC_MAX]; /* subscribed after config_topic: its SUBACK is a barrier */
    char broker[300];             /* "host:port", for messages */
    int loop_started;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled on every change below */
    int connected;       /* CONNACK accepted, no disconnect since */
    int refused;         /* the broker refused the last CONNECT (CONNACK code != 0) */
    long pending;        /* QoS 1 messages without PUBACK */
    unsigned long reports;
    char last_error[200]; /* why the last connection attempt failed, "" if unknown */

    int settle_mid;     /* message id of the barrier SUBSCRIBE of this connection, 0 if none */
    int config_settled; /* its SUBACK arrived on this connection */
    int config_ready;   /* config[] holds a message the main thread has not taken */
    size_t config_len;
    uint8_t config[WARD_POSIX_CONFIG_MAX];
};

/* ---- time ---------------------------------------------------------------------------------- */

static void deadline_after(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec += 1;
        ts->tv_nsec -= 1000000000L;
    }
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Wait on m->cond (lock held) until the deadline; returns non-zero when it has passed. */
static int wait_until(ward_posix_mqtt_t *m, int timeout_ms, const struct timespec *deadline)
{
    if (timeout_ms < 0) {
        pthread_cond_wait(&m->cond, &m->lock);
        return 0;
    }
    return pthread_cond_timedwait(&m->cond, &m->lock, deadline) == ETIMEDOUT;
}

/* ---- callbacks (libmosquitto's network thread) --------------------------------------------- */

/* Publish a retained status ("online"/"offline"), counted as pending. Lock not held. */
static void publish_status(ward_posix_mqtt_t *m, const char *status)
{
    int rc;

    pthread_mutex_lock(&m->lock);
    m->pending++;
    pthread_mutex_unlock(&m->lock);
    rc = mosquitto_publish(m->mosq, NULL, m->status_topic, (int)strlen(status), status, 1, true);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
        pthread_mutex_lock(&m->lock);
        m->pending--;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
    }
}

/* Subscribe to our config topic (QoS 1), then to a topic nobody publishes: its SUBACK comes after
 * the retained config (see ward_posix_mqtt_wait_config_settled). Lock not held. */
static void subscribe_config(ward_posix_mqtt_t *m)
{
    int mid = 0;
    int rc = mosquitto_subscribe(m->mosq, NULL, m->config_topic, 1);

    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_subscribe(m->mosq, &mid, m->settle_topic, 0);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        /* The connection is going away; the next on_connect subscribes again. */
        fprintf(stderr, "ward-agent: cannot subscribe to %s: %s\n", m->config_topic,
                mosquitto_strerror(rc));
        return;
    }
    pthread_mutex_lock(&m->lock);
    m->settle_mid = mid;
    m->config_settled = 0;
    pthread_mutex_unlock(&m->lock);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
                         const int *granted_qos)
{
    ward_posix_mqtt_t *m = obj;
    (void)mosq;
    (void)qos_count;
    (void)granted_qos; /* refused (0x80) is an answer too: the barrier needs only the SUBACK */

    pthread_mutex_lock(&m->lock);
    if (mid == m->settle_mid && mid != 0) {
        m->config_settled = 1;
        pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    ward_posix_mqtt_t *m = obj;
    (void)mosq;

    if (msg->topic == NULL || strcmp(msg->topic, m->config_topic) != 0 || msg->payloadlen < 0) {
        return;
    }
    if ((size_t)msg->payloadlen > sizeof m->config) {
        fprintf(stderr, "ward-agent: ignored a config message of %d bytes (at most %zu)\n",
                msg->payloadlen, sizeof m->config);
        return;
    }
    /* Latest wins: a config message is the whole desired state. */
    pthread_mutex_lock(&m->lock);
    if (msg->payloadlen > 0) {
        memcpy(m->config, msg->payload, (size_t)msg->payloadlen);
    }
    m->config_len = (size_t)msg->payloadlen;
    m->config_ready = 1;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    ward_posix_mqtt_t *m = obj;
    (void)mosq;

    pthread_mutex_lock(&m->lock);
    if (rc == 0) {
        m->connected = 1;
        m->refused = 0;
        m->last_error[0] = '\0';
    } else {
        m->refused = 1;
        snprintf(m->last_error, sizeof m->last_error, "broker refused the connection: %s",
                 mosquitto_connack_string(rc));
    }
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (rc == 0) {
        publish_status(m, "online");
        subscribe_config(m);
    }
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    ward_posix_mqtt_t *m = obj;
    int was_connected;
    (void)mosq;

    pthread_mutex_lock(&m->lock);
    was_connected = m->connected;
    m->connected = 0;
    m->config_settled = 0;
    m->settle_mid = 0;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    /* rc 0 is our own mosquitto_disconnect(); anything else is a lost connection, which the
     * network thread retries with backoff while the core keeps aggregating. */
    if (rc != 0 && was_connected) {
        fprintf(stderr, "ward-agent: lost the connection to broker %s; reconnecting\n", m->broker);
    }
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    ward_posix_mqtt_t *m = obj;
    (void)mosq;
    (void)mid;

    pthread_mutex_lock(&m->lock);
    if (m->pending > 0) {
        m->pending--;
    }
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

/* ---- API ----------------------------------------------------------------------------------- */

ward_posix_mqtt_t *ward_posix_mqtt_start(const ward_posix_mqtt_config_t *cfg, char *err,
                                         size_t errlen)
{
    ward_posix_mqtt_t *m;
    pthread_condattr_t ca;
    int rc;

    m = calloc(1, sizeof *m);
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(m->report_topic, sizeof m->report_topic, "%s%s/%s", WARD_TOPIC_PREFIX, cfg->device_id,
             WARD_TOPIC_REPORT);
    snprintf(m->status_topic, sizeof m->status_topic, "%s%s/%s", WARD_TOPIC_PREFIX, cfg->device_id,
             WARD_TOPIC_STATUS);
    snprintf(m->config_topic, sizeof m->config_topic, "%s%s/%s", WARD_TOPIC_PREFIX, cfg->device_id,
             WARD_TOPIC_CONFIG);
    snprintf(m->settle_topic, sizeof m->settle_topic, "%s%s/%s/settled", WARD_TOPIC_PREFIX,
             cfg->device_id, WARD_TOPIC_CONFIG);
    snprintf(m->broker, sizeof m->broker, strchr(cfg->host, ':') ? "[%s]:%d" : "%s:%d", cfg->host,
             cfg->port);
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);

    mosquitto_lib_init();
    /* Clean session: reports are QoS 1 outbound only; nothing to resume on the broker side. */
    m->mosq = mosquitto_new(cfg->device_id, true, m);
    if (m->mosq == NULL) {
        snprintf(err, errlen, "cannot create MQTT client: %s", strerror(errno));
        goto fail;
    }
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_message_callback_set(m->mosq, on_message);
    mosquitto_reconnect_delay_set(m->mosq, RECONNECT_MIN_S, RECONNECT_MAX_S, true);
    rc = mosquitto_will_set(m->mosq, m->status_topic, (int)strlen("offline"), "offline", 1, true);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "cannot set the last will: %s", mosquitto_strerror(rc));
        goto fail;
    }
    if (cfg->cafile != NULL) {
        rc = mosquitto_tls_set(m->mosq, cfg->cafile, NULL, cfg->certfile, cfg->keyfile, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "TLS setup failed (--cafile/--cert/--key): %s",
                     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            goto fail;
        }
    }

    rc = mosquitto_connect_async(m->mosq, cfg->host, cfg->port, KEEPALIVE_S);
    if (rc == MOSQ_ERR_EAI || rc == MOSQ_ERR_INVAL) {
        snprintf(err, errlen, "cannot connect to broker %s: %s", m->broker,
                 rc == MOSQ_ERR_EAI ? "host name lookup failed" : mosquitto_strerror(rc));
        goto fail;
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        /* The network thread keeps retrying; remember why the first attempt failed. */
        snprintf(m->last_error, sizeof m->last_error, "%s",
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    }
    rc = mosquitto_loop_start(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "cannot start the MQTT network thread: %s", mosquitto_strerror(rc));
        goto fail;
    }
    m->loop_started = 1;
    return m;

fail:
    if (m->mosq != NULL) {
        mosquitto_destroy(m->mosq);
    }
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
    mosquitto_lib_cleanup();
    return NULL;
}

int ward_posix_mqtt_wait_connected(ward_posix_mqtt_t *m, int timeout_ms,
                                   const volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    struct timespec deadline;
    struct timespec slice;
    int ok;

    deadline_after(&deadline, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&m->lock);
    while (!m->connected && !m->refused) {
        if (stop != NULL && *stop) {
            pthread_mutex_unlock(&m->lock);
            return -2;
        }
        /* Wake every 100 ms to look at *stop: a signal does not wake a condition wait. */
        deadline_after(&slice, 100);
        if (timeout_ms >= 0 && !ts_before(&slice, &deadline)) {
            if (pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == ETIMEDOUT) {
                break;
            }
        } else {
            pthread_cond_timedwait(&m->cond, &m->lock, &slice);
        }
    }
    ok = m->connected;
    if (!ok) {
        if (m->refused) {
            snprintf(err, errlen, "%s (%s)", m->last_error, m->broker);
        } else if (m->last_error[0] != '\0') {
            snprintf(err, errlen, "cannot connect to broker %s: %s", m->broker, m->last_error);
        } else {
            snprintf(err, errlen, "cannot connect to broker %s: no answer within %d ms", m->broker,
                     timeout_ms);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return ok ? 0 : -1;
}

int32_t ward_posix_mqtt_publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    ward_posix_mqtt_t *m = ctx;
    int rc;
    (void)priority; /* one QoS 1 queue: libmosquitto sends in order, so nothing to reorder */

    if (m == NULL || buf == NULL || len == 0 || len > INT32_MAX) {
        return -1;
    }
    pthread_mutex_lock(&m->lock);
    if (!m->connected) {
        /* Not connected: "try later". The core keeps the data and aggregates it further. */
        pthread_mutex_unlock(&m->lock);
        return 0;
    }
    m->pending++;
    pthread_mutex_unlock(&m->lock);

    rc = mosquitto_publish(m->mosq, NULL, m->report_topic, (int)len, buf, 1, false);
    /* libmosquitto queues a QoS 1 message before it tries to send it, and resends it after a
     * reconnection: MOSQ_ERR_NO_CONN (the connection dropped just now) still means "queued". */
    pthread_mutex_lock(&m->lock);
    if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN) {
        m->reports++;
        pthread_mutex_unlock(&m->lock);
        return (int32_t)len;
    }
    m->pending--;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    fprintf(stderr, "ward-agent: publish failed: %s\n", mosquitto_strerror(rc));
    return -1;
}

long ward_posix_mqtt_take_config(ward_posix_mqtt_t *m, uint8_t *buf, size_t cap)
{
    long n = -1;

    pthread_mutex_lock(&m->lock);
    if (m->config_ready && m->config_len <= cap) {
        memcpy(buf, m->config, m->config_len);
        n = (long)m->config_len;
        m->config_ready = 0;
    }
    pthread_mutex_unlock(&m->lock);
    return n;
}

int ward_posix_mqtt_wait_config_settled(ward_posix_mqtt_t *m, int timeout_ms)
{
    struct timespec deadline;
    int timed_out = 0;
    int ok;

    deadline_after(&deadline, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&m->lock);
    while (!m->config_settled && !timed_out) {
        timed_out = wait_until(m, timeout_ms, &deadline);
    }
    ok = m->config_settled;
    pthread_mutex_unlock(&m->lock);
    return ok ? 0 : -1;
}

int ward_posix_mqtt_connected(ward_posix_mqtt_t *m)
{
    int c;

    pthread_mutex_lock(&m->lock);
    c = m->connected;
    pthread_mutex_unlock(&m->lock);
    return c;
}

int ward_posix_mqtt_wait_acked(ward_posix_mqtt_t *m, int timeout_ms)
{
    struct timespec deadline;
    int timed_out = 0;
    long left;

    deadline_after(&deadline, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&m->lock);
    while (m->pending > 0 && !timed_out) {
        timed_out = wait_until(m, timeout_ms, &deadline);
    }
    left = m->pending;
    pthread_mutex_unlock(&m->lock);
    return left > 0 ? -1 : 0;
}

unsigned long ward_posix_mqtt_reports(ward_posix_mqtt_t *m)
{
    unsigned long n;

    pthread_mutex_lock(&m->lock);
    n = m->reports;
    pthread_mutex_unlock(&m->lock);
    return n;
}

void ward_posix_mqtt_stop(ward_posix_mqtt_t *m, int timeout_ms)
{
    int connected;

    if (m == NULL) {
        return;
    }
    connected = ward_posix_mqtt_connected(m);
    if (connected) {
        /* A clean disconnect does not fire the last will: say "offline" ourselves. */
        publish_status(m, "offline");
        ward_posix_mqtt_wait_acked(m, timeout_ms);
    }
    mosquitto_disconnect(m->mosq);
    if (m->loop_started) {
        /* When never connected, the network thread may sit in a blocking connect() to an
         * unreachable host: do not wait for it. */
        mosquitto_loop_stop(m->mosq, connected ? false : true);
    }
    mosquitto_destroy(m->mosq);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
    mosquitto_lib_cleanup();
}
