/* transport.h: how the CLI and the agent reach the server (libcurl): TLS that verifies the
 * server, and no bearer token in clear over the network.
 *
 * - https://: the peer and its host name are always verified, against --ca-file (env
 *   GANTRY_CA_FILE) when given, else the system's trust store.
 * - http:// is used only towards loopback (127.0.0.0/8, ::1) unless plaintext is explicitly
 *   allowed (--allow-plaintext, env GANTRY_ALLOW_PLAINTEXT=1). This is enforced on every
 *   socket curl opens (the address it really connects to, a proxy's included), and checked
 *   once up front by gt_transport_check for a clear error before anything is sent.
 * - Only http and https; redirects are not followed. */
#ifndef GANTRY_TRANSPORT_H
#define GANTRY_TRANSPORT_H

#include <stdbool.h>

#include "common/util.h"

typedef struct gt_transport {
    const char *ca_file;     /* PEM bundle of CAs to trust; NULL: the system store */
    bool allow_plaintext;    /* http:// to a non-loopback address */
} gt_transport_t;

/* What gt_transport_apply's socket guard saw; lives as long as the curl handle it guards. */
typedef struct gt_transport_guard {
    bool plaintext;          /* the URL is http:// and plaintext is not allowed */
    bool refused;            /* a connection to a non-loopback address was refused */
    char addr[64];           /* that address */
} gt_transport_guard_t;

/* Fills what t leaves unset from the environment: GANTRY_CA_FILE, GANTRY_ALLOW_PLAINTEXT
 * ("1", "true" or "yes"). The strings stay owned by the environment. */
void gt_transport_from_env(gt_transport_t *t);

/* true for a literal loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z; brackets allowed). */
bool gt_transport_is_loopback(const char *addr);

/* Checks a server URL before it is used: http or https only; an https CA file that can be
 * read; for http:// without allowance, a host whose every address is loopback (the host is
 * resolved). 0, or -1 with errno (EINVAL, EACCES, EPERM) and what to do in err. */
int gt_transport_check(const char *url, const gt_transport_t *t, gt_error_t *err);

/* Sets up curl handle h (a CURL *) for url: protocols, verification, CA file, and the socket
 * guard g (zeroed here; it must outlive the handle's transfers). 0, or -1 with err. */
int gt_transport_apply(void *h, const char *url, const gt_transport_t *t,
                       gt_transport_guard_t *g, gt_error_t *err);

/* After a failed transfer: when the guard refused a connection, fills err with why and how
 * to fix it and returns true; false otherwise (err untouched). */
bool gt_transport_refused(const gt_transport_guard_t *g, const char *url, gt_error_t *err);

#endif
