/* artifact_hash.c: artifacts hashed on the node (artifact_hash.h). */
#include "agent/artifact_hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/mounts.h"
#include "agent/worker.h"
#include "common/manifest.h"

json_t *artifact_hash_one(const char *root, const char *sub_path, size_t manifest_max)
{
    gt_error_t err = {0};
    /* Resolved as a mount is: the declared path stays beneath root, symlinks included. */
    job_mount_t m = {.host_path = root, .sub_path = sub_path ? sub_path : "", .path = "/"};
    if (mounts_resolve(&m, &err) < 0)
        return json_pack("{s:s}", "error", err.msg);
    manifest_t *man = NULL;
    int rc = manifest_of_path(m.source, 0, &man, &err);
    free(m.source);
    if (rc < 0)
        return json_pack("{s:s}", "error", err.msg);
    char digest[GT_DIGEST_LEN];
    manifest_digest(man, digest);
    json_t *res = json_pack("{s:s,s:I,s:I}", "digest", digest, "size", (json_int_t)man->size,
                            "files", (json_int_t)man->n);
    json_t *list = manifest_to_json(man);
    manifest_free(man);
    size_t len = json_dumpb(list, NULL, 0, JSON_COMPACT);
    if (len > manifest_max) {
        json_decref(list);
        json_object_set_new(res, "manifest_omitted", json_true());
    } else {
        json_object_set_new(res, "manifest", list);
    }
    return res;
}

pid_t artifact_hash_spawn(const json_t *targets, const char *result_path, gt_error_t *err)
{
    /* The node's jobs come first. */
    pid_t pid = worker_fork(10, "hash artifacts", err);
    if (pid != 0)
        return pid;
    json_t *results = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        json_t *r = json_deep_copy(t);
        json_object_del(r, "root");
        json_object_del(r, "sub_path");
        json_t *h = artifact_hash_one(json_string_value(json_object_get(t, "root")),
                                      json_string_value(json_object_get(t, "sub_path")),
                                      ARTIFACT_HASH_MANIFEST_MAX);
        json_object_update(r, h);
        json_decref(h);
        json_array_append_new(results, r);
    }
    worker_finish(json_pack("{s:o}", "results", results), result_path, "the artifact hashes");
}

json_t *artifact_hash_read(const char *result_path)
{
    json_error_t je;
    json_t *doc = json_load_file(result_path, 0, &je);
    if (!doc && access(result_path, F_OK) < 0)
        errno = ENOENT;
    return doc;
}
