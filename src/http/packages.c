/* Package store: mmap + SHA-256 off the loop thread, then lookups by hash. */
#include "http/packages.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    uv_work_t work;
    const fu_fleet_t *f;
    fu_packages_t *out;
    fu_packages_cb cb;
    void *ud;
    char err[1024];
} job_t;

static int map_one(fu_package_t *p, char *err, size_t errlen)
{
    int fd = open(p->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot open '%s': %s", p->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    p->size = (uint64_t)st.st_size;
    p->data = "";
    if (p->size) {
        void *m = mmap(NULL, p->size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errlen, "cannot map '%s': %s", p->path, strerror(errno));
            close(fd);
            return -1;
        }
        madvise(m, p->size, MADV_SEQUENTIAL);
        p->data = m;
    }
    p->fd = fd; /* plain HTTP sends from it with sendfile */
    return 0;
}

static void hash_one(const fu_package_t *p, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(p->data, p->size, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void work(uv_work_t *w)
{
    job_t *j = w->data;
    const fu_baseline_t *b = &j->f->baseline;
    j->out->v = calloc(b->ncomponents + 1, sizeof(fu_package_t));
    for (size_t i = 0; i < b->ncomponents && !j->err[0]; i++) {
        const fu_component_t *c = &b->components[i];
        if (c->package_path == NULL || c->sha256 == NULL)
            continue;
        if (fu_packages_find(j->out, c->sha256))
            continue; /* two components, one file */
        fu_package_t *p = &j->out->v[j->out->n];
        p->fd = -1;
        p->name = c->name;
        p->path = c->package_path;
        char why[512];
        if (map_one(p, why, sizeof(why)) != 0) {
            snprintf(j->err, sizeof(j->err), "component '%s': %s", c->name, why);
            break;
        }
        j->out->n++;
        hash_one(p, p->sha256);
        if (strcmp(p->sha256, c->sha256) != 0)
            snprintf(j->err, sizeof(j->err), "%s:%u:%u: component '%s': package '%s' has SHA-256 "
                     "%s, the fleet file says %s: not serving a package that is not the one "
                     "named; replace the file or correct sha256", c->pos.file, c->pos.line,
                     c->pos.col, c->name, c->package, p->sha256, c->sha256);
    }
}

static void done(uv_work_t *w, int status)
{
    job_t *j = w->data;
    (void)status;
    j->cb(j->ud, j->err[0] ? j->err : NULL);
    free(j);
}

void fu_packages_load(uv_loop_t *loop, const fu_fleet_t *f, fu_packages_t *out,
                      fu_packages_cb cb, void *ud)
{
    job_t *j = calloc(1, sizeof(*j));
    j->work.data = j;
    j->f = f;
    j->out = out;
    j->cb = cb;
    j->ud = ud;
    memset(out, 0, sizeof(*out));
    uv_queue_work(loop, &j->work, work, done);
}

const fu_package_t *fu_packages_find(const fu_packages_t *p, const char *sha256)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].sha256, sha256) == 0)
            return &p->v[i];
    return NULL;
}

void fu_packages_free(fu_packages_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->v[i].size)
            munmap((void *)p->v[i].data, p->v[i].size);
        if (p->v[i].fd >= 0)
            close(p->v[i].fd);
    }
    free(p->v);
    memset(p, 0, sizeof(*p));
}
