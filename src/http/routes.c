/* Routes (routes.h). Every refusal says why in a short text body. */
#include "http/routes.h"

#include "dashboard/assets.h"

#include <ctype.h>
#include <stdarg.h>
#include <strings.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define TOKEN_CACHE_MAX 65536

void fu_routes_init(fu_routes_t *r)
{
    r->callbacks = calloc(FU_CALLBACKS_KEPT, sizeof(fu_status_post_t));
    fu_strmap_init(&r->token_cache);
    fu_strmap_init(&r->node_index);
    fu_arena_init(&r->token_arena);
}

void fu_routes_free(fu_routes_t *r)
{
    free(r->callbacks);
    r->callbacks = NULL;
    fu_strmap_free(&r->token_cache);
    fu_strmap_free(&r->node_index);
    fu_arena_free(&r->token_arena);
}

/* fu_token_check() with a cache of tokens that passed: the MAC is compared in constant
 * time either way; only the HMAC computation is saved. */
static bool token_ok(fu_routes_t *r, const char *rollout, const char *node, const char *tok)
{
    char key[300];
    int kl = snprintf(key, sizeof(key), "%s\n%s", rollout, node);
    const char *mac = strrchr(tok, ':') ? strrchr(tok, ':') + 1 : tok;
    if (kl > 0 && (size_t)kl < sizeof(key) && strlen(mac) == 64) {
        const char *known = fu_strmap_get(&r->token_cache, key, (size_t)kl);
        if (known) {
            if (strchr(tok, ':')) { /* the long form must name this rollout and node */
                char tr[32], tn[256];
                if (!fu_token_split(tok, tr, sizeof(tr), tn, sizeof(tn)) ||
                    strcmp(tr, rollout) != 0 || strcmp(tn, node) != 0)
                    return false;
            }
            return CRYPTO_memcmp(known, mac, 64) == 0;
        }
    }
    if (!fu_token_check(r->secrets, rollout, node, tok))
        return false;
    if (kl > 0 && (size_t)kl < sizeof(key)) {
        if (r->token_cache.n >= TOKEN_CACHE_MAX) {
            fu_strmap_free(&r->token_cache);
            fu_arena_free(&r->token_arena);
        }
        const char *k = fu_arena_strndup(&r->token_arena, key, (size_t)kl);
        fu_strmap_put(&r->token_cache, k, (size_t)kl, fu_arena_strndup(&r->token_arena, mac, 64));
    }
    return true;
}

static fu_route_t route_of(const char *path)
{
    if (strncmp(path, "/pkg/", 5) == 0)
        return FU_ROUTE_PKG;
    if (strncmp(path, "/cb/", 4) == 0)
        return FU_ROUTE_CB;
    if (strncmp(path, "/api/v1/", 8) == 0)
        return FU_ROUTE_API;
    if (strcmp(path, "/metrics") == 0)
        return FU_ROUTE_METRICS;
    return FU_ROUTE_OTHER;
}

size_t fu_routes_body_limit(void *ud, const char *method, const char *path)
{
    (void)ud;
    if (strcmp(method, "POST") == 0 && route_of(path) == FU_ROUTE_CB)
        return FU_CALLBACK_MAX_BODY;
    if (strcmp(method, "POST") == 0 && route_of(path) == FU_ROUTE_API)
        return FU_API_MAX_BODY;
    return 0;
}

static void count(fu_routes_t *r, fu_route_t rt, int status)
{
    if (status > 0 && status < 600)
        r->by_status[rt][status]++;
}

static void reply(fu_routes_t *r, fu_route_t rt, fu_http_request_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void reply(fu_routes_t *r, fu_route_t rt, fu_http_request_t *req, int status, const char *fmt, ...)
{
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(body) - 1)
        n = (int)sizeof(body) - 2;
    body[n++] = '\n';
    count(r, rt, status);
    const char *extra = NULL;
    if (status == 405)
        extra = rt == FU_ROUTE_CB ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n";
    if (status == 401)
        extra = "WWW-Authenticate: Bearer\r\n";
    fu_http_respond(req, status, "text/plain; charset=utf-8", extra, body, (size_t)n);
}

void fu_routes_respond(fu_routes_t *r, fu_http_request_t *req, int status, const char *content_type,
                       const char *extra_headers, const char *body, size_t len)
{
    count(r, FU_ROUTE_API, status);
    fu_http_respond(req, status, content_type, extra_headers, body, len);
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* Percent-decodes src[0..n) into dst (NUL-terminated); false on a bad escape or NUL. */
static bool url_decode(const char *src, size_t n, char *dst, size_t dstlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '%') {
            if (i + 2 >= n || !isxdigit((unsigned char)src[i + 1]) ||
                !isxdigit((unsigned char)src[i + 2]))
                return false;
            ch = (char)(hexval((unsigned char)src[i + 1]) * 16 + hexval((unsigned char)src[i + 2]));
            i += 2;
        }
        if (ch == '\0' || o + 1 >= dstlen)
            return false;
        dst[o++] = ch;
    }
    dst[o] = '\0';
    return true;
}

/* The token of a request: "Authorization: Bearer X", else the t= query parameter. */
static bool token_of(const fu_http_request_t *req, char *out, size_t len)
{
    const char *auth = fu_http_header(req, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        snprintf(out, len, "%s", auth + 7);
        return true;
    }
    for (const char *q = req->query; q && *q;) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > 2 && strncmp(q, "t=", 2) == 0)
            return url_decode(q + 2, n - 2, out, len);
        q = amp ? amp + 1 : NULL;
    }
    return false;
}

static bool node_exists(fu_routes_t *r, const char *rollout, const char *name)
{
    if (r->ext.node_known && r->ext.node_known(r->ext.ud, rollout, name))
        return true;
    if (r->node_index.n == 0)
        for (size_t i = 0; i < r->fleet->nnodes; i++)
            fu_strmap_put(&r->node_index, r->fleet->nodes[i].name,
                          strlen(r->fleet->nodes[i].name), (void *)1);
    return fu_strmap_get(&r->node_index, name, strlen(name)) != NULL;
}

/* ---- /pkg/<sha256> ---- */

/* Parses a single "bytes=a-b" range. 0: no usable range (serve all), 1: range, -1: 416. */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0; /* absent, another unit, or several ranges: the whole file (RFC 9110) */
    const char *s = h + 6;
    char *end;
    if (*s == '-') {
        unsigned long long n = strtoull(s + 1, &end, 10);
        if (*end || end == s + 1)
            return 0;
        if (n == 0 || size == 0)
            return -1;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return 1;
    }
    unsigned long long a = strtoull(s, &end, 10);
    if (end == s || *end != '-')
        return 0;
    const char *bs = end + 1;
    unsigned long long b = size ? size - 1 : 0;
    if (*bs) {
        b = strtoull(bs, &end, 10);
        if (*end || b < a)
            return 0;
        if (b >= size)
            b = size - 1;
    }
    if (a >= size)
        return -1;
    *from = a;
    *to = b;
    return 1;
}

static void serve_package(fu_routes_t *r, fu_http_request_t *req)
{
    const char *sha = req->path + 5;
    if (strcmp(req->method, "GET") != 0 && !req->head) {
        reply(r, FU_ROUTE_PKG, req, 405, "packages are read with GET or HEAD");
        return;
    }
    char tok[512], ro[32], node[256];
    if (!token_of(req, tok, sizeof(tok))) {
        reply(r, FU_ROUTE_PKG, req, 401, "a node token (Authorization: Bearer, or ?t=) is needed");
        return;
    }
    bool admin = fu_admin_check(r->secrets, tok);
    bool ok = admin || (fu_token_split(tok, ro, sizeof(ro), node, sizeof(node)) &&
                        token_ok(r, ro, node, tok) && node_exists(r, ro, node));
    if (!ok) {
        reply(r, FU_ROUTE_PKG, req, 403, "this token is not valid here");
        return;
    }
    const fu_package_t *p = strlen(sha) == 64 ? fu_packages_find(r->packages, sha) : NULL;
    if (p == NULL && r->ext.package && strlen(sha) == 64) /* a node: its own rollout's only */
        p = r->ext.package(r->ext.ud, admin ? NULL : ro, sha);
    if (p == NULL) {
        reply(r, FU_ROUTE_PKG, req, 404, "no package with this SHA-256");
        return;
    }
    char extra[256];
    const char *inm = fu_http_header(req, "If-None-Match");
    if (inm && (strstr(inm, p->sha256) || strcmp(inm, "*") == 0)) {
        snprintf(extra, sizeof(extra), "ETag: \"%s\"\r\n", p->sha256);
        count(r, FU_ROUTE_PKG, 304);
        fu_http_respond(req, 304, NULL, extra, NULL, 0);
        return;
    }
    uint64_t from = 0, to = p->size ? p->size - 1 : 0;
    int rg = parse_range(fu_http_header(req, "Range"), p->size, &from, &to);
    if (rg < 0) {
        snprintf(extra, sizeof(extra), "Content-Range: bytes */%llu\r\n", (unsigned long long)p->size);
        count(r, FU_ROUTE_PKG, 416);
        fu_http_respond(req, 416, "text/plain; charset=utf-8", extra, "range not satisfiable\n", 22);
        return;
    }
    if (rg > 0) {
        snprintf(extra, sizeof(extra), "ETag: \"%s\"\r\nAccept-Ranges: bytes\r\n"
                 "Content-Range: bytes %llu-%llu/%llu\r\n", p->sha256, (unsigned long long)from,
                 (unsigned long long)to, (unsigned long long)p->size);
        count(r, FU_ROUTE_PKG, 206);
        fu_http_respond_file(req, 206, "application/octet-stream", extra, p->data + from, p->fd,
                             from, to - from + 1);
        return;
    }
    snprintf(extra, sizeof(extra), "ETag: \"%s\"\r\nAccept-Ranges: bytes\r\n", p->sha256);
    count(r, FU_ROUTE_PKG, 200);
    fu_http_respond_file(req, 200, "application/octet-stream", extra, p->data, p->fd, 0, p->size);
}

/* ---- /cb/<rollout>/<node> ---- */

static const char *const cb_fields[] = {"phase", "state", "percent", "message", "exit_code"};

static int cb_string(json_t *o, const char *key, char *out, size_t len, bool required, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL) {
        if (required)
            snprintf(why, whylen, "'%s' is missing", key);
        return required ? -1 : 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= len) {
        snprintf(why, whylen, "'%s' must be a string of at most %zu bytes", key, len - 1);
        return -1;
    }
    snprintf(out, len, "%s", json_string_value(v));
    return 0;
}

static int cb_int(json_t *o, const char *key, long long lo, long long hi, int *out, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, key);
    *out = -1;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(why, whylen, "'%s' must be a whole number from %lld to %lld", key, lo, hi);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int parse_callback(const char *body, size_t len, fu_status_post_t *cb, char *why, size_t whylen)
{
    json_error_t e;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (o == NULL) {
        snprintf(why, whylen, "malformed JSON at line %d, column %d: %s", e.line, e.column, e.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(o)) {
        snprintf(why, whylen, "the body must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        bool known = false;
        for (size_t i = 0; i < sizeof(cb_fields) / sizeof(cb_fields[0]); i++)
            known |= strcmp(key, cb_fields[i]) == 0;
        if (!known) {
            snprintf(why, whylen, "unknown field '%.64s' (fields: phase, state, percent, message, exit_code)", key);
            goto out;
        }
    }
    if (cb_string(o, "phase", cb->phase, sizeof(cb->phase), true, why, whylen) ||
        cb_string(o, "state", cb->state, sizeof(cb->state), true, why, whylen) ||
        cb_string(o, "message", cb->message, sizeof(cb->message), false, why, whylen) ||
        cb_int(o, "percent", 0, 100, &cb->percent, why, whylen) ||
        cb_int(o, "exit_code", -255, 255, &cb->exit_code, why, whylen))
        goto out;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static void handle_callback(fu_routes_t *r, fu_http_request_t *req)
{
    if (strcmp(req->method, "POST") != 0) {
        reply(r, FU_ROUTE_CB, req, 405, "status callbacks are POSTed");
        return;
    }
    const char *p = req->path + 4, *slash = strchr(p, '/');
    fu_status_post_t cb;
    memset(&cb, 0, sizeof(cb));
    if (slash == NULL || slash == p || (size_t)(slash - p) >= sizeof(cb.rollout) ||
        !url_decode(p, (size_t)(slash - p), cb.rollout, sizeof(cb.rollout)) ||
        !url_decode(slash + 1, strlen(slash + 1), cb.node, sizeof(cb.node)) || cb.node[0] == '\0' ||
        strchr(cb.node, '/')) {
        reply(r, FU_ROUTE_CB, req, 404, "callbacks go to /cb/ROLLOUT/NODE");
        return;
    }
    for (const char *d = cb.rollout; *d; d++)
        if (!isdigit((unsigned char)*d)) {
            reply(r, FU_ROUTE_CB, req, 404, "the rollout in /cb/ROLLOUT/NODE is a number");
            return;
        }
    char tok[512];
    if (!token_of(req, tok, sizeof(tok))) {
        reply(r, FU_ROUTE_CB, req, 401, "this node's token (Authorization: Bearer, or ?t=) is needed");
        return;
    }
    if (!token_ok(r, cb.rollout, cb.node, tok) && !fu_admin_check(r->secrets, tok)) {
        reply(r, FU_ROUTE_CB, req, 403, "this token is not the one of node '%s' in rollout %s",
              cb.node, cb.rollout);
        return;
    }
    if (!node_exists(r, cb.rollout, cb.node)) {
        reply(r, FU_ROUTE_CB, req, 404, "no node '%s' in this fleet", cb.node);
        return;
    }
    char why[256];
    if (parse_callback(req->body, req->body_len, &cb, why, sizeof(why)) != 0) {
        reply(r, FU_ROUTE_CB, req, 400, "%s", why);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    cb.at_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    r->callbacks[r->ncallbacks % FU_CALLBACKS_KEPT] = cb;
    r->ncallbacks++;
    if (r->ext.status)
        r->ext.status(r->ext.ud, &cb);
    count(r, FU_ROUTE_CB, 204);
    fu_http_respond(req, 204, NULL, NULL, NULL, 0);
}

/* ---- /api/v1 and /metrics (admin token) ---- */

static void send_json(fu_routes_t *r, fu_http_request_t *req, json_t *o)
{
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    size_t n = strlen(text);
    text = realloc(text, n + 2);
    text[n++] = '\n';
    count(r, FU_ROUTE_API, 200);
    fu_http_respond(req, 200, "application/json", NULL, text, n);
    free(text);
}

static json_t *callback_json(const fu_status_post_t *c)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "at_ms", (json_int_t)c->at_ms, "rollout",
                          c->rollout, "node", c->node, "phase", c->phase, "state", c->state);
    if (c->percent >= 0)
        json_object_set_new(o, "percent", json_integer(c->percent));
    if (c->exit_code != -1)
        json_object_set_new(o, "exit_code", json_integer(c->exit_code));
    if (c->message[0])
        json_object_set_new(o, "message", json_string(c->message));
    return o;
}

static void handle_api(fu_routes_t *r, fu_http_request_t *req)
{
    const char *what = req->path + 8;
    if (r->ext.api && r->ext.api(r->ext.ud, req))
        return;
    if (strcmp(req->method, "GET") != 0 && !req->head) {
        reply(r, FU_ROUTE_API, req, 405, "the API is read with GET");
        return;
    }
    if (strcmp(what, "info") == 0) {
        fu_http_stats_t st;
        fu_http_stats(r->server, &st);
        send_json(r, req, json_pack("{s:s, s:s, s:i, s:i, s:s, s:I, s:I, s:I}", "version", FU_VERSION,
                                    "fleet", r->fleet->file, "port", r->port, "ssl_port", r->ssl_port,
                                    "tls_sha256", r->fingerprint ? r->fingerprint : "",
                                    "nodes", (json_int_t)r->fleet->nnodes, "packages",
                                    (json_int_t)r->packages->n, "callbacks", (json_int_t)r->ncallbacks));
    } else if (strcmp(what, "packages") == 0) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->packages->n; i++) {
            const fu_package_t *p = &r->packages->v[i];
            json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:s}", "component", p->name,
                                               "sha256", p->sha256, "size", (json_int_t)p->size,
                                               "url", "/pkg/"));
            json_t *last = json_array_get(a, json_array_size(a) - 1);
            char url[80];
            snprintf(url, sizeof(url), "/pkg/%s", p->sha256);
            json_object_set_new(last, "url", json_string(url));
        }
        send_json(r, req, a);
    } else if (strcmp(what, "callbacks") == 0) {
        json_t *a = json_array();
        uint64_t first = r->ncallbacks > FU_CALLBACKS_KEPT ? r->ncallbacks - FU_CALLBACKS_KEPT : 0;
        for (uint64_t k = first; k < r->ncallbacks; k++)
            json_array_append_new(a, callback_json(&r->callbacks[k % FU_CALLBACKS_KEPT]));
        send_json(r, req, a);
    } else {
        reply(r, FU_ROUTE_API, req, 404, "no such API resource (info, packages, callbacks)");
    }
}

static void handle_metrics(fu_routes_t *r, fu_http_request_t *req)
{
    static const char *const names[] = {"pkg", "cb", "api", "metrics", "other"};
    fu_http_stats_t st;
    fu_http_stats(r->server, &st);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    fprintf(m, "# HELP fleetup_http_connections_open Open HTTP and HTTPS connections.\n"
               "# TYPE fleetup_http_connections_open gauge\n"
               "fleetup_http_connections_open %u\n"
               "# HELP fleetup_http_connections_total Connections accepted.\n"
               "# TYPE fleetup_http_connections_total counter\n"
               "fleetup_http_connections_total %llu\n"
               "# HELP fleetup_http_connections_refused_total Connections closed at once: over the limit.\n"
               "# TYPE fleetup_http_connections_refused_total counter\n"
               "fleetup_http_connections_refused_total %llu\n"
               "# HELP fleetup_http_bytes_sent_total Bytes written to clients, TLS records included.\n"
               "# TYPE fleetup_http_bytes_sent_total counter\n"
               "fleetup_http_bytes_sent_total %llu\n"
               "# HELP fleetup_http_requests_total Requests answered, by route and status.\n"
               "# TYPE fleetup_http_requests_total counter\n",
            st.connections_open, (unsigned long long)st.connections_total,
            (unsigned long long)st.connections_refused, (unsigned long long)st.bytes_sent);
    for (int rt = 0; rt < FU_ROUTE__COUNT; rt++)
        for (int code = 100; code < 600; code++)
            if (r->by_status[rt][code])
                fprintf(m, "fleetup_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                        names[rt], code, (unsigned long long)r->by_status[rt][code]);
    fprintf(m, "# HELP fleetup_http_refused_total Requests the server refused itself (limits, malformed).\n"
               "# TYPE fleetup_http_refused_total counter\n"
               "fleetup_http_refused_total %llu\n"
               "# HELP fleetup_callbacks_total Node status callbacks accepted.\n"
               "# TYPE fleetup_callbacks_total counter\n"
               "fleetup_callbacks_total %llu\n"
               "# HELP fleetup_packages Packages served.\n"
               "# TYPE fleetup_packages gauge\n"
               "fleetup_packages %zu\n",
            (unsigned long long)st.limit_errors, (unsigned long long)r->ncallbacks, r->packages->n);
    if (r->ext.metrics)
        r->ext.metrics(r->ext.ud, m);
    fclose(m);
    count(r, FU_ROUTE_METRICS, 200);
    fu_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, buf, len);
    free(buf);
}

/* ---- the dashboard: static files, no token (the API they call needs one) ---- */

/* Nothing on the page may load from elsewhere, nor be framed. */
#define DASHBOARD_HEADERS                                                                         \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "          \
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "             \
    "frame-ancestors 'none'\r\n"                                                                  \
    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"                         \
    "X-Frame-Options: DENY\r\nCache-Control: no-cache\r\n"

static bool serve_dashboard(fu_routes_t *r, fu_http_request_t *req)
{
    const fu_asset_t *a = fu_dashboard_asset(req->path);
    if (a == NULL || (strcmp(req->method, "GET") != 0 && !req->head))
        return false;
    if (!req->tls && !r->api_on_http) {
        reply(r, FU_ROUTE_OTHER, req, 404, "the dashboard is on the HTTPS port (%u)", r->ssl_port);
        return true;
    }
    char extra[1024];
    snprintf(extra, sizeof(extra), DASHBOARD_HEADERS "ETag: %s\r\n", a->etag);
    const char *inm = fu_http_header(req, "If-None-Match");
    if (inm && strstr(inm, a->etag)) {
        count(r, FU_ROUTE_OTHER, 304);
        fu_http_respond(req, 304, NULL, extra, NULL, 0);
        return true;
    }
    count(r, FU_ROUTE_OTHER, 200);
    fu_http_respond(req, 200, a->content_type, extra, (const char *)a->data, a->len);
    return true;
}

void fu_routes_handle(void *ud, fu_http_request_t *req)
{
    fu_routes_t *r = ud;
    fu_route_t rt = route_of(req->path);
    if (rt == FU_ROUTE_PKG) {
        serve_package(r, req);
    } else if (rt == FU_ROUTE_CB) {
        handle_callback(r, req);
    } else if (rt == FU_ROUTE_API || rt == FU_ROUTE_METRICS) {
        char tok[128];
        if (!req->tls && !r->api_on_http) {
            reply(r, rt, req, 404, "the API and metrics are on the HTTPS port (%u)", r->ssl_port);
        } else if (!token_of(req, tok, sizeof(tok))) {
            reply(r, rt, req, 401, "the admin token (STATE_DIR/admin.token) is needed: "
                                   "Authorization: Bearer TOKEN");
        } else if (!fu_admin_check(r->secrets, tok)) {
            reply(r, rt, req, 403, "this is not the admin token");
        } else if (rt == FU_ROUTE_API) {
            handle_api(r, req);
        } else {
            handle_metrics(r, req);
        }
    } else if (serve_dashboard(r, req)) {
        return;
    } else if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
               strcmp(req->method, "POST") != 0) {
        reply(r, rt, req, 405, "method %s is not served here", req->method);
    } else {
        reply(r, rt, req, 404, "no such route (/, /pkg/SHA256, /cb/ROLLOUT/NODE, /api/v1/..., /metrics)");
    }
}
