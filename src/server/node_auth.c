/* node_auth.c: node identity (docs/agent-protocol.md, "Node identity"), in the way of
 * Kubernetes' node authorizer and NodeRestriction: a join token (role agent) registers a node
 * name that has no credential yet and binds the node's own credential (role node); that
 * credential acts only as its node, on the jobs placed there. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/digest.h"
#include "server/server.h"

/* "gt_" + 64 lower-case hex digits, as auth_token_generate() makes them. */
static bool token_well_formed(const char *t)
{
    return t && !strncmp(t, "gt_", 3) && gt_sha256_hex_ok(t + 3);
}

/* Whether tok is node name's own credential (a node retrying a registration whose answer it
 * lost presents the one it proposed then). */
static bool own_credential(server_t *srv, const char *tok, const char *name)
{
    auth_principal_t owner;
    return tok && auth_lookup(srv->auth, tok, &owner) && owner.role == AUTH_NODE &&
           !strcmp(owner.user, name);
}

int node_auth_check(const http_req_t *req, const char *name, http_resp_t *resp)
{
    const auth_principal_t *p = &req->who;
    if (auth_acts_as_node(p, name))
        return 0;
    if (p->role == AUTH_NODE)
        http_error(resp, 403, "forbidden", "this credential belongs to node %s and acts only as "
                   "that node", p->user);
    else if (p->role == AUTH_AGENT)
        http_error(resp, 403, "forbidden", "a join token (role agent) only registers a node: "
                   "the node's own credential (node_token in the register answer) makes every "
                   "other call");
    else
        http_error(resp, 403, "forbidden", "only a node's credential (or an admin) may act as "
                   "a node");
    return -1;
}

int node_auth_may_register(server_t *srv, const http_req_t *req, const char *name, json_t *body,
                           http_resp_t *resp)
{
    const auth_principal_t *p = &req->who;
    if (p->role == AUTH_NODE && node_auth_check(req, name, resp) < 0)
        return -1;
    const char *proposed = json_string_value(json_object_get(body, "node_token"));
    if (json_object_get(body, "node_token") && !token_well_formed(proposed)) {
        http_error(resp, 400, "invalid_argument", "'node_token' must be \"gt_\" and 64 "
                   "lower-case hex digits");
        return -1;
    }
    if (p->role == AUTH_AGENT && auth_node_has_credential(srv->auth, name)) {
        /* The node itself retrying a registration whose answer it lost may present the
         * credential it proposed then: that is the node, not a takeover. */
        if (!own_credential(srv, proposed, name)) {
            http_error(resp, 409, "conflict", "node %s already has a credential: its agent "
                       "keeps it in STATE/node.token and uses it to register again. To give the "
                       "name to another machine, stop the old agent and have an admin run "
                       "`gantry node reset %s`", name, name);
            return -1;
        }
    }
    /* GPU types are the scheduler's fixed slots: the last ones are kept for the admin, so
     * that nodes (made up or not) can never leave a real new type without one. */
    const char *type = json_string_value(json_object_get(body, "gpu_type"));
    if (!type || !*type)
        type = "none";
    if (p->role != AUTH_ADMIN && sched_gpu_type_find(srv->sched, type) < 0 &&
        sched_gpu_type_count(srv->sched) >= SCHED_MAX_GPU_TYPES - SERVER_GPU_TYPES_RESERVED) {
        http_error(resp, 403, "forbidden", "GPU type %s is new, and the cluster already has %d "
                   "GPU types: the last %d of the scheduler's %d are kept for an admin. Check "
                   "`gantry nodes` for made-up types; an admin may register this node once with "
                   "an admin token", type, sched_gpu_type_count(srv->sched),
                   SERVER_GPU_TYPES_RESERVED, SCHED_MAX_GPU_TYPES);
        return -1;
    }
    return 0;
}

uint64_t node_auth_bind(server_t *srv, const http_req_t *req, const char *name, json_t *body,
                        char tok[68])
{
    tok[0] = '\0';
    const auth_principal_t *p = &req->who;
    const char *proposed = json_string_value(json_object_get(body, "node_token"));
    if (p->role == AUTH_NODE)
        return 0; /* it is the node's credential already */
    if (auth_node_has_credential(srv->auth, name)) {
        if (own_credential(srv, proposed, name))
            snprintf(tok, 68, "%s", proposed); /* a retry: the same credential again */
        return 0; /* an admin registering a node that has one: nothing changes */
    }
    auth_principal_t other;
    if (proposed && !auth_lookup(srv->auth, proposed, &other))
        snprintf(tok, 68, "%s", proposed);
    else if (auth_token_generate(tok) < 0) {
        tok[0] = '\0';
        fprintf(stderr, "gantry server: node %s registered without a node credential: cannot "
                        "read /dev/urandom: %s.\n", name, strerror(errno));
        return 0;
    }
    char hash[65];
    auth_token_hash(tok, hash);
    int64_t now = (int64_t)server_now();
    if (auth_add_token(srv->auth, hash, name, AUTH_NODE, NULL, now, 0, NULL) < 0) {
        tok[0] = '\0';
        return 0;
    }
    store_op_t op = {.kind = STORE_TOKEN_PUT, .a = hash, .b = name, .c = "node", .n = now};
    fprintf(stderr, "gantry server: node %s joined with the %s token of %s; its node credential "
                    "is bound.\n", name, auth_role_name(p->role), p->user);
    return store_enqueue(srv->store, &op, 1);
}

bool node_auth_may_log(server_t *srv, const http_req_t *req, const job_t *j, int inc)
{
    (void)srv;
    const auth_principal_t *p = &req->who;
    if (p->role == AUTH_ADMIN)
        return true;
    if (p->role != AUTH_NODE)
        return false;
    if (inc == j->incarnation && job_on_node(j, p->user))
        return true;
    /* An earlier incarnation's output, shipped after a requeue: where that one ran. */
    size_t i, k;
    json_t *run, *n;
    json_array_foreach(j->earlier_runs, i, run)
    {
        if (json_integer_value(json_object_get(run, "incarnation")) != inc)
            continue;
        json_array_foreach(json_object_get(run, "nodes"), k, n)
        {
            if (json_is_string(n) && !strcmp(json_string_value(n), p->user))
                return true;
        }
    }
    return false;
}

int node_auth_reset(server_t *srv, const char *name, gt_error_t *err)
{
    store_op_t op = {.kind = STORE_NODE_TOKENS_DEL, .a = name};
    if (store_wait(srv->store, store_enqueue_client(srv->store, &op, 1), err) < 0)
        return -1;
    return auth_remove_node(srv->auth, name);
}
