/* `fleetup ports`: which TCP ports a fleet needs in each direction and phase, beside the
 * HP SUM seed table, with the server ports' precedence (flag > env > fleet file > default)
 * and firewall rules (nft, iptables, ESXi) generated from the same plan. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/loader.h"
#include "core/ports.h"
#include "core/ports_check.h"

typedef enum { FW_NONE, FW_NFT, FW_IPTABLES, FW_IP6TABLES, FW_ESXI } firewall_t;

typedef struct {
    const char *fleet;
    const char *port, *ssl_port, *limit; /* NULL when not given */
    const char *timeout, *concurrency;   /* --check's, NULL when not given */
    fu_ports_check_opts_t check_opts;
    firewall_t firewall;
    bool json, seed_table, check, help;
} ports_opts_t;

static const char help_text[] =
    "usage: fleetup ports FLEET [--json] [--port N] [--ssl-port N]\n"
    "                     [--firewall nft|iptables|ip6tables|esxi] [--limit PATTERN]\n"
    "       fleetup ports [FLEET] --seed-table [--json]\n"
    "       fleetup ports FLEET --check [--json] [--limit PATTERN] [--timeout SECONDS]\n"
    "                     [--concurrency N] [--port N] [--ssl-port N]\n"
    "\n"
    "Which TCP ports must be open between the host running fleetup and each node of\n"
    "FLEET, per phase, next to what HP SUM's port table (the seed) asked for.\n"
    "\n"
    "Table columns (one line per group of alike nodes and phase):\n"
    "  TYPE       node type (linux, windows, hpux, vmware, oa, ilo, ..., bmc)\n"
    "  NODES      how many nodes share this line\n"
    "  TRANSPORT  ssh, redfish, local or sim (local and sim need no port)\n"
    "  CALLBACK   pull/http, pull/https or push\n"
    "  PHASE      inventory or deployment\n"
    "  TO NODE    ports fleetup connects to on the node (SSH, or Redfish on the\n"
    "             mgmt_address when the node has one)\n"
    "  FROM NODE  ports the node connects to on fleetup's server: only pull mode, only\n"
    "             in deployment (port for http, ssl_port for https); push needs none\n"
    "  NOTE       where fleetup differs from the seed for these nodes\n"
    "\n"
    "Server ports, first found wins, and the source is printed beside each:\n"
    "  --port N / --ssl-port N         (flag)\n"
    "  FLEETUP_PORT / FLEETUP_SSL_PORT (env; an empty value counts as unset)\n"
    "  server: port / ssl_port         (fleet file)\n"
    "  63001 / 63002                   (default)\n"
    "  A value outside 1..65535, or port equal to ssl_port, is an error (exit 2).\n"
    "\n"
    "Options:\n"
    "  --json          one JSON object: server ports and sources, rows (with the seed's\n"
    "                  ports for the type) and per-node ports. Seed ports are integers;\n"
    "                  the seed's optional ones, like (80), are also listed in the\n"
    "                  phase's \"optional\" array.\n"
    "  --seed-table    print the seed's table for every node type (FLEET not needed)\n"
    "  --limit PAT     only nodes matching PAT (names, groups, globs, ~regex,\n"
    "                  label=value; ',' or ':' for union, '&' intersect, '!' exclude)\n"
    "  --firewall FMT  rules for the host running fleetup, or for ESXi nodes:\n"
    "    nft        an nftables table 'inet fleetup': incoming callbacks from pull-mode\n"
    "               nodes, outgoing transport connections to every node. Idempotent:\n"
    "                 fleetup ports fleet.yml --firewall nft > fleetup.nft\n"
    "                 nft -c -f fleetup.nft && nft -f fleetup.nft\n"
    "    iptables   iptables-restore input (IPv4) filling chains FLEETUP-IN/FLEETUP-OUT:\n"
    "                 fleetup ports fleet.yml --firewall iptables > fleetup.rules\n"
    "                 iptables-restore --noflush < fleetup.rules\n"
    "                 iptables -I INPUT -j FLEETUP-IN; iptables -I OUTPUT -j FLEETUP-OUT\n"
    "    ip6tables  the same for IPv6 addresses (ip6tables-restore)\n"
    "    esxi       the ESXi firewall service XML that opens outgoing TCP to the\n"
    "               callback port(s) (stdout), the steps to install it (stderr):\n"
    "                 fleetup ports fleet.yml --firewall esxi > fleetup.xml\n"
    "                 scp fleetup.xml root@esx1:/etc/vmware/firewall/fleetup.xml\n"
    "                 ssh root@esx1 esxcli network firewall refresh\n"
    "               Nodes given by hostname are listed in a comment, not in rules:\n"
    "               resolve them yourself (a firewall must not depend on DNS).\n"
    "  -h, --help      this help\n"
    "\n"
    "Checking the plan against the fleet (--check), before a rollout:\n"
    "  to node     a TCP connect to every to-node port of every selected node (its\n"
    "              address, or mgmt_address for Redfish): open, refused, timeout or\n"
    "              unreachable (with the system's reason)\n"
    "  from node   pull-mode SSH nodes whose SSH port is open: fleetup logs in and its\n"
    "              agent tries to connect to fleetup's port (http) or ssl_port (https)\n"
    "              at server.callback_address, else at the address the node sees\n"
    "              fleetup on. Meanwhile fleetup listens there (server.bind, else\n"
    "              0.0.0.0 and ::) and closes what connects; a port already in use (a\n"
    "              running 'fleetup serve') is checked against whatever listens on it.\n"
    "              Pull-mode BMCs have no agent: not checked.\n"
    "  Prints one line per blocked or unchecked direction, e.g.\n"
    "    node-7  to node 10.0.0.7:22  refused\n"
    "    node-9  from node 10.0.0.9 -> 10.0.0.1:63001  blocked: connection refused\n"
    "  then 'N nodes checked in T, M with blocked ports'. Live progress on stderr when\n"
    "  it is a terminal.\n"
    "  --timeout S        each TCP probe (default 3 s; also 500ms); the SSH login and\n"
    "                     the agent's answer get 10 times as long (30 s at least)\n"
    "  --concurrency N    probes at once, and SSH logins at once (default 512)\n"
    "  --json             every direction of every node with its state:\n"
    "                     {server: {port, port_source, ssl_port, ssl_port_source,\n"
    "                       callback_address, listeners: [{address, port, state,\n"
    "                       error, accepted}]},\n"
    "                      nodes: [{name, type, transport, callback,\n"
    "                       to_node: [{address, port, state, error, ms}],\n"
    "                       from_node: [{from, to, port, state, reason}], blocked}],\n"
    "                      summary: {checked, blocked, unchecked, no_port, elapsed_ms}}\n"
    "                     to_node states: open, refused, timeout, unreachable;\n"
    "                     from_node states: open, blocked, not_checked, error (the\n"
    "                     SSH login or the agent failed)\n"
    "\n"
    "Exit: 0 ok (with --check: every direction checked is open), 1 with --check: some\n"
    "direction is blocked, or an SSH login or agent failed so it could not be checked,\n"
    "2 bad usage or invalid fleet.\n";

static bool parse_firewall(const char *s, firewall_t *out)
{
    static const struct {
        const char *name;
        firewall_t fw;
    } names[] = {{"nft", FW_NFT}, {"iptables", FW_IPTABLES}, {"ip6tables", FW_IP6TABLES},
                 {"esxi", FW_ESXI}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].fw;
            return true;
        }
    return false;
}

/* The value of an option given as "--opt VALUE" or "--opt=VALUE"; NULL if not this opt. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* Returns 0, or the exit code of a usage error already printed. */
static int parse_value_opt(int argc, char **argv, int *i, ports_opts_t *o, bool *matched)
{
    /* --firewall last: every option before it only keeps its value. */
    static const char *const names[] = {"--port",    "--ssl-port",    "--limit",
                                        "--timeout", "--concurrency", "--firewall"};
    const char **dest[] = {&o->port, &o->ssl_port, &o->limit, &o->timeout, &o->concurrency};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        bool missing = false;
        const char *v = opt_value(argc, argv, i, names[k], &missing);
        if (missing)
            return fu_cli_usage_error("ports", "%s needs a value", names[k]);
        if (v == NULL)
            continue;
        *matched = true;
        if (k < sizeof(dest) / sizeof(dest[0]))
            *dest[k] = v;
        else if (!parse_firewall(v, &o->firewall))
            return fu_cli_usage_error("ports",
                                      "--firewall '%s': expected nft, iptables, ip6tables or "
                                      "esxi",
                                      v);
        return 0;
    }
    return 0;
}

/* --check's own values and FLEET, before the fleet is read. Returns 0 or exit 2. */
static int parse_check(ports_opts_t *o)
{
    fu_ports_check_opts_t *c = &o->check_opts;
    char *end;
    c->json = o->json;
    if (o->timeout && (!fu_duration_parse(o->timeout, &c->timeout_ms) || c->timeout_ms == 0))
        return fu_cli_usage_error("ports", "--timeout takes seconds above 0 (or 500ms, 1m), "
                                           "not '%s'", o->timeout);
    if (o->concurrency) {
        unsigned long v = strtoul(o->concurrency, &end, 10);
        if (o->concurrency[0] < '0' || o->concurrency[0] > '9' || *end || v < 1 || v > 100000)
            return fu_cli_usage_error("ports", "--concurrency takes a whole number from 1 to "
                                               "100000, not '%s'", o->concurrency);
        c->concurrency = (uint32_t)v;
    }
    if (o->fleet == NULL)
        return fu_cli_usage_error("ports", "missing FLEET (the fleet file to check)");
    return 0;
}

static int parse_args(int argc, char **argv, ports_opts_t *o)
{
    bool only_args = false;
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool matched = false;
        if (only_args || a[0] != '-' || a[1] == '\0') {
            if (o->fleet)
                return fu_cli_usage_error("ports", "one FLEET only, got '%s' and '%s'",
                                          o->fleet, a);
            o->fleet = a;
            continue;
        }
        if (strcmp(a, "--") == 0)
            only_args = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            o->help = true;
        else if (strcmp(a, "--json") == 0)
            o->json = true;
        else if (strcmp(a, "--seed-table") == 0)
            o->seed_table = true;
        else if (strcmp(a, "--check") == 0)
            o->check = true;
        else {
            int rc = parse_value_opt(argc, argv, &i, o, &matched);
            if (rc)
                return rc;
            if (!matched)
                return fu_cli_usage_error("ports", "unknown option '%s'", a);
        }
    }
    if (o->help)
        return 0;
    if ((o->timeout || o->concurrency) && !o->check)
        return fu_cli_usage_error("ports", "--timeout and --concurrency go with --check");
    if (o->check && (o->seed_table || o->firewall != FW_NONE))
        return fu_cli_usage_error("ports", "--check does not combine with --seed-table or "
                                           "--firewall: it checks the plan against the fleet");
    if (o->seed_table)
        return 0;
    if (o->check)
        return parse_check(o);
    if (o->fleet == NULL)
        return fu_cli_usage_error("ports", "missing FLEET (the fleet file to read)");
    if (o->json && o->firewall != FW_NONE)
        return fu_cli_usage_error("ports", "--json and --firewall do not combine: pick one");
    return 0;
}

/* ---- JSON ---- */

static json_t *portset_json(const fu_portset_t *s)
{
    json_t *a = json_array();
    for (uint8_t i = 0; i < s->n; i++)
        json_array_append_new(a, json_integer(s->v[i]));
    return a;
}

static json_t *phase_json(const fu_phase_ports_t *ph)
{
    return json_pack("{s:o, s:o}", "to_node", portset_json(&ph->to_node), "from_node",
                     portset_json(&ph->from_node));
}

static json_t *seed_ports_json(const fu_seed_ports_t *s, json_t *optional)
{
    json_t *a = json_array();
    for (uint8_t i = 0; i < s->n; i++) {
        json_array_append_new(a, json_integer(s->v[i].port));
        if (s->v[i].optional)
            json_array_append_new(optional, json_integer(s->v[i].port));
    }
    return a;
}

static json_t *seed_phase_json(const fu_seed_phase_t *ph)
{
    json_t *optional = json_array();
    json_t *o = json_pack("{s:o, s:o, s:o}", "to_target", seed_ports_json(&ph->to_target, optional),
                          "from_target_7_2_1", seed_ports_json(&ph->from_target_7_2_1, optional),
                          "from_target_7_3_0", seed_ports_json(&ph->from_target_7_3_0, optional));
    json_object_set_new(o, "optional", optional);
    return o;
}

static json_t *seed_json(fu_node_type_t t)
{
    const fu_ports_seed_t *s = fu_ports_seed(t);
    return json_pack("{s:s, s:o, s:o}", "seed_row", s->seed_row, "inventory",
                     seed_phase_json(&s->inventory), "deployment", seed_phase_json(&s->deployment));
}

static json_t *row_json(const fu_ports_row_t *r)
{
    char note[768];
    fu_ports_row_note(r, note, sizeof(note));
    json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "type", fu_node_type_name(r->type), "transport",
                          fu_transport_name(r->transport), "nodes", (json_int_t)r->nodes,
                          "callback", fu_callback_name(r->callback));
    /* In push mode the scheme opens nothing and rows do not split on it. */
    json_object_set_new(o, "scheme", r->callback == FU_CALLBACK_PULL
                                         ? json_string(fu_scheme_name(r->scheme))
                                         : json_null());
    json_object_set_new(o, "inventory", phase_json(&r->ports.inventory));
    json_object_set_new(o, "deployment", phase_json(&r->ports.deployment));
    json_object_set_new(o, "seed", seed_json(r->type));
    json_object_set_new(o, "note", json_string(note));
    return o;
}

static json_t *nodes_json(const fu_ports_plan_t *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->fleet->nnodes; i++) {
        const fu_node_t *n = &p->fleet->nodes[i];
        fu_node_ports_t np;
        if (!fu_ports_selected(p, i))
            continue;
        fu_ports_node(n, &p->server, &np);
        json_array_append_new(
            a, json_pack("{s:s, s:s?, s:s, s:s, s:s, s:o, s:o}", "name", n->name, "address",
                         fu_node_transport_address(n), "type", fu_node_type_name(n->type),
                         "transport", fu_transport_name(n->transport), "callback",
                         fu_callback_name(n->callback), "to_node",
                         portset_json(&np.deployment.to_node), "from_node",
                         portset_json(&np.deployment.from_node)));
    }
    return a;
}

json_t *fu_ports_server_json(const fu_server_ports_t *s)
{
    return json_pack("{s:i, s:s, s:i, s:s}", "port", (int)s->port, "port_source",
                     fu_port_source_name(s->port_source, false), "ssl_port", (int)s->ssl_port,
                     "ssl_port_source", fu_port_source_name(s->ssl_port_source, true));
}

void fu_ports_json_print(json_t *root, FILE *out)
{
    json_dumpf(root, out, JSON_INDENT(2));
    fputc('\n', out);
    json_decref(root);
}

static void print_plan_json(const fu_ports_plan_t *p, FILE *out)
{
    json_t *rows = json_array();
    for (size_t r = 0; r < p->nrows; r++)
        json_array_append_new(rows, row_json(&p->rows[r]));
    fu_ports_json_print(json_pack("{s:o, s:o, s:o}", "server", fu_ports_server_json(&p->server),
                                  "rows", rows, "nodes", nodes_json(p)),
                        out);
}

static void print_seed_json(FILE *out)
{
    json_t *a = json_array();
    for (int t = 0; t < FU_TYPE__COUNT; t++) {
        json_t *o = json_pack("{s:s}", "type", fu_node_type_name((fu_node_type_t)t));
        json_t *seed = seed_json((fu_node_type_t)t);
        json_object_update(o, seed); /* after "type", for readers scanning by eye */
        json_decref(seed);
        json_array_append_new(a, o);
    }
    fu_ports_json_print(json_pack("{s:o}", "seed", a), out);
}

/* ---- Text ---- */

#define NCOLS 8

typedef struct {
    char cell[NCOLS][96];
    char note[768];
} text_line_t;

/* Prints lines with every column but the last padded to its widest cell. */
static void print_table(const text_line_t *lines, size_t n, size_t ncols, FILE *out)
{
    size_t w[NCOLS] = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c + 1 < ncols; c++) {
            size_t len = strlen(lines[i].cell[c]);
            w[c] = len > w[c] ? len : w[c];
        }
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c + 1 < ncols; c++)
            fprintf(out, "%-*s  ", (int)w[c], lines[i].cell[c]);
        fprintf(out, "%s\n", lines[i].note[0] ? lines[i].note : lines[i].cell[ncols - 1]);
    }
}

static void row_lines(const fu_ports_row_t *r, text_line_t *l)
{
    char cb[32];
    snprintf(cb, sizeof(cb), "%s%s%s", fu_callback_name(r->callback),
             r->callback == FU_CALLBACK_PULL ? "/" : "",
             r->callback == FU_CALLBACK_PULL ? fu_scheme_name(r->scheme) : "");
    for (int ph = 0; ph < 2; ph++) {
        const fu_phase_ports_t *pp = ph ? &r->ports.deployment : &r->ports.inventory;
        text_line_t *t = &l[ph];
        memset(t, 0, sizeof(*t));
        snprintf(t->cell[0], sizeof(t->cell[0]), "%s", fu_node_type_name(r->type));
        snprintf(t->cell[1], sizeof(t->cell[1]), "%zu", r->nodes);
        snprintf(t->cell[2], sizeof(t->cell[2]), "%s", fu_transport_name(r->transport));
        snprintf(t->cell[3], sizeof(t->cell[3]), "%s", cb);
        snprintf(t->cell[4], sizeof(t->cell[4]), "%s", ph ? "deployment" : "inventory");
        fu_portset_format(&pp->to_node, t->cell[5], sizeof(t->cell[5]));
        fu_portset_format(&pp->from_node, t->cell[6], sizeof(t->cell[6]));
        if (ph == 0) /* the note covers both phases: once is enough */
            fu_ports_row_note(r, t->note, sizeof(t->note));
    }
}

static int print_plan_text(const fu_ports_plan_t *p, FILE *out)
{
    static const char *const head[NCOLS] = {"TYPE",  "NODES",   "TRANSPORT", "CALLBACK",
                                            "PHASE", "TO NODE", "FROM NODE", "NOTE"};
    const fu_server_ports_t *s = &p->server;
    fprintf(out, "fleetup server: port %u (%s), ssl_port %u (%s)\n", s->port,
            fu_port_source_name(s->port_source, false), s->ssl_port,
            fu_port_source_name(s->ssl_port_source, true));
    if (p->nrows == 0) {
        fprintf(out, "no node selected: nothing to open\n");
        return FU_EXIT_OK;
    }
    text_line_t *lines = calloc(1 + 2 * p->nrows, sizeof(*lines));
    if (lines == NULL) {
        fprintf(stderr, "fleetup ports: out of memory\n");
        return FU_EXIT_FAILURES;
    }
    for (int c = 0; c < NCOLS; c++)
        snprintf(lines[0].cell[c], sizeof(lines[0].cell[c]), "%s", head[c]);
    for (size_t r = 0; r < p->nrows; r++)
        row_lines(&p->rows[r], &lines[1 + 2 * r]);
    print_table(lines, 1 + 2 * p->nrows, NCOLS, out);
    fprintf(out, "Ports are TCP. Compare with the seed: --seed-table; rules: --firewall "
                 "nft|iptables|esxi.\n");
    free(lines);
    return FU_EXIT_OK;
}

static int print_seed_text(FILE *out)
{
    static const char *const head[6] = {"TYPE",        "PHASE",
                                        "TO TARGET",   "FROM TARGET (<= 7.2.1)",
                                        "FROM TARGET (>= 7.3.0)", ""};
    text_line_t lines[1 + 2 * FU_TYPE__COUNT];
    memset(lines, 0, sizeof(lines));
    for (int c = 0; c < 6; c++)
        snprintf(lines[0].cell[c], sizeof(lines[0].cell[c]), "%s", head[c]);
    for (int t = 0; t < FU_TYPE__COUNT; t++) {
        const fu_ports_seed_t *s = fu_ports_seed((fu_node_type_t)t);
        for (int ph = 0; ph < 2; ph++) {
            const fu_seed_phase_t *sp = ph ? &s->deployment : &s->inventory;
            text_line_t *l = &lines[1 + 2 * t + ph];
            snprintf(l->cell[0], sizeof(l->cell[0]), "%s", fu_node_type_name((fu_node_type_t)t));
            snprintf(l->cell[1], sizeof(l->cell[1]), "%s", ph ? "deployment" : "inventory");
            fu_seed_ports_format(&sp->to_target, l->cell[2], sizeof(l->cell[2]));
            fu_seed_ports_format(&sp->from_target_7_2_1, l->cell[3], sizeof(l->cell[3]));
            fu_seed_ports_format(&sp->from_target_7_3_0, l->cell[4], sizeof(l->cell[4]));
        }
    }
    fprintf(out, "HP SUM network ports (the seed); \"(80)\" is optional; bmc is not in the "
                 "seed and uses the iLO row.\n");
    print_table(lines, 1 + 2 * FU_TYPE__COUNT, 5, out);
    return FU_EXIT_OK;
}

/* ---- The command ---- */

static int emit(const fu_ports_plan_t *p, const ports_opts_t *o)
{
    switch (o->firewall) {
    case FW_NFT:
        return fu_firewall_nft(p, stdout) ? FU_EXIT_FAILURES : FU_EXIT_OK;
    case FW_IPTABLES:
    case FW_IP6TABLES:
        return fu_firewall_iptables(p, o->firewall == FW_IP6TABLES, stdout) ? FU_EXIT_FAILURES
                                                                            : FU_EXIT_OK;
    case FW_ESXI:
        return fu_firewall_esxi(p, stdout, stderr) ? FU_EXIT_FAILURES : FU_EXIT_OK;
    case FW_NONE:
        break;
    }
    if (o->check)
        return fu_ports_check(p, &o->check_opts, stdout);
    if (o->json) {
        print_plan_json(p, stdout);
        return FU_EXIT_OK;
    }
    return print_plan_text(p, stdout);
}

/* Applies --limit; *sel stays NULL (every node) without one. */
static int select_nodes(const fu_fleet_t *f, const char *limit, bool **sel)
{
    char err[512];
    *sel = NULL;
    if (limit == NULL)
        return 0;
    *sel = calloc(f->nnodes ? f->nnodes : 1, sizeof(**sel));
    if (*sel == NULL) {
        fprintf(stderr, "fleetup ports: out of memory\n");
        return FU_EXIT_FAILURES;
    }
    if (fu_limit_select(f, limit, *sel, err, sizeof(err)) != 0)
        return fu_cli_usage_error("ports", "--limit '%s': %s", limit, err);
    return 0;
}

static int run_fleet(const ports_opts_t *o, fu_fleet_t *f)
{
    char err[512];
    fu_server_ports_t sp;
    bool *sel = NULL;
    fu_ports_plan_t plan;
    if (fu_ports_resolve(f, o->port, o->ssl_port, getenv(FU_ENV_PORT), getenv(FU_ENV_SSL_PORT),
                         &sp, err, sizeof(err)) != 0)
        return fu_cli_usage_error("ports", "%s", err);
    int rc = select_nodes(f, o->limit, &sel);
    if (rc == 0 && fu_ports_plan_build(f, sel, &sp, &plan) != 0) {
        fprintf(stderr, "fleetup ports: out of memory\n");
        rc = FU_EXIT_FAILURES;
    } else if (rc == 0) {
        if (o->limit && plan.nselected == 0)
            fprintf(stderr, "fleetup ports: warning: --limit '%s' selects no node\n", o->limit);
        rc = emit(&plan, o);
        fu_ports_plan_free(&plan);
    }
    free(sel);
    return rc;
}

int fu_cmd_ports(int argc, char **argv)
{
    ports_opts_t o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(help_text, stdout);
        return FU_EXIT_OK;
    }
    if (o.seed_table) {
        /* The seed is fixed data: FLEET, if given, is not needed to print it. */
        if (o.json)
            print_seed_json(stdout);
        else
            print_seed_text(stdout);
        return FU_EXIT_OK;
    }
    fu_fleet_t *f = fu_cli_load_fleet(o.fleet, o.json);
    if (f == NULL)
        return FU_EXIT_USAGE;
    rc = run_fleet(&o, f);
    fu_fleet_free(f);
    return rc;
}
