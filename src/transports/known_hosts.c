/* known_hosts files (known_hosts.h). */
#include "transports/known_hosts.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KH_MAX_FILE (64u << 20)
#define KH_MAX_KEY 16384

struct fu_kh_entry_s {
    const char *hosts; /* the pattern list, NUL-terminated in text */
    const char *type;
    unsigned char *key;
    size_t keylen;
    uint32_t line;
    bool revoked;
};

static int b64_decode(const char *in, size_t inlen, unsigned char *out, size_t cap)
{
    if (inlen == 0 || inlen % 4 != 0 || inlen / 4 * 3 > cap)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)inlen);
    if (n < 0)
        return -1;
    if (in[inlen - 1] == '=')
        n--;
    if (in[inlen - 2] == '=')
        n--;
    return n;
}

static void add_entry(fu_known_hosts_t *kh, const fu_kh_entry_t *e)
{
    if (kh->n == kh->cap) {
        size_t cap = kh->cap ? kh->cap * 2 : 64;
        fu_kh_entry_t *ne = realloc(kh->e, cap * sizeof(*ne));
        if (ne == NULL)
            return; /* out of memory: the entry is missing, so a check fails closed */
        kh->e = ne;
        kh->cap = cap;
    }
    kh->e[kh->n++] = *e;
}

/* Splits the next whitespace-separated field off *p (NUL-terminating it). */
static char *field(char **p)
{
    char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return NULL;
    char *e = s;
    while (*e && *e != ' ' && *e != '\t')
        e++;
    if (*e)
        *e++ = '\0';
    *p = e;
    return s;
}

static void parse(fu_known_hosts_t *kh)
{
    uint32_t line = 0;
    for (char *s = kh->text; s && *s;) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        line++;
        char *p = s;
        s = nl ? nl + 1 : NULL;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r')
            p[l - 1] = '\0';
        char *f = field(&p);
        if (f == NULL || f[0] == '#')
            continue;
        fu_kh_entry_t e = {.line = line};
        if (f[0] == '@') {
            if (strcmp(f, "@revoked") != 0)
                continue; /* @cert-authority: host certificates are not used here */
            e.revoked = true;
            if ((f = field(&p)) == NULL)
                continue;
        }
        e.hosts = f;
        char *type = field(&p), *b64 = field(&p);
        if (type == NULL || b64 == NULL)
            continue; /* a malformed line matches nothing, as in OpenSSH */
        unsigned char buf[KH_MAX_KEY];
        int n = b64_decode(b64, strlen(b64), buf, sizeof(buf));
        if (n <= 0)
            continue;
        e.type = type;
        e.key = malloc((size_t)n);
        if (e.key == NULL)
            continue;
        memcpy(e.key, buf, (size_t)n);
        e.keylen = (size_t)n;
        add_entry(kh, &e);
    }
}

int fu_kh_load_buffer(fu_known_hosts_t *kh, const char *name, const char *buf, size_t len)
{
    memset(kh, 0, sizeof(*kh));
    kh->path = strdup(name);
    kh->text = malloc(len + 1);
    if (kh->path == NULL || kh->text == NULL)
        return -1;
    memcpy(kh->text, buf, len);
    kh->text[len] = '\0';
    parse(kh);
    return 0;
}

int fu_kh_load(fu_known_hosts_t *kh, const char *path, char *err, size_t errlen)
{
    memset(kh, 0, sizeof(*kh));
    FILE *fp = fopen(path, "rb");
    if (fp == NULL && errno == ENOENT)
        return fu_kh_load_buffer(kh, path, "", 0);
    if (fp == NULL) {
        snprintf(err, errlen, "cannot read known_hosts %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || (uint64_t)st.st_size > KH_MAX_FILE) {
        fclose(fp);
        snprintf(err, errlen, "known_hosts %s is larger than 64 MiB", path);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, fp) : 0;
    fclose(fp);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory reading %s", path);
        return -1;
    }
    int rc = fu_kh_load_buffer(kh, path, buf, n);
    free(buf);
    if (rc != 0)
        snprintf(err, errlen, "out of memory reading %s", path);
    return rc;
}

void fu_kh_free(fu_known_hosts_t *kh)
{
    for (size_t i = 0; i < kh->n; i++)
        free(kh->e[i].key);
    free(kh->e);
    free(kh->text);
    free(kh->path);
    memset(kh, 0, sizeof(*kh));
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* OpenSSH's match_pattern: * and ? wildcards, case-insensitive like host names. No
 * recursion: on a mismatch the last * takes one more character (a file full of stars
 * costs length x length, not an exponential search). */
static bool glob(const char *p, size_t plen, const char *s)
{
    size_t i = 0, star_i = 0;
    const char *star_s = NULL;
    while (*s) {
        if (i < plen && p[i] == '*') {
            star_i = ++i;
            star_s = s;
        } else if (i < plen && (p[i] == '?' || lower(p[i]) == lower(*s))) {
            i++, s++;
        } else if (star_s) {
            i = star_i;
            s = ++star_s;
        } else {
            return false;
        }
    }
    while (i < plen && p[i] == '*')
        i++;
    return i == plen;
}

/* |1|base64(salt)|base64(HMAC-SHA1(salt, name)) */
static bool hashed_match(const char *pat, size_t plen, const char *name)
{
    const char *bar = memchr(pat + 3, '|', plen - 3);
    if (bar == NULL)
        return false;
    unsigned char salt[64], want[64], got[EVP_MAX_MD_SIZE];
    int sl = b64_decode(pat + 3, (size_t)(bar - pat - 3), salt, sizeof(salt));
    int wl = b64_decode(bar + 1, plen - (size_t)(bar + 1 - pat), want, sizeof(want));
    unsigned int gl = 0;
    if (sl <= 0 || wl != 20)
        return false;
    HMAC(EVP_sha1(), salt, sl, (const unsigned char *)name, strlen(name), got, &gl);
    return gl == 20 && CRYPTO_memcmp(got, want, 20) == 0;
}

/* Whether the entry's pattern list names host (written "host" on port 22, else
 * "[host]:port"): any positive match and no negated one. */
static bool hosts_match(const char *list, const char *name)
{
    bool yes = false;
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        bool neg = l > 0 && p[0] == '!';
        const char *q = neg ? p + 1 : p;
        size_t ql = neg ? l - 1 : l;
        bool m = ql > 3 && strncmp(q, "|1|", 3) == 0 ? hashed_match(q, ql, name) : glob(q, ql, name);
        if (m && neg)
            return false;
        yes |= m;
        p = c ? c + 1 : p + l;
    }
    return yes;
}

static void host_name(const char *host, uint16_t port, char *out, size_t len)
{
    if (port == 22 || port == 0)
        snprintf(out, len, "%s", host);
    else
        snprintf(out, len, "[%s]:%u", host, port);
}

const char *fu_kh_type(const fu_known_hosts_t *kh, const char *host, uint16_t port)
{
    char name[300];
    host_name(host, port, name, sizeof(name));
    for (size_t i = 0; i < kh->n; i++)
        if (!kh->e[i].revoked && hosts_match(kh->e[i].hosts, name))
            return kh->e[i].type;
    return NULL;
}

fu_kh_result_t fu_kh_check(const fu_known_hosts_t *kh, const char *host, uint16_t port,
                           const char *type, const unsigned char *key, size_t keylen,
                           uint32_t *line)
{
    char name[300];
    host_name(host, port, name, sizeof(name));
    fu_kh_result_t r = FU_KH_NOTFOUND;
    for (size_t i = 0; i < kh->n; i++) {
        const fu_kh_entry_t *e = &kh->e[i];
        if (!hosts_match(e->hosts, name))
            continue;
        bool same = e->keylen == keylen && memcmp(e->key, key, keylen) == 0;
        if (e->revoked && same) {
            *line = e->line;
            return FU_KH_REVOKED;
        }
        if (e->revoked)
            continue;
        if (same && strcmp(e->type, type) == 0)
            r = FU_KH_MATCH; /* a revocation further down still wins */
        else if (r == FU_KH_NOTFOUND && strcmp(e->type, type) == 0) {
            r = FU_KH_MISMATCH;
            *line = e->line;
        } else if (r == FU_KH_NOTFOUND) {
            /* Another key type for this host: OpenSSH calls that a change too. */
            r = FU_KH_MISMATCH;
            *line = e->line;
        }
    }
    return r;
}

int fu_kh_add(fu_known_hosts_t *kh, const char *host, uint16_t port, const char *type,
              const unsigned char *key, size_t keylen, char *err, size_t errlen)
{
    char name[300], b64[KH_MAX_KEY * 4 / 3 + 8];
    if (keylen > KH_MAX_KEY) {
        snprintf(err, errlen, "host key too long");
        return -1;
    }
    host_name(host, port, name, sizeof(name));
    EVP_EncodeBlock((unsigned char *)b64, key, (int)keylen);
    char line[sizeof(name) + sizeof(b64) + 64];
    int l = snprintf(line, sizeof(line), "%s %s %s\n", name, type, b64);
    int fd = open(kh->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, line, (size_t)l) != l) {
        snprintf(err, errlen, "cannot add the host key to %s: %s", kh->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    /* In memory too, so the next node with this name is checked against it. One block
     * holds key, pattern and type; fu_kh_free frees it through the key. */
    size_t nl = strlen(name) + 1, tl = strlen(type) + 1;
    unsigned char *mem = malloc(keylen + nl + tl);
    if (mem == NULL)
        return 0;
    memcpy(mem, key, keylen);
    memcpy(mem + keylen, name, nl);
    memcpy(mem + keylen + nl, type, tl);
    fu_kh_entry_t e = {.key = mem, .keylen = keylen, .hosts = (char *)mem + keylen,
                       .type = (char *)mem + keylen + nl};
    size_t before = kh->n;
    add_entry(kh, &e);
    if (kh->n == before)
        free(mem);
    return 0;
}

void fu_kh_fingerprint(const unsigned char *key, size_t keylen, char out[64])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char b64[64];
    SHA256(key, keylen, md);
    EVP_EncodeBlock((unsigned char *)b64, md, SHA256_DIGEST_LENGTH);
    b64[strcspn(b64, "=")] = '\0';
    snprintf(out, 64, "SHA256:%.43s", b64); /* 32 bytes are 43 base64 digits */
}
