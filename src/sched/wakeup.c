/* wakeup.c: when the scheduler's state can next change by time alone (sched_next_wakeup).
 *
 * A pass decides from the model and the clock. Between events the model stands still, so a
 * later pass can only decide differently when one of the clock's thresholds is crossed:
 *   - a running preemptible job passes the minimum runtime and becomes a victim (only matters
 *     while a job waits for GPUs that could take it: victim_bounds in victim_times.c counts only
 *     those: by priority; by reclaim while the victim's team borrows; by a move while whole
 *     GPUs are free at the pass's end; these two only when a job that may reclaim got its
 *     turn in the pass, or nothing was reclaimable yet);
 *   - a reclaimed job's backoff ends and it may borrow again;
 *   - a running job reaches its expected end (time limit or estimate) or a preempted one its
 *     grace deadline: the plans of backfill move (a reservation's start is always one of these
 *     ends: backfill_reserve's shadow time);
 *   - a maintenance window starts or ends.
 * And a pass that made decisions, or took back a preemptor's nomination (its holds kept the
 * node from jobs the pass had already passed over), is followed by another a second later: a
 * pass is not idempotent (its starts change the fair-share keys and quota standing of the
 * jobs it already passed over, its holds and failure caches last until its end), and the
 * server runs its next pass at most 100 ms after one that decided; the simulator does the same
 * at the next second.
 * The passes record the first two as they go (victim_bounds, evaluate); the expected ends
 * are the sorted release list (a binary search); the windows are few. A job started in a pass
 * becomes a victim at now + the minimum runtime, later than the second pass that follows. */
#include "sched/sched_internal.h"

static void earliest(sched_time_t *best, sched_wake_t *why, sched_time_t t, sched_wake_t w,
                     sched_time_t now)
{
    if (t > now && t < *best) {
        *best = t;
        *why = w;
    }
}

/* The first running job's expected end after now: the release list is sorted by end. */
static sched_time_t next_release(const sched_t *s, sched_time_t now)
{
    size_t lo = 0, hi = s->nreleases;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->releases[mid].end <= now)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nreleases ? s->releases[lo].end : SCHED_NEVER;
}

sched_time_t sched_next_wakeup_why(const sched_t *s, sched_wake_t *why)
{
    sched_time_t now = s->now, best = SCHED_NEVER;
    sched_wake_t w = SCHED_WAKE_NONE;
    if (s->npending > 0) { /* (nobody waits: time alone starts nothing) */
        if (s->p.preemption && s->capacity_wait)
            earliest(&best, &w, s->next_victim_at, SCHED_WAKE_MIN_RUNTIME, now);
        if (s->p.quotas)
            earliest(&best, &w, s->next_backoff_at, SCHED_WAKE_BACKOFF, now);
        earliest(&best, &w, next_release(s, now), SCHED_WAKE_EXPECTED_END, now);
        if (s->ndec > 0 || s->hold_dropped)
            earliest(&best, &w, now + 1, SCHED_WAKE_FOLLOW_UP, now);
        for (int m = 0; m < s->nmaint; m++) {
            earliest(&best, &w, s->maint[m].start, SCHED_WAKE_MAINTENANCE, now);
            earliest(&best, &w, s->maint[m].end, SCHED_WAKE_MAINTENANCE, now);
        }
    }
    if (why)
        *why = w;
    return best;
}

sched_time_t sched_next_wakeup(const sched_t *s)
{
    return sched_next_wakeup_why(s, NULL);
}

const char *sched_wake_name(sched_wake_t w)
{
    static const char *const names[SCHED_WAKE_COUNT] = {
        [SCHED_WAKE_NONE] = "none",
        [SCHED_WAKE_MIN_RUNTIME] = "min_runtime",
        [SCHED_WAKE_BACKOFF] = "backoff",
        [SCHED_WAKE_EXPECTED_END] = "expected_end",
        [SCHED_WAKE_FOLLOW_UP] = "follow_up",
        [SCHED_WAKE_MAINTENANCE] = "maintenance",
    };
    return (unsigned)w < SCHED_WAKE_COUNT ? names[w] : "none";
}
