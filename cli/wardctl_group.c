/*
 * wardctl group / device: see wardctl_group.h and docs/rules.md.
 *
 * Writes (apply, set-group, learned --freeze) open the database as a writer (created when
 * missing, so groups can be set up before wardd first runs) and change it in one transaction that
 * also bumps groups_rev: a running wardd picks the change up on the device's next report.
 * Reads open it read-only.
 */
#include "wardctl_group.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "registry.h"
#include "store.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "wardctl: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, " (see wardctl --help)\n");
    return EXIT_USAGE;
}

static ward_store_t *open_db(const char *db, bool write)
{
    char err[512];
    ward_store_t *st = ward_store_open(db, !write, err, sizeof err);
    if (st == NULL)
        fprintf(stderr, "wardctl: error: %s\n", err);
    return st;
}

static int print_json(json_t *v)
{
    int rc = json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : EXIT_RUNTIME;
    printf("\n");
    return rc;
}

static int finish_output(int rc)
{
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "wardctl: error: cannot write the output: %s\n", strerror(errno));
        rc = EXIT_RUNTIME;
    }
    return rc;
}

static int cmd_apply(const char *db, const char *file)
{
    json_error_t je;
    json_t *doc = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        if (je.line > 0)
            fprintf(stderr, "wardctl: %s:%d:%d: invalid JSON: %s\n", file, je.line, je.column,
                    je.text);
        else
            fprintf(stderr, "wardctl: %s: %s\n", file, je.text);
        return EXIT_RUNTIME;
    }
    char err[512];
    /* Validate before opening the database: a refused file changes nothing, not even creates. */
    if (ward_group_validate(doc, err, sizeof err) != 0) {
        fprintf(stderr, "wardctl: %s: %s\n", file, err);
        json_decref(doc);
        return EXIT_RUNTIME;
    }
    ward_store_t *st = open_db(db, true);
    if (st == NULL) {
        json_decref(doc);
        return EXIT_RUNTIME;
    }
    int rc = ward_registry_apply(st, doc, ward_now_ms(), err, sizeof err);
    if (rc == -1)
        fprintf(stderr, "wardctl: %s: %s\n", file, err);
    else if (rc != 0)
        fprintf(stderr, "wardctl: error: %s\n", err);
    else {
        const json_t *rules = json_object_get(doc, "rules");
        size_t i, enabled = 0;
        json_t *r;
        json_array_foreach(rules, i, r)
        {
            if (!json_is_false(json_object_get(r, "enabled")))
                enabled++;
        }
        printf("group %s: applied (%zu rules, %zu enabled%s)\n",
               json_string_value(json_object_get(doc, "group")), json_array_size(rules), enabled,
               json_object_get(doc, "learn") ? "; learning" : "");
    }
    json_decref(doc);
    ward_store_close(st);
    return finish_output(rc == 0 ? 0 : EXIT_RUNTIME);
}

static int cmd_list(const char *db, bool json)
{
    ward_store_t *st = open_db(db, false);
    if (st == NULL)
        return EXIT_RUNTIME;
    json_t *a = ward_registry_list_json(st);
    int rc = 0;
    if (a == NULL) {
        fprintf(stderr, "wardctl: error: database %s: %s\n", db, ward_store_errmsg(st));
        rc = EXIT_RUNTIME;
    } else if (json) {
        rc = print_json(a);
    } else {
        printf("%-24s %6s %8s %8s %-9s %s\n", "GROUP", "RULES", "ENABLED", "DEVICES", "LEARNING",
               "APPLIED");
        size_t i;
        json_t *g;
        json_array_foreach(a, i, g)
        {
            const char *applied = json_string_value(json_object_get(g, "applied"));
            printf("%-24s %6lld %8lld %8lld %-9s %s\n",
                   json_string_value(json_object_get(g, "group")),
                   (long long)json_integer_value(json_object_get(g, "rules")),
                   (long long)json_integer_value(json_object_get(g, "enabled_rules")),
                   (long long)json_integer_value(json_object_get(g, "devices")),
                   json_string_value(json_object_get(g, "learning")), applied ? applied : "-");
        }
    }
    json_decref(a);
    ward_store_close(st);
    return finish_output(rc);
}

static int cmd_show(const char *db, const char *group, bool json)
{
    ward_store_t *st = open_db(db, false);
    if (st == NULL)
        return EXIT_RUNTIME;
    json_t *o = ward_registry_show_json(st, group);
    int rc = 0;
    if (o == NULL) {
        fprintf(stderr, "wardctl: error: no group \"%s\"\n", group);
        rc = EXIT_RUNTIME;
    } else if (json) {
        rc = print_json(o);
    } else {
        const char *applied = json_string_value(json_object_get(o, "applied"));
        printf("group:    %s\n", group);
        printf("applied:  %s\n", applied ? applied : "- (implicit default)");
        printf("learning: %s\n", json_string_value(json_object_get(o, "learning")));
        printf("devices:  %lld", (long long)json_integer_value(json_object_get(o, "devices")));
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(o, "device_ids"), i, d)
        {
            printf("%s%s", i == 0 ? " (" : ", ", json_string_value(d));
        }
        printf("%s\n", json_array_size(json_object_get(o, "device_ids")) ? ")" : "");
        printf("rules:\n");
        json_t *r;
        json_array_foreach(json_object_get(json_object_get(o, "spec"), "rules"), i, r)
        {
            char *text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
            printf("  %s\n", text ? text : "?");
            free(text);
        }
        json_t *det = json_object_get(json_object_get(o, "spec"), "detectors");
        if (det != NULL) {
            char *text = json_dumps(det, JSON_COMPACT | JSON_PRESERVE_ORDER);
            printf("detectors: %s\n", text ? text : "?");
            free(text);
        }
    }
    json_decref(o);
    ward_store_close(st);
    return finish_output(rc);
}

static int cmd_learned(const char *db, const char *group, bool json, bool freeze)
{
    char err[512];
    ward_store_t *st = open_db(db, freeze);
    if (st == NULL)
        return EXIT_RUNTIME;
    int rc = 0;
    if (freeze) {
        json_t *doc = NULL;
        int f = ward_registry_freeze(st, group, ward_now_ms(), &doc, err, sizeof err);
        if (f != 0) {
            fprintf(stderr, "wardctl: error: %s\n", err);
            rc = EXIT_RUNTIME;
        } else if (json) {
            rc = print_json(doc);
        } else {
            printf("group %s: froze what was learned into %zu rules; learning is off\n", group,
                   json_array_size(json_object_get(doc, "rules")));
        }
        json_decref(doc);
    } else {
        json_t *o = ward_registry_learned_json(st, group, ward_now_ms(), err, sizeof err);
        if (o == NULL) {
            fprintf(stderr, "wardctl: error: %s\n", err);
            rc = EXIT_RUNTIME;
        } else if (json) {
            rc = print_json(o);
        } else {
            json_t *l = json_object_get(o, "learned");
            printf("group %s: %s from %s until %s (%lld reports)\n", group,
                   json_is_true(json_object_get(l, "learning")) ? "learning" : "learned",
                   json_string_value(json_object_get(l, "started")),
                   json_string_value(json_object_get(l, "until")),
                   (long long)json_integer_value(json_object_get(l, "samples")));
            static const char *const lists[] = {"outbound_networks", "inbound_networks",
                                                "remote_ports", "protocols"};
            for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
                printf("%-18s", lists[k]);
                size_t i;
                json_t *v;
                json_array_foreach(json_object_get(l, lists[k]), i, v)
                {
                    if (json_is_integer(v))
                        printf(" %lld", (long long)json_integer_value(v));
                    else
                        printf(" %s", json_string_value(v) ? json_string_value(v) : "?");
                }
                printf("\n");
            }
            const char *key;
            json_t *r;
            json_object_foreach(json_object_get(l, "ranges"), key, r)
            {
                printf("%-18s %lld..%lld per report\n", key,
                       (long long)json_integer_value(json_object_get(r, "min")),
                       (long long)json_integer_value(json_object_get(r, "max")));
            }
        }
        json_decref(o);
    }
    ward_store_close(st);
    return finish_output(rc);
}

int wardctl_group(const char *db, bool json, bool freeze, int argc, char **argv)
{
    if (argc < 1)
        return usage("%s", "group needs a subcommand: apply, list, show or learned");
    const char *sub = argv[0];
    if (db == NULL)
        return usage("group %s needs --db PATH", sub);
    if (freeze && strcmp(sub, "learned") != 0)
        return usage("--freeze goes with group learned, not group %s", sub);
    if (strcmp(sub, "apply") == 0) {
        if (argc != 2)
            return usage("%s", "usage: group apply FILE");
        return cmd_apply(db, argv[1]);
    }
    if (strcmp(sub, "list") == 0) {
        if (argc != 1)
            return usage("unexpected argument \"%s\"", argv[1]);
        return cmd_list(db, json);
    }
    if (strcmp(sub, "show") == 0 || strcmp(sub, "learned") == 0) {
        if (argc != 2)
            return usage("usage: group %s GROUP", sub);
        if (!ward_group_name_valid(argv[1]))
            return usage("\"%s\" is not a group name (1..64 of [A-Za-z0-9._-])", argv[1]);
        return sub[0] == 's' ? cmd_show(db, argv[1], json) : cmd_learned(db, argv[1], json, freeze);
    }
    return usage("unknown group subcommand \"%s\"", sub);
}

int wardctl_device(const char *db, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "set-group") != 0)
        return usage("%s", "device needs a subcommand: set-group ID GROUP");
    if (argc != 3)
        return usage("%s", "usage: device set-group ID GROUP");
    if (db == NULL)
        return usage("%s", "device set-group needs --db PATH");
    ward_store_t *st = open_db(db, true);
    if (st == NULL)
        return EXIT_RUNTIME;
    char err[512];
    int rc = ward_registry_set_group(st, argv[1], argv[2], err, sizeof err);
    ward_store_close(st);
    if (rc != 0) {
        fprintf(stderr, "wardctl: error: %s\n", err);
        return EXIT_RUNTIME;
    }
    printf("device %s: group %s\n", argv[1], argv[2]);
    return finish_output(0);
}
