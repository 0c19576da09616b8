/* One simulated BMC's behaviour over HTTP: its initial record (flavour, faults, versions),
 * who may connect, authentication (sessions and Basic), the routes to its resources and
 * actions, and the faults that change how it answers (hang, slow, 5xx, auth). */
#include "fleetsim.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define V1 "/redfish/v1"
#define JSON_TYPE "application/json; charset=utf-8"

const char *const fs_fault_names[FS_F__COUNT] = {
    "refuse", "hang", "slow", "5xx", "auth", "corrupt", "exception", "nochange",
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A fault by count (KIND=N): the N BMCs with the smallest hash of (seed, bmc, KIND). The
 * threshold is the N-th smallest hash, so the choice does not depend on anything else. */
static uint64_t count_threshold(const fs_world_t *w, int k, uint32_t count)
{
    uint32_t n = w->o.nodes;
    if (count == 0)
        return 0;
    if (count >= n)
        return UINT64_MAX;
    uint64_t *h = malloc(sizeof(*h) * n);
    if (h == NULL)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        h[i] = fs_hash(w->o.seed, i, 100 + (uint32_t)k, 0);
    qsort(h, n, sizeof(*h), cmp_u64);
    uint64_t t = h[count - 1];
    free(h);
    return t;
}

int fs_bmcs_init(fs_world_t *w)
{
    const fs_opts_t *o = &w->o;
    w->bmcs = calloc(o->nodes, sizeof(*w->bmcs));
    if (w->bmcs == NULL)
        return -1;
    uint64_t thr[FS_F__COUNT];
    for (int k = 0; k < FS_F__COUNT; k++)
        thr[k] = o->fault_by_count[k] ? count_threshold(w, k, o->fault_count[k]) : 0;
    for (uint32_t i = 0; i < o->nodes; i++) {
        fs_bmc_t *m = &w->bmcs[i];
        m->ilo = o->flavor == FS_FLAVOR_ILO ||
                 (o->flavor == FS_FLAVOR_MIXED && fs_draw(o->seed, i, 2, 0) < 0.5);
        for (int k = 0; k < FS_F__COUNT; k++) {
            bool on = o->fault_by_count[k] ? o->fault_count[k] > 0 &&
                                                 fs_hash(o->seed, i, 100 + (uint32_t)k, 0) <= thr[k]
                                           : fs_draw(o->seed, i, 100 + (uint32_t)k, 0) < o->fault_share[k];
            if (on) {
                m->faults |= (uint16_t)(1u << k);
                w->stats.faulty[k]++;
            }
        }
        bool current = w->fleet && fs_draw(o->seed, i, 1, 0) < o->current;
        for (uint32_t f = 0; f < FS_NFW; f++)
            m->version[f] = fs_fw_versions[f];
        if (current)
            for (size_t c = 0; c < w->fleet->baseline.ncomponents; c++)
                if (w->member_of[c] >= 0)
                    m->version[w->member_of[c]] = w->fleet->baseline.components[c].version;
    }
    return 0;
}

static bool has(const fs_bmc_t *m, fs_fault_t k)
{
    return (m->faults >> k) & 1u;
}

bool fs_accept(void *ud, const char *local, const char *peer)
{
    fs_world_t *w = ud;
    (void)peer;
    int64_t b = fs_bmc_of(&w->o, local);
    if (b < 0)
        return true; /* answered 404: no BMC there */
    const fs_bmc_t *m = &w->bmcs[b];
    return !has(m, FS_F_REFUSE) && m->state != FS_RESETTING;
}

size_t fs_body_limit(void *ud, const char *method, const char *path)
{
    (void)ud;
    if (strcmp(method, "POST") == 0 && (strcmp(path, V1 "/UpdateService/upload") == 0 ||
                                        strcmp(path, V1 "/UpdateService/update") == 0))
        return (size_t)FS_PUSH_LIMIT;
    return FS_BODY_LIMIT;
}

/* ---- answers, delayed on slow BMCs ---- */

typedef struct {
    fs_world_t *w;
    fu_http_request_t *req;
    uint32_t b;
    fs_bmc_t *m;
} rq_t;

typedef struct {
    fu_http_request_t *req; /* NULL once the connection is gone */
    int status;
    char headers[256];
    size_t len;
    char body[];
} delayed_t;

static void delayed_gone(void *ud)
{
    ((delayed_t *)ud)->req = NULL;
}

static void delayed_fire(void *ud, uint32_t arg, uint32_t token)
{
    delayed_t *d = ud;
    (void)arg;
    (void)token;
    if (d->req)
        fu_http_respond(d->req, d->status, JSON_TYPE, d->headers, d->body, d->len);
    free(d);
}

/* Sends j (stolen; NULL: no body) with Redfish's headers and extra ("Name: v\r\n"...). */
static void reply(rq_t *r, int status, const char *extra, json_t *j)
{
    char headers[256];
    snprintf(headers, sizeof(headers), "OData-Version: 4.0\r\nCache-Control: no-cache\r\n%s",
             extra ? extra : "");
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    size_t len = body ? strlen(body) : 0;
    if (!has(r->m, FS_F_SLOW) || r->w->o.slow_ms == 0) {
        fu_http_respond(r->req, status, JSON_TYPE, headers, body ? body : "", len);
        free(body);
        return;
    }
    delayed_t *d = malloc(sizeof(*d) + len + 1);
    if (d == NULL) {
        free(body);
        fu_http_respond(r->req, 500, JSON_TYPE, NULL, "", 0);
        return;
    }
    d->req = r->req;
    d->status = status;
    snprintf(d->headers, sizeof(d->headers), "%s", headers);
    d->len = len;
    memcpy(d->body, body ? body : "", len + 1);
    free(body);
    fu_http_defer(r->req, delayed_gone, d);
    fs_timer_add(r->w, r->w->o.slow_ms, delayed_fire, d, 0, 0);
}

static void error(rq_t *r, int status, const char *message_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error(rq_t *r, int status, const char *message_id, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply(r, status, status == 401 ? "WWW-Authenticate: Basic realm=\"fleetsim\"\r\n" : NULL,
          fs_res_error(message_id, msg));
}

/* ---- sessions and authentication ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int session_of_token(const fs_bmc_t *m, const char *tok)
{
    uint8_t raw[16];
    if (m->sessions == NULL || strlen(tok) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        int hi = hexval(tok[2 * i]), lo = hexval(tok[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        raw[i] = (uint8_t)(hi << 4 | lo);
    }
    for (int i = 0; i < FS_NSESSIONS; i++)
        if (m->sessions[i].id && CRYPTO_memcmp(m->sessions[i].token, raw, 16) == 0)
            return i;
    return -1;
}

static bool authorised(rq_t *r)
{
    if (has(r->m, FS_F_AUTH))
        return false;
    const char *tok = fu_http_header(r->req, "X-Auth-Token");
    if (tok && session_of_token(r->m, tok) >= 0)
        return true;
    const char *a = fu_http_header(r->req, "Authorization");
    size_t n = strlen(r->w->basic);
    return a && strlen(a) == n && strncasecmp(a, "Basic ", 6) == 0 &&
           CRYPTO_memcmp(a + 6, r->w->basic + 6, n - 6) == 0;
}

static void login(rq_t *r)
{
    json_t *j = json_loadb(r->req->body, r->req->body_len, 0, NULL);
    const char *user = json_string_value(json_object_get(j, "UserName"));
    const char *pass = json_string_value(json_object_get(j, "Password"));
    if (user == NULL || pass == NULL) {
        json_decref(j);
        error(r, 400, "Base.1.8.PropertyMissing",
              "The request body needs UserName and Password (strings)");
        return;
    }
    bool ok = !has(r->m, FS_F_AUTH) && strcmp(user, r->w->o.user) == 0 &&
              strlen(pass) == strlen(r->w->password) &&
              CRYPTO_memcmp(pass, r->w->password, strlen(pass)) == 0;
    json_decref(j);
    if (!ok) {
        error(r, 401, "Base.1.8.ResourceAtUriUnauthorized", "Login failed: bad user name or password");
        return;
    }
    fs_bmc_t *m = r->m;
    if (m->sessions == NULL && (m->sessions = calloc(FS_NSESSIONS, sizeof(*m->sessions))) == NULL) {
        error(r, 500, "Base.1.8.InternalError", "out of memory");
        return;
    }
    fs_session_t *s = &m->sessions[m->next_session % FS_NSESSIONS]; /* the oldest goes */
    s->id = ++m->next_session;
    RAND_bytes(s->token, sizeof(s->token));
    char headers[160], tok[33];
    for (int i = 0; i < 16; i++)
        snprintf(tok + 2 * i, 3, "%02x", s->token[i]);
    snprintf(headers, sizeof(headers),
             "X-Auth-Token: %s\r\nLocation: " V1 "/SessionService/Sessions/%u\r\n", tok, s->id);
    r->w->stats.logins++;
    reply(r, 201, headers, fs_res_session(r->w, s->id));
}

static fs_session_t *session_by_id(fs_bmc_t *m, const char *id)
{
    char *end;
    unsigned long v = strtoul(id, &end, 10);
    if (*end || v == 0 || m->sessions == NULL)
        return NULL;
    fs_session_t *s = &m->sessions[(v - 1) % FS_NSESSIONS];
    return s->id == v ? s : NULL;
}

/* ---- multipart/form-data (DMTF MultipartHttpPushUri) ---- */

/* The bytes of the part named name, or NULL. */
static const char *form_part(const char *body, size_t len, const char *boundary,
                             const char *name, size_t *plen)
{
    char delim[256], want[160];
    int dl = snprintf(delim, sizeof(delim), "--%s", boundary);
    snprintf(want, sizeof(want), "name=\"%s\"", name);
    const char *end = body + len;
    const char *p = memmem(body, len, delim, (size_t)dl);
    while (p) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return NULL; /* the closing delimiter */
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (hend == NULL)
            return NULL;
        const char *data = hend + 4;
        char full[260];
        int fl = snprintf(full, sizeof(full), "\r\n%s", delim);
        const char *next = memmem(data, (size_t)(end - data), full, (size_t)fl);
        if (next == NULL)
            return NULL;
        if (memmem(p, (size_t)(hend - p), want, strlen(want))) {
            *plen = (size_t)(next - data);
            return data;
        }
        p = next + 2;
    }
    return NULL;
}

/* ---- actions ---- */

static void update_started(rq_t *r, uint32_t task)
{
    const fs_task_t *t = fs_task_find(r->w, r->b, task);
    if (t == NULL) {
        error(r, 500, "Base.1.8.InternalError", "out of memory");
        return;
    }
    if (r->m->ilo && r->w->o.ilo5_no_task) {
        reply(r, 200, NULL, fs_res_ilo_success());
        return;
    }
    char loc[96];
    snprintf(loc, sizeof(loc), "Location: " V1 "/TaskService/Tasks/%u\r\n", task);
    reply(r, 202, loc, fs_res_task(r->w, t));
}

/* An update can start: not on a faulty (5xx) BMC, not while one runs. */
static bool update_allowed(rq_t *r)
{
    if (has(r->m, FS_F_5XX)) {
        error(r, 500, "Base.1.8.InternalError",
              "The request failed due to an internal service error (simulated fault)");
        return false;
    }
    if (r->m->state != FS_IDLE) {
        error(r, 409, "Base.1.8.ResourceInUse",
              "An update is already in progress; retry when its task has ended");
        return false;
    }
    return true;
}

static void simple_update(rq_t *r)
{
    if (!update_allowed(r))
        return;
    json_t *j = json_loadb(r->req->body, r->req->body_len, 0, NULL);
    const char *uri = json_string_value(json_object_get(j, "ImageURI"));
    json_t *proto = json_object_get(j, "TransferProtocol");
    if (!json_is_object(j)) {
        error(r, 400, "Base.1.8.MalformedJSON", "The request body is not a JSON object");
    } else if (uri == NULL) {
        error(r, 400, "Base.1.8.ActionParameterMissing",
              "The action SimpleUpdate requires the parameter ImageURI");
    } else if (proto && (!json_is_string(proto) ||
                         (strcmp(json_string_value(proto), "HTTP") != 0 &&
                          strcmp(json_string_value(proto), "HTTPS") != 0))) {
        error(r, 400, "Base.1.8.ActionParameterNotSupported",
              "TransferProtocol must be HTTP or HTTPS");
    } else {
        char err[256];
        uint32_t task = fs_update_simple(r->w, r->b, uri, err, sizeof(err));
        if (task == 0)
            error(r, 400, "Base.1.8.ActionParameterValueFormatError", "ImageURI: %s", err);
        else
            update_started(r, task);
    }
    json_decref(j);
}

static void multipart_push(rq_t *r)
{
    if (!update_allowed(r))
        return;
    const char *ct = fu_http_header(r->req, "Content-Type");
    const char *bp = ct ? strcasestr(ct, "boundary=") : NULL;
    if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0 || bp == NULL) {
        error(r, 415, "Base.1.8.UnsupportedMediaType",
              "MultipartHttpPushUri takes multipart/form-data with a boundary");
        return;
    }
    char boundary[200];
    bp += 9;
    size_t bl = strcspn(bp, ";");
    if (*bp == '"') {
        bp++;
        bl = strcspn(bp, "\"");
    }
    snprintf(boundary, sizeof(boundary), "%.*s", (int)(bl < 199 ? bl : 199), bp);
    size_t plen = 0, flen = 0;
    const char *params = form_part(r->req->body, r->req->body_len, boundary, "UpdateParameters", &plen);
    const char *file = form_part(r->req->body, r->req->body_len, boundary, "UpdateFile", &flen);
    if (params) {
        json_t *j = json_loadb(params, plen, 0, NULL);
        bool ok = json_is_object(j);
        json_decref(j);
        if (!ok) {
            error(r, 400, "Base.1.8.MalformedJSON", "The UpdateParameters part is not a JSON object");
            return;
        }
    }
    if (file == NULL) {
        error(r, 400, "Base.1.8.ActionParameterMissing",
              "The multipart body needs an UpdateFile part (and UpdateParameters)");
        return;
    }
    r->w->stats.bytes_pushed += flen;
    update_started(r, fs_update_push(r->w, r->b, file, flen));
}

static void raw_push(rq_t *r)
{
    if (!update_allowed(r))
        return;
    r->w->stats.bytes_pushed += r->req->body_len;
    update_started(r, fs_update_push(r->w, r->b, r->req->body, r->req->body_len));
}

/* ---- routes ---- */

static bool is_get(const rq_t *r)
{
    return strcmp(r->req->method, "GET") == 0 || r->req->head;
}

static void not_allowed(rq_t *r, const char *allow)
{
    char h[64];
    snprintf(h, sizeof(h), "Allow: %s\r\n", allow);
    json_t *e = fs_res_error("Base.1.8.OperationNotAllowed", "The HTTP method is not allowed on this URI");
    reply(r, 405, h, e);
}

/* GET of a resource that exists: its JSON. */
static void get(rq_t *r, json_t *j)
{
    if (!is_get(r)) {
        json_decref(j);
        not_allowed(r, "GET, HEAD");
        return;
    }
    reply(r, 200, NULL, j);
}

static bool member_index(const char *s, uint32_t *out)
{
    if (s[0] < '1' || s[0] > '0' + FS_NFW || s[1])
        return false;
    *out = (uint32_t)(s[0] - '1');
    return true;
}

static void route_sessions(rq_t *r, const char *rest)
{
    if (*rest == '\0') {
        if (strcmp(r->req->method, "POST") == 0)
            login(r);
        else if (!authorised(r))
            error(r, 401, "Base.1.8.NoValidSession", "Authentication required");
        else if (is_get(r))
            get(r, fs_res_sessions(r->w, r->b));
        else
            not_allowed(r, "GET, HEAD, POST");
        return;
    }
    if (!authorised(r)) {
        error(r, 401, "Base.1.8.NoValidSession", "Authentication required");
        return;
    }
    fs_session_t *s = rest[0] == '/' ? session_by_id(r->m, rest + 1) : NULL;
    if (s == NULL)
        error(r, 404, "Base.1.8.ResourceMissingAtURI", "No session at %s", r->req->path);
    else if (strcmp(r->req->method, "DELETE") == 0) {
        s->id = 0;
        reply(r, 204, NULL, NULL);
    } else
        get(r, fs_res_session(r->w, s->id));
}

static void route_update(rq_t *r, const char *p)
{
    uint32_t i;
    bool post = strcmp(r->req->method, "POST") == 0;
    if (*p == '\0')
        get(r, fs_res_update_service(r->w, r->b));
    else if (strcmp(p, "/SimpleUpdateActionInfo") == 0)
        get(r, fs_res_action_info());
    else if (strcmp(p, "/Actions/UpdateService.SimpleUpdate") == 0)
        post ? simple_update(r) : not_allowed(r, "POST");
    else if (strcmp(p, "/upload") == 0)
        post ? multipart_push(r) : not_allowed(r, "POST");
    else if (strcmp(p, "/update") == 0)
        post ? raw_push(r) : not_allowed(r, "POST");
    else if (strcmp(p, "/FirmwareInventory") == 0 || strcmp(p, "/SoftwareInventory") == 0)
        get(r, fs_res_inventory(p[1] == 'S'));
    else if ((strncmp(p, "/FirmwareInventory/", 19) == 0 || strncmp(p, "/SoftwareInventory/", 19) == 0) &&
             member_index(p + 19, &i))
        get(r, fs_res_member(r->w, r->b, i, p[1] == 'S'));
    else
        error(r, 404, "Base.1.8.ResourceMissingAtURI", "Nothing at %s", r->req->path);
}

static void route_tasks(rq_t *r, const char *p)
{
    if (*p == '\0') {
        get(r, fs_res_task_service());
        return;
    }
    if (strcmp(p, "/Tasks") == 0) {
        get(r, fs_res_tasks(r->w, r->b));
        return;
    }
    const fs_task_t *t = NULL;
    if (strncmp(p, "/Tasks/", 7) == 0) {
        char *end;
        unsigned long id = strtoul(p + 7, &end, 10);
        if (*end == '\0' && id > 0 && id <= UINT32_MAX)
            t = fs_task_find(r->w, r->b, (uint32_t)id);
    }
    if (t == NULL)
        error(r, 404, "Base.1.8.ResourceMissingAtURI", "No task at %s", r->req->path);
    else
        get(r, fs_res_task(r->w, t));
}

/* p: the path after /redfish/v1, without a trailing slash. */
static void route(rq_t *r, const char *p)
{
    if (*p == '\0') {
        get(r, fs_res_root(r->w, r->b));
        return;
    }
    if (strncmp(p, "/SessionService/Sessions", 24) == 0 && (p[24] == '\0' || p[24] == '/')) {
        route_sessions(r, p + 24);
        return;
    }
    if (!authorised(r)) {
        error(r, 401, "Base.1.8.NoValidSession",
              "Authentication required: X-Auth-Token from a session, or HTTP Basic");
        return;
    }
    if (strcmp(p, "/Systems") == 0)
        get(r, fs_res_systems());
    else if (strcmp(p, "/Systems/1") == 0)
        get(r, fs_res_system(r->w, r->b));
    else if (strcmp(p, "/Systems/1/Actions/ComputerSystem.Reset") == 0)
        strcmp(r->req->method, "POST") == 0 ? reply(r, 204, NULL, NULL) : not_allowed(r, "POST");
    else if (strcmp(p, "/Managers") == 0)
        get(r, fs_res_managers());
    else if (strcmp(p, "/Managers/1") == 0)
        get(r, fs_res_manager(r->w, r->b));
    else if (strcmp(p, "/SessionService") == 0)
        get(r, fs_res_session_service());
    else if (strncmp(p, "/UpdateService", 14) == 0 && (p[14] == '\0' || p[14] == '/'))
        route_update(r, p + 14);
    else if (strncmp(p, "/TaskService", 12) == 0 && (p[12] == '\0' || p[12] == '/'))
        route_tasks(r, p + 12);
    else
        error(r, 404, "Base.1.8.ResourceMissingAtURI", "Nothing at %s", r->req->path);
}

void fs_handle(void *ud, fu_http_request_t *req)
{
    fs_world_t *w = ud;
    w->stats.requests++;
    int64_t b = fs_bmc_of(&w->o, req->local);
    if (b < 0) {
        const char *e = "{\"error\":{\"code\":\"Base.1.8.GeneralError\",\"message\":\"no BMC at this address\"}}";
        fu_http_respond(req, 404, JSON_TYPE, NULL, e, strlen(e));
        return;
    }
    rq_t r = {w, req, (uint32_t)b, &w->bmcs[b]};
    if (has(r.m, FS_F_HANG)) {
        fu_http_defer(req, NULL, NULL); /* never answered; the idle timeout ends it */
        return;
    }
    if (w->o.verbose)
        fprintf(stderr, "fleetsim: bmc-%05u %s %s\n", r.b + 1, req->method, req->path);
    char path[256];
    snprintf(path, sizeof(path), "%s", req->path);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
    if (strcmp(path, "/redfish") == 0)
        get(&r, json_pack("{s:s}", "v1", V1 "/"));
    else if (strncmp(path, V1, 11) == 0 && (path[11] == '\0' || path[11] == '/'))
        route(&r, path + 11);
    else
        error(&r, 404, "Base.1.8.ResourceMissingAtURI", "Nothing at %s", req->path);
}
