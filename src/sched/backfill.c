/* backfill.c: reservations for the first blocked jobs.
 *
 * For a blocked job we walk the running jobs by their expected end (start + estimate or time
 * limit), freeing their GPUs on a scratch copy of the nodes, until enough acceptable nodes
 * hold the job's per-node GPUs: that end is the job's shadow time (its estimated start) and
 * those nodes are reserved for it until then. A later job may use a reserved node's GPUs only
 * if it ends before the shadow time, or if it leaves the reserved GPUs free (node_usable).
 * Simplifications, stated: CPUs and memory are not projected, fractional slots free no whole
 * GPU in the projection, jobs with no estimate never free anything, and a node reserved for
 * one job is not offered to the next reservation of the same cycle; a node with a maintenance
 * window is reserved only for a job that would end before the window if it started now (a
 * reservation after the window is not planned). Unschedulable (drained, cordoned) nodes are
 * never reserved. */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

void backfill_reset(sched_t *s)
{
    s->resv_epoch++;
    s->nresv_nodes = 0;
}

/* The running jobs by expected end are kept sorted as jobs start, get preempted and end, so
 * a pass never sorts them. */
static size_t release_pos(const sched_t *s, sched_time_t end, int ji)
{
    size_t lo = 0, hi = s->nreleases;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct release *r = &s->releases[mid];
        if (r->end < end || (r->end == end && r->job < ji))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void release_untrack(sched_t *s, int ji)
{
    job_t *j = &s->jobs[ji];
    if (!j->in_releases)
        return;
    size_t pos = release_pos(s, j->release_end, ji);
    if (pos < s->nreleases && s->releases[pos].job == ji) {
        memmove(&s->releases[pos], &s->releases[pos + 1],
                (s->nreleases - pos - 1) * sizeof(*s->releases));
        s->nreleases--;
    }
    j->in_releases = false;
}

void release_track(sched_t *s, int ji)
{
    release_untrack(s, ji);
    job_t *j = &s->jobs[ji];
    sched_time_t end;
    if (j->state == SCHED_PREEMPTING)
        end = j->stop_deadline;
    else if (j->state == SCHED_RUNNING && job_plan_duration(j) > 0)
        end = j->start + job_plan_duration(j);
    else
        return;
    GT_GROW(s->releases, s->capreleases, s->nreleases + 1);
    size_t pos = release_pos(s, end, ji);
    memmove(&s->releases[pos + 1], &s->releases[pos], (s->nreleases - pos) * sizeof(*s->releases));
    const sched_slot_t *sl = &j->slots[0];
    int whole = sl->gpu_milli == SCHED_MILLI ? __builtin_popcountll(sl->gpu_mask) : -1;
    s->releases[pos] = (struct release){end, ji, j->nslots, sl->node, whole};
    s->nreleases++;
    j->release_end = end;
    j->in_releases = true;
}

static bool reserved_now(const sched_t *s, const node_t *n)
{
    return n->resv_epoch == s->resv_epoch;
}

void backfill_reserve(sched_t *s, job_t *j, uint64_t types, sched_time_t now)
{
    int want = j->nodes, g = job_per_node_gpus_whole(j);
    s->epoch++;
    GT_GROW(s->scratch, s->capscratch, (size_t)want);
    int *chosen = s->scratch, nchosen = 0;
    /* nodes that already hold it (but something else stopped it: CPUs, topology) */
    for (int k = g; k <= s->max_gpus && nchosen < want; k++)
        for (int t = 0; t < s->ntypes && nchosen < want; t++) {
            if (!(types >> t & 1))
                continue;
            for (int ni = s->bucket[t][k]; ni != NIL && nchosen < want; ni = s->nodes[ni].bnext)
                if (!reserved_now(s, &s->nodes[ni]) && node_has_features(&s->nodes[ni], j) &&
                    node_maint_allows(s, &s->nodes[ni], j)) {
                    s->nodes[ni].mark_epoch = s->epoch;
                    s->nodes[ni].mark_val = k;
                    chosen[nchosen++] = ni;
                }
        }
    sched_time_t shadow = now;
    for (size_t r = 0; r < s->nreleases && nchosen < want; r++) {
        const struct release *rel = &s->releases[r];
        /* a one-node job's slot is in its entry: the walk touches no job record for it */
        const sched_slot_t *slots = rel->nslots == 1 ? NULL : s->jobs[rel->job].slots;
        for (int k = 0; k < rel->nslots && nchosen < want; k++) {
            const sched_slot_t *sl = slots ? &slots[k] : NULL;
            int ni = sl ? sl->node : rel->node;
            int whole = !sl ? rel->whole
                        : sl->gpu_milli == SCHED_MILLI ? __builtin_popcountll(sl->gpu_mask)
                                                       : -1;
            node_t *n = &s->nodes[ni];
            if (whole < 0 || !n->up || !n->schedulable || !(types >> n->type & 1) ||
                reserved_now(s, n) || !node_has_features(n, j) || !node_maint_allows(s, n, j) ||
                n->ngpus < g)
                continue;
            if (n->mark_epoch != s->epoch) {
                n->mark_epoch = s->epoch;
                n->mark_val = n->free_whole;
            }
            int before = (int)n->mark_val;
            n->mark_val += whole;
            if (before < g && n->mark_val >= g) {
                chosen[nchosen++] = ni;
                shadow = rel->end > now ? rel->end : now;
            }
        }
    }
    if (nchosen < want) {
        j->est_start = SCHED_NEVER;
        return;
    }
    GT_GROW(s->resv_nodes, s->capresv_nodes, s->nresv_nodes + (size_t)want);
    for (int i = 0; i < want; i++) {
        node_t *n = &s->nodes[chosen[i]];
        s->resv_nodes[s->nresv_nodes++] = chosen[i];
        n->resv_epoch = s->resv_epoch;
        n->resv_gpus = g;
        n->resv_start = shadow;
        n->resv_job = j->id;
    }
    j->est_start = shadow;
}
