/* OpenSSH known_hosts files, read by fleetup itself so that a mismatch can name the
 * file and line, and so that the host-key method can be pinned to the recorded key's
 * type before the handshake. Understands host patterns with * ? and !, [host]:port,
 * hashed |1| entries, comments, @revoked; @cert-authority lines are skipped. */
#ifndef FU_KNOWN_HOSTS_H
#define FU_KNOWN_HOSTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct fu_kh_entry_s fu_kh_entry_t;

typedef struct {
    char *path;
    fu_kh_entry_t *e;
    size_t n, cap;
    char *text; /* the file's bytes; entries point into it */
} fu_known_hosts_t;

typedef enum { FU_KH_MATCH, FU_KH_MISMATCH, FU_KH_NOTFOUND, FU_KH_REVOKED } fu_kh_result_t;

/* Reads path (a missing file is an empty list). -1 with a message in err. */
int fu_kh_load(fu_known_hosts_t *kh, const char *path, char *err, size_t errlen);
/* The same from memory (tests, fuzzing); name stands for the file in messages. */
int fu_kh_load_buffer(fu_known_hosts_t *kh, const char *name, const char *buf, size_t len);
void fu_kh_free(fu_known_hosts_t *kh);

/* The key type recorded first for host:port ("ssh-ed25519", ...), or NULL. */
const char *fu_kh_type(const fu_known_hosts_t *kh, const char *host, uint16_t port);
/* Checks a server's key (blob as sent in the handshake) against the entries for
 * host:port. On a mismatch or revocation *line is the entry's line. */
fu_kh_result_t fu_kh_check(const fu_known_hosts_t *kh, const char *host, uint16_t port,
                           const char *type, const unsigned char *key, size_t keylen,
                           uint32_t *line);
/* Appends "host key" to the file and the list (accept-new). -1 with a message in err. */
int fu_kh_add(fu_known_hosts_t *kh, const char *host, uint16_t port, const char *type,
              const unsigned char *key, size_t keylen, char *err, size_t errlen);
/* "SHA256:base64" of a key blob, as ssh-keygen -l prints it. */
void fu_kh_fingerprint(const unsigned char *key, size_t keylen, char out[64]);

#endif
