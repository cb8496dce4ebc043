/* cli_track.c: experiment tracking (docs/tracking.md): `gantry metrics JOB [-f]` prints a job's
 * metrics (GET /v1/jobs/{id}/metrics), `gantry compare JOB... | ARRAY_ID` tabulates runs'
 * parameters against their final and best metrics. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"

static const char metrics_help[] =
    "usage: gantry metrics JOB [-f] [-o table|csv|json]\n\n"
    "The metrics job JOB logged (JSON lines appended to $GANTRY_METRICS, or POSTed with its\n"
    "$GANTRY_JOB_TOKEN; docs/tracking.md), as one series over all its runs: a preempted and\n"
    "resumed job's points follow on. Columns: STEP, RUN (the incarnation; a '*' after it: a\n"
    "later run did this step again, from a checkpoint, and its value counts instead), then\n"
    "one column per metric.\n"
    "  -f        follow: print points as they arrive, until the job has ended (-o json: one\n"
    "            JSON object per line)\n"
    "  -o csv    step,incarnation,time,superseded and one column per metric (RFC 4180)\n"
    "  -o json   the API's answer: {job_id, params, points, summary, invalid, invalid_lines}\n"
    "Invalid lines (not a JSON object, no number in it) are skipped and counted: the count\n"
    "and the latest of them are said on stderr.\n";

static const char compare_help[] =
    "usage: gantry compare JOB... | ARRAY_ID [--best KEY=min|max,...] [--metrics K,...]\n"
    "                      [-o table|csv|json]\n\n"
    "Runs side by side: each job's parameters (its params:, and the environment variables\n"
    "and command where the runs differ) against each metric's final value (its last point)\n"
    "and best value. An array's id (without _INDEX) stands for all its tasks: a sweep.\n"
    "  --best KEY=min|max,...  which way is better for a metric; by default min for names\n"
    "                          with loss, err, perplexity, ppl, wer, cer, mse, mae, nll or\n"
    "                          latency in them, max for the others. Rows are sorted by the\n"
    "                          best of the first KEY given (best first).\n"
    "  --metrics K,...         only these metrics (default: all)\n"
    "Columns: JOB, STATE, the parameters, then KEY (final) and KEY:best (min or max) for each\n"
    "metric.\n";

static void say_invalid(const char *id, json_t *resp)
{
    json_int_t n = json_integer_value(json_object_get(resp, "invalid"));
    if (n <= 0)
        return;
    json_t *bad = json_object_get(resp, "invalid_lines");
    json_t *last = json_array_get(bad, json_array_size(bad) - 1);
    fprintf(stderr, "gantry metrics: job %s: %lld invalid line%s skipped", id, (long long)n,
            n == 1 ? "" : "s");
    if (last) {
        fprintf(stderr, " (the latest, run %lld", 
                (long long)json_integer_value(json_object_get(last, "incarnation")));
        if (json_object_get(last, "offset"))
            fprintf(stderr, " before byte %lld",
                    (long long)json_integer_value(json_object_get(last, "offset")));
        fprintf(stderr, ": %s: '%s')", json_string_value(json_object_get(last, "why")),
                json_string_value(json_object_get(last, "line")) ?: "");
    }
    fprintf(stderr, "\n");
}

/* The metric names of points, in the order they first appear (a new array). */
static json_t *metric_keys(json_t *points)
{
    json_t *keys = json_array(), *seen = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(points, i, p)
    {
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v)
        {
            if (!strcmp(k, "step") || !strcmp(k, "incarnation") || !strcmp(k, "time") ||
                !strcmp(k, "superseded") || json_object_get(seen, k))
                continue;
            json_object_set_new(seen, k, json_true());
            json_array_append_new(keys, json_string(k));
        }
    }
    json_decref(seen);
    return keys;
}

static void fmt_num(char *buf, size_t len, json_t *v)
{
    if (!v)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.6g", json_number_value(v));
}

static void print_series(json_t *points, bool csv)
{
    json_t *keys = metric_keys(points);
    int nk = (int)json_array_size(keys), extra = csv ? 4 : 2;
    if (nk + extra > 64)
        nk = 64 - extra;
    const char *h[64];
    h[0] = csv ? "step" : "STEP";
    h[1] = csv ? "incarnation" : "RUN";
    if (csv) {
        h[2] = "time";
        h[3] = "superseded";
    }
    for (int k = 0; k < nk; k++)
        h[extra + k] = json_string_value(json_array_get(keys, (size_t)k));
    cli_table_t *t = cli_table_new(nk + extra, h);
    char (*cells)[48] = xcalloc(64, sizeof(*cells));
    const char *c[64];
    size_t i;
    json_t *p;
    json_array_foreach(points, i, p)
    {
        bool sup = json_is_true(json_object_get(p, "superseded"));
        snprintf(cells[0], 48, "%lld", (long long)json_integer_value(json_object_get(p, "step")));
        snprintf(cells[1], 48, "%lld%s",
                 (long long)json_integer_value(json_object_get(p, "incarnation")),
                 sup && !csv ? "*" : "");
        if (csv) {
            snprintf(cells[2], 48, "%.3f", json_number_value(json_object_get(p, "time")));
            snprintf(cells[3], 48, "%s", sup ? "true" : "false");
        }
        for (int k = 0; k < nk; k++) {
            json_t *v = json_object_get(p, json_string_value(json_array_get(keys, (size_t)k)));
            if (csv && !v)
                cells[extra + k][0] = '\0';
            else
                fmt_num(cells[extra + k], 48, v);
        }
        for (int k = 0; k < nk + extra; k++)
            c[k] = cells[k];
        cli_table_add(t, c);
    }
    if (csv)
        cli_table_print_csv(t, stdout);
    else
        cli_table_print(t, stdout);
    cli_table_free(t);
    free(cells);
    json_decref(keys);
}

/* A point as one line of -f: "STEP RUN key=value ...". */
static void print_point_line(json_t *p, bool as_json)
{
    if (as_json) {
        char *s = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        return;
    }
    printf("step=%lld run=%lld", (long long)json_integer_value(json_object_get(p, "step")),
           (long long)json_integer_value(json_object_get(p, "incarnation")));
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v)
    {
        if (!strcmp(k, "step") || !strcmp(k, "incarnation") || !strcmp(k, "time"))
            continue;
        printf(" %s=%.6g", k, json_number_value(v));
    }
    printf("\n");
}

static bool terminal(const char *state)
{
    return state && (!strcmp(state, "succeeded") || !strcmp(state, "failed") ||
                     !strcmp(state, "cancelled"));
}

static int follow(const cli_t *c, const char *ref)
{
    int64_t off = 0, invalid = 0;
    for (;;) {
        char path[160];
        snprintf(path, sizeof(path), "/v1/jobs/%s/metrics?offset=%lld", ref, (long long)off);
        gt_error_t err = {0};
        json_t *resp = NULL;
        int st = cli_request(c, "GET", path, NULL, NULL, &resp, &err);
        if (st != 200)
            return cli_fail_request("metrics", st, resp, &err);
        json_t *pts = json_object_get(resp, "points");
        size_t i;
        json_t *p;
        json_array_foreach(pts, i, p) print_point_line(p, c->output == CLI_JSON);
        fflush(stdout);
        invalid += json_integer_value(json_object_get(resp, "invalid"));
        int64_t next = json_integer_value(json_object_get(resp, "next_offset"));
        /* The state was read before the points: once it is over and nothing came, nothing
         * more will (the agent ships everything before it reports the end). */
        bool over = terminal(json_string_value(json_object_get(resp, "state")));
        bool more = next > off;
        off = next;
        json_decref(resp);
        if (over && !more)
            break;
        if (!more) {
            struct timespec ts = {0, 300 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (invalid)
        fprintf(stderr, "gantry metrics: job %s: %lld invalid line%s skipped (gantry metrics "
                "%s -o json lists them)\n", ref, (long long)invalid, invalid == 1 ? "" : "s",
                ref);
    return 0;
}

int cmd_metrics(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "metrics") < 0)
        return 2;
    const char *job = NULL;
    bool f = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(metrics_help, stdout);
            return 0;
        } else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow")) {
            f = true;
        } else if (argv[i][0] == '-' || job) {
            fprintf(stderr, "gantry metrics: unexpected argument %s\n%s", argv[i], metrics_help);
            return 2;
        } else {
            job = argv[i];
        }
    }
    if (!job) {
        fputs(metrics_help, stderr);
        return 2;
    }
    if (c.output != CLI_TABLE && c.output != CLI_JSON && c.output != CLI_CSV) {
        fprintf(stderr, "gantry metrics: -o: use table, csv or json\n");
        return 2;
    }
    if (f && c.output == CLI_CSV) {
        fprintf(stderr, "gantry metrics: -f prints points as they come: use -o table or json\n");
        return 2;
    }
    char ref[48];
    if (cli_job_ref("metrics", job, ref, sizeof(ref)) < 0)
        return 2;
    if (f)
        return follow(&c, ref);
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s/metrics", ref);
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(&c, "GET", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("metrics", st, resp, &err);
    if (c.output == CLI_JSON)
        cli_print_json(resp);
    else
        print_series(json_object_get(resp, "points"), c.output == CLI_CSV);
    say_invalid(ref, resp);
    json_decref(resp);
    return 0;
}

/* ---- compare ---- */

typedef struct run {
    char name[48];
    json_t *job;      /* GET /v1/jobs/ID */
    json_t *metrics;  /* GET /v1/jobs/ID/metrics?summary=1 */
} run_t;

/* KEY=min|max,... into {KEY: "min"|"max"} (order kept); -1 on a bad element. */
static int parse_best(const char *arg, json_t *best, json_t *order)
{
    char *dup = xstrdup(arg), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || (strcmp(eq + 1, "min") && strcmp(eq + 1, "max"))) {
            fprintf(stderr, "gantry compare: --best %s: each element is KEY=min or KEY=max\n",
                    tok);
            rc = -1;
            break;
        }
        *eq = '\0';
        json_object_set_new(best, tok, json_string(eq + 1));
        json_array_append_new(order, json_string(tok));
    }
    free(dup);
    return rc;
}

static int fetch_run(const cli_t *c, const char *ref, run_t *r)
{
    char path[128];
    gt_error_t err = {0};
    snprintf(path, sizeof(path), "/v1/jobs/%s", ref);
    int st = cli_request(c, "GET", path, NULL, NULL, &r->job, &err);
    if (st != 200)
        return cli_fail_request("compare", st, r->job, &err), -1;
    snprintf(path, sizeof(path), "/v1/jobs/%s/metrics?summary=1", ref);
    st = cli_request(c, "GET", path, NULL, NULL, &r->metrics, &err);
    if (st != 200)
        return cli_fail_request("compare", st, r->metrics, &err), -1;
    cli_job_name(r->job, r->name, sizeof(r->name));
    return 0;
}

/* The better of a metric's summary by way ("min" or "max"), or NULL. */
static json_t *best_of(json_t *summary, const char *way)
{
    return summary ? json_object_get(summary, way) : NULL;
}

static const char *way_for(json_t *best, json_t *metrics_of_runs, const char *key)
{
    const char *w = json_string_value(json_object_get(best, key));
    if (w)
        return w;
    w = json_string_value(json_object_get(metrics_of_runs, key));
    return w ? w : "max";
}

static json_t *sort_key_best; /* qsort's context: {metric, way} */
static int cmp_runs(const void *a, const void *b)
{
    const run_t *x = a, *y = b;
    const char *m = json_string_value(json_object_get(sort_key_best, "metric"));
    bool min = !strcmp(json_string_value(json_object_get(sort_key_best, "way")), "min");
    json_t *vx = best_of(json_object_get(json_object_get(x->metrics, "summary"), m),
                         min ? "min" : "max");
    json_t *vy = best_of(json_object_get(json_object_get(y->metrics, "summary"), m),
                         min ? "min" : "max");
    if (!vx || !vy)
        return vx ? -1 : vy ? 1 : 0; /* runs without it last */
    double dx = json_number_value(vx), dy = json_number_value(vy);
    if (dx == dy)
        return 0;
    return (dx < dy) == min ? -1 : 1;
}

/* The columns of params: every params key; env keys and the command where runs differ. */
static json_t *param_columns(run_t *runs, size_t n)
{
    json_t *cols = json_array(), *seen = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(runs[i].job, "params"), k, v)
        {
            char *name = gt_strfmt("params.%s", k);
            if (!json_object_get(seen, name)) {
                json_object_set_new(seen, name, json_true());
                json_array_append_new(cols, json_string(name));
            }
            free(name);
        }
    }
    for (size_t i = 0; i < n && n > 1; i++) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(runs[i].job, "env"), k, v)
        {
            char *name = gt_strfmt("env.%s", k);
            bool differs = false;
            for (size_t j = 0; j < n && !differs; j++) {
                json_t *w = json_object_get(json_object_get(runs[j].job, "env"), k);
                differs = !w || !json_equal(v, w);
            }
            if (differs && !json_object_get(seen, name)) {
                json_object_set_new(seen, name, json_true());
                json_array_append_new(cols, json_string(name));
            }
            free(name);
        }
    }
    for (size_t i = 1; i < n; i++)
        if (!json_equal(json_object_get(runs[0].job, "command"),
                        json_object_get(runs[i].job, "command"))) {
            json_array_append_new(cols, json_string("command"));
            break;
        }
    json_decref(seen);
    return cols;
}

static char *param_cell(const run_t *r, const char *col)
{
    json_t *v = NULL;
    if (!strncmp(col, "params.", 7))
        v = json_object_get(json_object_get(r->job, "params"), col + 7);
    else if (!strncmp(col, "env.", 4))
        v = json_object_get(json_object_get(r->job, "env"), col + 4);
    else if (!strcmp(col, "command")) {
        gt_buf_t b = {0};
        gt_buf_printf(&b, "%s", "");
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(r->job, "command"), i, a)
            gt_buf_printf(&b, "%s%s", i ? " " : "", json_string_value(a));
        return b.data;
    }
    if (!v)
        return xstrdup("");
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_number(v))
        return gt_strfmt("%.6g", json_number_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

int cmd_compare(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "compare") < 0)
        return 2;
    json_t *best = json_object(), *order = json_array(), *only = NULL;
    const char **refs = xcalloc((size_t)argc + 1, sizeof(char *));
    int nrefs = 0, rc = 2;
    run_t *runs = NULL;
    size_t nruns = 0, cap = 0;
    json_t *metric_cols = NULL, *pcols = NULL, *ways = json_object();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(compare_help, stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(argv[i], "--best") && i + 1 < argc) {
            if (parse_best(argv[++i], best, order) < 0)
                goto out;
        } else if (!strcmp(argv[i], "--metrics") && i + 1 < argc) {
            only = json_array();
            char *dup = xstrdup(argv[++i]), *save = NULL;
            for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(only, json_string(t));
            free(dup);
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "gantry compare: unknown option %s\n%s", argv[i], compare_help);
            goto out;
        } else {
            refs[nrefs++] = argv[i];
        }
    }
    if (!nrefs) {
        fputs(compare_help, stderr);
        goto out;
    }
    if (c.output != CLI_TABLE && c.output != CLI_JSON && c.output != CLI_CSV) {
        fprintf(stderr, "gantry compare: -o: use table, csv or json\n");
        goto out;
    }
    rc = 1;
    for (int i = 0; i < nrefs; i++) {
        char ref[48];
        if (cli_job_ref("compare", refs[i], ref, sizeof(ref)) < 0) {
            rc = 2;
            goto out;
        }
        GT_GROW(runs, cap, nruns + 1);
        run_t *r = &runs[nruns];
        memset(r, 0, sizeof(*r));
        if (fetch_run(&c, ref, r) < 0) {
            json_decref(r->job);
            json_decref(r->metrics);
            goto out;
        }
        nruns++;
        /* An array's id: all its tasks (the first is this one). */
        json_t *aid = json_object_get(r->job, "array_id");
        if (!strchr(ref, '_') && json_is_integer(aid) &&
            json_integer_value(aid) == json_integer_value(json_object_get(r->job, "id"))) {
            json_int_t count = json_integer_value(json_object_get(r->job, "array_count"));
            for (json_int_t k = 1; k < count; k++) {
                char tref[48];
                snprintf(tref, sizeof(tref), "%lld", (long long)(json_integer_value(aid) + k));
                GT_GROW(runs, cap, nruns + 1);
                run_t *t = &runs[nruns];
                memset(t, 0, sizeof(*t));
                if (fetch_run(&c, tref, t) < 0) {
                    json_decref(t->job);
                    json_decref(t->metrics);
                    goto out;
                }
                nruns++;
            }
        }
    }
    /* Metric columns: --metrics, else every metric of any run (first seen first); each one's
     * better way: --best, else the server's (its name). */
    metric_cols = only ? json_incref(only) : json_array();
    for (size_t i = 0; i < nruns; i++) {
        const char *k;
        json_t *s;
        json_object_foreach(json_object_get(runs[i].metrics, "summary"), k, s)
        {
            if (!json_object_get(ways, k))
                json_object_set_new(ways, k, json_string(json_string_value(
                                                 json_object_get(s, "better")) ?: "max"));
            bool have = false;
            size_t x;
            json_t *m;
            json_array_foreach(metric_cols, x, m) have = have || !strcmp(json_string_value(m), k);
            if (!have && !only)
                json_array_append_new(metric_cols, json_string(k));
        }
    }
    if (json_array_size(order)) {
        const char *m = json_string_value(json_array_get(order, 0));
        sort_key_best = json_pack("{s:s,s:s}", "metric", m, "way", way_for(best, ways, m));
        qsort(runs, nruns, sizeof(*runs), cmp_runs);
        json_decref(sort_key_best);
        sort_key_best = NULL;
    }
    pcols = param_columns(runs, nruns);
    if (c.output == CLI_JSON) {
        json_t *rows = json_array();
        for (size_t i = 0; i < nruns; i++) {
            json_t *row = json_pack("{s:s,s:O,s:O,s:O}", "job", runs[i].name, "state",
                                    json_object_get(runs[i].job, "state"), "params",
                                    json_object_get(runs[i].job, "params") ?: json_object(),
                                    "metrics", json_object());
            json_t *mo = json_object_get(row, "metrics");
            size_t x;
            json_t *m;
            json_array_foreach(metric_cols, x, m)
            {
                const char *k = json_string_value(m);
                json_t *s = json_object_get(json_object_get(runs[i].metrics, "summary"), k);
                if (!s)
                    continue;
                const char *w = way_for(best, ways, k);
                json_object_set_new(mo, k, json_pack("{s:O,s:O,s:s,s:O}", "final",
                                                     json_object_get(s, "last"), "best",
                                                     json_object_get(s, w), "better", w, "step",
                                                     json_object_get(s, "last_step")));
            }
            json_array_append_new(rows, row);
        }
        json_t *o = json_pack("{s:o}", "runs", rows);
        cli_print_json(o);
        json_decref(o);
        rc = 0;
        goto out;
    }
    bool csv = c.output == CLI_CSV;
    size_t np = json_array_size(pcols), nm = json_array_size(metric_cols);
    size_t ncols = 2 + np + 2 * nm;
    if (ncols > 64) {
        fprintf(stderr, "gantry compare: %zu columns are too many for a table: choose metrics "
                "with --metrics, or use -o json\n", ncols);
        goto out;
    }
    char **heads = xcalloc(ncols, sizeof(char *));
    heads[0] = xstrdup(csv ? "job" : "JOB");
    heads[1] = xstrdup(csv ? "state" : "STATE");
    for (size_t x = 0; x < np; x++)
        heads[2 + x] = xstrdup(json_string_value(json_array_get(pcols, x)));
    for (size_t x = 0; x < nm; x++) {
        const char *k = json_string_value(json_array_get(metric_cols, x));
        heads[2 + np + 2 * x] = xstrdup(k);
        heads[2 + np + 2 * x + 1] = gt_strfmt("%s:%s", k, way_for(best, ways, k));
    }
    cli_table_t *t = cli_table_new((int)ncols, (const char *const *)heads);
    char **cells = xcalloc(ncols, sizeof(char *));
    for (size_t i = 0; i < nruns; i++) {
        cells[0] = xstrdup(runs[i].name);
        cells[1] = xstrdup(json_string_value(json_object_get(runs[i].job, "state")) ?: "");
        for (size_t x = 0; x < np; x++)
            cells[2 + x] = param_cell(&runs[i], json_string_value(json_array_get(pcols, x)));
        for (size_t x = 0; x < nm; x++) {
            const char *k = json_string_value(json_array_get(metric_cols, x));
            json_t *s = json_object_get(json_object_get(runs[i].metrics, "summary"), k);
            char a[48], b[48];
            fmt_num(a, sizeof(a), json_object_get(s, "last"));
            fmt_num(b, sizeof(b), best_of(s, way_for(best, ways, k)));
            cells[2 + np + 2 * x] = xstrdup(csv && !s ? "" : a);
            cells[2 + np + 2 * x + 1] = xstrdup(csv && !s ? "" : b);
        }
        cli_table_add(t, (const char *const *)cells);
        for (size_t x = 0; x < ncols; x++)
            free(cells[x]);
    }
    if (csv)
        cli_table_print_csv(t, stdout);
    else
        cli_table_print(t, stdout);
    cli_table_free(t);
    for (size_t x = 0; x < ncols; x++)
        free(heads[x]);
    free(heads);
    free(cells);
    rc = 0;
out:
    for (size_t i = 0; i < nruns; i++) {
        json_decref(runs[i].job);
        json_decref(runs[i].metrics);
    }
    free(runs);
    free(refs);
    json_decref(best);
    json_decref(order);
    json_decref(only);
    json_decref(metric_cols);
    json_decref(pcols);
    json_decref(ways);
    return rc;
}
