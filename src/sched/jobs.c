/* jobs.c: the job table (id -> index), the team queues of pending jobs, and a job's life:
 * submitted, started, stopped (back to the queue), finished or removed, and what it holds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

/* ---- Job table: id -> index by open addressing ---- */

static size_t id_hash(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

int sched_job_index(const sched_t *s, uint64_t id)
{
    for (size_t h = id_hash(id, s->id_cap);; h = (h + 1) & (s->id_cap - 1)) {
        int ji = s->id_table[h];
        if (ji == NIL)
            return NIL;
        if (ji >= 0 && s->jobs[ji].id == id && s->jobs[ji].live)
            return ji;
    }
}

job_t *sched_job_by_id(const sched_t *s, uint64_t id)
{
    int ji = sched_job_index(s, id);
    return ji == NIL ? NULL : &s->jobs[ji];
}

#define TOMB (-2)

static void id_insert(sched_t *s, uint64_t id, int ji);

static void id_rehash(sched_t *s, size_t cap)
{
    int *old = s->id_table;
    size_t oldcap = s->id_cap;
    s->id_table = xmalloc(cap * sizeof(int));
    memset(s->id_table, 0xff, cap * sizeof(int));
    s->id_cap = cap;
    s->id_used = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i] >= 0)
            id_insert(s, s->jobs[old[i]].id, old[i]);
    free(old);
}

static void id_insert(sched_t *s, uint64_t id, int ji)
{
    if ((s->id_used + 1) * 2 > s->id_cap)
        id_rehash(s, s->id_cap * 2);
    size_t h = id_hash(id, s->id_cap);
    while (s->id_table[h] >= 0)
        h = (h + 1) & (s->id_cap - 1);
    if (s->id_table[h] == NIL)
        s->id_used++;
    s->id_table[h] = ji;
}

static void id_delete(sched_t *s, uint64_t id, int ji)
{
    for (size_t h = id_hash(id, s->id_cap);; h = (h + 1) & (s->id_cap - 1)) {
        if (s->id_table[h] == NIL)
            return;
        if (s->id_table[h] == ji) {
            s->id_table[h] = TOMB;
            return;
        }
    }
}

/* ---- Jobs ---- */

sched_time_t job_plan_duration(const job_t *j)
{
    if (j->estimate > 0)
        return j->estimate;
    if (j->time_limit > 0)
        return j->time_limit;
    return 0;
}

static uint64_t all_types(const sched_t *s)
{
    return s->ntypes >= 64 ? ~0ULL : ((1ULL << s->ntypes) - 1);
}

/* Gang size: as asked, or one node when the GPUs fit on the largest acceptable node, or the
 * fewest nodes of that size that hold the GPUs evenly. Returns 0 when nothing could hold it. */
int job_resolve_nodes(const sched_t *s, job_t *j)
{
    if (j->nodes_asked > 0)
        return j->nodes = j->nodes_asked;
    int maxg = 0;
    for (int t = 0; t < s->ntypes; t++)
        if ((j->types >> t & 1) && s->type_max_gpus[t] > maxg)
            maxg = s->type_max_gpus[t];
    int64_t whole = j->gpus / SCHED_MILLI;
    if (j->gpus < SCHED_MILLI || whole <= maxg || maxg == 0)
        return j->nodes = 1;
    for (int64_t n = (whole + maxg - 1) / maxg; n <= whole; n++)
        if (whole % n == 0 && whole / n <= maxg)
            return j->nodes = (int)n;
    return j->nodes = 1;
}

/* Team t's queue loses entry e: t->dur_min stays a bound below what is left, but when e was
 * the least of its need, no longer the least. */
static void dur_min_lose(team_t *t, const qentry_t *e)
{
    if (qentry_backfill_dur(e) <= t->dur_min[e->need])
        t->dur_min_valid = false;
}

void team_dur_min_refresh(team_t *t)
{
    if (t->dur_min_valid)
        return;
    for (int g = 0; g <= t->need_top; g++)
        t->dur_min[g] = SCHED_NEVER;
    for (size_t i = 0; i < t->nqueue; i++) {
        const qentry_t *e = &t->queue[i];
        sched_time_t d = qentry_backfill_dur(e);
        if (d < t->dur_min[e->need])
            t->dur_min[e->need] = d;
    }
    t->dur_min_valid = true;
}

void team_qsum_refresh(team_t *t)
{
    if (t->qsum_valid)
        return;
    GT_GROW(t->qsum, t->capqsum, t->nqueue + 1);
    GT_GROW(t->qmin_need, t->capqmin_need, t->nqueue + 1);
    t->qsum[0] = 0;
    for (size_t i = 0; i < t->nqueue; i++)
        t->qsum[i + 1] = t->qsum[i] + t->queue[i].gpus;
    t->qmin_need[t->nqueue] = SCHED_MAX_GPUS_PER_NODE;
    for (size_t i = t->nqueue; i-- > 0;)
        t->qmin_need[i] = t->queue[i].need < t->qmin_need[i + 1] ? (uint8_t)t->queue[i].need
                                                                 : t->qmin_need[i + 1];
    t->qsum_valid = true;
}

void qentry_mark_seen(team_t *t, qentry_t *e)
{
    if (e->seen)
        return;
    dur_min_lose(t, e);
    e->seen = true;
}

/* The position of the first entry of t's queue at or after (key, id) (the queue is sorted by
 * (key, id), with room at both ends, two_ended.h: jobs start mostly from its front, and a
 * requeued job, whose key is old, goes back near it). */
static size_t queue_lower_bound(const team_t *t, sched_key_t key, uint64_t id)
{
    size_t lo = 0, hi = t->nqueue;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const qentry_t *o = &t->queue[mid];
        if (o->key < key || (o->key == key && o->id < id))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* j joins its team's queue at time now: its order key is fixed here (policy.h), and the
 * queue stays sorted by (key, id). */
static void team_queue_insert(team_t *t, const sched_t *s, int ji, sched_time_t now)
{
    job_t *j = &s->jobs[ji];
    j->queued_at = now;
    j->key = policy_job_key(s, j);
    size_t pos = queue_lower_bound(t, j->key, j->id);
    t->queue = two_ended_open(&t->queue_room, t->nqueue, pos, sizeof(*t->queue));
    qentry_t *slot = &t->queue[pos];
    t->nqueue++;
    int64_t per = j->nodes_asked > 0 ? j->gpus / j->nodes_asked : j->gpus;
    int need = j->gpus < SCHED_MILLI ? 0
               : per / SCHED_MILLI > SCHED_MAX_GPUS_PER_NODE ? SCHED_MAX_GPUS_PER_NODE
                                                            : (int)(per / SCHED_MILLI);
    bool one_node = j->nodes_asked <= 1 && j->gpus > 0 && j->gpus % SCHED_MILLI == 0 &&
                    !j->features && j->types == ~0ULL;
    *slot = (qentry_t){ji,      j->cls,  j->nodes_asked,       need,
                       j->gpus, j->key,  j->id,                job_plan_duration(j),
                       j->ntargets > 0,  false,                one_node,
                       j->cpus, j->mem};
    t->class_pending[j->cls]++;
    t->need_hist[j->cls][need]++;
    if (need > t->need_top)
        t->need_top = need;
    t->cpu_only[j->cls] += j->gpus == 0;
    t->dur_min[need] = 0; /* (not yet seen: qentry_backfill_dur) */
    t->qsum_valid = false;
}

static void team_queue_remove(team_t *t, int ji)
{
    for (size_t i = t->nqueue; i-- > 0;)
        if (t->queue[i].job == ji) {
            t->class_pending[t->queue[i].cls]--;
            t->need_hist[t->queue[i].cls][t->queue[i].need]--;
            t->cpu_only[t->queue[i].cls] -= t->queue[i].gpus == 0;
            dur_min_lose(t, &t->queue[i]);
            t->qsum_valid = false;
            t->queue = two_ended_close(&t->queue_room, t->nqueue, i, sizeof(*t->queue));
            t->nqueue--;
            return;
        }
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* The position of job ji's entry in t's queue (sorted by (key, id)), or t->nqueue. */
static size_t queue_find(const team_t *t, const sched_t *s, int ji)
{
    const job_t *j = &s->jobs[ji];
    size_t lo = queue_lower_bound(t, j->key, j->id);
    return lo < t->nqueue && t->queue[lo].job == ji ? lo : t->nqueue;
}

/* Takes the jobs a pass started out of t's queue: each found by binary search, the entries
 * between them moved once (toward the back when the last removed is nearer the front than
 * the first is to the back: two_ended.h). A pass over the whole queue checked every entry's
 * job (a cache miss each), 100,000 of them after every pass that started a job: most of a pass's
 * time with a long queue (perf, bench/scale 2000 100000). false when one is not where its
 * key says (then the caller checks every entry). */
static bool compact_started(team_t *t, const sched_t *s)
{
    size_t *pos = xcalloc(t->nstale, sizeof(*pos));
    for (size_t i = 0; i < t->nstale; i++)
        if ((pos[i] = queue_find(t, s, t->stale[i])) == t->nqueue) {
            free(pos);
            return false;
        }
    qsort(pos, t->nstale, sizeof(*pos), cmp_size);
    size_t m = 0;
    for (size_t i = 0; i < t->nstale; i++)
        if (m == 0 || pos[i] != pos[m - 1])
            pos[m++] = pos[i];
    for (size_t i = 0; i < m; i++) {
        const qentry_t *e = &t->queue[pos[i]];
        t->class_pending[e->cls]--;
        t->need_hist[e->cls][e->need]--;
        t->cpu_only[e->cls] -= e->gpus == 0;
        dur_min_lose(t, e);
    }
    if (pos[m - 1] < t->nqueue - pos[0]) {
        /* the entries before the last removed move toward the back, by the removed after them */
        for (size_t i = m; i-- > 0;) {
            size_t from = i > 0 ? pos[i - 1] + 1 : 0;
            memmove(&t->queue[from + (m - i)], &t->queue[from],
                    (pos[i] - from) * sizeof(*t->queue));
        }
        t->queue = two_ended_drop_front(&t->queue_room, m, sizeof(*t->queue));
        t->nqueue -= m;
    } else {
        size_t k = pos[0];
        for (size_t i = 0; i < m; i++) {
            size_t from = pos[i] + 1, to = i + 1 < m ? pos[i + 1] : t->nqueue;
            memmove(&t->queue[k], &t->queue[from], (to - from) * sizeof(*t->queue));
            k += to - from;
        }
        t->nqueue = k;
    }
    t->qsum_valid = false;
    free(pos);
    return true;
}

void sched_compact_queues(sched_t *s)
{
    for (int ti = 0; ti < s->nteams; ti++) {
        team_t *t = &s->teams[ti];
        if (!t->stale_queue)
            continue;
        if (t->nstale && compact_started(t, s)) {
            t->nstale = 0;
            t->stale_queue = false;
            continue;
        }
        t->nstale = 0;
        size_t k = 0;
        for (size_t i = 0; i < t->nqueue; i++) {
            const qentry_t *e = &t->queue[i];
            const job_t *j = &s->jobs[e->job];
            if (j->live && j->id == e->id && j->state == SCHED_PENDING)
                t->queue[k++] = *e;
            else {
                t->class_pending[e->cls]--;
                t->need_hist[e->cls][e->need]--;
                t->cpu_only[e->cls] -= e->gpus == 0;
                dur_min_lose(t, e);
            }
        }
        t->nqueue = k;
        t->qsum_valid = false;
        t->stale_queue = false;
    }
}

static void job_make_pending(sched_t *s, int ji, sched_time_t now)
{
    job_t *j = &s->jobs[ji];
    j->state = SCHED_PENDING;
    j->reason = SCHED_REASON_NONE;
    j->est_start = SCHED_NEVER;
    j->nslots = 0;
    team_queue_insert(&s->teams[j->team], s, ji, now);
    s->teams[j->team].pending++;
    s->npending++;
}

/* A job (new, or stopped and requeued) joins its team's queue at now; the next pass looks
 * at it. */
static void job_arrive(sched_t *s, int ji, sched_time_t now)
{
    job_make_pending(s, ji, now);
    GT_GROW(s->arrivals, s->caparrivals, s->narrivals + 1);
    s->arrivals[s->narrivals++] = ji;
}

/* The checks of a job request. Messages name the request, not a job id: at submission the job
 * does not exist yet (sched_job_submit() adds the id for the jobs it refuses). */
static int validate_spec(const sched_t *s, const sched_job_spec_t *sp, gt_error_t *err)
{
    errno = EINVAL;
    if (sp->team < 0 || sp->team >= s->nteams)
        return gt_error_set(err, "invalid_argument", "unknown team");
    if (sp->prio_class < 0 || sp->prio_class >= s->nclasses)
        return gt_error_set(err, "invalid_argument", "unknown priority class");
    if (sp->gpus_milli < 0 || (sp->gpus_milli > SCHED_MILLI && sp->gpus_milli % SCHED_MILLI))
        return gt_error_set(err, "invalid_argument",
                            "gpus must be 0 (CPU only), a whole number or a fraction of one GPU");
    if (sp->gpus_milli > (int64_t)SCHED_MILLI * 1000000)
        return gt_error_set(err, "invalid_argument", "too many GPUs (at most 1000000)");
    if (sp->nodes < 0 || sp->nodes > 100000)
        return gt_error_set(err, "invalid_argument", "nodes must be 0 to 100000, not %d",
                            sp->nodes);
    if (sp->nodes > 1 && ((sp->gpus_milli > 0 && sp->gpus_milli < SCHED_MILLI) ||
                          (sp->gpus_milli / SCHED_MILLI) % sp->nodes != 0)) {
        int64_t g = sp->gpus_milli / SCHED_MILLI, lo = g / sp->nodes * sp->nodes;
        if (sp->gpus_milli < SCHED_MILLI)
            return gt_error_set(err, "invalid_argument",
                                "%d nodes must each get the same whole number of GPUs: a "
                                "fraction of one GPU runs on one node",
                                sp->nodes);
        char ask[64];
        if (lo)
            snprintf(ask, sizeof(ask), "%lld or %lld", (long long)lo, (long long)(lo + sp->nodes));
        else
            snprintf(ask, sizeof(ask), "%d", sp->nodes);
        return gt_error_set(err, "invalid_argument",
                            "%d nodes must each get the same whole number of GPUs: %lld GPUs "
                            "do not divide by %d (ask for %s GPUs, or for other nodes)",
                            sp->nodes, (long long)g, sp->nodes, ask);
    }
    if (sp->nodes > 0 && sp->gpus_milli / SCHED_MILLI / (sp->nodes ? sp->nodes : 1) >
                             SCHED_MAX_GPUS_PER_NODE)
        return gt_error_set(err, "invalid_argument", "more than %d GPUs per node",
                            SCHED_MAX_GPUS_PER_NODE);
    if (sp->cpus_milli < 0 || sp->memory_mib < 0 || sp->time_limit < 0 || sp->estimate < 0)
        return gt_error_set(err, "invalid_argument", "CPUs, memory and times can't be negative");
    if (sp->features >> SCHED_MAX_FEATURES)
        return gt_error_set(err, "invalid_argument", "unknown node feature");
    if (sp->gpu_types && (sp->gpu_types & ~all_types(s)))
        return gt_error_set(err, "invalid_argument", "unknown GPU type");
    if (sched_job_index(s, sp->id) != NIL) {
        errno = EEXIST;
        return gt_error_set(err, "conflict", "job %llu already exists",
                            (unsigned long long)sp->id);
    }
    return 0;
}

static int job_alloc(sched_t *s, const sched_job_spec_t *sp)
{
    int ji;
    if (s->nfree_jobs)
        ji = s->free_jobs[--s->nfree_jobs];
    else {
        GT_GROW(s->jobs, s->capjobs, (size_t)s->njobs + 1);
        ji = s->njobs++;
        memset(&s->jobs[ji], 0, sizeof(s->jobs[ji]));
    }
    job_t *j = &s->jobs[ji];
    sched_slot_t *slots = j->slots;
    size_t capslots = j->capslots;
    int *targets = j->targets;
    size_t captargets = j->captargets;
    memset(j, 0, sizeof(*j));
    j->slots = slots;
    j->capslots = capslots;
    j->targets = targets;
    j->captargets = captargets;
    j->id = sp->id;
    j->live = true;
    j->team = sp->team;
    j->cls = sp->prio_class;
    j->gpus = sp->gpus_milli;
    j->nodes_asked = sp->nodes;
    j->types = sp->gpu_types ? sp->gpu_types : ~0ULL;
    j->cpus = sp->cpus_milli;
    j->mem = sp->memory_mib;
    j->features = sp->features;
    j->submit = sp->submit;
    j->time_limit = sp->time_limit;
    j->estimate = sp->estimate;
    j->preemptible = s->classes[sp->prio_class].preemptible && !sp->no_preempt;
    j->checkpointable = sp->checkpointable;
    j->run_pos = NIL;
    j->vict_pos = NIL;
    j->alloc_type = NIL;
    j->est_start = SCHED_NEVER;
    id_insert(s, sp->id, ji);
    return ji;
}

int sched_job_validate(const sched_t *s, const sched_job_spec_t *spec, gt_error_t *err)
{
    return validate_spec(s, spec, err);
}

int sched_job_submit(sched_t *s, const sched_job_spec_t *spec, gt_error_t *err)
{
    s->changed = true;
    if (validate_spec(s, spec, err) < 0) {
        /* Here the job exists (the driver's, or a trace's): its id leads the message. */
        if (err && errno == EINVAL) {
            char pre[32];
            int np = snprintf(pre, sizeof(pre), "job %llu: ", (unsigned long long)spec->id);
            size_t keep = strnlen(err->msg, sizeof(err->msg) - 1 - (size_t)np);
            memmove(err->msg + np, err->msg, keep);
            memcpy(err->msg, pre, (size_t)np);
            err->msg[np + keep] = '\0';
        }
        return -1;
    }
    if (s->p.placement == SCHED_PLACE_FGD)
        fgd_observe(s, spec);
    job_arrive(s, job_alloc(s, spec), spec->submit);
    return 0;
}

static void slot_charge(sched_t *s, job_t *j, int sign)
{
    int64_t milli = 0;
    for (int k = 0; k < j->nslots; k++) {
        const sched_slot_t *sl = &j->slots[k];
        milli += (int64_t)__builtin_popcountll(sl->gpu_mask) * sl->gpu_milli;
    }
    s->charges += sign > 0;
    s->alloc_milli += sign * milli;
    for (int t = j->team; t != NIL; t = s->teams[t].parent) {
        s->teams[t].by_type[0].alloc += sign * milli;
        if (j->alloc_type >= 0)
            s->teams[t].by_type[QIDX(j->alloc_type)].alloc += sign * milli;
    }
}

/* Commits j's chosen slots: nodes, team allocation, running list. */
void job_start(sched_t *s, int ji, sched_time_t now)
{
    job_t *j = &s->jobs[ji];
    team_t *t = &s->teams[j->team];
    if (s->in_pass) {
        t->stale_queue = true; /* the pass is walking the queue: it leaves afterwards */
        GT_GROW(t->stale, t->capstale, t->nstale + 1);
        t->stale[t->nstale++] = ji;
    } else
        team_queue_remove(t, ji);
    t->pending--;
    s->npending--;
    j->alloc_type = s->nodes[j->slots[0].node].type;
    /* a CPU-only job holds no GPU: it never borrows, so quota reclaim never takes it */
    j->borrowing = s->p.quotas && !job_cpu_only(j) &&
                   !team_within_quota(s, j->team, 1ULL << j->alloc_type, j->gpus);
    for (int k = 0; k < j->nslots; k++)
        node_take(s, j->slots[k].node, &j->slots[k], j->cpus, j->mem);
    sched_accrue_usage(s, now); /* what the team held until now, before it holds more */
    slot_charge(s, j, +1);
    j->state = SCHED_RUNNING;
    job_set_targets(s, ji, NULL, 0);
    j->start = now;
    j->start_seq = ++s->seq;
    j->last_ckpt = now;
    j->reason = SCHED_REASON_NONE;
    j->est_start = SCHED_NEVER;
    t->running++;
    GT_GROW(s->running, s->caprunning, (size_t)s->nrunning + 1);
    j->run_pos = s->nrunning;
    s->running[s->nrunning++] = ji;
    victims_add(s, ji);
    release_track(s, ji);
    s->stats.starts++;
}

/* Frees what a running or preempting job holds, and counts the service its run had. */
void job_release(sched_t *s, int ji, sched_time_t now)
{
    job_t *j = &s->jobs[ji];
    sched_accrue_usage(s, now);
    if (now > j->start) {
        j->attained_gpu_s += (double)(now - j->start) * (double)j->gpus / SCHED_MILLI;
        if (j->checkpointable) /* it checkpoints in its grace period: the work is kept */
            j->kept_s += now - j->start;
    }
    for (int k = 0; k < j->nslots; k++)
        node_give(s, j->slots[k].node, &j->slots[k], j->cpus, j->mem);
    slot_charge(s, j, -1);
    release_untrack(s, ji);
    victims_remove(s, ji);
    s->loosened = true;
    int last = s->running[--s->nrunning];
    s->running[j->run_pos] = last;
    s->jobs[last].run_pos = j->run_pos;
    j->run_pos = NIL;
    s->teams[j->team].running--;
    j->nslots = 0;
    if (j->preempt_for) {
        job_t *p = sched_job_by_id(s, j->preempt_for);
        if (p && p->victims_pending > 0)
            p->victims_pending--;
        j->preempt_for = 0;
    }
}

void job_set_targets(sched_t *s, int ji, const int *nodes, int n)
{
    job_t *j = &s->jobs[ji];
    if (j->ntargets > 0 && n == 0) {
        for (int i = 0; i < s->nnominated; i++)
            if (s->nominated[i] == ji) {
                s->nominated[i] = s->nominated[--s->nnominated];
                break;
            }
    } else if (j->ntargets == 0 && n > 0) {
        GT_GROW(s->nominated, s->capnominated, (size_t)s->nnominated + 1);
        s->nominated[s->nnominated++] = ji;
    }
    GT_GROW(j->targets, j->captargets, (size_t)n);
    for (int i = 0; i < n; i++)
        j->targets[i] = nodes[i];
    j->ntargets = n;
    if (j->state == SCHED_PENDING) { /* its queue entry says so: the passes never skip it */
        team_t *t = &s->teams[j->team];
        size_t pos = queue_find(t, s, ji);
        if (pos < t->nqueue)
            t->queue[pos].nominated = n > 0;
    }
}

static void job_forget(sched_t *s, int ji)
{
    job_t *j = &s->jobs[ji];
    job_set_targets(s, ji, NULL, 0);
    id_delete(s, j->id, ji);
    j->live = false;
    GT_GROW(s->free_jobs, s->capfree_jobs, (size_t)s->nfree_jobs + 1);
    s->free_jobs[s->nfree_jobs++] = ji;
}

int sched_job_remove(sched_t *s, uint64_t id, sched_time_t now)
{
    s->changed = true;
    s->loosened = true; /* a pending job gone may free a reservation or unblock a queue */
    int ji = sched_job_index(s, id);
    if (ji == NIL) {
        errno = ENOENT;
        return -1;
    }
    job_t *j = &s->jobs[ji];
    if (j->state == SCHED_PENDING) {
        team_queue_remove(&s->teams[j->team], ji);
        s->teams[j->team].pending--;
        s->npending--;
    } else {
        job_release(s, ji, now);
    }
    job_forget(s, ji);
    return 0;
}

/* The index of a running (or preempting) job, or NIL with errno ENOENT / EINVAL. */
static int running_index(sched_t *s, uint64_t id)
{
    s->changed = true;
    int ji = sched_job_index(s, id);
    if (ji == NIL || s->jobs[ji].state == SCHED_PENDING) {
        errno = ji == NIL ? ENOENT : EINVAL;
        return NIL;
    }
    return ji;
}

int sched_job_finished(sched_t *s, uint64_t id, sched_time_t now)
{
    int ji = running_index(s, id);
    if (ji == NIL)
        return -1;
    job_release(s, ji, now);
    job_forget(s, ji);
    return 0;
}

int sched_job_stopped(sched_t *s, uint64_t id, sched_time_t now)
{
    int ji = running_index(s, id);
    if (ji == NIL)
        return -1;
    job_release(s, ji, now);
    job_arrive(s, ji, now);
    return 0;
}

int sched_job_checkpointed(sched_t *s, uint64_t id, sched_time_t t)
{
    job_t *j = sched_job_by_id(s, id);
    if (!j) {
        errno = ENOENT;
        return -1;
    }
    if (t > j->last_ckpt)
        j->last_ckpt = t;
    return 0;
}

int sched_job_restore_running(sched_t *s, const sched_job_spec_t *spec, sched_time_t start,
                              const sched_slot_t *slots, int nslots, gt_error_t *err)
{
    if (validate_spec(s, spec, err) < 0)
        return -1;
    if (nslots <= 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "a running job needs slots");
    }
    for (int k = 0; k < nslots; k++) {
        const sched_slot_t *sl = &slots[k];
        /* a CPU-only job's slot holds no GPU: mask 0 and gpu_milli 0, and only then */
        bool none = spec->gpus_milli == 0;
        if (sl->node < 0 || sl->node >= s->nnodes || sl->gpu_milli > SCHED_MILLI ||
            (none ? sl->gpu_milli != 0 || sl->gpu_mask != 0 : sl->gpu_milli <= 0)) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "job %llu: bad slot",
                                (unsigned long long)spec->id);
        }
        const node_t *n = &s->nodes[sl->node];
        for (int g = 0; g < SCHED_MAX_GPUS_PER_NODE; g++)
            if ((sl->gpu_mask >> g & 1) && (g >= n->ngpus || n->gpu_free[g] < sl->gpu_milli)) {
                errno = EINVAL;
                return gt_error_set(err, "conflict", "job %llu: GPU %d of node %s is taken",
                                    (unsigned long long)spec->id, g, n->name);
            }
    }
    int ji = job_alloc(s, spec);
    job_t *j = &s->jobs[ji];
    job_resolve_nodes(s, j);
    GT_GROW(j->slots, j->capslots, (size_t)nslots);
    memcpy(j->slots, slots, (size_t)nslots * sizeof(*slots));
    j->nslots = nslots;
    j->nodes = nslots;
    /* job_start expects a queued job */
    team_queue_insert(&s->teams[j->team], s, ji, start);
    s->teams[j->team].pending++;
    s->npending++;
    job_start(s, ji, start);
    j->start_seq = 0; /* it ran before anything this scheduler was told */
    s->stats.starts--;
    return 0;
}

int sched_job_info(const sched_t *s, uint64_t id, sched_job_info_t *out)
{
    const job_t *j = sched_job_by_id(s, id);
    if (!j) {
        errno = ENOENT;
        return -1;
    }
    sched_reason_t reason = j->reason;
    sched_time_t est = j->est_start;
    if (j->state == SCHED_PENDING && j->eval_cycle != s->stats.cycles && s->stats.cycles) {
        /* passed over by the last pass: behind the job that blocks all (no backfill), over
         * its team's limit, or nothing could fit */
        if (s->fifo_blocker && s->fifo_blocker != j->id)
            reason = SCHED_REASON_PRIORITY;
        else if (!team_limit_allows(s, j->team, -1, j->gpus))
            reason = SCHED_REASON_QUOTA;
        else if (reason == SCHED_REASON_NONE || reason == SCHED_REASON_QUOTA)
            reason = SCHED_REASON_CAPACITY;
        est = SCHED_NEVER;
    }
    *out = (sched_job_info_t){
        .state = j->state, .reason = reason, .estimated_start = est,
        .start = j->start, .nodes = j->nodes ? j->nodes : j->nodes_asked,
        .borrowing = j->borrowing,
        .blocked_by = reason == SCHED_REASON_PRIORITY && s->fifo_blocker && j->eval_cycle != s->stats.cycles
                          ? s->fifo_blocker : j->blocked_by,
        .nslots = j->state == SCHED_PENDING ? 0 : j->nslots, .slots = j->slots,
    };
    return 0;
}

