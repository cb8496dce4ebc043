/* envs.c: a job's environment on the server (docs/environments.md): the cluster's volumes and
 * software stacks (configuration volumes: and environments:, changed at run time through
 * /v1/volumes and /v1/environments), their resolution into a job at submission (who may use
 * what), and the environment part of a start task (host paths, output and scratch).
 *
 * Settings set through the API override the configuration's of the same name and are stored
 * (store.h settings); deleting one set through the API brings back the configuration's, as
 * for users (users.c). Shapes are envspec.h's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envspec.h"
#include "server/events.h"
#include "server/server.h"
#include "server/lineage.h"

static bool method(const http_req_t *r, const char *m) { return !strcmp(r->method, m); }

/* The two kinds of settings, as tables of the same shape. */
typedef struct kind {
    const char *word;          /* the store's kind, and the API's singular */
    const char *plural;        /* the API's list key and path */
    const char *cli;           /* the command that lists them */
    int (*parse)(const json_t *v, json_t **out, gt_error_t *err);
} kind_t;

static const kind_t VOLUME = {"volume", "volumes", "gantry volumes", gt_volume_parse};
static const kind_t ENVIRONMENT = {"environment", "environments", "gantry envs",
                                   gt_environment_parse};

static json_t **live(server_t *srv, const kind_t *k)
{
    return k == &VOLUME ? &srv->volumes : &srv->environments;
}

static json_t **configured(server_t *srv, const kind_t *k)
{
    return k == &VOLUME ? &srv->config_volumes : &srv->config_environments;
}

static void from_config(json_t *live, json_t *cfg, const json_t *list)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        json_t *d = json_deep_copy(v);
        json_object_set_new(d, "source", json_string("config"));
        json_object_set(cfg, json_string_value(json_object_get(v, "name")), d);
        json_object_set_new(live, json_string_value(json_object_get(v, "name")), d);
    }
}

void server_envs_from_config(server_t *srv, const gt_config_t *cfg)
{
    srv->volumes = json_object();
    srv->config_volumes = json_object();
    srv->environments = json_object();
    srv->config_environments = json_object();
    if (!cfg)
        return;
    srv->image_paths = cfg->image_paths ? json_incref(cfg->image_paths) : NULL;
    from_config(srv->volumes, srv->config_volumes, cfg->volumes);
    from_config(srv->environments, srv->config_environments, cfg->environments);
}

static int stored(server_t *srv, const kind_t *k, const char *name, const char *doc)
{
    json_t *o = json_loads(doc, 0, NULL), *norm = NULL;
    gt_error_t err = {0};
    int rc = o && k->parse(o, &norm, &err) == 0 &&
                     !strcmp(json_string_value(json_object_get(norm, "name")), name)
                 ? 0
                 : -1;
    json_decref(o);
    if (rc < 0) {
        json_decref(norm);
        return -1;
    }
    json_object_set_new(norm, "source", json_string("api"));
    json_object_set_new(*live(srv, k), name, norm);
    return 0;
}

static int on_stored_volume(void *srv, const char *name, const char *doc)
{
    return stored(srv, &VOLUME, name, doc);
}

static int on_stored_environment(void *srv, const char *name, const char *doc)
{
    return stored(srv, &ENVIRONMENT, name, doc);
}

int server_envs_load(server_t *srv, gt_error_t *err)
{
    if (store_load_settings(srv->store, "volume", on_stored_volume, srv, err) < 0 ||
        store_load_settings(srv->store, "environment", on_stored_environment, srv, err) < 0)
        return -1;
    return 0;
}

void server_envs_free(server_t *srv)
{
    json_decref(srv->volumes);
    json_decref(srv->config_volumes);
    json_decref(srv->environments);
    json_decref(srv->config_environments);
    json_decref(srv->image_paths);
}

/* ---- a job's environment ---- */

static bool volume_ro(const json_t *vol)
{
    return !strcmp(json_string_value(json_object_get(vol, "access")), "ro");
}

/* Checks mounts against the volumes now: each names a volume team may use (NULL: any team),
 * read_only: false never on a read-only volume; fills read_only where absent (the volume's
 * access). what prefixes the messages. 0, or -1 with err. */
static int check_mounts(server_t *srv, json_t *mounts, const char *team, const char *what,
                        gt_error_t *err)
{
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m)
    {
        const char *name = json_string_value(json_object_get(m, "volume"));
        json_t *vol = json_object_get(srv->volumes, name);
        if (!vol)
            return gt_error_invalid(err, "%s: volume '%s' does not exist (see `gantry volumes`)",
                                    what, name);
        if (team && !gt_teams_admit(json_object_get(vol, "teams"), team))
            return gt_error_invalid(err,
                                    "%s: team '%s' may not use volume '%s' (see `gantry volumes`)",
                                    what, team, name);
        json_t *ro = json_object_get(m, "read_only");
        if (volume_ro(vol) && json_is_false(ro))
            return gt_error_invalid(err,
                                    "%s: volume '%s' is read-only (access: ro); mount it with "
                                    "read_only: true",
                                    what, name);
        if (!ro)
            json_object_set_new(m, "read_only", json_boolean(volume_ro(vol)));
    }
    return 0;
}

int server_job_resolve_env(server_t *srv, job_t *j, gt_error_t *err)
{
    /* A local image is a path the node's agent reads: a job's own only where the
     * administrator keeps images (a stack's image is the administrator's choice). */
    char local[4096];
    if (j->image && srv->image_paths && gt_image_local_path(j->image, local, sizeof(local)) &&
        !gt_path_beneath_any(local, srv->image_paths))
        return gt_error_invalid(err,
                                "'image' %s: %s is not under the cluster's image_paths (local "
                                "images are read from there only; use a registry, docker://)",
                                j->image, local);
    if (j->environment) {
        json_t *stack = json_object_get(srv->environments, j->environment);
        if (!stack)
            return gt_error_invalid(err, "environment '%s' does not exist (see `gantry envs`)",
                                    j->environment);
        if (!gt_teams_admit(json_object_get(stack, "teams"), j->team))
            return gt_error_invalid(err,
                                    "environment '%s' is not open to team '%s' (see `gantry envs`)",
                                    j->environment, j->team);
        /* The job's own fields add to the stack's or override them. */
        const char *img = json_string_value(json_object_get(stack, "image"));
        if (!j->image && img)
            j->image = xstrdup(img);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(stack, "env"), k, v) if (!json_object_get(j->env, k))
            json_object_set(j->env, k, v);
        json_t *merged = json_array();
        size_t i, n;
        json_t *m, *own;
        json_array_foreach(json_object_get(stack, "mounts"), i, m)
        {
            bool replaced = false;
            json_array_foreach(j->mounts, n, own) replaced |=
                !strcmp(json_string_value(json_object_get(own, "path")),
                        json_string_value(json_object_get(m, "path")));
            if (!replaced)
                json_array_append_new(merged, json_deep_copy(m));
        }
        /* The stack's own mounts first, so that a message says they are the stack's (its
         * volume may have been removed or closed since the stack was set). */
        char what[128];
        snprintf(what, sizeof(what), "environment '%s' mounts", j->environment);
        size_t total = json_array_size(merged) + json_array_size(j->mounts);
        int rc = check_mounts(srv, merged, j->team, what, err);
        if (rc == 0 && total > GT_MOUNTS_MAX)
            rc = gt_error_invalid(err,
                                  "mounts: the job and environment '%s' hold %zu mounts "
                                  "together; at most %d",
                                  j->environment, total, GT_MOUNTS_MAX);
        if (rc == 0) /* the job's own, once (the stack's are checked above) */
            rc = check_mounts(srv, j->mounts, j->team, "mounts", err);
        if (rc < 0) {
            json_decref(merged);
            return -1;
        }
        json_array_extend(merged, j->mounts);
        json_decref(j->mounts);
        j->mounts = merged;
        return 0;
    }
    return check_mounts(srv, j->mounts, j->team, "mounts", err);
}

/* The first volume of kind kind that team may use, or NULL. */
static json_t *volume_of_kind(server_t *srv, const char *kind, const char *team)
{
    const char *k;
    json_t *v;
    json_object_foreach(srv->volumes, k, v)
    {
        const char *vk = json_string_value(json_object_get(v, "kind"));
        if (vk && !strcmp(vk, kind) && gt_teams_admit(json_object_get(v, "teams"), team))
            return v;
    }
    return NULL;
}

int server_job_start_env(server_t *srv, const job_t *j, json_t *task, gt_error_t *err)
{
    json_t *mounts = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(j->mounts, i, m)
    {
        const char *name = json_string_value(json_object_get(m, "volume"));
        json_t *vol = json_object_get(srv->volumes, name);
        bool ro = json_is_true(json_object_get(m, "read_only"));
        /* Checked at submission; an admin may have changed the volume since. */
        const char *changed = !vol                     ? "was removed"
                              : volume_ro(vol) && !ro ? "became read-only"
                              : !gt_teams_admit(json_object_get(vol, "teams"), j->team)
                                  ? "was closed to its team"
                                  : NULL;
        if (changed) {
            json_decref(mounts);
            return gt_error_invalid(err, "volume '%s' %s since the job was submitted", name,
                                    changed);
        }
        json_array_append_new(mounts, json_pack("{s:O,s:O,s:O,s:b}", "host_path",
                                                json_object_get(vol, "path"), "sub_path",
                                                json_object_get(m, "sub_path"), "path",
                                                json_object_get(m, "path"), "read_only", ro));
    }
    if (lineage_input_mounts(srv, j, mounts, err) < 0) {
        json_decref(mounts);
        return -1;
    }
    json_object_set_new(task, "mounts", mounts);
    if (j->image)
        json_object_set_new(task, "image", json_string(j->image));
    json_object_set_new(task, "network", json_string(j->network ? j->network : "host"));
    json_t *out = volume_of_kind(srv, "output", j->team);
    if (out) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s/%llu", json_string_value(json_object_get(out, "path")),
                 j->team, (unsigned long long)j->id);
        json_object_set_new(task, "output_dir", json_string(path));
    }
    json_t *scratch = volume_of_kind(srv, "scratch", j->team);
    if (scratch)
        json_object_set(task, "scratch_root", json_object_get(scratch, "path"));
    return 0;
}

/* ---- /v1/volumes and /v1/environments ---- */

static json_t *view(const char *name, json_t *d)
{
    json_t *o = json_deep_copy(d);
    json_object_set_new(o, "name", json_string(name));
    return o;
}

/* PUT /v1/{volumes,environments}/NAME: the body is the entry (its name, if given, is NAME). */
static int put_setting(server_t *srv, const kind_t *k, http_req_t *req, http_resp_t *resp,
                       const char *name)
{
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    gt_error_t err = {0};
    json_t *given = json_object_get(body, "name");
    if (given && (!json_is_string(given) || strcmp(json_string_value(given), name))) {
        json_decref(body);
        return http_error(resp, 400, "invalid_argument", "the body's name must be '%s' (the "
                          "path's) or absent", name);
    }
    json_object_set_new(body, "name", json_string(name));
    json_t *norm = NULL;
    if (k->parse(body, &norm, &err) < 0) {
        json_decref(body);
        return http_error_from(resp, 400, &err);
    }
    json_decref(body);
    pthread_mutex_lock(&srv->mu);
    char what[128];
    snprintf(what, sizeof(what), "environment '%s'", name);
    if (k == &ENVIRONMENT &&
        check_mounts(srv, json_object_get(norm, "mounts"), NULL, what, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        json_decref(norm);
        return http_error_from(resp, 400, &err);
    }
    json_t *was = json_object_get(*live(srv, k), name);
    bool existed = was != NULL;
    char *doc = json_dumps(norm, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_object_set_new(norm, "source", json_string("api")); /* in memory, not in the store */
    store_op_t op = {.kind = STORE_SETTING_PUT, .a = k->word, .b = name, .d = doc};
    char action[48];
    snprintf(action, sizeof(action), "%s.set", k->word);
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, req->who.user, action, name,
                                           was ? view(name, was) : NULL, view(name, norm));
    free(doc);
    pthread_mutex_unlock(&srv->mu);
    if (store_wait(srv->store, ticket, &err) < 0) {
        json_decref(norm);
        return http_error_from(resp, 503, &err);
    }
    /* Memory after the commit: what the server acts on is what it would find after a
     * restart. */
    pthread_mutex_lock(&srv->mu);
    json_object_set(*live(srv, k), name, norm);
    pthread_mutex_unlock(&srv->mu);
    fprintf(stderr, "gantry server: %s %s %s %s.\n", req->who.user,
            existed ? "changed" : "added", k->word, name);
    resp->status = existed ? 200 : 201;
    resp->json = view(name, norm);
    json_decref(norm);
    return 0;
}

static int delete_setting(server_t *srv, const kind_t *k, http_req_t *req, http_resp_t *resp,
                          const char *name)
{
    gt_error_t err = {0};
    pthread_mutex_lock(&srv->mu);
    json_t *d = json_object_get(*live(srv, k), name);
    const char *src = json_string_value(json_object_get(d, "source"));
    if (!d || strcmp(src, "api")) {
        pthread_mutex_unlock(&srv->mu);
        if (d)
            return http_error(resp, 409, "conflict", "%s '%s' is defined by the server's "
                              "configuration (%s:): change it there, or override it with PUT",
                              k->word, name, k->plural);
        return http_error(resp, 404, "not_found", "%s '%s' does not exist (see `%s`)", k->word,
                          name, k->cli);
    }
    store_op_t op = {.kind = STORE_SETTING_DEL, .a = k->word, .b = name};
    json_t *cfg = json_object_get(*configured(srv, k), name);
    char action[48];
    snprintf(action, sizeof(action), "%s.delete", k->word);
    /* audited: the new value is the configuration's, which applies again, or none */
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, req->who.user, action, name,
                                           view(name, d), cfg ? view(name, cfg) : NULL);
    pthread_mutex_unlock(&srv->mu);
    if (store_wait(srv->store, ticket, &err) < 0)
        return http_error_from(resp, 503, &err);
    pthread_mutex_lock(&srv->mu);
    cfg = json_object_get(*configured(srv, k), name);
    if (cfg) /* the configuration's, overridden until now, applies again */
        json_object_set(*live(srv, k), name, cfg);
    else
        json_object_del(*live(srv, k), name);
    json_t *now = json_object_get(*live(srv, k), name);
    resp->json = now ? view(name, now) : json_pack("{s:s,s:b}", "name", name, "deleted", 1);
    pthread_mutex_unlock(&srv->mu);
    fprintf(stderr, "gantry server: %s removed %s %s%s.\n", req->who.user, k->word, name,
            cfg ? " (the configuration's applies again)" : "");
    return 0;
}

static int api_settings(server_t *srv, const kind_t *k, http_req_t *req, http_resp_t *resp,
                        const char *name)
{
    if (*name && (method(req, "PUT") || method(req, "DELETE"))) {
        if (req->who.role != AUTH_ADMIN)
            return http_error(resp, 403, "forbidden", "only an admin changes %s (user %s may "
                              "list them)", k->plural, req->who.user);
        /* Changes one at a time: memory then follows the store in the same order. */
        pthread_mutex_lock(&srv->envs_mu);
        int rc = method(req, "PUT") ? put_setting(srv, k, req, resp, name)
                                    : delete_setting(srv, k, req, resp, name);
        pthread_mutex_unlock(&srv->envs_mu);
        return rc;
    }
    if (!method(req, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET, or PUT or DELETE on /v1/%s/"
                          "NAME", k->plural);
    json_t *arr = json_array();
    pthread_mutex_lock(&srv->mu);
    const char *key;
    json_t *d;
    json_object_foreach(*live(srv, k), key, d) if (!*name || !strcmp(key, name))
        json_array_append_new(arr, view(key, d));
    pthread_mutex_unlock(&srv->mu);
    if (*name) {
        json_t *one = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        if (!one)
            return http_error(resp, 404, "not_found", "%s '%s' does not exist (see `%s`)",
                              k->word, name, k->cli);
        resp->json = one;
        return 0;
    }
    resp->json = json_pack("{s:o}", k->plural, arr);
    return 0;
}

int api_volumes(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    return api_settings(srv, &VOLUME, req, resp, name);
}

int api_environments(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    return api_settings(srv, &ENVIRONMENT, req, resp, name);
}
