/*
 * wardctl: the operator's command line.
 *
 *   wardctl --db PATH devices|flows|alerts [--device ID] [--limit N] [--json]
 *   wardctl decode [FILE]
 *
 * devices/flows/alerts read the wardd database through its own read-only connection (it never
 * creates one): an aligned table for people, or with --json a JSON array with the shapes of
 * store.h and alerts.h. decode prints a CBOR report (FILE or stdin) as JSON with named fields.
 * flows lists, besides the flows ("overflow": false), the overflow summaries of the reports
 * ("overflow": true; store.h, ward_store_overflow_json): in the table, a line marked OVERFLOW.
 *
 * Exit codes: 0 ok, 1 runtime error (missing database, invalid report), 2 usage error.
 * Single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "store.h"
#include "wire.h"
#include "wardctl_group.h"
#include "wardctl_hygiene.h"
#include "wardctl_intel.h"
#include "wardctl_config.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* Largest input decode reads: anything past the report limit is rejected by the decoder. */
#define DECODE_READ_MAX (WARD_WIRE_REPORT_MAX + 1)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wardctl --db PATH devices [--device ID] [--json]\n"
            "       wardctl --db PATH flows   [--device ID] [--limit N] [--json]\n"
            "       wardctl --db PATH alerts  [--device ID] [--limit N] [--json]\n"
            "       wardctl decode [FILE]\n"
            "       wardctl intel check ADDRESS [--feed PATH]... [--json]   (see wardctl intel --help)\n"
            "       wardctl --db PATH recommendations [--device ID] [--json]\n"
            "       wardctl --db PATH group apply FILE\n"
            "       wardctl --db PATH group list|show GROUP|learned GROUP [--freeze] [--json]\n"
            "       wardctl --db PATH device set-group ID GROUP\n"
            "       wardctl --broker HOST:PORT config push|show|clear DEVICE ...  (see wardctl config --help)\n"
            "\n"
            "  devices   devices that reported: first/last seen, agent version, reports, flows\n"
            "  flows     stored flows, oldest first, with the overflow summaries (traffic the\n"
            "            agent's flow table had no room for; \"overflow\": true in --json)\n"
            "  alerts    alerts, by id\n"
            "  decode    print a CBOR report (FILE, or stdin) as JSON with named fields\n"
            "  recommendations  hygiene recommendations, open first (docs/hygiene.md)\n"
            "  group     security groups: apply a rules file (all valid or nothing stored), list,\n"
            "            show one, show what one learned or --freeze it into rules (docs/rules.md)\n"
            "  device set-group  put a device into a group (\"default\" when never set)\n"
            "\n"
            "  --db PATH     the wardd database (must exist; never created)\n"
            "  --device ID   only this device\n"
            "  --limit N     at most N rows (flows, alerts)\n"
            "  --json        a JSON array instead of a table\n"
            "  --help        show this help\n"
            "\n"
            "Times are UTC (ISO-8601). Exit status: 0 ok, 1 error, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "wardctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see wardctl --help)\n");
    return EXIT_USAGE;
}

/* ---- Tables -------------------------------------------------------------------------------- */

typedef enum col_kind {
    C_STR,
    C_INT,
    C_ENDPOINT_LOCAL,
    C_ENDPOINT_REMOTE,
    C_EVIDENCE_REMOTE,
    C_INDICATOR
} col_kind_t;

typedef struct col {
    const char *header;
    const char *key;
    col_kind_t kind;
    bool right; /* numbers align right */
} col_t;

static void endpoint(const char *addr, json_int_t port, char *buf, size_t len)
{
    if (addr == NULL)
        addr = "?";
    if (strchr(addr, ':') != NULL)
        snprintf(buf, len, "[%s]:%lld", addr, (long long)port);
    else
        snprintf(buf, len, "%s:%lld", addr, (long long)port);
}

/* A remote endpoint: addr:port, or for ICMP "addr icmp 8/0" (type/code). */
static void remote(json_t *o, char *buf, size_t len)
{
    const char *addr = json_string_value(json_object_get(o, "remote_addr"));
    json_t *type = json_object_get(o, "icmp_type");
    if (type != NULL)
        snprintf(buf, len, "%s type %lld/%lld", addr ? addr : "?",
                 (long long)json_integer_value(type),
                 (long long)json_integer_value(json_object_get(o, "icmp_code")));
    else
        endpoint(addr, json_integer_value(json_object_get(o, "remote_port")), buf, len);
}

/* The cells of an overflow summary row where a flow has its endpoints: clearly not a flow. */
static bool overflow_cell(json_t *row, const col_t *c, char *buf, size_t len)
{
    if (!json_is_true(json_object_get(row, "overflow")))
        return false;
    if (c->kind == C_ENDPOINT_LOCAL)
        snprintf(buf, len, "OVERFLOW");
    else if (c->kind == C_ENDPOINT_REMOTE) {
        const char *dir = json_string_value(json_object_get(row, "direction"));
        snprintf(buf, len, "%lld untracked flows, %s",
                 (long long)json_integer_value(json_object_get(row, "flows")), dir ? dir : "?");
    } else if (strcmp(c->key, "initiator") == 0)
        snprintf(buf, len, "-");
    else
        return false;
    return true;
}

static char *cell(json_t *row, const col_t *c)
{
    char buf[512];
    json_t *v = json_object_get(row, c->key);
    if (overflow_cell(row, c, buf, sizeof buf))
        return strdup(buf);
    switch (c->kind) {
    case C_INT:
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        break;
    case C_ENDPOINT_LOCAL:
        endpoint(json_string_value(json_object_get(row, "local_addr")),
                 json_integer_value(json_object_get(row, "local_port")), buf, sizeof buf);
        break;
    case C_ENDPOINT_REMOTE:
        remote(row, buf, sizeof buf);
        break;
    case C_EVIDENCE_REMOTE: {
        json_t *ev = json_object_get(row, "evidence");
        if (json_object_get(ev, "remote_addr") != NULL)
            remote(ev, buf, sizeof buf);
        else
            snprintf(buf, sizeof buf, "-");
        break;
    }
    case C_INDICATOR: {
        json_t *ind = json_object_get(json_object_get(row, "evidence"), "indicator");
        const char *value = json_string_value(json_object_get(ind, "value"));
        const char *source = json_string_value(json_object_get(ind, "source"));
        if (value != NULL)
            snprintf(buf, sizeof buf, "%s (%s)", value, source ? source : "?");
        else
            snprintf(buf, sizeof buf, "-");
        break;
    }
    default:
        if (json_is_string(v))
            snprintf(buf, sizeof buf, "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        else
            snprintf(buf, sizeof buf, "-");
        break;
    }
    return strdup(buf);
}

static int print_table(json_t *rows, const col_t *cols, size_t ncols)
{
    size_t nrows = json_array_size(rows);
    char **cells = calloc((nrows + 1) * ncols, sizeof *cells);
    size_t *width = calloc(ncols, sizeof *width);
    int rc = 0;
    if (cells == NULL || width == NULL) {
        fprintf(stderr, "wardctl: error: out of memory\n");
        free(cells);
        free(width);
        return EXIT_RUNTIME;
    }
    for (size_t c = 0; c < ncols; c++) {
        cells[c] = strdup(cols[c].header);
        for (size_t r = 0; r < nrows; r++)
            cells[(r + 1) * ncols + c] = cell(json_array_get(rows, r), &cols[c]);
        for (size_t r = 0; r <= nrows; r++) {
            if (cells[r * ncols + c] == NULL) {
                rc = EXIT_RUNTIME;
                continue;
            }
            size_t w = strlen(cells[r * ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t r = 0; rc == 0 && r <= nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cells[r * ncols + c];
            bool last = c + 1 == ncols;
            if (cols[c].right)
                printf("%*s%s", (int)width[c], s, last ? "" : "  ");
            else if (last)
                printf("%s", s);
            else
                printf("%-*s  ", (int)width[c], s);
        }
        printf("\n");
    }
    for (size_t i = 0; i < (nrows + 1) * ncols; i++)
        free(cells[i]);
    free(cells);
    free(width);
    if (rc != 0)
        fprintf(stderr, "wardctl: error: out of memory\n");
    return rc;
}

static const col_t device_cols[] = {
    {"ID", "id", C_STR, false},
    {"FIRST SEEN", "first_seen", C_STR, false},
    {"LAST SEEN", "last_seen", C_STR, false},
    {"AGENT", "agent_version", C_STR, false},
    {"BOOT ID", "boot_id", C_INT, true},
    {"REPORTS", "reports", C_INT, true},
    {"FLOWS", "flows", C_INT, true},
    {"CONFIG REV", "config_rev", C_INT, true},
};

static const col_t flow_cols[] = {
    {"DEVICE", "device", C_STR, false},
    {"PROTO", "protocol", C_STR, false},
    {"LOCAL", "local_addr", C_ENDPOINT_LOCAL, false},
    {"REMOTE", "remote_addr", C_ENDPOINT_REMOTE, false},
    {"INITIATOR", "initiator", C_STR, false},
    {"PKTS IN", "packets_in", C_INT, true},
    {"PKTS OUT", "packets_out", C_INT, true},
    {"BYTES IN", "bytes_in", C_INT, true},
    {"BYTES OUT", "bytes_out", C_INT, true},
    {"FIRST SEEN", "first_seen", C_STR, false},
    {"LAST SEEN", "last_seen", C_STR, false},
};

static const col_t alert_cols[] = {
    {"ID", "id", C_INT, true},
    {"SEVERITY", "severity", C_STR, false},
    {"TYPE", "type", C_STR, false},
    {"DEVICE", "device", C_STR, false},
    {"REMOTE", "evidence", C_EVIDENCE_REMOTE, false},
    {"INDICATOR (SOURCE)", "evidence", C_INDICATOR, false},
    {"COUNT", "count", C_INT, true},
    {"FIRST SEEN", "first_seen", C_STR, false},
    {"LAST SEEN", "last_seen", C_STR, false},
    {"STATE", "state", C_STR, false},
    {"TITLE", "title", C_STR, false},
};

/* ---- Commands ------------------------------------------------------------------------------ */

/*
 * The flows and the overflow summaries of the reports, merged oldest first (by first_seen; a
 * summary's first_seen is its report's period start), at most limit rows. Flows get
 * "overflow": false, summaries "overflow": true. NULL on a database error.
 */
static json_t *flows_with_overflow(ward_store_t *st, const char *device, long limit)
{
    json_t *flows = ward_store_flows_json(st, device, limit);
    json_t *ov = flows ? ward_store_overflow_json(st, device, limit) : NULL;
    json_t *out = ov ? json_array() : NULL;
    size_t i = 0, j = 0, nf = json_array_size(flows), no = json_array_size(ov);
    while (out != NULL && (i < nf || j < no) &&
           (limit <= 0 || json_array_size(out) < (size_t)limit)) {
        json_t *f = i < nf ? json_array_get(flows, i) : NULL;
        json_t *o = j < no ? json_array_get(ov, j) : NULL;
        /* ISO-8601 UTC times of one format compare as strings. */
        const char *tf = f ? json_string_value(json_object_get(f, "first_seen")) : NULL;
        const char *to = o ? json_string_value(json_object_get(o, "first_seen")) : NULL;
        if (f != NULL && (o == NULL || strcmp(tf ? tf : "", to ? to : "") <= 0)) {
            json_object_set_new(f, "overflow", json_false());
            json_array_append(out, f);
            i++;
        } else {
            json_array_append(out, o);
            j++;
        }
    }
    json_decref(flows);
    json_decref(ov);
    return out;
}

static int cmd_query(const char *db, const char *what, const char *device, long limit, bool json)
{
    char err[512];
    ward_store_t *st = ward_store_open(db, true, err, sizeof err);
    if (st == NULL) {
        fprintf(stderr, "wardctl: error: %s\n", err);
        return EXIT_RUNTIME;
    }
    json_t *rows;
    const col_t *cols;
    size_t ncols;
    if (strcmp(what, "devices") == 0) {
        rows = ward_store_devices_json(st, device);
        cols = device_cols;
        ncols = sizeof device_cols / sizeof device_cols[0];
    } else if (strcmp(what, "flows") == 0) {
        rows = flows_with_overflow(st, device, limit);
        cols = flow_cols;
        ncols = sizeof flow_cols / sizeof flow_cols[0];
    } else {
        rows = ward_store_alerts_json(st, device, limit);
        cols = alert_cols;
        ncols = sizeof alert_cols / sizeof alert_cols[0];
    }
    int rc = 0;
    if (rows == NULL) {
        fprintf(stderr, "wardctl: error: database %s: %s\n", db, ward_store_errmsg(st));
        rc = EXIT_RUNTIME;
    } else if (json) {
        if (json_dumpf(rows, stdout, JSON_INDENT(2)) != 0) {
            fprintf(stderr, "wardctl: error: cannot write the output\n");
            rc = EXIT_RUNTIME;
        }
        printf("\n");
    } else {
        rc = print_table(rows, cols, ncols);
    }
    json_decref(rows);
    ward_store_close(st);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "wardctl: error: cannot write the output: %s\n", strerror(errno));
        rc = EXIT_RUNTIME;
    }
    return rc;
}

static int cmd_decode(const char *path)
{
    FILE *f = path ? fopen(path, "rb") : stdin;
    if (f == NULL) {
        fprintf(stderr, "wardctl: error: cannot open %s: %s\n", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    uint8_t *buf = malloc(DECODE_READ_MAX);
    if (buf == NULL) {
        fprintf(stderr, "wardctl: error: out of memory\n");
        if (path)
            fclose(f);
        return EXIT_RUNTIME;
    }
    size_t len = 0, got;
    while (len < DECODE_READ_MAX && (got = fread(buf + len, 1, DECODE_READ_MAX - len, f)) > 0)
        len += got;
    bool failed = ferror(f) != 0;
    if (path)
        fclose(f);
    if (failed) {
        fprintf(stderr, "wardctl: error: cannot read %s\n", path ? path : "stdin");
        free(buf);
        return EXIT_RUNTIME;
    }
    json_t *out = NULL;
    char reason[256];
    ward_status_t st = ward_wire_decode_json(buf, len, &out, reason, sizeof reason);
    free(buf);
    if (st != WARD_OK) {
        fprintf(stderr, "wardctl: invalid report (%s): %s\n", path ? path : "stdin", reason);
        return EXIT_RUNTIME;
    }
    int rc = json_dumpf(out, stdout, JSON_INDENT(2)) == 0 ? 0 : EXIT_RUNTIME;
    printf("\n");
    json_decref(out);
    if (fflush(stdout) != 0)
        rc = EXIT_RUNTIME;
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},    {"device", required_argument, NULL, 'D'},
        {"limit", required_argument, NULL, 'l'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},        {"freeze", no_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *device = NULL;
    long limit = 0;
    bool json = false, freeze = false;
    int c;
    if (argc > 1 && strcmp(argv[1], "intel") == 0) /* its own options: wardctl_intel.c */
        return wardctl_intel(argc - 1, argv + 1);
    if (wardctl_config_is_command(argc, argv)) /* its own options: wardctl_config.c */
        return wardctl_config(argc, argv);
    ward_log_init("wardctl", WARD_LOG_WARN);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'D':
            if (!ward_wire_device_id_valid(optarg, strlen(optarg)))
                return usage_error("--device \"%s\" is not a device id (1..64 of [A-Za-z0-9._-])",
                                   optarg);
            device = optarg;
            break;
        case 'l': {
            char *end;
            errno = 0;
            limit = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || limit < 1)
                return usage_error("--limit wants a positive number, got \"%s\"", optarg);
            break;
        }
        case 'j':
            json = true;
            break;
        case 'F':
            freeze = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return usage_error("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("%s", "a command is required: devices, flows, alerts or decode");
    const char *cmd = argv[optind++];
    if (strcmp(cmd, "decode") == 0) {
        if (argc - optind > 1)
            return usage_error("decode takes at most one FILE, got \"%s\"", argv[optind + 1]);
        return cmd_decode(optind < argc && strcmp(argv[optind], "-") != 0 ? argv[optind] : NULL);
    }
    if (strcmp(cmd, "group") == 0)
        return wardctl_group(db, json, freeze, argc - optind, argv + optind);
    if (strcmp(cmd, "device") == 0)
        return wardctl_device(db, argc - optind, argv + optind);
    if (strcmp(cmd, "recommendations") == 0)
        return wardctl_recommendations(db, device, json, argc - optind, argv + optind);
    if (strcmp(cmd, "devices") != 0 && strcmp(cmd, "flows") != 0 && strcmp(cmd, "alerts") != 0)
        return usage_error("unknown command \"%s\"", cmd);
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (db == NULL)
        return usage_error("%s needs --db PATH", cmd);
    return cmd_query(db, cmd, device, limit, json);
}
