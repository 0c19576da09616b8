/* fleetup's routes on the shared server: package downloads, node status callbacks, the
 * JSON API and Prometheus metrics. Knows tokens and packages, not waves. */
#ifndef FU_ROUTES_H
#define FU_ROUTES_H

#include <stdbool.h>

#include "core/arena.h"
#include "core/fleet.h"
#include "core/strmap.h"
#include "http/packages.h"
#include "http/server.h"
#include "http/token.h"

#define FU_CALLBACK_MAX_BODY (64 * 1024)
#define FU_CALLBACKS_KEPT 1024

typedef struct {
    int64_t at_ms;
    char rollout[24], node[256], phase[32], state[32], message[512];
    int percent, exit_code; /* -1: not given */
} fu_status_post_t;

typedef enum { FU_ROUTE_PKG, FU_ROUTE_CB, FU_ROUTE_API, FU_ROUTE_METRICS, FU_ROUTE_OTHER, FU_ROUTE__COUNT } fu_route_t;

typedef struct {
    const fu_fleet_t *fleet;
    const fu_packages_t *packages;
    const fu_secrets_t *secrets;
    fu_http_server_t *server;
    bool api_on_http; /* the API and metrics on the plain port too */
    const char *fingerprint;
    uint16_t port, ssl_port;
    /* recent callbacks, a ring */
    fu_status_post_t *callbacks;
    uint64_t ncallbacks;
    uint64_t requests[FU_ROUTE__COUNT][6]; /* by status class: 2xx 3xx 4xx(401/403) 4xx 5xx other */
    uint64_t by_status[FU_ROUTE__COUNT][600];
    void (*on_callback)(void *ud, const fu_status_post_t *cb); /* the scheduler, later */
    /* Tokens already verified: "ROLLOUT\nNODE" -> its MAC, so a node that posts often
     * costs one HMAC, not one per post. Bounded: cleared when full. */
    fu_strmap_t token_cache;
    fu_strmap_t node_index; /* node name -> present, built on first use */
    fu_arena_t token_arena;
    void *ud;
} fu_routes_t;

void fu_routes_init(fu_routes_t *r);
void fu_routes_free(fu_routes_t *r);
void fu_routes_handle(void *ud, fu_http_request_t *req);
size_t fu_routes_body_limit(void *ud, const char *method, const char *path);

#endif
