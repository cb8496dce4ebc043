/* sha256.h: SHA-256 (FIPS 180-4), for hashing API tokens; no external crypto library. */
#ifndef GANTRY_SHA256_H
#define GANTRY_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Writes the digest of data[0..len) as 64 lowercase hex digits and a NUL into hex[65]. */
void gt_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
