#include "common/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PATH_MAX_BYTES 4096
#define MAX_DEPTH 256
#define HASH_BUF (1 << 20)

manifest_t *manifest_new(void)
{
    return xcalloc(1, sizeof(manifest_t));
}

void manifest_free(manifest_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->entries[i].path);
        free(m->entries[i].link);
    }
    free(m->entries);
    free(m);
}

void manifest_add(manifest_t *m, const char *path, uint64_t size, const char hex[65],
                  const char *link)
{
    GT_GROW(m->entries, m->cap, m->n + 1);
    manifest_entry_t *e = &m->entries[m->n++];
    e->path = xstrdup(path);
    e->size = size;
    memcpy(e->sha256, hex, 64);
    e->sha256[64] = '\0';
    e->link = link ? xstrdup(link) : NULL;
}

/* Well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF) without control
 * characters (C0 and DEL). */
static bool text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        int n;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return false;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

bool manifest_path_ok(const char *p)
{
    if (!p || !*p || strlen(p) > PATH_MAX_BYTES || !text_ok(p))
        return false;
    for (const char *c = p;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (!slash)
            return true;
        c = slash + 1;
    }
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const manifest_entry_t *)a)->path, ((const manifest_entry_t *)b)->path);
}

static int path_in(const manifest_t *m, const char *p)
{
    manifest_entry_t key = {.path = (char *)p};
    return bsearch(&key, m->entries, m->n, sizeof(key), entry_cmp) != NULL;
}

int manifest_finish(manifest_t *m, gt_error_t *err)
{
    if (m->n > 1) /* qsort of NULL, 0 is undefined */
        qsort(m->entries, m->n, sizeof(*m->entries), entry_cmp);
    uint64_t total = 0;
    char buf[PATH_MAX_BYTES + 1];
    for (size_t i = 0; i < m->n; i++) {
        const manifest_entry_t *e = &m->entries[i];
        if (!manifest_path_ok(e->path))
            return gt_error_invalid(err, "manifest path '%.200s' is not a relative path of "
                                    "UTF-8 names without '.', '..', empty names or control "
                                    "characters", e->path);
        if (i > 0 && !strcmp(e->path, m->entries[i - 1].path))
            return gt_error_invalid(err, "manifest path '%.200s' is listed twice", e->path);
        if (!gt_sha256_hex_ok(e->sha256))
            return gt_error_invalid(err, "manifest entry '%.200s': sha256 must be 64 lowercase "
                                    "hex digits", e->path);
        if (e->link) {
            char hex[65];
            gt_sha256_hex(e->link, strlen(e->link), hex);
            if (!*e->link || !text_ok(e->link) || e->size != strlen(e->link) ||
                strcmp(hex, e->sha256))
                return gt_error_invalid(err, "manifest entry '%.200s': a link's size and sha256 "
                                        "are its target's length and digest", e->path);
        } else {
            total += e->size;
        }
        /* no entry may be a directory of another: "a" (a file or link) and "a/b" */
        snprintf(buf, sizeof(buf), "%s", e->path);
        for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
            *s = '\0';
            int found = path_in(m, buf);
            *s = '/';
            if (found)
                return gt_error_invalid(err, "manifest entry '%.200s' lies under '%.*s', which "
                                        "is a file or link", e->path, (int)(s - buf), buf);
        }
    }
    m->size = total;
    return 0;
}

/* ---- building from the file system ---- */

typedef struct build {
    manifest_t *m;
    int rootfd;
    const char *root;       /* for messages */
    atomic_size_t next;     /* the next entry a worker hashes */
    atomic_bool failed;
    pthread_mutex_t lock;   /* guards err, errno_ */
    gt_error_t *err;
    int errno_;
} build_t;

static int build_fail(build_t *b, int e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int build_fail(build_t *b, int e, const char *code, const char *fmt, ...)
{
    pthread_mutex_lock(&b->lock);
    if (!atomic_load(&b->failed)) {
        atomic_store(&b->failed, true);
        b->errno_ = e;
        if (b->err) {
            va_list ap;
            va_start(ap, fmt);
            snprintf(b->err->code, sizeof(b->err->code), "%s", code);
            vsnprintf(b->err->msg, sizeof(b->err->msg), fmt, ap);
            va_end(ap);
        }
    }
    pthread_mutex_unlock(&b->lock);
    return -1;
}

static const char *kind_name(mode_t mode)
{
    return S_ISFIFO(mode) ? "a FIFO" : S_ISSOCK(mode) ? "a socket" :
           S_ISCHR(mode)  ? "a character device" : S_ISBLK(mode) ? "a block device" :
                            "not a regular file";
}

static int walk(build_t *b, int dirfd, gt_buf_t *rel, int depth)
{
    if (depth > MAX_DEPTH)
        return build_fail(b, ELOOP, "invalid_argument", "%s/%s: deeper than %d directories",
                          b->root, rel->data, MAX_DEPTH);
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return build_fail(b, e, "io_error", "cannot read directory %s/%s: %s", b->root,
                          rel->data ? rel->data : "", strerror(e));
    }
    rewinddir(d);
    size_t base = rel->len;
    int rc = 0;
    struct dirent *de;
    for (errno = 0; rc == 0 && (de = readdir(d)); errno = 0) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        rel->len = base;
        if (base)
            gt_buf_append(rel, "/", 1);
        gt_buf_append(rel, name, strlen(name));
        if (!text_ok(name) || rel->len > PATH_MAX_BYTES) {
            rc = build_fail(b, EINVAL, "invalid_argument", "%s/%s: a name that is not UTF-8, "
                            "has control characters, or a path longer than %d bytes", b->root,
                            rel->data, PATH_MAX_BYTES);
            break;
        }
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            int e = errno;
            rc = build_fail(b, e, "io_error", "cannot stat %s/%s: %s", b->root, rel->data,
                            strerror(e));
        } else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                int e = errno;
                rc = build_fail(b, e, "io_error", "cannot open directory %s/%s: %s", b->root,
                                rel->data, strerror(e));
            } else {
                rc = walk(b, sub, rel, depth + 1);
                close(sub);
            }
        } else if (S_ISREG(st.st_mode)) {
            static const char zero[65] = "0000000000000000000000000000000000000000000000000000"
                                         "000000000000";
            manifest_add(b->m, rel->data, (uint64_t)st.st_size, zero, NULL);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX_BYTES + 1];
            ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
            if (n < 0 || n > PATH_MAX_BYTES) {
                int e = n < 0 ? errno : ENAMETOOLONG;
                rc = build_fail(b, e, "io_error", "cannot read link %s/%s: %s", b->root,
                                rel->data, strerror(e));
            } else {
                target[n] = '\0';
                if (!n || !text_ok(target)) {
                    rc = build_fail(b, EINVAL, "invalid_argument", "%s/%s: a link whose target "
                                    "is not UTF-8 or has control characters", b->root,
                                    rel->data);
                } else {
                    char hex[65];
                    gt_sha256_hex(target, (size_t)n, hex);
                    manifest_add(b->m, rel->data, (uint64_t)n, hex, target);
                }
            }
        } else {
            rc = build_fail(b, EINVAL, "invalid_argument", "%s/%s is %s: an artifact holds "
                            "regular files, directories and symbolic links only", b->root,
                            rel->data, kind_name(st.st_mode));
        }
    }
    if (rc == 0 && errno) {
        int e = errno;
        rc = build_fail(b, e, "io_error", "cannot read directory %s: %s", b->root, strerror(e));
    }
    rel->len = base;
    if (rel->data)
        rel->data[base] = '\0';
    closedir(d);
    return rc;
}

/* Opens rel beneath dirfd for reading without following any symbolic link on the way. */
static int open_beneath(int dirfd, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                      RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    if (fd >= 0 || errno != ENOSYS)
        return fd;
    /* no openat2 (before Linux 5.6): one component at a time, none followed */
    char buf[PATH_MAX_BYTES + 1];
    snprintf(buf, sizeof(buf), "%s", rel);
    int cur = dirfd;
    char *s = buf;
    for (char *slash; (slash = strchr(s, '/')); s = slash + 1) {
        *slash = '\0';
        int next = openat(cur, s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        if (cur != dirfd)
            close(cur);
        if (next < 0) {
            errno = e;
            return -1;
        }
        cur = next;
    }
    fd = openat(cur, s, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int e = errno;
    if (cur != dirfd)
        close(cur);
    errno = e;
    return fd;
}

static bool same_time(const struct stat *a, const struct stat *b)
{
    return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void *hash_worker(void *arg)
{
    build_t *b = arg;
    void *buf = xmalloc(HASH_BUF);
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->m->n || atomic_load(&b->failed))
            break;
        manifest_entry_t *e = &b->m->entries[i];
        if (e->link)
            continue;
        int fd = open_beneath(b->rootfd, e->path);
        if (fd < 0) {
            int er = errno;
            build_fail(b, er, er == ELOOP || er == EXDEV ? "changed" : "io_error",
                       "cannot open %s/%s: %s", b->root, e->path,
                       er == ELOOP || er == EXDEV ? "a symbolic link appeared on its path "
                                                    "while the tree was hashed" : strerror(er));
            break;
        }
        struct stat before, after;
        gt_error_t ferr = {0};
        char what[PATH_MAX_BYTES + 64];
        snprintf(what, sizeof(what), "%s/%s", b->root, e->path);
        if (fstat(fd, &before) < 0 || !S_ISREG(before.st_mode)) {
            close(fd);
            build_fail(b, EAGAIN, "changed", "%s is no longer a regular file", what);
            break;
        }
        fcntl(fd, F_SETFL, 0);
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        uint64_t size = 0;
        if (gt_sha256_fd(fd, what, buf, HASH_BUF, e->sha256, &size, &ferr) < 0) {
            int er = errno;
            close(fd);
            build_fail(b, er, ferr.code, "%s", ferr.msg);
            break;
        }
        int st_rc = fstat(fd, &after);
        close(fd);
        if (st_rc < 0 || !same_time(&before, &after) || size != (uint64_t)after.st_size) {
            build_fail(b, EAGAIN, "changed", "%s changed while it was hashed: hash it again "
                       "once nothing writes to it", what);
            break;
        }
        e->size = size;
    }
    free(buf);
    return NULL;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

int manifest_of_path(const char *path, int threads, manifest_t **out, gt_error_t *err)
{
    build_t b = {.m = manifest_new(), .root = path, .err = err, .rootfd = -1};
    pthread_mutex_init(&b.lock, NULL);
    atomic_init(&b.next, 0);
    atomic_init(&b.failed, false);
    int rc = -1;
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        build_fail(&b, e, "io_error", "cannot open %s: %s", path, strerror(e));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        b.rootfd = fd;
        fd = -1;
        gt_buf_t rel = {0};
        gt_buf_append(&rel, "", 0);
        int wrc = walk(&b, b.rootfd, &rel, 0);
        gt_buf_free(&rel);
        if (wrc < 0)
            goto out;
    } else if (S_ISREG(st.st_mode)) {
        /* one file: its parent is the root, its last name the entry */
        char *copy = xstrdup(path);
        size_t l = strlen(copy);
        while (l > 1 && copy[l - 1] == '/')
            copy[--l] = '\0';
        char *slash = strrchr(copy, '/');
        const char *name = slash ? slash + 1 : copy;
        if (!manifest_path_ok(name) || strchr(name, '/')) {
            build_fail(&b, EINVAL, "invalid_argument", "%s: a name that is not UTF-8 or has "
                       "control characters", path);
            free(copy);
            goto out;
        }
        manifest_add(b.m, name, (uint64_t)st.st_size,
                     "0000000000000000000000000000000000000000000000000000000000000000", NULL);
        if (slash == copy)
            b.rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else if (slash) {
            *slash = '\0';
            b.rootfd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else {
            b.rootfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        free(copy);
        if (b.rootfd < 0) {
            int e = errno;
            build_fail(&b, e, "io_error", "cannot open the directory of %s: %s", path,
                       strerror(e));
            goto out;
        }
    } else {
        build_fail(&b, EINVAL, "invalid_argument", "%s is %s: an artifact holds regular files, "
                   "directories and symbolic links only", path, kind_name(st.st_mode));
        goto out;
    }
    /* sorted first: workers then fill entries in path order, and the result is the same
     * whatever the order readdir gave */
    if (b.m->n > 1)
        qsort(b.m->entries, b.m->n, sizeof(*b.m->entries), entry_cmp);
    if (threads <= 0)
        threads = online_cpus();
    if ((size_t)threads > b.m->n)
        threads = b.m->n ? (int)b.m->n : 1;
    pthread_t tid[64];
    if (threads > 64)
        threads = 64;
    int started = 0;
    for (int i = 1; i < threads; i++)
        if (pthread_create(&tid[started], NULL, hash_worker, &b) == 0)
            started++;
    hash_worker(&b);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    if (atomic_load(&b.failed))
        goto out;
    gt_error_t ferr = {0};
    if (manifest_finish(b.m, &ferr) < 0) {
        build_fail(&b, EINVAL, ferr.code, "%s", ferr.msg);
        goto out;
    }
    *out = b.m;
    b.m = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (b.rootfd >= 0)
        close(b.rootfd);
    manifest_free(b.m);
    pthread_mutex_destroy(&b.lock);
    if (rc < 0)
        errno = b.errno_;
    return rc;
}

/* ---- canonical form, digest, JSON ---- */

static void put_string(gt_buf_t *b, const char *s)
{
    gt_buf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\f': esc = "\\f"; break;
        case '\r': esc = "\\r"; break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof(u), "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) {
            gt_buf_append(b, run, (size_t)(p - run));
            gt_buf_append(b, esc, strlen(esc));
            run = p + 1;
        }
    }
    gt_buf_append(b, run, strlen(run));
    gt_buf_append(b, "\"", 1);
}

char *manifest_canonical(const manifest_t *m, size_t *len)
{
    gt_buf_t b = {0};
    gt_buf_append(&b, "[", 1);
    for (size_t i = 0; i < m->n; i++) {
        const manifest_entry_t *e = &m->entries[i];
        gt_buf_append(&b, i ? ",{" : "{", i ? 2 : 1);
        if (e->link) {
            gt_buf_append(&b, "\"link\":", 7);
            put_string(&b, e->link);
            gt_buf_append(&b, ",", 1);
        }
        gt_buf_append(&b, "\"path\":", 7);
        put_string(&b, e->path);
        gt_buf_printf(&b, ",\"sha256\":\"%s\",\"size\":%llu}", e->sha256,
                      (unsigned long long)e->size);
    }
    gt_buf_append(&b, "]", 1);
    if (len)
        *len = b.len;
    return b.data;
}

void manifest_digest(const manifest_t *m, char out[GT_DIGEST_LEN])
{
    size_t len;
    char *c = manifest_canonical(m, &len);
    char hex[65];
    gt_sha256_hex(c, len, hex);
    free(c);
    snprintf(out, GT_DIGEST_LEN, "sha256:%s", hex);
}

json_t *manifest_to_json(const manifest_t *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n; i++) {
        const manifest_entry_t *e = &m->entries[i];
        json_t *o = json_pack("{s:s, s:I, s:s}", "path", e->path, "size", (json_int_t)e->size,
                              "sha256", e->sha256);
        if (e->link)
            json_object_set_new(o, "link", json_string(e->link));
        json_array_append_new(a, o);
    }
    return a;
}

int manifest_from_json(const json_t *j, size_t max_entries, manifest_t **out, gt_error_t *err)
{
    if (!json_is_array(j))
        return gt_error_invalid(err, "manifest must be an array of {path, size, sha256}");
    if (max_entries && json_array_size(j) > max_entries)
        return gt_error_invalid(err, "manifest has %zu entries, more than the %zu allowed",
                                json_array_size(j), max_entries);
    manifest_t *m = manifest_new();
    size_t i;
    json_t *o;
    json_array_foreach(j, i, o) {
        json_t *p = json_object_get(o, "path"), *s = json_object_get(o, "size"),
               *h = json_object_get(o, "sha256"), *l = json_object_get(o, "link");
        if (!json_is_object(o) || !json_is_string(p) || !json_is_integer(s) ||
            json_integer_value(s) < 0 || !json_is_string(h) || (l && !json_is_string(l)) ||
            json_object_size(o) != 3u + (l ? 1u : 0u)) {
            manifest_free(m);
            return gt_error_invalid(err, "manifest entry %zu must be {path: string, size: "
                                    "integer >= 0, sha256: 64 hex digits[, link: string]} and "
                                    "nothing else", i);
        }
        if (!gt_sha256_hex_ok(json_string_value(h))) {
            manifest_free(m);
            return gt_error_invalid(err, "manifest entry '%.200s': sha256 must be 64 lowercase "
                                    "hex digits", json_string_value(p));
        }
        manifest_add(m, json_string_value(p), (uint64_t)json_integer_value(s),
                     json_string_value(h), l ? json_string_value(l) : NULL);
    }
    if (manifest_finish(m, err) < 0) {
        manifest_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

static void report_line(gt_buf_t *report, size_t *lines, size_t max, const char *what,
                        const char *path)
{
    if (report && (*lines)++ < max)
        gt_buf_printf(report, "%s %s\n", what, path);
}

size_t manifest_compare(const manifest_t *want, const manifest_t *got, gt_buf_t *report,
                        size_t max_lines)
{
    size_t i = 0, j = 0, diff = 0, lines = 0;
    while (i < want->n || j < got->n) {
        int c = i >= want->n ? 1 : j >= got->n ? -1 :
                strcmp(want->entries[i].path, got->entries[j].path);
        if (c < 0) {
            report_line(report, &lines, max_lines, "missing", want->entries[i++].path);
            diff++;
        } else if (c > 0) {
            report_line(report, &lines, max_lines, "added", got->entries[j++].path);
            diff++;
        } else {
            const manifest_entry_t *a = &want->entries[i++], *b = &got->entries[j++];
            if (a->size != b->size || strcmp(a->sha256, b->sha256) || !a->link != !b->link) {
                report_line(report, &lines, max_lines, "changed", a->path);
                diff++;
            }
        }
    }
    if (report && lines > max_lines)
        gt_buf_printf(report, "... and %zu more\n", lines - max_lines);
    return diff;
}
