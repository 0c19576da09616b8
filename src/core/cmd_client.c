/* fleetup status, submit, pause, resume, abort, promote, retry: the command-line client of
 * `fleetup serve`'s API (docs/api.md). One HTTPS connection on a small libuv loop, the
 * server's certificate pinned by the SHA-256 that serve records in STATE_DIR/serve.json. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/cli.h"
#include "core/loader.h"
#include "transports/http_client.h"

#define FAILED_SHOWN 20               /* failed nodes listed by `status ID` */
#define MAX_ANSWER (64u * 1024 * 1024) /* the nodes list of a very large fleet */

typedef struct {
    const char *name, *args, *what;
} client_cmd_t;

static const client_cmd_t client_cmds[] = {
    {"status", "[ID] [--json]",
     "Without ID, the service's rollouts, newest first: ID, STATE, LIVE (driven by the\n"
     "running serve; 'no' is a journaled rollout no process drives), NODES, DONE (done\n"
     "or already current), FAILED, UNREACH, ACTIVE (in a phase, waiting for a slot or to\n"
     "retry), PENDING (not started; cancelled ones included), WAVE (current/total), FLEET.\n"
     "With ID, that rollout: state, reason, node counts, a line per wave, and its failed\n"
     "and unreachable nodes with their reasons (the first 20).\n"},
    {"submit", "FLEET [--limit PATTERN] [--paused] [--json]",
     "Starts a rollout of FLEET in the service and prints its id. The server reads the\n"
     "file itself (its absolute path is sent: the service's user must be able to read it\n"
     "there) and runs it under the file's own policy: section. --limit PATTERN as in\n"
     "'fleetup deploy'; --paused: nothing starts until 'fleetup resume ID'. A fleet file\n"
     "the server cannot load: its FILE:LINE:COL messages, exit 2. Refused (exit 1) when\n"
     "a node of FLEET is already in a live rollout.\n"},
    {"pause", "ID [--json]", "Stops starting nodes in rollout ID; nodes in flight go on.\n"},
    {"resume", "ID [--json]", "Ends an operator pause (or a pause between waves) of rollout ID.\n"},
    {"abort", "ID [--json]",
     "Cancels the nodes of rollout ID that are not past their inventory; the others\n"
     "finish what they are doing.\n"},
    {"promote", "ID [--json]", "Passes the canary gate of rollout ID (policy 'promote: manual').\n"},
    {"retry", "ID [--json]",
     "Puts the failed and unreachable nodes of rollout ID back to pending; their failures\n"
     "leave the failure budgets, so a halted rollout runs again and a finished one\n"
     "reopens. Nodes already done are not touched.\n"},
};

typedef struct {
    const client_cmd_t *cmd;
    const char *dir, *server, *fingerprint, *limit, *arg;
    bool json, paused;
    uint64_t timeout_ms;
    long long id;
} client_args_t;

/* One connection to the service and the answer to the last request. */
typedef struct {
    const client_args_t *a;
    uv_loop_t loop;
    bool loop_open;
    SSL_CTX *ctx;
    fu_hc_t *hc;
    char host[256], where[300];
    uint16_t port;
    long serve_pid;     /* serve.json's pid, 0 when the target came from flags */
    char token[257];    /* never printed */
    bool done;
    fu_hc_err_t kind;
    char err[512];
    int status;
    char *body;
} client_t;

static void help(const client_cmd_t *c)
{
    printf("usage: fleetup %s %s\n"
           "         [--state-dir DIR] [--server HOST[:PORT]] [--fingerprint SHA256] [--timeout D]\n"
           "\n%s\n",
           c->name, c->args, c->what);
    printf("A client of 'fleetup serve' (docs/service.md); status, submit, pause, resume,\n"
           "abort, promote and retry all talk to its API over HTTPS (TLS 1.2 or later):\n"
           "\n"
           "  --state-dir DIR       the state directory serve runs with (default ./.fleetup;\n"
           "                        the systemd unit's is /var/lib/fleetup). The admin token\n"
           "                        is read from DIR/admin.token (serve makes it on its first\n"
           "                        start; keep it mode 0600), the server's port and its\n"
           "                        certificate's SHA-256 from DIR/serve.json (serve writes it\n"
           "                        when it starts)\n"
           "  --server HOST[:PORT]  the server (default: loopback and serve.json's ssl_port;\n"
           "                        [::1]:63002 for IPv6); the token still comes from DIR\n"
           "  --fingerprint SHA256  the certificate to expect ('AB:CD:...', as serve prints at\n"
           "                        start, or 64 hex digits) instead of serve.json's tls_sha256\n"
           "  --timeout D           give up after D without an answer (default 10s)\n"
           "  --json                print the server's JSON answer as it is (status, submit\n"
           "                        and the rollout commands)\n"
           "\n"
           "The certificate is pinned: when it is not the expected one nothing is sent, the\n"
           "token included. The token is never printed.\n"
           "Exit codes: 0 done; 1 the command does not apply in the rollout's state (the\n"
           "server says why), the token was refused, or the server could not be reached;\n"
           "2 bad usage, an unknown rollout, a fleet the server cannot load, no serve.json\n"
           "or no admin token.\n");
}

/* Options shared by every client command; those a command does not take are usage
 * errors. Returns -1 to go on, else the exit code. */
static int parse_args(const client_cmd_t *cmd, int argc, char **argv, client_args_t *a)
{
    static const struct option opts[] = {{"state-dir", required_argument, NULL, 'd'},
                                         {"server", required_argument, NULL, 's'},
                                         {"fingerprint", required_argument, NULL, 'f'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"paused", no_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *n = cmd->name;
    bool submit = strcmp(n, "submit") == 0;
    *a = (client_args_t){.cmd = cmd, .dir = ".fleetup", .timeout_ms = 10000};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd': a->dir = optarg; break;
        case 's': a->server = optarg; break;
        case 'f': a->fingerprint = optarg; break;
        case 'j': a->json = true; break;
        case 't':
            if (!fu_duration_parse(optarg, &a->timeout_ms) || a->timeout_ms == 0)
                return fu_cli_usage_error(n, "--timeout takes a duration such as 10s or 2m, not '%s'", optarg);
            break;
        case 'l':
        case 'p':
            if (!submit)
                return fu_cli_usage_error(n, "--%s is an option of 'fleetup submit'", opt == 'l' ? "limit" : "paused");
            if (opt == 'l')
                a->limit = optarg;
            else
                a->paused = true;
            break;
        case 'h': help(cmd); return FU_EXIT_OK;
        default: return fu_cli_usage_error(n, "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    bool optional = strcmp(n, "status") == 0;
    if (argc - optind > 1 || (argc == optind && !optional))
        return fu_cli_usage_error(n, "expects %s", submit ? "one FLEET file" : optional ? "at most one rollout ID"
                                                                                      : "one rollout ID");
    a->arg = optind < argc ? argv[optind] : NULL;
    if (a->arg && !submit) {
        char *end;
        errno = 0;
        a->id = strtoll(a->arg, &end, 10);
        if (*a->arg == '\0' || *end || errno || a->id <= 0)
            return fu_cli_usage_error(n, "'%s' is no rollout ID ('fleetup status' lists them)", a->arg);
    }
    return -1;
}

/* HOST, HOST:PORT, [V6], [V6]:PORT or a bare V6 literal; port stays as is when absent. */
static bool parse_server(const char *s, char *host, size_t hlen, uint16_t *port)
{
    const char *colon = NULL, *h = s;
    size_t n;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return false;
        h = s + 1;
        n = (size_t)(close - h);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL; /* a bare IPv6 literal */
        n = colon ? (size_t)(colon - s) : strlen(s);
    }
    if (n == 0 || n >= hlen || (colon && !fu_cli_parse_port(colon + 1, port)))
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    return true;
}

/* The address serve listens on that this host reaches best: loopback when it listens
 * on every address (or on loopback), else its first bind address. */
static void host_from_bind(json_t *bind, char *host, size_t len)
{
    const char *pick = "127.0.0.1", *first = NULL;
    bool v4 = false, v6 = false;
    size_t i;
    json_t *b;
    json_array_foreach(bind, i, b) {
        const char *s = json_string_value(b);
        if (s == NULL)
            continue;
        first = first ? first : s;
        v4 |= strcmp(s, "0.0.0.0") == 0 || strcmp(s, "127.0.0.1") == 0;
        v6 |= strcmp(s, "::") == 0 || strcmp(s, "::1") == 0;
    }
    if (!v4 && v6)
        pick = "::1";
    else if (!v4 && first)
        pick = first;
    snprintf(host, len, "%s", pick);
}

/* Reads DIR/serve.json into c (port, host, pid) and *fp (its tls_sha256, kept in sj).
 * Returns -1 to go on, else the exit code; *sj is NULL when there is no file. */
static int read_serve_json(client_t *c, const char *path, json_t **sj, const char **fp)
{
    const char *n = c->a->cmd->name;
    *sj = NULL;
    if (access(path, R_OK) != 0 && errno == ENOENT) {
        if (*fp)
            return -1; /* --fingerprint, and --server or the defaults */
        fprintf(stderr, "fleetup %s: no %s: 'fleetup serve' is not running with --state-dir %s (it writes\n"
                        "that file when it starts). Start it, pass the state dir it runs with (the systemd\n"
                        "unit's is /var/lib/fleetup), or pass --server HOST[:PORT] and --fingerprint SHA256.\n",
                n, path, c->a->dir);
        return FU_EXIT_USAGE;
    }
    json_error_t jerr;
    if ((*sj = json_load_file(path, 0, &jerr)) == NULL) {
        fprintf(stderr, "fleetup %s: %s: %s\n", n, path, jerr.text);
        return FU_EXIT_USAGE;
    }
    json_int_t port = json_integer_value(json_object_get(*sj, "ssl_port"));
    if (port > 0 && port < 65536)
        c->port = (uint16_t)port;
    host_from_bind(json_object_get(*sj, "bind"), c->host, sizeof(c->host));
    c->serve_pid = (long)json_integer_value(json_object_get(*sj, "pid"));
    if (*fp == NULL)
        *fp = json_string_value(json_object_get(*sj, "tls_sha256"));
    return -1;
}

/* The server to talk to and the pin to expect: flags first, then DIR/serve.json, then
 * 127.0.0.1:63002. Returns -1 to go on, else the exit code. */
static int find_server(client_t *c, uint8_t pin[32])
{
    const client_args_t *a = c->a;
    const char *n = a->cmd->name, *fp = a->fingerprint;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/serve.json", a->dir);
    snprintf(c->host, sizeof(c->host), "127.0.0.1");
    c->port = 63002;
    json_t *sj;
    int rc = read_serve_json(c, path, &sj, &fp);
    if (rc >= 0)
        return rc;
    if (a->server) {
        c->serve_pid = 0; /* serve.json's process may not be the one asked */
        if (!parse_server(a->server, c->host, sizeof(c->host), &c->port))
            rc = fu_cli_usage_error(n, "--server takes HOST, HOST:PORT or [IPV6]:PORT, not '%s'", a->server);
    }
    if (rc < 0 && fp == NULL) {
        fprintf(stderr, "fleetup %s: %s has no tls_sha256; pass --fingerprint SHA256\n", n, path);
        rc = FU_EXIT_USAGE;
    } else if (rc < 0 && fu_hc_parse_pin(fp, pin) != 0) {
        fprintf(stderr, "fleetup %s: '%s' (%s) is no SHA-256 fingerprint: 'AB:CD:...' (32 bytes) or 64 hex "
                        "digits\n", n, fp, a->fingerprint ? "--fingerprint" : path);
        rc = FU_EXIT_USAGE;
    }
    bool v6 = strchr(c->host, ':') != NULL;
    snprintf(c->where, sizeof(c->where), "%s%s%s:%u", v6 ? "[" : "", c->host, v6 ? "]" : "", c->port);
    json_decref(sj);
    return rc;
}

/* The first line of DIR/admin.token; a token others can read is used, with a warning. */
static int read_token(client_t *c)
{
    const char *n = c->a->cmd->name;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/admin.token", c->a->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "fleetup %s: cannot read the admin token %s: %s.\n'fleetup serve' makes it on its "
                        "first start in its state directory: run this with that --state-dir, as a user\n"
                        "who can read it (e.g. 'sudo -u fleetup fleetup %s --state-dir /var/lib/fleetup').\n",
                n, path, strerror(errno), n);
        return FU_EXIT_USAGE;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "fleetup %s: warning: %s is open to other users (mode %04o): "
                        "chmod 600 %s\n", n, path, (unsigned)(st.st_mode & 07777), path);
    bool got = fgets(c->token, sizeof(c->token), f) != NULL;
    bool whole = got && (strchr(c->token, '\n') || feof(f));
    fclose(f);
    c->token[got ? strcspn(c->token, "\r\n") : 0] = '\0';
    bool clean = whole && c->token[0] != '\0';
    for (const char *p = c->token; *p; p++)
        clean &= *p > ' ' && *p < 127; /* it goes into a header line */
    if (!clean) {
        OPENSSL_cleanse(c->token, sizeof(c->token));
        fprintf(stderr, "fleetup %s: %s does not hold a token on its first line (empty, too long or with "
                        "spaces); 'fleetup serve' makes a new one if you remove the file\n", n, path);
        return FU_EXIT_USAGE;
    }
    return -1;
}

static int client_open(client_t *c, const client_args_t *a)
{
    *c = (client_t){.a = a};
    int rc = uv_loop_init(&c->loop);
    if (rc != 0) {
        fprintf(stderr, "fleetup %s: event loop: %s\n", a->cmd->name, uv_strerror(rc));
        return FU_EXIT_FAILURES;
    }
    c->loop_open = true;
    uint8_t pin[32];
    rc = find_server(c, pin);
    if (rc < 0)
        rc = read_token(c);
    if (rc >= 0)
        return rc;
    char err[256];
    if ((c->ctx = fu_hc_ssl_ctx(NULL, err, sizeof(err))) == NULL) {
        fprintf(stderr, "fleetup %s: TLS: %s\n", a->cmd->name, err);
        return FU_EXIT_FAILURES;
    }
    fu_hc_opts_t o = {.host = c->host, .port = c->port, .tls = true, .ssl_ctx = c->ctx,
                      .verify = FU_HC_VERIFY_PIN, .connect_timeout_ms = a->timeout_ms,
                      .request_timeout_ms = a->timeout_ms, .max_response = MAX_ANSWER};
    memcpy(o.pin, pin, sizeof(pin));
    if ((c->hc = fu_hc_new(&c->loop, &o)) == NULL) {
        fprintf(stderr, "fleetup %s: out of memory\n", a->cmd->name);
        return FU_EXIT_FAILURES;
    }
    return -1;
}

static void client_close(client_t *c)
{
    OPENSSL_cleanse(c->token, sizeof(c->token));
    if (c->hc)
        fu_hc_close(c->hc, NULL, NULL);
    if (c->loop_open) {
        uv_run(&c->loop, UV_RUN_DEFAULT); /* the client's handles close */
        uv_loop_close(&c->loop);
    }
    SSL_CTX_free(c->ctx);
    free(c->body);
}

static void on_answer(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res)
{
    client_t *c = ud;
    c->done = true;
    c->kind = kind;
    if (err) {
        snprintf(c->err, sizeof(c->err), "%s", err);
        return;
    }
    c->status = res->status;
    c->body = strndup(res->body ? res->body : "", res->body_len);
}

/* Says why no answer came and what to do; exit code 1. */
static int transport_error(const client_t *c)
{
    const char *n = c->a->cmd->name;
    fprintf(stderr, "fleetup %s: %s\n", n, c->err[0] ? c->err : "out of memory");
    if (c->kind == FU_HC_ERR_CONNECT) {
        if (c->serve_pid > 0 && kill((pid_t)c->serve_pid, 0) != 0 && errno == ESRCH)
            fprintf(stderr, "%s/serve.json names process %ld, which is not running: 'fleetup serve' stopped\n"
                            "(its output, or 'systemctl status fleetup', says why); start it again.\n",
                    c->a->dir, c->serve_pid);
        else
            fprintf(stderr, "Nothing accepts connections on %s: is 'fleetup serve' running there, and is that\n"
                            "its ssl_port? ('systemctl status fleetup'; --server HOST:PORT names another)\n",
                    c->where);
    } else if (c->kind == FU_HC_ERR_TLS && strstr(c->err, "pinned")) {
        fprintf(stderr, "Nothing was sent. The server on %s is not the 'fleetup serve' whose certificate\n"
                        "this state directory records, or serve now has another certificate: compare with the\n"
                        "'TLS certificate SHA-256' line serve prints at start (or tls_sha256 in serve.json in\n"
                        "its state dir), then pass --state-dir DIR of that serve or --fingerprint SHA256.\n",
                c->where);
    } else if (c->kind == FU_HC_ERR_TIMEOUT) {
        fprintf(stderr, "No answer from %s in time (--timeout D waits longer).\n", c->where);
    } else if (c->kind != FU_HC_ERR_CANCELLED) {
        fprintf(stderr, "Is %s the HTTPS port (ssl_port) of 'fleetup serve'?\n", c->where);
    }
    return FU_EXIT_FAILURES;
}

/* One request, run to its end on the loop. 0 with c->status and c->body set, else the
 * transport error has been printed and the exit code is returned. */
static int call(client_t *c, const char *method, const char *path, const char *body)
{
    free(c->body);
    c->body = NULL;
    c->done = false;
    c->err[0] = '\0';
    char headers[400];
    snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\nAccept: application/json\r\n%s",
             c->token, body ? "Content-Type: application/json\r\n" : "");
    fu_hc_iov_t iov = {body, body ? strlen(body) : 0};
    fu_hc_req_t rq = {.method = method, .path = path, .headers = headers, .body = body ? &iov : NULL,
                      .nbody = body ? 1 : 0, .total_timeout_ms = c->a->timeout_ms, .cb = on_answer,
                      .ud = c};
    int rc = fu_hc_request(c->hc, &rq); /* copies the headers */
    OPENSSL_cleanse(headers, sizeof(headers));
    if (rc != 0) {
        c->kind = FU_HC_ERR_CANCELLED;
        return transport_error(c);
    }
    while (!c->done)
        uv_run(&c->loop, UV_RUN_ONCE);
    if (c->kind != FU_HC_OK || c->body == NULL)
        return transport_error(c);
    return 0;
}

/* The server's JSON answer, or NULL with a message when it is none. */
static json_t *answer_json(const client_t *c)
{
    json_error_t jerr;
    json_t *j = json_loads(c->body, 0, &jerr);
    if (j == NULL)
        fprintf(stderr, "fleetup %s: the answer of %s (HTTP %d) is no JSON: %s; is it 'fleetup serve'?\n",
                c->a->cmd->name, c->where, c->status, jerr.text);
    return j;
}

/* A 4xx/5xx answer: the server's error (and diagnostics), with what to do next. */
static int http_error(const client_t *c)
{
    const client_args_t *a = c->a;
    const char *n = a->cmd->name;
    json_t *j = json_loads(c->body, 0, NULL);
    const char *e = json_string_value(json_object_get(j, "error"));
    int rc = FU_EXIT_FAILURES;
    if (c->status == 401 || c->status == 403) {
        fprintf(stderr, "fleetup %s: %s refused the admin token (HTTP %d: %s).\nThe token in %s/admin.token is "
                        "not the one this server uses: pass the --state-dir that\n'fleetup serve' runs with (or "
                        "copy its admin.token, mode 0600).\n",
                n, c->where, c->status, e ? e : "no reason given", a->dir);
    } else if (c->status == 404) {
        fprintf(stderr, "fleetup %s: %s (HTTP 404; 'fleetup status' lists the rollouts)\n", n,
                e ? e : "no such rollout on this server");
        rc = FU_EXIT_USAGE;
    } else if (c->status == 409) {
        fprintf(stderr, "fleetup %s: refused: %s\n", n, e ? e : "the command does not apply now (HTTP 409)");
    } else {
        fprintf(stderr, "fleetup %s: the server answered HTTP %d: %s\n", n, c->status, e ? e : "(no error given)");
        rc = c->status == 400 || c->status == 413 ? FU_EXIT_USAGE : FU_EXIT_FAILURES;
    }
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(j, "diagnostics"), i, d)
        if (json_is_string(d))
            fprintf(stderr, "%s\n", json_string_value(d));
    json_decref(j);
    return rc;
}

/* The body as is, with a final newline. */
static void print_raw(const client_t *c)
{
    size_t len = strlen(c->body);
    fputs(c->body, stdout);
    if (len == 0 || c->body[len - 1] != '\n')
        putchar('\n');
}

/* One request to the path made of fmt: -1 with its parsed 2xx answer in *out to go on,
 * else the exit code (the error said; or, under --json, the answer printed as it is). */
__attribute__((format(printf, 5, 6)))
static int request(client_t *c, const char *method, const char *body, json_t **out, const char *fmt, ...)
{
    char path[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    *out = NULL;
    int rc = call(c, method, path, body);
    if (rc != 0)
        return rc;
    if (c->status / 100 != 2)
        return http_error(c);
    if (c->a->json) {
        print_raw(c);
        return FU_EXIT_OK;
    }
    return (*out = answer_json(c)) ? -1 : FU_EXIT_FAILURES;
}

static unsigned count(json_t *counts, const char *state)
{
    return (unsigned)json_integer_value(json_object_get(counts, state));
}

/* "done 38, failed 2, active 10": the node states that are not zero, in a fixed order. */
static void counts_line(json_t *counts, char *buf, size_t len)
{
    static const char *const order[] = {"done",   "skipped", "failed",  "unreachable", "active",
                                        "waiting", "retry",   "pending", "cancelled"};
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && at < len; i++) {
        unsigned v = count(counts, order[i]);
        if (v)
            at += (size_t)snprintf(buf + at, len - at, "%s%s %u", at ? ", " : "", order[i], v);
    }
    if (buf[0] == '\0')
        snprintf(buf, len, "-");
}

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* "waves" is a number in the list and an array of waves in one rollout's answer. */
static unsigned wave_count(json_t *r)
{
    json_t *w = json_object_get(r, "waves");
    return json_is_array(w) ? (unsigned)json_array_size(w) : (unsigned)json_integer_value(w);
}

static int status_list(client_t *c)
{
    json_t *j;
    int rc = request(c, "GET", NULL, &j, "/api/v1/rollouts");
    if (rc >= 0)
        return rc;
    json_t *list = json_object_get(j, "rollouts");
    if (!json_is_array(list)) {
        fprintf(stderr, "fleetup status: the answer of %s has no rollouts list\n", c->where);
        json_decref(j);
        return FU_EXIT_FAILURES;
    }
    if (json_array_size(list) == 0)
        printf("no rollouts on %s ('fleetup submit FLEET' starts one)\n", c->where);
    else
        printf("%5s  %-16s  %-4s  %6s  %6s  %6s  %7s  %6s  %7s  %-5s  %s\n", "ID", "STATE", "LIVE", "NODES",
               "DONE", "FAILED", "UNREACH", "ACTIVE", "PENDING", "WAVE", "FLEET");
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
        json_t *k = json_object_get(r, "counts");
        unsigned waves = wave_count(r);
        char wave[32] = "-";
        if (waves)
            snprintf(wave, sizeof(wave), "%u/%u", (unsigned)json_integer_value(json_object_get(r, "current_wave")) + 1,
                     waves);
        printf("%5lld  %-16s  %-4s  %6u  %6u  %6u  %7u  %6u  %7u  %-5s  %s\n",
               (long long)json_integer_value(json_object_get(r, "id")), str_or(r, "state", "?"),
               json_is_true(json_object_get(r, "live")) ? "yes" : "no",
               (unsigned)json_integer_value(json_object_get(r, "nodes")), count(k, "done") + count(k, "skipped"),
               count(k, "failed"), count(k, "unreachable"),
               count(k, "active") + count(k, "waiting") + count(k, "retry"),
               count(k, "pending") + count(k, "cancelled"), wave, str_or(r, "fleet", "?"));
    }
    json_decref(j);
    return FU_EXIT_OK;
}

/* What the operator can do next in the rollout's state. */
static void state_hint(json_t *r, long long id, const char *dir)
{
    const char *s = str_or(r, "state", "");
    if (strcmp(s, "paused") == 0)
        printf("next:      'fleetup resume %lld' goes on\n", id);
    else if (strcmp(s, "awaiting-promote") == 0)
        printf("next:      the canary is done; 'fleetup promote %lld' opens the next wave\n", id);
    else if (strcmp(s, "halted") == 0)
        printf("next:      'fleetup retry %lld' runs the failed nodes again, 'fleetup abort %lld' ends it\n", id,
               id);
    else if (strcmp(s, "interrupted") == 0)
        printf("next:      no process drives it; stop serve, then 'fleetup deploy --resume %lld "
               "--state-dir %s' goes on (or restart serve if serve started it)\n", id, dir);
}

/* "2026-11-25 06:21:17" from ms since the epoch, "-" for 0. */
static void wall_time(json_t *ms, char *buf, size_t len)
{
    time_t t = (time_t)(json_integer_value(ms) / 1000);
    struct tm tm;
    if (t <= 0 || strftime(buf, len, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm)) == 0)
        snprintf(buf, len, "-");
}

static void print_rollout(json_t *r, const client_args_t *a)
{
    char buf[512], started[32], finished[32];
    const char *state = str_or(r, "state", "?"), *limit = str_or(r, "limit", NULL),
               *reason = str_or(r, "reason", NULL);
    bool live = json_is_true(json_object_get(r, "live")), ended = strcmp(state, "finished") == 0;
    printf("rollout %lld  %s%s\n", a->id, state, live || ended ? "" : " (no process drives it)");
    printf("fleet:     %s%s%s\n", str_or(r, "fleet", "?"), limit ? "  --limit " : "", limit ? limit : "");
    if (reason)
        printf("reason:    %s\n", reason);
    unsigned waves = wave_count(r);
    printf("nodes:     %u in %u wave%s", (unsigned)json_integer_value(json_object_get(r, "nodes")), waves,
           waves == 1 ? "" : "s");
    if (!ended)
        printf(", wave %u now, %u in flight", (unsigned)json_integer_value(json_object_get(r, "current_wave")) + 1,
               (unsigned)json_integer_value(json_object_get(r, "in_flight")));
    counts_line(json_object_get(r, "counts"), buf, sizeof(buf));
    printf("\ncounts:    %s\n", buf);
    fu_cli_duration(buf, sizeof(buf), (uint64_t)json_integer_value(json_object_get(r, "elapsed_ms")));
    wall_time(json_object_get(r, "started_ms"), started, sizeof(started));
    wall_time(json_object_get(r, "finished_ms"), finished, sizeof(finished));
    printf("time:      started %s, elapsed %s%s%s\n", started, buf, ended ? ", finished " : "",
           ended ? finished : "");
    json_t *p = json_object_get(r, "policy");
    if (json_is_object(p))
        printf("policy:    mode %s, concurrency %lld, promote %s, waves %s\n", str_or(p, "mode", "?"),
               (long long)json_integer_value(json_object_get(p, "concurrency")), str_or(p, "promote", "?"),
               str_or(p, "waves", "?"));
    state_hint(r, a->id, a->dir);
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(r, "waves"), i, w) {
        counts_line(json_object_get(w, "counts"), buf, sizeof(buf));
        printf("  wave %u/%u  %-7s  %6u node%s  %s\n", (unsigned)json_integer_value(json_object_get(w, "index")) + 1,
               waves, str_or(w, "state", "?"), (unsigned)json_integer_value(json_object_get(w, "size")),
               json_integer_value(json_object_get(w, "size")) == 1 ? " " : "s", buf);
    }
}

/* The index of name in the nodes answer's "fields", or -1. */
static int field(json_t *fields, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
        if (json_is_string(f) && strcmp(json_string_value(f), name) == 0)
            return (int)i;
    return -1;
}

/* Column col of a nodes row as a string, or dflt. */
static const char *row_str(json_t *row, int col, const char *dflt)
{
    const char *s = col < 0 ? NULL : json_string_value(json_array_get(row, (size_t)col));
    return s ? s : dflt;
}

/* The failed and unreachable nodes with their reasons, the first FAILED_SHOWN. */
static int print_failed_nodes(client_t *c)
{
    json_t *j;
    int rc = request(c, "GET", NULL, &j, "/api/v1/rollouts/%lld/nodes", c->a->id);
    if (rc >= 0)
        return rc;
    json_t *fields = json_object_get(j, "fields");
    int fn = field(fields, "name"), fs = field(fields, "state"), fp = field(fields, "phase"),
        fr = field(fields, "reason");
    size_t i, total = 0;
    json_t *row;
    printf("failed and unreachable nodes:\n");
    json_array_foreach(json_object_get(j, "nodes"), i, row) {
        const char *st = row_str(row, fs, "");
        if (strcmp(st, "failed") != 0 && strcmp(st, "unreachable") != 0)
            continue;
        if (total++ < FAILED_SHOWN)
            printf("  %-24s %-11s %-9s %s\n", row_str(row, fn, "?"), st, row_str(row, fp, "-"),
                   row_str(row, fr, "-"));
    }
    if (total > FAILED_SHOWN)
        printf("  ... and %zu more (the dashboard lists them all)\n", total - FAILED_SHOWN);
    json_decref(j);
    return FU_EXIT_OK;
}

static int status_one(client_t *c)
{
    json_t *r;
    int rc = request(c, "GET", NULL, &r, "/api/v1/rollouts/%lld", c->a->id);
    if (rc >= 0)
        return rc;
    print_rollout(r, c->a);
    json_t *k = json_object_get(r, "counts");
    bool failures = count(k, "failed") + count(k, "unreachable") > 0;
    json_decref(r);
    return failures ? print_failed_nodes(c) : FU_EXIT_OK;
}

static int submit(client_t *c)
{
    const client_args_t *a = c->a;
    char abs[PATH_MAX];
    if (realpath(a->arg, abs) == NULL) {
        fprintf(stderr, "fleetup submit: %s: %s\n", a->arg, strerror(errno));
        return FU_EXIT_USAGE;
    }
    json_t *req = json_pack("{s:s, s:s*, s:b}", "fleet", abs, "limit", a->limit, "paused", a->paused);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL) {
        fprintf(stderr, "fleetup submit: %s is not UTF-8 (JSON strings must be)\n", a->limit ? "--limit" : abs);
        return FU_EXIT_USAGE;
    }
    json_t *r;
    int rc = request(c, "POST", body, &r, "/api/v1/rollouts");
    free(body);
    if (rc >= 0)
        return rc;
    long long id = (long long)json_integer_value(json_object_get(r, "id"));
    unsigned waves = wave_count(r);
    printf("rollout %lld submitted: %u nodes in %u wave%s, %s ('fleetup status %lld' follows it)\n", id,
           (unsigned)json_integer_value(json_object_get(r, "nodes")), waves, waves == 1 ? "" : "s",
           str_or(r, "state", "?"), id);
    json_decref(r);
    return FU_EXIT_OK;
}

static int operate(client_t *c)
{
    const client_args_t *a = c->a;
    json_t *r;
    int rc = request(c, "POST", NULL, &r, "/api/v1/rollouts/%lld/%s", a->id, a->cmd->name);
    if (rc >= 0)
        return rc;
    const char *msg = str_or(r, "message", NULL);
    if (msg)
        printf("%s\n", msg);
    else
        printf("rollout %lld: %s applied; now %s\n", a->id, a->cmd->name, str_or(r, "state", "?"));
    json_decref(r);
    return FU_EXIT_OK;
}

static int client_main(const char *name, int argc, char **argv)
{
    const client_cmd_t *cmd = NULL;
    for (size_t i = 0; i < sizeof(client_cmds) / sizeof(client_cmds[0]); i++)
        if (strcmp(client_cmds[i].name, name) == 0)
            cmd = &client_cmds[i];
    client_args_t a;
    int rc = parse_args(cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    signal(SIGPIPE, SIG_IGN); /* a server that hangs up is an error to report, not a signal */
    client_t c;
    rc = client_open(&c, &a);
    if (rc < 0) {
        if (strcmp(name, "status") == 0)
            rc = a.arg ? status_one(&c) : status_list(&c);
        else if (strcmp(name, "submit") == 0)
            rc = submit(&c);
        else
            rc = operate(&c);
    }
    client_close(&c);
    return rc;
}

int fu_cmd_status(int argc, char **argv) { return client_main("status", argc, argv); }
int fu_cmd_submit(int argc, char **argv) { return client_main("submit", argc, argv); }
int fu_cmd_pause(int argc, char **argv) { return client_main("pause", argc, argv); }
int fu_cmd_resume(int argc, char **argv) { return client_main("resume", argc, argv); }
int fu_cmd_abort(int argc, char **argv) { return client_main("abort", argc, argv); }
int fu_cmd_promote(int argc, char **argv) { return client_main("promote", argc, argv); }
int fu_cmd_retry(int argc, char **argv) { return client_main("retry", argc, argv); }
