/* hostlist.h: node names in Slurm's hostlist form, as SLURM_JOB_NODELIST carries them:
 * "n1,n2,n3,n5" is "n[1-3,5]". */
#ifndef GANTRY_COMMON_HOSTLIST_H
#define GANTRY_COMMON_HOSTLIST_H

#include <stddef.h>

/* The names[0..n) in Slurm's compressed form, a new string (free it; "" for n == 0). A name
 * that ends in digits joins the others of the same prefix (what comes before the digits) and
 * the same zero padding ("n01" and "n02" make "n[01-02]"; "n9" and "n10" make "n[9-10]"; "n1"
 * and "n01" stay apart); consecutive numbers become ranges, one name alone stays as it is
 * ("n5"), and a name without final digits is written as it is. Groups are sorted by prefix,
 * numbers in a group ascending, duplicates once. A name holding ',' '[' or ']' (which the
 * form cannot tell apart) is written as it is, in its own group. */
char *gt_hostlist_compress(const char *const *names, size_t n);

#endif
