#include "server/job.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envspec.h"
#include "common/jobio.h"

static const char *state_names[] = {"pending", "running", "succeeded", "failed", "cancelled"};

const char *job_state_name(job_state_t s) { return (unsigned)s < 5 ? state_names[s] : "?"; }

int job_state_parse(const char *s, job_state_t *out)
{
    for (int i = 0; i < 5; i++)
        if (s && !strcmp(s, state_names[i])) {
            *out = (job_state_t)i;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

static const char *kind_names[] = {"batch", "service", "interactive"};

const char *job_kind_name(job_kind_t k) { return (unsigned)k < 3 ? kind_names[k] : "?"; }

int job_kind_parse(const char *s, job_kind_t *out)
{
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, kind_names[i])) {
            *out = (job_kind_t)i;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

void job_free(job_t *j)
{
    if (!j)
        return;
    free(j->name);
    free(j->team);
    free(j->user);
    free(j->prio_class);
    json_decref(j->gpu_types);
    json_decref(j->command);
    json_decref(j->env);
    free(j->workdir);
    free(j->environment);
    free(j->image);
    json_decref(j->mounts);
    free(j->network);
    free(j->output);
    free(j->error);
    free(j->image_digest);
    free(j->ckpt_signal);
    free(j->partition);
    json_decref(j->readiness);
    json_decref(j->liveness);
    free(j->service);
    json_decref(j->labels);
    json_decref(j->params);
    json_decref(j->dependencies);
    free(j->idem_key);
    free(j->idem_scope);
    free(j->held_by);
    free(j->end_reason);
    free(j->end_message);
    json_decref(j->earlier_runs);
    json_decref(j->gpu_use.idle_spans);
    json_decref(j->inputs);
    json_decref(j->outputs);
    json_decref(j->outputs_hashed);
    job_set_slots(j, NULL, 0);
    free(j);
}

bool job_on_node(const job_t *j, const char *node)
{
    for (int i = 0; i < j->nslots; i++)
        if (!strcmp(j->slots[i].node, node))
            return true;
    return false;
}

void job_set_slots(job_t *j, const job_slot_t *slots, int n)
{
    for (int i = 0; i < j->nslots; i++)
        free(j->slots[i].node);
    free(j->slots);
    j->slots = NULL;
    j->nslots = 0;
    if (n <= 0)
        return;
    j->slots = xcalloc((size_t)n, sizeof(*j->slots));
    for (int i = 0; i < n; i++) {
        j->slots[i] = slots[i];
        j->slots[i].node = xstrdup(slots[i].node);
    }
    j->nslots = n;
}

static char *dup0(const char *s) { return s ? xstrdup(s) : NULL; }

job_t *job_clone(const job_t *s)
{
    job_t *j = xcalloc(1, sizeof(*j));
    *j = *s;
    j->name = dup0(s->name);
    j->team = dup0(s->team);
    j->user = dup0(s->user);
    j->prio_class = dup0(s->prio_class);
    j->gpu_types = json_deep_copy(s->gpu_types);
    j->command = json_deep_copy(s->command);
    j->env = json_deep_copy(s->env);
    j->workdir = dup0(s->workdir);
    j->environment = dup0(s->environment);
    j->image = dup0(s->image);
    j->mounts = s->mounts ? json_deep_copy(s->mounts) : NULL;
    j->network = dup0(s->network);
    j->output = dup0(s->output);
    j->error = dup0(s->error);
    j->image_digest = dup0(s->image_digest);
    j->ckpt_signal = dup0(s->ckpt_signal);
    j->partition = dup0(s->partition);
    j->labels = s->labels ? json_deep_copy(s->labels) : NULL;
    j->params = s->params ? json_deep_copy(s->params) : NULL;
    j->dependencies = json_deep_copy(s->dependencies);
    j->idem_key = dup0(s->idem_key);
    j->idem_scope = dup0(s->idem_scope);
    j->held_by = dup0(s->held_by);
    j->end_reason = dup0(s->end_reason);
    j->end_message = dup0(s->end_message);
    j->earlier_runs = s->earlier_runs ? json_deep_copy(s->earlier_runs) : NULL;
    j->gpu_use.idle_spans = s->gpu_use.idle_spans ? json_deep_copy(s->gpu_use.idle_spans) : NULL;
    j->readiness = s->readiness ? json_deep_copy(s->readiness) : NULL;
    j->liveness = s->liveness ? json_deep_copy(s->liveness) : NULL;
    j->service = dup0(s->service);
    j->inputs = s->inputs ? json_deep_copy(s->inputs) : NULL;
    j->outputs = s->outputs ? json_deep_copy(s->outputs) : NULL;
    j->outputs_hashed = NULL;
    j->slots = NULL;
    j->nslots = 0;
    job_set_slots(j, s->slots, s->nslots);
    return j;
}

/* ---- validation ---- */

static int bad(gt_error_t *err, const char *fmt, const char *a, const char *b)
{
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument", fmt, a, b);
}

/* A size given as a JSON number or a string, through one of util's parsers, at most max in the
 * parser's unit; max_text says that limit in the user's units ("366d", not 31622400). A string
 * is parsed whole; a number is written as the shortest decimal that reads back as the same
 * double, so 2097152.0 stays 2097152 (not "2.09715e+06": another size, or one the parser
 * refuses). */
static int size_field(const json_t *v, const char *key,
                      int (*parse)(const char *, int64_t *, gt_error_t *), int64_t max,
                      const char *max_text, int64_t *out, gt_error_t *err)
{
    char buf[64];
    const char *s = buf;
    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d < 0)
            return bad(err, "'%s' must be a number of at least 0%s", key, "");
        if (d == floor(d) && d < 1e15) {
            snprintf(buf, sizeof(buf), "%.0f", d);
        } else {
            for (int prec = 1; prec <= 17; prec++) {
                snprintf(buf, sizeof(buf), "%.*g", prec, d);
                if (strtod(buf, NULL) == d)
                    break;
            }
        }
    } else {
        return bad(err, "'%s' must be a number or a string such as \"4\"%s", key, "");
    }
    if (s[0] == '-')
        return bad(err, "'%s' must not be negative (got %s)", key, s);
    gt_error_t e = {0};
    int64_t v64;
    if (parse(s, &v64, &e) < 0)
        return bad(err, "'%s': %s", key, e.msg);
    if (v64 > max)
        return bad(err, "'%s' is too large: at most %s", key, max_text);
    *out = v64;
    return 0;
}

static int plain_int(const char *s, int64_t *out, gt_error_t *err)
{
    return gt_parse_int64(s, 0, INT64_MAX / 4, out, err);
}

static int string_array(const json_t *v, const char *key, bool nonempty, json_t **out,
                        gt_error_t *err)
{
    if (!json_is_array(v))
        return bad(err, "'%s' must be an array of strings%s", key, "");
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) if (!json_is_string(e) || (nonempty && !*json_string_value(e)))
        return bad(err, "'%s' must hold only non-empty strings%s", key, "");
    if (nonempty && json_array_size(v) == 0)
        return bad(err, "'%s' must not be empty%s", key, "");
    *out = json_deep_copy(v);
    return 0;
}

static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (const char *p = s; *p; p++)
        if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
    return true;
}

/* The signals an agent sends by name (supervisor_signal_number() in src/agent/supervisor.c); a
 * name it does not know would be stored, then replaced on the node by SIGTERM without a word. */
static const char *ckpt_signals[] = {"SIGTERM", "SIGINT",  "SIGUSR1", "SIGUSR2",
                                     "SIGHUP",  "SIGQUIT", "SIGKILL", NULL};

static bool label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

static bool alnum(char c) { return isalnum((unsigned char)c) != 0; }

/* 0 to 63 of [A-Za-z0-9._-], beginning and ending with a letter or digit when not empty. */
bool job_label_value_ok(const char *v)
{
    size_t n = strlen(v);
    if (n > 63 || (n && (!alnum(v[0]) || !alnum(v[n - 1]))))
        return false;
    for (const char *p = v; *p; p++)
        if (!label_char(*p))
            return false;
    return true;
}

bool job_label_key_ok(const char *k)
{
    const char *slash = strchr(k, '/');
    const char *name = slash ? slash + 1 : k;
    if (slash) {
        size_t pn = (size_t)(slash - k);
        if (pn == 0 || pn > 253)
            return false;
        for (const char *p = k; p < slash; p++)
            if (!(alnum(*p) || *p == '-' || *p == '.'))
                return false;
    }
    return *name && job_label_value_ok(name);
}

int job_params_check(const json_t *v, gt_error_t *err)
{
    errno = EINVAL;
    if (!json_is_object(v))
        return gt_error_set(err, "invalid_argument", "'params' must be an object of names to "
                            "values (strings, numbers, booleans), e.g. {\"lr\": 0.0003}");
    if (json_object_size(v) > JOB_MAX_PARAMS)
        return gt_error_set(err, "invalid_argument", "'params': at most %d parameters (got "
                            "%zu)", JOB_MAX_PARAMS, json_object_size(v));
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        size_t n = strlen(k);
        bool printable = n > 0 && n <= 128;
        for (size_t i = 0; printable && i < n; i++)
            printable = (unsigned char)k[i] > 0x20 && k[i] != 0x7f;
        if (!printable)
            return gt_error_set(err, "invalid_argument", "'params': a name must be 1 to 128 "
                                "printable characters without spaces ('%.40s')", k);
        if (json_is_string(x) ? json_string_length(x) > 1024
                              : !(json_is_number(x) || json_is_boolean(x) || json_is_null(x)))
            return gt_error_set(err, "invalid_argument", "'params.%s': a value is a string (up "
                                "to 1024 bytes), a number, a boolean or null", k);
    }
    return 0;
}

int job_labels_check(const json_t *v, const char *what, gt_error_t *err)
{
    if (!json_is_object(v))
        return bad(err, "'%s' must be an object of strings, such as {\"project\": \"llm\"}%s",
                   what, "");
    if (json_object_size(v) > JOB_MAX_LABELS) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "'%s': at most %d labels (got %zu)", what,
                            JOB_MAX_LABELS, json_object_size(v));
    }
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        if (!job_label_key_ok(k)) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "'%s': key '%s' is not a label key: "
                                "[PREFIX/]NAME, NAME 1 to 63 letters, digits, '-', '_' or '.' "
                                "beginning and ending with a letter or digit", what, k);
        }
        if (!json_is_string(e) || !job_label_value_ok(json_string_value(e))) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "'%s': the value of '%s' must be a "
                                "string of 0 to 63 letters, digits, '-', '_' or '.' beginning "
                                "and ending with a letter or digit", what, k);
        }
    }
    return 0;
}

/* A plain decimal number (no sign, no space) at *p, at most JOB_ARRAY_INDEX_MAX; *p moves past
 * it. */
static int array_number(const char **p, int64_t *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return -1;
    int64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        v = v * 10 + (*s - '0');
        if (v > JOB_ARRAY_INDEX_MAX)
            return -1;
    }
    *p = s;
    *out = v;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int array_bad(gt_error_t *err, const char *fmt, const char *a, const char *b)
{
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument", fmt, a, b);
}

#define ARRAY_FORM "such as \"0-99\", \"1,3,5-9\", \"0-15:4\" or \"0-99%%10\" (at most 10000 tasks)"

int job_array_parse(const char *s, job_array_t *out, gt_error_t *err)
{
    if (!s || !*s)
        return array_bad(err, "'array' must be Slurm's form " ARRAY_FORM "%s%s", "", "");
    /* First pass: the elements are checked and their tasks counted (nothing allocated). */
    int64_t total = 0;
    int throttle = 0;
    const char *p = s;
    for (;;) {
        int64_t lo, hi, step = 1;
        if (array_number(&p, &lo) < 0)
            goto bad_element;
        hi = lo;
        if (*p == '-') {
            p++;
            if (array_number(&p, &hi) < 0 || hi < lo)
                goto bad_element;
            if (*p == ':') {
                p++;
                if (array_number(&p, &step) < 0 || step < 1)
                    goto bad_element;
            }
        }
        total += (hi - lo) / step + 1;
        if (total > JOB_ARRAY_MAX) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "'array' %s makes more than %d tasks: "
                                "an array has at most %d", s, JOB_ARRAY_MAX, JOB_ARRAY_MAX);
        }
        if (*p != ',')
            break;
        p++;
    }
    if (*p == '%') {
        p++;
        int64_t n;
        if (array_number(&p, &n) < 0 || *p || n < 1 || n > JOB_ARRAY_MAX)
            return array_bad(err, "'array' %s: the throttle after %% must be a number of tasks "
                             "from 1 to 10000%s", s, "");
        throttle = (int)n;
    }
    if (*p)
        goto bad_element;
    /* Second pass: the indices, sorted; one given twice is refused. */
    int64_t *idx = xcalloc((size_t)total, sizeof(*idx)), n = 0;
    for (p = s; *p && *p != '%'; p += *p == ',') {
        int64_t lo, hi, step = 1;
        array_number(&p, &lo);
        hi = lo;
        if (*p == '-') {
            p++;
            array_number(&p, &hi);
            if (*p == ':') {
                p++;
                array_number(&p, &step);
            }
        }
        for (int64_t v = lo; v <= hi; v += step)
            idx[n++] = v;
    }
    qsort(idx, (size_t)n, sizeof(*idx), cmp_i64);
    for (int64_t k = 1; k < n; k++)
        if (idx[k] == idx[k - 1]) {
            char b[32];
            snprintf(b, sizeof(b), "%lld", (long long)idx[k]);
            free(idx);
            return array_bad(err, "'array' %s names index %s more than once", s, b);
        }
    out->index = idx;
    out->count = n;
    out->throttle = throttle;
    return 0;
bad_element:
    return array_bad(err, "'array' must be Slurm's form " ARRAY_FORM "; '%s' is not", s, "");
}

void job_array_free(job_array_t *a)
{
    if (!a)
        return;
    free(a->index);
    a->index = NULL;
    a->count = 0;
    a->throttle = 0;
}

static const char *dep_types[] = {"afterok", "afterany", "afternotok", NULL};

int job_parse_dependencies(const json_t *v, const char *key, json_t **out, gt_error_t *err)
{
    if (!json_is_array(v))
        return bad(err, "'%s' must be an array of {type, job}%s", key, "");
    json_t *deps = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        json_t *type = json_object_get(e, "type"), *job = json_object_get(e, "job");
        uint64_t id;
        int64_t index;
        bool known = false;
        for (int k = 0; json_is_string(type) && dep_types[k]; k++)
            known |= !strcmp(json_string_value(type), dep_types[k]);
        if (!json_is_object(e) || json_object_size(e) != 2 || !known ||
            !((json_is_integer(job) && json_integer_value(job) > 0) ||
              (json_is_string(job) &&
               gt_job_ref_parse(json_string_value(job), &id, &index) == 0))) {
            json_decref(deps);
            return bad(err, "'%s' must hold only {type, job}: type afterok, afterany or "
                            "afternotok, job an id such as 12 or an array task such as \"12_3\"%s",
                       key, "");
        }
        json_array_append_new(deps, json_pack("{s:O,s:O}", "type", type, "job", job));
    }
    *out = deps;
    return 0;
}

/* The fields a submission may carry (one per line: each feature adds its own). */
static const char *known_fields[] = {
    "name",
    "team",
    "priority_class",
    "gpus",
    "nodes",
    "gpu_type",
    "cpus",
    "memory",
    "time_limit",
    "command",
    "env",
    "workdir",
    "checkpoint",
    "after_ok",
    "dependencies",
    "singleton",
    "array",
    "image",
    "environment",
    "mounts",
    "network",
    "hold",
    "requeue",
    "partition",
    "output",
    "error",
    "labels",
    "kind",
    "replicas",
    "readiness",
    "liveness",
    "params",
    "inputs",
    "outputs",
    NULL,
};

/* Fields of a job's document (job_to_json, server_job_annotate, the submission's answer) that
 * the server sets: its status, the units it normalised a request to (gpus_milli for gpus, ...),
 * its bookkeeping. A submission that carries them (a `gantry show -o yaml` edited and sent back,
 * as kubectl apply sends back status) has them dropped by job_drop_server_owned(); a field in
 * neither list is refused. One field per line. */
static const char *server_owned_fields[] = {
    "id",
    "user",
    "state",
    "gpus_milli",
    "cpus_milli",
    "memory_mib",
    "time_limit_s",
    "image_digest",
    "array_id",
    "array_index",
    "array_job_ids",
    "array_count",
    "array_throttle",
    "idempotency_key",
    "idempotency_scope",
    "held",
    "held_by",
    "held_by_admin",
    "submit_time",
    "start_time",
    "end_time",
    "incarnation",
    "earlier_runs",
    "exit_code",
    "exit_signal",
    "end_reason",
    "end_message",
    "stopping",
    "placement",
    "pull",
    "pending_reason",
    "pending_message",
    "blocked_by",
    "estimated_start",
    "ignored",
    "gpu_use",
    "idle",
    "idle_since",
    "idle_utilization_mean",
    "idle_samples",
    "idle_spans",
    "service",
    "replica",
    "revision",
    "restarts",
    "restart_at",
    "ready",
    "port",
    "endpoint",
    NULL,
};

static bool listed(const char *const *list, const char *key)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(key, list[i]))
            return true;
    return false;
}

json_t *job_drop_server_owned(json_t *body)
{
    if (!json_is_object(body))
        return NULL;
    json_t *dropped = NULL;
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(body, tmp, key, v)
    {
        if (!listed(server_owned_fields, key))
            continue;
        if (!dropped)
            dropped = json_array();
        json_array_append_new(dropped, json_string(key));
        json_object_del(body, key);
    }
    return dropped;
}

json_t *job_spec_json(const json_t *doc)
{
    json_t *spec = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    {
        bool unset = (json_is_string(v) && !json_string_length(v)) ||
                     (json_is_array(v) && !json_array_size(v)) ||
                     (json_is_object(v) && !json_object_size(v));
        if (listed(known_fields, key) && !unset)
            json_object_set(spec, key, v);
    }
    return spec;
}

/* A probe's number of seconds (key.field in messages): a JSON number or a duration string,
 * in [lo, hi]; dflt when absent. */
static int probe_seconds(const json_t *p, const char *key, const char *field, double lo,
                         double hi, double dflt, double *out, gt_error_t *err)
{
    json_t *v = json_object_get(p, field);
    *out = dflt;
    if (!v)
        return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
    } else if (json_is_string(v)) {
        int64_t s;
        if (gt_parse_duration(json_string_value(v), &s, NULL) < 0)
            goto bad_value;
        *out = (double)s;
    } else {
        goto bad_value;
    }
    if (*out >= lo && *out <= hi)
        return 0;
bad_value:
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument", "'%s.%s' must be a number of seconds from %g "
                        "to %g (or a duration such as \"30s\")", key, field, lo, hi);
}

int job_probe_parse(const json_t *v, const char *key, json_t **out, gt_error_t *err)
{
    static const char *fields[] = {"http", "command", "period", "timeout", "failures",
                                   "initial_delay", NULL};
    errno = EINVAL;
    if (!json_is_object(v))
        return gt_error_set(err, "invalid_argument", "'%s' must be an object such as "
                            "{\"http\": \"/healthz\"} or {\"command\": [\"test\", \"-f\", "
                            "\"/tmp/ready\"]}", key);
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        if (!listed(fields, k))
            return gt_error_set(err, "invalid_argument", "'%s' has an unknown field '%s': a "
                                "probe has http or command, period, timeout, failures, "
                                "initial_delay", key, k);
    }
    json_t *http = json_object_get(v, "http"), *cmd = json_object_get(v, "command");
    if ((http != NULL) == (cmd != NULL))
        return gt_error_set(err, "invalid_argument", "'%s' needs exactly one of 'http' (a "
                            "path on the replica's port) and 'command'", key);
    json_t *o = json_object();
    if (http) {
        const char *p = json_string_value(http);
        bool clean = p && p[0] == '/' && strlen(p) <= 1024;
        for (const char *c = p; clean && *c; c++)
            clean = (unsigned char)*c > ' ' && *c != 0x7f;
        if (!clean) {
            json_decref(o);
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "'%s.http' must be a path starting "
                                "with '/' (at most 1024 characters, no spaces or control "
                                "characters)", key);
        }
        json_object_set_new(o, "http", json_string(p));
    } else {
        char what[64];
        snprintf(what, sizeof(what), "%s.command", key);
        json_t *c = NULL;
        if (string_array(cmd, what, true, &c, err) < 0) {
            json_decref(o);
            return -1;
        }
        json_object_set_new(o, "command", c);
    }
    double period, timeout, failures, delay;
    if (probe_seconds(v, key, "period", 0.1, 3600, 2, &period, err) < 0 ||
        probe_seconds(v, key, "timeout", 0.1, 600, 1, &timeout, err) < 0 ||
        probe_seconds(v, key, "initial_delay", 0, 3600, 0, &delay, err) < 0) {
        json_decref(o);
        return -1;
    }
    json_t *f = json_object_get(v, "failures");
    failures = 3;
    if (f && (!json_is_integer(f) || json_integer_value(f) < 1 || json_integer_value(f) > 100)) {
        json_decref(o);
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "'%s.failures' must be a whole number "
                            "from 1 to 100", key);
    }
    if (f)
        failures = (double)json_integer_value(f);
    json_object_set_new(o, "period", json_real(period));
    json_object_set_new(o, "timeout", json_real(timeout));
    json_object_set_new(o, "failures", json_integer((json_int_t)failures));
    json_object_set_new(o, "initial_delay", json_real(delay));
    *out = o;
    return 0;
}

#define JOB_REPLICAS_MAX 1000

/* A service's fields (kind service), or their absence elsewhere. */
static int job_service_fields(job_t *j, const json_t *body, gt_error_t *err)
{
    static const char *only[] = {"replicas", "readiness", "liveness", NULL};
    for (int i = 0; only[i]; i++)
        if (j->kind != JOB_KIND_SERVICE && json_object_get(body, only[i]))
            return bad(err, "'%s' is a service's field: add \"kind\": \"service\"%s", only[i],
                       "");
    if (j->kind != JOB_KIND_SERVICE)
        return 0;
    if (!j->name)
        return bad(err, "a service needs a 'name': its endpoint is /v1/services/NAME/%s%s", "",
                   "");
    if (j->array_count)
        return bad(err, "a service has 'replicas', not an 'array'%s%s", "", "");
    if (j->time_limit_s)
        return bad(err, "a service runs until it is deleted: it takes no 'time_limit'%s%s", "",
                   "");
    if (j->network && !strcmp(j->network, "none"))
        return bad(err, "a service needs the node's network (its endpoint reaches it there): "
                        "not network none%s%s", "", "");
    json_t *v = json_object_get(body, "replicas");
    j->replicas = 1;
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > JOB_REPLICAS_MAX)
            return bad(err, "'replicas' must be a whole number from 1 to 1000%s%s", "", "");
        j->replicas = (int)json_integer_value(v);
    }
    if ((v = json_object_get(body, "readiness")) &&
        job_probe_parse(v, "readiness", &j->readiness, err) < 0)
        return -1;
    if ((v = json_object_get(body, "liveness")) &&
        job_probe_parse(v, "liveness", &j->liveness, err) < 0)
        return -1;
    return 0;
}

int job_parse_request(const json_t *body, const char *user, const char *dflt_team,
                      job_t **out, job_array_t *array, gt_error_t *err)
{
    *array = (job_array_t){0};
    if (!json_is_object(body))
        return bad(err, "the body must be a JSON object describing the job%s%s", "", "");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (!listed(known_fields, key)) {
            gt_buf_t all = {0};
            for (int i = 0; known_fields[i]; i++)
                gt_buf_printf(&all, "%s%s", i ? ", " : "", known_fields[i]);
            bad(err, "unknown field '%s': a job has %s", key, all.data);
            gt_buf_free(&all);
            return -1;
        }
    }
    job_t *j = xcalloc(1, sizeof(*j));
    j->array_id = j->array_index = -1;
    j->user = xstrdup(user);
    int64_t n;

    if ((v = json_object_get(body, "name"))) {
        if (!json_is_string(v) || !valid_name(json_string_value(v), 128)) {
            bad(err, "'name' must be 1 to 128 letters, digits, '-', '_' or '.'%s%s", "", "");
            goto fail;
        }
        j->name = xstrdup(json_string_value(v));
    }
    if ((v = json_object_get(body, "team"))) {
        if (!json_is_string(v) || !*json_string_value(v)) {
            bad(err, "'team' must be a team name%s%s", "", "");
            goto fail;
        }
        j->team = xstrdup(json_string_value(v));
    } else if (dflt_team && *dflt_team) {
        j->team = xstrdup(dflt_team);
    } else {
        bad(err, "'team' is required: say which team the job belongs to%s%s", "", "");
        goto fail;
    }
    if ((v = json_object_get(body, "priority_class"))) {
        if (!json_is_string(v)) {
            bad(err, "'priority_class' must be a class name%s%s", "", "");
            goto fail;
        }
        if (*json_string_value(v)) /* "": the default class, as a job's document shows it */
            j->prio_class = xstrdup(json_string_value(v));
    }
    j->gpus_milli = 1000; /* one GPU unless the job says otherwise */
    if ((v = json_object_get(body, "gpus")) &&
        size_field(v, "gpus", gt_parse_gpus_milli, 100000 * 1000LL, "100000", &j->gpus_milli,
                   err) < 0)
        goto fail;
    if ((v = json_object_get(body, "nodes"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 4096) {
            bad(err, "'nodes' must be a whole number from 0 to 4096%s%s", "", "");
            goto fail;
        }
        j->nodes = (int)json_integer_value(v);
    }
    if ((v = json_object_get(body, "gpu_type"))) {
        if (json_is_string(v) && !*json_string_value(v)) {
            bad(err, "'gpu_type' must be a GPU type such as \"h100\", or a list of them%s%s", "",
                "");
            goto fail;
        } else if (json_is_string(v)) {
            j->gpu_types = json_pack("[s]", json_string_value(v));
        } else if (json_is_array(v) && !json_array_size(v)) {
            j->gpu_types = json_array(); /* any type, as a job's document shows it */
        } else if (string_array(v, "gpu_type", true, &j->gpu_types, err) < 0) {
            goto fail;
        }
    } else {
        j->gpu_types = json_array();
    }
    if ((v = json_object_get(body, "cpus")) &&
        size_field(v, "cpus", gt_parse_cpus_milli, 100000 * 1000LL, "100000", &j->cpus_milli,
                   err) < 0)
        goto fail;
    if ((v = json_object_get(body, "memory")) &&
        size_field(v, "memory", gt_parse_memory_mib, 1024LL * 1024 * 1024, "1024Ti",
                   &j->memory_mib, err) < 0)
        goto fail;
    if ((v = json_object_get(body, "time_limit")) &&
        size_field(v, "time_limit", gt_parse_duration, 366LL * 86400, "366d", &j->time_limit_s,
                   err) < 0)
        goto fail;
    if (!(v = json_object_get(body, "command"))) {
        bad(err, "'command' is required: the program and its arguments, such as "
                 "[\"python\", \"train.py\"]%s%s", "", "");
        goto fail;
    }
    if (json_is_string(v) && *json_string_value(v)) {
        j->command = json_pack("[sss]", "/bin/sh", "-c", json_string_value(v));
    } else if (string_array(v, "command", true, &j->command, err) < 0) {
        goto fail;
    }
    if ((v = json_object_get(body, "env"))) {
        if (!json_is_object(v)) {
            bad(err, "'env' must be an object of strings%s%s", "", "");
            goto fail;
        }
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) if (!json_is_string(e) || !*k || strchr(k, '='))
        {
            bad(err, "'env': '%s' must be a name without '=' with a string value%s", k, "");
            goto fail;
        }
        j->env = json_deep_copy(v);
    } else {
        j->env = json_object();
    }
    if ((v = json_object_get(body, "workdir"))) {
        if (!json_is_string(v) || json_string_value(v)[0] != '/') {
            bad(err, "'workdir' must be an absolute path%s%s", "", "");
            goto fail;
        }
        j->workdir = xstrdup(json_string_value(v));
    }
    if ((v = json_object_get(body, "image"))) {
        gt_error_t e = {0};
        if (!json_is_string(v) || gt_image_ref_check(json_string_value(v), &e) < 0) {
            bad(err, "%s%s", json_is_string(v) ? e.msg : "'image' must be a string such as "
                "\"docker://pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\"", "");
            goto fail;
        }
        j->image = xstrdup(json_string_value(v));
    }
    if ((v = json_object_get(body, "environment"))) {
        if (!json_is_string(v) || !gt_env_name_ok(json_string_value(v))) {
            bad(err, "'environment' must name a software stack (see `gantry envs`)%s%s", "",
                "");
            goto fail;
        }
        j->environment = xstrdup(json_string_value(v));
    }
    if ((v = json_object_get(body, "mounts"))) {
        if (gt_mounts_parse(v, "mounts", &j->mounts, err) < 0)
            goto fail;
    } else {
        j->mounts = json_array();
    }
    if ((v = json_object_get(body, "inputs"))) {
        if (gt_inputs_parse(v, &j->inputs, err) < 0 ||
            gt_inputs_mounts_check(j->inputs, j->mounts, err) < 0)
            goto fail;
    } else {
        j->inputs = json_array();
    }
    if ((v = json_object_get(body, "outputs"))) {
        if (gt_outputs_parse(v, &j->outputs, err) < 0)
            goto fail;
    } else {
        j->outputs = json_array();
    }
    if ((v = json_object_get(body, "network"))) {
        if (!gt_network_ok(json_string_value(v))) {
            bad(err, "'network' must be \"host\" (the node's network, the default) or \"none\" "
                     "(loopback only)%s%s", "", "");
            goto fail;
        }
        j->network = xstrdup(json_string_value(v));
    } else {
        j->network = xstrdup("host");
    }
    /* sbatch's -o/-e: the agent expands the pattern and opens it as the job's user */
    const char *streams[] = {"output", "error"};
    for (int i = 0; i < 2; i++) {
        if (!(v = json_object_get(body, streams[i])))
            continue;
        if (!json_is_string(v) || !*json_string_value(v) || strlen(json_string_value(v)) > 4096) {
            bad(err, "'%s' must be a file path pattern such as \"slurm-%%j.out\" (1 to 4096 "
                     "characters; %%j %%A %%a %%x %%N %%u expand, relative to the workdir)%s",
                streams[i], "");
            goto fail;
        }
        *(i ? &j->error : &j->output) = xstrdup(json_string_value(v));
    }
    if ((v = json_object_get(body, "checkpoint"))) {
        json_t *sig = json_object_get(v, "signal"), *grace = json_object_get(v, "grace");
        json_t *grace_s = json_object_get(v, "grace_s"); /* seconds, as a document shows it */
        if (!json_is_object(v) ||
            json_object_size(v) != (size_t)(!!sig + !!grace + !!grace_s) || (grace && grace_s)) {
            bad(err, "'checkpoint' must be an object with 'signal' and 'grace'%s%s", "", "");
            goto fail;
        }
        if (grace_s && !json_is_integer(grace_s)) {
            bad(err, "'checkpoint.grace_s' must be a whole number of seconds%s%s", "", "");
            goto fail;
        }
        grace = grace ? grace : grace_s;
        const char *s = sig ? json_string_value(sig) : "SIGTERM";
        bool known = false;
        for (int i = 0; s && ckpt_signals[i]; i++)
            known |= !strcmp(s, ckpt_signals[i]);
        if (!known) {
            bad(err, "'checkpoint.signal' must be one of SIGTERM, SIGINT, SIGUSR1, SIGUSR2, "
                     "SIGHUP, SIGQUIT, SIGKILL%s%s", "", "");
            goto fail;
        }
        j->ckpt_signal = xstrdup(s);
        j->ckpt_grace_s = 120;
        if (grace && size_field(grace, "checkpoint.grace", gt_parse_duration, 86400, "1d",
                                &j->ckpt_grace_s, err) < 0)
            goto fail;
    }
    if ((v = json_object_get(body, "dependencies"))) {
        if (job_parse_dependencies(v, "dependencies", &j->dependencies, err) < 0)
            goto fail;
    } else {
        j->dependencies = json_array();
    }
    if ((v = json_object_get(body, "after_ok"))) {
        if (!json_is_array(v)) {
            bad(err, "'after_ok' must be an array of job ids%s%s", "", "");
            goto fail;
        }
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (!json_is_integer(e) || json_integer_value(e) <= 0)
        {
            bad(err, "'after_ok' must hold only job ids (whole numbers above 0)%s%s", "", "");
            goto fail;
        }
        json_array_foreach(v, i, e) json_array_append_new(
            j->dependencies, json_pack("{s:s,s:O}", "type", "afterok", "job", e));
    }
    if ((v = json_object_get(body, "labels"))) {
        if (job_labels_check(v, "labels", err) < 0)
            goto fail;
        j->labels = json_deep_copy(v);
    } else {
        j->labels = json_object();
    }
    if ((v = json_object_get(body, "params"))) {
        if (job_params_check(v, err) < 0)
            goto fail;
        if (json_object_size(v))
            j->params = json_deep_copy(v);
    }
    if ((v = json_object_get(body, "singleton"))) {
        if (!json_is_boolean(v)) {
            bad(err, "'singleton' must be true or false%s%s", "", "");
            goto fail;
        }
        j->singleton = json_is_true(v);
        if (j->singleton && !j->name) {
            bad(err, "'singleton' needs a 'name': one job of that name and user runs at a "
                     "time%s%s", "", "");
            goto fail;
        }
    }
    if ((v = json_object_get(body, "array"))) {
        if (!json_is_string(v)) {
            bad(err, "'array' must be a string in Slurm's form such as \"0-99%%10\"%s%s", "",
                "");
            goto fail;
        }
        if (job_array_parse(json_string_value(v), array, err) < 0)
            goto fail;
        j->array_count = array->count;
        j->array_throttle = array->throttle;
    }
    if ((v = json_object_get(body, "hold"))) {
        if (!json_is_boolean(v)) {
            bad(err, "'hold' must be true (the job waits until `gantry release`) or false%s%s",
                "", "");
            goto fail;
        }
        if (json_is_true(v)) {
            j->held = true;
            j->held_by = xstrdup(user);
        }
    }
    if ((v = json_object_get(body, "requeue"))) {
        if (!json_is_boolean(v)) {
            bad(err, "'requeue' must be true (back to the queue when its node is lost) or "
                     "false (never)%s%s", "", "");
            goto fail;
        }
        j->requeue = json_is_true(v) ? JOB_REQUEUE_YES : JOB_REQUEUE_NO;
    }
    if ((v = json_object_get(body, "partition"))) {
        if (!json_is_string(v) || !valid_name(json_string_value(v), 63)) {
            bad(err, "'partition' must be a partition's name (letters, digits, '-', '_', '.')"
                     "%s%s", "", "");
            goto fail;
        }
        j->partition = xstrdup(json_string_value(v));
    }
    if ((v = json_object_get(body, "kind")) &&
        (!json_is_string(v) || job_kind_parse(json_string_value(v), &j->kind) < 0)) {
        errno = EINVAL;
        gt_error_set(err, "bad_request", "'kind' must be \"batch\" (the default), \"service\" "
                     "or \"interactive\"");
        goto fail;
    }
    if (job_service_fields(j, body, err) < 0)
        goto fail;
    (void)n;
    (void)plain_int;
    *out = j;
    return 0;
fail:
    job_array_free(array);
    job_free(j);
    return -1;
}

/* The fields an update may change (one per line), and what each sets. */
static const char *patch_fields[] = {
    "name",
    "priority_class",
    "gpus",
    "nodes",
    "gpu_type",
    "time_limit",
    "after_ok",
    "labels",
    "dependencies",
    "singleton",
    NULL,
};

int job_patch(job_t *j, const json_t *patch, gt_error_t *err)
{
    if (!json_is_object(patch) || !json_object_size(patch))
        return bad(err, "an update must be a JSON object of the fields to change%s%s", "", "");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v)
    {
        bool known = false;
        for (int i = 0; patch_fields[i]; i++)
            known |= !strcmp(key, patch_fields[i]);
        if (!known) {
            gt_buf_t all = {0};
            for (int i = 0; patch_fields[i]; i++)
                gt_buf_printf(&all, "%s%s", i ? ", " : "", patch_fields[i]);
            bad(err, "'%s' can't be changed by an update: a pending job's %s can", key,
                all.data);
            gt_buf_free(&all);
            return -1;
        }
    }
    /* A submission takes "" for the default class (a document's form); an update names one. */
    json_t *pc = json_object_get(patch, "priority_class");
    if (json_is_string(pc) && !json_string_length(pc))
        return bad(err, "'priority_class' must be a class name%s%s", "", "");
    /* Checked as a submission of these fields is (the command and team are placeholders). */
    json_t *body = json_deep_copy(patch);
    json_t *lp = json_object_get(patch, "labels");
    if (lp) {
        /* labels merge (RFC 7386): a key set to a value is set, one set to null removed. */
        if (!json_is_object(lp)) {
            json_decref(body);
            return bad(err, "'labels' must be an object of labels to set (a null value removes "
                            "one)%s%s", "", "");
        }
        json_t *merged = j->labels ? json_deep_copy(j->labels) : json_object();
        const char *k;
        json_t *lv;
        json_object_foreach(lp, k, lv)
        {
            if (json_is_null(lv))
                json_object_del(merged, k);
            else
                json_object_set(merged, k, lv);
        }
        json_object_set_new(body, "labels", merged);
    }
    json_object_set_new(body, "command", json_pack("[s]", "true"));
    json_object_set_new(body, "team", json_string(j->team));
    if (j->name && !json_object_get(body, "name")) /* singleton checks that it has one */
        json_object_set_new(body, "name", json_string(j->name));
    job_t *p;
    job_array_t arr;
    int rc = job_parse_request(body, j->user, j->team, &p, &arr, err);
    job_array_free(&arr);
    json_decref(body);
    if (rc < 0)
        return -1;
    if (json_object_get(patch, "name")) {
        free(j->name);
        j->name = p->name;
        p->name = NULL;
    }
    if (json_object_get(patch, "priority_class")) {
        free(j->prio_class);
        j->prio_class = p->prio_class;
        p->prio_class = NULL;
    }
    if (json_object_get(patch, "gpus"))
        j->gpus_milli = p->gpus_milli;
    if (json_object_get(patch, "nodes"))
        j->nodes = p->nodes;
    if (json_object_get(patch, "gpu_type")) {
        json_decref(j->gpu_types);
        j->gpu_types = json_incref(p->gpu_types);
    }
    if (json_object_get(patch, "time_limit"))
        j->time_limit_s = p->time_limit_s;
    if (lp) {
        json_decref(j->labels);
        j->labels = json_incref(p->labels);
    }
    if (json_object_get(patch, "after_ok") || json_object_get(patch, "dependencies")) {
        json_decref(j->dependencies); /* both given: the two lists together */
        j->dependencies = json_incref(p->dependencies);
    }
    if (json_object_get(patch, "singleton"))
        j->singleton = p->singleton;
    job_free(p);
    return 0;
}

/* ---- JSON ---- */

/* cpus, memory and time_limit as a submission writes them (the _milli/_mib/_s fields beside
 * them are the server's units): a document sent back keeps them. Only those set. */
static void spec_units(const job_t *j, json_t *o)
{
    char b[64];
    if (j->cpus_milli) {
        if (j->cpus_milli % 1000)
            snprintf(b, sizeof(b), "%lldm", (long long)j->cpus_milli);
        else
            snprintf(b, sizeof(b), "%lld", (long long)(j->cpus_milli / 1000));
        json_object_set_new(o, "cpus", json_string(b));
    }
    if (j->memory_mib) {
        int64_t m = j->memory_mib;
        const char *u = "Mi";
        if (m % (1024 * 1024) == 0)
            m /= 1024 * 1024, u = "Ti";
        else if (m % 1024 == 0)
            m /= 1024, u = "Gi";
        snprintf(b, sizeof(b), "%lld%s", (long long)m, u);
        json_object_set_new(o, "memory", json_string(b));
    }
    if (j->time_limit_s) {
        int64_t t = j->time_limit_s;
        const char *u = "s";
        if (t % 86400 == 0)
            t /= 86400, u = "d";
        else if (t % 3600 == 0)
            t /= 3600, u = "h";
        else if (t % 60 == 0)
            t /= 60, u = "m";
        snprintf(b, sizeof(b), "%lld%s", (long long)t, u);
        json_object_set_new(o, "time_limit", json_string(b));
    }
}

json_t *job_to_json(const job_t *j)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)j->id));
    if (j->name)
        json_object_set_new(o, "name", json_string(j->name));
    json_object_set_new(o, "team", json_string(j->team));
    json_object_set_new(o, "user", json_string(j->user));
    json_object_set_new(o, "priority_class", json_string(j->prio_class ? j->prio_class : ""));
    json_object_set_new(o, "state", json_string(job_state_name(j->state)));
    json_object_set_new(o, "gpus_milli", json_integer(j->gpus_milli));
    json_object_set_new(o, "gpus", json_real(j->gpus_milli / 1000.0));
    json_object_set_new(o, "nodes", json_integer(j->nodes));
    json_object_set(o, "gpu_type", j->gpu_types);
    json_object_set_new(o, "cpus_milli", json_integer(j->cpus_milli));
    json_object_set_new(o, "memory_mib", json_integer(j->memory_mib));
    json_object_set_new(o, "time_limit_s", json_integer(j->time_limit_s));
    spec_units(j, o);
    json_object_set(o, "command", j->command);
    json_object_set(o, "env", j->env);
    if (j->workdir)
        json_object_set_new(o, "workdir", json_string(j->workdir));
    if (j->environment)
        json_object_set_new(o, "environment", json_string(j->environment));
    if (j->image)
        json_object_set_new(o, "image", json_string(j->image));
    if (j->image_digest)
        json_object_set_new(o, "image_digest", json_string(j->image_digest));
    json_object_set_new(o, "mounts", j->mounts ? json_incref(j->mounts) : json_array());
    json_object_set_new(o, "network", json_string(j->network ? j->network : "host"));
    if (json_array_size(j->inputs))
        json_object_set(o, "inputs", j->inputs);
    if (json_array_size(j->outputs))
        json_object_set(o, "outputs", j->outputs);
    if (j->output)
        json_object_set_new(o, "output", json_string(j->output));
    if (j->error)
        json_object_set_new(o, "error", json_string(j->error));
    if (j->ckpt_signal)
        json_object_set_new(o, "checkpoint", json_pack("{s:s,s:I}", "signal", j->ckpt_signal,
                                                       "grace_s", (json_int_t)j->ckpt_grace_s));
    if (json_object_size(j->labels))
        json_object_set(o, "labels", j->labels);
    if (json_object_size(j->params))
        json_object_set(o, "params", j->params);
    json_object_set(o, "dependencies", j->dependencies);
    if (j->singleton)
        json_object_set_new(o, "singleton", json_true());
    if (j->array_id >= 0) {
        json_object_set_new(o, "array_id", json_integer(j->array_id));
        json_object_set_new(o, "array_index", json_integer(j->array_index));
        json_object_set_new(o, "array_count", json_integer(j->array_count));
        if (j->array_throttle > 0)
            json_object_set_new(o, "array_throttle", json_integer(j->array_throttle));
    }
    if (j->requeue != JOB_REQUEUE_DEFAULT)
        json_object_set_new(o, "requeue", json_boolean(j->requeue == JOB_REQUEUE_YES));
    if (j->partition)
        json_object_set_new(o, "partition", json_string(j->partition));
    if (j->kind != JOB_KIND_BATCH)
        json_object_set_new(o, "kind", json_string(job_kind_name(j->kind)));
    if (j->kind == JOB_KIND_SERVICE) {
        json_object_set_new(o, "replicas", json_integer(j->replicas));
        if (j->readiness)
            json_object_set(o, "readiness", j->readiness);
        if (j->liveness)
            json_object_set(o, "liveness", j->liveness);
        if (j->service) {
            json_object_set_new(o, "service", json_string(j->service));
            json_object_set_new(o, "replica", json_integer(j->replica));
            json_object_set_new(o, "revision", json_integer(j->revision));
        }
        if (j->restarts)
            json_object_set_new(o, "restarts", json_integer(j->restarts));
        if (j->restart_at > 0)
            json_object_set_new(o, "restart_at", json_real(j->restart_at));
    }
    if (j->idem_key)
        json_object_set_new(o, "idempotency_key", json_string(j->idem_key));
    if (j->idem_scope)
        json_object_set_new(o, "idempotency_scope", json_string(j->idem_scope));
    if (j->held) {
        json_object_set_new(o, "held", json_true());
        json_object_set_new(o, "held_by", json_string(j->held_by ? j->held_by : ""));
        if (j->held_by_admin)
            json_object_set_new(o, "held_by_admin", json_true());
    }
    json_object_set_new(o, "submit_time", json_real(j->submit_time));
    if (j->start_time > 0)
        json_object_set_new(o, "start_time", json_real(j->start_time));
    if (j->end_time > 0)
        json_object_set_new(o, "end_time", json_real(j->end_time));
    json_object_set_new(o, "incarnation", json_integer(j->incarnation));
    if (json_array_size(j->earlier_runs))
        json_object_set(o, "earlier_runs", j->earlier_runs);
    if (job_state_terminal(j->state)) {
        json_object_set_new(o, "exit_code", json_integer(j->exit_code));
        if (j->exit_signal)
            json_object_set_new(o, "exit_signal", json_integer(j->exit_signal));
    }
    if (j->end_reason)
        json_object_set_new(o, "end_reason", json_string(j->end_reason));
    if (j->end_message)
        json_object_set_new(o, "end_message", json_string(j->end_message));
    if (j->stopping)
        json_object_set_new(o, "stopping", json_true());
    json_t *pl = json_array();
    for (int i = 0; i < j->nslots; i++) {
        json_t *gpus = json_array();
        for (int g = 0; g < 64; g++)
            if (j->slots[i].gpu_mask >> g & 1)
                json_array_append_new(gpus, json_integer(g));
        json_array_append_new(pl, json_pack("{s:s,s:o,s:i}", "node", j->slots[i].node, "gpus",
                                            gpus, "gpu_milli", j->slots[i].gpu_milli));
    }
    json_object_set_new(o, "placement", pl);
    /* Its GPUs' use (gpu_use.c): per-GPU samples' mean and peak, idle state, idle stretches. */
    const job_gpu_use_t *u = &j->gpu_use;
    if (u->samples) {
        json_t *g = json_pack("{s:f,s:f,s:I}", "utilization_mean", u->util_sum / u->samples,
                              "utilization_peak", u->util_peak, "samples",
                              (json_int_t)u->samples);
        if (u->mem_samples) {
            json_object_set_new(g, "memory_mean_mib", json_real(u->mem_sum_mib / u->mem_samples));
            json_object_set_new(g, "memory_peak_mib", json_real(u->mem_peak_mib));
            json_object_set_new(g, "memory_samples", json_integer(u->mem_samples));
        }
        json_object_set_new(o, "gpu_use", g);
    }
    json_object_set_new(o, "idle", json_boolean(u->idle));
    if (u->idle_since > 0) {
        json_object_set_new(o, "idle_since", json_real(u->idle_since));
        json_object_set_new(o, "idle_utilization_mean",
                            json_real(u->idle_samples ? u->idle_util_sum / u->idle_samples : 0));
        json_object_set_new(o, "idle_samples", json_integer(u->idle_samples));
    }
    if (json_array_size(u->idle_spans))
        json_object_set(o, "idle_spans", u->idle_spans);
    return o;
}

static char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? xstrdup(s) : NULL;
}

static json_t *jref(json_t *o, const char *k, json_t *dflt)
{
    json_t *v = json_object_get(o, k);
    if (v) {
        json_decref(dflt);
        return json_incref(v);
    }
    return dflt;
}

int job_from_doc(const char *doc, job_t **out, gt_error_t *err)
{
    json_error_t je;
    json_t *o = json_loads(doc, 0, &je);
    job_state_t st;
    if (!o || !json_is_object(o) || !json_is_integer(json_object_get(o, "id")) ||
        job_state_parse(json_string_value(json_object_get(o, "state")), &st) < 0 ||
        !json_is_string(json_object_get(o, "team"))) {
        json_decref(o);
        errno = EINVAL;
        return gt_error_set(err, "store_error", "a stored job document is not valid");
    }
    job_t *j = xcalloc(1, sizeof(*j));
    j->id = (uint64_t)json_integer_value(json_object_get(o, "id"));
    j->name = jstr(o, "name");
    j->team = jstr(o, "team");
    j->user = jstr(o, "user");
    if (!j->user)
        j->user = xstrdup("");
    j->prio_class = jstr(o, "priority_class");
    j->state = st;
    j->gpus_milli = json_integer_value(json_object_get(o, "gpus_milli"));
    j->nodes = (int)json_integer_value(json_object_get(o, "nodes"));
    j->gpu_types = jref(o, "gpu_type", json_array());
    j->cpus_milli = json_integer_value(json_object_get(o, "cpus_milli"));
    j->memory_mib = json_integer_value(json_object_get(o, "memory_mib"));
    j->time_limit_s = json_integer_value(json_object_get(o, "time_limit_s"));
    j->command = jref(o, "command", json_array());
    j->env = jref(o, "env", json_object());
    j->workdir = jstr(o, "workdir");
    j->environment = jstr(o, "environment");
    j->image = jstr(o, "image");
    j->image_digest = jstr(o, "image_digest");
    j->mounts = jref(o, "mounts", json_array());
    j->inputs = jref(o, "inputs", json_array());
    j->outputs = jref(o, "outputs", json_array());
    j->network = jstr(o, "network");
    if (!j->network)
        j->network = xstrdup("host");
    j->output = jstr(o, "output");
    j->error = jstr(o, "error");
    json_t *ck = json_object_get(o, "checkpoint");
    if (ck) {
        j->ckpt_signal = jstr(ck, "signal");
        j->ckpt_grace_s = json_integer_value(json_object_get(ck, "grace_s"));
    }
    j->labels = jref(o, "labels", json_object());
    if (json_is_object(json_object_get(o, "params")))
        j->params = json_deep_copy(json_object_get(o, "params"));
    json_t *deps = json_object_get(o, "dependencies");
    if (json_is_array(deps)) {
        j->dependencies = json_deep_copy(deps);
    } else { /* a document from before dependencies: after_ok's ids */
        j->dependencies = json_array();
        size_t di;
        json_t *d;
        json_array_foreach(json_object_get(o, "after_ok"), di, d)
            json_array_append_new(j->dependencies,
                                  json_pack("{s:s,s:O}", "type", "afterok", "job", d));
    }
    j->singleton = json_is_true(json_object_get(o, "singleton"));
    j->array_id = json_object_get(o, "array_id") ? json_integer_value(json_object_get(o, "array_id")) : -1;
    j->array_index = json_object_get(o, "array_index") ? json_integer_value(json_object_get(o, "array_index")) : -1;
    json_t *rq = json_object_get(o, "requeue");
    j->requeue = !json_is_boolean(rq) ? JOB_REQUEUE_DEFAULT
                 : json_is_true(rq)   ? JOB_REQUEUE_YES
                                      : JOB_REQUEUE_NO;
    j->partition = jstr(o, "partition");
    j->replicas = (int)json_integer_value(json_object_get(o, "replicas"));
    if (json_is_object(json_object_get(o, "readiness")))
        j->readiness = json_deep_copy(json_object_get(o, "readiness"));
    if (json_is_object(json_object_get(o, "liveness")))
        j->liveness = json_deep_copy(json_object_get(o, "liveness"));
    j->service = jstr(o, "service");
    j->replica = (int)json_integer_value(json_object_get(o, "replica"));
    j->revision = (int)json_integer_value(json_object_get(o, "revision"));
    j->restarts = (int)json_integer_value(json_object_get(o, "restarts"));
    j->restart_at = json_number_value(json_object_get(o, "restart_at"));
    if (json_object_get(o, "kind") &&
        job_kind_parse(json_string_value(json_object_get(o, "kind")), &j->kind) < 0) {
        json_decref(o);
        job_free(j);
        errno = EINVAL;
        return gt_error_set(err, "store_error", "a stored job document has an unknown kind");
    }
    j->array_count = json_integer_value(json_object_get(o, "array_count"));
    j->array_throttle = (int)json_integer_value(json_object_get(o, "array_throttle"));
    j->idem_key = jstr(o, "idempotency_key");
    j->idem_scope = jstr(o, "idempotency_scope");
    j->held = json_is_true(json_object_get(o, "held"));
    j->held_by = j->held ? jstr(o, "held_by") : NULL;
    j->held_by_admin = j->held && json_is_true(json_object_get(o, "held_by_admin"));
    j->submit_time = json_number_value(json_object_get(o, "submit_time"));
    j->start_time = json_number_value(json_object_get(o, "start_time"));
    j->end_time = json_number_value(json_object_get(o, "end_time"));
    j->incarnation = (int)json_integer_value(json_object_get(o, "incarnation"));
    json_t *runs = json_object_get(o, "earlier_runs");
    j->earlier_runs = json_is_array(runs) ? json_deep_copy(runs) : NULL;
    j->exit_code = (int)json_integer_value(json_object_get(o, "exit_code"));
    j->exit_signal = (int)json_integer_value(json_object_get(o, "exit_signal"));
    j->end_reason = jstr(o, "end_reason");
    j->end_message = jstr(o, "end_message");
    j->stopping = json_is_true(json_object_get(o, "stopping"));
    json_t *gu = json_object_get(o, "gpu_use");
    if (json_is_object(gu)) {
        job_gpu_use_t *u = &j->gpu_use;
        u->samples = json_integer_value(json_object_get(gu, "samples"));
        u->util_sum = json_number_value(json_object_get(gu, "utilization_mean")) * u->samples;
        u->util_peak = json_number_value(json_object_get(gu, "utilization_peak"));
        u->mem_samples = json_integer_value(json_object_get(gu, "memory_samples"));
        u->mem_sum_mib = json_number_value(json_object_get(gu, "memory_mean_mib")) *
                         u->mem_samples;
        u->mem_peak_mib = json_number_value(json_object_get(gu, "memory_peak_mib"));
    }
    j->gpu_use.idle = json_is_true(json_object_get(o, "idle"));
    j->gpu_use.idle_since = json_number_value(json_object_get(o, "idle_since"));
    j->gpu_use.idle_samples = json_integer_value(json_object_get(o, "idle_samples"));
    j->gpu_use.idle_util_sum = json_number_value(json_object_get(o, "idle_utilization_mean")) *
                               j->gpu_use.idle_samples;
    json_t *spans = json_object_get(o, "idle_spans");
    j->gpu_use.idle_spans = json_is_array(spans) ? json_deep_copy(spans) : NULL;
    json_t *pl = json_object_get(o, "placement");
    size_t n = json_array_size(pl);
    if (n) {
        job_slot_t *s = xcalloc(n, sizeof(*s));
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(pl, i);
            s[i].node = (char *)json_string_value(json_object_get(e, "node"));
            if (!s[i].node)
                s[i].node = "";
            s[i].gpu_milli = (int)json_integer_value(json_object_get(e, "gpu_milli"));
            size_t gi;
            json_t *g;
            json_array_foreach(json_object_get(e, "gpus"), gi, g)
            {
                json_int_t x = json_integer_value(g);
                if (x >= 0 && x < 64)
                    s[i].gpu_mask |= 1ULL << x;
            }
        }
        job_set_slots(j, s, (int)n);
        free(s);
    }
    json_decref(o);
    *out = j;
    return 0;
}
