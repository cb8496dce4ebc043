/* policy.c: the policies by configuration name (scheduler.order, scheduler.placement) and the
 * hooks' fallback to the default policy (policy.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

typedef struct policy_entry {
    const char *name;
    const sched_policy_t *policy;                  /* NULL: named, not implemented */
} policy_entry_t;

/* One line per policy: its configuration name and its ops table (policy_NAME.c). */
static const policy_entry_t orders[SCHED_NORDERS] = {
    [SCHED_ORDER_FIFO] = {"fifo", &policy_default},
    [SCHED_ORDER_LAS] = {"las", &policy_las},
    [SCHED_ORDER_SRTF] = {"srtf", &policy_srtf},
};

static const policy_entry_t placements[SCHED_NPLACEMENTS] = {
    [SCHED_PLACE_BESTFIT] = {"bestfit", &policy_default},
    [SCHED_PLACE_FGD] = {"fgd", &policy_fgd},
};

static int entry_find(const policy_entry_t *tab, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (tab[i].policy && !strcmp(tab[i].name, name))
            return i;
    errno = ENOENT;
    return -1;
}

const char *sched_order_name(int order)
{
    return order >= 0 && order < SCHED_NORDERS && orders[order].policy ? orders[order].name
                                                                        : NULL;
}

int sched_order_find(const char *name)
{
    return entry_find(orders, SCHED_NORDERS, name);
}

const char *sched_placement_name(int placement)
{
    return placement >= 0 && placement < SCHED_NPLACEMENTS && placements[placement].policy
               ? placements[placement].name
               : NULL;
}

int sched_placement_find(const char *name)
{
    return entry_find(placements, SCHED_NPLACEMENTS, name);
}

const sched_policy_t *policy_of_order(int order)
{
    return order >= 0 && order < SCHED_NORDERS && orders[order].policy ? orders[order].policy
                                                                        : &policy_default;
}

const sched_policy_t *policy_of_placement(int placement)
{
    return placement >= 0 && placement < SCHED_NPLACEMENTS && placements[placement].policy
               ? placements[placement].policy
               : &policy_default;
}

sched_key_t policy_job_key(const sched_t *s, const job_t *j)
{
    int order = s->classes[j->cls].order >= 0 ? s->classes[j->cls].order : s->p.order;
    const sched_policy_t *p = policy_of_order(order);
    return p->job_key ? p->job_key(s, j) : policy_default.job_key(s, j);
}

double policy_victim_cost(const sched_t *s, const job_t *v, sched_time_t now)
{
    const sched_policy_t *p = s->place_policy ? s->place_policy : &policy_default;
    return p->victim_cost ? p->victim_cost(s, v, now) : policy_default.victim_cost(s, v, now);
}

static int qentry_cmp(const void *a, const void *b)
{
    const qentry_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void policy_rekey(sched_t *s)
{
    for (int ti = 0; ti < s->nteams; ti++) {
        team_t *t = &s->teams[ti];
        for (size_t i = 0; i < t->nqueue; i++) {
            job_t *j = &s->jobs[t->queue[i].job];
            t->queue[i].key = j->key = policy_job_key(s, j);
        }
        if (t->nqueue > 1) /* (an empty queue may have no array: qsort wants one) */
            qsort(t->queue, t->nqueue, sizeof(*t->queue), qentry_cmp);
    }
}
