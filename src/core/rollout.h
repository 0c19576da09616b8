/* The rollout runner: the loop glue between the scheduler, a transport, the journal and
 * a clock (virtual, or real on libuv). Thin on purpose: decisions are the scheduler's. */
#ifndef FU_ROLLOUT_H
#define FU_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fleet.h"
#include "core/scheduler.h"

#include <uv.h>

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
    bool start_paused; /* service mode: paused before the first node starts */
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

/* Takes DIR/deploy.lock (with our pid in it) so that one process drives a state
 * directory's rollouts; the fd to keep open, or -1 with a message naming the holder. */
int fu_state_dir_lock(const char *dir, char *err, size_t errlen);

/* ---- service mode: several rollouts on one loop ----
 * `fleetup serve` runs rollouts side by side on its own loop, journal and HTTP(S)
 * service; each is started here and returns at once. Always real time. */
typedef struct fu_rollout_s fu_rollout_t;
struct fu_journal_s;
struct fu_service_s;

typedef struct {
    uv_loop_t *loop;
    struct fu_journal_s *journal;   /* shared; the caller commits it once per loop turn */
    struct fu_service_s *svc;       /* serves this rollout's nodes */
    /* This rollout's packages (the caller hashed them); push mode streams from them. */
    const void *packages;           /* const fu_packages_t * */
    /* A node changed (idx in the rollout's order); reason as the scheduler gave it. */
    void (*transition)(void *ud, fu_rollout_t *r, uint32_t idx, const char *reason);
    /* A run event (also journaled): kind is the run state's name, or "operator". */
    void (*event)(void *ud, fu_rollout_t *r, uint64_t at_ms, const char *kind, uint32_t wave,
                  const char *msg);
    /* The run finished (all nodes ended), or stopped because the journal failed. */
    void (*finished)(void *ud, fu_rollout_t *r);
    void *ud;
} fu_rollout_env_t;

/* Starts (or, with o->resume_id, resumes) a rollout of f on env's loop. f and o must
 * outlive it. 0 with *out set, or -1 with a message in err (nothing recorded). */
int fu_rollout_start(const fu_fleet_t *f, const fu_rollout_opts_t *o, const fu_rollout_env_t *env,
                     fu_rollout_t **out, char *err, size_t errlen);
/* An operator command: NULL when applied, else why it does not apply. */
const char *fu_rollout_command(fu_rollout_t *r, fu_operator_t op);
/* Closes the rollout's sessions and handles (a rollout not finished stays journaled as
 * it is, to be resumed), frees it, then closed(ud) runs from the loop. */
void fu_rollout_close(fu_rollout_t *r, void (*closed)(void *ud), void *ud);

int64_t fu_rollout_id(const fu_rollout_t *r);
const fu_fleet_t *fu_rollout_fleet(const fu_rollout_t *r);
const fu_sched_t *fu_rollout_sched(const fu_rollout_t *r);
/* The rollout's clock (ms since it started, resumed rollouts included). */
uint64_t fu_rollout_now(const fu_rollout_t *r);
/* Node idx's last failure reason and the last log tail a phase reported, or NULL. */
const char *fu_rollout_reason(const fu_rollout_t *r, uint32_t idx);
const char *fu_rollout_log_tail(const fu_rollout_t *r, uint32_t idx);
/* True when stopped because the journal could not be written (see fu_journal_failed). */
bool fu_rollout_crashed(const fu_rollout_t *r);

#endif
