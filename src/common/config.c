/* config.c: the YAML configuration (config.h), read with libyaml's document API.
 *
 * The walk is strict: every key is known, every value is checked where it is read, and every
 * message names the line, the key and what to write instead. Aliases are resolved by libyaml;
 * a budget on visited values keeps a file of nested aliases from expanding without bound. */
#include "common/config.h"

#include "common/envspec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_VISITS 2000000 /* YAML values walked, aliases counted each time they are used */
#define MAX_TEAM_DEPTH 16

typedef struct walk {
    yaml_document_t *doc;
    gt_config_t *cfg;
    gt_error_t *err;
    size_t visits;
    int *node_lines; /* line of the entry each config node came from (duplicate check) */
    size_t node_lines_cap;
    size_t teams_cap, classes_cap;
    yaml_node_t **part_classes; /* each partition's priority_class value (checked at the end) */
    size_t npart_classes, part_classes_cap;
} walk_t;

/* snprintf that truncates quietly: key paths and messages may be cut, never overflow. */
static void fmt(char *dst, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *dst, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(dst, n, f, ap);
    va_end(ap);
}

static int line_of(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

static int fail(walk_t *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(walk_t *w, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errno = EINVAL;
    return gt_error_set(w->err, "invalid_config", "line %d: %s", line_of(n), msg);
}

static yaml_node_t *get(walk_t *w, int id)
{
    w->visits++;
    return yaml_document_get_node(w->doc, id);
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n ? n->type : YAML_NO_NODE) {
    case YAML_SCALAR_NODE: return "a single value";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static int budget(walk_t *w, const yaml_node_t *n)
{
    if (w->visits > MAX_VISITS)
        return fail(w, n, "the configuration expands to over %d values (aliases used "
                          "too often?); write it out or split it", MAX_VISITS);
    return 0;
}

/* The scalar text of n, or NULL (with err) if n is not a scalar. */
static const char *scalar(walk_t *w, const yaml_node_t *n, const char *path, const char *hint)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        fail(w, n, "%s is %s; write %s", path, kind_name(n), hint);
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        fail(w, n, "%s contains a NUL character; write %s", path, hint);
        return NULL;
    }
    return s;
}

static int get_string(walk_t *w, const yaml_node_t *n, const char *path, const char *hint,
                      char **out)
{
    const char *s = scalar(w, n, path, hint);
    if (!s)
        return -1;
    if (!*s || (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(s, "~")) ||
        (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(s, "null")))
        return fail(w, n, "%s is empty; write %s", path, hint);
    free(*out);
    *out = xstrdup(s);
    return 0;
}

/* Wraps a util.h parser's message with the line and the key. */
static int parsed(walk_t *w, const yaml_node_t *n, const char *path, int rc, gt_error_t *perr)
{
    if (rc == 0)
        return 0;
    return fail(w, n, "%s: %s", path, perr->msg);
}

static int get_int(walk_t *w, const yaml_node_t *n, const char *path, int64_t min, int64_t max,
                   int64_t *out)
{
    char hint[96];
    fmt(hint, sizeof(hint), "an integer from %lld to %lld", (long long)min, (long long)max);
    const char *s = scalar(w, n, path, hint);
    if (!s)
        return -1;
    gt_error_t perr = {0};
    return parsed(w, n, path, gt_parse_int64(s, min, max, out, &perr), &perr);
}

static int get_bool(walk_t *w, const yaml_node_t *n, const char *path, bool *out)
{
    const char *s = scalar(w, n, path, "true or false");
    if (!s)
        return -1;
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On",
                                      "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off",
                                     "OFF"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return fail(w, n, "%s: '%s' is not a boolean; write true or false", path, s);
}

static int get_duration(walk_t *w, const yaml_node_t *n, const char *path, int64_t *out)
{
    const char *s = scalar(w, n, path, "a duration such as 120s, 10m, 7d");
    if (!s)
        return -1;
    gt_error_t perr = {0};
    return parsed(w, n, path, gt_parse_duration(s, out, &perr), &perr);
}

static int get_weight(walk_t *w, const yaml_node_t *n, const char *path, double *out)
{
    const char *s = scalar(w, n, path, "a positive number such as 1 or 2.5");
    if (!s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v <= 0 || v > 1e6)
        return fail(w, n, "%s: '%s' is not a weight; write a positive number up to 1000000 "
                          "such as 1 or 2.5", path, s);
    *out = v;
    return 0;
}

/* GPU amounts of quotas and limits: whole GPUs or fractions ("64", "0", "12.5") -> milli. */
static int get_gpu_amount(walk_t *w, const yaml_node_t *n, const char *path, int64_t *out)
{
    const char *hint = "a number of GPUs such as 0, 64 or 12.5";
    const char *s = scalar(w, n, path, hint);
    if (!s)
        return -1;
    gt_error_t perr = {0};
    size_t len = strlen(s);
    if (len && s[len - 1] == 'm')
        return fail(w, n, "%s: '%s' is not a number of GPUs; write %s", path, s, hint);
    if (gt_parse_cpus_milli(s, out, &perr) < 0)
        return fail(w, n, "%s: '%s' is not a number of GPUs; write %s", path, s, hint);
    return 0;
}

/* The key of a mapping pair, or NULL with err. */
static const char *key_of(walk_t *w, yaml_node_pair_t *p, const char *path)
{
    yaml_node_t *k = get(w, p->key);
    if (!k || k->type != YAML_SCALAR_NODE) {
        fail(w, k, "a key under %s is %s; keys are plain words", path, kind_name(k));
        return NULL;
    }
    const char *s = (const char *)k->data.scalar.value;
    if (strlen(s) != k->data.scalar.length) {
        fail(w, k, "a key under %s contains a NUL character", path);
        return NULL;
    }
    return s;
}

/* Index of key in keys[] (NULL-terminated), or -1 with an error listing the keys. Marks it
 * seen and rejects a second occurrence. */
static int which_key(walk_t *w, yaml_node_pair_t *p, const char *path, const char *const *keys,
                     unsigned *seen)
{
    const char *k = key_of(w, p, path);
    if (!k)
        return -1;
    for (int i = 0; keys[i]; i++) {
        if (strcmp(k, keys[i]))
            continue;
        if (*seen & (1u << i))
            return fail(w, get(w, p->key), "%s.%s is given twice; keep one", path, k);
        *seen |= 1u << i;
        return i;
    }
    char list[256] = "";
    size_t off = 0;
    for (int i = 0; keys[i] && off < sizeof(list); i++)
        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", keys[i]);
    return fail(w, get(w, p->key), "unknown key '%s' under %s; the keys are %s", k, path, list);
}

static int expect(walk_t *w, const yaml_node_t *n, yaml_node_type_t type, const char *path,
                  const char *hint)
{
    if (budget(w, n) < 0)
        return -1;
    if (!n || n->type != type)
        return fail(w, n, "%s is %s; write %s", path, kind_name(n), hint);
    return 0;
}

/* ---- nodes ---- */

static const char *const node_keys[] = {"name", "count", "gpus", "gpu_type", "cpus", "memory",
                                        "topology", "nvlink_groups", NULL};
enum { NK_NAME, NK_COUNT, NK_GPUS, NK_GPU_TYPE, NK_CPUS, NK_MEMORY, NK_TOPOLOGY, NK_NVLINK };

static void node_cfg_clear(gt_node_cfg_t *n)
{
    free(n->name);
    free(n->gpu_type);
    free(n->block);
    free(n->spine);
    free(n->leaf);
    memset(n, 0, sizeof(*n));
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static int parse_topology(walk_t *w, yaml_node_t *m, const char *path, gt_node_cfg_t *t)
{
    static const char *const keys[] = {"block", "spine", "leaf", NULL};
    if (expect(w, m, YAML_MAPPING_NODE, path, "a mapping such as {block: b1, spine: s1, "
                                              "leaf: l1}") < 0)
        return -1;
    unsigned seen = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, path, keys, &seen);
        if (k < 0)
            return -1;
        char **dst = k == 0 ? &t->block : k == 1 ? &t->spine : &t->leaf;
        char sub[128];
        fmt(sub, sizeof(sub), "%s.%s", path, keys[k]);
        if (get_string(w, get(w, p->value), sub, "a label such as l1", dst) < 0)
            return -1;
    }
    return 0;
}

static int parse_node(walk_t *w, yaml_node_t *m, size_t idx)
{
    char path[64], sub[128];
    fmt(path, sizeof(path), "nodes[%zu]", idx);
    if (expect(w, m, YAML_MAPPING_NODE, path,
               "a mapping such as {name: gpu-[001-016], gpus: 8, gpu_type: H100}") < 0)
        return -1;
    gt_node_cfg_t t = {0};
    int64_t count = 0, v;
    unsigned seen = 0;
    yaml_node_t *name_node = NULL, *count_node = NULL, *gpus_node = NULL;
    int rc = -1;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, path, node_keys, &seen);
        if (k < 0)
            goto out;
        yaml_node_t *val = get(w, p->value);
        fmt(sub, sizeof(sub), "%s.%s", path, node_keys[k]);
        switch (k) {
        case NK_NAME:
            name_node = val;
            if (get_string(w, val, sub, "a node name or range such as gpu-[001-016]", &t.name) < 0)
                goto out;
            break;
        case NK_COUNT:
            count_node = val;
            if (get_int(w, val, sub, 1, GT_CONFIG_MAX_NODES, &count) < 0)
                goto out;
            break;
        case NK_GPUS:
            gpus_node = val;
            if (get_int(w, val, sub, 0, GT_CONFIG_MAX_GPUS_PER_NODE, &v) < 0)
                goto out;
            t.gpus = (int)v;
            break;
        case NK_GPU_TYPE:
            if (get_string(w, val, sub, "a GPU model such as H100-80GB", &t.gpu_type) < 0)
                goto out;
            break;
        case NK_CPUS: {
            const char *s = scalar(w, val, sub, "a CPU count such as 96 or 1500m");
            gt_error_t perr = {0};
            if (!s || parsed(w, val, sub, gt_parse_cpus_milli(s, &t.cpus_milli, &perr), &perr))
                goto out;
            break;
        }
        case NK_MEMORY: {
            const char *s = scalar(w, val, sub, "a size such as 1536Gi");
            gt_error_t perr = {0};
            if (!s || parsed(w, val, sub, gt_parse_memory_mib(s, &t.memory_mib, &perr), &perr))
                goto out;
            break;
        }
        case NK_TOPOLOGY:
            if (parse_topology(w, val, sub, &t) < 0)
                goto out;
            break;
        case NK_NVLINK:
            if (get_int(w, val, sub, 0, GT_CONFIG_MAX_GPUS_PER_NODE, &v) < 0)
                goto out;
            t.nvlink_groups = (int)v;
            break;
        }
    }
    if (!t.name) {
        fail(w, m, "%s has no name; write name: gpu-[001-016] (a range) or name: gpu with "
                   "count: 16", path);
        goto out;
    }
    if (t.gpus > 0 && !t.gpu_type) {
        fail(w, gpus_node, "%s (%s) has gpus but no gpu_type; write gpu_type: <model>, such "
                           "as gpu_type: H100-80GB", path, t.name);
        goto out;
    }
    if (t.gpus == 0 && t.gpu_type) {
        fail(w, m, "%s (%s) has gpu_type %s but no gpus; write gpus: <count per node>", path,
             t.name, t.gpu_type);
        goto out;
    }
    if (t.nvlink_groups > 1 && (t.gpus == 0 || t.gpus % t.nvlink_groups)) {
        fail(w, m, "%s (%s): nvlink_groups %d does not divide gpus %d evenly; write a divisor "
                   "of gpus", path, t.name, t.nvlink_groups, t.gpus);
        goto out;
    }

    char **names = NULL;
    int n;
    if (count) {
        if (strchr(t.name, '[')) {
            fail(w, count_node, "%s: give either a range in the name (%s) or count, not both",
                 path, t.name);
            goto out;
        }
        int width = snprintf(NULL, 0, "%lld", (long long)count);
        names = xcalloc((size_t)count, sizeof(*names));
        for (int64_t i = 0; i < count; i++) {
            size_t len = strlen(t.name) + 32;
            names[i] = xmalloc(len);
            snprintf(names[i], len, "%s-%0*lld", t.name, width, (long long)(i + 1));
        }
        n = (int)count;
    } else {
        gt_error_t perr = {0};
        n = gt_expand_range(t.name, &names, &perr);
        if (n < 0) {
            fail(w, name_node, "%s.name: %s", path, perr.msg);
            goto out;
        }
    }
    gt_config_t *cfg = w->cfg;
    if (cfg->nnodes + (size_t)n > GT_CONFIG_MAX_NODES) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        fail(w, m, "%s: the configuration declares more than %d nodes; split the cluster",
             path, GT_CONFIG_MAX_NODES);
        goto out;
    }
    cfg->nodes = xrealloc(cfg->nodes, (cfg->nnodes + (size_t)n) * sizeof(*cfg->nodes));
    GT_GROW(w->node_lines, w->node_lines_cap, cfg->nnodes + (size_t)n);
    for (int i = 0; i < n; i++) {
        gt_node_cfg_t *d = &cfg->nodes[cfg->nnodes];
        *d = t;
        d->name = names[i];
        d->gpu_type = dup_or_null(t.gpu_type);
        d->block = dup_or_null(t.block);
        d->spine = dup_or_null(t.spine);
        d->leaf = dup_or_null(t.leaf);
        w->node_lines[cfg->nnodes] = line_of(m);
        cfg->nnodes++;
    }
    free(names);
    rc = 0;
out:
    node_cfg_clear(&t);
    return rc;
}

static const gt_config_t *sort_cfg; /* qsort has no context argument in C11 */

static int cmp_node_idx(const void *a, const void *b)
{
    const size_t *x = a, *y = b;
    int c = strcmp(sort_cfg->nodes[*x].name, sort_cfg->nodes[*y].name);
    return c ? c : (*x > *y) - (*x < *y);
}

/* Node names are unique: sort an index by name and look at neighbours. */
static int check_node_names(walk_t *w)
{
    gt_config_t *cfg = w->cfg;
    if (cfg->nnodes < 2)
        return 0;
    size_t *idx = xmalloc(cfg->nnodes * sizeof(*idx));
    for (size_t i = 0; i < cfg->nnodes; i++)
        idx[i] = i;
    sort_cfg = cfg;
    qsort(idx, cfg->nnodes, sizeof(*idx), cmp_node_idx);
    sort_cfg = NULL;
    int rc = 0;
    for (size_t i = 1; i < cfg->nnodes; i++) {
        if (strcmp(cfg->nodes[idx[i - 1]].name, cfg->nodes[idx[i]].name))
            continue;
        errno = EINVAL;
        rc = gt_error_set(w->err, "invalid_config",
                          "line %d: node %s is declared twice (lines %d and %d); give each "
                          "node one name",
                          w->node_lines[idx[i]], cfg->nodes[idx[i]].name,
                          w->node_lines[idx[i - 1]], w->node_lines[idx[i]]);
        break;
    }
    free(idx);
    return rc;
}

static int parse_nodes(walk_t *w, yaml_node_t *seq)
{
    if (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0)
        return 0; /* "nodes:" with nothing: no nodes */
    if (expect(w, seq, YAML_SEQUENCE_NODE, "nodes", "a list of node groups (- name: ...)") < 0)
        return -1;
    size_t i = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, i++)
        if (parse_node(w, get(w, *it), i) < 0)
            return -1;
    return 0;
}

/* ---- teams ---- */

static const char *const team_keys[] = {"name", "quota", "limit", "weight", "children",
                                        "storage_quota", NULL};
enum { TK_NAME, TK_QUOTA, TK_LIMIT, TK_WEIGHT, TK_CHILDREN, TK_STORAGE_QUOTA };

static void team_cfg_clear(gt_team_cfg_t *t)
{
    free(t->name);
    free(t->parent);
    for (size_t i = 0; i < t->nquotas; i++)
        free(t->quotas[i].gpu_type);
    free(t->quotas);
    memset(t, 0, sizeof(*t));
}

static int parse_amounts(walk_t *w, yaml_node_t *m, const char *path, gt_team_cfg_t *t,
                         bool is_limit)
{
    if (expect(w, m, YAML_MAPPING_NODE, path, "a mapping such as {gpus: 64} or "
                                              "{gpus: 64, H100-80GB: 32}") < 0)
        return -1;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = key_of(w, p, path);
        if (!k)
            return -1;
        if (!*k)
            return fail(w, get(w, p->key), "an empty key under %s; write gpus or a GPU type",
                        path);
        for (yaml_node_pair_t *e = m->data.mapping.pairs.start; e < p; e++) {
            yaml_node_t *ek = get(w, e->key);
            if (ek && ek->type == YAML_SCALAR_NODE && !strcmp((char *)ek->data.scalar.value, k))
                return fail(w, get(w, p->key), "%s.%s is given twice; keep one", path, k);
        }
        const char *type = strcmp(k, "gpus") ? k : NULL;
        char sub[160];
        fmt(sub, sizeof(sub), "%s.%s", path, k);
        int64_t v;
        if (get_gpu_amount(w, get(w, p->value), sub, &v) < 0)
            return -1;
        gt_quota_cfg_t *q = NULL;
        for (size_t i = 0; i < t->nquotas; i++)
            if (type ? t->quotas[i].gpu_type && !strcmp(t->quotas[i].gpu_type, type)
                     : !t->quotas[i].gpu_type)
                q = &t->quotas[i];
        if (!q) {
            if (t->nquotas > GT_CONFIG_MAX_GPU_TYPES)
                return fail(w, get(w, p->key), "%s: more than %d GPU types; the scheduler "
                                               "knows at most %d", path,
                            GT_CONFIG_MAX_GPU_TYPES, GT_CONFIG_MAX_GPU_TYPES);
            t->quotas = xrealloc(t->quotas, (t->nquotas + 1) * sizeof(*t->quotas));
            q = &t->quotas[t->nquotas++];
            q->gpu_type = dup_or_null(type);
            q->quota_milli = 0;
            q->limit_milli = -1;
        }
        if (is_limit)
            q->limit_milli = v;
        else
            q->quota_milli = v;
    }
    return 0;
}

static int team_find(const gt_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nteams; i++)
        if (!strcmp(cfg->teams[i].name, name))
            return (int)i;
    return -1;
}

static int parse_team(walk_t *w, yaml_node_t *m, const char *parent, const char *where,
                      int depth);

static int parse_team_list(walk_t *w, yaml_node_t *seq, const char *parent, const char *path,
                           int depth)
{
    if (expect(w, seq, YAML_SEQUENCE_NODE, path, "a list of teams (- name: ...)") < 0)
        return -1;
    size_t i = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, i++) {
        char sub[160];
        fmt(sub, sizeof(sub), "%s[%zu]", path, i);
        if (parse_team(w, get(w, *it), parent, sub, depth) < 0)
            return -1;
    }
    return 0;
}

static int parse_team(walk_t *w, yaml_node_t *m, const char *parent, const char *where,
                      int depth)
{
    if (expect(w, m, YAML_MAPPING_NODE, where, "a mapping such as {name: research, "
                                               "quota: {gpus: 64}}") < 0)
        return -1;
    if (depth > MAX_TEAM_DEPTH)
        return fail(w, m, "%s: teams nest deeper than %d levels; flatten the hierarchy", where,
                    MAX_TEAM_DEPTH);
    gt_team_cfg_t t = {0};
    t.weight = 1;
    t.storage_quota = -1;
    yaml_node_t *children = NULL, *name_node = NULL;
    unsigned seen = 0;
    char path[192];
    fmt(path, sizeof(path), "%s", where);
    int rc = -1;
    /* The name first, so that later messages can say which team. */
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = get(w, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, "name")) {
            name_node = get(w, p->value);
            char sub[200];
            fmt(sub, sizeof(sub), "%s.name", where);
            if (get_string(w, name_node, sub, "a team name such as research", &t.name) < 0)
                goto out;
            fmt(path, sizeof(path), "team %s", t.name);
        }
    }
    if (!t.name) {
        fail(w, m, "%s has no name; write name: <team>", where);
        goto out;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, path, team_keys, &seen);
        if (k < 0)
            goto out;
        yaml_node_t *val = get(w, p->value);
        char sub[224];
        fmt(sub, sizeof(sub), "%s.%s", path, team_keys[k]);
        switch (k) {
        case TK_NAME: break;
        case TK_QUOTA:
        case TK_LIMIT:
            if (parse_amounts(w, val, sub, &t, k == TK_LIMIT) < 0)
                goto out;
            break;
        case TK_WEIGHT:
            if (get_weight(w, val, sub, &t.weight) < 0)
                goto out;
            break;
        case TK_CHILDREN: children = val; break;
        case TK_STORAGE_QUOTA: {
            const char *v = scalar(w, val, sub, "bytes such as 500Gi, 2T or 1048576");
            gt_error_t perr = {0};
            if (!v)
                goto out;
            if (gt_parse_bytes(v, &t.storage_quota, &perr) < 0) {
                fail(w, val, "%s: %s", sub, perr.msg);
                goto out;
            }
            break;
        }
        }
    }
    for (size_t i = 0; i < t.nquotas; i++) {
        gt_quota_cfg_t *q = &t.quotas[i];
        if (q->limit_milli >= 0 && q->quota_milli > q->limit_milli) {
            fail(w, m, "%s: quota %s (%lld milli-GPUs) is above its limit (%lld); raise the "
                       "limit or lower the quota", path, q->gpu_type ? q->gpu_type : "gpus",
                 (long long)q->quota_milli, (long long)q->limit_milli);
            goto out;
        }
    }
    gt_config_t *cfg = w->cfg;
    if (team_find(cfg, t.name) >= 0) {
        fail(w, name_node, "team %s is declared twice; give each team one name", t.name);
        goto out;
    }
    t.parent = dup_or_null(parent);
    GT_GROW(cfg->teams, w->teams_cap, cfg->nteams + 1);
    cfg->teams[cfg->nteams++] = t;
    memset(&t, 0, sizeof(t));
    rc = 0;
    if (children && !(children->type == YAML_SCALAR_NODE && !children->data.scalar.length)) {
        char sub[224];
        fmt(sub, sizeof(sub), "%s.children", path);
        /* our entry may move when the array grows: pass a copy of the name */
        char *name = xstrdup(cfg->teams[cfg->nteams - 1].name);
        rc = parse_team_list(w, children, name, sub, depth + 1);
        free(name);
    }
out:
    team_cfg_clear(&t);
    return rc;
}

/* ---- priority classes ---- */

static int parse_classes(walk_t *w, yaml_node_t *seq)
{
    if (expect(w, seq, YAML_SEQUENCE_NODE, "priority_classes",
               "a list such as - {name: normal, value: 100}") < 0)
        return -1;
    if (seq->data.sequence.items.top == seq->data.sequence.items.start)
        return fail(w, seq, "priority_classes is an empty list; list at least one class, or "
                            "leave the key out for the defaults (production, normal, "
                            "experimental)");
    static const char *const keys[] = {"name", "value", "preemptible", "idle_action", "order",
                                       "session_idle_timeout", NULL};
    gt_config_t *cfg = w->cfg;
    size_t i = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, i++) {
        char path[64], sub[96];
        fmt(path, sizeof(path), "priority_classes[%zu]", i);
        yaml_node_t *m = get(w, *it);
        if (expect(w, m, YAML_MAPPING_NODE, path, "a mapping such as {name: normal, value: "
                                                  "100, preemptible: true}") < 0)
            return -1;
        gt_class_cfg_t c = {.preemptible = true, .session_idle_s = -1};
        bool has_value = false;
        yaml_node_t *name_node = NULL;
        unsigned seen = 0;
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
             p++) {
            int k = which_key(w, p, path, keys, &seen);
            if (k < 0)
                goto bad;
            yaml_node_t *val = get(w, p->value);
            fmt(sub, sizeof(sub), "%s.%s", path, keys[k]);
            int64_t v;
            if (k == 0) {
                name_node = val;
                if (get_string(w, val, sub, "a class name such as normal", &c.name) < 0)
                    goto bad;
            } else if (k == 1) {
                if (get_int(w, val, sub, -1000000000, 1000000000, &v) < 0)
                    goto bad;
                c.value = (int)v;
                has_value = true;
            } else if (k == 2) {
                if (get_bool(w, val, sub, &c.preemptible) < 0)
                    goto bad;
            } else if (k == 4) {
                if (get_string(w, val, sub, "an order such as fifo, las or srtf", &c.order) < 0)
                    goto bad;
                c.order_line = line_of(val);
            } else if (k == 5) {
                if (get_duration(w, val, sub, &c.session_idle_s) < 0)
                    goto bad;
            } else {
                const char *a = scalar(w, val, sub, "report or requeue");
                if (!a)
                    goto bad;
                if (strcmp(a, "report") && strcmp(a, "requeue")) {
                    fail(w, val, "%s: '%s' is not an idle action; write report (flag it) or "
                                 "requeue (flag it and requeue it if preemptible)", sub, a);
                    goto bad;
                }
                c.idle_requeue = !strcmp(a, "requeue");
            }
        }
        if (!c.name) {
            fail(w, m, "%s has no name; write name: <class>", path);
            goto bad;
        }
        if (!has_value) {
            fail(w, m, "priority class %s has no value; write value: <number> (higher runs "
                       "first)", c.name);
            goto bad;
        }
        for (size_t j = 0; j < cfg->nclasses; j++)
            if (!strcmp(cfg->classes[j].name, c.name)) {
                fail(w, name_node, "priority class %s is declared twice; keep one", c.name);
                goto bad;
            }
        GT_GROW(cfg->classes, w->classes_cap, cfg->nclasses + 1);
        cfg->classes[cfg->nclasses++] = c;
        continue;
    bad:
        free(c.name);
        free(c.order);
        return -1;
    }
    return 0;
}

/* ---- scheduler ---- */

/* series: {interval: 1m, retention: 14d}: the server's own time series (server/series.h). */
static int parse_series(walk_t *w, yaml_node_t *m)
{
    static const char *const keys[] = {"interval", "retention", NULL};
    if (expect(w, m, YAML_MAPPING_NODE, "series",
               "a mapping such as {interval: 1m, retention: 14d}") < 0)
        return -1;
    unsigned seen = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, "series", keys, &seen);
        if (k < 0)
            return -1;
        yaml_node_t *val = get(w, p->value);
        int64_t *out = k == 0 ? &w->cfg->series_interval_s : &w->cfg->series_retention_s;
        if (get_duration(w, val, k == 0 ? "series.interval" : "series.retention", out) < 0)
            return -1;
        if (*out < 1)
            return fail(w, val, "%s must be at least 1s", k == 0 ? "series.interval"
                                                                  : "series.retention");
    }
    if (w->cfg->series_interval_s && w->cfg->series_retention_s &&
        w->cfg->series_retention_s < w->cfg->series_interval_s)
        return fail(w, m, "series.retention must be at least series.interval");
    return 0;
}

/* A boolean into one of gt_sched_cfg_t's 0/1/-1 fields. */
static int get_flag(walk_t *w, const yaml_node_t *n, const char *path, int *out)
{
    bool b;
    if (get_bool(w, n, path, &b) < 0)
        return -1;
    *out = b;
    return 0;
}

static int parse_backfill(walk_t *w, yaml_node_t *m, gt_sched_cfg_t *sp)
{
    if (m && m->type == YAML_SCALAR_NODE)
        return get_flag(w, m, "scheduler.backfill", &sp->backfill);
    static const char *const keys[] = {"enabled", "reservations", NULL};
    if (expect(w, m, YAML_MAPPING_NODE, "scheduler.backfill",
               "a mapping such as {enabled: true, reservations: 8}, or true/false") < 0)
        return -1;
    unsigned seen = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, "scheduler.backfill", keys, &seen);
        if (k < 0)
            return -1;
        yaml_node_t *val = get(w, p->value);
        int64_t v;
        if (k == 0 && get_flag(w, val, "scheduler.backfill.enabled", &sp->backfill) < 0)
            return -1;
        if (k == 1) {
            if (get_int(w, val, "scheduler.backfill.reservations", 0, 10000, &v) < 0)
                return -1;
            sp->reservations = (int)v;
        }
    }
    return 0;
}

static int parse_preemption(walk_t *w, yaml_node_t *m, gt_sched_cfg_t *sp)
{
    if (m && m->type == YAML_SCALAR_NODE)
        return get_flag(w, m, "scheduler.preemption", &sp->preemption);
    static const char *const keys[] = {"enabled", "grace_period", "min_runtime",
                                       "reclaim_min_runtime", NULL};
    if (expect(w, m, YAML_MAPPING_NODE, "scheduler.preemption",
               "a mapping such as {enabled: true, grace_period: 120s, min_runtime: 10m}") < 0)
        return -1;
    unsigned seen = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, "scheduler.preemption", keys, &seen);
        if (k < 0)
            return -1;
        yaml_node_t *val = get(w, p->value);
        if (k == 3)
            sp->reclaim_min_runtime_line = line_of(val);
        int rc = k == 0   ? get_flag(w, val, "scheduler.preemption.enabled", &sp->preemption)
                 : k == 1 ? get_duration(w, val, "scheduler.preemption.grace_period", &sp->grace_s)
                 : k == 2 ? get_duration(w, val, "scheduler.preemption.min_runtime",
                                         &sp->min_runtime_s)
                          : get_duration(w, val, "scheduler.preemption.reclaim_min_runtime",
                                         &sp->reclaim_min_runtime_s);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int parse_las(walk_t *w, yaml_node_t *m, gt_sched_cfg_t *sp)
{
    static const char *const keys[] = {"queues", "starvation", NULL};
    if (expect(w, m, YAML_MAPPING_NODE, "scheduler.las",
               "a mapping such as {queues: [1h, 10h], starvation: 24h}") < 0)
        return -1;
    unsigned seen = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, "scheduler.las", keys, &seen);
        if (k < 0)
            return -1;
        yaml_node_t *val = get(w, p->value);
        if (k == 1) {
            if (get_duration(w, val, "scheduler.las.starvation", &sp->las_starvation_s) < 0)
                return -1;
            if (sp->las_starvation_s <= 0)
                return fail(w, val, "scheduler.las.starvation must be above 0, such as 24h");
            continue;
        }
        if (expect(w, val, YAML_SEQUENCE_NODE, "scheduler.las.queues",
                   "a list of GPU-time thresholds such as [1h, 10h]") < 0)
            return -1;
        int n = 0;
        for (yaml_node_item_t *it = val->data.sequence.items.start;
             it < val->data.sequence.items.top; it++, n++) {
            yaml_node_t *q = get(w, *it);
            char sub[64];
            fmt(sub, sizeof(sub), "scheduler.las.queues[%d]", n);
            if (n == GT_CONFIG_MAX_LAS_QUEUES)
                return fail(w, q, "scheduler.las.queues: at most %d thresholds",
                            GT_CONFIG_MAX_LAS_QUEUES);
            if (get_duration(w, q, sub, &sp->las_queues[n]) < 0)
                return -1;
            if (sp->las_queues[n] <= (n ? sp->las_queues[n - 1] : 0))
                return fail(w, q, "%s: thresholds must rise (each above 0 and above the one "
                                  "before), such as [1h, 10h]", sub);
        }
        sp->las_nqueues = n;
    }
    return 0;
}

static int parse_srtf(walk_t *w, yaml_node_t *m, gt_sched_cfg_t *sp)
{
    static const char *const keys[] = {"aging", "unknown", NULL};
    if (expect(w, m, YAML_MAPPING_NODE, "scheduler.srtf",
               "a mapping such as {aging: 0.01, unknown: 24h}") < 0)
        return -1;
    unsigned seen = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, "scheduler.srtf", keys, &seen);
        if (k < 0)
            return -1;
        yaml_node_t *val = get(w, p->value);
        if (k == 1) {
            if (get_duration(w, val, "scheduler.srtf.unknown", &sp->srtf_unknown_s) < 0)
                return -1;
            continue;
        }
        const char *s = scalar(w, val, "scheduler.srtf.aging", "a number above 0 up to 1");
        if (!s)
            return -1;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (!*s || *end || errno || !isfinite(v) || v < 1e-6 || v > 1)
            return fail(w, val, "scheduler.srtf.aging: '%s' is not a rate; write a number from "
                                "0.000001 to 1 such as 0.01 (seconds of remaining time each "
                                "second of waiting is worth)", s);
        sp->srtf_aging = v;
    }
    return 0;
}

static int parse_scheduler(walk_t *w, yaml_node_t *m, yaml_node_t **default_class_node)
{
    static const char *const keys[] = {"fairshare", "fairshare_half_life", "quotas", "backfill",
                                       "preemption", "default_priority_class", "order",
                                       "placement", "las", "srtf", NULL};
    if (expect(w, m, YAML_MAPPING_NODE, "scheduler",
               "a mapping such as {fairshare_half_life: 7d, backfill: {enabled: true}}") < 0)
        return -1;
    gt_sched_cfg_t *sp = &w->cfg->sched;
    unsigned seen = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, "scheduler", keys, &seen);
        if (k < 0)
            return -1;
        yaml_node_t *val = get(w, p->value);
        int rc = 0;
        switch (k) {
        case 0: rc = get_flag(w, val, "scheduler.fairshare", &sp->fairshare); break;
        case 1: rc = get_duration(w, val, "scheduler.fairshare_half_life", &sp->half_life_s); break;
        case 2: rc = get_flag(w, val, "scheduler.quotas", &sp->quotas); break;
        case 3: rc = parse_backfill(w, val, sp); break;
        case 4: rc = parse_preemption(w, val, sp); break;
        case 5:
            *default_class_node = val;
            rc = get_string(w, val, "scheduler.default_priority_class", "a class name such as "
                            "normal", &w->cfg->default_class);
            break;
        case 6:
            rc = get_string(w, val, "scheduler.order", "an order such as fifo, las or srtf",
                            &sp->order);
            sp->order_line = line_of(val);
            break;
        case 7:
            rc = get_string(w, val, "scheduler.placement", "a placement such as bestfit",
                            &sp->placement);
            sp->placement_line = line_of(val);
            break;
        case 8: rc = parse_las(w, val, sp); break;
        case 9: rc = parse_srtf(w, val, sp); break;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- users ---- */

static int parse_users(walk_t *w, yaml_node_t *m)
{
    if (m->type == YAML_SCALAR_NODE && !m->data.scalar.length)
        return 0;
    if (expect(w, m, YAML_MAPPING_NODE, "users",
               "a mapping such as {alice: {unix: alice}, admin: {unix: root}}") < 0)
        return -1;
    static const char *const keys[] = {"unix", "team", "allow_system_account", NULL};
    gt_config_t *cfg = w->cfg;
    size_t cap = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *name = key_of(w, p, "users");
        if (!name)
            return -1;
        if (!*name)
            return fail(w, get(w, p->key), "a user under users has an empty name");
        if (cfg->nusers >= 10000)
            return fail(w, get(w, p->key), "users lists over 10000 users; map the rest by "
                                           "their own names (leave them out)");
        for (size_t i = 0; i < cfg->nusers; i++)
            if (!strcmp(cfg->users[i].name, name))
                return fail(w, get(w, p->key), "users.%s is given twice; keep one", name);
        char path[160], sub[200];
        fmt(path, sizeof(path), "users.%s", name);
        yaml_node_t *val = get(w, p->value);
        if (expect(w, val, YAML_MAPPING_NODE, path, "a mapping such as {unix: alice}") < 0)
            return -1;
        gt_user_cfg_t u = {0};
        unsigned seen = 0;
        for (yaml_node_pair_t *q = val->data.mapping.pairs.start;
             q < val->data.mapping.pairs.top; q++) {
            int k = which_key(w, q, path, keys, &seen);
            yaml_node_t *v = k < 0 ? NULL : get(w, q->value);
            if (k < 0)
                goto bad;
            if (k == 1) {
                fmt(sub, sizeof(sub), "%s.team", path);
                if (get_string(w, v, sub, "the team the user belongs to", &u.team) < 0)
                    goto bad;
                continue;
            }
            if (k == 2) {
                fmt(sub, sizeof(sub), "%s.allow_system_account", path);
                if (get_bool(w, v, sub, &u.allow_system_account) < 0)
                    goto bad;
                continue;
            }
            fmt(sub, sizeof(sub), "%s.unix", path);
            if (get_string(w, v, sub, "a Unix account name such as alice", &u.unix_user) < 0)
                goto bad;
            if (!gt_unix_name_ok(u.unix_user)) {
                fail(w, v, "%s '%s' is not a Unix account name; use letters, digits, '.', '_' "
                           "and '-' (not first), at most 32", sub, u.unix_user);
                goto bad;
            }
        }
        if (!u.unix_user) {
            fail(w, val, "%s has no unix key; write unix: <account>", path);
            goto bad;
        }
        u.name = xstrdup(name);
        GT_GROW(cfg->users, cap, cfg->nusers + 1);
        cfg->users[cfg->nusers++] = u;
        continue;
    bad:
        free(u.unix_user);
        free(u.team);
        return -1;
    }
    return 0;
}

const char *gt_config_unix_user(const gt_config_t *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nusers; i++)
        if (!strcmp(cfg->users[i].name, name))
            return cfg->users[i].unix_user;
    return NULL;
}

/* ---- volumes and environments: YAML to JSON, then the shapes of envspec.h ---- */

/* A YAML value as JSON: plain scalars that read as an integer or a boolean become one, the
 * rest strings; under a key "env" every scalar stays a string (SEED: 7 is "7"). NULL with err
 * (a budget overrun or an odd node). */
static json_t *yaml_json(walk_t *w, yaml_node_t *n, const char *path, bool strings)
{
    if (budget(w, n) < 0)
        return NULL;
    if (!n) {
        fail(w, n, "%s: a value is missing", path);
        return NULL;
    }
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)n->data.scalar.value;
        if (strlen(s) != n->data.scalar.length) {
            fail(w, n, "%s contains a NUL character", path);
            return NULL;
        }
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strings) {
            bool b;
            int64_t i;
            gt_error_t e = {0};
            if (*s && gt_parse_int64(s, INT64_MIN, INT64_MAX, &i, &e) == 0)
                return json_integer(i);
            if (!strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "yes") ||
                !strcmp(s, "no")) {
                b = s[0] == 't' || s[0] == 'y';
                return json_boolean(b);
            }
            if (!*s || !strcmp(s, "~") || !strcmp(s, "null"))
                return json_null();
        }
        return json_string(s);
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++) {
            json_t *v = yaml_json(w, get(w, *it), path, strings);
            if (!v) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    if (n->type == YAML_MAPPING_NODE) {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const char *k = key_of(w, p, path);
            json_t *v = k ? yaml_json(w, get(w, p->value), path, strings || !strcmp(k, "env"))
                          : NULL;
            if (!v) {
                json_decref(o);
                return NULL;
            }
            if (json_object_get(o, k)) {
                json_decref(v);
                json_decref(o);
                fail(w, get(w, p->key), "%s: key '%s' is given twice; keep one", path, k);
                return NULL;
            }
            json_object_set_new(o, k, v);
        }
        return o;
    }
    fail(w, n, "%s is %s", path, kind_name(n));
    return NULL;
}

/* volumes: or environments: (which), a list of mappings each checked by parse; names unique. */
static int parse_env_list(walk_t *w, yaml_node_t *seq, const char *which,
                          int (*parse)(const json_t *, json_t **, gt_error_t *), json_t **out)
{
    if (seq->type == YAML_SCALAR_NODE && !seq->data.scalar.length)
        return 0;
    if (expect(w, seq, YAML_SEQUENCE_NODE, which, "a list of mappings, one per entry") < 0)
        return -1;
    size_t i = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *n = get(w, *it);
        char path[64];
        fmt(path, sizeof(path), "%s[%zu]", which, i);
        json_t *raw = yaml_json(w, n, path, false);
        if (!raw)
            return -1;
        json_t *norm = NULL;
        gt_error_t e = {0};
        int rc = json_array_size(*out) >= GT_VOLUMES_MAX ? -1 : parse(raw, &norm, &e);
        json_decref(raw);
        if (rc < 0)
            return fail(w, n, "%s: %s", path,
                        json_array_size(*out) >= GT_VOLUMES_MAX ? "too many entries" : e.msg);
        const char *name = json_string_value(json_object_get(norm, "name"));
        size_t k;
        json_t *prev;
        json_array_foreach(*out, k, prev) if (!strcmp(json_string_value(json_object_get(prev,
                                                                                      "name")),
                                                      name))
        {
            fail(w, n, "%s: '%s' is given twice; keep one", path, name);
            json_decref(norm);
            return -1;
        }
        json_array_append_new(*out, norm);
    }
    return 0;
}

/* An environment's mounts name volumes of the file (a typo is found at start, not when a job
 * asks for it); ro volumes are not mounted read_only: false. */
static int check_env_volumes(walk_t *w, yaml_node_t *root)
{
    size_t i, k, v;
    json_t *env, *m, *vol;
    json_array_foreach(w->cfg->environments, i, env)
    {
        json_array_foreach(json_object_get(env, "mounts"), k, m)
        {
            const char *name = json_string_value(json_object_get(m, "volume"));
            json_t *found = NULL;
            json_array_foreach(w->cfg->volumes, v, vol)
                if (!strcmp(json_string_value(json_object_get(vol, "name")), name))
                    found = vol;
            if (!found)
                return fail(w, root, "environments: '%s' mounts volume '%s', which volumes: "
                                     "does not define", json_string_value(json_object_get(env,
                                                                                  "name")),
                            name);
            if (!strcmp(json_string_value(json_object_get(found, "access")), "ro") &&
                json_is_false(json_object_get(m, "read_only")))
                return fail(w, root, "environments: '%s' mounts volume '%s' read_only: false, "
                                     "but the volume is read-only (access: ro)",
                            json_string_value(json_object_get(env, "name")), name);
        }
    }
    return 0;
}

/* ---- partitions ---- */

/* Whether s is a name a job's "partition" may carry (job.c checks the same). */
static bool partition_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (const char *p = s; *p; p++)
        if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
    return true;
}

static int parse_partitions(walk_t *w, yaml_node_t *m)
{
    if (m->type == YAML_SCALAR_NODE && !m->data.scalar.length)
        return 0;
    if (expect(w, m, YAML_MAPPING_NODE, "partitions",
               "a mapping such as {gpu: {gpu_type: [h100]}, debug: {priority_class: "
               "experimental}}") < 0)
        return -1;
    static const char *const keys[] = {"gpu_type", "priority_class", NULL};
    gt_config_t *cfg = w->cfg;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *name = key_of(w, p, "partitions");
        if (!name)
            return -1;
        if (!partition_name_ok(name))
            return fail(w, get(w, p->key), "partition '%s' is not a valid name; use letters, "
                                           "digits, '-', '_' and '.', at most 63", name);
        if (json_object_get(cfg->partitions, name))
            return fail(w, get(w, p->key), "partitions.%s is given twice; keep one", name);
        if (json_object_size(cfg->partitions) >= 1000)
            return fail(w, get(w, p->key), "partitions lists over 1000 partitions");
        char path[100], sub[140];
        fmt(path, sizeof(path), "partitions.%s", name);
        yaml_node_t *val = get(w, p->value);
        if (val && val->type == YAML_SCALAR_NODE && !val->data.scalar.length) {
            json_object_set_new(cfg->partitions, name, json_pack("{s:[]}", "gpu_type"));
            continue; /* "debug:" alone: a name jobs may give, meaning nothing more */
        }
        if (expect(w, val, YAML_MAPPING_NODE, path,
                   "a mapping such as {gpu_type: [h100], priority_class: normal}") < 0)
            return -1;
        json_t *part = json_pack("{s:[]}", "gpu_type");
        unsigned seen = 0;
        for (yaml_node_pair_t *q = val->data.mapping.pairs.start;
             q < val->data.mapping.pairs.top; q++) {
            int k = which_key(w, q, path, keys, &seen);
            yaml_node_t *v = k < 0 ? NULL : get(w, q->value);
            if (k < 0)
                goto bad;
            fmt(sub, sizeof(sub), "%s.%s", path, keys[k]);
            if (k == 1) {
                char *cls = NULL;
                if (get_string(w, v, sub, "a priority class such as normal", &cls) < 0)
                    goto bad;
                json_object_set_new(part, "priority_class", json_string(cls));
                free(cls);
                GT_GROW(w->part_classes, w->part_classes_cap, w->npart_classes + 1);
                w->part_classes[w->npart_classes++] = v;
                continue;
            }
            json_t *types = json_object_get(part, "gpu_type");
            const char *hint = "a GPU type such as h100, or a list such as [h100, a100]";
            if (v && v->type == YAML_SEQUENCE_NODE) {
                if (v->data.sequence.items.top == v->data.sequence.items.start) {
                    fail(w, v, "%s is an empty list; write %s", sub, hint);
                    goto bad;
                }
                for (yaml_node_item_t *it = v->data.sequence.items.start;
                     it < v->data.sequence.items.top; it++) {
                    char *t = NULL;
                    if (get_string(w, get(w, *it), sub, hint, &t) < 0)
                        goto bad;
                    json_array_append_new(types, json_string(t));
                    free(t);
                }
            } else {
                char *t = NULL;
                if (get_string(w, v, sub, hint, &t) < 0)
                    goto bad;
                json_array_append_new(types, json_string(t));
                free(t);
            }
        }
        json_object_set_new(cfg->partitions, name, part);
        continue;
    bad:
        json_decref(part);
        return -1;
    }
    return 0;
}

/* A partition's class is one of the file's (or the defaults), known only once all is read. */
static int check_partition_classes(walk_t *w)
{
    for (size_t i = 0; i < w->npart_classes; i++) {
        const char *cls = (const char *)w->part_classes[i]->data.scalar.value;
        bool found = false;
        for (size_t k = 0; k < w->cfg->nclasses; k++)
            found |= !strcmp(w->cfg->classes[k].name, cls);
        if (found)
            continue;
        char list[256] = "";
        size_t off = 0;
        for (size_t k = 0; k < w->cfg->nclasses && off < sizeof(list); k++)
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", k ? ", " : "",
                                    w->cfg->classes[k].name);
        return fail(w, w->part_classes[i], "partitions: priority_class %s is not a priority "
                                           "class; write one of %s", cls, list);
    }
    return 0;
}

/* ---- the document ---- */
/* ---- idle: {threshold, after} ---- */

static int parse_idle(walk_t *w, yaml_node_t *m)
{
    if (expect(w, m, YAML_MAPPING_NODE, "idle", "a mapping such as {threshold: 5%, after: 30m}") <
        0)
        return -1;
    static const char *const keys[] = {"threshold", "after", NULL};
    unsigned seen = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        int k = which_key(w, p, "idle", keys, &seen);
        if (k < 0)
            return -1;
        yaml_node_t *val = get(w, p->value);
        if (k == 1) {
            int64_t s;
            if (get_duration(w, val, "idle.after", &s) < 0)
                return -1;
            if (s <= 0)
                return fail(w, val, "idle.after must be above 0; write a duration such as 30m");
            w->cfg->idle_after_s = s;
            continue;
        }
        const char *hint = "a utilization such as 5% or 0.05";
        const char *t = scalar(w, val, "idle.threshold", hint);
        if (!t)
            return -1;
        char *end;
        errno = 0;
        double v = strtod(t, &end);
        bool pct = *end == '%';
        if (pct)
            end++;
        if (pct)
            v /= 100;
        if (end == t || *end || errno || !isfinite(v) || v <= 0 || v > 1)
            return fail(w, val, "idle.threshold: '%s' is not a utilization above 0 and up to "
                                "100%%; write %s", t, hint);
        w->cfg->idle_threshold = v;
    }
    return 0;
}

static void add_class(gt_config_t *cfg, size_t *cap, const char *name, int value, bool preempt)
{
    GT_GROW(cfg->classes, *cap, cfg->nclasses + 1);
    cfg->classes[cfg->nclasses++] = (gt_class_cfg_t){xstrdup(name), value, preempt, false, NULL, 0, -1};
}

static int walk_document(walk_t *w)
{
    gt_config_t *cfg = w->cfg;
    yaml_node_t *root = yaml_document_get_root_node(w->doc);
    yaml_node_t *default_class_node = NULL;
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        static const char *const keys[] = {"nodes", "teams", "priority_classes", "scheduler",
                                           "users", "retention", "volumes", "environments",
                                           "image_paths", "partitions", "idle", "series",
                                           "store", NULL};
        if (root->type != YAML_MAPPING_NODE)
            return fail(w, root, "the configuration is %s; write a mapping with the keys "
                                 "nodes, teams, priority_classes, scheduler, users, retention, "
                                 "volumes, environments, image_paths, partitions, idle, series, "
                                 "store",
                        kind_name(root));
        unsigned seen = 0;
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++) {
            int k = which_key(w, p, "the top level", keys, &seen);
            if (k < 0)
                return -1;
            yaml_node_t *val = get(w, p->value);
            int rc = 0;
            if (!val)
                return fail(w, root, "a value is missing");
            switch (k) {
            case 0: rc = parse_nodes(w, val); break;
            case 1:
                if (!(val->type == YAML_SCALAR_NODE && !val->data.scalar.length))
                    rc = parse_team_list(w, val, NULL, "teams", 0);
                break;
            case 2: rc = parse_classes(w, val); break;
            case 3: rc = parse_scheduler(w, val, &default_class_node); break;
            case 4: rc = parse_users(w, val); break;
            case 5:
                rc = get_duration(w, val, "retention", &cfg->retention_s);
                cfg->retention_set = rc == 0;
                break;
            case 6: rc = parse_env_list(w, val, "volumes", gt_volume_parse, &cfg->volumes); break;
            case 7:
                rc = parse_env_list(w, val, "environments", gt_environment_parse,
                                    &cfg->environments);
                break;
            case 8: {
                json_t *raw = yaml_json(w, val, "image_paths", true);
                gt_error_t e = {0};
                rc = !raw ? -1 : gt_image_paths_parse(raw, &cfg->image_paths, &e) < 0
                                     ? fail(w, val, "%s", e.msg) : 0;
                json_decref(raw);
                break;
            }
            case 9: rc = parse_partitions(w, val); break;
            case 10: rc = parse_idle(w, val); break;
            case 11: rc = parse_series(w, val); break;
            case 12:
                rc = get_string(w, val, "store", "a PostgreSQL URL such as "
                                "postgresql://gantry@db.example.com/gantry", &cfg->store);
                if (rc == 0 && strncmp(cfg->store, "postgresql://", 13) &&
                    strncmp(cfg->store, "postgres://", 11))
                    rc = fail(w, val, "store must be a postgresql:// URL (leave it out for "
                                      "the embedded SQLite store under the data directory)");
                break;
            }
            if (rc < 0)
                return -1;
        }
        if (check_env_volumes(w, root) < 0)
            return -1;
    }
    if (check_node_names(w) < 0)
        return -1;
    if (!cfg->nclasses) {
        add_class(cfg, &w->classes_cap, "production", 1000, false);
        add_class(cfg, &w->classes_cap, "normal", 100, true);
        add_class(cfg, &w->classes_cap, "experimental", 10, true);
    }
    if (check_partition_classes(w) < 0)
        return -1;
    if (!cfg->default_class)
        cfg->default_class = xstrdup("normal");
    for (size_t i = 0; i < cfg->nclasses; i++)
        if (!strcmp(cfg->classes[i].name, cfg->default_class))
            return 0;
    char list[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < cfg->nclasses && off < sizeof(list); i++)
        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
                                cfg->classes[i].name);
    if (default_class_node)
        return fail(w, default_class_node, "scheduler.default_priority_class %s is not a "
                                           "priority class; write one of %s",
                    cfg->default_class, list);
    return fail(w, root, "there is no priority class named normal to be the default; add "
                         "scheduler.default_priority_class: <one of %s>", list);
}

int gt_config_parse(const char *text, size_t len, gt_config_t **out, gt_error_t *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    gt_config_t *cfg = xcalloc(1, sizeof(*cfg));
    cfg->sched = (gt_sched_cfg_t){.fairshare = -1, .quotas = -1, .backfill = -1,
                                  .preemption = -1, .half_life_s = -1, .reservations = -1,
                                  .grace_s = -1, .min_runtime_s = -1, .las_nqueues = -1,
                                  .las_starvation_s = -1, .srtf_aging = -1,
                                  .srtf_unknown_s = -1, .reclaim_min_runtime_s = -1};
    cfg->volumes = json_array();
    cfg->environments = json_array();
    cfg->partitions = json_object();
    cfg->idle_threshold = 0.05;
    cfg->idle_after_s = 1800;
    *out = NULL;
    if (!yaml_parser_initialize(&parser)) {
        gt_config_free(cfg);
        errno = ENOMEM;
        return gt_error_set(err, "internal", "cannot initialise the YAML parser");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        gt_error_set(err, "invalid_config", "line %d: the file is not valid YAML: %s%s%s",
                     (int)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "unknown error",
                     parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        gt_config_free(cfg);
        errno = EINVAL;
        return -1;
    }
    /* A second document in the same file is a mistake worth reporting. */
    yaml_document_t doc2;
    int more = 0, second_line = 0;
    if (yaml_parser_load(&parser, &doc2)) {
        more = yaml_document_get_root_node(&doc2) != NULL;
        if (more)
            second_line = line_of(yaml_document_get_root_node(&doc2));
        yaml_document_delete(&doc2);
    }
    yaml_parser_delete(&parser);
    walk_t w = {.doc = &doc, .cfg = cfg, .err = err};
    int rc;
    if (more) {
        errno = EINVAL;
        rc = gt_error_set(err, "invalid_config", "line %d: a second YAML document starts "
                          "here; keep the configuration in one document (remove the ---)",
                          second_line);
    } else {
        rc = walk_document(&w);
    }
    yaml_document_delete(&doc);
    free(w.node_lines);
    free(w.part_classes);
    if (rc < 0) {
        gt_config_free(cfg);
        errno = EINVAL;
        return -1;
    }
    *out = cfg;
    return 0;
}

int gt_config_load(const char *path, gt_config_t **out, gt_error_t *err)
{
    *out = NULL;
    size_t len;
    char *text = gt_read_file(path, &len, err);
    if (!text)
        return -1;
    int rc = gt_config_parse(text, len, out, err);
    free(text);
    if (rc < 0 && err) {
        int e = errno;
        char msg[sizeof(err->msg)];
        fmt(msg, sizeof(msg), "%s", err->msg);
        fmt(err->msg, sizeof(err->msg), "%s: %s", path, msg);
        errno = e;
    }
    return rc;
}

void gt_config_free(gt_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nnodes; i++)
        node_cfg_clear(&cfg->nodes[i]);
    free(cfg->nodes);
    for (size_t i = 0; i < cfg->nteams; i++)
        team_cfg_clear(&cfg->teams[i]);
    free(cfg->teams);
    for (size_t i = 0; i < cfg->nclasses; i++) {
        free(cfg->classes[i].name);
        free(cfg->classes[i].order);
    }
    free(cfg->classes);
    free(cfg->sched.order);
    free(cfg->sched.placement);
    free(cfg->default_class);
    free(cfg->store);
    for (size_t i = 0; i < cfg->nusers; i++) {
        free(cfg->users[i].name);
        free(cfg->users[i].unix_user);
        free(cfg->users[i].team);
    }
    free(cfg->users);
    json_decref(cfg->volumes);
    json_decref(cfg->environments);
    json_decref(cfg->image_paths);
    json_decref(cfg->partitions);
    free(cfg);
}

/* ---- ranges ---- */

static int range_error(gt_error_t *err, const char *pattern, const char *why)
{
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument",
                        "node name '%s' is not valid: %s; write a name such as gpu-01 or a "
                        "range such as gpu-[001-016] or gpu-[1-4,8]", pattern, why);
}

int gt_expand_range(const char *pattern, char ***out, gt_error_t *err)
{
    *out = NULL;
    const char *open = strchr(pattern, '['), *close = strchr(pattern, ']');
    if (!*pattern)
        return range_error(err, pattern, "it is empty");
    if (!open && !close) {
        char **v = xmalloc(sizeof(*v));
        v[0] = xstrdup(pattern);
        *out = v;
        return 1;
    }
    if (!open || !close || close < open)
        return range_error(err, pattern, "its brackets do not match");
    if (strchr(open + 1, '[') || strchr(close + 1, ']'))
        return range_error(err, pattern, "it has more than one range");
    /* First pass counts and checks; second pass writes. */
    char **v = NULL;
    size_t n = 0, cap = 0;
    const char *p = open + 1;
    int prefix = (int)(open - pattern);
    while (p < close) {
        const char *a = p;
        while (p < close && *p >= '0' && *p <= '9')
            p++;
        int wa = (int)(p - a);
        if (wa == 0 || wa > 9)
            goto bad_number;
        long lo = strtol(a, NULL, 10), hi = lo;
        int width = wa;
        if (*p == '-') {
            const char *b = ++p;
            while (p < close && *p >= '0' && *p <= '9')
                p++;
            if (p == b || p - b > 9)
                goto bad_number;
            hi = strtol(b, NULL, 10);
            if (hi < lo) {
                for (size_t i = 0; i < n; i++)
                    free(v[i]);
                free(v);
                return range_error(err, pattern, "a range ends before it starts");
            }
        }
        if (p < close && *p != ',')
            goto bad_number;
        if (*p == ',') {
            p++;
            if (p == close)
                goto bad_number;
        }
        if ((size_t)(hi - lo) + n >= GT_CONFIG_MAX_NODES) {
            for (size_t i = 0; i < n; i++)
                free(v[i]);
            free(v);
            char why[64];
            fmt(why, sizeof(why), "it names more than %d nodes", GT_CONFIG_MAX_NODES);
            return range_error(err, pattern, why);
        }
        for (long i = lo; i <= hi; i++) {
            GT_GROW(v, cap, n + 1);
            size_t len = strlen(pattern) + 16;
            v[n] = xmalloc(len);
            snprintf(v[n], len, "%.*s%0*ld%s", prefix, pattern, width, i, close + 1);
            n++;
        }
    }
    if (n == 0)
        return range_error(err, pattern, "its range is empty");
    *out = v;
    return (int)n;
bad_number:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return range_error(err, pattern, "inside the brackets write numbers and ranges such as "
                                     "001-016 or 1-4,8");
}
