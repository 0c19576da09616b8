/* libyaml events -> fu_ynode_t tree. One explicit stack of open collections; items of an
 * open collection accumulate on a shared scratch vector and move to the arena at its end. */
#include "core/yaml_tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/strmap.h"

const fu_yaml_limits_t fu_yaml_default_limits = {
    .max_bytes = 512u * 1024 * 1024,
    .max_depth = 64,
    .max_aliases = 100000,
};

typedef struct {
    fu_ynode_t *node;
    size_t first; /* index in scratch of this collection's first item */
} frame_t;

typedef struct {
    fu_arena_t *a;
    fu_diag_t *d;
    const char *file;
    const fu_yaml_limits_t *lim;
    frame_t *stack;
    size_t depth, stack_cap;
    fu_ynode_t **scratch;
    size_t nscratch, scratch_cap;
    fu_strmap_t anchors;
    size_t aliases;
    bool failed;
} builder_t;

static void err_at(builder_t *b, yaml_mark_t m, const char *fmt, const char *arg)
{
    fu_diag_add(b->d, FU_DIAG_ERROR, b->file, (unsigned)m.line + 1, (unsigned)m.column + 1, fmt,
                arg);
    b->failed = true;
}

static void push_scratch(builder_t *b, fu_ynode_t *n)
{
    if (b->nscratch == b->scratch_cap) {
        b->scratch_cap = b->scratch_cap ? b->scratch_cap * 2 : 256;
        b->scratch = realloc(b->scratch, b->scratch_cap * sizeof(*b->scratch));
        if (b->scratch == NULL)
            abort();
    }
    b->scratch[b->nscratch++] = n;
}

static fu_ynode_t *new_node(builder_t *b, fu_ykind_t kind, yaml_mark_t m, const yaml_char_t *tag)
{
    fu_ynode_t *n = fu_arena_alloc(b->a, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->line = (uint32_t)m.line + 1;
    n->col = (uint32_t)m.column + 1;
    n->file = b->file;
    n->tag = tag ? fu_arena_strdup(b->a, (const char *)tag) : NULL;
    return n;
}

/* Tags: YAML core tags pass; !unsafe (Ansible: "do not template") is a plain string;
 * !vault and any other local tag are refused so nothing is silently misread. */
static bool check_tag(builder_t *b, yaml_mark_t m, const yaml_char_t *tag)
{
    if (tag == NULL)
        return true;
    const char *t = (const char *)tag;
    if (strncmp(t, "tag:yaml.org,2002:", 18) == 0 || strcmp(t, "!") == 0 ||
        strcmp(t, "!unsafe") == 0)
        return true;
    if (strcmp(t, "!vault") == 0 || strcmp(t, "!vault-encrypted") == 0) {
        err_at(b, m, "%s: Ansible Vault values are not supported: fleetup cannot decrypt them; "
                     "give the secret with fleetup_password_env or fleetup_password_file instead",
               "!vault");
        return false;
    }
    err_at(b, m, "unsupported YAML tag '%s': remove it (fleetup reads plain YAML values)", t);
    return false;
}

/* Adds a finished node to the open collection, or makes it the document root. */
static void attach(builder_t *b, fu_ynode_t *n, fu_ynode_t **root)
{
    if (b->depth == 0)
        *root = n;
    else
        push_scratch(b, n);
}

static void register_anchor(builder_t *b, const yaml_char_t *anchor, fu_ynode_t *n)
{
    if (anchor == NULL)
        return;
    const char *name = fu_arena_strdup(b->a, (const char *)anchor);
    /* A redefined anchor replaces the old one for later aliases (YAML spec). */
    void *old = fu_strmap_put(&b->anchors, name, strlen(name), n);
    if (old != NULL) {
        fu_strmap_t *m = &b->anchors;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].hash && strcmp(m->slots[i].key, name) == 0)
                m->slots[i].val = n;
    }
}

static fu_ypair_t *build_pairs(builder_t *b, fu_ynode_t *map, size_t first)
{
    size_t nitems = b->nscratch - first;
    fu_ypair_t *pairs = fu_arena_alloc(b->a, (nitems / 2 + 1) * sizeof(*pairs));
    fu_strmap_t seen;
    fu_strmap_init(&seen);
    size_t np = 0;
    for (size_t i = first; i + 1 < b->nscratch; i += 2) {
        fu_ynode_t *k = b->scratch[i], *v = b->scratch[i + 1];
        if (k->kind != FU_Y_SCALAR) {
            fu_diag_add(b->d, FU_DIAG_ERROR, b->file, k->line, k->col,
                        "a mapping key must be a plain value, not %s", fu_y_kind_name(k));
            b->failed = true;
            continue;
        }
        if (!k->quoted && k->n == 2 && memcmp(k->u.str, "<<", 2) == 0) {
            fu_diag_add(b->d, FU_DIAG_ERROR, b->file, k->line, k->col,
                        "YAML merge keys (<<) are not supported: write the keys out");
            b->failed = true;
            continue;
        }
        fu_ynode_t *prev = fu_strmap_put(&seen, k->u.str, k->n, k);
        if (prev != NULL) {
            fu_diag_add(b->d, FU_DIAG_ERROR, b->file, k->line, k->col,
                        "duplicate key '%s' (first at line %u, column %u): keep one", k->u.str,
                        prev->line, prev->col);
            b->failed = true;
            continue;
        }
        pairs[np].key = k;
        pairs[np].val = v;
        np++;
    }
    fu_strmap_free(&seen);
    map->n = np;
    return pairs;
}

static void close_collection(builder_t *b, fu_ynode_t **root)
{
    frame_t f = b->stack[--b->depth];
    fu_ynode_t *n = f.node;
    if (n->kind == FU_Y_MAP) {
        n->u.pairs = build_pairs(b, n, f.first);
    } else {
        n->n = b->nscratch - f.first;
        n->u.items = fu_arena_alloc(b->a, (n->n + 1) * sizeof(fu_ynode_t *));
        memcpy(n->u.items, b->scratch + f.first, n->n * sizeof(fu_ynode_t *));
    }
    b->nscratch = f.first;
    attach(b, n, root);
}

static void open_collection(builder_t *b, fu_ynode_t *n)
{
    if (b->depth == b->stack_cap) {
        b->stack_cap = b->stack_cap ? b->stack_cap * 2 : 16;
        b->stack = realloc(b->stack, b->stack_cap * sizeof(*b->stack));
        if (b->stack == NULL)
            abort();
    }
    b->stack[b->depth].node = n;
    b->stack[b->depth].first = b->nscratch;
    b->depth++;
}

static fu_ynode_t *scalar_node(builder_t *b, const yaml_event_t *ev)
{
    fu_ynode_t *n = new_node(b, FU_Y_SCALAR, ev->start_mark, ev->data.scalar.tag);
    n->u.str = fu_arena_strndup(b->a, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    n->n = ev->data.scalar.length;
    const char *t = n->tag;
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                (t && (strcmp(t, "!") == 0 || strcmp(t, "!unsafe") == 0 ||
                       strcmp(t, "tag:yaml.org,2002:str") == 0));
    return n;
}

/* Handles one event; returns false when the document is complete or parsing must stop. */
static bool on_event(builder_t *b, const yaml_event_t *ev, fu_ynode_t **root, int *docs)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1) {
            err_at(b, ev->start_mark, "%s",
                   "a second YAML document ('---'): a fleet file holds exactly one document");
            return false;
        }
        return true;
    case YAML_SCALAR_EVENT: {
        check_tag(b, ev->start_mark, ev->data.scalar.tag);
        fu_ynode_t *n = scalar_node(b, ev);
        register_anchor(b, ev->data.scalar.anchor, n);
        attach(b, n, root);
        return true;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        const yaml_char_t *anc = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        check_tag(b, ev->start_mark, tag);
        if (b->depth >= b->lim->max_depth) {
            err_at(b, ev->start_mark, "nesting deeper than %s levels: flatten the structure", "64");
            return false;
        }
        fu_ynode_t *n = new_node(b, seq ? FU_Y_SEQ : FU_Y_MAP, ev->start_mark, tag);
        register_anchor(b, anc, n);
        open_collection(b, n);
        return true;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        close_collection(b, root);
        return true;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        fu_ynode_t *target = fu_strmap_get(&b->anchors, name, strlen(name));
        if (target == NULL) {
            err_at(b, ev->start_mark, "alias '*%s' refers to no anchor defined before it", name);
            return true;
        }
        for (size_t i = 0; i < b->depth; i++)
            if (b->stack[i].node == target) {
                err_at(b, ev->start_mark, "alias '*%s' refers to a collection that contains it "
                                          "(a recursive structure): not supported", name);
                return true;
            }
        if (++b->aliases > b->lim->max_aliases) {
            err_at(b, ev->start_mark, "more than %s alias uses: expand the aliases", "100000");
            return false;
        }
        attach(b, target, root);
        return true;
    }
    case YAML_STREAM_END_EVENT:
        return false;
    default:
        return true;
    }
}

/* libyaml's problem text, with the place where the construct began and a hint for tabs. */
static void syntax_error(builder_t *b, const yaml_parser_t *p, const char *buf, size_t len)
{
    yaml_mark_t m = p->problem_mark;
    const char *problem = p->problem ? p->problem : "error";
    char ctx[160] = "";
    if (p->context && strncmp(p->context, "while parsing", 13) == 0)
        snprintf(ctx, sizeof(ctx), " %s that starts at line %zu, column %zu", p->context,
                 p->context_mark.line + 1, p->context_mark.column + 1);
    else if (p->context)
        snprintf(ctx, sizeof(ctx), " %s", p->context);
    const char *hint = "";
    if (m.index < len && buf[m.index] == '\t')
        hint = ": YAML indents with spaces, never tabs";
    fu_diag_add(b->d, FU_DIAG_ERROR, b->file, (unsigned)m.line + 1, (unsigned)m.column + 1,
                "YAML syntax: %s%s%s", problem, ctx, hint);
    b->failed = true;
}

fu_ynode_t *fu_yaml_parse(fu_arena_t *a, fu_diag_t *d, const char *file, const char *buf,
                          size_t len, const fu_yaml_limits_t *lim)
{
    builder_t b = {.a = a, .d = d, .file = fu_arena_strdup(a, file), .lim = lim ? lim : &fu_yaml_default_limits};
    fu_strmap_init(&b.anchors);
    fu_ynode_t *root = NULL;
    int docs = 0;
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(&b, &p, buf, len);
            break;
        }
        bool more = on_event(&b, &ev, &root, &docs);
        yaml_event_delete(&ev);
        if (!more)
            break;
    }
    yaml_parser_delete(&p);
    free(b.stack);
    free(b.scratch);
    fu_strmap_free(&b.anchors);
    return b.failed ? NULL : root;
}

fu_ynode_t *fu_yaml_load_file(fu_arena_t *a, fu_diag_t *d, const char *path, bool *ok)
{
    *ok = false;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fu_diag_add(d, FU_DIAG_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    const fu_yaml_limits_t *lim = &fu_yaml_default_limits;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            char *nb = realloc(buf, cap);
            if (nb == NULL)
                abort();
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
        if (len > lim->max_bytes) {
            fu_diag_add(d, FU_DIAG_ERROR, path, 0, 0,
                        "file is larger than %zu MiB: split the fleet", lim->max_bytes >> 20);
            fclose(f);
            free(buf);
            return NULL;
        }
    }
    bool rerr = ferror(f);
    fclose(f);
    if (rerr) {
        fu_diag_add(d, FU_DIAG_ERROR, path, 0, 0, "read error: %s", strerror(errno));
        free(buf);
        return NULL;
    }
    size_t before = d->errors;
    fu_ynode_t *root = fu_yaml_parse(a, d, path, buf, len, lim);
    free(buf);
    *ok = d->errors == before;
    return root;
}

bool fu_y_is_null(const fu_ynode_t *n)
{
    if (n == NULL)
        return true;
    if (n->kind != FU_Y_SCALAR || n->quoted)
        return false;
    const char *s = n->u.str;
    return n->n == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

bool fu_y_scalar_bool(const fu_ynode_t *n, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (n == NULL || n->kind != FU_Y_SCALAR || n->quoted)
        return false;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(n->u.str, yes[i]) == 0)
            return *out = true, true;
        if (strcmp(n->u.str, no[i]) == 0)
            return *out = false, true;
    }
    return false;
}

bool fu_y_scalar_int(const fu_ynode_t *n, long long *out)
{
    if (n == NULL || n->kind != FU_Y_SCALAR || n->quoted || n->n == 0 || n->n > 20)
        return false;
    const char *s = n->u.str;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || (s[0] != '-' && s[0] != '+' && (s[0] < '0' || s[0] > '9')))
        return false;
    *out = v;
    return true;
}

const char *fu_y_kind_name(const fu_ynode_t *n)
{
    if (fu_y_is_null(n))
        return "nothing (null)";
    switch (n->kind) {
    case FU_Y_SEQ:
        return "a list";
    case FU_Y_MAP:
        return "a mapping";
    default:
        return "a single value";
    }
}

fu_ynode_t *fu_y_map_get(const fu_ynode_t *map, const char *key)
{
    if (map == NULL || map->kind != FU_Y_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < map->n; i++)
        if (map->u.pairs[i].key->n == kl && memcmp(map->u.pairs[i].key->u.str, key, kl) == 0)
            return map->u.pairs[i].val;
    return NULL;
}
