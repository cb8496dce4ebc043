/* cli_idle.c: `gantry idle`: the running jobs flagged idle (GET /v1/idle): their GPUs stayed
 * under the idle threshold for the configured time. */
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/timefmt.h"

int cmd_idle(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "idle") < 0)
        return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: gantry idle [-o table|wide|json|yaml|csv]\n\n"
                   "Running jobs flagged idle: every GPU they hold stayed under the idle "
                   "threshold\n(configuration idle: {threshold: 5%%, after: 30m}) for that "
                   "long. Columns: job, team,\nuser, GPUs, idle for, mean utilization over "
                   "the idle stretch, and what the\njob's class does (report, or requeue a "
                   "preemptible job).\n");
            return 0;
        }
        fprintf(stderr, "gantry idle: unknown argument %s (see gantry idle --help)\n", argv[i]);
        return 2;
    }
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(&c, "GET", "/v1/idle", NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("idle", st, resp, &err);
    json_t *rows = json_object_get(resp, "idle");
    if (c.output == CLI_JSON) {
        cli_print_json(rows);
        json_decref(resp);
        return 0;
    }
    if (c.output == CLI_YAML) {
        cli_print_yaml(rows);
        json_decref(resp);
        return 0;
    }
    bool wide = c.output == CLI_WIDE;
    static const char *const heads[] = {"JOB",       "TEAM",   "USER",  "GPUS",
                                        "IDLE FOR",  "MEAN UTIL", "ACTION", "NODES"};
    cli_table_t *t = cli_table_new(wide ? 8 : 7, heads);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        char id[32], gpus[32], idle[32], util[32];
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(r, "job")));
        snprintf(gpus, sizeof(gpus), "%g", json_number_value(json_object_get(r, "gpus")));
        gt_format_elapsed((int64_t)json_number_value(json_object_get(r, "idle_for_s")), idle,
                          sizeof(idle));
        snprintf(util, sizeof(util), "%.1f%%",
                 100 * json_number_value(json_object_get(r, "idle_utilization_mean")));
        gt_buf_t nodes = {0};
        size_t k;
        json_t *n;
        json_array_foreach(json_object_get(r, "nodes"), k, n)
            gt_buf_printf(&nodes, "%s%s", k ? "," : "", json_string_value(n));
        const char *action = json_string_value(json_object_get(r, "action"));
        if (json_is_true(json_object_get(r, "stopping")))
            action = "requeuing";
        const char *cells[] = {id,
                               json_string_value(json_object_get(r, "team")),
                               json_string_value(json_object_get(r, "user")),
                               gpus,
                               idle,
                               util,
                               action,
                               nodes.data ? nodes.data : ""};
        cli_table_add(t, cells);
        gt_buf_free(&nodes);
    }
    if (c.output == CLI_CSV)
        cli_table_print_csv(t, stdout);
    else if (!cli_table_rows(t))
        printf("No idle allocations (threshold %g%%, after %s).\n",
               100 * json_number_value(json_object_get(resp, "threshold")),
               gt_format_elapsed(json_integer_value(json_object_get(resp, "after_s")),
                                 (char[32]){0}, 32));
    else
        cli_table_print(t, stdout);
    cli_table_free(t);
    json_decref(resp);
    return 0;
}
