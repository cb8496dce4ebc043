/* maint.c: what an administrator takes out of scheduling: nodes made unschedulable (drained or
 * cordoned: out of the free-GPU index, so no placement, backfill reservation or preemption
 * looks at them) and maintenance windows (nodes that stay in the index but take only jobs that
 * end before the window; node_maint_allows() is the one test, kept cheap by each node's
 * maint_from, the earliest start of its windows not yet ended, recomputed here only when the
 * windows change or one ends). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

int sched_node_set_schedulable(sched_t *s, int ni, bool schedulable)
{
    if (ni < 0 || ni >= s->nnodes) {
        errno = ENOENT;
        return -1;
    }
    node_t *n = &s->nodes[ni];
    if (n->schedulable == schedulable)
        return 0;
    if (n->in_bucket)
        node_index_remove(s, ni);
    n->schedulable = schedulable;
    if (!schedulable) {
        n->unsched_seq = ++s->seq;
        GT_GROW(s->unsched, s->capunsched, (size_t)s->nunsched + 1);
        s->unsched[s->nunsched++] = ni;
    } else {
        for (int i = 0; i < s->nunsched; i++)
            if (s->unsched[i] == ni) {
                s->unsched[i] = s->unsched[--s->nunsched];
                break;
            }
    }
    if (n->up && n->schedulable)
        node_index_insert(s, ni);
    s->loosened = true;
    return 0;
}

static int maint_find(const sched_t *s, const char *name)
{
    for (int i = 0; i < s->nmaint; i++)
        if (!strcmp(s->maint[i].name, name))
            return i;
    return NIL;
}

int sched_maintenance_add(sched_t *s, const char *name, const int *nodes, int nnodes,
                          sched_time_t start, sched_time_t end, gt_error_t *err)
{
    if (!name || !*name || strlen(name) > SCHED_MAINT_NAME_MAX) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "a maintenance window needs a name of 1 "
                            "to %d characters", SCHED_MAINT_NAME_MAX);
    }
    if (nnodes <= 0 || !nodes) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "maintenance '%s' names no node", name);
    }
    if (end <= start) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "maintenance '%s' ends at %lld, not after "
                            "its start %lld", name, (long long)end, (long long)start);
    }
    for (int i = 0; i < nnodes; i++)
        if (nodes[i] < 0 || nodes[i] >= s->nnodes) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "maintenance '%s': no node %d", name,
                                nodes[i]);
        }
    if (maint_find(s, name) != NIL) {
        errno = EEXIST;
        return gt_error_set(err, "conflict", "maintenance '%s' exists already", name);
    }
    GT_GROW(s->maint, s->capmaint, (size_t)s->nmaint + 1);
    struct maint *m = &s->maint[s->nmaint++];
    m->name = xstrdup(name);
    m->start = start;
    m->end = end;
    m->nodes = xmalloc((size_t)nnodes * sizeof(int));
    memcpy(m->nodes, nodes, (size_t)nnodes * sizeof(int));
    m->nnodes = nnodes;
    m->added_seq = ++s->seq;
    s->maint_dirty = true;
    s->loosened = true; /* the pass must run: jobs may now wait for it */
    return 0;
}

int sched_maintenance_remove(sched_t *s, const char *name)
{
    int i = maint_find(s, name);
    if (i == NIL) {
        errno = ENOENT;
        return -1;
    }
    free(s->maint[i].name);
    free(s->maint[i].nodes);
    s->maint[i] = s->maint[--s->nmaint];
    s->maint_dirty = true;
    s->loosened = true;
    return 0;
}

int sched_maintenance_count(const sched_t *s)
{
    return s->nmaint;
}

void maint_refresh(sched_t *s, sched_time_t now)
{
    if (!s->maint_dirty && now < s->maint_next)
        return;
    if (s->maint_any || s->maint_dirty)
        for (int i = 0; i < s->nnodes; i++)
            s->nodes[i].maint_from = SCHED_NEVER;
    s->maint_next = SCHED_NEVER;
    s->maint_any = false;
    for (int w = 0; w < s->nmaint; w++) {
        const struct maint *m = &s->maint[w];
        if (m->end <= now)
            continue; /* over: it constrains nothing */
        if (m->end < s->maint_next)
            s->maint_next = m->end;
        for (int k = 0; k < m->nnodes; k++) {
            node_t *n = &s->nodes[m->nodes[k]];
            if (m->start < n->maint_from)
                n->maint_from = m->start;
        }
        s->maint_any = true;
    }
    s->maint_dirty = false;
}

bool drained_could_hold(const sched_t *s, const job_t *j, uint64_t types)
{
    int g = job_per_node_gpus_whole(j);
    for (int i = 0; i < s->nunsched; i++) {
        const node_t *n = &s->nodes[s->unsched[i]];
        if (n->up && (types >> n->type & 1) && n->ngpus >= g && node_has_features(n, j) &&
            (!j->cpus || !n->cpus || n->cpus >= j->cpus) && (!j->mem || !n->mem || n->mem >= j->mem) &&
            node_maint_allows(s, n, j))
            return true;
    }
    return false;
}

void maint_free(sched_t *s)
{
    free(s->unsched);
    for (int i = 0; i < s->nmaint; i++) {
        free(s->maint[i].name);
        free(s->maint[i].nodes);
    }
    free(s->maint);
}
