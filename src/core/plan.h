/* Planning: a node's inventory against the baseline gives what to install, in `after:`
 * order, and whether a reboot follows. Components are bits of a 64-bit mask (a baseline
 * holds at most 64 components). */
#ifndef FU_PLAN_H
#define FU_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/fleet.h"

#define FU_MAX_COMPONENTS 64

/* What a node has: the installed version of each baseline component, NULL when the
 * component is absent. Indexed like fleet->baseline.components. */
typedef struct {
    const char **versions;
    uint32_t n;
} fu_inventory_t;

typedef struct {
    uint64_t install; /* components to install */
    uint64_t current; /* already at the baseline version */
    uint64_t newer;   /* newer than the baseline, left alone (no allow_downgrade) */
    uint64_t missing; /* absent on the node and installed by this plan */
    bool reboot;      /* one reboot after all installs */
} fu_plan_t;

bool fu_component_applies(const fu_fleet_t *f, const fu_component_t *c, const fu_node_t *n);
/* The comparable form of a version: the pattern's group when the component has one. */
void fu_component_version(const fu_component_t *c, const char *raw, char *out, size_t outlen);
/* <0, 0, >0 as the installed version is older than, the same as, or newer than the
 * component's baseline version (both in their comparable form). */
int fu_component_cmp(const fu_component_t *c, const char *installed);
/* resumed: the node was caught mid-way by a crash; a component already current is then
 * never installed again, even with rewrite (it may have been rewritten before the crash). */
void fu_plan_node(const fu_fleet_t *f, const fu_node_t *n, const fu_inventory_t *inv,
                  bool resumed, fu_plan_t *out);
/* After install: the planned components whose version is not the baseline's yet. */
uint64_t fu_plan_unmet(const fu_fleet_t *f, const fu_plan_t *plan, const fu_inventory_t *inv);
/* Component indices in install order (after: first, then baseline order). */
uint32_t fu_plan_order(const fu_fleet_t *f, uint32_t *order);

#endif
