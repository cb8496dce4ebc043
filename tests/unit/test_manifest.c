/* manifest.h: the manifest of a tree, its canonical form and digest, parsing, comparing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/manifest.h"
#include "tap.h"

static char top[64];

static void put(const char *rel, const char *data)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", top, rel);
    FILE *f = fopen(p, "w");
    fputs(data, f);
    fclose(f);
}

static void mk(const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", top, rel);
    mkdir(p, 0755);
}

static char *path_of(const char *rel)
{
    return gt_strfmt("%s/%s", top, rel);
}

static char *digest_of(const char *rel, int threads)
{
    char *p = path_of(rel);
    manifest_t *m = NULL;
    gt_error_t err = {0};
    char d[GT_DIGEST_LEN] = "";
    if (manifest_of_path(p, threads, &m, &err) == 0)
        manifest_digest(m, d);
    else
        diag("manifest_of_path(%s): %s", p, err.msg);
    manifest_free(m);
    free(p);
    return xstrdup(d);
}

int main(void)
{
    snprintf(top, sizeof(top), "/tmp/gantry-test-manifest-XXXXXX");
    if (!mkdtemp(top))
        return 1;
    gt_error_t err = {0};

    /* a tree: files, a nested empty file, a symbolic link, an empty directory */
    mk("t1");
    put("t1/b.txt", "abc");
    mk("t1/sub");
    mk("t1/sub/deep");
    put("t1/sub/deep/empty", "");
    mk("t1/nothing");
    char *lp = path_of("t1/a-link");
    ok(symlink("b.txt", lp) == 0, "link made");
    free(lp);
    char *t1 = path_of("t1");
    manifest_t *m = NULL;
    is_int(manifest_of_path(t1, 1, &m, &err), 0, "manifest of a tree");
    if (!m) {
        diag("%s", err.msg);
        return tap_done();
    }
    is_int(m->n, 3, "two files and a link (directories are not entries)");
    is_str(m->entries[0].path, "a-link", "sorted by path: a-link first");
    is_str(m->entries[0].link, "b.txt", "the link's target is recorded");
    is_int(m->entries[0].size, 5, "a link's size is its target's length");
    char hex[65];
    gt_sha256_hex("b.txt", 5, hex);
    is_str(m->entries[0].sha256, hex, "a link's sha256 is its target text's");
    is_str(m->entries[1].path, "b.txt", "then b.txt");
    is_int(m->entries[1].size, 3, "its size");
    is_str(m->entries[1].sha256,
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "its digest");
    ok(m->entries[1].link == NULL, "a file has no link");
    is_str(m->entries[2].path, "sub/deep/empty", "nested paths with '/'");
    is_int(m->size, 3, "total size counts files only");

    /* the canonical form, spelled out: the digest anyone can recompute */
    size_t len = 0;
    char *canon = manifest_canonical(m, &len);
    char *want = gt_strfmt(
        "[{\"link\":\"b.txt\",\"path\":\"a-link\",\"sha256\":\"%s\",\"size\":5},"
        "{\"path\":\"b.txt\",\"sha256\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"size\":3},"
        "{\"path\":\"sub/deep/empty\",\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":0}]",
        hex);
    is_str(canon, want, "canonical JSON: sorted keys, no spaces, entries by path");
    is_int(len, strlen(want), "its length");
    char d[GT_DIGEST_LEN], wd[65];
    manifest_digest(m, d);
    gt_sha256_hex(want, strlen(want), wd);
    ok(!strncmp(d, "sha256:", 7) && !strcmp(d + 7, wd), "digest = sha256 over that text: %s", d);
    free(want);
    free(canon);

    /* the same files made in another order, at other times, with other modes: same digest */
    mk("t2");
    mk("t2/sub");
    mk("t2/sub/deep");
    put("t2/sub/deep/empty", "");
    lp = path_of("t2/a-link");
    ok(symlink("b.txt", lp) == 0, "link made in t2");
    free(lp);
    put("t2/b.txt", "abc");
    char *b2 = path_of("t2/b.txt");
    chmod(b2, 0600);
    struct timeval tv[2] = {{1000, 0}, {1000, 0}};
    utimes(b2, tv);
    char *d2 = digest_of("t2", 4);
    is_str(d2, d, "same contents elsewhere, other order, times and modes, 4 threads: same digest");
    free(d2);
    put("t2/b.txt", "abd");
    d2 = digest_of("t2", 0);
    ok(strcmp(d2, d) != 0, "one byte changed: another digest");
    free(d2);
    put("t2/b.txt", "abc");
    char *c2 = path_of("t2/c.txt");
    rename(b2, c2);
    d2 = digest_of("t2", 0);
    ok(strcmp(d2, d) != 0, "a file renamed: another digest");
    free(d2);
    rename(c2, b2);
    char *l2 = path_of("t2/a-link");
    unlink(l2);
    ok(symlink("sub", l2) == 0, "link retargeted");
    d2 = digest_of("t2", 0);
    ok(strcmp(d2, d) != 0, "a link's target changed: another digest");
    free(d2);
    free(l2);
    free(c2);

    /* comparing: what verify reports */
    manifest_t *m2 = NULL;
    char *t2 = path_of("t2");
    put("t2/new", "x");
    put("t2/sub/deep/empty", "now not");
    is_int(manifest_of_path(t2, 2, &m2, &err), 0, "manifest of the changed tree");
    gt_buf_t rep = {0};
    is_int(manifest_compare(m, m2, &rep, 10), 3, "three differences");
    is_str(rep.data, "changed a-link\nadded new\nchanged sub/deep/empty\n", "named one a line");
    gt_buf_free(&rep);
    gt_buf_t rep2 = {0};
    is_int(manifest_compare(m, m2, &rep2, 1), 3, "still three when the report is cut");
    is_str(rep2.data, "changed a-link\n... and 2 more\n", "cut after one line");
    gt_buf_free(&rep2);
    is_int(manifest_compare(m, m, NULL, 0), 0, "a manifest equals itself");
    manifest_free(m2);

    /* JSON: round trip, and what a body may not say */
    json_t *j = manifest_to_json(m);
    manifest_t *back = NULL;
    is_int(manifest_from_json(j, 0, &back, &err), 0, "parsed back");
    char d3[GT_DIGEST_LEN];
    manifest_digest(back, d3);
    is_str(d3, d, "same digest after JSON round trip");
    manifest_free(back);
    is_int(manifest_from_json(j, 2, &back, &err), -1, "more entries than allowed");
    json_decref(j);
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"[{\"path\":\"../x\",\"size\":1,\"sha256\":\"%s\"}]", "'..' component"},
        {"[{\"path\":\"/abs\",\"size\":1,\"sha256\":\"%s\"}]", "absolute path"},
        {"[{\"path\":\"a//b\",\"size\":1,\"sha256\":\"%s\"}]", "empty component"},
        {"[{\"path\":\"a/./b\",\"size\":1,\"sha256\":\"%s\"}]", "'.' component"},
        {"[{\"path\":\"a\\nb\",\"size\":1,\"sha256\":\"%s\"}]", "control character"},
        {"[{\"path\":\"a\",\"size\":1,\"sha256\":\"%s\"},{\"path\":\"a\",\"size\":1,\"sha256\":\"%s\"}]",
         "a path twice"},
        {"[{\"path\":\"a\",\"size\":1,\"sha256\":\"%s\"},{\"path\":\"a/b\",\"size\":1,\"sha256\":\"%s\"}]",
         "a file that is also a directory"},
        {"[{\"path\":\"a\",\"size\":-1,\"sha256\":\"%s\"}]", "negative size"},
        {"[{\"path\":\"a\",\"size\":1,\"sha256\":\"%.63s\"}]", "63 hex digits"},
        {"[{\"path\":\"a\",\"size\":1,\"sha256\":\"%s\",\"mode\":420}]", "an unknown key"},
        {"[{\"path\":\"a\",\"size\":5,\"sha256\":\"%s\",\"link\":\"b.txt\"}]",
         "a link whose sha256 is not its target's"},
        {"{\"path\":\"a\"}", "not an array"},
    };
    const char *h = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *text = gt_strfmt(bad[i].json, h, h);
        json_t *bj = json_loads(text, 0, NULL);
        back = NULL;
        errno = 0;
        int rc = manifest_from_json(bj, 0, &back, &err);
        ok(rc == -1 && errno == EINVAL && back == NULL, "refused: %s", bad[i].why);
        json_decref(bj);
        free(text);
    }

    /* escaping in the canonical form */
    manifest_t *q = manifest_new();
    manifest_add(q, "q\"b\\", 1, h, NULL);
    is_int(manifest_finish(q, &err), 0, "a quote and a backslash are allowed in names");
    canon = manifest_canonical(q, NULL);
    ok(strstr(canon, "\"path\":\"q\\\"b\\\\\"") != NULL, "escaped as JSON: %s", canon);
    free(canon);
    manifest_free(q);

    /* one file: one entry named by its last component */
    char *b1 = path_of("t1/b.txt");
    manifest_t *one = NULL;
    is_int(manifest_of_path(b1, 0, &one, &err), 0, "manifest of one file");
    is_int(one->n, 1, "one entry");
    is_str(one->entries[0].path, "b.txt", "named by its last component");
    manifest_free(one);

    /* special files and bad names are refused, naming the path */
    mk("t3");
    put("t3/ok", "1");
    char *fifo = path_of("t3/pipe");
    ok(mkfifo(fifo, 0600) == 0, "a FIFO made");
    char *t3 = path_of("t3");
    errno = 0;
    manifest_t *none = NULL;
    is_int(manifest_of_path(t3, 1, &none, &err), -1, "a tree with a FIFO is refused");
    is_int(errno, EINVAL, "errno EINVAL");
    ok(strstr(err.msg, "t3/pipe is a FIFO") != NULL, "the message names it: %s", err.msg);
    ok(none == NULL, "nothing returned");
    unlink(fifo);
    is_int(manifest_of_path(fifo, 1, &none, &err), -1, "a missing path");
    is_int(errno, ENOENT, "errno ENOENT");
    char *badname = path_of("t3/bad\xff");
    put("t3/bad\xff", "x");
    errno = 0;
    is_int(manifest_of_path(t3, 1, &none, &err), -1, "a name that is not UTF-8 is refused");
    is_int(errno, EINVAL, "errno EINVAL (%s)", err.msg);
    unlink(badname);

    /* many files: any number of threads gives the same manifest */
    mk("t4");
    for (int i = 0; i < 300; i++) {
        char rel[64], data[64];
        if (i % 10 == 0) {
            snprintf(rel, sizeof(rel), "t4/d%02d", i / 10);
            mk(rel);
        }
        snprintf(rel, sizeof(rel), "t4/d%02d/f%03d", i / 10, i);
        snprintf(data, sizeof(data), "file %d", i);
        put(rel, data);
    }
    char *s1 = digest_of("t4", 1), *s8 = digest_of("t4", 8);
    ok(*s1 && !strcmp(s1, s8), "1 thread and 8 threads agree on 300 files");
    free(s1);
    free(s8);

    manifest_free(m);
    free(t1);
    free(t2);
    free(t3);
    free(b1);
    free(b2);
    free(fifo);
    free(badname);
    char *cmd = gt_strfmt("rm -rf '%s'", top);
    if (system(cmd) != 0)
        diag("could not remove %s", top);
    free(cmd);
    return tap_done();
}
