/* fleetup's HTTP/1.1 server on the orchestrator's libuv loop: plain and TLS listeners,
 * llhttp parsing with byte limits, keep-alive, pipelining, chunked request bodies,
 * timeouts against slow clients, a connection cap, and responses whose bodies are
 * written straight from shared memory (packages are read once, served to everyone). */
#ifndef FU_HTTP_SERVER_H
#define FU_HTTP_SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct fu_http_server_s fu_http_server_t;
typedef struct fu_http_conn_s fu_http_conn_t;

#define FU_HTTP_MAX_HEAD (16 * 1024)
#define FU_HTTP_MAX_URL (8 * 1024)
#define FU_HTTP_MAX_HEADERS 64

typedef struct {
    fu_http_conn_t *conn;
    const char *method; /* "GET", "HEAD", "POST"... */
    bool head;          /* HEAD: headers only */
    const char *path;   /* the URL's path, NUL-terminated, not decoded */
    const char *query;  /* after '?', or "" */
    const char *body;
    size_t body_len;
    bool tls;           /* arrived on the HTTPS listener */
    char peer[64];      /* address:port of the client */
    char local[64];     /* address:port the connection was accepted on (getsockname): one
                         * wildcard listener can serve many addresses (fleetsim) */
} fu_http_request_t;

/* The value of a request header (case-insensitive name), or NULL. */
const char *fu_http_header(const fu_http_request_t *req, const char *name);

/* One response per request, from inside the handler. extra_headers: "Name: value\r\n"
 * lines or NULL. The body is copied, except with fu_http_respond_file() whose bytes (and
 * file) must outlive the server (packages). */
void fu_http_respond(fu_http_request_t *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len);

/* A body that is also in a file: plain HTTP sends it with sendfile(2) from fd at off;
 * TLS encrypts it from body (the same bytes, mapped). */
void fu_http_respond_file(fu_http_request_t *req, int status, const char *content_type,
                          const char *extra_headers, const char *body, int fd, uint64_t off,
                          uint64_t len);

/* Answering later (fleetsim's slow and hung BMCs): called from inside the handler, it
 * keeps req valid after the handler returns, until fu_http_respond*() is called on it
 * (from a timer, say); nothing after this request is read meanwhile. If the connection
 * goes first (client gone, idle timeout: a deferred request still counts as idle,
 * fu_http_reset_local()), gone(ud) runs instead and req must not be used again. */
void fu_http_defer(fu_http_request_t *req, void (*gone)(void *ud), void *ud);

/* Streaming responses (Server-Sent Events): a body written piece by piece for as long as
 * the caller wants. The stream lives in its connection: no timeout ends it, the client
 * going away or falling too far behind does (gone), and so do shutdown and free. */
typedef struct fu_http_stream_s fu_http_stream_t;
#define FU_HTTP_STREAM_MAX_BACKLOG (4u << 20)
/* From inside the handler: answers `status` with content_type and extra_headers
 * ("Name: value\r\n" lines or NULL) and no Content-Length (HTTP/1.1: Transfer-Encoding:
 * chunked; an HTTP/1.0 client: Connection: close and raw bytes). The request's connection
 * then belongs to the stream: it is exempt from the header and idle timeouts, and nothing
 * after this request is read (pipelined requests wait or are dropped at close). gone(ud)
 * runs exactly once if the connection ends before fu_http_stream_close() (client went
 * away, a write error, the backlog limit, server shutdown or free); the stream must not be
 * used after gone returns, nor after fu_http_stream_close(). Returns NULL (and the
 * request gets a 500) only on allocation failure. */
fu_http_stream_t *fu_http_stream_open(fu_http_request_t *req, int status, const char *content_type,
                                      const char *extra_headers, void (*gone)(void *ud), void *ud);
/* Queues bytes (copied) as one chunk. 0, or -1 when the client is more than
 * FU_HTTP_STREAM_MAX_BACKLOG bytes behind: the connection is then closed and gone(ud) runs
 * later from the loop (never from inside this call). Works over plain and TLS listeners.
 * A chunk that would take the backlog over the limit is not sent; -1 also when the
 * connection has already ended (its gone is on its way). len 0 sends nothing. */
int fu_http_stream_write(fu_http_stream_t *st, const char *data, size_t len);
/* Bytes queued and not yet written to the socket. */
size_t fu_http_stream_backlog(const fu_http_stream_t *st);
/* Ends the response (the last chunk); the connection goes back to keep-alive (or closes
 * under HTTP/1.0). gone is not called after this. */
void fu_http_stream_close(fu_http_stream_t *st);

typedef struct {
    void *ud;
    /* Called for every complete request. */
    void (*handle)(void *ud, fu_http_request_t *req);
    /* The most body bytes a request may carry, decided from its method and path once
     * its head is read (413 beyond). */
    size_t (*body_limit)(void *ud, const char *method, const char *path);
    /* A line for the log (status codes the server produced itself: 4xx for limits). */
    void (*log)(void *ud, const char *line);
} fu_http_handlers_t;

typedef struct {
    uint32_t max_connections;  /* beyond: accepted and closed at once */
    uint64_t header_timeout_ms; /* a request (head and body) must arrive within this */
    uint64_t idle_timeout_ms;  /* keep-alive connections without a request; also a client
                                * that reads nothing of an answer for this long */
} fu_http_limits_t;

typedef struct {
    uint64_t connections_total, connections_refused, requests, bytes_sent;
    uint32_t connections_open;
    uint32_t streams_open; /* of connections_open, those a stream holds */
    uint64_t limit_errors; /* 4xx the server itself answered: 400 413 414 431 408 405 */
} fu_http_stats_t;

fu_http_server_t *fu_http_server_new(uv_loop_t *loop, const fu_http_handlers_t *h,
                                     const fu_http_limits_t *lim);
/* Listens on addr:port (IPv4 or IPv6 literal); tls: NULL for plain HTTP. */
int fu_http_listen(fu_http_server_t *s, const char *addr, uint16_t port, SSL_CTX *tls,
                   char *err, size_t errlen);
/* Listens on a socket the caller made and bound (fleetsim: 0.0.0.0 bound to the
 * loopback device with SO_BINDTODEVICE); the server owns fd from then on. */
int fu_http_listen_fd(fu_http_server_t *s, uv_os_sock_t fd, SSL_CTX *tls, char *err,
                      size_t errlen);
/* Asked for every accepted connection (local and peer as in fu_http_request_t, h's ud):
 * false resets it at once (RST) before anything is read. NULL: serve all. */
void fu_http_set_accept(fu_http_server_t *s, bool (*accept)(void *ud, const char *local,
                                                            const char *peer));
/* Resets (RST) every open connection accepted on local ("ADDR:PORT"); a deferred
 * request's or a stream's gone callback runs from inside this call. Returns how many. */
uint32_t fu_http_reset_local(fu_http_server_t *s, const char *local);
/* Serves a connected socket (tests, fuzzing): as if accepted from a listener. */
int fu_http_adopt(fu_http_server_t *s, uv_os_sock_t fd, SSL_CTX *tls);
/* Stops accepting, closes idle connections, lets responses in progress finish; cb runs
 * when the last connection is gone or at the deadline (then the rest are cut). Streams
 * are not waited for: they end at once (their gone runs from inside this call). */
void fu_http_shutdown(fu_http_server_t *s, uint64_t deadline_ms, void (*cb)(void *), void *ud);
/* Usually after fu_http_shutdown() has called back (cb is not called after this). Any
 * connection still open is cut, its gone callback (deferred request, stream) run from
 * inside this call; the memory goes as the loop runs the handles' close callbacks. */
void fu_http_server_free(fu_http_server_t *s);
void fu_http_stats(const fu_http_server_t *s, fu_http_stats_t *out);
const char *fu_http_status_text(int status);

#endif
