/* users.c: the administrator's mapping of Gantry users to Unix accounts and teams
 * (config users: and /v1/users), and what follows from it: the account a job runs as, whether
 * it may be a system account, and for which users a team-admin may mint tokens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/events.h"
#include "server/server.h"

static bool method(const http_req_t *r, const char *m) { return !strcmp(r->method, m); }

static json_t *user_doc(const char *unix_user, const char *team, bool allow_system,
                        const char *source)
{
    return json_pack("{s:s,s:s?,s:b,s:s}", "unix_user", unix_user, "team", team,
                     "allow_system_account", allow_system, "source", source);
}

void server_users_from_config(server_t *srv, const gt_config_t *cfg)
{
    srv->users = json_object();
    srv->config_users = json_object();
    for (size_t i = 0; cfg && i < cfg->nusers; i++) {
        const gt_user_cfg_t *u = &cfg->users[i];
        json_t *d = user_doc(u->unix_user, u->team, u->allow_system_account, "config");
        json_object_set(srv->config_users, u->name, d);
        json_object_set_new(srv->users, u->name, d);
    }
}

int server_user_stored(server_t *srv, const char *name, const char *doc)
{
    json_t *o = json_loads(doc, 0, NULL);
    const char *u = json_string_value(json_object_get(o, "unix_user"));
    if (!json_is_object(o) || !gt_unix_name_ok(u)) {
        json_decref(o);
        return -1;
    }
    json_t *d = user_doc(u, json_string_value(json_object_get(o, "team")),
                         json_is_true(json_object_get(o, "allow_system_account")), "api");
    json_decref(o);
    json_object_set_new(srv->users, name, d);
    return 0;
}

const char *server_unix_user(server_t *srv, const char *user)
{
    const char *u = json_string_value(json_object_get(json_object_get(srv->users, user),
                                                      "unix_user"));
    return u ? u : user;
}

bool server_user_allows_system(server_t *srv, const char *user)
{
    return json_is_true(json_object_get(json_object_get(srv->users, user),
                                        "allow_system_account"));
}

const char *server_user_team(server_t *srv, const char *user)
{
    return json_string_value(json_object_get(json_object_get(srv->users, user), "team"));
}

static json_t *user_view(const char *name, json_t *d)
{
    json_t *o = json_deep_copy(d);
    json_object_set_new(o, "name", json_string(name));
    return o;
}

/* PUT /v1/users/NAME {"unix_user": ..., "team": ..., "allow_system_account": false}. */
static int put_user(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    /* A user name as tokens take it: 1 to 63 printable characters (no '/': it is a path). */
    gt_error_t nerr = {0};
    if (gt_label_check("the user name", name, 63, &nerr) < 0 || strchr(name, '/'))
        return http_error(resp, 400, "invalid_argument", "the user name is not valid: use 1 to "
                          "63 printable characters without spaces or '/'");
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    gt_error_t err = {0};
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) if (strcmp(key, "unix_user") && strcmp(key, "team") &&
                                          strcmp(key, "allow_system_account"))
    {
        gt_error_set(&err, "invalid_argument", "unknown field '%s': a user has unix_user, team, "
                     "allow_system_account", key);
        goto bad;
    }
    json_t *uv = json_object_get(body, "unix_user"), *tv = json_object_get(body, "team"),
           *av = json_object_get(body, "allow_system_account");
    if (!uv) /* the account of the user's own name, as for an unmapped user */
        uv = json_string(name);
    else
        json_incref(uv);
    const char *unix_user = json_string_value(uv);
    if (!gt_unix_name_ok(unix_user)) {
        gt_error_set(&err, "invalid_argument", "unix_user '%s' is not a Unix account name; use "
                     "letters, digits, '.', '_' and '-' (not first), at most 32",
                     unix_user ? unix_user : "");
        json_decref(uv);
        goto bad;
    }
    if ((tv && !json_is_string(tv) && !json_is_null(tv)) || (av && !json_is_boolean(av))) {
        gt_error_set(&err, "invalid_argument", "team must be a team's name (or null) and "
                     "allow_system_account true or false");
        json_decref(uv);
        goto bad;
    }
    const char *team = json_string_value(tv);
    pthread_mutex_lock(&srv->mu);
    if (team && !server_team(srv, team)) {
        pthread_mutex_unlock(&srv->mu);
        gt_error_set(&err, "invalid_argument", "team '%s' does not exist: see `gantry teams`",
                     team);
        json_decref(uv);
        goto bad;
    }
    json_t *was = json_object_get(srv->users, name);
    bool existed = was != NULL;
    json_t *d = user_doc(unix_user, team, json_is_true(av), "api");
    json_decref(uv);
    json_t *stored = json_deep_copy(d);
    json_object_del(stored, "source");
    char *doc = json_dumps(stored, JSON_COMPACT);
    json_decref(stored);
    store_op_t op = {.kind = STORE_USER_PUT, .a = name, .d = doc};
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, req->who.user, "user.set", name,
                                           was ? user_view(name, was) : NULL,
                                           user_view(name, d));
    free(doc);
    pthread_mutex_unlock(&srv->mu);
    if (store_wait(srv->store, ticket, &err) < 0) {
        json_decref(d);
        json_decref(body);
        return http_error_from(resp, 503, &err);
    }
    /* Memory after the commit: what the server acts on is what it would find after a
     * restart. */
    pthread_mutex_lock(&srv->mu);
    json_object_set(srv->users, name, d);
    pthread_mutex_unlock(&srv->mu);
    fprintf(stderr, "gantry server: %s mapped user %s to Unix account %s (team %s, system "
                    "accounts %s).\n", req->who.user, name, unix_user, team ? team : "none",
            json_is_true(av) ? "allowed" : "refused");
    resp->status = existed ? 200 : 201;
    resp->json = user_view(name, d);
    json_decref(d);
    json_decref(body);
    return 0;
bad:
    json_decref(body);
    return http_error_from(resp, 400, &err);
}

static int delete_user(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    gt_error_t err = {0};
    pthread_mutex_lock(&srv->mu);
    json_t *d = json_object_get(srv->users, name);
    const char *src = json_string_value(json_object_get(d, "source"));
    if (!d || strcmp(src, "api")) {
        pthread_mutex_unlock(&srv->mu);
        if (d)
            return http_error(resp, 409, "conflict", "user %s is mapped by the server's "
                              "configuration (users:): change it there", name);
        return http_error(resp, 404, "not_found", "user %s is not mapped", name);
    }
    store_op_t op = {.kind = STORE_USER_DEL, .a = name};
    json_t *cfg = json_object_get(srv->config_users, name);
    /* audited: the new value is the configuration's mapping, which applies again, or none */
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, req->who.user, "user.delete", name,
                                           user_view(name, d), cfg ? user_view(name, cfg) : NULL);
    pthread_mutex_unlock(&srv->mu);
    if (store_wait(srv->store, ticket, &err) < 0)
        return http_error_from(resp, 503, &err);
    pthread_mutex_lock(&srv->mu);
    cfg = json_object_get(srv->config_users, name);
    if (cfg) /* the configuration's mapping, overridden until now, applies again */
        json_object_set(srv->users, name, cfg);
    else
        json_object_del(srv->users, name);
    json_t *now = json_object_get(srv->users, name);
    resp->json = now ? user_view(name, now) : json_pack("{s:s,s:b}", "name", name, "deleted", 1);
    pthread_mutex_unlock(&srv->mu);
    fprintf(stderr, "gantry server: %s removed the mapping of user %s.\n", req->who.user, name);
    return 0;
}

int api_users(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    /* Team-admins read the mappings of their team (whom they may mint tokens for); the rest
     * is the administrator's. */
    bool admin = req->who.role == AUTH_ADMIN;
    if (!admin && !(req->who.role == AUTH_TEAM_ADMIN && method(req, "GET")))
        return http_error(resp, 403, "forbidden", "only an admin maps users to Unix accounts "
                          "and teams (a team-admin may list its team's users)");
    if (*name && (method(req, "PUT") || method(req, "DELETE"))) {
        /* Changes one at a time: memory then follows the store in the same order. */
        pthread_mutex_lock(&srv->users_mu);
        int rc = method(req, "PUT") ? put_user(srv, req, resp, name)
                                    : delete_user(srv, req, resp, name);
        pthread_mutex_unlock(&srv->users_mu);
        return rc;
    }
    if (!method(req, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET, or PUT or DELETE on a user");
    json_t *arr = json_array();
    pthread_mutex_lock(&srv->mu);
    const char *k;
    json_t *d;
    json_object_foreach(srv->users, k, d)
    {
        const char *team = json_string_value(json_object_get(d, "team"));
        if ((*name && strcmp(k, name)) || (!admin && (!team || strcmp(team, req->who.team))))
            continue;
        json_array_append_new(arr, user_view(k, d));
    }
    pthread_mutex_unlock(&srv->mu);
    if (*name) {
        json_t *one = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        if (!one)
            return http_error(resp, 404, "not_found", "user %s is not mapped", name);
        resp->json = one;
        return 0;
    }
    resp->json = json_pack("{s:o}", "users", arr);
    return 0;
}
