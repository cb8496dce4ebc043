/* cli_envs.c: gantry volumes | envs: list the cluster's volumes and software stacks; admins
 * set (flags or -f FILE) and remove them at run time (docs/environments.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"

/* "a,b" of a JSON array of strings, into buf. */
static const char *joined(json_t *arr, char *buf, size_t len)
{
    size_t i, off = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", json_string_value(v));
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    return *buf ? buf : "-";
}

static void volumes_table(json_t *rows, bool wide)
{
    (void)wide;
    static const char *hdr[] = {"NAME", "ACCESS", "KIND", "TEAMS", "SOURCE", "PATH"};
    cli_table_t *t = cli_table_new(6, hdr);
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
    {
        char teams[256];
        const char *cells[] = {cli_str(v, "name", ""), cli_str(v, "access", ""), cli_str(v, "kind", "-"),
                               joined(json_object_get(v, "teams"), teams, sizeof(teams)),
                               cli_str(v, "source", ""), cli_str(v, "path", "")};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static void envs_table(json_t *rows, bool wide)
{
    static const char *hdr[] = {"NAME", "TEAMS", "SOURCE", "MOUNTS", "IMAGE", "DESCRIPTION"};
    cli_table_t *t = cli_table_new(wide ? 6 : 5, hdr);
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
    {
        char teams[256], mounts[32];
        snprintf(mounts, sizeof(mounts), "%zu", json_array_size(json_object_get(v, "mounts")));
        const char *cells[] = {cli_str(v, "name", ""),
                               joined(json_object_get(v, "teams"), teams, sizeof(teams)),
                               cli_str(v, "source", ""), mounts, cli_str(v, "image", "-"),
                               cli_str(v, "description", "")};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

typedef struct what {
    const char *cmd;           /* volumes | envs */
    const char *path;          /* /v1/volumes | /v1/environments */
    const char *key;           /* the list's key */
    const char *help;
    void (*table)(json_t *rows, bool wide);
} what_t;

static const what_t VOLUMES = {
    "volumes", "/v1/volumes", "volumes",
    "usage: gantry volumes [-o json|yaml|wide]\n"
    "       gantry volumes set NAME --path DIR [--teams T1,T2|*] [--access ro|rw]\n"
    "                          [--kind dataset|checkpoint|output|scratch|other]\n"
    "       gantry volumes set NAME -f VOLUME.yaml\n"
    "       gantry volumes rm NAME\n\n"
    "Lists the cluster's volumes: named storage on the nodes that jobs mount (--mount\n"
    "VOL[/SUB]:PATH[:ro]). An admin adds or changes one at run time (set: the whole volume,\n"
    "stored; it overrides the configuration's of that name) or removes one set so (rm: the\n"
    "configuration's, if any, applies again). --teams defaults to every team (*), --access\n"
    "to rw.\n",
    volumes_table};

static const what_t ENVS = {
    "envs", "/v1/environments", "environments",
    "usage: gantry envs [-o json|yaml|wide]\n"
    "       gantry envs set NAME [--image REF] [-e K=V]... [--mount VOL[/SUB]:PATH[:ro]]...\n"
    "                       [--teams T1,T2|*] [--description TEXT]\n"
    "       gantry envs set NAME -f ENV.yaml\n"
    "       gantry envs rm NAME\n\n"
    "Lists the software stacks (environments) jobs name with --environment: an image with\n"
    "environment variables and mounts, open to some teams or all. An admin adds or changes\n"
    "one at run time (set: the whole stack, stored; it overrides the configuration's of that\n"
    "name) or removes one set so (rm).\n",
    envs_table};

static json_t *teams_arg(const char *s)
{
    json_t *a = json_array();
    char *copy = xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(t));
    free(copy);
    return a;
}

static int send(cli_t *c, const what_t *w, const char *verb, const char *name, json_t *body)
{
    char *en = cli_escape(name);
    gt_buf_t path = {0};
    gt_buf_printf(&path, "%s/%s", w->path, en);
    free(en);
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(c, verb, path.data, body, NULL, &resp, &err);
    gt_buf_free(&path);
    if (st != 200 && st != 201)
        return cli_fail_request(w->cmd, st, resp, &err);
    if (c->output == CLI_JSON)
        cli_print_json(resp);
    else if (c->output == CLI_YAML)
        cli_print_yaml(resp);
    else if (json_is_true(json_object_get(resp, "deleted")))
        printf("%s %s removed\n", w == &VOLUMES ? "volume" : "environment", name);
    else {
        json_t *rows = json_pack("[O]", resp);
        w->table(rows, c->output == CLI_WIDE);
        json_decref(rows);
    }
    json_decref(resp);
    return 0;
}

static int set(cli_t *c, const what_t *w, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, 0, 'f'},  {"path", required_argument, 0, 'P'},
        {"teams", required_argument, 0, 'T'}, {"access", required_argument, 0, 'A'},
        {"kind", required_argument, 0, 'K'},  {"image", required_argument, 0, 'I'},
        {"env", required_argument, 0, 'e'},   {"mount", required_argument, 0, 'M'},
        {"description", required_argument, 0, 'D'}, {0, 0, 0, 0}};
    /* the flags each kind takes */
    const char *takes = w == &VOLUMES ? "fPTAK" : "fTIeMD";
    const char *name = argv[1], *file = NULL;
    json_t *body = json_object();
    int o, rc = 2;
    optind = 2;
    while ((o = getopt_long(argc, argv, "f:e:", opts, NULL)) != -1) {
        if (o == '?' || !strchr(takes, o)) {
            fprintf(stderr, "%s", w->help);
            goto out;
        }
        switch (o) {
        case 'f': file = optarg; break;
        case 'P': json_object_set_new(body, "path", json_string(optarg)); break;
        case 'T': json_object_set_new(body, "teams", teams_arg(optarg)); break;
        case 'A': json_object_set_new(body, "access", json_string(optarg)); break;
        case 'K': json_object_set_new(body, "kind", json_string(optarg)); break;
        case 'I': json_object_set_new(body, "image", json_string(optarg)); break;
        case 'D': json_object_set_new(body, "description", json_string(optarg)); break;
        case 'e':
            if (cli_env_arg(body, optarg) < 0) {
                fprintf(stderr, "gantry %s: -e '%s' must be NAME=VALUE\n", w->cmd, optarg);
                goto out;
            }
            break;
        case 'M': {
            json_t *m = cli_mount_arg(optarg);
            if (!m) {
                fprintf(stderr, "gantry %s: --mount '%s' must be VOLUME[/SUB]:PATH[:ro|:rw]\n",
                        w->cmd, optarg);
                goto out;
            }
            json_t *a = json_object_get(body, "mounts");
            if (!a)
                json_object_set_new(body, "mounts", a = json_array());
            json_array_append_new(a, m);
            break;
        }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gantry %s: unexpected argument '%s'\n%s", w->cmd, argv[optind],
                w->help);
        goto out;
    }
    if (file) {
        size_t len;
        gt_error_t err = {0};
        char *text = gt_read_file(strcmp(file, "-") ? file : "/dev/stdin", &len, &err);
        json_t *spec = text ? cli_yaml_to_json(text, len, &err) : NULL;
        free(text);
        if (!json_is_object(spec)) {
            fprintf(stderr, "gantry %s: %s: %s\n", w->cmd, file,
                    spec ? "the file must be a YAML mapping" : err.msg);
            json_decref(spec);
            rc = 1;
            goto out;
        }
        json_object_update(spec, body); /* flags override the file's fields */
        json_decref(body);
        body = spec;
    }
    rc = send(c, w, "PUT", name, body);
out:
    json_decref(body);
    return rc;
}

static int settings_cmd(const what_t *w, int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, w->cmd) < 0)
        return 2;
    if (argc == 1) {
        gt_error_t err = {0};
        json_t *resp;
        int st = cli_request(&c, "GET", w->path, NULL, NULL, &resp, &err);
        if (st != 200)
            return cli_fail_request(w->cmd, st, resp, &err);
        json_t *rows = json_object_get(resp, w->key);
        if (c.output == CLI_JSON)
            cli_print_json(rows);
        else if (c.output == CLI_YAML)
            cli_print_yaml(rows);
        else
            w->table(rows, c.output == CLI_WIDE);
        json_decref(resp);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("%s", w->help);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "set"))
        return set(&c, w, argc - 1, argv + 1);
    if (argc == 3 && !strcmp(argv[1], "rm"))
        return send(&c, w, "DELETE", argv[2], NULL);
    fprintf(stderr, "%s", w->help);
    return 2;
}

int cmd_volumes(int argc, char **argv) { return settings_cmd(&VOLUMES, argc, argv); }
int cmd_envs(int argc, char **argv) { return settings_cmd(&ENVS, argc, argv); }
