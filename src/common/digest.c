#include "common/digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gt_sha256 {
    EVP_MD_CTX *ctx;
};

/* One fetched implementation for the process: EVP_sha256() would look it up again at every
 * EVP_DigestInit_ex (a lock and a hash table per file, visible when hashing 100,000 small
 * files). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md) {
        fprintf(stderr, "%s:%d: OpenSSL has no SHA-256 implementation\n", __FILE__, __LINE__);
        abort();
    }
}

static void ctx_init(EVP_MD_CTX *ctx)
{
    pthread_once(&sha256_once, sha256_fetch);
    if (EVP_DigestInit_ex(ctx, sha256_md, NULL) != 1) {
        fprintf(stderr, "%s:%d: EVP_DigestInit_ex(SHA-256) failed\n", __FILE__, __LINE__);
        abort();
    }
}

gt_sha256_t *gt_sha256_new(void)
{
    gt_sha256_t *d = xcalloc(1, sizeof(*d));
    d->ctx = EVP_MD_CTX_new();
    if (!d->ctx) {
        fprintf(stderr, "%s:%d: out of memory\n", __FILE__, __LINE__);
        abort();
    }
    ctx_init(d->ctx);
    return d;
}

void gt_sha256_update(gt_sha256_t *d, const void *data, size_t len)
{
    if (len && EVP_DigestUpdate(d->ctx, data, len) != 1) {
        fprintf(stderr, "%s:%d: EVP_DigestUpdate(SHA-256) failed\n", __FILE__, __LINE__);
        abort();
    }
}

static void to_hex(const unsigned char *raw, unsigned n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 15];
    }
    hex[2 * n] = '\0';
}

void gt_sha256_final_hex(gt_sha256_t *d, char hex[65])
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (EVP_DigestFinal_ex(d->ctx, raw, &n) != 1 || n != 32) {
        fprintf(stderr, "%s:%d: EVP_DigestFinal_ex(SHA-256) failed\n", __FILE__, __LINE__);
        abort();
    }
    to_hex(raw, n, hex);
    ctx_init(d->ctx);
}

void gt_sha256_free(gt_sha256_t *d)
{
    if (!d)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

void gt_sha256_hex(const void *data, size_t len, char hex[65])
{
    gt_sha256_t *d = gt_sha256_new();
    gt_sha256_update(d, data, len);
    gt_sha256_final_hex(d, hex);
    gt_sha256_free(d);
}

int gt_sha256_fd(int fd, const char *what, void *buf, size_t bufsize, char hex[65],
                 uint64_t *size, gt_error_t *err)
{
    void *own = NULL;
    if (!buf || bufsize < 4096) {
        bufsize = 1 << 20;
        buf = own = xmalloc(bufsize);
    }
    gt_sha256_t *d = gt_sha256_new();
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, bufsize);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            gt_error_set(err, "io_error", "cannot read %s: %s", what, strerror(e));
            errno = e;
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        gt_sha256_update(d, buf, (size_t)n);
        total += (uint64_t)n;
    }
    if (rc == 0) {
        gt_sha256_final_hex(d, hex);
        if (size)
            *size = total;
    }
    gt_sha256_free(d);
    free(own);
    return rc;
}
