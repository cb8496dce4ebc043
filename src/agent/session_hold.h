/* session_hold.h: the placeholder an interactive job runs until its session (gantry run -it)
 * ends (docs/interactive.md). libc only: it is also the whole of bin/gantry-session-hold, a
 * static program that an interactive job in an image runs inside its container (the image
 * holds neither the gantry binary nor its libraries). */
#ifndef GANTRY_AGENT_SESSION_HOLD_H
#define GANTRY_AGENT_SESSION_HOLD_H

/* Where an interactive job in an image finds the placeholder inside its container (a
 * read-only bind of bin/gantry-session-hold). */
#define SESSION_HOLD_PATH "/gantry/session-hold"

/* Waits for a signal: SIGUSR1 sent with sigqueue ends it with the value as its exit status,
 * SIGTERM, SIGINT or SIGHUP with 128 + the signal. Reaps whatever child is left to it (it is
 * the container's first process: orphans of its sessions' commands come to it). Its signal
 * handlers are in place (SigCgt in /proc/PID/status shows SIGUSR1) before it waits: the agent
 * starts the session only then. Returns the exit status. */
int session_hold_main(void);

#endif
