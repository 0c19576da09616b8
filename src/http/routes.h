/* fleetup's routes on the shared server: package downloads, node status callbacks, the
 * JSON API and Prometheus metrics. Knows tokens and packages, not waves. */
#ifndef FU_ROUTES_H
#define FU_ROUTES_H

#include <stdbool.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/fleet.h"
#include "core/strmap.h"
#include "http/packages.h"
#include "http/server.h"
#include "http/token.h"

#define FU_CALLBACK_MAX_BODY (64 * 1024)
#define FU_API_MAX_BODY (64 * 1024)
#define FU_CALLBACKS_KEPT 1024

typedef struct fu_status_post_s {
    int64_t at_ms;
    char rollout[24], node[256], phase[32], state[32], message[512];
    int percent, exit_code; /* -1: not given */
} fu_status_post_t;

typedef enum { FU_ROUTE_PKG, FU_ROUTE_CB, FU_ROUTE_API, FU_ROUTE_METRICS, FU_ROUTE_OTHER, FU_ROUTE__COUNT } fu_route_t;

/* What a layer above adds to the routes (`fleetup serve`'s rollouts); every member may
 * be NULL. */
typedef struct {
    /* /api/v1/... after the admin token was checked: true when it answered req. */
    bool (*api)(void *ud, fu_http_request_t *req);
    /* More gauges for /metrics, in Prometheus text. */
    void (*metrics)(void *ud, FILE *out);
    /* Packages beyond the service's own fleet's: those of rollout (the node token's;
     * NULL for the admin token: any rollout's), or NULL. */
    const fu_package_t *(*package)(void *ud, const char *rollout, const char *sha256);
    /* Is node in rollout? (beyond the service's own fleet) */
    bool (*node_known)(void *ud, const char *rollout, const char *node);
    /* A node's status post, accepted (token and body checked). */
    void (*status)(void *ud, const struct fu_status_post_s *post);
    void *ud;
} fu_routes_ext_t;

typedef struct {
    const fu_fleet_t *fleet;
    fu_routes_ext_t ext;
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
    /* Tokens already verified: "ROLLOUT\nNODE" -> its MAC, so a node that posts often
     * costs one HMAC, not one per post. Bounded: cleared when full. */
    fu_strmap_t token_cache;
    fu_strmap_t node_index; /* node name -> present, built on first use */
    fu_arena_t token_arena;
} fu_routes_t;

void fu_routes_init(fu_routes_t *r);
void fu_routes_free(fu_routes_t *r);
void fu_routes_handle(void *ud, fu_http_request_t *req);
size_t fu_routes_body_limit(void *ud, const char *method, const char *path);
/* An answer from an extension's API handler, counted in /metrics like the routes' own. */
void fu_routes_respond(fu_routes_t *r, fu_http_request_t *req, int status, const char *content_type,
                       const char *extra_headers, const char *body, size_t len);

#endif
