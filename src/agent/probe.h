/* probe.h: a service replica's port and its readiness and liveness probes, on the node
 * (docs/services.md).
 *
 * The agent gives each replica a free port (GANTRY_PORT) and registers it here with its probes
 * (the start task's "readiness" and "liveness": {http: PATH | command: [...], period, timeout,
 * failures, initial_delay}). A thread of its own runs the probes, so that a slow one never
 * holds up the agent's loop: an HTTP probe is a GET of PATH on 127.0.0.1:PORT (2xx and 3xx
 * pass), a command probe runs with GANTRY_PORT set, as the job's user when the agent is root
 * (exit 0 passes), each within its timeout. A replica is ready after one pass of its readiness
 * probe and not ready after `failures` in a row; without a readiness probe, its port accepting
 * a connection is the probe (every 0.2 s). A
 * liveness probe failing `failures` times in a row reports the replica dead once: the agent
 * stops it (reason "liveness") and the server restarts it. Liveness is probed only once the
 * replica has been ready (and its initial_delay passed): a replica still starting (loading a
 * model for minutes) is judged by readiness alone, gets no requests, and is never stopped for
 * being slow to start. */
#ifndef GANTRY_AGENT_PROBE_H
#define GANTRY_AGENT_PROBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

typedef struct probe_set probe_set_t;

typedef enum probe_what {
    PROBE_READY,             /* readiness passes */
    PROBE_UNREADY,           /* readiness failed `failures` times in a row */
    PROBE_DEAD,              /* liveness failed `failures` times in a row: stop it */
} probe_what_t;

typedef struct probe_event {
    int64_t job_id;
    int incarnation;
    int port;
    probe_what_t what;
    char message[256];       /* the last failure, or "" */
} probe_event_t;

/* A free TCP port of this node (bound on every address, then released for the job): 0 and
 * *port, or -1 with err. */
int probe_free_port(int *port, gt_error_t *err);

/* Starts the prober's thread; NULL with err when it cannot. probe_set_free stops it (accepts
 * NULL). */
probe_set_t *probe_set_new(gt_error_t *err);
void probe_set_free(probe_set_t *ps);
/* Registers replica (job_id, incarnation) on port with its probes (borrowed; NULL for none)
 * and the Unix user (uid, gid) a command probe runs as when the agent is root (uid -1: the
 * agent's own). A second registration of the same replica replaces the first. */
void probe_add(probe_set_t *ps, int64_t job_id, int incarnation, int port,
               const json_t *readiness, const json_t *liveness, uid_t uid, gid_t gid);
void probe_remove(probe_set_t *ps, int64_t job_id, int incarnation);
/* The port of a registered replica, or 0. */
int probe_port(probe_set_t *ps, int64_t job_id, int incarnation);
/* Moves up to max events that happened since the last call into out; returns how many. */
size_t probe_events(probe_set_t *ps, probe_event_t *out, size_t max);
/* The heartbeat's list: [{job_id, incarnation, port, ready}] of every replica registered. */
json_t *probe_status(probe_set_t *ps);

/* One probe now (spec: a start task's probe), on 127.0.0.1:port: 0 when it passes, -1 with the
 * reason in msg otherwise. uid/gid as probe_add. For the thread, and for tests. */
int probe_run(const json_t *spec, int port, uid_t uid, gid_t gid, char *msg, size_t len);

#endif
