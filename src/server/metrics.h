/* metrics.h: the server's counters and histograms, by Prometheus's conventions, bumped where
 * things happen and written out by GET /v1/metrics (api_metrics.c, which adds the gauges it
 * reads from the server's state at scrape time).
 *
 * The families are fixed (metrics.c's table): a counter's name ends in _total, a histogram's
 * carries its base unit (_seconds), and a family has at most one label, whose key the caller
 * names too so that a call site reads as the series it bumps:
 *     metrics_count(m, "gantry_jobs_finished_total", "outcome", "succeeded");
 *     metrics_observe(m, "gantry_job_wait_seconds", 42.5);
 * A name or label key not in the table is a programming error: the process aborts with the
 * name (cheap, always on). Values live in memory only: they start at 0 when the server starts,
 * as Prometheus expects of counters (rate() handles the reset).
 *
 * Safe from any thread, with or without srv->mu held (an own lock, never held across other
 * calls). */
#ifndef GANTRY_METRICS_H
#define GANTRY_METRICS_H

#include <jansson.h>

#include "common/util.h"

typedef struct metrics metrics_t;

metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);   /* accepts NULL */

/* Adds 1 to counter name's series {key="value"}; key and value NULL for a family without a
 * label. A label value is created at its first count (a family with a fixed set of values
 * shows them all at 0 from the start: metrics.c lists them). */
void metrics_count(metrics_t *m, const char *name, const char *key, const char *value);
/* Records one observation (in the family's base unit) into histogram name. */
void metrics_observe(metrics_t *m, const char *name, double v);
/* The value of a counter's series (0 when never counted), or of a histogram's _count when key
 * is NULL: for tests and for gantry top. */
double metrics_value(metrics_t *m, const char *name, const char *key, const char *value);
/* Appends every family (HELP, TYPE, samples) in the text format 0.0.4. */
void metrics_write(metrics_t *m, gt_buf_t *b);

/* Helpers for the exposition (api_metrics.c and the modules that add their own gauges). */
/* A label value with \ " and newline escaped, as the format asks. */
void metrics_label(gt_buf_t *b, const char *v);
/* "# HELP name help\n# TYPE name type\n". */
void metrics_family(gt_buf_t *b, const char *name, const char *type, const char *help);

struct server;
struct job;
/* The job-life counters and the wait histogram, from one job event (events.h's types:
 * submitted, started, preempted, requeued, finished, failed, cancelled, oom, time_limit...).
 * Called by server_job_event() with srv->mu held; detail may be NULL. */
void metrics_job_event(struct server *srv, const struct job *j, const char *type,
                       const json_t *detail);

#endif
