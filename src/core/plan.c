/* The planner: pure functions of the fleet, a node and its inventory. */
#include "core/plan.h"

#include <stdio.h>
#include <string.h>

#include "core/version.h"

static bool in_group(const fu_fleet_t *f, const fu_node_t *n, const char *group)
{
    for (uint32_t i = 0; i < n->ngroups; i++)
        if (strcmp(f->groups[n->groups[i]].name, group) == 0)
            return true;
    return false;
}

bool fu_component_applies(const fu_fleet_t *f, const fu_component_t *c, const fu_node_t *n)
{
    if (c->applies_types && !(c->applies_types & (1u << n->type)))
        return false;
    if (c->napplies_groups) {
        bool any = false;
        for (uint32_t g = 0; g < c->napplies_groups && !any; g++)
            any = in_group(f, n, c->applies_groups[g]);
        if (!any)
            return false;
    }
    for (uint32_t l = 0; l < c->napplies_labels; l++) {
        const char *v = fu_node_label(n, c->applies_labels[l].key);
        if (v == NULL || strcmp(v, c->applies_labels[l].value) != 0)
            return false;
    }
    return true;
}

void fu_component_version(const fu_component_t *c, const char *raw, char *out, size_t outlen)
{
    if (c->version_pattern == NULL || fu_version_extract(c->version_pattern, raw, out, outlen) < 0)
        snprintf(out, outlen, "%s", raw);
}

int fu_component_cmp(const fu_component_t *c, const char *installed)
{
    char a[256], b[256];
    fu_component_version(c, installed, a, sizeof(a));
    fu_component_version(c, c->version, b, sizeof(b));
    return fu_version_cmp(a, b);
}

void fu_plan_node(const fu_fleet_t *f, const fu_node_t *n, const fu_inventory_t *inv,
                  bool resumed, fu_plan_t *out)
{
    memset(out, 0, sizeof(*out));
    const fu_baseline_t *b = &f->baseline;
    for (uint32_t i = 0; i < b->ncomponents && i < FU_MAX_COMPONENTS; i++) {
        const fu_component_t *c = &b->components[i];
        if (!fu_component_applies(f, c, n))
            continue;
        uint64_t bit = 1ull << i;
        const char *have = inv && i < inv->n ? inv->versions[i] : NULL;
        int cmp = have ? fu_component_cmp(c, have) : -1;
        if (have == NULL)
            out->missing |= bit;
        if (cmp < 0 || (cmp == 0 && c->rewrite && !resumed) || (cmp > 0 && c->allow_downgrade))
            out->install |= bit;
        else if (cmp == 0)
            out->current |= bit;
        else
            out->newer |= bit;
        if ((out->install & bit) && c->reboot)
            out->reboot = true;
    }
}

uint64_t fu_plan_unmet(const fu_fleet_t *f, const fu_plan_t *plan, const fu_inventory_t *inv)
{
    uint64_t unmet = 0;
    for (uint32_t i = 0; i < f->baseline.ncomponents && i < FU_MAX_COMPONENTS; i++) {
        if (!(plan->install & (1ull << i)))
            continue;
        const char *have = inv && i < inv->n ? inv->versions[i] : NULL;
        if (have == NULL || fu_component_cmp(&f->baseline.components[i], have) != 0)
            unmet |= 1ull << i;
    }
    return unmet;
}

/* Depth-first over after: edges; the loader has already refused cycles. */
static void visit(const fu_baseline_t *b, uint32_t i, uint8_t *seen, uint32_t *order, uint32_t *n)
{
    if (seen[i])
        return;
    seen[i] = 1;
    for (uint32_t k = 0; k < b->components[i].nafter; k++)
        visit(b, b->components[i].after[k], seen, order, n);
    order[(*n)++] = i;
}

uint32_t fu_plan_order(const fu_fleet_t *f, uint32_t *order)
{
    uint8_t seen[FU_MAX_COMPONENTS] = {0};
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->baseline.ncomponents && i < FU_MAX_COMPONENTS; i++)
        visit(&f->baseline, i, seen, order, &n);
    return n;
}
