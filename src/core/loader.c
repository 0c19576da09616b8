/* fu_fleet_load(): reads a fleet file, native (starts with `fleetup: 1`) or an Ansible
 * inventory, into the fleet model. Every problem is reported with FILE:LINE:COL and the
 * whole file is read even after an error, so one run shows them all. */
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/hostrange.h"
#include "core/inventory.h"
#include "core/loader.h"

static const char *const top_keys[] = {"fleetup", "server", "defaults", "groups", "nodes",
                                       "inventory", "baseline", "rollout", "sim"};
static const char *const server_keys[] = {"port", "ssl_port", "bind", "callback_address",
                                          "tls_cert", "tls_key"};
static const char *const group_def_keys[] = {"vars", "children", "nodes"};

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

bool fu_native_is(const fu_ynode_t *root)
{
    return root && root->kind == FU_Y_MAP && fu_y_map_get(root, "fleetup") != NULL;
}

/* Settings keys of a node, a group's vars or defaults: the setting names, labels, and for
 * nodes their groups. A literal password gets its own explanation. */
static void read_settings(fu_inv_t *inv, const fu_ynode_t *map, fu_settings_t *into,
                          const char *where, const fu_ynode_t **groups_out)
{
    const char *valid[FU_S__KNOWN + 2];
    size_t nvalid = 0;
    for (int i = 0; i < FU_S__KNOWN; i++)
        if (i != FU_S_PASSWORD_INLINE)
            valid[nvalid++] = fu_setting_names[i];
    valid[nvalid++] = "labels";
    if (groups_out)
        valid[nvalid++] = "groups";
    for (size_t i = 0; i < map->n; i++) {
        const fu_ynode_t *k = map->u.pairs[i].key, *v = map->u.pairs[i].val;
        if (strcmp(k->u.str, "labels") == 0) {
            fu_labels_parse(inv, v, into);
            continue;
        }
        if (groups_out && strcmp(k->u.str, "groups") == 0) {
            *groups_out = v;
            continue;
        }
        int id = fu_setting_lookup(k->u.str);
        if (id == FU_S_ADDRESS && groups_out && v->kind == FU_Y_SCALAR &&
            fu_hostrange_has_range(v->u.str, v->n))
            continue; /* an address range: zip_addresses() pairs it with the names */
        if (id == FU_S_PASSWORD_INLINE) {
            fu_err(inv->d, k, "a literal password is not allowed in a fleet file: name an "
                              "environment variable (password_env) or a file (password_file)");
            continue;
        }
        if (id < 0) {
            fu_err_unknown_key(inv->d, k, where, valid, nvalid);
            continue;
        }
        fu_setting_t s;
        if (fu_setting_parse(inv, id, NULL, v, &s))
            fu_settings_set(inv->a, into, &s);
    }
}

/* A list of names (or a single name). Calls fn for each scalar item. */
typedef void (*name_fn)(fu_inv_t *inv, const fu_ynode_t *item, void *ud);
static void each_name(fu_inv_t *inv, const fu_ynode_t *v, const char *what, name_fn fn, void *ud)
{
    if (fu_y_is_null(v))
        return;
    if (v->kind == FU_Y_SCALAR) {
        if (fu_y_string(inv->d, v, what))
            fn(inv, v, ud);
        return;
    }
    if (v->kind != FU_Y_SEQ) {
        fu_err(inv->d, v, "%s must be a list of names, not %s", what, fu_y_kind_name(v));
        return;
    }
    for (size_t i = 0; i < v->n; i++)
        if (fu_y_string(inv->d, v->u.items[i], what))
            fn(inv, v->u.items[i], ud);
}

/* A group named in a native file must be defined under groups: (or by the inventory). */
static uint32_t known_group(fu_inv_t *inv, const fu_ynode_t *name)
{
    void *g = fu_strmap_get(&inv->group_idx, name->u.str, name->n);
    if (g && inv->groups[(uintptr_t)g - 1].defined)
        return (uint32_t)((uintptr_t)g - 1);
    const char **cands = malloc(inv->ngroups * sizeof(*cands));
    for (uint32_t i = 0; i < inv->ngroups; i++)
        cands[i] = inv->groups[i].defined ? inv->groups[i].name : NULL;
    const char *s = fu_suggest(name->u.str, cands, inv->ngroups);
    free(cands);
    if (s)
        fu_err(inv->d, name, "unknown group '%s': did you mean '%s'?", name->u.str, s);
    else
        fu_err(inv->d, name, "unknown group '%s': define it under 'groups:'", name->u.str);
    return UINT32_MAX;
}

typedef struct {
    fu_inv_t *inv;
    const fu_ynode_t *key;
    fu_settings_t tmpl;
    const fu_ynode_t *groups, *addr_node;
    const char **addrs; /* zipped address range, or NULL */
    size_t naddrs, i;
} node_ctx_t;

static int collect_addr(void *ud, const char *name, size_t len)
{
    node_ctx_t *c = ud;
    c->addrs[c->naddrs++] = fu_arena_strndup(c->inv->a, name, len);
    return 0;
}

static void node_group(fu_inv_t *inv, const fu_ynode_t *item, void *ud)
{
    uint32_t g = known_group(inv, item);
    if (g != UINT32_MAX)
        fu_inv_host_in_group(inv, *(uint32_t *)ud, g);
}

static int add_native_node(void *ud, const char *name, size_t len)
{
    node_ctx_t *c = ud;
    fu_inv_t *inv = c->inv;
    bool existed;
    uint32_t hi = fu_inv_host(inv, name, len, c->key, &existed);
    if (hi == UINT32_MAX)
        return -2;
    fu_inv_host_t *h = &inv->hosts[hi];
    size_t idx = c->i++;
    if (existed) {
        const fu_ynode_t *first = h->at;
        fu_err(inv->d, c->key, "duplicate node name '%s' (first defined at %s:%u:%u): node "
                               "names must be unique", h->name, first->file, first->line, first->col);
        return 0;
    }
    h->vars = c->tmpl; /* shared: nothing changes a node's own settings afterwards */
    if (c->addrs) {
        h->vars.v = NULL;
        h->vars.n = h->vars.cap = 0;
        for (uint32_t k = 0; k < c->tmpl.n; k++)
            fu_settings_set(inv->a, &h->vars, &c->tmpl.v[k]);
        fu_setting_t s = {.id = FU_S_ADDRESS, .at = c->addr_node, .v.s = c->addrs[idx]};
        fu_settings_set(inv->a, &h->vars, &s);
    }
    each_name(inv, c->groups, "groups", node_group, &hi);
    return 0;
}

/* An address with a range pairs up with the name's range: node[01:20] + 10.0.0.[1:20]. */
static bool zip_addresses(node_ctx_t *c, long long count)
{
    fu_inv_t *inv = c->inv;
    const fu_ynode_t *a = c->addr_node;
    if (a == NULL || a->kind != FU_Y_SCALAR || !fu_hostrange_has_range(a->u.str, a->n))
        return true;
    fu_hostrange_err_t e;
    long long n = fu_hostrange_count(a->u.str, a->n, &e);
    if (n < 0) {
        fu_diag_add(inv->d, FU_DIAG_ERROR, a->file, a->line, a->col + (unsigned)e.offset,
                    "bad address range '%s': %s", a->u.str, e.msg);
        return false;
    }
    if (n != count) {
        fu_err(inv->d, a, "address range '%s' gives %lld addresses for %lld node names: a range "
                          "in the address pairs up with the one in the name, so both need the "
                          "same count", a->u.str, n, count);
        return false;
    }
    c->addrs = fu_arena_alloc(inv->a, (size_t)n * sizeof(char *));
    fu_hostrange_expand(a->u.str, a->n, (size_t)n, collect_addr, c, &e);
    for (size_t i = 0; i < c->naddrs; i++)
        if (!fu_address_ok(inv->d, a, c->addrs[i], "address"))
            return false;
    return true;
}

static void read_nodes(fu_inv_t *inv, const fu_ynode_t *nodes)
{
    if (fu_y_is_null(nodes) || !fu_y_expect_map(inv->d, nodes, "nodes"))
        return;
    for (size_t i = 0; i < nodes->n && !inv->too_many; i++) {
        const fu_ynode_t *k = nodes->u.pairs[i].key, *v = nodes->u.pairs[i].val;
        node_ctx_t c = {.inv = inv, .key = k};
        if (!fu_y_is_null(v)) {
            if (!fu_y_expect_map(inv->d, v, "a node"))
                continue;
            read_settings(inv, v, &c.tmpl, "a node", &c.groups);
            c.addr_node = fu_y_map_get(v, "address");
        }
        fu_hostrange_err_t e;
        long long count = fu_hostrange_count(k->u.str, k->n, &e);
        if (count < 0 || k->n == 0) {
            e.msg = k->n ? e.msg : "a node name cannot be empty";
            fu_diag_add(inv->d, FU_DIAG_ERROR, k->file, k->line, k->col + (unsigned)e.offset,
                        "bad node name '%s': %s", k->u.str, e.msg);
            continue;
        }
        if (!zip_addresses(&c, count))
            continue;
        if (fu_hostrange_expand(k->u.str, k->n, FU_MAX_NODES, add_native_node, &c, &e) == -1)
            fu_err(inv->d, k, "bad node name '%s': %s", k->u.str, e.msg);
    }
}

typedef struct {
    fu_inv_t *inv;
    uint32_t group;
} member_ctx_t;

static int add_member(void *ud, const char *name, size_t len)
{
    member_ctx_t *m = ud;
    void *h = fu_strmap_get(&m->inv->host_idx, name, len);
    if (h == NULL)
        return 1; /* reported by the caller, with the pattern's place */
    fu_inv_host_in_group(m->inv, (uint32_t)((uintptr_t)h - 1), m->group);
    return 0;
}

static void group_member(fu_inv_t *inv, const fu_ynode_t *item, void *ud)
{
    member_ctx_t m = {inv, *(uint32_t *)ud};
    fu_hostrange_err_t e;
    int rc = fu_hostrange_expand(item->u.str, item->n, FU_MAX_NODES, add_member, &m, &e);
    if (rc == -1)
        fu_err(inv->d, item, "bad node pattern '%s': %s", item->u.str, e.msg);
    else if (rc == 1)
        fu_err(inv->d, item, "'%s' names a node that is not defined under 'nodes:'", item->u.str);
}

static void group_child(fu_inv_t *inv, const fu_ynode_t *item, void *ud)
{
    uint32_t c = known_group(inv, item);
    if (c == 0)
        fu_err(inv->d, item, "'all' cannot be a child group");
    else if (c != UINT32_MAX)
        fu_inv_add_child(inv, *(uint32_t *)ud, c, item);
}

static void read_group_bodies(fu_inv_t *inv, const fu_ynode_t *groups)
{
    for (size_t i = 0; i < groups->n; i++) {
        const fu_ynode_t *k = groups->u.pairs[i].key, *v = groups->u.pairs[i].val;
        uint32_t g = fu_inv_group(inv, k->u.str, k->n, k);
        if (fu_y_is_null(v))
            continue;
        char where[160];
        snprintf(where, sizeof(where), "group '%s'", k->u.str);
        if (!fu_y_expect_map(inv->d, v, where))
            continue;
        for (size_t j = 0; j < v->n; j++) {
            const fu_ynode_t *gk = v->u.pairs[j].key, *gv = v->u.pairs[j].val;
            if (strcmp(gk->u.str, "vars") == 0) {
                if (!fu_y_is_null(gv) && fu_y_expect_map(inv->d, gv, "vars"))
                    read_settings(inv, gv, &inv->groups[g].vars, "group vars", NULL);
            } else if (strcmp(gk->u.str, "children") == 0) {
                each_name(inv, gv, "children", group_child, &g);
            } else if (strcmp(gk->u.str, "nodes") == 0) {
                each_name(inv, gv, "nodes", group_member, &g);
            } else {
                fu_err_unknown_key(inv->d, gk, where, group_def_keys, NKEYS(group_def_keys));
            }
        }
    }
}

static void declare_groups(fu_inv_t *inv, const fu_ynode_t *groups)
{
    for (size_t i = 0; i < groups->n; i++) {
        const fu_ynode_t *k = groups->u.pairs[i].key;
        if (strcmp(k->u.str, "all") == 0 || strcmp(k->u.str, "ungrouped") == 0 || k->n == 0 ||
            strpbrk(k->u.str, " \t,:!&*?[") != NULL) {
            fu_err(inv->d, k, "'%s' cannot be a group name (reserved, empty, or holding one of "
                              "' ,:!&*?[')", k->u.str);
            continue;
        }
        uint32_t g = fu_inv_group(inv, k->u.str, k->n, k);
        inv->groups[g].defined = true;
        inv->groups[g].at = k;
    }
}

static void read_server(fu_fleet_t *f, fu_inv_t *inv, const fu_ynode_t *srv)
{
    if (fu_y_is_null(srv) || !fu_y_expect_map(inv->d, srv, "server"))
        return;
    fu_setting_t s;
    const fu_ynode_t *cert = NULL, *key = NULL, *portn = NULL, *sslportn = NULL;
    for (size_t i = 0; i < srv->n; i++) {
        const fu_ynode_t *k = srv->u.pairs[i].key, *v = srv->u.pairs[i].val;
        const char *n = k->u.str;
        if (strcmp(n, "port") == 0 || strcmp(n, "ssl_port") == 0) {
            bool ssl = n[0] == 's';
            if (!fu_setting_parse(inv, FU_S_PORT, NULL, v, &s))
                continue;
            *(ssl ? &f->server.ssl_port : &f->server.port) = (uint16_t)s.v.i;
            *(ssl ? &f->server.ssl_port_set : &f->server.port_set) = true;
            *(ssl ? &sslportn : &portn) = v;
        } else if (strcmp(n, "bind") == 0 || strcmp(n, "callback_address") == 0) {
            if (fu_setting_parse(inv, FU_S_ADDRESS, NULL, v, &s))
                *(n[0] == 'b' ? &f->server.bind : &f->server.callback_address) = s.v.s;
        } else if (strcmp(n, "tls_cert") == 0 || strcmp(n, "tls_key") == 0) {
            const char *p = fu_y_string(inv->d, v, n);
            if (p && n[4] == 'c')
                f->server.tls_cert = p, cert = v;
            else if (p)
                f->server.tls_key = p, key = v;
        } else {
            fu_err_unknown_key(inv->d, k, "server", server_keys, NKEYS(server_keys));
        }
    }
    if (portn && sslportn && f->server.port == f->server.ssl_port)
        fu_err(inv->d, sslportn, "ssl_port %u is the same as port: the HTTP and HTTPS "
                                 "listeners need two ports", f->server.ssl_port);
    if ((cert == NULL) != (key == NULL))
        fu_err(inv->d, cert ? cert : key, "tls_cert and tls_key go together: give both, or "
                                          "neither for a generated self-signed certificate");
}

/* The folder of FILE, for paths written relative to it. */
const char *fu_fleet_dir(fu_arena_t *a, const char *file)
{
    char *copy = fu_arena_strdup(a, file);
    return fu_arena_strdup(a, dirname(copy));
}

const char *fu_fleet_path(fu_arena_t *a, const char *dir, const char *rel)
{
    if (rel[0] == '/')
        return rel;
    return fu_arena_sprintf(a, "%s/%s", dir, rel);
}

static void read_inventory_ref(fu_fleet_t *f, fu_inv_t *inv, const fu_ynode_t *v)
{
    const char *rel = fu_y_string(inv->d, v, "inventory");
    if (rel == NULL)
        return;
    const char *path = fu_fleet_path(&f->arena, fu_fleet_dir(&f->arena, f->file), rel);
    bool ok;
    size_t before = inv->d->errors;
    fu_ynode_t *root = fu_yaml_load_file(&f->arena, inv->d, path, &ok);
    if (!ok) {
        fu_err(inv->d, v, "the inventory '%s' named here cannot be used (see above)", rel);
        return;
    }
    if (root == NULL || fu_native_is(root)) {
        fu_err(inv->d, v, "'%s' is %s: 'inventory:' names an Ansible YAML inventory", rel,
               root ? "a fleetup fleet file" : "empty");
        return;
    }
    f->inventory_file = path;
    fu_ansible_read(inv, root);
    (void)before;
}

static void read_native(fu_fleet_t *f, fu_inv_t *inv, const fu_ynode_t *root)
{
    const fu_ynode_t *ver = fu_y_map_get(root, "fleetup");
    long long vnum;
    if (!fu_y_scalar_int(ver, &vnum) || vnum != 1)
        fu_err(inv->d, ver, "'fleetup:' gives the format version; this fleetup reads version 1 "
                            "(write 'fleetup: 1')");
    for (size_t i = 0; i < root->n; i++) {
        const fu_ynode_t *k = root->u.pairs[i].key;
        bool known = false;
        for (size_t j = 0; j < NKEYS(top_keys); j++)
            known |= strcmp(k->u.str, top_keys[j]) == 0;
        if (!known)
            fu_err_unknown_key(inv->d, k, "the fleet file", top_keys, NKEYS(top_keys));
    }
    read_server(f, inv, fu_y_map_get(root, "server"));
    const fu_ynode_t *defs = fu_y_map_get(root, "defaults");
    if (!fu_y_is_null(defs) && fu_y_expect_map(inv->d, defs, "defaults"))
        read_settings(inv, defs, &inv->defaults, "defaults", NULL);
    const fu_ynode_t *invref = fu_y_map_get(root, "inventory");
    if (invref)
        read_inventory_ref(f, inv, invref);
    const fu_ynode_t *groups = fu_y_map_get(root, "groups");
    bool groups_ok = !fu_y_is_null(groups) && fu_y_expect_map(inv->d, groups, "groups");
    if (groups_ok)
        declare_groups(inv, groups);
    read_nodes(inv, fu_y_map_get(root, "nodes"));
    if (groups_ok)
        read_group_bodies(inv, groups);
}

static fu_fleet_t *new_fleet(const char *path)
{
    fu_arena_t a;
    fu_arena_init(&a);
    fu_fleet_t *f = fu_arena_alloc(&a, sizeof(*f));
    f->arena = a; /* from here on only &f->arena is used */
    f->file = fu_arena_strdup(&f->arena, path);
    f->server.port = FU_DEFAULT_PORT;
    f->server.ssl_port = FU_DEFAULT_SSL_PORT;
    fu_policy_defaults(&f->policy);
    fu_sim_defaults(&f->sim);
    return f;
}

fu_fleet_t *fu_fleet_empty(const char *name)
{
    return new_fleet(name);
}

/* Builds the model from a parsed document; frees f and returns NULL on any error. */
static fu_fleet_t *load_root(fu_fleet_t *f, fu_ynode_t *root, bool ok, fu_diag_t *d, size_t before)
{
    const char *path = f->file;
    if (ok && root == NULL)
        fu_diag_add(d, FU_DIAG_ERROR, path, 0, 0, "the fleet file is empty: see docs/fleet-file.md");
    if (!ok || root == NULL) {
        fu_fleet_free(f);
        return NULL;
    }
    fu_inv_t inv;
    fu_inv_init(&inv, &f->arena, d);
    bool native = fu_native_is(root);
    if (native) {
        read_native(f, &inv, root);
    } else {
        f->ansible = true;
        fu_ansible_read(&inv, root);
        if (d->errors > before && root->kind == FU_Y_MAP)
            for (size_t i = 1; i < NKEYS(top_keys); i++)
                if (fu_y_map_get(root, top_keys[i]) != NULL) {
                    fu_diag_add(d, FU_DIAG_WARNING, path, 1, 1,
                                "read as an Ansible inventory because it has no 'fleetup: 1' "
                                "line; if this is a fleetup fleet file, add 'fleetup: 1' first");
                    break;
                }
    }
    fu_inv_resolve(&inv, f);
    fu_inv_free(&inv);
    if (f->nnodes == 0 && d->errors == before)
        fu_diag_add(d, FU_DIAG_ERROR, path, root->line, root->col,
                    native ? "the fleet has no nodes: add a 'nodes:' section or an 'inventory:'"
                           : "the inventory defines no hosts");
    if (native) {
        fu_baseline_read(f, d, fu_y_map_get(root, "baseline"));
        fu_policy_read(f, d, fu_y_map_get(root, "rollout"));
        fu_sim_read(f, d, fu_y_map_get(root, "sim"));
    }
    if (d->errors > before) {
        fu_fleet_free(f);
        return NULL;
    }
    return f;
}

fu_fleet_t *fu_fleet_load(const char *path, fu_diag_t *d)
{
    fu_fleet_t *f = new_fleet(path);
    size_t before = d->errors;
    bool ok;
    fu_ynode_t *root = fu_yaml_load_file(&f->arena, d, path, &ok);
    return load_root(f, root, ok, d, before);
}

fu_fleet_t *fu_fleet_load_buffer(const char *name, const char *buf, size_t len, fu_diag_t *d)
{
    fu_fleet_t *f = new_fleet(name);
    size_t before = d->errors;
    fu_ynode_t *root = fu_yaml_parse(&f->arena, d, name, buf, len, &fu_yaml_default_limits);
    return load_root(f, root, d->errors == before, d, before);
}
