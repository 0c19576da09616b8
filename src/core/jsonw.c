/* Streaming JSON: strings are escaped per RFC 8259 (control characters as \u00XX);
 * bytes >= 0x80 pass through, so UTF-8 input stays UTF-8. */
#include "core/jsonw.h"

#include <string.h>

void fu_jsonw_init(fu_jsonw_t *w, FILE *out)
{
    w->out = out;
    w->len = 0;
    w->comma = false;
}

void fu_jsonw_flush(fu_jsonw_t *w)
{
    if (w->len)
        fwrite(w->buf, 1, w->len, w->out);
    w->len = 0;
}

static void put(fu_jsonw_t *w, const char *s, size_t n)
{
    if (w->len + n > sizeof(w->buf)) {
        fu_jsonw_flush(w);
        if (n > sizeof(w->buf)) {
            fwrite(s, 1, n, w->out);
            return;
        }
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void sep(fu_jsonw_t *w)
{
    if (w->comma)
        put(w, ",", 1);
    w->comma = true;
}

void fu_jsonw_raw(fu_jsonw_t *w, const char *s)
{
    put(w, s, strlen(s));
}

void fu_jsonw_begin(fu_jsonw_t *w, char bracket)
{
    sep(w);
    put(w, &bracket, 1);
    w->comma = false;
}

void fu_jsonw_end(fu_jsonw_t *w, char bracket)
{
    put(w, &bracket, 1);
    w->comma = true;
}

static void quoted(fu_jsonw_t *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, run, (size_t)(s - run));
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t n = 2;
        if (c == '\n')
            esc[1] = 'n';
        else if (c == '\t')
            esc[1] = 't';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(w, esc, n);
        run = s + 1;
    }
    put(w, run, (size_t)(s - run));
    put(w, "\"", 1);
}

void fu_jsonw_key(fu_jsonw_t *w, const char *key)
{
    sep(w);
    quoted(w, key);
    put(w, ":", 1);
    w->comma = false;
}

void fu_jsonw_str(fu_jsonw_t *w, const char *s)
{
    sep(w);
    if (s)
        quoted(w, s);
    else
        put(w, "null", 4);
}

void fu_jsonw_int(fu_jsonw_t *w, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", v);
    sep(w);
    put(w, num, (size_t)n);
}

void fu_jsonw_bool(fu_jsonw_t *w, bool v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}
