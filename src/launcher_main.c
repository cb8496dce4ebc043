/* gantry-launcher: forks the jobs' supervisors for `gantry agent` (src/agent/launcher.h). It
 * links only libc and jansson, so that each fork copies a small image. Started by the agent
 * with its end of a socketpair as fd 3; not meant to be run by hand. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/launcher.h"

int main(int argc, char **argv)
{
    const char *nss_user = NULL;
    if (argc == 3 && !strcmp(argv[1], "--nss-user"))
        nss_user = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: gantry-launcher [--nss-user USER] (started by gantry agent)\n");
        return 2;
    }
    struct stat sb;
    if (fstat(3, &sb) < 0 || !S_ISSOCK(sb.st_mode)) {
        fprintf(stderr, "gantry-launcher: fd 3 is not the agent's socket; it is started by "
                        "gantry agent, not by hand\n");
        return 2;
    }
    close_range(4, ~0U, 0); /* whatever the agent held without close-on-exec (NVML's files) */
    return launcher_serve(3, nss_user);
}
