/* api_metrics.c: GET /v1/metrics, the server's state in the Prometheus text format (0.0.4),
 * for a scraper holding a token (a viewer's is enough), by Prometheus's naming conventions
 * (docs/monitoring.md): the counters and histograms of metrics.h (job life, preemptions,
 * scheduling passes, waits, dispatch latency), then gauges read under the server's lock in one
 * pass over teams, nodes and jobs: jobs by state, pending jobs by why they wait, per team
 * (quota, limit, weight, allocated and borrowed GPUs, pending and running jobs, decayed usage),
 * per node (up, GPUs, free GPUs, jobs), per GPU (utilization and memory in use from the
 * agents' NVML heartbeats), gantry_build_info. */
#include <stdio.h>
#include <string.h>

#include "common/version.h"
#include "server/conn_guard.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/gpu_use.h"

static void family(gt_buf_t *b, const char *name, const char *help)
{
    metrics_family(b, name, "gauge", help);
}

/* name{key="value"} v; key2/v2 may be NULL. */
static void sample(gt_buf_t *b, const char *name, const char *k1, const char *v1, const char *k2,
                   const char *v2, double v)
{
    gt_buf_printf(b, "%s{%s=\"", name, k1);
    metrics_label(b, v1);
    if (k2) {
        gt_buf_printf(b, "\",%s=\"", k2);
        metrics_label(b, v2);
    }
    gt_buf_printf(b, "\"} %.17g\n", v);
}

int api_metrics(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/metrics");
    gt_buf_t b = {0};
    family(&b, "gantry_build_info", "Always 1: the server's version in its labels.");
    gt_buf_printf(&b, "gantry_build_info{version=\"%s\"} 1\n", GANTRY_VERSION);
    /* Counters and histograms bumped where things happen (metrics.h). */
    metrics_write(srv->metrics, &b);
    pthread_mutex_lock(&srv->mu);

    /* Pending jobs by why they wait: the scheduler's reasons, and "dependency" (after_ok). */
    size_t by_state[5] = {0}, by_reason[SCHED_NREASONS] = {0}, on_deps = 0;
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j || (unsigned)j->state >= 5)
            continue;
        by_state[j->state]++;
        sched_job_info_t info;
        if (j->state != JOB_PENDING)
            continue;
        if (!j->in_sched)
            on_deps++;
        else if (sched_job_info(srv->sched, j->id, &info) == 0 &&
                 (unsigned)info.reason < SCHED_NREASONS)
            by_reason[info.reason]++;
    }
    family(&b, "gantry_jobs", "Jobs the server knows, by state.");
    for (int s = 0; s < 5; s++)
        sample(&b, "gantry_jobs", "state", job_state_name((job_state_t)s), NULL, NULL,
               (double)by_state[s]);
    family(&b, "gantry_pending_jobs", "Pending jobs by the reason they wait (gantry show).");
    for (int r = 0; r < SCHED_NREASONS; r++)
        sample(&b, "gantry_pending_jobs", "reason", sched_reason_name((sched_reason_t)r), NULL,
               NULL, (double)by_reason[r]);
    sample(&b, "gantry_pending_jobs", "reason", "dependency", NULL, NULL, (double)on_deps);

    static const struct {
        const char *name, *help;
    } team_families[] = {
        {"gantry_team_quota_gpus", "GPUs guaranteed to the team."},
        {"gantry_team_limit_gpus", "The most GPUs the team may hold, borrowing included (no "
                                   "series: no limit)."},
        {"gantry_team_weight", "The team's fair-share weight."},
        {"gantry_team_allocated_gpus", "GPUs held by the team's running jobs (sub-teams "
                                       "included)."},
        {"gantry_team_borrowed_gpus", "GPUs the team holds beyond its quota."},
        {"gantry_team_pending_jobs", "The team's jobs waiting in the queue."},
        {"gantry_team_running_jobs", "The team's running jobs."},
        {"gantry_team_usage_gpu_seconds", "The team's decayed GPU usage, as fair share weighs "
                                          "it."},
    };
    for (size_t f = 0; f < sizeof(team_families) / sizeof(team_families[0]); f++) {
        family(&b, team_families[f].name, team_families[f].help);
        for (size_t i = 0; i < srv->nteams; i++) {
            team_t *t = &srv->teams[i];
            sched_team_info_t ti = {0};
            sched_team_info(srv->sched, t->sched_idx, &ti);
            if (f == 1 && t->limit_milli < 0)
                continue;
            double borrowed = (double)(ti.allocated_milli - t->quota_milli) / 1000.0;
            double v[] = {t->quota_milli / 1000.0, t->limit_milli / 1000.0, t->weight,
                          ti.allocated_milli / 1000.0, borrowed > 0 ? borrowed : 0,
                          (double)ti.pending, (double)ti.running, ti.usage_gpu_s};
            sample(&b, team_families[f].name, "team", t->name, NULL, NULL, v[f]);
        }
    }

    static const struct {
        const char *name, *help;
    } node_families[] = {
        {"gantry_node_up", "1 when the node's agent is heard from, 0 when unreachable."},
        {"gantry_node_gpus", "The node's GPUs."},
        {"gantry_node_free_gpus", "The node's GPUs that no job holds."},
        {"gantry_node_jobs", "Jobs running on the node."},
    };
    for (size_t f = 0; f < sizeof(node_families) / sizeof(node_families[0]); f++) {
        family(&b, node_families[f].name, node_families[f].help);
        for (size_t i = 0; i < srv->nnodes; i++) {
            node_t *n = srv->nodes[i];
            sched_node_info_t ni = {0};
            sched_node_info(srv->sched, n->sched_idx, &ni);
            double v[] = {n->up && n->epoch ? 1 : 0, ni.gpus, ni.gpus_free, ni.jobs};
            sample(&b, node_families[f].name, "node", n->name, "gpu_type",
                   ni.gpu_type ? ni.gpu_type : "", v[f]);
        }
    }

    gpu_use_metrics(srv, &b); /* per GPU with its job, team, user; idle allocations */
    uint64_t purged = retention_purged(srv);
    pthread_mutex_unlock(&srv->mu);

    /* Limits against abuse (conn_guard.c) and retention: counters since the server started. */
    conn_guard_stats_t cg = {0};
    if (srv->guard)
        conn_guard_get_stats(srv->guard, &cg);
    gt_buf_printf(&b, "# HELP gantry_http_connections Open HTTP connections.\n"
                      "# TYPE gantry_http_connections gauge\ngantry_http_connections %llu\n",
                  (unsigned long long)cg.open);
    gt_buf_printf(&b, "# HELP gantry_http_connections_limit Open HTTP connections allowed "
                      "(--max-connections, or its default from the open-file limit).\n"
                      "# TYPE gantry_http_connections_limit gauge\n"
                      "gantry_http_connections_limit %u\n"
                      "# HELP gantry_http_connections_refused_total Connections opened beyond "
                      "the limit: answered 503 too_many_connections.\n"
                      "# TYPE gantry_http_connections_refused_total counter\n"
                      "gantry_http_connections_refused_total %llu\n",
                  srv->limits.max_connections, (unsigned long long)cg.refused_over);
    gt_buf_printf(&b, "# HELP gantry_http_connections_cut_total Connections shut down for a "
                      "deadline (reason: header_timeout, body_timeout).\n"
                      "# TYPE gantry_http_connections_cut_total counter\n"
                      "gantry_http_connections_cut_total{reason=\"header_timeout\"} %llu\n"
                      "gantry_http_connections_cut_total{reason=\"body_timeout\"} %llu\n",
                  (unsigned long long)cg.closed_header, (unsigned long long)cg.closed_body);
    gt_buf_printf(&b, "# HELP gantry_http_body_bytes Request body bytes held now (--body-memory)."
                      "\n# TYPE gantry_http_body_bytes gauge\ngantry_http_body_bytes %llu\n",
                  (unsigned long long)cg.body_bytes);
    gt_buf_printf(&b, "# HELP gantry_http_bodies_refused_total Requests answered 503 because "
                      "their body did not fit --body-memory.\n"
                      "# TYPE gantry_http_bodies_refused_total counter\n"
                      "gantry_http_bodies_refused_total %llu\n",
                  (unsigned long long)cg.body_refused);
    gt_buf_printf(&b, "# HELP gantry_jobs_purged_total Finished jobs purged by the retention.\n"
                      "# TYPE gantry_jobs_purged_total counter\ngantry_jobs_purged_total %llu\n",
                  (unsigned long long)purged);
    /* The store (store.h): degraded while a commit fails (disk full, I/O error). */
    store_stats_t ss;
    store_get_stats(srv->store, &ss);
    gt_buf_printf(&b, "# HELP gantry_store_degraded 1 while the store cannot commit (client "
                      "writes get 503; changes already made are retried).\n"
                      "# TYPE gantry_store_degraded gauge\ngantry_store_degraded %d\n"
                      "# HELP gantry_store_failed_commits_total Commit attempts that failed.\n"
                      "# TYPE gantry_store_failed_commits_total counter\n"
                      "gantry_store_failed_commits_total %llu\n"
                      "# HELP gantry_store_refused_total Client changes refused (503) because "
                      "the store could not commit them.\n"
                      "# TYPE gantry_store_refused_total counter\ngantry_store_refused_total "
                      "%llu\n"
                      "# HELP gantry_store_transactions_total Transactions the store committed "
                      "(each holds every change queued since the one before: group commit).\n"
                      "# TYPE gantry_store_transactions_total counter\n"
                      "gantry_store_transactions_total %llu\n",
                  store_degraded(srv->store) ? 1 : 0, (unsigned long long)ss.failed_commits,
                  (unsigned long long)ss.refused, (unsigned long long)ss.transactions);
    /* Group commit: changes queued (gantry_store_transactions_total committed them). */
    gt_buf_printf(&b, "# HELP gantry_store_batches_total Changes queued for the store.\n"
                      "# TYPE gantry_store_batches_total counter\ngantry_store_batches_total "
                      "%llu\n"
                      "# HELP gantry_store_commit_seconds_total Time the committed transactions "
                      "took (writes and fsync), summed over the store's write connections: a "
                      "rate near their number (1 on SQLite, 4 on PostgreSQL by default) is a "
                      "committer that is never idle.\n"
                      "# TYPE gantry_store_commit_seconds_total counter\n"
                      "gantry_store_commit_seconds_total %.6f\n",
                  (unsigned long long)ss.batches, ss.commit_seconds);
    resp->text = b.data ? b.data : xstrdup("");
    resp->content_type = "text/plain; version=0.0.4";
    return 0;
}
