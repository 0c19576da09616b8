/* HTTP/1.1 server (server.h). A connection owns its uv_tcp_t, an llhttp parser, a fixed
 * head buffer (16 KiB: the limit is also the allocation) and, on TLS listeners, a memory-
 * BIO TLS state. Requests are answered in order as they complete, so pipelining needs no
 * queue; a large body written from shared memory pauses the parser until it is sent, and
 * so does an answer given later (fu_http_defer) or piece by piece (fu_http_stream_*). */
#include "http/server.h"

#include <llhttp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "http/tls.h"

#define HIGH_WATER (1u << 20)     /* stop reading above this much unsent data */
#define TLS_CHUNK (256u * 1024)  /* plaintext encrypted per pump step */
#define PENDING_MAX (64u * 1024) /* unparsed input held while a response streams */
#define SMALL_BODY 4096          /* bodies up to this go out in one write with the head */
#define HEAD_MAX 1024            /* a response head; extra headers beyond it are dropped */

typedef struct listener_s {
    uv_tcp_t tcp;
    fu_http_server_t *server;
    SSL_CTX *tls;
    struct listener_s *next;
} listener_t;

struct fu_http_server_s {
    uv_loop_t *loop;
    fu_http_handlers_t h;
    fu_http_limits_t lim;
    listener_t *listeners;
    fu_http_conn_t *conns; /* doubly linked: the open ones */
    fu_http_conn_t *gone_due; /* closed inside a stream call: gone runs from the loop */
    uint32_t allocated;    /* connections not yet freed (open or closing) */
    fu_http_stats_t stats;
    bool shutting_down;
    bool freeing; /* fu_http_server_free(): the last connection freed takes the server */
    bool (*accept)(void *ud, const char *local, const char *peer);
    uv_timer_t shutdown_timer;
    void (*shutdown_cb)(void *);
    void *shutdown_ud;
};

typedef struct {
    uv_write_t req;
    fu_http_conn_t *conn;
    size_t len;
    char data[]; /* owned copy (headers, small bodies, TLS records) */
} wreq_t;

/* Who answers the request in hand: the handler before it returns, or later, once from a
 * timer (fu_http_defer), or piece by piece until fu_http_stream_close(). While not
 * ANSWER_INLINE the parser stays paused, and gone runs if the connection ends first. */
typedef enum { ANSWER_INLINE, ANSWER_DEFERRED, ANSWER_STREAMING } answer_t;

/* How the client learns where a body ends: its length, the last chunk (a stream), or the
 * close (a stream to an HTTP/1.0 client, which knows no chunks). */
typedef enum { FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE } framing_t;

/* Lives in its connection, so it needs no allocation and goes with it. */
struct fu_http_stream_s {
    fu_http_conn_t *conn;
    framing_t framing; /* FRAME_CHUNKED or FRAME_CLOSE */
    bool bodyless;     /* HEAD, 204, 304: the head is all */
    bool keep;         /* keep-alive after fu_http_stream_close() */
};

struct fu_http_conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    fu_http_server_t *server;
    fu_http_conn_t *prev, *next;
    llhttp_t parser;
    fu_tls_conn_t tls;
    bool is_tls, closing, close_after_write, in_request, in_body, paused, in_field;
    bool lingering;         /* refused: answer sent, write side shut, reading to discard */
    uv_shutdown_t shutdown; /* the write side's FIN while lingering */
    int handles_open;
    /* the request being read */
    char head[FU_HTTP_MAX_HEAD + 256];
    size_t head_len, url_len;
    uint32_t nheaders;
    uint32_t name_off[FU_HTTP_MAX_HEADERS], value_off[FU_HTTP_MAX_HEADERS];
    bool in_value;
    int error_status; /* a limit was hit: answer this and close */
    char *body;
    size_t body_len, body_cap, body_limit;
    fu_http_request_t req;
    /* a body being streamed from shared memory (TLS) */
    const char *stream;
    uint64_t stream_left;
    /* a body being sent with sendfile (plain HTTP) */
    int sf_fd, sf_sock;
    uint64_t sf_off, sf_left;
    uv_poll_t sf_poll;
    bool sf_polling;
    uint64_t sent, sent_mark; /* bytes sent, and at the last timer: a stalled reader is cut */
    size_t unsent; /* bytes handed to uv_write and not yet written */
    char *pending;
    size_t pending_len;
    /* answered later or streamed: gone runs if we close first */
    answer_t answer;
    void (*gone)(void *ud);
    void *gone_ud;
    fu_http_stream_t live; /* ANSWER_STREAMING: the handle given out */
    bool in_stream_call;   /* inside fu_http_stream_open/write: a close keeps gone for later */
};

static const llhttp_settings_t *settings(void);
static void conn_close(fu_http_conn_t *c);
static void server_release(fu_http_server_t *s);
static void parse(fu_http_conn_t *c, const char *data, size_t len);

/* The server's lists of connections (open ones; closed ones whose gone is due). */
static void conn_link(fu_http_conn_t **head, fu_http_conn_t *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void conn_unlink(fu_http_conn_t **head, fu_http_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* Tells the owner of a deferred request or a stream that its connection is gone. */
static void tell_gone(fu_http_conn_t *c)
{
    void (*gone)(void *ud) = c->gone;
    c->gone = NULL;
    gone(c->gone_ud);
}

const char *fu_http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

static void logf_(fu_http_server_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(fu_http_server_t *s, const char *fmt, ...)
{
    if (s->h.log == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->h.log(s->h.ud, line);
}

/* ---- timers ---- */

static void on_timeout(uv_timer_t *t);

static void arm(fu_http_conn_t *c, uint64_t ms)
{
    if (c->closing)
        return;
    /* The loop's clock is read once per iteration; one iteration that accepts a thousand
     * connections lasts long enough that a deadline from it would come early (a vDSO
     * clock read per arm is cheap). */
    uv_update_time(c->server->loop);
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* ---- writing ---- */

static void pump(fu_http_conn_t *c);
static void conn_read_start(fu_http_conn_t *c);
static void linger(fu_http_conn_t *c);
static void on_conn_closed(uv_handle_t *h);

/* Something was sent: go on with the body being streamed, or close, or let the
 * parser go on with the requests held back while this answer went out. */
static void after_send(fu_http_conn_t *c)
{
    if (c->closing || c->sf_left)
        return;
    if (c->stream_left) {
        pump(c);
        return;
    }
    if (c->unsent == 0 && c->close_after_write) {
        if (c->error_status && !c->lingering)
            linger(c);
        else
            conn_close(c);
        return;
    }
    if (c->paused && c->answer == ANSWER_INLINE && c->unsent < HIGH_WATER / 2) {
        c->paused = false;
        llhttp_resume(&c->parser);
        char *p = c->pending;
        size_t n = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
        if (n)
            parse(c, p, n);
        free(p);
        if (!c->closing && !c->paused)
            conn_read_start(c);
    }
}

static void on_written(uv_write_t *w, int status)
{
    wreq_t *r = (wreq_t *)w;
    fu_http_conn_t *c = r->conn;
    c->unsent -= r->len;
    c->sent += r->len;
    free(r);
    if (status < 0) {
        conn_close(c);
        return;
    }
    after_send(c);
}

/* ---- sendfile: package bodies on plain HTTP go from the page cache to the socket ---- */

static void sf_poll_closed(uv_handle_t *h)
{
    fu_http_conn_t *c = h->data;
    close(c->sf_sock);
    c->sf_sock = -1;
    on_conn_closed(h);
}

/* The poll handle lives as long as the connection once made: a transfer that finishes
 * only stops it, so the next (pipelined) one can wait on it again. */
static void sf_stop(fu_http_conn_t *c)
{
    if (c->sf_polling) {
        c->sf_polling = false;
        uv_poll_stop(&c->sf_poll);
    }
}

static void sf_close(fu_http_conn_t *c)
{
    if (c->sf_sock >= 0) {
        c->sf_polling = false;
        uv_close((uv_handle_t *)&c->sf_poll, sf_poll_closed);
    }
}

static void sf_pump(fu_http_conn_t *c);

static void on_sf_writable(uv_poll_t *h, int status, int events)
{
    fu_http_conn_t *c = h->data;
    (void)events;
    if (status < 0) {
        conn_close(c);
        return;
    }
    sf_pump(c);
}

/* sendfile(2) until done or EAGAIN; then waits for the socket through a poll handle on a
 * dup of its fd (libuv allows one watcher per fd, and the TCP handle has that one). */
static void sf_pump(fu_http_conn_t *c)
{
    int sock;
    if (uv_fileno((uv_handle_t *)&c->tcp, &sock) != 0) {
        conn_close(c);
        return;
    }
    while (c->sf_left && !c->closing) {
        off_t off = (off_t)c->sf_off;
        size_t n = c->sf_left > (1u << 22) ? (1u << 22) : (size_t)c->sf_left;
        ssize_t w = sendfile(sock, c->sf_fd, &off, n);
        if (w > 0) {
            c->sf_off += (uint64_t)w;
            c->sf_left -= (uint64_t)w;
            c->server->stats.bytes_sent += (uint64_t)w;
            c->sent += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            if (c->sf_sock < 0) {
                int fd = dup(sock);
                if (fd < 0 || uv_poll_init(c->server->loop, &c->sf_poll, fd) != 0) {
                    if (fd >= 0)
                        close(fd);
                    conn_close(c);
                    return;
                }
                c->sf_sock = fd;
                c->sf_poll.data = c;
                c->handles_open++;
            }
            if (!c->sf_polling) {
                c->sf_polling = true;
                uv_poll_start(&c->sf_poll, UV_WRITABLE, on_sf_writable);
            }
            return; /* the idle timer, armed when the request ended, watches progress */
        }
        conn_close(c); /* the peer went away, or the file shrank */
        return;
    }
    sf_stop(c);
    after_send(c);
}

/* Queues bytes for the socket: copied, or referenced when static (must outlive us).
 * With nothing queued it first tries to write at once: a response that fits the socket
 * buffer then costs one write(2) and no write request (uv_write would also re-arm epoll). */
static void send_raw(fu_http_conn_t *c, const char *data, size_t len, bool copy)
{
    if (len == 0 || c->closing)
        return;
    if (c->unsent == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)(len > 1u << 30 ? 1u << 30 : len));
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n > 0) {
            c->server->stats.bytes_sent += (uint64_t)n;
            c->sent += (uint64_t)n;
            data += n;
            len -= (size_t)n;
            if (len == 0)
                return;
        } else if (n != UV_EAGAIN) {
            conn_close(c);
            return;
        }
    }
    while (!copy && len > (1u << 30)) { /* uv_buf_t lengths are 32-bit: 1 GiB pieces */
        send_raw(c, data, 1u << 30, false);
        data += 1u << 30;
        len -= 1u << 30;
        if (c->closing)
            return;
    }
    wreq_t *r = malloc(sizeof(*r) + (copy ? len : 0));
    if (r == NULL) {
        conn_close(c);
        return;
    }
    r->conn = c;
    r->len = len;
    uv_buf_t b = uv_buf_init(copy ? r->data : (char *)data, (unsigned)len);
    if (copy)
        memcpy(r->data, data, len);
    c->unsent += len;
    c->server->stats.bytes_sent += len;
    if (uv_write(&r->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        c->unsent -= len;
        free(r);
        conn_close(c);
    }
}

/* Moves TLS records from the write BIO to the socket. */
static void flush_tls(fu_http_conn_t *c)
{
    char buf[16384 + 512];
    size_t n;
    while (!c->closing && (n = fu_tls_pending_out(&c->tls)) > 0) {
        n = fu_tls_take_out(&c->tls, buf, n < sizeof(buf) ? n : sizeof(buf));
        send_raw(c, buf, n, true);
    }
}

static void send_bytes(fu_http_conn_t *c, const char *data, size_t len, bool copy)
{
    if (!c->is_tls) {
        send_raw(c, data, len, copy);
        return;
    }
    if (fu_tls_write(&c->tls, data, len) != 0) {
        conn_close(c);
        return;
    }
    flush_tls(c);
}

/* TLS bodies are encrypted a chunk at a time, only while little is unsent. */
static void pump(fu_http_conn_t *c)
{
    while (c->stream_left && c->unsent < HIGH_WATER && !c->closing) {
        size_t n = c->stream_left > TLS_CHUNK ? TLS_CHUNK : (size_t)c->stream_left;
        send_bytes(c, c->stream, n, false);
        c->stream += n;
        c->stream_left -= n;
    }
    if (c->stream_left == 0 && c->unsent == 0 && c->close_after_write)
        conn_close(c);
}

/* ---- responses ---- */

/* Whether the connection stays open for the next request after this answer. */
static bool keep_alive(fu_http_conn_t *c, int status)
{
    return llhttp_should_keep_alive(&c->parser) && !c->server->shutting_down &&
           c->error_status == 0 && status != 408;
}

/* The status line and headers, appended by hand: this runs once per request (snprintf
 * showed in profiles). len counts only with FRAME_LENGTH. Returns the head's length. */
static size_t build_head(char head[HEAD_MAX], int status, const char *ctype, const char *extra,
                         framing_t framing, uint64_t len, bool keep)
{
    size_t n = 0;
    char num[24];
    bool no_body_status = status == 204 || status == 304;
#define APPEND(str)                                                                      \
    do {                                                                                 \
        size_t l_ = strlen(str);                                                         \
        if (n + l_ < HEAD_MAX - 3) {                                                     \
            memcpy(head + n, str, l_);                                                   \
            n += l_;                                                                     \
        }                                                                                \
    } while (0)
    snprintf(num, sizeof(num), "%d ", status);
    APPEND("HTTP/1.1 ");
    APPEND(num);
    APPEND(fu_http_status_text(status));
    APPEND("\r\nServer: fleetup\r\n");
    if (!no_body_status) {
        if (framing == FRAME_LENGTH) {
            snprintf(num, sizeof(num), "%llu", (unsigned long long)len);
            APPEND("Content-Length: ");
            APPEND(num);
            APPEND("\r\n");
        } else if (framing == FRAME_CHUNKED) {
            APPEND("Transfer-Encoding: chunked\r\n");
        }
        if (ctype) {
            APPEND("Content-Type: ");
            APPEND(ctype);
            APPEND("\r\n");
        }
    }
    if (extra)
        APPEND(extra);
    if (!keep)
        APPEND("Connection: close\r\n");
    APPEND("\r\n");
#undef APPEND
    return n;
}

/* The answer is queued: close once it is out, or, when it came late (deferred, streamed),
 * read the requests held back meanwhile. */
static void answered(fu_http_conn_t *c, bool late)
{
    if (!c->closing && c->unsent == 0 && c->close_after_write)
        conn_close(c);
    else if (late && !c->closing)
        after_send(c);
}

static void finish_response(fu_http_request_t *req, int status, const char *ctype,
                            const char *extra, const char *body, uint64_t len, bool copy,
                            int fd, uint64_t fd_off)
{
    fu_http_conn_t *c = req->conn;
    if (c->closing)
        return;
    bool late = c->answer != ANSWER_INLINE;
    c->answer = ANSWER_INLINE;
    c->gone = NULL;
    bool keep = keep_alive(c, status);
    char head[HEAD_MAX];
    size_t n = build_head(head, status, ctype, extra, FRAME_LENGTH, len, keep);
    c->server->stats.requests++;
    c->close_after_write = !keep;
    bool body_allowed = !req->head && status != 204 && status != 304;
    if (!body_allowed || len == 0) {
        send_bytes(c, head, n, true);
    } else if (fd >= 0 && !c->is_tls && !copy) {
        send_bytes(c, head, n, true);
        if (c->unsent == 0 && !c->closing) {
            c->sf_fd = fd;
            c->sf_off = fd_off;
            c->sf_left = len;
            sf_pump(c);
        } else {
            send_bytes(c, body, (size_t)len, false); /* the head is still queued */
        }
    } else if (len <= SMALL_BODY) {
        /* Head and a small body in one write: one syscall, one TLS record. */
        char one[HEAD_MAX + SMALL_BODY];
        memcpy(one, head, n);
        memcpy(one + n, body, (size_t)len);
        send_bytes(c, one, n + (size_t)len, true);
    } else if (copy || !c->is_tls) {
        /* Plain HTTP: the kernel takes the shared bytes straight from memory. */
        send_bytes(c, head, n, true);
        send_bytes(c, body, (size_t)len, copy);
    } else {
        send_bytes(c, head, n, true);
        c->stream = body;
        c->stream_left = len;
        pump(c);
    }
    answered(c, late);
}

void fu_http_defer(fu_http_request_t *req, void (*gone)(void *ud), void *ud)
{
    fu_http_conn_t *c = req->conn;
    c->answer = ANSWER_DEFERRED;
    c->gone = gone;
    c->gone_ud = ud;
}

void fu_http_respond(fu_http_request_t *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len)
{
    finish_response(req, status, content_type, extra_headers, body, len, true, -1, 0);
}

void fu_http_respond_file(fu_http_request_t *req, int status, const char *content_type,
                          const char *extra_headers, const char *body, int fd, uint64_t off,
                          uint64_t len)
{
    finish_response(req, status, content_type, extra_headers, body, len, false, fd, off);
}

/* ---- streams: a deferred answer whose body goes out piece by piece ---- */

/* gone never runs from inside fu_http_stream_open/write (in_stream_call): a close there
 * leaves it to on_conn_closed, from the loop. */
fu_http_stream_t *fu_http_stream_open(fu_http_request_t *req, int status, const char *content_type,
                                      const char *extra_headers, void (*gone)(void *ud), void *ud)
{
    fu_http_conn_t *c = req->conn;
    fu_http_stream_t *st = &c->live;
    bool chunks = c->parser.http_major > 1 ||
                  (c->parser.http_major == 1 && c->parser.http_minor >= 1); /* not HTTP/1.0 */
    st->conn = c;
    st->framing = chunks ? FRAME_CHUNKED : FRAME_CLOSE;
    st->bodyless = req->head || status == 204 || status == 304;
    st->keep = chunks && keep_alive(c, status);
    c->answer = ANSWER_STREAMING;
    c->gone = gone;
    c->gone_ud = ud;
    c->server->stats.requests++;
    c->server->stats.streams_open++;
    uv_timer_stop(&c->timer); /* no timeout ends a stream: the backlog limit guards it */
    char head[HEAD_MAX];
    size_t n = build_head(head, status, content_type, extra_headers, st->framing, 0, st->keep);
    c->in_stream_call = true;
    send_bytes(c, head, n, true);
    if (c->server->shutting_down)
        conn_close(c); /* opened during a shutdown, which waits for no stream */
    else if (!c->closing)
        conn_read_start(c); /* an EOF is the client going away; requests after it are held */
    c->in_stream_call = false;
    return st;
}

/* One piece as the client expects it: a chunk, or raw bytes under HTTP/1.0. */
static void stream_send(fu_http_stream_t *st, const char *data, size_t len)
{
    fu_http_conn_t *c = st->conn;
    if (st->framing == FRAME_CLOSE) {
        send_bytes(c, data, len, true);
        return;
    }
    /* Size line, data and CRLF in one buffer: one write, one TLS record (not three). */
    char *chunk = malloc(len + 32);
    if (chunk == NULL) {
        conn_close(c);
        return;
    }
    int h = snprintf(chunk, 32, "%zx\r\n", len);
    memcpy(chunk + h, data, len);
    memcpy(chunk + h + len, "\r\n", 2);
    send_bytes(c, chunk, (size_t)h + len + 2, true);
    free(chunk);
}

int fu_http_stream_write(fu_http_stream_t *st, const char *data, size_t len)
{
    fu_http_conn_t *c = st->conn;
    if (c->closing)
        return -1; /* ended already: its gone is on the way */
    if (len == 0 || st->bodyless)
        return 0; /* an empty chunk would be the last one */
    c->in_stream_call = true;
    if (len > FU_HTTP_STREAM_MAX_BACKLOG || c->unsent > FU_HTTP_STREAM_MAX_BACKLOG - len) {
        logf_(c->server, "stream to %s cut: its client is over %u MiB behind", c->req.peer,
              FU_HTTP_STREAM_MAX_BACKLOG >> 20);
        conn_close(c);
    } else {
        stream_send(st, data, len);
    }
    c->in_stream_call = false;
    return c->closing ? -1 : 0;
}

size_t fu_http_stream_backlog(const fu_http_stream_t *st)
{
    return st->conn->unsent;
}

void fu_http_stream_close(fu_http_stream_t *st)
{
    fu_http_conn_t *c = st->conn;
    if (c->closing) { /* ended inside a stream call, its gone not run yet: now never */
        if (c->gone)
            conn_unlink(&c->server->gone_due, c);
        c->gone = NULL;
        return;
    }
    c->answer = ANSWER_INLINE;
    c->gone = NULL;
    c->server->stats.streams_open--;
    if (st->framing == FRAME_CHUNKED && !st->bodyless)
        send_bytes(c, "0\r\n\r\n", 5, false);
    c->close_after_write = !st->keep;
    arm(c, c->server->lim.idle_timeout_ms); /* back under the timeouts */
    answered(c, true);
}

static void on_shutdown_done(uv_shutdown_t *r, int status)
{
    (void)r, (void)status; /* the close comes from EOF or the linger timer */
}

/* After refusing a request whose client may still be sending (a body over the limit),
 * closing at once would reset the connection with the client's bytes unread, and the
 * client might lose the answer with them. So, as web servers do: the write side is shut,
 * and what still comes is read and dropped until the client closes, for 2 s at most. */
static void linger(fu_http_conn_t *c)
{
    c->lingering = true;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown_done) != 0) {
        conn_close(c);
        return;
    }
    arm(c, 2000);
    conn_read_start(c);
}

/* The server's own answer to a request it refuses (limits, malformed), then close. */
static void refuse(fu_http_conn_t *c, int status, const char *why)
{
    c->server->stats.limit_errors++;
    logf_(c->server, "%d %s from %s: %s", status, fu_http_status_text(status), c->req.peer, why);
    char body[256];
    int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, fu_http_status_text(status), why);
    c->error_status = status;
    c->req.conn = c;
    c->req.head = false;
    finish_response(&c->req, status, "text/plain; charset=utf-8", NULL, body, (size_t)n, true, -1, 0);
    c->close_after_write = true;
    if (c->unsent == 0)
        linger(c);
    else
        uv_read_stop((uv_stream_t *)&c->tcp); /* until the answer is out (after_send) */
}

const char *fu_http_header(const fu_http_request_t *req, const char *name)
{
    const fu_http_conn_t *c = req->conn;
    for (uint32_t i = 0; i < c->nheaders; i++)
        if (strcasecmp(c->head + c->name_off[i], name) == 0)
            return c->head + c->value_off[i];
    return NULL;
}

/* ---- parsing ---- */

static fu_http_conn_t *conn_of(llhttp_t *p)
{
    return (fu_http_conn_t *)p->data;
}

static int head_append(fu_http_conn_t *c, const char *at, size_t len)
{
    if (c->head_len + len + 1 > FU_HTTP_MAX_HEAD) {
        c->error_status = 431;
        return -1;
    }
    memcpy(c->head + c->head_len, at, len);
    c->head_len += len;
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    fu_http_conn_t *c = conn_of(p);
    c->head_len = c->url_len = 0;
    c->nheaders = 0;
    c->in_value = c->in_field = false;
    c->body_len = 0;
    c->in_request = true;
    c->in_body = false;
    arm(c, c->server->lim.header_timeout_ms);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    fu_http_conn_t *c = conn_of(p);
    c->url_len += len;
    if (c->url_len > FU_HTTP_MAX_URL) {
        c->error_status = 414;
        return -1;
    }
    return head_append(c, at, len);
}

static int end_string(fu_http_conn_t *c)
{
    if (c->head_len + 1 > FU_HTTP_MAX_HEAD) {
        c->error_status = 431;
        return -1;
    }
    c->head[c->head_len++] = '\0';
    return 0;
}

static int on_url_complete(llhttp_t *p)
{
    return end_string(conn_of(p));
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    fu_http_conn_t *c = conn_of(p);
    if (c->in_body)
        return 0; /* a chunked body's trailer: never a request header */
    if (!c->in_field) { /* a new header starts; llhttp may split one name over calls */
        if (c->nheaders == FU_HTTP_MAX_HEADERS) {
            c->error_status = 431;
            return -1;
        }
        c->name_off[c->nheaders] = (uint32_t)c->head_len;
        c->value_off[c->nheaders] = UINT32_MAX;
        c->nheaders++;
        c->in_field = true;
        c->in_value = false;
    }
    return head_append(c, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    fu_http_conn_t *c = conn_of(p);
    if (c->in_body)
        return 0;
    c->in_field = false;
    return end_string(c);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    fu_http_conn_t *c = conn_of(p);
    if (c->in_body)
        return 0;
    if (!c->in_value) {
        c->in_value = true;
        c->value_off[c->nheaders - 1] = (uint32_t)c->head_len;
    }
    return head_append(c, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    fu_http_conn_t *c = conn_of(p);
    if (c->in_body)
        return 0;
    if (!c->in_value) { /* an empty value */
        c->in_value = true;
        c->value_off[c->nheaders - 1] = (uint32_t)c->head_len;
    }
    return end_string(c);
}

static int on_headers_complete(llhttp_t *p)
{
    fu_http_conn_t *c = conn_of(p);
    fu_http_request_t *r = &c->req;
    r->conn = c;
    r->method = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
    r->head = llhttp_get_method(p) == HTTP_HEAD;
    r->tls = c->is_tls;
    /* The URL is the first string in head[]: split path and query in place. */
    char *url = c->head;
    char *q = strchr(url, '?');
    if (q) {
        *q = '\0';
        r->query = q + 1;
    } else {
        r->query = "";
    }
    r->path = url;
    for (uint32_t i = 0; i < c->nheaders; i++)
        if (c->value_off[i] == UINT32_MAX)
            c->value_off[i] = c->name_off[i] + (uint32_t)strlen(c->head + c->name_off[i]); /* "" */
    c->body_limit = c->server->h.body_limit ? c->server->h.body_limit(c->server->h.ud, r->method, r->path) : 0;
    if (p->content_length > c->body_limit && (p->flags & F_CONTENT_LENGTH)) {
        c->error_status = 413;
        return -1;
    }
    c->in_body = true; /* the head's deadline goes on for the body (at most 64 KiB) */
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    fu_http_conn_t *c = conn_of(p);
    if (c->body_len + len > c->body_limit) {
        c->error_status = 413;
        return -1;
    }
    if (c->body_len + len > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap * 2 : 4096;
        while (cap < c->body_len + len)
            cap *= 2;
        c->body = realloc(c->body, cap + 1);
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    fu_http_conn_t *c = conn_of(p);
    fu_http_request_t *r = &c->req;
    if (c->body)
        c->body[c->body_len] = '\0';
    r->body = c->body ? c->body : "";
    r->body_len = c->body_len;
    c->in_request = c->in_body = false;
    arm(c, c->server->lim.idle_timeout_ms);
    c->server->h.handle(c->server->h.ud, r);
    if (c->answer != ANSWER_INLINE)
        return HPE_PAUSED; /* answered later: fu_http_respond*() or the stream's close resumes */
    if (c->closing || c->close_after_write)
        return HPE_PAUSED; /* nothing after this request is read */
    if (c->stream_left || c->sf_left || c->unsent >= HIGH_WATER)
        return HPE_PAUSED; /* the next request waits until this answer is out */
    return 0;
}

static const llhttp_settings_t *settings(void)
{
    static llhttp_settings_t s;
    static bool init;
    if (!init) {
        llhttp_settings_init(&s);
        s.on_message_begin = on_message_begin;
        s.on_url = on_url;
        s.on_url_complete = on_url_complete;
        s.on_header_field = on_header_field;
        s.on_header_field_complete = on_header_field_complete;
        s.on_header_value = on_header_value;
        s.on_header_value_complete = on_header_value_complete;
        s.on_headers_complete = on_headers_complete;
        s.on_body = on_body;
        s.on_message_complete = on_message_complete;
        init = true;
    }
    return &s;
}

/* While an answer is pending, reading stops and what was read waits; a stream reads
 * on (into the held bytes), as only the EOF tells that its client went away. */
static void stop_reading(fu_http_conn_t *c)
{
    if (c->answer != ANSWER_STREAMING)
        uv_read_stop((uv_stream_t *)&c->tcp);
}

static void hold(fu_http_conn_t *c, const char *data, size_t len)
{
    if (c->pending_len + len > PENDING_MAX) {
        conn_close(c); /* a client that pipelines without reading its answers */
        return;
    }
    c->pending = realloc(c->pending, c->pending_len + len);
    memcpy(c->pending + c->pending_len, data, len);
    c->pending_len += len;
    stop_reading(c);
}

static void parse(fu_http_conn_t *c, const char *data, size_t len)
{
    if (c->closing || c->error_status || c->close_after_write)
        return; /* refused, or the last request: nothing more is read */
    if (c->paused) {
        hold(c, data, len);
        return;
    }
    llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
    if (e == HPE_OK)
        return;
    if (e == HPE_PAUSED) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        size_t used = pos ? (size_t)(pos - data) : len;
        if (c->closing || c->close_after_write)
            return;
        c->paused = true;
        if (used < len)
            hold(c, data + used, len - used);
        else
            stop_reading(c);
        return;
    }
    switch (c->error_status) {
    case 413: refuse(c, 413, "request body over this route's limit"); break;
    case 414: refuse(c, 414, "URL over 8 KiB"); break;
    case 431: refuse(c, 431, "request head over 16 KiB or over 64 header fields"); break;
    default:
        /* An unknown method word is 405; bytes that are no request at all are 400. */
        if (e == HPE_INVALID_METHOD && len > 0 && data[0] >= 'A' && data[0] <= 'Z')
            refuse(c, 405, "unknown method");
        else
            refuse(c, 400, llhttp_errno_name(e));
    }
}

/* ---- connections ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested > 65536 ? 65536 : suggested);
    buf->len = buf->base ? (suggested > 65536 ? 65536 : suggested) : 0;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void conn_read_start(fu_http_conn_t *c)
{
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    fu_http_conn_t *c = st->data;
    if (c->lingering) { /* dropped unread; the end of it closes */
        if (n < 0)
            conn_close(c);
        free(buf->base);
        return;
    }
    if (n < 0) {
        if (n == UV_EOF && !c->is_tls && !c->closing)
            llhttp_finish(&c->parser);
        if (n == UV_EOF && !c->closing && c->answer != ANSWER_STREAMING &&
            (c->unsent || c->sf_left || c->stream_left)) {
            /* half-closed: the answer in progress still goes out (a stream has no end) */
            c->close_after_write = true;
            uv_read_stop((uv_stream_t *)&c->tcp);
        } else {
            conn_close(c);
        }
    } else if (n > 0 && !c->is_tls) {
        parse(c, buf->base, (size_t)n);
    } else if (n > 0) {
        fu_tls_feed(&c->tls, buf->base, (size_t)n);
        char plain[16384];
        int got;
        while (!c->closing && (got = fu_tls_read(&c->tls, plain, sizeof(plain))) > 0)
            parse(c, plain, (size_t)got);
        if (!c->closing)
            flush_tls(c); /* handshake records, alerts */
        if (c->tls.failed && !c->closing) {
            if (!c->tls.peer_closed) /* close_notify is how a client says goodbye */
                logf_(c->server, "TLS handshake or record error from %s", c->req.peer);
            conn_close(c);
        }
    }
    free(buf->base);
}

static void on_conn_closed(uv_handle_t *h)
{
    fu_http_conn_t *c = h->data;
    if (--c->handles_open > 0)
        return;
    fu_http_server_t *s = c->server;
    if (c->gone) { /* closed inside a stream call */
        conn_unlink(&s->gone_due, c);
        tell_gone(c);
    }
    if (c->is_tls)
        fu_tls_conn_free(&c->tls);
    free(c->body);
    free(c->pending);
    free(c);
    if (--s->allocated > 0)
        return;
    if (s->freeing) {
        server_release(s);
    } else if (s->shutting_down && s->shutdown_cb) {
        void (*cb)(void *) = s->shutdown_cb;
        s->shutdown_cb = NULL;
        uv_timer_stop(&s->shutdown_timer);
        cb(s->shutdown_ud);
    }
}

static void conn_close(fu_http_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    fu_http_server_t *s = c->server;
    s->stats.connections_open--;
    if (c->answer == ANSWER_STREAMING)
        s->stats.streams_open--;
    conn_unlink(&s->conns, c);
    if (c->answer != ANSWER_INLINE && c->gone) {
        if (c->in_stream_call)
            conn_link(&s->gone_due, c); /* its caller still holds the stream */
        else
            tell_gone(c);
    }
    sf_close(c);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
    fu_http_conn_t *c = t->data;
    if (c->lingering) {
        conn_close(c);
    } else if (c->in_request && !c->in_body) {
        refuse(c, 408, "request head not received in time");
    } else if (c->in_request) {
        refuse(c, 408, "request body not received in time");
    } else if ((c->stream_left || c->sf_left || c->unsent) && c->sent != c->sent_mark) {
        c->sent_mark = c->sent; /* still sending and the client still reads: not idle */
        arm(c, c->server->lim.idle_timeout_ms);
    } else if (c->stream_left || c->sf_left || c->unsent) {
        logf_(c->server, "connection from %s cut: it read nothing for %llu ms", c->req.peer,
              (unsigned long long)c->server->lim.idle_timeout_ms);
        conn_close(c);
    } else {
        conn_close(c);
    }
}

/* A connection around an accepted socket (or, for tests and fuzzing, an adopted one). */
static fu_http_conn_t *conn_new(fu_http_server_t *s)
{
    fu_http_conn_t *c = calloc(1, sizeof(*c));
    c->server = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    c->sf_fd = c->sf_sock = -1;
    s->allocated++;
    return c;
}

static void conn_discard(fu_http_conn_t *c)
{
    c->closing = true;
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void sock_name(const struct sockaddr_storage *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    } else if (sa->ss_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(((const struct sockaddr_in *)sa)->sin_port));
    }
}

/* Both ends of the connection, "local" when unknown (a socketpair in tests). */
static void peer_name(fu_http_conn_t *c)
{
    struct sockaddr_storage sa;
    int salen = sizeof(sa);
    snprintf(c->req.peer, sizeof(c->req.peer), "local");
    snprintf(c->req.local, sizeof(c->req.local), "local");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0)
        sock_name(&sa, c->req.peer, sizeof(c->req.peer));
    salen = sizeof(sa);
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&sa, &salen) == 0)
        sock_name(&sa, c->req.local, sizeof(c->req.local));
}

/* Closes with an RST instead of a FIN (SO_LINGER 0): a refused or rebooting peer. */
static void conn_reset(fu_http_conn_t *c)
{
    int fd;
    struct linger l = {1, 0};
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    conn_close(c);
}

uint32_t fu_http_reset_local(fu_http_server_t *s, const char *local)
{
    uint32_t n = 0;
    for (fu_http_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (strcmp(c->req.local, local) == 0) {
            conn_reset(c);
            n++;
        }
    }
    return n;
}

void fu_http_set_accept(fu_http_server_t *s, bool (*accept)(void *ud, const char *local,
                                                            const char *peer))
{
    s->accept = accept;
}

/* Counts the connection in, enforces the cap, sets up TLS and the parser, reads. */
static void conn_start(fu_http_server_t *s, fu_http_conn_t *c, SSL_CTX *tls)
{
    s->stats.connections_total++;
    s->stats.connections_open++;
    conn_link(&s->conns, c);
    peer_name(c);
    if (s->shutting_down || (s->lim.max_connections && s->stats.connections_open > s->lim.max_connections)) {
        s->stats.connections_refused++;
        logf_(s, "connection from %s closed: %u connections open (limit %u)", c->req.peer,
              s->stats.connections_open - 1, s->lim.max_connections);
        conn_close(c);
        return;
    }
    if (s->accept && !s->accept(s->h.ud, c->req.local, c->req.peer)) {
        s->stats.connections_refused++;
        conn_reset(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (tls) {
        c->is_tls = true;
        if (fu_tls_conn_init(&c->tls, tls, true) != 0) {
            conn_close(c);
            return;
        }
    }
    llhttp_init(&c->parser, HTTP_REQUEST, settings());
    c->parser.data = c;
    arm(c, s->lim.header_timeout_ms);
    c->in_request = true; /* the first request head is due */
    conn_read_start(c);
}

static void on_connection(uv_stream_t *ls, int status)
{
    listener_t *l = ls->data;
    if (status < 0)
        return;
    fu_http_conn_t *c = conn_new(l->server);
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        conn_discard(c);
        return;
    }
    conn_start(l->server, c, l->tls);
}

int fu_http_adopt(fu_http_server_t *s, uv_os_sock_t fd, SSL_CTX *tls)
{
    fu_http_conn_t *c = conn_new(s);
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc != 0) {
        conn_discard(c);
        return rc;
    }
    conn_start(s, c, tls);
    return 0;
}

/* ---- server ---- */

fu_http_server_t *fu_http_server_new(uv_loop_t *loop, const fu_http_handlers_t *h,
                                     const fu_http_limits_t *lim)
{
    fu_http_server_t *s = calloc(1, sizeof(*s));
    s->loop = loop;
    s->h = *h;
    s->lim = *lim;
    if (s->lim.header_timeout_ms == 0)
        s->lim.header_timeout_ms = 10000;
    if (s->lim.idle_timeout_ms == 0)
        s->lim.idle_timeout_ms = 60000;
    uv_timer_init(loop, &s->shutdown_timer);
    return s;
}

static listener_t *listener_new(fu_http_server_t *s, SSL_CTX *tls)
{
    listener_t *l = calloc(1, sizeof(*l));
    l->server = s;
    l->tls = tls;
    uv_tcp_init(s->loop, &l->tcp);
    l->tcp.data = l;
    return l;
}

int fu_http_listen_fd(fu_http_server_t *s, uv_os_sock_t fd, SSL_CTX *tls, char *err,
                      size_t errlen)
{
    listener_t *l = listener_new(s, tls);
    int rc = uv_tcp_open(&l->tcp, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 4096, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on socket %d: %s", (int)fd, uv_strerror(rc));
        uv_close((uv_handle_t *)&l->tcp, (uv_close_cb)free);
        return -1;
    }
    l->next = s->listeners;
    s->listeners = l;
    return 0;
}

int fu_http_listen(fu_http_server_t *s, const char *addr, uint16_t port, SSL_CTX *tls,
                   char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    if (uv_ip4_addr(addr, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&sa) != 0) {
        snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address to listen on", addr);
        return -1;
    }
    listener_t *l = listener_new(s, tls);
    int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, sa.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s%s%s:%u: %s", strchr(addr, ':') ? "[" : "",
                 addr, strchr(addr, ':') ? "]" : "", port, uv_strerror(rc));
        uv_close((uv_handle_t *)&l->tcp, (uv_close_cb)free);
        return -1;
    }
    l->next = s->listeners;
    s->listeners = l;
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_shutdown_deadline(uv_timer_t *t)
{
    fu_http_server_t *s = t->data;
    for (fu_http_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        logf_(s, "connection from %s cut at the shutdown deadline", c->req.peer);
        conn_close(c);
    }
}

static void close_listeners(fu_http_server_t *s)
{
    for (listener_t *l = s->listeners; l; l = l->next)
        uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    s->listeners = NULL;
}

void fu_http_shutdown(fu_http_server_t *s, uint64_t deadline_ms, void (*cb)(void *), void *ud)
{
    s->shutting_down = true;
    s->shutdown_cb = cb;
    s->shutdown_ud = ud;
    close_listeners(s);
    for (fu_http_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->answer == ANSWER_STREAMING ||
            (!c->stream_left && !c->sf_left && c->unsent == 0 && !c->in_body))
            conn_close(c); /* a stream (it has no end to wait for), idle, or only a head */
        else
            c->close_after_write = true;
    }
    if (s->allocated == 0) {
        s->shutdown_cb = NULL;
        if (cb)
            cb(ud);
        return;
    }
    /* Otherwise cb runs from on_conn_closed when the last connection is freed. */
    s->shutdown_timer.data = s;
    uv_timer_start(&s->shutdown_timer, on_shutdown_deadline, deadline_ms, 0);
}

static void on_server_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The server itself goes with its timer, once no connection needs it (on_conn_closed). */
static void server_release(fu_http_server_t *s)
{
    s->shutdown_timer.data = s;
    uv_close((uv_handle_t *)&s->shutdown_timer, on_server_timer_closed);
}

void fu_http_server_free(fu_http_server_t *s)
{
    s->freeing = s->shutting_down = true;
    s->shutdown_cb = NULL;
    uv_timer_stop(&s->shutdown_timer);
    close_listeners(s);
    for (fu_http_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    while (s->gone_due) { /* their owners must hear it now, not after they are gone too */
        fu_http_conn_t *c = s->gone_due;
        conn_unlink(&s->gone_due, c);
        tell_gone(c);
    }
    if (s->allocated == 0)
        server_release(s);
}

void fu_http_stats(const fu_http_server_t *s, fu_http_stats_t *out)
{
    *out = s->stats;
}
