/* sim_inflate.h: the inflation experiment (`gantry sim --inflate`), after the FGD paper
 * ("Beware of Fragmentation", USENIX ATC'23) and its artifact: a trace's tasks in a seeded
 * random order (each once), then tasks drawn from them at random with replacement, arrive one
 * by one on an empty cluster and never end; each is placed at
 * once by the scheduler's placement or fails (it is dropped: nothing frees up later). The
 * measure, at each step of arrived load (the GPUs the arrived tasks asked, as a share of the
 * cluster's GPUs), is the share of the GPUs allocated and the GPUs left unallocated. */
#ifndef GANTRY_SIM_INFLATE_H
#define GANTRY_SIM_INFLATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "sim/trace.h"

typedef struct gt_inflate_opts {
    uint64_t seed;
    double until;                 /* stop at this arrived load (0 = 1.0) */
    double step;                  /* a point at each multiple of step (0 = 0.05) */
    bool progress;
} gt_inflate_opts_t;

typedef struct gt_inflate_point {
    double arrived_load;          /* the step reached: arrived GPUs / capacity */
    double allocated_ratio;       /* allocated GPUs / capacity, after the task that reached it */
    double unallocated_gpus;      /* capacity - allocated GPUs */
    size_t tasks, failed;         /* tasks arrived, and of them not placed */
    double failed_gpus;           /* GPUs the failed tasks asked */
    /* FGD's measure (its artifact's analysis): the mean allocation after each arrival whose
     * arrived load is within +-0.5% of the capacity of the step (the step itself when none) */
    double window_allocated_ratio;
    double window_unallocated_gpus;
    size_t window_arrivals;       /* the arrivals averaged */
} gt_inflate_point_t;

typedef struct gt_inflate_result {
    gt_inflate_point_t *points;
    size_t npoints;
    double capacity_gpus;
    uint64_t seed;
    int placement;                /* enum sched_placement */
    size_t population;            /* tasks sampled from (CPU-only ones included) */
    size_t tasks, failed;         /* all arrivals */
    double wall_s;
} gt_inflate_result_t;

/* Runs the experiment on cfg's nodes with cfg's placement. The trace's tasks and its pool
 * (trace.h) are the population; the scheduler is told the population's mix of shapes (as FGD
 * takes its typical pods from the whole trace). Quotas, fair share and preemption are off.
 * Deterministic for a seed. 0, or -1 with err (no nodes, an empty population). */
int gt_sim_inflate(const gt_config_t *cfg, const gt_trace_t *tr, const gt_inflate_opts_t *o,
                   gt_inflate_result_t *out, gt_error_t *err);
void gt_inflate_result_free(gt_inflate_result_t *r);

/* {"inflation": [{"arrived_load", "allocated_ratio", "unallocated_gpus", ...}], ...} */
void gt_inflate_write_json(FILE *f, const gt_inflate_result_t *r, bool timing);
void gt_inflate_write_table(FILE *f, const gt_inflate_result_t *r, bool timing);

/* An SVG line plot of unallocated GPUs (percent of capacity) against arrived load: one line
 * per series, and the ideal (everything that arrived is allocated). Writes path; -1 with err. */
typedef struct gt_inflate_series {
    const char *name;
    const double *load, *unalloc_pct;   /* percent */
    size_t n;
} gt_inflate_series_t;
int gt_inflate_write_svg(const char *path, const char *title, const gt_inflate_series_t *series,
                         size_t nseries, gt_error_t *err);

#endif
