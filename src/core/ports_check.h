/* `fleetup ports FLEET --check` (cmd_ports_check.c): the port plan tried against the live
 * fleet before a rollout. TCP connect probes to every to-node port, and for pull-mode SSH
 * nodes the node's own connection back to fleetup's port or ssl_port, asked of the node
 * agent while fleetup listens there. Built into fleetup_app: it opens sockets. */
#ifndef FU_PORTS_CHECK_H
#define FU_PORTS_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/ports.h"

#define FU_PORTS_CHECK_TIMEOUT_MS 3000
#define FU_PORTS_CHECK_CONCURRENCY 512

typedef struct {
    uint64_t timeout_ms;  /* each TCP probe; 0: FU_PORTS_CHECK_TIMEOUT_MS */
    uint32_t concurrency; /* probes at once, and SSH checks at once; 0: the default */
    bool json;            /* every direction of every node as JSON, else the blocked ones */
} fu_ports_check_opts_t;

/* Checks every selected node of p and prints the result on out (notes on stderr, live
 * progress there too when it is a terminal). Returns FU_EXIT_OK when every direction
 * that was checked is open, FU_EXIT_FAILURES when some direction is blocked or could
 * not be checked through a node's agent. */
int fu_ports_check(const fu_ports_plan_t *p, const fu_ports_check_opts_t *o, FILE *out);

/* Shared with `fleetup ports --json` (cmd_ports.c): the server ports and their sources as
 * an object, and a JSON document printed indented with a newline, then freed. */
json_t *fu_ports_server_json(const fu_server_ports_t *s);
void fu_ports_json_print(json_t *root, FILE *out);

#endif
