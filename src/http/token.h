/* The server's secrets in the state directory, and node tokens:
 * HMAC-SHA256(server secret, rollout, node), written "ROLLOUT:NODE:HEX". */
#ifndef FU_TOKEN_H
#define FU_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    unsigned char secret[32];
    char admin[65]; /* hex */
} fu_secrets_t;

/* Reads DIR/server.secret and DIR/admin.token, creating them (0600) on first use. */
int fu_secrets_load(const char *dir, fu_secrets_t *s, char *err, size_t errlen);
/* "ROLLOUT:NODE:HEX" into out (at least 128 + node length bytes). */
void fu_token_make(const fu_secrets_t *s, const char *rollout, const char *node, char *out,
                   size_t outlen);
/* Does token (either "ROLLOUT:NODE:HEX" naming this rollout and node, or the bare HEX)
 * belong to rollout/node? Constant time in the MAC comparison. */
bool fu_token_check(const fu_secrets_t *s, const char *rollout, const char *node,
                    const char *token);
/* Splits "ROLLOUT:NODE:HEX": rollout and node copied out; false when malformed. */
bool fu_token_split(const char *token, char *rollout, size_t rlen, char *node, size_t nlen);
bool fu_admin_check(const fu_secrets_t *s, const char *token);

#endif
