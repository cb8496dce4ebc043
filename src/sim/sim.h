/* sim.h: the simulator. Replays a trace on a declared cluster through the real scheduler
 * core, with a discrete-event clock: submissions, job ends, preemption stops.
 *
 * Model: a started job runs for its remaining duration (cut at its time limit, if any);
 * a preempted job stops after the grace period with its progress checkpointed, and
 * resumes later for the rest. Without a time limit in the trace the scheduler plans with the
 * true duration (an oracle): the result says so. Deterministic: same inputs, same result. */
#ifndef GANTRY_SIM_H
#define GANTRY_SIM_H

#include <stdbool.h>
#include <stdio.h>

#include "common/config.h"
#include "sim/trace.h"

typedef struct gt_sim_opts {
    bool progress;                /* a progress line on stderr every few seconds */
} gt_sim_opts_t;

typedef struct gt_sim_dist {
    double mean, p50, p95, p99;
} gt_sim_dist_t;

typedef struct gt_sim_team {
    char *name;
    double gpu_hours;             /* allocated GPU-hours */
    double share;                 /* of all allocated GPU-hours */
    double wait_mean_s;
    size_t jobs, completed;
} gt_sim_team_t;

typedef struct gt_sim_result {
    size_t jobs_total, jobs_completed, jobs_timed_out, jobs_never_fit;
    int64_t makespan_s;
    double capacity_gpus;
    double gpu_utilization;
    gt_sim_dist_t wait_s, jct_s;
    gt_sim_team_t *teams;
    size_t nteams;
    double jain_fairness;
    uint64_t preemptions, cycles, decisions;
    double unallocated_gpus_peak;
    bool oracle;                  /* planned with the true durations */
    double sim_wall_s, sched_wall_s, decisions_per_s;
    sched_params_t policy;
    char notes[512];              /* what the run had to assume, for the user */
} gt_sim_result_t;

/* Runs the trace on cfg's cluster. Returns 0 and fills out (free with gt_sim_result_free),
 * or -1 with err (unknown priority class, a job the scheduler refuses: names the trace line). */
int gt_sim_run(const gt_config_t *cfg, const gt_trace_t *trace, const gt_sim_opts_t *opts,
               gt_sim_result_t *out, gt_error_t *err);
void gt_sim_result_free(gt_sim_result_t *r);

/* Writes the result as JSON (timing: include sim_wall_s and decisions_per_s, which differ
 * from run to run) or as a table for people. */
void gt_sim_write_json(FILE *f, const gt_sim_result_t *r, bool timing);
void gt_sim_write_table(FILE *f, const gt_sim_result_t *r, bool timing);

#endif
