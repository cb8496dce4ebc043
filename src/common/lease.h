/* lease.h: the timing contract that keeps a job from running on two nodes at once.
 *
 * A node holds a lease from the server: after each request the server answered (register,
 * heartbeat, report) the node's lease runs until lease_s after the moment it sent that
 * request. When the lease runs out, the node's supervisors stop the jobs the server could
 * start elsewhere, by themselves (agent alive or not): the checkpoint signal, at most
 * fence_grace_s of grace, then SIGKILL. The server declares the node lost, and only then
 * starts its jobs elsewhere, after lost_after_s of silence counted from when it handled the
 * node's last request (which the node sent no later) and over time the server itself ran.
 * So the node's copies are gone before another starts whenever
 *
 *     (lease_s + fence_grace_s) * (1 + LEASE_RATE_ERROR) + LEASE_KILL_MARGIN_S
 *         <= lost_after_s * (1 - LEASE_RATE_ERROR)
 *
 * LEASE_RATE_ERROR bounds how much faster or slower than true time either machine's
 * monotonic clock runs (crystals and NTP's slew are within 0.1 %; 1 % is assumed);
 * LEASE_KILL_MARGIN_S covers a supervisor that wakes late on a loaded node and SIGKILL taking
 * effect. lease_params_for() derives the three durations from the heartbeat interval so that
 * the inequality holds (tests/unit/test_lease.c checks it); docs/agent.md explains it. */
#ifndef GANTRY_COMMON_LEASE_H
#define GANTRY_COMMON_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#define LEASE_RATE_ERROR 0.01
#define LEASE_KILL_MARGIN_S 1.0

typedef struct lease_params {
    double heartbeat_s;     /* between a node's heartbeats */
    double lease_s;         /* a node stops its jobs this long after its last answered request */
    double fence_grace_s;   /* the most grace a job stopped by its node's fence gets */
    double lost_after_s;    /* silence after which the server declares a node lost */
} lease_params_t;

/* The lease, fence grace and lost-node timeout for a heartbeat interval (seconds, > 0):
 * lease 2 heartbeats (a node misses one and keeps its jobs), fence grace 1 heartbeat, and
 * the lost-node timeout the smallest that satisfies the inequality above. */
void lease_params_for(double heartbeat_s, lease_params_t *p);

/* True when p satisfies the inequality above and the lease outlasts a heartbeat interval (a
 * node that answers every heartbeat keeps its lease). */
bool lease_params_safe(const lease_params_t *p);

#endif
