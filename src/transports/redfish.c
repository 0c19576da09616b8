/* The Redfish driver (redfish.h). Each node runs one request at a time on its own
 * keep-alive connection (http_client.c); a phase is a chain of requests, each answered
 * in a continuation `k` stored with the node. A token per node, bumped by every start,
 * cancel and close, makes late answers harmless. Results reach the scheduler only from
 * libuv callbacks, never from inside a vtable call. */
#include "transports/redfish.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transports/http_client.h"
#include "transports/redfish_map.h"
#include "transports/creds.h"

#define RF_MAX_MEMBERS 512
#define RF_RETRY_MS 2000      /* between tries while a BMC resets */
#define RF_CLOSE_TIMEOUT_MS 5000
#define RF_MAX_RESPONSE (2u << 20)

typedef struct rf_s rf_t;
typedef struct rf_node_s rf_node_t;
typedef void (*rf_k)(rf_node_t *n, const fu_hc_response_t *res, json_t *j);
typedef void (*rf_step)(rf_node_t *n);

struct rf_node_s {
    rf_t *rf;
    uint32_t idx;
    uint32_t token;
    fu_hc_t *hc;
    uv_timer_t timer;
    fu_phase_t phase;
    bool running, closing, wait_armed;
    /* session */
    char *auth;        /* "X-Auth-Token: T\r\n" or "Authorization: Basic B\r\n" */
    bool session;      /* auth is a session (may vanish when the BMC resets) */
    char *session_uri; /* to DELETE at close */
    char *update_service, *sessions, *systems;
    /* discovery */
    char *simple_update, *multipart_push, *http_push, *fw_inv, *sw_inv;
    unsigned protocols; /* bit 0 HTTP, bit 1 HTTPS */
    bool hpe;
    /* the request in flight */
    rf_k k;
    uint32_t req_token;
    char *body;
    size_t body_len;
    fu_hc_iov_t iov[3];
    char *push_head;
    /* inventory */
    json_t *members;     /* member resources read so far */
    json_t *to_read;     /* member URIs still to read */
    size_t next_member;
    bool sw_done;
    /* install */
    uint32_t comps[FU_MAX_COMPONENTS], ncomps, ci;
    char *task_uri;
    uint32_t polls;
    bool seen_running;
    int last_percent;
    /* a BMC that went away: retry until this deadline (uv_now ms), 0 when not waiting */
    uint64_t away_until;
    uint32_t relogins;
    rf_step resume;      /* while waiting for a BMC that went away: the step to retry */
    bool resume_strict;  /* retry only requests that never reached the BMC */
    rf_step after_login; /* the step the login chain ends in */
    const char *defer_err; /* a failure found while starting, reported from the loop */
    rf_step deferred;      /* a phase's first step, run from the loop (never inline) */
    bool answered;         /* some answer came in this phase */
    uint64_t posted_at;    /* when the running component's update was accepted */
    int pct;               /* the task's percentage at the last look (-1: none yet) */
    int pct0;              /* what it first moved to (-1: not yet), and when: the rate */
    uint64_t pct0_at;      /* since then says */
    uint64_t due_at;       /* when the task ends (0: not known) */
    char local[64];        /* our address as this BMC sees it (last connection) */
    char *next_page;       /* Members@odata.nextLink of the collection being read */
};

struct rf_s {
    fu_transport_t base;
    fu_redfish_opts_t o;
    rf_node_t **nodes;
    size_t nnodes;
    uint32_t open;
    SSL_CTX *ctx_default;
    SSL_CTX *ctx_nochain; /* pinned or tls_insecure BMCs: no chain is built (made on first use) */
    struct {
        char *path;
        SSL_CTX *ctx;
    } cas[16];
    uint32_t ncas;
    fu_creds_t creds;
    void (*shutdown_done)(void *);
    void *shutdown_ud;
    bool shutting_down;
    char err[512];
};

/* ---- small helpers ---- */

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = dupstr(s);
}

static const fu_node_t *fnode(const rf_node_t *n)
{
    return &n->rf->base.fleet->nodes[n->idx];
}

/* A Location or @odata.id to a path on this BMC: "https://host:port/x" -> "/x". */
static const char *path_of(const char *uri)
{
    if (uri == NULL)
        return NULL;
    const char *p = strstr(uri, "://");
    if (p == NULL)
        return uri;
    p = strchr(p + 3, '/');
    return p ? p : "/";
}

static const char *jodata(json_t *o, const char *key)
{
    json_t *v = json_object_get(json_object_get(o, key), "@odata.id");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool transient(fu_hc_err_t kind)
{
    return kind == FU_HC_ERR_CONNECT || kind == FU_HC_ERR_CLOSED || kind == FU_HC_ERR_TIMEOUT;
}

/* ---- phase results ---- */

static void phase_end(rf_node_t *n, const char *err, bool unreachable, const fu_inventory_t *inv)
{
    rf_t *rf = n->rf;
    if (!n->running)
        return;
    n->running = false;
    n->away_until = 0;
    n->token++;
    fu_phase_result_t res = {.inventory = inv, .unreachable = unreachable, .exit_code = err ? -1 : 0};
    rf->base.phase_cb(rf->base.ud, n->idx, n->phase, err, &res);
}

static void fail(rf_node_t *n, bool unreachable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* BMCs quote the ImageURI back in their messages; its ?t= is this node's download
 * token, which must not reach the journal or a report. */
static void fail(rf_node_t *n, bool unreachable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->rf->err, sizeof(n->rf->err), fmt, ap);
    va_end(ap);
    fu_redact_tokens(n->rf->err);
    phase_end(n, n->rf->err, unreachable, NULL);
}

/* An HTTP answer that is not what the step wanted: the status, and what the BMC said. */
static void fail_http(rf_node_t *n, const char *what, const fu_hc_response_t *res)
{
    char info[320];
    if (res->status >= 200 && res->status < 300) {
        fail(n, false, "%s: HTTP %d but not the Redfish resource expected (%zu bytes%s)", what,
             res->status, res->body_len, res->body_len ? " that are no usable JSON" : "");
        return;
    }
    fu_rf_error_text(res->body, res->body_len, info, sizeof(info));
    const char *kind = res->status == 401 || res->status == 403 ? "auth: " : "";
    fail(n, false, "%s%s: HTTP %d%s%s", kind, what, res->status, info[0] ? ": " : "", info);
}

/* ---- requests ---- */

static void on_response(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res);
static void wait_and_retry(rf_node_t *n, const char *why);

static void send_req(rf_node_t *n, const char *method, const char *path, const char *headers,
                     const fu_hc_iov_t *body, uint32_t nbody, rf_k k)
{
    char hdr[2048];
    snprintf(hdr, sizeof(hdr), "Accept: application/json\r\nOData-Version: 4.0\r\n%s%s",
             n->auth ? n->auth : "", headers ? headers : "");
    n->k = k;
    n->req_token = n->token;
    fu_hc_req_t req = {.method = method,
                       .path = path,
                       .headers = hdr,
                       .body = body,
                       .nbody = nbody,
                       .cb = on_response,
                       .ud = n};
    int rc = fu_hc_request(n->hc, &req);
    OPENSSL_cleanse(hdr, sizeof(hdr)); /* the session token or Basic credentials */
    if (rc != 0)
        fail(n, false, "internal: the connection to %s is closing", fnode(n)->name);
}

static void send_json(rf_node_t *n, const char *method, const char *path, json_t *body, rf_k k)
{
    if (n->body) {
        OPENSSL_cleanse(n->body, n->body_len);
        free(n->body);
    }
    n->body = json_dumps(body, JSON_COMPACT);
    n->body_len = n->body ? strlen(n->body) : 0;
    json_decref(body);
    n->iov[0] = (fu_hc_iov_t){n->body, n->body_len};
    send_req(n, method, path, "Content-Type: application/json\r\n", n->iov, 1, k);
}

static void on_response(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res)
{
    rf_node_t *n = ud;
    if (kind == FU_HC_ERR_CANCELLED || n->req_token != n->token || !n->running)
        return;
    if (n->body) { /* a login body holds the password: not kept past its request */
        OPENSSL_cleanse(n->body, n->body_len);
        free(n->body);
        n->body = NULL;
    }
    free(n->push_head);
    n->push_head = NULL;
    if (kind != FU_HC_OK) {
        /* A BMC that resets after a flash goes away for a while: while waiting for it,
         * such errors mean "not back yet". */
        if (n->resume && (kind == FU_HC_ERR_CONNECT || (!n->resume_strict && transient(kind)))) {
            wait_and_retry(n, err);
            return;
        }
        /* Connect: a BMC that refuses, or never answers at all, is unreachable (its own
         * budget), not failed. */
        bool unreachable = n->phase == FU_PHASE_CONNECT && !n->answered &&
                           (kind == FU_HC_ERR_CONNECT || kind == FU_HC_ERR_TIMEOUT);
        fail(n, unreachable, "%s", err);
        return;
    }
    n->answered = true;
    fu_hc_local_address(n->hc, n->local, sizeof(n->local));
    if (n->resume && res->status == 503) {
        wait_and_retry(n, "HTTP 503");
        return;
    }
    n->away_until = 0; /* it is back: a later absence gets its own time */
    json_t *j = NULL;
    if (res->body_len > 0)
        j = json_loadb(res->body, res->body_len, 0, NULL);
    n->k(n, res, j);
    json_decref(j);
}

/* ---- waiting for a BMC that went away (reset after a flash) ---- */

static void on_timer(uv_timer_t *h);
static void login(rf_node_t *n, rf_step then);

static uint64_t now_ms(const rf_node_t *n)
{
    return uv_now(n->rf->o.loop);
}

static void wait_and_retry(rf_node_t *n, const char *why)
{
    uint64_t now = now_ms(n);
    if (n->away_until == 0)
        n->away_until = now + n->rf->o.reset_wait_ms;
    if (now >= n->away_until) {
        fail(n, false, "the BMC did not come back within %llu s (it went away during %s): %s",
             (unsigned long long)(n->rf->o.reset_wait_ms / 1000), fu_phase_name(n->phase), why);
        return;
    }
    n->wait_armed = true;
    n->req_token = n->token;
    uv_timer_start(&n->timer, on_timer, RF_RETRY_MS, 0);
}

/* 401 on a step that can be retried: the session died (a BMC reset drops them all). */
static bool relogin(rf_node_t *n, const fu_hc_response_t *res)
{
    if (res->status != 401 || (n->auth && !n->session) || n->resume == NULL || n->relogins >= 3)
        return false;
    n->relogins++;
    set_str(&n->session_uri, NULL); /* dead already: nothing to delete */
    login(n, n->resume);
    return true;
}

/* ---- session: service root, login, update service ---- */


static void k_root(rf_node_t *n, const fu_hc_response_t *res, json_t *j);
static void k_session(rf_node_t *n, const fu_hc_response_t *res, json_t *j);
static void k_update_service(rf_node_t *n, const fu_hc_response_t *res, json_t *j);
static void k_action_info(rf_node_t *n, const fu_hc_response_t *res, json_t *j);

/* Service root (no authentication needed; says where everything is), a session, the
 * update service once, then `then`. */
static void k_ignore(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res)
{
    (void)ud, (void)kind, (void)err, (void)res; /* best effort: an undeleted session times out */
}

/* DELETE of the node's session, bounded in time; cb gets the answer. 0 when queued. */
static int delete_session(rf_node_t *n, fu_hc_cb cb)
{
    char hdr[1200];
    snprintf(hdr, sizeof(hdr), "%s", n->auth);
    fu_hc_req_t req = {.method = "DELETE",
                       .path = n->session_uri,
                       .headers = hdr,
                       .total_timeout_ms = RF_CLOSE_TIMEOUT_MS,
                       .cb = cb,
                       .ud = n};
    int rc = fu_hc_request(n->hc, &req); /* copies the headers */
    OPENSSL_cleanse(hdr, sizeof(hdr));
    return rc;
}

/* BMCs have few session slots: a session that may still live is deleted before another. */
static void drop_session(rf_node_t *n)
{
    if (n->session && n->session_uri && n->auth)
        delete_session(n, k_ignore);
    set_str(&n->session_uri, NULL);
    if (n->auth)
        OPENSSL_cleanse(n->auth, strlen(n->auth));
    set_str(&n->auth, NULL);
    n->session = false;
}

static void login(rf_node_t *n, rf_step then)
{
    n->after_login = then;
    n->resume_strict = false; /* the login's GETs may be retried; the update POST not */
    drop_session(n);
    send_req(n, "GET", "/redfish/v1/", NULL, NULL, 0, k_root);
}

static void k_root(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    if (res->status != 200 || !json_is_object(j)) {
        if (res->status == 200)
            fail(n, false, "GET /redfish/v1/: the service root is not a JSON object: is this a "
                           "Redfish service?");
        else
            fail_http(n, "GET /redfish/v1/ (service root)", res);
        return;
    }
    const char *us = jodata(j, "UpdateService"), *sys = jodata(j, "Systems");
    const char *sess = jodata(json_object_get(j, "Links"), "Sessions");
    if (us == NULL) {
        fail(n, false, "the service root has no UpdateService: this BMC cannot be updated "
                       "through Redfish");
        return;
    }
    set_str(&n->update_service, path_of(us));
    set_str(&n->systems, path_of(sys));
    set_str(&n->sessions, sess ? path_of(sess) : "/redfish/v1/SessionService/Sessions");
    const fu_node_t *fn = fnode(n);
    const char *perr = NULL;
    const char *pw = fu_cred_password(&n->rf->creds, fn, &perr);
    if (fn->user == NULL) {
        fail(n, false, "auth: no user for the Redfish login: set 'user' (ansible_user) for %s",
             fn->name);
        return;
    }
    if (pw == NULL) {
        fail(n, false, "auth: %s (node %s)", perr, fn->name);
        return;
    }
    send_json(n, "POST", n->sessions, json_pack("{ssss}", "UserName", fn->user, "Password", pw),
              k_session);
}

static void basic_auth(rf_node_t *n)
{
    const char *perr = NULL;
    const char *pw = fu_cred_password(&n->rf->creds, fnode(n), &perr);
    char plain[768], b64[1100];
    int len = snprintf(plain, sizeof(plain), "%s:%s", fnode(n)->user, pw ? pw : "");
    if (len < 0 || (size_t)len >= sizeof(plain))
        len = 0;
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain, len);
    OPENSSL_cleanse(plain, sizeof(plain));
    char hdr[1200];
    snprintf(hdr, sizeof(hdr), "Authorization: Basic %s\r\n", b64);
    OPENSSL_cleanse(b64, sizeof(b64));
    set_str(&n->auth, hdr);
    OPENSSL_cleanse(hdr, sizeof(hdr));
    n->session = false;
}

static void after_session(rf_node_t *n)
{
    if (n->simple_update || n->multipart_push || n->http_push) {
        n->after_login(n); /* discovered before (a re-login) */
        return;
    }
    send_req(n, "GET", n->update_service, NULL, NULL, 0, k_update_service);
}

static void k_session(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    if (res->status == 401 || res->status == 403) {
        fail_http(n, "login", res);
        return;
    }
    const char *tok = fu_hc_header(res, "x-auth-token");
    if (res->status >= 200 && res->status < 300 && tok && *tok) {
        if (strlen(tok) >= 1024 || strpbrk(tok, "\r\n") != NULL) {
            fail(n, false, "auth: the BMC's session token is over 1 KiB or holds a line break");
            return;
        }
        char hdr[1100];
        snprintf(hdr, sizeof(hdr), "X-Auth-Token: %s\r\n", tok);
        set_str(&n->auth, hdr);
        OPENSSL_cleanse(hdr, sizeof(hdr));
        n->session = true;
        const char *loc = fu_hc_header(res, "location");
        if (loc == NULL) /* some BMCs say where the session is only in its body */
            loc = json_string_value(json_object_get(j, "@odata.id"));
        set_str(&n->session_uri, loc ? path_of(loc) : NULL);
    } else if (res->status == 404 || res->status == 405 || res->status == 501 ||
               (res->status >= 200 && res->status < 300)) {
        basic_auth(n); /* no session service: Basic on every request */
    } else {
        fail_http(n, "login", res);
        return;
    }
    after_session(n);
}

static void k_update_service(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    fu_rf_update_service_t us;
    if (res->status != 200 || fu_rf_update_service_read(j, &us) != 0) {
        fail_http(n, "GET UpdateService", res);
        return;
    }
    set_str(&n->simple_update, path_of(us.simple_update));
    set_str(&n->multipart_push, path_of(us.multipart_push));
    set_str(&n->http_push, path_of(us.http_push));
    set_str(&n->fw_inv, path_of(us.firmware_inventory));
    set_str(&n->sw_inv, path_of(us.software_inventory));
    n->hpe = us.hpe;
    n->protocols = 3;
    if (!n->simple_update && !n->multipart_push && !n->http_push) {
        fail(n, false, "the UpdateService offers neither SimpleUpdate nor an HTTP push URI");
        return;
    }
    if (us.action_info) {
        send_req(n, "GET", path_of(us.action_info), NULL, NULL, 0, k_action_info);
        return;
    }
    n->after_login(n);
}

static void k_action_info(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    if (res->status == 200 && j)
        n->protocols = fu_rf_action_info_protocols(j);
    n->after_login(n); /* an unreadable ActionInfo only means: no restriction known */
}

/* ---- connect ---- */

static SSL_CTX *ctx_for(rf_t *rf, const char *ca_file, const char **err)
{
    if (ca_file == NULL)
        return rf->ctx_default;
    for (uint32_t i = 0; i < rf->ncas; i++)
        if (strcmp(rf->cas[i].path, ca_file) == 0)
            return rf->cas[i].ctx;
    if (rf->ncas == 16) {
        *err = "more than 16 different tls_ca_file values in one rollout";
        return NULL;
    }
    char e[256];
    SSL_CTX *ctx = fu_hc_ssl_ctx(ca_file, e, sizeof(e));
    if (ctx == NULL) {
        snprintf(rf->err, sizeof(rf->err), "tls_ca_file: %s", e);
        *err = rf->err;
        return NULL;
    }
    rf->cas[rf->ncas].path = strdup(ca_file);
    rf->cas[rf->ncas++].ctx = ctx;
    return ctx;
}

/* A BMC whose certificate is pinned (checked after the handshake, http_client.c) or not
 * checked at all gains nothing from chain building, and OpenSSL 3 builds one even under
 * SSL_VERIFY_NONE: it looks a self-signed certificate's issuer up in the system store,
 * reading the whole CA directory on every handshake (a rollout of 7,000 BMCs spent a
 * fifth of its connect phase there). The handshake itself still proves the BMC holds the
 * certificate's key. */
static int accept_chain(X509_STORE_CTX *x, void *arg)
{
    (void)x, (void)arg;
    return 1;
}

static SSL_CTX *ctx_nochain(rf_t *rf, const char **err)
{
    if (rf->ctx_nochain)
        return rf->ctx_nochain;
    char e[256];
    SSL_CTX *ctx = fu_hc_ssl_ctx(NULL, e, sizeof(e));
    X509_STORE *empty = X509_STORE_new();
    if (ctx == NULL || empty == NULL) {
        SSL_CTX_free(ctx);
        X509_STORE_free(empty);
        snprintf(rf->err, sizeof(rf->err), "TLS client context: %s", ctx ? "out of memory" : e);
        *err = rf->err;
        return NULL;
    }
    SSL_CTX_set_cert_store(ctx, empty); /* frees the one with the default paths */
    SSL_CTX_set_cert_verify_callback(ctx, accept_chain, NULL);
    rf->ctx_nochain = ctx;
    return ctx;
}

static void connected(rf_node_t *n)
{
    phase_end(n, NULL, false, NULL);
}

static void on_timer_close(uv_handle_t *h);

static rf_node_t *node_get(rf_t *rf, uint32_t idx, const char **err)
{
    if (rf->nodes[idx])
        return rf->nodes[idx];
    const fu_node_t *fn = &rf->base.fleet->nodes[idx];
    fu_hc_opts_t o = {.host = fn->mgmt_address ? fn->mgmt_address : fn->address,
                      .port = fn->port ? fn->port : (fn->plain_http ? 80 : 443),
                      .tls = !fn->plain_http,
                      .request_timeout_ms = rf->o.request_timeout_ms,
                      .max_response = RF_MAX_RESPONSE};
    if (o.tls) {
        if (fn->tls_fingerprint) {
            o.verify = FU_HC_VERIFY_PIN;
            if (fu_hc_parse_pin(fn->tls_fingerprint, o.pin) != 0) {
                *err = "tls_fingerprint is not a SHA-256 fingerprint";
                return NULL;
            }
        } else {
            o.verify = fn->tls_insecure ? FU_HC_VERIFY_NONE : FU_HC_VERIFY_CA;
        }
        o.ssl_ctx = o.verify == FU_HC_VERIFY_CA ? ctx_for(rf, fn->tls_ca_file, err)
                                                : ctx_nochain(rf, err);
        if (o.ssl_ctx == NULL)
            return NULL;
    }
    rf_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL || (n->hc = fu_hc_new(rf->o.loop, &o)) == NULL) {
        free(n);
        *err = "out of memory";
        return NULL;
    }
    n->rf = rf;
    n->idx = idx;
    uv_timer_init(rf->o.loop, &n->timer);
    n->timer.data = n;
    rf->nodes[idx] = n;
    rf->open++;
    return n;
}

/* Starts a phase on a node: fresh token, nothing pending. */
static rf_node_t *begin(rf_t *rf, uint32_t idx, fu_phase_t ph)
{
    const char *err = NULL;
    rf_node_t *n = node_get(rf, idx, &err);
    if (n == NULL) { /* out of memory only (settings were checked at start): the phase
                      * times out, as a node that never answers would */
        snprintf(rf->err, sizeof(rf->err), "%s", err);
        return NULL;
    }
    n->token++;
    n->phase = ph;
    n->running = true;
    n->answered = false;
    n->away_until = 0;
    n->resume = NULL;
    n->resume_strict = false;
    n->relogins = 0;
    uv_timer_stop(&n->timer);
    return n;
}

static void k_deferred_fail(uv_timer_t *h)
{
    rf_node_t *n = h->data;
    fail(n, false, "%s", n->defer_err);
}

/* A phase that finds at its start that it cannot run fails from the loop, not inline. */
static void defer_fail(rf_node_t *n, const char *msg)
{
    n->defer_err = msg;
    uv_timer_start(&n->timer, k_deferred_fail, 0, 0);
}

static void k_deferred_start(uv_timer_t *h)
{
    rf_node_t *n = h->data;
    if (!n->running)
        return;
    if (n->auth == NULL) /* a retried phase after the session was lost */
        login(n, n->deferred);
    else
        n->deferred(n);
}

/* A phase's first step runs from the loop with a session (logging in first when there
 * is none): a result never comes from inside the vtable call that started the phase. */
static void start_step(rf_node_t *n, rf_step step)
{
    n->deferred = step;
    uv_timer_start(&n->timer, k_deferred_start, 0, 0);
}

static int rf_connect(fu_transport_t *t, uint32_t idx)
{
    rf_t *rf = (rf_t *)t;
    rf_node_t *n = begin(rf, idx, FU_PHASE_CONNECT);
    if (n == NULL)
        return -1;
    login(n, connected);
    return 0;
}

/* ---- inventory and verify ---- */

static void read_next_member(rf_node_t *n);

/* The members read so far, mapped to the baseline: versions[i] points into n->members
 * (NULL when no member is component i). */
static void map_members(rf_node_t *n, const char **versions)
{
    const fu_fleet_t *f = n->rf->base.fleet;
    size_t nm = json_array_size(n->members), k = 0;
    fu_rf_member_t *m = calloc(nm + 1, sizeof(*m));
    for (size_t i = 0; m && i < nm; i++)
        if (fu_rf_member_read(json_array_get(n->members, i), &m[k]) == 0)
            k++;
    fu_inventory_t inv = {versions, (uint32_t)f->baseline.ncomponents};
    fu_rf_inventory(f, fnode(n), m, k, &inv); /* m NULL (no memory): k is 0 */
    free(m);
}

static void inventory_done(rf_node_t *n)
{
    const char *versions[FU_MAX_COMPONENTS] = {0};
    map_members(n, versions);
    fu_inventory_t inv = {versions, (uint32_t)n->rf->base.fleet->baseline.ncomponents};
    json_t *keep = n->members; /* the versions point into it until the result is taken */
    n->members = NULL;
    phase_end(n, NULL, false, &inv);
    json_decref(keep);
}

/* Whether the members read so far give a version to every component that applies to
 * this node (fu_rf_inventory: the first member that is a component wins, so members read
 * later would change nothing). */
static bool all_found(rf_node_t *n)
{
    const fu_fleet_t *f = n->rf->base.fleet;
    const char *versions[FU_MAX_COMPONENTS] = {0};
    map_members(n, versions);
    for (uint32_t i = 0; i < f->baseline.ncomponents; i++)
        if (versions[i] == NULL && fu_component_applies(f, &f->baseline.components[i], fnode(n)))
            return false;
    return true;
}

static void k_member(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    if (relogin(n, res))
        return;
    if (res->status != 200 || !json_is_object(j)) {
        char what[300];
        snprintf(what, sizeof(what), "GET %s",
                 json_string_value(json_array_get(n->to_read, n->next_member - 1)));
        fail_http(n, what, res);
        return;
    }
    json_array_append(n->members, j);
    read_next_member(n);
}

static void k_collection(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    if (relogin(n, res))
        return;
    if (res->status != 200 || !json_is_array(json_object_get(j, "Members"))) {
        fail_http(n, n->sw_done ? "GET SoftwareInventory" : "GET FirmwareInventory", res);
        return;
    }
    json_t *ms = json_object_get(j, "Members");
    size_t i;
    json_t *m;
    json_array_foreach(ms, i, m)
    {
        if (json_array_size(n->to_read) >= RF_MAX_MEMBERS)
            break;
        json_t *inline_version = json_object_get(m, "Version");
        if (json_is_string(inline_version)) /* $expand-ed, or a BMC that inlines members */
            json_array_append(n->members, m);
        else if (json_is_string(json_object_get(m, "@odata.id")))
            json_array_append(n->to_read, json_object_get(m, "@odata.id"));
    }
    /* Large collections come in pages. */
    json_t *next = json_object_get(j, "Members@odata.nextLink");
    set_str(&n->next_page, json_array_size(n->to_read) < RF_MAX_MEMBERS && json_is_string(next)
                               ? path_of(json_string_value(next))
                               : NULL);
    read_next_member(n);
}

static void read_next_member(rf_node_t *n)
{
    if (n->next_member < json_array_size(n->to_read)) {
        const char *uri = json_string_value(json_array_get(n->to_read, n->next_member++));
        send_req(n, "GET", path_of(uri), NULL, NULL, 0, k_member);
        return;
    }
    if (n->next_page) {
        char *page = n->next_page;
        n->next_page = NULL;
        send_req(n, "GET", page, NULL, NULL, 0, k_collection);
        free(page);
        return;
    }
    /* Firmware first; software too when the BMC has it (drivers, agents on iLO), unless
     * firmware already gave every component a version: later members never win. */
    if (!n->sw_done && n->sw_inv && !all_found(n)) {
        n->sw_done = true;
        send_req(n, "GET", n->sw_inv, NULL, NULL, 0, k_collection);
        return;
    }
    inventory_done(n);
}

static void inventory_start(rf_node_t *n)
{
    json_decref(n->members);
    json_decref(n->to_read);
    n->members = json_array();
    n->to_read = json_array();
    n->next_member = 0;
    set_str(&n->next_page, NULL);
    n->sw_done = n->fw_inv == NULL;
    send_req(n, "GET", n->fw_inv ? n->fw_inv : n->sw_inv, NULL, NULL, 0, k_collection);
}

static int rf_inventory(fu_transport_t *t, uint32_t idx, fu_phase_t ph)
{
    rf_t *rf = (rf_t *)t;
    rf_node_t *n = begin(rf, idx, ph);
    if (n == NULL)
        return -1;
    if (!n->fw_inv && !n->sw_inv) {
        defer_fail(n, "the UpdateService lists no FirmwareInventory or SoftwareInventory");
        return 0;
    }
    /* After a flash the BMC may reset: its sessions die and it refuses for a while;
     * verify waits for it (resume), up to reset_wait. */
    n->resume = inventory_start; /* verify above all: a BMC may reset after its flash */
    start_step(n, inventory_start);
    return 0;
}

/* ---- stage: nothing to copy ahead (the BMC pulls, or the push carries the image) ---- */

static void k_staged(uv_timer_t *h)
{
    phase_end(h->data, NULL, false, NULL);
}

static int rf_stage(fu_transport_t *t, uint32_t idx, const fu_plan_t *plan)
{
    (void)plan;
    rf_node_t *n = begin((rf_t *)t, idx, FU_PHASE_STAGE);
    if (n == NULL)
        return -1;
    uv_timer_start(&n->timer, k_staged, 0, 0);
    return 0;
}

/* ---- install ---- */

static void install_next(rf_node_t *n);
static void poll_task(rf_node_t *n);

static void progress(rf_node_t *n, int percent, const char *msg)
{
    rf_t *rf = n->rf;
    if (percent == n->last_percent || rf->base.progress_cb == NULL)
        return;
    n->last_percent = percent;
    rf->base.progress_cb(rf->base.ud, n->idx, n->phase, percent, msg);
}

/* The next look at the task after ms; a BMC that goes away meanwhile is waited for. */
static void arm_poll(rf_node_t *n, uint64_t ms)
{
    n->resume = poll_task;
    n->resume_strict = false;
    n->wait_armed = false;
    uv_timer_start(&n->timer, on_timer, ms, 0);
}

/* When to look at a running task again. Every poll_ms while nothing says more; once the
 * task's percentage moves, its rate since it first moved says when the task ends, and
 * the looks close in on that end by halves (at most 10 poll_ms apart, at least
 * poll_ms / 5), then go on every poll_ms / 5 for one poll_ms past it, then every poll_ms
 * as before. A 20 s flash is followed with about 12 requests instead of 40, and its end
 * is seen within about 100 ms instead of up to 500. */
static uint64_t next_poll(rf_node_t *n, int percent)
{
    uint64_t poll = n->rf->o.poll_ms, now = uv_now(n->rf->o.loop);
    if (percent < 0 || percent >= 100)
        return poll;
    if (n->pct < 0 || percent < n->pct) { /* the first look, or the task started over */
        n->pct = percent;
        n->pct0 = -1;
        n->due_at = 0;
        return poll;
    }
    if (percent > n->pct) {
        if (n->pct0 < 0) { /* it moves: the rate is measured from here */
            n->pct0 = percent;
            n->pct0_at = now;
        } else if (now > n->pct0_at) {
            n->due_at = now + (now - n->pct0_at) * (uint64_t)(100 - percent) /
                                  (uint64_t)(percent - n->pct0);
        }
        n->pct = percent;
    }
    if (n->due_at == 0)
        return poll;
    if (now >= n->due_at) /* overdue: briskly for a while, then as before */
        return now < n->due_at + poll ? poll / 5 : poll;
    uint64_t next = (n->due_at - now) / 2;
    return next > 10 * poll ? 10 * poll : next < poll / 5 ? poll / 5 : next;
}

static void k_task(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    if (relogin(n, res))
        return;
    const fu_component_t *c = &n->rf->base.fleet->baseline.components[n->comps[n->ci]];
    fu_rf_task_t task;
    int got;
    if (n->task_uri) {
        if (res->status == 404 && n->polls > 0) {
            /* Some BMCs drop a finished task's monitor (or lose it in a reset): verify
             * says whether the flash took. */
            n->ci++;
            install_next(n);
            return;
        }
        if (res->status != 200 && res->status != 202) {
            fail_http(n, "task monitor", res);
            return;
        }
        got = fu_rf_task_read(j, &task);
        if (got != 0 && res->status == 202) { /* DSP0266: 202 while running, body optional */
            task = (fu_rf_task_t){.state = FU_RF_TASK_RUNNING, .percent = -1};
        } else if (got != 0) { /* the monitor answers the operation's own response: it ended */
            n->ci++;
            install_next(n);
            return;
        }
    } else {
        fu_rf_update_service_t us;
        if (res->status != 200 || fu_rf_update_service_read(j, &us) != 0 ||
            fu_rf_hpe_task_read(&us, &task) != 0) {
            fail_http(n, "GET UpdateService (iLO update state)", res);
            return;
        }
        /* iLO keeps the last update's Complete until a new one starts, and says Idle
         * again after it resets at the end of a flash: an end (or Idle) counts once this
         * update was seen running, or after a few polls. */
        bool idle = us.hpe_state && strcasecmp(us.hpe_state, "Idle") == 0;
        if (task.state == FU_RF_TASK_RUNNING && !idle) {
            n->seen_running = true;
        } else if (!n->seen_running &&
                   uv_now(n->rf->o.loop) - n->posted_at < (idle ? 30000u : 10000u)) {
            n->polls++;
            arm_poll(n, n->rf->o.poll_ms);
            return;
        } else if (idle) {
            task.state = FU_RF_TASK_DONE; /* back to Idle: verify says whether it took */
        }
    }
    n->polls++;
    if (task.percent >= 0)
        progress(n, task.percent, c->name);
    switch (task.state) {
    case FU_RF_TASK_DONE:
        n->ci++;
        install_next(n);
        return;
    case FU_RF_TASK_FAILED:
        fail(n, false, "%s: update task failed: %s", c->name,
             task.message[0] ? task.message : "no message");
        return;
    case FU_RF_TASK_RUNNING:
        break;
    }
    uint64_t wait = next_poll(n, task.percent);
    if (res->retry_after_ms > n->rf->o.poll_ms && res->retry_after_ms <= 10000)
        wait = res->retry_after_ms; /* the BMC says when to ask again */
    arm_poll(n, wait);
}

static void poll_task(rf_node_t *n)
{
    n->resume = poll_task;
    send_req(n, "GET", n->task_uri ? n->task_uri : n->update_service, NULL, NULL, 0, k_task);
}

static void k_update_started(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    (void)j;
    const fu_component_t *c = &n->rf->base.fleet->baseline.components[n->comps[n->ci]];
    if (relogin(n, res))
        return;
    if (res->status < 200 || res->status >= 300) {
        char what[160];
        snprintf(what, sizeof(what), "%s: %s", c->name,
                 n->iov[1].base ? "push of the image" : "SimpleUpdate");
        fail_http(n, what, res);
        return;
    }
    const char *loc = fu_hc_header(res, "location");
    if (loc == NULL && json_is_string(json_object_get(j, "@odata.id")) &&
        json_object_get(j, "TaskState"))
        loc = json_string_value(json_object_get(j, "@odata.id")); /* a Task body */
    set_str(&n->task_uri, loc ? path_of(loc) : NULL);
    n->iov[1].base = NULL;
    n->polls = 0;
    n->seen_running = false;
    n->posted_at = uv_now(n->rf->o.loop);
    n->pct = -1;
    n->due_at = 0;
    if (n->task_uri == NULL && !n->hpe) {
        /* Accepted with nothing to follow: verify will tell whether it took. */
        n->ci++;
        install_next(n);
        return;
    }
    arm_poll(n, n->rf->o.poll_ms);
}

static json_t *targets_of(const fu_component_t *c)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < c->ntargets; i++)
        json_array_append_new(a, json_string(c->targets[i]));
    return a;
}

static void push(rf_node_t *n, const fu_component_t *c, uint32_t ci)
{
    rf_t *rf = n->rf;
    const void *data = NULL;
    size_t len = 0;
    if (c->package == NULL) {
        fail(n, false, "%s: no package to push: the component names none", c->name);
        return;
    }
    if (rf->o.package == NULL || rf->o.package(rf->o.ud, ci, &data, &len) != 0) {
        fail(n, false, "%s: its package %s is not loaded", c->name, c->package);
        return;
    }
    const char *slash = strrchr(c->package, '/');
    const char *fname = slash ? slash + 1 : c->package;
    if (n->multipart_push) {
        /* DMTF DSP0266 multipart update: UpdateParameters (JSON) then UpdateFile. */
        static const char boundary[] = "fleetup-7c1f2a9d4e3b";
        json_t *params = json_pack("{so}", "Targets", targets_of(c));
        char *pj = json_dumps(params, JSON_COMPACT);
        json_decref(params);
        size_t hl = strlen(pj) + strlen(fname) + 512;
        free(n->push_head);
        n->push_head = malloc(hl);
        int w = snprintf(n->push_head, hl,
                         "--%s\r\nContent-Disposition: form-data; name=\"UpdateParameters\"\r\n"
                         "Content-Type: application/json\r\n\r\n%s\r\n--%s\r\n"
                         "Content-Disposition: form-data; name=\"UpdateFile\"; filename=\"%s\"\r\n"
                         "Content-Type: application/octet-stream\r\n\r\n",
                         boundary, pj, boundary, fname);
        free(pj);
        static const char tail[] = "\r\n--fleetup-7c1f2a9d4e3b--\r\n";
        n->iov[0] = (fu_hc_iov_t){n->push_head, (size_t)w};
        n->iov[1] = (fu_hc_iov_t){data, len};
        n->iov[2] = (fu_hc_iov_t){tail, sizeof(tail) - 1};
        char hdr[128];
        snprintf(hdr, sizeof(hdr), "Content-Type: multipart/form-data; boundary=%s\r\n", boundary);
        send_req(n, "POST", n->multipart_push, hdr, n->iov, 3, k_update_started);
        return;
    }
    if (c->ntargets) {
        fail(n, false, "%s: names targets, but this BMC offers only HttpPushUri (whose targets "
             "are set apart, HttpPushUriTargets): use callback: pull for it", c->name);
        return;
    }
    n->iov[0] = (fu_hc_iov_t){NULL, 0};
    n->iov[1] = (fu_hc_iov_t){data, len};
    send_req(n, "POST", n->http_push, "Content-Type: application/octet-stream\r\n", &n->iov[1], 1,
             k_update_started);
}

static void simple_update(rf_node_t *n, const fu_component_t *c, uint32_t ci)
{
    rf_t *rf = n->rf;
    const fu_node_t *fn = fnode(n);
    bool https = fn->callback_scheme == FU_SCHEME_HTTPS;
    if (!(n->protocols & 3u)) {
        fail(n, false, "%s: the BMC's SimpleUpdate allows neither HTTP nor HTTPS (ActionInfo "
             "TransferProtocol): use callback: push for it", c->name);
        return;
    }
    if (!(n->protocols & (https ? 2u : 1u))) {
        fail(n, false, "%s: the BMC's SimpleUpdate does not accept %s (ActionInfo "
             "TransferProtocol): set callback_scheme: %s for this node", c->name,
             https ? "HTTPS" : "HTTP", https ? "http" : "https");
        return;
    }
    char url[2048];
    /* The BMC reaches us where we reached it from (the last connection's local address),
     * unless the fleet says otherwise. */
    int len = rf->o.image_uri(rf->o.ud, n->idx, ci, n->local[0] ? n->local : NULL, url, sizeof(url));
    if (len < 0) {
        fail(n, false, "%s: %s", c->name, url);
        return;
    }
    json_t *body = json_pack("{ss}", "ImageURI", url);
    if (n->protocols != 3) /* the ActionInfo lists it: say it (older iLO need it) */
        json_object_set_new(body, "TransferProtocol", json_string(https ? "HTTPS" : "HTTP"));
    if (c->ntargets)
        json_object_set_new(body, "Targets", targets_of(c));
    n->iov[1].base = NULL;
    send_json(n, "POST", n->simple_update, body, k_update_started);
}

static void install_current(rf_node_t *n)
{
    uint32_t ci = n->comps[n->ci];
    const fu_component_t *c = &n->rf->base.fleet->baseline.components[ci];
    n->last_percent = -1;
    bool want_push = fnode(n)->callback == FU_CALLBACK_PUSH || n->simple_update == NULL;
    if (want_push && (n->multipart_push || n->http_push))
        push(n, c, ci);
    else if (n->simple_update)
        simple_update(n, c, ci);
    else
        fail(n, false, "%s: the BMC offers no SimpleUpdate action for pull mode", c->name);
}

static void install_next(rf_node_t *n)
{
    n->away_until = 0;
    if (n->ci >= n->ncomps) {
        n->resume = NULL;
        phase_end(n, NULL, false, NULL);
        return;
    }
    /* A BMC that reset after flashing the previous component refuses for a while: the
     * next update is sent again once it is back, but only if it was not delivered at all
     * (connect failed), since an update action is not idempotent. */
    n->resume = install_current;
    n->resume_strict = true;
    install_current(n);
}

static int rf_install(fu_transport_t *t, uint32_t idx, const fu_plan_t *plan)
{
    rf_t *rf = (rf_t *)t;
    rf_node_t *n = begin(rf, idx, FU_PHASE_INSTALL);
    if (n == NULL)
        return -1;
    uint32_t order[FU_MAX_COMPONENTS];
    uint32_t k = fu_plan_order(rf->base.fleet, order);
    n->ncomps = n->ci = 0;
    for (uint32_t i = 0; i < k; i++)
        if (plan->install & (1ull << order[i]))
            n->comps[n->ncomps++] = order[i];
    start_step(n, install_next);
    return 0;
}

/* ---- activate: reset the host (BIOS and option ROMs take effect at boot) ---- */

static void k_reset_done(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    (void)j;
    if (res->status < 200 || res->status >= 300) {
        fail_http(n, "ComputerSystem.Reset", res);
        return;
    }
    phase_end(n, NULL, false, NULL);
}

static void k_system(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    if (relogin(n, res))
        return;
    json_t *act = json_object_get(json_object_get(j, "Actions"), "#ComputerSystem.Reset");
    const char *target = json_string_value(json_object_get(act, "target"));
    if (res->status != 200) {
        fail_http(n, "activate: GET the computer system", res);
        return;
    }
    if (target == NULL) {
        fail(n, false, "activate: the computer system offers no ComputerSystem.Reset action");
        return;
    }
    const char *type = "GracefulRestart";
    json_t *allowed = json_object_get(act, "ResetType@Redfish.AllowableValues");
    if (json_is_array(allowed)) {
        bool graceful = false, force = false;
        size_t i;
        json_t *v;
        json_array_foreach(allowed, i, v)
        {
            graceful |= json_is_string(v) && strcmp(json_string_value(v), "GracefulRestart") == 0;
            force |= json_is_string(v) && strcmp(json_string_value(v), "ForceRestart") == 0;
        }
        if (!graceful && force)
            type = "ForceRestart";
    }
    n->resume_strict = true; /* a reset is not sent twice */
    send_json(n, "POST", path_of(target), json_pack("{ss}", "ResetType", type), k_reset_done);
}

static void k_systems(rf_node_t *n, const fu_hc_response_t *res, json_t *j)
{
    if (relogin(n, res))
        return;
    json_t *first = json_array_get(json_object_get(j, "Members"), 0);
    const char *uri = json_string_value(json_object_get(first, "@odata.id"));
    if (res->status != 200) {
        fail_http(n, "activate: GET Systems", res);
        return;
    }
    if (uri == NULL) {
        fail(n, false, "activate: the Systems collection of this BMC is empty");
        return;
    }
    send_req(n, "GET", path_of(uri), NULL, NULL, 0, k_system);
}

static void activate_start(rf_node_t *n)
{
    if (n->systems == NULL) {
        fail(n, false, "activate: the service root lists no Systems to reset");
        return;
    }
    send_req(n, "GET", n->systems, NULL, NULL, 0, k_systems);
}

static int rf_activate(fu_transport_t *t, uint32_t idx)
{
    rf_node_t *n = begin((rf_t *)t, idx, FU_PHASE_ACTIVATE);
    if (n == NULL)
        return -1;
    if (n->systems == NULL && n->auth != NULL) {
        defer_fail(n, "activate: the service root lists no Systems to reset");
        return 0;
    }
    n->resume = activate_start; /* its GETs may be retried; the reset POST is strict */
    start_step(n, activate_start);
    return 0;
}

static void on_timer(uv_timer_t *h)
{
    rf_node_t *n = h->data;
    if (!n->running || n->resume == NULL)
        return;
    if (n->wait_armed) { /* the BMC was away: its sessions are gone with it */
        n->wait_armed = false;
        login(n, n->resume);
        return;
    }
    n->resume(n);
}

static int rf_poll(fu_transport_t *t, uint32_t idx)
{
    (void)t, (void)idx;
    return 0; /* progress comes with every task poll */
}

/* ---- cancel, close, shutdown ---- */

static void rf_cancel(fu_transport_t *t, uint32_t idx)
{
    rf_t *rf = (rf_t *)t;
    rf_node_t *n = rf->nodes[idx];
    if (n == NULL)
        return;
    n->running = false;
    n->token++;
    uv_timer_stop(&n->timer);
    fu_hc_cancel(n->hc);
}

static void node_free(rf_node_t *n)
{
    free(n->auth);
    free(n->session_uri);
    free(n->update_service);
    free(n->sessions);
    free(n->systems);
    free(n->simple_update);
    free(n->multipart_push);
    free(n->http_push);
    free(n->fw_inv);
    free(n->sw_inv);
    free(n->task_uri);
    free(n->next_page);
    free(n->push_head);
    if (n->body) {
        OPENSSL_cleanse(n->body, n->body_len);
        free(n->body);
    }
    json_decref(n->members);
    json_decref(n->to_read);
    free(n);
}

static void maybe_shutdown_done(rf_t *rf)
{
    if (rf->shutting_down && rf->open == 0 && rf->shutdown_done) {
        void (*done)(void *) = rf->shutdown_done;
        rf->shutdown_done = NULL;
        done(rf->shutdown_ud);
    }
}

static void on_timer_close(uv_handle_t *h)
{
    rf_node_t *n = h->data;
    rf_t *rf = n->rf;
    node_free(n);
    rf->open--;
    maybe_shutdown_done(rf);
}

static void on_hc_closed(void *ud)
{
    rf_node_t *n = ud;
    uv_close((uv_handle_t *)&n->timer, on_timer_close);
}

static void drop(rf_node_t *n)
{
    rf_t *rf = n->rf;
    if (rf->nodes[n->idx] == n)
        rf->nodes[n->idx] = NULL;
    uv_timer_stop(&n->timer);
    fu_hc_close(n->hc, on_hc_closed, n);
}

static void k_session_deleted(void *ud, fu_hc_err_t kind, const char *err,
                              const fu_hc_response_t *res)
{
    (void)kind, (void)err, (void)res; /* best effort: an undeleted session times out */
    drop(ud);
}

static void rf_close(fu_transport_t *t, uint32_t idx)
{
    rf_t *rf = (rf_t *)t;
    rf_node_t *n = rf->nodes[idx];
    if (n == NULL || n->closing)
        return;
    n->closing = true;
    n->running = false;
    n->token++;
    rf->nodes[idx] = NULL; /* a later phase on this node starts a new session */
    uv_timer_stop(&n->timer);
    if (n->session && n->session_uri && n->auth) {
        fu_hc_cancel(n->hc);
        if (delete_session(n, k_session_deleted) == 0)
            return;
    }
    drop(n);
}

void fu_redfish_shutdown(fu_transport_t *t, void (*done)(void *ud), void *ud)
{
    rf_t *rf = (rf_t *)t;
    rf->shutting_down = true;
    rf->shutdown_done = done;
    rf->shutdown_ud = ud;
    for (size_t i = 0; i < rf->nnodes; i++)
        if (rf->nodes[i])
            rf_close(t, (uint32_t)i);
    maybe_shutdown_done(rf);
}

static void rf_destroy(fu_transport_t *t)
{
    rf_t *rf = (rf_t *)t;
    /* Nodes still open here were not shut down (the loop is gone): free what is ours. */
    free(rf->nodes);
    SSL_CTX_free(rf->ctx_default);
    SSL_CTX_free(rf->ctx_nochain);
    for (uint32_t i = 0; i < rf->ncas; i++) {
        free(rf->cas[i].path);
        SSL_CTX_free(rf->cas[i].ctx);
    }
    fu_creds_free(&rf->creds);
    free(rf);
}

static const fu_transport_vtable_t rf_vtable = {
    .name = "redfish",
    .connect = rf_connect,
    .inventory = rf_inventory,
    .stage = rf_stage,
    .install = rf_install,
    .activate = rf_activate,
    .poll = rf_poll,
    .cancel = rf_cancel,
    .close = rf_close,
    .destroy = rf_destroy,
};

fu_transport_t *fu_redfish_new(const fu_fleet_t *f, const fu_redfish_opts_t *o, const char **err)
{
    rf_t *rf = calloc(1, sizeof(*rf));
    if (rf == NULL) {
        *err = "out of memory";
        return NULL;
    }
    rf->base.vt = &rf_vtable;
    rf->base.fleet = f;
    rf->o = *o;
    if (rf->o.poll_ms == 0)
        rf->o.poll_ms = 500;
    if (rf->o.reset_wait_ms == 0)
        rf->o.reset_wait_ms = 300000;
    if (rf->o.request_timeout_ms == 0)
        rf->o.request_timeout_ms = 30000;
    rf->nnodes = f->nnodes;
    rf->nodes = calloc(f->nnodes + 1, sizeof(*rf->nodes));
    char e[256];
    rf->ctx_default = fu_hc_ssl_ctx(NULL, e, sizeof(e));
    /* Certificate settings are checked once, here: a bad CA file stops the start. */
    for (size_t i = 0; rf->ctx_default && i < f->nnodes; i++) {
        const fu_node_t *fn = &f->nodes[i];
        const char *cerr = NULL;
        uint8_t pin[32];
        if (fn->transport != FU_TRANSPORT_REDFISH || fn->plain_http)
            continue;
        if (fn->tls_fingerprint && fu_hc_parse_pin(fn->tls_fingerprint, pin) != 0)
            cerr = "tls_fingerprint is not a SHA-256 fingerprint";
        else if (ctx_for(rf, fn->tls_ca_file, &cerr) != NULL)
            continue;
        static char msg[700];
        snprintf(msg, sizeof(msg), "node %s: %s", fn->name, cerr);
        *err = msg;
        rf_destroy(&rf->base);
        return NULL;
    }
    if (rf->nodes == NULL || rf->ctx_default == NULL) {
        snprintf(rf->err, sizeof(rf->err), "redfish: %s", rf->ctx_default ? "out of memory" : e);
        static char msg[300];
        snprintf(msg, sizeof(msg), "%.290s", rf->err);
        *err = msg;
        free(rf->nodes);
        SSL_CTX_free(rf->ctx_default);
        free(rf);
        return NULL;
    }
    return &rf->base;
}

uint32_t fu_redfish_insecure_nodes(const fu_fleet_t *f, const uint32_t *nodes, uint32_t n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const fu_node_t *fn = &f->nodes[nodes[i]];
        k += fn->transport == FU_TRANSPORT_REDFISH && !fn->plain_http && fn->tls_insecure &&
             fn->tls_fingerprint == NULL;
    }
    return k;
}
