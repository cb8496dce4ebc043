/* image.h: OCI images on a node, fetched with skopeo and unpacked with umoci into a
 * content-addressed cache that every job of the node shares.
 *
 * Layout under the cache directory (the agent's --image-cache, default <state dir>/images):
 *   blobs/sha256/   every blob (skopeo --dest-shared-blob-dir: layers shared between images)
 *   refs/<key>/     one small OCI layout per reference (its blobs/ links to ../../blobs) and
 *                   a record {ref, digest, source} of the last fetch; <key> = hash of the ref
 *   rootfs/<hex>/   an unpacked image, <hex> = the manifest digest's hex: rootfs/, umoci's
 *                   config.json, image.json (the image's own config), size, used (LRU time)
 *   locks/          flock files: one per reference while it is fetched (the same image is never
 *                   pulled twice at once, across processes), one per digest held shared by each
 *                   job that uses it (never evicted while held)
 *   tmp/            unpacks in progress: renamed into rootfs/ only when complete
 * A reference is looked up in refs/ without running skopeo: a docker:// tag is resolved once
 * per node (pin a digest, or use a new tag, to change what it runs); a local source (oci:,
 * oci-archive:, docker-archive:) is fetched again when its file changes (identity, size, time).
 * The digest is the manifest's as stored here: for docker-archive: and registry images in the
 * Docker v2s2 format skopeo converts the manifest to OCI, so it differs from the source's.
 * Runs in the job's supervisor (it blocks for as long as the pull takes), never in the agent's
 * loop. Nothing here needs root except what umoci's unpack needs (it runs as root on nodes). */
#ifndef GANTRY_AGENT_IMAGE_H
#define GANTRY_AGENT_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

typedef struct image_cfg {
    const char *cache_dir;       /* required */
    uint64_t max_bytes;          /* --image-cache-max: least recently used unpacked images
                                    (not held) are removed past it after each fetch; 0 = no cap */
    const char *registries_conf; /* registries.conf for skopeo (mirrors; passed as
                                    CONTAINERS_REGISTRIES_CONF), or NULL */
    const char *auth_file;       /* skopeo --authfile (registry credentials), or NULL */
    const char *skopeo, *umoci;  /* program names or paths; NULL = "skopeo", "umoci" */
} image_cfg_t;

/* What a job needs from its image. */
typedef struct image {
    char digest[80];             /* "sha256:<64 hex>" of the manifest */
    char *rootfs;                /* the unpacked root filesystem: read-only for jobs (use it as
                                    an overlay's lower directory) */
    char **env;                  /* the image's Env, "K=V", NULL-terminated */
    char **entrypoint, **cmd;    /* NULL-terminated, or NULL */
    char *workdir;               /* the image's WorkingDir, or NULL */
    bool fetched;                /* this call fetched or unpacked it (false: all from cache) */
    int hold_fd;                 /* shared lock on the digest (close-on-exec): eviction skips it
                                    while this process (or a child given the fd) keeps it */
} image_t;

/* Progress while fetching: bytes written so far. Called at most a few times a second, in the
 * process that calls image_get: while it fetches, and while it waits for another process's
 * fetch of the same reference (that fetch's bytes, which the fetcher publishes in
 * refs/<key>/progress). */
typedef void image_progress_fn(uint64_t bytes, void *arg);

/* Makes ref ready in the cache (fetching and unpacking only what is missing; waiting for
 * another process already fetching the same ref) and fills *out, holding it. Returns 0, or -1
 * with err holding skopeo's or umoci's own message (a reference that does not exist, a
 * registry that cannot be reached, a bad transport) and errno: EINVAL for a ref that
 * image_ref_valid refuses, EIO when skopeo or umoci failed (err->code "image_pull", err->msg
 * "skopeo: " and its last message on one line). Child processes run without a shell, with
 * stdin/stdout on /dev/null and no other fd, and die with the caller (PR_SET_PDEATHSIG). After a
 * fetch, image_evict runs when max_bytes is set. */
int image_get(const image_cfg_t *cfg, const char *ref, image_progress_fn *progress,
              void *arg, image_t *out, gt_error_t *err);

/* Lets go of the hold and frees out's fields. Accepts a zeroed image. */
void image_release(image_t *im);

/* Removes least recently used unpacked images not held until the cache is under max_bytes.
 * Returns how many were removed, or -1 with err. */
int image_evict(const image_cfg_t *cfg, gt_error_t *err);

/* Whether ref names a transport this module fetches (docker://NAME, oci:/ABS[:tag],
 * oci-archive:/ABS, docker-archive:/ABS): local paths absolute, no spaces or control
 * characters, at most 4096 bytes. */
bool image_ref_valid(const char *ref);

#endif
