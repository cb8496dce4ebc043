/* lineage.c: jobs that consume and produce artifacts; in-place versions hashed on nodes;
 * the lineage graph (lineage.h). */
#include "server/lineage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envspec.h"
#include "common/jobio.h"
#include "common/manifest.h"
#include "server/artifacts.h"
#include "server/events.h"

/* Hash requests (in-place registration, verification) wait in memory for their node. */
#define REQ_KEEP_S 3600.0 /* an answered request is kept this long for its poller */

struct lineage {
    json_t *reqs;   /* id -> {id, op: register|verify, node, volume, path, name, kind, team,
                       user, ref, state: hashing|done|failed, created, ...} */
    uint64_t seq;
};

static struct lineage *state_of(server_t *srv)
{
    if (!srv->lineage) {
        srv->lineage = xcalloc(1, sizeof(*srv->lineage));
        srv->lineage->reqs = json_object();
    }
    return srv->lineage;
}

void lineage_free(server_t *srv)
{
    if (!srv->lineage)
        return;
    json_decref(srv->lineage->reqs);
    free(srv->lineage);
    srv->lineage = NULL;
}

/* ---- volumes ---- */

/* The first volume of kind output team may use (its name in *name), or NULL. */
static json_t *output_volume(server_t *srv, const char *team, const char **name)
{
    const char *k;
    json_t *v;
    json_object_foreach(srv->volumes, k, v)
    {
        const char *vk = json_string_value(json_object_get(v, "kind"));
        if (vk && !strcmp(vk, "output") && gt_teams_admit(json_object_get(v, "teams"), team)) {
            *name = k;
            return v;
        }
    }
    return NULL;
}

/* "a/b" for GT_OUTPUT_ROOT "/a/b"; "" for the root itself. */
static const char *output_sub(const char *path)
{
    const char *s = path + strlen(GT_OUTPUT_ROOT);
    return *s == '/' ? s + 1 : s;
}

/* ---- submission ---- */

int lineage_resolve_job(server_t *srv, job_t *j, gt_error_t *err)
{
    size_t i;
    json_t *in;
    json_array_foreach(j->inputs, i, in)
    {
        char ref[256];
        snprintf(ref, sizeof(ref), "%s", json_string_value(json_object_get(in, "artifact")));
        artifact_ver_t *v = NULL;
        gt_error_t e = {0};
        if (artifacts_resolve(srv, ref, j->team, &v, &e) < 0) {
            gt_error_set(err, e.code[0] ? e.code : "invalid_argument", "inputs[%zu]: %s", i,
                         e.msg);
            return -1;
        }
        /* {artifact: NAME, version, digest, path, ref: as given, location}: in place on a
         * volume, or in the blob store (the node fetches it into its cache: agent/fetch.h) */
        json_object_set_new(in, "ref", json_string(ref));
        json_object_set_new(in, "artifact", json_string(v->name));
        json_object_set_new(in, "version", json_integer((json_int_t)v->version));
        json_object_set_new(in, "digest", json_string(v->digest));
        json_object_set_new(in, "location",
                            v->volume ? json_pack("{s:s,s:s}", "volume", v->volume, "path", v->path)
                                      : json_pack("{s:s,s:I,s:I}", "type", "blob", "size",
                                                  (json_int_t)v->size, "files",
                                                  (json_int_t)v->files));
        artifacts_ver_free(v);
    }
    if (!json_array_size(j->outputs))
        return 0;
    const char *vname;
    if (!output_volume(srv, j->team, &vname))
        return gt_error_invalid(err,
                                "outputs: team '%s' has no output volume to keep them on (a "
                                "volume of kind output open to it: see `gantry volumes`)",
                                j->team);
    json_t *o;
    json_array_foreach(j->outputs, i, o)
    {
        gt_error_t e = {0};
        if (artifacts_may_write(srv, json_string_value(json_object_get(o, "artifact")), j->team,
                                &e) < 0) {
            gt_error_set(err, e.code[0] ? e.code : "forbidden", "outputs[%zu]: %s", i, e.msg);
            return -1;
        }
    }
    return 0;
}

/* ---- start ---- */

int lineage_input_mounts(server_t *srv, const job_t *j, json_t *mounts, gt_error_t *err)
{
    size_t i;
    json_t *in;
    json_array_foreach(j->inputs, i, in)
    {
        json_t *loc = json_object_get(in, "location");
        if (!strcmp(json_string_value(json_object_get(loc, "type")) ?: "", "blob")) {
            /* The node fetches it (GET /v1/agent/inputs/...) into its cache, verifies it
             * against its digest, and mounts it there read-only (agent/fetch.h). */
            json_int_t size = json_integer_value(json_object_get(loc, "size"));
            json_array_append_new(mounts, json_pack("{s:{s:i,s:O,s:O,s:O,s:I},s:O,s:b}",
                                                    "fetch", "input", (int)i, "artifact",
                                                    json_object_get(in, "artifact"), "version",
                                                    json_object_get(in, "version"), "digest",
                                                    json_object_get(in, "digest"), "size",
                                                    size,
                                                    "path", json_object_get(in, "path"),
                                                    "read_only", 1));
            continue;
        }
        const char *vname = json_string_value(json_object_get(loc, "volume"));
        json_t *vol = vname ? json_object_get(srv->volumes, vname) : NULL;
        if (!vol)
            return gt_error_invalid(err, "volume '%s' of input %s@%" JSON_INTEGER_FORMAT
                                         " was removed since the job was submitted",
                                    vname ? vname : "?",
                                    json_string_value(json_object_get(in, "artifact")),
                                    json_integer_value(json_object_get(in, "version")));
        /* Read-only whatever the volume's access: a version is immutable to its readers. The
         * artifact's visibility, checked at submission, grants the read, not the volume's
         * teams: another team reads a shared model without being given its volume. */
        json_array_append_new(mounts, json_pack("{s:O,s:O,s:O,s:b}", "host_path",
                                                json_object_get(vol, "path"), "sub_path",
                                                json_object_get(loc, "path"), "path",
                                                json_object_get(in, "path"), "read_only", 1));
    }
    return 0;
}

void lineage_task_outputs(const job_t *j, json_t *task_job)
{
    if (!json_array_size(j->outputs) || !json_object_get(task_job, "output_dir"))
        return;
    json_t *outs = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(j->outputs, i, o)
        json_array_append_new(outs, json_pack("{s:O,s:s}", "artifact",
                                              json_object_get(o, "artifact"), "sub_path",
                                              output_sub(json_string_value(
                                                  json_object_get(o, "path")))));
    json_object_set_new(task_job, "outputs", outs);
}

static json_t *hash_task(server_t *srv, json_t *req);

/* ---- inputs fetched from the blob store ---- */

void lineage_register_answer(server_t *srv, json_t *answer)
{
    json_t *paths = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(srv->volumes, k, v) json_array_append(paths, json_object_get(v, "path"));
    json_object_set_new(answer, "volume_paths", paths);
}

void lineage_note_fetching(server_t *srv, node_t *n, json_t *body)
{
    json_t *vols = json_object_get(body, "volumes");
    if (json_is_array(vols)) {
        json_decref(n->volumes);
        n->volumes = json_incref(vols);
    }
    /* hash tasks a restarted server loaded from the store: sent to their node again (a node
     * that has the request in hand already ignores it, and sends its answer) */
    const char *rid;
    json_t *rq;
    json_object_foreach(state_of(srv)->reqs, rid, rq)
    {
        if (!json_is_true(json_object_get(rq, "resend")) ||
            strcmp(json_string_value(json_object_get(rq, "node")) ?: "", n->name))
            continue;
        json_object_del(rq, "resend");
        json_t *task = hash_task(srv, rq);
        if (task) {
            server_queue_task(srv, n, task, 0);
            fprintf(stderr, "gantry server: node %s is asked again to hash %s:%s (request %s, "
                            "kept across a restart).\n", n->name,
                    json_string_value(json_object_get(rq, "volume")),
                    json_string_value(json_object_get(rq, "path")), rid);
        }
    }
    json_t *list = json_object_get(body, "fetching");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(body, "running"), i, e)
    {
        job_t *j = server_node_entry_job(srv, n, e);
        bool listed = false;
        size_t k;
        json_t *f;
        json_array_foreach(list, k, f) listed |= j && server_node_entry_job(srv, n, f) == j;
        if (j && !listed)
            j->fetching = false;
    }
    json_array_foreach(list, i, e)
    {
        job_t *j = server_node_entry_job(srv, n, e);
        if (!j)
            continue;
        json_int_t b = json_integer_value(json_object_get(e, "bytes"));
        json_int_t t = json_integer_value(json_object_get(e, "total"));
        j->fetching = true;
        j->fetch_bytes = b > 0 ? b : 0;
        j->fetch_total = t > 0 ? t : 0;
    }
}

/* ---- a job's outputs ---- */

/* Whether r is a hash result: {digest, size, files[, manifest]} or {error}. */
static bool result_ok(const json_t *r)
{
    if (json_is_string(json_object_get(r, "error")))
        return true;
    return gt_digest_ok(json_string_value(json_object_get(r, "digest"))) &&
           json_is_integer(json_object_get(r, "size")) &&
           json_is_integer(json_object_get(r, "files"));
}

int lineage_agent_outputs(server_t *srv, node_t *n, json_t *body, http_resp_t *resp)
{
    (void)srv;
    json_t *outs = json_object_get(body, "outputs");
    if (!json_is_array(outs))
        return http_error(resp, 400, "invalid_argument", "'outputs' must be an array");
    job_t *j = server_job(srv, (uint64_t)json_integer_value(json_object_get(body, "job_id")));
    int inc = (int)json_integer_value(json_object_get(body, "incarnation"));
    /* Only the run the node holds now, and only its first rank (the one told the outputs). */
    if (!j || j->incarnation != inc || j->state != JOB_RUNNING || !j->nslots ||
        strcmp(j->slots[0].node, n->name))
        return http_error(resp, 404, "not_found",
                          "job %" JSON_INTEGER_FORMAT " incarnation %d does not run its first "
                          "rank on node %s",
                          json_integer_value(json_object_get(body, "job_id")), inc, n->name);
    json_t *kept = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(outs, i, r)
    {
        const char *name = json_string_value(json_object_get(r, "artifact"));
        bool declared = false;
        size_t k;
        json_t *o;
        json_array_foreach(j->outputs, k, o) declared |=
            name && !strcmp(json_string_value(json_object_get(o, "artifact")), name);
        if (!declared || !result_ok(r)) {
            json_decref(kept);
            return http_error(resp, 400, "invalid_argument",
                              "outputs[%zu] is not a hash of one of job %" PRIu64 "'s outputs",
                              i, j->id);
        }
        json_array_append(kept, r);
    }
    json_decref(j->outputs_hashed);
    j->outputs_hashed = kept;
    resp->json = json_object();
    return 0;
}

static json_t *hashed_of(const job_t *j, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(j->outputs_hashed, i, r) if (!strcmp(
        json_string_value(json_object_get(r, "artifact")), name)) return r;
    return NULL;
}

/* The lineage a job gives the versions it makes. */
static json_t *job_lineage(const job_t *j, double end)
{
    json_t *inputs = json_array();
    size_t i;
    json_t *in;
    json_array_foreach(j->inputs, i, in)
        json_array_append_new(inputs, json_pack("{s:O,s:O,s:O,s:O}", "artifact",
                                                json_object_get(in, "artifact"), "version",
                                                json_object_get(in, "version"), "digest",
                                                json_object_get(in, "digest"), "path",
                                                json_object_get(in, "path")));
    /* The names of its environment variables, not their values: a shared version's lineage
     * is read by other teams, and a job's env may hold its secrets (an API key). */
    json_t *env_names = json_array();
    const char *k;
    json_t *val;
    json_object_foreach(j->env, k, val) json_array_append_new(env_names, json_string(k));
    json_t *l = json_pack("{s:I,s:s,s:s,s:O,s:o,s:o,s:f,s:f,s:i}", "job", (json_int_t)j->id,
                          "user", j->user, "team", j->team, "command", j->command, "env_names",
                          env_names, "inputs", inputs, "start", j->start_time, "end", end,
                          "incarnation", j->incarnation);
    if (j->name)
        json_object_set_new(l, "name", json_string(j->name));
    if (j->image)
        json_object_set_new(l, "image", json_string(j->image));
    if (j->image_digest)
        json_object_set_new(l, "image_digest", json_string(j->image_digest));
    if (j->environment)
        json_object_set_new(l, "environment", json_string(j->environment));
    if (j->nslots)
        json_object_set_new(l, "node", json_string(j->slots[0].node));
    return l;
}

uint64_t lineage_job_succeeded(server_t *srv, job_t *j, double end)
{
    if (!json_array_size(j->outputs))
        return 0;
    const char *vname = NULL;
    output_volume(srv, j->team, &vname);
    uint64_t ticket = 0;
    size_t i;
    json_t *o;
    json_array_foreach(j->outputs, i, o)
    {
        const char *name = json_string_value(json_object_get(o, "artifact"));
        json_t *h = hashed_of(j, name);
        char why[1100] = "";
        if (!h)
            snprintf(why, sizeof(why), "its node sent no hash of it");
        else if (json_object_get(h, "error"))
            snprintf(why, sizeof(why), "%s", json_string_value(json_object_get(h, "error")));
        else if (!vname)
            snprintf(why, sizeof(why), "team '%s' has no output volume any more", j->team);
        if (!why[0]) {
            char path[4096];
            const char *sub = output_sub(json_string_value(json_object_get(o, "path")));
            snprintf(path, sizeof(path), "%s/%" PRIu64 "%s%s", j->team, j->id, *sub ? "/" : "",
                     sub);
            json_t *lineage = job_lineage(j, end);
            artifact_new_t nv = {
                .name = name,
                .kind = json_string_value(json_object_get(o, "kind")),
                .team = j->team,
                .user = j->user,
                .digest = json_string_value(json_object_get(h, "digest")),
                .size = json_integer_value(json_object_get(h, "size")),
                .files = json_integer_value(json_object_get(h, "files")),
                .manifest = json_object_get(h, "manifest"),
                .volume = vname,
                .path = path,
                .lineage = lineage,
            };
            artifact_ver_t *v = NULL;
            gt_error_t e = {0};
            uint64_t t = 0;
            int rc = artifacts_add_version(srv, &nv, &v, &t, &e);
            json_decref(lineage);
            if (rc == 0) {
                json_object_set_new(o, "version", json_integer(v->version));
                json_object_set_new(o, "digest", json_string(v->digest));
                json_object_del(o, "error");
                server_job_event(srv, j, "artifact_registered",
                                 json_pack("{s:s,s:I,s:s}", "artifact", v->name, "version",
                                           (json_int_t)v->version, "digest", v->digest));
                fprintf(stderr, "gantry server: job %" PRIu64 " made %s@%" PRId64 " (%s).\n",
                        j->id, v->name, v->version, v->digest);
                artifacts_ver_free(v);
                if (t > ticket)
                    ticket = t;
                continue;
            }
            snprintf(why, sizeof(why), "%s", e.msg);
        }
        json_object_set_new(o, "error", json_string(why));
        server_job_event(srv, j, "artifact_not_registered",
                         json_pack("{s:s,s:s}", "artifact", name, "message", why));
        fprintf(stderr, "gantry server: job %" PRIu64 "'s output %s is not registered: %s.\n",
                j->id, name, why);
    }
    json_decref(j->outputs_hashed);
    j->outputs_hashed = NULL;
    return ticket;
}

/* ---- hash requests: in-place registration and verification ---- */

/* Whether node n's heartbeats say it has path (true for a node that does not say). */
static bool node_has(const node_t *n, const char *path)
{
    if (!n->volumes)
        return true;
    size_t i;
    json_t *p;
    json_array_foreach(n->volumes, i, p) if (!strcmp(json_string_value(p) ?: "", path))
        return true;
    return false;
}

/* A node that is up and has the volume at path to hash on, or NULL: the first whose
 * heartbeats say it has it, else the first that does not say (an older agent). */
static node_t *hashing_node(server_t *srv, const char *path)
{
    node_t *unsaid = NULL;
    for (size_t i = 0; i < srv->nnodes; i++) {
        node_t *n = srv->nodes[i];
        if (!n || !n->up || !n->epoch || !node_has(n, path))
            continue;
        if (n->volumes)
            return n;
        if (!unsaid)
            unsaid = n;
    }
    return unsaid;
}

/* The store keeps each request (settings of kind "hash_request"): a server restarted while a
 * node hashes loads it again, sends the node its task again, and takes the node's answer. */
#define REQ_KIND "hash_request"

/* A kept write of req (memory has it already); its ticket. Fields of this server's memory
 * alone ("resend") are not written. */
static uint64_t persist(server_t *srv, json_t *req)
{
    json_t *copy = json_deep_copy(req);
    json_object_del(copy, "resend");
    char *doc = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    store_op_t op = {.kind = STORE_SETTING_PUT, .a = REQ_KIND,
                     .b = json_string_value(json_object_get(req, "id")), .d = doc};
    uint64_t t = store_enqueue(srv->store, &op, 1);
    free(doc);
    return t;
}

/* Drops the answered requests older than REQ_KEEP_S (from the store too). */
static void prune(server_t *srv, struct lineage *L)
{
    double now = server_now();
    const char *k;
    json_t *r;
    void *tmp;
    json_object_foreach_safe(L->reqs, tmp, k, r)
    {
        double fin = json_number_value(json_object_get(r, "finished"));
        if (fin > 0 && now - fin > REQ_KEEP_S) {
            store_op_t op = {.kind = STORE_SETTING_DEL, .a = REQ_KIND, .b = k};
            store_enqueue(srv->store, &op, 1);
            json_object_del(L->reqs, k);
        }
    }
}

static int on_stored_req(void *arg, const char *id, const char *doc)
{
    server_t *srv = arg;
    struct lineage *L = state_of(srv);
    json_t *r = json_loads(doc, 0, NULL);
    if (!json_is_object(r) || !json_is_string(json_object_get(r, "state"))) {
        json_decref(r);
        return 0;
    }
    uint64_t seq = 0;
    const char *dash = strrchr(id, '-');
    if (dash && sscanf(dash + 1, "%" SCNu64, &seq) == 1 && seq > L->seq)
        L->seq = seq;
    if (!strcmp(json_string_value(json_object_get(r, "state")), "hashing")) {
        /* its task was in the memory of the server before: sent again at the node's next
         * heartbeat (lineage_note_fetching) */
        json_object_set_new(r, "resend", json_true());
    }
    json_object_set_new(L->reqs, id, r);
    return 0;
}

int lineage_load(server_t *srv, gt_error_t *err)
{
    return store_load_settings(srv->store, REQ_KIND, on_stored_req, srv, err);
}

/* The hash task of request req (to its node). */
static json_t *hash_task(server_t *srv, json_t *req)
{
    json_t *v = json_object_get(srv->volumes, json_string_value(json_object_get(req, "volume")));
    if (!v)
        return NULL;
    return json_pack("{s:s,s:O,s:O,s:O}", "type", "hash", "request", json_object_get(req, "id"),
                     "host_path", json_object_get(v, "path"), "sub_path",
                     json_object_get(req, "path"));
}

/* Queues a hash of volume vol (its name) at sub_path to a node: a new request with the fields
 * of req (consumed). 0 and the request (borrowed) in *out, or -1 with err. */
static int request_hash(server_t *srv, const char *vol, const char *sub_path, json_t *req,
                        json_t **out, uint64_t *ticket, gt_error_t *err)
{
    json_t *v = json_object_get(srv->volumes, vol);
    node_t *n = v ? hashing_node(srv, json_string_value(json_object_get(v, "path"))) : NULL;
    if (!v || !n) {
        json_decref(req);
        return gt_error_set(err, v ? "unavailable" : "not_found",
                            v ? "no node that is up has volume '%s': try again when one is"
                              : "volume '%s' does not exist (see `gantry volumes`)", vol);
    }
    struct lineage *L = state_of(srv);
    prune(srv, L);
    char id[32];
    snprintf(id, sizeof(id), "h%" PRIu64 "-%" PRIu64, (uint64_t)server_now(), ++L->seq);
    json_object_set_new(req, "id", json_string(id));
    json_object_set_new(req, "state", json_string("hashing"));
    json_object_set_new(req, "node", json_string(n->name));
    json_object_set_new(req, "volume", json_string(vol));
    json_object_set_new(req, "path", json_string(sub_path));
    json_object_set_new(req, "created", json_real(server_now()));
    json_object_set_new(L->reqs, id, req);
    *ticket = persist(srv, req); /* the answer waits for it: a restart does not lose it */
    server_queue_task(srv, n, hash_task(srv, req), 0);
    fprintf(stderr, "gantry server: node %s hashes %s:%s (request %s).\n", n->name, vol,
            sub_path, id);
    *out = req;
    return 0;
}

static void req_finish(json_t *req, const char *state)
{
    json_object_set_new(req, "state", json_string(state));
    json_object_set_new(req, "finished", json_real(server_now()));
}

static void req_fail(json_t *req, const char *why)
{
    json_object_set_new(req, "error", json_string(why));
    req_finish(req, "failed");
}

/* The node answered a registration: the new version. */
static uint64_t finish_register(server_t *srv, json_t *req, json_t *r)
{
    artifact_new_t nv = {
        .name = json_string_value(json_object_get(req, "name")),
        .kind = json_string_value(json_object_get(req, "kind")),
        .team = json_string_value(json_object_get(req, "team")),
        .user = json_string_value(json_object_get(req, "user")),
        .digest = json_string_value(json_object_get(r, "digest")),
        .size = json_integer_value(json_object_get(r, "size")),
        .files = json_integer_value(json_object_get(r, "files")),
        .manifest = json_object_get(r, "manifest"),
        .volume = json_string_value(json_object_get(req, "volume")),
        .path = json_string_value(json_object_get(req, "path")),
        .lineage = NULL,
    };
    artifact_ver_t *v = NULL;
    gt_error_t e = {0};
    uint64_t t = 0;
    if (artifacts_add_version(srv, &nv, &v, &t, &e) < 0) {
        req_fail(req, e.msg);
        return 0;
    }
    json_object_set_new(req, "version", json_integer(v->version));
    json_object_set_new(req, "digest", json_string(v->digest));
    json_object_set_new(req, "size", json_integer(nv.size));
    json_object_set_new(req, "files", json_integer(nv.files));
    server_audit(srv, nv.user, "artifact.push_in_place", v->name, NULL,
                 json_pack("{s:i,s:s,s:s,s:s}", "version", (json_int_t)v->version, "digest", v->digest,
                           "volume", nv.volume, "path", nv.path));
    artifacts_ver_free(v);
    req_finish(req, "done");
    return t;
}

/* The node answered a verification: what differs from the registered manifest. */
static void finish_verify(server_t *srv, json_t *req, json_t *r)
{
    (void)srv;
    const char *want = json_string_value(json_object_get(req, "digest"));
    const char *got = json_string_value(json_object_get(r, "digest"));
    bool same = got && want && !strcmp(got, want);
    json_object_set_new(req, "found_digest", json_string(got ? got : ""));
    json_object_set_new(req, "ok", json_boolean(same));
    json_t *changes = json_array();
    json_t *wm = json_object_get(req, "manifest"), *gm = json_object_get(r, "manifest");
    if (!same && wm && gm) {
        manifest_t *a = NULL, *b = NULL;
        gt_error_t e = {0};
        if (manifest_from_json(wm, 0, &a, &e) == 0 && manifest_from_json(gm, 0, &b, &e) == 0) {
            gt_buf_t rep = {0};
            manifest_compare(a, b, &rep, 100);
            for (char *line = rep.data, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                json_array_append_new(changes, json_stringn(line, nl ? (size_t)(nl - line)
                                                                     : strlen(line)));
            }
            gt_buf_free(&rep);
        }
        manifest_free(a);
        manifest_free(b);
    }
    json_object_set_new(req, "changes", changes);
    json_object_del(req, "manifest");
    req_finish(req, "done");
}

int lineage_agent_hashes(server_t *srv, node_t *n, json_t *body, http_resp_t *resp)
{
    json_t *r = json_object_get(body, "result");
    const char *id = json_string_value(json_object_get(r, "request"));
    json_t *req = id ? json_object_get(state_of(srv)->reqs, id) : NULL;
    if (!req || strcmp(json_string_value(json_object_get(req, "node")), n->name) ||
        strcmp(json_string_value(json_object_get(req, "state")), "hashing"))
        return http_error(resp, 404, "not_found", "no hash request %s waits for node %s",
                          id ? id : "(none)", n->name);
    if (!result_ok(r))
        return http_error(resp, 400, "invalid_argument",
                          "'result' must be {request, digest, size, files[, manifest]} or "
                          "{request, error}");
    const char *why = json_string_value(json_object_get(r, "error"));
    uint64_t t = 0;
    if (why)
        req_fail(req, why);
    else if (!strcmp(json_string_value(json_object_get(req, "op")), "register"))
        t = finish_register(srv, req, r);
    else
        finish_verify(srv, req, r);
    uint64_t t2 = persist(srv, req); /* its answer, durable before the node is told */
    resp->ticket = t2 > t ? t2 : t;
    resp->json = json_object();
    return 0;
}

/* ---- the lineage graph ---- */

#define LINEAGE_DEPTH_MAX 32

/* The team whose view who reads with (NULL: every team, an admin or a cluster viewer). */
static const char *view_team(const auth_principal_t *who)
{
    return who->team[0] ? who->team : NULL;
}

/* One version as a node of the graph: {artifact, version, digest, kind, team, job, ...}, or
 * {artifact, version, hidden: true} when who may not read it. */
static json_t *graph_node(server_t *srv, const char *name, json_int_t version,
                          const auth_principal_t *who, artifact_ver_t **out)
{
    char ref[128];
    snprintf(ref, sizeof(ref), "%s@%" JSON_INTEGER_FORMAT, name, version);
    artifact_ver_t *v = NULL;
    gt_error_t e = {0};
    *out = NULL;
    if (artifacts_resolve(srv, ref, view_team(who), &v, &e) < 0)
        return json_pack("{s:s,s:I,s:b}", "artifact", name, "version", version, "hidden", 1);
    json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:s}", "artifact", v->name, "version", (json_int_t)v->version,
                          "digest", v->digest, "kind", v->kind ? v->kind : "other", "team",
                          v->team ? v->team : "");
    if (v->lineage)
        json_object_set_new(o, "job", json_pack("{s:O,s:O,s:O}", "id",
                                                json_object_get(v->lineage, "job"), "user",
                                                json_object_get(v->lineage, "user"), "team",
                                                json_object_get(v->lineage, "team")));
    *out = v;
    return o;
}

static json_t *upstream(server_t *srv, const artifact_ver_t *v, const auth_principal_t *who,
                        int depth)
{
    json_t *arr = json_array();
    if (!v || !v->lineage || depth >= LINEAGE_DEPTH_MAX)
        return arr;
    size_t i;
    json_t *in;
    json_array_foreach(json_object_get(v->lineage, "inputs"), i, in)
    {
        artifact_ver_t *u = NULL;
        json_t *o = graph_node(srv, json_string_value(json_object_get(in, "artifact")),
                               json_integer_value(json_object_get(in, "version")), who, &u);
        json_object_set_new(o, "path", json_incref(json_object_get(in, "path")));
        if (u)
            json_object_set_new(o, "upstream", upstream(srv, u, who, depth + 1));
        artifacts_ver_free(u);
        json_array_append_new(arr, o);
    }
    return arr;
}

typedef struct down_ctx {
    server_t *srv;
    const auth_principal_t *who;
    const char *name;
    int version;
    int depth;
    json_t *out;
} down_ctx_t;

static json_t *downstream(server_t *srv, const char *name, int version,
                          const auth_principal_t *who, int depth);

/* artifacts_each's callback: a version made by a job that read ctx's version. */
static int down_visit(void *arg, const artifact_ver_t *v)
{
    down_ctx_t *c = arg;
    size_t i;
    json_t *in;
    json_array_foreach(v->lineage ? json_object_get(v->lineage, "inputs") : NULL, i, in)
    {
        if (strcmp(json_string_value(json_object_get(in, "artifact")), c->name) ||
            json_integer_value(json_object_get(in, "version")) != c->version)
            continue;
        artifact_ver_t *d = NULL;
        json_t *o = graph_node(c->srv, v->name, v->version, c->who, &d);
        if (d)
            json_object_set_new(o, "downstream",
                                downstream(c->srv, d->name, d->version, c->who, c->depth + 1));
        artifacts_ver_free(d);
        json_array_append_new(c->out, o);
        break;
    }
    return 0;
}

/* The versions made from name@version (recursively), then the jobs that read it without
 * making a version ({job, team, state}: jobs who may see). */
static json_t *downstream(server_t *srv, const char *name, int version,
                          const auth_principal_t *who, int depth)
{
    json_t *arr = json_array();
    if (depth >= LINEAGE_DEPTH_MAX)
        return arr;
    down_ctx_t c = {srv, who, name, version, depth, arr};
    artifacts_each(srv, down_visit, &c);
    for (uint64_t id = 1; id < srv->next_id && id < srv->jobs_cap; id++) {
        job_t *j = srv->jobs[id];
        if (!j || !json_array_size(j->inputs) || !auth_can_see_team(who, j->team))
            continue;
        bool reads = false, made = false;
        size_t i;
        json_t *x;
        json_array_foreach(j->inputs, i, x) reads |=
            !strcmp(json_string_value(json_object_get(x, "artifact")) ?: "", name) &&
            json_integer_value(json_object_get(x, "version")) == version;
        json_array_foreach(j->outputs, i, x) made |= json_object_get(x, "version") != NULL;
        if (reads && !made)
            json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:s}", "job", (json_int_t)j->id,
                                                 "team", j->team, "user", j->user, "state",
                                                 job_state_name(j->state)));
    }
    return arr;
}

/* ---- routes ---- */

static bool is_method(const http_req_t *r, const char *m) { return !strcmp(r->method, m); }

/* POST /v1/artifacts/NAME/in-place {volume, path, kind, team} */
static int post_in_place(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    if (!gt_artifact_name_ok(name))
        return http_error(resp, 400, "invalid_argument", "'%s' is not an artifact name", name);
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    const char *vol = json_string_value(json_object_get(body, "volume"));
    const char *path = json_string_value(json_object_get(body, "path"));
    const char *kind = json_string_value(json_object_get(body, "kind"));
    const char *team = json_string_value(json_object_get(body, "team"));
    if (!team)
        team = req->who.team;
    char sub[4096];
    bool dotdot = false;
    bool refused = true;
    if (!vol || !path || (path[0] == '/' && path[1]) ||
        !gt_path_norm(path, false, sub, sizeof(sub), &dotdot) || dotdot) {
        http_error(resp, 400, "invalid_argument",
                   "give {volume, path}: path relative to the volume, without '..'");
    } else if (kind && strcmp(kind, "dataset") && strcmp(kind, "model") &&
               strcmp(kind, "other")) {
        http_error(resp, 400, "invalid_argument", "kind must be dataset, model or other");
    } else if (!team || !*team) {
        http_error(resp, 400, "invalid_argument",
                   "give the team that owns the artifact ({\"team\": ...})");
    } else if (!auth_can_use_team(&req->who, team)) {
        http_error(resp, 403, "forbidden", "user %s may not write team '%s''s artifacts",
                   req->who.user, team);
    } else {
        refused = false;
    }
    if (refused) {
        json_decref(body);
        return 0;
    }
    pthread_mutex_lock(&srv->mu);
    json_t *v = json_object_get(srv->volumes, vol);
    gt_error_t err = {0};
    json_t *r = NULL;
    if (!v)
        http_error(resp, 404, "not_found", "volume '%s' does not exist (see `gantry volumes`)",
                   vol);
    else if (!gt_teams_admit(json_object_get(v, "teams"), team))
        http_error(resp, 403, "forbidden", "team '%s' may not use volume '%s'", team, vol);
    else if (artifacts_may_write(srv, name, team, &err) < 0)
        http_error_from(resp, !strcmp(err.code, "forbidden") ? 403 : 400, &err);
    else if (request_hash(srv, vol, sub,
                          json_pack("{s:s,s:s,s:s,s:s,s:s}", "op", "register", "name", name,
                                    "kind", kind ? kind : "dataset", "team", team, "user",
                                    req->who.user),
                          &r, &resp->ticket, &err) < 0)
        http_error_from(resp, !strcmp(err.code, "not_found") ? 404 : 503, &err);
    else {
        resp->status = 202;
        resp->json = json_deep_copy(r);
    }
    pthread_mutex_unlock(&srv->mu);
    json_decref(body);
    return 0;
}

/* POST /v1/artifacts/REF/verify for a version in place: 1 when it is in the blob store. */
static int post_verify(server_t *srv, http_req_t *req, http_resp_t *resp, const char *ref)
{
    pthread_mutex_lock(&srv->mu);
    artifact_ver_t *v = NULL;
    gt_error_t err = {0};
    int rc = 0;
    if (artifacts_resolve(srv, ref, view_team(&req->who), &v, &err) < 0) {
        http_error_from(resp, !strcmp(err.code, "forbidden") ? 403 : 404, &err);
    } else if (!v->volume) {
        rc = 1; /* the blob store's: api_artifacts.c verifies it */
    } else {
        json_t *r = NULL;
        json_t *fields = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s}", "op", "verify", "ref", ref,
                                   "name", v->name, "version", (json_int_t)v->version, "digest", v->digest,
                                   "team", req->who.team[0] ? req->who.team : v->team);
        if (v->manifest)
            json_object_set(fields, "manifest", v->manifest);
        if (request_hash(srv, v->volume, v->path, fields, &r, &resp->ticket, &err) < 0) {
            http_error_from(resp, !strcmp(err.code, "not_found") ? 404 : 503, &err);
        } else {
            resp->status = 202;
            resp->json = json_deep_copy(r);
            json_object_del(resp->json, "manifest");
        }
    }
    artifacts_ver_free(v);
    pthread_mutex_unlock(&srv->mu);
    return rc;
}

/* GET /v1/artifact-requests/ID */
static int get_request(server_t *srv, http_req_t *req, http_resp_t *resp, const char *id)
{
    pthread_mutex_lock(&srv->mu);
    json_t *r = json_object_get(state_of(srv)->reqs, id);
    const char *team = json_string_value(json_object_get(r, "team"));
    if (!r || (team && !auth_can_see_team(&req->who, team))) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 404, "not_found",
                          "no artifact request %s (a request is kept for an hour after its "
                          "answer)", id);
    }
    if (!strcmp(json_string_value(json_object_get(r, "state")), "hashing")) {
        node_t *n = server_node(srv, json_string_value(json_object_get(r, "node")));
        if (!n || !n->up) { /* (a restarted server counts its nodes up for a while) */
            req_fail(r, "the node hashing it was lost before it answered: try again");
            resp->ticket = persist(srv, r);
        }
    }
    resp->json = json_deep_copy(r);
    json_object_del(resp->json, "manifest");
    pthread_mutex_unlock(&srv->mu);
    return 0;
}

/* GET /v1/artifacts/REF/lineage */
static int get_lineage(server_t *srv, http_req_t *req, http_resp_t *resp, const char *ref)
{
    pthread_mutex_lock(&srv->mu);
    artifact_ver_t *v = NULL;
    gt_error_t err = {0};
    if (artifacts_resolve(srv, ref, view_team(&req->who), &v, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        return http_error_from(resp, !strcmp(err.code, "forbidden") ? 403 : 404, &err);
    }
    artifact_ver_t *self = NULL;
    json_t *o = graph_node(srv, v->name, v->version, &req->who, &self);
    if (v->lineage)
        json_object_set(o, "lineage", v->lineage);
    json_object_set_new(o, "upstream", upstream(srv, v, &req->who, 0));
    json_object_set_new(o, "downstream", downstream(srv, v->name, v->version, &req->who, 0));
    artifacts_ver_free(self);
    artifacts_ver_free(v);
    pthread_mutex_unlock(&srv->mu);
    resp->json = o;
    return 0;
}

int api_lineage(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest)
{
    if (!strncmp(rest, "artifact-requests/", 18)) {
        if (!is_method(req, "GET"))
            return http_error(resp, 405, "method_not_allowed", "use GET");
        return get_request(srv, req, resp, rest + 18);
    }
    if (strncmp(rest, "artifacts/", 10))
        return 1;
    const char *name = rest + 10;
    const char *slash = strrchr(name, '/');
    if (!slash || slash == name)
        return 1;
    char ref[256];
    if ((size_t)(slash - name) >= sizeof(ref))
        return 1;
    memcpy(ref, name, (size_t)(slash - name));
    ref[slash - name] = '\0';
    if (strchr(ref, '/'))
        return 1;
    const char *what = slash + 1;
    if (!strcmp(what, "in-place") && is_method(req, "POST"))
        return post_in_place(srv, req, resp, ref);
    if (!strcmp(what, "verify") && is_method(req, "POST"))
        return post_verify(srv, req, resp, ref);
    if (!strcmp(what, "lineage") && is_method(req, "GET"))
        return get_lineage(srv, req, resp, ref);
    return 1;
}
