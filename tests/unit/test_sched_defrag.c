/* Defragmenting preemption (src/sched/defrag.c, docs/scheduler.md "Defragmenting
 * preemption"), one rule per test, through sched.h only. The cluster of every test: two
 * 4-GPU nodes, n1 holding a 1-GPU job of team b within b's quota and n2 a 1-GPU job of team c
 * within c's quota (3 GPUs free on each, none borrowed): team a, within its quota, asks for a
 * whole node. Reclaim may take neither job; a move of one of them makes room. The mutation
 * that breaks each rule is named above its test. */
#include <stdlib.h>

#include "sched/sched.h"
#include "tap.h"
#include "sched_fixture.h"

static int T_A, T_B, T_C, T_D, C_NORMAL, C_URGENT;

static void setup(void)
{
    sched_free(S);
    sched_params_t p = sched_params_default();
    p.half_life_s = 3600;
    p.grace_s = 120;
    p.min_runtime_s = 600;
    S = sched_new(&p);
    C_NORMAL = sched_class_add(S, "normal", 100, true, NULL);
    C_URGENT = sched_class_add(S, "urgent", 500, true, NULL);
    T_A = sched_team_add(S, "a", -1, 1, NULL);
    T_B = sched_team_add(S, "b", -1, 1, NULL);
    T_C = sched_team_add(S, "c", -1, 1, NULL);
    T_D = sched_team_add(S, "d", -1, 1, NULL);
    sched_team_set_quota(S, T_A, -1, 4000, -1, NULL);
    sched_team_set_quota(S, T_B, -1, 4000, -1, NULL);
    sched_team_set_quota(S, T_C, -1, 4000, -1, NULL);
}

static int node(const char *name, int gpus)
{
    sched_node_spec_t n = {.name = name, .gpu_type = "V100", .gpus = gpus, .leaf = "l1"};
    return sched_node_add(S, &n, NULL);
}

static sched_job_spec_t spec(uint64_t id, int team, int cls, int gpus, sched_time_t at,
                             sched_time_t est)
{
    return (sched_job_spec_t){.id = id, .team = team, .prio_class = cls,
                              .gpus_milli = (int64_t)gpus * 1000, .submit = at,
                              .estimate = est, .checkpointable = true};
}

static void submit_spec(sched_job_spec_t sp)
{
    sched_job_submit(S, &sp, NULL);
}

/* Builds the fragmented cluster: n1 = b's job 3 (1 GPU), n2 = c's job 4 (1 GPU), both within
 * their quotas, started at 0, long; jobs 1 and 2 (3 GPUs each) filled the rest until 100.
 * cls3 is job 3's class; no_preempt3 (no_preempt4) makes job 3 (4) not preemptible. */
static void fragment(int cls3, bool no_preempt3, bool no_preempt4)
{
    node("n1", 4);
    node("n2", 4);
    submit_spec(spec(1, T_B, C_NORMAL, 3, 0, 100));
    submit_spec(spec(2, T_C, C_NORMAL, 3, 0, 100));
    sched_job_spec_t j3 = spec(3, T_B, cls3, 1, 0, 100000);
    j3.no_preempt = no_preempt3;
    submit_spec(j3);
    sched_job_spec_t j4 = spec(4, T_C, C_NORMAL, 1, 0, 100000);
    j4.no_preempt = no_preempt4;
    submit_spec(j4);
    cycle(0);
    ok(started(1) && started(2) && started(3) && started(4), "setup: jobs 1-4 start");
    ok(node_of(3) >= 0 && node_of(4) >= 0 && node_of(3) != node_of(4),
       "setup: jobs 3 and 4 on different nodes");
    ok(!info(3).borrowing && !info(4).borrowing, "setup: jobs 3 and 4 are within quota");
    sched_job_finished(S, 1, 100);
    sched_job_finished(S, 2, 100);
    cycle(100);
    is_int(ndec, 0, "setup: nothing to decide at 100");
}

/* Rule: a whole-node job within its team's quota that no node holds, even with every
 * borrower reclaimed, gets a node by moving one small job within another team's quota that
 * fits elsewhere now; the node is held for it and it starts there when the moved job has
 * stopped; the moved job starts again on the other node.
 * Mutations: drop the defrag_for call in cycle.c evaluate() (job 3 is never preempted; job 5
 * waits); return true from defrag_for without preempting (same). */
static void test_moves_one_small_job(void)
{
    setup();
    fragment(C_NORMAL, false, false);
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    int n3 = node_of(3), n4 = node_of(4);
    cycle(1000);
    ok(preempted(3) == (n3 == 0), "move: the job on n1 is moved (cheapest node: the first)");
    ok(preempted(4) == (n4 == 0), "move: the job on n2 stays: one move is enough");
    is_int(ndec, 1, "move: one decision");
    uint64_t moved = preempted(3) ? 3 : 4;
    is_int(info(5).reason, SCHED_REASON_PREEMPTING, "move: job 5 waits for its victim");
    sched_stats_t st;
    sched_get_stats(S, &st);
    is_int(st.defrag_moves, 1, "move: counted as a defragmenting move");
    sched_job_stopped(S, moved, 1120);
    cycle(1120);
    ok(started(5) && node_of(5) == 0, "move: job 5 starts on n1 once the moved job stopped");
    ok(started(moved) && node_of(moved) == 1, "move: the moved job starts again on n2");
}

/* Rule: the passes skip no job that could move one: after a pass in which nobody could act
 * (d's 4-GPU borrower waits, nothing to reclaim, no lower class, no reservation left), a job
 * within quota that arrives moves one at once.
 * Mutation: drop the `s->reclaimable |= ...` line at the end of victim_bounds() (victim_times.c)
 * (the pass at 1000 is skipped as settled; job 5 waits). */
static void test_after_settled_pass(void)
{
    setup();
    sched_params_t p = *sched_params(S);
    p.reservations = 0; /* the skip rules apply from the first blocked job on */
    sched_set_params(S, &p);
    fragment(C_NORMAL, false, false);
    submit_spec(spec(9, T_D, C_NORMAL, 4, 700, 3600)); /* d: no quota, would borrow */
    cycle(700);
    is_int(ndec, 0, "settled: d's job waits, nothing decided");
    cycle(800);
    is_int(ndec, 0, "settled: nor in the next pass");
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    cycle(1000);
    ok(preempted(3) || preempted(4), "settled: a's job moves one job at once");
}

/* Rule: a job is moved only after it has run the minimum runtime (min_runtime, 600 s), as a
 * priority victim; at exactly 600 s it is.
 * Mutations: drop the `now - c->start < s->p.min_runtime_s` test from defrag.c movable()
 * (moved at 500 s); use sched_reclaim_min_runtime() instead (120 s: moved at 500 s). */
static void test_min_runtime(void)
{
    setup();
    fragment(C_NORMAL, false, false);
    submit_spec(spec(5, T_A, C_NORMAL, 4, 500, 3600));
    cycle(500);
    ok(!preempted(3) && !preempted(4), "min runtime: no move at 500 s (jobs started at 0)");
    cycle(599);
    ok(!preempted(3) && !preempted(4), "min runtime: nor at 599 s");
    cycle(600);
    ok(preempted(3) || preempted(4), "min runtime: at 600 s a job is moved");
}

/* Rule: only a job that fits now elsewhere, on GPUs nobody was promised, is moved (else the
 * move would only trade one waiting job for another).
 * Mutation: fits_elsewhere() returning true (job 3 is preempted though n2 is full). */
static void test_fits_elsewhere(void)
{
    setup();
    fragment(C_NORMAL, false, false);
    submit_spec(spec(6, T_C, C_NORMAL, 3, 200, 100000)); /* c: 4 of its quota of 4 */
    cycle(200);
    ok(started(6), "fits elsewhere: c's job 6 fills a node");
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    cycle(1000);
    is_int(ndec, 0, "fits elsewhere: nothing moved, as no other node has a free GPU");
    ok(info(5).state == SCHED_PENDING && info(5).reason != SCHED_REASON_PREEMPTING,
       "fits elsewhere: job 5 waits");
}

/* Rule: only a job that may reclaim (within its team's quota) moves others: work within quota
 * is never displaced to serve a borrower.
 * Mutation: drop `in_quota &&` before defrag_for in cycle.c evaluate() (d, with no quota,
 * moves job 3). */
static void test_only_within_quota(void)
{
    setup();
    fragment(C_NORMAL, false, false);
    submit_spec(spec(5, T_D, C_NORMAL, 4, 1000, 3600)); /* d has no quota: it would borrow */
    cycle(1000);
    is_int(ndec, 0, "within quota: a borrower moves nobody");
}

/* Rule: a moved job is preemptible and of a class not above the waiting job's.
 * Mutations: drop the class test (`c->cls_value > ...`) from defrag.c movable() (the urgent
 * job 3 is moved). Candidates come from the victim index, which holds only preemptible
 * running jobs: leaving a moved job in it (drop victims_remove() in preempt_victim()) fails
 * the invariants here. */
static void test_class_and_preemptible(void)
{
    setup();
    fragment(C_URGENT, false, true); /* job 4 may not be preempted: job 3 is the only choice */
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    cycle(1000);
    ok(!preempted(3), "class: b's urgent job is not moved for a normal one");
    is_int(ndec, 0, "class: nothing is moved");

    setup();
    fragment(C_NORMAL, true, false);
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    cycle(1000);
    ok(!preempted(3), "preemptible: b's no_preempt job is not moved");
    ok(preempted(4), "preemptible: c's job is moved instead");
}

/* The reclaim cases' cluster, filled one job a pass: c's jobs 10 (2 GPUs) and 4, b's job 12
 * (ends at 100) on one node; b's job 3 and d's job 7 (d has no quota: borrowed) on the other. */
static void fill_for_reclaim(void)
{
    submit_spec(spec(10, T_C, C_NORMAL, 2, 0, 100000));
    cycle(0);
    submit_spec(spec(4, T_C, C_NORMAL, 1, 1, 100000));
    cycle(1);
    submit_spec(spec(12, T_B, C_NORMAL, 1, 2, 100)); /* fills that node until 100 */
    cycle(2);
    submit_spec(spec(3, T_B, C_NORMAL, 1, 3, 100000));
    cycle(3);
    submit_spec(spec(7, T_D, C_NORMAL, 1, 4, 100000)); /* d has no quota: borrowed */
    cycle(4);
}

/* Rule: the move combines with reclaim: on the node, the free GPUs, the borrowers reclaim may
 * take, and one moved job together make room. Here n2 = b's job 3 (within quota) + d's
 * borrowed job 7 + 2 free; n1 = c's jobs 10 (2 GPUs) and 4 + 1 free (or the two the other way
 * round): neither a move nor a
 * reclaim alone frees a node.
 * Mutations: leave the victims out of the node's test in defrag_for (`free_g + vg < g` to
 * `free_g < g`): nothing is decided; drop `borrowing` (team_borrowing of the victim's team)
 * from defrag.c victim() (the second part: job 7 is reclaimed though its team is within its
 * quota). */
static void test_with_reclaim(void)
{
    setup();
    node("n1", 4);
    node("n2", 4);
    fill_for_reclaim();
    int x = node_of(10), y = 1 - x; /* (best fit: either node, then the fullest) */
    ok(node_of(4) == x && node_of(12) == x && node_of(3) == y && node_of(7) == y,
       "reclaim: one node holds jobs 10, 4, 12; the other jobs 3, 7");
    ok(info(7).borrowing && !info(3).borrowing, "reclaim: d's job 7 borrows, b's job 3 not");
    sched_job_finished(S, 12, 100);
    cycle(100);
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    cycle(1000);
    ok(preempted(7), "reclaim: d's borrowed job 7 is reclaimed");
    ok(preempted(3), "reclaim: b's job 3 is moved");
    is_int(ndec, 2, "reclaim: two preemptions");
    sched_job_stopped(S, 3, 1120);
    sched_job_stopped(S, 7, 1120);
    cycle(1120);
    ok(started(5) && node_of(5) == y, "reclaim: job 5 starts where jobs 3 and 7 ran");
    ok(started(3) && node_of(3) == x, "reclaim: job 3 starts again on the other node");
    ok(!started(7), "reclaim: the reclaimed borrower waits (no room left)");

    /* the same, but d's quota now covers its job 7: it is no longer reclaimable (its team is
     * not above its quota), and a move alone frees 3 GPUs of n2: nothing is decided */
    setup();
    node("n1", 4);
    node("n2", 4);
    fill_for_reclaim();
    ok(info(7).borrowing, "reclaim: d's job 7 started borrowing");
    sched_team_set_quota(S, T_D, -1, 1000, -1, NULL);
    sched_job_finished(S, 12, 100);
    cycle(100);
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    cycle(1000);
    is_int(ndec, 0, "reclaim: d within its quota again: its job is no victim, nothing moves");
}

/* The same reclaim with a drained node first (index 0): a one-node victim's node comes from
 * its victim-index entry, and must be its own (were it taken as node 0, the drained one, the
 * other node would lack victim 7's GPU and nothing would be decided). */
static void test_with_reclaim_node_index(void)
{
    setup();
    int n0 = node("n0", 4);
    sched_node_set_schedulable(S, n0, false);
    node("n1", 4);
    node("n2", 4);
    fill_for_reclaim();
    int x = node_of(10), y = 3 - x;
    ok(x >= 1 && node_of(3) == y && node_of(7) == y,
       "reclaim, node 0 drained: jobs 3 and 7 share the node job 10 is not on");
    sched_job_finished(S, 12, 100);
    cycle(100);
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    cycle(1000);
    ok(preempted(7) && preempted(3) && ndec == 2,
       "reclaim, node 0 drained: 7 reclaimed and 3 moved, for job 5 on their node");
}

/* Rule: the node is held for the waiting job from the move on: a job after it in the same pass
 * or a later one does not take the free GPUs there.
 * Mutation: drop preempt_hold_targets() in defrag_for (b's 3-GPU job 8 takes n1's free GPUs in
 * the same pass). */
static void test_node_held(void)
{
    setup();
    fragment(C_NORMAL, false, false);
    /* a (quota 4) first by fair share, then b's job 8 within b's quota, 3 GPUs */
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    submit_spec(spec(8, T_B, C_NORMAL, 3, 1000, 100));
    cycle(1000);
    ok(preempted(3) || preempted(4), "held: one job is moved for job 5");
    int held = preempted(3) ? 0 : 1;
    ok(!started(8) || node_of(8) != held, "held: job 8 does not start on the held node");
    sched_job_stopped(S, preempted(3) ? 3 : 4, 1120);
    cycle(1120);
    ok(started(5) && node_of(5) == held, "held: job 5 starts on the held node");
}

/* Rule: the room the moved job was found to fit in is held for it until it starts again: a
 * job that arrives while it stops does not take it (else a move could leave the moved job
 * waiting for hours: on Philly seed0, before this rule, 59 of 75 moved jobs waited past their
 * stop, up to 19 days).
 * Mutation: drop the job_set_targets()/preempt_hold_targets() of the moved job in defrag_for
 * (c's 3-GPU job 8 takes the other node's free GPUs; the moved job waits). */
static void test_moved_job_room_held(void)
{
    setup();
    fragment(C_NORMAL, false, false);
    submit_spec(spec(5, T_A, C_NORMAL, 4, 1000, 3600));
    cycle(1000);
    ok(preempted(3) || preempted(4), "room held: a job is moved for job 5");
    uint64_t moved = preempted(3) ? 3 : 4, other = moved == 3 ? 4 : 3;
    int dest = node_of(other); /* the only other node */
    /* d (no quota, limit none) asks for 3 GPUs: they are free on the destination now */
    submit_spec(spec(8, T_D, C_NORMAL, 3, 1060, 100000));
    cycle(1060);
    ok(!started(8), "room held: job 8 does not take the moved job's room");
    sched_job_stopped(S, moved, 1120);
    cycle(1120);
    ok(started(5), "room held: job 5 starts");
    ok(started(moved) && node_of(moved) == dest, "room held: the moved job starts again at once");
    ok(!started(8), "room held: job 8 still waits");
}

/* Rule: every job that could move from a node counts there, the largest too: on n1 (8 GPUs,
 * 1 free) b holds a 4-GPU job (not fewer GPUs than job 6 asks: it cannot move), a 1-GPU job
 * found first (moving it leaves 2 free, too few) and a 2-GPU job (moving it leaves 3); n2 (8
 * GPUs) holds c's 6-GPU job and 2 free GPUs, where the 2-GPU job fits. All within quota.
 * Mutation: keep the first movable job's GPUs as its node's most (`if (!n->mark_most)` for
 * `if (cv->whole > n->mark_most)` in defrag_for): n1 counts 1 + 1 < 3 and nothing moves. */
static void test_largest_movable_counts(void)
{
    setup();
    sched_team_set_quota(S, T_B, -1, 8000, -1, NULL);
    sched_team_set_quota(S, T_C, -1, 8000, -1, NULL);
    node("n1", 8);
    node("n2", 8);
    submit_spec(spec(1, T_C, C_NORMAL, 6, 0, 100000));
    submit_spec(spec(2, T_B, C_NORMAL, 4, 0, 100000));
    cycle(0);
    ok(started(1) && started(2) && node_of(1) != node_of(2), "largest: 6 and 4 GPUs, two nodes");
    submit_spec(spec(3, T_D, C_NORMAL, 2, 10, 100)); /* fills the 6-GPU job's node until 100 */
    cycle(10);
    ok(started(3) && node_of(3) == node_of(1), "largest: the filler beside the 6-GPU job");
    submit_spec(spec(4, T_B, C_NORMAL, 1, 20, 50000)); /* first in b's victims after job 2 */
    submit_spec(spec(5, T_B, C_NORMAL, 2, 20, 90000));
    cycle(20);
    ok(started(4) && started(5) && node_of(4) == node_of(2) && node_of(5) == node_of(2),
       "largest: b's 1- and 2-GPU jobs beside its 4-GPU job, 1 GPU free there");
    sched_job_finished(S, 3, 100);
    cycle(100);
    submit_spec(spec(6, T_A, C_NORMAL, 3, 1000, 3600));
    cycle(1000);
    ok(preempted(5) && !preempted(4) && ndec == 1, "largest: the 2-GPU job moves for job 6");
}

/* Rule: a gang, or a job of one GPU, is not served (a 1-GPU job that does not fit finds no
 * free GPU anywhere for the moved job either).
 * Mutation: drop `j->nodes != 1` from defrag_for: the 2-node job 5 (4 GPUs on each) makes one
 * move for a node it cannot use alone. */
static void test_gang_not_served(void)
{
    setup();
    fragment(C_NORMAL, false, false);
    sched_job_spec_t g = spec(5, T_A, C_NORMAL, 8, 1000, 3600);
    g.nodes = 2;
    sched_team_set_quota(S, T_A, -1, 8000, -1, NULL);
    submit_spec(g);
    cycle(1000);
    is_int(ndec, 0, "gang: no move for a 2-node job");
}

int main(void)
{
    test_moves_one_small_job();
    test_min_runtime();
    test_after_settled_pass();
    test_fits_elsewhere();
    test_only_within_quota();
    test_class_and_preemptible();
    test_with_reclaim();
    test_with_reclaim_node_index();
    test_node_held();
    test_moved_job_room_held();
    test_gang_not_served();
    test_largest_movable_counts();
    is_int(invariant_failures, 0, "the invariants held after every pass");
    sched_free(S);
    return tap_done();
}
