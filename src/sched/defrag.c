/* defrag.c: defragmenting preemption (defrag.h; docs/scheduler.md, "Defragmenting
 * preemption").
 *
 * Reclaim (preempt.c) takes only borrowed jobs. When every node's rest is held by jobs within
 * their teams' quotas, a whole-node job within its own quota finds no node even though the
 * cluster has free GPUs to spare: on Philly seed0, four 8-GPU jobs waited 2.5 to 3.6 hours
 * beside four nodes with 7 GPUs free and one held by a month-old 1-GPU job that reclaim may
 * not take (within its team's quota, or borrowed by a team now below its quota).
 * Moving that one job to free GPUs elsewhere frees the node; the moved job loses the grace
 * period (it checkpoints, stops and starts again where it fits), and only that.
 *
 * The rules, each the least that serves the case:
 *  - only after preempt_for made no room (cycle.c), and only for a job that may reclaim:
 *    within-quota work is never displaced to serve borrowing;
 *  - at most one moved job per preemption, single-node, on whole GPUs, fewer than the waiting
 *    job needs there (a small job: a move never frees what it then takes); with it, the
 *    victims preempt_for itself may take on that node (reclaim, priority);
 *  - the moved job must fit now elsewhere on GPUs of its own type that nobody was promised
 *    (so its team's quota and limit arithmetic is unchanged); that room is held for it until
 *    it starts again, so a move costs it the grace period and a restart, no more;
 *  - it has run at least the minimum runtime (as a priority victim): a job is moved at most
 *    once per minimum runtime, so moves cannot chase each other around the cluster;
 *  - its class is not above the waiting job's, and it is preemptible. */
#include <stdlib.h>

#include "sched/defrag.h"

typedef struct candidate {
    int job;                  /* the job to move */
    int node;
    int whole;                /* its whole GPUs there (its one slot's) */
    int top_class;            /* the highest class among it and the victims there */
    double cost;              /* their victim costs summed */
    int first, count;         /* the victims there in the pick array */
} candidate_t;

typedef struct victim_entry {
    int job;
    int next;
} victim_entry_t;

/* Whether j could run on node n once GPUs are freed there (what preempt_for asks of a
 * victim's node). */
static bool node_suits(const sched_t *s, const node_t *n, const job_t *j, uint64_t types, int g)
{
    return n->up && n->schedulable && node_maint_allows(s, n, j) && (types >> n->type & 1) &&
           n->ngpus >= g && node_has_features(n, j) &&
           (!j->cpus || !n->cpus || n->cpus >= j->cpus) && (!j->mem || !n->mem || n->mem >= j->mem);
}

/* Whether c (of team ti, borrowing: that team is above its quota) is a victim preempt_for may
 * take for j, which may reclaim: a lower class after the minimum runtime, or another team's
 * borrowed job, its team still above its quota, after the reclaim minimum runtime (preempt.c,
 * the rule; repeated here, not changed). */
static bool victim(const sched_t *s, const job_t *j, int ti, bool borrowing, const victim_t *c,
                   sched_time_t now)
{
    int jv = s->classes[j->cls].value;
    if (c->cls_value < jv && now - c->start >= s->p.min_runtime_s)
        return true;
    return c->cls_value <= jv && ti != j->team && c->borrowing && borrowing &&
           now - c->start >= sched_reclaim_min_runtime(s);
}

/* Whether c, a preemptible running job (the victim index holds only those), may be moved to
 * make room for j (defrag.h). */
static bool movable(const sched_t *s, const job_t *j, const victim_t *c, int g, sched_time_t now)
{
    if (c->cls_value > s->classes[j->cls].value || now - c->start < s->p.min_runtime_s)
        return false;
    /* one slot of whole GPUs (a fraction's slot counts 0 whole GPUs) */
    return c->nslots == 1 && c->whole >= 1 && c->whole < g;
}

/* The node other than `from` where v (w whole GPUs) fits now, of its own GPU type, on GPUs
 * nobody was promised (the free index by free GPUs, fewest first: best fit), or NIL. */
static int fits_elsewhere(const sched_t *s, const job_t *v, int from, int w, sched_time_t now)
{
    int t = s->nodes[from].type;
    for (int k = w; k <= s->max_gpus; k++)
        for (int ni = s->bucket[t][k]; ni != NIL; ni = s->nodes[ni].bnext) {
            const node_t *n = &s->nodes[ni];
            if (ni != from && node_has_features(n, v) && node_maint_allows(s, n, v) &&
                node_fits_cpu_mem(n, v->cpus, v->mem) && preempt_usable(s, ni, v, now) >= w)
                return ni;
        }
    return NIL;
}

/* Node ni, its scratch values reset when this search (s->epoch) first reaches it. */
static node_t *node_mark(sched_t *s, int ni)
{
    node_t *n = &s->nodes[ni];
    if (n->mark_epoch != s->epoch) {
        n->mark_epoch = s->epoch;
        n->mark_val = 0;
        n->mark_list = NIL;
        n->mark_most = 0;
    }
    return n;
}

static int candidate_cmp(const void *a, const void *b)
{
    const candidate_t *x = a, *y = b;
    if (x->top_class != y->top_class)
        return x->top_class < y->top_class ? -1 : 1;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    return x->node != y->node ? x->node - y->node : x->job - y->job;
}

/* Stops v for j as preempt_for does (grace period, decision, release tracking); a job
 * reclaimed from borrowing may borrow again only after the backoff preempt_for gives. */
static void preempt_victim(sched_t *s, const job_t *j, int vi, sched_time_t now, bool reclaimed)
{
    job_t *v = &s->jobs[vi];
    v->state = SCHED_PREEMPTING;
    victims_remove(s, vi);
    v->stop_deadline = now + s->p.grace_s;
    v->preempt_for = j->id;
    if (reclaimed) {
        sched_time_t base = s->p.min_runtime_s > 60 ? s->p.min_runtime_s : 60;
        int k = v->reclaims < 6 ? v->reclaims : 6;
        v->reclaims++;
        v->borrow_after = now + (base << k);
    }
    release_track(s, vi);
    sched_decide(s, SCHED_PREEMPT, v->id, j->id);
    s->stats.preemptions++;
}

bool defrag_for(sched_t *s, int ji, uint64_t types, sched_time_t now)
{
    job_t *j = &s->jobs[ji];
    if (!s->p.preemption || j->nodes != 1 || job_cpu_only(j) || j->gpus % SCHED_MILLI)
        return false;
    int g = job_per_node_gpus_whole(j);
    if (g < 2)
        return false; /* one GPU: a move frees one GPU and takes one */
    /* a job at least as large, of a class no higher, found nothing in this pass: moves and
     * victims only become fewer during a pass */
    const struct defrag_fail *f = &s->defrag_fail;
    int jv = s->classes[j->cls].value;
    if (f->cycle == s->stats.cycles && g >= f->g && jv <= f->cls_value && !(types & ~f->types) &&
        !(f->features & ~j->features) && j->cpus >= f->cpus && j->mem >= f->mem)
        return false;
    s->now = now;
    /* A move frees fewer GPUs than j needs and as many as some node has free for the moved job,
     * at most; with no victim of a class below j's, the victims on j's node are borrowed jobs
     * of teams still borrowing, which reach_most counts. So when no node's free GPUs and that
     * room, with a move's at most, reach what j needs there, the scan below would find
     * nothing (at Philly seed0 x 8 most of the scans found nothing: docs/performance.md,
     * "Replay scaling", part 15). Either way it leaves this failure, as the scan does. */
    int most_moved = g - 1 < s->max_free_whole ? g - 1 : s->max_free_whole;
    if (s->max_free_whole == 0 ||
        (s->min_victim_class >= jv && !s->p.no_reclaim_bound && reach_most(s) + most_moved < g)) {
        s->defrag_fail = (struct defrag_fail){s->stats.cycles, g, jv, types, j->features,
                                              j->cpus, j->mem};
        return false;
    }
    s->epoch++;
    /* one scan of the victim index (victims.c: the preemptible running jobs): per node (marked
     * with this epoch), the victims there and their whole GPUs, and the most whole GPUs of a
     * job that could move from there; the nodes with such a job, in `from` */
    victim_entry_t *ent = NULL;
    size_t nent = 0, capent = 0;
    int *from = NULL;
    size_t nfrom = 0, capfrom = 0;
    bool *borrowing = xcalloc((size_t)s->nteams + 1, sizeof(*borrowing));
    for (int ti = 0; ti < s->nteams; ti++) {
        const team_t *t = &s->teams[ti];
        if (!t->nvictims)
            continue;
        borrowing[ti] = team_borrowing(s, ti);
        for (int x = 0; x < t->nvictims; x++) {
            const victim_t *cv = &t->victims[x];
            if (victim(s, j, ti, borrowing[ti], cv, now)) {
                /* a one-node job's slot is in its entry: most victims cost no job record
                 * (perf at Philly seed0 x 8: those records were most of this function) */
                const sched_slot_t *slots = cv->nslots == 1 ? NULL : s->jobs[cv->job].slots;
                for (int k = 0; k < cv->nslots; k++) {
                    node_t *n = node_mark(s, slots ? slots[k].node : cv->node);
                    n->mark_val += slots ? slot_whole_gpus(&slots[k]) : cv->whole;
                    GT_GROW(ent, capent, nent + 1);
                    ent[nent] = (victim_entry_t){cv->job, n->mark_list};
                    n->mark_list = (int)nent++;
                }
            } else if (movable(s, j, cv, g, now)) {
                node_t *n = node_mark(s, cv->node);
                if (!n->mark_most) {
                    GT_GROW(from, capfrom, nfrom + 1);
                    from[nfrom++] = cv->node;
                }
                if (cv->whole > n->mark_most)
                    n->mark_most = cv->whole;
            }
        }
    }
    /* the candidates: the jobs that could move from a node where j could then fit by its
     * GPUs (its free GPUs nobody was promised, the victims' and the moved job's), read from
     * that node's list (a few nodes: the others cost no job record) */
    candidate_t *c = NULL;
    size_t nc = 0, capc = 0;
    for (size_t f = 0; f < nfrom; f++) {
        const node_t *n = &s->nodes[from[f]];
        if (preempt_usable(s, from[f], j, now) + (int)n->mark_val + n->mark_most < g ||
            !node_suits(s, n, j, types, g))
            continue;
        for (size_t k = 0; k < n->nvict; k++) {
            const job_t *m = &s->jobs[n->vict[k]];
            const victim_t *cv = &s->teams[m->team].victims[m->vict_pos];
            if (!victim(s, j, m->team, borrowing[m->team], cv, now) && movable(s, j, cv, g, now)) {
                GT_GROW(c, capc, nc + 1);
                c[nc++] = (candidate_t){cv->job, cv->node, cv->whole, 0, 0, 0, 0};
            }
        }
    }
    free(from);
    free(borrowing);
    /* each candidate's node: its free GPUs nobody was promised, the moved job's, and then the
     * victims there, cheapest first, until j fits (CPUs and memory too) */
    int *pick = NULL, *local = NULL;
    size_t npick = 0, cappick = 0, caplocal = 0, nkeep = 0;
    for (size_t i = 0; i < nc; i++) {
        const node_t *n = &s->nodes[c[i].node];
        int free_g = preempt_usable(s, c[i].node, j, now) + c[i].whole;
        int vg = n->mark_epoch == s->epoch ? (int)n->mark_val : 0;
        if (free_g + vg < g)
            continue; /* (decided before the moved job's record is read) */
        const job_t *m = &s->jobs[c[i].job];
        int64_t cpus = n->cpus_free + m->cpus, mem = n->mem_free + m->mem;
        candidate_t cand = {c[i].job, c[i].node, c[i].whole, s->classes[m->cls].value,
                            policy_victim_cost(s, m, now), (int)npick, 0};
        size_t nl = 0;
        for (int e = vg ? n->mark_list : NIL; e != NIL; e = ent[e].next) {
            GT_GROW(local, caplocal, nl + 1);
            local[nl++] = ent[e].job;
        }
        if (nl > 1) /* (local is NULL until something was added: qsort's pointer is nonnull) */
            qsort_r(local, nl, sizeof(int), sched_victim_cmp, s);
        for (size_t l = 0; l < nl; l++) {
            bool need_cpu = j->cpus && n->cpus && cpus < j->cpus;
            bool need_mem = j->mem && n->mem && mem < j->mem;
            if (free_g >= g && !need_cpu && !need_mem)
                break;
            const job_t *v = &s->jobs[local[l]];
            free_g += job_whole_on(v, c[i].node);
            cpus += v->cpus;
            mem += v->mem;
            GT_GROW(pick, cappick, npick + 1);
            pick[npick++] = local[l];
            cand.count++;
            cand.cost += policy_victim_cost(s, v, now);
            if (s->classes[v->cls].value > cand.top_class)
                cand.top_class = s->classes[v->cls].value;
        }
        if (free_g >= g && (!j->cpus || !n->cpus || cpus >= j->cpus) &&
            (!j->mem || !n->mem || mem >= j->mem))
            c[nkeep++] = cand;
        else
            npick -= (size_t)cand.count;
    }
    if (nkeep > 1)
        qsort(c, nkeep, sizeof(*c), candidate_cmp);
    int chosen = NIL, dest = NIL;
    for (size_t i = 0; i < nkeep && chosen == NIL; i++) {
        dest = fits_elsewhere(s, &s->jobs[c[i].job], c[i].node,
                              slot_whole_gpus(&s->jobs[c[i].job].slots[0]), now);
        if (dest != NIL)
            chosen = (int)i;
    }
    bool done = chosen != NIL;
    if (done) {
        const candidate_t *ch = &c[chosen];
        int issued = 1;
        preempt_victim(s, j, ch->job, now, false); /* moved: it did not borrow */
        /* the room it was found to fit in is held for it until it starts again (or its
         * next evaluation drops the nomination), as a preemptor's node is */
        job_set_targets(s, ch->job, &dest, 1);
        preempt_hold_targets(s, &s->jobs[ch->job]);
        for (int k = 0; k < ch->count; k++) {
            job_t *v = &s->jobs[pick[ch->first + k]];
            if (v->state != SCHED_RUNNING)
                continue;
            preempt_victim(s, j, pick[ch->first + k], now,
                           s->classes[v->cls].value >= s->classes[j->cls].value);
            issued++;
        }
        s->stats.defrag_moves++;
        int node = ch->node;
        job_set_targets(s, ji, &node, 1);
        preempt_hold_targets(s, j); /* held from now on, in this pass too */
        j->victims_pending = issued;
    } else {
        s->defrag_fail = (struct defrag_fail){s->stats.cycles, g, jv, types, j->features, j->cpus,
                                              j->mem};
    }
    free(ent);
    free(c);
    free(pick);
    free(local);
    return done;
}
