/* An HTTP/1.1 client on the orchestrator's libuv loop, for Redfish BMCs (and fleetsim's
 * downloads): one keep-alive connection per origin, plain or TLS (OpenSSL on memory BIOs,
 * the glue in http/tls.c), llhttp as the response parser, deadlines on connect, on each
 * request and on the whole exchange, a response size limit, Retry-After honoured.
 *
 * Requests on one fu_hc_t go out one at a time, in the order given (a FIFO; no
 * pipelining). A keep-alive connection the peer closed is reopened for the next request;
 * a request that got no byte of answer on a reused connection is sent once more on a new
 * one (the peer closed it between requests, as servers do after their idle timeout). */
#ifndef FU_HTTP_CLIENT_H
#define FU_HTTP_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct fu_hc_s fu_hc_t;

typedef enum {
    FU_HC_OK,
    FU_HC_ERR_CONNECT,  /* refused, unreachable, no route, bad address: "refused" */
    FU_HC_ERR_TLS,      /* handshake failure, certificate or pin mismatch, hostname */
    FU_HC_ERR_TIMEOUT,  /* connect, request or total deadline passed */
    FU_HC_ERR_PROTOCOL, /* bytes that are no HTTP response, response over the size limit */
    FU_HC_ERR_CLOSED,   /* the peer closed or reset the connection during a response */
    FU_HC_ERR_CANCELLED /* fu_hc_cancel() or fu_hc_close() */
} fu_hc_err_t;

typedef enum {
    FU_HC_VERIFY_CA,   /* the chain against the context's CA store, and the host name */
    FU_HC_VERIFY_PIN,  /* the leaf certificate's SHA-256 equals pin (no chain, no name) */
    FU_HC_VERIFY_NONE  /* insecure: anything; only when the fleet file says so */
} fu_hc_verify_t;

typedef struct {
    const char *host;        /* IP literal (v4 or v6) or a name, resolved with uv_getaddrinfo */
    uint16_t port;
    bool tls;
    SSL_CTX *ssl_ctx;        /* from fu_hc_ssl_ctx(); shared by many clients; tls only */
    const char *server_name; /* SNI and the name checked under VERIFY_CA; NULL: host (no SNI
                              * is sent for an IP literal, as RFC 6066 says) */
    fu_hc_verify_t verify;
    uint8_t pin[32];         /* VERIFY_PIN: SHA-256 of the leaf certificate (DER) */
    uint64_t connect_timeout_ms; /* TCP connect plus TLS handshake; 0: 10 s */
    uint64_t request_timeout_ms; /* from sending a request to the end of its response,
                                  * reset by every byte received; 0: 30 s */
    uint64_t idle_close_ms;  /* close the keep-alive connection after this long unused; 0: 60 s */
    size_t max_response;     /* head plus body, unless streamed (on_data); 0: 4 MiB */
    uint32_t max_retry_after; /* 429/503 with Retry-After retried at most this often; 0: 3 */
    uint64_t max_retry_after_ms; /* a longer Retry-After is returned to the caller; 0: 60 s */
} fu_hc_opts_t;

typedef struct {
    int status;
    const char *body; /* NUL-terminated; NULL when streamed through on_data */
    size_t body_len;
    uint64_t retry_after_ms; /* Retry-After (seconds or HTTP date), 0 if absent */
    bool keep_alive;
    /* Response headers: names lower-cased, in order; valid until the callback returns. */
    uint32_t nheaders;
    const char *const *header_names;
    const char *const *header_values;
} fu_hc_response_t;

/* Exactly once per request, never from inside fu_hc_request(). On success err is NULL
 * and kind FU_HC_OK, whatever the status; otherwise res is NULL and err says what
 * happened (e.g. "connect to 127.2.0.1:443: connection refused",
 * "TLS: certificate fingerprint does not match the pinned one"). The response is
 * valid until the callback returns. */
typedef void (*fu_hc_cb)(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res);

typedef struct {
    const void *base;
    size_t len;
} fu_hc_iov_t;

typedef struct {
    const char *method;  /* "GET", "POST", "PATCH", "DELETE"... */
    const char *path;    /* origin-form: "/redfish/v1/" */
    const char *headers; /* extra "Name: value\r\n" lines, copied; Host, Content-Length,
                          * Connection are written by the client */
    /* The body as a gather list; neither the list nor the bytes are copied, so a package
     * mapped once can be streamed to thousands of BMCs: both must live until cb. */
    const fu_hc_iov_t *body;
    uint32_t nbody;
    /* When set, the response body is handed over in pieces instead of being kept (no size
     * limit applies to it then; return nonzero to abort with FU_HC_ERR_CANCELLED). */
    int (*on_data)(void *ud, const char *p, size_t n);
    uint64_t total_timeout_ms; /* the whole exchange, retries included; 0: none */
    fu_hc_cb cb;
    void *ud;
} fu_hc_req_t;

/* A client context for TLS: TLS 1.2 and later, the system's CA store plus ca_file when
 * given (PEM). NULL with a message in err. */
SSL_CTX *fu_hc_ssl_ctx(const char *ca_file, char *err, size_t errlen);

/* Parses "AB:CD:..." or plain hex (64 digits, any case) into 32 bytes; 0 on success. */
int fu_hc_parse_pin(const char *s, uint8_t out[32]);

/* opts are copied (host and server_name too). Connects lazily, at the first request. */
fu_hc_t *fu_hc_new(uv_loop_t *loop, const fu_hc_opts_t *opts);

/* Queues a request; 0, or -1 when the client is closing. req is copied, not its body. */
int fu_hc_request(fu_hc_t *c, const fu_hc_req_t *req);

/* The value of a response header (case-insensitive), or NULL. */
const char *fu_hc_header(const fu_hc_response_t *res, const char *name);

/* Ends every queued and running request with FU_HC_ERR_CANCELLED. The connection is
 * dropped (the next request reconnects) unless it was idle: a keep-alive connection with
 * nothing on the wire serves the next request. */
void fu_hc_cancel(fu_hc_t *c);

/* Drops the connection, cancels what is queued (callbacks run with FU_HC_ERR_CANCELLED),
 * and frees the client once libuv has closed its handles; closed_cb (may be NULL) then runs. */
void fu_hc_close(fu_hc_t *c, void (*closed_cb)(void *ud), void *ud);

/* The local address of the open connection (the address the peer can reach this
 * process at), e.g. "127.0.0.1"; -1 when not connected. */
int fu_hc_local_address(const fu_hc_t *c, char *buf, size_t len);

/* Counters for benchmarks and /metrics. connects: connections opened (reconnects: those
 * after the first); requests: requests put on the wire, resends and Retry-After retries
 * included; bytes_in/bytes_out: bytes on the socket (ciphertext under TLS). */
typedef struct {
    uint64_t connects, reconnects, requests, retries_after, bytes_in, bytes_out;
} fu_hc_stats_t;
void fu_hc_stats(const fu_hc_t *c, fu_hc_stats_t *out);

/* Parses bytes as one HTTP response, as the client would (fuzzing and unit tests):
 * the status, headers and body into res through cb; returns 0 when one complete
 * response was parsed, -1 with err set otherwise. */
int fu_hc_parse_buffer(const char *data, size_t len, size_t max_response, fu_hc_cb cb, void *ud);

#endif
