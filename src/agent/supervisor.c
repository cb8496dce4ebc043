#include "agent/supervisor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/fence.h"
#include "agent/gpu.h"
#include "agent/jobout.h"
#include "agent/runtime.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

char *supervisor_job_dir(const char *state_dir, int64_t job_id, int incarnation)
{
    return gt_strfmt("%s/jobs/%" PRId64 ".%d", state_dir, job_id, incarnation);
}

char *supervisor_metrics_path(const char *state_dir, int64_t job_id, int incarnation)
{
    return gt_strfmt("%s/metrics/%" PRId64 ".%d.jsonl", state_dir, job_id, incarnation);
}

/* Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); 0 if gone. */
static unsigned long long proc_start(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return 0;
    unsigned long long v = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
        if (++field == 3 && (*tok == 'Z' || *tok == 'X')) {
            return 0; /* a zombie is not alive */
        } else if (field == 22) {
            v = strtoull(tok, NULL, 10);
            break;
        }
    return v;
}

/* ---- the state file ---------------------------------------------------------------------- */

/* The state file is a log of records, appended with one write(2) each:
 *   record=2\njob_id=...\n...message=...\nend=1\n
 * A reader takes the last record that ends with end=1, so a record being written (or cut off
 * by a crash) is never taken, as the rename of a whole new file guaranteed before; appending
 * creates one file per job instead of one per change. A file without "record=" lines is the
 * earlier format (one whole state, replaced by rename), as a running job's supervisor of an
 * older agent still writes it. */
static int state_write(const char *dir, const supervisor_state_t *st)
{
    char msg[sizeof(st->message)], rec[2048];
    snprintf(msg, sizeof(msg), "%s", st->message);
    for (char *c = msg; *c; c++)
        if (*c == '\n')
            *c = ' ';
    int n = snprintf(rec, sizeof(rec),
                     "record=2\njob_id=%" PRId64 "\nincarnation=%d\nphase=%s\nsupervisor_pid=%d\n"
                     "supervisor_start=%llu\npid=%d\nstart_time=%.6f\nend_time=%.6f\n"
                     "exit_code=%d\nsignal=%d\nreason=%s\nmessage=%s\nimage_digest=%s\n"
                     "pull_bytes=%" PRIu64 "\nend=1\n",
                     st->job_id, st->incarnation, st->phase, (int)st->supervisor_pid,
                     st->supervisor_start, (int)st->pid, st->start_time, st->end_time,
                     st->exit_code, st->signal, st->reason, msg, st->image_digest,
                     st->pull_bytes);
    if (n < 0 || n >= (int)sizeof(rec)) { /* cannot happen: the fields are bounded */
        errno = EOVERFLOW;
        return -1;
    }
    char *path = gt_strfmt("%s/state", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    free(path);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, rec, (size_t)n);
    int e = errno;
    close(fd);
    if (w != n) {
        errno = w < 0 ? e : EIO;
        return -1;
    }
    return 0;
}

/* One key=value line into st; counts the keys a state cannot lack. */
static void state_field(supervisor_state_t *st, const char *k, const char *v, int *have)
{
    if (!strcmp(k, "job_id"))
        st->job_id = strtoll(v, NULL, 10), (*have)++;
    else if (!strcmp(k, "incarnation"))
        st->incarnation = atoi(v), (*have)++;
    else if (!strcmp(k, "phase"))
        snprintf(st->phase, sizeof(st->phase), "%s", v), (*have)++;
    else if (!strcmp(k, "supervisor_pid"))
        st->supervisor_pid = atoi(v);
    else if (!strcmp(k, "supervisor_start"))
        st->supervisor_start = strtoull(v, NULL, 10);
    else if (!strcmp(k, "pid"))
        st->pid = atoi(v);
    else if (!strcmp(k, "start_time"))
        st->start_time = strtod(v, NULL);
    else if (!strcmp(k, "end_time"))
        st->end_time = strtod(v, NULL);
    else if (!strcmp(k, "exit_code"))
        st->exit_code = atoi(v);
    else if (!strcmp(k, "signal"))
        st->signal = atoi(v);
    else if (!strcmp(k, "reason"))
        snprintf(st->reason, sizeof(st->reason), "%s", v);
    else if (!strcmp(k, "message"))
        snprintf(st->message, sizeof(st->message), "%s", v);
    else if (!strcmp(k, "image_digest"))
        snprintf(st->image_digest, sizeof(st->image_digest), "%s", v);
    else if (!strcmp(k, "pull_bytes"))
        st->pull_bytes = strtoull(v, NULL, 10);
}

static void state_clear(supervisor_state_t *st)
{
    memset(st, 0, sizeof(*st));
    st->exit_code = -1;
}

static int state_parse(const char *path, supervisor_state_t *st)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    supervisor_state_t cur;
    state_clear(&cur);
    state_clear(st);
    char line[2048];
    int have = 0;
    bool records = false, found = false;
    while (fgets(line, sizeof(line), f)) {
        if (!strchr(line, '\n'))
            break; /* a line cut off: the record being written */
        line[strcspn(line, "\n")] = '\0';
        char *v = strchr(line, '=');
        if (!v)
            continue;
        *v++ = '\0';
        if (!strcmp(line, "record")) {
            records = true;
            state_clear(&cur);
            have = 0;
        } else if (!strcmp(line, "end")) {
            if (have >= 3) {
                *st = cur;
                found = true;
            }
        } else {
            state_field(&cur, line, v, &have);
        }
    }
    fclose(f);
    if (!records && have >= 3) { /* the earlier format: the whole file is the state */
        *st = cur;
        found = true;
    }
    if (!found) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int supervisor_read(const char *state_dir, int64_t job_id, int incarnation,
                    supervisor_state_t *st, gt_error_t *err)
{
    char *dir = supervisor_job_dir(state_dir, job_id, incarnation);
    char *path = gt_strfmt("%s/state", dir);
    int rc = state_parse(path, st);
    if (rc < 0)
        gt_error_set(err, errno == ENOENT ? "not_found" : "internal",
                     "cannot read job %" PRId64 ".%d's state %s: %s", job_id, incarnation, path,
                     strerror(errno));
    int e = errno;
    free(dir);
    free(path);
    errno = e;
    return rc;
}

int supervisor_list(const char *state_dir, supervisor_state_t **out, size_t *n,
                    gt_error_t *err)
{
    char *jobs = gt_strfmt("%s/jobs", state_dir);
    DIR *d = opendir(jobs);
    *out = NULL;
    *n = 0;
    if (!d) {
        int e = errno;
        free(jobs);
        if (e == ENOENT)
            return 0;
        errno = e;
        return gt_error_set(err, "internal", "cannot list %s/jobs: %s", state_dir,
                            strerror(e));
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *path = gt_strfmt("%s/%s/state", jobs, de->d_name);
        supervisor_state_t st;
        if (state_parse(path, &st) == 0) {
            GT_GROW(*out, cap, *n + 1);
            (*out)[(*n)++] = st;
        }
        free(path);
    }
    closedir(d);
    free(jobs);
    return 0;
}

bool supervisor_alive(const supervisor_state_t *st)
{
    if (st->supervisor_pid <= 0)
        return false;
    unsigned long long t = proc_start(st->supervisor_pid);
    return t != 0 && (st->supervisor_start == 0 || t == st->supervisor_start);
}

void supervisor_warm_nss(const char *user)
{
    struct passwd *pw = user ? getpwnam(user) : getpwuid(geteuid());
    if (!pw)
        pw = getpwuid(0);
    if (pw) {
        gid_t g[64];
        int n = 64;
        getgrouplist(pw->pw_name, pw->pw_gid, g, &n);
    }
}

int supervisor_signal_number(const char *name)
{
    static const struct {
        const char *n;
        int s;
    } sigs[] = {{"TERM", SIGTERM}, {"INT", SIGINT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
                {"HUP", SIGHUP},   {"KILL", SIGKILL}, {"QUIT", SIGQUIT}};
    if (!name || !*name)
        return -1;
    char *end;
    long v = strtol(name, &end, 10);
    if (!*end)
        return v > 0 && v < NSIG ? (int)v : -1;
    if (!strncmp(name, "SIG", 3))
        name += 3;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (!strcmp(name, sigs[i].n))
            return sigs[i].s;
    return -1;
}

int supervisor_stop(const char *state_dir, int64_t job_id, int incarnation, const char *reason,
                    int sig, int64_t grace_s, gt_error_t *err)
{
    supervisor_state_t st;
    if (supervisor_read(state_dir, job_id, incarnation, &st, err) < 0)
        return -1;
    if (!strcmp(st.phase, "exited"))
        return 0;
    char *dir = supervisor_job_dir(state_dir, job_id, incarnation);
    char *tmp = gt_strfmt("%s/stop.tmp", dir), *final = gt_strfmt("%s/stop", dir);
    int rc = -1;
    FILE *f = fopen(tmp, "we");
    if (f) {
        fprintf(f, "reason=%s\nsignal=%d\ngrace_s=%" PRId64 "\n", reason ? reason : "cancelled",
                sig > 0 ? sig : SIGTERM, grace_s < 0 ? 0 : grace_s);
        rc = fclose(f) == 0 && rename(tmp, final) == 0 ? 0 : -1;
    }
    if (rc < 0)
        gt_error_set(err, "internal", "cannot write %s: %s", final, strerror(errno));
    else if (supervisor_alive(&st) && kill(st.supervisor_pid, SIGUSR1) < 0 && errno != ESRCH)
        rc = gt_error_set(err, "internal", "cannot signal supervisor %d of job %" PRId64 ": %s",
                          (int)st.supervisor_pid, job_id, strerror(errno));
    int e = errno;
    free(dir);
    free(tmp);
    free(final);
    errno = e;
    return rc;
}

static char *cgroup_name(int64_t job_id, int incarnation)
{
    return gt_strfmt("job-%" PRId64 ".%d", job_id, incarnation);
}

/* SIGKILLs everything in cg until it is empty or deadline_s passes; reaps what it can. */
static void kill_cgroup(cgroup_t *cg, double deadline_s)
{
    while (cg) {
        int n = cgroup_signal_all(cg, SIGKILL);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (n <= 0 || gt_monotonic_s() > deadline_s)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int supervisor_mark_lost(const char *state_dir, supervisor_state_t *st, const cgroup_cfg_t *cgc,
                         gt_error_t *err)
{
    if (cgc) {
        char *name = cgroup_name(st->job_id, st->incarnation);
        cgroup_t *cg = cgroup_open(cgc, name, NULL);
        free(name);
        if (cg) {
            kill_cgroup(cg, gt_monotonic_s() + 5);
            cgroup_destroy(cg);
        }
    }
    if (st->pid > 0)
        kill(-st->pid, SIGKILL);
    snprintf(st->phase, sizeof(st->phase), "exited");
    snprintf(st->reason, sizeof(st->reason), "failed");
    snprintf(st->message, sizeof(st->message),
             "the job's supervisor (pid %d) died without recording the job's end",
             (int)st->supervisor_pid);
    st->end_time = now_s();
    char *dir = supervisor_job_dir(state_dir, st->job_id, st->incarnation);
    int rc = state_write(dir, st);
    if (rc < 0)
        gt_error_set(err, "internal", "cannot write %s/state: %s", dir, strerror(errno));
    int e = errno;
    free(dir);
    errno = e;
    return rc;
}

int supervisor_remove(const char *state_dir, int64_t job_id, int incarnation)
{
    char *dir = supervisor_job_dir(state_dir, job_id, incarnation);
    int rc = runtime_remove_tree(dir); /* links left in a bundle's upper are not followed */
    int e = errno;
    free(dir);
    errno = e;
    return rc;
}

/* ---- the supervisor process ---------------------------------------------------------------- */

typedef struct env {
    char **v;
    size_t n, cap;
} env_t;

static void env_set(env_t *e, const char *k, const char *v)
{
    size_t kl = strlen(k);
    char *kv = gt_strfmt("%s=%s", k, v);
    for (size_t i = 0; i < e->n; i++)
        if (!strncmp(e->v[i], k, kl) && e->v[i][kl] == '=') {
            free(e->v[i]);
            e->v[i] = kv;
            return;
        }
    GT_GROW(e->v, e->cap, e->n + 2);
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

static void env_setf(env_t *e, const char *k, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static void env_setf(env_t *e, const char *k, const char *f, ...)
{
    gt_buf_t b = {0};
    va_list ap;
    va_start(ap, f);
    gt_buf_vprintf(&b, f, ap);
    va_end(ap);
    env_set(e, k, b.data ? b.data : "");
    gt_buf_free(&b);
}

/* Sets every "K=V" of kvs in e. */
static void env_set_all(env_t *e, char *const *kvs)
{
    for (char *const *kv = kvs; kv && *kv; kv++) {
        char *k = xstrdup(*kv), *v = strchr(k, '=');
        if (v) {
            *v++ = '\0';
            env_set(e, k, v);
        }
        free(k);
    }
}

/* Slurm's variables, for scripts written for sbatch (docs/agent.md lists them): Gantry runs
 * one task per node, so the task of node rank R is SLURM_PROCID R of SLURM_NTASKS = nodes. Set
 * after the job's own variables, as GANTRY_* are. */
/* The job's name as Slurm gives it (SLURM_JOB_NAME, %x): its own, else its command's file
 * name, as sbatch names a job after its script. */
static const char *slurm_job_name(const supervisor_spec_t *s)
{
    if (s->name && *s->name)
        return s->name;
    if (s->argv && s->argv[0]) {
        const char *slash = strrchr(s->argv[0], '/');
        return slash ? slash + 1 : s->argv[0];
    }
    return "";
}

/* This node's rank in the job's gang (0 for a single node). */
static int node_rank(const supervisor_spec_t *s)
{
    return s->gang && s->gang->nodes > 0 ? s->gang->node_rank : 0;
}

static void slurm_env(env_t *e, const supervisor_spec_t *s, const runtime_job_t *rj)
{
    const supervisor_gang_t *gg = s->gang;
    int nodes = gg && gg->nodes > 0 ? gg->nodes : 1, rank = node_rank(s);
    env_setf(e, "SLURM_JOB_ID", "%" PRId64, s->job_id);
    env_setf(e, "SLURM_JOBID", "%" PRId64, s->job_id);
    env_set(e, "SLURM_JOB_NAME", slurm_job_name(s));
    if (s->array_id > 0) {
        env_setf(e, "SLURM_ARRAY_JOB_ID", "%" PRId64, s->array_id);
        env_setf(e, "SLURM_ARRAY_TASK_ID", "%" PRId64, s->array_index);
    }
    env_setf(e, "SLURM_JOB_NUM_NODES", "%d", nodes);
    env_setf(e, "SLURM_NNODES", "%d", nodes);
    env_setf(e, "SLURM_NODEID", "%d", rank);
    env_setf(e, "SLURM_PROCID", "%d", rank);
    env_setf(e, "SLURM_NTASKS", "%d", nodes);
    char host[256] = "";
    if (!s->node_list && !s->node_name && gethostname(host, sizeof(host) - 1) < 0)
        host[0] = '\0';
    env_set(e, "SLURM_JOB_NODELIST", s->node_list ? s->node_list
                                     : s->node_name ? s->node_name : host);
    env_set(e, "SLURM_SUBMIT_DIR", s->workdir ? s->workdir : rj->workdir ? rj->workdir : "/");
    if (s->ngpus > 0) { /* as Slurm: only for a job with GPUs */
        gt_buf_t g = {0};
        for (size_t i = 0; i < s->ngpus; i++)
            gt_buf_printf(&g, "%s%d", i ? "," : "", s->gpus[i]);
        env_setf(e, "SLURM_GPUS_ON_NODE", "%zu", s->ngpus);
        env_set(e, "SLURM_JOB_GPUS", g.data);
        gt_buf_free(&g);
    }
    if (s->limits.cpu_milli > 0) /* whole CPUs, as Slurm counts them */
        env_setf(e, "SLURM_CPUS_PER_TASK", "%" PRId64, (s->limits.cpu_milli + 999) / 1000);
    if (s->limits.memory_bytes > 0)
        env_setf(e, "SLURM_MEM_PER_NODE", "%" PRId64, s->limits.memory_bytes >> 20);
    env_set(e, "SLURM_JOB_ACCOUNT", s->team ? s->team : "");
    if (s->partition && *s->partition)
        env_set(e, "SLURM_JOB_PARTITION", s->partition);
}

/* The job's environment: the runtime's base (an image's Env) or the host's PATH and LANG and
 * the user's HOME and SHELL; the user's name; the job's own variables; then Gantry's, with the
 * directories as the job sees them. */
static void build_env(env_t *e, const supervisor_spec_t *s, const struct passwd *pw,
                      const runtime_job_t *rj)
{
    if (rj->base_env) {
        env_set_all(e, rj->base_env);
    } else {
        const char *path = getenv("PATH");
        env_set(e, "PATH",
                path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        const char *lang = getenv("LANG");
        if (lang)
            env_set(e, "LANG", lang);
        if (pw) {
            env_set(e, "HOME", pw->pw_dir);
            env_set(e, "SHELL", pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
        }
    }
    if (pw) {
        env_set(e, "USER", pw->pw_name);
        env_set(e, "LOGNAME", pw->pw_name);
    }
    env_set_all(e, s->env);
    env_setf(e, "GANTRY_JOB_ID", "%" PRId64, s->job_id);
    env_setf(e, "GANTRY_INCARNATION", "%d", s->incarnation);
    env_set(e, "GANTRY_JOB_NAME", s->name ? s->name : "");
    env_set(e, "GANTRY_TEAM", s->team ? s->team : "");
    env_set(e, "GANTRY_CHECKPOINT_DIR",
            rj->seen_checkpoint_dir ? rj->seen_checkpoint_dir : rj->checkpoint_dir);
    if (rj->output_dir)
        env_set(e, "GANTRY_OUTPUT_DIR", rj->seen_output_dir ? rj->seen_output_dir
                                                            : rj->output_dir);
    if (rj->scratch_dir)
        env_set(e, "GANTRY_SCRATCH_DIR", rj->seen_scratch_dir ? rj->seen_scratch_dir
                                                              : rj->scratch_dir);
    if (rj->metrics_file)
        env_set(e, "GANTRY_METRICS", rj->seen_metrics_file ? rj->seen_metrics_file
                                                           : rj->metrics_file);
    gt_buf_t g = {0};
    gt_buf_printf(&g, "%s", "");
    for (size_t i = 0; i < s->ngpus; i++)
        gt_buf_printf(&g, "%s%d", i ? "," : "", s->gpus[i]);
    env_set(e, "NVIDIA_VISIBLE_DEVICES", s->ngpus ? g.data : "void");
    if (rj->gpus_renumbered) {
        /* only the job's GPUs can be opened: CUDA numbers them from 0 */
        gt_buf_free(&g);
        gt_buf_printf(&g, "%s", "");
        for (size_t i = 0; i < s->ngpus; i++)
            gt_buf_printf(&g, "%s%zu", i ? "," : "", i);
    }
    env_set(e, "CUDA_VISIBLE_DEVICES", g.data);
    env_setf(e, "GANTRY_GPUS", "%zu", s->ngpus);
    gt_buf_free(&g);
    const supervisor_gang_t *gg = s->gang;
    if (gg && gg->nodes > 0) {
        int per = gg->gpus_per_node > 0 ? gg->gpus_per_node : 1;
        env_set(e, "MASTER_ADDR", gg->master_addr);
        env_setf(e, "MASTER_PORT", "%d", gg->master_port);
        env_setf(e, "NNODES", "%d", gg->nodes);
        env_setf(e, "NODE_RANK", "%d", gg->node_rank);
        /* an uneven gang (8+4): the world is the gang's GPUs, not nodes x this node's */
        env_setf(e, "WORLD_SIZE", "%d", gg->world_size > 0 ? gg->world_size : gg->nodes * per);
        env_setf(e, "GANTRY_RANK_OFFSET", "%d",
                 gg->world_size > 0 ? gg->rank_offset : gg->node_rank * per);
        env_setf(e, "LOCAL_WORLD_SIZE", "%d", per);
        env_setf(e, "GPUS_PER_NODE", "%d", gg->gpus_per_node);
        env_set(e, "PET_MASTER_ADDR", gg->master_addr);
        env_setf(e, "PET_MASTER_PORT", "%d", gg->master_port);
        env_setf(e, "PET_NNODES", "%d", gg->nodes);
        env_setf(e, "PET_NODE_RANK", "%d", gg->node_rank);
        env_setf(e, "PET_NPROC_PER_NODE", "%d", per);
        if (per == 1) {
            env_setf(e, "RANK", "%d", gg->world_size > 0 ? gg->rank_offset : gg->node_rank);
            env_set(e, "LOCAL_RANK", "0");
        }
    }
    slurm_env(e, s, rj);
}

typedef struct stop_req {
    char reason[16];
    int sig;
    int64_t grace_s;
} stop_req_t;

static bool read_stop(const char *dir, stop_req_t *r)
{
    char *path = gt_strfmt("%s/stop", dir);
    FILE *f = fopen(path, "re");
    free(path);
    if (!f)
        return false;
    char line[128];
    snprintf(r->reason, sizeof(r->reason), "cancelled");
    r->sig = SIGTERM;
    r->grace_s = 10;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, "reason=", 7))
            snprintf(r->reason, sizeof(r->reason), "%.15s", line + 7);
        else if (!strncmp(line, "signal=", 7))
            r->sig = atoi(line + 7);
        else if (!strncmp(line, "grace_s=", 8))
            r->grace_s = strtoll(line + 8, NULL, 10);
    }
    fclose(f);
    return true;
}

/* Signals the job's process group and every process of its cgroup. */
static void signal_job(pid_t pgid, cgroup_t *cg, int sig)
{
    kill(-pgid, sig);
    if (cg)
        cgroup_signal_all(cg, sig);
}

/* Seconds left on the node's lease for a job with spec.fence (<= 0: it ran out, or the node
 * holds none, and a job that must be fenced never runs without one); *grace is the most grace
 * a fenced job gets. A job without spec.fence has all the time in the world. */
static double lease_left(const supervisor_spec_t *s, double *grace)
{
    *grace = 0;
    if (!s->fence)
        return 1e9;
    fence_lease_t l;
    if (fence_lease_read(s->state_dir, &l) < 0)
        return 0;
    *grace = l.grace_s < 0 ? 0 : l.grace_s;
    return l.deadline - fence_clock();
}

/* A job being stopped: why, and when SIGKILL follows. */
typedef struct stopping {
    bool on;
    char reason[16];
    double kill_at;
} stopping_t;

/* Starts stopping the job for reason: sig now, SIGKILL grace_s from now. A job already
 * stopping keeps its reason; a more urgent stop only shortens its grace. */
static void stop_job(pid_t pid, cgroup_t *cg, double now, const char *reason, int sig,
                     double grace_s, stopping_t *stop)
{
    if (!stop->on) {
        stop->on = true;
        snprintf(stop->reason, sizeof(stop->reason), "%s", reason);
        signal_job(pid, cg, sig > 0 ? sig : SIGTERM);
        stop->kill_at = now + grace_s;
    } else if (now + grace_s < stop->kill_at) {
        stop->kill_at = now + grace_s;
    }
}

/* The node's fence: the job's own stop (checkpoint) signal now, SIGKILL after its grace but
 * no later than grace_s from now. */
static void fence_job(const supervisor_spec_t *s, pid_t pid, cgroup_t *cg, double now,
                      double grace_s, stopping_t *stop)
{
    double g = (double)(s->grace_s > 0 ? s->grace_s : 0);
    stop_job(pid, cg, now, "fenced", s->stop_signal, grace_s < g ? grace_s : g, stop);
}

/* Makes dir (and its parents) and gives it to pw (NULL: left as made); *errmsg on failure. */
static int own_dir(const char *dir, unsigned mode, const struct passwd *pw, char **errmsg)
{
    if (gt_mkdirs(dir, mode, NULL) < 0) {
        *errmsg = gt_strfmt("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (pw && chown(dir, pw->pw_uid, pw->pw_gid) < 0) {
        *errmsg = gt_strfmt("cannot give %s to %s: %s", dir, pw->pw_name, strerror(errno));
        return -1;
    }
    return 0;
}

/* Starts the tee of the spec's output and error files (jobout.h) when it has them: *out_fd and
 * *err_fd become what the job writes to. Returns the tee's pid, 0 when there is none to
 * start (no pattern, or a pattern that is the first node's on another node of a gang), or -1
 * with *errmsg. */
static pid_t start_output_copies(const supervisor_spec_t *s, const struct passwd *pw,
                                 bool switch_user, const gid_t *groups, int ngroups,
                                 int *out_fd, int *err_fd, char **errmsg)
{
    const char *opat = s->output && *s->output ? s->output : NULL;
    const char *epat = s->error && *s->error ? s->error : opat; /* -o alone takes both */
    int rank = node_rank(s);
    /* sbatch's file is its batch step's, on the first node: another node writes only a
     * pattern that names it */
    if (opat && rank > 0 && !jobout_per_node(opat))
        opat = NULL;
    if (epat && rank > 0 && !jobout_per_node(epat))
        epat = NULL;
    if (!opat && !epat)
        return 0;
    jobout_vars_t v = {.job_id = s->job_id, .array_id = s->array_id,
                       .array_index = s->array_index, .name = slurm_job_name(s),
                       .node = s->node_name, .user = pw ? pw->pw_name : s->user,
                       .node_rank = rank};
    char *op = opat ? jobout_expand(opat, &v) : NULL, *ep = epat ? jobout_expand(epat, &v) : NULL;
    /* relative to the workdir as the plain process runtime has it, on the node */
    const char *dir = s->workdir ? s->workdir
                      : pw && pw->pw_dir && access(pw->pw_dir, X_OK) == 0 ? pw->pw_dir : "/";
    jobout_t jo = {.out_path = op, .err_path = ep, .dir = dir, .append = s->incarnation > 1,
                   .pw = pw, .switch_user = switch_user, .groups = groups,
                   .ngroups = ngroups};
    gt_error_t err = {0};
    pid_t tee = jobout_start(&jo, out_fd, err_fd, &err);
    if (tee < 0)
        *errmsg = gt_strfmt("%s", err.msg);
    free(op);
    free(ep);
    return tee;
}

/* Waits up to wait_s for the tee to end (it copies what is left once every writer is gone),
 * then kills it; *tee becomes 0. */
static void reap_tee(pid_t *tee, double wait_s)
{
    if (*tee <= 0)
        return;
    for (double until = gt_monotonic_s() + wait_s;;) {
        pid_t w = waitpid(*tee, NULL, WNOHANG);
        if (w == *tee || (w < 0 && errno == ECHILD))
            break;
        if (gt_monotonic_s() >= until) {
            kill(*tee, SIGKILL);
            waitpid(*tee, NULL, 0);
            break;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    *tee = 0;
}

/* Fetch progress: recorded in the state (phase pulling) for the agent's heartbeats. */
typedef struct pull_state {
    const char *dir;
    supervisor_state_t *st;
} pull_state_t;

static void on_pull_progress(runtime_job_t *job, uint64_t bytes)
{
    pull_state_t *p = job->progress_arg;
    p->st->pull_bytes = bytes;
    state_write(p->dir, p->st);
}

/* The supervisor itself: runs in the grandchild, never returns. ready is the write end of the
 * launcher's pipe; one byte on it says the state file holds the start (or its failure). */
static void supervise(const supervisor_spec_t *s, int ready)
{
    char *dir = supervisor_job_dir(s->state_dir, s->job_id, s->incarnation);
    supervisor_state_t st = {.job_id = s->job_id, .incarnation = s->incarnation,
                             .supervisor_pid = getpid(), .exit_code = -1};
    st.supervisor_start = proc_start(getpid());
    st.start_time = now_s();
    snprintf(st.phase, sizeof(st.phase), "running");
    cgroup_t *cg = NULL;
    env_t env = {0};
    int out_fd = -1, err_fd = -1;
    char **devs = NULL;
    char *ckpt = NULL, *errmsg = NULL, *scratch = NULL, *metrics = NULL;
    char fail_reason[16] = ""; /* the job's reason when it does not start (else "failed") */
    job_mount_t *mounts = NULL;
    bool ready_sent = false;
    struct passwd *pw = NULL;
    bool switch_user = false, prepared = false;
    const runtime_ops_t *rt = NULL;
    void *rt_priv = NULL;
    runtime_job_t rjob = {0};
    pull_state_t pull = {0};
    gid_t *groups = NULL;
    int ngroups = 0;
    pid_t tee = 0;                  /* the copies of the output and error files (jobout.h) */
    int job_out = -1, job_err = -1; /* what the job writes to, when the tee copies it */

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);   /* the job's orphans come back to us to be reaped */

    /* Who the job runs as. */
    if (s->user && *s->user) {
        errno = 0;
        pw = getpwnam(s->user);
        if (!pw) {
            errmsg = gt_strfmt("user '%s' does not exist on this node", s->user);
            goto start_failed;
        }
        if (pw->pw_uid == 0 && !s->allow_root) {
            errmsg =
                gt_strfmt("job would run as root (user '%s'); the agent refuses unless started "
                          "with --allow-root",
                          s->user);
            goto start_failed;
        }
        if (pw->pw_uid < SUPERVISOR_MIN_USER_UID && !s->allow_system_account) {
            errmsg =
                gt_strfmt("job would run as '%s', a system account (uid %u, below %d); the agent "
                          "refuses unless the administrator allows the job's user system "
                          "accounts (allow_system_account)",
                          s->user, (unsigned)pw->pw_uid, SUPERVISOR_MIN_USER_UID);
            goto start_failed;
        }
        if (pw->pw_uid != geteuid()) {
            if (geteuid() != 0) {
                errmsg = gt_strfmt("the agent runs as uid %d and cannot run jobs as '%s'",
                                   (int)geteuid(), s->user);
                goto start_failed;
            }
            switch_user = true;
            /* The supplementary groups are looked up here, not in the child between fork and
             * exec: NSS (files, systemd) costs milliseconds there. */
            ngroups = 32;
            groups = xcalloc((size_t)ngroups, sizeof(gid_t));
            if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ngroups) < 0) {
                groups = xrealloc(groups, (size_t)ngroups * sizeof(gid_t));
                if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ngroups) < 0) {
                    errmsg = gt_strfmt("cannot list the groups of '%s'", s->user);
                    goto start_failed;
                }
            }
        }
    } else {
        pw = getpwuid(geteuid());
        if (geteuid() == 0 && !s->allow_root) {
            errmsg = gt_strfmt("job has no user and the agent runs as root; give the job a user, "
                               "or start the agent with --job-user or --allow-root");
            goto start_failed;
        }
    }
    /* The checkpoint directory outlives this incarnation. */
    ckpt = s->checkpoint_root ? gt_strfmt("%s/%" PRId64, s->checkpoint_root, s->job_id)
                              : gt_strfmt("%s/checkpoints/%" PRId64, s->state_dir, s->job_id);
    if (gt_mkdirs(ckpt, 0700, NULL) < 0) {
        errmsg = gt_strfmt("cannot create checkpoint directory %s: %s", ckpt, strerror(errno));
        goto start_failed;
    }
    if (switch_user && chown(ckpt, pw->pw_uid, pw->pw_gid) < 0) {
        errmsg = gt_strfmt("cannot give %s to %s: %s", ckpt, s->user, strerror(errno));
        goto start_failed;
    }
    /* The output directory (on the output volume: kept) and node-local scratch (removed at
     * the end), both the job's user's. */
    if (s->output_dir && own_dir(s->output_dir, 0755, switch_user ? pw : NULL, &errmsg) < 0)
        goto start_failed;
    {
        char *root =
            s->scratch_root ? xstrdup(s->scratch_root) : gt_strfmt("%s/scratch", s->state_dir);
        scratch = gt_strfmt("%s/%" PRId64 ".%d", root, s->job_id, s->incarnation);
        int rc = own_dir(root, 0711, NULL, &errmsg);
        free(root);
        if (rc < 0)
            goto start_failed;
    }
    if (own_dir(scratch, 0700, switch_user ? pw : NULL, &errmsg) < 0) {
        free(scratch);
        scratch = NULL;
        goto start_failed;
    }
    /* Each mount's sub_path resolved beneath its volume: one that leaves it is refused. */
    mounts = xcalloc(s->nmounts + 1, sizeof(*mounts));
    for (size_t i = 0; i < s->nmounts; i++) {
        gt_error_t err = {0};
        mounts[i] = (job_mount_t){.host_path = s->mounts[i].host_path,
                                  .sub_path = s->mounts[i].sub_path,
                                  .path = s->mounts[i].path,
                                  .read_only = s->mounts[i].read_only};
        if (mounts_resolve(&mounts[i], &err) < 0) {
            errmsg =
                gt_strfmt("mount %s: %s", s->mounts[i].path ? s->mounts[i].path : "?", err.msg);
            goto start_failed;
        }
    }

    char *outp = gt_strfmt("%s/stdout", dir), *errp = gt_strfmt("%s/stderr", dir);
    out_fd = open(outp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    err_fd = open(errp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    free(outp);
    free(errp);
    if (out_fd < 0 || err_fd < 0) {
        errmsg = gt_strfmt("cannot open log files in %s: %s", dir, strerror(errno));
        goto start_failed;
    }
    /* $GANTRY_METRICS (docs/tracking.md): the job's user's file, which the agent ships. A
     * restarted supervisor of the same run appends to it. */
    if (node_rank(s) == 0) { /* one series per job: its first node's (rank 0) */
        metrics = supervisor_metrics_path(s->state_dir, s->job_id, s->incarnation);
        /* the agent made metrics/ (0711) at its start; a state directory from elsewhere (an
         * older agent's, a test's) gets it here */
        char *mdir = gt_strfmt("%s/metrics", s->state_dir);
        gt_mkdirs(mdir, 0711, NULL); /* on failure, open() below says why */
        free(mdir);
        int mfd = open(metrics, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (mfd < 0 || (switch_user && fchown(mfd, pw->pw_uid, pw->pw_gid) < 0)) {
            errmsg = gt_strfmt("cannot make the metrics file %s: %s", metrics,
                               strerror(errno));
            if (mfd >= 0)
                close(mfd);
            goto start_failed;
        }
        close(mfd);
    }

    rt = runtime_for(s);
    if (s->cgroup) {
        gt_error_t err = {0};
        cgroup_limits_t lim = s->limits;
        size_t ndev = 0;
        if (rt->own_device_rules)
            lim.restrict_devices = false;
        if (lim.restrict_devices) {
            devs = gpu_device_files(s->dev_dir, s->gpus, s->ngpus, &ndev);
            lim.devices = (const char *const *)devs;
            lim.ndevices = ndev;
        }
        char *name = cgroup_name(s->job_id, s->incarnation);
        cg = cgroup_create(s->cgroup, name, &lim, &err);
        free(name);
        if (!cg) {
            errmsg = gt_strfmt("%s", err.msg);
            goto start_failed;
        }
    }
    /* The runtime (runtime.h) prepares what the command needs. */
    rjob = (runtime_job_t){.spec = s, .dir = dir, .cg = cg, .pw = pw,
                           .switch_user = switch_user, .groups = groups, .ngroups = ngroups,
                           .out_fd = out_fd, .err_fd = err_fd, .checkpoint_dir = ckpt,
                           .output_dir = s->output_dir, .scratch_dir = scratch,
                           .metrics_file = metrics,
                           .mounts = mounts, .nmounts = s->nmounts,
                           .progress = on_pull_progress, .progress_arg = &pull};
    pull = (pull_state_t){.dir = dir, .st = &st};
    if (rt->slow_prepare) {
        /* A fetch may take minutes: the agent learns that the job is here (phase pulling)
         * and goes on; the time limit starts only once the command runs. */
        snprintf(st.phase, sizeof(st.phase), "pulling");
        state_write(dir, &st);
        if (write(ready, "r", 1) < 0) {
            /* the launcher is gone: the job goes on */
        }
        ready_sent = true;
    }
    prepared = true;
    {
        gt_error_t err = {0};
        if (rt->prepare(&rjob, &rt_priv, &err) < 0) {
            errmsg = gt_strfmt("%s", err.msg);
            if (!strcmp(err.code, "image_pull"))
                snprintf(fail_reason, sizeof(fail_reason), "image_pull");
            goto start_failed;
        }
    }
    snprintf(st.image_digest, sizeof(st.image_digest), "%s", rjob.image_digest);
    snprintf(st.phase, sizeof(st.phase), "running");
    if (rt->slow_prepare) {
        /* Stopped while it was being prepared: it never starts. */
        stop_req_t r;
        if (read_stop(dir, &r) && strcmp(r.reason, "fenced")) {
            snprintf(fail_reason, sizeof(fail_reason), "%s", r.reason);
            errmsg = gt_strfmt("stopped (%s) before it started", r.reason);
            goto start_failed;
        }
    }
    build_env(&env, s, pw, &rjob);
    rjob.envp = env.v;
    job_out = out_fd;
    job_err = err_fd;
    tee = start_output_copies(s, pw, switch_user, groups, ngroups, &job_out, &job_err, &errmsg);
    if (tee < 0) {
        tee = 0;
        goto start_failed;
    }
    rjob.out_fd = job_out;
    rjob.err_fd = job_err;

    /* Say that the job is here before it starts: an agent that replaces the one that asked
     * for it (killed meanwhile) lists it when it registers. Then, for a job to fence, check
     * that no later agent has taken over: it may have registered before this record was
     * written, without the job, and the server may have started it elsewhere. */
    state_write(dir, &st);
    double fgrace;
    fence_lease_t cur;
    if (lease_left(s, &fgrace) <= 0) {
        snprintf(fail_reason, sizeof(fail_reason), "fenced");
        errmsg = gt_strfmt("not started: the node's lease from the server had run out (the node "
                           "could not reach the server), so the server may run the job elsewhere");
        goto start_failed;
    }
    if (s->fence && s->agent && fence_lease_read(s->state_dir, &cur) == 0 &&
        cur.agent != s->agent) {
        snprintf(fail_reason, sizeof(fail_reason), "fenced");
        errmsg =
            gt_strfmt("not started: the agent that asked for it was replaced before it started "
                      "(the new one may have registered without it)");
        goto start_failed;
    }
    pid_t pid;
    {
        gt_error_t err = {0};
        pid = rt->start(&rjob, rt_priv, &err);
        /* the job has the tee's pipes now: the tee ends when the job's tree has closed them */
        if (job_out != out_fd)
            close(job_out);
        if (job_err != err_fd)
            close(job_err);
        job_out = out_fd;
        job_err = err_fd;
        if (pid < 0) {
            errmsg = gt_strfmt("%s", err.msg);
            goto start_failed;
        }
    }
    st.pid = pid;
    state_write(dir, &st);
    if (!ready_sent && write(ready, "r", 1) < 0) {
        /* the launcher is gone: the job runs on */
    }
    ready_sent = true; /* ready stays open: its end tells the agent that this supervisor ended */

    /* Wait for the end, a stop request, the time limit, or the end of the node's lease. */
    double t0 = gt_monotonic_s();
    double limit_at = s->time_limit_s > 0 ? t0 + (double)s->time_limit_s : 0;
    stopping_t stop = {0};
    bool killed = false, fenced = false;
    int status = 0;
    for (;;) {
        double now = gt_monotonic_s(), wake = now + 3600;
        if (s->fence && !fenced) {
            /* Read again at least every second: the monotonic clock of the wait stops during
             * a suspend, the lease's does not. */
            double left = lease_left(s, &fgrace);
            if (left <= 0) {
                fenced = true;
                fence_job(s, pid, cg, now, fgrace, &stop);
            } else {
                wake = now + (left < 1 ? left : 1);
            }
        }
        if (limit_at && !stop.on && limit_at < wake)
            wake = limit_at;
        if (stop.on && !killed)
            wake = stop.kill_at;
        double dt = wake - now;
        if (dt < 0)
            dt = 0;
        struct timespec ts = {(time_t)dt, (long)((dt - (double)(time_t)dt) * 1e9)};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &ts);
        now = gt_monotonic_s();
        if (sig == SIGCHLD || sig < 0) {
            pid_t w;
            bool done = false;
            int ws;
            while ((w = waitpid(-1, &ws, WNOHANG)) > 0)
                if (w == pid) {
                    status = ws;
                    done = true;
                    break;
                } else if (w == tee) {
                    tee = 0; /* the job closed its output early: the tee is done */
                }
            if (done)
                break;
        } else if (sig == SIGUSR1 || sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            stop_req_t r = {.reason = "cancelled", .sig = SIGTERM, .grace_s = 10};
            bool asked = read_stop(dir, &r);
            if (!asked && sig == SIGUSR1)
                continue;
            if (!strcmp(r.reason, "fenced")) {
                /* The agent found the lease run out before this supervisor did. A job the
                 * server would not run elsewhere is not fenced: the request goes, so that a
                 * later signal is not taken for it. */
                if (s->fence) {
                    fenced = true;
                    fence_job(s, pid, cg, now, (double)r.grace_s, &stop);
                } else {
                    char *path = gt_strfmt("%s/stop", dir);
                    unlink(path);
                    free(path);
                }
            } else {
                stop_job(pid, cg, now, r.reason, r.sig, (double)r.grace_s, &stop);
            }
        }
        if (limit_at && !stop.on && now >= limit_at) {
            stop_job(pid, cg, now, "time_limit", s->stop_signal,
                     (double)(s->grace_s > 0 ? s->grace_s : 0), &stop);
        }
        if (stop.on && !killed && now >= stop.kill_at) {
            killed = true;
            signal_job(pid, cg, SIGKILL);
        }
    }

    /* The main process ended: nothing of its tree may outlive it. */
    kill(-pid, SIGKILL);
    kill_cgroup(cg, gt_monotonic_s() + 10);
    /* As the subreaper, every descendant comes back to us: reap until none is left (or 5 s,
     * for one stuck in the kernel or escaped to another group without a cgroup). */
    for (double until = gt_monotonic_s() + 5; gt_monotonic_s() < until;) {
        pid_t w = waitpid(-1, NULL, WNOHANG);
        if (w < 0 && errno == ECHILD)
            break;
        if (w == tee)
            tee = 0; /* it copied all (every writer gone) */
        if (w > 0)
            continue;
        kill(-pid, SIGKILL);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    st.end_time = now_s();
    rt->exit_status(rt_priv, status, &st.exit_code, &st.signal);
    if (stop.on) {
        snprintf(st.reason, sizeof(st.reason), "%s", stop.reason);
        if (!strcmp(stop.reason, "fenced"))
            snprintf(st.message, sizeof(st.message),
                     "stopped by its node's fence: the node's lease from the server ran out "
                     "(the node could not reach the server), so the server may run the job "
                     "elsewhere");
    } else if (cg && (cgroup_oom_killed(cg) ||
                    (st.signal == SIGKILL && cgroup_hit_memory_limit(cg)))) {
        snprintf(st.reason, sizeof(st.reason), "oom");
        snprintf(st.message, sizeof(st.message),
                 "killed by the kernel's OOM killer: the job went over its memory limit of "
                 "%" PRId64 " MiB",
                 s->limits.memory_bytes >> 20);
    } else if (st.exit_code == 0 && st.signal == 0)
        snprintf(st.reason, sizeof(st.reason), "completed");
    else
        snprintf(st.reason, sizeof(st.reason), "failed");
    goto finish;

start_failed:
    snprintf(st.reason, sizeof(st.reason), "%s",
             fail_reason[0] ? fail_reason : "failed");
    snprintf(st.message, sizeof(st.message), "%s", errmsg ? errmsg : "cannot start");
    st.end_time = now_s();
finish:
    /* A job that did not start gave the tee nothing: its pipes close here, and it ends. */
    if (job_out != out_fd && job_out >= 0)
        close(job_out);
    if (job_err != err_fd && job_err >= 0)
        close(job_err);
    reap_tee(&tee, 2);
    snprintf(st.phase, sizeof(st.phase), "exited");
    if (prepared)
        rt->cleanup(&rjob, rt_priv);
    /* Before the end is recorded (state_write below): once the agent reports it, the job's
     * cgroup is gone. It can fail only with a process that outlived kill_cgroup's 10 s
     * (stuck in the kernel); nothing retries then, so supervisor.log says which is left. */
    if (cg && cgroup_destroy(cg) < 0)
        fprintf(stderr, "gantry supervisor: job %" PRId64 ".%d: cannot remove its cgroup "
                        "job-%" PRId64 ".%d: %s\n",
                s->job_id, s->incarnation, s->job_id, s->incarnation, strerror(errno));
    /* A node-local checkpoint directory the job left empty goes (the next incarnation, here,
     * makes it again): otherwise every job ever run leaves one. Never on a shared root, where
     * another node's newer incarnation may have just made it. */
    if (ckpt && !s->checkpoint_root)
        rmdir(ckpt);
    if (scratch)
        runtime_remove_tree(scratch);
    for (size_t i = 0; mounts && i < s->nmounts; i++)
        free(mounts[i].source);
    free(mounts);
    state_write(dir, &st);
    if (!ready_sent && write(ready, "x", 1) < 0) {
        /* the launcher is gone */
    }
    _exit(0);
}

int supervisor_spawn(const supervisor_spec_t *s, int *ready_fd, gt_error_t *err)
{
    *ready_fd = -1;
    bool image = s->image && *s->image; /* then the image's Entrypoint and Cmd may run */
    if (!image && (!s->argv || !s->argv[0] || !*s->argv[0])) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "job %" PRId64 " has no command",
                            s->job_id);
    }
    char *dir = supervisor_job_dir(s->state_dir, s->job_id, s->incarnation);
    char *jobs = gt_strfmt("%s/jobs", s->state_dir);
    int rc = -1, fds[2] = {-1, -1};
    if (gt_mkdirs(jobs, 0700, NULL) < 0) {
        gt_error_set(err, "internal", "cannot create %s: %s", jobs, strerror(errno));
        goto out;
    }
    if (mkdir(dir, 0755) < 0) {
        gt_error_set(err, errno == EEXIST ? "conflict" : "internal",
                     "cannot create job directory %s: %s", dir, strerror(errno));
        goto out;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        gt_error_set(err, "internal", "pipe: %s", strerror(errno));
        goto undo_dir;
    }
    fflush(NULL);
    /* One fork: the supervisor leaves the agent's session (setsid) but stays its child until
     * the agent ends (the agent reaps it; an agent that dies hands it to init). A second fork
     * to detach it from the agent at once cost a few milliseconds of every start. */
    pid_t sup = fork();
    if (sup < 0) {
        gt_error_set(err, "internal", "fork: %s", strerror(errno));
        goto undo_dir;
    }
    if (sup == 0) {
        setsid();
        /* The supervisor keeps only fd 3 (ready, not inherited by the job) and logs its own
         * trouble (a crash report, say) in the state dir's supervisor.log, one file for all
         * jobs: a file per job was one more inode to create and remove per start. */
        if (fds[1] != 3) {
            if (dup2(fds[1], 3) < 0)
                _exit(1);
        }
        fcntl(3, F_SETFD, FD_CLOEXEC);
        close_range(4, ~0U, 0);
        int null = open("/dev/null", O_RDONLY);
        char *log = gt_strfmt("%s/supervisor.log", s->state_dir);
        int lf = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        free(log);
        if (null >= 0)
            dup2(null, 0);
        if (lf >= 0) {
            dup2(lf, 1);
            dup2(lf, 2);
        }
        if (null > 3)
            close(null);
        if (lf > 3)
            close(lf);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGCHLD, SIG_DFL);
        supervise(s, 3);
    }
    close(fds[1]);
    fds[1] = -1;
    *ready_fd = fds[0];
    fds[0] = -1;
    rc = 0;
    goto out;
undo_dir:
    rmdir(dir);
out : {
    int e = errno;
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(dir);
    free(jobs);
    errno = e;
    return rc;
}
}

int supervisor_wait_started(const char *state_dir, int64_t job_id, int incarnation,
                            int ready_fd, supervisor_state_t *st, gt_error_t *err)
{
    char c;
    ssize_t n;
    do
        n = read(ready_fd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (supervisor_read(state_dir, job_id, incarnation, st, err) < 0) {
        errno = ECHILD;
        gt_error_set(err, "internal",
                     "the supervisor of job %" PRId64 " died before starting it (see %s/"
                     "supervisor.log)",
                     job_id, state_dir);
        return -1;
    }
    return 0;
}

int supervisor_launch(const supervisor_spec_t *s, supervisor_state_t *st, gt_error_t *err)
{
    int fd;
    if (supervisor_spawn(s, &fd, err) < 0)
        return -1;
    int rc = supervisor_wait_started(s->state_dir, s->job_id, s->incarnation, fd, st, err);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}
