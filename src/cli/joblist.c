/* joblist.c: the CLI's job lists' shared parts (joblist.h). */
#include "cli/joblist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/timefmt.h"

static void param(gt_buf_t *b, const char *key, const char *v)
{
    if (!v)
        return;
    char *e = cli_escape(v);
    gt_buf_printf(b, "&%s=%s", key, e);
    free(e);
}

int cli_jobs_get(const cli_t *c, const char *cmd, const cli_jobs_query_t *q, json_t **resp)
{
    gt_buf_t path = {0};
    gt_buf_printf(&path, "/v1/jobs?after=%lld", (long long)q->after);
    param(&path, "state", q->state);
    param(&path, "limit", q->limit);
    param(&path, "team", q->team);
    param(&path, "user", q->user);
    param(&path, "name", q->name);
    param(&path, "selector", q->selector);
    if (q->has_since)
        gt_buf_printf(&path, "&since=%.3f", q->since);
    if (q->has_until)
        gt_buf_printf(&path, "&until=%.3f", q->until);
    gt_error_t err = {0};
    int st = cli_request(c, "GET", path.data, NULL, NULL, resp, &err);
    gt_buf_free(&path);
    if (st != 200) {
        json_t *failed = *resp;
        *resp = NULL; /* freed below: a caller that keeps *resp (queue -w) must not see it */
        return cli_fail_request(cmd, st, failed, &err);
    }
    return 0;
}

void cli_jobs_paging(const char *cmd, const json_t *resp, int64_t after, const char *again)
{
    json_t *next = json_object_get(resp, "next_after");
    long long total = (long long)json_integer_value(json_object_get(resp, "total"));
    if (!next && after <= 0)
        return;
    fprintf(stderr, "showing %zu of %lld jobs", json_array_size(json_object_get(resp, "jobs")),
            total);
    if (after > 0)
        fprintf(stderr, " (after job %lld)", (long long)after);
    if (next)
        fprintf(stderr, "; next: gantry %s%s --continue %lld", cmd, again,
                (long long)json_integer_value(next));
    fprintf(stderr, "\n");
}

void cli_again_arg(gt_buf_t *again, const char *flag, const char *value)
{
    bool plain = *value && strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         "0123456789._/=,:-") == strlen(value);
    if (plain) {
        gt_buf_printf(again, " %s %s", flag, value);
        return;
    }
    gt_buf_printf(again, " %s '", flag);
    for (const char *p = value; *p; p++)
        gt_buf_printf(again, *p == '\'' ? "'\\''" : "%c", *p);
    gt_buf_printf(again, "'");
}

void cli_print_job_names(json_t *jobs, FILE *f)
{
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j)
    {
        char id[64];
        fprintf(f, "job/%s\n", cli_job_name(j, id, sizeof(id)));
    }
}

const char *cli_job_gpus_cell(json_t *j, char *buf, size_t len)
{
    int64_t m = json_integer_value(json_object_get(j, "gpus_milli"));
    if (m % 1000)
        snprintf(buf, len, "%.3g", m / 1000.0);
    else
        snprintf(buf, len, "%lld", (long long)(m / 1000));
    return buf;
}

const char *cli_job_nodes_cell(json_t *j, char *buf, size_t len)
{
    gt_buf_t b = {0};
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(j, "placement"), i, p)
        gt_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(json_object_get(p, "node")));
    snprintf(buf, len, "%s", b.len ? b.data : "-");
    gt_buf_free(&b);
    return buf;
}

const char *cli_job_labels_cell(json_t *j, char *buf, size_t len)
{
    gt_buf_t b = {0};
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(j, "labels"), k, v)
        gt_buf_printf(&b, "%s%s=%s", b.len ? "," : "", k, json_string_value(v));
    snprintf(buf, len, "%s", b.len ? b.data : "-");
    gt_buf_free(&b);
    return buf;
}

int cli_time_arg(const char *cmd, const char *flag, const char *s, double *out)
{
    gt_error_t err = {0};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (gt_time_parse(s, (double)now.tv_sec + now.tv_nsec / 1e9, out, &err) < 0) {
        fprintf(stderr, "gantry %s: %s: %s\n", cmd, flag, err.msg);
        return -1;
    }
    return 0;
}
