/* sim_report.c: the simulator's result as JSON (stable keys, fixed number formats, so the
 * same run prints the same bytes) or as a table for people. */
#include <string.h>

#include "sim/sim.h"

static void json_dist(FILE *f, const char *name, const gt_sim_dist_t *d)
{
    fprintf(f, "  \"%s\": {\"mean\": %.1f, \"p50\": %.1f, \"p95\": %.1f, \"p99\": %.1f},\n", name,
            d->mean, d->p50, d->p95, d->p99);
}

/* A share 0..1, or null when there is none (negative). */
static void json_share(FILE *f, double v)
{
    if (v < 0)
        fprintf(f, "null");
    else
        fprintf(f, "%.4f", v);
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
    json_dist(f, "first_wait_s", &r->first_wait_s);
    json_dist(f, "jct_s", &r->jct_s);
    fprintf(f, "  \"teams\": {");
    for (size_t i = 0; i < r->nteams; i++) {
        const gt_sim_team_t *t = &r->teams[i];
        fprintf(f, "%s\n    ", i ? "," : "");
        json_string(f, t->name);
        fprintf(f, ": {\"gpu_hours\": %.1f, \"share\": %.4f, \"wait_mean_s\": %.1f, "
                   "\"jobs\": %zu, \"completed\": %zu, \"quota_gpus\": %g, "
                   "\"guarantee_attainment\": ",
                t->gpu_hours, t->share, t->wait_mean_s, t->jobs, t->completed, t->quota_gpus);
        json_share(f, t->guarantee_attainment);
        fprintf(f, ", \"guarantee_jobs\": %zu, \"guarantee_late\": %zu, "
                   "\"preempted\": {\"count\": %llu, \"requeued_wait_s\": %.1f, "
                   "\"lost_gpu_s\": %.1f}}",
                t->guarantee_jobs, t->guarantee_late, (unsigned long long)t->preempted,
                t->requeued_wait_s, t->lost_gpu_s);
    }
    fprintf(f, "\n  },\n");
    fprintf(f, "  \"jain_fairness\": %.4f,\n", r->jain_fairness);
    fprintf(f, "  \"guarantee_attainment_min\": ");
    json_share(f, r->guarantee_attainment_min);
    fprintf(f, ",\n");
    fprintf(f, "  \"preemptions\": %llu,\n", (unsigned long long)r->preemptions);
    fprintf(f, "  \"defrag_moves\": %llu,\n", (unsigned long long)r->defrag_moves);
    fprintf(f, "  \"requeued_wait_s\": %.1f,\n  \"lost_gpu_s\": %.1f,\n", r->requeued_wait_s,
            r->lost_gpu_s);
    fprintf(f, "  \"checkpoint_every_s\": %lld,\n", (long long)r->checkpoint_every_s);
    fprintf(f, "  \"unallocated_gpus_peak\": %.2f,\n", r->unallocated_gpus_peak);
    fprintf(f, "  \"cycles\": %llu,\n  \"decisions\": %llu,\n", (unsigned long long)r->cycles,
            (unsigned long long)r->decisions);
    fprintf(f, "  \"quiet_cycles\": %llu,\n  \"jobs_examined\": %llu,\n",
            (unsigned long long)r->quiet_cycles, (unsigned long long)r->jobs_examined);
    fprintf(f, "  \"passes_by_cause\": {\"submission\": %llu, \"end\": %llu",
            (unsigned long long)r->passes_submission, (unsigned long long)r->passes_end);
    for (int w = SCHED_WAKE_NONE + 1; w < SCHED_WAKE_COUNT; w++)
        fprintf(f, ", \"%s\": %llu", sched_wake_name((sched_wake_t)w),
                (unsigned long long)r->passes_wake[w]);
    fprintf(f, "},\n");
    fprintf(f, "  \"oracle\": %s,\n", r->oracle ? "true" : "false");
    fprintf(f,
            "  \"policy\": {\"name\": \"%s\", \"fairshare\": %s, \"half_life_s\": %lld, "
            "\"quotas\": %s, \"backfill\": %s, \"reservations\": %d, \"preemption\": %s, "
            "\"grace_s\": %lld, \"min_runtime_s\": %lld, \"reclaim_min_runtime_s\": %lld, "
            "\"order\": \"%s\", "
            "\"placement\": \"%s\"},\n",
            r->policy_name ? r->policy_name : "config", p->fairshare ? "true" : "false",
            (long long)p->half_life_s, p->quotas ? "true" : "false",
            p->backfill ? "true" : "false", p->reservations, p->preemption ? "true" : "false",
            (long long)p->grace_s, (long long)p->min_runtime_s,
            (long long)sched_params_reclaim_min_runtime(p), sched_order_name(p->order),
            sched_placement_name(p->placement));
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
    if (r->policy_name && !strcmp(r->policy_name, "fifo"))
        fprintf(f, "policy       fifo: one queue by submission time, nothing else\n");
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
    hms(a, sizeof(a), r->first_wait_s.mean), hms(b, sizeof(b), r->first_wait_s.p50);
    hms(c, sizeof(c), r->first_wait_s.p95), hms(d, sizeof(d), r->first_wait_s.p99);
    fprintf(f, "first wait   mean %s  p50 %s  p95 %s  p99 %s\n", a, b, c, d);
    hms(a, sizeof(a), r->jct_s.mean), hms(b, sizeof(b), r->jct_s.p50);
    hms(c, sizeof(c), r->jct_s.p95), hms(d, sizeof(d), r->jct_s.p99);
    fprintf(f, "completion   mean %s  p50 %s  p95 %s  p99 %s\n", a, b, c, d);
    fprintf(f, "fairness     Jain %.3f over teams' service rates; %llu preemptions\n",
            r->jain_fairness, (unsigned long long)r->preemptions);
    hms(a, sizeof(a), r->requeued_wait_s);
    fprintf(f, "preempted    requeued jobs waited %s in all; %.1f GPU-hours of work lost\n", a,
            r->lost_gpu_s / 3600);
    if (r->guarantee_attainment_min >= 0)
        fprintf(f, "guarantee    lowest team: %.1f%% of its within-quota GPUs started within "
                   "the %llds grace period\n",
                100 * r->guarantee_attainment_min, (long long)p->grace_s);
    fprintf(f, "idle peak    %.1f GPUs unallocated while jobs waited\n",
            r->unallocated_gpus_peak);
    fprintf(f, "passes       %llu run, %llu skipped; woken by submissions %llu, ends %llu, "
               "follow-ups %llu, minimum runtimes %llu, backoffs %llu, expected ends %llu, "
               "maintenance windows %llu\n",
            (unsigned long long)r->cycles, (unsigned long long)r->quiet_cycles,
            (unsigned long long)r->passes_submission, (unsigned long long)r->passes_end,
            (unsigned long long)r->passes_wake[SCHED_WAKE_FOLLOW_UP],
            (unsigned long long)r->passes_wake[SCHED_WAKE_MIN_RUNTIME],
            (unsigned long long)r->passes_wake[SCHED_WAKE_BACKOFF],
            (unsigned long long)r->passes_wake[SCHED_WAKE_EXPECTED_END],
            (unsigned long long)r->passes_wake[SCHED_WAKE_MAINTENANCE]);
    if (timing)
        fprintf(f, "speed        %.3f s wall, %.0f decisions/s, %llu cycles\n", r->sim_wall_s,
                r->decisions_per_s, (unsigned long long)r->cycles);
    fprintf(f, "\n%-24s %10s %7s %12s %8s %7s %10s %10s %12s %10s\n", "TEAM", "GPU-HOURS",
            "SHARE", "MEAN WAIT", "JOBS", "QUOTA", "GUARANTEE", "PREEMPTED", "REQUEUED",
            "LOST GPU-H");
    for (size_t i = 0; i < r->nteams; i++) {
        const gt_sim_team_t *t = &r->teams[i];
        hms(a, sizeof(a), t->wait_mean_s);
        hms(b, sizeof(b), t->requeued_wait_s);
        if (t->guarantee_attainment >= 0)
            snprintf(c, sizeof(c), "%.1f%%", 100 * t->guarantee_attainment);
        else
            snprintf(c, sizeof(c), "-");
        fprintf(f, "%-24s %10.1f %6.1f%% %12s %8zu %7g %10s %10llu %12s %10.1f\n", t->name,
                t->gpu_hours, 100 * t->share, a, t->jobs, t->quota_gpus, c,
                (unsigned long long)t->preempted, b, t->lost_gpu_s / 3600);
    }
    if (r->notes[0])
        fprintf(f, "\nnote: %s\n", r->notes);
}

/* A CSV field: quoted (with quotes doubled) when it holds a comma, a quote or a line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_time(FILE *f, int64_t t)
{
    if (t >= 0)
        fprintf(f, ",%lld", (long long)t);
    else
        fputc(',', f);
}

void gt_sim_write_jobs_csv(FILE *f, const gt_sim_result_t *r)
{
    fprintf(f, "id,team,class,gpus,submit,first_start,last_start,end,wait_s,jct_s,preemptions,"
               "lost_gpu_s\n");
    for (size_t i = 0; i < r->njobs; i++) {
        const gt_sim_job_t *j = &r->jobs[i];
        csv_field(f, j->id ? j->id : "");
        fputc(',', f);
        csv_field(f, r->teams[j->team].name);
        fputc(',', f);
        csv_field(f, j->cls);
        if (j->gpus_milli % SCHED_MILLI == 0)
            fprintf(f, ",%lld", (long long)(j->gpus_milli / SCHED_MILLI));
        else
            fprintf(f, ",%.3f", (double)j->gpus_milli / SCHED_MILLI);
        csv_time(f, j->submit);
        csv_time(f, j->first_start);
        csv_time(f, j->last_start);
        csv_time(f, j->end);
        csv_time(f, j->wait_s >= 0 ? (int64_t)j->wait_s : -1);
        csv_time(f, j->jct_s >= 0 ? (int64_t)j->jct_s : -1);
        fprintf(f, ",%u,%.1f\n", j->preemptions, j->lost_gpu_s);
    }
}
