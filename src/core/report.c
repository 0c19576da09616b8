/* Reports: one pass over the journal into memory (nodes, their phase spans, events),
 * then one writer per format. Node states and phases are the scheduler's numbers. */
#include "core/report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jsonw.h"
#include "core/scheduler.h"

typedef struct {
    uint64_t start, end;
    uint8_t phase, state; /* state the node was in during the span (active, waiting, retry) */
} span_t;

typedef struct {
    char *name, *reason;
    uint32_t wave;
    int state, phase, attempts;
    uint64_t at;
    span_t *spans;
    uint32_t nspans, cap;
    uint64_t open_start; /* start of the current span */
    int open_state, open_phase;
} rnode_t;

typedef struct {
    fu_rollout_row_t row;
    rnode_t *nodes;
    uint32_t n, cap;
    uint32_t nwaves;
    uint64_t end; /* last transition time */
    char *warnings[8]; /* e.g. BMCs whose certificates were not checked */
    uint32_t nwarnings;
} report_t;

static void on_node(void *ud, uint32_t idx, const char *name, uint32_t wave, int state, int phase,
                    int attempts, int flags, const char *reason, uint64_t at)
{
    (void)flags;
    report_t *r = ud;
    if (idx >= r->n)
        return;
    rnode_t *n = &r->nodes[idx];
    n->name = strdup(name ? name : "?");
    n->reason = reason ? strdup(reason) : NULL;
    n->wave = wave;
    n->state = state;
    n->phase = phase;
    n->attempts = attempts;
    n->at = at;
    if (wave + 1 > r->nwaves)
        r->nwaves = wave + 1;
}

static void on_transition(void *ud, uint32_t idx, uint64_t at, int fs, int fp, int ts, int tp,
                          const char *reason)
{
    report_t *r = ud;
    (void)fp, (void)reason;
    if (idx >= r->n)
        return;
    rnode_t *n = &r->nodes[idx];
    if (at > r->end)
        r->end = at;
    if (fs == FU_NS_ACTIVE || fs == FU_NS_WAITING || fs == FU_NS_RETRY) {
        if (n->nspans == n->cap) {
            n->cap = n->cap ? n->cap * 2 : 8;
            n->spans = realloc(n->spans, n->cap * sizeof(span_t));
        }
        n->spans[n->nspans++] = (span_t){n->open_start, at, (uint8_t)n->open_phase, (uint8_t)fs};
    }
    n->open_start = at;
    n->open_state = ts;
    n->open_phase = tp;
}

static void report_free(report_t *r)
{
    for (uint32_t i = 0; i < r->n; i++) {
        free(r->nodes[i].name);
        free(r->nodes[i].reason);
        free(r->nodes[i].spans);
    }
    free(r->nodes);
    fu_journal_row_free(&r->row);
    for (uint32_t i = 0; i < r->nwarnings; i++)
        free(r->warnings[i]);
}

static void on_warning(void *ud, uint64_t at, const char *message)
{
    report_t *r = ud;
    (void)at;
    if (message && r->nwarnings < 8)
        r->warnings[r->nwarnings++] = strdup(message);
}

static int load(fu_journal_t *j, int64_t id, report_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    if (fu_journal_rollout_get(j, id, &r->row) != 0) {
        snprintf(err, errlen, "no rollout %lld in this state directory (see 'fleetup history')",
                 (long long)id);
        return -1;
    }
    r->n = r->row.nodes;
    r->nodes = calloc(r->n + 1, sizeof(rnode_t));
    fu_journal_nodes(j, id, on_node, r);
    fu_journal_transitions(j, id, on_transition, r);
    fu_journal_events(j, id, "warning", on_warning, r);
    return 0;
}

static const char *state_name(int s)
{
    return fu_node_state_name((fu_node_state_t)s);
}

static const char *phase_name(int p)
{
    return fu_phase_name((fu_phase_t)p);
}

/* ---- JSON ---- */

static void write_json(const report_t *r, FILE *out)
{
    fu_jsonw_t *w = malloc(sizeof(*w));
    fu_jsonw_init(w, out);
    fu_jsonw_begin(w, '{');
    fu_jsonw_key(w, "rollout");
    fu_jsonw_int(w, r->row.id);
    fu_jsonw_key(w, "fleet");
    fu_jsonw_str(w, r->row.fleet);
    fu_jsonw_key(w, "state");
    fu_jsonw_str(w, r->row.state);
    fu_jsonw_key(w, "reason");
    fu_jsonw_str(w, r->row.reason);
    fu_jsonw_key(w, "warnings");
    fu_jsonw_begin(w, '[');
    for (uint32_t i = 0; i < r->nwarnings; i++)
        fu_jsonw_str(w, r->warnings[i]);
    fu_jsonw_end(w, ']');
    fu_jsonw_key(w, "started_ms");
    fu_jsonw_int(w, r->row.started_ms);
    fu_jsonw_key(w, "finished_ms");
    fu_jsonw_int(w, r->row.finished_ms);
    fu_jsonw_key(w, "duration_ms");
    fu_jsonw_int(w, (long long)r->end);
    fu_jsonw_key(w, "summary");
    fu_jsonw_begin(w, '{');
    for (int s = 0; s < FU_NS__COUNT; s++) {
        fu_jsonw_key(w, state_name(s));
        fu_jsonw_int(w, r->row.by_state[s]);
    }
    fu_jsonw_end(w, '}');
    fu_jsonw_key(w, "nodes");
    fu_jsonw_begin(w, '[');
    for (uint32_t i = 0; i < r->n; i++) {
        const rnode_t *n = &r->nodes[i];
        fu_jsonw_raw(w, w->comma ? ",\n  " : "\n  ");
        w->comma = false;
        fu_jsonw_begin(w, '{');
        fu_jsonw_key(w, "name");
        fu_jsonw_str(w, n->name);
        fu_jsonw_key(w, "wave");
        fu_jsonw_int(w, n->wave + 1);
        fu_jsonw_key(w, "state");
        fu_jsonw_str(w, state_name(n->state));
        fu_jsonw_key(w, "phase");
        fu_jsonw_str(w, phase_name(n->phase));
        fu_jsonw_key(w, "attempts");
        fu_jsonw_int(w, n->attempts);
        fu_jsonw_key(w, "reason");
        fu_jsonw_str(w, n->reason);
        fu_jsonw_key(w, "at_ms");
        fu_jsonw_int(w, (long long)n->at);
        fu_jsonw_end(w, '}');
    }
    fu_jsonw_raw(w, "\n]");
    fu_jsonw_end(w, '}');
    fu_jsonw_raw(w, "\n");
    fu_jsonw_flush(w);
    free(w);
}

/* ---- escaping ---- */

static void xml_escaped(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                fputc(*s, out);
        }
    }
}

void fu_csv_field(FILE *out, const char *s)
{
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* ---- JUnit ---- */

static void write_junit(const report_t *r, FILE *out)
{
    uint32_t failures = r->row.by_state[FU_NS_FAILED] + r->row.by_state[FU_NS_UNREACHABLE];
    uint32_t skipped = r->row.by_state[FU_NS_CANCELLED] + r->row.by_state[FU_NS_PENDING];
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(out, "<testsuites name=\"fleetup rollout %lld\" tests=\"%u\" failures=\"%u\" skipped=\"%u\" time=\"%.3f\">\n",
            (long long)r->row.id, r->n, failures, skipped, r->end / 1000.0);
    for (uint32_t w = 0; w < r->nwaves; w++) {
        uint32_t tests = 0, fails = 0, skips = 0;
        for (uint32_t i = 0; i < r->n; i++)
            if (r->nodes[i].wave == w) {
                tests++;
                fails += r->nodes[i].state == FU_NS_FAILED || r->nodes[i].state == FU_NS_UNREACHABLE;
                skips += r->nodes[i].state == FU_NS_CANCELLED || r->nodes[i].state == FU_NS_PENDING;
            }
        fprintf(out, "  <testsuite name=\"wave %u\" tests=\"%u\" failures=\"%u\" skipped=\"%u\">\n",
                w + 1, tests, fails, skips);
        for (uint32_t i = 0; i < r->n; i++) {
            const rnode_t *n = &r->nodes[i];
            if (n->wave != w)
                continue;
            uint64_t first = n->nspans ? n->spans[0].start : n->at;
            fprintf(out, "    <testcase classname=\"wave %u\" name=\"", w + 1);
            xml_escaped(out, n->name);
            fprintf(out, "\" time=\"%.3f\">", n->at > first ? (n->at - first) / 1000.0 : 0.0);
            if (n->state == FU_NS_FAILED || n->state == FU_NS_UNREACHABLE) {
                fprintf(out, "<failure type=\"%s\" message=\"", state_name(n->state));
                xml_escaped(out, n->reason ? n->reason : state_name(n->state));
                fprintf(out, "\"/>");
            } else if (n->state == FU_NS_CANCELLED || n->state == FU_NS_PENDING) {
                fprintf(out, "<skipped message=\"");
                xml_escaped(out, n->reason ? n->reason : "not started");
                fprintf(out, "\"/>");
            } else if (n->state == FU_NS_SKIPPED) {
                fprintf(out, "<system-out>already current</system-out>");
            }
            fprintf(out, "</testcase>\n");
        }
        fprintf(out, "  </testsuite>\n");
    }
    fprintf(out, "</testsuites>\n");
}

/* ---- CSV ---- */

static void write_csv(const report_t *r, FILE *out)
{
    fprintf(out, "node,wave,state,phase,attempts,finished_at_ms,reason\n");
    for (uint32_t i = 0; i < r->n; i++) {
        const rnode_t *n = &r->nodes[i];
        fu_csv_field(out, n->name);
        fprintf(out, ",%u,%s,%s,%d,%llu,", n->wave + 1, state_name(n->state), phase_name(n->phase),
                n->attempts, (unsigned long long)n->at);
        fu_csv_field(out, n->reason);
        fputc('\n', out);
    }
}

/* ---- HTML ---- */

#define TIMELINE_MAX_NODES 1500

static const char *const phase_colors[FU_PHASE__COUNT] = {"#9ecae1", "#6baed6", "#fdae6b",
                                                          "#e6550d", "#a1d99b", "#31a354"};

static void html_head(const report_t *r, FILE *out)
{
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                 "<title>fleetup rollout %lld</title>\n<style>\n"
                 "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
                 "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}"
                 "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}"
                 "th{background:#f4f4f4}.num{text-align:right}.cards{display:flex;gap:1em;flex-wrap:wrap}"
                 ".card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:7em}"
                 ".card b{display:block;font-size:1.6em}.bad b{color:#c0392b}.ok b{color:#27ae60}"
                 ".legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}"
                 ".warning{background:#fff3cd;border:1px solid #e0b04c;border-radius:6px;padding:.5em 1em}"
                 "</style></head><body>\n",
            (long long)r->row.id);
    fprintf(out, "<h1>fleetup rollout %lld</h1>\n<p>Fleet <code>", (long long)r->row.id);
    xml_escaped(out, r->row.fleet);
    fprintf(out, "</code>");
    if (r->row.limit) {
        fprintf(out, ", limited to <code>");
        xml_escaped(out, r->row.limit);
        fprintf(out, "</code>");
    }
    time_t started = (time_t)(r->row.started_ms / 1000);
    char ts[64];
    struct tm tm;
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&started, &tm));
    fprintf(out, ". Started %s; state <b>", ts);
    xml_escaped(out, r->row.state);
    fprintf(out, "</b>");
    if (r->row.reason) {
        fprintf(out, ": ");
        xml_escaped(out, r->row.reason);
    }
    fprintf(out, ". Rollout time %.1f s.</p>\n", r->end / 1000.0);
    for (uint32_t i = 0; i < r->nwarnings; i++) {
        fprintf(out, "<p class=\"warning\">Warning: ");
        xml_escaped(out, r->warnings[i]);
        fprintf(out, "</p>\n");
    }
}

static void html_summary(const report_t *r, FILE *out)
{
    fprintf(out, "<h2>Summary</h2>\n<div class=\"cards\">\n");
    fprintf(out, "<div class=\"card\"><b>%u</b>nodes</div>\n", r->n);
    static const int order[] = {FU_NS_DONE, FU_NS_SKIPPED, FU_NS_FAILED, FU_NS_UNREACHABLE,
                                FU_NS_CANCELLED};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        int s = order[k];
        uint32_t count = r->row.by_state[s];
        const char *cls = (s == FU_NS_FAILED || s == FU_NS_UNREACHABLE) && count ? "bad"
                          : s == FU_NS_DONE && count                            ? "ok"
                                                                                : "";
        fprintf(out, "<div class=\"card %s\"><b>%u</b>%s</div>\n", cls, count,
                s == FU_NS_SKIPPED ? "already current" : s == FU_NS_CANCELLED ? "not started"
                                                                              : state_name(s));
    }
    fprintf(out, "</div>\n<h2>Waves</h2>\n<table><tr><th>wave</th><th class=\"num\">nodes</th>"
                 "<th class=\"num\">done</th><th class=\"num\">skipped</th><th class=\"num\">failed</th>"
                 "<th class=\"num\">unreachable</th><th class=\"num\">cancelled</th><th class=\"num\">first start (s)</th>"
                 "<th class=\"num\">last end (s)</th></tr>\n");
    for (uint32_t w = 0; w < r->nwaves; w++) {
        uint32_t c[FU_NS__COUNT] = {0}, total = 0;
        uint64_t first = UINT64_MAX, last = 0;
        for (uint32_t i = 0; i < r->n; i++) {
            const rnode_t *n = &r->nodes[i];
            if (n->wave != w)
                continue;
            total++;
            if (n->state >= 0 && n->state < FU_NS__COUNT)
                c[n->state]++;
            if (n->nspans && n->spans[0].start < first)
                first = n->spans[0].start;
            if (n->at > last)
                last = n->at;
        }
        fprintf(out, "<tr><td>%u</td><td class=\"num\">%u</td><td class=\"num\">%u</td><td class=\"num\">%u</td>"
                     "<td class=\"num\">%u</td><td class=\"num\">%u</td><td class=\"num\">%u</td>",
                w + 1, total, c[FU_NS_DONE], c[FU_NS_SKIPPED], c[FU_NS_FAILED], c[FU_NS_UNREACHABLE],
                c[FU_NS_CANCELLED]);
        if (first == UINT64_MAX)
            fprintf(out, "<td class=\"num\">-</td><td class=\"num\">-</td></tr>\n");
        else
            fprintf(out, "<td class=\"num\">%.1f</td><td class=\"num\">%.1f</td></tr>\n",
                    first / 1000.0, last / 1000.0);
    }
    fprintf(out, "</table>\n");
}

/* One row per node (failures first when there are too many to draw), one rectangle per
 * phase span, x in rollout time. */
static void html_timeline(const report_t *r, FILE *out)
{
    uint32_t *rows = malloc((r->n + 1) * sizeof(uint32_t)), nrows = 0;
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < r->n && nrows < TIMELINE_MAX_NODES; i++) {
            bool bad = r->nodes[i].state == FU_NS_FAILED || r->nodes[i].state == FU_NS_UNREACHABLE;
            if ((pass == 0) == bad)
                rows[nrows++] = i;
        }
    const double width = 1000.0, label = 160.0;
    const int row_h = r->n > 300 ? 4 : 14;
    double scale = r->end ? width / (double)r->end : 0;
    fprintf(out, "<h2>Timeline</h2>\n<p class=\"legend\">");
    for (int p = 0; p < FU_PHASE__COUNT; p++)
        fprintf(out, "<span><i style=\"background:%s\"></i>%s</span>", phase_colors[p], phase_name(p));
    fprintf(out, "<span><i style=\"background:#ccc\"></i>waiting or retry</span></p>\n");
    if (nrows < r->n)
        fprintf(out, "<p>%u of %u nodes shown (failures first).</p>\n", nrows, r->n);
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%d\" "
                 "font-size=\"10\">\n", label + width + 10, nrows * row_h + 20);
    for (uint32_t k = 0; k < nrows; k++) {
        const rnode_t *n = &r->nodes[rows[k]];
        int y = (int)k * row_h;
        if (row_h >= 10) {
            fprintf(out, "<text x=\"0\" y=\"%d\">", y + row_h - 3);
            xml_escaped(out, n->name);
            fprintf(out, "</text>");
        }
        for (uint32_t s = 0; s < n->nspans; s++) {
            const span_t *sp = &n->spans[s];
            double x = label + sp->start * scale, w = (sp->end - sp->start) * scale;
            const char *color = sp->state == FU_NS_ACTIVE && sp->phase < FU_PHASE__COUNT
                                    ? phase_colors[sp->phase]
                                    : "#ccc";
            fprintf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
                         "<title>%s %s %.1f-%.1f s</title></rect>",
                    x, y, w < 0.5 ? 0.5 : w, row_h - 1, color, phase_name(sp->phase),
                    state_name(sp->state), sp->start / 1000.0, sp->end / 1000.0);
        }
        if (n->state == FU_NS_FAILED || n->state == FU_NS_UNREACHABLE)
            fprintf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"3\" height=\"%d\" fill=\"#c0392b\"/>",
                    label + n->at * scale, y, row_h - 1);
        fputc('\n', out);
    }
    fprintf(out, "<text x=\"%.0f\" y=\"%d\">0 s</text><text x=\"%.0f\" y=\"%d\" text-anchor=\"end\">%.1f s</text>\n",
            label, nrows * row_h + 15, label + width, nrows * row_h + 15, r->end / 1000.0);
    fprintf(out, "</svg>\n");
    free(rows);
}

static void html_failures(const report_t *r, FILE *out)
{
    uint32_t bad = r->row.by_state[FU_NS_FAILED] + r->row.by_state[FU_NS_UNREACHABLE];
    fprintf(out, "<h2>Failures (%u)</h2>\n", bad);
    if (bad == 0) {
        fprintf(out, "<p>None.</p>\n");
        return;
    }
    fprintf(out, "<table><tr><th>node</th><th>wave</th><th>state</th><th>phase</th>"
                 "<th class=\"num\">retries</th><th>reason</th></tr>\n");
    for (uint32_t i = 0; i < r->n; i++) {
        const rnode_t *n = &r->nodes[i];
        if (n->state != FU_NS_FAILED && n->state != FU_NS_UNREACHABLE)
            continue;
        fprintf(out, "<tr><td>");
        xml_escaped(out, n->name);
        fprintf(out, "</td><td>%u</td><td>%s</td><td>%s</td><td class=\"num\">%d</td><td>",
                n->wave + 1, state_name(n->state), phase_name(n->phase), n->attempts);
        xml_escaped(out, n->reason);
        fprintf(out, "</td></tr>\n");
    }
    fprintf(out, "</table>\n");
}

static void write_html(const report_t *r, FILE *out)
{
    html_head(r, out);
    html_summary(r, out);
    html_timeline(r, out);
    html_failures(r, out);
    fprintf(out, "<p style=\"color:#888;margin-top:3em\">fleetup %s</p></body></html>\n", FU_VERSION);
}

int fu_report_format_parse(const char *s, fu_report_format_t *out)
{
    static const char *const names[] = {"json", "junit", "csv", "html"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (fu_report_format_t)i;
            return 0;
        }
    return -1;
}

int fu_report_write(fu_journal_t *j, int64_t id, fu_report_format_t fmt, FILE *out, char *err,
                    size_t errlen)
{
    report_t r;
    if (load(j, id, &r, err, errlen) != 0)
        return -1;
    switch (fmt) {
    case FU_REPORT_JSON: write_json(&r, out); break;
    case FU_REPORT_JUNIT: write_junit(&r, out); break;
    case FU_REPORT_CSV: write_csv(&r, out); break;
    case FU_REPORT_HTML: write_html(&r, out); break;
    }
    report_free(&r);
    return ferror(out) ? -1 : 0;
}

int fu_report_write_path(const char *journal_db, int64_t id, fu_report_format_t fmt, FILE *out,
                         char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", journal_db);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || strcmp(slash, "/journal.db") != 0) {
        snprintf(err, errlen, "'%s' is not a state directory's journal.db", journal_db);
        return -1;
    }
    *slash = '\0';
    fu_journal_t *j = fu_journal_open(dir, err, errlen);
    if (j == NULL)
        return -1;
    int rc = fu_report_write(j, id, fmt, out, err, errlen);
    fu_journal_close(j);
    return rc;
}
