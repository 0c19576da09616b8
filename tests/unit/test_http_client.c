/* The HTTP/1.1 client against servers on loopback in the same loop: small scripted raw
 * servers for the protocol cases (closes, hangs, Retry-After, limits), fleetup's own
 * HTTPS server for TLS (pins, CA files, host names), and fu_hc_parse_buffer/_parse_pin. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/server.h"
#include "http/tls.h"
#include "transports/http_client.h"

static bool g_in_request; /* callbacks must never run inside fu_hc_request() */

/* ---- results ---- */

typedef struct {
    bool done;
    int calls;
    fu_hc_err_t kind;
    char err[512];
    int status;
    char *body;
    size_t body_len;
    bool body_null;
    uint64_t retry_after_ms;
    bool keep_alive;
    char ctype[128];
    uint64_t at; /* uv_hrtime() of the callback */
} result_t;

static void on_result(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res)
{
    result_t *r = ud;
    assert_false(g_in_request);
    r->calls++;
    r->done = true;
    r->kind = kind;
    r->at = uv_hrtime();
    snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
    if (kind == FU_HC_OK) {
        assert_null(err);
        assert_non_null(res);
        r->status = res->status;
        r->body_null = res->body == NULL;
        free(r->body);
        r->body = NULL;
        if (res->body) {
            r->body = malloc(res->body_len + 1);
            memcpy(r->body, res->body, res->body_len + 1);
        }
        r->body_len = res->body_len;
        r->retry_after_ms = res->retry_after_ms;
        r->keep_alive = res->keep_alive;
        const char *ct = fu_hc_header(res, "Content-Type");
        snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
    } else {
        assert_non_null(err);
        assert_null(res);
    }
}

static void result_free(result_t *r)
{
    free(r->body);
    r->body = NULL;
}

static int request(fu_hc_t *c, const char *method, const char *path, result_t *r)
{
    fu_hc_req_t rq = {.method = method, .path = path, .cb = on_result, .ud = r};
    g_in_request = true;
    int rc = fu_hc_request(c, &rq);
    g_in_request = false;
    return rc;
}

/* ---- the loop ---- */

static void noop_timer(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag or ms pass (a watchdog timer keeps it from blocking). */
static void run_until(uv_loop_t *loop, const bool *flag, uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, noop_timer, ms, 0);
    uint64_t end = uv_now(loop) + ms;
    while ((flag == NULL || !*flag) && uv_now(loop) < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void set_flag(void *ud)
{
    *(bool *)ud = true;
}

static void client_close(uv_loop_t *loop, fu_hc_t *c)
{
    bool closed = false;
    fu_hc_close(c, set_flag, &closed);
    run_until(loop, &closed, 5000);
    assert_true(closed);
}

static uint64_t ms_since(uint64_t t0)
{
    return (uv_hrtime() - t0) / 1000000;
}

/* ---- a scripted raw server ---- */

typedef struct srv_s srv_t;
typedef struct sconn_s {
    uv_tcp_t tcp;
    srv_t *s;
    char *buf;
    size_t len, cap;
    struct sconn_s *next;
    bool closing;
} sconn_t;

/* n: the request's number on this server, from 0. */
typedef void (*srv_handler_t)(srv_t *s, sconn_t *k, int n, const char *head, const char *body,
                              size_t body_len);

struct srv_s {
    uv_loop_t *loop;
    uv_tcp_t lis;
    uint16_t port;
    int accepts, requests, open;
    bool lis_closed;
    srv_handler_t handler;
    sconn_t *conns;
    char *last_body;
    size_t last_body_len;
};

typedef struct {
    uv_write_t w;
    sconn_t *k;
    bool close_after;
    char data[];
} swr_t;

static void sconn_closed(uv_handle_t *h)
{
    sconn_t *k = h->data;
    k->s->open--;
    free(k->buf);
    free(k);
}

static void srv_drop(sconn_t *k)
{
    if (k->closing)
        return;
    k->closing = true;
    for (sconn_t **pp = &k->s->conns; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    uv_close((uv_handle_t *)&k->tcp, sconn_closed);
}

static void swr_done(uv_write_t *w, int status)
{
    swr_t *q = (swr_t *)w;
    (void)status;
    if (q->close_after)
        srv_drop(q->k);
    free(q);
}

static void srv_write(sconn_t *k, const char *data, size_t len, bool close_after)
{
    if (k->closing)
        return;
    swr_t *q = malloc(sizeof(*q) + len);
    q->k = k;
    q->close_after = close_after;
    memcpy(q->data, data, len);
    uv_buf_t b = uv_buf_init(q->data, (unsigned)len);
    assert_int_equal(uv_write(&q->w, (uv_stream_t *)&k->tcp, &b, 1, swr_done), 0);
}

static void srv_send(sconn_t *k, const char *s)
{
    srv_write(k, s, strlen(s), false);
}

static void srv_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b)
{
    (void)h;
    (void)sug;
    b->base = malloc(65536);
    b->len = 65536;
}

/* Hands every complete request (head, and a Content-Length body) to the handler. */
static void srv_parse(sconn_t *k)
{
    for (;;) {
        char *end = k->len ? memmem(k->buf, k->len, "\r\n\r\n", 4) : NULL;
        if (end == NULL)
            return;
        size_t head_len = (size_t)(end - k->buf) + 4;
        char *head = strndup(k->buf, head_len);
        size_t cl = 0;
        char *p = strcasestr(head, "\r\ncontent-length:");
        if (p)
            cl = strtoul(p + 17, NULL, 10);
        if (k->len < head_len + cl) {
            free(head);
            return;
        }
        srv_t *s = k->s;
        free(s->last_body);
        s->last_body = malloc(cl + 1);
        memcpy(s->last_body, k->buf + head_len, cl);
        s->last_body_len = cl;
        memmove(k->buf, k->buf + head_len + cl, k->len - head_len - cl);
        k->len -= head_len + cl;
        int n = s->requests++;
        s->handler(s, k, n, head, s->last_body, cl);
        free(head);
        if (k->closing)
            return;
    }
}

static void srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    sconn_t *k = st->data;
    if (n < 0) {
        srv_drop(k);
    } else if (n > 0 && !k->closing) {
        if (k->len + (size_t)n > k->cap) {
            k->cap = (k->len + (size_t)n) * 2;
            k->buf = realloc(k->buf, k->cap);
        }
        memcpy(k->buf + k->len, b->base, (size_t)n);
        k->len += (size_t)n;
        srv_parse(k);
    }
    free(b->base);
}

static void srv_accept(uv_stream_t *l, int status)
{
    srv_t *s = l->data;
    assert_int_equal(status, 0);
    sconn_t *k = calloc(1, sizeof(*k));
    k->s = s;
    uv_tcp_init(s->loop, &k->tcp);
    k->tcp.data = k;
    s->open++;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&k->tcp), 0);
    s->accepts++;
    k->next = s->conns;
    s->conns = k;
    uv_read_start((uv_stream_t *)&k->tcp, srv_alloc, srv_read);
}

static void srv_start(srv_t *s, uv_loop_t *loop, srv_handler_t h)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->handler = h;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(loop, &s->lis);
    s->lis.data = s;
    assert_int_equal(uv_tcp_bind(&s->lis, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->lis, 64, srv_accept), 0);
    int len = sizeof(sa);
    uv_tcp_getsockname(&s->lis, (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.sin_port);
}

static void srv_drop_all(srv_t *s)
{
    while (s->conns)
        srv_drop(s->conns);
}

static void lis_closed(uv_handle_t *h)
{
    ((srv_t *)h->data)->lis_closed = true;
}

static void srv_stop(srv_t *s)
{
    srv_drop_all(s);
    uv_close((uv_handle_t *)&s->lis, lis_closed);
    while (!s->lis_closed || s->open > 0)
        uv_run(s->loop, UV_RUN_ONCE);
    free(s->last_body);
}

static void loop_done(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(loop), 0); /* every handle closed */
}

static fu_hc_opts_t plain_opts(uint16_t port)
{
    fu_hc_opts_t o;
    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = port;
    o.connect_timeout_ms = 3000;
    o.request_timeout_ms = 5000;
    return o;
}

/* ---- handlers ---- */

static void h_basic(srv_t *s, sconn_t *k, int n, const char *head, const char *body, size_t len)
{
    (void)s;
    (void)n;
    (void)body;
    (void)len;
    if (strncmp(head, "GET /chunked ", 13) == 0)
        srv_send(k, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/x\r\n\r\n"
                    "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    else if (strncmp(head, "HEAD ", 5) == 0)
        srv_send(k, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    else if (strncmp(head, "GET /close ", 11) == 0)
        srv_send(k, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye");
    else if (strncmp(head, "GET /eof ", 9) == 0)
        srv_write(k, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close", 49, true);
    else if (strncmp(head, "GET /big ", 9) == 0)
        srv_send(k, "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n");
    else if (strncmp(head, "GET /bigchunks ", 15) == 0) {
        char chunk[900];
        srv_send(k, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 2; i++) {
            memset(chunk, 'x', sizeof(chunk));
            srv_send(k, "320\r\n");
            srv_write(k, chunk, 800, false);
            srv_send(k, "\r\n");
        }
        srv_send(k, "0\r\n\r\n");
    } else {
        assert_non_null(strstr(head, "\r\nHost: 127.0.0.1:"));
        srv_send(k, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello");
    }
}

/* ---- tests: plain HTTP ---- */

static void test_get_bodies(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_basic);
    fu_hc_opts_t o = plain_opts(s.port);
    fu_hc_t *c = fu_hc_new(&loop, &o);
    result_t r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
    assert_int_equal(request(c, "GET", "/", &r1), 0);
    assert_int_equal(request(c, "GET", "/chunked", &r2), 0);
    assert_int_equal(request(c, "HEAD", "/", &r3), 0);
    assert_int_equal(request(c, "GET", "/eof", &r4), 0);
    assert_false(r1.done); /* never from inside fu_hc_request() */
    run_until(&loop, &r4.done, 5000);
    assert_int_equal(r1.kind, FU_HC_OK);
    assert_int_equal(r1.status, 200);
    assert_string_equal(r1.body, "hello");
    assert_string_equal(r1.ctype, "text/plain");
    assert_true(r1.keep_alive);
    assert_int_equal(r2.kind, FU_HC_OK);
    assert_string_equal(r2.body, "hello world");
    assert_string_equal(r2.ctype, "text/x");
    assert_int_equal(r3.kind, FU_HC_OK);
    assert_int_equal(r3.body_len, 0); /* HEAD: Content-Length 100 but no body */
    assert_int_equal(r4.kind, FU_HC_OK);
    assert_string_equal(r4.body, "until close");
    assert_false(r4.keep_alive);
    assert_true(r1.at <= r2.at && r2.at <= r3.at && r3.at <= r4.at); /* FIFO */
    fu_hc_stats_t st;
    fu_hc_stats(c, &st);
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.requests, 4);
    assert_int_equal(s.accepts, 1);
    assert_true(st.bytes_in > 0 && st.bytes_out > 0);
    client_close(&loop, c);
    srv_stop(&s);
    loop_done(&loop);
    result_free(&r1);
    result_free(&r2);
    result_free(&r3);
    result_free(&r4);
}

static void test_keepalive_and_close(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_basic);
    fu_hc_opts_t o = plain_opts(s.port);
    fu_hc_t *c = fu_hc_new(&loop, &o);
    result_t r[5] = {{0}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(request(c, "GET", "/", &r[i]), 0);
        run_until(&loop, &r[i].done, 5000);
        assert_int_equal(r[i].status, 200);
    }
    fu_hc_stats_t st;
    fu_hc_stats(c, &st);
    assert_int_equal(st.connects, 1);
    assert_int_equal(s.accepts, 1);
    /* Cancelling with nothing queued keeps the idle connection (a node's closing DELETE
     * goes out on it): the next request makes no new connection. */
    fu_hc_cancel(c);
    result_t rc = {0};
    assert_int_equal(request(c, "GET", "/", &rc), 0);
    run_until(&loop, &rc.done, 5000);
    assert_int_equal(rc.status, 200);
    result_free(&rc);
    fu_hc_stats(c, &st);
    assert_int_equal(st.connects, 1);
    assert_int_equal(s.accepts, 1);
    /* Connection: close is honoured: the next request opens a new connection. */
    assert_int_equal(request(c, "GET", "/close", &r[3]), 0);
    run_until(&loop, &r[3].done, 5000);
    assert_string_equal(r[3].body, "bye");
    assert_false(r[3].keep_alive);
    assert_int_equal(request(c, "GET", "/", &r[4]), 0);
    run_until(&loop, &r[4].done, 5000);
    assert_int_equal(r[4].status, 200);
    fu_hc_stats(c, &st);
    assert_int_equal(st.connects, 2);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(s.accepts, 2);
    client_close(&loop, c);
    srv_stop(&s);
    loop_done(&loop);
    for (int i = 0; i < 5; i++)
        result_free(&r[i]);
}

static void test_reconnect_after_idle_close(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_basic);
    fu_hc_opts_t o = plain_opts(s.port);
    fu_hc_t *c = fu_hc_new(&loop, &o);
    result_t r1 = {0}, r2 = {0};
    request(c, "GET", "/", &r1);
    run_until(&loop, &r1.done, 5000);
    assert_int_equal(r1.status, 200);
    srv_drop_all(&s); /* the server's idle timeout */
    run_until(&loop, NULL, 100);
    request(c, "GET", "/", &r2);
    run_until(&loop, &r2.done, 5000);
    assert_int_equal(r2.kind, FU_HC_OK);
    assert_int_equal(r2.status, 200);
    fu_hc_stats_t st;
    fu_hc_stats(c, &st);
    assert_int_equal(st.connects, 2);
    assert_int_equal(s.accepts, 2);
    assert_int_equal(s.requests, 2); /* the close was seen while idle: nothing resent */
    client_close(&loop, c);
    srv_stop(&s);
    loop_done(&loop);
    result_free(&r1);
    result_free(&r2);
}

/* Request 1 is answered; request 2 arrives and the server closes without a word (its idle
 * timeout crossing the request); the client sends it once more on a new connection. */
static void h_close_second(srv_t *s, sconn_t *k, int n, const char *head, const char *body, size_t len)
{
    (void)s;
    (void)head;
    (void)body;
    (void)len;
    if (n == 1)
        srv_drop(k);
    else
        srv_send(k, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

static void h_close_all(srv_t *s, sconn_t *k, int n, const char *head, const char *body, size_t len)
{
    (void)s;
    (void)n;
    (void)head;
    (void)body;
    (void)len;
    srv_drop(k);
}

static void test_resend_on_reused_connection(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_close_second);
    fu_hc_opts_t o = plain_opts(s.port);
    fu_hc_t *c = fu_hc_new(&loop, &o);
    result_t r1 = {0}, r2 = {0};
    request(c, "GET", "/", &r1);
    run_until(&loop, &r1.done, 5000);
    assert_int_equal(r1.status, 200);
    request(c, "GET", "/", &r2);
    run_until(&loop, &r2.done, 5000);
    assert_int_equal(r2.kind, FU_HC_OK);
    assert_string_equal(r2.body, "ok");
    assert_int_equal(s.requests, 3);
    assert_int_equal(s.accepts, 2);
    client_close(&loop, c);
    srv_stop(&s);

    /* On a fresh connection the same silence is an error, not a resend. */
    srv_start(&s, &loop, h_close_all);
    o = plain_opts(s.port);
    c = fu_hc_new(&loop, &o);
    result_t r3 = {0};
    request(c, "GET", "/", &r3);
    run_until(&loop, &r3.done, 5000);
    assert_int_equal(r3.kind, FU_HC_ERR_CLOSED);
    char want[128];
    snprintf(want, sizeof(want), "connection closed by 127.0.0.1:%u", s.port);
    assert_non_null(strstr(r3.err, want));
    assert_int_equal(s.requests, 1);
    assert_int_equal(r3.calls, 1);
    client_close(&loop, c);
    srv_stop(&s);
    loop_done(&loop);
    result_free(&r1);
    result_free(&r2);
}

static void test_connection_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_basic);
    uint16_t port = s.port;
    srv_stop(&s); /* the port is now closed */
    fu_hc_opts_t o = plain_opts(port);
    fu_hc_t *c = fu_hc_new(&loop, &o);
    result_t r1 = {0}, r2 = {0};
    request(c, "GET", "/", &r1);
    request(c, "GET", "/", &r2);
    run_until(&loop, &r2.done, 5000);
    assert_int_equal(r1.kind, FU_HC_ERR_CONNECT);
    assert_int_equal(r2.kind, FU_HC_ERR_CONNECT);
    char want[128];
    snprintf(want, sizeof(want), "connect to 127.0.0.1:%u: connection refused", port);
    assert_string_equal(r1.err, want);
    client_close(&loop, c);
    loop_done(&loop);
}

static void h_hang(srv_t *s, sconn_t *k, int n, const char *head, const char *body, size_t len)
{
    (void)s;
    (void)k;
    (void)n;
    (void)head;
    (void)body;
    (void)len;
}

static void test_timeouts(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_hang);
    fu_hc_opts_t o = plain_opts(s.port);
    o.request_timeout_ms = 300;
    fu_hc_t *c = fu_hc_new(&loop, &o);
    result_t r1 = {0};
    uint64_t t0 = uv_hrtime();
    request(c, "GET", "/", &r1);
    run_until(&loop, &r1.done, 5000);
    assert_int_equal(r1.kind, FU_HC_ERR_TIMEOUT);
    char want[128];
    snprintf(want, sizeof(want), "timeout: no response from 127.0.0.1:%u within 300 ms", s.port);
    assert_string_equal(r1.err, want);
    uint64_t took = (r1.at - t0) / 1000000;
    assert_true(took >= 250 && took < 2000);

    /* The total deadline cuts a request whose per-request deadline is far away. */
    fu_hc_t *c2;
    o.request_timeout_ms = 10000;
    c2 = fu_hc_new(&loop, &o);
    result_t r2 = {0};
    fu_hc_req_t rq = {.method = "GET", .path = "/", .total_timeout_ms = 200, .cb = on_result, .ud = &r2};
    t0 = uv_hrtime();
    fu_hc_request(c2, &rq);
    run_until(&loop, &r2.done, 5000);
    assert_int_equal(r2.kind, FU_HC_ERR_TIMEOUT);
    assert_non_null(strstr(r2.err, "total deadline of 200 ms"));
    took = (r2.at - t0) / 1000000;
    assert_true(took >= 150 && took < 2000);

    /* fu_hc_close ends what is queued and running, once each, with CANCELLED. */
    result_t r3 = {0}, r4 = {0};
    request(c2, "GET", "/", &r3);
    request(c2, "GET", "/", &r4);
    run_until(&loop, NULL, 50);
    assert_false(r3.done);
    bool closed = false;
    fu_hc_close(c2, set_flag, &closed);
    assert_int_equal(r3.kind, FU_HC_ERR_CANCELLED);
    assert_int_equal(r4.kind, FU_HC_ERR_CANCELLED);
    assert_int_equal(request(c2, "GET", "/", &r1), -1);
    run_until(&loop, &closed, 5000);
    assert_true(closed);
    assert_int_equal(r3.calls, 1);
    assert_int_equal(r4.calls, 1);
    client_close(&loop, c);
    srv_stop(&s);
    loop_done(&loop);
}

static void h_retry(srv_t *s, sconn_t *k, int n, const char *head, const char *body, size_t len)
{
    (void)s;
    (void)head;
    (void)body;
    (void)len;
    if (n == 0 || strncmp(head, "GET /busy ", 10) == 0)
        srv_send(k, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy");
    else
        srv_send(k, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

typedef struct {
    result_t r;
    size_t got;
} counted_t;

static int count_data(void *ud, const char *p, size_t n)
{
    (void)p;
    ((counted_t *)ud)->got += n;
    return 0;
}

static void counted_done(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res)
{
    on_result(&((counted_t *)ud)->r, kind, err, res);
}

static void test_retry_after(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_retry);
    fu_hc_opts_t o = plain_opts(s.port);
    fu_hc_t *c = fu_hc_new(&loop, &o);
    result_t r1 = {0};
    uint64_t t0 = uv_hrtime();
    request(c, "GET", "/", &r1);
    run_until(&loop, &r1.done, 5000);
    assert_int_equal(r1.kind, FU_HC_OK);
    assert_int_equal(r1.status, 200);
    assert_string_equal(r1.body, "ok");
    assert_true(ms_since(t0) >= 900);
    fu_hc_stats_t st;
    fu_hc_stats(c, &st);
    assert_int_equal(st.retries_after, 1);
    assert_int_equal(s.requests, 2);
    client_close(&loop, c);

    /* Longer than max_retry_after_ms: the 503 goes to the caller with retry_after_ms. */
    o.max_retry_after_ms = 500;
    c = fu_hc_new(&loop, &o);
    result_t r2 = {0};
    request(c, "GET", "/busy", &r2);
    run_until(&loop, &r2.done, 5000);
    assert_int_equal(r2.kind, FU_HC_OK);
    assert_int_equal(r2.status, 503);
    assert_int_equal(r2.retry_after_ms, 1000);
    assert_string_equal(r2.body, "busy");
    fu_hc_stats(c, &st);
    assert_int_equal(st.retries_after, 0);
    client_close(&loop, c);

    /* At most max_retry_after times; a retried answer's body is not streamed to on_data,
     * the one returned is. */
    o.max_retry_after_ms = 0;
    o.max_retry_after = 1;
    c = fu_hc_new(&loop, &o);
    counted_t r3 = {0};
    fu_hc_req_t rq = {.method = "GET", .path = "/busy", .on_data = count_data, .cb = counted_done, .ud = &r3};
    fu_hc_request(c, &rq);
    run_until(&loop, &r3.r.done, 5000);
    assert_int_equal(r3.r.status, 503);
    assert_true(r3.r.body_null);
    assert_int_equal(r3.got, 4);
    fu_hc_stats(c, &st);
    assert_int_equal(st.retries_after, 1);
    assert_int_equal(st.requests, 2);
    client_close(&loop, c);
    srv_stop(&s);
    loop_done(&loop);
    result_free(&r1);
    result_free(&r2);
}

static void test_response_limit(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_basic);
    fu_hc_opts_t o = plain_opts(s.port);
    o.max_response = 1024;
    fu_hc_t *c = fu_hc_new(&loop, &o);
    result_t r1 = {0}, r2 = {0}, r3 = {0};
    request(c, "GET", "/big", &r1);
    request(c, "GET", "/bigchunks", &r2);
    request(c, "GET", "/", &r3);
    run_until(&loop, &r3.done, 5000);
    assert_int_equal(r1.kind, FU_HC_ERR_PROTOCOL);
    assert_non_null(strstr(r1.err, "over the 1024-byte limit"));
    assert_int_equal(r2.kind, FU_HC_ERR_PROTOCOL);
    assert_non_null(strstr(r2.err, "over the 1024-byte limit"));
    assert_int_equal(r3.kind, FU_HC_OK); /* the client goes on, on a new connection */
    fu_hc_stats_t st;
    fu_hc_stats(c, &st);
    assert_int_equal(st.connects, 3);
    client_close(&loop, c);
    srv_stop(&s);
    loop_done(&loop);
    result_free(&r3);
}

#define MIB (1024u * 1024)

static void h_mib(srv_t *s, sconn_t *k, int n, const char *head, const char *body, size_t len)
{
    (void)s;
    (void)n;
    (void)head;
    (void)body;
    (void)len;
    char *b = malloc(MIB + 64);
    int hl = snprintf(b, 64, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", MIB);
    for (unsigned i = 0; i < MIB; i++)
        b[hl + i] = (char)(i * 7 + i / 251);
    srv_write(k, b, (size_t)hl + MIB, false);
    free(b);
}

typedef struct {
    result_t r;
    size_t got;
    bool bad;
} stream_t;

static int stream_data(void *ud, const char *p, size_t n)
{
    stream_t *st = ud;
    for (size_t i = 0; i < n; i++, st->got++)
        if (p[i] != (char)(st->got * 7 + st->got / 251))
            st->bad = true;
    return 0;
}

static void stream_done(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res)
{
    on_result(&((stream_t *)ud)->r, kind, err, res);
}

static int stop_data(void *ud, const char *p, size_t n)
{
    (void)p;
    ((stream_t *)ud)->got += n;
    return 1;
}

static void test_stream_on_data(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_mib);
    fu_hc_opts_t o = plain_opts(s.port);
    o.max_response = 64 * 1024; /* no limit on a streamed body */
    fu_hc_t *c = fu_hc_new(&loop, &o);
    stream_t st = {0};
    fu_hc_req_t rq = {.method = "GET", .path = "/", .on_data = stream_data, .cb = stream_done, .ud = &st};
    fu_hc_request(c, &rq);
    run_until(&loop, &st.r.done, 10000);
    assert_int_equal(st.r.kind, FU_HC_OK);
    assert_true(st.r.body_null);
    assert_int_equal(st.got, MIB);
    assert_false(st.bad);
    /* A reader that says stop ends the request with CANCELLED. */
    stream_t st2 = {0};
    rq.on_data = stop_data;
    rq.ud = &st2;
    fu_hc_request(c, &rq);
    run_until(&loop, &st2.r.done, 10000);
    assert_int_equal(st2.r.kind, FU_HC_ERR_CANCELLED);
    assert_int_equal(st2.r.calls, 1);
    /* Without on_data the same body is over the limit. */
    result_t r3 = {0};
    request(c, "GET", "/", &r3);
    run_until(&loop, &r3.done, 10000);
    assert_int_equal(r3.kind, FU_HC_ERR_PROTOCOL);
    client_close(&loop, c);
    srv_stop(&s);
    loop_done(&loop);
    result_free(&st.r);
}

static void h_echo_len(srv_t *s, sconn_t *k, int n, const char *head, const char *body, size_t len)
{
    (void)s;
    (void)n;
    (void)head;
    (void)body;
    char b[128];
    snprintf(b, sizeof(b), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%zu",
             snprintf(NULL, 0, "%zu", len), len);
    srv_send(k, b);
}

static char *pattern(size_t n, unsigned seed)
{
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 31 + seed + i / 977);
    return p;
}

static void test_gather_post(void **state)
{
    (void)state;
    /* Over 2 MiB: the body goes out in several writes of about 1 MiB (each one is
     * progress for the request deadline); the pieces must arrive whole and in order. */
    enum { BIG = 2600 * 1024 };
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop, h_echo_len);
    fu_hc_opts_t o = plain_opts(s.port);
    fu_hc_t *c = fu_hc_new(&loop, &o);
    char *big = pattern(BIG, 1);
    fu_hc_iov_t iov[4] = {{"hello ", 6}, {big, BIG}, {"", 0}, {" world", 6}};
    result_t r = {0};
    fu_hc_req_t rq = {.method = "POST", .path = "/up", .headers = "Content-Type: application/octet-stream\r\n",
                      .body = iov, .nbody = 4, .cb = on_result, .ud = &r};
    fu_hc_request(c, &rq);
    run_until(&loop, &r.done, 10000);
    assert_int_equal(r.kind, FU_HC_OK);
    assert_int_equal(s.last_body_len, 12 + BIG);
    assert_memory_equal(s.last_body, "hello ", 6);
    assert_memory_equal(s.last_body + 6, big, BIG);
    assert_memory_equal(s.last_body + 6 + BIG, " world", 6);
    char want[32];
    snprintf(want, sizeof(want), "%u", 12 + BIG);
    assert_string_equal(r.body, want);
    client_close(&loop, c);
    srv_stop(&s);
    loop_done(&loop);
    free(big);
    result_free(&r);
}

/* ---- TLS against fleetup's own server ---- */

typedef struct {
    uv_poll_t poll;
    int fd;
    uint16_t port;
    fu_http_server_t *srv;
    SSL_CTX *ctx;
    char *last_body;
    size_t last_body_len;
} tls_srv_t;

static void tls_handle(void *ud, fu_http_request_t *req)
{
    tls_srv_t *t = ud;
    free(t->last_body);
    t->last_body = malloc(req->body_len + 1);
    memcpy(t->last_body, req->body, req->body_len);
    t->last_body_len = req->body_len;
    char b[64];
    int n = snprintf(b, sizeof(b), "tls %zu", req->body_len);
    fu_http_respond(req, 200, "text/plain", NULL, b, (size_t)n);
}

static size_t tls_body_limit(void *ud, const char *method, const char *path)
{
    (void)ud;
    (void)method;
    (void)path;
    return 64u * MIB;
}

static void tls_on_conn(uv_poll_t *p, int status, int events)
{
    tls_srv_t *t = p->data;
    (void)status;
    (void)events;
    int fd = accept4(t->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
        assert_int_equal(fu_http_adopt(t->srv, fd, t->ctx), 0);
}

static char g_dir[64];
static char g_fp[128];

static void tls_start(tls_srv_t *t, uv_loop_t *loop)
{
    memset(t, 0, sizeof(*t));
    char err[512];
    if (g_dir[0] == '\0') {
        snprintf(g_dir, sizeof(g_dir), "/tmp/fu_hc_test_XXXXXX");
        assert_non_null(mkdtemp(g_dir));
    }
    t->ctx = fu_tls_server_ctx(NULL, NULL, g_dir, g_fp, sizeof(g_fp), err, sizeof(err));
    assert_non_null(t->ctx);
    fu_http_handlers_t h = {.ud = t, .handle = tls_handle, .body_limit = tls_body_limit};
    fu_http_limits_t lim = {0};
    t->srv = fu_http_server_new(loop, &h, &lim);
    t->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(t->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(t->fd, 64), 0);
    getsockname(t->fd, (struct sockaddr *)&sa, &len);
    t->port = ntohs(sa.sin_port);
    uv_poll_init(loop, &t->poll, t->fd);
    t->poll.data = t;
    uv_poll_start(&t->poll, UV_READABLE, tls_on_conn);
}

static void poll_closed(uv_handle_t *h)
{
    tls_srv_t *t = h->data;
    close(t->fd);
    t->fd = -1;
}

static void tls_stop(tls_srv_t *t, uv_loop_t *loop)
{
    bool down = false;
    uv_close((uv_handle_t *)&t->poll, poll_closed);
    fu_http_shutdown(t->srv, 100, set_flag, &down);
    run_until(loop, &down, 5000);
    assert_true(down);
    fu_http_server_free(t->srv);
    while (t->fd >= 0)
        uv_run(loop, UV_RUN_ONCE);
    uv_run(loop, UV_RUN_NOWAIT);
    SSL_CTX_free(t->ctx);
    free(t->last_body);
}

static fu_hc_opts_t tls_opts(uint16_t port, SSL_CTX *ctx, fu_hc_verify_t v)
{
    fu_hc_opts_t o = plain_opts(port);
    o.tls = true;
    o.ssl_ctx = ctx;
    o.verify = v;
    return o;
}

static void tls_get(uv_loop_t *loop, const fu_hc_opts_t *o, result_t *r)
{
    fu_hc_t *c = fu_hc_new(loop, o);
    assert_non_null(c);
    request(c, "GET", "/", r);
    run_until(loop, &r->done, 5000);
    assert_true(r->done);
    client_close(loop, c);
}

static void test_tls_pin(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    tls_srv_t t;
    tls_start(&t, &loop);
    char err[256];
    SSL_CTX *cctx = fu_hc_ssl_ctx(NULL, err, sizeof(err));
    assert_non_null(cctx);
    fu_hc_opts_t o = tls_opts(t.port, cctx, FU_HC_VERIFY_PIN);
    assert_int_equal(fu_hc_parse_pin(g_fp, o.pin), 0);

    /* The right pin: two requests on one connection, and a gather-list upload that goes
     * through the chunked encryption. */
    fu_hc_t *c = fu_hc_new(&loop, &o);
    result_t r1 = {0}, r2 = {0}, r3 = {0};
    request(c, "GET", "/", &r1);
    request(c, "GET", "/", &r2);
    char *big = pattern(MIB + 123, 5);
    fu_hc_iov_t iov[3] = {{"head-", 5}, {big, MIB + 123}, {"-tail", 5}};
    fu_hc_req_t rq = {.method = "PUT", .path = "/up", .body = iov, .nbody = 3, .cb = on_result, .ud = &r3};
    fu_hc_request(c, &rq);
    run_until(&loop, &r3.done, 10000);
    assert_int_equal(r1.kind, FU_HC_OK);
    assert_string_equal(r1.body, "tls 0");
    assert_int_equal(r2.kind, FU_HC_OK);
    assert_int_equal(r3.kind, FU_HC_OK);
    assert_int_equal(t.last_body_len, MIB + 133);
    assert_memory_equal(t.last_body, "head-", 5);
    assert_memory_equal(t.last_body + 5, big, MIB + 123);
    assert_memory_equal(t.last_body + 5 + MIB + 123, "-tail", 5);
    fu_hc_stats_t st;
    fu_hc_stats(c, &st);
    assert_int_equal(st.connects, 1);
    client_close(&loop, c);
    free(big);

    /* A wrong pin. */
    o.pin[7] ^= 0x40;
    result_t r4 = {0};
    tls_get(&loop, &o, &r4);
    assert_int_equal(r4.kind, FU_HC_ERR_TLS);
    assert_non_null(strstr(r4.err, "TLS: certificate fingerprint"));
    assert_non_null(strstr(r4.err, "does not match the pinned one"));
    assert_non_null(strstr(r4.err, g_fp)); /* the one seen, to compare with the fleet file */

    SSL_CTX_free(cctx);
    tls_stop(&t, &loop);
    loop_done(&loop);
    result_free(&r1);
    result_free(&r2);
    result_free(&r3);
}

static void test_tls_ca(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    tls_srv_t t;
    tls_start(&t, &loop);
    char err[256], crt[128];
    snprintf(crt, sizeof(crt), "%s/tls.crt", g_dir);

    /* Self-signed, and no CA file that knows it. */
    SSL_CTX *sys = fu_hc_ssl_ctx(NULL, err, sizeof(err));
    assert_non_null(sys);
    fu_hc_opts_t o = tls_opts(t.port, sys, FU_HC_VERIFY_CA);
    o.server_name = "localhost";
    result_t r1 = {0};
    tls_get(&loop, &o, &r1);
    assert_int_equal(r1.kind, FU_HC_ERR_TLS);
    char want[128];
    snprintf(want, sizeof(want), "TLS handshake with 127.0.0.1:%u: certificate verify failed", t.port);
    assert_non_null(strstr(r1.err, want));

    /* The certificate as CA file, and the name it carries. */
    SSL_CTX *ca = fu_hc_ssl_ctx(crt, err, sizeof(err));
    assert_non_null(ca);
    o = tls_opts(t.port, ca, FU_HC_VERIFY_CA);
    o.server_name = "localhost";
    result_t r2 = {0};
    tls_get(&loop, &o, &r2);
    assert_int_equal(r2.kind, FU_HC_OK);
    assert_string_equal(r2.body, "tls 0");

    /* The address itself is in the certificate too (checked as an IP, no SNI). */
    o.server_name = NULL;
    result_t r3 = {0};
    tls_get(&loop, &o, &r3);
    assert_int_equal(r3.kind, FU_HC_OK);

    /* A name the certificate does not carry. */
    o.server_name = "bmc.example.invalid";
    result_t r4 = {0};
    tls_get(&loop, &o, &r4);
    assert_int_equal(r4.kind, FU_HC_ERR_TLS);
    assert_non_null(strstr(r4.err, "certificate verify failed"));

    /* VERIFY_NONE accepts it without a CA. */
    o = tls_opts(t.port, sys, FU_HC_VERIFY_NONE);
    result_t r5 = {0};
    tls_get(&loop, &o, &r5);
    assert_int_equal(r5.kind, FU_HC_OK);

    /* A server that never answers the ClientHello: the connect deadline covers it. */
    srv_t s;
    srv_start(&s, &loop, h_basic);
    o = tls_opts(s.port, sys, FU_HC_VERIFY_NONE);
    o.connect_timeout_ms = 300;
    result_t r6 = {0};
    tls_get(&loop, &o, &r6);
    assert_int_equal(r6.kind, FU_HC_ERR_TIMEOUT);
    snprintf(want, sizeof(want), "timeout: TLS handshake with 127.0.0.1:%u took more than 300 ms", s.port);
    assert_string_equal(r6.err, want);
    srv_stop(&s);

    assert_null(fu_hc_ssl_ctx("/nonexistent/ca.pem", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));

    SSL_CTX_free(sys);
    SSL_CTX_free(ca);
    tls_stop(&t, &loop);
    loop_done(&loop);
    result_free(&r2);
    result_free(&r3);
    result_free(&r5);
}

/* ---- pure functions ---- */

static void test_parse_pin(void **state)
{
    (void)state;
    uint8_t pin[32], want[32];
    for (int i = 0; i < 32; i++)
        want[i] = (uint8_t)(i * 8 + 1);
    char colon[128] = "", plain[128] = "";
    for (int i = 0; i < 32; i++) {
        snprintf(colon + strlen(colon), sizeof(colon) - strlen(colon), "%02X%s", want[i], i < 31 ? ":" : "");
        snprintf(plain + strlen(plain), sizeof(plain) - strlen(plain), "%02x", want[i]);
    }
    memset(pin, 0, sizeof(pin));
    assert_int_equal(fu_hc_parse_pin(colon, pin), 0);
    assert_memory_equal(pin, want, 32);
    memset(pin, 0, sizeof(pin));
    assert_int_equal(fu_hc_parse_pin(plain, pin), 0);
    assert_memory_equal(pin, want, 32);

    memset(pin, 0xAA, sizeof(pin));
    assert_int_equal(fu_hc_parse_pin(NULL, pin), -1);
    assert_int_equal(fu_hc_parse_pin("", pin), -1);
    plain[63] = '\0';
    assert_int_equal(fu_hc_parse_pin(plain, pin), -1); /* 63 digits */
    plain[63] = 'g';
    assert_int_equal(fu_hc_parse_pin(plain, pin), -1); /* not hex */
    colon[2] = '-';
    assert_int_equal(fu_hc_parse_pin(colon, pin), -1);
    colon[2] = ':';
    colon[94] = 'Z';
    assert_int_equal(fu_hc_parse_pin(colon, pin), -1);
    for (int i = 0; i < 32; i++)
        assert_int_equal(pin[i], 0xAA); /* nothing written on failure */
}

static int parse(const char *s, size_t max, result_t *r)
{
    memset(r, 0, sizeof(*r));
    return fu_hc_parse_buffer(s, strlen(s), max, on_result, r);
}

static void test_parse_buffer(void **state)
{
    (void)state;
    result_t r;
    assert_int_equal(parse("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-A: 1\r\n"
                           "Content-Length: 2\r\n\r\n{}", 0, &r), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{}");
    assert_string_equal(r.ctype, "application/json");
    assert_true(r.keep_alive);
    result_free(&r);

    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n", 0, &r), 0);
    assert_string_equal(r.body, "abcde");
    result_free(&r);

    assert_int_equal(parse("HTTP/1.0 200 OK\r\n\r\nuntil the end", 0, &r), 0);
    assert_string_equal(r.body, "until the end");
    assert_false(r.keep_alive);
    result_free(&r);

    assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 0, &r), 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    result_free(&r);

    assert_int_equal(parse("HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n", 0, &r), 0);
    assert_int_equal(r.retry_after_ms, 7000);
    result_free(&r);

    char date[64], msg[256];
    time_t later = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&later, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(msg, sizeof(msg), "HTTP/1.1 503 Busy\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n", date);
    assert_int_equal(parse(msg, 0, &r), 0);
    assert_true(r.retry_after_ms >= 118000 && r.retry_after_ms <= 121000);
    result_free(&r);
    assert_int_equal(parse("HTTP/1.1 503 Busy\r\nRetry-After: soon\r\nContent-Length: 0\r\n\r\n", 0, &r), 0);
    assert_int_equal(r.retry_after_ms, 0);
    result_free(&r);

    /* truncated, garbage, empty, over the limits */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, &r), -1);
    assert_int_equal(r.kind, FU_HC_ERR_PROTOCOL);
    assert_true(r.err[0] != '\0');
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Le", 0, &r), -1);
    assert_int_equal(parse("hello world\r\n\r\n", 0, &r), -1);
    assert_non_null(strstr(r.err, "invalid HTTP response"));
    assert_int_equal(parse("", 0, &r), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 64, &r), -1);
    assert_non_null(strstr(r.err, "over the 64-byte limit"));
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 1zz\r\n\r\n", 0, &r), -1);
    size_t big = 17 * 1024;
    char *h = malloc(big + 100);
    int n = snprintf(h, 100, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(h + n, 'a', big);
    strcpy(h + n + big, "\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(parse(h, 64u << 20, &r), -1);
    assert_non_null(strstr(r.err, "over 16 KiB"));
    free(h);
    assert_int_equal(r.calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_pin),
        cmocka_unit_test(test_parse_buffer),
        cmocka_unit_test(test_get_bodies),
        cmocka_unit_test(test_keepalive_and_close),
        cmocka_unit_test(test_reconnect_after_idle_close),
        cmocka_unit_test(test_resend_on_reused_connection),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_response_limit),
        cmocka_unit_test(test_stream_on_data),
        cmocka_unit_test(test_gather_post),
        cmocka_unit_test(test_tls_pin),
        cmocka_unit_test(test_tls_ca),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (g_dir[0]) {
        char p[128];
        snprintf(p, sizeof(p), "%s/tls.crt", g_dir);
        unlink(p);
        snprintf(p, sizeof(p), "%s/tls.key", g_dir);
        unlink(p);
        rmdir(g_dir);
    }
    return rc;
}
