/* supervisor: real jobs (sh, sleep, python3) under real supervisors; cgroup v1 OOM where
 * available. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/fence.h"
#include "agent/supervisor.h"
#include "tap.h"

#define has(hay, needle) (strstr((hay), (needle)) != NULL)

static char state_dir[] = "/tmp/gantry-sup-XXXXXX";
static int64_t next_id = 1;

static void tick(void)
{
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Polls the state until phase is "exited" or deadline_s passes. */
static int wait_exited(int64_t id, int inc, supervisor_state_t *st, double deadline_s)
{
    double end = gt_monotonic_s() + deadline_s;
    while (gt_monotonic_s() < end) {
        if (supervisor_read(state_dir, id, inc, st, NULL) == 0 && !strcmp(st->phase, "exited"))
            return 0;
        tick();
    }
    return -1;
}

static char *job_file(int64_t id, int inc, const char *name)
{
    static char buf[8192];
    char path[512];
    char *dir = supervisor_job_dir(state_dir, id, inc);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    free(dir);
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    if (f) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static supervisor_spec_t spec_for(char *const *argv)
{
    supervisor_spec_t s = {.job_id = next_id++, .incarnation = 1, .name = "unit",
                           .team = "research", .argv = argv, .state_dir = state_dir,
                           .allow_root = true, .grace_s = 1};
    return s;
}

static void test_completed_with_env(void)
{
    char *argv[] = {"sh", "-c",
                    "echo hello; echo oops >&2; env | sort > \"$GANTRY_CHECKPOINT_DIR/env\"",
                    NULL};
    int gpus[] = {1, 3};
    supervisor_gang_t gang = {.nodes = 2, .node_rank = 1, .master_port = 29517,
                              .gpus_per_node = 2};
    snprintf(gang.master_addr, sizeof(gang.master_addr), "10.0.0.5");
    char *env[] = {"WANDB_MODE=offline", "CUDA_VISIBLE_DEVICES=0,1,2,3", NULL};
    supervisor_spec_t s = spec_for(argv);
    s.gpus = gpus;
    s.ngpus = 2;
    s.gang = &gang;
    s.env = env;
    supervisor_state_t st;
    gt_error_t err = {0};
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job (%s)", err.msg);
    ok(st.pid > 0 && st.supervisor_pid > 0, "with a pid and a supervisor pid");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    is_str(st.reason, "completed", "reason completed");
    is_int(st.exit_code, 0, "exit code 0");
    is_str(job_file(s.job_id, 1, "stdout"), "hello\n", "stdout kept in the job's log");
    is_str(job_file(s.job_id, 1, "stderr"), "oops\n", "stderr kept apart");

    char path[512];
    snprintf(path, sizeof(path), "%s/checkpoints/%lld/env", state_dir, (long long)s.job_id);
    FILE *f = fopen(path, "r");
    char envtext[16384] = "\n";
    if (f) {
        size_t n = fread(envtext + 1, 1, sizeof(envtext) - 2, f);
        envtext[n + 1] = '\0';
        fclose(f);
    }
    ok(has(envtext, "\nCUDA_VISIBLE_DEVICES=1,3\n"), "CUDA_VISIBLE_DEVICES = the job's GPUs, "
       "not the user's");
    ok(has(envtext, "\nNVIDIA_VISIBLE_DEVICES=1,3\n"), "NVIDIA_VISIBLE_DEVICES too");
    char want[128];
    snprintf(want, sizeof(want), "\nGANTRY_JOB_ID=%lld\n", (long long)s.job_id);
    ok(has(envtext, want), "GANTRY_JOB_ID");
    ok(has(envtext, "\nGANTRY_TEAM=research\n"), "GANTRY_TEAM");
    snprintf(want, sizeof(want), "\nGANTRY_CHECKPOINT_DIR=%s/checkpoints/%lld\n", state_dir,
             (long long)s.job_id);
    ok(has(envtext, want), "GANTRY_CHECKPOINT_DIR");
    ok(has(envtext, "\nMASTER_ADDR=10.0.0.5\n") && has(envtext, "\nMASTER_PORT=29517\n"),
       "MASTER_ADDR and MASTER_PORT");
    ok(has(envtext, "\nWORLD_SIZE=4\n") && has(envtext, "\nNODE_RANK=1\n") &&
           has(envtext, "\nLOCAL_WORLD_SIZE=2\n") && has(envtext, "\nNNODES=2\n"),
       "WORLD_SIZE=4 NODE_RANK=1 LOCAL_WORLD_SIZE=2 NNODES=2");
    ok(has(envtext, "\nPET_NPROC_PER_NODE=2\n"), "torchrun's PET_NPROC_PER_NODE");
    ok(!has(envtext, "\nRANK="), "no RANK with two processes per node");
    ok(has(envtext, "\nWANDB_MODE=offline\n"), "the job's own env");

    supervisor_state_t *all = NULL;
    size_t n = 0;
    is_int(supervisor_list(state_dir, &all, &n, &err), 0, "lists jobs");
    ok(n >= 1, "the job is listed");
    free(all);
    is_int(supervisor_remove(state_dir, s.job_id, 1), 0, "removes the job's directory");
    errno = 0;
    ok(supervisor_read(state_dir, s.job_id, 1, &st, &err) < 0 && errno == ENOENT,
       "and its state is gone: ENOENT");
    errno = 0;
}

static void test_failures(void)
{
    char *argv[] = {"sh", "-c", "exit 3", NULL};
    supervisor_spec_t s = spec_for(argv);
    supervisor_state_t st;
    gt_error_t err = {0};
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a failing job");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    is_str(st.reason, "failed", "reason failed");
    is_int(st.exit_code, 3, "exit code 3");
    errno = 0;
    ok(supervisor_launch(&s, &st, &err) < 0 && errno == EEXIST,
       "the same incarnation twice: EEXIST");

    char *nope[] = {"gantry-no-such-command", NULL};
    s = spec_for(nope);
    is_int(supervisor_launch(&s, &st, &err), 0, "launching a missing command returns its end");
    is_str(st.phase, "exited", "already exited");
    is_str(st.reason, "failed", "failed");
    ok(has(st.message, "cannot run 'gantry-no-such-command'"), "says why: %s", st.message);

    char *argv2[] = {"true", NULL};
    s = spec_for(argv2);
    s.user = "root";
    s.allow_root = false;
    is_int(supervisor_launch(&s, &st, &err), 0, "a job as root without --allow-root");
    ok(!strcmp(st.reason, "failed") && has(st.message, "--allow-root"),
       "is refused: %s", st.message);
    s = spec_for(argv2);
    s.user = "root";
    s.allow_root = true;
    s.allow_system_account = false;
    is_int(supervisor_launch(&s, &st, &err), 0, "a job as root with --allow-root but without "
                                                "allow_system_account");
    ok(!strcmp(st.reason, "failed") && has(st.message, "a system account (uid 0, below 1000)"),
       "is refused: %s", st.message);
    s = spec_for(argv2);
    s.user = "daemon"; /* uid 1 on Debian */
    s.allow_system_account = false;
    is_int(supervisor_launch(&s, &st, &err), 0, "a job as the system account daemon");
    ok(!strcmp(st.reason, "failed") && has(st.message, "'daemon', a system account (uid 1, "
                                                       "below 1000)") &&
           has(st.message, "allow_system_account"),
       "is refused unless allowed: %s", st.message);
    s = spec_for(argv2);
    s.user = "gantry-no-such-user";
    is_int(supervisor_launch(&s, &st, &err), 0, "a job for an unknown user");
    ok(!strcmp(st.reason, "failed") && has(st.message, "does not exist"), "is refused: %s",
       st.message);
    char *empty[] = {NULL};
    s = spec_for(empty);
    errno = 0;
    ok(supervisor_launch(&s, &st, &err) < 0 && errno == EINVAL, "no command: EINVAL");
}

static void test_user(void)
{
    if (geteuid() != 0) {
        ok(1, "# skip not root: cannot switch users");
        return;
    }
    char *argv[] = {"sh", "-c", "id -u; id -g; touch \"$GANTRY_CHECKPOINT_DIR/mine\"", NULL};
    supervisor_spec_t s = spec_for(argv);
    s.user = "nobody";
    s.allow_root = false;
    s.workdir = "/tmp";
    supervisor_state_t st;
    gt_error_t err = {0};
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job as nobody");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    is_str(st.reason, "completed", "completed: it could write its checkpoint directory");
    is_str(job_file(s.job_id, 1, "stdout"), "65534\n65534\n", "ran as uid/gid 65534");
    char *argv2[] = {"sh", "-c", "id -u", NULL};
    s = spec_for(argv2);
    s.user = "daemon";
    s.allow_root = false;
    s.allow_system_account = true;
    s.workdir = "/tmp";
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job as daemon when allowed");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    is_str(st.reason, "completed", "completed as daemon: %s", st.message);
    is_str(job_file(s.job_id, 1, "stdout"), "1\n", "ran as uid 1");
}

static void test_stop_and_limits(void)
{
    gt_error_t err = {0};
    supervisor_state_t st;
    /* A tree of processes, one of them ignoring SIGTERM: the grace period ends it. */
    char *argv[] = {"sh", "-c",
                    "trap '' TERM; sleep 100 & (trap '' TERM; sleep 100) & echo up; wait",
                    NULL};
    supervisor_spec_t s = spec_for(argv);
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a tree that ignores SIGTERM");
    ok(supervisor_alive(&st), "its supervisor is alive");
    pid_t pg = st.pid;
    double end = gt_monotonic_s() + 5;
    while (strcmp(job_file(s.job_id, 1, "stdout"), "up\n") && gt_monotonic_s() < end)
        tick();
    double t0 = gt_monotonic_s();
    is_int(supervisor_stop(state_dir, s.job_id, 1, "preempted", SIGTERM, 1, &err), 0,
           "asks for a stop with 1 s of grace");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    double took = gt_monotonic_s() - t0;
    ok(took >= 0.9 && took < 5, "after the grace period (%.2f s)", took);
    is_str(st.reason, "preempted", "reason preempted");
    is_int(st.signal, SIGKILL, "killed by SIGKILL");
    errno = 0;
    ok(kill(-pg, 0) < 0 && errno == ESRCH, "no process of its group is left");
    end = gt_monotonic_s() + 5;
    while (supervisor_alive(&st) && gt_monotonic_s() < end)
        tick();
    ok(!supervisor_alive(&st), "its supervisor is gone");
    is_int(supervisor_stop(state_dir, s.job_id, 1, "cancelled", SIGTERM, 1, &err), 0,
           "stopping an exited job is a no-op");

    /* A job that checkpoints on SIGTERM and exits. */
    char *argv2[] = {"sh", "-c", "trap 'echo saved; exit 0' TERM; echo up; while :; do sleep 0.05; done",
                     NULL};
    s = spec_for(argv2);
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job that handles SIGTERM");
    end = gt_monotonic_s() + 5;
    while (strcmp(job_file(s.job_id, 1, "stdout"), "up\n") && gt_monotonic_s() < end)
        tick();
    is_int(supervisor_stop(state_dir, s.job_id, 1, "cancelled", SIGTERM, 30, &err), 0, "cancel");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits before the grace period");
    is_str(st.reason, "cancelled", "reason cancelled");
    is_int(st.exit_code, 0, "on its own terms (exit 0)");
    is_str(job_file(s.job_id, 1, "stdout"), "up\nsaved\n", "its handler ran");

    char *argv3[] = {"sleep", "60", NULL};
    s = spec_for(argv3);
    s.time_limit_s = 1;
    s.grace_s = 1;
    t0 = gt_monotonic_s();
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job with a 1 s time limit");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    is_str(st.reason, "time_limit", "reason time_limit");
    is_int(st.signal, SIGTERM, "ended by the stop signal");
    took = gt_monotonic_s() - t0;
    ok(took >= 0.9 && took < 4, "at the limit (%.2f s)", took);
}

static void test_lost_supervisor(void)
{
    char *argv[] = {"sleep", "60", NULL};
    supervisor_spec_t s = spec_for(argv);
    supervisor_state_t st;
    gt_error_t err = {0};
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job");
    is_int(getpgid(st.supervisor_pid) == getpgrp(), 0, "its supervisor is in its own session");
    kill(st.supervisor_pid, SIGKILL);
    double end = gt_monotonic_s() + 5;
    while (supervisor_alive(&st) && gt_monotonic_s() < end)
        tick();
    ok(!supervisor_alive(&st), "the supervisor is killed");
    supervisor_read(state_dir, s.job_id, 1, &st, &err);
    is_str(st.phase, "running", "its state still says running");
    is_int(supervisor_mark_lost(state_dir, &st, NULL, &err), 0, "mark it lost");
    supervisor_read(state_dir, s.job_id, 1, &st, &err);
    ok(!strcmp(st.phase, "exited") && !strcmp(st.reason, "failed"), "exited, failed: %s",
       st.message);
    end = gt_monotonic_s() + 5;
    while (kill(-st.pid, 0) == 0 && gt_monotonic_s() < end)
        tick();
    ok(kill(-st.pid, 0) < 0, "its job is killed");
}

static void test_oom(void)
{
    if (geteuid() != 0 || access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) != 0) {
        ok(1, "# skip no writable cgroup v1 memory controller");
        return;
    }
    cgroup_cfg_t cfg = {.root = "/sys/fs/cgroup", .version = CGROUP_V1,
                        .parent = "gantry-unit-sup"};
    char *argv[] = {"python3", "-c", "a = [bytearray(8 << 20) for i in range(64)]", NULL};
    supervisor_spec_t s = spec_for(argv);
    s.cgroup = &cfg;
    s.limits.memory_bytes = 48 << 20;
    s.limits.pids_max = 64;
    s.limits.restrict_devices = true;
    supervisor_state_t st;
    gt_error_t err = {0};
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a memory hog in 48 MiB (%s)",
           err.msg);
    is_int(wait_exited(s.job_id, 1, &st, 20), 0, "it exits");
    is_str(st.reason, "oom", "reason oom");
    is_int(st.signal, SIGKILL, "SIGKILLed by the kernel");
    ok(has(st.message, "48 MiB"), "the message names the limit: %s", st.message);
    char p[256];
    snprintf(p, sizeof(p), "/sys/fs/cgroup/memory/gantry-unit-sup/job-%lld.1",
             (long long)s.job_id);
    ok(access(p, F_OK) != 0, "its cgroup is removed");
    const char *ctl[] = {"memory", "cpu", "pids", "devices"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/gantry-unit-sup", ctl[i]);
        rmdir(p);
    }
}

/* supervisor_spawn: the ready pipe says "started", then reaches end of file when the
 * supervisor ends (how the agent learns of a job's end without polling); the job itself does
 * not hold it (else a job's orphans would hide the end). */
static void test_spawn_ready_pipe(void)
{
    char *argv[] = {"sh", "-c", "test ! -e /proc/self/fd/3", NULL};
    supervisor_spec_t s = spec_for(argv);
    supervisor_state_t st;
    gt_error_t err = {0};
    int fd = -1;
    is_int(supervisor_spawn(&s, &fd, &err), 0, "spawns a supervisor (%s)", err.msg);
    ok(fd >= 0, "with a ready pipe");
    is_int(supervisor_wait_started(state_dir, s.job_id, 1, fd, &st, &err), 0,
           "it says the job started (%s)", err.msg);
    ok(st.pid > 0, "the state has the job's pid");
    ssize_t n = -1;
    char c;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 30000) == 1)
        n = read(fd, &c, 1);
    is_int((int)n, 0, "the pipe reaches end of file when the supervisor ends");
    is_int(supervisor_read(state_dir, s.job_id, 1, &st, &err), 0, "the state is there");
    is_str(st.phase, "exited", "and says exited by then");
    is_str(st.reason, "completed", "the job did not inherit the ready pipe (fd 3)");
    close(fd);
    while (waitpid(-1, NULL, WNOHANG) > 0) /* our children now: reap them */
        ;
}

static void put_state(int64_t id, const char *text)
{
    char *dir = supervisor_job_dir(state_dir, id, 1), path[512];
    char jobs[512];
    snprintf(jobs, sizeof(jobs), "%s/jobs", state_dir);
    mkdir(jobs, 0755);
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/state", dir);
    free(dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* An empty node-local checkpoint directory goes with the job's end; one with files stays. */
static void test_checkpoint_dir_kept_only_with_files(void)
{
    char *argv[] = {"true", NULL};
    supervisor_spec_t s = spec_for(argv);
    supervisor_state_t st;
    gt_error_t err = {0};
    is_int(supervisor_launch(&s, &st, &err), 0, "launch a job that writes no checkpoint");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it ends");
    char p[512];
    snprintf(p, sizeof(p), "%s/checkpoints/%lld", state_dir, (long long)s.job_id);
    ok(access(p, F_OK) != 0 && errno == ENOENT, "its empty checkpoint directory is gone");
    char *w[] = {"sh", "-c", "echo step=3 > \"$GANTRY_CHECKPOINT_DIR/ckpt\"", NULL};
    s = spec_for(w);
    is_int(supervisor_launch(&s, &st, &err), 0, "launch a job that writes one");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it ends");
    snprintf(p, sizeof(p), "%s/checkpoints/%lld/ckpt", state_dir, (long long)s.job_id);
    ok(access(p, F_OK) == 0, "its checkpoint stays");
}

/* The state file: a log of records; the last whole one counts; the earlier format still reads. */
static void test_state_file(void)
{
    supervisor_state_t st;
    put_state(901, "job_id=901\nincarnation=1\nphase=running\npid=42\n");
    is_int(supervisor_read(state_dir, 901, 1, &st, NULL), 0, "a state in the earlier format reads");
    ok(st.pid == 42 && !strcmp(st.phase, "running"), "with its fields");
    put_state(902, "record=2\njob_id=902\nincarnation=1\nphase=running\npid=7\nend=1\n"
                   "record=2\njob_id=902\nincarnation=1\nphase=exited\npid=7\nexit_code=0\n"
                   "reason=completed\nend=1\n"
                   "record=2\njob_id=902\nincarnation=1\nphase=running\npid=9");
    is_int(supervisor_read(state_dir, 902, 1, &st, NULL), 0, "a log of records reads");
    ok(!strcmp(st.phase, "exited") && !strcmp(st.reason, "completed") && st.pid == 7,
       "the last whole record counts; one being written (no end=1) does not");
    put_state(903, "record=2\njob_id=903\nincarnation=1\nphase=runn");
    errno = 0;
    ok(supervisor_read(state_dir, 903, 1, &st, NULL) == -1 && errno == EINVAL,
       "only a record being written: no state yet (EINVAL)");
    put_state(904, "record=2\njob_id=904\nincarnation=1\nphase=running\nend=1\n"
                   "record=2\nend=1\n");
    is_int(supervisor_read(state_dir, 904, 1, &st, NULL), 0, "a record without the ids is skipped");
    is_str(st.phase, "running", "the one before it counts");
    for (int64_t id = 901; id <= 904; id++)
        supervisor_remove(state_dir, id, 1);
}

static void put_lease(double from_now, double grace)
{
    fence_lease_t l = {.deadline = fence_clock() + from_now, .grace_s = grace};
    if (fence_lease_write(state_dir, &l, NULL) < 0)
        diag("cannot write the lease");
}

/* The node's fence: a job the server may run elsewhere stops by itself when the lease the
 * agent keeps renewing runs out: its stop signal first, then SIGKILL after the bounded grace. */
static void test_fence(void)
{
    char *argv[] = {"sh", "-c", "trap 'echo checkpoint' TERM; while :; do sleep 0.02; done",
                    NULL};
    supervisor_spec_t s = spec_for(argv);
    s.fence = true;
    s.grace_s = 30; /* the job's own grace: the fence gives at most the lease's */
    supervisor_state_t st;

    /* Renewed: runs on past several lease lengths. */
    put_lease(0.4, 0.3);
    is_int(supervisor_launch(&s, &st, NULL), 0, "a fenced job starts under a valid lease");
    is_str(st.phase, "running", "and runs");
    double until = gt_monotonic_s() + 1.5;
    while (gt_monotonic_s() < until) {
        put_lease(0.4, 0.3);
        tick();
    }
    supervisor_read(state_dir, s.job_id, 1, &st, NULL);
    is_str(st.phase, "running", "while the lease is renewed (1.5 s, lease 0.4 s) it runs on");

    /* Not renewed: stopped by its own supervisor, nobody else. */
    double expire = gt_monotonic_s() + 0.4;
    put_lease(0.4, 0.3);
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "the lease runs out: the job ends by itself");
    double took = gt_monotonic_s() - expire;
    is_str(st.reason, "fenced", "reason fenced");
    ok(took >= -0.05, "not before the deadline (%.3f s after it)", took);
    ok(took < 0.3 + 1.0, "within the fence grace (0.3 s, not the job's 30 s) and a margin "
       "(%.3f s)", took);
    is_int(st.signal, SIGKILL, "the job ignored its stop signal: SIGKILL after the grace");
    ok(has(job_file(s.job_id, 1, "stdout"), "checkpoint"), "its stop signal came first");
    ok(has(st.message, "lease"), "the message says why: %s", st.message);

    /* A job the server would not run elsewhere is not fenced. */
    supervisor_spec_t u = spec_for(argv);
    put_lease(-1, 0.3);
    is_int(supervisor_launch(&u, &st, NULL), 0, "a job without fence starts despite an expired lease");
    is_str(st.phase, "running", "and runs");
    is_int(supervisor_stop(state_dir, u.job_id, 1, "fenced", 0, 0, NULL), 0,
           "the agent asks for the fence");
    usleep(300 * 1000);
    supervisor_read(state_dir, u.job_id, 1, &st, NULL);
    is_str(st.phase, "running", "a job without fence ignores it");
    supervisor_stop(state_dir, u.job_id, 1, "cancelled", SIGKILL, 0, NULL);
    wait_exited(u.job_id, 1, &st, 10);
    is_str(st.reason, "cancelled", "and stops when cancelled");

    /* Expired or missing lease: never started. */
    supervisor_spec_t e = spec_for(argv);
    e.fence = true;
    is_int(supervisor_launch(&e, &st, NULL), 0, "a fenced job under an expired lease");
    is_str(st.phase, "exited", "is not started");
    is_str(st.reason, "fenced", "reason fenced");
    is_int(st.pid, 0, "no process ran");
    char lease[256];
    snprintf(lease, sizeof(lease), "%s/lease", state_dir);
    unlink(lease);
    supervisor_spec_t m = spec_for(argv);
    m.fence = true;
    supervisor_launch(&m, &st, NULL);
    is_str(st.reason, "fenced", "nor without a lease at all");

    /* The agent found the lease run out first (its supervisor slept through the deadline). */
    supervisor_spec_t a = spec_for(argv);
    a.fence = true;
    put_lease(60, 0.2);
    supervisor_launch(&a, &st, NULL);
    is_int(supervisor_stop(state_dir, a.job_id, 1, "fenced", 0, 0, NULL), 0,
           "the agent asks a fenced job's supervisor to fence");
    is_int(wait_exited(a.job_id, 1, &st, 10), 0, "the job ends");
    is_str(st.reason, "fenced", "reason fenced");

    /* A start task taken by an agent that was replaced before the job started: the new agent
     * took the next number in the lease, and may have registered without the job. */
    supervisor_spec_t r = spec_for(argv);
    r.fence = true;
    r.agent = 5;
    fence_lease_t l = {.deadline = fence_clock() + 60, .grace_s = 0.2, .agent = 6};
    fence_lease_write(state_dir, &l, NULL);
    supervisor_launch(&r, &st, NULL);
    is_str(st.phase, "exited", "a job taken by agent 5 after agent 6 wrote the lease");
    is_str(st.reason, "fenced", "is not started (fenced)");
    ok(has(st.message, "replaced"), "and says why: %s", st.message);
    supervisor_spec_t q = spec_for(argv);
    q.fence = true;
    q.agent = 6;
    supervisor_launch(&q, &st, NULL);
    is_str(st.phase, "running", "the same under the agent that wrote the lease runs");
    supervisor_stop(state_dir, q.job_id, 1, "cancelled", SIGKILL, 0, NULL);
    wait_exited(q.job_id, 1, &st, 10);
    unlink(lease);
    for (int64_t id = s.job_id; id <= q.job_id; id++)
        supervisor_remove(state_dir, id, 1);
}

/* Every job: an output directory and node-local scratch, its user's; plain jobs with mounts
 * or network none in namespaces of their own (mounts.h). */
static void test_job_dirs_and_mounts(void)
{
    if (geteuid() != 0) {
        ok(1, "# skip not root: cannot switch users or mount");
        return;
    }
    char out[512], data[512], mnt[512];
    snprintf(out, sizeof(out), "%s/outputs/research/%lld", state_dir, (long long)next_id);
    snprintf(data, sizeof(data), "%s/plain-data", state_dir);
    snprintf(mnt, sizeof(mnt), "%s/plain-mnt", state_dir);
    mkdir(data, 0777);
    chmod(data, 0777);
    mkdir(mnt, 0755);
    char *argv[] = {"sh", "-c",
                    "echo $GANTRY_OUTPUT_DIR; echo $GANTRY_SCRATCH_DIR; "
                    "stat -c %u \"$GANTRY_OUTPUT_DIR\" \"$GANTRY_SCRATCH_DIR\"; "
                    "touch \"$GANTRY_OUTPUT_DIR/result\" \"$GANTRY_SCRATCH_DIR/tmp\" && echo wrote",
                    NULL};
    supervisor_spec_t s = spec_for(argv);
    s.user = "nobody";
    s.allow_root = false;
    s.workdir = "/tmp";
    s.output_dir = out;
    supervisor_state_t st;
    gt_error_t err = {0};
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job with an output directory");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    char want[1200];
    snprintf(want, sizeof(want), "%s\n%s/scratch/%lld.1\n65534\n65534\nwrote\n", out, state_dir,
             (long long)s.job_id);
    is_str(job_file(s.job_id, 1, "stdout"), want,
           "GANTRY_OUTPUT_DIR and GANTRY_SCRATCH_DIR: made, the job's user's, writable");
    char f[1200];
    snprintf(f, sizeof(f), "%s/result", out);
    ok(access(f, F_OK) == 0, "the output stays after the job");
    snprintf(f, sizeof(f), "%s/scratch/%lld.1", state_dir, (long long)s.job_id);
    ok(access(f, F_OK) != 0, "scratch is removed at the job's end");

    /* scratch holding a link to a directory outside it: removing scratch leaves the target */
    char keep[512];
    snprintf(keep, sizeof(keep), "%s/keep", state_dir);
    mkdir(keep, 0777);
    chmod(keep, 0777);
    snprintf(f, sizeof(f), "%s/precious", keep);
    FILE *fp = fopen(f, "w");
    fclose(fp);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "ln -s '%s' \"$GANTRY_SCRATCH_DIR/link\"", keep);
    char *argv2[] = {"sh", "-c", cmd, NULL};
    s = spec_for(argv2);
    s.user = "nobody";
    s.allow_root = false;
    s.workdir = "/tmp";
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job that links out of scratch");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    ok(access(f, F_OK) == 0, "scratch's removal does not follow the link");

    /* mounts and network none for a plain job */
    supervisor_mount_t mounts[] = {{.host_path = data, .path = mnt, .read_only = true}};
    char *argv3[] = {"sh", "-c",
                     "touch \"$M/x\" 2>/dev/null && echo written || echo refused; "
                     "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
                     NULL};
    char menv[600];
    snprintf(menv, sizeof(menv), "M=%s", mnt);
    char *env3[] = {menv, NULL};
    s = spec_for(argv3);
    s.env = env3;
    s.user = "nobody";
    s.allow_root = false;
    s.workdir = "/tmp";
    s.mounts = mounts;
    s.nmounts = 1;
    s.network_none = true;
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a plain job with a ro mount");
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    is_str(st.reason, "completed", "completed (%s)", st.message);
    is_str(job_file(s.job_id, 1, "stdout"), "refused\nlo\n",
           "its read-only mount refuses writes; network none: only lo");
    snprintf(f, sizeof(f), "%s/x", data);
    ok(access(f, F_OK) != 0, "nothing was written to the volume");

    /* a sub_path that leaves its volume is refused before the start */
    supervisor_mount_t bad[] = {{.host_path = data, .sub_path = "../keep", .path = mnt}};
    s = spec_for((char *[]){"true", NULL});
    s.mounts = bad;
    s.nmounts = 1;
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job whose mount escapes");
    is_str(st.phase, "exited", "it does not start");
    is_str(st.reason, "failed", "reason failed");
    ok(has(st.message, mnt), "the message names the mount: %s", st.message);
    ok(has(st.message, "../keep"), "and the sub_path that leaves the volume");
}

/* ---- container jobs (runtime_oci.c) ------------------------------------------------------ */

static char image_ref[600];

/* The busybox test image (tests/oci/mkimage), once; "" when it cannot be built here. */
static const char *test_image(void)
{
    static bool tried;
    if (tried)
        return image_ref;
    tried = true;
    const char *root = getenv("GANTRY_ROOT");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/tests/oci/mkimage '%s/img' 2>&1 | head -1",
             root ? root : ".", state_dir);
    FILE *f = popen(cmd, "r");
    if (f && fgets(image_ref, sizeof(image_ref), f))
        image_ref[strcspn(image_ref, "\n")] = '\0';
    if (f)
        pclose(f);
    if (strncmp(image_ref, "oci:", 4)) {
        diag("mkimage: %s", image_ref);
        image_ref[0] = '\0';
    }
    return image_ref;
}

static bool on_path(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

static cgroup_cfg_t ctr_cg = {.root = "/sys/fs/cgroup", .version = CGROUP_V1,
                              .parent = "gantry-unit-ctr"};

static supervisor_spec_t ctr_spec(char *const *argv, const char *runtime)
{
    supervisor_spec_t s = spec_for(argv);
    s.image = image_ref;
    s.oci_runtime = runtime;
    s.user = "nobody";
    s.allow_root = false;
    s.grace_s = 2;
    if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) {
        s.cgroup = &ctr_cg;
        s.limits.restrict_devices = true; /* as agents do by default */
    }
    return s;
}

/* Whether any process is left in the job's cgroup (or the container's below it). */
static int procs_left(int64_t id)
{
    char p[256], buf[256];
    int n = 0;
    const char *sub[] = {"", "/ctr"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "/sys/fs/cgroup/memory/gantry-unit-ctr/job-%lld.1%s/cgroup.procs",
                 (long long)id, sub[i]);
        FILE *f = fopen(p, "r");
        while (f && fgets(buf, sizeof(buf), f))
            n++;
        if (f)
            fclose(f);
    }
    return n;
}

static void test_container(const char *runtime)
{
    diag("container jobs with %s", runtime);
    char data[512], out[512];
    snprintf(data, sizeof(data), "%s/data-%s", state_dir, runtime);
    snprintf(out, sizeof(out), "%s/out-%s/research/1", state_dir, runtime);
    mkdir(data, 0755);
    chmod(data, 0777); /* nobody writes through the rw mount */
    char f[600];
    snprintf(f, sizeof(f), "%s/hello", data);
    FILE *fp = fopen(f, "w");
    fputs("dataset\n", fp);
    fclose(fp);
    supervisor_mount_t mounts[] = {{.host_path = data, .path = "/data", .read_only = true},
                                   {.host_path = data, .path = "/rw", .read_only = false}};

    /* runs as its user, in the image's workdir, with its environment and mounts */
    char *argv[] = {"sh", "-c",
                    "id -u; id -g; pwd; cat /data/hello; echo $PATH; echo $GANTRY_JOB_ID; "
                    "echo $GANTRY_CHECKPOINT_DIR $GANTRY_OUTPUT_DIR $GANTRY_SCRATCH_DIR; "
                    "echo $WANDB_MODE; "
                    "touch /data/x 2>/dev/null && echo ro-written || echo ro-refused; "
                    "touch /rw/y && echo rw-written; "
                    "touch /gantry/checkpoint/c /gantry/output/o /gantry/scratch/s && echo dirs; "
                    "exit 7",
                    NULL};
    char *env[] = {"WANDB_MODE=offline", NULL};
    supervisor_spec_t s = ctr_spec(argv, runtime);
    s.env = env;
    s.mounts = mounts;
    s.nmounts = 2;
    s.output_dir = out;
    supervisor_state_t st;
    gt_error_t err = {0};
    is_int(supervisor_launch(&s, &st, &err), 0, "%s: launches a container job (%s)", runtime,
           err.msg);
    is_int(wait_exited(s.job_id, 1, &st, 60), 0, "%s: it exits", runtime);
    is_str(st.reason, "failed", "%s: failed (%s)", runtime, st.message);
    is_int(st.exit_code, 7, "%s: with the command's exit code", runtime);
    ok(!strncmp(st.image_digest, "sha256:", 7), "%s: the state records the image digest %s",
       runtime, st.image_digest);
    char want[512];
    snprintf(want, sizeof(want),
             "65534\n65534\n/work\ndataset\n/bin:/usr/bin\n%lld\n"
             "/gantry/checkpoint /gantry/output /gantry/scratch\noffline\nro-refused\n"
             "rw-written\ndirs\n",
             (long long)s.job_id);
    is_str(job_file(s.job_id, 1, "stdout"), want,
           "%s: as nobody, in /work, image PATH, mounts ro and rw, /gantry dirs", runtime);
    snprintf(f, sizeof(f), "%s/y", data);
    ok(access(f, F_OK) == 0, "%s: the rw mount's write is on the host", runtime);
    snprintf(f, sizeof(f), "%s/o", out);
    ok(access(f, F_OK) == 0, "%s: the output directory is the host's %s", runtime, out);
    snprintf(f, sizeof(f), "%s/scratch/%lld.1", state_dir, (long long)s.job_id);
    ok(access(f, F_OK) != 0, "%s: scratch is removed at the end", runtime);
    snprintf(f, sizeof(f), "%s/jobs/%lld.1/bundle", state_dir, (long long)s.job_id);
    ok(access(f, F_OK) != 0, "%s: the bundle is removed at the end", runtime);

    /* only its GPUs: fake device files (the numbers of /dev/null and /dev/zero) */
    char dev[512];
    snprintf(dev, sizeof(dev), "%s/dev-%s", state_dir, runtime);
    mkdir(dev, 0755);
    snprintf(f, sizeof(f), "%s/nvidia0", dev);
    mknod(f, S_IFCHR | 0666, makedev(1, 3));
    snprintf(f, sizeof(f), "%s/nvidia1", dev);
    mknod(f, S_IFCHR | 0666, makedev(1, 5));
    int gpus[] = {1};
    s = ctr_spec((char *[]){"sh", "-c",
                            "ls /dev | grep nvidia; echo $CUDA_VISIBLE_DEVICES "
                            "$NVIDIA_VISIBLE_DEVICES; head -c 3 /dev/nvidia1 | wc -c",
                            NULL},
                 runtime);
    s.dev_dir = dev;
    s.gpus = gpus;
    s.ngpus = 1;
    is_int(supervisor_launch(&s, &st, &err), 0, "%s: launches a container with GPU 1",
           runtime);
    is_int(wait_exited(s.job_id, 1, &st, 60), 0, "%s: it exits", runtime);
    is_str(job_file(s.job_id, 1, "stdout"), "nvidia1\n0 1\n3\n",
           "%s: it sees only its GPU's device, can read it, and CUDA numbers it 0", runtime);

    /* a stop request stops the whole container: SIGTERM to every process */
    char *argv2[] = {"sh", "-c", "sleep 300 & sleep 300 & wait", NULL};
    s = ctr_spec(argv2, runtime);
    is_int(supervisor_launch(&s, &st, &err), 0, "%s: launches a container to stop", runtime);
    for (double end = gt_monotonic_s() + 30; gt_monotonic_s() < end;) {
        if (supervisor_read(state_dir, s.job_id, 1, &st, NULL) == 0 && st.pid > 0 &&
            (!s.cgroup || procs_left(s.job_id) >= 3))
            break;
        tick();
    }
    double t0 = gt_monotonic_s();
    is_int(supervisor_stop(state_dir, s.job_id, 1, "cancelled", SIGTERM, 30, &err), 0,
           "%s: asks it to stop", runtime);
    is_int(wait_exited(s.job_id, 1, &st, 30), 0, "%s: it exits", runtime);
    is_str(st.reason, "cancelled", "%s: reason cancelled", runtime);
    ok(gt_monotonic_s() - t0 < 10, "%s: SIGTERM ended it, not the 30 s grace (%.1f s)", runtime,
       gt_monotonic_s() - t0);
    if (s.cgroup)
        is_int(procs_left(s.job_id), 0, "%s: no process left in its cgroup", runtime);

    /* the time limit */
    s = ctr_spec((char *[]){"sleep", "300", NULL}, runtime);
    s.time_limit_s = 1;
    is_int(supervisor_launch(&s, &st, &err), 0, "%s: launches one with a 1 s limit", runtime);
    is_int(wait_exited(s.job_id, 1, &st, 30), 0, "%s: it exits", runtime);
    is_str(st.reason, "time_limit", "%s: reason time_limit", runtime);
    is_int(st.signal, SIGTERM, "%s: ended by SIGTERM", runtime);

    /* network none: loopback only */
    s = ctr_spec((char *[]){"sh", "-c", "ls /sys/class/net", NULL}, runtime);
    s.network_none = true;
    is_int(supervisor_launch(&s, &st, &err), 0, "%s: launches one with network none", runtime);
    is_int(wait_exited(s.job_id, 1, &st, 30), 0, "%s: it exits", runtime);
    is_str(job_file(s.job_id, 1, "stdout"), "lo\n", "%s: it sees only lo", runtime);
    s = ctr_spec((char *[]){"sh", "-c", "ls /sys/class/net | grep -c -v '^lo$'", NULL}, runtime);
    is_int(supervisor_launch(&s, &st, &err), 0, "%s: and one with the host network", runtime);
    is_int(wait_exited(s.job_id, 1, &st, 30), 0, "%s: it exits", runtime);
    ok(atoi(job_file(s.job_id, 1, "stdout")) > 0, "%s: which sees the node's interfaces",
       runtime);

    /* OOM: over its memory limit */
    if (s.cgroup) {
        s = ctr_spec((char *[]){"awk", "BEGIN { s = \"x\"; while (1) s = s s }", NULL},
                     runtime);
        s.limits.memory_bytes = 48 << 20;
        is_int(supervisor_launch(&s, &st, &err), 0, "%s: launches a hog in 48 MiB", runtime);
        is_int(wait_exited(s.job_id, 1, &st, 30), 0, "%s: it exits", runtime);
        is_str(st.reason, "oom", "%s: reason oom (%s)", runtime, st.message);
    }

    /* an image that does not exist */
    char bad[700];
    snprintf(bad, sizeof(bad), "oci:%s/no-such-layout:nothing", state_dir);
    s = ctr_spec((char *[]){"true", NULL}, runtime);
    s.image = bad;
    is_int(supervisor_launch(&s, &st, &err), 0, "%s: launches one with a missing image",
           runtime);
    is_int(wait_exited(s.job_id, 1, &st, 30), 0, "%s: it exits", runtime);
    is_str(st.reason, "image_pull", "%s: reason image_pull", runtime);
    ok(has(st.message, "no-such-layout"), "%s: the message is skopeo's: %s", runtime,
       st.message);
    /* A registry's message is long ("pinging container registry ...: dial tcp: lookup ...:
     * no such host"): its end, the part that says what went wrong, must not be cut off. */
    char longref[700];
    snprintf(longref, sizeof(longref), "oci:%s/%0250d/no-such-layout:nothing", state_dir, 0);
    s = ctr_spec((char *[]){"true", NULL}, runtime);
    s.image = longref;
    s.incarnation = 2;
    is_int(supervisor_launch(&s, &st, &err), 0, "%s: launches one with a long missing image",
           runtime);
    is_int(wait_exited(s.job_id, 2, &st, 30), 0, "%s: it exits", runtime);
    ok(has(st.message, "no such file or directory"), "%s: skopeo's whole message is kept: %s",
       runtime, st.message);
}

static void test_containers(void)
{
    if (geteuid() != 0) {
        ok(1, "# skip not root: no containers");
        return;
    }
    if (!on_path("skopeo") || !on_path("umoci") || !*test_image()) {
        ok(1, "# skip no skopeo, umoci or test image");
        return;
    }
    bool any = false;
    const char *rts[] = {"runc", "crun"};
    for (int i = 0; i < 2; i++)
        if (on_path(rts[i])) {
            test_container(rts[i]);
            any = true;
        }
    if (!any)
        ok(1, "# skip neither runc nor crun");
    /* the runtime makes the parent in every hierarchy */
    if (system("rmdir /sys/fs/cgroup/*/gantry-unit-ctr 2>/dev/null") != 0) {
        /* some were not there */
    }
}

/* Runs argv's job under spec s to its end and reads the env it wrote to $GANTRY_CHECKPOINT_DIR/env
 * into buf, "\n"-prefixed so every line can be found as "\nK=V\n". */
static void env_of(supervisor_spec_t *s, char *buf, size_t len)
{
    supervisor_state_t st;
    gt_error_t err = {0};
    buf[0] = '\0';
    if (supervisor_launch(s, &st, &err) < 0 || wait_exited(s->job_id, 1, &st, 10) < 0) {
        diag("job %lld did not run: %s", (long long)s->job_id, err.msg);
        return;
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/checkpoints/%lld/env", state_dir, (long long)s->job_id);
    FILE *f = fopen(path, "r");
    buf[0] = '\n';
    buf[1] = '\0';
    if (f) {
        size_t n = fread(buf + 1, 1, len - 2, f);
        buf[n + 1] = '\0';
        fclose(f);
    }
}

/* SLURM_* beside GANTRY_* (the contract's list): a gang's array task with GPUs, CPUs, memory
 * and a partition; then a plain job that has none of them. */
static void test_slurm_env(void)
{
    char *argv[] = {"sh", "-c", "env | sort > \"$GANTRY_CHECKPOINT_DIR/env\"", NULL};
    int gpus[] = {1, 3};
    supervisor_gang_t gang = {.nodes = 3, .node_rank = 2, .master_port = 29517,
                              .gpus_per_node = 2};
    snprintf(gang.master_addr, sizeof(gang.master_addr), "10.0.0.5");
    char *env[] = {"SLURM_JOB_ID=999", NULL};
    supervisor_spec_t s = spec_for(argv);
    s.name = "train";
    s.gpus = gpus;
    s.ngpus = 2;
    s.gang = &gang;
    s.env = env;
    s.workdir = state_dir;
    s.array_id = 40;
    s.array_index = 7;
    s.node_name = "n3";
    s.node_list = "n[1-3]";
    s.partition = "gpu";
    s.limits.cpu_milli = 1500;
    s.limits.memory_bytes = 3LL << 30;
    static char e[16384];
    env_of(&s, e, sizeof(e));
    char want[512];
    snprintf(want, sizeof(want), "\nSLURM_JOB_ID=%lld\n", (long long)s.job_id);
    ok(has(e, want), "SLURM_JOB_ID is the job's id (the job's own SLURM_JOB_ID=999 loses)");
    snprintf(want, sizeof(want), "\nSLURM_JOBID=%lld\n", (long long)s.job_id);
    ok(has(e, want), "SLURM_JOBID too");
    ok(has(e, "\nSLURM_JOB_NAME=train\n"), "SLURM_JOB_NAME");
    ok(has(e, "\nSLURM_ARRAY_JOB_ID=40\n"), "SLURM_ARRAY_JOB_ID = the array's id");
    ok(has(e, "\nSLURM_ARRAY_TASK_ID=7\n"), "SLURM_ARRAY_TASK_ID = the task's index");
    ok(has(e, "\nSLURM_JOB_NUM_NODES=3\n") && has(e, "\nSLURM_NNODES=3\n"),
       "SLURM_JOB_NUM_NODES and SLURM_NNODES = the gang's nodes");
    ok(has(e, "\nSLURM_NODEID=2\n") && has(e, "\nSLURM_PROCID=2\n"),
       "SLURM_NODEID and SLURM_PROCID = the node's rank (one task per node)");
    ok(has(e, "\nSLURM_NTASKS=3\n"), "SLURM_NTASKS = one task per node");
    ok(has(e, "\nSLURM_JOB_NODELIST=n[1-3]\n"), "SLURM_JOB_NODELIST in hostlist form");
    snprintf(want, sizeof(want), "\nSLURM_SUBMIT_DIR=%s\n", state_dir);
    ok(has(e, want), "SLURM_SUBMIT_DIR = the job's workdir");
    ok(has(e, "\nSLURM_GPUS_ON_NODE=2\n"), "SLURM_GPUS_ON_NODE");
    ok(has(e, "\nSLURM_JOB_GPUS=1,3\n"), "SLURM_JOB_GPUS = the node's GPU indexes");
    ok(has(e, "\nSLURM_CPUS_PER_TASK=2\n"), "SLURM_CPUS_PER_TASK: 1.5 CPUs round up to 2");
    ok(has(e, "\nSLURM_MEM_PER_NODE=3072\n"), "SLURM_MEM_PER_NODE in MiB");
    ok(has(e, "\nSLURM_JOB_ACCOUNT=research\n"), "SLURM_JOB_ACCOUNT = the team");
    ok(has(e, "\nSLURM_JOB_PARTITION=gpu\n"), "SLURM_JOB_PARTITION");
    ok(has(e, "\nGANTRY_JOB_ID=") && has(e, "\nNODE_RANK=2\n"), "GANTRY_* and torchrun's stay");

    supervisor_spec_t p = spec_for(argv);
    p.name = NULL;
    p.node_name = "n9";
    env_of(&p, e, sizeof(e));
    ok(has(e, "\nSLURM_JOB_NAME=sh\n"), "no name: SLURM_JOB_NAME is the command's (as sbatch's script)");
    ok(!has(e, "\nSLURM_ARRAY_JOB_ID=") && !has(e, "\nSLURM_ARRAY_TASK_ID="),
       "not an array task: no SLURM_ARRAY_*");
    ok(has(e, "\nSLURM_JOB_NUM_NODES=1\n") && has(e, "\nSLURM_NODEID=0\n") &&
           has(e, "\nSLURM_PROCID=0\n") && has(e, "\nSLURM_NTASKS=1\n"),
       "one node: 1 node, node 0, task 0 of 1");
    ok(has(e, "\nSLURM_JOB_NODELIST=n9\n"), "no node list: this node");
    ok(!has(e, "\nSLURM_GPUS_ON_NODE=") && !has(e, "\nSLURM_JOB_GPUS="),
       "no GPU: no SLURM_GPUS_ON_NODE, SLURM_JOB_GPUS (as Slurm)");
    ok(!has(e, "\nSLURM_CPUS_PER_TASK=") && !has(e, "\nSLURM_MEM_PER_NODE=") &&
           !has(e, "\nSLURM_JOB_PARTITION="),
       "no CPUs, memory, partition asked: none of their variables");
    ok(has(e, "\nSLURM_SUBMIT_DIR=/"), "no workdir: SLURM_SUBMIT_DIR is where it started");
}

static char *read_file(const char *path)
{
    static char buf[8192];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

/* sbatch's -o/-e: node-side copies of stdout and stderr beside the job's logs, expanded,
 * relative to the workdir, opened as the job's user; a later incarnation appends. */
static void test_output_files(void)
{
    char dir[600], path[1024];
    snprintf(dir, sizeof(dir), "%s/outdir", state_dir);
    mkdir(dir, 0777);
    chmod(dir, 0777);
    char *argv[] = {"sh", "-c", "echo to-out; echo to-err >&2; echo more-out", NULL};
    supervisor_spec_t s = spec_for(argv);
    s.workdir = dir;
    s.name = "job";
    s.output = "slurm-%j.out";
    supervisor_state_t st;
    gt_error_t err = {0};
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job with output (%s)", err.msg);
    is_int(wait_exited(s.job_id, 1, &st, 10), 0, "it exits");
    is_str(st.reason, "completed", "completed: %s", st.message);
    snprintf(path, sizeof(path), "%s/slurm-%lld.out", dir, (long long)s.job_id);
    char *both = read_file(path);
    ok(has(both, "to-out\n") && has(both, "more-out\n") && has(both, "to-err\n"),
       "output alone: stdout and stderr in slurm-%%j.out in the workdir (as sbatch -o)");
    is_str(job_file(s.job_id, 1, "stdout"), "to-out\nmore-out\n", "the job's stdout log as before");
    is_str(job_file(s.job_id, 1, "stderr"), "to-err\n", "its stderr log as before");

    s = spec_for(argv);
    s.workdir = dir;
    s.output = "o-%x.txt";
    s.error = "e-%x.txt";
    s.name = "pair";
    is_int(supervisor_launch(&s, &st, &err), 0, "launches a job with output and error");
    wait_exited(s.job_id, 1, &st, 10);
    snprintf(path, sizeof(path), "%s/o-pair.txt", dir);
    is_str(read_file(path), "to-out\nmore-out\n", "output gets stdout");
    snprintf(path, sizeof(path), "%s/e-pair.txt", dir);
    is_str(read_file(path), "to-err\n", "error gets stderr");

    /* a later incarnation appends, the first truncates */
    s.incarnation = 2;
    is_int(supervisor_launch(&s, &st, &err), 0, "its second incarnation");
    wait_exited(s.job_id, 2, &st, 10);
    snprintf(path, sizeof(path), "%s/o-pair.txt", dir);
    is_str(read_file(path), "to-out\nmore-out\nto-out\nmore-out\n", "appends (requeued)");
    s = spec_for(argv);
    s.workdir = dir;
    s.output = "o-pair.txt";
    s.error = "/dev/null";
    is_int(supervisor_launch(&s, &st, &err), 0, "a new job on the same file");
    wait_exited(s.job_id, 1, &st, 10);
    is_str(read_file(path), "to-out\nmore-out\n", "truncates it, as sbatch");

    /* a gang's other node writes only a pattern that names the node */
    supervisor_gang_t gang = {.nodes = 2, .node_rank = 1, .master_port = 29500,
                              .gpus_per_node = 1};
    snprintf(gang.master_addr, sizeof(gang.master_addr), "127.0.0.1");
    s = spec_for(argv);
    s.workdir = dir;
    s.gang = &gang;
    s.output = "rank1-%j.out";
    s.error = "node-%N-%n.err";
    s.node_name = "n2.cluster";
    is_int(supervisor_launch(&s, &st, &err), 0, "a gang's node 1");
    wait_exited(s.job_id, 1, &st, 10);
    snprintf(path, sizeof(path), "%s/rank1-%lld.out", dir, (long long)s.job_id);
    ok(access(path, F_OK) != 0, "does not write the first node's output file");
    snprintf(path, sizeof(path), "%s/node-n2-1.err", dir);
    is_str(read_file(path), "to-err\n", "writes a pattern with %%N and %%n: node-n2-1.err");

    /* a file that cannot be opened: the job does not start, and says why */
    s = spec_for(argv);
    s.workdir = dir;
    s.output = "missing-dir/x.out";
    is_int(supervisor_launch(&s, &st, &err), 0, "a job whose output directory is missing");
    wait_exited(s.job_id, 1, &st, 10);
    is_str(st.reason, "failed", "fails to start");
    ok(has(st.message, "cannot open output file missing-dir/x.out"), "saying so: %s",
       st.message);

    if (geteuid() != 0) {
        ok(1, "# skip not root: cannot switch users");
        return;
    }
    /* as the job's user: its file is its own; a directory only root may write is refused */
    s = spec_for(argv);
    s.user = "nobody";
    s.allow_root = false;
    s.workdir = dir;
    s.output = "mine-%u.out";
    is_int(supervisor_launch(&s, &st, &err), 0, "a job as nobody with an output file");
    wait_exited(s.job_id, 1, &st, 10);
    is_str(st.reason, "completed", "completes: %s", st.message);
    snprintf(path, sizeof(path), "%s/mine-nobody.out", dir);
    struct stat sb;
    ok(stat(path, &sb) == 0 && sb.st_uid == 65534, "its output file belongs to nobody (uid %d)",
       (int)sb.st_uid);
    char rootonly[700];
    snprintf(rootonly, sizeof(rootonly), "%s/rootonly", dir);
    mkdir(rootonly, 0755);
    s = spec_for(argv);
    s.user = "nobody";
    s.allow_root = false;
    s.workdir = dir;
    s.output = "rootonly/x.out";
    is_int(supervisor_launch(&s, &st, &err), 0, "a job as nobody asking a file in root's directory");
    wait_exited(s.job_id, 1, &st, 10);
    is_str(st.reason, "failed", "does not start");
    ok(has(st.message, "Permission denied"), "permission denied, as the user: %s", st.message);
    snprintf(path, sizeof(path), "%s/x.out", rootonly);
    ok(access(path, F_OK) != 0, "and the agent (root) did not write it for the user");
    s.output = "/etc/gantry-unit-should-not-exist";
    s.job_id = next_id++;
    supervisor_launch(&s, &st, &err);
    wait_exited(s.job_id, 1, &st, 10);
    ok(access("/etc/gantry-unit-should-not-exist", F_OK) != 0 && !strcmp(st.reason, "failed"),
       "nor an absolute path only root may write");
}

/* The environment of one node of an uneven gang (issue 10: 12 GPUs as 8+4): the world is the
 * gang's GPUs (world_size from the server), not nodes x this node's count; the node's first
 * global rank is the GPUs of the nodes before it. */
static const char *uneven_env(int node_rank, int ngpus, int world, int offset, char *buf,
                              size_t len)
{
    char *argv[] = {"sh", "-c", "env | sort > \"$GANTRY_CHECKPOINT_DIR/env\"", NULL};
    int gpus[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    supervisor_gang_t gang = {.nodes = 2, .node_rank = node_rank, .master_port = 29517,
                              .gpus_per_node = ngpus, .world_size = world,
                              .rank_offset = offset};
    snprintf(gang.master_addr, sizeof(gang.master_addr), "10.0.0.5");
    supervisor_spec_t s = spec_for(argv);
    s.gpus = gpus;
    s.ngpus = (size_t)ngpus;
    s.gang = &gang;
    supervisor_state_t st;
    gt_error_t err = {0};
    buf[0] = 0;
    if (supervisor_launch(&s, &st, &err) < 0 || wait_exited(s.job_id, 1, &st, 10) < 0)
        return buf;
    char path[512];
    snprintf(path, sizeof(path), "%s/checkpoints/%lld/env", state_dir, (long long)s.job_id);
    FILE *f = fopen(path, "r");
    buf[0] = '\n';
    buf[1] = 0;
    if (f) {
        size_t n = fread(buf + 1, 1, len - 2, f);
        buf[n + 1] = '\0';
        fclose(f);
    }
    supervisor_remove(state_dir, s.job_id, 1);
    return buf;
}

static void test_uneven_gang_env(void)
{
    static char env[16384];
    uneven_env(1, 4, 12, 8, env, sizeof(env));
    ok(has(env, "\nWORLD_SIZE=12\n") && has(env, "\nLOCAL_WORLD_SIZE=4\n") &&
           has(env, "\nGPUS_PER_NODE=4\n") && has(env, "\nGANTRY_RANK_OFFSET=8\n") &&
           has(env, "\nSLURM_GPUS_ON_NODE=4\n") && has(env, "\nGANTRY_GPUS=4\n"),
       "8+4 gang, node 1: WORLD_SIZE=12 (not 2x4), its own 4 GPUs, ranks from 8");
    ok(!has(env, "\nRANK="), "... no RANK with 4 processes on the node");
    uneven_env(1, 1, 4, 3, env, sizeof(env));
    ok(has(env, "\nWORLD_SIZE=4\n") && has(env, "\nRANK=3\n") &&
           has(env, "\nLOCAL_WORLD_SIZE=1\n"),
       "3+1 gang, node 1 (one GPU): WORLD_SIZE=4, RANK=3 (not its node rank 1)");
    uneven_env(1, 2, 0, 0, env, sizeof(env));
    ok(has(env, "\nWORLD_SIZE=4\n") && has(env, "\nGANTRY_RANK_OFFSET=2\n"),
       "a server without world_size: nodes x this node's GPUs, as before");
}

int main(void)
{
    if (!mkdtemp(state_dir)) {
        ok(0, "mkdtemp");
        return tap_done();
    }
    chmod(state_dir, 0755); /* jobs run as nobody reach their checkpoint directory */
    test_completed_with_env();
    test_uneven_gang_env();
    test_slurm_env();
    test_output_files();
    test_failures();
    test_user();
    test_stop_and_limits();
    test_lost_supervisor();
    test_oom();
    test_spawn_ready_pipe();
    test_state_file();
    test_checkpoint_dir_kept_only_with_files();
    test_fence();
    test_job_dirs_and_mounts();
    test_containers();
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
    if (system(cmd) != 0)
        diag("could not remove %s", state_dir);
    return tap_done();
}
