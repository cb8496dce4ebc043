/* mounts.h: a job's storage mounts on the node.
 *
 * A mount names a volume's host path, a sub_path beneath it, where the job sees it, and
 * whether read-only. mounts_resolve finds the real directory (or file) the sub_path names and
 * refuses one that leaves the volume: an absolute sub_path, a ".." component, or a symlink
 * (anywhere along it) that points outside the volume or is absolute. The supervisor resolves
 * every mount before the job starts; a refused one fails the start with the message.
 *
 * mounts_enter is for a plain process job, in its child between fork and exec (as root, before
 * it switches user): a private mount namespace (nothing propagates back to the node), each
 * source bound at its path, read-only ones made read-only recursively (a write fails with
 * EROFS), and with network_none a private network namespace with only loopback, up.
 * The path must already exist on the node: a plain job shares the node's root, so creating a
 * directory there would be a side effect on the node that outlives the job (containers get
 * their mounts from the OCI runtime instead, on the image's root). */
#ifndef GANTRY_AGENT_MOUNTS_H
#define GANTRY_AGENT_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

typedef struct job_mount {
    const char *host_path;       /* the volume's path on the node (absolute) */
    const char *sub_path;        /* "" or NULL = the volume itself */
    const char *path;            /* where the job sees it (absolute) */
    bool read_only;
    char *source;                /* filled by mounts_resolve: the real path to bind (free it) */
} job_mount_t;

/* Resolves m->sub_path beneath m->host_path into m->source (a new string without symlinks,
 * the caller frees it; left untouched on failure). Symlinks inside the volume are followed
 * when they are relative and stay in it. Uses openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * where the kernel has it (5.6+), else mounts_resolve_walk. -1 with errno and a message naming
 * the volume path and the sub_path in err: EINVAL for an escape (absolute sub_path, "..",
 * a symlink leaving the volume or absolute) or a source that is neither a directory nor a
 * regular file, ENOENT for a missing path, ENOTDIR, ELOOP, EACCES as the system says. */
int mounts_resolve(job_mount_t *m, gt_error_t *err);

/* The same rules, walked one component at a time with O_NOFOLLOW (what mounts_resolve does on
 * a kernel without openat2); exposed so that tests check both give the same answers. */
int mounts_resolve_walk(job_mount_t *m, gt_error_t *err);

/* In the job's child (m[i].source filled by mounts_resolve in the parent): see the contract
 * above. The bind is made from a descriptor opened without following any symlink along
 * m[i].source, so a volume changed between resolve and bind (a directory swapped for a
 * symlink by someone who can write it) fails instead of binding the link's target. When it
 * binds anything it also sets no_new_privs: set-user-ID programs then gain nothing, so a job
 * cannot bind a volume it writes over /etc and become root through sudo.
 * Mounts are made in order (a path may lie inside an earlier mount). With n == 0 and
 * network_none false it does nothing (the job stays in the node's namespaces).
 * Writes the reason (naming the path) into errbuf and returns -1 (errno set) on failure;
 * async-signal-safe enough for a vfork child (system calls only, no allocation, no stdio). */
int mounts_enter(const job_mount_t *m, size_t n, bool network_none, char *errbuf,
                 size_t errlen);

#endif
