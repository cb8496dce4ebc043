/* artifacts.h: the artifact registry (docs/artifacts.md).
 *
 * An artifact is a named dataset, model or other data owned by a team, visible to that team
 * (visibility "team") or to everyone ("public"), with free-form metadata. Its versions are
 * numbered 1, 2, ... and immutable: a content digest (manifest.h: SHA-256 over the canonical
 * manifest of its files) and where the files live: the server's blob store (blobs.h), or in
 * place on a storage volume ({volume, path}); a version made by a job records its lineage.
 * Aliases ("production", "staging") name a version and move. A reference is "name@3",
 * "name:alias", or "name" (its latest version).
 *
 * Access: every team reads its own artifacts and the public ones; only the owning team (and
 * admins) write them: new versions, aliases, metadata, removal. A version that a running job
 * reads or that is an input of recorded lineage is never deleted: rm hides it (it stays for
 * lineage and for the job, and is no longer resolved for new use). Per-team blob quotas in
 * bytes (configuration teams[].storage_quota) bound what the blob store holds for a team.
 *
 * Memory holds the registry; the store's artifacts, artifact_versions and artifact_aliases
 * tables keep it (store.h). A new version (a job's output, or a push through the API) is a
 * kept change: memory has it at once and its write is retried until it commits (the push's
 * answer waits for that commit, and says 503 while the store cannot commit); aliases,
 * visibility, metadata and removals are client changes, committed before memory changes.
 * Every function here is called with srv->mu held unless it says otherwise. */
#ifndef GANTRY_SERVER_ARTIFACTS_H
#define GANTRY_SERVER_ARTIFACTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/digest.h"
#include "server/server.h"

/* One version, as the registry hands it out: a copy the caller frees with artifacts_ver_free
 * (it stays valid after mu is released). */
typedef struct artifact_ver {
    char *name;              /* the artifact's name */
    int64_t version;         /* 1, 2, ... */
    char digest[GT_DIGEST_LEN]; /* "sha256:<hex>" over the canonical manifest */
    char *kind;              /* the artifact's: "dataset", "model" or "other" */
    char *team;              /* the owning team */
    bool public_;            /* the artifact's visibility */
    uint64_t size;           /* bytes of its files */
    uint64_t files;          /* how many files (and links) */
    json_t *manifest;        /* [{path, size, sha256[, link]}] (a reference; never changed);
                                NULL for a version in place registered by its digest alone */
    char *volume, *path;     /* in place: the volume and the path beneath it; NULL: blob store */
    json_t *lineage;         /* a job's lineage object (a reference), or NULL; its "inputs" are
                                [{artifact: NAME, version: N, ...}] */
    char *created_by;        /* user */
    int64_t created;         /* epoch seconds */
    bool hidden;             /* removed while in use: kept, no longer resolved */
} artifact_ver_t;

/* A new version (artifacts_add_version); strings and JSON are borrowed (copied as needed). */
typedef struct artifact_new {
    const char *name;        /* created if missing, owned by team */
    const char *kind;        /* dataset | model | other; NULL: the artifact's, or other */
    const char *team;        /* must own the artifact (or will) */
    const char *user;        /* who registers it */
    const char *digest;      /* may be NULL: computed from manifest; else must match it */
    uint64_t size, files;    /* informational when manifest is given (recomputed from it) */
    const json_t *manifest;  /* the files; required but for a version in place, which may give
                                its digest, size and files alone (a tree whose manifest is too
                                large to send; verify then compares digests only) */
    const char *volume, *path; /* in place; NULL for the blob store (every file's blob must be
                                  stored: blobs.h) */
    const json_t *lineage;   /* an object, or NULL */
    const json_t *metadata;  /* a new artifact's metadata (object), or NULL */
    const char *visibility;  /* a new artifact's: "team" (NULL) or "public" */
} artifact_new_t;

/* Whether s is an artifact name: 1 to 63 of [A-Za-z0-9._-], beginning with a letter or a
 * digit. An alias is the same, but not all digits and not "latest". */
bool artifacts_name_ok(const char *s);
bool artifacts_alias_ok(const char *s);

/* Loads the registry from the store and opens the blob store (server_open). 0, or -1 with
 * err. artifacts_free frees both (accepts a server without them). Without mu. */
int artifacts_load(server_t *srv, gt_error_t *err);
void artifacts_free(server_t *srv);

/* "name@3", "name:alias" or "name" (the latest version not hidden) -> a copy of that version,
 * which team may read (team NULL: any team's, for admins and cluster-wide viewers). A hidden
 * version is not resolved. 0, or -1 with err: 404 not_found (also for an artifact team may
 * not read: its existence is not revealed), 400 invalid_argument (a malformed reference). */
int artifacts_resolve(server_t *srv, const char *ref, const char *team, artifact_ver_t **out,
                      gt_error_t *err);
void artifacts_ver_free(artifact_ver_t *v);

/* 0 when team may add versions to artifact name (it owns it, or it does not exist yet); -1
 * with err (code forbidden, naming the owner only when team may read it; invalid_argument for
 * a bad name). team NULL: an admin (any). */
int artifacts_may_write(server_t *srv, const char *name, const char *team, gt_error_t *err);

/* Registers a new version of nv->name (creating the artifact, owned by nv->team, when
 * missing): the manifest is checked and its digest computed (nv->digest, when given, must be
 * it); a blob-store version needs every file's blob stored, and fits team's storage quota.
 * Memory changes now and the write is queued as a kept change (store.h); *ticket its ticket.
 * *out (may be NULL) a copy of the version. 0, or -1 with err: forbidden (another team's
 * artifact), invalid_argument (name, kind, manifest, digest mismatch), missing_blobs,
 * quota_exceeded. */
int artifacts_add_version(server_t *srv, const artifact_new_t *nv, artifact_ver_t **out,
                          uint64_t *ticket, gt_error_t *err);

/* Calls fn for every version of every artifact (hidden ones too), in name then version order;
 * stops when fn returns non-zero. The version is valid during the call only. */
void artifacts_each(server_t *srv, int (*fn)(void *arg, const artifact_ver_t *v), void *arg);

/* Whether name@version is in use: read by a job that is running (its inputs name it) or an
 * input of the recorded lineage of another version. why (may be NULL, 160 bytes) says which. */
bool artifacts_version_in_use(server_t *srv, const char *name, int64_t version, char *why,
                              size_t whylen);

/* Bytes team's artifacts hold in the blob store: each distinct blob of its versions (hidden
 * ones included) once, plus its uploads in progress. Its quota: -1 when none. */
uint64_t artifacts_team_usage(server_t *srv, const char *team);
int64_t artifacts_team_quota(server_t *srv, const char *team);
/* An admin's storage quota for team (PUT /v1/teams/NAME {"storage_quota"}): bytes, or -1 for
 * none. It replaces the configuration's, and from then on travels in the team's stored
 * document (artifacts_quota_doc), so that a restart keeps it. */
void artifacts_quota_set(server_t *srv, const char *team, int64_t bytes);
/* Adds "storage_quota" (bytes, -1: none) to doc, a team's stored document, when an admin has
 * set team's storage quota (else the configuration's stays in charge). */
void artifacts_quota_doc(server_t *srv, const char *team, json_t *doc);
/* A stored team document at load: its storage_quota, when it has one, is applied (over the
 * configuration's). */
void artifacts_quota_load(server_t *srv, const char *team, const json_t *doc);

/* ---- for api_artifacts.c (caller holds mu; team NULL: an admin's or cluster-wide view) ---- */
/* The artifact as team sees it: {name, kind, team, visibility, metadata, created, created_by,
 * latest, versions: [{version, digest, size, files, location, created, ...}] (hidden ones only
 * when show_hidden), aliases: {alias: version}}; NULL when absent or not readable by team. */
json_t *artifacts_view(server_t *srv, const char *name, const char *team, bool show_hidden);
/* The names team may read, in order (a new array). */
json_t *artifacts_names(server_t *srv, const char *team);
/* A version (ref as artifacts_resolve, hidden ones included) with its manifest, lineage and
 * aliases (a new object); NULL with err (not_found, invalid_argument). */
json_t *artifacts_version_view(server_t *srv, const char *ref, const char *team,
                               gt_error_t *err);
/* 0 when the version ref names (team may read it; hidden ones too) is in the blob store and
 * has a file with sha256 hex (a download of it is allowed); -1 with err: not_found, conflict
 * (a version in place), invalid_argument. */
int artifacts_version_blob(server_t *srv, const char *ref, const char *team, const char *hex,
                           gt_error_t *err);
/* Whether blob hex is a file of a blob-store version team may read. */
bool artifacts_blob_readable(server_t *srv, const char *hex, const char *team);
/* Team sent blob hex whole (an upload it committed): it may use it in a version. */
void artifacts_blob_uploaded(server_t *srv, const char *team, const char *hex);
/* Whether team may name blob hex (of size bytes) in a new version: it is stored, and team
 * sent it or reads a version that has it. Knowing a digest is not enough: the blob store is
 * shared by every team, and a version naming another team's private file would let its bytes
 * be downloaded. */
bool artifacts_blob_available(server_t *srv, const char *team, const char *hex, uint64_t size);
/* The owner's changes (team NULL: an admin). Each is a client change: committed before memory
 * changes (store.h), mu released while it commits and held again on return. -1 with err:
 * not_found (also another team's private artifact), forbidden (another team's shared one),
 * invalid_argument, store_error (nothing changed). */
int artifacts_alias_set(server_t *srv, const char *name, const char *alias, int64_t version,
                        const char *team, uint64_t *ticket, gt_error_t *err);
int artifacts_alias_del(server_t *srv, const char *name, const char *alias, const char *team,
                        gt_error_t *err);
int artifacts_update(server_t *srv, const char *name, const char *visibility,
                     const json_t *metadata, const char *team, gt_error_t *err);
/* Removes name@version: deleted, with the blobs no other version keeps, when nothing uses it
 * (artifacts_version_in_use); else only hidden (*hidden true, why says by what). Aliases
 * naming it are removed either way. */
int artifacts_version_rm(server_t *srv, const char *name, int64_t version, const char *team,
                         bool *hidden, char *why, size_t whylen, gt_error_t *err);

/* GET /v1/agent/inputs/JOB/INC/N[/blobs/SHA256]?name=NODE (api_artifacts.c; takes mu): a
 * node's credential fetches input N of job JOB (incarnation INC), a version in the blob store:
 * {artifact, version, digest, manifest}, or one of its files' bytes (Range as for users). Only
 * for a job running on that node now, and as the job's team may read the version now; 404
 * otherwise. */
int api_artifacts_agent_input(server_t *srv, http_req_t *req, http_resp_t *resp,
                              const char *rest);

/* /v1/artifacts... (api_artifacts.c); takes mu itself. */
int api_artifacts(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest);

#endif
