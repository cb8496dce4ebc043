/* server.c: `gantry server`: loads the store, runs the scheduler thread and the HTTP API. */
#include "server/server.h"
#include "server/tracking.h"
#include "server/lineage.h"
#include "server/leader.h"
#include "server/series.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "model/sched_config.h"
#include "server/tls.h"
#include "server/conn_guard.h"
#include "server/gpu_use.h"
#include "server/artifacts.h"
#include "server/blobs.h"
#include "server/events.h"
#include "server/metrics.h"
#include "server/services.h"
#include "server/attach.h"

double server_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

job_t *server_job(server_t *srv, uint64_t id)
{
    return id > 0 && id < srv->jobs_cap ? srv->jobs[id] : NULL;
}

team_t *server_team(server_t *srv, const char *name)
{
    for (size_t i = 0; name && i < srv->nteams; i++)
        if (!strcmp(srv->teams[i].name, name))
            return &srv->teams[i];
    return NULL;
}

static size_t node_slot(const server_t *srv, const char *name)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)h & (srv->node_index_cap - 1);
}

node_t *server_node(server_t *srv, const char *name)
{
    if (!name || !srv->node_index_cap)
        return NULL;
    for (size_t i = node_slot(srv, name);; i = (i + 1) & (srv->node_index_cap - 1)) {
        node_t *n = srv->node_index[i];
        if (!n || !strcmp(n->name, name))
            return n;
    }
}

/* Puts n (in srv->nodes already) into server_node's table, grown to twice the nodes. */
static void node_index_add(server_t *srv, node_t *n)
{
    if (srv->nnodes * 2 > srv->node_index_cap) {
        size_t cap = srv->node_index_cap ? srv->node_index_cap : 64;
        while (srv->nnodes * 2 > cap)
            cap *= 2;
        free(srv->node_index);
        srv->node_index = xcalloc(cap, sizeof(*srv->node_index));
        srv->node_index_cap = cap;
        for (size_t k = 0; k < srv->nnodes; k++) {
            size_t i = node_slot(srv, srv->nodes[k]->name);
            while (srv->node_index[i])
                i = (i + 1) & (cap - 1);
            srv->node_index[i] = srv->nodes[k];
        }
        return;
    }
    size_t i = node_slot(srv, n->name);
    while (srv->node_index[i])
        i = (i + 1) & (srv->node_index_cap - 1);
    srv->node_index[i] = n;
}

pclass_t *server_class(server_t *srv, const char *name)
{
    for (size_t i = 0; name && i < srv->nclasses; i++)
        if (!strcmp(srv->classes[i].name, name))
            return &srv->classes[i];
    return NULL;
}

bool server_class_preemptible(server_t *srv, const char *name)
{
    pclass_t *c = server_class(srv, name);
    return c && c->preemptible;
}

static node_t *node_by_sched_idx(server_t *srv, int idx)
{
    for (size_t i = 0; i < srv->nnodes; i++)
        if (srv->nodes[i]->sched_idx == idx)
            return srv->nodes[i];
    return NULL;
}

void server_jobs_reserve(server_t *srv, uint64_t id)
{
    size_t old = srv->jobs_cap;
    if (id < old)
        return;
    GT_GROW(srv->jobs, srv->jobs_cap, id + 1);
    memset(srv->jobs + old, 0, (srv->jobs_cap - old) * sizeof(*srv->jobs));
}

char *server_job_doc(const job_t *j)
{
    json_t *o = job_to_json(j);
    char *doc = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return doc;
}

uint64_t server_save_job(server_t *srv, const job_t *j)
{
    char *doc = server_job_doc(j);
    store_op_t op = {.kind = STORE_JOB_PUT, .id = j->id, .a = j->team, .b = j->user,
                     .c = job_state_name(j->state), .d = doc};
    uint64_t t = store_enqueue(srv->store, &op, 1);
    free(doc);
    return t;
}

static int job_spec(server_t *srv, const job_t *j, sched_job_spec_t *sp, gt_error_t *err);

int server_check_job(server_t *srv, const job_t *j, gt_error_t *err)
{
    sched_job_spec_t sp;
    if (job_spec(srv, j, &sp, err) < 0)
        return -1;
    if (sched_job_validate(srv->sched, &sp, err) < 0)
        return -1;
    /* A job that could never run (its team's limits, the cluster's nodes) is refused now, with
     * the numbers, rather than waiting forever. */
    return sched_job_feasible(srv->sched, &sp, err);
}

static void idem_name(gt_buf_t *b, const char *scope, const char *key)
{
    gt_buf_printf(b, "%zu:%s%s", strlen(scope), scope, key); /* unambiguous */
}

job_t *server_idem_find(server_t *srv, const char *scope, const char *key)
{
    gt_buf_t b = {0};
    idem_name(&b, scope, key);
    json_t *v = json_object_get(srv->idem, b.data);
    gt_buf_free(&b);
    return v ? server_job(srv, (uint64_t)json_integer_value(v)) : NULL;
}

void server_idem_add(server_t *srv, const job_t *j)
{
    if (!j->idem_key || !j->idem_scope)
        return;
    gt_buf_t b = {0};
    idem_name(&b, j->idem_scope, j->idem_key);
    if (!json_object_get(srv->idem, b.data))
        json_object_set_new_nocheck(srv->idem, b.data, json_integer((json_int_t)j->id));
    gt_buf_free(&b);
}

void server_idem_remove(server_t *srv, const job_t *j)
{
    if (!j->idem_key || !j->idem_scope)
        return;
    gt_buf_t b = {0};
    idem_name(&b, j->idem_scope, j->idem_key);
    json_t *v = json_object_get(srv->idem, b.data);
    if (v && (uint64_t)json_integer_value(v) == j->id)
        json_object_del(srv->idem, b.data);
    gt_buf_free(&b);
}

/* An in-flight submission's key maps to minus its first id until it commits. */
void server_idem_reserve(server_t *srv, const char *scope, const char *key, uint64_t first)
{
    gt_buf_t b = {0};
    idem_name(&b, scope, key);
    json_object_set_new_nocheck(srv->idem, b.data, json_integer(-(json_int_t)first));
    gt_buf_free(&b);
}

bool server_idem_pending(server_t *srv, const char *scope, const char *key)
{
    gt_buf_t b = {0};
    idem_name(&b, scope, key);
    json_t *v = json_object_get(srv->idem, b.data);
    gt_buf_free(&b);
    return v && json_integer_value(v) < 0;
}

void server_idem_settle(server_t *srv, const char *scope, const char *key, bool keep)
{
    gt_buf_t b = {0};
    idem_name(&b, scope, key);
    json_t *v = json_object_get(srv->idem, b.data);
    if (v && json_integer_value(v) < 0) {
        if (keep)
            json_integer_set(v, -json_integer_value(v));
        else
            json_object_del(srv->idem, b.data);
    }
    gt_buf_free(&b);
}

void server_kick(server_t *srv)
{
    /* A pass is already due: it will see this change too. Waking the scheduler thread for
     * each submission of a burst only to make it wait again cost a context switch each. */
    if (srv->kicked)
        return;
    srv->kicked = true;
    pthread_cond_signal(&srv->kick);
}

sched_time_t server_sched_clock(server_t *srv)
{
    sched_time_t now = (sched_time_t)server_now();
    if (now < srv->sched_now)
        now = srv->sched_now;
    srv->sched_now = now;
    return now;
}

/* ---- the scheduler model ---- */

/* Fills a scheduler spec from a job; -1 with err when its team or class is unknown. */
static int job_spec(server_t *srv, const job_t *j, sched_job_spec_t *sp, gt_error_t *err)
{
    memset(sp, 0, sizeof(*sp));
    team_t *t = server_team(srv, j->team);
    pclass_t *c = server_class(srv, j->prio_class);
    if (!t) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "team '%s' does not exist: see `gantry "
                                                     "teams`", j->team);
    }
    if (!c) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "priority class '%s' does not exist",
                            j->prio_class ? j->prio_class : "");
    }
    sp->id = j->id;
    sp->team = t->sched_idx;
    sp->prio_class = sched_class_find(srv->sched, c->name);
    sp->gpus_milli = j->gpus_milli;
    sp->nodes = j->nodes;
    size_t i;
    json_t *g;
    json_array_foreach(j->gpu_types, i, g)
    {
        int ti = sched_gpu_type(srv->sched, json_string_value(g));
        if (ti < 0) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "too many GPU types");
        }
        sp->gpu_types |= 1ULL << ti;
    }
    sp->cpus_milli = j->cpus_milli;
    sp->memory_mib = j->memory_mib;
    sp->submit = (sched_time_t)j->submit_time;
    sp->time_limit = j->time_limit_s;
    sp->checkpointable = j->ckpt_signal != NULL;
    sp->features = j->image ? SCHED_FEATURE_OCI : 0; /* an image runs where a runtime is */
    return 0;
}

/* Gives a pending job to the scheduler once its gate allows (job_gate.c). Caller holds mu. */
int server_admit(server_t *srv, job_t *j, uint64_t *ticket, gt_error_t *err)
{
    *ticket = 0;
    if (j->in_sched || j->state != JOB_PENDING)
        return 0;
    gate_why_t why = {0};
    gate_t g = server_job_gate(srv, j, &why);
    if (g == GATE_NEVER) {
        fprintf(stderr, "gantry server: job %llu is cancelled: %s.\n", (unsigned long long)j->id,
                why.message);
        *ticket = server_finish_job(srv, j, JOB_CANCELLED, "dependency_failed", why.message, 0,
                                    0);
        return 0;
    }
    if (g == GATE_WAIT) {
        server_gate_wait(srv, j, &why);
        return 0;
    }
    sched_job_spec_t sp;
    if (job_spec(srv, j, &sp, err) < 0 || sched_job_submit(srv->sched, &sp, err) < 0)
        return -1;
    j->in_sched = true;
    server_gate_entered(srv, j);
    server_kick(srv);
    return 0;
}

int server_enter_sched(server_t *srv, job_t *j, gt_error_t *err)
{
    uint64_t t;
    return server_admit(srv, j, &t, err);
}

uint64_t server_leave_sched(server_t *srv, job_t *j)
{
    if (!j->in_sched || j->state != JOB_PENDING)
        return 0;
    sched_job_remove(srv->sched, j->id, server_sched_clock(srv));
    j->in_sched = false;
    server_gate_left(srv, j, true, false);
    server_kick(srv);
    return server_gate_recheck(srv, j);
}

static void queue_task(server_t *srv, node_t *n, json_t *task, uint64_t ticket)
{
    json_array_append_new(n->tasks, task);
    if (ticket > n->tasks_ticket)
        n->tasks_ticket = ticket;
    if (!srv->in_pass) {
        server_node_wake(n);
        return;
    }
    /* A pass: its node's poll is woken once the pass has let go of mu (wake_passed), not
     * now: woken now, it would take a core from the pass only to block on mu. */
    if (!n->wake_queued) {
        n->wake_queued = true;
        GT_GROW(srv->to_wake, srv->to_wake_cap, srv->nto_wake + 1);
        srv->to_wake[srv->nto_wake++] = n;
    }
}

/* Wakes the polls of the nodes the last pass gave tasks, with mu let go meanwhile (a
 * condition may be signalled without its mutex: a poll either waits already or finds the
 * tasks when it next holds mu). Caller holds mu; it is held again on return. */
static void wake_passed(server_t *srv)
{
    size_t n = srv->nto_wake;
    if (!n)
        return;
    node_t **nodes = xmalloc(n * sizeof(*nodes));
    memcpy(nodes, srv->to_wake, n * sizeof(*nodes));
    for (size_t i = 0; i < n; i++)
        nodes[i]->wake_queued = false;
    srv->nto_wake = 0;
    pthread_mutex_unlock(&srv->mu);
    for (size_t i = 0; i < n; i++)
        pthread_cond_broadcast(&nodes[i]->work);
    pthread_mutex_lock(&srv->mu);
    free(nodes);
}

void server_queue_task(server_t *srv, node_t *n, json_t *task, uint64_t ticket)
{
    queue_task(srv, n, task, ticket);
}

/* Whether slot i's node is also an earlier slot's (a node counted once). */
static bool node_seen_before(const job_t *j, int i)
{
    for (int k = 0; k < i; k++)
        if (!strcmp(j->slots[k].node, j->slots[i].node))
            return true;
    return false;
}

static void send_stops(server_t *srv, job_t *j, const char *reason, uint64_t ticket,
                       const char *except)
{
    for (int i = 0; i < j->nslots; i++) {
        node_t *n = server_node(srv, j->slots[i].node);
        if (!n || (except && !strcmp(except, n->name)))
            continue;
        if (node_seen_before(j, i))
            continue;
        int64_t grace = j->ckpt_signal ? j->ckpt_grace_s : sched_params(srv->sched)->grace_s;
        queue_task(srv, n,
                   json_pack("{s:s,s:I,s:i,s:s,s:s,s:I}", "type", "stop", "job_id",
                             (json_int_t)j->id, "incarnation", j->incarnation, "reason", reason,
                             "signal", j->ckpt_signal ? j->ckpt_signal : "SIGTERM", "grace_s",
                             (json_int_t)grace),
                   ticket);
    }
}

void server_stop_to_requeue(server_t *srv, job_t *j, uint64_t ticket)
{
    j->stopping = true;
    send_stops(srv, j, "preempt", ticket, NULL);
}

/* The fields a job's end sets; true when it was running (a cancel then leaves it stopping,
 * holding its GPUs until its processes are gone). */
static bool set_ended(job_t *j, job_state_t st, const char *reason, const char *message,
                      int exit_code, int exit_signal)
{
    bool was_running = j->nslots > 0 && j->state == JOB_RUNNING;
    j->state = st;
    j->end_time = server_now();
    free(j->end_reason);
    j->end_reason = reason ? xstrdup(reason) : NULL;
    free(j->end_message);
    j->end_message = message && *message ? xstrdup(message) : NULL;
    j->exit_code = exit_code;
    j->exit_signal = exit_signal;
    j->stopping = was_running && st == JOB_CANCELLED;
    gpu_use_run_ended(j, j->end_time);
    return was_running;
}

char *server_job_doc_ended(const job_t *j, job_state_t st, const char *reason)
{
    job_t *c = job_clone(j);
    set_ended(c, st, reason, NULL, 0, 0);
    char *doc = server_job_doc(c);
    job_free(c);
    return doc;
}

/* The event of j's end (events.h): finished, cancelled, oom, time_limit or failed, with what
 * the end says and the caller's detail (stolen). */
static void end_event(server_t *srv, const job_t *j, json_t *detail)
{
    const char *reason = j->end_reason ? j->end_reason : "";
    const char *type = j->state == JOB_SUCCEEDED   ? "finished"
                       : j->state == JOB_CANCELLED ? "cancelled"
                       : !strcmp(reason, "oom")      ? "oom"
                       : !strcmp(reason, "time_limit") ? "time_limit"
                                                       : "failed";
    json_t *d = json_pack("{s:s,s:i}", "reason", reason, "exit_code", j->exit_code);
    if (j->exit_signal)
        json_object_set_new(d, "signal", json_integer(j->exit_signal));
    if (j->end_message)
        json_object_set_new(d, "message", json_string(j->end_message));
    if (detail) {
        json_object_update(d, detail);
        json_decref(detail);
    }
    server_job_event(srv, j, type, d);
}

uint64_t server_finish_job(server_t *srv, job_t *j, job_state_t st, const char *reason,
                           const char *message, int exit_code, int exit_signal)
{
    return server_end_job(srv, j, st, reason, message, exit_code, exit_signal, NULL);
}

uint64_t server_end_job(server_t *srv, job_t *j, job_state_t st, const char *reason,
                        const char *message, int exit_code, int exit_signal, json_t *detail)
{
    bool was_active = j->in_sched && !job_state_terminal(j->state);
    bool was_ended = job_state_terminal(j->state);
    bool was_running = set_ended(j, st, reason, message, exit_code, exit_signal);
    if (!was_ended)
        end_event(srv, j, detail);
    else
        json_decref(detail);
    /* A cancelled running job stays active (its throttle slot, its name) until it is gone:
     * server_cancelled_gone. */
    server_gate_left(srv, j, was_active && !j->stopping, !was_ended);
    if (was_running && st == JOB_CANCELLED) {
        /* Still holds its GPUs until the agents report the processes gone. */
        uint64_t t = server_save_job(srv, j);
        send_stops(srv, j, "cancel", t, NULL);
        server_gate_recheck(srv, j);
        return t;
    }
    if (j->in_sched) {
        if (j->nslots > 0)
            sched_job_finished(srv->sched, j->id, server_sched_clock(srv));
        else
            sched_job_remove(srv->sched, j->id, server_sched_clock(srv));
        j->in_sched = false;
    }
    j->stopping = false;
    uint64_t t = server_save_job(srv, j);
    uint64_t t2 = server_gate_recheck(srv, j);
    server_kick(srv);
    pthread_cond_broadcast(&srv->changed);
    return t2 > t ? t2 : t;
}

uint64_t server_cancelled_gone(server_t *srv, job_t *j)
{
    if (!job_state_terminal(j->state) || !j->stopping)
        return 0;
    if (j->in_sched) {
        sched_job_finished(srv->sched, j->id, server_sched_clock(srv));
        j->in_sched = false;
        server_gate_left(srv, j, true, false);
    }
    j->stopping = false;
    uint64_t t = server_save_job(srv, j);
    uint64_t t2 = server_gate_recheck(srv, j);
    server_kick(srv);
    return t2 > t ? t2 : t;
}

uint64_t server_requeue_job(server_t *srv, job_t *j, const char *why)
{
    fprintf(stderr, "gantry server: job %llu incarnation %d returns to the queue (%s).\n",
            (unsigned long long)j->id, j->incarnation, why);
    if (j->in_sched)
        sched_job_stopped(srv->sched, j->id, server_sched_clock(srv));
    if (j->start_time > 0 && j->state == JOB_RUNNING) {
        /* Kept for usage: the run that ends here consumed its GPUs too. */
        if (!j->earlier_runs)
            j->earlier_runs = json_array();
        /* and where it ran: that node may still ship the run's output (node_auth.c) */
        json_t *nodes = json_array();
        for (int i = 0; i < j->nslots; i++)
            if (!node_seen_before(j, i))
                json_array_append_new(nodes, json_string(j->slots[i].node));
        json_array_append_new(j->earlier_runs,
                              json_pack("{s:i,s:f,s:f,s:o}", "incarnation", j->incarnation,
                                        "start_time", j->start_time, "end_time", server_now(),
                                        "nodes", nodes));
    }
    gpu_use_run_ended(j, server_now());
    j->state = JOB_PENDING;
    j->stopping = false;
    j->pulling = false;
    j->ranks_done = 0;
    job_set_slots(j, NULL, 0);
    /* Held meanwhile (gantry requeue --hold): it waits outside the scheduler. Only a hold:
     * its other rules counted it when it entered (its array's throttle, its singleton name),
     * and a job that ran keeps its place. */
    uint64_t t = 0;
    if (j->in_sched && j->held)
        t = server_leave_sched(srv, j);
    server_kick(srv);
    pthread_cond_broadcast(&srv->changed);
    uint64_t t2 = server_save_job(srv, j);
    return t2 > t ? t2 : t;
}

void server_job_annotate(server_t *srv, const job_t *j, json_t *o)
{
    if (j->state == JOB_RUNNING && j->pulling)
        json_object_set_new(o, "pull", json_pack("{s:I}", "bytes", (json_int_t)j->pull_bytes));
    if (j->state == JOB_RUNNING && j->fetching) /* its inputs from the blob store */
        json_object_set_new(o, "fetch", json_pack("{s:I,s:I}", "bytes", (json_int_t)j->fetch_bytes,
                                                  "total", (json_int_t)j->fetch_total));
    if (j->state != JOB_PENDING)
        return;
    if (!j->in_sched) {
        gate_why_t why = {0};
        server_job_gate(srv, j, &why);
        json_object_set_new(o, "pending_reason", json_string(why.reason ? why.reason : "none"));
        if (why.message)
            json_object_set_new(o, "pending_message", json_string(why.message));
        return;
    }
    sched_job_info_t info;
    if (sched_job_info(srv->sched, j->id, &info) < 0)
        return;
    json_object_set_new(o, "pending_reason", json_string(sched_reason_name(info.reason)));
    json_object_set_new(o, "pending_message", json_string(sched_reason_text(info.reason)));
    if (info.blocked_by)
        json_object_set_new(o, "blocked_by", json_integer((json_int_t)info.blocked_by));
    if (info.estimated_start != SCHED_NEVER)
        json_object_set_new(o, "estimated_start", json_integer(info.estimated_start));
}

/* ---- decisions ---- */

/* The "started" event: where (each node's GPUs) and by which scheduling pass. */
static void start_event(server_t *srv, const job_t *j, uint64_t pass)
{
    json_t *nodes = json_array(), *gpus = json_array();
    for (int r = 0; r < j->nslots; r++) {
        json_t *g = json_array();
        for (int k = 0; k < 64; k++)
            if (j->slots[r].gpu_mask >> k & 1)
                json_array_append_new(g, json_integer(k));
        if (!node_seen_before(j, r))
            json_array_append_new(nodes, json_string(j->slots[r].node));
        json_array_append_new(gpus, json_pack("{s:s,s:o,s:i}", "node", j->slots[r].node, "gpus",
                                              g, "gpu_milli", j->slots[r].gpu_milli));
    }
    server_job_event(srv, j, "started",
                     json_pack("{s:o,s:o,s:I,s:i}", "nodes", nodes, "gpus", gpus, "pass",
                               (json_int_t)pass, "incarnation", j->incarnation));
}

/* The "preempted" event of victim v for job for_id: reclaim when the preemptor's class is not
 * above the victim's (its team takes back its quota: sched/preempt.c's rule), else priority. */
static void preempt_event(server_t *srv, const job_t *v, uint64_t for_id)
{
    job_t *p = server_job(srv, for_id);
    pclass_t *vc = server_class(srv, v->prio_class);
    pclass_t *pc = p ? server_class(srv, p->prio_class) : NULL;
    bool reclaim = vc && pc && vc->value >= pc->value;
    int64_t grace = v->ckpt_signal ? v->ckpt_grace_s : sched_params(srv->sched)->grace_s;
    json_t *d = json_pack("{s:I,s:s,s:I}", "by_job", (json_int_t)for_id, "reason",
                          reclaim ? "reclaim" : "priority", "grace_s", (json_int_t)grace);
    if (p)
        json_object_set_new(d, "by_team", json_string(p->team));
    server_job_event(srv, v, "preempted", d);
}

/* pass_at: server_now() when the pass that decided it began. */
static void apply_start(server_t *srv, job_t *j, uint64_t pass, double pass_at)
{
    sched_job_info_t info;
    if (sched_job_info(srv->sched, j->id, &info) < 0)
        return;
    job_slot_t *slots = xcalloc((size_t)info.nslots + 1, sizeof(*slots));
    for (int i = 0; i < info.nslots; i++) {
        node_t *n = node_by_sched_idx(srv, info.slots[i].node);
        slots[i].node = n ? n->name : "?";
        slots[i].gpu_mask = info.slots[i].gpu_mask;
        slots[i].gpu_milli = info.slots[i].gpu_milli;
    }
    job_set_slots(j, slots, info.nslots);
    free(slots);
    /* Its volumes as they are now (an admin may have changed them since its submission). */
    json_t *envx = json_object();
    gt_error_t err = {0};
    if (server_job_start_env(srv, j, envx, &err) < 0) {
        json_decref(envx);
        fprintf(stderr, "gantry server: job %llu cannot start: %s.\n",
                (unsigned long long)j->id, err.msg);
        server_finish_job(srv, j, JOB_FAILED, "invalid", err.msg, 0, 0);
        return;
    }
    j->state = JOB_RUNNING;
    j->pulling = false;
    j->ready = false; /* a service's replica: until its new run's agent says so */
    j->port = 0;
    json_decref(j->outputs_hashed); /* an earlier run's, never this one's */
    j->outputs_hashed = NULL;
    j->incarnation++;
    j->start_time = j->placed_at = server_now();
    j->ranks_done = 0;
    uint64_t t = server_save_job(srv, j);
    node_t *master = j->nslots ? server_node(srv, j->slots[0].node) : NULL;
    const char *maddr = master && master->address ? master->address : "127.0.0.1";
    /* a gang's slots may hold different GPU counts (an uneven shape, 8+4): each node's own
       count, the gang's total and the GPUs of the nodes before it give the ranks */
    int world = 0;
    for (int r = 0; r < j->nslots; r++)
        world += __builtin_popcountll(j->slots[r].gpu_mask);
    int rank_offset = 0;
    for (int r = 0; r < j->nslots; rank_offset += __builtin_popcountll(j->slots[r].gpu_mask),
             r++) {
        node_t *n = server_node(srv, j->slots[r].node);
        if (!n)
            continue;
        if (n->freed_at > 0) { /* the dispatch breakdown: an end freed what this start takes */
            metrics_observe(srv->metrics, "gantry_dispatch_pass_wait_seconds",
                            fmax(0, pass_at - n->freed_at));
            n->freed_at = 0;
        }
        json_t *gpus = json_array();
        int ng = 0;
        for (int g = 0; g < 64; g++)
            if (j->slots[r].gpu_mask >> g & 1) {
                json_array_append_new(gpus, json_integer(g));
                ng++;
            }
        json_t *env = json_deep_copy(j->env);
        if (j->array_index >= 0) {
            char b[32];
            snprintf(b, sizeof(b), "%lld", (long long)j->array_index);
            json_object_set_new(env, "GANTRY_ARRAY_INDEX", json_string(b));
        }
        json_t *job = json_pack(
            "{s:I,s:i,s:s,s:s,s:s,s:O,s:o,s:o,s:i,s:I,s:I,s:I}", "id", (json_int_t)j->id,
            "incarnation", j->incarnation, "name", j->name ? j->name : "", "team", j->team,
            "user", j->user, "command", j->command, "env", env, "gpus", gpus, "gpu_milli",
            j->slots[r].gpu_milli, "cpus_milli", (json_int_t)j->cpus_milli, "memory_mib",
            (json_int_t)j->memory_mib, "time_limit_s", (json_int_t)j->time_limit_s);
        json_object_set_new(job, "unix_user", json_string(server_unix_user(srv, j->user)));
        json_object_set_new(job, "fence", json_boolean(server_job_requeues(srv, j)));
        /* tracking (docs/tracking.md): this run's own token for POST /v1/jobs/ID/metrics */
        char mtok[TRACKING_TOKEN_MAX];
        tracking_job_token(srv->tracking, j->id, j->incarnation, mtok);
        json_object_set_new(job, "metrics_token", json_string(mtok));
        /* The agent refuses root and uid < 1000 unless the administrator allowed this user. */
        json_object_set_new(job, "allow_system_account",
                            json_boolean(server_user_allows_system(srv, j->user)));
        if (j->workdir)
            json_object_set_new(job, "workdir", json_string(j->workdir));
        /* What the agent tells the job about itself (SLURM_*): its array, all its nodes. */
        if (j->array_id > 0) {
            json_object_set_new(job, "array_id", json_integer((json_int_t)j->array_id));
            json_object_set_new(job, "array_index", json_integer((json_int_t)j->array_index));
        }
        json_t *names = json_array();
        for (int k = 0; k < j->nslots; k++)
            json_array_append_new(names, json_string(j->slots[k].node));
        json_object_set_new(job, "node_names", names);
        if (j->partition)
            json_object_set_new(job, "partition", json_string(j->partition));
        if (j->output)
            json_object_set_new(job, "output", json_string(j->output));
        if (j->error)
            json_object_set_new(job, "error", json_string(j->error));
        json_object_update(job, envx);
        if (j->kind != JOB_KIND_BATCH)
            json_object_set_new(job, "kind", json_string(job_kind_name(j->kind)));
        if (j->readiness)
            json_object_set(job, "readiness", j->readiness);
        if (j->liveness)
            json_object_set(job, "liveness", j->liveness);
        if (r == 0)
            lineage_task_outputs(j, job); /* hashed by the first rank's node */
        if (j->ckpt_signal)
            json_object_set_new(job, "checkpoint",
                                json_pack("{s:s,s:I}", "signal", j->ckpt_signal, "grace_s",
                                          (json_int_t)j->ckpt_grace_s));
        json_object_set_new(job, "gang",
                            json_pack("{s:i,s:i,s:s,s:i,s:i,s:i,s:i}", "nodes", j->nslots,
                                      "node_rank", r, "master_addr", maddr, "master_port",
                                      29500 + (int)(j->id % 1000), "gpus_per_node", ng,
                                      "world_size", world, "rank_offset", rank_offset));
        queue_task(srv, n, json_pack("{s:s,s:o}", "type", "start", "job", job), t);
    }
    json_decref(envx);
    if (j->kind == JOB_KIND_INTERACTIVE)
        attach_job_started(srv, j);
    start_event(srv, j, pass);
    fprintf(stderr, "gantry server: job %llu incarnation %d starts on %d node(s), first %s.\n",
            (unsigned long long)j->id, j->incarnation, j->nslots,
            j->nslots ? j->slots[0].node : "-");
}

static void run_cycle(server_t *srv)
{
    size_t n;
    double pass_t0 = gt_monotonic_s(), pass_at = server_now();
    const sched_decision_t *d = sched_cycle(srv->sched, server_sched_clock(srv), &n);
    sched_stats_t stats;
    sched_get_stats(srv->sched, &stats);
    srv->in_pass = true;
    for (size_t i = 0; i < n; i++) {
        job_t *j = server_job(srv, d[i].job_id);
        if (!j)
            continue;
        if (d[i].action == SCHED_START) {
            apply_start(srv, j, stats.cycles, pass_at);
        } else if (d[i].action == SCHED_PREEMPT && j->state == JOB_RUNNING && !j->stopping) {
            j->stopping = true;
            uint64_t t = server_save_job(srv, j);
            preempt_event(srv, j, d[i].for_id);
            fprintf(stderr, "gantry server: job %llu is preempted for job %llu.\n",
                    (unsigned long long)j->id, (unsigned long long)d[i].for_id);
            send_stops(srv, j, "preempt", t, NULL);
        }
    }
    srv->in_pass = false;
    if (n)
        pthread_cond_broadcast(&srv->changed);
    metrics_count(srv->metrics, "gantry_scheduling_passes_total", NULL, NULL);
    metrics_observe(srv->metrics, "gantry_scheduling_pass_duration_seconds",
                    gt_monotonic_s() - pass_t0);
}

bool server_job_requeues(server_t *srv, const job_t *j)
{
    if (j->kind == JOB_KIND_SERVICE) /* a replica runs again elsewhere (services.h) */
        return true;
    if (j->requeue != JOB_REQUEUE_DEFAULT) /* its own --requeue / --no-requeue */
        return j->requeue == JOB_REQUEUE_YES;
    return server_class_preemptible(srv, j->prio_class) || j->ckpt_signal;
}

void server_node_wake(node_t *n)
{
    pthread_cond_broadcast(&n->work);
}

void server_node_heard(node_t *n)
{
    n->last_seen = server_now();
    n->heard = gt_monotonic_s();
}

uint64_t server_job_lost(server_t *srv, job_t *j, node_t *n, const char *why)
{
    send_stops(srv, j, "preempt", 0, n->name);
    uint64_t ended = 0; /* a service's replica it no longer wants ends instead (services.h) */
    if (services_replica_end_unwanted(srv, j, n, true, why, -1, 0, &ended))
        return ended;
    if (j->stopping || server_job_requeues(srv, j)) {
        server_job_event(srv, j, "requeued",
                         json_pack("{s:s,s:s,s:s}", "reason", "node_lost", "node", n->name,
                                   "message", why));
        return server_requeue_job(srv, j, why);
    }
    char msg[400];
    snprintf(msg, sizeof(msg), "on node %s, %s, and the job %s", n->name, why,
             j->requeue == JOB_REQUEUE_NO ? "asked not to be requeued (requeue: false)"
                                          : "is neither preemptible nor checkpointable");
    return server_end_job(srv, j, JOB_FAILED, "node_lost", msg, -1, 0,
                          json_pack("{s:s}", "node", n->name));
}

uint64_t server_job_restart(server_t *srv, job_t *j, node_t *n, const char *why, json_t *detail)
{
    send_stops(srv, j, "preempt", 0, n ? n->name : NULL);
    server_job_event(srv, j, "requeued", detail);
    return server_requeue_job(srv, j, why);
}

/* A node silent for the lost-node timeout is unreachable: its jobs return to the queue when
 * they can (preemptible class or checkpointable) and fail with node_lost otherwise. By then
 * the node's own fence has stopped the first ones (common/lease.h). */
void server_node_lost(server_t *srv, node_t *n, const char *why)
{
    fprintf(stderr, "gantry server: node %s is unreachable (%s); its jobs are requeued or "
                    "failed.\n", n->name, why);
    n->up = false;
    if (n->sched_idx >= 0)
        sched_node_set_up(srv->sched, n->sched_idx, false);
    char lost[300];
    snprintf(lost, sizeof(lost), "the node was lost (%s)", why);
    for (size_t id = 1; id < srv->jobs_cap; id++) {
        job_t *j = srv->jobs[id];
        if (!j || !job_on_node(j, n->name))
            continue;
        if (j->state == JOB_RUNNING) {
            server_job_lost(srv, j, n, lost);
        } else if (j->in_sched && j->stopping) {
            send_stops(srv, j, "cancel", 0, n->name);
            server_cancelled_gone(srv, j);
        }
    }
    json_array_clear(n->tasks);
    server_node_wake(n);
    server_kick(srv);
}

/* The longest a turn of the scheduler loop takes when the server runs freely (it waits at
 * most 250 ms between turns); a longer gap is a stall of the server itself. */
#define SERVER_TURN_MAX_S 0.5

/* Declares lost the nodes silent for longer than the lost-node timeout, counting only time the
 * server itself ran: after a stall (a request that held the lock, the process stopped or
 * starved of CPU), the gap beyond a normal turn is added to every node's allowance, so that no
 * node is lost because the server could not hear it. Caller holds mu. */
static void check_lost_nodes(server_t *srv, double *last_turn)
{
    double now = gt_monotonic_s();
    double gap = *last_turn > 0 ? now - *last_turn : 0;
    *last_turn = now;
    if (gap > SERVER_TURN_MAX_S) {
        double stall = gap - SERVER_TURN_MAX_S;
        for (size_t i = 0; i < srv->nnodes; i++)
            srv->nodes[i]->heard = fmin(srv->nodes[i]->heard + stall, now);
        if (stall > 1)
            fprintf(stderr, "gantry server: the server itself stalled for %.1f s; the nodes' "
                            "silence during it is not counted against them.\n", stall);
    }
    for (size_t i = 0; i < srv->nnodes; i++) {
        node_t *n = srv->nodes[i];
        if (n->up && now - n->heard > srv->lease.lost_after_s) {
            char why[128];
            snprintf(why, sizeof(why), "silent for %.1f s, more than the lost-node timeout of "
                     "%.1f s", now - n->heard, srv->lease.lost_after_s);
            server_node_lost(srv, n, why);
        }
    }
}

void server_cycle(server_t *srv)
{
    pthread_mutex_lock(&srv->mu);
    run_cycle(srv);
    wake_passed(srv);
    pthread_mutex_unlock(&srv->mu);
}

void *server_sched_main(void *arg)
{
    server_t *srv = arg;
    double next_cycle = 0, last_turn = 0;
    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) {
        if (!srv->kicked) {
            /* Until a kick, the core's next wakeup (a minimum runtime passing, a backoff
             * ending: sched_next_wakeup, in whole seconds of server_now), or 250 ms for the
             * lost-node checks and parked log follows, whichever is first. */
            double wake = server_now() + 0.25;
            sched_time_t w = sched_next_wakeup(srv->sched);
            if (w != SCHED_NEVER && (double)w < wake)
                wake = (double)w;
            struct timespec ts;
            ts.tv_sec = (time_t)wake;
            ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&srv->kick, &srv->mu, &ts);
        }
        srv->kicked = false;
        double now = server_now();
        /* Under a burst of events, cycles are spaced by twice the last one's cost (at most
         * 100 ms) so that the scheduler never holds the lock more than a third of the time;
         * on a quiet cluster a submission is scheduled at once. */
        if (now < next_cycle) {
            struct timespec ts;
            double wake = next_cycle;
            ts.tv_sec = (time_t)wake;
            ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
            srv->kicked = true;
            pthread_cond_timedwait(&srv->kick, &srv->mu, &ts);
            continue;
        }
        /* A commit's outcome is unknown (store.h): memory may lack changes the store holds.
         * Once its clients have had a second to get their answers, this server loads its state
         * again: a leader steps down (it or a standby leads next with the store's state), a
         * lone server executes itself again. */
        double lost = store_outcome_lost(srv->store);
        if (lost > 0 && gt_monotonic_s() >= lost + 1.0) {
            static const char why[] = "a commit's outcome is unknown (its answer was lost "
                                      "with the connection to the store)";
            if (srv->leader)
                leader_step_down(why);
            leader_restart(why);
        }
        check_lost_nodes(srv, &last_turn);
        services_tick(srv);
        attach_idle_sweep(srv);
        /* Parked log follows recheck their job (ended, requeued) at least this often. */
        http_wake_follows(srv);
        double t0 = gt_monotonic_s();
        run_cycle(srv);
        double cost = gt_monotonic_s() - t0;
        wake_passed(srv);
        next_cycle = server_now() + (cost * 2 < 0.1 ? cost * 2 : 0.1);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* ---- model construction ---- */

static team_t *team_record(server_t *srv, const char *name, const char *parent, double weight,
                           int64_t quota, int64_t limit, int idx);
static node_t *node_record(server_t *srv, const char *name, json_t *info, int idx);

team_t *server_team_add(server_t *srv, const char *name, const char *parent, double weight,
                        int64_t quota, int64_t limit, gt_error_t *err)
{
    team_t *p = parent ? server_team(srv, parent) : NULL;
    if (parent && !p) {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument", "parent team '%s' does not exist", parent);
        return NULL;
    }
    int idx = sched_team_add(srv->sched, name, p ? p->sched_idx : -1, weight, err);
    if (idx < 0)
        return NULL;
    if (sched_team_set_quota(srv->sched, idx, -1, quota, limit, err) < 0)
        return NULL;
    return team_record(srv, name, parent, weight, quota, limit, idx);
}

/* The server's record of a team the scheduler holds at index idx. */
static team_t *team_record(server_t *srv, const char *name, const char *parent, double weight,
                           int64_t quota, int64_t limit, int idx)
{
    GT_GROW(srv->teams, srv->teams_cap, srv->nteams + 1);
    team_t *t = &srv->teams[srv->nteams++];
    memset(t, 0, sizeof(*t));
    t->name = xstrdup(name);
    t->parent = parent ? xstrdup(parent) : NULL;
    t->weight = weight;
    t->quota_milli = quota;
    t->limit_milli = limit;
    t->sched_idx = idx;
    return t;
}

/* The server's record of a priority class the scheduler holds. */
static void class_record(server_t *srv, const char *name, int value, bool preemptible)
{
    srv->classes = xrealloc(srv->classes, (srv->nclasses + 1) * sizeof(*srv->classes));
    srv->classes[srv->nclasses++] =
        (pclass_t){xstrdup(name), value, preemptible, false, ATTACH_IDLE_DEFAULT_S};
}

static int add_class(server_t *srv, const char *name, int value, bool preemptible,
                     gt_error_t *err)
{
    if (sched_class_add(srv->sched, name, value, preemptible, err) < 0)
        return -1;
    class_record(srv, name, value, preemptible);
    return 0;
}

uint32_t server_node_features(const json_t *info)
{
    size_t i;
    json_t *r;
    uint32_t f = 0;
    json_array_foreach(json_object_get(info, "runtimes"), i, r)
    {
        const char *s = json_string_value(r);
        if (s && !strcmp(s, "oci"))
            f |= SCHED_FEATURE_OCI;
    }
    return f;
}

node_t *server_node_add(server_t *srv, const char *name, json_t *info, gt_error_t *err)
{
    json_t *topo = json_object_get(info, "topology");
    json_t *gpus = json_object_get(info, "gpus");
    int ngpus = json_is_array(gpus) ? (int)json_array_size(gpus)
                                    : (int)json_integer_value(gpus);
    sched_node_spec_t spec = {
        .name = name,
        .gpu_type = json_string_value(json_object_get(info, "gpu_type")),
        .gpus = ngpus,
        .cpus_milli = json_integer_value(json_object_get(info, "cpus_milli")),
        .memory_mib = json_integer_value(json_object_get(info, "memory_mib")),
        .block = json_string_value(json_object_get(topo, "block")),
        .spine = json_string_value(json_object_get(topo, "spine")),
        .leaf = json_string_value(json_object_get(topo, "leaf")),
        .nvlink_groups = (int)json_integer_value(json_object_get(info, "nvlink_groups")),
        .features = server_node_features(info),
    };
    int idx = sched_node_add(srv->sched, &spec, err);
    if (idx < 0)
        return NULL;
    return node_record(srv, name, info, idx);
}

/* The server's record of a node the scheduler holds at index idx. */
static node_t *node_record(server_t *srv, const char *name, json_t *info, int idx)
{
    node_t *n = xcalloc(1, sizeof(*n));
    n->tasks_seq = (uint64_t)(server_now() * 1e6);
    n->name = xstrdup(name);
    n->info = json_incref(info);
    n->sched_idx = idx;
    n->tasks = json_array();
    pthread_cond_init(&n->work, NULL);
    n->up = true;
    server_node_heard(n);
    const char *addr = json_string_value(json_object_get(info, "address"));
    n->address = addr ? xstrdup(addr) : NULL;
    GT_GROW(srv->nodes, srv->nodes_cap, srv->nnodes + 1);
    srv->nodes[srv->nnodes++] = n;
    node_index_add(srv, n);
    server_nodectl_node_added(srv, n);
    return n;
}

/* The scheduler and the server's records of classes, teams and nodes: from the configuration
 * through the bridge the simulator uses too (src/model/sched_config.h), or, without a file,
 * the default classes and no teams or nodes. */
static int load_config(server_t *srv, const char *path, gt_error_t *err)
{
    gt_config_t *cfg = NULL;
    if (path && gt_config_load(path, &cfg, err) < 0)
        return -1;
    if (!srv->store_where && cfg && cfg->store)
        srv->store_where = xstrdup(cfg->store); /* --store wins */
    if (!srv->series_interval_s && cfg && cfg->series_interval_s)
        srv->series_interval_s = cfg->series_interval_s; /* --series-interval wins */
    if (cfg && cfg->series_retention_s)
        srv->series_retention_s = cfg->series_retention_s;
    int rc = -1;
    if (!cfg) {
        srv->sched = sched_new(NULL);
        server_users_from_config(srv, NULL);
        server_envs_from_config(srv, NULL);
        server_partitions_from_config(srv, NULL);
        if (add_class(srv, "production", 1000, false, err) < 0 ||
            add_class(srv, "normal", 100, true, err) < 0 ||
            add_class(srv, "experimental", 10, true, err) < 0)
            goto out;
        srv->default_class = xstrdup("normal");
        gpu_use_from_config(srv, NULL);
        attach_from_config(srv, NULL);
        rc = 0;
        goto out;
    }
    /* Declared nodes wait for their agent to register before they get work: down. */
    if (!(srv->sched = model_sched_new(cfg, true, err)))
        goto out;
    server_users_from_config(srv, cfg);
    server_envs_from_config(srv, cfg);
    server_partitions_from_config(srv, cfg); /* after the nodes: it names their GPU types */
    if (srv->retention_s < 0 && cfg->retention_set)
        srv->retention_s = cfg->retention_s; /* --retention wins over the file */
    for (size_t i = 0; i < cfg->nclasses; i++)
        class_record(srv, cfg->classes[i].name, cfg->classes[i].value,
                     cfg->classes[i].preemptible);
    srv->default_class = xstrdup(cfg->default_class ? cfg->default_class : "normal");
    gpu_use_from_config(srv, cfg);
    attach_from_config(srv, cfg);
    for (size_t i = 0; i < cfg->nteams; i++) {
        const gt_team_cfg_t *tc = &cfg->teams[i];
        int64_t q = 0, l = -1;
        for (size_t k = 0; k < tc->nquotas; k++)
            if (!tc->quotas[k].gpu_type) {
                q = tc->quotas[k].quota_milli;
                l = tc->quotas[k].limit_milli;
            }
        team_record(srv, tc->name, tc->parent, tc->weight > 0 ? tc->weight : 1, q, l,
                    sched_team_find(srv->sched, tc->name));
        if (tc->storage_quota >= 0) { /* artifacts.h: bytes of the blob store */
            if (!srv->storage_quotas)
                srv->storage_quotas = json_object();
            json_object_set_new(srv->storage_quotas, tc->name,
                                json_integer((json_int_t)tc->storage_quota));
        }
    }
    for (size_t i = 0; i < cfg->nnodes; i++) {
        const gt_node_cfg_t *nc = &cfg->nodes[i];
        json_t *info = json_pack("{s:s?,s:i,s:I,s:I,s:{s:s?,s:s?,s:s?},s:i}", "gpu_type",
                                 nc->gpu_type, "gpus", nc->gpus, "cpus_milli",
                                 (json_int_t)nc->cpus_milli, "memory_mib",
                                 (json_int_t)nc->memory_mib, "topology", "block", nc->block,
                                 "spine", nc->spine, "leaf", nc->leaf, "nvlink_groups",
                                 nc->nvlink_groups);
        node_t *n = node_record(srv, nc->name, info, sched_node_find(srv->sched, nc->name));
        json_decref(info);
        n->up = false;
    }
    rc = 0;
out:
    gt_config_free(cfg);
    return rc;
}

/* Stored teams come in name order; a sub-team may sort before its parent (asr < speech), so
 * they are collected first and added parents first (load_stored_teams). */
static int on_stored_team_doc(void *arg, const char *name, const char *doc)
{
    json_t *o = json_loads(doc, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    json_object_set_new(arg, name, o);
    return 0;
}

static int on_stored_team(server_t *srv, const char *name, json_t *o)
{
    artifacts_quota_load(srv, name, o); /* an admin's storage quota (artifacts.h) */
    double w = json_number_value(json_object_get(o, "weight"));
    int64_t q = json_integer_value(json_object_get(o, "quota_milli"));
    json_t *lv = json_object_get(o, "limit_milli");
    int64_t l = lv ? json_integer_value(lv) : -1;
    team_t *t = server_team(srv, name);
    int rc = 0;
    if (!t) {
        t = server_team_add(srv, name, json_string_value(json_object_get(o, "parent")), w > 0 ? w : 1,
                     q, l, NULL);
        rc = t ? 0 : -1;
    } else {
        t->quota_milli = q;
        t->limit_milli = l;
        if (w > 0)
            t->weight = w;
        sched_team_set_quota(srv->sched, t->sched_idx, -1, q, l, NULL);
        sched_team_set_weight(srv->sched, t->sched_idx, t->weight, NULL);
    }
    return rc;
}

static int load_stored_teams(server_t *srv, gt_error_t *err)
{
    json_t *docs = json_object();
    if (store_load_teams(srv->store, on_stored_team_doc, docs, err) < 0) {
        json_decref(docs);
        return -1;
    }
    for (bool progress = true; progress && json_object_size(docs);) {
        progress = false;
        const char *name;
        json_t *o, *tmp;
        json_object_foreach_safe(docs, tmp, name, o)
        {
            const char *parent = json_string_value(json_object_get(o, "parent"));
            if (parent && !server_team(srv, name) && !server_team(srv, parent))
                continue; /* its parent comes later */
            if (on_stored_team(srv, name, o) < 0) {
                gt_error_set(err, "store_error", "stored team %s is not valid", name);
                json_decref(docs);
                return -1;
            }
            json_object_del(docs, name);
            progress = true;
        }
    }
    int rc = 0;
    if (json_object_size(docs)) {
        const char *name = json_object_iter_key(json_object_iter(docs));
        rc = gt_error_set(err, "store_error", "stored team %s is under a team that does not "
                          "exist", name);
    }
    json_decref(docs);
    return rc;
}

static int on_stored_token(void *arg, const char *hash, const char *user, const char *role,
                           const char *team, int64_t created, int64_t expires)
{
    server_t *srv = arg;
    auth_role_t r;
    if (auth_role_parse(role, &r, NULL) < 0)
        return -1;
    return auth_add_token(srv->auth, hash, user, r, team, created, expires, NULL);
}

static int on_stored_user(void *arg, const char *name, const char *doc)
{
    return server_user_stored(arg, name, doc);
}

static int on_stored_node(void *arg, const char *name, int64_t epoch, const char *doc)
{
    server_t *srv = arg;
    json_t *info = json_loads(doc, 0, NULL);
    if (!info)
        return -1;
    node_t *n = server_node(srv, name);
    if (!n) {
        n = server_node_add(srv, name, info, NULL);
    } else {
        /* A node of the configuration keeps its declared capacity until its agent registers
         * again, but not its runtimes: its agent may not register again (its epoch still
         * holds), and its image jobs would wait for a runtime it has. */
        static const char *const keep[] = {"runtimes", "oci_runtime"};
        for (size_t k = 0; k < 2; k++)
            if (json_object_get(info, keep[k]))
                json_object_set(n->info, keep[k], json_object_get(info, keep[k]));
        sched_node_set_features(srv->sched, n->sched_idx, server_node_features(n->info));
    }
    json_decref(info);
    if (!n)
        return -1;
    n->epoch = epoch;
    /* The agent has 3 heartbeats from now to come back before its jobs are given up. */
    n->up = true;
    server_node_heard(n);
    sched_node_set_up(srv->sched, n->sched_idx, true);
    return 0;
}

static int on_stored_job(void *arg, uint64_t id, const char *doc, gt_error_t *err)
{
    server_t *srv = arg;
    job_t *j;
    if (job_from_doc(doc, &j, err) < 0)
        return -1;
    j->id = id;
    server_jobs_reserve(srv, id);
    srv->jobs[id] = j;
    srv->next_id = id + 1;
    server_idem_add(srv, j);
    return 0;
}

/* After loading: running jobs are restored on their slots, then pending ones enter the queue
 * (after: the throttles and singletons count the running ones first); a pending job whose
 * dependency failed while the server was down is cancelled now. */
static void restore_jobs(server_t *srv)
{
    size_t pending = 0, running = 0;
    for (int pass = 0; pass < 2; pass++) {
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j || (pass == 0) == (j->state == JOB_PENDING))
            continue;
        gt_error_t err = {0};
        j->placed_at = server_now(); /* its start task may have been lost with the server */
        if (j->state == JOB_PENDING) {
            if (server_enter_sched(srv, j, &err) < 0) {
                fprintf(stderr, "gantry server: job %llu can't be queued again (%s); it fails.\n",
                        (unsigned long long)id, err.msg);
                server_finish_job(srv, j, JOB_FAILED, "invalid", NULL, 0, 0);
            }
            pending++;
        } else if (j->state == JOB_RUNNING || j->stopping) {
            sched_job_spec_t sp;
            sched_slot_t slots[SCHED_MAX_GPUS_PER_NODE];
            int ns = 0;
            bool okay = job_spec(srv, j, &sp, &err) == 0 && j->nslots <= SCHED_MAX_GPUS_PER_NODE;
            for (int i = 0; okay && i < j->nslots; i++) {
                node_t *n = server_node(srv, j->slots[i].node);
                okay = n != NULL;
                if (okay)
                    slots[ns++] = (sched_slot_t){n->sched_idx, j->slots[i].gpu_mask,
                                                 j->slots[i].gpu_milli};
            }
            if (okay && sched_job_restore_running(srv->sched, &sp, (sched_time_t)j->start_time,
                                                  slots, ns, &err) == 0) {
                j->in_sched = true;
                server_gate_entered(srv, j); /* running, or cancelled and stopping */
                if (j->kind == JOB_KIND_INTERACTIVE && j->state == JOB_RUNNING)
                    attach_job_started(srv, j); /* its idle time counts from the restart */
                running++;
            } else if (j->state == JOB_RUNNING) {
                fprintf(stderr, "gantry server: job %llu can't be restored on its nodes (%s); "
                                "it returns to the queue.\n", (unsigned long long)id, err.msg);
                j->state = JOB_PENDING; /* queued again by the second pass */
                job_set_slots(j, NULL, 0);
                j->stopping = false;
                server_save_job(srv, j);
            } else {
                j->stopping = false;
                server_save_job(srv, j);
            }
        }
    }
    }
    fprintf(stderr, "gantry server: restored %llu jobs from the store (%zu pending, %zu "
                    "running).\n", (unsigned long long)(srv->next_id - 1), pending, running);
}

/* First start (the data directory holds no store): an admin token, written to admin.token
 * before the store that knows it is put in place, so that a crash between the two leaves no
 * store and the next start is a first start again. An existing store is never replaced, and
 * admin.token is never written when one exists. */
static int first_start(server_t *srv, gt_error_t *err)
{
    char tok[68], hash[65], path[4096], line[70];
    if (auth_token_generate(tok) < 0)
        return gt_error_set(err, "internal", "cannot read /dev/urandom: %s", strerror(errno));
    auth_token_hash(tok, hash);
    snprintf(path, sizeof(path), "%s/admin.token", srv->data_dir);
    int n = snprintf(line, sizeof(line), "%s\n", tok);
    if (gt_write_file_atomic(path, line, (size_t)n, 0600, err) < 0)
        return -1;
    store_op_t op = {.kind = STORE_TOKEN_PUT, .a = hash, .b = "admin", .c = "admin",
                     .n = (int64_t)server_now()};
    if (store_create(srv->store_where, &op, 1, err) < 0)
        return -1;
    char where[512];
    fprintf(stderr, "gantry server: first start: a new store in %s; wrote an admin token to %s "
                    "(mode 0600).\n", store_describe(srv->store_where, where, sizeof(where)),
            path);
    return 0;
}

/* The data directory, the store and the logs: created owner-only, tightened when found open
 * to others (tokens' hashes, jobs' environments and outputs live there). */
static int open_data(server_t *srv, const char *logs, gt_error_t *err)
{
    if (store_secure_dir(srv->data_dir, err) < 0 ||
        (!store_exists(srv->store_where) && first_start(srv, err) < 0) ||
        store_open(srv->store_where, &srv->store, err) < 0)
        return -1;
    char tokpath[4096];
    snprintf(tokpath, sizeof(tokpath), "%s/admin.token", srv->data_dir);
    const struct { const char *path; bool dir; unsigned mode; } own[] = {
        {logs, true, 0700}, {tokpath, false, 0600}};
    if (mkdir(logs, 0700) < 0 && errno != EEXIST)
        return gt_error_set(err, "internal", "cannot create %s: %s", logs, strerror(errno));
    for (size_t i = 0; i < sizeof(own) / sizeof(*own); i++) {
        unsigned old = 0;
        int rc = gt_tighten_mode(own[i].path, own[i].dir, own[i].mode, &old, err);
        if (rc < 0)
            return -1;
        if (rc > 0)
            fprintf(stderr, "gantry server: %s had mode %04o (open to other users); it is now "
                            "%04o.\n", own[i].path, old, own[i].mode);
    }
    return 0;
}

/* ---- lifecycle ---- */

int server_open(const server_opts_t *o, server_t **out, gt_error_t *err)
{
    int hb = o->heartbeat_s > 0 ? o->heartbeat_s : 5;
    server_t *srv = xcalloc(1, sizeof(*srv));
    srv->tls = o->tls;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->users_mu, NULL);
    pthread_mutex_init(&srv->envs_mu, NULL);
    pthread_mutex_init(&srv->nodectl_mu, NULL);
    pthread_cond_init(&srv->changed, NULL);
    pthread_cond_init(&srv->kick, NULL);
    pthread_mutex_init(&srv->park_mu, NULL);
    pthread_cond_init(&srv->park_cond, NULL);
    services_init(srv);
    srv->data_dir = xstrdup(o->data);
    srv->store_where = o->store ? xstrdup(o->store) : NULL; /* else the config's, or data */
    srv->heartbeat_s = hb;
    srv->limits = o->limits;
    lease_params_for((double)hb, &srv->lease);
    if (!lease_params_safe(&srv->lease)) {
        fprintf(stderr, "gantry server: internal error: the lease terms for a heartbeat of "
                        "%d s cannot keep a job from running twice\n", hb);
        abort();
    }
    srv->retention_s = o->retention_s;
    srv->upload_expiry_s = o->upload_expiry_s < 0 ? BLOBS_UPLOAD_EXPIRY_S : o->upload_expiry_s;
    srv->series_interval_s = o->series_interval_s;
    srv->series_retention_s = SERIES_DEFAULT_RETENTION_S;
    srv->auth = auth_new();
    srv->metrics = metrics_new();
    srv->idem = json_object();
    srv->next_id = 1;
    server_jobs_reserve(srv, 1024);
    char logs[4096];
    snprintf(logs, sizeof(logs), "%s/logs", o->data);

    /* Everything the server writes (store, logs, tokens) is for its own user only. */
    umask(077);
    if (load_config(srv, o->config, err) < 0)
        goto fail;
    if (!srv->store_where)
        srv->store_where = xstrdup(o->data);
    if (open_data(srv, logs, err) < 0)
        goto fail;
    /* Sharing the store with standbys: the lease and its fence before anything is read. */
    if (o->advertise && leader_start(srv, o->advertise, o->lease_ms, err) < 0)
        goto fail;
    if (!(srv->tracking = tracking_open(o->data, err)))
        goto fail;
    if (srv->retention_s < 0)
        srv->retention_s = 30 * 86400;
    if (!srv->series_interval_s)
        srv->series_interval_s = SERIES_DEFAULT_INTERVAL_S;
    if (events_open(srv, err) < 0 ||
        load_stored_teams(srv, err) < 0 ||
        store_load_tokens(srv->store, on_stored_token, srv, err) < 0 ||
        store_load_users(srv->store, on_stored_user, srv, err) < 0 ||
        server_envs_load(srv, err) < 0 ||
        store_load_nodes(srv->store, on_stored_node, srv, err) < 0 ||
        store_load_jobs(srv->store, on_stored_job, srv, err) < 0 ||
        server_nodectl_load(srv, err) < 0 ||
        retention_load(srv, err) < 0 || series_load(srv, err) < 0 ||
        artifacts_load(srv, err) < 0 || lineage_load(srv, err) < 0)
        goto fail;
    pthread_mutex_lock(&srv->mu);
    restore_jobs(srv);
    int svc_rc = services_load(srv, err);
    pthread_mutex_unlock(&srv->mu);
    if (svc_rc < 0)
        goto fail;
    if (auth_count(srv->auth) == 0)
        fprintf(stderr, "gantry server: warning: the store in %s holds no token, so no one can "
                        "use the API; its tokens table was emptied outside gantry.\n", o->data);
    *out = srv;
    return 0;
fail:
    server_close(srv);
    return -1;
}

void server_close(server_t *srv)
{
    if (!srv)
        return;
    conn_guard_free(srv->guard);
    retention_free(srv);
    tracking_close(srv->tracking);
    series_stop(srv);
    services_free(srv);
    leader_stop(srv); /* once every change is committed: the lease goes to a standby */
    store_close(srv->store);
    for (size_t i = 0; i < srv->jobs_cap && srv->jobs; i++)
        job_free(srv->jobs[i]);
    free(srv->jobs);
    for (size_t i = 0; i < srv->nnodes; i++) {
        node_t *n = srv->nodes[i];
        free(n->name);
        free(n->address);
        json_decref(n->info);
        json_decref(n->tasks);
        json_decref(n->gpu_stats);
        json_decref(n->volumes);
        json_decref(n->gpu_jobs);
        pthread_cond_destroy(&n->work);
        free(n);
    }
    free(srv->nodes);
    free(srv->to_wake);
    free(srv->node_index);
    for (size_t i = 0; i < srv->nteams; i++) {
        free(srv->teams[i].name);
        free(srv->teams[i].parent);
    }
    free(srv->teams);
    for (size_t i = 0; i < srv->nclasses; i++)
        free(srv->classes[i].name);
    free(srv->classes);
    free(srv->default_class);
    sched_free(srv->sched);
    series_free(srv->series);
    auth_free(srv->auth);
    json_decref(srv->users);
    json_decref(srv->config_users);
    server_envs_free(srv);
    lineage_free(srv);
    json_decref(srv->partitions);
    server_nodectl_free(srv);
    artifacts_free(srv);
    json_decref(srv->storage_quotas);
    json_decref(srv->idem);
    metrics_free(srv->metrics);
    server_gate_free(srv);
    events_free(srv);
    attach_free(srv);
    free(srv->follows);
    free(srv->data_dir);
    free(srv->store_where);
    free(srv);
}
