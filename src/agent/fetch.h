/* fetch.h: a job's inputs kept in the server's blob store, fetched by the node into its cache
 * and mounted read-only like a version in place (docs/artifacts.md "Jobs").
 *
 * The server's start task names such an input as a mount with "fetch": {input, artifact,
 * version, digest, size} and no host_path. Before the job's supervisor is spawned, a worker
 * process (forked by the agent: the agent's loop, its heartbeats and its other jobs go on)
 * makes each one ready in the node's cache, shared by every job of the node:
 *
 *   CACHE/sha256/<hex>       a version's files, whole and verified (<hex>: the version's
 *                            digest, the SHA-256 of its manifest): what jobs mount, read-only
 *   CACHE/tmp/<hex>.<pid>    a fetch in progress; renamed into sha256/ only once every file's
 *                            size and SHA-256 and the whole tree's digest match, so a crash
 *                            mid-fetch leaves nothing a job can use (the next fetch sweeps it)
 *   CACHE/locks/<hex>        flock: one worker fetches or checks a version at a time
 *
 * A version already in the cache is hashed again before each use and compared with its
 * digest: a file changed, added or removed there (a damaged disk, someone with root) is found,
 * the copy discarded and fetched again. The worker fetches as the node, with the node's
 * credential: GET /v1/agent/inputs/JOB/INC/N (the manifest) and .../blobs/SHA256 (a file's
 * bytes), which the server answers only for a job placed on this node that names that input.
 * CACHE and CACHE/sha256 are 0711 (a digest must be known to reach a tree); the trees are
 * 0755/0644, readable by the job's user. */
#ifndef GANTRY_AGENT_FETCH_H
#define GANTRY_AGENT_FETCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/transport.h"
#include "common/util.h"

typedef struct fetch_cfg {
    const char *server;            /* the server's URL (one) */
    const char *token;             /* the node's credential */
    const gt_transport_t *tp;
    const char *node;              /* this node's name */
    const char *cache;             /* CACHE, absolute */
} fetch_cfg_t;

/* Whether a start task's job has inputs to fetch (a mount with "fetch"). */
bool fetch_needed(const json_t *job);

/* Forks the worker for job (the start task's "job": id, incarnation, mounts). It writes
 * {"bytes": N, "total": M} to progress_path as it goes, then its result to result_path
 * (atomically): {"dirs": {"<mount index>": CACHE/sha256/<hex>, ...}, "notes": [text]} or
 * {"error": text}. Returns its pid, or -1 with err (nothing started). */
pid_t fetch_spawn(const fetch_cfg_t *cfg, const json_t *job, const char *progress_path,
                  const char *result_path, gt_error_t *err);

/* Makes the version with this digest ready in the cache (the worker's work, for one input of
 * job id incarnation inc, input number index): a new string CACHE/sha256/<hex>, or NULL with
 * err. note (may be NULL) gets a sentence when a cached copy was found damaged and fetched
 * again. progress (may be NULL) is called with the bytes received for this input so far. */
char *fetch_input(const fetch_cfg_t *cfg, int64_t id, int inc, int index, const char *digest,
                  void (*progress)(void *arg, uint64_t bytes), void *arg, char *note,
                  size_t notelen, gt_error_t *err);

/* Rewrites job's fetch mounts with the directories of a worker's result (host_path, an empty
 * sub_path). -1 with err when one is missing. */
int fetch_apply(json_t *job, const json_t *result, gt_error_t *err);

#endif
