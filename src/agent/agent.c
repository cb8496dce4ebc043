/* agent.c: `gantry agent`: the loop that speaks docs/agent-protocol.md. */
#include "agent/agent.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/artifact_hash.h"
#include "agent/fetch.h"
#include "agent/client.h"
#include "common/urllist.h"
#include "agent/exec.h"
#include "agent/session_hold.h"
#include "agent/fence.h"
#include "agent/launcher.h"
#include "agent/metrics_ship.h"
#include "agent/node_token.h"
#include "agent/probe.h"
#include "agent/statedir.h"
#include "agent/supervisor.h"
#include "cli/commands.h"
#include "common/base64.h"
#include "common/hostlist.h"

#define CALL_TIMEOUT_MS 5000L
#define POLL_WAIT_S 25
#define LOG_CHUNK (64 * 1024)

typedef struct ajob {
    int64_t id;
    int inc;
    supervisor_state_t st;
    bool exited, started_reported, exit_reported;
    bool logs_gone;              /* nothing (more) to ship: no logs, or the server refused */
    bool logs_kept;              /* the server refused them: the job directory is kept */
    bool ended;                  /* its ready pipe reached end of file: read its state now */
    int ready_fd;                /* from supervisor_spawn: end of file when the supervisor
                                    ends; -1 for jobs adopted from an earlier agent */
    int64_t shipped[2];          /* stdout, stderr bytes the server has */
    metrics_ship_t metrics;      /* its $GANTRY_METRICS file (metrics_ship.h) */
    /* Its outputs (artifact_hash.h): hashed after a successful exit, reported before the exit */
    int has_outputs;             /* -1 not looked yet, 0 none, 1 <state>/artifacts/ID.INC.outputs */
    pid_t hash_pid;              /* the hashing child, 0 none */
    int hash_tries;
    double outputs_retry_at;     /* after a failed POST /v1/agent/outputs */
    bool outputs_reported;       /* the server answered 200 to POST /v1/agent/outputs */
} ajob_t;

/* A "hash" task of the server (an in-place version to register or verify): hashed by a child
 * into <state>/artifacts/req-ID.result, shipped with POST /v1/agent/hashes. */
typedef struct hash_req {
    char id[64];
    pid_t pid;
} hash_req_t;

/* A start whose inputs from the blob store are being fetched (agent/fetch.h): a worker
 * process makes them ready in the node's cache; its supervisor is spawned once they are.
 * <state>/artifacts/fetch-ID.INC.{job,progress,result}: the start (a restarted agent takes it
 * up again), the bytes so far, the worker's answer. */
typedef struct fetching {
    int64_t id;
    int inc;
    json_t *job;             /* the start task's job */
    pid_t pid;               /* the worker, 0 none */
    int tries;
} fetching_t;

typedef struct agent {
    const agent_cfg_t *cfg;
    client_t *c;
    char address[256];
    int64_t epoch;
    int64_t leader_epoch;    /* the newest leader epoch a server's answer carried (docs/ha.md) */
    int64_t tasks_done;      /* the last work answer ("seq") whose tasks were handled (0: none
                                since registering): heartbeats say it */
    int heartbeat_s;
    double lease_s, fence_grace_s; /* the server's lease terms (0: it grants none) */
    double lease_deadline;         /* fence_clock() at which the node's lease runs out; 0: none */
    uint64_t agent;                /* this agent's number in the lease (fence_lease_t.agent) */
    bool need_register;
    char node_tok[68];           /* the node's credential (node_token.h); "" until there is one */
    bool using_node_tok;         /* sent instead of the configured (join or admin) token */
    ajob_t *jobs;
    size_t njobs, cap;
    probe_set_t *probes;         /* service replicas' ports and probes (probe.h) */
    hash_req_t *hreqs;
    size_t nhreqs, hcap;
    fetching_t *fetches;         /* starts waiting for their inputs (agent/fetch.h) */
    size_t nfetches, fcap;
    char *input_cache;           /* STATE/inputs, absolute */
    json_t *volume_paths;        /* the volumes' host paths the server named at registration:
                                    heartbeats say which are here ("volumes") */
    double hashes_retry_at;
    double next_heartbeat, next_scan, next_logs, poll_retry_at;
} agent_t;

static volatile sig_atomic_t got_signal;
static void on_signal(int sig) { got_signal = sig; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gantry agent: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static ajob_t *find_job(agent_t *a, int64_t id, int inc)
{
    for (size_t i = 0; i < a->njobs; i++)
        if (a->jobs[i].id == id && a->jobs[i].inc == inc)
            return &a->jobs[i];
    return NULL;
}

static ajob_t *add_job(agent_t *a, const supervisor_state_t *st)
{
    GT_GROW(a->jobs, a->cap, a->njobs + 1);
    ajob_t *j = &a->jobs[a->njobs++];
    memset(j, 0, sizeof(*j));
    j->id = st->job_id;
    j->inc = st->incarnation;
    j->st = *st;
    j->ready_fd = -1;
    j->has_outputs = -1;
    j->exited = !strcmp(st->phase, "exited");
    return j;
}

/* <state>/artifacts/NAME (a new string). */
static char *artifacts_path(const agent_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *artifacts_path(const agent_t *a, const char *fmt, ...)
{
    gt_buf_t b = {0};
    gt_buf_printf(&b, "%s/artifacts/", a->cfg->state_dir);
    va_list ap;
    va_start(ap, fmt);
    char *rest = NULL;
    if (vasprintf(&rest, fmt, ap) < 0)
        rest = NULL;
    va_end(ap);
    gt_buf_printf(&b, "%s", rest ? rest : "");
    free(rest);
    return b.data;
}

static char *outputs_path(const agent_t *a, const ajob_t *j, const char *what)
{
    return artifacts_path(a, "%" PRId64 ".%d.%s", j->id, j->inc, what);
}

/* Whether j ended well and has outputs whose hashes the server has not taken yet: its exit
 * waits for them (a failed or stopped job's outputs are never hashed: nothing registers). */
static bool outputs_pending(const agent_t *a, ajob_t *j)
{
    if (!j->exited || j->exit_reported || j->outputs_reported)
        return false;
    if (strcmp(j->st.reason, "completed") || j->st.exit_code != 0 || j->st.signal != 0)
        return false;
    if (j->has_outputs < 0) {
        char *p = outputs_path(a, j, "outputs");
        j->has_outputs = access(p, F_OK) == 0;
        free(p);
    }
    return j->has_outputs == 1;
}

/* The copies running here; at registration also the ended ones whose outputs are still
 * being hashed or sent (their end is reported after: "ended" would make the server apply it
 * before it has their hashes). */
static json_t *running_list(agent_t *a, bool registering)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->njobs; i++)
        if (!a->jobs[i].exited || (registering && outputs_pending(a, &a->jobs[i])))
            json_array_append_new(arr, json_pack("{s:I,s:i}", "job_id", (json_int_t)a->jobs[i].id,
                                                 "incarnation", a->jobs[i].inc));
    /* a job whose inputs are being fetched is here too (its supervisor comes next) */
    for (size_t i = 0; i < a->nfetches; i++)
        json_array_append_new(arr, json_pack("{s:I,s:i}", "job_id", (json_int_t)a->fetches[i].id,
                                             "incarnation", a->fetches[i].inc));
    return arr;
}

/* The "exited" event of an ended job, as a report (and a registration's "ended") carries it. */
static json_t *exit_event(const ajob_t *j)
{
    json_t *ev = json_pack("{s:I,s:i,s:s,s:i,s:i,s:s,s:f}", "job_id", (json_int_t)j->id,
                           "incarnation", j->inc, "event", "exited", "exit_code",
                           j->st.exit_code, "signal", j->st.signal, "reason",
                           j->st.reason[0] ? j->st.reason : "failed", "time", j->st.end_time);
    if (j->st.message[0])
        json_object_set_new(ev, "message", json_string(j->st.message));
    if (j->st.image_digest[0])
        json_object_set_new(ev, "image_digest", json_string(j->st.image_digest));
    return ev;
}

/* Container jobs for the heartbeat: those whose image is being fetched (bytes so far), and
 * the image digest of those running. */
static void image_lists(agent_t *a, json_t **pulling, json_t **images)
{
    *pulling = json_array();
    *images = json_array();
    for (size_t i = 0; i < a->njobs; i++) {
        const ajob_t *j = &a->jobs[i];
        if (j->exited)
            continue;
        if (!strcmp(j->st.phase, "pulling"))
            json_array_append_new(*pulling, json_pack("{s:I,s:i,s:I}", "job", (json_int_t)j->id,
                                                      "incarnation", j->inc, "bytes",
                                                      (json_int_t)j->st.pull_bytes));
        else if (j->st.image_digest[0])
            json_array_append_new(*images, json_pack("{s:I,s:i,s:s}", "job", (json_int_t)j->id,
                                                     "incarnation", j->inc, "digest",
                                                     j->st.image_digest));
    }
}

/* The ends not reported yet: as exit events (full), or as (job_id, incarnation) pairs. */
static json_t *unreported_ends(agent_t *a, bool full)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->njobs; i++) {
        const ajob_t *j = &a->jobs[i];
        if (j->exited && !j->exit_reported && !(full && outputs_pending(a, (ajob_t *)j)))
            json_array_append_new(arr, full ? exit_event(j)
                                            : json_pack("{s:I,s:i}", "job_id",
                                                        (json_int_t)j->id, "incarnation",
                                                        j->inc));
    }
    return arr;
}

/* Several servers on one store (docs/ha.md): whether an answer comes from a leader at least
 * as new as any this agent has heard from (answers without leader_epoch, from a lone server,
 * always are). Remembers the newest. A deposed leader's tasks are refused: another leader may
 * have placed the same job elsewhere. */
static bool leader_current(agent_t *a, const json_t *resp)
{
    json_t *le = json_object_get(resp, "leader_epoch");
    if (!json_is_integer(le))
        return true;
    int64_t e = json_integer_value(le);
    if (e < a->leader_epoch)
        return false;
    if (e > a->leader_epoch && a->leader_epoch)
        say("a new leader (epoch %" PRId64 ", was %" PRId64 ") answers for the cluster.", e,
            a->leader_epoch);
    a->leader_epoch = e;
    return true;
}

/* An answer that means the server no longer takes this node as registered: a stale epoch
 * (409), an unknown node (404), or a credential it refuses (401, 403). */
static bool must_register(long status)
{
    return status == 409 || status == 404 || status == 401 || status == 403;
}

static const char *stop_reason(const char *r)
{
    if (!r || !strcmp(r, "cancel"))
        return "cancelled";
    if (!strcmp(r, "preempt"))
        return "preempted";
    if (!strcmp(r, "time_limit"))
        return "time_limit";
    return "cancelled";
}

/* <state>/artifacts/fetch-ID.INC.what (a new string). */
static char *fetch_path(const agent_t *a, int64_t id, int inc, const char *what)
{
    return artifacts_path(a, "fetch-%" PRId64 ".%d.%s", id, inc, what);
}

/* Forgets fetch i (its worker killed, its files removed). */
static void fetch_drop(agent_t *a, size_t i)
{
    fetching_t *f = &a->fetches[i];
    if (f->pid > 0)
        kill(f->pid, SIGKILL);
    static const char *const what[] = {"job", "progress", "result"};
    for (int k = 0; k < 3; k++) {
        char *p = fetch_path(a, f->id, f->inc, what[k]);
        unlink(p);
        free(p);
    }
    json_decref(f->job);
    a->fetches[i] = a->fetches[--a->nfetches];
}

/* A job stopped while its inputs were being fetched: it never started; its end says why. */
static bool fetch_stop(agent_t *a, int64_t id, int inc, const char *reason)
{
    for (size_t i = 0; i < a->nfetches; i++) {
        if (a->fetches[i].id != id || a->fetches[i].inc != inc)
            continue;
        fetch_drop(a, i);
        say("job %" PRId64 " incarnation %d stopped (%s) while its inputs were being fetched.",
            id, inc, reason);
        supervisor_state_t st = {.job_id = id, .incarnation = inc, .exit_code = -1};
        st.start_time = st.end_time = now_s();
        snprintf(st.phase, sizeof(st.phase), "exited");
        snprintf(st.reason, sizeof(st.reason), "%s", reason);
        snprintf(st.message, sizeof(st.message), "stopped before it started, while its inputs "
                 "were being fetched");
        add_job(a, &st)->logs_gone = true;
        return true;
    }
    return false;
}

static void stop_job(agent_t *a, int64_t id, int inc, const char *reason, int sig,
                     int64_t grace)
{
    gt_error_t err = {0};
    if (fetch_stop(a, id, inc, reason))
        return;
    ajob_t *j = find_job(a, id, inc);
    if (!j || j->exited)
        return;
    say("stopping job %" PRId64 " incarnation %d (%s, signal %d, grace %" PRId64 " s).", id,
        inc, reason, sig, grace);
    if (supervisor_stop(a->cfg->state_dir, id, inc, reason, sig, grace, &err) < 0)
        say("cannot stop job %" PRId64 ": %s", id, err.msg);
}

/* The server's kill list: copies it does not want here. They die at once. */
static void handle_kill(agent_t *a, json_t *kill)
{
    size_t i;
    json_t *k;
    json_array_foreach(kill, i, k)
    {
        int64_t id = json_integer_value(json_object_get(k, "job_id"));
        int inc = (int)json_integer_value(json_object_get(k, "incarnation"));
        say("the server does not want job %" PRId64 " incarnation %d here: killing it.", id,
            inc);
        stop_job(a, id, inc, "cancelled", SIGKILL, 0);
    }
}

/* The node's fence, asked by the agent: every job here that the server may start elsewhere
 * stops (supervisors of other jobs ignore the request). */
static void fence_all(agent_t *a)
{
    for (size_t i = 0; i < a->njobs; i++) {
        ajob_t *j = &a->jobs[i];
        gt_error_t err = {0};
        if (!j->exited && supervisor_stop(a->cfg->state_dir, j->id, j->inc, "fenced", 0,
                                          (int64_t)a->fence_grace_s, &err) < 0)
            say("cannot fence job %" PRId64 ": %s", j->id, err.msg);
    }
}

/* After a request the server answered, sent at sent_at (fence_clock()): the node's lease
 * runs until sent_at + lease_s (common/lease.h), and <state dir>/lease says so to the
 * supervisors. A lease that ran out is never extended as if nothing happened: the server may
 * have declared the node lost and started its jobs elsewhere, so the jobs to fence are stopped
 * first (their supervisors did so at the deadline, unless one slept through it). */
static void lease_renew(agent_t *a, double sent_at)
{
    if (a->lease_s <= 0)
        return; /* a server that grants no lease (an older one) */
    double now = fence_clock();
    if (a->lease_deadline > 0 && now >= a->lease_deadline) {
        say("the node's lease ran out %.1f s ago (no answer from the server in time): the "
            "jobs the server may run elsewhere are stopped.", now - a->lease_deadline);
        fence_all(a);
    }
    fence_lease_t l = {.deadline = sent_at + a->lease_s, .grace_s = a->fence_grace_s,
                       .agent = a->agent};
    gt_error_t err = {0};
    if (fence_lease_write(a->cfg->state_dir, &l, &err) < 0) {
        say("%s: the lease is not renewed, the jobs will be fenced", err.msg);
        return;
    }
    a->lease_deadline = l.deadline;
}

static int do_register(agent_t *a, gt_error_t *err)
{
    const agent_cfg_t *cfg = a->cfg;
    /* A server that lost us may have lost the outputs' hashes we sent (they wait in its
     * memory for the exit): sent again before the exit. */
    for (size_t i = 0; i < a->njobs; i++)
        if (a->jobs[i].exited && !a->jobs[i].exit_reported)
            a->jobs[i].outputs_reported = false;
    json_t *gpus = json_array();
    for (size_t i = 0; i < cfg->gpus->n; i++) {
        const gpu_info_t *g = &cfg->gpus->gpus[i];
        json_t *peers = json_array();
        for (size_t p = 0; p < g->npeers; p++)
            json_array_append_new(peers, json_integer(g->nvlink_peers[p]));
        json_array_append_new(gpus, json_pack("{s:i,s:s,s:s,s:I,s:o}", "index", g->index,
                                              "uuid", g->uuid, "name", g->name, "memory_mib",
                                              (json_int_t)g->memory_mib, "nvlink_peers",
                                              peers));
    }
    json_t *topo = json_object();
    if (cfg->block)
        json_object_set_new(topo, "block", json_string(cfg->block));
    if (cfg->spine)
        json_object_set_new(topo, "spine", json_string(cfg->spine));
    if (cfg->leaf)
        json_object_set_new(topo, "leaf", json_string(cfg->leaf));
    json_t *body = json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:s,s:o}", "name", cfg->name,
                             "gpu_type", cfg->gpus->type, "cpus_milli",
                             (json_int_t)cfg->cpus_milli, "memory_mib",
                             (json_int_t)cfg->memory_mib, "topology", topo, "gpus", gpus,
                             "address", a->address, "running", running_list(a, true));
    runtimes_to_json(&cfg->runtimes, body);
    if (!a->using_node_tok) {
        /* With the join (or admin) token: propose the node's credential, saved first, so that
         * a retry after a lost answer proposes the same one. */
        gt_error_t e = {0};
        if (!a->node_tok[0] && node_token_new(a->node_tok, &e) == 0 &&
            node_token_save(cfg->state_dir, cfg->name, a->node_tok, &e) < 0)
            say("%s: the node's credential lives in memory only; after a restart an admin must "
                "run `gantry node reset %s`.", e.msg, cfg->name);
        if (a->node_tok[0])
            json_object_set_new(body, "node_token", json_string(a->node_tok));
    }
    /* The ends the server has not heard of yet (they happened while this agent was away, or
     * their report failed): applied before it judges what this node lacks. They are reported
     * again as usual once their output is shipped (the server ignores a repeated end). */
    json_object_set_new(body, "ended", unreported_ends(a, true));
    long status = 0;
    json_t *resp = NULL;
    double sent_at = fence_clock();
    int rc = client_call(a->c, "POST", "/v1/agent/register", body, CALL_TIMEOUT_MS, &status,
                         &resp, err);
    json_decref(body);
    if (rc == 0 && a->using_node_tok && (status == 401 || status == 403)) {
        /* The server does not know the credential (its data was reset, or an admin reset the
         * node): join again with the configured token, proposing the same credential. */
        say("the server refused node %s's credential (%s): registering with the configured "
            "token.", cfg->name, err->msg);
        a->using_node_tok = false;
        client_set_token(a->c, cfg->token);
        json_decref(resp);
        return do_register(a, err); /* at once: the node's lease runs meanwhile */
    }
    if (rc == 0 && status != 200)
        rc = -1;
    if (rc == 0 && !leader_current(a, resp)) {
        gt_error_set(err, "not_leader", "registration answered by a deposed leader (epoch "
                     "%" PRId64 ", the newest is %" PRId64 ")",
                     (int64_t)json_integer_value(json_object_get(resp, "leader_epoch")),
                     a->leader_epoch);
        rc = -1;
    }
    const char *bound = rc == 0 ? json_string_value(json_object_get(resp, "node_token")) : NULL;
    if (bound && !a->using_node_tok) {
        gt_error_t e = {0};
        if (strcmp(bound, a->node_tok) &&
            node_token_save(cfg->state_dir, cfg->name, bound, &e) < 0)
            say("%s", e.msg);
        snprintf(a->node_tok, sizeof(a->node_tok), "%s", bound);
        a->using_node_tok = true;
        client_set_token(a->c, a->node_tok);
        say("node %s has its own credential now (in %s/node.token): the configured token is "
            "no longer used.", cfg->name, cfg->state_dir);
    }
    if (rc == 0) {
        a->epoch = json_integer_value(json_object_get(resp, "epoch"));
        a->tasks_done = 0; /* a new epoch: work answers start anew */
        json_decref(a->volume_paths);
        a->volume_paths = json_incref(json_object_get(resp, "volume_paths"));
        int hb = (int)json_integer_value(json_object_get(resp, "heartbeat_s"));
        a->heartbeat_s = hb > 0 ? hb : 5;
        a->lease_s = json_number_value(json_object_get(resp, "lease_s"));
        a->fence_grace_s = json_number_value(json_object_get(resp, "fence_grace_s"));
        lease_renew(a, sent_at);
        a->need_register = false;
        a->next_heartbeat = now_s() + a->heartbeat_s;
        say("node %s registered with epoch %" PRId64 " (%zu GPUs of type %s, address %s, %zu "
            "jobs running).",
            cfg->name, a->epoch, cfg->gpus->n, cfg->gpus->type, a->address, a->njobs);
        handle_kill(a, json_object_get(resp, "kill"));
        client_poll_cancel(a->c);
        a->poll_retry_at = 0;
    }
    json_decref(resp);
    return rc;
}

/* A start whose supervisor runs but has not said yet that the command runs. */
typedef struct starting {
    int64_t id;
    int inc;
    size_t ngpus;
    int ready_fd;
    double t0;
    int port;                    /* a service replica's GANTRY_PORT; 0 for other jobs */
    json_t *readiness, *liveness;
    uid_t uid;
    gid_t gid;
} starting_t;

/* ---- service replicas: their ports and probes, kept in STATE/probes/ID.INC.json so that a
 * restarted agent probes the replicas it adopts ---- */

static void probe_path(const agent_t *a, int64_t id, int inc, char *buf, size_t len)
{
    snprintf(buf, len, "%s/probes/%" PRId64 ".%d.json", a->cfg->state_dir, id, inc);
}

static void probe_register(agent_t *a, const starting_t *sp)
{
    probe_add(a->probes, sp->id, sp->inc, sp->port, sp->readiness, sp->liveness, sp->uid,
              sp->gid);
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/probes", a->cfg->state_dir);
    mkdir(dir, 0700);
    probe_path(a, sp->id, sp->inc, path, sizeof(path));
    json_t *o = json_pack("{s:i,s:I,s:I}", "port", sp->port, "uid", (json_int_t)sp->uid, "gid",
                          (json_int_t)sp->gid);
    if (sp->readiness)
        json_object_set(o, "readiness", sp->readiness);
    if (sp->liveness)
        json_object_set(o, "liveness", sp->liveness);
    if (json_dump_file(o, path, JSON_COMPACT) < 0)
        say("cannot write %s: a restarted agent will not probe job %" PRId64 ".", path, sp->id);
    json_decref(o);
}

static void probe_adopt(agent_t *a, int64_t id, int inc)
{
    char path[4200];
    probe_path(a, id, inc, path, sizeof(path));
    json_t *o = json_load_file(path, 0, NULL);
    if (!o)
        return;
    starting_t sp = {.id = id, .inc = inc,
                     .port = (int)json_integer_value(json_object_get(o, "port")),
                     .readiness = json_object_get(o, "readiness"),
                     .liveness = json_object_get(o, "liveness"),
                     .uid = (uid_t)json_integer_value(json_object_get(o, "uid")),
                     .gid = (gid_t)json_integer_value(json_object_get(o, "gid"))};
    if (sp.port > 0)
        probe_add(a->probes, id, inc, sp.port, sp.readiness, sp.liveness, sp.uid, sp.gid);
    json_decref(o);
}

static void probe_forget(agent_t *a, int64_t id, int inc)
{
    char path[4200];
    probe_remove(a->probes, id, inc);
    probe_path(a, id, inc, path, sizeof(path));
    unlink(path);
}

static void start_failed(agent_t *a, int64_t id, int inc, const char *msg)
{
    supervisor_state_t st;
    say("cannot start job %" PRId64 " incarnation %d: %s", id, inc, msg);
    memset(&st, 0, sizeof(st));
    st.job_id = id;
    st.incarnation = inc;
    st.exit_code = -1;
    st.start_time = st.end_time = now_s();
    snprintf(st.phase, sizeof(st.phase), "exited");
    snprintf(st.reason, sizeof(st.reason), "failed");
    snprintf(st.message, sizeof(st.message), "%.255s", msg);
    ajob_t *j = add_job(a, &st);
    j->logs_gone = true;
}

/* Turns a start task into a supervisor, without waiting for it (finish_start does): the
 * supervisors of one batch of tasks start their jobs in parallel. Returns true and fills *sp
 * when a supervisor was spawned. */
static bool spawn_job(agent_t *a, json_t *job, starting_t *sp)
{
    const agent_cfg_t *cfg = a->cfg;
    int64_t id = json_integer_value(json_object_get(job, "id"));
    int inc = (int)json_integer_value(json_object_get(job, "incarnation"));
    if (find_job(a, id, inc))
        return false; /* already here: a repeated task */
    json_t *cmd = json_object_get(job, "command"), *envo = json_object_get(job, "env");
    const char *kind = json_string_value(json_object_get(job, "kind"));
    int port = 0;
    if (kind && !strcmp(kind, "service")) {
        gt_error_t perr = {0};
        if (probe_free_port(&port, &perr) < 0) {
            start_failed(a, id, inc, perr.msg);
            return false;
        }
    }
    size_t nargs = json_array_size(cmd);
    char **argv = xcalloc(nargs + 3, sizeof(char *));
    for (size_t i = 0; i < nargs; i++)
        argv[i] = (char *)json_string_value(json_array_get(cmd, i));
    /* An interactive job runs a placeholder until its session (gantry run -it) attaches its
     * command and ends (agent/exec.h). */
    static char self_exe[4096];
    const char *image = json_string_value(json_object_get(job, "image"));
    bool interactive = kind && !strcmp(kind, "interactive");
    static char hold_dir[4096];
    if (interactive) {
        ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
        self_exe[n > 0 ? n : 0] = '\0';
        argv[0] = self_exe;
        argv[1] = "session-hold";
        argv[2] = NULL;
    }
    if (interactive && image) {
        /* In its container: the static placeholder beside this binary, bound read-only at
         * SESSION_HOLD_PATH (the image holds neither gantry nor its libraries). */
        snprintf(hold_dir, sizeof(hold_dir), "%s", self_exe);
        char *slash = strrchr(hold_dir, '/');
        if (slash)
            *slash = '\0';
        char *hold = gt_strfmt("%s/gantry-session-hold", hold_dir);
        bool have = access(hold, X_OK) == 0;
        free(hold);
        if (!have) {
            free(argv);
            start_failed(a, id, inc, "an interactive job in an image needs gantry-session-hold "
                         "beside the agent's binary (make builds it): it is missing");
            return false;
        }
        argv[0] = SESSION_HOLD_PATH;
        argv[1] = NULL;
    }
    size_t nenv = json_object_size(envo), k = 0;
    char **env = xcalloc(nenv + 4, sizeof(char *));
    if (port) { /* a service replica's port, the agent's choice (GANTRY_PORT) */
        gt_buf_t b = {0};
        gt_buf_printf(&b, "GANTRY_PORT=%d", port);
        env[k++] = b.data;
    }
    const char *key;
    json_t *val;
    json_object_foreach(envo, key, val)
    {
        gt_buf_t b = {0};
        gt_buf_printf(&b, "%s=%s", key, json_is_string(val) ? json_string_value(val) : "");
        env[k++] = b.data;
    }
    /* Tracking over HTTP (docs/tracking.md): the run's own token, good only for its metrics
     * and only while it runs, and where to send them. */
    const char *mtok = json_string_value(json_object_get(job, "metrics_token"));
    if (mtok) {
        env[k++] = gt_strfmt("GANTRY_JOB_TOKEN=%s", mtok);
        /* the first server of a list (the others answer with where the leader is) */
        env[k++] = gt_strfmt("GANTRY_METRICS_URL=%.*s/v1/jobs/%" PRId64 "/metrics",
                             (int)strcspn(cfg->server, ", "), cfg->server, id);
    }
    json_t *gl = json_object_get(job, "gpus");
    size_t ngpus = json_array_size(gl);
    int *gpus = xcalloc(ngpus ? ngpus : 1, sizeof(int));
    for (size_t i = 0; i < ngpus; i++)
        gpus[i] = (int)json_integer_value(json_array_get(gl, i));
    json_t *g = json_object_get(job, "gang");
    supervisor_gang_t gang = {0};
    bool has_gang = json_is_object(g) && json_integer_value(json_object_get(g, "nodes")) > 1;
    if (has_gang) {
        gang.nodes = (int)json_integer_value(json_object_get(g, "nodes"));
        gang.node_rank = (int)json_integer_value(json_object_get(g, "node_rank"));
        gang.master_port = (int)json_integer_value(json_object_get(g, "master_port"));
        gang.gpus_per_node = (int)json_integer_value(json_object_get(g, "gpus_per_node"));
        gang.world_size = (int)json_integer_value(json_object_get(g, "world_size"));
        gang.rank_offset = (int)json_integer_value(json_object_get(g, "rank_offset"));
        snprintf(gang.master_addr, sizeof(gang.master_addr), "%s",
                 json_string_value(json_object_get(g, "master_addr")) ?: "127.0.0.1");
    }
    /* SLURM_JOB_NODELIST: the job's nodes in Slurm's form (a server without node_names: this
     * node alone) */
    json_t *nl = json_object_get(job, "node_names");
    size_t nnames = json_array_size(nl);
    const char **names = xcalloc(nnames + 1, sizeof(char *));
    for (size_t i = 0; i < nnames; i++)
        names[i] = json_string_value(json_array_get(nl, i)) ?: "";
    char *node_list = nnames ? gt_hostlist_compress(names, nnames) : NULL;
    free(names);
    json_t *ml = json_object_get(job, "mounts");
    size_t nmounts = json_array_size(ml);
    supervisor_mount_t *mounts = xcalloc(nmounts + 2, sizeof(*mounts));
    for (size_t i = 0; i < nmounts; i++) {
        json_t *m = json_array_get(ml, i);
        mounts[i] = (supervisor_mount_t){
            .host_path = json_string_value(json_object_get(m, "host_path")),
            .sub_path = json_string_value(json_object_get(m, "sub_path")),
            .path = json_string_value(json_object_get(m, "path")),
            .read_only = json_is_true(json_object_get(m, "read_only"))};
    }
    if (interactive && image) /* its placeholder (above) */
        mounts[nmounts++] = (supervisor_mount_t){.host_path = hold_dir,
                                                 .sub_path = "gantry-session-hold",
                                                 .path = SESSION_HOLD_PATH,
                                                 .read_only = true};
    const char *network = json_string_value(json_object_get(job, "network"));
    json_t *ck = json_object_get(job, "checkpoint");
    int sig = supervisor_signal_number(json_string_value(json_object_get(ck, "signal")));
    /* --job-user overrides; else the Unix account the server maps the job's user to (a server
     * without unix_user sent only the API user). Root is still refused unless allowed, and a
     * system account (uid < 1000) unless the start task allows it for the job's user. */
    const char *user = cfg->job_user;
    if (!user)
        user = json_string_value(json_object_get(job, "unix_user"));
    if (!user)
        user = json_string_value(json_object_get(job, "user"));
    supervisor_spec_t s = {
        .job_id = id,
        .incarnation = inc,
        .name = json_string_value(json_object_get(job, "name")),
        .team = json_string_value(json_object_get(job, "team")),
        .user = user,
        .allow_root = cfg->allow_root,
        /* uid < 1000: the administrator allows it per user (the start task says so); a node
         * whose owner chose the account with --job-user has decided already. */
        .allow_system_account = cfg->job_user != NULL ||
                                json_is_true(json_object_get(job, "allow_system_account")),
        .argv = argv,
        .env = env,
        .workdir = json_string_value(json_object_get(job, "workdir")),
        .gpus = gpus,
        .ngpus = ngpus,
        .time_limit_s = json_integer_value(json_object_get(job, "time_limit_s")),
        .stop_signal = sig > 0 ? sig : SIGTERM,
        .grace_s = ck ? json_integer_value(json_object_get(ck, "grace_s")) : 10,
        .gang = has_gang ? &gang : NULL,
        .cgroup = cfg->cgroups ? &cfg->cgroup : NULL,
        .limits = {.memory_bytes = json_integer_value(json_object_get(job, "memory_mib")) << 20,
                   .cpu_milli = json_integer_value(json_object_get(job, "cpus_milli")),
                   .pids_max = cfg->pids_max,
                   .restrict_devices = cfg->device_cgroup},
        .state_dir = cfg->state_dir,
        .checkpoint_root = cfg->checkpoint_root,
        .fence = json_is_true(json_object_get(job, "fence")),
        .agent = a->agent,
        .image = json_string_value(json_object_get(job, "image")),
        .mounts = mounts,
        .nmounts = nmounts,
        .output_dir = json_string_value(json_object_get(job, "output_dir")),
        .scratch_root = json_string_value(json_object_get(job, "scratch_root")),
        .network_none = network && !strcmp(network, "none"),
        .image_cache = cfg->image_cache,
        .image_cache_max = (int64_t)cfg->image_cache_max,
        .registries_conf = cfg->registries_conf,
        .auth_file = cfg->auth_file,
        .dev_dir = cfg->dev_dir,
        .cdi_dir = cfg->cdi_dir,
        .oci_runtime = cfg->runtimes.oci_runtime,
        .array_id = json_integer_value(json_object_get(job, "array_id")),
        .array_index = json_integer_value(json_object_get(job, "array_index")),
        .node_name = cfg->name,
        .node_list = node_list,
        .partition = json_string_value(json_object_get(job, "partition")),
        .output = json_string_value(json_object_get(job, "output")),
        .error = json_string_value(json_object_get(job, "error")),
    };
    gt_error_t err = {0};
    /* Its outputs, hashed after a successful exit (node rank 0 only: the server sends them to
     * that node), named before it starts so that an agent restarted meanwhile finds them. */
    json_t *outs = json_object_get(job, "outputs");
    char *outs_file = NULL;
    if (json_array_size(outs) && s.output_dir) {
        json_t *targets = json_array();
        size_t i;
        json_t *o;
        json_array_foreach(outs, i, o)
            json_array_append_new(targets, json_pack("{s:O,s:s,s:O}", "artifact",
                                                     json_object_get(o, "artifact"), "root",
                                                     s.output_dir, "sub_path",
                                                     json_object_get(o, "sub_path")));
        char *text = json_dumps(targets, JSON_COMPACT);
        json_decref(targets);
        ajob_t tmp = {.id = id, .inc = inc};
        outs_file = outputs_path(a, &tmp, "outputs");
        char *dir = artifacts_path(a, "%s", "");
        if (gt_mkdirs(dir, 0700, NULL) < 0 ||
            gt_write_file_atomic(outs_file, text, strlen(text), 0600, &err) < 0)
            say("job %" PRId64 ": cannot keep its outputs' names (%s): they will not be "
                "registered.", id, err.msg[0] ? err.msg : strerror(errno));
        free(dir);
        free(text);
        err = (gt_error_t){0};
    }
    double t0 = gt_monotonic_s();
    int fd = -1;
    bool spawned = (cfg->launcher ? launcher_spawn(cfg->launcher, &s, &fd, &err)
                                  : supervisor_spawn(&s, &fd, &err)) == 0;
    if (!spawned) {
        if (outs_file)
            unlink(outs_file);
        start_failed(a, id, inc, err.msg);
    } else {
        *sp = (starting_t){.id = id, .inc = inc, .ngpus = ngpus, .ready_fd = fd, .t0 = t0,
                           .port = port, .uid = (uid_t)-1, .gid = (gid_t)-1};
        if (port) {
            sp->readiness = json_incref(json_object_get(job, "readiness"));
            sp->liveness = json_incref(json_object_get(job, "liveness"));
            struct passwd *pw = user ? getpwnam(user) : NULL;
            if (pw) {
                sp->uid = pw->pw_uid;
                sp->gid = pw->pw_gid;
            }
        }
    }
    for (size_t i = 0; i < k; i++)
        free(env[i]);
    free(env);
    free(argv);
    free(gpus);
    free(mounts);
    free(node_list);
    free(outs_file);
    return spawned;
}

/* Waits until the spawned supervisor has started its command (or failed to). */
static void finish_start(agent_t *a, starting_t *sp)
{
    supervisor_state_t st;
    gt_error_t err = {0};
    if (supervisor_wait_started(a->cfg->state_dir, sp->id, sp->inc, sp->ready_fd, &st, &err) <
        0) {
        close(sp->ready_fd);
        start_failed(a, sp->id, sp->inc, err.msg);
        return;
    }
    ajob_t *j = add_job(a, &st);
    if (!strcmp(st.phase, "exited")) {
        close(sp->ready_fd);
        say("job %" PRId64 " incarnation %d could not start: %s", sp->id, sp->inc, st.message);
    } else {
        if (sp->port)
            probe_register(a, sp);
        j->ready_fd = sp->ready_fd;
        if (!strcmp(st.phase, "pulling") || st.pid <= 0)
            say("job %" PRId64 " incarnation %d is being prepared (its image).", sp->id, sp->inc);
        else
            say("job %" PRId64 " incarnation %d started: pid %d, GPUs %zu, in %.1f ms.",
                sp->id, sp->inc, (int)st.pid, sp->ngpus, (gt_monotonic_s() - sp->t0) * 1e3);
    }
}

/* A "hash" task: {"type": "hash", "request": ID, "host_path": VOLUME, "sub_path": PATH}.
 * A request already in hand (a repeated task) is not hashed twice. */
static void start_hash(agent_t *a, json_t *t)
{
    const char *id = json_string_value(json_object_get(t, "request"));
    const char *root = json_string_value(json_object_get(t, "host_path"));
    if (!id || !root || strlen(id) >= sizeof(a->hreqs[0].id) || strchr(id, '/') || id[0] == '.')
        return;
    for (size_t i = 0; i < a->nhreqs; i++)
        if (!strcmp(a->hreqs[i].id, id))
            return;
    char *dir = artifacts_path(a, "%s", "");
    char *res = artifacts_path(a, "req-%s.result", id);
    json_t *targets = json_pack("[{s:s,s:s,s:s}]", "request", id, "root", root, "sub_path",
                                json_string_value(json_object_get(t, "sub_path")) ?: "");
    gt_error_t err = {0};
    pid_t pid = gt_mkdirs(dir, 0700, NULL) < 0 ? -1 : artifact_hash_spawn(targets, res, &err);
    json_decref(targets);
    if (pid < 0) {
        say("cannot hash %s for request %s: %s", root, id, err.msg);
    } else {
        GT_GROW(a->hreqs, a->hcap, a->nhreqs + 1);
        hash_req_t *h = &a->hreqs[a->nhreqs++];
        snprintf(h->id, sizeof(h->id), "%s", id);
        h->pid = pid;
        say("hashing %s/%s for the server (request %s).", root,
            json_string_value(json_object_get(t, "sub_path")) ?: "", id);
    }
    free(dir);
    free(res);
}

/* ---- inputs fetched from the blob store (agent/fetch.h) ---- */

static fetch_cfg_t fetch_cfg_of(const agent_t *a)
{
    return (fetch_cfg_t){.server = client_server(a->c),
                         .token = a->using_node_tok ? a->node_tok : a->cfg->token,
                         .tp = &a->cfg->transport,
                         .node = a->cfg->name,
                         .cache = a->input_cache};
}

static void fetch_run(agent_t *a, fetching_t *f)
{
    fetch_cfg_t fc = fetch_cfg_of(a);
    char *prog = fetch_path(a, f->id, f->inc, "progress");
    char *res = fetch_path(a, f->id, f->inc, "result");
    gt_error_t err = {0};
    f->pid = fetch_spawn(&fc, f->job, prog, res, &err);
    f->tries++;
    if (f->pid < 0) {
        f->pid = 0;
        say("job %" PRId64 ": %s", f->id, err.msg);
    }
    free(prog);
    free(res);
}

/* A start task whose job has inputs to fetch: kept (for an agent restarted meanwhile) and
 * handed to a worker; the loop spawns its supervisor once they are ready (fetch_check). */
static void fetch_begin(agent_t *a, json_t *job)
{
    int64_t id = json_integer_value(json_object_get(job, "id"));
    int inc = (int)json_integer_value(json_object_get(job, "incarnation"));
    if (find_job(a, id, inc))
        return; /* already here: a repeated task */
    for (size_t i = 0; i < a->nfetches; i++)
        if (a->fetches[i].id == id && a->fetches[i].inc == inc)
            return;
    char *dir = artifacts_path(a, "%s", "");
    char *jp = fetch_path(a, id, inc, "job");
    char *text = json_dumps(job, JSON_COMPACT);
    gt_error_t err = {0};
    if (gt_mkdirs(dir, 0700, NULL) < 0 ||
        gt_write_file_atomic(jp, text, strlen(text), 0600, &err) < 0) {
        say("job %" PRId64 ": cannot keep its start while its inputs are fetched (%s); fetching "
            "anyway.", id, err.msg[0] ? err.msg : strerror(errno));
    }
    free(text);
    free(jp);
    free(dir);
    GT_GROW(a->fetches, a->fcap, a->nfetches + 1);
    fetching_t *f = &a->fetches[a->nfetches++];
    *f = (fetching_t){.id = id, .inc = inc, .job = json_incref(job)};
    say("job %" PRId64 " incarnation %d: fetching its inputs from the blob store into %s.", id,
        inc, a->input_cache);
    fetch_run(a, f);
}

/* Starts the jobs whose inputs are ready; fails those whose fetch failed (a worker that ended
 * without an answer is run again, three times in all). */
static void fetch_check(agent_t *a)
{
    for (size_t i = 0; i < a->nfetches;) {
        fetching_t *f = &a->fetches[i];
        char *res = fetch_path(a, f->id, f->inc, "result");
        json_t *r = json_load_file(res, 0, NULL);
        free(res);
        if (!r) {
            if (f->pid > 0 && kill(f->pid, 0) == 0) {
                i++;
                continue;
            }
            if (f->tries < 3) {
                say("job %" PRId64 ": the process fetching its inputs ended without an answer: "
                    "fetching again.", f->id);
                fetch_run(a, f);
                i++;
                continue;
            }
            r = json_pack("{s:s}", "error", "the node's processes fetching its inputs ended "
                          "without an answer");
        }
        f->pid = 0;
        size_t k;
        json_t *n;
        json_array_foreach(json_object_get(r, "notes"), k, n)
            say("job %" PRId64 ": %s.", f->id, json_string_value(n));
        int64_t id = f->id;
        int inc = f->inc;
        json_t *job = json_incref(f->job);
        fetch_drop(a, i);
        gt_error_t err = {0};
        const char *why = json_string_value(json_object_get(r, "error"));
        if (!why && fetch_apply(job, r, &err) < 0)
            why = err.msg;
        if (why) {
            start_failed(a, id, inc, why);
        } else {
            say("job %" PRId64 " incarnation %d: its inputs are ready.", id, inc);
            starting_t sp = {0};
            if (spawn_job(a, job, &sp)) {
                finish_start(a, &sp);
                json_decref(sp.readiness);
                json_decref(sp.liveness);
            }
        }
        json_decref(job);
        json_decref(r);
    }
}

/* Starts an earlier agent left waiting for their inputs: fetched again (what is in the cache
 * already is only checked). */
static void fetch_adopt(agent_t *a)
{
    char *dir = artifacts_path(a, "%s", "");
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "fetch-", 6) || l < 10 || strcmp(de->d_name + l - 4, ".job"))
            continue;
        char *p = gt_strfmt("%s%s", dir, de->d_name);
        json_t *job = json_load_file(p, 0, NULL);
        free(p);
        if (json_is_object(job) && fetch_needed(job)) {
            say("taking up the fetch of job %" JSON_INTEGER_FORMAT "'s inputs left by an earlier "
                "agent.", json_integer_value(json_object_get(job, "id")));
            fetch_begin(a, job);
        }
        json_decref(job);
    }
    if (d)
        closedir(d);
    free(dir);
}

/* For the heartbeat: the jobs whose inputs are being fetched, and the bytes so far. */
static json_t *fetching_list(agent_t *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->nfetches; i++) {
        const fetching_t *f = &a->fetches[i];
        char *p = fetch_path(a, f->id, f->inc, "progress");
        json_t *pr = json_load_file(p, 0, NULL);
        free(p);
        json_array_append_new(arr, json_pack("{s:I,s:i,s:I,s:I}", "job", (json_int_t)f->id,
                                             "incarnation", f->inc, "bytes",
                                             json_integer_value(json_object_get(pr, "bytes")),
                                             "total",
                                             json_integer_value(json_object_get(pr, "total"))));
        json_decref(pr);
    }
    return arr;
}

static void handle_tasks(agent_t *a, json_t *tasks)
{
    size_t i, nstart = 0;
    json_t *t;
    starting_t *starting = xcalloc(json_array_size(tasks) + 1, sizeof(*starting));
    json_array_foreach(tasks, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        if (type && !strcmp(type, "start") && fetch_needed(json_object_get(t, "job")))
            fetch_begin(a, json_object_get(t, "job")); /* started once its inputs are here */
        else if (type && !strcmp(type, "start") &&
                 spawn_job(a, json_object_get(t, "job"), &starting[nstart]))
            nstart++;
    }
    for (i = 0; i < nstart; i++) {
        finish_start(a, &starting[i]);
        json_decref(starting[i].readiness);
        json_decref(starting[i].liveness);
    }
    free(starting);
    json_array_foreach(tasks, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        if (type && !strcmp(type, "start")) {
            continue;
        } else if (type && !strcmp(type, "hash")) {
            start_hash(a, t);
        } else if (type && !strcmp(type, "attach")) {
            /* gantry exec, run -it, port-forward: a process of its own connects to the server
             * (agent/exec.h) */
            exec_attach_cfg_t ac = {
                .server = a->cfg->server,
                .token = a->using_node_tok ? a->node_tok : a->cfg->token,
                .node = a->cfg->name,
                .transport = &a->cfg->transport,
                .state_dir = a->cfg->state_dir,
                .cgroup = a->cfg->cgroups ? &a->cfg->cgroup : NULL,
                .oci_runtime = a->cfg->runtimes.oci_runtime};
            exec_attach_spawn(&ac, t);
        } else if (type && !strcmp(type, "stop")) {
            int sig = supervisor_signal_number(json_string_value(json_object_get(t, "signal")));
            stop_job(a, json_integer_value(json_object_get(t, "job_id")),
                     (int)json_integer_value(json_object_get(t, "incarnation")),
                     stop_reason(json_string_value(json_object_get(t, "reason"))),
                     sig > 0 ? sig : SIGTERM, json_integer_value(json_object_get(t, "grace_s")));
        }
    }
}

/* Rereads the state of the jobs still running (all, or only those whose supervisor just
 * ended); records ends and lost supervisors. */
static void scan(agent_t *a, bool all)
{
    for (size_t i = 0; i < a->njobs; i++) {
        ajob_t *j = &a->jobs[i];
        if (j->exited || (!all && !j->ended))
            continue;
        j->ended = false;
        supervisor_state_t st;
        if (supervisor_read(a->cfg->state_dir, j->id, j->inc, &st, NULL) < 0)
            continue;
        if (strcmp(st.phase, "exited") && !supervisor_alive(&st)) {
            /* Read again: it may have written its end just before dying. */
            if (supervisor_read(a->cfg->state_dir, j->id, j->inc, &st, NULL) == 0 &&
                strcmp(st.phase, "exited")) {
                gt_error_t err = {0};
                supervisor_mark_lost(a->cfg->state_dir, &st,
                                     a->cfg->cgroups ? &a->cfg->cgroup : NULL, &err);
            }
        }
        j->st = st;
        if (!strcmp(st.phase, "exited")) {
            j->exited = true;
            probe_forget(a, j->id, j->inc);
            say("job %" PRId64 " incarnation %d ended: %s (exit code %d, signal %d)%s%s.",
                j->id, j->inc, st.reason, st.exit_code, st.signal, st.message[0] ? ": " : "",
                st.message);
        }
    }
}

/* Length of the valid UTF-8 sequence (jansson's rules: no overlong forms, surrogates or code
 * points above U+10FFFF) that starts p[0..n): 1 to 4; 0 if it is not valid; -1 if the bytes
 * there are a valid beginning cut short by n. */
static int utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    int len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n)
            return -1;
        if (p[k] < (k == 1 ? lo : 0x80) || p[k] > (k == 1 ? hi : 0xbf))
            return 0;
    }
    return len;
}

/* How many leading bytes of a read of n bytes to ship now: all, except (unless final) a UTF-8
 * sequence cut short at the end, which waits for the next read. *text says whether they are
 * UTF-8 without NUL, which a JSON string carries as they are; else they travel as base64. */
static size_t log_chunk_len(const char *buf, size_t n, bool final, bool *text)
{
    const unsigned char *p = (const unsigned char *)buf;
    *text = true;
    for (size_t i = 0; i < n;) {
        int len = utf8_seq(p + i, n - i);
        if (len < 0 && !final)
            return i;
        if (len <= 0 || p[i] == 0) {
            *text = false;
            return n;
        }
        i += (size_t)len;
    }
    return n;
}

/* The body of POST /v1/agent/logs for n bytes at offset: "data" when they are text, else
 * "data_b64", so that any bytes reach the server exactly. */
static json_t *log_chunk_body(const char *node, const ajob_t *j, const char *stream,
                              const char *buf, size_t n, bool text)
{
    json_t *body = json_pack("{s:I,s:i,s:s,s:I,s:s}", "job_id", (json_int_t)j->id,
                             "incarnation", j->inc, "stream", stream, "offset",
                             (json_int_t)j->shipped[!strcmp(stream, "stderr")], "node", node);
    json_t *data = text ? json_stringn(buf, n) : NULL;
    if (data) {
        json_object_set_new(body, "data", data);
    } else {
        size_t len;
        char *b64 = base64_encode(buf, n, &len);
        json_object_set_new(body, "data_b64", json_stringn(b64, len));
        free(b64);
    }
    return body;
}

/* Ships what the job's logs gained; returns true when both are shipped to their end. */
static bool ship_logs(agent_t *a, ajob_t *j)
{
    if (j->logs_gone)
        return true;
    static const char *const streams[2] = {"stdout", "stderr"};
    char *dir = supervisor_job_dir(a->cfg->state_dir, j->id, j->inc);
    bool done = true;
    char *buf = xmalloc(LOG_CHUNK);
    for (int s = 0; s < 2 && !j->logs_gone; s++) {
        gt_buf_t path = {0};
        gt_buf_printf(&path, "%s/%s", dir, streams[s]);
        int fd = open(path.data, O_RDONLY | O_CLOEXEC);
        gt_buf_free(&path);
        if (fd < 0)
            continue;
        for (int rounds = 0; rounds < 16; rounds++) {
            ssize_t n = pread(fd, buf, LOG_CHUNK, (off_t)j->shipped[s]);
            if (n <= 0)
                break;
            bool text;
            size_t send = log_chunk_len(buf, (size_t)n, j->exited, &text);
            if (send == 0)
                break;
            json_t *body = log_chunk_body(a->cfg->name, j, streams[s], buf, send, text);
            long status = 0;
            json_t *resp = NULL;
            gt_error_t err = {0};
            int rc = client_call(a->c, "POST", "/v1/agent/logs", body, CALL_TIMEOUT_MS,
                                 &status, &resp, &err);
            json_decref(body);
            int64_t size = json_integer_value(
                json_object_get(json_object_get(resp, "error"), "size"));
            json_decref(resp);
            if (rc == 0 && status == 200) {
                j->shipped[s] += (int64_t)send;
                continue;
            }
            if (rc == 0 && status == 416 && size >= 0 && size < j->shipped[s]) {
                /* The server's copy is shorter than what it took (its disk lost the end):
                 * send again from where it stops; the state directory still has it all. */
                say("the server has %" PRId64 " bytes of job %" PRId64 "'s %s, not %" PRId64
                    ": sending again from there.", size, j->id, streams[s], j->shipped[s]);
                j->shipped[s] = size;
                continue;
            }
            if (rc == 0 && (status == 401 || status == 403))
                a->need_register = true;
            if (rc == 0 && (status == 404 || status == 400)) {
                say("the server does not take job %" PRId64 "'s logs (%s): they stay in %s.",
                    j->id, err.msg, dir);
                j->logs_gone = j->logs_kept = true;
            }
            done = false;
            break;
        }
        struct stat sb;
        if (!j->logs_gone && fstat(fd, &sb) == 0 && sb.st_size > j->shipped[s])
            done = false;
        close(fd);
    }
    free(buf);
    free(dir);
    return done || j->logs_gone;
}

/* Ships what the job's metrics file gained; true when it is all at the server (or refused,
 * the file then kept on the node). */
static bool ship_metrics(agent_t *a, ajob_t *j)
{
    char *path = supervisor_metrics_path(a->cfg->state_dir, j->id, j->inc);
    gt_error_t err = {0};
    metrics_ship_rc_t rc = metrics_ship(a->c, a->cfg->name, path, j->id, j->inc, j->exited,
                                        &j->metrics, &err);
    if (rc == METRICS_REFUSED && !j->logs_kept) {
        say("the server does not take job %" PRId64 "'s metrics (%s): they stay in %s.", j->id,
            err.msg, path);
        j->logs_kept = true; /* nothing of the job is removed from the node */
    }
    if (rc == METRICS_REREGISTER)
        a->need_register = true;
    free(path);
    return rc == METRICS_SHIPPED || rc == METRICS_REFUSED;
}

/* POSTs body (consumed) to path; the status (0 when there was no answer). */
static long post_status(agent_t *a, const char *path, json_t *body, gt_error_t *err)
{
    long status = 0;
    json_t *resp = NULL;
    int rc = client_call(a->c, "POST", path, body, CALL_TIMEOUT_MS, &status, &resp, err);
    json_decref(body);
    json_decref(resp);
    /* A 404 of the node itself (not_registered), not of what the call named: register
     * again and send it then (0: as if unanswered). */
    if (rc == 0 && status == 404 && !strcmp(err->code, "not_registered"))
        status = 0;
    if (rc == 0 && (status == 0 || (must_register(status) && status != 404)))
        a->need_register = true;
    return rc == 0 ? status : 0;
}

/* True once j's exit may be reported: it has no outputs to hash, or the server took their
 * hashes (POST /v1/agent/outputs), or refused them for good. Starts the hashing child when
 * needed; false meanwhile. */
static bool outputs_done(agent_t *a, ajob_t *j)
{
    if (!outputs_pending(a, j))
        return true;
    if (now_s() < j->outputs_retry_at)
        return false;
    char *res = outputs_path(a, j, "result");
    json_t *doc = artifact_hash_read(res);
    if (!doc) {
        bool busy = j->hash_pid > 0 && kill(j->hash_pid, 0) == 0;
        if (!busy) {
            if (j->hash_pid > 0)
                say("job %" PRId64 ": the process hashing its outputs ended without a result.",
                    j->id);
            char *spec = outputs_path(a, j, "outputs");
            json_t *targets = json_load_file(spec, 0, NULL);
            free(spec);
            gt_error_t err = {0};
            if (j->hash_tries++ < 3 && targets) {
                j->hash_pid = artifact_hash_spawn(targets, res, &err);
                if (j->hash_pid < 0) {
                    say("job %" PRId64 ": %s", j->id, err.msg);
                    j->hash_pid = 0;
                    j->outputs_retry_at = now_s() + 1;
                } else {
                    say("job %" PRId64 " incarnation %d succeeded: hashing its %zu outputs.",
                        j->id, j->inc, json_array_size(targets));
                }
            } else {
                /* Given up: the server hears why, and registers nothing of them. */
                json_t *results = json_array();
                size_t i;
                json_t *t;
                json_array_foreach(targets, i, t)
                    json_array_append_new(results, json_pack("{s:O,s:s}", "artifact",
                                                             json_object_get(t, "artifact"),
                                                             "error", "the node could not hash it"));
                char *text = json_dumps(json_pack("{s:o}", "results", results), JSON_COMPACT);
                if (gt_write_file_atomic(res, text, strlen(text), 0600, &err) < 0)
                    j->outputs_reported = true; /* nothing more can be done here */
                free(text);
            }
            json_decref(targets);
        }
        free(res);
        return false;
    }
    free(res);
    json_t *body = json_pack("{s:s,s:I,s:I,s:i,s:O}", "name", a->cfg->name, "epoch",
                             (json_int_t)a->epoch, "job_id", (json_int_t)j->id, "incarnation",
                             j->inc, "outputs", json_object_get(doc, "results"));
    json_decref(doc);
    gt_error_t err = {0};
    long status = post_status(a, "/v1/agent/outputs", body, &err);
    if (status == 200 || status == 400 || status == 404) {
        if (status != 200)
            say("the server does not take job %" PRId64 "'s outputs (%s): they are not "
                "registered.", j->id, err.msg);
        j->outputs_reported = true;
        return true;
    }
    if (!a->need_register)
        say("cannot send job %" PRId64 "'s outputs: %s (retrying)", j->id, err.msg);
    j->outputs_retry_at = now_s() + 1;
    return false;
}

/* Sends the results of the server's hash requests (and gives up on a request whose hashing
 * child died without one). */
static void ship_hashes(agent_t *a)
{
    if (!a->nhreqs || now_s() < a->hashes_retry_at)
        return;
    for (size_t i = 0; i < a->nhreqs;) {
        hash_req_t *h = &a->hreqs[i];
        char *res = artifacts_path(a, "req-%s.result", h->id);
        json_t *doc = artifact_hash_read(res);
        json_t *r = NULL;
        if (doc)
            r = json_incref(json_array_get(json_object_get(doc, "results"), 0));
        else if (h->pid <= 0 || kill(h->pid, 0) < 0)
            r = json_pack("{s:s,s:s}", "request", h->id, "error",
                          "the process hashing it on the node ended without a result");
        json_decref(doc);
        if (!r) {
            free(res);
            i++;
            continue;
        }
        json_t *body = json_pack("{s:s,s:I,s:o}", "name", a->cfg->name, "epoch",
                                 (json_int_t)a->epoch, "result", r);
        gt_error_t err = {0};
        long status = post_status(a, "/v1/agent/hashes", body, &err);
        if (status == 200 || status == 400 || status == 404) {
            if (status != 200)
                say("the server does not take the hashes of request %s: %s", h->id, err.msg);
            unlink(res);
            free(res);
            a->hreqs[i] = a->hreqs[--a->nhreqs];
            continue;
        }
        free(res);
        a->hashes_retry_at = now_s() + 1;
        return;
    }
}

/* Results of hash requests left by an earlier agent: shipped as ours. */
static void adopt_hashes(agent_t *a)
{
    char *dir = artifacts_path(a, "%s", "");
    DIR *d = opendir(dir);
    free(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "req-", 4) || n < 12 || strcmp(e->d_name + n - 7, ".result") ||
            n - 11 >= sizeof(a->hreqs[0].id))
            continue;
        GT_GROW(a->hreqs, a->hcap, a->nhreqs + 1);
        hash_req_t *h = &a->hreqs[a->nhreqs++];
        snprintf(h->id, sizeof(h->id), "%.*s", (int)(n - 11), e->d_name + 4);
        h->pid = 0;
    }
    closedir(d);
}

static void report(agent_t *a)
{
    ship_hashes(a);
    json_t *events = json_array();
    bool *exits = xcalloc(a->njobs ? a->njobs : 1, sizeof(bool));
    bool *starts = xcalloc(a->njobs ? a->njobs : 1, sizeof(bool));
    for (size_t i = 0; i < a->njobs; i++) {
        ajob_t *j = &a->jobs[i];
        if (!j->started_reported && j->st.pid > 0) {
            json_t *ev = json_pack("{s:I,s:i,s:s,s:f}", "job_id", (json_int_t)j->id,
                                   "incarnation", j->inc, "event", "started", "time",
                                   j->st.start_time);
            int port = probe_port(a->probes, j->id, j->inc);
            if (port > 0) /* a service replica: where it listens */
                json_object_set_new(ev, "port", json_integer(port));
            json_array_append_new(events, ev);
            starts[i] = true;
        }
        if (j->exited && !j->exit_reported && ship_logs(a, j) && ship_metrics(a, j) &&
            outputs_done(a, j)) {
            json_array_append_new(events, exit_event(j));
            exits[i] = true;
        }
    }
    /* Service replicas' probes: readiness changes go to the server; a replica whose liveness
     * failed is stopped (the server restarts it). */
    probe_event_t pe[64];
    size_t npe = probe_events(a->probes, pe, 64);
    for (size_t k = 0; k < npe; k++) {
        ajob_t *pj = find_job(a, pe[k].job_id, pe[k].incarnation);
        if (!pj || pj->exited)
            continue;
        if (pe[k].what == PROBE_DEAD) {
            say("job %" PRId64 " incarnation %d failed its liveness probe (%s): stopping it.",
                pe[k].job_id, pe[k].incarnation, pe[k].message);
            stop_job(a, pe[k].job_id, pe[k].incarnation, "liveness", SIGTERM, 5);
            continue;
        }
        bool ready = pe[k].what == PROBE_READY;
        say("job %" PRId64 " incarnation %d is %s on port %d%s%s.", pe[k].job_id,
            pe[k].incarnation, ready ? "ready" : "not ready", pe[k].port,
            pe[k].message[0] ? ": " : "", pe[k].message);
        json_array_append_new(events, json_pack("{s:I,s:i,s:s,s:i,s:f}", "job_id",
                                                (json_int_t)pe[k].job_id, "incarnation",
                                                pe[k].incarnation, "event",
                                                ready ? "ready" : "unready", "port", pe[k].port,
                                                "time", now_s()));
    }
    if (json_array_size(events)) {
        json_t *body = json_pack("{s:s,s:I,s:O}", "name", a->cfg->name, "epoch",
                                 (json_int_t)a->epoch, "events", events);
        long status = 0;
        json_t *resp = NULL;
        gt_error_t err = {0};
        double sent_at = fence_clock();
        int rc = client_call(a->c, "POST", "/v1/agent/report", body, CALL_TIMEOUT_MS, &status,
                             &resp, &err);
        json_decref(body);
        json_decref(resp);
        if (rc == 0 && status == 200) {
            lease_renew(a, sent_at);
            for (size_t i = 0; i < a->njobs; i++) {
                if (starts[i])
                    a->jobs[i].started_reported = true;
                if (exits[i])
                    a->jobs[i].exit_reported = true;
            }
        } else if (rc == 0 && must_register(status)) {
            a->need_register = true;
        } else {
            say("cannot report to the server: %s", err.msg);
        }
    }
    json_decref(events);
    free(exits);
    free(starts);
    /* Ended, reported, logs shipped: nothing of the job is left to keep. */
    for (size_t i = 0; i < a->njobs;) {
        ajob_t *j = &a->jobs[i];
        if (j->exited && j->exit_reported) {
            /* Never before the server has all its output: the directory holds the only copy. */
            if (!j->logs_kept) {
                supervisor_remove(a->cfg->state_dir, j->id, j->inc);
                char *mp = supervisor_metrics_path(a->cfg->state_dir, j->id, j->inc);
                unlink(mp); /* shipped: the server has it all */
                free(mp);
            }
            if (j->has_outputs != 0) {
                char *p = outputs_path(a, j, "outputs"), *r = outputs_path(a, j, "result");
                unlink(p);
                unlink(r);
                free(p);
                free(r);
            }
            if (j->ready_fd >= 0)
                close(j->ready_fd);
            a->jobs[i] = a->jobs[--a->njobs];
            continue;
        }
        i++;
    }
}

/* The parent of pid from /proc/PID/stat, or -1. */
static int parent_of(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    int ppid = -1;
    char state;
    if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}

/* The running job a GPU process belongs to: the one whose command or supervisor is the process
 * or one of its ancestors (NULL: none of this agent's, e.g. another user's process). */
static const ajob_t *job_of_pid(const agent_t *a, int pid)
{
    for (int depth = 0; pid > 1 && depth < 64; depth++) {
        for (size_t i = 0; i < a->njobs; i++) {
            const ajob_t *j = &a->jobs[i];
            if (!j->exited && ((j->st.pid > 0 && j->st.pid == pid) ||
                               (j->st.supervisor_pid > 0 && j->st.supervisor_pid == pid)))
                return j;
        }
        pid = parent_of(pid);
    }
    return NULL;
}

/* The heartbeat's "gpus": each GPU's utilization and memory in use, and where NVML lists them
 * its compute processes with their memory and the job each belongs to (empty for declared
 * GPUs: nothing is measured). */
static json_t *gpu_samples(const agent_t *a)
{
    json_t *gpus = json_array();
    const gpu_inventory_t *inv = a->cfg->gpus;
    if (!inv->from_nvml || !inv->n)
        return gpus;
    gpu_usage_t *u = xcalloc(inv->n, sizeof(*u));
    gpu_sample(inv, u);
    for (size_t i = 0; i < inv->n; i++) {
        json_t *g = json_pack("{s:i,s:f,s:I}", "index", (int)i, "utilization",
                              u[i].utilization, "memory_used_mib",
                              (json_int_t)u[i].memory_used_mib);
        if (u[i].nprocs >= 0) {
            json_t *procs = json_array();
            for (int k = 0; k < u[i].nprocs; k++) {
                json_t *p = json_pack("{s:i,s:I}", "pid", u[i].procs[k].pid, "memory_used_mib",
                                      (json_int_t)u[i].procs[k].memory_used_mib);
                const ajob_t *j = job_of_pid(a, u[i].procs[k].pid);
                if (j) {
                    json_object_set_new(p, "job_id", json_integer(j->id));
                    json_object_set_new(p, "incarnation", json_integer(j->inc));
                }
                json_array_append_new(procs, p);
            }
            json_object_set_new(g, "processes", procs);
        }
        json_array_append_new(gpus, g);
    }
    free(u);
    return gpus;
}

static void heartbeat(agent_t *a)
{
    json_t *gpus = gpu_samples(a);
    /* running and ending: every copy this node holds, which the server reconciles against
     * what it placed here. */
    json_t *pulling, *images;
    image_lists(a, &pulling, &images);
    json_t *body = json_pack("{s:s,s:I,s:o,s:o,s:o,s:I,s:o,s:o}", "name", a->cfg->name,
                             "epoch", (json_int_t)a->epoch, "running", running_list(a, false),
                             "ending", unreported_ends(a, false), "gpus", gpus, "tasks_done",
                             (json_int_t)a->tasks_done, "pulling", pulling, "images", images);
    json_object_set_new(body, "services", probe_status(a->probes));
    json_object_set_new(body, "fetching", fetching_list(a));
    if (json_is_array(a->volume_paths)) { /* the volumes here (a hash goes to a node with it) */
        json_t *here = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(a->volume_paths, i, p)
        {
            struct stat sb;
            const char *path = json_string_value(p);
            if (path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
                json_array_append(here, p);
        }
        json_object_set_new(body, "volumes", here);
    }
    long status = 0;
    json_t *resp = NULL;
    gt_error_t err = {0};
    double sent_at = fence_clock();
    int rc = client_call(a->c, "POST", "/v1/agent/heartbeat", body, CALL_TIMEOUT_MS, &status,
                         &resp, &err);
    json_decref(body);
    if (rc == 0 && status == 200 && leader_current(a, resp)) {
        lease_renew(a, sent_at);
        handle_kill(a, json_object_get(resp, "kill"));
    } else if (rc == 0 && status == 200) {
        say("heartbeat answered by a deposed leader (epoch %" PRId64 "): ignored.",
            (int64_t)json_integer_value(json_object_get(resp, "leader_epoch")));
    } else if (rc == 0 && must_register(status))
        a->need_register = true;
    else
        say("heartbeat failed: %s", err.msg);
    json_decref(resp);
}

/* Reaps ended supervisors (children of this agent) and closes the ready pipes at end of file.
 * Returns true if a supervisor ended: its job's end is in its state file. */
static bool ended_supervisors(agent_t *a)
{
    bool ended = false;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ended = true;
    for (size_t i = 0; i < a->njobs; i++) {
        ajob_t *j = &a->jobs[i];
        if (j->ready_fd < 0)
            continue;
        struct pollfd p = {.fd = j->ready_fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            continue;
        char buf[16];
        ssize_t n = read(j->ready_fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            close(j->ready_fd);
            j->ready_fd = -1;
            j->ended = ended = true;
        }
    }
    return ended;
}

/* Jobs left by an earlier agent: running ones are adopted, lost ones recorded. */
static void adopt(agent_t *a)
{
    supervisor_state_t *all = NULL;
    size_t n = 0;
    gt_error_t err = {0};
    if (supervisor_list(a->cfg->state_dir, &all, &n, &err) < 0) {
        say("%s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        supervisor_state_t *st = &all[i];
        if (strcmp(st->phase, "exited") && !supervisor_alive(st))
            supervisor_mark_lost(a->cfg->state_dir, st, a->cfg->cgroups ? &a->cfg->cgroup : NULL,
                                 &err);
        ajob_t *j = add_job(a, st);
        j->started_reported = true;
        if (!j->exited)
            probe_adopt(a, st->job_id, st->incarnation);
        say("found job %" PRId64 " incarnation %d from before: %s.", st->job_id, st->incarnation,
            j->exited ? st->reason : "still running");
    }
    free(all);
}

/* Tightens path to mode when it is open to more; says so. */
static int tighten(const char *path, bool is_dir, unsigned mode, gt_error_t *err)
{
    unsigned old = 0;
    int rc = gt_tighten_mode(path, is_dir, mode, &old, err);
    if (rc > 0)
        say("%s had mode %04o; it is now %04o.", path, old, mode);
    return rc < 0 ? -1 : 0;
}

/* The state directory holds the jobs' specs (their environments, secrets included) and
 * outputs: jobs/ is owner-only (0700). The directory itself and checkpoints/ are 0711, not
 * 0700: a job running as another user must reach its own checkpoint directory (0700, its
 * own) through them, but no other user can list or read them. Checked at every start. */
static int secure_state_dir(const char *dir, gt_error_t *err)
{
    if (mkdir(dir, 0711) < 0 && errno != EEXIST)
        return gt_error_set(err, "internal", "cannot create state directory %s: %s", dir,
                            strerror(errno));
    char jobs[4096], ckpts[4096], log[4096], metrics[4096];
    snprintf(metrics, sizeof(metrics), "%s/metrics", dir);
    snprintf(jobs, sizeof(jobs), "%s/jobs", dir);
    snprintf(ckpts, sizeof(ckpts), "%s/checkpoints", dir);
    snprintf(log, sizeof(log), "%s/supervisor.log", dir);
    if ((mkdir(jobs, 0700) < 0 && errno != EEXIST) ||
        (mkdir(ckpts, 0711) < 0 && errno != EEXIST))
        return gt_error_set(err, "internal", "cannot create %s/jobs or checkpoints: %s", dir,
                            strerror(errno));
    /* metrics/: each job's $GANTRY_METRICS file, its user's (docs/tracking.md): reached by
     * them, listed by nobody else, and only root makes or removes entries. */
    if ((mkdir(metrics, 0711) < 0 && errno != EEXIST) ||
        tighten(metrics, true, 0711, err) < 0)
        return gt_error_set(err, "internal", "cannot create %s: %s", metrics, strerror(errno));
    if (tighten(dir, true, 0711, err) < 0 || tighten(jobs, true, 0700, err) < 0 ||
        tighten(ckpts, true, 0711, err) < 0 || tighten(log, false, 0600, err) < 0)
        return -1;
    return 0;
}

int agent_run(const agent_cfg_t *cfg, gt_error_t *err)
{
    agent_t a = {.cfg = cfg, .heartbeat_s = 5};
    int rc = -1;
    if (secure_state_dir(cfg->state_dir, err) < 0)
        return -1;
    /* Before anything in it is read: a second agent here would adopt and kill our jobs. */
    int lock_fd = statedir_lock(cfg->state_dir, err);
    if (lock_fd < 0)
        return -1;
    char other[64];
    if (node_token_load(cfg->state_dir, cfg->name, a.node_tok, other, err) < 0)
        goto out;
    if (other[0])
        say("%s/node.token is node %s's credential, not %s's: it is not used.", cfg->state_dir,
            other, cfg->name);
    a.using_node_tok = a.node_tok[0] != '\0';
    if (!(a.c = client_new(cfg->server, a.using_node_tok ? a.node_tok : cfg->token,
                           &cfg->transport, err)))
        goto out;
    if (cfg->address)
        snprintf(a.address, sizeof(a.address), "%s", cfg->address);
    else if (client_local_address(cfg->server, a.address, sizeof(a.address), err) < 0)
        goto out;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Take the next agent number in the lease before looking for the jobs of the agent before:
     * a start that agent asked for and that is not found now is then not started at all. */
    fence_lease_t old = {0};
    if (fence_lease_read(cfg->state_dir, &old) == 0)
        a.lease_deadline = old.deadline; /* an earlier agent's: it may have run out */
    old.agent++;
    a.agent = old.agent;
    if (fence_lease_write(cfg->state_dir, &old, err) < 0)
        goto out;
    if (!(a.probes = probe_set_new(err)))
        goto out;
    adopt(&a);
    adopt_hashes(&a);
    a.input_cache = cfg->state_dir[0] == '/' ? gt_strfmt("%s/inputs", cfg->state_dir) : NULL;
    if (!a.input_cache) {
        char cwd[4096];
        a.input_cache = gt_strfmt("%s/%s/inputs", getcwd(cwd, sizeof(cwd)) ? cwd : ".",
                                  cfg->state_dir);
    }
    fetch_adopt(&a);
    if (!cfg->launcher)
        supervisor_warm_nss(cfg->job_user);
    a.need_register = true;
    int *fds = NULL;
    size_t fdcap = 0;
    double backoff = 0.2;
    while (!got_signal) {
        double now = now_s();
        if (a.need_register) {
            gt_error_t e = {0};
            if (do_register(&a, &e) < 0) {
                say("cannot register with %s: %s (retrying)", client_server(a.c), e.msg);
                struct timespec ts = {(time_t)backoff, (long)((backoff - (int)backoff) * 1e9)};
                nanosleep(&ts, NULL);
                backoff = backoff * 2 > 5 ? 5 : backoff * 2;
                continue;
            }
            backoff = 0.2;
        }
        if (!client_poll_running(a.c) && now >= a.poll_retry_at) {
            char path[512];
            snprintf(path, sizeof(path), "/v1/agent/work?name=%s&epoch=%" PRId64 "&wait=%d",
                     cfg->name, a.epoch, POLL_WAIT_S);
            client_poll_start(a.c, path, (POLL_WAIT_S + 10) * 1000L);
        }
        /* Wait for work, or for a supervisor's end (its ready pipe closes): a job's end is
         * read and reported at once, not at the next periodic scan. */
        size_t nfds = 0;
        GT_GROW(fds, fdcap, a.njobs + 1);
        for (size_t i = 0; i < a.njobs; i++)
            if (a.jobs[i].ready_fd >= 0)
                fds[nfds++] = a.jobs[i].ready_fd;
        bool got = client_poll_running(a.c) ? client_poll_wait(a.c, 50, fds, nfds) : false;
        if (!client_poll_running(a.c)) {
            struct pollfd *p = xcalloc(nfds + 1, sizeof(*p));
            for (size_t i = 0; i < nfds; i++)
                p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
            poll(p, nfds, 50);
            free(p);
        }
        if (ended_supervisors(&a))
            scan(&a, false);
        if (got) {
            long status = 0;
            json_t *resp = NULL;
            gt_error_t e = {0};
            int r = client_poll_result(a.c, &status, &resp, &e);
            if (r == 0 && status == 200 && !leader_current(&a, resp)) {
                say("refused %zu tasks from a deposed leader (epoch %" PRId64 ", the newest is "
                    "%" PRId64 ").", json_array_size(json_object_get(resp, "tasks")),
                    (int64_t)json_integer_value(json_object_get(resp, "leader_epoch")),
                    a.leader_epoch);
                a.poll_retry_at = now_s() + 1;
            } else if (r == 0 && status == 200) {
                handle_tasks(&a, json_object_get(resp, "tasks"));
                /* handle_tasks starts synchronously: every start it carried is in a.jobs (or
                 * ended) now, so a heartbeat from here on lists it. */
                json_int_t seq = json_integer_value(json_object_get(resp, "seq"));
                if (seq > a.tasks_done)
                    a.tasks_done = seq;
            }
            else if (r == 0 && must_register(status))
                a.need_register = true;
            else {
                say("waiting for work failed: %s (retrying in 1 s)", e.msg);
                a.poll_retry_at = now_s() + 1;
            }
            json_decref(resp);
        }
        now = now_s();
        if (now >= a.next_scan) {
            scan(&a, true); /* also adopted jobs, which have no ready pipe */
            a.next_scan = now + 0.1;
        }
        if (now >= a.next_logs) {
            for (size_t i = 0; i < a.njobs; i++)
                if (!a.jobs[i].exited) {
                    ship_logs(&a, &a.jobs[i]);
                    ship_metrics(&a, &a.jobs[i]);
                }
            a.next_logs = now + 0.5;
        }
        if (a.nfetches)
            fetch_check(&a);
        report(&a);
        if (now >= a.next_heartbeat && !a.need_register) {
            heartbeat(&a);
            a.next_heartbeat = now + a.heartbeat_s;
        }
    }
    say("signal %d: stopping; %zu jobs keep running under their supervisors.", (int)got_signal,
        a.njobs);
    rc = 0;
    free(fds);
out:
    probe_set_free(a.probes);
    client_free(a.c);
    free(a.jobs);
    free(a.hreqs);
    while (a.nfetches) { /* the workers go on; a restarted agent takes their starts up */
        json_decref(a.fetches[a.nfetches - 1].job);
        a.nfetches--;
    }
    free(a.fetches);
    free(a.input_cache);
    json_decref(a.volume_paths);
    close(lock_fd);
    return rc;
}

/* ---- gantry agent ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gantry agent --server URL [--token T] [--name N] [--gpus N --gpu-type T]\n"
            "                    [--state-dir DIR] [--cgroup-root DIR | --no-cgroups] ...\n\n"
            "Turns this machine into a Gantry node: registers it, runs the jobs placed on it.\n"
            "  --server URL        the server (env GANTRY_SERVER); several, url1,url2,...: the\n"
            "                      servers of one cluster, the leader found among them (docs/ha.md)\n"
            "  --token T           a token of role agent or admin (env GANTRY_TOKEN)\n"
            "  --token-file PATH   read the token from a file (keeps it out of `ps`)\n"
            "  --ca-file PATH      CA certificates (PEM) to verify an https:// server with\n"
            "                      (env GANTRY_CA_FILE; default: the system's trust store)\n"
            "  --allow-plaintext   allow http:// to a server that is not on loopback: the\n"
            "                      token then crosses the network in clear\n"
            "                      (env GANTRY_ALLOW_PLAINTEXT=1)\n"
            "  --name N            node name (default: the host name)\n"
            "  --address A         address other nodes reach this one at (gang MASTER_ADDR);\n"
            "                      default: the local address towards the server\n"
            "  --gpus N            declare N GPUs instead of asking NVML (0: CPU-only node)\n"
            "  --gpu-type T        their type (also overrides NVML's name)\n"
            "  --nvml-lib PATH     NVML library (default libnvidia-ml.so.1)\n"
            "  --discover          print the GPUs and runtimes this node would offer (JSON)\n"
            "                      and exit\n"
            "  --cpus N --memory M resources to offer (default: the machine's)\n"
            "  --block/--spine/--leaf NAME   topology labels\n"
            "  --state-dir DIR     job states and logs (default /var/lib/gantry/agent as root,\n"
            "                      else ./gantry-agent); one agent per directory (locked)\n"
            "  --checkpoint-root DIR   jobs' GANTRY_CHECKPOINT_DIR parent (default\n"
            "                      STATE/checkpoints; shared storage lets jobs resume elsewhere)\n"
            "  --cgroup-root DIR   cgroup mount (default /sys/fs/cgroup; v1 or v2 detected)\n"
            "  --cgroup-version 1|2  use that hierarchy at --cgroup-root without detecting it\n"
            "                      (hybrid hosts: a cgroup2 mount without controllers still\n"
            "                      takes the v2 device filter)\n"
            "  --cgroup-parent P   below it (default gantry/NAME)\n"
            "  --no-cgroups        run jobs without cgroups (no memory/CPU/pids limits)\n"
            "  --no-device-cgroup  do not restrict the jobs' device access (v1 devices\n"
            "                      controller, v2 device filter)\n"
            "  --pids-max N        per-job process limit (default 0 = none)\n"
            "  --job-user U        run every job as U, whatever the server's unix_user\n"
            "                      (single-user clusters, tests)\n"
            "  --allow-root        allow jobs to run as root on this node (they also need\n"
            "                      their user's allow_system_account, or --job-user root);\n"
            "                      without it root is refused whatever the server says\n"
            "Images (jobs with `image`; needs runc or crun, skopeo and umoci):\n"
            "  --image-cache DIR   unpacked images shared by the node's jobs\n"
            "                      (default STATE/images)\n"
            "  --image-cache-max SIZE  remove least recently used images not in use past it\n"
            "                      (20G, 500Gi; a bare number is MiB; default 0 = no cap)\n"
            "  --oci-runtime runc|crun  default: runc if usable, else crun\n"
            "  --registries-conf FILE  registries.conf for skopeo (mirrors, insecure\n"
            "                      registries; default /etc/containers/registries.conf)\n"
            "  --auth-file FILE    registry credentials for skopeo (podman login's format)\n"
            "  --cdi-dir DIR       CDI specs giving containers their GPUs (default /etc/cdi)\n"
            "  --dev-dir DIR       where the GPUs' device files (nvidia<N>, nvidiactl, ...)\n"
            "                      are (default /dev; tests use fake ones)\n");
}

/* --image-cache made absolute (default STATE/images); NULL (EINVAL, err) for a path with ':'
 * (skopeo's and umoci's references could not name it). Free it. */
static char *image_cache_path(const char *state_dir, const char *flag, gt_error_t *err)
{
    gt_buf_t b = {0};
    char cwd[4096];
    const char *base = flag ? flag : state_dir;
    if (base[0] != '/' && getcwd(cwd, sizeof(cwd)))
        gt_buf_printf(&b, "%s/", cwd);
    gt_buf_printf(&b, "%s%s", base, flag ? "" : "/images");
    if (strchr(b.data, ':')) {
        gt_error_set(err, "invalid_argument",
                     "the image cache %s has a ':' in its path (skopeo and umoci cannot name it): "
                     "give another with --image-cache",
                     b.data);
        gt_buf_free(&b);
        errno = EINVAL;
        return NULL;
    }
    return b.data;
}

/* gantry agent --discover: the inventory the agent would register, as JSON on stdout. */
static int print_inventory(const char *nvml_lib, int64_t ngpus, const char *gpu_type,
                           const runtimes_t *rt)
{
    gpu_inventory_t *inv = NULL;
    gt_error_t err = {0};
    if ((ngpus >= 0 ? gpu_declare((int)ngpus, gpu_type, &inv, &err)
                    : gpu_discover(nvml_lib, &inv, &err)) < 0) {
        fprintf(stderr, "gantry agent: %s\n", err.msg);
        return 1;
    }
    if (gpu_type && ngpus < 0) {
        free(inv->type);
        inv->type = xstrdup(gpu_type);
    }
    gpu_usage_t *u = xcalloc(inv->n + 1, sizeof(*u));
    gpu_sample(inv, u);
    json_t *gpus = json_array();
    for (size_t i = 0; i < inv->n; i++) {
        const gpu_info_t *g = &inv->gpus[i];
        json_t *peers = json_array();
        for (size_t k = 0; k < g->npeers; k++)
            json_array_append_new(peers, json_integer(g->nvlink_peers[k]));
        json_t *o = json_pack("{s:i,s:s,s:s,s:I,s:o}", "index", g->index, "uuid", g->uuid,
                              "name", g->name, "memory_mib", (json_int_t)g->memory_mib,
                              "nvlink_peers", peers);
        if (u[i].utilization >= 0)
            json_object_set_new(o, "utilization", json_real(u[i].utilization));
        if (u[i].memory_used_mib >= 0)
            json_object_set_new(o, "memory_used_mib", json_integer(u[i].memory_used_mib));
        json_array_append_new(gpus, o);
    }
    json_t *out = json_pack("{s:s,s:s,s:I,s:o}", "type", inv->type ? inv->type : "",
                            "source", inv->from_nvml ? "nvml" : "declared", "count",
                            (json_int_t)inv->n, "gpus", gpus);
    runtimes_to_json(rt, out);
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    free(text);
    json_decref(out);
    free(u);
    gpu_inventory_free(inv);
    return 0;
}

int cmd_agent(int argc, char **argv)
{
    agent_cfg_t cfg = {.server = getenv("GANTRY_SERVER"), .token = getenv("GANTRY_TOKEN"),
                       .cgroups = true, .device_cgroup = true,
                       .cgroup = {.root = "/sys/fs/cgroup", .version = CGROUP_AUTO}};
    const char *gpu_type = NULL, *nvml_lib = NULL, *cg_parent = NULL, *oci_runtime = NULL;
    int64_t ngpus = -1;
    bool discover = false;
    static char *token_text; /* from --token-file; lives as long as the process */
    gt_error_t err = {0};
    enum { O_ADDR = 256, O_TYPE, O_NVML, O_CPUS, O_MEM, O_BLOCK, O_SPINE, O_LEAF, O_STATE,
           O_CKPT, O_CGROOT, O_CGPARENT, O_CGVER, O_NOCG, O_NODEV, O_PIDS, O_JOBUSER, O_ROOT,
           O_DISCOVER, O_TOKFILE, O_CAFILE, O_PLAIN, O_IMGCACHE, O_IMGMAX, O_OCIRT, O_REGCONF,
           O_AUTHFILE, O_DEVDIR, O_CDIDIR };
    static const struct option opts[] = {
        {"server", required_argument, 0, 's'},   {"token", required_argument, 0, 't'},
        {"token-file", required_argument, 0, O_TOKFILE},
        {"ca-file", required_argument, 0, O_CAFILE},
        {"allow-plaintext", no_argument, 0, O_PLAIN},
        {"name", required_argument, 0, 'n'},     {"address", required_argument, 0, O_ADDR},
        {"gpus", required_argument, 0, 'g'},     {"gpu-type", required_argument, 0, O_TYPE},
        {"nvml-lib", required_argument, 0, O_NVML}, {"cpus", required_argument, 0, O_CPUS},
        {"memory", required_argument, 0, O_MEM}, {"block", required_argument, 0, O_BLOCK},
        {"spine", required_argument, 0, O_SPINE}, {"leaf", required_argument, 0, O_LEAF},
        {"state-dir", required_argument, 0, O_STATE},
        {"checkpoint-root", required_argument, 0, O_CKPT},
        {"cgroup-root", required_argument, 0, O_CGROOT},
        {"cgroup-parent", required_argument, 0, O_CGPARENT},
        {"cgroup-version", required_argument, 0, O_CGVER},
        {"no-cgroups", no_argument, 0, O_NOCG},  {"no-device-cgroup", no_argument, 0, O_NODEV},
        {"pids-max", required_argument, 0, O_PIDS}, {"job-user", required_argument, 0, O_JOBUSER},
        {"allow-root", no_argument, 0, O_ROOT},  {"discover", no_argument, 0, O_DISCOVER},
        {"image-cache", required_argument, 0, O_IMGCACHE},
        {"image-cache-max", required_argument, 0, O_IMGMAX},
        {"oci-runtime", required_argument, 0, O_OCIRT},
        {"registries-conf", required_argument, 0, O_REGCONF},
        {"auth-file", required_argument, 0, O_AUTHFILE},
        {"dev-dir", required_argument, 0, O_DEVDIR},
        {"cdi-dir", required_argument, 0, O_CDIDIR},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:t:n:g:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': cfg.server = optarg; break;
        case 't': cfg.token = optarg; break;
        case O_TOKFILE:
            free(token_text);
            if (!(token_text = gt_read_file(optarg, NULL, &err)))
                goto bad;
            token_text[strcspn(token_text, "\r\n")] = '\0';
            if (!*token_text) {
                gt_error_set(&err, "invalid_argument", "%s holds no token", optarg);
                goto bad;
            }
            cfg.token = token_text;
            break;
        case O_CAFILE: cfg.transport.ca_file = optarg; break;
        case O_PLAIN: cfg.transport.allow_plaintext = true; break;
        case 'n': cfg.name = optarg; break;
        case O_ADDR: cfg.address = optarg; break;
        case 'g':
            if (gt_parse_int64(optarg, 0, 1024, &ngpus, &err) < 0)
                goto bad;
            break;
        case O_TYPE: gpu_type = optarg; break;
        case O_NVML: nvml_lib = optarg; break;
        case O_CPUS:
            if (gt_parse_cpus_milli(optarg, &cfg.cpus_milli, &err) < 0)
                goto bad;
            break;
        case O_MEM:
            if (gt_parse_memory_mib(optarg, &cfg.memory_mib, &err) < 0)
                goto bad;
            break;
        case O_BLOCK: cfg.block = optarg; break;
        case O_SPINE: cfg.spine = optarg; break;
        case O_LEAF: cfg.leaf = optarg; break;
        case O_STATE: cfg.state_dir = optarg; break;
        case O_CKPT: cfg.checkpoint_root = optarg; break;
        case O_CGROOT: cfg.cgroup.root = optarg; break;
        case O_CGPARENT: cg_parent = optarg; break;
        case O_CGVER:
            if (strcmp(optarg, "1") && strcmp(optarg, "2")) {
                gt_error_set(&err, "invalid_argument", "--cgroup-version is 1 or 2, not '%s'",
                             optarg);
                goto bad;
            }
            cfg.cgroup.version = optarg[0] == '1' ? CGROUP_V1 : CGROUP_V2;
            break;
        case O_NOCG: cfg.cgroups = false; break;
        case O_NODEV: cfg.device_cgroup = false; break;
        case O_PIDS:
            if (gt_parse_int64(optarg, 0, 1 << 22, &cfg.pids_max, &err) < 0)
                goto bad;
            break;
        case O_JOBUSER: cfg.job_user = optarg; break;
        case O_ROOT: cfg.allow_root = true; break;
        case O_DISCOVER: discover = true; break;
        case O_IMGCACHE: cfg.image_cache = optarg; break;
        case O_IMGMAX: {
            int64_t mib;
            if (gt_parse_memory_mib(optarg, &mib, &err) < 0)
                goto bad;
            cfg.image_cache_max = (uint64_t)mib << 20;
            break;
        }
        case O_OCIRT:
            if (strcmp(optarg, "runc") && strcmp(optarg, "crun")) {
                gt_error_set(&err, "invalid_argument", "--oci-runtime is runc or crun, not '%s'",
                             optarg);
                goto bad;
            }
            oci_runtime = optarg;
            break;
        case O_REGCONF: cfg.registries_conf = optarg; break;
        case O_AUTHFILE: cfg.auth_file = optarg; break;
        case O_DEVDIR:
        case O_CDIDIR:
            /* the supervisors run elsewhere (a launcher, a chdir): only absolute paths */
            if (optarg[0] != '/') {
                gt_error_set(&err, "invalid_argument", "--%s must be an absolute path, not '%s'",
                             c == O_DEVDIR ? "dev-dir" : "cdi-dir", optarg);
                goto bad;
            }
            *(c == O_DEVDIR ? &cfg.dev_dir : &cfg.cdi_dir) = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    /* crun looks at /sys/fs/cgroup; runtime_oci.c starts it in the supervisor's own mount
     * namespace without the cgroup2 mount of a hybrid host, where it runs */
    runtimes_opts_t ro = {.oci_runtime = oci_runtime, .crun_hybrid_ok = true};
    if (runtimes_detect(&ro, &cfg.runtimes, &err) < 0)
        goto bad;
    if (discover)
        return print_inventory(nvml_lib, ngpus, gpu_type, &cfg.runtimes);
    if (!cfg.server) {
        fprintf(stderr, "gantry agent: --server URL is required (or set GANTRY_SERVER)\n");
        return 2;
    }
    gt_transport_from_env(&cfg.transport);
    gt_urllist_t servers;
    if (gt_urllist_parse(cfg.server, &servers, &err) < 0) {
        fprintf(stderr, "gantry agent: --server: %s\n", err.msg);
        return 2;
    }
    for (size_t i = 0; i < servers.n; i++) /* several: the servers of one cluster (docs/ha.md) */
        if (gt_transport_check(servers.urls[i], &cfg.transport, &err) < 0) {
            fprintf(stderr, "gantry agent: %s\n", err.msg);
            gt_urllist_free(&servers);
            return 2;
        }
    gt_urllist_free(&servers);
    char host[256];
    if (!cfg.name) {
        if (gethostname(host, sizeof(host)) < 0)
            snprintf(host, sizeof(host), "node");
        host[sizeof(host) - 1] = '\0';
        cfg.name = host;
    }
    if (gt_node_name_check(cfg.name, &err) < 0) {
        /* The server would refuse it: say so now (the default is the host name). */
        fprintf(stderr, "gantry agent: %s; give one with --name\n", err.msg);
        return 2;
    }
    if (!cfg.state_dir)
        cfg.state_dir = geteuid() == 0 ? "/var/lib/gantry/agent" : "gantry-agent";
    if (geteuid() == 0 && !strcmp(cfg.state_dir, "/var/lib/gantry/agent")) {
        /* Others may pass through to their jobs' checkpoints, never list it. */
        mkdir("/var/lib/gantry", 0711);
        if (tighten("/var/lib/gantry", true, 0711, &err) < 0)
            goto bad;
    }
    static char *image_cache; /* absolute: supervisors run elsewhere; lives as the process */
    if (!(image_cache = image_cache_path(cfg.state_dir, cfg.image_cache, &err)))
        goto bad;
    cfg.image_cache = image_cache;
    char rt_line[1024];
    say("%s", runtimes_describe(&cfg.runtimes, rt_line, sizeof(rt_line)));
    if (!cfg.cpus_milli)
        cfg.cpus_milli = sysconf(_SC_NPROCESSORS_ONLN) * 1000;
    if (!cfg.memory_mib)
        cfg.memory_mib = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) >> 20;
    gt_buf_t parent = {0};
    if (cg_parent)
        gt_buf_printf(&parent, "%s", cg_parent);
    else
        gt_buf_printf(&parent, "gantry/%s", cfg.name);
    cfg.cgroup.parent = parent.data;

    gpu_inventory_t *inv = NULL;
    if (ngpus >= 0) {
        if (gpu_declare((int)ngpus, gpu_type, &inv, &err) < 0)
            goto bad;
    } else if (gpu_discover(nvml_lib, &inv, &err) < 0) {
        fprintf(stderr, "gantry agent: %s\n", err.msg);
        gt_buf_free(&parent);
        return 1;
    } else if (gpu_type) {
        free(inv->type);
        inv->type = xstrdup(gpu_type);
    }
    cfg.gpus = inv;

    if (cfg.cgroups) {
        /* Fail now, not at the first job, if cgroups (and the device filter) cannot be used
         * here. */
        cgroup_limits_t lim = {.restrict_devices = cfg.device_cgroup};
        cgroup_t *probe = cgroup_create(&cfg.cgroup, "probe", &lim, &err);
        if (!probe) {
            fprintf(stderr, "gantry agent: cannot use cgroups: %s; run as root, give "
                            "--cgroup-root, pass --no-device-cgroup to leave device access "
                            "open, or --no-cgroups to run jobs without limits\n",
                    err.msg);
            gpu_inventory_free(inv);
            gt_buf_free(&parent);
            return 1;
        }
        cfg.cgroup.version = cgroup_version(probe); /* not detected again for every job */
        if (cfg.device_cgroup && !cgroup_devices_enforced(probe))
            say("GPU device access is not restricted by cgroup under %s (v1 without the devices "
                "controller, or a v2 tree that is not a cgroup2 file system); jobs see only "
                "their GPUs through CUDA_VISIBLE_DEVICES.", cfg.cgroup.root);
        cgroup_destroy(probe);
    }
    char *lpath = launcher_path();
    if (lpath) {
        cfg.launcher = launcher_start(lpath, cfg.job_user, &err);
        if (!cfg.launcher)
            say("%s; jobs' supervisors are forked from the agent.", err.msg);
        free(lpath);
    } else {
        say("no gantry-launcher beside this binary (or in GANTRY_LAUNCHER): jobs' supervisors "
            "are forked from the agent, which costs more per job.");
    }
    int rc = agent_run(&cfg, &err);
    launcher_stop(cfg.launcher);
    if (rc < 0)
        fprintf(stderr, "gantry agent: %s\n", err.msg);
    gpu_inventory_free(inv);
    gt_buf_free(&parent);
    return rc < 0 ? 1 : 0;
bad:
    fprintf(stderr, "gantry agent: %s\n", err.msg);
    return 2;
}
