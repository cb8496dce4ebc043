/* nodes.c: the free-GPU index (per GPU type, nodes bucketed by their count of whole free
 * GPUs; a list of nodes with partly used GPUs) and allocation of slots on nodes. */
#include "sched/sched_internal.h"

static void bucket_link(sched_t *s, int ni)
{
    node_t *n = &s->nodes[ni];
    int *head = &s->bucket[n->type][n->free_whole];
    n->bprev = NIL;
    n->bnext = *head;
    if (*head != NIL)
        s->nodes[*head].bprev = ni;
    *head = ni;
    n->in_bucket = true;
}

static void bucket_unlink(sched_t *s, int ni)
{
    node_t *n = &s->nodes[ni];
    if (!n->in_bucket)
        return;
    if (n->bprev != NIL)
        s->nodes[n->bprev].bnext = n->bnext;
    else
        s->bucket[n->type][n->free_whole] = n->bnext;
    if (n->bnext != NIL)
        s->nodes[n->bnext].bprev = n->bprev;
    n->bprev = n->bnext = NIL;
    n->in_bucket = false;
}

static void partial_link(sched_t *s, int ni)
{
    node_t *n = &s->nodes[ni];
    int *head = &s->partial_head[n->type];
    n->pprev = NIL;
    n->pnext = *head;
    if (*head != NIL)
        s->nodes[*head].pprev = ni;
    *head = ni;
    n->in_partial = true;
}

static void partial_unlink(sched_t *s, int ni)
{
    node_t *n = &s->nodes[ni];
    if (!n->in_partial)
        return;
    if (n->pprev != NIL)
        s->nodes[n->pprev].pnext = n->pnext;
    else
        s->partial_head[n->type] = n->pnext;
    if (n->pnext != NIL)
        s->nodes[n->pnext].pprev = n->pprev;
    n->pprev = n->pnext = NIL;
    n->in_partial = false;
}

static int64_t node_free_milli(const node_t *n)
{
    int64_t f = 0;
    for (int g = 0; g < n->ngpus; g++)
        f += n->gpu_free[g];
    return f;
}

void node_index_insert(sched_t *s, int ni)
{
    node_t *n = &s->nodes[ni];
    s->free_milli += node_free_milli(n);
    bucket_link(s, ni);
    if (n->partial)
        partial_link(s, ni);
    s->type_free_whole[n->type] += n->free_whole;
}

void node_index_remove(sched_t *s, int ni)
{
    node_t *n = &s->nodes[ni];
    if (n->in_bucket) {
        s->type_free_whole[n->type] -= n->free_whole;
        s->free_milli -= node_free_milli(n);
    }
    bucket_unlink(s, ni);
    partial_unlink(s, ni);
}

int node_usable(const sched_t *s, int ni, sched_time_t end, const job_t *j)
{
    const node_t *n = &s->nodes[ni];
    if (n->resv_epoch != s->resv_epoch || end <= n->resv_start)
        return n->free_whole;
    /* j's own target, its victims stopped: its claim there is free, and the other holds
     * claimed other GPUs (preempt.c counts a node's GPUs less the holds already on it); the
     * later holders' victims may not have stopped yet, so their holds do not count here */
    for (int k = 0; j && k < j->ntargets; k++)
        if (j->targets[k] == ni)
            return n->free_whole;
    int held = n->resv_gpus;
    return n->free_whole > held ? n->free_whole - (held > 0 ? held : 0) : 0;
}

bool node_fits_cpu_mem(const node_t *n, int64_t cpus, int64_t mem)
{
    return (!cpus || !n->cpus || n->cpus_free >= cpus) && (!mem || !n->mem || n->mem_free >= mem);
}

uint64_t node_choose_gpus(const node_t *n, int g)
{
    int groups = n->nvgroup[n->ngpus ? n->ngpus - 1 : 0] + 1;
    int free_in[SCHED_MAX_GPUS_PER_NODE] = {0};
    for (int i = 0; i < n->ngpus; i++)
        if (n->gpu_free[i] == SCHED_MILLI)
            free_in[n->nvgroup[i]]++;
    uint64_t mask = 0;
    int taken = 0;
    /* best fit: the NVLink domain with the fewest free GPUs that still holds them all */
    int best = NIL;
    for (int d = 0; d < groups; d++)
        if (free_in[d] >= g && (best == NIL || free_in[d] < free_in[best]))
            best = d;
    if (best != NIL) {
        for (int i = 0; i < n->ngpus && taken < g; i++)
            if (n->nvgroup[i] == best && n->gpu_free[i] == SCHED_MILLI) {
                mask |= 1ULL << i;
                taken++;
            }
        return mask;
    }
    /* else span the fewest domains: the fullest-free domains first */
    while (taken < g) {
        int d = 0;
        bool any = false;
        for (int k = 0; k < groups; k++)
            any |= free_in[k] > 0;
        if (!any)
            break; /* the caller checked free_whole >= g: cannot happen */
        for (int k = 1; k < groups; k++)
            if (free_in[k] > free_in[d])
                d = k;
        for (int i = 0; i < n->ngpus && taken < g; i++)
            if (n->nvgroup[i] == d && n->gpu_free[i] == SCHED_MILLI && !(mask >> i & 1)) {
                mask |= 1ULL << i;
                taken++;
                free_in[d]--;
            }
        free_in[d] = 0;
    }
    return mask;
}

static void node_apply(sched_t *s, int ni, const sched_slot_t *slot, int64_t cpus, int64_t mem,
                       int sign)
{
    node_t *n = &s->nodes[ni];
    bool indexed = n->in_bucket;
    if (indexed)
        node_index_remove(s, ni);
    for (int g = 0; g < n->ngpus; g++) {
        if (!(slot->gpu_mask >> g & 1))
            continue;
        bool was_whole = n->gpu_free[g] == SCHED_MILLI;
        bool was_partial = !was_whole && n->gpu_free[g] > 0;
        n->gpu_free[g] = (uint16_t)(n->gpu_free[g] - sign * slot->gpu_milli);
        bool is_whole = n->gpu_free[g] == SCHED_MILLI;
        bool is_partial = !is_whole && n->gpu_free[g] > 0;
        n->free_whole += is_whole - was_whole;
        n->partial += is_partial - was_partial;
    }
    if (n->cpus)
        n->cpus_free -= sign * cpus;
    if (n->mem)
        n->mem_free -= sign * mem;
    n->njobs += sign;
    n->frag_ok = false;
    if (indexed)
        node_index_insert(s, ni);
}

void node_take(sched_t *s, int ni, const sched_slot_t *slot, int64_t cpus, int64_t mem)
{
    node_apply(s, ni, slot, cpus, mem, +1);
}

void node_give(sched_t *s, int ni, const sched_slot_t *slot, int64_t cpus, int64_t mem)
{
    node_apply(s, ni, slot, cpus, mem, -1);
}
