/* Streaming responses (fu_http_stream_*) against clients on socketpairs adopted by the
 * server, plain and TLS: chunk framing, keep-alive after the close, HTTP/1.0, the backlog
 * limit, the timeouts streams are exempt from, the client going away, shutdown and free. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/server.h"
#include "http/tls.h"

#define NCLI 2

typedef struct t_s t_t;

/* A client: one end of a socketpair, what it has read (decrypted on TLS), its stream. */
typedef struct {
    t_t *t;
    int fd;
    bool reading; /* false: a client that reads nothing */
    bool eof;
    char *buf;
    size_t len, cap;
    bool tls_on;
    fu_tls_conn_t tls;
    fu_http_stream_t *st;
    int opened, gone;
    const char *want; /* wait_for(): the bytes awaited */
} cli_t;

struct t_s {
    uv_loop_t loop;
    fu_http_server_t *srv;
    cli_t c[NCLI];
    bool in_write; /* inside fu_http_stream_write(): gone must never run there */
    SSL_CTX *sctx, *cctx;
    char dir[64];
};

static void on_gone(void *ud)
{
    cli_t *c = ud;
    assert_false(c->t->in_write);
    c->gone++;
}

/* /events?c=N opens a stream for client N; anything else is answered "plain PATH". */
static void handle(void *ud, fu_http_request_t *req)
{
    t_t *t = ud;
    if (strcmp(req->path, "/events") == 0) {
        cli_t *c = &t->c[atoi(req->query + 2)];
        c->st = fu_http_stream_open(req, 200, "text/event-stream", "Cache-Control: no-cache\r\n",
                                    on_gone, c);
        assert_non_null(c->st);
        c->opened++;
        return;
    }
    char b[128];
    int n = snprintf(b, sizeof(b), "plain %s", req->path);
    fu_http_respond(req, 200, "text/plain", NULL, b, (size_t)n);
}

static void start(t_t *t, uint64_t idle_ms)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    fu_http_handlers_t h = {.ud = t, .handle = handle};
    fu_http_limits_t lim = {.header_timeout_ms = idle_ms, .idle_timeout_ms = idle_ms};
    t->srv = fu_http_server_new(&t->loop, &h, &lim);
    for (int i = 0; i < NCLI; i++) {
        t->c[i].t = t;
        t->c[i].fd = -1;
    }
}

static void append(cli_t *c, const char *data, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        c->cap = (c->len + n + 1) * 2;
        c->buf = realloc(c->buf, c->cap);
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = '\0';
}

/* Ciphertext the client's TLS has for the server. */
static void tls_flush(cli_t *c)
{
    char out[16384];
    size_t n;
    while ((n = fu_tls_pending_out(&c->tls)) > 0) {
        n = fu_tls_take_out(&c->tls, out, n < sizeof(out) ? n : sizeof(out));
        for (size_t off = 0; off < n;) {
            ssize_t w = write(c->fd, out + off, n - off);
            if (w > 0)
                off += (size_t)w;
            else
                assert_true(w < 0 && errno == EAGAIN); /* small: the buffer takes it */
        }
    }
}

static void cli_read(cli_t *c)
{
    char in[65536];
    for (;;) {
        ssize_t n = read(c->fd, in, sizeof(in));
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            c->eof = true;
            return;
        }
        if (n < 0)
            return;
        if (!c->tls_on) {
            append(c, in, (size_t)n);
            continue;
        }
        fu_tls_feed(&c->tls, in, (size_t)n);
        char plain[16384];
        int got;
        while ((got = fu_tls_read(&c->tls, plain, sizeof(plain))) > 0)
            append(c, plain, (size_t)got);
        tls_flush(c);
    }
}

/* One turn: the server's loop, then every client reads what has come. */
static void step(t_t *t)
{
    uv_run(&t->loop, UV_RUN_NOWAIT);
    for (int i = 0; i < NCLI; i++)
        if (t->c[i].fd >= 0 && t->c[i].reading && !t->c[i].eof)
            cli_read(&t->c[i]);
    usleep(1000);
}

static void run_for(t_t *t, uint64_t ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000;
    while (uv_hrtime() < end)
        step(t);
}

/* Turns until done(arg) or ms pass; returns done(arg). */
static bool turn_until(t_t *t, bool (*done)(const void *arg), const void *arg, uint64_t ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000;
    while (!done(arg) && uv_hrtime() < end)
        step(t);
    return done(arg);
}

static bool has(const cli_t *c, const char *needle)
{
    return c->buf && memmem(c->buf, c->len, needle, strlen(needle)) != NULL;
}

static bool has_want(const void *c)
{
    return has(c, ((const cli_t *)c)->want);
}

static bool at_eof(const void *c)
{
    return ((const cli_t *)c)->eof;
}

static bool is_gone(const void *c)
{
    return ((const cli_t *)c)->gone > 0;
}

static bool shook_hands(const void *c)
{
    const cli_t *cl = c;
    return cl->tls.handshake_done || cl->tls.failed;
}

static bool flag_set(const void *b)
{
    return *(const bool *)b;
}

/* Turns until the client has read needle (NULL: until its EOF); false at the timeout. */
static bool wait_for(t_t *t, cli_t *c, const char *needle, uint64_t ms)
{
    c->want = needle;
    return turn_until(t, needle ? has_want : at_eof, c, ms);
}

static void cli_send(cli_t *c, const char *req)
{
    if (c->tls_on) {
        assert_int_equal(fu_tls_write(&c->tls, req, strlen(req)), 0);
        tls_flush(c);
        return;
    }
    assert_int_equal(write(c->fd, req, strlen(req)), (ssize_t)strlen(req));
}

/* Client i connects (a socketpair the server adopts); on TLS the handshake is done. */
static cli_t *cli_connect(t_t *t, int i, bool tls)
{
    cli_t *c = &t->c[i];
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fu_http_adopt(t->srv, sv[0], tls ? t->sctx : NULL), 0);
    c->fd = sv[1];
    c->reading = true;
    c->tls_on = tls;
    if (tls) {
        assert_int_equal(fu_tls_conn_init(&c->tls, t->cctx, false), 0);
        assert_int_equal(fu_tls_handshake(&c->tls), 0); /* the ClientHello */
        tls_flush(c);
        turn_until(t, shook_hands, c, 5000);
        assert_true(c->tls.handshake_done);
    }
    return c;
}

/* Client i asks for a stream and has read its head. */
static cli_t *open_stream(t_t *t, int i, bool tls, const char *version)
{
    cli_t *c = cli_connect(t, i, tls);
    char req[128];
    snprintf(req, sizeof(req), "GET /events?c=%d %s\r\nHost: x\r\n\r\n", i, version);
    cli_send(c, req);
    assert_true(wait_for(t, c, "\r\n\r\n", 5000));
    assert_int_equal(c->opened, 1);
    assert_non_null(c->st);
    return c;
}

static int swrite(t_t *t, cli_t *c, const char *data, size_t len)
{
    t->in_write = true;
    int rc = fu_http_stream_write(c->st, data, len);
    t->in_write = false;
    return rc;
}

static void cli_close(cli_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->tls_on)
        fu_tls_conn_free(&c->tls);
    c->tls_on = false;
}

static int gone_total(const t_t *t)
{
    int n = 0;
    for (int i = 0; i < NCLI; i++)
        n += t->c[i].gone;
    return n;
}

/* Frees the server (as a caller that never shut it down would): `told` streams still open
 * hear gone from inside the free, no other, nor any later; the loop ends with nothing
 * left open. */
static void stop_told(t_t *t, int told)
{
    int before = gone_total(t);
    for (int i = 0; i < NCLI; i++)
        cli_close(&t->c[i]);
    fu_http_server_free(t->srv);
    assert_int_equal(gone_total(t), before + told);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    assert_int_equal(gone_total(t), before + told);
    for (int i = 0; i < NCLI; i++)
        assert_true(t->c[i].gone <= 1);
    for (int i = 0; i < NCLI; i++)
        free(t->c[i].buf);
}

static void stop(t_t *t)
{
    stop_told(t, 0);
}

static void stats(t_t *t, uint32_t conns, uint32_t streams)
{
    fu_http_stats_t s;
    fu_http_stats(t->srv, &s);
    assert_int_equal(s.connections_open, conns);
    assert_int_equal(s.streams_open, streams);
}

/* ---- decoding what a client read ---- */

typedef struct {
    size_t body; /* offset of the body: just past the head */
    char *data;  /* the chunks' bytes, joined */
    size_t len;
    size_t sizes[64];
    int n;
    bool last; /* the last chunk (size 0) has come */
    size_t end; /* offset just past the last chunk: the next response starts there */
} chunks_t;

/* Decodes a chunked body as far as it has arrived; fails the test on bad framing. */
static void decode(const cli_t *c, chunks_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    assert_non_null(e);
    size_t p = (size_t)(e - c->buf) + 4;
    out->body = p;
    out->data = malloc(c->len + 1);
    while (p < c->len) {
        const char *crlf = memmem(c->buf + p, c->len - p, "\r\n", 2);
        if (crlf == NULL)
            return;
        char *hex_end;
        size_t size = strtoul(c->buf + p, &hex_end, 16);
        assert_ptr_equal(hex_end, crlf); /* the size line is only hex digits */
        size_t at = (size_t)(crlf - c->buf) + 2;
        if (at + size + 2 > c->len)
            return; /* not all here yet */
        assert_memory_equal(c->buf + at + size, "\r\n", 2);
        if (size == 0) {
            out->last = true;
            out->end = at + 2;
            return;
        }
        memcpy(out->data + out->len, c->buf + at, size);
        out->len += size;
        assert_true(out->n < 64);
        out->sizes[out->n++] = size;
        p = at + size + 2;
    }
}

static bool head_has(const cli_t *c, const char *line)
{
    const char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    return e && memmem(c->buf, (size_t)(e - c->buf) + 2, line, strlen(line)) != NULL;
}

static char *pattern(size_t n, unsigned seed)
{
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 7 + seed) % 26);
    return p;
}

/* Writes three pieces (one large), checks they arrive as three chunks in order, closes,
 * and checks the last chunk and a next request on the same connection. */
static void chunks_then_keepalive(t_t *t, bool tls)
{
    cli_t *c = open_stream(t, 0, tls, "HTTP/1.1");
    assert_int_equal(strncmp(c->buf, "HTTP/1.1 200 OK\r\n", 17), 0);
    assert_true(head_has(c, "\r\nTransfer-Encoding: chunked\r\n"));
    assert_true(head_has(c, "\r\nContent-Type: text/event-stream\r\n"));
    assert_true(head_has(c, "\r\nCache-Control: no-cache\r\n"));
    assert_false(head_has(c, "Content-Length"));
    assert_false(head_has(c, "Connection: close"));
    stats(t, 1, 1);

    /* Pipelined behind the stream: answered only after its close. */
    cli_send(c, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    size_t big_len = 100000;
    char *big = pattern(big_len, 3);
    assert_int_equal(swrite(t, c, "data: one\n\n", 11), 0);
    assert_int_equal(swrite(t, c, big, big_len), 0);
    assert_int_equal(swrite(t, c, "", 0), 0); /* nothing: an empty chunk would end the body */
    assert_int_equal(swrite(t, c, "data: three\n\n", 13), 0);
    assert_true(wait_for(t, c, "data: three\n\n\r\n", 5000));
    run_for(t, 50);
    assert_false(has(c, "plain /after"));
    chunks_t ch;
    decode(c, &ch);
    assert_int_equal(ch.n, 3);
    assert_int_equal(ch.sizes[0], 11);
    assert_int_equal(ch.sizes[1], big_len);
    assert_int_equal(ch.sizes[2], 13);
    assert_int_equal(ch.len, 11 + big_len + 13);
    assert_memory_equal(ch.data, "data: one\n\n", 11);
    assert_memory_equal(ch.data + 11, big, big_len);
    assert_memory_equal(ch.data + 11 + big_len, "data: three\n\n", 13);
    assert_false(ch.last);
    assert_int_equal(fu_http_stream_backlog(c->st), 0);
    free(ch.data);

    fu_http_stream_close(c->st);
    assert_true(wait_for(t, c, "plain /after", 5000));
    decode(c, &ch);
    assert_true(ch.last);
    assert_int_equal(ch.n, 3);
    assert_int_equal(strncmp(c->buf + ch.end, "HTTP/1.1 200 OK\r\n", 17), 0);
    free(ch.data);
    stats(t, 1, 0);

    cli_send(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(wait_for(t, c, "plain /next", 5000));
    assert_false(c->eof);
    assert_int_equal(c->gone, 0);
    free(big);
}

static void test_chunks_close_keepalive(void **state)
{
    (void)state;
    t_t t;
    start(&t, 0);
    chunks_then_keepalive(&t, false);
    stop(&t);
}

static void test_tls_stream(void **state)
{
    (void)state;
    t_t t;
    start(&t, 0);
    snprintf(t.dir, sizeof(t.dir), "/tmp/fu_stream_test_XXXXXX");
    assert_non_null(mkdtemp(t.dir));
    char fp[128], err[512];
    t.sctx = fu_tls_server_ctx(NULL, NULL, t.dir, fp, sizeof(fp), err, sizeof(err));
    assert_non_null(t.sctx);
    t.cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(t.cctx);
    chunks_then_keepalive(&t, true);
    stop(&t);
    SSL_CTX_free(t.sctx);
    SSL_CTX_free(t.cctx);
    char path[128];
    snprintf(path, sizeof(path), "%s/tls.crt", t.dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/tls.key", t.dir);
    unlink(path);
    rmdir(t.dir);
}

static void test_http10_raw_then_close(void **state)
{
    (void)state;
    t_t t;
    start(&t, 0);
    cli_t *c = open_stream(&t, 0, false, "HTTP/1.0");
    assert_int_equal(strncmp(c->buf, "HTTP/1.1 200 OK\r\n", 17), 0);
    assert_true(head_has(c, "\r\nConnection: close\r\n"));
    assert_true(head_has(c, "\r\nContent-Type: text/event-stream\r\n"));
    assert_false(head_has(c, "Transfer-Encoding"));
    assert_false(head_has(c, "Content-Length"));
    assert_int_equal(swrite(&t, c, "data: a\n\n", 9), 0);
    assert_int_equal(swrite(&t, c, "data: bc\n\n", 10), 0);
    fu_http_stream_close(c->st);
    assert_true(wait_for(&t, c, NULL, 5000)); /* the close ends the body */
    const char *body = strstr(c->buf, "\r\n\r\n") + 4;
    assert_string_equal(body, "data: a\n\ndata: bc\n\n");
    assert_int_equal(c->gone, 0);
    run_for(&t, 20);
    stats(&t, 0, 0);
    stop(&t);
}

static void test_client_gone(void **state)
{
    (void)state;
    t_t t;
    start(&t, 0);
    cli_t *c = open_stream(&t, 0, false, "HTTP/1.1");
    assert_int_equal(swrite(&t, c, "data: x\n\n", 9), 0);
    assert_true(wait_for(&t, c, "data: x\n\n\r\n", 5000));
    cli_close(c); /* no write follows: the server learns it from the EOF */
    assert_true(turn_until(&t, is_gone, c, 5000));
    run_for(&t, 100);
    assert_int_equal(c->gone, 1);
    stats(&t, 0, 0);
    stop(&t);
}

/* A client that reads nothing: writes queue up to the limit, then -1, and gone comes
 * from the loop afterwards. Returns how many bytes the writes before it queued. */
static size_t fill_backlog(t_t *t, cli_t *c)
{
    c->reading = false;
    char *piece = pattern(65536, 9);
    size_t accepted = 0, backlog_before = 0;
    int rc = 0;
    for (int i = 0; i < 1000; i++) {
        backlog_before = fu_http_stream_backlog(c->st);
        rc = swrite(t, c, piece, 65536);
        if (rc != 0)
            break;
        accepted += 65536;
        uv_run(&t->loop, UV_RUN_NOWAIT); /* the socket takes what it can */
    }
    free(piece);
    assert_int_equal(rc, -1);
    assert_true(backlog_before + 65536 > FU_HTTP_STREAM_MAX_BACKLOG); /* the limit, no error */
    assert_true(accepted >= FU_HTTP_STREAM_MAX_BACKLOG - 65536);
    assert_int_equal(c->gone, 0); /* never from inside the write */
    assert_int_equal(swrite(t, c, "x", 1), -1); /* ended: its gone is on the way */
    assert_int_equal(c->gone, 0);
    return accepted;
}

static void test_backlog_limit(void **state)
{
    (void)state;
    t_t t;
    start(&t, 0);
    cli_t *c = open_stream(&t, 0, false, "HTTP/1.1");
    fill_backlog(&t, c);
    uv_run(&t.loop, UV_RUN_NOWAIT);
    assert_int_equal(c->gone, 1);
    run_for(&t, 50);
    assert_int_equal(c->gone, 1);
    stats(&t, 0, 0);
    stop(&t);
}

/* Freed before the loop could tell the cut stream: free tells it, and only once. */
static void test_free_after_cut(void **state)
{
    (void)state;
    t_t t;
    start(&t, 0);
    cli_t *c = open_stream(&t, 0, false, "HTTP/1.1");
    fill_backlog(&t, c);
    stop_told(&t, 1);
}

static void set_flag(void *ud)
{
    *(bool *)ud = true;
}

static void test_shutdown_ends_streams(void **state)
{
    (void)state;
    t_t t;
    start(&t, 0);
    cli_t *a = open_stream(&t, 0, false, "HTTP/1.1");
    cli_t *b = open_stream(&t, 1, false, "HTTP/1.1");
    assert_int_equal(swrite(&t, a, "data: a\n\n", 9), 0);
    b->reading = false; /* and b has bytes queued: still no waiting for them */
    char *piece = pattern(1u << 20, 1);
    assert_int_equal(swrite(&t, b, piece, 1u << 20), 0);
    free(piece);
    assert_true(fu_http_stream_backlog(b->st) > 0);
    stats(&t, 2, 2);
    bool down = false;
    uint64_t t0 = uv_hrtime();
    fu_http_shutdown(t.srv, 10000, set_flag, &down);
    assert_int_equal(a->gone, 1); /* ended at once: no waiting for the deadline */
    assert_int_equal(b->gone, 1);
    assert_true(turn_until(&t, flag_set, &down, 5000));
    assert_true(uv_hrtime() - t0 < 2000000000ull);
    assert_true(wait_for(&t, a, NULL, 2000));
    b->reading = true;
    assert_true(wait_for(&t, b, NULL, 2000));
    stats(&t, 0, 0);
    stop(&t);
}

static void test_free_with_open_stream(void **state)
{
    (void)state;
    t_t t;
    start(&t, 0);
    cli_t *c = open_stream(&t, 0, false, "HTTP/1.1");
    assert_int_equal(swrite(&t, c, "data: a\n\n", 9), 0);
    cli_connect(&t, 1, false); /* and an idle keep-alive connection beside it */
    stop_told(&t, 1);
}

/* Idle and header timeouts of 200 ms: a stream written every 100 ms and one never
 * written both outlive them (600 ms); once closed, the connections fall under them again. */
static void test_timeouts_exempt(void **state)
{
    (void)state;
    t_t t;
    start(&t, 200);
    cli_t *a = open_stream(&t, 0, false, "HTTP/1.1");
    cli_t *b = open_stream(&t, 1, false, "HTTP/1.1");
    for (int i = 0; i < 6; i++) {
        assert_int_equal(swrite(&t, a, "data: tick\n\n", 12), 0);
        run_for(&t, 100);
    }
    assert_false(a->eof);
    assert_false(b->eof);
    assert_int_equal(a->gone + b->gone, 0);
    stats(&t, 2, 2);
    assert_int_equal(swrite(&t, a, "data: end\n\n", 11), 0);
    assert_int_equal(swrite(&t, b, "data: end\n\n", 11), 0);
    assert_true(wait_for(&t, a, "data: end\n\n\r\n", 2000));
    assert_true(wait_for(&t, b, "data: end\n\n\r\n", 2000));
    chunks_t ch;
    decode(a, &ch);
    assert_int_equal(ch.n, 7);
    free(ch.data);

    fu_http_stream_close(a->st);
    fu_http_stream_close(b->st);
    uint64_t t0 = uv_hrtime();
    assert_true(wait_for(&t, a, NULL, 3000)); /* the idle timeout is back */
    assert_true(wait_for(&t, b, NULL, 3000));
    assert_true(uv_hrtime() - t0 >= 150000000ull);
    assert_int_equal(a->gone + b->gone, 0);
    stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks_close_keepalive),
        cmocka_unit_test(test_tls_stream),
        cmocka_unit_test(test_http10_raw_then_close),
        cmocka_unit_test(test_client_gone),
        cmocka_unit_test(test_backlog_limit),
        cmocka_unit_test(test_free_after_cut),
        cmocka_unit_test(test_shutdown_ends_streams),
        cmocka_unit_test(test_free_with_open_stream),
        cmocka_unit_test(test_timeouts_exempt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
