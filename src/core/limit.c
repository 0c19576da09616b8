/* --limit PATTERN over a loaded fleet, after Ansible's host patterns: terms joined by ','
 * or ':' are a union; '&TERM' intersects and '!TERM' excludes, applied after the union.
 * A term is a node or group name, a glob (web*), '~REGEX' or 'label=value'. */
#include <fnmatch.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"

typedef struct {
    const fu_fleet_t *f;
    bool *hit; /* per node */
} term_ctx_t;

static bool node_in_group(const fu_node_t *n, size_t g)
{
    for (uint32_t i = 0; i < n->ngroups; i++)
        if (n->groups[i] == g)
            return true;
    return false;
}

/* Marks the nodes one term matches; returns how many. */
static size_t match_term(const fu_fleet_t *f, const char *t, bool *hit, char *err, size_t errlen)
{
    size_t count = 0;
    memset(hit, 0, f->nnodes * sizeof(bool));
    if (t[0] == '~') {
        regex_t re;
        int rc = regcomp(&re, t + 1, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char m[128];
            regerror(rc, &re, m, sizeof(m));
            snprintf(err, errlen, "bad regular expression '%s': %s", t + 1, m);
            return (size_t)-1;
        }
        for (size_t i = 0; i < f->nnodes; i++)
            if (regexec(&re, f->nodes[i].name, 0, NULL, 0) == 0)
                hit[i] = true, count++;
        regfree(&re);
        return count;
    }
    const char *eq = strchr(t, '=');
    if (eq) {
        char key[256];
        size_t kl = (size_t)(eq - t);
        if (kl == 0 || kl >= sizeof(key)) {
            snprintf(err, errlen, "'%s': a label term is label=value", t);
            return (size_t)-1;
        }
        memcpy(key, t, kl);
        key[kl] = '\0';
        for (size_t i = 0; i < f->nnodes; i++) {
            const char *v = fu_node_label(&f->nodes[i], key);
            if (v && fnmatch(eq + 1, v, 0) == 0)
                hit[i] = true, count++;
        }
        return count;
    }
    bool glob = strpbrk(t, "*?[") != NULL;
    for (size_t g = 0; g < f->ngroups; g++) {
        const char *gn = f->groups[g].name;
        if (glob ? fnmatch(t, gn, 0) != 0 : strcmp(t, gn) != 0)
            continue;
        for (size_t i = 0; i < f->nnodes; i++)
            if (!hit[i] && (g == 0 || node_in_group(&f->nodes[i], g)))
                hit[i] = true, count++;
    }
    for (size_t i = 0; i < f->nnodes; i++)
        if (!hit[i] && (glob ? fnmatch(t, f->nodes[i].name, 0) == 0 : strcmp(t, f->nodes[i].name) == 0))
            hit[i] = true, count++;
    return count;
}

int fu_limit_select(const fu_fleet_t *f, const char *pattern, bool *sel, char *err, size_t errlen)
{
    char *copy = strdup(pattern);
    bool *hit = malloc((f->nnodes + 1) * sizeof(bool));
    bool *inter = NULL;
    int rc = 0;
    memset(sel, 0, f->nnodes * sizeof(bool));
    bool any_union = false;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",:", &save); t && rc == 0; t = strtok_r(NULL, ",:", &save)) {
        char op = (t[0] == '&' || t[0] == '!') ? t[0] : '|';
        const char *term = op == '|' ? t : t + 1;
        if (term[0] == '\0') {
            snprintf(err, errlen, "empty term in --limit '%s'", pattern);
            rc = -1;
            break;
        }
        size_t n = match_term(f, term, hit, err, errlen);
        if (n == (size_t)-1) {
            rc = -1;
            break;
        }
        if (n == 0 && op != '!') {
            snprintf(err, errlen, "--limit term '%s' matches no node or group (names are "
                                  "case-sensitive; see 'fleetup nodes FLEET')", term);
            rc = -1;
            break;
        }
        if (op == '|') {
            any_union = true;
            for (size_t i = 0; i < f->nnodes; i++)
                sel[i] |= hit[i];
        } else if (op == '&') {
            if (inter == NULL) {
                inter = malloc((f->nnodes + 1) * sizeof(bool));
                for (size_t i = 0; i < f->nnodes; i++)
                    inter[i] = true;
            }
            for (size_t i = 0; i < f->nnodes; i++)
                inter[i] &= hit[i];
        } else {
            /* Exclusions apply after the union; remember them in place of inter. */
            if (inter == NULL) {
                inter = malloc((f->nnodes + 1) * sizeof(bool));
                for (size_t i = 0; i < f->nnodes; i++)
                    inter[i] = true;
            }
            for (size_t i = 0; i < f->nnodes; i++)
                inter[i] &= !hit[i];
        }
    }
    if (rc == 0) {
        /* Only '&'/'!' terms: they apply to the whole fleet, as in "all:!web". */
        if (!any_union)
            for (size_t i = 0; i < f->nnodes; i++)
                sel[i] = true;
        if (inter)
            for (size_t i = 0; i < f->nnodes; i++)
                sel[i] &= inter[i];
    }
    free(copy);
    free(hit);
    free(inter);
    return rc;
}
