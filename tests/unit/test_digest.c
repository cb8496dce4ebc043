/* digest.h: SHA-256 through libcrypto: known answers, streaming, files, textual forms. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/digest.h"
#include "tap.h"

int main(void)
{
    char hex[65];
    gt_sha256_hex("", 0, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256('')");
    gt_sha256_hex("abc", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256(abc)");

    /* FIPS 180-4's long message: a million 'a', fed in uneven pieces */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    gt_sha256_t *d = gt_sha256_new();
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        gt_sha256_update(d, a + off, n);
        off += n;
        step = step * 3 + 1;
    }
    gt_sha256_final_hex(d, hex);
    is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
           "a million 'a' in pieces of 1, 4, 13, ... bytes");
    gt_sha256_update(d, "abc", 3);
    gt_sha256_final_hex(d, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "final_hex starts the digest again: the next message is digested alone");
    gt_sha256_free(d);
    gt_sha256_free(NULL);

    /* a file, read to its end from where the descriptor stands */
    char path[] = "/tmp/gantry-test-digest-XXXXXX";
    int fd = mkstemp(path);
    ok(fd >= 0, "temporary file");
    ok(write(fd, a, 1000000) == 1000000, "a million 'a' written");
    lseek(fd, 0, SEEK_SET);
    uint64_t size = 0;
    gt_error_t err = {0};
    char buf[4096];
    is_int(gt_sha256_fd(fd, path, buf, sizeof(buf), hex, &size, &err), 0, "file hashed");
    is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
           "its digest with a 4 KiB buffer");
    is_int(size, 1000000, "its size is the bytes read");
    lseek(fd, 999997, SEEK_SET);
    is_int(gt_sha256_fd(fd, path, NULL, 0, hex, &size, &err), 0, "hashed from an offset");
    is_str(hex, "9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
           "the last three bytes only (sha256(aaa))");
    is_int(size, 3, "three bytes read");
    close(fd);
    unlink(path);
    errno = 0;
    is_int(gt_sha256_fd(fd, "closed.bin", NULL, 0, hex, &size, &err), -1, "a closed descriptor");
    is_int(errno, EBADF, "errno EBADF");
    is_str(err.code, "io_error", "code io_error");
    ok(strstr(err.msg, "closed.bin") != NULL, "the message names the file: %s", err.msg);

    ok(gt_sha256_hex_ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
       "64 lowercase hex digits are a digest");
    ok(!gt_sha256_hex_ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015aD"),
       "upper case is not");
    ok(gt_digest_ok("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
       "sha256:<hex> is a named digest");
    ok(!gt_digest_ok("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
       "another algorithm is not");
    ok(!gt_digest_ok("sha256:") && !gt_digest_ok(NULL), "empty and NULL are not");
    free(a);
    return tap_done();
}
