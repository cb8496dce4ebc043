/* config.h: the one YAML configuration (DESIGN.md "One configuration, everywhere"), shared by
 * `gantry server` and `gantry sim`: nodes, teams, priority classes, scheduler policy.
 *
 * gt_config_load/parse return 0 and a new config (free with gt_config_free), or -1 with errno
 * (EINVAL bad content, ENOENT/EACCES file) and a message in err naming the line and the key.
 *
 * The file is strict: unknown keys are errors. Sections and keys (examples/cluster.yaml shows
 * each one):
 *   nodes:   - {name, count, gpus, gpu_type, cpus, memory, topology: {block, spine, leaf},
 *               nvlink_groups}
 *            name is a node or a range ("gpu-[001-016]", "gpu-[1-4,8]"); or a plain name with
 *            count: N gives <name>-1..<name>-N, zero-padded to the digits of N (gpu-01..gpu-16).
 *            gpus > 0 needs gpu_type. cpus: 96 | 0.5 | 1500m. memory: 1536Gi | 512Mi | MiB.
 *   teams:   - {name, quota: {gpus: N, <GPU-TYPE>: N}, limit: {...}, weight, children: [...]}
 *            amounts are GPUs (whole or decimal: 0, 64, 12.5); quota <= limit per key.
 *   priority_classes: - {name, value, preemptible (default true), order (as
 *            scheduler.order, for the class's jobs), idle_action: report|requeue
 *            (default report: what is done to a job of the class flagged idle; requeue acts
 *            on preemptible jobs only, as a preemption: checkpoint signal, grace, queue)}
 *   idle:    {threshold: 5% | 0.05, after: 30m}  a running job whose GPUs all stay under the
 *            threshold (NVML utilization) for after is flagged idle (server only)
 *   scheduler: {fairshare, fairshare_half_life, quotas, backfill: {enabled, reservations} | bool,
 *               preemption: {enabled, grace_period, min_runtime, reclaim_min_runtime} | bool,
 *               default_priority_class, order, placement,
 *               las: {queues: [1h, 10h], starvation: 24h}, srtf: {aging: 0.005, unknown: 24h}}
 *            order and placement are names the scheduler knows (fifo | las | srtf; bestfit):
 *            src/model/sched_config.h checks them when it builds the scheduler. las.queues are
 *            GPU-time thresholds (1h = one GPU-hour), ascending, at most 8.
 *   users:   {<token user>: {unix: <account>, team: <team>, allow_system_account: false}}
 *            the Unix account each API user's jobs run as on the nodes (server only), the team
 *            whose team-admin may mint its tokens, and whether its jobs may run as root or a
 *            system account (uid < 1000); a user not listed runs as the account of its own
 *            name, never a system one. Accounts are POSIX names: letters, digits, '.', '_',
 *            '-' (not first), <= 32.
 *   volumes: - {name, path, teams: ["*" | TEAM...], access: ro|rw, kind: dataset|checkpoint|
 *               output|scratch|other}  named storage on the nodes (server only; envspec.h)
 *   environments: - {name, image, env: {K: V}, mounts: [{volume, sub_path, path, read_only}],
 *               teams, description}  software stacks jobs name (server only; envspec.h);
 *               their mounts name volumes of this file
 *   image_paths: [DIR...]  the node directories a job's own local image (oci:, oci-archive:,
 *               docker-archive:) may come from (server only); absent: anywhere
 *   partitions: {<name>: {gpu_type: TYPE | [TYPE...], priority_class: CLASS}}  what a job's
 *               "partition" (sbatch -p) means: its GPU types and class where the job gives
 *               none (server only); both keys optional; the class must be one of the file's
 * Booleans: true/false (yes/no, on/off too). Durations: 90s, 10m, 7d, 1h30m. */
#ifndef GANTRY_CONFIG_H
#define GANTRY_CONFIG_H

struct json_t;

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/* Most nodes one configuration may declare (ranges and count included). */
#define GT_CONFIG_MAX_NODES 100000
/* The scheduler's bounds (src/model checks that they match sched.h's). */
#define GT_CONFIG_MAX_GPU_TYPES 64
#define GT_CONFIG_MAX_GPUS_PER_NODE 64
#define GT_CONFIG_MAX_LAS_QUEUES 8

typedef struct gt_node_cfg {
    char *name;                   /* ranges already expanded: gpu-[001-016] gives 16 nodes */
    char *gpu_type;               /* NULL: a CPU-only node */
    int gpus;
    int64_t cpus_milli;           /* 0 = not declared */
    int64_t memory_mib;           /* 0 = not declared */
    char *block, *spine, *leaf;   /* NULL where not given */
    int nvlink_groups;            /* 0 = one domain */
} gt_node_cfg_t;

typedef struct gt_quota_cfg {
    char *gpu_type;               /* NULL = all types together (the "gpus" key) */
    int64_t quota_milli;          /* 0 when only a limit is given */
    int64_t limit_milli;          /* -1 = none */
} gt_quota_cfg_t;

typedef struct gt_team_cfg {
    char *name;
    char *parent;                 /* NULL for a top-level team; children follow their parent */
    double weight;                /* default 1 */
    gt_quota_cfg_t *quotas;
    size_t nquotas;
    int64_t storage_quota;        /* storage_quota: bytes of the artifact blob store ("500Gi",
                                     "2T", 1048576); -1 = none */
} gt_team_cfg_t;

typedef struct gt_class_cfg {
    char *name;
    int value;
    bool preemptible;             /* default true */
    bool idle_requeue;            /* idle_action: requeue (default report) */
    char *order;                  /* its pending jobs' order; NULL: the scheduler's */
    int order_line;               /* the line of order (for messages) */
    int64_t session_idle_s;       /* session_idle_timeout: an interactive session of the class
                                     with no input and idle GPUs this long ends; 0 never; -1
                                     not written (the server's default) */
} gt_class_cfg_t;

/* The scheduler: section as written; what is not written keeps the scheduler's default
 * (src/model/sched_config.h turns this into the scheduler's parameters). */
typedef struct gt_sched_cfg {
    int fairshare, quotas, backfill, preemption;   /* 0 or 1; -1 = not written */
    int64_t half_life_s;          /* fairshare_half_life; -1 = not written */
    int reservations;             /* backfill.reservations; -1 = not written */
    int64_t grace_s, min_runtime_s; /* preemption.grace_period, .min_runtime; -1 = not written */
    char *order;                  /* scheduler.order; NULL = not written */
    int order_line;
    char *placement;              /* scheduler.placement; NULL = not written */
    int placement_line;
    int64_t las_queues[GT_CONFIG_MAX_LAS_QUEUES]; /* las.queues: GPU-seconds, ascending */
    int las_nqueues;              /* -1 = not written */
    int64_t las_starvation_s;     /* las.starvation; -1 = not written */
    double srtf_aging;            /* srtf.aging; -1 = not written */
    int64_t srtf_unknown_s;       /* srtf.unknown; -1 = not written */
    int64_t reclaim_min_runtime_s; /* preemption.reclaim_min_runtime; -1 = not written */
    int reclaim_min_runtime_line;
} gt_sched_cfg_t;

typedef struct gt_user_cfg {
    char *name;                   /* the API (token) user */
    char *unix_user;              /* the account its jobs run as on the nodes */
    char *team;                   /* the team it belongs to (team-admins mint its tokens), or
                                     NULL */
    bool allow_system_account;    /* may its jobs run as root or uid < 1000 (default false) */
} gt_user_cfg_t;

typedef struct gt_config {
    gt_node_cfg_t *nodes;
    size_t nnodes;
    gt_team_cfg_t *teams;         /* parents before children */
    size_t nteams;
    gt_class_cfg_t *classes;      /* defaults when the file has none: production (1000, not
                                     preemptible), normal (100), experimental (10) */
    size_t nclasses;
    char *default_class;          /* "normal" unless scheduler.default_priority_class says */
    gt_sched_cfg_t sched;         /* scheduler: section (plain values) */
    gt_user_cfg_t *users;         /* users: section, in file order */
    size_t nusers;
    int64_t retention_s;          /* retention: finished jobs are kept this long (0 = for ever) */
    bool retention_set;           /* false: not in the file (the server's default applies) */
    double idle_threshold;        /* idle.threshold, 0..1 (default 0.05) */
    int64_t idle_after_s;         /* idle.after (default 1800) */
    char *store;                  /* store: a postgresql:// URL (NULL: SQLite under the data
                                     directory); gantry server --store wins */
    int64_t series_interval_s;    /* series: the server's time series (0: not in the file) */
    int64_t series_retention_s;
    /* jansson's json_t, named by its struct tag: the simulator's files need not see jansson */
    struct json_t *volumes;       /* volumes: normalized (gt_volume_parse), in file order */
    struct json_t *environments;  /* environments: normalized (gt_environment_parse) */
    struct json_t *image_paths;   /* image_paths: where a job's own local image (oci:,
                                     oci-archive:, docker-archive:) may be; NULL: anywhere */
    struct json_t *partitions;    /* partitions: name -> {gpu_type: [..] (may be empty),
                                     priority_class (absent when not given)}, in file order */
} gt_config_t;

int gt_config_load(const char *path, gt_config_t **out, gt_error_t *err);
int gt_config_parse(const char *text, size_t len, gt_config_t **out, gt_error_t *err);
void gt_config_free(gt_config_t *cfg);

/* The Unix account for API user name: its users: entry, else NULL (borrowed from cfg). */
const char *gt_config_unix_user(const gt_config_t *cfg, const char *name);

/* Expands "gpu-[001-016]" (one bracket group of numbers and ranges separated by commas, such
 * as "gpu-[1-4,8]"; each number zero-padded to the width of its first bound) or a plain name.
 * Returns the count and a new array of new strings in *out (the caller frees each and the
 * array), or -1 (EINVAL) with err; at most GT_CONFIG_MAX_NODES names. */
int gt_expand_range(const char *pattern, char ***out, gt_error_t *err);

#endif
