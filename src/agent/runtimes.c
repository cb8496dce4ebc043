/* runtimes.c: finds runc, crun, skopeo and umoci (see runtimes.h). */
#include "agent/runtimes.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CGROUP2_MAGIC 0x63677270
#define VERSION_TIMEOUT_MS 5000

/* Runs `prog --version` (no shell, stdin /dev/null, every other fd closed) and fills p. */
static void probe(const char *prog, runtimes_prog_t *p)
{
    memset(p, 0, sizeof(*p));
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(p->why, sizeof(p->why), "cannot run %s: %s", prog, strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0)
            _exit(127);
        close_range(3, ~0U, 0);
        char *argv[] = {(char *)prog, "--version", NULL};
        execvp(prog, argv);
        _exit(errno == ENOENT ? 126 : 127);
    }
    close(fds[1]);
    if (pid < 0) {
        snprintf(p->why, sizeof(p->why), "cannot run %s: %s", prog, strerror(errno));
        close(fds[0]);
        return;
    }
    char out[1024];
    size_t len = 0;
    double end = gt_monotonic_s() * 1e3 + VERSION_TIMEOUT_MS;
    bool timed_out = false;
    for (;;) {
        int left = (int)(end - gt_monotonic_s() * 1e3);
        if (left <= 0) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        int r = poll(&pf, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t n = read(fds[0], out + len, sizeof(out) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof(out) - 1)
            break;
    }
    close(fds[0]);
    out[len] = '\0';
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
    if (timed_out) {
        snprintf(p->why, sizeof(p->why), "`%s --version` did not answer within %d s", prog,
                 VERSION_TIMEOUT_MS / 1000);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 126) {
        snprintf(p->why, sizeof(p->why), "%s not found on PATH", prog);
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(p->why, sizeof(p->why), "`%s --version` failed: %.100s", prog,
                 *out ? out : "no message");
    } else {
        p->usable = true;
        /* "runc version 1.1.5+ds1", "skopeo version 1.9.3": the word after "version" */
        const char *v = strstr(out, "version ");
        v = v ? v + 8 : out;
        snprintf(p->version, sizeof(p->version), "%.*s", (int)strcspn(v, " \t"), v);
    }
}

runtimes_cgroup_mode_t runtimes_cgroup_mode(const char *root)
{
    struct statfs fs;
    if (!root)
        root = "/sys/fs/cgroup";
    if (statfs(root, &fs) < 0)
        return RUNTIMES_CG_UNKNOWN;
    if ((unsigned long)fs.f_type == CGROUP2_MAGIC)
        return RUNTIMES_CG_V2;
    char unified[4096];
    snprintf(unified, sizeof(unified), "%s/unified", root);
    if (statfs(unified, &fs) == 0 && (unsigned long)fs.f_type == CGROUP2_MAGIC)
        return RUNTIMES_CG_HYBRID;
    return RUNTIMES_CG_V1;
}

/* crun refuses a hybrid host whose cgroup2 mount has controllers ("cgroups in hybrid mode
 * not supported, drop all controllers from cgroupv2"). */
static bool hybrid_with_controllers(const char *root)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/unified/cgroup.controllers", root ? root : "/sys/fs/cgroup");
    char *text = gt_read_file(path, NULL, NULL);
    bool any = text && text[strspn(text, " \t\r\n")];
    free(text);
    return any;
}

int runtimes_detect(const runtimes_opts_t *opts, runtimes_t *out, gt_error_t *err)
{
    runtimes_opts_t o = opts ? *opts : (runtimes_opts_t){0};
    memset(out, 0, sizeof(*out));
    if (o.oci_runtime && strcmp(o.oci_runtime, "runc") && strcmp(o.oci_runtime, "crun")) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "--oci-runtime is runc or crun, not '%s'",
                            o.oci_runtime);
    }
    probe("runc", &out->runc);
    probe("crun", &out->crun);
    probe("skopeo", &out->skopeo);
    probe("umoci", &out->umoci);
    out->cgroup_mode = runtimes_cgroup_mode(o.cgroup_root);
    if (out->crun.usable && out->cgroup_mode == RUNTIMES_CG_HYBRID && !o.crun_hybrid_ok &&
        hybrid_with_controllers(o.cgroup_root)) {
        out->crun.usable = false;
        snprintf(out->crun.why, sizeof(out->crun.why),
                 "crun %.20s refuses this host's hybrid cgroup layout (cgroup v1 with a "
                 "cgroup2 mount that has controllers)",
                 out->crun.version);
    }
    const runtimes_prog_t *rt = NULL;
    if (o.oci_runtime) {
        rt = !strcmp(o.oci_runtime, "runc") ? &out->runc : &out->crun;
        if (rt->usable)
            out->oci_runtime = !strcmp(o.oci_runtime, "runc") ? "runc" : "crun";
    } else if (out->runc.usable) {
        out->oci_runtime = "runc";
    } else if (out->crun.usable) {
        out->oci_runtime = "crun";
    }
    out->oci = out->oci_runtime && out->skopeo.usable && out->umoci.usable;
    if (!out->oci) {
        gt_buf_t b = {0};
        if (!out->oci_runtime) {
            if (o.oci_runtime)
                gt_buf_printf(&b, "--oci-runtime %s is not usable (%s)", o.oci_runtime, rt->why);
            else
                gt_buf_printf(&b, "no OCI runtime (%s; %s)", out->runc.why, out->crun.why);
        }
        if (!out->skopeo.usable)
            gt_buf_printf(&b, "%s%s", b.len ? "; " : "", out->skopeo.why);
        if (!out->umoci.usable)
            gt_buf_printf(&b, "%s%s", b.len ? "; " : "", out->umoci.why);
        snprintf(out->missing, sizeof(out->missing), "%s", b.data ? b.data : "");
        gt_buf_free(&b);
    }
    return 0;
}

void runtimes_to_json(const runtimes_t *rt, json_t *obj)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string("process"));
    if (rt->oci)
        json_array_append_new(a, json_string("oci"));
    json_object_set_new(obj, "runtimes", a);
    if (rt->oci)
        json_object_set_new(obj, "oci_runtime", json_string(rt->oci_runtime));
}

const char *runtimes_describe(const runtimes_t *rt, char *buf, size_t len)
{
    if (rt->oci) {
        const runtimes_prog_t *r = !strcmp(rt->oci_runtime, "runc") ? &rt->runc : &rt->crun;
        snprintf(buf, len,
                 "runtimes: process, oci (%s %s, skopeo %s, umoci %s): jobs with an image run "
                 "here.",
                 rt->oci_runtime, r->version, rt->skopeo.version, rt->umoci.version);
    } else {
        snprintf(buf, len,
                 "runtimes: process only: jobs with an image are not placed here: %s.",
                 rt->missing);
    }
    return buf;
}
