/* probe.c: service replicas' ports and probes on the node (probe.h). */
#include "agent/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct target {
    int64_t id;
    int inc;
    int port;
    json_t *readiness, *liveness;   /* NULL: none */
    uid_t uid;
    gid_t gid;
    double next_ready, next_live;   /* monotonic */
    int ready_fails, live_fails;
    bool ready, dead, busy;
    bool was_ready;                 /* ready at least once: liveness counts from then on */
} target_t;

struct probe_set {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t thread;
    bool stop;
    target_t *t;
    size_t n, cap;
    probe_event_t *ev;
    size_t nev, ev_cap;
};

static double mono(void) { return gt_monotonic_s(); }

int probe_free_port(int *port, gt_error_t *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return gt_error_set(err, "internal", "cannot open a socket for a free port: %s",
                            strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t sl = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return gt_error_set(err, "internal", "cannot find a free port: %s", strerror(e));
    }
    close(fd);
    *port = ntohs(sa.sin_port);
    return 0;
}

static double num(const json_t *spec, const char *k, double dflt)
{
    json_t *v = json_object_get(spec, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* ---- one probe ---- */

static int http_probe(const char *path, int port, double timeout, char *msg, size_t len)
{
    double deadline = mono() + timeout;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(msg, len, "cannot open a socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = -1;
    char buf[512];
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        snprintf(msg, len, "GET %s on port %d: %s", path, port, strerror(errno));
        goto out;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int ms = (int)((deadline - mono()) * 1000);
    if (poll(&p, 1, ms > 0 ? ms : 0) <= 0) {
        snprintf(msg, len, "GET %s on port %d: no connection within %.1f s", path, port,
                 timeout);
        goto out;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        snprintf(msg, len, "GET %s on port %d: %s", path, port, strerror(soerr));
        goto out;
    }
    char req[1200];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nUser-Agent: "
                     "gantry-probe\r\nConnection: close\r\n\r\n", path, port);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(msg, len, "GET %s on port %d: cannot send the request", path, port);
        goto out;
    }
    while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
        p = (struct pollfd){.fd = fd, .events = POLLIN};
        ms = (int)((deadline - mono()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0) {
            snprintf(msg, len, "GET %s on port %d: no answer within %.1f s", path, port,
                     timeout);
            goto out;
        }
        ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = 0;
    int code = 0;
    if (sscanf(buf, "HTTP/%*d.%*d %d", &code) != 1) {
        snprintf(msg, len, "GET %s on port %d: not an HTTP answer", path, port);
        goto out;
    }
    if (code >= 200 && code < 400)
        rc = 0;
    else
        snprintf(msg, len, "GET %s on port %d answered %d", path, port, code);
out:
    close(fd);
    return rc;
}

/* The command in a grandchild (its own process group), waited for by a child that writes its
 * status to a pipe: the agent's loop reaps any child of its own, never this one's result. */
static int command_probe(const json_t *cmd, int port, double timeout, uid_t uid, gid_t gid,
                         char *msg, size_t len)
{
    size_t argc = json_array_size(cmd);
    char **argv = xcalloc(argc + 1, sizeof(char *));
    for (size_t i = 0; i < argc; i++)
        argv[i] = (char *)json_string_value(json_array_get(cmd, i));
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **envp = xcalloc(nenv + 2, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "GANTRY_PORT=", 12))
            envp[k++] = environ[i];
    char portvar[32];
    snprintf(portvar, sizeof(portvar), "GANTRY_PORT=%d", port);
    envp[k++] = portvar;
    int fds[2];
    int rc = -1;
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(msg, len, "%s: cannot make a pipe: %s", argv[0], strerror(errno));
        goto out;
    }
    bool drop = geteuid() == 0 && uid != (uid_t)-1;
    pid_t mid = fork();
    if (mid < 0) {
        snprintf(msg, len, "%s: cannot fork: %s", argv[0], strerror(errno));
        close(fds[0]);
        close(fds[1]);
        goto out;
    }
    if (mid == 0) {
        close(fds[0]);
        pid_t g = fork();
        if (g == 0) {
            setpgid(0, 0);
            int dn = open("/dev/null", O_RDWR);
            if (dn >= 0) {
                dup2(dn, 0);
                dup2(dn, 1);
                dup2(dn, 2);
            }
            if (drop && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
                _exit(126);
            execvpe(argv[0], argv, envp);
            _exit(127);
        }
        int status = -1, out = 255 << 8;
        if (g > 0) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            double end = mono() + timeout;
            pid_t w;
            while ((w = waitpid(g, &status, WNOHANG)) == 0 && mono() < end)
                nanosleep(&ts, NULL);
            if (w == g)
                out = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            else {
                kill(-g, SIGKILL);
                kill(g, SIGKILL);
                waitpid(g, &status, 0);
                out = -2; /* timed out */
            }
        }
        ssize_t wr = write(fds[1], &out, sizeof(out));
        (void)wr;
        _exit(0);
    }
    close(fds[1]);
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    int code = 255 << 8;
    if (poll(&p, 1, (int)(timeout * 1000) + 2000) > 0 && read(fds[0], &code, sizeof(code)) ==
                                                              (ssize_t)sizeof(code)) {
        if (code == 0)
            rc = 0;
        else if (code == -2)
            snprintf(msg, len, "%s did not end within %.1f s", argv[0], timeout);
        else if (code == 127)
            snprintf(msg, len, "%s: command not found", argv[0]);
        else
            snprintf(msg, len, "%s exited with %d", argv[0], code);
    } else {
        snprintf(msg, len, "%s: no result", argv[0]);
        kill(mid, SIGKILL);
    }
    close(fds[0]);
    waitpid(mid, NULL, 0); /* ECHILD when the agent's loop reaped it first */
out:
    free(argv);
    free(envp);
    return rc;
}

/* The port accepts a connection. */
static int tcp_probe(int port, double timeout, char *msg, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(msg, len, "cannot open a socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        rc = 0;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (poll(&p, 1, (int)(timeout * 1000)) > 0 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
            rc = 0;
        else
            snprintf(msg, len, "port %d: %s", port, soerr ? strerror(soerr) : "no connection "
                     "in time");
    } else {
        snprintf(msg, len, "port %d: %s", port, strerror(errno));
    }
    close(fd);
    return rc;
}

int probe_run(const json_t *spec, int port, uid_t uid, gid_t gid, char *msg, size_t len)
{
    msg[0] = 0;
    double timeout = num(spec, "timeout", 1);
    if (json_is_true(json_object_get(spec, "tcp")))
        return tcp_probe(port, timeout, msg, len);
    const char *path = json_string_value(json_object_get(spec, "http"));
    if (path)
        return http_probe(path, port, timeout, msg, len);
    json_t *cmd = json_object_get(spec, "command");
    if (json_array_size(cmd))
        return command_probe(cmd, port, timeout, uid, gid, msg, len);
    snprintf(msg, len, "the probe has neither http nor command");
    return -1;
}

/* ---- the set and its thread ---- */

static void push(probe_set_t *ps, const target_t *t, probe_what_t what, const char *msg)
{
    GT_GROW(ps->ev, ps->ev_cap, ps->nev + 1);
    probe_event_t *e = &ps->ev[ps->nev++];
    *e = (probe_event_t){.job_id = t->id, .incarnation = t->inc, .port = t->port, .what = what};
    snprintf(e->message, sizeof(e->message), "%s", msg ? msg : "");
}

static target_t *find(probe_set_t *ps, int64_t id, int inc)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->t[i].id == id && ps->t[i].inc == inc)
            return &ps->t[i];
    return NULL;
}

/* Runs the probe due first (if any) with the lock released; true when one ran. */
static bool run_due(probe_set_t *ps)
{
    double now = mono();
    target_t *due = NULL;
    bool live = false;
    double best = 0;
    for (size_t i = 0; i < ps->n; i++) {
        target_t *t = &ps->t[i];
        if (t->busy || t->dead)
            continue;
        if (t->readiness && t->next_ready <= now && (!due || t->next_ready < best)) {
            due = t;
            live = false;
            best = t->next_ready;
        }
        if (t->liveness && t->was_ready && t->next_live <= now &&
            (!due || t->next_live < best)) {
            due = t;
            live = true;
            best = t->next_live;
        }
    }
    if (!due)
        return false;
    json_t *spec = json_incref(live ? due->liveness : due->readiness);
    int64_t id = due->id;
    int inc = due->inc, port = due->port;
    uid_t uid = due->uid;
    gid_t gid = due->gid;
    due->busy = true;
    pthread_mutex_unlock(&ps->mu);
    char msg[256];
    int rc = probe_run(spec, port, uid, gid, msg, sizeof(msg));
    pthread_mutex_lock(&ps->mu);
    target_t *t = find(ps, id, inc);
    if (t) {
        t->busy = false;
        double period = num(spec, "period", 2);
        int failures = (int)num(spec, "failures", 3);
        if (live) {
            t->next_live = mono() + period;
            t->live_fails = rc == 0 ? 0 : t->live_fails + 1;
            if (t->live_fails >= failures) {
                t->dead = true;
                push(ps, t, PROBE_DEAD, msg);
            }
        } else {
            t->next_ready = mono() + period;
            t->ready_fails = rc == 0 ? 0 : t->ready_fails + 1;
            if (rc == 0 && !t->ready) {
                t->ready = true;
                t->was_ready = true;
                push(ps, t, PROBE_READY, NULL);
            } else if (rc < 0 && t->ready && t->ready_fails >= failures) {
                t->ready = false;
                push(ps, t, PROBE_UNREADY, msg);
            }
        }
    }
    json_decref(spec);
    return true;
}

static void *prober_main(void *arg)
{
    probe_set_t *ps = arg;
    pthread_mutex_lock(&ps->mu);
    while (!ps->stop) {
        if (run_due(ps))
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ps->cond, &ps->mu, &ts);
    }
    pthread_mutex_unlock(&ps->mu);
    return NULL;
}

probe_set_t *probe_set_new(gt_error_t *err)
{
    probe_set_t *ps = xcalloc(1, sizeof(*ps));
    pthread_mutex_init(&ps->mu, NULL);
    pthread_cond_init(&ps->cond, NULL);
    if (pthread_create(&ps->thread, NULL, prober_main, ps) != 0) {
        free(ps);
        gt_error_set(err, "internal", "cannot start the probes' thread");
        return NULL;
    }
    return ps;
}

static void target_clear(target_t *t)
{
    json_decref(t->readiness);
    json_decref(t->liveness);
}

void probe_set_free(probe_set_t *ps)
{
    if (!ps)
        return;
    pthread_mutex_lock(&ps->mu);
    ps->stop = true;
    pthread_cond_broadcast(&ps->cond);
    pthread_mutex_unlock(&ps->mu);
    pthread_join(ps->thread, NULL);
    for (size_t i = 0; i < ps->n; i++)
        target_clear(&ps->t[i]);
    free(ps->t);
    free(ps->ev);
    free(ps);
}

void probe_add(probe_set_t *ps, int64_t job_id, int incarnation, int port,
               const json_t *readiness, const json_t *liveness, uid_t uid, gid_t gid)
{
    pthread_mutex_lock(&ps->mu);
    target_t *t = find(ps, job_id, incarnation);
    if (t) {
        target_clear(t);
    } else {
        GT_GROW(ps->t, ps->cap, ps->n + 1);
        t = &ps->t[ps->n++];
    }
    double now = mono();
    *t = (target_t){.id = job_id, .inc = incarnation, .port = port, .uid = uid, .gid = gid};
    /* Without a readiness probe of its own, a replica is ready once its port takes
     * connections: no request is sent to a process still starting. */
    t->readiness = json_is_object(readiness)
                       ? json_deep_copy(readiness)
                       : json_pack("{s:b,s:f,s:f,s:i}", "tcp", 1, "period", 0.2, "timeout", 1.0,
                                   "failures", 3);
    t->liveness = json_is_object(liveness) ? json_deep_copy(liveness) : NULL;
    t->next_ready = now + num(t->readiness, "initial_delay", 0);
    t->next_live = now + num(t->liveness, "initial_delay", 0);
    pthread_cond_broadcast(&ps->cond);
    pthread_mutex_unlock(&ps->mu);
}

void probe_remove(probe_set_t *ps, int64_t job_id, int incarnation)
{
    pthread_mutex_lock(&ps->mu);
    target_t *t = find(ps, job_id, incarnation);
    if (t) {
        target_clear(t);
        *t = ps->t[--ps->n];
    }
    pthread_mutex_unlock(&ps->mu);
}

int probe_port(probe_set_t *ps, int64_t job_id, int incarnation)
{
    pthread_mutex_lock(&ps->mu);
    target_t *t = find(ps, job_id, incarnation);
    int port = t ? t->port : 0;
    pthread_mutex_unlock(&ps->mu);
    return port;
}

size_t probe_events(probe_set_t *ps, probe_event_t *out, size_t max)
{
    pthread_mutex_lock(&ps->mu);
    size_t n = ps->nev < max ? ps->nev : max;
    if (n) { /* none queued may mean none allocated: no memcpy from NULL */
        memcpy(out, ps->ev, n * sizeof(*out));
        memmove(ps->ev, ps->ev + n, (ps->nev - n) * sizeof(*out));
        ps->nev -= n;
    }
    pthread_mutex_unlock(&ps->mu);
    return n;
}

json_t *probe_status(probe_set_t *ps)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&ps->mu);
    for (size_t i = 0; i < ps->n; i++)
        json_array_append_new(arr, json_pack("{s:I,s:i,s:i,s:b}", "job_id",
                                             (json_int_t)ps->t[i].id, "incarnation",
                                             ps->t[i].inc, "port", ps->t[i].port, "ready",
                                             ps->t[i].ready && !ps->t[i].dead));
    pthread_mutex_unlock(&ps->mu);
    return arr;
}
