/* fleetup validate FLEET: loads the fleet exactly as every other command does and says
 * whether it is usable, with all errors at once. */
#include <getopt.h>
#include <jansson.h>
#include <string.h>

#include "core/cli.h"
#include "core/sha256.h"

static void help(void)
{
    printf("usage: fleetup validate FLEET [--json] [--quiet] [--no-hash]\n"
           "\n"
           "Checks a fleet file (native or Ansible YAML inventory): YAML syntax, keys, types,\n"
           "ranges, group cycles, node types, the baseline (package files, sha256, after:\n"
           "order) and the rollout policy. Every problem is printed as\n"
           "    FILE:LINE:COL: error: what is wrong and what to do\n"
           "and all of them are reported in one run.\n"
           "\n"
           "  --json    print {\"valid\":..., \"nodes\":N, ..., \"diagnostics\":[...]} on stdout\n"
           "  --quiet   print nothing on success\n"
           "  --no-hash do not read the baseline's package files to check their sha256\n"
           "            (they are still checked to exist); for very large packages\n"
           "\n"
           "exit: 0 valid (warnings allowed), 2 invalid or bad usage.\n");
}

/* Reads every baseline package and compares its SHA-256 with the fleet file's. */
static void check_packages(const fu_fleet_t *f, fu_diag_t *d)
{
    for (size_t i = 0; i < f->baseline.ncomponents; i++) {
        const fu_component_t *c = &f->baseline.components[i];
        if (c->package_path == NULL || c->sha256 == NULL)
            continue;
        char hex[65], err[512];
        if (fu_sha256_file(c->package_path, hex, err, sizeof(err)) != 0)
            fu_diag_add(d, FU_DIAG_ERROR, c->pos.file, c->pos.line, c->pos.col,
                        "component '%s': %s", c->name, err);
        else if (strcmp(hex, c->sha256) != 0)
            fu_diag_add(d, FU_DIAG_ERROR, c->pos.file, c->pos.line, c->pos.col,
                        "component '%s': package '%s' has SHA-256 %s, but the fleet file says "
                        "%s: replace the file or correct sha256",
                        c->name, c->package, hex, c->sha256);
    }
}

static void summary(const fu_fleet_t *f, const char *path)
{
    size_t per_type[FU_TYPE__COUNT] = {0};
    for (size_t i = 0; i < f->nnodes; i++)
        per_type[f->nodes[i].type]++;
    printf("%s: valid %s: %zu node%s (", path, f->ansible ? "Ansible inventory" : "fleet",
           f->nnodes, f->nnodes == 1 ? "" : "s");
    bool first = true;
    for (int t = 0; t < FU_TYPE__COUNT; t++)
        if (per_type[t]) {
            printf("%s%zu %s", first ? "" : ", ", per_type[t], fu_node_type_name((fu_node_type_t)t));
            first = false;
        }
    printf("), %zu group%s, %zu baseline component%s\n", f->ngroups - 1,
           f->ngroups == 2 ? "" : "s", f->baseline.ncomponents,
           f->baseline.ncomponents == 1 ? "" : "s");
}

int fu_cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"no-hash", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false, quiet = false, hash = true;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "jqnh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'q': quiet = true; break;
        case 'n': hash = false; break;
        case 'h': help(); return FU_EXIT_OK;
        default: return fu_cli_usage_error("validate", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return fu_cli_usage_error("validate", "expects exactly one FLEET file");
    const char *path = argv[optind];
    fu_diag_t d;
    fu_diag_init(&d);
    fu_fleet_t *f = fu_fleet_load(path, &d);
    if (f && hash) {
        size_t before = d.errors;
        check_packages(f, &d);
        if (d.errors > before) {
            fu_fleet_free(f);
            f = NULL;
        }
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:b}", "file", path, "valid", f != NULL);
        if (f) {
            json_object_set_new(o, "format", json_string(f->ansible ? "ansible" : "fleetup"));
            json_object_set_new(o, "nodes", json_integer((json_int_t)f->nnodes));
            json_object_set_new(o, "groups", json_integer((json_int_t)f->ngroups - 1));
            json_object_set_new(o, "components", json_integer((json_int_t)f->baseline.ncomponents));
        }
        json_object_set_new(o, "errors", json_integer((json_int_t)d.errors));
        json_object_set_new(o, "warnings", json_integer((json_int_t)d.warnings));
        char *diag = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&diag, &len);
        fu_diag_print_json(&d, mem);
        fclose(mem);
        json_object_set_new(o, "diagnostics", json_loads(diag, 0, NULL));
        free(diag);
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        fu_diag_print(&d, stderr);
        if (f == NULL)
            fprintf(stderr, "fleetup: %s: %zu error%s; the fleet is not usable\n", path,
                    d.errors, d.errors == 1 ? "" : "s");
        else if (!quiet)
            summary(f, path);
    }
    int rc = f ? FU_EXIT_OK : FU_EXIT_USAGE;
    fu_fleet_free(f);
    fu_diag_free(&d);
    return rc;
}
