/*
 * registry: security groups and which device is in which group.
 *
 * Every device is in exactly one group: the one set with `wardctl device set-group`, else
 * "default" (which always exists, with no rules, even when nobody applied one). A group holds its
 * spec as applied (`wardctl group apply FILE`, see docs/rules.md): rules, detector thresholds
 * ("detectors", parsed by the behaviour module), and an optional learning window ("learn").
 *
 * Storage (SQLite, tables created by ward_registry_schema, in the wardd database):
 *   groups(name PK, spec JSON text, applied ms, learn_started ms or NULL, learned JSON or NULL)
 *       learned: what the group's baseline learned so far (ward_baseline_learned_json), written
 *       by the worker while it learns
 *   device_groups(device PK, grp)             devices not listed are in "default"
 *   meta('groups_rev')                        +1 on every change made by wardctl
 * wardctl writes these tables directly; the worker's registry notices a new groups_rev (checked
 * on every report: one primary-key read) and reloads everything, so a change takes effect on the
 * next report.
 *
 * Threads: a ward_registry_t is owned by the thread that owns its store connection (the worker,
 * or wardctl). Pointers it returns stay valid until the next ward_registry_refresh or
 * ward_registry_free.
 */
#ifndef WARD_REGISTRY_H
#define WARD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

#define WARD_GROUP_DEFAULT "default"
/** A group name: 1..WARD_GROUP_NAME_MAX of [A-Za-z0-9._-] (like a device id). */
#define WARD_GROUP_NAME_MAX 64

struct ward_ruleset;
struct ward_baseline;
struct ward_behavior_config; /* behavior.h */

/** One group as the worker uses it. */
typedef struct ward_group {
    char name[WARD_GROUP_NAME_MAX + 1];
    json_t *spec;               /**< the applied document (borrowed; {"group":..} if none) */
    struct ward_ruleset *rules; /**< parsed rules (never NULL; may hold no rule) */
    /** Detector thresholds from "detectors" (behavior.h; defaults where absent). Never NULL. */
    const struct ward_behavior_config *behavior;
    struct ward_baseline *baseline; /**< learning state; NULL unless the spec has "learn" */
    int64_t applied_ms;             /**< when the spec was applied; 0 for an implicit default */
} ward_group_t;

typedef struct ward_registry ward_registry_t;

/** Create the registry's tables if missing (writer connections). 0 ok, -1 error (logged). */
int ward_registry_schema(ward_store_t *st);

/** Load groups and device assignments from st (borrowed). NULL + err on failure. */
ward_registry_t *ward_registry_open(ward_store_t *st, char *err, size_t errlen);
void ward_registry_free(ward_registry_t *reg);

/**
 * Reload when groups_rev changed since the last load. 1 reloaded, 0 unchanged, -1 error (the old
 * state is kept and the error logged).
 */
int ward_registry_refresh(ward_registry_t *reg);
/** groups_rev as last loaded. */
int64_t ward_registry_rev(const ward_registry_t *reg);

/** The group of a device ("default" when unset). Never NULL. */
const ward_group_t *ward_registry_group(ward_registry_t *reg, const char *device);
/** The group's name for a device ("default" when unset). Never NULL. */
const char *ward_registry_group_of(ward_registry_t *reg, const char *device);
/** A group by name, NULL when there is none (the default group always exists). */
const ward_group_t *ward_registry_find(ward_registry_t *reg, const char *name);
/** Groups, by name (index 0 .. ward_registry_count - 1). */
size_t ward_registry_count(const ward_registry_t *reg);
const ward_group_t *ward_registry_at(const ward_registry_t *reg, size_t i);

/** True for 1..64 of [A-Za-z0-9._-]. */
bool ward_group_name_valid(const char *name);

/* ---- Changes (wardctl; each in its own transaction, bumps groups_rev) ---- */

/**
 * Validate a group document completely (rules, detectors, learn) without storing it. 0 valid;
 * -1 with the first problem in err as "rules[3].max: must be >= min" (a JSON path, a colon, the
 * reason).
 */
int ward_group_validate(const json_t *doc, char *err, size_t errlen);

/**
 * Validate and store (create or replace) a group. Learning (re)starts at now_ms when the document
 * has "learn" and the previous one had none or another window. 0 ok, -1 invalid (err as above),
 * -2 database error (err says so).
 */
int ward_registry_apply(ward_store_t *st, const json_t *doc, int64_t now_ms, char *err,
                        size_t errlen);

/** Put a device into a group (which must exist, "default" always does). 0 ok, -1 no such group or
 * bad name (err), -2 database error. */
int ward_registry_set_group(ward_store_t *st, const char *device, const char *group, char *err,
                            size_t errlen);

/** Groups as JSON: [{"group", "rules", "devices", "learning", "applied"}] (wardctl group list). */
json_t *ward_registry_list_json(ward_store_t *st);
/** One group: {"group", "spec", "devices": [...], "applied"}; NULL when there is none. */
json_t *ward_registry_show_json(ward_store_t *st, const char *group);

/**
 * What a group learned (ward_baseline_learned_json, now_ms decides "learning"). NULL with err
 * when the group does not exist or does not learn.
 */
json_t *ward_registry_learned_json(ward_store_t *st, const char *group, int64_t now_ms, char *err,
                                   size_t errlen);

/**
 * Turn what a group learned into explicit rules: its spec loses "learn", keeps its own rules
 * (except earlier "learned.*" ones) and gains the frozen ones, and is stored like an applied
 * document. The new document in *doc_out (new reference) when not NULL. 0 ok, -1 no such group,
 * no learning, or the result is invalid (err), -2 database error.
 */
int ward_registry_freeze(ward_store_t *st, const char *group, int64_t now_ms, json_t **doc_out,
                         char *err, size_t errlen);

/** Write a group's learned baseline when it changed (worker, inside its transaction). 0 ok, -1
 * database error (logged). */
int ward_registry_save_learned(ward_registry_t *reg, const ward_group_t *g, int64_t now_ms);

#endif
