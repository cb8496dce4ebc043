/* launcher: real supervisors started through the real gantry-launcher program (built beside
 * gantry), the whole spec crossing the socket, errors coming back, a dead launcher replaced. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/launcher.h"
#include "agent/spec_wire.h"
#include "tap.h"

static char state_dir[] = "/tmp/gantry-launcher-XXXXXX";

/* build/<mode>/tests/test_launcher -> build/<mode>/gantry-launcher */
static char *program(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
    if (n <= 0)
        return NULL;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    *slash = '\0';
    slash = strrchr(path, '/');
    snprintf(slash, sizeof(path) - (size_t)(slash - path), "/gantry-launcher");
    return path;
}

/* Reads the start byte, then waits for end of file (the supervisor's end). */
static int wait_end(int fd, supervisor_state_t *st, int64_t id)
{
    gt_error_t err = {0};
    if (supervisor_wait_started(state_dir, id, 1, fd, st, &err) < 0)
        return -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    while (poll(&p, 1, 10000) > 0 && read(fd, &c, 1) > 0)
        ;
    return supervisor_read(state_dir, id, 1, st, &err);
}

static void test_wire(void)
{
    char *argv[] = {"sh", "-c", "true", NULL}, *env[] = {"A=1", "B=two words", NULL};
    int gpus[] = {2, 5};
    supervisor_gang_t gang = {.nodes = 4, .node_rank = 3, .master_port = 29500,
                              .gpus_per_node = 2};
    snprintf(gang.master_addr, sizeof(gang.master_addr), "10.1.2.3");
    cgroup_cfg_t cg = {.root = "/sys/fs/cgroup", .version = CGROUP_V2, .parent = "gantry/n1"};
    supervisor_spec_t s = {.job_id = 77, .incarnation = 3, .name = "n", .team = "t",
                           .user = "nobody", .allow_root = true,
                           .allow_system_account = true, .argv = argv, .env = env,
                           .workdir = "/w", .gpus = gpus, .ngpus = 2, .time_limit_s = 60,
                           .stop_signal = SIGUSR1, .grace_s = 9, .gang = &gang, .cgroup = &cg,
                           .limits = {.memory_bytes = 1 << 30, .cpu_milli = 1500,
                                      .pids_max = 64, .restrict_devices = true},
                           .dev_dir = "/dev", .state_dir = "/s", .checkpoint_root = "/c",
                           .fence = true, .agent = 7, .array_id = 70, .array_index = 7,
                           .node_name = "n2", .node_list = "n[1-4]", .partition = "gpu",
                           .output = "out-%j.txt", .error = "err-%j.txt"};
    json_t *o = spec_wire_encode(&s);
    spec_wire_t w;
    is_int(spec_wire_decode(o, &w), 0, "a spec decodes");
    supervisor_spec_t *d = &w.s;
    ok(d->job_id == 77 && d->incarnation == 3 && !strcmp(d->name, "n") &&
           !strcmp(d->team, "t") && !strcmp(d->user, "nobody") && d->allow_root,
       "ids, names, user");
    ok(d->allow_system_account, "allow_system_account travels to the supervisor");
    ok(!strcmp(d->argv[2], "true") && !d->argv[3] && !strcmp(d->env[1], "B=two words") &&
           !d->env[2],
       "command and environment");
    ok(d->ngpus == 2 && d->gpus[1] == 5 && d->time_limit_s == 60 && d->stop_signal == SIGUSR1 &&
           d->grace_s == 9,
       "GPUs, time limit, stop signal, grace");
    ok(d->gang && d->gang->nodes == 4 && d->gang->node_rank == 3 &&
           d->gang->master_port == 29500 && !strcmp(d->gang->master_addr, "10.1.2.3"),
       "gang");
    ok(d->cgroup && d->cgroup->version == CGROUP_V2 && !strcmp(d->cgroup->parent, "gantry/n1") &&
           d->limits.memory_bytes == 1 << 30 && d->limits.cpu_milli == 1500 &&
           d->limits.pids_max == 64 && d->limits.restrict_devices,
       "cgroup and limits");
    ok(!strcmp(d->workdir, "/w") && !strcmp(d->dev_dir, "/dev") && !strcmp(d->state_dir, "/s") &&
           !strcmp(d->checkpoint_root, "/c"),
       "directories");
    ok(d->fence && d->agent == 7, "fence and the agent's number (a supervisor from the launcher "
       "fences its job too)");
    ok(d->array_id == 70 && d->array_index == 7, "array id and index (SLURM_ARRAY_*)");
    ok(d->node_name && !strcmp(d->node_name, "n2") && d->node_list &&
           !strcmp(d->node_list, "n[1-4]") && d->partition && !strcmp(d->partition, "gpu"),
       "node name, node list, partition (SLURM_*)");
    ok(d->output && !strcmp(d->output, "out-%j.txt") && d->error &&
           !strcmp(d->error, "err-%j.txt"),
       "output and error patterns");
    spec_wire_free(&w);
    json_decref(o);
    s.gang = NULL;
    s.cgroup = NULL;
    s.user = s.workdir = NULL;
    s.fence = false;
    o = spec_wire_encode(&s);
    spec_wire_decode(o, &w);
    ok(!w.s.gang && !w.s.cgroup && !w.s.user && !w.s.workdir && !w.s.fence,
       "absent parts stay absent");
    spec_wire_free(&w);
    json_decref(o);
    o = json_pack("{s:i}", "job_id", 1);
    errno = 0;
    ok(spec_wire_decode(o, &w) == -1 && errno == EINVAL, "no command: EINVAL");
    json_decref(o);
}

static void test_launcher(void)
{
    const char *path = program();
    if (!path || access(path, X_OK) != 0) {
        ok(0, "gantry-launcher is built beside gantry (%s)", path ? path : "?");
        return;
    }
    gt_error_t err = {0};
    launcher_t *l = launcher_start(path, NULL, &err);
    ok(l != NULL, "starts %s (%s)", path, l ? "ok" : err.msg);
    if (!l)
        return;
    pid_t first = launcher_pid(l);
    ok(first > 0, "the launcher runs (pid %d)", (int)first);

    char *argv[] = {"sh", "-c", "echo \"$GANTRY_JOB_ID:$CUDA_VISIBLE_DEVICES\"; exit 3", NULL};
    int gpus[] = {4};
    supervisor_spec_t s = {.job_id = 1, .incarnation = 1, .name = "l", .team = "t",
                           .argv = argv, .gpus = gpus, .ngpus = 1, .allow_root = true,
                           .state_dir = state_dir, .grace_s = 1};
    int fd = -1;
    is_int(launcher_spawn(l, &s, &fd, &err), 0, "spawns a supervisor (%s)", err.msg);
    supervisor_state_t st;
    is_int(wait_end(fd, &st, 1), 0, "its start, then its end, come through the ready pipe");
    close(fd);
    ok(!strcmp(st.phase, "exited") && st.exit_code == 3 && !strcmp(st.reason, "failed"),
       "the job ran and its exit code 3 is recorded (%s %d)", st.phase, st.exit_code);
    char out[256] = "", p[512];
    char *dir = supervisor_job_dir(state_dir, 1, 1);
    snprintf(p, sizeof(p), "%s/stdout", dir);
    free(dir);
    FILE *f = fopen(p, "r");
    if (f) {
        if (!fgets(out, sizeof(out), f))
            out[0] = '\0';
        fclose(f);
    }
    is_str(out, "1:4\n", "the job saw its id and GPU through the launcher");

    errno = 0;
    ok(launcher_spawn(l, &s, &fd, &err) == -1 && errno == EEXIST && fd == -1,
       "the same incarnation again: EEXIST from across the socket");
    is_str(err.code, "conflict", "with the supervisor's error code");

    /* A dead launcher is replaced on the next request. */
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    s.job_id = 2;
    char *ok_argv[] = {"true", NULL};
    s.argv = ok_argv;
    memset(&err, 0, sizeof(err));
    is_int(launcher_spawn(l, &s, &fd, &err), 0, "after the launcher was killed, spawn works (%s)",
           err.msg);
    ok(launcher_pid(l) > 0 && launcher_pid(l) != first, "through a new launcher");
    is_int(wait_end(fd, &st, 2), 0, "and the job ends");
    close(fd);
    is_str(st.reason, "completed", "completed");

    /* A launcher that does not answer (stopped here) is killed and replaced. */
    pid_t hung = launcher_pid(l);
    kill(hung, SIGSTOP);
    launcher_set_timeout(l, 300);
    s.job_id = 3;
    double t0 = gt_monotonic_s();
    memset(&err, 0, sizeof(err));
    is_int(launcher_spawn(l, &s, &fd, &err), 0, "a hung launcher: spawn still works (%s)",
           err.msg);
    ok(gt_monotonic_s() - t0 < 5, "after the answer's timeout, not forever");
    ok(launcher_pid(l) != hung && kill(hung, 0) == -1 && errno == ESRCH,
       "through a new launcher; the hung one is killed and reaped");
    is_int(wait_end(fd, &st, 3), 0, "and the job ends");
    close(fd);

    pid_t last = launcher_pid(l);
    launcher_stop(l);
    ok(kill(last, 0) == -1 && errno == ESRCH, "stop: the launcher has exited and is reaped");
    launcher_stop(NULL);

    setenv("GANTRY_LAUNCHER", "/nonexistent/gantry-launcher", 1);
    char *none = launcher_path();
    ok(none == NULL, "GANTRY_LAUNCHER names no program: no launcher");
    setenv("GANTRY_LAUNCHER", path, 1);
    char *named = launcher_path();
    is_str(named, path, "GANTRY_LAUNCHER names the program");
    free(named);
    unsetenv("GANTRY_LAUNCHER");
}

int main(void)
{
    if (!mkdtemp(state_dir))
        return 1;
    test_wire();
    test_launcher();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", state_dir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
