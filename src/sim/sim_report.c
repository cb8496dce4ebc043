/* sim_report.c: the simulator's result as JSON (stable keys, fixed number formats, so the
 * same run prints the same bytes) or as a table for people. */
#include "sim/sim.h"

static void json_dist(FILE *f, const char *name, const gt_sim_dist_t *d)
{
    fprintf(f, "  \"%s\": {\"mean\": %.1f, \"p50\": %.1f, \"p95\": %.1f, \"p99\": %.1f},\n", name,
            d->mean, d->p50, d->p95, d->p99);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

void gt_sim_write_json(FILE *f, const gt_sim_result_t *r, bool timing)
{
    const sched_params_t *p = &r->policy;
    fprintf(f, "{\n");
    fprintf(f, "  \"jobs_total\": %zu,\n  \"jobs_completed\": %zu,\n", r->jobs_total,
            r->jobs_completed);
    fprintf(f, "  \"jobs_timed_out\": %zu,\n  \"jobs_never_fit\": %zu,\n", r->jobs_timed_out,
            r->jobs_never_fit);
    fprintf(f, "  \"makespan_s\": %lld,\n", (long long)r->makespan_s);
    fprintf(f, "  \"capacity_gpus\": %.0f,\n", r->capacity_gpus);
    fprintf(f, "  \"gpu_utilization\": %.4f,\n", r->gpu_utilization);
    json_dist(f, "wait_s", &r->wait_s);
    json_dist(f, "jct_s", &r->jct_s);
    fprintf(f, "  \"teams\": {");
    for (size_t i = 0; i < r->nteams; i++) {
        const gt_sim_team_t *t = &r->teams[i];
        fprintf(f, "%s\n    ", i ? "," : "");
        json_string(f, t->name);
        fprintf(f, ": {\"gpu_hours\": %.1f, \"share\": %.4f, \"wait_mean_s\": %.1f, "
                   "\"jobs\": %zu, \"completed\": %zu}",
                t->gpu_hours, t->share, t->wait_mean_s, t->jobs, t->completed);
    }
    fprintf(f, "\n  },\n");
    fprintf(f, "  \"jain_fairness\": %.4f,\n", r->jain_fairness);
    fprintf(f, "  \"preemptions\": %llu,\n", (unsigned long long)r->preemptions);
    fprintf(f, "  \"unallocated_gpus_peak\": %.2f,\n", r->unallocated_gpus_peak);
    fprintf(f, "  \"cycles\": %llu,\n  \"decisions\": %llu,\n", (unsigned long long)r->cycles,
            (unsigned long long)r->decisions);
    fprintf(f, "  \"oracle\": %s,\n", r->oracle ? "true" : "false");
    fprintf(f,
            "  \"policy\": {\"fairshare\": %s, \"half_life_s\": %lld, \"quotas\": %s, "
            "\"backfill\": %s, \"reservations\": %d, \"preemption\": %s, \"grace_s\": %lld, "
            "\"min_runtime_s\": %lld},\n",
            p->fairshare ? "true" : "false", (long long)p->half_life_s,
            p->quotas ? "true" : "false", p->backfill ? "true" : "false", p->reservations,
            p->preemption ? "true" : "false", (long long)p->grace_s,
            (long long)p->min_runtime_s);
    if (timing)
        fprintf(f, "  \"sim_wall_s\": %.3f,\n  \"decisions_per_s\": %.0f,\n", r->sim_wall_s,
                r->decisions_per_s);
    fprintf(f, "  \"notes\": ");
    json_string(f, r->notes);
    fprintf(f, "\n}\n");
}

static void hms(char *buf, size_t len, double s)
{
    gt_format_duration((int64_t)(s + 0.5), buf, len);
}

void gt_sim_write_table(FILE *f, const gt_sim_result_t *r, bool timing)
{
    char a[32], b[32], c[32], d[32];
    const sched_params_t *p = &r->policy;
    fprintf(f, "policy       fairshare=%s quotas=%s backfill=%s preemption=%s\n",
            p->fairshare ? "on" : "off", p->quotas ? "on" : "off", p->backfill ? "on" : "off",
            p->preemption ? "on" : "off");
    fprintf(f, "jobs         %zu total, %zu completed, %zu timed out, %zu never fit\n",
            r->jobs_total, r->jobs_completed, r->jobs_timed_out, r->jobs_never_fit);
    hms(a, sizeof(a), (double)r->makespan_s);
    fprintf(f, "makespan     %s on %.0f GPUs\n", a, r->capacity_gpus);
    fprintf(f, "utilization  %.1f%% of GPU time allocated\n", 100 * r->gpu_utilization);
    hms(a, sizeof(a), r->wait_s.mean), hms(b, sizeof(b), r->wait_s.p50);
    hms(c, sizeof(c), r->wait_s.p95), hms(d, sizeof(d), r->wait_s.p99);
    fprintf(f, "wait         mean %s  p50 %s  p95 %s  p99 %s\n", a, b, c, d);
    hms(a, sizeof(a), r->jct_s.mean), hms(b, sizeof(b), r->jct_s.p50);
    hms(c, sizeof(c), r->jct_s.p95), hms(d, sizeof(d), r->jct_s.p99);
    fprintf(f, "completion   mean %s  p50 %s  p95 %s  p99 %s\n", a, b, c, d);
    fprintf(f, "fairness     Jain %.3f over teams' service rates; %llu preemptions\n",
            r->jain_fairness, (unsigned long long)r->preemptions);
    fprintf(f, "idle peak    %.1f GPUs unallocated while jobs waited\n",
            r->unallocated_gpus_peak);
    if (timing)
        fprintf(f, "speed        %.3f s wall, %.0f decisions/s, %llu cycles\n", r->sim_wall_s,
                r->decisions_per_s, (unsigned long long)r->cycles);
    fprintf(f, "\n%-24s %10s %7s %12s %8s\n", "TEAM", "GPU-HOURS", "SHARE", "MEAN WAIT", "JOBS");
    for (size_t i = 0; i < r->nteams; i++) {
        const gt_sim_team_t *t = &r->teams[i];
        hms(a, sizeof(a), t->wait_mean_s);
        fprintf(f, "%-24s %10.1f %6.1f%% %12s %8zu\n", t->name, t->gpu_hours, 100 * t->share, a,
                t->jobs);
    }
    if (r->notes[0])
        fprintf(f, "\nnote: %s\n", r->notes);
}
