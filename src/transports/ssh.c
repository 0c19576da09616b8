/* The SSH transport (ssh.h): libssh2 in non-blocking mode on one uv_poll_t per
 * connection. Every libssh2 call is repeated with the same arguments until it stops
 * returning EAGAIN; between tries the poll waits for the directions
 * libssh2_session_block_directions() names (both when it names none). Each step runs
 * under the node's timer. A node's work is two nested state machines: the connection
 * (resolve, TCP connect, handshake, host key, auth) and, once connected, one exec
 * channel at a time (open, exec, write stdin, EOF, read until EOF, close, free). */
#include "transports/ssh.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <libssh2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pwd.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "core/plan.h"
#include "transports/known_hosts.h"
#include "transports/creds.h"

#define SSH_MAX_OUT (8u << 20)  /* an agent's stdout kept (inventory JSON with fwupd) */
#define SSH_MAX_ERR (64u << 10) /* its stderr */
#define SSH_MAX_KEY (64u << 10) /* a private key file */
#define SSH_AGENT_MISSING 121 /* exit status of a command that found no agent */
#define SSH_AGENT_UNSAFE 122  /* ... or an agent folder that is not the user's own */
#define SSH_REBOOT_WAIT_MS 300000
#define SSH_REBOOT_RETRY_MS 5000

typedef struct ssh_s ssh_t;
typedef struct sn_s sn_t;
typedef void (*sn_step)(sn_t *n);

/* A TCP connection and its libssh2 session. Separate from the node so that a node can
 * reconnect while its last connection is still closing; freed in the poll's close
 * callback, after which its socket is closed. */
typedef struct {
    uv_poll_t poll;
    int fd;
    int events;
    LIBSSH2_SESSION *sess;
    sn_t *n; /* NULL once detached */
    ssh_t *s;
} conn_t;

/* A name lookup: its own allocation, since a lookup already running in the thread pool
 * cannot be cancelled; the node lets go of it (n = NULL) and the callback frees it. */
typedef struct gai_s {
    uv_getaddrinfo_t req;
    sn_t *n;
    struct ssh_s *s;
} gai_t;

typedef enum { CS_NONE, CS_RESOLVE, CS_CONNECT, CS_QUEUED, CS_HANDSHAKE, CS_AUTH, CS_READY } conn_state_t;
typedef enum { EX_NONE, EX_OPEN, EX_EXEC, EX_WRITE, EX_EOF, EX_READ, EX_CLOSE, EX_WAIT, EX_FREE } exec_state_t;

typedef void (*exec_done_fn)(sn_t *n, const char *err);

struct sn_s {
    ssh_t *s;
    uint32_t idx;
    uint32_t token; /* bumps when a phase starts or is cancelled */
    fu_phase_t phase;
    bool running;
    conn_t *c;
    conn_state_t cs;
    uv_timer_t timer;
    struct gai_s *gai; /* the name lookup in flight, or NULL */
    bool hs_slot; /* holds one of the handshake slots */
    sn_t *qnext;  /* the queue for a handshake slot */
    sn_step after_connect;
    /* auth */
    int auth_step;
    LIBSSH2_AGENT *agent;
    struct libssh2_agent_publickey *ident;
    char tried[160];
    /* the exec in flight */
    exec_state_t ex;
    LIBSSH2_CHANNEL *ch;
    char *cmd;
    char *hdr;                 /* stdin part 1 (owned) */
    const unsigned char *body; /* stdin part 2 (a package, shared), may be NULL */
    size_t hdrlen, bodylen, inoff;
    bool write_failed;
    char *out, *err;
    size_t outlen, outcap, errlen, errcap, scanned;
    int status;
    exec_done_fn exec_done;
    /* an agent command, kept to run again after the agent is uploaded */
    char *a_args, *a_hdr;
    size_t a_hdrlen, a_bodylen;
    const void *a_body;
    exec_done_fn a_done;
    bool uploaded;
    /* results */
    char **vers;
    const char **versions;
    char *facts;
    /* install */
    uint32_t comps[FU_MAX_COMPONENTS], ncomps, ci;
    bool stage_only, reboot;
    uint64_t staged; /* push mode: components whose bytes are on the node already */
    char *log; /* the last installer's tail */
    char local[64];
    /* activate */
    uint64_t reboot_until;
    char boot_id[64];
    bool rebooting;
    bool fatal; /* a host key or auth refusal: waiting for a reboot will not mend it */
    bool reopened; /* the exec in flight already reconnected once */
    /* fu_ssh_agent_run: its callback instead of a phase result */
    fu_ssh_run_cb run_cb;
    void *run_ud;
    char *run_args, *run_in;
    size_t run_inlen;
    char errbuf[1024];
};

typedef struct {
    char *path;
    fu_known_hosts_t kh;
} kh_file_t;

struct ssh_s {
    fu_transport_t base;
    fu_ssh_opts_t o;
    sn_t **nodes;
    size_t nnodes;
    kh_file_t kh[16];
    unsigned nkh;
    fu_creds_t creds;
    char agent_hash[65];
    char agent_path[128]; /* relative to the agent dir: agent-HASH16.sh */
    uint32_t handshaking;
    sn_t *qhead, *qtail;
    uint32_t handles; /* connections and node timers not closed yet */
    void (*shutdown_done)(void *);
    void *shutdown_ud;
    bool shutting_down;
    char err[512];
};

static void drive(sn_t *n);
static void exec_step(sn_t *n);
static void with_connection(sn_t *n, void (*k)(sn_t *n));
static void on_timeout(uv_timer_t *h);
static void detach(sn_t *n, bool graceful);

/* ---- small helpers ---- */

static const fu_node_t *fnode(const sn_t *n)
{
    return &n->s->base.fleet->nodes[n->idx];
}

static const char *host_of(const fu_node_t *fn)
{
    return fu_node_transport_address(fn); /* consoles: their mgmt_address */
}

static uint16_t port_of(const fu_node_t *fn)
{
    return fn->port ? fn->port : 22;
}

static const char *user_of(const fu_node_t *fn)
{
    if (fn->user)
        return fn->user;
    const char *u = getenv("USER");
    if (u && *u)
        return u;
    struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_name : "root";
}

static const char *ssh_error(sn_t *n)
{
    char *msg = NULL;
    if (n->c == NULL || n->c->sess == NULL)
        return "no session";
    libssh2_session_last_error(n->c->sess, &msg, NULL, 0);
    return msg && *msg ? msg : "unknown libssh2 error";
}

static uint64_t loop_now(const sn_t *n)
{
    return uv_now(n->s->o.loop);
}

/* Ends the running phase with its one result. Nothing of n is touched afterwards by
 * the caller: the callback may start the next phase or close the node. */
static void phase_end(sn_t *n, const char *err, bool unreachable, bool with_inventory)
{
    if (!n->running)
        return;
    n->running = false;
    n->rebooting = false;
    uv_timer_stop(&n->timer);
    if (n->c && n->cs == CS_READY) /* an idle session is kept alive for the next phase */
        uv_timer_start(&n->timer, on_timeout, n->s->o.keepalive_ms, 0);
    if (n->run_cb) {
        fu_ssh_run_cb cb = n->run_cb;
        n->run_cb = NULL;
        cb(n->run_ud, n->idx, err ? -1 : n->status, n->out ? n->out : "", n->outlen, err);
        return;
    }
    fu_inventory_t inv = {n->versions, (uint32_t)n->s->base.fleet->baseline.ncomponents};
    fu_phase_result_t res = {.unreachable = unreachable,
                             .exit_code = -1,
                             .reboot_needed = n->reboot,
                             .log_tail = n->log,
                             .inventory = with_inventory ? &inv : NULL,
                             .facts = with_inventory ? n->facts : NULL};
    fu_transport_t *t = &n->s->base;
    t->phase_cb(t->ud, n->idx, n->phase, err, &res);
}

static void reboot_connect_failed(sn_t *n);
static void fail(sn_t *n, bool unreachable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_soft(sn_t *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The phase's failure text into errbuf, tokens a node quoted back masked. Through a
 * local buffer: an argument may be errbuf itself. */
static void set_error(sn_t *n, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void set_error(sn_t *n, const char *fmt, va_list ap)
{
    char msg[sizeof(n->errbuf)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    memcpy(n->errbuf, msg, sizeof(msg));
    fu_redact_tokens(n->errbuf);
}

/* A failure of the phase's work on a sound session (an installer that failed, a bad
 * answer): the connection stays for the next phase. */
static void fail_soft(sn_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(n, fmt, ap);
    va_end(ap);
    phase_end(n, n->errbuf, false, false);
}

/* A failure: the connection is dropped (its state is unknown), then the result. */
static void fail(sn_t *n, bool unreachable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(n, fmt, ap);
    va_end(ap);
    if (n->rebooting && !n->fatal) { /* a node on its way down or up */
        reboot_connect_failed(n);
        return;
    }
    detach(n, false);
    phase_end(n, n->errbuf, unreachable, false);
}

/* ---- the poll ---- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    conn_t *c = h->data;
    (void)events;
    if (c->n == NULL)
        return;
    sn_t *n = c->n;
    if (status < 0) /* POLLERR: libuv has stopped the poll; the socket says what happened */
        c->events = 0;
    drive(n);
}

static void want(conn_t *c, int events)
{
    if (events == 0)
        events = UV_READABLE | UV_WRITABLE;
    if (events != c->events) {
        c->events = events;
        uv_poll_start(&c->poll, events, on_poll);
    }
}

/* After an EAGAIN: wait for what libssh2 is blocked on. */
static void wait_io(sn_t *n)
{
    int dir = libssh2_session_block_directions(n->c->sess), ev = 0;
    if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
        ev |= UV_READABLE;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        ev |= UV_WRITABLE;
    want(n->c, ev);
}

/* One of the things shutdown waits for (a connection, a node's timer, a lookup) is gone. */
static void handle_gone(ssh_t *s)
{
    if (--s->handles == 0 && s->shutting_down && s->shutdown_done) {
        void (*done)(void *) = s->shutdown_done;
        s->shutdown_done = NULL;
        done(s->shutdown_ud);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    ssh_t *s = c->s;
    close(c->fd);
    free(c);
    handle_gone(s);
}

static void release_slot(sn_t *n);

/* Lets go of the node's connection: a graceful close sends SSH_MSG_DISCONNECT (one try,
 * never waited for); either way the socket is shut first so that freeing the session
 * cannot block, and the poll handle closes the socket in its callback. */
static void detach(sn_t *n, bool graceful)
{
    release_slot(n);
    if (n->gai) {
        n->gai->n = NULL; /* its callback frees it */
        uv_cancel((uv_req_t *)&n->gai->req);
        n->gai = NULL;
    }
    if (n->agent) {
        libssh2_agent_disconnect(n->agent);
        libssh2_agent_free(n->agent);
        n->agent = NULL;
    }
    conn_t *c = n->c;
    n->c = NULL;
    n->cs = CS_NONE;
    n->ex = EX_NONE;
    n->ch = NULL; /* freed with the session */
    if (c == NULL)
        return;
    c->n = NULL;
    if (c->sess) {
        if (graceful)
            libssh2_session_disconnect(c->sess, "fleetup: done");
        shutdown(c->fd, SHUT_RDWR);
        for (int i = 0; i < 8 && libssh2_session_free(c->sess) == LIBSSH2_ERROR_EAGAIN; i++)
            ;
        c->sess = NULL;
    }
    uv_close((uv_handle_t *)&c->poll, on_conn_closed);
}

/* ---- connecting ---- */

static void arm(sn_t *n, uint64_t ms)
{
    uv_timer_start(&n->timer, on_timeout, ms, 0);
}

static void on_slot(uv_timer_t *h);

static void release_slot(sn_t *n)
{
    ssh_t *s = n->s;
    if (n->cs == CS_QUEUED) { /* leave the queue */
        sn_t **pp = &s->qhead, *prev = NULL;
        while (*pp && *pp != n)
            prev = *pp, pp = &(*pp)->qnext;
        if (*pp) {
            *pp = n->qnext;
            if (s->qtail == n)
                s->qtail = prev;
        }
        n->qnext = NULL;
    }
    if (!n->hs_slot)
        return;
    n->hs_slot = false;
    s->handshaking--;
    while (s->qhead && s->handshaking < s->o.max_handshakes) {
        sn_t *q = s->qhead;
        s->qhead = q->qnext;
        if (s->qhead == NULL)
            s->qtail = NULL;
        q->qnext = NULL;
        q->hs_slot = true;
        s->handshaking++;
        q->cs = CS_NONE;
        uv_timer_start(&q->timer, on_slot, 0, 0); /* from the loop, not from inside n's end */
    }
}


static kh_file_t *known_hosts_of(ssh_t *s, const fu_node_t *fn, char *err, size_t errlen)
{
    char def[4096];
    const char *path = fn->known_hosts;
    if (path == NULL) {
        const char *home = getenv("HOME");
        snprintf(def, sizeof(def), "%s/.ssh/known_hosts", home ? home : ".");
        path = def;
    }
    for (unsigned i = 0; i < s->nkh; i++)
        if (strcmp(s->kh[i].path, path) == 0)
            return &s->kh[i];
    if (s->nkh == 16) {
        snprintf(err, errlen, "more than 16 known_hosts files in one run");
        return NULL;
    }
    kh_file_t *k = &s->kh[s->nkh];
    if (fu_kh_load(&k->kh, path, err, errlen) != 0)
        return NULL;
    k->path = strdup(path);
    s->nkh++;
    return k;
}

static const char *kh_type_name(int t)
{
    switch (t) {
    case LIBSSH2_HOSTKEY_TYPE_ED25519: return "ssh-ed25519";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return "ecdsa-sha2-nistp256";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return "ecdsa-sha2-nistp384";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return "ecdsa-sha2-nistp521";
    case LIBSSH2_HOSTKEY_TYPE_RSA: return "ssh-rsa";
    default: return "unknown";
    }
}

static int start_session(sn_t *n)
{
    conn_t *c = n->c;
    c->sess = libssh2_session_init_ex(NULL, NULL, NULL, n);
    if (c->sess == NULL)
        return -1;
    libssh2_session_set_blocking(c->sess, 0);
    libssh2_keepalive_config(c->sess, 1, (unsigned)(n->s->o.keepalive_ms / 1000));
    /* The host-key method is pinned to the recorded key's type: libssh2 would otherwise
     * pick its own first choice and a known host would read as a mismatch. */
    const fu_node_t *fn = fnode(n);
    if (fn->host_key_check != FU_HOSTKEY_OFF) {
        kh_file_t *k = known_hosts_of(n->s, fn, n->errbuf, sizeof(n->errbuf));
        const char *t = k ? fu_kh_type(&k->kh, host_of(fn), port_of(fn)) : NULL;
        if (t && strcmp(t, "ssh-rsa") == 0)
            t = "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
        if (t)
            libssh2_session_method_pref(c->sess, LIBSSH2_METHOD_HOSTKEY, t);
    }
    return 0;
}

static void connect_done(sn_t *n)
{
    n->cs = CS_READY;
    uv_timer_stop(&n->timer);
    sn_step k = n->after_connect;
    n->after_connect = NULL;
    k(n);
}

/* Checks the server's key; false when the phase has failed. */
static bool check_host_key(sn_t *n)
{
    const fu_node_t *fn = fnode(n);
    if (fn->host_key_check == FU_HOSTKEY_OFF)
        return true;
    size_t len = 0;
    int type = 0;
    const char *key = libssh2_session_hostkey(n->c->sess, &len, &type);
    if (key == NULL) {
        fail(n, false, "the server sent no host key");
        return false;
    }
    char fp[64], e[512];
    fu_kh_fingerprint((const unsigned char *)key, len, fp);
    kh_file_t *k = known_hosts_of(n->s, fn, e, sizeof(e));
    if (k == NULL) {
        fail(n, false, "%s", e);
        return false;
    }
    uint32_t line = 0;
    const char *tn = kh_type_name(type);
    char name[300];
    if (port_of(fn) == 22)
        snprintf(name, sizeof(name), "%s", host_of(fn));
    else
        snprintf(name, sizeof(name), "[%s]:%u", host_of(fn), port_of(fn));
    switch (fu_kh_check(&k->kh, host_of(fn), port_of(fn), tn, (const unsigned char *)key, len, &line)) {
    case FU_KH_MATCH:
        return true;
    case FU_KH_REVOKED:
        n->fatal = true;
        fail(n, false, "host key of %s (%s %s) is marked @revoked in %s:%u", name, tn, fp, k->path,
             line);
        return false;
    case FU_KH_MISMATCH:
        n->fatal = true;
        fail(n, false, "host key mismatch for %s: the server offers %s %s, which is not the key "
             "recorded in %s:%u; if the node was reinstalled, remove that line "
             "(ssh-keygen -R '%s' -f %s)", name, tn, fp, k->path, line, name, k->path);
        return false;
    case FU_KH_NOTFOUND:
        break;
    }
    if (fn->host_key_check == FU_HOSTKEY_STRICT) {
        n->fatal = true;
        fail(n, false, "host key of %s (%s %s) is not in %s: add it (ssh-keyscan -p %u %s >> %s) "
             "or set host_key_check: accept-new", name, tn, fp, k->path, port_of(fn), host_of(fn),
             k->path);
        return false;
    }
    if (fu_kh_add(&k->kh, host_of(fn), port_of(fn), tn, (const unsigned char *)key, len, e,
                  sizeof(e)) != 0) {
        fail(n, false, "%s", e);
        return false;
    }
    return true;
}

enum { AUTH_LIST, AUTH_AGENT, AUTH_KEY, AUTH_PASSWORD, AUTH_END };

static void tried(sn_t *n, const char *what)
{
    size_t l = strlen(n->tried);
    snprintf(n->tried + l, sizeof(n->tried) - l, "%s%s", l ? ", " : "", what);
}

/* One auth step; 1 when it made progress, 0 when waiting, -1 when the phase ended. */
static int auth_step(sn_t *n)
{
    const fu_node_t *fn = fnode(n);
    const char *user = user_of(fn);
    unsigned ulen = (unsigned)strlen(user);
    LIBSSH2_SESSION *sess = n->c->sess;
    int rc;
    switch (n->auth_step) {
    case AUTH_LIST: {
        char *list = libssh2_userauth_list(sess, user, ulen);
        if (list == NULL) {
            if (libssh2_userauth_authenticated(sess))
                goto done; /* "none" was accepted */
            if (libssh2_session_last_errno(sess) == LIBSSH2_ERROR_EAGAIN)
                return 0;
            fail(n, false, "auth: %s", ssh_error(n));
            return -1;
        }
        n->auth_step = fn->ssh_agent ? AUTH_AGENT : AUTH_KEY;
        return 1;
    }
    case AUTH_AGENT:
        if (n->agent == NULL) {
            tried(n, "ssh-agent");
            n->agent = libssh2_agent_init(sess);
            if (n->agent == NULL || libssh2_agent_connect(n->agent) != 0 ||
                libssh2_agent_list_identities(n->agent) != 0) {
                n->auth_step = AUTH_KEY; /* no agent: the next method */
                return 1;
            }
            n->ident = NULL;
            if (libssh2_agent_get_identity(n->agent, &n->ident, NULL) != 0) {
                n->auth_step = AUTH_KEY;
                return 1;
            }
        }
        rc = libssh2_agent_userauth(n->agent, user, n->ident);
        if (rc == LIBSSH2_ERROR_EAGAIN)
            return 0;
        if (rc == 0)
            goto done;
        if (libssh2_agent_get_identity(n->agent, &n->ident, n->ident) != 0)
            n->auth_step = AUTH_KEY;
        return 1;
    case AUTH_KEY: {
        if (fn->key_file == NULL) {
            n->auth_step = AUTH_PASSWORD;
            return 1;
        }
        const char *e = NULL;
        size_t klen = 0;
        const char *key = fu_cred_file(&n->s->creds, fn->key_file, SSH_MAX_KEY, &klen, &e);
        const char *pass = key ? fu_cred_passphrase(&n->s->creds, fn, &e) : NULL;
        if (key == NULL || pass == NULL) {
            fail(n, false, "auth: key_file %s: %s", fn->key_file, e);
            return -1;
        }
        rc = libssh2_userauth_publickey_frommemory(sess, user, ulen, NULL, 0, key, klen, pass);
        if (rc == LIBSSH2_ERROR_EAGAIN)
            return 0;
        if (rc == 0)
            goto done;
        char w[100];
        snprintf(w, sizeof(w), "key %s", fn->key_file);
        tried(n, w);
        if (rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED && rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
            fail(n, false, "auth: key_file %s: %s", fn->key_file, ssh_error(n));
            return -1;
        }
        n->auth_step = AUTH_PASSWORD;
        return 1;
    }
    case AUTH_PASSWORD: {
        if (!fn->password_env && !fn->password_file && !fn->password_inline) {
            n->auth_step = AUTH_END;
            return 1;
        }
        const char *e = NULL, *pw = fu_cred_password(&n->s->creds, fn, &e);
        if (pw == NULL) {
            fail(n, false, "auth: %s", e);
            return -1;
        }
        rc = libssh2_userauth_password_ex(sess, user, ulen, pw, (unsigned)strlen(pw), NULL);
        if (rc == LIBSSH2_ERROR_EAGAIN)
            return 0;
        if (rc == 0)
            goto done;
        tried(n, "password");
        n->auth_step = AUTH_END;
        return 1;
    }
    default:
        n->fatal = true;
        fail(n, false, "auth: permission denied for user %s (tried: %s)", user,
             n->tried[0] ? n->tried : "nothing: set key_file, ssh_agent or password_env");
        return -1;
    }
done:
    if (n->agent) {
        libssh2_agent_disconnect(n->agent);
        libssh2_agent_free(n->agent);
        n->agent = NULL;
    }
    release_slot(n);
    connect_done(n);
    return -1; /* the continuation owns the node now */
}

/* The connection's state machine, run on every poll event. */
static void conn_step(sn_t *n)
{
    for (;;) {
        conn_t *c = n->c;
        switch (n->cs) {
        case CS_CONNECT: {
            int e = 0;
            socklen_t el = sizeof(e);
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
                e = errno;
            if (e == EINPROGRESS || e == EALREADY) {
                want(c, UV_WRITABLE);
                return;
            }
            if (e != 0) {
                fail(n, true, "connect to %s port %u: %s", host_of(fnode(n)), port_of(fnode(n)),
                     strerror(e));
                return;
            }
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0)
                inet_ntop(ss.ss_family,
                          ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                                   : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
                          n->local, sizeof(n->local));
            if (start_session(n) != 0) {
                fail(n, false, "out of memory");
                return;
            }
            n->cs = CS_HANDSHAKE;
            break;
        }
        case CS_QUEUED:
            return;
        case CS_HANDSHAKE: {
            int rc = libssh2_session_handshake(c->sess, c->fd);
            if (rc == LIBSSH2_ERROR_EAGAIN) {
                wait_io(n);
                return;
            }
            if (rc != 0) {
                /* A server that closes before the banner is as unreachable as a refusal. */
                bool gone = rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_RECV ||
                            rc == LIBSSH2_ERROR_BANNER_RECV;
                fail(n, gone, "ssh handshake with %s port %u: %s", host_of(fnode(n)),
                     port_of(fnode(n)), ssh_error(n));
                return;
            }
            if (!check_host_key(n))
                return;
            n->cs = CS_AUTH;
            n->auth_step = AUTH_LIST;
            n->tried[0] = '\0';
            break;
        }
        case CS_AUTH: {
            int r = auth_step(n);
            if (r < 0)
                return;
            if (r == 0) {
                wait_io(n);
                return;
            }
            break;
        }
        default:
            return;
        }
    }
}

static void open_socket(sn_t *n, const struct sockaddr *sa, socklen_t salen)
{
    ssh_t *s = n->s;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(n, false, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL || uv_poll_init_socket(s->o.loop, &c->poll, fd) != 0) {
        free(c);
        close(fd);
        fail(n, false, "cannot watch the socket (out of memory or file descriptors)");
        return;
    }
    c->fd = fd;
    c->n = n;
    c->s = s;
    c->poll.data = c;
    s->handles++;
    n->c = c;
    n->cs = CS_CONNECT;
    if (connect(fd, sa, salen) != 0 && errno != EINPROGRESS) {
        fail(n, true, "connect to %s port %u: %s", host_of(fnode(n)), port_of(fnode(n)),
             strerror(errno));
        return;
    }
    want(c, UV_WRITABLE);
}

static void handle_gone(ssh_t *s);

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    gai_t *g = req->data;
    sn_t *n = g->n;
    ssh_t *s = g->s;
    free(g);
    if (n == NULL) { /* the node gave up on it */
        uv_freeaddrinfo(ai);
        handle_gone(s);
        return;
    }
    s->handles--;
    n->gai = NULL;
    if (status != 0 || ai == NULL) {
        uv_freeaddrinfo(ai);
        fail(n, true, "cannot resolve %s: %s", host_of(fnode(n)), uv_strerror(status));
        return;
    }
    open_socket(n, ai->ai_addr, ai->ai_addrlen);
    uv_freeaddrinfo(ai);
}

/* TCP connect to the node, its address resolved first when it is a name. */
static void begin_connect(sn_t *n)
{
    const fu_node_t *fn = fnode(n);
    arm(n, n->s->o.connect_timeout_ms);
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(port_of(fn))};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(port_of(fn))};
    const char *h = host_of(fn);
    if (inet_pton(AF_INET, h, &in4.sin_addr) == 1) {
        open_socket(n, (struct sockaddr *)&in4, sizeof(in4));
    } else if (inet_pton(AF_INET6, h, &in6.sin6_addr) == 1) {
        open_socket(n, (struct sockaddr *)&in6, sizeof(in6));
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        char port[8];
        snprintf(port, sizeof(port), "%u", port_of(fn));
        gai_t *g = calloc(1, sizeof(*g));
        if (g == NULL) {
            fail(n, false, "out of memory");
            return;
        }
        g->n = n;
        g->s = n->s;
        g->req.data = g;
        n->cs = CS_RESOLVE;
        int rc = uv_getaddrinfo(n->s->o.loop, &g->req, on_resolved, h, port, &hints);
        if (rc != 0) {
            free(g);
            fail(n, true, "cannot resolve %s: %s", h, uv_strerror(rc));
            return;
        }
        n->gai = g;
        n->s->handles++; /* shutdown waits for the lookup's callback */
    }
}

static void on_slot(uv_timer_t *h)
{
    sn_t *n = h->data;
    fu_transport_t *t = &n->s->base;
    if (t->started_cb && n->running && !n->run_cb && !n->rebooting)
        t->started_cb(t->ud, n->idx, n->phase, false);
    begin_connect(n);
}

/* Connects (when not connected) and then runs k. Connecting holds one of the
 * max_handshakes slots from the TCP connect to the end of auth: key exchanges cost CPU
 * on both sides, and the node's sshd counts unauthenticated connections (MaxStartups). */
static void with_connection(sn_t *n, sn_step k)
{
    if (n->cs == CS_READY && n->c) {
        k(n);
        return;
    }
    ssh_t *s = n->s;
    n->after_connect = k;
    if (s->handshaking >= s->o.max_handshakes) {
        n->cs = CS_QUEUED; /* no timer: the wait is not the node's fault */
        uv_timer_stop(&n->timer);
        fu_transport_t *t = &s->base;
        if (t->started_cb && n->running && !n->run_cb && !n->rebooting)
            t->started_cb(t->ud, n->idx, n->phase, true);
        if (s->qtail)
            s->qtail->qnext = n;
        else
            s->qhead = n;
        s->qtail = n;
        return;
    }
    s->handshaking++;
    n->hs_slot = true;
    begin_connect(n);
}

static void on_timeout(uv_timer_t *h)
{
    sn_t *n = h->data;
    if (!n->running) { /* an idle session: a keepalive, so that firewalls keep it */
        int next = 0;
        if (n->c && n->cs == CS_READY && n->ex == EX_NONE) {
            libssh2_keepalive_send(n->c->sess, &next);
            uv_timer_start(&n->timer, on_timeout, n->s->o.keepalive_ms, 0);
        }
        return;
    }
    const fu_node_t *fn = fnode(n);
    switch (n->cs) {
    case CS_RESOLVE:
    case CS_CONNECT:
        fail(n, true, "connect to %s port %u: timed out", host_of(fn), port_of(fn));
        return;
    case CS_HANDSHAKE:
        fail(n, true, "ssh handshake with %s port %u: timed out (no SSH banner or key exchange)",
             host_of(fn), port_of(fn));
        return;
    case CS_AUTH:
        fail(n, false, "auth: timed out");
        return;
    default:
        break;
    }
    if (n->ex != EX_NONE)
        fail(n, false, "%s on %s: no output for %llu s", n->phase == FU_PHASE_INSTALL ? "install"
             : "agent", fn->name, (unsigned long long)(n->s->o.exec_timeout_ms / 1000));
    else
        fail(n, false, "timed out");
}

/* ---- exec channels ---- */

static void buf_add(char **b, size_t *len, size_t *cap, size_t max, const char *d, size_t n)
{
    if (*len + n > max)
        n = max > *len ? max - *len : 0;
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        while (nc < *len + n + 1)
            nc *= 2;
        char *nb = realloc(*b, nc);
        if (nb == NULL)
            return;
        *b = nb;
        *cap = nc;
    }
    memcpy(*b + *len, d, n);
    *len += n;
    (*b)[*len] = '\0';
}

static void exec_reset(sn_t *n)
{
    free(n->cmd);
    if (n->hdr) /* it may hold the node's token */
        OPENSSL_cleanse(n->hdr, n->hdrlen);
    free(n->hdr);
    n->cmd = n->hdr = NULL;
    n->body = NULL;
    n->hdrlen = n->bodylen = n->inoff = 0;
    n->outlen = n->errlen = n->scanned = 0;
    if (n->out)
        n->out[0] = '\0';
    if (n->err)
        n->err[0] = '\0';
    n->write_failed = false;
    n->status = -1;
}

/* Runs cmd on the node's session with hdr (owned) then body as stdin; done follows. */
static void exec_start(sn_t *n, char *cmd, char *hdr, size_t hdrlen, const void *body,
                       size_t bodylen, exec_done_fn done)
{
    exec_reset(n);
    n->cmd = cmd;
    n->hdr = hdr;
    n->hdrlen = hdrlen;
    n->body = body;
    n->bodylen = bodylen;
    n->exec_done = done;
    n->reopened = false;
    n->ex = EX_OPEN;
    arm(n, n->s->o.exec_timeout_ms);
    exec_step(n);
}

static void exec_finish(sn_t *n, const char *err)
{
    n->ex = EX_NONE;
    n->ch = NULL;
    uv_timer_stop(&n->timer);
    n->exec_done(n, err);
}

static void line_cb(sn_t *n, const char *line);

/* Calls line_cb for each complete stdout line not seen yet (install progress). */
static void scan_lines(sn_t *n)
{
    while (n->scanned < n->outlen) {
        char *nl = memchr(n->out + n->scanned, '\n', n->outlen - n->scanned);
        if (nl == NULL)
            return;
        *nl = '\0';
        line_cb(n, n->out + n->scanned);
        *nl = '\n';
        n->scanned = (size_t)(nl - n->out) + 1;
    }
}

/* The connection broke under a command: which component, and how much of its input
 * (an upload) had been handed to the connection. */
static void lost(sn_t *n)
{
    const fu_fleet_t *f = n->s->base.fleet;
    const char *comp = (n->phase == FU_PHASE_INSTALL || n->phase == FU_PHASE_STAGE) &&
                               n->ci < n->ncomps && !n->run_cb
                           ? f->baseline.components[n->comps[n->ci]].name
                           : NULL;
    char sent[96] = "";
    if (n->bodylen)
        snprintf(sent, sizeof(sent), " after %zu of %zu bytes were sent", n->inoff,
                 n->hdrlen + n->bodylen);
    fail(n, false, "%s%sconnection to %s lost%s: %s", comp ? comp : "", comp ? ": " : "",
         fnode(n)->name, sent, ssh_error(n));
}

static void reopen(sn_t *n)
{
    n->ex = EX_OPEN;
    arm(n, n->s->o.exec_timeout_ms);
    exec_step(n);
}

static void exec_step(sn_t *n)
{
    for (;;) {
        LIBSSH2_SESSION *sess = n->c->sess;
        int rc;
        switch (n->ex) {
        case EX_OPEN:
            n->ch = libssh2_channel_open_session(sess);
            if (n->ch == NULL) {
                int e = libssh2_session_last_errno(sess);
                if (e == LIBSSH2_ERROR_EAGAIN)
                    goto wait;
                if (!n->reopened && (e == LIBSSH2_ERROR_SOCKET_SEND || e == LIBSSH2_ERROR_SOCKET_RECV ||
                                     e == LIBSSH2_ERROR_SOCKET_DISCONNECT)) {
                    /* An idle session died (sshd restarted, a NAT forgot it): once, a
                     * new connection, and the same command on it. */
                    n->reopened = true;
                    detach(n, false);
                    with_connection(n, reopen);
                    return;
                }
                fail(n, false, "cannot open a channel on %s: %s", fnode(n)->name, ssh_error(n));
                return;
            }
            n->ex = EX_EXEC;
            break;
        case EX_EXEC:
            rc = libssh2_channel_exec(n->ch, n->cmd);
            if (rc == LIBSSH2_ERROR_EAGAIN)
                goto wait;
            if (rc != 0) {
                fail(n, false, "cannot run a command on %s: %s", fnode(n)->name, ssh_error(n));
                return;
            }
            n->ex = EX_WRITE;
            break;
        case EX_WRITE: {
            size_t total = n->hdrlen + n->bodylen;
            while (n->inoff < total && !n->write_failed) {
                const char *p = n->inoff < n->hdrlen ? n->hdr + n->inoff
                                                     : (const char *)n->body + (n->inoff - n->hdrlen);
                size_t left = n->inoff < n->hdrlen ? n->hdrlen - n->inoff : total - n->inoff;
                ssize_t w = libssh2_channel_write(n->ch, p, left > 65536 ? 65536 : left);
                if (w == 0)
                    w = LIBSSH2_ERROR_EAGAIN; /* no window yet */
                if (w == LIBSSH2_ERROR_EAGAIN &&
                    (libssh2_session_block_directions(sess) & LIBSSH2_SESSION_BLOCK_OUTBOUND))
                    goto wait; /* a packet is half-sent: nothing else may be sent first */
                if (w == LIBSSH2_ERROR_EAGAIN) {
                    /* Waiting for window: read what the command says meanwhile, so that
                     * its output window does not fill and both sides wait forever. */
                    char buf[4096];
                    ssize_t r = libssh2_channel_read(n->ch, buf, sizeof(buf));
                    if (r > 0) {
                        buf_add(&n->out, &n->outlen, &n->outcap, SSH_MAX_OUT, buf, (size_t)r);
                        scan_lines(n);
                        arm(n, n->s->o.exec_timeout_ms);
                        continue;
                    }
                    goto wait;
                }
                if (w < 0) {
                    /* The command stopped reading (it ended, or the link broke): what it
                     * says and its exit status tell which. */
                    if (w == LIBSSH2_ERROR_SOCKET_SEND || w == LIBSSH2_ERROR_SOCKET_RECV ||
                        w == LIBSSH2_ERROR_SOCKET_DISCONNECT) {
                        lost(n);
                        return;
                    }
                    n->write_failed = true;
                    break;
                }
                n->inoff += (size_t)w;
                arm(n, n->s->o.exec_timeout_ms);
            }
            n->ex = n->write_failed ? EX_READ : EX_EOF;
            break;
        }
        case EX_EOF:
            rc = libssh2_channel_send_eof(n->ch);
            if (rc == LIBSSH2_ERROR_EAGAIN)
                goto wait;
            n->ex = EX_READ; /* a command that has ended refuses the EOF: read on */
            break;
        case EX_READ: {
            char buf[16384];
            bool got = false;
            ssize_t r = libssh2_channel_read(n->ch, buf, sizeof(buf));
            if (r > 0) {
                buf_add(&n->out, &n->outlen, &n->outcap, SSH_MAX_OUT, buf, (size_t)r);
                scan_lines(n);
                got = true;
            }
            ssize_t r2 = libssh2_channel_read_stderr(n->ch, buf, sizeof(buf));
            if (r2 > 0) {
                buf_add(&n->err, &n->errlen, &n->errcap, SSH_MAX_ERR, buf, (size_t)r2);
                got = true;
            }
            if (got) {
                arm(n, n->s->o.exec_timeout_ms);
                break;
            }
            if ((r < 0 && r != LIBSSH2_ERROR_EAGAIN) || (r2 < 0 && r2 != LIBSSH2_ERROR_EAGAIN)) {
                lost(n);
                return;
            }
            if (libssh2_channel_eof(n->ch)) {
                n->ex = EX_CLOSE;
                break;
            }
            goto wait;
        }
        case EX_CLOSE:
            rc = libssh2_channel_close(n->ch);
            if (rc == LIBSSH2_ERROR_EAGAIN)
                goto wait;
            n->ex = EX_WAIT;
            break;
        case EX_WAIT:
            rc = libssh2_channel_wait_closed(n->ch);
            if (rc == LIBSSH2_ERROR_EAGAIN)
                goto wait;
            n->status = libssh2_channel_get_exit_status(n->ch);
            {
                char *sig = NULL;
                size_t sl = 0;
                if (libssh2_channel_get_exit_signal(n->ch, &sig, &sl, NULL, NULL, NULL, NULL) == 0 &&
                    sig) {
                    n->status = -1;
                    snprintf(n->errbuf, sizeof(n->errbuf), "killed by SIG%s", sig);
                    libssh2_free(sess, sig);
                }
            }
            n->ex = EX_FREE;
            break;
        case EX_FREE:
            rc = libssh2_channel_free(n->ch);
            if (rc == LIBSSH2_ERROR_EAGAIN)
                goto wait;
            exec_finish(n, NULL);
            return;
        default:
            return;
        }
    }
wait:
    wait_io(n);
}

/* A poll event: whichever machine is running. */
static void drive(sn_t *n)
{
    if (n->cs != CS_READY)
        conn_step(n);
    else if (n->ex != EX_NONE)
        exec_step(n);
    else if (n->c) /* idle: keepalive answers and the like; nothing to wait for */
        uv_poll_stop(&n->c->poll), n->c->events = 0;
}

/* ---- the agent ---- */

/* The command that runs the agent with args, or says it is missing (exit 121). The
 * folder and the file must be this user's and no links: /var/tmp is writable by all,
 * and a planted agent-HASH.sh would run as this (often root) user (exit 122). */
static char *agent_cmd(ssh_t *s, const char *args)
{
    char *cmd = NULL;
    if (asprintf(&cmd,
                 "d=\"${FLEETUP_DIR:-/var/tmp/fleetup}\"; f=\"$d/%s\"; [ -f \"$f\" ] || exit %d; "
                 "if [ -L \"$d\" ] || [ -L \"$f\" ] || ! [ -O \"$d\" ] || ! [ -O \"$f\" ]; then "
                 "echo \"$d or its agent is not this user's own (or is a symlink): remove it, or "
                 "set FLEETUP_DIR\" >&2; exit %d; fi; exec sh \"$f\" %s",
                 s->agent_path, SSH_AGENT_MISSING, SSH_AGENT_UNSAFE, args) < 0)
        return NULL;
    return cmd;
}

/* Uploads the agent into a folder of this user's (made 0700): written to a temporary
 * name, its SHA-256 checked when the node has sha256sum, then renamed, so a half-written
 * agent never has the final name (which carries the hash: a changed agent is a new
 * file). */
static char *upload_cmd(ssh_t *s)
{
    char *cmd = NULL;
    if (asprintf(&cmd,
                 "d=\"${FLEETUP_DIR:-/var/tmp/fleetup}\"; umask 077; "
                 "[ -d \"$d\" ] || mkdir -m 700 -p \"$d\" || exit 1; "
                 "if [ -L \"$d\" ] || ! [ -O \"$d\" ]; then echo \"$d is not this user's own (or is "
                 "a symlink): remove it, or set FLEETUP_DIR\" >&2; exit %d; fi; "
                 "t=\"$d/.agent.$$\"; rm -f \"$t\"; cat > \"$t\" || exit 1; "
                 "if command -v sha256sum >/dev/null 2>&1; then "
                 "h=$(sha256sum < \"$t\"); h=${h%%%% *}; "
                 "[ \"$h\" = %s ] || { rm -f \"$t\"; echo \"agent upload corrupted: sha256 $h\" >&2; exit 1; }; "
                 "fi; mv -f \"$t\" \"$d/%s\"",
                 SSH_AGENT_UNSAFE, s->agent_hash, s->agent_path) < 0)
        return NULL;
    return cmd;
}

static void agent_forget(sn_t *n)
{
    free(n->a_args);
    if (n->a_hdr)
        OPENSSL_cleanse(n->a_hdr, n->a_hdrlen);
    free(n->a_hdr);
    n->a_args = n->a_hdr = NULL;
}

static void agent_exec(sn_t *n);

static const char *stderr_line(sn_t *n);

static void after_upload(sn_t *n, const char *err)
{
    char msg[512];
    if (err == NULL && n->status != 0) {
        snprintf(msg, sizeof(msg), "cannot install the agent in $FLEETUP_DIR (/var/tmp/fleetup) "
                 "on %s: exit %d%s%s", fnode(n)->name, n->status, n->errlen ? ": " : "",
                 stderr_line(n));
        err = msg;
    }
    if (err) {
        agent_forget(n);
        n->a_done(n, err);
        return;
    }
    agent_exec(n);
}

static void agent_done(sn_t *n, const char *err)
{
    if (err == NULL && n->status == SSH_AGENT_MISSING && !n->uploaded) {
        n->uploaded = true;
        exec_start(n, upload_cmd(n->s), NULL, 0, fu_agent_script, fu_agent_script_len,
                   after_upload);
        return;
    }
    agent_forget(n);
    n->a_done(n, err);
}

static void agent_exec(sn_t *n)
{
    char *hdr = n->a_hdr ? malloc(n->a_hdrlen + 1) : NULL;
    if (hdr)
        memcpy(hdr, n->a_hdr, n->a_hdrlen + 1);
    exec_start(n, agent_cmd(n->s, n->a_args), hdr, hdr ? n->a_hdrlen : 0, n->a_body,
               n->a_bodylen, agent_done);
}

/* Runs the agent with args and stdin hdr (copied) + body (shared); a node without the
 * agent gets it uploaded first, once per session. done follows with n->status. */
static void agent_run(sn_t *n, const char *args, const char *hdr, size_t hdrlen,
                      const void *body, size_t bodylen, exec_done_fn done)
{
    agent_forget(n);
    n->uploaded = false;
    n->a_args = strdup(args);
    n->a_hdr = hdr ? malloc(hdrlen + 1) : NULL;
    if (n->a_hdr) {
        memcpy(n->a_hdr, hdr, hdrlen);
        n->a_hdr[hdrlen] = '\0';
    }
    n->a_hdrlen = hdrlen;
    n->a_body = body;
    n->a_bodylen = bodylen;
    n->a_done = done;
    agent_exec(n);
}

/* The first line of the command's stderr, for messages. */
static const char *stderr_line(sn_t *n)
{
    if (n->errlen == 0)
        return "";
    char *nl = strchr(n->err, '\n');
    if (nl)
        *nl = '\0';
    return n->err;
}

/* ---- phases ---- */

/* Starts a phase: fresh token, and the first step runs from the loop (a result never
 * comes from inside the vtable call). */
static sn_t *begin(ssh_t *s, uint32_t idx, fu_phase_t ph)
{
    sn_t *n = s->nodes[idx];
    if (n == NULL) {
        n = calloc(1, sizeof(*n));
        if (n == NULL)
            return NULL;
        n->s = s;
        n->idx = idx;
        n->status = -1;
        size_t nc = s->base.fleet->baseline.ncomponents + 1;
        n->vers = calloc(nc, sizeof(*n->vers));
        n->versions = calloc(nc, sizeof(*n->versions));
        if (n->vers == NULL || n->versions == NULL) {
            free(n->vers);
            free(n->versions);
            free(n);
            return NULL;
        }
        uv_timer_init(s->o.loop, &n->timer);
        n->timer.data = n;
        s->handles++;
        s->nodes[idx] = n;
    }
    n->token++;
    n->phase = ph;
    n->running = true;
    n->reboot = false;
    n->rebooting = false;
    n->fatal = false;
    n->run_cb = NULL;
    free(n->log);
    n->log = NULL;
    return n;
}

static void on_start(uv_timer_t *h);

static int start(ssh_t *s, uint32_t idx, fu_phase_t ph, sn_step first)
{
    sn_t *n = begin(s, idx, ph);
    if (n == NULL)
        return -1;
    n->after_connect = first;
    uv_timer_start(&n->timer, on_start, 0, 0);
    return 0;
}

static void on_start(uv_timer_t *h)
{
    sn_t *n = h->data;
    sn_step first = n->after_connect;
    n->after_connect = NULL;
    with_connection(n, first);
}

static void connected(sn_t *n)
{
    phase_end(n, NULL, false, false);
}

static int ssh_connect(fu_transport_t *t, uint32_t idx)
{
    return start((ssh_t *)t, idx, FU_PHASE_CONNECT, connected);
}

/* -- inventory -- */

static void set_version(sn_t *n, uint32_t c, const char *v)
{
    free(n->vers[c]);
    n->vers[c] = v ? strdup(v) : NULL;
    n->versions[c] = n->vers[c];
}

/* A component the agent found no version for may be a device fwupd knows. */
static const char *from_fwupd(const fu_component_t *comp, json_t *fw)
{
    json_t *devs = json_object_get(fw, "Devices"), *d;
    size_t i;
    regex_t re;
    bool have_re = comp->match && regcomp(&re, comp->match, REG_EXTENDED | REG_NOSUB) == 0;
    const char *found = NULL;
    json_array_foreach(devs, i, d) {
        const char *name = json_string_value(json_object_get(d, "Name"));
        const char *ver = json_string_value(json_object_get(d, "Version"));
        if (name == NULL || ver == NULL)
            continue;
        if (have_re ? regexec(&re, name, 0, NULL, 0) == 0 : strcmp(name, comp->name) == 0) {
            found = ver;
            break;
        }
    }
    if (have_re)
        regfree(&re);
    return found;
}

/* The facts the inventory command shows: the agent's facts and fwupd's devices. */
static void keep_facts(sn_t *n, json_t *facts, json_t *fw)
{
    free(n->facts);
    n->facts = NULL;
    json_t *o = json_is_object(facts) ? json_deep_copy(facts) : json_object();
    json_t *devs = json_array(), *d;
    size_t i;
    json_array_foreach(json_object_get(fw, "Devices"), i, d) {
        json_t *e = json_object();
        json_t *name = json_object_get(d, "Name"), *ver = json_object_get(d, "Version");
        json_object_set(e, "name", json_is_string(name) ? name : json_null());
        json_object_set(e, "version", json_is_string(ver) ? ver : json_null());
        json_array_append_new(devs, e);
    }
    json_object_set_new(o, "fwupd", json_is_object(fw) ? devs : (json_decref(devs), json_null()));
    n->facts = json_dumps(o, JSON_COMPACT);
    json_decref(o);
}

static void inventory_done(sn_t *n, const char *err)
{
    if (err) {
        fail(n, false, "%s", err);
        return;
    }
    const fu_fleet_t *f = n->s->base.fleet;
    if (n->status != 0) {
        fail_soft(n, "inventory: the agent exited %d%s%s", n->status, n->errlen ? ": " : "",
                  stderr_line(n));
        return;
    }
    json_error_t je;
    json_t *j = json_loadb(n->out ? n->out : "", n->outlen, 0, &je);
    json_t *comps = json_object_get(j, "components");
    if (!json_is_array(comps)) {
        json_decref(j);
        fail_soft(n, "inventory: the agent's answer is not its JSON (line %d: %s)", je.line,
                  je.text);
        return;
    }
    json_t *fw = json_object_get(j, "fwupd");
    for (uint32_t c = 0; c < f->baseline.ncomponents; c++)
        set_version(n, c, NULL);
    size_t i;
    json_t *e;
    json_array_foreach(comps, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *ver = json_string_value(json_object_get(e, "version"));
        for (uint32_t c = 0; name && c < f->baseline.ncomponents; c++)
            if (strcmp(f->baseline.components[c].name, name) == 0)
                set_version(n, c, ver);
    }
    for (uint32_t c = 0; json_is_object(fw) && c < f->baseline.ncomponents; c++)
        if (n->versions[c] == NULL && f->baseline.components[c].probe == NULL)
            set_version(n, c, from_fwupd(&f->baseline.components[c], fw));
    keep_facts(n, json_object_get(j, "facts"), fw);
    json_decref(j);
    phase_end(n, NULL, false, true);
}

static void inventory_start(sn_t *n)
{
    const fu_fleet_t *f = n->s->base.fleet;
    char *in = NULL;
    size_t len = 0, cap = 0;
    for (uint32_t c = 0; c < f->baseline.ncomponents; c++) {
        const fu_component_t *comp = &f->baseline.components[c];
        if (!fu_component_applies(f, comp, fnode(n)))
            continue;
        buf_add(&in, &len, &cap, SIZE_MAX, comp->name, strlen(comp->name));
        buf_add(&in, &len, &cap, SIZE_MAX, "\t", 1);
        if (comp->probe)
            buf_add(&in, &len, &cap, SIZE_MAX, comp->probe, strlen(comp->probe));
        buf_add(&in, &len, &cap, SIZE_MAX, "\n", 1);
    }
    agent_run(n, "inventory", in, len, NULL, 0, inventory_done);
    free(in);
}

static int ssh_inventory(fu_transport_t *t, uint32_t idx, fu_phase_t ph)
{
    return start((ssh_t *)t, idx, ph, inventory_start);
}

/* -- stage and install -- */

static void install_next(sn_t *n);

/* Install's stdout: progress, the installer's log, then one result or error line. */
static void line_cb(sn_t *n, const char *line)
{
    if (n->phase != FU_PHASE_INSTALL && n->phase != FU_PHASE_STAGE)
        return;
    if (strncmp(line, "progress ", 9) == 0) {
        char *end;
        long pct = strtol(line + 9, &end, 10);
        if (end != line + 9 && pct >= 0 && pct <= 100 && n->s->base.progress_cb) {
            /* Over several components, each gets its share of the percentage. */
            int total = (int)((n->ci * 100 + (uint32_t)pct) / (n->ncomps ? n->ncomps : 1));
            n->s->base.progress_cb(n->s->base.ud, n->idx, n->phase, total, *end ? end + 1 : "");
        }
    } else if (strncmp(line, "log ", 4) == 0) {
        size_t have = n->log ? strlen(n->log) : 0, add = strlen(line + 4);
        char *nl = realloc(n->log, have + add + 2);
        if (nl) {
            memcpy(nl + have, line + 4, add);
            nl[have + add] = '\n';
            nl[have + add + 1] = '\0';
            n->log = nl;
        }
    }
}

/* The last "result N" or "error M" line of the output. */
static const char *final_line(sn_t *n)
{
    if (n->out == NULL)
        return NULL;
    const char *last = NULL;
    for (const char *p = n->out; p && *p;) {
        if (strncmp(p, "result ", 7) == 0 || strncmp(p, "error ", 6) == 0)
            last = p;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return last;
}

/* The installer's last 3 lines on one line, for the failure reason (the report shows
 * reasons; the whole tail goes to the result's log_tail). */
static void short_tail(const char *log, char *out, size_t len)
{
    out[0] = '\0';
    if (log == NULL || *log == '\0')
        return;
    const char *p = log + strlen(log);
    int lines = 0;
    while (p > log && lines < 4)
        if (*--p == '\n')
            lines++;
    if (*p == '\n')
        p++;
    size_t w = 0;
    for (; *p && w + 4 < len; p++) {
        if (*p == '\n') {
            if (p[1]) {
                memcpy(out + w, " / ", 3);
                w += 3;
            }
        } else {
            out[w++] = *p;
        }
    }
    out[w] = '\0';
}

static void install_done(sn_t *n, const char *err)
{
    const fu_fleet_t *f = n->s->base.fleet;
    const fu_component_t *comp = &f->baseline.components[n->comps[n->ci]];
    if (err) {
        fail(n, false, "%s: %s", comp->name, err);
        return;
    }
    const char *fl = final_line(n);
    char line[600];
    snprintf(line, sizeof(line), "%s", fl ? fl : "");
    line[strcspn(line, "\n")] = '\0';
    if (fl == NULL) {
        fail_soft(n, "%s: the agent ended without a result (exit %d)%s%s", comp->name, n->status,
                  n->errlen ? ": " : "", stderr_line(n));
        return;
    }
    if (strncmp(line, "error ", 6) == 0) {
        fail_soft(n, "%s: %s", comp->name, line + 6);
        return;
    }
    int code = atoi(line + 7);
    if (n->phase == FU_PHASE_STAGE) {
        if (fnode(n)->callback == FU_CALLBACK_PUSH)
            n->staged |= 1ull << n->comps[n->ci];
    } else if (code == 1) {
        n->reboot = true; /* installed; takes effect after a reboot */
    } else if (code != 0 && code != 3) { /* 3: not required, nothing to do */
        char tail[400];
        short_tail(n->log, tail, sizeof(tail));
        fail_soft(n, "%s: installer exited %d%s%s", comp->name, code, tail[0] ? "; last output: " : "",
                  tail);
        return;
    }
    n->ci++;
    install_next(n);
}

static int add_line(char *buf, size_t cap, size_t *len, const char *key, const char *val)
{
    int w = snprintf(buf + *len, cap - *len, "%s %s\n", key, val);
    if (w < 0 || (size_t)w >= cap - *len || strchr(val, '\n'))
        return -1;
    *len += (size_t)w;
    return 0;
}

static void install_next(sn_t *n)
{
    ssh_t *s = n->s;
    const fu_fleet_t *f = s->base.fleet;
    if (n->ci == n->ncomps) {
        phase_end(n, NULL, false, false);
        return;
    }
    uint32_t c = n->comps[n->ci];
    const fu_component_t *comp = &f->baseline.components[c];
    const fu_node_t *fn = fnode(n);
    const void *data = NULL;
    size_t size = 0;
    if (s->o.package == NULL || s->o.package(s->o.ud, c, &data, &size) != 0) {
        fail_soft(n, "%s: package %s is not available to send", comp->name, comp->package);
        return;
    }
    bool push = fn->callback == FU_CALLBACK_PUSH;
    char hdr[4096], v[2048], sz[32];
    size_t len = 0;
    snprintf(sz, sizeof(sz), "%zu", size);
    int bad = add_line(hdr, sizeof(hdr), &len, "component", comp->name) |
              add_line(hdr, sizeof(hdr), &len, "version", comp->version) |
              add_line(hdr, sizeof(hdr), &len, "sha256", comp->sha256) |
              add_line(hdr, sizeof(hdr), &len, "size", sz) |
              add_line(hdr, sizeof(hdr), &len, "mode", push ? "push" : "pull");
    if (!push) {
        if (s->o.image_uri == NULL || s->o.image_uri(s->o.ud, n->idx, c, n->local, v, sizeof(v)) < 0) {
            fail_soft(n, "%s: %s", comp->name, s->o.image_uri ? v : "no package server");
            return;
        }
        bad |= add_line(hdr, sizeof(hdr), &len, "url", v);
        char url[1024], tok[1024], pin[128];
        if (s->o.status_uri &&
            s->o.status_uri(s->o.ud, n->idx, n->local, url, sizeof(url), tok, sizeof(tok), pin,
                            sizeof(pin)) == 0) {
            if (pin[0])
                bad |= add_line(hdr, sizeof(hdr), &len, "pin", pin);
            bad |= add_line(hdr, sizeof(hdr), &len, "status", url) |
                   add_line(hdr, sizeof(hdr), &len, "token", tok);
        }
    }
    if (bad || len + 1 >= sizeof(hdr)) {
        fail_soft(n, "%s: the install request is too long", comp->name);
        return;
    }
    hdr[len++] = '\n';
    /* Push mode sends the bytes, unless stage already left them on the node. */
    bool send = push && !(n->staged & (1ull << c));
    agent_run(n, n->stage_only ? "stage" : "install", hdr, len, send ? data : NULL,
              send ? size : 0, install_done);
}

static void install_start(sn_t *n)
{
    n->ci = 0;
    install_next(n);
}

static int plan_start(ssh_t *s, uint32_t idx, fu_phase_t ph, const fu_plan_t *plan)
{
    uint32_t order[FU_MAX_COMPONENTS];
    uint32_t k = fu_plan_order(s->base.fleet, order);
    sn_t *n = begin(s, idx, ph);
    if (n == NULL)
        return -1;
    n->ncomps = 0;
    for (uint32_t i = 0; i < k; i++)
        if (plan->install & (1ull << order[i]))
            n->comps[n->ncomps++] = order[i];
    n->stage_only = ph == FU_PHASE_STAGE;
    n->after_connect = install_start;
    uv_timer_start(&n->timer, on_start, 0, 0);
    return 0;
}

static int ssh_stage(fu_transport_t *t, uint32_t idx, const fu_plan_t *plan)
{
    return plan_start((ssh_t *)t, idx, FU_PHASE_STAGE, plan);
}

static int ssh_install(fu_transport_t *t, uint32_t idx, const fu_plan_t *plan)
{
    return plan_start((ssh_t *)t, idx, FU_PHASE_INSTALL, plan);
}

/* -- activate: reboot, then wait for a new boot id -- */

static void reboot_retry(uv_timer_t *h);

static void bootid_done(sn_t *n, const char *err)
{
    char id[64] = "";
    if (err == NULL && n->status == 0 && n->out)
        sscanf(n->out, "%63s", id);
    n->rebooting = true;
    if (id[0] && strcmp(id, n->boot_id) != 0) {
        phase_end(n, NULL, false, false);
        return;
    }
    /* Still the old boot (the reboot has not begun) or not answering yet: again later. */
    detach(n, true);
    if (loop_now(n) >= n->reboot_until) {
        fail(n, false, "the node did not come back within %llu s of its reboot",
             (unsigned long long)(SSH_REBOOT_WAIT_MS / 1000));
        return;
    }
    uv_timer_start(&n->timer, reboot_retry, SSH_REBOOT_RETRY_MS, 0);
}

static void ask_boot_id(sn_t *n)
{
    agent_run(n, "bootid", NULL, 0, NULL, 0, bootid_done);
}

/* A connection that fails while the node reboots is expected: try again later. */
static void reboot_connect_failed(sn_t *n)
{
    detach(n, false);
    if (loop_now(n) >= n->reboot_until) {
        phase_end(n, "the node did not come back within 300 s of its reboot", false, false);
        return;
    }
    uv_timer_start(&n->timer, reboot_retry, SSH_REBOOT_RETRY_MS, 0);
}

static void reboot_done(sn_t *n, const char *err)
{
    char id[64] = "";
    if (err == NULL && n->out)
        sscanf(n->out, "boot %63s", id);
    if (err || n->status != 0 || id[0] == '\0') {
        fail_soft(n, "reboot: %s", err ? err : n->errlen ? stderr_line(n) : "the agent refused");
        return;
    }
    snprintf(n->boot_id, sizeof(n->boot_id), "%s", id);
    n->reboot_until = loop_now(n) + SSH_REBOOT_WAIT_MS;
    detach(n, true);
    uv_timer_start(&n->timer, reboot_retry, SSH_REBOOT_RETRY_MS, 0);
}

static void reboot_start(sn_t *n)
{
    agent_run(n, "reboot", NULL, 0, NULL, 0, reboot_done);
}

static int ssh_activate(fu_transport_t *t, uint32_t idx)
{
    return start((ssh_t *)t, idx, FU_PHASE_ACTIVATE, reboot_start);
}

static void reboot_retry(uv_timer_t *h)
{
    sn_t *n = h->data;
    if (!n->running)
        return;
    n->rebooting = true;
    with_connection(n, ask_boot_id);
}

/* -- the rest of the vtable -- */

static int ssh_poll(fu_transport_t *t, uint32_t idx)
{
    (void)t, (void)idx; /* progress comes as the agent prints it */
    return 0;
}

static void ssh_cancel(fu_transport_t *t, uint32_t idx)
{
    ssh_t *s = (ssh_t *)t;
    sn_t *n = s->nodes[idx];
    if (n == NULL)
        return;
    n->token++;
    n->running = false;
    uv_timer_stop(&n->timer);
    detach(n, false); /* the command on the node loses its channel */
}

static void ssh_close(fu_transport_t *t, uint32_t idx)
{
    ssh_t *s = (ssh_t *)t;
    sn_t *n = s->nodes[idx];
    if (n == NULL || n->running)
        return;
    uv_timer_stop(&n->timer);
    detach(n, true);
    for (size_t c = 0; n->vers && c < s->base.fleet->baseline.ncomponents; c++)
        set_version(n, (uint32_t)c, NULL);
    free(n->facts);
    free(n->out);
    free(n->err);
    n->facts = n->out = n->err = NULL;
    n->outlen = n->outcap = n->errlen = n->errcap = 0;
}

static void free_node(sn_t *n)
{
    ssh_t *s = n->s;
    agent_forget(n);
    exec_reset(n);
    free(n->out);
    free(n->err);
    free(n->log);
    free(n->facts);
    free(n->run_args);
    free(n->run_in);
    for (size_t c = 0; n->vers && c < s->base.fleet->baseline.ncomponents; c++)
        free(n->vers[c]);
    free(n->vers);
    free(n->versions);
    free(n);
}

static void on_timer_closed(uv_handle_t *h)
{
    sn_t *n = h->data;
    ssh_t *s = n->s;
    free_node(n);
    handle_gone(s);
}

void fu_ssh_shutdown(fu_transport_t *t, void (*done)(void *ud), void *ud)
{
    ssh_t *s = (ssh_t *)t;
    s->shutting_down = true;
    s->shutdown_done = done;
    s->shutdown_ud = ud;
    s->handles++; /* held until every close below has started */
    for (size_t i = 0; i < s->nnodes; i++) {
        sn_t *n = s->nodes[i];
        if (n == NULL)
            continue;
        n->running = false;
        detach(n, true);
        s->nodes[i] = NULL;
        uv_close((uv_handle_t *)&n->timer, on_timer_closed);
    }
    if (--s->handles == 0 && s->shutdown_done) {
        s->shutdown_done = NULL;
        done(ud);
    }
}

static void ssh_destroy(fu_transport_t *t)
{
    ssh_t *s = (ssh_t *)t;
    for (size_t i = 0; i < s->nnodes; i++)
        if (s->nodes[i]) /* never started on a loop that ran: nothing is pending */
            free_node(s->nodes[i]);
    for (unsigned i = 0; i < s->nkh; i++) {
        fu_kh_free(&s->kh[i].kh);
        free(s->kh[i].path);
    }
    fu_creds_free(&s->creds);
    free(s->nodes);
    free(s);
}

static const fu_transport_vtable_t ssh_vtable = {
    .name = "ssh",
    .connect = ssh_connect,
    .inventory = ssh_inventory,
    .stage = ssh_stage,
    .install = ssh_install,
    .activate = ssh_activate,
    .poll = ssh_poll,
    .cancel = ssh_cancel,
    .close = ssh_close,
    .destroy = ssh_destroy,
};

fu_transport_t *fu_ssh_new(const fu_fleet_t *f, const fu_ssh_opts_t *o, const char **err)
{
    static bool inited;
    if (!inited) {
        if (libssh2_init(0) != 0) {
            *err = "libssh2 cannot start";
            return NULL;
        }
        inited = true;
    }
    /* A node that drops its connection must not kill the orchestrator with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    ssh_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->nodes = calloc(f->nnodes + 1, sizeof(*s->nodes))) == NULL) {
        free(s);
        *err = "out of memory";
        return NULL;
    }
    s->base.vt = &ssh_vtable;
    s->base.fleet = f;
    s->o = *o;
    s->nnodes = f->nnodes;
    if (s->o.max_handshakes == 0)
        s->o.max_handshakes = 64;
    if (s->o.connect_timeout_ms == 0)
        s->o.connect_timeout_ms = 30000;
    if (s->o.exec_timeout_ms == 0)
        s->o.exec_timeout_ms = 600000;
    if (s->o.keepalive_ms == 0)
        s->o.keepalive_ms = 30000;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(fu_agent_script, fu_agent_script_len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(s->agent_hash + 2 * i, 3, "%02x", md[i]);
    snprintf(s->agent_path, sizeof(s->agent_path), "agent-%.16s.sh", s->agent_hash);
    return &s->base;
}

static void run_done(sn_t *n, const char *err)
{
    if (err) {
        fail(n, false, "%s", err);
        return;
    }
    phase_end(n, NULL, false, false);
}

static void run_go(sn_t *n)
{
    agent_run(n, n->run_args, n->run_in, n->run_inlen, NULL, 0, run_done);
}

int fu_ssh_agent_run(fu_transport_t *t, uint32_t idx, const char *args, const void *stdin_data,
                     size_t stdin_len, fu_ssh_run_cb cb, void *ud)
{
    ssh_t *s = (ssh_t *)t;
    if (idx >= s->nnodes || (s->nodes[idx] && s->nodes[idx]->running))
        return -1;
    sn_t *n = begin(s, idx, FU_PHASE_INVENTORY);
    if (n == NULL)
        return -1;
    free(n->run_args);
    free(n->run_in);
    n->run_args = strdup(args);
    n->run_in = stdin_len ? malloc(stdin_len) : NULL;
    if (n->run_in)
        memcpy(n->run_in, stdin_data, stdin_len);
    n->run_inlen = n->run_in ? stdin_len : 0;
    n->run_cb = cb;
    n->run_ud = ud;
    n->after_connect = run_go;
    uv_timer_start(&n->timer, on_start, 0, 0);
    return 0;
}

const char *fu_ssh_local_address(fu_transport_t *t, uint32_t idx)
{
    ssh_t *s = (ssh_t *)t;
    return idx < s->nnodes && s->nodes[idx] ? s->nodes[idx]->local : "";
}
