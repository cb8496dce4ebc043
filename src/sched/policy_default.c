/* policy_default.c: the default policy, Gantry's behaviour before the seam: pending jobs in
 * the order they were submitted (a requeued job keeps its age), best-fit placement by the
 * free-GPU index (place.c, node_score NULL), and victims that lose the least work. */
#include "sched/sched_internal.h"

static sched_key_t fifo_key(const sched_t *s, const job_t *j)
{
    (void)s;
    return j->submit;
}

/* GPU-seconds of work lost since the last checkpoint (plus a tie-breaker by size: of two jobs
 * that just started, the smaller goes). */
static double lost_work(const sched_t *s, const job_t *v, sched_time_t now)
{
    (void)s;
    sched_time_t since = v->checkpointable && v->last_ckpt > v->start ? v->last_ckpt : v->start;
    return (double)(now - since) * (double)v->gpus / SCHED_MILLI + (double)v->gpus / 1e6;
}

const sched_policy_t policy_default = {
    .name = "default",
    .job_key = fifo_key,
    .node_score = NULL,
    .victim_cost = lost_work,
};
