/* exec.c: commands and ports inside a running job (exec.h). */
#include "agent/exec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/pty.h"
#include "agent/session_hold.h"
#include "agent/supervisor.h"
#include "common/ttywire.h"
#include "common/upgrade.h"

extern char **environ;

/* How long a session waits for a container job's image to be fetched. */
#define EXEC_PULL_WAIT_S 300

typedef struct target {
    pid_t pid;                  /* the job's command */
    int64_t job_id;
    int inc;
    const exec_attach_cfg_t *cfg;
    bool container;
    char **argv;                /* the command to run */
    bool tty;
    const char *term;           /* the client's TERM, or NULL */
} target_t;

/* Joins the namespaces of pid that this process does not share (pid's PID namespace through
 * a fork: the parent waits and exits with the child's status). -1 with a message on stderr. */
static int join_namespaces(pid_t pid)
{
    static const struct {
        const char *name;
        int type;
    } ns[] = {{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
              {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};
    bool new_pid = false;
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        char mine[64], theirs[64];
        snprintf(mine, sizeof(mine), "/proc/self/ns/%s", ns[i].name);
        snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", (int)pid, ns[i].name);
        struct stat a, b;
        if (stat(mine, &a) < 0 || stat(theirs, &b) < 0 || (a.st_ino == b.st_ino &&
                                                           a.st_dev == b.st_dev))
            continue;
        int fd = open(theirs, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, ns[i].type) < 0) {
            fprintf(stderr, "gantry: cannot enter the job's %s namespace: %s\r\n", ns[i].name,
                    strerror(errno));
            return -1;
        }
        close(fd);
        new_pid = new_pid || ns[i].type == CLONE_NEWPID;
    }
    if (new_pid) {
        pid_t c = fork();
        if (c < 0)
            return -1;
        if (c > 0) {
            int ws = 0;
            while (waitpid(c, &ws, 0) < 0 && errno == EINTR)
                ;
            _exit(WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws));
        }
    }
    return 0;
}

/* Where the cgroup hierarchy of a /proc/PID/cgroup line is mounted: "" (cgroup2) or a v1
 * controller list ("memory", "cpu,cpuacct", "name=systemd"). NULL when not mounted. */
static char *cgroup_mount_of(const char *controllers)
{
    FILE *f = fopen("/proc/self/mounts", "re");
    if (!f)
        return NULL;
    char line[4096], *found = NULL;
    while (!found && fgets(line, sizeof(line), f)) {
        char dev[256], dir[2048], type[64], opts[1024];
        if (sscanf(line, "%255s %2047s %63s %1023s", dev, dir, type, opts) != 4)
            continue;
        if (!*controllers) {
            if (!strcmp(type, "cgroup2"))
                found = xstrdup(dir);
            continue;
        }
        if (strcmp(type, "cgroup"))
            continue;
        /* every controller of the line among the mount's options */
        char *want = xstrdup(controllers), *save = NULL;
        bool all = true;
        for (char *c = strtok_r(want, ",", &save); c && all; c = strtok_r(NULL, ",", &save)) {
            char *o = xstrdup(opts), *s2 = NULL;
            bool has = false;
            for (char *x = strtok_r(o, ",", &s2); x && !has; x = strtok_r(NULL, ",", &s2))
                has = !strcmp(x, c);
            free(o);
            all = has;
        }
        free(want);
        if (all)
            found = xstrdup(dir);
    }
    fclose(f);
    return found;
}

/* Moves this process into every cgroup the job's process is in (as /proc/PID/cgroup lists
 * them, on cgroup v1 and v2) that is not the root of its hierarchy. -1 with a message on
 * stderr when one cannot be joined. */
static int join_cgroups(pid_t pid)
{
    char path[64], line[4096];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "gantry: the job's process %d is gone\r\n", (int)pid);
        return -1;
    }
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || !strcmp(c2 + 1, "/"))
            continue;
        *c2 = 0;
        char *mnt = cgroup_mount_of(c1 + 1);
        if (!mnt)
            continue;
        char *procs = gt_strfmt("%s%s/cgroup.procs", mnt, c2 + 1);
        FILE *w = fopen(procs, "we");
        if (!w || fprintf(w, "%d\n", (int)getpid()) < 0 || fclose(w) != 0) {
            fprintf(stderr, "gantry: cannot enter the job's cgroup %s: %s\r\n", procs,
                    strerror(errno));
            rc = -1;
        }
        free(procs);
        free(mnt);
    }
    fclose(f);
    return rc;
}

/* The job process's ids from /proc/PID/status: real uid and gid, supplementary groups. */
static int read_ids(pid_t pid, uid_t *uid, gid_t *gid, gid_t *groups, int *ngroups)
{
    char path[64], line[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = 0, max = *ngroups;
    *ngroups = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long v;
        if (sscanf(line, "Uid: %lu", &v) == 1) {
            *uid = (uid_t)v;
            found++;
        } else if (sscanf(line, "Gid: %lu", &v) == 1) {
            *gid = (gid_t)v;
            found++;
        } else if (!strncmp(line, "Groups:", 7)) {
            char *p = line + 7, *end;
            while (*ngroups < max && (v = strtoul(p, &end, 10), end != p)) {
                groups[(*ngroups)++] = (gid_t)v;
                p = end;
            }
        }
    }
    fclose(f);
    return found == 2 ? 0 : -1;
}

/* The job process's environment (NUL-separated /proc/PID/environ): a new array. */
static char **read_environ(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    size_t len = 0;
    gt_error_t rerr = {0};
    char *data = gt_read_file(path, &len, &rerr);
    size_t n = 0, cap = 16;
    char **env = xcalloc(cap, sizeof(char *));
    for (size_t off = 0; data && off < len;) {
        size_t k = strnlen(data + off, len - off);
        if (n + 2 > cap) {
            cap *= 2;
            env = xrealloc(env, cap * sizeof(char *));
        }
        env[n] = xmalloc(k + 1);
        memcpy(env[n], data + off, k);
        env[n++][k] = '\0';
        off += k + 1;
    }
    env[n] = NULL;
    free(data);
    return env;
}

static char **env_set(char **env, const char *kv)
{
    size_t klen = strcspn(kv, "=") + 1, n = 0;
    for (; env[n]; n++)
        if (!strncmp(env[n], kv, klen)) {
            env[n] = xstrdup(kv);
            return env;
        }
    env = xrealloc(env, (n + 2) * sizeof(char *));
    env[n] = xstrdup(kv);
    env[n + 1] = NULL;
    return env;
}

static const char *runtime_of(const exec_attach_cfg_t *cfg);
static char *runtime_root(const exec_attach_cfg_t *cfg);

/* pty_opts_t.start: becomes the command inside the job. */
static void start_in_job(void *arg)
{
    target_t *t = arg;
    if (t->container) {
        /* The runtime enters the container as its own process: its user, namespaces, cgroup,
         * environment and root. */
        const char *rt = runtime_of(t->cfg);
        char *root = runtime_root(t->cfg);
        char *id = gt_strfmt("gantry-%" PRId64 "-%d", t->job_id, t->inc);
        size_t n = 0;
        while (t->argv[n])
            n++;
        char **av = xcalloc(n + 10, sizeof(char *));
        size_t k = 0;
        av[k++] = (char *)rt;
        av[k++] = "--root";
        av[k++] = root;
        av[k++] = "exec";
        if (t->tty)
            av[k++] = "--tty";
        if (t->term && t->tty) {
            av[k++] = "--env";
            av[k++] = gt_strfmt("TERM=%s", t->term);
        }
        av[k++] = id;
        for (size_t i = 0; i < n; i++)
            av[k++] = t->argv[i];
        av[k] = NULL;
        execvp(rt, av);
        fprintf(stderr, "gantry: cannot run the OCI runtime %s: %s\r\n", rt, strerror(errno));
        return;
    }
    /* What is read from the job's process, before its namespaces change what /proc shows. */
    uid_t uid = 0;
    gid_t gid = 0, groups[256];
    int ngroups = 256;
    if (read_ids(t->pid, &uid, &gid, groups, &ngroups) < 0) {
        fprintf(stderr, "gantry: the job's process %d is gone\r\n", (int)t->pid);
        return;
    }
    char **env = read_environ(t->pid);
    if (t->term && t->tty) {
        char *kv = gt_strfmt("TERM=%s", t->term);
        env = env_set(env, kv);
        free(kv);
    }
    char cwd_path[64];
    snprintf(cwd_path, sizeof(cwd_path), "/proc/%d/cwd", (int)t->pid);
    int cwd = open(cwd_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* Its cgroups: the limits and accounting of the job cover this command too. */
    if (join_cgroups(t->pid) < 0)
        return;
    if (join_namespaces(t->pid) < 0)
        return;
    if (cwd >= 0 && fchdir(cwd) < 0)
        (void)chdir("/");
    if (getuid() != uid || getgid() != gid) {
        if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
            fprintf(stderr, "gantry: cannot become the job's user (uid %u): %s\r\n",
                    (unsigned)uid, strerror(errno));
            return;
        }
    }
    environ = env;
    execvp(t->argv[0], t->argv);
    fprintf(stderr, "gantry: %s: %s\r\n", t->argv[0], strerror(errno));
}

/* Connects to 127.0.0.1:port in the job's network namespace. */
static int connect_port(pid_t pid, int port, char *msg, size_t len)
{
    char theirs[64];
    snprintf(theirs, sizeof(theirs), "/proc/%d/ns/net", (int)pid);
    struct stat a, b;
    if (stat("/proc/self/ns/net", &a) == 0 && stat(theirs, &b) == 0 && a.st_ino != b.st_ino) {
        int fd = open(theirs, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
            snprintf(msg, len, "cannot enter the job's network namespace: %s", strerror(errno));
            return -1;
        }
        close(fd);
    }
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(msg, len, "cannot connect to port %d in the job: %s", port, strerror(errno));
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

/* Whether pid catches SIGUSR1 (SigCgt in /proc/PID/status): an interactive job's placeholder
 * does once it runs (exec_hold_main), not before (its supervisor's child, still becoming it). */
static bool holds_usr1(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    bool yes = false;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "SigCgt:", 7))
            yes = strtoull(line + 7, NULL, 16) >> (SIGUSR1 - 1) & 1;
    if (f)
        fclose(f);
    return yes;
}

/* Whether pid runs this very program (the supervisor's child before its exec). */
static bool same_program(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    struct stat a, b;
    return stat("/proc/self/exe", &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

/* The OCI runtime's program, its --root and the container's name for this job's run. */
static const char *runtime_of(const exec_attach_cfg_t *cfg)
{
    return cfg->oci_runtime ? cfg->oci_runtime : "runc";
}

static char *runtime_root(const exec_attach_cfg_t *cfg)
{
    const char *rt = runtime_of(cfg);
    const char *base = strrchr(rt, '/') ? strrchr(rt, '/') + 1 : rt;
    return gt_strfmt("%s/oci/%s", cfg->state_dir, base);
}

/* The container's first process as this node sees it (`RUNTIME --root R state ID`: its "pid"
 * while its "status" is "running"), or -1: not (yet, or any longer) running. The job's own
 * process (the supervisor's) is the runtime's `run`, on the node's side of every namespace:
 * a port and the session's placeholder are the container's process's. */
static pid_t container_pid(const exec_attach_cfg_t *cfg, int64_t job_id, int inc)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    char *root = runtime_root(cfg);
    char *id = gt_strfmt("gantry-%" PRId64 "-%d", job_id, inc);
    pid_t c = fork();
    if (c == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(p[1], 1);
        dup2(null, 2);
        execlp(runtime_of(cfg), runtime_of(cfg), "--root", root, "state", id, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    free(root);
    free(id);
    gt_buf_t b = {0};
    char buf[4096];
    ssize_t r;
    while (c > 0 && (r = read(p[0], buf, sizeof(buf))) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || b.len > 1 << 20)
            break;
        gt_buf_append(&b, buf, (size_t)r);
    }
    close(p[0]);
    int ws = 0;
    while (c > 0 && waitpid(c, &ws, 0) < 0 && errno == EINTR)
        ;
    pid_t pid = -1;
    json_t *o = b.len ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    const char *status = json_string_value(json_object_get(o, "status"));
    if (c > 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && status && !strcmp(status, "running"))
        pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
    json_decref(o);
    gt_buf_free(&b);
    return pid > 0 ? pid : -1;
}

/* A line for the client (a framed session's TTY_MSG). */
static void tell(gt_upgrade_t *u, const char *msg)
{
    tty_frame_send(u, TTY_MSG, msg, strlen(msg));
}

static int say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gantry agent: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 0;
}

/* The handler process: never returns. */
static void handle(const exec_attach_cfg_t *cfg, const json_t *task)
{
    const char *sid = json_string_value(json_object_get(task, "session"));
    const char *mode = json_string_value(json_object_get(task, "mode"));
    int64_t job_id = json_integer_value(json_object_get(task, "job_id"));
    int inc = (int)json_integer_value(json_object_get(task, "incarnation"));
    char path[300];
    snprintf(path, sizeof(path), "/v1/agent/attach?session=%s&name=%s", sid ? sid : "",
             cfg->node);
    gt_upgrade_t *u = NULL;
    long status = 0;
    json_t *answer = NULL;
    gt_error_t err = {0};
    int rc = gt_upgrade_open(cfg->server, path, cfg->token, cfg->transport, "gantry-attach",
                             NULL, 10000, &u, &status, &answer, &err);
    if (rc != 0) {
        say("session %.8s of job %" PRId64 ": cannot connect to the server: %s", sid ? sid : "",
            job_id, rc < 0 ? err.msg : json_string_value(json_object_get(
                                           json_object_get(answer, "error"), "message")) ?: "refused");
        _exit(1);
    }
    supervisor_state_t st;
    char why[300] = "";
    bool port = mode && !strcmp(mode, "port");
    /* A container job may still be fetching its image, then starting its runtime (phase
     * "running" without a pid yet): the session waits for it. */
    int rrc;
    bool told = false;
    double until_pulled = gt_monotonic_s() + EXEC_PULL_WAIT_S;
    while ((rrc = supervisor_read(cfg->state_dir, job_id, inc, &st, NULL)) == 0 &&
           (!strcmp(st.phase, "pulling") || (!strcmp(st.phase, "running") && st.pid <= 0)) &&
           gt_monotonic_s() < until_pulled) {
        if (!told && !port && !strcmp(st.phase, "pulling")) {
            tell(u, "gantry: the node is preparing the job's image...\r\n");
            told = true;
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    if (rrc < 0 || strcmp(st.phase, "running") || st.pid <= 0 || kill(st.pid, 0) < 0)
        snprintf(why, sizeof(why), "job %" PRId64 " does not run on node %s now", job_id,
                 cfg->node);
    /* A container's: its first process, once the runtime has made it. */
    bool container = !why[0] && st.image_digest[0] != '\0';
    pid_t inside = st.pid;
    if (container) {
        double until = gt_monotonic_s() + 10;
        while ((inside = container_pid(cfg, job_id, inc)) < 0 && kill(st.pid, 0) == 0 &&
               gt_monotonic_s() < until) {
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);
        }
        if (inside < 0)
            snprintf(why, sizeof(why), "the container of job %" PRId64 " does not run on node "
                     "%s now", job_id, cfg->node);
    }
    if (port) {
        int fd = why[0] ? -1
                        : connect_port(inside, (int)json_integer_value(json_object_get(task,
                                                                                    "port")),
                                       why, sizeof(why));
        if (fd >= 0) {
            pty_relay_raw(u, fd);
            close(fd);
        } else {
            say("port forward into job %" PRId64 ": %s", job_id, why);
        }
        gt_upgrade_close(u);
        _exit(0);
    }
    if (why[0]) {
        gt_buf_t b = {0};
        unsigned char x[4] = {0, 0, 0, 255};
        tty_frame_put(&b, TTY_MSG, why, strlen(why));
        tty_frame_put(&b, TTY_MSG, "\r\n", 2);
        tty_frame_put(&b, TTY_EXIT, x, 4);
        gt_upgrade_send(u, b.data, b.len);
        gt_buf_free(&b);
        gt_upgrade_close(u);
        _exit(1);
    }
    /* Enter the job only once its command runs: until it execs, the job's process is still
     * the supervisor's child, this program, perhaps not yet in its cgroup nor its user (an
     * interactive job's placeholder is this program too: it is ready once it catches
     * SIGUSR1). */
    double until_exec = gt_monotonic_s() + 2;
    while (same_program(st.pid) && !holds_usr1(st.pid) && gt_monotonic_s() < until_exec) {
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    if (mode && !strcmp(mode, "session")) {
        /* Enter the job only once its placeholder runs: before, its process is still the
         * supervisor's child (another user, environment), and could not take its end. */
        double until = gt_monotonic_s() + 5;
        while (!holds_usr1(inside) && gt_monotonic_s() < until) {
            struct timespec ts = {0, 500000};
            nanosleep(&ts, NULL);
        }
    }
    json_t *cmd = json_object_get(task, "command");
    size_t n = json_array_size(cmd);
    char **argv = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        argv[i] = (char *)json_string_value(json_array_get(cmd, i));
    target_t t = {.pid = st.pid, .job_id = job_id, .inc = inc, .cfg = cfg,
                  .container = container, .argv = argv,
                  .tty = json_is_true(json_object_get(task, "tty")),
                  .term = json_string_value(json_object_get(task, "term"))};
    int job_fd = (int)syscall(SYS_pidfd_open, st.pid, 0);
    pty_opts_t o = {.tty = t.tty,
                    .rows = (int)json_integer_value(json_object_get(task, "rows")),
                    .cols = (int)json_integer_value(json_object_get(task, "cols")),
                    .job_fd = job_fd, .start = start_in_job, .arg = &t};
    int code = pty_relay(u, &o);
    gt_upgrade_close(u);
    if (mode && !strcmp(mode, "session")) {
        /* The session's command ended (or its client left): so does the interactive job, with
         * its status (a client gone: hung up, 129). */
        union sigval v = {.sival_int = code >= 0 ? code : 129};
        sigqueue(inside, SIGUSR1, v);
    }
    say("session %.8s of job %" PRId64 " (%s %s) ended: status %d.", sid ? sid : "", job_id,
        mode ? mode : "exec", n ? argv[0] : "", code);
    _exit(0);
}

void exec_attach_spawn(const exec_attach_cfg_t *cfg, const json_t *task)
{
    pid_t c = fork();
    if (c < 0) {
        say("cannot fork for an attach task: %s", strerror(errno));
        return;
    }
    if (c == 0) {
        /* A grandchild, so that the agent never waits for it; nothing of the agent's kept
         * open (its state directory's lock above all: an agent started again must get it). */
        if (fork() != 0)
            _exit(0);
        closefrom(3);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_IGN);
        handle(cfg, task);
        _exit(0);
    }
    while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
        ;
}

int exec_hold_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return session_hold_main();
}
