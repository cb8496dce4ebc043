/* Scheduler core: nodes an admin takes out of scheduling (drain, cordon) and maintenance
 * windows. Small scenarios worked out by hand, and a randomized run that checks the
 * invariants (check_admin among them) after every event. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "sched/sched.h"
#include "tap.h"
#include "sched_fixture.h"

static int T_A, C_LOW, C_HIGH;

static void setup(void)
{
    sched_free(S);
    sched_params_t p = sched_params_default();
    p.half_life_s = 3600;
    p.min_runtime_s = 50;
    p.grace_s = 5;
    S = sched_new(&p);
    C_LOW = sched_class_add(S, "low", 10, true, NULL);
    C_HIGH = sched_class_add(S, "high", 1000, false, NULL);
    T_A = sched_team_add(S, "a", -1, 1, NULL);
}

static int node(const char *name, int gpus)
{
    sched_node_spec_t n = {.name = name, .gpu_type = "A100", .gpus = gpus, .block = "b1",
                           .spine = "s1", .leaf = "l1"};
    return sched_node_add(S, &n, NULL);
}

/* A job of gpus milli-GPUs with a time limit and an estimate (0 = none). */
static int submit(uint64_t id, int cls, int64_t gpus, sched_time_t limit, sched_time_t estimate,
                  sched_time_t at)
{
    sched_job_spec_t sp = {.id = id, .team = T_A, .prio_class = cls, .gpus_milli = gpus,
                           .time_limit = limit, .estimate = estimate, .submit = at};
    return sched_job_submit(S, &sp, NULL);
}

static size_t preemptions(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ndec; i++)
        n += dec[i].action == SCHED_PREEMPT;
    return n;
}

/* Drain: running jobs stay, new ones go elsewhere (even where best fit would pick the drained
 * node), and wait when only the drained node has room; uncordon lets them in again. */
static void test_drain(void)
{
    setup();
    int n0 = node("n0", 8), n1 = node("n1", 8);
    submit(1, C_LOW, 4000, 0, 0, 0);
    cycle(0);
    ok(started(1), "job 1 starts");
    int x = node_of(1), y = x == n0 ? n1 : n0;
    is_int(sched_node_set_schedulable(S, x, false), 0, "drain the node of job 1");
    sched_node_info_t ni;
    sched_node_info(S, x, &ni);
    ok(ni.up && !ni.schedulable && ni.jobs == 1, "the drained node is up, not schedulable, "
       "and still runs job 1");
    submit(2, C_LOW, 4000, 0, 0, 1);
    cycle(1);
    ok(started(2), "job 2 starts");
    is_int(node_of(2), y, "job 2 goes to the other node, not the drained (fuller) one");
    is_int(info(1).state, SCHED_RUNNING, "job 1 keeps running on the drained node");
    submit(3, C_LOW, 4000, 0, 0, 2);
    submit(4, C_LOW, 4000, 0, 0, 3);
    cycle(3);
    ok(started(3) && node_of(3) == y, "job 3 fills the other node");
    ok(!started(4), "job 4 does not start on the drained node's 4 free GPUs");
    is_int(info(4).reason, SCHED_REASON_DRAINED, "job 4 waits with reason drained (the node that could hold it is drained)");
    is_str(sched_reason_name(info(4).reason), "drained", "named 'drained'");
    /* down and up again: still drained (an agent re-registering) */
    sched_node_set_up(S, x, false);
    sched_node_set_up(S, x, true);
    sched_job_finished(S, 1, 10);
    cycle(10);
    ok(!started(4), "after job 1 ends and the node comes back up, job 4 still stays off it");
    is_int(info(4).reason, SCHED_REASON_DRAINED, "job 4 still waits with reason drained");
    /* a job the drained node could not take anyway (a window there, no time limit) */
    sched_maintenance_add(S, "w", &x, 1, 1000, 2000, NULL);
    submit(5, C_LOW, 8000, 0, 0, 10);
    cycle(10);
    is_int(info(5).reason, SCHED_REASON_CAPACITY, "a job the drained node could not take "
           "anyway (its window) waits for capacity, not 'drained'");
    sched_job_remove(S, 5, 10);
    sched_maintenance_remove(S, "w");
    is_int(sched_node_set_schedulable(S, x, true), 0, "uncordon");
    cycle(11);
    ok(started(4) && node_of(4) == x, "uncordoned, job 4 starts there");
    errno = 0;
    ok(sched_node_set_schedulable(S, 99, false) == -1 && errno == ENOENT, "unknown node: ENOENT");
}

/* Preemption makes no room on a node that can't take the job. */
static void test_no_preemption_where_it_cannot_go(void)
{
    setup();
    int n0 = node("n0", 8);
    submit(1, C_LOW, 8000, 0, 0, 0);
    cycle(0);
    ok(started(1), "a low-priority job fills the node");
    sched_node_set_schedulable(S, n0, false);
    submit(2, C_HIGH, 8000, 0, 0, 100);
    cycle(100);
    is_int(preemptions(), 0, "a high-priority job does not preempt on a drained node");
    ok(!started(2), "nor start there");
    sched_node_set_schedulable(S, n0, true);
    /* a window on the node: a job without a time limit could not start there either */
    sched_time_t w0 = 1000, w1 = 2000;
    ok(sched_maintenance_add(S, "w", &n0, 1, w0, w1, NULL) == 0, "window [1000, 2000) on n0");
    cycle(101);
    is_int(preemptions(), 0, "no preemption for a job without a limit on a node under a window");
    sched_job_remove(S, 2, 102);
    submit(3, C_HIGH, 8000, 500, 0, 102);
    cycle(102);
    is_int(preemptions(), 1, "a job that ends before the window does preempt for room there");
}

/* The window's rules, one per job: limit before the window, no limit, limit past the window,
 * limit exactly to the window, estimate only, estimate short but limit long. */
static void test_window_rules(void)
{
    setup();
    int n0 = node("n0", 8);
    gt_error_t err = {0};
    ok(sched_maintenance_add(S, "kernel", &n0, 1, 1000, 2000, &err) == 0,
       "add maintenance 'kernel' [1000, 2000)");
    submit(1, C_LOW, 1000, 500, 0, 0);
    submit(2, C_LOW, 1000, 0, 0, 0);
    submit(3, C_LOW, 1000, 1500, 0, 0);
    submit(4, C_LOW, 1000, 1000, 0, 0);
    submit(5, C_LOW, 1000, 0, 300, 0);
    submit(6, C_LOW, 1000, 2000, 300, 0);
    cycle(0);
    ok(started(1), "a job whose time limit ends before the window starts");
    ok(!started(2), "a job without a time limit does not");
    is_int(info(2).reason, SCHED_REASON_MAINTENANCE, "it waits with reason maintenance");
    is_str(sched_reason_name(info(2).reason), "maintenance", "named 'maintenance'");
    ok(!started(3), "a job whose limit ends inside the window does not start");
    is_int(info(3).reason, SCHED_REASON_MAINTENANCE, "reason maintenance");
    ok(started(4), "a job whose limit ends exactly at the window's start starts");
    ok(started(5), "a job with only an estimate that ends before the window starts");
    ok(!started(6), "a job whose estimate is short but whose limit is long does not");
    sched_node_info_t ni;
    sched_node_info(S, n0, &ni);
    is_int(ni.maintenance_start, 1000, "the node's info shows the window's start");
    ok(ni.schedulable, "a node with a window stays schedulable");
    submit(7, C_LOW, 1000, 10, 0, 1000);
    cycle(1000);
    ok(!started(7), "during the window even a 10 s job does not start");
    is_int(info(7).reason, SCHED_REASON_MAINTENANCE, "reason maintenance");
    cycle(1999);
    ok(!started(7), "nor at its last second");
    cycle(2000);
    ok(started(2) && started(3) && started(6) && started(7),
       "when the window has ended, the jobs it held back start");
    sched_node_info(S, n0, &ni);
    is_int(ni.maintenance_start, SCHED_NEVER, "the ended window no longer shows");
    /* validation */
    errno = 0;
    ok(sched_maintenance_add(S, "kernel", &n0, 1, 3000, 4000, &err) == -1 && errno == EEXIST,
       "a taken name: EEXIST (%s)", err.msg);
    errno = 0;
    ok(sched_maintenance_add(S, "bad", &n0, 1, 4000, 4000, &err) == -1 && errno == EINVAL,
       "end not after start: EINVAL (%s)", err.msg);
    errno = 0;
    ok(sched_maintenance_add(S, "none", &n0, 0, 4000, 5000, &err) == -1 && errno == EINVAL,
       "no nodes: EINVAL (%s)", err.msg);
    int bad = 7;
    errno = 0;
    ok(sched_maintenance_add(S, "ghost", &bad, 1, 4000, 5000, &err) == -1 && errno == EINVAL,
       "an unknown node: EINVAL (%s)", err.msg);
    errno = 0;
    ok(sched_maintenance_add(S, "", &n0, 1, 4000, 5000, &err) == -1 && errno == EINVAL,
       "an empty name: EINVAL");
    is_int(sched_maintenance_count(S), 1, "one window known");
    is_int(sched_maintenance_remove(S, "kernel"), 0, "remove it");
    errno = 0;
    ok(sched_maintenance_remove(S, "kernel") == -1 && errno == ENOENT, "remove again: ENOENT");
    is_int(sched_maintenance_count(S), 0, "none left");
}

/* Removing a window frees its nodes at once; a window on one node leaves the others free;
 * a gang needs every node clear; fractions stay off shared GPUs of a window's node. */
static void test_window_nodes(void)
{
    setup();
    int n0 = node("n0", 8), n1 = node("n1", 8);
    sched_maintenance_add(S, "w1", &n1, 1, 1000, 2000, NULL);
    sched_job_spec_t gang = {.id = 1, .team = T_A, .prio_class = C_LOW, .gpus_milli = 16000,
                             .nodes = 2, .submit = 0};
    sched_job_submit(S, &gang, NULL);
    submit(2, C_LOW, 8000, 0, 0, 1);
    cycle(1);
    ok(!started(1), "a 2-node gang without a limit does not start when one node has a window");
    is_int(info(1).reason, SCHED_REASON_MAINTENANCE, "reason maintenance");
    ok(started(2) && node_of(2) == n0, "a job without a limit goes to the node without one");
    sched_job_finished(S, 2, 5);
    ok(sched_maintenance_remove(S, "w1") == 0, "remove the window");
    cycle(5);
    ok(started(1), "the gang starts once the window is removed");
    sched_job_finished(S, 1, 6);
    /* fractions */
    sched_maintenance_add(S, "w2", &n0, 1, 1000, 2000, NULL);
    sched_maintenance_add(S, "w3", &n1, 1, 1000, 2000, NULL);
    submit(3, C_LOW, 500, 100, 0, 7);
    cycle(7);
    ok(started(3), "half a GPU with a short limit starts");
    submit(4, C_LOW, 250, 0, 0, 8);
    cycle(8);
    ok(!started(4), "a quarter GPU without a limit does not share its GPU");
    is_int(info(4).reason, SCHED_REASON_MAINTENANCE, "reason maintenance");
}

/* Two jobs of one shape and one planning end, but different limits: the failure remembered
 * for the first (its limit runs into the window) does not hold back the second. */
static void test_failure_cache(void)
{
    setup();
    int n0 = node("n0", 8);
    sched_maintenance_add(S, "w", &n0, 1, 1000, 2000, NULL);
    submit(1, C_LOW, 1000, 5000, 100, 0);
    submit(2, C_LOW, 1000, 100, 100, 1);
    cycle(1);
    ok(!started(1), "the job with a long limit waits");
    ok(started(2), "the job of the same shape and estimate with a short limit starts");
}

/* Backfill plans around windows: a blocked job without a limit is promised the node that
 * frees up later but has no window, not the one that frees up first but has one. */
static void test_backfill_plans_around_windows(void)
{
    setup();
    node("n0", 8);
    node("n1", 8);
    submit(1, C_LOW, 8000, 100, 0, 0);
    submit(2, C_LOW, 8000, 200, 0, 0);
    cycle(0);
    ok(started(1) && started(2), "two jobs fill both nodes, ending at 100 and 200");
    int early = node_of(1);
    sched_maintenance_add(S, "w", &early, 1, 1000, 2000, NULL);
    submit(3, C_LOW, 8000, 0, 0, 1);
    cycle(1);
    ok(!started(3), "a job without a limit waits");
    is_int(info(3).estimated_start, 200, "its reservation is on the node without a window (free "
           "at 200), not on the one free at 100");
    sched_node_set_schedulable(S, 1 - early, false);
    cycle(2);
    is_int(info(3).estimated_start, SCHED_NEVER, "with that node drained, it gets no promise");
}

/* CPU-only jobs (gpus: 0) follow the same rules: not on a drained node, not past a window. */
static void test_cpu_only(void)
{
    setup();
    int n0 = node("n0", 8), n1 = node("n1", 8);
    sched_node_set_schedulable(S, n0, false);
    submit(1, C_LOW, 0, 0, 0, 0);
    cycle(0);
    ok(started(1) && node_of(1) == n1, "a CPU-only job goes to the schedulable node");
    sched_maintenance_add(S, "w", &n1, 1, 1000, 2000, NULL);
    submit(2, C_LOW, 0, 0, 0, 1);
    submit(3, C_LOW, 0, 100, 0, 1);
    cycle(1);
    ok(!started(2), "a CPU-only job without a limit does not start before a window");
    is_int(info(2).reason, SCHED_REASON_MAINTENANCE, "reason maintenance");
    ok(started(3) && node_of(3) == n1, "one with a short limit does");
}

/* A random run with drains, uncordons and windows coming and going: the invariants hold
 * after every event, and the windows and drains did hold work back. */
static void test_random_admin(void)
{
    setup();
    char name[32];
    int nn = 12;
    for (int i = 0; i < nn; i++) {
        snprintf(name, sizeof(name), "n%02d", i);
        node(name, 8);
    }
    unsigned seed = 11;
    uint64_t next = 1, live[4096];
    int nlive = 0, windows = 0, waited = 0;
    bool all_ok = true;
    char msg[256];
    for (sched_time_t now = 0; now < 4000 && all_ok; now += 10) {
        for (int k = 0; k < 3; k++) {
            int64_t g = 1000 * (1 << (rand_r(&seed) % 4));
            sched_time_t limit = rand_r(&seed) % 3 ? 50 + rand_r(&seed) % 400 : 0;
            if (submit(next, rand_r(&seed) % 2 ? C_LOW : C_HIGH, g, limit,
                       rand_r(&seed) % 2 ? 30 : 0, now) == 0 && nlive < 4096)
                live[nlive++] = next;
            next++;
        }
        if (rand_r(&seed) % 8 == 0)
            sched_node_set_schedulable(S, rand_r(&seed) % nn, rand_r(&seed) % 3 == 0);
        if (rand_r(&seed) % 10 == 0) {
            int nodes[3] = {rand_r(&seed) % nn, rand_r(&seed) % nn, rand_r(&seed) % nn};
            snprintf(name, sizeof(name), "w%d", windows++);
            sched_time_t start = now + rand_r(&seed) % 300;
            sched_maintenance_add(S, name, nodes, 1 + rand_r(&seed) % 3, start,
                                  start + 50 + rand_r(&seed) % 200, NULL);
        }
        if (windows && rand_r(&seed) % 15 == 0) {
            snprintf(name, sizeof(name), "w%d", rand_r(&seed) % windows);
            sched_maintenance_remove(S, name);
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
            waited += in.state == SCHED_PENDING && in.reason == SCHED_REASON_MAINTENANCE;
            if (in.state == SCHED_RUNNING && rand_r(&seed) % 20 == 0)
                sched_job_finished(S, live[i], now);
        }
        if (!sched_check_invariants(S, msg, sizeof(msg)))
            all_ok = false;
    }
    sched_stats_t st;
    sched_get_stats(S, &st);
    ok(all_ok, "invariants hold after every event of a random run with drains and windows (%s)",
       all_ok ? "ok" : msg);
    ok(st.starts > 200 && waited > 0, "the run started %llu jobs; jobs waited for maintenance "
       "%d times", (unsigned long long)st.starts, waited);
}

int main(void)
{
    test_drain();
    test_no_preemption_where_it_cannot_go();
    test_window_rules();
    test_window_nodes();
    test_failure_cache();
    test_backfill_plans_around_windows();
    test_cpu_only();
    test_random_admin();
    is_int(invariant_failures, 0, "no invariant failed after any cycle");
    sched_free(S);
    return tap_done();
}
