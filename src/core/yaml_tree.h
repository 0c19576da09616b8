/* A YAML document as a small tree that keeps FILE:LINE:COL on every node (the model is
 * h2o's yoml), built from libyaml events. Everything lives in the caller's arena. */
#ifndef FU_YAML_TREE_H
#define FU_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/diag.h"

typedef enum { FU_Y_SCALAR, FU_Y_SEQ, FU_Y_MAP } fu_ykind_t;

typedef struct fu_ynode_s fu_ynode_t;
typedef struct {
    fu_ynode_t *key, *val;
} fu_ypair_t;

struct fu_ynode_s {
    uint8_t kind;   /* fu_ykind_t */
    uint8_t quoted; /* scalar written quoted or block, or tagged !!str: never null/bool/int */
    uint32_t line, col; /* 1-based */
    const char *file;
    const char *tag; /* explicit tag as written, or NULL */
    size_t n;        /* scalar length, or number of items/pairs */
    union {
        const char *str; /* NUL-terminated, may contain NUL for binary-ish input */
        fu_ynode_t **items;
        fu_ypair_t *pairs;
    } u;
};

typedef struct {
    size_t max_bytes;   /* file size */
    unsigned max_depth; /* nesting */
    size_t max_aliases; /* alias uses (aliases share nodes, so this bounds walk cost) */
} fu_yaml_limits_t;

extern const fu_yaml_limits_t fu_yaml_default_limits;

/* Parses one document. Returns the root (NULL for an empty document or on error);
 * errors go to diag as FILE:LINE:COL. Duplicate mapping keys are reported and dropped. */
fu_ynode_t *fu_yaml_parse(fu_arena_t *a, fu_diag_t *d, const char *file, const char *buf,
                          size_t len, const fu_yaml_limits_t *lim);
/* Reads FILE and parses it. ok is false when the file could not be read or parsed. */
fu_ynode_t *fu_yaml_load_file(fu_arena_t *a, fu_diag_t *d, const char *path, bool *ok);

/* Scalar typing after YAML 1.1 (what Ansible's PyYAML reads), honouring quotes. */
bool fu_y_is_null(const fu_ynode_t *n);
bool fu_y_scalar_bool(const fu_ynode_t *n, bool *out);
bool fu_y_scalar_int(const fu_ynode_t *n, long long *out);
const char *fu_y_kind_name(const fu_ynode_t *n); /* "a string", "a list", "a mapping", "null" */
fu_ynode_t *fu_y_map_get(const fu_ynode_t *map, const char *key);

#endif
