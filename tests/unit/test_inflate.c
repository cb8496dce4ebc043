/* test_inflate.c: the inflation experiment (src/sim/sim_inflate.c) on small clusters worked
 * out by hand, and the pod lists it reads (five-column lists, CPU-only tasks). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sim/sim_inflate.h"
#include "tap.h"

static gt_config_t *config(const char *nodes_yaml)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "nodes:\n%s"
             "priority_classes:\n  - {name: normal, value: 100}\n"
             "scheduler:\n  default_priority_class: normal\n",
             nodes_yaml);
    gt_config_t *cfg = NULL;
    gt_error_t err = {0};
    if (gt_config_parse(text, strlen(text), &cfg, &err) < 0)
        ok(0, "config parses: %s", err.msg);
    return cfg;
}

static gt_trace_t *trace(const char *text)
{
    gt_trace_t *t = NULL;
    gt_error_t err = {0};
    if (gt_trace_parse(text, strlen(text), NULL, &t, &err) < 0)
        ok(0, "trace parses: %s", err.msg);
    return t;
}

static int run(const gt_config_t *cfg, const gt_trace_t *tr, uint64_t seed, double until,
               gt_inflate_result_t *r)
{
    gt_inflate_opts_t o = {.seed = seed, .until = until};
    gt_error_t err = {0};
    int rc = gt_sim_inflate(cfg, tr, &o, r, &err);
    if (rc < 0)
        ok(0, "inflate runs: %s", err.msg);
    return rc;
}

#define FIVE "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"

/* One 2-GPU node, one kind of task (1 GPU): the first task is 50% of the load, the second
 * 100%. Points at each 5%: 0.05..0.50 after the first (allocated 0.5), 0.55..1.00 after the
 * second (allocated 1.0). */
static void test_points(void)
{
    gt_config_t *cfg = config("  - {name: n1, gpus: 2, gpu_type: T4}\n");
    gt_trace_t *tr = trace(FIVE "a,1000,1024,1,1000\n");
    gt_inflate_result_t r;
    if (cfg && tr && run(cfg, tr, 7, 1.0, &r) == 0) {
        is_int(r.npoints, 20, "a point at each 5%% up to 100%%");
        is_int((long long)(r.points[0].arrived_load * 100 + 0.5), 5, "the first at 5%%");
        is_int((long long)(r.points[19].arrived_load * 100 + 0.5), 100, "the last at 100%%");
        is_int((long long)(r.points[9].allocated_ratio * 100 + 0.5), 50,
               "50%% arrived: half the GPUs allocated");
        is_int(r.points[9].tasks, 1, "... after one task");
        is_int((long long)(r.points[10].allocated_ratio * 100 + 0.5), 100,
               "55%%: the second task arrived: all allocated");
        is_int((long long)r.points[19].unallocated_gpus, 0, "100%%: no GPU unallocated");
        is_int((long long)r.capacity_gpus, 2, "capacity 2 GPUs");
        is_int(r.failed, 0, "nothing failed");
        gt_inflate_result_free(&r);
    }
    /* past capacity: the third task fails, it never frees up */
    if (cfg && tr && run(cfg, tr, 7, 1.5, &r) == 0) {
        is_int(r.npoints, 30, "to 150%%: 30 points");
        is_int(r.failed, 1, "the task past capacity failed");
        is_int(r.points[29].failed, 1, "... counted at 150%%");
        ok(r.points[29].failed_gpus > 0.99 && r.points[29].failed_gpus < 1.01,
           "... 1 GPU asked by failed tasks");
        is_int((long long)(r.points[29].allocated_ratio * 100 + 0.5), 100,
               "tasks never end: still all allocated");
        gt_inflate_result_free(&r);
    }
    gt_trace_free(tr);
    gt_config_free(cfg);
}

/* FGD's measure: the mean allocation over the arrivals within +-0.5% of a step. One GPU,
 * tasks of 0.002 GPU: arrivals at 0.2%, 0.4%, ... all placed up to 100%; those at 100.2% and
 * 100.4% fail. Around 100%: 99.6%, 99.8%, 100%, 100% and 100% allocated after the arrivals at
 * 99.6% to 100.4% (two of them after the step was reached): the mean is 99.88%, where the
 * step's own point reads 100%. */
static void test_window(void)
{
    gt_config_t *cfg = config("  - {name: n1, gpus: 1, gpu_type: T4}\n");
    gt_trace_t *tr = trace(FIVE "a,1000,1024,1,2\n");
    gt_inflate_result_t r;
    if (cfg && tr && run(cfg, tr, 3, 1.0, &r) == 0) {
        is_int(r.npoints, 20, "20 points");
        const gt_inflate_point_t *p = &r.points[19];
        is_int((long long)p->window_arrivals, 5, "100%%: 5 arrivals within +-0.5%%");
        is_int(llround(p->allocated_ratio * 10000), 10000, "the step's point: 100%% allocated");
        is_int(llround(p->window_allocated_ratio * 10000), 9988, "the window's mean: 99.88%%");
        ok(p->window_unallocated_gpus > 0.00119 && p->window_unallocated_gpus < 0.00121,
           "... 0.0012 GPU unallocated");
        is_int((long long)r.points[0].window_arrivals, 5, "5%%: 4.6%% to 5.4%%");
        is_int(llround(r.points[0].window_allocated_ratio * 10000), 500, "... their mean 5%%");
        is_int((long long)r.tasks, 500, "tasks: those up to the last step (the window's later "
               "arrivals not counted)");
        is_int((long long)r.failed, 0, "failed: none by then");
        gt_inflate_result_free(&r);
    }
    gt_trace_free(tr);
    gt_config_free(cfg);
}

/* The trace's tasks come first, each once, in a seeded order (as FGD shuffles the pod list):
 * a 1-GPU and a 3-GPU task on 4 GPUs reach 100% with exactly two arrivals, whatever the seed;
 * draws with replacement would give 1+1 (50%) or 3+3 (150%) for some seeds. */
static void test_order(void)
{
    gt_config_t *cfg = config("  - {name: n1, gpus: 4, gpu_type: T4}\n");
    gt_trace_t *tr = trace(FIVE "a,1000,1024,1,1000\nb,1000,1024,3,1000\n");
    int two = 0, first_a = 0;
    for (uint64_t seed = 0; seed < 16 && cfg && tr; seed++) {
        gt_inflate_result_t r;
        if (run(cfg, tr, seed, 1.0, &r) < 0)
            break;
        two += r.npoints == 20 && r.points[19].tasks == 2;
        first_a += r.points[4].tasks == 1 && r.points[5].tasks == 2; /* a first: 25% */
        gt_inflate_result_free(&r);
    }
    is_int(two, 16, "every seed: 100%% after the two tasks, each once");
    ok(first_a > 0 && first_a < 16, "the order depends on the seed (%d of 16 start with a)",
       first_a);
    /* the same seed, the same run */
    gt_inflate_result_t r1, r2;
    if (cfg && tr && run(cfg, tr, 3, 1.0, &r1) == 0 && run(cfg, tr, 3, 1.0, &r2) == 0) {
        int same = r1.npoints == r2.npoints;
        for (size_t i = 0; same && i < r1.npoints; i++)
            same = r1.points[i].tasks == r2.points[i].tasks &&
                   r1.points[i].allocated_ratio == r2.points[i].allocated_ratio;
        ok(same, "the same seed gives the same points");
        gt_inflate_result_free(&r1);
        gt_inflate_result_free(&r2);
    }
    gt_trace_free(tr);
    gt_config_free(cfg);
}

/* CPU-only tasks arrive too: they ask no GPU (no arrived load) and take CPUs, so a GPU task
 * that needs them then fails. */
static void test_cpu_only(void)
{
    gt_config_t *cfg = config("  - {name: n1, gpus: 2, gpu_type: T4, cpus: 8}\n");
    gt_trace_t *tr = trace(FIVE "c,8000,1024,0,0\ng,4000,1024,1,1000\n");
    /* c first: it holds the 8 CPUs, every GPU task fails (0 allocated at the end); g first:
       c fails (4 CPUs left), the second g fits (all allocated) */
    int none = 0, all = 0, runs = 0;
    for (uint64_t seed = 0; seed < 16 && cfg && tr; seed++) {
        gt_inflate_result_t r;
        if (run(cfg, tr, seed, 1.0, &r) < 0)
            break;
        runs++;
        double last = r.npoints ? r.points[r.npoints - 1].allocated_ratio : -1;
        none += last == 0;
        all += last == 1;
        gt_inflate_result_free(&r);
    }
    is_int(none + all, 16, "every run ends with nothing or everything allocated");
    ok(none > 0 && all > 0, "a CPU-only task first blocks the GPU tasks (%d runs), after them "
       "it fails (%d runs)", none, all);
    gt_trace_free(tr);
    /* only CPU-only tasks: the arrived load never grows; refused, not an endless run */
    tr = trace(FIVE "c,8000,1024,0,0\n");
    gt_inflate_result_t r;
    gt_inflate_opts_t o = {.seed = 1};
    gt_error_t err = {0};
    is_int(cfg && tr ? gt_sim_inflate(cfg, tr, &o, &r, &err) : 0, -1,
           "a population without GPUs is refused");
    is_str(err.code, "invalid_argument", "... invalid_argument");
    gt_trace_free(tr);
    gt_config_free(cfg);
}

/* The pod lists: five columns (no times) go to the sampling pool only; a replay refuses them
 * and says to use --inflate; a half-timed header is refused. */
static void test_lists(void)
{
    gt_trace_t *t = trace(FIVE "a,1000,1024,1,1000\nb,2000,2048,0,0\nc,4000,4096,8,1000\n");
    if (t) {
        is_str(t->format, "alibaba-openb", "a five-column list is an openb pod list");
        is_int(t->njobs, 0, "no task to replay");
        is_int(t->npool, 3, "three tasks to sample, the CPU-only one included");
        if (t->npool == 3) {
            is_int(t->pool[1].gpus_milli, 0, "gpus 0");
            is_int(t->pool[2].gpus_milli, 8000, "8 GPUs");
            is_str(t->pool[0].team, "default", "no qos: team default");
        }
    }
    gt_trace_free(t);
    gt_error_t err = {0};
    t = NULL;
    const char *half = FIVE;
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s,qos\na,1,1,1,1000,LS\n", (int)strlen(half) - 1, half);
    ok(gt_trace_parse(buf, strlen(buf), NULL, &t, &err) < 0 && strstr(err.msg, "creation_time"),
       "qos without times refused: %s", err.msg);
    snprintf(buf, sizeof(buf), FIVE "a,1,1,2,500\n");
    ok(gt_trace_parse(buf, strlen(buf), NULL, &t, &err) < 0 && strstr(err.msg, "gpu_milli"),
       "a fraction on 2 GPUs refused: %s", err.msg);
}

int main(void)
{
    test_points();
    test_window();
    test_order();
    test_cpu_only();
    test_lists();
    return tap_done();
}
