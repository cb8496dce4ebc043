/* policy_fgd.c: fragmentation-aware placement (placement "fgd").
 *
 * After "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient
 * Descent" (Weng et al., USENIX ATC'23). The cluster's mix of requests (the workload: shapes of
 * GPUs per GPU, GPU count, CPUs, memory, acceptable GPU types, each with its share) says which
 * free GPUs are usable: for a node and one shape, the free GPU capacity the shape could not use
 * is that shape's fragment on the node:
 *   - a shape that may not run on the node's GPU type, or that does not fit the node's free
 *     GPUs, or whose CPUs or memory are not free there: all of the node's free GPU capacity;
 *   - a shape that fits: the free capacity of the GPUs too small for it (a 0.3 GPU left on a
 *     GPU is a fragment for a whole-GPU task);
 *   - a CPU-only shape: all of the node's free GPU capacity (it uses none of it).
 * The node's fragmentation is the mix-weighted sum over the shapes. A placement's score is
 * how much it lowers that of the node it goes to (the fragmentation gradient): the node (and,
 * for a fraction, the GPU) whose fragmentation drops most wins. Where FGD counts CPUs and GPUs
 * only, memory counts here too (a node whose memory is taken cannot host the shape either),
 * and scores are compared exactly (FGD rounds them to 0..100 through a sigmoid, and many nodes
 * tie); ties go to the fullest node (best fit), then the first.
 *
 * The mix: shapes the driver declares (sched_workload_add), or, until it declares one, the
 * shapes of the jobs submitted (each submission adds weight 1). The FGD_TYPICAL most frequent
 * shapes count (FGD: those covering 60%), each by its frequency times (FGD_GPU_WEIGHT + its
 * GPUs): a free GPU a 1-GPU shape cannot use loses more than one a 0.1-GPU shape cannot
 * (measured on openb, both lower the GPUs left unallocated: docs/simulator.md).
 *
 * CPUs per GPU: beyond FGD, a node's fragmentation also counts the free GPU capacity its free
 * CPUs cannot serve at the mix's CPUs per GPU (the CPUs of the mix's GPU shapes over their
 * GPUs, by frequency): free GPUs minus free CPUs / that ratio, when positive, each milli-GPU
 * counting FGD_CPU_STRAND. FGD's measure only asks whether one task of a shape still finds its
 * CPUs; a node whose CPUs run out before its GPUs strands the rest, so CPU-hungry tasks (and
 * CPU-only ones) go where CPUs are plentiful for the GPUs left (openb: the 2-GPU T4 nodes with
 * 104 CPUs), and CPU-light ones where they are scarce (the 8-GPU G2 nodes with 96).
 *
 * Placement is this score for jobs on one node (fractions, whole GPUs, CPU-only); gangs keep
 * their topology-aware search (place.c). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

#define FGD_MAX_SHAPES 4096         /* distinct shapes remembered; more are not added */
#define FGD_TYPICAL 256             /* shapes that count at most */
#define FGD_COVER 1.0               /* share of the weight the counted shapes cover */
#define FGD_GPU_WEIGHT 0.2          /* a shape counts (this + its GPUs) times its weight */
#define FGD_CPU_STRAND 0.5          /* a milli-GPU the node's CPUs leave stranded counts as
                                       this many milli-GPUs of fragment */

static void shape_of(const sched_t *s, const sched_job_spec_t *sp, fgd_shape_t *out)
{
    memset(out, 0, sizeof(*out));
    int nodes = sp->nodes > 0 ? sp->nodes : 1;
    int64_t per = sp->gpus_milli / nodes;
    if (sp->gpus_milli <= 0) {
        out->milli = 0, out->count = 0;
    } else if (per < SCHED_MILLI) {
        out->milli = (int)per, out->count = 1;
    } else {
        out->milli = SCHED_MILLI, out->count = (int)(per / SCHED_MILLI);
    }
    out->cpus = sp->cpus_milli;
    out->mem = sp->memory_mib;
    uint64_t all = s->ntypes >= 64 ? ~0ULL : (1ULL << s->ntypes) - 1;
    out->types = (sp->gpu_types & all) == all ? 0 : sp->gpu_types;
}

static bool shape_eq(const fgd_shape_t *a, const fgd_shape_t *b)
{
    return a->milli == b->milli && a->count == b->count && a->cpus == b->cpus &&
           a->mem == b->mem && a->types == b->types;
}

static void shape_add(sched_t *s, const fgd_shape_t *sh, double weight)
{
    for (size_t i = 0; i < s->nmix; i++)
        if (shape_eq(&s->mix[i], sh)) {
            s->mix[i].weight += weight;
            s->mix_dirty = true;
            return;
        }
    if (s->nmix >= FGD_MAX_SHAPES)
        return;
    GT_GROW(s->mix, s->capmix, s->nmix + 1);
    s->mix[s->nmix] = *sh;
    s->mix[s->nmix].weight = weight;
    s->nmix++;
    s->mix_dirty = true;
}

int sched_workload_add(sched_t *s, const sched_job_spec_t *spec, double weight,
                       gt_error_t *err)
{
    if (!(weight > 0) || !isfinite(weight) || spec->gpus_milli < 0 || spec->cpus_milli < 0 ||
        spec->memory_mib < 0 || spec->nodes < 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "a workload shape needs a weight > 0 "
                            "and sizes >= 0");
    }
    if (!s->mix_declared) {
        /* the first declared shape replaces what was observed */
        s->nmix = 0;
        s->mix_declared = true;
    }
    fgd_shape_t sh;
    shape_of(s, spec, &sh);
    shape_add(s, &sh, weight);
    return 0;
}

void sched_workload_clear(sched_t *s)
{
    s->nmix = 0;
    s->mix_declared = false;
    s->mix_dirty = true;
}

void fgd_observe(sched_t *s, const sched_job_spec_t *spec)
{
    if (s->mix_declared)
        return;
    fgd_shape_t sh;
    shape_of(s, spec, &sh);
    shape_add(s, &sh, 1.0);
}

static int by_weight(const void *a, const void *b, void *ctx)
{
    const fgd_shape_t *m = ctx;
    double x = m[*(const int *)a].weight, y = m[*(const int *)b].weight;
    if (x != y)
        return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

/* Chooses the shapes that count and their normalized weights. */
static void typical_refresh(sched_t *s)
{
    if (!s->mix_dirty)
        return;
    s->mix_dirty = false;
    s->frag_gen++;
    int *idx = xmalloc((s->nmix + 1) * sizeof(int));
    double total = 0;
    for (size_t i = 0; i < s->nmix; i++) {
        idx[i] = (int)i;
        total += s->mix[i].weight;
    }
    /* the shapes that count: the most frequent (by count) first */
    qsort_r(idx, s->nmix, sizeof(int), by_weight, s->mix);
    GT_GROW(s->typical, s->captypical, (size_t)FGD_TYPICAL);
    s->ntypical = 0;
    double cum = 0;
    for (size_t i = 0; i < s->nmix && s->ntypical < FGD_TYPICAL; i++) {
        if (total > 0 && cum >= FGD_COVER * total)
            break;
        cum += s->mix[idx[i]].weight;
        fgd_shape_t *t = &s->typical[s->ntypical++];
        *t = s->mix[idx[i]];
        /* a GPU left unusable costs by the GPUs of the shapes that cannot use it: a shape
           counts by its frequency times (FGD_GPU_WEIGHT + its GPUs) */
        t->weight *= FGD_GPU_WEIGHT + (double)t->milli * t->count / SCHED_MILLI;
    }
    double cw = 0, mw = 0, gw = 0;
    for (size_t i = 0; i < s->nmix; i++) {
        const fgd_shape_t *m = &s->mix[i];
        if (!m->milli)
            continue;
        gw += m->weight * m->milli * m->count;
        cw += m->weight * (double)m->cpus;
        mw += m->weight * (double)m->mem;
    }
    s->mix_cpu_per_milli = gw > 0 ? cw / gw : 0;
    s->mix_mem_per_milli = gw > 0 ? mw / gw : 0;
    double sum = 0;
    for (size_t i = 0; i < s->ntypical; i++)
        sum += s->typical[i].weight;
    for (size_t i = 0; i < s->ntypical; i++)
        s->typical[i].weight /= sum > 0 ? sum : 1;
    free(idx);
}

/* A node's state as the fragment measure sees it. */
typedef struct nstate {
    int type;
    int ngpus;
    int free[SCHED_MAX_GPUS_PER_NODE];
    int64_t free_total;
    int64_t cpus_free, mem_free;   /* -1: not tracked */
} nstate_t;

static void state_of(const node_t *n, nstate_t *st)
{
    st->type = n->type;
    st->ngpus = n->ngpus;
    st->free_total = 0;
    for (int g = 0; g < n->ngpus; g++) {
        st->free[g] = n->gpu_free[g];
        st->free_total += n->gpu_free[g];
    }
    st->cpus_free = n->cpus ? n->cpus_free : -1;
    st->mem_free = n->mem ? n->mem_free : -1;
}

double fgd_state_frag(const sched_t *s, const fgd_shape_t *shapes, size_t nshapes,
                      int type, const int *free, int ngpus, int64_t cpus_free,
                      int64_t mem_free)
{
    int64_t total = 0;
    for (int g = 0; g < ngpus; g++)
        total += free[g];
    if (total == 0)
        return 0;
    (void)s;
    double f = 0;
    for (size_t i = 0; i < nshapes; i++) {
        const fgd_shape_t *p = &shapes[i];
        if (p->milli == 0 || (p->types && !(p->types >> type & 1))) {
            f += p->weight * (double)total;
            continue;
        }
        bool host = (!p->cpus || cpus_free < 0 || cpus_free >= p->cpus) &&
                    (!p->mem || mem_free < 0 || mem_free >= p->mem);
        int fit = 0;
        int64_t small = 0;
        for (int g = 0; g < ngpus; g++) {
            if (free[g] >= p->milli)
                fit++;
            else
                small += free[g];
        }
        f += p->weight * (double)(host && fit >= p->count ? small : total);
    }
    return f;
}

/* The free GPU capacity of a node state that its free CPUs cannot serve at the mix's CPUs per
 * GPU (0 when the mix asks no CPUs or the node does not track them). */
static double cpu_stranded(const sched_t *s, const nstate_t *st)
{
    if (st->cpus_free < 0 || !(s->mix_cpu_per_milli > 0))
        return 0;
    int64_t total = 0;
    for (int g = 0; g < st->ngpus; g++)
        total += st->free[g];
    double x = (double)total - (double)st->cpus_free / s->mix_cpu_per_milli;
    return x > 0 ? x : 0;
}

/* A node state's fragmentation: FGD's measure for the shapes that count, plus the GPU
 * capacity its CPUs leave stranded (FGD_CPU_STRAND per milli-GPU). */
static double state_frag(const sched_t *s, const nstate_t *st)
{
    return fgd_state_frag(s, s->typical, s->ntypical, st->type, st->free, st->ngpus,
                          st->cpus_free, st->mem_free) +
           FGD_CPU_STRAND * cpu_stranded(s, st);
}

static double node_frag(sched_t *s, int ni)
{
    node_t *n = &s->nodes[ni];
    if (!n->frag_ok || n->frag_gen != s->frag_gen) {
        nstate_t st;
        state_of(n, &st);
        n->frag_val = state_frag(s, &st);
        n->frag_gen = s->frag_gen;
        n->frag_ok = true;
    }
    return n->frag_val;
}

static bool node_ok(const sched_t *s, const job_t *j, const node_t *n, uint64_t types)
{
    return (types >> n->type & 1) && n->up && n->schedulable && node_has_features(n, j) &&
           node_fits_cpu_mem(n, j->cpus, j->mem) && node_maint_allows(s, n, j);
}

/* Better candidate: a larger drop; ties to the fuller node (and tighter GPU), then the
 * earlier one. */
static bool better(double gain, int64_t left, double best_gain, int64_t best_left)
{
    double eps = 1e-9 * (fabs(gain) + fabs(best_gain) + 1);
    if (gain > best_gain + eps)
        return true;
    if (gain < best_gain - eps)
        return false;
    return left < best_left;
}

/* The node-score hook (policy.h) for whole GPUs and CPU-only jobs: minus the drop of the
 * node's fragmentation (in thousandths of a milli-GPU, times 2^20), plus the free capacity
 * left (< 2^20). The cache of each node's fragmentation
 * and of the shapes that count is not part of the model: it is kept through a cast. */
static int64_t fgd_node_score(const sched_t *cs, const job_t *j, int ni, int gpus)
{
    sched_t *s = (sched_t *)cs;
    typical_refresh(s);
    const node_t *n = &s->nodes[ni];
    nstate_t st;
    state_of(n, &st);
    if (j->cpus && st.cpus_free >= 0)
        st.cpus_free -= j->cpus;
    if (j->mem && st.mem_free >= 0)
        st.mem_free -= j->mem;
    /* whole GPUs are alike for the measure: take any g of them */
    for (int k = 0, taken = 0; k < n->ngpus && taken < gpus; k++)
        if (st.free[k] == SCHED_MILLI) {
            st.free[k] = 0;
            taken++;
        }
    double gain = node_frag(s, ni) - state_frag(s, &st);
    /* ties (same drop, to a thousandth of a milli-GPU) to the node with the least free GPU
       capacity left, fractions counted */
    int64_t left = 0;
    for (int k = 0; k < n->ngpus; k++)
        left += st.free[k];
    return -llround(gain * 1e3) * (1 << 20) + left;
}

bool fgd_place_fraction(sched_t *s, job_t *j, uint64_t types, sched_time_t end)
{
    typical_refresh(s);
    int milli = (int)j->gpus;
    int best = NIL, best_gpu = NIL;
    double best_gain = -INFINITY;
    int64_t best_left = INT64_MAX;
    for (int ni = 0; ni < s->nnodes; ni++) {
        node_t *n = &s->nodes[ni];
        if (n->ngpus < 1 || !node_ok(s, j, n, types))
            continue;
        nstate_t st;
        state_of(n, &st);
        if (j->cpus && st.cpus_free >= 0)
            st.cpus_free -= j->cpus;
        if (j->mem && st.mem_free >= 0)
            st.mem_free -= j->mem;
        int64_t left = st.free_total - milli;
        /* each GPU it fits on (one of each amount free): partly used ones always, a whole one
           if the node's reservations leave one */
        bool whole_ok = node_usable(s, ni, end, j) >= 1;
        double f0 = node_frag(s, ni);
        int tried[SCHED_MAX_GPUS_PER_NODE], ntried = 0;
        for (int k = 0; k < n->ngpus; k++) {
            int f = n->gpu_free[k];
            if (f < milli || (f == SCHED_MILLI && !whole_ok))
                continue;
            bool seen = false;
            for (int t = 0; t < ntried && !seen; t++)
                seen = tried[t] == f;
            if (seen)
                continue;
            tried[ntried++] = f;
            st.free[k] -= milli;
            double gain = f0 - state_frag(s, &st);
            st.free[k] += milli;
            /* ties: the fuller node, then the tighter GPU */
            int64_t key = left * (SCHED_MILLI + 1) + (f - milli);
            if (better(gain, key, best_gain, best_left))
                best_gain = gain, best_left = key, best = ni, best_gpu = k;
        }
    }
    if (best == NIL)
        return false;
    GT_GROW(j->slots, j->capslots, (size_t)1);
    j->nslots = 1;
    j->slots[0] = (sched_slot_t){best, 1ULL << best_gpu, milli};
    return true;
}

const sched_policy_t policy_fgd = {
    .name = "fgd",
    .node_score = fgd_node_score,
};

void fgd_free(sched_t *s)
{
    free(s->mix);
    free(s->typical);
}
