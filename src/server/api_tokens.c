/* api_tokens.c: /v1/tokens: create (with an expiry), list (never the secret), revoke (at once),
 * rotate (a new token for the caller, the old one revoked; admin.token rewritten when it held
 * the old one). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/events.h"
#include "server/server.h"

static bool method(const http_req_t *r, const char *m) { return !strcmp(r->method, m); }

static json_t *token_view(const auth_token_info_t *t, int64_t now)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s?}", "id", t->id, "user", t->user, "role",
                          auth_role_name(t->role), "team", t->team[0] ? t->team : NULL);
    json_object_set_new(o, "created", t->created ? json_integer(t->created) : json_null());
    json_object_set_new(o, "expires", t->expires ? json_integer(t->expires) : json_null());
    json_object_set_new(o, "expired", json_boolean(t->expires && t->expires <= now));
    return o;
}

/* "expires": a duration from now ("30d", "12h") or seconds; null or absent: never. */
static int parse_expires(json_t *v, int64_t now, int64_t *out, gt_error_t *err)
{
    int64_t d = 0;
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v))
        d = json_integer_value(v);
    else if (!json_is_string(v) || gt_parse_duration(json_string_value(v), &d, err) < 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "expires must be a duration such as 30d, "
                            "12h or 3600 (seconds)");
    }
    if (d <= 0 || d > 100LL * 365 * 86400) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "expires must be above 0 and at most 100 "
                            "years");
    }
    *out = now + d;
    return 0;
}

static int token_create(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    const char *user = json_string_value(json_object_get(body, "user"));
    const char *role_s = json_string_value(json_object_get(body, "role"));
    const char *team = json_string_value(json_object_get(body, "team"));
    gt_error_t err = {0};
    auth_role_t role;
    char tok[68], hash[65];
    int64_t now = (int64_t)server_now(), expires;
    /* A user name is one printable word: it goes into log lines and tables as is. */
    if (auth_role_parse(role_s, &role, &err) < 0 ||
        parse_expires(json_object_get(body, "expires"), now, &expires, &err) < 0 ||
        gt_label_check("the user name", user, 63, &err) < 0)
        goto bad;
    if (!auth_can_mint(&req->who, role, team)) {
        json_decref(body);
        if (req->who.role == AUTH_TEAM_ADMIN && (role == AUTH_MEMBER || role == AUTH_VIEWER))
            return http_error(resp, 403, "forbidden", "a team-admin creates tokens only for its "
                              "own team '%s'", req->who.team);
        return http_error(resp, 403, "forbidden", "only an admin creates %s tokens",
                          auth_role_name(role));
    }
    pthread_mutex_lock(&srv->mu);
    bool team_ok = !team || server_team(srv, team);
    /* A team-admin names users the administrator mapped to its team: the user name decides
     * the Unix account its jobs run as, which is the administrator's choice, not the
     * team-admin's. */
    const char *mapped = user ? server_user_team(srv, user) : NULL;
    bool user_ok = req->who.role == AUTH_ADMIN || (mapped && !strcmp(mapped, req->who.team));
    pthread_mutex_unlock(&srv->mu);
    if (!team_ok) {
        gt_error_set(&err, "invalid_argument", "team '%s' does not exist", team);
        goto bad;
    }
    if (!user_ok) {
        http_error(resp, 403, "forbidden", "user '%s' is not mapped to team '%s': an admin maps "
                   "users to teams and Unix accounts first (gantry user set %s --team %s --unix "
                   "ACCOUNT)", user ? user : "", req->who.team, user ? user : "NAME",
                   req->who.team);
        json_decref(body);
        return 0;
    }
    if (auth_token_generate(tok) < 0) {
        json_decref(body);
        return http_error(resp, 500, "internal", "cannot read /dev/urandom");
    }
    auth_token_hash(tok, hash);
    /* Validate before storing: auth_add checks the same rules; a dry run on a scratch table. */
    auth_t *scratch = auth_new();
    int vr = auth_add(scratch, hash, user, role, team, &err);
    auth_free(scratch);
    if (vr < 0)
        goto bad;
    store_op_t op = {.kind = STORE_TOKEN_PUT, .a = hash, .b = user, .c = auth_role_name(role),
                     .d = role == AUTH_ADMIN || role == AUTH_AGENT || role == AUTH_NODE
                              ? NULL : team,
                     .n = now, .m = expires};
    auth_token_info_t info;
    memset(&info, 0, sizeof(info));
    memcpy(info.id, hash, 16);
    snprintf(info.user, sizeof(info.user), "%s", user);
    snprintf(info.team, sizeof(info.team), "%s", op.d ? op.d : "");
    info.role = role;
    info.created = now;
    info.expires = expires;
    /* audited without the secret: its view names it by its id */
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, req->who.user, "token.create", info.id,
                                           NULL, token_view(&info, now));
    if (store_wait(srv->store, ticket, &err) < 0) {
        json_decref(body);
        return http_error_from(resp, 503, &err);
    }
    auth_add_token(srv->auth, hash, user, role, op.d, now, expires, NULL);
    fprintf(stderr, "gantry server: %s created a %s token %.16s for user %s.\n", req->who.user,
            auth_role_name(role), hash, user);
    resp->status = 201;
    resp->json = token_view(&info, now);
    json_object_set_new(resp->json, "token", json_string(tok));
    json_decref(body);
    return 0;
bad:
    json_decref(body);
    return http_error_from(resp, 400, &err);
}

static int token_list(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    size_t n;
    auth_token_info_t *v = auth_list(srv->auth, &n);
    int64_t now = (int64_t)server_now();
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (auth_can_manage_token(&req->who, &v[i]))
            json_array_append_new(arr, token_view(&v[i], now));
    free(v);
    resp->json = json_pack("{s:o}", "tokens", arr);
    return 0;
}

static int token_revoke(server_t *srv, http_req_t *req, http_resp_t *resp, const char *id)
{
    auth_token_info_t info;
    char hash[65];
    /* A token the caller may not manage is answered as one that does not exist. */
    if (!auth_find(srv->auth, id, &info, hash) || !auth_can_manage_token(&req->who, &info))
        return http_error(resp, 404, "not_found", "token %s does not exist", id);
    gt_error_t err = {0};
    store_op_t op = {.kind = STORE_TOKEN_DEL, .a = hash};
    int64_t now = (int64_t)server_now();
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, req->who.user, "token.revoke", info.id,
                                           token_view(&info, now), NULL);
    if (store_wait(srv->store, ticket, &err) < 0)
        return http_error_from(resp, 503, &err);
    auth_remove(srv->auth, hash); /* from now on every request with it is 401 */
    fprintf(stderr, "gantry server: %s revoked token %s (a %s token of user %s).\n",
            req->who.user, id, auth_role_name(info.role), info.user);
    resp->json = token_view(&info, now);
    json_object_set_new(resp->json, "revoked", json_true());
    return 0;
}

/* Whether DATA/admin.token holds the token whose hash this is. */
static bool admin_file_holds(server_t *srv, const char *hash)
{
    char path[4096], tok[128] = "", h[65];
    snprintf(path, sizeof(path), "%s/admin.token", srv->data_dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool got = fgets(tok, sizeof(tok), f) != NULL;
    fclose(f);
    tok[strcspn(tok, "\r\n")] = 0;
    if (!got || !*tok)
        return false;
    auth_token_hash(tok, h);
    return !strcmp(h, hash);
}

/* Writes tok into DATA/admin.token.new (0600, synced); -1 with err. */
static int write_admin_tmp(server_t *srv, const char *tok, char *tmp, size_t len,
                           gt_error_t *err)
{
    snprintf(tmp, len, "%s/admin.token.new", srv->data_dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || dprintf(fd, "%s\n", tok) < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        errno = e;
        return gt_error_set(err, "internal", "cannot write %s: %s", tmp, strerror(e));
    }
    close(fd);
    return 0;
}

static int token_rotate(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    auth_token_info_t old;
    char old_hash[65], tok[68], hash[65], tmp[4200] = "";
    gt_error_t err = {0};
    if (!auth_find(srv->auth, req->who.token_id, &old, old_hash))
        return http_error(resp, 401, "unauthorized", "the token was revoked");
    int64_t now = (int64_t)server_now();
    /* The new token lives as long as the old one was given. */
    int64_t expires = old.expires ? now + (old.expires - (old.created ? old.created : now)) : 0;
    if (old.expires && expires <= now)
        expires = now + 86400;
    bool admin_file = admin_file_holds(srv, old_hash);
    if (auth_token_generate(tok) < 0)
        return http_error(resp, 500, "internal", "cannot read /dev/urandom");
    auth_token_hash(tok, hash);
    if (admin_file && write_admin_tmp(srv, tok, tmp, sizeof(tmp), &err) < 0)
        return http_error_from(resp, 500, &err);
    /* One batch: the new token exists exactly when the old one is gone. */
    store_op_t ops[2] = {
        {.kind = STORE_TOKEN_PUT, .a = hash, .b = old.user, .c = auth_role_name(old.role),
         .d = old.team[0] ? old.team : NULL, .n = now, .m = expires},
        {.kind = STORE_TOKEN_DEL, .a = old_hash},
    };
    auth_token_info_t info = old;
    memcpy(info.id, hash, 16);
    info.created = now;
    info.expires = expires;
    uint64_t ticket = server_audit_enqueue(srv, ops, 2, req->who.user, "token.rotate", old.id,
                                           token_view(&old, now), token_view(&info, now));
    if (store_wait(srv->store, ticket, &err) < 0) {
        if (*tmp)
            unlink(tmp);
        return http_error_from(resp, 503, &err);
    }
    auth_add_token(srv->auth, hash, old.user, old.role, ops[0].d, now, expires, NULL);
    auth_remove(srv->auth, old_hash);
    char path[4096];
    snprintf(path, sizeof(path), "%s/admin.token", srv->data_dir);
    bool wrote = false;
    if (admin_file) {
        wrote = rename(tmp, path) == 0;
        if (!wrote)
            fprintf(stderr, "gantry server: cannot replace %s (%s): the new admin token is only "
                            "in the answer to the rotation.\n", path, strerror(errno));
        else
            gt_fsync_dir(srv->data_dir);
    }
    fprintf(stderr, "gantry server: %s rotated token %s into %.16s%s.\n", req->who.user, old.id,
            hash, wrote ? " (admin.token rewritten)" : "");
    resp->status = 201;
    resp->json = token_view(&info, now);
    json_object_set_new(resp->json, "token", json_string(tok));
    json_object_set_new(resp->json, "revoked", json_string(old.id));
    json_object_set_new(resp->json, "admin_token_file", json_boolean(wrote));
    return 0;
}

int api_tokens(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest)
{
    if (!*rest && method(req, "POST"))
        return token_create(srv, req, resp);
    if (!*rest && method(req, "GET"))
        return token_list(srv, req, resp);
    if (!strcmp(rest, "rotate") && method(req, "POST"))
        return token_rotate(srv, req, resp);
    if (*rest && method(req, "DELETE"))
        return token_revoke(srv, req, resp, rest);
    return http_error(resp, 405, "method_not_allowed", "use POST or GET on /v1/tokens, DELETE "
                      "on /v1/tokens/ID, POST on /v1/tokens/rotate");
}
