/* api_agents.c: the server side of docs/agent-protocol.md: register, heartbeat, long-poll
 * work, report, logs. Fencing by node epoch and job incarnation. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/digest.h"
#include "server/attach.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/services.h"
#include "server/artifacts.h"
#include "server/lineage.h"
#include "server/gpu_use.h"


/* Whether the (job_id, incarnation) pairs of list name j's current incarnation. */
static bool listed(json_t *list, const job_t *j)
{
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r)
    {
        if (json_integer_value(json_object_get(r, "job_id")) == (json_int_t)j->id &&
            json_integer_value(json_object_get(r, "incarnation")) == j->incarnation)
            return true;
    }
    return false;
}

/* Whether a start task of j waits in n's queue (not handed out yet). */
static bool start_queued(const node_t *n, const job_t *j)
{
    size_t i;
    json_t *t;
    json_array_foreach(n->tasks, i, t)
    {
        json_t *job = json_object_get(t, "job");
        if (json_integer_value(json_object_get(job, "id")) == (json_int_t)j->id &&
            json_integer_value(json_object_get(job, "incarnation")) == j->incarnation)
            return true;
    }
    return false;
}

static uint64_t apply_exit(server_t *srv, node_t *n, json_t *ev);
static void note_images(server_t *srv, node_t *n, json_t *body);

/* Whether j's rank on node has ended successfully (its gang runs on elsewhere). */
static bool rank_done(const job_t *j, const char *node)
{
    for (int i = 0; i < j->nslots; i++)
        if (!strcmp(j->slots[i].node, node) && j->slots[i].done)
            return true;
    return false;
}

/* A cancelled job whose copy on node is gone, held only there: its resources are free (its
 * exit, which would have freed them, will not come). Caller holds mu. */
static void cancelled_gone(server_t *srv, job_t *j, const char *node)
{
    for (int i = 0; i < j->nslots; i++)
        if (strcmp(j->slots[i].node, node))
            return; /* a gang: its other nodes report their ends */
    if (!j->in_sched)
        return;
    fprintf(stderr, "gantry server: cancelled job %llu incarnation %d is gone from node %s; its "
                    "resources are free.\n", (unsigned long long)j->id, j->incarnation, node);
    server_cancelled_gone(srv, j);
}

/* Records on each start task's job that work answer seq of node n carries its start (its
 * slot on n), so that a heartbeat is judged only against starts the agent has handled; and,
 * for the dispatch breakdown, how long each start waited for this poll since its decision.
 * Returns how many start tasks tasks holds. */
static size_t mark_starts(server_t *srv, node_t *n, json_t *tasks, uint64_t seq, double now)
{
    size_t i, starts = 0;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        json_t *job = json_object_get(t, "job");
        job_t *j = job ? server_job(srv, (uint64_t)json_integer_value(json_object_get(job, "id")))
                       : NULL;
        if (j && j->state == JOB_RUNNING &&
            json_integer_value(json_object_get(job, "incarnation")) == j->incarnation) {
            starts++;
            metrics_observe(srv->metrics, "gantry_dispatch_poll_wait_seconds",
                            fmax(0, now - j->placed_at));
        }
        for (int k = 0; j && k < j->nslots; k++)
            if (!strcmp(j->slots[k].node, n->name))
                j->slots[k].task_seq = seq;
    }
    return starts;
}

/* Several servers on one store (leader.h): answers to agents carry the leader's epoch, and an
 * agent refuses the tasks of an epoch older than the newest it has seen (a deposed leader's). */
static void with_leader_epoch(const server_t *srv, json_t *answer)
{
    if (srv->leader_epoch && answer)
        json_object_set_new(answer, "leader_epoch", json_integer((json_int_t)srv->leader_epoch));
}

/* Whether n's agent has handled the work answer that carried j's start: tasks_done is the
 * last it handled (< 0: the agent does not say). */
static bool start_handled(const job_t *j, const node_t *n, json_int_t tasks_done)
{
    if (tasks_done < 0)
        return true;
    for (int k = 0; k < j->nslots; k++)
        if (!strcmp(j->slots[k].node, n->name) && j->slots[k].task_seq > (uint64_t)tasks_done)
            return false;
    return true;
}

/* Whether the lists, with the starts still queued for n, name every job the scheduler holds
 * on n (distinct, current incarnation): then none is missing and reconcile_placement need not
 * look through every job the server knows (100,000 in a long queue), which it would otherwise
 * do on each heartbeat of a node whose starts wait for its next poll (a node that just
 * registered, in a registration storm every node). Caller holds mu. */
static bool lists_every_job(server_t *srv, node_t *n, json_t *running, json_t *ended)
{
    sched_node_info_t info;
    if (n->sched_idx < 0 || sched_node_info(srv->sched, n->sched_idx, &info) < 0)
        return false;
    json_t *seen = json_object();
    json_t *queued = json_array();
    size_t qi;
    json_t *t;
    json_array_foreach(n->tasks, qi, t)
    {
        json_t *job = json_object_get(t, "job");
        if (job)
            json_array_append_new(queued, json_pack("{s:O,s:O}", "job_id",
                                                    json_object_get(job, "id"), "incarnation",
                                                    json_object_get(job, "incarnation")));
    }
    json_t *lists[3] = {running, ended, queued};
    for (int l = 0; l < 3; l++) {
        size_t i;
        json_t *r;
        json_array_foreach(lists[l], i, r)
        {
            job_t *j = server_job(srv, (uint64_t)json_integer_value(json_object_get(r, "job_id")));
            if (!j || !j->in_sched || !job_on_node(j, n->name) ||
                json_integer_value(json_object_get(r, "incarnation")) != j->incarnation)
                continue;
            char key[32];
            snprintf(key, sizeof(key), "%llu", (unsigned long long)j->id);
            json_object_set_new(seen, key, json_true());
        }
    }
    bool all = json_object_size(seen) >= (size_t)info.jobs;
    json_decref(seen);
    json_decref(queued);
    return all;
}

/* Reconciles what the server placed on n against what n holds: `running`, plus `ended` (ends
 * the node reports with this message or has not reported yet). A job placed there that n does
 * not hold, whose start is not queued for n, is lost there (server_job_lost: requeued or
 * failed node_lost by its policy, why saying how it was found). grace > 0 (a heartbeat):
 * nothing is judged within grace seconds of a placement or of tasks handed out to n, which may
 * be on their way to the node's supervisors, nor a job whose start came in a work answer after
 * tasks_done, the last one the agent had handled (>= 0 when it says). Caller holds mu. */
static void reconcile_placement(server_t *srv, node_t *n, json_t *running, json_t *ended,
                                double grace, json_int_t tasks_done, const char *why)
{
    double now = server_now();
    if (grace > 0 && now - n->tasks_out_at < grace)
        return;
    if (lists_every_job(srv, n, running, ended))
        return;
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j || !job_on_node(j, n->name))
            continue;
        bool running_job = j->state == JOB_RUNNING;
        if (!running_job && !(job_state_terminal(j->state) && j->stopping))
            continue;
        if (listed(running, j) || listed(ended, j) || start_queued(n, j) ||
            rank_done(j, n->name) || (grace > 0 && now - j->placed_at < grace) ||
            !start_handled(j, n, tasks_done))
            continue;
        fprintf(stderr, "gantry server: job %llu incarnation %d is placed on node %s, which "
                        "does not hold it (%s).\n", (unsigned long long)j->id, j->incarnation,
                n->name, why);
        if (running_job)
            server_job_lost(srv, j, n, why);
        else
            cancelled_gone(srv, j, n->name);
    }
}

/* The running copies an agent lists that the server does not want there. Caller holds mu. */
static json_t *kill_list(server_t *srv, node_t *n, json_t *running)
{
    json_t *kill = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(running, i, r)
    {
        json_int_t id = json_integer_value(json_object_get(r, "job_id"));
        int inc = (int)json_integer_value(json_object_get(r, "incarnation"));
        job_t *j = server_job(srv, (uint64_t)id);
        bool wanted = j && j->incarnation == inc && job_on_node(j, n->name) &&
                      (j->state == JOB_RUNNING || j->stopping);
        if (!wanted)
            json_array_append_new(kill, json_pack("{s:I,s:i}", "job_id", id, "incarnation",
                                                  inc));
    }
    return kill;
}

/* Looks the node up and checks its epoch, and that it was not declared lost since; fills a
 * 404/409 otherwise. Caller holds mu. */
static node_t *fenced(server_t *srv, const char *name, json_int_t epoch, http_resp_t *resp)
{
    node_t *n = server_node(srv, name);
    if (!n || !n->epoch) {
        http_error(resp, 404, "not_registered", "node '%s' is not registered: register first",
                   name ? name : "");
        return NULL;
    }
    if (epoch != n->epoch) {
        /* The current epoch is not said: it is a fencing token, and the caller's own. */
        http_error(resp, 409, "stale_epoch", "epoch %lld of node %s is stale: register "
                   "again", (long long)epoch, name);
        return NULL;
    }
    if (!n->up) {
        /* Declared lost: its jobs were requeued or failed, and what the server handed it
         * before may be stale (a start task held up in a cut link). It registers again: a new
         * epoch, a new work poll, the kill list for the copies it still runs. */
        http_error(resp, 409, "node_lost", "node %s was declared lost (silent for longer than "
                   "the lost-node timeout): register again", name);
        return NULL;
    }
    return n;
}

/* What a node says about itself and the server prints (`gantry nodes`, its log): one line
 * each, bounded. */
static int register_labels_check(json_t *body, gt_error_t *err)
{
    static const struct { const char *key, *what; size_t max; } words[] = {
        {"gpu_type", "'gpu_type'", 63},
        {"address", "'address'", 255},
        {"oci_runtime", "'oci_runtime'", 63},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        json_t *v = json_object_get(body, words[i].key);
        if (v && gt_label_check(words[i].what, json_string_value(v), words[i].max, err) < 0)
            return -1;
    }
    json_t *rt = json_object_get(body, "runtimes");
    if (rt && (!json_is_array(rt) || json_array_size(rt) > 16)) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "'runtimes' must be a list such as "
                            "[\"process\", \"oci\"]");
    }
    size_t ri;
    json_t *rv;
    json_array_foreach(rt, ri, rv) if (gt_label_check("a runtime", json_string_value(rv), 31,
                                                      err) < 0) return -1;
    json_t *topo = json_object_get(body, "topology");
    if (topo && !json_is_object(topo)) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "'topology' must be an object");
    }
    static const char *const levels[][2] = {{"block", "topology 'block'"},
                                            {"spine", "topology 'spine'"},
                                            {"leaf", "topology 'leaf'"}};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(topo, levels[i][0]);
        if (v && gt_label_check(levels[i][1], json_string_value(v), 63, err) < 0)
            return -1;
    }
    return 0;
}

/* Takes j off node n, whose capacity shrank under it: a running job is lost there (requeued
 * or failed node_lost by its policy; the agent's copy is killed through the kill list, its
 * other nodes get a stop); a cancelled one still stopping frees what it holds. Caller holds
 * mu. */
static void evict(server_t *srv, job_t *j, node_t *n, const char *why)
{
    for (size_t i = json_array_size(n->tasks); i-- > 0;) {
        json_t *job = json_object_get(json_array_get(n->tasks, i), "job");
        if (json_integer_value(json_object_get(job, "id")) == (json_int_t)j->id)
            json_array_remove(n->tasks, i); /* its start has not gone out: it never will */
    }
    fprintf(stderr, "gantry server: job %llu incarnation %d leaves node %s (%s).\n",
            (unsigned long long)j->id, j->incarnation, n->name, why);
    if (j->state == JOB_RUNNING) {
        server_job_lost(srv, j, n, why);
    } else if (j->in_sched) {
        server_cancelled_gone(srv, j);
    }
}

/* Whether j holds resources on node n in the scheduler (running, or cancelled and stopping);
 * *beyond gets whether one of its GPUs there has an index >= ngpus. */
static bool holds_on(const job_t *j, const node_t *n, int ngpus, bool *beyond)
{
    *beyond = false;
    if (!j->in_sched || !(j->state == JOB_RUNNING || (job_state_terminal(j->state) && j->stopping)))
        return false;
    bool here = false;
    for (int i = 0; i < j->nslots; i++)
        if (!strcmp(j->slots[i].node, n->name)) {
            here = true;
            *beyond |= ngpus < 64 && (j->slots[i].gpu_mask >> ngpus) != 0;
        }
    return here;
}

/* A registration sets the node's capacity in the scheduler: its GPUs, CPUs and memory as it
 * declares them now. Jobs holding GPUs that no longer exist leave the node (evict); then, while
 * its jobs hold more CPUs or memory than it now has, the newest of them too. Caller holds mu. */
static void set_capacity(server_t *srv, node_t *n, json_t *info)
{
    if (n->sched_idx < 0)
        return;
    json_t *g = json_object_get(info, "gpus");
    int ngpus = json_is_array(g) ? (int)json_array_size(g) : (int)json_integer_value(g);
    int64_t cpus = json_integer_value(json_object_get(info, "cpus_milli"));
    int64_t mem = json_integer_value(json_object_get(info, "memory_mib"));
    char why[200];
    snprintf(why, sizeof(why), "the node registered again with %d GPUs and the job held one "
             "that is gone", ngpus);
    /* A node that holds nothing (a new one, or back after being lost) has no job to look
     * for: not a pass over every job the server knows for each of 2,000 registrations. */
    sched_node_info_t held;
    bool holds = sched_node_info(srv->sched, n->sched_idx, &held) < 0 || held.jobs > 0;
    for (size_t id = 1; holds && id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        bool beyond;
        if (j && holds_on(j, n, ngpus, &beyond) && beyond)
            evict(srv, j, n, why);
    }
    gt_error_t err = {0};
    while (sched_node_resize(srv->sched, n->sched_idx, ngpus, cpus, mem, &err) < 0) {
        job_t *newest = NULL;
        bool busy = errno == EBUSY;
        for (size_t id = 1; busy && id < srv->next_id; id++) {
            bool beyond;
            if (srv->jobs[id] && holds_on(srv->jobs[id], n, ngpus, &beyond))
                newest = srv->jobs[id];
        }
        if (!newest) {
            fprintf(stderr, "gantry server: node %s keeps its former capacity: %s.\n", n->name,
                    err.msg);
            return;
        }
        evict(srv, newest, n, "the node registered again with fewer CPUs or less memory than "
                              "its jobs hold");
    }
}

static int do_register(server_t *srv, http_req_t *req, http_resp_t *resp, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *gpus = json_object_get(body, "gpus");
    json_t *running = json_object_get(body, "running");
    json_t *ended = json_object_get(body, "ended");
    gt_error_t err = {0};
    if (!name)
        return http_error(resp, 400, "invalid_argument", "'name' (the node name) is required");
    if (gt_node_name_check(name, &err) < 0)
        return http_error_from(resp, 400, &err);
    if (register_labels_check(body, &err) < 0)
        return http_error_from(resp, 400, &err);
    if (gpus && !json_is_array(gpus))
        return http_error(resp, 400, "invalid_argument", "'gpus' must be an array");
    if (running && !json_is_array(running))
        return http_error(resp, 400, "invalid_argument", "'running' must be an array");
    if (ended && !json_is_array(ended))
        return http_error(resp, 400, "invalid_argument", "'ended' must be an array");
    if (json_array_size(gpus) > SCHED_MAX_GPUS_PER_NODE)
        return http_error(resp, 400, "invalid_argument", "a node has at most %d GPUs",
                          SCHED_MAX_GPUS_PER_NODE);
    json_t *info = json_deep_copy(body);
    json_object_del(info, "running");
    json_object_del(info, "node_token");
    json_object_del(info, "ended");
    pthread_mutex_lock(&srv->mu);
    if (node_auth_may_register(srv, req, name, body, resp) < 0) {
        pthread_mutex_unlock(&srv->mu);
        json_decref(info);
        return 0;
    }
    node_t *n = server_node(srv, name);
    if (!n && !(n = server_node_add(srv, name, info, &err))) {
        pthread_mutex_unlock(&srv->mu);
        json_decref(info);
        return http_error_from(resp, 400, &err);
    }
    char node_token[68];
    node_auth_bind(srv, req, name, body, node_token);
    json_decref(n->info);
    n->info = info;
    const char *addr = json_string_value(json_object_get(body, "address"));
    free(n->address);
    n->address = addr ? xstrdup(addr) : NULL;
    n->epoch++;
    n->up = true;
    server_node_wake(n); /* its old poll answers stale_epoch */
    server_node_heard(n);
    sched_node_set_up(srv->sched, n->sched_idx, true);
    /* The runtimes it has now: jobs that run keep running; the next placements follow. */
    sched_node_set_features(srv->sched, n->sched_idx, server_node_features(n->info));
    /* First the ends that happened while the agent was away, as they happened; then the
     * capacity it has now; then jobs the server placed here, handed out, that the agent
     * neither runs nor saw end: lost. */
    size_t i;
    json_t *ev;
    json_array_foreach(ended, i, ev) apply_exit(srv, n, ev);
    set_capacity(srv, n, n->info);
    json_t *kill = kill_list(srv, n, running);
    reconcile_placement(srv, n, running, ended, 0, -1, "the node registered again without it");
    char *doc = json_dumps(n->info, JSON_COMPACT);
    store_op_t op = {.kind = STORE_NODE_PUT, .a = name, .d = doc, .n = n->epoch};
    uint64_t t = store_enqueue(srv->store, &op, 1);
    free(doc);
    json_int_t epoch = n->epoch;
    server_kick(srv);
    pthread_cond_broadcast(&srv->changed);
    pthread_mutex_unlock(&srv->mu);
    fprintf(stderr, "gantry server: node %s registered with epoch %lld (%zu GPUs).\n", name,
            (long long)epoch, json_array_size(gpus));
    /* Answered once durable (its epoch and credential), as a report is: the connection is
     * parked meanwhile, not one of the server's few pool threads blocked in store_wait (with
     * 2,000 nodes registering at once, their heartbeats queued behind the blocked threads
     * until nodes were declared lost). A commit that fails turns the answer into a 503. */
    resp->ticket = t;
    resp->json = json_pack("{s:I,s:i,s:f,s:f,s:o}", "epoch", epoch, "heartbeat_s",
                           srv->heartbeat_s, "lease_s", srv->lease.lease_s, "fence_grace_s",
                           srv->lease.fence_grace_s, "kill", kill);
    with_leader_epoch(srv, resp->json);
    lineage_register_answer(srv, resp->json); /* the volumes' paths it says it has */
    if (node_token[0])
        json_object_set_new(resp->json, "node_token", json_string(node_token));
    return 0;
}

static int do_heartbeat(server_t *srv, http_req_t *req, http_resp_t *resp, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    json_int_t epoch = json_integer_value(json_object_get(body, "epoch"));
    if (node_auth_check(req, name, resp) < 0)
        return 0;
    pthread_mutex_lock(&srv->mu);
    node_t *n = fenced(srv, name, epoch, resp);
    if (!n) {
        pthread_mutex_unlock(&srv->mu);
        return 0;
    }
    server_node_heard(n);
    json_t *g = json_object_get(body, "gpus");
    if (g) {
        json_decref(n->gpu_stats);
        n->gpu_stats = json_incref(g);
    }
    json_t *running = json_object_get(body, "running");
    gpu_use_heartbeat(srv, n, running, server_now());
    note_images(srv, n, body);
    lineage_note_fetching(srv, n, body); /* inputs fetched from the blob store */
    services_heartbeat(srv, n, json_object_get(body, "services"));
    json_t *kill = kill_list(srv, n, running);
    /* An agent that says which ends it has not reported yet ("ending") holds every copy it
     * lists: what it lacks is lost (an older agent's heartbeat is not judged). */
    json_t *ending = json_object_get(body, "ending");
    if (json_is_array(running) && json_is_array(ending)) {
        /* tasks_done: the last work answer the agent had handled when it wrote the
         * heartbeat; a start it carried later may be on its way (a slow or stopped agent). */
        json_t *done = json_object_get(body, "tasks_done");
        reconcile_placement(srv, n, running, ending, SERVER_RECONCILE_GRACE_HB * srv->heartbeat_s,
                            json_is_integer(done) ? json_integer_value(done) : -1,
                            "a heartbeat of the node does not list it (its start was lost)");
        pthread_cond_broadcast(&srv->changed);
    }
    pthread_mutex_unlock(&srv->mu);
    resp->json = json_pack("{s:o}", "kill", kill);
    with_leader_epoch(srv, resp->json);
    return 0;
}

static int do_work(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    const char *name = http_query(req, "name"), *ep = http_query(req, "epoch"),
               *w = http_query(req, "wait");
    int64_t epoch = 0, wait_s = 25;
    gt_error_t err = {0};
    if (!ep || gt_parse_int64(ep, 0, INT64_MAX, &epoch, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "epoch is required: %s", err.msg);
    if (w && gt_parse_int64(w, 0, 300, &wait_s, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "wait: %s", err.msg);
    if (node_auth_check(req, name, resp) < 0)
        return 0;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += wait_s;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        node_t *n = fenced(srv, name, epoch, resp);
        if (!n) {
            pthread_mutex_unlock(&srv->mu);
            return 0;
        }
        if (json_array_size(n->tasks) && !srv->stopping && n->tasks_ticket &&
            !store_durable(srv->store, n->tasks_ticket) && store_degraded(srv->store)) {
            /* What the tasks say is not durable and the store cannot commit for now: they
             * stay queued; look again in a moment (the committer retries meanwhile). */
            struct timespec soon;
            clock_gettime(CLOCK_REALTIME, &soon);
            soon.tv_nsec += 200 * 1000000L;
            if (soon.tv_nsec >= 1000000000L) {
                soon.tv_sec++;
                soon.tv_nsec -= 1000000000L;
            }
            if (soon.tv_sec > deadline.tv_sec ||
                (soon.tv_sec == deadline.tv_sec && soon.tv_nsec > deadline.tv_nsec))
                soon = deadline;
            if (pthread_cond_timedwait(&n->work, &srv->mu, &soon) != 0 &&
                soon.tv_sec == deadline.tv_sec && soon.tv_nsec == deadline.tv_nsec)
                break;
            continue;
        }
        if (json_array_size(n->tasks) || srv->stopping) {
            /* Stopping: answer now, and close so that the agent reconnects to the next
             * server rather than polling this one again. */
            resp->close = srv->stopping;
            json_t *tasks = n->tasks;
            uint64_t ticket = n->tasks_ticket;
            n->tasks = json_array();
            uint64_t seq = 0;
            size_t starts = 0;
            double took = server_now();
            if (json_array_size(tasks)) {
                n->tasks_out_at = took;
                seq = ++n->tasks_seq;
                starts = mark_starts(srv, n, tasks, seq, took);
            }
            pthread_mutex_unlock(&srv->mu);
            /* A task goes out only once what it says is durable. */
            int waited = ticket ? store_wait(srv->store, ticket, &err) : 0;
            for (size_t s = 0; waited == 0 && s < starts; s++)
                metrics_observe(srv->metrics, "gantry_dispatch_commit_wait_seconds",
                                fmax(0, server_now() - took));
            if (waited < 0) {
                /* The store failed meanwhile: the tasks go back to wait for it. */
                pthread_mutex_lock(&srv->mu);
                node_t *again = server_node(srv, name);
                if (again && again->epoch == epoch && again->up && !srv->stopping) {
                    json_array_extend(tasks, again->tasks);
                    json_decref(again->tasks);
                    again->tasks = tasks;
                    if (ticket > again->tasks_ticket)
                        again->tasks_ticket = ticket;
                } else {
                    json_decref(tasks);
                }
                pthread_mutex_unlock(&srv->mu);
                return http_error_from(resp, 503, &err);
            }
            resp->json = json_pack("{s:o}", "tasks", tasks);
            with_leader_epoch(srv, resp->json);
            if (seq)
                json_object_set_new(resp->json, "seq", json_integer((json_int_t)seq));
            return 0;
        }
        /* Woken for this node only (server_node_wake): tasks, a new epoch, lost, stopping. */
        if (pthread_cond_timedwait(&n->work, &srv->mu, &deadline) != 0)
            break;
    }
    resp->close = srv->stopping;
    pthread_mutex_unlock(&srv->mu);
    resp->json = json_pack("{s:[]}", "tasks");
    return 0;
}

/* The job an agent's list entry names (server.h). */
job_t *server_node_entry_job(server_t *srv, node_t *n, json_t *e)
{
    json_t *id = json_object_get(e, "job");
    if (!id)
        id = json_object_get(e, "job_id");
    job_t *j = json_is_integer(id) ? server_job(srv, (uint64_t)json_integer_value(id)) : NULL;
    if (!j || j->state != JOB_RUNNING || !job_on_node(j, n->name) ||
        j->incarnation != (int)json_integer_value(json_object_get(e, "incarnation")))
        return NULL;
    return j;
}

/* "sha256:" and 64 lowercase hex digits. */
static bool digest_ok(const char *d)
{
    return d && !strncmp(d, "sha256:", 7) && gt_sha256_hex_ok(d + 7);
}

/* The manifest digest j's node ran: the first one reported is kept (and stored), so that a
 * run can be reproduced exactly; its image is fetched. Returns the store ticket (0: none).
 * Caller holds mu. */
static uint64_t note_digest(server_t *srv, job_t *j, const char *digest)
{
    j->pulling = false;
    if (!j->image || j->image_digest || !digest_ok(digest))
        return 0;
    j->image_digest = xstrdup(digest);
    fprintf(stderr, "gantry server: job %llu incarnation %d runs image %s as %s.\n",
            (unsigned long long)j->id, j->incarnation, j->image, digest);
    return server_save_job(srv, j);
}

/* A heartbeat's "pulling" (jobs whose image is being fetched, bytes so far: memory only) and
 * "images" (the digest each container job runs). Jobs of its "running" list not pulling any
 * more are no longer shown so. Caller holds mu. */
static void note_images(server_t *srv, node_t *n, json_t *body)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(body, "running"), i, e)
    {
        job_t *j = server_node_entry_job(srv, n, e);
        if (j)
            j->pulling = false;
    }
    json_array_foreach(json_object_get(body, "pulling"), i, e)
    {
        job_t *j = server_node_entry_job(srv, n, e);
        json_t *b = json_object_get(e, "bytes");
        if (j && j->image && !j->image_digest) {
            j->pulling = true;
            j->pull_bytes = json_is_integer(b) && json_integer_value(b) > 0
                                ? json_integer_value(b) : 0;
        }
    }
    json_array_foreach(json_object_get(body, "images"), i, e)
    {
        job_t *j = server_node_entry_job(srv, n, e);
        if (j)
            note_digest(srv, j, json_string_value(json_object_get(e, "digest")));
    }
}

/* One exit of (job, incarnation) on node n. Returns the store ticket (0 if ignored). */
static uint64_t job_exited(server_t *srv, node_t *n, job_t *j, json_t *ev)
{
    /* The digest it ran, when it ran in a container (kept before the end is applied). */
    const char *digest = json_string_value(json_object_get(ev, "image_digest"));
    if (digest && j->state == JOB_RUNNING)
        note_digest(srv, j, digest);
    j->pulling = false;
    const char *reason = json_string_value(json_object_get(ev, "reason"));
    int code = (int)json_integer_value(json_object_get(ev, "exit_code"));
    int sig = (int)json_integer_value(json_object_get(ev, "signal"));
    /* The agent's sentence on why (a user missing on the node, the OOM limit), bounded. */
    char message[512] = "";
    const char *m = json_string_value(json_object_get(ev, "message"));
    if (m)
        snprintf(message, sizeof(message), "%s", m);
    if (!reason)
        reason = code == 0 && sig == 0 ? "completed" : "failed";
    fprintf(stderr, "gantry server: job %llu incarnation %d exited on %s (%s, code %d, "
                    "signal %d)%s%s.\n", (unsigned long long)j->id, j->incarnation, n->name,
            reason, code, sig, message[0] ? ": " : "", message);
    /* This rank's end is counted once (an end comes with a registration, then in a report). */
    for (int i = 0; i < j->nslots; i++)
        if (!strcmp(j->slots[i].node, n->name))
            j->slots[i].done = true;
    if (!strcmp(reason, "fenced") && !job_state_terminal(j->state))
        return server_job_lost(srv, j, n, "its node's fence stopped it: the node could not "
                                          "reach the server for its lease");
    if (job_state_terminal(j->state)) {
        /* Cancelled earlier: the processes are gone now; free what it held. */
        if (j->stopping && ++j->ranks_done >= j->nslots)
            return server_cancelled_gone(srv, j);
        return 0;
    }
    if (j->stopping || !strcmp(reason, "preempted"))
        return server_requeue_job(srv, j, "preempted");
    /* A service's replica runs again (after its backoff), whatever its end. */
    if (j->kind == JOB_KIND_SERVICE && strcmp(reason, "cancelled"))
        return services_replica_exited(srv, j, n, reason, code, sig, message);
    bool success = !strcmp(reason, "completed") && code == 0 && sig == 0;
    if (success && ++j->ranks_done < j->nslots)
        return 0; /* a gang ends when all its ranks have */
    if (!success) {
        /* The rest of the gang stops; the job ends now. */
        uint64_t t = server_end_job(srv, j, !strcmp(reason, "cancelled") ? JOB_CANCELLED
                                                                        : JOB_FAILED,
                                    reason, message, code, sig,
                                    json_pack("{s:s}", "node", n->name));
        return t;
    }
    /* Its outputs become versions now, before its end is stored: a job seen succeeded has
     * them (a failed or cancelled job never gets here). */
    double end = json_number_value(json_object_get(ev, "time"));
    uint64_t tv = lineage_job_succeeded(srv, j, end > 0 ? end : server_now());
    uint64_t t = server_finish_job(srv, j, JOB_SUCCEEDED, "completed", NULL, 0, 0);
    return t > tv ? t : tv;
}

/* One "exited" event (a report's, or one of a registration's "ended") from node n: applied
 * when it names the job's current incarnation on n, else old news. Returns the store ticket
 * (0 if ignored). Caller holds mu. */
static uint64_t apply_exit(server_t *srv, node_t *n, json_t *ev)
{
    job_t *j = server_job(srv, (uint64_t)json_integer_value(json_object_get(ev, "job_id")));
    int inc = (int)json_integer_value(json_object_get(ev, "incarnation"));
    if (!j || j->incarnation != inc || !job_on_node(j, n->name) || rank_done(j, n->name))
        return 0;
    bool held = j->in_sched;
    uint64_t t = job_exited(srv, n, j, ev);
    if (held && (!j->in_sched || j->state != JOB_RUNNING) && !n->freed_at)
        n->freed_at = server_now(); /* the dispatch breakdown: what it held is free */
    return t;
}

static int do_report(server_t *srv, http_req_t *req, http_resp_t *resp, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    json_int_t epoch = json_integer_value(json_object_get(body, "epoch"));
    json_t *events = json_object_get(body, "events");
    if (node_auth_check(req, name, resp) < 0)
        return 0;
    if (!json_is_array(events))
        return http_error(resp, 400, "invalid_argument", "'events' must be an array");
    pthread_mutex_lock(&srv->mu);
    node_t *n = fenced(srv, name, epoch, resp);
    if (!n) {
        pthread_mutex_unlock(&srv->mu);
        return 0;
    }
    server_node_heard(n);
    uint64_t ticket = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        job_t *j = server_job(srv, (uint64_t)json_integer_value(json_object_get(ev, "job_id")));
        int inc = (int)json_integer_value(json_object_get(ev, "incarnation"));
        const char *what = json_string_value(json_object_get(ev, "event"));
        /* Reports about another incarnation, or from a node the job is not on, are old news. */
        if (!j || !what || j->incarnation != inc || !job_on_node(j, n->name))
            continue;
        uint64_t t = 0;
        if (!strcmp(what, "started")) {
            double tm = json_number_value(json_object_get(ev, "time"));
            if (tm > 0 && j->state == JOB_RUNNING) {
                /* The first rank's report of this start (the rest find start_time moved). */
                if (j->start_time == j->placed_at)
                    metrics_observe(srv->metrics, "gantry_dispatch_latency_seconds",
                                    server_now() - j->placed_at);
                j->start_time = tm;
                t = server_save_job(srv, j);
            }
            json_t *port = json_object_get(ev, "port");
            if (json_is_integer(port) && j->state == JOB_RUNNING)
                services_replica_probe(srv, j, (int)json_integer_value(port),
                                       json_is_true(json_object_get(ev, "ready")));
        } else if (!strcmp(what, "ready") || !strcmp(what, "unready")) {
            /* A service replica's readiness changed (its agent's probe) */
            services_replica_probe(srv, j, (int)json_integer_value(json_object_get(ev, "port")),
                                   !strcmp(what, "ready"));
        } else if (!strcmp(what, "exited")) {
            t = apply_exit(srv, n, ev);
        } else if (!strcmp(what, "checkpointed")) {
            double tm = json_number_value(json_object_get(ev, "time"));
            if (j->in_sched)
                sched_job_checkpointed(srv->sched, j->id, (sched_time_t)tm);
        }
        if (t > ticket)
            ticket = t;
    }
    pthread_cond_broadcast(&srv->changed);
    pthread_mutex_unlock(&srv->mu);
    /* Answered once everything it caused, and every change memory held before (a retried
     * report that is old news now waits for the earlier state), is durable. */
    uint64_t kept = store_last_kept(srv->store);
    resp->ticket = ticket > kept ? ticket : kept;
    resp->json = json_object();
    return 0;
}

/* A log chunk's bytes: "data" (text) or "data_b64" (any bytes), exactly one. Returns a new
 * buffer and its length, or NULL with a 400 in resp. */
static char *log_chunk_bytes(json_t *body, size_t *len, http_resp_t *resp)
{
    json_t *data = json_object_get(body, "data"), *b64 = json_object_get(body, "data_b64");
    if ((data != NULL) == (b64 != NULL) || (data && !json_is_string(data)) ||
        (b64 && !json_is_string(b64))) {
        http_error(resp, 400, "invalid_argument",
                   "a log chunk carries its bytes in exactly one of 'data' (a string) and "
                   "'data_b64' (base64)");
        return NULL;
    }
    if (data) {
        *len = json_string_length(data);
        char *p = xmalloc(*len + 1);
        memcpy(p, json_string_value(data), *len);
        return p;
    }
    char *p = (char *)base64_decode(json_string_value(b64), json_string_length(b64), len);
    if (!p)
        http_error(resp, 400, "invalid_argument", "'data_b64' is not base64 (RFC 4648, padded)");
    return p;
}

static int do_logs(server_t *srv, http_req_t *req, http_resp_t *resp, json_t *body)
{
    json_int_t id = json_integer_value(json_object_get(body, "job_id"));
    int inc = (int)json_integer_value(json_object_get(body, "incarnation"));
    const char *stream = json_string_value(json_object_get(body, "stream"));
    json_t *off = json_object_get(body, "offset");
    if (!stream)
        stream = "stdout";
    if (strcmp(stream, "stdout") && strcmp(stream, "stderr"))
        return http_error(resp, 400, "invalid_argument", "stream must be stdout or stderr");
    if (!json_is_integer(off) || json_integer_value(off) < 0 || inc < 1)
        return http_error(resp, 400, "invalid_argument",
                          "a log chunk needs job_id, incarnation (>= 1), offset (>= 0), data");
    if (req->who.role != AUTH_ADMIN && req->who.role != AUTH_NODE)
        return node_auth_check(req, "", resp), 0;
    size_t len;
    char *data = log_chunk_bytes(body, &len, resp);
    if (!data)
        return 0;
    if (len > SERVER_LOG_CHUNK_MAX) {
        free(data);
        return http_error(resp, 413, "too_large", "a log chunk carries at most %d bytes",
                          SERVER_LOG_CHUNK_MAX);
    }
    pthread_mutex_lock(&srv->mu);
    job_t *j = server_job(srv, (uint64_t)id);
    /* A job that is not this node's is answered as one that does not exist. */
    if (!j || inc > j->incarnation || !node_auth_may_log(srv, req, j, inc)) {
        pthread_mutex_unlock(&srv->mu);
        free(data);
        return http_error(resp, 404, "not_found", "job %lld incarnation %d is not known",
                          (long long)id, inc);
    }
    /* Each node of a gang has its own log: the sender's rank in that run. A node's credential
     * is its node; an admin (an agent that kept the admin token) may name it in "node". */
    const char *node = req->who.role == AUTH_NODE
                           ? req->who.user
                           : json_string_value(json_object_get(body, "node"));
    int rank = node ? api_log_node_rank(j, inc, node) : 0;
    if (rank < 0 && (req->who.role == AUTH_NODE || api_log_run_count(j, inc) == 0))
        rank = 0; /* a run whose nodes are not known: its only log */
    if (rank < 0) {
        pthread_mutex_unlock(&srv->mu);
        free(data);
        return http_error(resp, 404, "not_found", "node %s did not run job %lld incarnation %d",
                          node, (long long)id, inc);
    }
    char path[4200];
    api_log_rank_path(srv, (uint64_t)id, inc, rank, stream, path, sizeof(path));
    pthread_mutex_unlock(&srv->mu);
    /* pwrite at the chunk's offset: a retried chunk lands on itself; a chunk may not start
     * beyond the log's end (no holes: a sparse terabyte was one request). */
    int64_t at = json_integer_value(off);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0 && at > (int64_t)sb.st_size) {
        close(fd);
        free(data);
        http_error(resp, 416, "bad_offset", "offset %lld is beyond the end of the log (%lld "
                   "bytes): send from there", (long long)at, (long long)sb.st_size);
        json_object_set_new(json_object_get(resp->json, "error"), "size",
                            json_integer((json_int_t)sb.st_size));
        return 0;
    }
    ssize_t w = fd >= 0 ? pwrite(fd, data, len, (off_t)at) : -1;
    int e = errno;
    free(data);
    if (w != (ssize_t)len) {
        if (fd >= 0)
            close(fd);
        return http_error(resp, 500, "internal", "cannot write the log of job %lld: %s",
                          (long long)id, strerror(w < 0 ? e : ENOSPC));
    }
    close(fd);
    pthread_mutex_lock(&srv->mu);
    srv->log_seq++;
    pthread_cond_broadcast(&srv->changed);
    pthread_mutex_unlock(&srv->mu);
    http_wake_follows(srv);
    resp->json = json_object();
    return 0;
}

/* POST /v1/agent/outputs and /v1/agent/hashes (lineage.h): artifacts hashed on the node. */
static int do_artifacts(server_t *srv, http_req_t *req, http_resp_t *resp, json_t *body,
                        const char *what)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    json_int_t epoch = json_integer_value(json_object_get(body, "epoch"));
    if (node_auth_check(req, name, resp) < 0)
        return 0;
    pthread_mutex_lock(&srv->mu);
    node_t *n = fenced(srv, name, epoch, resp);
    if (n) {
        server_node_heard(n);
        if (!strcmp(what, "outputs"))
            lineage_agent_outputs(srv, n, body, resp);
        else
            lineage_agent_hashes(srv, n, body, resp);
    }
    pthread_mutex_unlock(&srv->mu);
    return 0;
}

int api_agents(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest)
{
    if (!strcmp(rest, "work")) {
        if (strcmp(req->method, "GET"))
            return http_error(resp, 405, "method_not_allowed", "use GET on /v1/agent/work");
        return do_work(srv, req, resp);
    }
    if (!strcmp(rest, "attach"))
        return api_attach_agent(srv, req, resp);
    if (!strncmp(rest, "inputs/", 7)) /* a job's input from the blob store (agent/fetch.h) */
        return api_artifacts_agent_input(srv, req, resp, rest + 7);
    if (strcmp(req->method, "POST"))
        return http_error(resp, 405, "method_not_allowed", "use POST on /v1/agent/%s", rest);
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    int rc;
    if (!strcmp(rest, "register"))
        rc = do_register(srv, req, resp, body);
    else if (!strcmp(rest, "heartbeat"))
        rc = do_heartbeat(srv, req, resp, body);
    else if (!strcmp(rest, "report"))
        rc = do_report(srv, req, resp, body);
    else if (!strcmp(rest, "logs"))
        rc = do_logs(srv, req, resp, body);
    else if (!strcmp(rest, "metrics"))
        rc = api_agent_metrics(srv, req, resp, body);
    else if (!strcmp(rest, "outputs") || !strcmp(rest, "hashes"))
        rc = do_artifacts(srv, req, resp, body, rest);
    else
        rc = http_error(resp, 404, "not_found", "no such endpoint: /v1/agent/%s", rest);
    json_decref(body);
    return rc;
}
