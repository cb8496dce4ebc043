/* policy.h: the scheduler's policy seam (internal to src/sched; sched_internal.h includes it).
 *
 * What a policy may decide, in the spirit of KAI-Scheduler's plugins (job order, node order,
 * victim choice), as an ops table; the pass (cycle.c), placement (place.c) and preemption
 * (preempt.c) call the hooks and keep the rules that are not a policy's to change: priority
 * tiers, quotas and limits, fair share between teams, the minimum runtime, who may be a victim.
 *
 * - job_key: a pending job's place in its team's queue, computed once when the job joins the
 *   queue (submitted or requeued) and whenever the order's parameters change, never during a
 *   pass. Lower goes first; ties by job id. Inside a team's share and a priority tier it is
 *   the only order; between teams the fair-share key comes first and the job key breaks ties
 *   (without fair share, it is the order of the whole tier). Because the key is fixed while a
 *   job waits, each team's queue stays sorted and the merge of the teams' queues (cycle.c)
 *   stays monotone: a policy that wants a job's standing to change with time writes that into
 *   the key as a fixed point in time (an aging job's key is "when it will have aged enough").
 * - node_score: a placement's cost on one node (lower is better); NULL keeps best fit by the
 *   free-GPU index (place.c), the fastest search.
 * - victim_cost: the cost of preempting a running job now, compared among victims of the same
 *   class (a lower class always goes first) and summed per node; NULL: the GPU-seconds of work
 *   it loses since its last checkpoint.
 *
 * A new policy is one file policy_NAME.c defining a const sched_policy_t, and one line in the
 * tables of policy.c that give it its configuration name (scheduler.order or
 * scheduler.placement). A hook a policy leaves NULL falls back to the default policy's. */
#ifndef GANTRY_SCHED_POLICY_H
#define GANTRY_SCHED_POLICY_H

#include "sched/sched.h"

typedef struct job job_t;

/* A pending job's order key inside its team's queue (lower first). */
typedef int64_t sched_key_t;

typedef struct sched_policy {
    const char *name;
    /* The key of pending job j as it joins its team's queue (j->queued_at): j->submit is its
     * age, kept across requeues; j->attained_gpu_s and j->kept_s what its ended runs had. */
    sched_key_t (*job_key)(const sched_t *s, const job_t *j);
    /* The cost of placing j's `gpus` whole GPUs (0 for a fraction or none) on node ni, which
     * can hold them; lower is better, ties go to the best-fit order. */
    int64_t (*node_score)(const sched_t *s, const job_t *j, int ni, int gpus);
    /* The cost of preempting running job v at now, inside its class; lower goes first. */
    double (*victim_cost)(const sched_t *s, const job_t *v, sched_time_t now);
} sched_policy_t;

/* policy_default.c: today's behaviour: FIFO order (submit time), best fit, least lost work. */
extern const sched_policy_t policy_default;
/* policy_las.c: least attained service in discrete queues, with a starvation guard. */
extern const sched_policy_t policy_las;
/* policy_srtf.c: shortest remaining time (time limit or estimate), with aging. */
extern const sched_policy_t policy_srtf;
/* The LAS queue of a job with this attained service (0 = the first). */
int las_queue_of(const sched_params_t *p, double attained_gpu_s);
/* policy_fgd.c: placement fgd (fragmentation-aware; fractions of a GPU through
 * fgd_place_fraction, the GPU it goes on being part of the choice). */
extern const sched_policy_t policy_fgd;

/* policy.c: the policy that orders the jobs of class cls (its own order, else the cluster's);
 * the placement policy; and the hooks with their fallback to the default. */
const sched_policy_t *policy_of_order(int order);
const sched_policy_t *policy_of_placement(int placement);
sched_key_t policy_job_key(const sched_t *s, const job_t *j);
double policy_victim_cost(const sched_t *s, const job_t *v, sched_time_t now);
/* Recomputes every queued job's key and re-sorts the team queues (the order's parameters
 * changed: sched_set_params, sched_class_set_order). */
void policy_rekey(sched_t *s);

#endif
