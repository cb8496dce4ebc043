/* tls.h: the server's certificate and key (HTTPS through libmicrohttpd and GnuTLS).
 *
 * The pair is read from two PEM files (the certificate file may hold the chain after the
 * server's certificate). libmicrohttpd asks for it on every handshake through
 * server_tls_retrieve (MHD_OPTION_HTTPS_CERT_CALLBACK), so server_tls_reload (on SIGHUP)
 * takes effect for every new connection without a restart; connections already open keep the
 * pair they started with. A pair that cannot be read, parsed, or whose key does not match its
 * certificate is refused: at start with an error, at a reload by keeping the current pair.
 *
 * One TLS context per process (GnuTLS's retrieve callback has no user pointer). Replaced pairs
 * are kept until server_tls_free: a handshake in flight may still use one. */
#ifndef GANTRY_SERVER_TLS_H
#define GANTRY_SERVER_TLS_H

#include "common/util.h"

/* Loads the pair and makes it the process's TLS context. Returns 0, or -1 with err (which
 * file, and why). */
int server_tls_load(const char *cert_file, const char *key_file, gt_error_t *err);

/* Reads the same files again; on success new handshakes use the new pair and 0 is returned;
 * on failure the current pair stays and -1 is returned with err. */
int server_tls_reload(gt_error_t *err);

/* The current certificate in words: "serial 1a2b..., subject CN=..., valid until ..."; copied
 * into buf (at least 256 bytes). */
const char *server_tls_describe(char *buf, size_t len);

/* The gnutls_certificate_retrieve_function2 to hand to MHD_OPTION_HTTPS_CERT_CALLBACK. */
void *server_tls_retrieve(void);

/* Frees every pair (after the HTTP daemon stopped). */
void server_tls_free(void);

#endif
