/*
 * wardctl config: see wardctl_config.h and docs/config.md.
 *
 * Everything the operator typed is checked before any connection is made (exit 2 with the
 * reason), with the agent's own rules (config_msg.h), so a config wardctl publishes is one the
 * agent applies. The MQTT client is libmosquitto driven by mosquitto_loop() from this one thread,
 * against one deadline (--timeout, 10 s by default) for the whole exchange:
 *  push/clear: CONNECT, PUBLISH retained at QoS 1, wait for its PUBACK, DISCONNECT;
 *  show:       CONNECT, SUBSCRIBE to the config topic and then to a topic nobody publishes: its
 *              SUBACK comes after any retained message of the first (the broker sends them in
 *              order), so "no config retained" is an answer, not a guess after a delay.
 * A broker's ACL may drop a publish it refuses and still acknowledge it (MQTT 3.1.1): `config
 * show` reads back what the broker holds.
 */
#include "wardctl_config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>

#include "config_msg.h"
#include "wire.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define TOPIC_MAX (sizeof WARD_TOPIC_PREFIX + WARD_DEVICE_ID_MAX + 32)

/* Options with a value, as both wardctl's main and this file know them (for is_command). */
static const char *const valued[] = {"--db",     "--device",        "--limit",    "--broker",
                                     "--cafile", "--cert",          "--key",      "--username",
                                     "--password-file", "--interval", "--collectors", "--deny",
                                     "--revision", "--timeout"};

int wardctl_config_is_command(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            return strcmp(a, "config") == 0;
        if (strcmp(a, "--") == 0)
            return i + 1 < argc && strcmp(argv[i + 1], "config") == 0;
        if (strchr(a, '=') != NULL)
            continue;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            if (strcmp(a, valued[k]) == 0) {
                i++;
                break;
            }
    }
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wardctl --broker HOST:PORT [--cafile F [--cert F --key F]]\n"
            "               [--username U --password-file F] [--timeout S] config COMMAND DEVICE\n"
            "  config push DEVICE [--interval S] [--collectors LIST] [--deny CIDR[:alert|drop]]...\n"
            "                     [--revision N]\n"
            "  config show DEVICE     print the config retained for DEVICE as JSON\n"
            "  config clear DEVICE    remove it from the broker (the device keeps its config)\n"
            "\n"
            "  --interval S       report interval, %d..%d s (default: the agent's own)\n"
            "  --collectors LIST  comma-separated: flows,listening,sysinfo,counters,metrics, or\n"
            "                     none (default: all)\n"
            "  --deny CIDR[:alert|drop]  a deny-list entry (at most %d; default action alert;\n"
            "                     drop with prefix /0 is refused)\n"
            "  --revision N       the config revision, > 0 (default: the current Unix time)\n"
            "  --timeout S        give up on the broker after S seconds (default 10)\n"
            "\n"
            "A push replaces the whole config: a field left out takes the agent's built-in value.\n"
            "Exit status: 0 ok, 1 error, 2 usage error. See docs/config.md.\n",
            WARD_CONFIG_MSG_INTERVAL_MIN, WARD_CONFIG_MSG_INTERVAL_MAX, WARD_CONFIG_MSG_DENY_MAX);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "wardctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see wardctl config --help)\n");
    return EXIT_USAGE;
}

typedef struct opts {
    char host[256];
    int port;
    const char *cafile, *cert, *key, *username, *password_file;
    long timeout_s;
} opts_t;

/* An unsigned number in [lo, hi]. */
static bool number(const char *s, unsigned long long lo, unsigned long long hi,
                   unsigned long long *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* HOST:PORT, [IPv6]:PORT. */
static bool parse_broker(const char *s, opts_t *o)
{
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return false;
        hlen = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || strchr(s, ':') != colon)
            return false;
        hlen = (size_t)(colon - s);
    }
    unsigned long long port;
    if (hlen == 0 || hlen >= sizeof o->host || !number(colon + 1, 1, 65535, &port))
        return false;
    memcpy(o->host, s, hlen);
    o->host[hlen] = '\0';
    o->port = (int)port;
    return true;
}

/* ---- MQTT -------------------------------------------------------------------------------- */

typedef struct session {
    struct mosquitto *mosq;
    int connack; /* -1 waiting, else the CONNACK code */
    int connected;
    int pub_mid, pub_done;
    int barrier_mid, barrier_done;
    char topic[TOPIC_MAX];
    bool got;
    uint8_t *payload;
    size_t len;
} session_t;

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    ((session_t *)obj)->connack = rc;
    ((session_t *)obj)->connected = rc == 0;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    session_t *s = obj;
    (void)m;
    if (mid == s->pub_mid)
        s->pub_done = 1;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    session_t *s = obj;
    (void)m;
    (void)n;
    (void)granted;
    if (mid == s->barrier_mid)
        s->barrier_done = 1;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    session_t *s = obj;
    (void)m;
    if (msg->topic == NULL || strcmp(msg->topic, s->topic) != 0 || msg->payloadlen < 0)
        return;
    free(s->payload);
    s->payload = NULL;
    s->len = 0;
    s->got = msg->payloadlen > 0; /* an empty message is no config */
    if (s->got && (s->payload = malloc((size_t)msg->payloadlen)) != NULL) {
        memcpy(s->payload, msg->payload, (size_t)msg->payloadlen);
        s->len = (size_t)msg->payloadlen;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the network loop until *flag is set, the connection fails, or the deadline. */
static int wait_for(session_t *s, const int *flag, double deadline, const char *what,
                    const opts_t *o)
{
    while (!*flag) {
        if (s->connack > 0) {
            fprintf(stderr, "wardctl: error: broker %s:%d refused the connection: %s\n", o->host,
                    o->port, mosquitto_connack_string(s->connack));
            return EXIT_RUNTIME;
        }
        double left = deadline - now_s();
        if (left <= 0) {
            fprintf(stderr, "wardctl: error: broker %s:%d: no %s within %ld s\n", o->host, o->port,
                    what, o->timeout_s);
            return EXIT_RUNTIME;
        }
        int rc = mosquitto_loop(s->mosq, left > 0.1 ? 100 : 10, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "wardctl: error: broker %s:%d: %s\n", o->host, o->port,
                    rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            return EXIT_RUNTIME;
        }
    }
    return 0;
}

static int connect_broker(session_t *s, const opts_t *o, double deadline)
{
    static char password[256];
    char id[48];
    if (o->password_file != NULL) {
        FILE *f = fopen(o->password_file, "r");
        bool ok = f != NULL && fgets(password, (int)sizeof password, f) != NULL;
        if (f != NULL)
            fclose(f);
        if (!ok) {
            fprintf(stderr, "wardctl: error: cannot read --password-file %s: %s\n",
                    o->password_file, f == NULL ? strerror(errno) : "empty");
            return EXIT_RUNTIME;
        }
        password[strcspn(password, "\r\n")] = '\0';
    }
    snprintf(id, sizeof id, "wardctl-%ld", (long)getpid());
    s->connack = -1;
    s->mosq = mosquitto_new(id, true, s);
    if (s->mosq == NULL) {
        fprintf(stderr, "wardctl: error: out of memory\n");
        return EXIT_RUNTIME;
    }
    mosquitto_connect_callback_set(s->mosq, on_connect);
    mosquitto_publish_callback_set(s->mosq, on_publish);
    mosquitto_subscribe_callback_set(s->mosq, on_subscribe);
    mosquitto_message_callback_set(s->mosq, on_message);
    int rc = MOSQ_ERR_SUCCESS;
    if (o->cafile != NULL)
        rc = mosquitto_tls_set(s->mosq, o->cafile, NULL, o->cert, o->key, NULL);
    if (rc == MOSQ_ERR_SUCCESS && o->username != NULL)
        rc = mosquitto_username_pw_set(s->mosq, o->username,
                                       o->password_file != NULL ? password : NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "wardctl: error: TLS or credentials: %s\n", mosquitto_strerror(rc));
        return EXIT_RUNTIME;
    }
    rc = mosquitto_connect(s->mosq, o->host, o->port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "wardctl: error: cannot connect to broker %s:%d: %s\n", o->host, o->port,
                rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        return EXIT_RUNTIME;
    }
    return wait_for(s, &s->connected, deadline, "CONNACK", o);
}

static void session_end(session_t *s)
{
    if (s->mosq != NULL) {
        mosquitto_disconnect(s->mosq);
        mosquitto_loop(s->mosq, 50, 1); /* send the DISCONNECT */
        mosquitto_destroy(s->mosq);
    }
    free(s->payload);
    mosquitto_lib_cleanup();
}

/* Publish payload retained at QoS 1 and wait for its PUBACK. */
static int publish(const opts_t *o, const char *topic, const uint8_t *payload, size_t len)
{
    session_t s;
    memset(&s, 0, sizeof s);
    mosquitto_lib_init();
    double deadline = now_s() + (double)o->timeout_s;
    int rc = connect_broker(&s, o, deadline);
    if (rc == 0) {
        int prc = mosquitto_publish(s.mosq, &s.pub_mid, topic, (int)len, payload, 1, true);
        if (prc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "wardctl: error: publish to %s: %s\n", topic, mosquitto_strerror(prc));
            rc = EXIT_RUNTIME;
        } else {
            rc = wait_for(&s, &s.pub_done, deadline, "PUBACK", o);
        }
    }
    session_end(&s);
    return rc;
}

/* The retained message of topic (session s->got / payload). */
static int fetch(const opts_t *o, const char *topic, session_t *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    mosquitto_lib_init();
    double deadline = now_s() + (double)o->timeout_s;
    int rc = connect_broker(s, o, deadline);
    char barrier[TOPIC_MAX + 16];
    snprintf(barrier, sizeof barrier, "%s/settled", s->topic);
    if (rc == 0) {
        int src = mosquitto_subscribe(s->mosq, NULL, s->topic, 1);
        if (src == MOSQ_ERR_SUCCESS)
            src = mosquitto_subscribe(s->mosq, &s->barrier_mid, barrier, 0);
        if (src != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "wardctl: error: subscribe to %s: %s\n", s->topic,
                    mosquitto_strerror(src));
            rc = EXIT_RUNTIME;
        } else {
            rc = wait_for(s, &s->barrier_done, deadline, "SUBACK", o);
        }
    }
    return rc;
}

/* ---- Commands ------------------------------------------------------------------------------ */

static int cmd_push(const opts_t *o, const char *device, const char *topic,
                    ward_config_msg_t *m, bool has_rev)
{
    uint8_t buf[WARD_CONFIG_MSG_MAX];
    size_t len = 0;
    char reason[256];
    if (!has_rev)
        m->revision = (uint64_t)time(NULL);
    ward_status_t st = ward_config_msg_encode(m, buf, sizeof buf, &len, reason, sizeof reason);
    if (st != WARD_OK) {
        fprintf(stderr, "wardctl: config is invalid: %s\n", reason);
        return EXIT_USAGE;
    }
    int rc = publish(o, topic, buf, len);
    if (rc == 0)
        printf("config revision %llu published for %s (%zu bytes, retained on %s)\n",
               (unsigned long long)m->revision, device, len, topic);
    return rc;
}

static int cmd_show(const opts_t *o, const char *device, const char *topic)
{
    session_t s;
    int rc = fetch(o, topic, &s);
    if (rc == 0 && !s.got) {
        fprintf(stderr, "wardctl: no config is retained for %s (on %s)\n", device, topic);
        rc = EXIT_RUNTIME;
    } else if (rc == 0 && s.payload == NULL) {
        fprintf(stderr, "wardctl: error: out of memory\n");
        rc = EXIT_RUNTIME;
    } else if (rc == 0) {
        ward_config_msg_t m;
        char reason[256];
        ward_status_t st = ward_config_msg_decode(s.payload, s.len, &m, reason, sizeof reason);
        if (st != WARD_OK) {
            fprintf(stderr,
                    "wardctl: the config retained for %s (%zu bytes) is invalid; the agent "
                    "rejects it (status %d): %s\n",
                    device, s.len, (int)st, reason);
            rc = EXIT_RUNTIME;
        } else {
            json_t *j = ward_config_msg_json(&m);
            json_object_set_new(j, "device", json_string(device));
            json_object_set_new(j, "bytes", json_integer((json_int_t)s.len));
            rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0
                                                                                 : EXIT_RUNTIME;
            printf("\n");
            json_decref(j);
        }
    }
    session_end(&s);
    return rc;
}

int wardctl_config(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},   {"cafile", required_argument, NULL, 'C'},
        {"cert", required_argument, NULL, 'c'},     {"key", required_argument, NULL, 'k'},
        {"username", required_argument, NULL, 'u'}, {"password-file", required_argument, NULL, 'P'},
        {"interval", required_argument, NULL, 'i'}, {"collectors", required_argument, NULL, 'L'},
        {"deny", required_argument, NULL, 'd'},     {"revision", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opts_t o;
    ward_config_msg_t m;
    char reason[256];
    bool has_broker = false, has_rev = false, has_fields = false;
    unsigned long long v;
    int c;
    memset(&o, 0, sizeof o);
    o.timeout_s = 10;
    ward_config_msg_init(&m, 0);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (!parse_broker(optarg, &o))
                return usage_error("--broker wants HOST:PORT (or [IPv6]:PORT), got \"%s\"",
                                   optarg);
            has_broker = true;
            break;
        case 'C':
            o.cafile = optarg;
            break;
        case 'c':
            o.cert = optarg;
            break;
        case 'k':
            o.key = optarg;
            break;
        case 'u':
            o.username = optarg;
            break;
        case 'P':
            o.password_file = optarg;
            break;
        case 'i':
            if (!number(optarg, WARD_CONFIG_MSG_INTERVAL_MIN, WARD_CONFIG_MSG_INTERVAL_MAX, &v))
                return usage_error("--interval wants seconds in 10..86400, got \"%s\"", optarg);
            m.interval = (uint32_t)v;
            m.has_interval = has_fields = true;
            break;
        case 'L':
            if (ward_config_msg_parse_collectors(optarg, &m.collectors, reason, sizeof reason) !=
                WARD_OK)
                return usage_error("%s", reason);
            m.has_collectors = has_fields = true;
            break;
        case 'd':
            if (m.n_deny == WARD_CONFIG_MSG_DENY_MAX)
                return usage_error("--deny %s: more than 8 deny-list entries (the agent holds "
                                   "at most 8)",
                                   optarg);
            if (ward_config_msg_parse_deny(optarg, &m.deny[m.n_deny], reason, sizeof reason) !=
                WARD_OK)
                return usage_error("%s", reason);
            m.n_deny++;
            m.has_deny = has_fields = true;
            break;
        case 'r':
            if (!number(optarg, 1, (unsigned long long)INT64_MAX, &v))
                return usage_error("--revision wants a number > 0, got \"%s\"", optarg);
            m.revision = v;
            has_rev = has_fields = true;
            break;
        case 't':
            if (!number(optarg, 1, 3600, &v))
                return usage_error("--timeout wants seconds in 1..3600, got \"%s\"", optarg);
            o.timeout_s = (long)v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return usage_error("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    /* Left: config COMMAND DEVICE. */
    if (optind >= argc || strcmp(argv[optind], "config") != 0)
        return usage_error("%s", "expected: config push|show|clear DEVICE");
    optind++;
    if (optind >= argc)
        return usage_error("%s", "config needs a command: push, show or clear");
    const char *cmd = argv[optind++];
    if (strcmp(cmd, "push") != 0 && strcmp(cmd, "show") != 0 && strcmp(cmd, "clear") != 0)
        return usage_error("unknown config command \"%s\" (push, show or clear)", cmd);
    if (optind >= argc)
        return usage_error("config %s needs a DEVICE", cmd);
    const char *device = argv[optind++];
    if (!ward_wire_device_id_valid(device, strlen(device)))
        return usage_error("\"%s\" is not a device id (1..64 of [A-Za-z0-9._-])", device);
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (strcmp(cmd, "push") != 0 && has_fields)
        return usage_error("config %s takes no --interval, --collectors, --deny or --revision",
                           cmd);
    if (!has_broker)
        return usage_error("config %s needs --broker HOST:PORT", cmd);
    if ((o.cert == NULL) != (o.key == NULL))
        return usage_error("%s", "--cert and --key go together");
    if (o.cert != NULL && o.cafile == NULL)
        return usage_error("%s", "--cert and --key need --cafile");
    if (o.password_file != NULL && o.username == NULL)
        return usage_error("%s", "--password-file needs --username");
    if (has_rev && ward_config_msg_validate(&m, reason, sizeof reason) != WARD_OK)
        return usage_error("%s", reason);

    char topic[TOPIC_MAX];
    snprintf(topic, sizeof topic, "%s%s/%s", WARD_TOPIC_PREFIX, device, WARD_TOPIC_CONFIG);
    if (strcmp(cmd, "push") == 0)
        return cmd_push(&o, device, topic, &m, has_rev);
    if (strcmp(cmd, "show") == 0)
        return cmd_show(&o, device, topic);
    int rc = publish(&o, topic, NULL, 0);
    if (rc == 0)
        printf("config of %s cleared on the broker (the device keeps the one in force)\n", device);
    return rc;
}
