/* api_admin.c: nodes, teams (quotas at run time); usage accounting is api_usage.c's. Node control and
 * maintenance windows are in api_nodectl.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/events.h"
#include "server/artifacts.h"
#include "server/server.h"
#include "server/gpu_use.h"

static bool method(const http_req_t *r, const char *m) { return !strcmp(r->method, m); }

/* DELETE /v1/nodes/{name}/credential (`gantry node reset NAME`): revokes the node's
 * credential, so that a join token may register the name again (a new machine). */
static int node_reset(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    if (!method(req, "DELETE"))
        return http_error(resp, 405, "method_not_allowed", "use DELETE on "
                          "/v1/nodes/NAME/credential");
    if (req->who.role != AUTH_ADMIN)
        return http_error(resp, 403, "forbidden", "only an admin resets a node's credential");
    pthread_mutex_lock(&srv->mu);
    bool known = server_node(srv, name) != NULL || auth_node_has_credential(srv->auth, name);
    pthread_mutex_unlock(&srv->mu);
    if (!known)
        return http_error(resp, 404, "not_found", "node '%s' does not exist", name);
    gt_error_t err = {0};
    int n = node_auth_reset(srv, name, &err);
    if (n < 0)
        return http_error_from(resp, 503, &err);
    fprintf(stderr, "gantry server: %s reset node %s: %d node credential(s) revoked.\n",
            req->who.user, name, n);
    server_audit(srv, req->who.user, "node.reset", name, json_pack("{s:i}", "credentials", n),
                 json_pack("{s:i}", "credentials", 0));
    resp->json = json_pack("{s:s,s:i}", "node", name, "revoked", n);
    return 0;
}

/* A team's settings as the audit log keeps them: GPUs, not milli-GPUs; limit null = none. */
static json_t *team_audit(const char *parent, double weight, int64_t quota_milli,
                          int64_t limit_milli)
{
    return json_pack("{s:s?,s:f,s:f,s:o}", "parent", parent, "weight", weight, "quota",
                     quota_milli / 1000.0, "limit",
                     limit_milli < 0 ? json_null() : json_real(limit_milli / 1000.0));
}

json_t *api_node_json(server_t *srv, node_t *n)
{
    sched_node_info_t ni = {0};
    sched_node_info(srv->sched, n->sched_idx, &ni);
    json_t *o = json_pack("{s:s,s:s,s:s?,s:i,s:i,s:f,s:I,s:I,s:I,s:I,s:i,s:I,s:f}", "name",
                          n->name, "state", n->up ? (n->epoch ? "up" : "unknown")
                                                  : "unreachable",
                          "gpu_type", ni.gpu_type, "gpus", ni.gpus, "gpus_free",
                          ni.gpus_free, "gpus_used", ni.gpu_milli_used / 1000.0,
                          "cpus_milli", (json_int_t)ni.cpus_milli, "cpus_milli_free",
                          (json_int_t)ni.cpus_milli_free, "memory_mib",
                          (json_int_t)ni.memory_mib, "memory_mib_free",
                          (json_int_t)ni.memory_mib_free, "jobs", ni.jobs, "epoch",
                          (json_int_t)n->epoch, "last_seen_s_ago",
                          n->epoch ? server_now() - n->last_seen : -1.0);
    server_nodectl_view(srv, n, ni.jobs, o);
    json_object_set(o, "topology", json_object_get(n->info, "topology"));
    json_t *rt = json_object_get(n->info, "runtimes");
    json_object_set_new(o, "runtimes", rt ? json_incref(rt) : json_pack("[s]", "process"));
    if (json_object_get(n->info, "oci_runtime"))
        json_object_set(o, "oci_runtime", json_object_get(n->info, "oci_runtime"));
    if (n->address)
        json_object_set_new(o, "address", json_string(n->address));
    if (n->gpu_stats)
        json_object_set(o, "gpu_stats", n->gpu_stats);
    if (n->volumes) /* the volumes' paths its heartbeats say it has (lineage.c) */
        json_object_set(o, "volumes", n->volumes);
    return o;
}

int api_nodes(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest)
{
    const char *slash = strchr(rest, '/');
    if (slash) {
        char name[64];
        if (slash - rest >= (ptrdiff_t)sizeof(name))
            return http_error(resp, 404, "not_found", "no such node");
        snprintf(name, sizeof(name), "%.*s", (int)(slash - rest), rest);
        const char *verb = slash + 1;
        if (!strcmp(verb, "credential"))
            return node_reset(srv, req, resp, name);
        if (!strcmp(verb, "drain") || !strcmp(verb, "cordon") || !strcmp(verb, "uncordon") ||
            !strcmp(verb, "resume"))
            return api_node_control(srv, req, resp, name, verb);
        return http_error(resp, 404, "not_found", "no such endpoint: %s /v1/nodes/%s (drain, "
                          "cordon, uncordon, resume, credential)", req->method, rest);
    }
    if (!method(req, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/nodes");
    json_t *arr = json_array();
    pthread_mutex_lock(&srv->mu);
    for (size_t i = 0; i < srv->nnodes; i++) {
        node_t *n = srv->nodes[i];
        if (*rest && strcmp(rest, n->name))
            continue;
        json_array_append_new(arr, api_node_json(srv, n));
    }
    pthread_mutex_unlock(&srv->mu);
    if (*rest && !json_array_size(arr)) {
        json_decref(arr);
        return http_error(resp, 404, "not_found", "node '%s' does not exist", rest);
    }
    resp->json = *rest ? json_incref(json_array_get(arr, 0)) : json_pack("{s:o}", "nodes", arr);
    if (*rest)
        json_decref(arr);
    return 0;
}

static json_t *team_json(server_t *srv, team_t *t)
{
    sched_team_info_t ti = {0};
    sched_team_info(srv->sched, t->sched_idx, &ti);
    json_t *o = json_pack("{s:s,s:s?,s:f,s:f,s:f,s:I,s:f,s:f,s:i,s:i}", "name", t->name,
                          "parent", t->parent, "weight", t->weight, "quota",
                          t->quota_milli / 1000.0, "limit",
                          t->limit_milli < 0 ? -1.0 : t->limit_milli / 1000.0, "quota_milli",
                          (json_int_t)t->quota_milli, "allocated", ti.allocated_milli / 1000.0,
                          "usage_gpu_hours", ti.usage_gpu_s / 3600.0, "pending", ti.pending,
                          "running", ti.running);
    json_object_set_new(o, "limit_milli", json_integer(t->limit_milli));
    int64_t sq = artifacts_team_quota(srv, t->name); /* the blob store's bytes (artifacts.h) */
    json_object_set_new(o, "storage_quota", sq >= 0 ? json_integer(sq) : json_null());
    return o;
}

/* A GPU amount as a number or string ("8", "0.5"); -1 allowed for limit ("none"). */
static int gpu_amount(json_t *v, bool allow_none, int64_t *out, gt_error_t *err)
{
    char buf[64];
    if (json_is_number(v) && allow_none && json_number_value(v) == -1) {
        *out = -1;
        return 0;
    }
    if (json_is_string(v) && allow_none && !strcmp(json_string_value(v), "none")) {
        *out = -1;
        return 0;
    }
    if (json_is_integer(v))
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v) && isfinite(json_real_value(v)))
        snprintf(buf, sizeof(buf), "%.6g", json_real_value(v));
    else if (json_is_string(v))
        snprintf(buf, sizeof(buf), "%s", json_string_value(v));
    else {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "a GPU amount must be a number");
    }
    if (buf[0] == '-') {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "a GPU amount must not be negative");
    }
    /* Quotas may exceed one node: whole numbers up to 10^6, or fractions. */
    char *end;
    double d = strtod(buf, &end);
    if (*end || d < 0 || d > 1e6) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "GPU amount '%s' is not valid", buf);
    }
    *out = (int64_t)llround(d * 1000);
    return 0;
}

/* The names of the teams above parent, parent first (parent included); how many. */
static size_t team_ancestors(server_t *srv, const char *parent, const char **anc, size_t max)
{
    size_t n = 0;
    for (team_t *p = server_team(srv, parent); p && n < max; p = server_team(srv, p->parent))
        anc[n++] = p->name;
    return n;
}

/* The hierarchy's sums with team name at quota q under parent: the quotas of parent's children
 * fit in parent's quota, and name's own children fit in q. 0, or -1 (EINVAL) with err. Caller
 * holds mu. */
static int check_quota_sums(server_t *srv, const char *name, const char *parent, int64_t q,
                            gt_error_t *err)
{
    team_t *p = server_team(srv, parent);
    int64_t siblings = q, kids = 0;
    for (size_t i = 0; i < srv->nteams; i++) {
        team_t *c = &srv->teams[i];
        if (!c->parent || !strcmp(c->name, name))
            continue;
        if (p && !strcmp(c->parent, p->name))
            siblings += c->quota_milli;
        if (!strcmp(c->parent, name))
            kids += c->quota_milli;
    }
    errno = EINVAL;
    if (p && siblings > p->quota_milli)
        return gt_error_set(err, "invalid_argument",
                            "the quotas of team '%s''s sub-teams would add up to %g GPUs, above "
                            "its own quota of %g: a sub-team's quota comes out of its parent's",
                            p->name, siblings / 1000.0, p->quota_milli / 1000.0);
    if (kids > q)
        return gt_error_set(err, "invalid_argument",
                            "team '%s''s sub-teams hold quotas of %g GPUs in all: its quota can't "
                            "go below that (lower theirs first)", name, kids / 1000.0);
    return 0;
}

static int put_team(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    if (req->who.role != AUTH_ADMIN && req->who.role != AUTH_TEAM_ADMIN)
        return http_error(resp, 403, "forbidden", "user %s may not change teams (admin, or a "
                          "team-admin for the sub-teams of its team)", req->who.user);
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) if (strcmp(key, "quota") && strcmp(key, "limit") &&
                                          strcmp(key, "weight") && strcmp(key, "parent") &&
                                          strcmp(key, "storage_quota"))
    {
        json_decref(body);
        return http_error(resp, 400, "invalid_argument", "unknown field '%s': a team has "
                          "quota, limit, weight, parent, storage_quota", key);
    }
    gt_error_t err = {0};
    /* The blob store's bytes for the team (artifacts.h): bytes as a number or a size ("500Gi",
     * "2T"), or null / "none" for no quota; an admin's alone (it is not a share of a parent's,
     * so a team-admin could raise it without bound). */
    int64_t sq = -2;
    json_t *sqv = json_object_get(body, "storage_quota");
    if (sqv) {
        if (req->who.role != AUTH_ADMIN) {
            json_decref(body);
            return http_error(resp, 403, "forbidden", "only an admin sets a team's storage "
                              "quota");
        }
        if (json_is_null(sqv) || (json_is_string(sqv) && !strcmp(json_string_value(sqv), "none")))
            sq = -1;
        else if (json_is_integer(sqv) && json_integer_value(sqv) >= 0)
            sq = json_integer_value(sqv);
        else if (!json_is_string(sqv) || gt_parse_bytes(json_string_value(sqv), &sq, &err) < 0 ||
                 sq < 0) {
            gt_error_set(&err, "invalid_argument", "storage_quota must be bytes (1048576, 500Gi, "
                         "2T) or none");
            goto bad;
        }
    }
    int64_t q = -2, l = -2;
    double w = 0;
    if ((v = json_object_get(body, "quota")) && gpu_amount(v, false, &q, &err) < 0)
        goto bad;
    if ((v = json_object_get(body, "limit")) && gpu_amount(v, true, &l, &err) < 0)
        goto bad;
    if ((v = json_object_get(body, "weight"))) {
        w = json_number_value(v);
        if (!json_is_number(v) || !(w > 0) || w > 1e6) {
            gt_error_set(&err, "invalid_argument", "weight must be a number above 0");
            goto bad;
        }
    }
    json_t *pv = json_object_get(body, "parent");
    if (pv && !json_is_string(pv) && !json_is_null(pv)) {
        gt_error_set(&err, "invalid_argument", "parent must be a team's name (or null)");
        goto bad;
    }
    const char *parent = json_string_value(pv);
    const char *anc[64];
    pthread_mutex_lock(&srv->mu);
    team_t *t = server_team(srv, name);
    size_t nanc = team_ancestors(srv, t ? t->parent : parent, anc, 64);
    if (!auth_can_govern_team(&req->who, anc, nanc)) {
        pthread_mutex_unlock(&srv->mu);
        json_decref(body);
        if (!t && req->who.role == AUTH_TEAM_ADMIN)
            return http_error(resp, 403, "forbidden", "a team-admin creates teams only under "
                              "its own team '%s' (pass parent)", req->who.team);
        return http_error(resp, 403, "forbidden", "only an admin sets the quota, limit and weight "
                          "of team '%s'; a team-admin manages only the sub-teams of its own team",
                          name);
    }
    if (t && pv && (parent ? !t->parent || strcmp(parent, t->parent) : t->parent != NULL)) {
        pthread_mutex_unlock(&srv->mu);
        gt_error_set(&err, "invalid_argument", "team '%s' is %s%s%s: a team's parent can't "
                     "change while the server runs (its jobs count in its parent's allocation);"
                     " create a new team under '%s' instead, or change the configuration",
                     name, t->parent ? "under '" : "a top-level team", t->parent ? t->parent : "",
                     t->parent ? "'" : "", parent ? parent : "(none)");
        goto bad;
    }
    int64_t nq = q >= 0 ? q : t ? t->quota_milli : 0;
    /* Checked when a quota changes or a team is born: a weight or limit change leaves a
     * hierarchy the configuration made alone. */
    if ((q >= 0 || !t) && check_quota_sums(srv, name, t ? t->parent : parent, nq, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        goto bad;
    }
    if (!t && gt_node_name_check(name, &err) < 0) {
        /* A new team's name is one word of the node names' letters: it goes into log lines,
         * tables and metrics' labels as is. */
        pthread_mutex_unlock(&srv->mu);
        gt_error_set(&err, "invalid_argument", "team name '%s' is not valid: use 1 to 63 "
                     "characters of A-Z, a-z, 0-9, '.', '_' and '-'", name);
        goto bad;
    }
    /* A client's change (store.h): checked, committed, and only then applied to memory. */
    int64_t nl = l >= -1 ? l : t ? t->limit_milli : -1;
    double nw = w > 0 ? w : t ? t->weight : 1;
    const char *np = t ? t->parent : parent;
    if (np && !server_team(srv, np)) {
        pthread_mutex_unlock(&srv->mu);
        gt_error_set(&err, "invalid_argument", "parent team '%s' does not exist", np);
        goto bad;
    }
    if (nl >= 0 && nq > nl) {
        pthread_mutex_unlock(&srv->mu);
        gt_error_set(&err, "invalid_argument", "team '%s': quota must not be above the limit",
                     name);
        goto bad;
    }
    json_t *doc = json_pack("{s:s?,s:f,s:I,s:I}", "parent", np, "weight", nw, "quota_milli",
                            (json_int_t)nq, "limit_milli", (json_int_t)nl);
    json_t *old = t ? team_audit(t->parent, t->weight, t->quota_milli, t->limit_milli) : NULL;
    json_t *newv = team_audit(np, nw, nq, nl);
    int64_t osq = artifacts_team_quota(srv, name);
    if (old)
        json_object_set_new(old, "storage_quota", osq >= 0 ? json_integer(osq) : json_null());
    artifacts_quota_doc(srv, name, doc); /* an earlier admin's storage quota stays */
    if (sq >= -1)
        json_object_set_new(doc, "storage_quota", json_integer((json_int_t)sq));
    int64_t nsq = sq >= -1 ? sq : osq;
    json_object_set_new(newv, "storage_quota", nsq >= 0 ? json_integer(nsq) : json_null());
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    store_op_t op = {.kind = STORE_TEAM_PUT, .a = name, .d = s};
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, req->who.user, "team.set", name, old,
                                           newv);
    free(s);
    char *pcopy = np ? xstrdup(np) : NULL;
    pthread_mutex_unlock(&srv->mu);
    json_decref(body);
    if (store_wait(srv->store, ticket, &err) < 0) {
        free(pcopy);
        return http_error_from(resp, 503, &err);
    }
    pthread_mutex_lock(&srv->mu);
    t = server_team(srv, name);
    if (!t) {
        t = server_team_add(srv, name, pcopy, nw, nq, nl, &err);
        resp->status = 201;
    } else if (sched_team_set_quota(srv->sched, t->sched_idx, -1, nq, nl, &err) == 0 &&
               sched_team_set_weight(srv->sched, t->sched_idx, nw, &err) == 0) {
        t->quota_milli = nq;
        t->limit_milli = nl;
        t->weight = nw;
    } else {
        t = NULL;
    }
    free(pcopy);
    if (t && sq >= -1)
        artifacts_quota_set(srv, name, sq);
    if (!t) { /* checked above: should not happen; the store has it, a restart applies it */
        pthread_mutex_unlock(&srv->mu);
        fprintf(stderr, "gantry server: team %s was saved but not applied: %s\n", name,
                err.msg);
        return http_error_from(resp, 500, &err);
    }
    json_t *view = team_json(srv, t);
    server_kick(srv);
    pthread_mutex_unlock(&srv->mu);
    fprintf(stderr, "gantry server: team %s changed by %s.\n", name, req->who.user);
    resp->json = view;
    return 0;
bad:
    json_decref(body);
    return http_error_from(resp, 400, &err);
}

int api_teams(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest)
{
    if (*rest && method(req, "PUT"))
        return put_team(srv, req, resp, rest);
    if (!method(req, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET, or PUT on a team");
    json_t *arr = json_array();
    pthread_mutex_lock(&srv->mu);
    for (size_t i = 0; i < srv->nteams; i++)
        if (!*rest || !strcmp(rest, srv->teams[i].name))
            json_array_append_new(arr, team_json(srv, &srv->teams[i]));
    pthread_mutex_unlock(&srv->mu);
    if (*rest) {
        json_t *one = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        if (!one)
            return http_error(resp, 404, "not_found", "team '%s' does not exist", rest);
        resp->json = one;
        return 0;
    }
    resp->json = json_pack("{s:o}", "teams", arr);
    return 0;
}
