/* Journal on SQLite: prepared statements, one open transaction at a time. Node states
 * are small integers (scheduler.h); a node's current state is its last transition. */
#include "core/journal.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A node's latest state, written to rollout_nodes once per commit however many
 * transitions it went through in that turn. */
typedef struct {
    int state, phase, attempts, flags;
    uint64_t at;
    char *reason;
    bool dirty;
} latest_t;

struct fu_journal_s {
    sqlite3 *db;
    sqlite3_stmt *ins_transition, *ins_inventory, *ins_event, *upd_node;
    bool in_tx;
    uint64_t pending;
    int64_t rollout;      /* the rollout the latest[] entries belong to */
    int64_t seq;          /* its last transition number */
    latest_t *latest;
    uint32_t nlatest;
    uint32_t *dirty;
    uint32_t ndirty;
    char failed[512]; /* the first write that failed */
};

const char *fu_journal_failed(const fu_journal_t *j)
{
    return j->failed[0] ? j->failed : NULL;
}

/* Runs a write statement; the first failure is kept (and every later write is moot). */
static void step(fu_journal_t *j, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW && !j->failed[0])
        snprintf(j->failed, sizeof(j->failed), "%s", sqlite3_errmsg(j->db));
    sqlite3_reset(st);
}

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA cache_size=-65536;"
    "PRAGMA wal_autocheckpoint=16384;"
    "CREATE TABLE IF NOT EXISTS rollouts("
    "  id INTEGER PRIMARY KEY, fleet TEXT NOT NULL, limit_pattern TEXT,"
    "  started_ms INTEGER NOT NULL, finished_ms INTEGER, state TEXT NOT NULL, reason TEXT,"
    "  nodes INTEGER NOT NULL, force_sim INTEGER NOT NULL DEFAULT 0,"
    "  virtual_time INTEGER NOT NULL DEFAULT 0, sim_seed INTEGER NOT NULL DEFAULT -1);"
    "CREATE TABLE IF NOT EXISTS rollout_nodes("
    "  rollout INTEGER NOT NULL, idx INTEGER NOT NULL, fleet_idx INTEGER NOT NULL,"
    "  name TEXT NOT NULL, wave INTEGER NOT NULL DEFAULT 0,"
    "  state INTEGER NOT NULL DEFAULT 0, phase INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0, flags INTEGER NOT NULL DEFAULT 0, reason TEXT,"
    "  at_ms INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(rollout, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS transitions("
    "  rollout INTEGER NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL, from_state INTEGER, from_phase INTEGER,"
    "  to_state INTEGER, to_phase INTEGER, reason TEXT,"
    "  PRIMARY KEY(rollout, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS inventory("
    "  rollout INTEGER NOT NULL, idx INTEGER NOT NULL, phase INTEGER NOT NULL,"
    "  component TEXT NOT NULL, version TEXT, at_ms INTEGER,"
    "  PRIMARY KEY(rollout, idx, phase, component)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS events("
    "  rollout INTEGER NOT NULL, at_ms INTEGER NOT NULL, kind TEXT NOT NULL,"
    "  wave INTEGER, message TEXT);";

const char *fu_journal_error(fu_journal_t *j)
{
    return sqlite3_errmsg(j->db);
}

/* mkdir -p, each new level 0700: the journal is the operator's, nobody else's. */
static int mkdir_p(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

fu_journal_t *fu_journal_open(const char *dir, char *err, size_t errlen)
{
    if (mkdir_p(dir) != 0) {
        snprintf(err, errlen, "cannot create the state directory '%s': %s", dir, strerror(errno));
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/journal.db", dir);
    fu_journal_t *j = calloc(1, sizeof(*j));
    if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
        sqlite3_exec(j->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open the journal '%s': %s", path,
                 j->db ? sqlite3_errmsg(j->db) : "out of memory");
        fu_journal_close(j);
        return NULL;
    }
    sqlite3_busy_timeout(j->db, 5000);
    /* Journals made before service mode lack the column: added (an error when present). */
    sqlite3_exec(j->db, "ALTER TABLE rollouts ADD COLUMN service INTEGER NOT NULL DEFAULT 0",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(j->db,
                       "INSERT INTO transitions(rollout, seq, idx, at_ms, from_state, from_phase,"
                       " to_state, to_phase, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       -1, &j->ins_transition, NULL);
    sqlite3_prepare_v2(j->db,
                       "UPDATE rollout_nodes SET state = ?, phase = ?, attempts = ?, reason = ?,"
                       " at_ms = ?, flags = ? WHERE rollout = ? AND idx = ?",
                       -1, &j->upd_node, NULL);
    sqlite3_prepare_v2(j->db, "INSERT OR REPLACE INTO inventory VALUES (?, ?, ?, ?, ?, ?)", -1,
                       &j->ins_inventory, NULL);
    sqlite3_prepare_v2(j->db, "INSERT INTO events VALUES (?, ?, ?, ?, ?)", -1, &j->ins_event,
                       NULL);
    return j;
}

void fu_journal_close(fu_journal_t *j)
{
    if (j == NULL)
        return;
    fu_journal_commit(j);
    sqlite3_finalize(j->ins_transition);
    sqlite3_finalize(j->upd_node);
    sqlite3_finalize(j->ins_inventory);
    sqlite3_finalize(j->ins_event);
    sqlite3_close(j->db);
    free(j->latest);
    free(j->dirty);
    free(j);
}

void fu_journal_abandon(fu_journal_t *j)
{
    if (j->in_tx)
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    j->in_tx = false;
    for (uint32_t k = 0; k < j->ndirty; k++) {
        free(j->latest[j->dirty[k]].reason);
        j->latest[j->dirty[k]].reason = NULL;
    }
    j->ndirty = 0;
    fu_journal_close(j);
}

static void flush_latest(fu_journal_t *j);

static void begin(fu_journal_t *j)
{
    if (!j->in_tx) {
        if (sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK && !j->failed[0])
            snprintf(j->failed, sizeof(j->failed), "BEGIN: %s", sqlite3_errmsg(j->db));
        j->in_tx = true;
    }
    j->pending++;
}

int fu_journal_commit(fu_journal_t *j)
{
    if (!j->in_tx)
        return j->failed[0] ? -1 : 0;
    flush_latest(j);
    j->pending = 0;
    if (j->failed[0] || sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        if (!j->failed[0])
            snprintf(j->failed, sizeof(j->failed), "COMMIT: %s", sqlite3_errmsg(j->db));
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL); /* nothing half-written */
        j->in_tx = false;
        return -1;
    }
    j->in_tx = false;
    return 0;
}

uint64_t fu_journal_pending(const fu_journal_t *j)
{
    return j->pending;
}

int64_t fu_journal_rollout_begin(fu_journal_t *j, const fu_fleet_t *f, const char *limit,
                                 const fu_rollout_options_t *opts, const uint32_t *nodes,
                                 const uint32_t *waves, uint32_t n, int64_t wall_ms)
{
    begin(j);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(j->db, "INSERT INTO rollouts(fleet, limit_pattern, started_ms, state, nodes,"
                              " force_sim, virtual_time, sim_seed, service)"
                              " VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, f->file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, limit, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, wall_ms);
    sqlite3_bind_int(st, 4, (int)n);
    sqlite3_bind_int(st, 5, opts && opts->force_sim);
    sqlite3_bind_int(st, 6, opts && opts->virtual_time);
    sqlite3_bind_int64(st, 7, opts ? opts->sim_seed : -1);
    sqlite3_bind_int(st, 8, opts && opts->service);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(j->failed, sizeof(j->failed), "%s", sqlite3_errmsg(j->db));
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        j->in_tx = false;
        return -1;
    }
    int64_t id = sqlite3_last_insert_rowid(j->db);
    sqlite3_prepare_v2(j->db, "INSERT INTO rollout_nodes(rollout, idx, fleet_idx, name, wave) VALUES (?, ?, ?, ?, ?)",
                       -1, &st, NULL);
    for (uint32_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, (int)i);
        sqlite3_bind_int(st, 3, (int)nodes[i]);
        sqlite3_bind_text(st, 4, f->nodes[nodes[i]].name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, (int)waves[i]);
        step(j, st);
    }
    sqlite3_finalize(st);
    /* The rollout exists on disk before any node is touched. */
    return fu_journal_commit(j) == 0 ? id : -1;
}

/* Starts numbering a rollout's transitions after the last journaled one. */
static void select_rollout(fu_journal_t *j, int64_t rollout)
{
    if (j->rollout == rollout)
        return;
    j->rollout = rollout;
    j->seq = 0;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(j->db, "SELECT max(seq) FROM transitions WHERE rollout = ?", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, rollout);
    if (sqlite3_step(st) == SQLITE_ROW)
        j->seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
}

static void remember(fu_journal_t *j, uint32_t idx, int state, int phase, int attempts,
                     int flags, const char *reason, uint64_t at)
{
    if (idx >= j->nlatest) {
        uint32_t n = idx + 1 > 2 * j->nlatest ? idx + 1 : 2 * j->nlatest;
        j->latest = realloc(j->latest, n * sizeof(*j->latest));
        j->dirty = realloc(j->dirty, n * sizeof(*j->dirty));
        memset(j->latest + j->nlatest, 0, (n - j->nlatest) * sizeof(*j->latest));
        j->nlatest = n;
    }
    latest_t *l = &j->latest[idx];
    if (!l->dirty) {
        l->dirty = true;
        j->dirty[j->ndirty++] = idx;
    }
    l->state = state;
    l->phase = phase;
    l->attempts = attempts;
    l->flags = flags;
    l->at = at;
    free(l->reason);
    l->reason = reason ? strdup(reason) : NULL;
}

static void flush_latest(fu_journal_t *j)
{
    sqlite3_stmt *st = j->upd_node;
    for (uint32_t k = 0; k < j->ndirty; k++) {
        latest_t *l = &j->latest[j->dirty[k]];
        sqlite3_bind_int(st, 1, l->state);
        sqlite3_bind_int(st, 2, l->phase);
        sqlite3_bind_int(st, 3, l->attempts);
        sqlite3_bind_text(st, 4, l->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (int64_t)l->at);
        sqlite3_bind_int(st, 6, l->flags);
        sqlite3_bind_int64(st, 7, j->rollout);
        sqlite3_bind_int(st, 8, (int)j->dirty[k]);
        step(j, st);
        free(l->reason);
        l->reason = NULL;
        l->dirty = false;
    }
    j->ndirty = 0;
}

void fu_journal_transition(fu_journal_t *j, int64_t rollout, uint32_t idx, uint64_t at_ms,
                           int from_state, int from_phase, int to_state, int to_phase,
                           int attempts, int flags, const char *reason)
{
    begin(j);
    if (j->rollout != rollout) {
        flush_latest(j);
        select_rollout(j, rollout);
    }
    sqlite3_stmt *st = j->ins_transition;
    sqlite3_bind_int64(st, 1, rollout);
    sqlite3_bind_int64(st, 2, ++j->seq);
    sqlite3_bind_int(st, 3, (int)idx);
    sqlite3_bind_int64(st, 4, (int64_t)at_ms);
    sqlite3_bind_int(st, 5, from_state);
    sqlite3_bind_int(st, 6, from_phase);
    sqlite3_bind_int(st, 7, to_state);
    sqlite3_bind_int(st, 8, to_phase);
    sqlite3_bind_text(st, 9, reason, -1, SQLITE_TRANSIENT);
    step(j, st);
    remember(j, idx, to_state, to_phase, attempts, flags, reason, at_ms);
}

void fu_journal_inventory(fu_journal_t *j, int64_t rollout, uint32_t idx, int phase,
                          const char *component, const char *version, uint64_t at_ms)
{
    begin(j);
    sqlite3_stmt *st = j->ins_inventory;
    sqlite3_bind_int64(st, 1, rollout);
    sqlite3_bind_int(st, 2, (int)idx);
    sqlite3_bind_int(st, 3, phase);
    sqlite3_bind_text(st, 4, component, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, (int64_t)at_ms);
    step(j, st);
}

void fu_journal_event(fu_journal_t *j, int64_t rollout, uint64_t at_ms, const char *kind,
                      uint32_t wave, const char *message)
{
    begin(j);
    sqlite3_stmt *st = j->ins_event;
    sqlite3_bind_int64(st, 1, rollout);
    sqlite3_bind_int64(st, 2, (int64_t)at_ms);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, (int)wave);
    sqlite3_bind_text(st, 5, message, -1, SQLITE_TRANSIENT);
    step(j, st);
}

void fu_journal_rollout_end(fu_journal_t *j, int64_t rollout, const char *state,
                            const char *reason, int64_t wall_ms)
{
    begin(j);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(j->db, "UPDATE rollouts SET state = ?, reason = ?, finished_ms = ? WHERE id = ?",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, wall_ms);
    sqlite3_bind_int64(st, 4, rollout);
    step(j, st);
    sqlite3_finalize(st);
    fu_journal_commit(j);
}

static char *dup_col(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

static void fill_row(sqlite3_stmt *st, fu_rollout_row_t *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->fleet = dup_col(st, 1);
    r->limit = dup_col(st, 2);
    r->started_ms = sqlite3_column_int64(st, 3);
    r->finished_ms = sqlite3_column_int64(st, 4);
    r->state = dup_col(st, 5);
    r->reason = dup_col(st, 6);
    r->nodes = (uint32_t)sqlite3_column_int(st, 7);
    r->options.force_sim = sqlite3_column_int(st, 8) != 0;
    r->options.virtual_time = sqlite3_column_int(st, 9) != 0;
    r->options.sim_seed = sqlite3_column_int64(st, 10);
    r->options.service = sqlite3_column_int(st, 11) != 0;
}

static void count_states(fu_journal_t *j, fu_rollout_row_t *r)
{
    sqlite3_stmt *st;
    sqlite3_prepare_v2(j->db, "SELECT state, count(*) FROM rollout_nodes WHERE rollout = ? GROUP BY state",
                       -1, &st, NULL);
    sqlite3_bind_int64(st, 1, r->id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int s = sqlite3_column_int(st, 0);
        if (s >= 0 && s < 16)
            r->by_state[s] = (uint32_t)sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
}

#define ROLLOUT_COLS \
    "id, fleet, limit_pattern, started_ms, finished_ms, state, reason, nodes, force_sim, " \
    "virtual_time, sim_seed, service"

int fu_journal_rollout_get(fu_journal_t *j, int64_t id, fu_rollout_row_t *out)
{
    sqlite3_stmt *st;
    sqlite3_prepare_v2(j->db, "SELECT " ROLLOUT_COLS " FROM rollouts WHERE id = ?", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, id);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        fill_row(st, out);
        count_states(j, out);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

void fu_journal_row_free(fu_rollout_row_t *r)
{
    free((char *)r->fleet);
    free((char *)r->limit);
    free((char *)r->state);
    free((char *)r->reason);
}

int fu_journal_rollouts(fu_journal_t *j, fu_journal_rollout_cb cb, void *ud)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT " ROLLOUT_COLS " FROM rollouts ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        fu_rollout_row_t r;
        fill_row(st, &r);
        count_states(j, &r);
        cb(ud, &r);
        fu_journal_row_free(&r);
    }
    sqlite3_finalize(st);
    return 0;
}

int fu_journal_nodes(fu_journal_t *j, int64_t rollout, fu_journal_node_cb cb, void *ud)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT idx, name, wave, state, phase, attempts, flags, reason, at_ms"
                                  " FROM rollout_nodes WHERE rollout = ? ORDER BY idx",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, rollout);
    while (sqlite3_step(st) == SQLITE_ROW)
        cb(ud, (uint32_t)sqlite3_column_int(st, 0), (const char *)sqlite3_column_text(st, 1),
           (uint32_t)sqlite3_column_int(st, 2), sqlite3_column_int(st, 3),
           sqlite3_column_int(st, 4), sqlite3_column_int(st, 5), sqlite3_column_int(st, 6),
           (const char *)sqlite3_column_text(st, 7), (uint64_t)sqlite3_column_int64(st, 8));
    sqlite3_finalize(st);
    return 0;
}

int fu_journal_transitions(fu_journal_t *j, int64_t rollout, fu_journal_transition_cb cb, void *ud)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT idx, at_ms, from_state, from_phase, to_state, to_phase,"
                                  " reason FROM transitions WHERE rollout = ? ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, rollout);
    while (sqlite3_step(st) == SQLITE_ROW)
        cb(ud, (uint32_t)sqlite3_column_int(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
           sqlite3_column_int(st, 2), sqlite3_column_int(st, 3), sqlite3_column_int(st, 4),
           sqlite3_column_int(st, 5), (const char *)sqlite3_column_text(st, 6));
    sqlite3_finalize(st);
    return 0;
}

int fu_journal_events(fu_journal_t *j, int64_t rollout, const char *kind, fu_journal_event_cb cb,
                      void *ud)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT at_ms, message FROM events WHERE rollout = ? AND"
                                  " kind = ? ORDER BY rowid", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, rollout);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        cb(ud, (uint64_t)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return 0;
}

int fu_journal_selection(fu_journal_t *j, int64_t rollout, uint32_t *fleet_idx, uint32_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT idx, fleet_idx FROM rollout_nodes WHERE rollout = ?"
                                  " ORDER BY idx", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, rollout);
    uint32_t seen = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint32_t idx = (uint32_t)sqlite3_column_int(st, 0);
        if (idx < n) {
            fleet_idx[idx] = (uint32_t)sqlite3_column_int(st, 1);
            seen++;
        }
    }
    sqlite3_finalize(st);
    return seen == n ? 0 : -1;
}
