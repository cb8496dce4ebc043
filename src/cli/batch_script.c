/* batch_script.c: sbatch's directives and options as job fields (batch_script.h). */
#include "cli/batch_script.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/client.h"

extern char **environ;

void batch_init(batch_t *b)
{
    memset(b, 0, sizeof(*b));
    b->fields = json_object();
    b->lines = json_object();
    b->gpus_per_node = -1;
    b->mem_per_gpu_mib = -1;
}

void batch_free(batch_t *b)
{
    if (!b)
        return;
    json_decref(b->fields);
    json_decref(b->lines);
    b->fields = b->lines = NULL;
}

/* Sets field key (v: a new reference) and remembers the line that set it. */
static void set(batch_t *b, const char *key, json_t *v)
{
    json_object_set_new(b->fields, key, v);
    json_object_set_new(b->lines, key, json_integer(b->line));
    if (!strcmp(key, "gpus"))
        b->gpus_per_node = -1;
    if (!strcmp(key, "memory"))
        b->mem_per_gpu_mib = -1;
}

static void unset(batch_t *b, const char *key)
{
    json_object_del(b->fields, key);
    json_object_del(b->lines, key);
}

/* ---- values ---- */

/* A whole number from min to max, digits only. */
static int whole(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s || strlen(s) > 18)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    long long v = strtoll(s, NULL, 10);
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int batch_time(const char *s, int64_t *secs, gt_error_t *err)
{
    const char *hint = "write minutes (90), M:S, H:M:S, D-H, D-H:M, D-H:M:S, UNLIMITED, or "
                       "gantry's 90m, 4h, 1h30m";
    if (!s || !*s)
        return gt_error_invalid(err, "time limit '' is empty: %s", hint);
    if (!strcasecmp(s, "unlimited") || !strcasecmp(s, "infinite")) {
        *secs = 0;
        return 0;
    }
    if (strpbrk(s, "dhms")) {
        gt_error_t e = {0};
        if (gt_parse_duration(s, secs, &e) < 0)
            return gt_error_invalid(err, "time limit '%s' is not a time: %s", s, hint);
        return 0;
    }
    /* [D-]A[:B[:C]]: with D, A is hours; without, A[:B] is M[:S] and A:B:C is H:M:S. */
    int64_t days = 0, part[3] = {0, 0, 0};
    int nparts = 0;
    bool has_days = false;
    const char *p = s;
    const char *dash = strchr(s, '-');
    char num[24];
    if (dash) {
        size_t n = (size_t)(dash - s);
        if (n == 0 || n >= sizeof(num))
            return gt_error_invalid(err, "time limit '%s' is not a time: %s", s, hint);
        memcpy(num, s, n);
        num[n] = '\0';
        if (whole(num, 0, 100000, &days) < 0)
            return gt_error_invalid(err, "time limit '%s' is not a time: %s", s, hint);
        has_days = true;
        p = dash + 1;
    }
    while (nparts < 3) {
        size_t n = strcspn(p, ":");
        if (n == 0 || n >= sizeof(num))
            return gt_error_invalid(err, "time limit '%s' is not a time: %s", s, hint);
        memcpy(num, p, n);
        num[n] = '\0';
        if (whole(num, 0, 100000000, &part[nparts]) < 0)
            return gt_error_invalid(err, "time limit '%s' is not a time: %s", s, hint);
        nparts++;
        p += n;
        if (!*p)
            break;
        p++; /* the ':' */
        if (!*p || nparts == 3)
            return gt_error_invalid(err, "time limit '%s' is not a time: %s", s, hint);
    }
    int64_t t;
    if (has_days)
        t = days * 86400 + part[0] * 3600 + part[1] * 60 + part[2]; /* D-H, D-H:M, D-H:M:S */
    else if (nparts == 1)
        t = part[0] * 60; /* M */
    else if (nparts == 2)
        t = part[0] * 60 + part[1]; /* M:S */
    else
        t = part[0] * 3600 + part[1] * 60 + part[2]; /* H:M:S */
    *secs = t;
    return 0;
}

int batch_memory(const char *s, int64_t *mib, gt_error_t *err)
{
    const char *hint = "write a whole number with K, M, G or T (M when none), such as 64G";
    size_t n = s ? strspn(s, "0123456789") : 0;
    char num[24];
    if (n == 0 || n > 15)
        return gt_error_invalid(err, "memory '%s' is not a size: %s", s ? s : "", hint);
    memcpy(num, s, n);
    num[n] = '\0';
    int64_t v = strtoll(num, NULL, 10), mult_k = 1024; /* in KiB */
    const char *u = s + n;
    if (*u) {
        switch (toupper((unsigned char)*u)) {
        case 'K': mult_k = 1; break;
        case 'M': mult_k = 1024; break;
        case 'G': mult_k = 1024 * 1024; break;
        case 'T': mult_k = 1024LL * 1024 * 1024; break;
        default: return gt_error_invalid(err, "memory '%s' is not a size: %s", s, hint);
        }
        u++;
        if (*u == 'B' || *u == 'b')
            u++;
        if (*u)
            return gt_error_invalid(err, "memory '%s' is not a size: %s", s, hint);
    }
    if (v > INT64_MAX / 4 / mult_k)
        return gt_error_invalid(err, "memory '%s' is too large", s);
    *mib = (v * mult_k + 1023) / 1024;
    return 0;
}

/* "[TYPE:]N" (--gpus, --gpus-per-node): the count, and the type set as gpu_type. */
static int typed_count(batch_t *b, const char *opt, const char *v, int64_t *count,
                       gt_error_t *err)
{
    const char *colon = strrchr(v, ':');
    const char *n = colon ? colon + 1 : v;
    if (whole(n, 0, 100000, count) < 0)
        return gt_error_invalid(err, "--%s=%s: write a number of GPUs, or TYPE:N such as "
                                     "h100:2", opt, v);
    if (colon) {
        if (colon == v || memchr(v, ':', (size_t)(colon - v)))
            return gt_error_invalid(err, "--%s=%s: write a number of GPUs, or TYPE:N such as "
                                         "h100:2", opt, v);
        char *type = strndup(v, (size_t)(colon - v));
        set(b, "gpu_type", json_pack("[s]", type));
        free(type);
    }
    return 0;
}

/* ---- the options ---- */

typedef int (*opt_fn)(batch_t *b, const char *opt, const char *v, gt_error_t *err);

static int o_string(batch_t *b, const char *field, const char *opt, const char *v,
                    gt_error_t *err)
{
    if (!*v)
        return gt_error_invalid(err, "--%s is empty", opt);
    set(b, field, json_string(v));
    return 0;
}

static int o_job_name(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    return o_string(b, "name", o, v, e);
}
static int o_account(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    return o_string(b, "team", o, v, e);
}
static int o_qos(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    return o_string(b, "priority_class", o, v, e);
}
static int o_partition(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    return o_string(b, "partition", o, v, e);
}
static int o_array(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    return o_string(b, "array", o, v, e);
}
static int o_output(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    return o_string(b, "output", o, v, e);
}
static int o_error(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    return o_string(b, "error", o, v, e);
}

static int o_gpus(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    int64_t n;
    if (typed_count(b, o, v, &n, e) < 0)
        return -1;
    set(b, "gpus", json_integer(n));
    return 0;
}

static int o_gpus_per_node(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    int64_t n;
    if (typed_count(b, o, v, &n, e) < 0)
        return -1;
    unset(b, "gpus");
    json_object_set_new(b->lines, "gpus", json_integer(b->line));
    b->gpus_per_node = n;
    return 0;
}

/* --gres=gpu[:TYPE][:N][,...]: GPUs per node; a generic resource other than gpu is refused. */
static int o_gres(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    const char *hint = "write gpu:N or gpu:TYPE:N (GPUs per node), such as gpu:a100:4";
    if (strchr(v, ','))
        return gt_error_invalid(e, "--%s=%s: one resource only (gpu); %s", o, v, hint);
    if (strncmp(v, "gpu", 3) || (v[3] && v[3] != ':'))
        return gt_error_invalid(e, "--%s=%s: gantry knows only the gpu resource; %s", o, v,
                                hint);
    const char *rest = v[3] ? v + 4 : "";
    if (!*rest) { /* "gpu": one */
        unset(b, "gpus");
        json_object_set_new(b->lines, "gpus", json_integer(b->line));
        b->gpus_per_node = 1;
        return 0;
    }
    int64_t n;
    if (!strchr(rest, ':') && whole(rest, 0, 100000, &n) < 0) { /* "gpu:TYPE": one of TYPE */
        char spec[300];
        snprintf(spec, sizeof(spec), "%s:1", rest);
        return o_gpus_per_node(b, o, spec, e);
    }
    return o_gpus_per_node(b, o, rest, e);
}

static int o_nodes(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    int64_t n;
    if (whole(v, 1, 4096, &n) < 0)
        return gt_error_invalid(e, "--%s=%s: write one number of nodes from 1 to 4096 (a "
                                   "range MIN-MAX is not supported)", o, v);
    set(b, "nodes", json_integer(n));
    return 0;
}

static int o_time(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    int64_t s;
    gt_error_t te = {0};
    if (batch_time(v, &s, &te) < 0)
        return gt_error_invalid(e, "--%s: %s", o, te.msg);
    set(b, "time_limit", json_integer(s));
    return 0;
}

static int o_mem(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    int64_t m;
    gt_error_t me = {0};
    if (batch_memory(v, &m, &me) < 0)
        return gt_error_invalid(e, "--%s: %s", o, me.msg);
    set(b, "memory", json_integer(m));
    return 0;
}

static int o_mem_per_gpu(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    int64_t m;
    gt_error_t me = {0};
    if (batch_memory(v, &m, &me) < 0)
        return gt_error_invalid(e, "--%s: %s", o, me.msg);
    unset(b, "memory");
    json_object_set_new(b->lines, "memory", json_integer(b->line));
    b->mem_per_gpu_mib = m;
    return 0;
}

static int o_cpus(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    int64_t n;
    if (whole(v, 1, 100000, &n) < 0)
        return gt_error_invalid(e, "--%s=%s: write a number of CPUs from 1", o, v);
    set(b, "cpus", json_integer(n));
    return 0;
}

/* afterok:ID[:ID...],afterany:...,afternotok:...,singleton (all must hold), parsed by
 * cli_dependency_arg as gantry update's; a later --dependency replaces an earlier one. */
static int o_dependency(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    (void)o;
    json_t *parsed = json_object();
    if (cli_dependency_arg(parsed, v, e) < 0) {
        json_decref(parsed);
        return -1;
    }
    unset(b, "dependencies");
    unset(b, "singleton");
    json_t *deps = json_object_get(parsed, "dependencies");
    if (deps)
        set(b, "dependencies", json_incref(deps));
    if (json_object_get(parsed, "singleton"))
        set(b, "singleton", json_true());
    json_decref(parsed);
    return 0;
}

static int o_chdir(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    if (!*v)
        return gt_error_invalid(e, "--%s is empty", o);
    if (v[0] == '/') {
        set(b, "workdir", json_string(v));
        return 0;
    }
    char cwd[4096];
    if (!getcwd(cwd, sizeof(cwd)))
        return gt_error_invalid(e, "--%s=%s: cannot tell this directory: %s", o, v,
                                strerror(errno));
    gt_buf_t p = {0};
    gt_buf_printf(&p, "%s/%s", strcmp(cwd, "/") ? cwd : "", v);
    set(b, "workdir", json_string(p.data));
    gt_buf_free(&p);
    return 0;
}

/* The checkpoint signals the server accepts (job.c's ckpt_signals), by name and number. */
static const struct {
    const char *name;
    int num;
} signals[] = {{"SIGHUP", 1},   {"SIGINT", 2},   {"SIGQUIT", 3}, {"SIGKILL", 9},
               {"SIGUSR1", 10}, {"SIGUSR2", 12}, {"SIGTERM", 15}};

/* --signal=[B:]SIG[@SECONDS]: the checkpoint signal and its grace (60 s when not given). */
static int o_signal(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    const char *hint = "write [B:]SIG[@SECONDS] with SIG one of HUP, INT, QUIT, KILL, USR1, "
                       "USR2, TERM (or its number), such as USR1@120";
    const char *s = v;
    if (!strncmp(s, "B:", 2))
        s += 2; /* the batch shell only: gantry signals the whole job, the script included */
    else if (!strncmp(s, "R:", 2))
        return gt_error_invalid(e, "--%s=%s: R: (reservations) is not supported: %s", o, v,
                                hint);
    const char *at = strchr(s, '@');
    char name[32];
    size_t n = at ? (size_t)(at - s) : strlen(s);
    if (n == 0 || n >= sizeof(name))
        return gt_error_invalid(e, "--%s=%s: %s", o, v, hint);
    memcpy(name, s, n);
    name[n] = '\0';
    int64_t grace = 60, num = -1;
    if (at && whole(at + 1, 0, 86400, &grace) < 0)
        return gt_error_invalid(e, "--%s=%s: the seconds after @ must be a number from 0 to "
                                   "86400", o, v);
    if (isdigit((unsigned char)name[0]) && whole(name, 1, 64, &num) < 0)
        return gt_error_invalid(e, "--%s=%s: %s", o, v, hint);
    const char *found = NULL;
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]) && !found; i++)
        if (num == signals[i].num || !strcasecmp(name, signals[i].name) ||
            !strcasecmp(name, signals[i].name + 3))
            found = signals[i].name;
    if (!found)
        return gt_error_invalid(e, "--%s=%s: signal '%s' is not supported: %s", o, v, name,
                                hint);
    set(b, "checkpoint", json_pack("{s:s,s:I}", "signal", found, "grace", (json_int_t)grace));
    return 0;
}

static int o_requeue(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    (void)o, (void)v, (void)e;
    set(b, "requeue", json_true());
    return 0;
}

static int o_no_requeue(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    (void)o, (void)v, (void)e;
    set(b, "requeue", json_false());
    return 0;
}

static int o_hold(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    (void)o, (void)v, (void)e;
    set(b, "hold", json_true());
    return 0;
}

/* Variables --export=ALL does not copy: the caller's token (a secret the job document would
 * show), what the node sets itself, and the shell's own bookkeeping. */
static bool not_exported(const char *name, size_t n)
{
    static const char *const skip[] = {"GANTRY_TOKEN", "PWD", "OLDPWD", "SHLVL", "_", NULL};
    for (int i = 0; skip[i]; i++)
        if (strlen(skip[i]) == n && !strncmp(name, skip[i], n))
            return true;
    return n >= 6 && !strncmp(name, "SLURM_", 6);
}

/* --export=ALL|NONE|NIL|[ALL,]NAME[=VALUE][,...]: the job's env (replacing what the script's
 * --export gave). NAME alone takes its value from this environment (skipped when unset, as
 * sbatch skips it). */
static int o_export(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    json_t *env = json_object();
    char *copy = xstrdup(v), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (!strcmp(item, "NONE") || !strcmp(item, "NIL"))
            continue;
        if (!strcmp(item, "ALL")) {
            for (char **ep = environ; ep && *ep; ep++) {
                const char *eq = strchr(*ep, '=');
                if (!eq || eq == *ep || not_exported(*ep, (size_t)(eq - *ep)))
                    continue;
                char *k = strndup(*ep, (size_t)(eq - *ep));
                json_t *val = json_string(eq + 1); /* NULL when not UTF-8: not sendable */
                if (val)
                    json_object_set_new(env, k, val);
                free(k);
            }
            continue;
        }
        char *eq = strchr(item, '=');
        if (eq == item || !*item) {
            rc = gt_error_invalid(e, "--%s=%s: write ALL, NONE, or NAME[=VALUE] items separated "
                                     "by ','", o, v);
            break;
        }
        if (eq) {
            *eq = '\0';
            json_object_set_new(env, item, json_string(eq + 1));
        } else if (getenv(item)) {
            json_t *val = json_string(getenv(item)); /* NULL when not UTF-8: not sendable */
            if (val)
                json_object_set_new(env, item, val);
        }
    }
    free(copy);
    if (rc < 0) {
        json_decref(env);
        return -1;
    }
    set(b, "env", env);
    b->env_replace = true;
    return 0;
}

static int o_one_task(batch_t *b, const char *o, const char *v, gt_error_t *e)
{
    (void)b;
    if (strcmp(v, "1"))
        return gt_error_invalid(e, "--%s=%s: gantry runs one task per node (the script); "
                                   "start more processes from it (srun's place: torchrun, "
                                   "mpirun), or write --%s=1", o, v, o);
    return 0;
}

typedef struct opt {
    const char *name;
    char short_name; /* 0: none */
    bool arg;
    opt_fn fn;
} opt_t;

static const opt_t opts[] = {
    {"job-name", 'J', true, o_job_name},
    {"gpus", 'G', true, o_gpus},
    {"gres", 0, true, o_gres},
    {"nodes", 'N', true, o_nodes},
    {"gpus-per-node", 0, true, o_gpus_per_node},
    {"time", 't', true, o_time},
    {"mem", 0, true, o_mem},
    {"mem-per-gpu", 0, true, o_mem_per_gpu},
    {"cpus-per-task", 'c', true, o_cpus},
    {"account", 'A', true, o_account},
    {"qos", 'q', true, o_qos},
    {"partition", 'p', true, o_partition},
    {"array", 'a', true, o_array},
    {"dependency", 'd', true, o_dependency},
    {"output", 'o', true, o_output},
    {"error", 'e', true, o_error},
    {"chdir", 'D', true, o_chdir},
    {"signal", 0, true, o_signal},
    {"requeue", 0, false, o_requeue},
    {"no-requeue", 0, false, o_no_requeue},
    {"hold", 'H', false, o_hold},
    {"export", 0, true, o_export},
    {"ntasks", 'n', true, o_one_task},
    {"ntasks-per-node", 0, true, o_one_task},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char *supported =
    "-J/--job-name, -G/--gpus, --gres=gpu[:TYPE]:N, -N/--nodes, --gpus-per-node, -t/--time, "
    "--mem, --mem-per-gpu, -c/--cpus-per-task, -A/--account, -q/--qos, -p/--partition, "
    "-a/--array, -d/--dependency, -o/--output, -e/--error, -D/--chdir, --signal, --requeue, "
    "--no-requeue, -H/--hold, --export, -n/--ntasks=1, --ntasks-per-node=1";

int batch_option(batch_t *b, const char *name, const char *value, gt_error_t *err)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (strcmp(name, opts[i].name) && !(name[0] && !name[1] && name[0] == opts[i].short_name))
            continue;
        if (opts[i].arg && !value)
            return gt_error_invalid(err, "--%s needs a value", opts[i].name);
        if (!opts[i].arg && value)
            return gt_error_invalid(err, "--%s takes no value (got '%s')", opts[i].name, value);
        return opts[i].fn(b, opts[i].name, value, err);
    }
    return gt_error_invalid(err, "%s%s is not supported by gantry submit (supported: %s)",
                            name[1] ? "--" : "-", name, supported);
}

/* ---- scripts ---- */

/* Whether line (len bytes) is the directive tag followed by a blank or its end. */
static bool tagged(const char *line, size_t len, const char *tag)
{
    size_t n = strlen(tag);
    return len >= n && !memcmp(line, tag, n) && (len == n || line[n] == ' ' || line[n] == '\t');
}

/* A line of the top block (comment, blank line, directive) or the first command. */
static bool is_command(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    return i < len && line[i] != '#';
}

bool batch_script_detect(const char *text, size_t len)
{
    if (memchr(text, '\0', len))
        return false;
    if (len >= 2 && text[0] == '#' && text[1] == '!')
        return true;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - text - off) : len - off;
        if (tagged(text + off, n, "#SBATCH") || tagged(text + off, n, "#GANTRY"))
            return true;
        if (is_command(text + off, n))
            return false;
        off += n + 1;
    }
    return false;
}

/* Splits an #SBATCH line's options into words as a shell would for plain words and quotes
 * ('..', "..", \x); a word starting with '#' starts a comment. NULL-terminated argv in *out
 * (argv[0] "#SBATCH"); -1 on an unclosed quote. */
static int split_words(const char *s, char ***out, int *argc)
{
    char **v = NULL;
    size_t cap = 0;
    int n = 0;
    GT_GROW(v, cap, 2);
    v[n++] = xstrdup("#SBATCH");
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (!*p || *p == '#')
            break;
        gt_buf_t w = {0};
        gt_buf_append(&w, "", 0);
        while (*p && *p != ' ' && *p != '\t' && *p != '\r') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                const char *end = strchr(p, q);
                if (!end) {
                    gt_buf_free(&w);
                    for (int i = 0; i < n; i++)
                        free(v[i]);
                    free(v);
                    return -1;
                }
                gt_buf_append(&w, p, (size_t)(end - p));
                p = end + 1;
            } else if (*p == '\\' && p[1]) {
                gt_buf_append(&w, p + 1, 1);
                p += 2;
            } else {
                gt_buf_append(&w, p++, 1);
            }
        }
        GT_GROW(v, cap, (size_t)n + 2);
        v[n++] = w.data ? w.data : xstrdup("");
    }
    v[n] = NULL;
    *out = v;
    *argc = n;
    return 0;
}

/* One #SBATCH line's options (after the tag), through getopt_long like sbatch's. */
static int sbatch_line(batch_t *b, const char *rest, gt_error_t *err)
{
    char **argv;
    int argc;
    if (split_words(rest, &argv, &argc) < 0)
        return gt_error_invalid(err, "line %d: #SBATCH: a quote is not closed", b->line);
    struct option lopts[NOPTS + 1];
    char shorts[3 * NOPTS + 3] = "+:";
    size_t sl = 2;
    for (size_t i = 0; i < NOPTS; i++) {
        lopts[i] = (struct option){opts[i].name, opts[i].arg ? required_argument : no_argument,
                                   NULL, 256 + (int)i};
        if (opts[i].short_name) {
            shorts[sl++] = opts[i].short_name;
            if (opts[i].arg)
                shorts[sl++] = ':';
        }
    }
    shorts[sl] = '\0';
    lopts[NOPTS] = (struct option){0, 0, 0, 0};
    /* getopt's state is global: keep the caller's (gantry submit's own option parse). */
    int save_optind = optind, save_opterr = opterr, save_optopt = optopt;
    char *save_optarg = optarg;
    optind = 0;
    opterr = 0;
    int rc = 0, c;
    while (rc == 0 && (c = getopt_long(argc, argv, shorts, lopts, NULL)) != -1) {
        const char *word = argv[optind - 1];
        if (c == '?' || c == ':') {
            char opt[64];
            if (optopt && optopt < 256)
                snprintf(opt, sizeof(opt), "-%c", optopt);
            else
                snprintf(opt, sizeof(opt), "%.*s", (int)strcspn(word, "="), word);
            if (c == ':')
                rc = gt_error_invalid(err, "line %d: #SBATCH %s needs a value", b->line, opt);
            else
                rc = gt_error_invalid(err, "line %d: #SBATCH %s is not supported by gantry "
                                           "submit (supported: %s)", b->line, opt, supported);
            break;
        }
        size_t i = (size_t)(c - 256);
        if (c < 256)
            for (i = 0; i < NOPTS && opts[i].short_name != c; i++)
                ;
        gt_error_t e = {0};
        if (opts[i].fn(b, opts[i].name, opts[i].arg ? optarg : NULL, &e) < 0)
            rc = gt_error_invalid(err, "line %d: #SBATCH %s", b->line, e.msg);
    }
    if (rc == 0 && optind < argc)
        rc = gt_error_invalid(err, "line %d: #SBATCH: '%s' is not an option (options start "
                                   "with - or --)", b->line, argv[optind]);
    optind = save_optind;
    opterr = save_opterr;
    optopt = save_optopt;
    optarg = save_optarg;
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
    return rc;
}

/* One #GANTRY line: FIELD: VALUE, the value in YAML. */
static int gantry_line(batch_t *b, const char *rest, gt_error_t *err)
{
    const char *hint = "write one job field as FIELD: VALUE, such as #GANTRY gpus: 2";
    while (*rest == ' ' || *rest == '\t')
        rest++;
    gt_error_t e = {0};
    json_t *o = *rest ? cli_yaml_to_json(rest, strlen(rest), &e) : NULL;
    if (!json_is_object(o) || json_object_size(o) != 1) {
        json_decref(o);
        return gt_error_invalid(err, "line %d: #GANTRY %s: %s", b->line, rest, hint);
    }
    const char *key = json_object_iter_key(json_object_iter(o));
    json_t *v = json_object_iter_value(json_object_iter(o));
    int rc = 0;
    if (!strcmp(key, "command")) {
        rc = gt_error_invalid(err, "line %d: #GANTRY command: the script is the job's command",
                              b->line);
    } else if (!strcmp(key, "env") && json_is_object(v) &&
               json_is_object(json_object_get(b->fields, "env"))) {
        json_object_update(json_object_get(b->fields, "env"), v);
        json_object_set_new(b->lines, "env", json_integer(b->line));
    } else {
        set(b, key, json_incref(v));
    }
    json_decref(o);
    return rc;
}

int batch_script_parse(batch_t *b, const char *text, size_t len, gt_buf_t *warn,
                       gt_error_t *err)
{
    int first_command = 0, line = 0;
    for (size_t off = 0; off < len; line++) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - text - off) : len - off;
        const char *s = text + off;
        off += n + 1;
        bool sb = tagged(s, n, "#SBATCH"), gt = tagged(s, n, "#GANTRY");
        if (first_command) {
            if ((sb || gt) && warn)
                gt_buf_printf(warn, "line %d: %s after the script's first command (line %d) "
                                    "is ignored, as sbatch ignores it\n", line + 1,
                              sb ? "#SBATCH" : "#GANTRY", first_command);
            continue;
        }
        if (!sb && !gt) {
            if (is_command(s, n))
                first_command = line + 1;
            continue;
        }
        char *rest = strndup(s + 7, n - 7);
        rest[strcspn(rest, "\r")] = '\0';
        b->line = line + 1;
        int rc = sb ? sbatch_line(b, rest, err) : gantry_line(b, rest, err);
        free(rest);
        if (rc < 0) {
            b->line = 0;
            return -1;
        }
    }
    b->line = 0;
    return 0;
}

/* ---- flags over directives ---- */

static void drop_line(batch_t *b, const char *key)
{
    json_object_del(b->lines, key);
}

void batch_merge(batch_t *b, const batch_t *over)
{
    const json_t *of = over->fields;
    if (json_object_get(of, "dependencies") || json_object_get(of, "singleton")) {
        unset(b, "dependencies");
        unset(b, "singleton");
    }
    if (json_object_get(of, "gpus") || over->gpus_per_node >= 0) {
        b->gpus_per_node = over->gpus_per_node;
        unset(b, "gpus");
    }
    if (json_object_get(of, "memory") || over->mem_per_gpu_mib >= 0) {
        b->mem_per_gpu_mib = over->mem_per_gpu_mib;
        unset(b, "memory");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)of, key, v)
    {
        json_t *mine = json_object_get(b->fields, key);
        if (!strcmp(key, "env") && !over->env_replace && json_is_object(mine) &&
            json_is_object(v)) {
            json_object_update(mine, v);
        } else {
            json_object_set_new(b->fields, key, json_deep_copy(v));
            drop_line(b, key);
        }
    }
    b->env_replace |= over->env_replace;
}

/* A gpus field (number or string such as "0.5") in milli-GPUs; 1000 when absent. */
static int gpus_milli(const json_t *v, int64_t *out)
{
    gt_error_t e = {0};
    char buf[64];
    if (!v) {
        *out = 1000;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v) * 1000;
        return 0;
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof(buf), "%g", json_real_value(v));
        return gt_parse_gpus_milli(buf, out, &e);
    }
    return json_is_string(v) ? gt_parse_gpus_milli(json_string_value(v), out, &e) : -1;
}

int batch_finish(batch_t *b, gt_error_t *err)
{
    json_t *nv = json_object_get(b->fields, "nodes");
    int64_t nodes = json_is_integer(nv) ? json_integer_value(nv) : 0;
    int64_t per_node_milli = -1;
    if (b->gpus_per_node >= 0) {
        if (nodes <= 0) {
            nodes = 1;
            json_object_set_new(b->fields, "nodes", json_integer(1));
        }
        json_object_set_new(b->fields, "gpus", json_integer(b->gpus_per_node * nodes));
        per_node_milli = b->gpus_per_node * 1000;
        b->gpus_per_node = -1;
    }
    if (b->mem_per_gpu_mib >= 0) {
        if (per_node_milli < 0) {
            int64_t total;
            if (gpus_milli(json_object_get(b->fields, "gpus"), &total) < 0)
                return gt_error_invalid(err, "--mem-per-gpu: 'gpus' is not a number of GPUs");
            int64_t n = nodes > 0 ? nodes : 1;
            per_node_milli = (total + n - 1) / n;
        }
        if (per_node_milli <= 0)
            return gt_error_invalid(err, "--mem-per-gpu: the job has no GPUs; give --mem");
        int64_t per_node = (per_node_milli + 999) / 1000; /* a fraction of a GPU counts as one */
        json_object_set_new(b->fields, "memory", json_integer(b->mem_per_gpu_mib * per_node));
        b->mem_per_gpu_mib = -1;
    }
    return 0;
}

/* Whether msg quotes s as 'S' or 'S.xxx' ('checkpoint.signal'), or starts with "S:". */
static bool quotes(const char *msg, const char *s)
{
    size_t n = strlen(s);
    if (!n)
        return false;
    if (!strncmp(msg, s, n) && msg[n] == ':')
        return true;
    for (const char *p = strchr(msg, '\''); p; p = strchr(p + 1, '\''))
        if (!strncmp(p + 1, s, n) && (p[n + 1] == '\'' || p[n + 1] == '.'))
            return true;
    return false;
}

int batch_line_of(const batch_t *b, const char *msg)
{
    const char *key;
    json_t *line;
    if (!msg)
        return 0;
    json_object_foreach((json_t *)b->lines, key, line)
    {
        if (json_integer_value(line) <= 0)
            continue;
        json_t *v = json_object_get(b->fields, key);
        bool hit = quotes(msg, key) || (json_is_string(v) && quotes(msg, json_string_value(v)));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) hit |= json_is_string(e) && quotes(msg, json_string_value(e));
        if (hit)
            return (int)json_integer_value(line);
    }
    return 0;
}

json_t *batch_command(const char *path, const char *text, bool executable, char *const *args,
                      int nargs)
{
    json_t *cmd = json_array();
    bool shebang = text[0] == '#' && text[1] == '!';
    if (!shebang || !executable) {
        char interp[4096] = "/bin/sh", arg[4096] = "";
        if (shebang) {
            const char *p = text + 2, *eol = p + strcspn(p, "\n");
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            size_t n = strcspn(p, " \t\r\n");
            if (n > 0 && n < sizeof(interp)) {
                snprintf(interp, sizeof(interp), "%.*s", (int)n, p);
                p += n;
                while (p < eol && (*p == ' ' || *p == '\t'))
                    p++;
                const char *end = eol;
                while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                    end--;
                if (end > p && (size_t)(end - p) < sizeof(arg))
                    snprintf(arg, sizeof(arg), "%.*s", (int)(end - p), p);
            }
        }
        json_array_append_new(cmd, json_string(interp));
        if (arg[0])
            json_array_append_new(cmd, json_string(arg));
    }
    json_array_append_new(cmd, json_string(path));
    for (int i = 0; i < nargs; i++)
        json_array_append_new(cmd, json_string(args[i]));
    return cmd;
}
