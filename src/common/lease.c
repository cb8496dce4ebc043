/* lease.c: see lease.h. */
#include "common/lease.h"

#include <math.h>

void lease_params_for(double heartbeat_s, lease_params_t *p)
{
    p->heartbeat_s = heartbeat_s;
    p->lease_s = 2 * heartbeat_s;
    p->fence_grace_s = heartbeat_s;
    double min = ((p->lease_s + p->fence_grace_s) * (1 + LEASE_RATE_ERROR) +
                  LEASE_KILL_MARGIN_S) / (1 - LEASE_RATE_ERROR);
    p->lost_after_s = ceil(min * 1000 + 1) / 1000; /* whole ms, above rounding errors */
}

bool lease_params_safe(const lease_params_t *p)
{
    return p->heartbeat_s > 0 && p->lease_s > p->heartbeat_s && p->fence_grace_s >= 0 &&
           (p->lease_s + p->fence_grace_s) * (1 + LEASE_RATE_ERROR) + LEASE_KILL_MARGIN_S <=
               p->lost_after_s * (1 - LEASE_RATE_ERROR);
}
