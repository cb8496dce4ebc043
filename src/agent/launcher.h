/* launcher.h: gantry-launcher, a small program that forks the jobs' supervisors for the agent.
 *
 * Why: a supervisor forked from the agent copies the page tables of the agent's whole image
 * (libcurl and its ~35 libraries, NVML, the job table), takes copy-on-write faults on both sides
 * and tears it all down again at exit: on a virtualised host that is most of a short job's
 * cost. gantry-launcher links only libc and jansson: the agent starts it once (posix_spawn, next
 * to the gantry binary), and each supervisor is a fork of that small image.
 *
 * The agent talks to it over a socketpair (the launcher's fd 3): a request is a 4-byte length
 * and a JSON supervisor spec (spec_wire.h); the answer a fixed record with, on success, the
 * ready pipe of supervisor_spawn passed as SCM_RIGHTS. The launcher ignores SIGCHLD (its
 * children never linger as zombies) and exits when the agent's end closes (the agent exits or
 * is killed); the supervisors it started keep running, as they do when the agent forks them.
 * Without the program (not installed) the agent forks supervisors itself. */
#ifndef GANTRY_AGENT_LAUNCHER_H
#define GANTRY_AGENT_LAUNCHER_H

#include <sys/types.h>

#include "agent/supervisor.h"
#include "common/util.h"

typedef struct launcher launcher_t;

/* The launcher program: $GANTRY_LAUNCHER, else gantry-launcher beside the running binary.
 * A new string, or NULL (ENOENT) if there is none. */
char *launcher_path(void);

/* Starts the launcher program at path. nss_user: the account whose passwd and group entries
 * it looks up once at start (NULL = its own), so that every supervisor inherits the loaded NSS
 * modules. A new handle, or NULL with errno and err. */
launcher_t *launcher_start(const char *path, const char *nss_user, gt_error_t *err);

/* Same contract as supervisor_spawn (ready fd, start byte, end of file at the supervisor's
 * end, EEXIST for an incarnation that already has a job directory), except that the launcher,
 * not the caller, reaps the supervisor. A launcher found dead, or that does not answer in
 * time, is killed, started again once, and the request repeated. */
int launcher_spawn(launcher_t *l, const supervisor_spec_t *spec, int *ready_fd,
                   gt_error_t *err);

pid_t launcher_pid(const launcher_t *l);

/* How long launcher_spawn waits for an answer (default 10 s, a start takes milliseconds):
 * past it the launcher is taken for hung, killed, and replaced. */
void launcher_set_timeout(launcher_t *l, int timeout_ms);

/* Closes the agent's end (the launcher then exits), reaps it, frees l. Accepts NULL. */
void launcher_stop(launcher_t *l);

/* The launcher program's loop on sock (its fd 3): serves requests until end of file.
 * Returns the exit status. */
int launcher_serve(int sock, const char *nss_user);

#endif
