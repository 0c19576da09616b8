/* fleetup inventory FLEET: asks every selected node what it runs (connect, then inventory,
 * on one libuv loop, at most N nodes at once, each under a timeout) and prints it against
 * the baseline, or the nodes' own facts when the fleet has no baseline. --json and --csv
 * write every node's answer. Nothing is installed and nothing is journaled. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "core/cli.h"
#include "core/jsonw.h"
#include "core/loader.h"
#include "core/plan.h"
#include "core/report.h"
#include "core/transports_open.h"
#include "transports/redfish.h"

#define LIST_PER_COMPONENT 20 /* outdated or missing nodes shown per component */
#define LIST_PROBLEMS 50      /* unreachable or failed nodes shown */

static void help(void)
{
    printf("usage: fleetup inventory FLEET [--json FILE] [--csv FILE] [--limit PATTERN]\n"
           "                             [--concurrency N] [--timeout SECONDS]\n"
           "                             [--progress auto|tty|plain|none] [--transport sim]\n"
           "\n"
           "Connects to every selected node and reads what it runs, at most N nodes at once,\n"
           "and prints, per baseline component, how many nodes are current, outdated, newer,\n"
           "missing it, not concerned (n/a: applies_to leaves the node out), unreachable or\n"
           "failed; then the outdated and missing nodes and the nodes that did not answer,\n"
           "with the reason. current/outdated/newer/missing mean what they mean to deploy's\n"
           "plan (versions compared run by run, version_pattern first). A fleet without a\n"
           "baseline (a bare Ansible inventory) gets the nodes' facts instead: OS and version,\n"
           "kernel, architecture, uptime, fwupd devices, and a count per OS and version.\n"
           "Installs nothing; records nothing.\n"
           "\n"
           "  --json FILE       every node's answer as JSON ('-': stdout, then no table)\n"
           "  --csv FILE        node,component,installed,baseline,status,state,reason ('-':\n"
           "                    stdout, then no table)\n"
           "  --limit PATTERN   only these nodes (see 'fleetup nodes --help')\n"
           "  --concurrency N   nodes in flight at once (default 512)\n"
           "  --timeout SECONDS the whole of a node's connect and inventory (also 500ms, 2m);\n"
           "                    default: the fleet's rollout timeouts for connect and inventory\n"
           "                    when it sets them, else 30 s and 120 s\n"
           "  --progress MODE   auto (default: a live line on a terminal, else a line every\n"
           "                    5 s), tty, plain or none; progress goes to stderr\n"
           "  --transport sim   ask every node through the simulated transport (the fleet's\n"
           "                    sim: section)\n"
           "\n"
           "Ctrl-C stops: nodes in flight are cancelled and what was gathered is printed.\n"
           "exit: 0 every node answered, 1 some node was unreachable or failed, 2 bad usage or\n"
           "invalid fleet (nothing contacted), 130 interrupted (143: SIGTERM).\n");
}

typedef struct {
    const char *fleet, *limit, *json, *csv;
    uint32_t concurrency;
    uint64_t timeout_ms; /* --timeout: a node's connect and inventory together; 0: per phase */
    fu_progress_t progress;
    bool sim;
} inv_args_t;

static int parse(int argc, char **argv, inv_args_t *a)
{
    static const struct option opts[] = {
        {"json", required_argument, NULL, 'j'},      {"csv", required_argument, NULL, 'C'},
        {"limit", required_argument, NULL, 'l'},     {"concurrency", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 'T'},   {"progress", required_argument, NULL, 'p'},
        {"transport", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":j:C:l:c:T:p:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': a->json = optarg; break;
        case 'C': a->csv = optarg; break;
        case 'l': a->limit = optarg; break;
        case 'c': {
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || v < 1 || v > FU_MAX_NODES)
                return fu_cli_usage_error("inventory", "--concurrency takes a whole number from 1 "
                                                       "to %u, not '%s'", FU_MAX_NODES, optarg);
            a->concurrency = (uint32_t)v;
            break;
        }
        case 'T':
            if (!fu_duration_parse(optarg, &a->timeout_ms) || a->timeout_ms == 0)
                return fu_cli_usage_error("inventory", "--timeout takes seconds above 0 (or 500ms, "
                                                       "2m), not '%s'", optarg);
            break;
        case 'p':
            if (!fu_cli_parse_progress(optarg, &a->progress))
                return fu_cli_usage_error("inventory", "--progress is auto, tty, plain or none, "
                                                       "not '%s'", optarg);
            break;
        case 't':
            if (strcmp(optarg, "sim") != 0)
                return fu_cli_usage_error("inventory", "--transport takes 'sim' (the other "
                                          "transports are chosen per node by the fleet file)");
            a->sim = true;
            break;
        case 'h': help(); exit(FU_EXIT_OK);
        case ':': return fu_cli_usage_error("inventory", "'%s' needs a value", argv[optind - 1]);
        default: return fu_cli_usage_error("inventory", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return fu_cli_usage_error("inventory", "expects exactly one FLEET file");
    if (a->json && a->csv && strcmp(a->json, "-") == 0 && strcmp(a->csv, "-") == 0)
        return fu_cli_usage_error("inventory", "--json - and --csv - cannot share stdout: "
                                               "write one of them to a file");
    a->fleet = argv[optind];
    return 0;
}

/* ---- the run: every node through connect and inventory ---- */

typedef enum {
    N_PENDING,
    N_CONNECT,
    N_INVENTORY,
    N_OK,
    N_UNREACHABLE,
    N_FAILED,
    N_CANCELLED, /* Ctrl-C: in flight, or never asked */
    N__COUNT
} nstate_t;
static const char *const nstate_names[N__COUNT] = {"pending", "connect",     "inventory", "ok",
                                                   "unreachable", "failed", "cancelled"};

typedef struct {
    uint32_t node;         /* fleet index */
    uint32_t token;        /* bumps at every phase start and at the end: a stale timeout sees it */
    nstate_t state;
    uint64_t deadline;     /* with --timeout: when the node's time is up */
    const char *reason;    /* unreachable, failed, cancelled: why */
    const char **versions; /* answered: installed versions, indexed like the baseline */
    json_t *facts;         /* answered: what the node says of itself, or NULL */
    const char *facts_error;
} inode_t;

typedef struct {
    const fu_fleet_t *f;
    const inv_args_t *a;
    inode_t *nodes;
    uint32_t n, *order, *rev; /* the nodes' fleet indices; rev: the other way, or UINT32_MAX */
    uint32_t next, in_flight, ended, by_state[N__COUNT];
    uint64_t phase_ms[2]; /* connect, inventory timeouts when --timeout is not given */
    fu_transport_t *tk[FU_TRANSPORT__COUNT];
    fu_timers_t timers; /* the sim transport's results and every node's timeout */
    fu_arena_t arena;   /* versions, reasons */
    uv_loop_t loop;
    uv_timer_t drive, tick;
    uv_signal_t sigint, sigterm;
    uint64_t t0, elapsed_ms, last_print;
    int signal;
    bool in_drive, refilling;
} inv_t;

static uint64_t now_ms(inv_t *r)
{
    uint64_t now = uv_now(&r->loop) - r->t0;
    if (now > r->timers.now) /* results from libuv callbacks: timeouts start from now */
        r->timers.now = now;
    return r->timers.now;
}

static fu_transport_t *transport_of(inv_t *r, const inode_t *n)
{
    return fu_transports_for(r->tk, r->f, n->node, r->a->sim);
}

static void on_drive(uv_timer_t *h);

/* After a result from a libuv callback: a drive turn re-arms the timer at the earliest
 * deadline (a new timeout, a sim result). */
static void kick(inv_t *r)
{
    if (!r->in_drive)
        uv_timer_start(&r->drive, on_drive, 0, 0);
}

static void start_node(inv_t *r, uint32_t i);

/* Gives free slots to pending nodes. A node that fails at once ends inside this loop:
 * its own refill returns, this one goes on (no recursion over a whole fleet). */
static void refill(inv_t *r)
{
    if (r->refilling)
        return;
    r->refilling = true;
    while (r->signal == 0 && r->in_flight < r->a->concurrency && r->next < r->n)
        start_node(r, r->next++);
    r->refilling = false;
}

/* A node's end: its session closed, its slot given to the next pending node. */
static void finish(inv_t *r, uint32_t i, nstate_t st, const char *reason)
{
    inode_t *n = &r->nodes[i];
    fu_transport_t *t = transport_of(r, n);
    n->state = st;
    n->token++;
    n->reason = reason ? fu_arena_strdup(&r->arena, reason) : NULL;
    t->vt->close(t, n->node);
    r->in_flight--;
    r->ended++;
    r->by_state[st]++;
    refill(r);
    kick(r);
}

static void fail(inv_t *r, uint32_t i, nstate_t st, fu_phase_t ph, const char *why)
{
    char reason[512];
    snprintf(reason, sizeof(reason), "%s: %s", fu_phase_name(ph), why ? why : "failed");
    finish(r, i, st, reason);
}

static void on_timeout(void *ud, uint32_t i, uint32_t token)
{
    inv_t *r = ud;
    inode_t *n = &r->nodes[i];
    if (n->token != token || (n->state != N_CONNECT && n->state != N_INVENTORY))
        return;
    fu_transport_t *t = transport_of(r, n);
    t->vt->cancel(t, n->node);
    fu_phase_t ph = n->state == N_CONNECT ? FU_PHASE_CONNECT : FU_PHASE_INVENTORY;
    char why[96];
    if (r->a->timeout_ms)
        snprintf(why, sizeof(why), "timed out after %llu ms (--timeout)",
                 (unsigned long long)r->a->timeout_ms);
    else
        snprintf(why, sizeof(why), "timed out after %llu ms",
                 (unsigned long long)r->phase_ms[ph == FU_PHASE_INVENTORY]);
    fail(r, i, ph == FU_PHASE_CONNECT ? N_UNREACHABLE : N_FAILED, ph, why);
}

/* Starts phase ph on node i under its timeout. */
static void start_phase(inv_t *r, uint32_t i, fu_phase_t ph)
{
    inode_t *n = &r->nodes[i];
    uint64_t now = now_ms(r), delay = r->phase_ms[ph == FU_PHASE_INVENTORY];
    if (r->a->timeout_ms)
        delay = n->deadline > now ? n->deadline - now : 0;
    n->state = ph == FU_PHASE_CONNECT ? N_CONNECT : N_INVENTORY;
    n->token++;
    fu_timers_add(&r->timers, delay, on_timeout, r, i, n->token);
    int rc = fu_transport_start(transport_of(r, n), n->node, ph, NULL);
    if (rc != 0)
        fail(r, i, ph == FU_PHASE_CONNECT ? N_UNREACHABLE : N_FAILED, ph, strerror(-rc));
}

static void start_node(inv_t *r, uint32_t i)
{
    r->in_flight++;
    r->nodes[i].deadline = now_ms(r) + r->a->timeout_ms;
    start_phase(r, i, FU_PHASE_CONNECT);
}

/* Keeps what an inventory found: the versions (copied: the transport's buffers are
 * reused) and the facts, checked to be a JSON object. */
static void keep(inv_t *r, inode_t *n, const fu_phase_result_t *res)
{
    const fu_inventory_t *inv = res ? res->inventory : NULL;
    size_t nc = r->f->baseline.ncomponents;
    n->versions = fu_arena_alloc(&r->arena, (nc + 1) * sizeof(char *));
    for (uint32_t c = 0; inv && c < inv->n && c < nc; c++)
        if (inv->versions[c])
            n->versions[c] = fu_arena_strdup(&r->arena, inv->versions[c]);
    if (res == NULL || res->facts == NULL)
        return;
    json_error_t jerr;
    n->facts = json_loads(res->facts, JSON_REJECT_DUPLICATES, &jerr);
    if (n->facts && !json_is_object(n->facts)) {
        json_decref(n->facts);
        n->facts = NULL;
        snprintf(jerr.text, sizeof(jerr.text), "not a JSON object");
    }
    if (n->facts == NULL)
        n->facts_error = fu_arena_sprintf(&r->arena, "the node's facts were not kept: %s",
                                          jerr.text);
}

static void on_phase(void *ud, uint32_t node, fu_phase_t ph, const char *err,
                     const fu_phase_result_t *res)
{
    inv_t *r = ud;
    uint32_t i = node < r->f->nnodes ? r->rev[node] : UINT32_MAX;
    if (i == UINT32_MAX)
        return;
    inode_t *n = &r->nodes[i];
    nstate_t want = ph == FU_PHASE_CONNECT ? N_CONNECT : N_INVENTORY;
    if (n->state != want || (ph != FU_PHASE_CONNECT && ph != FU_PHASE_INVENTORY))
        return; /* a result after its timeout */
    if (err) {
        bool unreachable = ph == FU_PHASE_CONNECT || (res && res->unreachable);
        fail(r, i, unreachable ? N_UNREACHABLE : N_FAILED, ph, err);
    } else if (ph == FU_PHASE_CONNECT) {
        start_phase(r, i, FU_PHASE_INVENTORY);
        kick(r);
    } else {
        keep(r, n, res);
        finish(r, i, N_OK, NULL);
    }
}

/* The transport waits for a handshake slot every node shares (the node's timeout
 * stops), or began the phase only now: its timeout, or with --timeout the node's whole
 * allowance, starts again from now. */
static void on_started(void *ud, uint32_t node, fu_phase_t ph, bool waiting)
{
    inv_t *r = ud;
    uint32_t i = node < r->f->nnodes ? r->rev[node] : UINT32_MAX;
    if (i == UINT32_MAX)
        return;
    inode_t *n = &r->nodes[i];
    if (n->state != (ph == FU_PHASE_CONNECT ? N_CONNECT : N_INVENTORY))
        return;
    uint64_t now = now_ms(r), delay = r->phase_ms[ph == FU_PHASE_INVENTORY];
    if (r->a->timeout_ms) {
        n->deadline = now + r->a->timeout_ms;
        delay = r->a->timeout_ms;
    }
    n->token++; /* the first timer is stale now */
    if (waiting)
        return;
    fu_timers_add(&r->timers, delay, on_timeout, r, i, n->token);
    kick(r);
}

/* ---- the loop ---- */

static void progress(inv_t *r, bool final)
{
    uint64_t now = uv_now(&r->loop) - r->t0;
    uint32_t asked = r->ended - r->by_state[N_CANCELLED];
    double secs = now / 1000.0, rate = secs > 0 ? asked / secs : 0;
    char eta[32] = "-", el[32], line[256];
    if (rate > 0 && r->ended < r->n)
        fu_cli_duration(eta, sizeof(eta), (uint64_t)((r->n - r->ended) / rate * 1000));
    fu_cli_duration(el, sizeof(el), now);
    snprintf(line, sizeof(line),
             "inventory: done %u  unreachable %u  failed %u  in flight %u  pending %u  "
             "%.1f nodes/s  elapsed %s  ETA %s",
             r->by_state[N_OK], r->by_state[N_UNREACHABLE], r->by_state[N_FAILED], r->in_flight,
             r->n - r->next, rate, el, eta);
    fu_cli_progress_line(r->a->progress, line, final);
}

static void on_drive(uv_timer_t *h)
{
    inv_t *r = h->data;
    r->in_drive = true;
    fu_timers_run(&r->timers, uv_now(&r->loop) - r->t0);
    r->in_drive = false;
    if (r->ended == r->n) {
        uv_stop(&r->loop);
        return;
    }
    uint64_t next = fu_timers_next(&r->timers), now = r->timers.now;
    if (next != UINT64_MAX)
        uv_timer_start(&r->drive, on_drive, next > now ? next - now : 0, 0);
}

static void on_tick(uv_timer_t *h)
{
    inv_t *r = h->data;
    uint64_t now = uv_now(&r->loop) - r->t0;
    uint64_t every = r->a->progress == FU_PROGRESS_TTY ? 1000 : 5000;
    if (now - r->last_print >= every) {
        r->last_print = now;
        progress(r, false);
    }
}

/* Ctrl-C: nodes in flight are cancelled, nodes not started are not; what was gathered is
 * printed. */
static void on_signal(uv_signal_t *h, int signum)
{
    inv_t *r = h->data;
    if (r->signal)
        return;
    r->signal = signum;
    if (r->a->progress == FU_PROGRESS_TTY)
        fputs("\n", stderr);
    fprintf(stderr, "fleetup inventory: %s: stopping; %u nodes in flight cancelled\n",
            strsignal(signum), r->in_flight);
    for (uint32_t i = 0; i < r->next; i++) {
        inode_t *n = &r->nodes[i];
        if (n->state != N_CONNECT && n->state != N_INVENTORY)
            continue;
        fu_transport_t *t = transport_of(r, n);
        t->vt->cancel(t, n->node);
        finish(r, i, N_CANCELLED, "interrupted before it answered");
    }
    for (; r->next < r->n; r->next++) {
        r->nodes[r->next].state = N_CANCELLED;
        r->nodes[r->next].reason = "interrupted before it was asked";
        r->by_state[N_CANCELLED]++;
        r->ended++;
    }
    uv_stop(&r->loop);
}

/* The end: every handle closed and the transports' sessions closed (bounded), then the
 * loop is empty. */
static void close_all(inv_t *r)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&r->drive, (uv_handle_t *)&r->tick,
                         (uv_handle_t *)&r->sigint, (uv_handle_t *)&r->sigterm};
    fu_transports_close_loop(&r->loop, hs, sizeof(hs) / sizeof(hs[0]), r->tk, NULL);
}

static void run(inv_t *r)
{
    r->t0 = uv_now(&r->loop);
    uv_timer_init(&r->loop, &r->drive);
    uv_timer_init(&r->loop, &r->tick);
    uv_signal_init(&r->loop, &r->sigint);
    uv_signal_init(&r->loop, &r->sigterm);
    r->drive.data = r->tick.data = r->sigint.data = r->sigterm.data = r;
    if (r->a->progress != FU_PROGRESS_NONE)
        uv_timer_start(&r->tick, on_tick, 250, 250);
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    r->in_drive = true; /* one drive turn follows, from the loop */
    refill(r);
    r->in_drive = false;
    kick(r);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    r->elapsed_ms = uv_now(&r->loop) - r->t0;
    if (r->a->progress != FU_PROGRESS_NONE)
        progress(r, true);
    close_all(r);
}

/* ---- what was found ---- */

typedef enum {
    C_CURRENT,
    C_OUTDATED,
    C_NEWER,
    C_MISSING,
    C_NA,
    C_UNREACHABLE,
    C_FAILED,
    C_CANCELLED,
    C__COUNT
} cstatus_t;
static const char *const cstatus_names[C__COUNT] = {
    "current", "outdated", "newer", "missing", "n/a", "unreachable", "failed", "cancelled"};

typedef struct {
    const inv_t *r;
    const char *generated_at;
    size_t nc;
    uint8_t *status;              /* [node * nc]: cstatus_t, decided once */
    uint32_t (*counts)[C__COUNT]; /* per component */
} findings_t;

/* current/outdated/newer/missing as deploy's plan means them (fu_component_cmp); n/a
 * when applies_to leaves the node out, whether it answered or not. */
static cstatus_t component_status(const inv_t *r, const inode_t *n, uint32_t c)
{
    const fu_component_t *comp = &r->f->baseline.components[c];
    if (!fu_component_applies(r->f, comp, &r->f->nodes[n->node]))
        return C_NA;
    if (n->state == N_UNREACHABLE || n->state == N_FAILED || n->state == N_CANCELLED)
        return n->state == N_UNREACHABLE ? C_UNREACHABLE
               : n->state == N_FAILED    ? C_FAILED
                                         : C_CANCELLED;
    const char *have = n->versions ? n->versions[c] : NULL;
    if (have == NULL)
        return C_MISSING;
    int cmp = fu_component_cmp(comp, have);
    return cmp < 0 ? C_OUTDATED : cmp > 0 ? C_NEWER : C_CURRENT;
}

static void assess(findings_t *fd, const inv_t *r)
{
    fd->r = r;
    fd->nc = r->f->baseline.ncomponents;
    fd->status = malloc((size_t)r->n * fd->nc + 1);
    fd->counts = calloc(fd->nc + 1, sizeof(*fd->counts));
    for (uint32_t i = 0; i < r->n; i++)
        for (uint32_t c = 0; c < fd->nc; c++) {
            cstatus_t st = component_status(r, &r->nodes[i], c);
            fd->status[(size_t)i * fd->nc + c] = (uint8_t)st;
            fd->counts[c][st]++;
        }
}

static cstatus_t status_of(const findings_t *fd, uint32_t i, uint32_t c)
{
    return (cstatus_t)fd->status[(size_t)i * fd->nc + c];
}

static int width_of(const char *s, int w)
{
    int l = s ? (int)strlen(s) : 1;
    return l > w && l <= 40 ? l : w;
}

static void print_components(const findings_t *fd)
{
    static const char *const heads[C__COUNT] = {"CURRENT", "OUTDATED",    "NEWER",  "MISSING",
                                                "N/A",     "UNREACHABLE", "FAILED", "CANCELLED"};
    const fu_baseline_t *b = &fd->r->f->baseline;
    int wn = 9, wv = 8, ncol = fd->r->by_state[N_CANCELLED] ? C__COUNT : C_CANCELLED;
    for (size_t c = 0; c < fd->nc; c++) {
        wn = width_of(b->components[c].name, wn);
        wv = width_of(b->components[c].version, wv);
    }
    printf("%-*s  %-*s", wn, "COMPONENT", wv, "BASELINE");
    for (int k = 0; k < ncol; k++)
        printf("  %s", heads[k]);
    printf("\n");
    for (size_t c = 0; c < fd->nc; c++) {
        printf("%-*s  %-*s", wn, b->components[c].name, wv, b->components[c].version);
        for (int k = 0; k < ncol; k++)
            printf("  %*u", (int)strlen(heads[k]), fd->counts[c][k]);
        printf("\n");
    }
}

/* Per component, the nodes that need it (first LIST_PER_COMPONENT). */
static void print_behind(const findings_t *fd)
{
    const inv_t *r = fd->r;
    bool any = false;
    for (uint32_t c = 0; c < fd->nc; c++) {
        uint32_t behind = fd->counts[c][C_OUTDATED] + fd->counts[c][C_MISSING], shown = 0;
        if (behind == 0)
            continue;
        const fu_component_t *comp = &r->f->baseline.components[c];
        printf("%s  %s %s: %u outdated, %u missing\n", any ? "" : "\noutdated or missing:\n",
               comp->name, comp->version, fd->counts[c][C_OUTDATED], fd->counts[c][C_MISSING]);
        any = true;
        for (uint32_t i = 0; i < r->n && shown < LIST_PER_COMPONENT; i++) {
            cstatus_t st = status_of(fd, i, c);
            if (st != C_OUTDATED && st != C_MISSING)
                continue;
            const inode_t *n = &r->nodes[i];
            printf("    %-24s %-8s  %s\n", r->f->nodes[n->node].name, cstatus_names[st],
                   st == C_MISSING ? "-" : n->versions[c]);
            shown++;
        }
        if (behind > shown)
            printf("    ... and %u more\n", behind - shown);
    }
}

/* The nodes that did not answer (first LIST_PROBLEMS), with the reason. */
static void print_problems(const inv_t *r)
{
    uint32_t bad = r->by_state[N_UNREACHABLE] + r->by_state[N_FAILED], shown = 0;
    if (bad)
        printf("\nunreachable or failed: %u\n", bad);
    for (uint32_t i = 0; i < r->n && shown < LIST_PROBLEMS; i++) {
        const inode_t *n = &r->nodes[i];
        if (n->state != N_UNREACHABLE && n->state != N_FAILED)
            continue;
        printf("  %-24s %-11s  %s\n", r->f->nodes[n->node].name, nstate_names[n->state],
               n->reason);
        shown++;
    }
    if (bad > shown)
        printf("  ... and %u more\n", bad - shown);
    if (r->by_state[N_CANCELLED])
        printf("\ninterrupted: %u node%s not inventoried\n", r->by_state[N_CANCELLED],
               r->by_state[N_CANCELLED] == 1 ? "" : "s");
    uint32_t dropped = 0;
    for (uint32_t i = 0; i < r->n; i++)
        dropped += r->nodes[i].facts_error != NULL;
    if (dropped)
        printf("\nnote: %u node%s sent facts that are no JSON object: left out (--json shows "
               "facts_error)\n", dropped, dropped == 1 ? "" : "s");
}

/* ---- facts (a fleet without a baseline) ---- */

/* A fact as text: strings as they are, numbers printed; "-" when absent. */
static const char *fact(const json_t *facts, const char *key, char *buf, size_t len)
{
    const json_t *v = facts ? json_object_get(facts, key) : NULL;
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%g", json_real_value(v));
    else
        return "-";
    return buf;
}

static const char *uptime(const json_t *facts, char *buf, size_t len)
{
    const json_t *v = facts ? json_object_get(facts, "uptime_s") : NULL;
    if (!json_is_number(v) || json_number_value(v) < 0)
        return "-";
    uint64_t s = (uint64_t)json_number_value(v);
    if (s >= 86400)
        snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s % 86400 / 3600));
    else
        fu_cli_duration(buf, len, s * 1000);
    return buf;
}

/* fwupd's devices: an array of them, an object holding "devices", or a count. */
static const char *fwupd_devices(const json_t *facts, char *buf, size_t len)
{
    const json_t *v = facts ? json_object_get(facts, "fwupd") : NULL;
    if (json_is_object(v))
        v = json_object_get(v, "devices");
    if (json_is_array(v))
        snprintf(buf, len, "%zu", json_array_size(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else
        return "-";
    return buf;
}

enum { F_NODE, F_STATE, F_OS, F_VERSION, F_KERNEL, F_ARCH, F_UPTIME, F_FWUPD, F__COUNT };

static void facts_row(const inv_t *r, const inode_t *n, const char **col, char (*buf)[64])
{
    col[F_NODE] = r->f->nodes[n->node].name;
    col[F_STATE] = nstate_names[n->state];
    col[F_OS] = fact(n->facts, "os", buf[F_OS], sizeof(buf[0]));
    col[F_VERSION] = fact(n->facts, "os_version", buf[F_VERSION], sizeof(buf[0]));
    col[F_KERNEL] = fact(n->facts, "kernel", buf[F_KERNEL], sizeof(buf[0]));
    col[F_ARCH] = fact(n->facts, "arch", buf[F_ARCH], sizeof(buf[0]));
    col[F_UPTIME] = uptime(n->facts, buf[F_UPTIME], sizeof(buf[0]));
    col[F_FWUPD] = fwupd_devices(n->facts, buf[F_FWUPD], sizeof(buf[0]));
}

static void print_facts(const inv_t *r)
{
    static const char *const heads[F__COUNT] = {"NODE", "STATE",  "OS",     "VERSION",
                                                "KERNEL", "ARCH", "UPTIME", "FWUPD"};
    int w[F__COUNT];
    const char *col[F__COUNT];
    char buf[F__COUNT][64];
    for (int k = 0; k < F__COUNT; k++)
        w[k] = (int)strlen(heads[k]);
    for (uint32_t i = 0; i < r->n; i++) {
        facts_row(r, &r->nodes[i], col, buf);
        for (int k = 0; k < F__COUNT; k++)
            w[k] = width_of(col[k], w[k]);
    }
    for (int k = 0; k < F__COUNT; k++)
        printf(k < F__COUNT - 1 ? "%-*s  " : "%*s\n", w[k], heads[k]);
    for (uint32_t i = 0; i < r->n; i++) {
        facts_row(r, &r->nodes[i], col, buf);
        for (int k = 0; k < F__COUNT; k++)
            printf(k < F__COUNT - 1 ? "%-*s  " : "%*s\n", w[k], col[k]);
    }
}

typedef struct {
    char *os;
    uint32_t nodes;
} os_count_t;

static int by_os(const void *a, const void *b)
{
    return strcmp(((const os_count_t *)a)->os, ((const os_count_t *)b)->os);
}

static int by_nodes(const void *a, const void *b)
{
    const os_count_t *x = a, *y = b;
    return x->nodes != y->nodes ? (x->nodes < y->nodes ? 1 : -1) : strcmp(x->os, y->os);
}

/* How many answered nodes run each OS and version, most first. */
static void print_os_summary(const inv_t *r)
{
    os_count_t *v = calloc(r->n + 1, sizeof(*v));
    uint32_t nv = 0, runs = 0;
    char b1[64], b2[64];
    for (uint32_t i = 0; i < r->n; i++) {
        const inode_t *n = &r->nodes[i];
        if (n->state != N_OK)
            continue;
        if (n->facts == NULL)
            v[nv].os = strdup("(no facts)");
        else if (asprintf(&v[nv].os, "%s %s", fact(n->facts, "os", b1, sizeof(b1)),
                          fact(n->facts, "os_version", b2, sizeof(b2))) < 0)
            continue;
        v[nv++].nodes = 1;
    }
    qsort(v, nv, sizeof(*v), by_os);
    for (uint32_t i = 0; i < nv; i++) {
        if (runs && strcmp(v[runs - 1].os, v[i].os) == 0) {
            v[runs - 1].nodes++;
            free(v[i].os);
        } else {
            v[runs++] = v[i];
        }
    }
    qsort(v, runs, sizeof(*v), by_nodes);
    printf("\nby OS and version (%u node%s answered):\n%s", r->by_state[N_OK],
           r->by_state[N_OK] == 1 ? "" : "s", runs ? "" : "  (none)\n");
    for (uint32_t k = 0; k < runs; k++) {
        printf("  %7u  %s\n", v[k].nodes, v[k].os);
        free(v[k].os);
    }
    free(v);
}

/* ---- --json and --csv ---- */

static void json_count(fu_jsonw_t *w, const char *key, long long v)
{
    fu_jsonw_key(w, key);
    fu_jsonw_int(w, v);
}

static void json_field(fu_jsonw_t *w, const char *key, const char *v)
{
    fu_jsonw_key(w, key);
    fu_jsonw_str(w, v);
}

static void json_head(fu_jsonw_t *w, const findings_t *fd)
{
    const inv_t *r = fd->r;
    json_field(w, "fleet", r->f->file);
    json_field(w, "generated_at", fd->generated_at);
    json_field(w, "baseline", fd->nc ? r->f->baseline.name : NULL);
    fu_jsonw_key(w, "summary");
    fu_jsonw_begin(w, '{');
    json_count(w, "nodes", r->n);
    for (int s = N_OK; s < N__COUNT; s++)
        json_count(w, nstate_names[s], r->by_state[s]);
    json_count(w, "elapsed_ms", (long long)r->elapsed_ms);
    fu_jsonw_key(w, "interrupted");
    fu_jsonw_bool(w, r->signal != 0);
    fu_jsonw_end(w, '}');
    fu_jsonw_key(w, "components");
    fu_jsonw_begin(w, '[');
    for (uint32_t c = 0; c < fd->nc; c++) {
        fu_jsonw_begin(w, '{');
        json_field(w, "name", r->f->baseline.components[c].name);
        json_field(w, "version", r->f->baseline.components[c].version);
        for (int k = 0; k < C__COUNT; k++)
            json_count(w, cstatus_names[k], fd->counts[c][k]);
        fu_jsonw_end(w, '}');
    }
    fu_jsonw_end(w, ']');
}

/* The facts were checked when they arrived; they go out compact, as one value. */
static void json_facts(fu_jsonw_t *w, const inode_t *n)
{
    char *text = n->facts ? json_dumps(n->facts, JSON_COMPACT) : NULL;
    fu_jsonw_key(w, "facts");
    if (text) {
        fu_jsonw_raw(w, text);
        w->comma = true; /* a value was written */
        free(text);
    } else {
        fu_jsonw_str(w, NULL);
    }
    if (n->facts_error)
        json_field(w, "facts_error", n->facts_error);
}

static void json_node(fu_jsonw_t *w, const findings_t *fd, uint32_t i)
{
    const inode_t *n = &fd->r->nodes[i];
    const fu_node_t *fn = &fd->r->f->nodes[n->node];
    fu_jsonw_begin(w, '{');
    json_field(w, "name", fn->name);
    json_field(w, "address", fu_node_transport_address(fn));
    json_field(w, "type", fu_node_type_name(fn->type));
    json_field(w, "state", nstate_names[n->state]);
    json_field(w, "reason", n->reason);
    fu_jsonw_key(w, "components");
    fu_jsonw_begin(w, '{');
    for (uint32_t c = 0; c < fd->nc; c++) {
        fu_jsonw_key(w, fd->r->f->baseline.components[c].name);
        fu_jsonw_begin(w, '{');
        json_field(w, "installed", n->versions ? n->versions[c] : NULL);
        json_field(w, "baseline", fd->r->f->baseline.components[c].version);
        json_field(w, "status", cstatus_names[status_of(fd, i, c)]);
        fu_jsonw_end(w, '}');
    }
    fu_jsonw_end(w, '}');
    json_facts(w, n);
    fu_jsonw_end(w, '}');
}

static void write_json(const findings_t *fd, FILE *out)
{
    fu_jsonw_t *w = malloc(sizeof(*w));
    fu_jsonw_init(w, out);
    fu_jsonw_begin(w, '{');
    json_head(w, fd);
    fu_jsonw_key(w, "nodes");
    fu_jsonw_begin(w, '[');
    for (uint32_t i = 0; i < fd->r->n; i++) {
        fu_jsonw_raw(w, w->comma ? ",\n  " : "\n  ");
        w->comma = false; /* the separator is written */
        json_node(w, fd, i);
    }
    fu_jsonw_raw(w, fd->r->n ? "\n]" : "]");
    fu_jsonw_end(w, '}');
    fu_jsonw_raw(w, "\n");
    fu_jsonw_flush(w);
    free(w);
}

static void csv_row(FILE *out, const char *node, const char *comp, const char *installed,
                    const char *baseline, const char *status, const inode_t *n)
{
    const char *fields[] = {node, comp, installed, baseline, status, nstate_names[n->state],
                            n->reason};
    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        if (k)
            fputc(',', out);
        fu_csv_field(out, fields[k]);
    }
    fputc('\n', out);
}

/* A row per node and component; a fleet without a baseline: a row per node. */
static void write_csv(const findings_t *fd, FILE *out)
{
    const inv_t *r = fd->r;
    fputs("node,component,installed,baseline,status,state,reason\n", out);
    for (uint32_t i = 0; i < r->n; i++) {
        const inode_t *n = &r->nodes[i];
        const char *name = r->f->nodes[n->node].name;
        if (fd->nc == 0)
            csv_row(out, name, NULL, NULL, NULL, NULL, n);
        for (uint32_t c = 0; c < fd->nc; c++) {
            const fu_component_t *comp = &r->f->baseline.components[c];
            csv_row(out, name, comp->name, n->versions ? n->versions[c] : NULL, comp->version,
                    cstatus_names[status_of(fd, i, c)], n);
        }
    }
}

/* ---- the command ---- */

/* FILE, or stdout for "-": opened before any node is asked, so that a path that cannot be
 * written stops the command before it starts. */
static FILE *open_out(const char *path, const char *flag)
{
    if (strcmp(path, "-") == 0)
        return stdout;
    FILE *out = fopen(path, "w");
    if (out == NULL)
        fprintf(stderr, "fleetup inventory: %s %s: cannot write: %s\n", flag, path,
                strerror(errno));
    return out;
}

/* The selection in inventory order, each node's timeouts, the loop and the transports. */
static int setup(inv_t *r, const fu_fleet_t *f, const inv_args_t *a, char *err, size_t errlen)
{
    r->f = f;
    r->a = a;
    r->rev = malloc((f->nnodes + 1) * sizeof(uint32_t));
    r->nodes = calloc(f->nnodes + 1, sizeof(inode_t));
    bool *sel = malloc((f->nnodes + 1) * sizeof(bool));
    for (size_t i = 0; i < f->nnodes; i++)
        sel[i] = true;
    int rc = a->limit ? fu_limit_select(f, a->limit, sel, err, errlen) : 0;
    for (uint32_t i = 0; rc == 0 && i < f->nnodes; i++) {
        r->rev[i] = sel[i] ? r->n : UINT32_MAX;
        if (sel[i])
            r->nodes[r->n++].node = i;
    }
    free(sel);
    if (rc != 0)
        return -1;
    if (r->n == 0) {
        snprintf(err, errlen, "no node selected");
        return -1;
    }
    /* The policy's inventory timeout defaults to 5 minutes, meant for a node still busy
     * after an install; an inventory alone gets 2 unless the fleet sets another. */
    fu_policy_t defaults;
    fu_policy_defaults(&defaults);
    r->phase_ms[0] = f->policy.timeout_ms[FU_PHASE_CONNECT];
    r->phase_ms[1] = f->policy.timeout_ms[FU_PHASE_INVENTORY];
    if (r->phase_ms[1] == defaults.timeout_ms[FU_PHASE_INVENTORY])
        r->phase_ms[1] = 120000;
    r->order = malloc((r->n + 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < r->n; i++)
        r->order[i] = r->nodes[i].node;
    fu_transports_opts_t to = {.loop = &r->loop, .timers = &r->timers, .force_sim = a->sim,
                               .phase_cb = on_phase, .started_cb = on_started, .phase_ud = r};
    return fu_transports_open(f, r->order, r->n, &to, r->tk, err, errlen);
}

static void announce(const inv_t *r)
{
    if (r->a->progress == FU_PROGRESS_NONE)
        return;
    uint32_t insecure = fu_redfish_insecure_nodes(r->f, r->order, r->n);
    if (insecure)
        fprintf(stderr, "fleetup: warning: %u BMC%s with tls_insecure: their certificates are "
                "not checked\n", insecure, insecure == 1 ? "" : "s");
    char t1[32], t2[32], limits[96];
    if (r->a->timeout_ms) {
        fu_cli_duration(t1, sizeof(t1), r->a->timeout_ms);
        snprintf(limits, sizeof(limits), "%s per node", t1);
    } else {
        fu_cli_duration(t1, sizeof(t1), r->phase_ms[0]);
        fu_cli_duration(t2, sizeof(t2), r->phase_ms[1]);
        snprintf(limits, sizeof(limits), "connect %s, inventory %s", t1, t2);
    }
    fprintf(stderr, "fleetup: inventory of %u node%s, at most %u at once; timeouts: %s\n", r->n,
            r->n == 1 ? "" : "s", r->a->concurrency, limits);
}

static void cleanup(inv_t *r)
{
    if (uv_loop_close(&r->loop) != 0)
        fprintf(stderr, "fleetup: internal: handles left open at exit\n");
    fu_transports_destroy(r->tk);
    for (uint32_t i = 0; i < r->n; i++)
        json_decref(r->nodes[i].facts);
    fu_timers_free(&r->timers);
    fu_arena_free(&r->arena);
    free(r->nodes);
    free(r->rev);
    free(r->order);
}

static void print_report(const findings_t *fd)
{
    const inv_t *r = fd->r;
    char el[32];
    fu_cli_duration(el, sizeof(el), r->elapsed_ms);
    printf("inventory of %u node%s (%s, %s%s): %u answered, %u unreachable, %u failed", r->n,
           r->n == 1 ? "" : "s", r->f->file, fd->nc ? "baseline " : "no baseline: facts",
           fd->nc && r->f->baseline.name ? r->f->baseline.name : "", r->by_state[N_OK],
           r->by_state[N_UNREACHABLE], r->by_state[N_FAILED]);
    if (r->by_state[N_CANCELLED])
        printf(", %u not inventoried (interrupted)", r->by_state[N_CANCELLED]);
    printf(" in %s\n\n", el);
    if (fd->nc) {
        print_components(fd);
        print_behind(fd);
    } else {
        print_facts(r);
        print_os_summary(r);
    }
    print_problems(r);
}

/* Writes what the run found where it was asked for; false when some output failed. */
static bool report(const inv_t *r, const inv_args_t *a, FILE *json, FILE *csv)
{
    findings_t fd = {0};
    char at[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    fd.generated_at = at;
    assess(&fd, r);
    if (json != stdout && csv != stdout)
        print_report(&fd);
    if (a->json)
        write_json(&fd, json);
    if (a->csv)
        write_csv(&fd, csv);
    bool ok = true;
    FILE *outs[] = {json, csv};
    const char *paths[] = {a->json, a->csv};
    for (int k = 0; k < 2; k++)
        if (paths[k] && (fflush(outs[k]) != 0 || ferror(outs[k]))) {
            fprintf(stderr, "fleetup inventory: %s: write error: %s\n", paths[k], strerror(errno));
            ok = false;
        }
    free(fd.status);
    free(fd.counts);
    return ok;
}

int fu_cmd_inventory(int argc, char **argv)
{
    inv_args_t a = {.concurrency = 512, .progress = FU_PROGRESS_NONE};
    fu_cli_parse_progress("auto", &a.progress);
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc;
    fu_fleet_t *f = fu_cli_load_fleet(a.fleet, false);
    if (f == NULL)
        return FU_EXIT_USAGE;
    signal(SIGPIPE, SIG_IGN); /* a node that hangs up is an error to report, not a signal */
    fu_raise_nofile();
    inv_t *r = calloc(1, sizeof(*r));
    fu_arena_init(&r->arena);
    fu_timers_init(&r->timers);
    uv_loop_init(&r->loop);
    char err[1024];
    FILE *json = NULL, *csv = NULL;
    if (setup(r, f, &a, err, sizeof(err)) != 0) {
        fprintf(stderr, "fleetup inventory: %s\n", err);
        rc = FU_EXIT_USAGE;
    } else if ((a.json && (json = open_out(a.json, "--json")) == NULL) ||
               (a.csv && (csv = open_out(a.csv, "--csv")) == NULL)) {
        rc = FU_EXIT_USAGE;
    } else {
        announce(r);
        run(r);
        bool written = report(r, &a, json, csv);
        rc = r->signal                                              ? 128 + r->signal
             : r->by_state[N_UNREACHABLE] + r->by_state[N_FAILED] ? FU_EXIT_FAILURES
             : written                                              ? FU_EXIT_OK
                                                                    : FU_EXIT_FAILURES;
    }
    if (json && json != stdout)
        fclose(json);
    if (csv && csv != stdout)
        fclose(csv);
    cleanup(r);
    free(r);
    fu_fleet_free(f);
    return rc;
}
