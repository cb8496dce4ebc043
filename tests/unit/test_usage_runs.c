/* usage_job_gpu_s (retention.c): the GPU-seconds a job's runs used, each run counted once: the
 * runs before a requeue (earlier_runs), then the current one, which a job requeued and then
 * ended while pending (cancelled) does not have. */
#include <stdlib.h>

#include "server/job.h"
#include "server/server.h"
#include "tap.h"

/* A 2-GPU job whose first run went from 100 to 200 s and was requeued. */
static job_t requeued(void)
{
    job_t j = {.gpus_milli = 2000, .state = JOB_PENDING, .start_time = 100};
    j.earlier_runs = json_pack("[{s:i,s:f,s:f}]", "incarnation", 0, "start_time", 100.0,
                               "end_time", 200.0);
    return j;
}

int main(void)
{
    job_t j = {.gpus_milli = 2000, .state = JOB_RUNNING, .start_time = 100};
    is_int(usage_job_gpu_s(&j, 0, 1000, 250), 300, "a running job: its run until now");
    is_int(usage_job_gpu_s(&j, 150, 1000, 250), 200, "  inside the period only");

    j = requeued();
    is_int(usage_job_gpu_s(&j, 0, 1000, 900), 200, "requeued, pending: its earlier run");
    j.state = JOB_CANCELLED;
    j.end_time = 500;
    is_int(usage_job_gpu_s(&j, 0, 1000, 900), 200,
              "requeued then cancelled while pending: the earlier run once, not again from its "
              "start to the cancel");
    json_decref(j.earlier_runs);

    j = requeued();
    j.state = JOB_SUCCEEDED;
    j.start_time = 300;
    j.end_time = 400;
    is_int(usage_job_gpu_s(&j, 0, 1000, 900), 400, "requeued, ran again: both runs");
    json_decref(j.earlier_runs);
    return tap_done();
}
