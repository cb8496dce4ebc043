/* pty.h: an attached command on the node (gantry exec, an interactive job's session): its
 * process under a pseudo-terminal (or pipes), relayed to and from the server's stream in
 * common/ttywire.h frames. */
#ifndef GANTRY_AGENT_PTY_H
#define GANTRY_AGENT_PTY_H

#include <stdbool.h>

#include "common/upgrade.h"

typedef struct pty_opts {
    bool tty;              /* a pseudo-terminal (rows x cols); else pipes: stdin, stdout, stderr */
    int rows, cols;        /* 0: 24 x 80 */
    int job_fd;            /* readable once the job ended (a pidfd); -1: none */
    /* Runs in the child, with stdin, stdout and stderr set up and every other descriptor
     * closed: makes it the command (execs); returns only on failure, after writing why to
     * stderr. */
    void (*start)(void *arg);
    void *arg;
} pty_opts_t;

/* Starts the command and relays until it ends: its output goes out as TTY_OUT (TTY_ERR for a
 * command without a terminal) frames, TTY_IN frames become its input, TTY_WINCH resizes its
 * terminal (its foreground group gets SIGWINCH), TTY_SIGNAL signals its foreground process
 * group, TTY_EOF closes its input (pipes). At its end, its status (exit code, or 128 + the
 * signal) goes out as TTY_EXIT and is returned. When the stream ends first (the client left) or
 * the job ends, the command is hung up (SIGHUP, SIGKILL 2 s later); the job's end is said in a
 * TTY_MSG. -1 when the stream broke (nothing more can be sent). */
int pty_relay(gt_upgrade_t *u, const pty_opts_t *o);

/* Relays raw bytes between u and the socket fd until both ends closed (a port forward). */
void pty_relay_raw(gt_upgrade_t *u, int fd);

#endif
