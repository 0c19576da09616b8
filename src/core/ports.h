/* The ports model: the HP SUM seed table as data, the server ports fleetup listens on
 * (with where each came from), and the TCP ports each node needs in each phase.
 * Firewall emitters (firewall.c) turn a plan into nftables, iptables or ESXi rules. */
#ifndef FU_PORTS_H
#define FU_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/fleet.h"

/* ---- The seed table (HP SUM network-port chapter) ---- */

typedef struct {
    uint16_t port;
    bool optional; /* written "(80)" in the seed */
} fu_seed_port_t;

#define FU_SEED_MAX_PORTS 5

typedef struct {
    fu_seed_port_t v[FU_SEED_MAX_PORTS];
    uint8_t n;
} fu_seed_ports_t;

typedef struct {
    fu_seed_ports_t to_target;
    fu_seed_ports_t from_target_7_2_1; /* HP SUM 7.2.1 and earlier */
    fu_seed_ports_t from_target_7_3_0; /* HP SUM 7.3.0 and later */
} fu_seed_phase_t;

typedef struct {
    fu_node_type_t type;
    const char *seed_row; /* the seed's "target node type" cell this row comes from */
    fu_seed_phase_t inventory, deployment;
} fu_ports_seed_t;

/* The seed's row for a node type; bmc (any other Redfish BMC) uses the iLO row. */
const fu_ports_seed_t *fu_ports_seed(fu_node_type_t t);

/* ---- fleetup's server ports and their precedence ---- */

typedef enum {
    FU_PORT_SRC_DEFAULT,
    FU_PORT_SRC_FLEET,
    FU_PORT_SRC_ENV,
    FU_PORT_SRC_FLAG
} fu_port_source_t;

typedef struct {
    uint16_t port, ssl_port;
    fu_port_source_t port_source, ssl_port_source;
} fu_server_ports_t;

#define FU_ENV_PORT "FLEETUP_PORT"
#define FU_ENV_SSL_PORT "FLEETUP_SSL_PORT"

/* Resolves port and ssl_port: flag > environment > fleet file > 63001/63002. Each string
 * is NULL when absent; an empty environment value counts as unset. f may be NULL.
 * Returns 0, or -1 with a message naming the bad value in err (invalid port, or both
 * ports equal). Pure: reads no environment itself, so tests need no setenv. */
int fu_ports_resolve(const fu_fleet_t *f, const char *flag_port, const char *flag_ssl,
                     const char *env_port, const char *env_ssl, fu_server_ports_t *out,
                     char *err, size_t errlen);
/* "flag", "env FLEETUP_PORT" (or FLEETUP_SSL_PORT when ssl), "fleet file", "default". */
const char *fu_port_source_name(fu_port_source_t s, bool ssl);

/* ---- What fleetup needs per node ---- */

#define FU_PORTS_MAX 2

/* TCP ports, sorted, no duplicates. */
typedef struct {
    uint16_t v[FU_PORTS_MAX];
    uint8_t n;
} fu_portset_t;

typedef struct {
    fu_portset_t to_node;   /* fleetup connects to the node */
    fu_portset_t from_node; /* the node connects to fleetup's server */
} fu_phase_ports_t;

typedef struct {
    fu_phase_ports_t inventory, deployment;
} fu_node_ports_t;

/* The ports one node needs, for the effective server ports. */
void fu_ports_node(const fu_node_t *n, const fu_server_ports_t *sp, fu_node_ports_t *out);

/* One aggregate: nodes with the same type, transport, to-node port and callback mode
 * (and scheme in pull mode: in push mode the scheme opens nothing, so it is not a key). */
typedef struct {
    fu_node_type_t type;
    fu_transport_kind_t transport;
    uint16_t to_port; /* 0: the transport opens nothing (local, sim) */
    fu_callback_t callback;
    fu_scheme_t scheme; /* meaningful in pull mode only */
    size_t nodes;
    size_t nmgmt; /* nodes with a mgmt_address */
    fu_node_ports_t ports;
} fu_ports_row_t;

typedef struct {
    const fu_fleet_t *fleet;
    const bool *sel; /* nnodes flags from --limit, or NULL for every node */
    fu_server_ports_t server;
    fu_ports_row_t *rows; /* sorted by type, transport, port, callback, scheme */
    size_t nrows;
    size_t nselected;
} fu_ports_plan_t;

/* Builds the aggregate rows for the selected nodes. Returns 0 or -ENOMEM. */
int fu_ports_plan_build(const fu_fleet_t *f, const bool *sel, const fu_server_ports_t *sp,
                        fu_ports_plan_t *out);
void fu_ports_plan_free(fu_ports_plan_t *p);
bool fu_ports_selected(const fu_ports_plan_t *p, size_t i);

/* Where fleetup differs from the seed for this row, in one line ("; "-separated). */
void fu_ports_row_note(const fu_ports_row_t *r, char *buf, size_t len);

/* Prints "22, 443" or "none"; optional seed ports in parentheses like the seed. */
void fu_portset_format(const fu_portset_t *s, char *buf, size_t len);
void fu_seed_ports_format(const fu_seed_ports_t *s, char *buf, size_t len);

/* ---- Firewall emitters (firewall.c) ---- */

/* nftables ruleset for the host running fleetup, loadable with nft -f. Returns 0. */
int fu_firewall_nft(const fu_ports_plan_t *p, FILE *out);
/* iptables-restore (ipv6 false) or ip6tables-restore (ipv6 true) input. Returns 0. */
int fu_firewall_iptables(const fu_ports_plan_t *p, bool ipv6, FILE *out);
/* ESXi firewall service XML on out; the steps to install it on info. Returns 0. */
int fu_firewall_esxi(const fu_ports_plan_t *p, FILE *out, FILE *info);

#endif
