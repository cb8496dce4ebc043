/* jobout: sbatch's -o/-e patterns, expanded as slurmstepd does. */
#include <stdlib.h>

#include "agent/jobout.h"
#include "tap.h"

static void check(const char *pattern, const jobout_vars_t *v, const char *want)
{
    char *got = jobout_expand(pattern, v);
    is_str(got, want, "'%s' -> '%s'", pattern, want);
    free(got);
}

int main(void)
{
    jobout_vars_t one = {.job_id = 42, .name = "train", .node = "gpu7.example.org",
                         .user = "alice", .node_rank = 1};
    check("slurm-%j.out", &one, "slurm-42.out");
    check("%x-%j.log", &one, "train-42.log");
    check("%A_%a.out", &one, "42_4294967294.out");   /* not an array task: as Slurm */
    check("out.%N.%u", &one, "out.gpu7.alice");        /* %N: the short name */
    check("r%n-t%t", &one, "r1-t1");
    check("100%%-%j", &one, "100%-42");
    check("%4j", &one, "0042");
    check("%10j", &one, "0000000042");
    check("%q-%", &one, "%q-%");                       /* not codes: as written */
    check("%5%", &one, "%5%");
    check("plain", &one, "plain");
    check("", &one, "");
    jobout_vars_t arr = {.job_id = 57, .array_id = 50, .array_index = 7, .name = "sweep",
                         .node = "n1", .user = "bob"};
    check("%A_%a.out", &arr, "50_7.out");
    check("%j", &arr, "57");
    check("%3a", &arr, "007");
    jobout_vars_t none = {.job_id = 1};
    check("%x|%N|%u", &none, "||");

    ok(jobout_per_node("out-%N.txt"), "%%N differs per node");
    ok(jobout_per_node("out-%2n.txt"), "%%2n differs per node");
    ok(jobout_per_node("out-%t"), "%%t differs per node");
    ok(!jobout_per_node("out-%j-%x"), "%%j %%x do not");
    ok(!jobout_per_node("100%%N"), "%%%%N is a '%%' and an N");
    return tap_done();
}
