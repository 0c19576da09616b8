/* Bump allocator: blocks of at least 64 KiB, oversized requests get their own block. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FU_ARENA_BLOCK (64 * 1024)

struct fu_arena_block_s {
    fu_arena_block_t *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void fu_arena_init(fu_arena_t *a)
{
    a->head = NULL;
    a->used_bytes = 0;
}

void fu_arena_free(fu_arena_t *a)
{
    fu_arena_block_t *b = a->head;
    while (b != NULL) {
        fu_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

void *fu_arena_alloc(fu_arena_t *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    fu_arena_block_t *b = a->head;
    if (b == NULL || b->size - b->used < size) {
        size_t cap = size > FU_ARENA_BLOCK / 4 ? size : FU_ARENA_BLOCK;
        fu_arena_block_t *nb = malloc(sizeof(*nb) + cap);
        if (nb == NULL) {
            fprintf(stderr, "fleetup: out of memory (asked for %zu bytes)\n", cap);
            abort();
        }
        nb->size = cap;
        nb->used = 0;
        if (cap == size && b != NULL) {
            /* Oversized: keep the current block as the one to bump from. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    a->used_bytes += size;
    memset(p, 0, size);
    return p;
}

char *fu_arena_strndup(fu_arena_t *a, const char *s, size_t n)
{
    char *p = fu_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *fu_arena_strdup(fu_arena_t *a, const char *s)
{
    return fu_arena_strndup(a, s, strlen(s));
}

char *fu_arena_sprintf(fu_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = fu_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
