/* The loader's working model, shared by the native and the Ansible readers: groups and
 * hosts with layered settings, each setting already typed and carrying its YAML place.
 * inventory.c resolves it (all < parent < child < host) into fleet nodes. */
#ifndef FU_INVENTORY_H
#define FU_INVENTORY_H

#include "core/fleet.h"
#include "core/strmap.h"
#include "core/yaml_tree.h"

typedef enum {
    FU_S_TYPE,
    FU_S_TRANSPORT,
    FU_S_ADDRESS,
    FU_S_MGMT_ADDRESS,
    FU_S_PORT,
    FU_S_USER,
    FU_S_CALLBACK,
    FU_S_CALLBACK_SCHEME,
    FU_S_HOST_KEY_CHECK,
    FU_S_KNOWN_HOSTS,
    FU_S_SSH_AGENT,
    FU_S_KEY_FILE,
    FU_S_KEY_PASSPHRASE_ENV,
    FU_S_KEY_PASSPHRASE_FILE,
    FU_S_PASSWORD_ENV,
    FU_S_PASSWORD_FILE,
    FU_S_PASSWORD_INLINE,
    FU_S_TLS_FINGERPRINT,
    FU_S_TLS_CA_FILE,
    FU_S_TLS_INSECURE,
    FU_S_PLAIN_HTTP,
    FU_S__KNOWN, /* settings below are not single values */
    FU_S_LABEL = FU_S__KNOWN,
} fu_setting_id_t;

typedef struct {
    uint32_t id;        /* fu_setting_id_t */
    const char *label;  /* FU_S_LABEL: its key */
    const fu_ynode_t *at;
    union {
        const char *s;
        long long i;
        bool b;
    } v;
} fu_setting_t;

typedef struct {
    fu_setting_t *v;
    uint32_t n, cap;
} fu_settings_t;

typedef struct {
    uint32_t group;
    const fu_ynode_t *at; /* where the edge was written */
} fu_edge_t;

typedef struct {
    const char *name;
    const fu_ynode_t *at; /* first definition or mention */
    bool defined;
    fu_settings_t vars;
    fu_edge_t *children;
    uint32_t nchildren, children_cap;
    uint32_t *parents;
    uint32_t nparents, parents_cap;
    int depth;
    long long priority;
    uint32_t stamp; /* scratch for walks */
} fu_inv_group_t;

typedef struct {
    const char *name;
    const fu_ynode_t *at;
    fu_settings_t vars;
    uint32_t *groups; /* direct */
    uint32_t ngroups, groups_cap;
    const void *seen_in; /* the hosts mapping that last listed it: duplicates within one */
    const char *address; /* native: from an address range zipped with the name range */
} fu_inv_host_t;

typedef struct {
    fu_arena_t *a;
    fu_diag_t *d;
    fu_inv_group_t *groups;
    uint32_t ngroups, groups_cap;
    fu_inv_host_t *hosts;
    uint32_t nhosts, hosts_cap;
    fu_strmap_t group_idx, host_idx;
    fu_settings_t defaults; /* native `defaults:`: below every group */
    bool too_many;
} fu_inv_t;

void fu_inv_init(fu_inv_t *inv, fu_arena_t *a, fu_diag_t *d);
void fu_inv_free(fu_inv_t *inv);
uint32_t fu_inv_group(fu_inv_t *inv, const char *name, size_t len, const fu_ynode_t *at);
/* Adds or finds a host; returns UINT32_MAX (after reporting) when the fleet is too big. */
uint32_t fu_inv_host(fu_inv_t *inv, const char *name, size_t len, const fu_ynode_t *at, bool *existed);
void fu_inv_add_child(fu_inv_t *inv, uint32_t parent, uint32_t child, const fu_ynode_t *at);
void fu_inv_host_in_group(fu_inv_t *inv, uint32_t host, uint32_t group);
void fu_settings_set(fu_arena_t *a, fu_settings_t *s, const fu_setting_t *v);
/* Checks cycles, computes depths, resolves every host into f->nodes. */
void fu_inv_resolve(fu_inv_t *inv, fu_fleet_t *f);

/* Error at a YAML node. */
void fu_err(fu_diag_t *d, const fu_ynode_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fu_warn(fu_diag_t *d, const fu_ynode_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The closest candidate to word (edit distance), or NULL when none is close. */
const char *fu_suggest(const char *word, const char *const *cands, size_t n);
/* Reports an unknown key with a did-you-mean and the list of valid keys. */
void fu_err_unknown_key(fu_diag_t *d, const fu_ynode_t *key, const char *where,
                        const char *const *valid, size_t nvalid);

/* Settings by their native key names (type, address, port, ...). Returns the id or -1. */
int fu_setting_lookup(const char *key);
extern const char *const fu_setting_names[FU_S__KNOWN];
/* Converts a YAML value for setting id into *out; reports errors at the value.
 * label is the label key for FU_S_LABEL. Returns false on error. */
bool fu_setting_parse(fu_inv_t *inv, int id, const char *label, const fu_ynode_t *val,
                      fu_setting_t *out);
/* Reads a native `labels:` mapping into settings. */
void fu_labels_parse(fu_inv_t *inv, const fu_ynode_t *map, fu_settings_t *into);
/* A string value: a scalar that is no Jinja template. NULL (after an error) otherwise. */
const char *fu_y_string(fu_diag_t *d, const fu_ynode_t *v, const char *what);
/* A host name or IP address: 1-253 characters of letters, digits, '.-:_%'. */
bool fu_address_ok(fu_diag_t *d, const fu_ynode_t *v, const char *s, const char *what);
bool fu_y_expect_map(fu_diag_t *d, const fu_ynode_t *v, const char *what);

/* Loaders. */
void fu_ansible_read(fu_inv_t *inv, const fu_ynode_t *root);
bool fu_native_is(const fu_ynode_t *root);

#endif
