/* The HTTP/HTTPS service (service.h): the pieces of src/http assembled on one loop. */
#include "http/service.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/tls.h"

int fu_service_init(fu_service_t *s, uv_loop_t *loop, const fu_fleet_t *f,
                    const fu_service_opts_t *o, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->f = f;
    s->o = *o;
    if (fu_ports_resolve(f, o->port, o->ssl_port, getenv(FU_ENV_PORT), getenv(FU_ENV_SSL_PORT),
                         &s->ports, err, errlen) != 0)
        return -2;
    if (fu_secrets_load(o->state_dir, &s->secrets, err, errlen) != 0)
        return -1;
    s->tls = fu_tls_server_ctx(f->server.tls_cert, f->server.tls_key, o->state_dir,
                               s->fingerprint, sizeof(s->fingerprint), err, errlen);
    if (s->tls == NULL)
        return -1;
    fu_routes_init(&s->routes);
    s->routes.fleet = f;
    s->routes.packages = &s->packages;
    s->routes.secrets = &s->secrets;
    s->routes.api_on_http = o->api_on_http;
    s->routes.fingerprint = s->fingerprint;
    s->routes.port = s->ports.port;
    s->routes.ssl_port = s->ports.ssl_port;
    fu_http_handlers_t h = {&s->routes, fu_routes_handle, fu_routes_body_limit, o->log};
    fu_http_limits_t lim = {.max_connections = o->max_connections ? o->max_connections : 10000,
                            .header_timeout_ms = o->header_timeout_ms,
                            .idle_timeout_ms = o->idle_timeout_ms};
    s->server = fu_http_server_new(loop, &h, &lim);
    s->routes.server = s->server;
    return 0;
}

static void on_stopped(void *ud)
{
    fu_service_t *s = ud;
    fu_http_server_free(s->server);
    s->server = NULL;
    if (s->stopped)
        s->stopped(s->stopped_ud);
}

void fu_service_stop(fu_service_t *s, uint64_t deadline_ms, void (*cb)(void *ud), void *ud)
{
    s->stopped = cb;
    s->stopped_ud = ud;
    if (s->stopping || s->server == NULL) {
        if (s->server == NULL && cb)
            cb(ud);
        return;
    }
    s->stopping = true;
    fu_http_shutdown(s->server, deadline_ms, on_stopped, s);
}

static void fail_start(fu_service_t *s, const char *err)
{
    snprintf(s->err, sizeof(s->err), "%s", err);
    fu_service_stop(s, 0, NULL, NULL);
    s->ready(s->ready_ud, s->err);
}

static void on_packages(void *ud, const char *err)
{
    fu_service_t *s = ud;
    if (s->stopping)
        return; /* stopped while the packages were hashed */
    if (err) {
        fail_start(s, err);
        return;
    }
    const char *defaults[] = {"0.0.0.0", "::"};
    const char *const *binds = s->o.nbinds ? s->o.binds : defaults;
    int nb = s->o.nbinds ? s->o.nbinds : 2;
    if (!s->o.nbinds && s->f->server.bind) {
        binds = &s->f->server.bind;
        nb = 1;
    }
    char e[512];
    for (int i = 0; i < nb && i < 8; i++) {
        if (fu_http_listen(s->server, binds[i], s->ports.port, NULL, e, sizeof(e)) != 0 ||
            fu_http_listen(s->server, binds[i], s->ports.ssl_port, s->tls, e, sizeof(e)) != 0) {
            fail_start(s, e);
            return;
        }
        s->bound[s->nbound++] = binds[i];
    }
    s->ready(s->ready_ud, NULL);
}

void fu_service_start(fu_service_t *s, void (*ready)(void *ud, const char *err), void *ud)
{
    s->ready = ready;
    s->ready_ud = ud;
    fu_packages_load(s->loop, s->f, &s->packages, on_packages, s);
}

void fu_service_free(fu_service_t *s)
{
    if (s->server)
        fu_http_server_free(s->server);
    s->server = NULL;
    fu_routes_free(&s->routes);
    fu_packages_free(&s->packages);
    SSL_CTX_free(s->tls);
    s->tls = NULL;
}

/* The host a node reaches fleetup at (see fu_service_image_url), or NULL. */
static const char *node_facing_host(const fu_service_t *s, const fu_fleet_t *f, const char *local)
{
    const char *host = f->server.callback_address;
    if (host == NULL)
        host = s->f->server.callback_address;
    if (host == NULL)
        host = local && *local ? local : NULL;
    if (host == NULL && s->nbound == 1 && strcmp(s->bound[0], "0.0.0.0") != 0 &&
        strcmp(s->bound[0], "::") != 0)
        host = s->bound[0];
    return host;
}

/* scheme://host:port of the service as node n sees it; -1 with a message in buf. */
static int base_url(const fu_service_t *s, const fu_fleet_t *f, const fu_node_t *n,
                    const char *local, char *buf, size_t len)
{
    const char *host = node_facing_host(s, f, local);
    if (host == NULL) {
        snprintf(buf, len, "no address for the node to reach fleetup at: set "
                           "server.callback_address in the fleet file");
        return -1;
    }
    bool https = n->callback_scheme == FU_SCHEME_HTTPS;
    bool v6 = strchr(host, ':') != NULL;
    int w = snprintf(buf, len, "%s://%s%s%s:%u", https ? "https" : "http", v6 ? "[" : "", host,
                     v6 ? "]" : "", https ? s->ports.ssl_port : s->ports.port);
    return w < 0 || (size_t)w >= len ? -1 : w;
}

int fu_service_image_url(const fu_service_t *s, const fu_fleet_t *f, const fu_node_t *n,
                         const fu_component_t *c, const char *rollout, const char *local,
                         char *buf, size_t len)
{
    int b = base_url(s, f, n, local, buf, len);
    if (b < 0)
        return -1;
    char tok[1024];
    fu_token_make(&s->secrets, rollout, n->name, tok, sizeof(tok));
    int w = snprintf(buf + b, len - (size_t)b, "/pkg/%s?t=%s", c->sha256, tok);
    if (w < 0 || (size_t)w >= len - (size_t)b) {
        snprintf(buf, len, "the download URL is too long");
        return -1;
    }
    return b + w;
}

int fu_service_status_url(const fu_service_t *s, const fu_fleet_t *f, const fu_node_t *n,
                          const char *rollout, const char *local, char *url, size_t urllen,
                          char *tok, size_t toklen, char *pin, size_t pinlen)
{
    int b = base_url(s, f, n, local, url, urllen);
    if (b < 0)
        return -1;
    size_t w = (size_t)b;
    w += (size_t)snprintf(url + w, w < urllen ? urllen - w : 0, "/cb/%s/", rollout);
    for (const unsigned char *p = (const unsigned char *)n->name; *p && w + 4 < urllen; p++) {
        if (isalnum(*p) || strchr("._-~", *p))
            url[w++] = (char)*p;
        else
            w += (size_t)snprintf(url + w, urllen - w, "%%%02X", *p);
    }
    if (w + 4 >= urllen) {
        snprintf(url, urllen, "the status URL is too long");
        return -1;
    }
    url[w] = '\0';
    fu_token_make(&s->secrets, rollout, n->name, tok, toklen);
    pin[0] = '\0';
    X509 *cert = s->tls ? SSL_CTX_get0_certificate(s->tls) : NULL;
    unsigned char *der = NULL;
    int dl = cert ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der) : -1;
    if (dl > 0 && pinlen >= 64) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256(der, (size_t)dl, md);
        memcpy(pin, "sha256//", 8);
        EVP_EncodeBlock((unsigned char *)pin + 8, md, SHA256_DIGEST_LENGTH);
    }
    OPENSSL_free(der);
    return 0;
}
