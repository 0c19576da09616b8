/* TLS glue on OpenSSL memory BIOs, shared by the HTTPS server (and later the Redfish
 * client): the socket stays libuv's; ciphertext moves between the socket and two BIOs. */
#ifndef FU_TLS_H
#define FU_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* Server context: TLS 1.2 and later, no renegotiation, buffers released when idle.
 * Loads cert/key, or generates a self-signed P-256 certificate into DIR/tls.crt and
 * DIR/tls.key (0600) on first start. Fills fingerprint with the certificate's SHA-256
 * (hex pairs joined by ':'). NULL with a message in err. */
SSL_CTX *fu_tls_server_ctx(const char *cert, const char *key, const char *state_dir,
                           char *fingerprint, size_t fplen, char *err, size_t errlen);

typedef struct {
    SSL *ssl;
    BIO *rbio, *wbio; /* network -> SSL, SSL -> network */
    bool handshake_done, failed;
    bool peer_closed; /* failed because the peer sent close_notify: a normal end */
} fu_tls_conn_t;

int fu_tls_conn_init(fu_tls_conn_t *t, SSL_CTX *ctx, bool server);
void fu_tls_conn_free(fu_tls_conn_t *t);
/* Ciphertext from the network. */
void fu_tls_feed(fu_tls_conn_t *t, const char *data, size_t len);
/* Plaintext out of the connection: >0 bytes, 0 needs more input, -1 fatal error
 * (t->failed is set; never call SSL_shutdown after it). */
int fu_tls_read(fu_tls_conn_t *t, char *buf, size_t len);
/* Encrypts plaintext; the ciphertext waits in wbio. Returns -1 on a fatal error. */
int fu_tls_write(fu_tls_conn_t *t, const char *buf, size_t len);
/* Bytes waiting to go to the network, and taking them. */
size_t fu_tls_pending_out(fu_tls_conn_t *t);
size_t fu_tls_take_out(fu_tls_conn_t *t, char *buf, size_t len);

/* Client side (transports/http_client.c): runs the handshake as far as the input allows;
 * the first call puts the ClientHello into wbio. 1 done, 0 needs more input, -1 failed
 * (t->failed set; the reason is on OpenSSL's error queue). */
int fu_tls_handshake(fu_tls_conn_t *t);
/* Gives back what an idle connection does not need: OpenSSL's record buffers, and
 * memory BIOs that grew during a large transfer (replaced by fresh ones), when nothing
 * waits in them, so an idle keep-alive connection keeps no 16 KiB buffers. */
void fu_tls_trim(fu_tls_conn_t *t);

#endif
