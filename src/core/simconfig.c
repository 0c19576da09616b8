/* The fleet file's `sim:` section: the simulated fleet that tests, benchmarks and
 * `make run` deploy to (transport sim). */
#include <stdlib.h>
#include <string.h>

#include "core/inventory.h"
#include "core/loader.h"

static const char *const sim_keys[] = {"seed", "time", "durations", "types", "spread", "fail",
                                       "hang", "unreachable", "current", "reboot", "no_change"};
#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

void fu_sim_defaults(fu_sim_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->seed = 1;
    c->duration_ms[FU_PHASE_CONNECT] = 200;
    c->duration_ms[FU_PHASE_INVENTORY] = 1000;
    c->duration_ms[FU_PHASE_STAGE] = 5000;
    c->duration_ms[FU_PHASE_INSTALL] = 30000;
    c->duration_ms[FU_PHASE_ACTIVATE] = 60000;
    c->duration_ms[FU_PHASE_VERIFY] = 1000;
    c->spread = 0.25;
}

static int phase_of(const char *s)
{
    for (int i = 0; i < FU_PHASE__COUNT; i++)
        if (strcmp(s, fu_phase_name((fu_phase_t)i)) == 0)
            return i;
    return -1;
}

static bool share(fu_diag_t *d, const fu_ynode_t *v, const char *what, double *out)
{
    char *end;
    const char *s = fu_y_string(d, v, what);
    if (s == NULL)
        return false;
    double x = strtod(s, &end);
    if (*end == '%' && end[1] == '\0')
        x /= 100.0;
    else if (*end != '\0')
        x = -1;
    if (end == s || x < 0 || x > 1) {
        fu_err(d, v, "%s must be a share from 0 to 1 (or 0%% to 100%%), not '%s'", what, s);
        return false;
    }
    *out = x;
    return true;
}

static const char *const *phase_names(void)
{
    static const char *names[FU_PHASE__COUNT];
    for (int i = 0; i < FU_PHASE__COUNT; i++)
        names[i] = fu_phase_name((fu_phase_t)i);
    return names;
}

/* {phase: duration} into ms[], or {phase: share} into shares[]. */
static void per_phase(fu_diag_t *d, const fu_ynode_t *v, const char *what, uint64_t *ms,
                      double *shares)
{
    if (!fu_y_expect_map(d, v, what))
        return;
    for (size_t i = 0; i < v->n; i++) {
        const fu_ynode_t *k = v->u.pairs[i].key, *val = v->u.pairs[i].val;
        int ph = phase_of(k->u.str);
        if (ph < 0) {
            fu_err_unknown_key(d, k, what, phase_names(), FU_PHASE__COUNT);
            continue;
        }
        if (shares) {
            share(d, val, what, &shares[ph]);
            continue;
        }
        const char *s = fu_y_string(d, val, what);
        if (s && !fu_duration_parse(s, &ms[ph]))
            fu_err(d, val, "%s: '%s' is not a duration (e.g. 0, 250ms, 30s, 5m)", what, s);
    }
}

static void read_types(fu_diag_t *d, fu_inv_t *inv, fu_sim_config_t *c, const fu_ynode_t *v)
{
    if (!fu_y_expect_map(d, v, "sim types"))
        return;
    for (size_t i = 0; i < v->n; i++) {
        fu_setting_t s;
        if (fu_setting_parse(inv, FU_S_TYPE, NULL, v->u.pairs[i].key, &s))
            per_phase(d, v->u.pairs[i].val, "sim durations", c->type_duration_ms[s.v.i], NULL);
    }
}

void fu_sim_read(fu_fleet_t *f, fu_diag_t *d, const fu_ynode_t *v)
{
    fu_sim_config_t *c = &f->sim;
    if (fu_y_is_null(v) || !fu_y_expect_map(d, v, "sim"))
        return;
    c->present = true;
    fu_inv_t inv;
    fu_inv_init(&inv, &f->arena, d);
    for (size_t i = 0; i < v->n; i++) {
        const fu_ynode_t *k = v->u.pairs[i].key, *val = v->u.pairs[i].val;
        const char *n = k->u.str;
        long long num;
        if (strcmp(n, "seed") == 0) {
            if (fu_y_scalar_int(val, &num) && num >= 0)
                c->seed = (uint64_t)num;
            else
                fu_err(d, val, "seed must be a whole number of at least 0");
        } else if (strcmp(n, "time") == 0) {
            const char *s = fu_y_string(d, val, n);
            if (s && (strcmp(s, "virtual") == 0 || strcmp(s, "real") == 0))
                c->virtual_time = s[0] == 'v';
            else if (s)
                fu_err(d, val, "time is 'real' or 'virtual', not '%s'", s);
        } else if (strcmp(n, "durations") == 0) {
            per_phase(d, val, "sim durations", c->duration_ms, NULL);
        } else if (strcmp(n, "types") == 0) {
            read_types(d, &inv, c, val);
        } else if (strcmp(n, "spread") == 0) {
            char *end;
            const char *s = fu_y_string(d, val, n);
            double x = s ? strtod(s, &end) : -1;
            if (s && (*end != '\0' || x < 0 || x > 3))
                fu_err(d, val, "spread is a log-normal sigma from 0 to 3, not '%s'", s);
            else if (s)
                c->spread = x;
        } else if (strcmp(n, "fail") == 0 || strcmp(n, "hang") == 0) {
            per_phase(d, val, n, NULL, n[0] == 'f' ? c->fail : c->hang);
        } else if (strcmp(n, "unreachable") == 0) {
            share(d, val, n, &c->unreachable);
        } else if (strcmp(n, "current") == 0) {
            share(d, val, n, &c->current);
        } else if (strcmp(n, "reboot") == 0) {
            share(d, val, n, &c->reboot);
        } else if (strcmp(n, "no_change") == 0) {
            share(d, val, n, &c->no_change);
        } else {
            fu_err_unknown_key(d, k, "sim", sim_keys, NKEYS(sim_keys));
        }
    }
    fu_inv_free(&inv);
}
