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
#include "sched/sched.h"
#include "sim/trace.h"

typedef struct gt_sim_opts {
    bool progress;                /* a progress line on stderr every few seconds */
    /* The honest FIFO baseline (`--policy fifo`): every job in one queue by submission time
     * (one priority tier: the default class, FIFO order), no fair share, no quotas or limits,
     * no backfill or reservations, no preemption; the placement stays the config's. The
     * caller's cfg->params are overridden for the run. */
    bool fifo;
    /* Jobs write a checkpoint every this many seconds of a run (0: when told to stop, so a
     * preemption loses no work). A preempted job resumes from its last checkpoint: the work
     * since is lost and done again. */
    int64_t checkpoint_every_s;
    bool jobs;                    /* fill gt_sim_result_t.jobs (per-job records) */
    FILE *starts_out;             /* NULL, or a line per start: "TIME ID NODE:GPU,GPU ..."
                                     (the trace's id; GPU indexes on each node of the gang) */
} gt_sim_opts_t;

typedef struct gt_sim_dist {
    double mean, p50, p95, p99;
} gt_sim_dist_t;

typedef struct gt_sim_team {
    char *name;
    double gpu_hours;             /* allocated GPU-hours */
    double share;                 /* of all allocated GPU-hours */
    double wait_mean_s;           /* of its ended jobs, each to its last start */
    size_t jobs, completed;
    double quota_gpus;            /* its guaranteed GPUs (all types together) */
    /* Guarantee: a job is within quota when, at its submission, its GPUs and those of its
     * team's jobs submitted before and not yet ended (pending or running) fit the team's
     * quota. It is served in time when it first starts within the grace period of its
     * submission. Attainment = GPUs of the within-quota jobs served in time / GPUs of all its
     * within-quota jobs; -1 when the team had none (no quota, or never within it). */
    size_t guarantee_jobs, guarantee_late;
    double guarantee_attainment;
    /* Time lost to preemption: preemptions of its jobs, their waits in the queue again after
     * each stop (to the restart), and the GPU-seconds of work lost (redone) */
    uint64_t preempted;
    double requeued_wait_s, lost_gpu_s;
} gt_sim_team_t;

/* One job of the trace, as it went (times in seconds of the trace; -1: never happened). */
typedef struct gt_sim_job {
    const char *id;               /* the trace's id (owned by the trace) */
    int team;                     /* index into gt_sim_result_t.teams */
    const char *cls;              /* its priority class as it ran (owned by the result) */
    int64_t gpus_milli;
    int64_t submit, first_start, last_start, end;
    double wait_s;                /* queued time to its last start: first wait + requeued */
    double first_wait_s;
    double jct_s;                 /* end - submit; -1 when it never ended */
    uint32_t preemptions;
    double lost_gpu_s;
} gt_sim_job_t;

typedef struct gt_sim_result {
    size_t jobs_total, jobs_completed, jobs_timed_out, jobs_never_fit;
    int64_t makespan_s;
    double capacity_gpus;
    double gpu_utilization;
    gt_sim_dist_t wait_s;         /* queued time to the last start (requeued waits counted) */
    gt_sim_dist_t first_wait_s;   /* submission to the first start */
    gt_sim_dist_t jct_s;
    gt_sim_team_t *teams;
    size_t nteams;
    double jain_fairness;
    uint64_t preemptions, cycles, decisions;
    uint64_t defrag_moves;        /* of the preemptions, jobs moved to defragment */
    double requeued_wait_s, lost_gpu_s;   /* over all teams */
    double guarantee_attainment_min;      /* the lowest team's, -1 when no team had any */
    const char *policy_name;              /* "fifo" (--policy fifo) or "config" */
    int64_t checkpoint_every_s;           /* the run's opts->checkpoint_every_s */
    gt_sim_job_t *jobs;                   /* opts->jobs: one per trace job, in trace order */
    size_t njobs;
    char **class_names;                   /* owned: the classes jobs[].cls points into */
    int nclass_names;
    uint64_t quiet_cycles;        /* passes skipped: nothing could have changed */
    /* what woke the scheduler, for each pass run or skipped (they sum to cycles +
     * quiet_cycles): a submission (with or without ends at the same second), an end or a
     * preempted job's stop, or the core's wakeup (sched_next_wakeup_why) */
    uint64_t passes_submission, passes_end, passes_wake[SCHED_WAKE_COUNT];
    uint64_t jobs_examined;       /* pending jobs the passes looked at, in all */
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
/* Writes r->jobs as CSV with a header: id,team,class,gpus,submit,first_start,last_start,end,
 * wait_s,jct_s,preemptions,lost_gpu_s (empty fields for what never happened). */
void gt_sim_write_jobs_csv(FILE *f, const gt_sim_result_t *r);

#endif
