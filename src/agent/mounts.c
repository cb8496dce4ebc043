/* mounts.c: a job's storage mounts: resolving a sub_path beneath its volume, and the private
 * mount (and network) namespace of a plain process job (mounts.h). */
#include "agent/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Symlinks followed in one resolution, as the kernel allows (MAXSYMLINKS). */
#define MAX_LINKS 40
/* Directories deep below the volume that a walk keeps open. */
#define MAX_DEPTH 128

/* ---- resolving (in the supervisor: allocation and messages allowed) ---- */

static const char *sub_of(const job_mount_t *m)
{
    return m->sub_path ? m->sub_path : "";
}

/* The checks that need no file system: an absolute sub_path, a ".." component. */
static int check_sub_path(const job_mount_t *m, gt_error_t *err)
{
    const char *sub = sub_of(m);
    if (!m->host_path || m->host_path[0] != '/') {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "volume path '%s' is not absolute",
                            m->host_path ? m->host_path : "(none)");
    }
    if (sub[0] == '/') {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "sub_path '%s' of volume %s is absolute; give it relative to the "
                            "volume",
                            sub, m->host_path);
    }
    for (const char *p = sub; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument",
                                "sub_path '%s' of volume %s has a '..' component; a mount "
                                "cannot leave its volume",
                                sub, m->host_path);
        }
        p += len;
        p += strspn(p, "/");
    }
    return 0;
}

static int open_volume(const job_mount_t *m, gt_error_t *err)
{
    int fd = open(m->host_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        gt_error_set(err, e == ENOENT ? "not_found" : "invalid_argument",
                     "cannot open volume path %s on this node: %s", m->host_path, strerror(e));
        errno = e;
    }
    return fd;
}

/* Fills m->source with the real path of fd (which it closes), a directory or a regular
 * file. */
static int finish(job_mount_t *m, int fd, gt_error_t *err)
{
    struct stat st;
    char proc[64], real[PATH_MAX];
    ssize_t n = -1;
    int e = 0;
    if (fstat(fd, &st) < 0) {
        e = errno;
        gt_error_set(err, "internal", "cannot stat sub_path '%s' of volume %s: %s", sub_of(m),
                     m->host_path, strerror(e));
        goto out;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        e = EINVAL;
        gt_error_set(err, "invalid_argument",
                     "sub_path '%s' of volume %s is neither a directory nor a regular file",
                     sub_of(m), m->host_path);
        goto out;
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    n = readlink(proc, real, sizeof(real) - 1);
    if (n < 0 || n == (ssize_t)sizeof(real) - 1 || real[0] != '/') {
        e = n < 0 ? errno : ENAMETOOLONG;
        gt_error_set(err, "internal", "cannot read the real path of sub_path '%s' of volume %s "
                     "(%s): %s", sub_of(m), m->host_path, proc, strerror(e));
        goto out;
    }
    real[n] = '\0';
    m->source = xstrdup(real);
out:
    close(fd);
    errno = e;
    return e ? -1 : 0;
}

/* Walks sub beneath the directory vfd one component at a time, never following a symlink
 * with the kernel: a relative one's target is spliced into what is left of the path (its ".."
 * components go up the directories walked so far, never above vfd); an absolute one is
 * refused. Returns an O_PATH descriptor of what sub names, or -1 with errno (EXDEV for an
 * escape) and in why the part of the path at fault. */
static int walk_beneath(int vfd, const char *sub, char *why, size_t whylen)
{
    char rest[2 * PATH_MAX], tmp[2 * PATH_MAX], name[NAME_MAX + 1], at[PATH_MAX] = "";
    char target[PATH_MAX], link[PATH_MAX + 64] = "";
    int stack[MAX_DEPTH];
    int depth = 0, links = 0, e = 0, fd = -1;
    stack[0] = vfd;
    why[0] = '\0';
    if (strlen(sub) >= sizeof(rest)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(rest, sub);
    char *p = rest;
    while (*p) {
        p += strspn(p, "/");
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        if (len > NAME_MAX) {
            e = ENAMETOOLONG;
            snprintf(why, whylen, "%.*s", (int)len, p);
            goto fail;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        p += len;
        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, "..")) {
            if (depth == 0) {
                e = EXDEV;
                snprintf(why, whylen, "%s%s goes above the volume", link[0] ? "the symlink " : "a '..'", link);
                goto fail;
            }
            close(stack[depth--]);
            char *slash = strrchr(at, '/');
            *(slash ? slash : at) = '\0';
            continue;
        }
        fd = openat(stack[depth], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            e = errno;
            snprintf(why, whylen, "%s%s%s", at, at[0] ? "/" : "", name);
            goto fail;
        }
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
            e = n < 0 ? errno : 0;
            close(fd);
            fd = -1;
            if (e)
                goto fail;
            target[n] = '\0';
            if (++links > MAX_LINKS) {
                e = ELOOP;
                snprintf(why, whylen, "%s%s%s", at, at[0] ? "/" : "", name);
                goto fail;
            }
            if (target[0] == '/') {
                e = EXDEV;
                snprintf(why, whylen, "the symlink %s%s%s points to the absolute path %s", at,
                         at[0] ? "/" : "", name, target);
                goto fail;
            }
            snprintf(link, sizeof(link), "%s%s%s -> %s", at, at[0] ? "/" : "", name, target);
            if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", target, p) >= sizeof(tmp)) {
                e = ENAMETOOLONG;
                goto fail;
            }
            strcpy(rest, tmp);
            p = rest;
            continue;
        }
        if (depth + 1 >= MAX_DEPTH ||
            strlen(at) + 1 + strlen(name) >= sizeof(at)) {
            e = ENAMETOOLONG;
            goto fail;
        }
        stack[++depth] = fd;
        fd = -1;
        if (at[0])
            strcat(at, "/");
        strcat(at, name);
    }
    fd = depth ? stack[depth] : fcntl(vfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        e = errno;
    if (depth)
        depth--;
fail:
    if (e && fd >= 0)
        close(fd);
    while (depth > 0)
        close(stack[depth--]);
    errno = e;
    return e ? -1 : fd;
}

static int refuse_escape(const job_mount_t *m, const char *why, gt_error_t *err)
{
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument",
                        "sub_path '%s' of volume %s leaves the volume: %s; a mount may follow "
                        "only relative symlinks that stay inside its volume",
                        sub_of(m), m->host_path, why);
}

static int walk_failed(const job_mount_t *m, int e, const char *why, gt_error_t *err)
{
    if (e == EXDEV)
        return refuse_escape(m, why[0] ? why : "a symlink along it points outside", err);
    gt_error_set(err, e == ENOENT ? "not_found" : "invalid_argument",
                 "cannot open sub_path '%s' of volume %s%s%s: %s", sub_of(m), m->host_path,
                 why[0] ? " at " : "", why, strerror(e));
    errno = e;
    return -1;
}

/* Walks m's sub_path beneath the volume vfd (closed here) and finishes m, or says why not. */
static int walk_from(job_mount_t *m, int vfd, gt_error_t *err)
{
    char why[PATH_MAX + 128];
    int fd = walk_beneath(vfd, sub_of(m), why, sizeof(why));
    int e = errno;
    close(vfd);
    if (fd < 0)
        return walk_failed(m, e, why, err);
    return finish(m, fd, err);
}

int mounts_resolve_walk(job_mount_t *m, gt_error_t *err)
{
    if (check_sub_path(m, err) < 0)
        return -1;
    int vfd = open_volume(m, err);
    if (vfd < 0)
        return -1;
    return walk_from(m, vfd, err);
}

int mounts_resolve(job_mount_t *m, gt_error_t *err)
{
    if (check_sub_path(m, err) < 0)
        return -1;
    int vfd = open_volume(m, err);
    if (vfd < 0)
        return -1;
    const char *sub = sub_of(m);
    if (!sub[0])
        return finish(m, vfd, err);
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, vfd, sub, &how, sizeof(how));
    if (fd >= 0) {
        close(vfd);
        return finish(m, fd, err);
    }
    int e = errno;
    if (e == ENOSYS) /* no openat2 (before 5.6): the walk decides */
        return walk_from(m, vfd, err);
    /* An escape or error: the walk names the component at fault. */
    char why[PATH_MAX + 128];
    fd = walk_beneath(vfd, sub, why, sizeof(why));
    int we = errno;
    close(vfd);
    if (fd >= 0) /* the walk found no fault, the kernel did (a magic link, a race) */
        close(fd);
    if (e == EXDEV || (fd < 0 && we == EXDEV))
        return refuse_escape(m, fd < 0 && we == EXDEV ? why : "a symlink along it points "
                             "outside the volume or is absolute", err);
    return walk_failed(m, e, fd < 0 && we == e ? why : "", err);
}

/* ---- entering (in a vfork child: system calls only, no allocation, no stdio) ---- */

/* Concatenates the strings up to NULL into buf (truncating). */
static void say(char *buf, size_t len, ...)
{
    if (!buf || !len)
        return;
    size_t at = 0;
    va_list ap;
    va_start(ap, len);
    for (const char *s; (s = va_arg(ap, const char *));)
        while (*s && at + 1 < len)
            buf[at++] = *s++;
    va_end(ap);
    buf[at] = '\0';
}

/* Why errno e, without locale or allocation (strerror may translate and allocate). */
static const char *why(int e)
{
    const char *s = strerrordesc_np(e);
    return s ? s : "unknown error";
}

static int fail(int e, char *errbuf, size_t errlen, const char *a, const char *b,
                const char *c, const char *d)
{
    say(errbuf, errlen, a, b ? b : "", c ? c : "", d ? d : "", ": ", why(e), (char *)NULL);
    errno = e;
    return -1;
}

/* Opens the absolute path src (O_PATH) refusing a symlink anywhere along it: src is a real
 * path from mounts_resolve, so a symlink there now means the volume changed since. */
static int open_no_symlinks(const char *src)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, src, &how, sizeof(how));
    if (fd >= 0 || errno != ENOSYS)
        return fd;
    /* before 5.6: one component at a time */
    char name[NAME_MAX + 1];
    int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (const char *p = src; dir >= 0;) {
        p += strspn(p, "/");
        size_t len = strcspn(p, "/");
        if (len == 0)
            return dir;
        if (len > NAME_MAX) {
            close(dir);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        p += len;
        fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        int e = fd < 0 ? errno : fstat(fd, &st) < 0 ? errno : S_ISLNK(st.st_mode) ? ELOOP : 0;
        close(dir);
        if (e) {
            if (fd >= 0)
                close(fd);
            errno = e;
            return -1;
        }
        dir = fd;
    }
    return -1;
}

/* "/proc/self/fd/N" into buf (32 bytes). */
static void fd_path(int fd, char *buf)
{
    char digits[16];
    int n = 0;
    unsigned v = (unsigned)fd;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    const char *pre = "/proc/self/fd/";
    size_t at = strlen(pre);
    memcpy(buf, pre, at);
    while (n)
        buf[at++] = digits[--n];
    buf[at] = '\0';
}

/* nosuid, nodev (and rdonly) on the mount at path and every mount below it. */
static int restrict_mount(const char *path, bool read_only)
{
#if defined(SYS_mount_setattr) && defined(MOUNT_ATTR_RDONLY)
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                          (read_only ? MOUNT_ATTR_RDONLY : 0)};
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
        return 0;
    if (errno != ENOSYS)
        return -1;
#endif
    /* before 5.12: the top mount only; keep the flags it has (noexec, atime) */
    struct statfs sf;
    if (statfs(path, &sf) < 0)
        return -1;
    unsigned long keep = (unsigned long)sf.f_flags &
                         (MS_RDONLY | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
    return mount(NULL, path, NULL,
                 MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | keep |
                     (read_only ? MS_RDONLY : 0),
                 NULL);
}

static int bind_one(const job_mount_t *m, char *errbuf, size_t errlen)
{
    struct stat st;
    if (stat(m->path, &st) < 0) {
        int e = errno;
        if (e == ENOENT)
            return fail(e, errbuf, errlen, "mount path ", m->path,
                        " does not exist on the node (a plain process job shares the node's "
                        "root: an administrator creates it, or the job runs in an image)",
                        NULL);
        return fail(e, errbuf, errlen, "cannot use mount path ", m->path, NULL, NULL);
    }
    int fd = open_no_symlinks(m->source);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return fail(e, errbuf, errlen, "volume source ", m->source,
                        " changed since it was resolved (a symlink along it now)", NULL);
        return fail(e, errbuf, errlen, "cannot open volume source ", m->source, NULL, NULL);
    }
    char proc[32];
    fd_path(fd, proc);
    int rc = mount(proc, m->path, NULL, MS_BIND | MS_REC, NULL);
    int e = errno;
    close(fd);
    if (rc < 0)
        return fail(e, errbuf, errlen, "cannot bind ", m->source, " at ", m->path);
    if (restrict_mount(m->path, m->read_only) < 0)
        return fail(errno, errbuf, errlen, "cannot make the mount at ", m->path,
                    m->read_only ? " read-only" : " nosuid,nodev", NULL);
    return 0;
}

static int loopback_up(char *errbuf, size_t errlen)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return fail(errno, errbuf, errlen, "cannot open a socket in the job's network "
                    "namespace", NULL, NULL, NULL);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    if (rc < 0)
        return fail(e, errbuf, errlen, "cannot bring loopback up in the job's network "
                    "namespace", NULL, NULL, NULL);
    return 0;
}

int mounts_enter(const job_mount_t *m, size_t n, bool network_none, char *errbuf,
                 size_t errlen)
{
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (n == 0 && !network_none)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!m[i].path || m[i].path[0] != '/')
            return fail(EINVAL, errbuf, errlen, "mount path '", m[i].path ? m[i].path : "",
                        "' is not absolute", NULL);
        if (!m[i].source)
            return fail(EINVAL, errbuf, errlen, "the mount at ", m[i].path,
                        " was not resolved (mounts_resolve first)", NULL);
    }
    if (unshare(CLONE_NEWNS | (network_none ? CLONE_NEWNET : 0)) < 0)
        return fail(errno, errbuf, errlen, "cannot make the job's private mount",
                    network_none ? " and network namespaces" : " namespace", NULL, NULL);
    /* Slave, not private: the node's later mounts (an automounted volume) still reach the
     * job; nothing the job mounts reaches the node. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return fail(errno, errbuf, errlen, "cannot stop the job's mounts from propagating to "
                    "the node", NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        if (bind_one(&m[i], errbuf, errlen) < 0)
            return -1;
    if (n > 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return fail(errno, errbuf, errlen, "cannot set no_new_privs", NULL, NULL, NULL);
    if (network_none && loopback_up(errbuf, errlen) < 0)
        return -1;
    return 0;
}
