/* api.c: the router, /healthz, and the job endpoints (/v1/jobs...). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/artifacts.h"
#include "server/attach.h"
#include "server/events.h"
#include "server/series.h"
#include "server/server.h"
#include "server/lineage.h"
#include "server/leader.h"
#include "server/gpu_use.h"
#include "server/services.h"

int api_route(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    const char *p = req->path;
    if (!strcmp(p, "/healthz")) {
        resp->json = json_pack("{s:s}", "status", "ok");
        return 0;
    }
    if (!strcmp(p, "/v1/leader")) { /* who leads (docs/ha.md): no token, as on a standby */
        resp->json = leader_describe(srv);
        return 0;
    }
    if (api_web(srv, req, resp))
        return 0;
    if (strncmp(p, "/v1/", 4) != 0)
        return http_error(resp, 404, "not_found", "no such endpoint: %s %s", req->method, p);
    if (!req->authed) {
        /* Each case its own sentence; the token itself is never echoed. */
        if (req->token == HTTP_TOKEN_UNKNOWN)
            return http_error(resp, 401, "unknown_token",
                              "the token is unknown to this server (mistyped, revoked, or from "
                              "another server): check --token or GANTRY_TOKEN, or ask an admin "
                              "for a new one (`gantry token create`)");
        if (req->token == HTTP_TOKEN_EXPIRED)
            return http_error(resp, 401, "expired_token",
                              "the token has expired: ask an admin for a new one (`gantry token "
                              "create`)");
        if (req->token == HTTP_TOKEN_NOT_BEARER)
            return http_error(resp, 401, "unauthorized",
                              "the Authorization header must be 'Bearer <token>'");
        return http_error(resp, 401, "unauthorized",
                          "a token is required: pass --token, set GANTRY_TOKEN, or send "
                          "'Authorization: Bearer <token>'");
    }
    if (req->who.job_id) /* a job's own token: its metrics, nothing else */
        return api_tracking_job_token(srv, req, resp);
    p += 4;
    bool agent_path = !strncmp(p, "agent/", 6);
    if (auth_read_only(&req->who) && strcmp(req->method, "GET"))
        return http_error(resp, 403, "forbidden", "a %s token is read-only: it may only GET",
                          auth_role_name(req->who.role));
    bool node_role = req->who.role == AUTH_AGENT || req->who.role == AUTH_NODE;
    if (node_role && !agent_path)
        return http_error(resp, 403, "forbidden", "an agent token may only use /v1/agent/...");
    if (agent_path) {
        if (!node_role && req->who.role != AUTH_ADMIN)
            return http_error(resp, 403, "forbidden", "only agent (or admin) tokens may use "
                                                      "/v1/agent/...");
        return api_agents(srv, req, resp, p + 6);
    }
    if (!strcmp(p, "jobs") || !strncmp(p, "jobs/", 5))
        return api_jobs(srv, req, resp, p[4] ? p + 5 : "");
    int lrc = api_lineage(srv, req, resp, p); /* 1: not one of lineage.c's routes */
    if (lrc != 1)
        return lrc;
    if (!strcmp(p, "nodes") || !strncmp(p, "nodes/", 6))
        return api_nodes(srv, req, resp, p[5] ? p + 6 : "");
    if (!strcmp(p, "maintenance") || !strncmp(p, "maintenance/", 12))
        return api_maintenance(srv, req, resp, p[11] ? p + 12 : "");
    if (!strcmp(p, "teams") || !strncmp(p, "teams/", 6))
        return api_teams(srv, req, resp, p[5] ? p + 6 : "");
    if (!strcmp(p, "usage"))
        return api_usage(srv, req, resp);
    if (!strcmp(p, "tokens") || !strncmp(p, "tokens/", 7))
        return api_tokens(srv, req, resp, p[6] ? p + 7 : "");
    if (!strcmp(p, "users") || !strncmp(p, "users/", 6))
        return api_users(srv, req, resp, p[5] ? p + 6 : "");
    if (!strcmp(p, "volumes") || !strncmp(p, "volumes/", 8))
        return api_volumes(srv, req, resp, p[7] ? p + 8 : "");
    if (!strcmp(p, "environments") || !strncmp(p, "environments/", 13))
        return api_environments(srv, req, resp, p[12] ? p + 13 : "");
    if (!strcmp(p, "metrics"))
        return api_metrics(srv, req, resp);
    if (!strcmp(p, "idle"))
        return api_idle(srv, req, resp);
    if (!strcmp(p, "events"))
        return api_events(srv, req, resp);
    if (!strcmp(p, "audit"))
        return api_audit(srv, req, resp);
    if (!strcmp(p, "series"))
        return api_series(srv, req, resp);
    if (!strcmp(p, "whoami"))
        return api_whoami(srv, req, resp);
    if (!strcmp(p, "gpus"))
        return api_gpus(srv, req, resp);
    if (!strcmp(p, "services") || !strncmp(p, "services/", 9))
        return api_services(srv, req, resp, p[8] ? p + 9 : "");
    if (!strcmp(p, "artifacts") || !strncmp(p, "artifacts/", 10))
        return api_artifacts(srv, req, resp, p[9] ? p + 10 : "");
    return http_error(resp, 404, "not_found", "no such endpoint: %s %s", req->method,
                      req->path);
}

static bool method(const http_req_t *r, const char *m) { return !strcmp(r->method, m); }

static bool may_see(const auth_principal_t *who, const job_t *j)
{
    return auth_can_see_team(who, j->team);
}

/* A job as who may see it: annotated with its pending reason; blocked_by only when who may
 * see the blocking job too (another team's job id is not revealed), without the token id that
 * scopes its Idempotency-Key. Caller holds mu. */
static json_t *job_view(server_t *srv, const job_t *j, const auth_principal_t *who)
{
    json_t *o = job_to_json(j);
    server_job_annotate(srv, j, o);
    json_object_del(o, "idempotency_scope");
    json_t *b = json_object_get(o, "blocked_by");
    if (b) {
        job_t *by = server_job(srv, (uint64_t)json_integer_value(b));
        if (!by || !may_see(who, by))
            json_object_del(o, "blocked_by");
    }
    return o;
}

json_t *api_job_view(server_t *srv, const job_t *j, const auth_principal_t *who)
{
    return job_view(srv, j, who);
}

int api_job_check(server_t *srv, const auth_principal_t *who, job_t *j, gt_error_t *err)
{
    errno = EINVAL;
    if (!server_class(srv, j->prio_class))
        return gt_error_set(err, "invalid_argument", "priority class '%s' does not exist; "
                            "known: production, normal, experimental (or those of the "
                            "configuration)", j->prio_class ? j->prio_class : "");
    size_t i;
    json_t *d;
    /* A GPU type must be one the cluster knows (a node's or a quota's): a name from a request
     * would otherwise take one of the scheduler's 64 type slots for good. */
    json_array_foreach(j->gpu_types, i, d)
    {
        if (sched_gpu_type_find(srv->sched, json_string_value(d)) < 0) {
            gt_buf_t known = {0};
            for (int k = 0; k < sched_gpu_type_count(srv->sched); k++)
                if (strcmp(sched_gpu_type_name(srv->sched, k), "none"))
                    gt_buf_printf(&known, "%s%s", known.len ? ", " : "",
                                  sched_gpu_type_name(srv->sched, k));
            gt_error_set(err, "invalid_argument",
                         "no node offers GPU type '%s'; known: %s (see `gantry nodes`)",
                         json_string_value(d), known.len ? known.data : "none yet");
            gt_buf_free(&known);
            errno = EINVAL;
            return -1;
        }
    }
    /* A job the caller may not see is answered as one that does not exist (job_gate.c). */
    return server_gate_deps_resolve(srv, who, j, err);
}

/* ---- submission (store.h: prepared, committed, then applied to memory) ---- */

/* The job documents one request may create, in bytes (an array's tasks times a document's
 * size): they are built and committed at once. */
#define SUBMIT_MAX_DOC_BYTES ((size_t)64 << 20)
/* Array tasks enter memory this many at a time (and at most this many bytes of documents:
 * each is a deep copy), the lock taken and released between. */
#define SUBMIT_INSERT_BATCH 256
#define SUBMIT_INSERT_BYTES ((size_t)4 << 20)

typedef struct submission {
    job_t *tmpl;                /* the first task; the others are its clones */
    uint64_t first;
    int64_t count;
    job_array_t array;          /* count 0: not an array */
    size_t doc_bytes;           /* one task's document */
    auth_principal_t who;       /* the submitter, for the answer's view */
    json_t *ignored;            /* the server's own fields the body carried (or NULL) */
} submission_t;

/* 413 when count documents like j's exceed the cap (checked before anything is built). */
static int over_doc_cap(const job_t *j, int64_t count, http_resp_t *resp)
{
    char *doc = server_job_doc(j);
    size_t one = strlen(doc) + 64; /* ids, index, state and times vary a little */
    free(doc);
    if ((uint64_t)count <= SUBMIT_MAX_DOC_BYTES / one)
        return 0;
    http_error(resp, 413, "payload_too_large",
               "%lld tasks of about %zu bytes each are %.0f MiB of job documents; one request "
               "may create at most %zu MiB: submit the array in parts, or make the job (its "
               "environment) smaller", (long long)count, one,
               (double)count * (double)one / (1 << 20), SUBMIT_MAX_DOC_BYTES >> 20);
    return -1;
}

/* After the commit: the jobs enter memory (SUBMIT_INSERT_BATCH at a time: a large array never
 * holds the lock long), or, refused, nothing does. */
static void submit_apply(server_t *srv, http_resp_t *resp, int rc, const gt_error_t *cerr)
{
    submission_t *sub = resp->apply_arg;
    job_t *j = sub->tmpl;
    if (rc < 0) {
        pthread_mutex_lock(&srv->mu);
        if (j->idem_key)
            server_idem_settle(srv, j->idem_scope, j->idem_key, false);
        if (j->kind == JOB_KIND_SERVICE)
            services_settle(srv, j->name, false, 0, 0);
        pthread_mutex_unlock(&srv->mu);
        fprintf(stderr, "gantry server: a submission of %lld job(s) by %s was refused: %s\n",
                (long long)sub->count, sub->who.user, cerr->msg);
        job_free(j);
        job_array_free(&sub->array);
        json_decref(sub->ignored);
        free(sub);
        http_error_from(resp, 503, cerr);
        return;
    }
    int64_t batch = (int64_t)(SUBMIT_INSERT_BYTES / (sub->doc_bytes ? sub->doc_bytes : 1));
    batch = batch < 1 ? 1 : batch > SUBMIT_INSERT_BATCH ? SUBMIT_INSERT_BATCH : batch;
    for (int64_t k = 0; k < sub->count;) {
        pthread_mutex_lock(&srv->mu);
        for (int64_t n = 0; n < batch && k < sub->count; n++, k++) {
            job_t *t = k + 1 < sub->count ? job_clone(j) : j;
            t->id = sub->first + (uint64_t)k;
            if (sub->array.count)
                t->array_index = sub->array.index[k];
            if (t->kind == JOB_KIND_SERVICE)
                t->replica = (int)k;
            srv->jobs[t->id] = t;
            json_t *d = json_pack("{s:s}", "by", sub->who.user);
            if (t->held)
                json_object_set_new(d, "held", json_true());
            server_job_event(srv, t, "submitted", d);
            if (k == 0 && sub->array.count)
                server_gate_array_loading(srv, t, true);
            gt_error_t err = {0};
            if (server_enter_sched(srv, t, &err) < 0) /* checked before: should not happen */
                server_finish_job(srv, t, JOB_FAILED, "invalid", err.msg, 0, 0);
        }
        pthread_mutex_unlock(&srv->mu);
    }
    pthread_mutex_lock(&srv->mu);
    job_t *first = server_job(srv, sub->first);
    if (sub->array.count) {
        job_t *last = server_job(srv, sub->first + (uint64_t)sub->count - 1);
        server_gate_array_loading(srv, j, false);
        if (last) /* a dependent that waited on the array while it loaded looks again */
            server_gate_recheck(srv, last);
    }
    if (first && first->idem_key)
        server_idem_settle(srv, first->idem_scope, first->idem_key, true);
    if (first && first->kind == JOB_KIND_SERVICE) {
        services_settle(srv, first->service, true, sub->first, sub->count);
        server_kick(srv);
    }
    json_t *view = first ? job_view(srv, first, &sub->who) : json_object();
    pthread_mutex_unlock(&srv->mu);
    if (sub->array.count) {
        json_t *ids = json_array();
        for (int64_t k = 0; k < sub->count && k < 1000; k++)
            json_array_append_new(ids, json_integer((json_int_t)(sub->first + (uint64_t)k)));
        json_object_set_new(view, "array_job_ids", ids);
        json_object_set_new(view, "array_count", json_integer(sub->count));
    }
    if (sub->ignored)
        json_object_set_new(view, "ignored", sub->ignored);
    resp->status = 201;
    snprintf(resp->location, sizeof(resp->location), "/v1/jobs/%llu",
             (unsigned long long)sub->first);
    resp->json = view;
    job_array_free(&sub->array);
    free(sub);
}

static int submit_parsed(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j,
                         job_array_t *arr, json_t *ignored);
static int submit_body(server_t *srv, http_req_t *req, http_resp_t *resp, json_t *body,
                       json_t *ignored);

/* A job's own document may come back (kubectl apply's habit): the fields the server sets are
 * dropped and named in the answer's "ignored"; other unknown fields are refused. */
static int submit(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    if (req->who.role == AUTH_AGENT || req->who.role == AUTH_NODE)
        return http_error(resp, 403, "forbidden", "agents can't submit jobs");
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    json_t *ignored = job_drop_server_owned(body);
    int rc = submit_body(srv, req, resp, body, ignored);
    json_decref(ignored);
    return rc;
}

/* submit's body (consumed), ignored its dropped fields (borrowed). */
static int submit_body(server_t *srv, http_req_t *req, http_resp_t *resp, json_t *body,
                       json_t *ignored)
{
    gt_error_t err = {0};
    job_t *j = NULL;
    job_array_t arr;
    const char *dflt_team = req->who.team[0] ? req->who.team : NULL;
    if (job_parse_request(body, req->who.user, dflt_team, &j, &arr, &err) < 0) {
        json_decref(body);
        return http_error_from(resp, 400, &err);
    }
    json_decref(body);
    int rc = submit_parsed(srv, req, resp, j, &arr, ignored);
    job_array_free(&arr); /* empty when the submission took it */
    return rc;
}

/* ignored: the server's fields the body carried, for the answer (borrowed; NULL: none). */
static int submit_parsed(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j,
                         job_array_t *arr, json_t *ignored)
{
    gt_error_t err = {0};
    const char *key = http_header(req, "Idempotency-Key");
    if (key && (strlen(key) == 0 || strlen(key) > 200)) {
        job_free(j);
        return http_error(resp, 400, "invalid_argument",
                          "Idempotency-Key must be 1 to 200 characters");
    }
    if (!auth_can_use_team(&req->who, j->team)) {
        http_error(resp, 403, "forbidden", "user %s may not submit to team '%s' (token team: "
                   "'%s')", req->who.user, j->team, req->who.team);
        job_free(j);
        return 0;
    }
    int64_t count = arr->count ? arr->count : j->kind == JOB_KIND_SERVICE ? j->replicas : 1;
    if (over_doc_cap(j, count, resp) < 0) {
        job_free(j);
        return 0;
    }
    pthread_mutex_lock(&srv->mu);
    if (key) {
        job_t *old = server_idem_find(srv, req->who.token_id, key);
        if (old) {
            resp->json = job_view(srv, old, &req->who);
            if (ignored)
                json_object_set(resp->json, "ignored", ignored);
            resp->status = 200;
            pthread_mutex_unlock(&srv->mu);
            job_free(j);
            return 0;
        }
        if (server_idem_pending(srv, req->who.token_id, key)) {
            pthread_mutex_unlock(&srv->mu);
            job_free(j);
            return http_error(resp, 409, "conflict", "a submission with this Idempotency-Key "
                              "is being saved: retry in a moment to get its job");
        }
        j->idem_key = xstrdup(key);
        j->idem_scope = xstrdup(req->who.token_id);
    }
    if (!server_team(srv, j->team)) {
        pthread_mutex_unlock(&srv->mu);
        http_error(resp, 400, "invalid_argument", "team '%s' does not exist: see `gantry teams`",
                   j->team);
        job_free(j);
        return 0;
    }
    if (server_job_resolve_env(srv, j, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        job_free(j);
        return http_error_from(resp, 400, &err);
    }
    /* A stack's env and mounts made each document larger than the check above saw. */
    if (j->environment && over_doc_cap(j, count, resp) < 0) {
        pthread_mutex_unlock(&srv->mu);
        job_free(j);
        return 0;
    }
    if (lineage_resolve_job(srv, j, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        job_free(j);
        return http_error_from(resp, !strcmp(err.code, "forbidden") ? 403
                                     : !strcmp(err.code, "not_found") ? 404 : 400, &err);
    }
    if (server_job_resolve_partition(srv, j, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        job_free(j);
        return http_error_from(resp, 400, &err);
    }
    if (!j->prio_class)
        j->prio_class = xstrdup(srv->default_class);
    if (api_job_check(srv, &req->who, j, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        job_free(j);
        return http_error_from(resp, 400, &err);
    }
    j->submit_time = server_now();
    j->id = srv->next_id;
    if (arr->count) {
        j->array_id = (int64_t)j->id;
        j->array_index = arr->index[0];
    }
    if (server_check_job(srv, j, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        job_free(j);
        return http_error_from(resp, 400, &err);
    }
    /* A service: its name is its endpoint's, one at a time; its record commits with its
     * replicas (services.h). */
    char *svc_doc = NULL;
    if (j->kind == JOB_KIND_SERVICE) {
        if (services_name_taken(srv, j->name)) {
            pthread_mutex_unlock(&srv->mu);
            http_error(resp, 409, "conflict", "service '%s' exists: change it with `gantry "
                       "update %s`, `gantry scale %s N`, or delete it first", j->name, j->name,
                       j->name);
            job_free(j);
            return 0;
        }
        j->service = xstrdup(j->name);
        j->revision = 1;
        svc_doc = services_reserve(srv, j);
    }
    /* Ids are taken now (a refused commit leaves a gap); the jobs enter memory once their
     * records are durable (submit_apply), a reader meanwhile sees nothing. */
    submission_t *sub = xcalloc(1, sizeof(*sub));
    sub->tmpl = j;
    sub->first = j->id;
    sub->count = count;
    sub->array = *arr;
    *arr = (job_array_t){0};
    sub->who = req->who;
    sub->ignored = ignored ? json_incref(ignored) : NULL;
    srv->next_id += (uint64_t)count;
    server_jobs_reserve(srv, srv->next_id);
    if (j->idem_key)
        server_idem_reserve(srv, j->idem_scope, j->idem_key, sub->first);
    pthread_mutex_unlock(&srv->mu);

    /* The documents are built and queued outside the lock: an array's can be tens of MB. */
    store_op_t *ops = xcalloc((size_t)count + 1, sizeof(*ops));
    for (int64_t k = 0; k < count; k++) {
        j->id = sub->first + (uint64_t)k;
        if (sub->array.count)
            j->array_index = sub->array.index[k];
        if (j->kind == JOB_KIND_SERVICE)
            j->replica = (int)k;
        ops[k] = (store_op_t){.kind = STORE_JOB_PUT, .id = j->id, .a = xstrdup(j->team),
                              .b = xstrdup(j->user), .c = xstrdup(job_state_name(j->state)),
                              .d = server_job_doc(j)};
    }
    j->id = sub->first;
    j->array_index = sub->array.count ? sub->array.index[0] : j->array_index;
    j->replica = 0;
    sub->doc_bytes = strlen(ops[0].d);
    size_t nops = (size_t)count;
    if (svc_doc)
        ops[nops++] = (store_op_t){.kind = STORE_SETTING_PUT, .a = xstrdup("service"),
                                   .b = xstrdup(j->name), .d = svc_doc};
    resp->ticket = store_enqueue_client_owned(srv->store, ops, nops);
    resp->apply = submit_apply; /* answered, and in memory, once durable (http.c) */
    resp->apply_arg = sub;
    return 0;
}

static int list(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    const char *lim = http_query(req, "limit"), *after = http_query(req, "after");
    gt_error_t err = {0};
    int64_t limit = 500, after_id = 0;
    if (lim && gt_parse_int64(lim, 1, 10000, &limit, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "limit: %s", err.msg);
    if (after && gt_parse_int64(after, 0, INT64_MAX, &after_id, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "after: %s", err.msg);
    job_filter_t f;
    if (job_filter_parse(req, &f, resp) < 0)
        return 0;
    json_t *arr = json_array();
    pthread_mutex_lock(&srv->mu);
    uint64_t last = 0;
    bool more = false;
    int64_t total = 0;
    /* Oldest first (id order). Every matching job is counted, so that a client showing one
     * page can say which part it shows. */
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j || !may_see(&req->who, j) || !job_filter_match(&f, j))
            continue;
        total++;
        if ((int64_t)id <= after_id || more)
            continue;
        if ((int64_t)json_array_size(arr) >= limit) {
            more = true;
            continue;
        }
        json_t *view = job_view(srv, j, &req->who);
        services_annotate(srv, j, view, http_header(req, "Host"));
        json_array_append_new(arr, view);
        last = id;
    }
    pthread_mutex_unlock(&srv->mu);
    job_filter_free(&f);
    resp->json = json_pack("{s:o,s:I}", "jobs", arr, "total", (json_int_t)total);
    if (more)
        json_object_set_new(resp->json, "next_after", json_integer((json_int_t)last));
    return 0;
}

/* The job reference at the start of s ("N" or "N_M", then nothing or "/..."): copied into ref
 * (for server_job_ref), *rest after its '/'. -1 when it is not one. */
static int get_ref(const char *s, char *ref, size_t len, const char **rest)
{
    size_t n = strcspn(s, "/");
    uint64_t id;
    int64_t index;
    if (n == 0 || n >= len)
        return -1;
    memcpy(ref, s, n);
    ref[n] = '\0';
    if (gt_job_ref_parse(ref, &id, &index) < 0)
        return -1;
    *rest = s[n] ? s + n + 1 : s + n;
    return 0;
}

int api_jobs(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest)
{
    if (!*rest) {
        if (method(req, "POST"))
            return submit(srv, req, resp);
        if (method(req, "GET"))
            return list(srv, req, resp);
        if (method(req, "DELETE"))
            return api_jobs_cancel_matching(srv, req, resp);
        return http_error(resp, 405, "method_not_allowed", "use GET, POST or DELETE on "
                          "/v1/jobs");
    }
    char ref[48];
    const char *sub;
    if (get_ref(rest, ref, sizeof(ref), &sub) < 0)
        return http_error(resp, 400, "invalid_argument", "'%s' is not a job id (N, or N_M for "
                          "array N's task with index M)", rest);
    pthread_mutex_lock(&srv->mu);
    job_t *j = server_job_ref(srv, ref);
    if (!j || !may_see(&req->who, j)) {
        pthread_mutex_unlock(&srv->mu);
        /* Other teams' jobs are not found rather than forbidden: ids reveal nothing. */
        return http_error(resp, 404, "not_found", "job %s does not exist", ref);
    }
    if (!strcmp(sub, "logs") && method(req, "GET")) {
        int rc = api_job_logs(srv, req, resp, j);
        pthread_mutex_unlock(&srv->mu);
        return rc;
    }
    if (!strcmp(sub, "metrics"))
        return api_job_metrics(srv, req, resp, j); /* releases mu */
    if (!strcmp(sub, "events")) {
        uint64_t id = j->id;
        pthread_mutex_unlock(&srv->mu); /* the store is read without the lock */
        return api_job_events(srv, req, resp, id);
    }
    /* An array's id (not one task's name) acts on all its tasks: Slurm's `scancel ID`. */
    bool whole = j->array_id == (int64_t)j->id && !strchr(rest, '_');
    if (!strcmp(sub, "hold") || !strcmp(sub, "release") || !strcmp(sub, "requeue")) {
        if (method(req, "POST"))
            return api_job_control(srv, req, resp, j, sub, whole);
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 405, "method_not_allowed", "use POST on /v1/jobs/{id}/%s",
                          sub);
    }
    if (!strcmp(sub, "attach") || !strcmp(sub, "port-forward") || !strcmp(sub, "sessions"))
        return api_attach_job(srv, req, resp, j, sub); /* releases mu */
    if (!strcmp(sub, "spec") && method(req, "GET")) { /* the form to edit and submit again */
        json_t *view = job_view(srv, j, &req->who);
        pthread_mutex_unlock(&srv->mu);
        resp->json = job_spec_json(view);
        json_decref(view);
        return 0;
    }
    if (*sub) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 404, "not_found", "no such endpoint: %s %s", req->method,
                          req->path);
    }
    if (method(req, "GET")) {
        resp->json = job_view(srv, j, &req->who);
        services_annotate(srv, j, resp->json, http_header(req, "Host"));
        pthread_mutex_unlock(&srv->mu);
        return 0;
    }
    if (method(req, "PATCH"))
        return api_job_control(srv, req, resp, j, "update", whole);
    if (method(req, "DELETE"))
        return api_job_control(srv, req, resp, j, "cancel", whole);
    pthread_mutex_unlock(&srv->mu);
    return http_error(resp, 405, "method_not_allowed", "use GET, PATCH or DELETE on a job");
}
