/* fleetsim: thousands of simulated Redfish BMCs in one process on one libuv loop. This
 * header is shared by its files: the options (main.c), the world and every BMC's small
 * record (bmc.c: resources and auth), updates and tasks (update.c), addresses (net.c)
 * and the inventory it writes (inventory.c). Connections belong to the HTTP server. */
#ifndef FLEETSIM_H
#define FLEETSIM_H

#include <jansson.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/fleet.h"
#include "core/timers.h"
#include "http/server.h"

#define FS_NFW 4          /* built-in firmware members per BMC */
#define FS_NTASKS 4       /* tasks a BMC remembers (the newest) */
#define FS_NSESSIONS 8    /* sessions per BMC; a ninth login ends the oldest */
#define FS_MAX_NODES 1000000
#define FS_PUSH_LIMIT (1ull << 30) /* bytes an image push may carry */
#define FS_BODY_LIMIT (64u * 1024) /* every other request body */

typedef enum { FS_FLAVOR_ILO, FS_FLAVOR_GENERIC, FS_FLAVOR_MIXED } fs_flavor_t;

typedef enum {
    FS_F_REFUSE,    /* connections reset at once */
    FS_F_HANG,      /* requests are never answered */
    FS_F_SLOW,      /* every answer delayed by --slow-delay */
    FS_F_5XX,       /* the update actions answer 500 */
    FS_F_AUTH,      /* login and Basic fail with 401 */
    FS_F_CORRUPT,   /* images arrive corrupted: checksum mismatch */
    FS_F_EXCEPTION, /* the flash fails: task Exception */
    FS_F_NOCHANGE,  /* task Completed, version unchanged */
    FS_F__COUNT
} fs_fault_t;

extern const char *const fs_fault_names[FS_F__COUNT];

typedef struct {
    uint32_t nodes;
    uint16_t port;       /* the one listening port (address mode) */
    uint16_t ports_base; /* --ports: BMC i on 127.0.0.1:ports_base+i; 0: address mode */
    bool plain;
    fs_flavor_t flavor;
    bool ilo5_no_task; /* iLO SimpleUpdate: 200 without a task; follow Oem.Hpe.State */
    uint64_t seed;
    const char *baseline_file, *inventory_file, *state_dir, *ca_file;
    const char *user;
    double current;
    uint64_t flash_ms, reset_ms, slow_ms;
    double flash_spread, reset_share;
    /* a fault's share of BMCs in [0, 1], or with fault_count set exactly that many */
    double fault_share[FS_F__COUNT];
    uint32_t fault_count[FS_F__COUNT];
    bool fault_by_count[FS_F__COUNT];
    bool verbose;
} fs_opts_t;

/* A BMC's update: idle → downloading → flashing → (resetting) → idle. */
typedef enum { FS_IDLE, FS_DOWNLOADING, FS_FLASHING, FS_RESETTING } fs_bmc_state_t;
/* Oem.Hpe.State of an iLO's update service. */
typedef enum { FS_HPE_IDLE, FS_HPE_UPLOADING, FS_HPE_PROGRESSING, FS_HPE_COMPLETE, FS_HPE_ERROR } fs_hpe_state_t;
typedef enum { FS_TASK_RUNNING, FS_TASK_COMPLETED, FS_TASK_EXCEPTION } fs_task_state_t;

typedef struct {
    uint32_t id; /* 0: unused slot */
    uint8_t state; /* fs_task_state_t */
    int8_t member; /* the firmware being flashed, -1 before the image is known */
    int16_t comp;  /* the baseline component the image is */
    uint64_t start_ms, end_ms;     /* wall clock (ms since the epoch) */
    uint64_t flash_at, flash_ms;   /* loop clock: PercentComplete is computed from them */
    char message[112];
} fs_task_t;

typedef struct {
    uint32_t id;
    uint8_t token[16];
} fs_session_t;

typedef struct fs_job_s fs_job_t; /* a download in progress (update.c) */

/* One BMC; about 80 bytes while idle: tasks and sessions are allocated at first use. */
typedef struct {
    const char *version[FS_NFW]; /* built-in strings or the baseline's */
    fs_task_t *tasks;            /* FS_NTASKS, a ring by id */
    fs_session_t *sessions;      /* FS_NSESSIONS, a ring by id */
    fs_job_t *job;
    uint32_t next_task, next_session;
    uint32_t token; /* bumped on every state change: stale timers see a different one */
    uint16_t faults; /* bit per fs_fault_t */
    uint8_t state, hpe_state, tries;
    bool ilo;
} fs_bmc_t;

typedef struct {
    uint64_t requests, logins, updates_started, updates_ok, updates_failed, resets;
    uint64_t bytes_downloaded, bytes_pushed;
    uint32_t faulty[FS_F__COUNT];
} fs_stats_t;

typedef struct {
    fs_opts_t o;
    uv_loop_t *loop;
    fu_http_server_t *server;
    SSL_CTX *tls;        /* the BMCs' certificate; NULL with --plain */
    SSL_CTX *client_tls; /* downloads over HTTPS */
    char fingerprint[128];
    char password[40];
    char basic[128]; /* "Basic base64(user:password)" */
    fs_bmc_t *bmcs;
    /* --baseline: the fleet, each component's package SHA-256, and which built-in member
     * each component updates (-1: none) */
    fu_fleet_t *fleet;
    char (*sha)[65];
    int *member_of;
    fu_timers_t timers;
    uv_timer_t drive;
    uint64_t epoch_offset; /* wall clock ms minus loop ms */
    fs_stats_t stats;
} fs_world_t;

/* bmc.c */
/* Every BMC's initial record: flavour, faults, versions (--current). */
int fs_bmcs_init(fs_world_t *w);
void fs_handle(void *ud, fu_http_request_t *req);
size_t fs_body_limit(void *ud, const char *method, const char *path);
bool fs_accept(void *ud, const char *local, const char *peer);
extern const char *const fs_fw_names[FS_NFW];
extern const char *const fs_fw_versions[FS_NFW];
extern const char *const fs_fw_software_ids[FS_NFW];
const char *fs_member_path(uint32_t member); /* "/redfish/v1/UpdateService/FirmwareInventory/N" */

/* resources.c: the JSON of each resource (new references) */
json_t *fs_res_root(const fs_world_t *w, uint32_t b);
json_t *fs_res_systems(void);
json_t *fs_res_system(const fs_world_t *w, uint32_t b);
json_t *fs_res_managers(void);
json_t *fs_res_manager(const fs_world_t *w, uint32_t b);
json_t *fs_res_session_service(void);
json_t *fs_res_session(const fs_world_t *w, uint32_t id);
json_t *fs_res_sessions(const fs_world_t *w, uint32_t b);
json_t *fs_res_update_service(const fs_world_t *w, uint32_t b);
json_t *fs_res_action_info(void);
json_t *fs_res_inventory(bool software);
json_t *fs_res_member(const fs_world_t *w, uint32_t b, uint32_t i, bool software);
json_t *fs_res_task_service(void);
json_t *fs_res_tasks(const fs_world_t *w, uint32_t b);
json_t *fs_res_task(const fs_world_t *w, const fs_task_t *t);
json_t *fs_res_error(const char *message_id, const char *message);
json_t *fs_res_ilo_success(void);

/* update.c */
/* Starts a SimpleUpdate download; the task's id, or 0 with a reason in err (a bad URI). */
uint32_t fs_update_simple(fs_world_t *w, uint32_t b, const char *uri, char *err, size_t errlen);
/* An image pushed in a request body: the same task, without the download. */
uint32_t fs_update_push(fs_world_t *w, uint32_t b, const char *data, size_t len);
const fs_task_t *fs_task_find(const fs_world_t *w, uint32_t b, uint32_t id);
int fs_task_percent(const fs_world_t *w, const fs_task_t *t);
/* The loop clock (ms) and a timer on the shared heap. */
uint64_t fs_now(const fs_world_t *w);
void fs_timer_add(fs_world_t *w, uint64_t delay_ms, fu_timer_cb cb, void *ud, uint32_t arg,
                  uint32_t token);
void fs_timers_start(fs_world_t *w);
/* A uniform draw in [0, 1) from (seed, bmc, what, try). */
double fs_draw(uint64_t seed, uint32_t bmc, uint32_t what, uint32_t try_);
uint64_t fs_hash(uint64_t seed, uint32_t bmc, uint32_t what, uint32_t try_);

/* net.c */
/* Address and port of BMC i. */
void fs_bmc_addr(const fs_opts_t *o, uint32_t i, char *host, size_t hostlen, uint16_t *port);
/* The BMC a connection's local "ADDR:PORT" belongs to, or -1. */
int64_t fs_bmc_of(const fs_opts_t *o, const char *local);
/* Opens the listener(s); refused BMCs in --ports mode get none. */
int fs_listen(fs_world_t *w, char *err, size_t errlen);

/* inventory.c */
/* The Ansible inventory of the fleet, and FILE.password (0600); both atomically. */
int fs_inventory_write(const fs_world_t *w, const char *file, char *err, size_t errlen);
/* The password alone (a line), 0600, atomically. */
int fs_password_write(const fs_world_t *w, const char *path, char *err, size_t errlen);

#endif
