/* base64 (RFC 4648): the test vectors, every byte value round trip, and what is refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "tap.h"

static void vector(const char *in, const char *want)
{
    size_t len, dlen;
    char *enc = base64_encode(in, strlen(in), &len);
    is_str(enc, want, "encode '%s'", in);
    is_int(len, strlen(want), "its length");
    unsigned char *dec = base64_decode(want, strlen(want), &dlen);
    ok(dec && dlen == strlen(in) && !memcmp(dec, in, dlen), "decode '%s'", want);
    free(enc);
    free(dec);
}

static void refused(const char *s)
{
    size_t len = 0;
    errno = 0;
    unsigned char *p = base64_decode(s, strlen(s), &len);
    ok(p == NULL && errno == EINVAL, "'%s' is refused with EINVAL", s);
    free(p);
}

int main(void)
{
    /* RFC 4648, section 10 */
    vector("", "");
    vector("f", "Zg==");
    vector("fo", "Zm8=");
    vector("foo", "Zm9v");
    vector("foob", "Zm9vYg==");
    vector("fooba", "Zm9vYmE=");
    vector("foobar", "Zm9vYmFy");

    unsigned char all[256 * 3 + 1];
    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = sizeof(all) - 3; n <= sizeof(all); n++) {
        size_t len, dlen;
        char *enc = base64_encode(all, n, &len);
        unsigned char *dec = base64_decode(enc, len, &dlen);
        ok(dec && dlen == n && !memcmp(dec, all, n), "%zu bytes of every value round-trip", n);
        free(enc);
        free(dec);
    }
    unsigned char raw[] = {0xed, 0xa0, 0x80, 0x00, 0xff};
    size_t len;
    char *enc = base64_encode(raw, sizeof(raw), &len);
    is_str(enc, "7aCAAP8=", "a surrogate, a NUL and 0xFF");
    free(enc);

    refused("Zg=");       /* not a multiple of 4 */
    refused("Zg=a");      /* padding inside */
    refused("Z===");      /* too much padding */
    refused("Zm9v!A==");  /* outside the alphabet */
    refused("Zm9 v");     /* no whitespace */
    refused("=m9v");
    return tap_done();
}
