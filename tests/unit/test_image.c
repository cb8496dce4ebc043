/* image: the node's image cache on real skopeo and umoci, with images that tests/oci/mkimage
 * builds offline: the three local transports, a cached second get, skopeo's own message for a
 * missing image, one pull for two processes, an unpack that fails leaves nothing, least
 * recently used eviction that never takes a held image. Skipped without skopeo or umoci. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/image.h"
#include "tap.h"

#define has(hay, needle) ((hay) && strstr((hay), (needle)) != NULL)

static char top[] = "/tmp/gantry-image-XXXXXX";
static char root[PATH_MAX];  /* the repository */
static char img1[256];  /* mkimage's first directory */
static char img2[256];  /* a second build: another digest */
static char wrapper[256], skolog[256], umoci_wrapper[256], umolog[256];
static char gofile[256];

static void tick(void)
{
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
        if (access(buf, X_OK) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

/* build/<mode>/tests/test_image -> the repository three levels up */
static int find_root(void)
{
    ssize_t n = readlink("/proc/self/exe", root, sizeof(root) - 1);
    if (n <= 0)
        return -1;
    root[n] = '\0';
    for (int i = 0; i < 4; i++) {
        char *s = strrchr(root, '/');
        if (!s)
            return -1;
        *s = '\0';
    }
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/tests/oci/mkimage", root);
    return access(p, X_OK);
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void write_script(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, 0755);
}

static bool exists(const char *fmt, const char *a, const char *b)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), fmt, a, b);
    return access(p, F_OK) == 0;
}

static bool strv_has(char **v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

static image_cfg_t cfg_in(const char *name, char *buf)
{
    snprintf(buf, 256, "%s/%s", top, name);
    return (image_cfg_t){.cache_dir = buf, .skopeo = wrapper, .umoci = umoci_wrapper};
}

static void set_used(const char *cache, const char *digest, time_t t)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/rootfs/%s/used", cache, digest + 7);
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    utimensat(AT_FDCWD, p, ts, 0);
}

static uint64_t last_progress;
static int progress_calls;
static void on_progress(uint64_t bytes, void *arg)
{
    (void)arg;
    last_progress = bytes;
    progress_calls++;
}

static void test_ref_valid(void)
{
    ok(image_ref_valid("docker://registry.example.com/team/pytorch:2.4"), "docker:// with tag");
    ok(image_ref_valid("docker://busybox@sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), "docker:// by digest");
    ok(image_ref_valid("oci:/srv/images/layout:busybox"), "oci: with a tag");
    ok(image_ref_valid("oci:/srv/images/layout"), "oci: without a tag");
    ok(image_ref_valid("oci-archive:/srv/busybox.tar"), "oci-archive:");
    ok(image_ref_valid("docker-archive:/srv/busybox.tar"), "docker-archive:");
    ok(!image_ref_valid(NULL), "NULL refused");
    ok(!image_ref_valid(""), "empty refused");
    ok(!image_ref_valid("busybox"), "no transport refused");
    ok(!image_ref_valid("docker://"), "docker:// without a name refused");
    ok(!image_ref_valid("docker://-flag"), "docker:// starting with '-' refused");
    ok(!image_ref_valid("oci:relative/layout"), "a relative oci: path refused");
    ok(!image_ref_valid("oci-archive:x.tar"), "a relative archive path refused");
    ok(!image_ref_valid("oci:/"), "oci:/ alone refused");
    ok(!image_ref_valid("docker://busy box"), "a space refused");
    ok(!image_ref_valid("docker://busybox\n"), "a newline refused");
    ok(!image_ref_valid("containers-storage:busybox"), "another transport refused");
    ok(!image_ref_valid("dir:/srv/busybox"), "dir: refused (not in the contract)");
}

static void test_transports(void)
{
    char cache[256], ref[PATH_MAX + 32];
    image_cfg_t cfg = cfg_in("c1", cache);
    gt_error_t err = {0};
    image_t a, b, c, d;

    snprintf(ref, sizeof(ref), "oci:%s/layout:busybox", img1);
    int before = count_lines(skolog), ubefore = count_lines(umolog);
    double t0 = gt_monotonic_s();
    int r = image_get(&cfg, ref, on_progress, NULL, &a, &err);
    double first = gt_monotonic_s() - t0;
    is_int(r, 0, "oci: layout fetched (%s)", err.msg);
    ok(a.fetched, "the first get fetched");
    is_int(count_lines(skolog) - before, 1, "one skopeo run");
    is_int(count_lines(umolog) - ubefore, 1, "one umoci run");
    ok(!strncmp(a.digest, "sha256:", 7) && strlen(a.digest) == 71, "digest is sha256:<hex> (%s)",
       a.digest);
    ok(exists("%s/bin/busybox%s", a.rootfs ? a.rootfs : "/nonexistent", ""),
       "rootfs has /bin/busybox (%s)", a.rootfs);
    ok(exists("%s/bin/sh%s", a.rootfs ? a.rootfs : "/nonexistent", ""), "rootfs has /bin/sh");
    ok(strv_has(a.env, "PATH=/bin:/usr/bin"), "the image's Env");
    is_str(a.workdir, "/work", "the image's WorkingDir");
    ok(a.cmd && a.cmd[0] && !strcmp(a.cmd[0], "/bin/sh") && !a.cmd[1], "the image's Cmd");
    ok(a.entrypoint == NULL, "no Entrypoint");
    ok(a.hold_fd > 2, "a hold is kept");
    ok(progress_calls > 0 && last_progress > 0, "progress reported bytes (%d calls, last %llu)",
       progress_calls, (unsigned long long)last_progress);
    ok(exists("%s/rootfs/%s/config.json", cache, a.digest + 7), "umoci's config.json kept");

    before = count_lines(skolog), ubefore = count_lines(umolog);
    t0 = gt_monotonic_s();
    r = image_get(&cfg, ref, NULL, NULL, &b, &err);
    double cached = gt_monotonic_s() - t0;
    is_int(r, 0, "second get (%s)", err.msg);
    ok(!b.fetched, "the second get came from the cache");
    is_int(count_lines(skolog) - before, 0, "no skopeo run for a cached image");
    is_int(count_lines(umolog) - ubefore, 0, "no umoci run for a cached image");
    is_str(b.digest, a.digest, "same digest");
    is_str(b.rootfs, a.rootfs, "same rootfs");
    diag("first get (skopeo + umoci) %.1f ms, cached get %.3f ms", first * 1e3, cached * 1e3);
    ok(cached < first, "a cached get is faster than a fetch");

    /* the same image as an oci-archive: a fetch (another reference) but no new unpack */
    snprintf(ref, sizeof(ref), "oci-archive:%s/busybox.oci.tar", img1);
    before = count_lines(skolog), ubefore = count_lines(umolog);
    r = image_get(&cfg, ref, NULL, NULL, &c, &err);
    is_int(r, 0, "oci-archive fetched (%s)", err.msg);
    is_str(c.digest, a.digest, "the oci-archive has the layout's digest");
    is_int(count_lines(skolog) - before, 1, "the archive is read by skopeo");
    is_int(count_lines(umolog) - ubefore, 0, "the same digest is not unpacked again");

    snprintf(ref, sizeof(ref), "docker-archive:%s/busybox.docker.tar", img1);
    r = image_get(&cfg, ref, NULL, NULL, &d, &err);
    is_int(r, 0, "docker-archive fetched (%s)", err.msg);
    ok(d.fetched, "docker-archive: fetched");
    ok(strcmp(d.digest, a.digest) != 0, "converted to OCI: another manifest digest");
    ok(exists("%s/bin/busybox%s", d.rootfs ? d.rootfs : "/nonexistent", ""),
       "docker-archive rootfs has /bin/busybox");
    is_str(d.workdir, "/work", "docker-archive WorkingDir");
    ok(d.cmd && d.cmd[0] && !strcmp(d.cmd[0], "/bin/sh"), "docker-archive Cmd");

    /* a changed local source is fetched again */
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof(cmd), "%s/tests/oci/mkimage %s >/dev/null", root, img1);
    is_int(sh(cmd), 0, "image rebuilt in place");
    snprintf(ref, sizeof(ref), "oci:%s/layout:busybox", img1);
    image_t e;
    r = image_get(&cfg, ref, NULL, NULL, &e, &err);
    is_int(r, 0, "rebuilt layout fetched (%s)", err.msg);
    ok(e.fetched, "a rebuilt layout is fetched again");
    ok(strcmp(e.digest, a.digest) != 0, "and has its new digest");

    image_release(&a), image_release(&b), image_release(&c), image_release(&d);
    image_release(&e);
    ok(a.rootfs == NULL && a.hold_fd == -1, "release clears the image");
    image_t z = {0};
    image_release(&z); /* accepts a zeroed image */
    image_release(NULL);
}

static void test_missing(void)
{
    char cache[256], ref[PATH_MAX + 32];
    image_cfg_t cfg = cfg_in("c2", cache);
    gt_error_t err = {0};
    image_t a;

    snprintf(ref, sizeof(ref), "oci:%s/nonexistent:busybox", top);
    errno = 0;
    is_int(image_get(&cfg, ref, NULL, NULL, &a, &err), -1, "a missing layout fails");
    is_int(errno, EIO, "errno EIO");
    is_str(err.code, "image_pull", "code image_pull");
    ok(has(err.msg, "skopeo: ") && has(err.msg, "no such file or directory") &&
           !has(err.msg, "level=fatal") && !strchr(err.msg, '\n'),
       "skopeo's own message, one line: %s", err.msg);
    ok(a.rootfs == NULL && a.hold_fd == -1, "nothing returned");

    snprintf(ref, sizeof(ref), "oci:%s/layout:nosuchtag", img1);
    is_int(image_get(&cfg, ref, NULL, NULL, &a, &err), -1, "a missing tag fails");
    ok(has(err.msg, "nosuchtag"), "the message names the tag: %s", err.msg);

    errno = 0;
    is_int(image_get(&cfg, "busybox:latest", NULL, NULL, &a, &err), -1, "no transport fails");
    is_int(errno, EINVAL, "errno EINVAL");
    ok(has(err.msg, "docker://"), "the message shows the forms: %s", err.msg);

    image_cfg_t bad = cfg;
    bad.skopeo = "/nonexistent/skopeo";
    snprintf(ref, sizeof(ref), "oci:%s/layout:busybox", img1);
    is_int(image_get(&bad, ref, NULL, NULL, &a, &err), -1, "a missing skopeo fails");
    ok(has(err.msg, "/nonexistent/skopeo") && has(err.msg, "No such file"),
       "says it cannot run skopeo: %s", err.msg);

    /* an unpack that dies half way leaves nothing under rootfs/ and tmp/ */
    char failing[PATH_MAX + 32];
    snprintf(failing, sizeof(failing), "%s/umoci-fails", top);
    write_script(failing, "#!/bin/sh\n"
                          "for a; do last=$a; done\n"
                          "mkdir -p \"$last/rootfs/bin\" && echo half > \"$last/rootfs/bin/x\"\n"
                          "echo 'umoci: simulated failure after a partial unpack' >&2\n"
                          "exit 1\n");
    image_cfg_t f = cfg;
    f.umoci = failing;
    is_int(image_get(&f, ref, NULL, NULL, &a, &err), -1, "a failing unpack fails");
    ok(has(err.msg, "simulated failure"), "umoci's message: %s", err.msg);
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof(cmd), "test -z \"$(find %s/rootfs %s/tmp -mindepth 1)\"", cache, cache);
    is_int(sh(cmd), 0, "no half image under rootfs/ or tmp/");
    int before = count_lines(umolog);
    is_int(image_get(&cfg, ref, NULL, NULL, &a, &err), 0, "the next get works (%s)", err.msg);
    ok(a.fetched, "and unpacks");
    is_int(count_lines(umolog) - before, 1, "with one umoci run");
    image_release(&a);
}

/* Whether pid waits for a lock (/proc/locks shows waiters with "->"). */
static bool blocked_on_lock(pid_t pid)
{
    FILE *f = fopen("/proc/locks", "r");
    if (!f)
        return false;
    char line[512], want[32];
    snprintf(want, sizeof(want), " %d ", (int)pid);
    bool found = false;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, "->") && strstr(line, want))
            found = true;
    fclose(f);
    return found;
}

/* A process that calls image_get (progress may be NULL): exits 10 when it fetched, 11 when
 * it took the image from the cache, 1 on an error. */
static pid_t spawn_get(const image_cfg_t *cfg, const char *ref, image_progress_fn *progress)
{
    pid_t pid = fork();
    if (pid == 0) {
        gt_error_t err = {0};
        image_t im;
        if (image_get(cfg, ref, progress, NULL, &im, &err) < 0) {
            fprintf(stderr, "child: %s\n", err.msg);
            _exit(1);
        }
        _exit(im.fetched ? 10 : 11);
    }
    return pid;
}

static int exit_code(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_single_flight(void)
{
    char cache[256], ref[PATH_MAX + 32], slow[PATH_MAX + 32], log[PATH_MAX + 32];
    image_cfg_t cfg = cfg_in("c3", cache);
    snprintf(slow, sizeof(slow), "%s/skopeo-waits", top);
    snprintf(log, sizeof(log), "%s/skopeo-waits.log", top);
    snprintf(gofile, sizeof(gofile), "%s/go", top);
    char script[PATH_MAX * 3];
    /* logs each run, then waits (10 s at most) for the test to say go */
    snprintf(script, sizeof(script),
             "#!/bin/sh\necho \"$$ $*\" >> %s\ni=0\n"
             "while [ ! -e %s ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done\n"
             "exec skopeo \"$@\"\n",
             log, gofile);
    write_script(slow, script);
    cfg.skopeo = slow;
    snprintf(ref, sizeof(ref), "oci-archive:%s/busybox.oci.tar", img2);

    pid_t a = spawn_get(&cfg, ref, NULL);
    double end = gt_monotonic_s() + 10;
    while (count_lines(log) < 1 && gt_monotonic_s() < end)
        tick();
    is_int(count_lines(log), 1, "the first process runs skopeo");
    pid_t b = spawn_get(&cfg, ref, NULL);
    end = gt_monotonic_s() + 5;
    while (!blocked_on_lock(b) && gt_monotonic_s() < end)
        tick();
    ok(blocked_on_lock(b), "the second process waits for the reference's lock");
    int fd = open(gofile, O_WRONLY | O_CREAT, 0600);
    close(fd);
    int ca = exit_code(a), cb = exit_code(b);
    is_int(ca, 10, "the first process fetched");
    is_int(cb, 11, "the second took it from the cache");
    is_int(count_lines(log), 1, "one skopeo run for two processes");
}

static char progress_file[256];
static void progress_to_file(uint64_t bytes, void *arg)
{
    (void)arg;
    FILE *f = fopen(progress_file, "w");
    if (f) {
        fprintf(f, "%llu\n", (unsigned long long)bytes);
        fclose(f);
    }
}

/* The process that waits for another's fetch of the same reference reports that fetch's
 * bytes: the waiting job shows the pull too. */
static void test_waiting_progress(void)
{
    char cache[256], ref[PATH_MAX + 32], slow[PATH_MAX + 32], log[PATH_MAX + 32];
    char go[PATH_MAX + 32], script[PATH_MAX * 4];
    image_cfg_t cfg = cfg_in("c5", cache);
    snprintf(slow, sizeof(slow), "%s/skopeo-writes-waits", top);
    snprintf(log, sizeof(log), "%s/skopeo-writes-waits.log", top);
    snprintf(go, sizeof(go), "%s/go2", top);
    snprintf(progress_file, sizeof(progress_file), "%s/progress", top);
    /* writes 4096 bytes where skopeo keeps a blob in progress, then waits for go */
    snprintf(script, sizeof(script),
             "#!/bin/sh\nfor a; do last=$a; done\nd=${last#oci:}; d=${d%%:image}\n"
             "head -c 4096 /dev/zero > \"$d/oci-put-blob-test\"\necho \"$$\" >> %s\ni=0\n"
             "while [ ! -e %s ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done\n"
             "exec skopeo \"$@\"\n",
             log, go);
    write_script(slow, script);
    cfg.skopeo = slow;
    snprintf(ref, sizeof(ref), "docker-archive:%s/busybox.docker.tar", img2);
    pid_t a = spawn_get(&cfg, ref, NULL);
    double end = gt_monotonic_s() + 10;
    while (count_lines(log) < 1 && gt_monotonic_s() < end)
        tick();
    is_int(count_lines(log), 1, "the first process runs skopeo");
    pid_t b = spawn_get(&cfg, ref, progress_to_file);
    unsigned long long seen = 0;
    end = gt_monotonic_s() + 10;
    while (seen < 4096 && gt_monotonic_s() < end) {
        FILE *f = fopen(progress_file, "r");
        if (f) {
            if (fscanf(f, "%llu", &seen) != 1)
                seen = 0;
            fclose(f);
        }
        tick();
    }
    is_int(seen, 4096, "the waiting process reports the other's bytes");
    int fd = open(go, O_WRONLY | O_CREAT, 0600);
    close(fd);
    is_int(exit_code(a), 10, "the first process fetched");
    is_int(exit_code(b), 11, "the waiting one took it from the cache");
    is_int(count_lines(log), 1, "one skopeo run");
}

/* Whether pid is gone (or a zombie nobody reaped yet). */
static bool gone(pid_t pid)
{
    char p[64], st[512];
    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return true;
    size_t n = fread(st, 1, sizeof(st) - 1, f);
    fclose(f);
    st[n] = '\0';
    char *paren = strrchr(st, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

/* A supervisor killed in the middle of an unpack: umoci dies with it, nothing half-made is in
 * rootfs/, and the next get of the reference removes what was left and unpacks whole. */
static void test_killed_unpack(void)
{
    char cache[256], ref[PATH_MAX + 32], hang[300], pidfile[300];
    char script[PATH_MAX * 3], cmd[PATH_MAX * 2];
    image_cfg_t cfg = cfg_in("c6", cache);
    snprintf(hang, sizeof(hang), "%s/umoci-hangs", top);
    snprintf(pidfile, sizeof(pidfile), "%s/umoci-hangs.pid", top);
    snprintf(script, sizeof(script),
             "#!/bin/sh\nfor a; do last=$a; done\nmkdir -p \"$last/rootfs/bin\"\n"
             "echo half > \"$last/rootfs/bin/x\"\necho $$ > %s.tmp && mv %s.tmp %s\n"
             "exec sleep 60\n",
             pidfile, pidfile, pidfile);
    write_script(hang, script);
    image_cfg_t h = cfg;
    h.umoci = hang;
    snprintf(ref, sizeof(ref), "oci:%s/layout:busybox", img2);
    pid_t child = spawn_get(&h, ref, NULL);
    double end = gt_monotonic_s() + 10;
    while (access(pidfile, F_OK) != 0 && gt_monotonic_s() < end)
        tick();
    FILE *f = fopen(pidfile, "r");
    int upid = 0;
    if (!f || fscanf(f, "%d", &upid) != 1)
        upid = 0;
    if (f)
        fclose(f);
    ok(upid > 0, "the unpack started (pid %d)", upid);
    kill(child, SIGKILL);
    int st;
    waitpid(child, &st, 0);
    end = gt_monotonic_s() + 5;
    while (upid > 0 && !gone(upid) && gt_monotonic_s() < end)
        tick();
    ok(upid > 0 && gone(upid), "umoci died with the process that ran it");
    snprintf(cmd, sizeof(cmd), "test -z \"$(find %s/rootfs -mindepth 1)\"", cache);
    is_int(sh(cmd), 0, "nothing under rootfs/");
    snprintf(cmd, sizeof(cmd), "test -n \"$(find %s/tmp -mindepth 1)\"", cache);
    is_int(sh(cmd), 0, "the half unpack is left under tmp/");
    gt_error_t err = {0};
    image_t a;
    is_int(image_get(&cfg, ref, NULL, NULL, &a, &err), 0, "the next get works (%s)", err.msg);
    ok(a.fetched, "and unpacks");
    ok(exists("%s/bin/busybox%s", a.rootfs ? a.rootfs : "/nonexistent", ""), "a whole rootfs");
    ok(!exists("%s/bin/x%s", a.rootfs ? a.rootfs : "/nonexistent", ""), "not the half one");
    snprintf(cmd, sizeof(cmd), "test -z \"$(find %s/tmp -mindepth 1)\"", cache);
    is_int(sh(cmd), 0, "what the killed unpack left is removed");
    image_release(&a);
}

static void test_evict(void)
{
    char cache[256], r1[PATH_MAX + 32], r2[PATH_MAX + 32], r3[PATH_MAX + 32];
    image_cfg_t cfg = cfg_in("c4", cache);
    gt_error_t err = {0};
    image_t a, b, c;
    snprintf(r1, sizeof(r1), "oci:%s/layout:busybox", img1);
    snprintf(r2, sizeof(r2), "docker-archive:%s/busybox.docker.tar", img1);
    snprintf(r3, sizeof(r3), "oci:%s/layout:busybox", img2);
    is_int(image_get(&cfg, r1, NULL, NULL, &a, &err), 0, "image A (%s)", err.msg);
    is_int(image_get(&cfg, r2, NULL, NULL, &b, &err), 0, "image B (%s)", err.msg);
    is_int(image_get(&cfg, r3, NULL, NULL, &c, &err), 0, "image C (%s)", err.msg);
    ok(strcmp(a.digest, b.digest) && strcmp(b.digest, c.digest) && strcmp(a.digest, c.digest),
       "three digests");
    is_int(image_evict(&cfg, &err), 0, "no cap: nothing removed");
    char da[80], db[80], dc[80];
    snprintf(da, sizeof(da), "%s", a.digest);
    snprintf(db, sizeof(db), "%s", b.digest);
    snprintf(dc, sizeof(dc), "%s", c.digest);
    /* B is the least recently used but held; A next; C the newest */
    set_used(cache, db, 1000);
    set_used(cache, da, 2000);
    set_used(cache, dc, 3000);
    image_release(&a);
    image_release(&c);

    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof(cmd), "du -s --block-size=1 %s/rootfs %s/blobs | awk '{s+=$1} END {print s}'",
             cache, cache);
    FILE *p = popen(cmd, "r");
    unsigned long long total = 0;
    if (p && fscanf(p, "%llu", &total) != 1)
        total = 0;
    if (p)
        pclose(p);
    ok(total > 0, "cache holds %llu bytes", total);
    cfg.max_bytes = total - (512u << 10); /* one image (2 MB and more) must go */
    is_int(image_evict(&cfg, &err), 1, "one image removed");
    ok(!exists("%s/rootfs/%s", cache, da + 7), "the least recently used unheld one (A) went");
    ok(exists("%s/rootfs/%s", cache, db + 7), "the held one (B) stayed, though older");
    ok(exists("%s/rootfs/%s", cache, dc + 7), "the newer one (C) stayed");

    cfg.max_bytes = 1;
    is_int(image_evict(&cfg, &err), 1, "with B held only C can go");
    ok(exists("%s/rootfs/%s", cache, db + 7), "B is never removed while held");
    ok(exists("%s/bin/busybox%s", b.rootfs, ""), "and its rootfs is whole");
    image_release(&b);
    is_int(image_evict(&cfg, &err), 1, "released, B goes too");
    snprintf(cmd, sizeof(cmd), "test -z \"$(find %s/rootfs %s/blobs/sha256 -mindepth 1)\"", cache, cache);
    is_int(sh(cmd), 0, "no image and no blob left");

    cfg.max_bytes = 0;
    is_int(image_get(&cfg, r1, NULL, NULL, &a, &err), 0, "an evicted image is fetched again (%s)",
           err.msg);
    ok(a.fetched, "fetched, not taken from a stale record");
    ok(exists("%s/bin/busybox%s", a.rootfs, ""), "rootfs back");
    image_release(&a);
}

int main(void)
{
    if (!on_path("skopeo") || !on_path("umoci")) {
        printf("1..0 # SKIP skopeo or umoci not installed (scripts/deps installs them)\n");
        return 0;
    }
    if (find_root() < 0) {
        printf("1..0 # SKIP cannot find tests/oci/mkimage beside the test binary\n");
        return 0;
    }
    if (!mkdtemp(top))
        return 1;
    snprintf(img1, sizeof(img1), "%s/img1", top);
    snprintf(img2, sizeof(img2), "%s/img2", top);
    snprintf(skolog, sizeof(skolog), "%s/skopeo.log", top);
    snprintf(umolog, sizeof(umolog), "%s/umoci.log", top);
    snprintf(wrapper, sizeof(wrapper), "%s/skopeo-counted", top);
    snprintf(umoci_wrapper, sizeof(umoci_wrapper), "%s/umoci-counted", top);
    char script[PATH_MAX * 3];
    snprintf(script, sizeof(script), "#!/bin/sh\necho \"$*\" >> %s\nexec skopeo \"$@\"\n", skolog);
    write_script(wrapper, script);
    snprintf(script, sizeof(script), "#!/bin/sh\necho \"$*\" >> %s\nexec umoci \"$@\"\n", umolog);
    write_script(umoci_wrapper, script);
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof(cmd), "%s/tests/oci/mkimage %s >/dev/null && %s/tests/oci/mkimage %s >/dev/null",
             root, img1, root, img2);
    if (sh(cmd) != 0) {
        ok(0, "tests/oci/mkimage builds the test images");
        return tap_done();
    }
    test_ref_valid();
    test_transports();
    test_missing();
    test_single_flight();
    test_waiting_progress();
    test_killed_unpack();
    test_evict();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
    sh(cmd);
    return tap_done();
}
