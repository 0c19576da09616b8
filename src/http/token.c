/* Secrets and tokens. The secret never leaves the state directory; tokens are compared
 * with CRYPTO_memcmp so their timing says nothing about how much of a guess was right. */
#include "http/token.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_exact(const char *path, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -2;
}

static int write_new(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, buf, len);
    int rc = n == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    return rc;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int load_or_create(const char *path, void *buf, size_t len, bool as_hex, char *err,
                          size_t errlen)
{
    int rc = read_exact(path, buf, len);
    if (rc == 0)
        return 0;
    if (rc == -2) {
        snprintf(err, errlen, "%s is damaged (wrong size): remove it to make a new one "
                              "(tokens given out before stop working)", path);
        return -1;
    }
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        snprintf(err, errlen, "no randomness for %s", path);
        return -1;
    }
    if (as_hex)
        hex(raw, sizeof(raw), buf);
    else
        memcpy(buf, raw, len);
    if (write_new(path, buf, len) != 0 && read_exact(path, buf, len) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int fu_secrets_load(const char *dir, fu_secrets_t *s, char *err, size_t errlen)
{
    char path[4096];
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/server.secret", dir);
    if (load_or_create(path, s->secret, sizeof(s->secret), false, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/admin.token", dir);
    if (load_or_create(path, s->admin, 64, true, err, errlen) != 0)
        return -1;
    s->admin[64] = '\0';
    return 0;
}

static void mac_hex(const fu_secrets_t *s, const char *rollout, const char *node, char out[65])
{
    unsigned char msg[1024], md[32];
    unsigned int mdlen = 0;
    int n = snprintf((char *)msg, sizeof(msg), "fleetup-node-token\n%s\n%s", rollout, node);
    if (n < 0 || (size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    HMAC(EVP_sha256(), s->secret, sizeof(s->secret), msg, (size_t)n, md, &mdlen);
    hex(md, 32, out);
}

void fu_token_make(const fu_secrets_t *s, const char *rollout, const char *node, char *out,
                   size_t outlen)
{
    char mac[65];
    mac_hex(s, rollout, node, mac);
    snprintf(out, outlen, "%s:%s:%s", rollout, node, mac);
}

bool fu_token_split(const char *token, char *rollout, size_t rlen, char *node, size_t nlen)
{
    const char *a = strchr(token, ':');
    const char *b = a ? strrchr(token, ':') : NULL;
    if (a == NULL || b == a || strlen(b + 1) != 64)
        return false;
    if ((size_t)(a - token) >= rlen || (size_t)(b - a - 1) >= nlen || a == token || b == a + 1)
        return false;
    memcpy(rollout, token, (size_t)(a - token));
    rollout[a - token] = '\0';
    memcpy(node, a + 1, (size_t)(b - a - 1));
    node[b - a - 1] = '\0';
    return true;
}

bool fu_token_check(const fu_secrets_t *s, const char *rollout, const char *node,
                    const char *token)
{
    if (token == NULL)
        return false;
    const char *mac = token;
    char r[256], n[512];
    if (strchr(token, ':')) {
        if (!fu_token_split(token, r, sizeof(r), n, sizeof(n)) || strcmp(r, rollout) != 0 ||
            strcmp(n, node) != 0)
            return false;
        mac = strrchr(token, ':') + 1;
    }
    if (strlen(mac) != 64)
        return false;
    char want[65];
    mac_hex(s, rollout, node, want);
    return CRYPTO_memcmp(want, mac, 64) == 0;
}

bool fu_admin_check(const fu_secrets_t *s, const char *token)
{
    return token && strlen(token) == 64 && CRYPTO_memcmp(s->admin, token, 64) == 0;
}
