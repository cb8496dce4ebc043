/* attach.c: the registry of relayed sessions, their relay threads and the idle timeout of
 * interactive jobs (attach.h). Its lock (attach->mu) is taken after srv->mu, never before. */
#include "server/attach.h"

#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/ttywire.h"
#include "server/events.h"

typedef struct session {
    struct session *next;
    char id[33];
    uint64_t job_id;
    char node[128];
    attach_mode_t mode;
    double created;          /* gt_monotonic_s() */
    int cfd, afd;            /* the client's and the agent's sockets; -1 until upgraded */
    struct MHD_UpgradeResponseHandle *curh, *aurh;
    gt_buf_t cextra, aextra; /* bytes that came after each leg's request */
    bool agent_claimed;
    bool relaying;           /* its thread runs */
    /* A session of an interactive job outlives its client's leg (the client's connection
     * dropped): detached, its command runs on, and a client that attaches again takes it
     * (attach_reattach). */
    tty_scan_t scan;         /* the client's frames, across its legs */
    int pcfd;                /* a client's leg that takes the session over; -1: none */
    struct MHD_UpgradeResponseHandle *pcurh;
    gt_buf_t pextra;
    int prows, pcols;        /* its terminal's size, sent to the node as it takes over */
    /* Which sessions outlive their client: an interactive job's own (gantry run -it) and a
     * command with a terminal (gantry exec -it). A command without one ends with its client
     * (its pipes' reader is gone: a script's exec, as ssh and kubectl exec do). */
    bool keep;
    bool detached;           /* its client left, none has taken it yet */
    bool expire;             /* attach_idle_sweep ends it (detached past its idle timeout) */
    double last_input;       /* gt_monotonic_s() of its client's last input, or its start */
    json_t *command;         /* what it runs (the list of sessions, the audit of a reattach) */
    char user[64];           /* who opened it */
    tty_scan_t oscan;        /* frame boundaries of the node's stream to the client */
    gt_buf_t lost;           /* the node's bytes read as the client's leg went (not sent) */
} session_t;

struct attach {
    pthread_mutex_t mu;
    pthread_cond_t cond;     /* an agent's leg arrived; a relay ended */
    session_t *sessions;
    size_t threads;          /* relay threads running */
    bool closing;
    json_t *jobs;            /* "ID" -> the last input (gt_monotonic_s) of a running
                                interactive job, or its start */
    double next_sweep;
};

const char *attach_mode_name(attach_mode_t m)
{
    return m == ATTACH_SESSION ? "session" : m == ATTACH_PORT ? "port" : "exec";
}

void attach_from_config(server_t *srv, const gt_config_t *cfg)
{
    if (!srv->attach) {
        struct attach *a = xcalloc(1, sizeof(*a));
        pthread_mutex_init(&a->mu, NULL);
        pthread_cond_init(&a->cond, NULL);
        a->jobs = json_object();
        srv->attach = a;
    }
    for (size_t i = 0; cfg && i < cfg->nclasses; i++) {
        pclass_t *c = server_class(srv, cfg->classes[i].name);
        if (c && cfg->classes[i].session_idle_s >= 0)
            c->session_idle_s = cfg->classes[i].session_idle_s;
    }
}

static void session_close_legs(session_t *s)
{
    if (s->curh)
        MHD_upgrade_action(s->curh, MHD_UPGRADE_ACTION_CLOSE);
    if (s->aurh)
        MHD_upgrade_action(s->aurh, MHD_UPGRADE_ACTION_CLOSE);
    if (s->pcurh)
        MHD_upgrade_action(s->pcurh, MHD_UPGRADE_ACTION_CLOSE);
    s->curh = s->aurh = s->pcurh = NULL;
    s->cfd = s->afd = s->pcfd = -1;
}

static void session_free(session_t *s)
{
    gt_buf_free(&s->cextra);
    gt_buf_free(&s->aextra);
    gt_buf_free(&s->pextra);
    gt_buf_free(&s->lost);
    json_decref(s->command);
    free(s);
}

/* Takes s out of the list. Caller holds a->mu. */
static void session_unlink(struct attach *a, session_t *s)
{
    for (session_t **p = &a->sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            return;
        }
}

static session_t *session_find(struct attach *a, const char *sid)
{
    for (session_t *s = a->sessions; s; s = s->next)
        if (!strcmp(s->id, sid))
            return s;
    return NULL;
}

void attach_shutdown(server_t *srv)
{
    struct attach *a = srv->attach;
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->closing = true;
    for (session_t *s = a->sessions; s; s = s->next) {
        if (s->cfd >= 0)
            shutdown(s->cfd, SHUT_RDWR);
        if (s->afd >= 0)
            shutdown(s->afd, SHUT_RDWR);
        if (s->pcfd >= 0)
            shutdown(s->pcfd, SHUT_RDWR);
    }
    pthread_cond_broadcast(&a->cond);
    while (a->threads)
        pthread_cond_wait(&a->cond, &a->mu);
    /* Sessions no thread relays: one leg or none arrived. */
    while (a->sessions) {
        session_t *s = a->sessions;
        a->sessions = s->next;
        session_close_legs(s);
        session_free(s);
    }
    pthread_mutex_unlock(&a->mu);
}

void attach_free(server_t *srv)
{
    struct attach *a = srv->attach;
    if (!a)
        return;
    attach_shutdown(srv);
    json_decref(a->jobs);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cond);
    free(a);
    srv->attach = NULL;
}

/* Input came through s: its job's idle time (an interactive job's) and its own start over.
 * Caller holds a->mu. */
static void note_input(struct attach *a, session_t *s)
{
    char key[24];
    snprintf(key, sizeof(key), "%llu", (unsigned long long)s->job_id);
    s->last_input = gt_monotonic_s();
    if (json_object_get(a->jobs, key))
        json_object_set_new(a->jobs, key, json_real(s->last_input));
}

int attach_open(server_t *srv, job_t *j, attach_mode_t mode, json_t *task, const char *user,
                char sid[33], gt_error_t *err)
{
    struct attach *a = srv->attach;
    node_t *n = j->state == JOB_RUNNING && !j->stopping && j->nslots
                    ? server_node(srv, j->slots[0].node)
                    : NULL;
    if (!n || !n->up) {
        json_decref(task);
        errno = EAGAIN;
        return gt_error_set(err, "conflict", "job %llu is not running%s",
                            (unsigned long long)j->id,
                            j->state == JOB_PENDING ? " yet (it is pending)" : "");
    }
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        json_decref(task);
        return gt_error_set(err, "internal", "no random bytes for a session id: %s",
                            strerror(errno));
    }
    for (int i = 0; i < 16; i++)
        snprintf(sid + 2 * i, 3, "%02x", r[i]);
    session_t *s = xcalloc(1, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", sid);
    s->job_id = j->id;
    snprintf(s->node, sizeof(s->node), "%s", n->name);
    s->mode = mode;
    s->created = s->last_input = gt_monotonic_s();
    s->cfd = s->afd = s->pcfd = -1;
    s->keep = mode == ATTACH_SESSION ||
              (mode == ATTACH_EXEC && json_is_true(json_object_get(task, "tty")));
    s->command = json_incref(json_object_get(task, "command"));
    snprintf(s->user, sizeof(s->user), "%s", user ? user : "");
    json_object_set_new(task, "type", json_string("attach"));
    json_object_set_new(task, "session", json_string(sid));
    json_object_set_new(task, "mode", json_string(attach_mode_name(mode)));
    json_object_set_new(task, "job_id", json_integer((json_int_t)j->id));
    json_object_set_new(task, "incarnation", json_integer(j->incarnation));
    pthread_mutex_lock(&a->mu);
    int open = 0;
    for (session_t *o = a->sessions; s->keep && o; o = o->next)
        open += o->keep && !strcmp(o->user, s->user);
    if (open >= ATTACH_USER_SESSIONS_MAX) {
        pthread_mutex_unlock(&a->mu);
        json_decref(task);
        session_free(s);
        errno = EBUSY;
        return gt_error_set(err, "too_many_sessions",
                            "%s has %d terminal sessions open (attached or detached), the most "
                            "one user may: end one (exit its shell, or gantry attach JOB --list "
                            "to find a detached one) and try again",
                            user && user[0] ? user : "this user", open);
    }
    s->next = a->sessions;
    a->sessions = s;
    pthread_mutex_unlock(&a->mu);
    /* Handed out with the node's next work answer (what it waits on is durable already). */
    json_array_append_new(n->tasks, task);
    server_node_wake(n); /* the node's long poll waits on its own condition */
    return 0;
}

bool attach_agent_claim(server_t *srv, const char *sid, const char *node)
{
    struct attach *a = srv->attach;
    pthread_mutex_lock(&a->mu);
    session_t *s = sid ? session_find(a, sid) : NULL;
    bool ok = s && !s->agent_claimed && !strcmp(s->node, node) && !a->closing;
    if (ok)
        s->agent_claimed = true;
    pthread_mutex_unlock(&a->mu);
    return ok;
}

/* Writes all of buf to fd (non-blocking: waits for room). false when the peer is gone. */
static bool write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 30000) <= 0)
                return false;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

enum { RELAY_DONE, RELAY_CLIENT_GONE };

/* Copies both ways until the agent's leg ends (or, for a port, both legs have): RELAY_DONE;
 * for a framed stream, until the client's leg ends: RELAY_CLIENT_GONE. */
static int relay_legs(struct attach *a, session_t *s)
{
    char buf[32768];
    bool framed = s->mode != ATTACH_PORT;
    if (s->cextra.len) {
        if (framed ? tty_scan_input(&s->scan, s->cextra.data, s->cextra.len) > 0 : true) {
            pthread_mutex_lock(&a->mu);
            note_input(a, s);
            pthread_mutex_unlock(&a->mu);
        }
        bool sent = write_all(s->afd, s->cextra.data, s->cextra.len);
        gt_buf_free(&s->cextra);
        if (!sent)
            return RELAY_DONE;
    }
    if (s->aextra.len) {
        bool sent = write_all(s->cfd, s->aextra.data, s->aextra.len);
        if (framed && !sent)
            gt_buf_append(&s->lost, s->aextra.data, s->aextra.len);
        else if (framed)
            tty_scan_input(&s->oscan, s->aextra.data, s->aextra.len);
        gt_buf_free(&s->aextra);
        if (!sent)
            return framed ? RELAY_CLIENT_GONE : RELAY_DONE;
    }
    bool c_open = true, a_open = true;
    while (a_open && (c_open || !framed)) {
        struct pollfd p[2] = {{.fd = c_open ? s->cfd : -1, .events = POLLIN},
                              {.fd = s->afd, .events = POLLIN}};
        if (poll(p, 2, 1000) < 0 && errno != EINTR)
            return RELAY_DONE;
        if (a->closing)
            return RELAY_DONE;
        if (p[0].revents) {
            ssize_t r = recv(s->cfd, buf, sizeof(buf), 0);
            if (r > 0) {
                if (framed ? tty_scan_input(&s->scan, buf, (size_t)r) > 0 : true) {
                    pthread_mutex_lock(&a->mu);
                    note_input(a, s);
                    pthread_mutex_unlock(&a->mu);
                }
                if (!write_all(s->afd, buf, (size_t)r))
                    return RELAY_DONE;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                if (framed)
                    return RELAY_CLIENT_GONE;
                /* A port's client is done sending: so is the job's peer. */
                c_open = false;
                shutdown(s->afd, SHUT_WR);
            }
        }
        if (p[1].revents) {
            ssize_t r = recv(s->afd, buf, sizeof(buf), 0);
            if (r > 0) {
                if (c_open && !write_all(s->cfd, buf, (size_t)r)) {
                    if (framed) { /* kept for the next client, from a frame's start */
                        gt_buf_append(&s->lost, buf, (size_t)r);
                        return RELAY_CLIENT_GONE;
                    }
                    c_open = false;
                }
                if (framed)
                    tty_scan_input(&s->oscan, buf, (size_t)r);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                a_open = false;
            }
        }
    }
    return RELAY_DONE;
}

/* Completes the client's frame in flight (its leg ended inside one) with zero bytes, so that
 * the next client's frames start on a boundary for the node. false when it cannot (a length
 * that is not a frame's). */
static bool finish_frame(session_t *s)
{
    static const char zeros[4096];
    size_t left = s->scan.left;
    if (s->scan.have) {
        unsigned char hdr[TTY_HDR] = {0};
        memcpy(hdr, s->scan.hdr, s->scan.have);
        size_t len = (size_t)hdr[1] << 24 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 8 | hdr[4];
        if (len > TTY_FRAME_MAX || !write_all(s->afd, zeros, TTY_HDR - s->scan.have))
            return false;
        left = len;
    }
    s->scan = (tty_scan_t){0};
    while (left) {
        size_t k = left < sizeof(zeros) ? left : sizeof(zeros);
        if (!write_all(s->afd, zeros, k))
            return false;
        left -= k;
    }
    return true;
}

/* Holds what the node wrote while s is detached (data[0..n)), from the first frame that
 * starts in it: the frame a client's leg was cut inside of is dropped, so that the next client
 * gets whole frames. *aligned: held already starts on a boundary. */
static void hold_output(session_t *s, gt_buf_t *held, bool *aligned, const char *data, size_t n)
{
    size_t off = 0;
    if (!*aligned) {
        off = tty_scan_skip(&s->oscan, data, n);
        *aligned = tty_scan_at_boundary(&s->oscan);
    }
    if (off < n) {
        tty_scan_input(&s->oscan, data + off, n - off);
        gt_buf_append(held, data + off, n - off);
    }
}

/* The client's frame that tells it the session's id (a session that outlives it: exec -it). */
static void tell_session_id(session_t *s)
{
    if (s->mode != ATTACH_EXEC || !s->keep || s->cfd < 0)
        return;
    gt_buf_t b = {0};
    tty_frame_put(&b, TTY_SESSION, s->id, strlen(s->id));
    write_all(s->cfd, b.data, b.len);
    gt_buf_free(&b);
}

/* A session that outlives its client (s->keep) whose client left: detached, its command runs
 * on (what it writes is held, up to ATTACH_HELD_MAX, then it waits) until a client takes it
 * over (attach_client_reattached): true, that leg is s's now, what was held sent to it. false
 * when the node's leg ended meanwhile (the command exited, or the job ended: the idle timeout
 * counts on, as no input comes), attach_idle_sweep ended it (an exec session idle past its
 * class's session_idle_timeout), or the server stops. */
static bool await_client(struct attach *a, session_t *s)
{
    if (!finish_frame(s))
        return false;
    pthread_mutex_lock(&a->mu);
    if (s->curh)
        MHD_upgrade_action(s->curh, MHD_UPGRADE_ACTION_CLOSE);
    s->curh = NULL;
    s->cfd = -1;
    s->detached = true;
    pthread_mutex_unlock(&a->mu);
    if (s->mode == ATTACH_EXEC)
        fprintf(stderr, "gantry server: exec session %.8s of job %llu is detached: its client "
                        "left; its command runs on until `gantry attach %llu --exec %.8s`, the "
                        "job's end or its session_idle_timeout.\n",
                s->id, (unsigned long long)s->job_id, (unsigned long long)s->job_id, s->id);
    else
        fprintf(stderr, "gantry server: session %.8s of job %llu is detached: its client left; "
                        "its command runs on until `gantry attach %llu` or the job's end.\n",
                s->id, (unsigned long long)s->job_id, (unsigned long long)s->job_id);
    gt_buf_t held = {0};
    bool aligned = tty_scan_at_boundary(&s->oscan);
    hold_output(s, &held, &aligned, s->lost.data, s->lost.len);
    gt_buf_free(&s->lost);
    char buf[32768];
    bool taken = false, expired = false;
    for (;;) {
        pthread_mutex_lock(&a->mu);
        bool closing = a->closing;
        expired = s->expire;
        if (!closing && !expired && s->pcfd >= 0) {
            s->cfd = s->pcfd;
            s->curh = s->pcurh;
            s->pcfd = -1;
            s->pcurh = NULL;
            gt_buf_free(&s->cextra);
            s->cextra = s->pextra;
            s->pextra = (gt_buf_t){0};
            s->detached = false;
            note_input(a, s);
            taken = true;
        }
        pthread_mutex_unlock(&a->mu);
        if (closing || taken || expired)
            break;
        struct pollfd p = {.fd = held.len < ATTACH_HELD_MAX ? s->afd : -1, .events = POLLIN};
        if (poll(&p, 1, 50) < 0 && errno != EINTR)
            break;
        if (!p.revents)
            continue;
        ssize_t r = recv(s->afd, buf, sizeof(buf), 0);
        if (r > 0)
            hold_output(s, &held, &aligned, buf, (size_t)r);
        else if (r == 0 || (errno != EAGAIN && errno != EINTR))
            break;
    }
    if (taken) {
        fprintf(stderr, "gantry server: session %.8s of job %llu is attached again.\n", s->id,
                (unsigned long long)s->job_id);
        tell_session_id(s);
        if (held.len)
            write_all(s->cfd, held.data, held.len);
        if (s->prows > 0 && s->pcols > 0) { /* the new terminal's size */
            gt_buf_t w = {0};
            unsigned char d[4] = {(unsigned char)(s->prows >> 8), (unsigned char)s->prows,
                                  (unsigned char)(s->pcols >> 8), (unsigned char)s->pcols};
            tty_frame_put(&w, TTY_WINCH, d, sizeof(d));
            write_all(s->afd, w.data, w.len);
            gt_buf_free(&w);
        }
    } else if (!expired && !a->closing) {
        fprintf(stderr, "gantry server: session %.8s of job %llu ended while detached (its "
                        "command exited or the job ended).\n",
                s->id, (unsigned long long)s->job_id);
    }
    gt_buf_free(&held);
    return taken;
}

/* Relays s: a session that outlives its client goes on through each client that takes it
 * over. */
static void relay(struct attach *a, session_t *s)
{
    tell_session_id(s);
    while (relay_legs(a, s) == RELAY_CLIENT_GONE) {
        /* A client that leaves once the command's status came is not a detach: it is over. */
        bool exited = s->oscan.type == TTY_EXIT && tty_scan_at_boundary(&s->oscan);
        if (!s->keep || exited || !await_client(a, s)) {
            /* The command sees its input end (a terminal: hung up). */
            shutdown(s->afd, SHUT_WR);
            return;
        }
    }
}

typedef struct relay_arg {
    server_t *srv;
    session_t *s;
} relay_arg_t;

static void *session_main(void *arg)
{
    relay_arg_t *ra = arg;
    struct attach *a = ra->srv->attach;
    session_t *s = ra->s;
    free(ra);
    pthread_mutex_lock(&a->mu);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ATTACH_CONNECT_S - (time_t)(gt_monotonic_s() - s->created);
    while (s->afd < 0 && !a->closing)
        if (pthread_cond_timedwait(&a->cond, &a->mu, &dl) == ETIMEDOUT)
            break;
    bool paired = s->afd >= 0 && !a->closing;
    pthread_mutex_unlock(&a->mu);
    if (paired) {
        relay(a, s);
    } else if (s->mode != ATTACH_PORT && !a->closing) {
        gt_buf_t b = {0};
        const char *msg = "gantry: the job's node did not connect for this session in time; "
                          "try again\r\n";
        unsigned char st[4] = {0, 0, 0, 255};
        tty_frame_put(&b, TTY_MSG, msg, strlen(msg));
        tty_frame_put(&b, TTY_EXIT, st, sizeof(st));
        write_all(s->cfd, b.data, b.len);
        gt_buf_free(&b);
    }
    /* Let the client read the end before the socket closes: what it sent meanwhile would
     * otherwise turn the close into a reset that may discard it. */
    shutdown(s->cfd, SHUT_WR);
    char drain[4096];
    struct pollfd pd = {.fd = s->cfd, .events = POLLIN};
    double until = gt_monotonic_s() + 1;
    while (s->cfd >= 0 && !a->closing && gt_monotonic_s() < until && poll(&pd, 1, 100) >= 0) {
        if (!pd.revents)
            continue;
        ssize_t r = recv(s->cfd, drain, sizeof(drain), 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            break;
    }
    pthread_mutex_lock(&a->mu);
    session_unlink(a, s);
    session_close_legs(s);
    session_free(s);
    a->threads--;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Takes the upgraded connection fd (its handle urh, the bytes already read past the request
 * extra[0..n)) as one leg of session sid (freed here): the node's when agent, else the client's.
 * Returns the session with a->mu held, or NULL (mu not held; the connection closed) when the
 * answer could not be sent or the session is gone, closing, or has that leg already. */
static session_t *session_take(struct attach *a, char *sid, bool agent, int fd,
                               const char *extra, size_t n, void *urh)
{
    if (fd < 0) { /* the answer could not be sent */
        free(sid);
        return NULL;
    }
    pthread_mutex_lock(&a->mu);
    session_t *s = session_find(a, sid);
    free(sid);
    if (!s || a->closing || (agent ? s->afd : s->cfd) >= 0) {
        pthread_mutex_unlock(&a->mu);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return NULL;
    }
    if (agent) {
        s->afd = fd;
        s->aurh = urh;
    } else {
        s->cfd = fd;
        s->curh = urh;
    }
    if (n)
        gt_buf_append(agent ? &s->aextra : &s->cextra, extra, n);
    return s;
}

void attach_client_upgraded(server_t *srv, void *arg, int fd, const char *extra, size_t n,
                            void *urh)
{
    struct attach *a = srv->attach;
    session_t *s = session_take(a, arg, false, fd, extra, n, urh);
    if (!s)
        return;
    relay_arg_t *ra = xcalloc(1, sizeof(*ra));
    *ra = (relay_arg_t){srv, s};
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    pthread_t th;
    if (pthread_create(&th, &at, session_main, ra) != 0) {
        free(ra);
        session_unlink(a, s);
        session_close_legs(s);
        session_free(s);
    } else {
        s->relaying = true;
        a->threads++;
    }
    pthread_attr_destroy(&at);
    pthread_mutex_unlock(&a->mu);
}

void attach_agent_upgraded(server_t *srv, void *arg, int fd, const char *extra, size_t n,
                           void *urh)
{
    struct attach *a = srv->attach;
    if (!session_take(a, arg, true, fd, extra, n, urh))
        return;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
}

int attach_reattach(server_t *srv, const job_t *j, const char *want, int rows, int cols,
                    char sid[33], json_t **command, gt_error_t *err)
{
    struct attach *a = srv->attach;
    pthread_mutex_lock(&a->mu);
    session_t *found = NULL;
    size_t matches = 0;
    for (session_t *s = a->sessions; s; s = s->next) {
        if (s->job_id != j->id)
            continue;
        if (!want && s->mode == ATTACH_SESSION)
            found = s;
        if (want && s->mode == ATTACH_EXEC && s->keep && !s->expire &&
            !strncmp(s->id, want, strlen(want))) {
            found = s;
            matches++;
        }
    }
    int rc = 1;
    if (want && !found) {
        errno = ENOENT;
        rc = gt_error_set(err, "not_found", "job %llu has no exec session %s (it ended, or it "
                          "had no terminal); gantry attach %llu --list shows its sessions",
                          (unsigned long long)j->id, want, (unsigned long long)j->id);
    } else if (matches > 1) {
        errno = EEXIST;
        rc = gt_error_set(err, "conflict", "more than one session of job %llu starts with %s: "
                          "give more of its id", (unsigned long long)j->id, want);
    } else if (found && (found->afd < 0 || !found->relaying || found->pcfd >= 0)) {
        errno = EAGAIN;
        rc = gt_error_set(err, "conflict", "the session of job %llu is starting or being taken "
                          "over; try again", (unsigned long long)j->id);
    } else if (found) {
        snprintf(sid, 33, "%s", found->id);
        found->prows = rows;
        found->pcols = cols;
        if (command)
            *command = json_incref(found->command);
        rc = 0;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

json_t *attach_sessions_json(server_t *srv, uint64_t job_id)
{
    struct attach *a = srv->attach;
    json_t *list = json_array();
    double now = gt_monotonic_s();
    pthread_mutex_lock(&a->mu);
    for (session_t *s = a->sessions; s; s = s->next) {
        if (s->job_id != job_id)
            continue;
        const char *state = s->detached ? "detached" : s->relaying ? "attached" : "starting";
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I}", "id", s->id, "mode",
                              attach_mode_name(s->mode), "state", state, "user", s->user,
                              "node", s->node, "reattachable", s->keep, "age_s",
                              (json_int_t)(now - s->created), "idle_s",
                              (json_int_t)(now - s->last_input));
        if (s->command)
            json_object_set(o, "command", s->command);
        json_array_append_new(list, o);
    }
    pthread_mutex_unlock(&a->mu);
    return list;
}

void attach_client_reattached(server_t *srv, void *arg, int fd, const char *extra, size_t n,
                              void *urh)
{
    struct attach *a = srv->attach;
    char *sid = arg;
    if (fd < 0) {
        free(sid);
        return;
    }
    pthread_mutex_lock(&a->mu);
    session_t *s = session_find(a, sid);
    free(sid);
    if (!s || a->closing || s->pcfd >= 0 || s->afd < 0) {
        pthread_mutex_unlock(&a->mu);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    s->pcfd = fd;
    s->pcurh = urh;
    if (n)
        gt_buf_append(&s->pextra, extra, n);
    if (s->cfd >= 0) /* a client still holds it: this one takes it over */
        shutdown(s->cfd, SHUT_RDWR);
    pthread_mutex_unlock(&a->mu);
}

void attach_upgrade_dropped(server_t *srv, void *arg)
{
    (void)srv;
    free(arg);
}

void attach_job_started(server_t *srv, const job_t *j)
{
    struct attach *a = srv->attach;
    char key[24];
    snprintf(key, sizeof(key), "%llu", (unsigned long long)j->id);
    pthread_mutex_lock(&a->mu);
    json_object_set_new(a->jobs, key, json_real(gt_monotonic_s()));
    pthread_mutex_unlock(&a->mu);
}

/* Its GPUs are idle: it holds none, no sample came for them (declared GPUs, no NVML), or the
 * latest samples are all under the idle threshold (gpu_use.c). */
static bool gpus_idle(const job_t *j)
{
    return j->gpus_milli == 0 || j->gpu_use.samples == 0 || j->gpu_use.idle_since > 0;
}

void attach_idle_sweep(server_t *srv)
{
    struct attach *a = srv->attach;
    double now = gt_monotonic_s();
    if (!a || now < a->next_sweep)
        return;
    a->next_sweep = now + 1;
    /* Sessions whose client never came (it left before the upgrade): dropped. */
    pthread_mutex_lock(&a->mu);
    for (session_t **p = &a->sessions; *p;) {
        session_t *s = *p;
        if (!s->relaying && now - s->created > ATTACH_CONNECT_S) {
            *p = s->next;
            session_close_legs(s);
            session_free(s);
            continue;
        }
        /* A detached exec session without input for its job's class's session_idle_timeout
         * ends (its command is hung up); the job goes on. Not its GPUs: they are the job's. */
        job_t *j = s->detached && s->mode == ATTACH_EXEC && !s->expire && s->pcfd < 0
                       ? server_job(srv, s->job_id)
                       : NULL;
        pclass_t *c = j ? server_class(srv, j->prio_class) : NULL;
        int64_t limit = c ? c->session_idle_s : ATTACH_IDLE_DEFAULT_S;
        if (j && limit > 0 && now - s->last_input >= (double)limit) {
            s->expire = true;
            fprintf(stderr, "gantry server: exec session %.8s of job %llu ends: detached "
                            "without input for %llds (session_idle_timeout of class %s).\n",
                    s->id, (unsigned long long)s->job_id, (long long)limit, j->prio_class);
        }
        p = &s->next;
    }
    json_t *ended = json_array();
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(a->jobs, tmp, key, v)
    {
        job_t *j = server_job(srv, strtoull(key, NULL, 10));
        if (!j || j->state != JOB_RUNNING || j->stopping) {
            json_object_del(a->jobs, key);
            continue;
        }
        pclass_t *c = server_class(srv, j->prio_class);
        int64_t limit = c ? c->session_idle_s : ATTACH_IDLE_DEFAULT_S;
        double idle = now - json_real_value(v);
        if (limit > 0 && idle >= (double)limit && gpus_idle(j)) {
            json_array_append_new(ended, json_integer((json_int_t)j->id));
            json_object_del(a->jobs, key);
        }
    }
    pthread_mutex_unlock(&a->mu);
    size_t i;
    json_array_foreach(ended, i, v)
    {
        job_t *j = server_job(srv, (uint64_t)json_integer_value(v));
        pclass_t *c = server_class(srv, j->prio_class);
        char msg[256];
        snprintf(msg, sizeof(msg), "the interactive session had no input and idle GPUs for "
                 "%llds (session_idle_timeout of class %s)",
                 (long long)(c ? c->session_idle_s : ATTACH_IDLE_DEFAULT_S), j->prio_class);
        fprintf(stderr, "gantry server: job %llu ends: %s.\n", (unsigned long long)j->id, msg);
        server_end_job(srv, j, JOB_CANCELLED, "idle_timeout", msg, 0, 0,
                       json_pack("{s:s}", "by", "idle timeout"));
    }
    json_decref(ended);
}

size_t attach_count(server_t *srv)
{
    struct attach *a = srv->attach;
    size_t n = 0;
    pthread_mutex_lock(&a->mu);
    for (session_t *s = a->sessions; s; s = s->next)
        n++;
    pthread_mutex_unlock(&a->mu);
    return n;
}
