/* tracking.h: experiment tracking (docs/tracking.md): the metrics a job logs, as JSON lines.
 *
 * Where they live: one file per job, DATA/metrics/ID.jsonl, append-only, one record per line:
 *   {"i": INC, "o": END, "s": STEP, "t": TIME, "m": {"loss": 1.73, ...}}   a point
 *   {"i": INC, "o": END, "bad": "why", "line": "the first bytes"}          an invalid line
 * i is the run (incarnation) it came from; o, for lines the agent shipped from the job's
 * $GANTRY_METRICS file, the byte offset in that file just after the line: the largest o of a
 * run is how much of that run's file the server has, so a chunk sent again (an agent restart, a
 * lost answer) is recognised and not doubled, and a gap is refused (as logs: 416 with the size).
 * Points sent over HTTP with the job's token have no o. The file is the series' order: a resumed
 * run's points follow the earlier run's, and a point without a step gets the previous step + 1,
 * so a run that does not count steps still continues the series.
 *
 * The job token: "gj_ID_INC_" + 64 hex digits of HMAC-SHA256(key, "gantry-job:ID:INC") with a
 * key the server keeps in DATA/job-token.key (made on first use, mode 0600). It names one run
 * of one job; the API accepts it only for POST /v1/jobs/ID/metrics while that run is running.
 *
 * Thread-safe: one lock for the table of jobs, one per job for its file. */
#ifndef GANTRY_SERVER_TRACKING_H
#define GANTRY_SERVER_TRACKING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/util.h"

#define TRACKING_LINE_MAX 65536      /* a line longer than this is invalid */
#define TRACKING_CHUNK_MAX (256 * 1024) /* bytes of one shipped chunk or HTTP body */
#define TRACKING_TOKEN_MAX 128
#define TRACKING_BAD_KEPT 20         /* invalid lines described in a read (the latest ones) */

typedef struct tracking tracking_t;

/* Opens (creating) DATA/metrics and the token key. NULL with err when it cannot. */
tracking_t *tracking_open(const char *data_dir, gt_error_t *err);
void tracking_close(tracking_t *t); /* accepts NULL */

/* ---- the job token ---- */
/* Writes the token of run inc of job id into out[TRACKING_TOKEN_MAX]. */
void tracking_job_token(tracking_t *t, uint64_t id, int inc, char *out);
/* Whether tok is a token this server made; *id and *inc the run it names. */
bool tracking_token_check(tracking_t *t, const char *tok, uint64_t *id, int *inc);

/* ---- one line (pure: unit-tested) ---- */
/* Parses one line (without its newline) of a job's metrics: a JSON object whose number values
 * are metrics, with an optional "step" (a whole number >= 0) and "time" (seconds since the
 * epoch). Values of other types are left out of the point. On success *point is a new object
 * {metric: value} with at least one metric, *step the step (-1: none) and *time the time (0:
 * none), and 0 is returned; otherwise -1 and *why says what is wrong (a static string). */
int tracking_parse_line(const char *line, size_t len, json_t **point, int64_t *step,
                        double *time, const char **why);

/* ---- ingestion ---- */
/* A chunk of run inc's $GANTRY_METRICS file, from byte offset `offset`, shipped by the agent:
 * whole lines (final: the run is over, a last line without its newline counts too). Lines the
 * server has already (offset + their length <= what it has of that run) are skipped; the rest
 * are appended as points or invalid lines. Returns 0 with *have the bytes of that run's file
 * the server now has; 1 when offset is beyond that (*have says from where to send); -1 with
 * err (the disk). */
int tracking_ingest_chunk(tracking_t *t, uint64_t id, int inc, int64_t offset,
                          const char *data, size_t len, bool final, int64_t *have,
                          gt_error_t *err);
/* Points sent over HTTP for run inc: body holds JSON lines (one object per line). *taken and
 * *invalid count them. -1 with err (the disk). */
int tracking_ingest_http(tracking_t *t, uint64_t id, int inc, const char *body, size_t len,
                         int *taken, int *invalid, gt_error_t *err);

/* ---- reading ---- */
typedef struct tracking_read {
    json_t *points;      /* [{step, incarnation, time, superseded?, metric: value...}] */
    json_t *summary;     /* {metric: {last, last_step, min, max, count, better}}: points not
                            superseded; better: "min" or "max" (tracking_lower_is_better) */
    json_t *bad;         /* the latest TRACKING_BAD_KEPT invalid lines [{incarnation, offset,
                            why, line}] */
    int64_t invalid;     /* invalid lines in what was read */
    int64_t next;        /* where to read from next time (a byte offset in the job's file) */
} tracking_read_t;
/* Reads job id's records from byte offset from (0: all) up to max_points points (more: next
 * says where to go on). With from == 0 and all read, a point of an earlier run at or after the
 * first step of a later run is marked "superseded" (the later run went back to a checkpoint
 * and did those steps again) and left out of the summary. A job with no metrics reads as
 * empty. 0, or -1 with err; free with tracking_read_free. */
int tracking_read(tracking_t *t, uint64_t id, int64_t from, int64_t max_points,
                  tracking_read_t *out, gt_error_t *err);
void tracking_read_free(tracking_read_t *r);
/* Whether lower values of this metric are better (its name says loss, error, perplexity,
 * ...: the default of `gantry compare`'s best). */
bool tracking_lower_is_better(const char *metric);

/* Removes job id's metrics (retention). */
void tracking_forget(tracking_t *t, uint64_t id);

#endif
