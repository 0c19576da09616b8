/* The loader's group/host tables and their resolution into fleet nodes: cycle checks,
 * group depths, and variable precedence all < parent < child < host (Ansible's order:
 * groups sorted by depth, then ansible_group_priority, then name). */
#include <stdlib.h>
#include <string.h>

#include "core/inventory.h"

void fu_inv_init(fu_inv_t *inv, fu_arena_t *a, fu_diag_t *d)
{
    memset(inv, 0, sizeof(*inv));
    inv->a = a;
    inv->d = d;
    fu_strmap_init(&inv->group_idx);
    fu_strmap_init(&inv->host_idx);
    fu_inv_group(inv, "all", 3, NULL);
    inv->groups[0].defined = true;
}

void fu_inv_free(fu_inv_t *inv)
{
    for (uint32_t i = 0; i < inv->ngroups; i++) {
        free(inv->groups[i].children);
        free(inv->groups[i].parents);
    }
    for (uint32_t i = 0; i < inv->nhosts; i++)
        free(inv->hosts[i].groups);
    free(inv->groups);
    free(inv->hosts);
    fu_strmap_free(&inv->group_idx);
    fu_strmap_free(&inv->host_idx);
}

static void *grow(void *p, uint32_t *cap, size_t elem)
{
    *cap = *cap ? *cap * 2 : 4;
    p = realloc(p, (size_t)*cap * elem);
    if (p == NULL)
        abort();
    return p;
}

uint32_t fu_inv_group(fu_inv_t *inv, const char *name, size_t len, const fu_ynode_t *at)
{
    void *v = fu_strmap_get(&inv->group_idx, name, len);
    if (v)
        return (uint32_t)((uintptr_t)v - 1);
    if (inv->ngroups == inv->groups_cap)
        inv->groups = grow(inv->groups, &inv->groups_cap, sizeof(*inv->groups));
    fu_inv_group_t *g = &inv->groups[inv->ngroups];
    memset(g, 0, sizeof(*g));
    g->name = fu_arena_strndup(inv->a, name, len);
    g->at = at;
    fu_strmap_put(&inv->group_idx, g->name, len, (void *)(uintptr_t)(inv->ngroups + 1));
    return inv->ngroups++;
}

uint32_t fu_inv_host(fu_inv_t *inv, const char *name, size_t len, const fu_ynode_t *at, bool *existed)
{
    void *v = fu_strmap_get(&inv->host_idx, name, len);
    *existed = v != NULL;
    if (v)
        return (uint32_t)((uintptr_t)v - 1);
    if (inv->nhosts >= FU_MAX_NODES) {
        if (!inv->too_many)
            fu_err(inv->d, at, "more than %d nodes: split the fleet into several files",
                   FU_MAX_NODES);
        inv->too_many = true;
        return UINT32_MAX;
    }
    if (inv->nhosts == inv->hosts_cap)
        inv->hosts = grow(inv->hosts, &inv->hosts_cap, sizeof(*inv->hosts));
    fu_inv_host_t *h = &inv->hosts[inv->nhosts];
    memset(h, 0, sizeof(*h));
    h->name = fu_arena_strndup(inv->a, name, len);
    h->at = at;
    fu_strmap_put(&inv->host_idx, h->name, len, (void *)(uintptr_t)(inv->nhosts + 1));
    return inv->nhosts++;
}

void fu_inv_add_child(fu_inv_t *inv, uint32_t parent, uint32_t child, const fu_ynode_t *at)
{
    fu_inv_group_t *p = &inv->groups[parent];
    for (uint32_t i = 0; i < p->nchildren; i++)
        if (p->children[i].group == child)
            return;
    if (p->nchildren == p->children_cap)
        p->children = grow(p->children, &p->children_cap, sizeof(*p->children));
    p->children[p->nchildren++] = (fu_edge_t){child, at};
    fu_inv_group_t *c = &inv->groups[child];
    if (c->nparents == c->parents_cap)
        c->parents = grow(c->parents, &c->parents_cap, sizeof(*c->parents));
    c->parents[c->nparents++] = parent;
}

void fu_inv_host_in_group(fu_inv_t *inv, uint32_t host, uint32_t group)
{
    fu_inv_host_t *h = &inv->hosts[host];
    for (uint32_t i = 0; i < h->ngroups; i++)
        if (h->groups[i] == group)
            return;
    if (h->ngroups == h->groups_cap)
        h->groups = grow(h->groups, &h->groups_cap, sizeof(*h->groups));
    h->groups[h->ngroups++] = group;
}

/* Depth-first walk over children: reports each cycle at the edge that closes it and
 * removes that edge, then gives every group its depth (longest path from 'all'). */
enum { WHITE, GREY, BLACK };

static void visit(fu_inv_t *inv, uint32_t g, uint8_t *color, uint32_t *order, uint32_t *norder)
{
    color[g] = GREY;
    fu_inv_group_t *grp = &inv->groups[g];
    for (uint32_t i = 0; i < grp->nchildren; i++) {
        uint32_t c = grp->children[i].group;
        if (color[c] == GREY) {
            fu_err(inv->d, grp->children[i].at,
                   "group '%s' is made a child of '%s', which is already below it: the "
                   "children form a cycle; remove one of the links",
                   inv->groups[c].name, grp->name);
            grp->children[i] = grp->children[--grp->nchildren];
            i--;
        } else if (color[c] == WHITE) {
            visit(inv, c, color, order, norder);
        }
    }
    color[g] = BLACK;
    order[(*norder)++] = g;
}

static void compute_depths(fu_inv_t *inv)
{
    uint8_t *color = calloc(inv->ngroups, 1);
    uint32_t *order = malloc(inv->ngroups * sizeof(*order));
    uint32_t norder = 0;
    if (color == NULL || order == NULL)
        abort();
    visit(inv, 0, color, order, &norder);
    for (uint32_t g = 1; g < inv->ngroups; g++)
        if (color[g] == WHITE)
            visit(inv, g, color, order, &norder);
    /* Reverse post-order is a topological order: parents before children. */
    for (uint32_t i = norder; i-- > 0;) {
        fu_inv_group_t *grp = &inv->groups[order[i]];
        for (uint32_t k = 0; k < grp->nchildren; k++) {
            fu_inv_group_t *c = &inv->groups[grp->children[k].group];
            if (c->depth < grp->depth + 1)
                c->depth = grp->depth + 1;
        }
    }
    free(color);
    free(order);
}

typedef struct {
    fu_inv_t *inv;
    uint32_t *v;
    uint32_t n, cap;
} group_set_t;

static int group_order(const void *pa, const void *pb, void *ud)
{
    const fu_inv_t *inv = ud;
    const fu_inv_group_t *a = &inv->groups[*(const uint32_t *)pa];
    const fu_inv_group_t *b = &inv->groups[*(const uint32_t *)pb];
    if (a->depth != b->depth)
        return a->depth < b->depth ? -1 : 1;
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int group_name_order(const void *pa, const void *pb, void *ud)
{
    const fu_inv_t *inv = ud;
    return strcmp(inv->groups[*(const uint32_t *)pa].name, inv->groups[*(const uint32_t *)pb].name);
}

static void collect(group_set_t *s, uint32_t g, uint32_t stamp)
{
    fu_inv_group_t *grp = &s->inv->groups[g];
    if (grp->stamp == stamp)
        return;
    grp->stamp = stamp;
    if (s->n == s->cap)
        s->v = grow(s->v, &s->cap, sizeof(*s->v));
    s->v[s->n++] = g;
    for (uint32_t i = 0; i < grp->nparents; i++)
        collect(s, grp->parents[i], stamp);
}

typedef struct {
    const fu_setting_t *known[FU_S__KNOWN];
    const fu_setting_t **labels;
    uint32_t nlabels, labels_cap;
} effective_t;

static void apply(effective_t *e, const fu_settings_t *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        const fu_setting_t *v = &s->v[i];
        if (v->id < FU_S__KNOWN) {
            e->known[v->id] = v;
            continue;
        }
        uint32_t k = 0;
        while (k < e->nlabels && strcmp(e->labels[k]->label, v->label) != 0)
            k++;
        if (k == e->nlabels) {
            if (e->nlabels == e->labels_cap)
                e->labels = grow(e->labels, &e->labels_cap, sizeof(*e->labels));
            e->nlabels++;
        }
        e->labels[k] = v;
    }
}

static const char *sval(const effective_t *e, int id, const char *dflt)
{
    return e->known[id] ? e->known[id]->v.s : dflt;
}

static void fill_node(fu_inv_t *inv, fu_node_t *n, const fu_inv_host_t *h, const effective_t *e)
{
    n->name = h->name;
    n->pos = (fu_pos_t){h->at ? h->at->file : NULL, h->at ? h->at->line : 0, h->at ? h->at->col : 0};
    n->type = e->known[FU_S_TYPE] ? (fu_node_type_t)e->known[FU_S_TYPE]->v.i : FU_TYPE_LINUX;
    n->transport = e->known[FU_S_TRANSPORT] ? (fu_transport_kind_t)e->known[FU_S_TRANSPORT]->v.i
                                            : fu_node_type_transport(n->type);
    n->address = sval(e, FU_S_ADDRESS, h->name);
    n->mgmt_address = sval(e, FU_S_MGMT_ADDRESS, NULL);
    n->port = e->known[FU_S_PORT] ? (uint16_t)e->known[FU_S_PORT]->v.i
                                  : fu_transport_default_port(n->transport);
    n->user = sval(e, FU_S_USER, NULL);
    n->callback = e->known[FU_S_CALLBACK] ? (fu_callback_t)e->known[FU_S_CALLBACK]->v.i
                                          : FU_CALLBACK_PULL;
    n->callback_scheme = e->known[FU_S_CALLBACK_SCHEME]
                             ? (fu_scheme_t)e->known[FU_S_CALLBACK_SCHEME]->v.i
                             : fu_node_type_default_scheme(n->type);
    n->host_key_check = e->known[FU_S_HOST_KEY_CHECK]
                            ? (fu_hostkey_t)e->known[FU_S_HOST_KEY_CHECK]->v.i
                            : FU_HOSTKEY_STRICT;
    n->known_hosts = sval(e, FU_S_KNOWN_HOSTS, NULL);
    n->ssh_agent = e->known[FU_S_SSH_AGENT] ? e->known[FU_S_SSH_AGENT]->v.b : false;
    n->key_file = sval(e, FU_S_KEY_FILE, NULL);
    n->key_passphrase_env = sval(e, FU_S_KEY_PASSPHRASE_ENV, NULL);
    n->key_passphrase_file = sval(e, FU_S_KEY_PASSPHRASE_FILE, NULL);
    n->password_env = sval(e, FU_S_PASSWORD_ENV, NULL);
    n->password_file = sval(e, FU_S_PASSWORD_FILE, NULL);
    n->password_inline = sval(e, FU_S_PASSWORD_INLINE, NULL);
    n->tls_fingerprint = sval(e, FU_S_TLS_FINGERPRINT, NULL);
    n->tls_ca_file = sval(e, FU_S_TLS_CA_FILE, NULL);
    n->tls_insecure = e->known[FU_S_TLS_INSECURE] ? e->known[FU_S_TLS_INSECURE]->v.b : false;
    n->plain_http = e->known[FU_S_PLAIN_HTTP] ? e->known[FU_S_PLAIN_HTTP]->v.b : false;
    if (n->password_env && n->password_file)
        fu_err(inv->d, e->known[FU_S_PASSWORD_FILE]->at,
               "node '%s' gets both password_env and password_file: keep one", n->name);
    if ((n->key_passphrase_env || n->key_passphrase_file) && !n->key_file) {
        const fu_setting_t *s = e->known[FU_S_KEY_PASSPHRASE_ENV] ? e->known[FU_S_KEY_PASSPHRASE_ENV]
                                                                  : e->known[FU_S_KEY_PASSPHRASE_FILE];
        fu_err(inv->d, s->at, "node '%s' has a key passphrase but no key_file", n->name);
    }
    n->nlabels = e->nlabels;
    n->labels = e->nlabels ? fu_arena_alloc(inv->a, e->nlabels * sizeof(*n->labels)) : NULL;
    for (uint32_t i = 0; i < e->nlabels; i++)
        n->labels[i] = (fu_label_t){e->labels[i]->label, e->labels[i]->v.s};
}

static void resolve_host(fu_inv_t *inv, uint32_t hi, group_set_t *gs, effective_t *e,
                         uint32_t ungrouped, fu_node_t *node)
{
    fu_inv_host_t *h = &inv->hosts[hi];
    gs->n = 0;
    collect(gs, 0, hi + 1);
    if (h->ngroups == 0 && ungrouped != UINT32_MAX)
        collect(gs, ungrouped, hi + 1);
    for (uint32_t i = 0; i < h->ngroups; i++)
        collect(gs, h->groups[i], hi + 1);
    qsort_r(gs->v, gs->n, sizeof(*gs->v), group_order, inv);
    memset(e->known, 0, sizeof(e->known));
    e->nlabels = 0;
    apply(e, &inv->defaults);
    for (uint32_t i = 0; i < gs->n; i++)
        apply(e, &inv->groups[gs->v[i]].vars);
    apply(e, &h->vars);
    fill_node(inv, node, h, e);
    /* The node's groups: every ancestor but the implicit ones, by name. */
    uint32_t k = 0;
    for (uint32_t i = 0; i < gs->n; i++)
        if (gs->v[i] != 0 && gs->v[i] != ungrouped)
            gs->v[k++] = gs->v[i];
    qsort_r(gs->v, k, sizeof(*gs->v), group_name_order, inv);
    node->ngroups = k;
    node->groups = k ? fu_arena_alloc(inv->a, k * sizeof(uint32_t)) : NULL;
    if (k)
        memcpy(node->groups, gs->v, k * sizeof(uint32_t));
}

void fu_inv_resolve(fu_inv_t *inv, fu_fleet_t *f)
{
    /* A group nobody names as a child hangs below 'all'. */
    for (uint32_t g = 1; g < inv->ngroups; g++)
        if (inv->groups[g].nparents == 0)
            fu_inv_add_child(inv, 0, g, inv->groups[g].at);
    compute_depths(inv);
    for (uint32_t g = 1; g < inv->ngroups; g++)
        inv->groups[g].stamp = 0;
    void *u = fu_strmap_get(&inv->group_idx, "ungrouped", 9);
    uint32_t ungrouped = u ? (uint32_t)((uintptr_t)u - 1) : UINT32_MAX;

    f->ngroups = inv->ngroups;
    f->groups = fu_arena_alloc(&f->arena, inv->ngroups * sizeof(*f->groups));
    for (uint32_t g = 0; g < inv->ngroups; g++) {
        const fu_ynode_t *at = inv->groups[g].at;
        f->groups[g].name = inv->groups[g].name;
        f->groups[g].pos = (fu_pos_t){at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0};
    }
    f->nnodes = inv->nhosts;
    f->nodes = fu_arena_alloc(&f->arena, (inv->nhosts + 1) * sizeof(*f->nodes));
    group_set_t gs = {.inv = inv};
    effective_t e;
    memset(&e, 0, sizeof(e));
    for (uint32_t h = 0; h < inv->nhosts; h++)
        resolve_host(inv, h, &gs, &e, ungrouped, &f->nodes[h]);
    free(gs.v);
    free(e.labels);
}
