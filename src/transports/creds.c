/* Credentials named by the fleet file (creds.h). */
#include "transports/creds.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fu_cred_file(fu_creds_t *s, const char *path, size_t max, size_t *len,
                           const char **err)
{
    for (unsigned i = 0; i < s->n; i++)
        if (strcmp(s->files[i].path, path) == 0) {
            if (len)
                *len = s->files[i].len;
            return s->files[i].value;
        }
    if (s->n == FU_CREDS_MAX) { /* most fleets use one file for all their nodes */
        *err = "more than 16 different credential files in one run";
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        *err = "cannot read the credential file";
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, fp) : 0;
    fclose(fp);
    if (buf == NULL || n > max) {
        if (buf)
            OPENSSL_cleanse(buf, max + 1);
        free(buf);
        *err = buf ? "the credential file is too long" : "out of memory";
        return NULL;
    }
    buf[n] = '\0';
    s->files[s->n].path = strdup(path);
    s->files[s->n].value = buf;
    s->files[s->n].len = n;
    s->n++;
    if (len)
        *len = n;
    return buf;
}

/* The first line of a small secret file: a password or a passphrase. */
static const char *first_line(fu_creds_t *s, const char *path, const char **err)
{
    for (unsigned i = 0; i < s->n; i++)
        if (strcmp(s->files[i].path, path) == 0)
            return s->files[i].value;
    const char *v = fu_cred_file(s, path, 511, NULL, err);
    if (v == NULL)
        return NULL;
    char *w = s->files[s->n - 1].value;
    w[strcspn(w, "\r\n")] = '\0'; /* len stays the file's: all of it is wiped at the end */
    return w;
}

const char *fu_cred_password(fu_creds_t *s, const fu_node_t *n, const char **err)
{
    if (n->password_inline)
        return n->password_inline;
    if (n->password_env) {
        const char *p = getenv(n->password_env);
        if (p == NULL)
            *err = "the environment variable named by password_env is not set";
        return p;
    }
    if (n->password_file)
        return first_line(s, n->password_file, err);
    *err = "no password: set password_env or password_file for this node";
    return NULL;
}

const char *fu_cred_passphrase(fu_creds_t *s, const fu_node_t *n, const char **err)
{
    if (n->key_passphrase_env) {
        const char *p = getenv(n->key_passphrase_env);
        if (p == NULL)
            *err = "the environment variable named by key_passphrase_env is not set";
        return p;
    }
    if (n->key_passphrase_file)
        return first_line(s, n->key_passphrase_file, err);
    return "";
}

void fu_creds_free(fu_creds_t *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        OPENSSL_cleanse(s->files[i].value, s->files[i].len);
        free(s->files[i].value);
        free(s->files[i].path);
    }
    s->n = 0;
}

void fu_redact_tokens(char *s)
{
    for (char *p = s; (p = strstr(p, "t=")) != NULL; p += 2) {
        if (p == s || (p[-1] != '?' && p[-1] != '&'))
            continue;
        char *e = p + 2;
        while (*e && !strchr(" \t\"'&<>)", *e))
            e++;
        if (e - (p + 2) > 3) {
            memmove(p + 5, e, strlen(e) + 1);
            memcpy(p + 2, "***", 3);
        }
    }
}
