/* Bump allocator for everything a loaded fleet owns: YAML tree, strings, nodes.
 * A fleet is built once and freed as a whole, so per-object free is never needed. */
#ifndef FU_ARENA_H
#define FU_ARENA_H

#include <stddef.h>

typedef struct fu_arena_block_s fu_arena_block_t;

typedef struct {
    fu_arena_block_t *head;
    size_t used_bytes; /* payload handed out, for memory reports */
} fu_arena_t;

void fu_arena_init(fu_arena_t *a);
void fu_arena_free(fu_arena_t *a);
/* Zeroed, 16-byte aligned memory; aborts on out-of-memory (a loader cannot recover). */
void *fu_arena_alloc(fu_arena_t *a, size_t size);
char *fu_arena_strndup(fu_arena_t *a, const char *s, size_t n);
char *fu_arena_strdup(fu_arena_t *a, const char *s);
char *fu_arena_sprintf(fu_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
