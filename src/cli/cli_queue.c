/* cli_queue.c: gantry queue (squeue, kubectl get jobs): the jobs that wait or run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/joblist.h"
#include "cli/table.h"
#include "cli/watch.h"
#include "common/timefmt.h"

static const char *queue_help =
    "usage: gantry queue [--state S[,S]|--all] [--team T] [--user U] [--name N] [-l SELECTOR]\n"
    "                    [--limit N] [--continue ID] [-w] [-o wide|name|csv|json|yaml]\n\n"
    "Lists jobs (default: pending and running), oldest first: ID, NAME, TEAM, USER, STATE,\n"
    "GPUS, START (local time; for a pending job the estimated start, marked ~, when there is\n"
    "one), ELAPSED (running time) and, for a pending job, the REASON it waits.\n"
    "  -l, --selector SEL  jobs whose labels match: k=v, k!=v, k (has it), !k (has not),\n"
    "                      comma-separated (all must hold)\n"
    "  -w, --watch         print the list again each time it changes (Ctrl-C ends)\n"
    "  -o wide             adds CLASS, NODES (where it runs) and LABELS; -o name: job/ID a line\n"
    "At most --limit jobs (default 1000) are shown at once; when there are more, it says so on\n"
    "stderr (\"showing N of M jobs\") with the command that shows the next ones (--continue ID:\n"
    "the jobs after job ID).\n";

typedef struct queue_view {
    cli_t *c;
    cli_jobs_query_t q;
    json_t *resp;            /* the last look */
} queue_view_t;

/* The row of job j; stable: without what changes with the clock alone (elapsed, the estimated
 * start), for watch's change test. */
static void queue_row(cli_table_t *t, json_t *j, bool wide, bool stable, double now)
{
    char id[64], gpus[32], start[48] = "-", elapsed[32] = "-", nodes[1024], labels[2048];
    const char *state = json_string_value(json_object_get(j, "state"));
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *reason = json_string_value(json_object_get(j, "pending_reason"));
    bool pending = state && !strcmp(state, "pending");
    double st = json_number_value(json_object_get(j, "start_time"));
    double end = json_number_value(json_object_get(j, "end_time"));
    json_t *est = json_object_get(j, "estimated_start");
    if (pending && est && !stable) {
        start[0] = '~';
        gt_time_local(json_number_value(est), start + 1, sizeof(start) - 1);
    } else if (!pending && st > 0) {
        gt_time_local(st, start, sizeof(start));
        if (!stable)
            gt_format_elapsed((int64_t)((end > 0 ? end : now) - st), elapsed, sizeof(elapsed));
    }
    const char *cells[] = {
        cli_job_name(j, id, sizeof(id)), name ? name : "-",
        json_string_value(json_object_get(j, "team")),
        json_string_value(json_object_get(j, "user")), state,
        cli_job_gpus_cell(j, gpus, sizeof(gpus)), start, elapsed,
        json_string_value(json_object_get(j, "priority_class")),
        cli_job_nodes_cell(j, nodes, sizeof(nodes)), cli_job_labels_cell(j, labels, sizeof(labels)),
        pending && reason ? reason : ""};
    if (wide) {
        cli_table_add(t, cells);
    } else {
        const char *narrow[] = {cells[0], cells[1], cells[2], cells[3], cells[4],
                                cells[5], cells[6], cells[7], cells[11]};
        cli_table_add(t, narrow);
    }
}

static void queue_table(json_t *jobs, bool wide, bool stable, bool csv, FILE *f)
{
    static const char *narrow[] = {"ID",   "NAME",  "TEAM",    "USER",  "STATE",
                                   "GPUS", "START", "ELAPSED", "REASON"};
    static const char *all[] = {"ID",    "NAME",    "TEAM",  "USER",  "STATE",  "GPUS",
                                "START", "ELAPSED", "CLASS", "NODES", "LABELS", "REASON"};
    cli_table_t *t = wide ? cli_table_new(12, all) : cli_table_new(9, narrow);
    double now = (double)time(NULL);
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) queue_row(t, j, wide, stable, now);
    if (csv)
        cli_table_print_csv(t, f);
    else
        cli_table_print(t, f);
    cli_table_free(t);
}

static int queue_look(void *arg, gt_buf_t *key)
{
    queue_view_t *v = arg;
    json_decref(v->resp);
    v->resp = NULL;
    if (cli_jobs_get(v->c, "queue", &v->q, &v->resp))
        return -1;
    json_t *jobs = json_object_get(v->resp, "jobs");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (v->c->output == CLI_TABLE || v->c->output == CLI_WIDE || v->c->output == CLI_CSV) {
        queue_table(jobs, true, true, false, f);
    } else {
        char *s = json_dumps(jobs, JSON_SORT_KEYS | JSON_COMPACT);
        fputs(s, f);
        free(s);
    }
    fclose(f);
    gt_buf_append(key, text, len);
    free(text);
    return 0;
}

static void queue_print(void *arg, FILE *f)
{
    queue_view_t *v = arg;
    json_t *jobs = json_object_get(v->resp, "jobs");
    if (v->c->output == CLI_JSON)
        cli_print_json(jobs);
    else if (v->c->output == CLI_YAML)
        cli_print_yaml(jobs);
    else if (v->c->output == CLI_NAME)
        cli_print_job_names(jobs, f);
    else
        queue_table(jobs, v->c->output != CLI_TABLE, false, v->c->output == CLI_CSV, f);
}

int cmd_queue(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "queue") < 0)
        return 2;
    static const struct option opts[] = {
        {"state", required_argument, 0, 's'},    {"team", required_argument, 0, 't'},
        {"user", required_argument, 0, 'u'},     {"all", no_argument, 0, 'a'},
        {"limit", required_argument, 0, 'L'},    {"continue", required_argument, 0, 'c'},
        {"name", required_argument, 0, 'n'},     {"selector", required_argument, 0, 'l'},
        {"watch", no_argument, 0, 'w'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    queue_view_t v = {.c = &c, .q = {.state = "pending,running", .limit = "1000"}};
    const char *cont = NULL;
    bool watch = false;
    gt_buf_t again = {0}; /* the flags that select the same jobs, for the next page's command */
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:t:u:an:l:wh", opts, NULL)) != -1) {
        switch (o) {
        case 's': v.q.state = optarg; break;
        case 't': v.q.team = optarg; cli_again_arg(&again, "--team", optarg); break;
        case 'u': v.q.user = optarg; cli_again_arg(&again, "--user", optarg); break;
        case 'n': v.q.name = optarg; cli_again_arg(&again, "--name", optarg); break;
        case 'l': v.q.selector = optarg; cli_again_arg(&again, "-l", optarg); break;
        case 'a': v.q.state = "all"; break;
        case 'L': v.q.limit = optarg; cli_again_arg(&again, "--limit", optarg); break;
        case 'c': cont = optarg; break;
        case 'w': watch = true; break;
        case 'h': printf("%s", queue_help); gt_buf_free(&again); return 0;
        default: fprintf(stderr, "%s", queue_help); gt_buf_free(&again); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gantry queue: unexpected argument '%s'\n%s", argv[optind], queue_help);
        gt_buf_free(&again);
        return 2;
    }
    gt_error_t perr = {0};
    if (cont && gt_parse_int64(cont, 0, INT64_MAX, &v.q.after, &perr) < 0) {
        fprintf(stderr, "gantry queue: --continue: %s\n", perr.msg);
        gt_buf_free(&again);
        return 2;
    }
    if (strcmp(v.q.state, "pending,running")) {
        gt_buf_t s = {0};
        gt_buf_printf(&s, "%s%s", !strcmp(v.q.state, "all") ? " --all" : " --state ",
                      !strcmp(v.q.state, "all") ? "" : v.q.state);
        gt_buf_append(&s, again.data ? again.data : "", again.len);
        gt_buf_free(&again);
        again = s;
    }
    cli_view_t view = {queue_look, queue_print, &v};
    int rc;
    if (watch) {
        rc = cli_watch(&view);
    } else {
        gt_buf_t key = {0};
        rc = queue_look(&v, &key) < 0 ? 1 : 0;
        gt_buf_free(&key);
        if (!rc) {
            queue_print(&v, stdout);
            cli_jobs_paging("queue", v.resp, v.q.after, again.data ? again.data : "");
        }
    }
    json_decref(v.resp);
    gt_buf_free(&again);
    return rc;
}
