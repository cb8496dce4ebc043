/* The scheduler's policy seam (src/sched/policy.h): the order policies by name, the job key
 * fixed when a job is queued, the node score and victim cost hooks, and the order policies
 * themselves. Scenarios small enough to work out by hand. */
#include <errno.h>
#include <stdlib.h>

#include "sched/sched_internal.h"
#include "tap.h"

static sched_t *S;
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

static size_t ndec;
static const sched_decision_t *dec;

static void cycle(sched_time_t now)
{
    dec = sched_cycle(S, now, &ndec);
    char msg[256];
    if (!sched_check_invariants(S, msg, sizeof(msg)))
        ok(0, "invariants after cycle at %lld: %s", (long long)now, msg);
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

static int node_of(uint64_t id)
{
    sched_job_info_t in;
    if (sched_job_info(S, id, &in) < 0 || in.nslots < 1)
        return -1;
    return in.slots[0].node;
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
    is_int(d.order, SCHED_ORDER_FIFO, "the default order is fifo");
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

/* ---- FIFO, the default: the key is the submit time; a requeued job keeps its age ---- */

static void test_fifo_default(void)
{
    sched_params_t p = sched_params_default();
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

int main(void)
{
    test_names();
    test_fifo_default();
    test_node_score();
    test_victim_cost();
    sched_free(S);
    return tap_done();
}
