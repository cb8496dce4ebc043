/* sched.c: the scheduler's model: GPU types, classes, teams, nodes, jobs, and their accounting.
 * The scheduling pass itself is in cycle.c; placement, backfill, preemption in their files. */
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
    };
}

sched_t *sched_new(const sched_params_t *params)
{
    sched_t *s = xcalloc(1, sizeof(*s));
    s->p = params ? *params : sched_params_default();
    for (int t = 0; t < SCHED_MAX_GPU_TYPES; t++) {
        s->partial_head[t] = NIL;
        for (int k = 0; k <= SCHED_MAX_GPUS_PER_NODE; k++)
            s->bucket[t][k] = NIL;
    }
    s->id_cap = 1024;
    s->id_table = xmalloc(s->id_cap * sizeof(int));
    memset(s->id_table, 0xff, s->id_cap * sizeof(int));
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
        free(s->teams[i].queue);
    }
    for (int i = 0; i < s->nnodes; i++)
        free(s->nodes[i].name);
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
    free(s->run_heap);
    free(s->scratch);
    free(s->releases);
    free(s);
}

const sched_params_t *sched_params(const sched_t *s)
{
    return &s->p;
}

void sched_set_params(sched_t *s, const sched_params_t *params)
{
    s->p = *params;
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
    s->classes[s->nclasses] = (pclass_t){xstrdup(name), value, preemptible};
    return s->nclasses++;
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
        t->limit[i] = -1;
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
    t->quota[QIDX(gpu_type)] = quota_milli;
    t->limit[QIDX(gpu_type)] = limit_milli;
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
        if (tm->limit[0] >= 0 && tm->alloc[0] + need > tm->limit[0])
            return false;
        if (type >= 0 && tm->limit[QIDX(type)] >= 0 &&
            tm->alloc[QIDX(type)] + need > tm->limit[QIDX(type)])
            return false;
    }
    return true;
}

bool team_within_quota(const sched_t *s, int team, uint64_t types, int64_t need)
{
    if (!s->p.quotas)
        return false;
    const team_t *tm = &s->teams[team];
    if (tm->quota[0] > 0 && tm->alloc[0] + need <= tm->quota[0])
        return true;
    if (tm->typed_quota)
        for (int t = 0; t < s->ntypes; t++)
            if ((types >> t & 1) && tm->quota[QIDX(t)] > 0 &&
                tm->alloc[QIDX(t)] + need <= tm->quota[QIDX(t)])
                return true;
    return false;
}

bool team_borrowing(const sched_t *s, int team)
{
    const team_t *tm = &s->teams[team];
    if (tm->alloc[0] > tm->quota[0] && !tm->typed_quota)
        return true;
    if (tm->typed_quota) {
        int64_t q = tm->quota[0];
        for (int t = 0; t < s->ntypes; t++)
            q += tm->quota[QIDX(t)];
        return tm->alloc[0] > q;
    }
    return false;
}

/* Past usage decays with the configured half-life; a running allocation accrues into it. */
void sched_accrue_usage(sched_t *s, sched_time_t now)
{
    if (now <= s->usage_at) {
        s->usage_at = s->usage_at > now ? s->usage_at : now;
        return;
    }
    double dt = (double)(now - s->usage_at);
    s->usage_at = now;
    double h = (double)s->p.half_life_s;
    double decay = h > 0 ? exp2(-dt / h) : 0;
    double gain = h > 0 ? (1 - decay) * h / M_LN2 : 0;
    for (int i = 0; i < s->nteams; i++) {
        team_t *t = &s->teams[i];
        t->usage = t->usage * decay + (double)t->alloc[0] / SCHED_MILLI * gain;
    }
}

/* ---- Nodes ---- */

/* Name lookups by open addressing (node names, topology paths): adding 100,000 nodes must
 * not cost a scan per node. Slots hold an index into names, or -1. */
static size_t name_hash(const char *k)
{
    size_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

static int name_lookup(const int *map, size_t cap, char *const *names, size_t stride,
                       const char *key)
{
    if (!cap)
        return NIL;
    for (size_t h = name_hash(key) & (cap - 1);; h = (h + 1) & (cap - 1)) {
        int i = map[h];
        if (i == NIL)
            return NIL;
        if (!strcmp(*(char *const *)((const char *)names + (size_t)i * stride), key))
            return i;
    }
}

static void name_insert(int **map, size_t *cap, char *const *names, size_t stride, int count,
                        int idx)
{
    if ((size_t)(count + 1) * 2 > *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        while ((size_t)(count + 1) * 2 > ncap)
            ncap *= 2;
        free(*map);
        *map = xmalloc(ncap * sizeof(int));
        memset(*map, 0xff, ncap * sizeof(int));
        *cap = ncap;
        for (int i = 0; i < count; i++)
            if (i != idx)
                name_insert(map, cap, names, stride, count, i);
    }
    const char *key = *(char *const *)((const char *)names + (size_t)idx * stride);
    size_t h = name_hash(key) & (*cap - 1);
    while ((*map)[h] != NIL)
        h = (h + 1) & (*cap - 1);
    (*map)[h] = idx;
}

static int topo_intern(sched_t *s, const char *path)
{
    int i = name_lookup(s->topo_map, s->topo_map_cap, s->topo_names, sizeof(char *), path);
    if (i != NIL)
        return i;
    GT_GROW(s->topo_names, s->captopo, (size_t)s->ntopo + 1);
    s->topo_names[s->ntopo] = xstrdup(path);
    name_insert(&s->topo_map, &s->topo_map_cap, s->topo_names, sizeof(char *), s->ntopo,
                s->ntopo);
    return s->ntopo++;
}

int sched_node_add(sched_t *s, const sched_node_spec_t *spec, gt_error_t *err)
{
    if (!spec->name || !*spec->name || spec->gpus < 0 || spec->gpus > SCHED_MAX_GPUS_PER_NODE ||
        spec->cpus_milli < 0 || spec->memory_mib < 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "node '%s': needs a name, 0..%d GPUs, and no negative CPUs or memory",
                            spec->name ? spec->name : "", SCHED_MAX_GPUS_PER_NODE);
    }
    if (sched_node_find(s, spec->name) >= 0) {
        errno = EEXIST;
        return gt_error_set(err, "conflict", "node '%s' is defined twice", spec->name);
    }
    int type = sched_gpu_type(s, spec->gpu_type && *spec->gpu_type ? spec->gpu_type : "none");
    if (type < 0)
        return gt_error_set(err, "invalid_argument", "more than %d GPU types",
                            SCHED_MAX_GPU_TYPES);
    GT_GROW(s->nodes, s->capnodes, (size_t)s->nnodes + 1);
    int ni = s->nnodes++;
    node_t *n = &s->nodes[ni];
    memset(n, 0, sizeof(*n));
    n->name = xstrdup(spec->name);
    n->type = type;
    n->ngpus = spec->gpus;
    int groups = spec->nvlink_groups > 1 ? spec->nvlink_groups : 1;
    for (int g = 0; g < n->ngpus; g++) {
        n->gpu_free[g] = SCHED_MILLI;
        n->nvgroup[g] = (uint8_t)(g * groups / (n->ngpus ? n->ngpus : 1));
    }
    n->free_whole = n->ngpus;
    n->cpus = n->cpus_free = spec->cpus_milli;
    n->mem = n->mem_free = spec->memory_mib;
    char path[512];
    const char *b = spec->block ? spec->block : "", *sp = spec->spine ? spec->spine : "",
               *l = spec->leaf ? spec->leaf : "";
    snprintf(path, sizeof(path), "%s", b);
    n->block = topo_intern(s, path);
    snprintf(path, sizeof(path), "%s/%s", b, sp);
    n->spine = topo_intern(s, path);
    snprintf(path, sizeof(path), "%s/%s/%s", b, sp, l);
    n->leaf = topo_intern(s, path);
    n->up = true;
    n->bprev = n->bnext = n->pprev = n->pnext = NIL;
    if (n->ngpus > s->type_max_gpus[type])
        s->type_max_gpus[type] = n->ngpus;
    s->type_nodes[type]++;
    if (n->ngpus > s->max_gpus)
        s->max_gpus = n->ngpus;
    if (n->cpus > s->type_max_cpus[type])
        s->type_max_cpus[type] = n->cpus;
    if (n->mem > s->type_max_mem[type])
        s->type_max_mem[type] = n->mem;
    node_index_insert(s, ni);
    name_insert(&s->node_names, &s->node_names_cap, &s->nodes[0].name, sizeof(node_t), ni, ni);
    s->loosened = true;
    return ni;
}

int sched_node_find(const sched_t *s, const char *name)
{
    if (!s->nnodes) {
        errno = ENOENT;
        return -1;
    }
    int i = name_lookup(s->node_names, s->node_names_cap, &s->nodes[0].name, sizeof(node_t),
                        name);
    if (i == NIL)
        errno = ENOENT;
    return i;
}

int sched_node_count(const sched_t *s)
{
    return s->nnodes;
}

int sched_node_set_up(sched_t *s, int ni, bool up)
{
    if (ni < 0 || ni >= s->nnodes) {
        errno = ENOENT;
        return -1;
    }
    node_t *n = &s->nodes[ni];
    if (n->up == up)
        return 0;
    if (!up)
        node_index_remove(s, ni);
    n->up = up;
    if (up)
        node_index_insert(s, ni);
    s->loosened = true;
    return 0;
}

int sched_node_info(const sched_t *s, int ni, sched_node_info_t *out)
{
    if (ni < 0 || ni >= s->nnodes) {
        errno = ENOENT;
        return -1;
    }
    const node_t *n = &s->nodes[ni];
    int64_t used = 0;
    for (int g = 0; g < n->ngpus; g++)
        used += SCHED_MILLI - n->gpu_free[g];
    *out = (sched_node_info_t){
        .name = n->name, .gpu_type = s->type_names[n->type], .gpus = n->ngpus,
        .gpus_free = n->free_whole, .gpu_milli_used = used, .cpus_milli = n->cpus,
        .cpus_milli_free = n->cpus_free, .memory_mib = n->mem, .memory_mib_free = n->mem_free,
        .up = n->up, .jobs = n->njobs,
    };
    return 0;
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
    int64_t a = 0;
    for (int i = 0; i < s->nteams; i++)
        if (s->teams[i].parent == NIL)
            a += s->teams[i].alloc[0];
    return a;
}

/* ---- Job table: id -> index by open addressing ---- */

static size_t id_hash(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

int sched_job_index(const sched_t *s, uint64_t id)
{
    for (size_t h = id_hash(id, s->id_cap);; h = (h + 1) & (s->id_cap - 1)) {
        int ji = s->id_table[h];
        if (ji == NIL)
            return NIL;
        if (ji >= 0 && s->jobs[ji].id == id && s->jobs[ji].live)
            return ji;
    }
}

job_t *sched_job_by_id(const sched_t *s, uint64_t id)
{
    int ji = sched_job_index(s, id);
    return ji == NIL ? NULL : &s->jobs[ji];
}

#define TOMB (-2)

static void id_insert(sched_t *s, uint64_t id, int ji);

static void id_rehash(sched_t *s, size_t cap)
{
    int *old = s->id_table;
    size_t oldcap = s->id_cap;
    s->id_table = xmalloc(cap * sizeof(int));
    memset(s->id_table, 0xff, cap * sizeof(int));
    s->id_cap = cap;
    s->id_used = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i] >= 0)
            id_insert(s, s->jobs[old[i]].id, old[i]);
    free(old);
}

static void id_insert(sched_t *s, uint64_t id, int ji)
{
    if ((s->id_used + 1) * 2 > s->id_cap)
        id_rehash(s, s->id_cap * 2);
    size_t h = id_hash(id, s->id_cap);
    while (s->id_table[h] >= 0)
        h = (h + 1) & (s->id_cap - 1);
    if (s->id_table[h] == NIL)
        s->id_used++;
    s->id_table[h] = ji;
}

static void id_delete(sched_t *s, uint64_t id, int ji)
{
    for (size_t h = id_hash(id, s->id_cap);; h = (h + 1) & (s->id_cap - 1)) {
        if (s->id_table[h] == NIL)
            return;
        if (s->id_table[h] == ji) {
            s->id_table[h] = TOMB;
            return;
        }
    }
}

/* ---- Jobs ---- */

sched_time_t job_plan_duration(const job_t *j)
{
    if (j->estimate > 0)
        return j->estimate;
    if (j->time_limit > 0)
        return j->time_limit;
    return 0;
}

static uint64_t all_types(const sched_t *s)
{
    return s->ntypes >= 64 ? ~0ULL : ((1ULL << s->ntypes) - 1);
}

/* Gang size: as asked, or one node when the GPUs fit on the largest acceptable node, or the
 * fewest nodes of that size that hold the GPUs evenly. Returns 0 when nothing could hold it. */
int job_resolve_nodes(const sched_t *s, job_t *j)
{
    if (j->nodes_asked > 0)
        return j->nodes = j->nodes_asked;
    int maxg = 0;
    for (int t = 0; t < s->ntypes; t++)
        if ((j->types >> t & 1) && s->type_max_gpus[t] > maxg)
            maxg = s->type_max_gpus[t];
    int64_t whole = j->gpus / SCHED_MILLI;
    if (j->gpus < SCHED_MILLI || whole <= maxg || maxg == 0)
        return j->nodes = 1;
    for (int64_t n = (whole + maxg - 1) / maxg; n <= whole; n++)
        if (whole % n == 0 && whole / n <= maxg)
            return j->nodes = (int)n;
    return j->nodes = 1;
}

static void team_queue_insert(team_t *t, const sched_t *s, int ji)
{
    const job_t *j = &s->jobs[ji];
    GT_GROW(t->queue, t->capqueue, t->nqueue + 1);
    size_t pos = t->nqueue;
    while (pos > 0) {
        const qentry_t *o = &t->queue[pos - 1];
        if (o->submit < j->submit || (o->submit == j->submit && o->id < j->id))
            break;
        pos--;
    }
    memmove(&t->queue[pos + 1], &t->queue[pos], (t->nqueue - pos) * sizeof(*t->queue));
    int64_t per = j->nodes_asked > 0 ? j->gpus / j->nodes_asked : j->gpus;
    int need = j->gpus < SCHED_MILLI ? 0
               : per / SCHED_MILLI > SCHED_MAX_GPUS_PER_NODE ? SCHED_MAX_GPUS_PER_NODE
                                                            : (int)(per / SCHED_MILLI);
    t->queue[pos] = (qentry_t){ji, j->cls, j->nodes_asked, need, j->gpus, j->submit, j->id};
    t->nqueue++;
    t->class_pending[j->cls]++;
    t->need_hist[j->cls][need]++;
}

static void team_queue_remove(team_t *t, int ji)
{
    for (size_t i = t->nqueue; i-- > 0;)
        if (t->queue[i].job == ji) {
            t->class_pending[t->queue[i].cls]--;
            t->need_hist[t->queue[i].cls][t->queue[i].need]--;
            memmove(&t->queue[i], &t->queue[i + 1], (t->nqueue - i - 1) * sizeof(*t->queue));
            t->nqueue--;
            return;
        }
}

void sched_compact_queues(sched_t *s)
{
    for (int ti = 0; ti < s->nteams; ti++) {
        team_t *t = &s->teams[ti];
        if (!t->stale_queue)
            continue;
        size_t k = 0;
        for (size_t i = 0; i < t->nqueue; i++) {
            const qentry_t *e = &t->queue[i];
            const job_t *j = &s->jobs[e->job];
            if (j->live && j->id == e->id && j->state == SCHED_PENDING)
                t->queue[k++] = *e;
            else {
                t->class_pending[e->cls]--;
                t->need_hist[e->cls][e->need]--;
            }
        }
        t->nqueue = k;
        t->stale_queue = false;
    }
}

static void job_make_pending(sched_t *s, int ji)
{
    job_t *j = &s->jobs[ji];
    j->state = SCHED_PENDING;
    j->reason = SCHED_REASON_NONE;
    j->est_start = SCHED_NEVER;
    j->nslots = 0;
    team_queue_insert(&s->teams[j->team], s, ji);
    s->teams[j->team].pending++;
    s->npending++;
}

static int validate_spec(const sched_t *s, const sched_job_spec_t *sp, gt_error_t *err)
{
    errno = EINVAL;
    if (sp->team < 0 || sp->team >= s->nteams)
        return gt_error_set(err, "invalid_argument", "job %llu: unknown team",
                            (unsigned long long)sp->id);
    if (sp->prio_class < 0 || sp->prio_class >= s->nclasses)
        return gt_error_set(err, "invalid_argument", "job %llu: unknown priority class",
                            (unsigned long long)sp->id);
    if (sp->gpus_milli <= 0 || (sp->gpus_milli > SCHED_MILLI && sp->gpus_milli % SCHED_MILLI))
        return gt_error_set(err, "invalid_argument",
                            "job %llu: gpus must be a whole number or a fraction of one GPU",
                            (unsigned long long)sp->id);
    if (sp->gpus_milli > (int64_t)SCHED_MILLI * 1000000)
        return gt_error_set(err, "invalid_argument", "job %llu: too many GPUs",
                            (unsigned long long)sp->id);
    if (sp->nodes < 0 || sp->nodes > 100000 ||
        (sp->nodes > 1 && (sp->gpus_milli < SCHED_MILLI ||
                           (sp->gpus_milli / SCHED_MILLI) % sp->nodes != 0)))
        return gt_error_set(err, "invalid_argument",
                            "job %llu: %d nodes must each get the same whole number of GPUs",
                            (unsigned long long)sp->id, sp->nodes);
    if (sp->nodes > 0 && sp->gpus_milli / SCHED_MILLI / (sp->nodes ? sp->nodes : 1) >
                             SCHED_MAX_GPUS_PER_NODE)
        return gt_error_set(err, "invalid_argument", "job %llu: more than %d GPUs per node",
                            (unsigned long long)sp->id, SCHED_MAX_GPUS_PER_NODE);
    if (sp->cpus_milli < 0 || sp->memory_mib < 0 || sp->time_limit < 0 || sp->estimate < 0)
        return gt_error_set(err, "invalid_argument",
                            "job %llu: CPUs, memory and times can't be negative",
                            (unsigned long long)sp->id);
    if (sp->gpu_types && (sp->gpu_types & ~all_types(s)))
        return gt_error_set(err, "invalid_argument", "job %llu: unknown GPU type",
                            (unsigned long long)sp->id);
    if (sched_job_index(s, sp->id) != NIL) {
        errno = EEXIST;
        return gt_error_set(err, "conflict", "job %llu already exists",
                            (unsigned long long)sp->id);
    }
    return 0;
}

static int job_alloc(sched_t *s, const sched_job_spec_t *sp)
{
    int ji;
    if (s->nfree_jobs)
        ji = s->free_jobs[--s->nfree_jobs];
    else {
        GT_GROW(s->jobs, s->capjobs, (size_t)s->njobs + 1);
        ji = s->njobs++;
        memset(&s->jobs[ji], 0, sizeof(s->jobs[ji]));
    }
    job_t *j = &s->jobs[ji];
    sched_slot_t *slots = j->slots;
    size_t capslots = j->capslots;
    int *targets = j->targets;
    size_t captargets = j->captargets;
    memset(j, 0, sizeof(*j));
    j->slots = slots;
    j->capslots = capslots;
    j->targets = targets;
    j->captargets = captargets;
    j->id = sp->id;
    j->live = true;
    j->team = sp->team;
    j->cls = sp->prio_class;
    j->gpus = sp->gpus_milli;
    j->nodes_asked = sp->nodes;
    j->types = sp->gpu_types ? sp->gpu_types : ~0ULL;
    j->cpus = sp->cpus_milli;
    j->mem = sp->memory_mib;
    j->submit = sp->submit;
    j->time_limit = sp->time_limit;
    j->estimate = sp->estimate;
    j->preemptible = s->classes[sp->prio_class].preemptible && !sp->no_preempt;
    j->checkpointable = sp->checkpointable;
    j->run_pos = NIL;
    j->alloc_type = NIL;
    j->est_start = SCHED_NEVER;
    id_insert(s, sp->id, ji);
    return ji;
}

int sched_job_submit(sched_t *s, const sched_job_spec_t *spec, gt_error_t *err)
{
    s->changed = true;
    if (validate_spec(s, spec, err) < 0)
        return -1;
    int ji = job_alloc(s, spec);
    job_make_pending(s, ji);
    GT_GROW(s->arrivals, s->caparrivals, s->narrivals + 1);
    s->arrivals[s->narrivals++] = ji;
    return 0;
}

static void slot_charge(sched_t *s, job_t *j, int sign)
{
    int64_t milli = 0;
    for (int k = 0; k < j->nslots; k++) {
        const sched_slot_t *sl = &j->slots[k];
        milli += (int64_t)__builtin_popcountll(sl->gpu_mask) * sl->gpu_milli;
    }
    for (int t = j->team; t != NIL; t = s->teams[t].parent) {
        s->teams[t].alloc[0] += sign * milli;
        if (j->alloc_type >= 0)
            s->teams[t].alloc[QIDX(j->alloc_type)] += sign * milli;
    }
}

/* Commits j's chosen slots: nodes, team allocation, running list. */
void job_start(sched_t *s, int ji, sched_time_t now)
{
    job_t *j = &s->jobs[ji];
    team_t *t = &s->teams[j->team];
    if (s->in_pass)
        t->stale_queue = true; /* the pass is walking the queue: it leaves afterwards */
    else
        team_queue_remove(t, ji);
    t->pending--;
    s->npending--;
    j->alloc_type = s->nodes[j->slots[0].node].type;
    j->borrowing = s->p.quotas && !team_within_quota(s, j->team, 1ULL << j->alloc_type, j->gpus);
    for (int k = 0; k < j->nslots; k++)
        node_take(s, j->slots[k].node, &j->slots[k], j->cpus, j->mem);
    slot_charge(s, j, +1);
    j->state = SCHED_RUNNING;
    job_set_targets(s, ji, NULL, 0);
    j->start = now;
    j->last_ckpt = now;
    j->reason = SCHED_REASON_NONE;
    j->est_start = SCHED_NEVER;
    t->running++;
    GT_GROW(s->running, s->caprunning, (size_t)s->nrunning + 1);
    j->run_pos = s->nrunning;
    s->running[s->nrunning++] = ji;
    release_track(s, ji);
    s->stats.starts++;
}

/* Frees what a running or preempting job holds. */
void job_release(sched_t *s, int ji, sched_time_t now)
{
    job_t *j = &s->jobs[ji];
    sched_accrue_usage(s, now);
    for (int k = 0; k < j->nslots; k++)
        node_give(s, j->slots[k].node, &j->slots[k], j->cpus, j->mem);
    slot_charge(s, j, -1);
    release_untrack(s, ji);
    s->loosened = true;
    int last = s->running[--s->nrunning];
    s->running[j->run_pos] = last;
    s->jobs[last].run_pos = j->run_pos;
    j->run_pos = NIL;
    s->teams[j->team].running--;
    j->nslots = 0;
    if (j->preempt_for) {
        job_t *p = sched_job_by_id(s, j->preempt_for);
        if (p && p->victims_pending > 0)
            p->victims_pending--;
        j->preempt_for = 0;
    }
}

void job_set_targets(sched_t *s, int ji, const int *nodes, int n)
{
    job_t *j = &s->jobs[ji];
    if (j->ntargets > 0 && n == 0) {
        for (int i = 0; i < s->nnominated; i++)
            if (s->nominated[i] == ji) {
                s->nominated[i] = s->nominated[--s->nnominated];
                break;
            }
    } else if (j->ntargets == 0 && n > 0) {
        GT_GROW(s->nominated, s->capnominated, (size_t)s->nnominated + 1);
        s->nominated[s->nnominated++] = ji;
    }
    GT_GROW(j->targets, j->captargets, (size_t)n);
    for (int i = 0; i < n; i++)
        j->targets[i] = nodes[i];
    j->ntargets = n;
}

static void job_forget(sched_t *s, int ji)
{
    job_t *j = &s->jobs[ji];
    job_set_targets(s, ji, NULL, 0);
    id_delete(s, j->id, ji);
    j->live = false;
    GT_GROW(s->free_jobs, s->capfree_jobs, (size_t)s->nfree_jobs + 1);
    s->free_jobs[s->nfree_jobs++] = ji;
}

int sched_job_remove(sched_t *s, uint64_t id, sched_time_t now)
{
    s->changed = true;
    int ji = sched_job_index(s, id);
    if (ji == NIL) {
        errno = ENOENT;
        return -1;
    }
    job_t *j = &s->jobs[ji];
    if (j->state == SCHED_PENDING) {
        team_queue_remove(&s->teams[j->team], ji);
        s->teams[j->team].pending--;
        s->npending--;
    } else {
        job_release(s, ji, now);
    }
    job_forget(s, ji);
    return 0;
}

int sched_job_finished(sched_t *s, uint64_t id, sched_time_t now)
{
    s->changed = true;
    int ji = sched_job_index(s, id);
    if (ji == NIL || s->jobs[ji].state == SCHED_PENDING) {
        errno = ji == NIL ? ENOENT : EINVAL;
        return -1;
    }
    job_release(s, ji, now);
    job_forget(s, ji);
    return 0;
}

int sched_job_stopped(sched_t *s, uint64_t id, sched_time_t now)
{
    s->changed = true;
    int ji = sched_job_index(s, id);
    if (ji == NIL || s->jobs[ji].state == SCHED_PENDING) {
        errno = ji == NIL ? ENOENT : EINVAL;
        return -1;
    }
    job_release(s, ji, now);
    job_make_pending(s, ji);
    GT_GROW(s->arrivals, s->caparrivals, s->narrivals + 1);
    s->arrivals[s->narrivals++] = ji;
    return 0;
}

int sched_job_checkpointed(sched_t *s, uint64_t id, sched_time_t t)
{
    job_t *j = sched_job_by_id(s, id);
    if (!j) {
        errno = ENOENT;
        return -1;
    }
    if (t > j->last_ckpt)
        j->last_ckpt = t;
    return 0;
}

int sched_job_restore_running(sched_t *s, const sched_job_spec_t *spec, sched_time_t start,
                              const sched_slot_t *slots, int nslots, gt_error_t *err)
{
    if (validate_spec(s, spec, err) < 0)
        return -1;
    if (nslots <= 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "a running job needs slots");
    }
    for (int k = 0; k < nslots; k++) {
        const sched_slot_t *sl = &slots[k];
        if (sl->node < 0 || sl->node >= s->nnodes || sl->gpu_milli <= 0 ||
            sl->gpu_milli > SCHED_MILLI) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "job %llu: bad slot",
                                (unsigned long long)spec->id);
        }
        const node_t *n = &s->nodes[sl->node];
        for (int g = 0; g < SCHED_MAX_GPUS_PER_NODE; g++)
            if ((sl->gpu_mask >> g & 1) && (g >= n->ngpus || n->gpu_free[g] < sl->gpu_milli)) {
                errno = EINVAL;
                return gt_error_set(err, "conflict", "job %llu: GPU %d of node %s is taken",
                                    (unsigned long long)spec->id, g, n->name);
            }
    }
    int ji = job_alloc(s, spec);
    job_t *j = &s->jobs[ji];
    job_resolve_nodes(s, j);
    GT_GROW(j->slots, j->capslots, (size_t)nslots);
    memcpy(j->slots, slots, (size_t)nslots * sizeof(*slots));
    j->nslots = nslots;
    j->nodes = nslots;
    /* job_start expects a queued job */
    team_queue_insert(&s->teams[j->team], s, ji);
    s->teams[j->team].pending++;
    s->npending++;
    job_start(s, ji, start);
    s->stats.starts--;
    return 0;
}

int sched_job_info(const sched_t *s, uint64_t id, sched_job_info_t *out)
{
    const job_t *j = sched_job_by_id(s, id);
    if (!j) {
        errno = ENOENT;
        return -1;
    }
    sched_reason_t reason = j->reason;
    sched_time_t est = j->est_start;
    if (j->state == SCHED_PENDING && j->eval_cycle != s->stats.cycles && s->stats.cycles) {
        /* passed over by the last pass: behind the job that blocks all (no backfill), over
         * its team's limit, or nothing could fit */
        if (s->fifo_blocker && s->fifo_blocker != j->id)
            reason = SCHED_REASON_PRIORITY;
        else if (!team_limit_allows(s, j->team, -1, j->gpus))
            reason = SCHED_REASON_QUOTA;
        else if (reason == SCHED_REASON_NONE || reason == SCHED_REASON_QUOTA)
            reason = SCHED_REASON_CAPACITY;
        est = SCHED_NEVER;
    }
    *out = (sched_job_info_t){
        .state = j->state, .reason = reason, .estimated_start = est,
        .start = j->start, .nodes = j->nodes ? j->nodes : j->nodes_asked,
        .borrowing = j->borrowing,
        .blocked_by = reason == SCHED_REASON_PRIORITY && s->fifo_blocker && j->eval_cycle != s->stats.cycles
                          ? s->fifo_blocker : j->blocked_by,
        .nslots = j->state == SCHED_PENDING ? 0 : j->nslots, .slots = j->slots,
    };
    return 0;
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
    *out = (sched_team_info_t){
        .name = t->name, .parent = t->parent, .weight = t->weight, .quota_milli = t->quota[0],
        .limit_milli = t->limit[0], .allocated_milli = t->alloc[0], .usage_gpu_s = t->usage,
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
};

const char *sched_reason_name(sched_reason_t r)
{
    return r <= SCHED_REASON_BACKOFF ? reasons[r].name : "unknown";
}

const char *sched_reason_text(sched_reason_t r)
{
    return r <= SCHED_REASON_BACKOFF ? reasons[r].text : "unknown";
}
