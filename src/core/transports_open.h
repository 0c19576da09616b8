/* The transports a set of nodes needs, made in one place for every command that drives
 * nodes (deploy's rollout runner, inventory): one transport per kind in use, all on the
 * caller's loop, all reporting through the caller's phase callback. */
#ifndef FU_TRANSPORTS_OPEN_H
#define FU_TRANSPORTS_OPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transports/transport.h"

typedef struct {
    uv_loop_t *loop;       /* redfish, ssh */
    fu_timers_t *timers;   /* sim: its results come from this heap */
    const char *sim_world; /* sim: the SQLite file its nodes persist in; NULL: memory */
    bool force_sim;        /* --transport sim: every node through the sim transport */
    /* Pull and push mode (see redfish.h and ssh.h); NULL for commands that install
     * nothing (inventory). */
    int (*image_uri)(void *ud, uint32_t node, uint32_t component, const char *local, char *buf,
                     size_t len);
    int (*status_uri)(void *ud, uint32_t node, const char *local, char *url, size_t urllen,
                      char *token, size_t toklen, char *pin, size_t pinlen);
    int (*package)(void *ud, uint32_t component, const void **data, size_t *len);
    void *ud; /* for the three above */
    fu_phase_cb phase_cb;
    fu_started_cb started_cb; /* optional, see transport.h */
    void *phase_ud;
} fu_transports_opts_t;

/* Makes into tk[kind] (zeroed by the caller) the transport of every kind that nodes[n]
 * (fleet indices) use. A node whose transport this build cannot drive is refused before
 * anything is made. Returns 0, or -1 with a message in err (then whatever was made is
 * destroyed and tk is zeroed again). */
int fu_transports_open(const fu_fleet_t *f, const uint32_t *nodes, uint32_t n,
                       const fu_transports_opts_t *o, fu_transport_t *tk[FU_TRANSPORT__COUNT],
                       char *err, size_t errlen);

/* The transport that drives fleet node i. */
fu_transport_t *fu_transports_for(fu_transport_t *const tk[FU_TRANSPORT__COUNT],
                                  const fu_fleet_t *f, uint32_t i, bool force_sim);

/* Starts closing the sessions of the transports that hold some on the loop (redfish,
 * ssh); done(ud) runs once for each of them when it is finished. Returns how many dones
 * will come. */
int fu_transports_shutdown(fu_transport_t *const tk[FU_TRANSPORT__COUNT], void (*done)(void *ud),
                           void *ud);

/* The end of a command's loop: closes the handles hs[0..nh), the transports' sessions
 * (bounded) and, when svc is not NULL, the HTTP(S) service (downloads in progress get a
 * few seconds), then runs the loop until all of it has closed. The handles' data
 * pointers are taken over. */
struct fu_service_s;
/* The same without running the loop (service mode: the loop is shared): done(ud) runs
 * from the loop once all of it has closed. */
void fu_transports_close(uv_handle_t *const *hs, size_t nh,
                         fu_transport_t *const tk[FU_TRANSPORT__COUNT], struct fu_service_s *svc,
                         void (*done)(void *ud), void *ud);
void fu_transports_close_loop(uv_loop_t *loop, uv_handle_t *const *hs, size_t nh,
                              fu_transport_t *const tk[FU_TRANSPORT__COUNT],
                              struct fu_service_s *svc);

/* Destroys every transport made (after the loop has run their shutdowns out). */
void fu_transports_destroy(fu_transport_t *tk[FU_TRANSPORT__COUNT]);

#endif
