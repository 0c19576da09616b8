/* The SSH transport: OS nodes and device consoles over libssh2, non-blocking on one
 * uv_poll_t per session. Connect resolves (libuv), connects, handshakes (at most
 * max_handshakes at once), checks the host key against known_hosts, authenticates
 * (ssh-agent, key file, password) and makes sure the node agent (src/agent) is in
 * /var/tmp/fleetup/, uploading it once. Inventory, stage and install run the agent over
 * an exec channel of the node's one session; activate reboots a node that asked for it. */
#ifndef FU_SSH_H
#define FU_SSH_H

#include <uv.h>

#include "transports/transport.h"

typedef struct {
    uv_loop_t *loop;
    /* Pull mode: the URL node downloads component c from (as for redfish); local is the
     * address this process uses to reach the node. -1 with a message in buf. */
    int (*image_uri)(void *ud, uint32_t node, uint32_t component, const char *local, char *buf,
                     size_t len);
    /* Pull mode: where the agent posts status (/cb/ROLLOUT/NODE), its bearer token and the
     * public-key pin (curl's sha256//BASE64) of fleetup's HTTPS certificate. Optional. */
    int (*status_uri)(void *ud, uint32_t node, const char *local, char *url, size_t urllen,
                      char *token, size_t toklen, char *pin, size_t pinlen);
    /* Push mode: component c's package bytes, mapped once and shared by every node. */
    int (*package)(void *ud, uint32_t component, const void **data, size_t *len);
    void *ud;
    uint32_t max_handshakes;     /* key exchanges at once; 0: 64 */
    uint64_t connect_timeout_ms; /* TCP connect + handshake + auth; 0: 30 s */
    uint64_t exec_timeout_ms;    /* an agent command without output; 0: 10 min */
    uint64_t keepalive_ms;       /* keepalive on idle sessions; 0: 30 s */
} fu_ssh_opts_t;

fu_transport_t *fu_ssh_new(const fu_fleet_t *f, const fu_ssh_opts_t *o, const char **err);

/* Closes every session (bounded at a few seconds); done runs once nothing of the
 * transport is left on the loop. Then destroy frees it. */
void fu_ssh_shutdown(fu_transport_t *t, void (*done)(void *ud), void *ud);

/* Runs the agent with args (e.g. "reach 10.0.0.1 63001"; the caller keeps them shell-safe:
 * they reach the node's shell as written) on the node, connecting first if needed, stdin_data
 * as its standard input. cb gets the exit status (-1 when the command did not run), the
 * captured stdout and err (NULL when it ran). One command at a time per node. */
typedef void (*fu_ssh_run_cb)(void *ud, uint32_t node, int status, const char *out,
                              size_t outlen, const char *err);
int fu_ssh_agent_run(fu_transport_t *t, uint32_t node, const char *args, const void *stdin_data,
                     size_t stdin_len, fu_ssh_run_cb cb, void *ud);

/* The local address of the node's connection ("" before connect). */
const char *fu_ssh_local_address(fu_transport_t *t, uint32_t node);

#endif
