/*
 * wardctl intel: threat-intelligence commands that need no database.
 */
#ifndef WARDCTL_INTEL_H
#define WARDCTL_INTEL_H

/**
 * wardctl intel check ADDRESS [--feed PATH]... [--format NAME] [--json]: load the feeds with
 * wardd's loaders and print every indicator that matches ADDRESS, most specific first.
 * argv[0] is "intel". Returns the exit status: 0 something matched, 1 nothing did, 2 error
 * (usage, bad address, a feed that cannot be read).
 */
int wardctl_intel(int argc, char **argv);

#endif
