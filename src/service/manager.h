/* `fleetup serve`'s rollouts: fleets submitted through the API run side by side on the
 * service's loop, each with its own policy, scheduler and transports, all journaled in
 * one SQLite journal committed once per loop turn. The manager also keeps what the
 * dashboard reads live: per rollout the nodes changed since the last batch, the last
 * run events, a timeline of counts, and the Server-Sent Event streams to feed. */
#ifndef FU_SERVICE_MANAGER_H
#define FU_SERVICE_MANAGER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/journal.h"
#include "core/rollout.h"
#include "core/strmap.h"
#include "http/packages.h"
#include "http/server.h"
#include "http/service.h"

#define FU_MGR_EVENTS_KEPT 200
#define FU_MGR_SAMPLES_MAX 600
#define FU_MGR_FEED_MS 500

typedef struct fu_manager_s fu_manager_t;
typedef struct fu_mgr_entry_s fu_mgr_entry_t;

typedef struct fu_mgr_sub_s {
    fu_http_stream_t *st;
    fu_mgr_entry_t *e;
    struct fu_mgr_sub_s *next, *prev;
} fu_mgr_sub_t;

typedef struct {
    uint64_t at_ms;
    char kind[24];
    uint32_t wave;
    char msg[232];
} fu_mgr_event_t;

typedef struct {
    uint64_t t_ms;
    uint32_t done, failed, unreachable, in_flight;
} fu_mgr_sample_t;

struct fu_mgr_entry_s {
    fu_manager_t *m;
    int64_t id;
    char *path, *limit;
    fu_fleet_t *f;
    fu_rollout_opts_t o;
    /* Mapped until the manager is freed, after the server has drained: a node may still
     * be downloading when its rollout is closed. */
    fu_packages_t pkgs;
    fu_rollout_t *r;       /* NULL until started, and again once closed */
    bool started, closing;
    fu_strmap_t names;     /* node name -> index in rollout order + 1 */
    int64_t started_ms, finished_ms;
    bool finished;
    /* the live feed */
    uint8_t *dirty;
    uint32_t *dirty_list, ndirty;
    uint64_t sent_transitions;
    int sent_run;
    fu_mgr_sub_t *subs;
    fu_mgr_event_t events[FU_MGR_EVENTS_KEPT];
    uint32_t nevents; /* ever; the last FU_MGR_EVENTS_KEPT are kept */
    fu_mgr_sample_t samples[FU_MGR_SAMPLES_MAX];
    uint32_t nsamples;
    uint64_t sample_every_ms, last_sample_ms, sampled_transitions;
    /* per node (rollout order): its last status post, NULL until one came */
    fu_status_post_t **status;
    uint32_t nnodes;
    /* a submit waiting for its packages to hash */
    fu_http_request_t *req;
    fu_mgr_entry_t *next;
};

struct fu_manager_s {
    uv_loop_t *loop;
    fu_service_t *svc;
    char *state_dir;
    fu_journal_t *j;
    int lock_fd;
    fu_mgr_entry_t *entries; /* newest first; started or starting */
    uv_check_t commit;
    uv_timer_t feed;
    uint64_t ticks;
    bool stopping;
    uint32_t closing;
    void (*stopped)(void *ud);
    void *stopped_ud;
    char journal_error[512];
    /* GET /rollouts: the journaled rollouts no entry drives, as JSON. While serve holds
     * the state directory's lock nothing else writes them, so they are read once. */
    void *history; /* json_t array */
};

/* Opens the journal and locks the state directory; hooks the API into svc's routes.
 * NULL with a message in err. */
fu_manager_t *fu_manager_new(uv_loop_t *loop, fu_service_t *svc, const char *state_dir,
                             char *err, size_t errlen);
/* Stops every rollout (each stays journaled as it is: resumed at the next start), ends
 * the event streams, then stopped(ud). */
void fu_manager_stop(fu_manager_t *m, void (*stopped)(void *ud), void *ud);
void fu_manager_free(fu_manager_t *m);

/* Resumes the rollouts this state directory's service was running when it stopped
 * (journaled, not finished, started by serve). Prints a line per rollout to stderr. */
void fu_manager_resume_all(fu_manager_t *m);

/* Submits a rollout of the fleet file at path (absolute). 0: started, or answered later
 * through done (packages hash first); -1 with status (4xx/5xx), a message in err and,
 * for a fleet that does not load, its diagnostics as "FILE:LINE:COL: msg" lines in diag
 * (malloc'd, caller frees). */
typedef void (*fu_mgr_started_cb)(void *ud, fu_mgr_entry_t *e, int status, const char *err);
int fu_manager_submit(fu_manager_t *m, const char *path, const char *limit, bool paused,
                      int64_t resume_id, fu_mgr_started_cb done, void *ud, int *status,
                      char *err, size_t errlen, char **diag);

fu_mgr_entry_t *fu_manager_find(fu_manager_t *m, int64_t id);
/* Before retry reopens e: a failed, unreachable or cancelled node of e that a live,
 * unfinished rollout now drives (its name; *other: that rollout), or NULL. */
const char *fu_manager_retry_clash(fu_manager_t *m, fu_mgr_entry_t *e, int64_t *other);
/* A stream of e's live feed: made before the stream opens (it is the stream's gone
 * argument), linked once the snapshot is sent; gone unlinks and frees it. */
fu_mgr_sub_t *fu_manager_sub_new(fu_mgr_entry_t *e);
void fu_manager_subscribe(fu_mgr_sub_t *s);
void fu_manager_stream_gone(void *sub);

/* api.c */
bool fu_api_handle(void *ud, fu_http_request_t *req);
void fu_api_metrics(void *ud, FILE *out);
/* The SSE text of the `rollout` event and a `nodes` batch, appended by the feed. */
char *fu_api_rollout_event(fu_mgr_entry_t *e, size_t *len);
char *fu_api_nodes_event(fu_mgr_entry_t *e, const uint32_t *idx, uint32_t n, size_t *len);
char *fu_api_run_event(const fu_mgr_event_t *ev, size_t *len);

#endif
