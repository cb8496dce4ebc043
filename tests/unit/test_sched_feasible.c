/* sched_job_feasible (a job that could never run is refused with the numbers) and the messages
 * of sched_job_validate (they name the request, never a job id: at submission the job does not
 * exist yet), against sched_job_submit (the job exists: its id leads). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"
#include "tap.h"

static sched_t *S;
static int C, ORG, ML, SOLO;

static void setup(void)
{
    sched_free(S);
    sched_params_t p = sched_params_default();
    S = sched_new(&p);
    C = sched_class_add(S, "normal", 100, true, NULL);
    ORG = sched_team_add(S, "org", -1, 1, NULL);
    ML = sched_team_add(S, "ml", ORG, 1, NULL);
    SOLO = sched_team_add(S, "solo", -1, 1, NULL);
    sched_team_set_quota(S, ORG, -1, 4000, 12000, NULL);
}

static void node(const char *name, const char *type, int gpus)
{
    sched_node_spec_t n = {.name = name, .gpu_type = type, .gpus = gpus};
    if (sched_node_add(S, &n, NULL) < 0)
        ok(0, "node %s added", name);
}

static sched_job_spec_t job(int team, int64_t gpus, int nodes)
{
    return (sched_job_spec_t){.id = 14, .team = team, .prio_class = C, .gpus_milli = gpus * 1000,
                              .nodes = nodes};
}

/* Refused with ERANGE, code unsatisfiable, and the message containing want. */
static void refused(sched_job_spec_t sp, const char *want, const char *what)
{
    gt_error_t err = {0};
    errno = 0;
    int rc = sched_job_feasible(S, &sp, &err);
    ok(rc == -1 && errno == ERANGE, "%s: refused (rc %d, errno %d)", what, rc, errno);
    is_str(err.code, "unsatisfiable", "%s: code", what);
    ok(strstr(err.msg, want) != NULL, "%s: message has '%s': %s", what, want, err.msg);
}

static void accepted(sched_job_spec_t sp, const char *what)
{
    gt_error_t err = {0};
    int rc = sched_job_feasible(S, &sp, &err);
    ok(rc == 0, "%s: accepted%s%s", what, rc ? ": " : "", rc ? err.msg : "");
}

static void test_limits(void)
{
    setup();
    /* Team limits hold even before any node is known (they are the configuration's). */
    refused(job(ORG, 16, 0), "team org may hold at most 12 (its limit)", "16 GPUs over org's 12");
    refused(job(ML, 13, 0), "team ml's parent org may hold at most 12",
            "13 GPUs in ml, over its parent's 12");
    accepted(job(ML, 12, 0), "12 GPUs in ml: the parent's limit exactly");
    accepted(job(SOLO, 64, 0), "no node known yet: 64 GPUs wait for agents to register");
    sched_params_t p = sched_params_default();
    p.quotas = false;
    sched_t *off = sched_new(&p);
    sched_class_add(off, "normal", 100, true, NULL);
    int t = sched_team_add(off, "org", -1, 1, NULL);
    sched_team_set_quota(off, t, -1, 4000, 12000, NULL);
    sched_job_spec_t sp = job(t, 16, 0);
    sp.prio_class = 0;
    ok(sched_job_feasible(off, &sp, NULL) == 0, "quotas off: limits are not judged");
    sched_free(off);
    /* A per-type limit binds only when every type the job accepts is limited below it. */
    setup();
    node("h1", "H100", 8);
    node("a1", "A100", 8);
    sched_team_set_quota(S, SOLO, sched_gpu_type_find(S, "H100"), 0, 2000, NULL);
    accepted(job(SOLO, 4, 0), "4 GPUs: A100 is not limited");
    sp = job(SOLO, 4, 0);
    sp.gpu_types = 1ULL << sched_gpu_type_find(S, "H100");
    refused(sp, "at most 2 of type H100", "4 H100 GPUs over a 2-GPU H100 limit");
}

static void test_cluster(void)
{
    setup();
    node("node-a", "H100", 8);
    node("node-b", "H100", 2);
    refused(job(SOLO, 64, 0), "the job asks for 64 GPUs; the cluster has 10 (2 nodes: node-a 8, "
            "node-b 2)", "64 GPUs on 8+2");
    accepted(job(SOLO, 8, 0), "8 GPUs fit node-a");
    accepted(job(SOLO, 2, 2), "1 GPU on each of 2 nodes");
    refused(job(SOLO, 3, 3), "the job asks for 3 nodes; the cluster has 2 with GPUs (node-a 8, "
            "node-b 2)", "3 nodes of 2");
    refused(job(SOLO, 8, 2), "4 GPUs on each of 2 nodes; the cluster has 1 node with 4 or more "
            "(node-a 8)", "4 per node on 8+2");
    refused(job(SOLO, 10, 0), "spread evenly that is 5 on each of 2 nodes; the cluster has 1 "
            "node with 5 or more", "10 GPUs, nodes chosen: 5+5 needed");
    refused(job(SOLO, 9, 1), "9 GPUs on each of 1 node; the cluster has no node with 9 or more",
            "9 GPUs on one node");
    sched_job_spec_t half = job(SOLO, 0, 0);
    half.gpus_milli = 500;
    accepted(half, "half a GPU");
    /* Down nodes count: they may come back. */
    sched_node_set_up(S, 1, false);
    accepted(job(SOLO, 2, 2), "node-b down: 2 nodes still count");
    /* Types: only the nodes of accepted types count. */
    node("cpu-1", NULL, 0);
    node("a1", "A100", 4);
    sched_job_spec_t sp = job(SOLO, 12, 0);
    sp.gpu_types = 1ULL << sched_gpu_type_find(S, "H100");
    refused(sp, "the job asks for 12 GPUs of type H100; the cluster has 10 (2 nodes: node-a 8, "
            "node-b 2)", "12 H100 GPUs");
    accepted(job(SOLO, 8, 2), "4 GPUs on each of 2 nodes of any type: node-a and a1 hold 4");
    refused(job(SOLO, 1, 4), "the job asks for 4 nodes; the cluster has 3 with GPUs",
            "a CPU-only node does not count for a GPU job");
    accepted(job(SOLO, 0, 4), "a CPU-only job (gpus 0) on 4 nodes: every node counts");
    refused(job(SOLO, 0, 5), "the job asks for 5 nodes; the cluster has 4 (node-a, node-b, "
            "cpu-1, a1)", "a CPU-only job on 5 nodes of 4");
}

static void test_messages(void)
{
    setup();
    node("node-a", "H100", 8);
    sched_job_spec_t sp = job(SOLO, 3, 2);
    gt_error_t err = {0};
    errno = 0;
    ok(sched_job_validate(S, &sp, &err) == -1 && errno == EINVAL, "3 GPUs over 2 nodes: EINVAL");
    is_str(err.msg, "2 nodes must each get the same whole number of GPUs: 3 GPUs do not divide "
           "by 2 (ask for 2 or 4 GPUs, or for other nodes)",
           "validate: the message names the request, not job 14");
    memset(&err, 0, sizeof(err));
    errno = 0;
    ok(sched_job_submit(S, &sp, &err) == -1 && errno == EINVAL, "submit: EINVAL");
    ok(!strncmp(err.msg, "job 14: 2 nodes must", 20), "submit: the existing job's id leads: %s",
       err.msg);
    sp = job(99, 1, 0);
    memset(&err, 0, sizeof(err));
    sched_job_validate(S, &sp, &err);
    is_str(err.msg, "unknown team", "validate: unknown team, no id");
}

int main(void)
{
    test_limits();
    test_cluster();
    test_messages();
    sched_free(S);
    return tap_done();
}
