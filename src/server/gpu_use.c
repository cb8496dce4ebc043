/* gpu_use.c: per-job GPU use and idle allocations (gpu_use.h). */
#include "server/gpu_use.h"
#include "server/events.h"

#include <stdio.h>
#include <string.h>

#define IDLE_SPANS_MAX 1000 /* flagged stretches kept per job (the oldest are kept) */

void gpu_use_from_config(server_t *srv, const gt_config_t *cfg)
{
    srv->idle_threshold = cfg ? cfg->idle_threshold : 0.05;
    srv->idle_after_s = cfg ? cfg->idle_after_s : 1800;
    for (size_t i = 0; cfg && i < cfg->nclasses; i++) {
        pclass_t *c = server_class(srv, cfg->classes[i].name);
        if (c)
            c->idle_requeue = cfg->classes[i].idle_requeue;
    }
}

/* The position of GPU idx's entry in a heartbeat's "gpus" (in index order; searched when
 * not), or -1. */
static long gpu_entry(const json_t *gpus, int idx)
{
    json_t *v = json_object_get(json_array_get(gpus, (size_t)idx), "index");
    if (json_is_integer(v) && json_integer_value(v) == idx)
        return idx;
    for (size_t i = 0; i < json_array_size(gpus); i++) {
        v = json_object_get(json_array_get(gpus, i), "index");
        if (json_is_integer(v) && json_integer_value(v) == idx)
            return (long)i;
    }
    return -1;
}

static double number_or(const json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) && json_number_value(v) >= 0 ? json_number_value(v) : dflt;
}

/* j's memory on the GPU of entry e, in MiB (-1: unknown): the GPU's memory in use, or, when j
 * shares the GPU (a fraction of it) and the agent lists the GPU's processes, the memory of
 * those of j's current run. */
static double job_memory_mib(const json_t *e, const job_t *j, bool shared)
{
    json_t *procs = json_object_get(e, "processes");
    if (shared && json_is_array(procs)) {
        double sum = 0;
        size_t i;
        json_t *p;
        json_array_foreach(procs, i, p)
        {
            if ((uint64_t)json_integer_value(json_object_get(p, "job_id")) == j->id &&
                json_integer_value(json_object_get(p, "incarnation")) == j->incarnation)
                sum += number_or(p, "memory_used_mib", 0);
        }
        return sum;
    }
    return number_or(e, "memory_used_mib", -1);
}

void gpu_use_run_ended(job_t *j, double now)
{
    job_gpu_use_t *u = &j->gpu_use;
    if (u->idle && u->idle_since > 0 && now > u->idle_since) {
        if (!u->idle_spans)
            u->idle_spans = json_array();
        if (json_array_size(u->idle_spans) < IDLE_SPANS_MAX)
            json_array_append_new(u->idle_spans, json_pack("[f,f,f]", u->idle_since, now,
                                                           j->gpus_milli / 1000.0));
    }
    u->idle = false;
    u->idle_since = 0;
    u->idle_samples = 0;
    u->idle_util_sum = 0;
}

/* j's GPUs were all under the threshold for idle.after: flag it, say so, act. */
static void flag_idle(server_t *srv, job_t *j, double now)
{
    job_gpu_use_t *u = &j->gpu_use;
    u->idle = true;
    pclass_t *c = server_class(srv, j->prio_class);
    bool requeue = c && c->idle_requeue && c->preemptible;
    double mean = u->idle_samples ? u->idle_util_sum / u->idle_samples : 0;
    fprintf(stderr,
            "gantry server: job %llu (team %s, user %s) is idle: its GPUs stayed under %g%% "
            "utilization for %.0f s (mean %.1f%%)%s.\n",
            (unsigned long long)j->id, j->team, j->user, srv->idle_threshold * 100,
            now - u->idle_since, mean * 100,
            requeue ? "; its class requeues idle jobs: it is stopped (checkpoint signal first) "
                      "and returns to the queue"
                    : "");
    char msg[256];
    snprintf(msg, sizeof(msg),
             "idle: its GPUs stayed under %g%% utilization for %.0f s (mean %.1f%%); %s",
             srv->idle_threshold * 100, now - u->idle_since, mean * 100,
             requeue ? "its class requeues idle jobs: it is stopped (checkpoint signal first) "
                       "and returns to the queue"
                     : "reported only");
    server_job_event(srv, j, "idle",
                     json_pack("{s:s,s:f,s:f,s:I,s:f,s:s}", "message", msg, "idle_since",
                               u->idle_since, "threshold", srv->idle_threshold, "after_s",
                               (json_int_t)srv->idle_after_s, "utilization_mean", mean,
                               "action", requeue ? "requeue" : "report"));
    if (requeue) {
        /* As a preemption: stopping is durable before the stop goes out. */
        j->stopping = true;
        uint64_t t = server_save_job(srv, j);
        server_stop_to_requeue(srv, j, t);
    }
}

/* One heartbeat's verdict for j: busy (a GPU of j at or above the threshold) ends a stretch;
 * otherwise the stretch goes on (begins now if none) and is flagged once long enough. */
static void judge(server_t *srv, job_t *j, bool busy, double util_sum, int64_t n, double now)
{
    job_gpu_use_t *u = &j->gpu_use;
    if (busy) {
        if (u->idle)
            fprintf(stderr, "gantry server: job %llu is busy again (idle since %.0f s).\n",
                    (unsigned long long)j->id, now - u->idle_since);
        gpu_use_run_ended(j, now);
        return;
    }
    if (u->idle_since <= 0)
        u->idle_since = now;
    u->idle_samples += n;
    u->idle_util_sum += util_sum;
    if (!u->idle && !j->stopping && now - u->idle_since >= (double)srv->idle_after_s)
        flag_idle(srv, j, now);
}

void gpu_use_heartbeat(server_t *srv, node_t *n, const json_t *running, double now)
{
    json_t *gpus = n->gpu_stats;
    size_t ng = json_array_size(gpus);
    json_t *holders = json_array();
    for (size_t k = 0; k < ng; k++)
        json_array_append_new(holders, json_array());
    size_t i;
    json_t *r;
    json_array_foreach(running, i, r)
    {
        job_t *j = server_job(srv, (uint64_t)json_integer_value(json_object_get(r, "job_id")));
        if (!j || j->state != JOB_RUNNING ||
            json_integer_value(json_object_get(r, "incarnation")) != j->incarnation)
            continue;
        job_gpu_use_t *u = &j->gpu_use;
        bool busy = false;
        double util_now = 0;
        int64_t n_now = 0;
        for (int s = 0; s < j->nslots; s++) {
            const job_slot_t *sl = &j->slots[s];
            if (strcmp(sl->node, n->name) || sl->done)
                continue;
            bool shared = sl->gpu_milli < 1000; /* per GPU of the mask: a fraction of one */
            for (int g = 0; g < 64; g++) {
                if (!(sl->gpu_mask >> g & 1))
                    continue;
                long at = gpu_entry(gpus, g);
                if (at < 0)
                    continue;
                json_t *e = json_array_get(gpus, (size_t)at);
                double util = number_or(e, "utilization", -1);
                double mem = job_memory_mib(e, j, shared);
                json_array_append_new(json_array_get(holders, (size_t)at),
                                      json_pack("{s:I,s:f}", "job_id", (json_int_t)j->id,
                                                "memory_used_mib", mem));
                if (util >= 0) {
                    u->samples++;
                    u->util_sum += util;
                    if (util > u->util_peak)
                        u->util_peak = util;
                    util_now += util;
                    n_now++;
                    if (util >= srv->idle_threshold)
                        busy = true;
                }
                if (mem >= 0) {
                    u->mem_samples++;
                    u->mem_sum_mib += mem;
                    if (mem > u->mem_peak_mib)
                        u->mem_peak_mib = mem;
                }
            }
        }
        if (n_now)
            judge(srv, j, busy, util_now, n_now, now);
    }
    json_decref(n->gpu_jobs);
    n->gpu_jobs = holders;
}

static double overlap(double a0, double a1, double b0, double b1)
{
    double lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

double gpu_use_idle_gpu_s(const job_t *j, double t0, double t1, double now)
{
    double s = 0;
    size_t i;
    json_t *sp;
    json_array_foreach(j->gpu_use.idle_spans, i, sp)
    {
        s += overlap(json_number_value(json_array_get(sp, 0)),
                     json_number_value(json_array_get(sp, 1)), t0, t1) *
             json_number_value(json_array_get(sp, 2));
    }
    if (j->gpu_use.idle && j->gpu_use.idle_since > 0 && j->state == JOB_RUNNING)
        s += overlap(j->gpu_use.idle_since, now, t0, t1) * (j->gpus_milli / 1000.0);
    return s;
}

void gpu_use_usage_add(json_t *acc, const char *k, const job_t *j, double t0, double t1,
                       double now)
{
    json_t *row = json_object_get(acc, k);
    if (!row)
        return;
    double h = json_number_value(json_object_get(row, "idle_gpu_hours")) +
               gpu_use_idle_gpu_s(j, t0, t1, now) / 3600.0;
    json_object_set_new(row, "idle_gpu_hours", json_real(h));
}

int api_idle(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/idle");
    json_t *arr = json_array();
    pthread_mutex_lock(&srv->mu);
    double now = server_now();
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j || j->state != JOB_RUNNING || !j->gpu_use.idle ||
            !auth_can_see_team(&req->who, j->team))
            continue;
        const job_gpu_use_t *u = &j->gpu_use;
        json_t *nodes = json_array();
        for (int s = 0; s < j->nslots; s++) {
            bool seen = false;
            for (int k = 0; k < s; k++)
                seen = seen || !strcmp(j->slots[k].node, j->slots[s].node);
            if (!seen)
                json_array_append_new(nodes, json_string(j->slots[s].node));
        }
        pclass_t *c = server_class(srv, j->prio_class);
        json_t *o = json_pack(
            "{s:I,s:s,s:s,s:s,s:f,s:o,s:f,s:f,s:f,s:s,s:b}", "job", (json_int_t)j->id, "team",
            j->team, "user", j->user, "priority_class", j->prio_class ? j->prio_class : "",
            "gpus", j->gpus_milli / 1000.0, "nodes", nodes, "idle_since", u->idle_since,
            "idle_for_s", now - u->idle_since, "idle_utilization_mean",
            u->idle_samples ? u->idle_util_sum / u->idle_samples : 0.0, "action",
            c && c->idle_requeue && c->preemptible ? "requeue" : "report", "stopping",
            j->stopping);
        if (j->name)
            json_object_set_new(o, "name", json_string(j->name));
        if (u->samples)
            json_object_set_new(o, "utilization_mean", json_real(u->util_sum / u->samples));
        json_array_append_new(arr, o);
    }
    resp->json = json_pack("{s:o,s:f,s:I}", "idle", arr, "threshold", srv->idle_threshold,
                           "after_s", (json_int_t)srv->idle_after_s);
    pthread_mutex_unlock(&srv->mu);
    return 0;
}

/* A label value with \ " and newline escaped, as the text format asks. */
static void label(gt_buf_t *b, const char *v)
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

static void gpu_sample(gt_buf_t *b, const char *name, const node_t *n, long long gpu,
                       const job_t *j, double v)
{
    gt_buf_printf(b, "%s{node=\"", name);
    label(b, n->name);
    gt_buf_printf(b, "\",gpu=\"%lld\",job=\"", gpu);
    if (j)
        gt_buf_printf(b, "%llu", (unsigned long long)j->id);
    gt_buf_printf(b, "\",team=\"");
    label(b, j ? j->team : "");
    gt_buf_printf(b, "\",user=\"");
    label(b, j ? j->user : "");
    gt_buf_printf(b, "\"} %.15g\n", v); /* 0.8, not 0.80000000000000004 */
}

void gpu_use_metrics(server_t *srv, gt_buf_t *b)
{
    static const char *const names[] = {"gantry_gpu_utilization_ratio",
                                        "gantry_gpu_memory_used_bytes"};
    static const char *const helps[] = {
        "A GPU's utilization, 0 to 1, at its agent's last heartbeat (NVML nodes only), "
        "labelled with the job holding it (one series per job on a shared GPU).",
        "Memory in use on a GPU at its agent's last heartbeat (NVML nodes only), labelled with "
        "the job holding it (a job sharing the GPU: its own processes' memory, where NVML "
        "lists them)."};
    for (int pass = 0; pass < 2; pass++) {
        gt_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", names[pass], helps[pass],
                      names[pass]);
        for (size_t i = 0; i < srv->nnodes; i++) {
            node_t *n = srv->nodes[i];
            size_t k;
            json_t *g;
            json_array_foreach(n->gpu_stats, k, g)
            {
                double gv = number_or(g, pass ? "memory_used_mib" : "utilization", -1);
                long long idx = (long long)json_integer_value(json_object_get(g, "index"));
                bool any = false;
                size_t h;
                json_t *hold;
                /* A lost node's jobs were requeued or failed: its last samples name none. */
                json_array_foreach(n->up ? json_array_get(n->gpu_jobs, k) : NULL, h, hold)
                {
                    job_t *j = server_job(srv, (uint64_t)json_integer_value(
                                                   json_object_get(hold, "job_id")));
                    if (!j || j->state != JOB_RUNNING)
                        continue; /* ended since that heartbeat */
                    double v = pass ? number_or(hold, "memory_used_mib", -1) : gv;
                    any = true;
                    if (v >= 0)
                        gpu_sample(b, names[pass], n, idx, j, pass ? v * 1048576.0 : v);
                }
                if (!any && gv >= 0)
                    gpu_sample(b, names[pass], n, idx, NULL, pass ? gv * 1048576.0 : gv);
            }
        }
    }
    /* Idle allocations now, per team (every team, 0 included). */
    size_t nt = srv->nteams;
    double *jobs = xcalloc(nt + 1, sizeof(double)), *gpus = xcalloc(nt + 1, sizeof(double));
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j || j->state != JOB_RUNNING || !j->gpu_use.idle)
            continue;
        for (size_t t = 0; t < nt; t++)
            if (!strcmp(srv->teams[t].name, j->team)) {
                jobs[t]++;
                gpus[t] += j->gpus_milli / 1000.0;
                break;
            }
    }
    gt_buf_printf(b, "# HELP gantry_idle_allocations Running jobs flagged idle (their GPUs "
                     "under the idle threshold for idle.after), by team.\n"
                     "# TYPE gantry_idle_allocations gauge\n");
    for (size_t t = 0; t < nt; t++) {
        gt_buf_printf(b, "gantry_idle_allocations{team=\"");
        label(b, srv->teams[t].name);
        gt_buf_printf(b, "\"} %.17g\n", jobs[t]);
    }
    gt_buf_printf(b, "# HELP gantry_idle_gpus GPUs held by running jobs flagged idle, by team."
                     "\n# TYPE gantry_idle_gpus gauge\n");
    for (size_t t = 0; t < nt; t++) {
        gt_buf_printf(b, "gantry_idle_gpus{team=\"");
        label(b, srv->teams[t].name);
        gt_buf_printf(b, "\"} %.17g\n", gpus[t]);
    }
    free(jobs);
    free(gpus);
}
