/* cli_admin.c: gantry nodes | teams | quota set (tokens and users: cli_identity.c; usage:
 * cli_usage.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/joblist.h"
#include "common/timefmt.h"

static int get_and_print(cli_t *c, const char *cmd, const char *path, const char *key,
                              void (*table)(json_t *rows, bool wide))
{
    gt_error_t err = {0};
    json_t *resp;
    int st = cli_request(c, "GET", path, NULL, NULL, &resp, &err);
    if (st != 200) {
        if (st < 0)
            fprintf(stderr, "gantry %s: %s\n", cmd, err.msg);
        else
            cli_print_error(cmd, st, resp);
        json_decref(resp);
        return 1;
    }
    json_t *rows = json_object_get(resp, key);
    if (c->output == CLI_JSON)
        cli_print_json(rows);
    else if (c->output == CLI_YAML)
        cli_print_yaml(rows);
    else
        table(rows, c->output == CLI_WIDE);
    json_decref(resp);
    return 0;
}



/* From the agent's last heartbeat (NVML nodes only): mean utilization of the node's GPUs and
 * the memory in use on them, or "-" when the node reports none (declared GPUs). */
static void gpu_load(json_t *node, char *util, char *mem, size_t len)
{
    double u = 0, m = 0;
    int nu = 0, nm = 0;
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(node, "gpu_stats"), i, g)
    {
        json_t *uv = json_object_get(g, "utilization"), *mv = json_object_get(g, "memory_used_mib");
        if (json_is_number(uv) && json_number_value(uv) >= 0)
            u += json_number_value(uv), nu++;
        if (json_is_number(mv) && json_number_value(mv) >= 0)
            m += json_number_value(mv), nm++;
    }
    snprintf(util, len, nu ? "%.0f%%" : "-", nu ? 100 * u / nu : 0);
    snprintf(mem, len, nm ? "%.1fG" : "-", m / 1024);
}

/* Why a node takes no (or less) work: its drain reason, its next maintenance window. */
static void print_reason(json_t *n)
{
    const char *r = cli_str(n, "drain_reason", NULL);
    json_t *w = json_array_get(json_object_get(n, "maintenance"), 0);
    printf("  %s", r ? r : w ? "" : "-");
    if (w) {
        char when[40];
        printf("%smaintenance %s from %s", r ? "; " : "", cli_str(w, "name", ""),
               gt_time_local((double)json_integer_value(json_object_get(w, "start")), when,
                             sizeof(when)));
    }
}

static void nodes_table(json_t *rows, bool wide)
{
    printf("%-16s %-12s %-14s %5s %5s %5s %5s %7s  %s%s  %s\n", "NAME", "STATE", "GPU_TYPE",
           "GPUS", "FREE", "JOBS", "UTIL", "GPU_MEM", "TOPOLOGY", wide ? "  RUNTIMES" : "",
           "REASON");
    size_t i;
    json_t *n;
    json_array_foreach(rows, i, n)
    {
        json_t *t = json_object_get(n, "topology");
        char util[16], mem[16];
        gpu_load(n, util, mem, sizeof(util));
        printf("%-16s %-12s %-14s %5lld %5lld %5lld %5s %7s  %s/%s/%s", cli_str(n, "name", ""),
               cli_str(n, "state", ""), cli_str(n, "gpu_type", "-"),
               (long long)json_integer_value(json_object_get(n, "gpus")),
               (long long)json_integer_value(json_object_get(n, "gpus_free")),
               (long long)json_integer_value(json_object_get(n, "jobs")), util, mem,
               cli_str(t, "block", "-"), cli_str(t, "spine", "-"), cli_str(t, "leaf", "-"));
        if (wide) {
            size_t k;
            json_t *r;
            printf("  ");
            json_array_foreach(json_object_get(n, "runtimes"), k, r)
                printf("%s%s", k ? "," : "", json_string_value(r));
            if (json_object_get(n, "oci_runtime"))
                printf(" (%s)", cli_str(n, "oci_runtime", ""));
        }
        print_reason(n);
        printf("\n");
    }
}

int cmd_nodes(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "nodes") < 0)
        return 2;
    if (argc > 1) {
        fprintf(!strcmp(argv[1], "--help") ? stdout : stderr,
                "usage: gantry nodes [-o json|yaml|wide]\n\nLists nodes: state, GPUs, free GPUs, "
                "jobs, GPU utilization and memory in use (from NVML, at the last heartbeat), "
                "topology; -o wide adds the runtimes (process, oci) and the OCI runtime.\n"
                "STATE: up, unknown (declared, its agent not yet seen), unreachable, or, for a "
                "node an admin took out of scheduling, draining (jobs still run), drained, "
                "cordoned (gantry drain, cordon, resume). REASON: the drain's reason and the "
                "next maintenance window (gantry maintenance ls).\n");
        return !strcmp(argv[1], "--help") ? 0 : 2;
    }
    return get_and_print(&c, "nodes", "/v1/nodes", "nodes", nodes_table);
}

static void teams_table(json_t *rows, bool wide)
{
    (void)wide;
    printf("%-16s %-12s %7s %7s %7s %9s %8s %8s\n", "TEAM", "PARENT", "QUOTA", "LIMIT",
           "WEIGHT", "ALLOCATED", "RUNNING", "PENDING");
    size_t i;
    json_t *t;
    json_array_foreach(rows, i, t)
    {
        char lim[32];
        double l = json_number_value(json_object_get(t, "limit"));
        if (l < 0)
            snprintf(lim, sizeof(lim), "none");
        else
            snprintf(lim, sizeof(lim), "%g", l);
        printf("%-16s %-12s %7g %7s %7g %9g %8lld %8lld\n", cli_str(t, "name", ""),
               cli_str(t, "parent", "-"), json_number_value(json_object_get(t, "quota")), lim,
               json_number_value(json_object_get(t, "weight")),
               json_number_value(json_object_get(t, "allocated")),
               (long long)json_integer_value(json_object_get(t, "running")),
               (long long)json_integer_value(json_object_get(t, "pending")));
    }
}

int cmd_teams(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "teams") < 0)
        return 2;
    if (argc > 1) {
        fprintf(!strcmp(argv[1], "--help") ? stdout : stderr,
                "usage: gantry teams [-o json|yaml]\n\nLists teams with quota, limit, weight "
                "and what they hold.\n");
        return !strcmp(argv[1], "--help") ? 0 : 2;
    }
    return get_and_print(&c, "teams", "/v1/teams", "teams", teams_table);
}

static const char *quota_help =
    "usage: gantry quota set TEAM [--quota GPUS] [--limit GPUS|none] [--weight W] "
    "[--parent TEAM]\n                          [--storage BYTES|none]\n\nChanges a team's "
    "guaranteed quota, cap and fair-share weight at run "
    "time, or creates the team (under --parent). An admin governs every team; a team-admin only\n"
    "the sub-teams of its own team. Sub-teams' quotas add up to at most their parent's; a\n"
    "team's parent can't change at run time. --storage (an admin's alone): the bytes the team's\n"
    "artifacts may hold in the blob store (500Gi, 2T, or none), over the configuration's\n"
    "storage_quota (docs/artifacts.md); `gantry usage` shows it.\n";

int cmd_quota(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "quota") < 0)
        return 2;
    if (argc < 3 || strcmp(argv[1], "set")) {
        bool help = argc > 1 && !strcmp(argv[1], "--help");
        fprintf(help ? stdout : stderr, "%s", quota_help);
        return help ? 0 : 2;
    }
    const char *team = argv[2];
    json_t *body = json_object();
    for (int i = 3; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "gantry quota: %s needs a value\n%s", k, quota_help);
            json_decref(body);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(k, "--quota"))
            json_object_set_new(body, "quota", json_string(v));
        else if (!strcmp(k, "--limit"))
            json_object_set_new(body, "limit", json_string(v));
        else if (!strcmp(k, "--parent"))
            json_object_set_new(body, "parent", json_string(v));
        else if (!strcmp(k, "--storage"))
            json_object_set_new(body, "storage_quota", json_string(v));
        else if (!strcmp(k, "--weight")) {
            char *end;
            double w = strtod(v, &end);
            if (*end || end == v) {
                fprintf(stderr, "gantry quota: --weight '%s' is not a number\n", v);
                json_decref(body);
                return 2;
            }
            json_object_set_new(body, "weight", json_real(w));
        } else {
            fprintf(stderr, "gantry quota: unknown option %s\n%s", k, quota_help);
            json_decref(body);
            return 2;
        }
    }
    char path[256];
    char *et = cli_escape(team);
    snprintf(path, sizeof(path), "/v1/teams/%s", et);
    free(et);
    gt_error_t err = {0};
    json_t *resp;
    int st = cli_request(&c, "PUT", path, body, NULL, &resp, &err);
    json_decref(body);
    if (st != 200 && st != 201) {
        if (st < 0)
            fprintf(stderr, "gantry quota: %s\n", err.msg);
        else
            cli_print_error("quota", st, resp);
        json_decref(resp);
        return 1;
    }
    if (c.output == CLI_JSON)
        cli_print_json(resp);
    else if (c.output == CLI_YAML)
        cli_print_yaml(resp);
    else {
        json_t *rows = json_pack("[O]", resp);
        teams_table(rows, false);
        json_decref(rows);
    }
    json_decref(resp);
    return 0;
}

int cmd_node(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "node") < 0)
        return 2;
    const char *help = "usage: gantry node reset NAME\n\nRevokes node NAME's credential (admin): "
                       "its agent can no longer act as it, and a join token (role agent) may "
                       "register the name again, e.g. from a new machine. Stop the old agent "
                       "first: with a join token of its own it would register again.\n";
    if (argc != 3 || strcmp(argv[1], "reset")) {
        bool h = argc > 1 && !strcmp(argv[1], "--help");
        fprintf(h ? stdout : stderr, "%s", help);
        return h ? 0 : 2;
    }
    char *name = cli_escape(argv[2]);
    gt_buf_t path = {0};
    gt_buf_printf(&path, "/v1/nodes/%s/credential", name);
    free(name);
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(&c, "DELETE", path.data, NULL, NULL, &resp, &err);
    gt_buf_free(&path);
    if (st != 200) {
        if (st < 0)
            fprintf(stderr, "gantry node: %s\n", err.msg);
        else
            cli_print_error("node", st, resp);
        json_decref(resp);
        return 1;
    }
    if (c.output == CLI_JSON)
        cli_print_json(resp);
    else
        printf("node %s: %lld credential(s) revoked; a join token may register it again.\n",
               argv[2], (long long)json_integer_value(json_object_get(resp, "revoked")));
    json_decref(resp);
    return 0;
}
