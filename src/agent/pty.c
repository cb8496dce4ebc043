/* pty.c: an attached command's process and its relay (pty.h). */
#include "agent/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/ttywire.h"

static int pidfd_of(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static int send_exit(gt_upgrade_t *u, int status)
{
    unsigned char st[4] = {0, 0, 0, (unsigned char)status};
    return tty_frame_send(u, TTY_EXIT, st, sizeof(st));
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static int status_of(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return 255;
}

/* Reads what fd holds now and sends it as frames of type; false at its end (or error). */
static bool pump_out(gt_upgrade_t *u, int fd, char type, bool *broke)
{
    char buf[16384];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r > 0) {
            if (tty_frame_send(u, type, buf, (size_t)r) < 0) {
                *broke = true;
                return false;
            }
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        return false; /* 0, or EIO: the terminal's other side is closed */
    }
}

/* Hangs the command up: SIGHUP to its group, SIGKILL after 2 s; reaps it. */
static int hang_up(pid_t pid, int pidfd)
{
    kill(-pid, SIGHUP);
    kill(pid, SIGHUP);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    if (poll(&p, 1, 2000) <= 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    return status_of(ws);
}

int pty_relay(gt_upgrade_t *u, const pty_opts_t *o)
{
    int in_fd = -1, out_fd = -1, err_fd = -1;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    struct winsize ws = {.ws_row = (unsigned short)(o->rows > 0 ? o->rows : 24),
                         .ws_col = (unsigned short)(o->cols > 0 ? o->cols : 80)};
    int master = -1, slave = -1;
    if (o->tty) {
        if (openpty(&master, &slave, NULL, NULL, &ws) < 0) {
            char m[200];
            snprintf(m, sizeof(m), "gantry: cannot open a pseudo-terminal on the node: %s\r\n",
                     strerror(errno));
            tty_frame_send(u, TTY_MSG, m, strlen(m));
            send_exit(u, 127);
            return 127;
        }
    } else if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 ||
               pipe2(perr, O_CLOEXEC) < 0) {
        tty_frame_send(u, TTY_MSG, "gantry: cannot make pipes on the node\n", 38);
        send_exit(u, 127);
        return 127;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        if (o->tty) {
            ioctl(slave, TIOCSCTTY, 0);
            dup2(slave, 0);
            dup2(slave, 1);
            dup2(slave, 2);
        } else {
            dup2(pin[0], 0);
            dup2(pout[1], 1);
            dup2(perr[1], 2);
        }
        closefrom(3);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        o->start(o->arg);
        _exit(127);
    }
    if (o->tty) {
        close(slave);
        in_fd = out_fd = master;
    } else {
        close(pin[0]);
        close(pout[1]);
        close(perr[1]);
        in_fd = pin[1];
        out_fd = pout[0];
        err_fd = perr[0];
    }
    if (pid < 0) {
        tty_frame_send(u, TTY_MSG, "gantry: cannot fork on the node\n", 32);
        send_exit(u, 127);
        return 127;
    }
    set_nonblock(out_fd);
    if (err_fd >= 0)
        set_nonblock(err_fd);
    int pidfd = pidfd_of(pid);
    tty_reader_t rd = {0};
    bool broke = false, out_open = true, err_open = err_fd >= 0;
    int status = -1;
    for (;;) {
        struct pollfd p[5] = {{.fd = gt_upgrade_fd(u), .events = POLLIN},
                              {.fd = out_open ? out_fd : -1, .events = POLLIN},
                              {.fd = err_open ? err_fd : -1, .events = POLLIN},
                              {.fd = pidfd, .events = POLLIN},
                              {.fd = o->job_fd, .events = POLLIN}};
        if (!gt_upgrade_pending(u) && poll(p, 5, 1000) < 0 && errno != EINTR)
            break;
        if (gt_upgrade_pending(u) || p[0].revents) {
            bool gone = tty_reader_drain(&rd, u) < 0;
            char type;
            const char *d;
            size_t n;
            int k;
            while ((k = tty_reader_next(&rd, &type, &d, &n)) > 0) {
                if (type == TTY_IN && in_fd >= 0) {
                    size_t off = 0;
                    while (off < n) {
                        ssize_t w = write(in_fd, d + off, n - off);
                        if (w < 0 && errno == EINTR)
                            continue;
                        if (w <= 0)
                            break;
                        off += (size_t)w;
                    }
                } else if (type == TTY_WINCH && n == 4 && master >= 0) {
                    const unsigned char *q = (const unsigned char *)d;
                    struct winsize z = {.ws_row = (unsigned short)(q[0] << 8 | q[1]),
                                        .ws_col = (unsigned short)(q[2] << 8 | q[3])};
                    ioctl(master, TIOCSWINSZ, &z);
                } else if (type == TTY_SIGNAL && n == 1) {
                    int sig = (unsigned char)d[0];
                    pid_t fg = master >= 0 ? tcgetpgrp(master) : -1;
                    if (sig > 0 && sig < 65)
                        kill(fg > 0 ? -fg : -pid, sig);
                } else if (type == TTY_EOF && !o->tty && in_fd >= 0) {
                    close(in_fd);
                    in_fd = -1;
                }
            }
            if (k < 0 || gone) { /* the client left: hang the command up */
                hang_up(pid, pidfd);
                broke = true;
                break;
            }
        }
        if (out_open && p[1].revents)
            out_open = pump_out(u, out_fd, TTY_OUT, &broke);
        if (err_open && p[2].revents)
            err_open = pump_out(u, err_fd, TTY_ERR, &broke);
        if (broke) {
            hang_up(pid, pidfd);
            break;
        }
        if (p[3].revents) { /* it ended: what it wrote last, then its status */
            int wst = 0;
            waitpid(pid, &wst, 0);
            status = status_of(wst);
            if (out_open)
                pump_out(u, out_fd, TTY_OUT, &broke);
            if (err_open)
                pump_out(u, err_fd, TTY_ERR, &broke);
            if (!broke && send_exit(u, status) < 0)
                broke = true;
            break;
        }
        if (o->job_fd >= 0 && p[4].revents) {
            const char *m = "\r\ngantry: the job ended; this session ends with it.\r\n";
            tty_frame_send(u, TTY_MSG, m, strlen(m));
            status = hang_up(pid, pidfd);
            if (send_exit(u, status) < 0)
                broke = true;
            break;
        }
    }
    tty_reader_free(&rd);
    if (in_fd >= 0 && in_fd != master)
        close(in_fd);
    if (master >= 0)
        close(master);
    if (out_fd >= 0 && out_fd != master)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    if (pidfd >= 0)
        close(pidfd);
    return broke ? -1 : status;
}

void pty_relay_raw(gt_upgrade_t *u, int fd)
{
    char buf[32768];
    bool up_open = true, fd_open = true;
    set_nonblock(fd);
    while (up_open || fd_open) {
        struct pollfd p[2] = {{.fd = up_open ? gt_upgrade_fd(u) : -1, .events = POLLIN},
                              {.fd = fd_open ? fd : -1, .events = POLLIN}};
        if (!(up_open && gt_upgrade_pending(u)) && poll(p, 2, 1000) < 0 && errno != EINTR)
            return;
        if (up_open && (gt_upgrade_pending(u) || p[0].revents)) {
            for (;;) {
                ssize_t r = gt_upgrade_recv(u, buf, sizeof(buf));
                if (r > 0) {
                    size_t off = 0;
                    while (off < (size_t)r) {
                        ssize_t w = send(fd, buf + off, (size_t)r - off, MSG_NOSIGNAL);
                        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                            struct pollfd q = {.fd = fd, .events = POLLOUT};
                            poll(&q, 1, 1000);
                            continue;
                        }
                        if (w <= 0)
                            return;
                        off += (size_t)w;
                    }
                    continue;
                }
                if (r < 0 && errno == EAGAIN)
                    break;
                up_open = false; /* the client is done sending: so is the job's peer */
                shutdown(fd, SHUT_WR);
                break;
            }
        }
        if (fd_open && p[1].revents) {
            for (;;) {
                ssize_t r = recv(fd, buf, sizeof(buf), 0);
                if (r > 0) {
                    if (gt_upgrade_send(u, buf, (size_t)r) < 0)
                        return;
                    continue;
                }
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                fd_open = false;
                if (!up_open)
                    return;
                /* The job's side closed: the stream ends (the server closes the client's). */
                return;
            }
        }
    }
}
