/* api_nodectl.c: what an admin takes out of scheduling.
 * Node control: POST /v1/nodes/NAME/drain {reason} (no new jobs; the running ones finish),
 * /cordon (no new jobs), /uncordon and /resume (schedulable again, whichever took it out).
 * Maintenance windows: GET /v1/maintenance[/NAME] (anyone), POST /v1/maintenance {name, nodes,
 * start, duration} and DELETE /v1/maintenance/NAME (admin). The scheduler plans around both
 * (sched.h: sched_node_set_schedulable, sched_maintenance_add).
 *
 * Both live in the settings table (kinds "node" and "maintenance"), so they survive a restart,
 * and are kept by node name in srv->node_admin and srv->maintenance, so they survive an agent
 * registering again: server_nodectl_node_added() applies them to a node the scheduler gets. A
 * change is committed first and applied to memory after (store.h), one at a time
 * (srv->nodectl_mu). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/events.h"
#include "server/server.h"

#define KIND_NODE "node"
#define KIND_MAINT "maintenance"
#define REASON_MAX 256

static bool method(const http_req_t *r, const char *m) { return !strcmp(r->method, m); }

/* ---- applying to the scheduler (caller holds mu) ---- */

static void apply_node(server_t *srv, const node_t *n)
{
    if (n->sched_idx >= 0)
        sched_node_set_schedulable(srv->sched, n->sched_idx,
                                   !json_object_get(srv->node_admin, n->name));
}

/* (Re-)enters window name in the scheduler with the nodes it knows now (w NULL: removes it). */
static void apply_window(server_t *srv, const char *name, json_t *w)
{
    sched_maintenance_remove(srv->sched, name); /* ENOENT when new: nothing to remove */
    if (!w)
        return;
    json_t *nodes = json_object_get(w, "nodes"), *v;
    int *idx = xmalloc((json_array_size(nodes) + 1) * sizeof(int));
    int k = 0;
    size_t i;
    json_array_foreach(nodes, i, v)
    {
        node_t *n = server_node(srv, json_string_value(v));
        if (n && n->sched_idx >= 0)
            idx[k++] = n->sched_idx;
    }
    json_int_t start = json_integer_value(json_object_get(w, "start"));
    json_int_t end = json_integer_value(json_object_get(w, "end"));
    gt_error_t err = {0};
    if (k && sched_maintenance_add(srv->sched, name, idx, k, start, end, &err) < 0)
        fprintf(stderr, "gantry server: maintenance %s can't be planned: %s\n", name, err.msg);
    free(idx);
}

static bool window_names(json_t *w, const char *node)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(w, "nodes"), i, v) if (!strcmp(json_string_value(v), node))
        return true;
    return false;
}

void server_nodectl_node_added(server_t *srv, node_t *n)
{
    if (srv->node_admin)
        apply_node(srv, n);
    const char *name;
    json_t *w;
    if (srv->maintenance)
        json_object_foreach(srv->maintenance, name, w) if (window_names(w, n->name))
            apply_window(srv, name, w);
}

static int on_stored(void *arg, const char *name, const char *doc)
{
    json_t *o = json_loads(doc, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    json_object_set_new(arg, name, o);
    return 0;
}

int server_nodectl_load(server_t *srv, gt_error_t *err)
{
    srv->node_admin = json_object();
    srv->maintenance = json_object();
    if (store_load_settings(srv->store, KIND_NODE, on_stored, srv->node_admin, err) < 0 ||
        store_load_settings(srv->store, KIND_MAINT, on_stored, srv->maintenance, err) < 0)
        return -1;
    for (size_t i = 0; i < srv->nnodes; i++)
        apply_node(srv, srv->nodes[i]);
    const char *name;
    json_t *w;
    json_object_foreach(srv->maintenance, name, w) apply_window(srv, name, w);
    return 0;
}

void server_nodectl_free(server_t *srv)
{
    json_decref(srv->node_admin);
    json_decref(srv->maintenance);
}

/* ---- the node's fields ---- */

void server_nodectl_view(server_t *srv, const node_t *n, int jobs, json_t *o)
{
    json_t *a = json_object_get(srv->node_admin, n->name);
    const char *st = json_string_value(json_object_get(a, "state"));
    bool drain = st && !strcmp(st, "drain");
    if (a && n->up)
        json_object_set_new(o, "state", json_string(!drain ? "cordoned"
                                                    : jobs ? "draining" : "drained"));
    json_object_set_new(o, "schedulable", json_boolean(!a));
    json_t *r = drain ? json_object_get(a, "reason") : NULL;
    json_object_set_new(o, "drain_reason", r ? json_incref(r) : json_null());
    if (a) {
        json_object_set(o, "admin_by", json_object_get(a, "by"));
        json_object_set(o, "admin_since", json_object_get(a, "since"));
    }
    json_t *ws = json_array(), *w;
    const char *name;
    double now = server_now();
    json_object_foreach(srv->maintenance, name, w)
    {
        json_int_t end = json_integer_value(json_object_get(w, "end"));
        if (end > now && window_names(w, n->name))
            json_array_append_new(ws, json_pack("{s:s,s:O,s:I}", "name", name, "start",
                                                json_object_get(w, "start"), "end", end));
    }
    json_object_set_new(o, "maintenance", ws);
}

/* ---- POST /v1/nodes/NAME/{drain,cordon,uncordon,resume} ---- */

/* Commits a node's new admin state (doc NULL: none) with its audit entry (action by user,
 * old: the state before, stolen) and applies it. Caller holds nodectl_mu, not mu. 0, or -1
 * with the answer in resp. */
static int commit_node(server_t *srv, http_resp_t *resp, const char *name, json_t *doc,
                       const char *user, const char *action, json_t *old)
{
    gt_error_t err = {0};
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    store_op_t op = {.kind = doc ? STORE_SETTING_PUT : STORE_SETTING_DEL, .a = KIND_NODE,
                     .b = name, .d = text};
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, user, action, name, old,
                                           doc ? json_incref(doc) : NULL);
    free(text);
    if (store_wait(srv->store, ticket, &err) < 0) {
        http_error_from(resp, 503, &err);
        return -1;
    }
    pthread_mutex_lock(&srv->mu);
    if (doc)
        json_object_set(srv->node_admin, name, doc);
    else
        json_object_del(srv->node_admin, name);
    node_t *n = server_node(srv, name);
    if (n)
        apply_node(srv, n);
    server_kick(srv);
    pthread_mutex_unlock(&srv->mu);
    return 0;
}

int api_node_control(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name,
                     const char *verb)
{
    bool drain = !strcmp(verb, "drain"), cordon = !strcmp(verb, "cordon");
    if (!method(req, "POST"))
        return http_error(resp, 405, "method_not_allowed", "use POST on /v1/nodes/NAME/%s", verb);
    if (req->who.role != AUTH_ADMIN)
        return http_error(resp, 403, "forbidden", "only an admin may %s a node (user %s may see "
                          "nodes with `gantry nodes`)", verb, req->who.user);
    json_t *body = NULL;
    if (req->body_len && !(body = http_body_json(req, resp)))
        return 0;
    json_t *rv = json_object_get(body, "reason");
    const char *reason = json_string_value(rv);
    if (rv && (!reason || strlen(reason) > REASON_MAX)) {
        json_decref(body);
        return http_error(resp, 400, "invalid_argument", "reason must be a string of at most %d "
                          "characters", REASON_MAX);
    }
    if (drain && (!reason || !*reason)) {
        json_decref(body);
        return http_error(resp, 400, "invalid_argument", "drain needs a reason (what is wrong "
                          "with node %s, for whoever looks at it next): {\"reason\": \"...\"}, "
                          "or `gantry drain %s --reason TEXT`", name, name);
    }
    pthread_mutex_lock(&srv->nodectl_mu);
    pthread_mutex_lock(&srv->mu);
    bool known = server_node(srv, name) != NULL;
    json_t *cur = json_object_get(srv->node_admin, name);
    const char *cur_st = json_string_value(json_object_get(cur, "state"));
    bool cur_drain = cur_st && !strcmp(cur_st, "drain");
    json_t *old = cur ? json_deep_copy(cur) : NULL; /* nodectl_mu: no other change meanwhile */
    pthread_mutex_unlock(&srv->mu);
    int rc = 0;
    if (!known) {
        rc = http_error(resp, 404, "not_found", "node '%s' does not exist (see `gantry nodes`)",
                        name);
        goto out;
    }
    /* drain: new, or a new reason; cordon: only a node without either (a cordon leaves a drain
     * and its reason as they are); uncordon and resume both clear a drain or a cordon. */
    json_t *doc = NULL;
    bool change;
    if (drain)
        change = !cur_drain || strcmp(reason, json_string_value(json_object_get(cur, "reason")));
    else
        change = cordon ? !cur : cur != NULL;
    if (change && (drain || cordon)) {
        doc = json_pack("{s:s,s:s,s:I}", "state", drain ? "drain" : "cordon", "by",
                        req->who.user, "since", (json_int_t)server_now());
        if (drain)
            json_object_set_new(doc, "reason", json_string(reason));
    }
    char action[32];
    snprintf(action, sizeof(action), "node.%s", verb);
    /* audited: old, and doc (NULL: schedulable again) */
    int committed = change ? commit_node(srv, resp, name, doc, req->who.user, action, old) : 0;
    if (change)
        old = NULL;
    json_decref(doc);
    if (committed < 0)
        goto out;
    if (change)
        fprintf(stderr, "gantry server: %s %s node %s%s%s%s.\n", req->who.user,
                drain ? "drained" : cordon ? "cordoned" : "resumed", name,
                drain ? " (" : "", drain ? reason : "", drain ? ")" : "");
    pthread_mutex_lock(&srv->mu);
    resp->json = api_node_json(srv, server_node(srv, name));
    pthread_mutex_unlock(&srv->mu);
out:
    pthread_mutex_unlock(&srv->nodectl_mu);
    json_decref(old);
    json_decref(body);
    return rc;
}

/* ---- /v1/maintenance ---- */

/* Epoch seconds from a number, a string of digits, or RFC 3339 (2026-12-01T02:00:00Z,
 * +01:00 offsets, fractions of a second ignored). */
static int parse_time(json_t *v, int64_t *out, gt_error_t *err)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = (int64_t)json_real_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s)
        return gt_error_invalid(err, "start must be a time: RFC 3339 (2026-12-01T02:00:00Z) or "
                                "epoch seconds");
    if (*s && strspn(s, "0123456789") == strlen(s))
        return gt_parse_int64(s, 0, INT64_MAX / 4, out, err);
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%d", &tm);
    if (p && (*p == 'T' || *p == 't' || *p == ' '))
        p = strptime(p + 1, "%H:%M:%S", &tm);
    else
        p = NULL;
    if (p && *p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    int64_t off = 0;
    if (p && (*p == 'Z' || *p == 'z') && !p[1]) {
        p = "";
    } else if (p && (*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
               isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
               isdigit((unsigned char)p[5]) && !p[6]) {
        off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
        if (*p == '+')
            off = -off;
        p = "";
    }
    if (!p || *p)
        return gt_error_invalid(err, "start '%s' is not a time: write RFC 3339 with a zone "
                                "(2026-12-01T02:00:00Z, 2026-12-01T03:00:00+01:00) or epoch "
                                "seconds", s);
    *out = (int64_t)timegm(&tm) + off;
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > SCHED_MAINT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return false;
    return true;
}

static json_t *window_view(const char *name, json_t *w)
{
    json_t *o = json_deep_copy(w);
    json_object_set_new(o, "name", json_string(name));
    double now = server_now();
    json_int_t start = json_integer_value(json_object_get(w, "start"));
    json_int_t end = json_integer_value(json_object_get(w, "end"));
    json_object_set_new(o, "state", json_string(now < start ? "scheduled"
                                                : now < end ? "active" : "ended"));
    return o;
}

/* The body's window, validated (nodes known, no duplicates, ends in the future); caller holds
 * mu. NULL with err. */
static json_t *window_parse(server_t *srv, json_t *body, const char *user, gt_error_t *err)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *nodes = json_object_get(body, "nodes");
    int64_t start, dur = 0;
    json_t *dv = json_object_get(body, "duration");
    if (!name || !name_ok(name)) {
        gt_error_invalid(err, "a maintenance window needs a name of 1 to %d letters, digits, "
                         "'.', '_' or '-'", SCHED_MAINT_NAME_MAX);
        return NULL;
    }
    if (!json_is_array(nodes) || !json_array_size(nodes)) {
        gt_error_invalid(err, "maintenance '%s' needs nodes: a list of node names", name);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(nodes, i, v)
    {
        const char *n = json_string_value(v);
        if (!n || !server_node(srv, n)) {
            gt_error_invalid(err, "maintenance '%s': node '%s' does not exist (see `gantry "
                             "nodes`)", name, n ? n : "(not a string)");
            return NULL;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(n, json_string_value(json_array_get(nodes, k)))) {
                gt_error_invalid(err, "maintenance '%s' names node '%s' twice", name, n);
                return NULL;
            }
    }
    if (!json_object_get(body, "start")) {
        gt_error_invalid(err, "maintenance '%s' needs a start (RFC 3339 or epoch seconds)",
                         name);
        return NULL;
    }
    if (parse_time(json_object_get(body, "start"), &start, err) < 0)
        return NULL;
    if (json_is_integer(dv))
        dur = json_integer_value(dv);
    else if (json_is_string(dv) && gt_parse_duration(json_string_value(dv), &dur, err) < 0)
        return NULL;
    if (dur <= 0 || dur > 366 * 86400) {
        gt_error_invalid(err, "maintenance '%s' needs a duration: seconds, or such as 90m, 2h, "
                         "1d (more than 0, at most a year)", name);
        return NULL;
    }
    if (start + dur <= (int64_t)server_now()) {
        gt_error_invalid(err, "maintenance '%s' would end at %lld, in the past", name,
                         (long long)(start + dur));
        return NULL;
    }
    return json_pack("{s:O,s:I,s:I,s:I,s:s,s:I}", "nodes", nodes, "start", (json_int_t)start,
                     "duration", (json_int_t)dur, "end", (json_int_t)(start + dur), "by", user,
                     "created", (json_int_t)server_now());
}

static int maint_add(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    json_t *body = http_body_json(req, resp);
    if (!body)
        return 0;
    gt_error_t err = {0};
    pthread_mutex_lock(&srv->mu);
    json_t *w = window_parse(srv, body, req->who.user, &err);
    const char *name = json_string_value(json_object_get(body, "name"));
    bool taken = w && json_object_get(srv->maintenance, name);
    pthread_mutex_unlock(&srv->mu);
    int rc = 0;
    if (!w) {
        rc = http_error_from(resp, 400, &err);
        goto out;
    }
    if (taken) {
        rc = http_error(resp, 409, "conflict", "maintenance '%s' exists already (remove it "
                        "first: `gantry maintenance rm %s`)", name, name);
        goto out;
    }
    char *doc = json_dumps(w, JSON_COMPACT | JSON_PRESERVE_ORDER);
    store_op_t op = {.kind = STORE_SETTING_PUT, .a = KIND_MAINT, .b = name, .d = doc};
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, req->who.user, "maintenance.create",
                                           name, NULL, json_deep_copy(w));
    free(doc);
    if (store_wait(srv->store, ticket, &err) < 0) {
        rc = http_error_from(resp, 503, &err);
        goto out;
    }
    pthread_mutex_lock(&srv->mu);
    json_object_set(srv->maintenance, name, w);
    apply_window(srv, name, w);
    server_kick(srv);
    resp->json = window_view(name, w);
    pthread_mutex_unlock(&srv->mu);
    resp->status = 201;
    char *nodes = json_dumps(json_object_get(w, "nodes"), JSON_COMPACT);
    fprintf(stderr, "gantry server: %s added maintenance %s on %s from %lld to %lld.\n",
            req->who.user, name, nodes, (long long)json_integer_value(json_object_get(w, "start")),
            (long long)json_integer_value(json_object_get(w, "end")));
    free(nodes);
out:
    json_decref(w);
    json_decref(body);
    return rc;
}

static int maint_delete(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    gt_error_t err = {0};
    pthread_mutex_lock(&srv->mu);
    json_t *old = json_deep_copy(json_object_get(srv->maintenance, name));
    pthread_mutex_unlock(&srv->mu);
    if (!old)
        return http_error(resp, 404, "not_found", "maintenance '%s' does not exist (see `gantry "
                          "maintenance ls`)", name);
    store_op_t op = {.kind = STORE_SETTING_DEL, .a = KIND_MAINT, .b = name};
    uint64_t ticket = server_audit_enqueue(srv, &op, 1, req->who.user, "maintenance.delete",
                                           name, old, NULL);
    if (store_wait(srv->store, ticket, &err) < 0)
        return http_error_from(resp, 503, &err);
    pthread_mutex_lock(&srv->mu);
    json_object_del(srv->maintenance, name);
    apply_window(srv, name, NULL);
    server_kick(srv);
    pthread_mutex_unlock(&srv->mu);
    fprintf(stderr, "gantry server: %s removed maintenance %s.\n", req->who.user, name);
    resp->json = json_pack("{s:s,s:b}", "name", name, "deleted", 1);
    return 0;
}

int api_maintenance(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name)
{
    bool post = method(req, "POST") && !*name, del = method(req, "DELETE") && *name;
    if (post || del) {
        if (req->who.role != AUTH_ADMIN)
            return http_error(resp, 403, "forbidden", "only an admin may %s maintenance windows "
                              "(user %s may list them with `gantry maintenance ls`)",
                              post ? "add" : "remove", req->who.user);
        pthread_mutex_lock(&srv->nodectl_mu);
        int rc = post ? maint_add(srv, req, resp) : maint_delete(srv, req, resp, name);
        pthread_mutex_unlock(&srv->nodectl_mu);
        return rc;
    }
    if (!method(req, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET or POST on /v1/maintenance, "
                          "GET or DELETE on /v1/maintenance/NAME");
    pthread_mutex_lock(&srv->mu);
    json_t *arr = json_array(), *w;
    const char *key;
    json_object_foreach(srv->maintenance, key, w) if (!*name || !strcmp(key, name))
        json_array_append_new(arr, window_view(key, w));
    pthread_mutex_unlock(&srv->mu);
    if (*name) {
        json_t *one = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        if (!one)
            return http_error(resp, 404, "not_found", "maintenance '%s' does not exist (see "
                              "`gantry maintenance ls`)", name);
        resp->json = one;
        return 0;
    }
    resp->json = json_pack("{s:o}", "maintenance", arr);
    return 0;
}
