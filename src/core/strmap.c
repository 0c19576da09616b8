/* Linear probing, power-of-two capacity, load factor at most 1/2. */
#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h | 1; /* 0 marks an empty slot */
}

void fu_strmap_init(fu_strmap_t *m)
{
    m->slots = NULL;
    m->cap = m->n = 0;
}

void fu_strmap_free(fu_strmap_t *m)
{
    free(m->slots);
    fu_strmap_init(m);
}

static fu_strmap_slot_t *find(const fu_strmap_t *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = (h >> 1) & mask;; i = (i + 1) & mask) { /* bit 0 is always set */
        fu_strmap_slot_t *s = &m->slots[i];
        if (s->hash == 0 || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

void *fu_strmap_get(const fu_strmap_t *m, const char *key, size_t len)
{
    if (m->n == 0)
        return NULL;
    fu_strmap_slot_t *s = find(m, key, len, hash_bytes(key, len));
    return s->hash ? s->val : NULL;
}

static void grow(fu_strmap_t *m)
{
    fu_strmap_t bigger = {calloc(m->cap ? m->cap * 2 : 16, sizeof(fu_strmap_slot_t)),
                          m->cap ? m->cap * 2 : 16, m->n};
    if (bigger.slots == NULL)
        abort();
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].hash)
            *find(&bigger, m->slots[i].key, m->slots[i].len, m->slots[i].hash) = m->slots[i];
    free(m->slots);
    *m = bigger;
}

void *fu_strmap_put(fu_strmap_t *m, const char *key, size_t len, void *val)
{
    if ((m->n + 1) * 2 > m->cap)
        grow(m);
    uint64_t h = hash_bytes(key, len);
    fu_strmap_slot_t *s = find(m, key, len, h);
    if (s->hash)
        return s->val;
    s->key = key;
    s->len = len;
    s->hash = h;
    s->val = val;
    m->n++;
    return NULL;
}
