/* base64.h: RFC 4648 base64 (standard alphabet, with padding), for bytes that JSON strings
 * cannot carry (job output that is not UTF-8, NUL bytes). */
#ifndef GANTRY_COMMON_BASE64_H
#define GANTRY_COMMON_BASE64_H

#include <stddef.h>

/* The encoding of n bytes at p, NUL-terminated, in a new buffer the caller frees; *out_len
 * (if not NULL) gets its length. */
char *base64_encode(const void *p, size_t n, size_t *out_len);
/* Decodes n characters at s (padded, no whitespace) into a new buffer the caller frees; its
 * length in *out_len. NULL with errno EINVAL when s is not base64. */
unsigned char *base64_decode(const char *s, size_t n, size_t *out_len);

#endif
