/* The rollout runner (rollout.h). One clock drives everything: in virtual time the loop
 * jumps to the next deadline; in real time one libuv timer is armed at it, a uv_check
 * commits the journal once per loop turn, and SIGINT/SIGTERM abort gracefully (twice:
 * stop now, resume later with --resume). */
#include "core/rollout.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/cli.h"
#include "core/journal.h"
#include "core/transports_open.h"
#include "http/service.h"
#include "transports/redfish.h"

struct fu_rollout_s {
    const fu_fleet_t *f;
    const fu_rollout_opts_t *o;
    /* Service mode: the caller's loop, journal and service (attached); else our own. */
    fu_rollout_env_t env;
    bool attached, end_reported, closing;
    uv_loop_t *lp;
    char **reason, **log_tail; /* per node in order: last failure, last log tail */
    void (*closed)(void *ud);
    void *closed_ud;
    fu_sched_t *s;
    fu_transport_t *tk[FU_TRANSPORT__COUNT]; /* one per kind in use */
    fu_journal_t *j;
    fu_timers_t timers;
    int64_t id;
    uint32_t n, *order, *rev;
    uint64_t now, transitions;
    bool crashed, stop, resume_aborting, resume_paused;
    bool real, virtual, in_turn, kicked;
    int lock_fd;
    /* The HTTP(S) service BMCs pull their images from, when some node needs it. */
    fu_service_t svc;
    bool svc_on, svc_ready;
    char svc_err[1024], idstr[24];
    /* progress */
    uint64_t last_print, start_wall;
    uint32_t last_done;
    /* real time */
    uv_loop_t loop;
    uv_timer_t drive, tick;
    uv_check_t commit;
    uv_signal_t sigint, sigterm;
    int signals;
    uint64_t t0;
};
typedef struct fu_rollout_s runner_t;

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- progress ---- */

static void progress(runner_t *r, bool final)
{
    if (r->o->progress == FU_PROGRESS_NONE)
        return;
    fu_sched_stats_t st;
    fu_sched_stats(r->s, &st);
    uint32_t finished = st.by_state[FU_NS_DONE] + st.by_state[FU_NS_SKIPPED];
    uint32_t failed = st.by_state[FU_NS_FAILED], unreach = st.by_state[FU_NS_UNREACHABLE];
    uint32_t ended = finished + failed + unreach + st.by_state[FU_NS_CANCELLED];
    double secs = r->now / 1000.0;
    double rate = secs > 0 ? ended / secs : 0;
    char eta[32] = "-", el[32];
    if (rate > 0 && ended < st.nodes)
        fu_cli_duration(eta, sizeof(eta), (uint64_t)((st.nodes - ended) / rate * 1000));
    fu_cli_duration(el, sizeof(el), r->now);
    char line[256];
    snprintf(line, sizeof(line),
             "wave %u/%u  done %u  failed %u  unreachable %u  in flight %u  pending %u  "
             "%.1f nodes/s  elapsed %s  ETA %s",
             st.current_wave + 1, st.waves, finished, failed, unreach, st.in_flight,
             st.by_state[FU_NS_PENDING], rate, el, eta);
    fu_cli_progress_line(r->o->progress, line, final);
}

/* ---- hooks from the scheduler ---- */

static fu_transport_t *transport_of(runner_t *r, uint32_t node)
{
    return r->tk[r->o->force_sim ? FU_TRANSPORT_SIM : r->f->nodes[node].transport];
}

static void h_start(void *ud, uint32_t i, fu_phase_t ph, const fu_plan_t *plan)
{
    runner_t *r = ud;
    fu_transport_start(transport_of(r, r->order[i]), r->order[i], ph, plan);
}

static void h_cancel(void *ud, uint32_t i)
{
    runner_t *r = ud;
    fu_transport_t *t = transport_of(r, r->order[i]);
    t->vt->cancel(t, r->order[i]);
}

static bool ended(fu_node_state_t st)
{
    return st == FU_NS_DONE || st == FU_NS_SKIPPED || st == FU_NS_FAILED ||
           st == FU_NS_UNREACHABLE || st == FU_NS_CANCELLED;
}

static void h_transition(void *ud, uint32_t i, const fu_sched_node_t *from,
                         const fu_sched_node_t *to, const char *reason)
{
    runner_t *r = ud;
    r->transitions++;
    if (r->j && !r->crashed)
        fu_journal_transition(r->j, r->id, i, r->now, from->state, from->phase, to->state,
                              to->phase, to->attempts, to->resumed, reason);
    if (r->o->crash_after && r->transitions >= r->o->crash_after)
        r->crashed = true;
    if (ended(to->state) && !ended(from->state)) { /* its session is not needed any more */
        fu_transport_t *t = transport_of(r, r->order[i]);
        t->vt->close(t, r->order[i]);
    }
    if (r->reason && reason && (to->state == FU_NS_FAILED || to->state == FU_NS_UNREACHABLE ||
                                to->state == FU_NS_RETRY || to->state == FU_NS_CANCELLED)) {
        free(r->reason[i]);
        r->reason[i] = strdup(reason);
    }
    if (r->attached && r->env.transition)
        r->env.transition(r->env.ud, r, i, reason);
}

static void h_run(void *ud, fu_run_state_t state, uint32_t wave, const char *msg)
{
    runner_t *r = ud;
    if (r->j && !r->crashed)
        fu_journal_event(r->j, r->id, r->now, fu_run_state_name(state), wave, msg);
    if (r->attached && r->env.event)
        r->env.event(r->env.ud, r, r->now, fu_run_state_name(state), wave, msg);
    if (r->o->progress == FU_PROGRESS_NONE || state == FU_RUN_FINISHED)
        return;
    if (r->o->progress == FU_PROGRESS_TTY)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "fleetup: %s (wave %u): %s\n", fu_run_state_name(state), wave + 1, msg);
}

/* ---- results from the transport ---- */

static void on_drive(uv_timer_t *h);

/* A result from a libuv callback (not from the timers heap inside a turn): the clock is
 * read now, and a turn follows at once so that freed slots are used. */
static void kick(runner_t *r)
{
    if (!r->real || r->in_turn)
        return;
    uint64_t now = uv_now(r->lp) - r->t0;
    if (now > r->now)
        r->now = now;
    if (!r->kicked) {
        r->kicked = true;
        uv_timer_start(&r->drive, on_drive, 0, 0);
    }
}

static void on_phase(void *ud, uint32_t node, fu_phase_t ph, const char *err,
                     const fu_phase_result_t *res)
{
    runner_t *r = ud;
    uint32_t i = r->rev[node];
    if (i == UINT32_MAX || r->crashed || r->closing) /* closing: results of the cancels */
        return;
    kick(r);
    if (r->log_tail && res && res->log_tail && res->log_tail[0]) {
        free(r->log_tail[i]);
        r->log_tail[i] = strdup(res->log_tail);
    }
    if (err) {
        fu_sched_phase_failed(r->s, i, ph, err, res && res->unreachable, r->now);
        return;
    }
    const fu_inventory_t *inv = res ? res->inventory : NULL;
    if (inv && r->j)
        for (uint32_t c = 0; c < inv->n; c++)
            fu_journal_inventory(r->j, r->id, i, ph, r->f->baseline.components[c].name,
                                 inv->versions[c], r->now);
    fu_sched_phase_done(r->s, i, ph, inv, res && res->reboot_needed, r->now);
}

static void on_started(void *ud, uint32_t node, fu_phase_t ph, bool waiting)
{
    runner_t *r = ud;
    uint32_t i = r->rev[node];
    if (i == UINT32_MAX || r->crashed || r->closing)
        return;
    kick(r); /* reads the clock */
    fu_sched_phase_started(r->s, i, ph, r->now, waiting);
}

/* ---- one turn ---- */

static bool finished(runner_t *r)
{
    fu_sched_stats_t st;
    fu_sched_stats(r->s, &st);
    return st.run == FU_RUN_FINISHED;
}

static uint64_t next_deadline(runner_t *r)
{
    uint64_t a = fu_timers_next(&r->timers), b = fu_sched_next_deadline(r->s);
    return a < b ? a : b;
}

static void turn(runner_t *r, uint64_t now)
{
    if (now > r->now)
        r->now = now;
    r->in_turn = true;
    fu_timers_run(&r->timers, r->now);
    if (!r->crashed)
        fu_sched_run(r->s, r->now);
    r->in_turn = false;
}

static void operator_at_start(runner_t *r)
{
    if (r->resume_aborting) /* the rollout was being aborted when it stopped */
        fu_sched_operator(r->s, FU_OP_ABORT, r->now);
    if (r->o->promote) {
        fu_sched_operator(r->s, FU_OP_PROMOTE, r->now);
        fu_sched_operator(r->s, FU_OP_RESUME, r->now);
    }
}

/* Commits the turn; a journal that cannot be written stops the rollout like a crash:
 * no node is driven further without a record of it. */
static bool commit(runner_t *r)
{
    if (r->j == NULL || r->crashed)
        return true;
    if (fu_journal_commit(r->j) == 0)
        return true;
    r->crashed = true;
    return false;
}

static void run_virtual(runner_t *r)
{
    turn(r, r->now);
    operator_at_start(r);
    while (!r->crashed && !finished(r)) {
        if (!commit(r))
            break;
        uint64_t next = next_deadline(r);
        if (next == UINT64_MAX)
            break; /* waiting for an operator */
        turn(r, next);
        /* Virtual time runs faster than anyone reads: a line per wave event only. */
    }
}

/* Real time on libuv: */

static void stop_loop(runner_t *r)
{
    if (!r->attached)
        uv_stop(&r->loop);
}

static void report_end(runner_t *r);

static void arm(runner_t *r)
{
    uint64_t next = next_deadline(r);
    if (r->attached) {
        /* The loop is shared: nothing to stop. A finished run is reported once (retry
         * may reopen it); one waiting for an operator just has no timer. */
        if (r->crashed || finished(r)) {
            report_end(r);
            return;
        }
        if (next == UINT64_MAX)
            return;
    }
    if (r->crashed || finished(r) || r->stop) {
        stop_loop(r);
        return;
    }
    if (next == UINT64_MAX) {
        stop_loop(r); /* waiting for an operator: the CLI stops, --resume continues */
        return;
    }
    uint64_t now = uv_now(r->lp) - r->t0;
    uv_timer_start(&r->drive, on_drive, next > now && !r->kicked ? next - now : 0, 0);
}

static void on_drive(uv_timer_t *h)
{
    runner_t *r = h->data;
    r->kicked = false;
    turn(r, uv_now(r->lp) - r->t0);
    arm(r);
}

static void on_tick(uv_timer_t *h)
{
    runner_t *r = h->data;
    r->now = uv_now(r->lp) - r->t0 > r->now ? uv_now(r->lp) - r->t0 : r->now;
    uint64_t every = r->o->progress == FU_PROGRESS_TTY ? 1000 : 5000;
    if (r->now - r->last_print >= every) {
        r->last_print = r->now;
        progress(r, false);
    }
}

static void on_check(uv_check_t *h)
{
    runner_t *r = h->data;
    if (!commit(r)) /* one transaction per loop turn */
        stop_loop(r);
}

/* Service mode: the end (or a journal failure) is journaled and reported once. */
static void report_end(runner_t *r)
{
    if (r->end_reported)
        return;
    r->end_reported = true;
    uv_timer_stop(&r->drive);
    if (r->j && !r->crashed) {
        fu_sched_stats_t st;
        fu_sched_stats(r->s, &st);
        fu_journal_rollout_end(r->j, r->id, fu_run_state_name(st.run), st.halt_reason,
                               st.run == FU_RUN_FINISHED ? wall_ms() : 0);
    }
    if (r->env.finished)
        r->env.finished(r->env.ud, r);
}

static void on_signal(uv_signal_t *h, int signum)
{
    runner_t *r = h->data;
    if (++r->signals == 1) {
        fprintf(stderr, "\nfleetup: %s: aborting; nodes already installing finish. "
                        "Again to stop at once (then: fleetup deploy --resume %lld)\n",
                strsignal(signum), (long long)r->id);
        fu_sched_operator(r->s, FU_OP_ABORT, r->now);
        arm(r);
    } else {
        r->stop = true;
        stop_loop(r);
    }
}

/* The end of a real-time run: sessions closed (bounded), downloads in progress given a
 * few seconds, every handle closed, then the loop is empty. */
static void close_all(runner_t *r)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&r->drive, (uv_handle_t *)&r->tick,
                         (uv_handle_t *)&r->commit, (uv_handle_t *)&r->sigint,
                         (uv_handle_t *)&r->sigterm};
    fu_transports_close_loop(r->lp, hs, sizeof(hs) / sizeof(hs[0]), r->tk, r->svc_on ? &r->svc : NULL);
}

/* Service mode: the run state an operator command left, so that a restart of serve
 * restores a pause or an abort (the journal's state is otherwise written at the end). */
static void journal_run_state(runner_t *r)
{
    if (!r->attached || r->j == NULL || r->crashed)
        return;
    fu_sched_stats_t st;
    fu_sched_stats(r->s, &st);
    if (st.run == FU_RUN_FINISHED)
        return; /* report_end writes it */
    /* A halt is not journaled: resume recounts the budgets and halts again. */
    const char *state = st.run == FU_RUN_ABORTING                          ? "aborting"
                        : st.run == FU_RUN_PAUSED || st.operator_paused ? "paused"
                                                                          : "running";
    fu_journal_rollout_end(r->j, r->id, state, st.run == FU_RUN_ABORTING ? st.halt_reason : NULL, 0);
}

/* The first turn on the loop; the CLI then runs the loop, service mode returns. */
static void start_real(runner_t *r)
{
    r->t0 = uv_now(r->lp) - r->now; /* a resumed rollout's clock goes on */
    uv_timer_init(r->lp, &r->drive);
    uv_timer_init(r->lp, &r->tick);
    r->drive.data = r->tick.data = r;
    if (!r->attached) { /* service mode: the service commits and takes the signals */
        uv_check_init(r->lp, &r->commit);
        uv_signal_init(r->lp, &r->sigint);
        uv_signal_init(r->lp, &r->sigterm);
        r->commit.data = r->sigint.data = r->sigterm.data = r;
        uv_check_start(&r->commit, on_check);
        uv_signal_start(&r->sigint, on_signal, SIGINT);
        uv_signal_start(&r->sigterm, on_signal, SIGTERM);
        uv_timer_start(&r->tick, on_tick, 250, 250);
    }
    if (r->o->start_paused || r->resume_paused) {
        fu_sched_operator(r->s, FU_OP_PAUSE, r->now);
        journal_run_state(r);
    }
    turn(r, r->now);
    operator_at_start(r);
    arm(r);
}

static void run_real(runner_t *r)
{
    start_real(r);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    close_all(r);
}

/* ---- the HTTP(S) service for nodes that pull ---- */

static fu_service_t *svc_of(runner_t *r)
{
    return r->attached ? r->env.svc : &r->svc;
}

static int image_uri(void *ud, uint32_t node, uint32_t c, const char *local, char *buf, size_t len)
{
    runner_t *r = ud;
    return fu_service_image_url(svc_of(r), r->f, &r->f->nodes[node],
                                &r->f->baseline.components[c], r->idstr, local, buf, len);
}

static int status_uri(void *ud, uint32_t node, const char *local, char *url, size_t urllen,
                      char *tok, size_t toklen, char *pin, size_t pinlen)
{
    runner_t *r = ud;
    return fu_service_status_url(svc_of(r), r->f, &r->f->nodes[node], r->idstr, local, url,
                                 urllen, tok, toklen, pin, pinlen);
}

static int package_of(void *ud, uint32_t c, const void **data, size_t *len)
{
    runner_t *r = ud;
    const fu_component_t *comp = &r->f->baseline.components[c];
    const fu_packages_t *pk = r->attached ? r->env.packages : &r->svc.packages;
    const fu_package_t *p = comp->sha256 && pk ? fu_packages_find(pk, comp->sha256) : NULL;
    if (p == NULL)
        return -1;
    *data = p->data;
    *len = (size_t)p->size;
    return 0;
}

static void on_service_ready(void *ud, const char *err)
{
    runner_t *r = ud;
    if (err)
        snprintf(r->svc_err, sizeof(r->svc_err), "%s", err);
    r->svc_ready = true;
    uv_stop(&r->loop);
}

static void quiet_log(void *ud, const char *line)
{
    (void)ud, (void)line; /* the server's own 4xx: counted in its stats, not printed mid-run */
}

/* Starts the service (packages hashed, listening) before the first node is touched. */
static int start_service(runner_t *r, char *err, size_t errlen)
{
    fu_service_opts_t so = {.state_dir = r->o->state_dir ? r->o->state_dir : ".fleetup",
                            .port = r->o->port,
                            .ssl_port = r->o->ssl_port,
                            .log = quiet_log};
    char e[1024];
    if (fu_service_init(&r->svc, r->lp, r->f, &so, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "the package server cannot start: %s", e);
        fu_service_free(&r->svc);
        return -1;
    }
    r->svc_on = true;
    fu_service_start(&r->svc, on_service_ready, r);
    while (!r->svc_ready)
        uv_run(r->lp, UV_RUN_DEFAULT);
    if (r->svc_err[0]) {
        snprintf(err, errlen, "the package server cannot start: %s", r->svc_err);
        return -1;
    }
    if (r->o->progress != FU_PROGRESS_NONE)
        fprintf(stderr, "fleetup: serving packages on http://%s:%u/ and https://%s:%u/ "
                        "(TLS SHA-256 %s)\n", r->svc.nbound ? r->svc.bound[0] : "*",
                r->svc.ports.port, r->svc.nbound ? r->svc.bound[0] : "*", r->svc.ports.ssl_port,
                r->svc.fingerprint);
    return 0;
}

static int make_transports(runner_t *r, char *err, size_t errlen)
{
    const fu_rollout_opts_t *o = r->o;
    char world[4096];
    snprintf(world, sizeof(world), "%s/sim-world.db", o->state_dir ? o->state_dir : ".");
    /* The transports first: a bad certificate setting is found before any package is
     * hashed or any port opened. */
    fu_transports_opts_t to = {.loop = r->lp, .timers = &r->timers,
                               .sim_world = o->no_journal || o->sim_in_memory ? NULL : world,
                               .force_sim = o->force_sim, .image_uri = image_uri,
                               .status_uri = status_uri, .package = package_of, .ud = r,
                               .phase_cb = on_phase, .started_cb = on_started, .phase_ud = r};
    if (fu_transports_open(r->f, r->order, r->n, &to, r->tk, err, errlen) != 0)
        return -1;
    /* BMCs and SSH nodes pull packages from the service (or are pushed its mapped
     * copies), and SSH nodes post their status to it. */
    if (!r->attached && (r->tk[FU_TRANSPORT_REDFISH] || r->tk[FU_TRANSPORT_SSH]) &&
        start_service(r, err, errlen) != 0)
        return -1;
    return 0;
}

/* ---- setup ---- */

typedef struct {
    runner_t *r;
    const char *err;
    char *errbuf;
    size_t errlen;
    fu_node_state_t *state;
    fu_phase_t *phase;
    uint8_t *flags;
} resume_ctx_t;

static void resume_node(void *ud, uint32_t idx, const char *name, uint32_t wave, int state,
                        int phase, int attempts, int flags, const char *reason, uint64_t at_ms)
{
    resume_ctx_t *c = ud;
    (void)wave, (void)attempts, (void)reason;
    if (at_ms > c->r->now)
        c->r->now = at_ms; /* the rollout's clock goes on from where it stopped */
    if (idx >= c->r->n || c->errbuf[0])
        return;
    if (strcmp(c->r->f->nodes[c->r->order[idx]].name, name) != 0) {
        snprintf(c->errbuf, c->errlen, "node %u of the rollout was '%s' and is now '%s': the "
                 "fleet file changed since the rollout started; resume needs the same fleet",
                 idx, name, c->r->f->nodes[c->r->order[idx]].name);
        return;
    }
    c->state[idx] = (fu_node_state_t)state;
    c->phase[idx] = (fu_phase_t)phase;
    c->flags[idx] = (uint8_t)flags;
}

/* The selection of a journaled rollout: fleet indices in rollout order. */
static int load_selection(runner_t *r, fu_journal_t *j, int64_t id, char *err, size_t errlen)
{
    fu_rollout_row_t row;
    if (fu_journal_rollout_get(j, id, &row) != 0) {
        snprintf(err, errlen, "no rollout %lld in this state directory (see 'fleetup history')",
                 (long long)id);
        return -1;
    }
    int rc = 0;
    r->resume_aborting = strcmp(row.state, "aborting") == 0;
    /* An operator pause outlives a restart of serve (deploy has no pause: it runs on). */
    r->resume_paused = r->attached && strcmp(row.state, "paused") == 0;
    if (strcmp(row.state, "finished") == 0) {
        snprintf(err, errlen, "rollout %lld has already finished (%s)", (long long)id,
                 row.reason ? row.reason : "all nodes ended");
        rc = -1;
    } else if (row.nodes > r->f->nnodes) {
        snprintf(err, errlen, "rollout %lld had %u nodes; the fleet now has %zu: resume needs the "
                 "same fleet", (long long)id, row.nodes, r->f->nnodes);
        rc = -1;
    }
    r->n = row.nodes;
    fu_journal_row_free(&row);
    if (rc == 0 && fu_journal_selection(j, id, r->order, r->n) != 0) {
        snprintf(err, errlen, "rollout %lld: the journal lists no nodes", (long long)id);
        rc = -1;
    }
    for (uint32_t i = 0; rc == 0 && i < r->n; i++)
        if (r->order[i] >= r->f->nnodes) {
            snprintf(err, errlen, "rollout %lld names node %u, beyond this fleet: resume needs "
                     "the same fleet", (long long)id, r->order[i]);
            rc = -1;
        }
    return rc;
}

static int select_nodes(runner_t *r, char *err, size_t errlen)
{
    const fu_fleet_t *f = r->f;
    bool *sel = malloc((f->nnodes + 1) * sizeof(bool));
    for (size_t i = 0; i < f->nnodes; i++)
        sel[i] = true;
    if (r->o->limit && fu_limit_select(f, r->o->limit, sel, err, errlen) != 0) {
        free(sel);
        return -1;
    }
    fu_sched_order(f, sel, r->order, &r->n);
    free(sel);
    if (r->n == 0) {
        snprintf(err, errlen, "no node selected");
        return -1;
    }
    return 0;
}

/* Real nodes run in real time (a transport this build cannot drive is refused when the
 * transports are made). */
static int check_transports(runner_t *r, char *err, size_t errlen)
{
    if (r->o->force_sim || !r->virtual)
        return 0;
    for (uint32_t i = 0; i < r->n; i++) {
        const fu_node_t *n = &r->f->nodes[r->order[i]];
        if (n->transport == FU_TRANSPORT_REDFISH || n->transport == FU_TRANSPORT_SSH) {
            snprintf(err, errlen, "node '%s' is a real %s node: it runs in real time; drop "
                     "--virtual-time (or the sim: section's time: virtual)", n->name,
                     fu_transport_name(n->transport));
            return -1;
        }
    }
    return 0;
}

/* One process drives a state directory's rollouts at a time. */
int fu_state_dir_lock(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/deploy.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "?";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 1] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen, "another fleetup (pid %s) is running a rollout in %s: wait for it, "
                 "or use another --state-dir", pid, dir);
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0)
        (void)0; /* the pid is only a hint for the message above */
    return fd;
}

static void cleanup(runner_t *r)
{
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    if (r->real) {
        /* A deploy that stopped before its run (a resume that does not match, the journal)
         * still has the package server listening: it is stopped and the loop drained. */
        if (r->svc_on && r->svc.server && !r->svc.stopping)
            fu_service_stop(&r->svc, 0, NULL, NULL);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&r->loop) != 0)
            fprintf(stderr, "fleetup: internal: handles left open at exit\n");
    }
    for (int k = 0; k < FU_TRANSPORT__COUNT; k++)
        if (r->tk[k])
            r->tk[k]->vt->destroy(r->tk[k]);
    if (r->svc_on)
        fu_service_free(&r->svc);
    fu_sched_free(r->s);
    fu_timers_free(&r->timers);
    free(r->order);
    free(r->rev);
}

/* Puts journaled node states back into a new scheduler. */
static int restore(runner_t *r, char *err, size_t errlen)
{
    resume_ctx_t c = {.r = r, .errbuf = err, .errlen = errlen};
    err[0] = '\0';
    c.state = calloc(r->n + 1, sizeof(*c.state));
    c.phase = calloc(r->n + 1, sizeof(*c.phase));
    c.flags = calloc(r->n + 1, sizeof(*c.flags));
    fu_journal_nodes(r->j, r->id, resume_node, &c);
    r->timers.now = r->now;
    for (uint32_t i = 0; !err[0] && i < r->n; i++)
        fu_sched_restore(r->s, i, c.state[i], c.phase[i], c.flags[i]);
    free(c.state);
    free(c.phase);
    free(c.flags);
    return err[0] ? -1 : 0;
}

static runner_t *runner_new(const fu_fleet_t *f, const fu_rollout_opts_t *o)
{
    runner_t *r = calloc(1, sizeof(*r));
    r->f = f;
    r->o = o;
    r->lock_fd = -1;
    r->lp = &r->loop;
    r->order = malloc((f->nnodes + 1) * sizeof(uint32_t));
    fu_timers_init(&r->timers);
    return r;
}

/* Everything before the first turn: the selection (or the journaled one), the scheduler,
 * the transports, the rollout recorded (or restored). */
static int setup(runner_t *r, char *err, size_t errlen)
{
    const fu_fleet_t *f = r->f;
    const fu_rollout_opts_t *o = r->o;
    if (o->resume_id && o->no_journal && !r->attached) {
        snprintf(err, errlen, "a rollout is resumed from its journal: no_journal cannot resume");
        return -1;
    }
    if (!r->attached && !o->no_journal && (r->j = fu_journal_open(o->state_dir, err, errlen)) == NULL)
        return -1;
    if (!r->attached && r->j && (r->lock_fd = fu_state_dir_lock(o->state_dir, err, errlen)) < 0)
        return -1;
    if (o->resume_id) {
        if (load_selection(r, r->j, o->resume_id, err, errlen) != 0)
            return -1;
        r->id = o->resume_id;
    } else if (select_nodes(r, err, errlen) != 0) {
        return -1;
    }
    r->virtual = !r->attached && (o->virtual_time || f->sim.virtual_time);
    if (check_transports(r, err, errlen) != 0)
        return -1;
    if (!r->virtual) {
        if (!r->attached)
            uv_loop_init(&r->loop);
        r->real = true;
    }
    r->rev = malloc((f->nnodes + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < f->nnodes; i++)
        r->rev[i] = UINT32_MAX;
    for (uint32_t i = 0; i < r->n; i++)
        r->rev[r->order[i]] = i;
    if (r->attached) {
        r->reason = calloc(r->n + 1, sizeof(char *));
        r->log_tail = calloc(r->n + 1, sizeof(char *));
    }
    fu_sched_hooks_t hooks = {r, h_start, h_cancel, h_transition, h_run};
    r->s = fu_sched_new(f, r->order, r->n, &hooks);
    /* Before the rollout is recorded: a package server that cannot start (a port in
     * use, a package changed on disk) leaves no rollout behind. */
    if (make_transports(r, err, errlen) != 0)
        return -1;
    if (o->resume_id) {
        if (restore(r, err, errlen) != 0)
            return -1;
        fu_journal_event(r->j, r->id, r->now, "resumed", 0, "resumed after a stop");
    } else if (r->j) {
        uint32_t *waves = malloc((r->n + 1) * sizeof(uint32_t));
        for (uint32_t i = 0; i < r->n; i++)
            waves[i] = fu_sched_node(r->s, i)->wave;
        fu_rollout_options_t ro = {o->force_sim, o->virtual_time, o->sim_seed, r->attached};
        r->id = fu_journal_rollout_begin(r->j, f, o->limit, &ro, r->order, waves, r->n, wall_ms());
        free(waves);
        if (r->id < 0) {
            snprintf(err, errlen, "cannot record the rollout: %s", fu_journal_error(r->j));
            return -1;
        }
    }
    /* The rollout's id is in every node token (read when a BMC is told its image URL). */
    snprintf(r->idstr, sizeof(r->idstr), "%lld", (long long)r->id);
    if (r->tk[FU_TRANSPORT_REDFISH]) {
        uint32_t insecure = fu_redfish_insecure_nodes(f, r->order, r->n);
        if (insecure) {
            char w[160];
            snprintf(w, sizeof(w), "%u BMC%s with tls_insecure: their certificates are not "
                     "checked", insecure, insecure == 1 ? "" : "s");
            if (r->j)
                fu_journal_event(r->j, r->id, r->now, "warning", 0, w);
            if (o->progress != FU_PROGRESS_NONE)
                fprintf(stderr, "fleetup: warning: %s\n", w);
        }
    }
    return 0;
}

int fu_rollout_run(const fu_fleet_t *f, const fu_rollout_opts_t *o, fu_rollout_result_t *res,
                   char *err, size_t errlen)
{
    runner_t *r = runner_new(f, o);
    memset(res, 0, sizeof(*res));
    int rc = -1;
    if (setup(r, err, errlen) != 0)
        goto out;
    if (o->progress != FU_PROGRESS_NONE)
        fprintf(stderr, "fleetup: rollout %lld: %u nodes in %u waves, state in %s\n",
                (long long)r->id, r->n, fu_sched_wave_sizes(&f->policy, r->n, NULL, UINT32_MAX),
                o->no_journal ? "memory only" : o->state_dir);
    if (r->virtual)
        run_virtual(r);
    else
        run_real(r);
    res->id = r->id;
    res->crashed = r->crashed;
    if (r->j && fu_journal_failed(r->j))
        snprintf(res->journal_error, sizeof(res->journal_error), "%s", fu_journal_failed(r->j));
    res->elapsed_ms = r->now;
    fu_sched_stats(r->s, &res->stats);
    /* The scheduler (and its halt reason) is freed below: keep a copy. */
    if (res->stats.halt_reason)
        snprintf(res->reason, sizeof(res->reason), "%s", res->stats.halt_reason);
    res->stats.halt_reason = res->reason[0] ? res->reason : NULL;
    if (!r->crashed && r->o->progress != FU_PROGRESS_NONE)
        progress(r, true);
    if (r->j && !r->crashed) {
        const char *state = fu_run_state_name(res->stats.run);
        fu_journal_rollout_end(r->j, r->id, state, res->stats.halt_reason,
                               res->stats.run == FU_RUN_FINISHED ? wall_ms() : 0);
    }
    rc = 0;
out:
    if (r->j) {
        if (r->crashed)
            fu_journal_abandon(r->j);
        else
            fu_journal_close(r->j);
    }
    cleanup(r);
    free(r);
    return rc;
}

/* ---- service mode ---- */

static void attached_free(void *ud)
{
    runner_t *r = ud;
    void (*closed)(void *) = r->closed;
    void *closed_ud = r->closed_ud;
    fu_transports_destroy(r->tk);
    for (uint32_t i = 0; r->reason && i < r->n; i++) {
        free(r->reason[i]);
        free(r->log_tail[i]);
    }
    free(r->reason);
    free(r->log_tail);
    fu_sched_free(r->s);
    fu_timers_free(&r->timers);
    free(r->order);
    free(r->rev);
    free(r);
    if (closed)
        closed(closed_ud);
}

int fu_rollout_start(const fu_fleet_t *f, const fu_rollout_opts_t *o, const fu_rollout_env_t *env,
                     fu_rollout_t **out, char *err, size_t errlen)
{
    runner_t *r = runner_new(f, o);
    r->attached = true;
    r->env = *env;
    r->lp = env->loop;
    r->j = env->journal;
    *out = NULL;
    if (setup(r, err, errlen) != 0) {
        /* The transports made so far may hold handles: closed from the loop. */
        fu_transports_close(NULL, 0, r->tk, NULL, attached_free, r);
        return -1;
    }
    start_real(r);
    *out = r;
    return 0;
}

const char *fu_rollout_command(fu_rollout_t *r, fu_operator_t op)
{
    if (r->closing)
        return "the service is stopping";
    if (r->crashed)
        return "the rollout stopped: its journal could not be written";
    kick(r); /* reads the clock */
    bool was_finished = finished(r);
    const char *why = fu_sched_operator(r->s, op, r->now);
    if (why)
        return why;
    if (r->j) {
        char msg[64];
        snprintf(msg, sizeof(msg), "%s by the operator (API)", fu_operator_name(op));
        fu_journal_event(r->j, r->id, r->now, "operator", 0, msg);
    }
    if (was_finished && !finished(r)) /* retry reopened it */
        r->end_reported = false;
    journal_run_state(r);
    arm(r);
    return NULL;
}

void fu_rollout_close(fu_rollout_t *r, void (*closed)(void *ud), void *ud)
{
    r->closed = closed;
    r->closed_ud = ud;
    r->closing = true;
    uv_handle_t *hs[] = {(uv_handle_t *)&r->drive, (uv_handle_t *)&r->tick};
    fu_transports_close(hs, 2, r->tk, NULL, attached_free, r);
}

int64_t fu_rollout_id(const fu_rollout_t *r)
{
    return r->id;
}

const fu_fleet_t *fu_rollout_fleet(const fu_rollout_t *r)
{
    return r->f;
}

const fu_sched_t *fu_rollout_sched(const fu_rollout_t *r)
{
    return r->s;
}

uint64_t fu_rollout_now(const fu_rollout_t *r)
{
    return r->now;
}

const char *fu_rollout_reason(const fu_rollout_t *r, uint32_t idx)
{
    return r->reason && idx < r->n ? r->reason[idx] : NULL;
}

const char *fu_rollout_log_tail(const fu_rollout_t *r, uint32_t idx)
{
    return r->log_tail && idx < r->n ? r->log_tail[idx] : NULL;
}

bool fu_rollout_crashed(const fu_rollout_t *r)
{
    return r->crashed;
}
