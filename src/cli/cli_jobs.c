/* cli_jobs.c: gantry show (cancel is in cli_jobctl.c, with the other job control). */
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
int cmd_show(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "show") < 0)
        return 2;
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: gantry show ID [-o json|yaml]\n\nShows everything about a job, "
                "including why it waits and when it should start.\n");
        return argc == 2 ? 0 : 2;
    }
    char ref[64];
    if (cli_job_ref("show", argv[1], ref, sizeof(ref)) < 0)
        return 2;
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s", ref);
    gt_error_t err = {0};
    json_t *resp;
    int st = cli_request(&c, "GET", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("show", st, resp, &err);
    if (c.output == CLI_JSON) {
        cli_print_json(resp);
    } else {
        cli_print_yaml(resp);
        const char *msg = json_string_value(json_object_get(resp, "pending_message"));
        json_t *est = json_object_get(resp, "estimated_start");
        if (msg && c.output != CLI_YAML) {
            printf("# waiting: %s", msg);
            if (est) {
                time_t t = (time_t)json_integer_value(est);
                char b[64];
                strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", localtime(&t));
                printf("; expected to start at %s", b);
            }
            printf("\n");
        }
        json_t *pull = json_object_get(resp, "pull");
        if (pull && c.output != CLI_YAML)
            printf("# pulling its image: %lld bytes so far\n",
                   (long long)json_integer_value(json_object_get(pull, "bytes")));
        const char *why = json_string_value(json_object_get(resp, "end_reason"));
        const char *emsg = json_string_value(json_object_get(resp, "end_message"));
        if (why && c.output != CLI_YAML)
            printf("# ended: %s%s%s\n", why, emsg ? ": " : "", emsg ? emsg : "");
    }
    json_decref(resp);
    return 0;
}
