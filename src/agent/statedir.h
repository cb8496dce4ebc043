/* statedir.h: one agent per state directory.
 *
 * Two agents on one state directory would each adopt the other's jobs (and kill the ones their
 * server does not know). The agent holds an flock(2) on STATE/agent.lock for as long as it
 * runs; the file holds its pid so that a second agent can say who holds it. The lock goes with
 * the process (kill -9 included): a stale file never blocks a restart. */
#ifndef GANTRY_AGENT_STATEDIR_H
#define GANTRY_AGENT_STATEDIR_H

#include "common/util.h"

/* Locks state_dir (which must exist) for this process. Returns the lock's file descriptor
 * (close-on-exec; keep it open while the agent runs), or -1 with err: errno EWOULDBLOCK and a
 * message naming the pid of the agent that holds it, or the system's error. */
int statedir_lock(const char *state_dir, gt_error_t *err);

#endif
