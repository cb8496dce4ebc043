/* exec.h: reaching inside a running job on this node: a command in it (gantry exec, an
 * interactive job's session) and a TCP port of it (gantry port-forward), for the server's
 * attach tasks (docs/agent-protocol.md "attach"); and the placeholder an interactive job runs.
 *
 * Inside means as the job's command is: for a plain process job, its cgroup (the agent's
 * cgroup configuration, the job's cgroup), the namespaces it does not share with the agent
 * (mount, network, UTS, IPC, PID), its Unix user and groups, its environment and its working
 * directory, all read from the job's process; for a container job, through the OCI runtime
 * (`runc|crun --root R exec [--tty] ID CMD...`), which enters the container as its own
 * process does. */
#ifndef GANTRY_AGENT_EXEC_H
#define GANTRY_AGENT_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/cgroup.h"
#include "common/transport.h"
#include "common/util.h"

/* What an attach task needs from the agent. */
typedef struct exec_attach_cfg {
    const char *server, *token, *node;
    const gt_transport_t *transport;
    const char *state_dir;
    const cgroup_cfg_t *cgroup;     /* NULL: the agent runs jobs without cgroups */
    const char *oci_runtime;        /* "runc" or "crun" (NULL: runc) */
} exec_attach_cfg_t;

/* Handles one attach task ({session, mode: exec|session|port, job_id, incarnation, command,
 * tty, rows, cols, term; port}) in a process of its own (detached: the agent does not wait for
 * it, and an agent restart leaves it running): it connects its leg to the server
 * (POST /v1/agent/attach) and runs the command in the job, or connects to the port. A session
 * (an interactive job's own command) ends the job with the command's status: the job's
 * placeholder (exec_hold_main) gets SIGUSR1 with it. */
void exec_attach_spawn(const exec_attach_cfg_t *cfg, const json_t *task);

/* `gantry session-hold`: what an interactive job runs under its supervisor until its session
 * ends (session_hold_main of agent/session_hold.h). */
int exec_hold_main(int argc, char **argv);

#endif
