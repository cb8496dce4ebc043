/* runtime_process.c: the plain process runtime (runtime.h): the command runs on the node as
 * it is, as the job's user, in its workdir. Also the helpers every runtime's child uses. */
#include "agent/runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void runtime_child_fail(int errfd, const char *what, int e)
{
    char buf[300];
    int n = snprintf(buf, sizeof(buf), "%s: %s", what, strerror(e));
    if (n > 0 && write(errfd, buf, (size_t)n) < 0) {
        /* nothing more to do */
    }
    _exit(127);
}

void runtime_child_setup(const runtime_job_t *job, bool enter_cgroup, int errfd)
{
    setpgid(0, 0);
    if (enter_cgroup && job->cg && cgroup_attach(job->cg, getpid(), NULL) < 0)
        runtime_child_fail(errfd, "cannot enter the job's cgroup", errno);
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(job->out_fd, 1) < 0 || dup2(job->err_fd, 2) < 0)
        runtime_child_fail(errfd, "cannot set up stdin/stdout/stderr", errno);
}

void runtime_child_become_user(const runtime_job_t *job, int errfd)
{
    if (job->switch_user) {
        if (setgroups((size_t)job->ngroups, job->groups) < 0)
            runtime_child_fail(errfd, "setgroups", errno);
        if (setgid(job->pw->pw_gid) < 0)
            runtime_child_fail(errfd, "setgid", errno);
        if (setuid(job->pw->pw_uid) < 0)
            runtime_child_fail(errfd, "setuid", errno);
    }
}

void runtime_child_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t runtime_spawn(void (*child)(void *arg, int errfd), void *arg, gt_error_t *err)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        gt_error_set(err, "internal", "pipe: %s", strerror(errno));
        return -1;
    }
    /* vfork: the child shares this process's memory until it execs, so no page tables are
     * copied (the supervisor is a fork of the agent: a fork here cost a few ms per start on
     * a virtualised host). The child only makes system calls and execs or _exits; the
     * supervisor blocks its signals, so no handler runs in the child. */
    pid_t pid = vfork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        errno = e;
        gt_error_set(err, "internal", "vfork: %s", strerror(e));
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        child(arg, pfd[1]);
        runtime_child_fail(pfd[1], "the runtime's child returned", EINVAL);
    }
    setpgid(pid, pid); /* also done in the child: whichever runs first */
    close(pfd[1]);
    char cerr[400];
    ssize_t n;
    do
        n = read(pfd[0], cerr, sizeof(cerr) - 1);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n > 0) {
        cerr[n] = '\0';
        waitpid(pid, NULL, 0);
        gt_error_set(err, "failed", "%s", cerr);
        errno = ENOEXEC;
        return -1;
    }
    return pid;
}

static int remove_at(int at, const char *name)
{
    struct stat sb;
    if (fstatat(at, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(sb.st_mode))
        return unlinkat(at, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            remove_at(dirfd(d), de->d_name);
    closedir(d);
    return unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

int runtime_remove_tree(const char *path)
{
    return remove_at(AT_FDCWD, path);
}

/* ---- the plain process ------------------------------------------------------------------- */

static void process_child(void *arg, int errfd)
{
    const runtime_job_t *job = arg;
    const supervisor_spec_t *s = job->spec;
    runtime_child_setup(job, true, errfd);
    /* Mounts and network none: a private mount (and network) namespace, as root, before the
     * job's user is taken. */
    if (job->nmounts || s->network_none) {
        char why[300];
        if (mounts_enter(job->mounts, job->nmounts, s->network_none, why, sizeof(why)) < 0) {
            if (write(errfd, why, strlen(why)) < 0) {
                /* nothing more to do */
            }
            _exit(127);
        }
    }
    runtime_child_become_user(job, errfd);
    if (chdir(job->workdir) < 0) {
        char what[300];
        snprintf(what, sizeof(what), "cannot enter workdir %s", job->workdir);
        runtime_child_fail(errfd, what, errno);
    }
    runtime_child_signals();
    execvpe(s->argv[0], s->argv, job->envp);
    char what[300];
    snprintf(what, sizeof(what), "cannot run '%s'", s->argv[0]);
    runtime_child_fail(errfd, what, errno);
}

static int process_prepare(runtime_job_t *job, void **priv, gt_error_t *err)
{
    (void)err;
    *priv = NULL;
    const struct passwd *pw = job->pw;
    job->workdir = job->spec->workdir;
    if (!job->workdir)
        job->workdir = pw && pw->pw_dir && access(pw->pw_dir, X_OK) == 0 ? pw->pw_dir : "/";
    return 0;
}

static pid_t process_start(runtime_job_t *job, void *priv, gt_error_t *err)
{
    (void)priv;
    return runtime_spawn(process_child, job, err);
}

static void process_exit_status(void *priv, int status, int *exit_code, int *sig)
{
    (void)priv;
    if (WIFEXITED(status))
        *exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        *sig = WTERMSIG(status);
}

static void process_cleanup(runtime_job_t *job, void *priv)
{
    (void)job;
    (void)priv;
}

const runtime_ops_t runtime_process = {
    .name = "process",
    .slow_prepare = false,
    .prepare = process_prepare,
    .start = process_start,
    .exit_status = process_exit_status,
    .cleanup = process_cleanup,
};

const runtime_ops_t *runtime_for(const supervisor_spec_t *spec)
{
    if (spec->image && *spec->image)
        return &runtime_oci;
    return &runtime_process;
}
