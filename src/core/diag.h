/* Diagnostics for user input: every error and warning carries FILE:LINE:COL and is
 * collected, so one run reports all problems of a fleet, not only the first. */
#ifndef FU_DIAG_H
#define FU_DIAG_H

#include <stdio.h>

typedef enum { FU_DIAG_ERROR, FU_DIAG_WARNING } fu_diag_level_t;

typedef struct {
    fu_diag_level_t level;
    char *file; /* NULL for errors without a place (e.g. command line) */
    unsigned line, col;
    char *msg;
} fu_diag_entry_t;

typedef struct {
    fu_diag_entry_t *v;
    size_t n, cap;
    size_t errors, warnings;
    size_t dropped; /* beyond max_entries */
    size_t max_entries;
} fu_diag_t;

#define FU_DIAG_MAX_DEFAULT 100

void fu_diag_init(fu_diag_t *d);
void fu_diag_free(fu_diag_t *d);
void fu_diag_add(fu_diag_t *d, fu_diag_level_t level, const char *file, unsigned line,
                 unsigned col, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Prints "FILE:LINE:COL: error: message" lines in the order found. */
void fu_diag_print(const fu_diag_t *d, FILE *out);
/* The same entries as a JSON array, for --json. */
void fu_diag_print_json(const fu_diag_t *d, FILE *out);

#endif
