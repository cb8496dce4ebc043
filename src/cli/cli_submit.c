/* cli_submit.c: gantry submit. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/batch_script.h"
#include "cli/client.h"
#include "cli/commands.h"

static const char *submit_help =
    "usage: gantry submit [-f JOB.yaml] [options] [-- COMMAND [ARGS...]]\n"
    "       gantry submit [options] SCRIPT [ARGS...]\n\n"
    "Submits a job; prints its id. Flags override the file's fields.\n"
    "A SCRIPT (a file starting with #! or with #SBATCH/#GANTRY lines at its top) is a batch\n"
    "script as for sbatch: its #SBATCH options (Slurm's) and #GANTRY FIELD: VALUE lines set the\n"
    "job; flags override them; an option gantry does not support is an error naming its line.\n"
    "The node runs the script file itself (through its #! interpreter unless executable).\n"
    "  -f, --file FILE        job spec in YAML or JSON (fields as in POST /v1/jobs; - reads\n"
    "                         stdin; `gantry show ID -o yaml` or -o spec output is taken back)\n"
    "  -t, --team TEAM        team (default: the token's team)\n"
    "  -g, --gpus N           GPUs in total: 2, 16, a fraction of one such as 0.25, or 0\n"
    "                         (a CPU-only job: no GPU visible; runs on any node)\n"
    "  -N, --nodes N          gang size (nodes)\n"
    "      --gpu-type T       acceptable GPU type (repeatable)\n"
    "  -c, --cpus N           CPUs per node     -m, --memory SIZE  memory per node (64Gi)\n"
    "      --time T           time limit: 4h, 90m, or Slurm's MIN, M:S, H:M:S, D-H[:M[:S]],\n"
    "                         UNLIMITED (a plain number is minutes, as for sbatch)\n"
    "  -n, --name NAME        job name          -p, --class CLASS  priority class\n"
    "  -e, --env K=V          environment (repeatable)\n"
    "      --workdir DIR      working directory (default: this directory, for a job without\n"
    "                         an image or environment; a container starts in its image's)\n"
    "      --image REF        run in an OCI image: docker://REG/NAME:TAG, oci:/PATH[:TAG],\n"
    "                         oci-archive:/PATH.tar, docker-archive:/PATH.tar\n"
    "      --mount VOL[/SUB]:PATH[:ro|:rw]  mount volume VOL (or its sub-directory SUB) at\n"
    "                         PATH (repeatable; see `gantry volumes`)\n"
    "      --input REF:PATH   mount artifact version REF (NAME@N, NAME:ALIAS, NAME) read-only\n"
    "                         at PATH (repeatable; docs/artifacts.md)\n"
    "      --output-artifact NAME[:KIND]:PATH  when the job succeeds, register what it wrote\n"
    "                         at PATH (/gantry/output/...) as a new version of NAME\n"
    "      --environment NAME a software stack (see `gantry envs`); the job's own image, env\n"
    "                         and mounts add to or override the stack's\n"
    "      --network MODE     host (default) or none (loopback only)\n"
    "      --after ID         start only after job ID succeeded (repeatable)\n"
    "      --array SPEC       a job array, as sbatch: 0-99, 1,3,5-9, 0-15:4 (step), %N at the\n"
    "                         end runs at most N tasks at once (0-99%10); GANTRY_ARRAY_INDEX set\n"
    "      --checkpoint SIG   signal sent before preemption (checkpointable job)\n"
    "      --idempotency-key K  a retried submission with the same key returns the same job\n"
    "      --hold             submit it held: it waits until `gantry release ID`\n"
    "      --kind KIND        batch (default), service (replicas restarted and served through\n"
    "                         an endpoint: docs/services.md) or interactive\n"
    "  -l, --label K=V        a label (repeatable; the file's labels are kept unless the same\n"
    "                         key is given): `gantry queue -l K=V` selects by them\n"
    "      --param K=V        a parameter of the run, in its params: (repeatable; added to\n"
    "                         the file's, the flag's value wins): a number, true, false or null\n"
    "                         as such, anything else a string (\"...\" forces one; docs/tracking.md)\n"
    "  sbatch's names (the same in #SBATCH lines, where -J -G -A -q -p -a -d -o -e -D -H -n\n"
    "  and -t (time) are Slurm's short options):\n"
    "      --job-name NAME    --account TEAM     --qos CLASS        --partition NAME\n"
    "      --gres gpu[:TYPE]:N  GPUs per node    --gpus-per-node [TYPE:]N  (gpus = nodes x N)\n"
    "      --mem SIZE (64G; M when no unit)      --mem-per-gpu SIZE --cpus-per-task N\n"
    "      --dependency afterok:ID[:ID],afterany:ID,afternotok:ID,singleton (all must hold;\n"
    "                         an array's id means all its tasks, ID_INDEX one task)\n"
    "      --output FILE      --error FILE (patterns %j %A %a %x %N %u, kept on the node)\n"
    "      --chdir DIR        --signal [B:]SIG[@SECONDS] (checkpoint signal and grace)\n"
    "      --requeue | --no-requeue  back to the queue (or not) when the node is lost\n"
    "      --export ALL|NONE|NAME[=VALUE],...  the job's env (ALL: this shell's)\n"
    "  common: --server URL, --token TOKEN, -o json|yaml|wide (--output is the job's file)\n";

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

/* Reads up to BATCH_SCRIPT_MAX bytes of path into a new string; *len its length, *more
 * whether the file is longer. NULL when it cannot be read. */
static char *read_head(const char *path, size_t *len, bool *more)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = xmalloc(BATCH_SCRIPT_MAX + 2);
    size_t n = fread(buf, 1, BATCH_SCRIPT_MAX + 1, f);
    fclose(f);
    *more = n > BATCH_SCRIPT_MAX;
    *len = *more ? BATCH_SCRIPT_MAX : n;
    buf[*len] = '\0';
    return buf;
}

/* Whether the command's first word is a batch script to read (batch_script.h): a regular file
 * (not a program of PATH) that starts with #! or has #SBATCH/#GANTRY lines; after "--" only a
 * file of this directory ("run.sh", "./run.sh"). Its text in *text (free it). */
static bool is_script(const char *word, bool after_dashdash, char **text, size_t *len)
{
    struct stat sb;
    if (after_dashdash && strchr(!strncmp(word, "./", 2) ? word + 2 : word, '/'))
        return false;
    if (!strchr(word, '/') && in_path(word))
        return false;
    if (stat(word, &sb) < 0 || !S_ISREG(sb.st_mode))
        return false;
    bool more;
    char *t = read_head(word, len, &more);
    if (!t || !batch_script_detect(t, *len)) {
        free(t);
        return false;
    }
    if (more) {
        fprintf(stderr, "gantry submit: %s is over %d MiB: too large for a batch script\n",
                word, BATCH_SCRIPT_MAX >> 20);
        free(t);
        exit(2);
    }
    *text = t;
    return true;
}

/* The script's path as the node opens it from the job's workdir: as given when that is this
 * directory ("./" before a bare name), else absolute. A new string. */
static char *script_path_for_node(const char *path, const json_t *job)
{
    char cwd[4096];
    const char *wd = json_string_value(json_object_get(job, "workdir"));
    bool here = getcwd(cwd, sizeof(cwd)) &&
                (wd ? !strcmp(wd, cwd)
                    : !json_object_get(job, "image") && !json_object_get(job, "environment"));
    if (path[0] == '/' || !here) {
        char *abs = realpath(path, NULL);
        return abs ? abs : xstrdup(path);
    }
    gt_buf_t b = {0};
    gt_buf_printf(&b, "%s%s", strchr(path, '/') ? "" : "./", path);
    return b.data;
}

/* sbatch's default job name: the script's file name, when it is a valid job name. */
static void name_from_script(json_t *job, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);
    if (json_object_get(job, "name") || n == 0 || n > 128)
        return;
    for (const char *p = base; *p; p++)
        if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return;
    json_object_set_new(job, "name", json_string(base));
}

/* --param KEY=VALUE: the value as the job's params take it (a new reference): a JSON number,
 * true, false, null or "a quoted string" as such, any other text a string. NULL with err
 * when there is no '=' or no key. */
static json_t *param_arg(const char *arg, gt_error_t *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        gt_error_invalid(err, "must be KEY=VALUE, such as lr=3e-4 or model=base");
        return NULL;
    }
    const char *v = eq + 1;
    json_error_t je;
    json_t *x = *v ? json_loads(v, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je) : NULL;
    if (x && (json_is_number(x) || json_is_boolean(x) || json_is_null(x) || json_is_string(x)))
        return x;
    json_decref(x);
    if (!(x = json_string(v)))
        gt_error_invalid(err, "the value is not UTF-8 text");
    return x;
}

/* Long options that are sbatch's names, passed to batch_option() under that name. */
enum { OPT_SBATCH = 1000, OPT_INPUT, OPT_OUTPUT_ARTIFACT, OPT_PARAM };

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
        /* sbatch's names (batch_script.h), one per line */
        {"job-name", required_argument, 0, OPT_SBATCH},
        {"gres", required_argument, 0, OPT_SBATCH},
        {"gpus-per-node", required_argument, 0, OPT_SBATCH},
        {"account", required_argument, 0, OPT_SBATCH},
        {"qos", required_argument, 0, OPT_SBATCH},
        {"partition", required_argument, 0, OPT_SBATCH},
        {"dependency", required_argument, 0, OPT_SBATCH},
        {"output", required_argument, 0, OPT_SBATCH},
        {"error", required_argument, 0, OPT_SBATCH},
        {"chdir", required_argument, 0, OPT_SBATCH},
        {"signal", required_argument, 0, OPT_SBATCH},
        {"requeue", no_argument, 0, OPT_SBATCH},
        {"no-requeue", no_argument, 0, OPT_SBATCH},
        {"hold", no_argument, 0, OPT_SBATCH},
        {"mem", required_argument, 0, OPT_SBATCH},
        {"mem-per-gpu", required_argument, 0, OPT_SBATCH},
        {"cpus-per-task", required_argument, 0, OPT_SBATCH},
        {"export", required_argument, 0, OPT_SBATCH},
        {"label", required_argument, 0, 'l'},
        {"kind", required_argument, 0, 'k'},
        {"input", required_argument, 0, OPT_INPUT},
        {"output-artifact", required_argument, 0, OPT_OUTPUT_ARTIFACT},
        {"param", required_argument, 0, OPT_PARAM},
        {0, 0, 0, 0}};
    batch_t job, cl; /* job: the file's fields and the script's directives; cl: the flags */
    batch_init(&job);
    batch_init(&cl);
    json_t *flags = cl.fields;
    const char *file = NULL, *key = NULL;
    char *script = NULL, *node_path = NULL;
    size_t script_len = 0;
    int o, rc = 2, li;
    gt_error_t err = {0};
    optind = 1;
    while ((o = getopt_long(argc, argv, "+f:t:g:N:c:m:n:p:e:l:h", opts, &li)) != -1) {
        switch (o) {
        case OPT_SBATCH:
            if (batch_option(&cl, opts[li].name, optarg, &err) < 0) {
                fprintf(stderr, "gantry submit: %s\n", err.msg);
                goto out;
            }
            break;
        case 'f': file = optarg; break;
        case 't': json_object_set_new(flags, "team", json_string(optarg)); break;
        case 'g':
            if (strchr(optarg, ':')) { /* sbatch's TYPE:N */
                if (batch_option(&cl, "gpus", optarg, &err) < 0) {
                    fprintf(stderr, "gantry submit: %s\n", err.msg);
                    goto out;
                }
                break;
            }
            json_object_set_new(flags, "gpus", json_string(optarg));
            cl.gpus_per_node = -1;
            break;
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
            if (!json_is_array(a))
                json_object_set_new(flags, "gpu_type", a = json_array());
            json_array_append_new(a, json_string(optarg));
            break;
        }
        case 'c': json_object_set_new(flags, "cpus", json_string(optarg)); break;
        case 'm':
            json_object_set_new(flags, "memory", json_string(optarg));
            cl.mem_per_gpu_mib = -1;
            break;
        case 'L':
            if (batch_option(&cl, "time", optarg, &err) < 0) {
                fprintf(stderr, "gantry submit: %s\n", err.msg);
                goto out;
            }
            break;
        case OPT_INPUT:
        case OPT_OUTPUT_ARTIFACT: {
            /* REF:PATH, NAME[:KIND]:PATH: PATH is absolute, so it starts at the last ":/" */
            const char *cut = NULL;
            for (const char *q = optarg; (q = strstr(q, ":/")); q++)
                cut = q;
            if (!cut || cut == optarg) {
                fprintf(stderr, "gantry submit: --%s '%s' must be %s:PATH with PATH absolute\n",
                        o == OPT_INPUT ? "input" : "output-artifact", optarg,
                        o == OPT_INPUT ? "REF" : "NAME[:KIND]");
                goto out;
            }
            json_t *e = json_pack("{s:s#,s:s}", "artifact", optarg, (int)(cut - optarg), "path",
                                  cut + 1);
            const char *colon = memchr(optarg, ':', (size_t)(cut - optarg));
            if (o == OPT_OUTPUT_ARTIFACT && colon) {
                json_object_set_new(e, "artifact",
                                    json_stringn(optarg, (size_t)(colon - optarg)));
                json_object_set_new(e, "kind",
                                    json_stringn(colon + 1, (size_t)(cut - colon - 1)));
            }
            const char *fk = o == OPT_INPUT ? "inputs" : "outputs";
            json_t *a = json_object_get(flags, fk);
            if (!a)
                json_object_set_new(flags, fk, a = json_array());
            json_array_append_new(a, e);
            break;
        }
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
        case 'k': json_object_set_new(flags, "kind", json_string(optarg)); break;
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
        case 'l': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "gantry submit: --label '%s' must be KEY=VALUE, such as "
                                "project=llm\n", optarg);
                goto out;
            }
            json_t *l = json_object_get(flags, "labels");
            if (!l)
                json_object_set_new(flags, "labels", l = json_object());
            char *k = xstrdup(optarg);
            k[eq - optarg] = 0;
            json_object_set_new(l, k, json_string(eq + 1));
            free(k);
            break;
        }
        case OPT_PARAM: {
            json_t *pv = param_arg(optarg, &err);
            if (!pv) {
                fprintf(stderr, "gantry submit: --param '%s': %s\n", optarg, err.msg);
                goto out;
            }
            json_t *ps = json_object_get(flags, "params");
            if (!ps)
                json_object_set_new(flags, "params", ps = json_object());
            char *k = xstrdup(optarg);
            k[strcspn(k, "=")] = '\0';
            json_object_set_new(ps, k, pv);
            free(k);
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
        json_decref(job.fields);
        job.fields = spec;
    }
    const char *script_path = NULL;
    if (optind < argc &&
        is_script(argv[optind], optind > 1 && !strcmp(argv[optind - 1], "--"), &script,
                  &script_len)) {
        script_path = argv[optind];
        gt_buf_t warn = {0};
        int prc = batch_script_parse(&job, script, script_len, &warn, &err);
        if (warn.len)
            for (char *l = warn.data, *nl; l && *l; l = nl ? nl + 1 : NULL) {
                nl = strchr(l, '\n');
                fprintf(stderr, "gantry submit: %s: warning: %.*s\n", script_path,
                        nl ? (int)(nl - l) : (int)strlen(l), l);
            }
        gt_buf_free(&warn);
        if (prc < 0) {
            fprintf(stderr, "gantry submit: %s: %s\n", script_path, err.msg);
            goto out;
        }
    }
    /* --label adds to the file's labels (a key given by both: the flag's). */
    json_t *fl = json_object_get(cl.fields, "labels"), *jl = json_object_get(job.fields, "labels");
    if (fl && json_is_object(jl)) {
        json_object_update(jl, fl);
        json_object_del(cl.fields, "labels");
    }
    /* --param adds to the file's params in the same way. */
    json_t *fp = json_object_get(cl.fields, "params"), *jp = json_object_get(job.fields, "params");
    if (fp && json_is_object(jp)) {
        json_object_update(jp, fp);
        json_object_del(cl.fields, "params");
    }
    batch_merge(&job, &cl);
    if (batch_finish(&job, &err) < 0) {
        fprintf(stderr, "gantry submit: %s\n", err.msg);
        goto out;
    }
    if (script_path) {
        struct stat sb;
        bool executable = access(script_path, X_OK) == 0 && stat(script_path, &sb) == 0;
        node_path = script_path_for_node(script_path, job.fields);
        json_object_set_new(job.fields, "command",
                            batch_command(node_path, script, executable, argv + optind + 1,
                                          argc - optind - 1));
        name_from_script(job.fields, script_path);
    } else if (optind < argc) {
        json_t *cmd = json_array();
        for (int i = optind; i < argc; i++)
            json_array_append_new(cmd, json_string(argv[i]));
        json_object_set_new(job.fields, "command", cmd);
    }
    if (!json_object_get(job.fields, "command")) {
        fprintf(stderr, "gantry submit: no command: put it after --, such as `gantry submit "
                        "--gpus 1 -- python train.py`, or in the file's 'command'\n");
        goto out;
    }
    here_by_default(job.fields);
    char hdr[300], auto_key[40];
    if (!key && strchr(c.server, ',')) {
        /* Several servers (docs/ha.md): a submission whose answer a failover cut off is sent
         * to the next one; its own key makes sure it becomes one job, not two. */
        unsigned char rnd[12];
        FILE *ur = fopen("/dev/urandom", "rb");
        if (ur && fread(rnd, 1, sizeof(rnd), ur) == sizeof(rnd)) {
            int o = snprintf(auto_key, sizeof(auto_key), "cli-");
            for (size_t i = 0; i < sizeof(rnd); i++)
                o += snprintf(auto_key + o, sizeof(auto_key) - (size_t)o, "%02x", rnd[i]);
            key = auto_key;
        }
        if (ur)
            fclose(ur);
    }
    if (key)
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key);
    json_t *resp;
    int st = cli_request(&c, "POST", "/v1/jobs", job.fields, key ? hdr : NULL, &resp, &err);
    if (st != 201 && st != 200) {
        const char *msg = json_string_value(
            json_object_get(json_object_get(resp, "error"), "message"));
        int line = script_path && st == 400 ? batch_line_of(&job, msg) : 0;
        if (line > 0) {
            fprintf(stderr, "gantry submit: %s line %d: %s\n", script_path, line, msg);
            json_decref(resp);
            rc = 1;
        } else {
            rc = cli_fail_request("submit", st, resp, &err);
        }
        goto out;
    }
    json_t *ignored = json_object_get(resp, "ignored");
    if (json_array_size(ignored)) { /* a job's own document sent back: say what was dropped */
        gt_buf_t names = {0};
        size_t i;
        json_t *n;
        json_array_foreach(ignored, i, n)
            gt_buf_printf(&names, "%s%s", i ? ", " : "", json_string_value(n));
        fprintf(stderr, "gantry submit: note: ignored the fields the server sets: %s (`gantry "
                        "show ID -o spec` prints only the fields to submit)\n", names.data);
        gt_buf_free(&names);
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
    free(script);
    free(node_path);
    batch_free(&job);
    batch_free(&cl);
    return rc;
}
