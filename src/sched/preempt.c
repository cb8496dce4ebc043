/* preempt.c: making room for a job that may displace others.
 *
 * A running job v is a victim candidate for j when v is preemptible, has run at least the
 * minimum runtime, and either v's class is below j's (priority preemption), or j is within its
 * team's quota and v is a borrowed job (it started above its team's quota) of another team
 * that is still above its quota, v's class not above j's (quota reclaim). Only borrowed jobs
 * are reclaimed and the reclaimer starts within its quota (so it is never a borrowed job):
 * two teams cannot take the same GPUs back and forth.
 *
 * Victims are chosen per node, lowest class first and then the least cost (the policy's
 * victim_cost, policy.h: by default the work lost since their last checkpoint); nodes are
 * ranked by what they would cost, and j's gang takes the cheapest nodes that, once the victims
 * stop, hold it: no preemption that frees nothing j can use.
 * A gang victim is preempted whole (it is one job). A reclaimed job may not borrow again
 * before a backoff that doubles with each reclaim, so that a job does not cycle between
 * borrowing idle GPUs and being reclaimed.
 *
 * A victim is taken only for what the job lacks on that node: a CPU-only job preempts (by
 * priority) only jobs that hold CPUs or memory it needs, and a GPU job never takes a victim
 * that frees none of what it lacks (a CPU-only job, for GPUs). */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

typedef struct victim_entry {
    int job;
    int next;
} victim_entry_t;

typedef struct node_cost {
    int node;
    int top_class;          /* highest class among its victims (lower is cheaper) */
    double lost;            /* its victims' cost (policy.h; by default work lost) */
    int first, count;       /* its chosen victims in the pick array */
} node_cost_t;

int sched_victim_cmp(const void *a, const void *b, void *ctx)
{
    const sched_t *s = ctx;
    const job_t *x = &s->jobs[*(const int *)a], *y = &s->jobs[*(const int *)b];
    int xv = s->classes[x->cls].value, yv = s->classes[y->cls].value;
    if (xv != yv)
        return xv < yv ? -1 : 1;
    double lx = policy_victim_cost(s, x, s->now), ly = policy_victim_cost(s, y, s->now);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cost_cmp(const void *a, const void *b)
{
    const node_cost_t *x = a, *y = b;
    if (x->top_class != y->top_class)
        return x->top_class < y->top_class ? -1 : 1;
    if (x->lost != y->lost)
        return x->lost < y->lost ? -1 : 1;
    return x->node - y->node;
}

/* Holds the nodes nominated by j's preemption until j starts (or preempts elsewhere), so
 * that what its victims free goes to j and not to a job that happens to come first. */
void preempt_hold_targets(sched_t *s, job_t *j)
{
    for (int k = 0; k < j->ntargets; k++) {
        node_t *n = &s->nodes[j->targets[k]];
        int g = job_per_node_gpus_whole(j);
        bool again = n->resv_epoch == s->resv_epoch;
        n->resv_gpus = again ? n->resv_gpus + g : g;
        n->resv_epoch = s->resv_epoch;
        n->resv_start = s->now; /* held from now on: no job may borrow it */
        n->resv_job = j->id;
    }
}

/* (sched_internal.h) Counting the raw free GPUs let two preemptors claim the same ones: the
 * second then found them held when its victims had stopped, and waited on. */
int preempt_usable(const sched_t *s, int ni, const job_t *j, sched_time_t now)
{
    const node_t *n = &s->nodes[ni];
    sched_time_t end = preempt_end(s, j, now);
    if (n->resv_epoch != s->resv_epoch || end <= n->resv_start)
        return n->free_whole;
    int held = n->resv_gpus;
    for (int k = 0; k < j->ntargets; k++)
        if (j->targets[k] == ni)
            held -= job_per_node_gpus_whole(j); /* its own earlier claim */
    return n->free_whole > held ? n->free_whole - (held > 0 ? held : 0) : 0;
}

/* s->reach as of this pass and its starts (counted again after each). */
static void reach_refresh(sched_t *s)
{
    struct reach *r = &s->reach;
    if (r->cycle != s->stats.cycles || r->charges != s->charges) {
        GT_GROW(r->room, r->caproom, (size_t)s->nnodes + 1);
        memset(r->room, 0, (size_t)s->nnodes * sizeof(*r->room));
        sched_time_t rmin = sched_reclaim_min_runtime(s);
        for (int ti = 0; ti < s->nteams; ti++) {
            const team_t *t = &s->teams[ti];
            if (!t->nvictims || !team_borrowing(s, ti))
                continue; /* (reclaim takes only from teams that borrow) */
            for (int x = 0; x < t->nvictims; x++) {
                const victim_t *v = &t->victims[x];
                if (v->borrowing && s->now - v->start >= rmin)
                    victim_add_whole(s, v, r->room);
            }
        }
        r->best_free = r->best_any = 0;
        r->nresv = 0;
        for (int ni = 0; ni < s->nnodes; ni++) {
            int room = r->room[ni];
            if (s->nodes[ni].free_whole + room > r->best_any)
                r->best_any = s->nodes[ni].free_whole + room;
            if (!room)
                continue;
            const node_t *n = &s->nodes[ni];
            if (n->resv_epoch == s->resv_epoch) {
                GT_GROW(r->resv, r->capresv, r->nresv + 1);
                r->resv[r->nresv++] = ni;
            } else if (n->free_whole + room > r->best_free) {
                r->best_free = n->free_whole + room;
            }
        }
        r->cycle = s->stats.cycles;
        r->charges = s->charges;
    }
}

/* (sched_internal.h) */
int reach_most(sched_t *s)
{
    reach_refresh(s);
    return s->reach.best_any;
}

/* (sched_internal.h) */
bool reach_any(sched_t *s, const job_t *j, int g)
{
    struct reach *r = &s->reach;
    reach_refresh(s);
    /* a gang may also use nodes free enough already, with no room; and reclaim for a job that
     * asks CPUs or memory may free them on a node with GPUs enough but no room (a victim
     * holding a fraction of a GPU counts no whole one) */
    if (j->nodes > 1 || j->cpus || j->mem)
        return r->best_any >= g;
    if (r->best_free >= g)
        return true;
    for (size_t i = 0; i < r->nresv; i++) {
        int ni = r->resv[i];
        if (preempt_usable(s, ni, j, s->now) + r->room[ni] >= g)
            return true;
    }
    return false;
}

bool preempt_for(sched_t *s, int ji, uint64_t types, bool in_quota, sched_time_t now)
{
    job_t *j = &s->jobs[ji];
    int g = job_per_node_gpus_whole(j), want = j->nodes;
    s->now = now;
    s->epoch++;

    /* scratch lists kept between tries (s->pscratch): a try allocates nothing */
    victim_entry_t *ent = s->pscratch.ent;
    size_t nent = 0, capent = s->pscratch.capent;
    int *touched = s->pscratch.touched;
    size_t ntouched = 0, captouched = s->pscratch.captouched;
    /* the candidates from the victim index (victims.c): by priority, the jobs of a lower
     * class in any team; by reclaim, the borrowed jobs of the other teams still borrowing.
     * The order they are found in does not matter: victims and nodes are ranked by keys with
     * a total order (sched_victim_cmp, cost_cmp). */
    int jv = s->classes[j->cls].value;
    sched_time_t rmin = sched_reclaim_min_runtime(s);
    /* some job of a class below j's may be a victim: the lowest class among the pass's
     * victims past the minimum runtime (victim_bounds) is below j's. (A job started in this
     * pass joins the index, but the pass's order puts higher classes first: its class is no
     * lower than j's.) Else only reclaim looks, at the teams still borrowing. */
    bool prio = s->min_victim_class < jv;
    /* by reclaim alone, no node may reach the GPUs it asks per node with what reclaim may take
     * now (reach_any): no victims would do */
    if (!prio && (!in_quota || (!s->p.no_reclaim_bound && !reach_any(s, j, g))))
        return false;
    for (int ti = 0; ti < s->nteams; ti++) {
        const team_t *t = &s->teams[ti];
        if (!t->nvictims)
            continue;
        bool reclaim = in_quota && ti != j->team && team_borrowing(s, ti);
        if (!prio && !reclaim)
            continue;
        for (int x = 0; x < t->nvictims; x++) {
            const victim_t *c = &t->victims[x];
            /* a victim for j: by priority, of a lower class past the minimum runtime; by
             * reclaim (only the reclaim minimum runtime guards a borrowed job) */
            if (!(c->cls_value < jv && now - c->start >= s->p.min_runtime_s) &&
                !(reclaim && c->borrowing && c->cls_value <= jv && now - c->start >= rmin))
                continue;
            /* a one-node job's slot is in its entry: most candidates cost no job record */
            const sched_slot_t *slots = c->nslots == 1 ? NULL : s->jobs[c->job].slots;
            for (int k = 0; k < c->nslots; k++) {
                int ni = slots ? slots[k].node : c->node;
                node_t *n = &s->nodes[ni];
                if (!n->up || !n->schedulable || !node_maint_allows(s, n, j) ||
                    !(types >> n->type & 1) || n->ngpus < g || !node_has_features(n, j) ||
                    (j->cpus && n->cpus && n->cpus < j->cpus) ||
                    (j->mem && n->mem && n->mem < j->mem))
                    continue;
                if (n->mark_epoch != s->epoch) {
                    n->mark_epoch = s->epoch;
                    n->mark_val = preempt_usable(s, ni, j, now);
                    n->mark_list = NIL;
                    GT_GROW(touched, captouched, ntouched + 1);
                    touched[ntouched++] = ni;
                }
                n->mark_val += slots ? slot_whole_gpus(&slots[k]) : c->whole;
                GT_GROW(ent, capent, nent + 1);
                ent[nent] = (victim_entry_t){c->job, n->mark_list};
                n->mark_list = (int)nent++;
            }
        }
    }

    node_cost_t *costs = xcalloc(ntouched + (size_t)want, sizeof(*costs));
    int *pick = xmalloc((nent + 1) * sizeof(int));
    size_t ncosts = 0, npick = 0;
    int *local = xmalloc((nent + 1) * sizeof(int));
    for (size_t t = 0; t < ntouched; t++) {
        node_t *n = &s->nodes[touched[t]];
        if (n->mark_val < g)
            continue;
        int nl = 0;
        for (int e = n->mark_list; e != NIL; e = ent[e].next)
            local[nl++] = ent[e].job;
        qsort_r(local, (size_t)nl, sizeof(int), sched_victim_cmp, s);
        int free_g = preempt_usable(s, touched[t], j, now);
        int64_t cpus = n->cpus_free, mem = n->mem_free;
        node_cost_t c = {touched[t], INT32_MIN, 0, (int)npick, 0};
        for (int i = 0; i < nl; i++) {
            bool need_gpu = free_g < g;
            bool need_cpu = j->cpus && n->cpus && cpus < j->cpus;
            bool need_mem = j->mem && n->mem && mem < j->mem;
            if (!need_gpu && !need_cpu && !need_mem)
                break;
            const job_t *v = &s->jobs[local[i]];
            int whole = job_whole_on(v, touched[t]);
            bool useful = (need_gpu && whole > 0) || (need_cpu && v->cpus > 0) ||
                          (need_mem && v->mem > 0);
            if (!useful && (job_cpu_only(v) || job_cpu_only(j)))
                continue; /* it would free nothing this job lacks here */
            free_g += whole;
            cpus += v->cpus;
            mem += v->mem;
            pick[npick++] = local[i];
            c.count++;
            c.lost += policy_victim_cost(s, v, now);
            if (s->classes[v->cls].value > c.top_class)
                c.top_class = s->classes[v->cls].value;
        }
        bool fits = free_g >= g && (!j->cpus || !n->cpus || cpus >= j->cpus) &&
                    (!j->mem || !n->mem || mem >= j->mem);
        if (fits && c.count > 0)
            costs[ncosts++] = c;
        else
            npick -= (size_t)c.count;
    }
    /* a gang may also use nodes that are free enough already, at no cost */
    if (want > 1)
        for (int k = g; k <= s->max_gpus; k++)
            for (int t = 0; t < s->ntypes; t++) {
                if (!(types >> t & 1))
                    continue;
                int taken = 0;
                for (int ni = s->bucket[t][k]; ni != NIL && taken < want; ni = s->nodes[ni].bnext)
                    if (s->nodes[ni].mark_epoch != s->epoch &&
                        node_has_features(&s->nodes[ni], j) && preempt_usable(s, ni, j, now) >= g &&
                        node_fits_cpu_mem(&s->nodes[ni], j->cpus, j->mem)) {
                        costs = xrealloc(costs, (ncosts + 1) * sizeof(*costs));
                        costs[ncosts++] = (node_cost_t){ni, INT32_MIN, 0, 0, 0};
                        taken++;
                    }
            }
    bool done = false;
    if ((int)ncosts >= want) {
        /* the `want` cheapest nodes first: a selection, as want is small and ncosts is not */
        for (int c = 0; c < want; c++) {
            size_t best = (size_t)c;
            for (size_t k = (size_t)c + 1; k < ncosts; k++)
                if (cost_cmp(&costs[k], &costs[best]) < 0)
                    best = k;
            node_cost_t tmp = costs[c];
            costs[c] = costs[best];
            costs[best] = tmp;
        }
        int issued = 0;
        for (int c = 0; c < want; c++)
            for (int i = 0; i < costs[c].count; i++) {
                job_t *v = &s->jobs[pick[costs[c].first + i]];
                if (v->state != SCHED_RUNNING)
                    continue;
                v->state = SCHED_PREEMPTING;
                victims_remove(s, (int)(v - s->jobs));
                v->stop_deadline = now + s->p.grace_s;
                v->preempt_for = j->id;
                if (s->classes[v->cls].value >= s->classes[j->cls].value) {
                    /* reclaimed from borrowing: it may borrow again only after a backoff that
                     * doubles each time (min runtime, at least a minute, up to 64 times) */
                    sched_time_t base = s->p.min_runtime_s > 60 ? s->p.min_runtime_s : 60;
                    int k = v->reclaims < 6 ? v->reclaims : 6;
                    v->reclaims++;
                    v->borrow_after = now + (base << k);
                }
                release_track(s, (int)(v - s->jobs));
                sched_decide(s, SCHED_PREEMPT, v->id, j->id);
                s->stats.preemptions++;
                issued++;
            }
        if (issued > 0) {
            /* nominate the target nodes: they are held for j until it starts */
            int *nodes = xmalloc((size_t)want * sizeof(int));
            for (int c = 0; c < want; c++)
                nodes[c] = costs[c].node;
            job_set_targets(s, ji, nodes, want);
            free(nodes);
            preempt_hold_targets(s, j); /* held from now on, in this pass too */
            j->victims_pending = issued;
            done = true;
        }
    }
    s->pscratch.ent = ent;
    s->pscratch.capent = capent;
    s->pscratch.touched = touched;
    s->pscratch.captouched = captouched;
    free(costs);
    free(pick);
    free(local);
    return done;
}
