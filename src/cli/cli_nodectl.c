/* cli_nodectl.c: gantry drain | cordon | uncordon | resume NODE..., and gantry maintenance
 * add | ls | rm: what an admin takes out of scheduling (the server's api_nodectl.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/joblist.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/timefmt.h"

static const char *node_help =
    "usage: gantry drain NODE... --reason TEXT\n"
    "       gantry cordon NODE...\n"
    "       gantry uncordon NODE...     (the same as resume)\n"
    "       gantry resume NODE...\n\n"
    "drain: the node takes no new job; the jobs running there finish (state draining, then\n"
    "drained once none is left). The reason is shown by `gantry nodes` (like Slurm's\n"
    "`scontrol update nodename=NODE state=drain reason=...`).\n"
    "cordon: the node takes no new job (kubectl cordon); running jobs go on.\n"
    "uncordon, resume: the node takes jobs again, whether it was drained or cordoned.\n"
    "Admins only. The state survives a server restart and the agent registering again.\n";

/* One node's new state, as the server answers it. */
static void print_node(const char *verb, json_t *n)
{
    const char *st = json_string_value(json_object_get(n, "state"));
    const char *reason = json_string_value(json_object_get(n, "drain_reason"));
    long long jobs = (long long)json_integer_value(json_object_get(n, "jobs"));
    printf("node %s: %s", json_string_value(json_object_get(n, "name")), st ? st : "?");
    if (reason)
        printf(" (%s)", reason);
    if (!strcmp(verb, "drain") && jobs)
        printf("; %lld job%s still running there", jobs, jobs == 1 ? "" : "s");
    printf("\n");
}

static int node_verb(const char *verb, int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, verb) < 0)
        return 2;
    static const struct option opts[] = {{"reason", required_argument, 0, 'r'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *reason = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
        if (o == 'h') {
            printf("%s", node_help);
            return 0;
        }
        if (o == '?' || (o == 'r' && strcmp(verb, "drain"))) {
            fprintf(stderr, "%s%s", o == 'r' ? "only drain takes --reason\n" : "", node_help);
            return 2;
        }
        reason = optarg;
    }
    if (optind >= argc) {
        fprintf(stderr, "gantry %s: which node?\n%s", verb, node_help);
        return 2;
    }
    if (!strcmp(verb, "drain") && (!reason || !*reason)) {
        fprintf(stderr, "gantry drain: give a reason: gantry drain %s --reason TEXT (what is "
                "wrong, for whoever looks at the node next)\n", argv[optind]);
        return 2;
    }
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        char *esc = cli_escape(argv[i]);
        char path[512];
        snprintf(path, sizeof(path), "/v1/nodes/%s/%s", esc, verb);
        free(esc);
        json_t *body = reason ? json_pack("{s:s}", "reason", reason) : NULL;
        json_t *resp = NULL;
        gt_error_t err = {0};
        int st = cli_request(&c, "POST", path, body, NULL, &resp, &err);
        json_decref(body);
        if (st != 200) {
            rc = cli_fail_request(verb, st, resp, &err);
            continue;
        }
        if (c.output == CLI_JSON)
            cli_print_json(resp);
        else if (c.output == CLI_YAML)
            cli_print_yaml(resp);
        else
            print_node(verb, resp);
        json_decref(resp);
    }
    return rc;
}

int cmd_drain(int argc, char **argv) { return node_verb("drain", argc, argv); }
int cmd_cordon(int argc, char **argv) { return node_verb("cordon", argc, argv); }
int cmd_uncordon(int argc, char **argv) { return node_verb("uncordon", argc, argv); }
int cmd_resume(int argc, char **argv) { return node_verb("resume", argc, argv); }

/* ---- gantry maintenance ---- */

static const char *maint_help =
    "usage: gantry maintenance add NAME --nodes A,B --start TIME --duration DURATION\n"
    "       gantry maintenance ls [-o json|yaml]\n"
    "       gantry maintenance rm NAME\n\n"
    "A maintenance window: from its start, for its duration, its nodes take no work. Before\n"
    "it, a job starts on them only if its time limit (or, without one, its estimate) ends\n"
    "by the window's start; a job with neither never starts there until the window is over.\n"
    "Jobs held back wait with reason 'maintenance'. Running jobs are not stopped: drain the\n"
    "nodes too if they must be empty. (Slurm: scontrol create reservation flags=maint.)\n"
    "TIME: now, +DURATION (from now), epoch seconds, a local date and time\n"
    "(2026-12-01T02:00), or RFC 3339 with a zone (2026-12-01T02:00:00Z).\n"
    "DURATION: seconds, or such as 90m, 2h, 1d, 1h30m. add and rm are for admins.\n";

static void maint_table(json_t *rows)
{
    static const char *hdr[] = {"NAME", "STATE", "START", "END", "DURATION", "NODES"};
    cli_table_t *t = cli_table_new(6, hdr);
    size_t i, k;
    json_t *w, *n;
    json_array_foreach(rows, i, w)
    {
        char a[48], b[48], d[32];
        gt_buf_t nodes = {0};
        json_array_foreach(json_object_get(w, "nodes"), k, n)
            gt_buf_printf(&nodes, "%s%s", k ? "," : "", json_string_value(n));
        const char *cells[] = {
            json_string_value(json_object_get(w, "name")),
            json_string_value(json_object_get(w, "state")),
            gt_time_local((double)json_integer_value(json_object_get(w, "start")), a, sizeof(a)),
            gt_time_local((double)json_integer_value(json_object_get(w, "end")), b, sizeof(b)),
            gt_format_duration(json_integer_value(json_object_get(w, "duration")), d, sizeof(d)),
            nodes.len ? nodes.data : "-"};
        cli_table_add(t, cells);
        gt_buf_free(&nodes);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static int maint_ls(cli_t *c)
{
    json_t *resp = NULL;
    gt_error_t err = {0};
    int st = cli_request(c, "GET", "/v1/maintenance", NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("maintenance", st, resp, &err);
    json_t *rows = json_object_get(resp, "maintenance");
    if (c->output == CLI_JSON)
        cli_print_json(rows);
    else if (c->output == CLI_YAML)
        cli_print_yaml(rows);
    else
        maint_table(rows);
    json_decref(resp);
    return 0;
}

static int maint_add(cli_t *c, int argc, char **argv)
{
    static const struct option opts[] = {{"nodes", required_argument, 0, 'n'},
                                         {"start", required_argument, 0, 's'},
                                         {"duration", required_argument, 0, 'd'},
                                         {0, 0, 0, 0}};
    json_t *body = json_pack("{s:s}", "name", argv[1]);
    int o, rc = 2;
    optind = 2;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'n': {
            json_t *a = json_array();
            char *copy = xstrdup(optarg), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(a, json_string(t));
            free(copy);
            json_object_set_new(body, "nodes", a);
            break;
        }
        case 's': {
            double t;
            if (cli_time_arg("maintenance", "--start", optarg, &t) < 0)
                goto out;
            json_object_set_new(body, "start", json_integer((json_int_t)t));
            break;
        }
        case 'd': json_object_set_new(body, "duration", json_string(optarg)); break;
        default: fprintf(stderr, "%s", maint_help); goto out;
        }
    }
    if (optind < argc || !json_object_get(body, "nodes") || !json_object_get(body, "start") ||
        !json_object_get(body, "duration")) {
        fprintf(stderr, "gantry maintenance add: needs NAME, --nodes, --start and --duration\n"
                "%s", maint_help);
        goto out;
    }
    json_t *resp = NULL;
    gt_error_t err = {0};
    int st = cli_request(c, "POST", "/v1/maintenance", body, NULL, &resp, &err);
    if (st != 201) {
        rc = cli_fail_request("maintenance", st, resp, &err);
        goto out;
    }
    if (c->output == CLI_JSON)
        cli_print_json(resp);
    else if (c->output == CLI_YAML)
        cli_print_yaml(resp);
    else {
        json_t *rows = json_pack("[O]", resp);
        maint_table(rows);
        json_decref(rows);
    }
    json_decref(resp);
    rc = 0;
out:
    json_decref(body);
    return rc;
}

static int maint_rm(cli_t *c, const char *name)
{
    char *esc = cli_escape(name);
    char path[512];
    snprintf(path, sizeof(path), "/v1/maintenance/%s", esc);
    free(esc);
    json_t *resp = NULL;
    gt_error_t err = {0};
    int st = cli_request(c, "DELETE", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("maintenance", st, resp, &err);
    printf("maintenance %s removed\n", name);
    json_decref(resp);
    return 0;
}

int cmd_maintenance(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "maintenance") < 0)
        return 2;
    const char *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(sub, "ls") && argc == 2)
        return maint_ls(&c);
    if (!strcmp(sub, "add") && argc >= 3 && argv[2][0] != '-')
        return maint_add(&c, argc - 1, argv + 1);
    if (!strcmp(sub, "rm") && argc == 3)
        return maint_rm(&c, argv[2]);
    bool help = !strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help");
    fprintf(help ? stdout : stderr, "%s", maint_help);
    return help ? 0 : 2;
}
