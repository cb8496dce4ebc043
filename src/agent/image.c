/* image.c: the node's image cache (see image.h): skopeo copies, umoci unpacks, flock keeps
 * processes apart. libc and jansson only: it runs in the supervisor that gantry-launcher forks.
 *
 * Files under the cache directory:
 *   blobs/sha256/<hex>       every blob (skopeo --dest-shared-blob-dir): layers shared by images
 *   refs/<key>/              one small OCI layout per reference (<key>: FNV-1a of the ref): its
 *                            index.json names the manifest under the tag "image", its blobs/ is
 *                            a link to ../../blobs; record: {ref, digest, source} of the last fetch
 *   rootfs/<hex>/            umoci's bundle of manifest <hex> (rootfs/, config.json) plus
 *                            image.json (the image's config blob), size (bytes on disk), used
 *                            (its modification time is the last use: LRU)
 *   locks/ref-<key>          held exclusively while the reference is looked up or fetched
 *   locks/<hex>              held shared by each user of rootfs/<hex>; eviction needs it exclusive
 *   locks/blobs              held shared while a fetch writes or reads blobs; the removal of
 *                            blobs that no unpacked image needs takes it exclusive
 *   tmp/                     unpacks in progress (renamed into rootfs/ when complete) and skopeo's
 *                            own temporary files
 * A crash leaves at most files under tmp/ and refs/<key>/oci-put-blob*: the next fetch of the
 * same reference (which holds its lock, so nobody else uses them) removes them. */
#include "agent/image.h"
#include "common/digest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TAG "image"           /* the tag of each reference's own layout */
#define STDERR_MAX (64u << 10) /* of a child's messages kept */
#define PROGRESS_MS 250

static const char *skopeo_prog(const image_cfg_t *c) { return c->skopeo ? c->skopeo : "skopeo"; }
static const char *umoci_prog(const image_cfg_t *c) { return c->umoci ? c->umoci : "umoci"; }

/* ---- references ---- */

static const char *const transports[] = {"docker://", "oci:", "oci-archive:", "docker-archive:"};

bool image_ref_valid(const char *ref)
{
    if (!ref)
        return false;
    size_t n = strlen(ref);
    if (n > 4096)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ref[i] <= ' ' || ref[i] == 0x7f)
            return false; /* no spaces or control characters in a reference */
    for (size_t i = 0; i < sizeof(transports) / sizeof(*transports); i++) {
        size_t t = strlen(transports[i]);
        if (strncmp(ref, transports[i], t))
            continue;
        const char *rest = ref + t;
        if (i == 0) /* docker://NAME: something that is not an option or a path */
            return *rest && *rest != '-' && *rest != '/' && *rest != ':';
        /* local transports: an absolute path (the supervisor's directory is no one's business) */
        return rest[0] == '/' && rest[1] && rest[1] != ':';
    }
    return false;
}

/* FNV-1a, 64 bits: the name of a reference's files. A collision costs a fetch, never a wrong
 * image: the record keeps the whole reference and is compared. */
static void ref_key(const char *ref, char key[17])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)ref; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    snprintf(key, 17, "%016" PRIx64, h);
}

/* What says a local source changed since it was fetched: the file's identity, size and time
 * (oci: its index.json). "" for registries: a tag is resolved once per node (image.h). */
static void source_stamp(const char *ref, char *out, size_t len)
{
    out[0] = '\0';
    const char *p = strchr(ref, ':');
    if (!strncmp(ref, "docker://", 9) || !p)
        return;
    const char *path = p + 1, *end = strchr(path, ':');
    char *file = end ? gt_strfmt("%.*s", (int)(end - path), path) : xstrdup(path);
    if (!strncmp(ref, "oci:", 4)) {
        char *idx = gt_strfmt("%s/index.json", file);
        free(file);
        file = idx;
    }
    struct stat st;
    if (stat(file, &st) < 0)
        snprintf(out, len, "missing");
    else
        snprintf(out, len, "%ju:%ju:%jd:%jd.%09ld", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
                 (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    free(file);
}

/* "sha256:<hex>" -> hex (in place view), or NULL */
static const char *digest_hex(const char *d)
{
    return d && !strncmp(d, "sha256:", 7) && gt_sha256_hex_ok(d + 7) ? d + 7 : NULL;
}

/* ---- files and locks ---- */

/* Opens (creating) path and flocks it with op; the fd, or -1 with errno (EWOULDBLOCK for a
 * LOCK_NB that is taken) and err. */
static int lock_open(const char *path, int op, gt_error_t *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int e = errno;
        gt_error_set(err, "internal", "cannot open the image cache lock %s: %s", path,
                     strerror(e));
        errno = e;
        return -1;
    }
    int r;
    while ((r = flock(fd, op)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        int e = errno;
        if (e != EWOULDBLOCK)
            gt_error_set(err, "internal", "cannot lock %s: %s", path, strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int write_file_atomic(const char *path, const char *data, size_t len)
{
    char *tmp = gt_strfmt("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        off += (size_t)w;
    }
    int e = errno;
    if (close(fd) < 0 && off == len)
        e = errno, off = 0;
    if (off != len || rename(tmp, path) < 0) {
        e = off != len ? e : errno;
        unlink(tmp);
        free(tmp);
        errno = e;
        return -1;
    }
    free(tmp);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        return 0; /* keep going: remove what can be removed */
    return 0;
}

static int chmod_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D && (st->st_mode & 0700) != 0700)
        chmod(path, (st->st_mode & 07777) | 0700);
    return 0;
}

/* rm -rf path (images hold read-only directories: made writable first when not root) */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    if (geteuid() != 0)
        nftw(path, chmod_dir, 32, FTW_PHYS);
    nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

static __thread uint64_t tree_bytes;
static int count_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    /* a file with n links inside the tree is counted once in all (1/n each time) */
    uint64_t b = (uint64_t)st->st_blocks * 512;
    tree_bytes += st->st_nlink > 1 && !S_ISDIR(st->st_mode) ? b / st->st_nlink : b;
    return 0;
}

/* Bytes on disk under path. */
static uint64_t du(const char *path)
{
    tree_bytes = 0;
    nftw(path, count_entry, 32, FTW_PHYS);
    return tree_bytes;
}

/* Sum of the sizes of the regular files directly in dir whose name starts with prefix ("":
 * all). */
static uint64_t dir_bytes(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t sum = 0;
    size_t pl = strlen(prefix);
    struct dirent *e;
    struct stat st;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, pl))
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_size;
    }
    closedir(d);
    return sum;
}

/* Removes the entries of dir whose names start with prefix. */
static void remove_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t pl = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, pl))
            continue;
        char *p = gt_strfmt("%s/%s", dir, e->d_name);
        remove_tree(p);
        free(p);
    }
    closedir(d);
}

/* ---- child processes ---- */

typedef struct watch {
    image_progress_fn *fn;
    void *arg;
    char *blobs, *refdir, *tmpdir; /* where skopeo's bytes land */
    char *publish;                 /* refdir/progress: the count for processes that wait */
    uint64_t base, last;
} watch_t;

static uint64_t watch_bytes(watch_t *w)
{
    uint64_t now = dir_bytes(w->blobs, "") + dir_bytes(w->refdir, "oci-put-blob") +
                   dir_bytes(w->tmpdir, "");
    return now > w->base ? now - w->base : 0;
}

static int write_file_atomic(const char *path, const char *data, size_t len);

static void watch_tick(watch_t *w)
{
    if (!w)
        return;
    uint64_t b = watch_bytes(w);
    if (b != w->last) {
        w->last = b;
        if (w->publish) {
            char num[32];
            snprintf(num, sizeof(num), "%" PRIu64 "\n", b);
            write_file_atomic(w->publish, num, strlen(num));
        }
        if (w->fn)
            w->fn(b, w->arg);
    }
}

/* Runs argv (no shell; stdin and stdout /dev/null, every other fd closed, killed if this
 * process dies) with envp; its stderr lands in *errout. Calls watch a few times a second while
 * it runs. Returns its exit status (128 + signal when killed), or -1 with errno when it could
 * not be started. */
static int run_child(char *const argv[], char *const envp[], watch_t *watch, gt_buf_t *errout)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        for (int s = 1; s < NSIG; s++)
            if (s != SIGKILL && s != SIGSTOP)
                signal(s, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int nul = open("/dev/null", O_RDWR);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(p[1], 2) < 0)
            _exit(127);
        close_range(3, ~0U, 0);
        execvpe(argv[0], argv, envp);
        int e = errno;
        const char *m = strerror(e);
        if (write(2, "cannot run ", 11) < 0 || write(2, argv[0], strlen(argv[0])) < 0 ||
            write(2, ": ", 2) < 0 || write(2, m, strlen(m)) < 0)
            _exit(127);
        _exit(127);
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        errno = fork_errno;
        return -1;
    }
    char buf[4096];
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    double next = gt_monotonic_s() * 1e3 + PROGRESS_MS;
    for (;;) {
        int wait = (int)(next - gt_monotonic_s() * 1e3);
        int r = poll(&pf, 1, wait < 0 ? 0 : wait);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0) {
            ssize_t n = read(p[0], buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break; /* end of file: the child is gone (or closed its stderr) */
            if (errout->len < STDERR_MAX)
                gt_buf_append(errout, buf, (size_t)n);
        }
        if (gt_monotonic_s() * 1e3 >= next) {
            watch_tick(watch);
            next = gt_monotonic_s() * 1e3 + PROGRESS_MS;
        }
    }
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    watch_tick(watch);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The one or two lines a user needs from a child's stderr: its last message (skopeo's
 * msg="..." unquoted, "Error: " dropped), cut in its middle to fit out. */
static void last_message(const char *text, char *out, size_t len)
{
    out[0] = '\0';
    if (!text)
        return;
    const char *end = text + strlen(text);
    while (end > text && isspace((unsigned char)end[-1]))
        end--;
    const char *start = end;
    while (start > text && start[-1] != '\n')
        start--;
    char *line = gt_strfmt("%.*s", (int)(end - start), start);
    char *m = strstr(line, "msg=\""), *s = line;
    if (m) { /* logrus: msg="..." with \" and \\ escaped */
        char *w = line;
        for (const char *r = m + 5; *r && *r != '"'; r++) {
            if (*r == '\\' && r[1])
                r++;
            *w++ = *r;
        }
        *w = '\0';
    }
    while (isspace((unsigned char)*s))
        s++;
    if (!strncmp(s, "Error: ", 7))
        s += 7;
    /* A long message keeps its start and its end: what went wrong comes last ("...: no such
     * host"), after the reference, which may be long. */
    size_t n = strlen(s), keep = len > 8 ? len - 8 : 0;
    if (n <= keep)
        snprintf(out, len, "%s", s);
    else
        snprintf(out, len, "%.*s ... %s", (int)(keep / 3), s, s + n - (keep - keep / 3));
    free(line);
}

/* environ, plus CONTAINERS_REGISTRIES_CONF when the agent names a registries.conf (skopeo 1.9
 * has no flag for it). The strings are environ's or one new one: free only the array and
 * *extra. */
static char **child_env(const image_cfg_t *cfg, char **extra)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = xcalloc(n + 2, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!cfg->registries_conf || strncmp(environ[i], "CONTAINERS_REGISTRIES_CONF=", 27))
            env[k++] = environ[i];
    *extra = NULL;
    if (cfg->registries_conf)
        env[k++] = *extra = gt_strfmt("CONTAINERS_REGISTRIES_CONF=%s", cfg->registries_conf);
    env[k] = NULL;
    return env;
}

/* Takes path's lock exclusively, waiting as long as it takes. While another process holds it
 * (fetching the same reference), reports that fetch's bytes through progress, as the fetcher
 * publishes them in refdir/progress: the waiting job shows the pull it waits for. */
static int lock_wait(const char *path, const char *refdir, image_progress_fn *progress,
                     void *arg, gt_error_t *err)
{
    int fd = lock_open(path, LOCK_EX | LOCK_NB, err);
    if (fd >= 0 || errno != EWOULDBLOCK)
        return fd;
    if (!progress)
        return lock_open(path, LOCK_EX, err);
    char *published = gt_strfmt("%s/progress", refdir);
    uint64_t last = 0;
    double next = gt_monotonic_s() * 1e3 + PROGRESS_MS;
    for (;;) {
        struct timespec ts = {0, 20 * 1000 * 1000}; /* what a waiting start may lose: 20 ms */
        nanosleep(&ts, NULL);
        if ((fd = lock_open(path, LOCK_EX | LOCK_NB, err)) >= 0 || errno != EWOULDBLOCK)
            break;
        if (gt_monotonic_s() * 1e3 >= next) {
            char *text = gt_read_file(published, NULL, NULL);
            uint64_t b = text ? strtoull(text, NULL, 10) : 0;
            free(text);
            if (b != last)
                progress(last = b, arg);
            next = gt_monotonic_s() * 1e3 + PROGRESS_MS;
        }
    }
    free(published);
    return fd;
}

/* ---- the cache ---- */

static int ensure_dirs(const image_cfg_t *cfg, gt_error_t *err)
{
    static const char *const sub[] = {"", "/blobs", "/blobs/sha256", "/refs", "/rootfs",
                                      "/locks", "/tmp"};
    for (size_t i = 0; i < sizeof(sub) / sizeof(*sub); i++) {
        char *p = gt_strfmt("%s%s", cfg->cache_dir, sub[i]);
        if (gt_mkdirs(p, 0700, NULL) < 0) {
            int e = errno;
            gt_error_set(err, "internal", "cannot make the image cache directory %s: %s", p,
                         strerror(e));
            free(p);
            errno = e;
            return -1;
        }
        free(p);
    }
    return 0;
}

/* The digest hex that refs/<key>/record holds for ref with this source stamp, or false. */
static bool record_read(const image_cfg_t *cfg, const char *key, const char *ref,
                        const char *stamp, char hex[65])
{
    char *path = gt_strfmt("%s/refs/%s/record", cfg->cache_dir, key);
    json_t *j = json_load_file(path, 0, NULL);
    free(path);
    const char *r = json_string_value(json_object_get(j, "ref"));
    const char *s = json_string_value(json_object_get(j, "source"));
    const char *h = digest_hex(json_string_value(json_object_get(j, "digest")));
    bool ok = r && s && h && !strcmp(r, ref) && !strcmp(s, stamp);
    if (ok)
        memcpy(hex, h, 65);
    json_decref(j);
    return ok;
}

static int record_write(const image_cfg_t *cfg, const char *key, const char *ref,
                        const char *stamp, const char *hex)
{
    char *d = gt_strfmt("sha256:%s", hex);
    json_t *j = json_pack("{s:s, s:s, s:s}", "ref", ref, "digest", d, "source", stamp);
    char *text = json_dumps(j, JSON_COMPACT);
    char *path = gt_strfmt("%s/refs/%s/record", cfg->cache_dir, key);
    int r = text ? write_file_atomic(path, text, strlen(text)) : -1;
    free(path);
    free(text);
    json_decref(j);
    free(d);
    return r;
}

/* The manifest digest that refs/<key>/index.json tags "image" (what skopeo just wrote). */
static int layout_digest(const char *refdir, char hex[65], gt_error_t *err)
{
    char *path = gt_strfmt("%s/index.json", refdir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je), *m;
    size_t i;
    int r = -1;
    json_array_foreach(json_object_get(j, "manifests"), i, m) {
        const char *name = json_string_value(
            json_object_get(json_object_get(m, "annotations"), "org.opencontainers.image.ref.name"));
        const char *h = digest_hex(json_string_value(json_object_get(m, "digest")));
        if (name && h && !strcmp(name, TAG)) {
            memcpy(hex, h, 65);
            r = 0;
        }
    }
    if (r < 0) {
        errno = EIO;
        gt_error_set(err, "image_pull", "skopeo left no manifest tagged %s in %s%s%s", TAG, path,
                     j ? "" : ": ", j ? "" : je.text);
    }
    json_decref(j);
    free(path);
    return r;
}

static json_t *load_blob(const image_cfg_t *cfg, const char *hex)
{
    char *p = gt_strfmt("%s/blobs/sha256/%s", cfg->cache_dir, hex);
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    return j;
}

/* Copies the image's config blob (named by manifest hex) to bundle/image.json. */
static int save_image_config(const image_cfg_t *cfg, const char *hex, const char *bundle,
                             gt_error_t *err)
{
    json_t *man = load_blob(cfg, hex);
    const char *ch = digest_hex(json_string_value(json_object_get(json_object_get(man, "config"),
                                                                  "digest")));
    json_t *conf = ch ? load_blob(cfg, ch) : NULL;
    char *path = gt_strfmt("%s/image.json", bundle);
    int r = conf ? json_dump_file(conf, path, JSON_COMPACT) : -1;
    if (r < 0) {
        errno = EIO;
        gt_error_set(err, "image_pull", "cannot read the config of image sha256:%s from the cache",
                     hex);
    }
    free(path);
    json_decref(conf);
    json_decref(man);
    return r;
}

static char **strv(json_t *a)
{
    if (!json_is_array(a))
        return NULL;
    char **v = xcalloc(json_array_size(a) + 1, sizeof(*v));
    size_t i, k = 0;
    json_t *s;
    json_array_foreach(a, i, s) if (json_is_string(s)) v[k++] = xstrdup(json_string_value(s));
    return v;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* Fills out's fields from rootfs/<hex>: 0, or -1 when it is not (or no longer) complete. */
static int load_image(const image_cfg_t *cfg, const char *hex, image_t *out)
{
    char *path = gt_strfmt("%s/rootfs/%s/image.json", cfg->cache_dir, hex);
    json_t *j = json_load_file(path, 0, NULL);
    free(path);
    if (!j)
        return -1;
    json_t *c = json_object_get(j, "config");
    snprintf(out->digest, sizeof(out->digest), "sha256:%s", hex);
    out->rootfs = gt_strfmt("%s/rootfs/%s/rootfs", cfg->cache_dir, hex);
    out->env = strv(json_object_get(c, "Env"));
    if (!out->env)
        out->env = xcalloc(1, sizeof(char *));
    out->entrypoint = strv(json_object_get(c, "Entrypoint"));
    out->cmd = strv(json_object_get(c, "Cmd"));
    const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
    out->workdir = wd && *wd ? xstrdup(wd) : NULL;
    json_decref(j);
    return 0;
}

static void touch_used(const image_cfg_t *cfg, const char *hex)
{
    char *p = gt_strfmt("%s/rootfs/%s/used", cfg->cache_dir, hex);
    if (utimensat(AT_FDCWD, p, NULL, 0) < 0 && errno == ENOENT) {
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    free(p);
}

static int fail_child(const char *what, const char *ref, int status, gt_buf_t *msgs,
                      gt_error_t *err)
{
    char line[512];
    last_message(msgs->data, line, sizeof(line));
    errno = status < 0 ? errno : EIO;
    int e = errno;
    if (status < 0)
        gt_error_set(err, "image_pull", "cannot run %s for %s: %s", what, ref, strerror(e));
    else
        gt_error_set(err, "image_pull", "%s: %s", what,
                     *line ? line : "failed without a message");
    errno = e;
    return -1;
}

/* skopeo copy ref into refs/<key> (blobs into the shared blobs/), watching the bytes. */
static int fetch(const image_cfg_t *cfg, const char *ref, const char *refdir,
                 image_progress_fn *progress, void *arg, gt_error_t *err)
{
    char *blobs = gt_strfmt("%s/blobs", cfg->cache_dir), *tmp = gt_strfmt("%s/tmp", cfg->cache_dir);
    char *link = gt_strfmt("%s/blobs", refdir), *dest = gt_strfmt("oci:%s:%s", refdir, TAG);
    char *auth = cfg->auth_file ? gt_strfmt("--authfile=%s", cfg->auth_file) : NULL;
    char *shared = gt_strfmt("--dest-shared-blob-dir=%s", blobs),
         *tmpdir = gt_strfmt("--tmpdir=%s", tmp);
    int r = -1;
    if (gt_mkdirs(refdir, 0700, NULL) < 0 ||
        (symlink("../../blobs", link) < 0 && errno != EEXIST)) {
        int e = errno;
        gt_error_set(err, "internal", "cannot make %s: %s", refdir, strerror(e));
        errno = e;
        goto out;
    }
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)skopeo_prog(cfg);
    argv[n++] = tmpdir;
    if (access("/etc/containers/policy.json", F_OK) < 0)
        argv[n++] = "--insecure-policy"; /* skopeo refuses to run without a policy */
    argv[n++] = "copy";
    argv[n++] = "--quiet";
    if (auth)
        argv[n++] = auth;
    argv[n++] = shared;
    argv[n++] = (char *)ref;
    argv[n++] = dest;
    argv[n] = NULL;
    watch_t w = {.fn = progress, .arg = arg, .blobs = gt_strfmt("%s/sha256", blobs),
                 .refdir = (char *)refdir, .tmpdir = tmp,
                 .publish = gt_strfmt("%s/progress", refdir)};
    w.base = watch_bytes(&w);
    char *extra;
    char **env = child_env(cfg, &extra);
    gt_buf_t msgs = {0};
    int st = run_child(argv, env, &w, &msgs);
    unlink(w.publish);
    free(env);
    free(extra);
    free(w.blobs);
    free(w.publish);
    r = st == 0 ? 0 : fail_child("skopeo", ref, st, &msgs, err);
    gt_buf_free(&msgs);
out:
    free(blobs), free(tmp), free(link), free(dest), free(auth), free(shared), free(tmpdir);
    return r;
}

/* umoci unpack refs/<key>:image into tmp/<key>.XXXXXX/b, adds image.json, size and used, and
 * renames it to rootfs/<hex> (someone else's complete copy there is as good). */
static int unpack(const image_cfg_t *cfg, const char *key, const char *refdir, const char *hex,
                  gt_error_t *err)
{
    char *tmpl = gt_strfmt("%s/tmp/%s.XXXXXX", cfg->cache_dir, key);
    if (!mkdtemp(tmpl)) {
        int e = errno;
        gt_error_set(err, "internal", "cannot make a directory under %s/tmp: %s",
                     cfg->cache_dir, strerror(e));
        free(tmpl);
        errno = e;
        return -1;
    }
    char *bundle = gt_strfmt("%s/b", tmpl), *image = gt_strfmt("%s:%s", refdir, TAG);
    char *final = gt_strfmt("%s/rootfs/%s", cfg->cache_dir, hex);
    char *argv[] = {(char *)umoci_prog(cfg), "unpack", "--image", image, bundle, NULL, NULL};
    if (geteuid() != 0) { /* as root on nodes; --rootless lets tests run unprivileged */
        argv[2] = "--rootless", argv[3] = "--image", argv[4] = image, argv[5] = bundle;
    }
    char *extra;
    char **env = child_env(cfg, &extra);
    gt_buf_t msgs = {0};
    int st = run_child(argv, env, NULL, &msgs), r = -1;
    free(env);
    free(extra);
    if (st != 0) {
        fail_child("umoci", image, st, &msgs, err);
        goto out;
    }
    if (save_image_config(cfg, hex, bundle, err) < 0)
        goto out;
    char size[32];
    snprintf(size, sizeof(size), "%" PRIu64 "\n", du(bundle));
    char *sp = gt_strfmt("%s/size", bundle), *up = gt_strfmt("%s/used", bundle);
    int w = write_file_atomic(sp, size, strlen(size)) | write_file_atomic(up, "", 0);
    free(sp), free(up);
    if (w < 0) {
        int e = errno;
        gt_error_set(err, "internal", "cannot write into %s: %s", bundle, strerror(e));
        errno = e;
        goto out;
    }
    if (rename(bundle, final) < 0 && errno != EEXIST && errno != ENOTEMPTY) {
        int e = errno;
        gt_error_set(err, "internal", "cannot rename %s to %s: %s", bundle, final, strerror(e));
        errno = e;
        goto out;
    }
    r = 0;
out:
    if (r < 0) {
        int e = errno;
        remove_tree(tmpl);
        errno = e;
    } else {
        remove_tree(tmpl);
    }
    gt_buf_free(&msgs);
    free(tmpl), free(bundle), free(image), free(final);
    return r;
}

static bool image_complete(const image_cfg_t *cfg, const char *hex)
{
    char *p = gt_strfmt("%s/rootfs/%s/image.json", cfg->cache_dir, hex);
    bool ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

int image_get(const image_cfg_t *cfg, const char *ref, image_progress_fn *progress, void *arg,
              image_t *out, gt_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->hold_fd = -1;
    if (!cfg || !cfg->cache_dir || !*cfg->cache_dir || strchr(cfg->cache_dir, ':')) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "the image cache needs a directory whose path has no ':'");
    }
    if (!image_ref_valid(ref)) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "image '%s' is not a reference this node fetches: use "
                            "docker://REGISTRY/NAME:TAG, oci:/PATH[:TAG], oci-archive:/PATH or "
                            "docker-archive:/PATH",
                            ref ? ref : "");
    }
    if (ensure_dirs(cfg, err) < 0)
        return -1;
    char key[17], hex[65], stamp[128];
    ref_key(ref, key);
    source_stamp(ref, stamp, sizeof(stamp));
    char *refdir = gt_strfmt("%s/refs/%s", cfg->cache_dir, key);
    char *lockp = gt_strfmt("%s/locks/ref-%s", cfg->cache_dir, key), *holdp = NULL;
    int ref_fd = -1, hold = -1, blobs_fd = -1, r = -1;
    bool fetched = false;
    if ((ref_fd = lock_wait(lockp, refdir, progress, arg, err)) < 0)
        goto out;
    if (record_read(cfg, key, ref, stamp, hex)) {
        holdp = gt_strfmt("%s/locks/%s", cfg->cache_dir, hex);
        if ((hold = lock_open(holdp, LOCK_SH, err)) < 0)
            goto out;
        if (!image_complete(cfg, hex)) { /* evicted since: fetch again */
            close(hold);
            hold = -1;
            free(holdp);
            holdp = NULL;
        }
    }
    if (hold < 0) {
        fetched = true;
        /* we hold the reference's lock: whatever a dead fetch of it left is ours to remove */
        char *tmpdir = gt_strfmt("%s/tmp", cfg->cache_dir), *prefix = gt_strfmt("%s.", key);
        remove_prefixed(tmpdir, prefix);
        remove_prefixed(refdir, "oci-put-blob");
        remove_prefixed(refdir, "progress");
        free(tmpdir), free(prefix);
        char *bl = gt_strfmt("%s/locks/blobs", cfg->cache_dir);
        blobs_fd = lock_open(bl, LOCK_SH, err);
        free(bl);
        if (blobs_fd < 0 || fetch(cfg, ref, refdir, progress, arg, err) < 0 ||
            layout_digest(refdir, hex, err) < 0)
            goto out;
        holdp = gt_strfmt("%s/locks/%s", cfg->cache_dir, hex);
        if ((hold = lock_open(holdp, LOCK_SH, err)) < 0)
            goto out;
        if (!image_complete(cfg, hex) && unpack(cfg, key, refdir, hex, err) < 0)
            goto out;
        if (record_write(cfg, key, ref, stamp, hex) < 0) {
            int e = errno;
            gt_error_set(err, "internal", "cannot write %s/record: %s", refdir, strerror(e));
            errno = e;
            goto out;
        }
    }
    if (load_image(cfg, hex, out) < 0) {
        errno = EIO;
        gt_error_set(err, "internal", "image sha256:%s in %s/rootfs has no readable image.json",
                     hex, cfg->cache_dir);
        goto out;
    }
    touch_used(cfg, hex);
    out->fetched = fetched;
    out->hold_fd = hold;
    hold = -1;
    r = 0;
out:;
    int e = errno;
    if (hold >= 0)
        close(hold);
    if (blobs_fd >= 0)
        close(blobs_fd);
    if (ref_fd >= 0)
        close(ref_fd);
    free(refdir), free(lockp), free(holdp);
    if (r == 0 && fetched && cfg->max_bytes) {
        gt_error_t ignored = {0};
        image_evict(cfg, &ignored); /* a cache over its cap is no reason to fail the job */
    }
    if (r < 0) {
        image_release(out);
        errno = e;
    }
    return r;
}

void image_release(image_t *im)
{
    if (!im)
        return;
    if (im->hold_fd > 0)
        close(im->hold_fd);
    free(im->rootfs);
    strv_free(im->env);
    strv_free(im->entrypoint);
    strv_free(im->cmd);
    free(im->workdir);
    memset(im, 0, sizeof(*im));
    im->hold_fd = -1;
}

/* ---- eviction ---- */

typedef struct entry {
    char hex[65];
    struct timespec used;
    uint64_t size;
} entry_t;

static int by_use(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->used.tv_sec != y->used.tv_sec)
        return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
    return x->used.tv_nsec < y->used.tv_nsec ? -1 : x->used.tv_nsec > y->used.tv_nsec;
}

/* The complete images, least recently used first. */
static entry_t *list_images(const image_cfg_t *cfg, size_t *n)
{
    char *dir = gt_strfmt("%s/rootfs", cfg->cache_dir);
    DIR *d = opendir(dir);
    entry_t *v = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!gt_sha256_hex_ok(e->d_name) || !image_complete(cfg, e->d_name))
            continue;
        GT_GROW(v, cap, *n + 1);
        entry_t *x = &v[(*n)++];
        memset(x, 0, sizeof(*x));
        memcpy(x->hex, e->d_name, 65);
        struct stat st;
        char *p = gt_strfmt("%s/%s/used", dir, e->d_name);
        if (stat(p, &st) == 0)
            x->used = st.st_mtim;
        free(p);
        p = gt_strfmt("%s/%s/size", dir, e->d_name);
        char *text = gt_read_file(p, NULL, NULL);
        x->size = text ? strtoull(text, NULL, 10) : 0;
        free(text);
        free(p);
    }
    if (d)
        closedir(d);
    free(dir);
    if (*n)
        qsort(v, *n, sizeof(*v), by_use);
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the blobs that no complete image's manifest names, unless a fetch is using blobs/
 * now (then the next eviction does it). */
static void collect_blobs(const image_cfg_t *cfg)
{
    char *bl = gt_strfmt("%s/locks/blobs", cfg->cache_dir);
    int fd = lock_open(bl, LOCK_EX | LOCK_NB, NULL);
    free(bl);
    if (fd < 0)
        return;
    size_t n, nk = 0, cap = 0;
    entry_t *v = list_images(cfg, &n);
    char **keep = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *m = load_blob(cfg, v[i].hex), *l;
        GT_GROW(keep, cap, nk + 2);
        keep[nk++] = xstrdup(v[i].hex);
        const char *h = digest_hex(json_string_value(json_object_get(json_object_get(m, "config"),
                                                                     "digest")));
        if (h)
            keep[nk++] = xstrdup(h);
        size_t k;
        json_array_foreach(json_object_get(m, "layers"), k, l) {
            if ((h = digest_hex(json_string_value(json_object_get(l, "digest"))))) {
                GT_GROW(keep, cap, nk + 1);
                keep[nk++] = xstrdup(h);
            }
        }
        json_decref(m);
    }
    if (nk)
        qsort(keep, nk, sizeof(*keep), cmp_str);
    char *dir = gt_strfmt("%s/blobs/sha256", cfg->cache_dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        const char *name = e->d_name;
        if (nk && bsearch(&name, keep, nk, sizeof(*keep), cmp_str))
            continue;
        unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d)
        closedir(d);
    free(dir);
    for (size_t i = 0; i < nk; i++)
        free(keep[i]);
    free(keep);
    free(v);
    close(fd);
}

int image_evict(const image_cfg_t *cfg, gt_error_t *err)
{
    if (!cfg || !cfg->cache_dir) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "no image cache directory");
    }
    if (!cfg->max_bytes)
        return 0;
    if (ensure_dirs(cfg, err) < 0)
        return -1;
    char *blobs = gt_strfmt("%s/blobs/sha256", cfg->cache_dir);
    int removed = 0;
    bool collected = false;
    for (;;) {
        size_t n;
        entry_t *v = list_images(cfg, &n);
        uint64_t total = dir_bytes(blobs, "");
        for (size_t i = 0; i < n; i++)
            total += v[i].size;
        bool gone = false;
        for (size_t i = 0; total > cfg->max_bytes && i < n && !gone; i++) {
            char *lp = gt_strfmt("%s/locks/%s", cfg->cache_dir, v[i].hex);
            int fd = lock_open(lp, LOCK_EX | LOCK_NB, NULL);
            free(lp);
            if (fd < 0)
                continue; /* held by a job (or being made ready for one) */
            char *from = gt_strfmt("%s/rootfs/%s", cfg->cache_dir, v[i].hex);
            char *to = gt_strfmt("%s/tmp/evict.%s.%d", cfg->cache_dir, v[i].hex, (int)getpid());
            if (rename(from, to) == 0) { /* gone at once for every reader; removed after */
                close(fd);
                fd = -1;
                remove_tree(to);
                removed++;
                gone = true;
            }
            if (fd >= 0)
                close(fd);
            free(from), free(to);
        }
        free(v);
        if (!gone) {
            /* nothing more to take: blobs of images removed earlier may still go */
            if (total > cfg->max_bytes && !collected) {
                collect_blobs(cfg);
                collected = true;
                continue;
            }
            break;
        }
        collect_blobs(cfg);
        collected = true;
    }
    free(blobs);
    return removed;
}
