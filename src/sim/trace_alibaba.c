/* trace_alibaba.c: Alibaba cluster-trace-gpu-v2023 pod lists (trace.h "alibaba-openb"): the
 * eleven-column lists with times (openb_pod_list_default) and the five-column ones without
 * (name,cpu_milli,memory_mib,num_gpu,gpu_milli: multigpu, gpushare, gpuspec, cpu lists). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/trace.h"

enum { A_NAME, A_NUM_GPU, A_GPU_MILLI, A_QOS, A_CREATION, A_DELETION, A_SCHEDULED, A_CPU,
       A_MEM, A_SPEC, A_COUNT };
static const char *const columns[A_COUNT] = {
    "name", "num_gpu", "gpu_milli", "qos", "creation_time", "deletion_time", "scheduled_time",
    "cpu_milli", "memory_mib", "gpu_spec"};
#define NREQUIRED 3       /* name, num_gpu, gpu_milli: the rest may be missing */
#define NTIMED 7          /* with qos and the three times a list can be replayed */

int gt_trace_read_alibaba(gt_table_t *t, char **hdr, size_t nhdr, gt_trace_t *tr,
                          gt_error_t *err)
{
    int col[A_COUNT];
    int ntimed = 0;
    for (int c = 0; c < A_COUNT; c++) {
        col[c] = gt_table_column(hdr, nhdr, columns[c]);
        if (c < NREQUIRED && col[c] < 0) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_trace", "line %d: the header has no column %s; "
                                "an alibaba-openb pod list has name,cpu_milli,memory_mib,"
                                "num_gpu,gpu_milli[,gpu_spec,qos,pod_phase,creation_time,"
                                "deletion_time,scheduled_time]", t->line, columns[c]);
        }
        if (c >= NREQUIRED && c < NTIMED && col[c] >= 0)
            ntimed++;
    }
    /* times are all there or all missing: a half-timed list is a mistake */
    bool timed = ntimed == NTIMED - NREQUIRED;
    if (ntimed && !timed) {
        for (int c = NREQUIRED; c < NTIMED; c++)
            if (col[c] < 0) {
                errno = EINVAL;
                return gt_error_set(err, "invalid_trace", "line %d: the header has no column "
                                    "%s; a pod list with times has qos,creation_time,"
                                    "deletion_time,scheduled_time (a five-column list has "
                                    "none of them)", t->line, columns[c]);
            }
    }
    size_t unscheduled = 0, unfinished = 0, untimed = 0;
    int rc;
    while ((rc = gt_table_next(t, err)) > 0) {
        const char *f[A_COUNT];
        if (gt_table_row(t, nhdr, col, A_COUNT, f, "", err) < 0)
            return -1;
        int line = t->line;
        int64_t ngpu, milli, created = 0, deleted = -1, scheduled = -1, cpu, mem;
        if (gt_trace_int(f[A_NUM_GPU], 0, SCHED_MAX_GPUS_PER_NODE, 0, line, "num_gpu", &ngpu,
                         err) < 0)
            return -1;
        if (!*f[A_NAME])
            return gt_trace_bad(err, line, "name", "", "is empty; each task needs a name");
        if (timed && !*f[A_QOS])
            return gt_trace_bad(err, line, "qos", "", "is empty; write LS, Burstable or BE");
        if (timed && !*f[A_CREATION])
            return gt_trace_bad(err, line, "creation_time", "", "is empty; write seconds "
                                "from the trace start");
        if (gt_trace_int(f[A_GPU_MILLI], 0, 1000, 1000, line, "gpu_milli", &milli, err) < 0 ||
            gt_trace_int(f[A_CREATION], 0, INT64_MAX / 4, 0, line, "creation_time", &created,
                         err) < 0 ||
            gt_trace_int(f[A_DELETION], 0, INT64_MAX / 4, -1, line, "deletion_time", &deleted,
                         err) < 0 ||
            gt_trace_int(f[A_SCHEDULED], 0, INT64_MAX / 4, -1, line, "scheduled_time",
                         &scheduled, err) < 0 ||
            gt_trace_int(f[A_CPU], 0, INT64_MAX / 4, 0, line, "cpu_milli", &cpu, err) < 0 ||
            gt_trace_int(f[A_MEM], 0, INT64_MAX / 4, 0, line, "memory_mib", &mem, err) < 0)
            return -1;
        if (ngpu > 0 && milli == 0)
            return gt_trace_bad(err, line, "gpu_milli", f[A_GPU_MILLI], "is 0 with num_gpu "
                                "%lld; write the share of each GPU, 1..1000", (long long)ngpu);
        if (ngpu > 1 && milli < 1000)
            return gt_trace_bad(err, line, "gpu_milli", f[A_GPU_MILLI], "is a fraction with "
                                "num_gpu %lld; a task on several GPUs takes them whole (1000)",
                                (long long)ngpu);
        if (timed && scheduled >= 0 && deleted >= 0 && deleted < scheduled)
            return gt_trace_bad(err, line, "deletion_time", f[A_DELETION],
                                "is before scheduled_time %lld; a task ends after it starts",
                                (long long)scheduled);
        gt_trace_job_t *j;
        if (!timed) {
            untimed++;
            j = gt_trace_add_pool(tr, line);
        } else if (scheduled < 0) {
            unscheduled++;
            j = gt_trace_add_pool(tr, line);
        } else if (deleted < 0) {
            unfinished++;
            j = gt_trace_add_pool(tr, line);
        } else {
            j = gt_trace_add(tr, line);
            j->duration = deleted - scheduled;
        }
        j->id = xstrdup(f[A_NAME]);
        j->team = xstrdup(*f[A_QOS] ? f[A_QOS] : "default");
        j->submit = created;
        /* Sharing is of one GPU; a task on several GPUs gets them whole; 0 = CPU-only. */
        j->gpus_milli = ngpu == 0 ? 0 : ngpu == 1 ? milli : ngpu * 1000;
        j->nodes = 1;
        j->gpu_types = *f[A_SPEC] ? xstrdup(f[A_SPEC]) : NULL;
        j->cpus_milli = cpu;
        j->memory_mib = mem;
    }
    if (rc < 0)
        return -1;
    gt_trace_note_skipped(tr, untimed, "tasks without times (a five-column list: for --inflate)");
    gt_trace_note_skipped(tr, unscheduled, "tasks never scheduled");
    gt_trace_note_skipped(tr, unfinished, "tasks without a deletion_time");
    return 0;
}
