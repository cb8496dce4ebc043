/* fence.h: the node's lease, as its agent and its jobs' supervisors share it.
 *
 * The agent writes <state dir>/lease after each request the server answered (common/lease.h
 * says when the lease runs out and why that keeps a job from running twice); each supervisor
 * of a job the server may start elsewhere (supervisor_spec_t.fence) reads it and stops its
 * job once the deadline has passed, whether or not the agent still runs. The deadline is on
 * CLOCK_BOOTTIME, which goes on through a suspend (CLOCK_MONOTONIC does not); the file is
 * replaced atomically (write, then rename), so a reader never sees half of one. libc only:
 * the supervisor launcher links it. */
#ifndef GANTRY_AGENT_FENCE_H
#define GANTRY_AGENT_FENCE_H

#include <stdint.h>

#include "common/util.h"

typedef struct fence_lease {
    double deadline;        /* fence_clock() seconds at which the lease runs out */
    double grace_s;         /* the most grace a fenced job gets (the server's fence_grace_s) */
    uint64_t agent;         /* which agent process wrote it: each agent takes the next number
                               at its start, before it looks for the jobs of the one before */
} fence_lease_t;

/* Seconds on CLOCK_BOOTTIME (since boot, suspend included). */
double fence_clock(void);

/* Replaces <state_dir>/lease with l. -1 with errno and err if it cannot. */
int fence_lease_write(const char *state_dir, const fence_lease_t *l, gt_error_t *err);

/* Reads <state_dir>/lease into *l. -1 with ENOENT if there is none, EINVAL if it is damaged. */
int fence_lease_read(const char *state_dir, fence_lease_t *l);

#endif
