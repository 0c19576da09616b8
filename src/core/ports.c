/* The ports model: the seed's network-port table as data, the precedence of fleetup's
 * server ports, the ports each node needs and their aggregation into rows with notes
 * on where fleetup differs from the seed. No I/O here: cmd_ports.c prints. */
#include "core/ports.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- The seed table ---- */

#define P(x) {(x), false}
#define OPT(x) {(x), true}
#define SET(...)                                                                               \
    {                                                                                          \
        .v = {__VA_ARGS__},                                                                    \
        .n = (uint8_t)(sizeof((fu_seed_port_t[]){__VA_ARGS__}) / sizeof(fu_seed_port_t))       \
    }
#define NONE {.n = 0}

#define WINDOWS_TO SET(P(445), P(135), P(137), P(138), P(139))
#define CALLBACKS SET(P(63001), P(63002))
#define WEB_TO SET(P(22), OPT(80), P(443))
#define DEVICE_ROW "iLO, VC, FC switch, SAS switch, Moonshot, Superdome 2/X"
/* The seed's last row: inventory needs nothing back, deployment needs 63001 back. */
#define DEVICE(t, row)                                                                         \
    [t] = {t, row, {WEB_TO, NONE, NONE}, {WEB_TO, SET(P(63001)), SET(P(63001))}}

static const fu_ports_seed_t seed_table[FU_TYPE__COUNT] = {
    [FU_TYPE_WINDOWS] = {FU_TYPE_WINDOWS, "Windows", {WINDOWS_TO, CALLBACKS, NONE},
                         {WINDOWS_TO, CALLBACKS, NONE}},
    [FU_TYPE_LINUX] = {FU_TYPE_LINUX, "Linux", {SET(P(22)), CALLBACKS, NONE},
                       {SET(P(22)), CALLBACKS, NONE}},
    [FU_TYPE_HPUX] = {FU_TYPE_HPUX, "HP-UX", {SET(P(22)), CALLBACKS, CALLBACKS},
                      {SET(P(22)), CALLBACKS, CALLBACKS}},
    [FU_TYPE_VMWARE] = {FU_TYPE_VMWARE, "VMware", {SET(P(443), P(5989)), SET(P(63001)),
                                                   SET(P(63001))},
                        {SET(P(443), P(5989)), SET(P(63001)), SET(P(63001))}},
    [FU_TYPE_OA] = {FU_TYPE_OA, "OA", {WEB_TO, NONE, NONE}, {WEB_TO, NONE, NONE}},
    DEVICE(FU_TYPE_ILO, DEVICE_ROW),
    DEVICE(FU_TYPE_VC, DEVICE_ROW),
    DEVICE(FU_TYPE_FC_SWITCH, DEVICE_ROW),
    DEVICE(FU_TYPE_SAS_SWITCH, DEVICE_ROW),
    DEVICE(FU_TYPE_MOONSHOT, DEVICE_ROW),
    DEVICE(FU_TYPE_SUPERDOME, DEVICE_ROW),
    /* Not in the seed: any other Redfish BMC is an iLO as far as ports go. */
    DEVICE(FU_TYPE_BMC, "iLO (any other Redfish BMC is treated like it)"),
};

const fu_ports_seed_t *fu_ports_seed(fu_node_type_t t)
{
    if ((unsigned)t >= FU_TYPE__COUNT)
        return NULL;
    return &seed_table[t];
}

/* ---- Server ports ---- */

/* Our own strict parser rather than fu_cli_parse_port: the model must not depend on the
 * CLI layer, and tests of it link without cli.c. Digits only, 1..65535. */
static bool parse_port(const char *s, uint16_t *out)
{
    unsigned long v = 0;
    if (*s == '\0')
        return false;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9' || c - s >= 5)
            return false;
        v = v * 10 + (unsigned long)(*c - '0');
    }
    if (v < 1 || v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* One port's precedence. Returns false with err filled when the winning value is bad. */
static bool resolve_one(bool fleet_set, uint16_t fleet_port, uint16_t dflt, const char *flag,
                        const char *flag_name, const char *env, const char *env_name,
                        uint16_t *port, fu_port_source_t *src, char *err, size_t errlen)
{
    if (flag) {
        *src = FU_PORT_SRC_FLAG;
        if (parse_port(flag, port))
            return true;
        snprintf(err, errlen, "%s '%.40s' is not a TCP port (1..65535)", flag_name, flag);
        return false;
    }
    if (env && *env) {
        *src = FU_PORT_SRC_ENV;
        if (parse_port(env, port))
            return true;
        snprintf(err, errlen,
                 "environment variable %s='%.40s' is not a TCP port (1..65535): fix it or "
                 "unset it",
                 env_name, env);
        return false;
    }
    if (fleet_set && fleet_port) {
        *src = FU_PORT_SRC_FLEET;
        *port = fleet_port;
        return true;
    }
    *src = FU_PORT_SRC_DEFAULT;
    *port = dflt;
    return true;
}

int fu_ports_resolve(const fu_fleet_t *f, const char *flag_port, const char *flag_ssl,
                     const char *env_port, const char *env_ssl, fu_server_ports_t *out,
                     char *err, size_t errlen)
{
    const fu_server_t *s = f ? &f->server : NULL;
    memset(out, 0, sizeof(*out));
    if (!resolve_one(s && s->port_set, s ? s->port : 0, FU_DEFAULT_PORT, flag_port, "--port",
                     env_port, FU_ENV_PORT, &out->port, &out->port_source, err, errlen))
        return -1;
    if (!resolve_one(s && s->ssl_port_set, s ? s->ssl_port : 0, FU_DEFAULT_SSL_PORT, flag_ssl,
                     "--ssl-port", env_ssl, FU_ENV_SSL_PORT, &out->ssl_port,
                     &out->ssl_port_source, err, errlen))
        return -1;
    if (out->port == out->ssl_port) {
        snprintf(err, errlen,
                 "port and ssl_port are both %u (port from %s, ssl_port from %s): the HTTP "
                 "and HTTPS listeners need different ports",
                 out->port, fu_port_source_name(out->port_source, false),
                 fu_port_source_name(out->ssl_port_source, true));
        return -1;
    }
    return 0;
}

const char *fu_port_source_name(fu_port_source_t s, bool ssl)
{
    switch (s) {
    case FU_PORT_SRC_FLAG:
        return "flag";
    case FU_PORT_SRC_ENV:
        return ssl ? "env " FU_ENV_SSL_PORT : "env " FU_ENV_PORT;
    case FU_PORT_SRC_FLEET:
        return "fleet file";
    case FU_PORT_SRC_DEFAULT:
        break;
    }
    return "default";
}

/* ---- Per-node needs ---- */

static void portset_add(fu_portset_t *s, uint16_t port)
{
    uint8_t i = 0;
    while (i < s->n && s->v[i] < port)
        i++;
    if ((i < s->n && s->v[i] == port) || s->n == FU_PORTS_MAX)
        return;
    memmove(&s->v[i + 1], &s->v[i], (size_t)(s->n - i) * sizeof(s->v[0]));
    s->v[i] = port;
    s->n++;
}

/* The node's transport port; 0 when the transport crosses no network (local, sim). */
static uint16_t transport_port(const fu_node_t *n)
{
    if (n->transport != FU_TRANSPORT_SSH && n->transport != FU_TRANSPORT_REDFISH)
        return 0;
    return n->port ? n->port : fu_transport_default_port(n->transport);
}

void fu_ports_node(const fu_node_t *n, const fu_server_ports_t *sp, fu_node_ports_t *out)
{
    memset(out, 0, sizeof(*out));
    uint16_t to = transport_port(n);
    if (to == 0)
        return; /* local runs on this host and sim is in-process: no firewall involved */
    /* Inventory goes over the transport only: nothing from the node in either mode. */
    portset_add(&out->inventory.to_node, to);
    portset_add(&out->deployment.to_node, to);
    if (n->callback == FU_CALLBACK_PULL)
        portset_add(&out->deployment.from_node,
                    n->callback_scheme == FU_SCHEME_HTTPS ? sp->ssl_port : sp->port);
}

/* ---- Aggregation ---- */

typedef struct {
    uint32_t type, transport, to_port, callback, scheme;
    size_t idx;
} row_key_t;

static int cmp_u32(uint32_t a, uint32_t b)
{
    return a < b ? -1 : a > b;
}

static int key_cmp_fields(const row_key_t *a, const row_key_t *b)
{
    int c;
    if ((c = cmp_u32(a->type, b->type)) || (c = cmp_u32(a->transport, b->transport)) ||
        (c = cmp_u32(a->to_port, b->to_port)) || (c = cmp_u32(a->callback, b->callback)))
        return c;
    return cmp_u32(a->scheme, b->scheme);
}

static int key_cmp(const void *pa, const void *pb)
{
    const row_key_t *a = pa, *b = pb;
    int c = key_cmp_fields(a, b);
    return c ? c : (a->idx < b->idx ? -1 : a->idx > b->idx);
}

bool fu_ports_selected(const fu_ports_plan_t *p, size_t i)
{
    return p->sel == NULL || p->sel[i];
}

static row_key_t node_key(const fu_node_t *n, size_t idx)
{
    row_key_t k = {(uint32_t)n->type, (uint32_t)n->transport, transport_port(n),
                   (uint32_t)n->callback, 0, idx};
    /* In push mode the scheme opens nothing: keep such nodes in one row. */
    if (n->callback == FU_CALLBACK_PULL)
        k.scheme = (uint32_t)n->callback_scheme;
    return k;
}

int fu_ports_plan_build(const fu_fleet_t *f, const bool *sel, const fu_server_ports_t *sp,
                        fu_ports_plan_t *out)
{
    memset(out, 0, sizeof(*out));
    out->fleet = f;
    out->sel = sel;
    out->server = *sp;
    size_t nn = f ? f->nnodes : 0;
    row_key_t *keys = malloc((nn ? nn : 1) * sizeof(*keys));
    if (keys == NULL)
        return -ENOMEM;
    size_t nk = 0;
    for (size_t i = 0; i < nn; i++)
        if (fu_ports_selected(out, i))
            keys[nk++] = node_key(&f->nodes[i], i);
    out->nselected = nk;
    qsort(keys, nk, sizeof(*keys), key_cmp);
    out->rows = calloc(nk ? nk : 1, sizeof(*out->rows));
    if (out->rows == NULL) {
        free(keys);
        return -ENOMEM;
    }
    fu_ports_row_t *r = NULL;
    for (size_t i = 0; i < nk; i++) {
        const fu_node_t *n = &f->nodes[keys[i].idx];
        if (r == NULL || key_cmp_fields(&keys[i - 1], &keys[i]) != 0) {
            r = &out->rows[out->nrows++];
            r->type = n->type;
            r->transport = n->transport;
            r->to_port = (uint16_t)keys[i].to_port;
            r->callback = n->callback;
            r->scheme = (fu_scheme_t)keys[i].scheme;
            fu_ports_node(n, sp, &r->ports);
        }
        r->nodes++;
        if (n->mgmt_address && *n->mgmt_address)
            r->nmgmt++;
    }
    free(keys);
    return 0;
}

void fu_ports_plan_free(fu_ports_plan_t *p)
{
    free(p->rows);
    memset(p, 0, sizeof(*p));
}

/* ---- Notes ---- */

/* A bounded string builder: output is cut at the buffer's end, never overflows. */
typedef struct {
    char *buf;
    size_t len, used;
} strbuf_t;

static void sb_vprintf(strbuf_t *sb, const char *fmt, va_list ap)
{
    if (sb->used + 1 >= sb->len)
        return;
    int k = vsnprintf(sb->buf + sb->used, sb->len - sb->used, fmt, ap);
    if (k > 0)
        sb->used += (size_t)k < sb->len - sb->used ? (size_t)k : sb->len - sb->used - 1;
}

static void sb_printf(strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(strbuf_t *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

/* Appends one clause of a note, "; "-separated. */
static void note_add(strbuf_t *nb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note_add(strbuf_t *nb, const char *fmt, ...)
{
    if (nb->used)
        sb_printf(nb, "; ");
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(nb, fmt, ap);
    va_end(ap);
}

/* Seed devices (iLO family, VC, switches): which console fleetup uses instead. */
static void device_note(const fu_ports_row_t *r, strbuf_t *nb)
{
    if (r->transport == FU_TRANSPORT_REDFISH)
        note_add(nb, "seed lists 22, (80), 443; fleetup uses Redfish on %u only", r->to_port);
    else
        note_add(nb, "seed lists 22, (80), 443; fleetup uses the SSH console on %u only",
                 r->to_port);
}

static void type_note(const fu_ports_row_t *r, strbuf_t *nb)
{
    bool pull = r->callback == FU_CALLBACK_PULL;
    switch (r->type) {
    case FU_TYPE_WINDOWS:
        note_add(nb, "seed uses WMI/SMB (135-139, 445); fleetup reaches Windows over %s on %u",
                 r->transport == FU_TRANSPORT_SSH ? "OpenSSH" : fu_transport_name(r->transport),
                 r->to_port);
        break;
    case FU_TYPE_LINUX:
        note_add(nb, "seed (HP SUM 7.2.1 and earlier) also needed 63001, 63002 from the node");
        break;
    case FU_TYPE_HPUX:
        note_add(nb, "the seed always needs 63001, 63002 from the node; %s",
                 pull ? "fleetup pull needs only its callback port"
                      : "push mode needs nothing from it");
        break;
    case FU_TYPE_VMWARE:
        note_add(nb, "seed uses 443/5989 (CIM); fleetup uses SSH (enable it on ESXi)");
        if (pull)
            note_add(nb, "pull mode needs outgoing TCP to fleetup opened on the ESXi "
                         "firewall: see --firewall esxi");
        break;
    case FU_TYPE_OA:
        note_add(nb, "seed lists 22, (80), 443; fleetup uses the OA's SSH console on %u only",
                 r->to_port);
        break;
    default:
        device_note(r, nb);
        break;
    }
}

void fu_ports_row_note(const fu_ports_row_t *r, char *buf, size_t len)
{
    strbuf_t nb = {buf, len, 0};
    if (len == 0)
        return;
    buf[0] = '\0';
    if (r->transport == FU_TRANSPORT_LOCAL) {
        note_add(&nb, "local: runs on the fleetup host, no network port");
        return;
    }
    if (r->transport == FU_TRANSPORT_SIM) {
        note_add(&nb, "sim: simulated in-process, no network port");
        return;
    }
    type_note(r, &nb);
    if (r->callback == FU_CALLBACK_PUSH)
        note_add(&nb, "push: nothing from the node");
    else
        note_add(&nb, "pull: the node fetches packages and posts status (%s)",
                 fu_scheme_name(r->scheme));
    if (r->nmgmt)
        note_add(&nb, "mgmt_address on %zu of %zu: %s", r->nmgmt, r->nodes,
                 r->transport == FU_TRANSPORT_REDFISH
                     ? "Redfish goes to the management network address"
                     : "SSH and callbacks use the production address");
}

/* ---- Formatting ---- */

void fu_portset_format(const fu_portset_t *s, char *buf, size_t len)
{
    strbuf_t sb = {buf, len, 0};
    if (len == 0)
        return;
    buf[0] = '\0';
    if (s->n == 0)
        sb_printf(&sb, "none");
    for (uint8_t i = 0; i < s->n; i++)
        sb_printf(&sb, "%s%u", i ? ", " : "", s->v[i]);
}

void fu_seed_ports_format(const fu_seed_ports_t *s, char *buf, size_t len)
{
    strbuf_t sb = {buf, len, 0};
    if (len == 0)
        return;
    buf[0] = '\0';
    if (s->n == 0)
        sb_printf(&sb, "none");
    for (uint8_t i = 0; i < s->n; i++)
        sb_printf(&sb, s->v[i].optional ? "%s(%u)" : "%s%u", i ? ", " : "", s->v[i].port);
}
