/* tracking.c: a job's metrics (see tracking.h): the files under DATA/metrics, ingestion with
 * offsets, the series as read back, and the job token. */
#include "server/tracking.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NBUCKETS 1024
#define KEY_LEN 32

/* One job's file as the server appends to it. */
typedef struct tjob {
    uint64_t id;
    pthread_mutex_t mu;
    bool loaded;         /* have, size and last_step are read from the file */
    int64_t size;        /* bytes of the file (whole records) */
    int64_t *have;       /* have[inc]: bytes of run inc's $GANTRY_METRICS the server has */
    int nhave;
    int64_t last_step;   /* the last point's step; -1 before the first */
    struct tjob *next;
} tjob_t;

struct tracking {
    char *dir;           /* DATA/metrics */
    unsigned char key[KEY_LEN];
    pthread_mutex_t mu;  /* the table */
    tjob_t *bucket[NBUCKETS];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The key in DATA/job-token.key: read, or made on the first start. */
static int load_key(const char *data_dir, unsigned char *key, gt_error_t *err)
{
    char *path = gt_strfmt("%s/job-token.key", data_dir);
    int rc = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, key, KEY_LEN);
        close(fd);
        if (n == KEY_LEN)
            rc = 0;
        else
            gt_error_set(err, "internal", "%s is damaged (not %d bytes): remove it to make a "
                         "new one (running jobs' tokens then stop working)", path, KEY_LEN);
        goto out;
    }
    if (errno != ENOENT) {
        gt_error_set(err, "internal", "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (getrandom(key, KEY_LEN, 0) != KEY_LEN) {
        gt_error_set(err, "internal", "getrandom: %s", strerror(errno));
        goto out;
    }
    char *tmp = gt_strfmt("%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, key, KEY_LEN) != KEY_LEN || fsync(fd) < 0 || close(fd) < 0 ||
        rename(tmp, path) < 0) {
        gt_error_set(err, "internal", "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
    } else {
        rc = 0;
    }
    free(tmp);
out:
    free(path);
    return rc;
}

tracking_t *tracking_open(const char *data_dir, gt_error_t *err)
{
    tracking_t *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    t->dir = gt_strfmt("%s/metrics", data_dir);
    if (gt_mkdirs(t->dir, 0700, NULL) < 0) {
        gt_error_set(err, "internal", "cannot create %s: %s", t->dir, strerror(errno));
        goto fail;
    }
    if (load_key(data_dir, t->key, err) < 0)
        goto fail;
    return t;
fail:
    tracking_close(t);
    return NULL;
}

void tracking_close(tracking_t *t)
{
    if (!t)
        return;
    for (int b = 0; b < NBUCKETS; b++)
        for (tjob_t *j = t->bucket[b], *nx; j; j = nx) {
            nx = j->next;
            pthread_mutex_destroy(&j->mu);
            free(j->have);
            free(j);
        }
    OPENSSL_cleanse(t->key, sizeof(t->key));
    pthread_mutex_destroy(&t->mu);
    free(t->dir);
    free(t);
}

/* ---- the job token ---- */

static void token_mac(tracking_t *t, uint64_t id, int inc, char hex[65])
{
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "gantry-job:%" PRIu64 ":%d", id, inc);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), t->key, KEY_LEN, (const unsigned char *)msg, (size_t)n, mac, &len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

void tracking_job_token(tracking_t *t, uint64_t id, int inc, char *out)
{
    char hex[65];
    token_mac(t, id, inc, hex);
    snprintf(out, TRACKING_TOKEN_MAX, "gj_%" PRIu64 "_%d_%s", id, inc, hex);
}

bool tracking_token_check(tracking_t *t, const char *tok, uint64_t *id, int *inc)
{
    unsigned long long i;
    int k, used = 0;
    if (strncmp(tok, "gj_", 3) || sscanf(tok + 3, "%llu_%d_%n", &i, &k, &used) != 2 ||
        used == 0 || i == 0 || k < 1 || strlen(tok + 3 + used) != 64)
        return false;
    char want[TRACKING_TOKEN_MAX];
    tracking_job_token(t, (uint64_t)i, k, want);
    /* The same length (checked above and by the format): compared in constant time. */
    if (strlen(want) != strlen(tok) || CRYPTO_memcmp(want, tok, strlen(want)) != 0)
        return false;
    *id = (uint64_t)i;
    *inc = k;
    return true;
}

/* ---- one line ---- */

int tracking_parse_line(const char *line, size_t len, json_t **point, int64_t *step,
                        double *time, const char **why)
{
    *point = NULL;
    *step = -1;
    *time = 0;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len >= TRACKING_LINE_MAX) {
        *why = "longer than 64 KiB";
        return -1;
    }
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        *why = "not JSON";
        return -1;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        *why = "not a JSON object";
        return -1;
    }
    json_t *p = json_object();
    const char *k;
    json_t *v;
    *why = NULL;
    json_object_foreach(o, k, v)
    {
        if (!strcmp(k, "step")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                *why = "step is not a whole number >= 0";
                break;
            }
            *step = json_integer_value(v);
        } else if (!strcmp(k, "time")) {
            if (!json_is_number(v) || json_number_value(v) <= 0) {
                *why = "time is not a number of seconds since the epoch";
                break;
            }
            *time = json_number_value(v);
        } else if (!strcmp(k, "incarnation") || !strcmp(k, "superseded")) {
            *why = "incarnation and superseded are the server's names";
            break;
        } else if (json_is_number(v) && isfinite(json_number_value(v)) && strlen(k) <= 128 &&
                   *k) {
            json_object_set_new(p, k, json_real(json_number_value(v)));
        }
    }
    json_decref(o);
    if (!*why && json_object_size(p) == 0)
        *why = "no metric (a number other than step and time)";
    if (*why) {
        json_decref(p);
        *step = -1;
        *time = 0;
        return -1;
    }
    *point = p;
    return 0;
}

/* ---- the job's file ---- */

static char *job_path(tracking_t *t, uint64_t id)
{
    return gt_strfmt("%s/%" PRIu64 ".jsonl", t->dir, id);
}

static void have_set(tjob_t *j, int inc, int64_t v)
{
    if (inc >= j->nhave) {
        int n = inc + 8;
        j->have = xrealloc(j->have, (size_t)n * sizeof(*j->have));
        memset(j->have + j->nhave, 0, (size_t)(n - j->nhave) * sizeof(*j->have));
        j->nhave = n;
    }
    if (v > j->have[inc])
        j->have[inc] = v;
}

static int64_t have_get(const tjob_t *j, int inc)
{
    return inc < j->nhave ? j->have[inc] : 0;
}

/* Reads what the file holds (once): how much of each run's file, the last step. A record cut
 * short by a crash at the end is cut off. Caller holds j->mu. */
static int job_load(tracking_t *t, tjob_t *j, gt_error_t *err)
{
    if (j->loaded)
        return 0;
    char *path = job_path(t, j->id);
    size_t len = 0;
    char *data = gt_read_file(path, &len, NULL);
    j->last_step = -1;
    j->size = 0;
    if (!data && errno != ENOENT) {
        gt_error_set(err, "internal", "cannot read %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    size_t at = 0;
    while (data && at < len) {
        char *nl = memchr(data + at, '\n', len - at);
        if (!nl)
            break;
        json_t *r = json_loadb(data + at, (size_t)(nl - (data + at)), 0, NULL);
        int inc = (int)json_integer_value(json_object_get(r, "i"));
        json_t *o = json_object_get(r, "o");
        if (inc > 0 && json_is_integer(o))
            have_set(j, inc, json_integer_value(o));
        if (json_object_get(r, "m"))
            j->last_step = json_integer_value(json_object_get(r, "s"));
        json_decref(r);
        at = (size_t)(nl - data) + 1;
    }
    if (data && at < len && truncate(path, (off_t)at) < 0) {
        gt_error_set(err, "internal", "cannot cut the torn end of %s: %s", path,
                     strerror(errno));
        free(data);
        free(path);
        return -1;
    }
    j->size = (int64_t)at;
    free(data);
    free(path);
    j->loaded = true;
    return 0;
}

/* The job's entry, loaded and locked (unlock j->mu), or NULL with err. */
static tjob_t *job_lock(tracking_t *t, uint64_t id, gt_error_t *err)
{
    pthread_mutex_lock(&t->mu);
    tjob_t **pp = &t->bucket[id % NBUCKETS], *j;
    for (j = *pp; j && j->id != id; j = j->next)
        ;
    if (!j) {
        j = xcalloc(1, sizeof(*j));
        j->id = id;
        pthread_mutex_init(&j->mu, NULL);
        j->next = *pp;
        *pp = j;
    }
    pthread_mutex_lock(&j->mu);
    pthread_mutex_unlock(&t->mu);
    if (job_load(t, j, err) < 0) {
        pthread_mutex_unlock(&j->mu);
        return NULL;
    }
    return j;
}

/* Appends the record of one line to b: a point (step given or the last + 1) or an invalid
 * line. end: the offset after it in the run's file (-1: from HTTP). true when it was a point. */
static bool add_record(gt_buf_t *b, int inc, int64_t end, const char *line,
                       size_t n, int64_t *last_step)
{
    json_t *point;
    int64_t step;
    double tm;
    const char *why;
    json_t *r = json_pack("{s:i}", "i", inc);
    if (end >= 0)
        json_object_set_new(r, "o", json_integer((json_int_t)end));
    bool ok = tracking_parse_line(line, n, &point, &step, &tm, &why) == 0;
    if (ok) {
        if (step < 0)
            step = *last_step + 1;
        *last_step = step;
        json_object_set_new(r, "s", json_integer((json_int_t)step));
        json_object_set_new(r, "t", json_real(tm > 0 ? tm : now_s()));
        json_object_set_new(r, "m", point);
    } else {
        /* what the user wrote, cut to a readable length at a character boundary */
        size_t keep = n < 200 ? n : 200;
        while (keep > 0 && keep < n && ((unsigned char)line[keep] & 0xc0) == 0x80)
            keep--;
        json_t *s = json_stringn(line, keep);
        json_object_set_new(r, "bad", json_string(why));
        json_object_set_new(r, "line", s ? s : json_string("(not UTF-8)"));
    }
    char *txt = json_dumps(r, JSON_COMPACT);
    gt_buf_append(b, txt, strlen(txt));
    gt_buf_append(b, "\n", 1);
    free(txt);
    json_decref(r);
    return ok;
}

/* Appends b to the job's file; memory changes only once it is written. Caller holds j->mu. */
static int job_append(tracking_t *t, tjob_t *j, const gt_buf_t *b, gt_error_t *err)
{
    if (!b->len)
        return 0;
    char *path = job_path(t, j->id);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ssize_t w = fd >= 0 ? pwrite(fd, b->data, b->len, (off_t)j->size) : -1;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (w != (ssize_t)b->len) {
        /* a part written is cut again: the file keeps whole records only */
        if (w > 0 && truncate(path, (off_t)j->size) < 0) {
            /* the next load cuts a torn end */
        }
        gt_error_set(err, "internal", "cannot write %s: %s", path,
                     strerror(w < 0 ? e : ENOSPC));
        free(path);
        return -1;
    }
    free(path);
    j->size += (int64_t)b->len;
    return 0;
}

int tracking_ingest_chunk(tracking_t *t, uint64_t id, int inc, int64_t offset,
                          const char *data, size_t len, bool final, int64_t *have,
                          gt_error_t *err)
{
    tjob_t *j = job_lock(t, id, err);
    if (!j)
        return -1;
    int64_t got = have_get(j, inc);
    *have = got;
    if (offset > got) {
        pthread_mutex_unlock(&j->mu);
        return 1;
    }
    gt_buf_t b = {0};
    int64_t last_step = j->last_step, end = got;
    size_t at = (size_t)(got - offset); /* lines before are the server's already */
    while (at < len) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (data + at)) : len - at;
        /* the end of the chunk without its newline: the line may go on (not taken now), unless
         * the run is over or the line is too long to be one anyway */
        if (!nl && !final && n < TRACKING_LINE_MAX)
            break;
        int64_t line_end = offset + (int64_t)(at + n + (nl ? 1 : 0));
        bool blank = true;
        for (size_t k = 0; k < n && blank; k++)
            blank = data[at + k] == ' ' || data[at + k] == '\t' || data[at + k] == '\r';
        if (!blank) /* blank lines are read past, nothing kept */
            add_record(&b, inc, line_end, data + at, n, &last_step);
        end = line_end;
        at += n + (nl ? 1 : 0);
    }
    int rc = 0;
    if (end > got && b.len == 0) {
        /* only blank lines: recorded as how far the server has read, in a record of their own
         * so that a restart knows it too */
        char *txt = gt_strfmt("{\"i\":%d,\"o\":%" PRId64 "}\n", inc, end);
        gt_buf_append(&b, txt, strlen(txt));
        free(txt);
    }
    if (job_append(t, j, &b, err) < 0) {
        rc = -1;
    } else {
        have_set(j, inc, end);
        j->last_step = last_step;
        *have = have_get(j, inc);
    }
    gt_buf_free(&b);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int tracking_ingest_http(tracking_t *t, uint64_t id, int inc, const char *body, size_t len,
                         int *taken, int *invalid, gt_error_t *err)
{
    *taken = *invalid = 0;
    tjob_t *j = job_lock(t, id, err);
    if (!j)
        return -1;
    gt_buf_t b = {0};
    int64_t last_step = j->last_step;
    size_t at = 0;
    while (at < len) {
        const char *nl = memchr(body + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (body + at)) : len - at;
        bool blank = true;
        for (size_t k = 0; k < n && blank; k++)
            blank = body[at + k] == ' ' || body[at + k] == '\t' || body[at + k] == '\r';
        if (!blank) {
            if (add_record(&b, inc, -1, body + at, n, &last_step))
                (*taken)++;
            else
                (*invalid)++;
        }
        at += n + (nl ? 1 : 0);
    }
    int rc = job_append(t, j, &b, err);
    if (rc == 0)
        j->last_step = last_step;
    else
        *taken = *invalid = 0;
    gt_buf_free(&b);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* ---- reading ---- */

bool tracking_lower_is_better(const char *m)
{
    static const char *const low[] = {"loss", "err", "perplexity", "ppl", "wer", "cer",
                                      "mse", "mae", "nll", "latency", NULL};
    char lc[136];
    size_t n = strlen(m);
    if (n >= sizeof(lc))
        n = sizeof(lc) - 1;
    for (size_t i = 0; i < n; i++)
        lc[i] = (char)((m[i] >= 'A' && m[i] <= 'Z') ? m[i] + 32 : m[i]);
    lc[n] = '\0';
    for (int i = 0; low[i]; i++)
        if (strstr(lc, low[i]))
            return true;
    return false;
}

void tracking_read_free(tracking_read_t *r)
{
    json_decref(r->points);
    json_decref(r->summary);
    json_decref(r->bad);
    memset(r, 0, sizeof(*r));
}

/* Marks the points of earlier runs that a later run did again, and sums up the others. */
static void finish_series(json_t *points, json_t *summary)
{
    size_t n = json_array_size(points), i;
    int maxinc = 0;
    json_t *p;
    json_array_foreach(points, i, p)
    {
        int inc = (int)json_integer_value(json_object_get(p, "incarnation"));
        if (inc > maxinc)
            maxinc = inc;
    }
    /* first[k]: the first step of run k; later[k]: the smallest first step of runs after k */
    int64_t *first = xcalloc((size_t)maxinc + 2, sizeof(int64_t));
    int64_t *later = xcalloc((size_t)maxinc + 2, sizeof(int64_t));
    for (int k = 0; k <= maxinc + 1; k++)
        first[k] = later[k] = INT64_MAX;
    json_array_foreach(points, i, p)
    {
        int inc = (int)json_integer_value(json_object_get(p, "incarnation"));
        if (first[inc] == INT64_MAX)
            first[inc] = json_integer_value(json_object_get(p, "step"));
    }
    for (int k = maxinc - 1; k >= 0; k--)
        later[k] = first[k + 1] < later[k + 1] ? first[k + 1] : later[k + 1];
    for (i = 0; i < n; i++) {
        p = json_array_get(points, i);
        int inc = (int)json_integer_value(json_object_get(p, "incarnation"));
        int64_t step = json_integer_value(json_object_get(p, "step"));
        if (step >= later[inc]) {
            json_object_set_new(p, "superseded", json_true());
            continue;
        }
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v)
        {
            if (!strcmp(k, "step") || !strcmp(k, "incarnation") || !strcmp(k, "time"))
                continue;
            double x = json_number_value(v);
            json_t *s = json_object_get(summary, k);
            if (!s) {
                s = json_pack("{s:f,s:f,s:f,s:I,s:s}", "min", x, "max", x, "last", x, "count",
                              (json_int_t)0, "better",
                              tracking_lower_is_better(k) ? "min" : "max");
                json_object_set_new(summary, k, s);
            }
            if (x < json_number_value(json_object_get(s, "min")))
                json_object_set_new(s, "min", json_real(x));
            if (x > json_number_value(json_object_get(s, "max")))
                json_object_set_new(s, "max", json_real(x));
            json_object_set_new(s, "last", json_real(x));
            json_object_set_new(s, "last_step", json_integer((json_int_t)step));
            json_object_set_new(
                s, "count", json_integer(json_integer_value(json_object_get(s, "count")) + 1));
        }
    }
    free(first);
    free(later);
}

int tracking_read(tracking_t *t, uint64_t id, int64_t from, int64_t max_points,
                  tracking_read_t *out, gt_error_t *err)
{
    memset(out, 0, sizeof(*out));
    tjob_t *j = job_lock(t, id, err);
    if (!j)
        return -1;
    int64_t size = j->size; /* whole records only: what is being appended is not read */
    pthread_mutex_unlock(&j->mu);
    out->points = json_array();
    out->summary = json_object();
    out->bad = json_array();
    out->next = from < size ? from : size;
    if (from >= size)
        return 0;
    char *path = job_path(t, id);
    FILE *f = fopen(path, "re");
    free(path);
    if (!f)
        return 0; /* forgotten meanwhile */
    if (fseeko(f, (off_t)from, SEEK_SET) < 0) {
        fclose(f);
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t at = from;
    while (at < size && (n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break;
        if ((int64_t)json_array_size(out->points) >= max_points)
            break;
        at += n;
        json_t *r = json_loadb(line, (size_t)n - 1, 0, NULL);
        int inc = (int)json_integer_value(json_object_get(r, "i"));
        json_t *m = json_object_get(r, "m");
        if (json_is_object(m)) {
            json_t *p = json_pack("{s:I,s:i,s:O}", "step", json_object_get(r, "s")
                                  ? json_integer_value(json_object_get(r, "s")) : 0,
                                  "incarnation", inc, "time", json_object_get(r, "t"));
            json_object_update(p, m);
            json_array_append_new(out->points, p);
        } else if (json_object_get(r, "bad")) {
            out->invalid++;
            json_t *b = json_pack("{s:i,s:O,s:O}", "incarnation", inc, "why",
                                  json_object_get(r, "bad"), "line", json_object_get(r, "line"));
            if (json_object_get(r, "o"))
                json_object_set(b, "offset", json_object_get(r, "o"));
            else
                json_object_set_new(b, "source", json_string("http"));
            json_array_append_new(out->bad, b);
            if (json_array_size(out->bad) > TRACKING_BAD_KEPT)
                json_array_remove(out->bad, 0);
        }
        json_decref(r);
    }
    free(line);
    fclose(f);
    out->next = at;
    if (from == 0)
        finish_series(out->points, out->summary);
    return 0;
}

void tracking_forget(tracking_t *t, uint64_t id)
{
    pthread_mutex_lock(&t->mu);
    tjob_t **pp = &t->bucket[id % NBUCKETS];
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    tjob_t *j = *pp;
    if (j)
        *pp = j->next;
    char *path = job_path(t, id);
    unlink(path);
    free(path);
    pthread_mutex_unlock(&t->mu);
    if (j) {
        pthread_mutex_lock(&j->mu); /* nobody else holds it: it left the table under t->mu */
        pthread_mutex_unlock(&j->mu);
        pthread_mutex_destroy(&j->mu);
        free(j->have);
        free(j);
    }
}
