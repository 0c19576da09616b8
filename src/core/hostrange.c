/* Host pattern expansion, following Ansible's expand_hostname_range rules: begin and end
 * of equal width when zero-padded, begin <= end, letters a-z/A-Z, optional step. */
#include "core/hostrange.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FU_NAME_MAX 1024

typedef struct {
    size_t open, close; /* offsets of '[' and ']' */
    bool alpha;
    long long beg, end, step;
    int width; /* zero-padded width, 0 when not padded */
} range_t;

static int fail(fu_hostrange_err_t *err, const char *msg, size_t ofs)
{
    if (err) {
        err->msg = msg;
        err->offset = ofs;
    }
    return -1;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool is_letter(const char *s, size_t n)
{
    return n == 1 && isalpha((unsigned char)s[0]);
}

/* Parses the first range at or after 'from'. Returns 1 found, 0 none, -1 error. */
static int next_range(const char *p, size_t len, size_t from, range_t *r, fu_hostrange_err_t *err)
{
    const char *o = memchr(p + from, '[', len - from);
    if (o == NULL) {
        const char *c = memchr(p + from, ']', len - from);
        return c ? fail(err, "']' without a matching '['", (size_t)(c - p)) : 0;
    }
    r->open = (size_t)(o - p);
    const char *c = memchr(o, ']', len - r->open);
    if (c == NULL)
        return fail(err, "'[' without a closing ']'", r->open);
    r->close = (size_t)(c - p);
    const char *f[3];
    size_t fl[3];
    int nf = 0;
    const char *s = o + 1;
    for (const char *q = s;; q++) {
        if (q == c || *q == ':') {
            if (nf == 3)
                return fail(err, "a host range is [begin:end] or [begin:end:step]", r->open);
            f[nf] = s;
            fl[nf++] = (size_t)(q - s);
            s = q + 1;
            if (q == c)
                break;
        } else if (*q == '[') {
            return fail(err, "host ranges cannot be nested", (size_t)(q - p));
        }
    }
    if (nf < 2)
        return fail(err, "a host range is [begin:end] or [begin:end:step]", r->open);
    if (fl[1] == 0)
        return fail(err, "a host range needs an end value", r->open + 1);
    r->step = 1;
    if (nf == 3) {
        if (!all_digits(f[2], fl[2]) || (r->step = strtoll(f[2], NULL, 10)) <= 0)
            return fail(err, "a host range step must be a positive number", (size_t)(f[2] - p));
    }
    r->width = 0;
    if (fl[0] == 0 || all_digits(f[0], fl[0])) {
        if (!all_digits(f[1], fl[1]))
            return fail(err, "a host range mixes a number and a letter", (size_t)(f[1] - p));
        if (fl[0] > 18 || fl[1] > 18)
            return fail(err, "a host range bound is too large", r->open + 1);
        r->alpha = false;
        r->beg = fl[0] ? strtoll(f[0], NULL, 10) : 0;
        r->end = strtoll(f[1], NULL, 10);
        if (fl[0] > 1 && f[0][0] == '0') {
            if (fl[0] != fl[1])
                return fail(err, "a zero-padded host range needs begin and end of the same width "
                                 "(e.g. [01:40])", r->open + 1);
            r->width = (int)fl[0];
        }
    } else if (is_letter(f[0], fl[0]) && is_letter(f[1], fl[1])) {
        r->alpha = true;
        r->beg = (unsigned char)f[0][0];
        r->end = (unsigned char)f[1][0];
        if (isupper((unsigned char)f[0][0]) != isupper((unsigned char)f[1][0]))
            return fail(err, "a letter range keeps one case ([a:f] or [A:F])", r->open + 1);
    } else {
        return fail(err, "a host range holds numbers ([01:40]) or single letters ([a:f])",
                    r->open + 1);
    }
    if (r->beg > r->end)
        return fail(err, "a host range must have begin <= end", r->open + 1);
    return 1;
}

static long long range_len(const range_t *r)
{
    return (r->end - r->beg) / r->step + 1;
}

bool fu_hostrange_has_range(const char *pat, size_t len)
{
    return memchr(pat, '[', len) != NULL;
}

long long fu_hostrange_count(const char *pat, size_t len, fu_hostrange_err_t *err)
{
    long long total = 1;
    size_t from = 0;
    range_t r;
    int rc;
    while ((rc = next_range(pat, len, from, &r, err)) == 1) {
        long long n = range_len(&r);
        if (total > (long long)1 << 40 || n > (long long)1 << 40)
            total = (long long)1 << 41;
        else
            total *= n;
        from = r.close + 1;
    }
    return rc < 0 ? -1 : total;
}

typedef struct {
    const char *pat;
    size_t len;
    char buf[FU_NAME_MAX];
    fu_hostrange_cb cb;
    void *ud;
    fu_hostrange_err_t *err;
} expand_t;

static int expand_from(expand_t *x, size_t from, size_t blen)
{
    range_t r;
    int rc = next_range(x->pat, x->len, from, &r, x->err);
    if (rc < 0)
        return -1;
    size_t lit = (rc == 0 ? x->len : r.open) - from;
    if (blen + lit >= FU_NAME_MAX)
        return fail(x->err, "host name too long", from);
    memcpy(x->buf + blen, x->pat + from, lit);
    blen += lit;
    if (rc == 0) {
        x->buf[blen] = '\0';
        return x->cb(x->ud, x->buf, blen);
    }
    for (long long v = r.beg; v <= r.end; v += r.step) {
        char num[32];
        int n = r.alpha ? (num[0] = (char)v, 1)
                        : snprintf(num, sizeof(num), "%0*lld", r.width, v);
        if (blen + (size_t)n >= FU_NAME_MAX)
            return fail(x->err, "host name too long", r.open);
        memcpy(x->buf + blen, num, (size_t)n);
        int cr = expand_from(x, r.close + 1, blen + (size_t)n);
        if (cr != 0)
            return cr;
    }
    return 0;
}

int fu_hostrange_expand(const char *pat, size_t len, size_t max, fu_hostrange_cb cb, void *ud,
                        fu_hostrange_err_t *err)
{
    long long n = fu_hostrange_count(pat, len, err);
    if (n < 0)
        return -1;
    if ((unsigned long long)n > max)
        return fail(err, "this host range expands to more nodes than a fleet may hold", 0);
    if (memchr(pat, '[', len) == NULL && memchr(pat, ']', len) == NULL) /* one plain name */
        return len < FU_NAME_MAX ? cb(ud, pat, len) : fail(err, "host name too long", 0);
    expand_t x; /* not zero-filled: buf is written before it is read */
    x.pat = pat;
    x.len = len;
    x.cb = cb;
    x.ud = ud;
    x.err = err;
    return expand_from(&x, 0, 0);
}

static bool parse_port(const char *s, size_t n, unsigned *port)
{
    if (!all_digits(s, n) || n > 5)
        return false;
    unsigned v = (unsigned)strtoul(s, NULL, 10);
    if (v == 0 || v > 65535)
        return false;
    *port = v;
    return true;
}

static bool is_ipv6(const char *s, size_t n)
{
    char tmp[64];
    unsigned char out[16];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, out) == 1;
}

int fu_hostport_split(const char *s, size_t len, size_t *hostlen, size_t *hostofs,
                      unsigned *port, fu_hostrange_err_t *err)
{
    *hostofs = 0;
    *hostlen = len;
    *port = 0;
    if (len > 0 && s[0] == '[') {
        const char *c = memchr(s, ']', len);
        if (c && is_ipv6(s + 1, (size_t)(c - s - 1))) {
            size_t rest = len - (size_t)(c - s) - 1;
            *hostofs = 1;
            *hostlen = (size_t)(c - s - 1);
            if (rest == 0)
                return 0;
            if (c[1] != ':' || !parse_port(c + 2, rest - 1, port))
                return fail(err, "after '[IPv6]' only ':PORT' (1-65535) may follow",
                            (size_t)(c - s) + 1);
            return 0;
        }
    }
    if (is_ipv6(s, len))
        return 0;
    /* The port colon is the last one outside brackets. */
    const char *lb = NULL;
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == ']') {
            lb = s + i - 1;
            break;
        }
    size_t from = lb ? (size_t)(lb - s) + 1 : 0;
    const char *colon = memchr(s + from, ':', len - from);
    if (colon == NULL)
        return 0;
    size_t plen = len - (size_t)(colon - s) - 1;
    if (!parse_port(colon + 1, plen, port))
        return fail(err, "':' in a host name must be followed by a port (1-65535)",
                    (size_t)(colon - s));
    *hostlen = (size_t)(colon - s);
    return 0;
}
