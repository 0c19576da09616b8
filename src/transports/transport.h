/* The transport vtable: how fleetup talks to a node, one implementation per protocol
 * (ssh, redfish, local, sim), after Redis's ConnectionType. Each call starts one phase
 * on one node; exactly one result callback follows, never from inside the call itself.
 * Nothing here knows about waves or policies. */
#ifndef FU_TRANSPORT_H
#define FU_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/fleet.h"
#include "core/plan.h"
#include "core/timers.h"

typedef struct {
    const fu_inventory_t *inventory; /* inventory and verify */
    bool reboot_needed;              /* install: a component exited 1 */
    bool unreachable;                /* the node could not be reached at all */
    int exit_code;                   /* install: the smart-component exit code, -1 if none */
    const char *log_tail;            /* the installer's last lines, or NULL */
    /* inventory: what the node says about itself as a JSON object text (os, os_version,
     * kernel, arch, uptime_s, fwupd devices), or NULL when the transport has none. */
    const char *facts;
} fu_phase_result_t;

/* err is NULL on success, else a static or transport-owned message. */
typedef void (*fu_phase_cb)(void *ud, uint32_t node, fu_phase_t phase, const char *err,
                            const fu_phase_result_t *res);
typedef void (*fu_progress_cb)(void *ud, uint32_t node, fu_phase_t phase, int percent,
                               const char *message);
/* Optional: the running phase waits inside the transport for a resource every node
 * shares (the SSH driver's handshake slots; waiting true), or has begun its own work after
 * such a wait (waiting false). The caller's timeout for the phase stops while it waits
 * and counts from the beginning: the wait is not the node's doing. */
typedef void (*fu_started_cb)(void *ud, uint32_t node, fu_phase_t phase, bool waiting);

typedef struct fu_transport_s fu_transport_t;

typedef struct {
    const char *name;
    int (*connect)(fu_transport_t *t, uint32_t node);
    /* phase is FU_PHASE_INVENTORY, or FU_PHASE_VERIFY for the inventory after install. */
    int (*inventory)(fu_transport_t *t, uint32_t node, fu_phase_t phase);
    int (*stage)(fu_transport_t *t, uint32_t node, const fu_plan_t *plan);
    int (*install)(fu_transport_t *t, uint32_t node, const fu_plan_t *plan);
    int (*activate)(fu_transport_t *t, uint32_t node);
    /* Asks for progress of the running phase; answered through progress_cb. */
    int (*poll)(fu_transport_t *t, uint32_t node);
    /* Abandons the running phase: its result callback will not come. */
    void (*cancel)(fu_transport_t *t, uint32_t node);
    /* The node's session is no longer needed. */
    void (*close)(fu_transport_t *t, uint32_t node);
    void (*destroy)(fu_transport_t *t);
} fu_transport_vtable_t;

struct fu_transport_s {
    const fu_transport_vtable_t *vt;
    const fu_fleet_t *fleet;
    fu_timers_t *timers;
    fu_phase_cb phase_cb;
    fu_progress_cb progress_cb;
    fu_started_cb started_cb;
    void *ud;
};

/* Starts phase ph on a node through the vtable (verify is an inventory). */
int fu_transport_start(fu_transport_t *t, uint32_t node, fu_phase_t ph, const fu_plan_t *plan);

#endif
