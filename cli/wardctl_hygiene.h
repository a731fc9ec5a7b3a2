/*
 * wardctl recommendations: list the hygiene recommendations of the wardd database.
 */
#ifndef WARDCTL_HYGIENE_H
#define WARDCTL_HYGIENE_H

#include <stdbool.h>

/**
 * wardctl --db PATH recommendations [--device ID] [--json]: an aligned table (open first, then
 * resolved, each by id) or, with --json, the JSON array of hygiene.h (ward_hygiene_list_json).
 * args are the words left after the command (none are accepted). Returns the exit status:
 * 0 ok, 1 runtime error, 2 usage error.
 */
int wardctl_recommendations(const char *db, const char *device, bool json, int argc, char **argv);

#endif
