/* sha256.h: SHA-256 (FIPS 180-4), for hashing API tokens; no external crypto library. */
#ifndef GANTRY_SHA256_H
#define GANTRY_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes the digest of data[0..len) as 64 lowercase hex digits and a NUL into hex[65]. */
void gt_sha256_hex(const void *data, size_t len, char hex[65]);

/* Whether s is exactly 64 lowercase hex digits, the form gt_sha256_hex writes (API tokens
 * after "gt_", image digests after "sha256:"). */
bool gt_sha256_hex_ok(const char *s);

#endif
