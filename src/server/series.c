/* series.c: the server's own time series (series.h): the model (points in memory, ageing into
 * hourly points, queries as columns), then the server's part (sampling, loading, the thread,
 * GET /v1/series). */
#include "server/series.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/timefmt.h"
#include "server/server.h"

/* A key is the point's path to a number, its parts joined by KEY_SEP ("gpus" SEP "free"). */
#define KEY_SEP '\x1f'
#define HOUR 3600

typedef struct point {
    int64_t t;
    int res;                 /* 0 raw, 1 hourly */
    uint32_t n;              /* values v[0..n): by key index; NAN: no value */
    double *v;
} point_t;

typedef struct job_hist {
    uint64_t id;
    uint32_t n;
    int64_t t[SERIES_JOB_POINTS];
    float util[SERIES_JOB_POINTS], mem[SERIES_JOB_POINTS];
} job_hist_t;

struct series {
    pthread_mutex_t mu;      /* guards everything below (the API reads while the thread adds) */
    int64_t interval_s, retention_s;
    char **keys;
    size_t nkeys, keys_cap;
    json_t *key_index;       /* key -> its index */
    point_t *pts;            /* in time order */
    size_t npts, pts_cap;
    job_hist_t **jobs;       /* by id, ascending */
    size_t njobs, jobs_cap;
    /* the server's thread */
    pthread_t thread;
    pthread_cond_t wake;
    bool started;
};

series_t *series_new(int64_t interval_s, int64_t retention_s)
{
    series_t *s = xcalloc(1, sizeof(*s));
    s->interval_s = interval_s < 1 ? 1 : interval_s;
    s->retention_s = retention_s < s->interval_s ? s->interval_s : retention_s;
    s->key_index = json_object();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    return s;
}

void series_free(series_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nkeys; i++)
        free(s->keys[i]);
    free(s->keys);
    for (size_t i = 0; i < s->npts; i++)
        free(s->pts[i].v);
    free(s->pts);
    for (size_t i = 0; i < s->njobs; i++)
        free(s->jobs[i]);
    free(s->jobs);
    json_decref(s->key_index);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    free(s);
}

int64_t series_interval(const series_t *s) { return s->interval_s; }

size_t series_count(const series_t *s)
{
    series_t *m = (series_t *)s;
    pthread_mutex_lock(&m->mu);
    size_t n = s->npts;
    pthread_mutex_unlock(&m->mu);
    return n;
}

static size_t key_get(series_t *s, const char *key)
{
    json_t *k = json_object_get(s->key_index, key);
    if (k)
        return (size_t)json_integer_value(k);
    GT_GROW(s->keys, s->keys_cap, s->nkeys + 1);
    s->keys[s->nkeys] = xstrdup(key);
    json_object_set_new(s->key_index, key, json_integer((json_int_t)s->nkeys));
    return s->nkeys++;
}

/* Sets p's value of key (p->v grown to the keys known). */
static void point_set(series_t *s, point_t *p, const char *key, double v)
{
    size_t k = key_get(s, key);
    if (k >= p->n) {
        p->v = xrealloc(p->v, s->nkeys * sizeof(*p->v));
        for (size_t i = p->n; i < s->nkeys; i++)
            p->v[i] = NAN;
        p->n = (uint32_t)s->nkeys;
    }
    p->v[k] = v;
}

static void flatten(series_t *s, point_t *p, const json_t *o, gt_buf_t *path)
{
    size_t base = path->len;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        path->len = base;
        if (base)
            gt_buf_append(path, (char[]){KEY_SEP}, 1);
        gt_buf_append(path, k, strlen(k)); /* NUL-terminated */
        if (json_is_object(v))
            flatten(s, p, v, path);
        else if (json_is_number(v) && isfinite(json_number_value(v)))
            point_set(s, p, path->data, json_number_value(v));
    }
    path->len = base;
}

int series_add(series_t *s, int res, int64_t t, const json_t *point)
{
    if (!json_is_object(point) || (res != 0 && res != 1)) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    if (s->npts && s->pts[s->npts - 1].t >= t) {
        pthread_mutex_unlock(&s->mu);
        errno = EINVAL;
        return -1;
    }
    GT_GROW(s->pts, s->pts_cap, s->npts + 1);
    point_t *p = &s->pts[s->npts];
    *p = (point_t){.t = t, .res = res};
    gt_buf_t path = {0};
    flatten(s, p, point, &path);
    gt_buf_free(&path);
    s->npts++;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* The nested object of key paths -> leaf(i) for the keys with have[k]. */
static json_t *unflatten(const series_t *s, const bool *have, json_t *(*leaf)(void *, size_t),
                         void *arg)
{
    json_t *root = json_object();
    for (size_t k = 0; k < s->nkeys; k++) {
        if (!have[k])
            continue;
        json_t *o = root;
        char *key = xstrdup(s->keys[k]), *part = key, *sep;
        while ((sep = strchr(part, KEY_SEP))) {
            *sep = 0;
            json_t *next = json_object_get(o, part);
            if (!json_is_object(next)) {
                next = json_object();
                json_object_set_new(o, part, next);
            }
            o = next;
            part = sep + 1;
        }
        json_object_set_new(o, part, leaf(arg, k));
        free(key);
    }
    return root;
}

typedef struct mean_acc {
    double *sum;
    size_t *cnt;
} mean_acc_t;

static json_t *mean_leaf(void *arg, size_t k)
{
    mean_acc_t *a = arg;
    return json_real(a->sum[k] / (double)a->cnt[k]);
}

static void acc_add(mean_acc_t *a, const point_t *p)
{
    for (uint32_t k = 0; k < p->n; k++)
        if (!isnan(p->v[k])) {
            a->sum[k] += p->v[k];
            a->cnt[k]++;
        }
}

static char *hourly_doc(const series_t *s, const point_t *from, size_t n, point_t *out)
{
    mean_acc_t a = {xcalloc(s->nkeys + 1, sizeof(double)), xcalloc(s->nkeys + 1, sizeof(size_t))};
    bool *have = xcalloc(s->nkeys + 1, sizeof(bool));
    for (size_t i = 0; i < n; i++)
        acc_add(&a, &from[i]);
    out->n = (uint32_t)s->nkeys;
    out->v = xcalloc(s->nkeys + 1, sizeof(double));
    for (size_t k = 0; k < s->nkeys; k++) {
        have[k] = a.cnt[k] > 0;
        out->v[k] = have[k] ? a.sum[k] / (double)a.cnt[k] : NAN;
    }
    json_t *o = unflatten(s, have, mean_leaf, &a);
    char *doc = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    free(a.sum);
    free(a.cnt);
    free(have);
    return doc;
}

static void push_op(store_op_t **ops, size_t *nops, size_t *cap, store_op_t op)
{
    GT_GROW(*ops, *cap, *nops + 1);
    (*ops)[(*nops)++] = op;
}

static int64_t floor_to(int64_t t, int64_t step)
{
    return t >= 0 ? t / step * step : -((-t + step - 1) / step) * step;
}

size_t series_compact(series_t *s, int64_t now, store_op_t **ops, size_t *nops, size_t *cap)
{
    pthread_mutex_lock(&s->mu);
    int64_t raw_cut = now - s->retention_s, hourly_cut = now - SERIES_HOURLY_KEEP_S;
    point_t *out = xcalloc(s->npts + 1, sizeof(*out));
    size_t nout = 0, changed = 0, i = 0;
    bool dropped_hourly = false;
    while (i < s->npts) {
        point_t *p = &s->pts[i];
        if (p->res == 1) {
            if (p->t < hourly_cut) {
                free(p->v);
                dropped_hourly = true;
                changed++;
            } else {
                out[nout++] = *p;
            }
            i++;
            continue;
        }
        int64_t h = floor_to(p->t, HOUR);
        if (h + HOUR > raw_cut) { /* its hour is not all past the retention: kept, and so
                                     are all that follow (time order) */
            out[nout++] = *p;
            i++;
            continue;
        }
        size_t j = i;
        while (j < s->npts && s->pts[j].res == 0 && floor_to(s->pts[j].t, HOUR) == h)
            j++;
        point_t hp = {.t = h, .res = 1};
        char *doc = hourly_doc(s, &s->pts[i], j - i, &hp);
        push_op(ops, nops, cap, (store_op_t){.kind = STORE_SERIES_DEL, .id = 0, .n = h,
                                             .m = h + HOUR});
        if (h >= hourly_cut) {
            push_op(ops, nops, cap, (store_op_t){.kind = STORE_SERIES_PUT, .id = 1, .n = h,
                                                 .d = doc});
            out[nout++] = hp;
        } else {
            free(doc);
            free(hp.v);
        }
        changed += j - i;
        for (size_t k = i; k < j; k++)
            free(s->pts[k].v);
        i = j;
    }
    if (dropped_hourly)
        push_op(ops, nops, cap, (store_op_t){.kind = STORE_SERIES_DEL, .id = 1, .n = INT64_MIN,
                                             .m = hourly_cut});
    free(s->pts);
    s->pts = out;
    s->npts = nout;
    s->pts_cap = s->npts + 1;
    pthread_mutex_unlock(&s->mu);
    return changed;
}

/* The first point with t >= since. */
static size_t lower_bound(const series_t *s, int64_t since)
{
    size_t lo = 0, hi = s->npts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->pts[mid].t < since)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct cols {
    json_t **arr;            /* by key */
} cols_t;

static json_t *col_leaf(void *arg, size_t k)
{
    return json_incref(((cols_t *)arg)->arr[k]);
}

json_t *series_query(const series_t *cs, int64_t since, int64_t until, size_t max_points)
{
    series_t *s = (series_t *)cs;
    if (max_points < 1)
        max_points = 1;
    pthread_mutex_lock(&s->mu);
    size_t lo = lower_bound(s, since), hi = lower_bound(s, until + 1);
    if (hi < lo)
        hi = lo;
    size_t n = hi - lo;
    int64_t step = s->interval_s;
    if (n > max_points) {
        int64_t span = until - since + 1;
        step = (span + (int64_t)max_points - 1) / (int64_t)max_points;
        step = (step + s->interval_s - 1) / s->interval_s * s->interval_s;
    }
    size_t nk = s->nkeys;
    json_t *time = json_array();
    cols_t c = {xcalloc(nk + 1, sizeof(json_t *))};
    bool *have = xcalloc(nk + 1, sizeof(bool));
    for (size_t k = 0; k < nk; k++)
        c.arr[k] = json_array();
    mean_acc_t a = {xcalloc(nk + 1, sizeof(double)), xcalloc(nk + 1, sizeof(size_t))};
    size_t i = lo;
    while (i < hi) {
        /* One row: a point alone, or every point of its bucket when averaging. */
        int64_t b = n > max_points ? since + floor_to(s->pts[i].t - since, step) : s->pts[i].t;
        size_t j = i;
        memset(a.sum, 0, nk * sizeof(double));
        memset(a.cnt, 0, nk * sizeof(size_t));
        do
            acc_add(&a, &s->pts[j++]);
        while (n > max_points && j < hi && s->pts[j].t < b + step);
        json_array_append_new(time, json_integer(b));
        for (size_t k = 0; k < nk; k++) {
            if (a.cnt[k]) {
                have[k] = true;
                double v = a.sum[k] / (double)a.cnt[k];
                json_array_append_new(c.arr[k], v == floor(v) && fabs(v) < 1e15
                                                    ? json_integer((json_int_t)v)
                                                    : json_real(v));
            } else {
                json_array_append_new(c.arr[k], json_null());
            }
        }
        i = j;
    }
    json_t *o = unflatten(s, have, col_leaf, &c);
    pthread_mutex_unlock(&s->mu);
    json_object_set_new(o, "interval", json_integer(s->interval_s));
    json_object_set_new(o, "since", json_integer(since));
    json_object_set_new(o, "until", json_integer(until));
    json_object_set_new(o, "step", json_integer(step));
    json_object_set_new(o, "time", time);
    for (size_t k = 0; k < nk; k++)
        json_decref(c.arr[k]);
    free(c.arr);
    free(have);
    free(a.sum);
    free(a.cnt);
    return o;
}

/* ---- per job ---- */

/* The index of job's history, or where it would go (*found false). Caller holds mu. */
static size_t job_find(const series_t *s, uint64_t job, bool *found)
{
    size_t lo = 0, hi = s->njobs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->jobs[mid]->id < job)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < s->njobs && s->jobs[lo]->id == job;
    return lo;
}

void series_job_add(series_t *s, uint64_t job, int64_t t, double util, double mem_mib)
{
    pthread_mutex_lock(&s->mu);
    bool found;
    size_t i = job_find(s, job, &found);
    if (!found) {
        GT_GROW(s->jobs, s->jobs_cap, s->njobs + 1);
        memmove(&s->jobs[i + 1], &s->jobs[i], (s->njobs - i) * sizeof(*s->jobs));
        s->jobs[i] = xcalloc(1, sizeof(job_hist_t));
        s->jobs[i]->id = job;
        s->njobs++;
    }
    job_hist_t *h = s->jobs[i];
    if (h->n && h->t[h->n - 1] >= t) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (h->n == SERIES_JOB_POINTS) {
        /* Full: each two neighbours become one, at the first one's time. */
        for (uint32_t k = 0; k < h->n / 2; k++) {
            h->t[k] = h->t[2 * k];
            h->util[k] = (h->util[2 * k] + h->util[2 * k + 1]) / 2;
            h->mem[k] = (h->mem[2 * k] + h->mem[2 * k + 1]) / 2;
        }
        h->n /= 2;
    }
    h->t[h->n] = t;
    h->util[h->n] = (float)util;
    h->mem[h->n] = (float)mem_mib;
    h->n++;
    pthread_mutex_unlock(&s->mu);
}

void series_job_forget(series_t *s, uint64_t job)
{
    pthread_mutex_lock(&s->mu);
    bool found;
    size_t i = job_find(s, job, &found);
    if (found) {
        free(s->jobs[i]);
        memmove(&s->jobs[i], &s->jobs[i + 1], (s->njobs - i - 1) * sizeof(*s->jobs));
        s->njobs--;
    }
    pthread_mutex_unlock(&s->mu);
}

size_t series_job_ids(series_t *s, uint64_t **ids)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->njobs;
    *ids = xcalloc(n + 1, sizeof(**ids));
    for (size_t i = 0; i < n; i++)
        (*ids)[i] = s->jobs[i]->id;
    pthread_mutex_unlock(&s->mu);
    return n;
}

json_t *series_job_query(series_t *s, uint64_t job)
{
    json_t *t = json_array(), *u = json_array(), *m = json_array();
    pthread_mutex_lock(&s->mu);
    bool found;
    size_t i = job_find(s, job, &found);
    for (uint32_t k = 0; found && k < s->jobs[i]->n; k++) {
        job_hist_t *h = s->jobs[i];
        json_array_append_new(t, json_integer(h->t[k]));
        json_array_append_new(u, json_real(h->util[k]));
        json_array_append_new(m, json_real(h->mem[k]));
    }
    pthread_mutex_unlock(&s->mu);
    return json_pack("{s:I,s:o,s:o,s:o}", "job", (json_int_t)job, "time", t, "utilization", u,
                     "memory_used_mib", m);
}

/* ---- the server's part ---- */

static void count_in(json_t *o, const char *key, double by)
{
    json_t *v = json_object_get(o, key);
    json_object_set_new(o, key, json_real((v ? json_number_value(v) : 0) + by));
}

json_t *series_sample(server_t *srv)
{
    double allocated = 0, free_ok = 0, unavailable = 0, total = 0, util_sum = 0;
    size_t util_n = 0;
    for (size_t i = 0; i < srv->nnodes; i++) {
        node_t *n = srv->nodes[i];
        sched_node_info_t ni = {0};
        if (n->sched_idx < 0 || sched_node_info(srv->sched, n->sched_idx, &ni) < 0)
            continue;
        total += ni.gpus;
        allocated += (double)ni.gpu_milli_used / 1000.0;
        bool usable = n->up && n->epoch && ni.up && ni.schedulable;
        double idle = ni.gpus - (double)ni.gpu_milli_used / 1000.0;
        if (idle < 0)
            idle = 0;
        if (usable)
            free_ok += idle;
        else
            unavailable += idle;
        if (!n->up)
            continue;
        size_t k;
        json_t *g;
        json_array_foreach(n->gpu_stats, k, g)
        {
            json_t *u = json_object_get(g, "utilization");
            if (json_is_number(u) && json_number_value(u) >= 0) {
                util_sum += json_number_value(u);
                util_n++;
            }
        }
    }
    json_t *pending = json_object();
    double running = 0, npending = 0;
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j)
            continue;
        if (j->state == JOB_RUNNING) {
            running++;
            continue;
        }
        if (j->state != JOB_PENDING)
            continue;
        npending++;
        const char *reason = NULL;
        if (!j->in_sched) {
            gate_why_t why = {0};
            server_job_gate(srv, j, &why);
            reason = why.reason ? why.reason : "none";
        } else {
            sched_job_info_t info;
            reason = sched_job_info(srv->sched, j->id, &info) == 0
                         ? sched_reason_name(info.reason) : "none";
        }
        count_in(pending, reason, 1);
    }
    json_t *teams = json_object();
    for (size_t i = 0; i < srv->nteams; i++) {
        team_t *t = &srv->teams[i];
        sched_team_info_t ti = {0};
        sched_team_info(srv->sched, t->sched_idx, &ti);
        double q = t->quota_milli / 1000.0, a = ti.allocated_milli / 1000.0;
        json_object_set_new(teams, t->name, json_pack("{s:f,s:f,s:f}", "quota", q, "allocated",
                                                      a, "borrowed", a > q ? a - q : 0.0));
    }
    json_t *o = json_pack("{s:{s:f,s:f,s:f,s:f},s:{s:f,s:f},s:o,s:o}", "gpus", "allocated",
                          allocated, "free", free_ok, "unavailable", unavailable, "total", total,
                          "jobs", "running", running, "pending", npending, "pending", pending,
                          "teams", teams);
    if (util_n)
        json_object_set_new(o, "utilization", json_real(util_sum / (double)util_n));
    return o;
}

/* Each running job's GPUs as its nodes' last heartbeats report them (NVML nodes): their mean
 * utilization and summed memory, added to its history; the histories of purged jobs go.
 * Caller holds srv->mu. */
static void sample_jobs(server_t *srv, int64_t t)
{
    series_t *s = srv->series;
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j || j->state != JOB_RUNNING)
            continue;
        double util = 0, mem = 0;
        size_t n = 0;
        for (int r = 0; r < j->nslots; r++) {
            node_t *node = server_node(srv, j->slots[r].node);
            size_t k;
            json_t *g;
            json_array_foreach(node ? node->gpu_stats : NULL, k, g)
            {
                json_int_t idx = json_integer_value(json_object_get(g, "index"));
                json_t *u = json_object_get(g, "utilization");
                if (idx < 0 || idx >= 64 || !(j->slots[r].gpu_mask >> idx & 1) ||
                    !json_is_number(u) || json_number_value(u) < 0)
                    continue;
                util += json_number_value(u);
                mem += json_number_value(json_object_get(g, "memory_used_mib"));
                n++;
            }
        }
        if (n)
            series_job_add(s, j->id, t, util / (double)n, mem);
    }
    uint64_t *ids;
    size_t n = series_job_ids(s, &ids);
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= srv->next_id || !srv->jobs[ids[i]])
            series_job_forget(s, ids[i]);
    free(ids);
}

static int on_stored_point(void *arg, int res, int64_t t, const char *doc)
{
    json_t *o = json_loads(doc, 0, NULL);
    int rc = o ? series_add(arg, res, t, o) : -1;
    json_decref(o);
    return rc;
}

int series_load(server_t *srv, gt_error_t *err)
{
    srv->series = series_new(srv->series_interval_s, srv->series_retention_s);
    return store_load_series(srv->store, on_stored_point, srv->series, err);
}

static void free_ops(store_op_t *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)ops[i].d);
    free(ops);
}

static void *series_main(void *arg)
{
    server_t *srv = arg;
    series_t *s = srv->series;
    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) {
        double now = server_now();
        int64_t t = floor_to((int64_t)now, s->interval_s);
        json_t *p = series_sample(srv);
        sample_jobs(srv, t);
        pthread_mutex_unlock(&srv->mu);
        /* The store's writes queue outside the server's lock: nothing else depends on them. */
        store_op_t *ops = NULL;
        size_t nops = 0, cap = 0;
        if (series_add(s, 0, t, p) == 0) {
            char *doc = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(9));
            push_op(&ops, &nops, &cap, (store_op_t){.kind = STORE_SERIES_PUT, .id = 0, .n = t,
                                                    .d = doc});
        }
        json_decref(p);
        series_compact(s, (int64_t)now, &ops, &nops, &cap);
        if (nops)
            store_enqueue(srv->store, ops, nops);
        free_ops(ops, nops);
        /* The next point at the next multiple of the interval. */
        double next = (double)(t + s->interval_s);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double wake = (double)ts.tv_sec + ts.tv_nsec / 1e9 + (next - server_now());
        ts.tv_sec = (time_t)wake;
        ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
        pthread_mutex_lock(&srv->mu);
        while (!srv->stopping && server_now() < next)
            if (pthread_cond_timedwait(&s->wake, &srv->mu, &ts) != 0)
                break;
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

int series_start(server_t *srv, gt_error_t *err)
{
    series_t *s = srv->series;
    if (pthread_create(&s->thread, NULL, series_main, srv) != 0)
        return gt_error_set(err, "internal", "cannot start the time series thread");
    s->started = true;
    return 0;
}

void series_stop(server_t *srv)
{
    series_t *s = srv->series;
    if (!s || !s->started)
        return;
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&srv->mu);
    pthread_join(s->thread, NULL);
    s->started = false;
}

static int time_arg(http_req_t *req, const char *key, double now, double dflt, double *out,
                    http_resp_t *resp)
{
    const char *v = http_query(req, key);
    gt_error_t err = {0};
    *out = dflt;
    if (v && gt_time_parse(v, now, out, &err) < 0) {
        http_error(resp, 400, "invalid_argument", "%s: %s", key, err.msg);
        return -1;
    }
    return 0;
}

int api_series(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/series");
    const char *ref = http_query(req, "job");
    if (ref) {
        pthread_mutex_lock(&srv->mu);
        job_t *j = server_job_ref(srv, ref);
        uint64_t id = j && auth_can_see_team(&req->who, j->team) ? j->id : 0;
        pthread_mutex_unlock(&srv->mu);
        /* Another team's job is answered as a missing one (GET /v1/jobs/ID). */
        if (!id)
            return http_error(resp, 404, "not_found", "job %s does not exist", ref);
        json_t *o = series_job_query(srv->series, id);
        resp->text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
        resp->content_type = "application/json";
        json_decref(o);
        return 0;
    }
    double now = server_now(), since, until;
    if (time_arg(req, "since", now, now - 6 * 3600, &since, resp) < 0 ||
        time_arg(req, "until", now, now, &until, resp) < 0)
        return 0;
    if (until < since)
        return http_error(resp, 400, "invalid_argument", "until (%.0f) is before since (%.0f)",
                          until, since);
    int64_t points = SERIES_DEFAULT_POINTS;
    const char *pv = http_query(req, "points");
    gt_error_t err = {0};
    if (pv && gt_parse_int64(pv, 1, SERIES_MAX_POINTS, &points, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "points: %s", err.msg);
    json_t *o = series_query(srv->series, (int64_t)floor(since), (int64_t)floor(until),
                             (size_t)points);
    /* Six digits are plenty for a chart, and keep the answer small. */
    resp->text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    resp->content_type = "application/json";
    json_decref(o);
    return 0;
}
