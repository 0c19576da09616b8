/* Simulated nodes. A phase draws its duration and outcome from a hash of (seed, node,
 * phase, try), so a node behaves the same whatever the scheduling order; results arrive
 * through the timers heap, never from inside the call that started the phase. */
#include "transports/sim.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fu_transport_t base;
    const fu_sim_config_t *cfg;
    uint32_t n, ncomp;
    uint32_t *token;         /* per node: bumps on start and cancel */
    uint8_t *tries;          /* per node and phase */
    uint8_t *phase;          /* per node: the running phase */
    uint8_t *unreachable;    /* per node */
    const char **installed;  /* [node * ncomp] */
    uint32_t *installs;      /* [node * ncomp] */
    uint64_t *plans;         /* per node: the components its running install installs */
    char old_version[2];
    sqlite3 *world;
    sqlite3_stmt *save;
} sim_t;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A uniform draw in [0, 1) for (node, phase, try, which). */
static double draw(const sim_t *s, uint32_t node, int ph, uint32_t try_, uint32_t which)
{
    uint64_t h = mix(s->cfg->seed ^ mix(((uint64_t)node << 24) ^ ((uint64_t)ph << 16) ^
                                        ((uint64_t)try_ << 8) ^ which));
    return (double)(h >> 11) / 9007199254740992.0;
}

static uint64_t duration(const sim_t *s, uint32_t node, int ph, uint32_t try_)
{
    const fu_node_t *n = &s->base.fleet->nodes[node];
    uint64_t median = s->cfg->type_duration_ms[n->type][ph];
    if (median == 0)
        median = s->cfg->duration_ms[ph];
    if (median == 0 || s->cfg->spread == 0)
        return median;
    /* Box-Muller: a normal draw, then log-normal around the median. */
    double u1 = draw(s, node, ph, try_, 1), u2 = draw(s, node, ph, try_, 2);
    double z = sqrt(-2.0 * log(u1 + 1e-300)) * cos(6.283185307179586 * u2);
    double d = (double)median * exp(s->cfg->spread * z);
    return d < 1 ? 1 : (uint64_t)d;
}

static fu_inventory_t inventory_of(sim_t *s, uint32_t node)
{
    return (fu_inventory_t){s->installed + (size_t)node * s->ncomp, s->ncomp};
}

static void save(sim_t *s, uint32_t node, uint32_t c)
{
    if (s->save == NULL)
        return;
    sqlite3_bind_int(s->save, 1, (int)node);
    sqlite3_bind_int(s->save, 2, (int)c);
    sqlite3_bind_text(s->save, 3, s->installed[(size_t)node * s->ncomp + c], -1, SQLITE_STATIC);
    sqlite3_bind_int(s->save, 4, (int)s->installs[(size_t)node * s->ncomp + c]);
    sqlite3_step(s->save);
    sqlite3_reset(s->save);
}

static void finish(void *ud, uint32_t node, uint32_t token)
{
    sim_t *s = ud;
    if (token != s->token[node])
        return; /* cancelled */
    fu_phase_t ph = (fu_phase_t)s->phase[node];
    uint32_t try_ = s->tries[node * FU_PHASE__COUNT + ph] - 1;
    fu_phase_result_t res = {.exit_code = -1};
    fu_inventory_t inv = inventory_of(s, node);
    const char *err = NULL;
    if (ph == FU_PHASE_CONNECT && s->unreachable[node]) {
        res.unreachable = true;
        err = "connection refused (simulated)";
    } else if (draw(s, node, ph, try_, 3) < s->cfg->fail[ph]) {
        err = ph == FU_PHASE_INSTALL ? "installer exited 2 (simulated failure)"
                                     : "simulated failure";
        res.exit_code = ph == FU_PHASE_INSTALL ? 2 : -1;
    } else if (ph == FU_PHASE_INSTALL) {
        uint64_t plan = s->plans[node];
        bool changes = draw(s, node, ph, try_, 5) >= s->cfg->no_change;
        for (uint32_t c = 0; c < s->ncomp; c++)
            if (plan & (1ull << c)) {
                size_t k = (size_t)node * s->ncomp + c;
                if (changes)
                    s->installed[k] = s->base.fleet->baseline.components[c].version;
                s->installs[k]++;
                save(s, node, c);
            }
        res.reboot_needed = draw(s, node, ph, try_, 6) < s->cfg->reboot;
        res.exit_code = res.reboot_needed ? 1 : 0;
    }
    if (ph == FU_PHASE_INVENTORY || ph == FU_PHASE_VERIFY)
        res.inventory = &inv;
    s->base.phase_cb(s->base.ud, node, ph, err, &res);
}

static int start(sim_t *s, uint32_t node, fu_phase_t ph)
{
    uint32_t try_ = s->tries[node * FU_PHASE__COUNT + ph]++;
    s->phase[node] = (uint8_t)ph;
    s->token[node]++;
    if (draw(s, node, ph, try_, 4) < s->cfg->hang[ph])
        return 0; /* hangs: only the scheduler's timeout ends it */
    uint64_t d = ph == FU_PHASE_CONNECT && s->unreachable[node] ? 1 : duration(s, node, ph, try_);
    fu_timers_add(s->base.timers, d, finish, s, node, s->token[node]);
    return 0;
}

static int sim_connect(fu_transport_t *t, uint32_t node)
{
    return start((sim_t *)t, node, FU_PHASE_CONNECT);
}

static int sim_inventory(fu_transport_t *t, uint32_t node, fu_phase_t ph)
{
    return start((sim_t *)t, node, ph);
}

static int sim_stage(fu_transport_t *t, uint32_t node, const fu_plan_t *plan)
{
    (void)plan;
    return start((sim_t *)t, node, FU_PHASE_STAGE);
}

static int sim_install(fu_transport_t *t, uint32_t node, const fu_plan_t *plan)
{
    sim_t *s = (sim_t *)t;
    s->plans[node] = plan->install;
    return start(s, node, FU_PHASE_INSTALL);
}

static int sim_activate(fu_transport_t *t, uint32_t node)
{
    return start((sim_t *)t, node, FU_PHASE_ACTIVATE);
}

static int sim_poll(fu_transport_t *t, uint32_t node)
{
    sim_t *s = (sim_t *)t;
    if (s->base.progress_cb)
        s->base.progress_cb(s->base.ud, node, (fu_phase_t)s->phase[node], -1, "running");
    return 0;
}

static void sim_cancel(fu_transport_t *t, uint32_t node)
{
    ((sim_t *)t)->token[node]++;
}

static void sim_close(fu_transport_t *t, uint32_t node)
{
    (void)t, (void)node;
}

static void sim_destroy(fu_transport_t *t)
{
    sim_t *s = (sim_t *)t;
    if (s->save)
        sqlite3_finalize(s->save);
    if (s->world)
        sqlite3_close(s->world);
    free(s->token);
    free(s->tries);
    free(s->phase);
    free(s->unreachable);
    free(s->installed);
    free(s->installs);
    free(s->plans);
    free(s);
}

static const fu_transport_vtable_t sim_vtable = {
    .name = "sim",
    .connect = sim_connect,
    .inventory = sim_inventory,
    .stage = sim_stage,
    .install = sim_install,
    .activate = sim_activate,
    .poll = sim_poll,
    .cancel = sim_cancel,
    .close = sim_close,
    .destroy = sim_destroy,
};

/* Loads the persisted world: versions installed by earlier runs win over the drawn ones. */
static int open_world(sim_t *s, const char *path, const char **err)
{
    if (sqlite3_open(path, &s->world) != SQLITE_OK) {
        *err = "cannot open the simulated world's database";
        return -1;
    }
    sqlite3_exec(s->world, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                           "CREATE TABLE IF NOT EXISTS installed(node INTEGER, component INTEGER,"
                           " version TEXT, installs INTEGER, PRIMARY KEY(node, component))",
                 NULL, NULL, NULL);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->world, "SELECT node, component, version, installs FROM installed",
                           -1, &q, NULL) != SQLITE_OK) {
        *err = "the simulated world's database is not readable";
        return -1;
    }
    const fu_baseline_t *b = &s->base.fleet->baseline;
    while (sqlite3_step(q) == SQLITE_ROW) {
        uint32_t node = (uint32_t)sqlite3_column_int(q, 0), c = (uint32_t)sqlite3_column_int(q, 1);
        const char *v = (const char *)sqlite3_column_text(q, 2);
        if (node >= s->n || c >= s->ncomp || v == NULL)
            continue;
        size_t k = (size_t)node * s->ncomp + c;
        /* Versions are the baseline's or the old one: point at those, not at the row. */
        s->installed[k] = strcmp(v, b->components[c].version) == 0 ? b->components[c].version
                                                                  : s->old_version;
        s->installs[k] = (uint32_t)sqlite3_column_int(q, 3);
    }
    sqlite3_finalize(q);
    sqlite3_prepare_v2(s->world, "INSERT OR REPLACE INTO installed VALUES (?, ?, ?, ?)", -1,
                       &s->save, NULL);
    return 0;
}

fu_transport_t *fu_sim_new(const fu_fleet_t *f, fu_timers_t *timers, const char *world_path,
                           const char **err)
{
    sim_t *s = calloc(1, sizeof(*s));
    s->base.vt = &sim_vtable;
    s->base.fleet = f;
    s->base.timers = timers;
    s->cfg = &f->sim;
    s->n = (uint32_t)f->nnodes;
    s->ncomp = (uint32_t)f->baseline.ncomponents;
    s->old_version[0] = '0';
    s->token = calloc(s->n + 1, sizeof(uint32_t));
    s->tries = calloc((size_t)s->n * FU_PHASE__COUNT + 1, 1);
    s->phase = calloc(s->n + 1, 1);
    s->unreachable = calloc(s->n + 1, 1);
    s->installed = calloc((size_t)s->n * s->ncomp + 1, sizeof(char *));
    s->installs = calloc((size_t)s->n * s->ncomp + 1, sizeof(uint32_t));
    s->plans = calloc(s->n + 1, sizeof(uint64_t));
    for (uint32_t i = 0; i < s->n; i++) {
        s->unreachable[i] = draw(s, i, 7, 0, 7) < s->cfg->unreachable;
        bool current = draw(s, i, 7, 0, 8) < s->cfg->current;
        for (uint32_t c = 0; c < s->ncomp; c++)
            s->installed[(size_t)i * s->ncomp + c] =
                current ? f->baseline.components[c].version : s->old_version;
    }
    if (world_path && open_world(s, world_path, err) != 0) {
        sim_destroy(&s->base);
        return NULL;
    }
    return &s->base;
}

uint32_t fu_sim_installs(const fu_transport_t *t, uint32_t node, uint32_t component)
{
    const sim_t *s = (const sim_t *)t;
    return s->installs[(size_t)node * s->ncomp + component];
}

const char *fu_sim_installed(const fu_transport_t *t, uint32_t node, uint32_t component)
{
    const sim_t *s = (const sim_t *)t;
    return s->installed[(size_t)node * s->ncomp + component];
}

uint64_t fu_sim_duration(const fu_transport_t *t, uint32_t node, fu_phase_t phase, uint32_t try_)
{
    return duration((const sim_t *)t, node, phase, try_);
}
