/* trace.h: workload traces read into memory for the simulator.
 *
 * Formats (gt_trace_load's format argument; NULL guesses from the header line):
 *   "csv"           the project's format: header first, columns named by the header in any
 *                   order. Required: id,submit,team,gpus,duration. Optional: priority,user,
 *                   gpu_type,gpu_milli,nodes,cpu_milli,memory_mib,time_limit. Unknown columns
 *                   are errors (a typo would otherwise be ignored). Times in seconds (duration
 *                   and time_limit also take 90s, 10m, 12h, 7d). gpus is a whole count; a
 *                   fraction of one GPU is gpus 0 (or 1) with gpu_milli 1..999. gpu_type lists
 *                   acceptable models separated by '|'. Fields may be "quoted".
 *   "alibaba-openb" Alibaba cluster-trace-gpu-v2023 pod list (name,cpu_milli,memory_mib,num_gpu,
 *                   gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time):
 *                   team = qos, submit = creation_time, duration = deletion_time -
 *                   scheduled_time, one node. num_gpu 1 with gpu_milli < 1000 is a fraction of
 *                   one GPU; num_gpu > 1 is that many whole GPUs; num_gpu 0 is a CPU-only task.
 *                   Tasks never scheduled (no scheduled_time) or never ended (no
 *                   deletion_time) are skipped for a replay and counted, and kept in the
 *                   sampling pool (below). The five-column lists (name,cpu_milli,memory_mib,
 *                   num_gpu,gpu_milli: the multigpu, gpushare, gpuspec and cpu lists) carry no
 *                   times: every row goes to the sampling pool only (they are for --inflate).
 *                   A missing gpu_spec column means any GPU type; a missing qos, team "default".
 *   "slurm-sacct"   `sacct --parsable2 --allocations -o JobID,User,Account,Submit,Start,End,
 *                   AllocTRES,Timelimit` (more columns are ignored; JobID, Submit, Start, End and
 *                   AllocTRES are required). Times are ISO 8601 (read as UTC); submit becomes
 *                   seconds after the earliest submit. team = Account ("default" when empty),
 *                   gpus from AllocTRES gres/gpu (gres/gpu:<type> gives the type), cpu and mem
 *                   are divided per node. Skipped and counted: rows still running (End Unknown),
 *                   never started, without GPUs, and job steps (JobID with a '.').
 *
 * Errors: -1 with errno (EINVAL bad content, ENOENT/EACCES file) and a message in err naming
 * the file's line number and the column, and what to write instead. */
#ifndef GANTRY_TRACE_H
#define GANTRY_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/util.h"
#include "sched/sched.h"

typedef struct gt_trace_job {
    char *id;                     /* as in the file; unique ids are the caller's concern */
    int64_t submit;               /* seconds from the trace start */
    char *team;
    char *user;                   /* NULL when the trace has none */
    int64_t gpus_milli;           /* total: n*1000, or 1..999 for a fraction of one GPU */
    int nodes;                    /* gang size; 0 = let the scheduler choose */
    char *gpu_types;              /* acceptable models "A|B"; NULL = any */
    int64_t cpus_milli;           /* per node; 0 = not given */
    int64_t memory_mib;           /* per node; 0 = not given */
    int64_t duration;             /* seconds it runs once started */
    int64_t time_limit;           /* seconds; 0 = none */
    char *priority;               /* priority class name; NULL = the default class */
    int line;                     /* line of the file it came from (for messages) */
} gt_trace_job_t;

typedef struct gt_trace {
    gt_trace_job_t *jobs;         /* sorted by submit; ties keep file order */
    size_t njobs;
    /* tasks a replay cannot use (no times: never scheduled, never ended, a list without
       times) but whose shape is real: with jobs, the population --inflate samples from */
    gt_trace_job_t *pool;
    size_t npool, pool_cap;
    const char *format;           /* "csv", "alibaba-openb" or "slurm-sacct" (static) */
    size_t nskipped;              /* rows read but not turned into jobs */
    char skipped[256];            /* why, for the user: "1088 tasks without GPUs, ..." or "" */
    size_t jobs_cap;              /* private to the readers */
} gt_trace_t;

/* Reads the trace at path. On success *out is a new trace (free with gt_trace_free). */
int gt_trace_load(const char *path, const char *format, gt_trace_t **out, gt_error_t *err);
/* The same from memory (text need not be NUL-terminated); messages name lines only. */
int gt_trace_parse(const char *text, size_t len, const char *format, gt_trace_t **out,
                   gt_error_t *err);
void gt_trace_free(gt_trace_t *t);

/* Node lists. format "alibaba-openb" (sn,cpu_milli,memory_mib,gpu,model; one node per row,
 * gpu_type = model) or NULL to guess. Appends the nodes to cfg->nodes; on error cfg is
 * unchanged. */
int gt_nodes_load(const char *path, const char *format, gt_config_t *cfg, gt_error_t *err);
int gt_nodes_parse(const char *text, size_t len, const char *format, gt_config_t *cfg,
                   gt_error_t *err);

/* ---- shared by the readers (trace*.c) ---- */

/* A delimited text file cut into lines and fields. */
typedef struct gt_table {
    const char *text;
    size_t len, pos;
    int line;                     /* line number of the current row (1-based) */
    char sep;                     /* ',' or '|' */
    bool quotes;                  /* "..." fields with "" escapes (CSV) */
    char *row;                    /* the current row, split in place */
    size_t rowcap;
    char **fields;
    size_t nfields, fieldcap;
} gt_table_t;

/* Reads the next non-empty row into t->fields. Returns 1 for a row, 0 at the end, -1 with err
 * (EINVAL) for an unterminated quote or a NUL byte. */
int gt_table_next(gt_table_t *t, gt_error_t *err);
void gt_table_free(gt_table_t *t);
/* Index of the column named name in the header fields, or -1. */
int gt_table_column(char **header, size_t n, const char *name);
/* Checks that the current row has the header's nhdr fields and points f[c] at the field of
 * column col[c] ("" where col[c] < 0). -1 with EINVAL and err naming the line otherwise;
 * hint (may be "") is appended to the message. */
int gt_table_row(const gt_table_t *t, size_t nhdr, const int *col, int ncol, const char **f,
                 const char *hint, gt_error_t *err);

/* Readers: t is positioned after the header (hdr, nhdr). They append to tr. */
int gt_trace_read_csv(gt_table_t *t, char **hdr, size_t nhdr, gt_trace_t *tr, gt_error_t *err);
int gt_trace_read_alibaba(gt_table_t *t, char **hdr, size_t nhdr, gt_trace_t *tr,
                          gt_error_t *err);
int gt_trace_read_sacct(gt_table_t *t, char **hdr, size_t nhdr, gt_trace_t *tr,
                        gt_error_t *err);
/* Appends a zeroed job (line set to line) to tr and returns it; _pool to tr's pool. */
gt_trace_job_t *gt_trace_add(gt_trace_t *tr, int line);
gt_trace_job_t *gt_trace_add_pool(gt_trace_t *tr, int line);
/* Appends "<n> <what>" to tr->skipped (comma-separated) and adds n to tr->nskipped. */
void gt_trace_note_skipped(gt_trace_t *tr, size_t n, const char *what);
/* Integer field: empty gives dflt; else a base-10 integer in [min, max] or an error naming
 * the line and column. */
int gt_trace_int(const char *s, int64_t min, int64_t max, int64_t dflt, int line,
                 const char *column, int64_t *out, gt_error_t *err);

/* Sets err for a bad field: "line N, column C: 'value' ...: hint", errno EINVAL. */
int gt_trace_bad(gt_error_t *err, int line, const char *column, const char *value,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
