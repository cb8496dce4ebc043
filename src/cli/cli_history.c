/* cli_history.c: gantry history (sacct): the jobs that ended, with their times, exit, nodes
 * and GPU-hours. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/joblist.h"
#include "cli/table.h"
#include "common/timefmt.h"

static const char *history_help =
    "usage: gantry history [--since T] [--until T] [--state S[,S]] [--team T] [--user U]\n"
    "                      [--name N] [-l SELECTOR] [--limit N] [--continue ID]\n"
    "                      [-o wide|csv|json|yaml|name]\n\n"
    "Lists jobs that ended (succeeded, failed, cancelled), oldest first: ID, NAME, TEAM, USER,\n"
    "STATE, EXIT (its exit code, or the signal that ended it), START, END (local time),\n"
    "ELAPSED, NODES (how many) and GPU-HOURS (every run's, a requeued job's earlier ones\n"
    "included). -o wide and -o csv add CLASS, NODELIST and REASON (why it ended).\n"
    "  --since T, --until T  jobs that ended at or after T, and before T: a local date or time\n"
    "                      (2026-11-30, 2026-11-30T17:00), today, yesterday, a duration ago\n"
    "                      (2d, 12h), RFC 3339 with a zone, or epoch seconds\n"
    "  --state S           succeeded, failed or cancelled (comma-separated)\n"
    "  -l, --selector SEL  jobs whose labels match: k=v, k!=v, k, !k (comma-separated)\n"
    "At most --limit jobs (default 1000) are shown at once; when there are more, it says so on\n"
    "stderr with the command that shows the next ones.\n";

/* GPU-hours of every run of j: its earlier runs (requeued) and the last one. */
static double gpu_hours(json_t *j)
{
    double gpus = json_integer_value(json_object_get(j, "gpus_milli")) / 1000.0, s = 0;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "earlier_runs"), i, r)
    {
        double a = json_number_value(json_object_get(r, "start_time"));
        double b = json_number_value(json_object_get(r, "end_time"));
        if (a > 0 && b > a)
            s += b - a;
    }
    double a = json_number_value(json_object_get(j, "start_time"));
    double b = json_number_value(json_object_get(j, "end_time"));
    if (a > 0 && b > a)
        s += b - a;
    return gpus * s / 3600.0;
}

/* Its exit: the code, or SIGNAME when a signal ended it. */
static const char *exit_cell(json_t *j, char *buf, size_t len)
{
    int sig = (int)json_integer_value(json_object_get(j, "exit_signal"));
    const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;
    if (sig > 0 && abbrev)
        snprintf(buf, len, "SIG%s", abbrev);
    else if (sig > 0)
        snprintf(buf, len, "signal-%d", sig);
    else
        snprintf(buf, len, "%lld", (long long)json_integer_value(json_object_get(j, "exit_code")));
    return buf;
}

static void history_table(json_t *jobs, bool wide, bool csv)
{
    static const char *hdr[] = {"ID",    "NAME", "TEAM",    "USER",  "STATE",
                                "EXIT",  "START", "END",    "ELAPSED", "NODES",
                                "GPU-HOURS", "CLASS", "NODELIST", "REASON"};
    cli_table_t *t = cli_table_new(wide ? 14 : 11, hdr);
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j)
    {
        char id[64], ex[32], start[48], end[48], el[32] = "-", n[16], gh[32], nodes[1024];
        double a = json_number_value(json_object_get(j, "start_time"));
        double b = json_number_value(json_object_get(j, "end_time"));
        if (a > 0 && b >= a)
            gt_format_elapsed((int64_t)(b - a), el, sizeof(el));
        snprintf(n, sizeof(n), "%zu", json_array_size(json_object_get(j, "placement")));
        snprintf(gh, sizeof(gh), "%.3f", gpu_hours(j));
        const char *name = json_string_value(json_object_get(j, "name"));
        const char *why = json_string_value(json_object_get(j, "end_reason"));
        const char *cells[] = {cli_job_name(j, id, sizeof(id)),
                               name ? name : "-",
                               json_string_value(json_object_get(j, "team")),
                               json_string_value(json_object_get(j, "user")),
                               json_string_value(json_object_get(j, "state")),
                               exit_cell(j, ex, sizeof(ex)),
                               gt_time_local(a, start, sizeof(start)),
                               gt_time_local(b, end, sizeof(end)),
                               el,
                               n,
                               gh,
                               json_string_value(json_object_get(j, "priority_class")),
                               cli_job_nodes_cell(j, nodes, sizeof(nodes)),
                               why ? why : "-"};
        cli_table_add(t, cells);
    }
    if (csv)
        cli_table_print_csv(t, stdout);
    else
        cli_table_print(t, stdout);
    cli_table_free(t);
}

int cmd_history(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "history") < 0)
        return 2;
    static const struct option opts[] = {
        {"since", required_argument, 0, 'S'},    {"until", required_argument, 0, 'U'},
        {"state", required_argument, 0, 's'},    {"team", required_argument, 0, 't'},
        {"user", required_argument, 0, 'u'},     {"name", required_argument, 0, 'n'},
        {"selector", required_argument, 0, 'l'}, {"limit", required_argument, 0, 'L'},
        {"continue", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    cli_jobs_query_t q = {.state = "succeeded,failed,cancelled", .limit = "1000"};
    const char *cont = NULL;
    gt_buf_t again = {0};
    int o, rc = 2;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:t:u:n:l:h", opts, NULL)) != -1) {
        switch (o) {
        case 'S':
            if (cli_time_arg("history", "--since", optarg, &q.since) < 0)
                goto out;
            q.has_since = true;
            gt_buf_printf(&again, " --since %.3f", q.since);
            break;
        case 'U':
            if (cli_time_arg("history", "--until", optarg, &q.until) < 0)
                goto out;
            q.has_until = true;
            gt_buf_printf(&again, " --until %.3f", q.until);
            break;
        case 's': {
            char buf[128];
            snprintf(buf, sizeof(buf), "%s", optarg);
            char *save = NULL;
            for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save))
                if (strcmp(s, "succeeded") && strcmp(s, "failed") && strcmp(s, "cancelled")) {
                    fprintf(stderr, "gantry history: --state %s: history lists jobs that "
                                    "ended (succeeded, failed, cancelled); gantry queue shows "
                                    "the others\n", s);
                    goto out;
                }
            q.state = optarg;
            cli_again_arg(&again, "--state", optarg);
            break;
        }
        case 't': q.team = optarg; cli_again_arg(&again, "--team", optarg); break;
        case 'u': q.user = optarg; cli_again_arg(&again, "--user", optarg); break;
        case 'n': q.name = optarg; cli_again_arg(&again, "--name", optarg); break;
        case 'l': q.selector = optarg; cli_again_arg(&again, "-l", optarg); break;
        case 'L': q.limit = optarg; cli_again_arg(&again, "--limit", optarg); break;
        case 'c': cont = optarg; break;
        case 'h': printf("%s", history_help); rc = 0; goto out;
        default: fprintf(stderr, "%s", history_help); goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gantry history: unexpected argument '%s'\n%s", argv[optind],
                history_help);
        goto out;
    }
    gt_error_t perr = {0};
    if (cont && gt_parse_int64(cont, 0, INT64_MAX, &q.after, &perr) < 0) {
        fprintf(stderr, "gantry history: --continue: %s\n", perr.msg);
        goto out;
    }
    json_t *resp;
    if ((rc = cli_jobs_get(&c, "history", &q, &resp)))
        goto out;
    json_t *jobs = json_object_get(resp, "jobs");
    if (c.output == CLI_JSON)
        cli_print_json(jobs);
    else if (c.output == CLI_YAML)
        cli_print_yaml(jobs);
    else if (c.output == CLI_NAME)
        cli_print_job_names(jobs, stdout);
    else
        history_table(jobs, c.output != CLI_TABLE, c.output == CLI_CSV);
    cli_jobs_paging("history", resp, q.after, again.data ? again.data : "");
    json_decref(resp);
    rc = 0;
out:
    gt_buf_free(&again);
    return rc;
}
