/* fleetup nodes FLEET: the resolved nodes in inventory order, as a table or JSON.
 * Credentials are shown as references only; an inline password is never printed. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/jsonw.h"

static void help(void)
{
    printf("usage: fleetup nodes FLEET [--json] [--limit PATTERN]\n"
           "\n"
           "Lists every node of FLEET after inheritance (defaults < parent group < child group\n"
           "< node), in inventory order.\n"
           "\n"
           "  --json            a JSON array; each object has name, type, transport, address,\n"
           "                    mgmt_address, port, user, callback, callback_scheme,\n"
           "                    host_key_check, credentials, groups, labels, defined_at\n"
           "  --limit PATTERN   select nodes, Ansible style: terms joined by ',' or ':' are a\n"
           "                    union; '&TERM' intersects, '!TERM' excludes. A term is a node\n"
           "                    or group name, a glob ('web*'), '~REGEX' or 'LABEL=VALUE'.\n"
           "                    e.g. --limit 'web:&rack=r01'   --limit 'all:!ilo*'\n"
           "\n"
           "Secrets are never printed: credentials show as references (password_env NAME,\n"
           "key_file PATH); an Ansible ansible_password shows as \"(inline, hidden)\".\n");
}

static void credentials(fu_jsonw_t *w, const fu_node_t *n)
{
    fu_jsonw_key(w, "credentials");
    fu_jsonw_begin(w, '{');
    if (n->ssh_agent) {
        fu_jsonw_key(w, "ssh_agent");
        fu_jsonw_bool(w, true);
    }
    const struct {
        const char *key, *val;
    } refs[] = {
        {"key_file", n->key_file},
        {"key_passphrase_env", n->key_passphrase_env},
        {"key_passphrase_file", n->key_passphrase_file},
        {"password_env", n->password_env},
        {"password_file", n->password_file},
        {"password", n->password_inline ? "(inline, hidden)" : NULL},
    };
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
        if (refs[i].val) {
            fu_jsonw_key(w, refs[i].key);
            fu_jsonw_str(w, refs[i].val);
        }
    fu_jsonw_end(w, '}');
}

static void field(fu_jsonw_t *w, const char *key, const char *val)
{
    fu_jsonw_key(w, key);
    fu_jsonw_str(w, val);
}

static void node_json(fu_jsonw_t *w, const fu_fleet_t *f, const fu_node_t *n)
{
    fu_jsonw_begin(w, '{');
    field(w, "name", n->name);
    field(w, "type", fu_node_type_name(n->type));
    field(w, "transport", fu_transport_name(n->transport));
    field(w, "address", n->address);
    field(w, "mgmt_address", n->mgmt_address);
    fu_jsonw_key(w, "port");
    fu_jsonw_int(w, n->port);
    field(w, "user", n->user);
    field(w, "callback", fu_callback_name(n->callback));
    field(w, "callback_scheme", fu_scheme_name(n->callback_scheme));
    field(w, "host_key_check", fu_hostkey_name(n->host_key_check));
    if (n->transport == FU_TRANSPORT_REDFISH) {
        /* How the BMC's certificate is checked: pin, CA file, nothing, or no TLS. */
        fu_jsonw_key(w, "tls");
        fu_jsonw_begin(w, '{');
        field(w, "verify", n->plain_http       ? "plain-http"
                           : n->tls_fingerprint ? "fingerprint"
                           : n->tls_insecure    ? "insecure"
                                                : "ca");
        if (n->tls_fingerprint)
            field(w, "fingerprint", n->tls_fingerprint);
        if (n->tls_ca_file)
            field(w, "ca_file", n->tls_ca_file);
        fu_jsonw_end(w, '}');
    }
    credentials(w, n);
    fu_jsonw_key(w, "groups");
    fu_jsonw_begin(w, '[');
    for (uint32_t i = 0; i < n->ngroups; i++)
        fu_jsonw_str(w, f->groups[n->groups[i]].name);
    fu_jsonw_end(w, ']');
    fu_jsonw_key(w, "labels");
    fu_jsonw_begin(w, '{');
    for (uint32_t i = 0; i < n->nlabels; i++)
        field(w, n->labels[i].key, n->labels[i].value);
    fu_jsonw_end(w, '}');
    char at[512];
    snprintf(at, sizeof(at), "%s:%u:%u", n->pos.file, n->pos.line, n->pos.col);
    field(w, "defined_at", at);
    fu_jsonw_end(w, '}');
}

/* Streams the array one node at a time: 100k nodes never sit in one JSON tree. */
static void print_json(const fu_fleet_t *f, const bool *sel)
{
    fu_jsonw_t *w = malloc(sizeof(*w));
    fu_jsonw_init(w, stdout);
    fu_jsonw_begin(w, '[');
    for (size_t i = 0; i < f->nnodes; i++) {
        if (!sel[i])
            continue;
        fu_jsonw_raw(w, w->comma ? ",\n  " : "\n  ");
        w->comma = false; /* the separator is written */
        node_json(w, f, &f->nodes[i]);
    }
    fu_jsonw_raw(w, w->comma ? "\n]\n" : "]\n");
    fu_jsonw_flush(w);
    free(w);
}

static const char *groups_text(const fu_fleet_t *f, const fu_node_t *n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < n->ngroups && used + 1 < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                                 f->groups[n->groups[i]].name);
    return used ? buf : "-";
}

static void print_table(const fu_fleet_t *f, const bool *sel)
{
    int w[5] = {4, 4, 7, 4, 4}; /* name, type, address, mgmt, user */
    for (size_t i = 0; i < f->nnodes; i++) {
        const fu_node_t *n = &f->nodes[i];
        if (!sel[i])
            continue;
        int l[5] = {(int)strlen(n->name), (int)strlen(fu_node_type_name(n->type)),
                    (int)strlen(n->address), n->mgmt_address ? (int)strlen(n->mgmt_address) : 1,
                    n->user ? (int)strlen(n->user) : 1};
        for (int k = 0; k < 5; k++)
            if (l[k] > w[k] && l[k] < 64)
                w[k] = l[k];
    }
    printf("%-*s  %-*s  %-*s  %-*s  %5s  %-*s  %-8s  %s\n", w[0], "NAME", w[1], "TYPE", w[2],
           "ADDRESS", w[3], "MGMT", "PORT", w[4], "USER", "CALLBACK", "GROUPS");
    char gbuf[512];
    for (size_t i = 0; i < f->nnodes; i++) {
        const fu_node_t *n = &f->nodes[i];
        if (!sel[i])
            continue;
        printf("%-*s  %-*s  %-*s  %-*s  %5u  %-*s  %-8s  %s\n", w[0], n->name, w[1],
               fu_node_type_name(n->type), w[2], n->address, w[3],
               n->mgmt_address ? n->mgmt_address : "-", n->port, w[4], n->user ? n->user : "-",
               fu_callback_name(n->callback), groups_text(f, n, gbuf, sizeof(gbuf)));
    }
}

int fu_cmd_nodes(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    const char *limit = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "jl:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'l': limit = optarg; break;
        case 'h': help(); return FU_EXIT_OK;
        default:
            if (optopt == 'l')
                return fu_cli_usage_error("nodes", "--limit needs a PATTERN");
            return fu_cli_usage_error("nodes", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return fu_cli_usage_error("nodes", "expects exactly one FLEET file");
    fu_fleet_t *f = fu_cli_load_fleet(argv[optind], false);
    if (f == NULL)
        return FU_EXIT_USAGE;
    bool *sel = malloc((f->nnodes + 1) * sizeof(bool));
    for (size_t i = 0; i < f->nnodes; i++)
        sel[i] = true;
    char err[512];
    int rc = FU_EXIT_OK;
    if (limit && fu_limit_select(f, limit, sel, err, sizeof(err)) != 0)
        rc = fu_cli_usage_error("nodes", "%s", err);
    else if (json)
        print_json(f, sel);
    else
        print_table(f, sel);
    free(sel);
    fu_fleet_free(f);
    return rc;
}
