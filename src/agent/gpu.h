/* gpu.h: the node's GPUs, found through NVML or declared.
 *
 * NVML (libnvidia-ml.so.1, shipped with the NVIDIA driver) is loaded with dlopen at run time,
 * so the build needs no NVIDIA package and a node without GPUs runs the same binary with
 * declared GPUs (--gpus N --gpu-type T). The few NVML types used are declared in gpu.c.
 *
 * NVLink peers: two GPUs are peers when one of them has an active link whose remote PCI
 * address is the other; a link whose remote is not one of the node's GPUs is taken to be an
 * NVSwitch, and all GPUs with such links are peers of one another (HGX boards). Declared GPUs
 * form one NVLink domain. */
#ifndef GANTRY_AGENT_GPU_H
#define GANTRY_AGENT_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

typedef struct gpu_info {
    int index;
    char uuid[96];
    char name[96];
    int64_t memory_mib;     /* 0 = unknown (declared) */
    int *nvlink_peers;      /* indexes of the other GPUs it shares NVLink with */
    size_t npeers;
} gpu_info_t;

#define GPU_MAX_PROCS 32     /* compute processes listed per GPU (more are left out) */
typedef struct gpu_proc {
    int pid;                /* as NVML gives it (the host's PID namespace) */
    int64_t memory_used_mib; /* -1 = unknown (NVML could not say, e.g. under MIG) */
} gpu_proc_t;

typedef struct gpu_usage {
    double utilization;     /* 0..1, -1 = unknown */
    int64_t memory_used_mib; /* -1 = unknown */
    int nprocs;             /* -1: NVML does not list processes (absent entry point, error,
                               declared GPUs); else procs[0..nprocs) */
    gpu_proc_t procs[GPU_MAX_PROCS];
} gpu_usage_t;

typedef struct gpu_inventory {
    char *type;             /* "H100-80GB": declared, or derived from NVML's name */
    gpu_info_t *gpus;
    size_t n;
    bool from_nvml;
    void *nvml;             /* private: the library handle, kept for gpu_sample */
} gpu_inventory_t;

/* Discovers the GPUs through NVML loaded from lib (NULL = "libnvidia-ml.so.1"). Returns 0 and
 * a new inventory in *out (free with gpu_inventory_free), or -1 with errno (ENOENT: library
 * absent, EIO: an NVML call failed) and a message saying what to do instead. */
int gpu_discover(const char *lib, gpu_inventory_t **out, gt_error_t *err);

/* count declared GPUs of type (NULL or "" = "generic"); count may be 0 (a CPU-only node).
 * -1 with EINVAL for a negative count or more than 1024. */
int gpu_declare(int count, const char *type, gpu_inventory_t **out, gt_error_t *err);

/* Fills usage[0..inv->n) with utilization, memory in use and the compute processes with their
 * memory (NVML's nvmlDeviceGetComputeRunningProcesses, when the driver has it), or unknowns
 * for declared GPUs. Returns 0, or -1 with errno if NVML fails (usage then holds unknowns). */
int gpu_sample(const gpu_inventory_t *inv, gpu_usage_t *usage);

/* The device files a job given these GPU indexes needs (/dev/nvidia<N>, nvidiactl,
 * nvidia-uvm, nvidia-uvm-tools, nvidia-modeset) under dev_dir (NULL = "/dev"); none at all for
 * no GPU (a CPU-only job). Returns a new NULL-terminated array of new strings (free with
 * gpu_device_files_free) and its length. */
char **gpu_device_files(const char *dev_dir, const int *gpus, size_t ngpus, size_t *n);
void gpu_device_files_free(char **files);

/* Unloads NVML if loaded and frees inv. NULL is allowed. */
void gpu_inventory_free(gpu_inventory_t *inv);

#endif
