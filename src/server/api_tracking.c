/* api_tracking.c: a job's metrics over the API (docs/tracking.md, server/tracking.h):
 * POST /v1/agent/metrics (the agent ships the job's $GANTRY_METRICS file, as it ships logs),
 * GET /v1/jobs/{id}/metrics (the series, its summary, the invalid lines), and
 * POST /v1/jobs/{id}/metrics (points over HTTP, with the run's own token or an admin's). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "server/tracking.h"

#define READ_MAX_POINTS 1000000 /* points in one answer (next_offset goes on) */

int api_agent_metrics(server_t *srv, http_req_t *req, http_resp_t *resp, json_t *body)
{
    json_int_t id = json_integer_value(json_object_get(body, "job_id"));
    int inc = (int)json_integer_value(json_object_get(body, "incarnation"));
    json_t *off = json_object_get(body, "offset"), *data = json_object_get(body, "data");
    if (!json_is_integer(off) || json_integer_value(off) < 0 || inc < 1 || id < 1 ||
        !json_is_string(data))
        return http_error(resp, 400, "invalid_argument", "a metrics chunk needs job_id, "
                          "incarnation (>= 1), offset (>= 0) and data (whole JSON lines)");
    if (req->who.role != AUTH_ADMIN && req->who.role != AUTH_NODE)
        return node_auth_check(req, "", resp), 0;
    size_t len = json_string_length(data);
    if (len > TRACKING_CHUNK_MAX)
        return http_error(resp, 413, "too_large", "a metrics chunk carries at most %d bytes",
                          TRACKING_CHUNK_MAX);
    pthread_mutex_lock(&srv->mu);
    job_t *j = server_job(srv, (uint64_t)id);
    /* A job that is not this node's is answered as one that does not exist. */
    if (!j || inc > j->incarnation || !node_auth_may_log(srv, req, j, inc)) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 404, "not_found", "job %lld incarnation %d is not known",
                          (long long)id, inc);
    }
    /* One series per job: its first node's (rank 0), as a gang's trainers log on rank 0. */
    const char *node = req->who.role == AUTH_NODE
                           ? req->who.user
                           : json_string_value(json_object_get(body, "node"));
    int rank = node ? api_log_node_rank(j, inc, node) : 0;
    if (rank < 0 && api_log_run_count(j, inc) == 0)
        rank = 0;
    pthread_mutex_unlock(&srv->mu);
    if (rank != 0)
        return http_error(resp, 404, "not_found", "job %lld's metrics come from its first node "
                          "(rank 0), not %s", (long long)id, node ? node : "this one");
    gt_error_t err = {0};
    int64_t have = 0;
    int rc = tracking_ingest_chunk(srv->tracking, (uint64_t)id, inc, json_integer_value(off),
                                   json_string_value(data), len,
                                   json_is_true(json_object_get(body, "final")), &have, &err);
    if (rc < 0)
        return http_error_from(resp, 500, &err);
    if (rc == 1) {
        http_error(resp, 416, "bad_offset", "offset %lld is beyond what the server has of job "
                   "%lld's run %d metrics (%lld bytes): send from there",
                   (long long)json_integer_value(off), (long long)id, inc, (long long)have);
        json_object_set_new(json_object_get(resp->json, "error"), "size",
                            json_integer((json_int_t)have));
        return 0;
    }
    resp->json = json_pack("{s:I}", "offset", (json_int_t)have);
    return 0;
}

/* Points over HTTP for run inc of job id (checked by the caller). */
static int post_points(server_t *srv, http_req_t *req, http_resp_t *resp, uint64_t id, int inc)
{
    if (req->body_len > TRACKING_CHUNK_MAX)
        return http_error(resp, 413, "too_large", "one request carries at most %d bytes of "
                          "metrics", TRACKING_CHUNK_MAX);
    gt_error_t err = {0};
    int taken = 0, invalid = 0;
    if (tracking_ingest_http(srv->tracking, id, inc, req->body ? req->body : "", req->body_len,
                             &taken, &invalid, &err) < 0)
        return http_error_from(resp, 500, &err);
    resp->json = json_pack("{s:i,s:i}", "accepted", taken, "invalid", invalid);
    return 0;
}

int api_tracking_job_token(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    char want[96];
    snprintf(want, sizeof(want), "/v1/jobs/%" PRIu64 "/metrics", req->who.job_id);
    if (strcmp(req->method, "POST") || strcmp(req->path, want))
        return http_error(resp, 403, "forbidden", "a job's token may only POST its own job's "
                          "metrics (%s)", want);
    pthread_mutex_lock(&srv->mu);
    job_t *j = server_job(srv, req->who.job_id);
    bool live = j && j->state == JOB_RUNNING && j->incarnation == req->who.job_inc;
    pthread_mutex_unlock(&srv->mu);
    if (!live)
        return http_error(resp, 401, "expired_token", "job %" PRIu64 "'s run %d is over: its "
                          "token has expired", req->who.job_id, req->who.job_inc);
    return post_points(srv, req, resp, req->who.job_id, req->who.job_inc);
}

int api_job_metrics(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j)
{
    uint64_t id = j->id;
    int inc = j->incarnation;
    if (!strcmp(req->method, "POST")) {
        bool running = j->state == JOB_RUNNING;
        pthread_mutex_unlock(&srv->mu);
        if (req->who.role != AUTH_ADMIN)
            return http_error(resp, 403, "forbidden", "metrics are written by the job itself "
                              "(its $GANTRY_METRICS file, or this endpoint with its "
                              "$GANTRY_JOB_TOKEN) or by an admin");
        if (!running)
            return http_error(resp, 409, "conflict", "job %" PRIu64 " is not running: its "
                              "metrics are closed", id);
        return post_points(srv, req, resp, id, inc);
    }
    if (strcmp(req->method, "GET")) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 405, "method_not_allowed", "use GET or POST on "
                          "/v1/jobs/{id}/metrics");
    }
    json_t *head = json_pack("{s:I,s:s,s:s,s:i}", "job_id", (json_int_t)id, "name",
                             j->name ? j->name : "", "state", job_state_name(j->state),
                             "incarnation", inc);
    json_object_set_new(head, "params", j->params ? json_deep_copy(j->params) : json_object());
    if (j->array_id > 0) {
        json_object_set_new(head, "array_id", json_integer((json_int_t)j->array_id));
        json_object_set_new(head, "array_index", json_integer((json_int_t)j->array_index));
    }
    pthread_mutex_unlock(&srv->mu);
    const char *off = http_query(req, "offset"), *lim = http_query(req, "limit"),
               *sum = http_query(req, "summary");
    gt_error_t err = {0};
    int64_t from = 0, limit = READ_MAX_POINTS;
    if ((off && gt_parse_int64(off, 0, INT64_MAX, &from, &err) < 0) ||
        (lim && gt_parse_int64(lim, 1, READ_MAX_POINTS, &limit, &err) < 0)) {
        json_decref(head);
        return http_error(resp, 400, "invalid_argument", "%s: %s", off ? "offset" : "limit",
                          err.msg);
    }
    bool summary_only = sum && (!strcmp(sum, "1") || !strcmp(sum, "true"));
    tracking_read_t r;
    if (tracking_read(srv->tracking, id, from, summary_only ? READ_MAX_POINTS : limit, &r,
                      &err) < 0) {
        json_decref(head);
        return http_error_from(resp, 500, &err);
    }
    if (!summary_only)
        json_object_set(head, "points", r.points);
    json_object_set(head, "summary", r.summary);
    json_object_set_new(head, "invalid", json_integer((json_int_t)r.invalid));
    json_object_set(head, "invalid_lines", r.bad);
    json_object_set_new(head, "next_offset", json_integer((json_int_t)r.next));
    tracking_read_free(&r);
    resp->json = head;
    return 0;
}
