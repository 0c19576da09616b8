/* The rollouts API of `fleetup serve` (docs/api.md): JSON over the shared server's HTTPS
 * port, admin token checked by the routes before anything here runs. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plan.h"
#include "service/manager.h"

#define SSE_MAX_ROWS_PER_EVENT 2048

/* ---- answers ---- */

static void send_text(fu_manager_t *m, fu_http_request_t *req, int status, const char *extra,
                      json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    size_t n = strlen(text);
    fu_routes_respond(&m->svc->routes, req, status, "application/json", extra, text, n);
    free(text);
}

/* The non-empty lines of text as a JSON array (diagnostics, log tails). */
static json_t *lines_json(const char *text)
{
    json_t *a = json_array();
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n)
            json_array_append_new(a, json_stringn(p, n));
        p += n + (nl ? 1 : 0);
    }
    return a;
}

static void send_error(fu_manager_t *m, fu_http_request_t *req, int status, const char *msg,
                       const char *diag)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    if (diag && *diag)
        json_object_set_new(o, "diagnostics", lines_json(diag));
    send_text(m, req, status, status == 405 ? "Allow: GET, POST\r\n" : NULL, o);
}

/* ---- JSON of rollouts and nodes ---- */

static json_t *counts_json(const uint32_t *by_state)
{
    json_t *o = json_object();
    for (int s = 0; s < FU_NS__COUNT; s++)
        json_object_set_new(o, fu_node_state_name((fu_node_state_t)s), json_integer(by_state[s]));
    return o;
}

static json_t *live_json(fu_mgr_entry_t *e)
{
    fu_sched_stats_t st;
    fu_sched_stats(fu_rollout_sched(e->r), &st);
    json_t *o = json_pack("{s:I, s:s, s:o, s:s, s:b, s:o, s:i, s:i, s:i}", "id", (json_int_t)e->id,
                          "fleet", e->path, "limit", e->limit ? json_string(e->limit) : json_null(),
                          "state", fu_run_state_name(st.run), "live", 1, "reason",
                          st.halt_reason ? json_string(st.halt_reason) : json_null(), "nodes",
                          (int)st.nodes, "waves", (int)st.waves, "current_wave", (int)st.current_wave);
    json_object_set_new(o, "counts", counts_json(st.by_state));
    json_t *ph = json_object();
    for (int p = 0; p < FU_PHASE__COUNT; p++)
        json_object_set_new(ph, fu_phase_name((fu_phase_t)p), json_integer(st.in_phase[p]));
    json_object_set_new(o, "in_phase", ph);
    json_object_set_new(o, "in_flight", json_integer(st.in_flight));
    json_object_set_new(o, "started_ms", json_integer(e->started_ms));
    json_object_set_new(o, "finished_ms", json_integer(e->finished ? e->finished_ms : 0));
    json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)fu_rollout_now(e->r)));
    return o;
}

/* A journaled rollout no process drives: as the journal has it. */
static json_t *row_json(const fu_rollout_row_t *r)
{
    bool done = strcmp(r->state, "finished") == 0;
    json_t *o = json_pack("{s:I, s:s, s:o, s:s, s:b, s:o, s:i}", "id", (json_int_t)r->id, "fleet",
                          r->fleet ? r->fleet : "", "limit",
                          r->limit ? json_string(r->limit) : json_null(), "state",
                          done ? "finished" : "interrupted", "live", 0, "reason",
                          r->reason ? json_string(r->reason) : json_null(), "nodes", (int)r->nodes);
    json_object_set_new(o, "counts", counts_json(r->by_state));
    json_object_set_new(o, "started_ms", json_integer(r->started_ms));
    json_object_set_new(o, "finished_ms", json_integer(r->finished_ms));
    return o;
}

static void amount_text(const fu_amount_t *a, char *buf, size_t len)
{
    if (a->unit == FU_AMOUNT_PERCENT)
        snprintf(buf, len, "%g%%", a->value);
    else
        snprintf(buf, len, "%g", a->value);
}

static json_t *policy_json(const fu_policy_t *p)
{
    char waves[256] = "", a[32];
    size_t w = 0;
    for (size_t k = 0; k < p->nwaves && w + 40 < sizeof(waves); k++) {
        amount_text(&p->waves[k], a, sizeof(a));
        w += (size_t)snprintf(waves + w, sizeof(waves) - w, "%s%s", k ? ", " : "", a);
    }
    return json_pack("{s:s, s:i, s:s, s:s}", "mode", p->mode == FU_MODE_WINDOW ? "window" : "barrier",
                     "concurrency", (int)p->concurrency, "promote",
                     p->promote == FU_PROMOTE_MANUAL ? "manual" : "auto", "waves",
                     p->nwaves ? waves : "100%");
}

typedef uint32_t wave_counts_t[FU_NS__COUNT];

/* Node states per wave, in one pass (st->waves entries; the caller frees). */
static wave_counts_t *wave_counts(fu_mgr_entry_t *e, fu_sched_stats_t *st)
{
    const fu_sched_t *s = fu_rollout_sched(e->r);
    fu_sched_stats(s, st);
    wave_counts_t *c = calloc(st->waves + 1, sizeof(*c));
    for (uint32_t i = 0; i < st->nodes; i++) {
        const fu_sched_node_t *n = fu_sched_node(s, i);
        if (n->wave < st->waves)
            c[n->wave][n->state]++;
    }
    return c;
}

/* Per wave: size, counts by state, pending / open / done. */
static json_t *waves_json(fu_mgr_entry_t *e)
{
    fu_sched_stats_t st;
    wave_counts_t *c = wave_counts(e, &st);
    json_t *a = json_array();
    for (uint32_t w = 0; w < st.waves; w++) {
        uint32_t size = 0, ended = 0;
        for (int k = 0; k < FU_NS__COUNT; k++) {
            size += c[w][k];
            if (fu_node_state_terminal((fu_node_state_t)k))
                ended += c[w][k];
        }
        const char *state = ended == size ? "done" : w <= st.current_wave ? "open" : "pending";
        json_array_append_new(a, json_pack("{s:i, s:i, s:i, s:s, s:o}", "index", (int)w, "size",
                                           (int)size, "ended", (int)ended, "state", state,
                                           "counts", counts_json(c[w])));
    }
    free(c);
    return a;
}

static json_t *event_json(const fu_mgr_event_t *ev)
{
    return json_pack("{s:I, s:s, s:i, s:s}", "at_ms", (json_int_t)ev->at_ms, "kind", ev->kind,
                     "wave", (int)ev->wave, "message", ev->msg);
}

static json_t *detail_json(fu_mgr_entry_t *e)
{
    json_t *o = live_json(e);
    json_object_set_new(o, "policy", policy_json(&e->f->policy));
    json_object_set_new(o, "waves", waves_json(e));
    json_t *ev = json_array();
    uint32_t first = e->nevents > FU_MGR_EVENTS_KEPT ? e->nevents - FU_MGR_EVENTS_KEPT : 0;
    for (uint32_t k = first; k < e->nevents; k++)
        json_array_append_new(ev, event_json(&e->events[k % FU_MGR_EVENTS_KEPT]));
    json_object_set_new(o, "events", ev);
    json_t *tl = json_array();
    for (uint32_t k = 0; k < e->nsamples; k++) {
        const fu_mgr_sample_t *p = &e->samples[k];
        json_array_append_new(tl, json_pack("{s:I, s:i, s:i, s:i, s:i}", "t_ms", (json_int_t)p->t_ms,
                                            "done", (int)p->done, "failed", (int)p->failed,
                                            "unreachable", (int)p->unreachable, "in_flight",
                                            (int)p->in_flight));
    }
    json_object_set_new(o, "timeline", tl);
    return o;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

#define ROW_REASON_MAX 200

/* A reason in a node row (lists, the event stream): at most ROW_REASON_MAX bytes, cut
 * between UTF-8 characters, so that a snapshot of many failed nodes stays small; the
 * node's detail has it whole. */
static json_t *row_reason(const char *r)
{
    size_t n = r ? strlen(r) : 0;
    if (n <= ROW_REASON_MAX)
        return str_or_null(r);
    n = ROW_REASON_MAX;
    while (n > 0 && ((unsigned char)r[n] & 0xC0) == 0x80)
        n--;
    char buf[ROW_REASON_MAX + 8];
    memcpy(buf, r, n);
    memcpy(buf + n, "\xe2\x80\xa6", 4); /* … */
    return json_string(buf);
}

/* [idx, state, phase, attempts, reason]: the row of the event stream. */
static json_t *state_row(fu_mgr_entry_t *e, uint32_t i)
{
    const fu_sched_node_t *n = fu_sched_node(fu_rollout_sched(e->r), i);
    return json_pack("[i, s, s, i, o]", (int)i, fu_node_state_name((fu_node_state_t)n->state),
                     fu_phase_name((fu_phase_t)n->phase), (int)n->attempts,
                     row_reason(fu_rollout_reason(e->r, i)));
}

static json_t *groups_json(const fu_fleet_t *f, const fu_node_t *n)
{
    json_t *g = json_array();
    for (uint32_t k = 0; k < n->ngroups; k++)
        if (strcmp(f->groups[n->groups[k]].name, "all") != 0)
            json_array_append_new(g, json_string(f->groups[n->groups[k]].name));
    return g;
}

static json_t *labels_json(const fu_node_t *n)
{
    json_t *l = json_object();
    for (uint32_t k = 0; k < n->nlabels; k++)
        json_object_set_new(l, n->labels[k].key, json_string(n->labels[k].value));
    return l;
}

static json_t *nodes_json(fu_mgr_entry_t *e)
{
    const fu_sched_t *s = fu_rollout_sched(e->r);
    fu_sched_stats_t st;
    fu_sched_stats(s, &st);
    json_t *rows = json_array();
    for (uint32_t i = 0; i < st.nodes; i++) {
        const fu_sched_node_t *n = fu_sched_node(s, i);
        const fu_node_t *fn = &e->f->nodes[fu_sched_fleet_node(s, i)];
        json_array_append_new(rows, json_pack("[s, s, s, i, o, o, i, o]", fn->name,
                                              fu_node_state_name((fu_node_state_t)n->state),
                                              fu_phase_name((fu_phase_t)n->phase), (int)n->wave,
                                              groups_json(e->f, fn), labels_json(fn),
                                              (int)n->attempts, row_reason(fu_rollout_reason(e->r, i))));
    }
    return json_pack("{s:[s,s,s,s,s,s,s,s], s:o}", "fields", "name", "state", "phase", "wave",
                     "groups", "labels", "attempts", "reason", "nodes", rows);
}

typedef struct {
    uint32_t idx;
    json_t *a;
} trans_ctx_t;

static void add_transition(void *ud, uint32_t idx, uint64_t at_ms, int from_state, int from_phase,
                           int to_state, int to_phase, const char *reason)
{
    trans_ctx_t *c = ud;
    if (idx != c->idx || json_array_size(c->a) >= 500)
        return;
    char from[48], to[48];
    snprintf(from, sizeof(from), "%s/%s", fu_node_state_name((fu_node_state_t)from_state),
             fu_phase_name((fu_phase_t)from_phase));
    snprintf(to, sizeof(to), "%s/%s", fu_node_state_name((fu_node_state_t)to_state),
             fu_phase_name((fu_phase_t)to_phase));
    json_array_append_new(c->a, json_pack("{s:I, s:s, s:s, s:o}", "at_ms", (json_int_t)at_ms, "from",
                                          from, "to", to, "reason", str_or_null(reason)));
}

static json_t *node_detail(fu_mgr_entry_t *e, uint32_t i)
{
    fu_manager_t *m = e->m;
    const fu_sched_t *s = fu_rollout_sched(e->r);
    const fu_sched_node_t *n = fu_sched_node(s, i);
    const fu_node_t *fn = &e->f->nodes[fu_sched_fleet_node(s, i)];
    json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:i, s:o}", "name", fn->name,
                          "idx", (int)i, "address", fn->address ? fn->address : fn->name,
                          "transport", fu_transport_name(fn->transport), "state",
                          fu_node_state_name((fu_node_state_t)n->state), "phase",
                          fu_phase_name((fu_phase_t)n->phase), "wave", (int)n->wave, "groups",
                          groups_json(e->f, fn), "labels", labels_json(fn), "attempts",
                          (int)n->attempts, "reason", str_or_null(fu_rollout_reason(e->r, i)));
    json_object_set_new(o, "log_tail", lines_json(fu_rollout_log_tail(e->r, i)));
    const fu_status_post_t *sp = e->status ? e->status[i] : NULL;
    json_t *post = json_null();
    if (sp) {
        post = json_pack("{s:I, s:s, s:s, s:s}", "at_ms", (json_int_t)sp->at_ms, "phase", sp->phase,
                         "state", sp->state, "message", sp->message);
        if (sp->percent >= 0)
            json_object_set_new(post, "percent", json_integer(sp->percent));
        if (sp->exit_code != -1)
            json_object_set_new(post, "exit_code", json_integer(sp->exit_code));
    }
    json_object_set_new(o, "last_status", post);
    trans_ctx_t c = {i, json_array()};
    fu_journal_commit(m->j); /* this turn's transitions too */
    fu_journal_transitions(m->j, e->id, add_transition, &c);
    json_object_set_new(o, "transitions", c.a);
    return o;
}

/* ---- Server-Sent Events ---- */

static char *sse(const char *event, json_t *data, size_t *len)
{
    char *d = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(data);
    size_t n = strlen(d) + strlen(event) + 32;
    char *out = malloc(n);
    *len = (size_t)snprintf(out, n, "event: %s\ndata: %s\n\n", event, d);
    free(d);
    return out;
}

char *fu_api_rollout_event(fu_mgr_entry_t *e, size_t *len)
{
    json_t *o = live_json(e);
    json_object_set_new(o, "waves_detail", waves_json(e));
    return sse("rollout", o, len);
}

char *fu_api_nodes_event(fu_mgr_entry_t *e, const uint32_t *idx, uint32_t n, size_t *len)
{
    /* Big batches (a snapshot of 10,000 nodes) go out as several events. */
    char *all = NULL;
    size_t total = 0;
    FILE *out = open_memstream(&all, &total);
    for (uint32_t k = 0; k < n; k += SSE_MAX_ROWS_PER_EVENT) {
        json_t *rows = json_array();
        for (uint32_t j = k; j < n && j < k + SSE_MAX_ROWS_PER_EVENT; j++)
            json_array_append_new(rows, state_row(e, idx[j]));
        size_t l;
        char *t = sse("nodes", json_pack("{s:o}", "rows", rows), &l);
        fwrite(t, 1, l, out);
        free(t);
    }
    fclose(out);
    *len = total;
    return all;
}

char *fu_api_run_event(const fu_mgr_event_t *ev, size_t *len)
{
    return sse("run", event_json(ev), len);
}

static void open_stream(fu_manager_t *m, fu_mgr_entry_t *e, fu_http_request_t *req)
{
    fu_mgr_sub_t *s = fu_manager_sub_new(e);
    s->st = fu_http_stream_open(req, 200, "text/event-stream",
                                "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n",
                                fu_manager_stream_gone, s);
    if (s->st == NULL) {
        free(s);
        return;
    }
    (void)m;
    size_t n;
    char *t = fu_api_rollout_event(e, &n);
    fu_http_stream_write(s->st, t, n);
    free(t);
    fu_sched_stats_t st;
    fu_sched_stats(fu_rollout_sched(e->r), &st);
    /* The snapshot, an event (one write) per SSE_MAX_ROWS_PER_EVENT nodes. */
    int rc = 0;
    for (uint32_t k = 0; rc == 0 && k < st.nodes; k += SSE_MAX_ROWS_PER_EVENT) {
        uint32_t idx[SSE_MAX_ROWS_PER_EVENT], c = 0;
        for (; c < SSE_MAX_ROWS_PER_EVENT && k + c < st.nodes; c++)
            idx[c] = k + c;
        t = fu_api_nodes_event(e, idx, c, &n);
        rc = fu_http_stream_write(s->st, t, n);
        free(t);
    }
    if (rc == 0)
        fu_manager_subscribe(s);
    else
        s->e = NULL; /* gone runs later and frees it */
}

/* ---- submit ---- */

typedef struct {
    fu_manager_t *m;
    fu_http_request_t *req;
    bool gone;
} submit_t;

static void submit_gone(void *ud)
{
    submit_t *c = ud;
    c->gone = true;
}

static void submitted(void *ud, fu_mgr_entry_t *e, int status, const char *err)
{
    submit_t *c = ud;
    if (!c->gone) {
        if (status == 201) {
            char loc[96];
            snprintf(loc, sizeof(loc), "Location: /api/v1/rollouts/%lld\r\n", (long long)e->id);
            send_text(c->m, c->req, 201, loc, live_json(e));
        } else {
            send_error(c->m, c->req, status, err, NULL);
        }
    }
    free(c);
}

static void submit(fu_manager_t *m, fu_http_request_t *req)
{
    json_error_t je;
    json_t *b = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &je);
    char msg[1200];
    if (b == NULL || !json_is_object(b)) {
        snprintf(msg, sizeof(msg), "the body must be a JSON object like {\"fleet\": \"/path/fleet.yml\"}%s%s",
                 b ? "" : ": ", b ? "" : je.text);
        json_decref(b);
        send_error(m, req, 400, msg, NULL);
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v) {
        if (strcmp(key, "fleet") != 0 && strcmp(key, "limit") != 0 && strcmp(key, "paused") != 0) {
            snprintf(msg, sizeof(msg), "unknown field '%.64s' (fields: fleet, limit, paused)", key);
            json_decref(b);
            send_error(m, req, 400, msg, NULL);
            return;
        }
    }
    json_t *fleet = json_object_get(b, "fleet"), *limit = json_object_get(b, "limit"),
           *paused = json_object_get(b, "paused");
    const char *why = NULL;
    if (!json_is_string(fleet) || json_string_value(fleet)[0] != '/')
        why = "'fleet' must be the absolute path of a fleet file the service can read";
    else if (limit && !json_is_null(limit) && !json_is_string(limit))
        why = "'limit' must be a pattern string (as deploy --limit)";
    else if (paused && !json_is_boolean(paused))
        why = "'paused' must be true or false";
    if (why) {
        json_decref(b);
        send_error(m, req, 400, why, NULL);
        return;
    }
    submit_t *c = calloc(1, sizeof(*c));
    c->m = m;
    c->req = req;
    int status;
    char *diag = NULL;
    if (fu_manager_submit(m, json_string_value(fleet), json_is_string(limit) ? json_string_value(limit) : NULL,
                          paused && json_is_true(paused), 0, submitted, c, &status, msg, sizeof(msg),
                          &diag) != 0) {
        send_error(m, req, status, msg, diag);
        free(diag);
        free(c);
    } else {
        fu_http_defer(req, submit_gone, c); /* answered when the packages are hashed */
    }
    json_decref(b);
}

/* ---- rollouts that only the journal knows ---- */

typedef struct {
    fu_manager_t *m;
    json_t *a;
} list_ctx_t;

static void add_row(void *ud, const fu_rollout_row_t *r)
{
    list_ctx_t *c = ud;
    if (fu_manager_find(c->m, r->id) == NULL)
        json_array_append_new(c->a, row_json(r));
}

static int by_id_desc(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));
    return x < y ? 1 : x > y ? -1 : 0;
}

static void list(fu_manager_t *m, fu_http_request_t *req)
{
    if (m->history == NULL) { /* read once: see fu_manager_t.history */
        list_ctx_t h = {m, json_array()};
        fu_journal_rollouts(m->j, add_row, &h);
        m->history = h.a;
    }
    list_ctx_t c = {m, json_array()};
    for (fu_mgr_entry_t *e = m->entries; e; e = e->next)
        if (e->r)
            json_array_append_new(c.a, live_json(e));
    for (size_t k = 0; k < json_array_size(m->history); k++) {
        json_t *row = json_array_get(m->history, k);
        if (fu_manager_find(m, json_integer_value(json_object_get(row, "id"))) == NULL)
            json_array_append(c.a, row);
    }
    size_t n = json_array_size(c.a);
    json_t **v = malloc((n + 1) * sizeof(json_t *));
    for (size_t k = 0; k < n; k++)
        v[k] = json_incref(json_array_get(c.a, k));
    qsort(v, n, sizeof(json_t *), by_id_desc);
    json_t *sorted = json_array();
    for (size_t k = 0; k < n; k++) /* the newest 1,000 */
        if (k < 1000)
            json_array_append_new(sorted, v[k]);
        else
            json_decref(v[k]);
    free(v);
    json_decref(c.a);
    send_text(m, req, 200, NULL, json_pack("{s:o}", "rollouts", sorted));
}

static void add_jnode(void *ud, uint32_t idx, const char *name, uint32_t wave, int state,
                      int phase, int attempts, int flags, const char *reason, uint64_t at_ms)
{
    (void)idx, (void)flags, (void)at_ms;
    json_array_append_new(ud, json_pack("[s, s, s, i, [], {}, i, o]", name,
                                             fu_node_state_name((fu_node_state_t)state),
                                             fu_phase_name((fu_phase_t)phase), (int)wave, attempts,
                                             str_or_null(reason)));
}

/* GET of a rollout this process does not drive: from the journal. */
static void journal_only(fu_manager_t *m, fu_http_request_t *req, int64_t id, const char *rest)
{
    fu_rollout_row_t row;
    if (fu_journal_rollout_get(m->j, id, &row) != 0) {
        send_error(m, req, 404, "no such rollout (GET /api/v1/rollouts lists them)", NULL);
        return;
    }
    if (*rest == '\0') {
        send_text(m, req, 200, NULL, row_json(&row));
    } else if (strcmp(rest, "/nodes") == 0) {
        json_t *rows = json_array();
        fu_journal_nodes(m->j, id, add_jnode, rows);
        send_text(m, req, 200, NULL,
                  json_pack("{s:[s,s,s,s,s,s,s,s], s:o}", "fields", "name", "state", "phase", "wave",
                            "groups", "labels", "attempts", "reason", "nodes", rows));
    } else if (strncmp(rest, "/", 1) == 0 && strcmp(req->method, "POST") == 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "rollout %lld is not running in this service (%s): %s", (long long)id,
                 strcmp(row.state, "finished") == 0 ? "finished" : "interrupted",
                 strcmp(row.state, "finished") == 0 ? "nothing to command"
                                                    : "restart serve to resume it, or fleetup deploy --resume");
        send_error(m, req, 409, msg, NULL);
    } else {
        send_error(m, req, 404, "this rollout is journaled only: its summary and /nodes are kept", NULL);
    }
    fu_journal_row_free(&row);
}

/* ---- dispatch ---- */

static bool url_decode(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s; s++) {
        char c = *s;
        if (c == '%') {
            if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
                return false;
            char h[3] = {s[1], s[2], 0};
            c = (char)strtol(h, NULL, 16);
            s += 2;
        }
        if (c == '\0' || o + 1 >= len)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

bool fu_api_handle(void *ud, fu_http_request_t *req)
{
    fu_manager_t *m = ud;
    const char *p = req->path + 8; /* after /api/v1/ */
    if (strncmp(p, "rollouts", 8) != 0 || (p[8] != '\0' && p[8] != '/'))
        return false;
    bool get = strcmp(req->method, "GET") == 0 || req->head, post = strcmp(req->method, "POST") == 0;
    if (!get && !post) {
        send_error(m, req, 405, "rollouts are read with GET and commanded with POST", NULL);
        return true;
    }
    p += 8;
    if (*p == '\0' || strcmp(p, "/") == 0) {
        if (get)
            list(m, req);
        else
            submit(m, req);
        return true;
    }
    char *end;
    long long id = strtoll(p + 1, &end, 10);
    if (end == p + 1 || id <= 0) {
        send_error(m, req, 404, "rollouts are /api/v1/rollouts/ID (a number)", NULL);
        return true;
    }
    const char *rest = end;
    fu_mgr_entry_t *e = fu_manager_find(m, id);
    if (e == NULL) {
        journal_only(m, req, id, rest);
        return true;
    }
    if (*rest == '\0' && get) {
        send_text(m, req, 200, NULL, detail_json(e));
    } else if (strcmp(rest, "/nodes") == 0 && get) {
        send_text(m, req, 200, NULL, nodes_json(e));
    } else if (strncmp(rest, "/nodes/", 7) == 0 && get) {
        char name[512];
        void *v = url_decode(rest + 7, name, sizeof(name)) ? fu_strmap_get(&e->names, name, strlen(name))
                                                          : NULL;
        if (v == NULL)
            send_error(m, req, 404, "no such node in this rollout", NULL);
        else
            send_text(m, req, 200, NULL, node_detail(e, (uint32_t)((uintptr_t)v - 1)));
    } else if (strcmp(rest, "/events") == 0 && get) {
        open_stream(m, e, req);
    } else if (*rest == '/' && post && fu_operator_parse(rest + 1) != FU_OP__COUNT) {
        fu_operator_t op = fu_operator_parse(rest + 1);
        int64_t other = 0;
        const char *clash = op == FU_OP_RETRY ? fu_manager_retry_clash(m, e, &other) : NULL;
        char busy[400];
        if (clash)
            snprintf(busy, sizeof(busy), "node '%.200s' is now in rollout %lld, which has not "
                     "finished: retry after it ends", clash, (long long)other);
        const char *why = clash ? busy : fu_rollout_command(e->r, op);
        if (why) {
            char msg[440];
            snprintf(msg, sizeof(msg), "%s: %s", fu_operator_name(op), why);
            send_error(m, req, 409, msg, NULL);
        } else {
            fu_sched_stats_t st;
            fu_sched_stats(fu_rollout_sched(e->r), &st);
            if (e->finished && st.run != FU_RUN_FINISHED)
                e->finished = false, e->finished_ms = 0; /* retry reopened it */
            char msg[160];
            snprintf(msg, sizeof(msg), "rollout %lld: %s applied; now %s", id, fu_operator_name(op),
                     fu_run_state_name(st.run));
            send_text(m, req, 200, NULL,
                      json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "command",
                                fu_operator_name(op), "state", fu_run_state_name(st.run), "message", msg));
        }
    } else if (*rest == '/' && post) {
        send_error(m, req, 404, "commands are pause, resume, abort, promote and retry", NULL);
    } else {
        send_error(m, req, post ? 405 : 404, "no such rollout resource (nodes, nodes/NAME, events)", NULL);
    }
    return true;
}

/* ---- /metrics ---- */

void fu_api_metrics(void *ud, FILE *out)
{
    fu_manager_t *m = ud;
    uint32_t by_run[FU_RUN_FINISHED + 1] = {0};
    for (fu_mgr_entry_t *e = m->entries; e; e = e->next) {
        if (e->r == NULL)
            continue;
        fu_sched_stats_t st;
        fu_sched_stats(fu_rollout_sched(e->r), &st);
        by_run[st.run]++;
    }
    fprintf(out, "# HELP fleetup_rollouts Rollouts this service drives, by run state.\n"
                 "# TYPE fleetup_rollouts gauge\n");
    for (int k = 0; k <= FU_RUN_FINISHED; k++)
        fprintf(out, "fleetup_rollouts{state=\"%s\"} %u\n", fu_run_state_name((fu_run_state_t)k), by_run[k]);
    static const char *const help[][3] = {
        {"fleetup_rollout_state", "1 for the rollout's run state.", "gauge"},
        {"fleetup_rollout_nodes", "Nodes of the rollout by state.", "gauge"},
        {"fleetup_rollout_in_phase", "Nodes of the rollout active in each phase.", "gauge"},
        {"fleetup_rollout_wave_current", "The rollout's highest open wave (1-based).", "gauge"},
        {"fleetup_rollout_waves", "The rollout's number of waves.", "gauge"},
        {"fleetup_wave_nodes", "Nodes of each wave by state.", "gauge"},
    };
    for (size_t h = 0; h < sizeof(help) / sizeof(help[0]); h++) {
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", help[h][0], help[h][1], help[h][0], help[h][2]);
        for (fu_mgr_entry_t *e = m->entries; e; e = e->next) {
            if (e->r == NULL)
                continue;
            fu_sched_stats_t st;
            fu_sched_stats(fu_rollout_sched(e->r), &st);
            long long id = (long long)e->id;
            switch (h) {
            case 0:
                fprintf(out, "fleetup_rollout_state{rollout=\"%lld\",state=\"%s\"} 1\n", id,
                        fu_run_state_name(st.run));
                break;
            case 1:
                for (int k = 0; k < FU_NS__COUNT; k++)
                    fprintf(out, "fleetup_rollout_nodes{rollout=\"%lld\",state=\"%s\"} %u\n", id,
                            fu_node_state_name((fu_node_state_t)k), st.by_state[k]);
                break;
            case 2:
                for (int k = 0; k < FU_PHASE__COUNT; k++)
                    fprintf(out, "fleetup_rollout_in_phase{rollout=\"%lld\",phase=\"%s\"} %u\n", id,
                            fu_phase_name((fu_phase_t)k), st.in_phase[k]);
                break;
            case 3:
                fprintf(out, "fleetup_rollout_wave_current{rollout=\"%lld\"} %u\n", id, st.current_wave + 1);
                break;
            case 4:
                fprintf(out, "fleetup_rollout_waves{rollout=\"%lld\"} %u\n", id, st.waves);
                break;
            default: {
                wave_counts_t *c = wave_counts(e, &st);
                for (uint32_t w = 0; w < st.waves; w++)
                    for (int k = 0; k < FU_NS__COUNT; k++)
                        fprintf(out, "fleetup_wave_nodes{rollout=\"%lld\",wave=\"%u\",state=\"%s\"} %u\n",
                                id, w + 1, fu_node_state_name((fu_node_state_t)k), c[w][k]);
                free(c);
            }
            }
        }
    }
}
