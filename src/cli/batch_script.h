/* batch_script.h: sbatch-style batch scripts and options for `gantry submit` (docs/cli.md,
 * "Batch scripts").
 *
 * A batch script is a text file that starts with "#!" or has directives in its top block: the
 * lines before its first command (comment lines and blank lines may come between, as sbatch
 * reads them). Two kinds of directive, each at the very start of its line:
 *   #SBATCH OPTIONS       Slurm's options, as sbatch reads them (several on a line; quotes;
 *                         a " #" starts a comment)
 *   #GANTRY FIELD: VALUE  one field of POST /v1/jobs with a YAML value, such as
 *                         "#GANTRY gpus: 2" or "#GANTRY gpu_type: [h100, a100]"
 * Each becomes the job fields of plan/CONTRACT.md (gpus, nodes, gpu_type, time_limit, memory,
 * cpus, team, priority_class, partition, array, dependencies, singleton, output, error,
 * workdir, checkpoint, requeue, hold, env). An option this module does not support is an error
 * naming its line and the option: never dropped. The same options given as command-line flags
 * go through batch_option() and override the script's (batch_merge), as sbatch's do. */
#ifndef GANTRY_BATCH_SCRIPT_H
#define GANTRY_BATCH_SCRIPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

/* Most bytes of a script gantry submit reads (sbatch's own limit is 4 MiB). */
#define BATCH_SCRIPT_MAX (4 * 1024 * 1024)

typedef struct batch {
    json_t *fields;          /* the job fields (POST /v1/jobs names) */
    json_t *lines;           /* field -> line of the directive that set it last (0: a flag) */
    int64_t gpus_per_node;   /* --gpus-per-node or --gres, -1 when not given: gpus = nodes x
                                this (and nodes = 1 when not given) */
    int64_t mem_per_gpu_mib; /* --mem-per-gpu, -1 when not given: memory = this x GPUs per node */
    bool env_replace;        /* --export was given: its env replaces, not adds to, the script's */
    int line;                /* the line being read (0 for command-line flags) */
} batch_t;

void batch_init(batch_t *b);
/* Frees what b holds (not b); accepts a zeroed or half-built b. */
void batch_free(batch_t *b);

/* Whether text (the start of a file) is a batch script: it starts with "#!", or its top block
 * has a #SBATCH or #GANTRY line; a text with a NUL byte (a binary) never is. */
bool batch_script_detect(const char *text, size_t len);

/* Reads text's directives into b (from batch_init). 0, or -1 (EINVAL) with err "line N: ..."
 * naming the directive. warn (may be NULL) gets a line for each #SBATCH/#GANTRY after the first
 * command (ignored, as sbatch ignores them). b keeps what the lines before the error set. */
int batch_script_parse(batch_t *b, const char *text, size_t len, gt_buf_t *warn,
                       gt_error_t *err);

/* Applies one sbatch option to b: name is its long name ("job-name", "gres", "time") or its
 * one-letter short name ("J"); value is NULL for an option without one (--requeue, --hold).
 * 0, or -1 (EINVAL) with err naming the option and what to write instead (an unknown option:
 * "--NAME is not supported"). A relative --chdir is made absolute against this directory. */
int batch_option(batch_t *b, const char *name, const char *value, gt_error_t *err);

/* Slurm's time formats to seconds: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, and UNLIMITED or
 * INFINITE (any case; 0: no limit); gantry's own (90s, 10m, 4h, 1h30m) too. A plain number is
 * minutes, as for sbatch. 0, or -1 (EINVAL) with err. */
int batch_time(const char *s, int64_t *secs, gt_error_t *err);

/* Slurm's memory sizes to MiB: a whole number with K, M, G or T (any case; M when none),
 * rounded up to whole MiB. 0, or -1 (EINVAL) with err. */
int batch_memory(const char *s, int64_t *mib, gt_error_t *err);

/* Lays over on top of b (flags over directives): over's fields replace b's (and their lines
 * are forgotten); gpus and --gpus-per-node replace each other, as do memory and --mem-per-gpu;
 * env is merged key by key unless over gave --export. */
void batch_merge(batch_t *b, const batch_t *over);

/* Turns --gpus-per-node and --mem-per-gpu into gpus, nodes and memory in b->fields (GPUs per
 * node: --gpus-per-node, else gpus / nodes rounded up, nodes 1 when not given). 0, or -1 with
 * err when gpus is not a number. */
int batch_finish(batch_t *b, gt_error_t *err);

/* The line of the directive a server's message is about: one whose field the message quotes
 * ('gpus', 'checkpoint.signal') or whose string value it quotes ('h100'). 0 when none. */
int batch_line_of(const batch_t *b, const char *msg);

/* The command that runs script path (the text read from it, args after it): [path, args...]
 * for an executable file with a "#!" line, else [interpreter, [its argument,] path, args...]
 * from the "#!" line (/bin/sh for a script without one), so that a script need not be
 * executable, as sbatch's need not. A new array. */
json_t *batch_command(const char *path, const char *text, bool executable, char *const *args,
                      int nargs);

#endif
