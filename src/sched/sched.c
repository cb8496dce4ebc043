/* sched.c: the scheduler's lifecycle and policy knobs, GPU types, priority classes, teams
 * (quotas, limits, weights, decayed usage) and the reasons a job waits. Nodes are in
 * cluster.c, jobs in jobs.c, the pass in cycle.c; placement, backfill, preemption in theirs. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

sched_params_t sched_params_default(void)
{
    return (sched_params_t){
        .fairshare = true,
        .half_life_s = 7 * 86400,
        .quotas = true,
        .backfill = true,
        .reservations = 8,
        .preemption = true,
        .grace_s = 120,
        .min_runtime_s = 600,
        .order = SCHED_ORDER_SRTF,
        .placement = SCHED_PLACE_BESTFIT,
        .las_queues = {3600, 36000},
        .las_nqueues = 2,
        .las_starvation_s = 86400,
        .srtf_aging = 0.005,
        .srtf_unknown_s = 86400,
        .reclaim_min_runtime_s = -1,
    };
}

sched_t *sched_new(const sched_params_t *params)
{
    sched_t *s = xcalloc(1, sizeof(*s));
    s->p = params ? *params : sched_params_default();
    s->place_policy = policy_of_placement(s->p.placement);
    for (int t = 0; t < SCHED_MAX_GPU_TYPES; t++) {
        s->partial_head[t] = NIL;
        for (int k = 0; k <= SCHED_MAX_GPUS_PER_NODE; k++)
            s->bucket[t][k] = NIL;
    }
    s->id_cap = 1024;
    s->id_table = xmalloc(s->id_cap * sizeof(int));
    memset(s->id_table, 0xff, s->id_cap * sizeof(int));
    s->maint_next = SCHED_NEVER;
    s->next_victim_at = s->next_backoff_at = SCHED_NEVER;
    return s;
}

void sched_free(sched_t *s)
{
    if (!s)
        return;
    for (int t = 0; t < s->ntypes; t++)
        free(s->type_names[t]);
    for (int i = 0; i < s->nclasses; i++)
        free(s->classes[i].name);
    for (int i = 0; i < s->nteams; i++) {
        free(s->teams[i].name);
        free(s->teams[i].queue_room.buf);
        free(s->teams[i].qsum);
        free(s->teams[i].qmin_need);
        free(s->teams[i].stale);
        free(s->teams[i].victims);
    }
    for (int i = 0; i < s->nnodes; i++) {
        free(s->nodes[i].name);
        free(s->nodes[i].vict);
    }
    maint_free(s);
    for (int i = 0; i < s->ntopo; i++)
        free(s->topo_names[i]);
    for (int i = 0; i < s->njobs; i++) {
        free(s->jobs[i].slots);
        free(s->jobs[i].targets);
    }
    free(s->classes);
    free(s->teams);
    free(s->nodes);
    free(s->topo_names);
    free(s->topo_map);
    free(s->node_names);
    free(s->jobs);
    free(s->free_jobs);
    free(s->id_table);
    free(s->running);
    free(s->dec);
    free(s->arrivals);
    free(s->nominated);
    free(s->runs);
    free(s->shadow);
    free(s->shadow_runs);
    free(s->rest_runs);
    free(s->resv_nodes);
    free(s->run_keys);
    free(s->run_tree);
    free(s->scratch);
    free(s->pscratch.ent);
    free(s->pscratch.touched);
    free(s->reach.room);
    free(s->reach.resv);
    free(s->room_reclaim);
    free(s->room_move);
    free(s->release_room.buf);
    for (int g = 0; g <= SCHED_MAX_GPUS_PER_NODE; g++)
        free(s->proj.cross[g]);
    free(s->proj_gpus);
    free(s->proj_stamp);
    fgd_free(s);
    free(s);
}

const sched_params_t *sched_params(const sched_t *s)
{
    return &s->p;
}

/* Whether the job keys of b differ from a's (policy.h: keys are fixed while jobs wait). */
static bool order_changed(const sched_params_t *a, const sched_params_t *b)
{
    if (a->order != b->order || a->las_nqueues != b->las_nqueues ||
        a->las_starvation_s != b->las_starvation_s || a->srtf_aging != b->srtf_aging ||
        a->srtf_unknown_s != b->srtf_unknown_s)
        return true;
    for (int k = 0; k < a->las_nqueues && k < SCHED_LAS_MAX_QUEUES; k++)
        if (a->las_queues[k] != b->las_queues[k])
            return true;
    return false;
}

void sched_set_params(sched_t *s, const sched_params_t *params)
{
    bool rekey = order_changed(&s->p, params);
    sched_accrue_usage(s, s->now); /* under the half-life it accrued with */
    s->p = *params;
    for (int t = 0; t < s->nteams; t++)
        s->teams[t].vsum.valid = false; /* (the minimum runtimes may have changed) */
    s->place_policy = policy_of_placement(s->p.placement);
    if (rekey)
        policy_rekey(s);
    s->loosened = true;
}

/* ---- GPU types and classes ---- */

int sched_gpu_type_find(const sched_t *s, const char *name)
{
    for (int t = 0; t < s->ntypes; t++)
        if (!strcmp(s->type_names[t], name))
            return t;
    errno = ENOENT;
    return -1;
}

int sched_gpu_type(sched_t *s, const char *name)
{
    int t = sched_gpu_type_find(s, name);
    if (t >= 0)
        return t;
    if (s->ntypes == SCHED_MAX_GPU_TYPES) {
        errno = ENOSPC;
        return -1;
    }
    s->type_names[s->ntypes] = xstrdup(name);
    return s->ntypes++;
}

const char *sched_gpu_type_name(const sched_t *s, int type)
{
    return type >= 0 && type < s->ntypes ? s->type_names[type] : NULL;
}

int sched_gpu_type_count(const sched_t *s)
{
    return s->ntypes;
}

int sched_class_add(sched_t *s, const char *name, int value, bool preemptible, gt_error_t *err)
{
    if (!name || !*name) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "a priority class needs a name");
    }
    if (sched_class_find(s, name) >= 0) {
        errno = EEXIST;
        return gt_error_set(err, "conflict", "priority class '%s' is defined twice", name);
    }
    if (s->nclasses == SCHED_MAX_CLASSES) {
        errno = ENOSPC;
        return gt_error_set(err, "invalid_argument", "at most %d priority classes",
                            SCHED_MAX_CLASSES);
    }
    GT_GROW(s->classes, s->capclasses, (size_t)s->nclasses + 1);
    s->classes[s->nclasses] = (pclass_t){xstrdup(name), value, preemptible, -1};
    return s->nclasses++;
}

int sched_class_set_order(sched_t *s, int cls, int order)
{
    if (cls < 0 || cls >= s->nclasses) {
        errno = ENOENT;
        return -1;
    }
    if (order != -1 && !sched_order_name(order)) {
        errno = EINVAL;
        return -1;
    }
    if (s->classes[cls].order != order) {
        s->classes[cls].order = order;
        policy_rekey(s);
        s->loosened = true;
    }
    return 0;
}

int sched_class_find(const sched_t *s, const char *name)
{
    for (int i = 0; i < s->nclasses; i++)
        if (!strcmp(s->classes[i].name, name))
            return i;
    errno = ENOENT;
    return -1;
}

int sched_class_count(const sched_t *s)
{
    return s->nclasses;
}

const char *sched_class_name(const sched_t *s, int cls)
{
    return cls >= 0 && cls < s->nclasses ? s->classes[cls].name : NULL;
}

/* ---- Teams ---- */

int sched_team_add(sched_t *s, const char *name, int parent, double weight, gt_error_t *err)
{
    if (!name || !*name) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "a team needs a name");
    }
    if (sched_team_find(s, name) >= 0) {
        errno = EEXIST;
        return gt_error_set(err, "conflict", "team '%s' is defined twice", name);
    }
    if (parent < NIL || parent >= s->nteams || !(weight > 0) || weight > 1e6) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "team '%s': weight must be a positive number (got %g)", name, weight);
    }
    GT_GROW(s->teams, s->capteams, (size_t)s->nteams + 1);
    team_t *t = &s->teams[s->nteams];
    memset(t, 0, sizeof(*t));
    t->name = xstrdup(name);
    t->parent = parent;
    t->weight = weight;
    for (int i = 0; i < NQ; i++)
        t->by_type[i].limit = -1;
    return s->nteams++;
}

int sched_team_find(const sched_t *s, const char *name)
{
    for (int i = 0; i < s->nteams; i++)
        if (!strcmp(s->teams[i].name, name))
            return i;
    errno = ENOENT;
    return -1;
}

int sched_team_count(const sched_t *s)
{
    return s->nteams;
}

const char *sched_team_name(const sched_t *s, int team)
{
    return team >= 0 && team < s->nteams ? s->teams[team].name : NULL;
}

int sched_team_parent(const sched_t *s, int team)
{
    return team >= 0 && team < s->nteams ? s->teams[team].parent : NIL;
}

int sched_team_set_quota(sched_t *s, int team, int gpu_type, int64_t quota_milli,
                         int64_t limit_milli, gt_error_t *err)
{
    if (team < 0 || team >= s->nteams || gpu_type < NIL || gpu_type >= s->ntypes) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "unknown team or GPU type");
    }
    if (quota_milli < 0 || limit_milli < -1 || (limit_milli >= 0 && quota_milli > limit_milli)) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "team '%s': quota must be >= 0 and not above the limit",
                            s->teams[team].name);
    }
    team_t *t = &s->teams[team];
    s->loosened = true;
    t->by_type[QIDX(gpu_type)].quota = quota_milli;
    t->by_type[QIDX(gpu_type)].limit = limit_milli;
    if (gpu_type >= 0)
        t->typed_quota = true;
    return 0;
}

int sched_team_set_weight(sched_t *s, int team, double weight, gt_error_t *err)
{
    if (team < 0 || team >= s->nteams) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "unknown team");
    }
    if (!(weight > 0) || weight > 1e6) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "weight must be a positive number");
    }
    s->teams[team].weight = weight;
    s->loosened = true;
    return 0;
}

bool team_limit_allows(const sched_t *s, int team, int type, int64_t need)
{
    if (!s->p.quotas)
        return true;
    for (int t = team; t != NIL; t = s->teams[t].parent) {
        const team_t *tm = &s->teams[t];
        if (tm->by_type[0].limit >= 0 && tm->by_type[0].alloc + need > tm->by_type[0].limit)
            return false;
        if (type >= 0 && tm->by_type[QIDX(type)].limit >= 0 &&
            tm->by_type[QIDX(type)].alloc + need > tm->by_type[QIDX(type)].limit)
            return false;
    }
    return true;
}

bool team_within_quota(const sched_t *s, int team, uint64_t types, int64_t need)
{
    if (!s->p.quotas)
        return false;
    const team_t *tm = &s->teams[team];
    if (tm->by_type[0].quota > 0 && tm->by_type[0].alloc + need <= tm->by_type[0].quota)
        return true;
    if (tm->typed_quota)
        for (int t = 0; t < s->ntypes; t++)
            if ((types >> t & 1) && tm->by_type[QIDX(t)].quota > 0 &&
                tm->by_type[QIDX(t)].alloc + need <= tm->by_type[QIDX(t)].quota)
                return true;
    return false;
}

bool team_over_quota(const sched_t *s, int team, int64_t held)
{
    const team_t *tm = &s->teams[team];
    int64_t q = tm->by_type[0].quota;
    for (int t = 0; tm->typed_quota && t < s->ntypes; t++)
        q += tm->by_type[QIDX(t)].quota;
    return held > q;
}

bool team_borrowing(const sched_t *s, int team)
{
    return team_over_quota(s, team, s->teams[team].by_type[0].alloc);
}

/* Past usage decays with the configured half-life; a running allocation accrues into it. */
void sched_usage_factors(const sched_t *s, sched_time_t now, double *decay, double *gain)
{
    double dt = now > s->usage_at ? (double)(now - s->usage_at) : 0;
    double h = (double)s->p.half_life_s;
    *decay = h > 0 ? exp2(-dt / h) : 0;
    *gain = h > 0 ? (1 - *decay) * h / M_LN2 : 0;
}

void sched_accrue_usage(sched_t *s, sched_time_t now)
{
    if (now <= s->usage_at) {
        s->usage_at = s->usage_at > now ? s->usage_at : now;
        return;
    }
    double decay, gain;
    sched_usage_factors(s, now, &decay, &gain);
    s->usage_at = now;
    for (int i = 0; i < s->nteams; i++) {
        team_t *t = &s->teams[i];
        t->usage = team_usage(t, decay, gain);
    }
}

int64_t sched_capacity_milli(const sched_t *s)
{
    int64_t c = 0;
    for (int i = 0; i < s->nnodes; i++)
        if (s->nodes[i].up)
            c += (int64_t)s->nodes[i].ngpus * SCHED_MILLI;
    return c;
}

int64_t sched_allocated_milli(const sched_t *s)
{
    return s->alloc_milli;
}

size_t sched_pending_count(const sched_t *s)
{
    return s->npending;
}

size_t sched_running_count(const sched_t *s)
{
    return (size_t)s->nrunning;
}

void sched_get_stats(const sched_t *s, sched_stats_t *out)
{
    *out = s->stats;
}

int sched_team_info(const sched_t *s, int team, sched_team_info_t *out)
{
    if (team < 0 || team >= s->nteams) {
        errno = ENOENT;
        return -1;
    }
    const team_t *t = &s->teams[team];
    double decay, gain;
    sched_usage_factors(s, s->now, &decay, &gain);
    double usage = team_usage(t, decay, gain);
    *out = (sched_team_info_t){
        .name = t->name, .parent = t->parent, .weight = t->weight,
        .quota_milli = t->by_type[0].quota, .limit_milli = t->by_type[0].limit,
        .allocated_milli = t->by_type[0].alloc, .usage_gpu_s = usage,
        .pending = t->pending, .running = t->running,
    };
    return 0;
}

static const struct {
    const char *name, *text;
} reasons[] = {
    [SCHED_REASON_NONE] = {"none", "not yet considered by the scheduler"},
    [SCHED_REASON_QUOTA] = {"quota", "starting it would put its team above its GPU limit"},
    [SCHED_REASON_CAPACITY] = {"capacity", "not enough free GPUs of an acceptable type"},
    [SCHED_REASON_PRIORITY] = {"priority", "a job ahead of it in the queue is waiting"},
    [SCHED_REASON_TOPOLOGY] = {"topology",
                               "enough GPUs are free in all, but spread over too many nodes"},
    [SCHED_REASON_RESERVATION] = {"reservation",
                                  "it would delay a job that holds a reservation"},
    [SCHED_REASON_PREEMPTING] = {"preempting",
                                 "lower-priority or borrowed jobs are being preempted for it"},
    [SCHED_REASON_NO_FIT] = {"no_fit", "no node in the cluster can hold it"},
    [SCHED_REASON_BACKOFF] = {"backoff",
                              "it was reclaimed recently and may borrow idle GPUs again later"},
    [SCHED_REASON_NO_RUNTIME] = {"no_runtime", "no node with a container runtime (runc or crun, "
                                               "skopeo, umoci) fits"},
    [SCHED_REASON_DRAINED] = {"drained",
                              "no room now; a node that could hold it is drained or cordoned"},
    [SCHED_REASON_MAINTENANCE] = {"maintenance",
                                  "nodes that could hold it have a maintenance window before "
                                  "its time limit would end (a job without a time limit "
                                  "never starts on them)"},
};

const char *sched_reason_name(sched_reason_t r)
{
    return r < SCHED_NREASONS ? reasons[r].name : "unknown";
}

const char *sched_reason_text(sched_reason_t r)
{
    return r < SCHED_NREASONS ? reasons[r].text : "unknown";
}
