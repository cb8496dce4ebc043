/* attach.h: sessions relayed through the server: gantry exec, gantry run -it (an interactive
 * job's terminal) and gantry port-forward (docs/interactive.md).
 *
 * Both legs are HTTP connections upgraded to a raw stream (101 Switching Protocols), so that
 * neither the client nor the node needs to reach the other: the client's request
 * (POST /v1/jobs/{id}/attach or /port-forward, api_attach.c) opens a session and queues a task
 * {type: "attach"} for the job's node, which its agent gets in its long poll at once; the agent
 * then connects out (POST /v1/agent/attach?session=ID) and the server copies bytes between
 * the two sockets on a thread of the session's, unchanged (exec and run -it carry
 * common/ttywire.h frames; a port forward raw bytes). A session whose agent does not connect
 * within ATTACH_CONNECT_S ends. The session of an interactive job, and an exec session with a
 * terminal (gantry exec -it), outlive their client's connection: detached, the command runs on
 * until a client attaches again (attach_reattach) or the job ends (its idle timeout counts on
 * meanwhile; a detached exec session also ends after its job's class's session_idle_timeout
 * without input). An exec without a terminal ends with its client.
 *
 * Interactive jobs (kind: interactive) end when their session's command exits (the agent ends
 * the job with its status), at their time limit (the supervisor's), or after their class's
 * session_idle_timeout without input through any of their sessions while their GPUs are idle
 * (no samples, or all under the idle threshold: gpu_use.c): attach_idle_sweep ends those
 * (end reason idle_timeout). */
#ifndef GANTRY_ATTACH_H
#define GANTRY_ATTACH_H

#include <stdbool.h>
#include <stddef.h>

#include "server/server.h"

#define ATTACH_CONNECT_S 15       /* the agent's leg must arrive within this */
#define ATTACH_IDLE_DEFAULT_S 3600 /* a class's session_idle_timeout when not written */
#define ATTACH_PROTO "gantry-attach"
#define ATTACH_HELD_MAX (1 << 20) /* a detached session's output held for its next client */
/* Terminal sessions (run -it, exec -it: those kept when their client leaves) one user may
 * have open at once, over every job, attached or detached: each holds a relay thread and,
 * detached, up to ATTACH_HELD_MAX of output until its idle timeout; the next is refused (code
 * too_many_sessions, HTTP 429) until one ends. Sessions that end with their client (exec
 * without a terminal, port-forward connections) are not counted. */
#define ATTACH_USER_SESSIONS_MAX 16

typedef enum attach_mode {
    ATTACH_EXEC,      /* a command inside the job (gantry exec) */
    ATTACH_SESSION,   /* an interactive job's own command (gantry run -it): its end ends the job */
    ATTACH_PORT,      /* a TCP connection to a port inside the job (gantry port-forward) */
} attach_mode_t;

const char *attach_mode_name(attach_mode_t m);

/* Sets the classes' session_idle_timeout from cfg (NULL: the default) and makes the registry
 * (srv->attach) if there is none. */
void attach_from_config(server_t *srv, const gt_config_t *cfg);
/* Ends every relay (their sockets shut down) and waits for their threads; before
 * MHD_stop_daemon (libmicrohttpd needs its upgraded connections closed first). */
void attach_shutdown(server_t *srv);
void attach_free(server_t *srv);

/* Opens a session of mode on j's first node for user, queuing the agent's task: task (stolen)
 * holds the mode's fields (command, tty, rows, cols; port); the session's id goes to sid. The
 * caller
 * then answers with the upgrade (attach_client_upgraded, arg: a copy of sid). Caller holds mu.
 * 0, or -1 with err (conflict: j does not run, or its node is gone). */
int attach_open(server_t *srv, job_t *j, attach_mode_t mode, json_t *task, const char *user,
                char sid[33], gt_error_t *err);
/* The agent's leg: whether node may connect to session sid (its node's, not yet connected);
 * marks it taken. */
bool attach_agent_claim(server_t *srv, const char *sid, const char *node);

/* http.c's upgrade callbacks (http_resp_t.upgrade): arg is the session id (freed here); fd the
 * upgraded socket, urh libmicrohttpd's handle (closed through it), extra the bytes that came
 * after the request. */
void attach_client_upgraded(server_t *srv, void *arg, int fd, const char *extra, size_t n,
                            void *urh);
void attach_agent_upgraded(server_t *srv, void *arg, int fd, const char *extra, size_t n,
                           void *urh);
/* Reattach: want NULL, the live session of interactive job j (mode ATTACH_SESSION); else j's
 * exec session with a terminal whose id starts with want. Its client left (detached: its
 * command runs on) or is still there (the new client takes it over, the old one's leg is
 * closed). 0 with its id in sid and its command in *command (a new reference, or NULL; command
 * may be NULL): the caller answers with the upgrade (attach_client_reattached, arg: a copy of
 * sid); the node then gets the new terminal's size (rows, cols; 0: unchanged) and the new
 * client what the command wrote meanwhile (up to ATTACH_HELD_MAX, whole frames). 1: want NULL
 * and j has no session (the caller opens one). -1 with err: not_found (ENOENT) no such exec
 * session; conflict: want matches several (EEXIST), or it is starting or another client is
 * taking it over (EAGAIN). Caller holds mu. */
int attach_reattach(server_t *srv, const job_t *j, const char *want, int rows, int cols,
                    char sid[33], json_t **command, gt_error_t *err);
/* The sessions of job job_id open now (a new array): {id, mode, state (starting, attached,
 * detached), user, node, reattachable, age_s, idle_s, command}. */
json_t *attach_sessions_json(server_t *srv, uint64_t job_id);
void attach_client_reattached(server_t *srv, void *arg, int fd, const char *extra, size_t n,
                              void *urh);
/* An upgrade answer that was never sent (the client left first): arg freed. */
void attach_upgrade_dropped(server_t *srv, void *arg);

/* An interactive job started: its idle time counts from now. Caller holds mu. */
void attach_job_started(server_t *srv, const job_t *j);
/* Ends the interactive jobs idle past their class's timeout (at most once a second; from the
 * scheduler thread). Caller holds mu. */
void attach_idle_sweep(server_t *srv);
/* api_attach.c: POST /v1/jobs/{id}/attach and /v1/jobs/{id}/port-forward (what: "attach" or
 * "port-forward"), GET /v1/jobs/{id}/sessions (what: "sessions"; caller holds mu, released
 * here) and POST /v1/agent/attach. */
int api_attach_job(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j,
                   const char *what);
int api_attach_agent(server_t *srv, http_req_t *req, http_resp_t *resp);
/* Sessions open now (for tests and metrics). */
size_t attach_count(server_t *srv);

#endif
