/* fleetup serve [FLEET]: the shared HTTP (port) / HTTPS (ssl_port) server, serving
 * packages, taking node status posts, the API, the dashboard and metrics, and running
 * the rollouts submitted through the API (src/service); and fleetup token, which prints
 * a node's token. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/cli.h"
#include "core/loader.h"
#include "core/ports.h"
#include "http/service.h"
#include "http/token.h"
#include "service/manager.h"

static void help(void)
{
    printf("usage: fleetup serve [FLEET] [--state-dir DIR] [--port N] [--ssl-port N]\n"
           "                           [--bind ADDR]... [--api-on-http] [--max-connections N]\n"
           "                           [--header-timeout D] [--idle-timeout D]\n"
           "\n"
           "Runs fleetup as a service: rollouts submitted through the API (fleetup submit, or\n"
           "POST /api/v1/rollouts) run side by side, each with its own fleet file and policy,\n"
           "steered with fleetup status|pause|resume|abort|promote|retry or the dashboard at\n"
           "https://HOST:SSL_PORT/. Nodes download packages from /pkg/SHA256 and post their\n"
           "status to /cb/ROLLOUT/NODE with their node token ('fleetup token'); /api/v1/ and\n"
           "/metrics (Prometheus) need the admin token and are on the HTTPS port only unless\n"
           "--api-on-http. See docs/api.md and docs/service.md.\n"
           "\n"
           "FLEET (optional) gives the server: section (ports, bind, certificate, callback\n"
           "address) and packages served from the start; submitted fleets bring their own.\n"
           "\n"
           "The state directory (default ./.fleetup) keeps the journal, the server secret,\n"
           "admin.token (0600), serve.json (ports and certificate fingerprint, for the CLI)\n"
           "and, unless the fleet's server: section names tls_cert and tls_key, a self-signed\n"
           "certificate made on first start. Rollouts this service was running when it\n"
           "stopped are resumed at start. Packages are hashed before a rollout starts: one\n"
           "whose SHA-256 differs from its fleet file refuses the rollout.\n"
           "\n"
           "  --port N, --ssl-port N  ports (flags > FLEETUP_PORT/FLEETUP_SSL_PORT > fleet file\n"
           "                          > 63001/63002)\n"
           "  --bind ADDR             listen on this address (repeatable; default 0.0.0.0 and ::,\n"
           "                          or the fleet's server.bind)\n"
           "  --api-on-http           also serve the API and metrics on the plain port\n"
           "  --max-connections N     beyond N open connections new ones are closed (default 10000)\n"
           "  --header-timeout D      a request head must arrive within D (default 10s): slow\n"
           "                          clients (slowloris) are answered 408 and cut\n"
           "  --idle-timeout D        keep-alive connections idle for D are closed (default 60s)\n"
           "\n"
           "SIGINT/SIGTERM: rollouts stop where they are (journaled; resumed at the next\n"
           "start), no new connections, downloads in progress finish (30 s at most), exit 0.\n");
}

typedef struct {
    uv_loop_t loop;
    fu_service_t svc;
    fu_manager_t *mgr;
    const char *dir;
    char serve_json[4096];
    const char *binds[8];
    int nbinds;
    bool api_on_http;
    uint32_t max_conn;
    uint64_t header_timeout, idle_timeout;
    uv_signal_t sigint, sigterm;
    int rc;
    bool stopping;
} serve_t;

static void log_line(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "fleetup serve: %s\n", line);
}

static void on_stopped(void *ud)
{
    serve_t *s = ud;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    if (s->serve_json[0])
        unlink(s->serve_json);
}

/* The rollouts are closed first (journaled as they are), then the server drains. */
static void on_rollouts_stopped(void *ud)
{
    serve_t *s = ud;
    fu_service_stop(&s->svc, 30000, on_stopped, s);
}

static void on_signal(uv_signal_t *h, int signum)
{
    serve_t *s = h->data;
    if (s->stopping)
        return;
    s->stopping = true;
    fprintf(stderr, "fleetup serve: %s: rollouts stop where they are (resumed at the next "
                    "start); no new connections; downloads in progress finish (30 s at most)\n",
            strsignal(signum));
    if (s->mgr)
        fu_manager_stop(s->mgr, on_rollouts_stopped, s);
    else
        on_rollouts_stopped(s);
}

/* STATE_DIR/serve.json: where the CLI finds this service and the certificate to pin. */
static void write_serve_json(serve_t *s)
{
    snprintf(s->serve_json, sizeof(s->serve_json), "%s/serve.json", s->dir);
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", s->serve_json);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        fprintf(stderr, "fleetup serve: warning: cannot write %s: the CLI will need --server "
                        "and --fingerprint\n", s->serve_json);
        if (fd >= 0)
            close(fd);
        s->serve_json[0] = '\0';
        return;
    }
    fprintf(f, "{\"pid\": %ld, \"port\": %u, \"ssl_port\": %u, \"bind\": [", (long)getpid(),
            s->svc.ports.port, s->svc.ports.ssl_port);
    for (int i = 0; i < s->svc.nbound; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", s->svc.bound[i]);
    fprintf(f, "], \"tls_sha256\": \"%s\"}\n", s->svc.fingerprint);
    if (fclose(f) != 0 || rename(tmp, s->serve_json) != 0) {
        fprintf(stderr, "fleetup serve: warning: cannot write %s\n", s->serve_json);
        s->serve_json[0] = '\0';
    }
}

static void on_ready(void *ud, const char *err)
{
    serve_t *s = ud;
    fu_service_t *svc = &s->svc;
    if (s->stopping) /* a signal came while the packages were hashed: already stopping */
        return;
    if (err) {
        fprintf(stderr, "fleetup serve: %s\n", err);
        s->rc = FU_EXIT_USAGE;
        s->stopping = true;
        if (s->mgr)
            fu_manager_stop(s->mgr, on_stopped, s);
        else
            on_stopped(s);
        return;
    }
    write_serve_json(s);
    for (int i = 0; i < svc->nbound; i++) {
        const char *b = svc->bound[i];
        const char *l = strchr(b, ':') ? "[" : "", *r = strchr(b, ':') ? "]" : "";
        printf("fleetup serve: http://%s%s%s:%u/  https://%s%s%s:%u/\n", l, b, r,
               svc->ports.port, l, b, r, svc->ports.ssl_port);
    }
    printf("fleetup serve: TLS certificate SHA-256 %s\n", svc->fingerprint);
    printf("fleetup serve: %zu package%s, %zu nodes; admin token in %s/admin.token\n",
           svc->packages.n, svc->packages.n == 1 ? "" : "s", svc->f->nnodes, s->dir);
    printf("fleetup serve: dashboard https://%s:%u/ (the admin token logs in)\n",
           svc->nbound && strcmp(svc->bound[0], "0.0.0.0") != 0 && strcmp(svc->bound[0], "::") != 0
               ? svc->bound[0] : "127.0.0.1",
           svc->ports.ssl_port);
    fflush(stdout);
    fu_manager_resume_all(s->mgr);
}

static int parse(int argc, char **argv, serve_t *s, const char **dir, const char **port,
                 const char **ssl_port)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'd'}, {"port", required_argument, NULL, 'p'},
        {"ssl-port", required_argument, NULL, 's'},  {"bind", required_argument, NULL, 'b'},
        {"api-on-http", no_argument, NULL, 'a'},     {"max-connections", required_argument, NULL, 'm'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"idle-timeout", required_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    int c;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:p:s:b:am:H:I:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': *dir = optarg; break;
        case 'p': *port = optarg; break;
        case 's': *ssl_port = optarg; break;
        case 'b':
            if (s->nbinds == 8)
                return fu_cli_usage_error("serve", "at most 8 --bind addresses");
            s->binds[s->nbinds++] = optarg;
            break;
        case 'a': s->api_on_http = true; break;
        case 'm':
            s->max_conn = (uint32_t)strtoul(optarg, &end, 10);
            if (*end || s->max_conn == 0)
                return fu_cli_usage_error("serve", "--max-connections takes a number above 0");
            break;
        case 'H':
        case 'I':
            if (!fu_duration_parse(optarg, c == 'H' ? &s->header_timeout : &s->idle_timeout) ||
                (c == 'H' ? s->header_timeout : s->idle_timeout) == 0)
                return fu_cli_usage_error("serve", "--%s takes a duration above 0 (e.g. 10s, 500ms)",
                                          c == 'H' ? "header-timeout" : "idle-timeout");
            break;
        case 'h': help(); exit(FU_EXIT_OK);
        default: return fu_cli_usage_error("serve", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc - 1)
        return fu_cli_usage_error("serve", "expects at most one FLEET file");
    return 0;
}

int fu_cmd_serve(int argc, char **argv)
{
    serve_t *s = calloc(1, sizeof(*s));
    const char *dir = ".fleetup", *port = NULL, *ssl_port = NULL;
    s->max_conn = 10000;
    int rc = parse(argc, argv, s, &dir, &port, &ssl_port);
    if (rc != 0) {
        free(s);
        return rc;
    }
    /* Without FLEET: no node, and the server: section's defaults. */
    fu_fleet_t *f = optind < argc ? fu_cli_load_fleet(argv[optind], false)
                                  : fu_fleet_empty("(no fleet file)");
    if (f == NULL) {
        free(s);
        return FU_EXIT_USAGE;
    }
    char err[1024];
    fu_service_opts_t so = {.state_dir = dir,
                            .port = port,
                            .ssl_port = ssl_port,
                            .binds = s->nbinds ? s->binds : NULL,
                            .nbinds = s->nbinds,
                            .api_on_http = s->api_on_http,
                            .max_connections = s->max_conn,
                            .header_timeout_ms = s->header_timeout,
                            .idle_timeout_ms = s->idle_timeout,
                            .log = log_line};
    signal(SIGPIPE, SIG_IGN);
    fu_raise_nofile();
    uv_loop_init(&s->loop);
    int irc = fu_service_init(&s->svc, &s->loop, f, &so, err, sizeof(err));
    s->dir = dir;
    if (irc == 0 && (s->mgr = fu_manager_new(&s->loop, &s->svc, dir, err, sizeof(err))) == NULL)
        irc = -1;
    if (irc != 0) {
        if (irc == -2)
            fu_cli_usage_error("serve", "%s", err);
        else
            fprintf(stderr, "fleetup serve: %s\n", err);
        fu_service_free(&s->svc);
        uv_loop_close(&s->loop);
        fu_fleet_free(f);
        free(s);
        return FU_EXIT_USAGE;
    }
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    fu_service_start(&s->svc, on_ready, s);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    rc = s->rc;
    fu_manager_free(s->mgr);
    fu_service_free(&s->svc);
    fu_fleet_free(f);
    free(s);
    return rc;
}

int fu_cmd_token(int argc, char **argv)
{
    static const struct option opts[] = {{"rollout", required_argument, NULL, 'r'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *rollout = NULL, *dir = ".fleetup";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "r:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': rollout = optarg; break;
        case 'd': dir = optarg; break;
        case 'h':
            printf("usage: fleetup token NODE --rollout ID [--state-dir DIR]\n\n"
                   "Prints NODE's token for rollout ID: ROLLOUT:NODE:HMAC, where the HMAC is\n"
                   "HMAC-SHA256 of the server secret in DIR (made on first use) over the rollout\n"
                   "and the node. A node presents it on /pkg/ and /cb/ROLLOUT/NODE, as\n"
                   "'Authorization: Bearer TOKEN' or '?t=TOKEN'.\n");
            return FU_EXIT_OK;
        default: return fu_cli_usage_error("token", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1 || rollout == NULL)
        return fu_cli_usage_error("token", "expects NODE and --rollout ID");
    for (const char *p = rollout; *p; p++)
        if (*p < '0' || *p > '9' || p - rollout > 18)
            return fu_cli_usage_error("token", "--rollout takes a rollout number");
    const char *node = argv[optind];
    if (node[0] == '\0' || strchr(node, ':') || strchr(node, '/'))
        return fu_cli_usage_error("token", "'%s' is not a node name", node);
    fu_secrets_t sec;
    char err[512], tok[1024];
    if (fu_secrets_load(dir, &sec, err, sizeof(err)) != 0) {
        fprintf(stderr, "fleetup token: %s\n", err);
        return FU_EXIT_USAGE;
    }
    fu_token_make(&sec, rollout, node, tok, sizeof(tok));
    printf("%s\n", tok);
    return FU_EXIT_OK;
}
