/* The rollout runner end to end in virtual time: sim transport, journal, resume. The
 * crash property: stop dead at a random transition (the turn in progress is lost, as in
 * a crash), resume from the journal, maybe crash again; every node ends done, current,
 * failed or unreachable exactly once, and no component is ever installed twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/fleet.h"
#include "core/report.h"
#include "core/rollout.h"

static char dir[] = "/tmp/fleetup-test-rollout-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), getenv("FU_KEEP") ? "true %s" : "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static fu_fleet_t *sim_fleet_rw(unsigned nodes, unsigned seed, const char *extra, bool rewrite);

static fu_fleet_t *sim_fleet(unsigned nodes, unsigned seed, const char *extra)
{
    return sim_fleet_rw(nodes, seed, extra, false);
}

static fu_fleet_t *sim_fleet_rw(unsigned nodes, unsigned seed, const char *extra, bool rewrite)
{
    char buf[4096];
    snprintf(buf, sizeof(buf),
             "fleetup: 1\n"
             "defaults: {transport: sim}\n"
             "nodes:\n  n[001:%03u]:\n    labels: {rack: r1}\n"
             "baseline:\n  components:\n"
             "    - {name: bios, version: '2.10', reboot: true}\n"
             "    - {name: nic, version: '22.41', after: [bios], rewrite: %s}\n"
             "rollout:\n  waves: [1, 10%%, 100%%]\n  concurrency: 12\n  retries: 1\n"
             "  backoff: 2s\n  timeouts: {install: 60s}\n%s"
             "sim:\n  seed: %u\n  time: virtual\n  spread: 0.6\n"
             "  durations: {connect: 100ms, inventory: 1s, stage: 3s, install: 20s, activate: 10s, verify: 1s}\n"
             "  fail: {install: 0.1, stage: 0.05}\n  hang: {install: 0.02}\n"
             "  unreachable: 5%%\n  current: 10%%\n",
             nodes, rewrite ? "true" : "false", extra, seed);
    fu_diag_t d;
    fu_diag_init(&d);
    fu_fleet_t *f = fu_fleet_load_buffer("sim.yml", buf, strlen(buf), &d);
    if (f == NULL) {
        fu_diag_print(&d, stderr);
        fail_msg("fleet did not load");
    }
    fu_diag_free(&d);
    return f;
}

static void state_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static long long query2(const char *db_path, const char *attach, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_open(db_path, &db) != SQLITE_OK)
        return -1;
    if (attach) {
        char *a = sqlite3_mprintf("ATTACH %Q AS world", attach);
        sqlite3_exec(db, a, NULL, NULL, NULL);
        sqlite3_free(a);
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static long long query(const char *db_path, const char *sql)
{
    return query2(db_path, NULL, sql);
}

static void test_runs_to_the_end(void **state)
{
    (void)state;
    char sd[256];
    state_dir(sd, sizeof(sd), "plain");
    fu_fleet_t *f = sim_fleet(80, 1, "");
    fu_rollout_opts_t o = {.state_dir = sd};
    fu_rollout_result_t res;
    char err[512];
    assert_int_equal(fu_rollout_run(f, &o, &res, err, sizeof(err)), 0);
    assert_int_equal(res.stats.run, FU_RUN_FINISHED);
    uint32_t ended = 0;
    for (int s = FU_NS_DONE; s < FU_NS__COUNT; s++)
        ended += res.stats.by_state[s];
    assert_int_equal(ended, 80);
    assert_true(res.stats.by_state[FU_NS_DONE] > 40);
    assert_true(res.stats.by_state[FU_NS_SKIPPED] > 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/journal.db", sd);
    /* The journal agrees with the scheduler, node by node. */
    assert_int_equal(query(path, "SELECT count(*) FROM rollout_nodes WHERE state = 4"),
                     res.stats.by_state[FU_NS_DONE]);
    assert_int_equal(query(path, "SELECT count(*) FROM rollouts WHERE state = 'finished'"), 1);
    /* Reports render from it. */
    FILE *out = tmpfile();
    char rerr[256];
    for (int fmt = FU_REPORT_JSON; fmt <= FU_REPORT_HTML; fmt++)
        assert_int_equal(fu_report_write_path(path, res.id, fmt, out, rerr, sizeof(rerr)), 0);
    fclose(out);
    fu_fleet_free(f);
}

/* One crash-and-resume cycle at a random transition, several times, then to the end. */
static void crash_and_resume(unsigned seed)
{
    char sd[256], name[32];
    snprintf(name, sizeof(name), "crash-%u", seed);
    state_dir(sd, sizeof(sd), name);
    fu_fleet_t *f = sim_fleet_rw(60, seed, "", seed % 2 == 0);
    uint64_t rng = seed * 2654435761u + 1;
    int64_t id = 0;
    fu_rollout_result_t res;
    char err[512];
    for (int round = 0; round < 4; round++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        fu_rollout_opts_t o = {.state_dir = sd, .resume_id = id,
                               .crash_after = round < 3 ? 1 + (rng >> 33) % 250 : 0};
        if (fu_rollout_run(f, &o, &res, err, sizeof(err)) != 0)
            fail_msg("seed %u round %d: %s", seed, round, err);
        id = res.id;
        if (!res.crashed)
            break;
    }
    assert_int_equal(res.stats.run, FU_RUN_FINISHED);
    char path[512], world[512];
    snprintf(path, sizeof(path), "%s/journal.db", sd);
    snprintf(world, sizeof(world), "%s/sim-world.db", sd);
    /* Every node ended, and ended exactly once (states 4..8 are terminal). */
    long long not_ended = query(path, "SELECT count(*) FROM rollout_nodes WHERE state < 4");
    long long twice = query(path, "SELECT count(*) FROM (SELECT idx FROM transitions "
                                  "WHERE to_state >= 4 GROUP BY idx HAVING count(*) > 1)");
    long long ended = query(path, "SELECT count(DISTINCT idx) FROM transitions WHERE to_state >= 4");
    long long installed_twice = query(world, "SELECT count(*) FROM installed WHERE installs > 1");
    /* bios needs a reboot: every node whose bios was installed went through activate,
     * crash or not (nic, rewritten on current nodes in half the seeds, needs none). */
    long long no_reboot = query2(path, world,
                                 "SELECT count(*) FROM rollout_nodes n JOIN world.installed i ON "
                                 "i.node = n.fleet_idx AND i.component = 0 AND i.installs > 0 "
                                 "WHERE NOT EXISTS (SELECT 1 FROM transitions t WHERE t.rollout = "
                                 "n.rollout AND t.idx = n.idx AND t.to_phase = 4)");
    if (not_ended != 0 || twice != 0 || ended != 60 || installed_twice != 0 || no_reboot != 0)
        fail_msg("seed %u: %lld not ended, %lld ended twice, %lld ended, %lld installed twice, "
                 "%lld done without a reboot", seed, not_ended, twice, ended, installed_twice,
                 no_reboot);
    fu_fleet_free(f);
}

static void test_crash_property(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 100; seed++)
        crash_and_resume(seed);
}

/* A resumed rollout refuses a fleet whose nodes changed. */
static void test_resume_needs_same_fleet(void **state)
{
    (void)state;
    char sd[256];
    state_dir(sd, sizeof(sd), "changed");
    fu_fleet_t *f = sim_fleet(30, 5, "");
    fu_rollout_opts_t o = {.state_dir = sd, .crash_after = 20};
    fu_rollout_result_t res;
    char err[512];
    assert_int_equal(fu_rollout_run(f, &o, &res, err, sizeof(err)), 0);
    assert_true(res.crashed);
    fu_fleet_free(f);
    f = sim_fleet(20, 5, "");
    o = (fu_rollout_opts_t){.state_dir = sd, .resume_id = res.id};
    assert_int_equal(fu_rollout_run(f, &o, &res, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "same fleet"));
    fu_fleet_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_to_the_end),
        cmocka_unit_test(test_crash_property),
        cmocka_unit_test(test_resume_needs_same_fleet),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
