/* tlsgen.h: a small local certificate authority (GnuTLS), for `gantry up` and `gantry tls-gen`.
 *
 * In DIR: ca.pem and ca-key.pem (made once, then reused, so a CA file users were given stays
 * valid), and server.pem and server-key.pem, issued anew on every call with a fresh random
 * serial, for localhost, 127.0.0.1, ::1 and the extra hosts given. Keys are ECDSA P-256, mode
 * 0600; DIR is made 0700. Each file is written to a temporary name and renamed, so a server
 * that reloads (SIGHUP) never reads half a file. */
#ifndef GANTRY_CLI_TLSGEN_H
#define GANTRY_CLI_TLSGEN_H

#include <stddef.h>

#include "common/util.h"

/* Makes (or reuses) the CA and issues the server pair; hosts (may be NULL when nhosts is 0)
 * are IP addresses or DNS names added to the certificate's names. 0, or -1 with err. */
int tlsgen_issue(const char *dir, const char *const *hosts, size_t nhosts, gt_error_t *err);

/* `gantry tls-gen DIR [--host H]...` */
int cmd_tls_gen(int argc, char **argv);

#endif
