/* Firewall emitters for a ports plan: an nftables table and iptables-restore input for
 * the host running fleetup, and the ESXi firewall service XML that lets ESXi nodes
 * call back. Addresses that are not IP literals are listed for the operator, never guessed. */
#include "core/ports.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* One (direction, address, port) the host's firewall must let through. */
typedef struct {
    bool in; /* from the node to fleetup's server; else from fleetup to the node */
    int family;
    unsigned char addr[16];
    uint16_t port;
} fw_entry_t;

typedef struct {
    fw_entry_t *v;
    size_t n, cap;
    const fu_node_t **hosts; /* nodes needing ports whose address is a hostname */
    size_t nhosts, hcap;
    size_t nv4, nv6; /* entries per family, after deduplication */
} fw_list_t;

static void *grow(void *v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return v;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *nv = realloc(v, ncap * elem);
    if (nv == NULL)
        abort(); /* a firewall half-written is worse than none */
    *cap = ncap;
    return nv;
}

static void add_entries(fw_list_t *l, bool in, int family, const unsigned char *addr,
                        const fu_portset_t *ports)
{
    for (uint8_t i = 0; i < ports->n; i++) {
        l->v = grow(l->v, &l->cap, l->n + 1, sizeof(*l->v));
        fw_entry_t *e = &l->v[l->n++];
        memset(e, 0, sizeof(*e));
        e->in = in;
        e->family = family;
        memcpy(e->addr, addr, family == AF_INET ? 4 : 16);
        e->port = ports->v[i];
    }
}

/* Parses an IP literal; false for hostnames (and scoped fe80::1%eth0, which nft refuses). */
static bool parse_ip(const char *s, int *family, unsigned char *addr)
{
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

static int entry_cmp_fields(const fw_entry_t *a, const fw_entry_t *b, bool port_first)
{
    if (a->in != b->in)
        return a->in ? -1 : 1;
    if (a->family != b->family)
        return a->family == AF_INET ? -1 : 1;
    int c = memcmp(a->addr, b->addr, sizeof(a->addr));
    int pc = a->port < b->port ? -1 : a->port > b->port;
    if (port_first)
        return pc ? pc : c;
    return c ? c : pc;
}

static int cmp_by_port(const void *a, const void *b)
{
    return entry_cmp_fields(a, b, true);
}

static int cmp_by_addr(const void *a, const void *b)
{
    return entry_cmp_fields(a, b, false);
}

/* Collects what every selected node needs in deployment (a superset of inventory),
 * sorted with cmp and without duplicates (nodes may share an address). */
static void fw_collect(const fu_ports_plan_t *p, fw_list_t *l, int (*cmp)(const void *, const void *))
{
    memset(l, 0, sizeof(*l));
    size_t nn = p->fleet ? p->fleet->nnodes : 0;
    for (size_t i = 0; i < nn; i++) {
        const fu_node_t *n = &p->fleet->nodes[i];
        fu_node_ports_t np;
        if (!fu_ports_selected(p, i))
            continue;
        fu_ports_node(n, &p->server, &np);
        if (np.deployment.to_node.n == 0 && np.deployment.from_node.n == 0)
            continue;
        unsigned char addr[16] = {0};
        int family;
        const char *a = fu_node_transport_address(n);
        if (a == NULL || !parse_ip(a, &family, addr)) {
            l->hosts = grow(l->hosts, &l->hcap, l->nhosts + 1, sizeof(*l->hosts));
            l->hosts[l->nhosts++] = n;
            continue;
        }
        add_entries(l, false, family, addr, &np.deployment.to_node);
        add_entries(l, true, family, addr, &np.deployment.from_node);
    }
    if (l->n > 1) /* l->v is NULL when no node has an IP address */
        qsort(l->v, l->n, sizeof(*l->v), cmp);
    size_t w = 0;
    for (size_t r = 0; r < l->n; r++) {
        if (w > 0 && cmp(&l->v[w - 1], &l->v[r]) == 0)
            continue;
        l->v[w++] = l->v[r];
        if (l->v[r].family == AF_INET)
            l->nv4++;
        else
            l->nv6++;
    }
    l->n = w;
}

static void fw_free(fw_list_t *l)
{
    free(l->v);
    free(l->hosts);
    memset(l, 0, sizeof(*l));
}

static const char *fmt_addr(const fw_entry_t *e, char *buf, size_t len)
{
    return inet_ntop(e->family, e->addr, buf, (socklen_t)len);
}

static void print_server_line(const fu_ports_plan_t *p, FILE *out)
{
    const fu_server_ports_t *s = &p->server;
    fprintf(out, "# fleetup server: port %u (%s), ssl_port %u (%s); fleet %s, %zu node%s\n",
            s->port, fu_port_source_name(s->port_source, false), s->ssl_port,
            fu_port_source_name(s->ssl_port_source, true),
            p->fleet && p->fleet->file ? p->fleet->file : "-", p->nselected,
            p->nselected == 1 ? "" : "s");
}

/* Hostnames cannot go in a rule: tell the operator which ones to resolve. */
static void print_hosts(const fw_list_t *l, const fu_ports_plan_t *p, FILE *out)
{
    if (l->nhosts == 0)
        return;
    fprintf(out, "# %zu node%s a hostname, not an IP address, and %s NOT in the rules below:\n"
                 "# resolve each and add its addresses (the ports are TCP).\n",
            l->nhosts, l->nhosts == 1 ? " has" : "s have", l->nhosts == 1 ? "is" : "are");
    for (size_t i = 0; i < l->nhosts; i++) {
        fu_node_ports_t np;
        char to[32], from[32];
        fu_ports_node(l->hosts[i], &p->server, &np);
        fu_portset_format(&np.deployment.to_node, to, sizeof(to));
        fu_portset_format(&np.deployment.from_node, from, sizeof(from));
        fprintf(out, "#   %s  %s  to node: %s  from node: %s\n", l->hosts[i]->name,
                fu_node_transport_address(l->hosts[i]), to, from);
    }
}

/* ---- nftables ---- */

/* One rule per (family, port) run of the sorted list; nft needs at least one element per
 * anonymous set, and a run always has one, so an empty set is never written. */
static size_t nft_rule(const fw_list_t *l, size_t i, FILE *out)
{
    const fw_entry_t *first = &l->v[i];
    const char *fam = first->family == AF_INET ? "ip" : "ip6";
    const char *dir = first->in ? "saddr" : "daddr";
    char buf[INET6_ADDRSTRLEN];
    fprintf(out, "        %s %s {", fam, dir);
    size_t j = i, k = 0;
    for (; j < l->n && l->v[j].in == first->in && l->v[j].family == first->family &&
           l->v[j].port == first->port;
         j++, k++)
        fprintf(out, "%s%s%s", k ? "," : "", k && k % 4 == 0 ? "\n            " : " ",
                fmt_addr(&l->v[j], buf, sizeof(buf)));
    fprintf(out, " } tcp dport %u counter accept\n", first->port);
    return j;
}

static void nft_chain(const fw_list_t *l, bool in, FILE *out)
{
    fprintf(out, "    chain %s {\n", in ? "input" : "output");
    fprintf(out, "        type filter hook %s priority filter - 10; policy accept;\n",
            in ? "input" : "output");
    fprintf(out, in ? "        # pull-mode nodes fetch packages and post status to fleetup\n"
                    : "        # fleetup reaches nodes over their transport (SSH, Redfish)\n");
    size_t i = 0;
    while (i < l->n && l->v[i].in != in)
        i++;
    if (i == l->n || l->v[i].in != in)
        fprintf(out, "        # nothing needed in this direction\n");
    while (i < l->n && l->v[i].in == in)
        i = nft_rule(l, i, out);
    fprintf(out, "    }\n");
}

int fu_firewall_nft(const fu_ports_plan_t *p, FILE *out)
{
    fw_list_t l;
    fw_collect(p, &l, cmp_by_port);
    fprintf(out, "#!/usr/sbin/nft -f\n# fleetup ports --firewall nft: for the host running "
                 "fleetup.\n");
    print_server_line(p, out);
    fprintf(out,
            "# Load with 'nft -f FILE'; loading again replaces the table (declare, flush, "
            "refill).\n"
            "# An accept ends only this table's chains: if the host's own ruleset drops "
            "(policy drop\n# in another table, firewalld), add the same rules there too. "
            "Counters show hits:\n# 'nft list table inet fleetup'.\n");
    print_hosts(&l, p, out);
    fprintf(out, "table inet fleetup {}\nflush table inet fleetup\ntable inet fleetup {\n");
    nft_chain(&l, true, out);
    nft_chain(&l, false, out);
    fprintf(out, "}\n");
    fw_free(&l);
    return 0;
}

/* ---- iptables ---- */

#define MULTIPORT_MAX 15 /* the multiport match takes at most 15 ports */

/* One address's run of ports in one direction: one rule, multiport when several. */
static size_t ipt_rules(const fw_list_t *l, size_t i, FILE *out)
{
    const fw_entry_t *first = &l->v[i];
    char buf[INET6_ADDRSTRLEN];
    size_t j = i;
    while (j < l->n && l->v[j].in == first->in && l->v[j].family == first->family &&
           memcmp(l->v[j].addr, first->addr, sizeof(first->addr)) == 0)
        j++;
    for (size_t s = i; s < j; s += MULTIPORT_MAX) {
        size_t e = s + MULTIPORT_MAX < j ? s + MULTIPORT_MAX : j;
        fprintf(out, "-A %s -%c %s/%d -p tcp", first->in ? "FLEETUP-IN" : "FLEETUP-OUT",
                first->in ? 's' : 'd', fmt_addr(first, buf, sizeof(buf)),
                first->family == AF_INET ? 32 : 128);
        if (e - s == 1)
            fprintf(out, " -m tcp --dport %u", l->v[s].port);
        else
            for (size_t k = s; k < e; k++)
                fprintf(out, "%s%u", k == s ? " -m multiport --dports " : ",", l->v[k].port);
        fprintf(out, " -j ACCEPT\n");
    }
    return j;
}

static void ipt_header(const fu_ports_plan_t *p, const fw_list_t *l, bool ipv6, FILE *out)
{
    const char *cmd = ipv6 ? "ip6tables" : "iptables";
    fprintf(out, "# fleetup ports --firewall %s: for the host running fleetup.\n", cmd);
    print_server_line(p, out);
    fprintf(out,
            "# Apply with '%s-restore --noflush < FILE': only the FLEETUP-IN and "
            "FLEETUP-OUT\n# chains are flushed and refilled, so applying again is safe. "
            "Hook them in once:\n"
            "#   %s -C INPUT -j FLEETUP-IN 2>/dev/null || %s -I INPUT -j FLEETUP-IN\n"
            "#   %s -C OUTPUT -j FLEETUP-OUT 2>/dev/null || %s -I OUTPUT -j FLEETUP-OUT\n"
            "# Replies need an ESTABLISHED,RELATED accept in INPUT and OUTPUT (most "
            "rulesets have one).\n",
            cmd, cmd, cmd, cmd, cmd);
    size_t other = ipv6 ? l->nv4 : l->nv6;
    if (other)
        fprintf(out, "# %zu %s rule%s not here: %s addresses need --firewall %s.\n", other,
                ipv6 ? "IPv4" : "IPv6", other == 1 ? " is" : "s are", ipv6 ? "IPv4" : "IPv6",
                ipv6 ? "iptables" : "ip6tables");
}

int fu_firewall_iptables(const fu_ports_plan_t *p, bool ipv6, FILE *out)
{
    fw_list_t l;
    int family = ipv6 ? AF_INET6 : AF_INET;
    fw_collect(p, &l, cmp_by_addr);
    ipt_header(p, &l, ipv6, out);
    print_hosts(&l, p, out);
    fprintf(out, "*filter\n:FLEETUP-IN - [0:0]\n:FLEETUP-OUT - [0:0]\n");
    size_t i = 0;
    while (i < l.n) {
        if (l.v[i].family != family)
            i++;
        else
            i = ipt_rules(&l, i, out);
    }
    fprintf(out, "COMMIT\n");
    fw_free(&l);
    return 0;
}

/* ---- ESXi ---- */

/* The server ports vmware pull-mode nodes call back on; both when there are none. */
static fu_portset_t esxi_ports(const fu_ports_plan_t *p, size_t *npull)
{
    bool http = false, https = false;
    *npull = 0;
    for (size_t r = 0; r < p->nrows; r++) {
        const fu_ports_row_t *row = &p->rows[r];
        if (row->type != FU_TYPE_VMWARE || row->ports.deployment.from_node.n == 0)
            continue;
        *npull += row->nodes;
        if (row->scheme == FU_SCHEME_HTTPS)
            https = true;
        else
            http = true;
    }
    if (*npull == 0)
        http = https = true;
    fu_portset_t ports = {.n = 0};
    uint16_t lo = p->server.port < p->server.ssl_port ? p->server.port : p->server.ssl_port;
    uint16_t hi = p->server.port ^ p->server.ssl_port ^ lo;
    if ((lo == p->server.port && http) || (lo == p->server.ssl_port && https))
        ports.v[ports.n++] = lo;
    if ((hi == p->server.port && http) || (hi == p->server.ssl_port && https))
        ports.v[ports.n++] = hi;
    return ports;
}

static void esxi_info(const fu_ports_plan_t *p, size_t npull, FILE *info)
{
    const char *file = p->fleet && p->fleet->file ? p->fleet->file : "FLEET";
    if (npull == 0)
        fprintf(info, "fleetup: no vmware pull-mode node in this fleet: the XML opens both "
                      "server ports\n");
    fprintf(info,
            "fleetup: to let ESXi hosts call back to fleetup (outgoing TCP is blocked by "
            "default):\n"
            "  1. enable SSH on the host, fleetup's transport: vim-cmd hostsvc/enable_ssh; "
            "vim-cmd hostsvc/start_ssh\n"
            "  2. save the XML (stdout) as /etc/vmware/firewall/fleetup.xml, e.g.\n"
            "       fleetup ports %s --firewall esxi 2>/dev/null | ssh root@HOST 'cat > "
            "/etc/vmware/firewall/fleetup.xml'\n"
            "  3. esxcli network firewall refresh\n"
            "  4. check: esxcli network firewall ruleset rule list -r fleetup\n"
            "  /etc/vmware/firewall is on a RAM disk: the file is gone after a reboot; "
            "re-create it from\n  /etc/rc.local.d/local.sh or ship it in a VIB.\n",
            file);
}

int fu_firewall_esxi(const fu_ports_plan_t *p, FILE *out, FILE *info)
{
    size_t npull;
    fu_portset_t ports = esxi_ports(p, &npull);
    fprintf(out, "<!-- fleetup: outgoing TCP from ESXi to fleetup's server (pull-mode "
                 "callbacks) -->\n");
    if (npull == 0)
        fprintf(out, "<!-- no vmware pull-mode node in this fleet: both server ports -->\n");
    fprintf(out, "<ConfigRoot>\n  <service id='0100'>\n    <id>fleetup</id>\n");
    for (uint8_t i = 0; i < ports.n; i++)
        fprintf(out,
                "    <rule id='%04u'>\n      <direction>outbound</direction>\n"
                "      <protocol>tcp</protocol>\n      <porttype>dst</porttype>\n"
                "      <port>%u</port>\n    </rule>\n",
                (unsigned)i, ports.v[i]);
    fprintf(out, "    <enabled>true</enabled>\n    <required>false</required>\n"
                 "  </service>\n</ConfigRoot>\n");
    if (info)
        esxi_info(p, npull, info);
    return 0;
}
