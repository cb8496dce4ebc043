/* devfilter: rule parsing, and the program's verdicts for real on a cgroup2 hierarchy where
 * there is one and we are root (else skipped): types, wildcards and access bits. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/cgroup.h"
#include "agent/devfilter.h"
#include "tap.h"

static void test_parse(void)
{
    devfilter_rule_t r;
    gt_error_t err = {0};
    is_int(devfilter_parse("c 1:3 rwm", &r, &err), 0, "parses c 1:3 rwm");
    ok(r.type == 'c' && r.major == 1 && r.minor == 3 && r.access == 7, "type, numbers, access");
    is_int(devfilter_parse("c 136:* rw", &r, &err), 0, "parses a wildcard minor");
    ok(r.major == 136 && r.minor == -1 && r.access == (DEVFILTER_READ | DEVFILTER_WRITE),
       "minor -1 = any; access rw");
    is_int(devfilter_parse("b *:* m", &r, &err), 0, "parses b *:* m");
    ok(r.type == 'b' && r.major == -1 && r.minor == -1 && r.access == DEVFILTER_MKNOD,
       "block, any numbers, mknod only");
    is_int(devfilter_parse("a", &r, &err), 0, "parses a (everything)");
    ok(r.type == 'a' && r.access == 7, "any type, all access");
    is_int(devfilter_parse("a *:* r", &r, &err), 0, "parses a *:* r");
    ok(r.type == 'a' && r.major == -1 && r.access == DEVFILTER_READ, "any type, read only");
    const char *bad[] = {"", "x 1:3 rwm", "c 1:3", "c 1:3 ", "c 1-3 rwm", "c 1:3 rwx",
                         "c 1:3 rr", "c -1:3 r", "c 1:3:4 r", "c 99999999:0 r", "c1:3 r"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        int rc = devfilter_parse(bad[i], &r, &err);
        ok(rc == -1 && errno == EINVAL, "rejects '%s' (EINVAL)", bad[i]);
    }
    ok(strstr(err.msg, "expected like") != NULL, "the message shows the syntax: %s", err.msg);
}


/* Forks a child into cg (a cgroup2 directory) that opens path with flags; returns the errno
 * the open got (0 = opened). */
static int open_in(const char *cg, const char *path, int flags)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char procs[512];
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
        int f = open(procs, O_WRONLY);
        int e = 255;
        if (f >= 0 && dprintf(f, "%d", (int)getpid()) > 0) {
            close(f);
            int fd = open(path, flags | O_NONBLOCK);
            e = fd >= 0 ? 0 : errno;
        }
        if (write(pfd[1], &e, sizeof(e)) < 0)
            _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    int e = -1;
    if (read(pfd[0], &e, sizeof(e)) != sizeof(e))
        e = -1;
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    return e;
}

static void test_real(void)
{
    char *root = cgroup_v2_mount();
    if (!root || geteuid() != 0 || access(root, W_OK) != 0) {
        ok(1, "# skip no writable cgroup2 hierarchy here");
        free(root);
        return;
    }
    char cg[512];
    snprintf(cg, sizeof(cg), "%s/gantry-devfilter-%d", root, (int)getpid());
    free(root);
    if (mkdir(cg, 0755) < 0) {
        ok(0, "mkdir %s: %s", cg, strerror(errno));
        return;
    }
    ok(devfilter_on_cgroup2(cg), "%s is on cgroup2", cg);
    ok(!devfilter_on_cgroup2("/tmp"), "/tmp is not");
    /* null: read only; zero: read and write; everything of major 5 (tty 5:0, ptmx 5:2). */
    const char *text[] = {"c 1:3 r", "c 1:5 rw", "c 5:* rwm"};
    devfilter_rule_t rules[3];
    gt_error_t err = {0};
    for (int i = 0; i < 3; i++)
        devfilter_parse(text[i], &rules[i], &err);
    is_int(open_in(cg, "/dev/full", O_RDONLY), 0, "before the filter, /dev/full opens");
    is_int(devfilter_attach(cg, rules, 3, &err), 0, "attaches the filter (%s)", err.msg);
    is_int(open_in(cg, "/dev/null", O_RDONLY), 0, "null opens for reading");
    is_int(open_in(cg, "/dev/null", O_WRONLY), EPERM, "but not for writing");
    is_int(open_in(cg, "/dev/zero", O_RDWR), 0, "zero opens read-write");
    is_int(open_in(cg, "/dev/ptmx", O_RDWR), 0, "5:* lets ptmx (5:2) through");
    is_int(open_in(cg, "/dev/full", O_RDONLY), EPERM, "full (1:7) is not listed: EPERM");
    if (access("/dev/loop0", F_OK) == 0)
        is_int(open_in(cg, "/dev/loop0", O_RDONLY), EPERM, "a block device: EPERM");
    is_int(open_in(cg, "/dev/full", O_RDONLY) == EPERM ? 0 : 1, 0, "still denied on reuse");
    devfilter_rule_t all;
    devfilter_parse("a", &all, &err);
    char child[600];
    snprintf(child, sizeof(child), "%s/inner", cg);
    mkdir(child, 0755);
    is_int(devfilter_attach(child, &all, 1, &err), 0, "a child cgroup with allow-all");
    is_int(open_in(child, "/dev/full", O_RDONLY), EPERM,
           "cannot widen what the parent's filter denies");
    rmdir(child);
    /* A node with many GPUs: a long program (its verifier log would overflow a small buffer). */
    char big[600];
    snprintf(big, sizeof(big), "%s-big", cg); /* a sibling: cg's own filter does not apply */
    mkdir(big, 0755);
    devfilter_rule_t many[72];
    for (int i = 0; i < 72; i++) {
        char t[32];
        snprintf(t, sizeof(t), "c 195:%d rw", i);
        devfilter_parse(t, &many[i], &err);
    }
    devfilter_parse("c 1:3 rwm", &many[71], &err);
    memset(&err, 0, sizeof(err));
    is_int(devfilter_attach(big, many, 72, &err), 0, "a 72-rule filter loads (%s)", err.msg);
    is_int(open_in(big, "/dev/null", O_RDWR), 0, "and its last rule applies");
    is_int(open_in(big, "/dev/zero", O_RDONLY), EPERM, "what it does not list is denied");
    rmdir(big);
    is_int(rmdir(cg), 0, "the cgroup is removed with its filter");
}

int main(void)
{
    test_parse();
    test_real();
    return tap_done();
}
