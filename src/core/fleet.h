/* The fleet model: what a loaded fleet file means, after inheritance and validation.
 * Built by fu_fleet_load() (loader.c) in one arena; read-only afterwards. */
#ifndef FU_FLEET_H
#define FU_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/diag.h"

typedef enum {
    FU_TYPE_LINUX,
    FU_TYPE_WINDOWS,
    FU_TYPE_HPUX,
    FU_TYPE_VMWARE,
    FU_TYPE_OA,
    FU_TYPE_ILO,
    FU_TYPE_VC,
    FU_TYPE_FC_SWITCH,
    FU_TYPE_SAS_SWITCH,
    FU_TYPE_MOONSHOT,
    FU_TYPE_SUPERDOME,
    FU_TYPE_BMC,
    FU_TYPE__COUNT
} fu_node_type_t;

typedef enum { FU_TRANSPORT_SSH, FU_TRANSPORT_REDFISH, FU_TRANSPORT_LOCAL, FU_TRANSPORT_SIM, FU_TRANSPORT__COUNT } fu_transport_kind_t;
typedef enum { FU_CALLBACK_PULL, FU_CALLBACK_PUSH } fu_callback_t;
typedef enum { FU_SCHEME_HTTP, FU_SCHEME_HTTPS } fu_scheme_t;
typedef enum { FU_HOSTKEY_STRICT, FU_HOSTKEY_ACCEPT_NEW, FU_HOSTKEY_OFF } fu_hostkey_t;

/* Phases of the node lifecycle (DESIGN.md) that carry a timeout or a concurrency. */
typedef enum {
    FU_PHASE_CONNECT,
    FU_PHASE_INVENTORY,
    FU_PHASE_STAGE,
    FU_PHASE_INSTALL,
    FU_PHASE_ACTIVATE,
    FU_PHASE_VERIFY,
    FU_PHASE__COUNT
} fu_phase_t;

typedef struct {
    const char *key, *value;
} fu_label_t;

/* Where a value came from in a fleet file. */
typedef struct {
    const char *file;
    uint32_t line, col;
} fu_pos_t;

typedef struct {
    const char *name;
    fu_pos_t pos;
} fu_group_t;

typedef struct {
    const char *name;
    fu_node_type_t type;
    fu_transport_kind_t transport;
    const char *address;      /* production / OS address; the name when not given */
    const char *mgmt_address; /* management network address, or NULL */
    uint16_t port;            /* the transport's port on the node */
    const char *user;         /* NULL: the transport's default */
    fu_callback_t callback;
    fu_scheme_t callback_scheme; /* pull mode: how the node reaches fleetup's server */
    fu_hostkey_t host_key_check;
    const char *known_hosts; /* NULL: ~/.ssh/known_hosts */
    /* Credential references; never a secret, except password_inline below. */
    bool ssh_agent;
    const char *key_file, *key_passphrase_env, *key_passphrase_file;
    const char *password_env, *password_file;
    /* Only from an Ansible inventory's ansible_password: kept in memory, never printed. */
    const char *password_inline;
    /* Redfish (HTTPS) peers: how their certificate is checked. A pinned fingerprint wins
     * over the CA file; tls_insecure (checks nothing) only when the fleet file says so;
     * plain_http (no TLS at all) for simulators and labs. */
    const char *tls_fingerprint, *tls_ca_file;
    bool tls_insecure, plain_http;
    uint32_t ngroups, nlabels;
    uint32_t *groups; /* indices into fleet->groups, all ancestors, sorted by name */
    fu_label_t *labels;
    fu_pos_t pos;
} fu_node_t;

typedef struct fu_component_s {
    const char *name;
    const char *version;
    const char *version_pattern; /* optional regex whose first group is the version */
    const char *package;      /* as written */
    const char *package_path; /* resolved against the fleet file's folder */
    const char *sha256;       /* 64 lowercase hex digits */
    const char *probe;        /* optional command that prints the installed version */
    const char *match;        /* optional pattern for the inventory name of this component */
    bool reboot, allow_downgrade, rewrite;
    uint32_t applies_types; /* bit per fu_node_type_t; all when 0 and no groups/labels */
    const char **applies_groups;
    fu_label_t *applies_labels;
    uint32_t napplies_groups, napplies_labels;
    const char **targets; /* Redfish Targets */
    uint32_t ntargets;
    uint32_t *after; /* indices of components that must be installed first */
    uint32_t nafter;
    fu_pos_t pos;
} fu_component_t;

typedef struct {
    const char *name;
    fu_component_t *components;
    size_t ncomponents;
} fu_baseline_t;

typedef struct {
    enum { FU_AMOUNT_NONE, FU_AMOUNT_COUNT, FU_AMOUNT_PERCENT } unit;
    double value;
} fu_amount_t;

typedef struct {
    const char *label;
    uint32_t max;
} fu_max_per_t;

typedef struct {
    fu_amount_t *waves; /* ramp; the last one repeats */
    size_t nwaves;
    enum { FU_MODE_BARRIER, FU_MODE_WINDOW } mode;
    uint32_t concurrency;                       /* 0: no global cap */
    uint32_t phase_concurrency[FU_PHASE__COUNT]; /* 0: the global cap */
    fu_max_per_t *max_per;
    size_t nmax_per;
    fu_amount_t max_fail_wave, max_fail_total, max_unreachable_total;
    bool canary;
    enum { FU_PROMOTE_AUTO, FU_PROMOTE_MANUAL } promote;
    bool pause_manual;
    uint64_t pause_between_ms;
    uint32_t retries;
    int32_t phase_retries[FU_PHASE__COUNT]; /* -1: use retries */
    uint64_t backoff_ms, max_backoff_ms;
    bool jitter;
    uint64_t timeout_ms[FU_PHASE__COUNT];
    enum { FU_ORDER_INVENTORY, FU_ORDER_SORTED, FU_ORDER_SHUFFLE } order;
    uint64_t seed;
} fu_policy_t;

/* The simulated fleet (transport sim): how long phases take and how often they fail.
 * Deterministic: every draw is a function of the seed, the node, the phase and the try. */
typedef struct {
    bool present;   /* a sim: section was given */
    uint64_t seed;
    bool virtual_time;
    uint64_t duration_ms[FU_PHASE__COUNT];              /* median per phase */
    uint64_t type_duration_ms[FU_TYPE__COUNT][FU_PHASE__COUNT]; /* 0: the phase's */
    double spread;  /* log-normal sigma of durations; 0 = exact */
    double fail[FU_PHASE__COUNT], hang[FU_PHASE__COUNT]; /* per try */
    double unreachable; /* share of nodes that refuse connections */
    double current;     /* share of nodes already at the baseline */
    double reboot;      /* share of installs that exit 1 (reboot needed) */
    double no_change;   /* share of installs that report success but change nothing */
} fu_sim_config_t;

typedef struct {
    uint16_t port, ssl_port;
    bool port_set, ssl_port_set; /* written in the fleet file */
    const char *bind;
    const char *callback_address; /* advertised to nodes; NULL: local address per connection */
    const char *tls_cert, *tls_key;
} fu_server_t;

typedef struct {
    fu_arena_t arena;
    const char *file;
    const char *inventory_file; /* the Ansible inventory the nodes came from, if any */
    bool ansible;               /* the fleet file itself is an Ansible inventory */
    fu_server_t server;
    fu_node_t *nodes;
    size_t nnodes;
    fu_group_t *groups;
    size_t ngroups;
    fu_baseline_t baseline;
    fu_policy_t policy;
    fu_sim_config_t sim;
} fu_fleet_t;

#define FU_DEFAULT_PORT 63001
#define FU_DEFAULT_SSL_PORT 63002
#define FU_MAX_NODES 2000000

/* Loads and validates a fleet file (native or Ansible inventory). Returns NULL when any
 * error was found; every error is in d. Nothing is half-loaded. */
fu_fleet_t *fu_fleet_load(const char *path, fu_diag_t *d);
/* The same from memory; name stands for the file in diagnostics and relative paths. */
fu_fleet_t *fu_fleet_load_buffer(const char *name, const char *buf, size_t len, fu_diag_t *d);
/* A fleet with no node and every default (`serve` without a fleet file). */
fu_fleet_t *fu_fleet_empty(const char *name);
void fu_fleet_free(fu_fleet_t *f);

const char *fu_node_type_name(fu_node_type_t t);
bool fu_node_type_parse(const char *s, fu_node_type_t *out);
fu_transport_kind_t fu_node_type_transport(fu_node_type_t t);
uint16_t fu_transport_default_port(fu_transport_kind_t t);
fu_scheme_t fu_node_type_default_scheme(fu_node_type_t t);
const char *fu_transport_name(fu_transport_kind_t t);
const char *fu_callback_name(fu_callback_t c);
const char *fu_scheme_name(fu_scheme_t s);
const char *fu_hostkey_name(fu_hostkey_t h);
const char *fu_phase_name(fu_phase_t p);
void fu_sim_defaults(fu_sim_config_t *c);
/* The address a transport reaches: mgmt_address for Redfish when set, else address. */
const char *fu_node_transport_address(const fu_node_t *n);
const char *fu_node_label(const fu_node_t *n, const char *key);

extern const char *const fu_node_type_names[FU_TYPE__COUNT];

#endif
