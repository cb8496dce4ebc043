/* cgroup: v2 against a tree this test builds; v1 for real where it is mounted and writable
 * (root on a v1 host), else skipped. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/cgroup.h"
#include "tap.h"

static char *slurp(const char *dir, const char *file)
{
    static char buf[4096];
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    FILE *f = fopen(p, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *nl = strrchr(buf, '\n');
    if (nl && nl[1] == '\0')
        *nl = '\0';
    return buf;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_v2_tree(void)
{
    char root[] = "/tmp/gantry-cg2-XXXXXX";
    if (!mkdtemp(root)) {
        ok(0, "mkdtemp");
        return;
    }
    char p[512];
    gt_error_t err = {0};
    cgroup_cfg_t cfg = {.root = root, .version = CGROUP_AUTO, .parent = "gantry.slice"};
    cgroup_version_t v;
    is_int(cgroup_detect(&cfg, &v, &err), -1, "an empty tree is no cgroup hierarchy");
    is_int(errno, ENOENT, "errno ENOENT");
    ok(strstr(err.msg, "--cgroup-root") != NULL, "the message says what to do: %s", err.msg);

    snprintf(p, sizeof(p), "%s/cgroup.controllers", root);
    spit(p, "cpuset cpu io memory hugetlb pids rdma misc\n");
    is_int(cgroup_detect(&cfg, &v, &err), 0, "detects v2 from cgroup.controllers");
    is_int(v, CGROUP_V2, "version 2");

    errno = 0;
    ok(cgroup_create(&cfg, "../escape", NULL, &err) == NULL && errno == EINVAL,
       "a name with a slash is refused with EINVAL");

    cgroup_limits_t lim = {.memory_bytes = 64 << 20, .cpu_milli = 1500, .pids_max = 128,
                           .restrict_devices = true};
    cgroup_t *cg = cgroup_create(&cfg, "job-17.2", &lim, &err);
    ok(cg != NULL, "creates the job's cgroup in the tree (%s)", cg ? "" : err.msg);
    if (!cg)
        return;
    snprintf(p, sizeof(p), "%s/gantry.slice/job-17.2", root);
    is_str(cgroup_path(cg, NULL), p, "path is root/parent/name");
    is_str(slurp(p, "memory.max"), "67108864", "memory.max in bytes");
    is_str(slurp(p, "cpu.max"), "150000 100000", "cpu.max is quota and period");
    is_str(slurp(p, "pids.max"), "128", "pids.max");
    snprintf(p, sizeof(p), "%s/gantry.slice", root);
    ok(slurp(p, "cgroup.subtree_control") != NULL, "controllers enabled in the parent");
    ok(!cgroup_devices_enforced(cg), "v2 on a built tree: no device filter is claimed");

    is_int(cgroup_attach(cg, 4242, &err), 0, "attach writes cgroup.procs");
    pid_t *pids = NULL;
    size_t n = 0;
    is_int(cgroup_pids(cg, &pids, &n, &err), 0, "reads cgroup.procs");
    ok(n == 1 && pids[0] == 4242, "the attached pid is listed");
    free(pids);

    ok(!cgroup_oom_killed(cg), "no memory.events: not OOM-killed");
    snprintf(p, sizeof(p), "%s/memory.events", cgroup_path(cg, NULL));
    spit(p, "low 0\nhigh 0\nmax 9\noom 1\noom_kill 0\noom_group_kill 0\n");
    ok(!cgroup_oom_killed(cg), "oom without oom_kill is not a kill");
    spit(p, "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 1\n");
    ok(cgroup_oom_killed(cg), "oom_kill 1 in memory.events is an OOM kill");

    cgroup_t *again = cgroup_open(&cfg, "job-17.2", &err);
    ok(again != NULL, "cgroup_open finds an existing cgroup");
    cgroup_free(again);
    errno = 0;
    ok(cgroup_open(&cfg, "job-99.1", &err) == NULL && errno == ENOENT,
       "cgroup_open of an absent cgroup: ENOENT");
    cgroup_free(cg);

    /* A limit that cannot be written fails and leaves no directory behind. */
    snprintf(p, sizeof(p), "%s/gantry.slice/job-18.1", root);
    mkdir(p, 0755);
    char q[600];
    snprintf(q, sizeof(q), "%s/memory.max", p);
    mkdir(q, 0755); /* a directory where the file should be: writing fails */
    rmdir(p);       /* not empty: stays, so create reuses it */
    cgroup_t *bad = cgroup_create(&cfg, "job-18.1", &lim, &err);
    ok(bad == NULL && strstr(err.msg, "memory.max"), "an unwritable limit is an error: %s",
       err.msg);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        diag("could not remove %s", root);
}

/* The child runs fn inside cg (NULL: outside any) and exits with its result; returns the wait
 * status. */
static int run_in(cgroup_t *cg, int (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (cg && cgroup_attach(cg, getpid(), NULL) < 0)
            _exit(99);
        _exit(fn());
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static int open_loop0(void)
{
    int fd = open("/dev/loop0", O_RDONLY);
    return fd < 0 && errno == EPERM ? 0 : 1;
}

static int open_null(void)
{
    int fd = open("/dev/null", O_RDONLY);
    return fd >= 0 ? 0 : 1;
}

static int memory_hog(void)
{
    for (int i = 0; i < 64; i++) {
        char *p = malloc(8 << 20);
        if (!p)
            return 2;
        memset(p, i + 1, 8 << 20);
    }
    return 0;
}

static int fork_many(void)
{
    int refused = 0;
    pid_t kids[16];
    int nkids = 0;
    for (int i = 0; i < 16; i++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p > 0)
            kids[nkids++] = p;
        else if (errno == EAGAIN)
            refused++;
    }
    for (int i = 0; i < nkids; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    return refused ? 0 : 1;
}

static void test_v1_real(void)
{
    cgroup_cfg_t cfg = {.root = "/sys/fs/cgroup", .version = CGROUP_V1,
                        .parent = "gantry-unit"};
    if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) != 0 ||
        access("/sys/fs/cgroup/memory", W_OK) != 0 || geteuid() != 0) {
        ok(1, "# skip cgroup v1 memory controller not mounted or not writable here");
        return;
    }
    char dev[] = "/tmp/gantry-dev-XXXXXX", gpu0[64], gpu1[64];
    if (!mkdtemp(dev)) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(gpu0, sizeof(gpu0), "%s/nvidia0", dev);
    snprintf(gpu1, sizeof(gpu1), "%s/nvidia-uvm", dev);
    ok(mknod(gpu0, S_IFCHR | 0600, makedev(195, 0)) == 0, "made a fake GPU device file");
    const char *devs[] = {gpu0, gpu1, "/dev/nvidia3"};

    char name[64];
    snprintf(name, sizeof(name), "job-unit-%d", (int)getpid());
    gt_error_t err = {0};
    cgroup_limits_t lim = {.memory_bytes = 32 << 20, .cpu_milli = 500, .pids_max = 8,
                           .restrict_devices = true, .devices = devs, .ndevices = 3};
    cgroup_t *cg = cgroup_create(&cfg, name, &lim, &err);
    ok(cg != NULL, "v1: creates the job cgroup (%s)", cg ? "ok" : err.msg);
    if (!cg)
        goto out;
    is_int(cgroup_version(cg), CGROUP_V1, "version 1");
    is_str(slurp(cgroup_path(cg, "memory"), "memory.limit_in_bytes"), "33554432",
           "memory.limit_in_bytes");
    is_str(slurp(cgroup_path(cg, "cpu"), "cpu.cfs_quota_us"), "50000", "cpu.cfs_quota_us");
    is_str(slurp(cgroup_path(cg, "pids"), "pids.max"), "8", "pids.max");
    const char *list = slurp(cgroup_path(cg, "devices"), "devices.list");
    ok(list && strstr(list, "c 195:0 rwm"), "the job's GPU is allowed");
    ok(list && strstr(list, "c 195:3 rwm"), "an absent nvidia3 file is allowed by its number");
    ok(list && !strstr(list, "a *:*"), "everything else is denied");
    ok(cgroup_devices_enforced(cg), "v1: devices enforced");

    int st = run_in(cg, open_loop0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a device outside the list: EPERM on open");
    st = run_in(cg, open_null);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "/dev/null still opens");
    st = run_in(cg, fork_many);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pids.max refuses forks past the limit");

    ok(!cgroup_oom_killed(cg), "not OOM-killed before the hog");
    st = run_in(cg, memory_hog);
    ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "a 512 MiB hog in 32 MiB is SIGKILLed");
    ok(cgroup_oom_killed(cg), "and the cgroup says it was the OOM killer");

    pid_t *pids;
    size_t n;
    is_int(cgroup_pids(cg, &pids, &n, &err), 0, "lists the cgroup's processes");
    is_int(n, 0, "none left");
    free(pids);
    cgroup_t *again = cgroup_open(&cfg, name, &err);
    ok(again != NULL && cgroup_oom_killed(again), "reopened, it still reports the OOM kill");
    cgroup_free(again);
    is_int(cgroup_destroy(cg), 0, "destroy removes the cgroup");
    char p[256];
    snprintf(p, sizeof(p), "/sys/fs/cgroup/memory/gantry-unit/%s", name);
    ok(access(p, F_OK) != 0, "its directory is gone");
    cgroup_limits_t memonly = {.memory_bytes = 32 << 20};
    cg = cgroup_create(&cfg, name, &memonly, &err);
    ok(cg && cgroup_path(cg, "memory") && !cgroup_path(cg, "cpu") && !cgroup_path(cg, "pids") &&
           !cgroup_path(cg, "devices"),
       "v1: a job with only a memory limit gets only the memory hierarchy");
    snprintf(p, sizeof(p), "/sys/fs/cgroup/cpu/gantry-unit/%s", name);
    ok(access(p, F_OK) != 0, "no cpu directory made for it");
    st = run_in(cg, open_null);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "and a process joins it");
    is_int(cgroup_destroy(cg), 0, "destroyed");
    rmdir("/sys/fs/cgroup/memory/gantry-unit");
    rmdir("/sys/fs/cgroup/cpu/gantry-unit");
    rmdir("/sys/fs/cgroup/pids/gantry-unit");
    rmdir("/sys/fs/cgroup/devices/gantry-unit");
out:
    unlink(gpu0);
    rmdir(dev);
}


static int open_fake_gpu(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/nvidia0", getenv("GANTRY_TEST_DEV"));
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    return fd >= 0 ? 0 : 1;
}

/* v2 on the real cgroup2 hierarchy (beside v1 here, alone on most GPU nodes): the device
 * filter program denies what the job's list does not hold. */
static void test_v2_devices_real(void)
{
    char *root = cgroup_v2_mount();
    if (!root || geteuid() != 0 || access(root, W_OK) != 0 || access("/dev/loop0", F_OK) != 0) {
        ok(1, "# skip no writable cgroup2 hierarchy (or no /dev/loop0) here");
        free(root);
        return;
    }
    char dev[] = "/tmp/gantry-dev2-XXXXXX", gpu0[64];
    if (!mkdtemp(dev)) {
        ok(0, "mkdtemp");
        free(root);
        return;
    }
    setenv("GANTRY_TEST_DEV", dev, 1);
    snprintf(gpu0, sizeof(gpu0), "%s/nvidia0", dev);
    /* A stand-in GPU file with the numbers of a device whose driver answers (kmsg, 1:11). */
    ok(mknod(gpu0, S_IFCHR | 0600, makedev(1, 11)) == 0, "made a stand-in GPU device file");
    ok(run_in(NULL, open_loop0) != 0, "outside any filter, /dev/loop0 opens (control)");
    const char *devs[] = {gpu0};
    cgroup_cfg_t cfg = {.root = root, .version = CGROUP_V2, .parent = "gantry-unit-v2"};
    char name[64];
    snprintf(name, sizeof(name), "job-unit-%d", (int)getpid());
    gt_error_t err = {0};
    cgroup_limits_t lim = {.restrict_devices = true, .devices = devs, .ndevices = 1};
    cgroup_t *cg = cgroup_create(&cfg, name, &lim, &err);
    ok(cg != NULL, "v2: creates the job cgroup with its device filter (%s)",
       cg ? "ok" : err.msg);
    if (!cg)
        goto out;
    ok(cgroup_devices_enforced(cg), "v2 on cgroup2: devices enforced");
    int st = run_in(cg, open_loop0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "v2: a device outside the list: EPERM on open");
    st = run_in(cg, open_null);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "v2: /dev/null still opens");
    st = run_in(cg, open_fake_gpu);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "v2: the job's GPU file opens");
    is_int(cgroup_destroy(cg), 0, "destroy removes the cgroup");
    char p[512];
    snprintf(p, sizeof(p), "%s/gantry-unit-v2", root);
    rmdir(p);
out:
    unlink(gpu0);
    rmdir(dev);
    free(root);
}

int main(void)
{
    test_v2_tree();
    test_v1_real();
    test_v2_devices_real();
    return tap_done();
}
