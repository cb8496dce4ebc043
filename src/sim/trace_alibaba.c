/* trace_alibaba.c: Alibaba cluster-trace-gpu-v2023 pod lists (trace.h "alibaba-openb"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/trace.h"

enum { A_NAME, A_NUM_GPU, A_GPU_MILLI, A_QOS, A_CREATION, A_DELETION, A_SCHEDULED, A_CPU,
       A_MEM, A_SPEC, A_COUNT };
static const char *const columns[A_COUNT] = {
    "name", "num_gpu", "gpu_milli", "qos", "creation_time", "deletion_time", "scheduled_time",
    "cpu_milli", "memory_mib", "gpu_spec"};
#define NREQUIRED 7

int gt_trace_read_alibaba(gt_table_t *t, char **hdr, size_t nhdr, gt_trace_t *tr,
                          gt_error_t *err)
{
    int col[A_COUNT];
    for (int c = 0; c < A_COUNT; c++) {
        col[c] = gt_table_column(hdr, nhdr, columns[c]);
        if (c < NREQUIRED && col[c] < 0) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_trace", "line %d: the header has no column %s; "
                                "an alibaba-openb pod list has name,cpu_milli,memory_mib,"
                                "num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
                                "deletion_time,scheduled_time", t->line, columns[c]);
        }
    }
    size_t no_gpu = 0, unscheduled = 0, unfinished = 0;
    int rc;
    while ((rc = gt_table_next(t, err)) > 0) {
        const char *f[A_COUNT];
        if (gt_table_row(t, nhdr, col, A_COUNT, f, "", err) < 0)
            return -1;
        int line = t->line;
        int64_t ngpu, milli, created, deleted, scheduled, cpu, mem;
        if (gt_trace_int(f[A_NUM_GPU], 0, SCHED_MAX_GPUS_PER_NODE, 0, line, "num_gpu", &ngpu,
                         err) < 0)
            return -1;
        if (ngpu == 0) {
            no_gpu++;
            continue;
        }
        if (!*f[A_NAME])
            return gt_trace_bad(err, line, "name", "", "is empty; each task needs a name");
        if (!*f[A_QOS])
            return gt_trace_bad(err, line, "qos", "", "is empty; write LS, Burstable or BE");
        if (!*f[A_CREATION])
            return gt_trace_bad(err, line, "creation_time", "", "is empty; write seconds "
                                "from the trace start");
        if (gt_trace_int(f[A_GPU_MILLI], 1, 1000, 1000, line, "gpu_milli", &milli, err) < 0 ||
            gt_trace_int(f[A_CREATION], 0, INT64_MAX / 4, 0, line, "creation_time", &created,
                         err) < 0 ||
            gt_trace_int(f[A_DELETION], 0, INT64_MAX / 4, -1, line, "deletion_time", &deleted,
                         err) < 0 ||
            gt_trace_int(f[A_SCHEDULED], 0, INT64_MAX / 4, -1, line, "scheduled_time",
                         &scheduled, err) < 0 ||
            gt_trace_int(f[A_CPU], 0, INT64_MAX / 4, 0, line, "cpu_milli", &cpu, err) < 0 ||
            gt_trace_int(f[A_MEM], 0, INT64_MAX / 4, 0, line, "memory_mib", &mem, err) < 0)
            return -1;
        if (scheduled < 0) {
            unscheduled++;
            continue;
        }
        if (deleted < 0) {
            unfinished++;
            continue;
        }
        if (deleted < scheduled)
            return gt_trace_bad(err, line, "deletion_time", f[A_DELETION],
                                "is before scheduled_time %lld; a task ends after it starts",
                                (long long)scheduled);
        gt_trace_job_t *j = gt_trace_add(tr, line);
        j->id = xstrdup(f[A_NAME]);
        j->team = xstrdup(f[A_QOS]);
        j->submit = created;
        /* Sharing is of one GPU; a task on several GPUs gets them whole. */
        j->gpus_milli = ngpu == 1 ? milli : ngpu * 1000;
        j->nodes = 1;
        j->gpu_types = *f[A_SPEC] ? xstrdup(f[A_SPEC]) : NULL;
        j->cpus_milli = cpu;
        j->memory_mib = mem;
        j->duration = deleted - scheduled;
    }
    if (rc < 0)
        return -1;
    gt_trace_note_skipped(tr, no_gpu, "tasks without GPUs");
    gt_trace_note_skipped(tr, unscheduled, "tasks never scheduled");
    gt_trace_note_skipped(tr, unfinished, "tasks without a deletion_time");
    return 0;
}
