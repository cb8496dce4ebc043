/* metrics_ship.c: the job's $GANTRY_METRICS file to the server (see metrics_ship.h). */
#include "agent/metrics_ship.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CALL_TIMEOUT_MS 5000L

/* How many of the n bytes read to send: up to the last newline; all of them when final, or
 * when a full read holds no newline (a line too long: the server counts it invalid). 0: wait. */
static size_t whole_lines(const char *buf, size_t n, bool final)
{
    if (final)
        return n;
    const char *nl = memrchr(buf, '\n', n);
    if (nl)
        return (size_t)(nl - buf) + 1;
    return n == METRICS_SHIP_CHUNK ? n : 0;
}

metrics_ship_rc_t metrics_ship(client_t *c, const char *node, const char *path, int64_t job_id,
                               int inc, bool final, metrics_ship_t *ms, gt_error_t *err)
{
    if (ms->gone)
        return METRICS_REFUSED;
    /* The file is the job's user's, in a directory only root writes: not a link (O_NOFOLLOW),
     * and a regular file, so that the agent never ships something else in its place. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? METRICS_SHIPPED : METRICS_PENDING;
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        ms->gone = true;
        gt_error_set(err, "invalid", "%s is not a regular file: not shipped", path);
        return METRICS_REFUSED;
    }
    char *buf = xmalloc(METRICS_SHIP_CHUNK);
    metrics_ship_rc_t rc = METRICS_SHIPPED;
    for (int rounds = 0;; rounds++) {
        ssize_t n = pread(fd, buf, METRICS_SHIP_CHUNK, (off_t)ms->shipped);
        if (n <= 0)
            break;
        size_t send = whole_lines(buf, (size_t)n, final && n < METRICS_SHIP_CHUNK);
        if (send == 0)
            break;
        if (rounds == 16) {
            rc = METRICS_PENDING;
            break;
        }
        /* The bytes as a JSON string; a chunk that is not UTF-8 goes as lines the server
         * counts invalid: each bad byte becomes U+FFFD, line boundaries stay. */
        json_t *data = json_stringn(buf, send);
        if (!data) {
            gt_buf_t fixed = {0};
            for (size_t i = 0; i < send; i++) {
                unsigned char ch = (unsigned char)buf[i];
                if (ch >= 0x80 || ch == 0)
                    gt_buf_append(&fixed, "?", 1);
                else
                    gt_buf_append(&fixed, buf + i, 1);
            }
            data = json_stringn(fixed.data, fixed.len);
            gt_buf_free(&fixed);
        }
        json_t *body = json_pack("{s:I,s:i,s:I,s:o,s:s,s:b}", "job_id", (json_int_t)job_id,
                                 "incarnation", inc, "offset", (json_int_t)ms->shipped, "data",
                                 data, "node", node, "final",
                                 final && ms->shipped + (int64_t)send == (int64_t)sb.st_size);
        long status = 0;
        json_t *resp = NULL;
        int crc = client_call(c, "POST", "/v1/agent/metrics", body, CALL_TIMEOUT_MS, &status,
                              &resp, err);
        json_decref(body);
        int64_t have = json_integer_value(json_object_get(resp, "offset"));
        int64_t size = json_integer_value(
            json_object_get(json_object_get(resp, "error"), "size"));
        json_decref(resp);
        if (crc == 0 && status == 200) {
            /* the server may have had more already (a restarted agent): go on from there */
            int64_t next = ms->shipped + (int64_t)send;
            ms->shipped = have > next ? have : next;
            continue;
        }
        if (crc == 0 && status == 416 && size >= 0 && size < ms->shipped) {
            ms->shipped = size; /* the server has less than it took: send again from there */
            continue;
        }
        if (crc == 0 && (status == 401 || status == 403))
            rc = METRICS_REREGISTER;
        else if (crc == 0 && (status == 400 || status == 404)) {
            ms->gone = true;
            rc = METRICS_REFUSED;
        } else
            rc = METRICS_PENDING;
        break;
    }
    if (rc == METRICS_SHIPPED && fstat(fd, &sb) == 0 && sb.st_size > ms->shipped &&
        (final || sb.st_size - ms->shipped >= METRICS_SHIP_CHUNK))
        rc = METRICS_PENDING;
    free(buf);
    close(fd);
    return rc;
}
