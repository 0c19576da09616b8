/* Credentials a transport reads for its nodes: passwords and key passphrases named by
 * the fleet file (an environment variable, a file, or an Ansible inventory's inline
 * password). A file is read once per transport; everything is wiped when freed. */
#ifndef FU_CREDS_H
#define FU_CREDS_H

#include <stddef.h>

#include "core/fleet.h"

#define FU_CREDS_MAX 16

typedef struct {
    struct {
        char *path, *value;
        size_t len;
    } files[FU_CREDS_MAX];
    unsigned n;
} fu_creds_t;

/* The node's password, or NULL with *err saying why (never the secret itself). */
const char *fu_cred_password(fu_creds_t *s, const fu_node_t *n, const char **err);
/* The node's key passphrase (key_passphrase_env / _file), "" when none is set, NULL on
 * error. */
const char *fu_cred_passphrase(fu_creds_t *s, const fu_node_t *n, const char **err);
/* A whole file (a private key), read once; NULL with *err when it cannot be read. */
const char *fu_cred_file(fu_creds_t *s, const char *path, size_t max, size_t *len,
                           const char **err);
void fu_creds_free(fu_creds_t *s);

/* Replaces the value of every ?t= / &t= query parameter (a node token in a package URL
 * that a node quotes back in an error) with ***, in place. */
void fu_redact_tokens(char *s);

#endif
