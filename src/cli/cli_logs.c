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

static const char usage[] =
    "usage: gantry logs [-f] [--stderr] [--node RANK|NAME|all] [--run K] ID\n";

static int bad_usage(const char *why)
{
    if (why)
        fprintf(stderr, "gantry logs: %s\n", why);
    fputs(usage, stderr);
    return 2;
}

int cmd_logs(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "logs") < 0)
        return 2;
    bool follow = false;
    const char *stream = "stdout", *node = NULL, *run = NULL;
    const char *id_s = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
            follow = true;
        else if (!strcmp(argv[i], "--stderr"))
            stream = "stderr";
        else if (!strcmp(argv[i], "--node") || !strcmp(argv[i], "--run")) {
            if (i + 1 >= argc)
                return bad_usage(!strcmp(argv[i], "--node") ? "--node needs a rank, a node's "
                                                              "name, or all"
                                                            : "--run needs a run number");
            *(!strcmp(argv[i], "--node") ? &node : &run) = argv[i + 1];
            i++;
        } else if (!strncmp(argv[i], "--node=", 7))
            node = argv[i] + 7;
        else if (!strncmp(argv[i], "--run=", 6))
            run = argv[i] + 6;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("%s\nPrints a job's output; -f follows it until the job ends.\n"
                   "  --stderr          its standard error instead of its standard output\n"
                   "  --node N          one node of a gang: its rank (0 = the first, the "
                   "default)\n"
                   "                    or its name; --node all: every node's lines, each led "
                   "by\n"
                   "                    [NODE]\n"
                   "  --run K           an earlier run (incarnation K; the latest by default):\n"
                   "                    a requeued or preempted job runs again\n",
                   usage);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1])
            return bad_usage("unknown option");
        else if (!id_s)
            id_s = argv[i];
        else
            return bad_usage(NULL);
    }
    if (!id_s)
        return bad_usage(NULL);
    char ref[64];
    if (cli_job_ref("logs", id_s, ref, sizeof(ref)) < 0)
        return 2;
    if (run) {
        char *end;
        errno = 0;
        long k = strtol(run, &end, 10);
        if (errno || *end || end == run || k < 1 || k > 1000000)
            return bad_usage("--run takes a run number, 1 for the first");
    }
    if (node && !*node)
        return bad_usage("--node needs a rank, a node's name, or all");
    gt_buf_t path = {0};
    gt_buf_printf(&path, "/v1/jobs/%s/logs?stream=%s%s", ref, stream, follow ? "&follow=1" : "");
    if (run)
        gt_buf_printf(&path, "&incarnation=%s", run);
    if (node) {
        char *esc = cli_escape(node);
        gt_buf_printf(&path, "&node=%s", esc);
        free(esc);
    }
    /* Check the job first so that errors come out as messages, not as a streamed body; a gang
     * shown without --node says that there are other nodes. */
    gt_error_t err = {0};
    json_t *resp;
    char jpath[128];
    snprintf(jpath, sizeof(jpath), "/v1/jobs/%s", ref);
    int st = cli_request(&c, "GET", jpath, NULL, NULL, &resp, &err);
    if (st != 200) {
        gt_buf_free(&path);
        return cli_fail_request("logs", st, resp, &err);
    }
    size_t nodes = json_array_size(json_object_get(resp, "placement"));
    if (!node && !run && nodes > 1 && isatty(STDERR_FILENO))
        fprintf(stderr, "gantry logs: job %s ran on %zu nodes; this is rank 0's output (--node "
                        "N or --node all for the others).\n", id_s, nodes);
    json_decref(resp);
    st = cli_stream(&c, path.data, &err);
    gt_buf_free(&path);
    if (st != 200) {
        fprintf(stderr, "gantry logs: %s\n", err.msg);
        return 1;
    }
    return 0;
}
