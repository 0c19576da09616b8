/* The scheduler in virtual time, against a fake transport (sched_harness.h): waves,
 * budgets, max_per, canary and pauses, retries and timeouts, ordering, operator commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "core/fleet.h"
#include "sched_harness.h"

/* A fleet of n nodes in racks of 10 (label rack), one component, and a rollout policy. */
static fu_fleet_t *fleet(uint32_t n, const char *rollout)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    fprintf(m, "fleetup: 1\nnodes:\n");
    for (uint32_t i = 0; i < n; i++)
        fprintf(m, "  n%05u: {labels: {rack: r%03u}}\n", i, i / 10);
    fprintf(m, "baseline:\n  components:\n    - {name: bios, version: '2.0'}\n");
    fprintf(m, "rollout:\n%s", rollout);
    fclose(m);
    fu_diag_t d;
    fu_diag_init(&d);
    fu_fleet_t *f = fu_fleet_load_buffer("test.yml", buf, len, &d);
    if (f == NULL) {
        fu_diag_print(&d, stderr);
        fail_msg("test fleet did not load");
    }
    fu_diag_free(&d);
    free(buf);
    return f;
}

static uint32_t count_state(world_t *w, fu_node_state_t st)
{
    fu_sched_stats_t s;
    fu_sched_stats(w->s, &s);
    return s.by_state[st];
}

static void test_wave_sizes(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(1, "  waves: [1, 5%, 25%, 100%]\n");
    uint32_t sizes[16];
    uint32_t n = fu_sched_wave_sizes(&f->policy, 1000, sizes, 16);
    assert_int_equal(n, 4);
    assert_int_equal(sizes[0], 1);
    assert_int_equal(sizes[1], 50);
    assert_int_equal(sizes[2], 250);
    assert_int_equal(sizes[3], 699);
    /* The last size repeats; at least one node per wave. */
    fu_fleet_free(f);
    f = fleet(1, "  waves: [2, 10%]\n");
    n = fu_sched_wave_sizes(&f->policy, 25, sizes, 16);
    assert_int_equal(n, 9); /* 2, then 3 (10% of 25 rounded up) x 7, then 2 */
    assert_int_equal(sizes[1], 3);
    assert_int_equal(sizes[8], 2);
    n = fu_sched_wave_sizes(&f->policy, 3, sizes, 16);
    assert_int_equal(n, 2); /* 2, then 1 (10% of 3 is 0.3: at least 1) */
    fu_fleet_free(f);
}

/* 1,000 nodes through every phase: all done, each component installed exactly once,
 * barrier waves in order, never more than the concurrency in flight. */
static void test_full_rollout(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(1000, "  waves: [1, 5%, 25%, 100%]\n  concurrency: 100\n"
                                "  phase_concurrency: {install: 20}\n");
    world_t *w = world_new(f, "1.0");
    w->max_in_flight = 100;
    w->max_in_phase[FU_PHASE_INSTALL] = 20;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    assert_false(w->violated);
    assert_int_equal(count_state(w, FU_NS_DONE), 1000);
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(w->installs[i][0], 1);
    /* Barrier: the 51 nodes of waves 1-2 all started before any of wave 3. */
    uint64_t last_w2 = wave_connect(w, 1, true);
    assert_true(wave_connect(w, 0, true) <= last_w2);
    assert_true(wave_connect(w, 2, false) > last_w2);
    assert_int_equal(w->starts[FU_PHASE_ACTIVATE], 0); /* no component needs a reboot */
    world_free(w);
    fu_fleet_free(f);
}

/* Nodes already at the baseline are skipped after inventory, never staged. */
static void test_skip_current(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(20, "  waves: 5\n");
    world_t *w = world_new(f, "2.0");
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_SKIPPED), 20);
    assert_int_equal(w->starts[FU_PHASE_STAGE], 0);
    world_free(w);
    fu_fleet_free(f);
}

static outcome_t fail_listed(world_t *w, uint32_t i, fu_phase_t ph, uint32_t attempt, uint64_t *d)
{
    const uint32_t *bad = w->ud;
    (void)attempt;
    *d = 1000 + (i % 7) * 100;
    if (ph != FU_PHASE_INSTALL)
        return OUT_OK;
    for (; *bad != UINT32_MAX; bad++)
        if (*bad == i)
            return OUT_FAIL;
    return OUT_OK;
}

/* max_fail: 3 halts on the 4th failure, not the 3rd; nodes in flight finish; the rest
 * are cancelled without starting. */
static void test_budget_exceeded_not_equalled(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(100, "  waves: 20\n  max_fail: 3\n");
    uint32_t three[] = {0, 1, 2, UINT32_MAX};
    world_t *w = world_new(f, "1.0");
    w->ud = three;
    w->behave = fail_listed;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_FAILED), 3);
    assert_int_equal(count_state(w, FU_NS_DONE), 97); /* equalled: goes on */
    world_free(w);

    uint32_t four[] = {0, 1, 2, 3, UINT32_MAX};
    w = world_new(f, "1.0");
    w->ud = four;
    w->behave = fail_listed;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_FINISHED);
    assert_non_null(st.halt_reason);
    assert_non_null(strstr(st.halt_reason, "max_fail"));
    assert_int_equal(st.by_state[FU_NS_FAILED], 4);
    /* The other 16 nodes of wave 1 were in flight: they finished. */
    assert_int_equal(st.by_state[FU_NS_DONE], 16);
    assert_int_equal(st.by_state[FU_NS_CANCELLED], 80);
    assert_int_equal(w->nstart_order, 20);
    world_free(w);
    fu_fleet_free(f);
}

/* retry-failed: after a halt on the budget, the failed nodes and the nodes the halt
 * never started run again; commands that do not apply say why and change nothing. */
static void test_operator_retry_failed(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(100, "  waves: 20\n  max_fail: 3\n");
    uint32_t four[] = {0, 1, 2, 3, UINT32_MAX}, none[] = {UINT32_MAX};
    world_t *w = world_new(f, "1.0");
    w->ud = four;
    w->behave = fail_listed;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_FINISHED);
    assert_int_equal(st.by_state[FU_NS_CANCELLED], 80);
    assert_non_null(fu_sched_operator(w->s, FU_OP_PROMOTE, w->now));
    assert_non_null(fu_sched_operator(w->s, FU_OP_PAUSE, w->now));
    assert_non_null(fu_sched_operator(w->s, FU_OP_ABORT, w->now));
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_FINISHED); /* refused commands changed nothing */
    w->ud = none; /* the installer works now */
    assert_null(fu_sched_operator(w->s, FU_OP_RETRY, w->now));
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_RUNNING);
    assert_null(st.halt_reason);
    world_run(w, UINT64_MAX);
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_FINISHED);
    assert_int_equal(st.by_state[FU_NS_DONE], 100);
    assert_null(st.halt_reason);
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(w->installs[i][0], 1);
    assert_non_null(fu_sched_operator(w->s, FU_OP_RETRY, w->now)); /* nothing to retry */
    world_free(w);

    /* While running: the failed nodes come back before the cursor; an aborted rollout's
     * cancelled nodes stay cancelled. */
    w = world_new(f, "1.0");
    w->ud = four;
    w->behave = fail_listed;
    world_start(w, NULL);
    fu_sched_stats(w->s, &st);
    for (uint64_t t = 0; st.run != FU_RUN_HALTED && t < 100000; t += 250) {
        world_run(w, t);
        fu_sched_stats(w->s, &st);
    }
    assert_int_equal(count_state(w, FU_NS_FAILED), 4);
    assert_int_equal(st.run, FU_RUN_HALTED);
    w->ud = none;
    assert_null(fu_sched_operator(w->s, FU_OP_ABORT, w->now));
    assert_non_null(fu_sched_operator(w->s, FU_OP_RETRY, w->now)); /* aborting: refused */
    world_run(w, UINT64_MAX);
    assert_null(fu_sched_operator(w->s, FU_OP_RETRY, w->now));
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_FAILED), 0);
    assert_int_equal(count_state(w, FU_NS_CANCELLED), 80);
    assert_int_equal(count_state(w, FU_NS_DONE), 20);
    world_free(w);
    fu_fleet_free(f);
    assert_int_equal(fu_operator_parse("retry"), FU_OP_RETRY);
    assert_int_equal(fu_operator_parse("reboot"), FU_OP__COUNT);
}

static outcome_t first_install_fails(world_t *w, uint32_t i, fu_phase_t ph, uint32_t attempt,
                                     uint64_t *d)
{
    (void)attempt;
    *d = 1000;
    return w->ud && i == 0 && ph == FU_PHASE_INSTALL ? OUT_FAIL : OUT_OK;
}

/* retry after a halt under max_per: the nodes the halt left on a label's blocked list
 * (then cancelled) come back once, not twice (a node chained to itself hung the loop). */
static void test_retry_after_halt_with_max_per(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(3, "  order: sorted\n  max_per: {rack: 1}\n  max_fail: 0\n  retries: 0\n");
    world_t *w = world_new(f, "1.0");
    w->behave = first_install_fails;
    w->ud = w; /* fail */
    w->max_per_label = "rack";
    w->max_per_limit = 1;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_FINISHED);
    assert_int_equal(st.by_state[FU_NS_FAILED], 1);
    assert_int_equal(st.by_state[FU_NS_CANCELLED], 2);
    w->ud = NULL; /* works now */
    assert_null(fu_sched_operator(w->s, FU_OP_RETRY, w->now));
    world_run(w, UINT64_MAX);
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_FINISHED);
    assert_int_equal(st.by_state[FU_NS_DONE], 3);
    assert_false(w->violated);
    world_free(w);
    fu_fleet_free(f);
}

/* An operator pause given while the canary waits outlasts promote. */
static void test_pause_outlasts_promote(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(30, "  waves: [1, 100%]\n  canary: true\n  promote: manual\n");
    world_t *w = world_new(f, "1.0");
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_AWAIT_PROMOTE);
    assert_null(fu_sched_operator(w->s, FU_OP_PAUSE, w->now));
    assert_null(fu_sched_operator(w->s, FU_OP_PROMOTE, w->now));
    world_run(w, UINT64_MAX);
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_PAUSED);
    assert_int_equal(st.by_state[FU_NS_PENDING], 29);
    assert_null(fu_sched_operator(w->s, FU_OP_RESUME, w->now));
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_DONE), 30);
    world_free(w);
    fu_fleet_free(f);
}

/* A per-wave budget in percent: 10% of a 20-node wave is 2. */
static void test_wave_budget_percent(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(60, "  waves: 20\n  max_fail: {wave: 10%}\n");
    uint32_t bad[] = {25, 26, 27, UINT32_MAX}; /* three in wave 2 */
    world_t *w = world_new(f, "1.0");
    w->ud = bad;
    w->behave = fail_listed;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    assert_non_null(st.halt_reason);
    assert_non_null(strstr(st.halt_reason, "wave 2"));
    assert_int_equal(st.by_state[FU_NS_CANCELLED], 20); /* wave 3 never started */
    world_free(w);
    fu_fleet_free(f);
}

static outcome_t random_durations(world_t *w, uint32_t i, fu_phase_t ph, uint32_t attempt, uint64_t *d)
{
    (void)w, (void)attempt;
    uint64_t x = (uint64_t)i * 2654435761u + (uint64_t)ph * 40503u;
    *d = 100 + (x % 5000);
    return OUT_OK;
}

/* max_per rack: 1 is checked after every transition; a window rollout never has more in
 * flight than its wave size. */
static void test_max_per_never_violated(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(500, "  waves: [5, 50]\n  mode: window\n  concurrency: 40\n"
                               "  max_per: {rack: 1}\n");
    world_t *w = world_new(f, "1.0");
    w->behave = random_durations;
    w->max_per_label = "rack";
    w->max_per_limit = 1;
    w->max_in_flight = 40;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    if (w->violated)
        fail_msg("%s", w->violation);
    assert_int_equal(count_state(w, FU_NS_DONE), 500);
    assert_int_equal(w->max_per_seen, 1);
    world_free(w);

    /* The same fleet with rack: 2 really uses two slots per rack. */
    fu_fleet_free(f);
    f = fleet(500, "  waves: 500\n  concurrency: 100\n  max_per: {rack: 2}\n");
    w = world_new(f, "1.0");
    w->behave = random_durations;
    w->max_per_label = "rack";
    w->max_per_limit = 2;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    if (w->violated)
        fail_msg("%s", w->violation);
    assert_int_equal(count_state(w, FU_NS_DONE), 500);
    assert_int_equal(w->max_per_seen, 2); /* the limit is used, not just respected */
    world_free(w);
    fu_fleet_free(f);
}

static void test_canary_manual_promote(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(30, "  waves: [1, 100%]\n  canary: true\n  promote: manual\n");
    world_t *w = world_new(f, "1.0");
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_AWAIT_PROMOTE);
    assert_int_equal(st.by_state[FU_NS_DONE], 1);
    assert_int_equal(st.by_state[FU_NS_PENDING], 29);
    w->now += 3600000; /* an hour later: still waiting */
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_PENDING), 29);
    fu_sched_operator(w->s, FU_OP_PROMOTE, w->now);
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_DONE), 30);
    world_free(w);
    fu_fleet_free(f);
}

static void test_pause_between_waves(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(20, "  waves: 10\n  pause_between: 10m\n");
    world_t *w = world_new(f, "1.0");
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_DONE), 20);
    /* Each node takes 5 phases of 1 s; wave 2 starts 10 minutes after wave 1 ended. */
    assert_int_equal(wave_connect(w, 1, false), wave_connect(w, 0, true) + 5000 + 600000);
    world_free(w);
    fu_fleet_free(f);

    f = fleet(20, "  waves: 10\n  pause_between: manual\n");
    w = world_new(f, "1.0");
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_DONE), 10);
    assert_int_equal(w->last_run, FU_RUN_PAUSED);
    fu_sched_operator(w->s, FU_OP_RESUME, w->now);
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_DONE), 20);
    world_free(w);
    fu_fleet_free(f);
}

/* Operator pause: nodes in flight go on, nothing new starts until resume. */
static void test_operator_pause_and_abort(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(50, "  concurrency: 5\n");
    world_t *w = world_new(f, "1.0");
    world_start(w, NULL);
    world_run(w, 2500); /* mid-way through the first five */
    fu_sched_operator(w->s, FU_OP_PAUSE, w->now);
    uint32_t started = w->nstart_order;
    world_run(w, 100000);
    assert_int_equal(w->nstart_order, started);
    assert_int_equal(count_state(w, FU_NS_DONE), started);
    fu_sched_operator(w->s, FU_OP_RESUME, w->now);
    world_run(w, w->now + 2500);
    assert_true(w->nstart_order > started);
    /* Abort: nodes not yet past inventory are cancelled, the rest finish. */
    fu_sched_operator(w->s, FU_OP_ABORT, w->now);
    world_run(w, UINT64_MAX);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_FINISHED);
    assert_int_equal(st.by_state[FU_NS_DONE] + st.by_state[FU_NS_CANCELLED], 50);
    assert_true(st.by_state[FU_NS_CANCELLED] >= 40);
    for (uint32_t i = 0; i < 50; i++)
        if (fu_sched_node(w->s, i)->state == FU_NS_CANCELLED)
            assert_int_equal(w->installs[i][0], 0);
    world_free(w);
    fu_fleet_free(f);
}

static outcome_t flaky_install(world_t *w, uint32_t i, fu_phase_t ph, uint32_t attempt, uint64_t *d)
{
    (void)w;
    *d = 1000;
    if (i == 3 && ph == FU_PHASE_INSTALL)
        return attempt < 2 ? OUT_FAIL : OUT_OK; /* fails twice, then works */
    if (i == 4 && ph == FU_PHASE_STAGE)
        return OUT_HANG;
    if (i == 5 && ph == FU_PHASE_CONNECT)
        return OUT_UNREACHABLE;
    return OUT_OK;
}

static outcome_t connect_hangs(world_t *w, uint32_t i, fu_phase_t ph, uint32_t attempt, uint64_t *d)
{
    (void)w, (void)attempt;
    *d = 1000;
    return ph == FU_PHASE_CONNECT && i > 0 ? OUT_HANG : OUT_OK;
}

/* A transport that holds a phase waiting for a shared slot stops its timeout; when the
 * phase begins, the timeout counts from then. */
static void test_phase_started_moves_timeout(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(3, "  timeouts: {connect: 30s}\n");
    world_t *w = world_new(f, "1.0");
    w->behave = connect_hangs;
    world_start(w, NULL);
    world_run(w, 0);
    fu_sched_phase_started(w->s, 1, FU_PHASE_CONNECT, 0, true); /* node 1 waits */
    world_run(w, 40000);
    assert_int_equal(fu_sched_node(w->s, 2)->state, FU_NS_UNREACHABLE); /* 30 s, as ever */
    assert_int_equal(fu_sched_node(w->s, 1)->state, FU_NS_ACTIVE);      /* no timeout */
    w->now = 40000;
    fu_sched_phase_started(w->s, 1, FU_PHASE_CONNECT, w->now, false); /* begins now */
    world_run(w, 69999);
    assert_int_equal(fu_sched_node(w->s, 1)->state, FU_NS_ACTIVE);
    world_run(w, 70000);
    assert_int_equal(fu_sched_node(w->s, 1)->state, FU_NS_UNREACHABLE); /* 40 s + 30 s */
    /* A stale call (another phase) changes nothing. */
    fu_sched_phase_started(w->s, 0, FU_PHASE_CONNECT, w->now, true);
    assert_int_equal(fu_sched_node(w->s, 0)->state, FU_NS_DONE);
    world_free(w);
    fu_fleet_free(f);
}

static void test_retries_timeouts_unreachable(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(10, "  retries: 2\n  backoff: 10s\n  jitter: false\n"
                              "  phase_retries: {stage: 0}\n  timeouts: {stage: 1m}\n"
                              "  max_fail: 1\n");
    world_t *w = world_new(f, "1.0");
    w->behave = flaky_install;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    assert_int_equal(fu_sched_node(w->s, 3)->state, FU_NS_DONE);
    assert_int_equal(w->attempt[3 * FU_PHASE__COUNT + FU_PHASE_INSTALL], 3);
    assert_int_equal(w->installs[3][0], 1);
    assert_int_equal(fu_sched_node(w->s, 4)->state, FU_NS_FAILED); /* hang -> timeout */
    assert_int_equal(fu_sched_node(w->s, 5)->state, FU_NS_UNREACHABLE);
    assert_int_equal(w->attempt[5 * FU_PHASE__COUNT + FU_PHASE_CONNECT], 3);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    /* One failure and one unreachable node: max_fail 1 is equalled, not exceeded;
     * unreachable nodes count apart. */
    assert_null(st.halt_reason);
    assert_int_equal(st.by_state[FU_NS_DONE], 8);
    world_free(w);

    /* With retries 1 the flaky node fails. */
    fu_fleet_free(f);
    f = fleet(10, "  retries: 1\n  backoff: 1s\n");
    w = world_new(f, "1.0");
    w->behave = flaky_install;
    world_start(w, NULL);
    world_run(w, 10000000);
    assert_int_equal(fu_sched_node(w->s, 3)->state, FU_NS_FAILED);
    assert_int_equal(w->installs[3][0], 0);
    world_free(w);
    fu_fleet_free(f);
}

static void names_in_order(fu_fleet_t *f, char *out, size_t len)
{
    uint32_t order[16], n;
    fu_sched_order(f, NULL, order, &n);
    out[0] = '\0';
    for (uint32_t i = 0; i < n; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s ", f->nodes[order[i]].name);
}

static void test_ordering(void **state)
{
    (void)state;
    const char *text = "fleetup: 1\nnodes:\n  c:\n  a:\n  b:\n  e:\n  d:\nrollout:\n  order: %s\n  seed: %d\n";
    char buf[256], a[128], b[128];
    fu_diag_t d;
    fu_diag_init(&d);
    snprintf(buf, sizeof(buf), text, "inventory", 0);
    fu_fleet_t *f = fu_fleet_load_buffer("o.yml", buf, strlen(buf), &d);
    names_in_order(f, a, sizeof(a));
    assert_string_equal(a, "c a b e d ");
    fu_fleet_free(f);
    snprintf(buf, sizeof(buf), text, "sorted", 0);
    f = fu_fleet_load_buffer("o.yml", buf, strlen(buf), &d);
    names_in_order(f, a, sizeof(a));
    assert_string_equal(a, "a b c d e ");
    fu_fleet_free(f);
    snprintf(buf, sizeof(buf), text, "shuffle", 7);
    f = fu_fleet_load_buffer("o.yml", buf, strlen(buf), &d);
    names_in_order(f, a, sizeof(a));
    names_in_order(f, b, sizeof(b));
    assert_string_equal(a, b); /* reproducible */
    fu_fleet_free(f);
    bool differs = false;
    for (int seed = 8; seed < 12 && !differs; seed++) {
        snprintf(buf, sizeof(buf), text, "shuffle", seed);
        f = fu_fleet_load_buffer("o.yml", buf, strlen(buf), &d);
        names_in_order(f, b, sizeof(b));
        differs = strcmp(a, b) != 0;
        fu_fleet_free(f);
    }
    assert_true(differs);
    fu_diag_free(&d);
}

static outcome_t slow_first_install(world_t *w, uint32_t i, fu_phase_t ph, uint32_t attempt, uint64_t *d)
{
    (void)w, (void)attempt;
    *d = i == 0 && ph == FU_PHASE_INSTALL ? 100000 : 1000;
    return OUT_OK;
}

/* Window mode slides across wave boundaries: one slow node does not hold the next wave. */
static void test_window_slides(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(6, "  waves: 2\n  mode: window\n");
    world_t *w = world_new(f, "1.0");
    w->behave = slow_first_install;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_DONE), 6);
    assert_true(w->connect_at[2] < 10000); /* not after node 0's 100 s install */
    world_free(w);
    fu_fleet_free(f);
}

/* An operator pause during the canary wave, then resume: the canary gate still holds. */
static void test_resume_keeps_canary_gate(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(10, "  waves: [2, 100%]\n  canary: true\n  promote: manual\n");
    world_t *w = world_new(f, "1.0");
    world_start(w, NULL);
    world_run(w, 500);
    fu_sched_operator(w->s, FU_OP_PAUSE, w->now);
    world_run(w, 60000);
    assert_int_equal(count_state(w, FU_NS_DONE), 2);
    fu_sched_operator(w->s, FU_OP_RESUME, w->now);
    world_run(w, UINT64_MAX);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    assert_int_equal(st.run, FU_RUN_AWAIT_PROMOTE);
    assert_int_equal(st.by_state[FU_NS_DONE], 2);
    world_free(w);
    fu_fleet_free(f);
}

/* An operator pause during a timed pause between waves outlasts the timer. */
static void test_operator_pause_outlasts_timed_pause(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(4, "  waves: 2\n  pause_between: 10m\n");
    world_t *w = world_new(f, "1.0");
    world_start(w, NULL);
    world_run(w, 60000); /* wave 1 done, in the 10 minute pause */
    fu_sched_operator(w->s, FU_OP_PAUSE, w->now);
    world_run(w, 3600000);
    assert_int_equal(count_state(w, FU_NS_DONE), 2);
    fu_sched_operator(w->s, FU_OP_RESUME, w->now);
    world_run(w, UINT64_MAX);
    assert_int_equal(count_state(w, FU_NS_DONE), 4);
    world_free(w);
    fu_fleet_free(f);
}

static outcome_t install_fails(world_t *w, uint32_t i, fu_phase_t ph, uint32_t attempt, uint64_t *d)
{
    (void)w, (void)i, (void)attempt;
    *d = 1000;
    return ph == FU_PHASE_INSTALL ? OUT_FAIL : OUT_OK;
}

/* Abort: a node waiting to retry a failed install is not retried. */
static void test_abort_cancels_retries(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(1, "  retries: 3\n  backoff: 1m\n  jitter: false\n");
    world_t *w = world_new(f, "1.0");
    w->behave = install_fails;
    world_start(w, NULL);
    world_run(w, 10000); /* install failed at 4 s; the retry is due at 64 s */
    assert_int_equal(fu_sched_node(w->s, 0)->state, FU_NS_RETRY);
    fu_sched_operator(w->s, FU_OP_ABORT, w->now);
    world_run(w, UINT64_MAX);
    assert_int_equal(fu_sched_node(w->s, 0)->state, FU_NS_CANCELLED);
    assert_int_equal(w->starts[FU_PHASE_INSTALL], 1);
    world_free(w);
    fu_fleet_free(f);
}

/* Percentages are exact: 69 failures are 4.6% of 1500, equalled, not exceeded. */
static void test_percent_exact(void **state)
{
    (void)state;
    fu_fleet_t *f = fleet(1500, "  max_fail: 4.6%\n  concurrency: 1500\n");
    uint32_t *bad = malloc(71 * sizeof(uint32_t));
    for (uint32_t k = 0; k < 69; k++)
        bad[k] = k * 20;
    bad[69] = UINT32_MAX;
    world_t *w = world_new(f, "1.0");
    w->ud = bad;
    w->behave = fail_listed;
    world_start(w, NULL);
    world_run(w, UINT64_MAX);
    fu_sched_stats_t st;
    fu_sched_stats(w->s, &st);
    assert_null(st.halt_reason);
    assert_int_equal(st.by_state[FU_NS_FAILED], 69);
    world_free(w);
    free(bad);
    fu_fleet_free(f);
    f = fleet(1, "  waves: 16.1%\n");
    uint32_t sizes[16];
    fu_sched_wave_sizes(&f->policy, 1000, sizes, 16);
    assert_int_equal(sizes[0], 161);
    fu_fleet_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wave_sizes),
        cmocka_unit_test(test_full_rollout),
        cmocka_unit_test(test_skip_current),
        cmocka_unit_test(test_budget_exceeded_not_equalled),
        cmocka_unit_test(test_wave_budget_percent),
        cmocka_unit_test(test_max_per_never_violated),
        cmocka_unit_test(test_canary_manual_promote),
        cmocka_unit_test(test_pause_between_waves),
        cmocka_unit_test(test_operator_pause_and_abort),
        cmocka_unit_test(test_retries_timeouts_unreachable),
        cmocka_unit_test(test_phase_started_moves_timeout),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_resume_keeps_canary_gate),
        cmocka_unit_test(test_operator_pause_outlasts_timed_pause),
        cmocka_unit_test(test_abort_cancels_retries),
        cmocka_unit_test(test_percent_exact),
        cmocka_unit_test(test_operator_retry_failed),
        cmocka_unit_test(test_retry_after_halt_with_max_per),
        cmocka_unit_test(test_pause_outlasts_promote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
