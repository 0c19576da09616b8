/* Subcommand dispatch, top-level help, and the helpers every command shares. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/cli.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command_t;

static const command_t commands[] = {
    {"validate", fu_cmd_validate, "check a fleet file; every error as FILE:LINE:COL"},
    {"nodes", fu_cmd_nodes, "list the fleet's nodes after inheritance (--json, --limit)"},
    {"ports", fu_cmd_ports, "the ports each node needs, per phase and direction; firewall rules"},
    {"inventory", fu_cmd_inventory, "what every node runs, against the baseline (or its facts)"},
    {"plan", fu_cmd_plan, "what a rollout would do, per wave, node and component (touches nothing)"},
    {"deploy", fu_cmd_deploy, "run a rollout in waves, journaled; --resume ID after a crash"},
    {"history", fu_cmd_history, "the rollouts journaled in a state directory"},
    {"report", fu_cmd_report, "a rollout's report: json, junit, csv or html"},
    {"serve", fu_cmd_serve, "the service: rollouts submitted through its API, dashboard, packages, metrics"},
    {"token", fu_cmd_token, "a node's token for the server's node-facing routes"},
    {"status", fu_cmd_status, "the rollouts of a running 'fleetup serve', or one of them"},
    {"submit", fu_cmd_submit, "start a rollout of a fleet file in the service"},
    {"pause", fu_cmd_pause, "a rollout in the service stops starting nodes"},
    {"resume", fu_cmd_resume, "a paused rollout in the service goes on"},
    {"abort", fu_cmd_abort, "cancel a rollout's nodes not yet past inventory"},
    {"promote", fu_cmd_promote, "pass a rollout's canary gate (promote: manual)"},
    {"retry", fu_cmd_retry, "a rollout's failed and unreachable nodes start again"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fleetup COMMAND [ARGS...]\n"
            "\n"
            "fleetup inventories and updates the firmware and software of server fleets:\n"
            "operating systems over SSH, BMCs such as iLO over Redfish, in waves under a\n"
            "failure budget. A FLEET is a fleetup fleet file (starts with 'fleetup: 1') or an\n"
            "unchanged Ansible YAML inventory.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "examples:\n"
            "  fleetup validate inventories/datacenter.yml\n"
            "  fleetup nodes inventories/ansible-hosts.yml --limit 'web:&rack=r01' --json\n"
            "  fleetup ports inventories/datacenter.yml --firewall nft > fleetup.nft\n"
            "  fleetup inventory inventories/sim-demo.yml --json inventory.json\n"
            "  fleetup serve --state-dir /var/lib/fleetup &   # then https://HOST:63002/\n"
            "  fleetup submit inventories/sim-demo.yml --state-dir /var/lib/fleetup\n"
            "\n"
            "'fleetup COMMAND --help' explains a command. Exit codes: 0 success, 1 work done\n"
            "with failures, 2 bad usage or bad input. The fleet file format: docs/fleet-file.md.\n");
}

int fu_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FU_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            char *args[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[2], commands[i].name) == 0)
                    return commands[i].fn(2, args);
        }
        usage(stdout);
        return FU_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("fleetup %s\n", FU_VERSION);
        return FU_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "fleetup: unknown command '%s'\n", cmd);
    usage(stderr);
    return FU_EXIT_USAGE;
}

int fu_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fleetup %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'fleetup %s --help'\n", cmd);
    return FU_EXIT_USAGE;
}

bool fu_cli_parse_port(const char *s, uint16_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno || v < 1 || v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

fu_fleet_t *fu_cli_load_fleet(const char *path, bool json)
{
    fu_diag_t d;
    fu_diag_init(&d);
    fu_fleet_t *f = fu_fleet_load(path, &d);
    if (json && f == NULL) {
        fu_diag_print_json(&d, stdout);
    } else {
        fu_diag_print(&d, stderr);
    }
    if (f == NULL)
        fprintf(stderr, "fleetup: %s: %zu error%s; nothing was done\n", path, d.errors,
                d.errors == 1 ? "" : "s");
    fu_diag_free(&d);
    return f;
}

void fu_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

bool fu_cli_parse_progress(const char *s, fu_progress_t *out)
{
    if (strcmp(s, "auto") == 0)
        *out = isatty(2) ? FU_PROGRESS_TTY : FU_PROGRESS_LINES;
    else if (strcmp(s, "tty") == 0)
        *out = FU_PROGRESS_TTY;
    else if (strcmp(s, "plain") == 0)
        *out = FU_PROGRESS_LINES;
    else if (strcmp(s, "none") == 0)
        *out = FU_PROGRESS_NONE;
    else
        return false;
    return true;
}

void fu_cli_progress_line(fu_progress_t mode, const char *line, bool final)
{
    if (mode == FU_PROGRESS_NONE)
        return;
    if (mode == FU_PROGRESS_TTY) {
        fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
    } else {
        time_t now = time(NULL);
        struct tm tm;
        char ts[32];
        strftime(ts, sizeof(ts), "%H:%M:%S", localtime_r(&now, &tm));
        fprintf(stderr, "%s %s\n", ts, line);
    }
    fflush(stderr);
}

void fu_cli_duration(char *buf, size_t len, uint64_t ms)
{
    uint64_t s = ms / 1000;
    if (s >= 3600)
        snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
    else
        snprintf(buf, len, "%llu.%llus", (unsigned long long)s, (unsigned long long)(ms % 1000 / 100));
}
