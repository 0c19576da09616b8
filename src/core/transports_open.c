/* Making the transports a selection of nodes needs (transports_open.h). Built into
 * fleetup_app with the commands: it sits above src/transports. */
#include "core/transports_open.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/service.h"
#include "transports/redfish.h"
#include "transports/sim.h"
#include "transports/ssh.h"

static fu_transport_kind_t kind_of(const fu_fleet_t *f, uint32_t i, bool force_sim)
{
    return force_sim ? FU_TRANSPORT_SIM : f->nodes[i].transport;
}

/* One transport of kind k, or NULL with *terr set. */
static fu_transport_t *make(const fu_fleet_t *f, fu_transport_kind_t k,
                            const fu_transports_opts_t *o, const char **terr)
{
    switch (k) {
    case FU_TRANSPORT_SIM:
        return fu_sim_new(f, o->timers, o->sim_world, terr);
    case FU_TRANSPORT_REDFISH: {
        fu_redfish_opts_t ro = {.loop = o->loop, .image_uri = o->image_uri,
                                .package = o->package, .ud = o->ud};
        return fu_redfish_new(f, &ro, terr);
    }
    case FU_TRANSPORT_SSH: {
        fu_ssh_opts_t so = {.loop = o->loop, .image_uri = o->image_uri,
                            .status_uri = o->status_uri, .package = o->package, .ud = o->ud};
        return fu_ssh_new(f, &so, terr);
    }
    default:
        *terr = "no such transport in this build";
        return NULL;
    }
}

static bool drivable(fu_transport_kind_t k)
{
    return k == FU_TRANSPORT_SIM || k == FU_TRANSPORT_REDFISH || k == FU_TRANSPORT_SSH;
}

int fu_transports_open(const fu_fleet_t *f, const uint32_t *nodes, uint32_t n,
                       const fu_transports_opts_t *o, fu_transport_t *tk[FU_TRANSPORT__COUNT],
                       char *err, size_t errlen)
{
    bool used[FU_TRANSPORT__COUNT] = {false};
    for (uint32_t i = 0; i < n; i++) {
        fu_transport_kind_t k = kind_of(f, nodes[i], o->force_sim);
        if (!drivable(k)) {
            snprintf(err, errlen, "node '%s' uses the %s transport, which this build cannot "
                     "drive yet (sim, ssh and redfish work); pass --transport sim to simulate it",
                     f->nodes[nodes[i]].name, fu_transport_name(k));
            return -1;
        }
        used[k] = true;
    }
    for (int k = 0; k < FU_TRANSPORT__COUNT; k++) {
        if (!used[k])
            continue;
        const char *terr = "cannot start";
        tk[k] = make(f, (fu_transport_kind_t)k, o, &terr);
        if (tk[k] == NULL) {
            snprintf(err, errlen, "%s", terr);
            fu_transports_destroy(tk);
            return -1;
        }
        tk[k]->phase_cb = o->phase_cb;
        tk[k]->started_cb = o->started_cb;
        tk[k]->ud = o->phase_ud;
    }
    return 0;
}

fu_transport_t *fu_transports_for(fu_transport_t *const tk[FU_TRANSPORT__COUNT],
                                  const fu_fleet_t *f, uint32_t i, bool force_sim)
{
    return tk[kind_of(f, i, force_sim)];
}

int fu_transports_shutdown(fu_transport_t *const tk[FU_TRANSPORT__COUNT], void (*done)(void *ud),
                           void *ud)
{
    int pending = 0;
    if (tk[FU_TRANSPORT_REDFISH]) {
        pending++;
        fu_redfish_shutdown(tk[FU_TRANSPORT_REDFISH], done, ud);
    }
    if (tk[FU_TRANSPORT_SSH]) {
        pending++;
        fu_ssh_shutdown(tk[FU_TRANSPORT_SSH], done, ud);
    }
    return pending;
}

void fu_transports_destroy(fu_transport_t *tk[FU_TRANSPORT__COUNT])
{
    for (int k = 0; k < FU_TRANSPORT__COUNT; k++)
        if (tk[k]) {
            tk[k]->vt->destroy(tk[k]);
            tk[k] = NULL;
        }
}

typedef struct {
    int pending;
    void (*done)(void *ud);
    void *ud;
} closer_t;

static void closed_one(void *ud)
{
    closer_t *c = ud;
    if (--c->pending == 0) {
        c->done(c->ud);
        free(c);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

void fu_transports_close(uv_handle_t *const *hs, size_t nh,
                         fu_transport_t *const tk[FU_TRANSPORT__COUNT], struct fu_service_s *svc,
                         void (*done)(void *ud), void *ud)
{
    closer_t *c = malloc(sizeof(*c));
    if (c == NULL)
        abort();
    *c = (closer_t){1, done, ud}; /* held until everything below is started */
    for (size_t k = 0; k < nh; k++) {
        c->pending++;
        hs[k]->data = c;
        uv_close(hs[k], on_handle_closed);
    }
    c->pending += fu_transports_shutdown(tk, closed_one, c);
    if (svc) {
        c->pending++;
        fu_service_stop(svc, 5000, closed_one, c);
    }
    closed_one(c);
}

static void stop_loop(void *ud)
{
    uv_stop(ud);
}

void fu_transports_close_loop(uv_loop_t *loop, uv_handle_t *const *hs, size_t nh,
                              fu_transport_t *const tk[FU_TRANSPORT__COUNT],
                              struct fu_service_s *svc)
{
    fu_transports_close(hs, nh, tk, svc, stop_loop, loop); /* a stop before the run: no wait */
    uv_run(loop, UV_RUN_DEFAULT);
    /* Whatever is left (nothing, normally) is closed before the loop goes. */
    uv_run(loop, UV_RUN_NOWAIT);
}
