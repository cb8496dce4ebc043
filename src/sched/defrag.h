/* defrag.h: defragmenting preemption, for a job within its team's quota that no node can hold
 * even once reclaim has taken every borrower it may (docs/scheduler.md, "Defragmenting
 * preemption").
 *
 * The case it serves (Philly seed0: every within-quota job served late): free GPUs are spread
 * over nodes, each node's rest held by small jobs that reclaim may not take (jobs within
 * their team's quota), so a whole-node job within its quota waits, sometimes for hours, while
 * the cluster has GPUs to spare. Defragmenting moves ONE such small job off a node, to free
 * GPUs it fits now elsewhere, and holds the node for the waiting job. */
#ifndef GANTRY_SCHED_DEFRAG_H
#define GANTRY_SCHED_DEFRAG_H

#include "sched/sched_internal.h"

/* For pending job ji (its acceptable types allowed by its team's limits: types), which may
 * reclaim (within its team's quota; the caller asks) and for which a preemption (preempt_for)
 * made no room: chooses a node where the free GPUs nobody was promised, the GPUs of the
 * victims preempt_for may take there (borrowers of teams above their quotas, lower classes),
 * and those of ONE movable job together hold ji. The movable job m:
 *   - is preemptible, of a class not above ji's, and has run at least the minimum runtime
 *     (preemption.min_runtime: a move displaces work within quota, as a priority victim);
 *   - runs on that one node only, on whole GPUs, fewer than ji needs there;
 *   - fits now on another node of its own GPU type, on free GPUs nobody was promised (its
 *     CPUs, memory, features and maintenance windows allowing).
 * The cheapest such node wins (the highest class among m and the victims taken, then their
 * victim costs summed, then the node). It preempts m (no reclaim backoff: m did not borrow)
 * and the victims needed there, cheapest first (a reclaimed borrower gets the backoff), each
 * a PREEMPT decision for ji with the grace period; nominates m's new node for m and holds the
 * GPUs it needs there until it starts again; nominates the node for ji and holds it from
 * now on, as preempt_for does. Only single-node jobs of at least 2 whole GPUs are served.
 * Returns true when it preempted, false when it decided nothing (no side effects but a note
 * of the failure, so that no job at least as large tries again in the same pass). */
bool defrag_for(sched_t *s, int ji, uint64_t types, sched_time_t now);

#endif
