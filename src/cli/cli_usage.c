/* cli_usage.c: gantry usage, GPU-hours over a period by team, user, class or job, as a table,
 * CSV or JSON (GET /v1/usage; the period's boundaries: api_usage.c, docs/cli.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/joblist.h"
#include "cli/table.h"
#include "common/timefmt.h"

static const char help[] =
    "usage: gantry usage [--from T] [--to T] [--by team|user|class|job]\n"
    "                    [-o table|csv|json|yaml]\n\n"
    "GPU-hours used over a period, per team (default), user, priority class or job.\n"
    "The period is [--from, --to): from the start of the cluster and until now by default.\n"
    "A job that runs across a boundary counts only its GPU-seconds inside the period (a\n"
    "running job up to now), so reports for consecutive periods add up; JOBS counts the jobs\n"
    "that used a GPU in the period. Jobs purged by the retention count by team and user; by\n"
    "class or job they are one (purged) row.\n"
    "T: a local date or time (2026-11-30, 2026-11-30T17:00), today, yesterday, a duration\n"
    "ago (7d, 12h), RFC 3339 with a zone, or epoch seconds. --since and --until are the\n"
    "same as --from and --to.\n"
    "-o csv: a header line, then one line per row (RFC 4180), GPU-hours to 6 decimals.\n"
    "IDLE_GPU_HOURS: GPU-hours held by jobs while flagged idle (gantry idle).\n"
    "-o json: {from, to, by, usage: [{team|user|class|job, gpu_hours, jobs, idle_gpu_hours}]}.\n";

/* The columns of a report by `by`, then the numbers: GPU-hours, jobs, and the GPU-hours its
 * jobs held while flagged idle (idle_gpu_hours, gpu_use.h). */
static void usage_print(json_t *rows, const char *by, bool csv)
{
    bool job = !strcmp(by, "job");
    size_t i;
    json_t *r;
    const char *cols[10];
    int nc = 0;
    if (job) {
        const char *h[] = {"JOB", "NAME", "TEAM", "USER", "CLASS", "STATE"};
        for (int k = 0; k < 6; k++)
            cols[nc++] = h[k];
    } else {
        cols[nc++] = !strcmp(by, "user") ? "USER" : !strcmp(by, "class") ? "CLASS" : "TEAM";
    }
    cols[nc++] = "GPU_HOURS";
    cols[nc++] = "JOBS";
    cols[nc++] = "IDLE_GPU_HOURS";
    char lower[10][24];
    if (csv)
        for (int k = 0; k < nc; k++) {
            size_t n = 0;
            for (; cols[k][n] && n < sizeof(lower[k]) - 1; n++)
                lower[k][n] = (char)(cols[k][n] >= 'A' && cols[k][n] <= 'Z' ? cols[k][n] + 32
                                                                            : cols[k][n]);
            lower[k][n] = 0;
            cols[k] = lower[k];
        }
    cli_table_t *t = cli_table_new(nc, cols);
    json_array_foreach(rows, i, r)
    {
        char cells[10][64];
        const char *c[10];
        int k = 0;
        bool purged = json_is_true(json_object_get(r, "purged"));
        if (job) {
            if (purged)
                snprintf(cells[k], sizeof(cells[k]), "(purged)");
            else
                snprintf(cells[k], sizeof(cells[k]), "%lld",
                         (long long)json_integer_value(json_object_get(r, "job")));
            k++;
            const char *f[] = {"name", "team", "user", "class", "state"};
            for (int x = 0; x < 5; x++, k++)
                snprintf(cells[k], sizeof(cells[k]), "%s", cli_str(r, f[x], ""));
        } else {
            snprintf(cells[k++], sizeof(cells[0]), "%s", cli_str(r, by, ""));
        }
        snprintf(cells[k++], sizeof(cells[0]), csv ? "%.6f" : "%.3f",
                 json_number_value(json_object_get(r, "gpu_hours")));
        snprintf(cells[k++], sizeof(cells[0]), "%lld",
                 (long long)json_integer_value(json_object_get(r, "jobs")));
        snprintf(cells[k++], sizeof(cells[0]), csv ? "%.6f" : "%.3f",
                 json_number_value(json_object_get(r, "idle_gpu_hours")));
        for (int x = 0; x < k; x++)
            c[x] = cells[x];
        cli_table_add(t, c);
    }
    if (csv)
        cli_table_print_csv(t, stdout);
    else
        cli_table_print(t, stdout);
    cli_table_free(t);
}

/* The artifact blob store's bytes per team and their quotas (docs/artifacts.md). */
static void storage_print(json_t *rows)
{
    if (!json_array_size(rows))
        return;
    static const char *hdr[] = {"TEAM", "STORAGE_BYTES", "STORAGE_QUOTA", "USED"};
    cli_table_t *t = cli_table_new(4, hdr);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        char b[32], q[32] = "-", pct[16] = "-";
        json_int_t bytes = json_integer_value(json_object_get(r, "storage_bytes"));
        json_t *quota = json_object_get(r, "storage_quota");
        snprintf(b, sizeof(b), "%lld", (long long)bytes);
        if (json_is_integer(quota)) {
            snprintf(q, sizeof(q), "%lld", (long long)json_integer_value(quota));
            if (json_integer_value(quota) > 0)
                snprintf(pct, sizeof(pct), "%.0f%%",
                         100.0 * (double)bytes / (double)json_integer_value(quota));
        }
        const char *cells[] = {json_string_value(json_object_get(r, "team")), b, q, pct};
        cli_table_add(t, cells);
    }
    printf("\nArtifact blob store\n");
    cli_table_print(t, stdout);
    cli_table_free(t);
}

int cmd_usage(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "usage") < 0)
        return 2;
    const char *from = NULL, *to = NULL, *by = "team";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gantry usage: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--from") || !strcmp(argv[i], "--since"))
            from = argv[++i];
        else if (!strcmp(argv[i], "--to") || !strcmp(argv[i], "--until"))
            to = argv[++i];
        else if (!strcmp(argv[i], "--by"))
            by = argv[++i];
        else {
            fprintf(stderr, "gantry usage: unknown option %s\n%s", argv[i], help);
            return 2;
        }
    }
    if (strcmp(by, "team") && strcmp(by, "user") && strcmp(by, "class") && strcmp(by, "job")) {
        fprintf(stderr, "gantry usage: --by %s: use team, user, class or job\n", by);
        return 2;
    }
    if (c.output == CLI_WIDE || c.output == CLI_NAME) {
        fprintf(stderr, "gantry usage: -o %s: use table, csv, json or yaml\n",
                c.output == CLI_WIDE ? "wide" : "name");
        return 2;
    }
    /* Local times are read here (the server reads RFC 3339 and epoch seconds). */
    double t0 = 0, t1 = 0;
    if ((from && cli_time_arg("usage", "--from", from, &t0) < 0) ||
        (to && cli_time_arg("usage", "--to", to, &t1) < 0))
        return 2;
    char path[512];
    snprintf(path, sizeof(path), "/v1/usage?by=%s", by);
    if (from)
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "&from=%.3f", t0);
    if (to)
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "&to=%.3f", t1);
    gt_error_t err = {0};
    json_t *resp;
    int st = cli_request(&c, "GET", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("usage", st, resp, &err);
    json_t *rows = json_object_get(resp, "usage");
    if (c.output == CLI_JSON) {
        json_t *o = json_pack("{s:O,s:O,s:O,s:O}", "from", json_object_get(resp, "from"), "to",
                              json_object_get(resp, "to"), "by", json_object_get(resp, "by"),
                              "usage", rows);
        if (json_object_get(resp, "storage"))
            json_object_set(o, "storage", json_object_get(resp, "storage"));
        cli_print_json(o);
        json_decref(o);
    } else if (c.output == CLI_YAML) {
        cli_print_yaml(resp);
    } else if (c.output == CLI_CSV) {
        usage_print(rows, by, true);
    } else {
        char a[48] = "the start", b[48];
        double f = json_number_value(json_object_get(resp, "from"));
        printf("GPU-hours from %s to %s\n", f > 0 ? gt_time_local(f, a, sizeof(a)) : a,
               gt_time_local(json_number_value(json_object_get(resp, "to")), b, sizeof(b)));
        usage_print(rows, by, false);
        storage_print(json_object_get(resp, "storage"));
    }
    json_decref(resp);
    return 0;
}
