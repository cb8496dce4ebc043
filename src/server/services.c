/* services.c: the services' records and the reconciliation of their replicas (services.h). */
#include "server/services.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/events.h"

#define RATE_WINDOW 10 /* seconds of request counts kept for requests/s */

typedef struct drain {
    uint64_t id;
    double until;
    const char *reason;      /* static: "replaced", "scaled_down" */
} drain_t;

struct service {
    char *name, *team, *user;
    json_t *spec;            /* the current revision's submission fields (no replicas) */
    json_t *previous;        /* the previous revision's, or NULL */
    int replicas;            /* wanted */
    int revision;
    double created;
    bool reserved;           /* its first submission is committing */
    bool changing;           /* a client's change of it is committing (services_change) */
    uint64_t *ids;           /* its replica jobs that have not ended */
    size_t nids, ids_cap;
    drain_t *drain;          /* replicas out of the endpoint, stopped at until */
    size_t ndrain, drain_cap;
    unsigned rr;             /* round robin cursor */
    int64_t requests;
    int64_t bucket[RATE_WINDOW], bucket_sec[RATE_WINDOW];
    int create_failures;     /* replicas of it that failed to start or ended failed, in a row */
    double next_create_at;   /* no new replica before (its creation backoff) */
    char *last_error;        /* why the last replica could not be created, or NULL */
    /* Autoscaling (services_change): between min and max replicas, aiming at target
     * requests in flight per replica; off while max is 0. in_flight: requests through the
     * endpoint now; sampled every turn into the window that decides every
     * SERVICES_AUTOSCALE_WINDOW_S. */
    int as_min, as_max;
    double as_target;
    int in_flight;
    double as_sum, as_since, low_since;
    int64_t as_n;
};

struct services {
    service_t **v;
    size_t n, cap;
};

double services_backoff_s(int restarts)
{
    if (restarts < 1)
        return 0;
    double b = ldexp(1.0, restarts > 30 ? 30 : restarts - 1);
    return b < SERVICES_BACKOFF_MAX_S ? b : SERVICES_BACKOFF_MAX_S;
}

void services_init(server_t *srv) { srv->services = xcalloc(1, sizeof(*srv->services)); }

static void service_free(service_t *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->team);
    free(s->user);
    json_decref(s->spec);
    json_decref(s->previous);
    free(s->ids);
    free(s->drain);
    free(s->last_error);
    free(s);
}

void services_free(server_t *srv)
{
    if (!srv->services)
        return;
    for (size_t i = 0; i < srv->services->n; i++)
        service_free(srv->services->v[i]);
    free(srv->services->v);
    free(srv->services);
    srv->services = NULL;
}

service_t *services_find(server_t *srv, const char *name)
{
    struct services *r = srv->services;
    for (size_t i = 0; name && i < r->n; i++)
        if (!strcmp(r->v[i]->name, name))
            return r->v[i];
    return NULL;
}

const char *services_team(const service_t *s) { return s->team; }

bool services_name_taken(server_t *srv, const char *name) { return services_find(srv, name); }

static void add_id(service_t *s, uint64_t id)
{
    for (size_t i = 0; i < s->nids; i++)
        if (s->ids[i] == id)
            return;
    GT_GROW(s->ids, s->ids_cap, s->nids + 1);
    s->ids[s->nids++] = id;
}

static json_t *record_json(const service_t *s)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:O,s:i,s:i,s:f}", "name", s->name, "team", s->team,
                          "user", s->user, "spec", s->spec, "replicas", s->replicas, "revision",
                          s->revision, "created", s->created);
    if (s->previous)
        json_object_set(o, "previous", s->previous);
    if (s->as_max)
        json_object_set_new(o, "autoscale", json_pack("{s:i,s:i,s:f}", "min", s->as_min, "max",
                                                      s->as_max, "target", s->as_target));
    return o;
}

static char *record_doc(const service_t *s)
{
    json_t *o = record_json(s);
    char *d = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return d;
}

/* A kept write of the record (the change is in memory already). */
static uint64_t save_record(server_t *srv, const service_t *s)
{
    char *doc = record_doc(s);
    store_op_t op = {.kind = STORE_SETTING_PUT, .a = "service", .b = s->name, .d = doc};
    uint64_t t = store_enqueue(srv->store, &op, 1);
    free(doc);
    return t;
}

static service_t *service_add(server_t *srv, const char *name, const char *team,
                              const char *user)
{
    struct services *r = srv->services;
    service_t *s = xcalloc(1, sizeof(*s));
    s->name = xstrdup(name);
    s->team = xstrdup(team);
    s->user = xstrdup(user);
    GT_GROW(r->v, r->cap, r->n + 1);
    r->v[r->n++] = s;
    return s;
}

static void service_remove(server_t *srv, service_t *s)
{
    struct services *r = srv->services;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i] == s) {
            r->v[i] = r->v[--r->n];
            break;
        }
    service_free(s);
}

/* The spec a replica is made from: a job's submission fields, without replicas. */
static json_t *spec_of(const job_t *tmpl)
{
    json_t *doc = job_to_json(tmpl);
    json_t *spec = job_spec_json(doc);
    json_decref(doc);
    json_object_del(spec, "replicas");
    return spec;
}

char *services_reserve(server_t *srv, const job_t *tmpl)
{
    service_t *s = service_add(srv, tmpl->name, tmpl->team, tmpl->user);
    s->spec = spec_of(tmpl);
    s->replicas = tmpl->replicas;
    s->revision = 1;
    s->created = server_now();
    s->reserved = true;
    return record_doc(s);
}

void services_settle(server_t *srv, const char *name, bool keep, uint64_t first, int64_t count)
{
    service_t *s = services_find(srv, name);
    if (!s || !s->reserved)
        return;
    if (!keep) {
        service_remove(srv, s);
        return;
    }
    s->reserved = false;
    for (int64_t k = 0; k < count; k++)
        add_id(s, first + (uint64_t)k);
    fprintf(stderr, "gantry server: service %s (team %s) created with %d replica(s), jobs "
                    "%llu..%llu.\n", s->name, s->team, s->replicas, (unsigned long long)first,
            (unsigned long long)(first + (uint64_t)count - 1));
}

/* Memory takes the record's replicas, revisions and autoscaling (a stored record, or a change
 * just committed). */
static void apply_record(service_t *s, const json_t *o)
{
    json_t *spec = json_object_get(o, "spec");
    if (spec != s->spec) {
        json_decref(s->spec);
        s->spec = json_incref(spec);
    }
    json_t *prev = json_object_get(o, "previous");
    json_t *was = s->previous;
    s->previous = json_is_object(prev) ? json_incref(prev) : NULL;
    json_decref(was);
    s->replicas = (int)json_integer_value(json_object_get(o, "replicas"));
    s->revision = (int)json_integer_value(json_object_get(o, "revision"));
    s->created = json_number_value(json_object_get(o, "created"));
    json_t *as = json_object_get(o, "autoscale");
    s->as_min = s->as_max = 0;
    s->as_target = 0;
    if (json_is_object(as)) {
        s->as_min = (int)json_integer_value(json_object_get(as, "min"));
        s->as_max = (int)json_integer_value(json_object_get(as, "max"));
        s->as_target = json_number_value(json_object_get(as, "target"));
    }
}

static int on_record(void *arg, const char *name, const char *doc)
{
    server_t *srv = arg;
    json_error_t je;
    json_t *o = json_loads(doc, 0, &je);
    const char *team = json_string_value(json_object_get(o, "team"));
    const char *user = json_string_value(json_object_get(o, "user"));
    json_t *spec = json_object_get(o, "spec");
    if (!o || !team || !user || !json_is_object(spec)) {
        fprintf(stderr, "gantry server: the stored record of service %s is not valid: it is "
                        "ignored.\n", name);
        json_decref(o);
        return 0;
    }
    service_t *s = service_add(srv, name, team, user);
    apply_record(s, o);
    json_decref(o);
    return 0;
}

int services_load(server_t *srv, gt_error_t *err)
{
    if (store_load_settings(srv->store, "service", on_record, srv, err) < 0)
        return -1;
    for (size_t id = 1; id < srv->jobs_cap; id++) {
        job_t *j = srv->jobs[id];
        if (!j || j->kind != JOB_KIND_SERVICE || !j->service || job_state_terminal(j->state))
            continue;
        service_t *s = services_find(srv, j->service);
        if (s)
            add_id(s, j->id);
    }
    if (srv->services->n)
        fprintf(stderr, "gantry server: %zu service(s) restored.\n", srv->services->n);
    return 0;
}

/* ---- the replicas' lives ---- */

static bool draining(const service_t *s, uint64_t id)
{
    for (size_t i = 0; i < s->ndrain; i++)
        if (s->drain[i].id == id)
            return true;
    return false;
}

static bool replica_ready(const job_t *j)
{
    return j->state == JOB_RUNNING && !j->stopping && j->ready;
}

/* Why s does not want replica j run again, or NULL: it leaves the endpoint (its drain's
 * reason); it is of an earlier revision and surplus: the current revision's ready replicas and
 * the other earlier-revision ones still ready (none leaving the endpoint) already make the
 * replicas wanted (an old replica goes only as new ones get ready, as Kubernetes' Deployments
 * do: a stuck update or a broken revision after a crash keeps the old ones serving); or its
 * index is above the replicas wanted and as many others of the current revision remain (so
 * that the service never drops below them). gone: node n lost its replicas (they do not count
 * as ready: they may not have been reported lost yet). */
static const char *unwanted(server_t *srv, const service_t *s, const job_t *j, const node_t *n,
                            bool gone)
{
    for (size_t i = 0; i < s->ndrain; i++)
        if (s->drain[i].id == j->id)
            return s->drain[i].reason;
    if (j->revision != s->revision) {
        int serving = 0;
        for (size_t i = 0; i < s->nids; i++) {
            const job_t *o = server_job(srv, s->ids[i]);
            if (o && o != j && replica_ready(o) && !draining(s, o->id) &&
                !(gone && job_on_node(o, n->name)))
                serving++;
        }
        return serving >= s->replicas ? "replaced" : NULL;
    }
    if (j->replica < s->replicas)
        return NULL;
    int others = 0;
    for (size_t i = 0; i < s->nids; i++) {
        const job_t *o = server_job(srv, s->ids[i]);
        if (o && o != j && !job_state_terminal(o->state) && o->revision == s->revision &&
            !draining(s, o->id))
            others++;
    }
    return others >= s->replicas ? "scaled_down" : NULL;
}

bool services_replica_end_unwanted(server_t *srv, job_t *j, node_t *n, bool gone,
                                   const char *what, int exit_code, int exit_signal,
                                   uint64_t *ticket)
{
    service_t *s = j->kind == JOB_KIND_SERVICE ? services_find(srv, j->service) : NULL;
    const char *reason = s && !s->reserved && !job_state_terminal(j->state)
                             ? unwanted(srv, s, j, n, gone) : NULL;
    if (!reason)
        return false;
    char msg[700];
    if (!strcmp(reason, "replaced"))
        snprintf(msg, sizeof(msg), "on node %s, %.400s; it is of revision %d, which revision %d "
                 "replaces: not run again", n->name, what, j->revision, s->revision);
    else
        snprintf(msg, sizeof(msg), "on node %s, %.400s; the service no longer needs it (%s): "
                 "not run again", n->name, what, reason);
    j->ready = false;
    fprintf(stderr, "gantry server: service %s: replica %d (job %llu, revision %d) ends: %s.\n",
            s->name, j->replica, (unsigned long long)j->id, j->revision, msg);
    /* Its processes on n are gone: what a cancel holds until the node says so is freed now
     * (its other gang nodes got stops, as a requeue's do). */
    uint64_t t = server_end_job(srv, j, JOB_CANCELLED, reason, msg, exit_code, exit_signal,
                                json_pack("{s:s,s:s}", "by", "service", "node", n->name));
    uint64_t t2 = server_cancelled_gone(srv, j);
    *ticket = t2 > t ? t2 : t;
    return true;
}

uint64_t services_replica_exited(server_t *srv, job_t *j, node_t *n, const char *reason,
                                 int exit_code, int exit_signal, const char *message)
{
    char what[600];
    snprintf(what, sizeof(what), "its process ended (%s, exit code %d, signal %d%s%.400s)",
             reason, exit_code, exit_signal, message && *message ? ": " : "",
             message ? message : "");
    uint64_t ended = 0;
    if (services_replica_end_unwanted(srv, j, n, false, what, exit_code, exit_signal, &ended))
        return ended;
    j->restarts++;
    double backoff = services_backoff_s(j->restarts);
    j->restart_at = server_now() + backoff;
    j->ready = false;
    char why[700];
    snprintf(why, sizeof(why), "its process ended (%s, exit code %d, signal %d%s%.400s); "
             "restart %d in %.0f s", reason, exit_code, exit_signal, message && *message ? ": "
             : "", message ? message : "", j->restarts, backoff);
    json_t *d = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:f}", "reason", "restart", "node", n->name,
                          "message", why, "exit_code", exit_code, "signal", exit_signal,
                          "restarts", j->restarts, "backoff_s", backoff);
    uint64_t t = server_job_restart(srv, j, n, why, d);
    /* It waits out its backoff outside the scheduler (job_gate.c's restart_backoff); the
     * next turn after restart_at lets it in again (services_tick). */
    uint64_t t2 = server_leave_sched(srv, j);
    return t2 > t ? t2 : t;
}

void services_replica_probe(server_t *srv, job_t *j, int port, bool ready)
{
    if (j->kind != JOB_KIND_SERVICE || j->state != JOB_RUNNING)
        return;
    service_t *s = services_find(srv, j->service);
    if (port > 0 && port < 65536)
        j->port = port;
    if (s && draining(s, j->id))
        ready = false;
    if (ready && j->port <= 0)
        ready = false; /* nowhere to send requests */
    if (ready && !j->ready) {
        j->ready_since = server_now();
        fprintf(stderr, "gantry server: replica %d of service %s (job %llu incarnation %d) is "
                        "ready on port %d.\n", j->replica, j->service, (unsigned long long)j->id,
                j->incarnation, j->port);
        if (s) {
            s->create_failures = 0;
            s->next_create_at = 0;
        }
    } else if (!ready && j->ready) {
        fprintf(stderr, "gantry server: replica %d of service %s (job %llu) is not ready any "
                        "more.\n", j->replica, j->service, (unsigned long long)j->id);
    }
    j->ready = ready;
}

/* Whether list (a heartbeat's "services") names j's current incarnation. */
static bool listed_run(const json_t *list, const job_t *j)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if ((uint64_t)json_integer_value(json_object_get(e, "job_id")) == j->id &&
            (int)json_integer_value(json_object_get(e, "incarnation")) == j->incarnation)
            return true;
    }
    return false;
}

void services_heartbeat(server_t *srv, node_t *n, const json_t *list)
{
    if (!json_is_array(list))
        return; /* an agent without services */
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        job_t *j = server_job(srv, (uint64_t)json_integer_value(json_object_get(e, "job_id")));
        if (!j || j->state != JOB_RUNNING || !job_on_node(j, n->name) ||
            j->incarnation != (int)json_integer_value(json_object_get(e, "incarnation")))
            continue;
        services_replica_probe(srv, j, (int)json_integer_value(json_object_get(e, "port")),
                               json_is_true(json_object_get(e, "ready")));
    }
    /* A ready replica of this node that the node no longer probes (an agent that lost track
     * of it) is not ready: nothing would notice it failing. */
    struct services *r = srv->services;
    for (size_t k = 0; k < r->n; k++)
        for (size_t x = 0; x < r->v[k]->nids; x++) {
            job_t *j = server_job(srv, r->v[k]->ids[x]);
            if (j && j->ready && j->state == JOB_RUNNING && j->nslots &&
                !strcmp(j->slots[0].node, n->name) && !listed_run(list, j)) {
                fprintf(stderr, "gantry server: node %s no longer probes replica %d of service "
                                "%s (job %llu): it is not ready.\n", n->name, j->replica,
                        j->service, (unsigned long long)j->id);
                j->ready = false;
            }
        }
}

/* ---- reconciliation ---- */

static void set_error(service_t *s, const char *msg)
{
    free(s->last_error);
    s->last_error = msg ? xstrdup(msg) : NULL;
}

static void creation_failed(service_t *s, const char *msg)
{
    s->create_failures++;
    s->next_create_at = server_now() + services_backoff_s(s->create_failures);
    set_error(s, msg);
    fprintf(stderr, "gantry server: service %s cannot create a replica: %s (next try in %.0f "
                    "s).\n", s->name, msg, services_backoff_s(s->create_failures));
}

/* A new replica job of the current revision with index idx: checked and made as a submission
 * would be, then admitted. Returns the store ticket (0: none made). */
static uint64_t new_replica(server_t *srv, service_t *s, int idx)
{
    job_t *j = NULL;
    job_array_t arr;
    gt_error_t err = {0};
    if (job_parse_request(s->spec, s->user, s->team, &j, &arr, &err) < 0) {
        creation_failed(s, err.msg);
        return 0;
    }
    job_array_free(&arr);
    if (server_job_resolve_env(srv, j, &err) < 0 ||
        server_job_resolve_partition(srv, j, &err) < 0) {
        job_free(j);
        creation_failed(s, err.msg);
        return 0;
    }
    if (!j->prio_class)
        j->prio_class = xstrdup(srv->default_class);
    j->service = xstrdup(s->name);
    j->replica = idx;
    j->revision = s->revision;
    j->submit_time = server_now();
    j->id = srv->next_id;
    if (server_check_job(srv, j, &err) < 0) {
        job_free(j);
        creation_failed(s, err.msg);
        return 0;
    }
    srv->next_id++;
    server_jobs_reserve(srv, srv->next_id);
    srv->jobs[j->id] = j;
    add_id(s, j->id);
    set_error(s, NULL);
    server_job_event(srv, j, "submitted",
                     json_pack("{s:s,s:s,s:i,s:i}", "by", s->user, "service", s->name, "replica",
                               idx, "revision", s->revision));
    uint64_t t = server_save_job(srv, j);
    if (server_enter_sched(srv, j, &err) < 0) {
        uint64_t t2 = server_finish_job(srv, j, JOB_FAILED, "invalid", err.msg, 0, 0);
        creation_failed(s, err.msg);
        return t2 > t ? t2 : t;
    }
    fprintf(stderr, "gantry server: service %s: replica %d of revision %d is job %llu.\n",
            s->name, idx, s->revision, (unsigned long long)j->id);
    return t;
}

/* Takes replica j out of the endpoint now, and stops it after SERVICES_DRAIN_S (a pending one
 * at once). */
static uint64_t retire(server_t *srv, service_t *s, job_t *j, const char *reason)
{
    j->ready = false;
    if (j->state != JOB_RUNNING)
        return server_end_job(srv, j, JOB_CANCELLED, reason, "the service no longer needs it",
                              0, 0, json_pack("{s:s}", "by", "service"));
    GT_GROW(s->drain, s->drain_cap, s->ndrain + 1);
    s->drain[s->ndrain++] = (drain_t){.id = j->id, .until = server_now() + SERVICES_DRAIN_S,
                                      .reason = reason};
    fprintf(stderr, "gantry server: service %s: replica %d (job %llu, revision %d) leaves the "
                    "endpoint (%s).\n", s->name, j->replica, (unsigned long long)j->id,
            j->revision, reason);
    return 0;
}

static uint64_t reconcile(server_t *srv, service_t *s, double now)
{
    uint64_t ticket = 0, t;
#define KEEP(x) (t = (x), ticket = t > ticket ? t : ticket)
    /* Forget the replicas that ended; a failed one (not stopped by the service) slows the
     * creation of the next. */
    for (size_t i = 0; i < s->nids;) {
        job_t *j = server_job(srv, s->ids[i]);
        if (j && !job_state_terminal(j->state)) {
            i++;
            continue;
        }
        if (j && j->state == JOB_FAILED)
            creation_failed(s, j->end_message ? j->end_message : "a replica failed");
        s->ids[i] = s->ids[--s->nids];
    }
    /* Drained replicas stop. */
    for (size_t i = 0; i < s->ndrain;) {
        job_t *j = server_job(srv, s->drain[i].id);
        if (j && !job_state_terminal(j->state) && s->drain[i].until > now) {
            i++;
            continue;
        }
        if (j && !job_state_terminal(j->state))
            KEEP(server_end_job(srv, j, JOB_CANCELLED, s->drain[i].reason,
                                "the service no longer needs it", 0, 0,
                                json_pack("{s:s}", "by", "service")));
        s->drain[i] = s->drain[--s->ndrain];
    }
    /* Backoffs that ended; restart counts of replicas that have served long enough. */
    int new_n = 0, old_n = 0, new_unready = 0;
    bool *used = xcalloc((size_t)s->replicas + 1, sizeof(bool));
    for (size_t i = 0; i < s->nids; i++) {
        job_t *j = server_job(srv, s->ids[i]);
        if (j->state == JOB_PENDING && !j->in_sched && !j->held && j->restart_at > 0 &&
            j->restart_at <= now) {
            gt_error_t err = {0};
            j->restart_at = 0;
            KEEP(server_save_job(srv, j));
            if (server_enter_sched(srv, j, &err) < 0)
                KEEP(server_finish_job(srv, j, JOB_FAILED, "invalid", err.msg, 0, 0));
        }
        if (replica_ready(j) && j->restarts && now - j->ready_since >= SERVICES_BACKOFF_RESET_S) {
            j->restarts = 0;
            KEEP(server_save_job(srv, j));
        }
        if (job_state_terminal(j->state) || draining(s, j->id))
            continue;
        if (j->revision == s->revision) {
            new_n++;
            if (!replica_ready(j))
                new_unready++;
            if (j->replica >= 0 && j->replica < s->replicas)
                used[j->replica] = true;
        } else {
            old_n++;
        }
    }
    bool may_create = now >= s->next_create_at;
    if (old_n > 0) {
        /* A rolling update: one replica at a time, each new one ready before an old one
         * leaves (the broken ones of a rolled back revision first). */
        if (new_unready == 0) {
            if (new_n + old_n > s->replicas) {
                job_t *victim = NULL;
                for (size_t i = 0; i < s->nids; i++) {
                    job_t *j = server_job(srv, s->ids[i]);
                    if (job_state_terminal(j->state) || j->revision == s->revision ||
                        draining(s, j->id))
                        continue;
                    if (!victim || (replica_ready(victim) && !replica_ready(j)) ||
                        (replica_ready(victim) == replica_ready(j) && j->replica > victim->replica))
                        victim = j;
                }
                if (victim)
                    KEEP(retire(srv, s, victim, "replaced"));
            } else if (may_create) {
                int idx = 0;
                while (idx < s->replicas && used[idx])
                    idx++;
                KEEP(new_replica(srv, s, idx));
            }
        }
    } else {
        for (int idx = 0; idx < s->replicas && new_n < s->replicas && may_create; idx++) {
            if (used[idx])
                continue;
            KEEP(new_replica(srv, s, idx));
            new_n++;
            may_create = now >= s->next_create_at;
        }
        while (new_n > s->replicas) {
            job_t *victim = NULL;
            for (size_t i = 0; i < s->nids; i++) {
                job_t *j = server_job(srv, s->ids[i]);
                if (job_state_terminal(j->state) || draining(s, j->id))
                    continue;
                if (!victim || j->replica > victim->replica ||
                    (j->replica == victim->replica && !replica_ready(j)))
                    victim = j;
            }
            if (!victim)
                break;
            KEEP(retire(srv, s, victim, "scaled_down"));
            new_n--;
        }
    }
    free(used);
#undef KEEP
    return ticket;
}

/* The replicas autoscaling wants now (s->replicas when it does not decide this turn): the
 * mean of requests in flight over the last window, over target per replica, rounded up,
 * within [min, max]; fewer only after the load stayed low for SERVICES_AUTOSCALE_DOWN_S. */
static int autoscale_wants(service_t *s, double now)
{
    s->as_sum += s->in_flight;
    s->as_n++;
    if (!s->as_since)
        s->as_since = now;
    if (now - s->as_since < SERVICES_AUTOSCALE_WINDOW_S)
        return s->replicas;
    double mean = s->as_sum / (double)s->as_n;
    s->as_sum = 0;
    s->as_n = 0;
    s->as_since = now;
    int want = (int)ceil(mean / (s->as_target > 0 ? s->as_target : 1) - 1e-9);
    want = want < s->as_min ? s->as_min : want > s->as_max ? s->as_max : want;
    if (want >= s->replicas) {
        s->low_since = 0;
        return want;
    }
    if (!s->low_since)
        s->low_since = now;
    return now - s->low_since >= SERVICES_AUTOSCALE_DOWN_S ? want : s->replicas;
}

void services_tick(server_t *srv)
{
    double now = server_now();
    struct services *r = srv->services;
    for (size_t i = 0; i < r->n; i++) {
        service_t *s = r->v[i];
        if (s->reserved)
            continue;
        if (s->as_max && !s->changing) { /* its record is the client's change's until then */
            int want = autoscale_wants(s, now);
            if (want != s->replicas) {
                fprintf(stderr, "gantry server: service %s autoscales from %d to %d replica(s) "
                                "(%d request(s) in flight now, target %g per replica).\n",
                        s->name, s->replicas, want, s->in_flight, s->as_target);
                s->replicas = want;
                s->low_since = 0;
                s->next_create_at = 0;
                save_record(srv, s);
            }
        }
        reconcile(srv, s, now);
    }
}

void services_done(server_t *srv, const char *name)
{
    service_t *s = services_find(srv, name);
    if (s && s->in_flight > 0)
        s->in_flight--;
}

/* ---- changes ---- */

/* Whether spec (a new revision of s) would be accepted as a submission by who: its environment
 * and volumes, its partition, its class and GPU types (a type no node offers would take one of
 * the scheduler's type slots for good), its dependencies (as who sees them), and whether it
 * could ever run. 0, or -1 (EINVAL) with err. */
static int check_revision(server_t *srv, const service_t *s, const json_t *spec,
                          const auth_principal_t *who, gt_error_t *err)
{
    job_t *j = NULL;
    job_array_t arr;
    errno = EINVAL;
    if (job_parse_request(spec, s->user, s->team, &j, &arr, err) < 0)
        return -1;
    job_array_free(&arr);
    bool same_name = j->name && !strcmp(j->name, s->name) && !strcmp(j->team, s->team);
    if (!same_name || j->kind != JOB_KIND_SERVICE) {
        job_free(j);
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "an update keeps the service's name, team "
                            "and kind");
    }
    int rc = server_job_resolve_env(srv, j, err);
    if (rc == 0)
        rc = server_job_resolve_partition(srv, j, err);
    if (rc == 0 && !j->prio_class)
        j->prio_class = xstrdup(srv->default_class);
    j->id = srv->next_id;
    if (rc == 0)
        rc = api_job_check(srv, who, j, err);
    if (rc == 0)
        rc = server_check_job(srv, j, err);
    job_free(j);
    errno = EINVAL;
    return rc;
}

int services_change(server_t *srv, service_t *s, const services_change_t *c,
                    const auth_principal_t *who, json_t **record, uint64_t *ticket,
                    gt_error_t *err)
{
    if (s->changing || s->reserved) {
        errno = EBUSY;
        return gt_error_set(err, "conflict", "service %s: another change of it is being saved; "
                            "try again", s->name);
    }
    json_t *rec = record_json(s);
    if (c->spec || c->rollback) {
        json_t *spec;
        if (c->spec) {
            if (!json_is_object(c->spec) || !json_object_size(c->spec)) {
                json_decref(rec);
                errno = EINVAL;
                return gt_error_set(err, "invalid_argument", "'spec' must be an object of the "
                                    "fields to change, such as {\"image\": \"...\"} or "
                                    "{\"env\": {...}}");
            }
            spec = json_deep_copy(s->spec);
            json_object_update(spec, (json_t *)c->spec);
            json_object_del(spec, "replicas");
        } else if (s->previous) {
            spec = json_deep_copy(s->previous);
        } else {
            json_decref(rec);
            errno = ENOENT;
            return gt_error_set(err, "conflict", "service %s has no previous revision to roll "
                                "back to", s->name);
        }
        if (check_revision(srv, s, spec, who, err) < 0) {
            json_decref(spec);
            json_decref(rec);
            return -1;
        }
        json_object_set(rec, "previous", s->spec);
        json_object_set_new(rec, "spec", spec);
        json_object_set_new(rec, "revision", json_integer(s->revision + 1));
    }
    if (c->autoscale && c->as_min == 0 && c->as_max == 0) {
        json_object_del(rec, "autoscale");
    } else if (c->autoscale) {
        if (c->as_min < 1 || c->as_max < c->as_min || c->as_max > 1000 ||
            !(c->as_target > 0 && c->as_target <= 10000)) {
            json_decref(rec);
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "autoscale needs 1 <= min <= max <= "
                                "1000 and a target of requests in flight per replica above 0 "
                                "(at most 10000); {\"min\": 0, \"max\": 0} turns it off");
        }
        json_object_set_new(rec, "autoscale", json_pack("{s:i,s:i,s:f}", "min", c->as_min,
                                                        "max", c->as_max, "target",
                                                        c->as_target));
        /* the replicas wanted are brought into [min, max] at once */
        int want = s->replicas < c->as_min ? c->as_min
                   : s->replicas > c->as_max ? c->as_max
                                             : s->replicas;
        json_object_set_new(rec, "replicas", json_integer(want));
    }
    if (c->replicas >= 0) {
        if (c->replicas > 1000) {
            json_decref(rec);
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "replicas must be a whole number from "
                                "0 to 1000");
        }
        json_object_set_new(rec, "replicas", json_integer(c->replicas));
    }
    char *doc = json_dumps(rec, JSON_COMPACT);
    store_op_t op = {.kind = STORE_SETTING_PUT, .a = "service", .b = s->name, .d = doc};
    *ticket = store_enqueue_client(srv->store, &op, 1);
    free(doc);
    s->changing = true;
    *record = rec;
    return 0;
}

service_t *services_change_done(server_t *srv, const char *name, json_t *record, bool committed)
{
    service_t *s = services_find(srv, name);
    if (s)
        s->changing = false;
    if (!s || !committed) {
        json_decref(record);
        return s;
    }
    int was_replicas = s->replicas, was_revision = s->revision, was_max = s->as_max;
    int was_min = s->as_min;
    double was_target = s->as_target;
    apply_record(s, record);
    json_decref(record);
    if (s->revision != was_revision) {
        s->next_create_at = 0;
        s->create_failures = 0;
        fprintf(stderr, "gantry server: service %s goes to revision %d; its replicas are "
                        "replaced one at a time.\n", s->name, s->revision);
    }
    if (s->as_max != was_max || s->as_min != was_min || s->as_target != was_target) {
        s->as_sum = 0;
        s->as_n = 0;
        s->as_since = 0;
        s->low_since = 0;
        if (s->as_max)
            fprintf(stderr, "gantry server: service %s autoscales between %d and %d replicas, "
                            "%g request(s) in flight per replica.\n", s->name, s->as_min,
                    s->as_max, s->as_target);
        else
            fprintf(stderr, "gantry server: service %s no longer autoscales.\n", s->name);
    }
    if (s->replicas != was_replicas) {
        s->next_create_at = 0;
        fprintf(stderr, "gantry server: service %s scales from %d to %d replica(s).\n", s->name,
                was_replicas, s->replicas);
    }
    server_kick(srv);
    return s;
}

bool services_changing(const service_t *s) { return s->changing; }

uint64_t services_delete(server_t *srv, service_t *s)
{
    uint64_t ticket = 0;
    for (size_t i = 0; i < s->nids; i++) {
        job_t *j = server_job(srv, s->ids[i]);
        if (!j || job_state_terminal(j->state))
            continue;
        j->ready = false;
        uint64_t t = server_end_job(srv, j, JOB_CANCELLED, "cancelled", "its service was deleted",
                                    0, 0, json_pack("{s:s}", "by", "service"));
        ticket = t > ticket ? t : ticket;
    }
    store_op_t op = {.kind = STORE_SETTING_DEL, .a = "service", .b = s->name};
    uint64_t t = store_enqueue(srv->store, &op, 1);
    fprintf(stderr, "gantry server: service %s is deleted.\n", s->name);
    service_remove(srv, s);
    return t > ticket ? t : ticket;
}

/* ---- the endpoint ---- */

static double rate(const service_t *s, double now)
{
    int64_t sec = (int64_t)now, sum = 0;
    for (int i = 0; i < RATE_WINDOW; i++)
        if (s->bucket_sec[i] < sec && s->bucket_sec[i] >= sec - RATE_WINDOW)
            sum += s->bucket[i];
    return (double)sum / RATE_WINDOW;
}

int services_pick(server_t *srv, service_t *s, char (*addr)[64], int max)
{
    double now = server_now();
    int64_t sec = (int64_t)now;
    int b = (int)(sec % RATE_WINDOW);
    if (s->bucket_sec[b] != sec) {
        s->bucket_sec[b] = sec;
        s->bucket[b] = 0;
    }
    s->bucket[b]++;
    s->requests++;
    s->in_flight++;
    int n = 0;
    size_t start = s->nids ? s->rr++ % s->nids : 0;
    for (size_t k = 0; k < s->nids && n < max; k++) {
        job_t *j = server_job(srv, s->ids[(start + k) % s->nids]);
        if (!j || !replica_ready(j) || j->port <= 0 || !j->nslots || draining(s, j->id))
            continue;
        node_t *node = server_node(srv, j->slots[0].node);
        if (!node || !node->up)
            continue;
        snprintf(addr[n++], 64, "%s:%d", node->address ? node->address : "127.0.0.1", j->port);
    }
    return n;
}

static void endpoint_url(server_t *srv, const char *name, const char *host, char *buf,
                         size_t len)
{
    if (host && *host)
        snprintf(buf, len, "%s://%s/v1/services/%s/", srv->tls ? "https" : "http", host, name);
    else
        snprintf(buf, len, "/v1/services/%s/", name);
}

void services_annotate(server_t *srv, const job_t *j, json_t *o, const char *host)
{
    if (j->kind != JOB_KIND_SERVICE || !j->service)
        return;
    char url[512];
    endpoint_url(srv, j->service, host, url, sizeof(url));
    json_object_set_new(o, "endpoint", json_string(url));
    json_object_set_new(o, "ready", json_boolean(replica_ready(j)));
    if (j->port > 0 && j->state == JOB_RUNNING)
        json_object_set_new(o, "port", json_integer(j->port));
}

json_t *services_view(server_t *srv, service_t *s, bool detail, const char *host)
{
    double now = server_now();
    int ready = 0;
    double gpus = 0;
    bool updating = false;
    json_t *reps = json_array();
    for (size_t i = 0; i < s->nids; i++) {
        job_t *j = server_job(srv, s->ids[i]);
        if (!j || job_state_terminal(j->state))
            continue;
        bool out = draining(s, j->id);
        if (replica_ready(j) && !out)
            ready++;
        if (j->state == JOB_RUNNING)
            gpus += j->gpus_milli / 1000.0;
        if (j->revision != s->revision && !out)
            updating = true;
        if (!detail)
            continue;
        json_t *r = json_pack("{s:I,s:i,s:i,s:s,s:b,s:i,s:i}", "job", (json_int_t)j->id,
                              "replica", j->replica, "revision", j->revision, "state",
                              job_state_name(j->state), "ready", replica_ready(j) && !out,
                              "restarts", j->restarts, "incarnation", j->incarnation);
        if (j->nslots)
            json_object_set_new(r, "node", json_string(j->slots[0].node));
        if (j->port > 0 && j->state == JOB_RUNNING)
            json_object_set_new(r, "port", json_integer(j->port));
        if (out)
            json_object_set_new(r, "draining", json_true());
        if (j->restart_at > now)
            json_object_set_new(r, "restart_at", json_real(j->restart_at));
        json_array_append_new(reps, r);
    }
    char url[512];
    endpoint_url(srv, s->name, host, url, sizeof(url));
    json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:s,s:f,s:I,s:f,s:s,s:f,s:O}", "name",
                          s->name, "team", s->team, "user", s->user, "replicas", s->replicas,
                          "ready", ready, "revision", s->revision, "endpoint", url, "gpus", gpus,
                          "requests", (json_int_t)s->requests, "requests_per_s", rate(s, now),
                          "rollout", updating ? "updating" : "complete", "created", s->created,
                          "spec", s->spec);
    if (s->previous)
        json_object_set_new(o, "previous_revision", json_integer(s->revision - 1));
    if (s->last_error)
        json_object_set_new(o, "error", json_string(s->last_error));
    json_object_set_new(o, "in_flight", json_integer(s->in_flight));
    if (s->as_max)
        json_object_set_new(o, "autoscale", json_pack("{s:i,s:i,s:f}", "min", s->as_min, "max",
                                                      s->as_max, "target", s->as_target));
    if (detail)
        json_object_set_new(o, "replica_jobs", reps);
    else
        json_decref(reps);
    return o;
}

json_t *services_list(server_t *srv, const auth_principal_t *who, const char *host)
{
    struct services *r = srv->services;
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n; i++)
        if (!r->v[i]->reserved && auth_can_see_team(who, r->v[i]->team))
            json_array_append_new(arr, services_view(srv, r->v[i], false, host));
    return arr;
}
