/* The packages fleetup serves: the baseline's files, mapped read-only once and shared by
 * every download, addressed by SHA-256 only (no URL ever names a path). */
#ifndef FU_PACKAGES_H
#define FU_PACKAGES_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/fleet.h"

typedef struct {
    char sha256[65];
    const char *name; /* component name, for the API */
    const char *path;
    const char *data; /* mapped */
    uint64_t size;
    int fd;           /* kept open for sendfile; -1 when none */
} fu_package_t;

typedef struct {
    fu_package_t *v;
    size_t n;
} fu_packages_t;

/* Maps every baseline package and hashes it on the libuv threadpool; cb runs on the
 * loop with err NULL, or the first problem (a missing file, a hash that differs from the
 * fleet file's) in a message that names the component and the file. */
typedef void (*fu_packages_cb)(void *ud, const char *err);
void fu_packages_load(uv_loop_t *loop, const fu_fleet_t *f, fu_packages_t *out,
                      fu_packages_cb cb, void *ud);
const fu_package_t *fu_packages_find(const fu_packages_t *p, const char *sha256);
void fu_packages_free(fu_packages_t *p);

#endif
