/* fleetsim's command line: options, the world's setup (baseline, certificate, BMCs,
 * listener, inventory), the loop, and a summary at SIGINT/SIGTERM. Exit codes: 0 after a
 * signal, 1 when the fleet cannot start, 2 for a bad command line. */
#include "fleetsim.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/loader.h"
#include "core/yaml_tree.h"
#include "core/sha256.h"
#include "http/tls.h"
#include "transports/http_client.h"
#include "transports/redfish_map.h"

static void usage(FILE *out)
{
    fprintf(out,
"usage: fleetsim [OPTIONS]\n"
"\n"
"Simulates thousands of Redfish BMCs (HPE iLO 5 style or generic DMTF) in one process,\n"
"for testing and benchmarking fleetup's Redfish rollouts. Each BMC has its own address,\n"
"sessions, firmware inventory, update service and tasks; SimpleUpdate really downloads\n"
"ImageURI and recognises the image by its SHA-256 among the --baseline packages.\n"
"\n"
"Where the BMCs are:\n"
"  --nodes N              how many BMCs (default 1000, at most %u)\n"
"  --port P               BMC i listens on 127.2.x.y:P, one address per BMC, host bytes\n"
"                         .0 and .255 skipped (default 8443, or 8080 with --plain)\n"
"  --ports BASE           instead: BMC i on 127.0.0.1:BASE+i (one socket per BMC)\n"
"  --plain                plain HTTP instead of HTTPS\n"
"  --state-dir DIR        where the TLS certificate and key go (default: a temporary\n"
"                         folder, removed at exit)\n"
"  --write-inventory FILE once listening, write an Ansible inventory of the BMCs to FILE\n"
"                         and their password to FILE.password (0600), both atomically\n"
"  --user NAME            the BMCs' user (default admin); the password is random\n"
"\n"
"What they are and do:\n"
"  --flavor ilo|generic|mixed  iLO adds Oem.Hpe (update State, FlashProgressPercent);\n"
"                         mixed: half and half by hash (default ilo)\n"
"  --ilo5-no-task         iLO SimpleUpdate answers 200 without a task (as iLO 5 does):\n"
"                         clients must follow UpdateService Oem.Hpe.State\n"
"  --baseline FLEETFILE   a fleetup fleet file: an image whose SHA-256 is a component's\n"
"                         package updates the firmware that component names (else the\n"
"                         task ends in Exception \"image not recognised\")\n"
"  --current SHARE        share of BMCs (0..1) already at the baseline versions (default 0)\n"
"  --flash-time DUR       median flash time (default 20s); log-normal around it with\n"
"  --flash-spread SIGMA   (default 0.3), drawn from the seed, the BMC and the try\n"
"  --reset SHARE          share of flashes followed by a BMC reset (default 0)\n"
"  --reset-time DUR       how long a reset keeps the BMC unreachable (default 5s)\n"
"  --ca-file FILE         check HTTPS image servers against this CA (default: accept any)\n"
"\n"
"Faults (a BMC has fault KIND iff hash(seed, BMC, KIND) / 2^64 < SHARE):\n"
"  --fault KIND=SHARE     SHARE with a dot or %% (0.05, 5%%): that share of BMCs, drawn\n"
"  --fault KIND=N         N without a dot: exactly N BMCs (the N smallest hashes)\n"
"                         KIND: refuse (connections reset), hang (never answers), slow\n"
"                         (answers delayed), 5xx (update actions answer 500), auth (login\n"
"                         and Basic fail), corrupt (image checksum mismatch), exception\n"
"                         (flash fails), nochange (completes, version unchanged)\n"
"  --slow-delay DUR       delay of a slow BMC's answers (default 2s)\n"
"  --seed S               seed of every draw (default 1)\n"
"  --verbose              log requests and state changes on stderr\n"
"\n"
"Runs until SIGINT or SIGTERM, then prints one summary line on stderr and exits 0.\n"
"\n"
"Example: benchmark a rollout policy against 1,000 iLOs, 2%% of which hang:\n"
"  fleetsim --nodes 1000 --baseline fleet.yml --fault hang=0.02 \\\n"
"           --write-inventory /tmp/bmcs.yml &\n"
"  fleetup deploy fleet.yml      # the fleet file says: inventory: /tmp/bmcs.yml\n"
"See docs/fleetsim.md.\n",
            FS_MAX_NODES);
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "fleetsim: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(fleetsim --help lists the options)\n");
    return 2;
}

/* "0.25", "25%" into [0, 1]. */
static bool parse_share(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno)
        return false;
    if (*end == '%') {
        v /= 100;
        end++;
    }
    if (*end || v < 0 || v > 1)
        return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_fault(fs_opts_t *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    int k = 0;
    while (eq && k < FS_F__COUNT &&
           !(strlen(fs_fault_names[k]) == (size_t)(eq - arg) &&
             strncmp(arg, fs_fault_names[k], (size_t)(eq - arg)) == 0))
        k++;
    if (eq == NULL || k == FS_F__COUNT)
        return bad("--fault '%s': want KIND=SHARE or KIND=N, KIND one of refuse hang slow 5xx "
                   "auth corrupt exception nochange", arg);
    const char *v = eq + 1;
    uint64_t n;
    if (strpbrk(v, ".%") == NULL && parse_u64(v, FS_MAX_NODES, &n)) {
        o->fault_by_count[k] = true;
        o->fault_count[k] = (uint32_t)n;
    } else if (parse_share(v, &o->fault_share[k])) {
        o->fault_by_count[k] = false;
    } else {
        return bad("--fault '%s': the value is a share (0.05 or 5%%) or a count of BMCs", arg);
    }
    return 0;
}

enum {
    OPT_NODES = 256, OPT_PORT, OPT_PORTS, OPT_PLAIN, OPT_FLAVOR, OPT_ILO5, OPT_SEED,
    OPT_BASELINE, OPT_CURRENT, OPT_FLASH_TIME, OPT_FLASH_SPREAD, OPT_RESET, OPT_RESET_TIME,
    OPT_SLOW, OPT_FAULT, OPT_INVENTORY, OPT_STATE_DIR, OPT_CA, OPT_USER, OPT_VERBOSE, OPT_HELP
};

static const struct option long_opts[] = {
    {"nodes", required_argument, NULL, OPT_NODES},
    {"port", required_argument, NULL, OPT_PORT},
    {"ports", required_argument, NULL, OPT_PORTS},
    {"plain", no_argument, NULL, OPT_PLAIN},
    {"flavor", required_argument, NULL, OPT_FLAVOR},
    {"ilo5-no-task", no_argument, NULL, OPT_ILO5},
    {"seed", required_argument, NULL, OPT_SEED},
    {"baseline", required_argument, NULL, OPT_BASELINE},
    {"current", required_argument, NULL, OPT_CURRENT},
    {"flash-time", required_argument, NULL, OPT_FLASH_TIME},
    {"flash-spread", required_argument, NULL, OPT_FLASH_SPREAD},
    {"reset", required_argument, NULL, OPT_RESET},
    {"reset-time", required_argument, NULL, OPT_RESET_TIME},
    {"slow-delay", required_argument, NULL, OPT_SLOW},
    {"fault", required_argument, NULL, OPT_FAULT},
    {"write-inventory", required_argument, NULL, OPT_INVENTORY},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"ca-file", required_argument, NULL, OPT_CA},
    {"user", required_argument, NULL, OPT_USER},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* One option into o; 0, 1 for --help, 2 for a bad value. */
static int parse_one(fs_opts_t *o, int c, const char *a, bool *port_set)
{
    uint64_t v;
    switch (c) {
    case OPT_NODES:
        if (!parse_u64(a, FS_MAX_NODES, &v) || v == 0)
            return bad("--nodes '%s': want a count from 1 to 1000000", a);
        o->nodes = (uint32_t)v;
        return 0;
    case OPT_PORT:
    case OPT_PORTS:
        if (!parse_u64(a, 65535, &v) || v == 0)
            return bad("'%s' is not a port (1-65535)", a);
        if (c == OPT_PORT) {
            o->port = (uint16_t)v;
            *port_set = true;
        } else {
            o->ports_base = (uint16_t)v;
        }
        return 0;
    case OPT_PLAIN: o->plain = true; return 0;
    case OPT_ILO5: o->ilo5_no_task = true; return 0;
    case OPT_VERBOSE: o->verbose = true; return 0;
    case OPT_FLAVOR:
        if (strcmp(a, "ilo") == 0)
            o->flavor = FS_FLAVOR_ILO;
        else if (strcmp(a, "generic") == 0)
            o->flavor = FS_FLAVOR_GENERIC;
        else if (strcmp(a, "mixed") == 0)
            o->flavor = FS_FLAVOR_MIXED;
        else
            return bad("--flavor '%s': want ilo, generic or mixed", a);
        return 0;
    case OPT_SEED:
        if (!parse_u64(a, UINT64_MAX, &o->seed))
            return bad("--seed '%s': want a non-negative integer", a);
        return 0;
    case OPT_CURRENT:
    case OPT_RESET:
        if (!parse_share(a, c == OPT_CURRENT ? &o->current : &o->reset_share))
            return bad("'%s' is not a share: want 0..1 or a percentage (0.1, 10%%)", a);
        return 0;
    case OPT_FLASH_SPREAD: {
        char *end;
        o->flash_spread = strtod(a, &end);
        if (end == a || *end || o->flash_spread < 0 || o->flash_spread > 3)
            return bad("--flash-spread '%s': want a sigma from 0 to 3 (0.3 is typical)", a);
        return 0;
    }
    case OPT_FLASH_TIME:
    case OPT_RESET_TIME:
    case OPT_SLOW:
        if (!fu_duration_parse(a, c == OPT_FLASH_TIME ? &o->flash_ms
                                  : c == OPT_RESET_TIME ? &o->reset_ms : &o->slow_ms))
            return bad("'%s' is not a duration: want 250ms, 20s, 5m, 1h", a);
        return 0;
    case OPT_FAULT: return parse_fault(o, a);
    case OPT_BASELINE: o->baseline_file = a; return 0;
    case OPT_INVENTORY: o->inventory_file = a; return 0;
    case OPT_STATE_DIR: o->state_dir = a; return 0;
    case OPT_CA: o->ca_file = a; return 0;
    case OPT_USER:
        if (*a == '\0' || strpbrk(a, ":\"\\\n") != NULL)
            return bad("--user '%s': want a name without ':', quotes or backslashes", a);
        o->user = a;
        return 0;
    case OPT_HELP: usage(stdout); return 1;
    default: return bad("%s", "unknown option");
    }
}

static int parse_args(fs_opts_t *o, int argc, char **argv)
{
    *o = (fs_opts_t){.nodes = 1000, .flavor = FS_FLAVOR_ILO, .seed = 1, .flash_ms = 20000,
                     .flash_spread = 0.3, .reset_ms = 5000, .slow_ms = 2000, .user = "admin"};
    bool port_set = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        if (c == '?') {
            fprintf(stderr, "fleetsim: unknown option or missing value: %s\n"
                            "(fleetsim --help lists the options)\n", argv[optind - 1]);
            return 2;
        }
        int rc = parse_one(o, c == 'h' ? OPT_HELP : c, optarg, &port_set);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return bad("unexpected argument '%s' (fleetsim takes only options)", argv[optind]);
    if (!port_set)
        o->port = o->plain ? 8080 : 8443;
    if (o->ports_base && (uint32_t)o->ports_base + o->nodes - 1 > 65535)
        return bad("--ports: BASE + --nodes goes past port 65535 (%s)", "lower one of them");
    if (o->current > 0 && o->baseline_file == NULL)
        return bad("--current needs --baseline (%s)", "the versions come from its components");
    return 0;
}

/* ---- setup ---- */

/* The baseline's packages by SHA-256, and the firmware member each component updates. */
/* Only the baseline section of a fleet file: the fleet file that rolls out to fleetsim
 * usually takes its nodes from the inventory fleetsim is about to write. */
static fu_fleet_t *baseline_only(const char *path, fu_diag_t *d)
{
    fu_arena_t a;
    fu_arena_init(&a);
    fu_fleet_t *f = fu_arena_alloc(&a, sizeof(*f));
    f->arena = a;
    f->file = fu_arena_strdup(&f->arena, path);
    bool ok;
    size_t before = d->errors;
    fu_ynode_t *root = fu_yaml_load_file(&f->arena, d, path, &ok);
    if (ok && root)
        fu_baseline_read(f, d, fu_y_map_get(root, "baseline"));
    if (!ok || root == NULL || d->errors > before) {
        fu_fleet_free(f);
        return NULL;
    }
    return f;
}

static int load_baseline(fs_world_t *w)
{
    fu_diag_t d;
    fu_diag_init(&d);
    w->fleet = fu_fleet_load(w->o.baseline_file, &d);
    fu_diag_free(&d);
    if (w->fleet == NULL) {
        fu_diag_init(&d);
        w->fleet = baseline_only(w->o.baseline_file, &d);
        fu_diag_print(&d, stderr);
        fu_diag_free(&d);
    }
    if (w->fleet == NULL) {
        fprintf(stderr, "fleetsim: cannot read the baseline of %s (errors above)\n",
                w->o.baseline_file);
        return -1;
    }
    if (w->fleet->baseline.ncomponents == 0)
        fprintf(stderr, "fleetsim: note: %s has no baseline components: every image will be "
                        "'not recognised'\n", w->o.baseline_file);
    size_t n = w->fleet->baseline.ncomponents;
    w->sha = calloc(n ? n : 1, sizeof(*w->sha));
    w->member_of = calloc(n ? n : 1, sizeof(*w->member_of));
    for (size_t c = 0; c < n; c++) {
        const fu_component_t *comp = &w->fleet->baseline.components[c];
        char err[256];
        if (comp->package_path == NULL ||
            fu_sha256_file(comp->package_path, w->sha[c], err, sizeof(err)) != 0) {
            if (comp->sha256 == NULL) {
                fprintf(stderr, "fleetsim: component %s: no package to hash (%s)\n", comp->name,
                        comp->package_path ? err : "no package");
                return -1;
            }
            snprintf(w->sha[c], sizeof(w->sha[c]), "%s", comp->sha256); /* as declared */
        }
        w->member_of[c] = -1;
        for (uint32_t m = 0; m < FS_NFW && w->member_of[c] < 0; m++) {
            char id[4];
            snprintf(id, sizeof(id), "%u", m + 1);
            fu_rf_member_t mem = {fs_member_path(m), id, fs_fw_names[m], fs_fw_versions[m],
                                  fs_fw_software_ids[m], true};
            if (fu_rf_member_is(comp, &mem))
                w->member_of[c] = (int)m;
        }
        if (w->member_of[c] < 0)
            fprintf(stderr, "fleetsim: note: component %s names none of the simulated firmware "
                            "(%s, %s, %s, %s)\n", comp->name, fs_fw_names[0], fs_fw_names[1],
                    fs_fw_names[2], fs_fw_names[3]);
    }
    return 0;
}

/* A random password, and the Basic header that carries it. */
static void make_password(fs_world_t *w)
{
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    unsigned char r[20];
    RAND_bytes(r, sizeof(r));
    for (size_t i = 0; i < sizeof(r); i++)
        w->password[i] = alphabet[r[i] % (sizeof(alphabet) - 1)];
    w->password[sizeof(r)] = '\0';
    char cred[128];
    int n = snprintf(cred, sizeof(cred), "%s:%s", w->o.user, w->password);
    memcpy(w->basic, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)w->basic + 6, (const unsigned char *)cred, n);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static uint32_t nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > 1000000)
        return 1000000;
    return (uint32_t)rl.rlim_cur;
}

static void log_line(void *ud, const char *line)
{
    fs_world_t *w = ud;
    if (w->o.verbose)
        fprintf(stderr, "fleetsim: %s\n", line);
}

/* ---- stopping ---- */

static void on_shut(void *ud)
{
    fs_world_t *w = ud;
    uv_stop(w->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
    fs_world_t *w = h->data;
    static bool stopping;
    (void)signum;
    /* The handlers stay: a second signal (timeout(1) sends two) must not kill the
     * process before its summary line; the shutdown takes 0.5 s at most anyway. */
    if (stopping)
        return;
    stopping = true;
    fu_http_shutdown(w->server, 500, on_shut, w);
}

static void summary(const fs_world_t *w)
{
    const fs_stats_t *s = &w->stats;
    char faults[256] = "";
    size_t n = 0;
    for (int k = 0; k < FS_F__COUNT; k++)
        if (s->faulty[k] && n < sizeof(faults))
            n += (size_t)snprintf(faults + n, sizeof(faults) - n, " %s=%u", fs_fault_names[k],
                                  s->faulty[k]);
    fprintf(stderr,
            "fleetsim: %u BMCs, %llu requests, %llu logins, updates: %llu started %llu done "
            "%llu failed, %llu resets, %.1f MiB downloaded %.1f MiB pushed, faults:%s\n",
            w->o.nodes, (unsigned long long)s->requests, (unsigned long long)s->logins,
            (unsigned long long)s->updates_started, (unsigned long long)s->updates_ok,
            (unsigned long long)s->updates_failed, (unsigned long long)s->resets,
            (double)s->bytes_downloaded / 1048576.0, (double)s->bytes_pushed / 1048576.0,
            n ? faults : " none");
}

static void remove_state_dir(const char *dir)
{
    static const char *const files[] = {"tls.crt", "tls.key", "password"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* Certificates and listeners; -1 after printing why. */
static int start(fs_world_t *w, const char *state_dir)
{
    char err[512];
    if (!w->o.plain) {
        w->tls = fu_tls_server_ctx(NULL, NULL, state_dir, w->fingerprint, sizeof(w->fingerprint),
                                   err, sizeof(err));
        if (w->tls == NULL) {
            fprintf(stderr, "fleetsim: TLS: %s\n", err);
            return -1;
        }
    }
    w->client_tls = fu_hc_ssl_ctx(w->o.ca_file, err, sizeof(err));
    if (w->client_tls == NULL && w->o.ca_file) {
        fprintf(stderr, "fleetsim: --ca-file: %s\n", err);
        return -1;
    }
    char pwfile[PATH_MAX];
    snprintf(pwfile, sizeof(pwfile), "%s/password", state_dir);
    if (fs_password_write(w, pwfile, err, sizeof(err)) != 0) {
        fprintf(stderr, "fleetsim: %s\n", err);
        return -1;
    }
    fu_http_handlers_t h = {w, fs_handle, fs_body_limit, log_line};
    uint32_t fds = nofile(), listeners = w->o.ports_base ? w->o.nodes : 1;
    fu_http_limits_t lim = {.max_connections = fds > listeners + 256 ? fds - listeners - 256 : 64,
                            .header_timeout_ms = 30000, .idle_timeout_ms = 120000};
    w->server = fu_http_server_new(w->loop, &h, &lim);
    fu_http_set_accept(w->server, fs_accept);
    if (fs_listen(w, err, sizeof(err)) != 0) {
        fprintf(stderr, "fleetsim: %s\n", err);
        return -1;
    }
    if (w->o.inventory_file && fs_inventory_write(w, w->o.inventory_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "fleetsim: --write-inventory: %s\n", err);
        return -1;
    }
    return 0;
}

static void announce(const fs_world_t *w, const char *state_dir, double secs)
{
    char first[32], last[32];
    uint16_t p1, p2;
    fs_bmc_addr(&w->o, 0, first, sizeof(first), &p1);
    fs_bmc_addr(&w->o, w->o.nodes - 1, last, sizeof(last), &p2);
    fprintf(stderr, "fleetsim: %u BMCs (%s) on %s:%u .. %s:%u over %s, started in %.2f s\n",
            w->o.nodes, w->o.flavor == FS_FLAVOR_ILO ? "iLO" : w->o.flavor == FS_FLAVOR_GENERIC ? "generic" : "mixed",
            first, p1, last, p2, w->o.plain ? "HTTP" : "HTTPS", secs);
    if (!w->o.plain)
        fprintf(stderr, "fleetsim: TLS certificate SHA-256 %s\n", w->fingerprint);
    fprintf(stderr, "fleetsim: user %s, password in %s/password%s%s%s\n", w->o.user, state_dir,
            w->o.inventory_file ? " and " : "", w->o.inventory_file ? w->o.inventory_file : "",
            w->o.inventory_file ? ".password" : "");
    if (w->o.inventory_file)
        fprintf(stderr, "fleetsim: inventory in %s\n", w->o.inventory_file);
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    /* Static: the world (BMCs, server, TLS contexts, pending timers) stays reachable until
     * the process ends, which frees it; LeakSanitizer reports only what nothing points to. */
    static fs_world_t w;
    int rc = parse_args(&w.o, argc, argv);
    if (rc)
        return rc == 1 ? 0 : 2;
    double t0 = now_s();
    raise_nofile();
    char inv_abs[PATH_MAX], tmpdir[] = "/tmp/fleetsim-XXXXXX";
    if (w.o.inventory_file && w.o.inventory_file[0] != '/') {
        char cwd[PATH_MAX - 256];
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            fprintf(stderr, "fleetsim: getcwd: %s\n", strerror(errno));
            return 1;
        }
        snprintf(inv_abs, sizeof(inv_abs), "%s/%s", cwd, w.o.inventory_file);
        w.o.inventory_file = inv_abs; /* the password file's path in it must be absolute */
    }
    const char *state_dir = w.o.state_dir;
    if (state_dir == NULL && (state_dir = mkdtemp(tmpdir)) == NULL) {
        fprintf(stderr, "fleetsim: cannot make a temporary folder: %s\n", strerror(errno));
        return 1;
    }
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "fleetsim: --state-dir %s: %s\n", state_dir, strerror(errno));
        return 1;
    }
    w.loop = uv_default_loop();
    w.epoch_offset = (uint64_t)(now_s() * 1000) - uv_now(w.loop);
    fs_timers_start(&w);
    make_password(&w);
    int status = 1;
    if ((w.o.baseline_file == NULL || load_baseline(&w) == 0) && fs_bmcs_init(&w) == 0 &&
        start(&w, state_dir) == 0) {
        uv_signal_t sigint, sigterm;
        uv_signal_init(w.loop, &sigint);
        uv_signal_init(w.loop, &sigterm);
        sigint.data = sigterm.data = &w;
        uv_signal_start(&sigint, on_signal, SIGINT);
        uv_signal_start(&sigterm, on_signal, SIGTERM);
        announce(&w, state_dir, now_s() - t0);
        uv_run(w.loop, UV_RUN_DEFAULT);
        summary(&w);
        status = 0;
    }
    if (w.o.state_dir == NULL)
        remove_state_dir(state_dir);
    return status;
}
