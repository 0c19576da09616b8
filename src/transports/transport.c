/* Phase dispatch through the vtable. */
#include "transports/transport.h"

#include <errno.h>

int fu_transport_start(fu_transport_t *t, uint32_t node, fu_phase_t ph, const fu_plan_t *plan)
{
    const fu_transport_vtable_t *vt = t->vt;
    switch (ph) {
    case FU_PHASE_CONNECT:
        return vt->connect(t, node);
    case FU_PHASE_INVENTORY:
    case FU_PHASE_VERIFY:
        return vt->inventory(t, node, ph);
    case FU_PHASE_STAGE:
        return vt->stage(t, node, plan);
    case FU_PHASE_INSTALL:
        return vt->install(t, node, plan);
    case FU_PHASE_ACTIVATE:
        return vt->activate(t, node);
    default:
        return -EINVAL;
    }
}
