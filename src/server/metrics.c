/* metrics.c: the counters and histograms of metrics.h, and their exposition. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"
#include "server/server.h"

enum kind { COUNTER, HISTOGRAM };

#define MAX_PRESET 8
#define MAX_BUCKETS 16

typedef struct family_def {
    const char *name, *help;
    enum kind kind;
    const char *key;                    /* the label's key, or NULL */
    const char *preset[MAX_PRESET];     /* label values shown at 0 from the start */
    double buckets[MAX_BUCKETS];        /* histograms: upper bounds, ascending; 0 ends */
} family_def_t;

static const family_def_t defs[] = {
    {"gantry_jobs_submitted_total", "Jobs accepted by the server (an array counts each task).",
     COUNTER, "team", {NULL}, {0}},
    {"gantry_jobs_started_total", "Job starts (a requeued job counts once per start).", COUNTER,
     "team", {NULL}, {0}},
    {"gantry_jobs_finished_total", "Jobs that ended, by outcome (succeeded; failed, oom, "
     "time_limit, node_lost: failed with that cause; cancelled).", COUNTER, "outcome",
     {"succeeded", "failed", "oom", "time_limit", "node_lost", "cancelled", NULL}, {0}},
    {"gantry_jobs_requeued_total", "Running jobs put back in the queue by a lost node, gantry "
     "requeue, or their class's idle_action requeue (preemptions: gantry_preemptions_total).",
     COUNTER, NULL, {NULL}, {0}},
    {"gantry_preemptions_total", "Running jobs preempted by the scheduler, by reason (reclaim: "
     "a team takes back its quota; priority: a higher class needs the GPUs).", COUNTER,
     "reason", {"reclaim", "priority", NULL}, {0}},
    {"gantry_scheduling_passes_total", "Scheduling passes run.", COUNTER, NULL, {NULL}, {0}},
    {"gantry_job_wait_seconds", "Time a job waited in the queue before a start (from its "
     "submission, or from its requeue).", HISTOGRAM, NULL, {NULL},
     {1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800, 0}},
    {"gantry_scheduling_pass_duration_seconds", "Time one scheduling pass held the server "
     "(the scheduler's cycle and applying its decisions).", HISTOGRAM, NULL, {NULL},
     {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 0}},
    {"gantry_dispatch_latency_seconds", "Time from the scheduler's start decision to the first "
     "node's report that the job's process started.", HISTOGRAM, NULL, {NULL},
     {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 0}},
    /* where a start's dispatch goes (docs/performance.md, "2,000 nodes"), in order */
    {"gantry_dispatch_pass_wait_seconds", "Time from a node's report of an end that freed "
     "resources to the start of the scheduling pass that placed a job there.", HISTOGRAM, NULL,
     {NULL}, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 0}},
    {"gantry_dispatch_poll_wait_seconds", "Time from the scheduler's start decision to the "
     "node's long poll taking the start task.", HISTOGRAM, NULL, {NULL},
     {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 0}},
    {"gantry_dispatch_commit_wait_seconds", "Time from the node's long poll taking a start "
     "task to the job's new state being durable (the task goes out then).", HISTOGRAM, NULL,
     {NULL}, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 0}},
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

typedef struct series {
    char *value;        /* the label's value, NULL for a family without a label */
    double v;           /* counter */
} series_t;

typedef struct fam {
    series_t *s;
    size_t n, cap;
    /* histogram */
    uint64_t counts[MAX_BUCKETS];   /* per bucket, not cumulative; [nb] = above the last */
    uint64_t count;
    double sum;
    size_t nb;
} fam_t;

struct metrics {
    pthread_mutex_t mu;
    fam_t f[NDEFS];
};

static size_t def_find(const char *name, enum kind kind, const char *key)
{
    for (size_t i = 0; i < NDEFS; i++) {
        if (strcmp(defs[i].name, name))
            continue;
        bool key_ok = defs[i].key ? key && !strcmp(defs[i].key, key) : !key;
        if (defs[i].kind != kind || !key_ok)
            break;
        return i;
    }
    fprintf(stderr, "gantry server: metrics: %s with label %s is not a known %s (metrics.c's "
                    "table).\n", name, key ? key : "(none)",
            kind == COUNTER ? "counter" : "histogram");
    abort();
}

static series_t *series_get(fam_t *f, const char *value)
{
    for (size_t i = 0; i < f->n; i++)
        if ((!value && !f->s[i].value) || (value && f->s[i].value && !strcmp(f->s[i].value, value)))
            return &f->s[i];
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->s = xrealloc(f->s, f->cap * sizeof(*f->s));
    }
    f->s[f->n] = (series_t){.value = value ? xstrdup(value) : NULL};
    return &f->s[f->n++];
}

metrics_t *metrics_new(void)
{
    metrics_t *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    for (size_t i = 0; i < NDEFS; i++) {
        fam_t *f = &m->f[i];
        if (defs[i].kind == HISTOGRAM) {
            while (f->nb < MAX_BUCKETS && defs[i].buckets[f->nb] > 0)
                f->nb++;
            continue;
        }
        if (!defs[i].key)
            series_get(f, NULL);
        for (int k = 0; k < MAX_PRESET && defs[i].preset[k]; k++)
            series_get(f, defs[i].preset[k]);
    }
    return m;
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < NDEFS; i++) {
        for (size_t k = 0; k < m->f[i].n; k++)
            free(m->f[i].s[k].value);
        free(m->f[i].s);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_count(metrics_t *m, const char *name, const char *key, const char *value)
{
    size_t i = def_find(name, COUNTER, key);
    if (key && !value)
        value = "";
    pthread_mutex_lock(&m->mu);
    series_get(&m->f[i], key ? value : NULL)->v += 1;
    pthread_mutex_unlock(&m->mu);
}

void metrics_observe(metrics_t *m, const char *name, double v)
{
    size_t i = def_find(name, HISTOGRAM, NULL);
    if (!(v >= 0))   /* a clock step backwards, or NaN: not an observation */
        v = 0;
    pthread_mutex_lock(&m->mu);
    fam_t *f = &m->f[i];
    size_t b = 0;
    while (b < f->nb && v > defs[i].buckets[b])
        b++;
    f->counts[b]++;
    f->count++;
    f->sum += v;
    pthread_mutex_unlock(&m->mu);
}

double metrics_value(metrics_t *m, const char *name, const char *key, const char *value)
{
    double v = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < NDEFS; i++) {
        if (strcmp(defs[i].name, name))
            continue;
        fam_t *f = &m->f[i];
        if (defs[i].kind == HISTOGRAM) {
            v = (double)f->count;
            break;
        }
        for (size_t k = 0; k < f->n; k++)
            if (!key || (f->s[k].value && value && !strcmp(f->s[k].value, value)))
                v += f->s[k].v;
        break;
    }
    pthread_mutex_unlock(&m->mu);
    return v;
}

void metrics_label(gt_buf_t *b, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            gt_buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            gt_buf_printf(b, "\\n");
        else
            gt_buf_append(b, p, 1);
    }
}

void metrics_family(gt_buf_t *b, const char *name, const char *type, const char *help)
{
    gt_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_write(metrics_t *m, gt_buf_t *b)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < NDEFS; i++) {
        const family_def_t *d = &defs[i];
        fam_t *f = &m->f[i];
        metrics_family(b, d->name, d->kind == COUNTER ? "counter" : "histogram", d->help);
        if (d->kind == COUNTER) {
            for (size_t k = 0; k < f->n; k++) {
                if (!d->key) {
                    gt_buf_printf(b, "%s %.17g\n", d->name, f->s[k].v);
                    continue;
                }
                gt_buf_printf(b, "%s{%s=\"", d->name, d->key);
                metrics_label(b, f->s[k].value);
                gt_buf_printf(b, "\"} %.17g\n", f->s[k].v);
            }
            continue;
        }
        /* Buckets are cumulative in the format; le="+Inf" equals _count. */
        uint64_t cum = 0;
        for (size_t k = 0; k < f->nb; k++) {
            cum += f->counts[k];
            gt_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", d->name, d->buckets[k],
                          (unsigned long long)cum);
        }
        gt_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", d->name,
                      (unsigned long long)f->count, d->name, f->sum, d->name,
                      (unsigned long long)f->count);
    }
    pthread_mutex_unlock(&m->mu);
}

/* The outcome label of a job that ended: its end reason where it names a cause people alert
 * on, else its state. */
static const char *outcome(const job_t *j, const char *type)
{
    static const char *const causes[] = {"oom", "time_limit", "node_lost"};
    for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++)
        if ((j->end_reason && !strcmp(j->end_reason, causes[i])) || !strcmp(type, causes[i]))
            return causes[i];
    if (j->state == JOB_SUCCEEDED)
        return "succeeded";
    if (j->state == JOB_CANCELLED || !strcmp(type, "cancelled"))
        return "cancelled";
    return "failed";
}

void metrics_job_event(server_t *srv, const job_t *j, const char *type, const json_t *detail)
{
    metrics_t *m = srv->metrics;
    if (!m || !j || !type)
        return;
    if (!strcmp(type, "submitted")) {
        metrics_count(m, "gantry_jobs_submitted_total", "team", j->team);
    } else if (!strcmp(type, "started")) {
        metrics_count(m, "gantry_jobs_started_total", "team", j->team);
        /* Queued since its submission, or since the end of its last run (a requeue). */
        double since = j->submit_time;
        size_t nruns = j->earlier_runs ? json_array_size(j->earlier_runs) : 0;
        if (nruns) {
            double e = json_number_value(
                json_object_get(json_array_get(j->earlier_runs, nruns - 1), "end_time"));
            if (e > since)
                since = e;
        }
        if (since > 0 && j->start_time >= since)
            metrics_observe(m, "gantry_job_wait_seconds", j->start_time - since);
    } else if (!strcmp(type, "preempted")) {
        const char *why = json_string_value(json_object_get(detail, "reason"));
        metrics_count(m, "gantry_preemptions_total", "reason", why ? why : "priority");
    } else if (!strcmp(type, "requeued") ||
               (!strcmp(type, "idle") &&
                !strcmp(json_string_value(json_object_get(detail, "action")) ?: "", "requeue"))) {
        metrics_count(m, "gantry_jobs_requeued_total", NULL, NULL);
    } else if (!strcmp(type, "finished") || !strcmp(type, "failed") ||
               !strcmp(type, "cancelled") || !strcmp(type, "oom") ||
               !strcmp(type, "time_limit")) {
        metrics_count(m, "gantry_jobs_finished_total", "outcome", outcome(j, type));
    }
}
