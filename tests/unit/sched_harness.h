/* A virtual-time world for scheduler tests: a fake transport whose phases take a
 * duration and an outcome chosen by the test, simulated nodes with installed versions,
 * and invariant checks (concurrency, phase caps, max_per) after every transition.
 * Included by the scheduler tests only. */
#ifndef FU_SCHED_HARNESS_H
#define FU_SCHED_HARNESS_H

#include <stdlib.h>
#include <string.h>

#include "core/fleet.h"
#include "core/plan.h"
#include "core/scheduler.h"

typedef enum { OUT_OK, OUT_FAIL, OUT_UNREACHABLE, OUT_HANG } outcome_t;

typedef struct world_s world_t;
/* Chooses what phase ph of node i does on its attempt-th try (0-based). */
typedef outcome_t (*behave_fn)(world_t *w, uint32_t i, fu_phase_t ph, uint32_t attempt,
                               uint64_t *duration);

typedef struct {
    uint64_t when;
    uint32_t node, token;
    uint8_t phase, outcome;
} ev_t;

struct world_s {
    fu_fleet_t *f;
    fu_sched_t *s;
    uint64_t now;
    ev_t *heap;
    size_t nheap, cap;
    uint32_t *token;     /* per node: bumps on start and cancel */
    uint32_t *attempt;   /* per node and phase */
    const char ***installed; /* per node: version per component */
    uint32_t **installs;     /* per node: install count per component */
    behave_fn behave;
    void *ud;
    uint32_t max_in_flight, max_in_phase[FU_PHASE__COUNT];
    uint32_t starts[FU_PHASE__COUNT];
    const char *max_per_label;
    uint32_t max_per_limit;
    uint32_t max_per_seen; /* the most nodes of one label value seen in flight */
    bool violated;
    char violation[256];
    fu_run_state_t last_run;
    uint32_t run_events;
    /* node indices (selection order) in the order they started connect */
    uint32_t *start_order;
    uint32_t nstart_order;
    uint64_t *connect_at; /* when each node started connecting */
};

static void heap_push(world_t *w, ev_t e)
{
    if (w->nheap == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->heap = realloc(w->heap, w->cap * sizeof(ev_t));
    }
    size_t k = w->nheap++;
    while (k > 0 && (w->heap[(k - 1) / 2].when > e.when ||
                     (w->heap[(k - 1) / 2].when == e.when && w->heap[(k - 1) / 2].node > e.node))) {
        w->heap[k] = w->heap[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    w->heap[k] = e;
}

static int ev_less(const ev_t *a, const ev_t *b)
{
    return a->when < b->when || (a->when == b->when && a->node < b->node);
}

static ev_t heap_pop(world_t *w)
{
    ev_t top = w->heap[0], last = w->heap[--w->nheap];
    size_t k = 0;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= w->nheap)
            break;
        if (c + 1 < w->nheap && ev_less(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!ev_less(&w->heap[c], &last))
            break;
        w->heap[k] = w->heap[c];
        k = c;
    }
    if (w->nheap)
        w->heap[k] = last;
    return top;
}

static void h_start(void *ud, uint32_t i, fu_phase_t ph, const fu_plan_t *plan)
{
    world_t *w = ud;
    (void)plan;
    uint64_t d = 1000;
    uint32_t attempt = w->attempt[i * FU_PHASE__COUNT + ph]++;
    outcome_t o = w->behave ? w->behave(w, i, ph, attempt, &d) : OUT_OK;
    w->starts[ph]++;
    if (ph == FU_PHASE_CONNECT && attempt == 0) {
        w->start_order[w->nstart_order++] = i;
        w->connect_at[i] = w->now;
    }
    w->token[i]++;
    if (o != OUT_HANG)
        heap_push(w, (ev_t){w->now + d, i, w->token[i], (uint8_t)ph, (uint8_t)o});
}

static void h_cancel(void *ud, uint32_t i)
{
    world_t *w = ud;
    w->token[i]++;
}

static void check(world_t *w, const char *what, uint32_t have, uint32_t max)
{
    if (max && have > max && !w->violated) {
        w->violated = true;
        snprintf(w->violation, sizeof(w->violation), "%s: %u > %u at t=%llu", what, have, max,
                 (unsigned long long)w->now);
    }
}

static void h_transition(void *ud, uint32_t i, const fu_sched_node_t *from,
                         const fu_sched_node_t *to, const char *reason)
{
    world_t *w = ud;
    (void)i, (void)from, (void)to, (void)reason;
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    check(w, "in flight", st.in_flight, w->max_in_flight);
    for (int ph = 0; ph < FU_PHASE__COUNT; ph++)
        check(w, fu_phase_name((fu_phase_t)ph), st.in_phase[ph], w->max_in_phase[ph]);
    if (w->max_per_label) {
        /* Count in-flight nodes per label value the slow way: the test's own truth. */
        const fu_node_t *fn = &w->f->nodes[fu_sched_fleet_node(w->s, i)];
        const char *v = fu_node_label(fn, w->max_per_label);
        uint32_t count = 0;
        for (uint32_t k = 0; v && k < st.nodes; k++) {
            const fu_sched_node_t *n = fu_sched_node(w->s, k);
            if (n->state == FU_NS_PENDING || fu_node_state_terminal((fu_node_state_t)n->state))
                continue;
            const char *kv = fu_node_label(&w->f->nodes[fu_sched_fleet_node(w->s, k)], w->max_per_label);
            count += kv && strcmp(kv, v) == 0;
        }
        check(w, "max_per", count, w->max_per_limit);
        if (count > w->max_per_seen)
            w->max_per_seen = count;
    }
}

static void h_run(void *ud, fu_run_state_t r, uint32_t wave, const char *msg)
{
    world_t *w = ud;
    (void)wave, (void)msg;
    w->last_run = r;
    w->run_events++;
}

static fu_inventory_t inventory_of(world_t *w, uint32_t i)
{
    return (fu_inventory_t){w->installed[i], (uint32_t)w->f->baseline.ncomponents};
}

/* Applies one event: install changes the simulated node before it reports. */
static void deliver(world_t *w, ev_t e)
{
    w->now = e.when;
    if (e.token != w->token[e.node])
        return; /* cancelled or superseded */
    fu_phase_t ph = (fu_phase_t)e.phase;
    if (e.outcome == OUT_OK) {
        const fu_sched_node_t *n = fu_sched_node(w->s, e.node);
        if (ph == FU_PHASE_INSTALL)
            for (uint32_t c = 0; c < w->f->baseline.ncomponents; c++)
                if (n->plan.install & (1ull << c)) {
                    w->installed[e.node][c] = w->f->baseline.components[c].version;
                    w->installs[e.node][c]++;
                }
        fu_inventory_t inv = inventory_of(w, e.node);
        fu_sched_phase_done(w->s, e.node, ph, &inv, false, w->now);
    } else {
        fu_sched_phase_failed(w->s, e.node, ph, e.outcome == OUT_UNREACHABLE ? "refused" : "failed",
                              e.outcome == OUT_UNREACHABLE, w->now);
    }
}

static world_t *world_new(fu_fleet_t *f, const char *old_version)
{
    world_t *w = calloc(1, sizeof(*w));
    w->f = f;
    uint32_t n = (uint32_t)f->nnodes;
    w->token = calloc(n, sizeof(uint32_t));
    w->attempt = calloc((size_t)n * FU_PHASE__COUNT, sizeof(uint32_t));
    w->installed = calloc(n, sizeof(char **));
    w->installs = calloc(n, sizeof(uint32_t *));
    w->start_order = calloc(n, sizeof(uint32_t));
    w->connect_at = calloc(n, sizeof(uint64_t));
    for (uint32_t i = 0; i < n; i++) {
        w->installed[i] = calloc(f->baseline.ncomponents + 1, sizeof(char *));
        w->installs[i] = calloc(f->baseline.ncomponents + 1, sizeof(uint32_t));
        for (uint32_t c = 0; c < f->baseline.ncomponents; c++)
            w->installed[i][c] = old_version;
    }
    return w;
}

static void world_start(world_t *w, const bool *selected)
{
    uint32_t *order = malloc((w->f->nnodes + 1) * sizeof(uint32_t)), n;
    fu_sched_order(w->f, selected, order, &n);
    fu_sched_hooks_t hooks = {w, h_start, h_cancel, h_transition, h_run};
    w->s = fu_sched_new(w->f, order, n, &hooks);
    free(order);
}

/* Runs until the rollout finishes, nothing is left to happen, or time passes limit. */
static void world_run(world_t *w, uint64_t limit)
{
    fu_sched_run(w->s, w->now);
    for (;;) {
        fu_sched_stats_t st;
        fu_sched_stats(w->s, &st);
        if (st.run == FU_RUN_FINISHED)
            return;
        uint64_t next = fu_sched_next_deadline(w->s);
        if (w->nheap && w->heap[0].when <= next) {
            if (w->heap[0].when > limit)
                return;
            deliver(w, heap_pop(w));
        } else if (next != UINT64_MAX) {
            if (next > limit)
                return;
            w->now = next > w->now ? next : w->now;
        } else {
            return; /* waiting for the operator */
        }
        fu_sched_run(w->s, w->now);
    }
}

/* When the first (or last) node of a wave started connecting. */
static uint64_t wave_connect(world_t *w, uint32_t wave, bool last)
{
    uint64_t t = last ? 0 : UINT64_MAX;
    for (uint32_t i = 0; i < w->f->nnodes; i++) {
        if (fu_sched_node(w->s, i)->wave != wave)
            continue;
        if (last ? w->connect_at[i] > t : w->connect_at[i] < t)
            t = w->connect_at[i];
    }
    return t;
}

static void world_free(world_t *w)
{
    for (uint32_t i = 0; i < w->f->nnodes; i++) {
        free(w->installed[i]);
        free(w->installs[i]);
    }
    free(w->installed);
    free(w->installs);
    free(w->token);
    free(w->attempt);
    free(w->start_order);
    free(w->connect_at);
    free(w->heap);
    fu_sched_free(w->s);
    free(w);
}

#endif
