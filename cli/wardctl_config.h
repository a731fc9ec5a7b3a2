/*
 * wardctl config: push, show and clear the agent config of a device, the retained message on
 * ward/v1/<DEVICE>/config (docs/config.md; the message: service/config_msg.h).
 */
#ifndef WARDCTL_CONFIG_H
#define WARDCTL_CONFIG_H

/** True when argv's command (its first word that is not an option or an option's value) is
 *  "config": wardctl_config then parses the whole command line itself. */
int wardctl_config_is_command(int argc, char **argv);

/**
 * wardctl --broker HOST:PORT [--cafile F [--cert F --key F]] [--username U --password-file F]
 *         config push DEVICE [--interval S] [--collectors LIST] [--deny CIDR[:alert|drop]]...
 *                [--revision N] | config show DEVICE | config clear DEVICE   [--timeout S]
 * Returns the exit status: 0 ok, 1 runtime error (broker, no retained config), 2 usage error.
 */
int wardctl_config(int argc, char **argv);

#endif
