/* policy_las.c: least attained service (order las), after Tiresias (NSDI'19): without knowing
 * durations, the jobs that have had the least service go first, so short jobs finish early and
 * long ones yield. Service is GPU-time over all of a job's runs (GPUs x seconds, the
 * "two-dimensional" attained service); it is discretized into queues by the thresholds
 * las_queues (default 1 and 10 GPU-hours): queue 0 below the first, queue k from the k-th on.
 * Inside a queue, by age (submit time, kept across requeues).
 *
 * Starvation guard: a job of queue k > 0 is keyed as if it joined the queue k x las_starvation
 * later than it did, so it goes before every job of queue 0 that joins more than that after it:
 * it waits behind newcomers of lower queues for at most k x las_starvation (default 24 h). The
 * key is fixed when the job is queued (policy.h): a pending job's service does not change. */
#include "sched/sched_internal.h"

int las_queue_of(const sched_params_t *p, double attained_gpu_s)
{
    int k = 0;
    while (k < p->las_nqueues && attained_gpu_s >= (double)p->las_queues[k])
        k++;
    return k;
}

static sched_key_t las_key(const sched_t *s, const job_t *j)
{
    int k = las_queue_of(&s->p, j->attained_gpu_s);
    if (k == 0)
        return j->submit;
    return j->queued_at + (sched_key_t)k * s->p.las_starvation_s;
}

const sched_policy_t policy_las = {
    .name = "las",
    .job_key = las_key,
};
