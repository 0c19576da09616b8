/* The rollouts of `fleetup serve` (manager.h). */
#include "service/manager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <jansson.h>

#include "core/cli.h"
#include "core/diag.h"

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- the live feed ---- */

static void send_all(fu_mgr_entry_t *e, const char *text, size_t len)
{
    for (fu_mgr_sub_t *s = e->subs; s;) {
        fu_mgr_sub_t *next = s->next;
        /* -1: too far behind; gone runs later from the loop and unlinks it */
        fu_http_stream_write(s->st, text, len);
        s = next;
    }
}

static void on_transition(void *ud, fu_rollout_t *r, uint32_t idx, const char *reason)
{
    fu_mgr_entry_t *e = ud;
    (void)r, (void)reason;
    if (e->dirty && !e->dirty[idx]) {
        e->dirty[idx] = 1;
        e->dirty_list[e->ndirty++] = idx;
    }
}

static void on_event(void *ud, fu_rollout_t *r, uint64_t at_ms, const char *kind, uint32_t wave,
                     const char *msg)
{
    fu_mgr_entry_t *e = ud;
    (void)r;
    fu_mgr_event_t *ev = &e->events[e->nevents++ % FU_MGR_EVENTS_KEPT];
    ev->at_ms = at_ms;
    ev->wave = wave;
    snprintf(ev->kind, sizeof(ev->kind), "%s", kind);
    snprintf(ev->msg, sizeof(ev->msg), "%s", msg ? msg : "");
    if (e->subs) {
        size_t n;
        char *t = fu_api_run_event(ev, &n);
        send_all(e, t, n);
        free(t);
    }
}

static void on_finished(void *ud, fu_rollout_t *r)
{
    fu_mgr_entry_t *e = ud;
    e->finished = true;
    e->finished_ms = wall_ms();
    if (fu_rollout_crashed(r))
        fprintf(stderr, "fleetup serve: rollout %lld stopped: its journal could not be written\n",
                (long long)e->id);
}

/* One sample per second while anything changes; beyond FU_MGR_SAMPLES_MAX every other
 * sample goes and the period doubles, so a long rollout keeps an even timeline. */
static void sample(fu_mgr_entry_t *e, bool force)
{
    const fu_sched_t *s = fu_rollout_sched(e->r);
    fu_sched_stats_t st;
    fu_sched_stats(s, &st);
    uint64_t now = fu_rollout_now(e->r);
    if (!force && (st.transitions == e->sampled_transitions ||
                   (e->nsamples && now < e->last_sample_ms + e->sample_every_ms)))
        return;
    if (e->nsamples == FU_MGR_SAMPLES_MAX) {
        for (uint32_t k = 0; k < FU_MGR_SAMPLES_MAX / 2; k++)
            e->samples[k] = e->samples[2 * k];
        e->nsamples = FU_MGR_SAMPLES_MAX / 2;
        e->sample_every_ms *= 2;
    }
    fu_mgr_sample_t *p = &e->samples[e->nsamples++];
    p->t_ms = now;
    p->done = st.by_state[FU_NS_DONE] + st.by_state[FU_NS_SKIPPED];
    p->failed = st.by_state[FU_NS_FAILED];
    p->unreachable = st.by_state[FU_NS_UNREACHABLE];
    p->in_flight = st.in_flight;
    e->last_sample_ms = now;
    e->sampled_transitions = st.transitions;
}

/* Every FU_MGR_FEED_MS: the nodes changed since the last batch, the rollout's counts
 * when they moved, a keepalive every 15 s. */
static void on_feed(uv_timer_t *h)
{
    fu_manager_t *m = h->data;
    m->ticks++;
    bool keepalive = m->ticks % (15000 / FU_MGR_FEED_MS) == 0;
    for (fu_mgr_entry_t *e = m->entries; e; e = e->next) {
        if (e->r == NULL)
            continue;
        sample(e, false);
        fu_sched_stats_t st;
        fu_sched_stats(fu_rollout_sched(e->r), &st);
        bool moved = st.transitions != e->sent_transitions || (int)st.run != e->sent_run;
        if (e->subs && e->ndirty) {
            size_t n;
            char *t = fu_api_nodes_event(e, e->dirty_list, e->ndirty, &n);
            send_all(e, t, n);
            free(t);
        }
        for (uint32_t k = 0; k < e->ndirty; k++)
            e->dirty[e->dirty_list[k]] = 0;
        e->ndirty = 0;
        if (e->subs && moved) {
            size_t n;
            char *t = fu_api_rollout_event(e, &n);
            send_all(e, t, n);
            free(t);
        }
        e->sent_transitions = st.transitions;
        e->sent_run = (int)st.run;
        if (e->subs && keepalive)
            send_all(e, ": keepalive\n\n", 13);
    }
}

fu_mgr_sub_t *fu_manager_sub_new(fu_mgr_entry_t *e)
{
    fu_mgr_sub_t *s = calloc(1, sizeof(*s));
    s->e = e;
    return s;
}

void fu_manager_subscribe(fu_mgr_sub_t *s)
{
    s->next = s->e->subs;
    if (s->next)
        s->next->prev = s;
    s->e->subs = s;
}

void fu_manager_stream_gone(void *ud)
{
    fu_mgr_sub_t *s = ud;
    if (s->prev)
        s->prev->next = s->next;
    else if (s->e && s->e->subs == s)
        s->e->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

/* ---- journal commits: one transaction per loop turn for every rollout ---- */

static void stop_all(fu_manager_t *m);

static void on_commit(uv_check_t *h)
{
    fu_manager_t *m = h->data;
    if (m->journal_error[0] || fu_journal_pending(m->j) == 0)
        return;
    if (fu_journal_commit(m->j) != 0) {
        snprintf(m->journal_error, sizeof(m->journal_error), "%s",
                 fu_journal_failed(m->j) ? fu_journal_failed(m->j) : "commit failed");
        fprintf(stderr, "fleetup serve: the journal cannot be written (%s): every rollout stops "
                        "here, as after a crash; they resume when serve starts again\n",
                m->journal_error);
        stop_all(m);
    }
}

/* ---- rollouts ---- */

static void entry_free(fu_mgr_entry_t *e)
{
    while (e->subs) {
        fu_mgr_sub_t *s = e->subs;
        e->subs = s->next;
        s->e = NULL;
        s->prev = s->next = NULL;
    }
    fu_packages_free(&e->pkgs);
    for (uint32_t i = 0; e->status && i < e->nnodes; i++)
        free(e->status[i]);
    free(e->status);
    fu_strmap_free(&e->names);
    if (e->f)
        fu_fleet_free(e->f);
    free(e->path);
    free(e->limit);
    free(e->dirty);
    free(e->dirty_list);
    free(e);
}

static void unlink_entry(fu_manager_t *m, fu_mgr_entry_t *e)
{
    for (fu_mgr_entry_t **p = &m->entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            return;
        }
}

fu_mgr_entry_t *fu_manager_find(fu_manager_t *m, int64_t id)
{
    for (fu_mgr_entry_t *e = m->entries; e; e = e->next)
        if (e->r && e->id == id)
            return e;
    return NULL;
}

/* The live rollout besides `self` that has not finished and drives node `name`, or NULL.
 * One node is never in two rollouts at once. */
static fu_mgr_entry_t *driven_by(fu_manager_t *m, const fu_mgr_entry_t *self, const char *name)
{
    for (fu_mgr_entry_t *e = m->entries; e; e = e->next)
        if (e != self && !e->finished && (e->r || !e->started) &&
            fu_strmap_get(&e->names, name, strlen(name)))
            return e;
    return NULL;
}

/* A node of f (selected in sel) that a live rollout already drives, or NULL. */
static const char *overlap(fu_manager_t *m, const fu_fleet_t *f, const bool *sel, int64_t *other)
{
    for (size_t i = 0; i < f->nnodes; i++) {
        fu_mgr_entry_t *e = sel[i] ? driven_by(m, NULL, f->nodes[i].name) : NULL;
        if (e) {
            *other = e->id;
            return f->nodes[i].name;
        }
    }
    return NULL;
}

const char *fu_manager_retry_clash(fu_manager_t *m, fu_mgr_entry_t *e, int64_t *other)
{
    const fu_sched_t *s = fu_rollout_sched(e->r);
    for (uint32_t i = 0; i < e->nnodes; i++) {
        uint8_t st = fu_sched_node(s, i)->state;
        if (st != FU_NS_FAILED && st != FU_NS_UNREACHABLE && st != FU_NS_CANCELLED)
            continue;
        const char *name = e->f->nodes[fu_sched_fleet_node(s, i)].name;
        fu_mgr_entry_t *o = driven_by(m, e, name);
        if (o) {
            *other = o->id;
            return name;
        }
    }
    return NULL;
}

static int start_entry(fu_mgr_entry_t *e, char *err, size_t errlen)
{
    fu_manager_t *m = e->m;
    fu_rollout_env_t env = {.loop = m->loop,
                            .journal = m->j,
                            .svc = m->svc,
                            .packages = &e->pkgs,
                            .transition = on_transition,
                            .event = on_event,
                            .finished = on_finished,
                            .ud = e};
    if (fu_rollout_start(e->f, &e->o, &env, &e->r, err, errlen) != 0)
        return -1;
    e->id = fu_rollout_id(e->r);
    e->started = true;
    const fu_sched_t *s = fu_rollout_sched(e->r);
    fu_sched_stats_t st;
    fu_sched_stats(s, &st);
    e->dirty = calloc(st.nodes + 1, 1);
    e->dirty_list = calloc(st.nodes + 1, sizeof(uint32_t));
    e->status = calloc(st.nodes + 1, sizeof(*e->status));
    e->nnodes = st.nodes;
    fu_strmap_free(&e->names); /* the selection, as submit noted it: now with indices */
    fu_strmap_init(&e->names);
    for (uint32_t i = 0; i < st.nodes; i++) {
        const char *name = e->f->nodes[fu_sched_fleet_node(s, i)].name;
        fu_strmap_put(&e->names, name, strlen(name), (void *)(uintptr_t)(i + 1));
    }
    e->started_ms = wall_ms();
    e->sample_every_ms = 1000;
    e->sent_run = -1;
    sample(e, true);
    if (st.run == FU_RUN_FINISHED) /* nothing selected can run (a resumed, ended one) */
        on_finished(e, e->r);
    return 0;
}

typedef struct {
    fu_mgr_entry_t *e;
    fu_mgr_started_cb done;
    void *ud;
} pending_t;

static void on_packages(void *ud, const char *perr)
{
    pending_t *p = ud;
    fu_mgr_entry_t *e = p->e;
    fu_manager_t *m = e->m;
    char err[1024];
    int status = 201;
    if (m->stopping || m->journal_error[0]) {
        snprintf(err, sizeof(err), "%s", m->stopping ? "the service is stopping"
                                                     : "the journal cannot be written: no new rollout "
                                                       "until serve restarts");
        status = 503;
    } else if (perr) {
        snprintf(err, sizeof(err), "%s", perr);
        status = 400;
    } else if (start_entry(e, err, sizeof(err)) != 0) {
        status = fu_journal_failed(m->j) ? 503 : 400; /* the journal, or the fleet's nodes */
    }
    if (status != 201)
        unlink_entry(m, e);
    if (p->done)
        p->done(p->ud, e, status, status == 201 ? NULL : err);
    if (status != 201)
        entry_free(e);
    free(p);
}

int fu_manager_submit(fu_manager_t *m, const char *path, const char *limit, bool paused,
                      int64_t resume_id, fu_mgr_started_cb done, void *ud, int *status,
                      char *err, size_t errlen, char **diag)
{
    *diag = NULL;
    if (m->stopping || m->journal_error[0]) {
        *status = 503;
        snprintf(err, errlen, "%s", m->journal_error[0] ? "the journal cannot be written: no new "
                 "rollout until serve restarts" : "the service is stopping");
        return -1;
    }
    fu_diag_t d;
    fu_diag_init(&d);
    fu_fleet_t *f = fu_fleet_load(path, &d);
    if (f == NULL) {
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        fu_diag_print(&d, out);
        fclose(out);
        *diag = buf;
        snprintf(err, errlen, "%s: %zu error%s; nothing was started", path, d.errors,
                 d.errors == 1 ? "" : "s");
        fu_diag_free(&d);
        *status = 400;
        return -1;
    }
    fu_diag_free(&d);
    bool *sel = malloc((f->nnodes + 1) * sizeof(bool));
    for (size_t i = 0; i < f->nnodes; i++)
        sel[i] = true;
    if (limit && fu_limit_select(f, limit, sel, err, errlen) != 0) {
        free(sel);
        fu_fleet_free(f);
        *status = 400;
        return -1;
    }
    int64_t other = 0;
    const char *clash = overlap(m, f, sel, &other);
    if (clash) {
        snprintf(err, errlen, "node '%s' is in rollout %lld, which has not finished: a node is "
                 "never in two rollouts at once (use limit, or wait)", clash, (long long)other);
        free(sel);
        fu_fleet_free(f);
        *status = 409;
        return -1;
    }
    fu_mgr_entry_t *e = calloc(1, sizeof(*e));
    fu_strmap_init(&e->names); /* taken now: a second submit while this one hashes clashes */
    for (size_t i = 0; i < f->nnodes; i++)
        if (sel[i])
            fu_strmap_put(&e->names, f->nodes[i].name, strlen(f->nodes[i].name), (void *)1);
    free(sel);
    e->m = m;
    e->f = f;
    e->path = strdup(path);
    e->limit = limit ? strdup(limit) : NULL;
    e->o = (fu_rollout_opts_t){.state_dir = m->state_dir,
                               .limit = e->limit,
                               .resume_id = resume_id,
                               .sim_seed = -1,
                               .progress = FU_PROGRESS_NONE,
                               .start_paused = paused};
    e->next = m->entries;
    m->entries = e;
    pending_t *p = malloc(sizeof(*p));
    *p = (pending_t){e, done, ud};
    /* Packages are mapped and hashed on the threadpool; the rollout starts after. */
    fu_packages_load(m->loop, f, &e->pkgs, on_packages, p);
    *status = 202;
    return 0;
}

static void on_resumed(void *ud, fu_mgr_entry_t *e, int status, const char *err)
{
    (void)ud;
    if (status == 201)
        fprintf(stderr, "fleetup serve: rollout %lld resumed (%s)\n", (long long)e->id, e->path);
    else
        fprintf(stderr, "fleetup serve: rollout %lld of %s cannot resume: %s\n",
                (long long)e->o.resume_id, e->path, err);
}

typedef struct {
    int64_t id;
    char *path, *limit;
} resumable_t;

typedef struct {
    resumable_t *v;
    size_t n, cap;
} resumables_t;

static void collect(void *ud, const fu_rollout_row_t *r)
{
    resumables_t *c = ud;
    if (!r->options.service || strcmp(r->state, "finished") == 0)
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = (resumable_t){r->id, strdup(r->fleet), r->limit ? strdup(r->limit) : NULL};
}

void fu_manager_resume_all(fu_manager_t *m)
{
    resumables_t c = {NULL, 0, 0};
    fu_journal_rollouts(m->j, collect, &c);
    for (size_t k = 0; k < c.n; k++) {
        int status;
        char err[1024], *diag = NULL;
        if (fu_manager_submit(m, c.v[k].path, c.v[k].limit, false, c.v[k].id, on_resumed, m,
                              &status, err, sizeof(err), &diag) != 0) {
            fprintf(stderr, "fleetup serve: rollout %lld of %s cannot resume: %s\n%s",
                    (long long)c.v[k].id, c.v[k].path, err, diag ? diag : "");
        }
        free(diag);
        free(c.v[k].path);
        free(c.v[k].limit);
    }
    free(c.v);
}

/* ---- what the routes ask: nodes and packages of submitted rollouts ---- */

static bool node_known(void *ud, const char *rollout, const char *node)
{
    fu_mgr_entry_t *e = fu_manager_find(ud, strtoll(rollout, NULL, 10));
    return e && fu_strmap_get(&e->names, node, strlen(node)) != NULL;
}

static const fu_package_t *package(void *ud, const char *rollout, const char *sha256)
{
    fu_manager_t *m = ud;
    int64_t id = rollout ? strtoll(rollout, NULL, 10) : 0;
    for (fu_mgr_entry_t *e = m->entries; e; e = e->next) {
        if (!e->started || (rollout && e->id != id))
            continue;
        const fu_package_t *p = fu_packages_find(&e->pkgs, sha256);
        if (p)
            return p;
    }
    return NULL;
}

/* A node's status post (pull mode: the agent's progress): kept for the node's detail. */
static void on_status(void *ud, const fu_status_post_t *post)
{
    fu_mgr_entry_t *e = fu_manager_find(ud, strtoll(post->rollout, NULL, 10));
    void *v = e ? fu_strmap_get(&e->names, post->node, strlen(post->node)) : NULL;
    if (v == NULL || e->status == NULL)
        return;
    uint32_t i = (uint32_t)((uintptr_t)v - 1);
    if (e->status[i] == NULL && (e->status[i] = malloc(sizeof(fu_status_post_t))) == NULL)
        return;
    *e->status[i] = *post;
}

/* ---- setup and shutdown ---- */

fu_manager_t *fu_manager_new(uv_loop_t *loop, fu_service_t *svc, const char *state_dir,
                             char *err, size_t errlen)
{
    fu_manager_t *m = calloc(1, sizeof(*m));
    m->loop = loop;
    m->svc = svc;
    m->state_dir = strdup(state_dir);
    m->lock_fd = -1;
    if ((m->j = fu_journal_open(state_dir, err, errlen)) == NULL ||
        (m->lock_fd = fu_state_dir_lock(state_dir, err, errlen)) < 0) {
        fu_manager_free(m);
        return NULL;
    }
    uv_check_init(loop, &m->commit);
    uv_timer_init(loop, &m->feed);
    m->commit.data = m->feed.data = m;
    uv_check_start(&m->commit, on_commit);
    uv_timer_start(&m->feed, on_feed, FU_MGR_FEED_MS, FU_MGR_FEED_MS);
    fu_routes_ext_t ext = {fu_api_handle, fu_api_metrics, package, node_known, on_status, m};
    svc->routes.ext = ext;
    return m;
}

static void closed_one(void *ud)
{
    fu_manager_t *m = ud;
    if (--m->closing == 0 && m->stopped)
        m->stopped(m->stopped_ud);
}

/* The entry (and its packages) stays until fu_manager_free: downloads may go on. */
static void closed_rollout(void *ud)
{
    fu_mgr_entry_t *e = ud;
    e->r = NULL;
    closed_one(e->m);
}

static void on_handle_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

/* Every running rollout is closed (journaled as it is); streams get `end`. Entries
 * still hashing are refused by on_packages (m->stopping or the journal error). */
static void stop_all(fu_manager_t *m)
{
    for (fu_mgr_entry_t *e = m->entries; e; e = e->next) {
        if (e->r == NULL || e->closing)
            continue;
        send_all(e, "event: end\ndata: {}\n\n", 21);
        for (fu_mgr_sub_t *s = e->subs; s;) {
            fu_mgr_sub_t *n = s->next;
            fu_http_stream_close(s->st);
            free(s);
            s = n;
        }
        e->subs = NULL;
        e->closing = true;
        m->closing++;
        fu_rollout_close(e->r, closed_rollout, e);
    }
}

void fu_manager_stop(fu_manager_t *m, void (*stopped)(void *ud), void *ud)
{
    m->stopping = true;
    m->stopped = stopped;
    m->stopped_ud = ud;
    m->closing += 3; /* the two handles, and this call (a journal failure may have started
                      * closing rollouts already) */
    stop_all(m);
    fu_journal_commit(m->j); /* what the last turn wrote */
    uv_close((uv_handle_t *)&m->commit, on_handle_closed);
    uv_close((uv_handle_t *)&m->feed, on_handle_closed);
    closed_one(m);
}

void fu_manager_free(fu_manager_t *m)
{
    if (m == NULL)
        return;
    while (m->entries) { /* a submit still hashing when the loop ended */
        fu_mgr_entry_t *e = m->entries;
        m->entries = e->next;
        entry_free(e);
    }
    json_decref(m->history);
    if (m->j)
        fu_journal_close(m->j);
    if (m->lock_fd >= 0)
        close(m->lock_fd);
    free(m->state_dir);
    free(m);
}
