/* Where the simulated BMCs live. Address mode: BMC i on 127.2.x.y (host bytes .0 and .255
 * skipped), all behind ONE socket on 0.0.0.0:PORT bound to the loopback device, the BMC
 * known from the address a connection arrived on: one listener per BMC would need 20,000
 * descriptors, the machine's whole limit. --ports mode: BMC i on 127.0.0.1:BASE+i. */
#include "fleetsim.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PER_NET 254u /* host bytes 1..254 */

void fs_bmc_addr(const fs_opts_t *o, uint32_t i, char *host, size_t hostlen, uint16_t *port)
{
    if (o->ports_base) {
        snprintf(host, hostlen, "127.0.0.1");
        *port = (uint16_t)(o->ports_base + i);
        return;
    }
    uint32_t net = i / PER_NET; /* a /24 index from 127.2.0.0 on */
    snprintf(host, hostlen, "127.%u.%u.%u", 2 + net / 256, net % 256, i % PER_NET + 1);
    *port = o->port;
}

int64_t fs_bmc_of(const fs_opts_t *o, const char *local)
{
    unsigned a, b, c, d, port;
    if (sscanf(local, "%u.%u.%u.%u:%u", &a, &b, &c, &d, &port) != 5 || a != 127)
        return -1;
    int64_t i;
    if (o->ports_base) {
        i = (int64_t)port - o->ports_base;
    } else {
        if (port != o->port || b < 2 || b > 255 || c > 255 || d < 1 || d > PER_NET)
            return -1;
        i = ((int64_t)(b - 2) * 256 + c) * PER_NET + (d - 1);
    }
    return i >= 0 && i < o->nodes ? i : -1;
}

/* One TCP socket on 0.0.0.0:port that only takes connections arriving on "lo". */
static int loopback_socket(uint16_t port, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) != 0) {
        snprintf(err, errlen,
                 "SO_BINDTODEVICE lo: %s (needs Linux 5.7+ or CAP_NET_RAW; or use --ports BASE)",
                 strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(err, errlen, "cannot listen on port %u: %s (another fleetsim? use --port)", port,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int fs_listen(fs_world_t *w, char *err, size_t errlen)
{
    const fs_opts_t *o = &w->o;
    if (!o->ports_base) {
        int fd = loopback_socket(o->port, err, errlen);
        if (fd < 0)
            return -1;
        return fu_http_listen_fd(w->server, fd, w->tls, err, errlen);
    }
    for (uint32_t i = 0; i < o->nodes; i++) {
        if (w->bmcs[i].faults & (1u << FS_F_REFUSE))
            continue; /* nothing listens: connections are refused by the kernel */
        if (fu_http_listen(w->server, "127.0.0.1", (uint16_t)(o->ports_base + i), w->tls, err,
                           errlen) != 0)
            return -1;
    }
    return 0;
}
