/* server.h: the controller's in-memory state, shared by its files (not a public API).
 *
 * One mutex (srv->mu) guards everything below it: jobs, nodes, teams and the scheduler core.
 * Two kinds of writes (store.h). A client's change (submission, cancel, team, token, user) is
 * prepared under mu (ids and keys reserved), queued with store_enqueue_client(), committed
 * with mu released, and applied to memory only then, re-checking under mu what may have
 * changed (http_resp_t.apply for a parked submission); a refused commit leaves memory as it
 * was. A change that already happened (a start, an agent's report, a lost node) changes memory
 * under mu and queues its kept write while still holding it (so the store sees changes in the
 * order memory did); nothing outside acts on it before it is durable. Long work (an array's
 * documents) is done outside mu, and an array enters memory in batches. srv->changed is
 * broadcast on changes in general; a node's long polls wait on its own node_t.work
 * (server_node_wake), so that waking them costs the same with 10 nodes or 2,000; srv->kick
 * wakes the scheduler thread. */
#ifndef GANTRY_SERVER_H
#define GANTRY_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/lease.h"
#include "common/util.h"
#include "sched/sched.h"
#include "server/auth.h"
#include "server/job.h"
#include "server/store.h"

#define SERVER_MAX_BODY (1024 * 1024)
/* GPU-type slots of the scheduler (SCHED_MAX_GPU_TYPES) that only an admin (or the
 * configuration) may fill: agents' registrations stop short of them. */
#define SERVER_GPU_TYPES_RESERVED 16
/* The most output one log chunk may carry (the agent sends at most 64 KiB). */
#define SERVER_LOG_CHUNK_MAX (256 * 1024)
/* Heartbeats reconcile a node's jobs only after this many heartbeat periods since a placement
 * or a handout of tasks to it (a start may be on its way). */
#define SERVER_RECONCILE_GRACE_HB 2

struct MHD_Daemon;
struct MHD_Connection;
struct gate_index;
struct conn_guard;
struct events;
struct series;
struct metrics;

/* Limits against abuse of the HTTP API (gantry server flags; defaults in server.c). */
typedef struct server_limits {
    unsigned max_connections;       /* open connections in all (--max-connections) */
    unsigned per_address;           /* from one client address; 0 = no limit */
    unsigned connection_timeout_s;  /* idle connection, not parked; 0 = none */
    unsigned header_timeout_s;      /* a whole request header, from connect or last answer */
    unsigned body_timeout_s;        /* a whole body, from its header */
    size_t body_memory;             /* request bodies held at once, all connections */
} server_limits_t;

typedef struct node {
    char *name;
    json_t *info;            /* the last register body, without "running" */
    char *address;
    int64_t epoch;
    double last_seen;        /* wall clock of the last register/heartbeat/report */
    double heard;            /* the same on gt_monotonic_s(), moved on by the server's own
                                stalls: the lost-node timeout counts from it */
    bool up;
    int sched_idx;           /* -1 until added to the scheduler */
    json_t *tasks;           /* queued tasks not yet handed out (array) */
    uint64_t tasks_ticket;   /* store ticket the queued tasks depend on */
    json_t *gpu_stats;       /* last heartbeat's "gpus" */
    json_t *volumes;         /* lineage.c: the volumes' paths its heartbeats say it has (an
                                array; NULL: its agent does not say) */
    json_t *gpu_jobs;        /* gpu_use.c: per entry of gpu_stats, the jobs holding that GPU at
                                that heartbeat: [[{job_id, memory_used_mib}], ...] */
    uint64_t tasks_seq;      /* numbers the work answers that carry tasks (starts at the wall
                                clock in microseconds: higher than any an earlier server gave) */
    double tasks_out_at;     /* when tasks were last handed out (a start may still be on its
                                way to the node's supervisors) */
    pthread_cond_t work;     /* the node's long polls wait here (with mu): server_node_wake */
    bool wake_queued;        /* in srv->to_wake */
    double freed_at;         /* server_now() of the first end on the node that freed resources
                                since its last start (0: none): the dispatch breakdown's
                                gantry_dispatch_pass_wait_seconds */
} node_t;

typedef struct team {
    char *name, *parent;
    double weight;
    int64_t quota_milli, limit_milli;   /* all types; limit -1 = none */
    int sched_idx;
} team_t;

typedef struct pclass {
    char *name;
    int value;
    bool preemptible;
    bool idle_requeue;       /* idle_action: requeue (gpu_use.c) */
    int64_t session_idle_s;  /* attach.c: an interactive session idle this long ends; 0 never */
} pclass_t;

typedef struct server {
    pthread_mutex_t mu;
    pthread_cond_t changed, kick;
    bool kicked, stopping;
    bool in_pass;            /* run_cycle applies decisions: node wakeups wait for its end */
    struct node **to_wake;   /* nodes given tasks by the pass: woken once mu is let go */
    size_t nto_wake, to_wake_cap;
    bool tls;                /* serves HTTPS with the pair in server/tls.c */
    char *data_dir;
    char *store_where;       /* the store: a postgresql:// URL (--store, the config's store:),
                                or data_dir (SQLite) */
    store_t *store;
    auth_t *auth;
    sched_t *sched;
    sched_time_t sched_now;
    int heartbeat_s;
    lease_params_t lease;    /* nodes' lease, fence grace, lost-node timeout (common/lease.h) */
    double idle_threshold;   /* gpu_use.c: a job is idle while its GPUs are all under this */
    int64_t idle_after_s;    /* for this long */

    job_t **jobs;            /* by id: jobs[id], jobs[0] unused */
    size_t jobs_cap;
    uint64_t next_id;
    node_t **nodes;
    size_t nnodes, nodes_cap;
    node_t **node_index;     /* server_node's hash table by name (open addressing, a power of
                                two at least twice nnodes): a lookup per request costs the same
                                with 10 nodes or 2,000 */
    size_t node_index_cap;
    team_t *teams;
    size_t nteams, teams_cap;
    pclass_t *classes;
    size_t nclasses;
    char *default_class;
    uint64_t log_seq;        /* bumped on every appended log chunk */
    json_t *users;           /* users.c: user -> {unix_user, team, allow_system_account,
                                source: config|api}: the configuration's, then the API's */
    json_t *config_users;    /* the configuration's alone (a deleted API mapping reverts) */
    pthread_mutex_t users_mu;  /* users.c: one mapping change at a time, from its store write to
                                  its change in memory (taken before mu) */
    /* envs.c: name -> volume / software stack (envspec.h's normalized forms with "source":
     * config|api), in order (configuration, then set at run time); the configuration's alone
     * (a deleted API entry reverts to it); one change at a time (taken before mu). */
    json_t *volumes, *config_volumes;
    json_t *environments, *config_environments;
    json_t *image_paths;     /* the configuration's image_paths:, or NULL (anywhere) */
    json_t *partitions;      /* partitions.c: the configuration's partitions: (config.h form) */
    pthread_mutex_t envs_mu;
    /* api_nodectl.c: node name -> its admin state ({state: drain|cordon, reason, by, since};
     * absent: schedulable), window name -> maintenance window ({nodes, start, duration, end,
     * by, created}); one change at a time (taken before mu). */
    json_t *node_admin, *maintenance;
    pthread_mutex_t nodectl_mu;
    /* http.c: connections parked (suspended) until a commit, a long poll's answer or a log
     * chunk; counted so that shutdown stops libmicrohttpd only once none is left. */
    pthread_mutex_t park_mu;
    pthread_cond_t park_cond;
    size_t parked;
    struct MHD_Connection **follows;     /* log follows waiting for output */
    size_t nfollows, follows_cap;
    bool park_closed;        /* shutdown: no more parking */
    server_limits_t limits;
    struct conn_guard *guard;        /* http.c: phase deadlines and the body budget */
    int64_t retention_s;             /* finished jobs are purged this long after their end; 0 =
                                        kept for ever */
    struct retention *retention;     /* retention.c: purging, and the usage kept in aggregate */
    struct series *series;           /* series.c: the server's own time series */
    int64_t series_interval_s, series_retention_s;
    struct gate_index *gate; /* job_gate.c: arrays' and names' counts, jobs waiting on others */
    struct events *events;   /* events.c: numbering and the ring of the latest job events */
    struct metrics *metrics; /* metrics.h: counters and histograms (its own lock) */
    struct services *services; /* services.c: the services' records (services.h) */
    struct tracking *tracking; /* tracking.h: jobs' metrics under DATA/metrics, job tokens */
    struct lineage *lineage; /* lineage.c: hash requests waiting for their node */
    struct attach *attach;   /* attach.c: sessions relayed through the server */
    json_t *idem;            /* "LEN:scopekey" -> first job id with that Idempotency-Key (a
                                hash table: a retried submission is found in O(1)); the scope
                                is the submitting token's id */
    /* artifacts.h: the registry (its own store tables) and the blob store under DATA/blobs;
     * teams' storage quotas from the configuration (team -> bytes; absent: none) */
    struct artifacts *artifacts;
    struct blobs *blobs;
    json_t *storage_quotas;
    int64_t upload_expiry_s; /* unfinished uploads idle this long are dropped (blobs.h); 0: never */
    struct leader *leader;   /* leader.h: the lease when servers share the store; NULL alone */
    uint64_t leader_epoch;   /* its epoch (0: alone): in agents' answers, fencing old tasks */
} server_t;

/* ---- server.c: lifecycle ---- */
typedef struct server_opts {
    const char *config;      /* cluster YAML, or NULL */
    const char *data;        /* data directory (store, logs, admin.token) */
    const char *store;       /* the store's location (a postgresql:// URL), or NULL: the
                                config's store:, else SQLite under data */
    int heartbeat_s;         /* agents' heartbeat; <= 0: 5 */
    int64_t upload_expiry_s; /* --upload-expiry: an unfinished artifact upload no byte reached
                                for this long is dropped; 0: never; < 0: 24 h (blobs.h) */
    int64_t retention_s;     /* finished jobs kept this long; 0 = for ever, < 0 = the config's
                                retention: or 30 days */
    server_limits_t limits;  /* for http_serve */
    bool tls;                /* the TLS pair is loaded (server/tls.h) */
    int64_t series_interval_s; /* the time series' interval (series.h); 0: the config's, or 1 min */
    const char *advertise;   /* several servers on one store (leader.h): this one's URL; NULL:
                                alone, no lease */
    int64_t lease_ms;        /* the leader's lease (leader.h) */
} server_opts_t;
/* Builds the server's state from the configuration and the store under o->data (creating it
 * on a first start, refusing an empty or damaged one): teams, tokens, users, nodes, jobs, the
 * scheduler. Starts no thread but the store's committer and serves nothing: the caller runs
 * server_sched_main (or server_cycle) and http_serve. 0 and *out, or -1 with err. */
int server_open(const server_opts_t *o, server_t **out, gt_error_t *err);
/* Commits what is queued and frees everything; the caller stopped its threads. Accepts NULL. */
void server_close(server_t *srv);
/* The scheduler thread: a cycle on each kick (spaced under bursts), lost-node checks; returns
 * once srv->stopping is set. */
void *server_sched_main(void *srv);
/* One scheduling cycle now, applying its decisions (takes mu): for drivers without the thread
 * (the fuzz harness). */
void server_cycle(server_t *srv);

/* ---- server.c ---- */
double server_now(void);
job_t *server_job(server_t *srv, uint64_t id);          /* NULL when unknown */
void server_jobs_reserve(server_t *srv, uint64_t id);  /* jobs[id] exists (NULL-filled) */
/* Gives a pending job to the scheduler once its gate (job_gate.c) lets it through; a job the
 * gate holds back stays pending outside it (server_gate_wait), and one the gate says never to
 * is cancelled (dependency_failed); both return 0 (-1 with err: the scheduler refused the job).
 * server_admit also gives the store ticket of a change it made (0: none). Caller holds mu. */
int server_enter_sched(server_t *srv, job_t *j, gt_error_t *err);
int server_admit(server_t *srv, job_t *j, uint64_t *ticket, gt_error_t *err);
/* Takes a pending job out of the scheduler (held, say): it waits outside until
 * server_enter_sched() again; the jobs it held back are re-examined. Caller holds mu. Returns
 * the store ticket (0: none). */
uint64_t server_leave_sched(server_t *srv, job_t *j);

/* ---- job_gate.c: what keeps a pending job out of the scheduler ----
 * A pending job enters the scheduler only when nothing outside scheduling holds it back, each
 * rule one check in server_job_gate(): a hold (gantry hold: reason "held"), its dependencies
 * ([{type: afterok|afterany|afternotok,
 * job}]; an array's id stands for all its tasks), singleton (reason "singleton": another job of
 * its name and user is active), its array's throttle ("array_throttle": %N tasks active). A job
 * is active from its entry into the scheduler to its end: server.c reports both
 * (server_gate_entered, server_gate_left), as must any code that changes in_sched. A rule
 * whose condition may change when another job changes is re-examined by
 * server_gate_recheck(). Caller holds mu for all. */
typedef enum gate {
    GATE_READY,              /* it may enter the scheduler now */
    GATE_WAIT,               /* not yet: why says why */
    GATE_NEVER,              /* never: a dependency can no longer be met */
} gate_t;
typedef struct gate_why {
    const char *reason;      /* short name for pending_reason ("dependency", "singleton",
                                "array_throttle"); static */
    const char *message;     /* a sentence for pending_message; static */
} gate_why_t;
gate_t server_job_gate(server_t *srv, const job_t *j, gate_why_t *why);
/* j, pending outside the scheduler, waits for why (server_job_gate's): recorded where the
 * change that may release it looks (its array's throttle, or the list of jobs waiting on
 * others). */
void server_gate_wait(server_t *srv, job_t *j, const gate_why_t *why);
/* j entered the scheduler (pending, or restored running): it is active. */
void server_gate_entered(server_t *srv, job_t *j);
/* j is no longer active (was_active: it was) or ended (ended: it reached an end state). */
void server_gate_left(server_t *srv, job_t *j, bool was_active, bool ended);
/* After changed changed (it ended, or left the scheduler): the jobs waiting on it that the gate
 * now lets through enter the scheduler, its array's next tasks as its throttle allows; one the
 * gate says NEVER to is cancelled (dependency_failed). Returns the last store ticket (0 when
 * nothing changed). */
uint64_t server_gate_recheck(server_t *srv, job_t *changed);
/* An array's tasks are entering memory (a submission, between its first and last batch, first
 * its first task): a dependency on it waits meanwhile. */
void server_gate_array_loading(server_t *srv, const job_t *first, bool loading);
/* Whether j is an array's first task (its id is the array's id). */
bool server_job_is_array(server_t *srv, const job_t *j);
/* The ids a dependency ({type, job}) stands for: first .. first + n - 1 (a job alone, or an
 * array's tasks; n 0 when it is gone). */
void server_gate_dep_targets(server_t *srv, const json_t *dep, uint64_t *first, uint64_t *n);
/* The job a reference names: "N" job N, "N_M" array N's task with index M; NULL when none (or
 * the reference is malformed). */
job_t *server_job_ref(server_t *srv, const char *ref);
/* At submission: j's dependencies name jobs who may see ("12" or "12_3" strings become ids);
 * -1 (EINVAL) with err "dependencies: job N does not exist" otherwise (one who may not see is
 * told the same). */
int server_gate_deps_resolve(server_t *srv, const auth_principal_t *who, job_t *j,
                             gt_error_t *err);
void server_gate_free(server_t *srv);
node_t *server_node_add(server_t *srv, const char *name, json_t *info, gt_error_t *err);
/* The scheduler's features of a node from its register body: SCHED_FEATURE_OCI when its
 * "runtimes" include "oci" (a node without the field runs plain processes only). */
uint32_t server_node_features(const json_t *info);
void server_node_lost(server_t *srv, node_t *n, const char *why);
/* The server heard from n (register, heartbeat, report): its silence starts again. Caller
 * holds mu. */
void server_node_heard(node_t *n);
/* Wakes n's long polls (GET /v1/agent/work): tasks were queued for it, its epoch changed, it
 * was declared lost. Only n's: a change elsewhere wakes no other node's poll, so the cost of
 * a heartbeat or a start does not grow with the number of nodes. Caller holds mu. */
void server_node_wake(node_t *n);
/* True when the server starts j again elsewhere if it loses j's node (its own requeue: true,
 * or, when it gave none, a preemptible class or checkpointable; requeue: false never): such a
 * job is fenced by its node (the start task's "fence"). */
bool server_job_requeues(server_t *srv, const job_t *j);
/* j no longer runs on node n (n lost, or n's fence stopped it): the job's other nodes stop
 * their copies, and j returns to the queue if it may, else fails node_lost (the message says
 * why); a service's replica the service no longer wants ends cancelled instead
 * (services_replica_end_unwanted). Caller holds mu. Returns the store ticket. */
uint64_t server_job_lost(server_t *srv, job_t *j, node_t *n, const char *why);
/* A job that exited by itself but must run again (a service's replica): its other nodes stop
 * their copies (except on n, which may be NULL), the event "requeued" records detail (stolen),
 * and it returns to the queue (why for the log). Caller holds mu. Returns the store ticket. */
uint64_t server_job_restart(server_t *srv, job_t *j, node_t *n, const char *why, json_t *detail);
team_t *server_team_add(server_t *srv, const char *name, const char *parent, double weight,
                        int64_t quota, int64_t limit, gt_error_t *err);
sched_time_t server_sched_clock(server_t *srv);
team_t *server_team(server_t *srv, const char *name);
node_t *server_node(server_t *srv, const char *name);
/* The job an agent's list entry e names (its "job" or "job_id", and "incarnation"), when that
 * is the job's current incarnation running on n; else NULL. Caller holds mu. */
job_t *server_node_entry_job(server_t *srv, node_t *n, json_t *e);
pclass_t *server_class(server_t *srv, const char *name);
/* The job submitted through the token with id scope with Idempotency-Key key, or NULL (keys
 * are scoped to the token: another token, even of a user with the same name, never sees the
 * job); server_idem_add() records j's key (the first job with a key keeps it; a job stored
 * without a scope, before keys were scoped, is never matched). Caller holds mu. */
job_t *server_idem_find(server_t *srv, const char *scope, const char *key);
void server_idem_add(server_t *srv, const job_t *j);
/* A submission's key while its commit is in flight (store.h: memory changes after the
 * commit): reserve maps it to the first job id to come, pending tells whether it is in flight,
 * settle records it (keep) or drops it (refused). Caller holds mu. */
void server_idem_reserve(server_t *srv, const char *scope, const char *key, uint64_t first);
bool server_idem_pending(server_t *srv, const char *scope, const char *key);
void server_idem_settle(server_t *srv, const char *scope, const char *key, bool keep);
/* Queues a job's current document as a kept change (store.h); returns the store ticket.
 * Caller holds mu. */
uint64_t server_save_job(server_t *srv, const job_t *j);
/* The document the store keeps for j (free it); and the one it would have once ended with
 * state st and reason (as server_finish_job() would; j is not changed). */
char *server_job_doc(const job_t *j);
char *server_job_doc_ended(const job_t *j, job_state_t st, const char *reason);
/* The checks the scheduler makes when j enters it (team, class, shape), without entering,
 * and whether j could ever run (sched_job_feasible: its team's limits, the cluster's nodes):
 * -1 with err (invalid_argument, or unsatisfiable with the numbers). Caller holds mu. */
int server_check_job(server_t *srv, const job_t *j, gt_error_t *err);
void server_kick(server_t *srv);                         /* caller holds mu */
/* Queues task (consumed) for node n's next work answer, handed out once ticket (0: none) is
 * durable. Caller holds mu. */
void server_queue_task(server_t *srv, node_t *n, json_t *task, uint64_t ticket);
/* Ends a job (running or pending) in a terminal state with reason and an optional message (a
 * sentence, copied; NULL for none); frees its resources in the scheduler; releases jobs that
 * depended on it. Caller holds mu. Returns the last ticket. */
uint64_t server_finish_job(server_t *srv, job_t *j, job_state_t st, const char *reason,
                           const char *message, int exit_code, int exit_signal);
/* The same, with what else the end's event (events.h) records: detail (stolen, may be NULL),
 * e.g. {"by": user} of a cancel, {"node": name} of an exit. An end records one event: finished,
 * cancelled, oom, time_limit or failed (none when j had ended already). */
uint64_t server_end_job(server_t *srv, job_t *j, job_state_t st, const char *reason,
                        const char *message, int exit_code, int exit_signal, json_t *detail);
/* A job cancelled while it ran keeps its resources (and its place in its array's throttle and
 * its singleton name) while it stops; its processes are gone now (every rank reported, its
 * node was lost or shrank under it): frees them in the scheduler, lets in the jobs that waited
 * for them, saves it. Nothing when it is not stopping. Caller holds mu. Returns the last ticket. */
uint64_t server_cancelled_gone(server_t *srv, job_t *j);
/* Asks a running job's nodes to stop it as a preemption does (its checkpoint signal and
 * grace): it is stopping, holds its GPUs until its processes are gone, then returns to the
 * queue (server_requeue_job). The stop tasks go out once ticket is durable. Caller holds mu. */
void server_stop_to_requeue(server_t *srv, job_t *j, uint64_t ticket);
/* Sends a running job back to the queue (preempted, node lost); one its gate holds back now
 * (held while it ran) leaves the scheduler. Caller holds mu. */
uint64_t server_requeue_job(server_t *srv, job_t *j, const char *why);
/* The job's pending reason and estimated start as JSON fields added to o. Caller holds mu. */
void server_job_annotate(server_t *srv, const job_t *j, json_t *o);
bool server_class_preemptible(server_t *srv, const char *name);

/* Forgets j's Idempotency-Key (a purged job). Caller holds mu. */
void server_idem_remove(server_t *srv, const job_t *j);

/* ---- retention.c ---- */
typedef struct retention retention_t;
/* Loads the usage aggregate from the store (before the server serves). 0, or -1 with err. */
int retention_load(server_t *srv, gt_error_t *err);
/* Starts the thread that purges, every tenth of srv->retention_s (1 s to 10 min), finished jobs
 * whose end is older than it (none when 0); retention_stop() joins it; retention_free() also
 * frees the aggregate. */
int retention_start(server_t *srv, gt_error_t *err);
void retention_stop(server_t *srv);
void retention_free(server_t *srv);
/* One purge pass (caller holds mu): up to 1000 finished jobs that ended before cutoff, not
 * named in the dependencies of a job that has not ended, are added to the aggregate and deleted, in
 * one store batch, and only once it is durable from memory and their logs. *purged = how many.
 * -1 with err when the store failed (nothing changed in memory). */
int retention_purge(server_t *srv, double cutoff, size_t *purged, gt_error_t *err);
/* Jobs purged since the server started. Caller holds mu. */
uint64_t retention_purged(server_t *srv);
/* GPU-seconds of j's runs inside [t0, t1] (the current run ends at now if it runs on). */
double usage_job_gpu_s(const job_t *j, double t0, double t1, double now);
/* Adds to acc's row k ({by: k, "gpu_hours", "jobs"}; by is "team", "user", "class" or
 * "job"); returns the row (owned by acc) for the caller to add fields to. */
json_t *usage_row_add(json_t *acc, const char *by, const char *k, double gpu_s, int64_t jobs);
/* Adds the purged jobs' usage inside [t0, t1] that who may see: whole days exactly, a day cut
 * by the window pro rata. The aggregate knows teams and users: by "class" or "job", it goes
 * to one row keyed "(purged)". Caller holds mu. */
void retention_usage(server_t *srv, json_t *acc, const auth_principal_t *who, const char *by,
                     double t0, double t1);
/* api_logs.c: the path of the log of job id's run inc, of its node of rank rank (0, the only
 * one of a single-node job: ID.INC.STREAM; R > 0: ID.INC.STREAM.R). api_log_path is rank 0. */
void api_log_path(server_t *srv, uint64_t id, int inc, const char *stream, char *buf,
                  size_t len);
void api_log_rank_path(server_t *srv, uint64_t id, int inc, int rank, const char *stream,
                       char *buf, size_t len);
/* The nodes of j's run inc in rank order (from its slots while that run is the current one,
 * else from earlier_runs): how many (0: not known, e.g. a run requeued before it started), the
 * name of rank r (borrowed from j, NULL when unknown), and node's rank (-1 when it did not run
 * it). Caller holds mu. */
int api_log_run_count(const job_t *j, int inc);
const char *api_log_run_node(const job_t *j, int inc, int rank);
int api_log_node_rank(const job_t *j, int inc, const char *node);

/* ---- users.c: the administrator's mapping of users (caller holds mu, but at start) ---- */
/* Fills srv->users and srv->config_users from the configuration's users: (cfg may be NULL). */
void server_users_from_config(server_t *srv, const gt_config_t *cfg);
/* A mapping stored through the API (it overrides the configuration's); -1 when not valid. */
int server_user_stored(server_t *srv, const char *name, const char *doc);
/* The Unix account a user's jobs run as: its mapping's, else the user's own name. */
const char *server_unix_user(server_t *srv, const char *user);
/* Whether the administrator allowed the user's jobs to run as root or a system account
 * (uid < 1000); false for an unmapped user. */
bool server_user_allows_system(server_t *srv, const char *user);
/* The team the administrator mapped the user to, or NULL. */
const char *server_user_team(server_t *srv, const char *user);

/* ---- partitions.c: a job's partition (sbatch -p), through the configuration ---- */
/* Keeps the configuration's partitions: (cfg may be NULL) and interns their GPU types in the
 * scheduler (a job may ask for one before any node of it registers). */
void server_partitions_from_config(server_t *srv, const gt_config_t *cfg);
/* Resolves j's partition (none: nothing to do): its gpu_type and priority_class where j gives
 * none (the job's own fields win). 0, or -1 (EINVAL) with err naming the known partitions when
 * it is not one. Caller holds mu. */
int server_job_resolve_partition(server_t *srv, job_t *j, gt_error_t *err);

/* ---- envs.c: volumes and software stacks (docs/environments.md) ---- */
/* Fills the settings from the configuration's volumes: and environments: (cfg may be NULL). */
void server_envs_from_config(server_t *srv, const gt_config_t *cfg);
/* Adds those set at run time from the store (they override the configuration's). */
int server_envs_load(server_t *srv, gt_error_t *err);
void server_envs_free(server_t *srv);
/* At submission (caller holds mu): resolves j's environment into its own fields (the job's
 * image, env and mounts add to the stack's or override them; j->environment keeps the name)
 * and checks its mounts: each volume exists, j's team may use it, read_only: false never on a
 * read-only volume; read_only is filled from the volume where absent; a local image of the job's
 * own (not its stack's) lies under the configuration's image_paths: when it has one. 0, or -1 (EINVAL) with
 * err naming the environment or volume (j is then half-resolved: the caller frees it). */
int server_job_resolve_env(server_t *srv, job_t *j, gt_error_t *err);
/* At start (caller holds mu): adds to a start task's job object its image, its mounts with
 * the volumes' host paths, network, output_dir (<output volume>/<team>/<id>) and scratch_root
 * (docs/agent-protocol.md). -1 with err when a volume it mounts was removed, closed to its
 * team or made read-only since its submission (the job cannot start as asked). */
int server_job_start_env(server_t *srv, const job_t *j, json_t *task, gt_error_t *err);

/* ---- api_nodectl.c: drain, cordon and maintenance windows (caller holds mu, but at load) ----
 * Loads the admin states and windows from the store and applies them to the nodes known (after
 * the nodes are loaded). 0, or -1 with err. */
int server_nodectl_load(server_t *srv, gt_error_t *err);
void server_nodectl_free(server_t *srv);
/* A node new to the scheduler (an agent's first registration) gets its admin state and its
 * windows, kept by name. */
void server_nodectl_node_added(server_t *srv, node_t *n);
/* Sets a node view's state (draining|drained|cordoned while it is up and an admin took it
 * out; jobs: running there), schedulable, drain_reason, maintenance (windows not yet ended). */
void server_nodectl_view(server_t *srv, const node_t *n, int jobs, json_t *o);

/* ---- http.c: the request a handler sees ---- */
/* What an unauthenticated request presented (its 401 says which). */
typedef enum http_token {
    HTTP_TOKEN_NONE,         /* no Authorization header */
    HTTP_TOKEN_NOT_BEARER,   /* a header of another scheme */
    HTTP_TOKEN_UNKNOWN,      /* a bearer token the server does not know (or revoked) */
    HTTP_TOKEN_EXPIRED,      /* a known token past its expiry */
} http_token_t;

typedef struct http_req {
    const char *method;
    const char *path;
    struct MHD_Connection *conn;
    const char *body;
    size_t body_len;
    auth_principal_t who;
    bool authed;
    http_token_t token;      /* when !authed: what it presented */
} http_req_t;

typedef struct http_resp {
    int status;
    json_t *json;            /* the body (stolen) */
    /* Streaming (log follow): a reader called until it returns -1. */
    void *stream;
    ssize_t (*stream_read)(void *cls, uint64_t pos, char *buf, size_t max);
    void (*stream_free)(void *cls);   /* stream_read: >0 bytes, 0 nothing yet (follow), -1 end */
    const char *content_type;
    char *text;              /* plain body (freed) */
    char *body;              /* any bytes (freed; a service's answer: services.h), with their
                                length and Content-Type ("" for none) */
    size_t body_len;
    char body_type[128];
    /* A static body (an embedded file: api_web.c), not freed, with its headers (each NULL
     * for none); page_headers adds the dashboard's security headers (CSP and others). */
    const void *data;
    size_t data_len;
    const char *content_encoding, *etag, *cache_control, *vary;
    bool page_headers;
    char location[64];
    bool close;              /* answer with Connection: close (the server is stopping) */
    uint64_t ticket;         /* answer once this store ticket is durable (0: at once); a failed
                                commit turns the answer into a 503 */
    /* A client's change committed before memory has it (store.h): called exactly once, after
     * the commit of ticket settled, with rc 0 (apply the change to memory under mu and fill
     * the answer) or -1 and err (refused: undo reservations, fill the 503 from err); also when
     * the client left meanwhile (the answer is then dropped). apply_arg is its own to free. */
    void (*apply)(server_t *srv, struct http_resp *resp, int rc, const gt_error_t *err);
    void *apply_arg;
    /* A file's bytes as the body (a blob download: api_artifacts.c): libmicrohttpd sends
     * file_size bytes from file_fd and closes it. */
    bool has_file;
    int file_fd;
    uint64_t file_size;
    uint64_t file_offset;    /* from this byte of the file (a Range request: status 206) */
    char content_range[96];  /* its Content-Range header ("" for none) */
    /* An upgrade (attach.h): answered 101 with "Upgrade: upgrade_proto"; then upgrade(srv,
     * upgrade_arg, fd, extra, n, urh) owns the connection's socket (closed through urh). */
    const char *upgrade_proto;
    void (*upgrade)(server_t *srv, void *arg, int fd, const char *extra, size_t n, void *urh);
    void *upgrade_arg;
} http_resp_t;

const char *http_query(const http_req_t *r, const char *key);
const char *http_header(const http_req_t *r, const char *key);
/* Fills resp with {"error": {...}} and status; returns 0 for handlers to return. */
int http_error(http_resp_t *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int http_error_from(http_resp_t *resp, int status, const gt_error_t *err);
/* Parses the body as JSON object; on failure fills a 400 and returns NULL. */
json_t *http_body_json(const http_req_t *r, http_resp_t *resp);
int http_serve(server_t *srv, const char *listen, struct MHD_Daemon **out, gt_error_t *err);
/* Resumes the log follows parked for output (after a chunk, on a timer, at shutdown). */
void http_wake_follows(server_t *srv);
/* Shutdown: ends every follow, waits (up to 2 s) until no connection is parked. */
void http_unpark_all(server_t *srv);

/* ---- node_auth.c: node identity (docs/agent-protocol.md) ---- */
/* 0 when req's principal may act as node name (agent calls naming it); else -1 with a 403 in
 * resp that tells nothing about that node. */
int node_auth_check(const http_req_t *req, const char *name, http_resp_t *resp);
/* Before a registration of name (caller holds mu): 0 when req's principal may register it
 * with this body (a join token: a name without a credential, or the node retrying with the
 * credential it proposed; a node credential: its own name; a GPU type new to the scheduler
 * only outside the slots kept for the admin); else -1 with the answer in resp. */
int node_auth_may_register(server_t *srv, const http_req_t *req, const char *name, json_t *body,
                           http_resp_t *resp);
/* After it (caller holds mu): binds the node's credential when it has none (the body's
 * "node_token" proposal, else a new one) and writes it into tok (the register answer's
 * node_token; "" when none is to be sent). Returns the store ticket of the binding (0: none). */
uint64_t node_auth_bind(server_t *srv, const http_req_t *req, const char *name, json_t *body,
                        char tok[68]);
/* Whether req's principal may write incarnation inc of j's log: an admin; a node credential of
 * a node the job is placed on (or, for an earlier incarnation, where that one ran). Caller
 * holds mu. */
bool node_auth_may_log(server_t *srv, const http_req_t *req, const job_t *j, int inc);
/* Revokes node name's credentials (store, then memory): a join token may register it again.
 * Returns how many, or -1 with err when the store fails. */
int node_auth_reset(server_t *srv, const char *name, gt_error_t *err);

/* ---- api_artifacts.c: an upload's body streamed to the blob store (http.c) ----
 * PATCH /v1/artifacts/uploads/ID?offset=N: begin (once the header is in) checks the caller and
 * the offset and returns 0 with *writer set, or -1 with the answer in resp; data is called with
 * each piece of the body as it arrives; end answers ({offset}); abort closes a writer whose
 * connection was cut (what arrived stays: the client resumes from there). */
int api_artifacts_upload_begin(server_t *srv, const http_req_t *req, void **writer,
                               http_resp_t *resp);
void api_artifacts_upload_data(void *writer, const char *data, size_t n);
int api_artifacts_upload_end(server_t *srv, void *writer, http_resp_t *resp);
void api_artifacts_upload_abort(void *writer);

/* ---- routing: each returns 0 when it filled resp ---- */
int api_route(server_t *srv, http_req_t *req, http_resp_t *resp);
int api_jobs(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest);
/* job_filter.c: which jobs a request names by its query (GET /v1/jobs, and requests that act
 * on every job they match): state=S[,S] (or all), team, user, name, selector (labels, as
 * Kubernetes' equality-based selectors: "k=v,k2!=v2,k3,!k4"; k==v is k=v; k!=v also matches a
 * job without k), since/until (the job's end_time in [since, until): a job that has not ended
 * matches neither; RFC 3339, epoch seconds, or timefmt.h's other forms). An absent parameter
 * matches every job. */
typedef enum job_sel_op {
    JOB_SEL_EQ,              /* k=v */
    JOB_SEL_NE,              /* k!=v */
    JOB_SEL_EXISTS,          /* k */
    JOB_SEL_ABSENT,          /* !k */
} job_sel_op_t;
typedef struct job_sel {
    job_sel_op_t op;
    char *key, *value;       /* value NULL for EXISTS / ABSENT */
} job_sel_t;
typedef struct job_filter {
    bool states[5];          /* by job_state_t; all true when no state= */
    const char *team, *user, *name; /* the request's (valid while it lives), or NULL */
    job_sel_t *sel;          /* selector terms, all must hold (owned) */
    size_t nsel;
    double since, until;     /* end_time window; 0: unbounded on that side */
    bool has_since, has_until;
} job_filter_t;
/* Reads req's query into f: 0, or -1 with a 400 (or 403: a team who may not see) in resp (f
 * then holds nothing to free). */
int job_filter_parse(const http_req_t *req, job_filter_t *f, http_resp_t *resp);
/* Adds selector s's terms to f: 0, or -1 (EINVAL) with err saying which term is wrong (f's
 * earlier terms kept; job_filter_free frees them). At most 64 terms. */
int job_selector_parse(const char *s, job_filter_t *f, gt_error_t *err);
bool job_filter_match(const job_filter_t *f, const job_t *j);
/* Frees what parse added (the selector); f may be reused. */
void job_filter_free(job_filter_t *f);
/* api.c: a job as who may see it (a new object; caller holds mu). */
json_t *api_job_view(server_t *srv, const job_t *j, const auth_principal_t *who);
/* api.c: a submission's (or an update's) checks against the cluster: its priority class
 * exists, its GPU types are known, the jobs its dependencies name exist and who may see them
 * (a dependency "N" becomes the id N: server_gate_deps_resolve). Caller holds mu. 0, or -1
 * (EINVAL) with err (invalid_argument). */
int api_job_check(server_t *srv, const auth_principal_t *who, job_t *j, gt_error_t *err);
/* ---- api_jobctl.c: job control ----
 * verb on job j (found and visible to the caller): "cancel" (DELETE), "hold", "release",
 * "requeue" (POST .../VERB; a body {"hold": true} holds it too), "update" (PATCH, the body the
 * fields to change: job_patch). Whoever may cancel a job may control it; a hold by an admin is
 * released only by one. whole_array: j is an array's first task named by the array's id: the
 * verb acts on every task it applies to (cancel: unfinished; hold, update: pending; release:
 * held; requeue: running), answered as {VERBED: [ids], errors: [{id, code,
 * error}], array_id}; one job is answered with its view, or its error. Each change is committed
 * before memory changes (store.h). Caller holds mu; returns with it released. */
int api_job_control(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j,
                    const char *verb, bool whole_array);
/* DELETE /v1/jobs?FILTER (job_filter_t; at least one of its fields): cancels every unfinished
 * job it matches that the caller may cancel: {cancelled: [ids], errors: [...],
 * not_permitted: N (matched jobs the caller sees but may not cancel)}. */
int api_jobs_cancel_matching(server_t *srv, http_req_t *req, http_resp_t *resp);
/* api_logs.c: GET /v1/jobs/{id}/logs of j (caller holds mu; j visible to the caller). */
int api_job_logs(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j);
int api_agents(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest);
/* api_tracking.c (docs/tracking.md): POST /v1/agent/metrics (a chunk of a job's
 * $GANTRY_METRICS file; body consumed by the caller); /v1/jobs/{id}/metrics for j (GET: the
 * series, its summary and invalid lines; POST: points, with the job's own token or an admin's;
 * caller holds mu, returns with it released); every request of a job token
 * (req->who.job_id != 0): only POST /v1/jobs/ITS_ID/metrics is let through. */
int api_agent_metrics(server_t *srv, http_req_t *req, http_resp_t *resp, json_t *body);
int api_job_metrics(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j);
int api_tracking_job_token(server_t *srv, http_req_t *req, http_resp_t *resp);
int api_nodes(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest);
/* api_admin.c: a node as GET /v1/nodes shows it (new reference). Caller holds mu. */
json_t *api_node_json(server_t *srv, node_t *n);
/* api_nodectl.c: POST /v1/nodes/NAME/VERB (drain, cordon, uncordon, resume), and
 * /v1/maintenance[/NAME]. */
int api_node_control(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name,
                     const char *verb);
int api_maintenance(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name);
int api_teams(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest);
int api_usage(server_t *srv, http_req_t *req, http_resp_t *resp);
int api_tokens(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest);
int api_users(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name);
int api_volumes(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name);
int api_environments(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name);
int api_metrics(server_t *srv, http_req_t *req, http_resp_t *resp);
/* api_web.c: the dashboard's embedded files (GET / and /ui/...; no token needed: the data
 * comes from /v1/ with the user's token). true when path is one of its paths (resp filled). */
bool api_web(server_t *srv, http_req_t *req, http_resp_t *resp);
/* GET /v1/whoami: the caller's user, role and team (the dashboard's sign-in). */
int api_whoami(server_t *srv, http_req_t *req, http_resp_t *resp);
/* GET /v1/gpus: the GPU map (docs/api.md): per node its state and each GPU's holder (a job the
 * caller may see, "hidden" for another's), utilization and memory; the visible jobs' team,
 * user and name. */
int api_gpus(server_t *srv, http_req_t *req, http_resp_t *resp);

#endif
