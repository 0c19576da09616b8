/* Scheduler benchmark: a rollout of N simulated nodes in virtual time through the real
 * runner (scheduler, sim transport, timers, optionally the journal).
 *   bench_sched cost N [journal|nojournal] STATE_DIR   zero-duration phases: CPU per
 *       transition, transitions/s and memory per node
 *   bench_sched makespan N CONCURRENCY virtual|real DIR  drawn durations: the rollout's
 *       makespan against the ideal computed from the policy and the same draws
 * Prints one line of key=value pairs for bench_scheduler.sh to tabulate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/fleet.h"
#include "core/rollout.h"
#include "core/scheduler.h"
#include "transports/sim.h"

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0)
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static fu_fleet_t *make_fleet(unsigned n, const char *rollout, const char *sim)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "fleetup: 1\ndefaults: {transport: sim}\nnodes:\n  n[0000001:%07u]:\n"
             "baseline:\n  components:\n    - {name: bios, version: '2.10', reboot: true}\n"
             "    - {name: nic, version: '22.41', after: [bios]}\n"
             "rollout:\n%s\nsim:\n%s\n",
             n, rollout, sim);
    fu_diag_t d;
    fu_diag_init(&d);
    fu_fleet_t *f = fu_fleet_load_buffer("bench.yml", buf, strlen(buf), &d);
    if (f == NULL) {
        fu_diag_print(&d, stderr);
        exit(2);
    }
    fu_diag_free(&d);
    return f;
}

static int cost(unsigned n, bool journal, const char *dir)
{
    fu_fleet_t *f = make_fleet(n, "  waves: [1, 5%, 25%, 100%]\n  concurrency: 2000",
                               "  time: virtual\n  spread: 0\n  durations: {connect: 0, inventory: 0, stage: 0, "
                               "install: 0, activate: 0, verify: 0}");
    long rss_fleet = status_kb("VmRSS:");
    fu_rollout_opts_t o = {.state_dir = dir, .no_journal = !journal, .sim_in_memory = true};
    fu_rollout_result_t res;
    char err[512];
    double c0 = cpu_seconds();
    struct timespec w0, w1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    if (fu_rollout_run(f, &o, &res, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_sched: %s\n", err);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &w1);
    double cpu = cpu_seconds() - c0;
    double wall = (w1.tv_sec - w0.tv_sec) + (w1.tv_nsec - w0.tv_nsec) / 1e9;
    long peak = status_kb("VmHWM:");
    uint32_t done = res.stats.by_state[FU_NS_DONE];
    printf("mode=cost nodes=%u journal=%d transitions=%llu done=%u cpu_s=%.3f wall_s=%.3f "
           "us_per_transition=%.3f transitions_per_s=%.0f peak_rss_kb=%ld fleet_rss_kb=%ld "
           "bytes_per_node=%.0f\n",
           n, journal, (unsigned long long)res.stats.transitions, done, cpu, wall,
           cpu * 1e6 / (double)res.stats.transitions, res.stats.transitions / wall, peak, rss_fleet,
           peak * 1024.0 / n);
    fu_fleet_free(f);
    return done == n ? 0 : 1;
}

/* The ideal makespan: the policy executed by a reference model with no overhead at all.
 * Barrier waves in rollout order; within a wave a node starts the moment a slot is free
 * (at most CONCURRENCY at once), takes the sum of its drawn phase durations, and the next
 * wave starts when the last node of this one ends. Independent of the scheduler's code. */
static double ideal_ms(const fu_fleet_t *f, fu_transport_t *sim, unsigned n, unsigned conc)
{
    uint32_t sizes[64], nw = fu_sched_wave_sizes(&f->policy, n, sizes, 64);
    uint64_t t = 0;
    uint64_t *slots = calloc(conc ? conc : n, sizeof(uint64_t)); /* when each slot frees */
    for (uint32_t w = 0, at = 0; w < nw; w++) {
        unsigned width = conc && conc < sizes[w] ? conc : sizes[w];
        for (unsigned k = 0; k < width; k++)
            slots[k] = t;
        uint64_t end = t;
        for (uint32_t k = 0; k < sizes[w]; k++, at++) {
            uint64_t d = 0;
            for (int ph = 0; ph < FU_PHASE__COUNT; ph++)
                d += fu_sim_duration(sim, at, (fu_phase_t)ph, 0);
            /* the earliest free slot: slots[] is kept sorted */
            uint64_t start = slots[0], fin = start + d;
            unsigned pos = 0;
            while (pos + 1 < width && slots[pos + 1] < fin) {
                slots[pos] = slots[pos + 1];
                pos++;
            }
            slots[pos] = fin;
            if (fin > end)
                end = fin;
        }
        t = end;
    }
    free(slots);
    return (double)t;
}

static int makespan(unsigned n, unsigned conc, bool virtual_time, const char *dir)
{
    char rollout[256], sim[512];
    snprintf(rollout, sizeof(rollout), "  waves: [1, 5%%, 25%%, 100%%]%s%u", conc ? "\n  concurrency: " : "", conc);
    if (!conc)
        snprintf(rollout, sizeof(rollout), "  waves: [1, 5%%, 25%%, 100%%]");
    /* Real time: phases of tens to hundreds of ms, so a run takes seconds. */
    snprintf(sim, sizeof(sim), "  seed: 11\n  spread: 0.5\n  time: %s\n  durations: {connect: 20ms, "
             "inventory: 50ms, stage: 100ms, install: 400ms, activate: 300ms, verify: 50ms}",
             virtual_time ? "virtual" : "real");
    fu_fleet_t *f = make_fleet(n, rollout, sim);
    fu_timers_t timers;
    fu_timers_init(&timers);
    const char *terr;
    fu_transport_t *t = fu_sim_new(f, &timers, NULL, &terr);
    double ideal = ideal_ms(f, t, n, conc);
    t->vt->destroy(t);
    fu_timers_free(&timers);
    fu_rollout_opts_t o = {.state_dir = dir, .no_journal = true, .virtual_time = virtual_time};
    fu_rollout_result_t res;
    char err[512];
    double c0 = cpu_seconds();
    if (fu_rollout_run(f, &o, &res, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_sched: %s\n", err);
        return 2;
    }
    double cpu = cpu_seconds() - c0;
    printf("mode=makespan time=%s nodes=%u concurrency=%u makespan_s=%.3f ideal_s=%.3f ratio=%.4f "
           "done=%u cpu_s=%.3f cpu_us_per_node=%.1f\n",
           virtual_time ? "virtual" : "real", n, conc, res.elapsed_ms / 1000.0, ideal / 1000.0,
           res.elapsed_ms / ideal, res.stats.by_state[FU_NS_DONE], cpu, cpu * 1e6 / n);
    fu_fleet_free(f);
    return res.stats.by_state[FU_NS_DONE] == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "cost") == 0)
        return cost((unsigned)atoi(argv[2]), strcmp(argv[3], "journal") == 0, argv[4]);
    if (argc == 6 && strcmp(argv[1], "makespan") == 0)
        return makespan((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]),
                        strcmp(argv[4], "virtual") == 0, argv[5]);
    fprintf(stderr, "usage: bench_sched cost N journal|nojournal DIR\n"
                    "       bench_sched makespan N CONCURRENCY(0: none) virtual|real DIR\n");
    return 2;
}
