/* oci_config.h: the config.json of an OCI runtime bundle (runtime-spec 1.0) for a job.
 *
 * What the container gets: its root (the bundle's rootfs, an overlay the caller mounted), the
 * job's command, environment, working directory and user (uid, gid, supplementary groups; no
 * capabilities and no_new_privileges unless it runs as root), /proc, a /dev tmpfs with the
 * default devices plus the job's (device rules deny every other), /dev/shm, /dev/pts, /sys
 * read-only, the host's /etc/hosts and /etc/resolv.conf read-only (host network), the binds
 * (the job's mounts, its checkpoint, output and scratch directories, GPU libraries), a mount
 * and an IPC namespace, a network namespace only for network none, no PID namespace (the
 * job's processes are the node's, as with enroot: signals, accounting and the supervisor's
 * reaping work as for a plain process), and its cgroup at cgroups_path. */
#ifndef GANTRY_AGENT_OCI_CONFIG_H
#define GANTRY_AGENT_OCI_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"

typedef struct oci_bind {
    const char *source;             /* host path (file or directory) */
    const char *destination;        /* absolute path in the container */
    bool read_only;
} oci_bind_t;

typedef struct oci_device {
    const char *path;               /* in the container, e.g. /dev/nvidia0 */
    char type;                      /* 'c' or 'b' */
    long major, minor;
    unsigned mode;                  /* 0 = 0666 */
} oci_device_t;

typedef struct oci_config_in {
    const char *rootfs;             /* absolute path of the root file system */
    char *const *args;              /* the command, NULL-terminated, args[0] non-empty */
    char *const *env;               /* "K=V", NULL-terminated */
    const char *cwd;                /* absolute */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;            /* supplementary groups */
    int ngroups;
    const char *cgroups_path;       /* linux.cgroupsPath, or NULL (the runtime's default) */
    bool network_none;              /* a network namespace of its own (loopback only) */
    const oci_bind_t *binds;
    size_t nbinds;
    const oci_device_t *devices;    /* the job's devices (GPUs): created and allowed */
    size_t ndevices;
} oci_config_in_t;

/* A new config.json object (decref it), or NULL with EINVAL and err when the command is
 * empty or a path is not absolute. */
json_t *oci_config_build(const oci_config_in_t *in, gt_error_t *err);

/* Writes o to dir/config.json (0600). -1 with errno and err. */
int oci_config_write(const char *dir, const json_t *o, gt_error_t *err);

#endif
