/* libFuzzer target: the HTTP server's request handling (llhttp, limits, routes: tokens,
 * ranges, JSON status posts) on arbitrary bytes, delivered over a socketpair in chunks
 * whose sizes the input itself chooses, with the loop run between chunks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/fleet.h"
#include "http/packages.h"
#include "http/routes.h"
#include "http/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static uv_loop_t loop;
static fu_http_server_t *server;
static fu_routes_t routes;
static fu_packages_t packages;
static fu_package_t package;
static fu_secrets_t secrets;
static fu_fleet_t *fleet;
static char payload[100000];

static size_t body_limit(void *ud, const char *m, const char *p)
{
    return fu_routes_body_limit(ud, m, p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const char text[] = "fleetup: 1\nnodes:\n  node1:\n  node2:\n";
    fu_diag_t d;
    fu_diag_init(&d);
    fleet = fu_fleet_load_buffer("fuzz.yml", text, sizeof(text) - 1, &d);
    fu_diag_free(&d);
    memset(payload, 'p', sizeof(payload));
    /* The SHA-256 is only a key here: the store is built by hand, not hashed. */
    snprintf(package.sha256, sizeof(package.sha256), "%064d", 7);
    package.name = "bios";
    package.data = payload;
    package.size = sizeof(payload);
    package.fd = -1;
    packages.v = &package;
    packages.n = 1;
    memset(secrets.secret, 1, sizeof(secrets.secret));
    memset(secrets.admin, 'a', 64);
    uv_loop_init(&loop);
    fu_routes_init(&routes);
    routes.fleet = fleet;
    routes.packages = &packages;
    routes.secrets = &secrets;
    routes.api_on_http = true;
    fu_http_handlers_t h = {&routes, fu_routes_handle, body_limit, NULL};
    fu_http_limits_t lim = {.max_connections = 100, .header_timeout_ms = 20,
                            .idle_timeout_ms = 20};
    server = fu_http_server_new(&loop, &h, &lim);
    routes.server = server;
    return 0;
}

static void drain(int fd)
{
    char buf[65536];
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    if (fu_http_adopt(server, sv[0], NULL) != 0) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    /* The first byte picks the chunk size, so the fuzzer explores every split. */
    size_t chunk = (size_t)data[0] % 64 + 1, at = 1;
    while (at < size) {
        size_t n = size - at < chunk ? size - at : chunk;
        if (send(sv[1], data + at, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            break;
        at += n;
        uv_run(&loop, UV_RUN_NOWAIT);
        drain(sv[1]);
    }
    shutdown(sv[1], SHUT_WR);
    /* Let the server answer and close: its timers are 20 ms. */
    for (int i = 0; i < 200 && uv_loop_alive(&loop); i++) {
        uv_run(&loop, UV_RUN_ONCE);
        drain(sv[1]);
    }
    close(sv[1]);
    uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
