/* events.c: job events and the audit log (events.h): numbering, the store's kept writes, the
 * ring of the latest events, and their endpoints (GET /v1/jobs/{id}/events, /v1/events,
 * /v1/audit).
 *
 * Lock order: srv->mu (when the caller holds it), then ev->mu, then the store's; ev->mu never
 * takes srv->mu. An event is numbered and queued under ev->mu, so the store commits events in
 * seq order: a reader that sees seq S committed has every earlier one too (but those retention
 * deleted with their jobs). */
#include "server/events.h"
#include "server/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct events {
    pthread_mutex_t mu;
    uint64_t seq;            /* the last event's */
    uint64_t audit_seq;      /* the last audit entry's */
    json_t *ring[EVENTS_RING]; /* the latest events, oldest at start */
    size_t start, n;
    unsigned watchers;       /* open watch streams (events_wake only when there are some) */
} events_t;

static events_t *ev_of(server_t *srv) { return srv->events; }

/* ---- the sentences ---- */

static const char *str(const json_t *ev, const char *k)
{
    return json_string_value(json_object_get(ev, k));
}

static void nodes_str(const json_t *ev, gt_buf_t *b)
{
    const json_t *gpus = json_object_get(ev, "gpus");
    size_t i;
    json_t *e;
    if (json_array_size(gpus)) {
        json_array_foreach(gpus, i, e)
        {
            if (i == 8) {
                gt_buf_printf(b, " and %zu more", json_array_size(gpus) - 8);
                break;
            }
            gt_buf_printf(b, "%s%s", i ? ", " : "", str(e, "node") ? str(e, "node") : "?");
            json_t *g = json_object_get(e, "gpus");
            if (json_array_size(g)) {
                gt_buf_printf(b, " (GPU%s ", json_array_size(g) > 1 ? "s" : "");
                size_t k;
                json_t *x;
                json_array_foreach(g, k, x)
                    gt_buf_printf(b, "%s%lld", k ? "," : "", (long long)json_integer_value(x));
                gt_buf_printf(b, ")");
            }
        }
        return;
    }
    json_array_foreach(json_object_get(ev, "nodes"), i, e)
        gt_buf_printf(b, "%s%s", i ? ", " : "", json_string_value(e));
}

char *events_message(const char *type, const json_t *ev)
{
    gt_buf_t b = {0};
    const char *by = str(ev, "by"), *reason = str(ev, "reason"), *node = str(ev, "node"),
               *msg = str(ev, "detail_message");
    json_int_t code = json_integer_value(json_object_get(ev, "exit_code"));
    json_int_t sig = json_integer_value(json_object_get(ev, "signal"));
    if (!strcmp(type, "submitted")) {
        gt_buf_printf(&b, "submitted by %s", by ? by : "?");
    } else if (!strcmp(type, "started")) {
        gt_buf_printf(&b, "started on ");
        nodes_str(ev, &b);
        json_t *pass = json_object_get(ev, "pass");
        if (pass)
            gt_buf_printf(&b, " by scheduling pass %lld", (long long)json_integer_value(pass));
    } else if (!strcmp(type, "preempted")) {
        json_int_t for_id = json_integer_value(json_object_get(ev, "by_job"));
        gt_buf_printf(&b, "preempted for job %lld", (long long)for_id);
        if (reason && !strcmp(reason, "reclaim"))
            gt_buf_printf(&b, " (reclaim: its team takes back its quota from this borrower)");
        else if (reason && !strcmp(reason, "priority"))
            gt_buf_printf(&b, " (priority: a higher priority class)");
        json_t *g = json_object_get(ev, "grace_s");
        if (g)
            gt_buf_printf(&b, "; it is stopped within %llds and returns to the queue",
                          (long long)json_integer_value(g));
    } else if (!strcmp(type, "requeued")) {
        if (by)
            gt_buf_printf(&b, "requeued by %s%s: it is stopped and returns to the queue", by,
                          json_is_true(json_object_get(ev, "hold")) ? " (held)" : "");
        else if (reason && !strcmp(reason, "node_lost"))
            gt_buf_printf(&b, "returned to the queue: node %s was lost", node ? node : "?");
        else
            gt_buf_printf(&b, "returned to the queue");
    } else if (!strcmp(type, "oom")) {
        gt_buf_printf(&b, "killed on node %s: out of memory", node ? node : "?");
    } else if (!strcmp(type, "time_limit")) {
        gt_buf_printf(&b, "stopped on node %s: it reached its time limit", node ? node : "?");
    } else if (!strcmp(type, "failed")) {
        gt_buf_printf(&b, "failed");
        if (reason && *reason && strcmp(reason, "failed"))
            gt_buf_printf(&b, " (%s)", reason);
        if (node)
            gt_buf_printf(&b, " on node %s", node);
        if (code > 0) /* -1: no exit (a lost node) */
            gt_buf_printf(&b, ", exit code %lld", (long long)code);
        if (sig)
            gt_buf_printf(&b, ", signal %lld", (long long)sig);
    } else if (!strcmp(type, "cancelled")) {
        if (by)
            gt_buf_printf(&b, "cancelled by %s", by);
        else
            gt_buf_printf(&b, "cancelled (%s)", reason ? reason : "cancelled");
    } else if (!strcmp(type, "finished")) {
        gt_buf_printf(&b, "finished (exit code 0)");
    } else if (!strcmp(type, "held") || !strcmp(type, "released")) {
        gt_buf_printf(&b, "%s by %s", type, by ? by : "?");
    } else if (!strcmp(type, "updated")) {
        gt_buf_printf(&b, "updated by %s", by ? by : "?");
        json_t *f = json_object_get(ev, "fields");
        size_t i;
        json_t *e;
        json_array_foreach(f, i, e)
            gt_buf_printf(&b, "%s%s", i ? ", " : ": ", json_string_value(e));
    } else {
        gt_buf_printf(&b, "%s", type);
    }
    if (msg && *msg)
        gt_buf_printf(&b, ": %s", msg);
    return b.data ? b.data : xstrdup("");
}

/* ---- recording ---- */

static void ring_push(events_t *ev, json_t *e)
{
    if (ev->n == EVENTS_RING) {
        json_decref(ev->ring[ev->start]);
        ev->ring[ev->start] = e;
        ev->start = (ev->start + 1) % EVENTS_RING;
    } else {
        ev->ring[(ev->start + ev->n++) % EVENTS_RING] = e;
    }
}

void server_job_event(server_t *srv, const job_t *j, const char *type, json_t *detail)
{
    events_t *ev = ev_of(srv);
    json_t *e = json_object();
    json_object_set_new(e, "time", json_real(server_now()));
    json_object_set_new(e, "job", json_integer((json_int_t)j->id));
    json_object_set_new(e, "team", json_string(j->team ? j->team : ""));
    json_object_set_new(e, "user", json_string(j->user ? j->user : ""));
    json_object_set_new(e, "type", json_string(type));
    if (detail) {
        /* a caller's message is the agent's or the server's own sentence: kept aside, the
         * event's own sentence is written from the type and says it after a colon */
        json_t *m = json_object_get(detail, "message");
        if (json_is_string(m) && json_string_length(m))
            json_object_set(detail, "detail_message", m);
        json_object_del(detail, "message");
        json_object_update_missing(e, detail);
        json_decref(detail);
    }
    char *msg = events_message(type, e);
    json_object_set_new(e, "message", json_string(msg));
    free(msg);
    metrics_job_event(srv, j, type, e); /* the job-life counters (metrics.h), from this one place */
    if (!ev) { /* a server without events (a unit test's): nothing kept */
        json_decref(e);
        return;
    }
    pthread_mutex_lock(&ev->mu);
    uint64_t seq = ++ev->seq;
    json_object_set_new(e, "seq", json_integer((json_int_t)seq));
    char *doc = json_dumps(e, JSON_COMPACT);
    store_op_t op = {.kind = STORE_EVENT_PUT, .id = seq, .n = (int64_t)j->id, .a = type,
                     .d = doc};
    store_enqueue(srv->store, &op, 1);
    free(doc);
    ring_push(ev, e);
    bool wake = ev->watchers > 0;
    pthread_mutex_unlock(&ev->mu);
    if (wake)
        http_wake_follows(srv);
}

/* The audit entry (old and new_value stolen) as op, numbered under ev->mu, which the caller
 * holds until it has queued op (so entries reach the store in the order of their numbers).
 * Returns the document op->d points to, for the caller to free once queued. */
static char *audit_op(events_t *ev, const char *user, const char *action, const char *object,
                      json_t *old, json_t *new_value, store_op_t *op)
{
    json_t *e = json_pack("{s:f,s:s,s:s,s:s,s:o,s:o,s:I}", "time", server_now(), "user",
                          user ? user : "", "action", action, "object", object ? object : "",
                          "old", old ? old : json_null(), "new",
                          new_value ? new_value : json_null(), "seq",
                          (json_int_t)++ev->audit_seq);
    char *doc = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    *op = (store_op_t){.kind = STORE_AUDIT_PUT, .id = ev->audit_seq, .a = user ? user : "",
                       .b = action, .c = object ? object : "", .d = doc};
    return doc;
}

void server_audit(server_t *srv, const char *user, const char *action, const char *object,
                  json_t *old, json_t *new_value)
{
    events_t *ev = ev_of(srv);
    if (!ev) {
        json_decref(old);
        json_decref(new_value);
        return;
    }
    store_op_t op;
    pthread_mutex_lock(&ev->mu);
    char *doc = audit_op(ev, user, action, object, old, new_value, &op);
    store_enqueue(srv->store, &op, 1);
    pthread_mutex_unlock(&ev->mu);
    free(doc);
}

uint64_t server_audit_enqueue(server_t *srv, const store_op_t *ops, size_t n, const char *user,
                              const char *action, const char *object, json_t *old,
                              json_t *new_value)
{
    events_t *ev = ev_of(srv);
    if (!ev) {
        json_decref(old);
        json_decref(new_value);
        return store_enqueue_client(srv->store, ops, n);
    }
    store_op_t *all = xcalloc(n + 1, sizeof(*all));
    memcpy(all, ops, n * sizeof(*all));
    pthread_mutex_lock(&ev->mu);
    char *doc = audit_op(ev, user, action, object, old, new_value, &all[n]);
    uint64_t ticket = store_enqueue_client(srv->store, all, n + 1);
    pthread_mutex_unlock(&ev->mu);
    free(doc);
    free(all);
    return ticket;
}

int events_open(server_t *srv, gt_error_t *err)
{
    events_t *ev = xcalloc(1, sizeof(*ev));
    pthread_mutex_init(&ev->mu, NULL);
    if (store_last_seqs(srv->store, &ev->seq, &ev->audit_seq, err) < 0) {
        pthread_mutex_destroy(&ev->mu);
        free(ev);
        return -1;
    }
    srv->events = ev;
    return 0;
}

void events_free(server_t *srv)
{
    events_t *ev = srv ? ev_of(srv) : NULL;
    if (!ev)
        return;
    for (size_t i = 0; i < ev->n; i++)
        json_decref(ev->ring[(ev->start + i) % EVENTS_RING]);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
    srv->events = NULL;
}

/* ---- reading: the store, then the ring for what it has not committed yet ---- */

typedef struct collect {
    const auth_principal_t *who;   /* NULL: no visibility filter (the job's own, checked) */
    json_t *out;
    uint64_t last;                 /* the last row's seq */
    size_t rows;
} collect_t;

static bool visible(const auth_principal_t *who, const json_t *e)
{
    return !who || auth_can_see_team(who, str(e, "team") ? str(e, "team") : "");
}

static int collect_row(void *arg, uint64_t seq, const char *doc, gt_error_t *err)
{
    (void)err;
    collect_t *c = arg;
    c->last = seq;
    c->rows++;
    json_t *e = json_loads(doc, 0, NULL);
    if (!e)
        return 0; /* a damaged row is skipped, not fatal to the reader */
    if (visible(c->who, e))
        json_array_append_new(c->out, e);
    else
        json_decref(e);
    return 0;
}

/* Appends to out the events of job (0: all) after *cursor that who may see (NULL: all), at
 * most limit rows looked at; *cursor moves past what was looked at. 0, or -1 with err. */
static int collect(server_t *srv, const auth_principal_t *who, uint64_t job, uint64_t *cursor,
                   size_t limit, json_t *out, gt_error_t *err)
{
    events_t *ev = ev_of(srv);
    collect_t c = {.who = who, .out = out};
    uint64_t upto = 0;
    if (store_read_events(srv->store, job, *cursor, limit, collect_row, &c, &upto, err) < 0)
        return -1;
    if (c.rows && c.rows >= limit) { /* more in the store: the caller asks again */
        *cursor = c.last;
        return 0;
    }
    if (upto > *cursor)
        *cursor = upto;
    pthread_mutex_lock(&ev->mu);
    for (size_t i = 0; i < ev->n && c.rows < limit; i++) {
        json_t *e = ev->ring[(ev->start + i) % EVENTS_RING];
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
        if (seq <= *cursor)
            continue;
        *cursor = seq;
        if (job && (uint64_t)json_integer_value(json_object_get(e, "job")) != job)
            continue;
        c.rows++;
        if (visible(who, e))
            json_array_append_new(out, json_deep_copy(e));
    }
    pthread_mutex_unlock(&ev->mu);
    return 0;
}

static int parse_u64(const http_req_t *req, const char *key, int64_t max, int64_t *out,
                     http_resp_t *resp)
{
    const char *v = http_query(req, key);
    gt_error_t err = {0};
    if (v && gt_parse_int64(v, 0, max, out, &err) < 0) {
        http_error(resp, 400, "invalid_argument", "%s: %s", key, err.msg);
        return -1;
    }
    return 0;
}

int api_job_events(server_t *srv, http_req_t *req, http_resp_t *resp, uint64_t id)
{
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/jobs/{id}/events");
    json_t *out = json_array();
    uint64_t cursor = 0;
    gt_error_t err = {0};
    for (;;) {
        size_t before = json_array_size(out);
        uint64_t was = cursor;
        if (collect(srv, NULL, id, &cursor, 1000, out, &err) < 0) {
            json_decref(out);
            return http_error_from(resp, 503, &err);
        }
        if (cursor == was || json_array_size(out) == before)
            break;
    }
    resp->json = json_pack("{s:o}", "events", out);
    return 0;
}

/* ---- the live stream (watch=1) ---- */

typedef struct watch {
    server_t *srv;
    auth_principal_t who;
    uint64_t job, cursor;
    gt_buf_t out;
    size_t pos;
} watch_t;

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    watch_t *w = cls;
    if (w->pos == w->out.len) {
        w->out.len = w->pos = 0;
        json_t *got = json_array();
        gt_error_t err = {0};
        if (collect(w->srv, &w->who, w->job, &w->cursor, 500, got, &err) < 0) {
            json_decref(got);
            return -1; /* the store failed: the stream ends, the client may ask again */
        }
        size_t i;
        json_t *e;
        json_array_foreach(got, i, e)
        {
            char *line = json_dumps(e, JSON_COMPACT);
            gt_buf_printf(&w->out, "%s\n", line);
            free(line);
        }
        json_decref(got);
        if (w->out.len == 0)
            return 0; /* parked until the next event (events_wake) */
    }
    size_t n = w->out.len - w->pos;
    if (n > max)
        n = max;
    memcpy(buf, w->out.data + w->pos, n);
    w->pos += n;
    return (ssize_t)n;
}

static void watch_free(void *cls)
{
    watch_t *w = cls;
    events_t *ev = ev_of(w->srv);
    pthread_mutex_lock(&ev->mu);
    ev->watchers--;
    pthread_mutex_unlock(&ev->mu);
    gt_buf_free(&w->out);
    free(w);
}

int api_events(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/events");
    int64_t since = 0, limit = 500, job = 0;
    if (parse_u64(req, "since", INT64_MAX, &since, resp) < 0 ||
        parse_u64(req, "limit", 10000, &limit, resp) < 0 ||
        parse_u64(req, "job", INT64_MAX, &job, resp) < 0)
        return 0;
    if (limit < 1)
        return http_error(resp, 400, "invalid_argument", "limit: must be 1 to 10000");
    const char *watch = http_query(req, "watch");
    bool w = watch && (!strcmp(watch, "1") || !strcmp(watch, "true"));
    if (w) {
        watch_t *ws = xcalloc(1, sizeof(*ws));
        ws->srv = srv;
        ws->who = req->who;
        ws->job = (uint64_t)job;
        ws->cursor = (uint64_t)since;
        events_t *ev = ev_of(srv);
        pthread_mutex_lock(&ev->mu);
        ev->watchers++;
        pthread_mutex_unlock(&ev->mu);
        resp->stream = ws;
        resp->stream_read = watch_read;
        resp->stream_free = watch_free;
        resp->content_type = "application/x-ndjson";
        return 0;
    }
    json_t *out = json_array();
    uint64_t cursor = (uint64_t)since;
    gt_error_t err = {0};
    /* Rows others may not see count against limit: ask again from next for more. */
    if (collect(srv, &req->who, (uint64_t)job, &cursor, (size_t)limit, out, &err) < 0) {
        json_decref(out);
        return http_error_from(resp, 503, &err);
    }
    resp->json = json_pack("{s:o,s:I}", "events", out, "next", (json_int_t)cursor);
    return 0;
}

/* ---- the audit log ---- */

static int audit_row(void *arg, uint64_t seq, const char *doc, gt_error_t *err)
{
    (void)err;
    collect_t *c = arg;
    c->last = seq;
    c->rows++;
    json_t *e = json_loads(doc, 0, NULL);
    if (e)
        json_array_append_new(c->out, e);
    return 0;
}

typedef struct audit_query {
    int64_t since, limit;
} audit_query_t;

/* Once every change made so far is durable (an audit entry is a kept write queued after its
 * change was answered... or just before: the reader sees its own changes). */
static void audit_answer(server_t *srv, http_resp_t *resp, int rc, const gt_error_t *cerr)
{
    (void)rc, (void)cerr; /* degraded: what is committed is still the log so far */
    audit_query_t *q = resp->apply_arg;
    collect_t c = {.out = json_array()};
    uint64_t upto = 0;
    gt_error_t err = {0};
    if (store_read_audit(srv->store, (uint64_t)q->since, (size_t)q->limit, audit_row, &c, &upto,
                         &err) < 0) {
        json_decref(c.out);
        http_error_from(resp, 503, &err);
    } else {
        resp->json = json_pack("{s:o,s:I}", "audit", c.out, "next",
                               (json_int_t)(c.rows ? c.last : (uint64_t)q->since));
    }
    free(q);
}

int api_audit(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/audit");
    if (req->who.role != AUTH_ADMIN)
        return http_error(resp, 403, "forbidden", "only an admin may read the audit log");
    audit_query_t q = {.since = 0, .limit = 1000};
    if (parse_u64(req, "since", INT64_MAX, &q.since, resp) < 0 ||
        parse_u64(req, "limit", 10000, &q.limit, resp) < 0)
        return 0;
    if (q.limit < 1)
        return http_error(resp, 400, "invalid_argument", "limit: must be 1 to 10000");
    resp->apply_arg = xmalloc(sizeof(q));
    *(audit_query_t *)resp->apply_arg = q;
    resp->ticket = store_last_kept(srv->store);
    if (!resp->ticket) {
        audit_answer(srv, resp, 0, NULL);
        resp->apply_arg = NULL;
        return 0;
    }
    resp->apply = audit_answer; /* answered once what memory holds is durable (http.c) */
    return 0;
}
