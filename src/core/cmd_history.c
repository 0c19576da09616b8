/* fleetup history and fleetup report: reading the journal back. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cli.h"
#include "core/journal.h"
#include "core/jsonw.h"
#include "core/report.h"
#include "core/scheduler.h"

static fu_journal_t *open_existing(const char *cmd, const char *dir)
{
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/journal.db", dir);
    FILE *probe = fopen(path, "r");
    if (probe == NULL) {
        fprintf(stderr, "fleetup %s: no journal in '%s' (no rollout ran there; --state-dir DIR "
                        "names another)\n", cmd, dir);
        return NULL;
    }
    fclose(probe);
    fu_journal_t *j = fu_journal_open(dir, err, sizeof(err));
    if (j == NULL)
        fprintf(stderr, "fleetup %s: %s\n", cmd, err);
    return j;
}

typedef struct {
    bool json;
    fu_jsonw_t *w;
    unsigned rows;
} history_ctx_t;

static void history_row(void *ud, const fu_rollout_row_t *r)
{
    history_ctx_t *c = ud;
    c->rows++;
    uint32_t bad = r->by_state[FU_NS_FAILED] + r->by_state[FU_NS_UNREACHABLE];
    if (c->json) {
        fu_jsonw_t *w = c->w;
        fu_jsonw_begin(w, '{');
        fu_jsonw_key(w, "id");
        fu_jsonw_int(w, r->id);
        fu_jsonw_key(w, "fleet");
        fu_jsonw_str(w, r->fleet);
        fu_jsonw_key(w, "limit");
        fu_jsonw_str(w, r->limit);
        fu_jsonw_key(w, "state");
        fu_jsonw_str(w, r->state);
        fu_jsonw_key(w, "reason");
        fu_jsonw_str(w, r->reason);
        fu_jsonw_key(w, "started_ms");
        fu_jsonw_int(w, r->started_ms);
        fu_jsonw_key(w, "finished_ms");
        fu_jsonw_int(w, r->finished_ms);
        fu_jsonw_key(w, "nodes");
        fu_jsonw_int(w, r->nodes);
        for (int s = 0; s < FU_NS__COUNT; s++) {
            fu_jsonw_key(w, fu_node_state_name((fu_node_state_t)s));
            fu_jsonw_int(w, r->by_state[s]);
        }
        fu_jsonw_end(w, '}');
        return;
    }
    time_t t = (time_t)(r->started_ms / 1000);
    struct tm tm;
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
    printf("%5lld  %s  %-16s  %6u  %6u  %6u  %6u  %s\n", (long long)r->id, ts, r->state, r->nodes,
           r->by_state[FU_NS_DONE] + r->by_state[FU_NS_SKIPPED], bad,
           r->by_state[FU_NS_PENDING] + r->by_state[FU_NS_CANCELLED], r->fleet);
}

int fu_cmd_history(int argc, char **argv)
{
    static const struct option opts[] = {{"state-dir", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = ".fleetup";
    history_ctx_t c = {0};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "d:jh", opts, NULL)) != -1) {
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'j': c.json = true; break;
        case 'h':
            printf("usage: fleetup history [--state-dir DIR] [--json]\n\n"
                   "The rollouts journaled in DIR (default ./.fleetup), oldest first: id, start,\n"
                   "state, nodes, ended well (done or already current), failed or unreachable,\n"
                   "not started, fleet file. 'fleetup report ID' shows one.\n");
            return FU_EXIT_OK;
        default: return fu_cli_usage_error("history", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return fu_cli_usage_error("history", "takes no arguments");
    fu_journal_t *j = open_existing("history", dir);
    if (j == NULL)
        return FU_EXIT_USAGE;
    if (c.json) {
        c.w = malloc(sizeof(*c.w));
        fu_jsonw_init(c.w, stdout);
        fu_jsonw_begin(c.w, '[');
    } else {
        printf("%5s  %-19s  %-16s  %6s  %6s  %6s  %6s  %s\n", "ID", "STARTED", "STATE", "NODES",
               "OK", "FAILED", "NOT RUN", "FLEET");
    }
    fu_journal_rollouts(j, history_row, &c);
    if (c.json) {
        fu_jsonw_end(c.w, ']');
        fu_jsonw_raw(c.w, "\n");
        fu_jsonw_flush(c.w);
        free(c.w);
    }
    fu_journal_close(j);
    return FU_EXIT_OK;
}

int fu_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"state-dir", required_argument, NULL, 'd'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = ".fleetup", *output = NULL;
    fu_report_format_t fmt = FU_REPORT_JSON;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "d:f:o:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'o': output = optarg; break;
        case 'f':
            if (fu_report_format_parse(optarg, &fmt) != 0)
                return fu_cli_usage_error("report", "--format is json, junit, csv or html, not '%s'", optarg);
            break;
        case 'h':
            printf("usage: fleetup report ID [--format json|junit|csv|html] [--state-dir DIR] [-o FILE]\n\n"
                   "The report of rollout ID (see 'fleetup history'):\n"
                   "  json   summary and every node's final state, phase, attempts and reason\n"
                   "  junit  one testsuite per wave, one testcase per node; failed and\n"
                   "         unreachable nodes are failures, nodes not started are skipped\n"
                   "  csv    node,wave,state,phase,attempts,finished_at_ms,reason\n"
                   "  html   one self-contained page: summary, waves, an SVG timeline of every\n"
                   "         node's phases, failures with reasons (deploy writes it to\n"
                   "         DIR/rollout-ID.html)\n");
            return FU_EXIT_OK;
        default: return fu_cli_usage_error("report", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    char *end;
    long long id = optind == argc - 1 ? strtoll(argv[optind], &end, 10) : 0;
    if (optind != argc - 1 || *end || id <= 0)
        return fu_cli_usage_error("report", "expects one rollout ID (see 'fleetup history')");
    fu_journal_t *j = open_existing("report", dir);
    if (j == NULL)
        return FU_EXIT_USAGE;
    FILE *out = output ? fopen(output, "w") : stdout;
    if (out == NULL) {
        fprintf(stderr, "fleetup report: cannot write '%s'\n", output);
        fu_journal_close(j);
        return FU_EXIT_USAGE;
    }
    char err[512];
    int rc = fu_report_write(j, id, fmt, out, err, sizeof(err));
    if (output)
        fclose(out);
    fu_journal_close(j);
    if (rc != 0) {
        fprintf(stderr, "fleetup report: %s\n", err);
        return FU_EXIT_USAGE;
    }
    return FU_EXIT_OK;
}
