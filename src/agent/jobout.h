/* jobout.h: the node-side copies of a job's stdout and stderr that sbatch's -o/-e ask for (the
 * job's `output` and `error` path patterns). The job's own logs in its directory, which the
 * agent sends to the server, stay as they are: a tee process copies each stream to both.
 *
 * The tee runs as the job's user (its groups, gid, uid) from the moment it opens the files:
 * a path resolves relative to the job's workdir with that user's rights only, so a pattern
 * cannot make the agent (root) write where the user may not. */
#ifndef GANTRY_AGENT_JOBOUT_H
#define GANTRY_AGENT_JOBOUT_H

#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

/* What a pattern's %-codes expand to. */
typedef struct jobout_vars {
    int64_t job_id;
    int64_t array_id;               /* 0 = not an array task */
    int64_t array_index;
    const char *name;               /* %x */
    const char *node;               /* %N (up to its first '.') */
    const char *user;               /* %u */
    int node_rank;                  /* %n and %t (one task per node) */
} jobout_vars_t;

/* The pattern with sbatch's codes expanded, a new string: %j job id, %A the array's id (the
 * job id when not an array task), %a the array index (4294967294 when not an array task, as
 * Slurm writes it), %x job name, %N node name, %u user, %n node rank, %t task rank (= node
 * rank), %% a '%'. A number between '%' and the letter pads the number codes with zeros to
 * that width ("%4j" -> 0042). Any other code stays as written. */
char *jobout_expand(const char *pattern, const jobout_vars_t *v);

/* Whether the expanded pattern differs between the nodes of a gang (%N, %n or %t in it). */
bool jobout_per_node(const char *pattern);

typedef struct jobout {
    const char *out_path, *err_path; /* expanded; NULL = that stream is not copied; equal
                                        paths share one file */
    const char *dir;                 /* relative paths start here (the job's workdir) */
    bool append;                     /* O_APPEND instead of truncating (a later incarnation) */
    const struct passwd *pw;         /* the job's user, when switch_user */
    bool switch_user;
    const gid_t *groups;
    int ngroups;
} jobout_t;

/* Starts the tee: for each stream with a path, *out_fd (or *err_fd), the job's log in its
 * directory, is replaced by the write end of a pipe that the tee copies to that log and to
 * the file; the caller gives the new fd to the job and closes it once the job started (the
 * tee ends when every writer has). Returns the tee's pid (the caller's child: reap it), or -1
 * with err when a file cannot be opened as the user (nothing left running, fds unchanged). */
pid_t jobout_start(const jobout_t *jo, int *out_fd, int *err_fd, gt_error_t *err);

#endif
