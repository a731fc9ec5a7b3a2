/*
 * bench-ingest: how fast one wardd ingests reports, against what the broker can deliver, and what
 * a 100,000-device fleet costs it. Prints figures; asserts nothing (DESIGN.md: bench/).
 *
 *   build/bin/bench-ingest [--reports N] [--fleet-devices N] [--fleet-reports K] [--keep]
 *
 * One run, loopback only, bounded (< 5 minutes; every phase has a deadline):
 *  0. a fresh Mosquitto on a free 127.0.0.1 port (max_queued_messages and max_inflight_messages
 *     raised), a temp dir, an intel feed of 100,000 random indicators, and a "default" group with
 *     rules (every device is in it, so every report is evaluated against them);
 *  1. N reports (default 20,000) of about 20 flows each, pre-encoded by the real agent core (1000
 *     devices, each reporting every 60 s of device time), published at full speed at QoS 1 by one
 *     libmosquitto client; a plain libmosquitto subscriber (QoS 1) counts them:
 *       raw_reports_per_s = N / (last received - first published);
 *  2. the same stream to the real wardd binary (temp database, the feed, --alerts-jsonl): the
 *     rate at which it fully processes them (decoded, matched, rules and detectors evaluated,
 *     stored), measured until its database holds all N report parts (the largest report_parts
 *     id, read through a read-only SQLite connection every 5 ms).
 *     1 and 2 run STREAM_ROUNDS (3) times in turn, each wardd fresh (its own database and MQTT
 *     session); each round's figures are printed, then the medians:
 *       ingest raw_reports_per_s=<x> wardd_reports_per_s=<y>
 *  3. a fresh wardd, then 100,000 devices reporting every 60 s, time-accelerated: K reports per
 *     device (default 2), each encoded by the agent core on the fly (about 8 flows: what a small
 *     device does in a minute), published as fast as wardd takes them (at most 20,000 ahead of
 *     what it stored); wardd's CPU time (utime + stime of /proc/<pid>/stat) over the phase per
 *     report, and its peak RSS (VmHWM of /proc/<pid>/status):
 *       fleet devices=100000 rss_mb=<x> cpu_s_per_report_us=<y>
 *
 * wardd and mosquitto are found next to this binary (wardd) and at /usr/sbin/mosquitto.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <sqlite3.h>

#include "bench_traffic.h"
#include "ward/agent.h"

#define MOSQUITTO "/usr/sbin/mosquitto"
#define STREAM_DEVICES 1000u
#define FEED_SIZE 100000u
#define AHEAD_MAX 20000u
#define TOTAL_DEADLINE_S 280.0
#define STREAM_ROUNDS 3

static char g_dir[256];
static pid_t g_mosq = -1, g_wardd = -1;
static bool g_keep;
static double g_t0;

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static bool over_budget(void)
{
    return bench_now_s() - g_t0 > TOTAL_DEADLINE_S;
}

/* ---- processes and files ---- */

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setpgid(0, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void stop(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = -1;
            return;
        }
        sleep_s(0.05);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = -1;
}

static void cleanup(void)
{
    stop(&g_wardd);
    stop(&g_mosq);
    if (g_dir[0] != '\0') {
        if (g_keep)
            fprintf(stderr, "bench-ingest: kept %s\n", g_dir);
        else
            bench_rmtree(g_dir);
        g_dir[0] = '\0';
    }
}

static void on_signal(int sig)
{
    (void)sig;
    /* Not async-signal-safe in general, but the process ends right here: stop the children and
     * remove the temp dir rather than leave them behind. */
    cleanup();
    _exit(1);
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "bench-ingest: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    cleanup();
    exit(1);
}

static void path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", g_dir, name);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) != 0)
        die("cannot find a free port: %s", strerror(errno));
    close(s);
    return ntohs(a.sin_port);
}

static bool accepting(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

static bool file_has(const char *file, const char *needle)
{
    char buf[8192];
    FILE *f = fopen(file, "r");
    bool found = false;
    if (f == NULL)
        return false;
    while (!found && fgets(buf, sizeof buf, f) != NULL)
        found = strstr(buf, needle) != NULL;
    fclose(f);
    return found;
}

/* ---- /proc ---- */

/* utime + stime of pid, in seconds. */
static double proc_cpu_s(pid_t pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = strrchr(buf, ')'); /* the command name may hold spaces */
    if (s == NULL)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* After ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14)
     * stime(15). */
    if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The CPU seconds of each thread of pid, by tid (at most max), with their names. */
typedef struct thread_cpu {
    long tid;
    char name[32];
    double cpu_s;
    double switches; /* voluntary and involuntary context switches */
} thread_cpu_t;

static size_t proc_threads(pid_t pid, thread_cpu_t *out, size_t max)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/task", (int)pid);
    DIR *d = opendir(p);
    size_t n = 0;
    struct dirent *e;
    while (d != NULL && n < max && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char sp[300], buf[1024];
        snprintf(sp, sizeof sp, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
        FILE *f = fopen(sp, "r");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        unsigned long long ut = 0, st = 0;
        if (open == NULL || close == NULL || close < open ||
            sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) !=
                2)
            continue;
        out[n].tid = strtol(e->d_name, NULL, 10);
        snprintf(out[n].name, sizeof out[n].name, "%.*s", (int)(close - open - 1), open + 1);
        out[n].cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        out[n].switches = 0;
        snprintf(sp, sizeof sp, "/proc/%d/task/%s/status", (int)pid, e->d_name);
        if ((f = fopen(sp, "r")) != NULL) {
            char line[256];
            double v;
            while (fgets(line, sizeof line, f) != NULL)
                if (sscanf(line, "voluntary_ctxt_switches: %lf", &v) == 1 ||
                    sscanf(line, "nonvoluntary_ctxt_switches: %lf", &v) == 1)
                    out[n].switches += v;
            fclose(f);
        }
        n++;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

/* "name cpu_s" of each thread that used CPU between the two snapshots, on one line. */
static void print_threads(const thread_cpu_t *a, size_t na, const thread_cpu_t *b, size_t nb,
                          uint64_t reports)
{
    printf("bench-ingest: wardd threads (us per report, context switches per 100 reports):");
    for (size_t i = 0; i < nb; i++) {
        double before = 0, sw = 0;
        for (size_t j = 0; j < na; j++)
            if (a[j].tid == b[i].tid) {
                before = a[j].cpu_s;
                sw = a[j].switches;
            }
        double used = b[i].cpu_s - before;
        if (used > 0 && reports > 0)
            printf(" %s %.1f (%.1f)", b[i].name, used * 1e6 / (double)reports,
                   (b[i].switches - sw) * 100.0 / (double)reports);
    }
    printf("\n");
}

/* The number after "key" in /proc/<pid>/<file> (lines "key value"), -1 if there is none. */
static double proc_field(pid_t pid, const char *file, const char *key)
{
    char p[64], line[256];
    double v = -1;
    size_t klen = strlen(key);
    snprintf(p, sizeof p, "/proc/%d/%s", (int)pid, file);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, klen) == 0)
            v = strtod(line + klen, NULL);
    fclose(f);
    return v;
}

/* Bytes pid passed to write calls so far, -1 if unknown. */
static double proc_wchar(pid_t pid)
{
    return proc_field(pid, "io", "wchar:");
}

/* Peak RSS of pid in kB, -1 if unknown. */
static long proc_hwm_kb(pid_t pid)
{
    return (long)proc_field(pid, "status", "VmHWM:");
}

/* ---- wardd's progress: report_parts rows, read-only ---- */

typedef struct dbwatch {
    sqlite3 *db;
    sqlite3_stmt *count;
} dbwatch_t;

static uint64_t parts_stored(dbwatch_t *w, const char *db)
{
    if (w->db == NULL) {
        if (sqlite3_open_v2(db, &w->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            /* Rows are only appended (ids in order, none deleted), so the largest id is the
             * count: one index step per poll, where count(*) would read the whole table and
             * take CPU from wardd while it is measured. */
            sqlite3_prepare_v2(w->db, "SELECT coalesce(max(id), 0) FROM report_parts", -1,
                               &w->count, NULL) != SQLITE_OK) {
            sqlite3_finalize(w->count);
            sqlite3_close(w->db);
            w->db = NULL;
            w->count = NULL;
            return 0;
        }
        sqlite3_busy_timeout(w->db, 1000);
    }
    uint64_t n = 0;
    if (sqlite3_step(w->count) == SQLITE_ROW)
        n = (uint64_t)sqlite3_column_int64(w->count, 0);
    sqlite3_reset(w->count);
    return n;
}

static void dbwatch_close(dbwatch_t *w)
{
    sqlite3_finalize(w->count);
    sqlite3_close(w->db);
    memset(w, 0, sizeof *w);
}

/* ---- MQTT ---- */

typedef struct counter {
    atomic_ulong n;
    atomic_int connected, subscribed;
    double last; /* time of the last message (subscriber) */
} counter_t;

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    counter_t *c = obj;
    (void)m;
    if (rc == 0)
        c->connected = 1;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *q)
{
    (void)m;
    (void)mid;
    (void)n;
    (void)q;
    ((counter_t *)obj)->subscribed = 1;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    (void)msg;
    counter_t *c = obj;
    c->n++;
    c->last = bench_now_s();
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    (void)mid;
    ((counter_t *)obj)->n++; /* acknowledged by the broker */
}

static struct mosquitto *client(const char *id, int port, counter_t *c, bool sub)
{
    struct mosquitto *m = mosquitto_new(id, true, c);
    if (m == NULL)
        die("mosquitto_new: %s", strerror(errno));
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, 1000);
    mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, 1000);
    mosquitto_connect_callback_set(m, on_connect);
    if (sub) {
        mosquitto_subscribe_callback_set(m, on_subscribe);
        mosquitto_message_callback_set(m, on_message);
    } else {
        mosquitto_publish_callback_set(m, on_publish);
    }
    if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS)
        die("cannot connect to the broker: %s", strerror(errno));
    double dl = bench_now_s() + 10;
    while (!c->connected && bench_now_s() < dl)
        sleep_s(0.01);
    if (!c->connected)
        die("the broker did not accept %s", id);
    if (sub) {
        mosquitto_subscribe(m, NULL, "ward/v1/+/report", 1);
        while (!c->subscribed && bench_now_s() < dl)
            sleep_s(0.01);
        if (!c->subscribed)
            die("no SUBACK for %s", id);
    }
    return m;
}

static void client_close(struct mosquitto *m)
{
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
}

static void publish(struct mosquitto *m, const bench_blob_t *b)
{
    for (;;) {
        int rc = mosquitto_publish(m, NULL, b->topic, (int)b->len, b->data, 1, false);
        if (rc == MOSQ_ERR_SUCCESS)
            return;
        if (rc != MOSQ_ERR_NOMEM && rc != MOSQ_ERR_OVERSIZE_PACKET)
            die("publish failed: %s", mosquitto_strerror(rc));
        sleep_s(0.001);
    }
}

/* ---- wardd ---- */

static pid_t start_wardd(int port, const char *name)
{
    char exe[4096], db[512], feed[512], log[512], jsonl[512], portarg[32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 16);
    if (n <= 0)
        die("cannot find my own path%s", "");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    snprintf(slash + 1, sizeof exe - (size_t)(slash + 1 - exe), "wardd");
    char dbname[64], logname[64], jname[64];
    snprintf(dbname, sizeof dbname, "%s.db", name);
    snprintf(logname, sizeof logname, "%s.log", name);
    snprintf(jname, sizeof jname, "%s-alerts.jsonl", name);
    path(db, sizeof db, dbname);
    path(feed, sizeof feed, "feed.txt");
    path(log, sizeof log, logname);
    path(jsonl, sizeof jsonl, jname);
    snprintf(portarg, sizeof portarg, "127.0.0.1:%d", port);

    /* Rules for every device: the default group, written before wardd starts. */
    char wardctl[4096], group[512];
    snprintf(wardctl, sizeof wardctl, "%.*swardctl", (int)(slash + 1 - exe), exe);
    path(group, sizeof group, "default.json");
    char *gargv[] = {wardctl, (char *)"--db", db, (char *)"group", (char *)"apply", group, NULL};
    char glog[512];
    path(glog, sizeof glog, "wardctl.log");
    pid_t g = spawn(gargv, glog);
    int st = 0;
    if (g < 0 || waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr,
                "bench-ingest: note: wardctl group apply failed (see %s): wardd runs "
                "without group rules\n",
                glog);

    char *argv[] = {exe,   (char *)"--broker",    portarg,      (char *)"--db",
                    db,    (char *)"--intel",     feed,         (char *)"--alerts-jsonl",
                    jsonl, (char *)"--client-id", (char *)name, NULL};
    pid_t pid = spawn(argv, log);
    double dl = bench_now_s() + 30;
    while (bench_now_s() < dl && !file_has(log, "ready") && waitpid(pid, NULL, WNOHANG) == 0)
        sleep_s(0.05);
    if (!file_has(log, "ready"))
        die("wardd did not start (see its log: %s)", log);
    return pid;
}

/* The median of v[0..n) (sorts v). */
static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    long n_reports = 20000, fleet_devices = 100000, fleet_reports = 2;
    static const struct option lo[] = {{"reports", required_argument, NULL, 'r'},
                                       {"fleet-devices", required_argument, NULL, 'd'},
                                       {"fleet-reports", required_argument, NULL, 'k'},
                                       {"keep", no_argument, NULL, 'K'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        long *v = c == 'r'   ? &n_reports
                  : c == 'd' ? &fleet_devices
                  : c == 'k' ? &fleet_reports
                             : NULL;
        if (v != NULL) {
            char *end;
            *v = strtol(optarg, &end, 10);
            if (*end != '\0' || *v < 1 || *v > 1000000) {
                fprintf(stderr, "bench-ingest: --%s wants 1..1000000\n",
                        lo[c == 'r'   ? 0
                           : c == 'd' ? 1
                                      : 2]
                            .name);
                return 2;
            }
        } else if (c == 'K') {
            g_keep = true;
        } else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: bench-ingest [--reports N] [--fleet-devices N] [--fleet-reports K] "
                    "[--keep]\n(see the comment at the top of bench/bench_ingest.c)\n");
            return c == 'h' ? 0 : 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_t0 = bench_now_s();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    snprintf(g_dir, sizeof g_dir, "%s/ward-bench-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(g_dir) == NULL) {
        g_dir[0] = '\0';
        die("mkdtemp: %s", strerror(errno));
    }

    /* The feed: 100,000 random indicators in 11.0.0.0/8 (no flow of the stream goes there: every
     * lookup walks the index and misses, the common case), and the default group's rules. */
    char p[512];
    path(p, sizeof p, "feed.txt");
    FILE *f = fopen(p, "w");
    if (f == NULL || !bench_write_feed(f, FEED_SIZE) || fclose(f) != 0)
        die("cannot write the feed in %s", g_dir);
    path(p, sizeof p, "default.json");
    f = fopen(p, "w");
    if (f == NULL)
        die("cannot write %s", p);
    fputs(BENCH_DEFAULT_GROUP, f);
    fclose(f);

    /* The broker. */
    int port = 0;
    for (int attempt = 0; attempt < 5 && g_mosq < 0; attempt++) {
        port = free_port();
        char conf[512], log[512];
        path(conf, sizeof conf, "mosquitto.conf");
        path(log, sizeof log, "mosquitto.log");
        f = fopen(conf, "w");
        if (f == NULL)
            die("cannot write %s", conf);
        fprintf(f,
                "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 1000000\nmax_inflight_messages 1000\n"
                "max_queued_bytes 0\n",
                port);
        fclose(f);
        char *margv[] = {(char *)MOSQUITTO, (char *)"-c", conf, NULL};
        g_mosq = spawn(margv, log);
        double dl = bench_now_s() + 10;
        while (bench_now_s() < dl && !accepting(port) && waitpid(g_mosq, NULL, WNOHANG) == 0)
            sleep_s(0.02);
        if (!accepting(port))
            stop(&g_mosq);
    }
    if (g_mosq < 0)
        die("mosquitto did not start (%s)", MOSQUITTO);
    mosquitto_lib_init();

    /* The stream: n_reports reports of ~20 flows, 1000 devices, round after round. */
    ward_agent_t *agent = calloc(1, sizeof *agent);
    bench_capture_t cap;
    double te = bench_now_s();
    if (agent == NULL || !bench_stream(agent, (size_t)n_reports, STREAM_DEVICES, &cap))
        die("out of memory%s", "");
    size_t bytes = 0;
    size_t n_msgs = cap.n;
    for (size_t i = 0; i < n_msgs; i++)
        bytes += cap.out[i].len;
    printf(
        "bench-ingest: %zu report parts of %zu bytes on average (about 20 flows each), encoded by "
        "the agent core in %.2fs; broker 127.0.0.1:%d\n",
        n_msgs, bytes / (n_msgs ? n_msgs : 1), bench_now_s() - te, port);

    /* 1 and 2, STREAM_ROUNDS times in turn: the medians are printed (one round is well under a
     * second, and a shared machine's figures vary from one to the next). */
    double raw_rates[STREAM_ROUNDS], wardd_rates[STREAM_ROUNDS];
    char db[512];
    dbwatch_t w;
    counter_t sc, pc;
    struct mosquitto *pub;
    double dl;
    uint64_t stored = 0;
    for (int round = 0; round < STREAM_ROUNDS; round++) {
        /* 1. The plain subscriber. */
        char cid[64];
        memset(&sc, 0, sizeof sc);
        memset(&pc, 0, sizeof pc);
        snprintf(cid, sizeof cid, "bench-sub-%d", round);
        struct mosquitto *sub = client(cid, port, &sc, true);
        snprintf(cid, sizeof cid, "bench-pub-%d", round);
        pub = client(cid, port, &pc, false);
        double b1 = proc_cpu_s(g_mosq), s1 = proc_cpu_s(getpid());
        double t1 = bench_now_s();
        for (size_t i = 0; i < n_msgs; i++)
            publish(pub, &cap.out[i]);
        dl = bench_now_s() + 60;
        while (sc.n < n_msgs && bench_now_s() < dl)
            sleep_s(0.002);
        double raw_rate = (double)sc.n / (sc.last - t1);
        double raw_broker = proc_cpu_s(g_mosq) - b1, raw_self = proc_cpu_s(getpid()) - s1;
        if (sc.n < n_msgs)
            printf("bench-ingest: the subscriber got only %lu of %zu in 60 s\n",
                   (unsigned long)sc.n, n_msgs);
        client_close(sub);
        client_close(pub);

        /* 2. A fresh wardd (its own database and MQTT session) on the same stream. */
        char name[64], dbname[80];
        snprintf(name, sizeof name, "wardd-stream-%d", round);
        snprintf(dbname, sizeof dbname, "%s.db", name);
        g_wardd = start_wardd(port, name);
        path(db, sizeof db, dbname);
        memset(&w, 0, sizeof w);
        memset(&pc, 0, sizeof pc);
        snprintf(cid, sizeof cid, "bench-pub2-%d", round);
        pub = client(cid, port, &pc, false);
        double cpu0 = proc_cpu_s(g_wardd);
        double b2 = proc_cpu_s(g_mosq), s2 = proc_cpu_s(getpid()), wc2 = proc_wchar(g_wardd);
        thread_cpu_t th0[32], th1[32];
        size_t n_th0 = proc_threads(g_wardd, th0, 32);
        double t2 = bench_now_s();
        for (size_t i = 0; i < n_msgs; i++)
            publish(pub, &cap.out[i]);
        stored = 0;
        dl = bench_now_s() + 120;
        while ((stored = parts_stored(&w, db)) < n_msgs && bench_now_s() < dl && !over_budget())
            sleep_s(0.005);
        double t2e = bench_now_s();
        double cpu_stream = proc_cpu_s(g_wardd) - cpu0;
        double w_broker = proc_cpu_s(g_mosq) - b2, w_self = proc_cpu_s(getpid()) - s2;
        double w_written = proc_wchar(g_wardd) - wc2;
        size_t n_th1 = proc_threads(g_wardd, th1, 32);
        double wardd_rate = (double)stored / (t2e - t2);
        if (stored < n_msgs)
            printf("bench-ingest: wardd stored only %" PRIu64 " of %zu report parts in time\n",
                   stored, n_msgs);
        printf("bench-ingest: round %d: raw subscriber %.2fs for %lu (%.0f/s), wardd %.2fs for "
               "%" PRIu64 " (%.0f/s, %.0f%% of the raw rate; wardd CPU %.2fs: %.0f us per "
               "report)\n",
               round + 1, sc.last - t1, (unsigned long)sc.n, raw_rate, t2e - t2, stored, wardd_rate,
               100.0 * wardd_rate / raw_rate, cpu_stream,
               stored ? cpu_stream * 1e6 / (double)stored : 0.0);
        print_threads(th0, n_th0, th1, n_th1, stored);
        printf("bench-ingest: CPU us per report: raw phase broker %.1f bench %.1f; wardd phase "
               "broker %.1f bench %.1f wardd %.1f (wardd wrote %.0f bytes per report)\n",
               raw_broker * 1e6 / (double)n_msgs, raw_self * 1e6 / (double)n_msgs,
               w_broker * 1e6 / (double)n_msgs, w_self * 1e6 / (double)n_msgs,
               cpu_stream * 1e6 / (double)n_msgs, w_written / (double)n_msgs);
        raw_rates[round] = raw_rate;
        wardd_rates[round] = wardd_rate;
        client_close(pub);
        dbwatch_close(&w);
        stop(&g_wardd);
    }
    double raw_med = median(raw_rates, STREAM_ROUNDS),
           wardd_med = median(wardd_rates, STREAM_ROUNDS);
    printf("bench-ingest: medians of %d rounds: wardd at %.0f%% of the raw rate\n", STREAM_ROUNDS,
           100.0 * wardd_med / raw_med);
    printf("ingest raw_reports_per_s=%.0f wardd_reports_per_s=%.0f\n", raw_med, wardd_med);
    for (size_t i = 0; i < n_msgs; i++)
        free(cap.out[i].data);
    free(cap.out);

    /* 3. The fleet: a fresh wardd, fleet_devices devices, fleet_reports reports each. */
    g_wardd = start_wardd(port, "wardd-fleet");
    path(db, sizeof db, "wardd-fleet.db");
    memset(&pc, 0, sizeof pc);
    pub = client("bench-pub3", port, &pc, false);
    bench_blob_t parts[8];
    bench_capture_t one = {parts, 0, 8, false};
    ward_transport_t tr1 = {bench_capture_publish, &one};
    uint64_t sent = 0;
    stored = 0;
    double cpu1 = proc_cpu_s(g_wardd);
    double t3 = bench_now_s();
    bool cut = false;
    for (long k = 0; k < fleet_reports && !cut; k++) {
        for (long d = 0; d < fleet_devices && !cut; d++) {
            one.n = 0;
            bench_encode_report(agent, (unsigned)d, (unsigned)k, 5, &one, &tr1);
            for (size_t i = 0; i < one.n; i++) {
                publish(pub, &parts[i]);
                free(parts[i].data);
                sent++;
            }
            /* As fast as wardd takes them, never more than AHEAD_MAX ahead of what it stored. */
            while (sent - stored > AHEAD_MAX && !cut) {
                stored = parts_stored(&w, db);
                if (sent - stored > AHEAD_MAX)
                    sleep_s(0.02);
                cut = over_budget();
            }
        }
    }
    dl = bench_now_s() + 120;
    while ((stored = parts_stored(&w, db)) < sent && bench_now_s() < dl && !over_budget())
        sleep_s(0.05);
    double t3e = bench_now_s();
    double cpu_fleet = proc_cpu_s(g_wardd) - cpu1;
    long hwm = proc_hwm_kb(g_wardd);
    if (cut || stored < sent)
        printf("bench-ingest: the fleet phase was cut by the time budget: %" PRIu64 " of %" PRIu64
               " report parts stored\n",
               stored, sent);
    printf("bench-ingest: fleet: %" PRIu64 " report parts from %ld devices in %.1fs (%.0f/s), "
           "wardd CPU %.1fs\n",
           stored, fleet_devices, t3e - t3, (double)stored / (t3e - t3), cpu_fleet);
    printf("fleet devices=%ld rss_mb=%.0f cpu_s_per_report_us=%.0f\n", fleet_devices,
           (double)hwm / 1024.0, stored ? cpu_fleet * 1e6 / (double)stored : 0.0);
    client_close(pub);
    dbwatch_close(&w);
    free(agent);
    mosquitto_lib_cleanup();
    printf("bench-ingest: total %.0fs\n", bench_now_s() - g_t0);
    cleanup();
    return 0;
}
