/* bench_sched.c: `gantry bench sched`, the scheduler core's speed on a synthetic cluster.
 *
 * Phase 1 (placements): the jobs arrive in batches on an emptied cluster; each batch is one
 * scheduling pass; placements_per_s = jobs started / time spent in sched_cycle.
 * Phase 2 (cycles): the cluster is full and --pending jobs wait (with some higher-priority
 * and within-quota jobs, so that preemption and backfill are exercised); between passes a
 * few running jobs end. cycle_ms_p50/p99 = time of one pass over the whole queue. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "sched/sched.h"

typedef struct bench_cfg {
    int64_t nodes, gpus_per_node, jobs, pending, teams, cycles;
    unsigned seed;
    int placement;                /* scheduler.placement (--placement) */
} bench_cfg_t;

static int64_t job_gpus(unsigned *seed)
{
    int r = rand_r(seed) % 100; /* 1..64 GPUs, mostly small, as in production traces */
    return r < 40 ? 1 : r < 55 ? 2 : r < 70 ? 4 : r < 90 ? 8 : r < 95 ? 16 : r < 98 ? 32 : 64;
}

static sched_t *build_cluster(const bench_cfg_t *b, int *classes)
{
    sched_params_t p = sched_params_default();
    p.placement = b->placement;
    sched_t *s = sched_new(&p);
    classes[0] = sched_class_add(s, "low", 10, true, NULL);
    classes[1] = sched_class_add(s, "normal", 100, true, NULL);
    classes[2] = sched_class_add(s, "high", 1000, false, NULL);
    int64_t quota = b->nodes * b->gpus_per_node * 1000 / b->teams;
    for (int t = 0; t < b->teams; t++) {
        char name[32];
        snprintf(name, sizeof(name), "team-%02d", t);
        int ti = sched_team_add(s, name, -1, 1 + t % 3, NULL);
        sched_team_set_quota(s, ti, -1, quota, -1, NULL);
    }
    for (int64_t i = 0; i < b->nodes; i++) {
        char name[32], leaf[32], spine[32], block[32];
        snprintf(name, sizeof(name), "node-%05lld", (long long)i);
        snprintf(leaf, sizeof(leaf), "l%lld", (long long)(i / 32));
        snprintf(spine, sizeof(spine), "s%lld", (long long)(i / 256));
        snprintf(block, sizeof(block), "b%lld", (long long)(i / 2048));
        sched_node_spec_t n = {.name = name, .gpu_type = "H100", .gpus = (int)b->gpus_per_node,
                               .cpus_milli = 96000 * b->gpus_per_node / 8,
                               .memory_mib = 1536 * 1024 * b->gpus_per_node / 8,
                               .block = block, .spine = spine, .leaf = leaf,
                               .nvlink_groups = 1};
        sched_node_add(s, &n, NULL);
    }
    return s;
}

static sched_job_spec_t random_job(const bench_cfg_t *b, uint64_t id, sched_time_t now,
                                   unsigned *seed, const int *classes)
{
    int64_t g = job_gpus(seed);
    if (g > b->gpus_per_node)
        g -= g % b->gpus_per_node;
    int r = rand_r(seed) % 100;
    return (sched_job_spec_t){
        .id = id, .team = rand_r(seed) % (int)b->teams,
        .prio_class = r < 10 ? classes[0] : r < 97 ? classes[1] : classes[2],
        .gpus_milli = g * 1000, .cpus_milli = 4000 * g, .memory_mib = 32768 * g,
        .submit = now, .estimate = 600 + rand_r(seed) % (4 * 3600),
        .checkpointable = rand_r(seed) % 2,
    };
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gantry bench sched [--nodes N] [--gpus-per-node G] [--jobs J]\n"
               "                          [--pending P] [--teams T] [--cycles C] [--seed S]\n"
               "                          [--placement bestfit|fgd]\n"
               "Measures the scheduler core on a synthetic cluster and job mix; prints JSON.\n"
               "Defaults: 10000 nodes x 8 GPUs, 1000000 jobs, 100000 pending, 50 teams.\n");
}

static int bench_sched(int argc, char **argv)
{
    bench_cfg_t b = {10000, 8, 1000000, 100000, 50, 40, 1, SCHED_PLACE_BESTFIT};
    static const struct option opts[] = {
        {"nodes", required_argument, 0, 'n'}, {"gpus-per-node", required_argument, 0, 'g'},
        {"jobs", required_argument, 0, 'j'},  {"pending", required_argument, 0, 'p'},
        {"teams", required_argument, 0, 't'}, {"cycles", required_argument, 0, 'c'},
        {"seed", required_argument, 0, 's'},  {"help", no_argument, 0, 'h'},
        {"placement", required_argument, 0, 'P'},
        {0, 0, 0, 0},
    };
    int c;
    gt_error_t err = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int64_t *dst = c == 'n' ? &b.nodes : c == 'g' ? &b.gpus_per_node : c == 'j' ? &b.jobs
                     : c == 'p' ? &b.pending : c == 't' ? &b.teams : c == 'c' ? &b.cycles : NULL;
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == 'P') {
            b.placement = sched_placement_find(optarg);
            if (b.placement < 0) {
                fprintf(stderr, "gantry bench sched: unknown placement '%s'; write bestfit or "
                        "fgd\n", optarg);
                return 2;
            }
            continue;
        }
        int64_t seed;
        if (c == 's' && gt_parse_int64(optarg, 0, 1 << 30, &seed, &err) == 0) {
            b.seed = (unsigned)seed;
            continue;
        }
        if (!dst || gt_parse_int64(optarg, 1, 100000000, dst, &err) < 0) {
            if (dst || c == 's')
                fprintf(stderr, "gantry bench sched: %s\n", err.msg);
            usage(stderr);
            return 2;
        }
    }
    if (b.gpus_per_node > SCHED_MAX_GPUS_PER_NODE) {
        fprintf(stderr, "gantry bench sched: at most %d GPUs per node\n",
                SCHED_MAX_GPUS_PER_NODE);
        return 2;
    }
    int classes[3];
    unsigned seed = b.seed;

    /* Phase 1: placements */
    sched_t *s = build_cluster(&b, classes);
    int64_t batch = b.nodes * b.gpus_per_node / 10; /* about 60% of the cluster per batch */
    uint64_t id = 1, started = 0;
    double in_cycle = 0;
    sched_time_t now = 0;
    uint64_t *ids = xmalloc((size_t)batch * sizeof(*ids));
    while ((int64_t)id <= b.jobs) {
        int64_t n = 0;
        for (; n < batch && (int64_t)id <= b.jobs; n++, id++) {
            sched_job_spec_t sp = random_job(&b, id, now, &seed, classes);
            sched_job_submit(s, &sp, NULL);
            ids[n] = id;
        }
        size_t nd;
        double t0 = gt_monotonic_s();
        const sched_decision_t *d = sched_cycle(s, now, &nd);
        in_cycle += gt_monotonic_s() - t0;
        for (size_t i = 0; i < nd; i++)
            started += d[i].action == SCHED_START;
        now += 60;
        for (int64_t i = 0; i < n; i++) /* the batch leaves: running ends, pending cancelled */
            sched_job_remove(s, ids[i], now);
    }
    fprintf(stderr, "bench: phase 1 placed %llu jobs; filling the queue for phase 2\n",
            (unsigned long long)started);
    free(ids);
    sched_free(s);

    /* Phase 2: passes over a long queue on a full cluster */
    s = build_cluster(&b, classes);
    now = 0;
    id = 1;
    while ((int64_t)sched_running_count(s) == 0 ||
           (int64_t)sched_pending_count(s) < b.pending) {
        for (int k = 0; k < 10000; k++, id++) {
            sched_job_spec_t sp = random_job(&b, id, now, &seed, classes);
            if (sp.prio_class == classes[2])
                sp.prio_class = classes[1]; /* fill with preemptible work first */
            sched_job_submit(s, &sp, NULL);
        }
        size_t nd;
        sched_cycle(s, now, &nd);
        now += 1;
    }
    now += 3600; /* past the minimum runtime: running jobs become victims */
    double *ms = xcalloc((size_t)b.cycles, sizeof(double));
    sched_stats_t st0, st1;
    sched_get_stats(s, &st0);
    uint64_t preempts = 0, starts2 = 0;
    for (int64_t k = 0; k < b.cycles; k++) {
        /* between passes: 0.5% of running jobs end, a few new jobs (some high priority) */
        size_t nrun = sched_running_count(s);
        for (size_t e = 0; e < nrun / 200 + 1; e++) {
            uint64_t victim = 1 + (uint64_t)rand_r(&seed) % id;
            sched_job_info_t in;
            if (sched_job_info(s, victim, &in) == 0 && in.state != SCHED_PENDING)
                sched_job_finished(s, victim, now);
        }
        for (int e = 0; e < 50; e++, id++) {
            sched_job_spec_t sp = random_job(&b, id, now, &seed, classes);
            sched_job_submit(s, &sp, NULL);
        }
        size_t nd;
        double t0 = gt_monotonic_s();
        const sched_decision_t *d = sched_cycle(s, now, &nd);
        ms[k] = (gt_monotonic_s() - t0) * 1000;
        for (size_t i = 0; i < nd; i++) {
            if (d[i].action == SCHED_PREEMPT) {
                preempts++;
                sched_job_stopped(s, d[i].job_id, now);
            } else {
                starts2++;
            }
        }
        now += 10;
    }
    size_t pending = sched_pending_count(s), running = sched_running_count(s);
    sched_get_stats(s, &st1);
    double examined = (double)(st1.jobs_examined - st0.jobs_examined) / (double)b.cycles;
    qsort(ms, (size_t)b.cycles, sizeof(double), cmp_double);
    double p50 = ms[(size_t)ceil(0.50 * (double)b.cycles) - 1];
    double p99 = ms[(size_t)ceil(0.99 * (double)b.cycles) - 1];
    printf("{\"nodes\": %lld, \"gpus_per_node\": %lld, \"jobs\": %lld, \"teams\": %lld,\n"
           " \"placements\": %llu, \"placement_wall_s\": %.3f, \"placements_per_s\": %.0f,\n"
           " \"pending\": %zu, \"running\": %zu, \"cycles\": %lld, \"cycle_ms_p50\": %.2f, "
           "\"cycle_ms_p99\": %.2f, \"cycle_ms_max\": %.2f,\n \"cycle_starts\": %llu, "
           "\"cycle_preemptions\": %llu, \"jobs_evaluated_per_cycle\": %.0f,\n"
           " \"placement\": \"%s\"}\n",
           (long long)b.nodes, (long long)b.gpus_per_node, (long long)b.jobs, (long long)b.teams,
           (unsigned long long)started, in_cycle, in_cycle > 0 ? (double)started / in_cycle : 0,
           pending, running, (long long)b.cycles, p50, p99, ms[b.cycles - 1],
           (unsigned long long)starts2, (unsigned long long)preempts, examined,
           sched_placement_name(b.placement));
    free(ms);
    sched_free(s);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "sched"))
        return bench_sched(argc - 1, argv + 1);
    fprintf(stderr, "usage: gantry bench sched [options]   (gantry bench sched --help)\n");
    return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
}
