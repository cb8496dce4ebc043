/* session_hold.c: an interactive job's placeholder (session_hold.h). libc only. */
#include "agent/session_hold.h"

#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>

static volatile sig_atomic_t hold_sig, hold_code;

static void on_hold_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    hold_code = sig == SIGUSR1 && si->si_code == SI_QUEUE ? si->si_value.sival_int & 255 : 0;
    hold_sig = sig;
}

static void on_child(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int session_hold_main(void)
{
    /* Handlers, not sigwaitinfo: the agent sees that SIGUSR1 is caught (SigCgt in
     * /proc/PID/status) before it starts the session. */
    sigset_t set, old;
    sigemptyset(&set);
    int sigs[] = {SIGUSR1, SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < 4; i++)
        sigaddset(&set, sigs[i]);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    struct sigaction sa = {.sa_sigaction = on_hold_signal, .sa_flags = SA_SIGINFO};
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < 4; i++)
        sigaction(sigs[i], &sa, NULL);
    struct sigaction sc = {.sa_handler = on_child, .sa_flags = SA_RESTART};
    sigfillset(&sc.sa_mask);
    sigaction(SIGCHLD, &sc, NULL);
    on_child(SIGCHLD);
    while (!hold_sig)
        sigsuspend(&old);
    return hold_sig == SIGUSR1 ? hold_code : 128 + hold_sig;
}
