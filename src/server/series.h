/* series.h: the server's own time series, so that the dashboard needs no Prometheus.
 *
 * Every interval (config `series: {interval: 1m}`, `gantry server --series-interval`) a thread
 * takes one point of the cluster's state under the server's lock: GPUs by state (allocated;
 * free on schedulable nodes; unavailable: free GPUs on nodes down, drained or cordoned; total),
 * the mean utilization of the GPUs that report one (NVML nodes, 0 to 1), jobs running and
 * pending, pending jobs by reason (the scheduler's reasons and the gate's: held, dependency...),
 * and per team its quota, allocated and borrowed GPUs (allocated above quota).
 *
 * A point is a nested JSON object of numbers, as GET /v1/series answers a column:
 *   {"gpus": {"allocated", "free", "unavailable", "total"}, "utilization",
 *    "jobs": {"running", "pending"}, "pending": {REASON: n}, "teams": {NAME: {"quota",
 *    "allocated", "borrowed"}}}
 * Points live in memory (GET /v1/series reads nothing else) and in the store (its series
 * table: one kept write per point). Raw points are kept for the retention (`series:
 * {retention: 14d}`); after it, each whole hour of them becomes one hourly point (the mean of
 * each number over the points that have it), kept SERIES_HOURLY_KEEP_S; older ones are deleted.
 *
 * The series_t functions are the model (no server, no clock, no store: unit-tested); the
 * server's part (sampling thread, loading, the API) is below them. */
#ifndef GANTRY_SERIES_H
#define GANTRY_SERIES_H

#include <jansson.h>
#include <stdint.h>

#include "common/util.h"
#include "server/store.h"

#define SERIES_DEFAULT_INTERVAL_S 60
#define SERIES_DEFAULT_RETENTION_S (14 * 86400)
#define SERIES_HOURLY_KEEP_S (366 * 86400)
#define SERIES_MAX_POINTS 5000        /* the most points one GET /v1/series answers */
#define SERIES_DEFAULT_POINTS 720     /* points= when absent */

typedef struct series series_t;

/* A new, empty series: raw points every interval_s (>= 1) kept retention_s (>= interval_s). */
series_t *series_new(int64_t interval_s, int64_t retention_s);
void series_free(series_t *s);
int64_t series_interval(const series_t *s);
/* Adds a point of resolution res (0 raw, 1 hourly) at time t from its nested JSON object (only
 * numbers are kept; other values are skipped). Points come in time order; one at or before the
 * last point's time replaces nothing and is refused: -1 (EINVAL). */
int series_add(series_t *s, int res, int64_t t, const json_t *point);
/* Points held (raw and hourly together). */
size_t series_count(const series_t *s);
/* Ages the series at time now: raw points older than the retention, each whole hour of them,
 * become one hourly point; hourly points older than SERIES_HOURLY_KEEP_S are dropped. The
 * store writes that do the same are appended to *ops (GT_GROW'd, *nops counted, strings from
 * malloc: the caller frees each op's d and the array). Returns how many points changed. */
size_t series_compact(series_t *s, int64_t now, store_op_t **ops, size_t *nops, size_t *cap);
/* The points with since <= t <= until as columns: {"interval", "since", "until", "step",
 * "time": [t...], then the point's keys, each an array of numbers or null (no value then)}.
 * More than max_points points are averaged into max_points buckets of `step` seconds (a
 * multiple of the interval), each at its first second. A new object. */
json_t *series_query(const series_t *s, int64_t since, int64_t until, size_t max_points);

/* Per job, while it runs: the mean utilization (0-1) and the memory in use (MiB, summed) of its
 * GPUs at each point, from the agents' NVML heartbeats (jobs on declared GPUs have none). Kept
 * in memory only (a restart starts them again), at most SERIES_JOB_POINTS per job: when full,
 * each two neighbours become one (their mean), so a long job keeps its whole life at a coarser
 * step. series_job_forget drops a job's (purged). */
#define SERIES_JOB_POINTS 240
void series_job_add(series_t *s, uint64_t job, int64_t t, double util, double mem_mib);
void series_job_forget(series_t *s, uint64_t job);
/* The jobs with a history (for the server to forget purged ones): ids[0..n) (a new array). */
size_t series_job_ids(series_t *s, uint64_t **ids);
/* {"job", "time": [...], "utilization": [...], "memory_used_mib": [...]} (empty arrays when the
 * job has none). A new object. */
json_t *series_job_query(series_t *s, uint64_t job);

/* ---- the server's part (server.h's server_t) ---- */
struct server;
/* One point of the server's state now (a new object). Caller holds srv->mu. */
json_t *series_sample(struct server *srv);
/* Loads the stored points into srv->series (created with the server's interval and
 * retention). 0, or -1 with err. */
int series_load(struct server *srv, gt_error_t *err);
/* Starts the sampling thread (a point at once, then every interval); series_stop joins it. */
int series_start(struct server *srv, gt_error_t *err);
void series_stop(struct server *srv);
/* GET /v1/series?since=T&until=T&points=N (T: epoch seconds, RFC 3339, or a duration ago such
 * as 6h; defaults: the last 6 hours to now, SERIES_DEFAULT_POINTS); GET /v1/series?job=ID: that
 * job's GPU history (404 when the caller may not see the job, as GET /v1/jobs/ID). */
struct http_req;
struct http_resp;
int api_series(struct server *srv, struct http_req *req, struct http_resp *resp);

#endif
