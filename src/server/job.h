/* job.h: a job as the controller keeps it, its validation and its JSON forms.
 *
 * The JSON of job_to_json() is both the API's view of a job and the document the store keeps;
 * job_from_doc() reads it back after a restart. job_parse_request() validates a submission
 * strictly (unknown fields, wrong types, absurd sizes) before anything is stored. */
#ifndef GANTRY_JOB_H
#define GANTRY_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

typedef enum job_state {
    JOB_PENDING,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_FAILED,
    JOB_CANCELLED,
} job_state_t;

/* A job's "requeue": not given (zero: its class's rule, server_job_requeues), true (back to
 * the queue when its node is lost), false (never: it fails node_lost). */
typedef enum job_requeue {
    JOB_REQUEUE_DEFAULT,
    JOB_REQUEUE_YES,
    JOB_REQUEUE_NO,
} job_requeue_t;

/* A job's kind (docs/services.md, docs/interactive.md): a batch job runs to its end; a
 * service's replicas are restarted and served through an endpoint; an interactive session
 * attaches a terminal. Field "kind" ("batch" when absent). */
typedef enum job_kind {
    JOB_KIND_BATCH = 0,
    JOB_KIND_SERVICE,
    JOB_KIND_INTERACTIVE,
} job_kind_t;
/* "batch", "service", "interactive" ("?" when out of range). */
const char *job_kind_name(job_kind_t k);
/* 0 with *out, or -1 (EINVAL) when s is not one of the three names. */
int job_kind_parse(const char *s, job_kind_t *out);

typedef struct job_slot {
    char *node;
    uint64_t gpu_mask;
    int gpu_milli;
    bool done;                  /* this rank's end was applied (memory only) */
    uint64_t task_seq;          /* the node's work answer that carried this rank's start (memory
                                   only; 0: unknown, e.g. restored) */
} job_slot_t;

/* Its GPUs' use from the agents' NVML samples (gpu_use.c): one sample per GPU it holds per
 * heartbeat of its node; and idle detection over its current run. */
typedef struct job_gpu_use {
    int64_t samples;            /* utilization samples */
    double util_sum, util_peak; /* 0..1 */
    int64_t mem_samples;        /* memory samples (NVML may give one without the other) */
    double mem_sum_mib, mem_peak_mib;
    double idle_since;          /* its current run's first sample of a stretch with all its
                                   GPUs under the threshold; 0: not under it */
    int64_t idle_samples;       /* samples of that stretch */
    double idle_util_sum;
    bool idle;                  /* flagged: under the threshold for idle.after */
    json_t *idle_spans;         /* flagged stretches that ended: [[start, end, gpus], ...], or
                                   NULL (the usage report's idle GPU-hours) */
} job_gpu_use_t;

typedef struct job {
    uint64_t id;
    char *name, *team, *user, *prio_class;
    int64_t gpus_milli;
    int nodes;                  /* asked; 0 = let the scheduler choose */
    json_t *gpu_types;          /* array of strings (may be empty) */
    int64_t cpus_milli, memory_mib, time_limit_s;
    json_t *command;            /* non-empty array of strings */
    json_t *env;                /* object of strings */
    char *workdir;
    /* Its environment (docs/environments.md), resolved at submission: the stack's name it came
     * from (or NULL), its image (NULL: a plain process), its mounts ([{volume, sub_path, path,
     * read_only}], volume names the server checked), its network ("host" or "none"). */
    char *environment;
    char *image;
    json_t *mounts;
    char *network;
    char *output, *error;       /* sbatch's -o/-e: path patterns of the node-side copies of its
                                   stdout and stderr (the agent expands them), or NULL */
    char *image_digest;         /* the manifest digest its node ran ("sha256:..."), or NULL */
    bool pulling;               /* its node fetches its image (memory only) */
    int64_t pull_bytes;         /* bytes fetched so far while pulling (memory only) */
    bool fetching;              /* its node fetches its blob-store inputs (memory only) */
    int64_t fetch_bytes, fetch_total; /* their bytes so far, and in all (memory only) */
    char *ckpt_signal;          /* NULL: not checkpointable */
    int64_t ckpt_grace_s;
    json_t *labels;             /* object of strings (job_labels_check), never NULL once made */
    json_t *params;             /* tracking (docs/tracking.md): the run's parameters, an object
                                   of scalars (job_params_check), or NULL when none */
    /* [{type: "afterok"|"afterany"|"afternotok", job: ID}] (after_ok's ids are afterok); a
     * job that is an array's id stands for all its tasks (job_gate.c). */
    json_t *dependencies;
    bool singleton;             /* waits while another job of its name and user is queued or
                                   runs (job_gate.c) */
    int64_t array_id, array_index; /* -1 when not part of an array */
    /* Held (gantry hold, or hold: true at submission): a pending job stays out of the
     * scheduler until released (job_gate.c). held_by names who held it; held_by_admin: an
     * admin or team-admin did, and only one may release it. */
    bool held, held_by_admin;
    char *held_by;
    job_requeue_t requeue;      /* its own rule when its node is lost (field "requeue") */
    char *partition;            /* the partition it was submitted to (resolved at submission
                                   into gpu_type and priority_class), or NULL */
    int64_t array_count;        /* an array's tasks (ids array_id .. array_id + count - 1) */
    int array_throttle;         /* %N: at most N of its tasks in the scheduler at once; 0 none */
    char *idem_key;
    char *idem_scope;           /* id of the token that submitted it with idem_key */
    job_kind_t kind;            /* batch (default), service, interactive */
    /* kind service (docs/services.md). The spec's: replicas wanted (at submission), probes
     * (job_probe_parse's form, or NULL). A replica's: its service's name, its index, the
     * service revision it runs, its restarts in a row (its backoff) and when the next may
     * start (0: now). Memory only: the port its agent gave it (GANTRY_PORT), whether its
     * readiness passes (and since when). */
    int replicas;
    json_t *readiness, *liveness;
    char *service;
    int replica, revision;
    int restarts;
    double restart_at;
    int port;
    bool ready;
    double ready_since;

    job_state_t state;
    double submit_time, start_time, end_time;
    json_t *earlier_runs;       /* runs before a requeue: [{incarnation, start_time, end_time}],
                                   NULL when none */
    int incarnation;            /* starts so far */
    int exit_code, exit_signal;
    char *end_reason;           /* completed, failed, oom, time_limit, cancelled, node_lost,
                                   dependency_failed, image_pull */
    char *end_message;          /* a sentence on why it ended (from the agent), or NULL */
    job_slot_t *slots;
    int nslots;
    bool stopping;              /* a stop task was sent; the job still holds its GPUs */
    bool in_sched;              /* the scheduler knows it */
    int ranks_done;             /* gang ranks that reported their exit (memory only) */
    double placed_at;           /* when its start tasks were queued, or the server started
                                   (memory only): heartbeats judge it only after a grace */
    job_gpu_use_t gpu_use;
    /* Artifacts (docs/artifacts.md "Jobs", server/lineage.c). inputs: [{artifact, path}] as
     * given, each resolved at submission to add {name, version, digest, location}; mounted
     * read-only at path. outputs: [{artifact, kind, path}], each given {version, digest} once
     * the job succeeded and its version was registered. Never NULL once made. */
    json_t *inputs, *outputs;
    json_t *outputs_hashed;     /* what the agent hashed after the job's successful exit:
                                   [{artifact, digest, size, files, manifest} | {artifact,
                                   error}], registered when the job succeeds (memory only) */
} job_t;

const char *job_state_name(job_state_t s);
int job_state_parse(const char *s, job_state_t *out);
static inline bool job_state_terminal(job_state_t s) { return s >= JOB_SUCCEEDED; }

/* An array's indices, from Slurm's syntax: a comma list of N, A-B and A-B:STEP, then an
 * optional %N throttle ("0-15:4,20,30-32%2"). */
#define JOB_ARRAY_MAX 10000     /* tasks in one array */
#define JOB_ARRAY_INDEX_MAX 2147483647LL
typedef struct job_array {
    int64_t *index;             /* sorted ascending, unique; NULL when not an array */
    int64_t count;              /* 0 when not an array */
    int throttle;               /* %N; 0 when none */
} job_array_t;
/* Parses s into *out (out->index is the caller's: job_array_free). 0, or -1 (EINVAL) with err
 * saying what is wrong: a bad element, a step below 1, an index above JOB_ARRAY_INDEX_MAX, an
 * index given twice, more than JOB_ARRAY_MAX tasks, a throttle outside 1..JOB_ARRAY_MAX. *out
 * is untouched on error. */
int job_array_parse(const char *s, job_array_t *out, gt_error_t *err);
void job_array_free(job_array_t *a);
/* Validates a probe (key "readiness" or "liveness" names it in messages): an object with
 * exactly one of http (a path starting with '/', probed with GET on the replica's port) and
 * command (a non-empty array of strings, run on the node with GANTRY_PORT set; exit 0 passes),
 * and optional period (seconds between probes, 0.1 to 3600; default 2), timeout (0.1 to 600;
 * default 1), failures (in a row before it counts as failed, 1 to 100; default 3), initial_delay
 * (0 to 3600; default 0); seconds as numbers or duration strings ("30s"). *out: a new object
 * with every field filled (numbers in seconds). -1 (EINVAL) with err otherwise. */
int job_probe_parse(const json_t *v, const char *key, json_t **out, gt_error_t *err);

/* Validates a 'dependencies' value (key names it in messages): an array of {type, job} with
 * type afterok, afterany or afternotok and job an id above 0 or a reference string "N" or
 * "N_M" (the server resolves strings to ids: server_gate_deps_resolve). *out: a new array of
 * new {type, job} objects. -1 (EINVAL) with err otherwise. */
int job_parse_dependencies(const json_t *v, const char *key, json_t **out, gt_error_t *err);

/* Validates a submission body. On success *out is a new pending job (id 0; team defaulted to
 * dflt_team when the body has none, user set to user; after_ok turned into afterok
 * dependencies; array_count and array_throttle from "array") and 0 is returned, with the
 * array's indices in *array (count 0 when not an array; job_array_free it); otherwise -1
 * (EINVAL) with a message in err naming the field, *array empty. */
int job_parse_request(const json_t *body, const char *user, const char *dflt_team,
                      job_t **out, job_array_t *array, gt_error_t *err);
/* Applies an update of a pending job (PATCH /v1/jobs/{id}): patch is an object of the fields
 * a user may change (name, priority_class, gpus, nodes, gpu_type, time_limit, after_ok,
 * labels, dependencies, singleton), each validated by job_parse_request()'s rules; labels
 * merge into the job's (a key set to null is removed); after_ok and dependencies together
 * replace the job's dependencies. 0, or -1 (EINVAL) with err naming the field, j unchanged. */
int job_patch(job_t *j, const json_t *patch, gt_error_t *err);
/* Whether v is a valid "labels" object (as Kubernetes' labels): at most JOB_MAX_LABELS keys,
 * each [PREFIX/]NAME with NAME 1 to 63 of [A-Za-z0-9._-] beginning and ending with a letter or
 * digit and PREFIX 1 to 253 of [A-Za-z0-9.-]; values strings of 0 to 63 such characters (a
 * non-empty one begins and ends with a letter or digit). 0, or -1 (EINVAL) with err naming the
 * label. what names the field in the message ("labels"). */
#define JOB_MAX_LABELS 64
int job_labels_check(const json_t *v, const char *what, gt_error_t *err);
/* The parts of labels alone: a key, a value (as job_labels_check), for selectors. */
bool job_label_key_ok(const char *k);
bool job_label_value_ok(const char *v);
/* Whether v is a valid "params" object: at most JOB_MAX_PARAMS keys of 1 to 128 printable
 * characters, each value a string (up to 1024 bytes), number, boolean or null. 0, or -1
 * (EINVAL) with err naming the key. */
#define JOB_MAX_PARAMS 256
int job_params_check(const json_t *v, gt_error_t *err);
/* A deep copy (for array tasks). */
job_t *job_clone(const job_t *j);
void job_free(job_t *j);
void job_set_slots(job_t *j, const job_slot_t *slots, int n);
/* Whether one of j's slots is on node. */
bool job_on_node(const job_t *j, const char *node);

/* Removes from body (a submission's object) the fields the server sets (id, state, times,
 * placement, the _milli/_mib/_s units, ...: server_owned_fields in job.c), so that a job's own
 * document can be submitted again; returns their names (new array) or NULL when there were
 * none. Other unknown fields stay for job_parse_request to refuse. */
json_t *job_drop_server_owned(json_t *body);
/* Only the fields a submission takes (known_fields in job.c) of a job's document, without the
 * empty ones ("" class, [] types, {} env): the form to edit and submit again (new reference). */
json_t *job_spec_json(const json_t *doc);

/* The full JSON form (new reference). */
json_t *job_to_json(const job_t *j);
/* Reads job_to_json()'s form back; -1 with err when it is not a job document. */
int job_from_doc(const char *doc, job_t **out, gt_error_t *err);

#endif
