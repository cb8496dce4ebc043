/* runtime.h: how a job's supervisor runs its command; the seam between the supervisor's
 * duties and the way the command is started.
 *
 * The supervisor (supervisor.c) keeps every duty that does not depend on how the command runs:
 * the job's user, its cgroup and limits, its checkpoint, output and scratch directories, its
 * logs, its environment (GANTRY_*, torchrun, NCCL), the state file, signals and stop requests,
 * the time limit, the preemption grace, the node's fence, the exit code, OOM detection, and
 * surviving the agent. A runtime only makes the command run:
 *   prepare  whatever must exist before the command can start (an image: may block for as
 *            long as a fetch takes; the supervisor has already told the agent the job is here),
 *   start    the command: one process the supervisor waits for (its child), the leader of a
 *            process group of its own, in the job's cgroup, writing to the job's logs; the
 *            supervisor signals that group and the cgroup, and takes the process's end for
 *            the job's end,
 *   cleanup  removes what prepare and start made, once the command and its tree are gone.
 * Like flux-core's exec implementations (job-exec.h): a third runtime (enroot, Apptainer) is
 * one more file with its runtime_ops_t, and one more line in runtime_for(). */
#ifndef GANTRY_AGENT_RUNTIME_H
#define GANTRY_AGENT_RUNTIME_H

#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/cgroup.h"
#include "agent/mounts.h"
#include "agent/supervisor.h"
#include "common/util.h"

/* One job as the supervisor hands it to its runtime. The supervisor owns every field; a
 * runtime writes only the ones marked "prepare" (their defaults are the plain process's). */
typedef struct runtime_job {
    const supervisor_spec_t *spec;
    const char *dir;               /* the job's directory: state, logs; a runtime's own files */
    cgroup_t *cg;                  /* the job's cgroup, or NULL (limits not enforced) */
    const struct passwd *pw;       /* the job's account (NULL: this process's has none) */
    bool switch_user;              /* the command runs as pw, not as the supervisor's user */
    const gid_t *groups;           /* pw's supplementary groups, when switch_user */
    int ngroups;
    int out_fd, err_fd;            /* the job's stdout and stderr (append) */
    const char *checkpoint_dir;    /* host paths of the job's directories; output_dir and */
    const char *output_dir;        /* scratch_dir may be NULL (none) */
    const char *scratch_dir;
    const char *metrics_file;      /* $GANTRY_METRICS on the host (docs/tracking.md), or NULL */
    const job_mount_t *mounts;     /* the job's mounts, resolved (source filled in) */
    size_t nmounts;
    char **envp;                   /* the job's environment, built by the supervisor after
                                      prepare from the fields below; NULL-terminated */
    /* prepare: how the job sees things (NULL = as on the host) */
    const char *seen_checkpoint_dir, *seen_output_dir, *seen_scratch_dir;
    const char *seen_metrics_file;
    char **base_env;               /* "K=V" the environment starts from (an image's Env);
                                      NULL = the host's PATH and LANG, the user's HOME, SHELL */
    bool gpus_renumbered;          /* prepare: the job sees only its GPUs, numbered from 0
                                      (CUDA_VISIBLE_DEVICES=0..n-1; NVIDIA_VISIBLE_DEVICES
                                      keeps the node's indices) */
    const char *workdir;           /* prepare: where the command starts (the process runtime:
                                      the spec's, else the user's home, else /) */
    /* prepare: recorded in the job's state */
    char image_digest[80];
    /* called by a prepare that takes long (a fetch) with the bytes so far; the supervisor
       records them in the state (phase "pulling") */
    void (*progress)(struct runtime_job *job, uint64_t bytes);
    void *progress_arg;
} runtime_job_t;

typedef struct runtime_ops {
    const char *name;              /* "process", "oci" */
    /* prepare blocks for long (fetching an image): the supervisor tells the agent the job is
       here first (phase "pulling"), and the time limit starts only once the command runs */
    bool slow_prepare;
    /* the runtime limits the job's devices itself, in a cgroup of its own below the job's (an
       OCI runtime writes its device rules there, and a child cgroup can only narrow what its
       parent allows): the job's cgroup then gets none */
    bool own_device_rules;
    /* Makes what the command needs; *priv is the runtime's own state for this job (cleanup
       frees it, also after a failed prepare). 0, or -1 with err: err->code "image_pull" ends
       the job with that reason, any other with "failed"; err->msg says why. */
    int (*prepare)(runtime_job_t *job, void **priv, gt_error_t *err);
    /* Starts the command (see above) and returns its pid, or -1 with err when it could not
       start (nothing of it left running). */
    pid_t (*start)(runtime_job_t *job, void *priv, gt_error_t *err);
    /* The job's exit code and signal from the wait status of the process start returned
       (a runtime that runs the command under another program translates that program's). */
    void (*exit_status)(void *priv, int status, int *exit_code, int *sig);
    /* Removes what prepare and start made and frees priv. Always called once after prepare,
       whether prepare, start or the command failed or not; priv may be NULL. */
    void (*cleanup)(runtime_job_t *job, void *priv);
} runtime_ops_t;

extern const runtime_ops_t runtime_process; /* runtime_process.c */
extern const runtime_ops_t runtime_oci;     /* runtime_oci.c: spec.image set */

/* The runtime that runs spec's job. */
const runtime_ops_t *runtime_for(const supervisor_spec_t *spec);

/* For a runtime's forked child: writes "what: strerror(e)" to errfd and _exits 127.
 * Async-signal-safe (no allocation). */
void runtime_child_fail(int errfd, const char *what, int e) __attribute__((noreturn));

/* For a runtime's start: vfork()s, runs child(arg, errfd) in the child (it must exec or call
 * runtime_child_fail), makes the child the leader of its own process group, and waits until
 * it has exec'ed. Returns its pid, or -1 with err holding what the child wrote (the child
 * reaped). child may only make system calls (it shares the caller's memory). */
pid_t runtime_spawn(void (*child)(void *arg, int errfd), void *arg, gt_error_t *err);

/* In a runtime's child: its own process group, stdin from /dev/null, stdout/stderr to the
 * job's logs, the job's cgroup (when enter_cgroup). Fails through runtime_child_fail. */
void runtime_child_setup(const runtime_job_t *job, bool enter_cgroup, int errfd);

/* In a runtime's child: becomes the job's user (when job->switch_user). */
void runtime_child_become_user(const runtime_job_t *job, int errfd);

/* Removes path and everything below it without following a symbolic link anywhere (a job's
 * own directories may hold links to anything). 0, or -1 with errno. */
int runtime_remove_tree(const char *path);

/* In a runtime's child, just before exec: default signal dispositions, nothing blocked. */
void runtime_child_signals(void);

#endif
