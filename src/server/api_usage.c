/* api_usage.c: GET /v1/usage, GPU-hours over a period by team, user, priority class or job
 * (gantry usage; docs/api.md "Usage").
 *
 * The period is [from, to): every run of a job is clipped to it, so a job that straddles a
 * boundary counts only its GPU-seconds inside the period (a run still going counts up to now),
 * and a report for consecutive periods adds up to one for their union. A job is counted in
 * "jobs" of every period in which it used a GPU-second. Jobs purged by the retention count
 * through the daily aggregate retention.c keeps (by team and user; by class or job their
 * usage is one "(purged)" row). Only the jobs the caller may see are counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/artifacts.h"
#include "server/gpu_use.h"
#include "server/server.h"

static int parse_time(const char *s, double now, double *out, gt_error_t *err)
{
    /* Absolute epoch seconds, or a duration ago ("7d", "24h"). */
    char *end;
    double v = strtod(s, &end);
    if (!*end && end != s && v > 1e9) {
        *out = v;
        return 0;
    }
    int64_t d;
    if (gt_parse_duration(s, &d, err) < 0)
        return -1;
    *out = now - (double)d;
    return 0;
}

/* Rows in the order of their key: by name, jobs by id, the "(purged)" row last. */
static int row_cmp(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    bool pa_ = json_is_true(json_object_get(a, "purged")),
         pb_ = json_is_true(json_object_get(b, "purged"));
    if (pa_ != pb_)
        return pa_ ? 1 : -1;
    json_t *ja = json_object_get(a, "job"), *jb = json_object_get(b, "job");
    if (json_is_integer(ja) && json_is_integer(jb))
        return json_integer_value(ja) < json_integer_value(jb)   ? -1
               : json_integer_value(ja) > json_integer_value(jb) ? 1
                                                                 : 0;
    return strcmp(json_string_value(json_object_get(a, "key")),
                  json_string_value(json_object_get(b, "key")));
}

int api_usage(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/usage");
    const char *from = http_query(req, "from"), *to = http_query(req, "to"),
               *by = http_query(req, "by");
    if (!from)
        from = http_query(req, "since");
    if (!to)
        to = http_query(req, "until");
    double now = server_now(), t0 = 0, t1 = now;
    gt_error_t err = {0};
    if (from && parse_time(from, now, &t0, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "from: %s", err.msg);
    if (to && parse_time(to, now, &t1, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "to: %s", err.msg);
    if (t1 < t0)
        return http_error(resp, 400, "invalid_argument",
                          "the period ends (to %.3f) before it begins (from %.3f)", t1, t0);
    if (!by)
        by = "team";
    if (strcmp(by, "team") && strcmp(by, "user") && strcmp(by, "class") && strcmp(by, "job"))
        return http_error(resp, 400, "invalid_argument",
                          "by must be team, user, class or job, not '%s'", by);
    bool by_job = !strcmp(by, "job");
    json_t *acc = json_object();
    pthread_mutex_lock(&srv->mu);
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j || j->start_time <= 0 || !auth_can_see_team(&req->who, j->team))
            continue;
        double gpu_s = usage_job_gpu_s(j, t0, t1, now);
        if (gpu_s <= 0)
            continue;
        char idbuf[24];
        snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)j->id);
        const char *k = by_job                  ? idbuf
                        : !strcmp(by, "user")   ? j->user
                        : !strcmp(by, "class") ? (j->prio_class ? j->prio_class : "")
                                                : j->team;
        json_t *row = usage_row_add(acc, by, k, gpu_s, 1);
        gpu_use_usage_add(acc, k, j, t0, t1, now); /* its idle GPU-hours (gpu_use.h) */
        if (by_job) {
            json_object_set_new(row, "job", json_integer((json_int_t)j->id));
            json_object_set_new(row, "name", json_string(j->name ? j->name : ""));
            json_object_set_new(row, "team", json_string(j->team));
            json_object_set_new(row, "user", json_string(j->user));
            json_object_set_new(row, "class", json_string(j->prio_class ? j->prio_class : ""));
            json_object_set_new(row, "state", json_string(job_state_name(j->state)));
        }
    }
    /* Jobs purged by the retention: their usage in aggregate. */
    retention_usage(srv, acc, &req->who, by, t0, t1);
    pthread_mutex_unlock(&srv->mu);
    size_t n = json_object_size(acc), i = 0;
    json_t **rows = xcalloc(n ? n : 1, sizeof(*rows));
    const char *k;
    json_t *v;
    json_object_foreach(acc, k, v)
    {
        json_object_set_new(v, "key", json_string(k));
        if (!json_object_get(v, "idle_gpu_hours")) /* only purged jobs' usage: not kept */
            json_object_set_new(v, "idle_gpu_hours", json_real(0));
        rows[i++] = v;
    }
    qsort(rows, n, sizeof(*rows), row_cmp);
    json_t *arr = json_array();
    for (i = 0; i < n; i++) {
        json_object_del(rows[i], "key");
        json_array_append(arr, rows[i]);
    }
    free(rows);
    json_decref(acc);
    resp->json = json_pack("{s:f,s:f,s:f,s:f,s:s,s:o}", "from", t0, "to", t1, "since", t0,
                           "until", t1, "by", by, "usage", arr);
    /* artifacts.h: what each team the caller sees holds in the blob store, and its quota */
    json_t *storage = json_array();
    pthread_mutex_lock(&srv->mu);
    for (size_t t = 0; t < srv->nteams; t++) {
        const char *team = srv->teams[t].name;
        if (!team || !auth_can_see_team(&req->who, team))
            continue;
        int64_t quota = artifacts_team_quota(srv, team);
        json_t *row = json_pack("{s:s, s:I}", "team", team, "storage_bytes",
                                (json_int_t)artifacts_team_usage(srv, team));
        json_object_set_new(row, "storage_quota", quota >= 0 ? json_integer(quota) : json_null());
        json_array_append_new(storage, row);
    }
    pthread_mutex_unlock(&srv->mu);
    json_object_set_new(resp->json, "storage", storage);
    return 0;
}
