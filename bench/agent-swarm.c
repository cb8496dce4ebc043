/* bench/agent-swarm.c: N agents x G GPUs from one process, against a real `gantry server`
 * (a benchmark client, not product code). Each simulated node speaks docs/agent-protocol.md
 * as src/agent does: it registers with the join token, proposing its own credential
 * (`node_token`), and uses that credential from then on; it heartbeats every heartbeat_s
 * (running, ending, tasks_done, one GPU sample per GPU with its process), long-polls
 * GET /v1/agent/work on a connection of its own, and reports "started" and "exited" events.
 * A job "runs" for a chosen time: the T of a `sleep T` command, else --runtime MEAN
 * (uniform in 0.5..1.5 x MEAN). Each node comes from an address of its own (127.1.x.y), as
 * nodes of a real cluster do, two connections each (calls and the long poll), as the agent.
 *
 * Phases, each measured on the server's process (/proc/PID: CPU seconds, RSS) and metrics:
 *   register  every node registers (at most --register-concurrency at once)
 *   fill      the scheduler fills the GPUs (until every GPU is busy, or --fill-max seconds)
 *   quiet     --quiet S seconds: no job ends; only heartbeats and long polls (their cost)
 *   churn     --churn S seconds: jobs end (running ones spread over one runtime) and new ones
 *             start; dispatch latency = the start task's arrival - the moment the GPUs it
 *             names were freed on the node (the queue never empties, so that is when the job
 *             at its head could start), over starts whose GPUs were all freed in this phase
 * Prints one JSON object. Single-threaded: epoll, hand-written HTTP/1.1 (Content-Length
 * answers, keep-alive).
 *
 * usage: agent-swarm --server http://127.0.0.1:PORT --token JOIN --admin ADMIN --nodes N
 *          [--gpus 8] [--prefix swarm-] [--runtime 60] [--server-pid PID] [--quiet 30]
 *          [--churn 60] [--fill-max 300] [--register-concurrency 0 (all)] */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXG 64
#define HB_DEFAULT 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *m)
{
    fprintf(stderr, "agent-swarm: %s\n", m);
    exit(1);
}

/* ---- options ---- */
static struct {
    char host[64];
    int port;
    const char *join, *admin, *prefix, *base;
    int nodes, gpus, reg_conc;
    double runtime, quiet, churn, fill_max;
    int server_pid;
} opt = {.gpus = 8, .prefix = "swarm-", .runtime = 60, .quiet = 30, .churn = 60,
         .fill_max = 300};

/* ---- per node ---- */
enum { J_RUNNING, J_ENDED };
typedef struct sjob {
    uint64_t id;
    int inc;
    uint64_t mask;
    double end_at;   /* monotonic */
    double runtime;
    int state;
} sjob_t;

typedef enum { R_NONE, R_REGISTER, R_HEARTBEAT, R_REPORT, R_WORK } rkind_t;

typedef struct conn {
    int fd;
    int state;       /* 0 closed, 1 connecting, 2 sending, 3 receiving, 4 idle */
    char *out;
    size_t outlen, outoff;
    char *in;
    size_t inlen, incap;
    rkind_t kind;
    double sent_at;
    struct node *node;
    int nevents;     /* a report: how many of the node's pending events it carries */
    double retry_at; /* closed after an error: not before */
} conn_t;

typedef struct node {
    int idx;
    char name[64];
    char addr[32];
    char token[72];  /* the bearer: the join token until the node's credential is bound */
    char proposal[72]; /* the credential it proposes (gt_ + 64 hex digits) */
    bool bound;      /* using its own credential */
    bool registered, need_register;
    int64_t epoch;
    int64_t tasks_done;
    double next_hb;
    conn_t ctl, poll;
    sjob_t *jobs;
    size_t njobs, jcap;
    json_t *events;  /* report events not yet acknowledged */
    size_t sent_events; /* how many of them (the first) were sent once */
    uint64_t busy;   /* GPUs held by running jobs */
    double freed_at[MAXG];
} node_t;

static node_t *nodes;
static int epfd;
static struct sockaddr_in server_sa;

/* ---- figures ---- */
enum { PH_REGISTER, PH_FILL, PH_QUIET, PH_CHURN, PH_N };
static const char *ph_names[PH_N] = {"register", "fill", "quiet", "churn"};
static int phase;
static struct {
    uint64_t hb_sent, hb_ok, reports_ok, starts, ends, polls_answered, work_tasks, stops,
        kills, registers_ok, http_err, conn_err, status[6];
} cnt[PH_N];
static double *lat;          /* dispatch latencies of the churn phase */
static size_t nlat, latcap;
static double *hb_rtt;       /* heartbeat round trips (quiet phase) */
static size_t nhb_rtt, hb_rttcap;
static double *rep_delay;    /* churn: an end's report sent - the end (waits for the node's
                                calls connection, one call at a time as the agent) */
static size_t nrep_delay, rep_delaycap;
static double *rep_rtt;      /* churn: report round trips (answered once durable) */
static size_t nrep_rtt, rep_rttcap;
static double churn_start = 1e300; /* monotonic; jobs hold until then */
static uint64_t busy_gpus;

static void push(double **v, size_t *n, size_t *cap, double x)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *v = realloc(*v, *cap * sizeof(double));
    }
    (*v)[(*n)++] = x;
}

/* ---- HTTP ---- */
static void conn_close(conn_t *c, double retry_in)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = 0;
    c->kind = R_NONE;
    c->inlen = 0;
    c->retry_at = now_s() + retry_in;
}

static int conn_open(conn_t *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, c->node->addr, &src.sin_addr);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
        close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&server_sa, sizeof(server_sa)) < 0 &&
        errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->state = 1;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static void conn_want(conn_t *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_flush(conn_t *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN)
                return conn_want(c, true);
            cnt[phase].conn_err++;
            return conn_close(c, 1);
        }
        c->outoff += (size_t)w;
    }
    c->state = 3;
    conn_want(c, false);
}

/* Sends a request on c (opened if need be). body NULL: GET. */
static int conn_send(conn_t *c, rkind_t kind, const char *method, const char *path,
                     const char *body)
{
    if (c->fd < 0 && conn_open(c) < 0) {
        cnt[phase].conn_err++;
        c->retry_at = now_s() + 1;
        return -1;
    }
    size_t bl = body ? strlen(body) : 0;
    size_t need = strlen(path) + bl + 512;
    free(c->out);
    c->out = malloc(need);
    c->outlen = (size_t)snprintf(c->out, need,
                                 "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                                 method, path, opt.host, opt.port, c->node->token, bl);
    if (body) {
        memcpy(c->out + c->outlen, body, bl);
        c->outlen += bl;
    }
    c->outoff = 0;
    c->kind = kind;
    c->sent_at = now_s();
    c->inlen = 0;
    if (c->state == 1) /* connecting: flushed once writable */
        return 0;
    c->state = 2;
    conn_flush(c);
    return 0;
}

/* A complete answer in c->in: status, body (NUL-terminated), connection close. 0 incomplete,
 * 1 done, -1 bad. */
static int parse_answer(conn_t *c, int *status, char **body, bool *close_after)
{
    if (c->inlen < 12)
        return 0;
    c->in[c->inlen] = '\0';
    char *hend = strstr(c->in, "\r\n\r\n");
    if (!hend)
        return 0;
    *status = atoi(c->in + 9);
    long clen = -1;
    *close_after = false;
    for (char *l = strstr(c->in, "\r\n") + 2; l < hend; l = strstr(l, "\r\n") + 2) {
        if (!strncasecmp(l, "Content-Length:", 15))
            clen = strtol(l + 15, NULL, 10);
        else if (!strncasecmp(l, "Connection:", 11) && strcasestr(l, "close") &&
                 strcasestr(l, "close") < strstr(l, "\r\n"))
            *close_after = true;
        else if (!strncasecmp(l, "Transfer-Encoding:", 18))
            return -1;
    }
    if (clen < 0)
        return -1;
    size_t hl = (size_t)(hend + 4 - c->in);
    if (c->inlen < hl + (size_t)clen)
        return 0;
    *body = hend + 4;
    (*body)[clen] = '\0';
    return 1;
}

static void on_answer(node_t *n, conn_t *c, rkind_t kind, int status, const char *body);

static void conn_read(conn_t *c)
{
    for (;;) {
        if (c->incap - c->inlen < 4096) {
            c->incap = c->incap ? c->incap * 2 : 16384;
            c->in = realloc(c->in, c->incap + 1);
        }
        ssize_t r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0) {
            if (c->kind != R_NONE)
                cnt[phase].conn_err++;
            rkind_t k = c->kind;
            conn_close(c, k != R_NONE ? 1 : 0);
            if (k != R_NONE)
                on_answer(c->node, c, k, 0, NULL);
            return;
        }
        c->inlen += (size_t)r;
    }
    int status;
    char *body;
    bool close_after;
    int p = parse_answer(c, &status, &body, &close_after);
    if (p == 0)
        return;
    rkind_t k = c->kind;
    if (p < 0) {
        cnt[phase].http_err++;
        conn_close(c, 1);
        on_answer(c->node, c, k, 0, NULL);
        return;
    }
    c->kind = R_NONE;
    c->state = 4;
    char *copy = strdup(body);
    if (close_after)
        conn_close(c, 0);
    c->inlen = 0;
    on_answer(c->node, c, k, status, copy);
    free(copy);
}

/* ---- the agent's side ---- */
static void node_add_event(node_t *n, json_t *ev)
{
    json_array_append_new(n->events, ev);
}

static sjob_t *node_job(node_t *n, uint64_t id, int inc)
{
    for (size_t i = 0; i < n->njobs; i++)
        if (n->jobs[i].id == id && n->jobs[i].inc == inc)
            return &n->jobs[i];
    return NULL;
}

static void job_end(node_t *n, sjob_t *j, const char *reason, int code)
{
    if (j->state != J_RUNNING)
        return;
    j->state = J_ENDED;
    double t = now_s();
    for (int g = 0; g < MAXG; g++)
        if (j->mask >> g & 1)
            n->freed_at[g] = t;
    busy_gpus -= (uint64_t)__builtin_popcountll(j->mask & n->busy);
    n->busy &= ~j->mask;
    cnt[phase].ends++;
    node_add_event(n, json_pack("{s:I,s:i,s:s,s:i,s:i,s:s,s:f}", "job_id", (json_int_t)j->id,
                                "incarnation", j->inc, "event", "exited", "exit_code", code,
                                "signal", 0, "reason", reason, "time", wall_s()));
}

static void job_forget(node_t *n, uint64_t id, int inc)
{
    for (size_t i = 0; i < n->njobs; i++)
        if (n->jobs[i].id == id && n->jobs[i].inc == inc) {
            n->jobs[i] = n->jobs[--n->njobs];
            return;
        }
}

static void job_start(node_t *n, json_t *job, double recv)
{
    uint64_t id = (uint64_t)json_integer_value(json_object_get(job, "id"));
    int inc = (int)json_integer_value(json_object_get(job, "incarnation"));
    if (node_job(n, id, inc))
        return;
    uint64_t mask = 0;
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(job, "gpus"), i, g) mask |= 1ULL
                                                                << json_integer_value(g);
    double freed = 0;
    bool all_known = mask != 0;
    for (int k = 0; k < MAXG; k++)
        if (mask >> k & 1) {
            if (n->freed_at[k] < churn_start)
                all_known = false;
            else if (n->freed_at[k] > freed)
                freed = n->freed_at[k];
        }
    if (phase == PH_CHURN && all_known)
        push(&lat, &nlat, &latcap, recv - freed);
    double rt = opt.runtime * (0.5 + drand48());
    json_t *cmd = json_object_get(job, "command");
    const char *c0 = json_string_value(json_array_get(cmd, 0));
    const char *c1 = json_string_value(json_array_get(cmd, 1));
    if (c0 && c1 && !strcmp(c0, "sleep") && atof(c1) > 0)
        rt = atof(c1);
    if (n->njobs == n->jcap) {
        n->jcap = n->jcap ? n->jcap * 2 : 16;
        n->jobs = realloc(n->jobs, n->jcap * sizeof(sjob_t));
    }
    sjob_t *j = &n->jobs[n->njobs++];
    *j = (sjob_t){.id = id, .inc = inc, .mask = mask, .runtime = rt, .state = J_RUNNING};
    /* Before the churn phase nothing ends: then a job started earlier ends within one of its
     * runtimes, spread; one started during it after its runtime. */
    j->end_at = recv >= churn_start ? recv + rt : 1e300;
    busy_gpus += (uint64_t)__builtin_popcountll(mask & ~n->busy);
    n->busy |= mask;
    cnt[phase].starts++;
    node_add_event(n, json_pack("{s:I,s:i,s:s,s:f}", "job_id", (json_int_t)id, "incarnation",
                                inc, "event", "started", "time", wall_s()));
}

static json_t *copies(node_t *n, int state)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n->njobs; i++)
        if (n->jobs[i].state == state)
            json_array_append_new(a, json_pack("{s:I,s:i}", "job_id", (json_int_t)n->jobs[i].id,
                                               "incarnation", n->jobs[i].inc));
    return a;
}

static void send_json(conn_t *c, rkind_t k, const char *path, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    conn_send(c, k, "POST", path, s);
    free(s);
}

static void do_register(node_t *n)
{
    json_t *gpus = json_array();
    for (int g = 0; g < opt.gpus; g++) {
        char uuid[80];
        snprintf(uuid, sizeof(uuid), "GPU-%08x-%04x-0000-0000-%012x", n->idx, g, n->idx * 64 + g);
        json_t *peers = json_array();
        for (int p = 0; p < opt.gpus; p++)
            if (p != g)
                json_array_append_new(peers, json_integer(p));
        json_array_append_new(gpus, json_pack("{s:i,s:s,s:s,s:i,s:o}", "index", g, "uuid", uuid,
                                              "name", "NVIDIA H100 80GB HBM3", "memory_mib",
                                              81559, "nvlink_peers", peers));
    }
    char b[16], s[16], l[16];
    snprintf(b, sizeof(b), "b%d", n->idx / 512);
    snprintf(s, sizeof(s), "s%d", n->idx / 128);
    snprintf(l, sizeof(l), "l%d", n->idx / 32);
    json_t *body = json_pack("{s:s,s:s,s:I,s:I,s:{s:s,s:s,s:s},s:o,s:s,s:o,s:o,s:[s]}",
                             "name", n->name, "gpu_type", "H100-80GB", "cpus_milli",
                             (json_int_t)192000, "memory_mib", (json_int_t)2048 * 1024,
                             "topology", "block", b, "spine", s, "leaf", l, "gpus", gpus,
                             "address", n->addr, "running", copies(n, J_RUNNING), "ended",
                             json_array(), "runtimes", "process");
    if (!n->bound)
        json_object_set_new(body, "node_token", json_string(n->proposal));
    /* its unreported ends, as the agent's "ended" */
    size_t i;
    json_t *ev;
    json_array_foreach(n->events, i, ev)
    {
        if (!strcmp(json_string_value(json_object_get(ev, "event")), "exited"))
            json_array_append(json_object_get(body, "ended"), ev);
    }
    send_json(&n->ctl, R_REGISTER, "/v1/agent/register", body);
}

static void do_heartbeat(node_t *n)
{
    json_t *gpus = json_array();
    for (int g = 0; g < opt.gpus; g++) {
        bool busy = n->busy >> g & 1;
        json_t *e = json_pack("{s:i,s:f,s:i}", "index", g, "utilization", busy ? 0.93 : 0.0,
                              "memory_used_mib", busy ? 40000 : 0);
        json_t *procs = json_array();
        for (size_t i = 0; busy && i < n->njobs; i++)
            if (n->jobs[i].state == J_RUNNING && n->jobs[i].mask >> g & 1)
                json_array_append_new(procs, json_pack("{s:i,s:i,s:I,s:i}", "pid",
                                                       10000 + (int)i, "memory_used_mib", 39000,
                                                       "job_id", (json_int_t)n->jobs[i].id,
                                                       "incarnation", n->jobs[i].inc));
        json_object_set_new(e, "processes", procs);
        json_array_append_new(gpus, e);
    }
    json_t *body = json_pack("{s:s,s:I,s:o,s:o,s:I,s:o,s:[],s:[]}", "name", n->name, "epoch",
                             (json_int_t)n->epoch, "running", copies(n, J_RUNNING), "ending",
                             copies(n, J_ENDED), "tasks_done", (json_int_t)n->tasks_done,
                             "gpus", gpus, "pulling", "images");
    cnt[phase].hb_sent++;
    send_json(&n->ctl, R_HEARTBEAT, "/v1/agent/heartbeat", body);
}

static void do_report(node_t *n)
{
    json_t *evs = json_array();
    size_t k = json_array_size(n->events);
    if (k > 64)
        k = 64;
    double wnow = wall_s();
    for (size_t i = 0; i < k; i++) {
        json_t *ev = json_array_get(n->events, i);
        json_array_append(evs, ev);
        if (phase == PH_CHURN && i >= n->sent_events &&
            !strcmp(json_string_value(json_object_get(ev, "event")), "exited"))
            push(&rep_delay, &nrep_delay, &rep_delaycap,
                 wnow - json_number_value(json_object_get(ev, "time")));
    }
    if (k > n->sent_events)
        n->sent_events = k; /* a retry is not counted again */
    n->ctl.nevents = (int)k;
    send_json(&n->ctl, R_REPORT, "/v1/agent/report",
              json_pack("{s:s,s:I,s:o}", "name", n->name, "epoch", (json_int_t)n->epoch,
                        "events", evs));
}

static void do_work(node_t *n)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/agent/work?name=%s&epoch=%lld&wait=25", n->name,
             (long long)n->epoch);
    conn_send(&n->poll, R_WORK, "GET", path, NULL);
}

static void handle_kill(node_t *n, json_t *kill)
{
    size_t i;
    json_t *k;
    json_array_foreach(kill, i, k)
    {
        uint64_t id = (uint64_t)json_integer_value(json_object_get(k, "job_id"));
        int inc = (int)json_integer_value(json_object_get(k, "incarnation"));
        sjob_t *j = node_job(n, id, inc);
        if (j) {
            cnt[phase].kills++;
            job_end(n, j, "cancelled", -1);
        }
    }
}

static void status_count(int status)
{
    int b = status / 100;
    cnt[phase].status[b >= 0 && b < 6 ? b : 0]++;
}

static void on_answer(node_t *n, conn_t *c, rkind_t kind, int status, const char *body)
{
    (void)c;
    status_count(status);
    json_t *o = body ? json_loads(body, 0, NULL) : NULL;
    if (status == 409 || (status == 403 && kind != R_REGISTER) ||
        (status == 404 && kind != R_REGISTER)) {
        n->registered = false;
        n->need_register = true;
    }
    switch (kind) {
    case R_REGISTER:
        if (status == 200) {
            n->epoch = json_integer_value(json_object_get(o, "epoch"));
            const char *tok = json_string_value(json_object_get(o, "node_token"));
            if (tok) {
                snprintf(n->token, sizeof(n->token), "%s", tok);
                n->bound = true;
            }
            n->registered = true;
            n->need_register = false;
            n->tasks_done = 0;
            cnt[phase].registers_ok++;
            handle_kill(n, json_object_get(o, "kill"));
            /* the events the registration carried as "ended" are reported again later */
            if (n->poll.fd >= 0 && n->poll.kind == R_WORK)
                conn_close(&n->poll, 0); /* a new epoch: a new poll */
        } else {
            n->need_register = true;
            n->ctl.retry_at = now_s() + 1;
        }
        break;
    case R_HEARTBEAT:
        if (status == 200) {
            cnt[phase].hb_ok++;
            if (phase == PH_QUIET)
                push(&hb_rtt, &nhb_rtt, &hb_rttcap, now_s() - c->sent_at);
            handle_kill(n, json_object_get(o, "kill"));
        }
        break;
    case R_REPORT:
        if (status == 200) {
            cnt[phase].reports_ok++;
            if (phase == PH_CHURN)
                push(&rep_rtt, &nrep_rtt, &rep_rttcap, now_s() - c->sent_at);
            for (int i = 0; i < n->ctl.nevents; i++) {
                json_t *ev = json_array_get(n->events, 0);
                if (!strcmp(json_string_value(json_object_get(ev, "event")), "exited"))
                    job_forget(n, (uint64_t)json_integer_value(json_object_get(ev, "job_id")),
                               (int)json_integer_value(json_object_get(ev, "incarnation")));
                json_array_remove(n->events, 0);
            }
            n->sent_events = n->sent_events > (size_t)n->ctl.nevents
                                 ? n->sent_events - (size_t)n->ctl.nevents : 0;
        } else {
            n->ctl.retry_at = now_s() + 0.5;
        }
        break;
    case R_WORK:
        if (status == 200) {
            double recv = now_s();
            cnt[phase].polls_answered++;
            size_t i;
            json_t *t;
            json_array_foreach(json_object_get(o, "tasks"), i, t)
            {
                const char *type = json_string_value(json_object_get(t, "type"));
                cnt[phase].work_tasks++;
                if (type && !strcmp(type, "start")) {
                    job_start(n, json_object_get(t, "job"), recv);
                } else if (type && !strcmp(type, "stop")) {
                    cnt[phase].stops++;
                    const char *r = json_string_value(json_object_get(t, "reason"));
                    sjob_t *j = node_job(n, (uint64_t)json_integer_value(
                                                json_object_get(t, "job_id")),
                                         (int)json_integer_value(json_object_get(t, "incarnation")));
                    if (j)
                        job_end(n, j, r && !strcmp(r, "preempt") ? "preempted"
                                      : r && !strcmp(r, "time_limit") ? "time_limit"
                                                                       : "cancelled", -1);
                }
            }
            json_t *seq = json_object_get(o, "seq");
            if (json_is_integer(seq))
                n->tasks_done = json_integer_value(seq);
        } else if (status != 409) {
            n->poll.retry_at = now_s() + 1;
        }
        break;
    default:
        break;
    }
    json_decref(o);
}

/* What each node does now: its calls (register, report, heartbeat: one at a time, as the
 * agent) and its long poll. */
static int reg_inflight;
static void tick(double t)
{
    for (int i = 0; i < opt.nodes; i++) {
        node_t *n = &nodes[i];
        for (size_t k = 0; k < n->njobs; k++)
            if (n->jobs[k].state == J_RUNNING && t >= n->jobs[k].end_at)
                job_end(n, &n->jobs[k], "completed", 0);
        conn_t *c = &n->ctl;
        if (c->kind == R_NONE && c->state != 1 && t >= c->retry_at) {
            if (n->need_register) {
                if (!opt.reg_conc || reg_inflight < opt.reg_conc) {
                    do_register(n);
                    reg_inflight++;
                }
            } else if (n->registered && json_array_size(n->events)) {
                do_report(n);
            } else if (n->registered && t >= n->next_hb) {
                n->next_hb += HB_DEFAULT;
                if (n->next_hb < t)
                    n->next_hb = t + HB_DEFAULT;
                do_heartbeat(n);
            }
        }
        if (n->registered && n->poll.kind == R_NONE && n->poll.state != 1 &&
            t >= n->poll.retry_at)
            do_work(n);
    }
}

/* ---- the server's process and metrics ---- */
typedef struct {
    double t, cpu, rss_mib;
    int threads;
    double pass_count, pass_sum, disp_count, disp_sum;
    double pass_b[16];
    double store_batches, store_tx, store_s;
    uint64_t hb_ok;
    /* the server's dispatch breakdown (stage histograms, STAGES below) */
    double st_count[4], st_sum[4], st_b[4][16];
} sample_t;

/* The server's histograms of where a start's dispatch goes, in order (metrics.c). */
static const char *const stage_metric[4] = {
    "gantry_dispatch_pass_wait_seconds", "gantry_scheduling_pass_duration_seconds",
    "gantry_dispatch_poll_wait_seconds", "gantry_dispatch_commit_wait_seconds"};
static const char *const stage_name[4] = {"freed_to_pass", "pass", "decided_to_poll",
                                          "poll_to_durable"};

static void proc_sample(sample_t *s)
{
    s->t = now_s();
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/stat", opt.server_pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(buf, sizeof(buf), f)) {
            char *p = strrchr(buf, ')');
            unsigned long ut = 0, st = 0;
            /* fields after ")": state(3) ... utime(14) stime(15) */
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                            &st) == 2)
                s->cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%d/status", opt.server_pid);
    f = fopen(path, "r");
    while (f && fgets(buf, sizeof(buf), f)) {
        if (!strncmp(buf, "VmRSS:", 6))
            s->rss_mib = atof(buf + 6) / 1024;
        if (!strncmp(buf, "Threads:", 8))
            s->threads = atoi(buf + 8);
    }
    if (f)
        fclose(f);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    FILE *m = ud;
    return fwrite(p, sz, n, m);
}

static const double pass_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1, 0.25, 0.5, 1, 2.5, 5, 1e300};
#define NPB 14

static void metrics_sample(sample_t *s)
{
    CURL *h = curl_easy_init();
    char url[256], auth[200], *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    snprintf(url, sizeof(url), "%s/v1/metrics", opt.base);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", opt.admin);
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, m);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_perform(h);
    fclose(m);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        const char *P = "gantry_scheduling_pass_duration_seconds";
        const char *D = "gantry_dispatch_latency_seconds";
        if (!strncmp(l, P, strlen(P))) {
            char *r = l + strlen(P);
            if (!strncmp(r, "_count ", 7))
                s->pass_count = atof(r + 7);
            else if (!strncmp(r, "_sum ", 5))
                s->pass_sum = atof(r + 5);
            else if (!strncmp(r, "_bucket{le=\"", 12)) {
                double le = strncmp(r + 12, "+Inf", 4) ? atof(r + 12) : 1e300;
                char *v = strchr(r, '}');
                for (int k = 0; k < NPB && v; k++)
                    if (fabs(pass_bounds[k] - le) <= 1e-9 * le)
                        s->pass_b[k] = atof(v + 1);
            }
        }
        for (int k = 0; k < 4; k++) {
            size_t ml = strlen(stage_metric[k]);
            if (strncmp(l, stage_metric[k], ml))
                continue;
            char *r = l + ml;
            if (!strncmp(r, "_count ", 7))
                s->st_count[k] = atof(r + 7);
            else if (!strncmp(r, "_sum ", 5))
                s->st_sum[k] = atof(r + 5);
            else if (!strncmp(r, "_bucket{le=\"", 12)) {
                double le = strncmp(r + 12, "+Inf", 4) ? atof(r + 12) : 1e300;
                char *v = strchr(r, '}');
                for (int b = 0; b < NPB && v; b++)
                    if (fabs(pass_bounds[b] - le) <= 1e-9 * le)
                        s->st_b[k][b] = atof(v + 1);
            }
        }
        if (!strncmp(l, "gantry_store_batches_total ", 27)) {
            s->store_batches = atof(l + 27);
        } else if (!strncmp(l, "gantry_store_transactions_total ", 32)) {
            s->store_tx = atof(l + 32);
        } else if (!strncmp(l, "gantry_store_commit_seconds_total ", 34)) {
            s->store_s = atof(l + 34);
        } else if (!strncmp(l, D, strlen(D))) {
            char *r = l + strlen(D);
            if (!strncmp(r, "_count ", 7))
                s->disp_count = atof(r + 7);
            else if (!strncmp(r, "_sum ", 5))
                s->disp_sum = atof(r + 5);
        }
    }
    free(text);
}

static sample_t samples[PH_N + 1];

/* Sample i starts phase i: the server's figures, and $SWARM_PHASE_HOOK PHASE (in the
 * background, e.g. a profiler attached to the server for that phase). */
static void sample(int i)
{
    proc_sample(&samples[i]);
    metrics_sample(&samples[i]);
    const char *hook = getenv("SWARM_PHASE_HOOK");
    fprintf(stderr, "agent-swarm: phase %s\n", i < PH_N ? ph_names[i] : "end");
    if (hook && i < PH_N) {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "%s %s %d &", hook, ph_names[i], opt.server_pid);
        if (system(cmd) != 0)
            fprintf(stderr, "agent-swarm: %s failed\n", cmd);
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (!n)
        return -1;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* The upper bound of the bucket holding quantile q of the passes between samples a and b. */
static double pass_pct(const sample_t *a, const sample_t *b, double q)
{
    double total = b->pass_count - a->pass_count;
    if (total <= 0)
        return -1;
    for (int k = 0; k < NPB; k++)
        if (b->pass_b[k] - a->pass_b[k] >= q * total)
            return pass_bounds[k];
    return -1;
}

static void run_until(bool (*done)(double), double limit)
{
    struct epoll_event evs[256];
    double last_tick = 0;
    for (;;) {
        double t = now_s();
        if (t - last_tick >= 0.01) {
            tick(t);
            last_tick = t;
        }
        if (done(t) || t >= limit)
            return;
        int k = epoll_wait(epfd, evs, 256, 10);
        for (int i = 0; i < k; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (c->state == 1) {
                int e = 0;
                socklen_t l = sizeof(e);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &l);
                if (e) {
                    cnt[phase].conn_err++;
                    rkind_t kk = c->kind;
                    conn_close(c, 1);
                    if (kk == R_REGISTER)
                        reg_inflight--;
                    if (kk != R_NONE)
                        on_answer(c->node, c, kk, 0, NULL);
                    continue;
                }
                c->state = 2;
            }
            if (c->state == 2 && (evs[i].events & EPOLLOUT))
                conn_flush(c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                rkind_t kk = c->kind;
                conn_read(c);
                if (kk == R_REGISTER && c->kind != R_REGISTER)
                    reg_inflight--;
            }
        }
    }
}

static bool all_registered(double t)
{
    (void)t;
    for (int i = 0; i < opt.nodes; i++)
        if (!nodes[i].registered)
            return false;
    return true;
}

static bool all_busy(double t)
{
    (void)t;
    return busy_gpus >= (uint64_t)opt.nodes * (uint64_t)opt.gpus;
}

static bool never(double t)
{
    (void)t;
    return false;
}

int main(int argc, char **argv)
{
    static struct option lo[] = {
        {"server", 1, 0, 's'}, {"token", 1, 0, 't'}, {"admin", 1, 0, 'a'},
        {"nodes", 1, 0, 'n'}, {"gpus", 1, 0, 'g'}, {"prefix", 1, 0, 'p'},
        {"runtime", 1, 0, 'r'}, {"server-pid", 1, 0, 'P'}, {"quiet", 1, 0, 'q'},
        {"churn", 1, 0, 'c'}, {"fill-max", 1, 0, 'f'}, {"register-concurrency", 1, 0, 'R'},
        {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 's': opt.base = optarg; break;
        case 't': opt.join = optarg; break;
        case 'a': opt.admin = optarg; break;
        case 'n': opt.nodes = atoi(optarg); break;
        case 'g': opt.gpus = atoi(optarg); break;
        case 'p': opt.prefix = optarg; break;
        case 'r': opt.runtime = atof(optarg); break;
        case 'P': opt.server_pid = atoi(optarg); break;
        case 'q': opt.quiet = atof(optarg); break;
        case 'c': opt.churn = atof(optarg); break;
        case 'f': opt.fill_max = atof(optarg); break;
        case 'R': opt.reg_conc = atoi(optarg); break;
        default: die("bad option (see the comment at the top of bench/agent-swarm.c)");
        }
    }
    if (!opt.base || !opt.join || !opt.admin || opt.nodes < 1 || opt.gpus < 1 ||
        opt.gpus > MAXG || !opt.server_pid)
        die("usage: agent-swarm --server URL --token JOIN --admin ADMIN --nodes N "
            "--server-pid PID [--gpus 8] [--runtime S] [--quiet S] [--churn S]");
    if (sscanf(opt.base, "http://%63[^:]:%d", opt.host, &opt.port) != 2)
        die("--server must be http://HOST:PORT");
    server_sa.sin_family = AF_INET;
    server_sa.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &server_sa.sin_addr) != 1)
        die("--server must name an IPv4 address");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)opt.nodes * 2 + 64)
        die("the open-file limit is too low for two connections per node");
    curl_global_init(CURL_GLOBAL_ALL);
    srand48(getpid());
    epfd = epoll_create1(EPOLL_CLOEXEC);
    nodes = calloc((size_t)opt.nodes, sizeof(node_t));
    FILE *ur = fopen("/dev/urandom", "r");
    for (int i = 0; i < opt.nodes; i++) {
        node_t *n = &nodes[i];
        n->idx = i;
        snprintf(n->name, sizeof(n->name), "%s%05d", opt.prefix, i);
        snprintf(n->addr, sizeof(n->addr), "127.1.%d.%d", i / 250, i % 250 + 1);
        unsigned char r[32];
        if (!ur || fread(r, 1, 32, ur) != 32)
            die("cannot read /dev/urandom");
        strcpy(n->proposal, "gt_");
        for (int k = 0; k < 32; k++)
            sprintf(n->proposal + 3 + 2 * k, "%02x", r[k]);
        snprintf(n->token, sizeof(n->token), "%s", opt.join);
        n->need_register = true;
        n->events = json_array();
        n->ctl = (conn_t){.fd = -1, .node = n};
        n->poll = (conn_t){.fd = -1, .node = n};
        n->next_hb = now_s() + HB_DEFAULT * drand48(); /* spread, as agents started apart */
    }
    fclose(ur);
    double t_start = now_s();
    sample(0);
    phase = PH_REGISTER;
    run_until(all_registered, t_start + 600);
    double t_reg = now_s();
    sample(1);
    phase = PH_FILL;
    run_until(all_busy, t_reg + opt.fill_max);
    double t_fill = now_s();
    sample(2);
    phase = PH_QUIET;
    run_until(never, t_fill + opt.quiet);
    double t_quiet = now_s();
    sample(3);
    phase = PH_CHURN;
    churn_start = t_quiet;
    for (int i = 0; i < opt.nodes; i++)
        for (size_t k = 0; k < nodes[i].njobs; k++)
            if (nodes[i].jobs[k].state == J_RUNNING)
                nodes[i].jobs[k].end_at = t_quiet + drand48() * nodes[i].jobs[k].runtime;
    run_until(never, t_quiet + opt.churn);
    sample(4);
    double ends[PH_N + 1] = {t_start, t_reg, t_fill, t_quiet, now_s()};
    qsort(lat, nlat, sizeof(double), cmp_d);
    qsort(hb_rtt, nhb_rtt, sizeof(double), cmp_d);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    json_t *out = json_pack("{s:i,s:i,s:f,s:f}", "nodes", opt.nodes, "gpus_per_node", opt.gpus,
                            "swarm_cpu_s",
                            ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                                ru.ru_stime.tv_usec / 1e6,
                            "runtime_mean_s", opt.runtime);
    json_t *phases = json_object();
    for (int p = 0; p < PH_N; p++) {
        sample_t *a = &samples[p], *b = &samples[p + 1];
        double wall = ends[p + 1] - ends[p];
        double cpu = b->cpu - a->cpu;
        json_t *o = json_pack(
            "{s:f,s:f,s:f,s:f,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "wall_s", wall,
            "server_cpu_s", cpu, "server_cores", wall > 0 ? cpu / wall : 0, "server_rss_mib",
            b->rss_mib, "server_threads", b->threads, "registers", cnt[p].registers_ok,
            "heartbeats_sent", cnt[p].hb_sent, "heartbeats_ok", cnt[p].hb_ok, "reports_ok",
            cnt[p].reports_ok, "starts", cnt[p].starts, "ends", cnt[p].ends, "stops",
            cnt[p].stops, "kills", cnt[p].kills, "http_errors", cnt[p].http_err,
            "conn_errors", cnt[p].conn_err);
        json_object_set_new(o, "status_2xx", json_integer((json_int_t)cnt[p].status[2]));
        json_object_set_new(o, "status_4xx", json_integer((json_int_t)cnt[p].status[4]));
        json_object_set_new(o, "status_5xx", json_integer((json_int_t)cnt[p].status[5]));
        json_object_set_new(o, "status_none", json_integer((json_int_t)cnt[p].status[0]));
        double np = b->pass_count - a->pass_count;
        json_object_set_new(o, "sched_passes", json_real(np));
        json_object_set_new(o, "sched_pass_mean_ms",
                            json_real(np > 0 ? 1000 * (b->pass_sum - a->pass_sum) / np : -1));
        json_object_set_new(o, "sched_pass_p50_le_ms", json_real(1000 * pass_pct(a, b, 0.5)));
        json_object_set_new(o, "sched_pass_p99_le_ms", json_real(1000 * pass_pct(a, b, 0.99)));
        json_object_set_new(o, "sched_cpu_share",
                            json_real(cpu > 0 ? (b->pass_sum - a->pass_sum) / cpu : 0));
        json_object_set_new(o, "store_batches", json_real(b->store_batches - a->store_batches));
        json_object_set_new(o, "store_commits", json_real(b->store_tx - a->store_tx));
        double ntx = b->store_tx - a->store_tx, stx = b->store_s - a->store_s;
        json_object_set_new(o, "store_commit_mean_ms", json_real(ntx > 0 ? 1000 * stx / ntx : -1));
        json_object_set_new(o, "store_committer_busy", json_real(wall > 0 ? stx / wall : 0));
        double nd = b->disp_count - a->disp_count;
        json_object_set_new(o, "server_dispatch_to_started_mean_ms",
                            json_real(nd > 0 ? 1000 * (b->disp_sum - a->disp_sum) / nd : -1));
        if (p == PH_QUIET && cnt[p].hb_ok) {
            json_object_set_new(o, "server_cpu_us_per_heartbeat",
                                json_real(1e6 * cpu / (double)cnt[p].hb_ok));
            json_object_set_new(o, "heartbeat_rtt_p50_ms", json_real(1000 * pct(hb_rtt, nhb_rtt, 0.5)));
            json_object_set_new(o, "heartbeat_rtt_p99_ms", json_real(1000 * pct(hb_rtt, nhb_rtt, 0.99)));
        }
        if (p == PH_CHURN) {
            json_object_set_new(o, "dispatch_samples", json_integer((json_int_t)nlat));
            json_object_set_new(o, "dispatch_p50_ms", json_real(1000 * pct(lat, nlat, 0.5)));
            json_object_set_new(o, "dispatch_p90_ms", json_real(1000 * pct(lat, nlat, 0.9)));
            json_object_set_new(o, "dispatch_p99_ms", json_real(1000 * pct(lat, nlat, 0.99)));
            json_object_set_new(o, "dispatch_max_ms",
                                json_real(nlat ? 1000 * lat[nlat - 1] : -1));
            /* Where it went: the node's side (its report waiting for the calls connection),
             * then the server's stages (histograms: mean, and the bucket holding p50). */
            qsort(rep_delay, nrep_delay, sizeof(double), cmp_d);
            qsort(rep_rtt, nrep_rtt, sizeof(double), cmp_d);
            json_t *bd = json_object();
            json_object_set_new(bd, "end_to_report_sent_p50_ms",
                                json_real(1000 * pct(rep_delay, nrep_delay, 0.5)));
            json_object_set_new(bd, "end_to_report_sent_p90_ms",
                                json_real(1000 * pct(rep_delay, nrep_delay, 0.9)));
            json_object_set_new(bd, "report_rtt_p50_ms",
                                json_real(1000 * pct(rep_rtt, nrep_rtt, 0.5)));
            for (int k = 0; k < 4; k++) {
                double c = b->st_count[k] - a->st_count[k];
                char key[64];
                snprintf(key, sizeof(key), "%s_mean_ms", stage_name[k]);
                json_object_set_new(bd, key, json_real(c > 0 ? 1000 * (b->st_sum[k] -
                                                                         a->st_sum[k]) / c
                                                             : -1));
                double le = -1;
                for (int q = 0; c > 0 && q < NPB; q++)
                    if (b->st_b[k][q] - a->st_b[k][q] >= 0.5 * c) {
                        le = pass_bounds[q];
                        break;
                    }
                snprintf(key, sizeof(key), "%s_p50_le_ms", stage_name[k]);
                json_object_set_new(bd, key, json_real(1000 * le));
                snprintf(key, sizeof(key), "%s_count", stage_name[k]);
                json_object_set_new(bd, key, json_real(c));
            }
            json_object_set_new(o, "dispatch_breakdown", bd);
        }
        json_object_set_new(phases, ph_names[p], o);
    }
    json_object_set_new(out, "phases", phases);
    json_object_set_new(out, "busy_gpus_at_end", json_integer((json_int_t)busy_gpus));
    json_object_set_new(out, "server_rss_mib_before", json_real(samples[0].rss_mib));
    json_object_set_new(out, "server_rss_mib_registered", json_real(samples[1].rss_mib));
    char *s = json_dumps(out, JSON_INDENT(1));
    puts(s);
    free(s);
    return 0;
}
