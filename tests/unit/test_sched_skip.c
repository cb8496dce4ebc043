/* Scheduler core: taking passed-over entries ahead of their turn (cycle.c, run_skip_ahead),
 * giving up a reclaim try that no node could serve (preempt.c, reach_any) and skipping
 * one that a like job of another team showed hopeless (cycle.c, reclaim_known_hopeless)
 * change what a pass costs, never what it decides. Two schedulers, one with them and one without
 * (sched_params.no_skip_ahead, no_reclaim_bound), get the same random events; after every pass
 * their decisions must be the same, in the same order. The workload is built to reach the
 * cases that matter: few reservations (so passes hand them all out and skip-ahead starts),
 * quotas and limits on several teams (jobs within quota behind jobs that are not: a run's keys
 * do not grow), classes, gangs, fractions, CPU-only jobs and GPU jobs that ask CPUs too, and
 * preemption. A second workload has one class and no fractions, so that runs' whole rests are
 * passed over at once (cycle.c, run_pass_over_rest: teams with one class in their queue) and
 * the pass reaches them at their places: rests that fit nowhere, rests over their team's
 * limit (before the pass's reservations are handed out too), and rests that fit only on
 * reserved GPUs (each job's estimate against the reservations, by the team's dur_min, which
 * the queue checks after every pass say is a bound below its entries'). A third gives each
 * team's jobs a class of its own (test_same_decisions says more). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"
#include "tap.h"

#define NTEAMS 6

static sched_t *make(bool skip_ahead, int reservations)
{
    sched_params_t p = sched_params_default();
    p.half_life_s = 3600;
    p.min_runtime_s = 60;
    p.grace_s = 10;
    p.reservations = reservations;
    p.no_skip_ahead = p.no_reclaim_bound = p.no_rest_search = p.no_shared_walk = !skip_ahead;
    sched_t *s = sched_new(&p);
    sched_class_add(s, "low", 10, true, NULL);
    sched_class_add(s, "normal", 100, true, NULL);
    sched_class_add(s, "high", 1000, false, NULL);
    for (int t = 0; t < NTEAMS; t++) {
        char name[16];
        snprintf(name, sizeof(name), "t%d", t);
        int team = sched_team_add(s, name, -1, 1 + t % 3, NULL);
        /* quotas of 8 to 48 GPUs, limits above them (one team without a limit) */
        sched_team_set_quota(s, team, -1, 8000 * (1 + t), t == 0 ? -1 : 16000 * (1 + t), NULL);
    }
    for (int i = 0; i < 20; i++) {
        char name[16], leaf[8];
        snprintf(name, sizeof(name), "n%02d", i);
        snprintf(leaf, sizeof(leaf), "l%d", i / 5);
        sched_node_spec_t n = {.name = name, .gpu_type = "A100", .gpus = 8, .block = "b1",
                               .spine = "s1", .leaf = leaf, .nvlink_groups = 2,
                               .cpus_milli = 64000, .memory_mib = 512 * 1024};
        sched_node_add(s, &n, NULL);
    }
    return s;
}

/* An 8-GPU node of GPU type `type` on leaf l1, for the scenarios below. */
static void add_node(sched_t *s, const char *name, const char *type)
{
    sched_node_spec_t n = {.name = name, .gpu_type = type, .gpus = 8, .block = "b1",
                           .spine = "s1", .leaf = "l1", .cpus_milli = 64000,
                           .memory_mib = 512 * 1024};
    sched_node_add(s, &n, NULL);
}

/* A scheduler for a scenario: `reservations` reservations, the shortcuts on or off, the minimum
 * runtime and grace period given (-1: the defaults). */
static sched_t *scenario(bool shortcut, int reservations, sched_time_t min_runtime,
                         sched_time_t grace)
{
    sched_params_t p = sched_params_default();
    if (min_runtime >= 0)
        p.min_runtime_s = min_runtime;
    if (grace >= 0)
        p.grace_s = grace;
    p.reservations = reservations;
    p.no_skip_ahead = p.no_reclaim_bound = p.no_rest_search = p.no_shared_walk = !shortcut;
    return sched_new(&p);
}

static bool same_decisions(const sched_decision_t *a, size_t na, const sched_decision_t *b,
                           size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].action != b[i].action || a[i].job_id != b[i].job_id ||
            a[i].for_id != b[i].for_id)
            return false;
    return true;
}

/* The random workloads: classes and fractions mixed; one class, no fractions (whole rests
 * passed over at once); each team's jobs in a class of its own, no fractions (runs of every
 * class taken ahead and passed over at once: a high class's may preempt), and for odd seeds
 * no reservations (the pass hands them all out before any job waits: capacity_wait is still
 * false when it takes the first entries ahead). */
enum workload { MIXED, ONE_CLASS, TEAM_CLASSES };

static void test_same_decisions(unsigned seed0, enum workload wl)
{
    bool one_class = wl != MIXED;
    int reservations = wl == TEAM_CLASSES && seed0 % 2 ? 0 : 2;
    sched_t *on = make(true, reservations), *off = make(false, reservations);
    unsigned seed = seed0;
    uint64_t next = 1;
    uint64_t live[8192];
    int nlive = 0;
    bool same = true;
    sched_time_t at = -1;
    size_t total = 0;
    char broken[256] = "";
    for (sched_time_t now = 0; now < 20000 && same; now += 5) {
        int arrivals = rand_r(&seed) % 4;
        for (int k = 0; k < arrivals; k++) {
            int r = rand_r(&seed) % 20;
            int64_t g = r == 0   ? 0                                   /* CPU-only */
                        : r < 3  ? (one_class ? 4000 : 250 * (1 + rand_r(&seed) % 3))
                        : r < 16 ? 1000 * (1 << (rand_r(&seed) % 4))   /* 1 to 8 GPUs */
                                 : 8000 * (2 + rand_r(&seed) % 3);     /* a gang of 2 to 4 */
            int team = rand_r(&seed) % NTEAMS;
            sched_job_spec_t sp = {.id = next, .team = team,
                                   .prio_class = wl == TEAM_CLASSES       ? team % 3
                                                 : one_class              ? 1
                                                 : rand_r(&seed) % 7 == 0 ? 2
                                                                          : rand_r(&seed) % 2,
                                   .gpus_milli = g, .submit = now,
                                   .estimate = 30 + rand_r(&seed) % 2000,
                                   .checkpointable = rand_r(&seed) % 2};
            if (g == 0)
                sp.cpus_milli = 8000;
            else if (rand_r(&seed) % 6 == 0) /* some GPU jobs ask CPUs too (of 64 a node) */
                sp.cpus_milli = 8000 * (1 + rand_r(&seed) % 6);
            int ra = sched_job_submit(on, &sp, NULL), rb = sched_job_submit(off, &sp, NULL);
            same &= ra == rb;
            if (ra == 0 && nlive < 8192)
                live[nlive++] = next;
            next++;
        }
        size_t na, nb;
        const sched_decision_t *da = sched_cycle(on, now, &na);
        const sched_decision_t *db = sched_cycle(off, now, &nb);
        if (!same_decisions(da, na, db, nb) ||
            sched_capacity_wait(on) != sched_capacity_wait(off)) {
            same = false;
            at = now;
            break;
        }
        /* the queues' counts and bounds, and every policy invariant, with the shortcuts and
         * without */
        if (!sched_check_queues(on, broken, sizeof(broken)) ||
            !sched_check_invariants(on, broken, sizeof(broken)) ||
            !sched_check_invariants(off, broken, sizeof(broken))) {
            at = now;
            break;
        }
        total += na;
        for (size_t i = 0; i < na; i++)
            if (da[i].action == SCHED_PREEMPT) {
                sched_job_stopped(on, da[i].job_id, now);
                sched_job_stopped(off, da[i].job_id, now);
            }
        for (int i = 0; i < nlive; i++) {
            sched_job_info_t in;
            if (sched_job_info(on, live[i], &in) < 0) {
                live[i--] = live[--nlive];
                continue;
            }
            if (in.state == SCHED_RUNNING && rand_r(&seed) % 40 == 0) {
                sched_job_finished(on, live[i], now);
                sched_job_finished(off, live[i], now);
            }
        }
    }
    sched_stats_t sa, sb;
    sched_get_stats(on, &sa);
    sched_get_stats(off, &sb);
    static const char *const names[] = {"mixed", "one class", "a class per team"};
    ok(same, "seed %u, %s, %d reservations: the same decisions (and capacity wait) with and "
       "without the shortcuts after every pass%s", seed0, names[wl], reservations,
       same ? "" : " (they differ at the pass at the time below)");
    if (!same)
        printf("# first difference at t=%lld\n", (long long)at);
    ok(!broken[0], "seed %u: its queues' counts and bounds and the policy invariants hold after "
       "every pass%s%s", seed0, broken[0] ? ": " : "", broken);
    /* (the places where a pass asks whether anyone left can act differ: with the shortcuts it
     * does not ask where a run that can act is at hand, cycle.c, yes_until_winner; the
     * answers, and so the passes' ends, are the same) */
    ok(sa.jobs_examined == sb.jobs_examined && sa.starts == sb.starts &&
           sa.preemptions == sb.preemptions && sa.cycles == sb.cycles &&
           sa.quiet_cycles == sb.quiet_cycles,
       "seed %u: the same passes and passes skipped, jobs examined (%llu), starts (%llu), "
       "preemptions (%llu); a pass asked whether anyone could act %llu times (%llu "
       "without the shortcuts)", seed0,
       (unsigned long long)sa.jobs_examined, (unsigned long long)sa.starts,
       (unsigned long long)sa.preemptions, (unsigned long long)sa.pass_checks,
       (unsigned long long)sb.pass_checks);
    ok(sa.reclaims_known_hopeless > 500 && sb.reclaims_known_hopeless == 0,
       "seed %u: %llu reclaim tries were known hopeless from another team's", seed0,
       (unsigned long long)sa.reclaims_known_hopeless);
    ok(sa.skipped_ahead > 1000 && sb.skipped_ahead == 0 && total > 500,
       "seed %u: %llu entries were taken ahead of their turn (%zu decisions)", seed0,
       (unsigned long long)sa.skipped_ahead, total);
    if (one_class)
        ok(sa.rests_passed_over > 100, "seed %u, %s: %llu runs' rests were passed over at once",
           seed0, names[wl], (unsigned long long)sa.rests_passed_over);
    sched_free(on);
    sched_free(off);
}

/* A rest passed over at once is reached only to find where the pass checks (cycle.c,
 * run_pass_over_rest): whether its jobs wait for GPUs must be counted already. Here the entry
 * before the rest is over its team's limit (it waits for quota, not GPUs) and a job after it
 * waits for GPUs: the pass must say that a job waits for GPUs, with skip-ahead or without. */
static void test_rest_after_over_limit(bool skip_ahead)
{
    sched_params_t p = sched_params_default();
    p.reservations = 0; /* every reservation handed out: skip-ahead from the first entry */
    p.preemption = false;
    p.no_skip_ahead = !skip_ahead;
    sched_t *s = sched_new(&p);
    sched_class_add(s, "low", 10, true, NULL);
    sched_class_add(s, "normal", 100, true, NULL);
    int a = sched_team_add(s, "a", -1, 1, NULL), b = sched_team_add(s, "b", -1, 1, NULL);
    int c = sched_team_add(s, "c", -1, 1, NULL);
    sched_team_set_quota(s, a, -1, 0, 4000, NULL); /* a may hold 4 GPUs */
    add_node(s, "n1", "A100");
    sched_job_spec_t full = {.id = 1, .team = b, .prio_class = 1, .gpus_milli = 8000};
    sched_job_submit(s, &full, NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    /* a: 8 GPUs (over its limit), then 1 GPU (within it, but no GPU is free); c: a CPU-only
     * job in a lower class, after them, that keeps the pass going */
    sched_job_spec_t big = {.id = 2, .team = a, .prio_class = 1, .gpus_milli = 8000, .submit = 1};
    sched_job_spec_t one = {.id = 3, .team = a, .prio_class = 1, .gpus_milli = 1000, .submit = 1};
    sched_job_spec_t cpu = {.id = 4, .team = c, .prio_class = 0, .cpus_milli = 4000, .submit = 1};
    sched_job_submit(s, &big, NULL);
    sched_job_submit(s, &one, NULL);
    sched_job_submit(s, &cpu, NULL);
    const sched_decision_t *d = sched_cycle(s, 1, &nd);
    sched_job_info_t in;
    ok(nd == 1 && d[0].action == SCHED_START && d[0].job_id == 4 && sched_capacity_wait(s) &&
           sched_job_info(s, 3, &in) == 0 && in.state == SCHED_PENDING,
       "%s skip-ahead: the CPU-only job starts, and the 1-GPU job behind the one over its "
       "team's limit waits for GPUs (capacity wait %d)",
       skip_ahead ? "with" : "without", sched_capacity_wait(s));
    sched_free(s);
}

/* Entries taken ahead of their turn after one over its team's limit: whether they wait for
 * GPUs counts when the pass reaches them (shadow_reach). Here team a's first entry is over its
 * limit (it waits for quota: the pass has seen no job wait for GPUs yet), four that need 4
 * GPUs follow (within the limit, but only 3 are free), then a 1-GPU job that starts: the pass
 * must say that jobs wait for GPUs, with the shortcuts or without. */
static void test_ahead_after_over_limit(bool skip_ahead)
{
    sched_params_t p = sched_params_default();
    p.reservations = 0; /* every reservation handed out: skip-ahead from the first entry */
    p.preemption = false;
    p.no_skip_ahead = p.no_rest_search = !skip_ahead;
    sched_t *s = sched_new(&p);
    sched_class_add(s, "normal", 100, true, NULL);
    int a = sched_team_add(s, "a", -1, 1, NULL), b = sched_team_add(s, "b", -1, 1, NULL);
    sched_team_set_quota(s, a, -1, 0, 4000, NULL); /* a may hold 4 GPUs */
    add_node(s, "n1", "A100");
    sched_job_spec_t most = {.id = 1, .team = b, .gpus_milli = 5000};
    sched_job_submit(s, &most, NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    for (uint64_t id = 2; id <= 7; id++) {
        sched_job_spec_t sp = {.id = id, .team = a, .submit = 1,
                               .gpus_milli = id == 2 ? 8000 : id == 7 ? 1000 : 4000};
        sched_job_submit(s, &sp, NULL);
    }
    const sched_decision_t *d = sched_cycle(s, 1, &nd);
    sched_stats_t st;
    sched_get_stats(s, &st);
    ok(nd == 1 && d[0].action == SCHED_START && d[0].job_id == 7 && sched_capacity_wait(s),
       "%s the shortcuts: the 1-GPU job starts, and the 4-GPU jobs between it and the one over "
       "the limit wait for GPUs (capacity wait %d; %llu taken ahead)",
       skip_ahead ? "with" : "without", sched_capacity_wait(s),
       (unsigned long long)st.skipped_ahead);
    sched_free(s);
}

/* A nominated preemptor is never taken ahead of its turn (cycle.c, run_skip_ahead) nor passed
 * over: its turn says whether its victims have stopped. Here a's 8-GPU job N preempted v's
 * low-class job at t=100; at t=101 b's job waits for GPUs (passed over), a's gang over its
 * limit is passed over, and N (its victim still in its grace period), three more 8-GPU jobs
 * and a half-GPU job follow. N is evaluated, with the shortcuts as without them. */
static void test_ahead_stops_at_preemptor(bool shortcut)
{
    /* (no reservations: every one handed out, skip-ahead from the first entry) */
    sched_t *s = scenario(shortcut, 0, 0, 60);
    sched_class_add(s, "low", 10, true, NULL);
    sched_class_add(s, "normal", 100, true, NULL);
    int v = sched_team_add(s, "v", -1, 1, NULL), a = sched_team_add(s, "a", -1, 1, NULL);
    int b = sched_team_add(s, "b", -1, 1, NULL), w = sched_team_add(s, "w", -1, 1, NULL);
    sched_team_set_quota(s, a, -1, 0, 12000, NULL); /* a may hold 12 GPUs */
    add_node(s, "n1", "A100");
    add_node(s, "n2", "A100");
    /* n1: v's low-class job; n2: a's 4 GPUs (a's usage puts b first) and w's 4 */
    sched_job_spec_t start[] = {{.id = 1, .team = v, .prio_class = 0, .gpus_milli = 8000},
                                {.id = 2, .team = a, .prio_class = 1, .gpus_milli = 4000},
                                {.id = 3, .team = w, .prio_class = 1, .gpus_milli = 4000}};
    for (int i = 0; i < 3; i++)
        sched_job_submit(s, &start[i], NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    /* a's gang over its limit (4 + 16 > 12), then N within it, which preempts job 1 */
    sched_job_spec_t gang = {.id = 10, .team = a, .prio_class = 1, .gpus_milli = 16000,
                             .nodes = 2, .submit = 100};
    sched_job_spec_t n = {.id = 11, .team = a, .prio_class = 1, .gpus_milli = 8000, .submit = 100};
    sched_job_submit(s, &gang, NULL);
    sched_job_submit(s, &n, NULL);
    const sched_decision_t *d = sched_cycle(s, 100, &nd);
    bool preempted = nd == 1 && d[0].action == SCHED_PREEMPT && d[0].job_id == 1;
    for (uint64_t id = 12; id <= 15; id++) {
        sched_job_spec_t sp = {.id = id, .team = a, .prio_class = 1, .submit = 101,
                               .gpus_milli = id == 15 ? 500 : 8000};
        sched_job_submit(s, &sp, NULL);
    }
    sched_job_spec_t bj = {.id = 20, .team = b, .prio_class = 1, .gpus_milli = 8000, .submit = 101};
    sched_job_submit(s, &bj, NULL);
    sched_stats_t before, after;
    sched_get_stats(s, &before);
    sched_cycle(s, 101, &nd);
    sched_get_stats(s, &after);
    sched_job_info_t in;
    ok(preempted && nd == 0 && sched_job_info(s, 11, &in) == 0 &&
           in.reason == SCHED_REASON_PREEMPTING &&
           after.jobs_examined - before.jobs_examined == 1,
       "%s the shortcuts: a's preemptor after the entry over the limit is evaluated at t=101 "
       "(jobs examined %llu: it alone, b's job and the gang are passed over; %llu taken ahead)",
       shortcut ? "with" : "without",
       (unsigned long long)(after.jobs_examined - before.jobs_examined),
       (unsigned long long)(after.skipped_ahead - before.skipped_ahead));
    sched_free(s);
}

/* A reclaim try that another team's job within quota showed hopeless is skipped
 * (cycle.c, reclaim_known_hopeless), but only for a job that would free reserved GPUs no
 * sooner: here a gang within quota (r) fails to reclaim and reserves both nodes from t=1000;
 * a long job within quota (a) then finds n1's four free GPUs promised and fails; a short one
 * of another team (d), ending before t=1000 by its estimate, may use them and reclaims the
 * borrowed job on n1. With the shortcut or without, d's job must preempt. */
static void test_reclaim_shorter_job(bool shortcut)
{
    sched_params_t p = sched_params_default();
    p.order = SCHED_ORDER_FIFO;
    p.min_runtime_s = 60;
    p.grace_s = 10;
    p.reservations = 2;
    p.fairshare = false;
    p.no_skip_ahead = p.no_reclaim_bound = !shortcut;
    sched_t *s = sched_new(&p);
    sched_class_add(s, "normal", 100, true, NULL);
    int b = sched_team_add(s, "b", -1, 1, NULL), c = sched_team_add(s, "c", -1, 1, NULL);
    int r = sched_team_add(s, "r", -1, 1, NULL), a = sched_team_add(s, "a", -1, 1, NULL);
    int d = sched_team_add(s, "d", -1, 1, NULL);
    sched_team_set_quota(s, c, -1, 8000, -1, NULL);
    sched_team_set_quota(s, r, -1, 16000, -1, NULL);
    sched_team_set_quota(s, a, -1, 8000, -1, NULL);
    sched_team_set_quota(s, d, -1, 8000, -1, NULL);
    for (int i = 1; i <= 2; i++) {
        char name[8];
        snprintf(name, sizeof(name), "n%d", i);
        add_node(s, name, "A100");
    }
    /* c fills n2 within its quota until t=1000; b borrows 4 GPUs (its quota is 0) until 500 */
    sched_job_spec_t c1 = {.id = 1, .team = c, .gpus_milli = 8000, .estimate = 1000};
    sched_job_spec_t v = {.id = 2, .team = b, .gpus_milli = 4000, .estimate = 500};
    sched_job_submit(s, &c1, NULL);
    sched_job_submit(s, &v, NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    sched_job_spec_t gang = {.id = 3, .team = r, .gpus_milli = 16000, .nodes = 2, .submit = 100,
                             .estimate = 100};
    /* (the same time limit: only their estimates tell them apart) */
    sched_job_spec_t lng = {.id = 4, .team = a, .gpus_milli = 8000, .submit = 101,
                            .time_limit = 5000, .estimate = 5000};
    sched_job_spec_t sht = {.id = 5, .team = d, .gpus_milli = 8000, .submit = 102,
                            .time_limit = 5000, .estimate = 100};
    sched_job_submit(s, &gang, NULL);
    sched_job_submit(s, &lng, NULL);
    sched_job_submit(s, &sht, NULL);
    const sched_decision_t *dec = sched_cycle(s, 200, &nd);
    bool took = false;
    for (size_t i = 0; i < nd; i++)
        took |= dec[i].action == SCHED_PREEMPT && dec[i].job_id == 2 && dec[i].for_id == 5;
    sched_job_info_t in;
    ok(took && sched_job_info(s, 4, &in) == 0 && in.state == SCHED_PENDING,
       "%s the shortcut: the short job within quota reclaims where the long one could not "
       "(%zu decisions)", shortcut ? "with" : "without", nd);
    sched_free(s);
}

/* Each team's victim summary (victim_times.c) holds until one of its jobs crosses a minimum
 * runtime; a new minimum runtime must end it: a job started at t=0 under 600 s may be taken
 * by priority at t=101 once the minimum is 60 s. */
static void test_victim_summary_new_min_runtime(void)
{
    sched_params_t p = sched_params_default();
    p.min_runtime_s = 600;
    p.grace_s = 10;
    sched_t *s = sched_new(&p);
    sched_class_add(s, "low", 10, true, NULL);
    sched_class_add(s, "high", 1000, false, NULL);
    int a = sched_team_add(s, "a", -1, 1, NULL);
    add_node(s, "n1", "A100");
    sched_job_spec_t low = {.id = 1, .team = a, .prio_class = 0, .gpus_milli = 8000};
    sched_job_submit(s, &low, NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    sched_job_spec_t high = {.id = 2, .team = a, .prio_class = 1, .gpus_milli = 8000,
                             .submit = 100};
    sched_job_submit(s, &high, NULL);
    sched_cycle(s, 100, &nd);
    bool none_before = nd == 0;
    p.min_runtime_s = 60;
    sched_set_params(s, &p);
    const sched_decision_t *d = sched_cycle(s, 101, &nd);
    char msg[256];
    ok(none_before && nd == 1 && d[0].action == SCHED_PREEMPT && d[0].job_id == 1 &&
           sched_check_invariants(s, msg, sizeof(msg)),
       "a new minimum runtime ends the victim summaries: the high job preempts at t=101 "
       "(%zu decisions) %s", nd, msg);
    sched_free(s);
}

/* A pass's reservations share one walk over the running jobs by expected end (backfill.c)
 * only while no job is given GPUs: here the first reservation's walk passes n1 (2 GPUs free,
 * 4 more at t=100), a 2-GPU job then starts on n1, and the second reservation (6 GPUs) must
 * see n1 reach 4 at t=100, not 6: it waits for n3 at t=300. */
static void test_shared_walk_after_a_start(bool shortcut)
{
    sched_params_t p = sched_params_default();
    p.order = SCHED_ORDER_FIFO;
    p.preemption = false;
    p.fairshare = false;
    p.reservations = 2;
    p.no_shared_walk = !shortcut;
    sched_t *s = sched_new(&p);
    sched_class_add(s, "normal", 100, true, NULL);
    int a = sched_team_add(s, "a", -1, 1, NULL);
    const char *types[] = {"T1", "T2", "T3"};
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "n%d", i + 1);
        add_node(s, name, types[i]);
    }
    uint64_t t1 = 1ULL << sched_gpu_type_find(s, "T1"), t2 = 1ULL << sched_gpu_type_find(s, "T2");
    uint64_t t3 = 1ULL << sched_gpu_type_find(s, "T3");
    /* n1: 4 GPUs until t=100 and 2 until t=1000; n2: 4 until t=150; n3: 8 until t=300 */
    sched_job_spec_t run[] = {
        {.id = 1, .team = a, .gpus_milli = 4000, .gpu_types = t1, .estimate = 100},
        {.id = 2, .team = a, .gpus_milli = 2000, .gpu_types = t1, .estimate = 1000},
        {.id = 3, .team = a, .gpus_milli = 4000, .gpu_types = t2, .estimate = 150},
        {.id = 4, .team = a, .gpus_milli = 8000, .gpu_types = t3, .estimate = 300},
    };
    for (int i = 0; i < 4; i++)
        sched_job_submit(s, &run[i], NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    bool placed = nd == 4;
    /* R1 (8 GPUs) reserves n2 from t=150, past n1's release; S (2 GPUs) starts on n1; R2 */
    sched_job_spec_t r1 = {.id = 5, .team = a, .gpus_milli = 8000, .submit = 10, .estimate = 50};
    sched_job_spec_t sj = {.id = 6, .team = a, .gpus_milli = 2000, .submit = 11}; /* (no end:
                                                    the list of expected ends stays as it is) */
    sched_job_spec_t r2 = {.id = 7, .team = a, .gpus_milli = 6000, .submit = 12, .estimate = 50};
    sched_job_submit(s, &r1, NULL);
    sched_job_submit(s, &sj, NULL);
    sched_job_submit(s, &r2, NULL);
    sched_cycle(s, 20, &nd);
    sched_job_info_t i1, is, i2;
    sched_job_info(s, 5, &i1);
    sched_job_info(s, 6, &is);
    sched_job_info(s, 7, &i2);
    ok(placed && i1.estimated_start == 150 && is.state == SCHED_RUNNING &&
           i2.estimated_start == 300,
       "%s the shared walk: the 8-GPU job is planned at t=150 (%lld), the 2-GPU job starts, "
       "the 6-GPU job is planned at t=300 (%lld)",
       shortcut ? "with" : "without", (long long)i1.estimated_start,
       (long long)i2.estimated_start);
    sched_free(s);
}

/* The limit scenarios' cluster: classes normal (0) and high (1), team a (index 0) limited to 4
 * GPUs and team b (index 1), two 8-GPU nodes, 8 reservations (none handed out in them). */
static sched_t *limit_scenario(bool shortcut)
{
    sched_params_t p = sched_params_default();
    p.no_skip_ahead = !shortcut;
    sched_t *s = sched_new(&p);
    sched_class_add(s, "normal", 100, true, NULL);
    sched_class_add(s, "high", 1000, false, NULL);
    int a = sched_team_add(s, "a", -1, 1, NULL);
    sched_team_add(s, "b", -1, 1, NULL);
    sched_team_set_quota(s, a, -1, 0, 4000, NULL);
    add_node(s, "n1", "A100");
    add_node(s, "n2", "A100");
    return s;
}

/* A team whose every queued job would take it over its limit: each stays over the limit
 * whatever the pass does (what a team holds only grows in a pass), so its whole queue is
 * passed over at once from the pass's start (cycle.c, rest_over_limit), before the pass's
 * reservations are handed out. Here team a (limit 4 GPUs) holds 4 GPUs and queues three 1-GPU
 * jobs, or holds 2 and queues three 4-GPU jobs, in a class above b's 8-GPU job: the pass must
 * start b's job and leave a's waiting, with the shortcut or without, and with it none of a's
 * entries goes through the merge. */
static void test_queue_over_limit_before_reservations(bool shortcut, int64_t holds, int64_t asks)
{
    sched_t *s = limit_scenario(shortcut);
    int a = 0, b = 1;
    sched_job_spec_t held = {.id = 1, .team = a, .prio_class = 1, .gpus_milli = holds};
    sched_job_submit(s, &held, NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    for (uint64_t id = 2; id <= 4; id++) {
        sched_job_spec_t one = {.id = id, .team = a, .prio_class = 1, .gpus_milli = asks,
                                .submit = 1};
        sched_job_submit(s, &one, NULL);
    }
    sched_job_spec_t whole = {.id = 5, .team = b, .prio_class = 0, .gpus_milli = 8000,
                              .submit = 1};
    sched_job_submit(s, &whole, NULL);
    sched_stats_t before, after;
    sched_get_stats(s, &before);
    const sched_decision_t *d = sched_cycle(s, 1, &nd);
    sched_get_stats(s, &after);
    bool waiting = true;
    for (uint64_t id = 2; id <= 4; id++) {
        sched_job_info_t in;
        waiting &= sched_job_info(s, id, &in) == 0 && in.state == SCHED_PENDING;
    }
    uint64_t skipped = after.skipped_ahead - before.skipped_ahead;
    uint64_t rests = after.rests_passed_over - before.rests_passed_over;
    ok(nd == 1 && d[0].action == SCHED_START && d[0].job_id == 5 && waiting &&
           (shortcut ? skipped == 3 && rests == 1 : skipped == 0 && rests == 0),
       "%s the shortcut, a holding %lld of its 4 GPUs and asking %lld per job: b's job "
       "starts, a's three jobs over its limit wait (%llu entries passed over at once, in %llu "
       "rests)", shortcut ? "with" : "without", (long long)holds / 1000,
       (long long)asks / 1000, (unsigned long long)skipped, (unsigned long long)rests);
    sched_free(s);
}

/* Reclaim may free CPUs as well as GPUs: a job within quota that finds GPUs enough on a node
 * but not the CPUs it asks may reclaim a borrowed job that holds only a fraction of a GPU
 * there (no whole GPU). The bound that gives up a reclaim try no node could serve (preempt.c,
 * reach_any) counts whole GPUs: it must not give this one up. Team b (quota 0) borrows half a
 * GPU with 60 of n1's 64 CPUs; team a (quota 8 GPUs) asks 4 GPUs and 8 CPUs: with the
 * shortcut or without, a's job must reclaim b's. */
static void test_reclaim_for_cpus(bool shortcut)
{
    sched_params_t p = sched_params_default();
    p.min_runtime_s = 60;
    p.grace_s = 10;
    p.no_skip_ahead = p.no_reclaim_bound = !shortcut;
    sched_t *s = sched_new(&p);
    sched_class_add(s, "normal", 100, true, NULL);
    int a = sched_team_add(s, "a", -1, 1, NULL), b = sched_team_add(s, "b", -1, 1, NULL);
    sched_team_set_quota(s, a, -1, 8000, -1, NULL);
    add_node(s, "n1", "A100");
    sched_job_spec_t frac = {.id = 1, .team = b, .gpus_milli = 500, .cpus_milli = 60000};
    sched_job_submit(s, &frac, NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    sched_job_spec_t four = {.id = 2, .team = a, .gpus_milli = 4000, .cpus_milli = 8000,
                             .submit = 100};
    sched_job_submit(s, &four, NULL);
    const sched_decision_t *d = sched_cycle(s, 100, &nd);
    ok(nd == 1 && d[0].action == SCHED_PREEMPT && d[0].job_id == 1 && d[0].for_id == 2,
       "%s the shortcut: the 4-GPU job within quota reclaims the borrowed half GPU for its CPUs "
       "(%zu decisions)", shortcut ? "with" : "without", nd);
    sched_free(s);
}

/* The pass at `at` decides nothing and ends at `where` (nobody left can act), so the pass a
 * second later, with nothing new, is skipped as settled. */
static void ok_settles(sched_t *s, sched_time_t at, bool shortcut, const char *where)
{
    sched_stats_t before, after;
    sched_get_stats(s, &before);
    size_t nd, nd2;
    sched_cycle(s, at, &nd);
    sched_cycle(s, at + 1, &nd2);
    sched_get_stats(s, &after);
    ok(nd == 0 && nd2 == 0 && after.cycles - before.cycles == 1 &&
           after.quiet_cycles - before.quiet_cycles == 1,
       "%s the shortcuts: the pass at %lld ends at %s, and the next is skipped as settled (%llu "
       "passes, %llu skipped)", shortcut ? "with" : "without", (long long)at, where,
       (unsigned long long)(after.cycles - before.cycles),
       (unsigned long long)(after.quiet_cycles - before.quiet_cycles));
}

/* A pass ends once nobody left can act (cycle.c, anyone_left_can_act). A run whose head is
 * not within its team's quota may still hold a job behind it that is (a team with a 16-GPU
 * gang queued on an 8-GPU quota still reclaims for its 8-GPU job: entry_in_quota), and such a
 * job may reclaim even when no node has GPUs enough free. Two 8-GPU nodes, both held by team
 * b (quota 8: one of its jobs borrows), past the reclaim minimum runtime. One reservation.
 * c's 8-GPU job takes the reservation; d's (no quota) is passed over, and there the pass
 * asks whether anyone left can act. a (quota 8, holding none) queues a 16-GPU gang, then an
 * 8-GPU job within quota: the pass must not end before the 8-GPU job, which reclaims b's
 * borrowed job. With the shortcuts or without. */
static void test_reclaim_behind_gang(bool shortcut)
{
    sched_t *s = scenario(shortcut, 1, 60, 10);
    sched_class_add(s, "normal", 100, true, NULL);
    int a = sched_team_add(s, "a", -1, 1, NULL), b = sched_team_add(s, "b", -1, 1, NULL);
    int c = sched_team_add(s, "c", -1, 1, NULL), d = sched_team_add(s, "d", -1, 1, NULL);
    sched_team_set_quota(s, a, -1, 8000, -1, NULL);
    sched_team_set_quota(s, b, -1, 8000, -1, NULL);
    add_node(s, "n1", "A100");
    add_node(s, "n2", "A100");
    for (uint64_t id = 1; id <= 2; id++) {
        sched_job_spec_t held = {.id = id, .team = b, .gpus_milli = 8000};
        sched_job_submit(s, &held, NULL);
    }
    size_t nd;
    sched_cycle(s, 0, &nd);
    struct {
        uint64_t id;
        int team;
        int64_t gpus;
        int nodes;
    } queued[] = {{3, c, 8000, 0}, {4, d, 8000, 0}, {5, a, 16000, 2}, {6, a, 8000, 0}};
    for (size_t i = 0; i < sizeof(queued) / sizeof(queued[0]); i++) {
        sched_job_spec_t sp = {.id = queued[i].id, .team = queued[i].team,
                               .gpus_milli = queued[i].gpus, .nodes = queued[i].nodes,
                               .submit = 1000 + (sched_time_t)i};
        sched_job_submit(s, &sp, NULL);
    }
    const sched_decision_t *dec = sched_cycle(s, 1000, &nd);
    bool reclaimed = false;
    for (size_t i = 0; i < nd; i++)
        reclaimed |= dec[i].action == SCHED_PREEMPT && dec[i].for_id == 6;
    ok(nd == 1 && reclaimed,
       "%s the shortcuts: a's 8-GPU job within quota, behind a's 16-GPU gang, reclaims b's "
       "borrowed job (%zu decisions)", shortcut ? "with" : "without", nd);
    sched_free(s);
}

/* Where a run that can act is at hand, a pass need not ask whether anyone left can act
 * (cycle.c, yes_until_winner), but the run of the entry it takes next is no such witness: it
 * loses that entry. One 8-GPU node; z's 4-GPU job runs until 1000. One reservation: x's 8-GPU
 * job takes it (the node from 1000). b's 4-GPU job (5000 s) fits the 4 free GPUs but would
 * still run at 1000: once evaluated, it is passed over, and b's run, which could act by its
 * counts before the pass took that job, has nothing left. So the pass must end there
 * (nobody left can act), and a pass later with nothing new is skipped as settled. */
static void test_no_witness_in_the_next_entry(bool shortcut)
{
    sched_t *s = scenario(shortcut, 1, -1, -1);
    sched_class_add(s, "normal", 100, true, NULL);
    int x = sched_team_add(s, "x", -1, 1, NULL), b = sched_team_add(s, "b", -1, 1, NULL);
    int z = sched_team_add(s, "z", -1, 1, NULL);
    add_node(s, "n1", "A100");
    sched_job_spec_t running = {.id = 1, .team = z, .gpus_milli = 4000, .estimate = 1000};
    sched_job_submit(s, &running, NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    sched_job_spec_t big = {.id = 2, .team = x, .gpus_milli = 8000, .estimate = 100, .submit = 1};
    sched_job_spec_t longer = {.id = 3, .team = b, .gpus_milli = 4000, .estimate = 5000,
                               .submit = 2};
    sched_job_submit(s, &big, NULL);
    sched_job_submit(s, &longer, NULL);
    sched_cycle(s, 2, &nd); /* (b's job is evaluated once: then it is passed over) */
    sched_set_params(s, sched_params(s)); /* (a full pass, not one skipped as settled) */
    ok_settles(s, 3, shortcut, "b's job");
    sched_free(s);
}

/* Nor is a run with entries taken ahead of their turn that the pass reaches before the next
 * entry it takes: reaching them changes what the run counts. Two 8-GPU nodes: c's 8-GPU job
 * fills one, z's 4-GPU job (until 1000) half the other. One reservation: x's 8-GPU job takes
 * it. b's two 4-GPU jobs (5000 s), evaluated once, are passed over (they fit only on the
 * reserved GPUs), the second taken ahead of its turn (b also queues an 8-GPU job of a lower
 * class, so its run is not passed over whole); d's new 4-GPU job is evaluated between them;
 * then comes c's 8-GPU job (c's share is the largest), which nothing can start. b's run
 * could act by its counts until its second job is reached: then nobody left can, and the pass
 * must end there; a pass later with nothing new is skipped as settled. */
static void test_no_witness_with_entries_ahead(bool shortcut)
{
    sched_t *s = scenario(shortcut, 1, -1, -1);
    sched_class_add(s, "low", 10, true, NULL);
    sched_class_add(s, "normal", 100, true, NULL);
    int x = sched_team_add(s, "x", -1, 1, NULL), b = sched_team_add(s, "b", -1, 1, NULL);
    int z = sched_team_add(s, "z", -1, 1, NULL), c = sched_team_add(s, "c", -1, 1, NULL);
    int d = sched_team_add(s, "d", -1, 1, NULL);
    add_node(s, "n1", "A100");
    add_node(s, "n2", "A100");
    sched_job_spec_t held = {.id = 1, .team = c, .prio_class = 1, .gpus_milli = 8000,
                             .estimate = 90000};
    sched_job_spec_t half = {.id = 2, .team = z, .prio_class = 1, .gpus_milli = 4000,
                             .estimate = 1000};
    sched_job_submit(s, &held, NULL);
    sched_job_submit(s, &half, NULL);
    size_t nd;
    sched_cycle(s, 0, &nd);
    sched_job_spec_t queued[] = {
        {.id = 3, .team = x, .prio_class = 1, .gpus_milli = 8000, .estimate = 100, .submit = 1},
        {.id = 4, .team = b, .prio_class = 1, .gpus_milli = 4000, .estimate = 5000, .submit = 2},
        {.id = 5, .team = b, .prio_class = 1, .gpus_milli = 4000, .estimate = 5000, .submit = 2},
        {.id = 6, .team = c, .prio_class = 1, .gpus_milli = 8000, .estimate = 100, .submit = 2},
        /* (a job of another class in b's queue: b's normal run is not passed over whole) */
        {.id = 8, .team = b, .prio_class = 0, .gpus_milli = 8000, .estimate = 90000,
         .submit = 2}};
    for (size_t i = 0; i < sizeof(queued) / sizeof(queued[0]); i++)
        sched_job_submit(s, &queued[i], NULL);
    sched_cycle(s, 2, &nd); /* (b's jobs are evaluated once) */
    sched_job_spec_t newer = {.id = 7, .team = d, .prio_class = 1, .gpus_milli = 4000,
                              .estimate = 5000, .submit = 3};
    sched_job_submit(s, &newer, NULL);
    sched_stats_t before, after;
    sched_get_stats(s, &before);
    ok_settles(s, 3, shortcut, "c's job");
    sched_get_stats(s, &after);
    uint64_t ahead = after.skipped_ahead - before.skipped_ahead;
    ok(shortcut ? ahead > 0 : ahead == 0,
       "%s the shortcuts: %llu entries taken ahead of their turn", shortcut ? "with" : "without",
       (unsigned long long)ahead);
    sched_free(s);
}

/* A team that reaches its limit during the pass, before the pass's reservations are handed
 * out: its entries left are over the limit from there on, and go at once when the merge takes
 * the first of them (cycle.c, run_skip_ahead, handed_out false). Team a (limit 4 GPUs, holding
 * none) queues a 4-GPU job and three 1-GPU jobs in a class above b's 8-GPU job: a's 4-GPU job
 * and b's start, a's 1-GPU jobs wait; with the shortcut the last two of them go at once. */
static void test_limit_reached_in_pass(bool shortcut)
{
    sched_t *s = limit_scenario(shortcut);
    int a = 0, b = 1;
    for (uint64_t id = 1; id <= 4; id++) {
        sched_job_spec_t sp = {.id = id, .team = a, .prio_class = 1,
                               .gpus_milli = id == 1 ? 4000 : 1000};
        sched_job_submit(s, &sp, NULL);
    }
    sched_job_spec_t whole = {.id = 5, .team = b, .prio_class = 0, .gpus_milli = 8000};
    sched_job_submit(s, &whole, NULL);
    size_t nd;
    const sched_decision_t *d = sched_cycle(s, 0, &nd);
    sched_stats_t st;
    sched_get_stats(s, &st);
    bool started1 = false, started5 = false;
    for (size_t i = 0; i < nd; i++) {
        started1 |= d[i].action == SCHED_START && d[i].job_id == 1;
        started5 |= d[i].action == SCHED_START && d[i].job_id == 5;
    }
    ok(nd == 2 && started1 && started5 &&
           (shortcut ? st.skipped_ahead == 2 && st.rests_passed_over == 1
                     : st.skipped_ahead == 0 && st.rests_passed_over == 0),
       "%s the shortcut: a's 4-GPU job and b's job start, a's 1-GPU jobs wait (%llu entries "
       "passed over at once, in %llu rests)", shortcut ? "with" : "without",
       (unsigned long long)st.skipped_ahead, (unsigned long long)st.rests_passed_over);
    sched_free(s);
}

int main(void)
{
    test_limit_reached_in_pass(false);
    test_limit_reached_in_pass(true);
    test_reclaim_for_cpus(false);
    test_reclaim_for_cpus(true);
    test_reclaim_behind_gang(false);
    test_reclaim_behind_gang(true);
    test_no_witness_in_the_next_entry(false);
    test_no_witness_in_the_next_entry(true);
    test_no_witness_with_entries_ahead(false);
    test_no_witness_with_entries_ahead(true);
    for (int shortcut = 0; shortcut <= 1; shortcut++) {
        test_queue_over_limit_before_reservations(shortcut, 4000, 1000);
        test_queue_over_limit_before_reservations(shortcut, 2000, 4000);
    }
    test_shared_walk_after_a_start(false);
    test_shared_walk_after_a_start(true);
    test_victim_summary_new_min_runtime();
    test_reclaim_shorter_job(false);
    test_reclaim_shorter_job(true);
    test_rest_after_over_limit(false);
    test_rest_after_over_limit(true);
    test_ahead_after_over_limit(false);
    test_ahead_after_over_limit(true);
    test_ahead_stops_at_preemptor(false);
    test_ahead_stops_at_preemptor(true);
    for (unsigned seed = 1; seed <= 3; seed++)
        test_same_decisions(seed, MIXED);
    for (unsigned seed = 1; seed <= 12; seed++)
        test_same_decisions(seed, ONE_CLASS);
    for (unsigned seed = 1; seed <= 8; seed++)
        test_same_decisions(seed, TEAM_CLASSES);
    return tap_done();
}
