/* jobout.c: node-side copies of a job's stdout and stderr (see jobout.h). */
#include "agent/jobout.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Slurm's NO_VAL, which sbatch writes for %a outside an array */
#define NOT_AN_ARRAY_INDEX 4294967294LL

char *jobout_expand(const char *p, const jobout_vars_t *v)
{
    gt_buf_t b = {0};
    gt_buf_printf(&b, "%s", "");
    while (*p) {
        if (*p != '%') {
            gt_buf_printf(&b, "%c", *p++);
            continue;
        }
        const char *code = p++;
        int width = 0;
        while (isdigit((unsigned char)*p)) {
            if (width < 100)
                width = width * 10 + (*p - '0');
            p++;
        }
        if (width > 20)
            width = 20;
        if (*p == '%' && p == code + 1) { /* "%%" */
            gt_buf_printf(&b, "%%");
            p++;
            continue;
        }
        bool num = true;
        int64_t n = 0;
        const char *s = NULL;
        switch (*p) {
        case 'j': n = v->job_id; break;
        case 'A': n = v->array_id > 0 ? v->array_id : v->job_id; break;
        case 'a': n = v->array_id > 0 ? v->array_index : NOT_AN_ARRAY_INDEX; break;
        case 'n':
        case 't': n = v->node_rank; break;
        case 'x': num = false, s = v->name ? v->name : ""; break;
        case 'u': num = false, s = v->user ? v->user : ""; break;
        case 'N': num = false, s = v->node ? v->node : ""; break;
        default:
            /* not a code: as written (a '%' at the end included) */
            gt_buf_printf(&b, "%.*s", (int)(p - code) + (*p ? 1 : 0), code);
            if (*p)
                p++;
            continue;
        }
        p++;
        if (num)
            gt_buf_printf(&b, "%0*" PRId64, width, n);
        else if (code[1] == 'N') /* the short name, as Slurm's %N */
            gt_buf_printf(&b, "%.*s", (int)strcspn(s, "."), s);
        else
            gt_buf_printf(&b, "%s", s);
    }
    return b.data;
}

bool jobout_per_node(const char *p)
{
    for (; *p; p++) {
        if (*p != '%')
            continue;
        const char *c = p + 1;
        while (isdigit((unsigned char)*c))
            c++;
        if (*c == 'N' || *c == 'n' || *c == 't')
            return true;
        if (*c == '%' && c == p + 1)
            p = c; /* "%%": a '%', not the start of a code */
    }
    return false;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The tee's child: tells the parent on st why it could not open the files (then exits), or
 * closes st and copies until every writer is gone. Never returns. */
static void tee_main(const jobout_t *jo, int in_out, int in_err, int log_out, int log_err,
                     int st)
{
    sigset_t none;
    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Nothing of the supervisor's stays open here (its ready pipe above all: the agent takes
     * its end of file for the supervisor's end). */
    int keep[5] = {in_out, in_err, log_out, log_err, st}, nk = 0;
    for (int i = 0; i < 5; i++)
        if (keep[i] >= 0)
            keep[nk++] = keep[i];
    for (int i = 1; i < nk; i++)
        for (int k = i; k > 0 && keep[k - 1] > keep[k]; k--) {
            int t = keep[k];
            keep[k] = keep[k - 1];
            keep[k - 1] = t;
        }
    unsigned lo = 0;
    for (int i = 0; i < nk; i++) {
        if ((unsigned)keep[i] > lo)
            close_range(lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    close_range(lo, ~0U, 0);
    char msg[600];
    if (jo->switch_user &&
        (setgroups((size_t)jo->ngroups, jo->groups) < 0 || setgid(jo->pw->pw_gid) < 0 ||
         setuid(jo->pw->pw_uid) < 0)) {
        snprintf(msg, sizeof(msg), "cannot become the job's user: %s", strerror(errno));
        goto fail;
    }
    if (jo->dir && chdir(jo->dir) < 0) {
        snprintf(msg, sizeof(msg), "cannot enter workdir %s for the output files: %s", jo->dir,
                 strerror(errno));
        goto fail;
    }
    int flags = O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC | (jo->append ? O_APPEND : O_TRUNC);
    int fo = -1, fe = -1;
    if (jo->out_path && (fo = open(jo->out_path, flags, 0644)) < 0) {
        snprintf(msg, sizeof(msg), "cannot open output file %s: %s", jo->out_path,
                 strerror(errno));
        goto fail;
    }
    if (jo->err_path && fo >= 0 && !strcmp(jo->err_path, jo->out_path))
        fe = fo;
    else if (jo->err_path && (fe = open(jo->err_path, flags, 0644)) < 0) {
        snprintf(msg, sizeof(msg), "cannot open error file %s: %s", jo->err_path,
                 strerror(errno));
        goto fail;
    }
    close(st);
    struct pollfd p[2] = {{.fd = in_out, .events = POLLIN}, {.fd = in_err, .events = POLLIN}};
    int log[2] = {log_out, log_err}, copy[2] = {fo, fe};
    static char buf[65536];
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1; /* poll skips a negative fd */
                continue;
            }
            if (write_all(log[i], buf, (size_t)n) < 0) {
                /* the node's disk: the copy below still gets it */
            }
            if (copy[i] >= 0 && write_all(copy[i], buf, (size_t)n) < 0)
                copy[i] = -1; /* a full or gone file: the job goes on, the log keeps all */
        }
    }
    _exit(0);
fail:
    if (write(st, msg, strlen(msg)) < 0) {
        /* the parent sees an end of file without a message */
    }
    _exit(1);
}

pid_t jobout_start(const jobout_t *jo, int *out_fd, int *err_fd, gt_error_t *err)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, st[2] = {-1, -1};
    pid_t pid = -1;
    if ((jo->out_path && pipe2(po, O_CLOEXEC) < 0) || (jo->err_path && pipe2(pe, O_CLOEXEC) < 0) ||
        pipe2(st, O_CLOEXEC) < 0) {
        gt_error_set(err, "internal", "pipe: %s", strerror(errno));
        goto fail;
    }
    pid = fork();
    if (pid < 0) {
        gt_error_set(err, "internal", "fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0)
        tee_main(jo, po[0], pe[0], *out_fd, *err_fd, st[1]);
    close(st[1]);
    st[1] = -1;
    char msg[600];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(st[0], msg + got, sizeof(msg) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) == sizeof(msg) - 1)
            break;
    }
    msg[got] = '\0';
    if (got > 0) {
        waitpid(pid, NULL, 0);
        pid = -1;
        errno = EACCES;
        gt_error_set(err, "failed", "%s", msg);
        goto fail;
    }
    close(st[0]);
    if (po[0] >= 0) {
        close(po[0]);
        *out_fd = po[1];
    }
    if (pe[0] >= 0) {
        close(pe[0]);
        *err_fd = pe[1];
    }
    return pid;
fail: {
    int e = errno;
    int *fds[] = {po, pe, st};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++)
            if (fds[i][k] >= 0)
                close(fds[i][k]);
    errno = e;
    return -1;
}
}
