/*
 * wardd: the ward service. Receives device reports over MQTT, checks them, stores devices, flows
 * and alerts in SQLite, and appends new alerts to a JSON-lines file.
 *
 * Threads and who owns what:
 *
 *   MQTT network thread (libmosquitto, ingest.c)      worker thread (process.c)
 *   on_message: copy topic + payload, then prepare ──> pop a batch (<= 4096, waits <= 100 ms):
 *   it (process.c, ward_processor_prepare_on_thread):  drop duplicates, store the report part
 *   decode + validate (wire.c, into a reused block),   (its bytes are the flow history),
 *   flows, contact keys, intel lookups of every flow   devices, contacts, alerts (alerts.c),
 *   (intel.c, RCU reader); then into a bounded queue   rules, detectors, hygiene — one SQLite
 *   (queue.c; waits when full, never drops a QoS 1     transaction per batch (store.c), then
 *   message)                                           new alerts to the JSONL sink
 *   main thread: parses flags, opens the store, loads the intel feeds (intel.c: the first index,
 *   then a watcher thread for files and folders and a poller thread for URLs and TAXII, which
 *   build each new index beside the live one and publish it with one pointer swap),
 *   starts the worker and the MQTT client, prints "ready" once the broker acknowledged the
 *   subscription, then waits for SIGTERM/SIGINT.
 *
 * The worker owns the store's only write connection and the sink; it and the MQTT thread read the
 * live intel index as RCU readers (never waiting for a reload); the worker works off retro-hunts
 * (retro.c) between batches. The queue and the pool of prepared blocks are the only structures two
 * threads touch (each has its own lock). (process.c can also run a decoder thread of its own,
 * ward_processor_start: tests and tools use it; wardd saves that thread and its queue.)
 *
 * Shutdown (SIGTERM/SIGINT): disconnect from the broker and stop the network thread (no callback
 * runs after that), close the queue, let the worker drain it and commit, then
 * close the sink and the database. Everything the broker handed over is processed and written.
 * Reports published while wardd is down wait in the broker's persistent session for client id
 * "wardd" (subject to the broker's max_queued_messages limit).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "alerts.h"
#include "ingest.h"
#include "intel.h"
#include "intel_fetch.h"
#include "log.h"
#include "process.h"
#include "queue.h"
#include "retro.h"
#include "store.h"
#include "wire.h"

#define QUEUE_CAPACITY 4096
#define QUEUE_BYTES (256u << 20)
#define MAX_INTEL_SOURCES 64

typedef struct options {
    char host[256];
    int port;
    const char *db;
    ward_intel_source_cfg_t intel[MAX_INTEL_SOURCES];
    int n_intel;
    ward_feed_format_t intel_format; /* for the --intel / --intel-url options that follow */
    unsigned url_interval_s;
    unsigned history_days;
    const char *alerts_jsonl;
    const char *client_id;
    const char *cafile, *certfile, *keyfile, *username, *password_file;
    bool verbose;
} options_t;

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: wardd --broker HOST:PORT --db PATH [--intel PATH]... [--intel-format NAME]\n"
        "             [--intel-url URL]... [--taxii URL]... [--intel-url-interval S]\n"
        "             [--history-days N] [--alerts-jsonl PATH]\n"
        "             [--client-id ID] [--cafile FILE [--cert FILE --key FILE]]\n"
        "             [--username NAME --password-file FILE] [--verbose]\n"
        "\n"
        "Receives ward device reports (MQTT topic ward/v1/+/report, QoS 1, persistent\n"
        "session), stores devices, flows and alerts in a SQLite database, and raises an\n"
        "alert for every flow whose remote address is on a threat-intelligence feed.\n"
        "\n"
        "  --broker HOST:PORT    MQTT broker (IPv6: [ADDR]:PORT)\n"
        "  --db PATH             SQLite database (created if missing)\n"
        "  --intel PATH          feed file or folder of feeds, any supported format,\n"
        "                        watched and reloaded on change (repeatable)\n"
        "  --intel-format NAME   format of the --intel/--intel-url feeds after it (plain,\n"
        "                        drop, drop-json, netset, feodo-csv, zeek, iprep,\n"
        "                        iprep-categories, misp-csv, misp-json, stix; default auto)\n"
        "  --intel-url URL       feed polled over http(s) (repeatable)\n"
        "  --taxii URL           TAXII 2.1 collection objects endpoint, polled (repeatable)\n"
        "  --intel-url-interval S  poll interval of URLs and TAXII, seconds (default 3600)\n"
        "  --history-days N      days of contact history kept for the retro-hunt (default 7)\n"
        "  --alerts-jsonl PATH   append each new alert to PATH as one JSON line\n"
        "  --client-id ID        MQTT client id naming the persistent session (default wardd)\n"
        "  --cafile FILE         connect with TLS, trusting the CAs in FILE\n"
        "  --cert FILE --key FILE  TLS client certificate and its key\n"
        "  --username NAME       MQTT user name\n"
        "  --password-file FILE  MQTT password: the first line of FILE (not on the command line,\n"
        "                        where other users could read it)\n"
        "  --verbose             log debug messages\n"
        "  --help                show this help\n"
        "\n"
        "Prints a line containing \"ready\" on stdout once subscribed. SIGTERM or SIGINT stops\n"
        "it after everything received has been processed and written.\n");
}

/* "host:port", "[v6]:port". */
static bool parse_broker(const char *s, options_t *o)
{
    const char *colon;
    size_t hlen;
    const char *h = s;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            return false;
        h = s + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return false;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof o->host)
        return false;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return false;
    memcpy(o->host, h, hlen);
    o->host[hlen] = '\0';
    o->port = (int)port;
    return true;
}

/* 0 ok, 1 --help shown, 2 usage error (reported). */
static int parse_args(int argc, char **argv, options_t *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},
        {"db", required_argument, NULL, 'd'},
        {"intel", required_argument, NULL, 'i'},
        {"intel-format", required_argument, NULL, 'F'},
        {"intel-url", required_argument, NULL, 'U'},
        {"taxii", required_argument, NULL, 'T'},
        {"intel-url-interval", required_argument, NULL, 'I'},
        {"history-days", required_argument, NULL, 'H'},
        {"alerts-jsonl", required_argument, NULL, 'a'},
        {"client-id", required_argument, NULL, 'c'},
        {"cafile", required_argument, NULL, 'A'},
        {"cert", required_argument, NULL, 'C'},
        {"key", required_argument, NULL, 'K'},
        {"username", required_argument, NULL, 'u'},
        {"password-file", required_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool have_broker = false;
    memset(o, 0, sizeof *o);
    o->client_id = "wardd";
    o->history_days = WARD_RETRO_DAYS_DEFAULT;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (!parse_broker(optarg, o)) {
                fprintf(stderr,
                        "wardd: error: --broker wants HOST:PORT (port 1..65535), got "
                        "\"%s\"\n",
                        optarg);
                return 2;
            }
            have_broker = true;
            break;
        case 'd':
            o->db = optarg;
            break;
        case 'i':
        case 'U':
        case 'T':
            if (o->n_intel == MAX_INTEL_SOURCES) {
                fprintf(stderr, "wardd: error: at most %d feeds (--intel, --intel-url, --taxii)\n",
                        MAX_INTEL_SOURCES);
                return 2;
            }
            if (c != 'i' && strncmp(optarg, "http://", 7) != 0 &&
                strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr, "wardd: error: --%s wants an http:// or https:// URL, got \"%s\"\n",
                        c == 'U' ? "intel-url" : "taxii", optarg);
                return 2;
            }
            o->intel[o->n_intel++] =
                (ward_intel_source_cfg_t){c == 'i'   ? WARD_INTEL_SRC_PATH
                                          : c == 'U' ? WARD_INTEL_SRC_URL
                                                     : WARD_INTEL_SRC_TAXII,
                                          optarg, c == 'T' ? WARD_FEED_STIX : o->intel_format, 0};
            break;
        case 'F':
            if (ward_feed_format_parse(optarg, &o->intel_format) != WARD_OK) {
                fprintf(stderr, "wardd: error: unknown --intel-format \"%s\" (see --help)\n",
                        optarg);
                return 2;
            }
            break;
        case 'I':
        case 'H': {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            unsigned long max = c == 'I' ? 86400ul * 30 : WARD_RETRO_DAYS_MAX;
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' || v < 1 ||
                v > max) {
                fprintf(stderr, "wardd: error: --%s wants a number 1..%lu, got \"%s\"\n",
                        c == 'I' ? "intel-url-interval" : "history-days", max, optarg);
                return 2;
            }
            if (c == 'I')
                o->url_interval_s = (unsigned)v;
            else
                o->history_days = (unsigned)v;
            break;
        }
        case 'a':
            o->alerts_jsonl = optarg;
            break;
        case 'c':
            if (!ward_wire_device_id_valid(optarg, strlen(optarg))) {
                fprintf(stderr, "wardd: error: --client-id wants 1..64 of [A-Za-z0-9._-]\n");
                return 2;
            }
            o->client_id = optarg;
            break;
        case 'A':
            o->cafile = optarg;
            break;
        case 'C':
            o->certfile = optarg;
            break;
        case 'K':
            o->keyfile = optarg;
            break;
        case 'u':
            o->username = optarg;
            break;
        case 'P':
            o->password_file = optarg;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            if (optopt != 0 && optopt != '?')
                fprintf(stderr,
                        "wardd: error: option -%c is unknown or needs a value (see --help)\n",
                        optopt);
            else
                fprintf(stderr, "wardd: error: unknown option or missing value: %s (see --help)\n",
                        argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wardd: error: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return 2;
    }
    for (int i = 0; i < o->n_intel; i++)
        o->intel[i].interval_s = o->url_interval_s;
    if (!have_broker || o->db == NULL) {
        fprintf(stderr, "wardd: error: --broker and --db are required (see --help)\n");
        return 2;
    }
    if ((o->certfile == NULL) != (o->keyfile == NULL) || (o->certfile != NULL && !o->cafile)) {
        fprintf(stderr, "wardd: error: --cert and --key go together, and with --cafile\n");
        return 2;
    }
    if (o->password_file != NULL && o->username == NULL) {
        fprintf(stderr, "wardd: error: --password-file needs --username\n");
        return 2;
    }
    return 0;
}

/* The first line of path, without its line end, into buf. False (with a message) on error. */
static bool read_password(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "wardd: error: cannot read --password-file %s: %s\n", path,
                strerror(errno));
        return false;
    }
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "wardd: error: --password-file %s is empty\n", path);
        return false;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return true;
}

int main(int argc, char **argv)
{
    options_t o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    ward_log_init("wardd", o.verbose ? WARD_LOG_DEBUG : WARD_LOG_INFO);
    /* No allocation statistics: they put a global mutex around every SQLite malloc and free
     * (docs/performance.md). Must come before SQLite is first used. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

    /* Signals are taken synchronously by the main thread only: block them before any thread
     * starts, so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    int status = 1;
    ward_intel_t *intel = NULL;
    ward_retro_t *retro = NULL;
    ward_store_t *store = NULL;
    ward_alert_sink_t *sink = NULL;
    ward_queue_t *queue = NULL;
    ward_processor_t *proc = NULL;
    ward_ingest_t *ingest = NULL;

    if (ward_fetch_global_init() != 0) {
        WARD_ERROR("cannot initialise libcurl");
        return 1;
    }
    if ((store = ward_store_open(o.db, false, err, sizeof err)) == NULL) {
        WARD_ERROR("%s", err);
        goto out;
    }
    /* The contact history and retro-hunt live on the worker's connection; the intel engine hands
     * them the indicators each reload adds. */
    ward_intel_config_t intel_cfg = {
        o.intel, (size_t)o.n_intel, ward_retro_submit, NULL, NULL, NULL, false};
    if ((retro = ward_retro_new(store, o.history_days, err, sizeof err)) == NULL ||
        (intel_cfg.added_ctx = retro,
         (intel = ward_intel_open(&intel_cfg, err, sizeof err)) == NULL)) {
        WARD_ERROR("%s", err);
        goto out;
    }
    if (o.alerts_jsonl != NULL &&
        (sink = ward_alert_sink_open(o.alerts_jsonl, err, sizeof err)) == NULL) {
        WARD_ERROR("%s", err);
        goto out;
    }
    queue = ward_queue_new(QUEUE_CAPACITY, QUEUE_BYTES);
    proc = queue ? ward_processor_new(store, intel, sink) : NULL;
    if (proc != NULL)
        ward_processor_set_retro(proc, retro);
    if (proc == NULL || ward_processor_start_worker(proc, queue) != 0) {
        WARD_ERROR("cannot start the worker thread");
        goto out;
    }
    if (ward_intel_start(intel, err, sizeof err) != 0) {
        WARD_ERROR("%s", err);
        goto out;
    }
    static char password[256];
    if (o.password_file != NULL && !read_password(o.password_file, password, sizeof password))
        goto out;
    ward_ingest_config_t icfg = {.host = o.host,
                                 .port = o.port,
                                 .client_id = o.client_id,
                                 .keepalive_s = 30,
                                 .ready_timeout_ms = 10000,
                                 .cafile = o.cafile,
                                 .certfile = o.certfile,
                                 .keyfile = o.keyfile,
                                 .username = o.username,
                                 .password = o.username ? password : NULL,
                                 .prepare = ward_processor_prepare_on_thread,
                                 .prepare_ctx = proc};
    if ((ingest = ward_ingest_new(&icfg, queue, err, sizeof err)) == NULL ||
        ward_ingest_start(ingest, err, sizeof err) != 0) {
        WARD_ERROR("%s", err);
        goto out;
    }
    printf("wardd: ready: subscribed to %s on %s:%d (%zu indicators)\n", WARD_INGEST_TOPIC, o.host,
           o.port, ward_intel_size(intel));
    fflush(stdout);

    for (;;) {
        struct timespec tick = {0, 500 * 1000000L};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            WARD_INFO("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            status = 0;
            break;
        }
        if (!ward_processor_running(proc)) {
            WARD_ERROR("the worker thread stopped");
            break;
        }
    }

out:
    /* Order matters: no more messages in, then drain, then close what the worker wrote to. */
    if (ingest != NULL)
        ward_ingest_stop(ingest);
    if (queue != NULL)
        ward_queue_close(queue);
    if (proc != NULL) {
        ward_processor_join(proc);
        ward_process_stats_t ps;
        ward_processor_stats(proc, &ps);
        if (status == 0)
            WARD_INFO("stopped: %llu messages, %llu reports accepted, %llu rejected, %llu "
                      "duplicates, %llu flows, %llu intel matches, %llu new alerts, %llu folded",
                      (unsigned long long)ps.received, (unsigned long long)ps.accepted,
                      (unsigned long long)ps.rejected, (unsigned long long)ps.duplicates,
                      (unsigned long long)ps.flows, (unsigned long long)ps.intel_matches,
                      (unsigned long long)ps.alerts_new, (unsigned long long)ps.alerts_folded);
        ward_retro_stats_t rs;
        if (retro != NULL && status == 0) {
            ward_retro_stats(retro, &rs);
            WARD_INFO("contact history: %llu rows written, %llu notes already current to the "
                      "minute",
                      (unsigned long long)rs.contacts_written,
                      (unsigned long long)rs.contacts_cached);
        }
        if (ps.store_errors > 0) {
            WARD_ERROR("%llu report parts lost to database errors",
                       (unsigned long long)ps.store_errors);
        }
    }
    if (queue != NULL) {
        ward_queue_stats_t qs;
        ward_queue_stats(queue, &qs);
        if (qs.full_waits > 0)
            WARD_WARN("the queue was full %llu times (deepest %zu of %d): the worker fell behind",
                      (unsigned long long)qs.full_waits, qs.depth_max, QUEUE_CAPACITY);
    }
    ward_ingest_free(ingest);
    ward_processor_free(proc);
    ward_queue_free(queue);
    /* The worker is gone: no reader is left; the reload threads stop before retro goes. */
    ward_intel_close(intel);
    ward_retro_free(retro);
    ward_alert_sink_close(sink);
    ward_store_close(store);
    ward_fetch_global_cleanup();
    return status;
}
