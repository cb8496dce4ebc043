/* mounts: a sub_path cannot leave its volume (both resolvers: openat2 and the walk), and, as
 * root (else skipped), a child after mounts_enter sees its binds with the right access, the
 * node sees nothing of them, and network none leaves only loopback, up. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/mounts.h"
#include "tap.h"

static char top[64];      /* the test's directory: vol/ (the volume) and node/ (mount paths) */
static char vol[128];     /* its real path, as mounts_resolve reports sources */
static char node[128];

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", vol, rel);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void dir(const char *base, const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    mkdir(p, 0755);
}

static void link_(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", vol, rel);
    if (symlink(target, p) < 0)
        diag("symlink %s: %s", p, strerror(errno));
}

static void setup(void)
{
    strcpy(top, "/tmp/gantry-mounts-XXXXXX");
    if (!mkdtemp(top))
        exit(1);
    char *real = realpath(top, NULL);
    snprintf(vol, sizeof(vol), "%s/vol", real);
    snprintf(node, sizeof(node), "%s/node", real);
    free(real);
    mkdir(vol, 0755);
    mkdir(node, 0755);
    dir(vol, "data");
    dir(vol, "data/sub");
    dir(vol, "rw");
    dir(vol, "swap");
    put("data/file", "hello");
    link_("data", "inner");            /* relative, inside: allowed */
    link_("../data", "data/up");       /* a ".." in a target that stays inside: allowed */
    link_("sub/../file", "data/viasub");
    link_("/etc", "etc");              /* absolute: refused */
    link_(vol, "self");                /* absolute even though it names the volume: refused */
    link_("../../../../../../../../etc", "esc");   /* relative but leaves: refused */
    link_("../..", "data/up2");        /* the volume's parent: refused */
    link_("loop", "loop");
    char fifo[512];
    snprintf(fifo, sizeof(fifo), "%s/fifo", vol);
    mkfifo(fifo, 0644);
    dir(node, "ro");
    dir(node, "rw");
    dir(node, "swap");
    char f[512];
    snprintf(f, sizeof(f), "%s/file", node);
    close(open(f, O_CREAT | O_WRONLY, 0644));
}

typedef int (*resolver_t)(job_mount_t *, gt_error_t *);

static void check_resolve(resolver_t resolve, const char *which)
{
    static const struct {
        const char *sub;
        int err;          /* 0 = resolves */
        const char *want; /* the source below the volume ("" = the volume) */
        const char *msg;  /* in the message when refused */
    } cases[] = {
        {"", 0, "", NULL},
        {NULL, 0, "", NULL},
        {".", 0, "", NULL},
        {"data", 0, "/data", NULL},
        {"data/", 0, "/data", NULL},
        {"./data//file", 0, "/data/file", NULL},
        {"inner", 0, "/data", NULL},
        {"inner/file", 0, "/data/file", NULL},
        {"data/up/file", 0, "/data/file", NULL},
        {"data/viasub", 0, "/data/file", NULL},
        {"/etc", EINVAL, NULL, "is absolute"},
        {"/", EINVAL, NULL, "is absolute"},
        {"..", EINVAL, NULL, "'..' component"},
        {"../etc", EINVAL, NULL, "'..' component"},
        {"data/..", EINVAL, NULL, "'..' component"},
        {"data/../../etc", EINVAL, NULL, "'..' component"},
        {"etc", EINVAL, NULL, "leaves the volume"},
        {"etc/passwd", EINVAL, NULL, "leaves the volume"},
        {"self", EINVAL, NULL, "leaves the volume"},
        {"esc", EINVAL, NULL, "leaves the volume"},
        {"data/up2", EINVAL, NULL, "leaves the volume"},
        {"data/up2/etc", EINVAL, NULL, "leaves the volume"},
        {"inner/up2/vol", EINVAL, NULL, "leaves the volume"},
        {"missing", ENOENT, NULL, "No such file"},
        {"data/missing/x", ENOENT, NULL, "No such file"},
        {"data/file/x", ENOTDIR, NULL, "Not a directory"},
        {"loop", ELOOP, NULL, "symbolic links"},
        {"fifo", EINVAL, NULL, "neither a directory nor a regular file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        job_mount_t m = {.host_path = vol, .sub_path = cases[i].sub, .path = "/data"};
        gt_error_t err = {0};
        errno = 0;
        int rc = resolve(&m, &err);
        const char *sub = cases[i].sub ? cases[i].sub : "(null)";
        if (!cases[i].err) {
            char want[512];
            snprintf(want, sizeof(want), "%s%s", vol, cases[i].want);
            is_int(rc, 0, "%s: '%s' resolves (%s)", which, sub, err.msg);
            is_str(m.source, want, "%s: '%s' is %s", which, sub, want);
        } else {
            is_int(rc == -1 ? errno : 0, cases[i].err, "%s: '%s' is refused with %s", which,
                   sub, strerror(cases[i].err));
            ok(m.source == NULL, "%s: '%s' leaves no source", which, sub);
            ok(strstr(err.msg, cases[i].msg) && strstr(err.msg, vol) &&
                   (!cases[i].sub[0] || strstr(err.msg, cases[i].sub)),
               "%s: the message names the volume and sub_path and says '%s': %s", which,
               cases[i].msg, err.msg);
        }
        free(m.source);
    }
    job_mount_t m = {.host_path = "relative/vol", .sub_path = "", .path = "/data"};
    gt_error_t err = {0};
    is_int(resolve(&m, &err) == -1 ? errno : 0, EINVAL, "%s: a relative volume path: EINVAL",
           which);
    char missing[512];
    snprintf(missing, sizeof(missing), "%s/nothing", vol);
    m.host_path = missing;
    is_int(resolve(&m, &err) == -1 ? errno : 0, ENOENT, "%s: a missing volume: ENOENT", which);
    ok(strstr(err.msg, missing) != NULL, "%s: names it: %s", which, err.msg);
}

/* ---- as root: a child in its own namespaces ---- */

#define NRES 12
typedef struct {
    int res[NRES];
    char msg[512];
} report_t;

typedef void (*child_fn)(report_t *r, void *arg);

/* Runs fn in a forked child and returns what it reported (res all -1 if it died). */
static report_t in_child(child_fn fn, void *arg)
{
    report_t r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < NRES; i++)
        r.res[i] = -1;
    int pfd[2];
    if (pipe(pfd) < 0)
        return r;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        report_t c;
        memset(&c, 0, sizeof(c));
        fn(&c, arg);
        ssize_t w = write(pfd[1], &c, sizeof(c));
        _exit(w == (ssize_t)sizeof(c) ? 0 : 1);
    }
    close(pfd[1]);
    report_t got;
    if (read(pfd[0], &got, sizeof(got)) == (ssize_t)sizeof(got))
        r = got;
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    return r;
}

/* errno of open(path, flags) (0 = opened; a write goes through when it opened for writing) */
static int try_open(const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    if (fd < 0)
        return errno;
    int e = 0;
    if ((flags & O_ACCMODE) != O_RDONLY && write(fd, "x", 1) != 1)
        e = errno;
    close(fd);
    return e;
}

static bool mounted_at(const char *path)
{
    char *info = gt_read_file("/proc/self/mountinfo", NULL, NULL);
    bool found = info && strstr(info, path) != NULL;
    free(info);
    return found;
}

typedef struct {
    job_mount_t *m;
    size_t n;
    bool net_none;
} enter_args_t;

static void p(char *buf, const char *rel)
{
    snprintf(buf, 512, "%s/%s", node, rel);
}

static void child_binds(report_t *r, void *arg)
{
    enter_args_t *a = arg;
    char path[512];
    r->res[0] = mounts_enter(a->m, a->n, false, r->msg, sizeof(r->msg)) < 0 ? errno : 0;
    p(path, "ro/file");
    r->res[1] = try_open(path, O_RDONLY);
    p(path, "ro/new");
    r->res[2] = try_open(path, O_CREAT | O_WRONLY);
    p(path, "rw/new");
    r->res[3] = try_open(path, O_CREAT | O_WRONLY);
    p(path, "ro/sub/new");
    r->res[4] = try_open(path, O_CREAT | O_WRONLY);
    r->res[5] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    p(path, "file");
    r->res[6] = try_open(path, O_WRONLY);
    char text[16] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(text, sizeof(text), f))
            text[0] = '\0';
        fclose(f);
    }
    r->res[7] = strcmp(text, "hello") == 0;
    r->res[8] = mounted_at(node);
}

static void test_binds(void)
{
    /* a mount inside the volume: read-only must reach it too */
    char sub[512];
    snprintf(sub, sizeof(sub), "%s/data/sub", vol);
    if (mount("tmpfs", sub, "tmpfs", 0, "size=1m") < 0)
        diag("cannot mount a tmpfs at %s: %s", sub, strerror(errno));
    char ro[512], rw[512], file[512];
    p(ro, "ro");
    p(rw, "rw");
    p(file, "file");
    job_mount_t m[3] = {
        {.host_path = vol, .sub_path = "inner", .path = ro, .read_only = true},
        {.host_path = vol, .sub_path = "rw", .path = rw, .read_only = false},
        {.host_path = vol, .sub_path = "data/file", .path = file, .read_only = true},
    };
    gt_error_t err = {0};
    for (int i = 0; i < 3; i++)
        is_int(mounts_resolve(&m[i], &err), 0, "resolves %s (%s)", m[i].sub_path, err.msg);
    enter_args_t a = {m, 3, false};
    report_t r = in_child(child_binds, &a);
    is_int(r.res[0], 0, "mounts_enter binds three mounts (%s)", r.msg);
    is_int(r.res[1], 0, "the child sees the volume's file at its mount path");
    is_int(r.res[2], EROFS, "a write to the read-only mount fails with EROFS");
    is_int(r.res[3], 0, "a write to the read-write mount works");
    is_int(r.res[4], EROFS, "a mount inside a read-only volume is read-only too");
    is_int(r.res[5], 1, "the job runs with no_new_privs");
    is_int(r.res[6], EROFS, "a read-only file bind cannot be written");
    is_int(r.res[7], 1, "the file bind shows the volume's file");
    is_int(r.res[8], 1, "the child's mountinfo has the binds");
    ok(!mounted_at(node), "nothing is mounted under %s in the parent's namespace", node);
    char path[512];
    snprintf(path, sizeof(path), "%s/rw/new", vol);
    is_int(access(path, F_OK), 0, "the child's write is on the volume, seen by the node");
    snprintf(path, sizeof(path), "%s/data/new", vol);
    ok(access(path, F_OK) != 0, "nothing was written through the read-only mount");
    p(path, "rw/new");
    ok(access(path, F_OK) != 0, "nor on the node's own directory under the mount path");
    for (int i = 0; i < 3; i++)
        free(m[i].source);
    umount(sub);
}

static void child_enter_only(report_t *r, void *arg)
{
    enter_args_t *a = arg;
    r->res[0] = mounts_enter(a->m, a->n, a->net_none, r->msg, sizeof(r->msg)) < 0 ? errno : 0;
}

static void test_refusals(void)
{
    char missing[512], swap[512];
    p(missing, "missing");
    job_mount_t m = {.host_path = vol, .sub_path = "data", .path = missing};
    gt_error_t err = {0};
    mounts_resolve(&m, &err);
    enter_args_t a = {&m, 1, false};
    report_t r = in_child(child_enter_only, &a);
    is_int(r.res[0], ENOENT, "a mount path missing on the node: ENOENT");
    ok(strstr(r.msg, missing) && strstr(r.msg, "does not exist on the node"),
       "the message names it: %s", r.msg);
    free(m.source);

    /* the volume changes between resolve and bind: a directory swapped for a symlink */
    p(swap, "swap");
    job_mount_t s = {.host_path = vol, .sub_path = "swap", .path = swap};
    is_int(mounts_resolve(&s, &err), 0, "resolves swap (%s)", err.msg);
    char from[512], to[512];
    snprintf(from, sizeof(from), "%s/swap", vol);
    snprintf(to, sizeof(to), "%s/swap.old", vol);
    rename(from, to);
    if (symlink("/etc", from) < 0)
        diag("symlink: %s", strerror(errno));
    a = (enter_args_t){&s, 1, false};
    r = in_child(child_enter_only, &a);
    is_int(r.res[0], ELOOP, "a symlink swapped in after resolve is not followed (ELOOP)");
    ok(strstr(r.msg, "changed since it was resolved") != NULL, "says so: %s", r.msg);
    free(s.source);

    job_mount_t rel = {.host_path = vol, .sub_path = "", .path = "data", .source = vol};
    a = (enter_args_t){&rel, 1, false};
    r = in_child(child_enter_only, &a);
    is_int(r.res[0], EINVAL, "a relative mount path: EINVAL (%s)", r.msg);
}

static int port_of(int s)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    getsockname(s, (struct sockaddr *)&sa, &len);
    return ntohs(sa.sin_port);
}

static int listener(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0) {
        close(s);
        return -1;
    }
    return s;
}

static int connect_to(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int e = connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? errno : 0;
    close(s);
    return e;
}

static void child_net(report_t *r, void *arg)
{
    int port = *(int *)arg;
    r->res[0] = mounts_enter(NULL, 0, true, r->msg, sizeof(r->msg)) < 0 ? errno : 0;
    /* interfaces: /proc/net/dev lists one per line after two header lines */
    char *dev = gt_read_file("/proc/net/dev", NULL, NULL);
    int count = 0, has_lo = 0;
    for (char *line = dev ? strchr(dev, '\n') : NULL; line && (line = strchr(line + 1, '\n'));) {
        char name[IFNAMSIZ + 1];
        if (sscanf(line + 1, " %16[^:]:", name) == 1) {
            count++;
            has_lo |= !strcmp(name, "lo");
        }
    }
    free(dev);
    r->res[1] = count;
    r->res[2] = has_lo;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    r->res[3] = ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
    close(s);
    r->res[4] = connect_to(port); /* the node's loopback: not reachable */
    int l = listener();           /* the job's own loopback works */
    r->res[5] = l >= 0 ? connect_to(port_of(l)) : -2;
    if (l >= 0)
        close(l);
}

static void test_network(void)
{
    int l = listener();
    int port = port_of(l);
    is_int(connect_to(port), 0, "the node's loopback listener is reachable from the node");
    report_t r = in_child(child_net, &port);
    is_int(r.res[0], 0, "mounts_enter with network none (%s)", r.msg);
    is_int(r.res[1], 1, "the job's network namespace has one interface");
    is_int(r.res[2], 1, "and it is lo");
    is_int(r.res[3], 1, "lo is up");
    is_int(r.res[4], ECONNREFUSED, "the node's listener on 127.0.0.1 is not reachable");
    is_int(r.res[5], 0, "a listener of the job's own on lo is");
    close(l);
}

/* A kernel before 5.6 (no openat2) and 5.12 (no mount_setattr), as far as this process can
 * tell: a seccomp filter answers ENOSYS to both. 0, or -1 where it cannot be installed. */
static int pretend_old_kernel(void)
{
#if defined(__x86_64__) && defined(SYS_openat2) && defined(SYS_mount_setattr)
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mount_setattr, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    };
    struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
#else
    return -1;
#endif
}

static void child_old_kernel(report_t *r, void *arg)
{
    (void)arg;
    if (pretend_old_kernel() < 0) {
        r->res[0] = -2;
        return;
    }
    struct open_how how = {.flags = O_PATH};
    r->res[0] = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how)) < 0 ? errno : 0;
    char ro[512], rw[512], swap[512], want[512];
    p(ro, "ro");
    p(rw, "rw");
    p(swap, "swap");
    gt_error_t err = {0};
    job_mount_t esc = {.host_path = vol, .sub_path = "data/up2/etc", .path = ro};
    r->res[1] = mounts_resolve(&esc, &err) < 0 ? errno : 0;
    job_mount_t m[3] = {
        {.host_path = vol, .sub_path = "inner/file", .path = ro, .read_only = true},
        {.host_path = vol, .sub_path = "rw", .path = rw},
        {.host_path = vol, .sub_path = "swap2", .path = swap},
    };
    snprintf(want, sizeof(want), "%s/data/file", vol);
    r->res[2] = mounts_resolve(&m[0], &err) == 0 && !strcmp(m[0].source, want);
    m[0].sub_path = "inner";
    free(m[0].source);
    mounts_resolve(&m[0], &err);
    mounts_resolve(&m[1], &err);
    r->res[3] = mounts_enter(m, 2, false, r->msg, sizeof(r->msg)) < 0 ? errno : 0;
    p(want, "ro/new");
    r->res[4] = try_open(want, O_CREAT | O_WRONLY);
    p(want, "rw/old-kernel");
    r->res[5] = try_open(want, O_CREAT | O_WRONLY);
    /* the swap race, caught by the component walk of mounts_enter */
    char from[512], to[512];
    snprintf(from, sizeof(from), "%s/swap2", vol);
    mkdir(from, 0755);
    r->res[6] = mounts_resolve(&m[2], &err);
    snprintf(to, sizeof(to), "%s/swap2.old", vol);
    rename(from, to);
    r->res[7] = symlink("/etc", from);
    r->res[8] = mounts_enter(&m[2], 1, false, r->msg, sizeof(r->msg)) < 0 ? errno : 0;
}

static void test_old_kernel(void)
{
    report_t r = in_child(child_old_kernel, NULL);
    if (r.res[0] == -2) {
        ok(1, "# skip cannot install a seccomp filter here");
        return;
    }
    is_int(r.res[0], ENOSYS, "under the filter openat2 answers ENOSYS (a kernel before 5.6)");
    is_int(r.res[1], EINVAL, "without openat2 an escape through a symlink is still refused");
    is_int(r.res[2], 1, "and a symlink inside the volume still resolves");
    is_int(r.res[3], 0, "without openat2 and mount_setattr mounts_enter binds");
    is_int(r.res[4], EROFS, "the read-only mount is read-only (MS_REMOUNT)");
    is_int(r.res[5], 0, "the read-write one is written");
    is_int(r.res[6] | r.res[7], 0, "a directory resolved, then swapped for a symlink");
    is_int(r.res[8], ELOOP, "the component walk refuses the swapped-in symlink (%s)", r.msg);
}

/* The real use: mounts_enter in a vfork child, then exec. */
static void test_vfork(void)
{
    char ro[512], rw[512], script[2048];
    p(ro, "ro");
    p(rw, "rw");
    job_mount_t m[2] = {
        {.host_path = vol, .sub_path = "data", .path = ro, .read_only = true},
        {.host_path = vol, .sub_path = "rw", .path = rw},
    };
    gt_error_t err = {0};
    mounts_resolve(&m[0], &err);
    mounts_resolve(&m[1], &err);
    snprintf(script, sizeof(script),
             "test -f %s/file && ! (echo x > %s/vf) 2>/dev/null && echo ok > %s/from-sh && "
             "test \"$(ls /sys/class/net | wc -l)\" -ge 1 && grep -q '^ *lo:' /proc/net/dev && "
             "test \"$(grep -c : /proc/net/dev)\" = 1",
             ro, ro, rw);
    char errbuf[256] = "";
    fflush(stdout);
    pid_t pid = vfork();
    if (pid == 0) {
        if (mounts_enter(m, 2, true, errbuf, sizeof(errbuf)) < 0)
            _exit(100);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "in a vfork child then exec: sees the read-only bind, cannot write it, writes the "
       "read-write one, only lo (status %d, %s)", WIFEXITED(st) ? WEXITSTATUS(st) : -1, errbuf);
    char path[512];
    snprintf(path, sizeof(path), "%s/rw/from-sh", vol);
    is_int(access(path, F_OK), 0, "the shell's write reached the volume");
    free(m[0].source);
    free(m[1].source);
}

int main(void)
{
    setup();
    check_resolve(mounts_resolve, "resolve");
    check_resolve(mounts_resolve_walk, "walk");
    if (geteuid() != 0) {
        ok(1, "# skip mounts_enter needs root");
    } else if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
               mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL)) {
        ok(1, "# skip cannot make a mount namespace here: %s", strerror(errno));
    } else {
        /* The test's own mounts (a tmpfs in the volume) stay in its namespace, cut off from
         * the node's (private), then shared again as a node's root usually is (systemd): a
         * child's bind that propagated back would show in the test's mountinfo. */
        test_binds();
        test_refusals();
        test_network();
        test_vfork();
        test_old_kernel();
    }
    /* a bind that leaked into the test's namespace (a mutation) would keep rm from its work */
    const char *leaks[] = {"node/ro", "node/rw", "node/file", "node/swap", "vol/data/sub",
                           "vol/data", "vol/rw"};
    for (size_t i = 0; i < sizeof(leaks) / sizeof(leaks[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", top, leaks[i]);
        while (umount2(path, MNT_DETACH) == 0)
            ;
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    if (system(cmd) != 0)
        diag("cannot remove %s", top);
    return tap_done();
}
