/* The sim transport: simulated nodes in this process, per node type, with durations
 * and faults from the fleet's `sim:` section; deterministic for a seed, in real or
 * virtual time (it only uses the timers it is given). Optionally the simulated nodes'
 * installed versions persist in an SQLite file, so that they outlive an orchestrator
 * killed with -9, as real machines do. */
#ifndef FU_SIM_H
#define FU_SIM_H

#include "transports/transport.h"

/* world_path: NULL keeps the simulated nodes in memory only. */
fu_transport_t *fu_sim_new(const fu_fleet_t *f, fu_timers_t *timers, const char *world_path,
                           const char **err);
/* How often component c was installed on fleet node i (tests: never twice). */
uint32_t fu_sim_installs(const fu_transport_t *t, uint32_t node, uint32_t component);
/* The duration the sim draws for a phase try of fleet node i (benchmarks: the ideal). */
uint64_t fu_sim_duration(const fu_transport_t *t, uint32_t node, fu_phase_t phase, uint32_t try_);
const char *fu_sim_installed(const fu_transport_t *t, uint32_t node, uint32_t component);

#endif
