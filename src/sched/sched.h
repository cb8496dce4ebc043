/* sched.h: Gantry's scheduling core, a pure library.
 *
 * No I/O, no globals, no locks, no wall clock: a driver (the controller, the simulator, the
 * benchmark) owns a sched_t, tells it what happens (nodes, teams, jobs submitted, finished,
 * stopped) with the driver's clock, and calls sched_cycle() to get decisions: start job J on
 * these GPUs, preempt job K. The core applies its own decisions to its model at once (a started
 * job holds its GPUs; a preempted job keeps them until the driver calls sched_job_stopped()).
 *
 * Units: GPUs in milli-GPUs (1000 = one whole GPU; 1..999 = a fraction of one GPU), CPUs in
 * milli-CPUs, memory in MiB, time in seconds of the driver's clock.
 *
 * Errors: functions returning int give 0 (or an index >= 0) on success, -1 with errno set
 * (EINVAL bad argument, ENOENT unknown id, EEXIST duplicate, ENOSPC a table is full) and a
 * message in err when err is not NULL. */
#ifndef GANTRY_SCHED_H
#define GANTRY_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

typedef int64_t sched_time_t;
#define SCHED_NEVER INT64_MAX
#define SCHED_MILLI 1000
#define SCHED_MAX_GPU_TYPES 64
#define SCHED_MAX_GPUS_PER_NODE 64
#define SCHED_MAX_CLASSES 32
/* Node features a job may need (a bit mask; SCHED_MAX_FEATURES bits): the node offers every
 * feature its job needs or the job does not go there. */
#define SCHED_MAX_FEATURES 8
#define SCHED_FEATURE_OCI (1u << 0)   /* runs OCI images (a container runtime, skopeo, umoci) */

typedef struct sched sched_t;

/* The order of pending jobs inside a team's share and a priority tier (scheduler.order; a
 * priority class may have its own): fair share between teams, quotas and tiers come first. */
enum sched_order {
    SCHED_ORDER_FIFO,             /* by submit time (age kept across requeues), then id */
    SCHED_ORDER_LAS,              /* least attained service, discrete queues, starvation guard */
    SCHED_ORDER_SRTF,             /* shortest remaining time (limit or estimate), with aging */
    SCHED_NORDERS
};

/* How a job's nodes are chosen (scheduler.placement). Gangs over several nodes keep the
 * topology-aware search either way. */
enum sched_placement {
    SCHED_PLACE_BESTFIT,          /* the fullest node that holds it; gangs by topology */
    SCHED_PLACE_FGD,              /* fragmentation-aware (policy_fgd.c): the node (and GPU) whose
                                     free GPUs stay most usable for the cluster's mix of
                                     requests (sched_workload_add), counting GPU types, CPUs and
                                     memory; FGD's fragmentation gradient (USENIX ATC'23) */
    SCHED_NPLACEMENTS
};

/* Names of orders and placements as the configuration writes them ("fifo", "bestfit"), and
 * back: the enum value, or -1 (ENOENT) for an unknown name. */
const char *sched_order_name(int order);
int sched_order_find(const char *name);
const char *sched_placement_name(int placement);
int sched_placement_find(const char *name);

#define SCHED_LAS_MAX_QUEUES 8

typedef struct sched_params {
    bool fairshare;               /* false: FIFO (by submit time) inside a priority tier */
    sched_time_t half_life_s;     /* decay of past usage; 0 = only current allocation counts */
    bool quotas;                  /* false: quotas and limits are ignored */
    bool backfill;                /* false: the first blocked job blocks all jobs behind it */
    int reservations;             /* backfill: how many blocked jobs get a reservation */
    bool preemption;              /* by priority and by quota reclaim */
    sched_time_t grace_s;         /* preemption grace period before the driver kills */
    sched_time_t min_runtime_s;   /* a job younger than this is never a victim */
    int order;                    /* enum sched_order, for classes without their own */
    int placement;                /* enum sched_placement */
    /* order las: a job's queue is how many of these thresholds its attained service (GPU-
     * seconds over all its runs) has reached; ascending, las_nqueues of them */
    int64_t las_queues[SCHED_LAS_MAX_QUEUES];
    int las_nqueues;
    sched_time_t las_starvation_s; /* a job of queue k waits behind later jobs of queue 0 for
                                      at most k times this */
    /* order srtf: each second waited counts as this many seconds less remaining time (0 < aging
     * <= 1); a job without time limit or estimate counts as needing srtf_unknown_s */
    double srtf_aging;
    sched_time_t srtf_unknown_s;
    /* quota reclaim: a borrowed job (one that started above its team's quota) younger than this
     * is not reclaimed; min_runtime_s guards against priority preemption only. Never more than
     * grace_s (the core clamps it: a lender waits at most this plus the grace period); -1 =
     * min(min_runtime_s, grace_s). docs/scheduler.md, "Minimum runtimes". */
    sched_time_t reclaim_min_runtime_s;
    /* true: a pass takes every pending entry through the merge one by one, instead of taking
     * the entries it passes over ahead of their turn (cycle.c, run_skip_ahead; the default,
     * false), and asks whether anyone left can act at every place, instead of only where a
     * run that can act is not at hand (cycle.c, yes_until_winner). The decisions are the same
     * (tests/unit/test_sched_skip.c compares them); only the cost differs. For tests and
     * measurements. */
    bool no_skip_ahead;
    /* true: every reclaim try looks at the victims, rather than giving up when no node could
     * reach the GPUs the job asks per node with what reclaim may take there (preempt.c,
     * reach_any; the default, false), and than skipping a try that one by another job
     * within quota already showed hopeless (cycle.c, reclaim_known_hopeless), and every
     * defragmenting try scans them rather than giving up on that bound with a move's GPUs
     * added (defrag.c). The same decisions (test_sched_skip); for tests. */
    bool no_reclaim_bound;
    /* true: a rest passed over at once (cycle.c, run_pass_over_rest) is reached one entry at a
     * time, rather than by a search where none of it is within quota (rest_reach_before). The
     * same decisions (test_sched_skip); for tests. */
    bool no_rest_search;
    /* true: each reservation walks the running jobs by expected end on its own, rather than
     * reading the walk a pass's reservations share while nothing changed (backfill.c,
     * projection_start). The same decisions (test_sched_skip); for tests. */
    bool no_shared_walk;
} sched_params_t;

/* The reclaim minimum runtime p means: as set (or min_runtime_s when -1), never more than the
 * grace period. */
static inline sched_time_t sched_params_reclaim_min_runtime(const sched_params_t *p)
{
    sched_time_t r = p->reclaim_min_runtime_s >= 0 ? p->reclaim_min_runtime_s : p->min_runtime_s;
    return r < p->grace_s ? r : p->grace_s;
}


/* The defaults of DESIGN.md: fair share with a 7-day half-life, quotas, backfill with 8
 * reservations, preemption with a 120 s grace period and a 10 min minimum runtime; order srtf
 * (aging 0.005, unknown durations as 24 h: FIFO when no job carries one) and best-fit
 * placement; for order las queues at 1 and 10 GPU-hours with a 24 h starvation guard. */
sched_params_t sched_params_default(void);

/* Returns a new empty scheduler (never NULL); free with sched_free (accepts NULL). */
sched_t *sched_new(const sched_params_t *params);
void sched_free(sched_t *s);
const sched_params_t *sched_params(const sched_t *s);
/* Change policy knobs at run time (takes effect at the next cycle). */
void sched_set_params(sched_t *s, const sched_params_t *params);

/* ---- The cluster model: GPU types, priority classes, teams, nodes ---- */

/* Index of a GPU type name, interning it on first use; -1 with ENOSPC past 64 types. */
int sched_gpu_type(sched_t *s, const char *name);
/* Index of a known GPU type name, or -1 (ENOENT). */
int sched_gpu_type_find(const sched_t *s, const char *name);
const char *sched_gpu_type_name(const sched_t *s, int type);
int sched_gpu_type_count(const sched_t *s);

/* Priority classes: strict tiers by value (higher first). Returns the class index; ENOSPC
 * past SCHED_MAX_CLASSES. */
int sched_class_add(sched_t *s, const char *name, int value, bool preemptible, gt_error_t *err);
int sched_class_find(const sched_t *s, const char *name);
/* The order of the class's pending jobs (enum sched_order), or -1: the cluster's
 * (sched_params_t.order, the default). 0, or -1 with errno ENOENT (unknown class) or EINVAL. */
int sched_class_set_order(sched_t *s, int cls, int order);
int sched_class_count(const sched_t *s);
const char *sched_class_name(const sched_t *s, int cls);

/* Teams form a tree (parent -1 for a root). weight > 0 shares idle capacity among borrowers. */
int sched_team_add(sched_t *s, const char *name, int parent, double weight, gt_error_t *err);
int sched_team_find(const sched_t *s, const char *name);
int sched_team_count(const sched_t *s);
const char *sched_team_name(const sched_t *s, int team);
int sched_team_parent(const sched_t *s, int team);
/* Quota (guaranteed) and limit (cap, including borrowed capacity) in milli-GPUs, for one GPU
 * type or, with gpu_type -1, for all types together. limit -1 = no limit. quota <= limit. */
int sched_team_set_quota(sched_t *s, int team, int gpu_type, int64_t quota_milli,
                         int64_t limit_milli, gt_error_t *err);
int sched_team_set_weight(sched_t *s, int team, double weight, gt_error_t *err);

typedef struct sched_node_spec {
    const char *name;
    const char *gpu_type;         /* NULL or "" for a CPU-only node type "none" */
    int gpus;                     /* 0..64 */
    int64_t cpus_milli;           /* 0 = not tracked */
    int64_t memory_mib;           /* 0 = not tracked */
    const char *block, *spine, *leaf; /* topology labels, outermost first; NULL = none */
    int nvlink_groups;            /* GPUs split evenly into this many NVLink domains; 0/1 = one */
    uint32_t features;            /* SCHED_FEATURE_* it offers */
} sched_node_spec_t;

/* Adds an up node; returns its index. EEXIST if the name is taken. */
int sched_node_add(sched_t *s, const sched_node_spec_t *spec, gt_error_t *err);
int sched_node_find(const sched_t *s, const char *name);
int sched_node_count(const sched_t *s);
/* Marks a node up or down. A down node gets no new work; the driver decides what happens to
 * the jobs on it (sched_job_stopped to requeue, sched_job_finished to end them). */
int sched_node_set_up(sched_t *s, int node, bool up);

/* Marks a node schedulable or not (an admin's drain or cordon). A node that is not takes no
 * new job, whatever the job; the jobs running there go on (and may still be preempted, as
 * anywhere), and preemption never picks victims there to make room (the room could not be
 * used). Independent of up: a node may be up and not schedulable. 0, or -1 (ENOENT). */
int sched_node_set_schedulable(sched_t *s, int node, bool schedulable);

/* Maintenance windows: the nodes take no work from start to end (a reservation the scheduler
 * plans around, as it does for backfill). Before the window a job starts on one of its nodes
 * only if it is sure to end by the window's start: its time limit (or, without one, its
 * estimate) from now ends at or before start. A job with neither never starts on a node with
 * a window announced, until that window has ended. Jobs already running there when the window
 * is added are not touched (the driver drains or stops them). A window whose end has passed
 * constrains nothing (the driver removes it when it likes). Windows are named; a node may be
 * in several. A pending job that would start but for a window waits with reason
 * SCHED_REASON_MAINTENANCE.
 * add: 0, or -1 with err: EINVAL (empty or long name, no nodes, end <= start, an unknown node
 * index), EEXIST (the name is taken). remove: 0, or -1 (ENOENT unknown name). */
#define SCHED_MAINT_NAME_MAX 63
int sched_maintenance_add(sched_t *s, const char *name, const int *nodes, int nnodes,
                          sched_time_t start, sched_time_t end, gt_error_t *err);
int sched_maintenance_remove(sched_t *s, const char *name);
int sched_maintenance_count(const sched_t *s);

/* Sets the features a node offers (its agent registered again with other runtimes). Running
 * jobs stay; pending ones are placed by the new set. 0, or -1 (ENOENT unknown node, EINVAL
 * bits beyond SCHED_MAX_FEATURES). */
int sched_node_set_features(sched_t *s, int node, uint32_t features);

/* Sets a node's capacity (its agent registered again with other GPUs, CPUs or memory): gpus
 * 0..64 (GPUs 0..gpus-1 remain; new ones are free), cpus_milli and memory_mib (0 = not
 * tracked). Refuses with EBUSY, changing nothing, while a running job holds a GPU that would
 * no longer exist, or more CPUs or memory than the new amounts (or while jobs run, to start
 * tracking CPUs or memory): the driver first stops or requeues jobs there. ENOENT for an unknown
 * node, EINVAL for a bad amount. */
int sched_node_resize(sched_t *s, int node, int gpus, int64_t cpus_milli, int64_t memory_mib,
                      gt_error_t *err);

typedef struct sched_node_info {
    const char *name;
    const char *gpu_type;
    int gpus;
    int gpus_free;                /* whole GPUs free */
    int64_t gpu_milli_used;       /* allocated, fractions included */
    int64_t cpus_milli, cpus_milli_free, memory_mib, memory_mib_free;
    bool up;
    bool schedulable;             /* false: drained or cordoned (sched_node_set_schedulable) */
    int jobs;                     /* running jobs with a slot on this node */
    uint32_t features;
    sched_time_t maintenance_start; /* earliest window on it not yet ended, or SCHED_NEVER */
} sched_node_info_t;
int sched_node_info(const sched_t *s, int node, sched_node_info_t *out);

/* ---- Jobs ---- */

typedef struct sched_job_spec {
    uint64_t id;                  /* the driver's id; unique among live jobs */
    int team;
    int prio_class;
    int64_t gpus_milli;           /* total: whole GPUs (n*1000), a fraction below 1000, or 0:
                                     a CPU-only job (no GPU; it fits on any up node of an
                                     acceptable type, GPU nodes included, with its CPUs and
                                     memory free; 0 against GPU quotas and limits; never
                                     reclaimed, never given a backfill reservation) */
    int nodes;                    /* gang size; 0 = one node if it fits, else as few whole
                                     nodes as hold the GPUs evenly (CPU-only: one node, or
                                     each of `nodes` nodes gets cpus and memory) */
    uint64_t gpu_types;           /* bit mask of acceptable types; 0 = any */
    int64_t cpus_milli;           /* per node; 0 = none asked */
    int64_t memory_mib;           /* per node; 0 = none asked */
    sched_time_t submit;
    sched_time_t time_limit;      /* 0 = none */
    sched_time_t estimate;        /* planning duration; 0 = use time_limit; both 0 = unknown */
    bool no_preempt;              /* never a victim, whatever its class says */
    bool checkpointable;          /* resumes from its checkpoint after preemption */
    uint32_t features;            /* SCHED_FEATURE_* its nodes must offer (0 = none) */
} sched_job_spec_t;

/* The mix of requests fragmentation-aware placement plans for: a shape (spec's gpus_milli,
 * nodes, cpus_milli, memory_mib, gpu_types; the rest is ignored) and its weight (> 0, e.g. how
 * many such jobs arrive). Until the driver declares a shape, the scheduler uses the shapes of
 * the jobs submitted (weight 1 each); the first declared shape replaces those. clear forgets
 * the mix (submitted jobs count again). -1 (EINVAL) for a weight <= 0 or negative sizes. */
int sched_workload_add(sched_t *s, const sched_job_spec_t *spec, double weight,
                       gt_error_t *err);
void sched_workload_clear(sched_t *s);

typedef enum sched_job_state {
    SCHED_PENDING,
    SCHED_RUNNING,
    SCHED_PREEMPTING,             /* told to stop; still holds its GPUs */
} sched_job_state_t;

/* Why a pending job waits. */
typedef enum sched_reason {
    SCHED_REASON_NONE,            /* not evaluated yet (submitted since the last cycle) */
    SCHED_REASON_QUOTA,           /* starting it would put its team (or a parent) above limit */
    SCHED_REASON_CAPACITY,        /* not enough free GPUs of an acceptable type */
    SCHED_REASON_PRIORITY,        /* a job ahead of it (higher tier, or FIFO order) is blocked */
    SCHED_REASON_TOPOLOGY,        /* enough GPUs free, but not on enough nodes at once (gang) */
    SCHED_REASON_RESERVATION,     /* it would fit, but would delay a reserved job */
    SCHED_REASON_PREEMPTING,      /* victims are being preempted to make room for it */
    SCHED_REASON_NO_FIT,          /* no node in the cluster could ever hold it */
    SCHED_REASON_BACKOFF,         /* reclaimed recently: it may not borrow again until later */
    SCHED_REASON_NO_RUNTIME,      /* nodes could hold it, but none that offers the features it
                                     needs (a container runtime for an image) */
    SCHED_REASON_MAINTENANCE,     /* it would start but for a maintenance window: it would not
                                     end before the window (or has no time limit) */
    SCHED_REASON_DRAINED,         /* no room now, and a node that could hold it is drained or
                                     cordoned (sched_node_set_schedulable) */
    SCHED_NREASONS                /* how many reasons there are (not a reason) */
} sched_reason_t;

/* Short name ("quota") and a sentence for users. */
const char *sched_reason_name(sched_reason_t r);
const char *sched_reason_text(sched_reason_t r);

/* Adds a pending job. Validates the request (EINVAL with a message: bad sizes, unknown team
 * or class, gang that does not divide evenly); EEXIST if the id is live. */
int sched_job_submit(sched_t *s, const sched_job_spec_t *spec, gt_error_t *err);
/* The checks sched_job_submit() makes on spec (-1 with err, errno EINVAL or EEXIST), without
 * submitting: a server validates a job before its commit, and enters it after. */
int sched_job_validate(const sched_t *s, const sched_job_spec_t *spec, gt_error_t *err);
/* Whether the job could ever run here, whatever else runs (a server asks at submission, after
 * sched_job_validate). -1 with errno ERANGE and err (code "unsatisfiable", the numbers in the
 * message) when it never could: more GPUs than its team's limit or a parent team's (all types,
 * or every type it accepts; with quotas on); and, once at least one node is known (declared or
 * registered, up or down: agents register over time, and a node that is down may come back),
 * more GPUs than the nodes of acceptable types hold together, more nodes than there are of
 * them, more GPUs per node than the largest has, or (nodes 0) GPUs that spread evenly only over
 * more nodes than there are. CPUs, memory and runtimes are not judged here. 0 otherwise. */
int sched_job_feasible(const sched_t *s, const sched_job_spec_t *spec, gt_error_t *err);
/* Removes a job in any state, freeing what it holds (cancel). ENOENT if unknown. */
int sched_job_remove(sched_t *s, uint64_t id, sched_time_t now);
/* A running (or preempting) job ended: frees its GPUs, accounts its usage, forgets it. */
int sched_job_finished(sched_t *s, uint64_t id, sched_time_t now);
/* A preempted job has stopped (or a job is requeued): frees its GPUs and returns it to the
 * queue with its submit time (its age) kept. */
int sched_job_stopped(sched_t *s, uint64_t id, sched_time_t now);
/* The job wrote a checkpoint at time t: preempting it now loses only the work since t. */
int sched_job_checkpointed(sched_t *s, uint64_t id, sched_time_t t);
/* Restores a job the driver knows to be running on given slots (controller restart). */
typedef struct sched_slot {
    int node;
    uint64_t gpu_mask;            /* the node's GPUs used (bit i = GPU i); 0 for a CPU-only job */
    int gpu_milli;                /* per GPU in the mask: 1000, or the fraction of one GPU;
                                     0 for a CPU-only job */
} sched_slot_t;
int sched_job_restore_running(sched_t *s, const sched_job_spec_t *spec, sched_time_t start,
                              const sched_slot_t *slots, int nslots, gt_error_t *err);

typedef struct sched_job_info {
    sched_job_state_t state;
    sched_reason_t reason;        /* pending jobs */
    sched_time_t estimated_start; /* pending jobs with a reservation; else SCHED_NEVER */
    sched_time_t start;           /* running jobs */
    int nodes;                    /* gang size as resolved */
    bool borrowing;               /* started above its team's quota */
    uint64_t blocked_by;          /* PRIORITY/RESERVATION/PREEMPTING: the job in question */
    int nslots;
    const sched_slot_t *slots;    /* owned by the scheduler; valid until the next call */
} sched_job_info_t;
int sched_job_info(const sched_t *s, uint64_t id, sched_job_info_t *out);
size_t sched_pending_count(const sched_t *s);
size_t sched_running_count(const sched_t *s);

/* ---- The scheduling pass ---- */

typedef enum sched_action {
    SCHED_START,                  /* job_id starts now on its slots (sched_job_info) */
    SCHED_PREEMPT,                /* job_id must stop within grace_s, for job for_id */
} sched_action_t;

typedef struct sched_decision {
    sched_action_t action;
    uint64_t job_id;
    uint64_t for_id;              /* PREEMPT: the job it makes room for */
} sched_decision_t;

/* One pass over the queue at time now (now never goes back). Returns the decisions in the
 * order made; *n gets their count. The array is owned by s and valid until the next cycle. */
const sched_decision_t *sched_cycle(sched_t *s, sched_time_t now, size_t *n);

/* The earliest time after the last cycle's now at which a cycle could decide differently
 * with no event at all (no submission, end, stop, node or policy change): a running job
 * passing the minimum runtime (it becomes a victim for a waiting job), a reclaimed job's
 * backoff ending, a backfill reservation's start, a running job reaching its time limit or
 * estimate (or a preempted one its grace deadline), a maintenance window's start or end.
 * SCHED_NEVER when there is none. A driver runs sched_cycle() then, or at its next event if
 * that is earlier: the simulator's event loop wakes at it, the server's scheduler thread sleeps
 * until it or a kick. The answer may be early (a pass then decides as before), never late. */
sched_time_t sched_next_wakeup(const sched_t *s);

/* What sched_next_wakeup's time is for (SCHED_WAKE_NONE with SCHED_NEVER). When several fall
 * at the same second, the first in this order names it. */
typedef enum sched_wake {
    SCHED_WAKE_NONE,
    SCHED_WAKE_MIN_RUNTIME,       /* a running job passes a minimum runtime: a victim now */
    SCHED_WAKE_BACKOFF,           /* a reclaimed job's backoff ends: it may borrow again */
    SCHED_WAKE_EXPECTED_END,      /* a running job's time limit or estimate, or a preempted
                                     one's grace deadline: the reservations' plans move */
    SCHED_WAKE_FOLLOW_UP,         /* the pass before decided (a pass is not idempotent) */
    SCHED_WAKE_MAINTENANCE,       /* a maintenance window starts or ends */
    SCHED_WAKE_COUNT
} sched_wake_t;

/* sched_next_wakeup, and in *why (when not NULL) what it is for. */
sched_time_t sched_next_wakeup_why(const sched_t *s, sched_wake_t *why);

/* The wake's name in output: "min_runtime", "backoff", "expected_end", "follow_up",
 * "maintenance" ("none" for SCHED_WAKE_NONE). */
const char *sched_wake_name(sched_wake_t w);

typedef struct sched_stats {
    uint64_t cycles, starts, preemptions;
    uint64_t quiet_cycles;        /* passes skipped: nothing could have changed */
    uint64_t jobs_examined;       /* pending jobs looked at over all cycles */
    uint64_t defrag_moves;        /* of the preemptions, jobs moved to defragment (defrag.h) */
    uint64_t skipped_ahead;       /* pending entries a pass passed over without the merge */
    uint64_t rests_passed_over;   /* of those, runs whose whole rest was passed over at once,
                                     from the run's counts (cycle.c, run_pass_over_rest) */
    uint64_t pass_checks;         /* the places where passes asked whether anyone left could
                                     act (cycle.c, anyone_left_can_act): the same with the
                                     shortcuts above or without */
    uint64_t reclaims_known_hopeless; /* preemption tries of jobs within quota not made: one
                                     alike found no room (cycle.c, reclaim_known_hopeless) */
} sched_stats_t;
void sched_get_stats(const sched_t *s, sched_stats_t *out);

/* ---- Teams: what they hold and have used ---- */

typedef struct sched_team_info {
    const char *name;
    int parent;
    double weight;
    int64_t quota_milli, limit_milli;     /* all types together; limit -1 = none */
    int64_t allocated_milli;              /* running now, children included */
    double usage_gpu_s;                   /* decayed usage, GPU-seconds, as of the last cycle */
    int pending, running;
} sched_team_info_t;
int sched_team_info(const sched_t *s, int team, sched_team_info_t *out);

/* Whether the last pass left a job waiting for GPUs (capacity, topology, a reservation or
 * preemption), as opposed to its team's limit or a job that fits nowhere. */
bool sched_capacity_wait(const sched_t *s);

/* Total GPUs (whole) of up nodes, and allocated milli-GPUs. */
int64_t sched_capacity_milli(const sched_t *s);
int64_t sched_allocated_milli(const sched_t *s);

/* Checks the invariants (no GPU over-allocated, gangs whole, no team above its limit, a team
 * under quota never waits behind borrowers it could reclaim from, no job started on a node
 * after it was made unschedulable, none started after a maintenance window was announced on
 * its node unless it ends before the window). Returns true when they
 * hold; otherwise false with a description in msg. For tests and debug builds. */
bool sched_check_invariants(const sched_t *s, char *msg, size_t len);
/* The part of them about the team queues alone: sorted, only pending jobs, their counts (by
 * class, need, CPU-only) and bounds (dur_min) the entries'. */
bool sched_check_queues(const sched_t *s, char *msg, size_t len);

#endif
