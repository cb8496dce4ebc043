/* policy_srtf.c: shortest remaining time (order srtf) for jobs that carry a time limit or an
 * estimate: the job that needs the least time to finish goes first, which is what lowers mean
 * completion time most. Remaining time is the estimate (else the time limit) less the time its
 * earlier runs kept (a checkpointable job keeps what it ran; others start over); a job with
 * neither counts as needing srtf_unknown_s (default 24 h).
 *
 * Aging: each second a job has waited since its submission counts as srtf_aging seconds less
 * remaining (default 0.005: 200 hours of waiting weigh as one hour of work), so a long job is
 * not passed by shorter newcomers for ever: one submitted D seconds after it goes first only
 * when it needs more than D x srtf_aging less. The rank "remaining - aging x waited" orders
 * jobs as the fixed key "submit + remaining / aging" does (the term in now is the same for
 * all), so the key is fixed when the job is queued (policy.h) and the merge stays monotone.
 * When no job carries a duration, all count as srtf_unknown_s and the order is FIFO by age. */
#include "sched/sched_internal.h"

static sched_key_t srtf_key(const sched_t *s, const job_t *j)
{
    sched_time_t d = job_plan_duration(j);
    sched_time_t rem = d > 0 ? d - j->kept_s : s->p.srtf_unknown_s;
    if (rem < 0)
        rem = 0;
    double aging = s->p.srtf_aging > 1e-6 ? s->p.srtf_aging : 1e-6;
    double head = (double)rem / aging;
    if (head > 1e15) /* years past any trace: keep the key in range, the order by age */
        head = 1e15;
    return j->submit + (sched_key_t)head;
}

const sched_policy_t policy_srtf = {
    .name = "srtf",
    .job_key = srtf_key,
};
