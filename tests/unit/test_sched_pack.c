/* test_sched_pack.c: fragmentation-aware placement (placement "fgd", src/sched/policy_fgd.c).
 * Each rule has a scenario where best fit decides otherwise (so the test shows what the rule
 * changes) and where the rule's own term decides: scarce typed nodes are kept for the jobs
 * that need their type; CPU-rich and memory-rich nodes are not broken by small tasks; a
 * task that needs many CPUs per GPU goes where CPUs are plentiful (the stranding term); a
 * fraction goes on the GPU that keeps whole GPUs whole; the mix is what the driver declares,
 * or else what was submitted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "sched/sched_internal.h"
#include "tap.h"

static sched_t *S;
static int T, C;

static void setup(int placement)
{
    sched_free(S);
    sched_params_t p = sched_params_default();
    p.quotas = false;
    p.preemption = false;
    p.placement = placement;
    S = sched_new(&p);
    C = sched_class_add(S, "normal", 100, true, NULL);
    T = sched_team_add(S, "t", -1, 1, NULL);
}

static int node(const char *name, const char *type, int gpus, int64_t cpus, int64_t mem)
{
    sched_node_spec_t n = {.name = name, .gpu_type = type, .gpus = gpus, .cpus_milli = cpus,
                           .memory_mib = mem};
    return sched_node_add(S, &n, NULL);
}

static sched_job_spec_t shape(int64_t gpus, int64_t cpus, int64_t mem, const char *type)
{
    sched_job_spec_t sp = {.team = T, .prio_class = C, .gpus_milli = gpus, .nodes = 1,
                           .cpus_milli = cpus, .memory_mib = mem};
    if (type)
        sp.gpu_types = 1ULL << sched_gpu_type(S, type);
    return sp;
}

static void mix(int64_t gpus, int64_t cpus, int64_t mem, const char *type, double w)
{
    sched_job_spec_t sp = shape(gpus, cpus, mem, type);
    ok(sched_workload_add(S, &sp, w, NULL) == 0, "mix: %lld milli-GPUs, %lld CPUs, weight %g",
       (long long)gpus, (long long)cpus, w);
}

/* Submits a job and runs a cycle; returns the node it started on, or -1. */
static int place(uint64_t id, int64_t gpus, int64_t cpus, int64_t mem, const char *type,
                 uint64_t *mask)
{
    sched_job_spec_t sp = shape(gpus, cpus, mem, type);
    sp.id = id;
    sp.submit = (sched_time_t)id;
    if (sched_job_submit(S, &sp, NULL) < 0)
        return -2;
    size_t n;
    sched_cycle(S, (sched_time_t)id, &n);
    sched_job_info_t ji;
    if (sched_job_info(S, id, &ji) < 0 || ji.state != SCHED_RUNNING)
        return -1;
    if (mask)
        *mask = ji.slots[0].gpu_mask;
    char msg[256];
    if (!sched_check_invariants(S, msg, sizeof(msg)))
        ok(0, "invariants: %s", msg);
    return ji.slots[0].node;
}

/* Untyped jobs go to the plentiful type; the scarce V100 node stays free for the V100 jobs
 * of the mix. Best fit, blind to the mix, takes the first node that fits: the V100 one. */
static void test_typed(void)
{
    for (int pl = 0; pl < 2; pl++) {
        setup(pl ? SCHED_PLACE_FGD : SCHED_PLACE_BESTFIT);
        int v100 = node("v100", "V100", 4, 0, 0);
        int t4 = node("t4", "T4", 4, 0, 0);
        mix(1000, 0, 0, NULL, 6);
        mix(4000, 0, 0, "V100", 4);
        int got = place(1, 1000, 0, 0, NULL, NULL);
        if (pl) {
            is_int(got, t4, "fgd: an untyped 1-GPU job goes on the T4 node");
            is_int(place(2, 4000, 0, 0, "V100", NULL), v100,
                   "fgd: the 4-GPU V100 job that follows still fits");
        } else {
            is_int(got, v100, "bestfit: the untyped job takes the (first) V100 node");
            is_int(place(2, 4000, 0, 0, "V100", NULL), -1,
                   "bestfit: the 4-GPU V100 job then fits nowhere");
        }
    }
}

/* A CPU-only task goes where taking its CPUs breaks no 8-GPU shape: the CPU-poor node, where
 * 8-GPU jobs (64 CPUs) never fit anyway. */
static void test_cpu_rich(void)
{
    for (int pl = 0; pl < 2; pl++) {
        setup(pl ? SCHED_PLACE_FGD : SCHED_PLACE_BESTFIT);
        /* ties go to the node added last (the free-GPU index lists it first): the CPU-rich
           one, so only the rule keeps the task off it */
        int poor = node("poor", "A100", 8, 48000, 0);
        int rich = node("rich", "A100", 8, 96000, 0);
        mix(8000, 64000, 0, NULL, 1);
        mix(1000, 4000, 0, NULL, 8);
        mix(0, 40000, 0, NULL, 1);
        int got = place(1, 0, 40000, 0, NULL, NULL);
        if (pl) {
            is_int(got, poor, "fgd: the CPU-only task (40 CPUs) goes on the CPU-poor node");
            is_int(place(2, 8000, 64000, 0, NULL, NULL), rich,
                   "fgd: an 8-GPU job with 64 CPUs still fits on the CPU-rich one");
        } else {
            is_int(got, rich, "bestfit: the CPU-only task takes the CPU-rich node");
            is_int(place(2, 8000, 64000, 0, NULL, NULL), -1,
                   "bestfit: the 8-GPU job with 64 CPUs then fits nowhere");
        }
    }
}

/* CPUs per GPU (the stranding term): a task that needs more CPUs per GPU than the mix goes
 * where CPUs are plentiful, though one more task of the mix still finds its CPUs on either
 * node (FGD's measure alone sees no difference and the tie goes to the CPU-poor node), so the
 * CPU-poor node keeps the CPUs for all its GPUs: 7 more tasks of the mix run instead of 6. */
static void test_cpu_ratio(void)
{
    /* whole GPUs (the node score): mix 1 GPU with 12 CPUs; the job 1 GPU with 24 */
    setup(SCHED_PLACE_FGD);
    int rich = node("rich", "A100", 4, 400000, 0);
    node("poor", "A100", 4, 48000, 0); /* added last: a tie goes to it */
    mix(1000, 12000, 0, NULL, 1);
    is_int(place(1, 1000, 24000, 0, NULL, NULL), rich,
           "fgd: a 1-GPU task with 24 CPUs goes on the CPU-rich node (mix: 12 CPUs per GPU)");
    int ran = 0;
    for (uint64_t id = 2; id <= 8; id++)
        ran += place(id, 1000, 12000, 0, NULL, NULL) >= 0;
    is_int(ran, 7, "fgd: then 7 more 1-GPU tasks with 12 CPUs run (on the poor node, 48 "
           "CPUs serve its 4 GPUs)");
    /* a fraction (its own search): mix half a GPU with 6 CPUs; the job half a GPU with 12 */
    setup(SCHED_PLACE_FGD);
    node("poor", "T4", 2, 24000, 0); /* first: a tie between nodes goes to it */
    rich = node("rich", "T4", 2, 200000, 0);
    mix(500, 6000, 0, NULL, 1);
    is_int(place(1, 500, 12000, 0, NULL, NULL), rich,
           "fgd: half a GPU with 12 CPUs goes on the CPU-rich node (mix: 12 CPUs per GPU)");
    ran = 0;
    for (uint64_t id = 2; id <= 8; id++)
        ran += place(id, 500, 6000, 0, NULL, NULL) >= 0;
    is_int(ran, 7, "fgd: then 7 more halves with 6 CPUs run");
    /* and the other way: a task without CPUs goes on the CPU-starved node (4 GPUs, 12 CPUs:
       its CPUs serve one GPU of the mix), where it uses a GPU the mix could not */
    setup(SCHED_PLACE_FGD);
    int starved = node("starved", "A100", 4, 12000, 0);
    node("even", "A100", 4, 48000, 0); /* added last: a tie goes to it */
    mix(1000, 12000, 0, NULL, 1);
    mix(0, 400000, 0, NULL, 1); /* a CPU-only shape: not part of the CPUs per GPU */
    is_int(place(1, 1000, 0, 0, NULL, NULL), starved,
           "fgd: a 1-GPU task without CPUs goes on the CPU-starved node");
    ran = 0;
    for (uint64_t id = 2; id <= 6; id++)
        ran += place(id, 1000, 12000, 0, NULL, NULL) >= 0;
    is_int(ran, 5, "fgd: then 5 more 1-GPU tasks with 12 CPUs run (4 on the even node)");
}

/* The same for memory, which FGD's measure leaves out. */
static void test_memory(void)
{
    for (int pl = 0; pl < 2; pl++) {
        setup(pl ? SCHED_PLACE_FGD : SCHED_PLACE_BESTFIT);
        int small = node("small", "A100", 8, 0, 520 * 1024); /* a tie goes to big, as above */
        int big = node("big", "A100", 8, 0, 1024 * 1024);
        mix(8000, 0, 600 * 1024, NULL, 1);
        mix(1000, 0, 16 * 1024, NULL, 8);
        int got = place(1, 1000, 0, 500 * 1024, NULL, NULL);
        if (pl) {
            is_int(got, small, "fgd: a 1-GPU task with 500 GiB goes on the small-memory node");
            is_int(place(2, 7000, 0, 600 * 1024, NULL, NULL), big,
                   "fgd: a 7-GPU job with 600 GiB still fits on the big one");
        } else {
            is_int(got, big, "bestfit: the task takes the big-memory node");
            is_int(place(2, 7000, 0, 600 * 1024, NULL, NULL), -1,
                   "bestfit: the 7-GPU job with 600 GiB then fits nowhere");
        }
    }
}

/* A fraction goes on the partly used GPU it fills, not on a whole GPU, and on the node where
 * the leftover stays usable. */
static void test_fraction(void)
{
    setup(SCHED_PLACE_FGD);
    int a = node("a", "T4", 2, 0, 0);
    mix(500, 0, 0, NULL, 5);
    mix(1000, 0, 0, NULL, 5);
    uint64_t m1 = 0, m2 = 0;
    is_int(place(1, 500, 0, 0, NULL, &m1), a, "first half GPU placed");
    is_int(place(2, 500, 0, 0, NULL, &m2), a, "second half GPU placed");
    ok(m1 == m2, "fgd: the second half GPU shares the first one's GPU (masks %llx, %llx)",
       (unsigned long long)m1, (unsigned long long)m2);
    is_int(place(3, 1000, 0, 0, NULL, NULL), a, "fgd: the other GPU is still whole");
}

/* The measure itself, on node states worked out by hand (milli-GPU units). */
static void test_measure(void)
{
    setup(SCHED_PLACE_FGD);
    sched_gpu_type(S, "A");
    sched_gpu_type(S, "B");
    fgd_shape_t sh[4] = {
        {.milli = 1000, .count = 1, .weight = 0.5},             /* one whole GPU, any type */
        {.milli = 500, .count = 1, .cpus = 8000, .weight = 0.25}, /* half a GPU, 8 CPUs */
        {.milli = 1000, .count = 2, .types = 1ULL << 1, .weight = 0.125}, /* two B GPUs */
        {.milli = 0, .count = 0, .mem = 1024, .weight = 0.125},  /* CPU-only */
    };
    int fr[2] = {1000, 300};
    /* type A (index 0), 1.3 GPUs free, 16 CPUs free, memory untracked:
       whole: fits, the 0.3 is its fragment: 0.5 * 300
       half: fits, 0.3 too small: 0.25 * 300
       two B: not type B: all 1300: 0.125 * 1300
       CPU-only: all 1300: 0.125 * 1300 */
    double want = 0.5 * 300 + 0.25 * 300 + 0.125 * 1300 + 0.125 * 1300;
    double got = fgd_state_frag(S, sh, 4, 0, fr, 2, 16000, -1);
    ok(got > want - 1e-6 && got < want + 1e-6, "fragment of a type-A node: %.2f (want %.2f)",
       got, want);
    /* 4 CPUs free: the half-GPU shape lacks CPUs: all 1300 count for it */
    want = 0.5 * 300 + 0.25 * 1300 + 0.125 * 1300 + 0.125 * 1300;
    got = fgd_state_frag(S, sh, 4, 0, fr, 2, 4000, -1);
    ok(got > want - 1e-6 && got < want + 1e-6, "a shape without its CPUs: %.2f (want %.2f)",
       got, want);
    /* type B, the same GPUs: two B GPUs do not fit (one whole): all 1300 */
    want = 0.5 * 300 + 0.25 * 300 + 0.125 * 1300 + 0.125 * 1300;
    got = fgd_state_frag(S, sh, 4, 1, fr, 2, 16000, -1);
    ok(got > want - 1e-6 && got < want + 1e-6, "type B, too few whole GPUs: %.2f (want %.2f)",
       got, want);
    int fr2[2] = {1000, 1000};
    want = 0 + 0 + 0 + 0.125 * 2000;
    got = fgd_state_frag(S, sh, 4, 1, fr2, 2, 16000, -1);
    ok(got > want - 1e-6 && got < want + 1e-6, "type B, both GPUs whole: %.2f (want %.2f)",
       got, want);
    int none[2] = {0, 0};
    is_int((long long)fgd_state_frag(S, sh, 4, 0, none, 2, 16000, -1), 0,
           "a node without free GPUs has no fragment");
}

/* Without a declared mix, the jobs submitted are the mix; a declared one replaces it. */
static void test_mix_source(void)
{
    setup(SCHED_PLACE_FGD);
    node("v100", "V100", 4, 0, 0);
    int t4 = node("t4", "T4", 4, 0, 0);
    /* no declared mix: a V100 job submitted (it runs) makes V100 demand part of the mix */
    is_int(place(1, 4000, 0, 0, "V100", NULL), 0, "a V100 job runs on the V100 node");
    sched_job_finished(S, 1, 2);
    is_int(place(3, 1000, 0, 0, NULL, NULL), t4,
           "observed mix: the untyped job keeps off the V100 node");
    is_int(sched_workload_add(S, &(sched_job_spec_t){.gpus_milli = 1000}, 0, NULL), -1,
           "weight 0 refused");
    is_int(errno, EINVAL, "EINVAL");
    is_int(sched_placement_find("fgd"), SCHED_PLACE_FGD, "placement fgd by name");
    is_int(sched_placement_find("bestfit"), SCHED_PLACE_BESTFIT, "placement bestfit by name");
    is_int(sched_placement_find("worstfit"), -1, "unknown placement");
    is_str(sched_placement_name(SCHED_PLACE_FGD), "fgd", "the name of fgd");
}

/* GPUs of each slot of a running job, largest first ("8+4"), or "-" when it does not run. */
static const char *shape_of_job(uint64_t id)
{
    static char buf[64];
    sched_job_info_t ji;
    if (sched_job_info(S, id, &ji) < 0 || ji.state != SCHED_RUNNING)
        return "-";
    int c[64], n = ji.nslots;
    for (int k = 0; k < n; k++)
        c[k] = __builtin_popcountll(ji.slots[k].gpu_mask);
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && c[b] > c[b - 1]; b--) {
            int t = c[b];
            c[b] = c[b - 1];
            c[b - 1] = t;
        }
    size_t len = 0;
    buf[0] = 0;
    for (int k = 0; k < n; k++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d", k ? "+" : "", c[k]);
    return buf;
}

static int gang(uint64_t id, int64_t gpus, int nodes)
{
    sched_job_spec_t sp = shape(gpus, 0, 0, NULL);
    sp.id = id;
    sp.nodes = nodes;
    sp.submit = (sched_time_t)id;
    if (sched_job_submit(S, &sp, NULL) < 0)
        return -1;
    size_t n;
    sched_cycle(S, (sched_time_t)id, &n);
    char msg[256];
    if (!sched_check_invariants(S, msg, sizeof(msg)))
        ok(0, "invariants: %s", msg);
    return 0;
}

/* A gang whose shape is the scheduler's (nodes 0) fills whole nodes and puts the rest on one:
 * 12 GPUs on two free 8-GPU nodes take 8+4 and leave a whole 4 for a 4-GPU job (6+6 would
 * leave 2+2, where it cannot run). A gang that names its nodes keeps the even split. */
static void test_uneven_gang(void)
{
    for (int pl = 0; pl < 2; pl++) {
        setup(pl ? SCHED_PLACE_FGD : SCHED_PLACE_BESTFIT);
        node("a", "H100", 8, 0, 0);
        node("b", "H100", 8, 0, 0);
        const char *name = pl ? "fgd" : "bestfit";
        gang(1, 12000, 0);
        is_str(shape_of_job(1), "8+4", "%s: 12 GPUs on 8-GPU nodes (nodes 0): 8+4", name);
        gang(2, 4000, 0);
        is_str(shape_of_job(2), "4", "%s: a 4-GPU job then runs on the 4 left", name);
        /* requeued: it comes back as 8+4 again, 12 GPUs in all */
        sched_job_finished(S, 2, 10);
        sched_job_stopped(S, 1, 10);
        size_t n;
        sched_cycle(S, 11, &n);
        is_str(shape_of_job(1), "8+4", "%s: requeued, it restarts as 8+4", name);
        sched_job_finished(S, 1, 12);
        gang(3, 12000, 2);
        is_str(shape_of_job(3), "6+6", "%s: 12 GPUs asked on 2 nodes: 6+6, as asked", name);
    }
    /* three nodes: 20 GPUs on 8-GPU nodes resolve to 4 nodes of 5 evenly; unevenly 8+8+3+1
       over the same four nodes, leaving 5 and 7 whole together instead of 3+3+3+3 */
    setup(SCHED_PLACE_BESTFIT);
    for (int i = 0; i < 4; i++) {
        char nm[8];
        snprintf(nm, sizeof(nm), "n%d", i);
        node(nm, "H100", 8, 0, 0);
    }
    gang(1, 20000, 0);
    is_str(shape_of_job(1), "8+8+3+1", "20 GPUs over the four nodes chosen: 8+8+3+1");
    gang(2, 7000, 0);
    is_str(shape_of_job(2), "7", "a 7-GPU job then fits on the 7 left together");
}

int main(void)
{
    test_typed();
    test_cpu_rich();
    test_cpu_ratio();
    test_memory();
    test_fraction();
    test_measure();
    test_mix_source();
    test_uneven_gang();
    sched_free(S);
    return tap_done();
}
