/* statedir.c: the state directory's lock (statedir.h). */
#include "agent/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int statedir_lock(const char *state_dir, gt_error_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/agent.lock", state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return gt_error_set(err, "internal", "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t n = e == EWOULDBLOCK ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
        close(fd);
        errno = e;
        if (e != EWOULDBLOCK)
            return gt_error_set(err, "internal", "cannot lock %s: %s", path, strerror(e));
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        return gt_error_set(err, "conflict",
                            "state directory %s is in use by another agent (pid %s holds %s); "
                            "give each agent its own --state-dir",
                            state_dir, buf[0] ? buf : "unknown", path);
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        errno = e;
        return gt_error_set(err, "internal", "cannot write %s: %s", path, strerror(e));
    }
    return fd;
}
