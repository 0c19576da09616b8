/* The baseline: the component versions a fleet converges to, with their package files,
 * where they apply, and their install order (after:), checked for unknown names and cycles. */
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/inventory.h"
#include "core/loader.h"

static const char *const baseline_keys[] = {"name", "components"};
static const char *const component_keys[] = {
    "name", "version", "applies_to", "package", "sha256", "reboot", "after", "version_pattern",
    "allow_downgrade", "rewrite", "probe", "match", "targets"};
static const char *const applies_keys[] = {"types", "groups", "labels"};
#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    fu_fleet_t *f;
    fu_diag_t *d;
    fu_inv_t inv; /* for the shared value helpers; holds no groups or hosts of its own */
    const char *dir;
    const fu_ynode_t **after_nodes; /* per component, its after: list */
} bl_t;

static const char *str_or_null(bl_t *b, const fu_ynode_t *v, const char *what)
{
    return fu_y_string(b->d, v, what);
}

static bool read_bool(bl_t *b, const fu_ynode_t *v, const char *what, bool *out)
{
    if (fu_y_scalar_bool(v, out))
        return true;
    fu_err(b->d, v, "%s must be true or false", what);
    return false;
}

static const char **string_list(bl_t *b, const fu_ynode_t *v, const char *what, uint32_t *n)
{
    *n = 0;
    if (fu_y_is_null(v))
        return NULL;
    if (v->kind == FU_Y_SCALAR) {
        const char **out = fu_arena_alloc(&b->f->arena, sizeof(char *));
        if ((out[0] = str_or_null(b, v, what)) != NULL)
            *n = 1;
        return out;
    }
    if (v->kind != FU_Y_SEQ) {
        fu_err(b->d, v, "%s must be a list, not %s", what, fu_y_kind_name(v));
        return NULL;
    }
    const char **out = fu_arena_alloc(&b->f->arena, (v->n + 1) * sizeof(char *));
    for (size_t i = 0; i < v->n; i++)
        if ((out[*n] = str_or_null(b, v->u.items[i], what)) != NULL)
            (*n)++;
    return out;
}

static void read_applies_types(bl_t *b, fu_component_t *c, const fu_ynode_t *v)
{
    const fu_ynode_t *one = v;
    size_t n = v->kind == FU_Y_SEQ ? v->n : 1;
    for (size_t i = 0; i < n; i++) {
        if (v->kind == FU_Y_SEQ)
            one = v->u.items[i];
        fu_setting_t s;
        if (fu_setting_parse(&b->inv, FU_S_TYPE, NULL, one, &s))
            c->applies_types |= 1u << s.v.i;
    }
}

static bool group_exists(const fu_fleet_t *f, const char *name)
{
    for (size_t g = 0; g < f->ngroups; g++)
        if (strcmp(f->groups[g].name, name) == 0)
            return true;
    return false;
}

/* applies_to: a list of node types, or {types: [...], groups: [...], labels: {k: v}}. */
static void read_applies(bl_t *b, fu_component_t *c, const fu_ynode_t *v)
{
    if (fu_y_is_null(v))
        return;
    if (v->kind != FU_Y_MAP) {
        read_applies_types(b, c, v);
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const fu_ynode_t *k = v->u.pairs[i].key, *val = v->u.pairs[i].val;
        if (strcmp(k->u.str, "types") == 0) {
            read_applies_types(b, c, val);
        } else if (strcmp(k->u.str, "groups") == 0) {
            c->applies_groups = string_list(b, val, "applies_to groups", &c->napplies_groups);
            const fu_ynode_t *item = val;
            for (uint32_t g = 0; g < c->napplies_groups; g++) {
                if (val->kind == FU_Y_SEQ)
                    item = val->u.items[g];
                if (!group_exists(b->f, c->applies_groups[g]))
                    fu_err(b->d, item, "applies_to names the group '%s', which the fleet does "
                                       "not define", c->applies_groups[g]);
            }
        } else if (strcmp(k->u.str, "labels") == 0) {
            fu_settings_t s = {0};
            fu_labels_parse(&b->inv, val, &s);
            c->napplies_labels = s.n;
            c->applies_labels = fu_arena_alloc(&b->f->arena, (s.n + 1) * sizeof(fu_label_t));
            for (uint32_t l = 0; l < s.n; l++)
                c->applies_labels[l] = (fu_label_t){s.v[l].label, s.v[l].v.s};
        } else {
            fu_err_unknown_key(b->d, k, "applies_to", applies_keys, NKEYS(applies_keys));
        }
    }
}

static void check_sha256(bl_t *b, fu_component_t *c, const fu_ynode_t *v)
{
    const char *s = str_or_null(b, v, "sha256");
    if (s == NULL)
        return;
    bool ok = strlen(s) == 64;
    char *low = fu_arena_strdup(&b->f->arena, s);
    for (size_t i = 0; ok && i < 64; i++) {
        ok = isxdigit((unsigned char)low[i]);
        low[i] = (char)tolower((unsigned char)low[i]);
    }
    if (!ok)
        fu_err(b->d, v, "sha256 must be 64 hexadecimal digits (the output of sha256sum)");
    else
        c->sha256 = low;
}

static void check_package(bl_t *b, fu_component_t *c, const fu_ynode_t *v)
{
    c->package = str_or_null(b, v, "package");
    if (c->package == NULL)
        return;
    c->package_path = fu_fleet_path(&b->f->arena, b->dir, c->package);
    struct stat st;
    if (stat(c->package_path, &st) != 0)
        fu_err(b->d, v, "package file '%s' not found (paths are relative to the fleet file's "
                        "folder)", c->package_path);
    else if (!S_ISREG(st.st_mode))
        fu_err(b->d, v, "package '%s' is not a regular file", c->package_path);
}

/* version_pattern (needs a group) and match (any): POSIX extended expressions. */
static void check_pattern(bl_t *b, const fu_ynode_t *v, const char *s, const char *what)
{
    regex_t re;
    int rc = regcomp(&re, s, REG_EXTENDED | REG_ICASE);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &re, msg, sizeof(msg));
        fu_err(b->d, v, "%s is not a valid extended regular expression: %s", what, msg);
        return;
    }
    if (strlen(s) > 400)
        fu_err(b->d, v, "%s is longer than 400 characters", what);
    else if (strcmp(what, "version_pattern") == 0 && re.re_nsub < 1)
        fu_err(b->d, v, "version_pattern needs one group '( )' around the version");
    regfree(&re);
}

static void read_component(bl_t *b, fu_component_t *c, const fu_ynode_t *m, size_t idx)
{
    c->pos = (fu_pos_t){m->file, m->line, m->col};
    for (size_t i = 0; i < m->n; i++) {
        const fu_ynode_t *k = m->u.pairs[i].key, *v = m->u.pairs[i].val;
        const char *n = k->u.str;
        if (strcmp(n, "name") == 0)
            c->name = str_or_null(b, v, "name");
        else if (strcmp(n, "version") == 0)
            c->version = str_or_null(b, v, "version");
        else if (strcmp(n, "applies_to") == 0)
            read_applies(b, c, v);
        else if (strcmp(n, "package") == 0)
            check_package(b, c, v);
        else if (strcmp(n, "sha256") == 0)
            check_sha256(b, c, v);
        else if (strcmp(n, "reboot") == 0)
            read_bool(b, v, n, &c->reboot);
        else if (strcmp(n, "allow_downgrade") == 0)
            read_bool(b, v, n, &c->allow_downgrade);
        else if (strcmp(n, "rewrite") == 0)
            read_bool(b, v, n, &c->rewrite);
        else if (strcmp(n, "after") == 0)
            b->after_nodes[idx] = v;
        else if (strcmp(n, "version_pattern") == 0) {
            if ((c->version_pattern = str_or_null(b, v, n)) != NULL)
                check_pattern(b, v, c->version_pattern, n);
        } else if (strcmp(n, "probe") == 0)
            c->probe = str_or_null(b, v, n);
        else if (strcmp(n, "match") == 0) {
            if ((c->match = str_or_null(b, v, n)) != NULL)
                check_pattern(b, v, c->match, n);
        }
        else if (strcmp(n, "targets") == 0)
            c->targets = string_list(b, v, "targets", &c->ntargets);
        else
            fu_err_unknown_key(b->d, k, "a component", component_keys, NKEYS(component_keys));
    }
    if (c->name == NULL && fu_y_map_get(m, "name") == NULL)
        fu_err(b->d, m, "a component needs a name");
    if (c->version == NULL && fu_y_map_get(m, "version") == NULL)
        fu_err(b->d, m, "component '%s' needs a version", c->name ? c->name : "?");
    if (c->package && c->sha256 == NULL && fu_y_map_get(m, "sha256") == NULL)
        fu_err(b->d, m, "component '%s' has a package but no sha256: packages are addressed by "
                        "their SHA-256 (run sha256sum on the file)", c->name ? c->name : "?");
}

static int find_component(const fu_baseline_t *bl, const char *name)
{
    for (size_t i = 0; i < bl->ncomponents; i++)
        if (bl->components[i].name && strcmp(bl->components[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void read_after(bl_t *b, size_t idx)
{
    fu_baseline_t *bl = &b->f->baseline;
    fu_component_t *c = &bl->components[idx];
    const fu_ynode_t *v = b->after_nodes[idx];
    uint32_t n;
    const char **names = string_list(b, v, "after", &n);
    c->after = fu_arena_alloc(&b->f->arena, (n + 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++) {
        const fu_ynode_t *item = v->kind == FU_Y_SEQ ? v->u.items[i] : v;
        int j = find_component(bl, names[i]);
        if (j < 0) {
            const char **cands = malloc(bl->ncomponents * sizeof(*cands));
            for (size_t k = 0; k < bl->ncomponents; k++)
                cands[k] = bl->components[k].name;
            const char *s = fu_suggest(names[i], cands, bl->ncomponents);
            free(cands);
            if (s)
                fu_err(b->d, item, "after: unknown component '%s': did you mean '%s'?", names[i], s);
            else
                fu_err(b->d, item, "after: unknown component '%s'", names[i]);
        } else if ((size_t)j == idx) {
            fu_err(b->d, item, "component '%s' cannot come after itself", names[i]);
        } else {
            c->after[c->nafter++] = (uint32_t)j;
        }
    }
}

/* Reports one cycle in the after: graph at the edge that closes it. */
static bool after_cycle(bl_t *b, size_t i, uint8_t *color)
{
    fu_component_t *c = &b->f->baseline.components[i];
    color[i] = 1;
    for (uint32_t k = 0; k < c->nafter; k++) {
        uint32_t j = c->after[k];
        if (color[j] == 1) {
            const fu_ynode_t *v = b->after_nodes[i];
            const fu_ynode_t *item = v->kind == FU_Y_SEQ ? v->u.items[k] : v;
            fu_err(b->d, item, "dependency cycle in after: '%s' comes after '%s', which "
                               "(directly or not) comes after '%s'", c->name,
                   b->f->baseline.components[j].name, c->name);
            return true;
        }
        if (color[j] == 0 && after_cycle(b, j, color))
            return true;
    }
    color[i] = 2;
    return false;
}

void fu_baseline_read(fu_fleet_t *f, fu_diag_t *d, const fu_ynode_t *v)
{
    if (fu_y_is_null(v) || !fu_y_expect_map(d, v, "baseline"))
        return;
    bl_t b = {.f = f, .d = d, .dir = fu_fleet_dir(&f->arena, f->file)};
    fu_inv_init(&b.inv, &f->arena, d);
    const fu_ynode_t *comps = NULL;
    for (size_t i = 0; i < v->n; i++) {
        const fu_ynode_t *k = v->u.pairs[i].key;
        if (strcmp(k->u.str, "name") == 0)
            f->baseline.name = str_or_null(&b, v->u.pairs[i].val, "baseline name");
        else if (strcmp(k->u.str, "components") == 0)
            comps = v->u.pairs[i].val;
        else
            fu_err_unknown_key(d, k, "baseline", baseline_keys, NKEYS(baseline_keys));
    }
    if (comps && !fu_y_is_null(comps) && comps->kind != FU_Y_SEQ)
        fu_err(d, comps, "components must be a list ('- name: ...' items), not %s",
               fu_y_kind_name(comps));
    if (comps && comps->kind == FU_Y_SEQ) {
        size_t n = comps->n;
        if (n > 64) {
            fu_err(d, comps, "a baseline holds at most 64 components, this one has %zu: split "
                             "it into several fleets or rollouts", n);
            n = 64;
        }
        f->baseline.components = fu_arena_alloc(&f->arena, (n + 1) * sizeof(fu_component_t));
        b.after_nodes = calloc(n + 1, sizeof(*b.after_nodes));
        for (size_t i = 0; i < n; i++) {
            const fu_ynode_t *m = comps->u.items[i];
            if (!fu_y_expect_map(d, m, "a component"))
                continue;
            size_t idx = f->baseline.ncomponents++;
            read_component(&b, &f->baseline.components[idx], m, idx);
            fu_component_t *c = &f->baseline.components[idx];
            int prev = c->name ? find_component(&f->baseline, c->name) : -1;
            if (prev >= 0 && (size_t)prev != idx)
                fu_err(d, fu_y_map_get(m, "name"), "duplicate component name '%s' (first at "
                       "line %u): component names must be unique", c->name,
                       f->baseline.components[prev].pos.line);
        }
        for (size_t i = 0; i < f->baseline.ncomponents; i++)
            if (b.after_nodes[i])
                read_after(&b, i);
        uint8_t *color = calloc(f->baseline.ncomponents + 1, 1);
        for (size_t i = 0; i < f->baseline.ncomponents; i++)
            if (color[i] == 0 && after_cycle(&b, i, color))
                break;
        free(color);
        free(b.after_nodes);
    }
    fu_inv_free(&b.inv);
}
