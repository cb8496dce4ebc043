/* artifact_hash.h: artifacts hashed on the node, close to the data (docs/agent-protocol.md
 * "Artifacts", docs/artifacts.md).
 *
 * Two callers: a job's outputs, hashed after its successful exit (a directory beneath the
 * job's output directory), and the server's "hash" tasks, for a version registered in place
 * on a volume or verified there. Either way the agent names a root it trusts (the output
 * directory, the volume's path) and a sub_path beneath it that the job or the user chose:
 * the sub_path is resolved as a mount's (mounts.h: no "..", no symlink that leaves the root),
 * and nothing beneath it is followed (manifest.h), so a job cannot make the agent, which runs
 * as root, read what lies outside what it declared.
 *
 * Hashing a large tree takes minutes: it runs in a child process (artifact_hash_spawn) that
 * writes its result to a file, while the agent goes on heartbeating; the agent ships the file
 * and removes it. A result survives an agent restart (the file stays in the state directory). */
#ifndef GANTRY_AGENT_ARTIFACT_HASH_H
#define GANTRY_AGENT_ARTIFACT_HASH_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"

/* A manifest larger than this (as JSON) is not sent with its result: the server's request
 * bodies are bounded (SERVER_MAX_BODY); the digest, size and file count still are. */
#define ARTIFACT_HASH_MANIFEST_MAX (768 * 1024)

/* Hashes sub_path ("" or NULL: root itself) beneath root. Returns a new object:
 * {"digest": "sha256:...", "size": BYTES, "files": N, "manifest": [...]} ("manifest" absent
 * and "manifest_omitted": true when its JSON exceeds manifest_max bytes), or {"error": "why"}
 * when the path leaves root, is missing, or cannot be read. Never NULL. */
json_t *artifact_hash_one(const char *root, const char *sub_path, size_t manifest_max);

/* Hashes each of targets (an array of objects, each with "root" and "sub_path"; other keys
 * are copied to its result) in a child process, which writes {"results": [...]} (one object
 * per target, in order: its other keys and artifact_hash_one's answer) to result_path through
 * a temporary file and rename, so the file is whole or absent. Returns the child's pid (the
 * caller reaps it), or -1 with errno and err. */
pid_t artifact_hash_spawn(const json_t *targets, const char *result_path, gt_error_t *err);

/* Reads a result file: a new reference, or NULL when it is absent (errno ENOENT) or
 * unreadable. */
json_t *artifact_hash_read(const char *result_path);

#endif
