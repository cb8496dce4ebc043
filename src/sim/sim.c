/* sim.c: the simulator's event loop around the scheduler core. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#include "model/sched_config.h"

typedef enum { EV_END, EV_STOP } event_kind_t;

typedef struct event {
    int64_t time;
    uint64_t seq;                 /* ties: in the order scheduled */
    int job;
    int run;                      /* the job's run number when scheduled: stale if it moved on */
    event_kind_t kind;
} event_t;

typedef struct sim_job {
    int team;
    int64_t remaining;            /* work left, seconds */
    int64_t run_start;            /* current run */
    int run;
    int64_t first_start, finish;
    int64_t gpus_milli;
    bool started, done, timed_out;
    /* for the report */
    bool in_quota;                /* within its team's quota at submission */
    int64_t queued_since;         /* submission, or the stop that requeued it */
    int64_t last_start;
    int64_t wait;                 /* queued time summed to the last start */
    uint32_t preemptions;
    double lost_gpu_s;
} sim_job_t;

typedef struct heap {
    event_t *ev;
    size_t n, cap;
    uint64_t seq;
} heap_t;

static bool ev_less(const event_t *a, const event_t *b)
{
    return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

static void heap_push(heap_t *h, int64_t time, int job, int run, event_kind_t kind)
{
    GT_GROW(h->ev, h->cap, h->n + 1);
    size_t i = h->n++;
    event_t e = {time, h->seq++, job, run, kind};
    while (i > 0 && ev_less(&e, &h->ev[(i - 1) / 2])) {
        h->ev[i] = h->ev[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->ev[i] = e;
}

static event_t heap_pop(heap_t *h)
{
    event_t top = h->ev[0], last = h->ev[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && ev_less(&h->ev[c + 1], &h->ev[c]))
            c++;
        if (!ev_less(&h->ev[c], &last))
            break;
        h->ev[i] = h->ev[c];
        i = c;
    }
    if (h->n)
        h->ev[i] = last;
    return top;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double nearest_rank(const double *v, size_t n, double q)
{
    if (!n)
        return 0;
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

static gt_sim_dist_t distribution(double *v, size_t n)
{
    gt_sim_dist_t d = {0};
    if (!n)
        return d;
    qsort(v, n, sizeof(*v), cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    d.mean = sum / (double)n;
    d.p50 = nearest_rank(v, n, 0.50);
    d.p95 = nearest_rank(v, n, 0.95);
    d.p99 = nearest_rank(v, n, 0.99);
    return d;
}

/* Resolves the trace's teams, classes and GPU types against the scheduler. */
static int resolve_job(sched_t *s, const gt_config_t *cfg, bool one_tier,
                       const gt_trace_job_t *tj, uint64_t id, sched_job_spec_t *sp,
                       int *teams_added, gt_error_t *err)
{
    memset(sp, 0, sizeof(*sp));
    sp->id = id;
    sp->team = sched_team_find(s, tj->team);
    if (sp->team < 0) {
        sp->team = sched_team_add(s, tj->team, -1, 1.0, err);
        if (sp->team < 0)
            return -1;
        (*teams_added)++;
    }
    /* one_tier (FIFO): the trace's class is checked, and every job runs in the default */
    const char *cls = tj->priority ? tj->priority : cfg->default_class;
    if (one_tier && sched_class_find(s, cls) >= 0)
        cls = cfg->default_class;
    sp->prio_class = sched_class_find(s, cls);
    if (sp->prio_class < 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "trace line %d: priority class '%s' is not in the config's "
                            "priority_classes",
                            tj->line, cls);
    }
    if (tj->gpu_types) {
        char *list = xstrdup(tj->gpu_types), *save = NULL;
        for (char *t = strtok_r(list, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
            int type = sched_gpu_type(s, t);
            if (type >= 0)
                sp->gpu_types |= 1ULL << type;
        }
        free(list);
    }
    sp->gpus_milli = tj->gpus_milli;
    sp->nodes = tj->nodes;
    sp->cpus_milli = tj->cpus_milli;
    sp->memory_mib = tj->memory_mib;
    sp->submit = tj->submit;
    sp->time_limit = tj->time_limit;
    sp->estimate = tj->time_limit > 0 ? 0 : tj->duration;
    sp->checkpointable = true;
    return 0;
}

/* The honest FIFO baseline: one queue by submission time, nothing else (sim.h). */
static sched_params_t fifo_params(const sched_params_t *p)
{
    sched_params_t f = *p;
    f.fairshare = false;
    f.quotas = false;
    f.backfill = false;
    f.reservations = 0;
    f.preemption = false;
    f.order = SCHED_ORDER_FIFO;
    return f;
}

typedef struct run_state {
    sched_t *s;
    sim_job_t *jobs;
    heap_t heap;
    double gpu_seconds;           /* allocated GPU-time */
    double *team_gpu_s;
    size_t completed, timed_out;
    int64_t last_end;
    int64_t checkpoint_every;     /* opts->checkpoint_every_s */
    int64_t *team_demand;         /* milli-GPUs of its submitted jobs not yet ended */
    int64_t *team_quota;          /* milli-GPUs guaranteed (all types) */
} run_state_t;

static void job_run_ends(run_state_t *rs, int ji, int64_t now)
{
    sim_job_t *j = &rs->jobs[ji];
    double gs = (double)(now - j->run_start) * (double)j->gpus_milli / SCHED_MILLI;
    rs->gpu_seconds += gs;
    rs->team_gpu_s[j->team] += gs;
    j->run++;
}

/* "TIME ID NODE:GPU,GPU NODE:..." for a start (gantry sim --starts-out). */
static void write_start(FILE *f, sched_t *s, const gt_trace_job_t *tj, uint64_t id, int64_t now)
{
    sched_job_info_t in;
    if (sched_job_info(s, id, &in) < 0)
        return;
    fprintf(f, "%lld %s", (long long)now, tj->id ? tj->id : "-");
    for (int k = 0; k < in.nslots; k++) {
        sched_node_info_t ni;
        sched_node_info(s, in.slots[k].node, &ni);
        fprintf(f, " %s:", ni.name);
        const char *sep = "";
        for (int g = 0; g < 64; g++)
            if (in.slots[k].gpu_mask >> g & 1) {
                fprintf(f, "%s%d", sep, g);
                sep = ",";
            }
    }
    fputc('\n', f);
}

static void handle_decisions(run_state_t *rs, const gt_trace_t *tr, const sched_decision_t *d,
                             size_t n, int64_t now, const sched_params_t *p, FILE *starts)
{
    for (size_t i = 0; i < n; i++) {
        int ji = (int)(d[i].job_id - 1);
        sim_job_t *j = &rs->jobs[ji];
        if (d[i].action == SCHED_START) {
            if (starts)
                write_start(starts, rs->s, &tr->jobs[ji], d[i].job_id, now);
            if (!j->started) {
                j->started = true;
                j->first_start = now;
            }
            j->run_start = now;
            j->last_start = now;
            j->wait += now - j->queued_since;
            int64_t run_for = j->remaining;
            const gt_trace_job_t *tj = &tr->jobs[ji];
            if (tj->time_limit > 0) {
                int64_t used = tj->duration - j->remaining;
                if (used + run_for > tj->time_limit) {
                    run_for = tj->time_limit - used;
                    j->timed_out = true;
                }
            }
            heap_push(&rs->heap, now + (run_for > 0 ? run_for : 0), ji, j->run, EV_END);
        } else {
            j->preemptions++;
            heap_push(&rs->heap, now + p->grace_s, ji, j->run, EV_STOP);
        }
    }
}

/* Applies event e; false when it is stale (the run it belonged to already ended: a preempted
 * job's first end, say). */
static bool handle_event(run_state_t *rs, const event_t *e)
{
    sim_job_t *j = &rs->jobs[e->job];
    if (e->run != j->run || j->done)
        return false;
    uint64_t id = (uint64_t)e->job + 1;
    if (e->kind == EV_END) {
        job_run_ends(rs, e->job, e->time);
        sched_job_finished(rs->s, id, e->time);
        j->done = true;
        j->finish = e->time;
        rs->team_demand[j->team] -= j->gpus_milli;
        rs->completed += !j->timed_out;
        rs->timed_out += j->timed_out;
        if (e->time > rs->last_end)
            rs->last_end = e->time;
    } else {
        /* the job checkpointed within its grace period (or, with checkpoint_every, at its
         * last checkpoint): the work done to then is kept, the rest is lost */
        int64_t ran = e->time - j->run_start;
        int64_t lost = rs->checkpoint_every > 0 ? ran % rs->checkpoint_every : 0;
        j->lost_gpu_s += (double)lost * (double)j->gpus_milli / SCHED_MILLI;
        j->remaining -= ran - lost;
        if (j->remaining < 0)
            j->remaining = 0;
        j->timed_out = false;
        job_run_ends(rs, e->job, e->time);
        j->queued_since = e->time;
        sched_job_stopped(rs->s, id, e->time);
    }
    return true;
}

static void progress(const gt_trace_t *tr, size_t next, int64_t now, const run_state_t *rs)
{
    fprintf(stderr, "\rsim: %zu/%zu jobs submitted, t=%.1fh, %zu running, %zu pending   ", next,
            tr->njobs, (double)now / 3600, sched_running_count(rs->s),
            sched_pending_count(rs->s));
}

int gt_sim_run(const gt_config_t *cfg, const gt_trace_t *tr, const gt_sim_opts_t *opts,
               gt_sim_result_t *out, gt_error_t *err)
{
    memset(out, 0, sizeof(*out));
    double wall0 = gt_monotonic_s();
    bool fifo = opts && opts->fifo;
    sched_t *s = model_sched_new(cfg, false, err);
    int rc = -1;
    run_state_t rs = {.s = s, .checkpoint_every = opts ? opts->checkpoint_every_s : 0};
    int *specs_cls = NULL;        /* each job's priority class, for the per-job records */
    out->guarantee_attainment_min = -1;
    if (!s)
        goto out;
    /* the policy as the scheduler was built from the config; --policy fifo overrides it */
    sched_params_t params = *sched_params(s);
    if (fifo) {
        params = fifo_params(&params);
        sched_set_params(s, &params);
        int dc = sched_class_find(s, cfg->default_class);
        if (dc >= 0) /* the one class every job runs in orders by the cluster's FIFO */
            sched_class_set_order(s, dc, -1);
    }
    if (sched_node_count(s) == 0) {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument",
                     "the cluster has no nodes: declare them under nodes: in the config, or "
                     "give a node list with --nodes");
        goto out;
    }
    if (tr->njobs == 0 && tr->npool > 0) {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument",
                     "the trace has no task with times to replay (%s); its %zu tasks can be "
                     "sampled with gantry sim --inflate",
                     tr->skipped, tr->npool);
        goto out;
    }
    rs.jobs = xcalloc(tr->njobs + 1, sizeof(*rs.jobs));
    int teams_added = 0;
    sched_job_spec_t *specs = xcalloc(tr->njobs + 1, sizeof(*specs));
    specs_cls = xcalloc(tr->njobs + 1, sizeof(int));
    for (size_t i = 0; i < tr->njobs; i++) {
        if (resolve_job(s, cfg, fifo, &tr->jobs[i], i + 1, &specs[i], &teams_added, err) < 0) {
            free(specs);
            goto out;
        }
        rs.jobs[i] = (sim_job_t){.team = specs[i].team, .remaining = tr->jobs[i].duration,
                                 .gpus_milli = tr->jobs[i].gpus_milli,
                                 .queued_since = tr->jobs[i].submit};
        specs_cls[i] = specs[i].prio_class;
        out->oracle |= tr->jobs[i].time_limit == 0;
    }
    int nteams = sched_team_count(s);
    rs.team_gpu_s = xcalloc((size_t)nteams + 1, sizeof(double));
    rs.team_demand = xcalloc((size_t)nteams + 1, sizeof(int64_t));
    rs.team_quota = xcalloc((size_t)nteams + 1, sizeof(int64_t));
    for (int t = 0; t < nteams; t++) {
        sched_team_info_t ti;
        if (sched_team_info(s, t, &ti) == 0)
            rs.team_quota[t] = ti.quota_milli;
    }
    double capacity = (double)sched_capacity_milli(s) / SCHED_MILLI;
    size_t next = 0;
    double sched_wall = 0, last_progress = wall0;
    uint64_t events = 0;
    int64_t now = tr->njobs ? tr->jobs[0].submit : 0;
    /* Events are submissions, ends and stops; between them the scheduler's state may still
     * change by time alone (a minimum runtime passing, a backoff ending): the loop also wakes
     * when the core says so, as the server's scheduler thread does. */
    sched_time_t wake = SCHED_NEVER;
    sched_wake_t wake_why = SCHED_WAKE_NONE;
    while (next < tr->njobs || rs.heap.n || wake != SCHED_NEVER) {
        int64_t t = next < tr->njobs ? tr->jobs[next].submit : INT64_MAX;
        if (rs.heap.n && rs.heap.ev[0].time < t)
            t = rs.heap.ev[0].time;
        if (wake < t)
            t = wake;
        now = t;
        bool ended = false;
        while (rs.heap.n && rs.heap.ev[0].time == now) {
            event_t e = heap_pop(&rs.heap);
            ended |= handle_event(&rs, &e);
        }
        /* what woke the scheduler: a submission, else an end or stop, else the core's wakeup;
         * only stale events (the first end of a job preempted since): nothing happened, as on
         * the server, and there is no pass (at Philly seed0 x 8 such passes were 6.5% of all,
         * and none decided anything) */
        if (next < tr->njobs && tr->jobs[next].submit == now)
            out->passes_submission++;
        else if (ended)
            out->passes_end++;
        else if (wake == now)
            out->passes_wake[wake_why]++;
        else
            continue;
        while (next < tr->njobs && tr->jobs[next].submit == now) {
            gt_error_t e = {0};
            sim_job_t *sj = &rs.jobs[next];
            /* GPU work within its team's quota, counting the team's unended jobs before it */
            sj->in_quota = sj->gpus_milli > 0 &&
                           rs.team_demand[sj->team] + sj->gpus_milli <= rs.team_quota[sj->team];
            rs.team_demand[sj->team] += sj->gpus_milli;
            if (sched_job_submit(s, &specs[next], &e) < 0) {
                gt_error_set(err, e.code, "trace line %d: %s", tr->jobs[next].line, e.msg);
                free(specs);
                goto out;
            }
            next++;
        }
        double c0 = gt_monotonic_s();
        size_t nd;
        const sched_decision_t *d = sched_cycle(s, now, &nd);
        double c1 = gt_monotonic_s();
        sched_wall += c1 - c0;
        out->decisions += nd;
        handle_decisions(&rs, tr, d, nd, now, &params, opts ? opts->starts_out : NULL);
        wake = sched_next_wakeup_why(s, &wake_why);
        if (sched_capacity_wait(s)) {
            double idle = capacity - (double)sched_allocated_milli(s) / SCHED_MILLI;
            if (idle > out->unallocated_gpus_peak)
                out->unallocated_gpus_peak = idle;
        }
        if (opts && opts->progress && (++events & 1023) == 0 && c1 - last_progress > 2) {
            progress(tr, next, now, &rs);
            last_progress = c1;
        }
    }
    free(specs);
    if (opts && opts->progress && gt_monotonic_s() - wall0 > 2)
        fprintf(stderr, "\n");

    /* ---- results ---- */
    out->jobs_total = tr->njobs;
    out->jobs_completed = rs.completed;
    out->jobs_timed_out = rs.timed_out;
    out->jobs_never_fit = sched_pending_count(s);
    int64_t first = tr->njobs ? tr->jobs[0].submit : 0;
    out->makespan_s = rs.last_end > first ? rs.last_end - first : 0;
    out->capacity_gpus = capacity;
    out->gpu_utilization =
        out->makespan_s > 0 ? rs.gpu_seconds / (capacity * (double)out->makespan_s) : 0;
    double *wait = xcalloc(tr->njobs + 1, sizeof(double));
    double *first_wait = xcalloc(tr->njobs + 1, sizeof(double));
    double *jct = xcalloc(tr->njobs + 1, sizeof(double));
    double *quota_asked = xcalloc((size_t)nteams + 1, sizeof(double));
    double *quota_served = xcalloc((size_t)nteams + 1, sizeof(double));
    double *team_wait = xcalloc((size_t)nteams + 1, sizeof(double));
    double *team_speed = xcalloc((size_t)nteams + 1, sizeof(double));
    out->teams = xcalloc((size_t)nteams + 1, sizeof(*out->teams));
    out->nteams = (size_t)nteams;
    if (opts && opts->jobs) {
        int ncls = sched_class_count(s);
        out->class_names = xcalloc((size_t)ncls + 1, sizeof(char *));
        for (int c = 0; c < ncls; c++)
            out->class_names[c] = xstrdup(sched_class_name(s, c));
        out->nclass_names = ncls;
        out->jobs = xcalloc(tr->njobs + 1, sizeof(*out->jobs));
        out->njobs = tr->njobs;
    }
    size_t nw = 0;
    for (size_t i = 0; i < tr->njobs; i++) {
        const sim_job_t *j = &rs.jobs[i];
        gt_sim_team_t *t = &out->teams[j->team];
        int64_t submit = tr->jobs[i].submit;
        t->jobs++;
        t->preempted += j->preemptions;
        t->lost_gpu_s += j->lost_gpu_s;
        if (j->started)
            t->requeued_wait_s += (double)(j->wait - (j->first_start - submit));
        if (j->in_quota) {
            t->guarantee_jobs++;
            quota_asked[j->team] += (double)j->gpus_milli;
            if (j->started && j->first_start - submit <= params.grace_s)
                quota_served[j->team] += (double)j->gpus_milli;
            else
                t->guarantee_late++;
        }
        if (out->jobs) {
            gt_sim_job_t *o = &out->jobs[i];
            *o = (gt_sim_job_t){tr->jobs[i].id, j->team, out->class_names[specs_cls[i]],
                                j->gpus_milli, submit, -1, -1, -1, -1, -1, -1,
                                j->preemptions, j->lost_gpu_s};
            if (j->started) {
                o->first_start = j->first_start;
                o->last_start = j->last_start;
                o->wait_s = (double)j->wait;
                o->first_wait_s = (double)(j->first_start - submit);
            }
            if (j->done) {
                o->end = j->finish;
                o->jct_s = (double)(j->finish - submit);
            }
        }
        if (!j->done)
            continue;
        t->completed++;
        wait[nw] = (double)j->wait;
        first_wait[nw] = (double)(j->first_start - submit);
        jct[nw] = (double)(j->finish - submit);
        team_wait[j->team] += wait[nw];
        /* service rate: how much of its time in the system the job ran */
        double run = (double)tr->jobs[i].duration;
        team_speed[j->team] += jct[nw] > 0 ? (run < jct[nw] ? run / jct[nw] : 1) : 1;
        nw++;
    }
    out->wait_s = distribution(wait, nw);
    out->first_wait_s = distribution(first_wait, nw);
    out->jct_s = distribution(jct, nw);
    double js = 0, js2 = 0;
    int jn = 0;
    for (int t = 0; t < nteams; t++) {
        gt_sim_team_t *tm = &out->teams[t];
        tm->name = xstrdup(sched_team_name(s, t));
        tm->gpu_hours = rs.team_gpu_s[t] / 3600;
        tm->share = rs.gpu_seconds > 0 ? rs.team_gpu_s[t] / rs.gpu_seconds : 0;
        tm->wait_mean_s = tm->completed ? team_wait[t] / (double)tm->completed : 0;
        tm->quota_gpus = (double)rs.team_quota[t] / SCHED_MILLI;
        tm->guarantee_attainment = quota_asked[t] > 0 ? quota_served[t] / quota_asked[t] : -1;
        if (tm->guarantee_attainment >= 0 && (out->guarantee_attainment_min < 0 ||
                                              tm->guarantee_attainment <
                                                  out->guarantee_attainment_min))
            out->guarantee_attainment_min = tm->guarantee_attainment;
        out->requeued_wait_s += tm->requeued_wait_s;
        out->lost_gpu_s += tm->lost_gpu_s;
        if (tm->completed) {
            double x = team_speed[t] / (double)tm->completed;
            js += x;
            js2 += x * x;
            jn++;
        }
    }
    free(first_wait);
    free(quota_asked);
    free(quota_served);
    out->jain_fairness = jn && js2 > 0 ? js * js / ((double)jn * js2) : 1;
    free(wait);
    free(jct);
    free(team_wait);
    free(team_speed);
    sched_stats_t st;
    sched_get_stats(s, &st);
    out->preemptions = st.preemptions;
    out->defrag_moves = st.defrag_moves;
    out->cycles = st.cycles;
    out->policy = params;
    out->policy_name = fifo ? "fifo" : "config";
    out->checkpoint_every_s = rs.checkpoint_every;
    out->quiet_cycles = st.quiet_cycles;
    out->jobs_examined = st.jobs_examined;
    out->sim_wall_s = gt_monotonic_s() - wall0;
    out->sched_wall_s = sched_wall;
    out->decisions_per_s = sched_wall > 0 ? (double)out->decisions / sched_wall : 0;
    size_t nl = 0;
    if (teams_added)
        nl += (size_t)snprintf(out->notes + nl, sizeof(out->notes) - nl,
                               "%d teams of the trace are not in the config: added with "
                               "weight 1 and no quota. ",
                               teams_added);
    if (tr->nskipped && nl < sizeof(out->notes))
        nl += (size_t)snprintf(out->notes + nl, sizeof(out->notes) - nl, "Skipped: %s. ",
                               tr->skipped);
    if (out->oracle && nl < sizeof(out->notes))
        snprintf(out->notes + nl, sizeof(out->notes) - nl,
                 "No time limits in the trace: the scheduler planned with the true "
                 "durations (oracle).");
    rc = 0;
out:
    free(rs.jobs);
    free(rs.heap.ev);
    free(rs.team_gpu_s);
    free(rs.team_demand);
    free(rs.team_quota);
    free(specs_cls);
    sched_free(s);
    return rc;
}

void gt_sim_result_free(gt_sim_result_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nteams; i++)
        free(r->teams[i].name);
    free(r->teams);
    r->teams = NULL;
    free(r->jobs);
    r->jobs = NULL;
    for (int c = 0; c < r->nclass_names; c++)
        free(r->class_names[c]);
    free(r->class_names);
    r->class_names = NULL;
}
