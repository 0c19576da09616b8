/* fleetup nodes FLEET: the resolved nodes in inventory order, as a table or JSON.
 * Credentials are shown as references only; an inline password is never printed. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"

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

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *credentials(const fu_node_t *n)
{
    json_t *c = json_object();
    if (n->ssh_agent)
        json_object_set_new(c, "ssh_agent", json_true());
    if (n->key_file)
        json_object_set_new(c, "key_file", json_string(n->key_file));
    if (n->key_passphrase_env)
        json_object_set_new(c, "key_passphrase_env", json_string(n->key_passphrase_env));
    if (n->key_passphrase_file)
        json_object_set_new(c, "key_passphrase_file", json_string(n->key_passphrase_file));
    if (n->password_env)
        json_object_set_new(c, "password_env", json_string(n->password_env));
    if (n->password_file)
        json_object_set_new(c, "password_file", json_string(n->password_file));
    if (n->password_inline)
        json_object_set_new(c, "password", json_string("(inline, hidden)"));
    return c;
}

static json_t *node_json(const fu_fleet_t *f, const fu_node_t *n)
{
    json_t *groups = json_array(), *labels = json_object();
    for (uint32_t i = 0; i < n->ngroups; i++)
        json_array_append_new(groups, json_string(f->groups[n->groups[i]].name));
    for (uint32_t i = 0; i < n->nlabels; i++)
        json_object_set_new(labels, n->labels[i].key, json_string(n->labels[i].value));
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(n->name));
    json_object_set_new(o, "type", json_string(fu_node_type_name(n->type)));
    json_object_set_new(o, "transport", json_string(fu_transport_name(n->transport)));
    json_object_set_new(o, "address", json_string(n->address));
    json_object_set_new(o, "mgmt_address", str_or_null(n->mgmt_address));
    json_object_set_new(o, "port", json_integer(n->port));
    json_object_set_new(o, "user", str_or_null(n->user));
    json_object_set_new(o, "callback", json_string(fu_callback_name(n->callback)));
    json_object_set_new(o, "callback_scheme", json_string(fu_scheme_name(n->callback_scheme)));
    json_object_set_new(o, "host_key_check", json_string(fu_hostkey_name(n->host_key_check)));
    json_object_set_new(o, "credentials", credentials(n));
    json_object_set_new(o, "groups", groups);
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "defined_at", json_sprintf("%s:%u:%u", n->pos.file, n->pos.line, n->pos.col));
    return o;
}

/* Streams the array one node at a time: 100k nodes never sit in one JSON tree. */
static void print_json(const fu_fleet_t *f, const bool *sel)
{
    fputs("[", stdout);
    bool first = true;
    for (size_t i = 0; i < f->nnodes; i++) {
        if (!sel[i])
            continue;
        json_t *o = node_json(f, &f->nodes[i]);
        fputs(first ? "\n  " : ",\n  ", stdout);
        json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        first = false;
    }
    fputs(first ? "]\n" : "\n]\n", stdout);
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
