/* api_logs.c: a job's output: where the server keeps it (one log per run, node rank and stream:
 * data/logs/ID.INCARNATION.STREAM for rank 0, ID.INCARNATION.STREAM.RANK for the others) and
 * GET /v1/jobs/{id}/logs (offset, follow, stream, incarnation, node: one node's log, or all of
 * a gang's merged line by line, each line led by its node's name). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"

#define MERGE_CHUNK 65536 /* bytes read from one node's log at a time when merging */
#define LINE_MAX_HELD 65536 /* a line longer than this is cut (merged view only) */

/* One node's log as a reader follows it. */
typedef struct log_src {
    int fd;
    char path[4200];
    int64_t offset;
    char *name;    /* its node, for the merged view's prefix */
    gt_buf_t held; /* merged view: the start of a line whose end has not come yet */
} log_src_t;

typedef struct log_stream {
    server_t *srv;
    uint64_t id;
    int incarnation;
    bool follow;
    bool merged;   /* node=all: lines of every node, each led by "[node] " */
    bool ended;    /* the run is over and its last bytes were read */
    log_src_t *src;
    int nsrc;
    int next;      /* merged view: the node read first next time (round robin) */
    gt_buf_t out;  /* merged view: prefixed lines not yet handed out */
    size_t out_pos;
} log_stream_t;

void api_log_rank_path(server_t *srv, uint64_t id, int inc, int rank, const char *stream,
                       char *buf, size_t len)
{
    if (rank == 0)
        snprintf(buf, len, "%s/logs/%llu.%d.%s", srv->data_dir, (unsigned long long)id, inc,
                 stream);
    else
        snprintf(buf, len, "%s/logs/%llu.%d.%s.%d", srv->data_dir, (unsigned long long)id, inc,
                 stream, rank);
}

void api_log_path(server_t *srv, uint64_t id, int inc, const char *stream, char *buf,
                  size_t len)
{
    api_log_rank_path(srv, id, inc, 0, stream, buf, len);
}

/* The record of an earlier run inc ({incarnation, nodes, ...}), or NULL. */
static json_t *earlier_run(const job_t *j, int inc)
{
    size_t i;
    json_t *run;
    json_array_foreach(j->earlier_runs, i, run)
    {
        if (json_integer_value(json_object_get(run, "incarnation")) == inc)
            return run;
    }
    return NULL;
}

int api_log_run_count(const job_t *j, int inc)
{
    json_t *run = earlier_run(j, inc);
    if (run)
        return (int)json_array_size(json_object_get(run, "nodes"));
    return inc == j->incarnation ? j->nslots : 0;
}

const char *api_log_run_node(const job_t *j, int inc, int rank)
{
    json_t *run = earlier_run(j, inc);
    if (run)
        return json_string_value(json_array_get(json_object_get(run, "nodes"), (size_t)rank));
    if (inc == j->incarnation && rank >= 0 && rank < j->nslots)
        return j->slots[rank].node;
    return NULL;
}

int api_log_node_rank(const job_t *j, int inc, const char *node)
{
    int n = api_log_run_count(j, inc);
    for (int r = 0; node && r < n; r++) {
        const char *name = api_log_run_node(j, inc, r);
        if (name && !strcmp(name, node))
            return r;
    }
    return -1;
}

/* Whether the run this stream reads is over: nothing more will land (caller holds no lock). */
static bool run_over(log_stream_t *ls)
{
    server_t *srv = ls->srv;
    pthread_mutex_lock(&srv->mu);
    job_t *j = server_job(srv, ls->id);
    bool over = !j || srv->stopping || j->incarnation != ls->incarnation ||
                (job_state_terminal(j->state) && !j->stopping) ||
                (j->state == JOB_PENDING && j->incarnation > 0);
    pthread_mutex_unlock(&srv->mu);
    return over;
}

/* Up to max bytes of src from its offset: >0 read, 0 nothing (yet). */
static ssize_t src_read(log_src_t *s, char *buf, size_t max)
{
    if (s->fd < 0)
        s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return 0;
    ssize_t n = pread(s->fd, buf, max, s->offset);
    if (n <= 0)
        return 0;
    s->offset += n;
    return n;
}

static ssize_t one_read(log_stream_t *ls, char *buf, size_t max)
{
    log_src_t *s = &ls->src[0];
    ssize_t n = src_read(s, buf, max);
    if (n > 0)
        return n;
    if (!ls->follow || ls->ended)
        return -1;
    if (!run_over(ls))
        return 0; /* nothing yet: http.c parks the connection until a log chunk lands */
    /* One last read: the final chunk may have landed with the exit. */
    ls->ended = true;
    n = src_read(s, buf, max);
    return n > 0 ? n : -1;
}

/* Moves src's complete lines (all of it when flush) into the merged output, each led by its
 * node's name; a line held longer than LINE_MAX_HELD is cut there. */
static void src_lines(log_stream_t *ls, log_src_t *s, bool flush)
{
    size_t at = 0;
    while (at < s->held.len) {
        char *nl = memchr(s->held.data + at, '\n', s->held.len - at);
        size_t end = nl ? (size_t)(nl - s->held.data) + 1 : s->held.len;
        if (!nl && !flush && s->held.len - at < LINE_MAX_HELD)
            break;
        gt_buf_printf(&ls->out, "[%s] ", s->name);
        gt_buf_append(&ls->out, s->held.data + at, end - at);
        if (!nl)
            gt_buf_append(&ls->out, "\n", 1);
        at = end;
    }
    if (at) {
        memmove(s->held.data, s->held.data + at, s->held.len - at);
        s->held.len -= at;
    }
}

/* Reads from the next node that has new bytes (round robin, so that nodes interleave) into the
 * merged output; with flush, the held partial lines go out too. true when output grew. */
static bool merge_fill(log_stream_t *ls, bool flush)
{
    char *chunk = xmalloc(MERGE_CHUNK);
    size_t before = ls->out.len;
    for (int k = 0; k < ls->nsrc; k++) {
        int r = (ls->next + k) % ls->nsrc;
        log_src_t *s = &ls->src[r];
        ssize_t n = src_read(s, chunk, MERGE_CHUNK);
        if (n > 0) {
            gt_buf_append(&s->held, chunk, (size_t)n);
            src_lines(ls, s, false);
            if (ls->out.len > before) {
                ls->next = (r + 1) % ls->nsrc;
                break;
            }
        }
    }
    free(chunk);
    for (int r = 0; flush && r < ls->nsrc; r++)
        src_lines(ls, &ls->src[r], true);
    return ls->out.len > before;
}

static ssize_t merged_read(log_stream_t *ls, char *buf, size_t max)
{
    for (;;) {
        if (ls->out_pos < ls->out.len) {
            size_t n = ls->out.len - ls->out_pos;
            if (n > max)
                n = max;
            memcpy(buf, ls->out.data + ls->out_pos, n);
            ls->out_pos += n;
            return (ssize_t)n;
        }
        ls->out.len = ls->out_pos = 0;
        if (ls->ended)
            return -1;
        if (merge_fill(ls, false))
            continue;
        if (ls->follow && !run_over(ls))
            return 0; /* parked until a chunk lands */
        /* Over (or not following): what landed last, else the partial lines, then the end. */
        if (!merge_fill(ls, false)) {
            merge_fill(ls, true);
            ls->ended = true;
        }
    }
}

static ssize_t log_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    log_stream_t *ls = cls;
    return ls->merged ? merged_read(ls, buf, max) : one_read(ls, buf, max);
}

static void log_free(void *cls)
{
    log_stream_t *ls = cls;
    for (int r = 0; r < ls->nsrc; r++) {
        if (ls->src[r].fd >= 0)
            close(ls->src[r].fd);
        free(ls->src[r].name);
        gt_buf_free(&ls->src[r].held);
    }
    free(ls->src);
    gt_buf_free(&ls->out);
    free(ls);
}

/* "node-a, node-b" (the first 8, then how many more): the nodes of run inc. */
static void run_nodes_str(const job_t *j, int inc, gt_buf_t *b)
{
    int n = api_log_run_count(j, inc);
    for (int r = 0; r < n && r < 8; r++) {
        const char *name = api_log_run_node(j, inc, r);
        gt_buf_printf(b, "%s%d: %s", r ? ", " : "", r, name ? name : "?");
    }
    if (n > 8)
        gt_buf_printf(b, " and %d more", n - 8);
}

/* The ranks a request's node= names in run inc: [*lo, *hi). 0 with a 404 in resp when the
 * node did not run it. */
static int pick_ranks(const job_t *j, int inc, const char *node, int *lo, int *hi,
                      http_resp_t *resp)
{
    int n = api_log_run_count(j, inc);
    int known = n > 0 ? n : 1; /* a run whose nodes are not known: its rank 0 */
    if (!node) {
        *lo = 0, *hi = 1;
        return 1;
    }
    if (!strcmp(node, "all")) {
        *lo = 0, *hi = known;
        return 1;
    }
    gt_error_t err = {0};
    int64_t r;
    if (node[0] >= '0' && node[0] <= '9') {
        if (gt_parse_int64(node, 0, 1000000, &r, &err) < 0) {
            http_error(resp, 400, "invalid_argument", "node: %s (a rank, a node's name, or all)",
                       err.msg);
            return 0;
        }
        if (r < known) {
            *lo = (int)r, *hi = (int)r + 1;
            return 1;
        }
    } else if ((r = api_log_node_rank(j, inc, node)) >= 0) {
        *lo = (int)r, *hi = (int)r + 1;
        return 1;
    }
    gt_buf_t b = {0};
    run_nodes_str(j, inc, &b);
    if (j->incarnation == 0)
        http_error(resp, 404, "not_found", "job %llu has not run yet: it has no node %s",
                   (unsigned long long)j->id, node);
    else if (node[0] >= '0' && node[0] <= '9')
        http_error(resp, 404, "not_found", "job %llu's run %d ran on %d node%s (ranks 0 to %d%s%s)"
                   ": there is no rank %s", (unsigned long long)j->id, inc, known,
                   known == 1 ? "" : "s", known - 1, b.len ? ": " : "", b.len ? b.data : "",
                   node);
    else
        http_error(resp, 404, "not_found", "node %s did not run job %llu's run %d (it ran on %s)",
                   node, (unsigned long long)j->id, inc, b.len ? b.data : "unknown nodes");
    gt_buf_free(&b);
    return 0;
}

int api_job_logs(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j)
{
    const char *off = http_query(req, "offset"), *follow = http_query(req, "follow"),
               *stream = http_query(req, "stream"), *inc = http_query(req, "incarnation"),
               *node = http_query(req, "node");
    gt_error_t err = {0};
    int64_t offset = 0, incarnation = j->incarnation;
    if (off && gt_parse_int64(off, 0, INT64_MAX, &offset, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "offset: %s", err.msg);
    if (inc && gt_parse_int64(inc, 1, 1000000, &incarnation, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "incarnation: %s", err.msg);
    if (inc && incarnation > j->incarnation) {
        if (j->incarnation == 0)
            return http_error(resp, 404, "not_found", "job %llu has not run yet: there is no "
                              "run %lld", (unsigned long long)j->id, (long long)incarnation);
        return http_error(resp, 404, "not_found", "job %llu has run %d time%s (runs 1 to %d): "
                          "there is no run %lld", (unsigned long long)j->id, j->incarnation,
                          j->incarnation == 1 ? "" : "s", j->incarnation,
                          (long long)incarnation);
    }
    if (!stream)
        stream = "stdout";
    if (strcmp(stream, "stdout") && strcmp(stream, "stderr"))
        return http_error(resp, 400, "invalid_argument", "stream must be stdout or stderr");
    bool merged = node && !strcmp(node, "all");
    if (merged && off)
        return http_error(resp, 400, "invalid_argument", "offset applies to one node's log "
                          "(node=RANK or NAME), not to node=all");
    int lo, hi;
    if (!pick_ranks(j, (int)incarnation, node, &lo, &hi, resp))
        return 0;
    log_stream_t *ls = xcalloc(1, sizeof(*ls));
    ls->srv = srv;
    ls->id = j->id;
    ls->incarnation = (int)incarnation;
    ls->follow = follow && (!strcmp(follow, "1") || !strcmp(follow, "true"));
    ls->merged = merged;
    ls->nsrc = hi - lo;
    ls->src = xcalloc((size_t)ls->nsrc, sizeof(*ls->src));
    for (int r = lo; r < hi; r++) {
        log_src_t *s = &ls->src[r - lo];
        s->fd = -1;
        s->offset = merged ? 0 : offset;
        const char *name = api_log_run_node(j, (int)incarnation, r);
        if (name)
            s->name = xstrdup(name);
        else {
            char b[32];
            snprintf(b, sizeof(b), "rank %d", r);
            s->name = xstrdup(b);
        }
        api_log_rank_path(srv, j->id, (int)incarnation, r, stream, s->path, sizeof(s->path));
    }
    resp->stream = ls;
    resp->stream_read = log_read;
    resp->stream_free = log_free;
    resp->content_type = "text/plain; charset=utf-8";
    return 0;
}
