/* trace.c: what the trace readers share: the delimited-text reader, format guessing, loading
 * from a file or memory, sorting, and the node lists (trace.h). */
#include "sim/trace.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- delimited text ---- */

static char *trim(char *s, char **end)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = *end;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *e = '\0';
    *end = e;
    return s;
}

static int split(gt_table_t *t, gt_error_t *err)
{
    char *p = t->row;
    t->nfields = 0;
    for (;;) {
        GT_GROW(t->fields, t->fieldcap, t->nfields + 1);
        while (*p == ' ' || *p == '\t')
            p++;
        if (t->quotes && *p == '"') {
            char *w = p, *r = p + 1;
            for (;;) {
                if (!*r) {
                    errno = EINVAL;
                    return gt_error_set(err, "invalid_trace", "line %d: a quoted field has no "
                                        "closing quote; close it with \" (write \"\" for a "
                                        "quote inside)", t->line);
                }
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else {
                    *w++ = *r++;
                }
            }
            while (*r == ' ' || *r == '\t')
                r++;
            if (*r && *r != t->sep) {
                errno = EINVAL;
                return gt_error_set(err, "invalid_trace", "line %d: text after a quoted field; "
                                    "put the whole field in quotes", t->line);
            }
            *w = '\0';
            t->fields[t->nfields++] = p;
            if (!*r)
                return 0;
            p = r + 1;
            continue;
        }
        char *e = strchr(p, t->sep);
        char *end = e ? e : p + strlen(p);
        t->fields[t->nfields++] = trim(p, &end);
        if (!e)
            return 0;
        p = e + 1;
    }
}

int gt_table_next(gt_table_t *t, gt_error_t *err)
{
    while (t->pos < t->len) {
        const char *s = t->text + t->pos;
        const char *nl = memchr(s, '\n', t->len - t->pos);
        size_t n = nl ? (size_t)(nl - s) : t->len - t->pos;
        t->pos += n + (nl ? 1 : 0);
        t->line++;
        if (n && s[n - 1] == '\r')
            n--;
        if (memchr(s, '\0', n)) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_trace", "line %d contains a NUL byte; a trace is "
                                "a text file", t->line);
        }
        size_t i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == n)
            continue;
        GT_GROW(t->row, t->rowcap, n + 1);
        memcpy(t->row, s, n);
        t->row[n] = '\0';
        if (split(t, err) < 0)
            return -1;
        return 1;
    }
    return 0;
}

void gt_table_free(gt_table_t *t)
{
    free(t->row);
    free(t->fields);
    t->row = NULL;
    t->fields = NULL;
}

int gt_table_column(char **header, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(header[i], name))
            return (int)i;
    return -1;
}

/* ---- helpers for the readers ---- */

int gt_trace_bad(gt_error_t *err, int line, const char *column, const char *value,
                 const char *fmt, ...)
{
    char why[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    errno = EINVAL;
    return gt_error_set(err, "invalid_trace", "line %d, column %s: '%.64s' %s", line, column,
                        value, why);
}

int gt_trace_int(const char *s, int64_t min, int64_t max, int64_t dflt, int line,
                 const char *column, int64_t *out, gt_error_t *err)
{
    if (!s || !*s) {
        *out = dflt;
        return 0;
    }
    gt_error_t perr;
    if (gt_parse_int64(s, min, max, out, &perr) < 0) {
        if (max >= INT64_MAX / 4)
            return gt_trace_bad(err, line, column, s, "is not a whole number of %lld or more",
                                (long long)min);
        return gt_trace_bad(err, line, column, s, "is not a whole number from %lld to %lld",
                            (long long)min, (long long)max);
    }
    return 0;
}

gt_trace_job_t *gt_trace_add(gt_trace_t *tr, int line)
{
    GT_GROW(tr->jobs, tr->jobs_cap, tr->njobs + 1);
    gt_trace_job_t *j = &tr->jobs[tr->njobs++];
    memset(j, 0, sizeof(*j));
    j->line = line;
    return j;
}

gt_trace_job_t *gt_trace_add_pool(gt_trace_t *tr, int line)
{
    GT_GROW(tr->pool, tr->pool_cap, tr->npool + 1);
    gt_trace_job_t *j = &tr->pool[tr->npool++];
    memset(j, 0, sizeof(*j));
    j->line = line;
    return j;
}

void gt_trace_note_skipped(gt_trace_t *tr, size_t n, const char *what)
{
    if (!n)
        return;
    size_t len = strlen(tr->skipped);
    snprintf(tr->skipped + len, sizeof(tr->skipped) - len, "%s%zu %s", len ? ", " : "", n,
             what);
    tr->nskipped += n;
}

static void job_clear(gt_trace_job_t *j)
{
    free(j->id);
    free(j->team);
    free(j->user);
    free(j->gpu_types);
    free(j->priority);
}

void gt_trace_free(gt_trace_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->njobs; i++)
        job_clear(&t->jobs[i]);
    free(t->jobs);
    for (size_t i = 0; i < t->npool; i++)
        job_clear(&t->pool[i]);
    free(t->pool);
    free(t);
}

static int cmp_job(const void *a, const void *b)
{
    const gt_trace_job_t *x = a, *y = b;
    if (x->submit != y->submit)
        return x->submit < y->submit ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* ---- loading ---- */

static bool has(char **hdr, size_t n, const char *name)
{
    return gt_table_column(hdr, n, name) >= 0;
}

/* The separator of the first non-empty line: '|' for sacct's --parsable2, else ','. */
static char guess_sep(const char *text, size_t len)
{
    size_t pipes = 0, commas = 0;
    for (size_t i = 0; i < len && text[i] != '\n'; i++) {
        pipes += text[i] == '|';
        commas += text[i] == ',';
    }
    return pipes > commas ? '|' : ',';
}

int gt_trace_parse(const char *text, size_t len, const char *format, gt_trace_t **out,
                   gt_error_t *err)
{
    *out = NULL;
    if (format && strcmp(format, "csv") && strcmp(format, "alibaba-openb") &&
        strcmp(format, "slurm-sacct")) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "unknown trace format '%s'; use csv, "
                            "alibaba-openb or slurm-sacct (or none, to guess from the header)",
                            format);
    }
    char sep = format ? (!strcmp(format, "slurm-sacct") ? '|' : ',') : guess_sep(text, len);
    gt_table_t t = {.text = text, .len = len, .sep = sep, .quotes = sep == ','};
    gt_trace_t *tr = xcalloc(1, sizeof(*tr));
    char **hdr = NULL;
    size_t nhdr = 0;
    int rc = gt_table_next(&t, err);
    if (rc == 0) {
        errno = EINVAL;
        gt_error_set(err, "invalid_trace", "the trace is empty; it starts with a header line "
                     "such as id,submit,team,gpus,duration");
    }
    if (rc <= 0)
        goto fail;
    nhdr = t.nfields;
    hdr = xmalloc(nhdr * sizeof(*hdr));
    for (size_t i = 0; i < nhdr; i++)
        hdr[i] = xstrdup(t.fields[i]);
    if (!format) {
        if (sep == '|' && has(hdr, nhdr, "JobID"))
            format = "slurm-sacct";
        else if (has(hdr, nhdr, "num_gpu") && has(hdr, nhdr, "gpu_milli"))
            format = "alibaba-openb";
        else if (has(hdr, nhdr, "sn") && has(hdr, nhdr, "model")) {
            errno = EINVAL;
            gt_error_set(err, "invalid_trace", "line %d: this is a node list "
                         "(sn,...,model), not a trace; pass it as the nodes file", t.line);
            goto fail;
        } else
            format = "csv";
    }
    if (!strcmp(format, "csv")) {
        tr->format = "csv";
        rc = gt_trace_read_csv(&t, hdr, nhdr, tr, err);
    } else if (!strcmp(format, "alibaba-openb")) {
        tr->format = "alibaba-openb";
        rc = gt_trace_read_alibaba(&t, hdr, nhdr, tr, err);
    } else {
        tr->format = "slurm-sacct";
        rc = gt_trace_read_sacct(&t, hdr, nhdr, tr, err);
    }
    if (rc < 0)
        goto fail;
    if (tr->njobs > 1) /* qsort(NULL, 0) is undefined: found by fuzz_trace */
        qsort(tr->jobs, tr->njobs, sizeof(*tr->jobs), cmp_job);
    for (size_t i = 0; i < nhdr; i++)
        free(hdr[i]);
    free(hdr);
    gt_table_free(&t);
    *out = tr;
    return 0;
fail:
    for (size_t i = 0; i < nhdr; i++)
        free(hdr[i]);
    free(hdr);
    gt_table_free(&t);
    gt_trace_free(tr);
    errno = EINVAL;
    return -1;
}

static void prefix_path(gt_error_t *err, const char *path)
{
    if (!err)
        return;
    char msg[sizeof(err->msg)];
    memcpy(msg, err->msg, sizeof(msg));
    msg[sizeof(msg) - 1] = '\0';
    int e = errno;
    snprintf(err->msg, sizeof(err->msg), "%s: %.*s", path, (int)(sizeof(msg) - 64), msg);
    errno = e;
}

int gt_trace_load(const char *path, const char *format, gt_trace_t **out, gt_error_t *err)
{
    *out = NULL;
    size_t len;
    char *text = gt_read_file(path, &len, err);
    if (!text)
        return -1;
    int rc = gt_trace_parse(text, len, format, out, err);
    free(text);
    if (rc < 0)
        prefix_path(err, path);
    return rc;
}

/* ---- node lists ---- */

int gt_nodes_parse(const char *text, size_t len, const char *format, gt_config_t *cfg,
                   gt_error_t *err)
{
    if (format && strcmp(format, "alibaba-openb")) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "unknown node list format '%s'; use "
                            "alibaba-openb", format);
    }
    gt_table_t t = {.text = text, .len = len, .sep = ',', .quotes = true};
    gt_node_cfg_t *nodes = NULL;
    size_t n = 0, cap = 0;
    int rc = gt_table_next(&t, err);
    int c_sn = -1, c_gpu = -1, c_model = -1, c_cpu = -1, c_mem = -1;
    size_t nhdr = 0;
    if (rc == 0) {
        errno = EINVAL;
        gt_error_set(err, "invalid_trace", "the node list is empty; it starts with the header "
                     "sn,cpu_milli,memory_mib,gpu,model");
    }
    if (rc <= 0)
        goto fail;
    nhdr = t.nfields;
    c_sn = gt_table_column(t.fields, nhdr, "sn");
    c_gpu = gt_table_column(t.fields, nhdr, "gpu");
    c_model = gt_table_column(t.fields, nhdr, "model");
    c_cpu = gt_table_column(t.fields, nhdr, "cpu_milli");
    c_mem = gt_table_column(t.fields, nhdr, "memory_mib");
    if (c_sn < 0 || c_gpu < 0 || c_model < 0) {
        errno = EINVAL;
        gt_error_set(err, "invalid_trace", "line %d: a node list needs the columns sn, gpu and "
                     "model (alibaba-openb: sn,cpu_milli,memory_mib,gpu,model)", t.line);
        goto fail;
    }
    while ((rc = gt_table_next(&t, err)) > 0) {
        if (t.nfields != nhdr) {
            errno = EINVAL;
            gt_error_set(err, "invalid_trace", "line %d has %zu fields; the header has %zu",
                         t.line, t.nfields, nhdr);
            goto fail;
        }
        if (cfg->nnodes + n >= GT_CONFIG_MAX_NODES) {
            errno = EINVAL;
            gt_error_set(err, "invalid_trace", "line %d: more than %d nodes in all; split the "
                         "cluster", t.line, GT_CONFIG_MAX_NODES);
            goto fail;
        }
        const char *sn = t.fields[c_sn], *model = t.fields[c_model];
        int64_t gpus, cpu = 0, mem = 0;
        if (!*sn) {
            gt_trace_bad(err, t.line, "sn", sn, "is empty; each node needs a name");
            goto fail;
        }
        if (gt_trace_int(t.fields[c_gpu], 0, SCHED_MAX_GPUS_PER_NODE, -1, t.line, "gpu",
                         &gpus, err) < 0 ||
            (c_cpu >= 0 && gt_trace_int(t.fields[c_cpu], 0, INT64_MAX / 4, 0, t.line,
                                        "cpu_milli", &cpu, err) < 0) ||
            (c_mem >= 0 && gt_trace_int(t.fields[c_mem], 0, INT64_MAX / 4, 0, t.line,
                                        "memory_mib", &mem, err) < 0))
            goto fail;
        if (gpus < 0) {
            gt_trace_bad(err, t.line, "gpu", "", "is empty; write the node's GPU count");
            goto fail;
        }
        if (gpus > 0 && !*model) {
            gt_trace_bad(err, t.line, "model", model, "is empty; a node with GPUs needs "
                         "their model (such as V100M16)");
            goto fail;
        }
        GT_GROW(nodes, cap, n + 1);
        nodes[n++] = (gt_node_cfg_t){
            .name = xstrdup(sn),
            .gpu_type = gpus > 0 ? xstrdup(model) : NULL,
            .gpus = (int)gpus,
            .cpus_milli = cpu,
            .memory_mib = mem,
        };
    }
    if (rc < 0)
        goto fail;
    gt_table_free(&t);
    cfg->nodes = xrealloc(cfg->nodes, (cfg->nnodes + n) * sizeof(*cfg->nodes));
    if (n)
        memcpy(cfg->nodes + cfg->nnodes, nodes, n * sizeof(*nodes));
    cfg->nnodes += n;
    free(nodes);
    return 0;
fail:
    for (size_t i = 0; i < n; i++) {
        free(nodes[i].name);
        free(nodes[i].gpu_type);
    }
    free(nodes);
    gt_table_free(&t);
    errno = EINVAL;
    return -1;
}

int gt_nodes_load(const char *path, const char *format, gt_config_t *cfg, gt_error_t *err)
{
    size_t len;
    char *text = gt_read_file(path, &len, err);
    if (!text)
        return -1;
    int rc = gt_nodes_parse(text, len, format, cfg, err);
    free(text);
    if (rc < 0)
        prefix_path(err, path);
    return rc;
}

int gt_table_row(const gt_table_t *t, size_t nhdr, const int *col, int ncol, const char **f,
                 const char *hint, gt_error_t *err)
{
    if (t->nfields != nhdr) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_trace", "line %d has %zu fields; the header has %zu%s",
                            t->line, t->nfields, nhdr, hint);
    }
    for (int c = 0; c < ncol; c++)
        f[c] = col[c] >= 0 ? t->fields[col[c]] : "";
    return 0;
}
