/* The textual forms of digests (digest.h), apart from digest.c so that what only checks a
 * digest's form (the supervisor launcher, through image.c) links without libcrypto. */
#include <string.h>

#include "common/digest.h"

bool gt_sha256_hex_ok(const char *s)
{
    size_t i = 0;
    for (; s && s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s && i == 64;
}

bool gt_digest_ok(const char *s)
{
    return s && !strncmp(s, "sha256:", 7) && gt_sha256_hex_ok(s + 7);
}
