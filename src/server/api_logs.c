/* api_logs.c: a job's output: where the server keeps it (data/logs/ID.INCARNATION.STREAM)
 * and GET /v1/jobs/{id}/logs (offset, follow, stream, incarnation). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"

typedef struct log_stream {
    server_t *srv;
    uint64_t id;
    int incarnation;
    int fd;
    char path[4200];
    int64_t offset;
    bool follow;
} log_stream_t;

void api_log_path(server_t *srv, uint64_t id, int inc, const char *stream, char *buf,
                  size_t len)
{
    snprintf(buf, len, "%s/logs/%llu.%d.%s", srv->data_dir, (unsigned long long)id, inc,
             stream);
}

static ssize_t log_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    log_stream_t *ls = cls;
    for (;;) {
        if (ls->fd < 0)
            ls->fd = open(ls->path, O_RDONLY | O_CLOEXEC);
        if (ls->fd >= 0) {
            ssize_t n = pread(ls->fd, buf, max, ls->offset);
            if (n > 0) {
                ls->offset += n;
                return n;
            }
        }
        if (!ls->follow)
            return -1;
        server_t *srv = ls->srv;
        pthread_mutex_lock(&srv->mu);
        job_t *j = server_job(srv, ls->id);
        bool over = !j || srv->stopping || j->incarnation != ls->incarnation ||
                    (job_state_terminal(j->state) && !j->stopping) ||
                    (j->state == JOB_PENDING && j->incarnation > 0);
        pthread_mutex_unlock(&srv->mu);
        if (!over)
            return 0; /* nothing yet: http.c parks the connection until a log chunk lands */
        if (over) {
            /* One last read: the final chunk may have landed with the exit. */
            if (ls->fd < 0)
                ls->fd = open(ls->path, O_RDONLY | O_CLOEXEC);
            ssize_t n = ls->fd >= 0 ? pread(ls->fd, buf, max, ls->offset) : 0;
            if (n > 0) {
                ls->offset += n;
                return n;
            }
            return -1;
        }
    }
}

static void log_free(void *cls)
{
    log_stream_t *ls = cls;
    if (ls->fd >= 0)
        close(ls->fd);
    free(ls);
}

int api_job_logs(server_t *srv, http_req_t *req, http_resp_t *resp, job_t *j)
{
    const char *off = http_query(req, "offset"), *follow = http_query(req, "follow"),
               *stream = http_query(req, "stream"), *inc = http_query(req, "incarnation");
    gt_error_t err = {0};
    int64_t offset = 0, incarnation = j->incarnation;
    if (off && gt_parse_int64(off, 0, INT64_MAX, &offset, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "offset: %s", err.msg);
    if (inc && gt_parse_int64(inc, 1, 1000000, &incarnation, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "incarnation: %s", err.msg);
    if (!stream)
        stream = "stdout";
    if (strcmp(stream, "stdout") && strcmp(stream, "stderr"))
        return http_error(resp, 400, "invalid_argument", "stream must be stdout or stderr");
    log_stream_t *ls = xcalloc(1, sizeof(*ls));
    ls->srv = srv;
    ls->id = j->id;
    ls->incarnation = (int)incarnation;
    ls->fd = -1;
    ls->offset = offset;
    ls->follow = follow && (!strcmp(follow, "1") || !strcmp(follow, "true"));
    api_log_path(srv, j->id, (int)incarnation, stream, ls->path, sizeof(ls->path));
    resp->stream = ls;
    resp->stream_read = log_read;
    resp->stream_free = log_free;
    resp->content_type = "text/plain; charset=utf-8";
    return 0;
}

