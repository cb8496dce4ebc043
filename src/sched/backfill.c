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

/* (The list has room at both ends, two_ended.h: the soonest ends go first. With room at the
 * back only, each end moved the whole list: at Philly seed0 x 2, 5% of the replay's
 * instructions, callgrind.) */
void release_untrack(sched_t *s, int ji)
{
    job_t *j = &s->jobs[ji];
    if (!j->in_releases)
        return;
    size_t pos = release_pos(s, j->release_end, ji);
    if (pos < s->nreleases && s->releases[pos].job == ji) {
        s->releases = two_ended_close(&s->release_room, s->nreleases, pos, sizeof(*s->releases));
        s->nreleases--;
        s->releases_version++;
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
    size_t pos = release_pos(s, end, ji);
    s->releases = two_ended_open(&s->release_room, s->nreleases, pos, sizeof(*s->releases));
    const sched_slot_t *sl = &j->slots[0];
    int whole = sl->gpu_milli == SCHED_MILLI ? __builtin_popcountll(sl->gpu_mask) : -1;
    s->releases[pos] = (struct release){end, ji, j->nslots, sl->node, whole};
    s->nreleases++;
    s->releases_version++;
    j->release_end = end;
    j->in_releases = true;
}

static bool reserved_now(const sched_t *s, const node_t *n)
{
    return n->resv_epoch == s->resv_epoch;
}

/* The whole GPUs slot k of release rel frees (-1: a fraction, none), and its node. */
static int release_slot(const sched_t *s, const struct release *rel, int k, int *node)
{
    if (rel->nslots == 1) {
        *node = rel->node;
        return rel->whole;
    }
    const sched_slot_t *sl = &s->jobs[rel->job].slots[k];
    *node = sl->node;
    return sl->gpu_milli == SCHED_MILLI ? __builtin_popcountll(sl->gpu_mask) : -1;
}

/* The shared walk (s->proj), started afresh when the pass, the nodes' free GPUs (a job given
 * GPUs) or the releases changed since it was walked. */
static void projection_start(sched_t *s)
{
    struct projection *p = &s->proj;
    if (p->valid && p->resv_epoch == s->resv_epoch && p->charges == s->charges &&
        p->releases_version == s->releases_version)
        return;
    GT_GROW(s->proj_gpus, s->capproj_gpus, (size_t)s->nnodes + 1);
    if (s->capproj_stamp < (size_t)s->nnodes + 1) {
        size_t old = s->capproj_stamp;
        GT_GROW(s->proj_stamp, s->capproj_stamp, (size_t)s->nnodes + 1);
        memset(s->proj_stamp + old, 0, (s->capproj_stamp - old) * sizeof(*s->proj_stamp));
    }
    p->valid = true;
    p->resv_epoch = s->resv_epoch;
    p->charges = s->charges;
    p->releases_version = s->releases_version;
    p->walked = 0;
    if (++p->stamp == 0) { /* (wrapped: no node may hold an old stamp) */
        memset(s->proj_stamp, 0, s->capproj_stamp * sizeof(*s->proj_stamp));
        p->stamp = 1;
    }
    for (int g = 0; g <= SCHED_MAX_GPUS_PER_NODE; g++)
        p->ncross[g] = 0;
}

/* Walks one more release: each slot's whole GPUs added to its node's projection, and each
 * size g the node reaches for the first time recorded as a crossing, in walk order. */
static void projection_step(sched_t *s)
{
    struct projection *p = &s->proj;
    int r = (int)p->walked++;
    const struct release *rel = &s->releases[r];
    for (int k = 0; k < rel->nslots; k++) {
        int ni, whole = release_slot(s, rel, k, &ni);
        if (whole <= 0)
            continue;
        if (s->proj_stamp[ni] != p->stamp) {
            s->proj_stamp[ni] = p->stamp;
            s->proj_gpus[ni] = s->nodes[ni].free_whole;
        }
        int before = s->proj_gpus[ni];
        s->proj_gpus[ni] += whole;
        int top = s->proj_gpus[ni] < SCHED_MAX_GPUS_PER_NODE ? s->proj_gpus[ni]
                                                              : SCHED_MAX_GPUS_PER_NODE;
        for (int g = before + 1; g <= top; g++) {
            GT_GROW(p->cross[g], p->capcross[g], p->ncross[g] + 1);
            p->cross[g][p->ncross[g]++] = (struct crossing){ni, r};
        }
    }
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
    /* The nodes that reach g in the walk, in its order, from the walk the pass's reservations
     * share (the walk below, once per pass and state; a node holding g already was chosen
     * above or cannot be, as below) */
    if (!s->p.no_shared_walk && g >= 1 && g <= SCHED_MAX_GPUS_PER_NODE) {
        projection_start(s);
        const struct projection *p = &s->proj;
        for (size_t c = 0; nchosen < want; c++) {
            while (c >= p->ncross[g] && p->walked < s->nreleases)
                projection_step(s);
            if (c >= p->ncross[g])
                break;
            int ni = p->cross[g][c].node;
            node_t *n = &s->nodes[ni];
            if (!n->up || !n->schedulable || !(types >> n->type & 1) || reserved_now(s, n) ||
                !node_has_features(n, j) || !node_maint_allows(s, n, j) || n->ngpus < g ||
                n->free_whole >= g)
                continue;
            chosen[nchosen++] = ni;
            sched_time_t end = s->releases[p->cross[g][c].rel].end;
            shadow = end > now ? end : now;
        }
        goto chosen;
    }
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
chosen:
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
