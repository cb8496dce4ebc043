/* api_artifacts.c: /v1/artifacts (docs/api.md "Artifacts"): the registry's routes, uploads to
 * the blob store (their bodies streamed to disk by http.c through api_artifacts_upload_begin
 * and _end) and downloads of a version's files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/manifest.h"
#include "server/artifacts.h"
#include "server/blobs.h"
#include "server/events.h"
#include "server/server.h"

static bool method(const http_req_t *r, const char *m) { return !strcmp(r->method, m); }

/* The team whose view a caller has: NULL (every artifact) for an admin and a cluster-wide
 * viewer, else its team. */
static const char *view_team(const auth_principal_t *w)
{
    return w->role == AUTH_ADMIN || !w->team[0] ? NULL : w->team;
}

/* The team a caller writes as: NULL for an admin (any), else its own (a viewer never writes:
 * the router refuses it). */
static const char *write_team(const auth_principal_t *w)
{
    return w->role == AUTH_ADMIN ? NULL : w->team;
}

static int status_of(const gt_error_t *err)
{
    const char *c = err->code;
    return !strcmp(c, "not_found") ? 404 : !strcmp(c, "forbidden") ? 403
         : !strcmp(c, "quota_exceeded") ? 403 : !strcmp(c, "missing_blobs") ? 409
         : !strcmp(c, "conflict") ? 409 : !strcmp(c, "incomplete") ? 409
         : !strcmp(c, "digest_mismatch") ? 422 : !strcmp(c, "payload_too_large") ? 413
         : !strcmp(c, "store_error") ? 503 : !strcmp(c, "io_error") ? 500 : 400;
}

static int fail(http_resp_t *resp, const gt_error_t *err)
{
    return http_error_from(resp, status_of(err), err);
}

/* ---- uploads ---- */

/* POST /v1/artifacts/uploads {sha256, size[, team]} */
static int upload_start(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    const char *hex = json_string_value(json_object_get(body, "sha256"));
    json_t *size = json_object_get(body, "size");
    const char *team = write_team(&req->who);
    if (!team)
        team = json_string_value(json_object_get(body, "team"));
    int rc = 0;
    if (!gt_sha256_hex_ok(hex) || !json_is_integer(size) || json_integer_value(size) < 0) {
        rc = http_error(resp, 400, "invalid_argument", "an upload is {\"sha256\": 64 hex "
                        "digits, \"size\": bytes}");
    } else if (!team || !*team) {
        rc = http_error(resp, 400, "invalid_argument", "an admin's upload names the team it "
                        "is for ({\"team\": ...})");
    }
    if (resp->status != 200) {
        json_decref(body);
        return rc;
    }
    uint64_t n = (uint64_t)json_integer_value(size);
    pthread_mutex_lock(&srv->mu);
    uint64_t have_size = 0;
    if (blobs_has(srv->blobs, hex, &have_size) && have_size == n &&
        artifacts_blob_readable(srv, hex, team)) {
        /* the team reads a version with these bytes already: nothing to send */
        pthread_mutex_unlock(&srv->mu);
        resp->json = json_pack("{s:s, s:b, s:I}", "sha256", hex, "exists", 1, "size",
                               (json_int_t)n);
        json_decref(body);
        return 0;
    }
    int64_t quota = artifacts_team_quota(srv, team);
    uint64_t used = artifacts_team_usage(srv, team);
    pthread_mutex_unlock(&srv->mu);
    bool resuming = blobs_upload_exists(srv->blobs, team, hex, n); /* counted already */
    if (quota >= 0 && !resuming && used + n > (uint64_t)quota) {
        json_decref(body);
        return http_error(resp, 403, "quota_exceeded", "team '%s' holds %llu bytes in the blob "
                          "store (uploads in progress included); %llu more would pass its "
                          "storage quota of %lld bytes: remove versions it no longer needs "
                          "(gantry artifact rm) or ask an admin for more", team,
                          (unsigned long long)used, (unsigned long long)n, (long long)quota);
    }
    blob_upload_t u;
    bool resumed = false;
    gt_error_t err = {0};
    if (blobs_upload_start(srv->blobs, team, req->who.user, hex, n, &u, &resumed, &err) < 0) {
        json_decref(body);
        return fail(resp, &err);
    }
    json_decref(body);
    resp->status = resumed ? 200 : 201;
    resp->json = json_pack("{s:s, s:s, s:I, s:I, s:b}", "id", u.id, "sha256", u.sha256, "size",
                           (json_int_t)u.size, "offset", (json_int_t)u.offset, "resumed",
                           resumed);
    return 0;
}

/* The upload id names, when the caller may use it (its team's, or an admin); else -1 with a
 * 404 that says nothing of another team's upload. */
static int upload_of(server_t *srv, const http_req_t *req, const char *id, blob_upload_t *u,
                     http_resp_t *resp)
{
    gt_error_t err = {0};
    if (blobs_upload_get(srv->blobs, id, u, &err) < 0 ||
        (req->who.role != AUTH_ADMIN && strcmp(u->team, req->who.team))) {
        http_error(resp, 404, "not_found", "no upload %s (finished, cancelled, or never "
                   "started)", id);
        return -1;
    }
    return 0;
}

static json_t *upload_json(const blob_upload_t *u)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "id", u->id, "team", u->team, "sha256",
                     u->sha256, "size", (json_int_t)u->size, "offset", (json_int_t)u->offset,
                     "created", (json_int_t)u->created);
}

static int upload_route(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest)
{
    char id[40];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n >= sizeof(id))
        return http_error(resp, 404, "not_found", "no such upload");
    memcpy(id, rest, n);
    id[n] = '\0';
    const char *verb = slash ? slash + 1 : "";
    blob_upload_t u;
    if (upload_of(srv, req, id, &u, resp) < 0)
        return 0;
    gt_error_t err = {0};
    if (!*verb && (method(req, "GET") || method(req, "PATCH"))) {
        resp->json = upload_json(&u);
        return 0;
    }
    if (!*verb && method(req, "DELETE")) {
        if (blobs_upload_cancel(srv->blobs, id, &err) < 0)
            return fail(resp, &err);
        resp->json = json_pack("{s:s, s:b}", "id", id, "cancelled", 1);
        return 0;
    }
    if (!strcmp(verb, "commit") && method(req, "POST")) {
        if (blobs_upload_commit(srv->blobs, id, &err) < 0)
            return fail(resp, &err);
        pthread_mutex_lock(&srv->mu);
        artifacts_blob_uploaded(srv, u.team, u.sha256);
        pthread_mutex_unlock(&srv->mu);
        resp->json = json_pack("{s:s, s:I, s:b}", "sha256", u.sha256, "size",
                               (json_int_t)u.size, "committed", 1);
        return 0;
    }
    return http_error(resp, 405, "method_not_allowed", "%s /v1/artifacts/uploads/%s: use GET, "
                      "PATCH (bytes at ?offset=N), DELETE, or POST .../commit", req->method,
                      rest);
}

int api_artifacts_upload_begin(server_t *srv, const http_req_t *req, void **writer,
                               http_resp_t *resp)
{
    const char *p = req->path + strlen("/v1/artifacts/uploads/");
    if (auth_read_only(&req->who) || req->who.role == AUTH_AGENT || req->who.role == AUTH_NODE)
        return http_error(resp, 403, "forbidden", "a %s token may not upload",
                          auth_role_name(req->who.role)) - 1;
    blob_upload_t u;
    if (strchr(p, '/') || upload_of(srv, req, p, &u, resp) < 0) {
        if (resp->status == 200)
            http_error(resp, 404, "not_found", "no such upload");
        return -1;
    }
    const char *off = http_query(req, "offset");
    int64_t offset;
    gt_error_t err = {0};
    if (!off || gt_parse_int64(off, 0, INT64_MAX, &offset, &err) < 0) {
        http_error(resp, 400, "invalid_argument", "PATCH an upload with ?offset=N, the bytes "
                   "it has (GET it to know: %llu now)", (unsigned long long)u.offset);
        return -1;
    }
    blob_writer_t *w = NULL;
    if (blobs_write_begin(srv->blobs, p, (uint64_t)offset, &w, &err) < 0) {
        fail(resp, &err);
        json_object_set_new(json_object_get(resp->json, "error"), "offset",
                            json_integer((json_int_t)u.offset));
        return -1;
    }
    *writer = w;
    return 0;
}

void api_artifacts_upload_data(void *writer, const char *data, size_t n)
{
    blobs_write(writer, data, n, NULL);
}

int api_artifacts_upload_end(server_t *srv, void *writer, http_resp_t *resp)
{
    (void)srv;
    gt_error_t err = {0};
    int bad = blobs_write_error(writer, &err);
    uint64_t offset = 0;
    blobs_write_end(writer, &offset);
    if (bad) {
        fail(resp, &err);
        json_object_set_new(json_object_get(resp->json, "error"), "offset",
                            json_integer((json_int_t)offset));
        return 0;
    }
    resp->json = json_pack("{s:I}", "offset", (json_int_t)offset);
    return 0;
}

void api_artifacts_upload_abort(void *writer)
{
    blobs_write_end(writer, NULL);
}

/* ---- versions ---- */

/* POST /v1/artifacts/NAME/versions {manifest, kind, visibility, metadata, team}: a version in
 * the blob store. 409 missing_blobs with {"missing": [sha256...]} lists what to upload. */
static int version_post(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    const char *team = write_team(&req->who);
    char team_buf[64] = "";
    pthread_mutex_lock(&srv->mu);
    if (!team) { /* an admin: the artifact's team, or the body's for a new one */
        json_t *view = artifacts_view(srv, name, NULL, true);
        const char *t = json_string_value(json_object_get(view, "team"));
        if (!t)
            t = json_string_value(json_object_get(body, "team"));
        snprintf(team_buf, sizeof(team_buf), "%s", t ? t : "");
        json_decref(view);
        team = team_buf;
    }
    gt_error_t err = {0};
    manifest_t *m = NULL;
    json_t *man = json_object_get(body, "manifest");
    if (!team || !*team) {
        pthread_mutex_unlock(&srv->mu);
        json_decref(body);
        return http_error(resp, 400, "invalid_argument", "an admin's new artifact names the "
                          "team that owns it ({\"team\": ...})");
    }
    if (artifacts_may_write(srv, name, team, &err) < 0 ||
        manifest_from_json(man, 0, &m, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        json_decref(body);
        return fail(resp, &err);
    }
    json_t *missing = json_array();
    for (size_t i = 0; i < m->n; i++)
        if (!m->entries[i].link &&
            !artifacts_blob_available(srv, team, m->entries[i].sha256, m->entries[i].size))
            json_array_append_new(missing, json_string(m->entries[i].sha256));
    manifest_free(m);
    if (json_array_size(missing)) {
        pthread_mutex_unlock(&srv->mu);
        json_decref(body);
        http_error(resp, 409, "missing_blobs", "%zu files of the manifest are not in the blob "
                   "store: upload them (POST /v1/artifacts/uploads), then post the version "
                   "again", json_array_size(missing));
        json_object_set_new(resp->json, "missing", missing);
        return 0;
    }
    json_decref(missing);
    artifact_new_t nv = {
        .name = name,
        .kind = json_string_value(json_object_get(body, "kind")),
        .team = team,
        .user = req->who.user,
        .manifest = man,
        .metadata = json_object_get(body, "metadata"),
        .visibility = json_string_value(json_object_get(body, "visibility")),
    };
    artifact_ver_t *v = NULL;
    uint64_t ticket = 0;
    int rc = artifacts_add_version(srv, &nv, &v, &ticket, &err);
    if (rc == 0) {
        char ref[96];
        snprintf(ref, sizeof(ref), "%s@%lld", v->name, (long long)v->version);
        resp->json = artifacts_version_view(srv, ref, NULL, &err);
        json_object_del(resp->json, "manifest");
        resp->status = 201;
        resp->ticket = ticket;
        server_audit(srv, req->who.user, "artifact.push", ref,
                     NULL, json_pack("{s:s, s:I, s:I}", "digest", v->digest, "size",
                                     (json_int_t)v->size, "files", (json_int_t)v->files));
    }
    pthread_mutex_unlock(&srv->mu);
    artifacts_ver_free(v);
    json_decref(body);
    return rc < 0 ? fail(resp, &err) : 0;
}

/* "3" -> "@3", "latest" -> "", "production" -> ":production" after name. */
static void ref_of(char *buf, size_t len, const char *name, const char *sel)
{
    bool digits = *sel != '\0';
    for (const char *p = sel; *p; p++)
        digits &= *p >= '0' && *p <= '9';
    if (!strcmp(sel, "latest") || !*sel)
        snprintf(buf, len, "%s", name);
    else
        snprintf(buf, len, "%s%c%s", name, digits ? '@' : ':', sel);
}

/* "bytes=N-" or "bytes=N-M" (one range; RFC 9110 14.1.2) against a file of size bytes: 0 and
 * [*from, *to] (inclusive), 1 when the header is absent or not one range (the whole file is
 * sent, as a server may), -1 when no byte of it is in the file (416). */
static int byte_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (!h || strncmp(h, "bytes=", 6))
        return 1;
    const char *p = h + 6;
    char *end;
    if (*p < '0' || *p > '9')
        return 1; /* a suffix range ("bytes=-500") or junk: the whole file */
    errno = 0;
    unsigned long long a = strtoull(p, &end, 10), b = size ? size - 1 : 0;
    if (errno || *end != '-')
        return 1;
    p = end + 1;
    if (*p) {
        if (*p < '0' || *p > '9')
            return 1;
        b = strtoull(p, &end, 10);
        if (errno || *end || b < a)
            return 1;
        if (b >= size)
            b = size ? size - 1 : 0;
    }
    if (a >= size)
        return -1;
    *from = a;
    *to = b;
    return 0;
}

/* Answers with blob hex's bytes: all of them (200), or the range the Range header asks (206
 * with Content-Range; 416 when it starts past the end): a download cut off resumes where it
 * stopped. The caller has checked that the requester may read it. */
static int send_blob(server_t *srv, const http_req_t *req, http_resp_t *resp, const char *hex)
{
    gt_error_t err = {0};
    uint64_t size = 0, from = 0, to = 0;
    int fd = blobs_open_read(srv->blobs, hex, &size, &err);
    if (fd < 0)
        return http_error_from(resp, 500, &err);
    int r = byte_range(http_header(req, "Range"), size, &from, &to);
    if (r < 0) {
        close(fd);
        snprintf(resp->content_range, sizeof(resp->content_range), "bytes */%llu",
                 (unsigned long long)size);
        return http_error(resp, 416, "range_not_satisfiable", "the blob has %llu bytes: a range "
                          "must start below that", (unsigned long long)size);
    }
    resp->file_fd = fd;
    resp->file_size = size;
    resp->has_file = true;
    resp->content_type = "application/octet-stream";
    if (r == 0) {
        resp->status = 206;
        resp->file_offset = from;
        resp->file_size = to - from + 1;
        snprintf(resp->content_range, sizeof(resp->content_range), "bytes %llu-%llu/%llu",
                 (unsigned long long)from, (unsigned long long)to, (unsigned long long)size);
    }
    return 0;
}

/* GET .../versions/SEL/blobs/HEX: the bytes of a file of a version the caller reads. */
static int blob_get(server_t *srv, http_req_t *req, http_resp_t *resp, const char *ref,
                    const char *hex)
{
    gt_error_t err = {0};
    pthread_mutex_lock(&srv->mu);
    int rc = artifacts_version_blob(srv, ref, view_team(&req->who), hex, &err);
    pthread_mutex_unlock(&srv->mu);
    if (rc < 0)
        return fail(resp, &err);
    return send_blob(srv, req, resp, hex);
}

/* ---- a node fetches a job's input (agent/fetch.h) ---- */

int api_artifacts_agent_input(server_t *srv, http_req_t *req, http_resp_t *resp,
                              const char *rest)
{
    if (!method(req, "GET"))
        return http_error(resp, 405, "method_not_allowed", "GET /v1/agent/inputs/JOB/INC/N");
    const char *node = http_query(req, "name");
    if (!node || node_auth_check(req, node, resp) < 0)
        return node ? 0 : http_error(resp, 400, "invalid_argument", "?name=NODE is required");
    unsigned long long id = 0;
    int inc = 0, idx = -1, used = 0;
    if (sscanf(rest, "%llu/%d/%d%n", &id, &inc, &idx, &used) != 3 || idx < 0 ||
        (rest[used] && strncmp(rest + used, "/blobs/", 7)))
        return http_error(resp, 404, "not_found", "no such endpoint: GET /v1/agent/inputs/%s "
                          "(JOB/INCARNATION/INPUT[/blobs/SHA256])", rest);
    const char *hex = rest[used] ? rest + used + 7 : NULL;
    gt_error_t err = {0};
    char ref[160] = "", digest[GT_DIGEST_LEN] = "", team[64] = "";
    pthread_mutex_lock(&srv->mu);
    /* Only for a job placed on this node now (this incarnation), and only an input it names
     * that lives in the blob store; read as the job's team reads it now (a version made
     * private since the job was submitted is no longer its team's to read). */
    job_t *j = server_job(srv, (uint64_t)id);
    json_t *in = j ? json_array_get(j->inputs, (size_t)idx) : NULL;
    if (!j || j->state != JOB_RUNNING || j->incarnation != inc || !job_on_node(j, node)) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 404, "not_found", "job %llu incarnation %d does not run on node "
                          "%s", id, inc, node);
    }
    if (!in || strcmp(json_string_value(json_object_get(json_object_get(in, "location"),
                                                        "type")) ?: "", "blob")) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 404, "not_found", "job %llu has no input %d in the blob store",
                          id, idx);
    }
    snprintf(ref, sizeof(ref), "%s@%lld", json_string_value(json_object_get(in, "artifact")),
             (long long)json_integer_value(json_object_get(in, "version")));
    snprintf(digest, sizeof(digest), "%s", json_string_value(json_object_get(in, "digest")));
    snprintf(team, sizeof(team), "%s", j->team);
    int rc = 0;
    if (hex) {
        rc = artifacts_version_blob(srv, ref, team, hex, &err);
    } else {
        json_t *v = artifacts_version_view(srv, ref, team, &err);
        if (!v) {
            rc = -1;
        } else if (strcmp(json_string_value(json_object_get(v, "digest")) ?: "", digest)) {
            rc = gt_error_set(&err, "conflict", "%s is no longer the version job %llu was given",
                              ref, id);
            json_decref(v);
        } else {
            resp->json = json_pack("{s:O,s:O,s:O,s:O}", "artifact", json_object_get(v, "name"),
                                   "version", json_object_get(v, "version"), "digest",
                                   json_object_get(v, "digest"), "manifest",
                                   json_object_get(v, "manifest"));
            /* the node did not have it (a copy in its cache is only checked): it fetches */
            server_job_event(srv, j, "fetching_inputs",
                             json_pack("{s:s,s:i,s:s,s:O,s:O}", "node", node, "input", idx,
                                       "ref", ref, "size", json_object_get(v, "size"), "files",
                                       json_object_get(v, "files")));
            json_decref(v);
        }
    }
    pthread_mutex_unlock(&srv->mu);
    if (rc < 0) {
        int st = status_of(&err);
        return http_error(resp, st == 400 ? 404 : st, err.code, "input %d of job %llu (%s): %s",
                          idx, id, ref, err.msg);
    }
    return hex ? send_blob(srv, req, resp, hex) : 0;
}

static int version_route(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name,
                         const char *rest)
{
    char sel[80];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n == 0 || n >= sizeof(sel))
        return http_error(resp, 404, "not_found", "no such version");
    memcpy(sel, rest, n);
    sel[n] = '\0';
    char ref[160];
    ref_of(ref, sizeof(ref), name, sel);
    if (slash && !strncmp(slash, "/blobs/", 7) && method(req, "GET"))
        return blob_get(srv, req, resp, ref, slash + 7);
    if (slash)
        return http_error(resp, 404, "not_found", "no such endpoint: %s %s", req->method,
                          req->path);
    gt_error_t err = {0};
    if (method(req, "GET")) {
        pthread_mutex_lock(&srv->mu);
        resp->json = artifacts_version_view(srv, ref, view_team(&req->who), &err);
        pthread_mutex_unlock(&srv->mu);
        return resp->json ? 0 : fail(resp, &err);
    }
    if (method(req, "DELETE")) {
        pthread_mutex_lock(&srv->mu);
        json_t *v = artifacts_version_view(srv, ref, view_team(&req->who), &err);
        int64_t version = (int64_t)json_integer_value(json_object_get(v, "version"));
        json_decref(v);
        bool hidden = false;
        char why[200] = "";
        int rc = v ? artifacts_version_rm(srv, name, version, write_team(&req->who), &hidden,
                                          why, sizeof(why), &err) : -1;
        pthread_mutex_unlock(&srv->mu);
        if (rc < 0)
            return fail(resp, &err);
        char obj[160];
        snprintf(obj, sizeof(obj), "%s@%lld", name, (long long)version);
        server_audit(srv, req->who.user, hidden ? "artifact.hide" : "artifact.rm", obj, NULL,
                     hidden ? json_pack("{s:s}", "why", why) : NULL);
        resp->json = json_pack("{s:s, s:I, s:s}", "name", name, "version", (json_int_t)version,
                               "result", hidden ? "hidden" : "deleted");
        if (hidden)
            json_object_set_new(resp->json, "why", json_string(why));
        return 0;
    }
    return http_error(resp, 405, "method_not_allowed", "a version takes GET or DELETE");
}

static int alias_route(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name,
                       const char *alias)
{
    gt_error_t err = {0};
    char obj[160];
    snprintf(obj, sizeof(obj), "%s:%s", name, alias);
    if (method(req, "PUT")) {
        json_t *body = http_body_json(req, resp);
        if (!body)
            return 0;
        json_t *ver = json_object_get(body, "version");
        if (!json_is_integer(ver)) {
            json_decref(body);
            return http_error(resp, 400, "invalid_argument", "an alias is {\"version\": N}");
        }
        int64_t version = (int64_t)json_integer_value(ver);
        json_decref(body);
        pthread_mutex_lock(&srv->mu);
        json_t *view = artifacts_view(srv, name, NULL, true);
        json_t *was = json_incref(json_object_get(json_object_get(view, "aliases"), alias));
        json_decref(view);
        uint64_t t = 0;
        int rc = artifacts_alias_set(srv, name, alias, version, write_team(&req->who), &t, &err);
        pthread_mutex_unlock(&srv->mu);
        if (rc < 0) {
            json_decref(was);
            return fail(resp, &err);
        }
        server_audit(srv, req->who.user, "artifact.tag", obj,
                     was ? json_pack("{s:o}", "version", was) : NULL,
                     json_pack("{s:I}", "version", (json_int_t)version));
        resp->json = json_pack("{s:s, s:s, s:I}", "name", name, "alias", alias, "version",
                               (json_int_t)version);
        return 0;
    }
    if (method(req, "DELETE")) {
        pthread_mutex_lock(&srv->mu);
        int rc = artifacts_alias_del(srv, name, alias, write_team(&req->who), &err);
        pthread_mutex_unlock(&srv->mu);
        if (rc < 0)
            return fail(resp, &err);
        server_audit(srv, req->who.user, "artifact.untag", obj, NULL, NULL);
        resp->json = json_pack("{s:s, s:s, s:b}", "name", name, "alias", alias, "deleted", 1);
        return 0;
    }
    return http_error(resp, 405, "method_not_allowed", "an alias takes PUT {version} or DELETE");
}

/* POST /v1/artifacts/REF/verify of a blob-store version: every file's blob hashed again on
 * the server's disk (a version in place is verified on a node: server/lineage.c). Answers
 * {name, version, digest, verified: bool, files, checked_bytes, damaged: [paths]}. */
static int verify_blobs(server_t *srv, http_req_t *req, http_resp_t *resp, const char *ref)
{
    gt_error_t err = {0};
    pthread_mutex_lock(&srv->mu);
    json_t *v = artifacts_version_view(srv, ref, view_team(&req->who), &err);
    pthread_mutex_unlock(&srv->mu);
    if (!v)
        return fail(resp, &err);
    if (strcmp(json_string_value(json_object_get(json_object_get(v, "location"), "type")) ?: "",
               "blob")) {
        json_decref(v);
        return http_error(resp, 409, "conflict", "%s lives in place on a volume: it is verified "
                          "on a node that has the volume", ref);
    }
    json_t *damaged = json_array(), *seen = json_object();
    uint64_t bytes = 0;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(v, "manifest"), i, f)
    {
        const char *hex = json_string_value(json_object_get(f, "sha256"));
        if (json_object_get(f, "link"))
            continue;
        json_t *known = json_object_get(seen, hex);
        bool good;
        if (known) {
            good = json_is_true(known);
        } else {
            uint64_t size = 0, got = 0;
            char h[65] = "";
            int fd = blobs_open_read(srv->blobs, hex, &size, &err);
            good = fd >= 0 && gt_sha256_fd(fd, hex, NULL, 0, h, &got, &err) == 0 &&
                   !strcmp(h, hex) && got == (uint64_t)json_integer_value(json_object_get(f, "size"));
            if (fd >= 0)
                close(fd);
            bytes += got;
            json_object_set_new(seen, hex, json_boolean(good));
        }
        if (!good)
            json_array_append(damaged, json_object_get(f, "path"));
    }
    resp->json = json_pack("{s:O, s:O, s:O, s:b, s:I, s:I, s:o}", "name",
                           json_object_get(v, "name"), "version", json_object_get(v, "version"),
                           "digest", json_object_get(v, "digest"),
                           "verified", json_array_size(damaged) == 0, "files",
                           (json_int_t)json_array_size(json_object_get(v, "manifest")),
                           "checked_bytes", (json_int_t)bytes, "damaged", damaged);
    json_decref(seen);
    json_decref(v);
    return 0;
}

int api_artifacts(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest)
{
    size_t rl = strlen(rest);
    if (rl > 7 && !strcmp(rest + rl - 7, "/verify") && method(req, "POST")) {
        char ref[160];
        if (rl - 7 >= sizeof(ref))
            return http_error(resp, 404, "not_found", "no such artifact");
        memcpy(ref, rest, rl - 7);
        ref[rl - 7] = '\0';
        if (!strchr(ref, '/'))
            return verify_blobs(srv, req, resp, ref);
    }
    if (!*rest) {
        if (!method(req, "GET"))
            return http_error(resp, 405, "method_not_allowed", "GET /v1/artifacts lists them; "
                              "POST /v1/artifacts/NAME/versions adds a version");
        const char *team = view_team(&req->who);
        const char *kind = http_query(req, "kind");
        pthread_mutex_lock(&srv->mu);
        json_t *names = artifacts_names(srv, team), *list = json_array();
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n)
        {
            json_t *a = artifacts_view(srv, json_string_value(n), team, false);
            if (kind && strcmp(json_string_value(json_object_get(a, "kind")) ?: "", kind)) {
                json_decref(a);
                continue;
            }
            json_array_append_new(list, a);
        }
        pthread_mutex_unlock(&srv->mu);
        json_decref(names);
        resp->json = json_pack("{s:o}", "artifacts", list);
        return 0;
    }
    if (!strcmp(rest, "uploads")) {
        if (!method(req, "POST"))
            return http_error(resp, 405, "method_not_allowed", "POST /v1/artifacts/uploads "
                              "{sha256, size} starts an upload");
        return upload_start(srv, req, resp);
    }
    if (!strncmp(rest, "uploads/", 8))
        return upload_route(srv, req, resp, rest + 8);
    char name[80];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n >= sizeof(name))
        return http_error(resp, 404, "not_found", "no such artifact");
    memcpy(name, rest, n);
    name[n] = '\0';
    if (!artifacts_name_ok(name))
        return http_error(resp, 400, "invalid_argument", "'%s' is not an artifact name (1 to "
                          "63 of A-Z a-z 0-9 . _ -, beginning with a letter or digit)", name);
    const char *sub = slash ? slash + 1 : "";
    gt_error_t err = {0};
    if (!*sub) {
        if (method(req, "GET")) {
            bool hidden = http_query(req, "hidden") != NULL;
            pthread_mutex_lock(&srv->mu);
            resp->json = artifacts_view(srv, name, view_team(&req->who), hidden);
            pthread_mutex_unlock(&srv->mu);
            return resp->json ? 0 : http_error(resp, 404, "not_found", "artifact '%s' does not "
                                               "exist (or is not shared with your team)", name);
        }
        if (method(req, "PATCH")) {
            json_t *body = http_body_json(req, resp);
            if (!body)
                return 0;
            json_t *vis = json_object_get(body, "visibility");
            pthread_mutex_lock(&srv->mu);
            int rc = artifacts_update(srv, name, vis ? json_string_value(vis) ?: "?" : NULL,
                                      json_object_get(body, "metadata"), write_team(&req->who),
                                      &err);
            if (rc == 0)
                resp->json = artifacts_view(srv, name, NULL, false);
            pthread_mutex_unlock(&srv->mu);
            if (rc == 0)
                server_audit(srv, req->who.user, "artifact.update", name, NULL,
                             json_incref(body));
            json_decref(body);
            return rc < 0 ? fail(resp, &err) : 0;
        }
        return http_error(resp, 405, "method_not_allowed", "an artifact takes GET or PATCH "
                          "{visibility, metadata}");
    }
    if (!strcmp(sub, "versions")) {
        if (method(req, "POST"))
            return version_post(srv, req, resp, name);
        if (method(req, "GET")) {
            pthread_mutex_lock(&srv->mu);
            json_t *a = artifacts_view(srv, name, view_team(&req->who), false);
            pthread_mutex_unlock(&srv->mu);
            if (!a)
                return http_error(resp, 404, "not_found", "artifact '%s' does not exist (or is "
                                  "not shared with your team)", name);
            resp->json = json_pack("{s:O}", "versions", json_object_get(a, "versions"));
            json_decref(a);
            return 0;
        }
        return http_error(resp, 405, "method_not_allowed", "versions take GET or POST");
    }
    if (!strncmp(sub, "versions/", 9))
        return version_route(srv, req, resp, name, sub + 9);
    if (!strncmp(sub, "aliases/", 8) && sub[8] && !strchr(sub + 8, '/'))
        return alias_route(srv, req, resp, name, sub + 8);
    return http_error(resp, 404, "not_found", "no such endpoint: %s %s", req->method,
                      req->path);
}
