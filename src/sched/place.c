/* place.c: where a job goes now. A placement policy with a node score (policy.h) chooses
 * among the nodes that can hold a single-node job; otherwise, and for the rest, best fit
 * everywhere, so that whole nodes stay free for 8-GPU jobs and shared GPUs fill up before
 * new ones are broken into:
 * - a fraction of a GPU: the partly used GPU it fits tightest, else a whole GPU of the node
 *   with the fewest free GPUs;
 * - whole GPUs on one node: the node with the fewest free GPUs that holds them, GPUs of one
 *   NVLink domain together;
 * - a gang: nodes in the fewest topology subtrees (leaf, then spine, then block), the
 *   tightest subtree that holds the gang, the fullest nodes inside it;
 * - no GPU (a CPU-only job, or each node of its gang): the same searches for 0 GPUs per node,
 *   so nodes without GPUs and nodes whose GPUs are all taken come first, and nodes with free
 *   GPUs are left for jobs that need them; only CPUs, memory and features decide. */
#include <stdlib.h>

#include "sched/sched_internal.h"

/* The gang search looks at no more candidate nodes than this (best-fit first), so a gang on
 * an empty 10,000-node cluster costs a bounded scan. */
#define GANG_CANDIDATES_MIN 256

static void set_slots(job_t *j, int n)
{
    GT_GROW(j->slots, j->capslots, (size_t)n);
    j->nslots = n;
}

static bool node_ok(const sched_t *s, const job_t *j, const node_t *n)
{
    return n->up && n->schedulable && node_has_features(n, j) &&
           node_fits_cpu_mem(n, j->cpus, j->mem) && node_maint_allows(s, n, j);
}

static bool place_fraction(sched_t *s, job_t *j, uint64_t types, sched_time_t end)
{
    if (s->p.placement == SCHED_PLACE_FGD) /* the GPU is part of its choice (policy_fgd.c) */
        return fgd_place_fraction(s, j, types, end);
    int milli = (int)j->gpus;
    int best_node = NIL, best_gpu = NIL, best_left = SCHED_MILLI;
    for (int t = 0; t < s->ntypes; t++) {
        if (!(types >> t & 1))
            continue;
        for (int ni = s->partial_head[t]; ni != NIL; ni = s->nodes[ni].pnext) {
            const node_t *n = &s->nodes[ni];
            if (!node_ok(s, j, n))
                continue;
            for (int g = 0; g < n->ngpus; g++) {
                int f = n->gpu_free[g];
                if (f < SCHED_MILLI && f >= milli && f - milli < best_left) {
                    best_left = f - milli, best_node = ni, best_gpu = g;
                    if (best_left == 0)
                        goto found;
                }
            }
        }
    }
    if (best_node == NIL) {
        /* a whole GPU from the node with the fewest whole free GPUs */
        for (int k = 1; k <= s->max_gpus && best_node == NIL; k++)
            for (int t = 0; t < s->ntypes && best_node == NIL; t++) {
                if (!(types >> t & 1))
                    continue;
                for (int ni = s->bucket[t][k]; ni != NIL; ni = s->nodes[ni].bnext) {
                    const node_t *n = &s->nodes[ni];
                    if (node_ok(s, j, n) && node_usable(s, ni, end, j) >= 1) {
                        best_node = ni;
                        best_gpu = __builtin_ctzll(node_choose_gpus(n, 1));
                        break;
                    }
                }
            }
    }
    if (best_node == NIL)
        return false;
found:
    set_slots(j, 1);
    j->slots[0] = (sched_slot_t){best_node, 1ULL << best_gpu, milli};
    return true;
}

/* What each slot holds per GPU of its mask: a whole GPU, or nothing (a CPU-only job). */
static int slot_milli(const job_t *j)
{
    return job_cpu_only(j) ? 0 : SCHED_MILLI;
}

/* With the placement policy's node score (policy.h): every node that can hold j, lowest
 * score first, ties to the best-fit order. */
static bool place_single_scored(sched_t *s, job_t *j, uint64_t types, sched_time_t end, int g)
{
    int best = NIL;
    int64_t best_score = 0;
    for (int k = g; k <= s->max_gpus; k++)
        for (int t = 0; t < s->ntypes; t++) {
            if (!(types >> t & 1))
                continue;
            for (int ni = s->bucket[t][k]; ni != NIL; ni = s->nodes[ni].bnext) {
                if (!node_ok(s, j, &s->nodes[ni]) || node_usable(s, ni, end, j) < g)
                    continue;
                int64_t sc = s->place_policy->node_score(s, j, ni, g);
                if (best == NIL || sc < best_score)
                    best = ni, best_score = sc;
            }
        }
    if (best == NIL)
        return false;
    set_slots(j, 1);
    j->slots[0] = (sched_slot_t){best, node_choose_gpus(&s->nodes[best], g), slot_milli(j)};
    return true;
}

static bool place_single(sched_t *s, job_t *j, uint64_t types, sched_time_t end)
{
    int g = (int)(j->gpus / SCHED_MILLI);
    if (s->place_policy->node_score)
        return place_single_scored(s, j, types, end, g);
    for (int k = g; k <= s->max_gpus; k++)
        for (int t = 0; t < s->ntypes; t++) {
            if (!(types >> t & 1))
                continue;
            for (int ni = s->bucket[t][k]; ni != NIL; ni = s->nodes[ni].bnext) {
                const node_t *n = &s->nodes[ni];
                if (node_ok(s, j, n) && node_usable(s, ni, end, j) >= g) {
                    set_slots(j, 1);
                    j->slots[0] = (sched_slot_t){ni, node_choose_gpus(n, g), slot_milli(j)};
                    return true;
                }
            }
        }
    return false;
}

static int by_topology(const void *a, const void *b, void *ctx)
{
    const sched_t *s = ctx;
    const node_t *x = &s->nodes[*(const int *)a], *y = &s->nodes[*(const int *)b];
    if (x->block != y->block)
        return x->block < y->block ? -1 : 1;
    if (x->spine != y->spine)
        return x->spine < y->spine ? -1 : 1;
    if (x->leaf != y->leaf)
        return x->leaf < y->leaf ? -1 : 1;
    if (x->free_whole != y->free_whole)
        return x->free_whole < y->free_whole ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static int topo_key(const node_t *n, int level)
{
    return level == 0 ? n->leaf : level == 1 ? n->spine : level == 2 ? n->block : 0;
}

/* Within cand[lo..hi) (sorted by topology), the tightest group at `level` that holds `want`
 * nodes: returns its range in glo and ghi, or false. */
static bool tightest_group(const sched_t *s, const int *cand, int lo, int hi, int level,
                           int want, int *glo, int *ghi)
{
    int best = -1, bestlen = 0;
    for (int i = lo; i < hi;) {
        int key = topo_key(&s->nodes[cand[i]], level), k = i;
        while (k < hi && topo_key(&s->nodes[cand[k]], level) == key)
            k++;
        if (k - i >= want && (best < 0 || k - i < bestlen))
            best = i, bestlen = k - i;
        i = k;
    }
    if (best < 0)
        return false;
    *glo = best;
    *ghi = best + bestlen;
    return true;
}

/* Takes `want` nodes from cand[lo..hi), whole inner groups (largest first) before splitting,
 * so the gang spans as few inner subtrees as possible. */
static int take_nodes(const sched_t *s, const int *cand, int lo, int hi, int level, int want,
                      int *out)
{
    int got = 0;
    if (level < 0) {
        for (int i = lo; i < hi && got < want; i++)
            out[got++] = cand[i];
        return got;
    }
    while (got < want) {
        int best = -1, bestlen = 0, rest = want - got;
        int fit = -1, fitlen = 0;
        for (int i = lo; i < hi;) {
            int key = topo_key(&s->nodes[cand[i]], level), k = i;
            while (k < hi && topo_key(&s->nodes[cand[k]], level) == key)
                k++;
            bool used = false;
            for (int u = 0; u < got && !used; u++)
                used = out[u] == cand[i];
            if (!used) {
                if (k - i > bestlen)
                    best = i, bestlen = k - i;
                if (k - i >= rest && (fit < 0 || k - i < fitlen))
                    fit = i, fitlen = k - i;
            }
            i = k;
        }
        if (fit >= 0)
            return got + take_nodes(s, cand, fit, fit + fitlen, level - 1, rest, out + got);
        if (best < 0)
            break;
        got += take_nodes(s, cand, best, best + bestlen, level - 1, bestlen, out + got);
    }
    return got;
}

static bool place_gang(sched_t *s, job_t *j, uint64_t types, sched_time_t end)
{
    int n = j->nodes, g = (int)(j->gpus / j->nodes / SCHED_MILLI);
    int cap = n * 4 > GANG_CANDIDATES_MIN ? n * 4 : GANG_CANDIDATES_MIN;
    GT_GROW(s->scratch, s->capscratch, (size_t)cap + (size_t)n);
    int *cand = s->scratch, nc = 0;
    for (int k = g; k <= s->max_gpus && nc < cap; k++)
        for (int t = 0; t < s->ntypes && nc < cap; t++) {
            if (!(types >> t & 1))
                continue;
            for (int ni = s->bucket[t][k]; ni != NIL && nc < cap; ni = s->nodes[ni].bnext)
                if (node_ok(s, j, &s->nodes[ni]) && node_usable(s, ni, end, j) >= g)
                    cand[nc++] = ni;
        }
    if (nc < n)
        return false;
    qsort_r(cand, (size_t)nc, sizeof(int), by_topology, s);
    int *chosen = s->scratch + cap;
    int lo = 0, hi = nc, got = 0;
    for (int level = 0; level <= 3; level++)
        if (tightest_group(s, cand, 0, nc, level, n, &lo, &hi)) {
            got = take_nodes(s, cand, lo, hi, level - 1, n, chosen);
            break;
        }
    if (got < n)
        return false;
    /* The GPUs of each node: g each; or, for a gang whose shape is the scheduler's to choose
       (nodes 0), uneven: the nodes with the most free GPUs filled whole, the rest on the last,
       so the free GPUs left stay together (12 on two free 8-GPU nodes: 8+4, leaving a whole 4,
       not 6+6 leaving 2+2). The nodes are the ones chosen for the even shape: the gang spans
       the same topology. */
    int *count = NULL;
    if (j->nodes_asked == 0 && !job_cpu_only(j) && j->gpus % SCHED_MILLI == 0) {
        count = xcalloc((size_t)n, sizeof(int));
        int *order = xmalloc((size_t)n * sizeof(int)), *avail = xmalloc((size_t)n * sizeof(int));
        for (int i = 0; i < n; i++) {
            order[i] = i;
            avail[i] = node_usable(s, chosen[i], end, j);
        }
        /* most free first (ties: the earlier choice) */
        for (int a = 1; a < n; a++)
            for (int b = a; b > 0 && avail[order[b]] > avail[order[b - 1]]; b--) {
                int t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
        int left = (int)(j->gpus / SCHED_MILLI);
        for (int k = 0; k < n; k++) {
            int i = order[k], after = n - k - 1;   /* nodes still to get at least one */
            int c = left - after < avail[i] ? left - after : avail[i];
            count[i] = c;
            left -= c;
        }
        free(order);
        free(avail);
        if (left != 0) { /* cannot happen: each holds g and n * g = gpus (see the loop) */
            free(count);
            count = NULL;
        }
    }
    set_slots(j, n);
    for (int i = 0; i < n; i++)
        j->slots[i] = (sched_slot_t){chosen[i],
                                     node_choose_gpus(&s->nodes[chosen[i]], count ? count[i] : g),
                                     slot_milli(j)};
    free(count);
    return true;
}

bool place_find(sched_t *s, job_t *j, uint64_t types, sched_time_t end)
{
    if (j->gpus > 0 && j->gpus < SCHED_MILLI)
        return place_fraction(s, j, types, end);
    if (j->nodes <= 1)
        return place_single(s, j, types, end);
    return place_gang(s, j, types, end);
}
