/* The rollout policy (`rollout:`): waves, mode, concurrency, max_per, failure budgets,
 * canary/promote, pauses, retries, timeouts and order. Parsed and checked here; the
 * scheduler applies it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/inventory.h"
#include "core/loader.h"

static const char *const rollout_keys[] = {
    "waves", "mode", "concurrency", "phase_concurrency", "max_per", "max_fail",
    "max_unreachable", "canary", "promote", "pause_between", "retries", "phase_retries",
    "backoff", "max_backoff", "jitter", "timeouts", "order", "seed"};
static const char *const max_fail_keys[] = {"wave", "total"};
#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

void fu_policy_defaults(fu_policy_t *p)
{
    memset(p, 0, sizeof(*p));
    p->mode = FU_MODE_BARRIER;
    p->promote = FU_PROMOTE_AUTO;
    p->backoff_ms = 5000;
    p->max_backoff_ms = 300000;
    p->jitter = true;
    for (int i = 0; i < FU_PHASE__COUNT; i++)
        p->phase_retries[i] = -1;
    p->timeout_ms[FU_PHASE_CONNECT] = 30000;
    p->timeout_ms[FU_PHASE_INVENTORY] = 300000;
    p->timeout_ms[FU_PHASE_STAGE] = 1800000;
    p->timeout_ms[FU_PHASE_INSTALL] = 3600000;
    p->timeout_ms[FU_PHASE_ACTIVATE] = 1800000;
    p->timeout_ms[FU_PHASE_VERIFY] = 600000;
}

bool fu_duration_parse(const char *s, uint64_t *ms)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return false;
    double v = strtod(s, &end);
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else if (strcmp(end, "d") == 0)
        mult = 86400000;
    else
        return false;
    if (v * mult > 1e15)
        return false;
    *ms = (uint64_t)(v * mult + 0.5);
    return true;
}

typedef struct {
    fu_fleet_t *f;
    fu_diag_t *d;
    fu_inv_t inv;
} pol_t;

static bool duration(pol_t *p, const fu_ynode_t *v, const char *what, uint64_t *ms)
{
    const char *s = fu_y_string(p->d, v, what);
    if (s && fu_duration_parse(s, ms))
        return true;
    if (s)
        fu_err(p->d, v, "%s '%s' is not a duration: write a number with s, ms, m, h or d "
                        "(e.g. 30s, 5m)", what, s);
    return false;
}

/* A whole number from min to 1,000,000,000 (counts of nodes, retries, seeds fit). */
static bool count(pol_t *p, const fu_ynode_t *v, const char *what, long long min, long long *out)
{
    if (fu_y_scalar_int(v, out) && *out >= min && *out <= 1000000000LL)
        return true;
    fu_err(p->d, v, "%s must be a whole number from %lld to 1000000000", what, min);
    return false;
}

/* A count ("3") or a percentage ("5%"). min_count is the smallest count allowed. */
static bool amount(pol_t *p, const fu_ynode_t *v, const char *what, long long min_count,
                   bool allow_zero_pct, fu_amount_t *out)
{
    long long n;
    if (fu_y_scalar_int(v, &n)) {
        if (n < min_count || n > 1000000000LL) {
            fu_err(p->d, v, "%s must be from %lld to 1000000000", what, min_count);
            return false;
        }
        *out = (fu_amount_t){FU_AMOUNT_COUNT, (double)n};
        return true;
    }
    if (v && v->kind == FU_Y_SCALAR && v->n >= 2 && v->u.str[v->n - 1] == '%') {
        char *end;
        double pct = strtod(v->u.str, &end);
        if (end == v->u.str + v->n - 1 && isdigit((unsigned char)v->u.str[0]) && pct <= 100 &&
            (pct > 0 || (allow_zero_pct && pct == 0))) {
            *out = (fu_amount_t){FU_AMOUNT_PERCENT, pct};
            return true;
        }
        fu_err(p->d, v, "%s '%s' must be a percentage %s 100%%", what, v->u.str,
               allow_zero_pct ? "from 0% to" : "above 0% and at most");
        return false;
    }
    fu_err(p->d, v, "%s must be a count (e.g. 5) or a percentage (e.g. 10%%), not %s%s%s", what,
           v && v->kind == FU_Y_SCALAR ? "'" : "",
           v && v->kind == FU_Y_SCALAR ? v->u.str : fu_y_kind_name(v),
           v && v->kind == FU_Y_SCALAR ? "'" : "");
    return false;
}

static void read_waves(pol_t *p, const fu_ynode_t *v)
{
    fu_policy_t *pol = &p->f->policy;
    size_t n = v->kind == FU_Y_SEQ ? v->n : 1;
    if (v->kind == FU_Y_SEQ && n == 0) {
        fu_err(p->d, v, "waves must not be an empty list");
        return;
    }
    if (v->kind == FU_Y_MAP) {
        fu_err(p->d, v, "waves is a size (10, 5%%) or a ramp list ([1, 5%%, 25%%, 100%%])");
        return;
    }
    pol->waves = fu_arena_alloc(&p->f->arena, n * sizeof(fu_amount_t));
    for (size_t i = 0; i < n; i++) {
        const fu_ynode_t *item = v->kind == FU_Y_SEQ ? v->u.items[i] : v;
        if (amount(p, item, "a wave size", 1, false, &pol->waves[pol->nwaves]))
            pol->nwaves++;
    }
}

static int phase_lookup(const char *s)
{
    for (int i = 0; i < FU_PHASE__COUNT; i++)
        if (strcmp(s, fu_phase_name((fu_phase_t)i)) == 0)
            return i;
    return -1;
}

static const char *const *phase_names(void)
{
    static const char *names[FU_PHASE__COUNT];
    for (int i = 0; i < FU_PHASE__COUNT; i++)
        names[i] = fu_phase_name((fu_phase_t)i);
    return names;
}

/* A mapping phase -> value; fn reads one value. */
typedef void (*phase_fn)(pol_t *p, int phase, const fu_ynode_t *v);
static void per_phase(pol_t *p, const fu_ynode_t *v, const char *what, phase_fn fn)
{
    if (!fu_y_expect_map(p->d, v, what))
        return;
    for (size_t i = 0; i < v->n; i++) {
        const fu_ynode_t *k = v->u.pairs[i].key;
        int ph = phase_lookup(k->u.str);
        if (ph < 0)
            fu_err_unknown_key(p->d, k, what, phase_names(), FU_PHASE__COUNT);
        else
            fn(p, ph, v->u.pairs[i].val);
    }
}

static void phase_conc(pol_t *p, int ph, const fu_ynode_t *v)
{
    long long n;
    if (count(p, v, "a phase concurrency", 1, &n))
        p->f->policy.phase_concurrency[ph] = (uint32_t)n;
}

static void phase_retry(pol_t *p, int ph, const fu_ynode_t *v)
{
    long long n;
    if (count(p, v, "a retry count", 0, &n))
        p->f->policy.phase_retries[ph] = (int32_t)(n > 100 ? 100 : n);
}

static void phase_timeout(pol_t *p, int ph, const fu_ynode_t *v)
{
    uint64_t ms;
    if (duration(p, v, "a timeout", &ms)) {
        if (ms == 0)
            fu_err(p->d, v, "a timeout must be longer than 0");
        else
            p->f->policy.timeout_ms[ph] = ms;
    }
}

static void read_max_per(pol_t *p, const fu_ynode_t *v)
{
    fu_policy_t *pol = &p->f->policy;
    if (!fu_y_expect_map(p->d, v, "max_per"))
        return;
    pol->max_per = fu_arena_alloc(&p->f->arena, (v->n + 1) * sizeof(fu_max_per_t));
    for (size_t i = 0; i < v->n; i++) {
        const fu_ynode_t *k = v->u.pairs[i].key;
        long long n;
        if (!count(p, v->u.pairs[i].val, "a max_per limit", 1, &n))
            continue;
        bool used = false;
        for (size_t j = 0; j < p->f->nnodes && !used; j++)
            used = fu_node_label(&p->f->nodes[j], k->u.str) != NULL;
        if (!used && p->f->nnodes)
            fu_warn(p->d, k, "max_per: no node has the label '%s', so this limit never applies",
                    k->u.str);
        pol->max_per[pol->nmax_per++] = (fu_max_per_t){k->u.str, (uint32_t)n};
    }
}

static void read_budget(pol_t *p, const fu_ynode_t *v, fu_amount_t *wave, fu_amount_t *total,
                        const char *what)
{
    if (v->kind != FU_Y_MAP) {
        amount(p, v, what, 0, true, total);
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const fu_ynode_t *k = v->u.pairs[i].key, *val = v->u.pairs[i].val;
        if (strcmp(k->u.str, "wave") == 0 && wave)
            amount(p, val, what, 0, true, wave);
        else if (strcmp(k->u.str, "total") == 0)
            amount(p, val, what, 0, true, total);
        else
            fu_err_unknown_key(p->d, k, what, max_fail_keys + (wave ? 0 : 1), wave ? 2 : 1);
    }
}

static void read_enum(pol_t *p, const fu_ynode_t *v, const char *what, const char *a,
                      const char *b, const char *c, int *out)
{
    const char *s = fu_y_string(p->d, v, what);
    if (s == NULL)
        return;
    const char *opts[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (opts[i] && strcmp(s, opts[i]) == 0) {
            *out = i;
            return;
        }
    const char *sug = fu_suggest(s, opts, c ? 3 : 2);
    fu_err(p->d, v, "%s '%s' is not one of %s, %s%s%s%s%s%s", what, s, a, b, c ? ", " : "",
           c ? c : "", sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
}

static void read_key(pol_t *p, const fu_ynode_t *k, const fu_ynode_t *v)
{
    fu_policy_t *pol = &p->f->policy;
    const char *n = k->u.str;
    long long num;
    int e;
    if (strcmp(n, "waves") == 0) {
        read_waves(p, v);
    } else if (strcmp(n, "mode") == 0) {
        e = (int)pol->mode;
        read_enum(p, v, "mode", "barrier", "window", NULL, &e);
        pol->mode = e;
    } else if (strcmp(n, "concurrency") == 0) {
        if (count(p, v, "concurrency", 1, &num))
            pol->concurrency = (uint32_t)num;
    } else if (strcmp(n, "phase_concurrency") == 0) {
        per_phase(p, v, "phase_concurrency", phase_conc);
    } else if (strcmp(n, "max_per") == 0) {
        read_max_per(p, v);
    } else if (strcmp(n, "max_fail") == 0) {
        read_budget(p, v, &pol->max_fail_wave, &pol->max_fail_total, "max_fail");
    } else if (strcmp(n, "max_unreachable") == 0) {
        read_budget(p, v, NULL, &pol->max_unreachable_total, "max_unreachable");
    } else if (strcmp(n, "canary") == 0) {
        if (!fu_y_scalar_bool(v, &pol->canary))
            fu_err(p->d, v, "canary must be true or false");
    } else if (strcmp(n, "promote") == 0) {
        e = (int)pol->promote;
        read_enum(p, v, "promote", "auto", "manual", NULL, &e);
        pol->promote = e;
    } else if (strcmp(n, "pause_between") == 0) {
        const char *s = fu_y_string(p->d, v, n);
        if (s && strcmp(s, "manual") == 0)
            pol->pause_manual = true;
        else if (s && !fu_duration_parse(s, &pol->pause_between_ms))
            fu_err(p->d, v, "pause_between '%s' must be a duration (e.g. 10m) or 'manual'", s);
    } else if (strcmp(n, "retries") == 0) {
        if (count(p, v, "retries", 0, &num))
            pol->retries = (uint32_t)(num > 100 ? 100 : num);
    } else if (strcmp(n, "phase_retries") == 0) {
        per_phase(p, v, "phase_retries", phase_retry);
    } else if (strcmp(n, "backoff") == 0) {
        duration(p, v, n, &pol->backoff_ms);
    } else if (strcmp(n, "max_backoff") == 0) {
        duration(p, v, n, &pol->max_backoff_ms);
    } else if (strcmp(n, "jitter") == 0) {
        if (!fu_y_scalar_bool(v, &pol->jitter))
            fu_err(p->d, v, "jitter must be true or false");
    } else if (strcmp(n, "timeouts") == 0) {
        per_phase(p, v, "timeouts", phase_timeout);
    } else if (strcmp(n, "order") == 0) {
        e = (int)pol->order;
        read_enum(p, v, "order", "inventory", "sorted", "shuffle", &e);
        pol->order = e;
    } else if (strcmp(n, "seed") == 0) {
        if (count(p, v, "seed", 0, &num))
            pol->seed = (uint64_t)num;
    } else {
        fu_err_unknown_key(p->d, k, "rollout", rollout_keys, NKEYS(rollout_keys));
    }
}

void fu_policy_read(fu_fleet_t *f, fu_diag_t *d, const fu_ynode_t *v)
{
    if (fu_y_is_null(v) || !fu_y_expect_map(d, v, "rollout"))
        return;
    pol_t p = {.f = f, .d = d};
    fu_inv_init(&p.inv, &f->arena, d);
    for (size_t i = 0; i < v->n; i++)
        read_key(&p, v->u.pairs[i].key, v->u.pairs[i].val);
    fu_policy_t *pol = &f->policy;
    if (pol->max_backoff_ms < pol->backoff_ms)
        fu_err(d, fu_y_map_get(v, "max_backoff"), "max_backoff is shorter than backoff");
    if (pol->promote == FU_PROMOTE_MANUAL && !pol->canary && fu_y_map_get(v, "promote"))
        fu_warn(d, fu_y_map_get(v, "promote"), "promote applies to a canary wave: set "
                                              "'canary: true' too");
    fu_inv_free(&p.inv);
}
