/* test_gpu_use.c: the idle GPU-hours of a job (src/server/gpu_use.c): flagged stretches kept
 * when a run ends, counted inside a period by their overlap with it, an open one up to now. */
#include <jansson.h>
#include <stdlib.h>

#include "server/gpu_use.h"
#include "tap.h"

static job_t *running_job(int64_t gpus_milli)
{
    job_t *j = calloc(1, sizeof(*j));
    j->gpus_milli = gpus_milli;
    j->state = JOB_RUNNING;
    return j;
}

/* Within 1e-6 GPU-seconds. */
#define is_gpu_s(got, want, what)                                                          \
    do {                                                                                   \
        double g_ = (got), w_ = (want);                                                    \
        ok(g_ > w_ - 1e-6 && g_ < w_ + 1e-6, "%s: %g GPU-s (want %g)", what, g_, w_);     \
    } while (0)

static void test_spans(void)
{
    job_t *j = running_job(2000);
    j->gpu_use.idle = true;
    j->gpu_use.idle_since = 100;
    j->gpu_use.idle_samples = 5;
    j->gpu_use.idle_util_sum = 0.1;
    is_gpu_s(gpu_use_idle_gpu_s(j, 0, 1000, 400), 600, "an open flagged stretch counts to now "
                                                       "(300 s x 2 GPUs)");
    gpu_use_run_ended(j, 400);
    ok(!j->gpu_use.idle && j->gpu_use.idle_since == 0 && j->gpu_use.idle_samples == 0 &&
           j->gpu_use.idle_util_sum == 0,
       "the run's end clears the idle state");
    is_int(json_array_size(j->gpu_use.idle_spans), 1, "and keeps the stretch");
    j->state = JOB_PENDING;
    is_gpu_s(gpu_use_idle_gpu_s(j, 0, 1000, 5000), 600, "a kept stretch: 300 s x 2 GPUs, "
                                                        "whatever now is");
    is_gpu_s(gpu_use_idle_gpu_s(j, 200, 300, 5000), 200, "a period inside it: its overlap only");
    is_gpu_s(gpu_use_idle_gpu_s(j, 0, 150, 5000), 100, "a period that ends inside it");
    is_gpu_s(gpu_use_idle_gpu_s(j, 400, 900, 5000), 0, "a period after it: none");

    /* A stretch under the threshold that was never flagged is not idle time. */
    j->state = JOB_RUNNING;
    j->gpu_use.idle_since = 1000;
    is_gpu_s(gpu_use_idle_gpu_s(j, 0, 5000, 1500), 600, "a stretch not flagged (yet) counts "
                                                        "nothing");
    gpu_use_run_ended(j, 1500);
    is_int(json_array_size(j->gpu_use.idle_spans), 1, "nor is kept when the run ends");

    /* A second flagged stretch adds to the first. */
    j->gpu_use.idle = true;
    j->gpu_use.idle_since = 2000;
    gpu_use_run_ended(j, 2010);
    is_int(json_array_size(j->gpu_use.idle_spans), 2, "a second stretch is kept");
    is_gpu_s(gpu_use_idle_gpu_s(j, 0, 1e9, 1e9), 620, "both count (600 + 20)");
    job_free(j);

    /* A fraction of a GPU counts its fraction. */
    j = running_job(250);
    j->gpu_use.idle = true;
    j->gpu_use.idle_since = 0.5;
    is_gpu_s(gpu_use_idle_gpu_s(j, 0, 100, 40.5), 10, "a quarter GPU for 40 s: 10 GPU-s");
    job_free(j);
}

static void test_spans_bounded(void)
{
    job_t *j = running_job(1000);
    for (int i = 0; i < 1005; i++) {
        j->gpu_use.idle = true;
        j->gpu_use.idle_since = 10.0 * i;
        gpu_use_run_ended(j, 10.0 * i + 1);
    }
    is_int(json_array_size(j->gpu_use.idle_spans), 1000, "at most 1000 stretches are kept");
    job_free(j);
}

int main(void)
{
    test_spans();
    test_spans_bounded();
    return tap_done();
}
