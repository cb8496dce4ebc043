/* cgroup.h: one cgroup per job, on cgroup v1 or v2, with its memory, CPU and pids limits, and
 * device access limited to the job's GPU device files.
 *
 * A cgroup is named by (root, version, parent, name):
 *   v1: <root>/<controller>/<parent>/<name> for controller in memory, cpu, pids, devices:
 *       memory always, the others only when the limits use them
 *   v2: <root>/<parent>/<name>
 * root is a parameter so that tests can point v2 at a directory tree they build themselves.
 *
 * Device access on v1 is limited with the devices controller; on v2, which has none, with a
 * device filter program (devfilter.h) attached to the job's cgroup, on a real cgroup2 file
 * system only: a tree built by a test gets none, and cgroup_devices_enforced() says so.
 *
 * Actions return 0 or -1 with errno set and a message in err; constructors return NULL. */
#ifndef GANTRY_AGENT_CGROUP_H
#define GANTRY_AGENT_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

typedef enum cgroup_version {
    CGROUP_AUTO = 0,   /* detect from root: v2 if <root>/cgroup.controllers lists memory */
    CGROUP_V1 = 1,
    CGROUP_V2 = 2,
} cgroup_version_t;

typedef struct cgroup_cfg {
    const char *root;           /* "/sys/fs/cgroup" on most systems */
    cgroup_version_t version;
    const char *parent;         /* below root (v2) or below each controller (v1): "gantry" */
} cgroup_cfg_t;

typedef struct cgroup_limits {
    int64_t memory_bytes;       /* 0 = no limit */
    int64_t cpu_milli;          /* 0 = no limit; 1500 = one and a half CPUs */
    int64_t pids_max;           /* 0 = no limit */
    bool restrict_devices;      /* v1: deny every device but the basic ones and these */
    const char *const *devices; /* device file paths the job may use (GPU files) */
    size_t ndevices;
} cgroup_limits_t;

typedef struct cgroup cgroup_t;

/* Finds the version of the hierarchy at cfg->root (resolving CGROUP_AUTO). -1 with ENOENT
 * and a message if no hierarchy with a memory controller is there. */
int cgroup_detect(const cgroup_cfg_t *cfg, cgroup_version_t *out, gt_error_t *err);

/* Creates (or reopens, if it exists) the cgroup called name and applies lim (NULL = none).
 * Returns a new handle (free with cgroup_free or cgroup_destroy), or NULL with errno and err;
 * on failure the directories this call made are removed again. */
cgroup_t *cgroup_create(const cgroup_cfg_t *cfg, const char *name, const cgroup_limits_t *lim,
                        gt_error_t *err);

/* Opens an existing cgroup without changing it (an agent that restarts finds its jobs'
 * cgroups). NULL with ENOENT if it is not there. */
cgroup_t *cgroup_open(const cgroup_cfg_t *cfg, const char *name, gt_error_t *err);

/* Moves pid into the cgroup in every controller. Async-signal-safe apart from err, so a
 * freshly forked child may call it with err = NULL on itself before exec. */
int cgroup_attach(const cgroup_t *cg, pid_t pid, gt_error_t *err);

/* The processes now in the cgroup and in the cgroups below it (a container runtime makes its
 * own inside the job's): a new array in *out (free it), count in *n. */
int cgroup_pids(const cgroup_t *cg, pid_t **out, size_t *n, gt_error_t *err);

/* Sends sig to every process in the cgroup; returns how many were signalled, or -1. */
int cgroup_signal_all(const cgroup_t *cg, int sig);

/* True once the kernel's OOM killer has killed a process of this cgroup (v1: oom_kill in
 * memory.oom_control, or memory.failcnt > 0 when the kernel lacks that field; v2: oom_kill
 * in memory.events). */
bool cgroup_oom_killed(const cgroup_t *cg);
/* Whether the group's memory use ever reached its limit (v1 memory.failcnt, or a peak
 * (max_usage_in_bytes) at the limit; v2 memory.events max). With a job SIGKILLed, that says the OOM killer did it even when its own counter lags. */
bool cgroup_hit_memory_limit(const cgroup_t *cg);

/* Whether device access is limited: v1 with the devices controller mounted, v2 with the
 * device filter attached (see above). */
bool cgroup_devices_enforced(const cgroup_t *cg);

cgroup_version_t cgroup_version(const cgroup_t *cg);

/* Where the first cgroup2 file system is mounted (from /proc/self/mounts): /sys/fs/cgroup on
 * a v2 host, /sys/fs/cgroup/unified on a hybrid one. A new string, or NULL if none. */
char *cgroup_v2_mount(void);

/* The cgroup's directory for one controller on v1 ("memory", "cpu", "pids", "devices"), its
 * one directory on v2 (controller ignored). Owned by cg. */
const char *cgroup_path(const cgroup_t *cg, const char *controller);

/* Removes the cgroup's directories (they must hold no process: kill and wait first) and frees
 * cg. -1 with EBUSY if a process is still there; cg is freed either way. NULL is allowed. */
int cgroup_destroy(cgroup_t *cg);

/* Frees the handle and leaves the cgroup in place. NULL is allowed. */
void cgroup_free(cgroup_t *cg);

#endif
