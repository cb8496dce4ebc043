/* hostlist: node names in Slurm's compressed form (SLURM_JOB_NODELIST). */
#include <stdlib.h>

#include "common/hostlist.h"
#include "tap.h"

static void check(const char *const *names, size_t n, const char *want, const char *what)
{
    char *got = gt_hostlist_compress(names, n);
    is_str(got, want, "%s: %s", what, want);
    free(got);
}

int main(void)
{
    check(NULL, 0, "", "no node");
    check((const char *[]){"n1"}, 1, "n1", "one node stays as it is");
    check((const char *[]){"n1", "n2", "n3", "n5"}, 4, "n[1-3,5]", "a range and a single");
    check((const char *[]){"n5", "n3", "n1", "n2"}, 4, "n[1-3,5]", "sorted first");
    check((const char *[]){"n1", "n3"}, 2, "n[1,3]", "two apart");
    check((const char *[]){"n9", "n10", "n11"}, 3, "n[9-11]", "no padding across a digit");
    check((const char *[]){"gpu001", "gpu002", "gpu004"}, 3, "gpu[001-002,004]",
          "zero padding kept");
    check((const char *[]){"n01", "n1"}, 2, "n1,n01", "n1 and n01 are different groups");
    check((const char *[]){"a1", "b1", "a2"}, 3, "a[1-2],b1", "groups by prefix");
    check((const char *[]){"login", "n1", "n2"}, 3, "login,n[1-2]",
          "a name without a number as it is");
    check((const char *[]){"n2", "n2", "n3"}, 3, "n[2-3]", "a duplicate once");
    check((const char *[]){"n2", "n2"}, 2, "n2", "the same node twice is one");
    check((const char *[]){"rack1-n1", "rack1-n2"}, 2, "rack1-n[1-2]", "only final digits count");
    check((const char *[]){"n0", "n1"}, 2, "n[0-1]", "0 is a number, not padding");
    check((const char *[]){"x[1]", "n1"}, 2, "n1,x[1]", "a name with brackets is literal");
    return tap_done();
}
