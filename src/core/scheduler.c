/* The rollout scheduler (see scheduler.h). Per node: a small record; per phase: a FIFO
 * of nodes waiting for a slot and a FIFO of timeouts (a phase's timeout is the same for
 * every node, so deadlines arrive in order); retries sit in a heap. Every change of a
 * node goes through one function, to(), which reports the transition. */
#include "core/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plan.h"
#include "core/strmap.h"

/* A growable ring of fixed-size entries. */
typedef struct {
    void *v;
    size_t elem, cap, head, n;
} ring_t;

static void ring_init(ring_t *r, size_t elem)
{
    memset(r, 0, sizeof(*r));
    r->elem = elem;
}

static void ring_push(ring_t *r, const void *e)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        char *nv = malloc(cap * r->elem);
        if (nv == NULL)
            abort();
        for (size_t i = 0; i < r->n; i++)
            memcpy(nv + i * r->elem, (char *)r->v + ((r->head + i) % r->cap) * r->elem, r->elem);
        free(r->v);
        r->v = nv;
        r->cap = cap;
        r->head = 0;
    }
    memcpy((char *)r->v + ((r->head + r->n) % r->cap) * r->elem, e, r->elem);
    r->n++;
}

static void *ring_front(const ring_t *r)
{
    return r->n ? (char *)r->v + r->head * r->elem : NULL;
}

static void ring_pop(ring_t *r)
{
    r->head = (r->head + 1) % r->cap;
    r->n--;
}

typedef struct {
    uint64_t when;
    uint32_t node, seq;
} timer_t_;

struct fu_sched_s {
    const fu_fleet_t *f;
    const fu_policy_t *p;
    fu_sched_hooks_t h;
    uint32_t n;
    uint32_t *fleet_idx;
    fu_sched_node_t *nodes;
    /* Waves: nodes are in rollout order, wave w is [wave_start[w], wave_start[w + 1]). */
    uint32_t nwaves, *wave_start, *wave_left, *wave_failed;
    uint32_t open_wave;   /* highest wave whose nodes may start */
    uint32_t gate_passed; /* waves below this passed their canary/pause gate */
    bool gate_pause;      /* paused at a wave gate (pause_between: manual) */
    bool op_paused;       /* paused by the operator: only resume ends it */
    bool aborted;         /* by the operator: its cancelled nodes stay cancelled */
    uint64_t reboot_mask; /* baseline components that need a reboot */
    uint32_t cursor;    /* next pending node, in order */
    fu_run_state_t run;
    uint64_t pause_until;
    char halt_reason[256];
    uint32_t in_flight, in_phase[FU_PHASE__COUNT];
    uint32_t by_state[FU_NS__COUNT];
    uint32_t failed_total, unreachable_total;
    uint64_t transitions;
    ring_t waiting[FU_PHASE__COUNT]; /* uint32 node */
    ring_t timeouts[FU_PHASE__COUNT]; /* timer_t_ */
    timer_t_ *retries;               /* min-heap on when */
    uint32_t nretries, retries_cap;
    /* max_per: value id per label per node, in-flight count per value, and nodes
     * waiting for their value's count to drop (a list through next_blocked). */
    uint32_t nlimits;
    uint32_t *limit_max;     /* per label */
    uint32_t **value_of;     /* [label][node] */
    uint32_t **value_count;  /* [label][value] */
    uint32_t **blocked_head; /* [label][value] -> node + 1, 0 = none */
    uint32_t *next_blocked;  /* node -> node + 1 */
    ring_t readmit;          /* uint32 node: unblocked, to be tried before the cursor */
    uint64_t rng;
};

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

const char *fu_node_state_name(fu_node_state_t s)
{
    static const char *const names[] = {"pending", "active", "waiting", "retry", "done",
                                        "skipped", "failed", "unreachable", "cancelled"};
    return (unsigned)s < FU_NS__COUNT ? names[s] : "?";
}

const char *fu_run_state_name(fu_run_state_t r)
{
    static const char *const names[] = {"running", "paused", "awaiting-promote", "halted",
                                        "aborting", "finished"};
    return (unsigned)r <= FU_RUN_FINISHED ? names[r] : "?";
}

bool fu_node_state_terminal(fu_node_state_t s)
{
    return s >= FU_NS_DONE;
}

/* ---- waves and order ---- */

/* Percentages are kept as hundredths of a percent in integers: 4.6% of 1500 is exactly
 * 69, and 16.1% of 1000 exactly 161 (floating point says 68.99... and 161.00...1). */
static uint64_t hundredths(double pct)
{
    return (uint64_t)(pct * 100.0 + 0.5);
}

static uint32_t amount_of(const fu_amount_t *a, uint32_t n)
{
    if (a->unit == FU_AMOUNT_PERCENT)
        return (uint32_t)((hundredths(a->value) * n + 9999) / 10000); /* rounded up */
    return (uint32_t)a->value;
}

uint32_t fu_sched_wave_sizes(const fu_policy_t *p, uint32_t n, uint32_t *sizes, uint32_t max)
{
    uint32_t nw = 0, left = n;
    for (uint32_t k = 0; left > 0 && nw < max; k++) {
        uint32_t size = n;
        if (p->nwaves)
            size = amount_of(&p->waves[k < p->nwaves ? k : p->nwaves - 1], n);
        if (size < 1)
            size = 1;
        if (size > left)
            size = left;
        if (sizes)
            sizes[nw] = size;
        nw++;
        left -= size;
    }
    return nw;
}

static int by_name(const void *a, const void *b, void *ud)
{
    const fu_fleet_t *f = ud;
    return strcmp(f->nodes[*(const uint32_t *)a].name, f->nodes[*(const uint32_t *)b].name);
}

void fu_sched_order(const fu_fleet_t *f, const bool *selected, uint32_t *order, uint32_t *n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < f->nnodes; i++)
        if (selected == NULL || selected[i])
            order[k++] = i;
    *n = k;
    if (f->policy.order == FU_ORDER_SORTED) {
        qsort_r(order, k, sizeof(*order), by_name, (void *)f);
    } else if (f->policy.order == FU_ORDER_SHUFFLE) {
        uint64_t x = f->policy.seed;
        for (uint32_t i = k; i > 1; i--) {
            uint32_t j = (uint32_t)(splitmix(&x) % i);
            uint32_t t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
    }
}

/* ---- max_per ---- */

/* Gives every node a value id per max_per label (nodes without the label share id 0,
 * which is never limited). */
static void limits_init(fu_sched_t *s)
{
    const fu_policy_t *p = s->p;
    s->nlimits = (uint32_t)p->nmax_per;
    if (s->nlimits == 0)
        return;
    s->limit_max = calloc(s->nlimits, sizeof(uint32_t));
    s->value_of = calloc(s->nlimits, sizeof(uint32_t *));
    s->value_count = calloc(s->nlimits, sizeof(uint32_t *));
    s->blocked_head = calloc(s->nlimits, sizeof(uint32_t *));
    s->next_blocked = calloc(s->n + 1, sizeof(uint32_t));
    for (uint32_t l = 0; l < s->nlimits; l++) {
        s->limit_max[l] = p->max_per[l].max;
        s->value_of[l] = calloc(s->n + 1, sizeof(uint32_t));
        fu_strmap_t ids;
        fu_strmap_init(&ids);
        uint32_t next = 1;
        for (uint32_t i = 0; i < s->n; i++) {
            const char *v = fu_node_label(&s->f->nodes[s->fleet_idx[i]], p->max_per[l].label);
            if (v == NULL)
                continue;
            void *id = fu_strmap_get(&ids, v, strlen(v));
            if (id == NULL) {
                id = (void *)(uintptr_t)next++;
                fu_strmap_put(&ids, v, strlen(v), id);
            }
            s->value_of[l][i] = (uint32_t)(uintptr_t)id;
        }
        fu_strmap_free(&ids);
        s->value_count[l] = calloc(next, sizeof(uint32_t));
        s->blocked_head[l] = calloc(next, sizeof(uint32_t));
    }
}

/* The first label whose limit node i would exceed, or -1. */
static int limit_blocks(const fu_sched_t *s, uint32_t i)
{
    for (uint32_t l = 0; l < s->nlimits; l++) {
        uint32_t v = s->value_of[l][i];
        if (v && s->value_count[l][v] >= s->limit_max[l])
            return (int)l;
    }
    return -1;
}

static void limits_take(fu_sched_t *s, uint32_t i, int delta)
{
    for (uint32_t l = 0; l < s->nlimits; l++) {
        uint32_t v = s->value_of[l][i];
        if (v == 0)
            continue;
        s->value_count[l][v] += (uint32_t)delta;
        if (delta < 0) {
            /* A slot of this value freed: its blocked nodes are tried again first. */
            uint32_t b = s->blocked_head[l][v];
            s->blocked_head[l][v] = 0;
            while (b) {
                uint32_t node = b - 1;
                b = s->next_blocked[node];
                ring_push(&s->readmit, &node);
            }
        }
    }
}

static void limits_block(fu_sched_t *s, uint32_t i, int l)
{
    uint32_t v = s->value_of[l][i];
    s->next_blocked[i] = s->blocked_head[l][v];
    s->blocked_head[l][v] = i + 1;
}

/* ---- transitions ---- */

static void to(fu_sched_t *s, uint32_t i, fu_node_state_t state, fu_phase_t phase,
               const char *reason)
{
    fu_sched_node_t *n = &s->nodes[i];
    fu_sched_node_t from = *n;
    s->by_state[n->state]--;
    s->by_state[state]++;
    if (n->state == FU_NS_ACTIVE)
        s->in_phase[n->phase]--;
    if (state == FU_NS_ACTIVE)
        s->in_phase[phase]++;
    if (n->phase != phase)
        n->attempts = 0;
    n->state = (uint8_t)state;
    n->phase = (uint8_t)phase;
    n->seq++;
    s->transitions++;
    if (s->h.transition)
        s->h.transition(s->h.ud, i, &from, n, reason);
}

static void run_to(fu_sched_t *s, fu_run_state_t r, const char *msg)
{
    s->run = r;
    if (s->h.run_event)
        s->h.run_event(s->h.ud, r, s->open_wave, msg);
}

static void start_phase(fu_sched_t *s, uint32_t i, fu_phase_t ph, uint64_t now)
{
    fu_sched_node_t *n = &s->nodes[i];
    to(s, i, FU_NS_ACTIVE, ph, NULL);
    timer_t_ t = {now + s->p->timeout_ms[ph], i, n->seq};
    ring_push(&s->timeouts[ph], &t);
    s->h.start(s->h.ud, i, ph, &n->plan);
}

static bool phase_has_slot(const fu_sched_t *s, fu_phase_t ph)
{
    uint32_t cap = s->p->phase_concurrency[ph];
    return cap == 0 || s->in_phase[ph] < cap;
}

/* Enters phase ph now if it has a free slot and nobody waits before us, else queues. */
static void advance(fu_sched_t *s, uint32_t i, fu_phase_t ph, uint64_t now)
{
    if (phase_has_slot(s, ph) && s->waiting[ph].n == 0) {
        start_phase(s, i, ph, now);
    } else {
        to(s, i, FU_NS_WAITING, ph, NULL);
        ring_push(&s->waiting[ph], &i);
    }
}

/* ---- budgets ---- */

static bool exceeds(const fu_amount_t *a, uint32_t count, uint32_t of)
{
    if (a->unit == FU_AMOUNT_NONE)
        return false;
    if (a->unit == FU_AMOUNT_COUNT)
        return count > (uint32_t)a->value;
    return (uint64_t)count * 10000 > hundredths(a->value) * of; /* exceeded, not equalled */
}

static void halt(fu_sched_t *s, const char *why)
{
    if (s->run == FU_RUN_HALTED || s->run == FU_RUN_ABORTING || s->run == FU_RUN_FINISHED)
        return;
    snprintf(s->halt_reason, sizeof(s->halt_reason), "%s", why);
    run_to(s, FU_RUN_HALTED, s->halt_reason);
}

static uint32_t wave_size(const fu_sched_t *s, uint32_t w)
{
    return s->wave_start[w + 1] - s->wave_start[w];
}

static void count_failure(fu_sched_t *s, uint32_t w, fu_node_state_t state);

static void finish_node(fu_sched_t *s, uint32_t i, fu_node_state_t state, const char *reason)
{
    fu_sched_node_t *n = &s->nodes[i];
    bool was_started = n->state != FU_NS_PENDING;
    to(s, i, state, (fu_phase_t)n->phase, reason);
    s->wave_left[n->wave]--;
    if (!was_started)
        return;
    s->in_flight--;
    limits_take(s, i, -1);
    count_failure(s, n->wave, state);
}

/* Counts a failed or unreachable node against the budgets; halts when one is exceeded. */
static void count_failure(fu_sched_t *s, uint32_t w, fu_node_state_t state)
{
    char why[256];
    if (state == FU_NS_FAILED) {
        s->failed_total++;
        s->wave_failed[w]++;
        if (exceeds(&s->p->max_fail_wave, s->wave_failed[w], wave_size(s, w))) {
            snprintf(why, sizeof(why), "max_fail per wave exceeded: %u failed in wave %u of %u nodes",
                     s->wave_failed[w], w + 1, wave_size(s, w));
            halt(s, why);
        }
        if (exceeds(&s->p->max_fail_total, s->failed_total, s->n)) {
            snprintf(why, sizeof(why), "max_fail for the rollout exceeded: %u failed of %u nodes",
                     s->failed_total, s->n);
            halt(s, why);
        }
    } else if (state == FU_NS_UNREACHABLE) {
        s->unreachable_total++;
        if (exceeds(&s->p->max_unreachable_total, s->unreachable_total, s->n)) {
            snprintf(why, sizeof(why), "max_unreachable exceeded: %u unreachable of %u nodes",
                     s->unreachable_total, s->n);
            halt(s, why);
        }
    }
}

/* ---- results ---- */

static bool current(const fu_sched_t *s, uint32_t i, fu_phase_t ph)
{
    return i < s->n && s->nodes[i].state == FU_NS_ACTIVE && s->nodes[i].phase == ph;
}

void fu_sched_phase_done(fu_sched_t *s, uint32_t i, fu_phase_t ph, const fu_inventory_t *inv,
                         bool reboot_needed, uint64_t now)
{
    if (!current(s, i, ph))
        return; /* late result after a timeout or a cancel */
    fu_sched_node_t *n = &s->nodes[i];
    const fu_node_t *fn = &s->f->nodes[s->fleet_idx[i]];
    char why[256];
    switch (ph) {
    case FU_PHASE_CONNECT:
        advance(s, i, FU_PHASE_INVENTORY, now);
        break;
    case FU_PHASE_INVENTORY:
        fu_plan_node(s->f, fn, inv, n->resumed != 0, &n->plan);
        if (n->plan.install != 0) {
            advance(s, i, FU_PHASE_STAGE, now);
        } else if ((n->resumed & FU_RESUMED_REBOOT) && (n->plan.current & s->reboot_mask)) {
            /* Installed before the crash, not rebooted yet as far as we know. */
            n->plan.reboot = true;
            advance(s, i, FU_PHASE_ACTIVATE, now);
        } else {
            finish_node(s, i, n->resumed ? FU_NS_DONE : FU_NS_SKIPPED,
                        n->resumed ? "already current after resume" : "already current");
        }
        break;
    case FU_PHASE_STAGE:
        advance(s, i, FU_PHASE_INSTALL, now);
        break;
    case FU_PHASE_INSTALL:
        n->plan.reboot |= reboot_needed;
        advance(s, i, n->plan.reboot ? FU_PHASE_ACTIVATE : FU_PHASE_VERIFY, now);
        break;
    case FU_PHASE_ACTIVATE:
        advance(s, i, FU_PHASE_VERIFY, now);
        break;
    case FU_PHASE_VERIFY: {
        uint64_t unmet = fu_plan_unmet(s->f, &n->plan, inv);
        if (unmet == 0) {
            finish_node(s, i, FU_NS_DONE, NULL);
            break;
        }
        int c = __builtin_ctzll(unmet);
        const char *have = inv && (uint32_t)c < inv->n ? inv->versions[c] : NULL;
        snprintf(why, sizeof(why), "verify: %s is %s after install, want %s",
                 s->f->baseline.components[c].name, have ? have : "absent",
                 s->f->baseline.components[c].version);
        finish_node(s, i, FU_NS_FAILED, why);
        break;
    }
    default:
        break;
    }
}

static void retry_push(fu_sched_t *s, timer_t_ t)
{
    if (s->nretries == s->retries_cap) {
        s->retries_cap = s->retries_cap ? s->retries_cap * 2 : 64;
        s->retries = realloc(s->retries, s->retries_cap * sizeof(*s->retries));
        if (s->retries == NULL)
            abort();
    }
    uint32_t k = s->nretries++;
    while (k > 0 && s->retries[(k - 1) / 2].when > t.when) {
        s->retries[k] = s->retries[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    s->retries[k] = t;
}

static timer_t_ retry_pop(fu_sched_t *s)
{
    timer_t_ top = s->retries[0], last = s->retries[--s->nretries];
    uint32_t k = 0;
    for (;;) {
        uint32_t c = 2 * k + 1;
        if (c >= s->nretries)
            break;
        if (c + 1 < s->nretries && s->retries[c + 1].when < s->retries[c].when)
            c++;
        if (s->retries[c].when >= last.when)
            break;
        s->retries[k] = s->retries[c];
        k = c;
    }
    if (s->nretries)
        s->retries[k] = last;
    return top;
}

/* Exponential backoff, capped, with jitter in [50%, 100%] drawn from the seed. */
static uint64_t backoff(fu_sched_t *s, uint32_t attempt)
{
    uint64_t d = s->p->backoff_ms;
    for (uint32_t k = 1; k < attempt && d < s->p->max_backoff_ms; k++)
        d *= 2;
    if (d > s->p->max_backoff_ms)
        d = s->p->max_backoff_ms;
    if (s->p->jitter)
        d = d / 2 + splitmix(&s->rng) % (d / 2 + 1);
    return d;
}

void fu_sched_phase_failed(fu_sched_t *s, uint32_t i, fu_phase_t ph, const char *reason,
                           bool unreachable, uint64_t now)
{
    if (!current(s, i, ph))
        return;
    fu_sched_node_t *n = &s->nodes[i];
    int32_t allowed = s->p->phase_retries[ph] >= 0 ? s->p->phase_retries[ph] : (int32_t)s->p->retries;
    if (n->attempts < allowed && s->run != FU_RUN_ABORTING) {
        n->attempts++;
        to(s, i, FU_NS_RETRY, ph, reason);
        retry_push(s, (timer_t_){now + backoff(s, n->attempts), i, n->seq});
        return;
    }
    char why[320];
    snprintf(why, sizeof(why), "%s: %s", fu_phase_name(ph), reason ? reason : "failed");
    finish_node(s, i, unreachable ? FU_NS_UNREACHABLE : FU_NS_FAILED, why);
}

void fu_sched_phase_started(fu_sched_t *s, uint32_t i, fu_phase_t ph, uint64_t now,
                            bool waiting)
{
    if (i >= s->n)
        return;
    fu_sched_node_t *n = &s->nodes[i];
    if (n->state != FU_NS_ACTIVE || n->phase != ph)
        return;
    /* A new seq makes the first timer stale; the ring stays in deadline order because
     * every phase's timeout is one length and now never goes back. */
    n->seq++;
    if (waiting)
        return; /* no deadline until it begins */
    timer_t_ t = {now + s->p->timeout_ms[ph], i, n->seq};
    ring_push(&s->timeouts[ph], &t);
}

/* ---- time ---- */

static void expire_timeouts(fu_sched_t *s, uint64_t now)
{
    for (int ph = 0; ph < FU_PHASE__COUNT; ph++) {
        ring_t *r = &s->timeouts[ph];
        timer_t_ *t;
        while ((t = ring_front(r)) != NULL) {
            fu_sched_node_t *n = &s->nodes[t->node];
            bool live = n->seq == t->seq && n->state == FU_NS_ACTIVE && n->phase == ph;
            if (live && t->when > now)
                break;
            timer_t_ e = *t;
            ring_pop(r);
            if (!live)
                continue;
            char why[96];
            snprintf(why, sizeof(why), "timed out after %llu ms",
                     (unsigned long long)s->p->timeout_ms[ph]);
            if (s->h.cancel)
                s->h.cancel(s->h.ud, e.node);
            fu_sched_phase_failed(s, e.node, (fu_phase_t)ph, why, ph == FU_PHASE_CONNECT, now);
        }
    }
}

static void expire_retries(fu_sched_t *s, uint64_t now)
{
    while (s->nretries && s->retries[0].when <= now) {
        timer_t_ t = retry_pop(s);
        fu_sched_node_t *n = &s->nodes[t.node];
        if (n->seq != t.seq || n->state != FU_NS_RETRY)
            continue;
        advance(s, t.node, (fu_phase_t)n->phase, now);
    }
}

uint64_t fu_sched_next_deadline(const fu_sched_t *s)
{
    uint64_t next = UINT64_MAX;
    if (s->run == FU_RUN_FINISHED)
        return next;
    for (int ph = 0; ph < FU_PHASE__COUNT; ph++) {
        const timer_t_ *t = ring_front(&s->timeouts[ph]);
        if (t && t->when < next)
            next = t->when; /* may be stale: a spurious wake-up is harmless */
    }
    if (s->nretries && s->retries[0].when < next)
        next = s->retries[0].when;
    if (s->run == FU_RUN_PAUSED && s->pause_until && !s->op_paused && s->pause_until < next)
        next = s->pause_until; /* an operator pause waits for resume, not for the timer */
    return next;
}

/* ---- dispatch ---- */

static void drain_waiting(fu_sched_t *s, uint64_t now)
{
    /* Furthest phase first: finishing nodes beats starting new work. */
    for (int ph = FU_PHASE__COUNT - 1; ph >= 0; ph--) {
        ring_t *r = &s->waiting[ph];
        uint32_t *i;
        while ((i = ring_front(r)) != NULL && phase_has_slot(s, (fu_phase_t)ph)) {
            uint32_t node = *i;
            ring_pop(r);
            if (s->nodes[node].state == FU_NS_WAITING && s->nodes[node].phase == ph)
                start_phase(s, node, (fu_phase_t)ph, now);
        }
    }
}

/* May wave open_wave + 1 start? The canary gate holds in both modes: wave 1 must end
 * (and be promoted when promote is manual). Barrier mode also waits for the wave to end
 * and for pause_between; window mode slides on as soon as the window has room. */
static bool next_wave_may_open(fu_sched_t *s, uint64_t now)
{
    uint32_t w = s->open_wave;
    if (s->gate_passed > w)
        return true;
    bool barrier = s->p->mode == FU_MODE_BARRIER, canary = w == 0 && s->p->canary;
    if ((barrier || canary) && s->wave_left[w] != 0)
        return false;
    if (canary && s->p->promote == FU_PROMOTE_MANUAL) {
        run_to(s, FU_RUN_AWAIT_PROMOTE, "canary wave finished: waiting for promote");
        return false;
    }
    if (barrier && s->p->pause_manual) {
        s->gate_pause = true;
        run_to(s, FU_RUN_PAUSED, "wave finished: waiting for resume (pause_between: manual)");
        return false;
    }
    if (barrier && s->p->pause_between_ms) {
        if (s->pause_until == 0) {
            s->pause_until = now + s->p->pause_between_ms;
            run_to(s, FU_RUN_PAUSED, "pause between waves");
            return false;
        }
        if (now < s->pause_until)
            return false;
        s->pause_until = 0;
    }
    s->gate_passed = w + 1;
    return true;
}

/* The next pending node to start, or UINT32_MAX. Skips nodes a max_per limit blocks
 * (they come back through readmit when a slot of their label frees). */
static uint32_t next_candidate(fu_sched_t *s, uint64_t now)
{
    uint32_t *r;
    while ((r = ring_front(&s->readmit)) != NULL) {
        uint32_t i = *r;
        ring_pop(&s->readmit);
        if (s->nodes[i].state != FU_NS_PENDING || s->nodes[i].wave > s->open_wave)
            continue;
        int l = limit_blocks(s, i);
        if (l < 0)
            return i;
        limits_block(s, i, l);
    }
    while (s->cursor < s->n) {
        uint32_t i = s->cursor;
        fu_sched_node_t *n = &s->nodes[i];
        if (n->state != FU_NS_PENDING) {
            s->cursor++;
            continue;
        }
        if (n->wave > s->open_wave) {
            if (!next_wave_may_open(s, now))
                return UINT32_MAX;
            s->open_wave++;
            if (s->h.run_event)
                s->h.run_event(s->h.ud, s->run, s->open_wave, "wave started");
            continue;
        }
        if (s->p->mode == FU_MODE_WINDOW && s->in_flight >= wave_size(s, n->wave))
            return UINT32_MAX;
        s->cursor++;
        int l = limit_blocks(s, i);
        if (l < 0)
            return i;
        limits_block(s, i, l);
    }
    return UINT32_MAX;
}

static void start_new(fu_sched_t *s, uint64_t now)
{
    while (s->run == FU_RUN_RUNNING) {
        if (s->p->concurrency && s->in_flight >= s->p->concurrency)
            return;
        if (!phase_has_slot(s, FU_PHASE_CONNECT))
            return;
        uint32_t i = next_candidate(s, now);
        if (i == UINT32_MAX)
            return;
        s->in_flight++;
        limits_take(s, i, +1);
        start_phase(s, i, FU_PHASE_CONNECT, now);
    }
}

static void maybe_finish(fu_sched_t *s)
{
    if (s->run == FU_RUN_FINISHED)
        return;
    uint32_t terminal = 0;
    for (int st = FU_NS_DONE; st < FU_NS__COUNT; st++)
        terminal += s->by_state[st];
    bool stopping = s->run == FU_RUN_HALTED || s->run == FU_RUN_ABORTING;
    if (terminal < s->n && !(stopping && s->in_flight == 0))
        return;
    for (uint32_t i = 0; i < s->n; i++)
        if (s->nodes[i].state == FU_NS_PENDING)
            finish_node(s, i, FU_NS_CANCELLED,
                        s->run == FU_RUN_HALTED ? "not started: the rollout halted"
                                                : "not started: the rollout was aborted");
    run_to(s, FU_RUN_FINISHED, stopping ? s->halt_reason : "all nodes finished");
}

void fu_sched_run(fu_sched_t *s, uint64_t now)
{
    if (s->run == FU_RUN_FINISHED)
        return;
    expire_timeouts(s, now);
    expire_retries(s, now);
    if (s->run == FU_RUN_PAUSED && s->pause_until && now >= s->pause_until && !s->op_paused)
        run_to(s, FU_RUN_RUNNING, "pause over");
    drain_waiting(s, now);
    start_new(s, now);
    maybe_finish(s);
}

/* ---- operator ---- */

static void abort_early(fu_sched_t *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        fu_sched_node_t *n = &s->nodes[i];
        bool early = n->phase <= FU_PHASE_INVENTORY ||
                     (n->phase == FU_PHASE_STAGE && n->state != FU_NS_ACTIVE);
        if (n->state == FU_NS_PENDING || fu_node_state_terminal((fu_node_state_t)n->state))
            continue;
        if (n->state == FU_NS_RETRY) { /* a failed phase is not tried again */
            finish_node(s, i, FU_NS_CANCELLED, "aborted by the operator while waiting to retry");
            continue;
        }
        if (!early)
            continue;
        if (n->state == FU_NS_ACTIVE && s->h.cancel)
            s->h.cancel(s->h.ud, i);
        finish_node(s, i, FU_NS_CANCELLED, "aborted by the operator before any install");
    }
}

static const char *const op_names[] = {"pause", "resume", "abort", "promote", "retry"};

const char *fu_operator_name(fu_operator_t op)
{
    return (unsigned)op < FU_OP__COUNT ? op_names[op] : "?";
}

fu_operator_t fu_operator_parse(const char *name)
{
    for (int k = 0; k < FU_OP__COUNT; k++)
        if (strcmp(name, op_names[k]) == 0)
            return (fu_operator_t)k;
    return FU_OP__COUNT;
}

/* Nothing in flight: no node is legitimately blocked by a max_per label, so the blocked
 * lists and the readmit ring are emptied (entries a halt left there for nodes it then
 * cancelled would otherwise come back twice and chain a node to itself). */
static void limits_reset(fu_sched_t *s)
{
    for (uint32_t l = 0; l < s->nlimits; l++)
        for (uint32_t i = 0; i < s->n; i++)
            s->blocked_head[l][s->value_of[l][i]] = 0;
    if (s->nlimits)
        memset(s->next_blocked, 0, (s->n + 1) * sizeof(uint32_t));
    s->readmit.n = 0;
    s->readmit.head = 0;
}

/* Failed and unreachable nodes go back to pending with their failures taken out of the
 * budgets; a run that ended on a halt also gets back the nodes the halt never started.
 * With nodes in flight they are tried before the cursor (readmit: their waves have
 * opened); with none, the cursor goes back to the first pending node. Returns how many
 * nodes were failed or unreachable. */
static uint32_t retry_failed(fu_sched_t *s)
{
    uint32_t k = 0;
    bool idle = s->in_flight == 0;
    if (idle)
        limits_reset(s);
    for (uint32_t i = 0; i < s->n; i++) {
        fu_sched_node_t *n = &s->nodes[i];
        bool never_started = n->state == FU_NS_CANCELLED && s->run == FU_RUN_FINISHED && !s->aborted;
        if (!never_started && n->state != FU_NS_FAILED && n->state != FU_NS_UNREACHABLE)
            continue;
        if (n->state == FU_NS_FAILED) {
            s->failed_total--;
            s->wave_failed[n->wave]--;
        } else if (n->state == FU_NS_UNREACHABLE) {
            s->unreachable_total--;
        }
        s->wave_left[n->wave]++;
        memset(&n->plan, 0, sizeof(n->plan));
        to(s, i, FU_NS_PENDING, FU_PHASE_CONNECT, never_started ? NULL : "retried by the operator");
        n->attempts = 0;
        if (!idle)
            ring_push(&s->readmit, &i);
        k += !never_started;
    }
    /* Idle: the readmit ring was emptied, so the cursor goes back to the first pending
     * node, whichever way it had been passed. */
    for (uint32_t i = 0; idle && i < s->cursor; i++)
        if (s->nodes[i].state == FU_NS_PENDING) {
            s->cursor = i;
            break;
        }
    return k;
}

const char *fu_sched_operator(fu_sched_t *s, fu_operator_t op, uint64_t now)
{
    const char *why = NULL;
    switch (op) {
    case FU_OP_PAUSE:
        if (s->run == FU_RUN_FINISHED || s->run == FU_RUN_ABORTING || s->run == FU_RUN_HALTED)
            return "the rollout is not running: nothing to pause";
        if (s->op_paused)
            return "the rollout is already paused by the operator";
        s->op_paused = true; /* also holds a timed pause past its end */
        if (s->run == FU_RUN_RUNNING)
            run_to(s, FU_RUN_PAUSED, "paused by the operator");
        break;
    case FU_OP_RESUME:
        if (s->run != FU_RUN_PAUSED && !s->op_paused)
            return s->run == FU_RUN_AWAIT_PROMOTE ? "the canary waits for promote, not resume"
                                                  : "the rollout is not paused";
        s->op_paused = false;
        if (s->run == FU_RUN_PAUSED) {
            /* Ends a pause at a wave gate (manual, or the rest of a timed one); never the
             * canary's gate, which only promote passes. */
            if (s->gate_pause || s->pause_until)
                s->gate_passed = s->open_wave + 1;
            s->gate_pause = false;
            s->pause_until = 0;
            run_to(s, FU_RUN_RUNNING, "resumed by the operator");
        }
        break;
    case FU_OP_PROMOTE:
        if (s->run != FU_RUN_AWAIT_PROMOTE)
            return "no canary wave is waiting for promote";
        s->gate_passed = s->open_wave + 1;
        /* An operator pause given while the canary waited still holds. */
        run_to(s, s->op_paused ? FU_RUN_PAUSED : FU_RUN_RUNNING, "canary promoted by the operator");
        break;
    case FU_OP_ABORT:
        if (s->run == FU_RUN_FINISHED)
            return "the rollout has finished: nothing to abort";
        if (s->run == FU_RUN_ABORTING)
            return "the rollout is already aborting";
        snprintf(s->halt_reason, sizeof(s->halt_reason), "aborted by the operator");
        s->aborted = true;
        run_to(s, FU_RUN_ABORTING, s->halt_reason);
        abort_early(s);
        break;
    case FU_OP_RETRY: {
        if (s->run == FU_RUN_ABORTING)
            return "the rollout is aborting: retry after it has finished";
        if (s->by_state[FU_NS_FAILED] + s->by_state[FU_NS_UNREACHABLE] == 0)
            return "no failed or unreachable node to retry";
        fu_run_state_t was = s->run;
        char msg[96];
        uint32_t k = retry_failed(s);
        s->halt_reason[0] = '\0';
        snprintf(msg, sizeof(msg), "%u failed or unreachable node%s retried by the operator", k,
                 k == 1 ? "" : "s");
        /* A halt or the end came from the failures just taken back: run again (paused if
         * the operator had paused it). */
        if (was == FU_RUN_HALTED || was == FU_RUN_FINISHED)
            run_to(s, s->op_paused ? FU_RUN_PAUSED : FU_RUN_RUNNING, msg);
        else if (s->h.run_event)
            s->h.run_event(s->h.ud, s->run, s->open_wave, msg);
        break;
    }
    default:
        why = "unknown command";
        break;
    }
    if (why == NULL)
        fu_sched_run(s, now);
    return why;
}

/* ---- setup ---- */

fu_sched_t *fu_sched_new(const fu_fleet_t *f, const uint32_t *nodes, uint32_t nnodes,
                         const fu_sched_hooks_t *hooks)
{
    fu_sched_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->f = f;
    s->p = &f->policy;
    s->h = *hooks;
    s->n = nnodes;
    s->rng = f->policy.seed ^ 0x5eedull;
    s->fleet_idx = malloc((nnodes + 1) * sizeof(uint32_t));
    s->nodes = calloc(nnodes + 1, sizeof(*s->nodes));
    memcpy(s->fleet_idx, nodes, nnodes * sizeof(uint32_t));
    uint32_t maxw = fu_sched_wave_sizes(s->p, nnodes, NULL, UINT32_MAX);
    uint32_t *sizes = malloc((maxw + 1) * sizeof(uint32_t));
    s->nwaves = fu_sched_wave_sizes(s->p, nnodes, sizes, maxw);
    s->wave_start = calloc(s->nwaves + 2, sizeof(uint32_t));
    s->wave_left = calloc(s->nwaves + 1, sizeof(uint32_t));
    s->wave_failed = calloc(s->nwaves + 1, sizeof(uint32_t));
    for (uint32_t w = 0, at = 0; w < s->nwaves; w++) {
        s->wave_start[w] = at;
        s->wave_left[w] = sizes[w];
        for (uint32_t k = 0; k < sizes[w]; k++)
            s->nodes[at + k].wave = w;
        at += sizes[w];
        s->wave_start[w + 1] = at;
    }
    free(sizes);
    s->by_state[FU_NS_PENDING] = nnodes;
    for (int ph = 0; ph < FU_PHASE__COUNT; ph++) {
        ring_init(&s->waiting[ph], sizeof(uint32_t));
        ring_init(&s->timeouts[ph], sizeof(timer_t_));
    }
    ring_init(&s->readmit, sizeof(uint32_t));
    limits_init(s);
    for (size_t c = 0; c < f->baseline.ncomponents && c < 64; c++)
        if (f->baseline.components[c].reboot)
            s->reboot_mask |= 1ull << c;
    return s;
}

void fu_sched_free(fu_sched_t *s)
{
    if (s == NULL)
        return;
    for (int ph = 0; ph < FU_PHASE__COUNT; ph++) {
        free(s->waiting[ph].v);
        free(s->timeouts[ph].v);
    }
    free(s->readmit.v);
    for (uint32_t l = 0; l < s->nlimits; l++) {
        free(s->value_of[l]);
        free(s->value_count[l]);
        free(s->blocked_head[l]);
    }
    free(s->value_of);
    free(s->value_count);
    free(s->blocked_head);
    free(s->limit_max);
    free(s->next_blocked);
    free(s->retries);
    free(s->fleet_idx);
    free(s->nodes);
    free(s->wave_start);
    free(s->wave_left);
    free(s->wave_failed);
    free(s);
}

void fu_sched_restore(fu_sched_t *s, uint32_t i, fu_node_state_t state, fu_phase_t phase,
                      uint8_t resumed_flags)
{
    fu_sched_node_t *n = &s->nodes[i];
    if (n->state != FU_NS_PENDING)
        return;
    if (n->wave > 0 && state != FU_NS_PENDING && s->gate_passed < n->wave)
        s->gate_passed = n->wave; /* a later wave had started: its gates were passed */
    if (fu_node_state_terminal(state)) {
        s->by_state[FU_NS_PENDING]--;
        s->by_state[state]++;
        n->state = (uint8_t)state;
        n->phase = (uint8_t)phase;
        s->wave_left[n->wave]--;
        if (state == FU_NS_FAILED || state == FU_NS_UNREACHABLE)
            count_failure(s, n->wave, state);
        return;
    }
    /* Caught mid-way: start over from connect; past inventory, it is re-inventoried so
     * nothing already installed is installed again. */
    if (state == FU_NS_PENDING)
        return;
    n->resumed = resumed_flags; /* an earlier resume's knowledge survives another crash */
    if (phase >= FU_PHASE_STAGE)
        n->resumed |= FU_RESUMED;
    if ((phase == FU_PHASE_INSTALL && state == FU_NS_ACTIVE) || phase == FU_PHASE_ACTIVATE)
        n->resumed |= FU_RESUMED_REBOOT;
}

void fu_sched_stats(const fu_sched_t *s, fu_sched_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->nodes = s->n;
    out->waves = s->nwaves;
    out->current_wave = s->open_wave;
    memcpy(out->by_state, s->by_state, sizeof(out->by_state));
    out->in_flight = s->in_flight;
    memcpy(out->in_phase, s->in_phase, sizeof(out->in_phase));
    out->transitions = s->transitions;
    out->run = s->run;
    out->operator_paused = s->op_paused;
    out->halt_reason = s->halt_reason[0] ? s->halt_reason : NULL;
}

const fu_sched_node_t *fu_sched_node(const fu_sched_t *s, uint32_t i)
{
    return &s->nodes[i];
}

uint32_t fu_sched_fleet_node(const fu_sched_t *s, uint32_t i)
{
    return s->fleet_idx[i];
}
