/* gpu_use.h: per-job GPU use and idle allocations, from the agents' NVML samples.
 *
 * Each heartbeat of an NVML node carries every GPU's utilization and memory in use, and where
 * NVML lists them its compute processes with their memory and the job each belongs to
 * (docs/agent-protocol.md). The server maps each GPU to the running jobs its placement put
 * there (the server's placement decides, not the agent's word) and counts one sample per GPU
 * per heartbeat for each: a job's mean and peak utilization and memory (job_gpu_use_t, the
 * job's "gpu_use"). A job that shares a GPU (a fraction of one) counts its own processes'
 * memory when the agent lists them, else the GPU's.
 *
 * Idle: a running job whose GPUs are all under srv->idle_threshold in every sample for
 * srv->idle_after_s is flagged idle (once per stretch: a log line, the job event "idle"
 * (events.h: message, idle_since, threshold, after_s, utilization_mean, action), and its
 * class's idle_action: requeue stops a preemptible job as a preemption does, checkpoint
 * signal first, and returns it to the queue). A sample at or above the threshold on any of its
 * GPUs ends the stretch. Declared GPUs report nothing and are never judged. Flagged stretches
 * are kept in the job (idle_spans) for the usage report's idle GPU-hours.
 *
 * Caller holds srv->mu for all. */
#ifndef GANTRY_SERVER_GPU_USE_H
#define GANTRY_SERVER_GPU_USE_H

#include "server/server.h"

/* The configuration's idle: threshold and after, and each class's idle_action (cfg may be
 * NULL: 5% for 30 minutes, report). Classes must be added before. */
void gpu_use_from_config(server_t *srv, const gt_config_t *cfg);

/* After node n's heartbeat set n->gpu_stats: the jobs of running (the heartbeat's list of
 * {job_id, incarnation}) placed on n get their samples, n->gpu_jobs is rebuilt, and a job
 * idle long enough is flagged (its class's action taken). now: the server's clock. */
void gpu_use_heartbeat(server_t *srv, node_t *n, const json_t *running, double now);

/* j's current run ends at now (it ended, or returns to the queue): a flagged stretch is kept
 * in j's idle_spans; its idle state is cleared. Touches only j (safe on a clone). */
void gpu_use_run_ended(job_t *j, double now);

/* GPU-seconds j held while flagged idle inside [t0, t1] (a stretch still open ends at now). */
double gpu_use_idle_gpu_s(const job_t *j, double t0, double t1, double now);

/* Adds j's idle GPU-hours inside [t0, t1] to row k of a usage accumulator (usage_row_add's:
 * {k: {..., "idle_gpu_hours"}}); a row without idle time gets 0. */
void gpu_use_usage_add(json_t *acc, const char *k, const job_t *j, double t0, double t1,
                       double now);

/* GET /v1/idle: the jobs flagged idle now that the caller may see. */
int api_idle(server_t *srv, http_req_t *req, http_resp_t *resp);

/* The Prometheus series of GPU use (api_metrics.c calls it under mu): per GPU
 * gantry_gpu_utilization_ratio and gantry_gpu_memory_used_bytes labelled node, gpu, job, team,
 * user (one series per job holding the GPU, empty job labels when none does); per team
 * gantry_idle_allocations and gantry_idle_gpus. */
void gpu_use_metrics(server_t *srv, gt_buf_t *b);

#endif
