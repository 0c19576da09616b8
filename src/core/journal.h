/* The journal: SQLite (WAL) in the state directory. Rollouts, the nodes each one
 * selected, every node transition, inventory results and run events. Writes gather in
 * one transaction that the caller commits once per loop turn; a crash loses at most the
 * turn in progress, and resume re-inventories what that turn had started. */
#ifndef FU_JOURNAL_H
#define FU_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fleet.h"

typedef struct fu_journal_s fu_journal_t;

/* Creates dir (0700) and DIR/journal.db as needed. Returns NULL with a message in err. */
fu_journal_t *fu_journal_open(const char *dir, char *err, size_t errlen);
void fu_journal_close(fu_journal_t *j);
/* Closes without committing the open transaction, as a crash would. */
void fu_journal_abandon(fu_journal_t *j);

/* How a rollout was started, so that --resume continues it the same way. */
typedef struct {
    bool force_sim, virtual_time;
    int64_t sim_seed; /* -1: the fleet's */
    bool service;     /* submitted to `fleetup serve`: it resumes the rollout at its start */
} fu_rollout_options_t;

typedef struct {
    int64_t id;
    const char *fleet, *limit, *state, *reason;
    fu_rollout_options_t options;
    int64_t started_ms, finished_ms; /* wall clock, ms since the epoch; 0 = not finished */
    uint32_t nodes;
    uint32_t by_state[16];
} fu_rollout_row_t;

/* Starts a rollout of the given fleet nodes (in rollout order). Returns its id or -1. */
/* nodes: fleet indices in rollout order; waves: each one's wave. */
int64_t fu_journal_rollout_begin(fu_journal_t *j, const fu_fleet_t *f, const char *limit,
                                 const fu_rollout_options_t *opts, const uint32_t *nodes,
                                 const uint32_t *waves, uint32_t n, int64_t wall_ms);
/* flags: the scheduler's FU_RESUMED_* bits of the node, kept across crashes. */
void fu_journal_transition(fu_journal_t *j, int64_t rollout, uint32_t idx, uint64_t at_ms,
                           int from_state, int from_phase, int to_state, int to_phase,
                           int attempts, int flags, const char *reason);
/* phase: inventory or verify; both are kept. */
void fu_journal_inventory(fu_journal_t *j, int64_t rollout, uint32_t idx, int phase,
                          const char *component, const char *version, uint64_t at_ms);
void fu_journal_event(fu_journal_t *j, int64_t rollout, uint64_t at_ms, const char *kind,
                      uint32_t wave, const char *message);
void fu_journal_rollout_end(fu_journal_t *j, int64_t rollout, const char *state,
                            const char *reason, int64_t wall_ms);
/* Commits what was written since the last commit. Returns 0 or -1. */
int fu_journal_commit(fu_journal_t *j);
/* The first write that failed (disk full, I/O error...), or NULL: after one, the rollout
 * must stop, as after a crash, and be resumed once the state directory is writable. */
const char *fu_journal_failed(const fu_journal_t *j);
uint64_t fu_journal_pending(const fu_journal_t *j);

/* Reading back. */
int fu_journal_rollout_get(fu_journal_t *j, int64_t id, fu_rollout_row_t *out);
void fu_journal_row_free(fu_rollout_row_t *r);
typedef void (*fu_journal_node_cb)(void *ud, uint32_t idx, const char *name, uint32_t wave,
                                   int state, int phase, int attempts, int flags,
                                   const char *reason, uint64_t at_ms);
/* Each node of a rollout with its last journaled state, in rollout order. */
int fu_journal_nodes(fu_journal_t *j, int64_t rollout, fu_journal_node_cb cb, void *ud);
/* The fleet indices of a rollout's nodes, in rollout order (n of them). */
int fu_journal_selection(fu_journal_t *j, int64_t rollout, uint32_t *fleet_idx, uint32_t n);
typedef void (*fu_journal_transition_cb)(void *ud, uint32_t idx, uint64_t at_ms, int from_state,
                                         int from_phase, int to_state, int to_phase,
                                         const char *reason);
int fu_journal_transitions(fu_journal_t *j, int64_t rollout, fu_journal_transition_cb cb, void *ud);
/* The rollout's events of one kind ("warning", "halted"...), in order. */
typedef void (*fu_journal_event_cb)(void *ud, uint64_t at_ms, const char *message);
int fu_journal_events(fu_journal_t *j, int64_t rollout, const char *kind, fu_journal_event_cb cb,
                      void *ud);
typedef void (*fu_journal_rollout_cb)(void *ud, const fu_rollout_row_t *r);
int fu_journal_rollouts(fu_journal_t *j, fu_journal_rollout_cb cb, void *ud);
const char *fu_journal_error(fu_journal_t *j);

#endif
