/* trace_sacct.c: Slurm accounting history from `sacct --parsable2 --allocations`
 * (trace.h "slurm-sacct"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/trace.h"

enum { S_JOBID, S_SUBMIT, S_START, S_END, S_TRES, S_USER, S_ACCOUNT, S_TIMELIMIT, S_COUNT };
static const char *const columns[S_COUNT] = {"JobID", "Submit", "Start", "End", "AllocTRES",
                                             "User", "Account", "Timelimit"};
#define NREQUIRED 5

/* Days since 1970-01-01 of a civil date (proleptic Gregorian; Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* "2024-05-01T10:00:00" -> seconds since the epoch, read as UTC. */
static int parse_time(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 19 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return -1;
    int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
    int h = num(s + 11, 2), mi = num(s + 14, 2), sec = num(s + 17, 2);
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return -1;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    return 0;
}

static bool is_unknown(const char *s)
{
    return !*s || !strcmp(s, "Unknown") || !strcmp(s, "None");
}

/* Slurm's time limit: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
 * "days-hours:minutes", "days-hours:minutes:seconds"; UNLIMITED and Partition_Limit give 0. */
static int parse_timelimit(const char *s, int64_t *out)
{
    if (!*s || !strcmp(s, "UNLIMITED") || !strcmp(s, "Partition_Limit") ||
        !strcmp(s, "INVALID")) {
        *out = 0;
        return 0;
    }
    int64_t v[4];
    int n = 0;
    bool days = false;
    const char *p = s;
    for (;;) {
        if (*p < '0' || *p > '9' || n == 4)
            return -1;
        int64_t x = 0;
        while (*p >= '0' && *p <= '9') {
            x = x * 10 + (*p++ - '0');
            if (x > 100000000)
                return -1;
        }
        v[n++] = x;
        if (*p == '-' && n == 1 && !days) {
            days = true;
            p++;
        } else if (*p == ':') {
            p++;
        } else if (!*p) {
            break;
        } else {
            return -1;
        }
    }
    if (days) {
        int64_t hms[3] = {0, 0, 0};
        if (n < 2 || n > 4)
            return -1;
        for (int i = 1; i < n; i++)
            hms[i - 1] = v[i];
        *out = v[0] * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    } else if (n == 1) {
        *out = v[0] * 60;
    } else if (n == 2) {
        *out = v[0] * 60 + v[1];
    } else if (n == 3) {
        *out = v[0] * 3600 + v[1] * 60 + v[2];
    } else {
        return -1;
    }
    return 0;
}

typedef struct tres {
    int64_t gpus, typed_gpus, cpus, mem_mib, nodes;
    char types[128];
} tres_t;

/* "billing=8,cpu=8,gres/gpu=2,gres/gpu:a100=2,mem=64G,node=1". Unknown keys are ignored (sites
 * add their own TRES). Returns 0, or -1 with the offending item in *bad. */
static int parse_tres(char *s, tres_t *r, const char **bad)
{
    memset(r, 0, sizeof(*r));
    r->gpus = -1;
    for (char *item = s; item && *item;) {
        char *next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        *bad = item;
        char *eq = strchr(item, '=');
        if (!eq)
            return -1;
        *eq = '\0';
        const char *key = item, *val = eq + 1;
        gt_error_t perr;
        int64_t v = 0;
        if (!strcmp(key, "cpu") || !strcmp(key, "node") || !strncmp(key, "gres/gpu", 8)) {
            if (gt_parse_int64(val, 0, 10000000, &v, &perr) < 0) {
                *eq = '=';
                return -1;
            }
        }
        if (!strcmp(key, "cpu")) {
            r->cpus = v;
        } else if (!strcmp(key, "node")) {
            r->nodes = v;
        } else if (!strcmp(key, "mem")) {
            if (gt_parse_memory_mib(val, &r->mem_mib, &perr) < 0) {
                *eq = '=';
                return -1;
            }
        } else if (!strcmp(key, "gres/gpu")) {
            r->gpus = v;
        } else if (!strncmp(key, "gres/gpu:", 9) && key[9]) {
            r->typed_gpus += v;
            size_t len = strlen(r->types);
            if (v > 0 && len + strlen(key + 9) + 2 < sizeof(r->types))
                snprintf(r->types + len, sizeof(r->types) - len, "%s%s", len ? "|" : "",
                         key + 9);
        }
        item = next;
    }
    if (r->gpus < 0)
        r->gpus = r->typed_gpus;
    return 0;
}

int gt_trace_read_sacct(gt_table_t *t, char **hdr, size_t nhdr, gt_trace_t *tr,
                        gt_error_t *err)
{
    int col[S_COUNT];
    for (int c = 0; c < S_COUNT; c++) {
        col[c] = gt_table_column(hdr, nhdr, columns[c]);
        if (c < NREQUIRED && col[c] < 0) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_trace", "line %d: the header has no column %s; "
                                "run sacct --parsable2 --allocations -o JobID,User,Account,"
                                "Submit,Start,End,AllocTRES,Timelimit", t->line, columns[c]);
        }
    }
    size_t steps = 0, running = 0, unstarted = 0, no_gpu = 0;
    int64_t first = INT64_MAX;
    size_t first_job = tr->njobs;
    int rc;
    while ((rc = gt_table_next(t, err)) > 0) {
        const char *f[S_COUNT];
        if (gt_table_row(t, nhdr, col, S_COUNT, f, " (is a field holding a '|'?)", err) < 0)
            return -1;
        int line = t->line;
        if (!*f[S_JOBID])
            return gt_trace_bad(err, line, "JobID", "", "is empty; each row needs a job id");
        if (strchr(f[S_JOBID], '.')) {
            steps++;
            continue;
        }
        int64_t submit, start, end, limit;
        if (parse_time(f[S_SUBMIT], &submit) < 0)
            return gt_trace_bad(err, line, "Submit", f[S_SUBMIT], "is not a time; write "
                                "2024-05-01T10:00:00 (sacct's default format)");
        if (is_unknown(f[S_START])) {
            unstarted++;
            continue;
        }
        if (parse_time(f[S_START], &start) < 0)
            return gt_trace_bad(err, line, "Start", f[S_START], "is not a time; write "
                                "2024-05-01T10:00:00, or Unknown");
        if (is_unknown(f[S_END])) {
            running++;
            continue;
        }
        if (parse_time(f[S_END], &end) < 0)
            return gt_trace_bad(err, line, "End", f[S_END], "is not a time; write "
                                "2024-05-01T10:00:00, or Unknown for a running job");
        if (end < start)
            return gt_trace_bad(err, line, "End", f[S_END], "is before Start %s; a job ends "
                                "after it starts", f[S_START]);
        if (parse_timelimit(f[S_TIMELIMIT], &limit) < 0)
            return gt_trace_bad(err, line, "Timelimit", f[S_TIMELIMIT], "is not a time limit; "
                                "write 04:00:00, 1-00:00:00 or UNLIMITED");
        char *tres_text = xstrdup(f[S_TRES]);
        tres_t r;
        const char *bad = NULL;
        if (parse_tres(tres_text, &r, &bad) < 0) {
            char item[96];
            snprintf(item, sizeof(item), "%s", bad ? bad : "");
            free(tres_text);
            return gt_trace_bad(err, line, "AllocTRES", item, "is not a TRES item; write "
                                "key=value items such as cpu=8,gres/gpu=2,mem=64G,node=1");
        }
        free(tres_text);
        if (r.gpus == 0) {
            no_gpu++;
            continue;
        }
        int64_t nodes = r.nodes > 0 ? r.nodes : 1;
        gt_trace_job_t *j = gt_trace_add(tr, line);
        j->id = xstrdup(f[S_JOBID]);
        j->team = xstrdup(*f[S_ACCOUNT] ? f[S_ACCOUNT] : "default");
        j->user = *f[S_USER] ? xstrdup(f[S_USER]) : NULL;
        j->submit = submit;
        j->gpus_milli = r.gpus * 1000;
        j->nodes = r.nodes > 0 ? (int)r.nodes : 0;
        j->gpu_types = r.types[0] ? xstrdup(r.types) : NULL;
        j->cpus_milli = r.cpus * 1000 / nodes;
        j->memory_mib = r.mem_mib / nodes;
        j->duration = end - start;
        j->time_limit = limit;
        if (submit < first)
            first = submit;
    }
    if (rc < 0)
        return -1;
    for (size_t i = first_job; i < tr->njobs; i++)
        tr->jobs[i].submit -= first;
    gt_trace_note_skipped(tr, steps, "job steps (run sacct with --allocations)");
    gt_trace_note_skipped(tr, unstarted, "jobs never started");
    gt_trace_note_skipped(tr, running, "jobs still running");
    gt_trace_note_skipped(tr, no_gpu, "jobs without GPUs");
    return 0;
}
