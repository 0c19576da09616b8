/* OpenSSL with memory BIOs, after the pitfalls in DESIGN.md: clear the error queue
 * before each SSL call, move ciphertext out after every call, no renegotiation, release
 * buffers on idle connections, no SSL_shutdown after a fatal error. */
#include "http/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void ssl_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", buf);
}

/* A self-signed certificate for this host, valid ten years. */
static int generate(const char *crt_path, const char *key_path, char *err, size_t errlen)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int rc = -1;
    if (pkey == NULL || x == NULL) {
        ssl_err(err, errlen, "cannot generate a TLS key");
        goto out;
    }
    unsigned char serial[16];
    FILE *r = fopen("/dev/urandom", "rb");
    if (r == NULL || fread(serial, 1, sizeof(serial), r) != sizeof(serial)) {
        snprintf(err, errlen, "cannot read /dev/urandom");
        if (r)
            fclose(r);
        goto out;
    }
    fclose(r);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x, pkey);
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"fleetup", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0);
    X509_set_issuer_name(x, name);
    char san[512];
    snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", host);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (!X509_sign(x, pkey, EVP_sha256())) {
        ssl_err(err, errlen, "cannot sign the TLS certificate");
        goto out;
    }
    int kfd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *kf = kfd >= 0 ? fdopen(kfd, "w") : NULL;
    FILE *cf = fopen(crt_path, "w");
    if (kf == NULL || cf == NULL || !PEM_write_PrivateKey(kf, pkey, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_X509(cf, x)) {
        snprintf(err, errlen, "cannot write %s / %s: %s", crt_path, key_path, strerror(errno));
        if (kf)
            fclose(kf);
        if (cf)
            fclose(cf);
        goto out;
    }
    fclose(kf);
    fclose(cf);
    rc = 0;
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

static void fingerprint_of(SSL_CTX *ctx, char *out, size_t len)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = '\0';
    if (x == NULL || !X509_digest(x, EVP_sha256(), md, &n))
        return;
    for (unsigned i = 0; i < n && 3 * i + 3 <= len; i++)
        snprintf(out + 3 * i, len - 3 * i, "%02X%s", md[i], i + 1 < n ? ":" : "");
}

SSL_CTX *fu_tls_server_ctx(const char *cert, const char *key, const char *state_dir,
                           char *fingerprint, size_t fplen, char *err, size_t errlen)
{
    char crt_path[4096], key_path[4096];
    if (cert == NULL) {
        snprintf(crt_path, sizeof(crt_path), "%s/tls.crt", state_dir);
        snprintf(key_path, sizeof(key_path), "%s/tls.key", state_dir);
        struct stat st;
        if ((stat(crt_path, &st) != 0 || stat(key_path, &st) != 0) &&
            generate(crt_path, key_path, err, errlen) != 0)
            return NULL;
        cert = crt_path;
        key = key_path;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_err(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_err(err, errlen, "cannot load the TLS certificate");
        snprintf(err + strlen(err), errlen - strlen(err), " (%s)", cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, "cannot load the TLS key, or it does not match the certificate");
        snprintf(err + strlen(err), errlen - strlen(err), " (%s)", key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    fingerprint_of(ctx, fingerprint, fplen);
    return ctx;
}

int fu_tls_conn_init(fu_tls_conn_t *t, SSL_CTX *ctx, bool server)
{
    memset(t, 0, sizeof(*t));
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        memset(t, 0, sizeof(*t));
        return -1;
    }
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    if (server)
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    return 0;
}

void fu_tls_conn_free(fu_tls_conn_t *t)
{
    if (t->ssl)
        SSL_free(t->ssl); /* frees both BIOs */
    memset(t, 0, sizeof(*t));
}

void fu_tls_feed(fu_tls_conn_t *t, const char *data, size_t len)
{
    BIO_write(t->rbio, data, (int)len);
}

static int fatal(fu_tls_conn_t *t, int rc)
{
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    t->failed = true;
    return -1;
}

int fu_tls_read(fu_tls_conn_t *t, char *buf, size_t len)
{
    if (t->failed)
        return -1;
    ERR_clear_error();
    if (!t->handshake_done) {
        int rc = SSL_do_handshake(t->ssl);
        if (rc != 1)
            return fatal(t, rc);
        t->handshake_done = true;
    }
    ERR_clear_error();
    int rc = SSL_read(t->ssl, buf, (int)len);
    if (rc > 0)
        return rc;
    if (SSL_get_error(t->ssl, rc) == SSL_ERROR_ZERO_RETURN) {
        t->failed = t->peer_closed = true; /* close_notify: the peer is done */
        return -1;
    }
    return fatal(t, rc);
}

int fu_tls_write(fu_tls_conn_t *t, const char *buf, size_t len)
{
    while (len > 0 && !t->failed) {
        ERR_clear_error();
        int rc = SSL_write(t->ssl, buf, (int)(len > 1 << 30 ? 1 << 30 : len));
        if (rc <= 0)
            return fatal(t, rc) == 0 ? -1 : -1; /* memory BIOs never block writes */
        buf += rc;
        len -= (size_t)rc;
    }
    return t->failed ? -1 : 0;
}

size_t fu_tls_pending_out(fu_tls_conn_t *t)
{
    return BIO_ctrl_pending(t->wbio);
}

size_t fu_tls_take_out(fu_tls_conn_t *t, char *buf, size_t len)
{
    int n = BIO_read(t->wbio, buf, (int)len);
    return n > 0 ? (size_t)n : 0;
}

int fu_tls_handshake(fu_tls_conn_t *t)
{
    if (t->failed)
        return -1;
    if (t->handshake_done)
        return 1;
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc != 1)
        return fatal(t, rc);
    t->handshake_done = true;
    return 1;
}

/* A mem BIO never shrinks its buffer (BUF_MEM only grows): swapping it is the only way
 * to give the memory back. */
void fu_tls_trim(fu_tls_conn_t *t)
{
    BUF_MEM *bm = NULL;
    /* SSL_MODE_RELEASE_BUFFERS misses the read buffer the last SSL_read() set up (16 KiB
     * on every idle TLS 1.3 connection): 0 means bytes still wait, so nothing is trimmed. */
    if (SSL_free_buffers(t->ssl) != 1)
        return;
    if (BIO_ctrl_pending(t->wbio) == 0 && BIO_get_mem_ptr(t->wbio, &bm) > 0 && bm && bm->max > 4096) {
        BIO *b = BIO_new(BIO_s_mem());
        if (b) {
            SSL_set0_wbio(t->ssl, b); /* frees the old one */
            t->wbio = b;
        }
    }
    bm = NULL;
    if (BIO_ctrl_pending(t->rbio) == 0 && BIO_get_mem_ptr(t->rbio, &bm) > 0 && bm && bm->max > 4096) {
        BIO *b = BIO_new(BIO_s_mem());
        if (b) {
            BIO_set_mem_eof_return(b, -1);
            SSL_set0_rbio(t->ssl, b);
            t->rbio = b;
        }
    }
}
