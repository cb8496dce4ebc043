/* upgrade.h: the client side of an upgraded HTTP connection (gantry exec, run -it,
 * port-forward, and the agent's leg of each): a POST that the server answers with
 * 101 Switching Protocols, after which the connection carries the stream both ways.
 *
 * libcurl connects (CURLOPT_CONNECT_ONLY: TLS, verification and the plaintext guard of
 * common/transport.h as for every other call); the request and the answer's header are written
 * and read here; then curl_easy_send/recv carry the stream. One thread uses a connection. */
#ifndef GANTRY_UPGRADE_H
#define GANTRY_UPGRADE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/transport.h"
#include "common/util.h"

typedef struct gt_upgrade gt_upgrade_t;

/* POSTs body (JSON text, or NULL) to base + path with the bearer token and asks to upgrade
 * the connection to protocol proto. 0 and *out on 101; 1 when the server answered otherwise:
 * *status and its JSON body in *answer (new reference, or NULL); -1 with err when the server
 * cannot be reached or verified, or the answer is not HTTP. timeout_ms bounds the whole
 * exchange. */
int gt_upgrade_open(const char *base, const char *path, const char *token,
                    const gt_transport_t *tp, const char *proto, const char *body,
                    long timeout_ms, gt_upgrade_t **out, long *status, json_t **answer,
                    gt_error_t *err);
/* The socket to poll for reading. Data the answer's header was followed by is already read:
 * call gt_upgrade_recv once before polling (gt_upgrade_pending says whether it holds any). */
int gt_upgrade_fd(const gt_upgrade_t *u);
bool gt_upgrade_pending(const gt_upgrade_t *u);
/* Sends all of buf (waiting for the socket as needed). 0, or -1 with errno (EPIPE: gone). */
int gt_upgrade_send(gt_upgrade_t *u, const void *buf, size_t len);
/* Reads what is there: > 0 bytes, 0 at the end of the stream, -1 with errno EAGAIN when
 * nothing is there now (poll the fd), other errno on failure. */
ssize_t gt_upgrade_recv(gt_upgrade_t *u, void *buf, size_t len);
/* Closes the connection; accepts NULL. */
void gt_upgrade_close(gt_upgrade_t *u);

#endif
