/* fleetup's HTTP/HTTPS service as one piece: the server, its routes, the baseline's
 * packages, the secrets and the TLS context, on a given loop. `fleetup serve` runs it
 * alone; `fleetup deploy` runs it beside the rollout so that BMCs pull their images
 * from it. */
#ifndef FU_SERVICE_H
#define FU_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/fleet.h"
#include "core/ports.h"
#include "http/packages.h"
#include "http/routes.h"
#include "http/server.h"
#include "http/token.h"

typedef struct {
    const char *state_dir;
    const char *port, *ssl_port; /* flags, or NULL */
    const char *const *binds;    /* NULL: the fleet's server.bind, else 0.0.0.0 and :: */
    int nbinds;
    bool api_on_http;
    uint32_t max_connections;    /* 0: 10,000 */
    uint64_t header_timeout_ms, idle_timeout_ms; /* 0: the server's defaults */
    void (*log)(void *ud, const char *line);
    void *ud;
} fu_service_opts_t;

typedef struct fu_service_s {
    uv_loop_t *loop;
    const fu_fleet_t *f;
    fu_service_opts_t o;
    fu_http_server_t *server;
    fu_routes_t routes;
    fu_packages_t packages;
    fu_secrets_t secrets;
    SSL_CTX *tls;
    char fingerprint[128];
    fu_server_ports_t ports;
    const char *bound[8]; /* the addresses listened on */
    int nbound;
    void (*ready)(void *ud, const char *err);
    void *ready_ud;
    void (*stopped)(void *ud);
    void *stopped_ud;
    bool stopping;
    char err[1024];
} fu_service_t;

/* Ports, secrets (made on first use), TLS context, the server and routes; nothing
 * listens yet. -1 with a message in err; -2 when it is the ports (a usage error). */
int fu_service_init(fu_service_t *s, uv_loop_t *loop, const fu_fleet_t *f,
                    const fu_service_opts_t *o, char *err, size_t errlen);
/* Maps and hashes the packages, then listens; ready runs on the loop with err NULL, or
 * with what went wrong (then the service is already stopping). */
void fu_service_start(fu_service_t *s, void (*ready)(void *ud, const char *err), void *ud);
/* Stops accepting and lets responses in progress finish until deadline_ms; then cb. */
void fu_service_stop(fu_service_t *s, uint64_t deadline_ms, void (*cb)(void *ud), void *ud);
/* After stopped (or if never started): frees what init made. */
void fu_service_free(fu_service_t *s);

/* The URL a node of fleet f downloads component c from: scheme by the node's
 * callback_scheme, host = f's callback_address, else the service's fleet's, else local
 * (the address the orchestrator used to reach the node), else the one address listened
 * on. -1 with a message in buf. */
int fu_service_image_url(const fu_service_t *s, const fu_fleet_t *f, const fu_node_t *n,
                         const fu_component_t *c, const char *rollout, const char *local,
                         char *buf, size_t len);

/* Where node n posts its status (/cb/ROLLOUT/NODE, same host rules), its bearer token,
 * and the public-key pin of the HTTPS certificate as curl's --pinnedpubkey takes it
 * ("sha256//BASE64"; empty without TLS). -1 with a message in url. */
int fu_service_status_url(const fu_service_t *s, const fu_fleet_t *f, const fu_node_t *n,
                          const char *rollout, const char *local, char *url, size_t urllen,
                          char *tok, size_t toklen, char *pin, size_t pinlen);

#endif
