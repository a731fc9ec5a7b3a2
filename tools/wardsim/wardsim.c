/*
 * wardsim: a fleet simulator. N devices, each with the real agent core (one ward_agent_t per
 * device), fed synthetic but realistic IP traffic (traffic.c), a fraction of them compromised by
 * attack scenarios; their reports go over K MQTT connections to a broker that wardd reads. At the
 * end it reads wardd's alerts and scores them against what it injected.
 *
 * Time: simulated time runs --accel times faster than real time; each device's clock (the now_ms
 * its agent core sees, time since boot) is the simulated time. Reports are due every --interval
 * simulated seconds.
 *
 * Output (stdout, one line each):
 *   wardsim: ...                                       progress, what starts when
 *   wardsim injected device=D scenario=S fact="..." detected=yes|no [alert=TYPE]
 *   wardsim scenario=S injected=N detected=M rate=R    per scenario
 *   wardsim false_positive device=D type=T why=benign|not-injected
 *   wardsim false_positives=N benign_devices=B
 * Exit status: 0 every injected scenario detected and no false positive, 1 otherwise (or not
 * scored), 2 usage error, 3 runtime error (broker, wardctl).
 *
 * Threads: main runs every agent core and the time loop; libmosquitto's network threads (one per
 * connection) only update the connection's atomics in their callbacks.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <sqlite3.h>

#include "sim.h"

#define MAX_GROUPS 16
#define CONN_MAX_PENDING 4000 /* unacknowledged parts per connection before "try later" */

typedef struct conn {
    struct mosquitto *m;
    atomic_int connected;
    atomic_long pending;
    atomic_ulong acked;
    atomic_int failed; /* connection refused */
} conn_t;

typedef struct opts {
    char host[256];
    int port;
    long devices, connections, seed;
    double compromised, accel;
    long duration, interval, settle;
    char groups_buf[1024];
    char *groups[MAX_GROUPS];
    int n_groups;
    const char *groups_plan;
    bool plan_only;
    const char *intel_feed[16];
    int n_feeds;
    const char *db, *alerts_jsonl, *wardctl;
    bool scen_on[SC_COUNT];
    bool scen_given;
    bool quiet;
} opts_t;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wardsim [options]\n"
            "\n"
            "Simulates a fleet of IoT devices, each with the real ward agent core, some of them\n"
            "compromised, reporting over MQTT to wardd; then scores wardd's alerts.\n"
            "\n"
            "  --broker HOST:PORT      MQTT broker (default 127.0.0.1:1883)\n"
            "  --devices N             devices (default 36)\n"
            "  --compromised F         fraction compromised, 0..1 (default 0.25)\n"
            "  --scenarios LIST        comma-separated, from port_scan, host_sweep, syn_flood,\n"
            "                          icmp_flood, brute_force, exfiltration, intel (default all;\n"
            "                          intel needs --intel-feed)\n"
            "  --duration S            simulated seconds (default 1800)\n"
            "  --interval S            agent report interval, simulated seconds (default 60)\n"
            "  --accel X               simulated time runs X times faster (default 60; 0 = as\n"
            "                          fast as possible)\n"
            "  --connections K         MQTT connections the devices are spread over (default 4)\n"
            "  --seed S                random seed (default 1)\n"
            "  --groups G1,G2,...      security groups, devices assigned round-robin (default\n"
            "                          default); a group named *cam*, *sens*, *gw*/*gate* gets\n"
            "                          that device profile, others camera/sensor/gateway in turn\n"
            "  --groups-plan FILE      write \"DEVICE GROUP\" lines (for wardctl device set-group)\n"
            "  --plan-only             write the plan and exit\n"
            "  --intel-feed PATH       a feed file or folder wardd uses (repeatable): the intel\n"
            "                          scenario contacts addresses from it, every other remote\n"
            "                          avoids it\n"
            "  --db PATH               wardd's database: wait until it has every report part,\n"
            "                          then score its alerts (read with wardctl --json)\n"
            "  --wardctl PATH          wardctl (default: next to wardsim)\n"
            "  --alerts-jsonl PATH     or score wardd's alerts JSON-lines file (after --settle)\n"
            "  --settle S              how long to wait for wardd at the end (default 60)\n"
            "  --quiet                 only the results\n"
            "  --help\n"
            "\n"
            "Exit status: 0 all injected scenarios detected and no false positive; 1 otherwise;\n"
            "2 usage error; 3 runtime error.\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool parse_broker(const char *s, opts_t *o)
{
    const char *colon = strrchr(s, ':');
    long port;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof o->host ||
        !parse_long(colon + 1, 1, 65535, &port))
        return false;
    const char *h = s;
    size_t n = (size_t)(colon - s);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    memcpy(o->host, h, n);
    o->host[n] = '\0';
    o->port = (int)port;
    return true;
}

static int bad(const char *what, const char *val)
{
    fprintf(stderr, "wardsim: error: %s: \"%s\" (see --help)\n", what, val);
    return 2;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {
        {"broker", required_argument, NULL, 'b'},      {"devices", required_argument, NULL, 'n'},
        {"compromised", required_argument, NULL, 'c'}, {"scenarios", required_argument, NULL, 's'},
        {"duration", required_argument, NULL, 'd'},    {"interval", required_argument, NULL, 'i'},
        {"accel", required_argument, NULL, 'x'},       {"connections", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 'S'},        {"groups", required_argument, NULL, 'g'},
        {"groups-plan", required_argument, NULL, 'G'}, {"plan-only", no_argument, NULL, 'P'},
        {"intel-feed", required_argument, NULL, 'f'},  {"db", required_argument, NULL, 'D'},
        {"wardctl", required_argument, NULL, 'w'},     {"alerts-jsonl", required_argument, NULL, 'a'},
        {"settle", required_argument, NULL, 'T'},      {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    o->port = 1883;
    o->devices = 36;
    o->connections = 4;
    o->seed = 1;
    o->compromised = 0.25;
    o->accel = 60;
    o->duration = 1800;
    o->interval = 60;
    o->settle = 60;
    snprintf(o->groups_buf, sizeof o->groups_buf, "default");
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (!parse_broker(optarg, o))
                return bad("--broker wants HOST:PORT", optarg);
            break;
        case 'n':
            if (!parse_long(optarg, 1, 1000000, &o->devices))
                return bad("--devices wants 1..1000000", optarg);
            break;
        case 'c':
            if (!parse_double(optarg, 0, 1, &o->compromised))
                return bad("--compromised wants 0..1", optarg);
            break;
        case 's': {
            char buf[512];
            snprintf(buf, sizeof buf, "%s", optarg);
            o->scen_given = true;
            char *save = NULL;
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int k = 0;
                while (k < SC_COUNT && strcmp(t, sim_scenario_name[k]) != 0)
                    k++;
                if (k == SC_COUNT)
                    return bad("--scenarios: unknown scenario", t);
                o->scen_on[k] = true;
            }
            break;
        }
        case 'd':
            if (!parse_long(optarg, 10, 100L * 86400, &o->duration))
                return bad("--duration wants 10..8640000", optarg);
            break;
        case 'i':
            if (!parse_long(optarg, 10, 86400, &o->interval))
                return bad("--interval wants 10..86400", optarg);
            break;
        case 'x':
            if (!parse_double(optarg, 0, 1e6, &o->accel))
                return bad("--accel wants 0..1000000", optarg);
            break;
        case 'k':
            if (!parse_long(optarg, 1, 1000, &o->connections))
                return bad("--connections wants 1..1000", optarg);
            break;
        case 'S':
            if (!parse_long(optarg, 0, LONG_MAX, &o->seed))
                return bad("--seed wants a number >= 0", optarg);
            break;
        case 'g':
            if (strlen(optarg) >= sizeof o->groups_buf)
                return bad("--groups is too long", optarg);
            snprintf(o->groups_buf, sizeof o->groups_buf, "%s", optarg);
            break;
        case 'G': o->groups_plan = optarg; break;
        case 'P': o->plan_only = true; break;
        case 'f':
            if (o->n_feeds == 16)
                return bad("--intel-feed: at most 16", optarg);
            o->intel_feed[o->n_feeds++] = optarg;
            break;
        case 'D': o->db = optarg; break;
        case 'w': o->wardctl = optarg; break;
        case 'a': o->alerts_jsonl = optarg; break;
        case 'T':
            if (!parse_long(optarg, 0, 3600, &o->settle))
                return bad("--settle wants 0..3600", optarg);
            break;
        case 'q': o->quiet = true; break;
        case 'h': usage(stdout); return 1;
        default:
            fprintf(stderr, "wardsim: error: unknown option or missing value: %s (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc)
        return bad("unexpected argument", argv[optind]);
    char *save = NULL;
    for (char *t = strtok_r(o->groups_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->n_groups == MAX_GROUPS)
            return bad("--groups: at most 16 groups", t);
        o->groups[o->n_groups++] = t;
    }
    if (o->n_groups == 0)
        return bad("--groups wants at least one group", "");
    if (!o->scen_given)
        for (int k = 0; k < SC_COUNT; k++)
            o->scen_on[k] = k != SC_INTEL || o->n_feeds > 0;
    if (o->scen_on[SC_INTEL] && o->n_feeds == 0)
        return bad("the intel scenario needs --intel-feed", "intel");
    return 0;
}

/* Profile of a group: by its name when it says, else in turn. */
static int group_profile(const opts_t *o, int g, int idx)
{
    const char *n = o->groups[g];
    if (o->n_groups == 1)
        return idx % PR_COUNT;
    if (strstr(n, "cam") != NULL)
        return PR_CAMERA;
    if (strstr(n, "sens") != NULL || strstr(n, "meter") != NULL || strstr(n, "plug") != NULL)
        return PR_SENSOR;
    if (strstr(n, "gw") != NULL || strstr(n, "gate") != NULL || strstr(n, "hub") != NULL)
        return PR_GATEWAY;
    return g % PR_COUNT;
}

/* ---- MQTT ---- */

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    conn_t *c = obj;
    if (rc == 0)
        c->connected = 1;
    else
        c->failed = 1;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    (void)rc;
    conn_t *c = obj;
    c->connected = 0;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    (void)mid;
    conn_t *c = obj;
    c->pending--;
    c->acked++;
}

typedef struct pub_ctx {
    sim_device_t *d;
    conn_t *c;
    uint64_t *parts_total;
} pub_ctx_t;

static int32_t publish(void *ctx, const uint8_t *buf, size_t len, int priority)
{
    (void)priority;
    pub_ctx_t *p = ctx;
    if (!p->c->connected || p->c->pending >= CONN_MAX_PENDING)
        return 0;
    p->c->pending++;
    int rc = mosquitto_publish(p->c->m, NULL, p->d->topic, (int)len, buf, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        p->c->pending--;
        return rc == MOSQ_ERR_NO_CONN ? 0 : -1;
    }
    p->d->parts++;
    (*p->parts_total)++;
    p->d->report_bytes += (uint32_t)len;
    return (int32_t)len;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    double now = mono_s();
    if (t <= now)
        return;
    struct timespec ts;
    double d = t - now;
    ts.tv_sec = (time_t)d;
    ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

/* ---- reading wardd's results ---- */

/* Run argv, return its stdout (malloc'd), NULL on failure. */
static char *run_capture(char *const argv[])
{
    int fd[2];
    if (pipe(fd) != 0)
        return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0, cap = 65536;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL)
            break;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(fd[0], buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (buf == NULL || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static json_t *wardctl_json(const opts_t *o, const char *what)
{
    char *argv[] = {(char *)o->wardctl, (char *)"--db", (char *)o->db, (char *)what,
                    (char *)"--json", NULL};
    char *out = run_capture(argv);
    if (out == NULL)
        return NULL;
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    free(out);
    if (j != NULL && !json_is_array(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Report parts wardd has processed: rows of report_parts (store.h), read-only. */
static uint64_t parts_stored(const char *db)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    uint64_t n = 0;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT count(*) FROM report_parts", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 2000);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static json_t *read_jsonl(const char *path)
{
    FILE *f = fopen(path, "r");
    json_t *arr = json_array();
    if (f == NULL)
        return arr;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *a = json_loads(line, 0, NULL);
        if (json_is_object(a))
            json_array_append_new(arr, a);
        else
            json_decref(a);
    }
    free(line);
    fclose(f);
    return arr;
}

static bool type_matches(int scen, const char *type)
{
    const char *want = sim_scenario_alert[scen];
    if (scen == SC_INTEL)
        return strncmp(type, want, strlen(want)) == 0;
    return strcmp(type, want) == 0;
}

/* Score alerts against the injected scenarios; prints the table. 0 perfect, 1 otherwise. */
static int score(const sim_t *s, json_t *alerts, bool quiet)
{
    size_t injected[SC_COUNT] = {0}, detected[SC_COUNT] = {0};
    size_t fp = 0, benign = 0;
    (void)quiet;
    for (size_t i = 0; i < s->n; i++) {
        const sim_device_t *d = &s->devs[i];
        bool inj = d->scen != SC_NONE && d->started;
        if (!inj) {
            benign++;
        }
        bool found = false;
        const char *found_type = NULL;
        size_t k;
        json_t *a;
        json_array_foreach(alerts, k, a) {
            const char *dev = json_string_value(json_object_get(a, "device"));
            const char *type = json_string_value(json_object_get(a, "type"));
            if (dev == NULL || type == NULL || strcmp(dev, d->id) != 0)
                continue;
            if (inj && type_matches(d->scen, type)) {
                found = true;
                found_type = type;
                continue;
            }
            json_t *ev = json_object_get(a, "evidence");
            const char *ra = json_string_value(json_object_get(ev, "remote_addr"));
            if (inj && strncmp(type, "rule.", 5) == 0) {
                /* A group rule names no attack: on a compromised device it is the attack's
                 * traffic leaving the group's profile, not a wrong detection. */
                printf("wardsim related device=%s type=%s injected=%s\n", d->id, type,
                       sim_scenario_name[d->scen]);
                continue;
            }
            fp++;
            printf("wardsim false_positive device=%s type=%s why=%s%s%s%s%s\n", d->id, type,
                   inj ? "not-injected injected=" : "benign", inj ? sim_scenario_name[d->scen] : "",
                   ra ? " remote=" : "", ra ? ra : "", inj && d->s_spoof ? " (spoofed sources)" : "");
        }
        if (inj) {
            injected[d->scen]++;
            detected[d->scen] += found;
            printf("wardsim injected device=%s scenario=%s fact=\"%s\" detected=%s%s%s\n", d->id,
                   sim_scenario_name[d->scen], d->s_fact, found ? "yes" : "no",
                   found ? " alert=" : "", found ? found_type : "");
        }
    }
    int rc = 0;
    for (int k = 0; k < SC_COUNT; k++) {
        if (injected[k] == 0)
            continue;
        printf("wardsim scenario=%s injected=%zu detected=%zu rate=%.2f\n", sim_scenario_name[k],
               injected[k], detected[k], (double)detected[k] / (double)injected[k]);
        if (detected[k] < injected[k])
            rc = 1;
    }
    printf("wardsim false_positives=%zu benign_devices=%zu\n", fp, benign);
    if (fp > 0)
        rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    opts_t o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    setvbuf(stdout, NULL, _IOLBF, 0);

    static char wardctl_buf[4096];
    if (o.wardctl == NULL) {
        ssize_t n = readlink("/proc/self/exe", wardctl_buf, sizeof wardctl_buf - 16);
        if (n > 0) {
            wardctl_buf[n] = '\0';
            char *slash = strrchr(wardctl_buf, '/');
            if (slash != NULL)
                snprintf(slash + 1, sizeof wardctl_buf - (size_t)(slash + 1 - wardctl_buf),
                         "wardctl");
        }
        o.wardctl = wardctl_buf;
    }

    sim_feed_t feed;
    memset(&feed, 0, sizeof feed);
    char err[512];
    for (int i = 0; i < o.n_feeds; i++) {
        if (sim_feed_load(&feed, o.intel_feed[i], err, sizeof err) != 0) {
            fprintf(stderr, "wardsim: error: %s\n", err);
            return 3;
        }
    }
    if (o.scen_on[SC_INTEL] && feed.n == 0) {
        fprintf(stderr, "wardsim: error: no address in the --intel-feed files\n");
        return 3;
    }

    sim_t s;
    memset(&s, 0, sizeof s);
    s.n = (size_t)o.devices;
    s.devs = calloc(s.n, sizeof *s.devs);
    s.agents = calloc(s.n, sizeof *s.agents);
    pub_ctx_t *pctx = calloc(s.n, sizeof *pctx);
    conn_t *conns = calloc((size_t)o.connections, sizeof *conns);
    if (s.devs == NULL || s.agents == NULL || pctx == NULL || conns == NULL) {
        fprintf(stderr, "wardsim: error: out of memory for %zu devices\n", s.n);
        return 3;
    }
    s.rng.s = (uint64_t)o.seed ^ 0x5eedf00dull;
    s.feed = o.n_feeds > 0 ? &feed : NULL;
    s.interval_s = (uint32_t)o.interval;
    s.duration_s = (uint32_t)o.duration;

    for (size_t i = 0; i < s.n; i++) {
        int g = (int)(i % (size_t)o.n_groups);
        sim_device_setup(&s, &s.devs[i], (int)i, g, group_profile(&o, g, (int)i),
                         (uint64_t)o.seed);
        s.devs[i].conn = (int)(i % (size_t)o.connections);
    }

    /* Which devices are compromised, and by what: a seeded shuffle, scenarios in turn. */
    int enabled[SC_COUNT], n_en = 0;
    for (int k = 0; k < SC_COUNT; k++)
        if (o.scen_on[k])
            enabled[n_en++] = k;
    size_t n_comp = (size_t)llround(o.compromised * (double)s.n);
    if (o.compromised > 0 && n_comp == 0)
        n_comp = 1;
    if (n_en == 0)
        n_comp = 0;
    size_t *order = calloc(s.n, sizeof *order);
    if (order == NULL)
        return 3;
    for (size_t i = 0; i < s.n; i++)
        order[i] = i;
    for (size_t i = s.n; i > 1; i--) {
        size_t j = (size_t)(sim_rand(&s.rng) % i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    size_t planned = 0;
    for (size_t i = 0; i < n_comp; i++) {
        sim_device_t *d = &s.devs[order[i]];
        int sc = enabled[i % (size_t)n_en];
        if (!sim_scenario_plan(&s, d, sc)) {
            fprintf(stderr,
                    "wardsim: warning: scenario %s does not fit %lds of simulated time with a "
                    "%lds interval (exfiltration needs about 20 intervals): %s stays benign\n",
                    sim_scenario_name[sc], o.duration, o.interval, d->id);
            d->scen = SC_NONE;
            continue;
        }
        planned++;
    }
    free(order);

    if (o.groups_plan != NULL) {
        FILE *f = fopen(o.groups_plan, "w");
        if (f == NULL) {
            fprintf(stderr, "wardsim: error: cannot write %s: %s\n", o.groups_plan,
                    strerror(errno));
            return 3;
        }
        for (size_t i = 0; i < s.n; i++)
            fprintf(f, "%s %s\n", s.devs[i].id, o.groups[s.devs[i].group]);
        if (fclose(f) != 0) {
            fprintf(stderr, "wardsim: error: cannot write %s\n", o.groups_plan);
            return 3;
        }
    }
    if (o.plan_only)
        return 0;

    /* Agents. */
    uint64_t parts_total = 0;
    for (size_t i = 0; i < s.n; i++) {
        sim_device_t *d = &s.devs[i];
        pctx[i].d = d;
        pctx[i].c = &conns[d->conn];
        pctx[i].parts_total = &parts_total;
        d->transport.publish = publish;
        d->transport.ctx = &pctx[i];
        ward_agent_config_t cfg;
        ward_agent_config_init(&cfg);
        cfg.device_id = d->id;
        cfg.boot_id = (uint32_t)sim_rand(&d->rng);
        cfg.report_interval_s = (uint32_t)o.interval;
        cfg.time_base = WARD_TIME_BOOT;
        cfg.transport = &d->transport;
        ward_status_t st = ward_agent_init(&s.agents[i], &cfg, d->clock0_ms);
        if (st != WARD_OK) {
            fprintf(stderr, "wardsim: error: agent init for %s: %s\n", d->id, ward_status_str(st));
            return 3;
        }
        static const char *const hw[PR_COUNT] = {"IPC-2M cam", "EnvSense S3", "HubOne G2"};
        static const char *const fw[PR_COUNT] = {"cam-fw 2.4.1", "sens-fw 1.9.0", "gw-fw 3.2.7"};
        ward_sysinfo_t si = {d->profile == PR_GATEWAY ? "Zephyr 3.5.0" : "FreeRTOS 10.5.1",
                             fw[d->profile], hw[d->profile],
                             d->profile == PR_GATEWAY ? "Zephyr net" : "lwIP 2.1.3", 1, 0};
        ward_agent_set_sysinfo(&s.agents[i], &si);
        ward_agent_set_listening(&s.agents[i], sim_listening, d);
    }

    /* MQTT. */
    mosquitto_lib_init();
    for (long k = 0; k < o.connections; k++) {
        char cid[64];
        snprintf(cid, sizeof cid, "wardsim-%ld-%ld", (long)getpid(), k);
        conn_t *c = &conns[k];
        c->m = mosquitto_new(cid, true, c);
        if (c->m == NULL) {
            fprintf(stderr, "wardsim: error: mosquitto_new: %s\n", strerror(errno));
            return 3;
        }
        mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
        mosquitto_int_option(c->m, MOSQ_OPT_SEND_MAXIMUM, 1000);
        mosquitto_connect_callback_set(c->m, on_connect);
        mosquitto_disconnect_callback_set(c->m, on_disconnect);
        mosquitto_publish_callback_set(c->m, on_publish);
        mosquitto_reconnect_delay_set(c->m, 1, 5, false);
        int r = mosquitto_connect_async(c->m, o.host, o.port, 30);
        if (r == MOSQ_ERR_SUCCESS)
            r = mosquitto_loop_start(c->m);
        if (r != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "wardsim: error: cannot connect to %s:%d: %s\n", o.host, o.port,
                    r == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(r));
            return 3;
        }
    }
    double t_wait = mono_s() + 10;
    for (long k = 0; k < o.connections; k++) {
        while (!conns[k].connected && !conns[k].failed && mono_s() < t_wait)
            sleep_until(mono_s() + 0.01);
        if (!conns[k].connected) {
            fprintf(stderr, "wardsim: error: the broker at %s:%d did not accept connection %ld\n",
                    o.host, o.port, k);
            return 3;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (!o.quiet)
        printf("wardsim: %zu devices (%zu compromised) in %d group(s) over %ld connection(s) to "
               "%s:%d; %lds simulated at x%g, reports every %lds\n",
               s.n, planned, o.n_groups, o.connections, o.host, o.port, o.duration, o.accel,
               o.interval);

    /* The time loop: one simulated second at a time. */
    uint8_t buf[WARD_REPORT_BUFFER_SIZE];
    double real0 = mono_s();
    uint32_t t = 0;
    for (; t < (uint32_t)o.duration && !g_stop; t++) {
        for (size_t i = 0; i < s.n; i++) {
            sim_device_t *d = &s.devs[i];
            bool was = d->started;
            sim_device_second(&s, d, t);
            if (!was && d->started && !o.quiet)
                printf("wardsim: t=%us %s %s: %s\n", t, d->id, sim_scenario_name[d->scen],
                       d->s_fact);
        }
        sim_run_until(&s, (uint64_t)(t + 1) * 1000000u);
        for (size_t i = 0; i < s.n; i++)
            ward_agent_poll(&s.agents[i], s.devs[i].clock0_ms + (uint64_t)(t + 1) * 1000u, buf,
                            sizeof buf);
        if (o.accel > 0)
            sleep_until(real0 + (double)(t + 1) / o.accel);
    }
    /* The last data: every agent reports what it holds now. */
    for (size_t i = 0; i < s.n; i++) {
        for (int tries = 0; tries < 50; tries++) {
            ward_status_t st = ward_agent_flush(&s.agents[i], s.devs[i].clock0_ms + t * 1000ull,
                                                buf, sizeof buf);
            if (st != WARD_E_AGAIN)
                break;
            sleep_until(mono_s() + 0.05);
        }
    }
    double real_s = mono_s() - real0;
    double t_ack = mono_s() + 30;
    long pending = 0;
    do {
        pending = 0;
        for (long k = 0; k < o.connections; k++)
            pending += conns[k].pending;
        if (pending > 0)
            sleep_until(mono_s() + 0.02);
    } while (pending > 0 && mono_s() < t_ack);
    printf("wardsim: simulated %us in %.1fs real: %" PRIu64 " packets, %" PRIu64
           " report parts published%s\n",
           t, real_s, s.packets, parts_total, pending > 0 ? " (some unacknowledged)" : "");
    for (long k = 0; k < o.connections; k++) {
        mosquitto_disconnect(conns[k].m);
        mosquitto_loop_stop(conns[k].m, false);
        mosquitto_destroy(conns[k].m);
    }
    mosquitto_lib_cleanup();

    /* Score. */
    int status = 1;
    json_t *alerts = NULL;
    if (o.db != NULL) {
        double deadline = mono_s() + (double)o.settle;
        uint64_t stored = 0;
        for (;;) {
            stored = parts_stored(o.db);
            if (stored >= parts_total || mono_s() >= deadline)
                break;
            sleep_until(mono_s() + 0.5);
        }
        if (stored < parts_total)
            printf("wardsim: wardd stored %" PRIu64 " of %" PRIu64 " report parts within %lds\n",
                   stored, parts_total, o.settle);
        alerts = wardctl_json(&o, "alerts");
        if (alerts == NULL) {
            fprintf(stderr, "wardsim: error: %s --db %s alerts --json failed\n", o.wardctl, o.db);
            status = 3;
        }
    } else if (o.alerts_jsonl != NULL) {
        sleep_until(mono_s() + (double)o.settle);
        alerts = read_jsonl(o.alerts_jsonl);
    } else {
        for (size_t i = 0; i < s.n; i++)
            if (s.devs[i].scen != SC_NONE && s.devs[i].started)
                printf("wardsim injected device=%s scenario=%s fact=\"%s\"\n", s.devs[i].id,
                       sim_scenario_name[s.devs[i].scen], s.devs[i].s_fact);
        printf("wardsim: not scored (give --db or --alerts-jsonl)\n");
    }
    if (alerts != NULL) {
        printf("wardsim: %zu alerts from wardd\n", json_array_size(alerts));
        status = score(&s, alerts, o.quiet);
        json_decref(alerts);
    }
    free(s.heap);
    free(s.devs);
    free(s.agents);
    free(pctx);
    free(conns);
    sim_feed_free(&feed);
    return status;
}
