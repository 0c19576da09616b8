/* Rollout reports from the journal: JSON, JUnit XML, CSV, and one self-contained HTML
 * page with a summary, the waves, an SVG timeline of every node's phases and the failures. */
#ifndef FU_REPORT_H
#define FU_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "core/journal.h"

typedef enum { FU_REPORT_JSON, FU_REPORT_JUNIT, FU_REPORT_CSV, FU_REPORT_HTML } fu_report_format_t;

/* Writes the report of rollout id. Returns 0, or -1 with a message in err. */
int fu_report_write(fu_journal_t *j, int64_t id, fu_report_format_t fmt, FILE *out, char *err,
                    size_t errlen);
/* The same from a journal file's path. */
int fu_report_write_path(const char *journal_db, int64_t id, fu_report_format_t fmt, FILE *out,
                         char *err, size_t errlen);
int fu_report_format_parse(const char *s, fu_report_format_t *out);
/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break;
 * NULL writes an empty field. */
void fu_csv_field(FILE *out, const char *s);

#endif
