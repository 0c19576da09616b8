/* Diagnostics collector: bounded, so a file with a million broken lines stays usable. */
#include "core/diag.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void fu_diag_init(fu_diag_t *d)
{
    memset(d, 0, sizeof(*d));
    d->max_entries = FU_DIAG_MAX_DEFAULT;
}

void fu_diag_free(fu_diag_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].msg);
    }
    free(d->v);
    memset(d, 0, sizeof(*d));
}

void fu_diag_add(fu_diag_t *d, fu_diag_level_t level, const char *file, unsigned line,
                 unsigned col, const char *fmt, ...)
{
    if (level == FU_DIAG_ERROR)
        d->errors++;
    else
        d->warnings++;
    if (d->n >= d->max_entries) {
        d->dropped++;
        return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = realloc(d->v, d->cap * sizeof(*d->v));
        if (d->v == NULL)
            abort();
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    fu_diag_entry_t *e = &d->v[d->n++];
    e->level = level;
    e->file = file ? strdup(file) : NULL;
    e->line = line;
    e->col = col;
    e->msg = msg;
}

static const char *level_name(fu_diag_level_t l)
{
    return l == FU_DIAG_ERROR ? "error" : "warning";
}

void fu_diag_print(const fu_diag_t *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        const fu_diag_entry_t *e = &d->v[i];
        if (e->file && e->line)
            fprintf(out, "%s:%u:%u: %s: %s\n", e->file, e->line, e->col, level_name(e->level),
                    e->msg);
        else if (e->file)
            fprintf(out, "%s: %s: %s\n", e->file, level_name(e->level), e->msg);
        else
            fprintf(out, "fleetup: %s: %s\n", level_name(e->level), e->msg);
    }
    if (d->dropped)
        fprintf(out, "fleetup: %zu more diagnostics not shown (fix the ones above first)\n",
                d->dropped);
}

void fu_diag_print_json(const fu_diag_t *d, FILE *out)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->n; i++) {
        const fu_diag_entry_t *e = &d->v[i];
        json_array_append_new(arr, json_pack("{s:s, s:s?, s:i, s:i, s:s}", "level",
                                             level_name(e->level), "file", e->file, "line",
                                             (json_int_t)e->line, "column", (json_int_t)e->col,
                                             "message", e->msg));
    }
    json_dumpf(arr, out, JSON_INDENT(2));
    fputc('\n', out);
    json_decref(arr);
}
