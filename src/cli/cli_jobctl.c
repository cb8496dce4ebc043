/* cli_jobctl.c: gantry cancel (by ids, or by filter: --user/--team/--name/--state), hold,
 * release, requeue, update. The server's side is src/server/api_jobctl.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/batch_script.h"
#include "cli/client.h"
#include "cli/commands.h"

/* Prints the ids of list ("12 13 14"), at most 20 and then how many more. */
static void print_ids(json_t *list)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (i == 20) {
            printf(" ... (%zu more)", json_array_size(list) - 20);
            break;
        }
        printf("%s%lld", i ? " " : "", (long long)json_integer_value(v));
    }
}

/* An answer that names several jobs ({VERBED: [ids], errors: [...]}): prints which were
 * VERBED and each error; returns 1 when there was any error. */
static int print_many(const cli_t *c, const char *cmd, const char *verbed, const char *what,
                      json_t *resp)
{
    if (c->output == CLI_JSON) {
        cli_print_json(resp);
    } else if (c->output == CLI_YAML) {
        cli_print_yaml(resp);
    } else {
        json_t *done = json_object_get(resp, verbed);
        char cap[32];
        snprintf(cap, sizeof(cap), "%s", verbed);
        cap[0] = (char)(cap[0] - 'a' + 'A');
        printf("%s %zu job%s%s%s", cap, json_array_size(done),
               json_array_size(done) == 1 ? "" : "s", what ? " of " : "", what ? what : "");
        if (json_array_size(done)) {
            printf(": ");
            print_ids(done);
        }
        printf("\n");
    }
    size_t i;
    json_t *e;
    json_t *errors = json_object_get(resp, "errors");
    json_array_foreach(errors, i, e)
        fprintf(stderr, "gantry %s: job %lld: %s\n", cmd,
                (long long)json_integer_value(json_object_get(e, "id")),
                json_string_value(json_object_get(e, "error")));
    return json_array_size(errors) ? 1 : 0;
}

/* POST (or DELETE) on each job reference of argv[first..argc): one job is answered with its
 * view, an array's id with the list of its tasks. */
static int act_on_refs(const cli_t *c, const char *cmd, const char *method, const char *verb,
                       const char *verbed, const json_t *body, int argc, char **argv,
                       int first)
{
    int rc = 0;
    for (int i = first; i < argc; i++) {
        char ref[64];
        if (cli_job_ref(cmd, argv[i], ref, sizeof(ref)) < 0)
            return 2;
        char path[160];
        if (verb)
            snprintf(path, sizeof(path), "/v1/jobs/%s/%s", ref, verb);
        else
            snprintf(path, sizeof(path), "/v1/jobs/%s", ref);
        gt_error_t err = {0};
        json_t *resp;
        int st = cli_request(c, method, path, body, NULL, &resp, &err);
        if (st != 200) {
            rc = cli_fail_request(cmd, st, resp, &err);
            if (st < 0)
                return rc;
            continue;
        }
        if (json_object_get(resp, "array_id") && !json_object_get(resp, "id")) {
            char what[80];
            snprintf(what, sizeof(what), "array %s", ref);
            if (print_many(c, cmd, verbed, what, resp))
                rc = 1;
        } else if (c->output == CLI_JSON) {
            cli_print_json(resp);
        } else if (c->output == CLI_YAML) {
            cli_print_yaml(resp);
        } else {
            char cap[32];
            snprintf(cap, sizeof(cap), "%s", verbed);
            cap[0] = (char)(cap[0] - 'a' + 'A');
            printf("%s job %s\n", cap, ref);
        }
        json_decref(resp);
    }
    return rc;
}

static bool help_asked(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

int cmd_hold(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "hold") < 0)
        return 2;
    if (argc < 2 || help_asked(argc, argv)) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: gantry hold ID...\n\nKeeps pending jobs out of the scheduler until "
                "`gantry release` (Slurm's scontrol hold).\nAn array's id holds all its pending "
                "tasks. A job held by an admin is released only by an admin.\n");
        return argc < 2 ? 2 : 0;
    }
    return act_on_refs(&c, "hold", "POST", "hold", "held", NULL, argc, argv, 1);
}

int cmd_release(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "release") < 0)
        return 2;
    if (argc < 2 || help_asked(argc, argv)) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: gantry release ID...\n\nLets held jobs into the scheduler again "
                "(Slurm's scontrol release). An array's id releases all its held tasks.\n");
        return argc < 2 ? 2 : 0;
    }
    return act_on_refs(&c, "release", "POST", "release", "released", NULL, argc, argv, 1);
}

int cmd_requeue(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "requeue") < 0)
        return 2;
    static const char *help =
        "usage: gantry requeue [--hold] ID...\n\nStops running jobs as a preemption does (their "
        "checkpoint signal and grace) and returns them\nto the queue; each run is kept in "
        "earlier_runs (Slurm's scontrol requeue). An array's id\nrequeues all its running "
        "tasks.\n  --hold   hold them in the queue too (Slurm's scontrol requeuehold)\n";
    static const struct option opts[] = {
        {"hold", no_argument, 0, 'H'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool hold = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'H': hold = true; break;
        case 'h': printf("%s", help); return 0;
        default: fprintf(stderr, "%s", help); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "%s", help);
        return 2;
    }
    json_t *body = hold ? json_pack("{s:b}", "hold", 1) : NULL;
    int rc = act_on_refs(&c, "requeue", "POST", "requeue", "requeued", body, argc, argv,
                         optind);
    json_decref(body);
    return rc;
}

static const char *update_help =
    "usage: gantry update ID [--gpus N] [--nodes N] [--gpu-type T] [--time D] [--class C]\n"
    "                        [--name NAME] [--after ID] [--dependency afterok:ID[:ID...]]\n"
    "                        [-l K=V|K-]...\n\n"
    "Changes a pending job (Slurm's scontrol update). Each value is checked as at submission;\n"
    "the job keeps its place by age. A running job can't be updated.\n"
    "  -g, --gpus N          GPUs in total       -N, --nodes N        gang size\n"
    "      --gpu-type T      acceptable GPU type (repeatable; replaces the list)\n"
    "  -t, --time D          time limit: 4h, 90m, or Slurm's 90 (minutes), 1:30:00, 2-00:00:00\n"
    "                        (0 or UNLIMITED: none)\n"
    "  -p, --class CLASS     priority class      -n, --name NAME      job name\n"
    "      --after ID        start only after job ID succeeded (repeatable; replaces the list)\n"
    "  -d, --dependency LIST  as sbatch's: afterok:ID[:ID...], afterany:ID..., afternotok:ID...,\n"
    "                        singleton (replaces the list; \"\" clears it)\n"
    "  -l, --label K=V       set a label (repeatable); K- removes label K\n";

/* Slurm's --dependency list (cli_dependency_arg) into the patch's dependencies (and
 * singleton); "" clears them. -1 with a message. */
static int dependency_arg(json_t *patch, const char *s)
{
    gt_error_t err = {0};
    if (!json_object_get(patch, "dependencies"))
        json_object_set_new(patch, "dependencies", json_array());
    if (!*s)
        return 0;
    if (cli_dependency_arg(patch, s, &err) < 0) {
        fprintf(stderr, "gantry update: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int cmd_update(int argc, char **argv)
{
    /* gantry update NAME ...: a service's rolling update (a job is named by its id) */
    if (argc > 1 && argv[1][0] != '-' && (argv[1][0] < '0' || argv[1][0] > '9'))
        return cmd_service_update(argc, argv);
    cli_t c;
    if (cli_init(&c, &argc, argv, "update") < 0)
        return 2;
    static const struct option opts[] = {
        {"gpus", required_argument, 0, 'g'},  {"nodes", required_argument, 0, 'N'},
        {"gpu-type", required_argument, 0, 'T'}, {"time", required_argument, 0, 't'},
        {"class", required_argument, 0, 'p'}, {"name", required_argument, 0, 'n'},
        {"after", required_argument, 0, 'A'}, {"dependency", required_argument, 0, 'd'},
        {"label", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    json_t *patch = json_object();
    int o, rc = 2;
    gt_error_t err = {0};
    optind = 1;
    while ((o = getopt_long(argc, argv, "g:N:t:p:n:d:l:h", opts, NULL)) != -1) {
        switch (o) {
        case 'g': json_object_set_new(patch, "gpus", json_string(optarg)); break;
        case 'N': {
            int64_t n;
            if (gt_parse_int64(optarg, 0, 4096, &n, &err) < 0) {
                fprintf(stderr, "gantry update: --nodes: %s\n", err.msg);
                goto out;
            }
            json_object_set_new(patch, "nodes", json_integer(n));
            break;
        }
        case 'T': {
            json_t *a = json_object_get(patch, "gpu_type");
            if (!a)
                json_object_set_new(patch, "gpu_type", a = json_array());
            json_array_append_new(a, json_string(optarg));
            break;
        }
        case 't': { /* as submit's --time: Slurm's formats too (a plain number is minutes) */
            int64_t secs;
            if (batch_time(optarg, &secs, &err) < 0) {
                fprintf(stderr, "gantry update: --time: %s\n", err.msg);
                goto out;
            }
            json_object_set_new(patch, "time_limit", json_integer(secs));
            break;
        }
        case 'p': json_object_set_new(patch, "priority_class", json_string(optarg)); break;
        case 'n': json_object_set_new(patch, "name", json_string(optarg)); break;
        case 'A': {
            char dep[64];
            snprintf(dep, sizeof(dep), "afterok:%s", optarg);
            if (dependency_arg(patch, dep) < 0)
                goto out;
            break;
        }
        case 'd':
            if (dependency_arg(patch, optarg) < 0)
                goto out;
            break;
        case 'l': { /* KEY=VALUE sets a label, KEY- removes it (kubectl label) */
            size_t n = strlen(optarg);
            const char *eq = strchr(optarg, '=');
            bool rm = !eq && n > 1 && optarg[n - 1] == '-';
            if (!rm && (!eq || eq == optarg)) {
                fprintf(stderr, "gantry update: --label '%s' must be KEY=VALUE (set) or KEY- "
                                "(remove)\n", optarg);
                goto out;
            }
            json_t *l = json_object_get(patch, "labels");
            if (!l)
                json_object_set_new(patch, "labels", l = json_object());
            char *k = xstrdup(optarg);
            k[rm ? n - 1 : (size_t)(eq - optarg)] = 0;
            json_object_set_new(l, k, rm ? json_null() : json_string(eq + 1));
            free(k);
            break;
        }
        case 'h': printf("%s", update_help); rc = 0; goto out;
        default: fprintf(stderr, "%s", update_help); goto out;
        }
    }
    if (optind + 1 != argc || !json_object_size(patch)) {
        fprintf(stderr, "%s", optind + 1 != argc ? update_help
                                                 : "gantry update: nothing to change: give "
                                                   "--gpus, --time, --class, ...\n");
        goto out;
    }
    rc = act_on_refs(&c, "update", "PATCH", NULL, "updated", patch, argc, argv, optind);
out:
    json_decref(patch);
    return rc;
}

/* ---- gantry cancel --user/--team/--name/--state ---- */

static const char *cancel_help =
    "usage: gantry cancel ID...\n"
    "       gantry cancel [--user U] [--team T] [--name N] [--state S[,S]] [-l SELECTOR]\n"
    "                     [--yes]\n\n"
    "Cancels jobs: pending ones leave the queue, running ones are stopped. An array's id\n"
    "cancels all its unfinished tasks (Slurm's scancel ID).\n"
    "With filters instead of ids, cancels every unfinished job they all match that you may\n"
    "cancel (Slurm's scancel --user/--name/--state/--account; -l: labels, as kubectl's\n"
    "selectors: k=v,k2!=v2,k3,!k4): at least one is needed; --yes is needed too unless you\n"
    "answer the question on a terminal.\n";

/* Whether argv holds a filter flag (then the command cancels by filter). */
static bool has_filter_flag(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1])
            return true;
    return false;
}

static void add_query(gt_buf_t *q, const char *key, const char *val)
{
    char *e = cli_escape(val);
    gt_buf_printf(q, "%s%s=%s", q->len ? "&" : "?", key, e);
    free(e);
}

/* Asks on the terminal whether to cancel the n jobs matched; true for yes. */
static bool confirm(const cli_t *c, const char *query)
{
    gt_buf_t path = {0};
    gt_buf_printf(&path, "/v1/jobs%s&limit=10000", query);
    json_t *resp;
    gt_error_t err = {0};
    int st = cli_request(c, "GET", path.data, NULL, NULL, &resp, &err);
    gt_buf_free(&path);
    if (st != 200) {
        cli_fail_request("cancel", st, resp, &err);
        return false;
    }
    json_t *ids = json_array(), *jobs = json_object_get(resp, "jobs");
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j)
    {
        const char *s = json_string_value(json_object_get(j, "state"));
        if (s && (!strcmp(s, "pending") || !strcmp(s, "running")))
            json_array_append(ids, json_object_get(j, "id"));
    }
    printf("Cancel %zu job%s", json_array_size(ids), json_array_size(ids) == 1 ? "" : "s");
    if (json_array_size(ids)) {
        printf(" (");
        print_ids(ids);
        printf(")");
    }
    printf("? [y/N] ");
    fflush(stdout);
    json_decref(ids);
    json_decref(resp);
    char line[16];
    return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

static int cancel_matching(const cli_t *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, 0, 'u'}, {"team", required_argument, 0, 't'},
        {"name", required_argument, 0, 'n'}, {"state", required_argument, 0, 's'},
        {"yes", no_argument, 0, 'y'},        {"selector", required_argument, 0, 'l'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    gt_buf_t q = {0};
    bool yes = false;
    int o, rc = 2;
    optind = 1;
    while ((o = getopt_long(argc, argv, "u:t:n:s:yl:h", opts, NULL)) != -1) {
        switch (o) {
        case 'u': add_query(&q, "user", optarg); break;
        case 't': add_query(&q, "team", optarg); break;
        case 'n': add_query(&q, "name", optarg); break;
        case 's': add_query(&q, "state", optarg); break;
        case 'y': yes = true; break;
        case 'l': add_query(&q, "selector", optarg); break;
        case 'h': printf("%s", cancel_help); rc = 0; goto out;
        default: fprintf(stderr, "%s", cancel_help); goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gantry cancel: give job ids or filters, not both\n");
        goto out;
    }
    if (!q.len) {
        fprintf(stderr, "gantry cancel: --yes alone cancels nothing: give a filter (--user, "
                        "--team, --name, --state, -l) or job ids\n");
        goto out;
    }
    if (!yes) {
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr, "gantry cancel: cancelling by filter needs --yes when not run "
                            "from a terminal\n");
            goto out;
        }
        if (!confirm(c, q.data)) {
            rc = 1;
            goto out;
        }
    }
    gt_buf_t path = {0};
    gt_buf_printf(&path, "/v1/jobs%s", q.data);
    json_t *resp;
    gt_error_t err = {0};
    int st = cli_request(c, "DELETE", path.data, NULL, NULL, &resp, &err);
    gt_buf_free(&path);
    if (st != 200) {
        rc = cli_fail_request("cancel", st, resp, &err);
        goto out;
    }
    rc = print_many(c, "cancel", "cancelled", NULL, resp);
    json_int_t np = json_integer_value(json_object_get(resp, "not_permitted"));
    if (np && c->output != CLI_JSON && c->output != CLI_YAML)
        printf("%lld matching job%s of others left alone (you may not cancel them)\n",
               (long long)np, np == 1 ? "" : "s");
    json_decref(resp);
out:
    gt_buf_free(&q);
    return rc;
}

int cmd_cancel(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "cancel") < 0)
        return 2;
    if (argc < 2 || help_asked(argc, argv)) {
        fprintf(argc < 2 ? stderr : stdout, "%s", cancel_help);
        return argc < 2 ? 2 : 0;
    }
    if (has_filter_flag(argc, argv))
        return cancel_matching(&c, argc, argv);
    return act_on_refs(&c, "cancel", "DELETE", NULL, "cancelled", NULL, argc, argv, 1);
}
