/* launcher.c: both ends of the agent <-> gantry-launcher socket (see launcher.h). */
#include "agent/launcher.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/spec_wire.h"

#define MAX_REQUEST (16u << 20) /* a spec holds the command and its environment */

extern char **environ;

struct launcher {
    int sock;       /* the agent's end; -1 once the launcher is gone */
    pid_t pid;
    int timeout_ms; /* for an answer; past it the launcher is taken for hung */
    char *path, *nss_user; /* kept to start it again */
};

/* The answer to one request; the ready fd travels beside it (SCM_RIGHTS) when ok. */
typedef struct reply {
    int32_t ok;
    int32_t err_no;
    char code[32];
    char msg[sizeof(((gt_error_t *)0)->msg)];
} reply_t;

/* 1 after n bytes, 0 at a clean end of file before any, -1 on error or a cut-off message. */
static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            errno = got ? EPROTO : 0;
            return got ? -1 : 0;
        }
        got += (size_t)r;
    }
    return 1;
}

static int write_full(int fd, const void *buf, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t w = send(fd, (const char *)buf + put, n - put, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        put += (size_t)w;
    }
    return 0;
}

/* ---- the launcher program ------------------------------------------------------------------ */

static void send_reply(int sock, const reply_t *r, int fd)
{
    struct iovec iov = {.iov_base = (void *)r, .iov_len = sizeof(*r)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        m.msg_control = ctl.buf;
        m.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t w;
    do
        w = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
}

static void serve_one(int sock, const char *body, size_t len)
{
    reply_t r = {0};
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    spec_wire_t w;
    if (spec_wire_decode(o, &w) < 0) {
        r.err_no = EINVAL;
        snprintf(r.code, sizeof(r.code), "internal");
        snprintf(r.msg, sizeof(r.msg), "gantry-launcher: bad request (%s)",
                 o ? "not a supervisor spec" : je.text);
        json_decref(o);
        send_reply(sock, &r, -1);
        return;
    }
    gt_error_t err = {0};
    int fd = -1;
    if (supervisor_spawn(&w.s, &fd, &err) == 0) {
        r.ok = 1;
    } else {
        r.err_no = errno;
        snprintf(r.code, sizeof(r.code), "%s", err.code);
        snprintf(r.msg, sizeof(r.msg), "%s", err.msg);
    }
    send_reply(sock, &r, fd);
    if (fd >= 0)
        close(fd);
    spec_wire_free(&w);
    json_decref(o);
}

int launcher_serve(int sock, const char *nss_user)
{
    /* Children are reaped by the kernel; supervisor_spawn's child sets SIGCHLD back. */
    signal(SIGCHLD, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    supervisor_warm_nss(nss_user);
    char *body = NULL;
    size_t cap = 0;
    int status = 0;
    for (;;) {
        uint32_t len;
        int rc = read_full(sock, &len, sizeof(len));
        if (rc <= 0) {
            status = rc < 0;
            break; /* the agent is gone */
        }
        if (len > MAX_REQUEST) {
            status = 1;
            break;
        }
        if (len > cap) {
            cap = len;
            body = xrealloc(body, cap);
        }
        if (read_full(sock, body, len) <= 0) {
            status = 1;
            break;
        }
        serve_one(sock, body, len);
    }
    free(body);
    return status;
}

/* ---- the agent's side ---------------------------------------------------------------------- */

char *launcher_path(void)
{
    const char *env = getenv("GANTRY_LAUNCHER");
    if (env && *env)
        return access(env, X_OK) == 0 ? xstrdup(env) : (errno = ENOENT, NULL);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    gt_buf_t b = {0};
    gt_buf_printf(&b, "%s/gantry-launcher", self);
    if (access(b.data, X_OK) != 0) {
        gt_buf_free(&b);
        errno = ENOENT;
        return NULL;
    }
    return b.data;
}

static int launcher_exec(launcher_t *l, gt_error_t *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return gt_error_set(err, "internal", "socketpair: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3); /* dup2 clears close-on-exec */
    char *argv[] = {"gantry-launcher", l->nss_user ? "--nss-user" : NULL, l->nss_user, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, l->path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        errno = rc;
        return gt_error_set(err, "internal", "cannot start %s: %s", l->path, strerror(rc));
    }
    l->sock = sv[0];
    l->pid = pid;
    return 0;
}

launcher_t *launcher_start(const char *path, const char *nss_user, gt_error_t *err)
{
    launcher_t *l = xcalloc(1, sizeof(*l));
    l->sock = -1;
    l->timeout_ms = 10000;
    l->path = xstrdup(path);
    l->nss_user = nss_user ? xstrdup(nss_user) : NULL;
    if (launcher_exec(l, err) < 0) {
        int e = errno;
        launcher_stop(l);
        errno = e;
        return NULL;
    }
    return l;
}

/* One request and its answer; -1 with errno (EPIPE, ECONNRESET, EPROTO) when the launcher is
 * not there to answer. */
static int exchange(launcher_t *l, const char *body, size_t len, reply_t *r, int *fd)
{
    uint32_t n = (uint32_t)len;
    if (write_full(l->sock, &n, sizeof(n)) < 0 || write_full(l->sock, body, len) < 0)
        return -1;
    struct pollfd p = {.fd = l->sock, .events = POLLIN};
    int ready;
    do
        ready = poll(&p, 1, l->timeout_ms);
    while (ready < 0 && errno == EINTR);
    if (ready == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    struct iovec iov = {.iov_base = r, .iov_len = sizeof(*r)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl.buf,
                       .msg_controllen = sizeof(ctl.buf)};
    ssize_t got;
    do
        got = recvmsg(l->sock, &m, MSG_WAITALL | MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    for (struct cmsghdr *c = got > 0 ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    if (got != (ssize_t)sizeof(*r)) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        errno = got < 0 ? errno : EPROTO;
        return -1;
    }
    return 0;
}

/* Closes the agent's end and reaps the launcher: it exits at end of file; one that failed to
 * answer (hung) or does not exit within 2 s is killed first, so this never blocks for long. */
static void launcher_close(launcher_t *l, bool failed)
{
    if (l->sock >= 0)
        close(l->sock);
    l->sock = -1;
    if (l->pid <= 0)
        return;
    if (failed)
        kill(l->pid, SIGKILL);
    gt_reap_within(l->pid, 2);
    l->pid = 0;
}

void launcher_set_timeout(launcher_t *l, int timeout_ms) { l->timeout_ms = timeout_ms; }

int launcher_spawn(launcher_t *l, const supervisor_spec_t *spec, int *ready_fd,
                   gt_error_t *err)
{
    *ready_fd = -1;
    json_t *o = spec_wire_encode(spec);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t len = strlen(body);
    reply_t r = {0};
    int fd = -1, rc = -1;
    if (len > MAX_REQUEST) {
        errno = E2BIG;
        gt_error_set(err, "invalid_argument",
                     "job %" PRId64 "'s command and environment exceed %u MiB", spec->job_id,
                     MAX_REQUEST >> 20);
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        if (l->sock >= 0 && exchange(l, body, len, &r, &fd) == 0)
            break;
        int e = errno;
        launcher_close(l, true); /* it died or hung: start another and ask again, once */
        if (attempt == 1) {
            errno = e;
            gt_error_set(err, "internal", "gantry-launcher (%s) does not answer: %s", l->path,
                         strerror(e));
            goto out;
        }
        if (launcher_exec(l, err) < 0)
            goto out;
    }
    if (!r.ok) {
        r.code[sizeof(r.code) - 1] = r.msg[sizeof(r.msg) - 1] = '\0';
        errno = r.err_no ? r.err_no : EIO;
        gt_error_set(err, r.code[0] ? r.code : "internal", "%s", r.msg);
        goto out;
    }
    if (fd < 0) {
        errno = EPROTO;
        gt_error_set(err, "internal", "gantry-launcher sent no ready pipe");
        goto out;
    }
    *ready_fd = fd;
    rc = 0;
out:
    free(body);
    return rc;
}

pid_t launcher_pid(const launcher_t *l) { return l ? l->pid : 0; }

void launcher_stop(launcher_t *l)
{
    if (!l)
        return;
    launcher_close(l, false);
    free(l->path);
    free(l->nss_user);
    free(l);
}
