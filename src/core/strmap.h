/* Open-addressing hash map from a byte string to a pointer. Keys are borrowed:
 * they must outlive the map (they live in the fleet's arena). */
#ifndef FU_STRMAP_H
#define FU_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *key;
    size_t len;
    uint64_t hash;
    void *val;
} fu_strmap_slot_t;

typedef struct {
    fu_strmap_slot_t *slots;
    size_t cap, n;
} fu_strmap_t;

void fu_strmap_init(fu_strmap_t *m);
void fu_strmap_free(fu_strmap_t *m);
void *fu_strmap_get(const fu_strmap_t *m, const char *key, size_t len);
/* Inserts key -> val unless present; returns the existing value or NULL when inserted. */
void *fu_strmap_put(fu_strmap_t *m, const char *key, size_t len, void *val);

#endif
