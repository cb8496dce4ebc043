/* cycle.c: one scheduling pass.
 *
 * Order: strict priority tiers (class value, high first); inside a tier, jobs within their
 * team's quota before borrowers; then fair share: a team's key is its decayed usage plus what
 * it holds now plus what its earlier pending jobs ask, all as projected GPU-seconds, over its
 * weight (so teams interleave by share, not one team's whole queue first); then the order
 * policy's job key (policy.h: by default the submit time, so age), then id.
 *
 * Nodes that are not schedulable (drained, cordoned) are out of the free index; nodes with a
 * maintenance window take a job only if it ends before the window (maint.c).
 *
 * Each job in that order: its team's limit (QUOTA), a placement now (START), else a
 * preemption (PREEMPT its victims), else a reservation for the first blocked jobs (backfill)
 * or, without backfill, every later job waits behind the first blocked one (PRIORITY). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched/defrag.h"
#include "sched/sched_internal.h"

/* A pass tries to preempt for at most this many jobs: each try scans the running jobs.
 * Failed tries are remembered by shape and power; jobs past the cap get their turn in the
 * next passes (they are marked preempt_deferred). */
#define PREEMPT_TRIES_PER_CYCLE 64

/* yes_until_winner looks for a witness among this many runs from the one that could act at the
 * last check: one is usually near (at Philly seed0 x 8, 16 looks left 0.41 M of the 0.52 M
 * walks of the rests that 4 leave: temporary counters). */
#define WITNESS_LOOKS 4

void sched_decide(sched_t *s, sched_action_t a, uint64_t job, uint64_t for_id)
{
    GT_GROW(s->dec, s->capdec, s->ndec + 1);
    s->dec[s->ndec++] = (sched_decision_t){a, job, for_id};
}

/* The pending jobs are merged from runs, one per (team, class), each already in order:
 * inside a team's queue (by the policy's job key, fixed while a job waits: policy.h) the
 * fair-share key and the quota test only grow. A run
 * computes its entries as the merge takes them, so a pass that ends early (nobody left can
 * act) costs what it looked at, not the length of the queue. */
/* Whether queue entry e of r's team is within the team's quota: what the team holds plus the
 * GPUs of its earlier jobs within quota (r->inq) plus e's fit the quota. The one notion of
 * "within quota" for a pending job (docs/scheduler.md, "Within quota"): the order puts these
 * jobs first, they alone may reclaim (evaluate also asks that the team hold no more than its
 * quota allows now), and the skip rules pass over no job that could. An earlier job that does
 * not fit (larger than what is left of the quota) does not count: a team with a 64-GPU job
 * queued on a 16-GPU quota still reclaims for its smaller jobs. */
static bool entry_in_quota(const sched_t *s, int team, int64_t inq, const qentry_t *e)
{
    const team_t *t = &s->teams[team];
    if (!s->p.quotas)
        return false;
    if (t->by_type[0].quota > 0 && inq + e->gpus <= t->by_type[0].quota)
        return true;
    return t->typed_quota && team_within_quota(s, team, s->jobs[e->job].types,
                                               e->gpus + inq - t->by_type[0].alloc);
}

/* Whether some entry of run r not yet reached may be within its team's quota
 * (entry_in_quota), from inq (what the team holds plus the GPUs of the run's entries before
 * them within quota): the least any of them asks (at least its least need left in whole GPUs)
 * fits the quota over inq, or the team has typed quotas (not bounded here). A bound: false
 * means none is. Not only the head: a job within quota may follow one that is not (a 16-GPU
 * gang queued on an 8-GPU quota, then an 8-GPU job). */
static bool run_may_hold_in_quota(const sched_t *s, const struct order_run *r, int64_t inq)
{
    const team_t *t = &s->teams[r->team];
    int64_t quota = t->by_type[0].quota;
    return s->p.quotas &&
           (t->typed_quota || (quota > 0 && inq + (int64_t)r->min_need * SCHED_MILLI <= quota));
}

/* Whether queue entry e of team t would take the team over its limit now (a CPU-only job adds
 * nothing to its team's GPUs: never). */
static bool entry_over_limit(const sched_t *s, const team_t *t, const qentry_t *e)
{
    const struct team_gpus *all = &t->by_type[0];
    return s->p.quotas && e->gpus > 0 && all->limit >= 0 && all->alloc + e->gpus > all->limit;
}

/* r->min_need after a need of r's left its counts: the least need left, up to r->need_top
 * (above it hist is not copied), or SCHED_MAX_GPUS_PER_NODE when none is left. */
static void run_settle_min_need(struct order_run *r)
{
    while (r->min_need <= r->need_top && !r->hist[r->min_need])
        r->min_need++;
    if (r->min_need > r->need_top)
        r->min_need = SCHED_MAX_GPUS_PER_NODE;
}

/* The fair-share key of run r's entry with cum GPUs before it (the one formula: a rest
 * passed over at once computes its keys as the head's are). */
static inline double run_share(const struct order_run *r, int64_t cum)
{
    return r->share0 + (double)cum * r->share_per_milli;
}

/* A key's first word: class value high first (INT32_MAX - value is in [0, 2^32)), then
 * within quota. */
static inline uint64_t key_k0(int cls_value, bool in_quota)
{
    return (uint64_t)((int64_t)INT32_MAX - cls_value) << 1 | (uint64_t)!in_quota;
}

static void run_fill_head(sched_t *s, struct order_run *r)
{
    const team_t *t = &s->teams[r->team];
    for (; r->q < t->nqueue && t->queue[r->q].cls != r->cls; r->q++) {
        const qentry_t *o = &t->queue[r->q]; /* all its earlier jobs count, whatever their class */
        r->cum += o->gpus;
        if (entry_in_quota(s, r->team, r->inq, o))
            r->inq += o->gpus;
    }
    if (r->q == t->nqueue)
        return;
    const qentry_t *e = &t->queue[r->q];
    double share = run_share(r, r->cum);
    int in_quota = entry_in_quota(s, r->team, r->inq, e);
    int over = entry_over_limit(s, t, e);
    r->head = (order_entry_t){e->job, e->need, e->gpus == 0, r->cls_value, in_quota, over, share,
                              e->key, e->id, e->dur, e->nominated, (qentry_t *)e};
}

static bool run_done(const sched_t *s, const struct order_run *r)
{
    return r->q >= s->teams[r->team].nqueue;
}

/* The merge: a loser tree over the runs, keyed by a compact copy of each run's head (run_key:
 * fields that order the pending jobs, in one small array, so a comparison touches no run). Each pop
 * replays one leaf-to-root path: log2(runs) comparisons. Any merge that takes the least head
 * each time gives the same sequence (the order is total: ids are unique), so this is
 * the binary heap it replaced, cheaper per entry (the merge was half of a replay's time at
 * Philly seed0 x 8: docs/performance.md, "Replay scaling"). */
/* A key before every entry's. */
static const struct run_key KEY_FIRST = {0, -HUGE_VAL, INT64_MIN, 0};

/* The key of run r's head (run_done: after everything). */
static struct run_key head_key(const sched_t *s, const struct order_run *r)
{
    if (run_done(s, r))
        return (struct run_key){.k0 = UINT64_MAX};
    return (struct run_key){key_k0(r->head.cls_value, r->head.in_quota), r->head.share,
                            r->head.key, r->head.id};
}

static inline bool key_before(const struct run_key *x, const struct run_key *y)
{
    if (x->k0 != y->k0)
        return x->k0 < y->k0;
    if (x->k0 == UINT64_MAX)
        return false;
    if (x->share != y->share)
        return x->share < y->share;
    if (x->key != y->key)
        return x->key < y->key;
    return x->id < y->id;
}

/* Run ri's key in the merge: its head's, or the largest key taken from the run so far (its
 * floor) when the head's would go before it. A run's keys need not grow (a job within quota may
 * follow one that is not); with the floor they do, and the merge takes the entries in the same
 * order (a head below its floor comes out next either way), but the key the merge takes an
 * entry at is then its place in that order (cycle.c, run_skip_ahead). */
static void run_key_set(sched_t *s, size_t ri)
{
    const struct order_run *r = &s->runs[ri];
    s->run_keys[ri] = head_key(s, r);
    if (!run_done(s, r) && key_before(&s->run_keys[ri], &r->floor))
        s->run_keys[ri] = r->floor;
}

/* Whether run a's head goes before run b's (-1: an empty leaf, after everything). */
static inline bool run_before(const sched_t *s, int a, int b)
{
    if (a < 0)
        return false;
    if (b < 0)
        return true;
    return key_before(&s->run_keys[a], &s->run_keys[b]);
}

static bool rest_over_limit(const sched_t *s, const struct order_run *r);
static void run_pass_over_rest(sched_t *s, int w, const struct run_key *from);

static size_t build_runs(sched_t *s)
{
    size_t nruns = 0;
    double decay, gain; /* each team's usage now (team_usage) */
    sched_usage_factors(s, s->now, &decay, &gain);
    s->pend_max_class = INT32_MIN;
    s->pend_in_quota = false;
    for (int ti = 0; ti < s->nteams; ti++) {
        team_t *t = &s->teams[ti];
        for (int c = 0; c < s->nclasses && t->nqueue; c++) {
            if (!t->class_pending[c])
                continue;
            GT_GROW(s->runs, s->capruns, nruns + 1);
            struct order_run *r = &s->runs[nruns++];
            r->team = ti;
            r->cls = c;
            r->cls_value = s->classes[c].value;
            r->q = 0;
            r->cum = t->by_type[0].alloc;
            r->inq = t->by_type[0].alloc;
            /* (decayed usage + projected GPU-seconds of what it holds and asks) / weight */
            double h = s->p.half_life_s > 0 ? (double)s->p.half_life_s / M_LN2 : 1.0;
            r->share0 =
                s->p.fairshare && s->p.half_life_s > 0 ? team_usage(t, decay, gain) / t->weight : 0;
            r->share_per_milli = s->p.fairshare ? h / SCHED_MILLI / t->weight : 0;
            r->need_top = t->need_top;
            memcpy(r->hist, t->need_hist[c], (size_t)(r->need_top + 1) * sizeof(r->hist[0]));
            r->min_need = 0;
            run_settle_min_need(r);
            r->cpu_only = t->cpu_only[c];
            r->nominated = 0;
            r->sh_first = -1;
            r->floor = KEY_FIRST;
            r->listed = false;
            r->resting = false;
            run_fill_head(s, r);
            if (r->cls_value > s->pend_max_class)
                s->pend_max_class = r->cls_value;
            s->pend_in_quota |=
                t->class_pending[c] > r->cpu_only && run_may_hold_in_quota(s, r, r->inq);
        }
    }
    /* the nominated preemptors (few) are counted in their runs: a pass never ends before
     * their turn (anyone_left_can_act) */
    for (int i = 0; i < s->nnominated; i++) {
        const job_t *j = &s->jobs[s->nominated[i]];
        for (size_t r = 0; r < nruns; r++)
            if (s->runs[r].team == j->team && s->runs[r].cls == j->cls) {
                s->runs[r].nominated++;
                break;
            }
    }
    s->nshadow = 0;
    s->nshadow_runs = 0;
    s->nrest_runs = 0;
    /* a run whose whole rest is over its team's limit from the start is passed over at once:
     * the pass reaches its entries at their places, none goes through the merge */
    if (!s->p.no_skip_ahead)
        for (size_t r = 0; r < nruns; r++)
            if (rest_over_limit(s, &s->runs[r]))
                run_pass_over_rest(s, (int)r, &KEY_FIRST);
    /* the loser tree: leaves [0, ntree) (runs, then empty leaves), its losers in run_tree[1..
     * ntree), the winner in run_tree[0]; the winners of subtrees while building, in
     * run_tree[ntree..3 ntree) */
    size_t n = 1;
    while (n < nruns)
        n <<= 1;
    GT_GROW(s->run_keys, s->capkeys, nruns + 1);
    GT_GROW(s->run_tree, s->captree, 3 * n);
    s->nruns = nruns;
    s->ntree = n;
    s->nlive = 0;
    for (size_t r = 0; r < nruns; r++) {
        run_key_set(s, r);
        s->nlive += !run_done(s, &s->runs[r]);
    }
    int *win = s->run_tree + n; /* win[i] for node i in [1, 2n): leaves at [n, 2n) */
    for (size_t i = 0; i < n; i++)
        win[n + i] = i < nruns ? (int)i : -1;
    for (size_t i = n; i-- > 1;) {
        int a = win[2 * i], b = win[2 * i + 1];
        bool ab = run_before(s, a, b);
        win[i] = ab ? a : b;
        s->run_tree[i] = ab ? b : a;
    }
    s->run_tree[0] = win[1];
    return nruns;
}

/* Moves run r past its head: the counts of what is left (with_counts: the needs, CPU-only
 * jobs and nominations of the jobs not yet reached; an entry taken ahead of its turn leaves
 * them until the merge reaches its place) and the next entry as the head. */
static void run_advance(sched_t *s, struct order_run *r, bool with_counts)
{
    const team_t *t = &s->teams[r->team];
    r->cum += t->queue[r->q].gpus;
    if (r->head.in_quota)
        r->inq += t->queue[r->q].gpus;
    r->q++;
    if (with_counts) {
        r->cpu_only -= r->head.cpu_only;
        r->nominated -= r->head.nominated;
        if (--r->hist[r->head.need] == 0)
            run_settle_min_need(r);
    }
    run_fill_head(s, r);
}

/* After run w's head changed (it was the merge's winner): its key, and its path of the loser
 * tree replayed (at each node the loser stays, the winner goes up). */
static void run_replay(sched_t *s, int w)
{
    if (run_done(s, &s->runs[w]))
        s->nlive--;
    run_key_set(s, (size_t)w);
    int cur = w;
    for (size_t i = (s->ntree + (size_t)w) >> 1; i > 0; i >>= 1)
        if (run_before(s, s->run_tree[i], cur)) {
            int tmp = s->run_tree[i];
            s->run_tree[i] = cur;
            cur = tmp;
        }
    s->run_tree[0] = cur;
}

/* The merge's winner, left in place until merge_take, or -1 when every run is done. */
static int merge_peek(const sched_t *s)
{
    int w = s->run_tree[0];
    if (!s->nlive || w < 0 || s->run_keys[w].k0 == UINT64_MAX)
        return -1;
    return w;
}

/* An entry taken ahead of its turn is reached: the counts of run r's jobs not yet reached
 * lose it, and whether it waits for GPUs counts (*capacity_wait) as if the pass had passed
 * over it at its turn. */
static void shadow_reach(sched_t *s, struct order_run *r, bool *capacity_wait)
{
    const struct shadow_entry *x = &s->shadow[r->sh_first];
    *capacity_wait |= x->waits;
    if (--r->hist[x->need] == 0)
        run_settle_min_need(r);
    r->sh_first = x->next;
}

/* Reaches every entry taken ahead of its turn whose place comes before key k (NULL: all). The
 * runs that have reached all of theirs leave the list. */
static void shadow_reach_before(sched_t *s, const struct run_key *k, bool *capacity_wait)
{
    for (size_t i = 0; i < s->nshadow_runs;) {
        struct order_run *r = &s->runs[s->shadow_runs[i]];
        while (r->sh_first >= 0 && (!k || key_before(&s->shadow[r->sh_first].key, k)))
            shadow_reach(s, r, capacity_wait);
        if (r->sh_first < 0) {
            r->listed = false;
            s->shadow_runs[i] = s->shadow_runs[--s->nshadow_runs];
        } else {
            i++;
        }
    }
}

/* The run whose first entry taken ahead of its turn and not yet reached comes first, or -1. */
static int shadow_first(const sched_t *s)
{
    int best = -1;
    for (size_t i = 0; i < s->nshadow_runs; i++) {
        int h = s->shadow_runs[i];
        const struct order_run *r = &s->runs[h];
        if (r->sh_first >= 0 &&
            (best < 0 ||
             key_before(&s->shadow[r->sh_first].key, &s->shadow[s->runs[best].sh_first].key)))
            best = h;
    }
    return best;
}

/* Asks the memory for the job record of the merge's winner (the next entry the pass takes)
 * while the caller evaluates the entry it just took, so that the record is in the cache at
 * that entry's turn. With 100,000 jobs pending, the first read of each evaluated job's record
 * (320 bytes, 5 cache lines) was a fifth of `gantry bench sched`'s passes (perf). A hint:
 * nothing depends on it. */
static void prefetch_next_job(const sched_t *s)
{
    int w = s->run_tree[0];
    if (w < 0 || run_done(s, &s->runs[w]))
        return;
    const char *j = (const char *)&s->jobs[s->runs[w].head.job];
    for (size_t off = 0; off < sizeof(job_t); off += 64)
        __builtin_prefetch(j + off);
}

/* Takes the winner w's head (into s->cur) out of the merge; its run's entries taken ahead of
 * their turn all come before it. */
static const order_entry_t *merge_take(sched_t *s, int w, bool *capacity_wait)
{
    struct order_run *r = &s->runs[w];
    while (r->sh_first >= 0)
        shadow_reach(s, r, capacity_wait);
    s->cur = r->head;
    s->cur_key = s->run_keys[w];
    /* (its team may have started jobs since it became its run's head) */
    s->cur.over_limit = entry_over_limit(s, &s->teams[r->team], s->cur.qe);
    r->floor = s->cur_key;
    run_advance(s, r, true);
    return &s->cur;
}

/* Acceptable GPU types that the team's limits still allow for this job. A CPU-only job takes
 * any acceptable type that has nodes (CPU-only nodes are of type "none"), whatever the limits
 * say: it holds no GPU. */
static uint64_t allowed_types(const sched_t *s, const job_t *j)
{
    uint64_t m = 0;
    bool cpu = job_cpu_only(j);
    for (int t = 0; t < s->ntypes; t++)
        if ((j->types >> t & 1) &&
            (cpu ? s->type_nodes[t] > 0
                 : s->type_max_gpus[t] > 0 && team_limit_allows(s, j->team, t, j->gpus)))
            m |= 1ULL << t;
    return m;
}

/* Whether nodes that offer j's features (one feature at a time: exact for one) could hold j
 * of their own: of an acceptable type, enough of them, one large enough. */
static bool features_could_fit(const sched_t *s, const job_t *j)
{
    int g = job_per_node_gpus_whole(j);
    for (int f = 0; f < SCHED_MAX_FEATURES; f++) {
        if (!(j->features >> f & 1))
            continue;
        int nodes = 0;
        bool big = false;
        for (int t = 0; t < s->ntypes; t++) {
            const struct feature_stat *fs = &s->feat[t][f];
            if (!(j->types >> t & 1) || !fs->nodes)
                continue; /* (a type without nodes never counts, CPU-only jobs included) */
            nodes += fs->nodes;
            big |= fs->max_gpus >= g && (!j->cpus || !fs->max_cpus || fs->max_cpus >= j->cpus) &&
                   (!j->mem || !fs->max_mem || fs->max_mem >= j->mem);
        }
        if (nodes < j->nodes || !big)
            return false;
    }
    return true;
}

static bool could_ever_fit(const sched_t *s, const job_t *j)
{
    int g = job_per_node_gpus_whole(j), nodes = 0;
    for (int t = 0; t < s->ntypes; t++)
        if (j->types >> t & 1)
            nodes += s->type_nodes[t];
    if (nodes < j->nodes)
        return false;
    for (int t = 0; t < s->ntypes; t++)
        if ((j->types >> t & 1) && s->type_nodes[t] > 0 && s->type_max_gpus[t] >= g &&
            (!j->cpus || !s->type_max_cpus[t] || s->type_max_cpus[t] >= j->cpus) &&
            (!j->mem || !s->type_max_mem[t] || s->type_max_mem[t] >= j->mem))
            return true;
    return false;
}

/* j's end for maintenance windows if it started now (node_maint_allows): a job that ends
 * later fits wherever windows let it no better. */
static sched_time_t maint_end(const sched_t *s, const job_t *j)
{
    sched_time_t d = job_maint_duration(j);
    return d > 0 ? s->now + d : SCHED_NEVER;
}

static bool shape_dominates(const fail_shape_t *f, const job_t *j, uint64_t types, int64_t per,
                            sched_time_t mend)
{
    return (types & ~f->types) == 0 && mend >= f->mend && (f->features & ~j->features) == 0 &&
           per >= f->per_node && j->nodes >= f->nodes &&
           j->cpus >= f->cpus && j->mem >= f->mem;
}

static bool failed_before(const sched_t *s, const job_t *j, uint64_t types, int64_t per,
                          sched_time_t end, sched_reason_t *reason)
{
    for (int i = 0; i < s->nfails; i++) {
        const fail_shape_t *f = &s->fails[i];
        if (shape_dominates(f, j, types, per, maint_end(s, j)) && end >= f->end) {
            *reason = f->reason;
            return true;
        }
    }
    return false;
}

static void remember_failure(sched_t *s, const job_t *j, uint64_t types, int64_t per,
                             sched_time_t end, sched_reason_t reason)
{
    fail_shape_t f = {types, j->features, per, j->cpus, j->mem, j->nodes, end, maint_end(s, j),
                      reason};
    s->fails[s->fails_ring++ % FAIL_CACHE] = f;
    if (s->nfails < FAIL_CACHE)
        s->nfails++;
}

/* Preemption for j is hopeless when a job at least as small and at least as powerful found
 * no victims in this pass (victims only become fewer during a pass). */
static bool preemption_hopeless(const sched_t *s, const job_t *j, uint64_t types, int64_t per,
                                bool in_quota)
{
    int v = s->classes[j->cls].value;
    if (v <= s->min_victim_class && (!in_quota || !s->reclaimable))
        return true;
    for (int i = 0; i < s->npfails; i++) {
        const struct preempt_fail *f = &s->pfails[i];
        if (shape_dominates(&f->shape, j, types, per, maint_end(s, j)) && v <= f->cls_value &&
            (!in_quota || (f->in_quota && f->team == j->team)))
            return true;
    }
    return false;
}

static void remember_preempt_failure(sched_t *s, const job_t *j, uint64_t types, int64_t per,
                                     bool in_quota)
{
    struct preempt_fail f = {{types, j->features, per, j->cpus, j->mem, j->nodes, 0,
                              maint_end(s, j), SCHED_REASON_NONE},
                             s->classes[j->cls].value, j->team, in_quota};
    s->pfails[s->pfails_ring++ % FAIL_CACHE] = f;
    if (s->npfails < FAIL_CACHE)
        s->npfails++;
}

/* A try by j, within its team's quota (a team without typed quota), would find no room:
 * another such job found none in this pass, at least as small and of a class at least as
 * high, that would free reserved GPUs no later, and no job was given GPUs since. The
 * candidates of such a try are the same whatever its team (preempt_for): by priority the jobs
 * of a lower class in any team; by reclaim the borrowed jobs of the teams that borrow, which
 * its own team, within its quota, does not; a start may make a team borrow (or, with no
 * minimum runtime, be a victim at once), so the failures before it do not count. preempt_for
 * would return false: the caller skips it, and counts the try as made. */
static bool reclaim_known_hopeless(const sched_t *s, const job_t *j, uint64_t types, int64_t per)
{
    if (s->teams[j->team].typed_quota || j->ntargets > 0)
        return false;
    int v = s->classes[j->cls].value;
    sched_time_t end = preempt_end(s, j, s->now);
    for (int i = 0; i < s->nrfails; i++) {
        const struct reclaim_fail *f = &s->rfails[i];
        if (f->charges == s->charges && v <= f->cls_value && end >= f->shape.end &&
            shape_dominates(&f->shape, j, types, per, maint_end(s, j)))
            return true;
    }
    return false;
}

static void remember_reclaim_failure(sched_t *s, const job_t *j, uint64_t types, int64_t per)
{
    if (s->teams[j->team].typed_quota)
        return;
    struct reclaim_fail f = {{types, j->features, per, j->cpus, j->mem, j->nodes,
                              preempt_end(s, j, s->now), maint_end(s, j), SCHED_REASON_NONE},
                             s->classes[j->cls].value, s->charges};
    s->rfails[s->rfails_ring++ % FAIL_CACHE] = f;
    if (s->nrfails < FAIL_CACHE)
        s->nrfails++;
}

/* Capacity or topology: are there enough free GPUs of the acceptable types at all? */
static sched_reason_t blocked_reason(const sched_t *s, const job_t *j, uint64_t types)
{
    /* the free GPUs counted below may be on nodes without the features; a CPU-only job
     * waits for CPUs or memory */
    if (j->features || job_cpu_only(j))
        return SCHED_REASON_CAPACITY;
    int64_t free = 0;
    for (int t = 0; t < s->ntypes; t++)
        if (types >> t & 1)
            free += s->type_free_whole[t];
    return free * SCHED_MILLI >= j->gpus ? SCHED_REASON_TOPOLOGY : SCHED_REASON_CAPACITY;
}

typedef struct pass {
    sched_time_t now;
    int reservations, preempt_tries;
    uint64_t fifo_blocker;
    int max_free_unreserved;      /* most whole GPUs free on one node nobody was promised */
    /* resv_until[g]: the latest start among the pass's reservations on nodes with at least g
     * whole GPUs free (else now): a job that fits only on reserved GPUs and ends after it
     * can use none of them (node_usable) */
    sched_time_t resv_until[SCHED_MAX_GPUS_PER_NODE + 1];
} pass_t;

/* Whether the pass may still try a preemption (it makes at most PREEMPT_TRIES_PER_CYCLE). */
static bool preempt_tries_left(const sched_t *s, const pass_t *ps)
{
    return s->p.preemption && ps->preempt_tries < PREEMPT_TRIES_PER_CYCLE;
}

/* One pending job's turn: start it, preempt for it, reserve for it, or say why it waits. */
static void evaluate(sched_t *s, int ji, bool entry_in_quota, pass_t *ps)
{
    job_t *j = &s->jobs[ji];
    sched_time_t now = ps->now;
    s->stats.jobs_examined++;
    j->eval_cycle = s->stats.cycles;
    j->reclaim_in_quota = false;
    j->blocked_by = 0;
    j->est_start = SCHED_NEVER;
    if (j->victims_pending > 0) {
        j->reason = SCHED_REASON_PREEMPTING;
        return;
    }
    if (ps->fifo_blocker) {
        j->reason = SCHED_REASON_PRIORITY;
        j->blocked_by = ps->fifo_blocker;
        return;
    }
    job_resolve_nodes(s, j);
    if (!could_ever_fit(s, j)) {
        j->reason = SCHED_REASON_NO_FIT;
        return;
    }
    if (j->features && !features_could_fit(s, j)) {
        j->reason = SCHED_REASON_NO_RUNTIME;
        return;
    }
    uint64_t types = allowed_types(s, j);
    if (!types) {
        j->reason = SCHED_REASON_QUOTA;
        return;
    }
    if (s->p.quotas && j->borrow_after > now && !team_within_quota(s, j->team, types, j->gpus)) {
        j->reason = SCHED_REASON_BACKOFF;
        j->est_start = j->borrow_after;
        if (j->borrow_after < s->next_backoff_at)
            s->next_backoff_at = j->borrow_after;
        return;
    }
    sched_time_t dur = job_plan_duration(j);
    sched_time_t end = dur > 0 ? now + dur : SCHED_NEVER;
    int64_t per = j->gpus / j->nodes;
    sched_reason_t why;
    bool known_fail = j->ntargets == 0 && failed_before(s, j, types, per, end, &why);
    /* A job at least as large inherits that it cannot start now, but not "reservation" (it
     * would fit were the reservations not there): that may be false for it, and it decides
     * whether the job takes a reservation of its own (below). It asks for itself. */
    if (!known_fail || why == SCHED_REASON_RESERVATION) {
        if (!known_fail && place_find(s, j, types, end)) {
            job_start(s, ji, now);
            sched_decide(s, SCHED_START, j->id, 0);
            return;
        }
        /* would it fit without the maintenance windows? then a window holds it back; else
         * without the reservations? then a reservation holds it back */
        bool maint = false;
        if (s->maint_any) {
            s->maint_ignore = true;
            maint = place_find(s, j, types, end);
            s->maint_ignore = false;
        }
        why = maint                           ? SCHED_REASON_MAINTENANCE
              : place_find(s, j, types, now) ? SCHED_REASON_RESERVATION
                                              : blocked_reason(s, j, types);
        if ((why == SCHED_REASON_CAPACITY || why == SCHED_REASON_TOPOLOGY) && s->nunsched &&
            drained_could_hold(s, j, types))
            why = SCHED_REASON_DRAINED;
        j->nslots = 0;
        remember_failure(s, j, types, per, end, why);
    }
    j->reason = why;
    /* A job that would fit but for the reservations and holds of the jobs before it may still
     * preempt, on nodes whose free GPUs are not promised (preempt_for counts only those): a
     * team within its quota reclaims from borrowers rather than wait for a reservation. */
    /* it may reclaim when its queue entry is within its team's quota (entry_in_quota) and
     * what its team holds now plus it still fits the quota (a job of its team that started in
     * this pass may have taken the room); quota reclaim is about GPUs: a CPU-only job preempts
     * only by priority */
    bool in_quota = entry_in_quota && !job_cpu_only(j) &&
                    team_within_quota(s, j->team, types, j->gpus);
    j->reclaim_in_quota = in_quota;
    if (in_quota) {
        s->reclaimer_turn = true;
        int g = job_per_node_gpus_whole(j);
        if (g < s->reclaimer_need)
            s->reclaimer_need = g;
    }
    j->preempt_deferred = s->p.preemption && !preempt_tries_left(s, ps);
    if (preempt_tries_left(s, ps)) {
        if (!preemption_hopeless(s, j, types, per, in_quota)) {
            ps->preempt_tries++;
            bool known = in_quota && !s->p.no_reclaim_bound &&
                         reclaim_known_hopeless(s, j, types, per);
            if (!known && preempt_for(s, ji, types, in_quota, now)) {
                j->reason = SCHED_REASON_PREEMPTING;
                return;
            }
            s->stats.reclaims_known_hopeless += known;
            if (in_quota && !known)
                remember_reclaim_failure(s, j, types, per);
            remember_preempt_failure(s, j, types, per, in_quota);
        }
    }
    if (in_quota && !j->preempt_deferred && defrag_for(s, ji, types, now)) { /* defrag.h */
        j->reason = SCHED_REASON_PREEMPTING;
        return;
    }
    if (why == SCHED_REASON_RESERVATION)
        return; /* it waits for a reservation: it neither takes one nor blocks those behind */
    /* Reservations hold GPUs (backfill does not project CPUs or memory): a CPU-only job gets
     * none, and takes none of the reserved nodes from a GPU job. */
    if (s->p.backfill) {
        if (ps->reservations < s->p.reservations && !job_cpu_only(j)) {
            ps->reservations++;
            backfill_reserve(s, j, types, now);
        }
    } else {
        if (!job_cpu_only(j))
            backfill_reserve(s, j, types, now);
        ps->fifo_blocker = j->id;
    }
}

/* A job that can't start now can still act by preemption: could this one? (Entries carry
 * their class and quota standing, so the jobs that can't are passed over untouched.) */
static bool may_act_when_full(const sched_t *s, const order_entry_t *e, const pass_t *ps)
{
    if (!preempt_tries_left(s, ps))
        return false;
    return e->cls_value > s->min_victim_class || (e->in_quota && !e->cpu_only && s->reclaimable);
}

/* The most whole GPUs free on one up node: a bound that only falls during a pass. */
static void find_max_free_whole(sched_t *s)
{
    s->max_free_whole = 0;
    for (int k = s->max_gpus; k > 0 && !s->max_free_whole; k--)
        for (int t = 0; t < s->ntypes; t++)
            if (s->bucket[t][k] != NIL) {
                s->max_free_whole = k;
                break;
            }
}

/* ps->resv_until (pass_t), from the nodes the pass reserved. */
static void find_resv_until(const sched_t *s, pass_t *ps)
{
    for (int g = 0; g <= s->max_gpus && g <= SCHED_MAX_GPUS_PER_NODE; g++)
        ps->resv_until[g] = ps->now;
    for (size_t i = 0; i < s->nresv_nodes; i++) {
        const node_t *n = &s->nodes[s->resv_nodes[i]];
        /* (a hold taken on a reserved node later in the pass starts now: it offers nothing) */
        if (n->resv_epoch != s->resv_epoch || !n->in_bucket)
            continue;
        for (int g = 1; g <= n->free_whole && g <= SCHED_MAX_GPUS_PER_NODE; g++)
            if (n->resv_start > ps->resv_until[g])
                ps->resv_until[g] = n->resv_start;
    }
}

/* The most whole GPUs on one up node that a job ending after every reservation of this pass
 * could take: a node without a reservation or hold offers its free GPUs, a reserved or held
 * one those beyond what it is reserved or held for (node_usable: a gang's reservation may take
 * a node that has more free than the gang needs there; a hold is a reservation that starts
 * now). The preemptor a hold is for may start on it, but fits_only_reserved is never asked of
 * a nominated preemptor. A bound that only falls during a pass (few nodes are
 * reserved: the walk passes over those, and stops once no node further down could beat
 * what a reserved node offered). */
static void find_max_free_unreserved(const sched_t *s, pass_t *ps)
{
    find_resv_until(s, ps);
    int best = 0;
    for (int k = s->max_gpus; k > best; k--)
        for (int t = 0; t < s->ntypes; t++)
            for (int ni = s->bucket[t][k]; ni != NIL; ni = s->nodes[ni].bnext) {
                const node_t *n = &s->nodes[ni];
                if (n->resv_epoch != s->resv_epoch) {
                    ps->max_free_unreserved = k;
                    return;
                }
                int rest = k - (n->resv_gpus > 0 ? n->resv_gpus : 0);
                if (rest > best)
                    best = rest;
            }
    ps->max_free_unreserved = best;
}

/* Could g whole GPUs per node (g capped at 64) fit on some node now? */
static bool needs_fit(const sched_t *s, int g)
{
    return (g < s->max_gpus ? g : s->max_gpus) <= s->max_free_whole;
}

/* No reservation is left to hand out and the job can't fit on any node now: its turn
 * could only end in "capacity", so the pass leaves it be (it keeps its last reason). Full
 * GPUs say nothing of a CPU-only job: it gets its turn. */
static bool cannot_start_now(const sched_t *s, const order_entry_t *e, const pass_t *ps)
{
    if (!s->p.backfill || ps->reservations < s->p.reservations || e->cpu_only)
        return false;
    return e->need == 0 ? s->free_milli == 0 : !needs_fit(s, e->need);
}

/* Whether some up node has g whole GPUs free (reserved, held or not) and the CPUs and memory
 * free for one asking cpus and mem (node_fits_cpu_mem): then such a job, one node of any GPU
 * type and no features, would fit were the reservations and holds not there (place_find with
 * the pass's time as its end). Sure when one of two nodes per g holds it (s->fit_any: the
 * most free CPUs, the most free memory); else false, which only means "not known". The table
 * is built at the first ask in a pass and again after a job is given GPUs (s->charges): only
 * a start takes free CPUs, memory or GPUs during a pass. */
static bool fits_somewhere(sched_t *s, int g, int64_t cpus, int64_t mem)
{
    struct fit_any *f = &s->fit_any;
    if (f->cycle != s->stats.cycles || f->charges != s->charges) {
        int64_t best[2][2] = {{-1, -1}, {-1, -1}}; /* [most CPUs, most memory][cpus, mem] */
        for (int k = s->max_gpus; k >= 1; k--) { /* (at most SCHED_MAX_GPUS_PER_NODE) */
            for (int t = 0; t < s->ntypes; t++)
                for (int ni = s->bucket[t][k]; ni != NIL; ni = s->nodes[ni].bnext) {
                    const node_t *n = &s->nodes[ni];
                    if (!n->up || !n->schedulable)
                        continue;
                    int64_t c = n->cpus ? n->cpus_free : INT64_MAX;
                    int64_t m = n->mem ? n->mem_free : INT64_MAX;
                    if (c > best[0][0])
                        best[0][0] = c, best[0][1] = m;
                    if (m > best[1][1])
                        best[1][0] = c, best[1][1] = m;
                }
            for (int w = 0; w < 2; w++) {
                f->cpus[w][k] = best[w][0];
                f->mem[w][k] = best[w][1];
            }
        }
        f->cycle = s->stats.cycles;
        f->charges = s->charges;
    }
    for (int w = 0; w < 2; w++)
        if (cpus <= f->cpus[w][g] && mem <= f->mem[w][g])
            return true;
    return false;
}

/* The job fits on a node only where GPUs are reserved or held for jobs before it, and would
 * still run when the latest reservation on a node with its GPUs free starts (resv_until; a
 * hold never lets it): it cannot start in this pass. Its turn could only end in "reservation"
 * (or a preemption, which may_act_when_full asks apart) when it is one_node and plain (it asks
 * no CPUs or memory) or a node could hold the CPUs and memory it asks but for the reservations
 * (fits_somewhere) (qentry_t: any other job may find no room even without the reservations,
 * "capacity", and take a reservation of its own),
 * and no maintenance window is near; or, for a job evaluated once since it was queued (its
 * reason says why it waits), when no reservation is left to hand out. The pass leaves a job
 * evaluated before be, with its last reason, and gives one never evaluated its reason
 * (sched_cycle, wait_reservation), unless it is in a backoff after a reclaim (evaluate says
 * so, and when it ends). Before, every such job was examined in every pass: at Philly
 * seed0 x 2, 10.8 M of 12 M examinations were borrowers that ended so; in `gantry bench
 * sched`, whose jobs ask CPUs and memory, half the passes examined all 110,000 pending jobs
 * (every one fit but for the GPUs held for the pass's 64 preemptors, and took no reservation,
 * so the reservations were never all handed out). */
static bool fits_only_reserved(sched_t *s, const order_entry_t *e, const pass_t *ps)
{
    if (e->cpu_only || e->need == 0)
        return false;
    int g = e->need < s->max_gpus ? e->need : s->max_gpus;
    if (!needs_fit(s, g) || g <= ps->max_free_unreserved ||
        (e->dur > 0 && ps->now + e->dur <= ps->resv_until[g]))
        return false;
    bool handed_out = s->p.backfill && ps->reservations >= s->p.reservations;
    if (handed_out && e->qe->seen)
        return true;
    const qentry_t *q = e->qe;
    bool plain = !q->cpus && !q->mem;
    if (!q->one_node || e->need > s->max_gpus || s->maint_any ||
        !(plain || fits_somewhere(s, g, q->cpus, q->mem)))
        return false; /* its turn may end in "capacity" and a reservation */
    /* never evaluated: only before the reservations are handed out (after, the walks ahead
     * would pass it over and give it no reason), and not in a backoff (evaluate says so) */
    return q->seen ||
           (!handed_out && (!s->p.quotas || s->jobs[e->job].borrow_after <= ps->now));
}

/* Entry e, passed over because it fits only on reserved GPUs (fits_only_reserved), evaluated by
 * no pass yet: it waits for reservations, as its evaluation would have said, and counts as
 * seen. (A job passed over keeps its last reason: for one never evaluated, sched_job_info
 * would say "capacity".) */
static void wait_reservation(sched_t *s, const order_entry_t *e)
{
    job_t *j = &s->jobs[e->job];
    qentry_mark_seen(&s->teams[j->team], e->qe);
    j->reason = SCHED_REASON_RESERVATION;
    j->est_start = SCHED_NEVER;
    j->blocked_by = 0;
}

/* The pass passes over entry e: over its team's limit, or (not a nominated preemptor) unable
 * to start now and unable to act by preemption. It keeps its last reason (sched_job_info). */
static bool passed_over(sched_t *s, const order_entry_t *e, const pass_t *ps)
{
    return e->over_limit ||
           (!e->nominated && (cannot_start_now(s, e, ps) || fits_only_reserved(s, e, ps)) &&
            !may_act_when_full(s, e, ps));
}

/* Whether no entry left in run r can start now, known from the run's counts and its team's
 * dur_min (the caller: the pass's reservations are all handed out; r's team queues one class):
 * each needs more whole GPUs per node than any node has free (cannot_start_now), or fits only
 * where GPUs are reserved, was evaluated before, and would still run when the latest
 * reservation on a node with its GPUs free starts (fits_only_reserved). */
static bool rest_cannot_start(sched_t *s, const struct order_run *r, const pass_t *ps)
{
    if (r->min_need == 0)
        return false;
    if (!needs_fit(s, r->min_need))
        return true;
    if ((r->min_need < s->max_gpus ? r->min_need : s->max_gpus) <= ps->max_free_unreserved)
        return false;
    team_t *t = &s->teams[r->team];
    team_dur_min_refresh(t);
    for (int need = r->min_need; need <= r->need_top && needs_fit(s, need); need++) {
        int g = need < s->max_gpus ? need : s->max_gpus;
        if (r->hist[need] && t->dur_min[need] <= ps->resv_until[g] - ps->now)
            return false;
    }
    return true;
}

/* Whether run r's rest is one whose entries follow one another in its team's queue (the
 * queue holds r's class alone), none of them CPU-only or a nominated preemptor, of a team
 * without typed quota: the rests passed over at once. */
static bool rest_plain(const sched_t *s, const struct order_run *r)
{
    const team_t *t = &s->teams[r->team];
    return !run_done(s, r) && !r->cpu_only && !r->nominated && !t->typed_quota &&
           (size_t)t->class_pending[r->cls] == t->nqueue;
}

/* Whether every entry left in run r is over its team's limit (entry_over_limit), known from
 * the run's counts: what the team holds plus the least any of them asks (at least its least
 * need left in whole GPUs, at least a fraction of one: none is CPU-only) is over the limit.
 * What a team holds only grows during a pass (GPUs are released between passes, never in
 * one), and the least need left only grows as the pass reaches them, so each is still over the
 * limit at its turn, whatever else the pass does: this holds before the pass's reservations
 * are all handed out too, and none of them counts as waiting for GPUs. */
static bool rest_over_limit(const sched_t *s, const struct order_run *r)
{
    const team_t *t = &s->teams[r->team];
    int64_t least = r->min_need > 0 ? (int64_t)r->min_need * SCHED_MILLI : 1;
    return rest_plain(s, r) && s->p.quotas && t->by_type[0].limit >= 0 &&
           t->by_type[0].alloc + least > t->by_type[0].limit;
}

/* Whether every entry left in run r would be passed over, known from the run's counts alone
 * (the caller: the pass's reservations are all handed out; r's rest is plain): over the team's
 * limit (rest_over_limit), or each needs more whole GPUs per node than any node has free
 * (cannot_start_now; the bound only falls), and none may act by preemption (may_act_when_full:
 * no preemption tries left; else a class no higher than the lowest victim's and, while
 * something is reclaimable, none within quota: the least it could ask over what the team holds
 * and its earlier jobs within quota ask is over the quota). */
static bool rest_passed_over(sched_t *s, const struct order_run *r, const pass_t *ps)
{
    if (!rest_plain(s, r))
        return false;
    if (rest_over_limit(s, r))
        return true;
    if (!rest_cannot_start(s, r, ps))
        return false;
    if (!preempt_tries_left(s, ps))
        return true;
    if (r->cls_value > s->min_victim_class)
        return false;
    return !s->reclaimable || !run_may_hold_in_quota(s, r, r->inq);
}

/* The place in the merge of the first entry not reached of run r's rest passed over at once:
 * its key as the run's head, or the largest key before it when that is larger (as
 * run_skip_ahead's entries). */
static void rest_key_update(const sched_t *s, struct order_run *r)
{
    const qentry_t *e = &s->teams[r->team].queue[r->rest_pos];
    r->rest_in_quota = entry_in_quota(s, r->team, r->rest_inq, e);
    struct run_key k = {key_k0(r->cls_value, r->rest_in_quota), run_share(r, r->rest_cum),
                        e->key, e->id};
    if (key_before(&r->rest_key, &k))
        r->rest_key = k;
}

/* Reaches the first entry not reached of run r's rest passed over at once. */
static void rest_advance(const sched_t *s, struct order_run *r)
{
    const team_t *t = &s->teams[r->team];
    const qentry_t *e = &t->queue[r->rest_pos];
    r->rest_cum += e->gpus;
    if (r->rest_in_quota)
        r->rest_inq += e->gpus;
    if (r->rest_jump)
        r->min_need = t->qmin_need[r->rest_pos + 1];
    else if (--r->hist[e->need] == 0)
        run_settle_min_need(r);
    if (++r->rest_pos < t->nqueue)
        rest_key_update(s, r);
    else
        r->resting = false;
}

/* Entry i's own key in run r, a rest none of which is within quota (rest_jump): the keys of
 * such a rest grow with i (the fair-share key with the GPUs before it, then the queue's
 * order), so its place in the merge is its own key once past the key the rest started at. */
static struct run_key rest_own_key(const sched_t *s, const struct order_run *r, size_t i)
{
    const team_t *t = &s->teams[r->team];
    return (struct run_key){key_k0(r->cls_value, false), run_share(r, r->rest_base + t->qsum[i]),
                            t->queue[i].key, t->queue[i].id};
}

/* Reaches the entries of run r's rest whose place comes before key k: one by one
 * (rest_advance), or for a rest none of which is within quota by a search over the keys that
 * grow (a galloping search from the first not reached: a rest reached a few entries at a time
 * costs as little as one by one, and one reached far at once a logarithm), leaving what one by
 * one would leave: the position, cum, the key and the least need left. */
static void rest_reach_before(const sched_t *s, struct order_run *r, const struct run_key *k)
{
    if (!r->rest_jump) {
        while (r->resting && key_before(&r->rest_key, k))
            rest_advance(s, r);
        return;
    }
    if (!r->resting || !key_before(&r->rest_key, k))
        return;
    /* the first not reached (rest_pos) goes before k: the first at or after it, past it */
    const team_t *t = &s->teams[r->team];
    size_t n = t->nqueue, lo = r->rest_pos, step = 1, hi;
    for (;;) {
        hi = lo + step < n ? lo + step : n;
        if (hi == n)
            break;
        struct run_key h = rest_own_key(s, r, hi);
        if (!key_before(&h, k))
            break;
        lo = hi;
        step *= 2;
    }
    while (hi - lo > 1) { /* own(lo) before k; own(hi) not, or hi = n */
        size_t mid = lo + (hi - lo) / 2;
        struct run_key m = rest_own_key(s, r, mid);
        if (key_before(&m, k))
            lo = mid;
        else
            hi = mid;
    }
    r->rest_pos = hi;
    r->min_need = t->qmin_need[hi];
    if (hi == n) {
        r->resting = false;
        return;
    }
    r->rest_cum = r->rest_base + t->qsum[hi];
    rest_key_update(s, r);
}

/* Run w's whole rest is passed over (rest_passed_over), at once: the run leaves the merge, and
 * the pass reaches the entries of its rest at their places (rest_first_after) to know where
 * the first entry it passes over after an evaluation is, and what the run's entries not yet
 * reached count there: anyone_left_can_act reads the run as it reads one whose entries were
 * taken ahead one by one (its least need left, the standing of its first entry not reached).
 * Their places start from `from`: the place of the entry the merge just took, or KEY_FIRST for
 * a run passed over before the merge (build_runs). Whether they wait for GPUs is already
 * counted (the caller: capacity_wait is set, or none of them does: rest_over_limit). So the
 * pass decides what run_skip_ahead's entries, one by one, decide (and the merge's:
 * docs/performance.md, "Replay scaling"), and gets the same answers where it asks
 * (test_sched_skip; where a witness can act it does not ask: yes_until_winner). */
static void run_pass_over_rest(sched_t *s, int w, const struct run_key *from)
{
    struct order_run *r = &s->runs[w];
    const team_t *t = &s->teams[r->team];
    r->rest_pos = r->q;
    r->rest_cum = r->cum;
    r->rest_inq = r->inq;
    r->rest_key = *from;
    /* none of it within quota: what the team holds and its jobs before within quota ask, plus
     * the least any of it asks, is over the quota (entry_in_quota) */
    r->rest_jump = !s->p.no_rest_search && !run_may_hold_in_quota(s, r, r->inq);
    if (r->rest_jump) {
        team_qsum_refresh(&s->teams[r->team]);
        r->rest_base = r->cum - t->qsum[r->q];
    }
    rest_key_update(s, r);
    s->stats.skipped_ahead += t->nqueue - r->q;
    s->stats.rests_passed_over++;
    GT_GROW(s->rest_runs, s->caprest_runs, s->nrest_runs + 1);
    s->rest_runs[s->nrest_runs++] = w;
    r->resting = true;
    r->q = t->nqueue;
}

/* Reaches, in each rest passed over at once, the entries whose place comes before key k; the
 * run whose first entry not reached comes first, or -1. The runs that reached their rest's end
 * leave the list. */
static int rest_first_after(sched_t *s, const struct run_key *k)
{
    int best = -1;
    for (size_t i = 0; i < s->nrest_runs;) {
        struct order_run *r = &s->runs[s->rest_runs[i]];
        rest_reach_before(s, r, k);
        if (!r->resting) {
            s->rest_runs[i] = s->rest_runs[--s->nrest_runs];
            continue;
        }
        if (best < 0 || key_before(&r->rest_key, &s->runs[best].rest_key))
            best = s->rest_runs[i];
        i++;
    }
    return best;
}

/* Once a pass's reservations are all handed out, the bounds the skip rules test only fall
 * (free GPUs, preemption tries left; the victim bounds are fixed for the pass), so an entry
 * passed over now would be passed over at its turn too. When the merge takes an entry the pass
 * passes over, the entries after it in the same run that it would pass over as well are taken
 * ahead of their turn, without going through the merge one by one: each is kept (s->shadow)
 * with its place in the merge's order (a run's keys need not grow: a job within quota may
 * follow one that is not, so the place is the largest key up to it), and the run's next head
 * may not go before the last of them (its floor). The pass "reaches" them at their places
 * (shadow_reach): only then do they count as passed over (sched_capacity_wait) and leave the
 * run's counts that anyone_left_can_act reads, which also takes the first one not reached as
 * the run's head. So the pass decides exactly what it decided taking them one by one. A
 * typed quota's standing depends on what the team holds as the pass goes on: its runs are not
 * taken ahead; nor a nominated preemptor. Before the reservations are all handed out
 * (handed_out false) only a rest over its team's limit goes, at once: its entries stay over it
 * whatever the pass does (rest_over_limit). */
static void run_skip_ahead(sched_t *s, int w, const pass_t *ps, bool capacity_wait,
                           bool handed_out)
{
    struct order_run *r = &s->runs[w];
    if (s->teams[r->team].typed_quota)
        return;
    /* (a rest over the limit waits for no GPUs: capacity_wait need not be set) */
    if (rest_over_limit(s, r) || (handed_out && capacity_wait && rest_passed_over(s, r, ps))) {
        run_pass_over_rest(s, w, &s->cur_key);
        return;
    }
    if (!handed_out)
        return;
    struct run_key at = s->cur_key;
    int last = -1;
    while (!run_done(s, r) && !r->head.nominated && passed_over(s, &r->head, ps)) {
        struct run_key k = head_key(s, r);
        if (key_before(&at, &k))
            at = k;
        if (s->nshadow == s->capshadow)
            GT_GROW(s->shadow, s->capshadow, s->nshadow + 1);
        int i = (int)s->nshadow++;
        s->stats.skipped_ahead++;
        s->shadow[i] = (struct shadow_entry){at, r->head.need, -1, r->head.in_quota,
                                             !r->head.over_limit};
        if (last >= 0) {
            s->shadow[last].next = i;
        } else {
            r->sh_first = i;
            if (!r->listed) {
                GT_GROW(s->shadow_runs, s->capshadow_runs, s->nshadow_runs + 1);
                s->shadow_runs[s->nshadow_runs++] = w;
                r->listed = true;
            }
        }
        last = i;
        run_advance(s, r, false);
    }
    r->floor = at;
}

/* Whether anyone_left_can_act says yes whatever the runs hold: before the pass's reservations
 * are all handed out, anyone may still act. */
static bool check_is_true(const sched_t *s, const pass_t *ps)
{
    return !s->p.backfill || ps->reservations < s->p.reservations;
}

/* Whether run r could still start or act in this pass by one of its jobs left of need `need`
 * (the least) and whose quota standing is in_quota (may be within quota): a CPU-only job or a
 * nominated preemptor always may (CPUs may be free where GPUs are not, and a preemptor's
 * victims may have stopped); else it fits if its team is under its limit, or it preempts
 * (preempt: the pass has tries left) by class or, within quota, by reclaim. */
static bool run_can_act_by(const sched_t *s, const struct order_run *r, int need, bool in_quota,
                           bool preempt)
{
    if (r->cpu_only > 0 || r->nominated > 0)
        return true;
    const team_t *t = &s->teams[r->team]; /* (read only when the counts do not answer) */
    const struct team_gpus *all = &t->by_type[0];
    bool room = !s->p.quotas || all->limit < 0 || all->alloc < all->limit;
    if (room && (need == 0 ? s->free_milli > 0 : needs_fit(s, need)))
        return true;
    return preempt && (r->cls_value > s->min_victim_class || (in_quota && s->reclaimable));
}

/* Whether a job left in run r could still start or act in this pass, from the run's counts
 * (anyone_left_can_act asks it of every run). */
static bool run_can_act(const sched_t *s, const struct order_run *r, bool preempt)
{
    /* (entries taken ahead of their turn and not yet reached are still the run's: the first
     * of them is its head) */
    bool ahead = r->sh_first >= 0;
    if (run_done(s, r) && !ahead && !r->resting)
        return false; /* (out of the merge) */
    /* (within quota: its first entry not reached, or any later one: run_may_hold_in_quota) */
    bool in_quota = (ahead        ? s->shadow[r->sh_first].in_quota
                     : r->resting ? r->rest_in_quota
                                  : r->head.in_quota) ||
                    run_may_hold_in_quota(s, r, r->resting ? r->rest_inq : r->inq);
    return run_can_act_by(s, r, r->min_need, in_quota, preempt);
}

/* Whether run r could act by its next entry in the merge (its head), whatever of its entries
 * taken ahead of their turn the pass has reached: reaching them only lowers run_can_act's
 * answer, and none of them is CPU-only or a nominated preemptor (run_skip_ahead takes neither
 * ahead), so the run's counts of those stand. */
static bool head_can_act(const sched_t *s, const struct order_run *r, bool preempt)
{
    return !run_done(s, r) && run_can_act_by(s, r, r->head.need, r->head.in_quota, preempt);
}

/* Could any job left in the runs still start or act in this pass? When none can, the pass
 * ends early: the rest keep their last reasons. */
static bool anyone_left_can_act(sched_t *s, const pass_t *ps)
{
    s->stats.pass_checks++;
    if (check_is_true(s, ps))
        return true;
    bool preempt = preempt_tries_left(s, ps);
    /* (from the run that could act at the last check: the answer is the same whatever the
     * order, and that run often still can) */
    size_t first = s->can_act_hint < s->nruns ? s->can_act_hint : 0;
    for (size_t i = 0; i < s->nruns; i++) {
        size_t h = first + i < s->nruns ? first + i : first + i - s->nruns;
        s->can_act_hint = h;
        if (run_can_act(s, &s->runs[h], preempt))
            return true;
    }
    return false;
}

/* Whether anyone_left_can_act would say yes at every place up to and including the merge's
 * winner w, known without reaching the rests passed over at once (rest_first_after): before
 * the reservations are handed out it always does; after, when a witness can act: a run of the
 * merge other than w's (one of a few from the run that could act at the last check), by
 * run_can_act, or by head_can_act if it has entries taken ahead of their turn not yet
 * reached. Up to w the pass reaches only entries of the rests and entries taken ahead, and
 * takes w from its own run; none of that changes the witness's head, nor what the tests read
 * of the cluster (the pass decides nothing in between), and reaching a witness's entries taken
 * ahead leaves head_can_act's answer. So the pass need not find the first entry before w
 * where it would ask: the answer there is yes. It still reaches the first entry taken ahead
 * before w, if any (shadow_first), a little sooner than it would have (capacity_wait learns
 * its wait then: it is set by the pass's end either way, and before that it only lets rests
 * be passed over at once sooner, which changes no decision). The rests are reached at the
 * next place where the answer is not known so (rest_first_after reaches every entry before
 * it; nothing reads them before). Each such skip saves a walk of every rest: at Philly seed0
 * x 8 the walks were a fifth of the replay (perf). */
static bool yes_until_winner(sched_t *s, const pass_t *ps, int w)
{
    if (check_is_true(s, ps))
        return true;
    bool preempt = preempt_tries_left(s, ps);
    /* (a few runs from the last one that could act: a witness is usually near) */
    for (size_t i = 0; i < WITNESS_LOOKS && i < s->nruns; i++) {
        size_t h = (s->can_act_hint + i) % s->nruns;
        const struct order_run *r = &s->runs[h];
        if ((int)h != w && !r->resting &&
            (r->sh_first < 0 ? run_can_act(s, r, preempt) : head_can_act(s, r, preempt))) {
            s->can_act_hint = h;
            return true;
        }
    }
    return false;
}

/* After a pass that found nobody able to act, a new pass can only differ if capacity was
 * freed, the rules changed, a running job turned preemptible, a maintenance window ended, or
 * a newcomer can act. Then
 * the pass is skipped: the newcomers wait for capacity (sched_job_info says so). */
static bool still_settled(sched_t *s, sched_time_t now)
{
    if (!s->settled || s->loosened || now >= s->next_victim_at || now >= s->next_backoff_at ||
        now >= s->maint_next || s->nnominated)
        return false;
    bool preempt = s->p.preemption;
    for (size_t i = 0; i < s->narrivals; i++) {
        const job_t *j = &s->jobs[s->arrivals[i]];
        if (!j->live || j->state != SCHED_PENDING)
            continue;
        int64_t per = j->nodes_asked > 0 ? j->gpus / j->nodes_asked : j->gpus;
        if (per > (int64_t)s->max_gpus * SCHED_MILLI)
            per = (int64_t)s->max_gpus * SCHED_MILLI;
        bool fits = job_cpu_only(j) ? true /* its CPUs are not tracked here */
                    : per < SCHED_MILLI ? s->free_milli > 0
                                        : per <= (int64_t)s->max_free_whole * SCHED_MILLI;
        int v = s->classes[j->cls].value;
        /* a newcomer that could take a victim the last pass's wakeups did not count */
        bool new_taker = preempt && (v > s->pend_max_class ||
                                     (s->p.quotas && !s->pend_in_quota && !job_cpu_only(j) &&
                                      team_within_quota(s, j->team, j->types, j->gpus)));
        if (fits || new_taker || (preempt && (v > s->min_victim_class ||
                                 (s->reclaimable && !job_cpu_only(j) &&
                                  team_within_quota(s, j->team, j->types, j->gpus)))))
            return false;
    }
    return true;
}

const sched_decision_t *sched_cycle(sched_t *s, sched_time_t now, size_t *ndec)
{
    if (still_settled(s, now)) {
        s->capacity_wait |= s->narrivals > 0; /* the newcomers wait for GPUs */
        s->narrivals = 0;
        s->changed = false;
        s->now = now;
        s->stats.quiet_cycles++;
        *ndec = 0;
        return s->dec;
    }
    s->narrivals = 0;
    s->loosened = false;
    s->next_backoff_at = SCHED_NEVER;
    s->ndec = 0;
    s->nfails = s->fails_ring = 0;
    s->npfails = s->pfails_ring = 0;
    s->nrfails = s->rfails_ring = 0;
    s->now = now;
    s->stats.cycles++;
    maint_refresh(s, now);
    backfill_reset(s);
    build_runs(s);
    /* the holds of earlier preemptions come before any placement */
    for (int i = 0; i < s->nnominated; i++)
        preempt_hold_targets(s, &s->jobs[s->nominated[i]]);
    bool holds = s->nnominated > 0;
    if (s->p.preemption)
        victim_bounds(s, now);
    else
        s->next_victim_at = s->next_take_at = s->next_move_at = SCHED_NEVER;
    find_max_free_whole(s);
    pass_t ps = {.now = now};
    find_max_free_unreserved(s, &ps); /* after the holds */
    s->in_pass = true;
    s->reclaimer_turn = false;
    s->reclaimer_need = INT32_MAX;
    s->hold_dropped = false;
    bool checked = false, settled = false, capacity_wait = false;
    s->cur_key = KEY_FIRST;
    for (;;) {
        int w = merge_peek(s);
        /* the first entry the pass passes over after an evaluation (or its first) is where it
         * asks whether anyone left can act: an entry taken ahead of its turn may be it */
        int f = -1, b = -1;
        bool yes = false; /* (the answer up to the winner is known: yes_until_winner) */
        if (!checked) {
            /* (those before the last entry taken were reached before it) */
            shadow_reach_before(s, &s->cur_key, &capacity_wait);
            f = shadow_first(s);
            yes = !s->p.no_skip_ahead && w >= 0 && yes_until_winner(s, &ps, w);
            if (!yes)
                b = rest_first_after(s, &s->cur_key);
        }
        const struct run_key *fk = f >= 0 ? &s->shadow[s->runs[f].sh_first].key : NULL;
        if (b >= 0 && (!fk || key_before(&s->runs[b].rest_key, fk)))
            fk = &s->runs[b].rest_key;
        else
            b = -1;
        if (fk && (w < 0 || !key_before(&s->run_keys[w], fk))) {
            if (b >= 0)
                rest_advance(s, &s->runs[b]);
            else
                shadow_reach(s, &s->runs[f], &capacity_wait);
            if (!yes && !anyone_left_can_act(s, &ps)) {
                settled = true;
                break;
            }
            checked = true;
            continue;
        }
        if (w < 0)
            break;
        const order_entry_t *e = merge_take(s, w, &capacity_wait);
        /* (the skip rules hold while preemptors' nodes are held too: held GPUs count as free
         * in their bounds, so they pass over no job that could start, and a job that could
         * reclaim is within quota by its entry, the one notion evaluate also uses) */
        if (passed_over(s, e, &ps)) {
            capacity_wait |= !e->over_limit;
            if (!e->qe->seen && !e->over_limit && fits_only_reserved(s, e, &ps))
                wait_reservation(s, e);
            if (!checked) {
                shadow_reach_before(s, &s->cur_key, &capacity_wait);
                if (!yes && !anyone_left_can_act(s, &ps)) {
                    settled = true;
                    break;
                }
            }
            checked = true;
            if (!s->p.no_skip_ahead)
                run_skip_ahead(s, w, &ps, capacity_wait,
                               s->p.backfill && ps.reservations >= s->p.reservations);
            run_replay(s, w);
            continue; /* it keeps its last reason (sched_job_info) */
        }
        run_replay(s, w);
        prefetch_next_job(s);
        checked = false;
        size_t before = s->ndec;
        int resv_before = ps.reservations;
        qentry_mark_seen(&s->teams[s->jobs[e->job].team], e->qe);
        evaluate(s, e->job, e->in_quota, &ps);
        if (ps.fifo_blocker) {
            capacity_wait = true;
            break; /* without backfill everyone behind waits for it (sched_job_info) */
        }
        const job_t *j = &s->jobs[e->job];
        capacity_wait |= j->state == SCHED_PENDING && j->reason != SCHED_REASON_QUOTA &&
                         j->reason != SCHED_REASON_NO_FIT && j->reason != SCHED_REASON_NO_RUNTIME;
        if (j->ntargets > 0 && j->state == SCHED_PENDING && j->reason != SCHED_REASON_PREEMPTING) {
            job_set_targets(s, e->job, NULL, 0); /* its nomination no longer helps */
            s->hold_dropped = true;
        }
        if (s->ndec != before)
            find_max_free_whole(s);
        if (s->ndec != before || ps.reservations != resv_before)
            find_max_free_unreserved(s, &ps);
    }
    /* a pass that went to the end passed over every entry taken ahead and not reached: they
     * count as waiting for GPUs (reaching them changes nothing else the pass still reads) */
    if (!settled && !capacity_wait)
        shadow_reach_before(s, NULL, &capacity_wait);
    victim_times_at_end(s, now);
    s->in_pass = false;
    sched_compact_queues(s);
    s->settled = settled && s->ndec == 0 && !holds;
    s->capacity_wait = capacity_wait;
    s->fifo_blocker = ps.fifo_blocker;
    s->changed = false;
    *ndec = s->ndec;
    return s->dec;
}

bool sched_capacity_wait(const sched_t *s)
{
    return s->capacity_wait;
}
