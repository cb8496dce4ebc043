/* api_jobctl.c: job control: cancel, hold, release, requeue and update of one job, of a whole
 * array by its id, and cancel of every job a filter matches (server.h: api_job_control).
 *
 * Each is a client's change (store.h): for every job it names, the document the job would have
 * is prepared under mu, the batch is committed with mu released, and memory changes only
 * then, for the jobs that did not change meanwhile; one that did (it started, or ended) is
 * prepared again from what it is now (at most a few times). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/events.h"
#include "server/server.h"

/* What a request asks of each job it names. */
typedef struct ctl_args {
    const auth_principal_t *who;
    const json_t *patch;     /* update: the fields to change */
    bool hold;               /* requeue: hold it too (Slurm's requeuehold) */
    bool skip_ended;         /* a cancel by filter: a job that ended while its cancel was
                                saved (a dependent of one it cancelled) is left out, not an
                                error: what was asked, that it no longer runs, holds */
} ctl_args_t;

typedef struct ctl_op {
    const char *verb;        /* "cancel", "hold", ... */
    const char *done;        /* the answer's list of ids: "cancelled", "held", ... */
    /* Whether an array's task takes part when the array is named by its id (not an error:
     * `gantry hold ARRAY` holds its pending tasks and leaves its running ones). */
    bool (*in_array)(const job_t *t);
    /* Under mu: the document j would have (new string) and its state, or NULL with err
     * (code conflict, forbidden or invalid_argument). */
    char *(*prepare)(server_t *srv, const job_t *j, const ctl_args_t *a, job_state_t *st,
                     gt_error_t *err);
    /* Under mu, once that document is durable and j is as it was: the same change in memory
     * (and whatever follows from it: the scheduler, the nodes). */
    void (*apply)(server_t *srv, job_t *j, const ctl_args_t *a);
} ctl_op_t;

static int refuse(gt_error_t *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(gt_error_t *err, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[sizeof(err->msg)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return gt_error_set(err, code, "%s", msg);
}

/* The rules every verb shares: who may act on j (those who may cancel it), and not once it
 * ended. */
static int may_control(const job_t *j, const ctl_args_t *a, const char *verb, gt_error_t *err)
{
    if (!auth_can_cancel(a->who, j->team, j->user))
        return refuse(err, "forbidden", "user %s may not %s job %llu of user %s in team %s",
                      a->who->user, verb, (unsigned long long)j->id, j->user, j->team);
    if (job_state_terminal(j->state))
        return refuse(err, "conflict", "job %llu already ended (%s)",
                      (unsigned long long)j->id, job_state_name(j->state));
    return 0;
}

static char *doc_of(job_t *c, job_state_t *st)
{
    char *doc = server_job_doc(c);
    *st = c->state;
    job_free(c);
    return doc;
}

/* ---- cancel ---- */

static bool unfinished(const job_t *t) { return !job_state_terminal(t->state); }

static char *cancel_prepare(server_t *srv, const job_t *j, const ctl_args_t *a,
                            job_state_t *st, gt_error_t *err)
{
    (void)srv;
    if (may_control(j, a, "cancel", err) < 0)
        return NULL;
    *st = JOB_CANCELLED;
    return server_job_doc_ended(j, JOB_CANCELLED, "cancelled");
}

static void cancel_apply(server_t *srv, job_t *j, const ctl_args_t *a)
{
    /* Its own kept write (and the dependents', the stop tasks) follows. */
    server_end_job(srv, j, JOB_CANCELLED, "cancelled", NULL, 0, 0,
                   json_pack("{s:s}", "by", a->who->user));
}

/* ---- hold and release ---- */

static bool is_pending(const job_t *t) { return t->state == JOB_PENDING; }
static bool is_held(const job_t *t) { return t->held && !job_state_terminal(t->state); }

static bool admin_of(const ctl_args_t *a, const job_t *j)
{
    return (a->who->role == AUTH_ADMIN || a->who->role == AUTH_TEAM_ADMIN) &&
           auth_can_admin_team(a->who, j->team);
}

static void set_hold(job_t *j, const ctl_args_t *a)
{
    j->held = true;
    free(j->held_by);
    j->held_by = xstrdup(a->who->user);
    j->held_by_admin = admin_of(a, j);
}

static char *hold_prepare(server_t *srv, const job_t *j, const ctl_args_t *a, job_state_t *st,
                          gt_error_t *err)
{
    (void)srv;
    if (may_control(j, a, "hold", err) < 0)
        return NULL;
    if (j->state != JOB_PENDING)
        return refuse(err, "conflict", "job %llu is %s: only a pending job can be held (`gantry "
                      "requeue --hold %llu` stops it and holds it in the queue)",
                      (unsigned long long)j->id, job_state_name(j->state),
                      (unsigned long long)j->id), NULL;
    if (j->held_by_admin && !admin_of(a, j))
        return refuse(err, "conflict", "job %llu is already held by an admin (%s)",
                      (unsigned long long)j->id, j->held_by ? j->held_by : "?"), NULL;
    job_t *c = job_clone(j);
    set_hold(c, a);
    return doc_of(c, st);
}

static void hold_apply(server_t *srv, job_t *j, const ctl_args_t *a)
{
    set_hold(j, a);
    server_leave_sched(srv, j); /* the throttle and singleton counts follow (job_gate.c) */
    server_job_event(srv, j, "held", json_pack("{s:s}", "by", a->who->user));
    fprintf(stderr, "gantry server: job %llu is held by %s.\n", (unsigned long long)j->id,
            a->who->user);
    pthread_cond_broadcast(&srv->changed);
}

static void clear_hold(job_t *j)
{
    j->held = j->held_by_admin = false;
    free(j->held_by);
    j->held_by = NULL;
}

static char *release_prepare(server_t *srv, const job_t *j, const ctl_args_t *a,
                             job_state_t *st, gt_error_t *err)
{
    (void)srv;
    if (may_control(j, a, "release", err) < 0)
        return NULL;
    if (!j->held)
        return refuse(err, "conflict", "job %llu is not held", (unsigned long long)j->id),
               NULL;
    if (j->held_by_admin && !admin_of(a, j))
        return refuse(err, "forbidden", "job %llu was held by an admin (%s): only an admin may "
                      "release it", (unsigned long long)j->id, j->held_by ? j->held_by : "?"),
               NULL;
    job_t *c = job_clone(j);
    clear_hold(c);
    return doc_of(c, st);
}

/* A pending job its gate no longer holds enters the scheduler (or ends, when a dependency can
 * no longer be met), as a new submission would. */
static void reenter(server_t *srv, job_t *j)
{
    if (j->state != JOB_PENDING || j->in_sched)
        return;
    gt_error_t err = {0};
    /* It waits where its gate says (job_gate.c), or is cancelled there (dependency_failed). */
    if (server_enter_sched(srv, j, &err) < 0)
        server_finish_job(srv, j, JOB_FAILED, "invalid", err.msg, 0, 0);
}

static void release_apply(server_t *srv, job_t *j, const ctl_args_t *a)
{
    clear_hold(j);
    server_job_event(srv, j, "released", json_pack("{s:s}", "by", a->who->user));
    fprintf(stderr, "gantry server: job %llu is released by %s.\n", (unsigned long long)j->id,
            a->who->user);
    reenter(srv, j);
    pthread_cond_broadcast(&srv->changed);
}

/* ---- requeue ---- */

static bool is_running(const job_t *t) { return t->state == JOB_RUNNING && !t->stopping; }

static char *requeue_prepare(server_t *srv, const job_t *j, const ctl_args_t *a,
                             job_state_t *st, gt_error_t *err)
{
    (void)srv;
    if (may_control(j, a, "requeue", err) < 0)
        return NULL;
    if (j->state != JOB_RUNNING)
        return refuse(err, "conflict", "job %llu is %s: only a running job can be requeued",
                      (unsigned long long)j->id, job_state_name(j->state)), NULL;
    if (j->stopping)
        return refuse(err, "conflict", "job %llu is already stopping (preempted or requeued)",
                      (unsigned long long)j->id), NULL;
    job_t *c = job_clone(j);
    c->stopping = true;
    if (a->hold)
        set_hold(c, a);
    return doc_of(c, st);
}

static void requeue_apply(server_t *srv, job_t *j, const ctl_args_t *a)
{
    if (a->hold)
        set_hold(j, a);
    server_job_event(srv, j, "requeued",
                     json_pack("{s:s,s:s,s:b}", "reason", "requeue", "by", a->who->user, "hold",
                               a->hold));
    fprintf(stderr, "gantry server: job %llu incarnation %d is requeued by %s%s.\n",
            (unsigned long long)j->id, j->incarnation, a->who->user, a->hold ? " (held)" : "");
    server_stop_to_requeue(srv, j, 0); /* its stopping document is already durable */
}

/* ---- update ---- */

static char *update_prepare(server_t *srv, const job_t *j, const ctl_args_t *a,
                            job_state_t *st, gt_error_t *err)
{
    if (may_control(j, a, "update", err) < 0)
        return NULL;
    if (j->state != JOB_PENDING)
        return refuse(err, "conflict", "job %llu is %s: only a pending job can be updated",
                      (unsigned long long)j->id, job_state_name(j->state)), NULL;
    job_t *c = job_clone(j);
    if (job_patch(c, a->patch, err) < 0 || api_job_check(srv, a->who, c, err) < 0) {
        job_free(c);
        return NULL;
    }
    /* The scheduler's checks of a submission, on the job as a new one (its own id may be live
     * in the scheduler: it leaves it before entering again). */
    c->id = 0;
    if (server_check_job(srv, c, err) < 0) {
        job_free(c);
        return NULL;
    }
    c->id = j->id;
    return doc_of(c, st);
}

static void update_apply(server_t *srv, job_t *j, const ctl_args_t *a)
{
    gt_error_t err = {0};
    server_leave_sched(srv, j); /* the throttle and singleton counts follow (job_gate.c) */
    /* The same patch and checks on the same job as prepared (api_job_check turns a dependency
     * "N" into the id N, as the stored document has it): they cannot fail now. */
    if (job_patch(j, a->patch, &err) < 0 || api_job_check(srv, a->who, j, &err) < 0)
        fprintf(stderr, "gantry server: job %llu: its update no longer applies: %s.\n",
                (unsigned long long)j->id, err.msg);
    json_t *fields = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a->patch, k, v)
        json_array_append_new(fields, json_string(k));
    server_job_event(srv, j, "updated",
                     json_pack("{s:s,s:o}", "by", a->who->user, "fields", fields));
    fprintf(stderr, "gantry server: job %llu is updated by %s.\n", (unsigned long long)j->id,
            a->who->user);
    reenter(srv, j); /* with its submit time: it keeps its age */
    server_kick(srv);
    pthread_cond_broadcast(&srv->changed);
}

static const ctl_op_t ops[] = {
    {"cancel", "cancelled", unfinished, cancel_prepare, cancel_apply},
    {"hold", "held", is_pending, hold_prepare, hold_apply},
    {"release", "released", is_held, release_prepare, release_apply},
    {"requeue", "requeued", is_running, requeue_prepare, requeue_apply},
    {"update", "updated", is_pending, update_prepare, update_apply},
};

static int status_of(const char *code)
{
    if (!strcmp(code, "not_found"))
        return 404;
    if (!strcmp(code, "conflict"))
        return 409;
    if (!strcmp(code, "forbidden"))
        return 403;
    if (!strcmp(code, "store_error"))
        return 503;
    return 400; /* invalid_argument, unsatisfiable: the request's own fault */
}

static void add_error(json_t *errors, uint64_t id, const gt_error_t *err)
{
    json_array_append_new(errors, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "code",
                                            err->code[0] ? err->code : "store_error", "error",
                                            err->msg));
}

/* Applies op to the jobs ids[0..n) as a client's change (above): the ids changed go to done,
 * the others to errors ({id, code, error}). Caller holds mu; returns with it held (released
 * while the store commits). */
static void run_op(server_t *srv, const ctl_op_t *op, const ctl_args_t *a, uint64_t *ids,
                   size_t n, json_t *done, json_t *errors)
{
    char **before = xcalloc(n ? n : 1, sizeof(*before));
    store_op_t *sops = xcalloc(n ? n : 1, sizeof(*sops));
    size_t *at = xcalloc(n ? n : 1, sizeof(*at));
    for (int attempt = 0; n > 0; attempt++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            job_t *j = server_job(srv, ids[i]);
            gt_error_t err = {0};
            job_state_t st;
            char *after = NULL;
            if (j && attempt > 0 && a->skip_ended && job_state_terminal(j->state))
                continue;
            if (!j)
                refuse(&err, "not_found", "job %llu does not exist",
                       (unsigned long long)ids[i]);
            else if (attempt == 3)
                refuse(&err, "conflict", "job %llu kept changing while its %s was saved: retry",
                       (unsigned long long)ids[i], op->verb);
            else
                after = op->prepare(srv, j, a, &st, &err);
            if (!after) {
                add_error(errors, ids[i], &err);
                continue;
            }
            before[k] = server_job_doc(j);
            sops[k] = (store_op_t){.kind = STORE_JOB_PUT, .id = j->id, .a = xstrdup(j->team),
                                   .b = xstrdup(j->user), .c = xstrdup(job_state_name(st)),
                                   .d = after};
            at[k++] = i;
        }
        if (!k)
            break;
        uint64_t t = store_enqueue_client(srv->store, sops, k);
        for (size_t i = 0; i < k; i++) {
            free((char *)sops[i].a);
            free((char *)sops[i].b);
            free((char *)sops[i].c);
            free((char *)sops[i].d);
        }
        pthread_mutex_unlock(&srv->mu);
        gt_error_t err = {0};
        int rc = store_wait(srv->store, t, &err);
        pthread_mutex_lock(&srv->mu);
        size_t again = 0;
        for (size_t i = 0; i < k; i++) {
            uint64_t id = ids[at[i]];
            job_t *j = server_job(srv, id);
            char *now = j && rc == 0 ? server_job_doc(j) : NULL;
            bool same = now && !strcmp(now, before[i]);
            free(now);
            free(before[i]);
            if (rc < 0) {
                add_error(errors, id, &err);
            } else if (same) {
                op->apply(srv, j, a);
                json_array_append_new(done, json_integer((json_int_t)id));
            } else {
                ids[again++] = id; /* changed meanwhile: prepared again from what it is now */
            }
        }
        n = again;
    }
    free(before);
    free(sops);
    free(at);
}

static const ctl_op_t *op_named(const char *verb)
{
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (!strcmp(ops[i].verb, verb))
            return &ops[i];
    return NULL;
}

int api_job_control(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j,
                    const char *verb, bool whole_array)
{
    const ctl_op_t *op = op_named(verb);
    ctl_args_t a = {.who = &req->who};
    json_t *body = NULL;
    if (!op) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 404, "not_found", "no such endpoint: %s %s", req->method,
                          req->path);
    }
    if (!strcmp(verb, "update") || (!strcmp(verb, "requeue") && req->body_len)) {
        pthread_mutex_unlock(&srv->mu); /* the body is read without the lock */
        uint64_t id = j->id;
        if (!(body = http_body_json(req, resp)))
            return 0;
        if (!strcmp(verb, "requeue")) {
            json_t *h = json_object_get(body, "hold");
            if (json_object_size(body) != (h ? 1u : 0u) || (h && !json_is_boolean(h))) {
                json_decref(body);
                return http_error(resp, 400, "invalid_argument", "a requeue's body may only "
                                  "be {\"hold\": true|false}");
            }
            a.hold = json_is_true(h);
        }
        a.patch = body;
        pthread_mutex_lock(&srv->mu);
        if (!(j = server_job(srv, id))) {
            pthread_mutex_unlock(&srv->mu);
            json_decref(body);
            return http_error(resp, 404, "not_found", "job %llu does not exist",
                              (unsigned long long)id);
        }
    }
    if (whole_array && op->in_array && !auth_can_cancel(&req->who, j->team, j->user)) {
        pthread_mutex_unlock(&srv->mu);
        json_decref(body);
        return http_error(resp, 403, "forbidden", "user %s may not %s array %lld of user %s "
                          "in team %s", req->who.user, verb, (long long)j->array_id, j->user,
                          j->team);
    }
    json_t *done = json_array(), *errors = json_array();
    uint64_t *ids;
    size_t n = 0;
    if (whole_array && op->in_array) {
        /* Every task of the array the verb applies to (Slurm's `scancel ARRAY_ID`). */
        ids = xcalloc(srv->next_id - j->id, sizeof(*ids));
        for (uint64_t id = j->id; id < srv->next_id; id++) {
            job_t *t = server_job(srv, id);
            if (t && t->array_id == j->array_id && op->in_array(t))
                ids[n++] = id;
        }
    } else {
        ids = xcalloc(1, sizeof(*ids));
        ids[n++] = j->id;
    }
    int64_t array_id = j->array_id; /* j may be purged while the store commits */
    if (whole_array && op->in_array && !n) {
        pthread_mutex_unlock(&srv->mu);
        free(ids);
        json_decref(done);
        json_decref(errors);
        json_decref(body);
        return http_error(resp, 409, "conflict", "array %lld has no task to %s (%s)",
                          (long long)array_id, verb,
                          op->in_array == unfinished ? "all ended"
                          : op->in_array == is_pending ? "none is pending"
                          : op->in_array == is_held ? "none is held"
                                                    : "none is running");
    }
    run_op(srv, op, &a, ids, n, done, errors);
    uint64_t first = ids[0];
    free(ids);
    if (whole_array && op->in_array) {
        resp->json = json_pack("{s:o,s:o,s:I}", op->done, done, "errors", errors, "array_id",
                               (json_int_t)array_id);
    } else if (json_array_size(errors)) {
        json_t *e = json_array_get(errors, 0);
        http_error(resp, status_of(json_string_value(json_object_get(e, "code"))),
                   json_string_value(json_object_get(e, "code")), "%s",
                   json_string_value(json_object_get(e, "error")));
        json_decref(done);
        json_decref(errors);
    } else {
        job_t *now = server_job(srv, first);
        resp->json = now ? api_job_view(srv, now, &req->who) : json_object();
        json_decref(done);
        json_decref(errors);
    }
    pthread_mutex_unlock(&srv->mu);
    json_decref(body);
    return 0;
}

int api_jobs_cancel_matching(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    job_filter_t f;
    if (job_filter_parse(req, &f, resp) < 0)
        return 0;
    bool any_state = true;
    for (int s = 0; s < 5; s++)
        any_state &= f.states[s];
    if (any_state && !f.team && !f.user && !f.name && !f.nsel && !f.has_since &&
        !f.has_until) {
        job_filter_free(&f);
        return http_error(resp, 400, "invalid_argument", "cancelling by filter needs one: "
                          "state, team, user, name or selector (DELETE /v1/jobs/{id} cancels "
                          "one job)");
    }
    ctl_args_t a = {.who = &req->who, .skip_ended = true};
    json_t *done = json_array(), *errors = json_array();
    pthread_mutex_lock(&srv->mu);
    uint64_t *ids = xcalloc(srv->next_id, sizeof(*ids));
    size_t n = 0, not_permitted = 0;
    for (uint64_t id = 1; id < srv->next_id; id++) {
        job_t *j = server_job(srv, id);
        if (!j || job_state_terminal(j->state) || !auth_can_see_team(&req->who, j->team) ||
            !job_filter_match(&f, j))
            continue;
        if (auth_can_cancel(&req->who, j->team, j->user))
            ids[n++] = id;
        else
            not_permitted++;
    }
    run_op(srv, op_named("cancel"), &a, ids, n, done, errors);
    pthread_mutex_unlock(&srv->mu);
    free(ids);
    job_filter_free(&f);
    resp->json = json_pack("{s:o,s:o,s:I}", "cancelled", done, "errors", errors,
                           "not_permitted", (json_int_t)not_permitted);
    return 0;
}
