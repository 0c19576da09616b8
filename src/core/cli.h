/* The command line: one function per subcommand plus the helpers they share.
 * Exit codes everywhere: 0 success, 1 work done with failures, 2 bad usage or bad input. */
#ifndef FU_CLI_H
#define FU_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/fleet.h"
#include "core/rollout.h"

enum { FU_EXIT_OK = 0, FU_EXIT_FAILURES = 1, FU_EXIT_USAGE = 2 };

int fu_cli_main(int argc, char **argv);

int fu_cmd_validate(int argc, char **argv);
int fu_cmd_nodes(int argc, char **argv);
int fu_cmd_ports(int argc, char **argv);
int fu_cmd_plan(int argc, char **argv);
int fu_cmd_deploy(int argc, char **argv);
int fu_cmd_inventory(int argc, char **argv);
int fu_cmd_history(int argc, char **argv);
int fu_cmd_report(int argc, char **argv);
int fu_cmd_serve(int argc, char **argv);
int fu_cmd_token(int argc, char **argv);
/* Clients of a running `fleetup serve` (cmd_client.c). */
int fu_cmd_status(int argc, char **argv);
int fu_cmd_submit(int argc, char **argv);
int fu_cmd_pause(int argc, char **argv);
int fu_cmd_resume(int argc, char **argv);
int fu_cmd_abort(int argc, char **argv);
int fu_cmd_promote(int argc, char **argv);
int fu_cmd_retry(int argc, char **argv);

/* Loads FLEET, prints its diagnostics to stderr (as JSON on stdout when json is set)
 * and returns NULL when it is invalid. */
fu_fleet_t *fu_cli_load_fleet(const char *path, bool json);
/* Prints "fleetup CMD: message" and a hint to --help on stderr; returns FU_EXIT_USAGE. */
/* Thousands of nodes mean thousands of sockets: takes the hard limit of open files. */
void fu_raise_nofile(void);
int fu_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A TCP port 1..65535. */
bool fu_cli_parse_port(const char *s, uint16_t *out);

/* --progress auto|tty|plain|none (auto: a live line on a terminal, plain lines
 * otherwise). Returns false for any other word. */
bool fu_cli_parse_progress(const char *s, fu_progress_t *out);
/* Prints one progress line on stderr: redrawn in place on a terminal (final ends it with
 * a newline), else behind a HH:MM:SS timestamp. Nothing in FU_PROGRESS_NONE. */
void fu_cli_progress_line(fu_progress_t mode, const char *line, bool final);
/* "4.2s", "3m07s", "2h05m": elapsed times and ETAs. */
void fu_cli_duration(char *buf, size_t len, uint64_t ms);

/* --limit PATTERN: Ansible-style host patterns over a loaded fleet.
 * Terms separated by ',' or ':'; each is a node name, a group name, a glob (web*),
 * '~REGEX', or 'label=value'. '&TERM' intersects, '!TERM' excludes.
 * Fills sel[nnodes] with the selection; returns 0, or -1 with a message in err. */
int fu_limit_select(const fu_fleet_t *f, const char *pattern, bool *sel, char *err, size_t errlen);

#endif
