/* The scheduler's policy rules, one test each, through sched.h only: each scenario is the
 * smallest cluster on which the rule decides the outcome, so that changing the rule (the
 * mutations named above each test) makes that test fail. */
#include <errno.h>
#include <stdlib.h>

#include "sched/sched.h"
#include "tap.h"
#include "sched_fixture.h"

static int T_A, T_B, T_C, C_LOW, C_NORMAL, C_HIGH;

/* Fair share on with a short half-life, quotas, backfill, preemption: grace 120 s, minimum
 * runtime 600 s (the defaults but for the half-life). */
static void setup(void)
{
    sched_free(S);
    sched_params_t p = sched_params_default();
    p.half_life_s = 3600;
    p.grace_s = 120;
    p.min_runtime_s = 600;
    S = sched_new(&p);
    C_LOW = sched_class_add(S, "low", 10, true, NULL);
    C_NORMAL = sched_class_add(S, "normal", 100, true, NULL);
    C_HIGH = sched_class_add(S, "high", 1000, false, NULL);
    T_A = sched_team_add(S, "a", -1, 1, NULL);
    T_B = sched_team_add(S, "b", -1, 1, NULL);
    T_C = sched_team_add(S, "c", -1, 1, NULL);
}

static int node(const char *name, int gpus)
{
    sched_node_spec_t n = {.name = name, .gpu_type = "V100", .gpus = gpus, .leaf = "l1"};
    return sched_node_add(S, &n, NULL);
}

static sched_job_spec_t spec(uint64_t id, int team, int cls, int gpus, sched_time_t at)
{
    return (sched_job_spec_t){.id = id, .team = team, .prio_class = cls,
                              .gpus_milli = (int64_t)gpus * 1000, .submit = at,
                              .estimate = 36000, .checkpointable = true};
}

static int submit(uint64_t id, int team, int cls, int gpus, sched_time_t at)
{
    sched_job_spec_t sp = spec(id, team, cls, gpus, at);
    return sched_job_submit(S, &sp, NULL);
}

/* Rule: a running job younger than the minimum runtime is never a victim of a higher class;
 * at exactly the minimum runtime it is. A borrowed job is reclaimed after the reclaim minimum
 * runtime instead, which is never longer than the grace period (by default the minimum
 * runtime clamped to it): a lender's job within its quota waits for a young borrower at most
 * that plus the grace period. (Before: the minimum runtime, 10 minutes, guarded borrowers
 * too, and lenders waited up to 12 minutes for GPUs of their quota.)
 * Mutations: drop `now - v->start >= s->p.min_runtime_s` from preempt.c eligible() (first part
 * fails); use min_runtime_s instead of sched_reclaim_min_runtime() in eligible() (the reclaim
 * part fails: no reclaim at 120 s); drop the reclaim runtime test from eligible() (reclaim at
 * 100 s); drop the clamp in sched_reclaim_min_runtime() (the last part fails); `<` to `<=`. */
static void test_min_runtime(void)
{
    setup();
    node("n1", 4);
    submit(1, T_B, C_LOW, 4, 0);
    cycle(0);
    ok(started(1), "min runtime: the low job starts at 0");
    submit(2, T_A, C_NORMAL, 4, 300);
    cycle(300);
    ok(!preempted(1), "min runtime: at 300 s the 300 s old job is not preempted");
    is_int(ndec, 0, "min runtime: no decision at 300 s");
    cycle(599);
    ok(!preempted(1), "min runtime: nor at 599 s");
    cycle(600);
    ok(preempted(1), "min runtime: at 600 s (its minimum runtime) it is the victim");

    /* the same for a reclaim: b borrows all of the node, a's quota is 4 */
    setup();
    node("n1", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    submit(1, T_B, C_NORMAL, 4, 0);
    cycle(0);
    ok(started(1) && info(1).borrowing, "min runtime: b's job borrows a's quota");
    submit(2, T_A, C_NORMAL, 4, 100);
    cycle(100);
    ok(!preempted(1), "min runtime: at 100 s the borrower is younger than the reclaim minimum");
    cycle(119);
    ok(!preempted(1), "min runtime: a's reclaim waits for the reclaim minimum runtime (120 s)");
    cycle(120);
    ok(preempted(1), "min runtime: at 120 s (the grace period), not 600 s, it is reclaimed");

    /* a reclaim minimum runtime set above the grace period is clamped to it */
    setup();
    sched_params_t p = *sched_params(S);
    p.reclaim_min_runtime_s = 1000;
    sched_set_params(S, &p);
    node("n1", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    submit(1, T_B, C_NORMAL, 4, 0);
    cycle(0);
    submit(2, T_A, C_NORMAL, 4, 10);
    cycle(10);
    cycle(119);
    ok(!preempted(1), "min runtime: reclaim minimum 1000 s: not reclaimed at 119 s");
    cycle(120);
    ok(preempted(1), "min runtime: reclaim minimum 1000 s is clamped to the grace period: 120 s");

    /* and one set below it is kept */
    setup();
    p = *sched_params(S);
    p.reclaim_min_runtime_s = 30;
    sched_set_params(S, &p);
    node("n1", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    submit(1, T_B, C_NORMAL, 4, 0);
    cycle(0);
    submit(2, T_A, C_NORMAL, 4, 10);
    cycle(10);
    ok(!preempted(1), "min runtime: reclaim minimum 30 s: not reclaimed at 10 s");
    cycle(30);
    ok(preempted(1), "min runtime: reclaim minimum 30 s: reclaimed at 30 s");

    /* a young job is passed over even where it would be the cheaper victim */
    setup();
    node("n1", 4);
    node("n2", 4);
    submit(1, T_B, C_LOW, 4, 0);
    cycle(0);
    submit(2, T_B, C_LOW, 4, 500);
    cycle(500);
    ok(started(2), "min runtime: a second low job starts at 500 s");
    submit(3, T_A, C_NORMAL, 4, 700);
    cycle(700);
    ok(preempted(1), "min runtime: the 700 s old job is the victim, though it loses more work");
    ok(!preempted(2), "min runtime: not the 200 s old one");
}

/* Rule: inside a tier, jobs within their team's quota go before borrowers, whatever their
 * age and fair share (the quota test counts the team's earlier jobs: cum + gpus <= quota).
 * Mutations: drop the in_quota comparison from cycle.c order_cmp(); `<=` to `<` in
 * run_fill_head()'s in_quota. */
static void test_within_quota_first(void)
{
    setup();
    node("n1", 4);
    sched_team_set_quota(S, T_B, -1, 2000, -1, NULL);
    submit(1, T_A, C_NORMAL, 4, 0); /* a has no quota: a borrower, older */
    submit(2, T_B, C_NORMAL, 2, 10); /* b's job is exactly its quota */
    cycle(10);
    ok(started(2), "within quota first: b's 2-GPU job within its quota of 2 starts");
    ok(!started(1), "within quota first: a's older borrowing job does not take the node first");
    is_int(ndec, 1, "within quota first: one start");
}

/* Rule: a reclaim takes only borrowed jobs (started above their team's quota) of a team still
 * above its quota; a job within its team's quota stays, even when it would be cheaper.
 * Mutations: drop `v->borrowing` from preempt.c eligible() (first part fails);
 * drop `team_borrowing(s, v->team)` from eligible(), with or without the same in
 * victim_times.c victim_bounds() (second part fails). */
static void test_reclaim_only_borrowed(void)
{
    setup();
    node("n1", 4);
    node("n2", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    sched_team_set_quota(S, T_B, -1, 4000, -1, NULL);
    submit(1, T_B, C_NORMAL, 4, 0); /* within b's quota */
    submit(2, T_B, C_NORMAL, 4, 1); /* borrowed */
    cycle(1);
    ok(started(1) && started(2), "reclaim: b runs a job within its quota and a borrowed one");
    ok(!info(1).borrowing && info(2).borrowing, "reclaim: job 2 is the borrowed one");
    sched_job_checkpointed(S, 1, 990); /* job 1 would lose far less work than job 2 */
    submit(3, T_A, C_NORMAL, 4, 1000);
    cycle(1000);
    ok(preempted(2), "reclaim: a's job reclaims b's borrowed job");
    ok(!preempted(1), "reclaim: not b's job within quota, though it loses less work");
    is_int(ndec, 1, "reclaim: one victim");

    /* b's borrowed job stays when b is no longer above its quota (its other job ended): the
     * reclaim takes c's borrowed job instead, though b's would lose less work */
    setup();
    node("n1", 4);
    node("n2", 4);
    node("n3", 4);
    sched_team_set_quota(S, T_A, -1, 8000, -1, NULL);
    sched_team_set_quota(S, T_B, -1, 4000, -1, NULL);
    submit(1, T_B, C_NORMAL, 4, 0);
    submit(2, T_B, C_NORMAL, 4, 0);
    submit(3, T_C, C_NORMAL, 4, 0);
    cycle(0);
    ok(started(1) && started(2) && started(3), "reclaim: b's two jobs and c's run");
    ok(info(2).borrowing && info(3).borrowing, "reclaim: b's job 2 and c's job 3 borrow");
    sched_job_finished(S, 1, 100);
    submit(4, T_A, C_NORMAL, 4, 100);
    cycle(100);
    ok(started(4), "reclaim: a's first job takes the node b freed");
    sched_job_checkpointed(S, 2, 990);
    submit(5, T_A, C_NORMAL, 4, 1000); /* a: 4 + 4 <= its quota of 8 */
    cycle(1000);
    ok(preempted(3), "reclaim: c (above its quota of 0) gives back its borrowed job");
    ok(!preempted(2), "reclaim: b holds only its quota now: its job 2 is not reclaimed");
    is_int(ndec, 1, "reclaim: one victim");
}

/* Rule: a job within its team's quota that would fit but for a reservation (of a job before
 * it) still reclaims from borrowers, on nodes whose free GPUs nobody was promised. (Before, a
 * job blocked by a reservation never preempted: on Philly seed0 most within-quota jobs served
 * late waited so, some for hours, while borrowers held GPUs of their quota.)
 * Mutations: return in cycle.c evaluate() when why is SCHED_REASON_RESERVATION before the
 * preemption try (as before): job 4 waits; preempt.c usable_for() returning free_whole (the
 * reservation's GPUs counted): job 4 preempts nothing useful and starts on n1 later. */
static void test_reclaim_despite_reservation(void)
{
    setup();
    sched_params_t p = *sched_params(S);
    p.fairshare = false; /* the order is the job order: job 3 (shorter) before job 4 */
    sched_set_params(S, &p);
    sched_node_spec_t a100 = {.name = "n1", .gpu_type = "A100", .gpus = 4, .leaf = "l1"};
    sched_node_add(S, &a100, NULL);
    node("n2", 4);
    uint64_t A = 1ULL << sched_gpu_type_find(S, "A100");
    uint64_t V = 1ULL << sched_gpu_type_find(S, "V100");
    sched_team_set_quota(S, T_A, -1, 8000, -1, NULL);
    sched_team_set_quota(S, T_B, -1, 4000, -1, NULL);
    sched_job_spec_t j1 = spec(1, T_C, C_NORMAL, 4, 0); /* c borrows all of n2 */
    j1.gpu_types = V;
    sched_job_spec_t j2 = spec(2, T_A, C_NORMAL, 2, 0); /* a: half of n1 until 1000 */
    j2.gpu_types = A;
    j2.estimate = 1000;
    sched_job_submit(S, &j1, NULL);
    sched_job_submit(S, &j2, NULL);
    cycle(0);
    ok(started(1) && started(2), "reservation: c's job borrows n2, a's job takes half of n1");
    sched_job_spec_t j3 = spec(3, T_A, C_NORMAL, 4, 500); /* all of n1, within a's quota */
    j3.gpu_types = A;
    j3.estimate = 100;
    sched_job_spec_t j4 = spec(4, T_B, C_NORMAL, 2, 500); /* within b's quota, runs long */
    sched_job_submit(S, &j3, NULL);
    sched_job_submit(S, &j4, NULL);
    cycle(500);
    ok(info(3).state == SCHED_PENDING && info(3).estimated_start == 1000,
       "reservation: job 3 waits for n1, reserved at 1000");
    ok(preempted(1), "reservation: b's job, kept off n1 by the reservation, reclaims n2");
    ok(!started(4), "reservation: it does not start on the reserved GPUs of n1");
    sched_job_stopped(S, 1, 620);
    cycle(620);
    ok(started(4) && node_of(4) == 1, "reservation: b's job starts on n2 when c's stopped");
}

/* Rule: a preemptor whose victims stopped starts on the GPUs it claimed, though a later
 * preemptor holds the same node and its victim still runs; two preemptors never count the
 * same free GPUs. (Before, each hold covered the node's free GPUs: the first preemptor found
 * its freed GPU held for the second, lost its nomination and waited for the second's victim:
 * on Philly, within-quota jobs served 240 s after submission instead of 120 s.)
 * Mutations: node_usable() subtracting the other holds for the job's own target (as before);
 * preempt.c counting n->free_whole instead of usable_for() (the last part: the 1-GPU job
 * counts the claimed GPU, takes no victim, and waits). */
static void test_preemptors_share_node(void)
{
    setup();
    node("n1", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    for (uint64_t i = 1; i <= 4; i++)
        submit(i, T_C, C_NORMAL, 1, 0);
    cycle(0);
    ok(started(1) && started(2) && started(3) && started(4), "share: c borrows n1's 4 GPUs");
    submit(5, T_A, C_NORMAL, 1, 1000);
    cycle(1000);
    ok(ndec == 1 && dec[0].action == SCHED_PREEMPT, "share: a's first job reclaims one GPU");
    uint64_t v5 = ndec ? dec[0].job_id : 0;
    submit(6, T_A, C_NORMAL, 1, 1050);
    cycle(1050);
    ok(ndec == 1 && dec[0].action == SCHED_PREEMPT && dec[0].job_id != v5,
       "share: a's second job reclaims another");
    uint64_t v6 = ndec ? dec[0].job_id : 0;
    sched_job_stopped(S, v5, 1120);
    cycle(1120);
    ok(started(5), "share: the first starts when its victim stopped (the second's still runs)");
    ok(!started(6), "share: the second waits for its own victim");
    sched_job_stopped(S, v6, 1170);
    cycle(1170);
    ok(started(6), "share: the second starts when its victim stopped");

    /* a later preemptor does not count the free GPU an earlier one claimed */
    setup();
    node("n1", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    for (uint64_t i = 1; i <= 3; i++)
        submit(i, T_C, C_NORMAL, 1, 0);
    cycle(0);
    submit(4, T_A, C_NORMAL, 2, 1000);
    cycle(1000);
    ok(ndec == 1 && preempted(ndec ? dec[0].job_id : 0),
       "share: a's 2-GPU job claims the free GPU and reclaims one more");
    submit(5, T_A, C_NORMAL, 1, 1010);
    cycle(1010);
    ok(!started(5), "share: a's 1-GPU job does not take the GPU claimed by the first");
    ok(ndec == 1 && dec[0].action == SCHED_PREEMPT && dec[0].for_id == 5,
       "share: it reclaims a GPU of its own instead");

    /* the claim holds from the preemption on, in the same pass: a job after the preemptor in
     * that pass does not take the free GPU it counted (mutation: drop preempt_for()'s
     * preempt_hold_targets() call) */
    setup();
    node("n1", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    for (uint64_t i = 1; i <= 3; i++)
        submit(i, T_C, C_NORMAL, 1, 0);
    cycle(0);
    submit(4, T_A, C_NORMAL, 2, 1000); /* within a's quota: before c's job */
    submit(5, T_C, C_NORMAL, 1, 1000);
    cycle(1000);
    ok(ndec == 1 && dec[0].for_id == 4, "share: a's job claims the free GPU and reclaims one");
    ok(!started(5), "share: c's new job does not take the claimed GPU in the same pass");
}

/* Rule: one notion of "within quota" for a pending job: what its team holds, plus its team's
 * earlier pending jobs that are themselves within quota, plus its own GPUs, fit the quota. The
 * order, the reclaim and the skip rules all use it. An earlier job larger than what is left of
 * the quota does not count (a team with an oversized job queued still reclaims for its small
 * ones); an earlier job within quota does (two jobs that together exceed the quota do not both
 * reclaim while the first waits for its victims).
 * Mutations: cycle.c run_fill_head() counting every earlier job in r->inq (as the order's
 * cum did): the first part fails; evaluate() reclaiming on team_within_quota() alone, without
 * the entry's notion (as it did): the second part fails (two preemptions). */
static void test_within_quota_one_notion(void)
{
    setup();
    node("n1", 4);
    node("n2", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    submit(1, T_C, C_NORMAL, 4, 0);
    submit(2, T_C, C_NORMAL, 4, 0);
    cycle(0);
    ok(started(1) && started(2), "one notion: c borrows both nodes");
    submit(3, T_A, C_NORMAL, 8, 1000); /* never within a's quota of 4 */
    submit(4, T_A, C_NORMAL, 2, 1000); /* within it, though queued behind job 3 */
    cycle(1000);
    ok(preempted(1) || preempted(2), "one notion: a's 2-GPU job reclaims behind a's 8-GPU job");
    ok(ndec == 1 && dec[0].for_id == 4, "one notion: for job 4, one victim");

    setup();
    node("n1", 4);
    node("n2", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    submit(1, T_C, C_NORMAL, 4, 0);
    submit(2, T_C, C_NORMAL, 4, 0);
    cycle(0);
    submit(3, T_A, C_NORMAL, 4, 1000); /* a's quota */
    submit(4, T_A, C_NORMAL, 4, 1000); /* beyond it once job 3 counts */
    cycle(1000);
    is_int(ndec, 1, "one notion: a's two 4-GPU jobs on a quota of 4: one reclaim");
    ok(ndec && dec[0].for_id == 3, "one notion: for the first");
}

/* Rule: the passes skip the jobs that cannot act while a preemptor's nodes are held too (held
 * GPUs count as free in the bounds, and the entry's quota notion is evaluate's): with a hold
 * on, a full cluster and no reservation left, a queue of borrowers costs the pass nothing.
 * (Before, every pending job was examined in every pass with a hold: at Philly seed0 x 2,
 * nearly all passes.)
 * Mutation: restore `!holds &&` before cannot_start_now() in sched_cycle(): 40 examined. */
static void test_skip_with_holds(void)
{
    setup();
    sched_params_t p = *sched_params(S);
    p.reservations = 1;
    sched_set_params(S, &p);
    node("n1", 4);
    node("n2", 4);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    submit(1, T_C, C_NORMAL, 4, 0);
    submit(2, T_C, C_NORMAL, 4, 0);
    cycle(0);
    submit(3, T_A, C_NORMAL, 4, 1000);
    cycle(1000);
    ok(ndec == 1 && dec[0].for_id == 3, "skip: a's job reclaims a node (held for it)");
    for (uint64_t i = 10; i < 50; i++)
        submit(i, T_B, C_NORMAL, 4, 1010); /* b has no quota: borrowers, nowhere to go */
    sched_stats_t before, after;
    sched_get_stats(S, &before);
    cycle(1010);
    sched_get_stats(S, &after);
    is_int(ndec, 0, "skip: nothing to decide at 1010");
    ok(after.jobs_examined - before.jobs_examined <= 3,
       "skip: the pass with the hold examined %llu jobs of 41 (the preemptor, the one that "
       "takes the reservation)",
       (unsigned long long)(after.jobs_examined - before.jobs_examined));
}

/* Rule: the nodes a preemption frees are held for the preemptor until it starts: a job that
 * comes along while its victims stop one by one does not take them.
 * Mutations: return at the top of cycle.c hold_preemption_targets(); drop its call in
 * sched_cycle(); node_usable() ignoring holds (resv_start = now). */
static void test_nodes_held_for_preemptor(void)
{
    setup();
    node("n1", 4);
    node("n2", 4);
    submit(1, T_B, C_LOW, 4, 0);
    submit(2, T_B, C_LOW, 4, 0);
    cycle(0);
    ok(started(1) && started(2), "held: two low jobs fill both nodes");
    submit(3, T_A, C_HIGH, 8, 1000); /* a gang of 2 x 4 */
    cycle(1000);
    ok(preempted(1) && preempted(2), "held: the high 8-GPU job preempts both");
    sched_job_stopped(S, 1, 1010); /* job 2 is still in its grace period */
    submit(4, T_C, C_NORMAL, 4, 1010);
    cycle(1010);
    ok(!started(4), "held: a normal job does not take the node the high job's victim freed");
    ok(!started(3), "held: the gang does not start partly");
    sched_job_stopped(S, 2, 1120);
    cycle(1120);
    ok(started(3), "held: the high job starts once its last victim stopped");
    sched_job_info_t in = info(3);
    is_int(in.nslots, 2, "held: on both nodes");
}

/* Rule: preemption ranks the candidate nodes by the highest class among their victims first,
 * and only then by the work they would lose: a node of low-class victims goes before a node of
 * a higher class, even when the latter loses less.
 * Mutations: drop the top_class comparison from preempt.c cost_cmp(); compare it the other
 * way (`>`). */
static void test_victim_node_class_first(void)
{
    setup();
    int n1 = node("n1", 4);
    node("n2", 4);
    submit(1, T_B, C_LOW, 4, 0);    /* lowest class, loses 1000 s x 4 GPUs */
    submit(2, T_B, C_NORMAL, 4, 0); /* higher class, checkpointed: loses 10 s x 4 GPUs */
    cycle(0);
    ok(started(1) && started(2), "victim class: a low and a normal job run");
    int low_node = node_of(1);
    sched_job_checkpointed(S, 2, 990);
    submit(3, T_A, C_HIGH, 4, 1000);
    cycle(1000);
    ok(preempted(1), "victim class: the node of the low-class job is chosen");
    ok(!preempted(2), "victim class: not the normal job's, though it would lose less work");
    is_int(ndec, 1, "victim class: one victim");
    sched_job_stopped(S, 1, 1050);
    cycle(1050);
    ok(started(3) && node_of(3) == low_node, "victim class: the high job runs where it was (n%d)",
       low_node - n1 + 1);
}

int main(void)
{
    test_min_runtime();
    test_within_quota_first();
    test_reclaim_only_borrowed();
    test_nodes_held_for_preemptor();
    test_within_quota_one_notion();
    test_skip_with_holds();
    test_reclaim_despite_reservation();
    test_preemptors_share_node();
    test_victim_node_class_first();
    sched_free(S);
    return tap_done();
}
