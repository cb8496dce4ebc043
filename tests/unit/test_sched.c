/* Scheduler core: small scenarios whose right answer is worked out by hand, and a randomized
 * run that checks the invariants after every event. */
#include <errno.h>
#include <stdlib.h>

#include "sched/sched.h"
#include "tap.h"
#include "sched_fixture.h"

static int T_A, T_B, C_LOW, C_NORMAL, C_HIGH;

/* These scenarios were worked out in submit order (FIFO inside a team's share); the order
 * policies have their own tests (test_sched_policy.c). */
static sched_params_t params(void)
{
    sched_params_t p = sched_params_default();
    p.half_life_s = 3600;
    p.order = SCHED_ORDER_FIFO;
    return p;
}

static void setup(const sched_params_t *p)
{
    sched_free(S);
    S = sched_new(p);
    C_LOW = sched_class_add(S, "low", 10, true, NULL);
    C_NORMAL = sched_class_add(S, "normal", 100, true, NULL);
    C_HIGH = sched_class_add(S, "high", 1000, false, NULL);
    T_A = sched_team_add(S, "a", -1, 1, NULL);
    T_B = sched_team_add(S, "b", -1, 1, NULL);
}

static int node(const char *name, const char *type, int gpus, const char *leaf, int nvgroups)
{
    sched_node_spec_t n = {.name = name, .gpu_type = type, .gpus = gpus, .block = "b1",
                           .spine = "s1", .leaf = leaf, .nvlink_groups = nvgroups};
    return sched_node_add(S, &n, NULL);
}

static sched_job_spec_t spec(uint64_t id, int team, int cls, int64_t gpus_milli)
{
    return (sched_job_spec_t){.id = id, .team = team, .prio_class = cls,
                              .gpus_milli = gpus_milli, .estimate = 3600};
}

static int submit(uint64_t id, int team, int cls, int64_t gpus_milli, sched_time_t at)
{
    sched_job_spec_t sp = spec(id, team, cls, gpus_milli);
    sp.submit = at;
    return sched_job_submit(S, &sp, NULL);
}

/* A checkpointable job (a victim that resumes), submitted at 0. */
static int submit_checkpointable(uint64_t id, int team, int cls, int64_t gpus_milli)
{
    sched_job_spec_t sp = spec(id, team, cls, gpus_milli);
    sp.checkpointable = true;
    return sched_job_submit(S, &sp, NULL);
}

/* A job with an estimate (for the reservations) and, for a gang, its node count (0: one). */
static sched_job_spec_t est_spec(uint64_t id, int team, int cls, int64_t gpus_milli, int nodes,
                                 sched_time_t estimate, sched_time_t at)
{
    sched_job_spec_t sp = spec(id, team, cls, gpus_milli);
    sp.nodes = nodes;
    sp.estimate = estimate;
    sp.submit = at;
    return sp;
}

static void submit_est(uint64_t id, int team, int cls, int64_t gpus_milli, int nodes,
                       sched_time_t estimate, sched_time_t at)
{
    sched_job_spec_t sp = est_spec(id, team, cls, gpus_milli, nodes, estimate, at);
    sched_job_submit(S, &sp, NULL);
}

/* One pass at now (cycle); the jobs it evaluated. */
static int cycle_examined(sched_time_t now)
{
    sched_stats_t before, after;
    sched_get_stats(S, &before);
    cycle(now);
    sched_get_stats(S, &after);
    return (int)(after.jobs_examined - before.jobs_examined);
}

static uint64_t mask_of(uint64_t id)
{
    sched_job_info_t in = info(id);
    return in.nslots ? in.slots[0].gpu_mask : 0;
}

static void test_best_fit(void)
{
    setup(NULL);
    int a = node("a", "V100", 8, "l1", 1);
    int b = node("b", "V100", 8, "l1", 1);
    submit(1, T_A, C_NORMAL, 4000, 0);
    cycle(0);
    int first = node_of(1);
    ok(started(1) && (first == a || first == b), "a 4-GPU job starts on an empty cluster");
    submit(2, T_A, C_NORMAL, 2000, 1);
    cycle(1);
    is_int(node_of(2), first, "a 2-GPU job packs onto the partly used node");
    submit(3, T_A, C_NORMAL, 8000, 2);
    cycle(2);
    is_int(node_of(3), first == a ? b : a, "the 8-GPU job finds a whole node still free");
}

static void test_nvlink(void)
{
    setup(NULL);
    node("n", "H100", 8, "l1", 2); /* GPUs 0-3 and 4-7 share NVLink */
    submit(1, T_A, C_NORMAL, 2000, 0);
    submit(2, T_A, C_NORMAL, 4000, 1);
    submit(3, T_A, C_NORMAL, 2000, 2);
    cycle(0);
    is_int(mask_of(1), 0x03, "2 GPUs from one NVLink domain");
    is_int(mask_of(2), 0xf0, "4 GPUs fill the other domain whole rather than splitting");
    is_int(mask_of(3), 0x0c, "the next 2 GPUs complete the first domain");
}

static void test_fractions(void)
{
    setup(NULL);
    node("n", "T4", 2, "l1", 1);
    submit(1, T_A, C_NORMAL, 500, 0);
    submit(2, T_A, C_NORMAL, 250, 1);
    submit(3, T_A, C_NORMAL, 500, 2);
    submit(4, T_A, C_NORMAL, 250, 3);
    cycle(0);
    is_int(mask_of(1), 0x1, "0.5 GPU takes GPU 0");
    is_int(mask_of(2), 0x1, "0.25 GPU shares GPU 0 (tightest fit)");
    is_int(mask_of(3), 0x2, "0.5 GPU does not fit GPU 0's 0.25 left: GPU 1");
    is_int(mask_of(4), 0x1, "0.25 GPU fills GPU 0 exactly rather than breaking GPU 1 further");
    submit(5, T_A, C_NORMAL, 1000, 4);
    cycle(4);
    ok(!started(5), "no whole GPU is left for a 1-GPU job");
    is_str(sched_reason_name(info(5).reason), "capacity", "its reason is capacity");
}

static void test_gang_topology(void)
{
    setup(NULL);
    node("x1", "A100", 8, "l1", 1);
    node("x2", "A100", 8, "l1", 1);
    int y[4];
    y[0] = node("y1", "A100", 8, "l2", 1);
    y[1] = node("y2", "A100", 8, "l2", 1);
    y[2] = node("y3", "A100", 8, "l2", 1);
    y[3] = node("y4", "A100", 8, "l2", 1);
    submit(1, T_A, C_NORMAL, 32000, 0); /* 4 nodes x 8 */
    cycle(0);
    sched_job_info_t in = info(1);
    ok(started(1) && in.nslots == 4, "a 32-GPU job becomes a gang of 4 nodes");
    int in_l2 = 0;
    for (int k = 0; k < in.nslots; k++)
        for (int i = 0; i < 4; i++)
            in_l2 += in.slots[k].node == y[i];
    is_int(in_l2, 4, "the gang sits in one leaf (the one with 4 nodes)");
    submit(2, T_A, C_NORMAL, 24000, 1); /* 3 nodes: only 2 free */
    cycle(1);
    ok(!started(2), "a gang never starts partly");
    is_str(sched_reason_name(info(2).reason), "capacity", "3x8 GPUs with 16 free: capacity");
    sched_job_finished(S, 1, 2);
    submit(3, T_A, C_NORMAL, 16000, 2);
    sched_job_remove(S, 2, 2);
    cycle(2);
    in = info(3);
    int a = in.slots[0].node, b = in.slots[1].node;
    ok(started(3) && a <= 1 && b <= 1, "a 2-node gang takes the tightest leaf (l1, 2 nodes)");
}

static void test_priority_and_fairshare(void)
{
    setup(NULL);
    node("n", "V100", 4, "l1", 1);
    submit(1, T_A, C_LOW, 4000, 0);
    submit(2, T_B, C_HIGH, 4000, 10);
    cycle(10);
    ok(started(2) && !started(1), "a higher tier goes first whatever its age");

    setup(NULL);
    node("n", "V100", 4, "l1", 1);
    for (int i = 0; i < 4; i++)
        submit(10 + i, T_A, C_NORMAL, 1000, i);
    for (int i = 0; i < 4; i++)
        submit(20 + i, T_B, C_NORMAL, 1000, 10 + i);
    cycle(20);
    int a = 0, b = 0;
    for (size_t i = 0; i < ndec; i++)
        dec[i].job_id < 20 ? a++ : b++;
    ok(a == 2 && b == 2, "two teams asking together share the idle GPUs 2:2 (got %d:%d)", a, b);

    sched_params_t p = params();
    p.fairshare = false;
    setup(&p);
    node("n", "V100", 4, "l1", 1);
    for (int i = 0; i < 4; i++)
        submit(10 + i, T_A, C_NORMAL, 1000, i);
    for (int i = 0; i < 4; i++)
        submit(20 + i, T_B, C_NORMAL, 1000, 10 + i);
    cycle(20);
    ok(started(10) && started(13) && !started(20), "without fair share: FIFO, team a first");

    /* past usage: a used 4 GPUs for an hour, b nothing; now both ask for the one GPU */
    setup(NULL);
    node("n", "V100", 4, "l1", 1);
    submit(1, T_A, C_NORMAL, 4000, 0);
    cycle(0);
    sched_job_finished(S, 1, 3600);
    submit(2, T_A, C_NORMAL, 4000, 3600);
    submit(3, T_B, C_NORMAL, 4000, 3700);
    cycle(3700);
    ok(started(3) && !started(2), "the team with less decayed usage goes first, though younger");
}

/* A team's fair-share usage does not depend on when passes ran (sched_internal.h, "Fair-share
 * usage"): the same start and end, with a pass every 7 s between them or with passes only at
 * them, leave bit for bit the same usage, so passes that decide nothing (the server's timer,
 * the simulator's wakeups) change no later order. */
static void test_usage_independent_of_passes(void)
{
    double usage[2];
    for (int busy = 0; busy < 2; busy++) {
        setup(NULL);
        node("n", "V100", 8, "l1", 1);
        submit(1, T_A, C_NORMAL, 3000, 0);
        cycle(0);
        for (sched_time_t t = 7; busy && t < 50000; t += 7)
            cycle(t);
        sched_job_finished(S, 1, 50000);
        cycle(50000);
        if (busy)
            cycle(60001);
        cycle(90001);
        sched_team_info_t ti;
        sched_team_info(S, T_A, &ti);
        usage[busy] = ti.usage_gpu_s;
    }
    ok(usage[0] > 0 && usage[0] == usage[1],
       "the usage is the same with 7,144 passes or 3 (%.17g, %.17g GPU-s)", usage[0], usage[1]);
}

static void test_quota_limit(void)
{
    setup(NULL);
    node("n", "V100", 8, "l1", 1);
    sched_team_set_quota(S, T_A, -1, 4000, 6000, NULL);
    for (int i = 0; i < 8; i++)
        submit(i + 1, T_A, C_NORMAL, 1000, i);
    cycle(10);
    is_int(ndec, 6, "a team with limit 6 gets 6 of 8 GPUs");
    is_str(sched_reason_name(info(7).reason), "quota", "the 7th waits for quota");
    errno = 0;
    ok(sched_team_set_quota(S, T_A, -1, 8000, 6000, NULL) == -1 && errno == EINVAL,
       "a quota above the limit is refused");
}

static void test_reclaim(void)
{
    setup(NULL);
    node("n1", "V100", 4, "l1", 1);
    node("n2", "V100", 4, "l1", 1);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    sched_team_set_quota(S, T_B, -1, 4000, -1, NULL);
    for (int i = 0; i < 8; i++)
        submit_checkpointable(100 + i, T_B, C_NORMAL, 1000);
    cycle(0);
    is_int(ndec, 8, "team b borrows the whole idle cluster");
    sched_job_checkpointed(S, 105, 900);
    sched_job_checkpointed(S, 106, 950);
    submit(1, T_A, C_NORMAL, 2000, 100);
    cycle(100);
    ok(ndec == 0 && info(1).reason == SCHED_REASON_CAPACITY,
       "before the minimum runtime nothing is reclaimed");
    cycle(1000);
    ok(ndec == 2 && preempted(105) && preempted(106),
       "after it, a's 2-GPU job reclaims the two borrowed jobs that lose the least work");
    is_str(sched_reason_name(info(1).reason), "preempting", "a's job says it waits for that");
    ok(dec[0].for_id == 1, "the preemption names the job it makes room for");
    sched_job_stopped(S, 105, 1100);
    sched_job_stopped(S, 106, 1100);
    cycle(1100);
    ok(started(1) && node_of(1) == node_of(107), "a's job starts where the room was made");
    is_str(sched_reason_name(info(105).reason), "backoff",
           "the reclaimed job may not borrow again at once");
    is_int(info(105).estimated_start, 1600, "until its backoff ends (reclaimed at 1000 + 600)");
    cycle(2000);
    ok(ndec == 0, "b's requeued jobs do not take the GPUs back (no ping-pong)");
    is_str(sched_reason_name(info(105).reason), "capacity", "b's job waits for capacity");
}

static void test_priority_preemption(void)
{
    setup(NULL);
    node("n1", "V100", 8, "l1", 1);
    node("n2", "V100", 8, "l1", 1);
    node("t4", "T4", 8, "l1", 1);
    /* a low-priority gang on both V100 nodes, a low job on the T4 node */
    sched_job_spec_t g = spec(1, T_B, C_LOW, 16000);
    sched_job_submit(S, &g, NULL);
    sched_job_spec_t t = spec(2, T_B, C_LOW, 8000);
    t.gpu_types = 1ULL << sched_gpu_type_find(S, "T4");
    sched_job_submit(S, &t, NULL);
    cycle(0);
    ok(started(1) && started(2) && info(1).nslots == 2, "the gang and the T4 job run");
    sched_job_spec_t h = spec(3, T_A, C_HIGH, 8000);
    h.gpu_types = 1ULL << sched_gpu_type_find(S, "V100");
    h.submit = 700;
    sched_job_submit(S, &h, NULL);
    cycle(700);
    ok(preempted(1) && !preempted(2), "the whole gang is the victim; the T4 job is no use");
    is_int(ndec, 1, "one decision: the gang is one victim");
    sched_job_stopped(S, 1, 720);
    cycle(720);
    ok(started(3), "the high-priority job starts once the gang stopped");
    ok(!started(1), "the gang does not start partly on the node left");
    sched_job_spec_t x = spec(4, T_A, C_HIGH, 8000);
    x.gpu_types = h.gpu_types;
    sched_job_submit(S, &x, NULL);
    sched_job_spec_t y = spec(5, T_A, C_HIGH, 8000);
    y.gpu_types = h.gpu_types;
    sched_job_submit(S, &y, NULL);
    cycle(800);
    ok(started(4) && !started(5) && info(5).reason == SCHED_REASON_CAPACITY,
       "high jobs are not preempted (class not preemptible)");
}

static void test_backfill(void)
{
    setup(NULL);
    node("n", "V100", 8, "l1", 1);
    sched_job_spec_t r = spec(1, T_A, C_NORMAL, 4000);
    r.estimate = 100;
    sched_job_submit(S, &r, NULL);
    cycle(0);
    sched_job_spec_t big = spec(2, T_A, C_NORMAL, 8000);
    big.submit = 1;
    sched_job_spec_t longj = spec(3, T_A, C_NORMAL, 4000);
    longj.submit = 2;
    longj.estimate = 200;
    sched_job_spec_t shortj = spec(4, T_A, C_NORMAL, 4000);
    shortj.submit = 3;
    shortj.estimate = 50;
    sched_job_submit(S, &big, NULL);
    sched_job_submit(S, &longj, NULL);
    sched_job_submit(S, &shortj, NULL);
    sched_params_t p = params();
    p.preemption = false;
    sched_set_params(S, &p);
    cycle(10);
    ok(started(4) && !started(3) && !started(2), "only the job that ends before the shadow time");
    is_int(info(2).estimated_start, 100, "the blocked 8-GPU job is reserved for t=100");
    is_str(sched_reason_name(info(3).reason), "reservation", "the long job would delay it");

    /* the short job ends; the long one still may not delay the reservation */
    sched_job_finished(S, 4, 15);
    cycle(15);
    ok(ndec == 0 && info(3).reason == SCHED_REASON_RESERVATION, "the long job still waits");
    cycle(16);
    /* the reserved job is cancelled: the long job may start at once */
    sched_job_remove(S, 2, 20);
    cycle(20);
    ok(started(3), "once the reserved job is cancelled, the job it held back starts");

    p.backfill = false;
    setup(&p);
    node("n", "V100", 8, "l1", 1);
    sched_job_submit(S, &r, NULL);
    cycle(0);
    sched_job_submit(S, &big, NULL);
    sched_job_submit(S, &longj, NULL);
    sched_job_submit(S, &shortj, NULL);
    cycle(10);
    ok(ndec == 0, "without backfill nothing passes the blocked job");
    is_str(sched_reason_name(info(4).reason), "priority", "the short job waits behind it");
    is_int(info(4).blocked_by, 2, "and names the job it waits for");
}

static void test_reasons_and_validation(void)
{
    setup(NULL);
    node("n1", "V100", 8, "l1", 1);
    node("n2", "V100", 8, "l2", 1);
    submit(1, T_A, C_NORMAL, 64000, 0);
    submit(2, T_A, C_NORMAL, 5000, 0);
    submit(3, T_A, C_NORMAL, 5000, 0);
    cycle(0);
    is_str(sched_reason_name(info(1).reason), "no_fit", "64 GPUs on a 16-GPU cluster: no_fit");
    submit(4, T_A, C_NORMAL, 16000, 1);
    submit(5, T_A, C_NORMAL, 4000, 1);
    cycle(1);
    ok(info(4).nodes == 2, "16 GPUs resolve to a gang of 2 nodes");
    is_str(sched_reason_name(info(4).reason), "capacity", "16 GPUs with 6 free: capacity");
    is_str(sched_reason_name(info(5).reason), "topology",
           "4 GPUs with 3+3 free on two nodes: topology");

    errno = 0;
    sched_job_spec_t bad = spec(9, T_A, C_NORMAL, 1500);
    ok(sched_job_submit(S, &bad, NULL) == -1 && errno == EINVAL, "1.5 GPUs refused");
    bad = spec(9, T_A, C_NORMAL, 3000);
    bad.nodes = 2;
    gt_error_t err = {0};
    ok(sched_job_submit(S, &bad, &err) == -1 && errno == EINVAL, "3 GPUs over 2 nodes refused");
    ok(strstr(err.msg, "same whole number") != NULL, "with a message: %s", err.msg);
    bad = spec(9, 99, C_NORMAL, 1000);
    ok(sched_job_submit(S, &bad, NULL) == -1 && errno == EINVAL, "unknown team refused");
    bad = spec(2, T_A, C_NORMAL, 1000);
    ok(sched_job_submit(S, &bad, NULL) == -1 && errno == EEXIST, "duplicate id refused");
    ok(sched_job_finished(S, 12345, 5) == -1 && errno == ENOENT, "unknown id: ENOENT");
}

static void test_hierarchy_and_typed_quota(void)
{
    setup(NULL);
    node("v1", "V100", 8, "l1", 1);
    node("t1", "T4", 8, "l1", 1);
    int org = sched_team_add(S, "org", -1, 1, NULL);
    int c1 = sched_team_add(S, "org-ml", org, 1, NULL);
    int c2 = sched_team_add(S, "org-cv", org, 1, NULL);
    sched_team_set_quota(S, org, -1, 0, 6000, NULL);
    for (int i = 0; i < 4; i++) {
        submit(10 + i, c1, C_NORMAL, 1000, i);
        submit(20 + i, c2, C_NORMAL, 1000, i);
    }
    cycle(10);
    is_int(ndec, 6, "children share their parent's limit: 6 of 8 GPUs start");
    sched_team_info_t ti;
    sched_team_info(S, org, &ti);
    is_int(ti.allocated_milli, 6000, "the parent holds what its children hold");

    /* a team limited to 0 T4 GPUs but free on V100: its jobs only go to V100 */
    setup(NULL);
    int v = node("v1", "V100", 8, "l1", 1);
    node("t1", "T4", 8, "l1", 1);
    sched_team_set_quota(S, T_A, sched_gpu_type_find(S, "T4"), 0, 0, NULL);
    for (int i = 0; i < 3; i++)
        submit(30 + i, T_A, C_NORMAL, 4000, i);
    cycle(10);
    ok(started(30) && started(31) && node_of(30) == v && node_of(31) == v,
       "a per-type limit of 0 keeps the team's jobs off that type");
    ok(!started(32), "and the third waits though the T4 node is free");
    is_str(sched_reason_name(info(32).reason), "capacity", "for V100 capacity");
}

/* Random events on a mixed cluster; the invariants must hold after each. */
/* A node's capacity follows its agent's registration: an 8-GPU node that comes back with 4
 * GPUs no longer takes an 8-GPU job; GPUs held by a running job cannot vanish. */
static void test_node_resize(void)
{
    setup(NULL);
    sched_node_spec_t ns = {.name = "r", .gpu_type = "H100", .gpus = 8, .cpus_milli = 64000,
                            .memory_mib = 512000};
    int r = sched_node_add(S, &ns, NULL);
    gt_error_t err = {0};
    sched_node_info_t ni;
    ok(sched_node_resize(S, r, 4, 32000, 256000, &err) == 0, "an idle 8-GPU node shrinks to 4");
    sched_node_info(S, r, &ni);
    is_int(ni.gpus, 4, "it has 4 GPUs");
    is_int(ni.gpus_free, 4, "all free");
    is_int(ni.cpus_milli_free, 32000, "its CPUs follow");
    is_int(ni.memory_mib_free, 256000, "its memory follows");
    submit(1, T_A, C_NORMAL, 8000, 0);
    cycle(0);
    ok(!started(1), "an 8-GPU job does not start on it");
    is_str(sched_reason_name(info(1).reason), "no_fit", "no node could ever hold it");
    ok(sched_node_resize(S, r, 8, 64000, 512000, &err) == 0, "it grows back to 8");
    cycle(1);
    ok(started(1), "the 8-GPU job starts");
    errno = 0;
    ok(sched_node_resize(S, r, 4, 64000, 512000, &err) == -1 && errno == EBUSY,
       "shrinking under a job that holds GPUs 4-7: EBUSY");
    ok(strstr(err.msg, "held by a running job") != NULL, "the message says why: %s", err.msg);
    sched_node_info(S, r, &ni);
    is_int(ni.gpus, 8, "and nothing changed");
    sched_job_finished(S, 1, 2);
    submit(2, T_A, C_NORMAL, 2000, 3);
    sched_job_spec_t sp = spec(3, T_A, C_NORMAL, 1000);
    sp.cpus_milli = 40000;
    sp.submit = 3;
    sched_job_submit(S, &sp, NULL);
    cycle(3);
    ok(started(2) && started(3), "two jobs start");
    uint64_t m = mask_of(2) | mask_of(3);
    int top = 0;
    for (int g = 0; g < 8; g++)
        if (m >> g & 1)
            top = g + 1;
    errno = 0;
    ok(sched_node_resize(S, r, top, 32000, 512000, &err) == -1 && errno == EBUSY,
       "shrinking CPUs under what the jobs hold (40 of 32 CPUs): EBUSY");
    ok(sched_node_resize(S, r, top, 48000, 512000, &err) == 0,
       "shrinking to the GPUs in use (%d) and 48 CPUs: done", top);
    sched_node_info(S, r, &ni);
    is_int(ni.gpus, top, "GPU count");
    is_int(ni.gpus_free, top - 3, "the 3 held GPUs are still held");
    is_int(ni.cpus_milli_free, 8000, "48 CPUs minus the 40 held");
    char msg[256];
    ok(sched_check_invariants(S, msg, sizeof(msg)), "invariants hold: %s", msg);
    sched_job_finished(S, 2, 4);
    sched_job_finished(S, 3, 4);
    sched_node_info(S, r, &ni);
    is_int(ni.gpus_free, top, "their GPUs come back");
    is_int(ni.cpus_milli_free, 48000, "and their CPUs, within the new amount");
    ok(sched_check_invariants(S, msg, sizeof(msg)), "invariants hold: %s", msg);
    errno = 0;
    ok(sched_node_resize(S, 99, 4, 0, 0, &err) == -1 && errno == ENOENT, "unknown node: ENOENT");
    errno = 0;
    ok(sched_node_resize(S, r, 65, 0, 0, &err) == -1 && errno == EINVAL, "65 GPUs: EINVAL");
    errno = 0;
    ok(sched_node_resize(S, r, 4, -1, 0, &err) == -1 && errno == EINVAL, "negative CPUs: EINVAL");
}

/* The victim index (victims.c) follows the running jobs: a job that ended, or that was told to
 * stop in this pass, is no victim. Borrowed jobs of equal cost are taken by id, so a stale
 * entry for the lower id would be taken first. Mutations: drop victims_remove from job_release
 * (the ended job 1 is "preempted") or from the PREEMPTING transition (job 1 is preempted
 * twice, job 2 never). */
static void test_victim_index(void)
{
    setup(NULL);
    int T_C = sched_team_add(S, "c", -1, 1, NULL);
    node("n1", "V100", 8, "l1", 1);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    sched_team_set_quota(S, T_C, -1, 4000, -1, NULL);
    submit(1, T_B, C_NORMAL, 4000, 0);
    submit(2, T_B, C_NORMAL, 4000, 0);
    cycle(0);
    ok(started(1) && started(2), "victim index: b borrows the whole node (jobs 1 and 2)");
    submit(3, T_A, C_NORMAL, 4000, 700);
    submit(4, T_C, C_NORMAL, 4000, 700);
    cycle(700);
    int n1 = 0, n2 = 0;
    uint64_t for1 = 0, for2 = 0;
    for (size_t i = 0; i < ndec; i++)
        if (dec[i].action == SCHED_PREEMPT && dec[i].job_id == 1)
            n1++, for1 = dec[i].for_id;
        else if (dec[i].action == SCHED_PREEMPT && dec[i].job_id == 2)
            n2++, for2 = dec[i].for_id;
    ok(ndec == 2 && n1 == 1 && n2 == 1 && for1 == 3 && for2 == 4,
       "victim index: a's job reclaims job 1, then c's job job 2, not job 1 again (%zu "
       "decisions, job 1 preempted %d times for %llu, job 2 %d times for %llu)",
       ndec, n1, (unsigned long long)for1, n2, (unsigned long long)for2);

    setup(NULL);
    node("n1", "V100", 8, "l1", 1);
    sched_team_set_quota(S, T_A, -1, 8000, -1, NULL);
    submit(1, T_B, C_NORMAL, 4000, 0);
    submit(2, T_B, C_NORMAL, 4000, 0);
    cycle(0);
    sched_job_finished(S, 1, 700);
    submit(3, T_A, C_NORMAL, 8000, 700);
    cycle(700);
    ok(ndec == 1 && preempted(2) && dec[0].for_id == 3,
       "victim index: job 1 ended, so a's 8-GPU job reclaims job 2 alone (%zu decisions, "
       "first %s job %llu)", ndec,
       !ndec ? "-" : dec[0].action == SCHED_PREEMPT ? "preempt" : "other",
       ndec ? (unsigned long long)dec[0].job_id : 0ULL);
}

static void test_random_invariants(void)
{
    sched_params_t p = params();
    p.min_runtime_s = 50;
    p.grace_s = 5;
    setup(&p);
    char name[32];
    for (int i = 0; i < 24; i++) {
        snprintf(name, sizeof(name), "n%02d", i);
        char leaf[8];
        snprintf(leaf, sizeof(leaf), "l%d", i / 6);
        node(name, i < 16 ? "A100" : "T4", i < 16 ? 8 : 4, leaf, 2);
    }
    sched_team_set_quota(S, T_A, -1, 64000, 120000, NULL);
    sched_team_set_quota(S, T_B, -1, 32000, -1, NULL);
    unsigned seed = 7;
    uint64_t next = 1;
    bool all_ok = true;
    char msg[256];
    uint64_t live[4096];
    int nlive = 0;
    for (sched_time_t now = 0; now < 4000 && all_ok; now += 10) {
        for (int k = 0; k < 3; k++) {
            int r = rand_r(&seed) % 10;
            int64_t g = r < 2 ? 250 * (1 + rand_r(&seed) % 3)
                              : r < 8 ? 1000 * (1 << (rand_r(&seed) % 4)) : 8000 * (2 + rand_r(&seed) % 2);
            sched_job_spec_t sp = spec(next, rand_r(&seed) % 2 ? T_A : T_B,
                                       rand_r(&seed) % 3, g);
            sp.submit = now;
            sp.estimate = 50 + rand_r(&seed) % 400;
            sp.checkpointable = rand_r(&seed) % 2;
            if (sched_job_submit(S, &sp, NULL) == 0 && nlive < 4096)
                live[nlive++] = next;
            next++;
        }
        dec = sched_cycle(S, now, &ndec);
        if (!sched_check_invariants(S, msg, sizeof(msg))) {
            all_ok = false;
            break;
        }
        for (size_t i = 0; i < ndec; i++)
            if (dec[i].action == SCHED_PREEMPT)
                sched_job_stopped(S, dec[i].job_id, now);
        for (int i = 0; i < nlive; i++) {
            sched_job_info_t in;
            if (sched_job_info(S, live[i], &in) < 0) {
                live[i--] = live[--nlive];
                continue;
            }
            if (in.state == SCHED_RUNNING && rand_r(&seed) % 20 == 0)
                sched_job_finished(S, live[i], now);
        }
        if (!sched_check_invariants(S, msg, sizeof(msg)))
            all_ok = false;
    }
    sched_stats_t st;
    sched_get_stats(S, &st);
    ok(all_ok, "invariants hold after every event of a random run (%s)", all_ok ? "ok" : msg);
    ok(st.starts > 500 && st.preemptions > 0, "the run started %llu jobs and preempted %llu",
       (unsigned long long)st.starts, (unsigned long long)st.preemptions);
}

static int feature_node(const char *name, const char *type, int gpus, uint32_t features)
{
    sched_node_spec_t n = {.name = name, .gpu_type = type, .gpus = gpus, .block = "b1",
                           .spine = "s1", .leaf = "l1", .features = features};
    return sched_node_add(S, &n, NULL);
}

static int submit_oci(uint64_t id, int team, int cls, int64_t gpus_milli, sched_time_t at)
{
    sched_job_spec_t sp = spec(id, team, cls, gpus_milli);
    sp.submit = at;
    sp.features = SCHED_FEATURE_OCI;
    return sched_job_submit(S, &sp, NULL);
}

/* Node features (a job with an image needs a node with a container runtime): placement,
 * the no_runtime reason, the failure cache, preemption, backfill, a node's new features. */
static void test_features(void)
{
    setup(NULL);
    int p1 = feature_node("p1", "H100", 4, 0);
    int o1 = feature_node("o1", "H100", 8, SCHED_FEATURE_OCI);
    sched_node_info_t ni;
    sched_node_info(S, o1, &ni);
    is_int(ni.features, SCHED_FEATURE_OCI, "a node's features are in its info");
    submit_oci(1, T_A, C_NORMAL, 2000, 0);
    cycle(0);
    ok(started(1), "a job needing OCI starts");
    is_int(node_of(1), o1, "on the OCI node, though best fit alone would take p1 (fewer free)");
    /* a plain job still goes by best fit */
    submit(2, T_A, C_NORMAL, 2000, 1);
    cycle(1);
    is_int(node_of(2), p1, "a plain job goes to the fullest node that holds it: p1");

    /* An OCI job that no OCI node could hold waits with no_runtime; the same shape without
     * the need fits p1 (4 GPUs) and is not no_fit. */
    setup(NULL);
    p1 = feature_node("p1", "H100", 8, 0);
    o1 = feature_node("o1", "H100", 4, SCHED_FEATURE_OCI);
    submit_oci(3, T_A, C_NORMAL, 8000, 0);
    cycle(0);
    ok(!started(3), "an 8-GPU job needing OCI does not start when the OCI node has 4");
    is_int(info(3).reason, SCHED_REASON_NO_RUNTIME, "it waits with reason no_runtime");
    is_str(sched_reason_name(info(3).reason), "no_runtime", "named no_runtime");
    ok(strstr(sched_reason_text(SCHED_REASON_NO_RUNTIME), "container runtime") != NULL,
       "its sentence names the container runtime: %s",
       sched_reason_text(SCHED_REASON_NO_RUNTIME));
    ok(!sched_capacity_wait(S), "no_runtime is not a wait for capacity");
    /* a gang of two OCI nodes when there is one */
    sched_job_spec_t g = spec(4, T_A, C_NORMAL, 8000);
    g.nodes = 2;
    g.features = SCHED_FEATURE_OCI;
    sched_job_submit(S, &g, NULL);
    cycle(1);
    is_int(info(4).reason, SCHED_REASON_NO_RUNTIME, "a 2-node OCI gang with one OCI node: no_runtime");
    /* only a type no OCI node has */
    int h200 = feature_node("q1", "H200", 8, 0);
    (void)h200;
    sched_job_spec_t t = spec(5, T_A, C_NORMAL, 1000);
    t.gpu_types = 1ULL << sched_gpu_type_find(S, "H200");
    t.features = SCHED_FEATURE_OCI;
    sched_job_submit(S, &t, NULL);
    cycle(2);
    is_int(info(5).reason, SCHED_REASON_NO_RUNTIME, "OCI on a GPU type no OCI node has: no_runtime");
    /* a node that gains the runtime */
    is_int(sched_node_set_features(S, p1, SCHED_FEATURE_OCI), 0, "p1 gains the OCI runtime");
    cycle(3);
    ok(started(3), "the 8-GPU OCI job then starts");
    is_int(node_of(3), p1, "on p1");
    ok(!started(5), "the H200 job still waits");
    errno = 0;
    ok(sched_node_set_features(S, p1, 1u << SCHED_MAX_FEATURES) == -1 && errno == EINVAL,
       "an unknown feature bit is refused (EINVAL)");
    errno = 0;
    ok(sched_node_set_features(S, 99, 0) == -1 && errno == ENOENT, "an unknown node (ENOENT)");
    sched_job_spec_t bad = spec(6, T_A, C_NORMAL, 1000);
    bad.features = 1u << SCHED_MAX_FEATURES;
    errno = 0;
    ok(sched_job_submit(S, &bad, NULL) == -1 && errno == EINVAL,
       "a job needing an unknown feature is refused (EINVAL)");
    sched_node_spec_t bn = {.name = "bad", .gpus = 1, .gpu_type = "H100",
                            .features = 1u << SCHED_MAX_FEATURES};
    errno = 0;
    ok(sched_node_add(S, &bn, NULL) == -1 && errno == EINVAL, "a node with an unknown feature (EINVAL)");

    /* The failure cache: an OCI job that waits does not make a plain job of the same shape
     * behind it wait too. */
    setup(NULL);
    p1 = feature_node("p1", "H100", 4, 0);
    o1 = feature_node("o1", "H100", 4, SCHED_FEATURE_OCI);
    submit_oci(7, T_A, C_NORMAL, 4000, 0);
    cycle(0);
    ok(started(7) && node_of(7) == o1, "an OCI job fills the OCI node");
    submit_oci(8, T_A, C_NORMAL, 4000, 1);
    submit(9, T_A, C_NORMAL, 4000, 2);
    cycle(3);
    ok(!started(8), "a second OCI job waits (the OCI node is full)");
    is_int(info(8).reason, SCHED_REASON_CAPACITY, "for capacity (the OCI node could hold it)");
    ok(started(9), "a plain job of the same shape behind it starts");
    is_int(node_of(9), p1, "on the plain node");

    /* Preemption: a job needing OCI does not preempt a job on a node without it. */
    setup(NULL);
    p1 = feature_node("p1", "H100", 8, 0);
    o1 = feature_node("o1", "H100", 8, SCHED_FEATURE_OCI);
    submit(10, T_B, C_LOW, 8000, 0);
    submit(11, T_B, C_HIGH, 8000, 0);
    cycle(0);
    ok(started(10) && started(11), "a low job and a high (not preemptible) job fill both nodes");
    if (node_of(11) != o1) {
        diag("the high job went to p1; the scenario needs it on o1");
    }
    sched_job_spec_t h = spec(12, T_A, C_HIGH, 8000);
    h.submit = 700;
    h.features = SCHED_FEATURE_OCI;
    sched_job_submit(S, &h, NULL);
    cycle(700);
    ok(!preempted(10), "a high OCI job does not preempt the low job on the plain node");
    ok(!started(12), "and waits");
}

static int cpu_node(const char *name, const char *type, int gpus, int64_t cpus_milli,
                    int64_t mem_mib)
{
    sched_node_spec_t n = {.name = name, .gpu_type = type, .gpus = gpus, .cpus_milli = cpus_milli,
                           .memory_mib = mem_mib, .block = "b1", .spine = "s1", .leaf = "l1"};
    return sched_node_add(S, &n, NULL);
}

static int submit_cpu(uint64_t id, int team, int cls, int64_t cpus_milli, int nodes,
                      sched_time_t at)
{
    sched_job_spec_t sp = spec(id, team, cls, 0);
    sp.cpus_milli = cpus_milli;
    sp.nodes = nodes;
    sp.submit = at;
    return sched_job_submit(S, &sp, NULL);
}

static int64_t node_cpus_free(int ni)
{
    sched_node_info_t in;
    sched_node_info(S, ni, &in);
    return in.cpus_milli_free;
}

static int node_gpus_free(int ni)
{
    sched_node_info_t in;
    sched_node_info(S, ni, &in);
    return in.gpus_free;
}

/* CPU-only jobs (gpus 0): validation, placement beside busy GPUs and on nodes without GPUs,
 * gangs, GPU quotas and limits, reasons, the passes that skip jobs that cannot fit, backfill
 * reservations, preemption, restore. */
static void test_cpu_only(void)
{
    /* validation */
    setup(NULL);
    int g1 = cpu_node("g1", "H100", 8, 16000, 0);
    sched_job_spec_t sp = spec(1, T_A, C_NORMAL, 0);
    gt_error_t err = {0};
    is_int(sched_job_validate(S, &sp, &err), 0, "gpus 0 is a valid job (CPU only): %s", err.msg);
    sp.nodes = 2;
    is_int(sched_job_validate(S, &sp, &err), 0, "a CPU-only gang of 2 nodes is valid: %s",
           err.msg);
    sp = spec(1, T_A, C_NORMAL, -1000);
    errno = 0;
    ok(sched_job_validate(S, &sp, &err) == -1 && errno == EINVAL, "negative GPUs refused");
    ok(strstr(err.msg, "0 (CPU only)") != NULL, "the message names gpus 0: %s", err.msg);

    /* all GPUs busy: a CPU-only job starts beside them, holding no GPU */
    sched_job_spec_t full = spec(2, T_A, C_NORMAL, 8000);
    full.cpus_milli = 4000;
    sched_job_submit(S, &full, NULL);
    cycle(0);
    ok(started(2), "an 8-GPU job fills the node's GPUs");
    submit_cpu(3, T_A, C_NORMAL, 8000, 0, 1);
    cycle(1);
    ok(started(3), "a CPU-only job starts on a node whose GPUs are all busy");
    is_int(node_of(3), g1, "on that node");
    is_int(mask_of(3), 0, "holding no GPU (mask 0)");
    is_int(info(3).nslots ? info(3).slots[0].gpu_milli : -1, 0,
           "and no fraction of one (gpu_milli 0)");
    is_int(node_cpus_free(g1), 4000, "its 8 CPUs are taken from the node's 12 free");
    sched_team_info_t ti;
    sched_team_info(S, T_A, &ti);
    is_int(ti.allocated_milli, 8000, "its team's GPUs count only the 8-GPU job");
    submit_cpu(4, T_A, C_NORMAL, 8000, 0, 2);
    cycle(2);
    ok(!started(4), "a second 8-CPU job does not fit in the 4 CPUs left");
    is_str(sched_reason_name(info(4).reason), "capacity", "it waits for capacity");
    submit_cpu(5, T_A, C_NORMAL, 32000, 0, 3);
    cycle(3);
    is_str(sched_reason_name(info(5).reason), "no_fit", "32 CPUs on a 16-CPU node: no_fit");
    sched_job_finished(S, 3, 10);
    cycle(10);
    ok(started(4), "once the first CPU-only job ends, the second starts");
    is_int(node_gpus_free(g1), 0, "the GPU job's GPUs stay as they were");

    /* The passes that skip jobs which cannot fit (no reservation left, GPUs full) and the
     * quiet cycles after a settled pass must not skip a CPU-only job: its CPUs may be free. */
    sched_params_t p = params();
    p.reservations = 0;
    setup(&p);
    g1 = cpu_node("g1", "H100", 8, 16000, 0);
    full = spec(10, T_A, C_NORMAL, 8000);
    full.cpus_milli = 2000;
    sched_job_submit(S, &full, NULL);
    submit(11, T_A, C_NORMAL, 8000, 0);
    cycle(0);
    ok(started(10) && !started(11), "the node's GPUs are full and a GPU job waits");
    cycle(1);
    submit_cpu(12, T_A, C_NORMAL, 2000, 0, 2);
    cycle(2);
    ok(started(12), "a CPU-only job submitted to a settled full cluster starts");
    submit(13, T_A, C_HIGH, 8000, 3);
    submit_cpu(14, T_A, C_NORMAL, 2000, 0, 3);
    cycle(3);
    ok(started(14), "a CPU-only job behind a blocked GPU job starts (no reservation left)");

    /* a cluster of nodes without GPUs (type "none") */
    setup(NULL);
    int c1 = cpu_node("c1", NULL, 0, 8000, 16384);
    sched_job_spec_t m = spec(20, T_A, C_NORMAL, 0);
    m.cpus_milli = 2000;
    m.memory_mib = 4096;
    sched_job_submit(S, &m, NULL);
    cycle(0);
    ok(started(20), "a CPU-only job starts on a node without GPUs");
    is_int(node_of(20), c1, "on c1");
    submit(21, T_A, C_NORMAL, 1000, 1);
    cycle(1);
    is_str(sched_reason_name(info(21).reason), "no_fit", "a GPU job there is no_fit");

    /* a gang of CPU-only nodes: each node gets its CPUs; nodes with free GPUs come last */
    setup(NULL);
    int a = cpu_node("a", NULL, 0, 8000, 0), b = cpu_node("b", NULL, 0, 8000, 0);
    int h = cpu_node("h", "H100", 8, 8000, 0);
    submit_cpu(30, T_A, C_NORMAL, 6000, 2, 0);
    cycle(0);
    ok(started(30), "a 2-node CPU-only gang starts");
    sched_job_info_t in = info(30);
    is_int(in.nslots, 2, "on 2 nodes");
    ok(in.nslots == 2 && in.slots[0].node != in.slots[1].node, "two different nodes");
    ok(in.nslots == 2 && in.slots[0].node != h && in.slots[1].node != h,
       "the nodes without GPUs, not the GPU node with all its GPUs free");
    is_int(node_cpus_free(a) + node_cpus_free(b), 4000, "6 CPUs taken on each");
    submit_cpu(31, T_A, C_NORMAL, 6000, 2, 1);
    cycle(1);
    ok(!started(31), "a second such gang waits: one node (h) has the CPUs, two are needed");
    is_str(sched_reason_name(info(31).reason), "capacity", "for capacity");

    /* GPU quotas and limits: a CPU-only job counts 0 */
    setup(NULL);
    cpu_node("g1", "H100", 8, 32000, 0);
    sched_team_set_quota(S, T_A, -1, 0, 8000, NULL);
    submit(40, T_A, C_NORMAL, 8000, 0);
    cycle(0);
    ok(started(40), "team a runs 8 GPUs, its whole limit");
    sched_team_set_quota(S, T_A, -1, 0, 4000, NULL); /* lowered below what it holds */
    submit(41, T_A, C_NORMAL, 1000, 1);
    submit_cpu(42, T_A, C_NORMAL, 4000, 0, 2);
    dec = sched_cycle(S, 2, &ndec); /* (not cycle(): the team is above its limit on purpose) */
    is_str(sched_reason_name(info(41).reason), "quota", "a GPU job waits for quota");
    ok(started(42), "a CPU-only job of a team above its GPU limit starts");
    sched_team_info(S, T_A, &ti);
    is_int(ti.allocated_milli, 8000, "its team still holds 8 GPUs");
    ok(!info(42).borrowing, "a CPU-only job never borrows (quota reclaim never takes it)");

    /* quota reclaim is about GPUs: a CPU-only job of a team within its quota waits for CPUs
     * without reclaiming another team's borrowed GPU job (and the invariant agrees) */
    setup(NULL);
    cpu_node("g1", "H100", 8, 4000, 0);
    sched_team_set_quota(S, T_A, -1, 8000, -1, NULL);
    sched_job_spec_t bj = spec(45, T_B, C_NORMAL, 8000);
    bj.cpus_milli = 4000;
    sched_job_submit(S, &bj, NULL);
    cycle(0);
    ok(started(45) && info(45).borrowing, "team b borrows the node (GPUs and CPUs)");
    submit_cpu(46, T_A, C_NORMAL, 2000, 0, 700);
    cycle(700);
    ok(!started(46) && !preempted(45), "a's CPU-only job does not reclaim b's GPU job");
    is_str(sched_reason_name(info(46).reason), "capacity", "it waits for capacity");

    /* backfill: a blocked CPU-only job takes no reservation from a GPU job */
    p = params();
    p.reservations = 1;
    p.preemption = false;
    setup(&p);
    cpu_node("g1", "H100", 8, 4000, 0);
    sched_job_spec_t r = spec(50, T_A, C_NORMAL, 4000);
    r.cpus_milli = 4000;
    r.estimate = 100;
    sched_job_submit(S, &r, NULL);
    cycle(0);
    submit_cpu(51, T_A, C_HIGH, 2000, 0, 1);
    submit(52, T_A, C_NORMAL, 8000, 2);
    cycle(5);
    ok(!started(51) && !started(52), "a CPU-only job (no CPUs free) and an 8-GPU job wait");
    is_int(info(51).estimated_start, SCHED_NEVER, "the CPU-only job gets no reservation");
    is_int(info(52).estimated_start, 100, "the one reservation goes to the GPU job");

    /* preemption: a CPU-only job frees no GPU, so a GPU job does not take it as a victim;
     * a high CPU-only job preempts a low job that holds the CPUs it needs */
    p = params();
    setup(&p);
    int n = cpu_node("n", "H100", 8, 8000, 0);
    sched_job_spec_t lg = spec(60, T_B, C_LOW, 8000);
    lg.cpus_milli = 2000;
    sched_job_submit(S, &lg, NULL);
    submit_cpu(61, T_B, C_LOW, 2000, 0, 0);
    cycle(0);
    ok(started(60) && started(61), "a low GPU job and a low CPU-only job run");
    submit(62, T_A, C_HIGH, 8000, 700);
    cycle(700);
    ok(preempted(60), "a high 8-GPU job preempts the low GPU job");
    ok(!preempted(61), "not the low CPU-only job, which frees no GPU");
    sched_job_stopped(S, 60, 710);
    cycle(710);
    ok(started(62) && node_of(62) == n, "the high job starts");
    submit_cpu(63, T_A, C_HIGH, 8000, 0, 720);
    cycle(720);
    ok(!preempted(62), "a high CPU-only job does not preempt a job of its own class");
    ok(preempted(61) || preempted(60), "but preempts the low job that holds CPUs it needs");

    /* restore after a controller restart */
    setup(NULL);
    n = cpu_node("n", "H100", 8, 8000, 0);
    sched_job_spec_t rs = spec(70, T_A, C_NORMAL, 0);
    rs.cpus_milli = 2000;
    sched_slot_t sl = {n, 0, 0};
    is_int(sched_job_restore_running(S, &rs, 0, &sl, 1, &err), 0,
           "a running CPU-only job is restored on a slot with no GPU");
    is_int(node_cpus_free(n), 6000, "holding its CPUs");
    rs.id = 71;
    sl = (sched_slot_t){n, 1, 1000};
    errno = 0;
    ok(sched_job_restore_running(S, &rs, 0, &sl, 1, &err) == -1 && errno == EINVAL,
       "a CPU-only job restored on a GPU is refused");
    cycle(1);
}

/* A random run with CPUs tracked and CPU-only jobs among GPU jobs: the invariants (GPUs,
 * CPUs and memory accounted to the jobs that hold them, no GPU for a CPU-only job) hold after
 * every event. */
static void test_random_cpu_only(void)
{
    sched_params_t p = params();
    p.min_runtime_s = 50;
    p.grace_s = 5;
    setup(&p);
    char name[32];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "n%02d", i);
        if (i < 8)
            cpu_node(name, "A100", 8, 32000, 65536);
        else
            cpu_node(name, NULL, 0, 16000, 32768);
    }
    sched_team_set_quota(S, T_A, -1, 32000, 48000, NULL);
    unsigned seed = 11;
    uint64_t next = 1, cpu_starts = 0;
    bool all_ok = true;
    char msg[256];
    uint64_t live[4096];
    int nlive = 0;
    for (sched_time_t now = 0; now < 3000 && all_ok; now += 10) {
        for (int k = 0; k < 3; k++) {
            int r = rand_r(&seed) % 10;
            int64_t g = r < 4 ? 0 : r < 6 ? 500 : 1000 * (1 << (rand_r(&seed) % 4));
            sched_job_spec_t sp = spec(next, rand_r(&seed) % 2 ? T_A : T_B,
                                       rand_r(&seed) % 3, g);
            sp.submit = now;
            sp.estimate = 50 + rand_r(&seed) % 400;
            sp.cpus_milli = 1000 * (1 + rand_r(&seed) % 8);
            sp.memory_mib = 1024 * (rand_r(&seed) % 8);
            if (g == 0 && rand_r(&seed) % 4 == 0)
                sp.nodes = 2;
            if (sched_job_submit(S, &sp, NULL) == 0 && nlive < 4096)
                live[nlive++] = next;
            next++;
        }
        dec = sched_cycle(S, now, &ndec);
        if (!sched_check_invariants(S, msg, sizeof(msg))) {
            all_ok = false;
            break;
        }
        for (size_t i = 0; i < ndec; i++) {
            if (dec[i].action == SCHED_PREEMPT)
                sched_job_stopped(S, dec[i].job_id, now);
            sched_job_info_t in;
            if (dec[i].action == SCHED_START && sched_job_info(S, dec[i].job_id, &in) == 0 &&
                in.nslots && in.slots[0].gpu_mask == 0)
                cpu_starts++;
        }
        for (int i = 0; i < nlive; i++) {
            sched_job_info_t in;
            if (sched_job_info(S, live[i], &in) < 0) {
                live[i--] = live[--nlive];
                continue;
            }
            if (in.state == SCHED_RUNNING && rand_r(&seed) % 15 == 0)
                sched_job_finished(S, live[i], now);
        }
        if (!sched_check_invariants(S, msg, sizeof(msg)))
            all_ok = false;
    }
    ok(all_ok, "invariants hold with CPU-only jobs after every event (%s)", all_ok ? "ok" : msg);
    ok(cpu_starts > 100, "the run started %llu CPU-only jobs", (unsigned long long)cpu_starts);
}

/* The merge of the team queues (cycle.c's loser tree) takes the least head each time: with
 * 37 teams (not a power of 2) of 4 jobs each, classes mixed, no fair share and no quotas, one
 * pass starts jobs strictly by class (high first), then submit time, then id, and the first
 * 50 in that order are the ones that start (50 GPUs). */
static uint64_t merge_key[148][3];

static int merge_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

static void test_merge_order(void)
{
    sched_params_t p = params();
    p.fairshare = false;
    p.quotas = false;
    p.preemption = false;
    setup(&p);
    for (int n = 0; n < 5; n++) {
        char name[16];
        snprintf(name, sizeof(name), "m%d", n);
        node(name, "V100", 10, "l1", 1);
    }
    int cls[3] = {C_LOW, C_NORMAL, C_HIGH}, val[3] = {10, 100, 1000}, teams[37];
    for (int t = 0; t < 37; t++) {
        char name[16];
        snprintf(name, sizeof(name), "team%d", t);
        teams[t] = sched_team_add(S, name, -1, 1, NULL);
    }
    uint32_t x = 12345;
    int n = 0;
    for (int t = 0; t < 37; t++)
        for (int k = 0; k < 4; k++, n++) {
            x = x * 1103515245u + 12345u;
            int c = (int)(x >> 16) % 3;
            x = x * 1103515245u + 12345u;
            sched_time_t at = (sched_time_t)((x >> 8) % 100000);
            uint64_t id = (uint64_t)n + 1;
            submit(id, teams[t], cls[c], 1000, at);
            merge_key[n][0] = (uint64_t)(1000 - val[c]);
            merge_key[n][1] = (uint64_t)at;
            merge_key[n][2] = id;
        }
    qsort(merge_key, 148, sizeof(merge_key[0]), merge_cmp);
    cycle(100000);
    size_t nstart = 0;
    bool in_order = true;
    for (size_t i = 0; i < ndec; i++) {
        if (dec[i].action != SCHED_START)
            continue;
        in_order &= nstart < 148 && dec[i].job_id == merge_key[nstart][2];
        nstart++;
    }
    is_int((int)nstart, 50, "50 of the 148 jobs start on the 50 GPUs");
    ok(in_order, "they start in the merged order (class, submit time, id) over 37 teams");
}

/* A job at least as large as one that waits for a reservation does not inherit "reservation"
 * from the pass's failure cache: that reason says it would fit but for the reservations, which
 * need not hold for the larger job, and it decides whether the job takes a reservation. */
static void test_reservation_reason_not_inherited(void)
{
    sched_params_t p = params();
    p.preemption = false;
    p.fairshare = false;
    setup(&p);
    node("x", "V100", 8, "l1", 1);
    node("y", "V100", 8, "l1", 1);
    submit_est(1, T_A, C_NORMAL, 4000, 0, 100, 0);
    submit_est(2, T_A, C_NORMAL, 8000, 0, 300, 1);
    cycle(0);
    ok(started(1) && started(2), "one node half used until t=100, the other full until t=300");
    submit_est(3, T_A, C_NORMAL, 8000, 0, 50, 2);
    submit_est(4, T_A, C_NORMAL, 4000, 0, 200, 3);
    submit_est(5, T_A, C_NORMAL, 6000, 0, 200, 4);
    cycle(10);
    is_int(info(3).estimated_start, 100, "the 8-GPU job is reserved the half-used node at t=100");
    is_str(sched_reason_name(info(4).reason), "reservation",
           "the 4-GPU job would fit there now but would delay it");
    is_str(sched_reason_name(info(5).reason), "capacity",
           "the 6-GPU job fits nowhere even without reservations: capacity, not the 4-GPU "
           "job's reason");
    is_int(info(5).estimated_start, 300, "so it takes a reservation of its own (the full node, t=300)");
}

/* A reservation of a gang may take a node that has more GPUs free than the gang needs there
 * (a node that holds its share now, while another of its nodes frees later): the rest of that
 * node is nobody's, and a long job that fits in it starts. The skip rule for jobs that fit
 * only on reserved GPUs (cycle.c, fits_only_reserved) passed over such a job, seen before,
 * in every pass until the reservation started. */
static void test_reserved_node_rest(void)
{
    sched_params_t p = params();
    p.preemption = false;
    p.fairshare = false;
    setup(&p);
    node("a", "V100", 8, "l1", 1);
    node("b", "V100", 8, "l1", 1);
    submit_est(1, T_A, C_NORMAL, 7000, 0, 100, 0);
    submit_est(2, T_A, C_NORMAL, 1000, 0, 100000, 1);
    cycle(0);
    submit_est(3, T_A, C_NORMAL, 8000, 0, 1000, 2);
    cycle(0);
    ok(started(3) && node_of(1) == node_of(2) && node_of(3) != node_of(1),
       "rest: jobs 1 and 2 fill node a, job 3 node b");
    submit_est(4, T_A, C_NORMAL, 8000, 2, 100, 3);
    submit_est(5, T_A, C_NORMAL, 2000, 0, 100000, 4);
    cycle(5);
    ok(!started(4) && !started(5), "rest: nothing is free for the gang or the long job");
    sched_job_finished(S, 1, 100);
    cycle(100);
    ok(!started(4) && info(4).estimated_start == 1000,
       "rest: the gang reserves node a (7 free, 4 its) and node b (free at 1000)");
    ok(started(5) && node_of(5) == node_of(2),
       "rest: the long 2-GPU job starts on node a's 3 GPUs nobody reserved");
}

/* The skip rule for jobs that fit only on reserved GPUs (cycle.c, fits_only_reserved) may
 * pass over a job only when its turn could not end in a reservation of its own. A gang whose
 * per-node share fits on a reserved node finds no room even without the reservations
 * (capacity) and takes a reservation: a pass that skips it leaves the one it got before
 * (t=400), though a higher-class gang now comes first and pushes it to t=600. One reservation
 * per node: a gang reserves the two nodes that free first among those left. */
static void test_gang_not_skipped_when_it_would_reserve(void)
{
    sched_params_t p = params();
    p.preemption = false;
    p.fairshare = false;
    p.quotas = false;
    setup(&p);
    const char *names[6] = {"a", "b", "c", "d", "e", "f"};
    for (int i = 0; i < 6; i++)
        node(names[i], "V100", 8, "l1", 1);
    sched_time_t ends[6] = {5, 100, 300, 400, 500, 600};
    for (int i = 0; i < 6; i++)
        submit_est((uint64_t)(10 + i), T_A, C_NORMAL, 8000, 0, ends[i], i);
    cycle(0);
    ok(started(10) && started(15), "six nodes full, one each until t=5, 100, 300 ... 600");
    sched_job_finished(S, 10, 5);
    submit_est(1, T_A, C_NORMAL, 16000, 2, 50, 6);
    submit_est(2, T_A, C_NORMAL, 16000, 2, 1000, 7);
    cycle(10);
    is_int(info(1).estimated_start, 100, "gang b reserves the free node and the one free at t=100");
    is_int(info(2).estimated_start, 400, "gang g reserves the nodes free at t=300 and t=400");
    submit_est(3, T_A, C_HIGH, 16000, 2, 500, 8);
    cycle(20);
    is_int(info(3).estimated_start, 100, "the high-class gang takes the first two (t=100)");
    is_int(info(1).estimated_start, 400, "gang b now reserves the next two (t=400)");
    is_int(info(2).estimated_start, 600,
           "gang g, seen before, is evaluated again: it reserves the last two (t=600)");
}

/* Two 8-GPU nodes x and y; team a's quota is both (16 GPUs), team b's none; b queues
 * `borrowers` checkpointable 8-GPU jobs (ids from 100). */
static void lender_and_borrower(int borrowers)
{
    setup(NULL);
    node("x", "V100", 8, "l1", 1);
    node("y", "V100", 8, "l1", 1);
    sched_team_set_quota(S, T_A, -1, 16000, -1, NULL);
    sched_team_set_quota(S, T_B, -1, 0, -1, NULL);
    for (int i = 0; i < borrowers; i++)
        submit_checkpointable(100 + (uint64_t)i, T_B, C_NORMAL, 8000);
}

/* A node held for a preemptor is a reservation that starts now: the skip rule's bound of what
 * a job that ends after the reservations could take (cycle.c, find_max_free_unreserved) counts
 * only what is not held. A borrower seen once, whose 8 GPUs fit only on the node a gang holds
 * while its victim stops, is not evaluated again in the next pass: only the gang is. Before,
 * held nodes counted as free, and such jobs were evaluated in every pass of a grace period. */
static void test_held_node_not_free_for_others(void)
{
    lender_and_borrower(1);
    cycle(0);
    ok(started(100), "team b borrows one node");
    sched_job_spec_t gang = spec(1, T_A, C_NORMAL, 16000);
    gang.nodes = 2;
    gang.submit = 1000;
    sched_job_submit(S, &gang, NULL);
    submit(101, T_B, C_NORMAL, 8000, 1001);
    cycle(1000);
    ok(preempted(100) && !started(101), "a's gang reclaims b's job and holds both nodes");
    is_str(sched_reason_name(info(101).reason), "reservation",
           "b's second job would fit on the free node but for the hold");
    int examined = cycle_examined(1001);
    ok(!started(101), "the next pass starts nothing while the victim stops");
    is_int(examined, 1,
           "it evaluates the gang alone: b's job fits only on held GPUs");
}

/* The skip rule's time test (cycle.c, fits_only_reserved): a job that fits only on reserved
 * GPUs can use a reserved node only if it ends before that node's reservation starts, and only
 * a node with its GPUs free. Node a has 4 GPUs free, reserved from t=100; nodes b and c are
 * full and reserved from t=2000. A 4-GPU job seen before, ending at t=506, can use neither: the
 * next pass does not evaluate it. Before, the test was against the latest reservation of the
 * pass (t=2000), and such a job was evaluated in every pass. */
static void test_resv_until(void)
{
    sched_params_t p = params();
    p.preemption = false;
    p.fairshare = false;
    setup(&p);
    node("a", "V100", 8, "l1", 1);
    node("b", "V100", 8, "l1", 1);
    node("c", "V100", 8, "l1", 1);
    sched_time_t est[3] = {100, 1000, 2000};
    int64_t gpus[3] = {4000, 8000, 8000};
    for (int i = 0; i < 3; i++)
        submit_est((uint64_t)(10 + i), T_A, C_NORMAL, gpus[i], 0, est[i], i);
    cycle(0);
    ok(started(10) && started(11) && started(12), "a half full until 100, b and c full");
    submit_est(1, T_A, C_NORMAL, 8000, 0, 50, 3);
    submit_est(2, T_A, C_NORMAL, 16000, 2, 50, 4);
    submit_est(3, T_A, C_NORMAL, 4000, 0, 500, 5);
    cycle(5);
    is_int(info(1).estimated_start, 100, "the 8-GPU job reserves node a at t=100");
    is_int(info(2).estimated_start, 2000, "the gang reserves nodes b and c at t=2000");
    is_str(sched_reason_name(info(3).reason), "reservation",
           "the 4-GPU job fits on node a now but would delay the 8-GPU job");
    submit_est(4, T_A, C_NORMAL, 1000, 0, 10, 6);
    int examined = cycle_examined(6);
    ok(started(4), "a 1-GPU job that ends by t=100 starts on node a");
    is_int(examined, 3,
           "the pass evaluates the two reserved jobs and the newcomer, not the 4-GPU job");
}

/* What the "sized" tests' jobs ask besides GPUs: `units` CPUs, or (sized_by_memory) `units`
 * GiB of memory. */
static bool sized_by_memory;

/* A one-node job of any GPU type and no features asking `units` (qentry one_node, not plain),
 * estimated `estimate` seconds. */
static void submit_sized(uint64_t id, int team, int cls, int64_t gpus_milli, int64_t units,
                         sched_time_t estimate, sched_time_t at)
{
    sched_job_spec_t sp = est_spec(id, team, cls, gpus_milli, 0, estimate, at);
    if (sized_by_memory)
        sp.memory_mib = units * 1024;
    else
        sp.cpus_milli = units * 1000;
    sched_job_submit(S, &sp, NULL);
}

/* A 4-GPU node of 16 CPUs and 16 GiB. */
static int sized_node(const char *name)
{
    return cpu_node(name, "V100", 4, 16000, 16 * 1024);
}

/* Two such nodes: team b's 2-GPU job on one until t=2000 (14 units), its 4-GPU job on the
 * other until t=5000; the jobs' nodes in *half and *full. */
static void sized_cluster(int reservations, int *half, int *full)
{
    sched_params_t p = params();
    p.preemption = false;
    p.fairshare = false;
    p.quotas = false;
    p.reservations = reservations;
    setup(&p);
    sized_node("n1");
    sized_node("n2");
    submit_sized(10, T_B, C_HIGH, 2000, 14, 2000, 0);
    submit_sized(11, T_B, C_HIGH, 4000, 1, 5000, 0);
    cycle(0);
    ok(started(10) && started(11) && node_of(10) != node_of(11),
       "sized: b's 2-GPU and 4-GPU jobs on the two nodes");
    *half = node_of(10);
    *full = node_of(11);
}

/* The skip rule for jobs that fit only on reserved GPUs (cycle.c, fits_only_reserved) passes
 * over a job that asks CPUs too when a node could hold all it asks were the reservations not
 * there (fits_somewhere): its turn could only end in "reservation". Job 2 (2 GPUs, 2 CPUs) fits
 * on the half-full node but for job 1's reservation there: no pass evaluates it, and its reason
 * is "reservation" from the first (wait_reservation); the next pass evaluates job 1 and a
 * newcomer. Before, such a job was evaluated in every pass,
 * until the reservations were all handed out: in `gantry bench sched`, whose jobs ask CPUs, half
 * the passes evaluated all 110,000 pending jobs. */
static void test_sized_job_passed_over(void)
{
    int half, full;
    sized_by_memory = false;
    sized_cluster(8, &half, &full);
    submit_sized(1, T_A, C_HIGH, 4000, 1, 10000, 10);
    submit_sized(2, T_A, C_NORMAL, 2000, 2, 10000, 10);
    is_int(cycle_examined(10), 1, "sized: the first pass evaluates job 1 alone");
    is_int(info(1).estimated_start, 2000, "sized: job 1 reserves the half-full node at t=2000");
    is_str(sched_reason_name(info(2).reason), "reservation",
           "sized: job 2, never evaluated, fits there now but would delay job 1: it says so");
    submit_sized(3, T_A, C_LOW, 1000, 1, 10, 11);
    int examined = cycle_examined(11);
    ok(started(3) && node_of(3) == half, "sized: a 1-GPU job that ends by t=2000 starts there");
    is_int(examined, 2,
           "sized: the pass evaluates job 1 and the newcomer, not job 2");
}

/* ... and only then: a job asking CPUs (or memory) that no node with its GPUs free could hold,
 * even without the reservations (capacity), takes a reservation of its own. Node n3 holds b's
 * 3-GPU job until t=3001 and has 1 GPU and 13 units free. Job 1 reserves the half-full node,
 * job 2 (2 GPUs, 8 units: the half-full node has 2 free) the reservation left, n3 at t=3001;
 * job 4 (1 GPU, 14 units) gets none. A newcomer (1 GPU, 3 units, 100 s) then starts on n3
 * before job 2's reservation. A pass that skipped job 2 would give its reservation to job 4,
 * on n3 from now, and the newcomer would wait. */
static void test_sized_job_not_skipped_when_it_would_reserve(bool by_memory)
{
    int half, full;
    sized_by_memory = by_memory;
    sized_cluster(2, &half, &full);
    int n3 = sized_node("n3");
    submit_sized(12, T_B, C_HIGH, 3000, 3, 3000, 1);
    cycle(1);
    ok(started(12) && node_of(12) == n3, "sized: b's 3-GPU job on n3");
    submit_sized(1, T_A, C_HIGH, 4000, 1, 10000, 10);
    submit_sized(2, T_A, C_NORMAL, 2000, 8, 10000, 10);
    submit_sized(4, T_A, C_LOW, 1000, 14, 10000, 10);
    cycle(10);
    is_int(info(1).estimated_start, 2000, "sized: job 1 reserves the half-full node at t=2000");
    is_int(info(2).estimated_start, 3001, "sized (%s): job 2 finds no room and reserves n3",
           by_memory ? "memory" : "CPUs");
    submit_sized(5, T_A, C_LOW, 1000, 3, 100, 20);
    cycle(20);
    is_int(info(2).estimated_start, 3001, "sized: job 2 reserves n3 again (evaluated)");
    ok(started(5) && node_of(5) == n3, "sized: the newcomer starts on n3 before t=3001");
}

/* A job sent back by a reclaim is evaluated in its backoff even where it fits only on GPUs
 * held for another job (cycle.c, fits_only_reserved passes over a job never evaluated only
 * when its turn would end in "reservation"): it waits for its backoff, and says so. Team a's
 * 2-node gang reclaims both of b's borrowed jobs; one has stopped, and its node is held for
 * the gang while the other stops. */
static void test_backoff_not_passed_over(void)
{
    lender_and_borrower(2);
    cycle(0);
    ok(started(100) && started(101), "backoff: team b borrows both nodes");
    submit_est(1, T_A, C_NORMAL, 16000, 2, 0, 1000); /* (a 2-node gang, no estimate) */
    cycle(1000);
    ok(preempted(100) && preempted(101), "backoff: a's gang reclaims both");
    sched_job_stopped(S, 100, 1100);
    cycle(1100);
    ok(!started(100) && !started(1), "backoff: nothing starts while job 101 stops");
    is_str(sched_reason_name(info(100).reason), "backoff",
           "backoff: job 100, back in the queue, waits for its backoff");
}

int main(void)
{
    test_cpu_only();
    test_random_cpu_only();
    test_features();
    test_best_fit();
    test_merge_order();
    test_nvlink();
    test_fractions();
    test_gang_topology();
    test_priority_and_fairshare();
    test_usage_independent_of_passes();
    test_quota_limit();
    test_reclaim();
    test_victim_index();
    test_priority_preemption();
    test_backfill();
    test_reserved_node_rest();
    test_reservation_reason_not_inherited();
    test_gang_not_skipped_when_it_would_reserve();
    test_held_node_not_free_for_others();
    test_resv_until();
    test_sized_job_passed_over();
    test_sized_job_not_skipped_when_it_would_reserve(false);
    test_sized_job_not_skipped_when_it_would_reserve(true);
    test_backoff_not_passed_over();
    test_reasons_and_validation();
    test_hierarchy_and_typed_quota();
    test_node_resize();
    test_random_invariants();
    sched_free(S);
    return tap_done();
}
