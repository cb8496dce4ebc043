/* sched_config.c: the configuration becomes a scheduler (sched_config.h). */
#include <errno.h>
#include <stdio.h>

#include "model/sched_config.h"

_Static_assert(GT_CONFIG_MAX_GPU_TYPES == SCHED_MAX_GPU_TYPES,
               "the configuration and the scheduler agree on the GPU types they hold");
_Static_assert(GT_CONFIG_MAX_GPUS_PER_NODE == SCHED_MAX_GPUS_PER_NODE,
               "the configuration and the scheduler agree on the GPUs a node holds");
_Static_assert(GT_CONFIG_MAX_LAS_QUEUES <= SCHED_LAS_MAX_QUEUES,
               "the scheduler holds every LAS threshold the configuration may give");

/* The names the scheduler knows for a kind of policy, "a, b or c", for messages. */
static void list_names(const char *(*name)(int), int n, char *buf, size_t len)
{
    size_t k = 0;
    int count = 0, seen = 0;
    for (int i = 0; i < n; i++)
        count += name(i) != NULL;
    buf[0] = '\0';
    for (int i = 0; i < n && k < len; i++) {
        if (!name(i))
            continue;
        seen++;
        k += (size_t)snprintf(buf + k, len - k, "%s%s",
                              seen == 1 ? "" : seen == count ? " or " : ", ", name(i));
    }
}

/* The value of an order key (scheduler.order or a class's), or -1 with err. */
static int find_order(const char *name, int line, const char *key, gt_error_t *err)
{
    int o = sched_order_find(name);
    if (o >= 0)
        return o;
    char names[128];
    list_names(sched_order_name, SCHED_NORDERS, names, sizeof(names));
    char where[32] = "";
    if (line > 0) /* 0: not from the file (gantry sim --order) */
        snprintf(where, sizeof(where), "line %d: ", line);
    errno = EINVAL;
    return gt_error_set(err, "invalid_config", "%s%s: unknown order '%s'; write %s", where, key,
                        name, names);
}

int model_sched_params(const gt_config_t *cfg, sched_params_t *out, gt_error_t *err)
{
    const gt_sched_cfg_t *c = &cfg->sched;
    sched_params_t p = sched_params_default();
    if (c->fairshare >= 0)
        p.fairshare = c->fairshare;
    if (c->half_life_s >= 0)
        p.half_life_s = c->half_life_s;
    if (c->quotas >= 0)
        p.quotas = c->quotas;
    if (c->backfill >= 0)
        p.backfill = c->backfill;
    if (c->reservations >= 0)
        p.reservations = c->reservations;
    if (c->preemption >= 0)
        p.preemption = c->preemption;
    if (c->grace_s >= 0)
        p.grace_s = c->grace_s;
    if (c->min_runtime_s >= 0)
        p.min_runtime_s = c->min_runtime_s;
    if (c->reclaim_min_runtime_s >= 0) {
        /* a lender's within-quota job waits for a borrower at most this plus the grace
         * period: longer would break the quota's promise (docs/scheduler.md) */
        if (c->reclaim_min_runtime_s > p.grace_s) {
            char where[32] = "";
            if (c->reclaim_min_runtime_line > 0)
                snprintf(where, sizeof(where), "line %d: ", c->reclaim_min_runtime_line);
            errno = EINVAL;
            return gt_error_set(err, "invalid_config",
                                "%sscheduler.preemption.reclaim_min_runtime (%llds) is longer "
                                "than grace_period (%llds): a team's job within its quota would "
                                "wait past the grace period for the borrowers it reclaims from; "
                                "write at most %llds (min_runtime still guards running jobs "
                                "against preemption by priority)",
                                where, (long long)c->reclaim_min_runtime_s, (long long)p.grace_s,
                                (long long)p.grace_s);
        }
        p.reclaim_min_runtime_s = c->reclaim_min_runtime_s;
    }
    if (c->las_nqueues >= 0) {
        p.las_nqueues = c->las_nqueues;
        for (int k = 0; k < c->las_nqueues; k++)
            p.las_queues[k] = c->las_queues[k];
    }
    if (c->las_starvation_s > 0)
        p.las_starvation_s = c->las_starvation_s;
    if (c->srtf_aging > 0)
        p.srtf_aging = c->srtf_aging;
    if (c->srtf_unknown_s >= 0)
        p.srtf_unknown_s = c->srtf_unknown_s;
    if (c->order && (p.order = find_order(c->order, c->order_line, "scheduler.order", err)) < 0)
        return -1;
    if (c->placement && (p.placement = sched_placement_find(c->placement)) < 0) {
        char names[128];
        list_names(sched_placement_name, SCHED_NPLACEMENTS, names, sizeof(names));
        char where[32] = "";
        if (c->placement_line > 0)
            snprintf(where, sizeof(where), "line %d: ", c->placement_line);
        errno = EINVAL;
        return gt_error_set(err, "invalid_config",
                            "%sscheduler.placement: unknown placement '%s'; write %s", where,
                            c->placement, names);
    }
    *out = p;
    return 0;
}

static int add_classes(const gt_config_t *cfg, sched_t *s, gt_error_t *err)
{
    for (size_t i = 0; i < cfg->nclasses; i++) {
        const gt_class_cfg_t *c = &cfg->classes[i];
        int ci = sched_class_add(s, c->name, c->value, c->preemptible, err);
        if (ci < 0)
            return -1;
        if (!c->order)
            continue;
        char key[96];
        snprintf(key, sizeof(key), "priority class %s: order", c->name);
        int o = find_order(c->order, c->order_line, key, err);
        if (o < 0 || sched_class_set_order(s, ci, o) < 0)
            return -1;
    }
    return 0;
}

static int add_teams(const gt_config_t *cfg, sched_t *s, gt_error_t *err)
{
    for (size_t i = 0; i < cfg->nteams; i++) {
        const gt_team_cfg_t *t = &cfg->teams[i];
        int parent = -1;
        if (t->parent && (parent = sched_team_find(s, t->parent)) < 0) {
            errno = ENOENT;
            return gt_error_set(err, "invalid_config", "team %s: its parent %s is not known",
                                t->name, t->parent);
        }
        int ti = sched_team_add(s, t->name, parent, t->weight > 0 ? t->weight : 1, err);
        if (ti < 0)
            return -1;
        for (size_t j = 0; j < t->nquotas; j++) {
            const gt_quota_cfg_t *q = &t->quotas[j];
            int type = -1;
            if (q->gpu_type && (type = sched_gpu_type(s, q->gpu_type)) < 0)
                return gt_error_set(err, "invalid_config", "team %s: GPU type %s: the "
                                    "scheduler knows at most %d GPU types", t->name,
                                    q->gpu_type, SCHED_MAX_GPU_TYPES);
            if (sched_team_set_quota(s, ti, type, q->quota_milli, q->limit_milli, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int add_nodes(const gt_config_t *cfg, sched_t *s, bool down, gt_error_t *err)
{
    for (size_t i = 0; i < cfg->nnodes; i++) {
        const gt_node_cfg_t *n = &cfg->nodes[i];
        sched_node_spec_t spec = {
            .name = n->name,
            .gpu_type = n->gpu_type,
            .gpus = n->gpus,
            .cpus_milli = n->cpus_milli,
            .memory_mib = n->memory_mib,
            .block = n->block,
            .spine = n->spine,
            .leaf = n->leaf,
            .nvlink_groups = n->nvlink_groups,
        };
        int ni = sched_node_add(s, &spec, err);
        if (ni < 0)
            return -1;
        if (down)
            sched_node_set_up(s, ni, false);
    }
    return 0;
}

sched_t *model_sched_new(const gt_config_t *cfg, bool nodes_down, gt_error_t *err)
{
    sched_params_t p;
    if (model_sched_params(cfg, &p, err) < 0)
        return NULL;
    sched_t *s = sched_new(&p);
    if (add_classes(cfg, s, err) < 0 || add_teams(cfg, s, err) < 0 ||
        add_nodes(cfg, s, nodes_down, err) < 0) {
        int e = errno;
        sched_free(s);
        errno = e;
        return NULL;
    }
    return s;
}
