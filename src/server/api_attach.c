/* api_attach.c: the HTTP side of relayed sessions (attach.h): the client's leg
 * (POST /v1/jobs/{id}/attach, /v1/jobs/{id}/port-forward) and the agent's
 * (POST /v1/agent/attach?session=ID&name=NODE), both answered 101 Switching Protocols. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/attach.h"
#include "server/events.h"

/* Who may reach inside a job: an admin, a team-admin of its team, a member of its team. A
 * viewer never (nor a node or an agent's token). */
static bool may_enter(const auth_principal_t *p, const job_t *j)
{
    if (auth_can_admin_team(p, j->team))
        return true;
    return p->role == AUTH_MEMBER && !strcmp(p->team, j->team);
}

static bool wants_upgrade(const http_req_t *req)
{
    const char *up = http_header(req, "Upgrade");
    return up && !strcasecmp(up, ATTACH_PROTO);
}

/* {command: [strings], tty, rows, cols} into the agent's task; -1 with a 400 in resp. */
static int exec_fields(const json_t *body, json_t *task, http_resp_t *resp)
{
    json_t *cmd = json_object_get(body, "command");
    if (cmd) {
        size_t i;
        json_t *v;
        bool ok = json_is_array(cmd) && json_array_size(cmd) > 0 && json_array_size(cmd) < 4096;
        json_array_foreach(cmd, i, v) ok = ok && json_is_string(v);
        if (!ok) {
            http_error(resp, 400, "invalid_argument", "'command' must be a non-empty array of "
                       "strings");
            return -1;
        }
        json_object_set(task, "command", cmd);
    }
    json_t *tty = json_object_get(body, "tty");
    if (tty && !json_is_boolean(tty)) {
        http_error(resp, 400, "invalid_argument", "'tty' must be true or false");
        return -1;
    }
    json_object_set_new(task, "tty", json_boolean(json_is_true(tty)));
    json_t *term = json_object_get(body, "term");
    if (term) {
        const char *t = json_string_value(term);
        bool ok = t && *t && strlen(t) < 64;
        for (const char *q = t; ok && *q; q++)
            ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
                 *q == '-' || *q == '_' || *q == '.' || *q == '+';
        if (!ok) {
            http_error(resp, 400, "invalid_argument", "'term' must be a terminal type such as "
                       "xterm-256color");
            return -1;
        }
        json_object_set(task, "term", term);
    }
    const char *dims[] = {"rows", "cols"};
    for (int k = 0; k < 2; k++) {
        json_t *d = json_object_get(body, dims[k]);
        if (!d)
            continue;
        if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 10000) {
            http_error(resp, 400, "invalid_argument", "'%s' must be a number from 1 to 10000",
                       dims[k]);
            return -1;
        }
        json_object_set(task, dims[k], d);
    }
    return 0;
}

/* A session id or the start of one: 8 to 32 lowercase hex digits. */
static bool session_ref_ok(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    bool ok = n >= 8 && n <= 32;
    for (size_t i = 0; ok && i < n; i++)
        ok = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f');
    return ok;
}

/* GET /v1/jobs/{id}/sessions: its sessions open now (to attach to one again). */
static int job_sessions(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j)
{
    uint64_t id = j->id;
    pthread_mutex_unlock(&srv->mu);
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/jobs/{id}/sessions");
    resp->json = json_pack("{s:I,s:o}", "job_id", (json_int_t)id, "sessions",
                           attach_sessions_json(srv, id));
    return 0;
}

int api_attach_job(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j,
                   const char *what)
{
    bool port = !strcmp(what, "port-forward");
    if (!strcmp(what, "sessions")) {
        if (!may_enter(&req->who, j)) {
            char msg[300];
            snprintf(msg, sizeof(msg), "user %s may not see the sessions of job %llu of team "
                     "%s: only its team and admins may", req->who.user,
                     (unsigned long long)j->id, j->team);
            pthread_mutex_unlock(&srv->mu);
            return http_error(resp, 403, "forbidden", "%s", msg);
        }
        return job_sessions(srv, req, resp, j);
    }
    if (strcmp(req->method, "POST")) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 405, "method_not_allowed", "use POST on /v1/jobs/{id}/%s", what);
    }
    if (!may_enter(&req->who, j)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "user %s may not %s job %llu of team %s: only its team and "
                 "admins may", req->who.user, port ? "forward a port of" : "attach to",
                 (unsigned long long)j->id, j->team);
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 403, "forbidden", "%s", msg);
    }
    if (j->state != JOB_RUNNING || j->stopping) {
        char msg[160];
        snprintf(msg, sizeof(msg), "job %llu is not running (%s)", (unsigned long long)j->id,
                 j->stopping ? "stopping" : job_state_name(j->state));
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 409, "conflict", "%s", msg);
    }
    if (!wants_upgrade(req)) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 426, "upgrade_required", "this endpoint needs 'Connection: "
                          "Upgrade' and 'Upgrade: %s' (gantry exec, run -it, port-forward use "
                          "it)", ATTACH_PROTO);
    }
    json_t *body = req->body_len ? http_body_json(req, resp) : json_object();
    if (!body) {
        pthread_mutex_unlock(&srv->mu);
        return 0;
    }
    json_t *task = json_object();
    attach_mode_t mode = ATTACH_EXEC;
    const char *action = "job.exec";
    json_t *want = port ? NULL : json_object_get(body, "session");
    if (want && (!session_ref_ok(json_string_value(want)) || json_object_get(body, "command"))) {
        json_decref(body);
        json_decref(task);
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 400, "invalid_argument", "'session' must be a session's id "
                          "(or its first 8 or more hex digits), without 'command'");
    }
    if (port) {
        json_t *p = json_object_get(body, "port");
        if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535) {
            json_decref(body);
            json_decref(task);
            pthread_mutex_unlock(&srv->mu);
            return http_error(resp, 400, "invalid_argument", "'port' must be a TCP port from "
                              "1 to 65535");
        }
        json_object_set(task, "port", p);
        mode = ATTACH_PORT;
        action = "job.port_forward";
    } else if (exec_fields(body, task, resp) < 0) {
        json_decref(body);
        json_decref(task);
        pthread_mutex_unlock(&srv->mu);
        return 0;
    } else if (want || !json_object_get(task, "command")) {
        if (!want && j->kind != JOB_KIND_INTERACTIVE) {
            json_decref(body);
            json_decref(task);
            pthread_mutex_unlock(&srv->mu);
            return http_error(resp, 400, "invalid_argument", "job %llu is not interactive: "
                              "give the command to run in it, or the exec session to attach to "
                              "again (gantry attach %llu --exec ID; --list shows them)",
                              (unsigned long long)j->id, (unsigned long long)j->id);
        }
        /* An interactive job's own command (its end ends the job): its session when it has
         * one (its client left, or this client takes it over: gantry attach), else a new
         * one. Or an exec session with a terminal (gantry attach --exec ID). */
        char sid[33] = "";
        gt_error_t err = {0};
        json_t *cmd = NULL;
        int rc = attach_reattach(srv, j, json_string_value(want),
                                 (int)json_integer_value(json_object_get(task, "rows")),
                                 (int)json_integer_value(json_object_get(task, "cols")), sid,
                                 &cmd, &err);
        bool missing = rc < 0 && errno == ENOENT;
        if (rc <= 0) {
            json_decref(body);
            json_decref(task);
            char object[24];
            snprintf(object, sizeof(object), "%llu", (unsigned long long)j->id);
            json_t *audit = json_pack("{s:b,s:s,s:s,s:s}", "reattach", 1, "mode",
                                      want ? "exec" : "session", "node", j->slots[0].node,
                                      "session", sid);
            if (cmd)
                json_object_set_new(audit, "command", cmd);
            pthread_mutex_unlock(&srv->mu);
            if (rc < 0) {
                json_decref(audit);
                return http_error_from(resp, missing ? 404 : 409, &err);
            }
            server_audit(srv, req->who.user, "job.attach", object, NULL, audit);
            fprintf(stderr, "gantry server: job.attach by %s into job %s: %ssession %.8s taken "
                    "again.\n", req->who.user, object, want ? "exec " : "", sid);
            resp->upgrade_proto = ATTACH_PROTO;
            resp->upgrade = attach_client_reattached;
            resp->upgrade_arg = xstrdup(sid);
            return 0;
        }
        json_object_set(task, "command", j->command);
        mode = ATTACH_SESSION;
        action = "job.attach";
    }
    json_decref(body);
    json_t *audit = json_object();
    if (port)
        json_object_set(audit, "port", json_object_get(task, "port"));
    else {
        json_object_set(audit, "command", json_object_get(task, "command"));
        json_object_set(audit, "tty", json_object_get(task, "tty"));
    }
    char sid[33];
    gt_error_t err = {0};
    if (attach_open(srv, j, mode, task, req->who.user, sid, &err) < 0) {
        pthread_mutex_unlock(&srv->mu);
        json_decref(audit);
        return http_error_from(resp, strcmp(err.code, "too_many_sessions") ? 409 : 429, &err);
    }
    char object[24];
    snprintf(object, sizeof(object), "%llu", (unsigned long long)j->id);
    json_object_set_new(audit, "node", json_string(j->slots[0].node));
    json_object_set_new(audit, "session", json_string(sid));
    pthread_mutex_unlock(&srv->mu);
    server_audit(srv, req->who.user, action, object, NULL, audit);
    fprintf(stderr, "gantry server: %s by %s into job %s: session %.8s.\n", action,
            req->who.user, object, sid);
    resp->upgrade_proto = ATTACH_PROTO;
    resp->upgrade = attach_client_upgraded;
    resp->upgrade_arg = xstrdup(sid);
    return 0;
}

int api_attach_agent(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    const char *name = http_query(req, "name"), *sid = http_query(req, "session");
    if (strcmp(req->method, "POST"))
        return http_error(resp, 405, "method_not_allowed", "use POST on /v1/agent/attach");
    if (node_auth_check(req, name, resp) < 0)
        return 0;
    if (!wants_upgrade(req))
        return http_error(resp, 426, "upgrade_required", "/v1/agent/attach needs 'Upgrade: %s'",
                          ATTACH_PROTO);
    if (!attach_agent_claim(srv, sid, name))
        return http_error(resp, 404, "not_found", "no session %s waits for node %s",
                          sid ? sid : "(none)", name);
    resp->upgrade_proto = ATTACH_PROTO;
    resp->upgrade = attach_agent_upgraded;
    resp->upgrade_arg = xstrdup(sid);
    return 0;
}
