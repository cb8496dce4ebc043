/* fence.c: see fence.h. */
#include "agent/fence.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double fence_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int fence_lease_write(const char *state_dir, const fence_lease_t *l, gt_error_t *err)
{
    char tmp[4096], path[4096], text[128];
    snprintf(tmp, sizeof(tmp), "%s/lease.tmp", state_dir);
    snprintf(path, sizeof(path), "%s/lease", state_dir);
    int n = snprintf(text, sizeof(text), "deadline=%.6f\ngrace_s=%.3f\nagent=%" PRIu64
                     "\nend=1\n", l->deadline, l->grace_s, l->agent);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return gt_error_set(err, "internal", "cannot write %s: %s", tmp, strerror(errno));
    ssize_t w = write(fd, text, (size_t)n);
    int e = errno;
    if (close(fd) < 0 && w == n) {
        w = -1;
        e = errno;
    }
    if (w != n || rename(tmp, path) < 0) {
        if (w == n)
            e = errno;
        unlink(tmp);
        errno = w != n && w >= 0 ? EIO : e;
        return gt_error_set(err, "internal", "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int fence_lease_read(const char *state_dir, fence_lease_t *l)
{
    char path[4096], text[256];
    snprintf(path, sizeof(path), "%s/lease", state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n < 0)
        return -1;
    text[n] = '\0';
    char *d = strstr(text, "deadline="), *g = strstr(text, "\ngrace_s=");
    if (!d || !g || !strstr(text, "\nend=1\n")) {
        errno = EINVAL;
        return -1;
    }
    char *a = strstr(text, "\nagent=");
    l->deadline = strtod(d + 9, NULL);
    l->grace_s = strtod(g + 9, NULL);
    l->agent = a ? strtoull(a + 7, NULL, 10) : 0;
    return 0;
}
