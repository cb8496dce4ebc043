/* trace_csv.c: the project's trace format (trace.h "csv"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/trace.h"

enum { C_ID, C_SUBMIT, C_TEAM, C_GPUS, C_DURATION, C_PRIORITY, C_USER, C_GPU_TYPE, C_GPU_MILLI,
       C_NODES, C_CPU_MILLI, C_MEMORY_MIB, C_TIME_LIMIT, C_COUNT };
static const char *const columns[C_COUNT] = {
    "id", "submit", "team", "gpus", "duration", "priority", "user", "gpu_type", "gpu_milli",
    "nodes", "cpu_milli", "memory_mib", "time_limit"};
#define NREQUIRED 5

static char *opt_dup(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

static int duration(const char *s, bool empty_ok, int line, const char *column, int64_t *out,
                    gt_error_t *err)
{
    gt_error_t perr;
    if (!*s && empty_ok) {
        *out = 0;
        return 0;
    }
    if (gt_parse_duration(s, out, &perr) < 0)
        return gt_trace_bad(err, line, column, s, "is not a duration; write seconds (3600) "
                            "or 90s, 10m, 12h, 7d");
    return 0;
}

int gt_trace_read_csv(gt_table_t *t, char **hdr, size_t nhdr, gt_trace_t *tr, gt_error_t *err)
{
    int col[C_COUNT];
    for (int c = 0; c < C_COUNT; c++)
        col[c] = -1;
    for (size_t i = 0; i < nhdr; i++) {
        int c = 0;
        while (c < C_COUNT && strcmp(hdr[i], columns[c]))
            c++;
        if (c == C_COUNT) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_trace", "line %d: unknown column '%.64s'; the "
                                "columns are id,submit,team,gpus,duration and optionally "
                                "priority,user,gpu_type,gpu_milli,nodes,cpu_milli,memory_mib,"
                                "time_limit", t->line, hdr[i]);
        }
        if (col[c] >= 0) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_trace", "line %d: column %s appears twice; keep "
                                "one", t->line, hdr[i]);
        }
        col[c] = (int)i;
    }
    for (int c = 0; c < NREQUIRED; c++)
        if (col[c] < 0) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_trace", "line %d: the header has no column %s; a "
                                "trace starts with id,submit,team,gpus,duration (any order)",
                                t->line, columns[c]);
        }
    int rc;
    while ((rc = gt_table_next(t, err)) > 0) {
        const char *f[C_COUNT];
        if (gt_table_row(t, nhdr, col, C_COUNT, f, "", err) < 0)
            return -1;
        int line = t->line;
        int64_t submit, gpus, milli, nodes, cpu, mem, dur, limit;
        if (!*f[C_ID])
            return gt_trace_bad(err, line, "id", "", "is empty; each job needs an id");
        if (!*f[C_TEAM])
            return gt_trace_bad(err, line, "team", "", "is empty; each job needs a team");
        if (!*f[C_SUBMIT])
            return gt_trace_bad(err, line, "submit", "", "is empty; write seconds from the "
                                "trace start");
        if (!*f[C_GPUS])
            return gt_trace_bad(err, line, "gpus", "", "is empty; write a GPU count");
        if (gt_trace_int(f[C_SUBMIT], 0, INT64_MAX / 4, 0, line, "submit", &submit, err) < 0 ||
            gt_trace_int(f[C_GPUS], 0, 1000000, 0, line, "gpus", &gpus, err) < 0 ||
            gt_trace_int(f[C_GPU_MILLI], 1, 1000, 1000, line, "gpu_milli", &milli, err) < 0 ||
            gt_trace_int(f[C_NODES], 1, 100000, 0, line, "nodes", &nodes, err) < 0 ||
            gt_trace_int(f[C_CPU_MILLI], 0, INT64_MAX / 4, 0, line, "cpu_milli", &cpu, err) <
                0 ||
            gt_trace_int(f[C_MEMORY_MIB], 0, INT64_MAX / 4, 0, line, "memory_mib", &mem, err) <
                0 ||
            duration(f[C_DURATION], false, line, "duration", &dur, err) < 0 ||
            duration(f[C_TIME_LIMIT], true, line, "time_limit", &limit, err) < 0)
            return -1;
        int64_t gpus_milli;
        if (milli < 1000) {
            if (gpus > 1)
                return gt_trace_bad(err, line, "gpu_milli", f[C_GPU_MILLI],
                                    "is a fraction of one GPU, but gpus is %lld; write gpus 1 "
                                    "(or 0) for a fraction, or leave gpu_milli empty",
                                    (long long)gpus);
            gpus_milli = milli;
        } else {
            if (gpus == 0)
                return gt_trace_bad(err, line, "gpus", f[C_GPUS], "asks for no GPUs; write a "
                                    "count, or gpus 0 with gpu_milli 1..999 for a fraction of "
                                    "one GPU");
            gpus_milli = gpus * 1000;
        }
        gt_trace_job_t *j = gt_trace_add(tr, line);
        j->id = xstrdup(f[C_ID]);
        j->team = xstrdup(f[C_TEAM]);
        j->user = opt_dup(f[C_USER]);
        j->priority = opt_dup(f[C_PRIORITY]);
        j->gpu_types = opt_dup(f[C_GPU_TYPE]);
        j->submit = submit;
        j->gpus_milli = gpus_milli;
        j->nodes = (int)nodes;
        j->cpus_milli = cpu;
        j->memory_mib = mem;
        j->duration = dur;
        j->time_limit = limit;
    }
    return rc;
}
