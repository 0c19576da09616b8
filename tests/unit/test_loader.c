/* The fleet loader: good fleets in both formats, precedence, ranges, and malformed
 * fleets, each with the exact FILE:LINE:COL and message of its first error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cli.h"
#include "core/fleet.h"
#include "core/hostrange.h"

static char tmpdir[] = "/tmp/fleetup-test-loader-XXXXXX";

static int setup_dir(void **state)
{
    (void)state;
    if (mkdtemp(tmpdir) == NULL || chdir(tmpdir) != 0)
        return -1;
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(name, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static fu_fleet_t *load_text(const char *text, fu_diag_t *d)
{
    write_file("t.yml", text);
    fu_diag_init(d);
    return fu_fleet_load("t.yml", d);
}

static const fu_node_t *node(const fu_fleet_t *f, const char *name)
{
    for (size_t i = 0; i < f->nnodes; i++)
        if (strcmp(f->nodes[i].name, name) == 0)
            return &f->nodes[i];
    fail_msg("no node '%s'", name);
    return NULL;
}

static const fu_diag_entry_t *first_error(const fu_diag_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].level == FU_DIAG_ERROR)
            return &d->v[i];
    return NULL;
}

typedef struct {
    const char *name, *text;
    unsigned line, col;
    const char *msg;
} bad_case_t;

static const bad_case_t bad_cases[] = {
#include "loader_bad_cases.inc"
};

static void test_bad_fleets(void **state)
{
    (void)state;
    size_t n = sizeof(bad_cases) / sizeof(bad_cases[0]);
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++) {
        const bad_case_t *c = &bad_cases[i];
        fu_diag_t d;
        fu_fleet_t *f = load_text(c->text, &d);
        const fu_diag_entry_t *e = first_error(&d);
        if (f != NULL || e == NULL)
            fail_msg("case %s: loaded without an error", c->name);
        if (e->line != c->line || e->col != c->col || strcmp(e->msg, c->msg) != 0 ||
            strcmp(e->file, "t.yml") != 0)
            fail_msg("case %s:\n  want %u:%u: %s\n  got  %s:%u:%u: %s", c->name, c->line, c->col,
                     c->msg, e->file, e->line, e->col, e->msg);
        fu_diag_free(&d);
    }
}

/* Several problems in one file are all reported, in file order, and nothing is loaded. */
static void test_all_errors_reported(void **state)
{
    (void)state;
    fu_diag_t d;
    fu_fleet_t *f = load_text("fleetup: 1\n"
                              "nodes:\n"
                              "  a:\n"
                              "    type: lnux\n"
                              "    port: 0\n"
                              "  b:\n"
                              "    callback: poll\n"
                              "rollout:\n"
                              "  waves: [1, 200%]\n",
                              &d);
    assert_null(f);
    assert_int_equal(d.errors, 4);
    assert_int_equal(d.v[0].line, 4);
    assert_int_equal(d.v[1].line, 5);
    assert_int_equal(d.v[2].line, 7);
    assert_int_equal(d.v[3].line, 9);
    assert_int_equal(d.v[3].col, 14);
    fu_diag_free(&d);
}

static void test_native_precedence(void **state)
{
    (void)state;
    fu_diag_t d;
    fu_fleet_t *f = load_text("fleetup: 1\n"
                              "server: {port: 8080, ssl_port: 8443}\n"
                              "defaults:\n"
                              "  user: admin\n"
                              "  callback: push\n"
                              "  labels: {site: dc1, rack: none}\n"
                              "groups:\n"
                              "  dc:\n"
                              "    vars: {user: dcuser, labels: {rack: r0}}\n"
                              "    children: [rack1]\n"
                              "  rack1:\n"
                              "    vars: {user: rackuser, labels: {rack: r1}}\n"
                              "    nodes: ['web[1:2]']\n"
                              "nodes:\n"
                              "  web[1:2]:\n"
                              "    address: 10.0.0.[11:12]\n"
                              "  web3:\n"
                              "    groups: [dc]\n"
                              "  ilo1:\n"
                              "    type: ilo\n"
                              "    mgmt_address: 10.9.0.1\n"
                              "    user: node-user\n"
                              "    groups: [rack1]\n",
                              &d);
    assert_non_null(f);
    assert_int_equal(f->nnodes, 4);
    assert_int_equal(f->server.port, 8080);
    assert_true(f->server.port_set);
    const fu_node_t *w1 = node(f, "web1"), *w2 = node(f, "web2"), *w3 = node(f, "web3");
    assert_string_equal(w1->address, "10.0.0.11");
    assert_string_equal(w2->address, "10.0.0.12");
    assert_string_equal(w1->user, "rackuser"); /* child group beats parent and defaults */
    assert_string_equal(w3->user, "dcuser");
    assert_string_equal(fu_node_label(w1, "rack"), "r1");
    assert_string_equal(fu_node_label(w3, "rack"), "r0");
    assert_string_equal(fu_node_label(w3, "site"), "dc1");
    assert_int_equal(w1->callback, FU_CALLBACK_PUSH);
    assert_int_equal(w1->ngroups, 2); /* rack1 and its parent dc */
    const fu_node_t *ilo = node(f, "ilo1");
    assert_string_equal(ilo->user, "node-user"); /* the node beats every group */
    assert_int_equal(ilo->transport, FU_TRANSPORT_REDFISH);
    assert_int_equal(ilo->port, 443);
    assert_string_equal(fu_node_transport_address(ilo), "10.9.0.1");
    assert_int_equal(ilo->callback_scheme, FU_SCHEME_HTTP);
    assert_int_equal(w1->callback_scheme, FU_SCHEME_HTTPS);
    /* inventory order: as written */
    assert_string_equal(f->nodes[0].name, "web1");
    assert_string_equal(f->nodes[3].name, "ilo1");
    fu_fleet_free(f);
    fu_diag_free(&d);
}

/* all < parent < child < host; groups of one depth apply by name, then by
 * ansible_group_priority. */
static void test_ansible_precedence(void **state)
{
    (void)state;
    fu_diag_t d;
    fu_fleet_t *f = load_text("all:\n"
                              "  vars: {ansible_user: all-user, v: all, w: all, x: all}\n"
                              "  children:\n"
                              "    parent:\n"
                              "      vars: {ansible_user: parent-user, v: parent, w: parent}\n"
                              "      children:\n"
                              "        child:\n"
                              "          vars: {v: child}\n"
                              "          hosts:\n"
                              "            h1: {ansible_user: host-user}\n"
                              "            h2:\n"
                              "    zeta: {vars: {w: zeta}, hosts: {h2: }}\n"
                              "    alpha: {vars: {w: alpha, ansible_group_priority: 10}, hosts: {h2: }}\n"
                              "    other:\n"
                              "      hosts:\n"
                              "        db[01:03:2].example.com:2222:\n"
                              "          ansible_host: 192.0.2.5\n"
                              "          fleetup_type: hpux\n"
                              "          fleetup_mgmt_address: 192.0.2.105\n"
                              "          fleetup_callback: push\n"
                              "        lonely:\n"
                              "    ungrouped:\n"
                              "      hosts:\n"
                              "        u1:\n",
                              &d);
    assert_non_null(f);
    assert_true(f->ansible);
    const fu_node_t *h1 = node(f, "h1"), *h2 = node(f, "h2");
    assert_string_equal(h1->user, "host-user");
    assert_string_equal(h2->user, "parent-user");
    assert_string_equal(fu_node_label(h1, "v"), "child");
    assert_string_equal(fu_node_label(h1, "x"), "all");
    /* h2 is in parent (depth 1), child (2), zeta (1), alpha (1, priority 10):
     * depth 1 sorts parent < zeta by name, alpha last by priority; child is deeper. */
    assert_string_equal(fu_node_label(h2, "w"), "alpha");
    assert_string_equal(fu_node_label(h2, "v"), "child");
    assert_int_equal(h2->ngroups, 4);
    const fu_node_t *db1 = node(f, "db01.example.com"), *db3 = node(f, "db03.example.com");
    assert_int_equal(db1->port, 2222);
    assert_string_equal(db1->address, "192.0.2.5");
    assert_string_equal(db1->mgmt_address, "192.0.2.105");
    assert_int_equal(db1->type, FU_TYPE_HPUX);
    assert_int_equal(db1->callback, FU_CALLBACK_PUSH);
    assert_non_null(db3);
    assert_int_equal(f->nnodes, 6); /* h1 h2 db01 db03 lonely u1 */
    assert_string_equal(node(f, "lonely")->address, "lonely");
    assert_int_equal(node(f, "u1")->ngroups, 0); /* ungrouped is implicit, not shown */
    fu_fleet_free(f);
    fu_diag_free(&d);
}

static int collect(void *ud, const char *name, size_t len)
{
    char *out = ud;
    strncat(out, name, len);
    strcat(out, " ");
    return 0;
}

static void expect_expand(const char *pat, const char *want)
{
    char out[1024] = "";
    fu_hostrange_err_t e;
    int rc = fu_hostrange_expand(pat, strlen(pat), 1000, collect, out, &e);
    if (rc != 0)
        fail_msg("%s: %s", pat, e.msg);
    assert_string_equal(out, want);
}

static void test_ranges(void **state)
{
    (void)state;
    expect_expand("web[01:03]", "web01 web02 web03 ");
    expect_expand("web[01:10:3]", "web01 web04 web07 web10 ");
    expect_expand("web[8:10]", "web8 web9 web10 ");
    expect_expand("[a:c]-x", "a-x b-x c-x ");
    expect_expand("r[1:2]n[a:b]", "r1na r1nb r2na r2nb ");
    expect_expand("n[:2]", "n0 n1 n2 ");
    expect_expand("plain", "plain ");
    expect_expand("n[001:003].dc", "n001.dc n002.dc n003.dc ");
    fu_hostrange_err_t e;
    assert_int_equal(fu_hostrange_count("x[1:100000][1:100]", 18, &e), 10000000);
    char out[16] = "";
    assert_int_equal(fu_hostrange_expand("x[1:100000][1:100]", 18, 1000, collect, out, &e), -1);
    assert_string_equal(out, ""); /* refused before expanding anything */
    assert_int_equal(fu_hostrange_count("x[5:1]", 6, &e), -1);
    assert_int_equal(e.offset, 2); /* the begin value */
    assert_int_equal(fu_hostrange_count("x[A:c]", 6, &e), -1);
}

static void expect_split(const char *s, const char *host, unsigned port)
{
    size_t hl, ho;
    unsigned p;
    fu_hostrange_err_t e;
    assert_int_equal(fu_hostport_split(s, strlen(s), &hl, &ho, &p, &e), 0);
    char buf[128];
    snprintf(buf, sizeof(buf), "%.*s", (int)hl, s + ho);
    assert_string_equal(buf, host);
    assert_int_equal(p, port);
}

static void test_host_port(void **state)
{
    (void)state;
    expect_split("db1:2222", "db1", 2222);
    expect_split("db1", "db1", 0);
    expect_split("[::1]:22", "::1", 22);
    expect_split("[2001:db8::5]", "2001:db8::5", 0);
    expect_split("fe80::1", "fe80::1", 0);
    expect_split("web[01:02]:8022", "web[01:02]", 8022);
    expect_split("web[01:02]", "web[01:02]", 0);
    size_t hl, ho;
    unsigned p;
    fu_hostrange_err_t e;
    assert_int_equal(fu_hostport_split("db:0", 4, &hl, &ho, &p, &e), -1);
    assert_int_equal(fu_hostport_split("db:x", 4, &hl, &ho, &p, &e), -1);
    assert_int_equal(e.offset, 2);
}

/* A fleet file may name an Ansible inventory; errors in it point into that file. */
static void test_inventory_reference(void **state)
{
    (void)state;
    write_file("hosts.yml", "all:\n  hosts:\n    a1: {rack: r1}\n    a2: {ansible_port: 2200}\n");
    fu_diag_t d;
    fu_fleet_t *f = load_text("fleetup: 1\n"
                              "inventory: hosts.yml\n"
                              "defaults: {user: ops, labels: {rack: r0}}\n"
                              "nodes:\n"
                              "  extra: {type: ilo}\n",
                              &d);
    assert_non_null(f);
    assert_int_equal(f->nnodes, 3);
    assert_string_equal(node(f, "a1")->user, "ops");
    assert_string_equal(fu_node_label(node(f, "a1"), "rack"), "r1");
    assert_string_equal(fu_node_label(node(f, "a2"), "rack"), "r0");
    assert_int_equal(node(f, "a2")->port, 2200);
    fu_fleet_free(f);
    fu_diag_free(&d);

    write_file("hosts.yml", "all:\n  hosts:\n    a1:\n      ansible_port: many\n");
    f = load_text("fleetup: 1\ninventory: hosts.yml\n", &d);
    assert_null(f);
    const fu_diag_entry_t *e = first_error(&d);
    assert_string_equal(e->file, "./hosts.yml");
    assert_int_equal(e->line, 4);
    assert_int_equal(e->col, 21);
    fu_diag_free(&d);

    /* A node in both places is a duplicate. */
    write_file("hosts.yml", "all:\n  hosts:\n    a1:\n");
    f = load_text("fleetup: 1\ninventory: hosts.yml\nnodes:\n  a1:\n", &d);
    assert_null(f);
    assert_non_null(strstr(first_error(&d)->msg, "duplicate node name 'a1'"));
    fu_diag_free(&d);
}

static void test_policy_and_baseline(void **state)
{
    (void)state;
    write_file("bios.bin", "firmware");
    fu_diag_t d;
    fu_fleet_t *f = load_text(
        "fleetup: 1\n"
        "nodes:\n"
        "  n[1:4]: {labels: {rack: r1}}\n"
        "baseline:\n"
        "  name: spp-2026.11\n"
        "  components:\n"
        "    - name: bmc\n"
        "      version: \"2.10\"\n"
        "      applies_to: [ilo, bmc]\n"
        "    - name: bios\n"
        "      version: U46 v2.10 (03/01/2024)\n"
        "      package: bios.bin\n"
        "      sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\n"
        "      reboot: true\n"
        "      after: [bmc]\n"
        "      applies_to: {types: [linux], labels: {rack: r1}}\n"
        "rollout:\n"
        "  waves: [1, 5%, 25%, 100%]\n"
        "  mode: window\n"
        "  concurrency: 64\n"
        "  phase_concurrency: {inventory: 512, install: 16}\n"
        "  max_per: {rack: 1}\n"
        "  max_fail: {wave: 1, total: 5%}\n"
        "  canary: true\n"
        "  promote: manual\n"
        "  pause_between: 10m\n"
        "  retries: 2\n"
        "  backoff: 500ms\n"
        "  timeouts: {install: 45m}\n"
        "  order: shuffle\n"
        "  seed: 42\n",
        &d);
    assert_non_null(f);
    const fu_baseline_t *b = &f->baseline;
    assert_int_equal(b->ncomponents, 2);
    assert_string_equal(b->components[0].version, "2.10"); /* kept as written, not 2.1 */
    assert_int_equal(b->components[0].applies_types, (1u << FU_TYPE_ILO) | (1u << FU_TYPE_BMC));
    assert_string_equal(b->components[1].sha256,
                        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    assert_int_equal(b->components[1].nafter, 1);
    assert_int_equal(b->components[1].after[0], 0);
    assert_true(b->components[1].reboot);
    assert_string_equal(b->components[1].applies_labels[0].value, "r1");
    const fu_policy_t *p = &f->policy;
    assert_int_equal(p->nwaves, 4);
    assert_int_equal(p->waves[0].unit, FU_AMOUNT_COUNT);
    assert_int_equal(p->waves[1].unit, FU_AMOUNT_PERCENT);
    assert_true(p->waves[2].value == 25.0);
    assert_int_equal(p->mode, FU_MODE_WINDOW);
    assert_int_equal(p->phase_concurrency[FU_PHASE_INVENTORY], 512);
    assert_int_equal(p->phase_concurrency[FU_PHASE_CONNECT], 0);
    assert_string_equal(p->max_per[0].label, "rack");
    assert_true(p->max_fail_wave.unit == FU_AMOUNT_COUNT && p->max_fail_wave.value == 1);
    assert_true(p->max_fail_total.unit == FU_AMOUNT_PERCENT && p->max_fail_total.value == 5);
    assert_int_equal(p->promote, FU_PROMOTE_MANUAL);
    assert_int_equal(p->pause_between_ms, 600000);
    assert_int_equal(p->backoff_ms, 500);
    assert_int_equal(p->timeout_ms[FU_PHASE_INSTALL], 2700000);
    assert_int_equal(p->timeout_ms[FU_PHASE_CONNECT], 30000); /* default kept */
    assert_int_equal(p->order, FU_ORDER_SHUFFLE);
    assert_int_equal(p->seed, 42);
    fu_fleet_free(f);
    fu_diag_free(&d);
}

static void test_yaml_limits(void **state)
{
    (void)state;
    char deep[400] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    fu_diag_t d;
    assert_null(load_text(deep, &d));
    assert_non_null(strstr(first_error(&d)->msg, "nesting deeper than 64"));
    fu_diag_free(&d);
    assert_null(load_text("all: &a\n  children:\n    x: *a\n", &d));
    assert_non_null(strstr(first_error(&d)->msg, "recursive"));
    fu_diag_free(&d);
    /* Anchors and aliases that are not recursive are fine. */
    fu_fleet_t *f = load_text("all:\n  hosts:\n    a: &v {rack: r9}\n    b: *v\n", &d);
    assert_non_null(f);
    assert_string_equal(fu_node_label(node(f, "b"), "rack"), "r9");
    fu_fleet_free(f);
    fu_diag_free(&d);
}

static void test_limit(void **state)
{
    (void)state;
    fu_diag_t d;
    fu_fleet_t *f = load_text("all:\n"
                              "  children:\n"
                              "    web: {hosts: {'web[1:4]': {rack: r1}}}\n"
                              "    db: {hosts: {db1: {rack: r2}, web4: }}\n",
                              &d);
    assert_non_null(f);
    bool sel[8];
    char err[256];
    struct {
        const char *pat;
        const char *want; /* one char per node: web1..web4, db1 */
    } cases[] = {
        {"web", "11110"},   {"db", "00011"},     {"web:&db", "00010"}, {"all:!web", "00001"},
        {"!db", "11100"},   {"w*", "11110"},     {"~^web[12]$", "11000"},
        {"rack=r2", "00001"}, {"web1,db1", "10001"}, {"web:!rack=r1", "00000"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(fu_limit_select(f, cases[i].pat, sel, err, sizeof(err)), 0);
        char got[8] = "";
        for (size_t k = 0; k < f->nnodes; k++)
            got[k] = sel[k] ? '1' : '0';
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("--limit %s: want %s got %s", cases[i].pat, cases[i].want, got);
    }
    assert_int_equal(fu_limit_select(f, "wbe", sel, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "matches no node"));
    assert_int_equal(fu_limit_select(f, "~(", sel, err, sizeof(err)), -1);
    fu_fleet_free(f);
    fu_diag_free(&d);
}

/* A plain-text Ansible password loads (with a warning) but is marked inline. */
static void test_inline_password(void **state)
{
    (void)state;
    fu_diag_t d;
    fu_fleet_t *f = load_text("all:\n  hosts:\n    a:\n      ansible_password: s3cret\n", &d);
    assert_non_null(f);
    assert_int_equal(d.warnings, 1);
    assert_null(strstr(d.v[0].msg, "s3cret"));
    assert_string_equal(f->nodes[0].password_inline, "s3cret");
    fu_fleet_free(f);
    fu_diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_fleets),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_native_precedence),
        cmocka_unit_test(test_ansible_precedence),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_host_port),
        cmocka_unit_test(test_inventory_reference),
        cmocka_unit_test(test_policy_and_baseline),
        cmocka_unit_test(test_yaml_limits),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_inline_password),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
