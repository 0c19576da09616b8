/* `fleetup ports FLEET --check` (ports_check.h): one libuv loop runs at most N TCP connect
 * probes at once to every selected node's to-node ports; a pull-mode SSH node whose SSH
 * port answered is then asked, through its agent, whether it reaches fleetup's callback
 * port, on which this process listens meanwhile (accept and close: nothing is served). */
#include "core/ports_check.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/cli.h"
#include "transports/ssh.h"

#define PC_MAX_LISTENERS 4 /* bind addresses (0.0.0.0 and ::, or server.bind) x 2 ports */
#define PC_PROGRESS_MS 200

typedef enum { TO_PENDING, TO_OPEN, TO_REFUSED, TO_TIMEOUT, TO_UNREACHABLE } to_state_t;
static const char *const to_names[] = {"pending", "open", "refused", "timeout", "unreachable"};

/* not_checked: nothing could ask (a BMC, or an SSH port already found closed);
 * error: the asking failed (SSH login, the agent), so the direction is unknown. */
typedef enum { FROM_PENDING, FROM_OPEN, FROM_BLOCKED, FROM_NOT_CHECKED, FROM_ERROR } from_state_t;
static const char *const from_names[] = {"pending", "open", "blocked", "not_checked", "error"};

typedef struct {
    uint16_t port;
    to_state_t state;
    int uverr;    /* the libuv error of unreachable */
    bool resolve; /* ...which came from resolving the address */
    uint32_t ms;
} to_dir_t;

typedef struct {
    uint16_t port;
    from_state_t state;
    char *why; /* blocked, not_checked, error: the reason (owned) */
} from_dir_t;

typedef struct {
    uint32_t idx;     /* fleet index */
    const char *addr; /* where the transport connects */
    to_dir_t to[FU_PORTS_MAX];
    from_dir_t from[FU_PORTS_MAX];
    uint8_t nto, nfrom, to_left;
    char local[64]; /* the address the node saw us on (no callback_address) */
} pc_node_t;

typedef struct pc_s pc_t;

typedef struct {
    pc_t *pc;
    uv_tcp_t tcp;
    const char *addr;
    uint16_t port;
    int uverr; /* 0: listening */
    uint64_t accepted;
} listener_t;

struct pc_s {
    uv_loop_t loop;
    const fu_fleet_t *f;
    const fu_ports_plan_t *plan;
    fu_ports_check_opts_t o;
    pc_node_t *nodes;
    size_t n, done;
    uint32_t *by_fleet; /* fleet index -> nodes[] index, for the SSH callbacks */
    /* to-node probes, started in node order */
    size_t next_node;
    uint8_t next_k;
    uint32_t probing;
    /* from-node checks through SSH */
    fu_transport_t *ssh;
    const char *ssh_err; /* why there is no SSH transport */
    uint32_t *sshq;
    size_t sshq_head, sshq_tail;
    uint32_t asking;
    listener_t lis[PC_MAX_LISTENERS];
    int nlis;
    uv_timer_t progress, finish;
    bool pumping_probes, pumping_ssh; /* a start that fails at once must not recurse */
    bool tty, finished;
    uint64_t t0, elapsed;
};

typedef struct {
    pc_t *pc;
    uint32_t ni;
    uint8_t k;
    int refs; /* the timer, the socket, a name lookup in flight */
    bool done, resolving, has_tcp;
    uint64_t started;
    uv_timer_t timer;
    uv_tcp_t tcp;
    uv_connect_t req;
    uv_getaddrinfo_t gai;
} probe_t;

static void pump_probes(pc_t *pc);
static void pump_ssh(pc_t *pc);
static void maybe_finish(pc_t *pc);

static bool is_pull_ssh(const fu_node_t *fn)
{
    return fn->transport == FU_TRANSPORT_SSH && fn->callback == FU_CALLBACK_PULL;
}

/* The host a node is asked to reach: the advertised one, else what it saw us as. */
static const char *callback_host(const pc_t *pc, const pc_node_t *n)
{
    return pc->f->server.callback_address ? pc->f->server.callback_address : n->local;
}

static void from_set(pc_node_t *n, uint8_t k, from_state_t st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void from_set(pc_node_t *n, uint8_t k, from_state_t st, const char *fmt, ...)
{
    from_dir_t *d = &n->from[k];
    d->state = st;
    free(d->why);
    d->why = NULL;
    if (fmt == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&d->why, fmt, ap) < 0)
        d->why = NULL;
    va_end(ap);
}

/* Every from-node direction still pending gets st and why. */
static void from_rest(pc_node_t *n, from_state_t st, const char *why)
{
    for (uint8_t k = 0; k < n->nfrom; k++)
        if (n->from[k].state == FROM_PENDING)
            from_set(n, k, st, "%s", why);
}

static void node_done(pc_t *pc)
{
    pc->done++;
    maybe_finish(pc);
}

/* ---- to-node probes ---- */

static void probe_unref(probe_t *p)
{
    if (--p->refs == 0)
        free(p);
}

static void on_probe_closed(uv_handle_t *h)
{
    probe_unref(h->data);
}

/* The node's to-node probes are over: ask its agent, or settle its from-node side. */
static void node_probed(pc_t *pc, pc_node_t *n)
{
    const fu_node_t *fn = &pc->f->nodes[n->idx];
    if (n->nfrom == 0) {
        node_done(pc);
        return;
    }
    if (!is_pull_ssh(fn))
        from_rest(n, FROM_NOT_CHECKED, "BMC: no agent");
    else if (n->to[0].state != TO_OPEN)
        from_rest(n, FROM_NOT_CHECKED, "the SSH port is not open");
    else if (pc->ssh == NULL)
        from_rest(n, FROM_ERROR, pc->ssh_err);
    if (n->from[0].state != FROM_PENDING) {
        node_done(pc);
        return;
    }
    pc->sshq[pc->sshq_tail++] = (uint32_t)(n - pc->nodes);
    pump_ssh(pc);
}

static void probe_end(probe_t *p, int status, bool resolve)
{
    pc_t *pc = p->pc;
    pc_node_t *n = &pc->nodes[p->ni];
    to_dir_t *d = &n->to[p->k];
    p->done = true;
    d->ms = (uint32_t)(uv_now(&pc->loop) - p->started);
    d->state = status == 0                 ? TO_OPEN
               : status == UV_ECONNREFUSED ? TO_REFUSED
               : status == UV_ETIMEDOUT    ? TO_TIMEOUT
                                           : TO_UNREACHABLE;
    d->uverr = status;
    d->resolve = resolve;
    uv_close((uv_handle_t *)&p->timer, on_probe_closed);
    if (p->has_tcp)
        uv_close((uv_handle_t *)&p->tcp, on_probe_closed); /* a pending connect is cancelled */
    if (p->resolving)
        uv_cancel((uv_req_t *)&p->gai);
    pc->probing--;
    if (--n->to_left == 0)
        node_probed(pc, n);
    pump_probes(pc);
}

static void on_connected(uv_connect_t *req, int status)
{
    probe_t *p = req->data;
    if (!p->done)
        probe_end(p, status, false);
}

static void probe_connect(probe_t *p, const struct sockaddr *sa)
{
    int rc = uv_tcp_init(&p->pc->loop, &p->tcp);
    if (rc == 0) {
        p->tcp.data = p;
        p->has_tcp = true;
        p->refs++;
        p->req.data = p;
        rc = uv_tcp_connect(&p->req, &p->tcp, sa, on_connected);
    }
    if (rc != 0)
        probe_end(p, rc, false);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    probe_t *p = req->data;
    p->resolving = false;
    if (!p->done) {
        if (status == 0 && ai)
            probe_connect(p, ai->ai_addr);
        else
            probe_end(p, status ? status : UV_EAI_NONAME, true);
    }
    uv_freeaddrinfo(ai);
    probe_unref(p);
}

static void on_probe_timeout(uv_timer_t *h)
{
    probe_t *p = h->data;
    if (!p->done)
        probe_end(p, UV_ETIMEDOUT, false);
}

/* One probe of node ni's k-th to-node port: an IP address is connected to at once, a
 * host name resolved first; the timeout covers both. */
static void probe_start(pc_t *pc, uint32_t ni, uint8_t k)
{
    pc_node_t *n = &pc->nodes[ni];
    probe_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        n->to[k].state = TO_UNREACHABLE;
        n->to[k].uverr = UV_ENOMEM;
        if (--n->to_left == 0)
            node_probed(pc, n);
        return;
    }
    *p = (probe_t){.pc = pc, .ni = ni, .k = k, .refs = 1, .started = uv_now(&pc->loop)};
    pc->probing++;
    uv_timer_init(&pc->loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_probe_timeout, pc->o.timeout_ms, 0);
    struct sockaddr_storage sa;
    uint16_t port = n->to[k].port;
    if (uv_ip4_addr(n->addr, port, (struct sockaddr_in *)&sa) == 0 ||
        uv_ip6_addr(n->addr, port, (struct sockaddr_in6 *)&sa) == 0) {
        probe_connect(p, (struct sockaddr *)&sa);
        return;
    }
    char svc[8];
    snprintf(svc, sizeof(svc), "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    p->gai.data = p;
    p->resolving = true;
    p->refs++;
    int rc = uv_getaddrinfo(&pc->loop, &p->gai, on_resolved, n->addr, svc, &hints);
    if (rc != 0) {
        p->resolving = false;
        p->refs--;
        probe_end(p, rc, true);
    }
}

/* Starts probes, in node order, until N are in flight. */
static void pump_probes(pc_t *pc)
{
    if (pc->pumping_probes)
        return; /* the loop below goes on */
    pc->pumping_probes = true;
    while (pc->probing < pc->o.concurrency && pc->next_node < pc->n) {
        pc_node_t *n = &pc->nodes[pc->next_node];
        if (pc->next_k >= n->nto) {
            pc->next_node++;
            pc->next_k = 0;
            continue;
        }
        probe_start(pc, (uint32_t)pc->next_node, pc->next_k++);
    }
    pc->pumping_probes = false;
    maybe_finish(pc);
}

/* ---- from-node checks through the node agent ---- */

static void ask_end(pc_t *pc, pc_node_t *n)
{
    pc->ssh->vt->close(pc->ssh, n->idx);
    pc->asking--;
    node_done(pc);
    pump_ssh(pc);
}

/* The agent's answer: "open HOST PORT" or "blocked HOST PORT REASON", a line a pair. */
static void read_reach(pc_node_t *n, const char *out)
{
    char *copy = strdup(out), *save = NULL;
    for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char word[16], host[256];
        unsigned port = 0;
        int used = 0;
        if (sscanf(line, "%15s %255s %u %n", word, host, &port, &used) < 3)
            continue;
        for (uint8_t k = 0; k < n->nfrom; k++) {
            if (n->from[k].port != port || n->from[k].state != FROM_PENDING)
                continue;
            if (strcmp(word, "open") == 0)
                from_set(n, k, FROM_OPEN, NULL);
            else if (strcmp(word, "blocked") == 0)
                from_set(n, k, FROM_BLOCKED, "%s", used ? line + used : "no reason given");
        }
    }
    free(copy);
}

static void on_reach(void *ud, uint32_t node, int status, const char *out, size_t outlen,
                     const char *err)
{
    pc_t *pc = ud;
    pc_node_t *n = &pc->nodes[pc->by_fleet[node]];
    (void)outlen;
    char why[512];
    if (err) {
        from_rest(n, FROM_ERROR, err); /* the transport's words name the agent already */
    } else if (status != 0) {
        snprintf(why, sizeof(why), "the agent's 'reach' exited %d", status);
        from_rest(n, FROM_ERROR, why);
    } else {
        read_reach(n, out);
        from_rest(n, FROM_ERROR, "the agent gave no answer for this port");
    }
    ask_end(pc, n);
}

/* The SSH connection is up (or failed): ask the agent for the node's callback port(s). */
static void on_ssh_phase(void *ud, uint32_t node, fu_phase_t phase, const char *err,
                         const fu_phase_result_t *res)
{
    pc_t *pc = ud;
    pc_node_t *n = &pc->nodes[pc->by_fleet[node]];
    (void)phase, (void)res;
    char why[1024];
    if (err) {
        snprintf(why, sizeof(why), "ssh: %s", err);
        from_rest(n, FROM_ERROR, why);
        ask_end(pc, n);
        return;
    }
    if (pc->f->server.callback_address == NULL)
        snprintf(n->local, sizeof(n->local), "%s", fu_ssh_local_address(pc->ssh, node));
    const char *host = callback_host(pc, n);
    char args[1200];
    int len = snprintf(args, sizeof(args), "reach");
    for (uint8_t k = 0; k < n->nfrom; k++)
        len += snprintf(args + len, sizeof(args) - (size_t)len, " %s %u", host, n->from[k].port);
    if (host[0] == '\0' || fu_ssh_agent_run(pc->ssh, node, args, NULL, 0, on_reach, pc) != 0) {
        from_rest(n, FROM_ERROR, host[0] ? "cannot run the agent" : "no local address");
        ask_end(pc, n);
    }
}

static void pump_ssh(pc_t *pc)
{
    if (pc->pumping_ssh)
        return; /* the loop below goes on */
    pc->pumping_ssh = true;
    while (pc->asking < pc->o.concurrency && pc->sshq_head < pc->sshq_tail) {
        pc_node_t *n = &pc->nodes[pc->sshq[pc->sshq_head++]];
        pc->asking++;
        if (pc->ssh->vt->connect(pc->ssh, n->idx) != 0) {
            from_rest(n, FROM_ERROR, "cannot start the SSH connection (out of memory)");
            ask_end(pc, n);
        }
    }
    pc->pumping_ssh = false;
    maybe_finish(pc);
}

/* ---- fleetup's side: listeners that accept and close ---- */

static void on_accepted_closed(uv_handle_t *h)
{
    free(h);
}

static void on_accept(uv_stream_t *server, int status)
{
    listener_t *l = server->data;
    uv_tcp_t *c = status == 0 ? malloc(sizeof(*c)) : NULL;
    if (c == NULL || uv_tcp_init(server->loop, c) != 0) {
        free(c);
        return;
    }
    if (uv_accept(server, (uv_stream_t *)c) == 0)
        l->accepted++;
    uv_close((uv_handle_t *)c, on_accepted_closed);
}

static void listen_on(pc_t *pc, const char *addr, uint16_t port)
{
    listener_t *l = &pc->lis[pc->nlis];
    struct sockaddr_storage sa;
    *l = (listener_t){.pc = pc, .addr = addr, .port = port};
    bool v6 = uv_ip4_addr(addr, port, (struct sockaddr_in *)&sa) != 0;
    if (v6 && uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&sa) != 0) {
        fprintf(stderr, "fleetup ports: server.bind '%s' is not an IP address: not listening "
                        "there; set server.bind to an address of this host\n", addr);
        return;
    }
    uv_tcp_init(&pc->loop, &l->tcp);
    l->tcp.data = l;
    pc->nlis++;
    l->uverr = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, v6 ? UV_TCP_IPV6ONLY : 0);
    if (l->uverr == 0)
        l->uverr = uv_listen((uv_stream_t *)&l->tcp, 4096, on_accept);
    const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
    if (l->uverr == UV_EADDRINUSE)
        fprintf(stderr, "fleetup ports: %s%s%s:%u is already in use (fleetup serve running?): "
                        "the nodes are checked against whatever listens there\n", lb, addr, rb,
                port);
    else if (l->uverr && !(v6 && pc->f->server.bind == NULL))
        fprintf(stderr, "fleetup ports: cannot listen on %s%s%s:%u: %s; nodes will find that "
                        "port blocked\n", lb, addr, rb, port, uv_strerror(l->uverr));
}

/* Listens on every callback port some pull-mode SSH node needs, on server.bind or on
 * 0.0.0.0 and :: (IPv6 quietly skipped when this host has none). */
static void start_listeners(pc_t *pc)
{
    bool need[2] = {false, false};
    uint16_t ports[2] = {pc->plan->server.port, pc->plan->server.ssl_port};
    for (size_t i = 0; i < pc->n; i++)
        for (uint8_t k = 0; k < pc->nodes[i].nfrom; k++)
            if (is_pull_ssh(&pc->f->nodes[pc->nodes[i].idx]))
                need[pc->nodes[i].from[k].port == ports[1]] = true;
    static const char *const defaults[] = {"0.0.0.0", "::"};
    const char *const *binds = pc->f->server.bind ? &pc->f->server.bind : defaults;
    int nb = pc->f->server.bind ? 1 : 2;
    for (int p = 0; p < 2; p++)
        for (int b = 0; b < nb && need[p]; b++)
            listen_on(pc, binds[b], ports[p]);
}

/* ---- the run ---- */

static void progress_line(pc_t *pc, bool final)
{
    char line[160], el[32];
    fu_cli_duration(el, sizeof(el), uv_now(&pc->loop) - pc->t0);
    snprintf(line, sizeof(line), "ports --check: %zu/%zu nodes, %u probes and %u SSH checks "
             "in flight, %s", pc->done, pc->n, pc->probing, pc->asking, el);
    fu_cli_progress_line(FU_PROGRESS_TTY, line, final);
}

static void on_progress(uv_timer_t *h)
{
    progress_line(h->data, false);
}

static void on_ssh_down(void *ud)
{
    (void)ud; /* the loop ends once nothing is left on it */
}

/* Everything answered: stop listening and close the SSH sessions, from a loop turn of
 * its own (never from inside a transport's callback). */
static void on_finish(uv_timer_t *h)
{
    pc_t *pc = h->data;
    pc->elapsed = uv_now(&pc->loop) - pc->t0;
    uv_close((uv_handle_t *)&pc->finish, NULL);
    for (int i = 0; i < pc->nlis; i++)
        uv_close((uv_handle_t *)&pc->lis[i].tcp, NULL);
    if (pc->tty) {
        progress_line(pc, true);
        uv_close((uv_handle_t *)&pc->progress, NULL);
    }
    if (pc->ssh)
        fu_ssh_shutdown(pc->ssh, on_ssh_down, pc);
}

static void maybe_finish(pc_t *pc)
{
    if (pc->finished || pc->done < pc->n || pc->probing || pc->asking)
        return;
    pc->finished = true;
    uv_timer_start(&pc->finish, on_finish, 0, 0);
}

/* The selected nodes with a port to check, and their to-node and from-node ports. */
static int collect(pc_t *pc)
{
    const fu_fleet_t *f = pc->f;
    pc->nodes = calloc(f->nnodes ? f->nnodes : 1, sizeof(*pc->nodes));
    pc->by_fleet = calloc(f->nnodes ? f->nnodes : 1, sizeof(*pc->by_fleet));
    pc->sshq = calloc(f->nnodes ? f->nnodes : 1, sizeof(*pc->sshq));
    if (pc->nodes == NULL || pc->by_fleet == NULL || pc->sshq == NULL)
        return -1;
    for (size_t i = 0; i < f->nnodes; i++) {
        fu_node_ports_t np;
        if (!fu_ports_selected(pc->plan, i))
            continue;
        fu_ports_node(&f->nodes[i], &pc->plan->server, &np);
        if (np.deployment.to_node.n == 0)
            continue; /* local and sim: no network in between */
        pc_node_t *n = &pc->nodes[pc->n];
        pc->by_fleet[i] = (uint32_t)pc->n++;
        n->idx = (uint32_t)i;
        n->addr = fu_node_transport_address(&f->nodes[i]);
        n->nto = n->to_left = np.deployment.to_node.n;
        n->nfrom = np.deployment.from_node.n;
        for (uint8_t k = 0; k < n->nto; k++)
            n->to[k].port = np.deployment.to_node.v[k];
        for (uint8_t k = 0; k < n->nfrom; k++)
            n->from[k].port = np.deployment.from_node.v[k];
    }
    return 0;
}

/* The SSH transport, when some selected pull-mode SSH node needs asking. */
static void open_ssh(pc_t *pc)
{
    bool any = false;
    for (size_t i = 0; i < pc->n && !any; i++)
        any = pc->nodes[i].nfrom && is_pull_ssh(&pc->f->nodes[pc->nodes[i].idx]);
    if (!any)
        return;
    uint64_t t = pc->o.timeout_ms;
    fu_ssh_opts_t so = {
        .loop = &pc->loop,
        .max_handshakes = pc->o.concurrency < 64 ? pc->o.concurrency : 64,
        .connect_timeout_ms = 10 * t > 30000 ? 10 * t : 30000, /* TCP, key exchange, login */
        .exec_timeout_ms = 10 * t > 30000 ? 10 * t : 30000,    /* upload, then curl or nc */
    };
    pc->ssh_err = "the SSH transport cannot start";
    pc->ssh = fu_ssh_new(pc->f, &so, &pc->ssh_err);
    if (pc->ssh) {
        pc->ssh->phase_cb = on_ssh_phase;
        pc->ssh->ud = pc;
    }
}

static void run(pc_t *pc)
{
    uv_loop_init(&pc->loop);
    pc->t0 = uv_now(&pc->loop);
    uv_timer_init(&pc->loop, &pc->finish);
    pc->finish.data = pc;
    open_ssh(pc);
    start_listeners(pc);
    pc->tty = isatty(2);
    if (pc->tty) {
        uv_timer_init(&pc->loop, &pc->progress);
        pc->progress.data = pc;
        uv_timer_start(&pc->progress, on_progress, PC_PROGRESS_MS, PC_PROGRESS_MS);
    }
    pump_probes(pc);
    uv_run(&pc->loop, UV_RUN_DEFAULT);
    if (pc->ssh)
        pc->ssh->vt->destroy(pc->ssh);
    uv_loop_close(&pc->loop);
}

/* ---- output ---- */

typedef struct {
    size_t checked, blocked, unchecked, no_port;
} pc_counts_t;

static bool to_bad(const pc_node_t *n)
{
    for (uint8_t k = 0; k < n->nto; k++)
        if (n->to[k].state != TO_OPEN)
            return true;
    return false;
}

static bool from_has(const pc_node_t *n, from_state_t st)
{
    for (uint8_t k = 0; k < n->nfrom; k++)
        if (n->from[k].state == st)
            return true;
    return false;
}

static bool node_blocked(const pc_node_t *n)
{
    return to_bad(n) || from_has(n, FROM_BLOCKED);
}

static bool node_shown(const pc_node_t *n)
{
    return node_blocked(n) || from_has(n, FROM_ERROR) || from_has(n, FROM_NOT_CHECKED);
}

static pc_counts_t count(const pc_t *pc)
{
    pc_counts_t c = {.checked = pc->n, .no_port = pc->plan->nselected - pc->n};
    for (size_t i = 0; i < pc->n; i++) {
        if (node_blocked(&pc->nodes[i]))
            c.blocked++;
        else if (from_has(&pc->nodes[i], FROM_ERROR))
            c.unchecked++;
    }
    return c;
}

/* "10.0.0.1:22", "[fe80::1]:22". */
static void hostport(char *buf, size_t len, const char *host, uint16_t port)
{
    bool v6 = strchr(host, ':') != NULL;
    snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* Why an unreachable port is: the system's reason. */
static void to_reason(const to_dir_t *d, char *buf, size_t len)
{
    char e[128];
    uv_strerror_r(d->uverr, e, sizeof(e)); /* uv_strerror leaks on codes it does not know */
    snprintf(buf, len, "%s%s", d->resolve ? "cannot resolve: " : "", e);
}

static void to_text(const to_dir_t *d, char *buf, size_t len)
{
    char why[256];
    if (d->state == TO_TIMEOUT) {
        snprintf(buf, len, "timed out");
    } else if (d->state == TO_UNREACHABLE) {
        to_reason(d, why, sizeof(why));
        snprintf(buf, len, "unreachable: %s", why);
    } else {
        snprintf(buf, len, "%s", to_names[d->state]);
    }
}

static void print_node_text(const pc_t *pc, const pc_node_t *n, int w, FILE *out)
{
    const char *name = pc->f->nodes[n->idx].name;
    char hp[320], st[320];
    for (uint8_t k = 0; k < n->nto; k++) {
        if (n->to[k].state == TO_OPEN)
            continue;
        hostport(hp, sizeof(hp), n->addr, n->to[k].port);
        to_text(&n->to[k], st, sizeof(st));
        fprintf(out, "%-*s  to node %s  %s\n", w, name, hp, st);
    }
    for (uint8_t k = 0; k < n->nfrom; k++) {
        const from_dir_t *d = &n->from[k];
        const char *host = callback_host(pc, n);
        if (d->state == FROM_OPEN)
            continue;
        if (host[0])
            hostport(hp, sizeof(hp), host, d->port);
        else
            snprintf(hp, sizeof(hp), "port %u", d->port);
        fprintf(out, "%-*s  from node %s -> %s  %s%s%s%s\n", w, name, n->addr, hp,
                d->state == FROM_BLOCKED ? "blocked" : "not checked",
                d->state == FROM_NOT_CHECKED ? " (" : ": ", d->why ? d->why : "",
                d->state == FROM_NOT_CHECKED ? ")" : "");
    }
}

static void print_text(const pc_t *pc, uint64_t ms, FILE *out)
{
    int w = 0;
    for (size_t i = 0; i < pc->n; i++) {
        int len = (int)strlen(pc->f->nodes[pc->nodes[i].idx].name);
        if (node_shown(&pc->nodes[i]) && len > w)
            w = len;
    }
    for (size_t i = 0; i < pc->n; i++)
        if (node_shown(&pc->nodes[i]))
            print_node_text(pc, &pc->nodes[i], w, out);
    pc_counts_t c = count(pc);
    char el[32];
    fu_cli_duration(el, sizeof(el), ms);
    fprintf(out, "%zu node%s checked in %s, %zu with blocked ports", c.checked,
            c.checked == 1 ? "" : "s", el, c.blocked);
    if (c.unchecked)
        fprintf(out, ", %zu not fully checked", c.unchecked);
    if (c.no_port)
        fprintf(out, " (%zu local or sim node%s need no port)", c.no_port,
                c.no_port == 1 ? "" : "s");
    fputc('\n', out);
}

static json_t *node_json(const pc_t *pc, const pc_node_t *n)
{
    const fu_node_t *fn = &pc->f->nodes[n->idx];
    json_t *to = json_array(), *from = json_array();
    char st[320];
    for (uint8_t k = 0; k < n->nto; k++) {
        const to_dir_t *d = &n->to[k];
        if (d->state == TO_UNREACHABLE)
            to_reason(d, st, sizeof(st));
        json_array_append_new(to, json_pack("{s:s, s:i, s:s, s:s?, s:i}", "address", n->addr,
                                            "port", (int)d->port, "state", to_names[d->state],
                                            "error", d->state == TO_UNREACHABLE ? st : NULL,
                                            "ms", (int)d->ms));
    }
    for (uint8_t k = 0; k < n->nfrom; k++) {
        const from_dir_t *d = &n->from[k];
        const char *host = callback_host(pc, n);
        json_array_append_new(from, json_pack("{s:s, s:s?, s:i, s:s, s:s?}", "from", n->addr,
                                              "to", host[0] ? host : NULL, "port", (int)d->port,
                                              "state", from_names[d->state], "reason", d->why));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b}", "name", fn->name, "type",
                     fu_node_type_name(fn->type), "transport", fu_transport_name(fn->transport),
                     "callback", fu_callback_name(fn->callback), "to_node", to, "from_node",
                     from, "blocked", node_blocked(n));
}

static void print_json(const pc_t *pc, uint64_t ms, FILE *out)
{
    json_t *lis = json_array(), *nodes = json_array();
    for (int i = 0; i < pc->nlis; i++) {
        const listener_t *l = &pc->lis[i];
        json_array_append_new(
            lis, json_pack("{s:s, s:i, s:s, s:s?, s:I}", "address", l->addr, "port",
                           (int)l->port, "state",
                           l->uverr == 0 ? "listening" : l->uverr == UV_EADDRINUSE ? "in_use"
                                                                                   : "error",
                           "error", l->uverr ? uv_strerror(l->uverr) : NULL, "accepted",
                           (json_int_t)l->accepted));
    }
    for (size_t i = 0; i < pc->n; i++)
        json_array_append_new(nodes, node_json(pc, &pc->nodes[i]));
    pc_counts_t c = count(pc);
    json_t *server = fu_ports_server_json(&pc->plan->server);
    json_object_set_new(server, "callback_address",
                        pc->f->server.callback_address
                            ? json_string(pc->f->server.callback_address)
                            : json_null());
    json_object_set_new(server, "listeners", lis);
    fu_ports_json_print(json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "server", server,
                                  "nodes", nodes, "summary", "checked", (json_int_t)c.checked,
                                  "blocked", (json_int_t)c.blocked, "unchecked",
                                  (json_int_t)c.unchecked, "no_port", (json_int_t)c.no_port,
                                  "elapsed_ms", (json_int_t)ms),
                        out);
}

static void pc_free(pc_t *pc)
{
    for (size_t i = 0; pc->nodes && i < pc->n; i++)
        for (uint8_t k = 0; k < pc->nodes[i].nfrom; k++)
            free(pc->nodes[i].from[k].why);
    free(pc->nodes);
    free(pc->by_fleet);
    free(pc->sshq);
}

int fu_ports_check(const fu_ports_plan_t *p, const fu_ports_check_opts_t *o, FILE *out)
{
    pc_t pc = {.f = p->fleet, .plan = p, .o = *o};
    if (pc.o.timeout_ms == 0)
        pc.o.timeout_ms = FU_PORTS_CHECK_TIMEOUT_MS;
    if (pc.o.concurrency == 0)
        pc.o.concurrency = FU_PORTS_CHECK_CONCURRENCY;
    if (collect(&pc) != 0) {
        pc_free(&pc);
        fprintf(stderr, "fleetup ports: out of memory\n");
        return FU_EXIT_FAILURES;
    }
    fu_raise_nofile();
    run(&pc);
    if (o->json)
        print_json(&pc, pc.elapsed, out);
    else
        print_text(&pc, pc.elapsed, out);
    pc_counts_t c = count(&pc);
    pc_free(&pc);
    return c.blocked || c.unchecked ? FU_EXIT_FAILURES : FU_EXIT_OK;
}
