/* digest.h: SHA-256 through OpenSSL's libcrypto (its EVP interface picks the CPU's SHA
 * extensions or AVX2 code at run time), for API tokens, image digests and artifact files.
 *
 * Digests travel as 64 lowercase hex digits, or as "sha256:" and those digits where a value
 * names its algorithm (image and artifact digests). */
#ifndef GANTRY_DIGEST_H
#define GANTRY_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/* "sha256:" + 64 hex + NUL */
#define GT_DIGEST_LEN 72

/* A running SHA-256 (opaque). Allocation failure is fatal, as everywhere. */
typedef struct gt_sha256 gt_sha256_t;

/* A new running digest over nothing yet; free it with gt_sha256_free. */
gt_sha256_t *gt_sha256_new(void);
/* Adds data[0..len) to the digest. */
void gt_sha256_update(gt_sha256_t *d, const void *data, size_t len);
/* Writes the digest of everything added so far as 64 hex digits and a NUL into hex[65], and
 * starts d again over nothing (it may be reused for the next message). */
void gt_sha256_final_hex(gt_sha256_t *d, char hex[65]);
/* Accepts NULL. */
void gt_sha256_free(gt_sha256_t *d);

/* Writes the digest of data[0..len) as 64 lowercase hex digits and a NUL into hex[65]. */
void gt_sha256_hex(const void *data, size_t len, char hex[65]);

/* Whether s is exactly 64 lowercase hex digits, the form gt_sha256_hex writes (API tokens
 * after "gt_", image and artifact digests after "sha256:"). */
bool gt_sha256_hex_ok(const char *s);

/* Whether s is "sha256:" and 64 lowercase hex digits. */
bool gt_digest_ok(const char *s);

/* Digest of what is left to read from fd (read in large blocks until end of file): hex[65]
 * and, when size is not NULL, the number of bytes read. buf (bufsize bytes, at least 4096) is
 * the caller's scratch space, so that many files can be hashed without an allocation each;
 * NULL uses an internal one. 0, or -1 with errno and err ("io_error", "cannot read WHAT: why";
 * what names the file in the message). */
int gt_sha256_fd(int fd, const char *what, void *buf, size_t bufsize, char hex[65],
                 uint64_t *size, gt_error_t *err);

#endif
