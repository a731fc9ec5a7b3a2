/*
 * wardctl recommendations: see wardctl_hygiene.h. Reads through its own read-only connection
 * (ward_store_open never creates a database for a reader); a database written before
 * recommendations existed lists nothing.
 */
#include "wardctl_hygiene.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hygiene.h"
#include "store.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static const struct {
    const char *header, *key;
    bool right;
} cols[] = {
    {"ID", "id", true},
    {"STATE", "state", false},
    {"SEVERITY", "severity", false},
    {"TYPE", "type", false},
    {"DEVICE", "device", false},
    {"KEY", "key", false},
    {"FIRST SEEN", "first_seen", false},
    {"LAST SEEN", "last_seen", false},
    {"TITLE", "title", false},
};
#define NCOLS (sizeof cols / sizeof cols[0])

static void cell(json_t *row, size_t c, char *buf, size_t len)
{
    json_t *v = json_object_get(row, cols[c].key);
    if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v) && json_string_value(v)[0] != '\0')
        snprintf(buf, len, "%s", json_string_value(v));
    else
        snprintf(buf, len, "-");
}

static void print_row(char cells[NCOLS][512], const size_t *width)
{
    for (size_t c = 0; c < NCOLS; c++) {
        bool last = c + 1 == NCOLS;
        if (cols[c].right)
            printf("%*s%s", (int)width[c], cells[c], last ? "" : "  ");
        else if (last)
            printf("%s", cells[c]);
        else
            printf("%-*s  ", (int)width[c], cells[c]);
    }
    printf("\n");
}

static bool is_open(json_t *row)
{
    const char *s = json_string_value(json_object_get(row, "state"));
    return s != NULL && strcmp(s, "open") == 0;
}

/* Open recommendations first, then resolved ones; by id within each. */
static void print_table(json_t *rows)
{
    size_t n = json_array_size(rows), width[NCOLS];
    static char cells[NCOLS][512];
    for (size_t c = 0; c < NCOLS; c++) {
        width[c] = strlen(cols[c].header);
        for (size_t r = 0; r < n; r++) {
            cell(json_array_get(rows, r), c, cells[c], sizeof cells[c]);
            if (strlen(cells[c]) > width[c])
                width[c] = strlen(cells[c]);
        }
    }
    for (size_t c = 0; c < NCOLS; c++)
        snprintf(cells[c], sizeof cells[c], "%s", cols[c].header);
    print_row(cells, width);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t r = 0; r < n; r++) {
            json_t *row = json_array_get(rows, r);
            if (is_open(row) != (pass == 0))
                continue;
            for (size_t c = 0; c < NCOLS; c++)
                cell(row, c, cells[c], sizeof cells[c]);
            print_row(cells, width);
        }
    }
}

int wardctl_recommendations(const char *db, const char *device, bool json, int argc, char **argv)
{
    if (argc > 0) {
        fprintf(stderr, "wardctl: unexpected argument \"%s\" (see wardctl --help)\n", argv[0]);
        return EXIT_USAGE;
    }
    if (db == NULL) {
        fprintf(stderr, "wardctl: recommendations needs --db PATH (see wardctl --help)\n");
        return EXIT_USAGE;
    }
    char err[512];
    ward_store_t *st = ward_store_open(db, true, err, sizeof err);
    if (st == NULL) {
        fprintf(stderr, "wardctl: error: %s\n", err);
        return EXIT_RUNTIME;
    }
    json_t *rows = ward_hygiene_list_json(st, device);
    int rc = 0;
    if (rows == NULL) {
        fprintf(stderr, "wardctl: error: database %s: %s\n", db, ward_store_errmsg(st));
        rc = EXIT_RUNTIME;
    } else if (json) {
        if (json_dumpf(rows, stdout, JSON_INDENT(2)) != 0)
            rc = EXIT_RUNTIME;
        printf("\n");
    } else {
        print_table(rows);
    }
    json_decref(rows);
    ward_store_close(st);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "wardctl: error: cannot write the output: %s\n", strerror(errno));
        rc = EXIT_RUNTIME;
    }
    return rc;
}
