/* two_ended.h: an array that keeps room at both ends, so that an entry added or removed
 * moves only the entries on its nearer side. The scheduler keeps two such arrays, sorted, whose
 * entries mostly come and go near the front: each team's queue (jobs start from its front, a
 * requeued job goes back near it: jobs.c) and the running jobs by expected end (the soonest end
 * first: backfill.c). With room at the back only, each start or end moved every entry after it:
 * the whole array, which grows with the cluster (at 100,000 pending jobs, 8 MB a start).
 *
 * The owner keeps a typed pointer to the entries (buf + off entries in) and their count n,
 * and gives the entry size with each call; each call returns where the entries start now. */
#ifndef GANTRY_SCHED_TWO_ENDED_H
#define GANTRY_SCHED_TWO_ENDED_H

#include <stddef.h>

struct two_ended {
    void *buf;                    /* owned; free() it */
    size_t off, cap;              /* the entries start `off` entries in; room for `cap` */
};

/* Opens a slot at position pos (0 <= pos <= n) of the n entries: those before it move down
 * one, or those from it up one (the fewer), reallocating with room at both ends when the
 * chosen side has none. The caller fills the slot (the returned start + pos) and counts it. */
void *two_ended_open(struct two_ended *a, size_t n, size_t pos, size_t size);

/* Closes the slot at position pos (pos < n) of the n entries: the entries on its nearer side
 * move one. The caller counts n - 1 entries. */
void *two_ended_close(struct two_ended *a, size_t n, size_t pos, size_t size);

/* Drops the first m entries (the caller has moved what it keeps past them). */
void *two_ended_drop_front(struct two_ended *a, size_t m, size_t size);

#endif
