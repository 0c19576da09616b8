/* A BMC's firmware update: idle → downloading → flashing → (resetting) → idle, with its
 * Redfish task. SimpleUpdate really downloads ImageURI with fleetup's HTTP client,
 * streaming it through SHA-256 (the image is never kept); a pushed image is hashed from
 * the request body. The hash says which baseline component the image is; flashing takes a
 * log-normal time drawn from (seed, BMC, try), so a run is reproducible. */
#include "fleetsim.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transports/http_client.h"

struct fs_job_s {
    fs_world_t *w;
    uint32_t bmc, task;
    fu_hc_t *hc;
    EVP_MD_CTX *md;
    uint64_t bytes;
    char claimed[65]; /* a SHA-256 the URI names (fleetup's /pkg/SHA256), or "" */
    char uri[512];
};

/* ---- hashing and timers ---- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t fs_hash(uint64_t seed, uint32_t bmc, uint32_t what, uint32_t try_)
{
    return mix(seed ^ mix(((uint64_t)bmc << 32) ^ ((uint64_t)what << 12) ^ try_));
}

double fs_draw(uint64_t seed, uint32_t bmc, uint32_t what, uint32_t try_)
{
    return (double)(fs_hash(seed, bmc, what, try_) >> 11) / 9007199254740992.0;
}

uint64_t fs_now(const fs_world_t *w)
{
    return uv_now(w->loop);
}

static void on_drive(uv_timer_t *t);

/* One libuv timer armed at the heap's earliest deadline drives every BMC's timers. */
static void rearm(fs_world_t *w)
{
    uint64_t next = fu_timers_next(&w->timers), now = fs_now(w);
    if (next == UINT64_MAX)
        uv_timer_stop(&w->drive);
    else
        uv_timer_start(&w->drive, on_drive, next > now ? next - now : 0, 0);
}

static void on_drive(uv_timer_t *t)
{
    fs_world_t *w = t->data;
    uv_update_time(w->loop);
    fu_timers_run(&w->timers, fs_now(w));
    rearm(w);
}

void fs_timers_start(fs_world_t *w)
{
    fu_timers_init(&w->timers);
    w->timers.now = fs_now(w);
    uv_timer_init(w->loop, &w->drive);
    w->drive.data = w;
}

void fs_timer_add(fs_world_t *w, uint64_t delay_ms, fu_timer_cb cb, void *ud, uint32_t arg,
                  uint32_t token)
{
    uint64_t now = fs_now(w);
    if (now > w->timers.now)
        w->timers.now = now; /* the heap adds delays to its own clock */
    fu_timers_add(&w->timers, delay_ms, cb, ud, arg, token);
    rearm(w);
}

/* ---- tasks ---- */

static uint64_t wall_ms(const fs_world_t *w)
{
    return fs_now(w) + w->epoch_offset;
}

const fs_task_t *fs_task_find(const fs_world_t *w, uint32_t b, uint32_t id)
{
    const fs_bmc_t *m = &w->bmcs[b];
    if (m->tasks == NULL || id == 0)
        return NULL;
    const fs_task_t *t = &m->tasks[(id - 1) % FS_NTASKS];
    return t->id == id ? t : NULL;
}

static fs_task_t *task_of(fs_world_t *w, uint32_t b, uint32_t id)
{
    return (fs_task_t *)fs_task_find(w, b, id);
}

/* Download 0-9 %, flash 10-99 % over its drawn duration, 100 % when completed. */
int fs_task_percent(const fs_world_t *w, const fs_task_t *t)
{
    if (t->state == FS_TASK_COMPLETED)
        return 100;
    if (t->flash_ms == 0)
        return t->state == FS_TASK_RUNNING ? 5 : 0;
    uint64_t now = t->state == FS_TASK_RUNNING ? fs_now(w) : t->end_ms - w->epoch_offset;
    uint64_t done = now > t->flash_at ? now - t->flash_at : 0;
    if (done >= t->flash_ms)
        return 99;
    return 10 + (int)(89 * done / t->flash_ms);
}

static const char *const state_names[] = {"idle", "downloading", "flashing", "resetting"};

/* Every state change goes through here: stale timers see a new token. */
static void to(fs_world_t *w, uint32_t b, fs_bmc_state_t st)
{
    fs_bmc_t *m = &w->bmcs[b];
    if (w->o.verbose)
        fprintf(stderr, "fleetsim: bmc-%05u %s -> %s\n", b + 1, state_names[m->state], state_names[st]);
    m->state = (uint8_t)st;
    m->token++;
}

static void task_message(fs_task_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void task_message(fs_task_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->message, sizeof(t->message), fmt, ap);
    va_end(ap);
}

static uint32_t task_new(fs_world_t *w, uint32_t b)
{
    fs_bmc_t *m = &w->bmcs[b];
    if (m->tasks == NULL && (m->tasks = calloc(FS_NTASKS, sizeof(*m->tasks))) == NULL)
        return 0;
    uint32_t id = ++m->next_task;
    fs_task_t *t = &m->tasks[(id - 1) % FS_NTASKS];
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->state = FS_TASK_RUNNING;
    t->member = -1;
    t->start_ms = wall_ms(w);
    m->tries++;
    w->stats.updates_started++;
    return id;
}

static void job_free(fs_job_t *j)
{
    if (j->md)
        EVP_MD_CTX_free(j->md);
    free(j);
}

static void task_fail(fs_world_t *w, uint32_t b, uint32_t id, const char *msg)
{
    fs_bmc_t *m = &w->bmcs[b];
    fs_task_t *t = task_of(w, b, id);
    if (t) {
        t->state = FS_TASK_EXCEPTION;
        t->end_ms = wall_ms(w);
        task_message(t, "%s", msg);
    }
    m->hpe_state = FS_HPE_ERROR;
    w->stats.updates_failed++;
    to(w, b, FS_IDLE);
}

/* ---- flashing and resetting ---- */

static void reset_done(void *ud, uint32_t b, uint32_t token)
{
    fs_world_t *w = ud;
    if (w->bmcs[b].token == token)
        to(w, b, FS_IDLE);
}

/* A BMC that resets after a flash: its connections go, new ones are reset until back. */
static void start_reset(fs_world_t *w, uint32_t b)
{
    char host[32], local[48];
    uint16_t port;
    to(w, b, FS_RESETTING);
    w->stats.resets++;
    free(w->bmcs[b].sessions); /* a rebooted BMC forgets its sessions */
    w->bmcs[b].sessions = NULL;
    fs_bmc_addr(&w->o, b, host, sizeof(host), &port);
    snprintf(local, sizeof(local), "%s:%u", host, port);
    fu_http_reset_local(w->server, local);
    fs_timer_add(w, w->o.reset_ms, reset_done, w, b, w->bmcs[b].token);
}

static void flash_done(void *ud, uint32_t b, uint32_t token)
{
    fs_world_t *w = ud;
    fs_bmc_t *m = &w->bmcs[b];
    if (m->token != token)
        return;
    fs_task_t *t = task_of(w, b, m->next_task);
    if (t == NULL || t->member < 0) {
        to(w, b, FS_IDLE);
        return;
    }
    const char *name = fs_fw_names[t->member];
    if (m->faults & (1u << FS_F_EXCEPTION)) {
        char msg[112];
        snprintf(msg, sizeof(msg), "Flash failed: write error on %s (simulated fault)", name);
        task_fail(w, b, t->id, msg);
        return;
    }
    const fu_component_t *c = &w->fleet->baseline.components[t->comp];
    if (!(m->faults & (1u << FS_F_NOCHANGE)))
        m->version[t->member] = c->version;
    task_message(t, "Firmware updated: %s %s", name, c->version);
    t->state = FS_TASK_COMPLETED;
    t->end_ms = wall_ms(w);
    m->hpe_state = FS_HPE_COMPLETE;
    w->stats.updates_ok++;
    bool reset = w->o.reset_share > 0 && fs_draw(w->o.seed, b, 5, m->tries) < w->o.reset_share;
    if (reset)
        start_reset(w, b);
    else
        to(w, b, FS_IDLE);
}

/* A log-normal duration around the median, drawn from (seed, BMC, try). */
static uint64_t flash_time(const fs_world_t *w, uint32_t b, uint32_t try_)
{
    double median = (double)w->o.flash_ms;
    if (median <= 0)
        return 1;
    if (w->o.flash_spread <= 0)
        return (uint64_t)median;
    double u1 = fs_draw(w->o.seed, b, 3, try_), u2 = fs_draw(w->o.seed, b, 4, try_);
    double z = sqrt(-2.0 * log(u1 + 1e-300)) * cos(6.283185307179586 * u2);
    double d = median * exp(w->o.flash_spread * z);
    return d < 1 ? 1 : (uint64_t)d;
}

/* The image's bytes are all here (hex: their SHA-256): which component is it, and does it
 * fit this BMC? Then the flash starts. */
static void image_received(fs_world_t *w, uint32_t b, uint32_t id, const char *hex,
                           const char *claimed)
{
    fs_bmc_t *m = &w->bmcs[b];
    char msg[160];
    if (m->faults & (1u << FS_F_CORRUPT)) {
        snprintf(msg, sizeof(msg), "Image checksum mismatch: the image is corrupted (SHA-256 %.16s... "
                 "after transfer)", hex);
        task_fail(w, b, id, msg);
        return;
    }
    if (claimed && claimed[0] && strcmp(claimed, hex) != 0) {
        snprintf(msg, sizeof(msg), "Image checksum mismatch: got SHA-256 %.16s..., the URI names %.16s...",
                 hex, claimed);
        task_fail(w, b, id, msg);
        return;
    }
    size_t nc = w->fleet ? w->fleet->baseline.ncomponents : 0, c = 0;
    while (c < nc && strcmp(w->sha[c], hex) != 0)
        c++;
    if (c == nc) {
        snprintf(msg, sizeof(msg), "image not recognised (SHA-256 %.16s...)", hex);
        task_fail(w, b, id, msg);
        return;
    }
    const fu_component_t *comp = &w->fleet->baseline.components[c];
    if (w->member_of[c] < 0) {
        snprintf(msg, sizeof(msg), "image not recognised: %s matches no firmware on this BMC",
                 comp->name);
        task_fail(w, b, id, msg);
        return;
    }
    fs_task_t *t = task_of(w, b, id);
    if (t == NULL) {
        to(w, b, FS_IDLE);
        return;
    }
    t->member = (int8_t)w->member_of[c];
    t->comp = (int16_t)c;
    t->flash_at = fs_now(w);
    t->flash_ms = flash_time(w, b, m->tries);
    task_message(t, "Flashing %s %s", fs_fw_names[t->member], comp->version);
    m->hpe_state = FS_HPE_PROGRESSING;
    to(w, b, FS_FLASHING);
    fs_timer_add(w, t->flash_ms, flash_done, w, b, m->token);
}

/* ---- downloads ---- */

static void close_client(void *ud, uint32_t arg, uint32_t token)
{
    (void)arg;
    (void)token;
    fu_hc_close(ud, NULL, NULL);
}

static int on_data(void *ud, const char *p, size_t n)
{
    fs_job_t *j = ud;
    j->bytes += n;
    j->w->stats.bytes_downloaded += n;
    return EVP_DigestUpdate(j->md, p, n) == 1 ? 0 : -1;
}

static void on_downloaded(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res)
{
    fs_job_t *j = ud;
    fs_world_t *w = j->w;
    fs_bmc_t *m = &w->bmcs[j->bmc];
    char msg[200];
    (void)kind;
    /* closed from the timer heap, outside the client's own callback */
    fs_timer_add(w, 0, close_client, j->hc, 0, 0);
    m->job = NULL;
    if (err) {
        snprintf(msg, sizeof(msg), "Download of the image failed: %s", err);
        task_fail(w, j->bmc, j->task, msg);
    } else if (res->status != 200) {
        snprintf(msg, sizeof(msg), "Download of the image failed: HTTP %d from %.100s", res->status, j->uri);
        task_fail(w, j->bmc, j->task, msg);
    } else {
        unsigned char d[32];
        char hex[65];
        EVP_DigestFinal_ex(j->md, d, NULL);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        image_received(w, j->bmc, j->task, hex, j->claimed);
    }
    job_free(j);
}

/* The first run of 64 hex digits in the URI's path: fleetup's /pkg/SHA256. */
static void claimed_hash(const char *path, char out[65])
{
    out[0] = '\0';
    size_t run = 0;
    for (const char *p = path; *p && *p != '?'; p++) {
        bool hexd = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F');
        run = hexd ? run + 1 : 0;
        if (run == 64 && !((p[1] >= '0' && p[1] <= '9') || (p[1] >= 'a' && p[1] <= 'f'))) {
            for (int i = 0; i < 64; i++)
                out[i] = (char)(p[i - 63] | 0x20);
            out[64] = '\0';
            return;
        }
    }
}

/* "http[s]://HOST[:PORT]/PATH" into its parts; -1 with a reason. */
static int parse_uri(const char *uri, bool *tls, char *host, size_t hostlen, uint16_t *port,
                     const char **path, char *err, size_t errlen)
{
    const char *p;
    if (strncasecmp(uri, "http://", 7) == 0) {
        *tls = false;
        p = uri + 7;
    } else if (strncasecmp(uri, "https://", 8) == 0) {
        *tls = true;
        p = uri + 8;
    } else {
        snprintf(err, errlen, "'%.100s' is not an http:// or https:// URI", uri);
        return -1;
    }
    const char *hend;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (hend == NULL) {
            snprintf(err, errlen, "unclosed '[' in '%.100s'", uri);
            return -1;
        }
        snprintf(host, hostlen, "%.*s", (int)(hend - p - 1), p + 1);
        hend++;
    } else {
        hend = p + strcspn(p, ":/?");
        snprintf(host, hostlen, "%.*s", (int)(hend - p), p);
    }
    *port = *tls ? 443 : 80;
    if (*hend == ':') {
        char *e;
        unsigned long v = strtoul(hend + 1, &e, 10);
        if (v == 0 || v > 65535 || (*e && *e != '/' && *e != '?')) {
            snprintf(err, errlen, "bad port in '%.100s'", uri);
            return -1;
        }
        *port = (uint16_t)v;
        hend = e;
    }
    if (host[0] == '\0') {
        snprintf(err, errlen, "no host in '%.100s'", uri);
        return -1;
    }
    *path = *hend ? hend : "/";
    return 0;
}

uint32_t fs_update_simple(fs_world_t *w, uint32_t b, const char *uri, char *err, size_t errlen)
{
    bool tls;
    char host[256];
    uint16_t port;
    const char *path;
    if (parse_uri(uri, &tls, host, sizeof(host), &port, &path, err, errlen) != 0)
        return 0;
    if (tls && w->client_tls == NULL) {
        snprintf(err, errlen, "HTTPS downloads are not available (no TLS client context)");
        return 0;
    }
    fs_job_t *j = calloc(1, sizeof(*j));
    uint32_t id = j ? task_new(w, b) : 0;
    if (id == 0 || (j->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(j->md, EVP_sha256(), NULL) != 1) {
        if (j)
            job_free(j);
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    j->w = w;
    j->bmc = b;
    j->task = id;
    snprintf(j->uri, sizeof(j->uri), "%s", uri);
    claimed_hash(path, j->claimed);
    fu_hc_opts_t o = {.host = host, .port = port, .tls = tls, .ssl_ctx = w->client_tls,
                      .verify = w->o.ca_file ? FU_HC_VERIFY_CA : FU_HC_VERIFY_NONE,
                      .connect_timeout_ms = 10000, .request_timeout_ms = 60000,
                      .idle_close_ms = 1000};
    j->hc = fu_hc_new(w->loop, &o);
    fu_hc_req_t rq = {.method = "GET", .path = path, .headers = "Accept: */*\r\n",
                      .on_data = on_data, .total_timeout_ms = 3600000, .cb = on_downloaded, .ud = j};
    fs_task_t *t = task_of(w, b, id);
    task_message(t, "Downloading the image");
    w->bmcs[b].hpe_state = FS_HPE_UPLOADING;
    w->bmcs[b].job = j;
    to(w, b, FS_DOWNLOADING);
    if (j->hc == NULL || fu_hc_request(j->hc, &rq) != 0) {
        w->bmcs[b].job = NULL;
        if (j->hc)
            fu_hc_close(j->hc, NULL, NULL);
        job_free(j);
        task_fail(w, b, id, "Download of the image failed: cannot start the HTTP client");
    }
    return id;
}

uint32_t fs_update_push(fs_world_t *w, uint32_t b, const char *data, size_t len)
{
    uint32_t id = task_new(w, b);
    if (id == 0)
        return 0;
    unsigned char d[32];
    char hex[65];
    unsigned dl = 0;
    EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    to(w, b, FS_DOWNLOADING); /* received: straight on to checking and flashing */
    image_received(w, b, id, hex, NULL);
    return id;
}
