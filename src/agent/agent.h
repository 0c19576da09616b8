/* The node agent (src/agent/fleetup-agent.sh) as C data, generated at build time by
 * src/agent/embed.cmake. The SSH transport uploads these exact bytes to each node, as
 * $FLEETUP_DIR/agent-<first 16 hex of their SHA-256>.sh, and runs them with sh. */
#ifndef FU_AGENT_H
#define FU_AGENT_H

#include <stddef.h>

/* The script's bytes; a NUL follows them (not counted in the length) for string use. */
extern const unsigned char fu_agent_script[];
extern const size_t fu_agent_script_len;

#endif
