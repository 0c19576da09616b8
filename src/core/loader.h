/* Internal to the loader: the baseline and rollout readers and path helpers. */
#ifndef FU_LOADER_H
#define FU_LOADER_H

#include "core/fleet.h"
#include "core/yaml_tree.h"

void fu_policy_defaults(fu_policy_t *p);
void fu_policy_read(fu_fleet_t *f, fu_diag_t *d, const fu_ynode_t *rollout);
void fu_sim_read(fu_fleet_t *f, fu_diag_t *d, const fu_ynode_t *sim);
void fu_baseline_read(fu_fleet_t *f, fu_diag_t *d, const fu_ynode_t *baseline);
const char *fu_fleet_dir(fu_arena_t *a, const char *file);
const char *fu_fleet_path(fu_arena_t *a, const char *dir, const char *rel);
/* "30s", "5m", "1h", "250ms", "0", or a bare number of seconds. */
bool fu_duration_parse(const char *s, uint64_t *ms);

#endif
