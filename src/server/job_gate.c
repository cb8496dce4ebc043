/* job_gate.c: what keeps a pending job out of the scheduler (server.h: server_job_gate). */
#include <stdlib.h>

#include "server/server.h"

/* after_ok: READY when every job it names succeeded; NEVER when one failed, was cancelled or
 * is gone. */
static gate_t after_ok_gate(server_t *srv, const job_t *j)
{
    gate_t g = GATE_READY;
    size_t i;
    json_t *v;
    json_array_foreach(j->after_ok, i, v)
    {
        job_t *d = server_job(srv, (uint64_t)json_integer_value(v));
        if (!d || d->state == JOB_FAILED || d->state == JOB_CANCELLED)
            return GATE_NEVER;
        if (d->state != JOB_SUCCEEDED)
            g = GATE_WAIT;
    }
    return g;
}

/* held: WAIT until released (gantry release); who held it says who may release it. */
static gate_t held_gate(const job_t *j, gate_why_t *why)
{
    if (!j->held)
        return GATE_READY;
    why->reason = "held";
    why->message = j->held_by_admin ? "held by an admin (see held_by): only an admin may "
                                      "release it (gantry release)"
                                    : "held by its user (see held_by): `gantry release` lets "
                                      "it into the queue";
    return GATE_WAIT;
}

gate_t server_job_gate(server_t *srv, const job_t *j, gate_why_t *why)
{
    gate_why_t none;
    if (!why)
        why = &none;
    if (held_gate(j, why) != GATE_READY)
        return GATE_WAIT;
    gate_t g = after_ok_gate(srv, j);
    if (g != GATE_READY) {
        why->reason = "dependency";
        why->message = g == GATE_NEVER ? "a job in after_ok failed or was cancelled: it will "
                                         "never start"
                                       : "it waits for the jobs in after_ok to succeed";
        return g;
    }
    return GATE_READY;
}

uint64_t server_gate_recheck(server_t *srv, job_t *changed)
{
    uint64_t t = 0;
    for (size_t id = changed->id + 1; id < srv->jobs_cap; id++) {
        job_t *j = srv->jobs[id];
        if (!j || j->state != JOB_PENDING || j->in_sched || !json_array_size(j->after_ok))
            continue;
        gate_t g = server_job_gate(srv, j, NULL);
        if (g == GATE_READY) {
            gt_error_t err;
            if (server_enter_sched(srv, j, &err) < 0)
                t = server_finish_job(srv, j, JOB_FAILED, "invalid", NULL, 0, 0);
        } else if (g == GATE_NEVER) {
            t = server_finish_job(srv, j, JOB_CANCELLED, "dependency_failed", NULL, 0, 0);
        }
    }
    return t;
}
