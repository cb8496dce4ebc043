/* cluster.c: nodes as the driver declares them (names, GPUs, topology, up or down), found
 * by name through a hash so that a 100,000-node cluster loads in about a second. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

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

/* Raises the largest-node figures (of n's type and of all) to n's size. */
static void note_max(sched_t *s, const node_t *n)
{
    if (n->ngpus > s->type_max_gpus[n->type])
        s->type_max_gpus[n->type] = n->ngpus;
    if (n->ngpus > s->max_gpus)
        s->max_gpus = n->ngpus;
    if (n->cpus > s->type_max_cpus[n->type])
        s->type_max_cpus[n->type] = n->cpus;
    if (n->mem > s->type_max_mem[n->type])
        s->type_max_mem[n->type] = n->mem;
    for (int f = 0; f < SCHED_MAX_FEATURES; f++) {
        struct feature_stat *fs = &s->feat[n->type][f];
        if (!(n->features >> f & 1))
            continue;
        fs->nodes++;
        if (n->ngpus > fs->max_gpus)
            fs->max_gpus = n->ngpus;
        if (n->cpus > fs->max_cpus)
            fs->max_cpus = n->cpus;
        if (n->mem > fs->max_mem)
            fs->max_mem = n->mem;
    }
}

int sched_node_add(sched_t *s, const sched_node_spec_t *spec, gt_error_t *err)
{
    if (!spec->name || !*spec->name || spec->gpus < 0 || spec->gpus > SCHED_MAX_GPUS_PER_NODE ||
        spec->cpus_milli < 0 || spec->memory_mib < 0 ||
        (spec->features >> SCHED_MAX_FEATURES) != 0) {
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
    n->features = spec->features;
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
    n->schedulable = true;
    n->maint_from = SCHED_NEVER;
    n->bprev = n->bnext = n->pprev = n->pnext = NIL;
    s->type_nodes[type]++;
    note_max(s, n);
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
    if (n->in_bucket)
        node_index_remove(s, ni);
    n->up = up;
    if (up && n->schedulable)
        node_index_insert(s, ni);
    s->loosened = true;
    return 0;
}

/* The largest node of each type (and of all), after a node changed size. */
static void recompute_max(sched_t *s)
{
    s->max_gpus = 0;
    for (int t = 0; t < SCHED_MAX_GPU_TYPES; t++) {
        s->type_max_gpus[t] = 0;
        s->type_max_cpus[t] = s->type_max_mem[t] = 0;
    }
    memset(s->feat, 0, sizeof(s->feat));
    for (int i = 0; i < s->nnodes; i++)
        note_max(s, &s->nodes[i]);
}

int sched_node_set_features(sched_t *s, int ni, uint32_t features)
{
    if (ni < 0 || ni >= s->nnodes) {
        errno = ENOENT;
        return -1;
    }
    if (features >> SCHED_MAX_FEATURES) {
        errno = EINVAL;
        return -1;
    }
    if (s->nodes[ni].features == features)
        return 0;
    s->nodes[ni].features = features;
    recompute_max(s);
    s->loosened = true;
    return 0;
}

int sched_node_resize(sched_t *s, int ni, int gpus, int64_t cpus_milli, int64_t memory_mib,
                      gt_error_t *err)
{
    if (ni < 0 || ni >= s->nnodes) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "no node %d in the scheduler", ni);
    }
    node_t *n = &s->nodes[ni];
    if (gpus < 0 || gpus > SCHED_MAX_GPUS_PER_NODE || cpus_milli < 0 || memory_mib < 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "node '%s': 0..%d GPUs, and no negative CPUs or memory", n->name,
                            SCHED_MAX_GPUS_PER_NODE);
    }
    for (int g = gpus; g < n->ngpus; g++)
        if (n->gpu_free[g] != SCHED_MILLI) {
            errno = EBUSY;
            return gt_error_set(err, "conflict", "node '%s': GPU %d is held by a running job",
                                n->name, g);
        }
    int64_t cpus_used = n->cpus ? n->cpus - n->cpus_free : 0;
    int64_t mem_used = n->mem ? n->mem - n->mem_free : 0;
    /* An untracked amount counted nothing for its jobs: it becomes tracked on an idle node. */
    bool track_change = n->njobs && ((!n->cpus && cpus_milli) || (!n->mem && memory_mib));
    if (track_change || (cpus_milli && cpus_used > cpus_milli) ||
        (memory_mib && mem_used > memory_mib)) {
        errno = EBUSY;
        return gt_error_set(err, "conflict",
                            "node '%s': its running jobs hold %lld milli-CPUs and %lld MiB, more "
                            "than %lld and %lld", n->name, (long long)cpus_used,
                            (long long)mem_used, (long long)cpus_milli, (long long)memory_mib);
    }
    bool indexed = n->in_bucket;
    if (indexed)
        node_index_remove(s, ni);
    int groups = n->ngpus ? n->nvgroup[n->ngpus - 1] + 1 : 1;
    for (int g = n->ngpus; g < gpus; g++)
        n->gpu_free[g] = SCHED_MILLI;
    for (int g = gpus; g < n->ngpus; g++)
        n->gpu_free[g] = 0;
    n->ngpus = gpus;
    n->frag_ok = false;
    n->free_whole = n->partial = 0;
    for (int g = 0; g < n->ngpus; g++) {
        n->nvgroup[g] = (uint8_t)(g * groups / n->ngpus);
        if (n->gpu_free[g] == SCHED_MILLI)
            n->free_whole++;
        else if (n->gpu_free[g] > 0)
            n->partial++;
    }
    /* Untracked (0) stays untracked: nothing was counted as used. */
    n->cpus = cpus_milli;
    n->cpus_free = cpus_milli ? cpus_milli - cpus_used : 0;
    n->mem = memory_mib;
    n->mem_free = memory_mib ? memory_mib - mem_used : 0;
    if (indexed)
        node_index_insert(s, ni);
    recompute_max(s);
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
        .up = n->up, .schedulable = n->schedulable, .jobs = n->njobs,
        .features = n->features, .maintenance_start = SCHED_NEVER,
    };
    for (int w = 0; w < s->nmaint; w++) /* as of now: maint_from is as of the last pass */
        for (int k = 0; k < s->maint[w].nnodes; k++)
            if (s->maint[w].nodes[k] == ni && s->maint[w].end > s->now &&
                s->maint[w].start < out->maintenance_start)
                out->maintenance_start = s->maint[w].start;
    return 0;
}

