/* The Ansible inventory of the simulated fleet, for `fleetup deploy` (inventory: FILE):
 * one host per BMC with its address and port, the user, a password file, and how to
 * trust the BMCs' certificate. Written to a temporary file and renamed, so a script
 * waiting for the file never reads half of it. */
#include "fleetsim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes data to path through path.tmp.PID and rename(2), with the given mode. */
static int write_atomic(const char *path, const char *data, size_t len, mode_t mode, char *err,
                        size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int fs_password_write(const fs_world_t *w, const char *path, char *err, size_t errlen)
{
    char pw[64];
    int pl = snprintf(pw, sizeof(pw), "%s\n", w->password);
    return write_atomic(path, pw, (size_t)pl, 0600, err, errlen);
}

int fs_inventory_write(const fs_world_t *w, const char *file, char *err, size_t errlen)
{
    char pwfile[4100];
    snprintf(pwfile, sizeof(pwfile), "%s.password", file);
    if (fs_password_write(w, pwfile, err, errlen) != 0)
        return -1;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const fs_opts_t *o = &w->o;
    fprintf(f, "# fleetsim: %u simulated Redfish BMCs (seed %llu). Generated; do not edit.\n",
            o->nodes, (unsigned long long)o->seed);
    fprintf(f, "all:\n  vars:\n    fleetup_type: %s\n    ansible_user: %s\n",
            o->flavor == FS_FLAVOR_GENERIC ? "bmc" : "ilo", o->user);
    fprintf(f, "    fleetup_password_file: \"%s\"\n", pwfile);
    if (o->plain)
        fprintf(f, "    fleetup_plain_http: true\n");
    else
        fprintf(f, "    fleetup_tls_fingerprint: \"%s\"\n", w->fingerprint);
    fprintf(f, "  hosts:\n");
    for (uint32_t i = 0; i < o->nodes; i++) {
        char host[32];
        uint16_t port;
        fs_bmc_addr(o, i, host, sizeof(host), &port);
        fprintf(f, "    bmc-%05u: {ansible_host: %s, ansible_port: %u", i + 1, host, port);
        if (o->flavor == FS_FLAVOR_MIXED && !w->bmcs[i].ilo)
            fprintf(f, ", fleetup_type: bmc");
        /* The faults a BMC was given, as a label: tests and benchmarks check that exactly
         * these nodes fail, and why (--limit fleetsim_fault=refuse selects them). */
        for (int k = 0, first = 1; k < FS_F__COUNT; k++)
            if (w->bmcs[i].faults & (1u << k)) {
                fprintf(f, "%s%s", first ? ", fleetsim_fault: " : "+", fs_fault_names[k]);
                first = 0;
            }
        fprintf(f, "}\n");
    }
    if (fclose(f) != 0 || buf == NULL) {
        free(buf);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = write_atomic(file, buf, len, 0644, err, errlen);
    free(buf);
    return rc;
}
