/* supervisor.h: each job runs under a small supervisor process that outlives the agent.
 *
 * supervisor_launch forks a supervisor (in a session of its own), which:
 *   - creates the job's cgroup (if configured) with its limits and GPU device files,
 *   - starts the command in it, in its own process group, as the job's Unix user
 *     (initgroups/setgid/setuid; root only when allowed), in workdir, stdin from /dev/null,
 *     stdout and stderr appended to <job dir>/stdout and <job dir>/stderr (and copied to the
 *     spec's output and error files, through a tee that runs as the job's user: jobout.h),
 *   - with CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES = the job's GPUs (none: "" and
 *     "void"), GANTRY_JOB_ID,
 *     GANTRY_INCARNATION, GANTRY_TEAM, GANTRY_CHECKPOINT_DIR (<checkpoint root>/<job id>, kept
 *     across incarnations; under the default node-local root, removed at the job's end if the
 *     job left it empty) and, for gangs, MASTER_ADDR, MASTER_PORT, NNODES, NODE_RANK,
 *     WORLD_SIZE (nodes x GPUs per node), LOCAL_WORLD_SIZE (GPUs per node), torchrun's PET_*
 *     equivalents, and RANK / LOCAL_RANK when there is one process per node (no GPUs or one),
 *     and Slurm's variables for scripts written for sbatch (supervisor_slurm_env: one task
 *     per node),
 *   - enforces the time limit (stop signal, grace, SIGKILL),
 *   - for a job with spec.fence, stops it by itself once the node's lease runs out (the
 *     agent renews it while the server answers; agent/fence.h): the stop signal, the grace
 *     bounded by the lease's, then SIGKILL; the end's reason is "fenced",
 *   - on a stop request (supervisor_stop) sends the signal to the process group and the
 *     cgroup, waits the grace period, then SIGKILLs them,
 *   - when the command ends, kills what is left of its tree, removes the cgroup and writes the
 *     end: exit code or signal and a reason (completed, failed, oom, time_limit, cancelled,
 *     preempted).
 * Its state lives in <state dir>/jobs/<job id>.<incarnation>/state, replaced atomically
 * (write + rename) at each change, so an agent that restarts finds its jobs and their ends. */
#ifndef GANTRY_AGENT_SUPERVISOR_H
#define GANTRY_AGENT_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/cgroup.h"
#include "common/util.h"

/* Accounts below this uid are the system's (root, daemon, bin, ...): a job runs as one only when
 * its spec allows system accounts. */
#define SUPERVISOR_MIN_USER_UID 1000

typedef struct supervisor_gang {
    int nodes, node_rank, master_port, gpus_per_node;  /* gpus_per_node: this node's own */
    int world_size, rank_offset;  /* the gang's GPUs, and those of the nodes before this one
                                     (0, 0 from an older server: nodes x gpus_per_node) */
    char master_addr[256];
} supervisor_gang_t;

/* A storage mount of the job (the start task's "mounts"): sub_path is resolved beneath
 * host_path by the supervisor (mounts.h), which refuses one that leaves it. */
typedef struct supervisor_mount {
    const char *host_path;          /* the volume's path on the node */
    const char *sub_path;           /* "" or NULL = the volume itself */
    const char *path;               /* where the job sees it (absolute) */
    bool read_only;
} supervisor_mount_t;

typedef struct supervisor_spec {
    int64_t job_id;
    int incarnation;
    const char *name, *team;
    const char *user;               /* Unix account; NULL = the agent's own user */
    bool allow_root;                /* may a job run as uid 0 (the node's --allow-root)? */
    bool allow_system_account;      /* may it run as a system account, uid below
                                       SUPERVISOR_MIN_USER_UID (the administrator's word for the
                                       job's user, or the node's --job-user)? Root needs both. */
    char *const *argv;              /* the command, NULL-terminated, looked up in PATH */
    char *const *env;               /* extra "K=V", NULL-terminated, or NULL */
    const char *workdir;            /* NULL = the user's home (or /) */
    const int *gpus;
    size_t ngpus;
    int64_t time_limit_s;           /* 0 = none */
    int stop_signal;                /* sent at the time limit; 0 = SIGTERM */
    int64_t grace_s;                /* between stop_signal and SIGKILL */
    const supervisor_gang_t *gang;  /* NULL = a single-node job */
    const cgroup_cfg_t *cgroup;     /* NULL = no cgroup (limits not enforced) */
    cgroup_limits_t limits;         /* devices are filled in from gpus when restricted */
    const char *dev_dir;            /* where the GPU device files are; NULL = /dev */
    const char *state_dir;          /* the agent's state directory */
    const char *checkpoint_root;    /* NULL = <state_dir>/checkpoints */
    bool fence;                     /* the server may start this job elsewhere if it loses the
                                       node: stop it when the node's lease (agent/fence.h)
                                       runs out, and never start it without a lease */
    uint64_t agent;                 /* the agent (fence_lease_t.agent) that took the start task:
                                       a job to fence is not started once a later agent wrote
                                       the lease (it may have registered without this job);
                                       0 = not checked */
    /* The job's environment (issue 9) */
    const char *image;              /* OCI reference: the job runs in a container (runtime
                                       "oci", runtime_oci.c); NULL = a plain process */
    const supervisor_mount_t *mounts;
    size_t nmounts;
    const char *output_dir;         /* made (owned by the job's user), GANTRY_OUTPUT_DIR;
                                       NULL = none */
    const char *scratch_root;       /* <root>/<job>.<incarnation> is made for the job
                                       (GANTRY_SCRATCH_DIR) and removed at its end; NULL =
                                       <state_dir>/scratch */
    bool network_none;              /* a network namespace of its own: loopback only */
    const char *image_cache;        /* the image cache (image.h); NULL = <state_dir>/images */
    int64_t image_cache_max;        /* bytes; 0 = no cap */
    const char *registries_conf;    /* skopeo's, or NULL */
    const char *auth_file;          /* skopeo's, or NULL */
    const char *oci_runtime;        /* "runc", "crun" or a path; NULL = runc */
    const char *cdi_dir;            /* CDI specs for a container's GPUs; NULL = /etc/cdi */
    /* What the job is told about itself besides GANTRY_* (Slurm's SLURM_* variables) */
    int64_t array_id;               /* the array's id (its SLURM_ARRAY_JOB_ID); 0 = not an
                                       array task */
    int64_t array_index;            /* the task's index (SLURM_ARRAY_TASK_ID) when array_id */
    const char *node_name;          /* this node's name; NULL = none known */
    const char *node_list;          /* every node of the job in Slurm's hostlist form
                                       ("n[1-3]", common/hostlist.h); NULL = node_name */
    const char *partition;          /* the job's partition; NULL = none */
    /* sbatch's -o/-e: path patterns (jobout.h) of node-side copies of the job's stdout and
       stderr, relative to its workdir, opened as the job's user; output alone takes both
       streams. On a gang's other nodes only a pattern with %N, %n or %t is written (sbatch's
       file is its first node's). NULL = none; the job's logs stay as they are. */
    const char *output, *error;
} supervisor_spec_t;

typedef struct supervisor_state {
    int64_t job_id;
    int incarnation;
    char phase[16];                 /* "pulling" (fetching the image: pid 0), "running" or
                                       "exited" */
    pid_t supervisor_pid;
    unsigned long long supervisor_start; /* its start time in clock ticks (pid reuse check) */
    pid_t pid;                      /* the command's pid (and process group) */
    double start_time, end_time;    /* Unix time */
    int exit_code;                  /* when exited normally; -1 otherwise */
    int signal;                     /* the signal that ended it; 0 if none */
    char reason[16];                /* completed failed oom time_limit cancelled preempted
                                       fenced */
    char message[1024];             /* why, for a person (start failures, OOM, a registry's
                                       error, ...) */
    char image_digest[80];          /* a container job's image ("sha256:..."), or "" */
    uint64_t pull_bytes;            /* bytes of the image fetched so far (phase "pulling") */
} supervisor_state_t;

/* Starts the job's supervisor and returns at once: *ready_fd (close-on-exec, the caller closes
 * it) becomes readable with one byte once the command runs or failed to start (then call
 * supervisor_wait_started), and reaches end of file when the supervisor exits, which tells the
 * caller to read the job's end without polling. The supervisor is the caller's child until the
 * caller exits: reap it (waitpid). -1 with errno and err if no supervisor could be started
 * (nothing left behind), or EEXIST if this incarnation already has a job directory. */
int supervisor_spawn(const supervisor_spec_t *spec, int *ready_fd, gt_error_t *err);

/* Waits for the start byte on ready_fd (from supervisor_spawn; left open) and reads the
 * state into *st. -1 with ECHILD and err if the supervisor died before writing a state. */
int supervisor_wait_started(const char *state_dir, int64_t job_id, int incarnation,
                            int ready_fd, supervisor_state_t *st, gt_error_t *err);

/* supervisor_spawn, then supervisor_wait_started, then closes the fd. */
/* Starts the job's supervisor and waits until the command runs (phase "running") or failed to
 * start (phase "exited", reason "failed", message says why). Returns 0 and the state in *st;
 * -1 with errno and err if no supervisor could be started (nothing left behind), or EEXIST if
 * this incarnation already has a job directory. */
int supervisor_launch(const supervisor_spec_t *spec, supervisor_state_t *st, gt_error_t *err);

/* Reads one job's state. -1 with ENOENT if it has none. */
int supervisor_read(const char *state_dir, int64_t job_id, int incarnation,
                    supervisor_state_t *st, gt_error_t *err);

/* All jobs with a state under state_dir: a new array in *out (free it), count in *n. */
int supervisor_list(const char *state_dir, supervisor_state_t **out, size_t *n,
                    gt_error_t *err);

/* Asks the job's supervisor to stop it: sig now (0 = SIGTERM), SIGKILL after grace_s; the end
 * is recorded with reason (cancelled, preempted, time_limit). Reason "fenced" is the node's
 * fence: only a job with spec.fence stops, with its own stop signal and at most grace_s. A
 * job already exited is left as it is (returns 0). -1 with ENOENT if the job has no state. */
int supervisor_stop(const char *state_dir, int64_t job_id, int incarnation, const char *reason,
                    int sig, int64_t grace_s, gt_error_t *err);

/* True while the supervisor process of st is alive (same pid and same start time). */
bool supervisor_alive(const supervisor_state_t *st);

/* For a job whose supervisor died without writing its end (node trouble, kill -9): kills what
 * is left in its cgroup (cg may be NULL) and records it as exited, reason failed. */
int supervisor_mark_lost(const char *state_dir, supervisor_state_t *st,
                         const cgroup_cfg_t *cg, gt_error_t *err);

/* The job's directory (state, stdout, stderr), a new string. */
char *supervisor_job_dir(const char *state_dir, int64_t job_id, int incarnation);

/* The file the job appends its metrics to ($GANTRY_METRICS, docs/tracking.md), a new string:
 * STATE/metrics/ID.INC.jsonl. Not in the job's directory: jobs/ is the agent's alone (0700),
 * metrics/ is 0711 (reached, not listed), the file the job's user's (0600), made at start. */
char *supervisor_metrics_path(const char *state_dir, int64_t job_id, int incarnation);

/* Removes the job's directory once its end has been reported. */
int supervisor_remove(const char *state_dir, int64_t job_id, int incarnation);

/* Looks up user (NULL = this process's own account) and its groups once, so that the NSS
 * modules are loaded here and every supervisor forked from this process finds them loaded:
 * otherwise each start pays a few milliseconds of dlopen. */
void supervisor_warm_nss(const char *user);

/* "SIGTERM", "TERM", "15" -> 15; -1 if unknown. */
int supervisor_signal_number(const char *name);

#endif
