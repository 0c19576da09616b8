/* Unit tests for the ports model (ports.c) and the firewall emitters (firewall.c).
 * Fleets are built by hand here, so these tests do not depend on the loader. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ports.h"

/* ---- Helpers ---- */

static fu_node_t mknode(const char *name, fu_node_type_t type, fu_transport_kind_t tr,
                        const char *addr, uint16_t port, fu_callback_t cb, fu_scheme_t scheme)
{
    fu_node_t n;
    memset(&n, 0, sizeof(n));
    n.name = name;
    n.type = type;
    n.transport = tr;
    n.address = addr;
    n.port = port;
    n.callback = cb;
    n.callback_scheme = scheme;
    return n;
}

static fu_fleet_t mkfleet(fu_node_t *nodes, size_t n)
{
    fu_fleet_t f;
    memset(&f, 0, sizeof(f));
    f.file = "test.yml";
    f.nodes = nodes;
    f.nnodes = n;
    return f;
}

static fu_server_ports_t default_ports(void)
{
    fu_server_ports_t sp = {FU_DEFAULT_PORT, FU_DEFAULT_SSL_PORT, FU_PORT_SRC_DEFAULT,
                            FU_PORT_SRC_DEFAULT};
    return sp;
}

/* Runs an emitter into a string the caller frees. */
typedef enum { EMIT_NFT, EMIT_IPT4, EMIT_IPT6, EMIT_ESXI } emit_t;

static char *emit_str(const fu_fleet_t *f, emit_t what, char **info_out)
{
    fu_server_ports_t sp = default_ports();
    fu_ports_plan_t plan;
    char *buf = NULL, *info = NULL;
    size_t len = 0, ilen = 0;
    FILE *out = open_memstream(&buf, &len);
    FILE *inf = open_memstream(&info, &ilen);
    assert_non_null(out);
    assert_non_null(inf);
    assert_int_equal(fu_ports_plan_build(f, NULL, &sp, &plan), 0);
    if (what == EMIT_NFT)
        assert_int_equal(fu_firewall_nft(&plan, out), 0);
    else if (what == EMIT_ESXI)
        assert_int_equal(fu_firewall_esxi(&plan, out, inf), 0);
    else
        assert_int_equal(fu_firewall_iptables(&plan, what == EMIT_IPT6, out), 0);
    fu_ports_plan_free(&plan);
    fclose(out);
    fclose(inf);
    if (info_out)
        *info_out = info;
    else
        free(info);
    return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void assert_seed_ports(const fu_seed_ports_t *s, const char *want)
{
    char buf[128];
    fu_seed_ports_format(s, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

/* ---- The seed table ---- */

static void test_seed_os_rows(void **state)
{
    (void)state;
    const fu_ports_seed_t *w = fu_ports_seed(FU_TYPE_WINDOWS);
    assert_seed_ports(&w->inventory.to_target, "445, 135, 137, 138, 139");
    assert_seed_ports(&w->inventory.from_target_7_2_1, "63001, 63002");
    assert_seed_ports(&w->inventory.from_target_7_3_0, "none");
    assert_seed_ports(&w->deployment.to_target, "445, 135, 137, 138, 139");
    assert_seed_ports(&w->deployment.from_target_7_3_0, "none");

    const fu_ports_seed_t *l = fu_ports_seed(FU_TYPE_LINUX);
    assert_seed_ports(&l->deployment.to_target, "22");
    assert_seed_ports(&l->deployment.from_target_7_2_1, "63001, 63002");
    assert_seed_ports(&l->deployment.from_target_7_3_0, "none");

    const fu_ports_seed_t *h = fu_ports_seed(FU_TYPE_HPUX);
    assert_seed_ports(&h->inventory.from_target_7_3_0, "63001, 63002");
    assert_seed_ports(&h->deployment.from_target_7_3_0, "63001, 63002");

    const fu_ports_seed_t *v = fu_ports_seed(FU_TYPE_VMWARE);
    assert_seed_ports(&v->inventory.to_target, "443, 5989");
    assert_seed_ports(&v->inventory.from_target_7_2_1, "63001");
    assert_seed_ports(&v->deployment.from_target_7_3_0, "63001");
}

static void test_seed_device_rows(void **state)
{
    (void)state;
    const fu_ports_seed_t *oa = fu_ports_seed(FU_TYPE_OA);
    assert_seed_ports(&oa->inventory.to_target, "22, (80), 443");
    assert_seed_ports(&oa->deployment.from_target_7_2_1, "none");
    assert_seed_ports(&oa->deployment.from_target_7_3_0, "none");
    assert_true(oa->inventory.to_target.v[1].optional);
    assert_false(oa->inventory.to_target.v[0].optional);

    static const fu_node_type_t family[] = {FU_TYPE_ILO,        FU_TYPE_VC,
                                            FU_TYPE_FC_SWITCH,  FU_TYPE_SAS_SWITCH,
                                            FU_TYPE_MOONSHOT,   FU_TYPE_SUPERDOME,
                                            FU_TYPE_BMC};
    for (size_t i = 0; i < sizeof(family) / sizeof(family[0]); i++) {
        const fu_ports_seed_t *s = fu_ports_seed(family[i]);
        assert_non_null(s);
        assert_int_equal(s->type, family[i]);
        assert_seed_ports(&s->inventory.to_target, "22, (80), 443");
        assert_seed_ports(&s->inventory.from_target_7_2_1, "none");
        assert_seed_ports(&s->inventory.from_target_7_3_0, "none");
        assert_seed_ports(&s->deployment.to_target, "22, (80), 443");
        assert_seed_ports(&s->deployment.from_target_7_2_1, "63001");
        assert_seed_ports(&s->deployment.from_target_7_3_0, "63001");
    }
    assert_null(fu_ports_seed(FU_TYPE__COUNT));
}

/* ---- Per-node needs ---- */

static fu_transport_kind_t type_transport(fu_node_type_t t)
{
    switch (t) {
    case FU_TYPE_ILO:
    case FU_TYPE_BMC:
    case FU_TYPE_MOONSHOT:
    case FU_TYPE_SUPERDOME:
        return FU_TRANSPORT_REDFISH;
    default:
        return FU_TRANSPORT_SSH;
    }
}

static void test_node_every_type_mode_scheme(void **state)
{
    (void)state;
    fu_server_ports_t sp = {8080, 8443, FU_PORT_SRC_FLAG, FU_PORT_SRC_FLAG};
    for (int t = 0; t < FU_TYPE__COUNT; t++)
        for (int cb = 0; cb < 2; cb++)
            for (int sc = 0; sc < 2; sc++) {
                fu_transport_kind_t tr = type_transport((fu_node_type_t)t);
                uint16_t port = tr == FU_TRANSPORT_SSH ? 2200 : 8444;
                fu_node_t n = mknode("n", (fu_node_type_t)t, tr, "10.0.0.1", port,
                                     (fu_callback_t)cb, (fu_scheme_t)sc);
                fu_node_ports_t np;
                fu_ports_node(&n, &sp, &np);
                assert_int_equal(np.inventory.to_node.n, 1);
                assert_int_equal(np.inventory.to_node.v[0], port);
                assert_int_equal(np.inventory.from_node.n, 0); /* never in inventory */
                assert_int_equal(np.deployment.to_node.n, 1);
                assert_int_equal(np.deployment.to_node.v[0], port);
                if (cb == FU_CALLBACK_PUSH) {
                    assert_int_equal(np.deployment.from_node.n, 0);
                } else {
                    assert_int_equal(np.deployment.from_node.n, 1);
                    assert_int_equal(np.deployment.from_node.v[0],
                                     sc == FU_SCHEME_HTTPS ? 8443 : 8080);
                }
            }
}

static void test_node_default_port_and_no_network(void **state)
{
    (void)state;
    fu_server_ports_t sp = default_ports();
    fu_node_ports_t np;
    fu_node_t ssh = mknode("a", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "h", 0, FU_CALLBACK_PUSH,
                           FU_SCHEME_HTTPS);
    fu_ports_node(&ssh, &sp, &np);
    assert_int_equal(np.inventory.to_node.v[0], 22);
    fu_node_t rf = mknode("b", FU_TYPE_ILO, FU_TRANSPORT_REDFISH, "h", 0, FU_CALLBACK_PULL,
                          FU_SCHEME_HTTPS);
    fu_ports_node(&rf, &sp, &np);
    assert_int_equal(np.inventory.to_node.v[0], 443);
    assert_int_equal(np.deployment.from_node.v[0], 63002);
    static const fu_transport_kind_t none[] = {FU_TRANSPORT_LOCAL, FU_TRANSPORT_SIM};
    for (size_t i = 0; i < 2; i++) {
        fu_node_t n = mknode("c", FU_TYPE_LINUX, none[i], "h", 22, FU_CALLBACK_PULL,
                             FU_SCHEME_HTTP);
        fu_ports_node(&n, &sp, &np);
        assert_int_equal(np.inventory.to_node.n, 0);
        assert_int_equal(np.deployment.to_node.n, 0);
        assert_int_equal(np.deployment.from_node.n, 0);
    }
}

/* ---- Precedence ---- */

static void test_resolve_precedence(void **state)
{
    (void)state;
    fu_fleet_t f = mkfleet(NULL, 0);
    fu_server_ports_t sp;
    char err[256];

    assert_int_equal(fu_ports_resolve(&f, NULL, NULL, NULL, NULL, &sp, err, sizeof(err)), 0);
    assert_int_equal(sp.port, 63001);
    assert_int_equal(sp.ssl_port, 63002);
    assert_string_equal(fu_port_source_name(sp.port_source, false), "default");

    f.server.port = 7000;
    f.server.port_set = true;
    assert_int_equal(fu_ports_resolve(&f, NULL, NULL, NULL, NULL, &sp, err, sizeof(err)), 0);
    assert_int_equal(sp.port, 7000);
    assert_string_equal(fu_port_source_name(sp.port_source, false), "fleet file");
    assert_string_equal(fu_port_source_name(sp.ssl_port_source, true), "default");

    assert_int_equal(fu_ports_resolve(&f, NULL, NULL, "7100", "7443", &sp, err, sizeof(err)), 0);
    assert_int_equal(sp.port, 7100);
    assert_int_equal(sp.ssl_port, 7443);
    assert_string_equal(fu_port_source_name(sp.port_source, false), "env FLEETUP_PORT");
    assert_string_equal(fu_port_source_name(sp.ssl_port_source, true), "env FLEETUP_SSL_PORT");

    assert_int_equal(fu_ports_resolve(&f, "8080", NULL, "7100", "", &sp, err, sizeof(err)), 0);
    assert_int_equal(sp.port, 8080);
    assert_int_equal(sp.port_source, FU_PORT_SRC_FLAG);
    assert_int_equal(sp.ssl_port, 63002); /* empty env is unset */
    assert_int_equal(sp.ssl_port_source, FU_PORT_SRC_DEFAULT);

    /* A flag wins even over a bad environment value: the bad value is never read. */
    assert_int_equal(fu_ports_resolve(&f, "8080", "8443", "junk", "junk", &sp, err, sizeof(err)),
                     0);
    assert_int_equal(fu_ports_resolve(NULL, NULL, NULL, NULL, NULL, &sp, err, sizeof(err)), 0);
    assert_int_equal(sp.port, 63001);
}

static void test_resolve_errors(void **state)
{
    (void)state;
    fu_fleet_t f = mkfleet(NULL, 0);
    fu_server_ports_t sp;
    char err[256];
    static const char *const bad[] = {"0", "65536", "abc", "-1", "+80", " 80", "80x", "999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(fu_ports_resolve(&f, bad[i], NULL, NULL, NULL, &sp, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "--port"));
        assert_int_equal(fu_ports_resolve(&f, NULL, NULL, NULL, bad[i], &sp, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "FLEETUP_SSL_PORT"));
    }
    assert_int_equal(fu_ports_resolve(&f, NULL, "65535", "1", NULL, &sp, err, sizeof(err)), 0);
    assert_int_equal(fu_ports_resolve(&f, "63002", NULL, NULL, NULL, &sp, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "both 63002"));
    f.server.ssl_port = 9000;
    f.server.ssl_port_set = true;
    assert_int_equal(fu_ports_resolve(&f, NULL, NULL, "9000", NULL, &sp, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "fleet file"));
}

/* ---- Aggregation and notes ---- */

static void test_plan_rows(void **state)
{
    (void)state;
    fu_node_t nodes[] = {
        mknode("w1", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.0.1", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTPS),
        mknode("w2", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.0.2", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTPS),
        mknode("w3", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.0.3", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTP),
        mknode("p1", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.0.4", 22, FU_CALLBACK_PUSH,
               FU_SCHEME_HTTP),
        mknode("p2", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.0.5", 22, FU_CALLBACK_PUSH,
               FU_SCHEME_HTTPS),
        mknode("i1", FU_TYPE_ILO, FU_TRANSPORT_REDFISH, "10.0.1.1", 443, FU_CALLBACK_PUSH,
               FU_SCHEME_HTTPS),
    };
    nodes[5].mgmt_address = "192.168.0.1";
    fu_fleet_t f = mkfleet(nodes, 6);
    fu_server_ports_t sp = default_ports();
    fu_ports_plan_t p;
    assert_int_equal(fu_ports_plan_build(&f, NULL, &sp, &p), 0);
    assert_int_equal(p.nrows, 4); /* push rows do not split on the scheme */
    assert_int_equal(p.rows[0].scheme, FU_SCHEME_HTTP);
    assert_int_equal(p.rows[0].nodes, 1);
    assert_int_equal(p.rows[0].ports.deployment.from_node.v[0], 63001);
    assert_int_equal(p.rows[1].nodes, 2);
    assert_int_equal(p.rows[1].ports.deployment.from_node.v[0], 63002);
    assert_int_equal(p.rows[2].callback, FU_CALLBACK_PUSH);
    assert_int_equal(p.rows[2].nodes, 2);
    assert_int_equal(p.rows[3].type, FU_TYPE_ILO);
    assert_int_equal(p.rows[3].nmgmt, 1);
    fu_ports_plan_free(&p);

    bool sel[6] = {false, true, false, false, false, true};
    assert_int_equal(fu_ports_plan_build(&f, sel, &sp, &p), 0);
    assert_int_equal(p.nselected, 2);
    assert_int_equal(p.nrows, 2);
    assert_int_equal(p.rows[0].nodes, 1);
    fu_ports_plan_free(&p);
}

static void row_note(fu_node_type_t t, fu_transport_kind_t tr, uint16_t port, fu_callback_t cb,
                     size_t nmgmt, char *buf, size_t len)
{
    fu_ports_row_t r;
    memset(&r, 0, sizeof(r));
    r.type = t;
    r.transport = tr;
    r.to_port = port;
    r.callback = cb;
    r.scheme = FU_SCHEME_HTTPS;
    r.nodes = 3;
    r.nmgmt = nmgmt;
    fu_ports_row_note(&r, buf, len);
}

static void test_row_notes(void **state)
{
    (void)state;
    char n[768];
    row_note(FU_TYPE_WINDOWS, FU_TRANSPORT_SSH, 22, FU_CALLBACK_PUSH, 0, n, sizeof(n));
    assert_non_null(strstr(n, "WMI/SMB (135-139, 445)"));
    assert_non_null(strstr(n, "OpenSSH on 22"));
    assert_non_null(strstr(n, "push: nothing from the node"));
    assert_null(strstr(n, "mgmt_address"));

    row_note(FU_TYPE_VMWARE, FU_TRANSPORT_SSH, 22, FU_CALLBACK_PULL, 0, n, sizeof(n));
    assert_non_null(strstr(n, "--firewall esxi"));
    row_note(FU_TYPE_VMWARE, FU_TRANSPORT_SSH, 22, FU_CALLBACK_PUSH, 0, n, sizeof(n));
    assert_null(strstr(n, "--firewall esxi"));

    row_note(FU_TYPE_HPUX, FU_TRANSPORT_SSH, 22, FU_CALLBACK_PUSH, 0, n, sizeof(n));
    assert_non_null(strstr(n, "always needs 63001, 63002 from the node"));
    assert_non_null(strstr(n, "push mode needs nothing from it"));

    row_note(FU_TYPE_BMC, FU_TRANSPORT_REDFISH, 443, FU_CALLBACK_PULL, 2, n, sizeof(n));
    assert_non_null(strstr(n, "fleetup uses Redfish on 443 only"));
    assert_non_null(strstr(n, "mgmt_address on 2 of 3"));
    assert_non_null(strstr(n, "management network"));

    row_note(FU_TYPE_FC_SWITCH, FU_TRANSPORT_SSH, 2022, FU_CALLBACK_PUSH, 0, n, sizeof(n));
    assert_non_null(strstr(n, "SSH console on 2022"));

    row_note(FU_TYPE_LINUX, FU_TRANSPORT_LOCAL, 0, FU_CALLBACK_PULL, 0, n, sizeof(n));
    assert_non_null(strstr(n, "no network port"));

    /* A short buffer is cut, never overrun, and stays terminated. */
    char small[16];
    memset(small, 'x', sizeof(small));
    row_note(FU_TYPE_WINDOWS, FU_TRANSPORT_SSH, 22, FU_CALLBACK_PUSH, 0, small, 10);
    assert_int_equal(strlen(small), 9);
    assert_int_equal(small[10], 'x');
}

/* ---- Firewall emitters ---- */

static void test_nft_rules(void **state)
{
    (void)state;
    fu_node_t nodes[] = {
        mknode("a", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.0.1", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTPS),
        /* same address again: must appear once per set */
        mknode("b", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.0.1", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTPS),
        mknode("c", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "web.example.com", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTPS),
        mknode("d", FU_TYPE_ILO, FU_TRANSPORT_REDFISH, "10.0.0.9", 443, FU_CALLBACK_PUSH,
               FU_SCHEME_HTTPS),
        mknode("e", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "2001:db8::7", 22, FU_CALLBACK_PUSH,
               FU_SCHEME_HTTPS),
    };
    nodes[3].mgmt_address = "192.168.9.9"; /* Redfish goes here, not to 10.0.0.9 */
    fu_fleet_t f = mkfleet(nodes, 5);
    char *s = emit_str(&f, EMIT_NFT, NULL);
    assert_non_null(strstr(s, "table inet fleetup {}\nflush table inet fleetup\ntable inet fleetup {"));
    assert_non_null(strstr(s, "ip saddr { 10.0.0.1 } tcp dport 63002 counter accept"));
    assert_non_null(strstr(s, "ip daddr { 10.0.0.1 } tcp dport 22 counter accept"));
    assert_non_null(strstr(s, "ip daddr { 192.168.9.9 } tcp dport 443 counter accept"));
    assert_non_null(strstr(s, "ip6 daddr { 2001:db8::7 } tcp dport 22 counter accept"));
    assert_null(strstr(s, "10.0.0.9"));
    assert_null(strstr(s, "ip6 saddr")); /* no IPv6 pull node: no (empty) set */
    assert_null(strstr(s, "{ }"));
    /* The hostname is only in a comment, never in a rule. */
    const char *h = strstr(s, "web.example.com");
    assert_non_null(h);
    const char *line = h;
    while (line > s && line[-1] != '\n')
        line--;
    assert_int_equal(line[0], '#');
    assert_int_equal(count_of(s, "web.example.com"), 1);
    free(s);
}

static void test_nft_push_only_has_no_input_rule(void **state)
{
    (void)state;
    fu_node_t nodes[] = {mknode("a", FU_TYPE_OA, FU_TRANSPORT_SSH, "10.1.0.1", 22,
                                FU_CALLBACK_PUSH, FU_SCHEME_HTTPS)};
    fu_fleet_t f = mkfleet(nodes, 1);
    char *s = emit_str(&f, EMIT_NFT, NULL);
    assert_null(strstr(s, "saddr"));
    assert_non_null(strstr(s, "chain input"));
    assert_non_null(strstr(s, "# nothing needed in this direction"));
    assert_non_null(strstr(s, "ip daddr { 10.1.0.1 } tcp dport 22"));
    free(s);
}

static void test_iptables_rules(void **state)
{
    (void)state;
    fu_node_t nodes[] = {
        mknode("a", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.0.1", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTP),
        mknode("b", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.0.1", 2222, FU_CALLBACK_PULL,
               FU_SCHEME_HTTPS),
        mknode("c", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "2001:db8::1", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTPS),
    };
    fu_fleet_t f = mkfleet(nodes, 3);
    char *s = emit_str(&f, EMIT_IPT4, NULL);
    assert_non_null(strstr(s, "*filter\n:FLEETUP-IN - [0:0]\n:FLEETUP-OUT - [0:0]\n"));
    assert_non_null(strstr(s, "-A FLEETUP-IN -s 10.0.0.1/32 -p tcp -m multiport --dports "
                              "63001,63002 -j ACCEPT\n"));
    assert_non_null(strstr(s, "-A FLEETUP-OUT -d 10.0.0.1/32 -p tcp -m multiport --dports "
                              "22,2222 -j ACCEPT\n"));
    assert_null(strstr(s, "2001:db8::1/"));
    assert_non_null(strstr(s, "--firewall ip6tables"));
    assert_non_null(strstr(s, "\nCOMMIT\n"));
    free(s);

    s = emit_str(&f, EMIT_IPT6, NULL);
    assert_non_null(strstr(s, "-A FLEETUP-IN -s 2001:db8::1/128 -p tcp -m tcp --dport 63002 "
                              "-j ACCEPT\n"));
    assert_non_null(strstr(s, "-A FLEETUP-OUT -d 2001:db8::1/128 -p tcp -m tcp --dport 22 "
                              "-j ACCEPT\n"));
    assert_null(strstr(s, "10.0.0.1/"));
    free(s);
}

static const char esxi_one_port[] =
    "<!-- fleetup: outgoing TCP from ESXi to fleetup's server (pull-mode callbacks) -->\n"
    "<ConfigRoot>\n"
    "  <service id='0100'>\n"
    "    <id>fleetup</id>\n"
    "    <rule id='0000'>\n"
    "      <direction>outbound</direction>\n"
    "      <protocol>tcp</protocol>\n"
    "      <porttype>dst</porttype>\n"
    "      <port>63002</port>\n"
    "    </rule>\n"
    "    <enabled>true</enabled>\n"
    "    <required>false</required>\n"
    "  </service>\n"
    "</ConfigRoot>\n";

static void test_esxi_xml(void **state)
{
    (void)state;
    fu_node_t nodes[] = {
        mknode("esx1", FU_TYPE_VMWARE, FU_TRANSPORT_SSH, "10.0.3.1", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTPS),
        /* a push-mode ESXi host and a pull-mode Linux over http must not add 63001 */
        mknode("esx2", FU_TYPE_VMWARE, FU_TRANSPORT_SSH, "10.0.3.2", 22, FU_CALLBACK_PUSH,
               FU_SCHEME_HTTP),
        mknode("lin", FU_TYPE_LINUX, FU_TRANSPORT_SSH, "10.0.3.3", 22, FU_CALLBACK_PULL,
               FU_SCHEME_HTTP),
    };
    fu_fleet_t f = mkfleet(nodes, 3);
    char *info = NULL;
    char *s = emit_str(&f, EMIT_ESXI, &info);
    assert_string_equal(s, esxi_one_port);
    assert_non_null(strstr(info, "esxcli network firewall refresh"));
    assert_non_null(strstr(info, "/etc/vmware/firewall/fleetup.xml"));
    free(s);
    free(info);

    /* No vmware pull node: both ports, and say so. */
    f.nnodes = 1;
    nodes[0].callback = FU_CALLBACK_PUSH;
    s = emit_str(&f, EMIT_ESXI, &info);
    assert_non_null(strstr(s, "<!-- no vmware pull-mode node in this fleet"));
    assert_non_null(strstr(s, "<rule id='0000'>"));
    assert_non_null(strstr(s, "<port>63001</port>\n    </rule>\n    <rule id='0001'>"));
    assert_non_null(strstr(s, "<port>63002</port>"));
    assert_non_null(strstr(info, "no vmware pull-mode node"));
    free(s);
    free(info);
}

static void test_formats(void **state)
{
    (void)state;
    char buf[32];
    fu_portset_t none = {.n = 0};
    fu_portset_t two = {{22, 443}, 2};
    fu_portset_format(&none, buf, sizeof(buf));
    assert_string_equal(buf, "none");
    fu_portset_format(&two, buf, sizeof(buf));
    assert_string_equal(buf, "22, 443");
    fu_portset_format(&two, buf, 5);
    assert_string_equal(buf, "22, ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_os_rows),
        cmocka_unit_test(test_seed_device_rows),
        cmocka_unit_test(test_node_every_type_mode_scheme),
        cmocka_unit_test(test_node_default_port_and_no_network),
        cmocka_unit_test(test_resolve_precedence),
        cmocka_unit_test(test_resolve_errors),
        cmocka_unit_test(test_plan_rows),
        cmocka_unit_test(test_row_notes),
        cmocka_unit_test(test_nft_rules),
        cmocka_unit_test(test_nft_push_only_has_no_input_rule),
        cmocka_unit_test(test_iptables_rules),
        cmocka_unit_test(test_esxi_xml),
        cmocka_unit_test(test_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
