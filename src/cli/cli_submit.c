/* cli_submit.c: gantry submit. */
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
static const char *submit_help =
    "usage: gantry submit [-f JOB.yaml] [options] [-- COMMAND [ARGS...]]\n\n"
    "Submits a job; prints its id. Flags override the file's fields.\n"
    "  -f, --file FILE        job spec in YAML (fields as in POST /v1/jobs)\n"
    "  -t, --team TEAM        team (default: the token's team)\n"
    "  -g, --gpus N           GPUs in total: 2, 16, or a fraction of one such as 0.25\n"
    "  -N, --nodes N          gang size (nodes)\n"
    "      --gpu-type T       acceptable GPU type (repeatable)\n"
    "  -c, --cpus N           CPUs per node     -m, --memory SIZE  memory per node (64Gi)\n"
    "      --time D           time limit (4h, 90m)\n"
    "  -n, --name NAME        job name          -p, --class CLASS  priority class\n"
    "  -e, --env K=V          environment (repeatable)\n"
    "      --workdir DIR      working directory (default: this directory, for a job without\n"
    "                         an image or environment; a container starts in its image's)\n"
    "      --image REF        run in an OCI image: docker://REG/NAME:TAG, oci:/PATH[:TAG],\n"
    "                         oci-archive:/PATH.tar, docker-archive:/PATH.tar\n"
    "      --mount VOL[/SUB]:PATH[:ro|:rw]  mount volume VOL (or its sub-directory SUB) at\n"
    "                         PATH (repeatable; see `gantry volumes`)\n"
    "      --environment NAME a software stack (see `gantry envs`); the job's own image, env\n"
    "                         and mounts add to or override the stack's\n"
    "      --network MODE     host (default) or none (loopback only)\n"
    "      --after ID         start only after job ID succeeded (repeatable)\n"
    "      --array A-B        a job array: one task per index, GANTRY_ARRAY_INDEX set\n"
    "      --checkpoint SIG   signal sent before preemption (checkpointable job)\n"
    "      --idempotency-key K  a retried submission with the same key returns the same job\n"
    "      --hold             submit it held: it waits until `gantry release ID`\n"
    "  common: --server URL, --token TOKEN, -o json|yaml|wide\n";

/* Whether name is found in a directory of this shell's PATH (as execvp would find it). */
static bool in_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *dirs = xstrdup(path), *save = NULL;
    bool found = false;
    for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", *d ? d : ".", name);
        found = access(full, X_OK) == 0;
    }
    free(dirs);
    return found;
}

/* As sbatch does, a job without an image or environment runs where it was submitted from:
 * this directory becomes its workdir unless it has one; and a command that names a file of
 * this directory without a '/' ("train.sh"), not a program of PATH, runs as ./train.sh (a
 * shell would need the ./ too; the node's execvp looks only in its PATH). */
static void here_by_default(json_t *job)
{
    if (json_object_get(job, "image") || json_object_get(job, "environment"))
        return;
    char cwd[4096];
    if (!getcwd(cwd, sizeof(cwd)))
        return;
    if (!json_object_get(job, "workdir"))
        json_object_set_new(job, "workdir", json_string(cwd));
    const char *wd = json_string_value(json_object_get(job, "workdir"));
    json_t *cmd = json_object_get(job, "command");
    const char *prog = json_string_value(json_array_get(cmd, 0));
    struct stat sb;
    if (!wd || strcmp(wd, cwd) || !prog || strchr(prog, '/') || in_path(prog) ||
        stat(prog, &sb) < 0 || !S_ISREG(sb.st_mode))
        return;
    if (access(prog, X_OK) < 0)
        fprintf(stderr, "gantry submit: warning: %s is not executable here (chmod +x %s, or "
                        "submit -- sh %s)\n", prog, prog, prog);
    gt_buf_t dot = {0};
    gt_buf_printf(&dot, "./%s", prog);
    json_array_set_new(cmd, 0, json_string(dot.data)); /* frees prog's string */
    gt_buf_free(&dot);
}

int cmd_submit(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "submit") < 0)
        return 2;
    static const struct option opts[] = {
        {"file", required_argument, 0, 'f'},   {"team", required_argument, 0, 't'},
        {"gpus", required_argument, 0, 'g'},   {"nodes", required_argument, 0, 'N'},
        {"gpu-type", required_argument, 0, 'T'}, {"cpus", required_argument, 0, 'c'},
        {"memory", required_argument, 0, 'm'}, {"time", required_argument, 0, 'L'},
        {"name", required_argument, 0, 'n'},   {"class", required_argument, 0, 'p'},
        {"env", required_argument, 0, 'e'},    {"workdir", required_argument, 0, 'W'},
        {"after", required_argument, 0, 'A'},  {"array", required_argument, 0, 'a'},
        {"checkpoint", required_argument, 0, 'C'},
        {"idempotency-key", required_argument, 0, 'K'}, {"help", no_argument, 0, 'h'},
        {"image", required_argument, 0, 'I'},  {"mount", required_argument, 0, 'M'},
        {"environment", required_argument, 0, 'E'}, {"network", required_argument, 0, 'X'},
        {"hold", no_argument, 0, 'H'},
        {0, 0, 0, 0}};
    json_t *job = json_object(), *flags = json_object();
    const char *file = NULL, *key = NULL;
    int o, rc = 2;
    gt_error_t err = {0};
    optind = 1;
    while ((o = getopt_long(argc, argv, "+f:t:g:N:c:m:n:p:e:h", opts, NULL)) != -1) {
        switch (o) {
        case 'f': file = optarg; break;
        case 't': json_object_set_new(flags, "team", json_string(optarg)); break;
        case 'g': json_object_set_new(flags, "gpus", json_string(optarg)); break;
        case 'N': {
            int64_t n;
            if (gt_parse_int64(optarg, 0, 4096, &n, &err) < 0) {
                fprintf(stderr, "gantry submit: --nodes: %s\n", err.msg);
                goto out;
            }
            json_object_set_new(flags, "nodes", json_integer(n));
            break;
        }
        case 'T': {
            json_t *a = json_object_get(flags, "gpu_type");
            if (!a)
                json_object_set_new(flags, "gpu_type", a = json_array());
            json_array_append_new(a, json_string(optarg));
            break;
        }
        case 'c': json_object_set_new(flags, "cpus", json_string(optarg)); break;
        case 'm': json_object_set_new(flags, "memory", json_string(optarg)); break;
        case 'L': json_object_set_new(flags, "time_limit", json_string(optarg)); break;
        case 'n': json_object_set_new(flags, "name", json_string(optarg)); break;
        case 'p': json_object_set_new(flags, "priority_class", json_string(optarg)); break;
        case 'W': json_object_set_new(flags, "workdir", json_string(optarg)); break;
        case 'I': json_object_set_new(flags, "image", json_string(optarg)); break;
        case 'E': json_object_set_new(flags, "environment", json_string(optarg)); break;
        case 'X': json_object_set_new(flags, "network", json_string(optarg)); break;
        case 'M': {
            json_t *m = cli_mount_arg(optarg);
            if (!m) {
                fprintf(stderr, "gantry submit: --mount '%s' must be VOLUME[/SUB]:PATH[:ro|:rw], "
                                "such as datasets/imagenet:/data:ro\n", optarg);
                goto out;
            }
            json_t *a = json_object_get(flags, "mounts");
            if (!a)
                json_object_set_new(flags, "mounts", a = json_array());
            json_array_append_new(a, m);
            break;
        }
        case 'a': json_object_set_new(flags, "array", json_string(optarg)); break;
        case 'K': key = optarg; break;
        case 'H': json_object_set_new(flags, "hold", json_true()); break;
        case 'C':
            json_object_set_new(flags, "checkpoint", json_pack("{s:s}", "signal", optarg));
            break;
        case 'e':
            if (cli_env_arg(flags, optarg) < 0) {
                fprintf(stderr, "gantry submit: --env '%s' must be NAME=VALUE\n", optarg);
                goto out;
            }
            break;
        case 'A': {
            int64_t id;
            if (gt_parse_int64(optarg, 1, INT64_MAX, &id, &err) < 0) {
                fprintf(stderr, "gantry submit: --after: %s\n", err.msg);
                goto out;
            }
            json_t *a = json_object_get(flags, "after_ok");
            if (!a)
                json_object_set_new(flags, "after_ok", a = json_array());
            json_array_append_new(a, json_integer(id));
            break;
        }
        case 'h': printf("%s", submit_help); rc = 0; goto out;
        default: fprintf(stderr, "%s", submit_help); goto out;
        }
    }
    if (file) {
        size_t len;
        char *text = gt_read_file(strcmp(file, "-") ? file : "/dev/stdin", &len, &err);
        if (!text) {
            fprintf(stderr, "gantry submit: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        json_t *spec = cli_yaml_to_json(text, len, &err);
        free(text);
        if (!spec || !json_is_object(spec)) {
            fprintf(stderr, "gantry submit: %s: %s\n", file,
                    spec ? "the file must be a YAML mapping of job fields" : err.msg);
            json_decref(spec);
            rc = 1;
            goto out;
        }
        json_decref(job);
        job = spec;
    }
    json_object_update(job, flags);
    if (optind < argc) {
        json_t *cmd = json_array();
        for (int i = optind; i < argc; i++)
            json_array_append_new(cmd, json_string(argv[i]));
        json_object_set_new(job, "command", cmd);
    }
    if (!json_object_get(job, "command")) {
        fprintf(stderr, "gantry submit: no command: put it after --, such as `gantry submit "
                        "--gpus 1 -- python train.py`, or in the file's 'command'\n");
        goto out;
    }
    here_by_default(job);
    char hdr[300];
    if (key)
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key);
    json_t *resp;
    int st = cli_request(&c, "POST", "/v1/jobs", job, key ? hdr : NULL, &resp, &err);
    if (st != 201 && st != 200) {
        rc = cli_fail_request("submit", st, resp, &err);
        goto out;
    }
    if (c.output == CLI_JSON)
        cli_print_json(resp);
    else if (c.output == CLI_YAML)
        cli_print_yaml(resp);
    else if (json_object_get(resp, "array_count"))
        printf("Submitted job array %lld (%lld tasks)\n",
               (long long)json_integer_value(json_object_get(resp, "id")),
               (long long)json_integer_value(json_object_get(resp, "array_count")));
    else
        printf("Submitted job %lld\n", (long long)json_integer_value(json_object_get(resp, "id")));
    json_decref(resp);
    rc = 0;
out:
    json_decref(job);
    json_decref(flags);
    return rc;
}
