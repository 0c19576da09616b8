/* fleetup plan FLEET: what a rollout would do, per wave, node and component, from the
 * fleet file alone: no node is contacted. Installed versions are not known before the
 * inventory phase, so each applicable component shows the version it would be brought to. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/jsonw.h"
#include "core/plan.h"
#include "core/scheduler.h"

static void help(void)
{
    printf("usage: fleetup plan FLEET [--limit PATTERN] [--json]\n\n"
           "Prints the rollout FLEET's policy would run, without touching any node: the waves\n"
           "(sizes from rollout.waves), each node in rollout order with its wave, and the\n"
           "baseline components that apply to it in install order (after:), with the target\n"
           "version and whether a reboot follows. Which of them a node really needs is\n"
           "decided by its inventory at deploy time (older: install; same: skip; newer: skip\n"
           "unless allow_downgrade).\n");
}

static void components_of(const fu_fleet_t *f, const fu_node_t *n, const uint32_t *order,
                          uint32_t nord, uint32_t *out, uint32_t *nout, bool *reboot)
{
    *nout = 0;
    *reboot = false;
    for (uint32_t k = 0; k < nord; k++) {
        const fu_component_t *c = &f->baseline.components[order[k]];
        if (fu_component_applies(f, c, n)) {
            out[(*nout)++] = order[k];
            *reboot |= c->reboot;
        }
    }
}

int fu_cmd_plan(int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *limit = NULL;
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "l:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'l': limit = optarg; break;
        case 'j': json = true; break;
        case 'h': help(); return FU_EXIT_OK;
        default: return fu_cli_usage_error("plan", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return fu_cli_usage_error("plan", "expects exactly one FLEET file");
    fu_fleet_t *f = fu_cli_load_fleet(argv[optind], false);
    if (f == NULL)
        return FU_EXIT_USAGE;
    bool *sel = malloc((f->nnodes + 1) * sizeof(bool));
    uint32_t *nodes = malloc((f->nnodes + 1) * sizeof(uint32_t)), n;
    for (size_t i = 0; i < f->nnodes; i++)
        sel[i] = true;
    char err[512];
    if (limit && fu_limit_select(f, limit, sel, err, sizeof(err)) != 0) {
        free(sel);
        free(nodes);
        fu_fleet_free(f);
        return fu_cli_usage_error("plan", "%s", err);
    }
    fu_sched_order(f, sel, nodes, &n);
    uint32_t nwaves = fu_sched_wave_sizes(&f->policy, n, NULL, UINT32_MAX);
    uint32_t *sizes = malloc((nwaves + 1) * sizeof(uint32_t));
    fu_sched_wave_sizes(&f->policy, n, sizes, nwaves);
    uint32_t order[FU_MAX_COMPONENTS], nord = fu_plan_order(f, order), comps[FU_MAX_COMPONENTS], nc;
    bool reboot;
    fu_jsonw_t *w = malloc(sizeof(*w));
    fu_jsonw_init(w, stdout);
    if (json) {
        fu_jsonw_begin(w, '{');
        fu_jsonw_key(w, "waves");
        fu_jsonw_begin(w, '[');
    } else {
        printf("%u nodes in %u waves (%s mode", n, nwaves,
               f->policy.mode == FU_MODE_WINDOW ? "window" : "barrier");
        if (f->policy.concurrency)
            printf(", at most %u in flight", f->policy.concurrency);
        for (size_t k = 0; k < f->policy.nmax_per; k++)
            printf(", at most %u per %s", f->policy.max_per[k].max, f->policy.max_per[k].label);
        printf(")\n");
    }
    for (uint32_t wv = 0, at = 0; wv < nwaves; wv++) {
        if (json) {
            fu_jsonw_begin(w, '{');
            fu_jsonw_key(w, "wave");
            fu_jsonw_int(w, wv + 1);
            fu_jsonw_key(w, "nodes");
            fu_jsonw_begin(w, '[');
        } else {
            printf("\nwave %u: %u node%s%s\n", wv + 1, sizes[wv], sizes[wv] == 1 ? "" : "s",
                   wv == 0 && f->policy.canary ? " (canary)" : "");
        }
        for (uint32_t k = 0; k < sizes[wv]; k++, at++) {
            const fu_node_t *node = &f->nodes[nodes[at]];
            components_of(f, node, order, nord, comps, &nc, &reboot);
            if (json) {
                fu_jsonw_begin(w, '{');
                fu_jsonw_key(w, "name");
                fu_jsonw_str(w, node->name);
                fu_jsonw_key(w, "reboot");
                fu_jsonw_bool(w, reboot);
                fu_jsonw_key(w, "components");
                fu_jsonw_begin(w, '[');
                for (uint32_t x = 0; x < nc; x++) {
                    fu_jsonw_begin(w, '{');
                    fu_jsonw_key(w, "name");
                    fu_jsonw_str(w, f->baseline.components[comps[x]].name);
                    fu_jsonw_key(w, "version");
                    fu_jsonw_str(w, f->baseline.components[comps[x]].version);
                    fu_jsonw_end(w, '}');
                }
                fu_jsonw_end(w, ']');
                fu_jsonw_end(w, '}');
                continue;
            }
            fu_jsonw_flush(w);
            printf("  %-24s", node->name);
            if (nc == 0)
                printf(" (no baseline component applies)");
            for (uint32_t x = 0; x < nc; x++)
                printf("%s %s -> %s", x ? "," : "", f->baseline.components[comps[x]].name,
                       f->baseline.components[comps[x]].version);
            printf("%s\n", reboot ? ", then reboot" : "");
        }
        if (json) {
            fu_jsonw_end(w, ']');
            fu_jsonw_end(w, '}');
        }
    }
    if (json) {
        fu_jsonw_end(w, ']');
        fu_jsonw_end(w, '}');
        fu_jsonw_raw(w, "\n");
    }
    fu_jsonw_flush(w);
    free(w);
    free(sizes);
    free(sel);
    free(nodes);
    fu_fleet_free(f);
    return FU_EXIT_OK;
}
