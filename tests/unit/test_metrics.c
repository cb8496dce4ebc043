/* metrics.c: counters keep their label values apart, histograms put an observation in the
 * first bucket whose bound holds it (le: less than or equal) and print cumulative buckets whose
 * +Inf equals _count; the exposition names each family's type. */
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"
#include "tap.h"

/* The value of the sample line `key` in text (-1 when absent). */
static double sample(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

int main(void)
{
    metrics_t *m = metrics_new();
    gt_buf_t b = {0};
    metrics_write(m, &b);
    is_int((int)sample(b.data, "gantry_jobs_finished_total{outcome=\"succeeded\"}"), 0,
           "a preset outcome shows at 0 before any count");
    is_int((int)sample(b.data, "gantry_jobs_submitted_total{team=\"research\"}"), -1,
           "a team's series appears only once counted");
    ok(strstr(b.data, "# TYPE gantry_jobs_submitted_total counter\n") != NULL,
       "a counter's TYPE line");
    ok(strstr(b.data, "# TYPE gantry_job_wait_seconds histogram\n") != NULL,
       "a histogram's TYPE line");
    gt_buf_free(&b);

    metrics_count(m, "gantry_jobs_submitted_total", "team", "research");
    metrics_count(m, "gantry_jobs_submitted_total", "team", "research");
    metrics_count(m, "gantry_jobs_submitted_total", "team", "vi\"sion");
    metrics_count(m, "gantry_scheduling_passes_total", NULL, NULL);
    is_int((int)metrics_value(m, "gantry_jobs_submitted_total", "team", "research"), 2,
           "research counted twice");
    is_int((int)metrics_value(m, "gantry_jobs_submitted_total", NULL, NULL), 3,
           "three in all");
    /* Bounds of the wait histogram: 1, 10, 60, ...; 10 itself goes to le="10". */
    metrics_observe(m, "gantry_job_wait_seconds", 0.5);
    metrics_observe(m, "gantry_job_wait_seconds", 10);
    metrics_observe(m, "gantry_job_wait_seconds", 10.5);
    metrics_observe(m, "gantry_job_wait_seconds", 1e9);
    metrics_observe(m, "gantry_job_wait_seconds", -3);   /* a clock step back: counted as 0 */
    metrics_write(m, &b);
    is_int((int)sample(b.data, "gantry_jobs_submitted_total{team=\"research\"}"), 2,
           "research's series");
    is_int((int)sample(b.data, "gantry_jobs_submitted_total{team=\"vi\\\"sion\"}"), 1,
           "a label value's quote is escaped");
    is_int((int)sample(b.data, "gantry_scheduling_passes_total"), 1, "a family without label");
    is_int((int)sample(b.data, "gantry_job_wait_seconds_bucket{le=\"1\"}"), 2,
           "le=1 holds 0.5 and the negative one");
    is_int((int)sample(b.data, "gantry_job_wait_seconds_bucket{le=\"10\"}"), 3,
           "le=10 holds 10 itself (cumulative)");
    is_int((int)sample(b.data, "gantry_job_wait_seconds_bucket{le=\"60\"}"), 4, "le=60: 10.5");
    is_int((int)sample(b.data, "gantry_job_wait_seconds_bucket{le=\"604800\"}"), 4,
           "the last bound leaves out 1e9");
    is_int((int)sample(b.data, "gantry_job_wait_seconds_bucket{le=\"+Inf\"}"), 5,
           "+Inf holds every observation");
    is_int((int)sample(b.data, "gantry_job_wait_seconds_count"), 5, "_count");
    ok(sample(b.data, "gantry_job_wait_seconds_sum") == 0.5 + 10 + 10.5 + 1e9, "_sum");
    gt_buf_free(&b);
    metrics_free(m);
    metrics_free(NULL);
    return tap_done();
}
