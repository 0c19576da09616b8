/* Ansible YAML inventories, read unchanged: all/children/hosts/vars, nested children,
 * host ranges, host:port, and the ansible_* / fleetup_* variables fleetup understands.
 * Other scalar variables become labels (rack, site...); other ansible_* are ignored. */
#include <stdlib.h>
#include <string.h>

#include "core/hostrange.h"
#include "core/inventory.h"

static const char *const group_keys[] = {"hosts", "children", "vars"};

typedef struct {
    const char *ansible;
    int id;
} ansible_var_t;

static const ansible_var_t ansible_vars[] = {
    {"ansible_host", FU_S_ADDRESS},
    {"ansible_ssh_host", FU_S_ADDRESS},
    {"ansible_port", FU_S_PORT},
    {"ansible_ssh_port", FU_S_PORT},
    {"ansible_user", FU_S_USER},
    {"ansible_ssh_user", FU_S_USER},
    {"ansible_ssh_private_key_file", FU_S_KEY_FILE},
    {"ansible_private_key_file", FU_S_KEY_FILE},
    {"ansible_password", FU_S_PASSWORD_INLINE},
    {"ansible_ssh_pass", FU_S_PASSWORD_INLINE},
    {"ansible_ssh_password", FU_S_PASSWORD_INLINE},
};

static void read_fleetup_var(fu_inv_t *inv, const fu_ynode_t *k, const fu_ynode_t *v,
                             fu_settings_t *into)
{
    const char *name = k->u.str + 8; /* after "fleetup_" */
    if (strcmp(name, "labels") == 0) {
        fu_labels_parse(inv, v, into);
        return;
    }
    int id = fu_setting_lookup(name);
    if (id < 0 || id == FU_S_PASSWORD_INLINE) {
        const char *cands[FU_S__KNOWN + 1];
        char bufs[FU_S__KNOWN + 1][48];
        size_t n = 0;
        for (int i = 0; i < FU_S__KNOWN; i++) {
            if (i == FU_S_PASSWORD_INLINE)
                continue;
            snprintf(bufs[n], sizeof(bufs[n]), "fleetup_%s", fu_setting_names[i]);
            cands[n] = bufs[n];
            n++;
        }
        snprintf(bufs[n], sizeof(bufs[n]), "fleetup_labels");
        cands[n] = bufs[n];
        n++;
        fu_err_unknown_key(inv->d, k, "the fleetup_* variables", cands, n);
        return;
    }
    fu_setting_t s;
    if (fu_setting_parse(inv, id, NULL, v, &s))
        fu_settings_set(inv->a, into, &s);
}

/* One inventory variable. group is NULL for host variables. */
static void read_var(fu_inv_t *inv, const fu_ynode_t *k, const fu_ynode_t *v,
                     fu_settings_t *into, fu_inv_group_t *group)
{
    const char *name = k->u.str;
    fu_setting_t s;
    if (strncmp(name, "fleetup_", 8) == 0) {
        read_fleetup_var(inv, k, v, into);
        return;
    }
    for (size_t i = 0; i < sizeof(ansible_vars) / sizeof(ansible_vars[0]); i++) {
        if (strcmp(name, ansible_vars[i].ansible) != 0)
            continue;
        if (ansible_vars[i].id == FU_S_PASSWORD_INLINE)
            fu_warn(inv->d, v, "%s: a plain-text password in the inventory; fleetup keeps it in "
                               "memory only, never prints it; prefer fleetup_password_env",
                    name);
        if (fu_setting_parse(inv, ansible_vars[i].id, NULL, v, &s))
            fu_settings_set(inv->a, into, &s);
        return;
    }
    if (strcmp(name, "ansible_connection") == 0) {
        const char *c = fu_y_string(inv->d, v, name);
        if (c && strcmp(c, "local") == 0) {
            s = (fu_setting_t){.id = FU_S_TRANSPORT, .at = v, .v.i = FU_TRANSPORT_LOCAL};
            fu_settings_set(inv->a, into, &s);
        }
        return;
    }
    if (strcmp(name, "ansible_group_priority") == 0 && group) {
        if (!fu_y_scalar_int(v, &group->priority))
            fu_err(inv->d, v, "ansible_group_priority must be a whole number");
        return;
    }
    if (strncmp(name, "ansible_", 8) == 0 || fu_y_is_null(v) || v->kind != FU_Y_SCALAR)
        return; /* playbook data: not fleetup's */
    if (strpbrk(name, " \t=,:!&") != NULL)
        return; /* not usable as a label name */
    if (fu_setting_parse(inv, FU_S_LABEL, name, v, &s))
        fu_settings_set(inv->a, into, &s);
}

static void read_vars(fu_inv_t *inv, const fu_ynode_t *vars, fu_settings_t *into,
                      fu_inv_group_t *group)
{
    if (fu_y_is_null(vars) || !fu_y_expect_map(inv->d, vars, "vars"))
        return;
    for (size_t i = 0; i < vars->n; i++)
        read_var(inv, vars->u.pairs[i].key, vars->u.pairs[i].val, into, group);
}

typedef struct {
    fu_inv_t *inv;
    uint32_t group;
    const fu_ynode_t *key, *vars, *hosts_map;
    unsigned port;
} host_ctx_t;

static int add_host(void *ud, const char *name, size_t len)
{
    host_ctx_t *c = ud;
    fu_inv_t *inv = c->inv;
    bool existed;
    uint32_t hi = fu_inv_host(inv, name, len, c->key, &existed);
    if (hi == UINT32_MAX)
        return -2;
    fu_inv_host_t *h = &inv->hosts[hi];
    if (existed && h->seen_in == c->hosts_map) {
        fu_err(inv->d, c->key, "host '%s' is listed twice in this hosts list", h->name);
        return 0;
    }
    h->seen_in = c->hosts_map;
    fu_inv_host_in_group(inv, hi, c->group);
    if (c->port) {
        fu_setting_t s = {.id = FU_S_PORT, .at = c->key, .v.i = c->port};
        fu_settings_set(inv->a, &h->vars, &s);
    }
    read_vars(inv, c->vars, &h->vars, NULL);
    return 0;
}

/* Host keys carry ranges and an optional port; errors point into the key itself. */
static void host_key_error(fu_diag_t *d, const fu_ynode_t *key, const fu_hostrange_err_t *e)
{
    fu_diag_add(d, FU_DIAG_ERROR, key->file, key->line, key->col + (unsigned)e->offset,
                "bad host pattern '%s': %s", key->u.str, e->msg);
}

static void read_hosts(fu_inv_t *inv, uint32_t group, const fu_ynode_t *hosts)
{
    if (fu_y_is_null(hosts))
        return;
    if (hosts->kind != FU_Y_MAP) {
        fu_err(inv->d, hosts, "hosts must be a mapping of host names, each followed by ':' "
                              "(e.g. 'web01:'), not %s", fu_y_kind_name(hosts));
        return;
    }
    for (size_t i = 0; i < hosts->n && !inv->too_many; i++) {
        const fu_ynode_t *k = hosts->u.pairs[i].key, *v = hosts->u.pairs[i].val;
        fu_hostrange_err_t e;
        size_t hl, ho;
        host_ctx_t c = {inv, group, k, v, hosts, 0};
        if (!fu_y_is_null(v) && v->kind != FU_Y_MAP) {
            fu_err(inv->d, v, "host '%s' must be followed by its variables as a mapping, or "
                              "by nothing, not %s", k->u.str, fu_y_kind_name(v));
            continue;
        }
        if (k->n == 0) {
            fu_err(inv->d, k, "empty host name");
            continue;
        }
        if (fu_hostport_split(k->u.str, k->n, &hl, &ho, &c.port, &e) < 0) {
            host_key_error(inv->d, k, &e);
            continue;
        }
        int rc = fu_hostrange_expand(k->u.str + ho, hl, FU_MAX_NODES, add_host, &c, &e);
        if (rc == -1) {
            e.offset += ho;
            host_key_error(inv->d, k, &e);
        }
    }
}

static void read_group(fu_inv_t *inv, uint32_t g, const fu_ynode_t *def);

static void read_children(fu_inv_t *inv, uint32_t g, const fu_ynode_t *children)
{
    if (fu_y_is_null(children))
        return;
    if (children->kind != FU_Y_MAP) {
        fu_err(inv->d, children, "children must be a mapping of group names, each followed by "
                                 "':' (e.g. 'webservers:'), not %s", fu_y_kind_name(children));
        return;
    }
    for (size_t i = 0; i < children->n; i++) {
        const fu_ynode_t *k = children->u.pairs[i].key;
        if (k->n == 0 || strcmp(k->u.str, "all") == 0) {
            fu_err(inv->d, k, "'%s' cannot be a child group", k->u.str);
            continue;
        }
        uint32_t c = fu_inv_group(inv, k->u.str, k->n, k);
        fu_inv_add_child(inv, g, c, k);
        read_group(inv, c, children->u.pairs[i].val);
    }
}

static void read_group(fu_inv_t *inv, uint32_t g, const fu_ynode_t *def)
{
    if (fu_y_is_null(def))
        return;
    char what[160];
    snprintf(what, sizeof(what), "group '%s'", inv->groups[g].name);
    if (def->kind != FU_Y_MAP) {
        fu_err(inv->d, def, "%s must be a mapping with hosts, children or vars, not %s", what,
               fu_y_kind_name(def));
        return;
    }
    inv->groups[g].defined = true;
    for (size_t i = 0; i < def->n; i++) {
        const fu_ynode_t *k = def->u.pairs[i].key, *v = def->u.pairs[i].val;
        if (strcmp(k->u.str, "hosts") == 0)
            read_hosts(inv, g, v);
        else if (strcmp(k->u.str, "children") == 0)
            read_children(inv, g, v);
        else if (strcmp(k->u.str, "vars") == 0)
            read_vars(inv, v, &inv->groups[g].vars, &inv->groups[g]);
        else
            fu_err_unknown_key(inv->d, k, what, group_keys, 3);
    }
}

void fu_ansible_read(fu_inv_t *inv, const fu_ynode_t *root)
{
    if (root->kind != FU_Y_MAP) {
        fu_err(inv->d, root, "an Ansible inventory is a mapping of groups (usually 'all:'), "
                             "not %s", fu_y_kind_name(root));
        return;
    }
    for (size_t i = 0; i < root->n; i++) {
        const fu_ynode_t *k = root->u.pairs[i].key;
        uint32_t g = fu_inv_group(inv, k->u.str, k->n, k);
        read_group(inv, g, root->u.pairs[i].val);
    }
}
