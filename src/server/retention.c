/* retention.c: finished jobs older than the retention are purged from memory, the store and the
 * log directory; what /v1/usage needs of them is kept in aggregate first.
 *
 * The aggregate: GPU-seconds and job counts per (UTC day, team, user), with the span of the
 * day that usage lies in, in memory and in the store's meta table ("usage.gpu_us:",
 * "usage.jobs:", "usage.lo_ms:", "usage.hi_ms:" + DAY ":" + LEN ":" + team + user, so that no
 * name can be taken for another). A job's GPU-seconds go to the days its runs covered (split at
 * midnight UTC); the job itself is counted on the day its last run ended. A usage window that
 * holds a bucket's span counts it exactly; one that cuts it, pro rata. A purge pass writes the aggregate's new values and the
 * jobs' deletions in one store batch, waits until it is durable, and only then changes memory
 * (so the totals /v1/usage answers never count a job twice or miss it).
 *
 * A finished job that a job not yet ended names in its dependencies is kept until that one ends: a
 * dependent always finds its dependencies as they ended, also after a restart. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"
#include "server/tracking.h"

#define DAY_S 86400
#define PURGE_BATCH 1000
/* The meta keys of a bucket: prefix + DAY ":" + LEN ":" + team + user. */
static const char *const prefixes[] = {"usage.gpu_us:", "usage.jobs:", "usage.lo_ms:",
                                       "usage.hi_ms:"};
#define NPREFIXES 4

typedef struct usage_bucket {
    int64_t day;             /* days since the epoch, UTC */
    char *team, *user;
    double gpu_s;
    int64_t jobs;
    double lo, hi;           /* the span of the day its usage lies in */
} usage_bucket_t;

struct retention {
    usage_bucket_t *b;
    size_t n, cap;
    json_t *index;           /* bucket key (without prefix) -> index in b */
    pthread_t thread;
    bool started;
    pthread_cond_t wake;     /* stop */
    uint64_t purged;         /* jobs purged since start */
};

static void bucket_key(gt_buf_t *k, int64_t day, const char *team, const char *user)
{
    gt_buf_printf(k, "%" PRId64 ":%zu:%s%s", day, strlen(team), team, user);
}

static usage_bucket_t *bucket_get(retention_t *r, int64_t day, const char *team,
                                  const char *user)
{
    gt_buf_t k = {0};
    bucket_key(&k, day, team, user);
    json_t *v = json_object_get(r->index, k.data);
    if (v) {
        gt_buf_free(&k);
        return &r->b[json_integer_value(v)];
    }
    GT_GROW(r->b, r->cap, r->n + 1);
    usage_bucket_t *b = &r->b[r->n];
    *b = (usage_bucket_t){.day = day, .team = xstrdup(team), .user = xstrdup(user)};
    json_object_set_new(r->index, k.data, json_integer((json_int_t)r->n));
    r->n++;
    gt_buf_free(&k);
    return b;
}

/* Widens b's span to hold [lo, hi]. */
static void bucket_span(usage_bucket_t *b, double lo, double hi)
{
    if (b->lo <= 0 || lo < b->lo)
        b->lo = lo;
    if (hi > b->hi)
        b->hi = hi;
}

/* Parses "DAY:LEN:team+user" (a key without its prefix). */
static int bucket_parse(const char *s, int64_t *day, char **team, char **user)
{
    char *end;
    errno = 0;
    long long d = strtoll(s, &end, 10);
    if (errno || end == s || *end != ':')
        return -1;
    const char *p = end + 1;
    unsigned long long len = strtoull(p, &end, 10);
    if (end == p || *end != ':' || strlen(end + 1) < len)
        return -1;
    *day = d;
    *team = strndup(end + 1, len);
    *user = xstrdup(end + 1 + len);
    return *team ? 0 : -1;
}

static int on_meta(void *arg, const char *key, int64_t value)
{
    retention_t *r = arg;
    int k = 0;
    while (k < NPREFIXES && strncmp(key, prefixes[k], strlen(prefixes[k])))
        k++;
    int64_t day;
    char *team, *user;
    if (k == NPREFIXES || bucket_parse(key + strlen(prefixes[k]), &day, &team, &user) < 0)
        return -1;
    usage_bucket_t *b = bucket_get(r, day, team, user);
    switch (k) {
    case 0: b->gpu_s = (double)value / 1e6; break;
    case 1: b->jobs = value; break;
    case 2: b->lo = (double)value / 1e3; break;
    default: b->hi = (double)value / 1e3; break;
    }
    free(team);
    free(user);
    return 0;
}

int retention_load(server_t *srv, gt_error_t *err)
{
    retention_t *r = xcalloc(1, sizeof(*r));
    r->index = json_object();
    pthread_cond_init(&r->wake, NULL);
    srv->retention = r;
    /* One pass over every "usage." key. */
    return store_load_meta(srv->store, "usage.", on_meta, r, err);
}

/* Run r of job j: those before a requeue (preemption, node lost), then the current one (until
 * now if it goes on). false past the last run. */
static bool job_run_span(const job_t *j, size_t r, double now, double *s, double *e)
{
    size_t nruns = json_array_size(j->earlier_runs);
    if (r < nruns) {
        json_t *run = json_array_get(j->earlier_runs, r);
        *s = json_number_value(json_object_get(run, "start_time"));
        *e = json_number_value(json_object_get(run, "end_time"));
        return true;
    }
    /* A requeued job's last run is among the earlier ones, and stays its last when it ends
     * (cancelled) before starting again: its start_time is still that run's. */
    if (r > nruns || j->start_time <= 0 || j->state == JOB_PENDING)
        return false;
    if (nruns && j->start_time <= json_number_value(json_object_get(
                                      json_array_get(j->earlier_runs, nruns - 1), "start_time")))
        return false;
    *s = j->start_time;
    *e = j->end_time > 0 ? j->end_time : now;
    return true;
}

double usage_job_gpu_s(const job_t *j, double t0, double t1, double now)
{
    if (j->start_time <= 0)
        return 0;
    double gpu_s = 0, s, e;
    for (size_t r = 0; job_run_span(j, r, now, &s, &e); r++) {
        if (s < t0)
            s = t0;
        if (e > t1)
            e = t1;
        if (e > s)
            gpu_s += (e - s) * (double)j->gpus_milli / 1000.0;
    }
    return gpu_s;
}

json_t *usage_row_add(json_t *acc, const char *by, const char *k, double gpu_s, int64_t jobs)
{
    json_t *row = json_object_get(acc, k);
    if (!row) {
        row = json_pack("{s:s,s:f,s:i}", by, k, "gpu_hours", 0.0, "jobs", 0);
        json_object_set_new(acc, k, row);
    }
    json_object_set_new(row, "gpu_hours",
                        json_real(json_real_value(json_object_get(row, "gpu_hours")) +
                                  gpu_s / 3600.0));
    json_object_set_new(row, "jobs",
                        json_integer(json_integer_value(json_object_get(row, "jobs")) + jobs));
    return row;
}

void retention_usage(server_t *srv, json_t *acc, const auth_principal_t *who, const char *by,
                     double t0, double t1)
{
    retention_t *r = srv->retention;
    for (size_t i = 0; r && i < r->n; i++) {
        usage_bucket_t *b = &r->b[i];
        if (!auth_can_see_team(who, b->team))
            continue;
        /* The part of the bucket's span inside [t0, t1]: exact when the window holds the span
         * (a whole day does), pro rata when it cuts it. */
        double s = b->lo > t0 ? b->lo : t0, e = b->hi < t1 ? b->hi : t1;
        if (e < s || (e == s && b->hi > b->lo))
            continue;
        double part = b->hi > b->lo ? (e - s) / (b->hi - b->lo) : 1;
        const char *k = !strcmp(by, "user") ? b->user : !strcmp(by, "team") ? b->team
                                                                             : "(purged)";
        json_t *row = usage_row_add(acc, by, k, b->gpu_s * part, b->jobs);
        if (!strcmp(k, "(purged)"))
            json_object_set_new(row, "purged", json_true());
    }
}

/* A job's contribution to the buckets (memory only): per day, what usage_job_gpu_s() counts
 * for that day's window, so that whole-day windows give exactly what the job gave. */
static void add_job(retention_t *r, const job_t *j, double now)
{
    double first = 0, last = 0, s, e;
    for (size_t k = 0; job_run_span(j, k, now, &s, &e); k++) {
        if (s > 0 && (first <= 0 || s < first))
            first = s;
        if (e > last)
            last = e;
    }
    if (first <= 0 || last <= first)
        return;
    double total = 0;
    for (int64_t day = (int64_t)floor(first / DAY_S); (double)day * DAY_S < last; day++) {
        double ds = (double)day * DAY_S, de = ds + DAY_S;
        double g = usage_job_gpu_s(j, ds, de, now);
        if (g > 0) {
            usage_bucket_t *b = bucket_get(r, day, j->team, j->user);
            b->gpu_s += g;
            bucket_span(b, first > ds ? first : ds, last < de ? last : de);
            total += g;
        }
    }
    if (total > 0) {
        usage_bucket_t *b = bucket_get(r, (int64_t)floor(last / DAY_S), j->team, j->user);
        b->jobs++;
        bucket_span(b, last, last);
    }
}

/* The store ops (NPREFIXES) that write bucket b's current values; keys[] hold their keys. */
static void bucket_ops(const usage_bucket_t *b, store_op_t *ops, gt_buf_t *keys)
{
    int64_t v[NPREFIXES] = {(int64_t)llround(b->gpu_s * 1e6), b->jobs,
                            (int64_t)floor(b->lo * 1e3), (int64_t)ceil(b->hi * 1e3)};
    for (int k = 0; k < NPREFIXES; k++) {
        gt_buf_printf(&keys[k], "%s", prefixes[k]);
        bucket_key(&keys[k], b->day, b->team, b->user);
        ops[k] = (store_op_t){.kind = STORE_META_PUT, .a = keys[k].data, .n = v[k]};
    }
}

int retention_purge(server_t *srv, double cutoff, size_t *purged, gt_error_t *err)
{
    *purged = 0;
    retention_t *r = srv->retention;
    size_t nids = srv->next_id;
    /* Jobs named in the dependencies of jobs that have not ended are kept (an array's every
     * task when it is named by its id). */
    uint8_t *needed = xcalloc(nids ? nids : 1, 1);
    for (size_t id = 1; id < nids; id++) {
        job_t *j = srv->jobs[id];
        if (!j || (job_state_terminal(j->state) && !j->stopping))
            continue;
        size_t i;
        json_t *d;
        json_array_foreach(j->dependencies, i, d)
        {
            uint64_t first, n;
            server_gate_dep_targets(srv, d, &first, &n);
            for (uint64_t k = first; k < first + n && k < nids; k++)
                needed[k] = 1;
        }
    }
    uint64_t *ids = xcalloc(PURGE_BATCH, sizeof(*ids));
    size_t n = 0;
    for (size_t id = 1; id < nids && n < PURGE_BATCH; id++) {
        job_t *j = srv->jobs[id];
        if (j && job_state_terminal(j->state) && !j->stopping && j->end_time > 0 &&
            j->end_time < cutoff && !needed[id])
            ids[n++] = id;
    }
    free(needed);
    if (!n) {
        free(ids);
        return 0;
    }
    /* The buckets as they will be: computed on a copy of the touched ones. */
    double now = server_now();
    retention_t scratch = {.index = json_object()};
    for (size_t i = 0; i < n; i++)
        add_job(&scratch, srv->jobs[ids[i]], now);
    store_op_t *ops = xcalloc(NPREFIXES * scratch.n + n, sizeof(*ops));
    gt_buf_t *keys = xcalloc(NPREFIXES * scratch.n + 1, sizeof(*keys));
    size_t nops = 0;
    for (size_t i = 0; i < scratch.n; i++) {
        usage_bucket_t *sb = &scratch.b[i];
        usage_bucket_t sum = *sb;
        gt_buf_t k = {0};
        bucket_key(&k, sb->day, sb->team, sb->user);
        json_t *v = json_object_get(r->index, k.data);
        gt_buf_free(&k);
        if (v) {
            usage_bucket_t *old = &r->b[json_integer_value(v)];
            sum.gpu_s += old->gpu_s;
            sum.jobs += old->jobs;
            bucket_span(&sum, old->lo, old->hi);
        }
        bucket_ops(&sum, &ops[nops], &keys[NPREFIXES * i]);
        nops += NPREFIXES;
    }
    for (size_t i = 0; i < n; i++)
        ops[nops++] = (store_op_t){.kind = STORE_JOB_DELETE, .id = ids[i]};
    /* Durable first; memory changes only once the store has it (the caller holds mu, so
     * nothing else changes these jobs meanwhile). */
    int rc = store_wait(srv->store, store_enqueue_client(srv->store, ops, nops), err);
    for (size_t i = 0; i < NPREFIXES * scratch.n; i++)
        gt_buf_free(&keys[i]);
    free(keys);
    free(ops);
    if (rc == 0) {
        for (size_t i = 0; i < scratch.n; i++) {
            usage_bucket_t *sb = &scratch.b[i], *b = bucket_get(r, sb->day, sb->team, sb->user);
            b->gpu_s += sb->gpu_s;
            b->jobs += sb->jobs;
            bucket_span(b, sb->lo, sb->hi);
        }
        for (size_t i = 0; i < n; i++) {
            job_t *j = srv->jobs[ids[i]];
            for (int inc = 1; inc <= j->incarnation; inc++) {
                /* one log per node of the run (rank 0's when its nodes are not known) */
                int ranks = api_log_run_count(j, inc);
                for (int r = 0; r < (ranks > 0 ? ranks : 1); r++) {
                    char path[4200];
                    api_log_rank_path(srv, j->id, inc, r, "stdout", path, sizeof(path));
                    unlink(path);
                    api_log_rank_path(srv, j->id, inc, r, "stderr", path, sizeof(path));
                    unlink(path);
                }
            }
            tracking_forget(srv->tracking, j->id);
            server_idem_remove(srv, j);
            srv->jobs[ids[i]] = NULL;
            job_free(j);
        }
        r->purged += n;
        *purged = n;
    }
    for (size_t i = 0; i < scratch.n; i++) {
        free(scratch.b[i].team);
        free(scratch.b[i].user);
    }
    free(scratch.b);
    json_decref(scratch.index);
    free(ids);
    return rc;
}

static void *retention_main(void *arg)
{
    server_t *srv = arg;
    retention_t *r = srv->retention;
    /* Checked a tenth of the retention apart: at least every second, at most every 10 min. */
    double every = (double)srv->retention_s / 10;
    every = every < 1 ? 1 : every > 600 ? 600 : every;
    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) {
        size_t n = 0, total = 0;
        gt_error_t err = {0};
        do {
            if (retention_purge(srv, server_now() - (double)srv->retention_s, &n, &err) < 0) {
                fprintf(stderr, "gantry server: purging finished jobs failed (%s); retried "
                                "later.\n", err.msg);
                break;
            }
            total += n;
            if (n == PURGE_BATCH) {
                /* Others get the lock between batches. */
                pthread_mutex_unlock(&srv->mu);
                sched_yield();
                pthread_mutex_lock(&srv->mu);
            }
        } while (n == PURGE_BATCH && !srv->stopping);
        if (total)
            fprintf(stderr, "gantry server: purged %zu finished jobs that ended more than %lld s "
                            "ago (retention); their usage is kept in aggregate.\n", total,
                    (long long)srv->retention_s);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double wake = (double)ts.tv_sec + ts.tv_nsec / 1e9 + every;
        ts.tv_sec = (time_t)wake;
        ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
        if (!srv->stopping)
            pthread_cond_timedwait(&r->wake, &srv->mu, &ts);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

int retention_start(server_t *srv, gt_error_t *err)
{
    if (srv->retention_s <= 0)
        return 0; /* kept for ever */
    retention_t *r = srv->retention;
    if (pthread_create(&r->thread, NULL, retention_main, srv) != 0)
        return gt_error_set(err, "internal", "cannot start the retention thread");
    r->started = true;
    return 0;
}

void retention_stop(server_t *srv)
{
    retention_t *r = srv->retention;
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&srv->mu);
        pthread_cond_broadcast(&r->wake);
        pthread_mutex_unlock(&srv->mu);
        pthread_join(r->thread, NULL);
        r->started = false;
    }
}

void retention_free(server_t *srv)
{
    retention_t *r = srv->retention;
    if (!r)
        return;
    retention_stop(srv);
    for (size_t i = 0; i < r->n; i++) {
        free(r->b[i].team);
        free(r->b[i].user);
    }
    free(r->b);
    json_decref(r->index);
    pthread_cond_destroy(&r->wake);
    free(r);
    srv->retention = NULL;
}

uint64_t retention_purged(server_t *srv)
{
    return srv->retention ? srv->retention->purged : 0;
}
