/* The rollout runner: the loop glue between the scheduler, a transport, the journal and
 * a clock (virtual, or real on libuv). Thin on purpose: decisions are the scheduler's. */
#ifndef FU_ROLLOUT_H
#define FU_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fleet.h"
#include "core/scheduler.h"

typedef enum { FU_PROGRESS_NONE, FU_PROGRESS_LINES, FU_PROGRESS_TTY } fu_progress_t;

typedef struct {
    const char *state_dir;
    const char *limit;          /* --limit PATTERN, or NULL */
    int64_t resume_id;          /* 0: a new rollout */
    bool virtual_time;          /* also on when the fleet's sim: says time: virtual */
    bool force_sim;             /* every node through the sim transport */
    bool no_journal;            /* benchmarks: measure the scheduler alone */
    bool promote;               /* operator promote/resume at start (a resumed canary) */
    /* The simulated nodes keep their installed versions in STATE_DIR/sim-world.db, so they
     * outlive a killed orchestrator as real machines would. Off: in memory (benchmarks:
     * the simulated nodes' own writes are not the orchestrator's cost). */
    bool sim_in_memory;
    int64_t sim_seed;           /* recorded for --resume; -1: the fleet's */
    fu_progress_t progress;
    /* The package server's ports (flags; NULL: environment, fleet file, defaults). */
    const char *port, *ssl_port;
    /* Tests: stop dead after this many transitions, as a crash would (the turn in
     * progress is not committed). 0: never. */
    uint64_t crash_after;
} fu_rollout_opts_t;

typedef struct {
    int64_t id;
    fu_sched_stats_t stats;
    uint64_t elapsed_ms; /* on the rollout's clock */
    bool crashed;        /* stopped by crash_after */
    char journal_error[512]; /* stopped because the journal could not be written */
    char reason[256];
} fu_rollout_result_t;

/* Runs (or resumes) a rollout to its end. Returns 0 when it ran (see res for how it
 * ended), or -1 with a message in err when it could not start. */
int fu_rollout_run(const fu_fleet_t *f, const fu_rollout_opts_t *o, fu_rollout_result_t *res,
                   char *err, size_t errlen);

#endif
