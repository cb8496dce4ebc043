/* cli_logs.c: gantry logs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/commands.h"
int cmd_logs(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "logs") < 0)
        return 2;
    bool follow = false;
    const char *stream = "stdout";
    const char *id_s = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
            follow = true;
        else if (!strcmp(argv[i], "--stderr"))
            stream = "stderr";
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: gantry logs [-f] [--stderr] ID\n\nPrints a job's output; -f "
                   "follows it until the job ends.\n");
            return 0;
        } else if (!id_s)
            id_s = argv[i];
        else {
            fprintf(stderr, "usage: gantry logs [-f] [--stderr] ID\n");
            return 2;
        }
    }
    char ref[64];
    if (!id_s) {
        fprintf(stderr, "usage: gantry logs [-f] [--stderr] ID\n");
        return 2;
    }
    if (cli_job_ref("logs", id_s, ref, sizeof(ref)) < 0)
        return 2;
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s/logs?stream=%s%s", ref, stream,
             follow ? "&follow=1" : "");
    /* Check the job first so that errors come out as messages, not as a streamed body. */
    gt_error_t err = {0};
    json_t *resp;
    char jpath[128];
    snprintf(jpath, sizeof(jpath), "/v1/jobs/%s", ref);
    int st = cli_request(&c, "GET", jpath, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("logs", st, resp, &err);
    json_decref(resp);
    st = cli_stream(&c, path, &err);
    if (st != 200) {
        if (st < 0)
            fprintf(stderr, "gantry logs: %s\n", err.msg);
        return 1;
    }
    return 0;
}
