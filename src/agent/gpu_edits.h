/* gpu_edits.h: what a container needs to see its GPUs, and only them.
 *
 * Where the node has CDI specs (cdi_dir, default /etc/cdi, files *.json and *.yaml / *.yml as
 * `nvidia-ctk cdi generate` writes them), the edits come from them: the spec-wide
 * containerEdits plus those of each device of kind nvidia.com/gpu whose name is the job's GPU
 * index ("0", "1", ...; nvidia-ctk names each GPU by its index and again by its UUID: the index
 * is enough here, UUID-only names are not matched). Of containerEdits, env, deviceNodes and
 * mounts are applied; hooks are NOT run (nor additionalGids, intelRdt). Of nvidia-ctk's hooks,
 * the one that matters for CUDA is the soname links (libcuda.so.1 -> libcuda.so.<version>,
 * made by its update-ldcache / create-symlinks hooks): for each library the spec mounts, the
 * names that the node's linker cache (`ldconfig -p`) resolves to that same file are bound too,
 * beside it in the container. A spec mount's "type" must be absent, "bind" or "none"; one
 * without options is bound read-only (ro, nosuid, nodev, bind).
 *
 * Otherwise (no spec of kind nvidia.com/gpu in cdi_dir, or no cdi_dir) the agent makes them
 * itself, as enroot and libnvidia-container do: the job's device files (<dev_dir>/nvidia<N>,
 * seen at /dev/nvidia<N>) and the shared control ones (nvidiactl, nvidia-uvm,
 * nvidia-uvm-tools, nvidia-modeset where present); the driver's user-space libraries of
 * libnvidia-container's "utility" and "compute" sets found through the linker cache
 * (`ldconfig -p`, run without a shell: libcuda, libnvidia-ml, libnvidia-ptxjitcompiler,
 * libnvidia-nvvm, ...), each bound read-only at its own path; and its tools (nvidia-smi,
 * nvidia-debugdump, nvidia-persistenced, nv-fabricmanager, nvidia-cuda-mps-control,
 * nvidia-cuda-mps-server) found on PATH, bound read-only at their path. Missing libraries and
 * tools are not an error (a node without a driver gets only the device files).
 *
 * Inside the container the job's GPUs are the only ones the driver can open, so CUDA numbers
 * them 0..n-1: CUDA_VISIBLE_DEVICES must not carry the node's indices there. */
#ifndef GANTRY_AGENT_GPU_EDITS_H
#define GANTRY_AGENT_GPU_EDITS_H

#include <stddef.h>

#include "common/util.h"

typedef struct gpu_device_node {
    char *path;        /* inside the container, e.g. /dev/nvidia0 */
    char *host_path;   /* on the node (may differ: tests' fake devices) */
    char type;         /* 'c' or 'b' */
    long major, minor; /* from stat() of host_path when the spec omits them */
    unsigned mode;     /* permission bits; 0 = 0666 */
} gpu_device_node_t;

typedef struct gpu_mount {
    char *host_path, *container_path;
    char **options; /* e.g. {"ro", "nosuid", "nodev", "bind", NULL}; a bind mount */
} gpu_mount_t;

typedef struct gpu_edits {
    const char *source;         /* "cdi" or "driver" (for logs and tests); NULL when n == 0 */
    gpu_device_node_t *devices; /* no two with the same path */
    size_t ndevices;
    gpu_mount_t *mounts; /* no two with the same container_path */
    size_t nmounts;
    char **env; /* "K=V", NULL-terminated (CDI env), or NULL */
} gpu_edits_t;

/* The edits for the GPUs gpus[0..n) (node indices) of this node, into *out (owned by the
 * caller: gpu_edits_free). cdi_dir NULL = /etc/cdi; dev_dir NULL = /dev (the fallback's device
 * files). n == 0: no edits (a job without GPUs sees none), without reading anything.
 * -1 with err (and *out empty) when a spec in cdi_dir is unreadable or not a CDI spec, when
 * the specs of kind nvidia.com/gpu lack one of the job's GPUs (none named: a message that
 * says to regenerate them), when a device node is missing or not a device, or (fallback) when
 * <dev_dir>/nvidia<N> of one of the job's GPUs is not a character device. */
int gpu_edits_for(const char *cdi_dir, const char *dev_dir, const int *gpus, size_t n,
                  gpu_edits_t *out, gt_error_t *err);

/* Frees what *e holds and empties it; accepts NULL and an empty or half-built *e. */
void gpu_edits_free(gpu_edits_t *e);

/* The driver libraries (the sets named above) in `ldconfig -p` output, for this machine's
 * word size: their paths in the order listed, without duplicates, NULL-terminated (free each
 * and the array). Never NULL. Used by gpu_edits_for; public for tests. */
char **gpu_edits_ldcache_libs(const char *ldconfig_output);

#endif
