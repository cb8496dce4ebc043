/* worker.c: see worker.h. */
#include "agent/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

pid_t worker_fork(int nice, const char *what, gt_error_t *err)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        gt_error_set(err, "internal", "cannot fork a process to %s: %s", what, strerror(e));
        errno = e;
        return -1;
    }
    if (pid > 0)
        return pid;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (setpriority(PRIO_PROCESS, 0, nice) < 0) {
        /* works at the agent's priority */
    }
    return 0;
}

void worker_finish(json_t *doc, const char *result_path, const char *what)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    gt_error_t e = {0};
    int rc = text ? gt_write_file_atomic(result_path, text, strlen(text), 0600, &e) : -1;
    free(text);
    if (rc < 0)
        fprintf(stderr, "gantry agent: cannot write %s: %s\n", what,
                text ? e.msg : "out of memory");
    _exit(rc < 0 ? 1 : 0);
}
