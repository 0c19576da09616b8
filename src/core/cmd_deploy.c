/* fleetup deploy FLEET | --resume ID: runs a rollout through the scheduler and journals
 * it; prints live progress on stderr and a summary at the end; writes the HTML report. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/journal.h"
#include "core/report.h"
#include "core/rollout.h"

static void help(void)
{
    printf("usage: fleetup deploy FLEET [--state-dir DIR] [--limit PATTERN] [--transport sim]\n"
           "                          [--virtual-time] [--sim-seed N] [--port N] [--ssl-port N]\n"
           "                          [--quiet] [--json]\n"
           "       fleetup deploy --resume ID [--state-dir DIR] [--promote]\n"
           "\n"
           "Runs a rollout: every selected node goes connect, inventory, plan, stage, install,\n"
           "activate (when a component needs a reboot), verify, in the waves and under the\n"
           "limits of the fleet's rollout: policy. Every transition is journaled in\n"
           "DIR/journal.db (SQLite) once per loop turn; after a crash or kill -9,\n"
           "'--resume ID' continues: finished nodes stay finished, nodes caught installing\n"
           "are re-inventoried first, so nothing is installed twice.\n"
           "\n"
           "  --state-dir DIR   journal and reports (default ./.fleetup)\n"
           "  --limit PATTERN   only these nodes (see 'fleetup nodes --help')\n"
           "  --transport sim   drive every node through the simulated transport (the fleet's\n"
           "                    sim: section sets durations and faults); nodes whose transport\n"
           "                    this build cannot drive are refused otherwise\n"
           "  --virtual-time    simulated nodes in virtual time: the rollout runs as fast as\n"
           "                    the CPU allows, times in the report are simulated\n"
           "  --sim-seed N      another seed for the simulated nodes' draws (sim: seed)\n"
           "  --port N, --ssl-port N  the package server's ports, when some node pulls its\n"
           "                    images (Redfish SimpleUpdate); flags > FLEETUP_PORT /\n"
           "                    FLEETUP_SSL_PORT > the fleet's server: > 63001/63002\n"
           "  --resume ID       continue rollout ID (its fleet file is read again and must\n"
           "                    list the same nodes)\n"
           "  --promote         with --resume: promote a canary / resume a manual pause\n"
           "  --json            print the summary as JSON on stdout\n"
           "  --quiet           no progress on stderr\n"
           "\n"
           "Ctrl-C aborts gracefully (nodes already installing finish); twice stops at once.\n"
           "exit: 0 every node done or already current, 1 some node failed, was unreachable or\n"
           "was not started (halted, aborted, waiting), 2 bad usage or invalid fleet.\n");
}

typedef struct {
    const char *state_dir, *limit, *fleet, *port, *ssl_port;
    int64_t resume;
    long long sim_seed; /* -1: the fleet's */
    bool sim, virtual_time, quiet, json, promote;
} deploy_args_t;

static int parse(int argc, char **argv, deploy_args_t *a)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'd'}, {"limit", required_argument, NULL, 'l'},
        {"transport", required_argument, NULL, 't'}, {"virtual-time", no_argument, NULL, 'v'},
        {"resume", required_argument, NULL, 'r'},    {"promote", no_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},           {"json", no_argument, NULL, 'j'},
        {"sim-seed", required_argument, NULL, 's'},  {"help", no_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'P'},      {"ssl-port", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0}};
    int c;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:l:t:vr:pqjs:hP:S:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->state_dir = optarg; break;
        case 'l': a->limit = optarg; break;
        case 't':
            if (strcmp(optarg, "sim") != 0)
                return fu_cli_usage_error("deploy", "--transport takes 'sim' (the other transports "
                                                    "are chosen per node by the fleet file)");
            a->sim = true;
            break;
        case 'v': a->virtual_time = true; break;
        case 'r':
            a->resume = strtoll(optarg, &end, 10);
            if (*end || a->resume <= 0)
                return fu_cli_usage_error("deploy", "--resume takes a rollout id (see 'fleetup history')");
            break;
        case 'p': a->promote = true; break;
        case 's':
            a->sim_seed = strtoll(optarg, &end, 10);
            if (*end || a->sim_seed < 0)
                return fu_cli_usage_error("deploy", "--sim-seed takes a whole number");
            break;
        case 'P': a->port = optarg; break;
        case 'S': a->ssl_port = optarg; break;
        case 'q': a->quiet = true; break;
        case 'j': a->json = true; break;
        case 'h': help(); exit(FU_EXIT_OK);
        default:
            return fu_cli_usage_error("deploy", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (a->resume && optind != argc)
        return fu_cli_usage_error("deploy", "--resume ID takes no FLEET: the journal names it");
    if (a->resume && a->limit)
        return fu_cli_usage_error("deploy", "--resume ID takes no --limit: it continues the nodes "
                                            "the rollout selected");
    if (!a->resume && optind != argc - 1)
        return fu_cli_usage_error("deploy", "expects exactly one FLEET file (or --resume ID)");
    if (!a->resume)
        a->fleet = argv[optind];
    return 0;
}

/* The fleet file of a journaled rollout; its options fill in what the command line
 * did not say (a rollout started with --transport sim resumes with it). */
static char *journaled_fleet(const char *dir, int64_t id, deploy_args_t *a)
{
    char err[512];
    fu_journal_t *j = fu_journal_open(dir, err, sizeof(err));
    if (j == NULL) {
        fprintf(stderr, "fleetup deploy: %s\n", err);
        return NULL;
    }
    fu_rollout_row_t row;
    char *fleet = NULL;
    if (fu_journal_rollout_get(j, id, &row) == 0) {
        fleet = strdup(row.fleet);
        a->sim |= row.options.force_sim;
        a->virtual_time |= row.options.virtual_time;
        if (a->sim_seed < 0)
            a->sim_seed = row.options.sim_seed;
        fu_journal_row_free(&row);
    } else {
        fprintf(stderr, "fleetup deploy: no rollout %lld in %s (see 'fleetup history --state-dir %s')\n",
                (long long)id, dir, dir);
    }
    fu_journal_close(j);
    return fleet;
}

static void write_html_report(const char *dir, int64_t id, char *path, size_t len)
{
    char err[512];
    path[0] = '\0';
    fu_journal_t *j = fu_journal_open(dir, err, sizeof(err));
    if (j == NULL)
        return;
    snprintf(path, len, "%s/rollout-%lld.html", dir, (long long)id);
    FILE *out = fopen(path, "w");
    if (out == NULL || fu_report_write(j, id, FU_REPORT_HTML, out, err, sizeof(err)) != 0)
        path[0] = '\0';
    if (out)
        fclose(out);
    fu_journal_close(j);
}

static void summary(const deploy_args_t *a, const fu_rollout_result_t *res, const char *report)
{
    const fu_sched_stats_t *st = &res->stats;
    if (a->json) {
        printf("{\"rollout\":%lld,\"state\":\"%s\",\"nodes\":%u", (long long)res->id,
               fu_run_state_name(st->run), st->nodes);
        for (int s = 0; s < FU_NS__COUNT; s++)
            printf(",\"%s\":%u", fu_node_state_name((fu_node_state_t)s), st->by_state[s]);
        printf(",\"elapsed_ms\":%llu,\"report\":\"%s\"}\n", (unsigned long long)res->elapsed_ms,
               report);
        return;
    }
    printf("rollout %lld %s after %.1f s: %u done, %u already current, %u failed, "
           "%u unreachable, %u not started\n",
           (long long)res->id, st->run == FU_RUN_FINISHED ? "finished" : fu_run_state_name(st->run),
           res->elapsed_ms / 1000.0, st->by_state[FU_NS_DONE], st->by_state[FU_NS_SKIPPED],
           st->by_state[FU_NS_FAILED], st->by_state[FU_NS_UNREACHABLE],
           st->by_state[FU_NS_CANCELLED] + st->by_state[FU_NS_PENDING]);
    if (st->halt_reason)
        printf("  stopped: %s\n", st->halt_reason);
    if (st->run == FU_RUN_AWAIT_PROMOTE || st->run == FU_RUN_PAUSED)
        printf("  waiting for an operator: continue with 'fleetup deploy --resume %lld --promote'\n",
               (long long)res->id);
    if (report[0])
        printf("  report: %s\n", report);
}

int fu_cmd_deploy(int argc, char **argv)
{
    deploy_args_t a = {.state_dir = ".fleetup", .sim_seed = -1};
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc;
    char *fleet_path = a.resume ? journaled_fleet(a.state_dir, a.resume, &a) : strdup(a.fleet);
    if (fleet_path == NULL)
        return FU_EXIT_USAGE;
    fu_fleet_t *f = fu_cli_load_fleet(fleet_path, false);
    free(fleet_path);
    signal(SIGPIPE, SIG_IGN); /* a BMC that hangs up is an error to report, not a signal */
    fu_raise_nofile();
    if (f == NULL)
        return FU_EXIT_USAGE;
    if (a.sim_seed >= 0)
        f->sim.seed = (uint64_t)a.sim_seed;
    fu_rollout_opts_t o = {
        .state_dir = a.state_dir,
        .limit = a.limit,
        .resume_id = a.resume,
        .virtual_time = a.virtual_time,
        .force_sim = a.sim,
        .promote = a.promote,
        .sim_seed = a.sim_seed,
        .port = a.port,
        .ssl_port = a.ssl_port,
        .progress = a.quiet ? FU_PROGRESS_NONE : isatty(2) ? FU_PROGRESS_TTY : FU_PROGRESS_LINES,
    };
    fu_rollout_result_t res;
    char err[1024];
    if (fu_rollout_run(f, &o, &res, err, sizeof(err)) != 0) {
        fprintf(stderr, "fleetup deploy: %s\n", err);
        fu_fleet_free(f);
        return FU_EXIT_USAGE;
    }
    if (res.journal_error[0]) {
        fprintf(stderr, "fleetup deploy: the journal could not be written (%s): the rollout "
                        "stopped with nothing unrecorded; once the state directory is writable, "
                        "continue with 'fleetup deploy --resume %lld --state-dir %s'\n",
                res.journal_error, (long long)res.id, a.state_dir);
        fu_fleet_free(f);
        return FU_EXIT_FAILURES;
    }
    char report[4096];
    write_html_report(a.state_dir, res.id, report, sizeof(report));
    summary(&a, &res, report);
    const fu_sched_stats_t *st = &res.stats;
    bool clean = st->run == FU_RUN_FINISHED &&
                 st->by_state[FU_NS_DONE] + st->by_state[FU_NS_SKIPPED] == st->nodes;
    fu_fleet_free(f);
    return clean ? FU_EXIT_OK : FU_EXIT_FAILURES;
}
