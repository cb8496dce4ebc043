/* The scheduler's policy seam (src/sched/policy.h): the order policies by name, the job key
 * fixed when a job is queued, the node score and victim cost hooks, and the order policies
 * themselves. Scenarios small enough to work out by hand. */
#include <errno.h>
#include <stdlib.h>

#include "sched/sched_internal.h"
#include "tap.h"
#include "sched_fixture.h"

static int T_A, T_B, C_LOW, C_NORMAL;

static void setup(const sched_params_t *p)
{
    sched_free(S);
    S = sched_new(p);
    C_LOW = sched_class_add(S, "low", 10, true, NULL);
    C_NORMAL = sched_class_add(S, "normal", 100, true, NULL);
    T_A = sched_team_add(S, "a", -1, 1, NULL);
    T_B = sched_team_add(S, "b", -1, 1, NULL);
}

static int node(const char *name, int gpus)
{
    sched_node_spec_t n = {.name = name, .gpu_type = "V100", .gpus = gpus};
    return sched_node_add(S, &n, NULL);
}

static int submit_est(uint64_t id, int team, int cls, int gpus, sched_time_t at,
                      sched_time_t estimate)
{
    sched_job_spec_t sp = {.id = id, .team = team, .prio_class = cls,
                           .gpus_milli = (int64_t)gpus * SCHED_MILLI, .submit = at,
                           .estimate = estimate};
    return sched_job_submit(S, &sp, NULL);
}

/* The jobs started by the last cycle, in order, as "1,3,2" (for messages and checks). */
static const char *starts(void)
{
    static char buf[512];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ndec && n < sizeof(buf) - 24; i++)
        if (dec[i].action == SCHED_START)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%llu", n ? "," : "",
                                  (unsigned long long)dec[i].job_id);
    return buf;
}

static const char *preempts(void)
{
    static char buf[512];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ndec && n < sizeof(buf) - 24; i++)
        if (dec[i].action == SCHED_PREEMPT)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%llu", n ? "," : "",
                                  (unsigned long long)dec[i].job_id);
    return buf;
}

/* ---- names ---- */

static void test_names(void)
{
    is_str(sched_order_name(SCHED_ORDER_FIFO), "fifo", "order fifo's name");
    is_int(sched_order_find("fifo"), SCHED_ORDER_FIFO, "fifo by name");
    errno = 0;
    is_int(sched_order_find("sjf"), -1, "an unknown order is refused");
    is_int(errno, ENOENT, "errno ENOENT");
    is_int(sched_order_find(NULL), -1, "no name is refused");
    ok(sched_order_name(SCHED_NORDERS) == NULL, "no name past the orders");
    is_str(sched_placement_name(SCHED_PLACE_BESTFIT), "bestfit", "placement bestfit's name");
    is_int(sched_placement_find("bestfit"), SCHED_PLACE_BESTFIT, "bestfit by name");
    is_int(sched_placement_find("worstfit"), -1, "an unknown placement is refused");
    sched_params_t d = sched_params_default();
    is_int(d.placement, SCHED_PLACE_BESTFIT, "the default placement is bestfit");

    setup(NULL);
    errno = 0;
    is_int(sched_class_set_order(S, 99, SCHED_ORDER_FIFO), -1, "unknown class refused");
    is_int(errno, ENOENT, "errno ENOENT");
    errno = 0;
    is_int(sched_class_set_order(S, C_LOW, SCHED_NORDERS), -1, "unknown order refused");
    is_int(errno, EINVAL, "errno EINVAL");
    is_int(sched_class_set_order(S, C_LOW, -1), 0, "a class takes the cluster's order");
}

/* ---- order fifo: the key is the submit time; a requeued job keeps its age ---- */

static void test_fifo(void)
{
    sched_params_t p = sched_params_default();
    p.order = SCHED_ORDER_FIFO;
    p.fairshare = false;
    p.preemption = false;
    setup(&p);
    node("n1", 8);
    /* ids out of submit order: the key, not the id, decides */
    submit_est(1, T_A, C_NORMAL, 8, 0, 100);
    cycle(0);
    is_str(starts(), "1", "the first job runs");
    submit_est(5, T_A, C_NORMAL, 8, 10, 100);
    submit_est(4, T_B, C_NORMAL, 8, 20, 100);
    submit_est(3, T_A, C_NORMAL, 8, 30, 100);
    submit_est(2, T_B, C_NORMAL, 8, 30, 100);
    cycle(31);
    is_str(starts(), "", "all wait");
    sched_job_finished(S, 1, 100);
    cycle(100);
    is_str(starts(), "5", "the oldest (5, submitted at 10) goes next");
    /* requeued: it keeps its submit time, so it goes before 4, 3, 2 */
    sched_job_stopped(S, 5, 150);
    cycle(150);
    is_str(starts(), "5", "a requeued job keeps its age");
    sched_job_finished(S, 5, 200);
    cycle(200);
    is_str(starts(), "4", "then 4 (submitted at 20)");
    sched_job_finished(S, 4, 300);
    cycle(300);
    is_str(starts(), "2", "a tie in submit time goes to the lower id");
}

/* ---- the node score hook ---- */

static int64_t emptiest_first(const sched_t *s, const job_t *j, int ni, int gpus)
{
    (void)j;
    (void)gpus;
    return -(int64_t)s->nodes[ni].free_whole; /* worst fit: the most free GPUs first */
}

static const sched_policy_t worst_fit = {.name = "worstfit-test", .node_score = emptiest_first};

static void test_node_score(void)
{
    sched_params_t p = sched_params_default();
    setup(&p);
    int n1 = node("n1", 8), n2 = node("n2", 8);
    submit_est(1, T_A, C_NORMAL, 4, 0, 1000);
    cycle(0);
    int first = node_of(1);
    ok(first == n1 || first == n2, "job 1 placed");
    submit_est(2, T_A, C_NORMAL, 2, 1, 1000);
    cycle(1);
    is_int(node_of(2), first, "best fit (no node score): the fuller node");
    S->place_policy = &worst_fit;
    submit_est(3, T_A, C_NORMAL, 1, 2, 1000);
    cycle(2);
    is_int(node_of(3), first == n1 ? n2 : n1, "a node score decides: the emptier node");
    S->place_policy = policy_of_placement(SCHED_PLACE_BESTFIT);
    submit_est(4, T_A, C_NORMAL, 1, 3, 1000);
    cycle(3);
    is_int(node_of(4), first, "back to best fit");
}

/* ---- the victim cost hook ---- */

static double most_work_first(const sched_t *s, const job_t *v, sched_time_t now)
{
    (void)s;
    return -(double)(now - v->start) * (double)v->gpus;
}

static const sched_policy_t costly_victims = {.name = "victims-test",
                                              .victim_cost = most_work_first};

static void run_victim_case(const sched_policy_t *pol, const char *want, const char *what)
{
    sched_params_t p = sched_params_default();
    p.min_runtime_s = 0;
    setup(&p);
    node("n1", 4);
    node("n2", 4);
    if (pol)
        S->place_policy = pol;
    submit_est(1, T_A, C_LOW, 4, 0, 100000);
    cycle(0);
    submit_est(2, T_A, C_LOW, 4, 50, 100000);
    cycle(50);
    is_str(starts(), "2", "%s: second low job runs", what);
    submit_est(3, T_B, C_NORMAL, 4, 100, 1000);
    cycle(100);
    is_str(preempts(), want, "%s", what);
}

static void test_victim_cost(void)
{
    run_victim_case(NULL, "2", "default victim cost: the job that loses the least work");
    run_victim_case(&costly_victims, "1", "a victim cost decides: the job with the most work");
}

/* ---- order srtf: shortest remaining time, with aging ---- */

static sched_params_t one_team_params(int order)
{
    sched_params_t p = sched_params_default();
    p.fairshare = false;
    p.preemption = false;
    p.order = order;
    return p;
}

/* One 8-GPU node held by a blocker (job 100) until `free_at`; jobs wait meanwhile. */
static void blocked_node(int order)
{
    sched_params_t p = one_team_params(order);
    setup(&p);
    node("n1", 8);
    submit_est(100, T_A, C_NORMAL, 8, 0, 1000000);
    cycle(0);
}

static void test_srtf(void)
{
    is_str(sched_order_name(SCHED_ORDER_SRTF), "srtf", "order srtf's name");
    is_int(sched_order_find("srtf"), SCHED_ORDER_SRTF, "srtf by name");
    sched_params_t d = sched_params_default();
    is_int(d.order, SCHED_ORDER_SRTF, "the default order is srtf (chosen from Philly figures)");
    ok(d.srtf_aging == 0.005, "default aging 0.005");
    is_int(d.srtf_unknown_s, 86400, "an unknown duration counts as 24 h");

    /* the same submit time: the shortest first, whatever the ids */
    blocked_node(SCHED_ORDER_SRTF);
    submit_est(1, T_A, C_NORMAL, 8, 10, 5 * 3600);
    submit_est(2, T_A, C_NORMAL, 8, 10, 1 * 3600);
    submit_est(3, T_A, C_NORMAL, 8, 10, 3 * 3600);
    cycle(10);
    sched_job_finished(S, 100, 100);
    cycle(100);
    is_str(starts(), "2", "srtf: the 1 h job first");
    sched_job_finished(S, 2, 200);
    cycle(200);
    is_str(starts(), "3", "srtf: then the 3 h job");

    /* fifo would take the oldest */
    blocked_node(SCHED_ORDER_FIFO);
    submit_est(1, T_A, C_NORMAL, 8, 10, 5 * 3600);
    submit_est(2, T_A, C_NORMAL, 8, 20, 1 * 3600);
    cycle(20);
    sched_job_finished(S, 100, 100);
    cycle(100);
    is_str(starts(), "1", "fifo: the oldest first");

    /* aging 0.005: a 10 h job submitted at 0 and a 1 h job submitted D later: the newcomer goes
     * first only while D x 0.005 < 9 h, so for D < 1800 h */
    blocked_node(SCHED_ORDER_SRTF);
    submit_est(1, T_A, C_NORMAL, 8, 0, 10 * 3600);
    submit_est(2, T_A, C_NORMAL, 8, 1700 * 3600, 1 * 3600);
    cycle(1700 * 3600);
    sched_job_finished(S, 100, 1700 * 3600 + 1);
    cycle(1700 * 3600 + 1);
    is_str(starts(), "2", "aging: 1700 h later, the 1 h job still passes the 10 h one");
    blocked_node(SCHED_ORDER_SRTF);
    submit_est(1, T_A, C_NORMAL, 8, 0, 10 * 3600);
    submit_est(2, T_A, C_NORMAL, 8, 1900 * 3600, 1 * 3600);
    cycle(1900 * 3600);
    sched_job_finished(S, 100, 1900 * 3600 + 1);
    cycle(1900 * 3600 + 1);
    is_str(starts(), "1", "aging: 1900 h later, the 10 h job has waited enough to go first");

    /* a time limit stands in for an estimate; no duration at all counts as 24 h */
    blocked_node(SCHED_ORDER_SRTF);
    sched_job_spec_t sp = {.id = 1, .team = T_A, .prio_class = C_NORMAL, .gpus_milli = 8000,
                           .submit = 10, .time_limit = 2 * 3600};
    sched_job_submit(S, &sp, NULL);
    submit_est(2, T_A, C_NORMAL, 8, 10, 3 * 3600);
    sp = (sched_job_spec_t){.id = 3, .team = T_A, .prio_class = C_NORMAL, .gpus_milli = 8000,
                            .submit = 5};
    sched_job_submit(S, &sp, NULL);
    submit_est(4, T_A, C_NORMAL, 8, 10, 25 * 3600);
    cycle(10);
    const char *want[] = {"1", "2", "3", "4"};
    sched_time_t t = 100;
    for (int i = 0; i < 4; i++, t += 100) {
        sched_job_finished(S, i == 0 ? 100 : (uint64_t)i, t);
        cycle(t);
        is_str(starts(), want[i], "limit 2 h, estimate 3 h, unknown (24 h), estimate 25 h: %d",
               i + 1);
    }

    /* what a checkpointable job already ran is not remaining: 9 h done of 10 h leaves 1 h */
    blocked_node(SCHED_ORDER_SRTF);
    sched_job_finished(S, 100, 1);
    sp = (sched_job_spec_t){.id = 1, .team = T_A, .prio_class = C_NORMAL, .gpus_milli = 8000,
                            .submit = 2, .estimate = 10 * 3600, .checkpointable = true};
    sched_job_submit(S, &sp, NULL);
    cycle(2);
    is_str(starts(), "1", "the 10 h job runs");
    submit_est(2, T_A, C_NORMAL, 8, 10, 2 * 3600);
    submit_est(3, T_A, C_NORMAL, 8, 10, 30 * 60);
    cycle(10);
    sched_job_stopped(S, 1, 9 * 3600 + 2);
    cycle(9 * 3600 + 2);
    is_str(starts(), "3", "the 30 min job before the requeued one");
    sched_job_finished(S, 3, 9 * 3600 + 100);
    cycle(9 * 3600 + 100);
    is_str(starts(), "1", "the requeued job (1 h left) before the 2 h one");
}

/* ---- order las: least attained service, discrete queues, starvation guard ---- */

static void test_las(void)
{
    is_str(sched_order_name(SCHED_ORDER_LAS), "las", "order las's name");
    is_int(sched_order_find("las"), SCHED_ORDER_LAS, "las by name");
    sched_params_t p = one_team_params(SCHED_ORDER_LAS);
    is_int(p.las_nqueues, 2, "two thresholds by default");
    is_int(p.las_queues[0], 3600, "queue 1 from 1 GPU-hour");
    is_int(p.las_queues[1], 36000, "queue 2 from 10 GPU-hours");
    is_int(p.las_starvation_s, 86400, "starvation guard 24 h");
    is_int(las_queue_of(&p, 0), 0, "no service: queue 0");
    is_int(las_queue_of(&p, 3599), 0, "under 1 GPU-hour: queue 0");
    is_int(las_queue_of(&p, 3600), 1, "1 GPU-hour: queue 1");
    is_int(las_queue_of(&p, 36000), 2, "10 GPU-hours: queue 2");

    /* job 1 ran 1 h on 4 GPUs (4 GPU-hours: queue 1) and is requeued; job 2, newer but with no
     * service, goes first */
    setup(&p);
    node("n1", 4);
    submit_est(1, T_A, C_NORMAL, 4, 0, 100000);
    cycle(0);
    is_str(starts(), "1", "job 1 runs");
    submit_est(2, T_A, C_NORMAL, 4, 1800, 100000);
    cycle(1800);
    sched_job_stopped(S, 1, 3600);
    cycle(3600);
    is_str(starts(), "2", "las: the job without service before the one that had 4 GPU-hours");
    /* starvation guard: job 1 (queue 1) was queued at 3600; a newcomer of queue 0 submitted
     * more than 24 h after that goes behind it, one submitted before goes ahead */
    submit_est(3, T_A, C_NORMAL, 4, 3600 + 86400 - 10, 100000);
    submit_est(4, T_A, C_NORMAL, 4, 3600 + 86400 + 10, 100000);
    cycle(3600 + 86400 + 10);
    sched_job_finished(S, 2, 3600 + 86400 + 20);
    cycle(3600 + 86400 + 20);
    is_str(starts(), "3", "a queue-0 newcomer from within 24 h still goes first");
    sched_job_finished(S, 3, 3600 + 86400 + 30);
    cycle(3600 + 86400 + 30);
    is_str(starts(), "1", "then the starving job, before a newcomer from after 24 h");

    /* the same under fifo: the oldest (job 1) first */
    p.order = SCHED_ORDER_FIFO;
    setup(&p);
    node("n1", 4);
    submit_est(1, T_A, C_NORMAL, 4, 0, 100000);
    cycle(0);
    submit_est(2, T_A, C_NORMAL, 4, 1800, 100000);
    cycle(1800);
    sched_job_stopped(S, 1, 3600);
    cycle(3600);
    is_str(starts(), "1", "fifo: the requeued job keeps its age and goes first");
}

/* ---- what the order does not change: tiers, and fair share between teams ---- */

static void test_order_scope(void)
{
    /* a higher tier goes first, however long */
    blocked_node(SCHED_ORDER_SRTF);
    submit_est(1, T_A, C_LOW, 8, 10, 60);
    submit_est(2, T_A, C_NORMAL, 8, 10, 100 * 3600);
    cycle(10);
    sched_job_finished(S, 100, 100);
    cycle(100);
    is_str(starts(), "2", "srtf: the normal class's 100 h job before the low class's 1 min one");

    /* fair share between teams: team b (no usage) goes before team a, which holds the node,
     * whatever the lengths; inside team a, the shortest */
    sched_params_t p = sched_params_default();
    p.preemption = false;
    setup(&p);
    node("n1", 8);
    node("n2", 8);
    submit_est(100, T_A, C_NORMAL, 8, 0, 1000000);
    cycle(0);
    submit_est(1, T_A, C_NORMAL, 8, 10, 60);
    submit_est(2, T_A, C_NORMAL, 8, 10, 30);
    submit_est(3, T_B, C_NORMAL, 8, 10, 100 * 3600);
    cycle(10);
    is_str(starts(), "3", "fair share: team b's long job, not team a's short ones");
    sched_job_finished(S, 100, 20);
    cycle(20);
    is_str(starts(), "2", "inside team a: the 30 s job before the 60 s one");
}

/* ---- a class's own order; changing the order re-sorts what waits ---- */

static void test_class_order_and_rekey(void)
{
    blocked_node(SCHED_ORDER_SRTF);
    ok(sched_class_set_order(S, C_NORMAL, SCHED_ORDER_FIFO) == 0, "class normal orders fifo");
    submit_est(1, T_A, C_NORMAL, 8, 10, 10 * 3600);
    submit_est(2, T_A, C_NORMAL, 8, 20, 60);
    cycle(20);
    sched_job_finished(S, 100, 100);
    cycle(100);
    is_str(starts(), "1", "class normal: fifo although the cluster's order is srtf");

    blocked_node(SCHED_ORDER_FIFO);
    submit_est(1, T_A, C_NORMAL, 8, 10, 10 * 3600);
    submit_est(2, T_A, C_NORMAL, 8, 20, 60);
    cycle(20);
    ok(sched_class_set_order(S, C_NORMAL, SCHED_ORDER_SRTF) == 0, "class normal now srtf");
    sched_job_finished(S, 100, 100);
    cycle(100);
    is_str(starts(), "2", "the waiting jobs were re-keyed: the short one first");

    blocked_node(SCHED_ORDER_FIFO);
    submit_est(1, T_A, C_NORMAL, 8, 10, 10 * 3600);
    submit_est(2, T_A, C_NORMAL, 8, 20, 60);
    cycle(20);
    sched_params_t p = *sched_params(S);
    p.order = SCHED_ORDER_SRTF;
    sched_set_params(S, &p);
    sched_job_finished(S, 100, 100);
    cycle(100);
    is_str(starts(), "2", "sched_set_params re-keys the waiting jobs too");
}

int main(void)
{
    test_names();
    test_fifo();
    test_node_score();
    test_victim_cost();
    test_srtf();
    test_las();
    test_order_scope();
    test_class_order_and_rekey();
    sched_free(S);
    return tap_done();
}
