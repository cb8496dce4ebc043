/* agent.h: `gantry agent`, the node side of docs/agent-protocol.md.
 *
 * One thread: it registers the node (GPUs from NVML or declared, CPUs, memory, address, the
 * jobs its supervisors still run), heartbeats, long-polls for work, starts and stops jobs
 * through supervisors (supervisor.h), reports their starts and ends, and ships their logs.
 * Jobs outlive the agent: a restarted agent finds them in its state directory, registers
 * them as running, and reports the ends it missed. After each request the server answered it
 * renews the node's lease (agent/fence.h): the supervisors stop the jobs the server may run
 * elsewhere once it runs out, so a job never runs twice at once (docs/agent.md). */
#ifndef GANTRY_AGENT_AGENT_H
#define GANTRY_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/cgroup.h"
#include "agent/gpu.h"
#include "agent/launcher.h"
#include "agent/runtimes.h"
#include "common/transport.h"

typedef struct agent_cfg {
    const char *server, *token, *name, *address;
    gt_transport_t transport;      /* --ca-file, --allow-plaintext (common/transport.h) */
    const char *state_dir, *checkpoint_root;
    const char *job_user;          /* run every job as this user instead of the job's own */
    bool allow_root;
    bool cgroups;                  /* false: no cgroup (limits not enforced) */
    cgroup_cfg_t cgroup;
    bool device_cgroup;            /* v1: restrict devices to the job's GPU files */
    int64_t pids_max;
    int64_t cpus_milli, memory_mib;
    const char *block, *spine, *leaf;
    gpu_inventory_t *gpus;         /* owned by the caller */
    launcher_t *launcher;          /* forks the supervisors; NULL: the agent forks them */
    /* Images (agent/image.h, docs/agent.md "Images"): what a container job's supervisor
     * passes to image_get, and what the node found at start (runtimes.oci, oci_runtime). */
    const char *image_cache;       /* --image-cache, absolute (default STATE/images) */
    uint64_t image_cache_max;      /* --image-cache-max in bytes; 0 = no cap */
    const char *registries_conf;   /* --registries-conf FILE, or NULL */
    const char *auth_file;         /* --auth-file FILE, or NULL */
    const char *dev_dir;           /* --dev-dir: the GPUs' device files; NULL = /dev */
    const char *cdi_dir;           /* --cdi-dir: CDI specs for containers; NULL = /etc/cdi */
    runtimes_t runtimes;           /* runc/crun/skopeo/umoci found at start (--oci-runtime) */
} agent_cfg_t;

/* Runs until SIGINT/SIGTERM; jobs keep running under their supervisors. Returns 0, or -1 if
 * it could not start (message in err). */
int agent_run(const agent_cfg_t *cfg, gt_error_t *err);

#endif
