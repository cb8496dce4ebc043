/* cli_services.c: `gantry services [NAME] | rm NAME`, `gantry scale NAME N`, `gantry update
 * NAME ...` (a service's rolling update; gantry update ID stays the job update) and `gantry
 * rollback NAME` (docs/services.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"

static const char *services_help =
    "usage: gantry services [NAME] [-o table|json|yaml]\n"
    "       gantry services rm NAME\n"
    "       gantry scale NAME N | --auto MIN:MAX[:TARGET] | --auto off\n"
    "       gantry update NAME [--image REF] [-e K=V]... [-g GPUS] [-f SPEC.yaml] [-- COMMAND...]\n"
    "       gantry rollback NAME\n\n"
    "Services are jobs of kind service (gantry submit --kind service --name NAME, with\n"
    "replicas: N and probes in the spec): each replica is restarted when it exits, and the\n"
    "endpoint /v1/services/NAME/ balances requests over the ready ones.\n"
    "  services          every service you may see: NAME, TEAM, READY (ready/wanted),\n"
    "                    REVISION, GPUS (held by its running replicas), REQ/S (last 10 s),\n"
    "                    ROLLOUT, ENDPOINT\n"
    "  services NAME     one service and its replicas (job, node, port, ready, restarts)\n"
    "  services rm NAME  deletes it: every replica stops\n"
    "  scale NAME N      N replicas (0 to 1000)\n"
    "  scale NAME --auto MIN:MAX[:TARGET]  autoscaling between MIN and MAX replicas, aiming\n"
    "                    at TARGET requests in flight per replica (default 4); --auto off\n"
    "  update NAME       a rolling update: a new revision of the spec with the fields given;\n"
    "                    replicas are replaced one at a time, each new one ready before an old\n"
    "                    one stops\n"
    "  rollback NAME     back to the previous revision's spec, the same way\n";

static int show_answer(const cli_t *c, json_t *s)
{
    if (c->output == CLI_JSON) {
        cli_print_json(s);
        return 0;
    }
    if (c->output == CLI_YAML) {
        cli_print_yaml(s);
        return 0;
    }
    printf("Name:      %s\n", json_string_value(json_object_get(s, "name")));
    printf("Team:      %s\n", json_string_value(json_object_get(s, "team")));
    printf("Replicas:  %lld ready of %lld\n",
           (long long)json_integer_value(json_object_get(s, "ready")),
           (long long)json_integer_value(json_object_get(s, "replicas")));
    printf("Revision:  %lld (%s)\n", (long long)json_integer_value(json_object_get(s, "revision")),
           json_string_value(json_object_get(s, "rollout")));
    printf("Endpoint:  %s\n", json_string_value(json_object_get(s, "endpoint")));
    printf("GPUs:      %g\n", json_number_value(json_object_get(s, "gpus")));
    printf("Requests:  %lld (%.1f/s)\n",
           (long long)json_integer_value(json_object_get(s, "requests")),
           json_number_value(json_object_get(s, "requests_per_s")));
    json_t *as = json_object_get(s, "autoscale");
    if (as)
        printf("Autoscale: %lld to %lld replicas, %g in flight per replica (%lld now)\n",
               (long long)json_integer_value(json_object_get(as, "min")),
               (long long)json_integer_value(json_object_get(as, "max")),
               json_number_value(json_object_get(as, "target")),
               (long long)json_integer_value(json_object_get(s, "in_flight")));
    const char *e = json_string_value(json_object_get(s, "error"));
    if (e)
        printf("Error:     %s\n", e);
    static const char *const heads[] = {"JOB", "REPLICA", "REVISION", "STATE", "NODE",
                                        "PORT", "READY", "RESTARTS"};
    cli_table_t *t = cli_table_new(8, heads);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(s, "replica_jobs"), i, r)
    {
        char job[32], rep[16], rev[16], port[16], rs[16];
        snprintf(job, sizeof(job), "%lld", (long long)json_integer_value(json_object_get(r, "job")));
        snprintf(rep, sizeof(rep), "%lld",
                 (long long)json_integer_value(json_object_get(r, "replica")));
        snprintf(rev, sizeof(rev), "%lld",
                 (long long)json_integer_value(json_object_get(r, "revision")));
        json_int_t p = json_integer_value(json_object_get(r, "port"));
        snprintf(port, sizeof(port), p ? "%lld" : "-", (long long)p);
        snprintf(rs, sizeof(rs), "%lld",
                 (long long)json_integer_value(json_object_get(r, "restarts")));
        const char *node = json_string_value(json_object_get(r, "node"));
        const char *ready = json_is_true(json_object_get(r, "draining")) ? "draining"
                            : json_is_true(json_object_get(r, "ready"))  ? "yes"
                                                                         : "no";
        const char *cells[] = {job, rep, rev, json_string_value(json_object_get(r, "state")),
                               node ? node : "-", port, ready, rs};
        cli_table_add(t, cells);
    }
    printf("\n");
    cli_table_print(t, stdout);
    cli_table_free(t);
    return 0;
}

static int list(const cli_t *c)
{
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(c, "GET", "/v1/services", NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("services", st, resp, &err);
    json_t *rows = json_object_get(resp, "services");
    if (c->output == CLI_JSON || c->output == CLI_YAML) {
        c->output == CLI_JSON ? cli_print_json(rows) : cli_print_yaml(rows);
        json_decref(resp);
        return 0;
    }
    static const char *const heads[] = {"NAME", "TEAM", "READY", "REVISION", "GPUS",
                                        "REQ/S", "ROLLOUT", "ENDPOINT"};
    cli_table_t *t = cli_table_new(8, heads);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        char ready[32], rev[16], gpus[32], rate[32];
        snprintf(ready, sizeof(ready), "%lld/%lld",
                 (long long)json_integer_value(json_object_get(r, "ready")),
                 (long long)json_integer_value(json_object_get(r, "replicas")));
        snprintf(rev, sizeof(rev), "%lld",
                 (long long)json_integer_value(json_object_get(r, "revision")));
        snprintf(gpus, sizeof(gpus), "%g", json_number_value(json_object_get(r, "gpus")));
        snprintf(rate, sizeof(rate), "%.1f",
                 json_number_value(json_object_get(r, "requests_per_s")));
        const char *cells[] = {json_string_value(json_object_get(r, "name")),
                               json_string_value(json_object_get(r, "team")),
                               ready,
                               rev,
                               gpus,
                               rate,
                               json_string_value(json_object_get(r, "rollout")),
                               json_string_value(json_object_get(r, "endpoint"))};
        cli_table_add(t, cells);
    }
    if (c->output == CLI_CSV)
        cli_table_print_csv(t, stdout);
    else if (!cli_table_rows(t))
        printf("No services.\n");
    else
        cli_table_print(t, stdout);
    cli_table_free(t);
    json_decref(resp);
    return 0;
}

/* method on /v1/services/NAME with body (may be NULL); shows the answer. */
static int call(const cli_t *c, const char *cmd, const char *method, const char *name,
                const json_t *body)
{
    char *esc = cli_escape(name);
    gt_buf_t path = {0};
    gt_buf_printf(&path, "/v1/services/%s", esc);
    free(esc);
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(c, method, path.data, body, NULL, &resp, &err);
    gt_buf_free(&path);
    if (st != 200)
        return cli_fail_request(cmd, st, resp, &err);
    int rc = 0;
    if (!strcmp(method, "DELETE"))
        printf("service %s deleted\n", name);
    else
        rc = show_answer(c, resp);
    json_decref(resp);
    return rc;
}

int cmd_services(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "services") < 0)
        return 2;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("%s", services_help);
        return 0;
    }
    if (argc == 1)
        return list(&c);
    if (argc == 2)
        return call(&c, "services", "GET", argv[1], NULL);
    if (argc == 3 && (!strcmp(argv[1], "rm") || !strcmp(argv[1], "delete")))
        return call(&c, "services", "DELETE", argv[2], NULL);
    fprintf(stderr, "%s", services_help);
    return 2;
}

int cmd_scale(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "scale") < 0)
        return 2;
    gt_error_t err = {0};
    json_t *body = NULL;
    if (argc == 4 && !strcmp(argv[2], "--auto")) {
        int mn = 0, mx = 0;
        double target = 4;
        int got = strcmp(argv[3], "off") ? sscanf(argv[3], "%d:%d:%lf", &mn, &mx, &target) : 2;
        if (got < 2) {
            fprintf(stderr, "usage: gantry scale NAME --auto MIN:MAX[:TARGET] | --auto off\n");
            return 2;
        }
        body = json_pack("{s:{s:i,s:i,s:f}}", "autoscale", "min", mn, "max", mx, "target",
                         target);
    } else {
        int64_t n;
        if (argc != 3 || gt_parse_int64(argv[2], 0, 1000, &n, &err) < 0) {
            fprintf(stderr, "usage: gantry scale NAME N (N from 0 to 1000) | NAME --auto "
                            "MIN:MAX[:TARGET] | NAME --auto off\n");
            return 2;
        }
        body = json_pack("{s:I}", "replicas", (json_int_t)n);
    }
    int rc = call(&c, "scale", "PATCH", argv[1], body);
    json_decref(body);
    return rc;
}

int cmd_rollback(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "rollback") < 0)
        return 2;
    if (argc != 2) {
        fprintf(stderr, "usage: gantry rollback NAME\n");
        return 2;
    }
    json_t *body = json_pack("{s:b}", "rollback", 1);
    int rc = call(&c, "rollback", "PATCH", argv[1], body);
    json_decref(body);
    return rc;
}

int cmd_service_update(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "update") < 0)
        return 2;
    const char *name = argv[1];
    static const struct option opts[] = {
        {"image", required_argument, 0, 'I'}, {"env", required_argument, 0, 'e'},
        {"gpus", required_argument, 0, 'g'},  {"file", required_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    json_t *spec = json_object(), *env = NULL;
    int o, rc = 2;
    gt_error_t err = {0};
    optind = 2;
    while ((o = getopt_long(argc, argv, "+I:e:g:f:h", opts, NULL)) != -1) {
        switch (o) {
        case 'I': json_object_set_new(spec, "image", json_string(optarg)); break;
        case 'g': json_object_set_new(spec, "gpus", json_string(optarg)); break;
        case 'e':
            if (!env)
                env = json_object();
            if (cli_env_arg(env, optarg) < 0) {
                fprintf(stderr, "gantry update: --env '%s' must be NAME=VALUE\n", optarg);
                goto out;
            }
            break;
        case 'f': {
            size_t len;
            char *text = gt_read_file(strcmp(optarg, "-") ? optarg : "/dev/stdin", &len, &err);
            json_t *f = text ? cli_yaml_to_json(text, len, &err) : NULL;
            free(text);
            if (!json_is_object(f)) {
                fprintf(stderr, "gantry update: %s: %s\n", optarg,
                        f ? "the file must be a YAML mapping of job fields" : err.msg);
                json_decref(f);
                goto out;
            }
            json_object_update(spec, f);
            json_decref(f);
            break;
        }
        case 'h': printf("%s", services_help); rc = 0; goto out;
        default: fprintf(stderr, "%s", services_help); goto out;
        }
    }
    if (optind < argc) {
        json_t *cmd = json_array();
        for (int i = optind; i < argc; i++)
            json_array_append_new(cmd, json_string(argv[i]));
        json_object_set_new(spec, "command", cmd);
    }
    if (env) { /* -e adds to the current revision's env */
        char *esc = cli_escape(name);
        gt_buf_t path = {0};
        gt_buf_printf(&path, "/v1/services/%s", esc);
        free(esc);
        json_t *cur = NULL;
        int st = cli_request(&c, "GET", path.data, NULL, NULL, &cur, &err);
        gt_buf_free(&path);
        if (st != 200) {
            rc = cli_fail_request("update", st, cur, &err);
            goto out;
        }
        json_t *was = json_object_get(json_object_get(cur, "spec"), "env");
        json_t *merged = json_is_object(was) ? json_deep_copy(was) : json_object();
        json_object_update(merged, env);
        json_object_set_new(spec, "env", merged);
        json_decref(cur);
    }
    if (!json_object_size(spec)) {
        fprintf(stderr, "gantry update: say what changes: --image, -e, -g, -f or -- COMMAND\n");
        goto out;
    }
    json_t *body = json_pack("{s:O}", "spec", spec);
    rc = call(&c, "update", "PATCH", name, body);
    json_decref(body);
out:
    json_decref(spec);
    json_decref(env);
    return rc;
}
