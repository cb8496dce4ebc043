/* worker.h: the agent's background workers (hashing artifacts, fetching a job's inputs): a
 * forked child that does slow work at a lower priority than the node's jobs and leaves its
 * result as a JSON file the agent's loop reads when it sees the child exit. */
#ifndef GANTRY_AGENT_WORKER_H
#define GANTRY_AGENT_WORKER_H

#include <jansson.h>
#include <sys/types.h>

#include "common/util.h"

/* Forks a worker. In the parent returns its pid, or -1 with err set ("cannot fork a process
 * to WHAT: ..."). In the child returns 0, with SIGINT and SIGTERM at their defaults and its
 * nice value raised by nice (best effort: it works at the agent's priority if it cannot). */
pid_t worker_fork(int nice, const char *what, gt_error_t *err);

/* In the child: writes doc (stolen) to result_path atomically (mode 0600) and exits, 0 when
 * written; on failure says "gantry agent: cannot write WHAT: ..." on stderr and exits 1. */
_Noreturn void worker_finish(json_t *doc, const char *result_path, const char *what);

#endif
