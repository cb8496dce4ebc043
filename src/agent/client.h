/* client.h: the agent's HTTP+JSON client of the server (libcurl), with one long poll that
 * runs alongside short calls in the same thread.
 *
 * Short calls (register, heartbeat, report, logs) block for at most their timeout on a kept-
 * alive connection. The long poll (GET /v1/agent/work) runs on a second connection through a
 * curl multi handle: client_poll_start starts it, client_poll_wait waits up to a timeout for
 * it to finish, and client_poll_result hands its answer over. */
#ifndef GANTRY_AGENT_CLIENT_H
#define GANTRY_AGENT_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/transport.h"
#include "common/util.h"

typedef struct client client_t;

/* base: "https://host:port" (or http://), or several such URLs separated by ',' (the servers
 * of one cluster, docs/ha.md): a call whose server cannot be reached or answers as a standby
 * (307, 503 not_leader) goes to the next one, each at most once per call; a long poll that
 * ends so makes the next poll go to the next one. token: the bearer token; tp: how the server is
 * verified and whether plaintext beyond loopback is allowed (common/transport.h; copied, the
 * CA file's name must outlive the client). NULL with err if curl cannot start or base's scheme
 * is neither http nor https. Every call of a client whose plaintext guard refused a
 * connection fails with the guard's message. */
client_t *client_new(const char *base, const char *token, const gt_transport_t *tp,
                     gt_error_t *err);
void client_free(client_t *c);
/* The URL of the server in use (the one that answered last). */
const char *client_server(const client_t *c);
/* Sends token from now on (the node's own credential, or back to the join token). Abandons a
 * running long poll: it carries the old one. */
void client_set_token(client_t *c, const char *token);

/* method "GET"/"POST"; body may be NULL; on success *status is the HTTP status and *out the
 * parsed JSON body (NULL if none or not JSON; caller decrefs). -1 with err on transport
 * failure (no status). */
int client_call(client_t *c, const char *method, const char *path, json_t *body,
                long timeout_ms, long *status, json_t **out, gt_error_t *err);

/* Starts GET path (the long poll). -1 if one is already running. */
int client_poll_start(client_t *c, const char *path, long timeout_ms);
bool client_poll_running(const client_t *c);
/* Drives the long poll, waiting up to ms for progress or for one of fds (may be NULL) to be
 * readable. Returns true once the poll has finished. */
bool client_poll_wait(client_t *c, int ms, const int *fds, size_t nfds);
/* Abandons a running long poll (the node registered again: its epoch changed). */
void client_poll_cancel(client_t *c);
/* The finished poll's result, as client_call's; resets it so that another may start. */
int client_poll_result(client_t *c, long *status, json_t **out, gt_error_t *err);

/* The local address the agent reaches the server (the first of a list) from ("10.0.0.5"), found with a UDP
 * connect (no packet is sent). Returns 0 and fills buf, or -1 with err. */
int client_local_address(const char *base, char *buf, size_t len, gt_error_t *err);

#endif
