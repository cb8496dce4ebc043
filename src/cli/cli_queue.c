/* cli_queue.c: gantry queue. */
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
static void fmt_age(double since, char *buf, size_t len)
{
    double now = (double)time(NULL);
    gt_format_duration(since > 0 && now > since ? (int64_t)(now - since) : 0, buf, len);
}

static void print_gpus(json_t *j, char *buf, size_t len)
{
    int64_t m = json_integer_value(json_object_get(j, "gpus_milli"));
    if (m % 1000)
        snprintf(buf, len, "%.3g", m / 1000.0);
    else
        snprintf(buf, len, "%lld", (long long)(m / 1000));
}
static const char *queue_help =
    "usage: gantry queue [--state S[,S]] [--team T] [--user U] [--all] [--limit N] "
    "[--continue ID] [-o json|yaml|wide]\n\n"
    "Lists jobs (default: pending and running), oldest first, with id, team, user, state, GPUs, "
    "age, reason.\n"
    "At most --limit jobs (default 1000) are shown at once; when there are more, it says so on "
    "stderr\n"
    "(\"showing N of M jobs\") with the command that shows the next ones (--continue ID: the "
    "jobs after job ID).\n";

int cmd_queue(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "queue") < 0)
        return 2;
    static const struct option opts[] = {
        {"state", required_argument, 0, 's'}, {"team", required_argument, 0, 't'},
        {"user", required_argument, 0, 'u'},  {"all", no_argument, 0, 'a'},
        {"limit", required_argument, 0, 'l'}, {"continue", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *state = "pending,running", *team = NULL, *user = NULL, *limit = "1000";
    const char *cont = NULL;
    bool limit_set = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:t:u:al:c:h", opts, NULL)) != -1) {
        switch (o) {
        case 's': state = optarg; break;
        case 't': team = optarg; break;
        case 'u': user = optarg; break;
        case 'a': state = "all"; break;
        case 'l': limit = optarg; limit_set = true; break;
        case 'c': cont = optarg; break;
        case 'h': printf("%s", queue_help); return 0;
        default: fprintf(stderr, "%s", queue_help); return 2;
        }
    }
    int64_t after = 0;
    gt_error_t perr = {0};
    if (cont && gt_parse_int64(cont, 0, INT64_MAX, &after, &perr) < 0) {
        fprintf(stderr, "gantry queue: --continue: %s\n", perr.msg);
        return 2;
    }
    char path[1024];
    char *et = team ? cli_escape(team) : NULL, *eu = user ? cli_escape(user) : NULL;
    snprintf(path, sizeof(path), "/v1/jobs?state=%s&limit=%s%s%s%s%s&after=%lld", state, limit,
             team ? "&team=" : "", team ? et : "", user ? "&user=" : "", user ? eu : "",
             (long long)after);
    free(et);
    free(eu);
    gt_error_t err = {0};
    json_t *resp;
    int st = cli_request(&c, "GET", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("queue", st, resp, &err);
    json_t *jobs = json_object_get(resp, "jobs");
    if (c.output == CLI_JSON)
        cli_print_json(jobs);
    else if (c.output == CLI_YAML)
        cli_print_yaml(jobs);
    else {
        bool wide = c.output == CLI_WIDE;
        printf("%-8s %-12s %-10s %-10s %5s %7s  %s%s\n", "ID", "TEAM", "USER", "STATE", "GPUS",
               "AGE", wide ? "NAME  CLASS  NODES  " : "", "REASON");
        size_t i;
        json_t *j;
        json_array_foreach(jobs, i, j)
        {
            char gpus[32], age[32];
            print_gpus(j, gpus, sizeof(gpus));
            fmt_age(json_number_value(json_object_get(j, "submit_time")), age, sizeof(age));
            const char *reason = json_string_value(json_object_get(j, "pending_reason"));
            if (!reason) {
                json_t *pl = json_object_get(j, "placement");
                reason = json_array_size(pl)
                             ? json_string_value(json_object_get(json_array_get(pl, 0), "node"))
                             : "";
            }
            printf("%-8lld %-12s %-10s %-10s %5s %7s  ",
                   (long long)json_integer_value(json_object_get(j, "id")),
                   json_string_value(json_object_get(j, "team")),
                   json_string_value(json_object_get(j, "user")),
                   json_string_value(json_object_get(j, "state")), gpus, age);
            if (wide) {
                const char *nm = json_string_value(json_object_get(j, "name"));
                printf("%s  %s  %lld  ", nm ? nm : "-",
                       json_string_value(json_object_get(j, "priority_class")),
                       (long long)json_array_size(json_object_get(j, "placement")));
            }
            printf("%s\n", reason ? reason : "");
        }
    }
    /* A part: say which, and how to see the rest (on stderr: stdout stays the list). */
    json_t *next = json_object_get(resp, "next_after");
    long long total = (long long)json_integer_value(json_object_get(resp, "total"));
    if (next || after > 0) {
        fprintf(stderr, "showing %zu of %lld jobs%s", json_array_size(jobs), total,
                after > 0 ? " (after job " : "");
        if (after > 0)
            fprintf(stderr, "%lld)", (long long)after);
        if (next) {
            fprintf(stderr, "; next: gantry queue");
            if (strcmp(state, "pending,running"))
                fprintf(stderr, !strcmp(state, "all") ? " --all" : " --state %s", state);
            if (team)
                fprintf(stderr, " --team %s", team);
            if (user)
                fprintf(stderr, " --user %s", user);
            if (limit_set)
                fprintf(stderr, " --limit %s", limit);
            fprintf(stderr, " --continue %lld", (long long)json_integer_value(next));
        }
        fprintf(stderr, "\n");
    }
    json_decref(resp);
    return 0;
}
