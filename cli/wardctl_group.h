/*
 * wardctl group and device commands: security groups, their rules, learned baselines, and which
 * device is in which group (registry.h, docs/rules.md).
 */
#ifndef WARDCTL_GROUP_H
#define WARDCTL_GROUP_H

#include <stdbool.h>

/**
 * wardctl --db PATH group apply FILE | list [--json] | show GROUP [--json] |
 *                         learned GROUP [--json] [--freeze]
 * argc/argv are the words after "group". Returns the exit status: 0 ok, 1 refused (an invalid
 * file: "FILE: rules[3].max: must be >= min" on stderr) or runtime error, 2 usage error.
 */
int wardctl_group(const char *db, bool json, bool freeze, int argc, char **argv);

/** wardctl --db PATH device set-group ID GROUP. Exit status as above. */
int wardctl_device(const char *db, int argc, char **argv);

#endif
