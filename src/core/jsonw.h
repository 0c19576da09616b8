/* A small streaming JSON writer for large listings (100k nodes): no tree, no allocation
 * per value, one buffer flushed to a FILE. Small documents use jansson instead. */
#ifndef FU_JSONW_H
#define FU_JSONW_H

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    FILE *out;
    char buf[64 * 1024];
    size_t len;
    bool comma; /* a value was written at this level: the next one needs a ',' */
} fu_jsonw_t;

void fu_jsonw_init(fu_jsonw_t *w, FILE *out);
void fu_jsonw_flush(fu_jsonw_t *w);
void fu_jsonw_raw(fu_jsonw_t *w, const char *s);
void fu_jsonw_begin(fu_jsonw_t *w, char bracket); /* '{' or '[' */
void fu_jsonw_end(fu_jsonw_t *w, char bracket);   /* '}' or ']' */
void fu_jsonw_key(fu_jsonw_t *w, const char *key);
void fu_jsonw_str(fu_jsonw_t *w, const char *s); /* NULL writes null */
void fu_jsonw_int(fu_jsonw_t *w, long long v);
void fu_jsonw_bool(fu_jsonw_t *w, bool v);

#endif
