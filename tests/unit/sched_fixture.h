/* sched_fixture.h: what the scheduler's unit tests share (each test program includes it once,
 * after sched.h and tap.h): the scheduler under test (S, made by the test's own setup), the
 * last pass's decisions, a pass that checks the invariants after itself, and questions about
 * those decisions and a job's placement. */
#ifndef GANTRY_TEST_SCHED_FIXTURE_H
#define GANTRY_TEST_SCHED_FIXTURE_H

static sched_t *S;
static size_t ndec;                  /* the last pass's decisions */
static const sched_decision_t *dec;
static int invariant_failures;       /* passes after which the invariants did not hold */

/* One pass at now; a failed invariant is a failed test (and counted). */
static inline void cycle(sched_time_t now)
{
    dec = sched_cycle(S, now, &ndec);
    char msg[256];
    if (!sched_check_invariants(S, msg, sizeof(msg))) {
        invariant_failures++;
        ok(0, "invariants after the pass at %lld: %s", (long long)now, msg);
    }
}

/* Whether the last pass decided a for job id. */
static inline bool decided(sched_action_t a, uint64_t id)
{
    for (size_t i = 0; i < ndec; i++)
        if (dec[i].action == a && dec[i].job_id == id)
            return true;
    return false;
}

static inline bool started(uint64_t id)
{
    return decided(SCHED_START, id);
}

static inline bool preempted(uint64_t id)
{
    return decided(SCHED_PREEMPT, id);
}

static inline sched_job_info_t info(uint64_t id)
{
    sched_job_info_t in = {0};
    sched_job_info(S, id, &in);
    return in;
}

/* The node of its first slot, or -1 when it holds none. */
static inline int node_of(uint64_t id)
{
    sched_job_info_t in = info(id);
    return in.nslots ? in.slots[0].node : -1;
}

#endif
