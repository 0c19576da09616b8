/* HTTP/1.1 client (http_client.h). A client owns one connection at a time (a uv_tcp_t,
 * and on TLS a memory-BIO OpenSSL state from http/tls.c), a FIFO of requests, and while a
 * response is in flight its head and body buffers; an idle keep-alive client holds no
 * buffer. The connection is an explicit state machine (conn_state_t), driven by drive(). */
#include "transports/http_client.h"

#include <errno.h>
#include <llhttp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/tls.h"

#define HEAD_MAX (16u * 1024)   /* a response head over this is refused */
#define READ_SIZE (16u * 1024)  /* one socket read, into the loop's one read buffer */
#define TLS_PIECE (16u * 1024)  /* plaintext encrypted at a time: one TLS record */
#define TLS_HIGH (64u * 1024)   /* encrypt more only while less ciphertext waits */
#define IOV_MAX_LEN (1u << 30)  /* uv_buf_t lengths are 32-bit: bodies go in 1 GiB pieces */

typedef enum {
    ST_IDLE,      /* no connection */
    ST_RESOLVING, /* uv_getaddrinfo running; no socket yet */
    ST_CONNECTING,
    ST_HANDSHAKE,
    ST_READY,     /* connected, no request on the wire */
    ST_SENDING,   /* the head request is being written (its answer may already come) */
    ST_READING,   /* written, waiting for the rest of the answer */
    ST_CLOSING    /* uv_close() called; the next connection waits for its callback */
} conn_state_t;

typedef struct hreq_s {
    struct hreq_s *next;
    fu_hc_req_t r;        /* method, path and headers point into text[] */
    uint64_t start;       /* loop time when queued: the total deadline counts from here */
    uint64_t not_before;  /* Retry-After: not sent again before this loop time */
    uint32_t retries;     /* Retry-After resends so far */
    bool resent;          /* already sent again after a reused connection died silently */
    char text[];
} hreq_t;

/* One response being parsed: shared by the client and fu_hc_parse_buffer(). */
typedef struct resp_s {
    llhttp_t p;
    const char *where;    /* "HOST:PORT" for messages */
    size_t max;           /* head plus kept body */
    char *head;           /* lower-cased names and values, each NUL-terminated */
    size_t head_len, head_cap, status_len;
    uint32_t *off;        /* name and value offsets into head, two per header */
    uint32_t nheaders, off_cap;
    bool in_field, headers_done, complete, discard, no_body;
    bool stop; /* the connection was dropped from inside a callback: parse no more */
    char *body;
    size_t body_len, body_cap;
    int (*on_data)(void *ud, const char *p, size_t n);
    void *ud;
    void (*on_head)(struct resp_s *r); /* the client's look at a complete head */
    bool has_retry_after;
    uint64_t retry_after_ms;
    fu_hc_err_t kind;     /* set with err when a callback stops the parser */
    char err[256];
} resp_t;

typedef struct {
    uv_getaddrinfo_t req;
    fu_hc_t *c; /* NULL once the client gave up on it: the callback only frees */
} resolver_t;

typedef struct {
    uv_write_t req;
    fu_hc_t *c;
    uint32_t gen;
    size_t len;
    bool last; /* plain HTTP: the write that ends the request */
    char data[];
} wreq_t;

struct fu_hc_s {
    uv_loop_t *loop;
    fu_hc_opts_t o;
    char *host, *name; /* name: SNI and the checked name */
    bool host_is_ip, name_is_ip;
    char where[300];   /* HOST:PORT, [v6]:PORT */
    char host_hdr[300];
    struct sockaddr_storage addr;
    conn_state_t state;
    uint32_t gen;      /* bumped when a connection is dropped: stale callbacks see it */
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_timer_t timer;  /* the deadline of the current phase */
    uv_timer_t wake;   /* drive() soon: after fu_hc_request(), or a Retry-After wait */
    int handles;       /* open libuv handles; the client is freed when 0 and closing */
    resolver_t *resolver;
    fu_tls_conn_t tls;
    bool tls_on;
    bool closing, had_conn, reused;
    void (*closed_cb)(void *);
    void *closed_ud;
    hreq_t *head, *tail;
    uint32_t conn_uses;       /* responses completed on this connection */
    uint64_t phase_deadline;  /* connect and handshake */
    uint64_t progress_deadline;
    uint64_t resp_bytes;      /* bytes of answer to the request on the wire */
    size_t unsent;            /* bytes given to uv_write, not yet written */
    uint32_t send_iov;        /* TLS: where the body's encryption stands */
    size_t send_off;
    resp_t rp;
    fu_hc_stats_t stats;
    char err[512];
};

static void drive(fu_hc_t *c);
static void kick(fu_hc_t *c);
static void arm(fu_hc_t *c);
static void conn_drop(fu_hc_t *c);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* ---- small helpers ---- */

static bool is_ip(const char *s)
{
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    return s && (uv_ip4_addr(s, 0, &a4) == 0 || uv_ip6_addr(s, 0, &a6) == 0);
}

/* "30 s" or "1500 ms": deadlines are printed the way they were most likely set. */
static const char *dur(uint64_t ms, char *buf, size_t len)
{
    if (ms % 1000 == 0)
        snprintf(buf, len, "%llu s", (unsigned long long)(ms / 1000));
    else
        snprintf(buf, len, "%llu ms", (unsigned long long)ms);
    return buf;
}

static void setf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* OpenSSL's reason for the last failure, or what the certificate check said. */
static const char *tls_reason(fu_hc_t *c, char *buf, size_t len)
{
    long v = c->tls.ssl ? SSL_get_verify_result(c->tls.ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK && c->o.verify == FU_HC_VERIFY_CA)
        setf(buf, len, "certificate verify failed (%s)", X509_verify_cert_error_string(v));
    else if (e && ERR_reason_error_string(e))
        setf(buf, len, "%s", ERR_reason_error_string(e));
    else
        setf(buf, len, "unexpected message");
    return buf;
}

/* ---- Retry-After ---- */

/* Seconds or an IMF-fixdate; false for anything else. */
static bool parse_retry_after(const char *v, uint64_t *ms)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v >= '0' && *v <= '9') {
        uint64_t s = 0;
        for (; *v >= '0' && *v <= '9'; v++) {
            if (s > UINT64_MAX / 10000)
                return false;
            s = s * 10 + (uint64_t)(*v - '0');
        }
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v)
            return false;
        *ms = s * 1000;
        return true;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end)
        return false;
    time_t at = timegm(&tm), now = time(NULL);
    *ms = at > now ? (uint64_t)(at - now) * 1000 : 0;
    return true;
}

/* ---- response parsing ---- */

static const llhttp_settings_t *settings(void);

static void resp_free(resp_t *r)
{
    free(r->head);
    free(r->off);
    free(r->body);
    r->head = r->body = NULL;
    r->off = NULL;
    r->head_len = r->head_cap = r->body_len = r->body_cap = 0;
    r->nheaders = r->off_cap = 0;
}

static void resp_begin(resp_t *r, const char *where, size_t max, bool head_request)
{
    resp_free(r);
    llhttp_init(&r->p, HTTP_RESPONSE, settings());
    r->p.data = r;
    r->where = where;
    r->max = max;
    r->no_body = head_request;
    r->complete = r->stop = false;
    r->kind = FU_HC_OK;
    r->err[0] = '\0';
}

static int resp_fail(resp_t *r, fu_hc_err_t kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int resp_fail(resp_t *r, fu_hc_err_t kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    r->kind = kind;
    return -1;
}

static int head_append(resp_t *r, const char *at, size_t len, bool lower)
{
    if (r->head_len + len + 1 + r->status_len > HEAD_MAX)
        return resp_fail(r, FU_HC_ERR_PROTOCOL, "response head from %s is over %u KiB", r->where,
                         HEAD_MAX / 1024);
    if (r->head_len + len + 1 > r->head_cap) {
        size_t cap = r->head_cap ? r->head_cap : 512;
        while (cap < r->head_len + len + 1)
            cap *= 2;
        char *h = realloc(r->head, cap);
        if (h == NULL)
            return resp_fail(r, FU_HC_ERR_PROTOCOL, "out of memory for a response head");
        r->head = h;
        r->head_cap = cap;
    }
    for (size_t i = 0; i < len; i++)
        r->head[r->head_len + i] = lower && at[i] >= 'A' && at[i] <= 'Z' ? (char)(at[i] + 32) : at[i];
    r->head_len += len;
    return 0;
}

static int head_nul(resp_t *r)
{
    if (head_append(r, "", 0, false) != 0)
        return -1;
    r->head[r->head_len++] = '\0';
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    resp_t *r = p->data;
    r->head_len = r->status_len = 0;
    r->nheaders = 0;
    r->in_field = r->headers_done = r->discard = false;
    r->has_retry_after = false;
    r->retry_after_ms = 0;
    r->body_len = 0;
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    (void)at;
    r->status_len += len; /* only counted: the reason phrase is not kept */
    return head_append(r, "", 0, false);
}

/* A new header; llhttp may split a name over several calls. */
static int header_start(resp_t *r)
{
    if (r->nheaders == r->off_cap) {
        uint32_t cap = r->off_cap ? r->off_cap * 2 : 16;
        uint32_t *o = realloc(r->off, (size_t)cap * 2 * sizeof(*o));
        if (o == NULL)
            return resp_fail(r, FU_HC_ERR_PROTOCOL, "out of memory for response headers");
        r->off = o;
        r->off_cap = cap;
    }
    r->off[2 * r->nheaders] = (uint32_t)r->head_len;
    r->off[2 * r->nheaders + 1] = UINT32_MAX;
    r->in_field = true;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    if (r->stop)
        return -1;
    if (r->headers_done)
        return 0; /* a chunked trailer: ignored */
    if (!r->in_field && header_start(r) != 0)
        return -1;
    return head_append(r, at, len, true);
}

static int on_header_field_complete(llhttp_t *p)
{
    resp_t *r = p->data;
    if (r->stop)
        return -1;
    if (r->headers_done)
        return 0;
    if (!r->in_field && header_start(r) != 0)
        return -1;
    r->in_field = false;
    if (head_nul(r) != 0)
        return -1;
    r->off[2 * r->nheaders + 1] = (uint32_t)r->head_len; /* the value starts here */
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    if (r->stop)
        return -1;
    if (r->headers_done)
        return 0;
    return head_append(r, at, len, false);
}

static int on_header_value_complete(llhttp_t *p)
{
    resp_t *r = p->data;
    if (r->stop)
        return -1;
    if (r->headers_done)
        return 0;
    if (head_nul(r) != 0)
        return -1;
    r->nheaders++;
    return 0;
}

static const char *resp_header(const resp_t *r, const char *name)
{
    for (uint32_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->head + r->off[2 * i], name) == 0)
            return r->head + r->off[2 * i + 1];
    return NULL;
}

/* What the kept body may still grow by under the limit. */
static size_t room(const resp_t *r)
{
    size_t used = r->head_len + r->status_len + r->body_len;
    return used < r->max ? r->max - used : 0;
}

static int on_headers_complete(llhttp_t *p)
{
    resp_t *r = p->data;
    if (r->stop)
        return -1;
    r->headers_done = true;
    const char *ra = resp_header(r, "retry-after");
    r->has_retry_after = ra && parse_retry_after(ra, &r->retry_after_ms);
    if (r->on_head)
        r->on_head(r);
    if (r->kind != FU_HC_OK)
        return -1;
    if (!r->on_data && !r->discard && r->head_len + r->status_len > r->max)
        return resp_fail(r, FU_HC_ERR_PROTOCOL, "response from %s is over the %zu-byte limit", r->where,
                         r->max);
    if (!r->on_data && !r->discard && (p->flags & F_CONTENT_LENGTH) && p->content_length > room(r))
        return resp_fail(r, FU_HC_ERR_PROTOCOL,
                         "response from %s is over the %zu-byte limit (Content-Length %llu)", r->where,
                         r->max, (unsigned long long)p->content_length);
    return r->no_body ? 1 : 0; /* 1: a HEAD response has no body, whatever it says */
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    if (r->stop)
        return -1;
    if (r->discard)
        return 0;
    if (r->on_data) {
        if (r->on_data(r->ud, at, len) != 0)
            return resp_fail(r, FU_HC_ERR_CANCELLED, "response from %s aborted by its reader", r->where);
        return r->stop ? -1 : 0; /* the reader may have cancelled or closed the client */
    }
    if (len > room(r))
        return resp_fail(r, FU_HC_ERR_PROTOCOL, "response from %s is over the %zu-byte limit", r->where,
                         r->max);
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (b == NULL)
            return resp_fail(r, FU_HC_ERR_PROTOCOL, "out of memory for a response body");
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    resp_t *r = p->data;
    if (r->stop)
        return -1;
    if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101)
        return 0; /* 100 Continue, 103 Early Hints: the real answer follows */
    r->complete = true;
    return HPE_PAUSED; /* no pipelining: nothing after this answer is ours */
}

static const llhttp_settings_t *settings(void)
{
    static const llhttp_settings_t s = {
        .on_message_begin = on_message_begin,
        .on_status = on_status,
        .on_header_field = on_header_field,
        .on_header_field_complete = on_header_field_complete,
        .on_header_value = on_header_value,
        .on_header_value_complete = on_header_value_complete,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
    };
    return &s;
}

/* Runs the parser over bytes: 1 the answer is complete, 0 more is needed, -1 error
 * (r->kind and r->err say which). */
static int resp_feed(resp_t *r, const char *data, size_t len)
{
    llhttp_errno_t e = llhttp_execute(&r->p, data, len);
    if (r->complete)
        return 1;
    if (e == HPE_OK)
        return 0;
    if (r->kind == FU_HC_OK)
        resp_fail(r, FU_HC_ERR_PROTOCOL, "invalid HTTP response from %s: %s", r->where,
                  llhttp_get_error_reason(&r->p) ? llhttp_get_error_reason(&r->p) : llhttp_errno_name(e));
    return -1;
}

/* The peer closed: a read-until-close body ends here. 1 complete, -1 not. */
static int resp_eof(resp_t *r)
{
    if (r->complete)
        return 1;
    if (llhttp_get_errno(&r->p) != HPE_OK)
        return -1;
    llhttp_finish(&r->p);
    return r->complete ? 1 : -1;
}

/* Calls cb with the parsed response; the pointer arrays live for the call only. */
static void resp_deliver(resp_t *r, bool keep_alive, fu_hc_cb cb, void *ud)
{
    const char *stack[64];
    const char **v = r->nheaders <= 32 ? stack : malloc((size_t)r->nheaders * 2 * sizeof(*v));
    fu_hc_response_t res = {.status = r->p.status_code, .keep_alive = keep_alive};
    if (v == NULL) {
        cb(ud, FU_HC_ERR_PROTOCOL, "out of memory for a response", NULL);
        return;
    }
    for (uint32_t i = 0; i < r->nheaders; i++) {
        v[i] = r->head + r->off[2 * i];
        v[r->nheaders + i] = r->head + r->off[2 * i + 1];
    }
    res.nheaders = r->nheaders;
    res.header_names = v;
    res.header_values = v + r->nheaders;
    res.retry_after_ms = r->has_retry_after ? r->retry_after_ms : 0;
    if (!r->on_data) {
        if (r->body)
            r->body[r->body_len] = '\0';
        res.body = r->body ? r->body : "";
        res.body_len = r->body_len;
    }
    cb(ud, FU_HC_OK, NULL, &res);
    if (v != stack)
        free(v);
}

const char *fu_hc_header(const fu_hc_response_t *res, const char *name)
{
    for (uint32_t i = 0; res && i < res->nheaders; i++)
        if (strcasecmp(res->header_names[i], name) == 0)
            return res->header_values[i];
    return NULL;
}

int fu_hc_parse_buffer(const char *data, size_t len, size_t max_response, fu_hc_cb cb, void *ud)
{
    resp_t r;
    memset(&r, 0, sizeof(r));
    resp_begin(&r, "input", max_response ? max_response : 4u << 20, false);
    int rc = resp_feed(&r, data, len);
    if (rc == 0)
        rc = resp_eof(&r);
    if (rc == 1) {
        resp_deliver(&r, llhttp_should_keep_alive(&r.p) != 0, cb, ud);
    } else {
        if (r.kind == FU_HC_OK)
            resp_fail(&r, FU_HC_ERR_PROTOCOL, "input ended before the response did");
        cb(ud, r.kind, r.err, NULL);
    }
    resp_free(&r);
    return rc == 1 ? 0 : -1;
}

/* ---- TLS context and pins ---- */

SSL_CTX *fu_hc_ssl_ctx(const char *ca_file, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        setf(err, errlen, "cannot create a TLS client context: %s", ERR_reason_error_string(ERR_get_error()));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* Idle connections give their record buffers back: thousands of BMCs stay connected. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_default_verify_paths(ctx); /* a host without a system store still works with ca_file */
    ERR_clear_error();
    if (ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        unsigned long e = ERR_get_error();
        setf(err, errlen, "cannot load the CA file %s: %s", ca_file,
             e && ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unreadable or not PEM");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int fu_hc_parse_pin(const char *s, uint8_t out[32])
{
    if (s == NULL)
        return -1;
    size_t len = strlen(s);
    bool colons = len == 32 * 3 - 1;
    if (len != 64 && !colons)
        return -1;
    uint8_t tmp[32];
    for (size_t i = 0; i < 32; i++) {
        const char *q = s + (colons ? 3 * i : 2 * i);
        int hi = hexval(q[0]), lo = hexval(q[1]);
        if (hi < 0 || lo < 0 || (colons && i < 31 && q[2] != ':'))
            return -1;
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, tmp, 32);
    return 0;
}

/* ---- requests: finishing them ---- */

static void req_unlink_head(fu_hc_t *c)
{
    hreq_t *r = c->head;
    c->head = r->next;
    if (c->head == NULL)
        c->tail = NULL;
}

/* A request's copy of its headers may hold credentials (X-Auth-Token, Basic). */
static void hreq_free(hreq_t *q)
{
    if (q->r.headers)
        OPENSSL_cleanse((char *)q->r.headers, strlen(q->r.headers));
    free(q);
}

/* Ends the head request with an error; the connection is the caller's business. */
static void fail_head(fu_hc_t *c, fu_hc_err_t kind, const char *err)
{
    char msg[sizeof(c->err)];
    snprintf(msg, sizeof(msg), "%s", err); /* a callback may reuse c->err */
    hreq_t *r = c->head;
    req_unlink_head(c);
    resp_free(&c->rp);
    r->r.cb(r->r.ud, kind, msg, NULL);
    hreq_free(r);
}

/* Ends every queued request with one error (a connection that could not be made serves
 * none of them). Requests queued from inside the callbacks stay queued. */
static void fail_all(fu_hc_t *c, fu_hc_err_t kind, const char *err)
{
    char msg[sizeof(c->err)];
    snprintf(msg, sizeof(msg), "%s", err);
    conn_drop(c);
    resp_free(&c->rp);
    hreq_t *r = c->head;
    c->head = c->tail = NULL;
    while (r) {
        hreq_t *next = r->next;
        r->r.cb(r->r.ud, kind, msg, NULL);
        hreq_free(r);
        r = next;
    }
    kick(c);
}

static void fail_active(fu_hc_t *c, fu_hc_err_t kind, const char *err)
{
    conn_drop(c);
    fail_head(c, kind, err);
    kick(c);
}

/* ---- writing ---- */

static void conn_broken(fu_hc_t *c, int status);
static void pump_tls(fu_hc_t *c);

static void body_sent(fu_hc_t *c)
{
    if (c->state == ST_SENDING) {
        c->state = ST_READING;
        c->progress_deadline = uv_now(c->loop) + c->o.request_timeout_ms;
    }
}

static void on_written(uv_write_t *w, int status)
{
    wreq_t *q = (wreq_t *)w;
    fu_hc_t *c = q->c;
    bool stale = q->gen != c->gen, last = q->last;
    size_t len = q->len;
    free(q);
    if (stale)
        return; /* a dropped connection's write, cancelled */
    c->unsent -= len;
    if (status < 0) {
        conn_broken(c, status);
        return;
    }
    if (c->state == ST_SENDING || c->state == ST_READING)
        c->progress_deadline = uv_now(c->loop) + c->o.request_timeout_ms; /* an upload is progress */
    if (c->tls_on && c->state == ST_SENDING)
        pump_tls(c);
    else if (last)
        body_sent(c);
}

/* Queues bytes (copied) for the socket, after trying to write them at once. */
static int send_copy(fu_hc_t *c, const char *data, size_t len)
{
    if (c->unsent == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        }
        /* an error other than EAGAIN is reported again, asynchronously, by uv_write */
    }
    if (len == 0)
        return 0;
    wreq_t *q = malloc(sizeof(*q) + len);
    if (q == NULL)
        return UV_ENOMEM;
    q->c = c;
    q->gen = c->gen;
    q->len = len;
    q->last = false;
    memcpy(q->data, data, len);
    uv_buf_t b = uv_buf_init(q->data, (unsigned)len);
    int rc = uv_write(&q->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc != 0) {
        free(q);
        return rc;
    }
    c->unsent += len;
    return 0;
}

/* Moves TLS records from the write BIO to the socket. */
static int flush_tls(fu_hc_t *c)
{
    char buf[16384 + 512];
    size_t n;
    while ((n = fu_tls_pending_out(&c->tls)) > 0) {
        n = fu_tls_take_out(&c->tls, buf, n < sizeof(buf) ? n : sizeof(buf));
        c->stats.bytes_out += n;
        int rc = send_copy(c, buf, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* TLS bodies are encrypted a record at a time and only while little ciphertext waits, so
 * a large package is never held twice (plaintext mapped, ciphertext queued). */
static void pump_tls(fu_hc_t *c)
{
    const fu_hc_req_t *r = &c->head->r;
    uint32_t gen = c->gen;
    int rc = flush_tls(c); /* the head, on the first call */
    if (rc != 0) {
        conn_broken(c, rc);
        return;
    }
    while (c->send_iov < r->nbody && c->unsent < TLS_HIGH) {
        const fu_hc_iov_t *v = &r->body[c->send_iov];
        size_t n = v->len - c->send_off < TLS_PIECE ? v->len - c->send_off : TLS_PIECE;
        if (n && fu_tls_write(&c->tls, (const char *)v->base + c->send_off, n) != 0) {
            char why[200];
            setf(c->err, sizeof(c->err), "TLS with %s: %s", c->where, tls_reason(c, why, sizeof(why)));
            fail_active(c, FU_HC_ERR_TLS, c->err);
            return;
        }
        c->send_off += n;
        if (c->send_off == v->len) {
            c->send_iov++;
            c->send_off = 0;
        }
        rc = flush_tls(c);
        if (rc != 0) {
            conn_broken(c, rc);
            return;
        }
        if (c->gen != gen)
            return;
    }
    if (c->send_iov == r->nbody && c->unsent == 0)
        body_sent(c);
}

static bool method_has_body(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

/* The request head: Host, the caller's headers, Content-Length when there is a body. */
static char *build_head(fu_hc_t *c, const hreq_t *q, size_t body_len, size_t *len)
{
    const fu_hc_req_t *r = &q->r;
    size_t cap = strlen(r->method) + strlen(r->path) + strlen(c->host_hdr) +
                 (r->headers ? strlen(r->headers) : 0) + 96;
    char *h = malloc(cap);
    if (h == NULL)
        return NULL;
    int n = snprintf(h, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%s", r->method, r->path, c->host_hdr,
                     r->headers ? r->headers : "");
    if (body_len || r->nbody || method_has_body(r->method))
        n += snprintf(h + n, cap - (size_t)n, "Content-Length: %zu\r\n", body_len);
    n += snprintf(h + n, cap - (size_t)n, "\r\n");
    *len = (size_t)n;
    return h;
}

/* One uv_write of bufs; the wreq carries `data` (copied: the head) and counts len bytes. */
static int write_group(fu_hc_t *c, const uv_buf_t *bufs, size_t k, const char *data,
                       size_t data_len, size_t len, bool last)
{
    wreq_t *q = malloc(sizeof(*q) + data_len);
    if (q == NULL)
        return UV_ENOMEM;
    const uv_buf_t *use = bufs;
    uv_buf_t *tmp = NULL;
    if (data_len) { /* bufs[0] is the head: point it at the copy */
        memcpy(q->data, data, data_len);
        tmp = malloc(k * sizeof(*tmp));
        if (tmp == NULL) {
            free(q);
            return UV_ENOMEM;
        }
        memcpy(tmp, bufs, k * sizeof(*tmp));
        tmp[0] = uv_buf_init(q->data, (unsigned)data_len);
        use = tmp;
    }
    q->c = c;
    q->gen = c->gen;
    q->len = len;
    q->last = last;
    int rc = uv_write(&q->req, (uv_stream_t *)&c->tcp, use, (unsigned)k, on_written); /* copies bufs */
    free(tmp);
    if (rc != 0) {
        free(q);
        return rc;
    }
    c->unsent += len;
    c->stats.bytes_out += len;
    return 0;
}

/* Plain HTTP: the head and the body pieces, never copied, in writes of about 1 MiB each:
 * every completed write is progress, so a long upload to a slow BMC is not taken for a
 * hung one. */
static int send_plain(fu_hc_t *c, const char *head, size_t head_len)
{
    const fu_hc_req_t *r = &c->head->r;
    enum { GROUP = 1 << 20 };
    size_t nb = 1;
    for (uint32_t i = 0; i < r->nbody; i++)
        nb += r->body[i].len / IOV_MAX_LEN + 1;
    uv_buf_t *bufs = malloc(nb * sizeof(*bufs));
    if (bufs == NULL)
        return UV_ENOMEM;
    size_t k = 0, group_bytes = head_len;
    bool first = true;
    bufs[k++] = uv_buf_init((char *)head, (unsigned)head_len);
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < r->nbody; i++) {
        const char *p = r->body[i].base;
        size_t left = r->body[i].len;
        while (rc == 0 && left) {
            size_t n = left < GROUP ? left : GROUP;
            if (n > IOV_MAX_LEN)
                n = IOV_MAX_LEN;
            if (group_bytes + n > GROUP && k > 0) {
                rc = write_group(c, bufs, k, first ? head : NULL, first ? head_len : 0,
                                 group_bytes, false);
                first = false;
                k = 0;
                group_bytes = 0;
            }
            bufs[k++] = uv_buf_init((char *)p, (unsigned)n);
            group_bytes += n;
            p += n;
            left -= n;
        }
    }
    if (rc == 0)
        rc = write_group(c, bufs, k, first ? head : NULL, first ? head_len : 0, group_bytes, true);
    free(bufs);
    return rc;
}

static void on_data_hook(resp_t *r);

/* Puts the head request on the wire of a ready connection. */
static void send_request(fu_hc_t *c)
{
    hreq_t *q = c->head;
    size_t body_len = 0, head_len;
    for (uint32_t i = 0; i < q->r.nbody; i++)
        body_len += q->r.body[i].len;
    char *head = build_head(c, q, body_len, &head_len);
    if (head == NULL) {
        fail_active(c, FU_HC_ERR_CLOSED, "out of memory for a request");
        return;
    }
    c->state = ST_SENDING;
    c->stats.requests++;
    c->reused = c->conn_uses > 0;
    c->resp_bytes = 0;
    c->progress_deadline = uv_now(c->loop) + c->o.request_timeout_ms;
    resp_begin(&c->rp, c->where, c->o.max_response, strcmp(q->r.method, "HEAD") == 0);
    c->rp.on_data = q->r.on_data;
    c->rp.ud = q->r.ud;
    c->rp.on_head = on_data_hook;
    arm(c);
    int rc;
    if (!c->tls_on) {
        rc = send_plain(c, head, head_len);
        free(head);
        if (rc != 0)
            conn_broken(c, rc);
        return;
    }
    rc = fu_tls_write(&c->tls, head, head_len);
    free(head);
    if (rc != 0) {
        char why[200];
        setf(c->err, sizeof(c->err), "TLS with %s: %s", c->where, tls_reason(c, why, sizeof(why)));
        fail_active(c, FU_HC_ERR_TLS, c->err);
        return;
    }
    c->send_iov = 0;
    c->send_off = 0;
    pump_tls(c);
}

/* ---- receiving ---- */

/* Whether a 429/503 is to be waited out and sent again rather than returned. */
static bool will_retry(fu_hc_t *c, const resp_t *r)
{
    const hreq_t *q = c->head;
    int st = r->p.status_code;
    if ((st != 429 && st != 503) || !r->has_retry_after)
        return false;
    if (r->retry_after_ms > c->o.max_retry_after_ms || q->retries >= c->o.max_retry_after)
        return false;
    return q->r.total_timeout_ms == 0 ||
           uv_now(c->loop) + r->retry_after_ms < q->start + q->r.total_timeout_ms;
}

/* The head is complete: a response that will be retried keeps and streams nothing. */
static void on_data_hook(resp_t *r)
{
    fu_hc_t *c = (fu_hc_t *)((char *)r - offsetof(fu_hc_t, rp));
    if (will_retry(c, r))
        r->discard = true;
}

/* The answer to the head request is complete. can_keep is false when the connection
 * cannot serve another request (bytes after the answer, a body ended by close). */
static void complete(fu_hc_t *c, bool can_keep)
{
    resp_t *r = &c->rp;
    hreq_t *q = c->head;
    /* SENDING: answered before the body was out (an early 4xx): the stream is cut. */
    bool keep = can_keep && llhttp_should_keep_alive(&r->p) && c->state == ST_READING &&
                r->p.status_code != 101;
    if (keep) {
        c->state = ST_READY;
        c->conn_uses++;
        if (c->tls_on)
            fu_tls_trim(&c->tls);
    } else {
        conn_drop(c); /* Connection: close, or the body was cut short by an early answer */
    }
    if (r->discard) { /* Retry-After: the request waits at the head of the queue */
        c->stats.retries_after++;
        q->retries++;
        q->not_before = uv_now(c->loop) + r->retry_after_ms;
        resp_free(r);
        kick(c);
        return;
    }
    req_unlink_head(c);
    resp_deliver(r, keep, q->r.cb, q->r.ud);
    hreq_free(q);
    resp_free(r);
    kick(c);
}

/* Plaintext answer bytes. */
static void feed(fu_hc_t *c, const char *data, size_t len)
{
    if (c->state != ST_SENDING && c->state != ST_READING) {
        conn_drop(c); /* bytes nobody asked for: the connection is out of step */
        kick(c);
        return;
    }
    c->resp_bytes += len;
    c->progress_deadline = uv_now(c->loop) + c->o.request_timeout_ms;
    uint32_t gen = c->gen;
    int rc = resp_feed(&c->rp, data, len);
    if (c->closing || c->gen != gen || c->state == ST_IDLE)
        return; /* a reader (on_data) cancelled or closed the client */
    if (rc == 1) {
        const char *end = llhttp_get_error_pos(&c->rp.p);
        complete(c, end == NULL || end >= data + len);
    } else if (rc < 0) {
        fail_active(c, c->rp.kind, c->rp.err);
    }
}

/* The connection ended (EOF, reset, write error) while in use. */
static void conn_broken(fu_hc_t *c, int status)
{
    switch (c->state) {
    case ST_HANDSHAKE:
        /* The socket failed, not the TLS: a peer that hangs up mid-handshake (a BMC
         * resetting, a full accept queue) is a connection failure, and nothing was sent. */
        setf(c->err, sizeof(c->err), "connect to %s: %s during the TLS handshake", c->where,
             status == UV_EOF ? "connection closed by the peer" : uv_strerror(status));
        fail_all(c, FU_HC_ERR_CONNECT, c->err);
        return;
    case ST_SENDING:
    case ST_READING:
        break;
    default:
        conn_drop(c); /* an idle keep-alive connection the peer closed: reopened when needed */
        kick(c);
        return;
    }
    if (status == UV_EOF && c->resp_bytes > 0 && resp_eof(&c->rp) == 1) {
        complete(c, false); /* read until close */
        return;
    }
    if (c->resp_bytes == 0 && c->reused && !c->head->resent) {
        /* The peer closed a reused connection between requests: once more on a new one. */
        c->head->resent = true;
        conn_drop(c);
        kick(c);
        return;
    }
    if (status == UV_EOF)
        setf(c->err, sizeof(c->err), "connection closed by %s %s", c->where,
             c->resp_bytes ? "before the response ended" : "before any response");
    else
        setf(c->err, sizeof(c->err), "connection to %s failed %s: %s", c->where,
             c->resp_bytes ? "during the response" : "before any response",
             status == UV_ECONNRESET ? "reset by the peer" : uv_strerror(status));
    fail_active(c, FU_HC_ERR_CLOSED, c->err);
}

static void handshake_done(fu_hc_t *c)
{
    if (c->o.verify == FU_HC_VERIFY_PIN) {
        X509 *x = SSL_get1_peer_certificate(c->tls.ssl);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        bool ok = x && X509_digest(x, EVP_sha256(), md, &n) && n == 32 &&
                  CRYPTO_memcmp(md, c->o.pin, 32) == 0;
        X509_free(x);
        if (!ok) {
            char fp[32 * 3] = "none";
            for (unsigned i = 0; i < n && i < 32; i++)
                snprintf(fp + 3 * i, sizeof(fp) - 3 * i, "%02X%s", md[i], i + 1 < n ? ":" : "");
            setf(c->err, sizeof(c->err),
                 "TLS: certificate fingerprint %s of %s does not match the pinned one", fp, c->where);
            fail_all(c, FU_HC_ERR_TLS, c->err);
            return;
        }
    }
    c->state = ST_READY;
    arm(c);
    drive(c);
}

static void handshake_step(fu_hc_t *c)
{
    int rc = fu_tls_handshake(&c->tls);
    if (rc < 0) {
        char why[200];
        setf(c->err, sizeof(c->err), "TLS handshake with %s: %s", c->where, tls_reason(c, why, sizeof(why)));
        flush_tls(c); /* the alert, for the peer's log */
        fail_all(c, FU_HC_ERR_TLS, c->err);
        return;
    }
    int frc = flush_tls(c);
    if (frc != 0) {
        conn_broken(c, frc);
        return;
    }
    if (rc == 1)
        handshake_done(c);
}

static void on_tls_bytes(fu_hc_t *c, const char *data, size_t len)
{
    uint32_t gen = c->gen;
    fu_tls_feed(&c->tls, data, len);
    if (c->state == ST_HANDSHAKE) {
        handshake_step(c);
        if (c->gen != gen || c->closing || c->state == ST_HANDSHAKE)
            return;
    }
    char plain[16384];
    int got;
    while ((got = fu_tls_read(&c->tls, plain, sizeof(plain))) > 0) {
        feed(c, plain, (size_t)got);
        if (c->gen != gen || c->closing)
            return;
    }
    int rc = flush_tls(c); /* post-handshake messages, alerts */
    if (rc != 0) {
        conn_broken(c, rc);
    } else if (c->tls.failed) {
        if (SSL_get_shutdown(c->tls.ssl) & SSL_RECEIVED_SHUTDOWN) {
            conn_broken(c, UV_EOF); /* close_notify */
        } else {
            char why[200];
            setf(c->err, sizeof(c->err), "TLS with %s: %s", c->where, tls_reason(c, why, sizeof(why)));
            if (c->state == ST_SENDING || c->state == ST_READING)
                fail_active(c, FU_HC_ERR_TLS, c->err);
            else
                conn_broken(c, UV_EOF);
        }
    }
}

/* One read buffer for the whole loop: libuv hands it to on_read before it asks for the
 * next one, and on_read is done with the bytes when it returns (TLS copies them into its
 * BIO, the parser into the response). A malloc and free of 16 KiB per read cost a tenth
 * of the client's time with thousands of BMCs connected (a fragmented heap). */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char block[READ_SIZE];
    (void)h;
    (void)suggested;
    buf->base = block;
    buf->len = sizeof(block);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    fu_hc_t *c = s->data;
    if (n > 0) {
        c->stats.bytes_in += (uint64_t)n;
        if (c->tls_on)
            on_tls_bytes(c, buf->base, (size_t)n);
        else
            feed(c, buf->base, (size_t)n);
    } else if (n < 0) {
        conn_broken(c, (int)n);
    }
    (void)buf;
}

/* ---- connecting ---- */

static void on_connect(uv_connect_t *req, int status)
{
    fu_hc_t *c = req->data;
    if (status == UV_ECANCELED || c->state != ST_CONNECTING)
        return;
    if (status < 0) {
        setf(c->err, sizeof(c->err), "connect to %s: %s", c->where, uv_strerror(status));
        fail_all(c, FU_HC_ERR_CONNECT, c->err);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (!c->o.tls) {
        c->state = ST_READY;
        arm(c);
        drive(c);
        return;
    }
    if (fu_tls_conn_init(&c->tls, c->o.ssl_ctx, false) != 0) {
        setf(c->err, sizeof(c->err), "TLS with %s: out of memory", c->where);
        fail_all(c, FU_HC_ERR_TLS, c->err);
        return;
    }
    c->tls_on = true;
    SSL *ssl = c->tls.ssl;
    if (!c->name_is_ip)
        SSL_set_tlsext_host_name(ssl, c->name); /* RFC 6066: no SNI for an address */
    if (c->o.verify == FU_HC_VERIFY_CA) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (c->name_is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(vp, c->name);
        else
            X509_VERIFY_PARAM_set1_host(vp, c->name, 0);
        SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL); /* the pin is checked after the handshake */
    }
    c->state = ST_HANDSHAKE;
    handshake_step(c); /* the ClientHello */
}

static void start_connect(fu_hc_t *c)
{
    uv_tcp_init(c->loop, &c->tcp);
    c->tcp.data = c;
    c->handles++;
    c->connect.data = c;
    c->state = ST_CONNECTING;
    int rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&c->addr, on_connect);
    if (rc != 0) {
        setf(c->err, sizeof(c->err), "connect to %s: %s", c->where, uv_strerror(rc));
        fail_all(c, FU_HC_ERR_CONNECT, c->err);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolver_t *rs = (resolver_t *)req;
    fu_hc_t *c = rs->c;
    free(rs);
    if (c == NULL) { /* dropped while resolving */
        uv_freeaddrinfo(res);
        return;
    }
    c->resolver = NULL;
    c->state = ST_IDLE;
    if (status < 0 || res == NULL) {
        uv_freeaddrinfo(res);
        setf(c->err, sizeof(c->err), "connect to %s: cannot resolve %s: %s", c->where, c->host,
             uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        fail_all(c, FU_HC_ERR_CONNECT, c->err);
        return;
    }
    memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
    start_connect(c);
}

/* Opens a connection for the queue: resolves first unless the host is an address. */
static void conn_open(fu_hc_t *c)
{
    c->stats.connects++;
    if (c->had_conn)
        c->stats.reconnects++;
    c->had_conn = true;
    c->conn_uses = 0;
    c->phase_deadline = uv_now(c->loop) + c->o.connect_timeout_ms;
    if (c->host_is_ip) {
        start_connect(c);
    } else {
        resolver_t *rs = calloc(1, sizeof(*rs));
        char port[8];
        snprintf(port, sizeof(port), "%u", c->o.port);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        int rc = rs ? uv_getaddrinfo(c->loop, &rs->req, on_resolved, c->host, port, &hints) : UV_ENOMEM;
        if (rc != 0) {
            free(rs);
            setf(c->err, sizeof(c->err), "connect to %s: cannot resolve %s: %s", c->where, c->host,
                 uv_strerror(rc));
            fail_all(c, FU_HC_ERR_CONNECT, c->err);
            return;
        }
        rs->c = c;
        c->resolver = rs;
        c->state = ST_RESOLVING;
    }
    if (c->state != ST_IDLE)
        arm(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    fu_hc_t *c = h->data;
    if (h == (uv_handle_t *)&c->tcp) {
        if (c->tls_on)
            fu_tls_conn_free(&c->tls);
        c->tls_on = false;
        c->state = ST_IDLE;
        if (!c->closing)
            kick(c); /* the queue may be waiting for a new connection */
    }
    if (--c->handles == 0 && c->closing) {
        void (*cb)(void *) = c->closed_cb;
        void *ud = c->closed_ud;
        resp_free(&c->rp);
        free(c->host);
        free(c->name);
        free(c);
        if (cb)
            cb(ud);
    }
}

/* Lets the connection go: stale callbacks recognise themselves by the generation. */
static void conn_drop(fu_hc_t *c)
{
    c->gen++;
    c->unsent = 0;
    c->rp.stop = true;
    uv_timer_stop(&c->timer);
    switch (c->state) {
    case ST_IDLE:
    case ST_CLOSING:
        return;
    case ST_RESOLVING:
        c->resolver->c = NULL;
        c->resolver = NULL;
        c->state = ST_IDLE;
        return;
    default:
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        c->state = ST_CLOSING;
    }
}

/* ---- deadlines ---- */

static uint64_t total_deadline(const hreq_t *q)
{
    return q && q->r.total_timeout_ms ? q->start + q->r.total_timeout_ms : UINT64_MAX;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void on_deadline(uv_timer_t *t);

/* The timer follows the phase: connect (and the head's total deadline), progress of the
 * answer (and the total deadline), or the idle close of a keep-alive connection. */
static void arm(fu_hc_t *c)
{
    uint64_t due;
    switch (c->state) {
    case ST_RESOLVING:
    case ST_CONNECTING:
    case ST_HANDSHAKE:
        due = min_u64(c->phase_deadline, total_deadline(c->head));
        break;
    case ST_SENDING:
    case ST_READING:
        due = min_u64(c->progress_deadline, total_deadline(c->head));
        break;
    case ST_READY:
        due = uv_now(c->loop) + c->o.idle_close_ms;
        if (c->head)
            due = min_u64(due, total_deadline(c->head));
        break;
    default:
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = uv_now(c->loop);
    uv_timer_start(&c->timer, on_deadline, due > now ? due - now : 0, 0);
}

static void total_timeout_msg(fu_hc_t *c)
{
    char d[32];
    setf(c->err, sizeof(c->err), "timeout: no complete response from %s within the total deadline of %s",
         c->where, dur(c->head->r.total_timeout_ms, d, sizeof(d)));
}

static void on_deadline(uv_timer_t *t)
{
    fu_hc_t *c = t->data;
    uint64_t now = uv_now(c->loop);
    char d[32];
    switch (c->state) {
    case ST_RESOLVING:
    case ST_CONNECTING:
    case ST_HANDSHAKE:
        if (now >= c->phase_deadline) {
            setf(c->err, sizeof(c->err), "timeout: %s %s took more than %s",
                 c->state == ST_HANDSHAKE ? "TLS handshake with" : "connect to", c->where,
                 dur(c->o.connect_timeout_ms, d, sizeof(d)));
            fail_all(c, FU_HC_ERR_TIMEOUT, c->err);
            return;
        }
        if (c->head && now >= total_deadline(c->head)) {
            total_timeout_msg(c);
            fail_head(c, FU_HC_ERR_TIMEOUT, c->err);
            if (c->closing)
                return;
            if (c->head == NULL)
                conn_drop(c); /* nobody waits for this connection any more */
            kick(c);
        }
        break;
    case ST_SENDING:
    case ST_READING:
        if (now >= c->progress_deadline) {
            if (c->resp_bytes == 0)
                setf(c->err, sizeof(c->err), "timeout: no response from %s within %s", c->where,
                     dur(c->o.request_timeout_ms, d, sizeof(d)));
            else
                setf(c->err, sizeof(c->err), "timeout: the response from %s stalled for %s", c->where,
                     dur(c->o.request_timeout_ms, d, sizeof(d)));
            fail_active(c, FU_HC_ERR_TIMEOUT, c->err);
            return;
        }
        if (now >= total_deadline(c->head)) {
            total_timeout_msg(c);
            fail_active(c, FU_HC_ERR_TIMEOUT, c->err);
            return;
        }
        break;
    case ST_READY:
        if (c->head == NULL) {
            conn_drop(c); /* idle too long */
            return;
        }
        kick(c); /* a waiting request's total deadline: drive() ends it */
        return;
    default:
        return;
    }
    arm(c);
}

/* ---- the queue ---- */

static void on_wake(uv_timer_t *t)
{
    drive(t->data);
}

static void kick(fu_hc_t *c)
{
    if (!c->closing)
        uv_timer_start(&c->wake, on_wake, 0, 0);
}

/* Decides what the connection does next: open, send the head request, wait out a
 * Retry-After, or sit idle. Events call it; fu_hc_request() only kicks it. */
static void drive(fu_hc_t *c)
{
    uint64_t now = uv_now(c->loop);
    while (!c->closing && c->head && c->state != ST_SENDING && c->state != ST_READING &&
           now >= total_deadline(c->head)) {
        total_timeout_msg(c);
        fail_head(c, FU_HC_ERR_TIMEOUT, c->err);
    }
    if (c->closing)
        return;
    hreq_t *q = c->head;
    if (q && q->not_before > now && (c->state == ST_IDLE || c->state == ST_READY)) {
        uint64_t at = min_u64(q->not_before, total_deadline(q));
        uv_timer_start(&c->wake, on_wake, at - now, 0);
        if (c->state == ST_READY)
            arm(c);
        return;
    }
    switch (c->state) {
    case ST_IDLE:
        if (q)
            conn_open(c);
        break;
    case ST_READY:
        if (q)
            send_request(c);
        else
            arm(c);
        break;
    default:
        break;
    }
}

fu_hc_t *fu_hc_new(uv_loop_t *loop, const fu_hc_opts_t *opts)
{
    if (opts->host == NULL || (opts->tls && opts->ssl_ctx == NULL))
        return NULL;
    fu_hc_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->o = *opts;
    c->host = strdup(opts->host);
    c->name = strdup(opts->server_name ? opts->server_name : opts->host);
    if (c->host == NULL || c->name == NULL) {
        free(c->host);
        free(c->name);
        free(c);
        return NULL;
    }
    c->o.host = c->host;
    c->o.server_name = c->name;
    if (!c->o.connect_timeout_ms)
        c->o.connect_timeout_ms = 10000;
    if (!c->o.request_timeout_ms)
        c->o.request_timeout_ms = 30000;
    if (!c->o.idle_close_ms)
        c->o.idle_close_ms = 60000;
    if (!c->o.max_response)
        c->o.max_response = 4u << 20;
    if (!c->o.max_retry_after)
        c->o.max_retry_after = 3;
    if (!c->o.max_retry_after_ms)
        c->o.max_retry_after_ms = 60000;
    c->host_is_ip = uv_ip4_addr(c->host, c->o.port, (struct sockaddr_in *)&c->addr) == 0 ||
                    uv_ip6_addr(c->host, c->o.port, (struct sockaddr_in6 *)&c->addr) == 0;
    c->name_is_ip = is_ip(c->name);
    bool v6 = strchr(c->host, ':') != NULL;
    snprintf(c->where, sizeof(c->where), "%s%s%s:%u", v6 ? "[" : "", c->host, v6 ? "]" : "", c->o.port);
    if (c->o.port == (c->o.tls ? 443 : 80))
        snprintf(c->host_hdr, sizeof(c->host_hdr), "%s%s%s", v6 ? "[" : "", c->host, v6 ? "]" : "");
    else
        snprintf(c->host_hdr, sizeof(c->host_hdr), "%s", c->where);
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->wake);
    c->timer.data = c->wake.data = c;
    c->handles = 2;
    return c;
}

int fu_hc_request(fu_hc_t *c, const fu_hc_req_t *req)
{
    if (c->closing || req->cb == NULL || req->method == NULL || req->path == NULL)
        return -1;
    size_t ml = strlen(req->method) + 1, pl = strlen(req->path) + 1;
    size_t hl = req->headers ? strlen(req->headers) + 1 : 0;
    hreq_t *q = calloc(1, sizeof(*q) + ml + pl + hl);
    if (q == NULL)
        return -1;
    q->r = *req;
    q->r.method = memcpy(q->text, req->method, ml);
    q->r.path = memcpy(q->text + ml, req->path, pl);
    q->r.headers = hl ? memcpy(q->text + ml + pl, req->headers, hl) : NULL;
    q->start = uv_now(c->loop);
    if (c->tail)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    kick(c);
    return 0;
}

/* keep_idle: a connection with nothing on the wire stays open for the next request (a
 * BMC's session DELETE after its last phase would otherwise cost a new TLS handshake). */
static void cancel_all(fu_hc_t *c, bool keep_idle)
{
    if (!keep_idle || c->state != ST_READY)
        conn_drop(c);
    resp_free(&c->rp);
    hreq_t *q = c->head;
    c->head = c->tail = NULL;
    while (q) {
        hreq_t *next = q->next;
        q->r.cb(q->r.ud, FU_HC_ERR_CANCELLED, "cancelled", NULL);
        hreq_free(q);
        q = next;
    }
    if (!c->closing && c->state == ST_READY)
        arm(c); /* the idle deadline, not a cancelled request's */
}

void fu_hc_cancel(fu_hc_t *c)
{
    if (c->closing)
        return;
    uv_timer_stop(&c->wake);
    cancel_all(c, true);
}

void fu_hc_close(fu_hc_t *c, void (*closed_cb)(void *ud), void *ud)
{
    if (c->closing)
        return;
    c->closing = true; /* fu_hc_request() from the callbacks below is refused */
    c->closed_cb = closed_cb;
    c->closed_ud = ud;
    uv_timer_stop(&c->wake);
    cancel_all(c, false);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->wake, on_handle_closed);
}

void fu_hc_stats(const fu_hc_t *c, fu_hc_stats_t *out)
{
    *out = c->stats;
}

int fu_hc_local_address(const fu_hc_t *c, char *buf, size_t len)
{
    if (c->state < ST_HANDSHAKE || c->state == ST_CLOSING)
        return -1;
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    const void *a = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                             : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
    return uv_inet_ntop(ss.ss_family, a, buf, len) == 0 ? 0 : -1;
}
