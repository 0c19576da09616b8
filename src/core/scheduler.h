/* The rollout scheduler: a pure state machine with no I/O and no clock of its own.
 * Events go in (a phase finished or failed, time passed, an operator command); actions
 * come out through callbacks (start phase P on node N, cancel N) together with every
 * node transition, which the caller journals. Times are milliseconds on the caller's
 * clock, real or virtual. */
#ifndef FU_SCHEDULER_H
#define FU_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/fleet.h"
#include "core/plan.h"

/* What a node is doing. Active nodes are in a phase (or waiting for a slot in it, or
 * waiting to retry it); the rest are terminal. */
typedef enum {
    FU_NS_PENDING,
    FU_NS_ACTIVE,  /* running node->phase */
    FU_NS_WAITING, /* finished the phase before node->phase; waits for a slot in it */
    FU_NS_RETRY,   /* node->phase failed; retries when its backoff ends */
    FU_NS_DONE,
    FU_NS_SKIPPED, /* already current: nothing to install */
    FU_NS_FAILED,
    FU_NS_UNREACHABLE,
    FU_NS_CANCELLED,
    FU_NS__COUNT
} fu_node_state_t;

typedef enum {
    FU_RUN_RUNNING,
    FU_RUN_PAUSED,     /* operator pause or manual pause between waves */
    FU_RUN_AWAIT_PROMOTE,
    FU_RUN_HALTED,     /* a failure budget was exceeded; in-flight nodes finish */
    FU_RUN_ABORTING,   /* operator abort; in-flight nodes finish their current step */
    FU_RUN_FINISHED,
} fu_run_state_t;

typedef struct {
    uint8_t state; /* fu_node_state_t */
    uint8_t phase; /* fu_phase_t (connect .. verify; plan is instant, between inventory and stage) */
    uint8_t attempts; /* failures of the current phase */
    uint8_t resumed;  /* FU_RESUMED_*: caught mid-way by a crash, re-inventoried */
    uint32_t wave;
    uint32_t seq;     /* bumps on every transition: stale timers are ignored */
    fu_plan_t plan;
} fu_sched_node_t;

#define FU_RESUMED 1        /* restored from the journal mid-way */
#define FU_RESUMED_REBOOT 2 /* its install had run: the reboot may still be due */

typedef struct fu_sched_s fu_sched_t;

typedef struct {
    void *ud;
    /* Start `phase` on node i (an index into the rollout's selection; fu_sched_fleet_node()
     * gives the fleet node). For stage and install, the plan says what, in order. */
    void (*start)(void *ud, uint32_t node, fu_phase_t phase, const fu_plan_t *plan);
    /* Stop whatever runs on the node (timeout, abort). A late result is ignored. */
    void (*cancel)(void *ud, uint32_t node);
    /* A node changed state or phase; reason is NULL or a message for failures. */
    void (*transition)(void *ud, uint32_t node, const fu_sched_node_t *from,
                       const fu_sched_node_t *to, const char *reason);
    /* The run changed state (waves started, halted, finished...). */
    void (*run_event)(void *ud, fu_run_state_t state, uint32_t wave, const char *msg);
} fu_sched_hooks_t;

/* Nodes are the selected fleet nodes in rollout order (see fu_sched_order()). */
fu_sched_t *fu_sched_new(const fu_fleet_t *f, const uint32_t *nodes, uint32_t nnodes,
                         const fu_sched_hooks_t *hooks);
void fu_sched_free(fu_sched_t *s);

/* Resume: the state a journal recorded for node i (index in the selection) and its
 * FU_RESUMED_* flags from an earlier resume. Nodes that were mid-way are re-inventoried;
 * finished ones stay. */
void fu_sched_restore(fu_sched_t *s, uint32_t i, fu_node_state_t state, fu_phase_t phase,
                      uint8_t resumed_flags);

/* Starts or continues: issues every action possible at time now. */
void fu_sched_run(fu_sched_t *s, uint64_t now);

/* Results from the transport. inv is the inventory for FU_SP_INVENTORY/VERIFY. */
void fu_sched_phase_done(fu_sched_t *s, uint32_t node, fu_phase_t phase,
                         const fu_inventory_t *inv, bool reboot_needed, uint64_t now);
/* The transport holds the node's running phase waiting for a slot every node shares
 * (waiting: its timeout stops), or began it only now (its timeout starts from now). */
void fu_sched_phase_started(fu_sched_t *s, uint32_t node, fu_phase_t phase, uint64_t now,
                            bool waiting);
void fu_sched_phase_failed(fu_sched_t *s, uint32_t node, fu_phase_t phase,
                           const char *reason, bool unreachable, uint64_t now);

/* The earliest time something is due (a retry, a timeout, the end of a pause), or
 * UINT64_MAX; call fu_sched_run() at or after it. */
uint64_t fu_sched_next_deadline(const fu_sched_t *s);

typedef enum { FU_OP_PAUSE, FU_OP_RESUME, FU_OP_ABORT, FU_OP_PROMOTE, FU_OP_RETRY, FU_OP__COUNT } fu_operator_t;
/* Applies an operator command; NULL when it applied, else why it does not apply in the
 * run's state (nothing changed then). FU_OP_RETRY (retry-failed) puts every failed and
 * unreachable node back to pending: their failures leave the budgets, a halted run
 * runs again and a finished one reopens; not while aborting. */
const char *fu_sched_operator(fu_sched_t *s, fu_operator_t op, uint64_t now);
const char *fu_operator_name(fu_operator_t op);
/* "pause", "resume"...; FU_OP__COUNT when name is none of them. */
fu_operator_t fu_operator_parse(const char *name);

typedef struct {
    uint32_t nodes, waves, current_wave;
    uint32_t by_state[FU_NS__COUNT];
    uint32_t in_flight, in_phase[FU_PHASE__COUNT];
    uint64_t transitions;
    fu_run_state_t run;
    bool operator_paused; /* a pause only resume ends (also while a gate holds the run) */
    const char *halt_reason;
} fu_sched_stats_t;

void fu_sched_stats(const fu_sched_t *s, fu_sched_stats_t *out);
const fu_sched_node_t *fu_sched_node(const fu_sched_t *s, uint32_t i);
uint32_t fu_sched_fleet_node(const fu_sched_t *s, uint32_t i);
/* Wave sizes as the policy computes them for n nodes; returns the count. */
uint32_t fu_sched_wave_sizes(const fu_policy_t *p, uint32_t n, uint32_t *sizes, uint32_t max);
/* Fills order with the selected node indices in the policy's order. */
void fu_sched_order(const fu_fleet_t *f, const bool *selected, uint32_t *order, uint32_t *n);

const char *fu_node_state_name(fu_node_state_t s);
const char *fu_run_state_name(fu_run_state_t r);
bool fu_node_state_terminal(fu_node_state_t s);

#endif
